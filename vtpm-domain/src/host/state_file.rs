//! The locally sealed state file (`--state FILE --key-file KEYFILE`): the TPM's whole state
//! sealed with [`crate::seal`] under a 32-byte key read from a private key file.
//!
//! Crash safety: every save writes `FILE.tmp` (mode 0600), `fsync`s it, renames it over `FILE`
//! and `fsync`s the directory, so after a crash `FILE` is either the previous or the new state,
//! never a mixture. The generation in the sealed header grows by one with every save.
//!
//! Exclusive use: while a server uses `FILE` it holds an exclusive `flock(2)` on `FILE.lock`, so
//! a second server started on the same state is refused instead of overwriting it.
//!
//! Key file: exactly 32 raw bytes, or 64 hexadecimal characters optionally followed by one
//! newline; it must not be accessible to group or others (mode & 0o077 == 0).

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::platform::os_random;
use crate::seal::{self, NONCE_SIZE, SealError, SealKey};

/// The largest state file read (far above any real TPM state).
const MAX_STATE_FILE: u64 = 64 << 20;
/// The largest key file read (64 hex digits and a CR LF fit easily).
const MAX_KEY_FILE: u64 = 256;
const MAX_KEY_FILE_USIZE: usize = 256;

/// What went wrong with a key or state file. Messages name the file and the way out.
#[derive(Debug)]
pub enum StateFileError {
    /// The key file cannot be used.
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// An operating-system call failed.
    Io {
        /// What was being done, on which file.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// The state file exists but does not unseal: corrupted, truncated, or sealed under
    /// another key.
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// The seal check that failed.
        source: SealError,
    },
    /// Another process holds the state file.
    InUse {
        /// The state file.
        path: PathBuf,
    },
}

impl fmt::Display for StateFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key { path, problem } => {
                write!(f, "key file {}: {problem}", path.display())
            }
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::Corrupt { path, source } => write!(
                f,
                "state file {} cannot be used: {source}. Refusing to start: a new TPM would \
                 lose every key and secret of the old one. Use the right --key-file, or move \
                 the file away to start with a newly manufactured TPM",
                path.display()
            ),
            Self::InUse { path } => write!(
                f,
                "state file {} is in use by another process (lock on {}.lock held)",
                path.display(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for StateFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Corrupt { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StateFileError {
    let context = context.into();
    move |source| StateFileError::Io { context, source }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses key-file contents: 32 raw bytes, or 64 hex digits and an optional newline.
pub fn parse_key(contents: &[u8]) -> Result<SealKey, String> {
    if contents.len() == seal::KEY_SIZE {
        if let Some(k) = SealKey::from_slice(contents) {
            return Ok(k);
        }
    }
    let digits = contents
        .strip_suffix(b"\n")
        .map_or(contents, |d| d.strip_suffix(b"\r").unwrap_or(d));
    if digits.len() == 2 * seal::KEY_SIZE {
        let mut key = Zeroizing::new([0u8; seal::KEY_SIZE]);
        for (out, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(h), Some(l)) => *out = (h << 4) | l,
                _ => {
                    return Err(
                        "64 characters but not all hexadecimal digits (expected 32 raw bytes \
                         or 64 hex digits)"
                            .into(),
                    );
                }
            }
        }
        return SealKey::from_slice(&key[..]).ok_or_else(|| "internal error".to_owned());
    }
    Err(format!(
        "{} bytes; expected exactly 32 raw bytes or 64 hex digits (plus an optional newline)",
        contents.len()
    ))
}

/// Reads and checks a key file (see the module documentation).
pub fn read_key_file(path: &Path) -> Result<SealKey, StateFileError> {
    let bad = |problem: String| StateFileError::Key {
        path: path.to_path_buf(),
        problem,
    };
    let file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| bad(format!("cannot stat: {e}")))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(bad(format!(
            "mode {mode:04o} lets group or others access the key; run `chmod 600 {}`",
            path.display()
        )));
    }
    // Sized up front so that reading never reallocates (and leaves key copies behind).
    let mut contents = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_USIZE + 1));
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut contents)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    parse_key(&contents).map_err(bad)
}

/// Writes a new random key (64 hex digits and a newline) to `path` with mode 0600. Refuses to
/// overwrite an existing file.
pub fn write_new_key_file(path: &Path) -> Result<(), StateFileError> {
    let mut key = Zeroizing::new([0u8; seal::KEY_SIZE]);
    os_random(&mut key[..]).map_err(io_err("read random bytes from /dev/urandom"))?;
    let mut text = Zeroizing::new(Vec::with_capacity(2 * seal::KEY_SIZE + 1));
    for b in key.iter() {
        for nibble in [b >> 4, b & 0xf] {
            text.push(b"0123456789abcdef"[usize::from(nibble)]);
        }
    }
    text.push(b'\n');
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("create key file {}", path.display())))?;
    // The mode given to open() is reduced by the umask; make sure it is exactly 0600.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err(format!("chmod 600 {}", path.display())))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(io_err(format!("write key file {}", path.display())))?;
    sync_parent(path)
}

/// `FILE` + `suffix` (`FILE.tmp`, `FILE.lock`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `fsync`s the directory holding `path`, making a rename or creation in it durable.
fn sync_parent(path: &Path) -> Result<(), StateFileError> {
    let dir = parent_dir(path);
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("fsync directory {}", dir.display())))
}

#[cfg(target_os = "linux")]
mod lock {
    use std::fs::File;
    use std::io;
    use std::os::unix::io::AsRawFd;

    const LOCK_EX: i32 = 2;
    const LOCK_NB: i32 = 4;
    const EWOULDBLOCK: i32 = 11;

    unsafe extern "C" {
        /// `int flock(int fd, int operation)` from the C library.
        fn flock(fd: i32, operation: i32) -> i32;
    }

    /// Takes an exclusive lock without waiting: `Ok(false)` if another process holds it. The
    /// lock lasts as long as the file stays open.
    pub(super) fn try_exclusive(file: &File) -> io::Result<bool> {
        // SAFETY: `flock` is the C library function of that prototype; the descriptor belongs
        // to `file`, which stays open for the duration of the call.
        let r = unsafe { flock(file.as_raw_fd(), LOCK_EX | LOCK_NB) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(EWOULDBLOCK) {
            Ok(false)
        } else {
            Err(e)
        }
    }
}

/// A state read back from its file (secret: zeroized on drop).
pub type SecretBlob = Zeroizing<Vec<u8>>;

/// A state file in use by this process.
pub struct StateFile {
    path: PathBuf,
    tmp: PathBuf,
    key: SealKey,
    generation: u64,
    /// Holds the `flock` for as long as the state file is used.
    _lock: File,
}

impl fmt::Debug for StateFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateFile")
            .field("path", &self.path)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl StateFile {
    /// Takes `path` for this process and reads it if it exists: returns the unsealed state,
    /// or `None` if there is no file yet. A file that exists but does not unseal under `key`
    /// is an error ([`StateFileError::Corrupt`]), never silently replaced.
    pub fn open(path: &Path, key: SealKey) -> Result<(Self, Option<SecretBlob>), StateFileError> {
        let lock_path = with_suffix(path, ".lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err(format!("open lock file {}", lock_path.display())))?;
        #[cfg(target_os = "linux")]
        if !lock::try_exclusive(&lock).map_err(io_err(format!("lock {}", lock_path.display())))? {
            return Err(StateFileError::InUse {
                path: path.to_path_buf(),
            });
        }
        let (generation, state) = match File::open(path) {
            Ok(f) => {
                let mut blob = Vec::new();
                f.take(MAX_STATE_FILE + 1)
                    .read_to_end(&mut blob)
                    .map_err(io_err(format!("read state file {}", path.display())))?;
                if u64::try_from(blob.len()).map_or(true, |n| n > MAX_STATE_FILE) {
                    return Err(StateFileError::Corrupt {
                        path: path.to_path_buf(),
                        source: SealError::TooLarge,
                    });
                }
                let u = seal::unseal(&key, &blob).map_err(|source| StateFileError::Corrupt {
                    path: path.to_path_buf(),
                    source,
                })?;
                (u.generation, Some(u.state))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, None),
            Err(e) => {
                return Err(StateFileError::Io {
                    context: format!("open state file {}", path.display()),
                    source: e,
                });
            }
        };
        Ok((
            Self {
                path: path.to_path_buf(),
                tmp: with_suffix(path, ".tmp"),
                key,
                generation,
                _lock: lock,
            },
            state,
        ))
    }

    /// The generation of the last state read or written (0 before the first).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seals `state` with the next generation and replaces the file atomically and durably.
    pub fn save(&mut self, state: &[u8]) -> Result<(), StateFileError> {
        let generation = self.generation.wrapping_add(1);
        let mut nonce = [0u8; NONCE_SIZE];
        os_random(&mut nonce).map_err(io_err("read random bytes from /dev/urandom"))?;
        let blob = seal::seal(&self.key, generation, &nonce, state).map_err(|source| {
            StateFileError::Corrupt {
                path: self.path.clone(),
                source,
            }
        })?;
        let tmp = &self.tmp;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(tmp)
            .map_err(io_err(format!("create {}", tmp.display())))?;
        f.write_all(&blob)
            .and_then(|()| f.sync_all())
            .map_err(io_err(format!("write {}", tmp.display())))?;
        drop(f);
        fs::rename(tmp, &self.path).map_err(io_err(format!(
            "rename {} to {}",
            tmp.display(),
            self.path.display()
        )))?;
        sync_parent(&self.path)?;
        self.generation = generation;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "vtpm-statefile-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn key_formats() {
        let raw = [0x5au8; 32];
        assert!(parse_key(&raw).is_ok());
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        assert!(parse_key(hex.as_bytes()).is_ok());
        assert!(parse_key(format!("{hex}\n").as_bytes()).is_ok());
        assert!(parse_key(format!("{hex}\r\n").as_bytes()).is_ok());
        for bad in [
            &b""[..],
            &[0u8; 31][..],
            &[0u8; 33][..],
            &hex.as_bytes()[..63],
            format!("{hex}\n\n").as_bytes(),
            format!("{hex}0").as_bytes(),
            "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".as_bytes(),
        ] {
            assert!(parse_key(bad).is_err(), "{bad:?}");
        }
        // Raw and hex spellings of the same key seal compatibly.
        let mut raw = [0u8; 32];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap();
        }
        let hex: String = raw.iter().fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        });
        let blob = seal::seal(&parse_key(&raw).unwrap(), 1, &[0; 16], b"x").unwrap();
        assert!(seal::unseal(&parse_key(hex.as_bytes()).unwrap(), &blob).is_ok());
    }

    #[test]
    fn key_file_mode_is_checked_and_keygen_is_private() {
        let d = temp_dir("key");
        let p = d.join("key");
        write_new_key_file(&p).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(text.len(), 65);
        assert!(read_key_file(&p).is_ok());
        // Never overwrites.
        assert!(write_new_key_file(&p).is_err());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let e = read_key_file(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o604)).unwrap();
        assert!(read_key_file(&p).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn save_load_generation_and_refusals() {
        let d = temp_dir("state");
        let p = d.join("tpm.state");
        let key = || SealKey::new([9; 32]);
        let (mut sf, existing) = StateFile::open(&p, key()).unwrap();
        assert!(existing.is_none());
        // A second user of the same file is refused while the first holds it.
        assert!(matches!(
            StateFile::open(&p, key()),
            Err(StateFileError::InUse { .. })
        ));
        sf.save(b"one").unwrap();
        sf.save(b"two").unwrap();
        assert_eq!(sf.generation(), 2);
        assert!(!with_suffix(&p, ".tmp").exists());
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(sf);

        let (mut sf, existing) = StateFile::open(&p, key()).unwrap();
        assert_eq!(existing.as_deref().map(Vec::as_slice), Some(&b"two"[..]));
        assert_eq!(sf.generation(), 2);
        sf.save(b"three").unwrap();
        assert_eq!(seal::peek_generation(&fs::read(&p).unwrap()), Ok(3));
        drop(sf);

        // Wrong key.
        let e = StateFile::open(&p, SealKey::new([8; 32])).unwrap_err();
        assert!(matches!(
            e,
            StateFileError::Corrupt {
                source: SealError::BadTag,
                ..
            }
        ));
        assert!(e.to_string().contains("Refusing to start"), "{e}");
        // One flipped ciphertext byte.
        let mut blob = fs::read(&p).unwrap();
        blob[seal::HEADER_SIZE] ^= 0x10;
        fs::write(&p, &blob).unwrap();
        assert!(matches!(
            StateFile::open(&p, key()),
            Err(StateFileError::Corrupt {
                source: SealError::BadTag,
                ..
            })
        ));
        // Not ours at all, and empty.
        fs::write(&p, b"hello").unwrap();
        assert!(matches!(
            StateFile::open(&p, key()),
            Err(StateFileError::Corrupt {
                source: SealError::BadMagic,
                ..
            })
        ));
        fs::write(&p, b"").unwrap();
        assert!(matches!(
            StateFile::open(&p, key()),
            Err(StateFileError::Corrupt {
                source: SealError::Truncated { .. },
                ..
            })
        ));
        fs::remove_dir_all(&d).unwrap();
    }
}

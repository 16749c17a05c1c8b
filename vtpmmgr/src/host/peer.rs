//! Who is on the other end of a Unix socket (hosted mode's stand-in for Xen's XSM label).
//!
//! On Xen the manager identifies a vTPM domain by the xenstore `uuid` of its backend device
//! and hashes the domain's security label as its "kernel hash" (reference §2.5). In hosted
//! mode the vTPM domain is a process: the kernel tells us its PID through `SO_PEERCRED`
//! (socket(7)), and its kernel hash is SHA-256 of the executable the kernel says it runs
//! (`/proc/PID/exe`, proc(5)). A process cannot lie about either.

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The peer's credentials as the kernel recorded them at `connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Process ID.
    pub pid: i32,
    /// User ID.
    pub uid: u32,
    /// Group ID.
    pub gid: u32,
}

/// Why the peer could not be identified.
#[derive(Debug)]
pub struct PeerError {
    what: String,
    source: io::Error,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for PeerError {}

#[repr(C)]
#[derive(Default)]
struct Ucred {
    pid: i32,
    uid: u32,
    gid: u32,
}

const SOL_SOCKET: i32 = 1;
const SO_PEERCRED: i32 = 17;

unsafe extern "C" {
    fn getsockopt(fd: i32, level: i32, name: i32, value: *mut Ucred, len: *mut u32) -> i32;
}

/// The credentials of `stream`'s peer.
pub fn peer_cred(stream: &UnixStream) -> Result<PeerCred, PeerError> {
    let mut cred = Ucred::default();
    let mut len = u32::try_from(size_of::<Ucred>()).unwrap_or(12);
    // SAFETY: `fd` is an open socket owned by `stream` for the duration of the call; `cred`
    // and `len` are valid, writable and `len` holds the size of `cred`, so the kernel writes
    // at most that many bytes (socket(7), SO_PEERCRED).
    let rc = unsafe {
        getsockopt(
            stream.as_raw_fd(),
            SOL_SOCKET,
            SO_PEERCRED,
            &raw mut cred,
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(PeerError {
            what: "getsockopt(SO_PEERCRED)".into(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(PeerCred {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// The executable process `pid` runs.
pub fn peer_exe(pid: i32) -> Result<PathBuf, PeerError> {
    let link = format!("/proc/{pid}/exe");
    std::fs::read_link(&link).map_err(|source| PeerError {
        what: format!("read {link}"),
        source,
    })
}

/// SHA-256 of the executable process `pid` runs: read through `/proc/PID/exe`, which stays
/// the file the process was started from even if the path has since been replaced.
pub fn peer_exe_hash(pid: i32) -> Result<[u8; 32], PeerError> {
    file_hash(Path::new(&format!("/proc/{pid}/exe")))
}

/// SHA-256 of a file's contents (what `vtpmctl` uses to authorise a domain binary).
pub fn file_hash(path: &Path) -> Result<[u8; 32], PeerError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|source| PeerError {
        what: format!("open {}", path.display()),
        source,
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|source| PeerError {
            what: format!("read {}", path.display()),
            source,
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_pair_reports_this_process() {
        let (a, _b) = UnixStream::pair().unwrap();
        let c = peer_cred(&a).unwrap();
        assert_eq!(c.pid, i32::try_from(std::process::id()).unwrap());
        let exe = std::env::current_exe().unwrap();
        assert_eq!(peer_exe(c.pid).unwrap(), exe.canonicalize().unwrap());
        assert_eq!(peer_exe_hash(c.pid).unwrap(), file_hash(&exe).unwrap());
    }
}

//! The manager's two Unix sockets (hosted mode; `docs/vtpmmgr-serve.md`).
//!
//! - The **domain socket** (`--listen`) is what tpmback is on Xen. A vTPM domain connects and
//!   first sends an attach hello, `"VTPMATT1" ‖ uuid[16]`: the UUID of the vTPM it serves,
//!   which on Xen the toolstack writes into xenstore. Its kernel hash is not claimed by the
//!   peer but measured: SHA-256 of the executable its process runs ([`super::peer`]). Who may
//!   connect at all is the socket file's business (created mode 0600).
//! - The **administrator's socket** (`--admin`, mode 0600) carries management requests only.
//!
//! After that, both carry manager-protocol messages: a 10-byte header whose size field gives
//! the message length (at most 4088 bytes, the tpmif limit), answered one at a time. Each
//! connection has its own thread; the manager itself sits behind one mutex, so requests are
//! served one at a time, each commit durable before its answer.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tpm2::transport::Transport;

use super::peer;
use crate::Uuid;
use crate::manager::{Manager, Peer};
use crate::protocol;
use crate::protocol::client::ATTACH_MAGIC;
use crate::seams::BlockDevice;

/// How long a new domain connection may take to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the rest of a message may take once its first byte arrived.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a socket could not be set up.
#[derive(Debug)]
pub struct ServeError {
    what: String,
    source: io::Error,
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for ServeError {}

/// Binds a Unix socket at `path` with mode 0600, replacing a stale socket file (never any
/// other kind of file).
pub fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let err = |what: String| move |source| ServeError { what, source };
    if let Ok(meta) = fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(ServeError {
                what: format!("{} exists and is not a socket", path.display()),
                source: io::ErrorKind::AlreadyExists.into(),
            });
        }
        if UnixStream::connect(path).is_ok() {
            return Err(ServeError {
                what: format!("{} is in use by a running server", path.display()),
                source: io::ErrorKind::AddrInUse.into(),
            });
        }
        fs::remove_file(path).map_err(err(format!("remove stale {}", path.display())))?;
    }
    let l = UnixListener::bind(path).map_err(err(format!("bind {}", path.display())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(err(format!("chmod 0600 {}", path.display())))?;
    Ok(l)
}

/// Reads one whole message, or `None` at a clean end of stream. An oversized or undersized
/// message is answered with its rejection and ends the connection (its framing is lost).
fn read_message(s: &mut UnixStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; protocol::HEADER_SIZE];
    let mut got = 0;
    while got < head.len() {
        match s.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                if got == 0 {
                    s.set_read_timeout(Some(MESSAGE_TIMEOUT))?;
                }
                got += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let size = match protocol::framed_size(&head) {
        Ok(size) => size,
        Err(rej) => {
            s.write_all(&rej.encode())?;
            return Err(io::Error::new(io::ErrorKind::InvalidData, rej.reason));
        }
    };
    let mut msg = vec![0u8; size];
    msg[..head.len()].copy_from_slice(&head);
    s.read_exact(&mut msg[head.len()..])?;
    s.set_read_timeout(None)?;
    Ok(Some(msg))
}

/// Reads the attach hello.
fn read_hello(s: &mut UnixStream) -> io::Result<Uuid> {
    s.set_read_timeout(Some(HELLO_TIMEOUT))?;
    let mut hello = [0u8; 24];
    s.read_exact(&mut hello)?;
    s.set_read_timeout(None)?;
    if &hello[..8] != ATTACH_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the connection did not start with the VTPMATT1 attach hello",
        ));
    }
    let mut u = [0u8; 16];
    u.copy_from_slice(&hello[8..]);
    Ok(Uuid(u))
}

/// The sockets a manager serves.
#[derive(Debug)]
pub struct Sockets {
    /// vTPM domains (none when they come over tpmback only).
    pub domains: Option<UnixListener>,
    /// The administrator.
    pub admin: UnixListener,
    /// Their paths, removed when serving ends.
    pub paths: Vec<PathBuf>,
}

/// Serves until `stop()` returns true (polled every 100 ms), then removes the socket files.
pub fn serve<T, D>(
    manager: &Arc<Mutex<Manager<T, D>>>,
    sockets: &Sockets,
    stop: impl Fn() -> bool,
    log: fn(fmt::Arguments<'_>),
) -> Result<(), ServeError>
where
    T: Transport + Send + 'static,
    D: BlockDevice + Send + 'static,
{
    let listeners: Vec<(&UnixListener, bool)> = sockets
        .domains
        .iter()
        .map(|l| (l, false))
        .chain([(&sockets.admin, true)])
        .collect();
    for (l, _) in &listeners {
        l.set_nonblocking(true).map_err(|source| ServeError {
            what: "set the listening socket non-blocking".into(),
            source,
        })?;
    }
    while !stop() {
        let mut idle = true;
        for &(listener, admin) in &listeners {
            match listener.accept() {
                Ok((stream, _)) => {
                    idle = false;
                    let m = Arc::clone(manager);
                    thread::spawn(move || connection(&m, stream, admin, log));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => log(format_args!("accept failed: {e}")),
            }
        }
        if idle {
            thread::sleep(Duration::from_millis(100));
        }
    }
    for p in &sockets.paths {
        let _ = fs::remove_file(p);
    }
    Ok(())
}

fn connection<T: Transport, D: BlockDevice>(
    manager: &Mutex<Manager<T, D>>,
    mut stream: UnixStream,
    admin: bool,
    log: fn(fmt::Arguments<'_>),
) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let peer = if admin {
        Peer::Admin
    } else {
        let uuid = match read_hello(&mut stream) {
            Ok(u) => u,
            Err(e) => {
                log(format_args!("domain connection refused: {e}"));
                return;
            }
        };
        let kernel_hash = match peer::peer_cred(&stream).and_then(|c| peer::peer_exe_hash(c.pid)) {
            Ok(h) => h,
            Err(e) => {
                log(format_args!(
                    "domain connection for vTPM {uuid} refused: {e}"
                ));
                return;
            }
        };
        Peer::Domain { uuid, kernel_hash }
    };
    let mut conn = lock(manager).connect(peer);
    loop {
        let msg = match read_message(&mut stream) {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                log(format_args!("connection closed: {e}"));
                break;
            }
        };
        let answer = lock(manager).handle(&mut conn, &msg);
        if let Err(e) = stream.write_all(&answer) {
            log(format_args!("connection closed while answering: {e}"));
            break;
        }
    }
    lock(manager).disconnect(conn);
}

/// The manager's lock. A handler that panicked may have left memory inconsistent with the
/// image; the image itself is consistent (every commit is atomic), so the process exits and a
/// restart recovers from disk.
pub(crate) fn lock<T: Transport, D: BlockDevice>(
    m: &Mutex<Manager<T, D>>,
) -> std::sync::MutexGuard<'_, Manager<T, D>> {
    m.lock().unwrap_or_else(|_| {
        eprintln!(
            "vtpmmgr: a request handler panicked; exiting so that a restart reloads the image"
        );
        std::process::exit(70)
    })
}

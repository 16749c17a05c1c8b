//! The launcher's end: it plays the hypervisor for hosted domains (module docs of
//! [`super`]).

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use std::vec::Vec;

use super::sys;
use super::wire::{self, MAX_FRAME, Msg, WireError};
use super::{SOCKET_NAME, format_credential};
use crate::hv::{Hv, PageMem};
use crate::platform::{DOM0, DomId, XenError};
use crate::sim::SimPlatform;
use crate::tpmif::PAGE_SIZE;

/// How long a fresh connection has to present its credential.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

fn file_page() -> Result<PageMem, XenError> {
    sys::page_file(PAGE_SIZE as u64)
        .map(|f| PageMem::File(Arc::new(f)))
        .map_err(|e| XenError::Io(std::format!("allocating a shared page: {e}")))
}

struct Shared {
    hv: Arc<Hv>,
    /// Credentials not yet presented: token → domain.
    tokens: Mutex<BTreeMap<[u8; 16], DomId>>,
    /// Live connections, so destroying a domain can cut its process off.
    conns: Mutex<BTreeMap<DomId, UnixStream>>,
    stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Destroys the domain, then cuts its connection (whose thread then finds it gone).
    fn destroy(&self, id: DomId) -> Result<(), XenError> {
        lock(&self.tokens).retain(|_, d| *d != id);
        let result = self.hv.destroy_domain(id);
        if let Some(conn) = lock(&self.conns).remove(&id) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        result
    }
}

/// The hypervisor of a hosted machine: it owns the run directory and its socket, creates
/// domains and hands out their credentials, and serves every connected domain from a thread.
///
/// A domain lives until [`Launcher::destroy_domain`] or until its connection drops (its
/// process exited or crashed, or sent a malformed frame): then the launcher destroys it as
/// Xen destroys a dying domain — its store home goes (firing its peers' watches), its grants
/// end and its ports close. A domain whose process never connects lives until destroyed.
/// Dropping the launcher destroys every domain and removes the socket.
pub struct Launcher {
    shared: Arc<Shared>,
    socket: PathBuf,
    accept: Option<JoinHandle<()>>,
}

impl core::fmt::Debug for Launcher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Launcher")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Launcher {
    /// Creates `run_dir` (mode 0700) and starts serving on `run_dir/xen.sock` (mode 0600).
    pub fn start(run_dir: &Path) -> io::Result<Launcher> {
        match DirBuilder::new().mode(0o700).create(run_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !fs::symlink_metadata(run_dir)?.is_dir() {
                    return Err(io::Error::other(std::format!(
                        "{} exists and is not a directory",
                        run_dir.display()
                    )));
                }
                fs::set_permissions(run_dir, fs::Permissions::from_mode(0o700))?;
            }
            Err(e) => return Err(e),
        }
        let socket = run_dir.join(SOCKET_NAME);
        match fs::remove_file(&socket) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(&socket)?;
        fs::set_permissions(&socket, fs::Permissions::from_mode(0o600))?;
        let shared = Arc::new(Shared {
            hv: Arc::new(Hv::new(file_page)),
            tokens: Mutex::new(BTreeMap::new()),
            conns: Mutex::new(BTreeMap::new()),
            stopping: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("xen-launcher".into())
            .spawn(move || accept_loop(&s, &listener))?;
        Ok(Launcher {
            shared,
            socket,
            accept: Some(accept),
        })
    }

    /// The socket domains connect to.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Creates a domain; returns its id and the credential its process must present (pass
    /// it in the environment variable [`super::CREDENTIAL_ENV`]). A credential works once.
    pub fn create_domain(&self, label: &str) -> Result<(DomId, String), XenError> {
        let token = sys::random_token()
            .map_err(|e| XenError::Io(std::format!("reading /dev/urandom: {e}")))?;
        let id = self.shared.hv.create_domain(label)?;
        lock(&self.shared.tokens).insert(token, id);
        Ok((id, format_credential(&token, &self.socket)))
    }

    /// Destroys a domain and cuts its connection.
    pub fn destroy_domain(&self, id: DomId) -> Result<(), XenError> {
        self.shared.destroy(id)
    }

    /// dom0's platform, for the launcher's own process (pages are shared-memory files, so
    /// hosted domains can map what it grants).
    pub fn dom0(&self) -> SimPlatform {
        SimPlatform::new(Arc::clone(&self.shared.hv), DOM0)
    }

    /// Toolstack: sets a node's owner and readers.
    pub fn set_perms(&self, path: &str, owner: DomId, readers: &[DomId]) -> Result<(), XenError> {
        self.shared.hv.set_perms(path, owner, readers)
    }

    /// Toolstack: creates a vTPM device (see [`Hv::add_vtpm_device`]).
    pub fn add_vtpm_device(
        &self,
        backend: DomId,
        frontend: DomId,
        devid: u32,
        uuid: &str,
    ) -> Result<(), XenError> {
        self.shared
            .hv
            .add_vtpm_device(backend, frontend, devid, uuid)
    }

    /// Toolstack: removes a vTPM device's store directories.
    pub fn remove_vtpm_device(
        &self,
        backend: DomId,
        frontend: DomId,
        devid: u32,
    ) -> Result<(), XenError> {
        self.shared.hv.remove_vtpm_device(backend, frontend, devid)
    }

    /// Whether a domain is alive.
    pub fn domain_exists(&self, id: DomId) -> bool {
        self.shared.hv.domain_exists(id)
    }

    /// The machine itself.
    pub fn hv(&self) -> &Arc<Hv> {
        &self.shared.hv
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stopping`.
        let _ = UnixStream::connect(&self.socket);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let mut ids: Vec<DomId> = lock(&self.shared.tokens).values().copied().collect();
        ids.extend(lock(&self.shared.conns).keys().copied());
        for id in ids {
            let _ = self.shared.destroy(id);
        }
        let _ = fs::remove_file(&self.socket);
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &UnixListener) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            continue;
        };
        let s = Arc::clone(shared);
        // A failed spawn drops the connection: the domain sees its platform fail.
        let _ = thread::Builder::new()
            .name("xen-domain".into())
            .spawn(move || serve(&s, stream));
    }
}

/// Why a connection ends.
#[derive(Debug)]
enum Ended {
    /// The socket failed or closed.
    Io,
    /// A frame failed to parse.
    Malformed,
    /// A well-formed message that a domain may not send.
    Protocol,
}

fn read_frame(stream: &mut UnixStream) -> Result<Msg, Ended> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).map_err(|_| Ended::Io)?;
    let len = wire::frame_len(prefix).map_err(|_: WireError| Ended::Malformed)?;
    let mut frame = Vec::with_capacity(4 + len.min(MAX_FRAME));
    frame.extend_from_slice(&prefix);
    frame.resize(4 + len, 0);
    stream.read_exact(&mut frame[4..]).map_err(|_| Ended::Io)?;
    wire::parse(&frame).map_err(|_: WireError| Ended::Malformed)
}

fn write_msg(writer: &Mutex<UnixStream>, msg: &Msg) -> Result<(), Ended> {
    let frame = wire::encode(msg);
    lock(writer).write_all(&frame).map_err(|_| Ended::Io)
}

/// Serves one connection: the credential, then requests until it drops.
fn serve(shared: &Arc<Shared>, mut stream: UnixStream) {
    let Some(dom) = hello(shared, &mut stream) else {
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    };
    let _ = serve_domain(shared, dom, stream);
    // However it ended, the domain dies with its connection.
    let _ = shared.destroy(dom);
}

fn hello(shared: &Shared, stream: &mut UnixStream) -> Option<DomId> {
    stream.set_read_timeout(Some(HELLO_TIMEOUT)).ok()?;
    let Ok(Msg::Hello { token }) = read_frame(stream) else {
        return None;
    };
    let dom = {
        let mut tokens = lock(&shared.tokens);
        // Compare every stored token in full, without early exit on the first differing byte.
        let found = tokens
            .keys()
            .find(|t| {
                t.iter()
                    .zip(token.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
            })
            .copied();
        found.and_then(|t| tokens.remove(&t))
    };
    let Some(dom) = dom.filter(|d| shared.hv.domain_exists(*d)) else {
        let refusal = Msg::Failed(XenError::Denied("credential refused".to_string()));
        let _ = stream.write_all(&wire::encode(&refusal));
        return None;
    };
    stream.set_read_timeout(None).ok()?;
    let registered = stream.try_clone().ok()?;
    lock(&shared.conns).insert(dom, registered);
    Some(dom)
}

fn serve_domain(shared: &Arc<Shared>, dom: DomId, mut stream: UnixStream) -> Result<(), Ended> {
    let writer = Arc::new(Mutex::new(stream.try_clone().map_err(|_| Ended::Io)?));
    write_msg(&writer, &Msg::Welcome { domid: dom })?;
    // Events: one thread per domain pushes port notifications and watch fires.
    let (hv, w) = (Arc::clone(&shared.hv), Arc::clone(&writer));
    let events = thread::Builder::new()
        .name("xen-events".into())
        .spawn(move || {
            while let Some(ev) = hv.next_events(dom) {
                let msgs = ev
                    .ports
                    .into_iter()
                    .map(Msg::PortEvent)
                    .chain(ev.watches.into_iter().map(Msg::WatchEvent));
                let mut frames = Vec::new();
                for m in msgs {
                    frames.extend_from_slice(&wire::encode(&m));
                }
                if lock(&w).write_all(&frames).is_err() {
                    return;
                }
            }
        })
        .map_err(|_| Ended::Io)?;
    let result = loop {
        let msg = match read_frame(&mut stream) {
            Ok(m) => m,
            Err(e) => break Err(e),
        };
        if let Err(e) = handle(shared, dom, &writer, msg) {
            break Err(e);
        }
    };
    let _ = shared.destroy(dom);
    let _ = events.join();
    result
}

/// Carries out one request and writes its reply (if it has one).
fn handle(shared: &Shared, dom: DomId, writer: &Mutex<UnixStream>, msg: Msg) -> Result<(), Ended> {
    let hv = &shared.hv;
    let done = |r: Result<(), XenError>| r.map(|()| Msg::Done);
    let reply = match msg {
        Msg::Read { path } => hv.read(dom, &path).map(Msg::Value),
        Msg::Write { path, value } => done(hv.write(dom, &path, &value)),
        Msg::WriteAll { entries } => {
            let refs: Vec<(&str, &str)> = entries
                .iter()
                .map(|(p, v)| (p.as_str(), v.as_str()))
                .collect();
            done(hv.write_all(dom, &refs))
        }
        Msg::Remove { path } => done(hv.remove(dom, &path)),
        Msg::List { path } => hv.list(dom, &path).map(Msg::Names),
        Msg::Watch { path } => done(hv.watch(dom, &path)),
        Msg::Unwatch { path } => done(hv.unwatch(dom, &path)),
        Msg::Grant { peer } => {
            return match hv.grant(dom, peer) {
                Ok((gref, mem)) => send_page(writer, &Msg::Page { gref }, &mem),
                Err(e) => write_msg(writer, &Msg::Failed(e)),
            };
        }
        Msg::Map { peer, gref } => {
            return match hv.map(dom, peer, gref) {
                Ok(mem) => send_page(writer, &Msg::Page { gref }, &mem),
                Err(e) => write_msg(writer, &Msg::Failed(e)),
            };
        }
        Msg::EndGrant { gref } => {
            hv.end_grant(dom, gref);
            Ok(Msg::Done)
        }
        Msg::AllocUnbound { peer } => hv.alloc_unbound(dom, peer).map(Msg::PortNo),
        Msg::Bind { peer, remote } => hv.bind(dom, peer, remote).map(Msg::PortNo),
        Msg::Close { port } => {
            hv.close_port(dom, port);
            Ok(Msg::Done)
        }
        Msg::Notify { port } => {
            // The domain checked the port against its mirror of the table; a mismatch means
            // it lies, which costs it nothing but the notification.
            let _ = hv.notify(dom, port);
            return Ok(());
        }
        Msg::PeerLabel { peer } => hv.peer_label(dom, peer).map(Msg::Label),
        // Replies and events flow the other way; a second hello is a protocol error.
        _ => return Err(Ended::Protocol),
    };
    let mut frame = wire::encode(&reply.unwrap_or_else(Msg::Failed));
    if frame.len() > MAX_FRAME {
        frame = wire::encode(&Msg::Failed(XenError::Io("reply too large".to_string())));
    }
    lock(writer).write_all(&frame).map_err(|_| Ended::Io)
}

/// Sends a page reply with a fresh open file description of the page attached.
fn send_page(writer: &Mutex<UnixStream>, msg: &Msg, mem: &PageMem) -> Result<(), Ended> {
    let PageMem::File(file) = mem else {
        return write_msg(
            writer,
            &Msg::Failed(XenError::Io("page is not shareable".to_string())),
        );
    };
    let own: File = match sys::reopen(file) {
        Ok(f) => f,
        Err(e) => return write_msg(writer, &Msg::Failed(XenError::Io(e.to_string()))),
    };
    let frame = wire::encode(msg);
    let w = lock(writer);
    sys::send_with_fd(&w, &frame, own.as_raw_fd()).map_err(|_| Ended::Io)
}

//! A hosted domain's end: [`HostedPlatform`] speaks the [`wire`](super::wire) to the launcher.
//!
//! Requests go out one at a time and the reply is awaited; port notifications and watch fires
//! the launcher pushes meanwhile are recorded locally (coalesced, as on Xen) and consumed by
//! `take_port`/`take_watch`. Only `notify` expects no reply (this end mirrors its port table,
//! so it can refuse a bad port itself), which keeps a notification one message.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::sys;
use super::wire::{self, Msg};
use super::{CREDENTIAL_ENV, parse_credential};
use crate::hv::PageMem;
use crate::platform::{DomId, GrantRef, Platform, Port, XenError};
use crate::tpmif::SharedPage;

/// How long [`HostedPlatform::fill`] may block.
#[derive(Clone, Copy)]
enum Fill {
    Block,
    Within(Duration),
    NoWait,
}

fn io_err(e: &io::Error) -> XenError {
    XenError::Io(e.to_string())
}

/// A page shared through the launcher: a shared-memory file reached with `pread`/`pwrite`.
#[derive(Debug)]
pub struct HostedPage {
    mem: PageMem,
    /// The granter's side: dropping the page ends the grant.
    grant: Option<(Arc<Mutex<Conn>>, GrantRef)>,
}

impl HostedPage {
    /// Another handle on the same page that does not hold the grant (a test's hostile
    /// scribbler).
    #[must_use]
    pub fn alias(&self) -> HostedPage {
        HostedPage {
            mem: self.mem.clone(),
            grant: None,
        }
    }
}

impl Drop for HostedPage {
    fn drop(&mut self) {
        if let Some((conn, gref)) = self.grant.take() {
            // The connection may be gone already; then so is the grant.
            let _ = lock(&conn).rpc(&Msg::EndGrant { gref });
        }
    }
}

impl SharedPage for HostedPage {
    fn read(&self, offset: usize, buf: &mut [u8]) {
        self.mem.read(offset, buf);
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        self.mem.write(offset, data);
    }

    fn barrier(&self) {
        PageMem::barrier();
    }
}

fn lock(conn: &Mutex<Conn>) -> MutexGuard<'_, Conn> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A domain of a hosted machine (module docs of [`super`]).
#[derive(Debug)]
pub struct HostedPlatform {
    dom: DomId,
    /// Shared with the pages this domain granted, which end their grant through it.
    conn: Arc<Mutex<Conn>>,
}

/// The connection to the launcher and what it has delivered.
#[derive(Debug)]
struct Conn {
    stream: UnixStream,
    inbuf: Vec<u8>,
    fds: VecDeque<OwnedFd>,
    ports: BTreeSet<u32>,
    pending: BTreeSet<u32>,
    watches: BTreeMap<String, bool>,
    origin: Instant,
    /// Set once the connection failed: every later call fails the same way.
    broken: Option<String>,
}

impl Conn {
    fn fail(&mut self, e: XenError) -> XenError {
        if self.broken.is_none() {
            self.broken = Some(e.to_string());
        }
        e
    }

    fn check(&self) -> Result<(), XenError> {
        match &self.broken {
            Some(e) => Err(XenError::Io(e.clone())),
            None => Ok(()),
        }
    }

    fn send(&mut self, msg: &Msg) -> Result<(), XenError> {
        self.check()?;
        let frame = wire::encode(msg);
        let r = (&self.stream).write_all(&frame).map_err(|e| io_err(&e));
        r.map_err(|e| self.fail(e))
    }

    /// Sends a request and returns its reply, recording events that arrive meanwhile.
    fn rpc(&mut self, msg: &Msg) -> Result<Msg, XenError> {
        self.send(msg)?;
        loop {
            match self.next_frame(None)? {
                Some(Msg::Failed(e)) => return Err(e),
                Some(reply) => return Ok(reply),
                None => {}
            }
        }
    }

    /// Reads until one reply frame is complete (`Some`) or, with a deadline, until an event
    /// arrives or the deadline passes (`None`). Events are recorded, never returned.
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Option<Msg>, XenError> {
        loop {
            if let Some(msg) = self.take_buffered()? {
                if let Some(reply) = self.record(msg) {
                    return Ok(Some(reply));
                }
                if deadline.is_some() {
                    return Ok(None);
                }
                continue;
            }
            let got = match deadline {
                None => self.fill(Fill::Block)?,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => self.fill(Fill::Within(left))?,
                    _ => self.fill(Fill::NoWait)?,
                },
            };
            if !got {
                return Ok(None);
            }
        }
    }

    /// Records an event (`None`) or hands back a reply.
    fn record(&mut self, msg: Msg) -> Option<Msg> {
        match msg {
            // An event for a port this end has closed was in flight when it closed: drop it.
            // Kept, it would stay pending forever (nobody takes a closed port) and every
            // `wait` would return at once.
            Msg::PortEvent(p) => {
                if self.ports.contains(&p.0) {
                    self.pending.insert(p.0);
                }
                None
            }
            Msg::WatchEvent(path) => {
                if let Some(fired) = self.watches.get_mut(&path) {
                    *fired = true;
                }
                None
            }
            reply => Some(reply),
        }
    }

    /// Reads once from the socket into the input buffer: `false` when nothing came in time.
    fn fill(&mut self, how: Fill) -> Result<bool, XenError> {
        let nonblocking = match how {
            Fill::Block => {
                self.set_timeout(None)?;
                false
            }
            Fill::Within(t) => {
                self.set_timeout(Some(t))?;
                false
            }
            Fill::NoWait => true,
        };
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match sys::recv_with_fds(&self.stream, &mut chunk, &mut self.fds, nonblocking) {
                Ok(0) => return Err(self.fail(XenError::Io("the launcher closed".to_string()))),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(how, Fill::Within(_) | Fill::NoWait)
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                {
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(io_err(&e))),
            }
        }
    }

    fn set_timeout(&mut self, t: Option<Duration>) -> Result<(), XenError> {
        self.stream.set_read_timeout(t).map_err(|e| io_err(&e))
    }

    /// One complete frame from the input buffer, if there is one.
    fn take_buffered(&mut self) -> Result<Option<Msg>, XenError> {
        let Some(prefix) = self.inbuf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = wire::frame_len(*prefix).map_err(|e| self.fail(XenError::Io(e.to_string())))?;
        if self.inbuf.len() < 4 + len {
            return Ok(None);
        }
        let frame: Vec<u8> = self.inbuf.drain(..4 + len).collect();
        wire::parse(&frame)
            .map(Some)
            .map_err(|e| self.fail(XenError::Io(std::format!("from the launcher: {e}"))))
    }

    fn page_fd(&mut self) -> Result<PageMem, XenError> {
        let fd = self
            .fds
            .pop_front()
            .ok_or_else(|| self.fail(XenError::Io("a page arrived without its file".into())))?;
        Ok(PageMem::File(Arc::new(File::from(fd))))
    }
}

fn unexpected(msg: &Msg) -> XenError {
    XenError::Io(std::format!("unexpected reply from the launcher: {msg:?}"))
}

impl HostedPlatform {
    /// Connects with the credential the launcher put in `VTPM_XEN`.
    pub fn from_env() -> Result<HostedPlatform, XenError> {
        let cred = std::env::var(CREDENTIAL_ENV)
            .map_err(|_| XenError::Io(std::format!("{CREDENTIAL_ENV} is not set")))?;
        Self::connect(&cred)
    }

    /// Connects to the launcher with a credential (`<32 hex token>@<socket path>`).
    pub fn connect(credential: &str) -> Result<HostedPlatform, XenError> {
        let (token, path) = parse_credential(credential)
            .ok_or_else(|| XenError::Io("malformed credential".to_string()))?;
        let stream = UnixStream::connect(path)
            .map_err(|e| XenError::Io(std::format!("connecting to {}: {e}", path.display())))?;
        let mut c = Conn {
            stream,
            inbuf: Vec::new(),
            fds: VecDeque::new(),
            ports: BTreeSet::new(),
            pending: BTreeSet::new(),
            watches: BTreeMap::new(),
            origin: Instant::now(),
            broken: None,
        };
        match c.rpc(&Msg::Hello { token })? {
            Msg::Welcome { domid } => Ok(HostedPlatform {
                dom: domid,
                conn: Arc::new(Mutex::new(c)),
            }),
            other => Err(unexpected(&other)),
        }
    }

    fn c(&self) -> MutexGuard<'_, Conn> {
        lock(&self.conn)
    }
}

impl Platform for HostedPlatform {
    type Page = HostedPage;

    fn domid(&self) -> DomId {
        self.dom
    }

    fn read(&mut self, path: &str) -> Result<Option<String>, XenError> {
        match self.c().rpc(&Msg::Read { path: path.into() })? {
            Msg::Value(v) => Ok(v),
            other => Err(unexpected(&other)),
        }
    }

    fn write(&mut self, path: &str, value: &str) -> Result<(), XenError> {
        let msg = Msg::Write {
            path: path.into(),
            value: value.into(),
        };
        match self.c().rpc(&msg)? {
            Msg::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn write_all(&mut self, entries: &[(&str, &str)]) -> Result<(), XenError> {
        let entries = entries
            .iter()
            .map(|(p, v)| ((*p).to_string(), (*v).to_string()))
            .collect();
        match self.c().rpc(&Msg::WriteAll { entries })? {
            Msg::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn remove(&mut self, path: &str) -> Result<(), XenError> {
        match self.c().rpc(&Msg::Remove { path: path.into() })? {
            Msg::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn list(&mut self, path: &str) -> Result<Vec<String>, XenError> {
        match self.c().rpc(&Msg::List { path: path.into() })? {
            Msg::Names(n) => Ok(n),
            other => Err(unexpected(&other)),
        }
    }

    fn watch(&mut self, path: &str) -> Result<(), XenError> {
        // Recorded first: the launcher may push the registration fire before its reply.
        let mut c = self.c();
        let had = c.watches.insert(path.to_string(), false);
        match c.rpc(&Msg::Watch { path: path.into() }) {
            Ok(Msg::Done) => Ok(()),
            Ok(other) => Err(unexpected(&other)),
            Err(e) => {
                if had.is_none() {
                    c.watches.remove(path);
                }
                Err(e)
            }
        }
    }

    fn unwatch(&mut self, path: &str) -> Result<(), XenError> {
        let mut c = self.c();
        c.watches.remove(path);
        match c.rpc(&Msg::Unwatch { path: path.into() })? {
            Msg::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn take_watch(&mut self, path: &str) -> bool {
        // Collect what has arrived without blocking.
        let mut c = self.c();
        let _ = c.poll_events();
        c.watches
            .get_mut(path)
            .is_some_and(|f| core::mem::replace(f, false))
    }

    fn grant_page(&mut self, peer: DomId) -> Result<(GrantRef, HostedPage), XenError> {
        let mut c = self.c();
        match c.rpc(&Msg::Grant { peer })? {
            Msg::Page { gref } => {
                let mem = c.page_fd()?;
                let grant = Some((Arc::clone(&self.conn), gref));
                Ok((gref, HostedPage { mem, grant }))
            }
            other => Err(unexpected(&other)),
        }
    }

    fn map_page(&mut self, peer: DomId, gref: GrantRef) -> Result<HostedPage, XenError> {
        let mut c = self.c();
        match c.rpc(&Msg::Map { peer, gref })? {
            Msg::Page { .. } => Ok(HostedPage {
                mem: c.page_fd()?,
                grant: None,
            }),
            other => Err(unexpected(&other)),
        }
    }

    fn alloc_unbound(&mut self, peer: DomId) -> Result<Port, XenError> {
        let mut c = self.c();
        match c.rpc(&Msg::AllocUnbound { peer })? {
            Msg::PortNo(p) => {
                c.ports.insert(p.0);
                Ok(p)
            }
            other => Err(unexpected(&other)),
        }
    }

    fn bind_interdomain(&mut self, peer: DomId, remote: Port) -> Result<Port, XenError> {
        let mut c = self.c();
        match c.rpc(&Msg::Bind { peer, remote })? {
            Msg::PortNo(p) => {
                c.ports.insert(p.0);
                Ok(p)
            }
            other => Err(unexpected(&other)),
        }
    }

    fn close_port(&mut self, port: Port) {
        let mut c = self.c();
        if c.ports.remove(&port.0) {
            c.pending.remove(&port.0);
            let _ = c.rpc(&Msg::Close { port });
        }
    }

    fn notify(&mut self, port: Port) -> Result<(), XenError> {
        // This end mirrors the launcher's port table for this domain exactly, so a bad port
        // is refused here and the notification needs no reply.
        let mut c = self.c();
        if !c.ports.contains(&port.0) {
            c.check()?;
            return Err(XenError::BadPort(port));
        }
        c.send(&Msg::Notify { port })
    }

    fn take_port(&mut self, port: Port) -> bool {
        let mut c = self.c();
        let _ = c.poll_events();
        c.pending.remove(&port.0)
    }

    fn wait(&mut self, timeout_ms: u64) -> Result<bool, XenError> {
        self.c().wait(timeout_ms)
    }

    fn now_ms(&mut self) -> u64 {
        u64::try_from(self.c().origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn peer_label(&mut self, peer: DomId) -> Result<String, XenError> {
        match self.c().rpc(&Msg::PeerLabel { peer })? {
            Msg::Label(l) => Ok(l),
            other => Err(unexpected(&other)),
        }
    }
}

impl Conn {
    fn wait(&mut self, timeout_ms: u64) -> Result<bool, XenError> {
        let deadline = Instant::now().checked_add(Duration::from_millis(timeout_ms));
        loop {
            if self.has_events() {
                return Ok(true);
            }
            self.check()?;
            let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            if let Some(reply) = self.next_frame(Some(until))? {
                return Err(self.fail(unexpected(&reply)));
            }
            if self.has_events() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    fn has_events(&self) -> bool {
        !self.pending.is_empty() || self.watches.values().any(|f| *f)
    }

    /// Records every event already received, without blocking.
    fn poll_events(&mut self) -> Result<(), XenError> {
        self.check()?;
        loop {
            while let Some(msg) = self.take_buffered()? {
                if let Some(reply) = self.record(msg) {
                    return Err(self.fail(unexpected(&reply)));
                }
            }
            if !self.fill(Fill::NoWait)? {
                return Ok(());
            }
        }
    }
}

//! The hypervisor core: the machine state every domain of one host shares — the store with its
//! permissions and watches, the grant tables, the event channels and the domains themselves
//! (the model of [`crate::platform`]; reference `xen-vtpm.md` §2.3–§2.4, Xen's
//! `docs/misc/xenstore.txt` for the store rules).
//!
//! [`crate::sim`] serves it to threads of one process, [`crate::hosted`] to Linux processes
//! over a Unix socket. Every operation takes the calling domain's id; the caller (the sim
//! handle, or the launcher's connection for that domain) is what vouches for it.
//!
//! Rules:
//! - Store: dom0 may do anything. Another domain may read a node it owns or is a reader of,
//!   and may write or remove a node it owns; creating a node needs ownership of the nearest
//!   existing ancestor, and new nodes inherit that ancestor's owner and readers. Paths are
//!   absolute, at most [`MAX_PATH`] bytes, with non-empty components of printable ASCII (no
//!   space); values are at most [`MAX_VALUE`] bytes without NUL. A domain owns at most
//!   [`MAX_NODES_PER_DOMAIN`] nodes.
//! - Watches fire when registered, and on a write at or below the watched path, and on a
//!   removal at, below or above it — each only for a watcher that may read the node changed
//!   (as xenstored does), so a watch does not leak another domain's activity.
//! - A grant names one peer; only it may map the page. Ending a grant stops new maps; pages
//!   already mapped stay shared.
//! - Closing one end of an event channel leaves the other end bound to nothing: notifying it
//!   does nothing, as on Xen.
//! - Destroying a domain removes `/local/domain/<id>` (firing watchers), ends its grants,
//!   closes its ports and drops its watches.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU8, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use std::vec::Vec;
use std::{format, vec};

use crate::platform::{DOM0, DomId, GrantRef, Port, XenError};
use crate::tpmif::PAGE_SIZE;
use crate::xenbus;

/// Longest store path, in bytes.
pub const MAX_PATH: usize = 1024;
/// Longest store value, in bytes.
pub const MAX_VALUE: usize = 4096;
/// Most store nodes a domain other than dom0 may own.
pub const MAX_NODES_PER_DOMAIN: usize = 4096;
/// Most watches a domain may hold.
pub const MAX_WATCHES_PER_DOMAIN: usize = 128;
/// Most grants a domain may hold at once.
pub const MAX_GRANTS_PER_DOMAIN: usize = 256;
/// Most event-channel ports a domain may hold at once.
pub const MAX_PORTS_PER_DOMAIN: usize = 256;
/// Most reader domains on one node.
pub const MAX_READERS: usize = 16;
/// Most entries in one [`Hv::write_all`] transaction.
pub const MAX_TRANSACTION: usize = 64;
/// Longest domain label, in bytes.
pub const MAX_LABEL: usize = 1024;
/// Xen's first reserved domain id: ids are handed out below it.
pub const FIRST_RESERVED_DOMID: DomId = 0x7FF0;

/// The memory of one shared page: plain memory (in-process) or a shared-memory file (hosted
/// processes, which reach it with `pread`/`pwrite`).
#[derive(Clone, Debug)]
pub enum PageMem {
    /// Memory of this process.
    Ram(Arc<[AtomicU8; PAGE_SIZE]>),
    /// A 4096-byte shared-memory file.
    File(Arc<File>),
}

impl PageMem {
    /// A zeroed in-process page.
    pub fn ram() -> PageMem {
        PageMem::Ram(Arc::new(core::array::from_fn(|_| AtomicU8::new(0))))
    }

    /// Copies bytes from `offset`; whatever lies beyond the page (or a file cut short by its
    /// owner) reads as zeros.
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        buf.fill(0);
        let start = offset.min(PAGE_SIZE);
        let len = buf.len().min(PAGE_SIZE - start);
        let Some(dst) = buf.get_mut(..len) else {
            return;
        };
        match self {
            PageMem::Ram(bytes) => {
                for (d, s) in dst.iter_mut().zip(bytes.iter().skip(start)) {
                    *d = s.load(Ordering::Relaxed);
                }
            }
            PageMem::File(file) => {
                let mut done = 0;
                while done < len {
                    let Some(rest) = dst.get_mut(done..) else {
                        break;
                    };
                    match file.read_at(rest, (start + done) as u64) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => done += n,
                    }
                }
            }
        }
    }

    /// Copies `data` to `offset`; what would fall beyond the page is dropped.
    pub fn write(&self, offset: usize, data: &[u8]) {
        let start = offset.min(PAGE_SIZE);
        let len = data.len().min(PAGE_SIZE - start);
        let Some(src) = data.get(..len) else {
            return;
        };
        match self {
            PageMem::Ram(bytes) => {
                for (s, d) in src.iter().zip(bytes.iter().skip(start)) {
                    d.store(*s, Ordering::Relaxed);
                }
            }
            PageMem::File(file) => {
                // A failed write (the file is sealed against growth, so only a hostile peer's
                // tricks could cause one) leaves the page as it was: the tpmif state machine
                // treats whatever it then reads as hostile anyway.
                let _ = file.write_all_at(src, start as u64);
            }
        }
    }

    /// Orders earlier accesses before later ones.
    pub fn barrier() {
        fence(Ordering::SeqCst);
    }
}

#[derive(Clone, Debug)]
struct Node {
    value: String,
    owner: DomId,
    readers: Vec<DomId>,
}

impl Node {
    fn may_read(&self, dom: DomId) -> bool {
        dom == DOM0 || self.owner == dom || self.readers.contains(&dom)
    }

    fn may_write(&self, dom: DomId) -> bool {
        dom == DOM0 || self.owner == dom
    }
}

#[derive(Debug)]
struct Grant {
    peer: DomId,
    mem: PageMem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortState {
    Unbound {
        peer: DomId,
    },
    Bound {
        peer: DomId,
        remote: u32,
    },
    /// The other end closed (or its domain died).
    Dead,
}

#[derive(Debug)]
struct Domain {
    label: String,
    nodes: usize,
    grants: BTreeMap<u32, Grant>,
    next_gref: u32,
    ports: BTreeMap<u32, PortState>,
    pending: BTreeSet<u32>,
    /// Watched path → fired since last taken.
    watches: BTreeMap<String, bool>,
    /// Its waiters (used with the machine's one mutex). A notification wakes only the
    /// receiving domain's waiters, not every domain's.
    cv: Arc<Condvar>,
}

impl Domain {
    fn new(label: String) -> Domain {
        Domain {
            label,
            nodes: 0,
            grants: BTreeMap::new(),
            next_gref: FIRST_GREF,
            ports: BTreeMap::new(),
            pending: BTreeSet::new(),
            watches: BTreeMap::new(),
            cv: Arc::new(Condvar::new()),
        }
    }

    fn has_events(&self) -> bool {
        !self.pending.is_empty() || self.watches.values().any(|f| *f)
    }
}

/// Xen reserves the first grant entries for the toolstack.
const FIRST_GREF: u32 = 8;

/// Notifications and watch fires a domain has not collected yet (hosted mode ships them to
/// the domain's process).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Ports that became pending.
    pub ports: Vec<Port>,
    /// Watched paths that fired.
    pub watches: Vec<String>,
}

struct State {
    store: BTreeMap<String, Node>,
    domains: BTreeMap<DomId, Domain>,
    next_domid: DomId,
}

/// One machine's shared state (module docs give the rules).
pub struct Hv {
    state: Mutex<State>,
    origin: Instant,
    alloc_page: fn() -> Result<PageMem, XenError>,
}

impl core::fmt::Debug for Hv {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hv").finish_non_exhaustive()
    }
}

/// Checks a store path (module docs give the rules).
pub fn check_path(path: &str) -> Result<(), XenError> {
    let bad = || XenError::BadPath(truncated(path));
    if path.len() > MAX_PATH || !path.starts_with('/') {
        return Err(bad());
    }
    if path == "/" {
        return Ok(());
    }
    for component in path.split('/').skip(1) {
        if component.is_empty() || !component.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
    }
    Ok(())
}

fn check_value(path: &str, value: &str) -> Result<(), XenError> {
    if value.len() > MAX_VALUE || value.contains('\0') {
        return Err(XenError::BadPath(truncated(path)));
    }
    Ok(())
}

/// A path as an error may quote it (hostile paths can be long).
fn truncated(path: &str) -> String {
    path.chars().take(80).collect()
}

/// `path` is `top` or lies below it.
fn at_or_below(path: &str, top: &str) -> bool {
    top == "/"
        || path == top
        || (path.len() > top.len()
            && path.starts_with(top)
            && path.as_bytes().get(top.len()) == Some(&b'/'))
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

type Undo = Vec<(String, Option<Node>)>;

impl State {
    fn domain(&self, dom: DomId) -> Result<&Domain, XenError> {
        self.domains.get(&dom).ok_or(XenError::NoDomain(dom))
    }

    fn domain_mut(&mut self, dom: DomId) -> Result<&mut Domain, XenError> {
        self.domains.get_mut(&dom).ok_or(XenError::NoDomain(dom))
    }

    fn count(&mut self, owner: DomId, delta_add: bool) {
        if let Some(d) = self.domains.get_mut(&owner) {
            if delta_add {
                d.nodes += 1;
            } else {
                d.nodes = d.nodes.saturating_sub(1);
            }
        }
    }

    fn insert_node(&mut self, path: String, node: Node) {
        let owner = node.owner;
        if let Some(old) = self.store.insert(path, node) {
            self.count(old.owner, false);
        }
        self.count(owner, true);
    }

    fn remove_node(&mut self, path: &str) {
        if let Some(old) = self.store.remove(path) {
            self.count(old.owner, false);
        }
    }

    fn read(&self, dom: DomId, path: &str) -> Result<Option<String>, XenError> {
        check_path(path)?;
        match self.store.get(path) {
            None => Ok(None),
            Some(n) if n.may_read(dom) => Ok(Some(n.value.clone())),
            Some(_) => Err(XenError::Denied(path.to_string())),
        }
    }

    fn list(&self, dom: DomId, path: &str) -> Result<Vec<String>, XenError> {
        check_path(path)?;
        match self.store.get(path) {
            None => return Ok(Vec::new()),
            Some(n) if !n.may_read(dom) => return Err(XenError::Denied(path.to_string())),
            Some(_) => {}
        }
        let prefix = if path == "/" {
            String::from("/")
        } else {
            format!("{path}/")
        };
        let mut names = Vec::new();
        for key in self.store.range(prefix.clone()..).map(|(k, _)| k) {
            let Some(rest) = key.strip_prefix(&prefix) else {
                break;
            };
            if !rest.is_empty() && !rest.contains('/') {
                names.push(rest.to_string());
            }
        }
        Ok(names)
    }

    /// Writes one node, recording what it replaced in `undo`.
    fn apply_write(
        &mut self,
        dom: DomId,
        path: &str,
        value: &str,
        undo: &mut Undo,
    ) -> Result<(), XenError> {
        check_path(path)?;
        check_value(path, value)?;
        if path == "/" {
            return Err(XenError::BadPath(path.to_string()));
        }
        if let Some(node) = self.store.get_mut(path) {
            if !node.may_write(dom) {
                return Err(XenError::Denied(path.to_string()));
            }
            undo.push((path.to_string(), Some(node.clone())));
            node.value = value.to_string();
            return Ok(());
        }
        let mut missing = vec![path];
        let mut ancestor = parent(path);
        while !self.store.contains_key(ancestor) {
            missing.push(ancestor);
            ancestor = parent(ancestor);
        }
        let Some(top) = self.store.get(ancestor) else {
            return Err(XenError::NoEntry(ancestor.to_string()));
        };
        if !top.may_write(dom) {
            return Err(XenError::Denied(path.to_string()));
        }
        let (owner, readers) = (top.owner, top.readers.clone());
        if dom != DOM0 {
            let owned = self.domain(owner).map_or(0, |d| d.nodes);
            if owned + missing.len() > MAX_NODES_PER_DOMAIN {
                return Err(XenError::Denied(format!(
                    "{} (node quota)",
                    truncated(path)
                )));
            }
        }
        for p in missing.into_iter().rev() {
            undo.push((p.to_string(), None));
            let value = if p == path { value } else { "" };
            self.insert_node(
                p.to_string(),
                Node {
                    value: value.to_string(),
                    owner,
                    readers: readers.clone(),
                },
            );
        }
        Ok(())
    }

    fn rollback(&mut self, undo: Undo) {
        for (path, old) in undo.into_iter().rev() {
            match old {
                None => self.remove_node(&path),
                Some(node) => self.insert_node(path, node),
            }
        }
    }

    /// Flags the watches a write at each of `paths` fires (with the nodes' current perms).
    fn fire_writes(&mut self, paths: &[String]) {
        let mut fired = Vec::new();
        for (dom, d) in &self.domains {
            for w in d.watches.keys() {
                let hit = paths.iter().any(|p| {
                    at_or_below(p, w)
                        && self.store.get(p.as_str()).is_some_and(|n| n.may_read(*dom))
                });
                if hit {
                    fired.push((*dom, w.clone()));
                }
            }
        }
        self.flag(fired);
    }

    /// Flags the watches removing the subtree at `root` fires; call before removing it.
    fn fire_removal(&mut self, root: &str) {
        let Some(root_node) = self.store.get(root) else {
            return;
        };
        let mut fired = Vec::new();
        for (dom, d) in &self.domains {
            for w in d.watches.keys() {
                let hit = if at_or_below(root, w) {
                    root_node.may_read(*dom)
                } else if at_or_below(w, root) {
                    root_node.may_read(*dom)
                        || self.store.get(w.as_str()).is_some_and(|n| n.may_read(*dom))
                } else {
                    false
                };
                if hit {
                    fired.push((*dom, w.clone()));
                }
            }
        }
        self.flag(fired);
    }

    fn flag(&mut self, fired: Vec<(DomId, String)>) {
        for (dom, w) in fired {
            if let Some(flag) = self
                .domains
                .get_mut(&dom)
                .and_then(|d| d.watches.get_mut(&w))
            {
                *flag = true;
            }
        }
    }

    fn remove(&mut self, dom: DomId, path: &str) -> Result<(), XenError> {
        check_path(path)?;
        if path == "/" {
            return Err(XenError::BadPath(path.to_string()));
        }
        match self.store.get(path) {
            None => return Ok(()),
            Some(n) if !n.may_write(dom) => return Err(XenError::Denied(path.to_string())),
            Some(_) => {}
        }
        self.fire_removal(path);
        let doomed: Vec<String> = self
            .store
            .range(path.to_string()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(path))
            .filter(|k| at_or_below(k, path))
            .cloned()
            .collect();
        for k in doomed {
            self.remove_node(&k);
        }
        Ok(())
    }

    fn set_perms(&mut self, path: &str, owner: DomId, readers: &[DomId]) -> Result<(), XenError> {
        check_path(path)?;
        if readers.len() > MAX_READERS {
            return Err(XenError::BadPath(format!(
                "{} (too many readers)",
                truncated(path)
            )));
        }
        let Some(node) = self.store.get(path) else {
            return Err(XenError::NoEntry(path.to_string()));
        };
        let mut node = node.clone();
        node.owner = owner;
        node.readers = readers.to_vec();
        self.insert_node(path.to_string(), node);
        Ok(())
    }

    fn close_port(&mut self, dom: DomId, port: u32) {
        let Some(d) = self.domains.get_mut(&dom) else {
            return;
        };
        d.pending.remove(&port);
        if let Some(PortState::Bound { peer, remote }) = d.ports.remove(&port) {
            self.kill_remote(dom, port, peer, remote);
        }
    }

    /// Marks `peer`'s end `remote` dead if it is still bound to (`dom`, `port`).
    fn kill_remote(&mut self, dom: DomId, port: u32, peer: DomId, remote: u32) {
        if let Some(p) = self.domains.get_mut(&peer) {
            if let Some(state) = p.ports.get_mut(&remote) {
                if *state
                    == (PortState::Bound {
                        peer: dom,
                        remote: port,
                    })
                {
                    *state = PortState::Dead;
                }
            }
        }
    }
}

fn free_port(d: &Domain) -> Result<u32, XenError> {
    if d.ports.len() >= MAX_PORTS_PER_DOMAIN {
        return Err(XenError::BadPort(Port(0)));
    }
    (1..=u32::try_from(MAX_PORTS_PER_DOMAIN + 1).unwrap_or(u32::MAX))
        .find(|p| !d.ports.contains_key(p))
        .ok_or(XenError::BadPort(Port(0)))
}

impl Hv {
    /// A machine with dom0 (label `dom0`) and `/local/domain/0`, whose pages come from
    /// `alloc_page`.
    pub fn new(alloc_page: fn() -> Result<PageMem, XenError>) -> Hv {
        let mut store = BTreeMap::new();
        let root = |v: &str| Node {
            value: v.to_string(),
            owner: DOM0,
            readers: Vec::new(),
        };
        for p in ["/", "/local", "/local/domain", "/local/domain/0"] {
            store.insert(p.to_string(), root(""));
        }
        let mut domains = BTreeMap::new();
        domains.insert(DOM0, Domain::new("dom0".to_string()));
        Hv {
            state: Mutex::new(State {
                store,
                domains,
                next_domid: 1,
            }),
            origin: Instant::now(),
            alloc_page,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every domain's waiters (after a store change, which may fire anyone's watch, or a
    /// domain's birth or death).
    fn wake_everyone(&self) {
        let cvs: Vec<Arc<Condvar>> = self
            .lock()
            .domains
            .values()
            .map(|d| Arc::clone(&d.cv))
            .collect();
        for cv in cvs {
            cv.notify_all();
        }
    }

    /// Runs `f` on the state of a live `dom`, then wakes waiters.
    fn with<T>(
        &self,
        dom: DomId,
        f: impl FnOnce(&mut State) -> Result<T, XenError>,
    ) -> Result<T, XenError> {
        let mut s = self.lock();
        s.domain(dom)?;
        let out = f(&mut s);
        drop(s);
        self.wake_everyone();
        out
    }

    /// Milliseconds since the machine started.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    // ----- domains -----

    /// Creates a domain and its home `/local/domain/<id>`, owned by it.
    pub fn create_domain(&self, label: &str) -> Result<DomId, XenError> {
        if label.len() > MAX_LABEL || label.contains('\0') {
            return Err(XenError::BadPath(format!("label {}", truncated(label))));
        }
        let mut s = self.lock();
        let id = s.next_domid;
        if id >= FIRST_RESERVED_DOMID {
            return Err(XenError::NoDomain(id));
        }
        s.next_domid = id + 1;
        s.domains.insert(id, Domain::new(label.to_string()));
        let home = xenbus::domain_path(id);
        let mut undo = Vec::new();
        if let Err(e) = s
            .apply_write(DOM0, &home, "", &mut undo)
            .and_then(|()| s.set_perms(&home, id, &[]))
        {
            s.rollback(undo);
            s.domains.remove(&id);
            return Err(e);
        }
        s.fire_writes(&[home]);
        drop(s);
        self.wake_everyone();
        Ok(id)
    }

    /// Destroys a domain (module docs say what goes with it). dom0 cannot be destroyed.
    pub fn destroy_domain(&self, id: DomId) -> Result<(), XenError> {
        if id == DOM0 {
            return Err(XenError::Denied("dom0".to_string()));
        }
        let mut s = self.lock();
        s.domain(id)?;
        let home = xenbus::domain_path(id);
        s.remove(DOM0, &home)?;
        let mut dead_cv = None;
        if let Some(d) = s.domains.remove(&id) {
            dead_cv = Some(d.cv);
            for (port, state) in d.ports {
                if let PortState::Bound { peer, remote } = state {
                    s.kill_remote(id, port, peer, remote);
                }
            }
        }
        drop(s);
        self.wake_everyone();
        // Its own waiters learn that it is gone.
        if let Some(cv) = dead_cv {
            cv.notify_all();
        }
        Ok(())
    }

    /// Whether `id` is alive.
    pub fn domain_exists(&self, id: DomId) -> bool {
        self.lock().domains.contains_key(&id)
    }

    /// The label a domain was created with.
    pub fn peer_label(&self, dom: DomId, peer: DomId) -> Result<String, XenError> {
        let s = self.lock();
        s.domain(dom)?;
        Ok(s.domain(peer)?.label.clone())
    }

    // ----- the store -----

    /// Reads a node as `dom`.
    pub fn read(&self, dom: DomId, path: &str) -> Result<Option<String>, XenError> {
        let s = self.lock();
        s.domain(dom)?;
        s.read(dom, path)
    }

    /// Writes a node as `dom`.
    pub fn write(&self, dom: DomId, path: &str, value: &str) -> Result<(), XenError> {
        self.write_all(dom, &[(path, value)])
    }

    /// Writes nodes as `dom` in one transaction.
    pub fn write_all(&self, dom: DomId, entries: &[(&str, &str)]) -> Result<(), XenError> {
        if entries.len() > MAX_TRANSACTION {
            return Err(XenError::BadPath(format!(
                "transaction of {} entries",
                entries.len()
            )));
        }
        self.with(dom, |s| {
            let mut undo = Vec::new();
            for (path, value) in entries {
                if let Err(e) = s.apply_write(dom, path, value, &mut undo) {
                    s.rollback(undo);
                    return Err(e);
                }
            }
            let paths: Vec<String> = entries.iter().map(|(p, _)| (*p).to_string()).collect();
            s.fire_writes(&paths);
            Ok(())
        })
    }

    /// Removes a subtree as `dom`.
    pub fn remove(&self, dom: DomId, path: &str) -> Result<(), XenError> {
        self.with(dom, |s| s.remove(dom, path))
    }

    /// Lists a node's children as `dom`.
    pub fn list(&self, dom: DomId, path: &str) -> Result<Vec<String>, XenError> {
        let s = self.lock();
        s.domain(dom)?;
        s.list(dom, path)
    }

    /// Registers a watch for `dom`; it fires at once.
    pub fn watch(&self, dom: DomId, path: &str) -> Result<(), XenError> {
        check_path(path)?;
        self.with(dom, |s| {
            let d = s.domain_mut(dom)?;
            if !d.watches.contains_key(path) && d.watches.len() >= MAX_WATCHES_PER_DOMAIN {
                return Err(XenError::Denied(format!(
                    "{} (watch quota)",
                    truncated(path)
                )));
            }
            d.watches.insert(path.to_string(), true);
            Ok(())
        })
    }

    /// Drops `dom`'s watch on `path`.
    pub fn unwatch(&self, dom: DomId, path: &str) -> Result<(), XenError> {
        let mut s = self.lock();
        s.domain_mut(dom)?.watches.remove(path);
        Ok(())
    }

    /// Consumes `dom`'s fired watch on `path`.
    pub fn take_watch(&self, dom: DomId, path: &str) -> bool {
        let mut s = self.lock();
        s.domains
            .get_mut(&dom)
            .and_then(|d| d.watches.get_mut(path))
            .is_some_and(|f| core::mem::replace(f, false))
    }

    /// Sets a node's owner and readers (the toolstack's `xenstore-chmod`).
    pub fn set_perms(&self, path: &str, owner: DomId, readers: &[DomId]) -> Result<(), XenError> {
        self.with(DOM0, |s| {
            s.set_perms(path, owner, readers)?;
            s.fire_writes(&[path.to_string()]);
            Ok(())
        })
    }

    /// The toolstack's vTPM device creation (reference §2.3): [`xenbus::device_entries`] in one
    /// transaction, the backend directory owned by `backend` and readable by `frontend`, the
    /// frontend directory owned by `frontend` and readable by `backend`.
    pub fn add_vtpm_device(
        &self,
        backend: DomId,
        frontend: DomId,
        devid: u32,
        uuid: &str,
    ) -> Result<(), XenError> {
        let entries = xenbus::device_entries(backend, frontend, devid, uuid);
        let be = xenbus::backend_path(backend, frontend, devid);
        let fe = xenbus::frontend_path(frontend, devid);
        self.with(DOM0, |s| {
            s.domain(backend)?;
            s.domain(frontend)?;
            let mut undo = Vec::new();
            let mut result = Ok(());
            for (path, value) in &entries {
                result = s.apply_write(DOM0, path, value, &mut undo);
                if result.is_err() {
                    break;
                }
            }
            let perms = |path: &str| {
                if at_or_below(path, &be) {
                    Some((backend, frontend))
                } else if at_or_below(path, &fe) {
                    Some((frontend, backend))
                } else {
                    None
                }
            };
            if result.is_ok() {
                let touched: Vec<String> = undo.iter().map(|(p, _)| p.clone()).collect();
                for path in touched {
                    if let Some((owner, reader)) = perms(&path) {
                        if let Some(n) = s.store.get(&path) {
                            undo.push((path.clone(), Some(n.clone())));
                        }
                        result = s.set_perms(&path, owner, &[reader]);
                        if result.is_err() {
                            break;
                        }
                    }
                }
            }
            if let Err(e) = result {
                s.rollback(undo);
                return Err(e);
            }
            let paths: Vec<String> = entries.into_iter().map(|(p, _)| p).collect();
            s.fire_writes(&paths);
            Ok(())
        })
    }

    /// Removes a vTPM device's backend and frontend directories.
    pub fn remove_vtpm_device(
        &self,
        backend: DomId,
        frontend: DomId,
        devid: u32,
    ) -> Result<(), XenError> {
        self.with(DOM0, |s| {
            s.remove(DOM0, &xenbus::frontend_path(frontend, devid))?;
            s.remove(DOM0, &xenbus::backend_path(backend, frontend, devid))
        })
    }

    // ----- grants -----

    /// Allocates a zeroed page and grants it to `peer`.
    pub fn grant(&self, dom: DomId, peer: DomId) -> Result<(GrantRef, PageMem), XenError> {
        let mem = (self.alloc_page)()?;
        let mut s = self.lock();
        s.domain(peer)?;
        let d = s.domain_mut(dom)?;
        if d.grants.len() >= MAX_GRANTS_PER_DOMAIN {
            return Err(XenError::BadGrant {
                peer,
                gref: GrantRef(d.next_gref),
            });
        }
        let gref = d.next_gref;
        d.next_gref = gref.checked_add(1).ok_or(XenError::BadGrant {
            peer,
            gref: GrantRef(gref),
        })?;
        d.grants.insert(
            gref,
            Grant {
                peer,
                mem: mem.clone(),
            },
        );
        Ok((GrantRef(gref), mem))
    }

    /// Maps `peer`'s grant `gref` for `dom`.
    pub fn map(&self, dom: DomId, peer: DomId, gref: GrantRef) -> Result<PageMem, XenError> {
        let s = self.lock();
        s.domain(dom)?;
        s.domains
            .get(&peer)
            .and_then(|d| d.grants.get(&gref.0))
            .filter(|g| g.peer == dom)
            .map(|g| g.mem.clone())
            .ok_or(XenError::BadGrant { peer, gref })
    }

    /// Ends `dom`'s grant `gref` (mapped copies stay).
    pub fn end_grant(&self, dom: DomId, gref: GrantRef) {
        if let Some(d) = self.lock().domains.get_mut(&dom) {
            d.grants.remove(&gref.0);
        }
    }

    // ----- event channels -----

    /// Allocates a port of `dom` that `peer` may bind to.
    pub fn alloc_unbound(&self, dom: DomId, peer: DomId) -> Result<Port, XenError> {
        let mut s = self.lock();
        s.domain(peer)?;
        let d = s.domain_mut(dom)?;
        let port = free_port(d)?;
        d.ports.insert(port, PortState::Unbound { peer });
        Ok(Port(port))
    }

    /// Binds a new port of `dom` to `peer`'s unbound `remote`.
    pub fn bind(&self, dom: DomId, peer: DomId, remote: Port) -> Result<Port, XenError> {
        let mut s = self.lock();
        s.domain(dom)?;
        let p = s.domain(peer)?;
        if p.ports.get(&remote.0) != Some(&PortState::Unbound { peer: dom }) {
            return Err(XenError::BadPort(remote));
        }
        let d = s.domain_mut(dom)?;
        let local = free_port(d)?;
        d.ports.insert(
            local,
            PortState::Bound {
                peer,
                remote: remote.0,
            },
        );
        if let Some(p) = s.domains.get_mut(&peer) {
            p.ports.insert(
                remote.0,
                PortState::Bound {
                    peer: dom,
                    remote: local,
                },
            );
        }
        Ok(Port(local))
    }

    /// Closes `dom`'s `port`.
    pub fn close_port(&self, dom: DomId, port: Port) {
        self.lock().close_port(dom, port.0);
    }

    /// Notifies the other end of `dom`'s `port`.
    pub fn notify(&self, dom: DomId, port: Port) -> Result<(), XenError> {
        let mut s = self.lock();
        let d = s.domain(dom)?;
        let Some(state) = d.ports.get(&port.0) else {
            return Err(XenError::BadPort(port));
        };
        let PortState::Bound { peer, remote } = *state else {
            return Ok(());
        };
        if let Some(p) = s.domains.get_mut(&peer) {
            if p.ports.get(&remote)
                == Some(&PortState::Bound {
                    peer: dom,
                    remote: port.0,
                })
            {
                p.pending.insert(remote);
                let cv = Arc::clone(&p.cv);
                drop(s);
                cv.notify_all();
            }
        }
        Ok(())
    }

    /// Consumes `dom`'s pending flag on `port`.
    pub fn take_port(&self, dom: DomId, port: Port) -> bool {
        self.lock()
            .domains
            .get_mut(&dom)
            .is_some_and(|d| d.pending.remove(&port.0))
    }

    // ----- waiting -----

    /// Blocks until `dom` has a pending port or fired watch (`true`) or `timeout_ms` passes.
    pub fn wait(&self, dom: DomId, timeout_ms: u64) -> Result<bool, XenError> {
        let deadline = Instant::now().checked_add(Duration::from_millis(timeout_ms));
        let mut s = self.lock();
        loop {
            let d = s.domain(dom)?;
            if d.has_events() {
                return Ok(true);
            }
            let cv = Arc::clone(&d.cv);
            let left = match deadline {
                None => Duration::from_secs(3600),
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Ok(false),
                },
            };
            s = cv
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Blocks until `dom` has events, then hands them all over (clearing them here); `None`
    /// once the domain is gone.
    pub fn next_events(&self, dom: DomId) -> Option<Events> {
        let mut s = self.lock();
        loop {
            let d = s.domains.get_mut(&dom)?;
            if d.has_events() {
                let ports = core::mem::take(&mut d.pending)
                    .into_iter()
                    .map(Port)
                    .collect();
                let mut watches = Vec::new();
                for (path, fired) in &mut d.watches {
                    if core::mem::replace(fired, false) {
                        watches.push(path.clone());
                    }
                }
                return Some(Events { ports, watches });
            }
            let cv = Arc::clone(&d.cv);
            s = cv.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Wakes every waiter (used when shutting down, after domains are destroyed).
    pub fn wake_all(&self) {
        self.wake_everyone();
    }
}

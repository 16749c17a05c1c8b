//! The platform seam the split drivers run on: the store (xenstore), grants, event channels and
//! waiting (reference `xen-vtpm.md` §2.3–§2.4; Xen's `xen/include/public/io/xs_wire.h`,
//! `grant_table.h` and `event_channel.h` for the operations modelled here).
//!
//! `tpmfront` and `tpmback` see nothing else of the machine. Implementations: in-process (unit
//! tests, one hypervisor object shared by threads), hosted Linux processes (pages in shared
//! memory files, the store and event channels served by the launcher), and on Xen itself
//! (`/dev/xen/gntdev`, `evtchn`, xenstored).
//!
//! The model is Xen's, reduced to what the vTPM drivers use:
//! - **Store**: a tree of `/`-separated absolute paths with string values. Every node has an
//!   owner domain and a set of reader domains (dom0 may do anything); a new node inherits its
//!   parent's permissions. A *watch* on a path fires once when it is registered and then each
//!   time the node or anything below it is written or removed.
//! - **Grants**: a domain shares one zeroed page with one peer and publishes the reference;
//!   only that peer can map it. Ending the grant (dropping the page) unmaps it for nobody but
//!   the granter: a mapped peer keeps its copy until it drops its mapping.
//! - **Event channels**: a domain allocates an unbound port for a peer; the peer binds to it.
//!   A notification sets the receiving port's *pending* flag (notifications coalesce, as on
//!   Xen); the receiver consumes it with [`Platform::take_port`].
//! - **Waiting**: [`Platform::wait`] blocks until a port is pending or a watch has fired.
//!   Several drivers may share one platform (a vTPM domain is a frontend to the manager and a
//!   backend to its guests): each consumes only its own ports and watches.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::tpmif::SharedPage;

/// A domain's id (dom0 is the toolstack's domain).
pub type DomId = u16;

/// The toolstack's (privileged) domain.
pub const DOM0: DomId = 0;

/// A grant reference: the number a granter publishes (as `ring-ref`) so its peer can map the
/// page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantRef(pub u32);

/// A local event-channel port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u32);

/// What went wrong in a platform operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XenError {
    /// The store path does not exist (where it must).
    NoEntry(String),
    /// The caller may not read or write this store path.
    Denied(String),
    /// A path or value the store refuses (not absolute, empty component, too long, NUL).
    BadPath(String),
    /// The grant does not exist, is not granted to the caller, or its granter is gone.
    BadGrant {
        /// The granting domain.
        peer: DomId,
        /// The reference.
        gref: GrantRef,
    },
    /// The port is not bound, not allocated for the caller, or already bound.
    BadPort(Port),
    /// The peer domain does not exist (any more).
    NoDomain(DomId),
    /// The connection to the platform (hosted mode: the launcher) is gone or failed.
    Io(String),
}

impl fmt::Display for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEntry(p) => write!(f, "store: {p} does not exist"),
            Self::Denied(p) => write!(f, "store: permission denied on {p}"),
            Self::BadPath(p) => write!(f, "store: invalid path or value at {p:?}"),
            Self::BadGrant { peer, gref } => {
                write!(f, "grant {} of domain {peer} cannot be mapped", gref.0)
            }
            Self::BadPort(p) => write!(f, "event channel port {} is not usable", p.0),
            Self::NoDomain(d) => write!(f, "domain {d} does not exist"),
            Self::Io(e) => write!(f, "platform connection: {e}"),
        }
    }
}

impl core::error::Error for XenError {}

/// The machine as a split driver sees it (module docs give the model).
pub trait Platform {
    /// A granted or mapped page. Dropping it ends the grant or unmaps the page.
    type Page: SharedPage;

    /// This domain's id.
    fn domid(&self) -> DomId;

    /// Reads a store node: `None` when it does not exist.
    fn read(&mut self, path: &str) -> Result<Option<String>, XenError>;
    /// Writes a store node, creating it and any missing parents.
    fn write(&mut self, path: &str, value: &str) -> Result<(), XenError>;
    /// Writes several nodes in one transaction: all or none, and watchers see them together.
    fn write_all(&mut self, entries: &[(&str, &str)]) -> Result<(), XenError>;
    /// Removes a node and everything below it (absent is not an error).
    fn remove(&mut self, path: &str) -> Result<(), XenError>;
    /// The names of a node's children, sorted (absent: empty).
    fn list(&mut self, path: &str) -> Result<Vec<String>, XenError>;
    /// Watches `path` and everything below it. The watch fires at once.
    fn watch(&mut self, path: &str) -> Result<(), XenError>;
    /// Stops watching `path` (not watched is not an error).
    fn unwatch(&mut self, path: &str) -> Result<(), XenError>;
    /// Consumes the watch on `path` if it fired since the last call (or its registration).
    fn take_watch(&mut self, path: &str) -> bool;

    /// Allocates a zeroed page and grants `peer` access to it.
    fn grant_page(&mut self, peer: DomId) -> Result<(GrantRef, Self::Page), XenError>;
    /// Maps a page `peer` granted to this domain.
    fn map_page(&mut self, peer: DomId, gref: GrantRef) -> Result<Self::Page, XenError>;

    /// Allocates a port that `peer` may bind to.
    fn alloc_unbound(&mut self, peer: DomId) -> Result<Port, XenError>;
    /// Binds a local port to `peer`'s unbound `remote` port.
    fn bind_interdomain(&mut self, peer: DomId, remote: Port) -> Result<Port, XenError>;
    /// Closes a local port; the peer's end stops receiving notifications.
    fn close_port(&mut self, port: Port);
    /// Notifies the other end of `port`. Notifying a port whose peer has closed is not an
    /// error (Xen drops it too).
    fn notify(&mut self, port: Port) -> Result<(), XenError>;
    /// Consumes `port`'s pending notification: `true` if there was one.
    fn take_port(&mut self, port: Port) -> bool;

    /// Blocks until a port is pending or a watch has fired (`true`), or `timeout_ms` passes
    /// (`false`). Returns at once when something is already pending.
    fn wait(&mut self, timeout_ms: u64) -> Result<bool, XenError>;
    /// Milliseconds from an arbitrary origin, never going backwards.
    fn now_ms(&mut self) -> u64;
    /// The security label of `peer` (Xen: its XSM/FLASK context; hosted: set by the
    /// launcher). The manager hashes it in place of a kernel hash (reference §2.5).
    fn peer_label(&mut self, peer: DomId) -> Result<String, XenError>;
}

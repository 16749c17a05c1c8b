//! Every domain in one process: a [`Sim`] holds one [`Hv`] machine, and each domain drives
//! it through its own [`SimPlatform`] (a `Send` handle that may move into a thread). The
//! model and its rules are [`crate::platform`]'s and [`crate::hv`]'s (reference
//! `xen-vtpm.md` §2.3–§2.4).
//!
//! Pages are 4096 bytes of shared memory ([`SimPage`]); the barrier is a `SeqCst` fence. A
//! test plays a hostile peer by keeping an [`SimPage::alias`] of a page it granted and
//! scribbling on it whenever it likes.

use std::string::String;
use std::sync::{Arc, Weak};
use std::vec::Vec;

use crate::hv::{Hv, PageMem};
use crate::platform::{DomId, GrantRef, Platform, Port, XenError};
use crate::tpmif::SharedPage;

/// One simulated machine (cloning shares it).
#[derive(Clone, Debug)]
pub struct Sim {
    hv: Arc<Hv>,
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl Sim {
    /// A machine with only dom0.
    pub fn new() -> Sim {
        Sim {
            hv: Arc::new(Hv::new(|| Ok(PageMem::ram()))),
        }
    }

    /// Creates a domain (ids from 1 up) with its store home `/local/domain/<id>`.
    pub fn create_domain(&self, label: &str) -> Result<DomId, XenError> {
        self.hv.create_domain(label)
    }

    /// Destroys a domain: its store home goes (watchers fire), its grants end, its ports
    /// close.
    pub fn destroy_domain(&self, id: DomId) -> Result<(), XenError> {
        self.hv.destroy_domain(id)
    }

    /// The platform of domain `domid` (operations fail with `NoDomain` once it is gone).
    pub fn platform(&self, domid: DomId) -> SimPlatform {
        SimPlatform::new(Arc::clone(&self.hv), domid)
    }

    /// Toolstack: sets a node's owner and readers.
    pub fn set_perms(&self, path: &str, owner: DomId, readers: &[DomId]) -> Result<(), XenError> {
        self.hv.set_perms(path, owner, readers)
    }

    /// Toolstack: creates a vTPM device (see [`Hv::add_vtpm_device`]).
    pub fn add_vtpm_device(
        &self,
        backend: DomId,
        frontend: DomId,
        devid: u32,
        uuid: &str,
    ) -> Result<(), XenError> {
        self.hv.add_vtpm_device(backend, frontend, devid, uuid)
    }

    /// Toolstack: removes a vTPM device's store directories.
    pub fn remove_vtpm_device(
        &self,
        backend: DomId,
        frontend: DomId,
        devid: u32,
    ) -> Result<(), XenError> {
        self.hv.remove_vtpm_device(backend, frontend, devid)
    }

    /// The machine itself.
    pub fn hv(&self) -> &Arc<Hv> {
        &self.hv
    }
}

/// Ends the grant when the granter's page is dropped.
#[derive(Debug)]
struct GrantGuard {
    hv: Weak<Hv>,
    dom: DomId,
    gref: GrantRef,
}

impl Drop for GrantGuard {
    fn drop(&mut self) {
        if let Some(hv) = self.hv.upgrade() {
            hv.end_grant(self.dom, self.gref);
        }
    }
}

/// A granted or mapped page of an [`Hv`] machine.
#[derive(Debug)]
pub struct SimPage {
    mem: PageMem,
    _grant: Option<GrantGuard>,
}

impl SimPage {
    /// Another handle on the same memory that does not hold the grant: a test keeps it to
    /// scribble on the page behind the driver's back (a hostile peer).
    #[must_use]
    pub fn alias(&self) -> SimPage {
        SimPage {
            mem: self.mem.clone(),
            _grant: None,
        }
    }
}

impl SharedPage for SimPage {
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

/// One domain's view of an [`Hv`] machine in this process.
#[derive(Debug, Clone)]
pub struct SimPlatform {
    hv: Arc<Hv>,
    dom: DomId,
}

impl SimPlatform {
    /// Domain `dom` of `hv`.
    pub fn new(hv: Arc<Hv>, dom: DomId) -> SimPlatform {
        SimPlatform { hv, dom }
    }
}

impl Platform for SimPlatform {
    type Page = SimPage;

    fn domid(&self) -> DomId {
        self.dom
    }

    fn read(&mut self, path: &str) -> Result<Option<String>, XenError> {
        self.hv.read(self.dom, path)
    }

    fn write(&mut self, path: &str, value: &str) -> Result<(), XenError> {
        self.hv.write(self.dom, path, value)
    }

    fn write_all(&mut self, entries: &[(&str, &str)]) -> Result<(), XenError> {
        self.hv.write_all(self.dom, entries)
    }

    fn remove(&mut self, path: &str) -> Result<(), XenError> {
        self.hv.remove(self.dom, path)
    }

    fn list(&mut self, path: &str) -> Result<Vec<String>, XenError> {
        self.hv.list(self.dom, path)
    }

    fn watch(&mut self, path: &str) -> Result<(), XenError> {
        self.hv.watch(self.dom, path)
    }

    fn unwatch(&mut self, path: &str) -> Result<(), XenError> {
        self.hv.unwatch(self.dom, path)
    }

    fn take_watch(&mut self, path: &str) -> bool {
        self.hv.take_watch(self.dom, path)
    }

    fn grant_page(&mut self, peer: DomId) -> Result<(GrantRef, SimPage), XenError> {
        let (gref, mem) = self.hv.grant(self.dom, peer)?;
        let guard = GrantGuard {
            hv: Arc::downgrade(&self.hv),
            dom: self.dom,
            gref,
        };
        Ok((
            gref,
            SimPage {
                mem,
                _grant: Some(guard),
            },
        ))
    }

    fn map_page(&mut self, peer: DomId, gref: GrantRef) -> Result<SimPage, XenError> {
        let mem = self.hv.map(self.dom, peer, gref)?;
        Ok(SimPage { mem, _grant: None })
    }

    fn alloc_unbound(&mut self, peer: DomId) -> Result<Port, XenError> {
        self.hv.alloc_unbound(self.dom, peer)
    }

    fn bind_interdomain(&mut self, peer: DomId, remote: Port) -> Result<Port, XenError> {
        self.hv.bind(self.dom, peer, remote)
    }

    fn close_port(&mut self, port: Port) {
        self.hv.close_port(self.dom, port);
    }

    fn notify(&mut self, port: Port) -> Result<(), XenError> {
        self.hv.notify(self.dom, port)
    }

    fn take_port(&mut self, port: Port) -> bool {
        self.hv.take_port(self.dom, port)
    }

    fn wait(&mut self, timeout_ms: u64) -> Result<bool, XenError> {
        self.hv.wait(self.dom, timeout_ms)
    }

    fn now_ms(&mut self) -> u64 {
        self.hv.now_ms()
    }

    fn peer_label(&mut self, peer: DomId) -> Result<String, XenError> {
        self.hv.peer_label(self.dom, peer)
    }
}

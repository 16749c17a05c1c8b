//! The manager as a tpmif backend (reference `xen-vtpm.md` §2.4–§2.5, §3.1): vTPM domains
//! reach it through tpmback, on Xen, in hosted mode, and in the unikernel over shared-memory
//! links — the same loop over any [`Platform`].
//!
//! Each backend device is one connection. Its identity is what the toolstack wrote, never what
//! the domain says: the vTPM's UUID is the backend directory's `uuid` key (which only the
//! toolstack and the manager can write), and the "kernel hash" is SHA-256 of the domain's
//! security label (Xen: its XSM label; hosted: the label the launcher gave the process). A
//! device that disappears ends its connection, which closes its vTPM.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use core::cell::RefCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use tpm2::transport::Transport;
use tpmback::{BackEvent, Backend, LinkId};
use xen::platform::Platform;
use xen::xenbus;

use crate::Uuid;
use crate::manager::{Connection, Manager, Peer};
use crate::protocol::{Rejection, ReturnCode};
use crate::seams::BlockDevice;

/// How long one wait for events lasts before `stop` is polled again.
const POLL_MS: u64 = 100;

/// The kernel hash the manager checks for a domain with this security label.
pub fn label_hash(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

/// Access to a manager that other threads may share (a mutex in hosted mode, a `RefCell` in the
/// single-threaded unikernel).
pub trait SharedManager<T: Transport, D: BlockDevice> {
    /// Runs `f` with the manager.
    fn with<R>(&self, f: impl FnOnce(&mut Manager<T, D>) -> R) -> R;
}

impl<T: Transport, D: BlockDevice> SharedManager<T, D> for RefCell<Manager<T, D>> {
    fn with<R>(&self, f: impl FnOnce(&mut Manager<T, D>) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}

/// Serves vTPM domains over tpmback until `stop` is set — by the caller, or here when the
/// toolstack writes this domain's `control/shutdown` key — then closes every link.
pub fn serve<P, T, D, M>(
    platform: &mut P,
    manager: &M,
    stop: &AtomicBool,
    log: fn(fmt::Arguments<'_>),
) -> Result<(), String>
where
    P: Platform,
    P::Page: 'static,
    T: Transport,
    D: BlockDevice,
    M: SharedManager<T, D>,
{
    let mut backend = Backend::new(platform).map_err(|e| format!("tpmback: {e}"))?;
    let shutdown_key = format!("{}/control/shutdown", xenbus::domain_path(platform.domid()));
    platform
        .watch(&shutdown_key)
        .map_err(|e| format!("watch {shutdown_key}: {e}"))?;
    let mut conns: BTreeMap<LinkId, Connection> = BTreeMap::new();
    while !stop.load(Ordering::SeqCst) {
        platform
            .wait(POLL_MS)
            .map_err(|e| format!("waiting for events: {e}"))?;
        if platform.take_watch(&shutdown_key)
            && platform
                .read(&shutdown_key)
                .ok()
                .flatten()
                .is_some_and(|v| !v.is_empty())
        {
            log(format_args!("the toolstack asked for shutdown"));
            stop.store(true, Ordering::SeqCst);
            break;
        }
        let events = backend
            .poll(platform)
            .map_err(|e| format!("tpmback: {e}"))?;
        for event in events {
            match event {
                BackEvent::Opened(info) => {
                    let link = LinkId(info.frontend, info.devid);
                    let peer = Peer::Domain {
                        uuid: Uuid(info.uuid),
                        kernel_hash: label_hash(&info.label),
                    };
                    log(format_args!(
                        "domain {} device {}: vTPM {} (label {:?})",
                        info.frontend,
                        info.devid,
                        Uuid(info.uuid),
                        info.label
                    ));
                    let conn = manager.with(|m| m.connect(peer));
                    if let Some(old) = conns.insert(link, conn) {
                        manager.with(|m| m.disconnect(old));
                    }
                }
                BackEvent::Connected(link) => {
                    log(format_args!(
                        "domain {} device {}: connected",
                        link.0, link.1
                    ));
                }
                BackEvent::Request { link, command, .. } => {
                    let answer = match conns.get_mut(&link) {
                        Some(conn) => manager.with(|m| m.handle(conn, &command)),
                        None => Rejection {
                            tag: crate::protocol::tag::RSP,
                            code: ReturnCode::FAIL,
                            reason: "no connection for this device",
                        }
                        .encode(),
                    };
                    if let Err(e) = backend.respond(platform, link, &answer) {
                        log(format_args!(
                            "domain {} device {}: answer not delivered: {e}",
                            link.0, link.1
                        ));
                    }
                }
                BackEvent::Closed(link) => {
                    log(format_args!("domain {} device {}: closed", link.0, link.1));
                    if let Some(conn) = conns.remove(&link) {
                        manager.with(|m| m.disconnect(conn));
                    }
                }
                BackEvent::Refused { link, reason } => {
                    log(format_args!(
                        "domain {} device {}: refused: {reason}",
                        link.0, link.1
                    ));
                }
            }
        }
    }
    backend.shutdown(platform);
    manager.with(|m| {
        for (_, conn) in core::mem::take(&mut conns) {
            m.disconnect(conn);
        }
    });
    Ok(())
}

/// What the toolstack declares for one link: the vTPM it carries and its domain's kernel hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The vTPM's UUID.
    pub uuid: Uuid,
    /// The kernel hash its domain presents (see [`label_hash`]).
    pub kernel_hash: [u8; 32],
}

/// Makes the store hold what the toolstack declared, through the administrator's requests
/// (reference `xen-vtpm.md` §3): group 0 exists and authorises every declared kernel hash, and
/// every declared vTPM is registered in it. Idempotent: a restart finds everything in place
/// and commits nothing. This is how a manager without an administrator channel (the
/// unikernel) is provisioned from its configuration.
pub fn provision<T: Transport, D: BlockDevice>(
    manager: &mut Manager<T, D>,
    declared: &[Declared],
    log: fn(fmt::Arguments<'_>),
) -> Result<(), String> {
    use crate::protocol::{Reply, ReplyError, Request};

    let mut admin = manager.connect(Peer::Admin);
    let mut call = |m: &mut Manager<T, D>, req: &Request| -> Result<Reply, ReplyError> {
        let raw = m.handle(&mut admin, &req.encode());
        Reply::parse(req, &raw)
    };
    let result = (|| {
        let fail = |req: &Request, e: ReplyError| format!("{req:?}: {e}");
        let list = Request::GroupList;
        let Reply::GroupCount(n) = call(manager, &list).map_err(|e| fail(&list, e))? else {
            return Err("GROUP_LIST: unexpected answer".into());
        };
        if n == 0 {
            log(format_args!("creating group 0"));
            call(manager, &Request::GroupNew).map_err(|e| fail(&Request::GroupNew, e))?;
        }
        let show = Request::GroupShow { group: 0 };
        let Reply::Group(g) = call(manager, &show).map_err(|e| fail(&show, e))? else {
            return Err("GROUP_SHOW: unexpected answer".into());
        };
        let mut kernels = g.kernels.clone();
        for d in declared {
            if !kernels.contains(&d.kernel_hash) {
                kernels.push(d.kernel_hash);
            }
        }
        if kernels.len() != g.kernels.len() {
            log(format_args!(
                "authorising {} kernel hash(es) in group 0",
                kernels.len() - g.kernels.len()
            ));
            let update = Request::GroupUpdate {
                group: 0,
                sequence: g.sequence + 1,
                kernels,
            };
            call(manager, &update).map_err(|e| fail(&update, e))?;
        }
        for d in declared {
            let show = Request::VtpmShow { uuid: d.uuid };
            match call(manager, &show) {
                Ok(_) => {}
                Err(ReplyError::Refused(ReturnCode::BAD_PARAMETER)) => {
                    log(format_args!("registering vTPM {}", d.uuid));
                    let new = Request::VtpmNew {
                        group: 0,
                        uuid: Some(d.uuid),
                    };
                    call(manager, &new).map_err(|e| fail(&new, e))?;
                }
                Err(e) => return Err(fail(&show, e)),
            }
        }
        Ok(())
    })();
    manager.disconnect(admin);
    result
}

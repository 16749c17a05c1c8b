//! The vTPM split-driver frontend, as mini-os tpmfront (reference `xen-vtpm.md` §2.4
//! "Frontend, mini-os tpmfront"; page protocol §2.2, store keys §2.3): connect to the device's
//! backend, send TPM commands on the shared page, close so that a successor (Linux after
//! pv-grub) can connect again.
//!
//! Every wait is bounded by the caller's timeout (measured with [`Platform::now_ms`]) and
//! consumes only this frontend's port and its watch on `<backend>/state`. A backend that
//! never answers gets a CANCEL; a backend that leaves (state 0, 5, 6 or unreadable) ends the
//! wait with [`FrontError::BackendGone`]; a bad page header or a response whose TPM header
//! disagrees with its length is an error, never a panic.
#![no_std]

extern crate alloc;

mod error;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use xen::platform::{DomId, Platform, Port, XenError};
use xen::tpmif::{
    FrontendEvent, MAX_PACKET, SharedPage, frontend_cancel, frontend_poll, frontend_submit,
    frontend_take_response,
};
use xen::xenbus::{XenbusState, frontend_path};

pub use error::FrontError;

/// How long [`Frontend::close`] waits for the backend to acknowledge (ms).
pub const CLOSE_TIMEOUT_MS: u64 = 3000;

/// The size of a TPM response header (tag, size, code; TPM 1.2 and 2.0 alike).
const TPM_HEADER: usize = 10;

/// A connected vTPM device.
pub struct Frontend {
    fe_path: String,
    be_state_path: String,
    backend: DomId,
    page: Box<dyn SharedPage>,
    port: Port,
    /// A cancelled request the backend has not released (the page is not ours yet).
    stale: bool,
    /// The backend was seen leaving: every later transmit fails at once.
    gone: bool,
}

impl core::fmt::Debug for Frontend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Frontend")
            .field("fe_path", &self.fe_path)
            .field("backend", &self.backend)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The backend's state: `None` when unreadable or invalid.
fn backend_state(p: &mut impl Platform, path: &str) -> Result<Option<XenbusState>, FrontError> {
    match p.read(path) {
        Ok(v) => Ok(v.as_deref().and_then(XenbusState::parse)),
        Err(XenError::NoEntry(_) | XenError::Denied(_) | XenError::NoDomain(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Waits (at most until `deadline`) for `done` to hold of the backend's state, re-reading it
/// whenever its watch fires. `Ok(None)`: the deadline passed.
fn wait_backend<P: Platform, T>(
    p: &mut P,
    path: &str,
    deadline: u64,
    mut done: impl FnMut(Option<XenbusState>) -> Option<T>,
) -> Result<Option<T>, FrontError> {
    let mut look = true;
    loop {
        if p.take_watch(path) || look {
            look = false;
            if let Some(r) = done(backend_state(p, path)?) {
                return Ok(Some(r));
            }
        }
        let now = p.now_ms();
        if now >= deadline {
            return Ok(None);
        }
        p.wait(deadline - now)?;
    }
}

fn parse_domid(s: &str) -> Option<DomId> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl Frontend {
    /// Connects device `devid` of this domain (mini-os flow, §2.4): reads `backend-id` and
    /// `backend`, writes `feature-protocol-v2` = 1, grants a zeroed page, allocates a port,
    /// writes `ring-ref` and `event-channel` in one transaction, state 4, waits (at most
    /// `timeout_ms`) for the backend's state 4 and requires its `feature-protocol-v2` = 1. On
    /// failure the published keys are removed and the state goes back to 1.
    pub fn connect<P: Platform>(
        p: &mut P,
        devid: u32,
        timeout_ms: u64,
    ) -> Result<Frontend, FrontError>
    where
        P::Page: 'static,
    {
        let fe_path = frontend_path(p.domid(), devid);
        let id_text = p.read(&format!("{fe_path}/backend-id"))?;
        let backend = id_text
            .as_deref()
            .and_then(parse_domid)
            .ok_or(FrontError::BadBackendId(id_text.clone()))?;
        let be_path = p
            .read(&format!("{fe_path}/backend"))?
            .ok_or(FrontError::NoBackendPath)?;
        p.write(&format!("{fe_path}/feature-protocol-v2"), "1")?;
        let (gref, page) = p.grant_page(backend)?;
        let port = p.alloc_unbound(backend)?;
        let front = Frontend {
            fe_path,
            be_state_path: format!("{be_path}/state"),
            backend,
            page: Box::new(page),
            port,
            stale: false,
            gone: false,
        };
        match front.handshake(p, gref.0, &be_path, timeout_ms) {
            Ok(()) => Ok(front),
            Err(e) => {
                front.abandon(p);
                Err(e)
            }
        }
    }

    fn handshake<P: Platform>(
        &self,
        p: &mut P,
        gref: u32,
        be_path: &str,
        timeout_ms: u64,
    ) -> Result<(), FrontError> {
        let fe = &self.fe_path;
        p.write_all(&[
            (&format!("{fe}/ring-ref"), &format!("{gref}")),
            (&format!("{fe}/event-channel"), &format!("{}", self.port.0)),
        ])?;
        p.write(&format!("{fe}/state"), XenbusState::Connected.as_str())?;
        p.watch(&self.be_state_path)?;
        let deadline = p.now_ms().saturating_add(timeout_ms);
        let outcome = wait_backend(p, &self.be_state_path, deadline, |s| match s {
            Some(XenbusState::Connected) => Some(Ok(())),
            None | Some(XenbusState::Unknown | XenbusState::Closing | XenbusState::Closed) => {
                Some(Err(FrontError::BackendGone))
            }
            Some(_) => None,
        })?;
        outcome.unwrap_or(Err(FrontError::ConnectTimeout))?;
        let feature = p.read(&format!("{be_path}/feature-protocol-v2"))?;
        if feature.as_deref() != Some("1") {
            return Err(FrontError::NoProtocolV2(feature));
        }
        Ok(())
    }

    /// A failed connect: withdraw the keys, back to state 1, release page and port.
    fn abandon(self, p: &mut impl Platform) {
        let fe = &self.fe_path;
        // Best effort: the connect error is what the caller needs.
        let _ = p.unwatch(&self.be_state_path);
        let _ = p.remove(&format!("{fe}/event-channel"));
        let _ = p.remove(&format!("{fe}/ring-ref"));
        let _ = p.write(&format!("{fe}/state"), XenbusState::Initialising.as_str());
        p.close_port(self.port);
    }

    /// The backend domain.
    pub fn backend(&self) -> DomId {
        self.backend
    }

    /// `Err(BackendGone)` if the backend's state changed away from Connected (then and
    /// ever after).
    fn check_backend(&mut self, p: &mut impl Platform) -> Result<(), FrontError> {
        if !self.gone
            && p.take_watch(&self.be_state_path)
            && backend_state(p, &self.be_state_path)? != Some(XenbusState::Connected)
        {
            self.gone = true;
        }
        if self.gone {
            return Err(FrontError::BackendGone);
        }
        Ok(())
    }

    /// Waits until the page is the frontend's again (IDLE or FINISH): `true` if it is.
    fn wait_released(&mut self, p: &mut impl Platform, deadline: u64) -> Result<bool, FrontError> {
        loop {
            p.take_port(self.port);
            match frontend_poll(&self.page) {
                Ok(FrontendEvent::Idle | FrontendEvent::Response(_)) => {
                    self.stale = false;
                    return Ok(true);
                }
                Ok(FrontendEvent::Pending) => {}
                Err(e) => return Err(FrontError::BadPage(e)),
            }
            self.check_backend(p)?;
            let now = p.now_ms();
            if now >= deadline {
                return Ok(false);
            }
            p.wait(deadline - now)?;
        }
    }

    /// Sends `command` at `locality` and returns the response (§2.2): submit, notify, wait at
    /// most `timeout_ms` for FINISH. On timeout the request is cancelled (CANCEL, notify, up
    /// to `timeout_ms` more for the backend to release the page) and [`FrontError::Timeout`]
    /// returned.
    pub fn transmit<P: Platform>(
        &mut self,
        p: &mut P,
        locality: u8,
        command: &[u8],
        timeout_ms: u64,
    ) -> Result<Vec<u8>, FrontError> {
        if command.len() > MAX_PACKET {
            return Err(FrontError::CommandTooLong(command.len()));
        }
        self.check_backend(p)?;
        let deadline = p.now_ms().saturating_add(timeout_ms);
        if self.stale && !self.wait_released(p, deadline)? {
            return Err(FrontError::Busy);
        }
        frontend_submit(&mut self.page, locality, command).map_err(FrontError::BadPage)?;
        p.notify(self.port)?;
        self.stale = true;
        loop {
            p.take_port(self.port);
            match frontend_poll(&self.page) {
                Ok(FrontendEvent::Response(h)) => {
                    self.stale = false;
                    let mut rsp = vec![0u8; h.length];
                    let n = frontend_take_response(&self.page, &h, &mut rsp)
                        .map_err(FrontError::BadPage)?;
                    rsp.truncate(n);
                    check_response(&rsp)?;
                    return Ok(rsp);
                }
                Ok(FrontendEvent::Idle) => {
                    self.stale = false;
                    return Err(FrontError::Aborted);
                }
                Ok(FrontendEvent::Pending) => {}
                Err(e) => return Err(FrontError::BadPage(e)),
            }
            self.check_backend(p)?;
            let now = p.now_ms();
            if now >= deadline {
                break;
            }
            p.wait(deadline - now)?;
        }
        frontend_cancel(&mut self.page);
        p.notify(self.port)?;
        let deadline = p.now_ms().saturating_add(timeout_ms);
        self.wait_released(p, deadline)?;
        Err(FrontError::Timeout)
    }

    /// Closes the device as mini-os does (§2.4 step 5) and waits at most
    /// [`CLOSE_TIMEOUT_MS`] for the backend.
    pub fn close<P: Platform>(self, p: &mut P) {
        self.close_within(p, CLOSE_TIMEOUT_MS);
    }

    /// [`Frontend::close`] with its own bound: state 5, remove `event-channel` and
    /// `ring-ref`, state 6, wait for the backend's 6 or 2 (or its absence), then state 1 so
    /// a successor can connect; finally close the port and end the grant.
    pub fn close_within<P: Platform>(self, p: &mut P, timeout_ms: u64) {
        let fe = &self.fe_path;
        // Best effort throughout: closing cannot fail, only be incomplete.
        let _ = p.write(&format!("{fe}/state"), XenbusState::Closing.as_str());
        let _ = p.remove(&format!("{fe}/event-channel"));
        let _ = p.remove(&format!("{fe}/ring-ref"));
        let _ = p.write(&format!("{fe}/state"), XenbusState::Closed.as_str());
        let deadline = p.now_ms().saturating_add(timeout_ms);
        let _ = wait_backend(p, &self.be_state_path, deadline, |s| match s {
            None | Some(XenbusState::Unknown | XenbusState::InitWait | XenbusState::Closed) => {
                Some(())
            }
            Some(_) => None,
        });
        let _ = p.write(&format!("{fe}/state"), XenbusState::Initialising.as_str());
        let _ = p.unwatch(&self.be_state_path);
        p.close_port(self.port);
        drop(self.page);
    }
}

/// A TPM response starts with tag (2), size (4, big-endian) and code (4); the size must be
/// the page's length (as Linux's TPM core checks).
fn check_response(rsp: &[u8]) -> Result<(), FrontError> {
    let declared = rsp
        .get(2..6)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes);
    let fits = rsp.len() >= TPM_HEADER
        && declared.and_then(|d| usize::try_from(d).ok()) == Some(rsp.len());
    if fits {
        Ok(())
    } else {
        Err(FrontError::BadResponse {
            length: rsp.len(),
            declared,
        })
    }
}

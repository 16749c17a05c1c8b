//! The vTPM split-driver backend: serves tpmif v2 frontends (Linux `xen-tpmfront`, mini-os
//! tpmfront) over the [`xen::platform::Platform`] seam, as mini-os tpmback does (reference
//! `xen-vtpm.md` §2.2 page protocol, §2.3 store keys, §2.4 backend state machine).
//!
//! The caller's loop: `p.wait(timeout)?`, then [`Backend::poll`] and act on each
//! [`BackEvent`]; a [`BackEvent::Request`] is answered with [`Backend::respond`]. One request
//! is outstanding per link. [`Backend::poll`] never blocks and consumes only the backend's own
//! watches and ports, so the backend can share a platform with other drivers.
//!
//! # Defined outcomes for hostile frontends
//!
//! A link's failure is reported as [`BackEvent::Refused`] and never stops the other links.
//! Each poll does bounded work per link: one look at its `state` if its watch fired and one
//! look at its page if its port fired (notifications coalesce), so a frontend notifying in a
//! loop costs one header copy per poll and cannot starve the others.
//!
//! | case | outcome |
//! |---|---|
//! | `uuid` not a canonical UUID, `frontend` not the frontend's path, no peer label | no instance (nothing written), `Refused` once |
//! | `uuid` missing | nothing yet; looked at again when the device directory changes |
//! | frontend state 3/4 with bad `ring-ref`/`event-channel`, `feature-protocol-v2` ≠ `"1"`, unmappable page, unbindable port | backend `state` 6, `Refused`; the frontend may retry (state 1 or 2 takes the backend back to 2) |
//! | frontend `state` not 0–8 | ignored, `Refused` |
//! | frontend state 0/1/2 while connected | disconnected, backend `state` 2 |
//! | frontend state 3/4 with a new `ring-ref`/`event-channel` while connected | old page and port dropped, new ones connected |
//! | SUBMIT with length > 4088 or `nr_extra_pages` ≠ 0, no request in flight | the TPM 2.0 response `TPM_RC_COMMAND_SIZE`, FINISH, notify; `Refused` |
//! | unknown state byte (4–255), or a bad header while a request is in flight | page left alone, `Refused` |
//! | SUBMIT while a request is in flight | ignored (the first request is answered) |
//! | CANCEL with no request in flight | IDLE, notify |
//! | CANCEL while a request is in flight | ignored; [`Backend::respond`] writes FINISH |
//! | page changed while read | the header and the packet are each copied once |
//! | response never collected, handshake never completed | nothing waits on it |
#![no_std]

extern crate alloc;

mod error;
mod link;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use xen::platform::{DomId, Platform};
use xen::xenbus::backend_root;

pub use error::BackError;
use link::{Link, NotOpened, Step, parse_decimal};

/// A link: (frontend domain, device id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub DomId, pub u32);

/// What the backend knows of a link's frontend (reference §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The frontend domain.
    pub frontend: DomId,
    /// The device id (`handle`).
    pub devid: u32,
    /// The device's `uuid`, byte 0 first as written.
    pub uuid: [u8; 16],
    /// The frontend's security label ([`Platform::peer_label`]).
    pub label: String,
}

/// What happened in one [`Backend::poll`].
#[derive(Clone, PartialEq, Eq)]
pub enum BackEvent {
    /// A new device appeared and its uuid parsed (the frontend is not connected yet).
    Opened(LinkInfo),
    /// The frontend's page is mapped and its port bound (backend state 4).
    Connected(LinkId),
    /// A command; answer with [`Backend::respond`].
    Request {
        /// The link.
        link: LinkId,
        /// The locality byte the frontend wrote.
        locality: u8,
        /// The command bytes (copied once off the page).
        command: Vec<u8>,
    },
    /// The frontend is gone (its directory was removed) or the device was removed: forget
    /// the link.
    Closed(LinkId),
    /// A hostile or broken case got its defined outcome (see the crate docs); for logs.
    Refused {
        /// The link.
        link: LinkId,
        /// What was wrong.
        reason: BackError,
    },
}

/// Commands may carry secrets: only their length is shown.
impl fmt::Debug for BackEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Opened(i) => f.debug_tuple("Opened").field(i).finish(),
            Self::Connected(l) => f.debug_tuple("Connected").field(l).finish(),
            Self::Request {
                link,
                locality,
                command,
            } => f
                .debug_struct("Request")
                .field("link", link)
                .field("locality", locality)
                .field("command_len", &command.len())
                .finish(),
            Self::Closed(l) => f.debug_tuple("Closed").field(l).finish(),
            Self::Refused { link, reason } => f
                .debug_struct("Refused")
                .field("link", link)
                .field("reason", reason)
                .finish(),
        }
    }
}

/// The backend of every vTPM device whose backend is this domain.
pub struct Backend {
    root: String,
    links: BTreeMap<LinkId, Link>,
    /// Devices refused for good: not looked at again until their directory goes.
    refused: BTreeSet<LinkId>,
    /// Walk the root on the next poll (set at start).
    rescan: bool,
}

impl Backend {
    /// Watches `/local/domain/<self>/backend/vtpm`; the first [`Backend::poll`] walks the
    /// devices that already exist (reference §2.4 step 1).
    pub fn new<P: Platform>(p: &mut P) -> Result<Backend, BackError>
    where
        P::Page: 'static,
    {
        let root = backend_root(p.domid());
        p.watch(&root)?;
        Ok(Backend {
            root,
            links: BTreeMap::new(),
            refused: BTreeSet::new(),
            rescan: true,
        })
    }

    /// Handles what changed since the last poll; never blocks. An `Err` is a failure of the
    /// platform itself (the store root cannot be listed); a link's failures are
    /// [`BackEvent::Refused`].
    pub fn poll<P: Platform>(&mut self, p: &mut P) -> Result<Vec<BackEvent>, BackError>
    where
        P::Page: 'static,
    {
        let mut out = Vec::new();
        let fired = p.take_watch(&self.root);
        if fired || self.rescan {
            self.scan(p, &mut out)?;
            self.rescan = false;
        }
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for id in ids {
            let Some(link) = self.links.get_mut(&id) else {
                continue;
            };
            if p.take_watch(&link.fe_state_path) {
                match link.frontend_changed(p, &mut out) {
                    Ok(Step::Stay) => {}
                    Ok(Step::Gone) => {
                        link.gone(p);
                        self.links.remove(&id);
                        out.push(BackEvent::Closed(id));
                        continue;
                    }
                    Err(reason) => out.push(BackEvent::Refused { link: id, reason }),
                }
            }
            if let Err(reason) = link.serve_port(p, &mut out) {
                out.push(BackEvent::Refused { link: id, reason });
            }
        }
        Ok(out)
    }

    /// Compares the devices under the root with the links: opens new ones, forgets removed
    /// ones.
    fn scan<P: Platform>(&mut self, p: &mut P, out: &mut Vec<BackEvent>) -> Result<(), BackError>
    where
        P::Page: 'static,
    {
        let mut present = BTreeSet::new();
        for fe in p.list(&self.root)? {
            let Some(frontend) = parse_decimal(&fe).and_then(|d| DomId::try_from(d).ok()) else {
                continue;
            };
            // A directory we may not list is one we cannot serve: skip it.
            let Ok(devs) = p.list(&format!("{}/{fe}", self.root)) else {
                continue;
            };
            for dev in devs {
                if let Some(devid) = parse_decimal(&dev) {
                    present.insert(LinkId(frontend, devid));
                }
            }
        }
        let removed: Vec<LinkId> = self
            .links
            .keys()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        for id in removed {
            if let Some(mut link) = self.links.remove(&id) {
                link.removed(p);
                out.push(BackEvent::Closed(id));
            }
        }
        self.refused.retain(|id| present.contains(id));
        for id in present {
            if self.links.contains_key(&id) || self.refused.contains(&id) {
                continue;
            }
            match Link::open(p, id) {
                Ok(link) => {
                    out.push(BackEvent::Opened(link.info.clone()));
                    self.links.insert(id, link);
                }
                Err(NotOpened::Pending) => {}
                Err(NotOpened::Refused(reason)) => {
                    self.refused.insert(id);
                    out.push(BackEvent::Refused { link: id, reason });
                }
            }
        }
        Ok(())
    }

    /// Answers the link's outstanding request: the response on the page, FINISH, notify. A
    /// response over 4088 bytes is refused and the request stays outstanding.
    pub fn respond<P: Platform>(
        &mut self,
        p: &mut P,
        link: LinkId,
        response: &[u8],
    ) -> Result<(), BackError> {
        self.links
            .get_mut(&link)
            .ok_or(BackError::UnknownLink(link))?
            .respond(p, response)
    }

    /// What is known of a link's frontend.
    pub fn info(&self, link: LinkId) -> Option<&LinkInfo> {
        self.links.get(&link).map(|l| &l.info)
    }

    /// The open links.
    pub fn links(&self) -> impl Iterator<Item = LinkId> + '_ {
        self.links.keys().copied()
    }

    /// Closes every link (pages unmapped, ports closed, backend `state` 5 then 6) and stops
    /// watching.
    pub fn shutdown<P: Platform>(&mut self, p: &mut P) {
        for link in self.links.values_mut() {
            link.shut(p);
        }
        self.links.clear();
        self.refused.clear();
        let _ = p.unwatch(&self.root);
    }
}

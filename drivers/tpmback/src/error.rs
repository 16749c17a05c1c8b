//! What can go wrong in the backend, one variant per failure.

use alloc::string::String;
use core::fmt;

use xen::platform::XenError;
use xen::tpmif::TpmifError;

use crate::LinkId;

/// A backend failure: of the whole backend (returned) or of one link (reported in
/// [`BackEvent::Refused`](crate::BackEvent::Refused), other links unaffected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackError {
    /// A store, grant or event-channel operation failed.
    Platform(XenError),
    /// The device's `uuid` key is not a canonical UUID (reference §2.4 step 2): no instance.
    BadUuid(String),
    /// The device's `frontend` key is missing or is not the frontend's device path.
    BadFrontendPath(Option<String>),
    /// The security label of the frontend domain cannot be read.
    PeerLabel(XenError),
    /// The frontend's `state` is not a xenbus state (0–8).
    BadFrontendState(String),
    /// The frontend's `ring-ref` is missing or not a decimal grant reference.
    BadRingRef(Option<String>),
    /// The frontend's `event-channel` is missing or not a decimal port.
    BadEventChannel(Option<String>),
    /// The frontend's `feature-protocol-v2` is not exactly `1` (Linux and mini-os both
    /// require protocol v2).
    NoProtocolV2(Option<String>),
    /// The frontend's page cannot be mapped.
    MapFailed(XenError),
    /// The frontend's event channel cannot be bound.
    BindFailed(XenError),
    /// The shared page holds a bad header (the outcome is documented on [`crate::Backend`]).
    Page(TpmifError),
    /// No such link (never opened, or closed since).
    UnknownLink(LinkId),
    /// The link has no connected frontend (its page is not mapped).
    NotConnected(LinkId),
    /// The link has no request waiting for a response.
    NoRequest(LinkId),
    /// A response longer than the 4088 bytes the page holds.
    ResponseTooLong(usize),
}

impl fmt::Display for BackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform(e) => write!(f, "tpmback: {e}"),
            Self::BadUuid(u) => write!(f, "tpmback: device uuid {u:?} is not a UUID"),
            Self::BadFrontendPath(p) => {
                write!(
                    f,
                    "tpmback: device frontend path {p:?} is not the frontend's"
                )
            }
            Self::PeerLabel(e) => write!(f, "tpmback: frontend security label: {e}"),
            Self::BadFrontendState(s) => write!(f, "tpmback: frontend state {s:?} is invalid"),
            Self::BadRingRef(v) => write!(f, "tpmback: frontend ring-ref {v:?} is invalid"),
            Self::BadEventChannel(v) => {
                write!(f, "tpmback: frontend event-channel {v:?} is invalid")
            }
            Self::NoProtocolV2(v) => write!(
                f,
                "tpmback: frontend feature-protocol-v2 is {v:?}; vTPM protocol 2 required"
            ),
            Self::MapFailed(e) => write!(f, "tpmback: mapping the frontend's page: {e}"),
            Self::BindFailed(e) => write!(f, "tpmback: binding the frontend's event channel: {e}"),
            Self::Page(e) => write!(f, "tpmback: {e}"),
            Self::UnknownLink(l) => write!(f, "tpmback: no link {}/{}", l.0, l.1),
            Self::NotConnected(l) => write!(f, "tpmback: link {}/{} is not connected", l.0, l.1),
            Self::NoRequest(l) => {
                write!(f, "tpmback: link {}/{} has no request to answer", l.0, l.1)
            }
            Self::ResponseTooLong(n) => {
                write!(
                    f,
                    "tpmback: response of {n} bytes exceeds the 4088-byte page"
                )
            }
        }
    }
}

impl core::error::Error for BackError {}

impl From<XenError> for BackError {
    fn from(e: XenError) -> Self {
        Self::Platform(e)
    }
}

//! What can go wrong on a link.

use alloc::string::String;
use core::fmt;

/// A link failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// The region is smaller than [`crate::REGION_SIZE`].
    TooSmall {
        /// Its size.
        size: usize,
    },
    /// The region does not start with the link magic (not formatted, or overwritten).
    NotALink,
    /// A layout version this build does not speak.
    Version(u32),
    /// The backend did not acknowledge the session in time (the manager is not running).
    NoBackend {
        /// How long the frontend waited.
        waited_ms: u64,
    },
    /// The backend has stopped serving this link.
    BackendStopped,
    /// The backend took over another session: this one was replaced.
    SessionLost,
    /// No answer in time; the request was cancelled.
    Timeout {
        /// How long the frontend waited.
        waited_ms: u64,
    },
    /// This session cancelled a request: a late answer could still race the next one, so the
    /// session takes no more requests (connect again).
    Abandoned,
    /// The page broke the tpmif protocol.
    Protocol(xen::tpmif::TpmifError),
    /// I/O on the region's file failed.
    Io(String),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooSmall { size } => write!(
                f,
                "the link region has {size} bytes; it needs {}",
                crate::REGION_SIZE
            ),
            Self::NotALink => f.write_str("the region is not a formatted vTPM link"),
            Self::Version(v) => write!(f, "link layout version {v} is not supported"),
            Self::NoBackend { waited_ms } => {
                write!(f, "no backend acknowledged the link within {waited_ms} ms")
            }
            Self::BackendStopped => f.write_str("the backend has stopped serving the link"),
            Self::SessionLost => f.write_str("another frontend session took over the link"),
            Self::Timeout { waited_ms } => {
                write!(
                    f,
                    "no answer within {waited_ms} ms; the request was cancelled"
                )
            }
            Self::Abandoned => f.write_str(
                "this link session cancelled a request and takes no more; connect again",
            ),
            Self::Protocol(e) => write!(f, "{e}"),
            Self::Io(e) => write!(f, "link file: {e}"),
        }
    }
}

impl core::error::Error for LinkError {}

impl From<xen::tpmif::TpmifError> for LinkError {
    fn from(e: xen::tpmif::TpmifError) -> Self {
        Self::Protocol(e)
    }
}

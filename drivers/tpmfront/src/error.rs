//! What can go wrong in the frontend, one variant per failure.

use alloc::string::String;
use core::fmt;

use xen::platform::XenError;
use xen::tpmif::TpmifError;

/// A frontend failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontError {
    /// A store, grant or event-channel operation failed.
    Platform(XenError),
    /// The device's `backend-id` is missing or not a domain id.
    BadBackendId(Option<String>),
    /// The device's `backend` path is missing.
    NoBackendPath,
    /// The backend does not offer protocol v2 (its `feature-protocol-v2` is not `1`).
    NoProtocolV2(Option<String>),
    /// The backend did not reach Connected in time.
    ConnectTimeout,
    /// The backend is gone or closing (state 0, 5, 6, or unreadable).
    BackendGone,
    /// A command longer than the 4088 bytes the page holds.
    CommandTooLong(usize),
    /// The backend did not answer in time; the request was cancelled.
    Timeout,
    /// An earlier request's cancel is still unacknowledged: the backend holds the page.
    Busy,
    /// The backend dropped the request (set IDLE) without answering.
    Aborted,
    /// The page's header is invalid (unknown state, extra pages, length over 4088).
    BadPage(TpmifError),
    /// The response is not a TPM response: shorter than its 10-byte header, or its header's
    /// size field disagrees with the page's length.
    BadResponse {
        /// The page's length.
        length: usize,
        /// The size in the response's header, if it had one.
        declared: Option<u32>,
    },
}

impl fmt::Display for FrontError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform(e) => write!(f, "tpmfront: {e}"),
            Self::BadBackendId(v) => write!(f, "tpmfront: backend-id {v:?} is not a domain id"),
            Self::NoBackendPath => f.write_str("tpmfront: the device has no backend path"),
            Self::NoProtocolV2(v) => write!(
                f,
                "tpmfront: backend feature-protocol-v2 is {v:?}; vTPM protocol 2 required"
            ),
            Self::ConnectTimeout => f.write_str("tpmfront: the backend did not connect in time"),
            Self::BackendGone => f.write_str("tpmfront: the backend is gone or closing"),
            Self::CommandTooLong(n) => {
                write!(
                    f,
                    "tpmfront: command of {n} bytes exceeds the 4088-byte page"
                )
            }
            Self::Timeout => f.write_str("tpmfront: no response in time; request cancelled"),
            Self::Busy => f.write_str("tpmfront: the backend has not released the last request"),
            Self::Aborted => f.write_str("tpmfront: the backend dropped the request"),
            Self::BadPage(e) => write!(f, "tpmfront: {e}"),
            Self::BadResponse { length, declared } => match declared {
                Some(d) => write!(
                    f,
                    "tpmfront: response of {length} bytes declares {d} bytes in its header"
                ),
                None => write!(f, "tpmfront: response of {length} bytes has no TPM header"),
            },
        }
    }
}

impl core::error::Error for FrontError {}

impl From<XenError> for FrontError {
    fn from(e: XenError) -> Self {
        Self::Platform(e)
    }
}

//! The one error type of the host tools.

use std::{fmt, io};

/// What went wrong talking to a TPM from the host.
#[derive(Debug)]
pub enum Error {
    /// An operating-system call failed; `context` says which and on what.
    Io {
        /// What was being done (e.g. "connect to swtpm data channel 127.0.0.1:2321").
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A `--tpm` specification that is not one of the accepted forms.
    BadTpmSpec(String),
    /// The peer sent a response whose header declares an impossible size.
    BadResponseSize {
        /// The size in the header.
        declared: u32,
        /// The largest size the caller could accept.
        max: usize,
    },
    /// The peer closed the connection or sent fewer bytes than it announced.
    ShortResponse {
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A swtpm control-channel command returned a non-zero result.
    Control {
        /// The control command's name.
        command: &'static str,
        /// The TPM result code it returned.
        result: u32,
    },
    /// An mssim platform or command-port exchange returned a non-zero acknowledgement.
    Mssim {
        /// What was sent.
        command: &'static str,
        /// The acknowledgement value.
        ack: u32,
    },
    /// A TPM response did not parse.
    Wire(tpm2::Error),
    /// The TPM answered with an error code.
    Tpm {
        /// The command that failed.
        command: tpm2::cc::TpmCc,
        /// Its response code.
        rc: tpm2::rc::TpmRc,
    },
    /// swtpm could not be started or did not come up.
    Swtpm(String),
    /// A guest's tpmif link to its vTPM failed (hosted Xen mode).
    Link(String),
}

impl Error {
    /// Wraps an I/O error with what was being attempted.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::BadTpmSpec(s) => write!(
                f,
                "bad TPM specification {s:?}: expected swtpm:HOST:PORT, mssim:HOST:PORT, \
                 dev:PATH or spawn"
            ),
            Self::BadResponseSize { declared, max } => {
                write!(
                    f,
                    "response header declares {declared} bytes (allowed 10..={max})"
                )
            }
            Self::ShortResponse { expected, got } => {
                write!(
                    f,
                    "connection ended after {got} of {expected} response bytes"
                )
            }
            Self::Control { command, result } => {
                write!(
                    f,
                    "swtpm control command {command} failed with result {result:#x}"
                )
            }
            Self::Mssim { command, ack } => {
                write!(f, "mssim {command} was not acknowledged (got {ack:#x})")
            }
            Self::Wire(e) => write!(f, "malformed TPM response: {e}"),
            Self::Tpm { command, rc } => write!(f, "{command} failed: {rc}"),
            Self::Swtpm(s) => write!(f, "swtpm: {s}"),
            Self::Link(s) => write!(f, "tpmif link: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Wire(e) => Some(e),
            _ => None,
        }
    }
}

impl From<tpm2::Error> for Error {
    fn from(e: tpm2::Error) -> Self {
        Self::Wire(e)
    }
}

//! The driver's one error type.
//!
//! Each variant names one way the FIFO protocol of PTP §6.5.2 can fail, with the register value
//! last seen and the timeout that ran out, so a log line is enough to tell a missing chip from a
//! slow one from a misbehaving one.

use core::fmt;
use core::time::Duration;

use tpm2::cc::TpmCc;

/// Why the TPM could not be reached or did not follow the FIFO protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// TPM_DID_VID reads 0 or all ones: no TPM answers at this address.
    NoDevice {
        /// The value read.
        did_vid: u32,
    },
    /// TPM_INTERFACE_ID names an interface other than the FIFO (for instance CRB).
    UnsupportedInterface {
        /// The value read.
        interface_id: u32,
    },
    /// tpmRegValidSts never became 1 in TPM_ACCESS_x.
    RegistersNeverValid {
        /// The locality whose page was read.
        locality: u8,
        /// The last TPM_ACCESS_x value.
        access: u8,
        /// The timeout (TIMEOUT_A).
        timeout: Duration,
    },
    /// The locality does not exist or its page is not reachable.
    LocalityUnavailable {
        /// The locality asked for.
        locality: u8,
    },
    /// The TPM did not grant the locality.
    LocalityTimeout {
        /// The locality requested.
        locality: u8,
        /// The last TPM_ACCESS_x value.
        access: u8,
        /// The timeout (TIMEOUT_A).
        timeout: Duration,
    },
    /// A command was sent while the driver holds no locality.
    NoLocality,
    /// The driver's locality is no longer active (seized or released behind its back).
    LocalityLost {
        /// The locality the driver held.
        locality: u8,
        /// The TPM_ACCESS_x value read.
        access: u8,
    },
    /// The command is not a whole TPM command: shorter than its header, longer than 4096 bytes,
    /// or its header's size field disagrees with its length.
    BadCommand {
        /// The command's length.
        len: usize,
        /// The header's size field, if there was a header.
        declared: Option<u32>,
    },
    /// The caller's response buffer cannot hold even a response header.
    ResponseBufferTooSmall {
        /// Its length.
        len: usize,
    },
    /// commandReady did not become 1 after writing commandReady.
    CommandReadyTimeout {
        /// The last TPM_STS_x value.
        sts: u32,
        /// The timeout (TIMEOUT_B).
        timeout: Duration,
    },
    /// burstCount stayed 0.
    BurstCountTimeout {
        /// The last TPM_STS_x value.
        sts: u32,
        /// The timeout (TIMEOUT_D).
        timeout: Duration,
    },
    /// stsValid did not become 1.
    StsValidTimeout {
        /// The last TPM_STS_x value.
        sts: u32,
        /// The timeout (TIMEOUT_C).
        timeout: Duration,
    },
    /// Expect was wrong: 0 before the last command byte (`sent < total`), or still 1 after it
    /// (`sent == total`).
    ExpectMismatch {
        /// Command bytes written when the mismatch was seen.
        sent: usize,
        /// The command's length.
        total: usize,
    },
    /// dataAvail did not become 1 within the command's duration; the command was aborted.
    ResponseTimeout {
        /// The command code.
        command: TpmCc,
        /// The last TPM_STS_x value.
        sts: u32,
        /// The command's duration.
        timeout: Duration,
    },
    /// The TPM went back to Ready during execution without producing a response.
    CommandAborted {
        /// The command code.
        command: TpmCc,
        /// The TPM_STS_x value read.
        sts: u32,
    },
    /// The response header's size field is below 10 or above what the caller's buffer (and
    /// the 4096-byte FIFO limit) can take.
    BadResponseSize {
        /// The size field.
        size: u32,
        /// The largest size accepted.
        max: usize,
    },
    /// dataAvail went to 0 before the expected number of response bytes had been read.
    ShortResponse {
        /// Bytes expected (the header, or the size its header declares).
        expected: usize,
        /// Bytes read.
        received: usize,
        /// The TPM_STS_x value read.
        sts: u32,
    },
    /// dataAvail was still 1 after the whole response had been read.
    ExtraResponseData {
        /// The response's size.
        size: usize,
        /// The TPM_STS_x value read.
        sts: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoDevice { did_vid } => {
                write!(f, "no TPM: TPM_DID_VID reads {did_vid:#010x}")
            }
            Self::UnsupportedInterface { interface_id } => write!(
                f,
                "TPM_INTERFACE_ID {interface_id:#010x} names interface type {:#x}, not the FIFO \
                 interface",
                interface_id & 0xF
            ),
            Self::RegistersNeverValid {
                locality,
                access,
                timeout,
            } => write!(
                f,
                "tpmRegValidSts not set within TIMEOUT_A ({timeout:?}): TPM_ACCESS_{locality} \
                 reads {access:#04x}"
            ),
            Self::LocalityUnavailable { locality } => {
                write!(f, "locality {locality} does not exist or is not mapped")
            }
            Self::LocalityTimeout {
                locality,
                access,
                timeout,
            } => write!(
                f,
                "locality {locality} not granted within TIMEOUT_A ({timeout:?}): \
                 TPM_ACCESS_{locality} reads {access:#04x}"
            ),
            Self::NoLocality => f.write_str("no locality requested before sending a command"),
            Self::LocalityLost { locality, access } => write!(
                f,
                "locality {locality} is no longer active: TPM_ACCESS_{locality} reads \
                 {access:#04x}"
            ),
            Self::BadCommand { len, declared } => match declared {
                Some(size) => write!(
                    f,
                    "not a whole command: {len} bytes whose header declares {size} (must be \
                     equal, 10..=4096)"
                ),
                None => write!(f, "not a whole command: {len} bytes, shorter than a header"),
            },
            Self::ResponseBufferTooSmall { len } => write!(
                f,
                "response buffer of {len} bytes cannot hold a 10-byte response header"
            ),
            Self::CommandReadyTimeout { sts, timeout } => write!(
                f,
                "commandReady not set within TIMEOUT_B ({timeout:?}): TPM_STS reads {sts:#010x}"
            ),
            Self::BurstCountTimeout { sts, timeout } => write!(
                f,
                "burstCount stayed 0 for TIMEOUT_D ({timeout:?}): TPM_STS reads {sts:#010x}"
            ),
            Self::StsValidTimeout { sts, timeout } => write!(
                f,
                "stsValid not set within TIMEOUT_C ({timeout:?}): TPM_STS reads {sts:#010x}"
            ),
            Self::ExpectMismatch { sent, total } => {
                if sent < total {
                    write!(
                        f,
                        "Expect cleared after {sent} of {total} command bytes: the TPM stopped \
                         accepting the command early"
                    )
                } else {
                    write!(
                        f,
                        "Expect still set after all {total} command bytes: the TPM wants more \
                         than the command holds"
                    )
                }
            }
            Self::ResponseTimeout {
                command,
                sts,
                timeout,
            } => write!(
                f,
                "no response to {command} within its duration ({timeout:?}); command aborted: \
                 TPM_STS reads {sts:#010x}"
            ),
            Self::CommandAborted { command, sts } => write!(
                f,
                "the TPM dropped {command} during execution (commandReady without dataAvail): \
                 TPM_STS reads {sts:#010x}"
            ),
            Self::BadResponseSize { size, max } => write!(
                f,
                "response header declares {size} bytes; accepted sizes are 10..={max}"
            ),
            Self::ShortResponse {
                expected,
                received,
                sts,
            } => write!(
                f,
                "dataAvail cleared after {received} of {expected} response bytes: TPM_STS reads \
                 {sts:#010x}"
            ),
            Self::ExtraResponseData { size, sts } => write!(
                f,
                "dataAvail still set after the {size}-byte response: TPM_STS reads {sts:#010x}"
            ),
        }
    }
}

impl core::error::Error for Error {}

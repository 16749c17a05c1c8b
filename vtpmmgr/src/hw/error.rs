//! The one error type of the hardware-TPM session ([`HwError`]) and the decoding of the TPM's
//! response codes into it (part 2 §6.6: format-zero and format-one codes).

use alloc::string::String;
use core::fmt;

use tpm2::cc::TpmCc;
use tpm2::rc::{RcDecoded, RcSubject, TpmRc};

use super::binding::BindingError;

/// Whose authorization value the TPM refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEntity {
    /// The owner (storage) hierarchy: `HwConfig::owner_auth`.
    Owner,
    /// The endorsement hierarchy: `HwConfig::endorsement_auth`.
    Endorsement,
    /// The NV counter index: the `nv_auth` given to `provision` / `counter`.
    NvCounter,
}

impl fmt::Display for AuthEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Owner => "owner hierarchy (check owner_auth in the manager's configuration)",
            Self::Endorsement => {
                "endorsement hierarchy (check endorsement_auth in the manager's configuration)"
            }
            Self::NvCounter => {
                "NV counter index (the NV authorization value is not the one \
                               the counter was provisioned with)"
            }
        })
    }
}

/// Why an operation on the hardware TPM failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HwError {
    /// The transport to the TPM failed (I/O, timeout, a broken device).
    Transport(String),
    /// The TPM's response to `command` is not valid TPM 2.0 wire format.
    Wire {
        /// The command answered.
        command: TpmCc,
        /// What did not parse.
        error: tpm2::Error,
    },
    /// The TPM answered `command` with an error this module gives no more specific meaning.
    Tpm {
        /// The command that failed.
        command: TpmCc,
        /// The response code (its Display decodes it: name, handle/session/parameter).
        rc: TpmRc,
    },
    /// The TPM refused an authorization value (TPM_RC_BAD_AUTH or TPM_RC_AUTH_FAIL).
    AuthFailed {
        /// Whose authorization.
        entity: AuthEntity,
        /// The command refused.
        command: TpmCc,
        /// The response code.
        rc: TpmRc,
    },
    /// The binding was made by another TPM or under another storage root key: the SRK Name
    /// differs, or the TPM refused the blobs' integrity (TPM_RC_INTEGRITY from TPM2_Load).
    WrongTpm {
        /// What showed it.
        reason: &'static str,
    },
    /// The sealed root key's PCR policy does not hold: the PCRs differ from sealing time.
    PolicyMismatch,
    /// The binding bytes are not a valid binding.
    Malformed(BindingError),
    /// No free NV index was found in the range tried.
    NvIndexUnavailable {
        /// The first index tried.
        first: u32,
        /// How many were tried.
        tried: u32,
    },
    /// The NV index of the binding exists but is not the counter that was provisioned (its Name
    /// differs: deleted and redefined by someone else), or it is gone.
    CounterReplaced {
        /// The NV index.
        index: u32,
    },
    /// The configured persistent SRK handle holds a key that is not an SRK of our template.
    SrkHandleOccupied {
        /// The persistent handle.
        handle: u32,
    },
    /// A caller-supplied argument is unusable (named in the message).
    BadArgument(&'static str),
    /// The TPM answered successfully but with something impossible (named in the message).
    Unexpected(&'static str),
    /// The PCRs changed between TPM2_Quote and TPM2_PCR_Read three times in a row.
    PcrsChanged,
}

impl fmt::Display for HwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "hardware TPM transport: {e}"),
            Self::Wire { command, error } => {
                write!(
                    f,
                    "hardware TPM: the response to {command} is malformed: {error}"
                )
            }
            Self::Tpm { command, rc } => write!(f, "hardware TPM: {command} failed: {rc:?}"),
            Self::AuthFailed {
                entity,
                command,
                rc,
            } => write!(
                f,
                "hardware TPM refused the authorization of the {entity}: {command} answered {rc}"
            ),
            Self::WrongTpm { reason } => write!(
                f,
                "the binding belongs to another TPM or storage root key ({reason}); \
                 the manager's data cannot be unsealed on this machine"
            ),
            Self::PolicyMismatch => f.write_str(
                "the PCR policy of the sealed root key does not hold: the measured boot state \
                 differs from the one at sealing time",
            ),
            Self::Malformed(e) => write!(f, "malformed hardware binding: {e}"),
            Self::NvIndexUnavailable { first, tried } => write!(
                f,
                "no free NV index for the monotonic counter in {first:#010x}..{:#010x}; \
                 choose another nv_index in the configuration",
                first.saturating_add(*tried)
            ),
            Self::CounterReplaced { index } => write!(
                f,
                "NV index {index:#010x} is not the counter that was provisioned (deleted or \
                 redefined); refusing it as a rollback counter"
            ),
            Self::SrkHandleOccupied { handle } => write!(
                f,
                "persistent handle {handle:#010x} holds a key that is not a storage root key \
                 of the manager's template; choose another srk_handle or evict it"
            ),
            Self::BadArgument(what) => write!(f, "invalid argument: {what}"),
            Self::Unexpected(what) => write!(f, "hardware TPM answered unexpectedly: {what}"),
            Self::PcrsChanged => {
                f.write_str("the PCRs kept changing between TPM2_Quote and TPM2_PCR_Read")
            }
        }
    }
}

impl core::error::Error for HwError {}

impl From<BindingError> for HwError {
    fn from(e: BindingError) -> Self {
        Self::Malformed(e)
    }
}

/// Whether `rc` reports a refused authorization value for session `session` (1-based), or
/// for an unspecified session.
pub(crate) fn is_auth_failure(rc: TpmRc, session: u8) -> bool {
    let base = rc.base();
    if base != TpmRc::BAD_AUTH && base != TpmRc::AUTH_FAIL {
        return false;
    }
    match rc.decode() {
        RcDecoded::Format1 { subject, .. } => {
            subject.is_none_or(|s| s == RcSubject::Session(session))
        }
        _ => false,
    }
}

/// Turns an authorization failure of `entity` in session `session` into
/// [`HwError::AuthFailed`]; any other error is returned unchanged.
pub(crate) fn auth_context(e: HwError, entity: AuthEntity, session: u8) -> HwError {
    match e {
        HwError::Tpm { command, rc } if is_auth_failure(rc, session) => HwError::AuthFailed {
            entity,
            command,
            rc,
        },
        other => other,
    }
}

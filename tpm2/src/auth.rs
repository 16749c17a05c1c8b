//! The authorization area of commands and responses (part 1 §18.6–§18.8; part 2 §8.4 TPMA_SESSION,
//! §10.13 TPMS_AUTH_COMMAND / TPMS_AUTH_RESPONSE).

use alloc::vec::Vec;
use core::fmt;

use crate::handle::{TpmHandle, TpmHt};
use crate::structures::{Tpm2bAuth, Tpm2bNonce};
use crate::{Error, Marshal, Reader, Unmarshal};

/// MAX_SESSION_NUM: at most three sessions per command.
pub const MAX_SESSIONS: usize = 3;

/// TPMA_SESSION (part 2 §8.4): session attribute bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TpmaSession(pub u8);

impl TpmaSession {
    /// continueSession: keep the session open after this command.
    pub const CONTINUE_SESSION: u8 = 0x01;
    /// auditExclusive.
    pub const AUDIT_EXCLUSIVE: u8 = 0x02;
    /// auditReset.
    pub const AUDIT_RESET: u8 = 0x04;
    /// Bits 3 and 4 are reserved and must be clear.
    pub const RESERVED: u8 = 0x18;
    /// decrypt: the first command parameter is encrypted.
    pub const DECRYPT: u8 = 0x20;
    /// encrypt: the first response parameter is to be encrypted.
    pub const ENCRYPT: u8 = 0x40;
    /// audit: this session audits the command.
    pub const AUDIT: u8 = 0x80;

    /// Whether every bit of `mask` is set.
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

impl fmt::Debug for TpmaSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u8, &str); 6] = [
            (TpmaSession::CONTINUE_SESSION, "continueSession"),
            (TpmaSession::AUDIT_EXCLUSIVE, "auditExclusive"),
            (TpmaSession::AUDIT_RESET, "auditReset"),
            (TpmaSession::DECRYPT, "decrypt"),
            (TpmaSession::ENCRYPT, "encrypt"),
            (TpmaSession::AUDIT, "audit"),
        ];
        write!(f, "TPMA_SESSION(")?;
        let mut first = true;
        for (bit, name) in NAMES {
            if self.has(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

impl Marshal for TpmaSession {
    fn marshal(&self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
}

impl Unmarshal for TpmaSession {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let v = r.u8("TPMA_SESSION")?;
        if v & Self::RESERVED != 0 {
            return Err(Error::ReservedBits {
                what: "TPMA_SESSION",
                value: u32::from(v),
            });
        }
        Ok(Self(v))
    }
}

/// TPMS_AUTH_COMMAND (part 2 §10.13.2): one session in a command's authorization area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsAuthCommand {
    /// TPMI_SH_AUTH_SESSION: TPM_RS_PW, an HMAC session or a policy session.
    pub session_handle: TpmHandle,
    /// The caller's nonce.
    pub nonce: Tpm2bNonce,
    /// Session attributes.
    pub attributes: TpmaSession,
    /// The password or HMAC.
    pub hmac: Tpm2bAuth,
}

impl TpmsAuthCommand {
    /// A password session (TPM_RS_PW) carrying `password`, with continueSession set as
    /// tpm2-tools and Linux send it.
    pub fn password(password: Tpm2bAuth) -> Self {
        Self {
            session_handle: TpmHandle::PASSWORD,
            nonce: Tpm2bNonce::empty(),
            attributes: TpmaSession(TpmaSession::CONTINUE_SESSION),
            hmac: password,
        }
    }
}

impl Marshal for TpmsAuthCommand {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.session_handle.marshal(out);
        self.nonce.marshal(out);
        self.attributes.marshal(out);
        self.hmac.marshal(out);
    }
}

impl Unmarshal for TpmsAuthCommand {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let session_handle = TpmHandle::unmarshal(r)?;
        let ty = session_handle.ty();
        if session_handle != TpmHandle::PASSWORD
            && ty != TpmHt::HMAC_SESSION
            && ty != TpmHt::POLICY_SESSION
        {
            return Err(Error::BadValue {
                what: "TPMI_SH_AUTH_SESSION",
                value: session_handle.0,
            });
        }
        Ok(Self {
            session_handle,
            nonce: Tpm2bNonce::unmarshal(r)?,
            attributes: TpmaSession::unmarshal(r)?,
            hmac: Tpm2bAuth::unmarshal(r)?,
        })
    }
}

/// TPMS_AUTH_RESPONSE (part 2 §10.13.3): one session in a response's authorization area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsAuthResponse {
    /// The TPM's nonce.
    pub nonce: Tpm2bNonce,
    /// Session attributes.
    pub attributes: TpmaSession,
    /// The response HMAC (empty for password and policy sessions without HMAC).
    pub hmac: Tpm2bAuth,
}

impl Marshal for TpmsAuthResponse {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.nonce.marshal(out);
        self.attributes.marshal(out);
        self.hmac.marshal(out);
    }
}

impl Unmarshal for TpmsAuthResponse {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            nonce: Tpm2bNonce::unmarshal(r)?,
            attributes: TpmaSession::unmarshal(r)?,
            hmac: Tpm2bAuth::unmarshal(r)?,
        })
    }
}

/// The smallest TPMS_AUTH_COMMAND: handle, empty nonce, attributes, empty hmac.
pub const MIN_AUTH_COMMAND_SIZE: usize = 4 + 2 + 1 + 2;

/// Reads a command's authorization area: `authorizationSize` then one to three sessions that
/// exactly fill it (part 1 §18.7).
pub fn read_command_sessions(r: &mut Reader<'_>) -> Result<Vec<TpmsAuthCommand>, Error> {
    const WHAT: &str = "authorization area";
    let size = usize::try_from(r.u32(WHAT)?).unwrap_or(usize::MAX);
    if size < MIN_AUTH_COMMAND_SIZE {
        return Err(Error::TooSmall {
            what: WHAT,
            size,
            min: MIN_AUTH_COMMAND_SIZE,
        });
    }
    let available = r.remaining();
    if size > available {
        return Err(Error::SizeMismatch {
            what: WHAT,
            declared: size,
            actual: available,
        });
    }
    let mut area = Reader::new(r.bytes(size, WHAT)?);
    let mut sessions = Vec::new();
    while !area.is_empty() {
        if sessions.len() == MAX_SESSIONS {
            return Err(Error::TooLarge {
                what: WHAT,
                size: sessions.len() + 1,
                max: MAX_SESSIONS,
            });
        }
        sessions.push(TpmsAuthCommand::unmarshal(&mut area)?);
    }
    Ok(sessions)
}

/// Writes a command's authorization area (`authorizationSize` and the sessions).
pub fn write_command_sessions(sessions: &[TpmsAuthCommand], out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    sessions.marshal(out);
    let size = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
}

/// Reads a response's authorization area: one to three sessions filling the rest of `r`.
pub fn read_response_sessions(r: &mut Reader<'_>) -> Result<Vec<TpmsAuthResponse>, Error> {
    let mut sessions = Vec::new();
    while !r.is_empty() {
        if sessions.len() == MAX_SESSIONS {
            return Err(Error::TooLarge {
                what: "response authorization area",
                size: sessions.len() + 1,
                max: MAX_SESSIONS,
            });
        }
        sessions.push(TpmsAuthResponse::unmarshal(r)?);
    }
    if sessions.is_empty() {
        return Err(Error::Truncated {
            what: "response authorization area",
            needed: 5,
            available: 0,
        });
    }
    Ok(sessions)
}

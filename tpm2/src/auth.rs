//! The authorization area of commands and responses (part 1 §18.6–§18.8; part 2 §8.4 TPMA_SESSION,
//! §10.13 TPMS_AUTH_COMMAND / TPMS_AUTH_RESPONSE).

use alloc::vec::Vec;
use core::fmt;

use crate::handle::{TpmHandle, TpmHt};
use crate::structures::{Auth, Nonce};
use crate::{Error, Marshal, Reader, Unmarshal};

/// MAX_SESSION_NUM: at most three sessions per command.
pub const MAX_SESSIONS: usize = 3;

/// TPMA_SESSION (part 2 §8.4): session attribute bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SessionAttributes(pub u8);

impl SessionAttributes {
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

impl fmt::Debug for SessionAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u8, &str); 6] = [
            (SessionAttributes::CONTINUE_SESSION, "continueSession"),
            (SessionAttributes::AUDIT_EXCLUSIVE, "auditExclusive"),
            (SessionAttributes::AUDIT_RESET, "auditReset"),
            (SessionAttributes::DECRYPT, "decrypt"),
            (SessionAttributes::ENCRYPT, "encrypt"),
            (SessionAttributes::AUDIT, "audit"),
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

impl Marshal for SessionAttributes {
    fn marshal(&self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
}

impl Unmarshal for SessionAttributes {
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
pub struct AuthCommand {
    /// TPMI_SH_AUTH_SESSION: TPM_RS_PW, an HMAC session or a policy session.
    pub session_handle: TpmHandle,
    /// The caller's nonce.
    pub nonce: Nonce,
    /// Session attributes.
    pub attributes: SessionAttributes,
    /// The password or HMAC.
    pub hmac: Auth,
}

impl AuthCommand {
    /// A password session (TPM_RS_PW) carrying `password`, with continueSession set as
    /// tpm2-tools and Linux send it.
    pub fn password(password: Auth) -> Self {
        Self {
            session_handle: TpmHandle::PASSWORD,
            nonce: Nonce::empty(),
            attributes: SessionAttributes(SessionAttributes::CONTINUE_SESSION),
            hmac: password,
        }
    }
}

impl Marshal for AuthCommand {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.session_handle.marshal(out);
        self.nonce.marshal(out);
        self.attributes.marshal(out);
        self.hmac.marshal(out);
    }
}

impl Unmarshal for AuthCommand {
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
            nonce: Nonce::unmarshal(r)?,
            attributes: SessionAttributes::unmarshal(r)?,
            hmac: Auth::unmarshal(r)?,
        })
    }
}

/// TPMS_AUTH_RESPONSE (part 2 §10.13.3): one session in a response's authorization area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResponse {
    /// The TPM's nonce.
    pub nonce: Nonce,
    /// Session attributes.
    pub attributes: SessionAttributes,
    /// The response HMAC (empty for password and policy sessions without HMAC).
    pub hmac: Auth,
}

impl Marshal for AuthResponse {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.nonce.marshal(out);
        self.attributes.marshal(out);
        self.hmac.marshal(out);
    }
}

impl Unmarshal for AuthResponse {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            nonce: Nonce::unmarshal(r)?,
            attributes: SessionAttributes::unmarshal(r)?,
            hmac: Auth::unmarshal(r)?,
        })
    }
}

/// The smallest TPMS_AUTH_COMMAND: handle, empty nonce, attributes, empty hmac.
pub const MIN_AUTH_COMMAND_SIZE: usize = 4 + 2 + 1 + 2;

/// Reads a command's authorization area: `authorizationSize` then one to three sessions that
/// exactly fill it (part 1 §18.7).
pub fn read_command_sessions(r: &mut Reader<'_>) -> Result<Vec<AuthCommand>, Error> {
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
        sessions.push(AuthCommand::unmarshal(&mut area)?);
    }
    Ok(sessions)
}

/// Writes a command's authorization area (`authorizationSize` and the sessions).
pub fn write_command_sessions(sessions: &[AuthCommand], out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    sessions.marshal(out);
    let size = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
}

/// Reads a response's authorization area: one to three sessions filling the rest of `r`.
pub fn read_response_sessions(r: &mut Reader<'_>) -> Result<Vec<AuthResponse>, Error> {
    let mut sessions = Vec::new();
    while !r.is_empty() {
        if sessions.len() == MAX_SESSIONS {
            return Err(Error::TooLarge {
                what: "response authorization area",
                size: sessions.len() + 1,
                max: MAX_SESSIONS,
            });
        }
        sessions.push(AuthResponse::unmarshal(r)?);
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

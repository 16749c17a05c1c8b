//! Whole commands (part 1 §18.2–§18.7, part 3 §5 "command structure"): header, handle area,
//! authorization area when the tag is TPM_ST_SESSIONS, and the parameter area.
//!
//! [`Command::parse`] checks in the order part 3 §5.2 prescribes for the parts that do not
//! depend on TPM state: header tag, header size, command code, handle area, authorization area.
//! Parameters are returned as bytes and decoded per command with [`Command::params`].

use alloc::vec::Vec;

use crate::auth::{TpmsAuthCommand, read_command_sessions, write_command_sessions};
use crate::cc::TpmCc;
use crate::handle::TpmHandle;
use crate::header::{CommandHeader, HEADER_SIZE, MAX_PACKET_SIZE};
use crate::st::TpmSt;
use crate::{Error, Marshal, Reader, Unmarshal};

/// A command split into its areas. Parameters borrow from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// The validated header.
    pub header: CommandHeader,
    /// The handle area (as many handles as part 3 defines for the command).
    pub handles: Vec<TpmHandle>,
    /// The sessions of the authorization area (empty for TPM_ST_NO_SESSIONS).
    pub sessions: Vec<TpmsAuthCommand>,
    /// The parameter area, still marshalled.
    pub parameters: &'a [u8],
}

impl<'a> Command<'a> {
    /// Splits a whole command. Fails with [`Error::BadValue`] (`what` = `"TPM_CC"`) for a
    /// command code the library specification does not define.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let header = CommandHeader::parse(bytes)?;
        let info = header.code.info().ok_or(Error::BadValue {
            what: "TPM_CC",
            value: header.code.0,
        })?;
        let mut r = Reader::new(&bytes[HEADER_SIZE..]);
        let mut handles = Vec::with_capacity(usize::from(info.handles));
        for _ in 0..info.handles {
            handles.push(TpmHandle::unmarshal(&mut r)?);
        }
        let sessions = if header.tag == TpmSt::SESSIONS {
            read_command_sessions(&mut r)?
        } else {
            Vec::new()
        };
        Ok(Self {
            header,
            handles,
            sessions,
            parameters: r.take_rest(),
        })
    }

    /// Decodes the parameter area as `P`, which must consume all of it.
    pub fn params<P: Unmarshal>(&self) -> Result<P, Error> {
        P::from_bytes(self.parameters)
    }
}

/// Builds the bytes of a command. The tag is TPM_ST_SESSIONS exactly when `sessions` is not
/// empty; the size field is computed.
///
/// # Errors
/// [`Error::TooLarge`] if the command would exceed [`MAX_PACKET_SIZE`].
pub fn build_command(
    code: TpmCc,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    parameters: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(HEADER_SIZE + 4 * handles.len() + parameters.len() + 16);
    let tag = if sessions.is_empty() {
        TpmSt::NO_SESSIONS
    } else {
        TpmSt::SESSIONS
    };
    tag.marshal(&mut out);
    0u32.marshal(&mut out);
    code.marshal(&mut out);
    handles.marshal(&mut out);
    if !sessions.is_empty() {
        write_command_sessions(sessions, &mut out);
    }
    out.extend_from_slice(parameters);
    finish_size(out, "command")
}

/// Writes the size field of a packet built with a zero placeholder.
pub(crate) fn finish_size(mut out: Vec<u8>, what: &'static str) -> Result<Vec<u8>, Error> {
    if out.len() > MAX_PACKET_SIZE {
        return Err(Error::TooLarge {
            what,
            size: out.len(),
            max: MAX_PACKET_SIZE,
        });
    }
    let size = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[2..6].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structures::Tpm2bAuth;

    #[test]
    fn startup_round_trip() {
        let bytes = build_command(TpmCc::STARTUP, &[], &[], &[0, 0]).unwrap();
        assert_eq!(bytes, [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x44, 0, 0]);
        let c = Command::parse(&bytes).unwrap();
        assert_eq!(c.header.code, TpmCc::STARTUP);
        assert!(c.handles.is_empty() && c.sessions.is_empty());
        assert_eq!(c.parameters, &[0, 0]);
    }

    #[test]
    fn unknown_code_is_rejected() {
        let bytes = [0x80, 0x01, 0, 0, 0, 0x0a, 0x20, 0, 0x10, 0];
        assert_eq!(
            Command::parse(&bytes),
            Err(Error::BadValue {
                what: "TPM_CC",
                value: 0x2000_1000
            })
        );
    }

    #[test]
    fn sessions_must_fill_the_area() {
        let pw = TpmsAuthCommand::password(Tpm2bAuth::new(b"pw").unwrap());
        let mut bytes =
            build_command(TpmCc::GET_RANDOM, &[], core::slice::from_ref(&pw), &[0, 8]).unwrap();
        let c = Command::parse(&bytes).unwrap();
        assert_eq!(c.sessions, [pw]);
        assert_eq!(c.parameters, &[0, 8]);
        // Claim one more byte in authorizationSize than the session has: the session parser
        // must not read into the parameters.
        bytes[13] += 1;
        assert!(Command::parse(&bytes).is_err());
        // A zero-length authorization area with TPM_ST_SESSIONS.
        let mut empty = build_command(TpmCc::GET_RANDOM, &[], &[], &[0, 0, 0, 0, 0, 8]).unwrap();
        empty[1] = 0x02;
        assert!(matches!(
            Command::parse(&empty),
            Err(Error::TooSmall { .. })
        ));
    }
}

//! The 10-byte command and response headers (part 1 §18.2, part 2 §10.1 tables 9 and 10 of
//! part 3's "command/response structure"): `tag` (TPM_ST), `size` (u32, the whole packet
//! including the header) and the command code or response code.

use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::Error;
use crate::cc::TpmCc;
use crate::rc::TpmRc;
use crate::st::TpmSt;

/// Size of a command or response header on the wire.
pub const HEADER_SIZE: usize = 10;

/// The largest command or response this project accepts or produces (TPM_PT_MAX_COMMAND_SIZE /
/// TPM_PT_MAX_RESPONSE_SIZE, and the PC Client TIS FIFO limit).
pub const MAX_PACKET_SIZE: usize = 4096;

/// The raw header as it sits on the wire. Parse with [`CommandHeader::parse`] or
/// [`ResponseHeader::parse`], which validate it.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawHeader {
    /// TPM_ST_NO_SESSIONS or TPM_ST_SESSIONS.
    pub tag: U16,
    /// Total packet size in bytes, header included.
    pub size: U32,
    /// TPM_CC for a command, TPM_RC for a response.
    pub code: U32,
}

impl RawHeader {
    fn read(bytes: &[u8], what: &'static str) -> Result<Self, Error> {
        let (raw, _) = Self::read_from_prefix(bytes).map_err(|_| Error::Truncated {
            what,
            needed: HEADER_SIZE,
            available: bytes.len(),
        })?;
        let declared = raw.size.get() as usize;
        if declared != bytes.len() {
            return Err(Error::SizeMismatch {
                what,
                declared,
                actual: bytes.len(),
            });
        }
        if declared > MAX_PACKET_SIZE {
            return Err(Error::TooLarge {
                what,
                size: declared,
                max: MAX_PACKET_SIZE,
            });
        }
        Ok(raw)
    }
}

/// A validated command header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHeader {
    /// TPM_ST_NO_SESSIONS or TPM_ST_SESSIONS.
    pub tag: TpmSt,
    /// Total size of the command.
    pub size: u32,
    /// The command code.
    pub code: TpmCc,
}

impl CommandHeader {
    /// Validates the header of `command`, which must be the whole command: the tag must be one
    /// of the two command tags and the size field must equal `command.len()`.
    pub fn parse(command: &[u8]) -> Result<Self, Error> {
        let raw = RawHeader::read(command, "command header")?;
        let tag = TpmSt(raw.tag.get());
        if tag != TpmSt::NO_SESSIONS && tag != TpmSt::SESSIONS {
            return Err(Error::BadValue {
                what: "command tag",
                value: u32::from(tag.0),
            });
        }
        Ok(Self {
            tag,
            size: raw.size.get(),
            code: TpmCc(raw.code.get()),
        })
    }

    /// The wire form.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let raw = RawHeader {
            tag: self.tag.0.into(),
            size: self.size.into(),
            code: self.code.0.into(),
        };
        let mut out = [0u8; HEADER_SIZE];
        out.copy_from_slice(raw.as_bytes());
        out
    }
}

/// A validated response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    /// TPM_ST_NO_SESSIONS or TPM_ST_SESSIONS (TPM_ST_RSP_COMMAND only from TPM 1.2 devices).
    pub tag: TpmSt,
    /// Total size of the response.
    pub size: u32,
    /// The response code.
    pub code: TpmRc,
}

impl ResponseHeader {
    /// Validates the header of `response`, which must be the whole response.
    ///
    /// TPM_ST_RSP_COMMAND is accepted because a TPM 2.0 answers a TPM 1.2-format command that
    /// way (with TPM_RC_BAD_TAG); a non-success response must be exactly the header.
    pub fn parse(response: &[u8]) -> Result<Self, Error> {
        let raw = RawHeader::read(response, "response header")?;
        let tag = TpmSt(raw.tag.get());
        if ![TpmSt::NO_SESSIONS, TpmSt::SESSIONS, TpmSt::RSP_COMMAND].contains(&tag) {
            return Err(Error::BadValue {
                what: "response tag",
                value: u32::from(tag.0),
            });
        }
        let code = TpmRc(raw.code.get());
        if !code.is_success() && response.len() != HEADER_SIZE {
            return Err(Error::TrailingBytes {
                what: "error response",
                count: response.len() - HEADER_SIZE,
            });
        }
        Ok(Self {
            tag,
            size: raw.size.get(),
            code,
        })
    }

    /// The wire form.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let raw = RawHeader {
            tag: self.tag.0.into(),
            size: self.size.into(),
            code: self.code.0.into(),
        };
        let mut out = [0u8; HEADER_SIZE];
        out.copy_from_slice(raw.as_bytes());
        out
    }
}

/// The declared size in a header prefix, for transports that must know how much to read
/// (TIS FIFO, sockets). `None` if fewer than [`HEADER_SIZE`] bytes are given.
pub fn declared_size(prefix: &[u8]) -> Option<u32> {
    RawHeader::read_from_prefix(prefix)
        .ok()
        .map(|(raw, _)| raw.size.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    // TPM2_Startup(TPM_SU_CLEAR) and its success response, as tpm2-tools sends them.
    const STARTUP: [u8; 12] = [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x44, 0, 0];
    const SUCCESS: [u8; 10] = [0x80, 0x01, 0, 0, 0, 0x0a, 0, 0, 0, 0];

    #[test]
    fn parses_golden_headers() {
        let h = CommandHeader::parse(&STARTUP).unwrap();
        assert_eq!(
            (h.tag, h.size, h.code),
            (TpmSt::NO_SESSIONS, 12, TpmCc::STARTUP)
        );
        assert_eq!(h.to_bytes(), STARTUP[..10]);
        let r = ResponseHeader::parse(&SUCCESS).unwrap();
        assert!(r.code.is_success());
        assert_eq!(r.to_bytes(), SUCCESS);
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(
            CommandHeader::parse(&STARTUP[..9]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            CommandHeader::parse(&STARTUP[..11]),
            Err(Error::SizeMismatch { .. })
        ));
        let mut bad = STARTUP;
        bad[1] = 0xC1;
        assert!(matches!(
            CommandHeader::parse(&bad),
            Err(Error::BadValue { .. })
        ));
        let mut err_with_body = [0u8; 12];
        err_with_body.copy_from_slice(&[0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x01, 0, 0]);
        assert!(matches!(
            ResponseHeader::parse(&err_with_body),
            Err(Error::TrailingBytes { .. })
        ));
    }
}

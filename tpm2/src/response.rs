//! Whole responses (part 1 §18.8–§18.10, part 3 §5 "response structure"): header, handle area
//! (for commands that return a handle), and, when the tag is TPM_ST_SESSIONS, `parameterSize`,
//! the parameters and the authorization area.

use alloc::vec::Vec;

use crate::auth::{TpmsAuthResponse, read_response_sessions};
use crate::cc::TpmCc;
use crate::command::finish_size;
use crate::handle::TpmHandle;
use crate::header::{HEADER_SIZE, ResponseHeader};
use crate::rc::TpmRc;
use crate::st::TpmSt;
use crate::{Error, Marshal, Reader, Unmarshal};

/// A response split into its areas. Parameters borrow from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// The validated header.
    pub header: ResponseHeader,
    /// The returned handle, for commands that return one (only on success).
    pub handle: Option<TpmHandle>,
    /// The parameter area, still marshalled (empty on error).
    pub parameters: &'a [u8],
    /// The response sessions (empty for TPM_ST_NO_SESSIONS).
    pub sessions: Vec<TpmsAuthResponse>,
}

impl<'a> Response<'a> {
    /// Splits the response to a command with code `code` (whose part 3 shape tells whether a
    /// handle comes first). A response to an unknown code is taken to carry no handle.
    pub fn parse(bytes: &'a [u8], code: TpmCc) -> Result<Self, Error> {
        let header = ResponseHeader::parse(bytes)?;
        let mut r = Reader::new(&bytes[HEADER_SIZE..]);
        if !header.code.is_success() {
            return Ok(Self {
                header,
                handle: None,
                parameters: &[],
                sessions: Vec::new(),
            });
        }
        let handle = match code.info() {
            Some(info) if info.response_handles > 0 => Some(TpmHandle::unmarshal(&mut r)?),
            _ => None,
        };
        if header.tag == TpmSt::SESSIONS {
            let size = usize::try_from(r.u32("parameterSize")?).unwrap_or(usize::MAX);
            if size > r.remaining() {
                return Err(Error::SizeMismatch {
                    what: "parameterSize",
                    declared: size,
                    actual: r.remaining(),
                });
            }
            let parameters = r.bytes(size, "response parameters")?;
            let sessions = read_response_sessions(&mut r)?;
            Ok(Self {
                header,
                handle,
                parameters,
                sessions,
            })
        } else {
            Ok(Self {
                header,
                handle,
                parameters: r.take_rest(),
                sessions: Vec::new(),
            })
        }
    }

    /// The response code.
    pub const fn code(&self) -> TpmRc {
        self.header.code
    }

    /// Decodes the parameter area as `P`, which must consume all of it.
    pub fn params<P: Unmarshal>(&self) -> Result<P, Error> {
        P::from_bytes(self.parameters)
    }
}

/// Builds the bytes of a successful response. The tag is TPM_ST_SESSIONS exactly when
/// `sessions` is not empty (`parameterSize` is then written).
pub fn build_response(
    handle: Option<TpmHandle>,
    parameters: &[u8],
    sessions: &[TpmsAuthResponse],
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(HEADER_SIZE + 8 + parameters.len());
    let tag = if sessions.is_empty() {
        TpmSt::NO_SESSIONS
    } else {
        TpmSt::SESSIONS
    };
    tag.marshal(&mut out);
    0u32.marshal(&mut out);
    TpmRc::SUCCESS.0.marshal(&mut out);
    if let Some(h) = handle {
        h.marshal(&mut out);
    }
    if !sessions.is_empty() {
        u32::try_from(parameters.len())
            .unwrap_or(u32::MAX)
            .marshal(&mut out);
    }
    out.extend_from_slice(parameters);
    sessions.marshal(&mut out);
    finish_size(out, "response")
}

/// The 10-byte response carrying only `rc` (every error response looks like this).
pub fn error_response(rc: TpmRc) -> [u8; HEADER_SIZE] {
    ResponseHeader {
        tag: TpmSt::NO_SESSIONS,
        size: 10,
        code: rc,
    }
    .to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TpmaSession;
    use crate::structures::{Tpm2bAuth, Tpm2bNonce};

    #[test]
    fn error_response_has_no_body() {
        let bytes = error_response(TpmRc::INITIALIZE);
        assert_eq!(bytes, [0x80, 0x01, 0, 0, 0, 0x0a, 0, 0, 0x01, 0x00]);
        let r = Response::parse(&bytes, TpmCc::STARTUP).unwrap();
        assert_eq!(r.code(), TpmRc::INITIALIZE);
        assert!(r.parameters.is_empty());
    }

    #[test]
    fn sessions_round_trip() {
        let s = TpmsAuthResponse {
            nonce: Tpm2bNonce::new(&[1; 16]).unwrap(),
            attributes: TpmaSession(TpmaSession::CONTINUE_SESSION),
            hmac: Tpm2bAuth::empty(),
        };
        let bytes = build_response(None, &[0, 2, 0xAA, 0xBB], core::slice::from_ref(&s)).unwrap();
        let r = Response::parse(&bytes, TpmCc::GET_RANDOM).unwrap();
        assert_eq!(r.parameters, &[0, 2, 0xAA, 0xBB]);
        assert_eq!(r.sessions, [s]);
        // parameterSize claiming more than is there.
        let mut bad = bytes.clone();
        bad[13] = 0xFF;
        assert!(matches!(
            Response::parse(&bad, TpmCc::GET_RANDOM),
            Err(Error::SizeMismatch { .. })
        ));
    }
}

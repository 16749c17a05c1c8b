//! Sending one command to the hardware TPM and taking its response apart (part 1 §18: the
//! command and response structures; part 3 §5: the handle, authorization and parameter areas),
//! with the authorization sessions the manager uses (part 1 §19.6: password authorization;
//! part 1 §19.7: policy sessions started by TPM2_StartAuthSession, part 3 §11.1).
//!
//! Every response byte is hostile: parameters are decoded with the bounds-checked `tpm2`
//! readers and must be consumed exactly.

use alloc::format;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use tpm2::alg::TpmAlgId;
use tpm2::auth::{TpmaSession, TpmsAuthCommand};
use tpm2::cc::TpmCc;
use tpm2::client::{Client, ClientError};
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::st::TpmSe;
use tpm2::structures::{Tpm2bAuth, Tpm2bEncryptedSecret, Tpm2bNonce, TpmtSymDef};
use tpm2::transport::Transport;
use tpm2::{Marshal, Reader, Unmarshal};

use super::error::HwError;

/// How often a command answered with a "try again" warning (TPM_RC_RETRY, TPM_RC_YIELDED,
/// TPM_RC_TESTING, TPM_RC_NV_RATE) is sent again before the warning is reported.
const WARNING_RETRIES: u32 = 16;

/// A successful response: the returned handle (if the command returns one) and the parameter
/// area, still marshalled.
pub(crate) struct Answer {
    pub(crate) handle: Option<TpmHandle>,
    pub(crate) params: Vec<u8>,
}

impl Answer {
    /// The returned handle; a command that should return one and did not is an error.
    pub(crate) fn handle(&self, command: TpmCc) -> Result<TpmHandle, HwError> {
        self.handle.ok_or(HwError::Wire {
            command,
            error: tpm2::Error::Truncated {
                what: "response handle",
                needed: 4,
                available: 0,
            },
        })
    }

    /// A reader over the parameters that names `command` in its errors.
    pub(crate) fn reader(&self, command: TpmCc) -> Params<'_> {
        Params {
            command,
            r: Reader::new(&self.params),
        }
    }
}

/// A bounds-checked reader over one response's parameters.
pub(crate) struct Params<'a> {
    command: TpmCc,
    r: Reader<'a>,
}

impl Params<'_> {
    /// Reads the next parameter.
    pub(crate) fn read<U: Unmarshal>(&mut self) -> Result<U, HwError> {
        U::unmarshal(&mut self.r).map_err(|error| HwError::Wire {
            command: self.command,
            error,
        })
    }

    /// Checks that every parameter byte was used.
    pub(crate) fn finish(&self) -> Result<(), HwError> {
        self.r
            .finish("response parameters")
            .map_err(|error| HwError::Wire {
                command: self.command,
                error,
            })
    }
}

/// The client end of the hardware TPM: a [`Client`] plus the nonce counter of policy sessions.
pub(crate) struct Wire<T> {
    client: Client<T>,
    nonce_counter: u64,
}

impl<T: Transport> Wire<T> {
    pub(crate) fn new(transport: T) -> Self {
        Self {
            client: Client::new(transport),
            nonce_counter: 0,
        }
    }

    pub(crate) fn transport_mut(&mut self) -> &mut T {
        self.client.transport_mut()
    }

    pub(crate) fn into_transport(self) -> T {
        self.client.into_transport()
    }

    /// Sends `code` with `handles`, `sessions` and the marshalled `params`; an error response
    /// becomes [`HwError::Tpm`]. "Try again" warnings are retried a bounded number of times.
    pub(crate) fn exec(
        &mut self,
        code: TpmCc,
        handles: &[TpmHandle],
        sessions: &[TpmsAuthCommand],
        params: &[u8],
    ) -> Result<Answer, HwError> {
        let bytes = build_command(code, handles, sessions, params).map_err(|_| {
            HwError::BadArgument("a command to the hardware TPM would exceed 4096 bytes")
        })?;
        let mut attempt = 0;
        loop {
            let raw = self.client.execute_raw(&bytes).map_err(|e| match e {
                ClientError::Transport(t) => HwError::Transport(format!("{t}")),
                ClientError::Wire(error) => HwError::Wire {
                    command: code,
                    error,
                },
                ClientError::Tpm { command, rc } => HwError::Tpm { command, rc },
            })?;
            let rsp = Response::parse(raw, code).map_err(|error| HwError::Wire {
                command: code,
                error,
            })?;
            let rc = rsp.code();
            if rc.is_success() {
                return Ok(Answer {
                    handle: rsp.handle,
                    params: rsp.parameters.to_vec(),
                });
            }
            attempt += 1;
            if !is_transient(rc) || attempt > WARNING_RETRIES {
                return Err(HwError::Tpm { command: code, rc });
            }
        }
    }

    /// TPM2_FlushContext (part 3 §28.4). Errors are returned, not hidden; callers that flush on
    /// an error path ignore them in favour of the first error.
    pub(crate) fn flush(&mut self, handle: TpmHandle) -> Result<(), HwError> {
        let a = self.exec(TpmCc::FLUSH_CONTEXT, &[], &[], &handle.to_bytes())?;
        a.reader(TpmCc::FLUSH_CONTEXT).finish()
    }

    /// A fresh 32-byte caller nonce. Policy sessions without an HMAC do not depend on nonce
    /// secrecy (part 1 §19.7); the nonce only has to be of a size the TPM accepts (16 bytes up
    /// to the session hash's digest size, part 3 §11.1), so a counter hashed with SHA-256 will
    /// do.
    fn next_nonce(&mut self) -> Tpm2bNonce {
        self.nonce_counter = self.nonce_counter.wrapping_add(1);
        let digest = Sha256::new()
            .chain_update(b"vtpmmgr policy nonce")
            .chain_update(self.nonce_counter.to_be_bytes())
            .finalize();
        Tpm2bNonce::new(&digest).unwrap_or_else(|_| Tpm2bNonce::empty())
    }

    /// TPM2_StartAuthSession (part 3 §11.1) of an unbound, unsalted SHA-256 policy session
    /// without parameter encryption. Returns its handle.
    pub(crate) fn start_policy_session(&mut self) -> Result<TpmHandle, HwError> {
        let mut p = Vec::new();
        self.next_nonce().marshal(&mut p);
        Tpm2bEncryptedSecret::empty().marshal(&mut p);
        TpmSe::POLICY.marshal(&mut p);
        TpmtSymDef::Null.marshal(&mut p);
        TpmAlgId::SHA256.marshal(&mut p);
        let a = self.exec(
            TpmCc::START_AUTH_SESSION,
            &[TpmHandle::NULL, TpmHandle::NULL],
            &[],
            &p,
        )?;
        let handle = a.handle(TpmCc::START_AUTH_SESSION)?;
        let mut r = a.reader(TpmCc::START_AUTH_SESSION);
        let _nonce_tpm: Tpm2bNonce = r.read()?;
        r.finish()?;
        Ok(handle)
    }

    /// The authorization of a policy session in a command (no HMAC: the policy has neither
    /// TPM2_PolicyAuthValue nor TPM2_PolicyPassword). The session is kept open
    /// (continueSession); the caller flushes it.
    pub(crate) fn policy_auth(&mut self, session: TpmHandle) -> TpmsAuthCommand {
        TpmsAuthCommand {
            session_handle: session,
            nonce: self.next_nonce(),
            attributes: TpmaSession(TpmaSession::CONTINUE_SESSION),
            hmac: Tpm2bAuth::empty(),
        }
    }
}

/// A password authorization (TPM_RS_PW, part 1 §19.6.5) with `auth`; an auth value longer than
/// a TPM2B_AUTH can hold is refused.
pub(crate) fn password(auth: &[u8]) -> Result<TpmsAuthCommand, HwError> {
    Ok(TpmsAuthCommand::password(Tpm2bAuth::new(auth).map_err(
        |_| HwError::BadArgument("an authorization value is longer than 64 bytes"),
    )?))
}

/// Warnings after which the same command may succeed (part 2 §6.6.3).
fn is_transient(rc: TpmRc) -> bool {
    matches!(
        rc,
        TpmRc::RETRY | TpmRc::YIELDED | TpmRc::TESTING | TpmRc::NV_RATE
    )
}

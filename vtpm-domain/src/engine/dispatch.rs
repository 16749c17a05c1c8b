//! Command dispatch in the order of TCG TPM 2.0 Library part 3 §5 ("Command Processing", rev
//! 1.59 numbering): header (§5.2: tag, size, command code), mode checks (§5.3: failure mode,
//! TPM_RC_INITIALIZE before Startup), handle area (§5.4: handle types and presence), session
//! area (§5.5) and authorization checks (§5.6, done by `auth`), parameter decryption (§5.7, also
//! `auth`), then the command's own parameter unmarshalling (§5.8) and actions, and the response
//! with its sessions.
//!
//! Format-one response codes carry the number of the handle, session or parameter they refer
//! to (part 2 §6.6.3); [`Ctx::param`] counts parameters so handlers get this right without
//! bookkeeping.

use alloc::vec::Vec;

use tpm2::auth::{MAX_SESSIONS, MIN_AUTH_COMMAND_SIZE, TpmsAuthCommand};
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::header::{HEADER_SIZE, MAX_PACKET_SIZE};
use tpm2::rc::TpmRc;
use tpm2::response::{build_response, error_response};
use tpm2::st::TpmSt;
use tpm2::{Marshal, Reader, Unmarshal};

use super::Engine;
use super::auth;
use super::commands;
use super::entity::{self, HandleKind};
use super::rcmap::wire_rc;

/// Which role an authorization handle is checked for (part 1 §19.2: USER, ADMIN, DUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthRole {
    /// The default role.
    User,
    /// Certification, ObjectChangeAuth and other administrative uses of an object.
    Admin,
    /// TPM2_Duplicate of an object: always by a policy session (part 1 §19.2).
    Dup,
}

/// A command handler: unmarshal parameters from `ctx`, act, marshal outputs into `ctx`.
pub(crate) type Handler = fn(&mut Engine, &mut Ctx) -> Result<(), TpmRc>;

/// One implemented command.
pub(crate) struct Entry {
    /// The command code.
    pub cc: TpmCc,
    /// The interface type of each handle of the handle area, in order.
    pub handles: &'static [HandleKind],
    /// The role of each authorization handle (the first `auth_handles` handles); missing
    /// entries mean [`AuthRole::User`].
    pub roles: &'static [AuthRole],
    /// Whether a successful run may change state that must survive a crash (NV, persistent
    /// objects, hierarchy authorizations), so that the domain persists before answering.
    pub nv: bool,
    /// The action.
    pub handler: Handler,
}

/// Everything a handler sees of its command.
pub(crate) struct Ctx {
    /// The handle area (types and presence already checked).
    pub handles: Vec<TpmHandle>,
    /// The parameter area, decrypted if a session asked for it.
    params: Vec<u8>,
    pos: usize,
    index: u8,
    /// The handle the response returns, if any.
    pub out_handle: Option<TpmHandle>,
    /// The response parameters.
    pub out: Vec<u8>,
    /// Set by TPM2_SetCommandCodeAuditStatus when it changed the audit algorithm: the command
    /// is then not audited (part 3 §21.2).
    pub audit_alg_changed: bool,
}

impl Ctx {
    /// The next parameter, unmarshalled as `T`. An error carries the parameter's number.
    pub(crate) fn param<T: Unmarshal>(&mut self) -> Result<T, TpmRc> {
        self.param_with(T::unmarshal)
    }

    /// The next parameter, read by `f` (for the "+" forms that allow TPM_ALG_NULL and the
    /// like).
    pub(crate) fn param_with<T>(
        &mut self,
        f: impl FnOnce(&mut Reader<'_>) -> Result<T, tpm2::Error>,
    ) -> Result<T, TpmRc> {
        self.index = self.index.saturating_add(1);
        let rest = self.params.get(self.pos..).unwrap_or(&[]);
        let mut r = Reader::new(rest);
        match f(&mut r) {
            Ok(v) => {
                self.pos += r.position();
                Ok(v)
            }
            Err(e) => Err(wire_rc(&e).with_parameter(self.index)),
        }
    }

    /// The number of the parameter read last (for errors found after unmarshalling).
    pub(crate) fn index(&self) -> u8 {
        self.index
    }

    /// Checks that every parameter byte was consumed (part 3 §5.8: TPM_RC_SIZE otherwise).
    pub(crate) fn finish(&self) -> Result<(), TpmRc> {
        if self.pos == self.params.len() {
            Ok(())
        } else {
            Err(TpmRc::SIZE)
        }
    }

    /// Appends a response parameter.
    pub(crate) fn put<T: Marshal + ?Sized>(&mut self, v: &T) {
        v.marshal(&mut self.out);
    }
}

/// Every implemented command, from every command family.
pub(crate) fn entries() -> impl Iterator<Item = &'static Entry> {
    commands::FAMILIES.iter().flat_map(|f| f.iter())
}

/// The entry of an implemented command.
pub(crate) fn lookup(cc: TpmCc) -> Option<&'static Entry> {
    entries().find(|e| e.cc == cc)
}

/// Runs one command and returns its response bytes.
pub(crate) fn execute(engine: &mut Engine, command: &[u8]) -> Vec<u8> {
    match run(engine, command) {
        Ok(rsp) => rsp,
        Err(rc) => error_response(rc).to_vec(),
    }
}

/// Reads the authorization area (part 1 §18.7) with the response codes of the reference
/// implementation (checked against swtpm in `tests/sessions_vs_swtpm.rs`): TPM_RC_SIZE for an
/// authorizationSize below one session or beyond the command, and for a fourth session (with
/// session number 4); a session that does not unmarshal gives its field's code with the
/// session number.
fn read_sessions(r: &mut Reader<'_>) -> Result<Vec<TpmsAuthCommand>, TpmRc> {
    let size = r
        .u32("authorizationSize")
        .map_err(|_| TpmRc::INSUFFICIENT)?;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size < MIN_AUTH_COMMAND_SIZE || size > r.remaining() {
        return Err(TpmRc::SIZE);
    }
    let mut area = Reader::new(
        r.bytes(size, "authorization area")
            .map_err(|_| TpmRc::SIZE)?,
    );
    let mut sessions = Vec::new();
    while !area.is_empty() {
        let n = u8::try_from(sessions.len() + 1).unwrap_or(u8::MAX);
        if sessions.len() == MAX_SESSIONS {
            return Err(TpmRc::SIZE.with_session(n));
        }
        let s = TpmsAuthCommand::unmarshal(&mut area).map_err(|e| wire_rc(&e).with_session(n))?;
        sessions.push(s);
    }
    Ok(sessions)
}

fn run(engine: &mut Engine, command: &[u8]) -> Result<Vec<u8>, TpmRc> {
    // §5.2 command header validation.
    if command.len() < HEADER_SIZE {
        return Err(TpmRc::INSUFFICIENT);
    }
    let tag = TpmSt(u16::from_be_bytes([command[0], command[1]]));
    if tag != TpmSt::SESSIONS && tag != TpmSt::NO_SESSIONS {
        // Part 2's TPMI_ST_COMMAND_TAG fails with TPM_RC_BAD_TAG. swtpm 0.7.1 answers
        // TPM_RC_VALUE here; where it and the specification disagree we follow the
        // specification (docs/engine.md lists the deliberate differences).
        return Err(TpmRc::BAD_TAG);
    }
    let size = u32::from_be_bytes([command[2], command[3], command[4], command[5]]);
    if usize::try_from(size).ok() != Some(command.len()) || command.len() > MAX_PACKET_SIZE {
        return Err(TpmRc::COMMAND_SIZE);
    }
    let cc = TpmCc(u32::from_be_bytes([
        command[6], command[7], command[8], command[9],
    ]));
    let Some(entry) = lookup(cc) else {
        return Err(TpmRc::COMMAND_CODE);
    };
    let Some(info) = cc.info() else {
        return Err(TpmRc::COMMAND_CODE);
    };
    // §5.3 mode checks.
    if engine.state.vol.failed_test.is_some() {
        // Failure mode: only TPM2_GetTestResult and TPM2_GetCapability run,
        // with or without TPM2_Startup.
        if cc != TpmCc::GET_TEST_RESULT && cc != TpmCc::GET_CAPABILITY {
            return Err(TpmRc::FAILURE);
        }
    } else if engine.state.vol.started == (cc == TpmCc::STARTUP) {
        // Nothing but TPM2_Startup before it, and TPM2_Startup only once: both are refused
        // before any parameter is read (as libtpms does).
        return Err(TpmRc::INITIALIZE);
    }

    // §5.4 handle area validation. As in the reference implementation, a handle of the wrong
    // type (TPM_RC_VALUE) or a missing one fails while the handle area is unmarshalled, in
    // order; whether the entities exist is checked once all handles are read.
    let mut r = Reader::new(&command[HEADER_SIZE..]);
    let mut handles = Vec::with_capacity(entry.handles.len());
    let mut absent = None;
    for (i, kind) in entry.handles.iter().enumerate() {
        let n = u8::try_from(i + 1).unwrap_or(u8::MAX);
        let h = TpmHandle::unmarshal(&mut r).map_err(|_| TpmRc::INSUFFICIENT.with_handle(n))?;
        match entity::check_handle(engine, *kind, h) {
            Ok(()) => {}
            Err(TpmRc::VALUE) => return Err(TpmRc::VALUE.with_handle(n)),
            // TPM_RC_REFERENCE_H0..H6 number the handle in the code itself (part 2 §6.6.3).
            Err(TpmRc::REFERENCE_H0) => {
                absent = absent.or(Some(TpmRc(TpmRc::REFERENCE_H0.0 + u32::from(n - 1))));
            }
            Err(rc) => absent = absent.or(Some(rc.with_handle(n))),
        }
        handles.push(h);
    }
    if let Some(rc) = absent {
        return Err(rc);
    }

    // §5.5 session area validation; §5.6 authorization checks and §5.7 parameter decryption
    // in `auth::authorize`.
    let has_sessions = tag == TpmSt::SESSIONS;
    let sessions = if has_sessions {
        if info.no_sessions {
            // A session on a command that cannot take one (Startup and the context commands).
            return Err(TpmRc::AUTH_CONTEXT);
        }
        read_sessions(&mut r)?
    } else {
        if info.auth_handles > 0 {
            return Err(TpmRc::AUTH_MISSING);
        }
        Vec::new()
    };
    let mut params = r.take_rest().to_vec();
    // Command audit (part 1 §33): cpHash over the parameters as received (still encrypted).
    let audit_cp = engine.state.perm.audit.is_audited(cc).then(|| {
        let names: Vec<Vec<u8>> = handles.iter().map(|h| entity::name(engine, *h)).collect();
        auth::cp_hash(engine.state.perm.audit.alg, cc, &names, &params)
    });
    let auth_ctx = auth::authorize(engine, entry, info, &handles, &sessions, &mut params)?;

    // §5.8 parameter unmarshalling (by the handler, through `Ctx::param`) and the actions.
    let mut ctx = Ctx {
        handles,
        params,
        pos: 0,
        index: 0,
        out_handle: None,
        out: Vec::new(),
        audit_alg_changed: false,
    };
    let result = (entry.handler)(engine, &mut ctx);
    if let Err(rc) = result {
        auth::command_failed(engine, auth_ctx, rc);
        return Err(rc);
    }
    if entry.nv {
        engine.dirty = true;
    }
    let rsp_sessions = auth::respond(engine, auth_ctx, cc, &mut ctx.out)?;
    if let Some(cp) = audit_cp.filter(|_| !ctx.audit_alg_changed) {
        // rpHash over the response parameters as sent (after any encryption).
        let audit = &mut engine.state.perm.audit;
        let rp = auth::rp_hash(audit.alg, cc, &ctx.out);
        audit.extend(&cp, &rp);
        engine.dirty = true;
    }
    build_response(ctx.out_handle, &ctx.out, &rsp_sessions).map_err(|_| TpmRc::SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    #[test]
    fn every_entry_is_a_known_command_with_the_right_handle_count() {
        let mut seen = BTreeSet::new();
        for e in entries() {
            let info =
                e.cc.info()
                    .expect("implemented commands are library commands");
            assert_eq!(usize::from(info.handles), e.handles.len(), "{}", e.cc);
            assert!(e.roles.len() <= usize::from(info.auth_handles), "{}", e.cc);
            assert!(seen.insert(e.cc.0), "{} registered twice", e.cc);
        }
    }
}

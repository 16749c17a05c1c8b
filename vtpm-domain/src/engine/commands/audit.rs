//! TPM2_SetCommandCodeAuditStatus (TCG TPM 2.0 Library part 3 §21.2): which commands are
//! audited and with which hash (the audit itself is `engine::audit`, run by the dispatcher).
//!
//! auth is TPMI_RH_PROVISION (owner or platform, USER role). As the reference implementation
//! (libtpms `AuditCommands.c`):
//!
//! - an auditAlg other than TPM_ALG_NULL and the current algorithm changes the algorithm and
//!   clears the digest; setList and clearList must then both be empty (TPM_RC_VALUE for
//!   parameter 1), and the command is not audited;
//! - otherwise setList is applied, then clearList; command codes this TPM does not implement
//!   are ignored, as are TPM2_Shutdown in setList and TPM2_SetCommandCodeAuditStatus in
//!   clearList.

use tpm2::cc::TpmCc;
use tpm2::rc::TpmRc;
use tpm2::structures::TpmlCc;

use crate::engine::Engine;
use crate::engine::dispatch::{self, AuthRole, Ctx, Entry};
use crate::engine::entity::HandleKind;
use crate::engine::pcr::read_hash_alg;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[Entry {
    cc: TpmCc::SET_COMMAND_CODE_AUDIT_STATUS,
    handles: &[HandleKind::Provision],
    roles: &[AuthRole::User],
    nv: true,
    handler: set_command_code_audit_status,
}];

/// TPM2_SetCommandCodeAuditStatus (part 3 §21.2).
///
/// Parameters: auditAlg (1, TPMI_ALG_HASH+), setList (2, TPML_CC), clearList (3, TPML_CC).
fn set_command_code_audit_status(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let alg = ctx.param_with(|r| read_hash_alg(r, true))?;
    let set_list: TpmlCc = ctx.param()?;
    let clear_list: TpmlCc = ctx.param()?;
    ctx.finish()?;
    let audit = &mut e.state.perm.audit;
    match alg {
        Some(alg) if alg != audit.alg => {
            if !set_list.is_empty() || !clear_list.is_empty() {
                return Err(TpmRc::VALUE.with_parameter(1));
            }
            audit.alg = alg;
            audit.digest.clear();
            ctx.audit_alg_changed = true;
        }
        _ => {
            for cc in set_list
                .iter()
                .filter(|cc| dispatch::lookup(**cc).is_some())
            {
                audit.set(*cc);
            }
            for cc in &clear_list {
                audit.clear(*cc);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;

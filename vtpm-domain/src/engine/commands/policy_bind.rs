//! Enhanced Authorization commands that restrict what the session may authorize (TCG TPM 2.0
//! Library part 3 §23; the checks at authorization time are in `auth.rs`):
//!
//! - §23.8 TPM2_PolicyCpHash, §23.12 TPM2_PolicyNameHash, §23.21 TPM2_PolicyTemplate:
//!   `H(policyDigest || cc || digest)`; the session keeps one such binding (the reference
//!   implementation's `u1`): a cpHash may be asserted again with the same value, a template
//!   hash likewise, anything else is TPM_RC_CPHASH.
//! - §23.15 TPM2_PolicyDuplicationSelect: `H(policyDigest || cc || [objectName] ||
//!   newParentName || includeObject)`; binds the session to TPM2_Duplicate of that object to
//!   that parent (nameHash `H(objectName || newParentName)`).
//! - §23.20 TPM2_PolicyNvWritten: `H(policyDigest || cc || writtenSet)`.
//! - §23.14 TPM2_PolicyPhysicalPresence: `H(policyDigest || cc)`; no physical presence ever
//!   reaches a virtual TPM, so a session with it authorizes nothing (TPM_RC_PP).

use tpm2::cc::TpmCc;
use tpm2::rc::TpmRc;
use tpm2::structures::{Tpm2bDigest, Tpm2bName};

use super::policy::{extend, session};
use crate::engine::Engine;
use crate::engine::crypto::hash::digest;
use crate::engine::dispatch::{Ctx, Entry};
use crate::engine::entity::HandleKind;
use crate::engine::session::PolicyBinding;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::POLICY_CP_HASH,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_cp_hash,
    },
    Entry {
        cc: TpmCc::POLICY_NAME_HASH,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_name_hash,
    },
    Entry {
        cc: TpmCc::POLICY_TEMPLATE,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_template,
    },
    Entry {
        cc: TpmCc::POLICY_DUPLICATION_SELECT,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_duplication_select,
    },
    Entry {
        cc: TpmCc::POLICY_NV_WRITTEN,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_nv_written,
    },
    Entry {
        cc: TpmCc::POLICY_PHYSICAL_PRESENCE,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_physical_presence,
    },
];

/// A TPMI_YES_NO parameter `n`.
fn yes_no(v: u8, n: u8) -> Result<bool, TpmRc> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(TpmRc::VALUE.with_parameter(n)),
    }
}

/// TPM2_PolicyCpHash (part 3 §23.8). Parameter: cpHashA (1).
fn policy_cp_hash(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let cp_hash: Tpm2bDigest = ctx.param()?;
    ctx.finish()?;
    let s = session(e, ctx)?;
    let d = cp_hash.as_bytes();
    if d.len() != s.hash.digest_size() {
        return Err(TpmRc::SIZE.with_parameter(1));
    }
    match &s.policy.binding {
        PolicyBinding::None => {}
        PolicyBinding::CpHash(old) if old.as_slice() == d => {}
        _ => return Err(TpmRc::CPHASH),
    }
    extend(s, TpmCc::POLICY_CP_HASH, &[d]);
    s.policy.binding = PolicyBinding::CpHash(d.to_vec());
    Ok(())
}

/// TPM2_PolicyNameHash (part 3 §23.12). Parameter: nameHash (1).
fn policy_name_hash(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let name_hash: Tpm2bDigest = ctx.param()?;
    ctx.finish()?;
    let s = session(e, ctx)?;
    let d = name_hash.as_bytes();
    if d.len() != s.hash.digest_size() {
        return Err(TpmRc::SIZE.with_parameter(1));
    }
    if s.policy.binding != PolicyBinding::None {
        return Err(TpmRc::CPHASH);
    }
    extend(s, TpmCc::POLICY_NAME_HASH, &[d]);
    s.policy.binding = PolicyBinding::NameHash(d.to_vec());
    Ok(())
}

/// TPM2_PolicyTemplate (part 3 §23.21). Parameter: templateHash (1).
fn policy_template(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let template_hash: Tpm2bDigest = ctx.param()?;
    ctx.finish()?;
    let s = session(e, ctx)?;
    let d = template_hash.as_bytes();
    match &s.policy.binding {
        PolicyBinding::TemplateHash(old) if old.as_slice() != d => {
            return Err(TpmRc::VALUE.with_parameter(1));
        }
        PolicyBinding::None | PolicyBinding::TemplateHash(_) => {}
        _ => return Err(TpmRc::CPHASH),
    }
    if d.len() != s.hash.digest_size() {
        return Err(TpmRc::SIZE.with_parameter(1));
    }
    extend(s, TpmCc::POLICY_TEMPLATE, &[d]);
    s.policy.binding = PolicyBinding::TemplateHash(d.to_vec());
    Ok(())
}

/// TPM2_PolicyDuplicationSelect (part 3 §23.15).
///
/// Parameters: objectName (1), newParentName (2), includeObject (3).
fn policy_duplication_select(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let object_name: Tpm2bName = ctx.param()?;
    let parent_name: Tpm2bName = ctx.param()?;
    let include = yes_no(ctx.param()?, 3)?;
    ctx.finish()?;
    let s = session(e, ctx)?;
    if s.policy.binding != PolicyBinding::None {
        return Err(TpmRc::CPHASH);
    }
    if s.policy.command_code.is_some() {
        return Err(TpmRc::COMMAND_CODE);
    }
    let (object, parent) = (object_name.as_bytes(), parent_name.as_bytes());
    let name_hash = digest(s.hash, &[object, parent]);
    let flag = [u8::from(include)];
    let selected: &[u8] = if include { object } else { &[] };
    extend(
        s,
        TpmCc::POLICY_DUPLICATION_SELECT,
        &[selected, parent, &flag],
    );
    s.policy.binding = PolicyBinding::NameHash(name_hash);
    s.policy.command_code = Some(TpmCc::DUPLICATE);
    Ok(())
}

/// TPM2_PolicyNvWritten (part 3 §23.20). Parameter: writtenSet (1); asserting the other value
/// in the same session is TPM_RC_VALUE.
fn policy_nv_written(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let written = yes_no(ctx.param()?, 1)?;
    ctx.finish()?;
    let s = session(e, ctx)?;
    if s.policy.nv_written.is_some_and(|w| w != written) {
        return Err(TpmRc::VALUE.with_parameter(1));
    }
    extend(s, TpmCc::POLICY_NV_WRITTEN, &[&[u8::from(written)]]);
    s.policy.nv_written = Some(written);
    Ok(())
}

/// TPM2_PolicyPhysicalPresence (part 3 §23.14).
fn policy_physical_presence(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let s = session(e, ctx)?;
    extend(s, TpmCc::POLICY_PHYSICAL_PRESENCE, &[]);
    s.policy.pp_required = true;
    Ok(())
}

//! Integrity collection (TCG TPM 2.0 Library part 3 §22): TPM2_PCR_Extend (§22.2),
//! TPM2_PCR_Event (§22.3), TPM2_PCR_Read (§22.4), TPM2_PCR_Allocate (§22.5) and
//! TPM2_PCR_Reset (§22.8). The PCR model and its PC Client attributes are in
//! [`crate::engine::pcr`].
//!
//! TPM2_PCR_Event hashes the event data with every implemented hash (SHA-1, SHA-256, SHA-384,
//! SHA-512) and returns all four digests whatever the allocation, as libtpms does; only the
//! allocated banks are extended. TPM2_PCR_Allocate takes effect at the next TPM Reset
//! (TPM2_Startup(CLEAR)); until then the old allocation stays in use.

use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{Tpm2bDigest, Tpm2bEvent, TpmlDigest, TpmlDigestValues, TpmtHa};

use crate::engine::Engine;
use crate::engine::crypto::hash::{HashAlg, digest};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::{HandleKind, pcr_index};
use crate::engine::pcr::{self, allocate, read_digest_values, read_selection};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::PCR_EXTEND,
        handles: &[HandleKind::PcrOrNull],
        roles: &[AuthRole::User],
        nv: false,
        handler: pcr_extend,
    },
    Entry {
        cc: TpmCc::PCR_EVENT,
        handles: &[HandleKind::PcrOrNull],
        roles: &[AuthRole::User],
        nv: false,
        handler: pcr_event,
    },
    Entry {
        cc: TpmCc::PCR_READ,
        handles: &[],
        roles: &[],
        nv: false,
        handler: pcr_read,
    },
    Entry {
        cc: TpmCc::PCR_ALLOCATE,
        handles: &[HandleKind::Platform],
        roles: &[AuthRole::User],
        nv: true,
        handler: pcr_allocate,
    },
    Entry {
        cc: TpmCc::PCR_RESET,
        handles: &[HandleKind::Pcr],
        roles: &[AuthRole::User],
        nv: false,
        handler: pcr_reset,
    },
];

/// The PCR a TPMI_DH_PCR+ handle names (`None` for TPM_RH_NULL), checked against the
/// locality of the command for an extend (TPM_RC_LOCALITY).
pub(crate) fn extend_target(e: &Engine, h: TpmHandle) -> Result<Option<usize>, TpmRc> {
    if h == TpmHandle::NULL {
        return Ok(None);
    }
    let pcr = pcr_index(h).map_err(|rc| rc.with_handle(1))?;
    if !pcr::may_extend(pcr, e.locality) {
        return Err(TpmRc::LOCALITY);
    }
    Ok(Some(pcr))
}

/// Hashes `data` with every implemented hash and extends each digest into PCR `pcr` (if any):
/// the action of TPM2_PCR_Event and TPM2_EventSequenceComplete.
pub(crate) fn event_digests(
    e: &mut Engine,
    pcr: Option<usize>,
    digests: impl IntoIterator<Item = (HashAlg, alloc::vec::Vec<u8>)>,
) -> Result<TpmlDigestValues, TpmRc> {
    let mut out = TpmlDigestValues::empty();
    for (alg, d) in digests {
        if let Some(p) = pcr {
            e.state.vol.pcr.extend(p, alg, &d);
        }
        out.push(TpmtHa::new(alg.alg(), &d).map_err(|_| TpmRc::SIZE)?)
            .map_err(|_| TpmRc::SIZE)?;
    }
    Ok(out)
}

/// TPM2_PCR_Extend (§22.2).
fn pcr_extend(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let digests = ctx.param_with(read_digest_values)?;
    ctx.finish()?;
    let Some(pcr) = extend_target(e, ctx.handles[0])? else {
        return Ok(());
    };
    for (alg, d) in digests {
        e.state.vol.pcr.extend(pcr, alg, &d);
    }
    Ok(())
}

/// TPM2_PCR_Event (§22.3).
fn pcr_event(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bEvent = ctx.param()?;
    ctx.finish()?;
    let pcr = extend_target(e, ctx.handles[0])?;
    let digests = HashAlg::ALL.map(|a| (a, digest(a, &[data.as_bytes()])));
    let out = event_digests(e, pcr, digests)?;
    ctx.put(&out);
    Ok(())
}

/// TPM2_PCR_Read (§22.4).
fn pcr_read(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let selection = ctx.param_with(read_selection)?;
    ctx.finish()?;
    let banks = &e.state.vol.pcr;
    let (selection_out, values) = banks.read(&selection);
    let mut digests = TpmlDigest::empty();
    for v in values {
        digests
            .push(Tpm2bDigest::new(v).map_err(|_| TpmRc::SIZE)?)
            .map_err(|_| TpmRc::SIZE)?;
    }
    let counter = banks.update_counter;
    ctx.put(&counter);
    ctx.put(&selection_out);
    ctx.put(&digests);
    Ok(())
}

/// TPM2_PCR_Allocate (§22.5).
fn pcr_allocate(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let request = ctx.param_with(read_selection)?;
    ctx.finish()?;
    let a = allocate(&e.state.perm.pcr_allocation, &request)?;
    let success = a.fits();
    if success {
        e.state.perm.pcr_allocation_pending = Some(a.selection.clone());
    }
    ctx.put(&u8::from(success));
    ctx.put(&a.max_pcr);
    ctx.put(&a.size_needed);
    ctx.put(&a.size_available);
    Ok(())
}

/// TPM2_PCR_Reset (§22.8).
fn pcr_reset(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let pcr = pcr_index(ctx.handles[0]).map_err(|rc| rc.with_handle(1))?;
    if !pcr::may_reset(pcr, e.locality) {
        return Err(TpmRc::LOCALITY);
    }
    e.state.vol.pcr.reset(pcr);
    Ok(())
}

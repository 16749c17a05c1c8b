//! TPM2_Startup and TPM2_Shutdown (part 3 §9.3, §9.4) with the TPM Reset / Restart / Resume
//! semantics of part 1 §12.2.3:
//!
//! | last shutdown | Startup | effect |
//! |---|---|---|
//! | none or CLEAR | CLEAR | TPM Reset: new NULL seed and proof, counters, PCR allocation applied |
//! | STATE | CLEAR | TPM Restart: PCRs reset, saved contexts stay valid |
//! | STATE | STATE | TPM Resume: PCRs restored from the saved state |
//! | none or CLEAR | STATE | TPM_RC_VALUE |
//!
//! TPM Reset and TPM Restart also clear the NV indices' STCLEAR locks and CLEAR_STCLEAR
//! written flags (`nv::NvStore::startup_clear`, part 2 §13.4).
//! TPM Reset clears the command audit digest (`audit`, libtpms `CommandAuditStartup`).
//! TPM Reset also starts the commit mechanism of the two-phase ECC commands afresh (new
//! commitNonce, counter 0, nothing outstanding; `commands::ecc_commit`), as the reference
//! implementation's `CryptStartup` does.

use tpm2::rc::TpmRc;
use tpm2::st::TpmSu;

use crate::engine::Engine;
use crate::engine::dispatch::{Ctx, Entry};
use crate::engine::pcr::PcrBanks;
use crate::engine::state::{CommitState, Saved, ShutdownKind};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: tpm2::cc::TpmCc::STARTUP,
        handles: &[],
        roles: &[],
        nv: true,
        handler: startup,
    },
    Entry {
        cc: tpm2::cc::TpmCc::SHUTDOWN,
        handles: &[],
        roles: &[],
        nv: true,
        handler: shutdown,
    },
];

fn startup(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let su: TpmSu = ctx.param()?;
    ctx.finish()?;
    // (A second TPM2_Startup never gets here: the dispatcher refuses it.)
    let locality = e.locality;
    // PC Client: TPM2_Startup comes from locality 0, or 3 for an H-CRTM start.
    if locality != 0 && locality != 3 {
        return Err(TpmRc::LOCALITY);
    }
    let st = &mut e.state;
    if su == TpmSu::STATE
        && st
            .saved
            .as_ref()
            .is_some_and(|s| s.startup_locality != locality)
    {
        return Err(TpmRc::LOCALITY);
    }
    let saved = st.saved.take();
    match (su, saved) {
        (TpmSu::STATE, Some(saved))
            if st.perm.shutdown == ShutdownKind::State
                && st.perm.pcr_allocation_pending.is_none() =>
        {
            // TPM Resume.
            st.vol.pcr = saved.pcr.resumed();
            st.vol.null_seed = saved.null_seed;
            st.vol.null_proof = saved.null_proof;
            st.vol.context_counter = saved.context_counter;
            st.vol.clear_count = saved.clear_count;
            st.vol.sessions = saved.sessions;
            st.vol.session_contexts = saved.session_contexts;
            st.vol.platform_auth = saved.platform_auth;
            st.vol.platform_policy = saved.platform_policy;
            st.perm.restart_count = st.perm.restart_count.wrapping_add(1);
        }
        (TpmSu::STATE, saved) => {
            st.saved = saved;
            return Err(TpmRc::VALUE.with_parameter(1));
        }
        (_, Some(saved)) if st.perm.shutdown == ShutdownKind::State => {
            // TPM Restart: the NULL hierarchy and saved contexts survive, PCRs do not.
            st.vol.pcr = saved.pcr.restarted();
            st.vol.pcr.set_startup_locality(locality);
            st.vol.null_seed = saved.null_seed;
            st.vol.null_proof = saved.null_proof;
            st.vol.context_counter = saved.context_counter;
            st.vol.clear_count = saved.clear_count.wrapping_add(1);
            st.vol.sessions = saved.sessions;
            st.vol.session_contexts = saved.session_contexts;
            st.perm.restart_count = st.perm.restart_count.wrapping_add(1);
            st.perm.nv.startup_clear(false);
        }
        _ => {
            // TPM Reset (volatile state, including the NULL seed, was renewed at _TPM_Init).
            if let Some(alloc) = st.perm.pcr_allocation_pending.take() {
                st.perm.pcr_allocation = alloc;
            }
            st.vol.pcr = PcrBanks::new(&st.perm.pcr_allocation);
            st.vol.pcr.set_startup_locality(locality);
            st.perm.reset_count = st.perm.reset_count.wrapping_add(1);
            st.perm.restart_count = 0;
            st.perm.nv.startup_clear(true);
            // The command audit digest survives TPM Restart and Resume only (part 1 §33).
            st.perm.audit.digest.clear();
            st.commit = CommitState::default();
        }
    }
    st.vol.orderly = st.perm.shutdown != ShutdownKind::None;
    if !st.vol.orderly {
        // Part 1 §19.8.6: an authorization may have been tried and the failure lost in the
        // power loss, so a non-orderly shutdown counts as one failed try.
        let da = &mut st.perm.da;
        da.failed_tries = da.failed_tries.saturating_add(1).min(da.max_tries);
    }
    st.perm.shutdown = ShutdownKind::None;
    st.vol.startup_locality = locality;
    st.vol.started = true;
    Ok(())
}

fn shutdown(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let su: TpmSu = ctx.param()?;
    ctx.finish()?;
    let st = &mut e.state;
    if su == TpmSu::STATE && st.perm.pcr_allocation_pending.is_some() {
        // Part 3 §9.4: the saved PCRs would not match the new allocation.
        return Err(TpmRc::TYPE.with_parameter(1));
    }
    if su == TpmSu::STATE {
        st.saved = Some(Saved {
            pcr: st.vol.pcr.clone(),
            null_seed: st.vol.null_seed.clone(),
            null_proof: st.vol.null_proof.clone(),
            context_counter: st.vol.context_counter,
            clear_count: st.vol.clear_count,
            platform_auth: st.vol.platform_auth.clone(),
            platform_policy: st.vol.platform_policy.clone(),
            sessions: alloc::collections::BTreeMap::new(),
            session_contexts: alloc::collections::BTreeMap::new(),
            startup_locality: st.vol.startup_locality,
        });
        st.perm.shutdown = ShutdownKind::State;
    } else {
        st.saved = None;
        st.perm.shutdown = ShutdownKind::Clear;
    }
    Ok(())
}

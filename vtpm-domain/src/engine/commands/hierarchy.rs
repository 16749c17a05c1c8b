//! Hierarchy commands (TCG TPM 2.0 Library part 3 §24) and the clock commands (§29):
//!
//! - §24.6 TPM2_Clear: a new storage primary seed, new owner and endorsement proofs, empty
//!   owner/endorsement/lockout authorizations and policies, both hierarchies enabled, their
//!   transient and persistent objects gone, every NV index the owner defined undefined (indices
//!   with TPMA_NV_PLATFORMCREATE stay), the dictionary-attack parameters back to the values
//!   the TPM was manufactured with, Clock, resetCount and restartCount back to zero, and a PCR
//!   change recorded (policy sessions that checked PCRs fail afterwards). The endorsement
//!   primary seed is kept, so the EK stays the same. Refused with TPM_RC_DISABLED while
//!   disableClear is set.
//! - §24.7 TPM2_ClearControl: sets or clears disableClear; only platformAuth may clear it
//!   (lockoutAuth asking to is TPM_RC_AUTH_FAIL).
//! - §24.8 TPM2_HierarchyChangeAuth: trailing zeros of newAuth are dropped; more than 64 bytes
//!   (the largest digest) is TPM_RC_SIZE. platformAuth lasts until the next TPM Reset.
//! - §24.9 TPM2_HierarchyControl: a hierarchy may disable itself; only the platform may
//!   enable one again or touch phEnable / phEnableNV (TPM_RC_AUTH_TYPE otherwise). Disabling
//!   a hierarchy flushes its transient objects; its persistent objects and NV indices stay but
//!   cannot be reached until it is enabled again.
//! - §24.5 TPM2_SetPrimaryPolicy: the policy's size must be the digest size of hashAlg (zero
//!   for TPM_ALG_NULL), else TPM_RC_SIZE.
//! - §24.3 TPM2_ChangePPS and §24.4 TPM2_ChangeEPS: a new platform (endorsement) seed and
//!   proof; the hierarchy's policy (and for the endorsement hierarchy its authValue) is reset
//!   and its transient and persistent objects are flushed. NV indices are not touched.
//! - §29.1 TPM2_ReadClock: TPMS_TIME_INFO. `time` counts milliseconds since the engine was
//!   powered on (or restored from its state in a new process, which is a power cycle for the
//!   guest); `safe` is TPMA_STARTUP_CLEAR.orderly, as in TPM2_Quote.
//! - §29.2 TPM2_ClockSet: Clock may only move forward and not beyond 0xFFFF000000000000
//!   (TPM_RC_VALUE).
//! - §29.3 TPM2_ClockRateAdjust: the adjustment is checked (TPM_CLOCK_ADJUST, −3…3) and has no
//!   effect: Clock follows the host's monotonic clock, which is already disciplined.
//!
//! Response codes and their parameter numbers follow libtpms (swtpm 0.7.1); the cases are
//! checked in `tests/hierarchy_vs_swtpm.rs`.

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{Tpm2bAuth, Tpm2bDigest, TpmaNv, TpmsClockInfo, TpmsTimeInfo};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::engine::commands::object::adjust_auth;
use crate::engine::crypto::hash::HashAlg;
use crate::engine::dispatch::{Ctx, Entry};
use crate::engine::entity::HandleKind as K;
use crate::engine::state::{DaState, Policy, SEED_SIZE, Secret};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::CLEAR,
        handles: &[K::Clear],
        roles: &[],
        nv: true,
        handler: clear,
    },
    Entry {
        cc: TpmCc::CLEAR_CONTROL,
        handles: &[K::Clear],
        roles: &[],
        nv: true,
        handler: clear_control,
    },
    Entry {
        cc: TpmCc::HIERARCHY_CHANGE_AUTH,
        handles: &[K::HierarchyAuth],
        roles: &[],
        nv: true,
        handler: hierarchy_change_auth,
    },
    Entry {
        cc: TpmCc::HIERARCHY_CONTROL,
        handles: &[K::Hierarchy],
        roles: &[],
        nv: true,
        handler: hierarchy_control,
    },
    Entry {
        cc: TpmCc::SET_PRIMARY_POLICY,
        handles: &[K::HierarchyAuth],
        roles: &[],
        nv: true,
        handler: set_primary_policy,
    },
    Entry {
        cc: TpmCc::CHANGE_PPS,
        handles: &[K::Platform],
        roles: &[],
        nv: true,
        handler: change_pps,
    },
    Entry {
        cc: TpmCc::CHANGE_EPS,
        handles: &[K::Platform],
        roles: &[],
        nv: true,
        handler: change_eps,
    },
    Entry {
        cc: TpmCc::READ_CLOCK,
        handles: &[],
        roles: &[],
        nv: false,
        handler: read_clock,
    },
    Entry {
        cc: TpmCc::CLOCK_SET,
        handles: &[K::Provision],
        roles: &[],
        nv: true,
        handler: clock_set,
    },
    Entry {
        cc: TpmCc::CLOCK_RATE_ADJUST,
        handles: &[K::Provision],
        roles: &[],
        nv: false,
        handler: clock_rate_adjust,
    },
];

/// The largest value TPM2_ClockSet accepts.
const CLOCK_SET_MAX: u64 = 0xFFFF_0000_0000_0000;

/// A TPMI_YES_NO parameter (TPM_RC_VALUE for anything but 0 and 1).
fn yes_no(ctx: &mut Ctx) -> Result<bool, TpmRc> {
    let v: u8 = ctx.param()?;
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(TpmRc::VALUE.with_parameter(ctx.index())),
    }
}

/// A new random seed or proof.
fn fresh_secret(e: &mut Engine) -> Secret {
    let mut v = Zeroizing::new(alloc::vec![0u8; SEED_SIZE]);
    e.random(&mut v);
    v
}

/// Flushes the loaded transient objects of `hierarchy`.
fn flush_transient(e: &mut Engine, hierarchy: TpmHandle) {
    e.state.vol.objects.retain(|_, o| o.hierarchy != hierarchy);
}

/// Evicts the persistent objects of `hierarchy`.
fn evict_persistent(e: &mut Engine, hierarchy: TpmHandle) {
    e.state
        .perm
        .persistent
        .retain(|_, o| o.hierarchy != hierarchy);
}

/// TPM2_Clear (part 3 §24.6).
fn clear(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    if e.state.perm.disable_clear {
        return Err(TpmRc::DISABLED);
    }
    let sps = fresh_secret(e);
    let sh_proof = fresh_secret(e);
    let eh_proof = fresh_secret(e);
    let p = &mut e.state.perm;
    p.sps = sps;
    p.sh_proof = sh_proof;
    p.eh_proof = eh_proof;
    p.owner_auth = Zeroizing::default();
    p.endorsement_auth = Zeroizing::default();
    p.lockout_auth = Zeroizing::default();
    p.owner_policy = Policy::none();
    p.endorsement_policy = Policy::none();
    p.lockout_policy = Policy::none();
    p.da = DaState::new();
    p.clock = 0;
    p.reset_count = 0;
    p.restart_count = 0;
    p.nv.indices.retain(|_, i| i.has(TpmaNv::PLATFORMCREATE));
    for h in [TpmHandle::OWNER, TpmHandle::ENDORSEMENT] {
        flush_transient(e, h);
        evict_persistent(e, h);
    }
    let v = &mut e.state.vol;
    v.sh_enable = true;
    v.eh_enable = true;
    v.clear_count = 0;
    v.pcr.record_change();
    Ok(())
}

/// TPM2_ClearControl (part 3 §24.7).
fn clear_control(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let disable = yes_no(ctx)?;
    ctx.finish()?;
    if ctx.handles[0] == TpmHandle::LOCKOUT && !disable {
        return Err(TpmRc::AUTH_FAIL);
    }
    e.state.perm.disable_clear = disable;
    Ok(())
}

/// TPM2_HierarchyChangeAuth (part 3 §24.8).
fn hierarchy_change_auth(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let new_auth: Tpm2bAuth = ctx.param()?;
    ctx.finish()?;
    let auth =
        adjust_auth(new_auth.as_bytes(), TpmAlgId::NULL).ok_or(TpmRc::SIZE.with_parameter(1))?;
    let s = &mut e.state;
    match ctx.handles[0] {
        TpmHandle::LOCKOUT => s.perm.lockout_auth = auth,
        TpmHandle::OWNER => s.perm.owner_auth = auth,
        TpmHandle::ENDORSEMENT => s.perm.endorsement_auth = auth,
        _ => s.vol.platform_auth = auth,
    }
    Ok(())
}

/// TPM2_HierarchyControl (part 3 §24.9).
fn hierarchy_control(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let enable: u32 = ctx.param()?;
    let enable = TpmHandle(enable);
    if !matches!(
        enable,
        TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM | TpmHandle::PLATFORM_NV
    ) {
        return Err(TpmRc::VALUE.with_parameter(1));
    }
    let state = yes_no(ctx)?;
    ctx.finish()?;
    let auth = ctx.handles[0];
    let v = &e.state.vol;
    let allowed = match enable {
        TpmHandle::OWNER => {
            auth == TpmHandle::PLATFORM || (auth == TpmHandle::OWNER && (v.sh_enable || !state))
        }
        TpmHandle::ENDORSEMENT => {
            auth == TpmHandle::PLATFORM
                || (auth == TpmHandle::ENDORSEMENT && (v.eh_enable || !state))
        }
        _ => auth == TpmHandle::PLATFORM,
    };
    if !allowed {
        return Err(TpmRc::AUTH_TYPE);
    }
    let v = &mut e.state.vol;
    let flag = match enable {
        TpmHandle::OWNER => &mut v.sh_enable,
        TpmHandle::ENDORSEMENT => &mut v.eh_enable,
        TpmHandle::PLATFORM => &mut v.ph_enable,
        _ => &mut v.ph_enable_nv,
    };
    if *flag != state {
        *flag = state;
        if !state && enable != TpmHandle::PLATFORM_NV {
            flush_transient(e, enable);
        }
    }
    Ok(())
}

/// TPM2_SetPrimaryPolicy (part 3 §24.5).
fn set_primary_policy(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let auth_policy: Tpm2bDigest = ctx.param()?;
    let hash: u16 = ctx.param()?;
    let alg = TpmAlgId(hash);
    let size = if alg == TpmAlgId::NULL {
        0
    } else {
        HashAlg::from_alg(alg)
            .ok_or(TpmRc::HASH.with_parameter(2))?
            .digest_size()
    };
    ctx.finish()?;
    if auth_policy.as_bytes().len() != size {
        return Err(TpmRc::SIZE.with_parameter(1));
    }
    let policy = Policy {
        alg,
        digest: auth_policy.as_bytes().to_vec(),
    };
    let s = &mut e.state;
    match ctx.handles[0] {
        TpmHandle::LOCKOUT => s.perm.lockout_policy = policy,
        TpmHandle::OWNER => s.perm.owner_policy = policy,
        TpmHandle::ENDORSEMENT => s.perm.endorsement_policy = policy,
        _ => s.vol.platform_policy = policy,
    }
    Ok(())
}

/// TPM2_ChangePPS (part 3 §24.3).
fn change_pps(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let pps = fresh_secret(e);
    let ph_proof = fresh_secret(e);
    e.state.perm.pps = pps;
    e.state.perm.ph_proof = ph_proof;
    e.state.vol.platform_policy = Policy::none();
    flush_transient(e, TpmHandle::PLATFORM);
    evict_persistent(e, TpmHandle::PLATFORM);
    Ok(())
}

/// TPM2_ChangeEPS (part 3 §24.4).
fn change_eps(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let eps = fresh_secret(e);
    let eh_proof = fresh_secret(e);
    let p = &mut e.state.perm;
    p.eps = eps;
    p.eh_proof = eh_proof;
    p.endorsement_auth = Zeroizing::default();
    p.endorsement_policy = Policy::none();
    flush_transient(e, TpmHandle::ENDORSEMENT);
    evict_persistent(e, TpmHandle::ENDORSEMENT);
    Ok(())
}

/// The TPM's TPMS_TIME_INFO now.
pub(crate) fn time_info(e: &mut Engine) -> TpmsTimeInfo {
    let perm = &e.state.perm;
    let clock_info = TpmsClockInfo {
        clock: perm.clock,
        reset_count: perm.reset_count,
        restart_count: perm.restart_count,
        safe: e.state.vol.orderly,
    };
    TpmsTimeInfo {
        time: e.time_ms(),
        clock_info,
    }
}

/// TPM2_ReadClock (part 3 §29.1).
fn read_clock(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let info = time_info(e);
    ctx.put(&info);
    Ok(())
}

/// TPM2_ClockSet (part 3 §29.2).
fn clock_set(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let new_time: u64 = ctx.param()?;
    ctx.finish()?;
    let old = e.state.perm.clock;
    if new_time > CLOCK_SET_MAX || new_time < old {
        return Err(TpmRc::VALUE.with_parameter(1));
    }
    e.state.perm.clock = new_time;
    // Dictionary-attack recovery counts time that passed, not Clock (libtpms heals with the
    // time since _TPM_Init): the failure times move with Clock, so setting Clock forward heals
    // nothing and cannot unlock lockoutAuth early.
    let shift = new_time - old;
    let da = &mut e.state.perm.da;
    da.last_tick = da.last_tick.saturating_add(shift);
    da.lockout_failed_at = da.lockout_failed_at.saturating_add(shift);
    Ok(())
}

/// TPM2_ClockRateAdjust (part 3 §29.3).
fn clock_rate_adjust(_e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let adjust: u8 = ctx.param()?;
    // TPM_CLOCK_ADJUST is an INT8 from -3 (COARSE_SLOWER) to 3 (COARSE_FASTER); its
    // unmarshalling fails before trailing bytes are looked at.
    if !matches!(adjust, 0..=3 | 0xFD..=0xFF) {
        return Err(TpmRc::VALUE.with_parameter(1));
    }
    ctx.finish()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use tpm2::Unmarshal;
    use tpm2::structures::TpmsNvPublic;
    use tpm2::{Marshal, Reader};

    use crate::engine::commands::object::tests::{
        FIXED_PARENT, FIXED_TPM, HMAC_SHA256, SDO, SIGN, UWA, create_params, create_primary_raw,
        keyedhash_template, storage_primary,
    };
    use crate::engine::testutil::{TestPlatform, expect_rc, fresh_engine, ok_params, pw, pw_with};
    use alloc::boxed::Box;

    fn engine_with_clock() -> (Engine, crate::engine::testutil::Clock) {
        let platform = TestPlatform::new(3);
        let clock = platform.clock();
        let mut e = Engine::manufacture(Box::new(platform));
        ok_params(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0]);
        (e, clock)
    }

    #[test]
    fn setting_the_clock_forward_does_not_end_a_lockout() {
        let (mut e, clock) = engine_with_clock();
        let recovery = e.state.perm.da.lockout_recovery;
        assert!(recovery > 0, "the manufacturer's lockoutRecovery");
        // A wrong lockout password locks lockoutAuth.
        let bad = pw_with(b"wrong");
        expect_rc(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &[TpmHandle::LOCKOUT],
            &[bad],
            &[1],
            TpmRc::AUTH_FAIL.with_session(1),
        );
        let locked = [TpmHandle::LOCKOUT];
        expect_rc(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &locked,
            &[pw()],
            &[1],
            TpmRc::LOCKOUT,
        );
        // The owner sets Clock far past the recovery time: still locked.
        let later = e.state.perm.clock + u64::from(recovery) * 1000 + 5_000;
        let owner = [TpmHandle::OWNER];
        expect_rc(
            &mut e,
            TpmCc::CLOCK_SET,
            &owner,
            &[pw()],
            &later.to_be_bytes(),
            TpmRc::SUCCESS,
        );
        expect_rc(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &locked,
            &[pw()],
            &[1],
            TpmRc::LOCKOUT,
        );
        // Real time passing ends it.
        clock.advance(u64::from(recovery) * 1000 + 1);
        expect_rc(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &locked,
            &[pw()],
            &[1],
            TpmRc::SUCCESS,
        );
    }

    fn define_index(e: &mut Engine, handle: u32, platform_created: bool) {
        let mut attrs = TpmaNv::AUTHREAD | TpmaNv::AUTHWRITE;
        if platform_created {
            attrs |= TpmaNv::PLATFORMCREATE;
        }
        let public = TpmsNvPublic {
            nv_index: TpmHandle(handle),
            name_alg: TpmAlgId::SHA256,
            attributes: TpmaNv(attrs),
            auth_policy: Tpm2bDigest::empty(),
            data_size: 8,
        };
        let mut p = Tpm2bAuth::empty().to_bytes();
        p.extend_from_slice(&tpm2::structures::Tpm2bNvPublic { nv_public: public }.to_bytes());
        let auth = if platform_created {
            TpmHandle::PLATFORM
        } else {
            TpmHandle::OWNER
        };
        ok_params(e, TpmCc::NV_DEFINE_SPACE, &[auth], &[pw()], &p);
    }

    fn time_info_now(e: &mut Engine) -> TpmsTimeInfo {
        let p = ok_params(e, TpmCc::READ_CLOCK, &[], &[], &[]);
        TpmsTimeInfo::unmarshal(&mut Reader::new(&p)).unwrap()
    }

    #[test]
    fn clear_resets_the_owner_and_keeps_the_endorsement_seed() {
        let (mut e, clock) = engine_with_clock();
        clock.advance(5_000);
        let owner_key = storage_primary(&mut e).handle;
        let hmac_template =
            keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        create_primary_raw(
            &mut e,
            TpmHandle::ENDORSEMENT,
            &create_params(&[], &[], &hmac_template),
        );
        define_index(&mut e, 0x0150_0001, false);
        define_index(&mut e, 0x0140_0001, true);
        ok_params(
            &mut e,
            TpmCc::HIERARCHY_CHANGE_AUTH,
            &[TpmHandle::OWNER],
            &[pw()],
            &Tpm2bAuth::new(b"owner").unwrap().to_bytes(),
        );
        let eps = e.state.perm.eps.clone();
        let sps = e.state.perm.sps.clone();
        let counter = e.state.vol.pcr.update_counter;
        assert!(time_info_now(&mut e).clock_info.clock >= 5_000);

        ok_params(&mut e, TpmCc::CLEAR, &[TpmHandle::LOCKOUT], &[pw()], &[]);
        assert!(e.state.perm.owner_auth.is_empty());
        assert_eq!(e.state.perm.eps, eps);
        assert_ne!(e.state.perm.sps, sps);
        assert!(e.state.object(owner_key).is_none());
        assert!(
            e.state.vol.objects.is_empty(),
            "endorsement object flushed too"
        );
        let left: Vec<u32> = e.state.perm.nv.indices.keys().copied().collect();
        assert_eq!(left, [0x0140_0001], "only the platform's index stays");
        assert_eq!(e.state.vol.pcr.update_counter, counter.wrapping_add(1));
        let t = time_info_now(&mut e);
        assert!(t.clock_info.clock < 5_000, "Clock restarts from zero");
        assert_eq!(
            (t.clock_info.reset_count, t.clock_info.restart_count),
            (0, 0)
        );
        // The old owner password is gone: the empty one works again.
        ok_params(
            &mut e,
            TpmCc::HIERARCHY_CHANGE_AUTH,
            &[TpmHandle::OWNER],
            &[pw()],
            &Tpm2bAuth::empty().to_bytes(),
        );
    }

    #[test]
    fn clear_control() {
        let mut e = crate::engine::testutil::engine();
        let yes = [1u8];
        let no = [0u8];
        ok_params(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &[TpmHandle::LOCKOUT],
            &[pw()],
            &yes,
        );
        expect_rc(
            &mut e,
            TpmCc::CLEAR,
            &[TpmHandle::LOCKOUT],
            &[pw()],
            &[],
            TpmRc::DISABLED,
        );
        expect_rc(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &[TpmHandle::LOCKOUT],
            &[pw()],
            &no,
            TpmRc::AUTH_FAIL,
        );
        expect_rc(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &[TpmHandle::PLATFORM],
            &[pw()],
            &[2],
            TpmRc::VALUE.with_parameter(1),
        );
        expect_rc(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &[TpmHandle::OWNER],
            &[pw()],
            &no,
            TpmRc::VALUE.with_handle(1),
        );
        ok_params(
            &mut e,
            TpmCc::CLEAR_CONTROL,
            &[TpmHandle::PLATFORM],
            &[pw()],
            &no,
        );
        ok_params(&mut e, TpmCc::CLEAR, &[TpmHandle::PLATFORM], &[pw()], &[]);
    }

    #[test]
    fn hierarchy_change_auth_trims_and_limits() {
        let mut e = crate::engine::testutil::engine();
        let mut auth = b"lock".to_vec();
        auth.extend_from_slice(&[0, 0]);
        ok_params(
            &mut e,
            TpmCc::HIERARCHY_CHANGE_AUTH,
            &[TpmHandle::LOCKOUT],
            &[pw()],
            &Tpm2bAuth::new(&auth).unwrap().to_bytes(),
        );
        assert_eq!(&e.state.perm.lockout_auth[..], b"lock");
        let long = [7u8; 65];
        let mut p = 65u16.to_be_bytes().to_vec();
        p.extend_from_slice(&long);
        expect_rc(
            &mut e,
            TpmCc::HIERARCHY_CHANGE_AUTH,
            &[TpmHandle::ENDORSEMENT],
            &[pw()],
            &p,
            TpmRc::SIZE.with_parameter(1),
        );
        ok_params(
            &mut e,
            TpmCc::HIERARCHY_CHANGE_AUTH,
            &[TpmHandle::PLATFORM],
            &[pw()],
            &Tpm2bAuth::new(b"pl").unwrap().to_bytes(),
        );
        assert_eq!(&e.state.vol.platform_auth[..], b"pl");
        ok_params(
            &mut e,
            TpmCc::CLEAR,
            &[TpmHandle::LOCKOUT],
            &[pw_with(b"lock")],
            &[],
        );
        assert!(e.state.perm.lockout_auth.is_empty());
    }

    fn control(e: &mut Engine, auth: TpmHandle, enable: TpmHandle, state: u8, want: TpmRc) {
        let mut p = enable.0.to_be_bytes().to_vec();
        p.push(state);
        expect_rc(e, TpmCc::HIERARCHY_CONTROL, &[auth], &[pw()], &p, want);
    }

    #[test]
    fn hierarchy_control_rules() {
        let mut e = crate::engine::testutil::engine();
        let (o, en, pl) = (
            TpmHandle::OWNER,
            TpmHandle::ENDORSEMENT,
            TpmHandle::PLATFORM,
        );
        control(&mut e, o, en, 0, TpmRc::AUTH_TYPE);
        control(&mut e, o, TpmHandle::PLATFORM_NV, 0, TpmRc::AUTH_TYPE);
        control(
            &mut e,
            o,
            TpmHandle::NULL,
            0,
            TpmRc::VALUE.with_parameter(1),
        );
        control(&mut e, o, o, 2, TpmRc::VALUE.with_parameter(2));
        let key = storage_primary(&mut e).handle;
        control(&mut e, o, o, 0, TpmRc::SUCCESS);
        assert!(!e.state.vol.sh_enable);
        assert!(
            e.state.object(key).is_none(),
            "the owner's objects are flushed"
        );
        // The owner hierarchy is gone: its handle is refused, only the platform re-enables it.
        control(&mut e, o, o, 1, TpmRc::HIERARCHY.with_handle(1));
        control(&mut e, en, o, 1, TpmRc::AUTH_TYPE);
        control(&mut e, pl, o, 1, TpmRc::SUCCESS);
        assert!(e.state.vol.sh_enable);
        control(&mut e, en, en, 0, TpmRc::SUCCESS);
        control(&mut e, pl, TpmHandle::PLATFORM_NV, 0, TpmRc::SUCCESS);
        assert!(!e.state.vol.ph_enable_nv);
        control(&mut e, pl, pl, 0, TpmRc::SUCCESS);
        control(&mut e, pl, en, 1, TpmRc::HIERARCHY.with_handle(1));
        // A TPM Reset enables everything again.
        e.power_on();
        ok_params(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0]);
        assert!(e.state.vol.ph_enable && e.state.vol.eh_enable && e.state.vol.ph_enable_nv);
    }

    #[test]
    fn set_primary_policy_sizes() {
        let mut e = crate::engine::testutil::engine();
        let d32 = Tpm2bDigest::new(&[9u8; 32]).unwrap().to_bytes();
        let with = |d: &[u8], alg: u16| {
            let mut p = d.to_vec();
            p.extend_from_slice(&alg.to_be_bytes());
            p
        };
        let sha256 = TpmAlgId::SHA256.0;
        ok_params(
            &mut e,
            TpmCc::SET_PRIMARY_POLICY,
            &[TpmHandle::OWNER],
            &[pw()],
            &with(&d32, sha256),
        );
        assert_eq!(e.state.perm.owner_policy.digest, [9u8; 32]);
        expect_rc(
            &mut e,
            TpmCc::SET_PRIMARY_POLICY,
            &[TpmHandle::LOCKOUT],
            &[pw()],
            &with(&d32, TpmAlgId::SHA1.0),
            TpmRc::SIZE.with_parameter(1),
        );
        expect_rc(
            &mut e,
            TpmCc::SET_PRIMARY_POLICY,
            &[TpmHandle::LOCKOUT],
            &[pw()],
            &with(&d32, TpmAlgId::AES.0),
            TpmRc::HASH.with_parameter(2),
        );
        ok_params(
            &mut e,
            TpmCc::SET_PRIMARY_POLICY,
            &[TpmHandle::OWNER],
            &[pw()],
            &with(&[0, 0], TpmAlgId::NULL.0),
        );
        assert!(e.state.perm.owner_policy.digest.is_empty());
        ok_params(
            &mut e,
            TpmCc::SET_PRIMARY_POLICY,
            &[TpmHandle::PLATFORM],
            &[pw()],
            &with(&d32, sha256),
        );
        assert_eq!(e.state.vol.platform_policy.alg, TpmAlgId::SHA256);
    }

    #[test]
    fn change_seeds() {
        let mut e = crate::engine::testutil::engine();
        let (pps, eps) = (e.state.perm.pps.clone(), e.state.perm.eps.clone());
        e.state.perm.endorsement_auth = Zeroizing::new(b"x".to_vec());
        ok_params(
            &mut e,
            TpmCc::CHANGE_PPS,
            &[TpmHandle::PLATFORM],
            &[pw()],
            &[],
        );
        assert_ne!(e.state.perm.pps, pps);
        assert_eq!(e.state.perm.eps, eps);
        ok_params(
            &mut e,
            TpmCc::CHANGE_EPS,
            &[TpmHandle::PLATFORM],
            &[pw()],
            &[],
        );
        assert_ne!(e.state.perm.eps, eps);
        assert!(e.state.perm.endorsement_auth.is_empty());
        expect_rc(
            &mut e,
            TpmCc::CHANGE_EPS,
            &[TpmHandle::OWNER],
            &[pw()],
            &[],
            TpmRc::VALUE.with_handle(1),
        );
    }

    #[test]
    fn clocks() {
        let (mut e, clock) = engine_with_clock();
        clock.advance(1_500);
        let t = time_info_now(&mut e);
        assert!(t.time >= 1_500 && t.clock_info.clock >= 1_500);
        let set = |e: &mut Engine, v: u64, want: TpmRc| {
            expect_rc(
                e,
                TpmCc::CLOCK_SET,
                &[TpmHandle::OWNER],
                &[pw()],
                &v.to_be_bytes(),
                want,
            );
        };
        set(&mut e, 1_000, TpmRc::VALUE.with_parameter(1));
        set(&mut e, CLOCK_SET_MAX + 1, TpmRc::VALUE.with_parameter(1));
        set(&mut e, 1_000_000, TpmRc::SUCCESS);
        let t = time_info_now(&mut e);
        assert!(t.clock_info.clock >= 1_000_000);
        assert!(t.time < 1_000_000, "time is not Clock");
        for (v, want) in [
            (3u8, TpmRc::SUCCESS),
            (0xFD, TpmRc::SUCCESS),
            (4, TpmRc::VALUE.with_parameter(1)),
            (0xFC, TpmRc::VALUE.with_parameter(1)),
        ] {
            expect_rc(
                &mut e,
                TpmCc::CLOCK_RATE_ADJUST,
                &[TpmHandle::PLATFORM],
                &[pw()],
                &[v],
                want,
            );
        }
        let mut fresh = fresh_engine(9);
        expect_rc(
            &mut fresh,
            TpmCc::READ_CLOCK,
            &[],
            &[],
            &[],
            TpmRc::INITIALIZE,
        );
    }
}

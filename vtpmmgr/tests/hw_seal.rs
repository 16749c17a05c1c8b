//! Provisioning and unsealing against a private swtpm as the hardware TPM: the root key comes
//! back after a power cycle of the same TPM and never on another one; PCR policies are enforced;
//! tampered bindings are refused; the NV counter only goes up and is refused when replaced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod hw_common;

use std::time::Instant;

use hw_common::*;
use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::structures::{Tpm2bDigest, Tpm2bNvPublic, TpmaNv, TpmsNvPublic};
use vtpmmgr::hw::{Binding, HwConfig, HwError, HwTpm, NV_COUNTER_ATTRIBUTES, PcrPolicy};
use vtpmmgr::seams::MonotonicCounter;

const ROOT: [u8; 32] = [0xA5; 32];

/// How many handles of the type of `first` (transient objects 0x80.., policy sessions 0x03..)
/// are loaded (TPM_CAP_HANDLES).
fn loaded(hw: &mut HwTpm<vtpm_tools::transport::SwtpmTransport>, first: u32) -> u32 {
    let mut p = vec![0, 0, 0, 1];
    p.extend_from_slice(&first.to_be_bytes());
    p.extend_from_slice(&64u32.to_be_bytes());
    let r = raw(hw.transport_mut(), TpmCc::GET_CAPABILITY, &[], &[], &p).unwrap();
    // moreData (1), capability (4), TPML_HANDLE count (4), handles.
    u32::from_be_bytes(r[5..9].try_into().unwrap())
}
const NV_AUTH: [u8; 32] = [0x3C; 32];

fn pcr16_policy() -> HwConfig {
    HwConfig {
        pcr_policy: Some(PcrPolicy {
            bank: TpmAlgId::SHA256,
            pcrs: 1 << 16,
        }),
        ..HwConfig::default()
    }
}

#[test]
fn provision_then_unseal_gives_the_root_key_back() {
    let sw = swtpm(false);
    let (mut hw, _) = start(&sw, HwConfig::default());
    let binding = hw.provision(&ROOT, &NV_AUTH).unwrap();
    let b = Binding::parse(&binding).unwrap();
    assert_eq!(b.srk_name.as_slice(), hw.srk_name());
    assert_eq!(b.nv_index, vtpmmgr::hw::DEFAULT_NV_INDEX);
    assert!(b.policy.is_none());
    println!("binding: {} bytes", binding.len());
    assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
    assert_eq!(*hw.unseal(&binding).unwrap(), ROOT, "repeatable");

    // A second provision takes the next free NV index.
    let second = hw.provision(&[1; 32], &NV_AUTH).unwrap();
    assert_eq!(
        Binding::parse(&second).unwrap().nv_index,
        vtpmmgr::hw::DEFAULT_NV_INDEX + 1
    );
    assert_eq!(*hw.unseal(&second).unwrap(), [1; 32]);
    // Nothing stays loaded but the SRK.
    assert_eq!(loaded(&mut hw, 0x8000_0000), 1);
    assert_eq!(loaded(&mut hw, 0x0300_0000), 0);
    hw.close().unwrap();
}

#[test]
fn the_same_tpm_after_a_power_cycle_unseals_and_the_counter_survives() {
    let dir = scratch("reboot");
    let (binding, before) = {
        let sw = swtpm_on(&dir);
        let (mut hw, _) = start(&sw, pcr16_policy());
        let binding = hw.provision(&ROOT, &NV_AUTH).unwrap();
        let mut c = hw.counter(&binding, &NV_AUTH).unwrap();
        let v0 = c.read().unwrap();
        let v1 = c.increment().unwrap();
        assert_eq!(v1, v0 + 1);
        hw.close().unwrap();
        assert!(sw.shutdown().unwrap(), "graceful swtpm shutdown");
        (binding, v1)
    };
    {
        let sw = swtpm_on(&dir);
        let (mut hw, _) = start(&sw, pcr16_policy());
        assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
        let mut c = hw.counter(&binding, &NV_AUTH).unwrap();
        assert_eq!(
            c.read().unwrap(),
            before,
            "the counter survives the power cycle"
        );
        assert_eq!(c.increment().unwrap(), before + 1);
        // PCR 16 is extended: the policy no longer holds ...
        extend(hw.transport_mut(), 16, [7; 32]);
        assert_eq!(hw.unseal(&binding).unwrap_err(), HwError::PolicyMismatch);
        hw.close().unwrap();
        // ... until the next power cycle resets PCR 16. Now without a graceful shutdown.
        drop(sw);
    }
    {
        let sw = swtpm_on(&dir);
        let (mut hw, _) = start(&sw, pcr16_policy());
        assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
        assert_eq!(
            hw.counter(&binding, &NV_AUTH).unwrap().read().unwrap(),
            before + 1
        );
        hw.close().unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pcr_policy_is_enforced_by_the_tpm() {
    let sw = swtpm(false);
    let mut config = pcr16_policy();
    // PCRs 0..=22: a selection needing three PCR_Read pages for the policy digest.
    config.pcr_policy = Some(PcrPolicy {
        bank: TpmAlgId::SHA256,
        pcrs: 0x007F_FFFF,
    });
    let (mut hw, _) = start(&sw, config);
    extend(hw.transport_mut(), 16, [1; 32]);
    let binding = hw.provision(&ROOT, &NV_AUTH).unwrap();
    let b = Binding::parse(&binding).unwrap();
    assert_eq!(b.policy.unwrap().pcrs, 0x007F_FFFF);
    assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
    // PCR 23 is not in the policy: extending it changes nothing.
    extend(hw.transport_mut(), 23, [2; 32]);
    assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
    extend(hw.transport_mut(), 16, [3; 32]);
    let e = hw.unseal(&binding).unwrap_err();
    assert_eq!(e, HwError::PolicyMismatch);
    println!("{e}");
    // The failed unseal flushed its session and objects: only the SRK stays loaded.
    assert_eq!(loaded(&mut hw, 0x8000_0000), 1);
    assert_eq!(loaded(&mut hw, 0x0300_0000), 0);
    hw.close().unwrap();
}

#[test]
fn a_pcr_policy_on_another_bank_watches_that_bank() {
    let sw = swtpm(false);
    let config = HwConfig {
        pcr_policy: Some(PcrPolicy {
            bank: TpmAlgId::SHA384,
            pcrs: (1 << 16) | (1 << 0),
        }),
        ..HwConfig::default()
    };
    let (mut hw, _) = start(&sw, config);
    let binding = hw.provision(&ROOT, &NV_AUTH).unwrap();
    assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
    // Extending only the SHA-256 bank of PCR 16 leaves the SHA-384 bank alone.
    extend(hw.transport_mut(), 16, [4; 32]);
    assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
    extend_bank(hw.transport_mut(), TpmAlgId::SHA384, 16, &[4; 48]);
    assert_eq!(hw.unseal(&binding).unwrap_err(), HwError::PolicyMismatch);
    hw.close().unwrap();
}

#[test]
fn another_tpm_refuses_the_binding() {
    let sw_a = swtpm(false);
    let sw_b = swtpm(false);
    let (mut a, _) = start(&sw_a, HwConfig::default());
    let (mut b, _) = start(&sw_b, HwConfig::default());
    let binding = a.provision(&ROOT, &NV_AUTH).unwrap();
    assert_ne!(a.srk_name(), b.srk_name());

    let e = b.unseal(&binding).unwrap_err();
    assert!(matches!(e, HwError::WrongTpm { .. }), "{e:?}");
    println!("{e}");
    // Even claiming B's SRK (checksum recomputed), B's TPM refuses A's blobs.
    let mut forged = Binding::parse(&binding).unwrap();
    forged.srk_name.copy_from_slice(b.srk_name());
    let e = b.unseal(&forged.to_bytes()).unwrap_err();
    assert_eq!(
        e,
        HwError::WrongTpm {
            reason: "TPM2_Load refused the private area (TPM_RC_INTEGRITY)"
        }
    );
    // B has no such counter.
    let e = b.counter(&binding, &NV_AUTH).unwrap_err();
    assert!(matches!(e, HwError::CounterReplaced { .. }), "{e:?}");
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
fn tampered_bindings_are_refused_without_panicking() {
    let sw = swtpm(false);
    let (mut hw, _) = start(&sw, pcr16_policy());
    let binding = hw.provision(&ROOT, &NV_AUTH).unwrap();

    // Every truncation and every single-bit flip fails to parse (the checksum or the structure).
    for n in 0..binding.len() {
        assert!(Binding::parse(&binding[..n]).is_err());
    }
    for i in 0..binding.len() {
        for bit in 0..8 {
            let mut b = binding.clone();
            b[i] ^= 1 << bit;
            assert!(Binding::parse(&b).is_err(), "flip of byte {i} bit {bit}");
        }
    }
    // Through unseal: a flip is Malformed.
    let mut b = binding.clone();
    b[40] ^= 0x10;
    assert!(matches!(hw.unseal(&b), Err(HwError::Malformed(_))));

    // Flips inside the private and public areas with the checksum recomputed: the TPM refuses
    // them, and every refusal is a clean error (WrongTpm, or Malformed for a public area that
    // no longer is the manager's template).
    let parsed = Binding::parse(&binding).unwrap();
    let mut refusals = std::collections::BTreeMap::<String, u32>::new();
    for field in 0..4 {
        let len = match field {
            0 => parsed.sk_private.len(),
            1 => parsed.sealed_private.len(),
            2 => parsed.sk_public.len(),
            _ => parsed.sealed_public.len(),
        };
        for i in (0..len).step_by(7) {
            let mut f = parsed.clone();
            let target = match field {
                0 => &mut f.sk_private,
                1 => &mut f.sealed_private,
                2 => &mut f.sk_public,
                _ => &mut f.sealed_public,
            };
            target[i] ^= 0x01;
            let e = hw.unseal(&f.to_bytes()).unwrap_err();
            let kind = match &e {
                HwError::WrongTpm { .. } => "WrongTpm",
                HwError::Malformed(_) => "Malformed",
                other => panic!("field {field} byte {i}: unexpected {other:?}"),
            };
            *refusals.entry(format!("{kind}: {e}")).or_default() += 1;
        }
    }
    for (k, n) in &refusals {
        println!("{n:4} × {k}");
    }
    // After all that, nothing leaked: the good binding still unseals.
    assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
    hw.close().unwrap();
}

/// NV_DefineSpace of a counter at `index` with owner authorization.
fn define(hw: &mut HwTpm<vtpm_tools::transport::SwtpmTransport>, index: u32, attributes: u32) {
    let public = TpmsNvPublic {
        nv_index: TpmHandle(index),
        name_alg: TpmAlgId::SHA256,
        attributes: TpmaNv(attributes),
        auth_policy: Tpm2bDigest::empty(),
        data_size: 8,
    };
    let mut p = vec![0, 32];
    p.extend_from_slice(&NV_AUTH);
    Tpm2bNvPublic::from(public).marshal(&mut p);
    raw(
        hw.transport_mut(),
        TpmCc::NV_DEFINE_SPACE,
        &[TpmHandle::OWNER],
        &[pw(&[])],
        &p,
    )
    .unwrap();
}

fn undefine(hw: &mut HwTpm<vtpm_tools::transport::SwtpmTransport>, index: u32) {
    raw(
        hw.transport_mut(),
        TpmCc::NV_UNDEFINE_SPACE,
        &[TpmHandle::OWNER, TpmHandle(index)],
        &[pw(&[])],
        &[],
    )
    .unwrap();
}

#[test]
fn the_counter_only_goes_up_and_a_replaced_index_is_refused() {
    let sw = swtpm(false);
    let (mut hw, _) = start(&sw, HwConfig::default());
    let binding = hw.provision(&ROOT, &NV_AUTH).unwrap();
    let index = Binding::parse(&binding).unwrap().nv_index;
    let last = {
        let mut c = hw.counter(&binding, &NV_AUTH).unwrap();
        assert_eq!(c.index(), index);
        let mut last = c.read().unwrap();
        for _ in 0..5 {
            let v = c.increment().unwrap();
            assert_eq!(v, last + 1);
            assert_eq!(c.read().unwrap(), v);
            last = v;
        }
        last
    };
    // The wrong NV authorization.
    let e = hw.counter(&binding, &[0; 32]).unwrap().read().unwrap_err();
    assert!(
        matches!(
            e,
            HwError::AuthFailed {
                entity: vtpmmgr::hw::AuthEntity::NvCounter,
                ..
            }
        ),
        "{e:?}"
    );

    // Deleted and recreated with other attributes (also owner-writable): another Name.
    undefine(&mut hw, index);
    define(&mut hw, index, NV_COUNTER_ATTRIBUTES | TpmaNv::OWNERWRITE);
    let e = hw.counter(&binding, &NV_AUTH).unwrap_err();
    assert_eq!(e, HwError::CounterReplaced { index });
    println!("{e}");
    // Deleted and recreated identically but not yet written: another Name (WRITTEN clear).
    undefine(&mut hw, index);
    define(&mut hw, index, NV_COUNTER_ATTRIBUTES);
    assert_eq!(
        hw.counter(&binding, &NV_AUTH).unwrap_err(),
        HwError::CounterReplaced { index }
    );
    // Recreated identically and written: the same Name, but a TPM counter starts at the
    // largest value any counter had, so the value did not go back.
    raw(
        hw.transport_mut(),
        TpmCc::NV_INCREMENT,
        &[TpmHandle(index), TpmHandle(index)],
        &[pw(&NV_AUTH)],
        &[],
    )
    .unwrap();
    let v = hw.counter(&binding, &NV_AUTH).unwrap().read().unwrap();
    assert!(v > last, "recreated counter went back: {v} <= {last}");
    // Gone altogether.
    undefine(&mut hw, index);
    assert_eq!(
        hw.counter(&binding, &NV_AUTH).unwrap_err(),
        HwError::CounterReplaced { index }
    );
    hw.close().unwrap();
}

#[test]
fn no_free_nv_index_is_a_clear_error() {
    let sw = swtpm(false);
    let (mut hw, _) = start(&sw, HwConfig::default());
    for i in 0..vtpmmgr::hw::NV_INDEX_TRIES {
        define(
            &mut hw,
            vtpmmgr::hw::DEFAULT_NV_INDEX + i,
            NV_COUNTER_ATTRIBUTES,
        );
    }
    let e = hw.provision(&ROOT, &NV_AUTH).unwrap_err();
    assert_eq!(
        e,
        HwError::NvIndexUnavailable {
            first: vtpmmgr::hw::DEFAULT_NV_INDEX,
            tried: vtpmmgr::hw::NV_INDEX_TRIES
        }
    );
    println!("{e}");
    // Out-of-range configuration.
    let t = hw.close().unwrap();
    let (mut hw, _) = HwTpm::start(
        t,
        HwConfig {
            nv_index: 0x8100_0000,
            ..HwConfig::default()
        },
    )
    .unwrap();
    assert!(matches!(
        hw.provision(&ROOT, &NV_AUTH),
        Err(HwError::BadArgument(_))
    ));
    hw.close().unwrap();
}

#[test]
fn timings_on_swtpm() {
    const N: u32 = 20;
    let sw = swtpm(false);
    let t0 = Instant::now();
    let (hw, _) = start(&sw, HwConfig::default());
    let start_time = t0.elapsed();
    let t = hw.close().unwrap();

    let mut config = pcr16_policy();
    let t0 = Instant::now();
    let (mut hw, _) = HwTpm::start(t, config.clone()).unwrap();
    let restart_time = t0.elapsed();

    let t0 = Instant::now();
    let binding = hw.provision(&ROOT, &NV_AUTH).unwrap();
    let provision_time = t0.elapsed();

    let t0 = Instant::now();
    for _ in 0..N {
        assert_eq!(*hw.unseal(&binding).unwrap(), ROOT);
    }
    let unseal_policy = t0.elapsed() / N;

    let t0 = Instant::now();
    {
        let mut c = hw.counter(&binding, &NV_AUTH).unwrap();
        for _ in 0..N {
            c.increment().unwrap();
        }
    }
    let increment = t0.elapsed() / N;

    let ak = hw.create_attestation_key().unwrap();
    let t0 = Instant::now();
    for _ in 0..N {
        hw.quote(&ak, b"nonce", TpmAlgId::SHA256, 0x00FF_FFFF)
            .unwrap();
    }
    let quote = t0.elapsed() / N;

    config.pcr_policy = None;
    let t = hw.close().unwrap();
    let (mut hw, _) = HwTpm::start(t, config).unwrap();
    let plain = hw.provision(&ROOT, &NV_AUTH).unwrap();
    let t0 = Instant::now();
    for _ in 0..N {
        hw.unseal(&plain).unwrap();
    }
    let unseal_plain = t0.elapsed() / N;
    hw.close().unwrap();

    println!("timings on swtpm 0.7 (debug build of the manager, mean of {N} where repeated):");
    println!("  start (Startup, SelfTest, capabilities, SRK)  {start_time:?}");
    println!("  start again (TPM_RC_INITIALIZE path)          {restart_time:?}");
    println!("  provision (SK, sealed key, NV counter)        {provision_time:?}");
    println!("  unseal, password session                      {unseal_plain:?}");
    println!("  unseal, PolicyPCR session                     {unseal_policy:?}");
    println!("  NV_Increment + NV_Read                        {increment:?}");
    println!("  quote of 24 PCRs (load, Quote, 3 PCR_Reads)   {quote:?}");
}

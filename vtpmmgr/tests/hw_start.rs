//! `HwTpm::start` against a private swtpm as the hardware TPM: with and without the firmware's
//! TPM2_Startup, what `TpmInfo` reports, the SRK (transient and persistent), random numbers,
//! and refused hierarchy authorization.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod hw_common;

use hw_common::*;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use vtpmmgr::hw::{AuthEntity, HwConfig, HwError, HwTpm, TpmInfo};
use zeroize::Zeroizing;

fn check_info(info: &TpmInfo) {
    assert_eq!(info.manufacturer, "IBM", "{info}");
    assert_eq!(info.family, "2.0");
    assert!(info.revision >= 116, "spec revision {}", info.revision);
    assert!(info.spec_date.0 >= 2014, "{info}");
    assert!(!info.vendor.is_empty(), "{info}");
    assert_eq!(info.pcr_count, 24);
    assert!(info.transient_slots >= 3, "{info}");
    for alg in [
        TpmAlgId::SHA256,
        TpmAlgId::ECC,
        TpmAlgId::AES,
        TpmAlgId::CFB,
        TpmAlgId::ECDSA,
        TpmAlgId::KEYEDHASH,
    ] {
        assert!(info.algorithms.contains(&alg), "{alg} missing from {info}");
    }
    // The SHA-256 bank is present and has all 24 PCRs allocated.
    assert_eq!(info.bank(TpmAlgId::SHA256), 0x00FF_FFFF, "{info}");
    println!("{info}");
}

#[test]
fn start_when_the_firmware_did_not_send_startup() {
    let sw = swtpm(false);
    let (hw, info) = start(&sw, HwConfig::default());
    check_info(&info);
    assert_eq!(hw.srk_name().len(), 34);
    assert_eq!(&hw.srk_name()[..2], &[0, 0x0b]);
    assert_eq!(hw.srk_handle() >> 24, 0x80, "a transient SRK");
    hw.close().unwrap();
}

#[test]
fn start_when_the_firmware_sent_startup_and_again_after_a_manager_restart() {
    let sw = swtpm(true);
    let (hw, info) = start(&sw, HwConfig::default());
    check_info(&info);
    let name = hw.srk_name().to_vec();
    hw.close().unwrap();
    // The manager restarts without a TPM reset: Startup answers TPM_RC_INITIALIZE again, and the
    // SRK, recreated from the template, is the same key.
    let (hw, _) = start(&sw, HwConfig::default());
    assert_eq!(hw.srk_name(), name.as_slice());
    hw.close().unwrap();
}

#[test]
fn random_bytes_come_in_any_length() {
    let sw = swtpm(false);
    let (mut hw, _) = start(&sw, HwConfig::default());
    let mut a = [0u8; 200];
    let mut b = [0u8; 200];
    hw.get_random(&mut a).unwrap();
    hw.get_random(&mut b).unwrap();
    assert_ne!(a, b);
    assert!(a[150..].iter().any(|&x| x != 0), "the tail was filled");
    hw.get_random(&mut []).unwrap();
    hw.close().unwrap();
}

#[test]
fn wrong_owner_or_endorsement_auth_is_reported_as_such() {
    let sw = swtpm(false);
    let mut t = sw.connect().unwrap();
    {
        let (mut hw, _) = HwTpm::start(&mut t, HwConfig::default()).unwrap();
        change_auth(hw.transport_mut(), TpmHandle::OWNER, b"", b"owner secret");
        change_auth(
            hw.transport_mut(),
            TpmHandle::ENDORSEMENT,
            b"",
            b"ek secret",
        );
        hw.close().unwrap();
    }
    // The default (empty) owner auth: CreatePrimary of the SRK is refused.
    let e = HwTpm::start(&mut t, HwConfig::default()).unwrap_err();
    match &e {
        HwError::AuthFailed {
            entity: AuthEntity::Owner,
            command,
            ..
        } => assert_eq!(*command, TpmCc::CREATE_PRIMARY),
        other => panic!("expected AuthFailed(owner), got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("owner_auth"), "{msg}");
    println!("wrong owner auth: {msg}");

    // The right owner auth: start, provision (NV_DefineSpace uses it too) and unseal work.
    let config = HwConfig {
        owner_auth: Zeroizing::new(b"owner secret".to_vec()),
        ..HwConfig::default()
    };
    let (mut hw, _) = HwTpm::start(&mut t, config.clone()).unwrap();
    let binding = hw.provision(&[0x11; 32], &[0x22; 32]).unwrap();
    assert_eq!(*hw.unseal(&binding).unwrap(), [0x11; 32]);

    // The endorsement hierarchy has its own value.
    let e = hw.endorsement_public().unwrap_err();
    assert!(
        matches!(
            e,
            HwError::AuthFailed {
                entity: AuthEntity::Endorsement,
                ..
            }
        ),
        "{e:?}"
    );
    println!("wrong endorsement auth: {e}");
    hw.close().unwrap();
    let config = HwConfig {
        endorsement_auth: Zeroizing::new(b"ek secret".to_vec()),
        ..config
    };
    let (mut hw, _) = HwTpm::start(&mut t, config).unwrap();
    assert!(hw.endorsement_public().is_ok());
    hw.close().unwrap();
}

#[test]
fn persistent_srk_is_made_once_and_reused() {
    const SRK: u32 = 0x8100_0001;
    let sw = swtpm(false);
    let config = HwConfig {
        srk_handle: Some(SRK),
        ..HwConfig::default()
    };
    let (mut hw, _) = start(&sw, config.clone());
    assert_eq!(hw.srk_handle(), SRK);
    let name = hw.srk_name().to_vec();
    let binding = hw.provision(&[5; 32], &[6; 32]).unwrap();
    drop(hw.close().unwrap());

    // The persistent SRK is the same key as the transient one made from the template.
    let (hw, _) = start(&sw, HwConfig::default());
    assert_eq!(hw.srk_name(), name.as_slice());
    drop(hw.close().unwrap());

    // A second start finds it (no second EvictControl, which would fail with NV_DEFINED).
    let (mut hw, _) = start(&sw, config);
    assert_eq!(hw.srk_name(), name.as_slice());
    assert_eq!(*hw.unseal(&binding).unwrap(), [5; 32]);
    drop(hw.close().unwrap());

    // A persistent handle holding something else (the EK, made persistent by tpm2-tools).
    let (ok, out) = run(
        "tpm2_createek",
        &["-T", &tcti(&sw), "-G", "ecc", "-c", "0x81010001"],
    );
    assert!(ok, "tpm2_createek: {out}");
    let e = HwTpm::start(
        sw.connect().unwrap(),
        HwConfig {
            srk_handle: Some(0x8101_0001),
            ..HwConfig::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e,
        HwError::SrkHandleOccupied {
            handle: 0x8101_0001
        }
    );
    println!("{e}");

    // Not a persistent handle at all.
    let e = HwTpm::start(
        sw.connect().unwrap(),
        HwConfig {
            srk_handle: Some(0x8000_0001),
            ..HwConfig::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, HwError::BadArgument(_)), "{e:?}");
}

/// The SRK's TPM2_CreatePrimary with an empty owner authorization, as docs/manager-hw.md shows
/// it.
const CREATE_SRK: &str = concat!(
    "800200000083000001314000000100000009400000090000010000000400000000",
    "005a0023000b000304720000000600800043001000030010002000000000000000",
    "000000000000000000000000000000000000000000000000000020000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
);

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_manager_sends_the_documented_commands() {
    let sw = swtpm(false);
    let mut t = Recording::new(sw.connect().unwrap());
    let policy = HwConfig {
        pcr_policy: Some(vtpmmgr::hw::PcrPolicy {
            bank: TpmAlgId::SHA256,
            pcrs: 1 << 16,
        }),
        ..HwConfig::default()
    };
    let (mut hw, _) = HwTpm::start(&mut t, policy).unwrap();
    let ak = hw.create_attestation_key().unwrap();
    hw.close().unwrap();
    let start = &t.commands;
    assert_eq!(
        start[0],
        unhex("80010000000c000001440000"),
        "TPM2_Startup(CLEAR)"
    );
    assert_eq!(
        start[1],
        unhex("80010000000b0000014301"),
        "TPM2_SelfTest(YES)"
    );
    let create = start.iter().find(|c| c[6..10] == [0, 0, 1, 0x31]).unwrap();
    assert_eq!(*create, unhex(CREATE_SRK));
    assert_eq!(
        t.take_codes(),
        [
            "TPM2_Startup",
            "TPM2_SelfTest",
            "TPM2_GetCapability",
            "TPM2_GetCapability",
            "TPM2_GetCapability",
            // Transient objects left loaded (none here).
            "TPM2_GetCapability",
            "TPM2_CreatePrimary",
            "TPM2_Create",
            "TPM2_FlushContext",
        ]
    );

    let policy = HwConfig {
        pcr_policy: Some(vtpmmgr::hw::PcrPolicy {
            bank: TpmAlgId::SHA256,
            pcrs: 1 << 16,
        }),
        ..HwConfig::default()
    };
    let (mut hw, _) = HwTpm::start(&mut t, policy).unwrap();
    let _ = codes(&mut hw);
    let binding = hw.provision(&[1; 32], &[2; 32]).unwrap();
    assert_eq!(
        codes(&mut hw),
        [
            "TPM2_Create",
            "TPM2_PCR_Read",
            "TPM2_Load",
            "TPM2_Create",
            "TPM2_FlushContext",
            "TPM2_NV_DefineSpace",
            "TPM2_NV_Increment",
            "TPM2_NV_ReadPublic",
        ]
    );
    hw.unseal(&binding).unwrap();
    assert_eq!(
        codes(&mut hw),
        [
            "TPM2_Load",
            "TPM2_Load",
            "TPM2_StartAuthSession",
            "TPM2_PolicyPCR",
            "TPM2_Unseal",
            "TPM2_FlushContext",
            "TPM2_FlushContext",
            "TPM2_FlushContext",
        ]
    );
    {
        use vtpmmgr::seams::MonotonicCounter;
        let mut c = hw.counter(&binding, &[2; 32]).unwrap();
        c.increment().unwrap();
    }
    assert_eq!(
        codes(&mut hw),
        ["TPM2_NV_ReadPublic", "TPM2_NV_Increment", "TPM2_NV_Read"]
    );
    hw.quote(&ak, b"n", TpmAlgId::SHA256, 0x0001_00FF).unwrap();
    assert_eq!(
        codes(&mut hw),
        [
            "TPM2_Load",
            "TPM2_Quote",
            "TPM2_FlushContext",
            "TPM2_PCR_Read",
            "TPM2_PCR_Read",
        ]
    );
    let secret = hw.activate_credential(&ak, &[0; 10], &[0; 10]);
    assert!(secret.is_err());
    assert_eq!(
        codes(&mut hw),
        [
            "TPM2_Load",
            "TPM2_CreatePrimary",
            "TPM2_StartAuthSession",
            "TPM2_PolicySecret",
            "TPM2_ActivateCredential",
            "TPM2_FlushContext",
            "TPM2_FlushContext",
            "TPM2_FlushContext",
        ]
    );
    hw.close().unwrap();
}

fn codes<T>(hw: &mut HwTpm<&mut Recording<T>>) -> Vec<String>
where
    T: tpm2::transport::Transport,
{
    hw.transport_mut().take_codes()
}

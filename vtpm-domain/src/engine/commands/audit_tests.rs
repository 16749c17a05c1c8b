//! Unit tests of command audit: TPM2_SetCommandCodeAuditStatus, the digest the dispatcher
//! extends (recomputed here with the `sha2` crate from cpHash and rpHash written out),
//! TPM2_GetCommandAuditDigest, TPM_CAP_AUDIT_COMMANDS / TPM_PT_AUDIT_COUNTER, and the
//! persistence rules (state blob section 7, TPM Reset / Restart / Resume).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloc::boxed::Box;
use alloc::vec::Vec;

use sha2::Digest;
use tpm2::alg::TpmAlgId;
use tpm2::cap::TpmCap;
use tpm2::cc::TpmCc;
use tpm2::commands::GetCapabilityResponse;
use tpm2::handle::TpmHandle;
use tpm2::pt::TpmPt;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSt;
use tpm2::structures::{
    Tpm2bAttest, Tpm2bData, TpmlCc, TpmsAttest, TpmsCapabilityData, TpmtSigScheme, TpmtSignature,
    TpmuAttest,
};
use tpm2::{Marshal, Reader, Unmarshal};

use crate::engine::Engine;
use crate::engine::crypto::hash::HashAlg;
use crate::engine::testutil::{TestPlatform, engine, expect_rc, ok_params, pw, pw_with, run};

const OWNER: TpmHandle = TpmHandle::OWNER;

fn set_params(alg: TpmAlgId, set: &[TpmCc], clear: &[TpmCc]) -> Vec<u8> {
    let mut v = alg.to_bytes();
    TpmlCc::new(set.to_vec()).unwrap().marshal(&mut v);
    TpmlCc::new(clear.to_vec()).unwrap().marshal(&mut v);
    v
}

fn set(e: &mut Engine, alg: TpmAlgId, s: &[TpmCc], c: &[TpmCc]) {
    ok_params(
        e,
        TpmCc::SET_COMMAND_CODE_AUDIT_STATUS,
        &[OWNER],
        &[pw()],
        &set_params(alg, s, c),
    );
}

/// TPM2_GetCommandAuditDigest with TPM_RH_NULL (nothing cleared): the attested part.
fn report(e: &mut Engine) -> (u64, TpmAlgId, Vec<u8>, Vec<u8>) {
    let mut p = Tpm2bData::new(b"q").unwrap().to_bytes();
    TpmtSigScheme::Null.marshal(&mut p);
    let out = ok_params(
        e,
        TpmCc::GET_COMMAND_AUDIT_DIGEST,
        &[TpmHandle::ENDORSEMENT, TpmHandle::NULL],
        &[pw(), pw()],
        &p,
    );
    let mut reader = Reader::new(&out);
    let a = Tpm2bAttest::unmarshal(&mut reader).unwrap();
    let sig = TpmtSignature::unmarshal_allow_null(&mut reader).unwrap();
    assert!(reader.is_empty());
    assert_eq!(sig, TpmtSignature::Null);
    let attest = TpmsAttest::from_tpm2b(&a).unwrap();
    assert_eq!(attest.tag(), TpmSt::ATTEST_COMMAND_AUDIT);
    assert_eq!(attest.extra_data.as_bytes(), b"q");
    let TpmuAttest::CommandAudit(info) = attest.attested else {
        panic!("not a command audit attestation")
    };
    (
        info.audit_counter,
        info.digest_alg,
        info.audit_digest.as_bytes().to_vec(),
        info.command_digest.as_bytes().to_vec(),
    )
}

fn get_random(e: &mut Engine) -> Vec<u8> {
    ok_params(e, TpmCc::GET_RANDOM, &[], &[], &[0, 4])
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

#[test]
fn set_command_code_audit_status_and_the_digest() {
    let mut e = engine();
    let (counter, alg, digest, commands) = report(&mut e);
    assert_eq!((counter, alg, digest.len()), (0, TpmAlgId::SHA512, 0));
    assert_eq!(commands, sha2::Sha512::digest([0, 0, 1, 0x40]).to_vec());

    // Changing the algorithm is not audited and starts no log.
    set(&mut e, TpmAlgId::SHA256, &[], &[]);
    assert_eq!(report(&mut e).0, 0);
    assert!(report(&mut e).2.is_empty());

    // The same algorithm with a list: audited (log 1 starts from zeros).
    let params = set_params(TpmAlgId::SHA256, &[TpmCc::GET_RANDOM], &[]);
    set(&mut e, TpmAlgId::SHA256, &[TpmCc::GET_RANDOM], &[]);
    let cc = TpmCc::SET_COMMAND_CODE_AUDIT_STATUS.0.to_be_bytes();
    let cp = sha256(&[&cc, &OWNER.0.to_be_bytes(), &params]);
    let rp = sha256(&[&[0; 4], &cc]);
    let mut want = sha256(&[&[0; 32], &cp, &rp]);
    let (counter, alg, digest, commands) = report(&mut e);
    assert_eq!((counter, alg), (1, TpmAlgId::SHA256));
    assert_eq!(digest, want);
    assert_eq!(commands, sha256(&[&[0, 0, 1, 0x40, 0, 0, 1, 0x7B]]));

    // An audited TPM2_GetRandom: cpHash over its parameter, rpHash over its random bytes.
    let out = get_random(&mut e);
    let cc = TpmCc::GET_RANDOM.0.to_be_bytes();
    let cp = sha256(&[&cc, &[0, 4]]);
    let rp = sha256(&[&[0; 4], &cc, &out]);
    want = sha256(&[&want, &cp, &rp]);
    assert_eq!(report(&mut e).2, want);
    // A failed audited command is not audited.
    expect_rc(
        &mut e,
        TpmCc::GET_RANDOM,
        &[],
        &[],
        &[0],
        TpmRc::INSUFFICIENT.with_parameter(1),
    );
    assert_eq!(report(&mut e).2, want);

    // clearList: TPM2_SetCommandCodeAuditStatus stays; setList: TPM2_Shutdown and
    // unimplemented codes are ignored.
    set(
        &mut e,
        TpmAlgId::NULL,
        &[TpmCc::SHUTDOWN, TpmCc(0x2000_0001)],
        &[TpmCc::GET_RANDOM, TpmCc::SET_COMMAND_CODE_AUDIT_STATUS],
    );
    assert_eq!(e.state.perm.audit.commands.len(), 1);
    assert!(
        e.state
            .perm
            .audit
            .is_audited(TpmCc::SET_COMMAND_CODE_AUDIT_STATUS)
    );
}

#[test]
fn set_command_code_audit_status_errors() {
    let mut e = engine();
    let set_cc = TpmCc::SET_COMMAND_CODE_AUDIT_STATUS;
    // The algorithm and a list at once.
    let p = set_params(TpmAlgId::SHA384, &[TpmCc::GET_RANDOM], &[]);
    expect_rc(
        &mut e,
        set_cc,
        &[OWNER],
        &[pw()],
        &p,
        TpmRc::VALUE.with_parameter(1),
    );
    // An unknown hash; a list beyond MAX_CAP_CC; trailing bytes.
    let p = set_params(TpmAlgId(0x99), &[], &[]);
    expect_rc(
        &mut e,
        set_cc,
        &[OWNER],
        &[pw()],
        &p,
        TpmRc::HASH.with_parameter(1),
    );
    let mut p = TpmAlgId::NULL.to_bytes();
    p.extend_from_slice(&255u32.to_be_bytes());
    expect_rc(
        &mut e,
        set_cc,
        &[OWNER],
        &[pw()],
        &p,
        TpmRc::SIZE.with_parameter(2),
    );
    let mut p = set_params(TpmAlgId::NULL, &[], &[]);
    p.push(0);
    expect_rc(&mut e, set_cc, &[OWNER], &[pw()], &p, TpmRc::SIZE);
    // Only owner or platform; with their authorization.
    let p = set_params(TpmAlgId::NULL, &[], &[]);
    for h in [TpmHandle::ENDORSEMENT, TpmHandle::LOCKOUT] {
        expect_rc(
            &mut e,
            set_cc,
            &[h],
            &[pw()],
            &p,
            TpmRc::VALUE.with_handle(1),
        );
    }
    ok_params(&mut e, set_cc, &[TpmHandle::PLATFORM], &[pw()], &p);
    expect_rc(
        &mut e,
        set_cc,
        &[OWNER],
        &[pw_with(b"wrong")],
        &p,
        TpmRc::BAD_AUTH.with_session(1),
    );
    // Nothing of the failures was audited; the successful platform call was.
    assert_eq!(report(&mut e).0, 1);
}

#[test]
fn signed_report_clears_the_digest_and_the_next_log_counts() {
    let mut e = engine();
    set(&mut e, TpmAlgId::NULL, &[TpmCc::GET_RANDOM], &[]);
    get_random(&mut e);
    assert_eq!(report(&mut e).0, 1);
    // An HMAC key signs; the digest is cleared, the counter stays.
    let h = hmac_key(&mut e);
    let mut p = Tpm2bData::new(b"").unwrap().to_bytes();
    TpmtSigScheme::Null.marshal(&mut p);
    let out = ok_params(
        &mut e,
        TpmCc::GET_COMMAND_AUDIT_DIGEST,
        &[TpmHandle::ENDORSEMENT, h],
        &[pw(), pw()],
        &p,
    );
    let mut reader = Reader::new(&out);
    let a = TpmsAttest::from_tpm2b(&Tpm2bAttest::unmarshal(&mut reader).unwrap()).unwrap();
    let TpmuAttest::CommandAudit(info) = &a.attested else {
        panic!()
    };
    assert_eq!(info.audit_digest.as_bytes().len(), 64);
    assert!(matches!(
        TpmtSignature::unmarshal(&mut reader).unwrap(),
        TpmtSignature::Hmac(_)
    ));
    let (counter, _, digest, _) = report(&mut e);
    assert_eq!((counter, digest.len()), (1, 0));
    get_random(&mut e);
    let (counter, _, digest, _) = report(&mut e);
    assert_eq!((counter, digest.len()), (2, 64));
    // The privacy administrator's authorization is checked.
    expect_rc(
        &mut e,
        TpmCc::GET_COMMAND_AUDIT_DIGEST,
        &[TpmHandle::ENDORSEMENT, h],
        &[pw_with(b"x"), pw()],
        &p,
        TpmRc::BAD_AUTH.with_session(1),
    );
    expect_rc(
        &mut e,
        TpmCc::GET_COMMAND_AUDIT_DIGEST,
        &[OWNER, h],
        &[pw(), pw()],
        &p,
        TpmRc::VALUE.with_handle(1),
    );
}

/// An HMAC signing key (SHA-256) in the owner hierarchy, placed directly in slot 0.
fn hmac_key(e: &mut Engine) -> TpmHandle {
    use crate::engine::object::{Object, Sensitive};
    use tpm2::structures::{
        PublicDetail, Tpm2bDigest, TpmaObject, TpmsKeyedhashParms, TpmsSchemeHash,
        TpmtKeyedhashScheme, TpmtPublic,
    };
    let public = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(TpmaObject::SIGN | TpmaObject::USER_WITH_AUTH),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms {
                scheme: TpmtKeyedhashScheme::Hmac(TpmsSchemeHash {
                    hash_alg: TpmAlgId::SHA256,
                }),
            },
            unique: Tpm2bDigest::new(&[0; 32]).unwrap(),
        },
    };
    let sensitive = Sensitive {
        auth: zeroize::Zeroizing::new(Vec::new()),
        seed_value: zeroize::Zeroizing::new(Vec::new()),
        private: zeroize::Zeroizing::new(alloc::vec![5; 32]),
    };
    let obj = Object::new(public, &OWNER.0.to_be_bytes(), OWNER, sensitive);
    e.state.vol.objects.insert(0x8000_0000, obj);
    TpmHandle(0x8000_0000)
}

fn capability(e: &mut Engine, cap: TpmCap, property: u32, count: u32) -> TpmsCapabilityData {
    let mut p = cap.0.to_be_bytes().to_vec();
    p.extend_from_slice(&property.to_be_bytes());
    p.extend_from_slice(&count.to_be_bytes());
    let out = ok_params(e, TpmCc::GET_CAPABILITY, &[], &[], &p);
    GetCapabilityResponse::from_bytes(&out)
        .unwrap()
        .capability_data
}

#[test]
fn capabilities_report_the_list_and_the_counter() {
    let mut e = engine();
    set(
        &mut e,
        TpmAlgId::NULL,
        &[TpmCc::GET_RANDOM, TpmCc::HASH],
        &[],
    );
    let TpmsCapabilityData::AuditCommands(l) = capability(&mut e, TpmCap::AUDIT_COMMANDS, 0, 10)
    else {
        panic!()
    };
    assert_eq!(
        l.as_slice(),
        &[
            TpmCc::SET_COMMAND_CODE_AUDIT_STATUS,
            TpmCc::GET_RANDOM,
            TpmCc::HASH
        ]
    );
    let TpmsCapabilityData::AuditCommands(l) = capability(&mut e, TpmCap::AUDIT_COMMANDS, 0x141, 1)
    else {
        panic!()
    };
    assert_eq!(l.as_slice(), &[TpmCc::GET_RANDOM]);
    e.state.perm.audit.counter = 0x1_0000_0002;
    let TpmsCapabilityData::TpmProperties(l) =
        capability(&mut e, TpmCap::TPM_PROPERTIES, TpmPt::AUDIT_COUNTER_0.0, 2)
    else {
        panic!()
    };
    assert_eq!(l.get(TpmPt::AUDIT_COUNTER_0), Some(1));
    assert_eq!(l.get(TpmPt::AUDIT_COUNTER_1), Some(2));
}

fn restore(e: &Engine) -> Engine {
    Engine::restore(&e.save_state(), Box::new(TestPlatform::new(9))).unwrap()
}

fn startup(e: &mut Engine, su: u16) {
    ok_params(e, TpmCc::STARTUP, &[], &[], &su.to_be_bytes());
}

fn shutdown(e: &mut Engine, su: u16) {
    ok_params(e, TpmCc::SHUTDOWN, &[], &[], &su.to_be_bytes());
}

#[test]
fn audit_state_persists_and_follows_startup_rules() {
    let mut e = engine();
    let pristine = e.save_state();
    set(&mut e, TpmAlgId::SHA384, &[], &[]);
    set(&mut e, TpmAlgId::NULL, &[TpmCc::GET_RANDOM], &[]);
    get_random(&mut e);
    let before = report(&mut e);
    assert_eq!(
        (before.0, before.1, before.2.len()),
        (1, TpmAlgId::SHA384, 48)
    );
    // Save and restore: list, algorithm, counter and digest are back.
    let mut r = restore(&e);
    assert_eq!(report(&mut r), before);
    assert!(e.save_state().len() > pristine.len());
    // TPM Resume and TPM Restart keep the digest.
    shutdown(&mut r, 1);
    r.power_on();
    startup(&mut r, 1);
    assert_eq!(report(&mut r), before);
    shutdown(&mut r, 1);
    r.power_on();
    startup(&mut r, 0);
    assert_eq!(report(&mut r), before);
    // TPM Reset (orderly or not) clears it; the counter and the list stay.
    shutdown(&mut r, 0);
    r.power_on();
    startup(&mut r, 0);
    let after = report(&mut r);
    assert_eq!((after.0, after.1, after.2.len()), (1, TpmAlgId::SHA384, 0));
    get_random(&mut r);
    r.power_on();
    startup(&mut r, 0);
    assert!(report(&mut r).2.is_empty());
    assert_eq!(report(&mut r).0, 2);
}

#[test]
fn blobs_without_the_audit_section_still_load() {
    // A new TPM's audit state is not written: the blob is what older builds wrote.
    let e = engine();
    let blob = e.save_state();
    let r = Engine::restore(&blob, Box::new(TestPlatform::new(2))).unwrap();
    assert!(r.state.perm.audit.is_pristine());
    // A blob with the section, stripped of it (and re-digested), loads with the defaults.
    let mut e = engine();
    set(&mut e, TpmAlgId::NULL, &[TpmCc::GET_RANDOM], &[]);
    let blob = e.save_state();
    let stripped = strip_section(&blob, 7);
    assert!(stripped.len() < blob.len());
    let r = Engine::restore(&stripped, Box::new(TestPlatform::new(2))).unwrap();
    assert!(r.state.perm.audit.is_pristine());
    // A repeated section is refused.
    let doubled = double_section(&blob, 7);
    assert!(Engine::restore(&doubled, Box::new(TestPlatform::new(2))).is_err());
}

/// The blob's sections (tag, whole tagged bytes) and the header length.
fn sections(blob: &[u8]) -> (usize, Vec<(u16, Vec<u8>)>) {
    let body = &blob[..blob.len() - 32];
    let mut at = 10; // magic, version
    let mut out = Vec::new();
    while at < body.len() {
        let tag = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = u32::from_be_bytes([body[at + 2], body[at + 3], body[at + 4], body[at + 5]]);
        let end = at + 6 + len as usize;
        out.push((tag, body[at..end].to_vec()));
        at = end;
    }
    (10, out)
}

fn reassemble(blob: &[u8], parts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut v = blob[..10].to_vec();
    for (_, p) in parts {
        v.extend_from_slice(p);
    }
    let d = sha256(&[&v]);
    v.extend_from_slice(&d);
    v
}

fn strip_section(blob: &[u8], tag: u16) -> Vec<u8> {
    let (_, parts) = sections(blob);
    let kept: Vec<_> = parts.into_iter().filter(|(t, _)| *t != tag).collect();
    reassemble(blob, &kept)
}

fn double_section(blob: &[u8], tag: u16) -> Vec<u8> {
    let (_, mut parts) = sections(blob);
    let again = parts.iter().find(|(t, _)| *t == tag).unwrap().clone();
    parts.push(again);
    reassemble(blob, &parts)
}

#[test]
fn an_audited_report_is_extended_after_it_is_taken() {
    // TPM2_GetCommandAuditDigest itself audited: each report shows the digest before its own
    // extension (with TPM_RH_NULL nothing is cleared), so two reports differ by one step.
    let mut e = engine();
    set(&mut e, TpmAlgId::SHA256, &[], &[]);
    set(
        &mut e,
        TpmAlgId::NULL,
        &[TpmCc::GET_COMMAND_AUDIT_DIGEST],
        &[],
    );
    let first = report(&mut e);
    let second = report(&mut e);
    assert_ne!(first.2, second.2);
    assert_eq!((first.0, second.0), (1, 1));
    assert_eq!(second.2.len(), HashAlg::Sha256.digest_size());
    // The extension is H(first || cpHash || rpHash) of that report's command and response.
    let mut p = Tpm2bData::new(b"q").unwrap().to_bytes();
    TpmtSigScheme::Null.marshal(&mut p);
    let d0 = e.state.perm.audit.digest.clone();
    let (rc, rsp) = run(
        &mut e,
        TpmCc::GET_COMMAND_AUDIT_DIGEST,
        &[TpmHandle::ENDORSEMENT, TpmHandle::NULL],
        &[pw(), pw()],
        &p,
    );
    assert_eq!(rc, TpmRc::SUCCESS);
    let out = tpm2::response::Response::parse(&rsp, TpmCc::GET_COMMAND_AUDIT_DIGEST)
        .unwrap()
        .parameters
        .to_vec();
    let cc = TpmCc::GET_COMMAND_AUDIT_DIGEST.0.to_be_bytes();
    let cp = sha256(&[
        &cc,
        &TpmHandle::ENDORSEMENT.0.to_be_bytes(),
        &TpmHandle::NULL.0.to_be_bytes(),
        &p,
    ]);
    let rp = sha256(&[&[0; 4], &cc, &out]);
    assert_eq!(e.state.perm.audit.digest, sha256(&[&d0, &cp, &rp]));
}

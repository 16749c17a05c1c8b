#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The attestation and audit commands (TCG TPM 2.0 Library part 3 §18 TPM2_Certify,
//! TPM2_CertifyCreation, TPM2_GetSessionAuditDigest, TPM2_GetCommandAuditDigest, TPM2_GetTime;
//! §21.2 TPM2_SetCommandCodeAuditStatus; §31.16 TPM2_NV_Certify) on our engine side by side
//! with swtpm: the same command bytes go to both, then
//!
//! - every command is accepted or refused by both with the identical response code;
//! - the attestations agree on everything that does not depend on the TPM's own secrets or
//!   clock: magic, type, qualifiedSigner (same key), extraData and the whole attested part
//!   (Names, Qualified Names, creation hashes, NV contents and digests, command and session
//!   audit digests, audit counters and command digests);
//! - signatures are verified (each TPM's by the other TPM, the same key being loaded in both),
//!   never compared.
//!
//! swtpm must be installed: a missing binary fails the tests.

use tpm2::alg::TpmAlgId;
use tpm2::auth::{TpmaSession, TpmsAuthCommand};
use tpm2::cap::TpmCap;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::st::{TpmEccCurve, TpmSt};
use tpm2::structures::{
    PublicDetail, Tpm2bAttest, Tpm2bAuth, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, Tpm2bNonce,
    Tpm2bPublic, Tpm2bSecretDigest, Tpm2bSecretEccParameter, Tpm2bSensitive, TpmaNv, TpmaObject,
    TpmlCc, TpmsAttest, TpmsEccParms, TpmsEccPoint, TpmsNvPublic, TpmsSchemeHash, TpmtEccScheme,
    TpmtKdfScheme, TpmtPublic, TpmtSensitive, TpmtSigScheme, TpmtSignature, TpmtSymDefObject,
    TpmtTkCreation, TpmuAttest, TpmuSensitiveComposite,
};
use tpm2::{Marshal, Reader, Unmarshal};
use vtpm_domain::engine::crypto::hash::digest;
use vtpm_domain::engine::crypto::{Curve, EccPrivate, HashAlg, KdfaStream};

#[path = "support/pair.rs"]
mod pair;
use pair::{Pair, pw, rc_of};

const SIGN: u32 = TpmaObject::SIGN | TpmaObject::USER_WITH_AUTH;
const DECRYPT: u32 = TpmaObject::DECRYPT | TpmaObject::USER_WITH_AUTH;
const SHA256: TpmAlgId = TpmAlgId::SHA256;
const NULL: TpmHandle = TpmHandle::NULL;
const OWNER: TpmHandle = TpmHandle::OWNER;
const ENDORSEMENT: TpmHandle = TpmHandle::ENDORSEMENT;

fn ecdsa() -> TpmtSigScheme {
    TpmtSigScheme::Ecdsa(TpmsSchemeHash { hash_alg: SHA256 })
}

fn cmd(cc: TpmCc, handles: &[TpmHandle], sessions: &[TpmsAuthCommand], params: &[u8]) -> Vec<u8> {
    build_command(cc, handles, sessions, params).unwrap()
}

/// A P-256 key given in the clear (NULL hierarchy), loaded into both; both give one handle.
fn load_ecc(p: &mut Pair, label: &[u8], attributes: u32, scheme: TpmtEccScheme) -> TpmHandle {
    let mut rng = KdfaStream::new(HashAlg::Sha256, b"attest_vs_swtpm", label, b"", b"");
    let key = EccPrivate::derive(Curve::NistP256, &mut rng).unwrap();
    let pt = key.public();
    let public = TpmtPublic {
        name_alg: SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::Null,
                scheme,
                curve_id: TpmEccCurve::NIST_P256,
                kdf: TpmtKdfScheme::Null,
            },
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::new(&pt.x).unwrap(),
                y: Tpm2bEccParameter::new(&pt.y).unwrap(),
            },
        },
    };
    let sensitive = TpmtSensitive {
        auth_value: Tpm2bAuth::empty(),
        seed_value: Tpm2bSecretDigest::new(&[]).unwrap(),
        sensitive: TpmuSensitiveComposite::Ecc(
            Tpm2bSecretEccParameter::new(&key.scalar()).unwrap(),
        ),
    };
    let mut params = Tpm2bSensitive {
        sensitive_area: Some(sensitive),
    }
    .to_bytes();
    Tpm2bPublic::from(public).marshal(&mut params);
    NULL.marshal(&mut params);
    let rsp = p.same(
        "TPM2_LoadExternal",
        &cmd(TpmCc::LOAD_EXTERNAL, &[], &[], &params),
    );
    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS, "TPM2_LoadExternal");
    Response::parse(&rsp, TpmCc::LOAD_EXTERNAL)
        .unwrap()
        .handle
        .unwrap()
}

fn data(v: &[u8]) -> Vec<u8> {
    Tpm2bData::new(v).unwrap().to_bytes()
}

/// qualifyingData || inScheme.
fn attest_params(nonce: &[u8], scheme: &TpmtSigScheme) -> Vec<u8> {
    let mut v = data(nonce);
    scheme.marshal(&mut v);
    v
}

/// An attestation response: the TPM2B_ATTEST bytes, the structure, the signature.
fn parse_attest(params: &[u8]) -> (Vec<u8>, TpmsAttest, TpmtSignature) {
    let mut r = Reader::new(params);
    let a = Tpm2bAttest::unmarshal(&mut r).unwrap();
    let sig = TpmtSignature::unmarshal_allow_null(&mut r).unwrap();
    assert!(r.is_empty(), "trailing bytes after the signature");
    let attest = TpmsAttest::from_tpm2b(&a).unwrap();
    (a.as_bytes().to_vec(), attest, sig)
}

/// Runs an attestation on both; compares the TPM-independent fields (the attested part only
/// when `attested_equal`); verifies each signature on the other TPM with `verify_key`.
fn both_attest(
    p: &mut Pair,
    what: &str,
    cc: TpmCc,
    command: &[u8],
    tag: TpmSt,
    attested_equal: bool,
    verify_key: Option<TpmHandle>,
) -> (TpmsAttest, TpmsAttest) {
    let t0 = std::time::Instant::now();
    let (a, b) = p.both_ok(what, cc, command);
    eprintln!("{what}: both in {:?}", t0.elapsed());
    let (ours, theirs) = (parse_attest(&a), parse_attest(&b));
    assert_eq!(ours.0[..4], [0xff, b'T', b'C', b'G'], "{what}: magic");
    assert_eq!(ours.1.tag(), tag, "{what}: type");
    assert_eq!(theirs.1.tag(), tag, "{what}: swtpm's type");
    assert_eq!(ours.1.qualified_signer, theirs.1.qualified_signer, "{what}");
    assert_eq!(ours.1.extra_data, theirs.1.extra_data, "{what}: extraData");
    assert_eq!(ours.1.clock_info.safe, theirs.1.clock_info.safe, "{what}");
    if attested_equal {
        assert_eq!(ours.1.attested, theirs.1.attested, "{what}: attested");
    }
    if let Some(h) = verify_key {
        for (who, (bytes, _, sig)) in [("ours", &ours), ("swtpm's", &theirs)] {
            let dig = digest(HashAlg::Sha256, &[bytes]);
            let mut params = Tpm2bDigest::new(&dig).unwrap().to_bytes();
            sig.marshal(&mut params);
            let (rsp_a, rsp_b) = p.both(&cmd(TpmCc::VERIFY_SIGNATURE, &[h], &[], &params));
            assert_eq!(
                (rc_of(&rsp_a), rc_of(&rsp_b)),
                (TpmRc::SUCCESS, TpmRc::SUCCESS),
                "{what}: {who} signature"
            );
        }
    } else {
        assert_eq!(ours.2, TpmtSignature::Null, "{what}: NULL signature");
        assert_eq!(
            theirs.2,
            TpmtSignature::Null,
            "{what}: swtpm's NULL signature"
        );
    }
    (ours.1, theirs.1)
}

#[test]
fn certify_and_get_time() {
    let mut p = Pair::new(b"attest_vs_swtpm certify");
    let key = load_ecc(
        &mut p,
        b"signer",
        SIGN,
        TpmtEccScheme::Ecdsa(TpmsSchemeHash { hash_alg: SHA256 }),
    );
    let other = load_ecc(&mut p, b"other", DECRYPT, TpmtEccScheme::Null);
    let pw2 = [pw(), pw()];
    let certify = |object: TpmHandle, signer: TpmHandle, s: &TpmtSigScheme| {
        cmd(
            TpmCc::CERTIFY,
            &[object, signer],
            &pw2,
            &attest_params(b"certify nonce", s),
        )
    };
    let (ours, _) = both_attest(
        &mut p,
        "certify other",
        TpmCc::CERTIFY,
        &certify(other, key, &TpmtSigScheme::Null),
        TpmSt::ATTEST_CERTIFY,
        true,
        Some(key),
    );
    assert_eq!(ours.extra_data.as_bytes(), b"certify nonce");
    both_attest(
        &mut p,
        "certify itself",
        TpmCc::CERTIFY,
        &certify(key, key, &ecdsa()),
        TpmSt::ATTEST_CERTIFY,
        true,
        Some(key),
    );
    // TPM_RH_NULL signs nothing; the attestation names TPM_RH_NULL as the signer.
    let (ours, _) = both_attest(
        &mut p,
        "certify by NULL",
        TpmCc::CERTIFY,
        &certify(other, NULL, &ecdsa()),
        TpmSt::ATTEST_CERTIFY,
        true,
        None,
    );
    assert_eq!(ours.qualified_signer.as_bytes(), &NULL.0.to_be_bytes());
    // Errors: a decrypt key signs nothing; another scheme than the key's; no object.
    let errors: [(&str, Vec<u8>, TpmRc); 4] = [
        (
            "decrypt key",
            certify(key, other, &ecdsa()),
            TpmRc::KEY.with_handle(2),
        ),
        (
            "other hash",
            certify(
                other,
                key,
                &TpmtSigScheme::Ecdsa(TpmsSchemeHash {
                    hash_alg: TpmAlgId::SHA384,
                }),
            ),
            TpmRc::SCHEME.with_parameter(2),
        ),
        // TPMI_DH_OBJECT has no "+": TPM_RH_NULL is a handle of the wrong type.
        (
            "NULL object",
            certify(NULL, key, &ecdsa()),
            TpmRc::VALUE.with_handle(1),
        ),
        // Beyond the transient slots of both: no TPMI_DH_OBJECT either.
        (
            "missing object",
            certify(TpmHandle(0x8000_0010), key, &ecdsa()),
            TpmRc::VALUE.with_handle(1),
        ),
    ];
    for (what, c, want) in errors {
        p.same_error(what, &c, want);
    }

    // TPM2_GetTime: the privacy administrator is the endorsement hierarchy.
    let get_time = |admin: TpmHandle, signer: TpmHandle| {
        cmd(
            TpmCc::GET_TIME,
            &[admin, signer],
            &pw2,
            &attest_params(b"t", &ecdsa()),
        )
    };
    let (ours, theirs) = both_attest(
        &mut p,
        "get time",
        TpmCc::GET_TIME,
        &get_time(ENDORSEMENT, key),
        TpmSt::ATTEST_TIME,
        false,
        Some(key),
    );
    for (who, a) in [("ours", &ours), ("swtpm's", &theirs)] {
        let TpmuAttest::Time(t) = &a.attested else {
            panic!("{who}: not a time attestation")
        };
        // The attested clock is in the clear (same reset count as a fresh TPM has).
        assert_eq!(t.time.clock_info.safe, a.clock_info.safe, "{who}");
        eprintln!("{who}: {t:?}");
    }
    let TpmuAttest::Time(ot) = &ours.attested else {
        unreachable!()
    };
    let TpmuAttest::Time(tt) = &theirs.attested else {
        unreachable!()
    };
    assert_eq!(
        (
            ot.time.clock_info.reset_count,
            ot.time.clock_info.restart_count
        ),
        (
            tt.time.clock_info.reset_count,
            tt.time.clock_info.restart_count
        )
    );
    both_attest(
        &mut p,
        "get time, NULL signer",
        TpmCc::GET_TIME,
        &get_time(ENDORSEMENT, NULL),
        TpmSt::ATTEST_TIME,
        false,
        None,
    );
    for (what, c, want) in [
        (
            "owner as privacy admin",
            get_time(OWNER, key),
            TpmRc::VALUE.with_handle(1),
        ),
        (
            "decrypt key",
            get_time(ENDORSEMENT, other),
            TpmRc::KEY.with_handle(2),
        ),
    ] {
        p.same_error(what, &c, want);
    }
}

/// TPM2_CreatePrimary (owner, an ECDSA signing key from the same template on both); returns
/// the handle and each TPM's (Name, creationHash, creationTicket).
#[allow(clippy::type_complexity)]
fn primary(p: &mut Pair) -> (TpmHandle, [(Vec<u8>, Vec<u8>, TpmtTkCreation); 2]) {
    let template = TpmtPublic {
        name_alg: SHA256,
        object_attributes: TpmaObject(
            SIGN | TpmaObject::FIXED_TPM
                | TpmaObject::FIXED_PARENT
                | TpmaObject::SENSITIVE_DATA_ORIGIN,
        ),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::Null,
                scheme: TpmtEccScheme::Ecdsa(TpmsSchemeHash { hash_alg: SHA256 }),
                curve_id: TpmEccCurve::NIST_P256,
                kdf: TpmtKdfScheme::Null,
            },
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::new(&[]).unwrap(),
                y: Tpm2bEccParameter::new(&[]).unwrap(),
            },
        },
    };
    let mut params = vec![0, 4, 0, 0, 0, 0];
    Tpm2bPublic::from(template).marshal(&mut params);
    params.extend(data(b"outside"));
    params.extend([0, 0, 0, 0]);
    let (a, b) = p.both(&cmd(TpmCc::CREATE_PRIMARY, &[OWNER], &[pw()], &params));
    let parse = |rsp: &[u8]| {
        assert_eq!(rc_of(rsp), TpmRc::SUCCESS, "TPM2_CreatePrimary");
        let r = Response::parse(rsp, TpmCc::CREATE_PRIMARY).unwrap();
        let mut rd = Reader::new(r.parameters);
        let _public = Tpm2bPublic::unmarshal(&mut rd).unwrap();
        let _data = tpm2::structures::Tpm2bCreationData::unmarshal(&mut rd).unwrap();
        let hash = Tpm2bDigest::unmarshal(&mut rd).unwrap();
        let ticket = TpmtTkCreation::unmarshal(&mut rd).unwrap();
        let name = tpm2::structures::Tpm2bName::unmarshal(&mut rd).unwrap();
        (
            r.handle.unwrap(),
            (name.as_bytes().to_vec(), hash.as_bytes().to_vec(), ticket),
        )
    };
    let (ha, oa) = parse(&a);
    let (hb, ob) = parse(&b);
    assert_eq!(ha, hb, "primary handles");
    // Same template, same parent, same outsideInfo: the same creation data.
    assert_eq!(oa.1, ob.1, "creationHash");
    (ha, [oa, ob])
}

fn certify_creation_cmd(
    signer: TpmHandle,
    object: TpmHandle,
    hash: &[u8],
    ticket: &TpmtTkCreation,
) -> Vec<u8> {
    let mut v = data(b"cc");
    Tpm2bDigest::new(hash).unwrap().marshal(&mut v);
    ecdsa().marshal(&mut v);
    ticket.marshal(&mut v);
    cmd(TpmCc::CERTIFY_CREATION, &[signer, object], &[pw()], &v)
}

#[test]
fn certify_creation() {
    let mut p = Pair::new(b"attest_vs_swtpm creation");
    let key = load_ecc(&mut p, b"signer", SIGN, TpmtEccScheme::Null);
    let (prim, [ours, theirs]) = primary(&mut p);
    // Each TPM certifies its own ticket; the attested Name is its own key's.
    for (who, (name, hash, ticket), which) in [("ours", &ours, 0), ("swtpm's", &theirs, 1)] {
        let command = certify_creation_cmd(key, prim, hash, ticket);
        let rsp = if which == 0 {
            p.ours(&command)
        } else {
            p.swtpm(&command)
        };
        assert_eq!(rc_of(&rsp), TpmRc::SUCCESS, "{who} certify creation");
        let parsed = Response::parse(&rsp, TpmCc::CERTIFY_CREATION).unwrap();
        let (_, a, _) = parse_attest(parsed.parameters);
        let TpmuAttest::Creation(info) = &a.attested else {
            panic!("{who}: not a creation attestation")
        };
        assert_eq!(info.object_name.as_bytes(), &name[..], "{who}");
        assert_eq!(info.creation_hash.as_bytes(), &hash[..], "{who}");
    }
    // The other TPM's ticket, a changed hash, a wrong tag: the same codes on both.
    let mut bad_tag = certify_creation_cmd(key, prim, &ours.1, &ours.2);
    let at = bad_tag.len() - 2 - ours.2.digest.as_bytes().len() - 4 - 2;
    bad_tag[at..at + 2].copy_from_slice(&TpmSt::HASHCHECK.0.to_be_bytes());
    let mut other_hash = ours.1.clone();
    other_hash[0] ^= 1;
    let null_ticket = TpmtTkCreation {
        hierarchy: NULL,
        digest: Tpm2bDigest::empty(),
    };
    for (what, command, want) in [
        (
            "foreign ticket",
            certify_creation_cmd(
                key,
                prim,
                &ours.1,
                &TpmtTkCreation {
                    hierarchy: OWNER,
                    digest: Tpm2bDigest::new(&[7; 64]).unwrap(),
                },
            ),
            TpmRc::TICKET.with_parameter(4),
        ),
        (
            "changed hash",
            certify_creation_cmd(key, prim, &other_hash, &ours.2),
            TpmRc::TICKET.with_parameter(4),
        ),
        (
            "NULL ticket",
            certify_creation_cmd(key, prim, &ours.1, &null_ticket),
            TpmRc::TICKET.with_parameter(4),
        ),
        ("bad tag", bad_tag, TpmRc::TAG.with_parameter(4)),
        (
            "signer is not a key",
            certify_creation_cmd(prim, key, &ours.1, &ours.2),
            TpmRc::TICKET.with_parameter(4),
        ),
    ] {
        let rsp = p.same_rc(what, &command).0;
        eprintln!("certify creation {what}: {}", rc_of(&rsp));
        if what != "signer is not a key" {
            assert_eq!(rc_of(&rsp), want, "{what}");
        }
    }
}

fn nv_public(h: u32, attrs: u32, size: u16) -> TpmsNvPublic {
    TpmsNvPublic {
        nv_index: TpmHandle(h),
        name_alg: SHA256,
        attributes: TpmaNv(attrs),
        auth_policy: Tpm2bDigest::empty(),
        data_size: size,
    }
}

fn nv_certify_cmd(
    signer: TpmHandle,
    auth: TpmHandle,
    index: u32,
    size: u16,
    offset: u16,
) -> Vec<u8> {
    let mut v = attest_params(b"nv", &TpmtSigScheme::Null);
    v.extend(size.to_be_bytes());
    v.extend(offset.to_be_bytes());
    cmd(
        TpmCc::NV_CERTIFY,
        &[signer, auth, TpmHandle(index)],
        &[pw(), pw()],
        &v,
    )
}

#[test]
fn nv_certify() {
    let mut p = Pair::new(b"attest_vs_swtpm nv");
    let key = load_ecc(
        &mut p,
        b"signer",
        SIGN,
        TpmtEccScheme::Ecdsa(TpmsSchemeHash { hash_alg: SHA256 }),
    );
    let index = 0x0150_0020;
    let attrs = TpmaNv::AUTHREAD | TpmaNv::AUTHWRITE | TpmaNv::OWNERREAD | TpmaNv::OWNERWRITE;
    let public = nv_public(index, attrs, 64);
    let mut define = Tpm2bAuth::empty().to_bytes();
    let body = public.to_bytes();
    define.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    define.extend(body);
    let rsp = p.same(
        "define",
        &cmd(TpmCc::NV_DEFINE_SPACE, &[OWNER], &[pw()], &define),
    );
    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
    // Unwritten: TPM_RC_NV_UNINITIALIZED.
    p.same_error(
        "unwritten",
        &nv_certify_cmd(key, TpmHandle(index), index, 8, 0),
        TpmRc::NV_UNINITIALIZED,
    );
    let payload: Vec<u8> = (0u8..64).collect();
    let mut write_params = u16::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    write_params.extend(&payload);
    write_params.extend(0u16.to_be_bytes());
    let write = cmd(
        TpmCc::NV_WRITE,
        &[TpmHandle(index), TpmHandle(index)],
        &[pw()],
        &write_params,
    );
    assert_eq!(rc_of(&p.same("write", &write)), TpmRc::SUCCESS);
    for (what, auth, size, offset, tag) in [
        (
            "range by the index",
            TpmHandle(index),
            16,
            8,
            TpmSt::ATTEST_NV,
        ),
        ("range by the owner", OWNER, 64, 0, TpmSt::ATTEST_NV),
        ("digest", TpmHandle(index), 0, 0, TpmSt::ATTEST_NV_DIGEST),
        ("last byte", OWNER, 1, 63, TpmSt::ATTEST_NV),
    ] {
        let (ours, _) = both_attest(
            &mut p,
            what,
            TpmCc::NV_CERTIFY,
            &nv_certify_cmd(key, auth, index, size, offset),
            tag,
            true,
            Some(key),
        );
        if let TpmuAttest::Nv(n) = &ours.attested {
            let (off, len) = (usize::from(offset), usize::from(size));
            assert_eq!(n.nv_contents.as_bytes(), &payload[off..off + len], "{what}");
        }
    }
    let (ours, _) = both_attest(
        &mut p,
        "digest, NULL signer",
        TpmCc::NV_CERTIFY,
        &nv_certify_cmd(NULL, TpmHandle(index), index, 0, 0),
        TpmSt::ATTEST_NV_DIGEST,
        true,
        None,
    );
    eprintln!("NULL signer NV digest: {:?}", ours.attested);
    for (what, c, want) in [
        (
            "past the end",
            nv_certify_cmd(key, TpmHandle(index), index, 8, 60),
            TpmRc::NV_RANGE,
        ),
        (
            "platform without PPREAD",
            nv_certify_cmd(key, TpmHandle::PLATFORM, index, 8, 0),
            TpmRc::NV_AUTHORIZATION,
        ),
        (
            "signer is the index",
            nv_certify_cmd(TpmHandle(index), TpmHandle(index), index, 8, 0),
            TpmRc::VALUE.with_handle(1),
        ),
    ] {
        p.same_error(what, &c, want);
    }
}

fn set_audit_cmd(auth: TpmHandle, alg: TpmAlgId, set: &[TpmCc], clear: &[TpmCc]) -> Vec<u8> {
    let mut v = alg.to_bytes();
    TpmlCc::new(set.to_vec()).unwrap().marshal(&mut v);
    TpmlCc::new(clear.to_vec()).unwrap().marshal(&mut v);
    cmd(TpmCc::SET_COMMAND_CODE_AUDIT_STATUS, &[auth], &[pw()], &v)
}

fn audit_digest_cmd(signer: TpmHandle) -> Vec<u8> {
    cmd(
        TpmCc::GET_COMMAND_AUDIT_DIGEST,
        &[ENDORSEMENT, signer],
        &[pw(), pw()],
        &attest_params(b"audit", &TpmtSigScheme::Null),
    )
}

fn hash_cmd(bytes: &[u8], sessions: &[TpmsAuthCommand]) -> Vec<u8> {
    let mut v = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    v.extend(bytes);
    v.extend(SHA256.to_bytes());
    // TPM_RH_NULL: the NULL ticket, so that the response (and its rpHash) is the same on both.
    v.extend(NULL.0.to_be_bytes());
    cmd(TpmCc::HASH, &[], sessions, &v)
}

fn command_audit(a: &TpmsAttest) -> (u64, TpmAlgId, Vec<u8>, Vec<u8>) {
    let TpmuAttest::CommandAudit(c) = &a.attested else {
        panic!("not a command audit attestation")
    };
    (
        c.audit_counter,
        c.digest_alg,
        c.audit_digest.as_bytes().to_vec(),
        c.command_digest.as_bytes().to_vec(),
    )
}

#[test]
fn command_audit_matches_swtpm() {
    let mut p = Pair::new(b"attest_vs_swtpm command audit");
    let key = load_ecc(&mut p, b"signer", SIGN, TpmtEccScheme::Null);
    let report = |p: &mut Pair, what: &str, signer: TpmHandle| {
        let verify = (signer != NULL).then_some(key);
        let c = if signer == NULL {
            audit_digest_cmd(NULL)
        } else {
            cmd(
                TpmCc::GET_COMMAND_AUDIT_DIGEST,
                &[ENDORSEMENT, signer],
                &[pw(), pw()],
                &attest_params(b"audit", &ecdsa()),
            )
        };
        let (ours, _) = both_attest(
            p,
            what,
            TpmCc::GET_COMMAND_AUDIT_DIGEST,
            &c,
            TpmSt::ATTEST_COMMAND_AUDIT,
            true,
            verify,
        );
        command_audit(&ours)
    };
    let caps = |p: &mut Pair, what: &str| {
        for (cap, prop) in [
            (TpmCap::AUDIT_COMMANDS, 0u32),
            (TpmCap::TPM_PROPERTIES, tpm2::pt::TpmPt::AUDIT_COUNTER_0.0),
        ] {
            let mut v = cap.0.to_be_bytes().to_vec();
            v.extend(prop.to_be_bytes());
            v.extend(2u32.to_be_bytes());
            p.same(what, &cmd(TpmCc::GET_CAPABILITY, &[], &[], &v));
        }
    };
    // A new TPM: SHA-512, counter 0, empty digest, TPM2_SetCommandCodeAuditStatus audited.
    let (counter, alg, d, _) = report(&mut p, "new TPM", NULL);
    assert_eq!((counter, alg, d.len()), (0, TpmAlgId::SHA512, 0));
    caps(&mut p, "new TPM capabilities");

    // As tpm2-tools does: change the algorithm (not audited), then the list (audited).
    let s = set_audit_cmd(OWNER, SHA256, &[], &[]);
    assert_eq!(rc_of(&p.same("to SHA-256", &s)), TpmRc::SUCCESS);
    let (counter, alg, d, _) = report(&mut p, "after the change", NULL);
    assert_eq!((counter, alg, d.len()), (0, SHA256, 0));
    let s = set_audit_cmd(OWNER, SHA256, &[TpmCc::HASH, TpmCc::GET_RANDOM], &[]);
    assert_eq!(rc_of(&p.same("audit Hash", &s)), TpmRc::SUCCESS);
    caps(&mut p, "after setList");
    for i in 0..3u8 {
        let rsp = p.same("audited TPM2_Hash", &hash_cmd(&[i; 9], &[]));
        assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
    }
    let (counter, _, d, _) = report(&mut p, "three hashes", NULL);
    assert_eq!((counter, d.len()), (1, 32));
    // A signed report clears the digest; the next audited command starts log 2.
    report(&mut p, "signed", key);
    let (counter, _, d, _) = report(&mut p, "after the signed report", NULL);
    assert_eq!((counter, d.len()), (1, 0));
    p.same("audited TPM2_Hash", &hash_cmd(b"again", &[]));
    let (counter, _, d, _) = report(&mut p, "log 2", NULL);
    assert_eq!((counter, d.len()), (2, 32));
    caps(&mut p, "log 2 capabilities");

    // Errors: the list and the algorithm at once; the endorsement hierarchy as authority.
    p.same_error(
        "alg and list",
        &set_audit_cmd(OWNER, TpmAlgId::SHA384, &[TpmCc::HASH], &[]),
        TpmRc::VALUE.with_parameter(1),
    );
    p.same_error(
        "endorsement",
        &set_audit_cmd(ENDORSEMENT, SHA256, &[], &[]),
        TpmRc::VALUE.with_handle(1),
    );
    // Clearing: SetCommandCodeAuditStatus stays; unknown codes are ignored.
    let s = set_audit_cmd(
        TpmHandle::PLATFORM,
        TpmAlgId::NULL,
        &[TpmCc(0x2000_0001), TpmCc::SHUTDOWN],
        &[TpmCc::HASH, TpmCc::SET_COMMAND_CODE_AUDIT_STATUS],
    );
    assert_eq!(rc_of(&p.same("clear", &s)), TpmRc::SUCCESS);
    caps(&mut p, "after clearList");
    report(&mut p, "after clearList", NULL);

    // TPM Restart keeps the digest; TPM Reset clears it (the counter stays).
    let shutdown = |su: u16| cmd(TpmCc::SHUTDOWN, &[], &[], &su.to_be_bytes());
    let startup = cmd(TpmCc::STARTUP, &[], &[], &[0, 0]);
    p.same("shutdown(STATE)", &shutdown(1));
    p.power_cycle();
    p.same("startup(CLEAR)", &startup);
    let key = load_ecc(&mut p, b"signer", SIGN, TpmtEccScheme::Null);
    let _ = key;
    let (counter, _, d, _) = report(&mut p, "after TPM Restart", NULL);
    assert_eq!((counter, d.len()), (2, 32));
    p.same("shutdown(CLEAR)", &shutdown(0));
    p.power_cycle();
    p.same("startup(CLEAR)", &startup);
    let (counter, _, d, _) = report(&mut p, "after TPM Reset", NULL);
    assert_eq!((counter, d.len()), (2, 0));
}

/// TPM2_StartAuthSession of an unbound, unsalted HMAC session (SHA-256, no symmetric).
fn start_hmac_session(p: &mut Pair) -> TpmHandle {
    let mut params = Tpm2bNonce::new(&[0x11; 16]).unwrap().to_bytes();
    params.extend([0, 0]); // encryptedSalt
    params.push(0); // TPM_SE_HMAC
    params.extend(TpmAlgId::NULL.to_bytes());
    params.extend(SHA256.to_bytes());
    let command = cmd(TpmCc::START_AUTH_SESSION, &[NULL, NULL], &[], &params);
    let (a, b) = p.both(&command);
    let ha = Response::parse(&a, TpmCc::START_AUTH_SESSION)
        .unwrap()
        .handle
        .unwrap();
    let hb = Response::parse(&b, TpmCc::START_AUTH_SESSION)
        .unwrap()
        .handle
        .unwrap();
    assert_eq!(ha, hb, "session handles");
    ha
}

#[test]
fn session_audit_matches_swtpm() {
    let mut p = Pair::new(b"attest_vs_swtpm session audit");
    let key = load_ecc(
        &mut p,
        b"signer",
        SIGN,
        TpmtEccScheme::Ecdsa(TpmsSchemeHash { hash_alg: SHA256 }),
    );
    let session = start_hmac_session(&mut p);
    let get = |signer: TpmHandle, s: TpmHandle| {
        cmd(
            TpmCc::GET_SESSION_AUDIT_DIGEST,
            &[ENDORSEMENT, signer, s],
            &[pw(), pw()],
            &attest_params(b"session", &TpmtSigScheme::Null),
        )
    };
    // Not yet an audit session.
    p.same_error(
        "not audited",
        &get(key, session),
        TpmRc::TYPE.with_handle(3),
    );
    // Audit two TPM2_Hash commands (no key: the HMAC is empty on both).
    let audit = TpmsAuthCommand {
        session_handle: session,
        nonce: Tpm2bNonce::new(&[0x22; 16]).unwrap(),
        attributes: TpmaSession(TpmaSession::CONTINUE_SESSION | TpmaSession::AUDIT),
        hmac: Tpm2bAuth::empty(),
    };
    for i in 0..2u8 {
        let (a, b) = p.both(&hash_cmd(&[i; 5], std::slice::from_ref(&audit)));
        assert_eq!(
            (rc_of(&a), rc_of(&b)),
            (TpmRc::SUCCESS, TpmRc::SUCCESS),
            "audited hash"
        );
    }
    let (ours, _) = both_attest(
        &mut p,
        "session audit",
        TpmCc::GET_SESSION_AUDIT_DIGEST,
        &get(key, session),
        TpmSt::ATTEST_SESSION_AUDIT,
        true,
        Some(key),
    );
    let TpmuAttest::SessionAudit(s) = &ours.attested else {
        panic!("not a session audit attestation")
    };
    assert!(s.exclusive_session);
    assert_eq!(s.session_digest.as_bytes().len(), 32);
    // A command without the session ends exclusivity.
    p.same("unaudited hash", &hash_cmd(b"x", &[]));
    let (ours, _) = both_attest(
        &mut p,
        "session audit, not exclusive",
        TpmCc::GET_SESSION_AUDIT_DIGEST,
        &get(NULL, session),
        TpmSt::ATTEST_SESSION_AUDIT,
        true,
        None,
    );
    let TpmuAttest::SessionAudit(s) = &ours.attested else {
        panic!("not a session audit attestation")
    };
    assert!(!s.exclusive_session);
    // A policy session is no TPMI_SH_HMAC; a session that is not loaded.
    p.same_error(
        "policy handle",
        &get(key, TpmHandle(0x0300_0000)),
        TpmRc::VALUE.with_handle(3),
    );
    let rsp = p.same("absent session", &get(key, TpmHandle(0x0200_0005)));
    assert_eq!(
        rc_of(&rsp),
        TpmRc(TpmRc::REFERENCE_H0.0 + 2),
        "absent session"
    );
    p.same_error(
        "owner as privacy admin",
        &cmd(
            TpmCc::GET_SESSION_AUDIT_DIGEST,
            &[OWNER, key, session],
            &[pw(), pw()],
            &attest_params(b"", &TpmtSigScheme::Null),
        ),
        TpmRc::VALUE.with_handle(1),
    );
}

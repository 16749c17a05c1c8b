//! Unit tests of TPM2_Quote: the attestation structure rebuilt and the signature checked with
//! independent code (the `p256` and `hmac` crates), the privacy obfuscation, and the error
//! paths with their exact codes and numbers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloc::vec::Vec;

use hmac::Mac;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::Digest;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::{TpmEccCurve, TpmSt};
use tpm2::structures::{
    PublicDetail, Tpm2bAttest, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, TpmaObject,
    TpmlPcrSelection, TpmsAttest, TpmsEccParms, TpmsEccPoint, TpmsKeyedhashParms, TpmsPcrSelection,
    TpmsSchemeEcdaa, TpmsSchemeHash, TpmsSymcipherParms, TpmtEccScheme, TpmtKdfScheme,
    TpmtKeyedhashScheme, TpmtPublic, TpmtSigScheme, TpmtSignature, TpmtSymDefObject, TpmuAttest,
};
use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::engine::crypto::ecc::{Curve, EccPrivate};
use crate::engine::crypto::hash::HashAlg;
use crate::engine::crypto::kdf::KdfaStream;
use crate::engine::object::{Object, Sensitive};
use crate::engine::testutil::{engine, expect_rc, ok_params, pw};

const SIGN: u32 = TpmaObject::SIGN | TpmaObject::USER_WITH_AUTH;
const DECRYPT: u32 = TpmaObject::DECRYPT | TpmaObject::USER_WITH_AUTH;

fn ecdsa(hash: TpmAlgId) -> TpmtEccScheme {
    TpmtEccScheme::Ecdsa(TpmsSchemeHash { hash_alg: hash })
}

fn sig_ecdsa(hash: TpmAlgId) -> TpmtSigScheme {
    TpmtSigScheme::Ecdsa(TpmsSchemeHash { hash_alg: hash })
}

/// Places a P-256 key in transient slot `slot` of `hierarchy` and returns its handle and key.
fn put_ecc(
    e: &mut Engine,
    slot: u32,
    attributes: u32,
    scheme: TpmtEccScheme,
    hierarchy: TpmHandle,
) -> (TpmHandle, EccPrivate) {
    let mut rng = KdfaStream::new(HashAlg::Sha256, b"attest tests", b"ecc", b"", b"");
    let key = EccPrivate::derive(Curve::NistP256, &mut rng).unwrap();
    let p = key.public();
    let public = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
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
                x: Tpm2bEccParameter::new(&p.x).unwrap(),
                y: Tpm2bEccParameter::new(&p.y).unwrap(),
            },
        },
    };
    let private = key.scalar();
    let h = put(e, slot, public, &private, hierarchy);
    (h, key)
}

fn put(
    e: &mut Engine,
    slot: u32,
    public: TpmtPublic,
    private: &[u8],
    hierarchy: TpmHandle,
) -> TpmHandle {
    let sensitive = Sensitive {
        auth: Zeroizing::new(Vec::new()),
        seed_value: Zeroizing::new(Vec::new()),
        private: Zeroizing::new(private.to_vec()),
    };
    let obj = Object::new(public, &hierarchy.0.to_be_bytes(), hierarchy, sensitive);
    let handle = 0x8000_0000 + slot;
    e.state.vol.objects.insert(handle, obj);
    TpmHandle(handle)
}

fn params(nonce: &[u8], scheme: &TpmtSigScheme, selection: &TpmlPcrSelection) -> Vec<u8> {
    let mut p = Tpm2bData::new(nonce).unwrap().to_bytes();
    scheme.marshal(&mut p);
    selection.marshal(&mut p);
    p
}

fn selection(banks: &[(TpmAlgId, &[u32])]) -> TpmlPcrSelection {
    TpmlPcrSelection::new(
        banks
            .iter()
            .map(|(alg, pcrs)| TpmsPcrSelection::new(*alg, pcrs).unwrap())
            .collect(),
    )
    .unwrap()
}

/// Runs TPM2_Quote and returns the attestation's bytes, its structure and the signature.
fn quote(
    e: &mut Engine,
    h: TpmHandle,
    nonce: &[u8],
    scheme: &TpmtSigScheme,
    sel: &TpmlPcrSelection,
) -> (Vec<u8>, TpmsAttest, TpmtSignature) {
    let out = ok_params(e, TpmCc::QUOTE, &[h], &[pw()], &params(nonce, scheme, sel));
    let mut r = Reader::new(&out);
    let quoted = Tpm2bAttest::unmarshal(&mut r).unwrap();
    let signature = TpmtSignature::unmarshal(&mut r).unwrap();
    assert!(r.is_empty(), "trailing bytes in the response");
    let attest = TpmsAttest::from_tpm2b(&quoted).unwrap();
    (quoted.as_bytes().to_vec(), attest, signature)
}

fn extend(e: &mut Engine, pcr: u32, byte: u8) {
    let mut p = 1u32.to_be_bytes().to_vec(); // one digest
    p.extend_from_slice(&TpmAlgId::SHA256.0.to_be_bytes());
    p.extend_from_slice(&[byte; 32]);
    ok_params(e, TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], &[pw()], &p);
}

fn p256_verifies(key: &EccPrivate, digest: &[u8], sig: &TpmtSignature) -> bool {
    let TpmtSignature::Ecdsa(s) = sig else {
        panic!("not an ECDSA signature: {sig:?}")
    };
    let p = key.public();
    let point = p256::EncodedPoint::from_affine_coordinates(
        p256::FieldBytes::from_slice(&p.x),
        p256::FieldBytes::from_slice(&p.y),
        false,
    );
    let vk = p256::ecdsa::VerifyingKey::from_encoded_point(&point).unwrap();
    let sig = p256::ecdsa::Signature::from_scalars(
        *p256::FieldBytes::from_slice(s.signature_r.as_bytes()),
        *p256::FieldBytes::from_slice(s.signature_s.as_bytes()),
    )
    .unwrap();
    vk.verify_prehash(digest, &sig).is_ok()
}

#[test]
fn ecc_quote_signs_the_attestation_of_the_selected_pcrs() {
    let mut e = engine();
    extend(&mut e, 16, 0xaa);
    extend(&mut e, 3, 0x55);
    let restricted = SIGN | TpmaObject::RESTRICTED;
    let (h, key) = put_ecc(
        &mut e,
        0,
        restricted,
        ecdsa(TpmAlgId::SHA256),
        TpmHandle::ENDORSEMENT,
    );
    // Selection order: SHA-256 bank (PCRs 3, 16: by index within a bank), then SHA-1 PCR 0.
    let sel = selection(&[(TpmAlgId::SHA256, &[16, 3]), (TpmAlgId::SHA1, &[0])]);
    let nonce = b"fresh nonce 1234";
    let (bytes, attest, sig) = quote(&mut e, h, nonce, &TpmtSigScheme::Null, &sel);

    assert_eq!(attest.tag(), TpmSt::ATTEST_QUOTE);
    assert_eq!(&bytes[..4], &[0xff, b'T', b'C', b'G']);
    assert_eq!(attest.extra_data.as_bytes(), nonce);
    let obj = e.state.object(h).unwrap();
    assert_eq!(attest.qualified_signer.as_bytes(), &obj.qualified_name[..]);
    // Endorsement hierarchy: the clock information is in the clear.
    assert_eq!(attest.clock_info.reset_count, e.state.perm.reset_count);
    assert_eq!(attest.clock_info.restart_count, e.state.perm.restart_count);
    assert_eq!(attest.clock_info.clock, e.state.perm.clock);
    assert!(attest.clock_info.safe);
    let (v1, v2) = super::firmware_version();
    assert_eq!(
        attest.firmware_version,
        (u64::from(v1) << 32) | u64::from(v2)
    );

    let TpmuAttest::Quote(q) = &attest.attested else {
        panic!("not a quote")
    };
    assert_eq!(q.pcr_select, sel);
    let pcrs = &e.state.vol.pcr;
    let mut h256 = sha2::Sha256::new();
    h256.update(pcrs.value(HashAlg::Sha256, 3).unwrap());
    h256.update(pcrs.value(HashAlg::Sha256, 16).unwrap());
    h256.update(pcrs.value(HashAlg::Sha1, 0).unwrap());
    assert_eq!(q.pcr_digest.as_bytes(), &h256.finalize()[..]);

    assert!(p256_verifies(&key, &sha2::Sha256::digest(&bytes), &sig));
    let mut tampered = bytes.clone();
    tampered[20] ^= 1;
    assert!(!p256_verifies(&key, &sha2::Sha256::digest(&tampered), &sig));
}

#[test]
fn owner_keys_get_obfuscated_counters() {
    let mut e = engine();
    let (h, _) = put_ecc(&mut e, 0, SIGN, ecdsa(TpmAlgId::SHA256), TpmHandle::OWNER);
    let sel = selection(&[(TpmAlgId::SHA256, &[0])]);
    let (_, a, _) = quote(&mut e, h, b"", &TpmtSigScheme::Null, &sel);
    let (_, b, _) = quote(&mut e, h, b"x", &TpmtSigScheme::Null, &sel);
    let (v1, v2) = super::firmware_version();
    let plain_fw = (u64::from(v1) << 32) | u64::from(v2);
    assert_ne!(a.firmware_version, plain_fw);
    assert!(
        a.clock_info.reset_count != e.state.perm.reset_count
            || a.clock_info.restart_count != e.state.perm.restart_count
    );
    // The same key gives the same obfuscated values; the clock itself is never hidden.
    assert_eq!(a.firmware_version, b.firmware_version);
    assert_eq!(a.clock_info.reset_count, b.clock_info.reset_count);
    assert_eq!(a.clock_info.restart_count, b.clock_info.restart_count);
    assert_eq!(b.clock_info.clock, e.state.perm.clock);
    assert!(a.extra_data.is_empty());
}

#[test]
fn hmac_key_quotes() {
    let mut e = engine();
    let secret = [7u8; 32];
    let public = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(SIGN),
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
    let h = put(&mut e, 1, public, &secret, TpmHandle::OWNER);
    let sel = selection(&[(TpmAlgId::SHA1, &[1, 2])]);
    let (bytes, _, sig) = quote(&mut e, h, b"n", &TpmtSigScheme::Null, &sel);
    let TpmtSignature::Hmac(ha) = sig else {
        panic!("not an HMAC signature")
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
    mac.update(&sha2::Sha256::digest(&bytes));
    assert_eq!(ha.digest(), &mac.finalize().into_bytes()[..]);
}

#[test]
fn quote_errors() {
    let mut e = engine();
    let sel = selection(&[(TpmAlgId::SHA256, &[0])]);
    let null = TpmtSigScheme::Null;
    let p = |scheme: &TpmtSigScheme| params(b"nonce", scheme, &sel);
    let q = |e: &mut Engine, h: TpmHandle, params: &[u8], rc: TpmRc| {
        expect_rc(e, TpmCc::QUOTE, &[h], &[pw()], params, rc);
    };

    // A decrypt-only key is not a signing key.
    let (dec, _) = put_ecc(&mut e, 0, DECRYPT, TpmtEccScheme::Null, TpmHandle::OWNER);
    q(
        &mut e,
        dec,
        &p(&sig_ecdsa(TpmAlgId::SHA256)),
        TpmRc::KEY.with_handle(1),
    );
    // Nor is a symmetric cipher key, even with the sign attribute.
    let aes = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(SIGN | TpmaObject::DECRYPT),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::SymCipher {
            parameters: TpmsSymcipherParms {
                sym: TpmtSymDefObject::Null,
            },
            unique: Tpm2bDigest::new(&[0; 32]).unwrap(),
        },
    };
    let aes = put(&mut e, 1, aes, &[1; 16], TpmHandle::OWNER);
    q(&mut e, aes, &p(&null), TpmRc::KEY.with_handle(1));

    // A key with a scheme refuses another scheme or hash; a key without one needs inScheme.
    let (key, _) = put_ecc(&mut e, 2, SIGN, ecdsa(TpmAlgId::SHA256), TpmHandle::OWNER);
    q(
        &mut e,
        key,
        &p(&sig_ecdsa(TpmAlgId::SHA384)),
        TpmRc::SCHEME.with_parameter(2),
    );
    let rsassa = TpmtSigScheme::Rsassa(TpmsSchemeHash {
        hash_alg: TpmAlgId::SHA256,
    });
    q(&mut e, key, &p(&rsassa), TpmRc::SCHEME.with_parameter(2));
    let (bare, _) = put_ecc(&mut e, 1, SIGN, TpmtEccScheme::Null, TpmHandle::OWNER);
    q(&mut e, bare, &p(&null), TpmRc::SCHEME.with_parameter(2));
    q(&mut e, bare, &p(&rsassa), TpmRc::SCHEME.with_parameter(2));
    // ... and signs with the one it is given.
    ok_params(
        &mut e,
        TpmCc::QUOTE,
        &[bare],
        &[pw()],
        &p(&sig_ecdsa(TpmAlgId::SHA384)),
    );
    // Schemes this TPM does not implement.
    let ecdaa = TpmtSigScheme::Ecdaa(TpmsSchemeEcdaa {
        hash_alg: TpmAlgId::SHA256,
        count: 0,
    });
    q(&mut e, bare, &p(&ecdaa), TpmRc::SCHEME.with_parameter(2));
    // TPM_RH_NULL signs nothing, so it has no hash for the PCR digest.
    q(
        &mut e,
        TpmHandle::NULL,
        &p(&sig_ecdsa(TpmAlgId::SHA256)),
        TpmRc::SCHEME.with_parameter(2),
    );

    // qualifyingData beyond TPM2B_DATA (66 bytes).
    let mut big = 67u16.to_be_bytes().to_vec();
    big.extend_from_slice(&[0; 67]);
    null.marshal(&mut big);
    sel.marshal(&mut big);
    q(&mut e, key, &big, TpmRc::SIZE.with_parameter(1));
    let mut max = Tpm2bData::new(&[9; 66]).unwrap().to_bytes();
    null.marshal(&mut max);
    sel.marshal(&mut max);
    ok_params(&mut e, TpmCc::QUOTE, &[key], &[pw()], &max);

    // Bad selections: a sizeofSelect other than 3, an unknown hash, too many banks.
    let mut bad = Tpm2bData::new(b"n").unwrap().to_bytes();
    null.marshal(&mut bad);
    bad.extend_from_slice(&[0, 0, 0, 1, 0, 0x0b, 4, 1, 0, 0, 0]);
    q(&mut e, key, &bad, TpmRc::VALUE.with_parameter(3));
    let mut bad = Tpm2bData::new(b"n").unwrap().to_bytes();
    null.marshal(&mut bad);
    bad.extend_from_slice(&[0, 0, 0, 1, 0, 0x99, 3, 1, 0, 0]);
    q(&mut e, key, &bad, TpmRc::HASH.with_parameter(3));
    let mut bad = Tpm2bData::new(b"n").unwrap().to_bytes();
    null.marshal(&mut bad);
    bad.extend_from_slice(&[0, 0, 0, 9]);
    q(&mut e, key, &bad, TpmRc::SIZE.with_parameter(3));
    // Trailing bytes.
    let mut extra = p(&null);
    extra.push(0);
    q(&mut e, key, &extra, TpmRc::SIZE);
}

// ---------------------------------------------------------------------------------------------
// TPM2_Certify, TPM2_CertifyCreation, TPM2_GetTime, TPM2_NV_Certify, TPM2_GetSessionAuditDigest
// ---------------------------------------------------------------------------------------------

/// qualifyingData || inScheme.
fn head(nonce: &[u8], scheme: &TpmtSigScheme) -> Vec<u8> {
    let mut p = Tpm2bData::new(nonce).unwrap().to_bytes();
    scheme.marshal(&mut p);
    p
}

/// Runs an attestation command; returns the attestation bytes, structure and signature.
fn attest(
    e: &mut Engine,
    cc: TpmCc,
    handles: &[TpmHandle],
    params: &[u8],
) -> (Vec<u8>, TpmsAttest, TpmtSignature) {
    let sessions: Vec<_> = (0..cc.info().unwrap().auth_handles).map(|_| pw()).collect();
    let out = ok_params(e, cc, handles, &sessions, params);
    let mut r = Reader::new(&out);
    let a = Tpm2bAttest::unmarshal(&mut r).unwrap();
    let sig = TpmtSignature::unmarshal_allow_null(&mut r).unwrap();
    assert!(r.is_empty(), "trailing bytes in the response");
    let attest = TpmsAttest::from_tpm2b(&a).unwrap();
    (a.as_bytes().to_vec(), attest, sig)
}

fn plain_fw() -> u64 {
    let (v1, v2) = super::firmware_version();
    (u64::from(v1) << 32) | u64::from(v2)
}

#[test]
fn certify_names_the_object_and_signs() {
    let mut e = engine();
    let (key, ecc_key) = put_ecc(
        &mut e,
        0,
        SIGN,
        ecdsa(TpmAlgId::SHA256),
        TpmHandle::ENDORSEMENT,
    );
    let (obj, _) = put_ecc(&mut e, 1, DECRYPT, TpmtEccScheme::Null, TpmHandle::OWNER);
    let (bytes, a, sig) = attest(
        &mut e,
        TpmCc::CERTIFY,
        &[obj, key],
        &head(b"cert", &TpmtSigScheme::Null),
    );
    assert_eq!(a.tag(), TpmSt::ATTEST_CERTIFY);
    assert_eq!(a.extra_data.as_bytes(), b"cert");
    let certified = e.state.object(obj).unwrap();
    let TpmuAttest::Certify(c) = &a.attested else {
        panic!("not a certify attestation")
    };
    assert_eq!(c.name.as_bytes(), &certified.name[..]);
    assert_eq!(c.qualified_name.as_bytes(), &certified.qualified_name[..]);
    assert!(p256_verifies(&ecc_key, &sha2::Sha256::digest(&bytes), &sig));
    // Endorsement signer: no obfuscation.
    assert_eq!(a.firmware_version, plain_fw());

    // TPM_RH_NULL: the NULL signature, TPM_RH_NULL as signer, obfuscated header.
    let (_, a, sig) = attest(
        &mut e,
        TpmCc::CERTIFY,
        &[obj, TpmHandle::NULL],
        &head(b"", &sig_ecdsa(TpmAlgId::SHA384)),
    );
    assert_eq!(sig, TpmtSignature::Null);
    assert_eq!(a.qualified_signer.as_bytes(), &[0x40, 0, 0, 7]);
    assert_ne!(a.firmware_version, plain_fw());

    // Errors: signer not a signing key (handle 2), scheme (parameter 2), object ADMIN role
    // needs a policy when adminWithPolicy is set.
    let p = head(b"", &TpmtSigScheme::Null);
    expect_rc(
        &mut e,
        TpmCc::CERTIFY,
        &[key, obj],
        &[pw(), pw()],
        &p,
        TpmRc::KEY.with_handle(2),
    );
    expect_rc(
        &mut e,
        TpmCc::CERTIFY,
        &[obj, key],
        &[pw(), pw()],
        &head(b"", &sig_ecdsa(TpmAlgId::SHA1)),
        TpmRc::SCHEME.with_parameter(2),
    );
    let (admin, _) = put_ecc(
        &mut e,
        2,
        DECRYPT | TpmaObject::ADMIN_WITH_POLICY,
        TpmtEccScheme::Null,
        TpmHandle::OWNER,
    );
    expect_rc(
        &mut e,
        TpmCc::CERTIFY,
        &[admin, key],
        &[pw(), pw()],
        &p,
        TpmRc::AUTH_TYPE.with_session(1),
    );
    expect_rc(
        &mut e,
        TpmCc::CERTIFY,
        &[TpmHandle::NULL, key],
        &[pw(), pw()],
        &p,
        TpmRc::VALUE.with_handle(1),
    );
}

/// TPM2_CreatePrimary of an ECDSA key under the owner; returns (handle, Name, creationHash,
/// creationTicket bytes).
fn primary_with_ticket(e: &mut Engine) -> (TpmHandle, Vec<u8>, Vec<u8>, Vec<u8>) {
    let template = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(
            SIGN | TpmaObject::FIXED_TPM
                | TpmaObject::FIXED_PARENT
                | TpmaObject::SENSITIVE_DATA_ORIGIN,
        ),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::Null,
                scheme: ecdsa(TpmAlgId::SHA256),
                curve_id: TpmEccCurve::NIST_P256,
                kdf: TpmtKdfScheme::Null,
            },
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::new(&[]).unwrap(),
                y: Tpm2bEccParameter::new(&[]).unwrap(),
            },
        },
    };
    let mut p = alloc::vec![0, 4, 0, 0, 0, 0];
    tpm2::structures::Tpm2bPublic::from(template).marshal(&mut p);
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let (rc, rsp) =
        crate::engine::testutil::run(e, TpmCc::CREATE_PRIMARY, &[TpmHandle::OWNER], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS);
    let r = tpm2::response::Response::parse(&rsp, TpmCc::CREATE_PRIMARY).unwrap();
    let mut rd = Reader::new(r.parameters);
    tpm2::structures::Tpm2bPublic::unmarshal(&mut rd).unwrap();
    tpm2::structures::Tpm2bCreationData::unmarshal(&mut rd).unwrap();
    let hash = Tpm2bDigest::unmarshal(&mut rd).unwrap();
    let ticket = tpm2::structures::TpmtTkCreation::unmarshal(&mut rd).unwrap();
    let name = tpm2::structures::Tpm2bName::unmarshal(&mut rd).unwrap();
    (
        r.handle.unwrap(),
        name.as_bytes().to_vec(),
        hash.as_bytes().to_vec(),
        ticket.to_bytes(),
    )
}

#[test]
fn certify_creation_checks_the_ticket() {
    let mut e = engine();
    let (key, ecc_key) = put_ecc(&mut e, 0, SIGN, ecdsa(TpmAlgId::SHA256), TpmHandle::OWNER);
    let (prim, name, hash, ticket) = primary_with_ticket(&mut e);
    assert_ne!(prim, key);
    let params = |hash: &[u8], ticket: &[u8]| {
        let mut p = Tpm2bData::new(b"n").unwrap().to_bytes();
        Tpm2bDigest::new(hash).unwrap().marshal(&mut p);
        TpmtSigScheme::Null.marshal(&mut p);
        p.extend_from_slice(ticket);
        p
    };
    let (bytes, a, sig) = attest(
        &mut e,
        TpmCc::CERTIFY_CREATION,
        &[key, prim],
        &params(&hash, &ticket),
    );
    let TpmuAttest::Creation(c) = &a.attested else {
        panic!("not a creation attestation")
    };
    assert_eq!(c.object_name.as_bytes(), &name[..]);
    assert_eq!(c.creation_hash.as_bytes(), &hash[..]);
    assert!(p256_verifies(&ecc_key, &sha2::Sha256::digest(&bytes), &sig));
    // The ticket is HMAC-SHA512(ownerProof, TPM_ST_CREATION || Name || creationHash).
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(&e.state.perm.sh_proof).unwrap();
    mac.update(&TpmSt::CREATION.0.to_be_bytes());
    mac.update(&name);
    mac.update(&hash);
    assert_eq!(
        &ticket[ticket.len() - 64..],
        &mac.finalize().into_bytes()[..]
    );

    let cc = TpmCc::CERTIFY_CREATION;
    let mut other = hash.clone();
    other[0] ^= 0x80;
    let mut forged = ticket.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let mut endorsement = ticket.clone();
    endorsement[2..6].copy_from_slice(&TpmHandle::ENDORSEMENT.0.to_be_bytes());
    for bad in [
        params(&other, &ticket),
        params(&hash, &forged),
        params(&hash, &endorsement),
    ] {
        expect_rc(
            &mut e,
            cc,
            &[key, prim],
            &[pw()],
            &bad,
            TpmRc::TICKET.with_parameter(4),
        );
    }
    let mut wrong_tag = ticket.clone();
    wrong_tag[0..2].copy_from_slice(&TpmSt::HASHCHECK.0.to_be_bytes());
    expect_rc(
        &mut e,
        cc,
        &[key, prim],
        &[pw()],
        &params(&hash, &wrong_tag),
        TpmRc::TAG.with_parameter(4),
    );
    // The signer is checked before the ticket.
    let (dec, _) = put_ecc(&mut e, 2, DECRYPT, TpmtEccScheme::Null, TpmHandle::OWNER);
    expect_rc(
        &mut e,
        cc,
        &[dec, prim],
        &[pw()],
        &params(&other, &ticket),
        TpmRc::KEY.with_handle(1),
    );
}

#[test]
fn get_time_attests_the_clock_in_the_clear() {
    let mut e = engine();
    let (key, ecc_key) = put_ecc(&mut e, 0, SIGN, ecdsa(TpmAlgId::SHA256), TpmHandle::OWNER);
    let (bytes, a, sig) = attest(
        &mut e,
        TpmCc::GET_TIME,
        &[TpmHandle::ENDORSEMENT, key],
        &head(b"t", &TpmtSigScheme::Null),
    );
    assert_eq!(a.tag(), TpmSt::ATTEST_TIME);
    assert!(p256_verifies(&ecc_key, &sha2::Sha256::digest(&bytes), &sig));
    let TpmuAttest::Time(time) = &a.attested else {
        panic!("not a time attestation")
    };
    // The owner key's header is obfuscated, the attested time and firmware are not.
    assert_ne!(a.firmware_version, plain_fw());
    assert_eq!(time.firmware_version, plain_fw());
    assert_eq!(time.time.clock_info.reset_count, e.state.perm.reset_count);
    assert_eq!(
        time.time.clock_info.restart_count,
        e.state.perm.restart_count
    );
    assert_eq!(time.time.clock_info.clock, e.state.perm.clock);
    assert_eq!(a.clock_info.clock, time.time.clock_info.clock);
    // Only the endorsement hierarchy is the privacy administrator, with its authorization.
    let p = head(b"", &TpmtSigScheme::Null);
    expect_rc(
        &mut e,
        TpmCc::GET_TIME,
        &[TpmHandle::OWNER, key],
        &[pw(), pw()],
        &p,
        TpmRc::VALUE.with_handle(1),
    );
    expect_rc(
        &mut e,
        TpmCc::GET_TIME,
        &[TpmHandle::ENDORSEMENT, key],
        &[crate::engine::testutil::pw_with(b"no"), pw()],
        &p,
        TpmRc::BAD_AUTH.with_session(1),
    );
    e.state.vol.eh_enable = false;
    expect_rc(
        &mut e,
        TpmCc::GET_TIME,
        &[TpmHandle::ENDORSEMENT, key],
        &[pw(), pw()],
        &p,
        TpmRc::HIERARCHY.with_handle(1),
    );
}

fn define_nv(e: &mut Engine, index: u32, attrs: u32, size: u16) {
    use tpm2::structures::{TpmaNv, TpmsNvPublic};
    let public = TpmsNvPublic {
        nv_index: TpmHandle(index),
        name_alg: TpmAlgId::SHA256,
        attributes: TpmaNv(attrs),
        auth_policy: Tpm2bDigest::empty(),
        data_size: size,
    };
    let mut p = alloc::vec![0, 0];
    let body = public.to_bytes();
    p.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&body);
    ok_params(e, TpmCc::NV_DEFINE_SPACE, &[TpmHandle::OWNER], &[pw()], &p);
}

#[test]
fn nv_certify_ranges_and_digests() {
    use tpm2::structures::TpmaNv;
    let mut e = engine();
    let (key, ecc_key) = put_ecc(&mut e, 0, SIGN, ecdsa(TpmAlgId::SHA256), TpmHandle::OWNER);
    let index = 0x0180_0001;
    let nv = TpmHandle(index);
    define_nv(&mut e, index, TpmaNv::AUTHREAD | TpmaNv::AUTHWRITE, 32);
    let params = |size: u16, offset: u16| {
        let mut p = head(b"nv", &TpmtSigScheme::Null);
        p.extend_from_slice(&size.to_be_bytes());
        p.extend_from_slice(&offset.to_be_bytes());
        p
    };
    let cc = TpmCc::NV_CERTIFY;
    expect_rc(
        &mut e,
        cc,
        &[key, nv, nv],
        &[pw(), pw()],
        &params(4, 0),
        TpmRc::NV_UNINITIALIZED,
    );
    let payload: Vec<u8> = (100u8..132).collect();
    let mut write = 32u16.to_be_bytes().to_vec();
    write.extend_from_slice(&payload);
    write.extend_from_slice(&[0, 0]);
    ok_params(&mut e, TpmCc::NV_WRITE, &[nv, nv], &[pw()], &write);
    let name = e.state.perm.nv.get(nv).unwrap().name();

    let (bytes, a, sig) = attest(&mut e, cc, &[key, nv, nv], &params(5, 10));
    assert!(p256_verifies(&ecc_key, &sha2::Sha256::digest(&bytes), &sig));
    let TpmuAttest::Nv(info) = &a.attested else {
        panic!("not an NV attestation")
    };
    assert_eq!(info.index_name.as_bytes(), &name[..]);
    assert_eq!(
        (info.offset, info.nv_contents.as_bytes()),
        (10, &payload[10..15])
    );

    // Size and offset zero: the digest of the whole index with the scheme's hash.
    let (_, a, _) = attest(&mut e, cc, &[key, nv, nv], &params(0, 0));
    let TpmuAttest::NvDigest(digest_info) = &a.attested else {
        panic!("not an NV digest attestation")
    };
    assert_eq!(digest_info.index_name.as_bytes(), &name[..]);
    assert_eq!(
        digest_info.nv_digest.as_bytes(),
        &sha2::Sha256::digest(&payload)[..]
    );
    // TPM_RH_NULL: no scheme, so no hash: an empty digest.
    let (_, a, sig) = attest(&mut e, cc, &[TpmHandle::NULL, nv, nv], &params(0, 0));
    assert_eq!(sig, TpmtSignature::Null);
    let TpmuAttest::NvDigest(digest_info) = &a.attested else {
        panic!("not an NV digest attestation")
    };
    assert!(digest_info.nv_digest.is_empty());

    for (handles, p, want) in [
        ([key, nv, nv], params(8, 25), TpmRc::NV_RANGE),
        (
            [key, TpmHandle::OWNER, nv],
            params(8, 0),
            TpmRc::NV_AUTHORIZATION,
        ),
        ([nv, nv, nv], params(8, 0), TpmRc::VALUE.with_handle(1)),
    ] {
        expect_rc(&mut e, cc, &handles, &[pw(), pw()], &p, want);
    }
    // A read-locked index.
    e.state
        .perm
        .nv
        .get_mut(nv)
        .unwrap()
        .set(TpmaNv::READLOCKED, true);
    expect_rc(
        &mut e,
        cc,
        &[key, nv, nv],
        &[pw(), pw()],
        &params(8, 0),
        TpmRc::NV_LOCKED,
    );
}

#[test]
fn session_audit_digest_reports_the_session() {
    use tpm2::auth::{TpmaSession, TpmsAuthCommand};
    use tpm2::structures::{Tpm2bAuth, Tpm2bNonce};
    let mut e = engine();
    let (key, ecc_key) = put_ecc(&mut e, 0, SIGN, ecdsa(TpmAlgId::SHA256), TpmHandle::OWNER);
    let mut p = Tpm2bNonce::new(&[3; 16]).unwrap().to_bytes();
    p.extend_from_slice(&[0, 0, 0]);
    p.extend_from_slice(&TpmAlgId::NULL.0.to_be_bytes());
    p.extend_from_slice(&TpmAlgId::SHA256.0.to_be_bytes());
    let (rc, rsp) = crate::engine::testutil::run(
        &mut e,
        TpmCc::START_AUTH_SESSION,
        &[TpmHandle::NULL, TpmHandle::NULL],
        &[],
        &p,
    );
    assert_eq!(rc, TpmRc::SUCCESS);
    let session = tpm2::response::Response::parse(&rsp, TpmCc::START_AUTH_SESSION)
        .unwrap()
        .handle
        .unwrap();
    let get = |signer: TpmHandle, info: TpmHandle| {
        (
            [TpmHandle::ENDORSEMENT, signer, info],
            head(b"s", &TpmtSigScheme::Null),
        )
    };
    let (h, p) = get(key, session);
    let cc = TpmCc::GET_SESSION_AUDIT_DIGEST;
    expect_rc(
        &mut e,
        cc,
        &h,
        &[pw(), pw()],
        &p,
        TpmRc::TYPE.with_handle(3),
    );
    // One audited TPM2_GetRandom.
    let audit = TpmsAuthCommand {
        session_handle: session,
        nonce: Tpm2bNonce::new(&[4; 16]).unwrap(),
        attributes: TpmaSession(TpmaSession::CONTINUE_SESSION | TpmaSession::AUDIT),
        hmac: Tpm2bAuth::empty(),
    };
    let out = ok_params(&mut e, TpmCc::GET_RANDOM, &[], &[audit], &[0, 2]);
    let (bytes, a, sig) = attest(&mut e, cc, &h, &p);
    assert!(p256_verifies(&ecc_key, &sha2::Sha256::digest(&bytes), &sig));
    let TpmuAttest::SessionAudit(info) = &a.attested else {
        panic!("not a session audit attestation")
    };
    assert!(info.exclusive_session);
    let grc = TpmCc::GET_RANDOM.0.to_be_bytes();
    let cp = sha2::Sha256::digest([&grc[..], &[0, 2]].concat());
    let rp = sha2::Sha256::digest([&[0u8; 4][..], &grc, &out].concat());
    let want = sha2::Sha256::digest([&[0u8; 32][..], &cp, &rp].concat());
    assert_eq!(info.session_digest.as_bytes(), &want[..]);
    // A policy session handle is no TPMI_SH_HMAC.
    let (h, p) = get(key, TpmHandle(0x0300_0000));
    expect_rc(
        &mut e,
        cc,
        &h,
        &[pw(), pw()],
        &p,
        TpmRc::VALUE.with_handle(3),
    );
}

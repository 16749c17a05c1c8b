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

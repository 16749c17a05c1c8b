//! Unit tests of `ecc_commit`: TPM2_Commit, TPM2_EC_Ephemeral, TPM2_ZGen_2Phase and ECDAA in
//! TPM2_Sign on keys placed directly in the engine. Points and signatures are checked with the
//! `p256` crate used directly (part 1 §C.4: `[s]B = E + [T]([d]B)`); errors with their exact
//! codes and numbers; the commit counter and array across commands, save/restore and the three
//! kinds of TPM2_Startup.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use p256::elliptic_curve::PrimeField;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{AffinePoint, EncodedPoint, FieldBytes, ProjectivePoint, Scalar};
use sha2::Digest;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::TpmEccCurve;
use tpm2::structures::{
    PublicDetail, Tpm2bDigest, Tpm2bEccParameter, Tpm2bEccPoint, TpmaObject, TpmsEccParms,
    TpmsEccPoint, TpmsKeyedhashParms, TpmsSchemeEcdaa, TpmsSchemeHash, TpmtEccScheme,
    TpmtKdfScheme, TpmtKeyedhashScheme, TpmtPublic, TpmtSigScheme, TpmtSignature, TpmtSymDefObject,
};
use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::engine::crypto::hash::{HashAlg, digest};
use crate::engine::object::{Object, Sensitive};
use crate::engine::testutil::{TestPlatform, engine, expect_rc, ok_params, pw, run};

const USER: u32 = TpmaObject::USER_WITH_AUTH;
const SIGN: u32 = TpmaObject::SIGN | USER;
const DECRYPT: u32 = TpmaObject::DECRYPT | USER;

/// The private scalar of the test keys.
const D: [u8; 32] = [
    0x51, 0x9b, 0x42, 0x3d, 0x71, 0x5f, 0x8b, 0x58, 0x1f, 0x4f, 0xa8, 0xee, 0x59, 0xf4, 0x77, 0x1a,
    0x5b, 0x44, 0xc8, 0x13, 0x0b, 0x4e, 0x3e, 0xac, 0xca, 0x54, 0xa5, 0x6d, 0xda, 0x72, 0xb4, 0x64,
];

fn scalar(bytes: &[u8]) -> Scalar {
    let mut b = [0u8; 32];
    b[32 - bytes.len()..].copy_from_slice(bytes);
    Scalar::from_repr(FieldBytes::from(b)).unwrap()
}

fn affine(p: &TpmsEccPoint) -> AffinePoint {
    assert_eq!(
        (p.x.len(), p.y.len()),
        (32, 32),
        "coordinates of the curve size"
    );
    let enc = EncodedPoint::from_affine_coordinates(
        FieldBytes::from_slice(p.x.as_bytes()),
        FieldBytes::from_slice(p.y.as_bytes()),
        false,
    );
    Option::from(AffinePoint::from_encoded_point(&enc)).expect("a point on P-256")
}

fn tpms(p: &ProjectivePoint) -> TpmsEccPoint {
    let enc = p.to_affine().to_encoded_point(false);
    TpmsEccPoint {
        x: Tpm2bEccParameter::new(enc.x().unwrap()).unwrap(),
        y: Tpm2bEccParameter::new(enc.y().unwrap()).unwrap(),
    }
}

fn point2b(p: &TpmsEccPoint) -> Vec<u8> {
    Tpm2bEccPoint { point: p.clone() }.to_bytes()
}

const EMPTY_POINT: [u8; 6] = [0, 4, 0, 0, 0, 0];

fn ecc_public(attributes: u32, scheme: TpmtEccScheme) -> TpmtPublic {
    let q = tpms(&(ProjectivePoint::GENERATOR * scalar(&D)));
    TpmtPublic {
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
            unique: q,
        },
    }
}

fn ecdaa(hash: TpmAlgId, count: u16) -> TpmsSchemeEcdaa {
    TpmsSchemeEcdaa {
        hash_alg: hash,
        count,
    }
}

/// Places an object in transient slot `slot` with the private part `private`.
fn put(e: &mut Engine, slot: u32, public: TpmtPublic, private: &[u8]) -> TpmHandle {
    let sensitive = Sensitive {
        auth: Zeroizing::new(Vec::new()),
        seed_value: Zeroizing::new(Vec::new()),
        private: Zeroizing::new(private.to_vec()),
    };
    let obj = Object::new(
        public,
        &TpmHandle::NULL.0.to_be_bytes(),
        TpmHandle::NULL,
        sensitive,
    );
    e.state.vol.objects.insert(0x8000_0000 + slot, obj);
    TpmHandle(0x8000_0000 + slot)
}

fn ecdaa_key(e: &mut Engine) -> TpmHandle {
    put(
        e,
        0,
        ecc_public(SIGN, TpmtEccScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, 0))),
        &D,
    )
}

fn commit_params(p1: Option<&TpmsEccPoint>, s2: &[u8], y2: &[u8]) -> Vec<u8> {
    let mut v = match p1 {
        Some(p) => point2b(p),
        None => EMPTY_POINT.to_vec(),
    };
    v.extend_from_slice(&u16::try_from(s2.len()).unwrap().to_be_bytes());
    v.extend_from_slice(s2);
    v.extend_from_slice(&u16::try_from(y2.len()).unwrap().to_be_bytes());
    v.extend_from_slice(y2);
    v
}

/// K, L, E and the counter of a TPM2_Commit response (`None` for an empty point).
struct Commit {
    k: Option<AffinePoint>,
    l: Option<AffinePoint>,
    e: Option<AffinePoint>,
    counter: u16,
}

fn read_point(r: &mut Reader<'_>) -> Option<AffinePoint> {
    let p = Tpm2bEccPoint::unmarshal(r).unwrap();
    if p.point.x.is_empty() && p.point.y.is_empty() {
        None
    } else {
        Some(affine(&p.point))
    }
}

fn do_commit(e: &mut Engine, h: TpmHandle, params: &[u8]) -> Commit {
    let out = ok_params(e, TpmCc::COMMIT, &[h], &[pw()], params);
    let mut r = Reader::new(&out);
    let c = Commit {
        k: read_point(&mut r),
        l: read_point(&mut r),
        e: read_point(&mut r),
        counter: r.u16("counter").unwrap(),
    };
    assert!(r.is_empty());
    c
}

fn ephemeral(e: &mut Engine) -> (AffinePoint, u16) {
    let out = ok_params(e, TpmCc::EC_EPHEMERAL, &[], &[], &[0, 3]);
    let mut r = Reader::new(&out);
    let q = read_point(&mut r).expect("Q");
    let counter = r.u16("counter").unwrap();
    assert!(r.is_empty());
    (q, counter)
}

fn sign_params(digest: &[u8], scheme: &TpmtSigScheme) -> Vec<u8> {
    let mut v = Tpm2bDigest::new(digest).unwrap().to_bytes();
    scheme.marshal(&mut v);
    // A NULL hash-check ticket.
    v.extend_from_slice(&[0x80, 0x24, 0x40, 0, 0, 7, 0, 0]);
    v
}

fn sign_ecdaa(e: &mut Engine, h: TpmHandle, digest: &[u8], count: u16) -> (Vec<u8>, Scalar) {
    let scheme = TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, count));
    let out = ok_params(e, TpmCc::SIGN, &[h], &[pw()], &sign_params(digest, &scheme));
    let TpmtSignature::Ecdaa(sig) = TpmtSignature::from_bytes(&out).unwrap() else {
        panic!("not an ECDAA signature")
    };
    assert_eq!(sig.hash, TpmAlgId::SHA256);
    assert_eq!(sig.signature_s.len(), 32);
    (
        sig.signature_r.as_bytes().to_vec(),
        scalar(sig.signature_s.as_bytes()),
    )
}

/// `T = H(nonceK || digest) mod n` of an ECDAA signature.
fn challenge(nonce_k: &[u8], digest_in: &[u8]) -> Scalar {
    let t = sha2::Sha256::digest([nonce_k, digest_in].concat());
    <Scalar as p256::elliptic_curve::ops::Reduce<p256::U256>>::reduce_bytes(&t)
}

/// A point P2 = (H_SHA256(s2) mod p, y2) on the curve: the first s2 = "s2-<i>" that gives one.
fn p2_for_test() -> (Vec<u8>, TpmsEccPoint) {
    for i in 0u32.. {
        let s2 = alloc::format!("s2-{i}").into_bytes();
        let h = sha2::Sha256::digest(&s2);
        // SHA-256 output is below 2^256 < 2p, so one subtraction reduces it.
        let x = crate::engine::crypto::ecc::Curve::NistP256
            .reduce_mod_prime(&h)
            .unwrap();
        let mut compressed = vec![2u8];
        compressed.extend_from_slice(&x);
        let Ok(enc) = EncodedPoint::from_bytes(&compressed) else {
            continue;
        };
        if let Some(p) = Option::<AffinePoint>::from(AffinePoint::from_encoded_point(&enc)) {
            return (s2, tpms(&ProjectivePoint::from(p)));
        }
    }
    unreachable!()
}

#[test]
fn ec_ephemeral_counts_and_checks_the_curve() {
    let mut e = engine();
    for want in 0..3u16 {
        let (q, counter) = ephemeral(&mut e);
        assert_eq!(counter, want);
        assert_ne!(q, AffinePoint::GENERATOR);
    }
    assert_eq!(e.state.commit.counter, 3);
    assert_eq!(e.state.commit.array[0], 0b111);
    for curve in [0u16, 1, 4, 0x10, 0x20] {
        expect_rc(
            &mut e,
            TpmCc::EC_EPHEMERAL,
            &[],
            &[],
            &curve.to_be_bytes(),
            TpmRc::CURVE.with_parameter(1),
        );
    }
    // The curve is checked while unmarshalling, before trailing bytes.
    expect_rc(
        &mut e,
        TpmCc::EC_EPHEMERAL,
        &[],
        &[],
        &[0, 4, 0],
        TpmRc::CURVE.with_parameter(1),
    );
    expect_rc(
        &mut e,
        TpmCc::EC_EPHEMERAL,
        &[],
        &[],
        &[0, 3, 0],
        TpmRc::SIZE,
    );
    expect_rc(
        &mut e,
        TpmCc::EC_EPHEMERAL,
        &[],
        &[],
        &[0],
        TpmRc::INSUFFICIENT.with_parameter(1),
    );
    // Failures commit nothing.
    assert_eq!(e.state.commit.counter, 3);
    // The nonce was drawn once, at the first commitment.
    assert_eq!(e.state.commit.nonce.len(), 64);
}

#[test]
fn commit_points_and_ecdaa_signatures_verify() {
    let mut e = engine();
    let h = ecdaa_key(&mut e);
    let d = scalar(&D);
    let q = ProjectivePoint::GENERATOR * d;
    let message = sha2::Sha256::digest(b"message").to_vec();

    // No P1, no P2: E = [r]G only; [s]G = E + [T]Q.
    let c = do_commit(&mut e, h, &commit_params(None, &[], &[]));
    assert!(c.k.is_none() && c.l.is_none());
    assert_eq!(c.counter, 0);
    let (nonce_k, s) = sign_ecdaa(&mut e, h, &message, c.counter);
    assert!(!nonce_k.is_empty() && nonce_k.len() <= 32 && nonce_k[0] != 0);
    let t = challenge(&nonce_k, &message);
    assert_eq!(
        (ProjectivePoint::GENERATOR * s).to_affine(),
        (ProjectivePoint::from(c.e.unwrap()) + q * t).to_affine()
    );
    // The commitment is used up.
    expect_rc(
        &mut e,
        TpmCc::SIGN,
        &[h],
        &[pw()],
        &sign_params(
            &message,
            &TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, c.counter)),
        ),
        TpmRc::VALUE,
    );

    // P2 from s2/y2 and P1: K = [d]P2, and [s]P2 = L + [T]K, [s]P1 = E + [T][d]P1.
    let (s2, p2) = p2_for_test();
    let p1_scalar = scalar(&[7; 32]);
    let p1 = ProjectivePoint::GENERATOR * p1_scalar;
    let c = do_commit(
        &mut e,
        h,
        &commit_params(Some(&tpms(&p1)), &s2, p2.y.as_bytes()),
    );
    assert_eq!(c.counter, 1);
    let p2p = ProjectivePoint::from(affine(&p2));
    assert_eq!(c.k.unwrap(), (p2p * d).to_affine());
    let (nonce_k, s) = sign_ecdaa(&mut e, h, &message, 1);
    let t = challenge(&nonce_k, &message);
    assert_eq!(
        (p2p * s).to_affine(),
        (ProjectivePoint::from(c.l.unwrap()) + ProjectivePoint::from(c.k.unwrap()) * t).to_affine()
    );
    assert_eq!(
        (p1 * s).to_affine(),
        (ProjectivePoint::from(c.e.unwrap()) + p1 * d * t).to_affine()
    );

    // P2 alone: K and L, no E.
    let c = do_commit(&mut e, h, &commit_params(None, &s2, p2.y.as_bytes()));
    assert!(c.k.is_some() && c.l.is_some() && c.e.is_none());
    assert_eq!(c.k.unwrap(), (p2p * d).to_affine());
    // P1 alone: E only.
    let c = do_commit(&mut e, h, &commit_params(Some(&tpms(&p1)), &[], &[]));
    assert!(c.k.is_none() && c.l.is_none() && c.e.is_some());
    assert_eq!(c.counter, 3);
    // Two outstanding commitments (2 and 3), signed out of order.
    sign_ecdaa(&mut e, h, &message, 3);
    sign_ecdaa(&mut e, h, &message, 2);
    assert_eq!(e.state.commit.array, [0; 16]);
}

#[test]
fn commit_refusals() {
    let mut e = engine();
    let h = ecdaa_key(&mut e);
    let ecdsa = put(
        &mut e,
        1,
        ecc_public(
            SIGN,
            TpmtEccScheme::Ecdsa(TpmsSchemeHash {
                hash_alg: TpmAlgId::SHA256,
            }),
        ),
        &D,
    );
    let hmac = put(
        &mut e,
        2,
        TpmtPublic {
            name_alg: TpmAlgId::SHA256,
            object_attributes: TpmaObject(SIGN),
            auth_policy: Tpm2bDigest::empty(),
            detail: PublicDetail::KeyedHash {
                parameters: TpmsKeyedhashParms {
                    scheme: TpmtKeyedhashScheme::Null,
                },
                unique: Tpm2bDigest::new(&[1; 32]).unwrap(),
            },
        },
        &[5; 32],
    );
    let none = commit_params(None, &[], &[]);
    let cmd = |e: &mut Engine, h: TpmHandle, p: &[u8], rc: TpmRc| {
        expect_rc(e, TpmCc::COMMIT, &[h], &[pw()], p, rc);
    };
    cmd(&mut e, hmac, &none, TpmRc::KEY.with_handle(1));
    cmd(&mut e, ecdsa, &none, TpmRc::SCHEME.with_handle(1));
    let (s2, p2) = p2_for_test();
    cmd(
        &mut e,
        h,
        &commit_params(None, &s2, &[]),
        TpmRc::SIZE.with_parameter(3),
    );
    cmd(
        &mut e,
        h,
        &commit_params(None, &[], p2.y.as_bytes()),
        TpmRc::SIZE.with_parameter(3),
    );
    let mut bad_y = p2.y.as_bytes().to_vec();
    bad_y[31] ^= 1;
    cmd(
        &mut e,
        h,
        &commit_params(None, &s2, &bad_y),
        TpmRc::ECC_POINT.with_parameter(2),
    );
    let mut bad_p1 = tpms(&ProjectivePoint::GENERATOR);
    bad_p1.y = bad_p1.x.clone();
    cmd(
        &mut e,
        h,
        &commit_params(Some(&bad_p1), &[], &[]),
        TpmRc::ECC_POINT.with_parameter(1),
    );
    // A P1 with one empty coordinate is not the empty point.
    let mut half = tpms(&ProjectivePoint::GENERATOR);
    half.y = Tpm2bEccParameter::empty();
    cmd(
        &mut e,
        h,
        &commit_params(Some(&half), &[], &[]),
        TpmRc::ECC_POINT.with_parameter(1),
    );
    // The P2 check comes before the P1 check.
    cmd(
        &mut e,
        h,
        &commit_params(Some(&bad_p1), &s2, &bad_y),
        TpmRc::ECC_POINT.with_parameter(2),
    );
    // A TPM2B_ECC_POINT of size 0 does not unmarshal.
    let mut zero = vec![0, 0];
    zero.extend_from_slice(&[0, 0, 0, 0]);
    cmd(&mut e, h, &zero, TpmRc::SIZE.with_parameter(1));
    let mut extra = none.clone();
    extra.push(0);
    cmd(&mut e, h, &extra, TpmRc::SIZE);
    assert_eq!(e.state.commit.counter, 0, "failures commit nothing");
    // Without authorization.
    let (rc, _) = run(&mut e, TpmCc::COMMIT, &[h], &[], &none);
    assert_eq!(rc, TpmRc::AUTH_MISSING);
}

#[test]
fn ecdaa_sign_counter_rules() {
    let mut e = engine();
    let h = ecdaa_key(&mut e);
    let message = sha2::Sha256::digest(b"m").to_vec();
    let sign = |e: &mut Engine, scheme: TpmtSigScheme, rc: TpmRc| {
        expect_rc(
            e,
            TpmCc::SIGN,
            &[h],
            &[pw()],
            &sign_params(&message, &scheme),
            rc,
        );
    };
    // Nothing committed.
    sign(
        &mut e,
        TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, 0)),
        TpmRc::VALUE,
    );
    // ECDAA needs the caller's count: the key's scheme alone is not enough.
    sign(&mut e, TpmtSigScheme::Null, TpmRc::SCHEME.with_parameter(2));
    // Another hash, another scheme.
    do_commit(&mut e, h, &commit_params(None, &[], &[]));
    sign(
        &mut e,
        TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA384, 0)),
        TpmRc::SCHEME.with_parameter(2),
    );
    sign(
        &mut e,
        TpmtSigScheme::Ecdsa(TpmsSchemeHash {
            hash_alg: TpmAlgId::SHA256,
        }),
        TpmRc::SCHEME.with_parameter(2),
    );
    // A count whose bit is set but that is a later one (0 + 128 was never committed).
    sign(
        &mut e,
        TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, 128)),
        TpmRc::VALUE,
    );
    // The digest must have the scheme hash's size.
    expect_rc(
        &mut e,
        TpmCc::SIGN,
        &[h],
        &[pw()],
        &sign_params(&[1; 20], &TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, 0))),
        TpmRc::SIZE.with_parameter(1),
    );
    sign_ecdaa(&mut e, h, &message, 0);
    // 129 more commitments: commitment 1 is then more than 128 old, its bit now belongs to 129.
    for _ in 0..129 {
        ephemeral(&mut e);
    }
    assert_eq!(e.state.commit.counter, 130);
    sign(
        &mut e,
        TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, 1)),
        TpmRc::VALUE,
    );
    sign_ecdaa(&mut e, h, &message, 129);
    // An EC_Ephemeral commitment can be used by ECDAA too (the counter is all that is checked).
    sign_ecdaa(&mut e, h, &message, 128);
    sign(
        &mut e,
        TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, 128)),
        TpmRc::VALUE,
    );
    // A key without a scheme signs with ECDAA given by the caller.
    let bare = put(&mut e, 1, ecc_public(SIGN, TpmtEccScheme::Null), &D);
    let (nonce_k, _) = {
        let scheme = TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, 127));
        let out = ok_params(
            &mut e,
            TpmCc::SIGN,
            &[bare],
            &[pw()],
            &sign_params(&message, &scheme),
        );
        let TpmtSignature::Ecdaa(sig) = TpmtSignature::from_bytes(&out).unwrap() else {
            panic!()
        };
        (sig.signature_r, sig.signature_s)
    };
    assert!(!nonce_k.is_empty());
}

#[test]
fn zgen_2phase_uses_the_ephemeral_once() {
    let mut e = engine();
    let key = put(&mut e, 0, ecc_public(DECRYPT, TpmtEccScheme::Null), &D);
    let (q, counter) = ephemeral(&mut e);
    let qs_b_scalar = scalar(&[3; 32]);
    let qe_b_scalar = scalar(&[9; 32]);
    let qs_b = ProjectivePoint::GENERATOR * qs_b_scalar;
    let qe_b = ProjectivePoint::GENERATOR * qe_b_scalar;
    let params = |scheme: u16, counter: u16| {
        let mut v = point2b(&tpms(&qs_b));
        v.extend_from_slice(&point2b(&tpms(&qe_b)));
        v.extend_from_slice(&scheme.to_be_bytes());
        v.extend_from_slice(&counter.to_be_bytes());
        v
    };
    let out = ok_params(
        &mut e,
        TpmCc::ZGEN_2PHASE,
        &[key],
        &[pw()],
        &params(0x19, counter),
    );
    let mut r = Reader::new(&out);
    let z1 = read_point(&mut r).unwrap();
    let z2 = read_point(&mut r).unwrap();
    assert!(r.is_empty());
    assert_eq!(z1, (qs_b * scalar(&D)).to_affine());
    // Ze = [r]QeB = [qe_b_scalar]Q with Q = [r]G from TPM2_EC_Ephemeral.
    assert_eq!(z2, (ProjectivePoint::from(q) * qe_b_scalar).to_affine());
    let z = |e: &mut Engine, h: TpmHandle, p: &[u8], rc: TpmRc| {
        expect_rc(e, TpmCc::ZGEN_2PHASE, &[h], &[pw()], p, rc);
    };
    // Used up; never made.
    z(
        &mut e,
        key,
        &params(0x19, counter),
        TpmRc::VALUE.with_parameter(4),
    );
    z(
        &mut e,
        key,
        &params(0x19, 5),
        TpmRc::VALUE.with_parameter(4),
    );
    // Schemes: ECMQV and SM2 are not implemented, NULL is not allowed.
    for scheme in [0x1D, 0x1B, 0x10, 0x18, 0x1A] {
        z(
            &mut e,
            key,
            &params(scheme, 0),
            TpmRc::SCHEME.with_parameter(3),
        );
    }
    // A key with the ECDH scheme takes ECDH.
    let (_, c) = ephemeral(&mut e);
    let ecdh = put(
        &mut e,
        1,
        ecc_public(
            DECRYPT,
            TpmtEccScheme::Ecdh(TpmsSchemeHash {
                hash_alg: TpmAlgId::SHA256,
            }),
        ),
        &D,
    );
    ok_params(
        &mut e,
        TpmCc::ZGEN_2PHASE,
        &[ecdh],
        &[pw()],
        &params(0x19, c),
    );
    // Not a decryption key, a restricted one, not ECC.
    let signer = put(&mut e, 1, ecc_public(SIGN, TpmtEccScheme::Null), &D);
    z(
        &mut e,
        signer,
        &params(0x19, 0),
        TpmRc::ATTRIBUTES.with_handle(1),
    );
    let restricted = put(
        &mut e,
        1,
        ecc_public(DECRYPT | TpmaObject::RESTRICTED, TpmtEccScheme::Null),
        &D,
    );
    z(
        &mut e,
        restricted,
        &params(0x19, 0),
        TpmRc::ATTRIBUTES.with_handle(1),
    );
    let hmac = put(
        &mut e,
        2,
        TpmtPublic {
            name_alg: TpmAlgId::SHA256,
            object_attributes: TpmaObject(SIGN),
            auth_policy: Tpm2bDigest::empty(),
            detail: PublicDetail::KeyedHash {
                parameters: TpmsKeyedhashParms {
                    scheme: TpmtKeyedhashScheme::Null,
                },
                unique: Tpm2bDigest::new(&[1; 32]).unwrap(),
            },
        },
        &[5; 32],
    );
    z(&mut e, hmac, &params(0x19, 0), TpmRc::KEY.with_handle(1));
    // Points off the curve, QsB first.
    let mut off = tpms(&qs_b);
    off.y = off.x.clone();
    let mut p = point2b(&off);
    p.extend_from_slice(&point2b(&off));
    p.extend_from_slice(&[0, 0x19, 0, 0]);
    z(&mut e, key, &p, TpmRc::ECC_POINT.with_parameter(1));
    let mut p = point2b(&tpms(&qs_b));
    p.extend_from_slice(&point2b(&off));
    p.extend_from_slice(&[0, 0x19, 0, 0]);
    z(&mut e, key, &p, TpmRc::ECC_POINT.with_parameter(2));
    // The scheme is checked while unmarshalling, before a missing counter.
    let mut p = point2b(&tpms(&qs_b));
    p.extend_from_slice(&point2b(&tpms(&qe_b)));
    p.extend_from_slice(&[0, 0x1D]);
    z(&mut e, key, &p, TpmRc::SCHEME.with_parameter(3));
    p.truncate(p.len() - 2);
    p.extend_from_slice(&[0, 0x19, 0]);
    z(&mut e, key, &p, TpmRc::INSUFFICIENT.with_parameter(4));
}

/// The commit state survives save/restore, TPM Restart and TPM Resume; TPM Reset starts it
/// afresh. A consumed commitment stays consumed in the saved state.
#[test]
fn commit_state_persists_until_tpm_reset() {
    let mut e = engine();
    let h = ecdaa_key(&mut e);
    let message = sha2::Sha256::digest(b"persist").to_vec();
    let c0 = do_commit(&mut e, h, &commit_params(None, &[], &[])).counter;
    let c1 = do_commit(&mut e, h, &commit_params(None, &[], &[])).counter;
    assert_eq!((c0, c1), (0, 1));
    assert!(
        e.take_dirty(),
        "a commitment must be persisted before the answer"
    );
    sign_ecdaa(&mut e, h, &message, c0);
    assert!(
        e.take_dirty(),
        "a consumed commitment must be persisted before the answer"
    );
    let blob = e.save_state();
    let mut copy = Engine::restore(&blob, Box::new(TestPlatform::new(9))).unwrap();
    assert_eq!(copy.state.commit, e.state.commit);
    expect_rc(
        &mut copy,
        TpmCc::SIGN,
        &[h],
        &[pw()],
        &sign_params(&message, &TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, c0))),
        TpmRc::VALUE,
    );
    // The same r on both copies: the same commitment 1 gives E on the copy that verifies a
    // signature of the original.
    sign_ecdaa(&mut copy, h, &message, c1);
    let c2 = do_commit(&mut copy, h, &commit_params(None, &[], &[]));
    let c2_orig = do_commit(&mut e, h, &commit_params(None, &[], &[]));
    assert_eq!(c2.counter, 2);
    assert_eq!(
        c2.e, c2_orig.e,
        "same nonce, same counter, same Name: same r"
    );

    // TPM Restart (Shutdown(STATE), Startup(CLEAR)) and Resume keep everything.
    for su in [[0u8, 0], [0, 1]] {
        ok_params(&mut e, TpmCc::SHUTDOWN, &[], &[], &[0, 1]);
        e.power_on();
        ok_params(&mut e, TpmCc::STARTUP, &[], &[], &su);
        assert_eq!(e.state.commit.counter, 3);
        assert!(!e.state.commit.nonce.is_empty());
    }
    // The key was lost with the power cycle; put it back and use commitment 2.
    let h = ecdaa_key(&mut e);
    sign_ecdaa(&mut e, h, &message, 2);
    // TPM Reset: counter 0, nothing outstanding, a new nonce on first use.
    let (_, c) = ephemeral(&mut e);
    assert_eq!(c, 3);
    let old_nonce = e.state.commit.nonce.clone();
    ok_params(&mut e, TpmCc::SHUTDOWN, &[], &[], &[0, 0]);
    e.power_on();
    ok_params(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0]);
    assert_eq!(e.state.commit, crate::engine::state::CommitState::default());
    let h = ecdaa_key(&mut e);
    expect_rc(
        &mut e,
        TpmCc::SIGN,
        &[h],
        &[pw()],
        &sign_params(&message, &TpmtSigScheme::Ecdaa(ecdaa(TpmAlgId::SHA256, 3))),
        TpmRc::VALUE,
    );
    assert_eq!(ephemeral(&mut e).1, 0);
    assert_ne!(e.state.commit.nonce, old_nonce);
}

/// A blob written before the commit section existed (sections 1-4 only) still loads, with a
/// pristine commit state; a pristine state writes no section 8.
#[test]
fn blob_without_commit_section_loads() {
    let mut e = engine();
    let pristine = e.save_state();
    assert!(sections(&pristine).iter().all(|(tag, _)| *tag != 8));
    ephemeral(&mut e);
    let blob = e.save_state();
    let all = sections(&blob);
    assert!(all.iter().any(|(tag, _)| *tag == 8));
    // The same blob without section 8, as an older build wrote it.
    let mut old = blob[..10].to_vec();
    for (tag, body) in all.iter().filter(|(tag, _)| *tag != 8) {
        old.extend_from_slice(&tag.to_be_bytes());
        old.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        old.extend_from_slice(body);
    }
    old.extend_from_slice(&digest(HashAlg::Sha256, &[&old]));
    let restored = Engine::restore(&old, Box::new(TestPlatform::new(2))).unwrap();
    assert_eq!(
        restored.state.commit,
        crate::engine::state::CommitState::default()
    );
    // A repeated or damaged section 8 is refused.
    let mut twice = blob[..blob.len() - 32].to_vec();
    let (_, body) = all.iter().find(|(tag, _)| *tag == 8).unwrap();
    twice.extend_from_slice(&8u16.to_be_bytes());
    twice.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    twice.extend_from_slice(body);
    twice.extend_from_slice(&digest(HashAlg::Sha256, &[&twice]));
    assert!(Engine::restore(&twice, Box::new(TestPlatform::new(2))).is_err());
    let mut short = blob[..10].to_vec();
    for (tag, body) in &all {
        let body = if *tag == 8 {
            &body[..body.len() - 1]
        } else {
            &body[..]
        };
        short.extend_from_slice(&tag.to_be_bytes());
        short.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        short.extend_from_slice(body);
    }
    short.extend_from_slice(&digest(HashAlg::Sha256, &[&short]));
    assert!(Engine::restore(&short, Box::new(TestPlatform::new(2))).is_err());
}

/// The sections of a blob: (tag, body).
fn sections(blob: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let body = &blob[10..blob.len() - 32];
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let tag = u16::from_be_bytes([body[i], body[i + 1]]);
        let len = u32::from_be_bytes([body[i + 2], body[i + 3], body[i + 4], body[i + 5]]);
        let len = usize::try_from(len).unwrap();
        out.push((tag, body[i + 6..i + 6 + len].to_vec()));
        i += 6 + len;
    }
    out
}

#[test]
fn split_max_and_algorithm_are_reported() {
    let mut e = engine();
    // TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_SPLIT_MAX, 1).
    let out = ok_params(
        &mut e,
        TpmCc::GET_CAPABILITY,
        &[],
        &[],
        &[0, 0, 0, 6, 0, 0, 1, 0x28, 0, 0, 0, 1],
    );
    assert_eq!(&out[5..], &[0, 0, 0, 1, 0, 0, 1, 0x28, 0, 0, 0, 128]);
    // TPM2_GetCapability(TPM_CAP_ALGS, TPM_ALG_ECDAA, 1): asymmetric | signing.
    let out = ok_params(
        &mut e,
        TpmCc::GET_CAPABILITY,
        &[],
        &[],
        &[0, 0, 0, 0, 0, 0, 0, 0x1A, 0, 0, 0, 1],
    );
    assert_eq!(&out[5..], &[0, 0, 0, 1, 0, 0x1A, 0, 0, 1, 1]);
}

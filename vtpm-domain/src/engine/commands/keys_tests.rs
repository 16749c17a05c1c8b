//! Unit tests of the `keys` command family: every command on objects placed directly in the
//! engine, outputs checked with independent code (the `rsa`, `p256`, `hmac` crates used
//! directly, NIST SP 800-38A vectors), and the main error paths with their exact codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use hmac::Mac;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use rsa::BigUint;
use rsa::traits::PublicKeyParts;
use sha2::Digest;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::{TpmEccCurve, TpmSt};
use tpm2::structures::{
    PublicDetail, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, Tpm2bEccPoint, Tpm2bIv,
    Tpm2bMaxBuffer, Tpm2bPublicKeyRsa, Tpm2bSensitiveData, TpmaObject, TpmsEccParms, TpmsEccPoint,
    TpmsEmpty, TpmsKeyedhashParms, TpmsRsaParms, TpmsSchemeHash, TpmsSignatureRsa,
    TpmsSymcipherParms, TpmtEccScheme, TpmtHa, TpmtKdfScheme, TpmtKeyedhashScheme, TpmtPublic,
    TpmtRsaDecrypt, TpmtRsaScheme, TpmtSigScheme, TpmtSignature, TpmtSymDefObject, TpmtTkHashcheck,
    TpmtTkVerified,
};
use tpm2::{Marshal, Unmarshal};
use zeroize::Zeroizing;

use super::{hashcheck_ticket, verified_ticket, verify_hashcheck_ticket};
use crate::engine::Engine;
use crate::engine::crypto::ecc::{Curve, EccPrivate};
use crate::engine::crypto::hash::HashAlg;
use crate::engine::crypto::kdf::KdfaStream;
use crate::engine::crypto::rsa::RsaPrivate;
use crate::engine::crypto::sym::{SymMode, aes_encrypt};
use crate::engine::object::{Object, Sensitive};
use crate::engine::testutil::{engine, expect_rc, ok_params, pw, run};

const USER: u32 = TpmaObject::USER_WITH_AUTH;
const SIGN: u32 = TpmaObject::SIGN | USER;
const DECRYPT: u32 = TpmaObject::DECRYPT | USER;
const RESTRICTED: u32 = TpmaObject::RESTRICTED;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(data).to_vec()
}

fn rng(label: &[u8]) -> KdfaStream {
    KdfaStream::new(HashAlg::Sha256, b"keys tests", label, b"", b"")
}

/// Places an object in transient slot `slot` (replacing what was there) and returns its
/// handle. Its Name is computed here (nameAlg || SHA-256(public area)) and checked against the
/// object module's.
fn put(
    e: &mut Engine,
    slot: u32,
    public: TpmtPublic,
    private: &[u8],
    hierarchy: TpmHandle,
) -> TpmHandle {
    assert!(
        slot < 3,
        "libtpms (and this engine) have three transient object slots"
    );
    let handle = 0x8000_0000 + slot;
    let mut name = public.name_alg.0.to_be_bytes().to_vec();
    name.extend_from_slice(&sha256(&public.to_bytes()));
    let sensitive = Sensitive {
        auth: Zeroizing::new(Vec::new()),
        seed_value: Zeroizing::new(Vec::new()),
        private: Zeroizing::new(private.to_vec()),
    };
    let obj = Object::new(public, &hierarchy.0.to_be_bytes(), hierarchy, sensitive);
    assert_eq!(obj.name, name);
    e.state.vol.objects.insert(handle, obj);
    TpmHandle(handle)
}

fn rsa_key() -> RsaPrivate {
    RsaPrivate::generate(2048, 0, &mut rng(b"rsa")).unwrap()
}

fn rsa_public(key: &RsaPrivate, attributes: u32, scheme: TpmtRsaScheme) -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Rsa {
            parameters: TpmsRsaParms {
                symmetric: TpmtSymDefObject::Null,
                scheme,
                key_bits: 2048,
                exponent: 0,
            },
            unique: Tpm2bPublicKeyRsa::new(&key.public().modulus()).unwrap(),
        },
    }
}

fn put_rsa(
    e: &mut Engine,
    n: u32,
    key: &RsaPrivate,
    attributes: u32,
    scheme: TpmtRsaScheme,
) -> TpmHandle {
    put(
        e,
        n,
        rsa_public(key, attributes, scheme),
        &key.prime(),
        TpmHandle::OWNER,
    )
}

fn ecc_key() -> EccPrivate {
    EccPrivate::derive(Curve::NistP256, &mut rng(b"ecc")).unwrap()
}

fn ecc_public(key: &EccPrivate, attributes: u32, scheme: TpmtEccScheme) -> TpmtPublic {
    let p = key.public();
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
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::new(&p.x).unwrap(),
                y: Tpm2bEccParameter::new(&p.y).unwrap(),
            },
        },
    }
}

fn put_ecc(
    e: &mut Engine,
    n: u32,
    key: &EccPrivate,
    attributes: u32,
    scheme: TpmtEccScheme,
) -> TpmHandle {
    put(
        e,
        n,
        ecc_public(key, attributes, scheme),
        &key.scalar(),
        TpmHandle::OWNER,
    )
}

fn keyedhash_public(attributes: u32, scheme: TpmtKeyedhashScheme, data: &[u8]) -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms { scheme },
            unique: Tpm2bDigest::new(&sha256(data)).unwrap(),
        },
    }
}

fn aes_public(attributes: u32, key_bits: u16, mode: TpmAlgId) -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::SymCipher {
            parameters: TpmsSymcipherParms {
                sym: TpmtSymDefObject::Aes { key_bits, mode },
            },
            unique: Tpm2bDigest::new(&[0x11; 32]).unwrap(),
        },
    }
}

fn sha256_scheme() -> TpmsSchemeHash {
    TpmsSchemeHash {
        hash_alg: TpmAlgId::SHA256,
    }
}

fn params(parts: &[&dyn Marshal]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        p.marshal(&mut out);
    }
    out
}

fn sign_params(d: &[u8], scheme: &TpmtSigScheme, ticket: &TpmtTkHashcheck) -> Vec<u8> {
    params(&[&Tpm2bDigest::new(d).unwrap(), scheme, ticket])
}

fn sign(e: &mut Engine, h: TpmHandle, d: &[u8], scheme: &TpmtSigScheme) -> TpmtSignature {
    let p = sign_params(d, scheme, &TpmtTkHashcheck::null());
    TpmtSignature::from_bytes(&ok_params(e, TpmCc::SIGN, &[h], &[pw()], &p)).unwrap()
}

fn sign_rc(e: &mut Engine, h: TpmHandle, p: &[u8], want: TpmRc) {
    expect_rc(e, TpmCc::SIGN, &[h], &[pw()], p, want);
}

/// `s^e mod n` compared with the EMSA-PKCS1-v1_5 encoding of a SHA-256 digest (RFC 8017
/// §9.2), built here from the DER DigestInfo of RFC 8017 §9.2 note 1.
fn check_pkcs1v15_sha256(key: &RsaPrivate, d: &[u8], sig: &[u8]) {
    let n = BigUint::from_bytes_be(&key.public().modulus());
    let m = BigUint::from_bytes_be(sig).modpow(&BigUint::from(65537u32), &n);
    let mut em = vec![0u8; 256];
    let m = m.to_bytes_be();
    em[256 - m.len()..].copy_from_slice(&m);
    let info = hex("3031300d060960864801650304020105000420");
    let mut want = vec![0x00, 0x01];
    want.resize(256 - info.len() - d.len() - 1, 0xff);
    want.push(0);
    want.extend_from_slice(&info);
    want.extend_from_slice(d);
    assert_eq!(em, want);
}

fn rsa_crate_public(key: &RsaPrivate) -> rsa::RsaPublicKey {
    rsa::RsaPublicKey::new(
        BigUint::from_bytes_be(&key.public().modulus()),
        BigUint::from(65537u32),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// TPM2_Sign
// ---------------------------------------------------------------------------------------------

#[test]
fn sign_rsassa_and_rsapss_verify_independently() {
    let mut e = engine();
    let key = rsa_key();
    let h = put_rsa(&mut e, 0, &key, SIGN, TpmtRsaScheme::Null);
    let d = sha256(b"message");
    let sig = sign(&mut e, h, &d, &TpmtSigScheme::Rsassa(sha256_scheme()));
    let TpmtSignature::Rsassa(s) = &sig else {
        panic!("{sig:?}")
    };
    assert_eq!(s.hash, TpmAlgId::SHA256);
    check_pkcs1v15_sha256(&key, &d, s.sig.as_bytes());
    // RSASSA is deterministic.
    assert_eq!(
        sign(&mut e, h, &d, &TpmtSigScheme::Rsassa(sha256_scheme())),
        sig
    );

    let sig = sign(&mut e, h, &d, &TpmtSigScheme::Rsapss(sha256_scheme()));
    let TpmtSignature::Rsapss(s) = &sig else {
        panic!("{sig:?}")
    };
    assert_eq!(s.sig.len(), 256);
    // The salt is as long as the digest (what libtpms and OpenSSL use for RSA-2048/SHA-256).
    rsa_crate_public(&key)
        .verify(
            rsa::Pss::new_with_salt::<sha2::Sha256>(32),
            &d,
            s.sig.as_bytes(),
        )
        .expect("PSS signature with a 32-byte salt");
}

#[test]
fn sign_uses_the_key_scheme_when_none_is_given() {
    let mut e = engine();
    let key = rsa_key();
    let h = put_rsa(
        &mut e,
        0,
        &key,
        SIGN,
        TpmtRsaScheme::Rsassa(sha256_scheme()),
    );
    let d = sha256(b"x");
    let sig = sign(&mut e, h, &d, &TpmtSigScheme::Null);
    let TpmtSignature::Rsassa(s) = &sig else {
        panic!("{sig:?}")
    };
    check_pkcs1v15_sha256(&key, &d, s.sig.as_bytes());
    // The same scheme given explicitly is accepted; another one, or another hash, is not.
    sign(&mut e, h, &d, &TpmtSigScheme::Rsassa(sha256_scheme()));
    let pss = sign_params(
        &d,
        &TpmtSigScheme::Rsapss(sha256_scheme()),
        &TpmtTkHashcheck::null(),
    );
    sign_rc(&mut e, h, &pss, TpmRc::SCHEME.with_parameter(2));
    let sha1 = TpmtSigScheme::Rsassa(TpmsSchemeHash {
        hash_alg: TpmAlgId::SHA1,
    });
    let p = sign_params(&sha256(b"x")[..20], &sha1, &TpmtTkHashcheck::null());
    sign_rc(&mut e, h, &p, TpmRc::SCHEME.with_parameter(2));
}

#[test]
fn sign_ecdsa_verifies_independently() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let mut e = engine();
    let key = ecc_key();
    let h = put_ecc(&mut e, 0, &key, SIGN, TpmtEccScheme::Null);
    let d = sha256(b"ecdsa message");
    let sig = sign(&mut e, h, &d, &TpmtSigScheme::Ecdsa(sha256_scheme()));
    let TpmtSignature::Ecdsa(s) = &sig else {
        panic!("{sig:?}")
    };
    assert_eq!((s.signature_r.len(), s.signature_s.len()), (32, 32));
    let p = key.public();
    let point = p256::EncodedPoint::from_affine_coordinates(
        p.x.as_slice().into(),
        p.y.as_slice().into(),
        false,
    );
    let vk = p256::ecdsa::VerifyingKey::from_encoded_point(&point).unwrap();
    let rs = [s.signature_r.as_bytes(), s.signature_s.as_bytes()].concat();
    let sig = p256::ecdsa::Signature::from_slice(&rs).unwrap();
    vk.verify_prehash(&d, &sig)
        .expect("ECDSA signature verifies");
}

#[test]
fn sign_hmac_matches_the_hmac_crate() {
    let mut e = engine();
    let hmac_key = b"an HMAC key of some length";
    let public = keyedhash_public(SIGN, TpmtKeyedhashScheme::Hmac(sha256_scheme()), hmac_key);
    let h = put(&mut e, 0, public, hmac_key, TpmHandle::OWNER);
    let d = sha256(b"data");
    let sig = sign(&mut e, h, &d, &TpmtSigScheme::Null);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(hmac_key).unwrap();
    mac.update(&d);
    let want = mac.finalize().into_bytes().to_vec();
    assert_eq!(
        sig,
        TpmtSignature::Hmac(TpmtHa::new(TpmAlgId::SHA256, &want).unwrap())
    );
}

#[test]
fn sign_errors() {
    let mut e = engine();
    let key = rsa_key();
    let d = sha256(b"m");
    let rsassa = TpmtSigScheme::Rsassa(sha256_scheme());
    let null_ticket = TpmtTkHashcheck::null();
    // A decryption key cannot sign: TPM_RC_KEY for handle 1.
    let dec = put_rsa(&mut e, 0, &key, DECRYPT, TpmtRsaScheme::Null);
    sign_rc(
        &mut e,
        dec,
        &sign_params(&d, &rsassa, &null_ticket),
        TpmRc::KEY.with_handle(1),
    );
    // Nor can a symmetric key with `sign` (= encrypt).
    let aes = put(
        &mut e,
        1,
        aes_public(SIGN, 128, TpmAlgId::CFB),
        &[7; 16],
        TpmHandle::OWNER,
    );
    sign_rc(
        &mut e,
        aes,
        &sign_params(&d, &rsassa, &null_ticket),
        TpmRc::KEY.with_handle(1),
    );
    // An x509sign key only signs certificates.
    let x509 = put_rsa(
        &mut e,
        2,
        &key,
        SIGN | TpmaObject::X509_SIGN,
        TpmtRsaScheme::Null,
    );
    let rc = TpmRc::ATTRIBUTES.with_handle(1);
    sign_rc(&mut e, x509, &sign_params(&d, &rsassa, &null_ticket), rc);
    let h = put_rsa(&mut e, 0, &key, SIGN, TpmtRsaScheme::Null);
    // Neither the key nor the command names a scheme.
    let p = sign_params(&d, &TpmtSigScheme::Null, &null_ticket);
    sign_rc(&mut e, h, &p, TpmRc::SCHEME.with_parameter(2));
    // The digest does not match the scheme's hash.
    let p = sign_params(&d[..20], &rsassa, &null_ticket);
    sign_rc(&mut e, h, &p, TpmRc::SIZE.with_parameter(1));
    // An ECC or HMAC scheme for an RSA key.
    let p = sign_params(&d, &TpmtSigScheme::Ecdsa(sha256_scheme()), &null_ticket);
    sign_rc(&mut e, h, &p, TpmRc::SCHEME.with_parameter(2));
    let p = sign_params(&d, &TpmtSigScheme::Hmac(sha256_scheme()), &null_ticket);
    sign_rc(&mut e, h, &p, TpmRc::SCHEME.with_parameter(2));
    // An unimplemented scheme or hash is rejected as the parameter's unmarshalling would.
    let sm2 = TpmtSigScheme::Sm2(sha256_scheme());
    sign_rc(
        &mut e,
        h,
        &sign_params(&d, &sm2, &null_ticket),
        TpmRc::SCHEME.with_parameter(2),
    );
    let sha3 = TpmtSigScheme::Rsassa(TpmsSchemeHash {
        hash_alg: TpmAlgId::SHA3_256,
    });
    sign_rc(
        &mut e,
        h,
        &sign_params(&d, &sha3, &null_ticket),
        TpmRc::HASH.with_parameter(2),
    );
    // A ticket with a wrong tag.
    let mut p = sign_params(&d, &rsassa, &null_ticket);
    let len = p.len();
    p[len - 8..len - 6].copy_from_slice(&TpmSt::VERIFIED.0.to_be_bytes());
    sign_rc(&mut e, h, &p, TpmRc::TAG.with_parameter(3));
    // Trailing bytes.
    let mut p = sign_params(&d, &rsassa, &null_ticket);
    p.push(0);
    sign_rc(&mut e, h, &p, TpmRc::SIZE);
    // Without an authorization session.
    let p = sign_params(&d, &rsassa, &null_ticket);
    expect_rc(&mut e, TpmCc::SIGN, &[h], &[], &p, TpmRc::AUTH_MISSING);
}

#[test]
fn restricted_keys_need_a_hashcheck_ticket() {
    let mut e = engine();
    let key = rsa_key();
    let h = put_rsa(
        &mut e,
        0,
        &key,
        SIGN | RESTRICTED,
        TpmtRsaScheme::Rsassa(sha256_scheme()),
    );
    let d = sha256(b"data the TPM hashed");
    let p = sign_params(&d, &TpmtSigScheme::Null, &TpmtTkHashcheck::null());
    sign_rc(&mut e, h, &p, TpmRc::TICKET.with_parameter(3));
    let ticket = hashcheck_ticket(&e, TpmHandle::OWNER, TpmAlgId::SHA256, &d);
    assert_eq!(ticket.digest.len(), 64, "SHA-512 HMAC, as libtpms");
    // The ticket is HMAC-SHA512(ownerProof, TPM_ST_HASHCHECK || TPM_ALG_SHA256 || digest).
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(&e.state.perm.sh_proof).unwrap();
    mac.update(&[0x80, 0x24, 0x00, 0x0b]);
    mac.update(&d);
    assert_eq!(
        ticket.digest.as_bytes(),
        mac.finalize().into_bytes().as_slice()
    );
    let p = sign_params(&d, &TpmtSigScheme::Null, &ticket);
    let sig =
        TpmtSignature::from_bytes(&ok_params(&mut e, TpmCc::SIGN, &[h], &[pw()], &p)).unwrap();
    let TpmtSignature::Rsassa(s) = &sig else {
        panic!("{sig:?}")
    };
    check_pkcs1v15_sha256(&key, &d, s.sig.as_bytes());
    // A ticket for another digest, another hash or another hierarchy does not do.
    let other = hashcheck_ticket(&e, TpmHandle::OWNER, TpmAlgId::SHA256, &sha256(b"other"));
    sign_rc(
        &mut e,
        h,
        &sign_params(&d, &TpmtSigScheme::Null, &other),
        TpmRc::TICKET.with_parameter(3),
    );
    let other = hashcheck_ticket(&e, TpmHandle::OWNER, TpmAlgId::SHA384, &d);
    assert!(!verify_hashcheck_ticket(&e, &other, TpmAlgId::SHA256, &d));
    let forged = TpmtTkHashcheck {
        hierarchy: TpmHandle::ENDORSEMENT,
        digest: ticket.digest.clone(),
    };
    sign_rc(
        &mut e,
        h,
        &sign_params(&d, &TpmtSigScheme::Null, &forged),
        TpmRc::TICKET.with_parameter(3),
    );
    // An unrestricted key checks a ticket when one is given.
    let free = put_rsa(&mut e, 1, &key, SIGN, TpmtRsaScheme::Null);
    let rsassa = TpmtSigScheme::Rsassa(sha256_scheme());
    sign_rc(
        &mut e,
        free,
        &sign_params(&d, &rsassa, &other),
        TpmRc::TICKET.with_parameter(3),
    );
    let p = sign_params(&d, &rsassa, &ticket);
    ok_params(&mut e, TpmCc::SIGN, &[free], &[pw()], &p);
}

// ---------------------------------------------------------------------------------------------
// TPM2_VerifySignature
// ---------------------------------------------------------------------------------------------

fn verify(
    e: &mut Engine,
    h: TpmHandle,
    d: &[u8],
    sig: &TpmtSignature,
) -> (TpmRc, Option<TpmtTkVerified>) {
    let p = params(&[&Tpm2bDigest::new(d).unwrap(), sig]);
    let (rc, rsp) = run(e, TpmCc::VERIFY_SIGNATURE, &[h], &[], &p);
    let ticket = rc
        .is_success()
        .then(|| TpmtTkVerified::from_bytes(&rsp[10..]).unwrap());
    (rc, ticket)
}

#[test]
fn verify_signature_tickets_and_failures() {
    let mut e = engine();
    let key = rsa_key();
    let h = put_rsa(&mut e, 0, &key, SIGN, TpmtRsaScheme::Null);
    let d = sha256(b"signed");
    for scheme in [
        TpmtSigScheme::Rsassa(sha256_scheme()),
        TpmtSigScheme::Rsapss(sha256_scheme()),
    ] {
        let sig = sign(&mut e, h, &d, &scheme);
        let (rc, ticket) = verify(&mut e, h, &d, &sig);
        assert_eq!(rc, TpmRc::SUCCESS);
        let ticket = ticket.unwrap();
        // HMAC-SHA512(ownerProof, TPM_ST_VERIFIED || digest || keyName), computed here.
        let name = e.state.object(h).unwrap().name.clone();
        let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(&e.state.perm.sh_proof).unwrap();
        mac.update(&[0x80, 0x22]);
        mac.update(&d);
        mac.update(&name);
        assert_eq!(ticket.hierarchy, TpmHandle::OWNER);
        assert_eq!(
            ticket.digest.as_bytes(),
            mac.finalize().into_bytes().as_slice()
        );
        assert_eq!(ticket, verified_ticket(&e, TpmHandle::OWNER, &d, &name));
        // Another digest does not verify.
        let (rc, _) = verify(&mut e, h, &sha256(b"other"), &sig);
        assert_eq!(rc, TpmRc::SIGNATURE.with_parameter(2));
    }
    // A signature of the wrong size, or a tampered one.
    let sig = sign(&mut e, h, &d, &TpmtSigScheme::Rsassa(sha256_scheme()));
    let TpmtSignature::Rsassa(s) = &sig else {
        panic!()
    };
    let mut bytes = s.sig.as_bytes().to_vec();
    bytes[100] ^= 1;
    let tampered = TpmtSignature::Rsassa(TpmsSignatureRsa {
        hash: TpmAlgId::SHA256,
        sig: Tpm2bPublicKeyRsa::new(&bytes).unwrap(),
    });
    assert_eq!(
        verify(&mut e, h, &d, &tampered).0,
        TpmRc::SIGNATURE.with_parameter(2)
    );
    let short = TpmtSignature::Rsassa(TpmsSignatureRsa {
        hash: TpmAlgId::SHA256,
        sig: Tpm2bPublicKeyRsa::new(&bytes[1..]).unwrap(),
    });
    assert_eq!(
        verify(&mut e, h, &d, &short).0,
        TpmRc::SIGNATURE.with_parameter(2)
    );
    // An ECDSA signature for an RSA key.
    let ecc = ecc_key();
    let eh = put_ecc(&mut e, 1, &ecc, SIGN, TpmtEccScheme::Null);
    let esig = sign(&mut e, eh, &d, &TpmtSigScheme::Ecdsa(sha256_scheme()));
    assert_eq!(verify(&mut e, eh, &d, &esig).0, TpmRc::SUCCESS);
    assert_eq!(
        verify(&mut e, h, &d, &esig).0,
        TpmRc::SCHEME.with_parameter(2)
    );
    assert_eq!(
        verify(&mut e, eh, &d, &sig).0,
        TpmRc::SCHEME.with_parameter(2)
    );
    // A key without `sign`.
    let dec = put_rsa(&mut e, 2, &key, DECRYPT, TpmtRsaScheme::Null);
    assert_eq!(
        verify(&mut e, dec, &d, &sig).0,
        TpmRc::ATTRIBUTES.with_handle(1)
    );
    // A key of the NULL hierarchy gets the NULL ticket.
    let public = rsa_public(&key, SIGN, TpmtRsaScheme::Null);
    let null_key = put(&mut e, 1, public, &key.prime(), TpmHandle::NULL);
    let (rc, ticket) = verify(&mut e, null_key, &d, &sig);
    assert_eq!(rc, TpmRc::SUCCESS);
    assert_eq!(ticket.unwrap(), TpmtTkVerified::null());
}

#[test]
fn verify_hmac_signatures() {
    let mut e = engine();
    let k = b"hmac key";
    let public = keyedhash_public(SIGN, TpmtKeyedhashScheme::Hmac(sha256_scheme()), k);
    let h = put(&mut e, 0, public, k, TpmHandle::OWNER);
    let d = sha256(b"d");
    let sig = sign(&mut e, h, &d, &TpmtSigScheme::Null);
    assert_eq!(verify(&mut e, h, &d, &sig).0, TpmRc::SUCCESS);
    // A signature with another hash than the key's scheme.
    let sha1 = TpmtSignature::Hmac(TpmtHa::new(TpmAlgId::SHA1, &[0; 20]).unwrap());
    assert_eq!(
        verify(&mut e, h, &d, &sha1).0,
        TpmRc::SIGNATURE.with_parameter(2)
    );
    let wrong = TpmtSignature::Hmac(TpmtHa::new(TpmAlgId::SHA256, &[0; 32]).unwrap());
    assert_eq!(
        verify(&mut e, h, &d, &wrong).0,
        TpmRc::SIGNATURE.with_parameter(2)
    );
    // Without the sensitive part, an HMAC key cannot verify.
    e.state.vol.objects.get_mut(&h.0).unwrap().public_only = true;
    assert_eq!(
        verify(&mut e, h, &d, &sig).0,
        TpmRc::HANDLE.with_parameter(2)
    );
}

// ---------------------------------------------------------------------------------------------
// TPM2_RSA_Encrypt / TPM2_RSA_Decrypt
// ---------------------------------------------------------------------------------------------

fn rsa_enc_params(msg: &[u8], scheme: &TpmtRsaDecrypt, label: &[u8]) -> Vec<u8> {
    params(&[
        &Tpm2bPublicKeyRsa::new(msg).unwrap(),
        scheme,
        &Tpm2bData::new(label).unwrap(),
    ])
}

fn rsa_encrypt(
    e: &mut Engine,
    h: TpmHandle,
    msg: &[u8],
    scheme: &TpmtRsaDecrypt,
    label: &[u8],
) -> Vec<u8> {
    let p = rsa_enc_params(msg, scheme, label);
    let out = ok_params(e, TpmCc::RSA_ENCRYPT, &[h], &[], &p);
    Tpm2bPublicKeyRsa::from_bytes(&out)
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn rsa_decrypt(
    e: &mut Engine,
    h: TpmHandle,
    c: &[u8],
    scheme: &TpmtRsaDecrypt,
    label: &[u8],
) -> Vec<u8> {
    let p = rsa_enc_params(c, scheme, label);
    let out = ok_params(e, TpmCc::RSA_DECRYPT, &[h], &[pw()], &p);
    Tpm2bPublicKeyRsa::from_bytes(&out)
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[test]
fn rsa_round_trips_and_independent_checks() {
    let mut e = engine();
    let key = rsa_key();
    let h = put_rsa(&mut e, 0, &key, DECRYPT, TpmtRsaScheme::Null);
    let oaep = TpmtRsaDecrypt::Oaep(sha256_scheme());
    let label = b"LABEL\0";
    let msg = b"a secret message";
    // OAEP: the TPM's ciphertext decrypts with the rsa crate (label with its zero octet) ...
    let c = rsa_encrypt(&mut e, h, msg, &oaep, label);
    assert_eq!(c.len(), 256);
    let rsa_key = rsa::RsaPrivateKey::from_p_q(
        BigUint::from_bytes_be(&key.prime()),
        rsa_crate_public(&key).n() / BigUint::from_bytes_be(&key.prime()),
        BigUint::from(65537u32),
    )
    .unwrap();
    let padding = || rsa::Oaep::new_with_label::<sha2::Sha256, String>(String::from("LABEL\0"));
    assert_eq!(rsa_key.decrypt(padding(), &c).unwrap(), msg);
    assert_eq!(rsa_decrypt(&mut e, h, &c, &oaep, label), msg);
    // ... and the rsa crate's decrypts in the TPM.
    let c2 = rsa_crate_public(&key)
        .encrypt(&mut rng(b"enc"), padding(), msg)
        .unwrap();
    assert_eq!(rsa_decrypt(&mut e, h, &c2, &oaep, label), msg);
    // OAEP with the wrong label fails.
    let p = rsa_enc_params(&c2, &oaep, b"OTHER\0");
    expect_rc(&mut e, TpmCc::RSA_DECRYPT, &[h], &[pw()], &p, TpmRc::VALUE);
    // RSAES (PKCS#1 v1.5).
    let rsaes = TpmtRsaDecrypt::Rsaes(TpmsEmpty {});
    let c = rsa_encrypt(&mut e, h, msg, &rsaes, b"");
    assert_eq!(rsa_key.decrypt(rsa::Pkcs1v15Encrypt, &c).unwrap(), msg);
    assert_eq!(rsa_decrypt(&mut e, h, &c, &rsaes, b""), msg);
    // Raw RSA: m^e mod n, and back to the left-padded message.
    let c = rsa_encrypt(&mut e, h, msg, &TpmtRsaDecrypt::Null, b"");
    let n = rsa_crate_public(&key).n().clone();
    let want = BigUint::from_bytes_be(msg).modpow(&BigUint::from(65537u32), &n);
    assert_eq!(BigUint::from_bytes_be(&c), want);
    let back = rsa_decrypt(&mut e, h, &c, &TpmtRsaDecrypt::Null, b"");
    assert_eq!(back.len(), 256);
    assert_eq!(&back[256 - msg.len()..], msg);
    assert!(back[..256 - msg.len()].iter().all(|&b| b == 0));
}

#[test]
fn rsa_scheme_selection_and_errors() {
    let mut e = engine();
    let key = rsa_key();
    let oaep_key = put_rsa(
        &mut e,
        0,
        &key,
        DECRYPT,
        TpmtRsaScheme::Oaep(sha256_scheme()),
    );
    let msg = b"m";
    // The key's scheme is used when the command gives none: OAEP, so decryption with RSAES
    // is refused and OAEP (implicit or explicit) works.
    let c = rsa_encrypt(&mut e, oaep_key, msg, &TpmtRsaDecrypt::Null, b"");
    assert_eq!(
        rsa_decrypt(
            &mut e,
            oaep_key,
            &c,
            &TpmtRsaDecrypt::Oaep(sha256_scheme()),
            b""
        ),
        msg
    );
    let rsaes = TpmtRsaDecrypt::Rsaes(TpmsEmpty {});
    let p = rsa_enc_params(&c, &rsaes, b"");
    expect_rc(
        &mut e,
        TpmCc::RSA_DECRYPT,
        &[oaep_key],
        &[pw()],
        &p,
        TpmRc::SCHEME.with_parameter(2),
    );
    let sha1_oaep = TpmtRsaDecrypt::Oaep(TpmsSchemeHash {
        hash_alg: TpmAlgId::SHA1,
    });
    let p = rsa_enc_params(msg, &sha1_oaep, b"");
    expect_rc(
        &mut e,
        TpmCc::RSA_ENCRYPT,
        &[oaep_key],
        &[],
        &p,
        TpmRc::SCHEME.with_parameter(2),
    );
    // A label must end in a zero octet.
    let p = rsa_enc_params(msg, &TpmtRsaDecrypt::Null, b"LABEL");
    expect_rc(
        &mut e,
        TpmCc::RSA_ENCRYPT,
        &[oaep_key],
        &[],
        &p,
        TpmRc::VALUE.with_parameter(3),
    );
    let p = rsa_enc_params(&c, &TpmtRsaDecrypt::Null, b"LABEL");
    expect_rc(
        &mut e,
        TpmCc::RSA_DECRYPT,
        &[oaep_key],
        &[pw()],
        &p,
        TpmRc::VALUE.with_parameter(3),
    );
    // A ciphertext of the wrong size.
    let p = rsa_enc_params(&c[1..], &TpmtRsaDecrypt::Null, b"");
    expect_rc(
        &mut e,
        TpmCc::RSA_DECRYPT,
        &[oaep_key],
        &[pw()],
        &p,
        TpmRc::SIZE,
    );
    // A message too long for OAEP-SHA256 with a 2048-bit key (at most 190 bytes).
    let p = rsa_enc_params(&[1; 191], &TpmtRsaDecrypt::Null, b"");
    expect_rc(
        &mut e,
        TpmCc::RSA_ENCRYPT,
        &[oaep_key],
        &[],
        &p,
        TpmRc::VALUE,
    );
    // Signing keys do not encrypt; restricted keys do not decrypt; ECC keys are not RSA keys.
    let sign_key = put_rsa(&mut e, 1, &key, SIGN, TpmtRsaScheme::Null);
    let p = rsa_enc_params(msg, &TpmtRsaDecrypt::Null, b"");
    expect_rc(
        &mut e,
        TpmCc::RSA_ENCRYPT,
        &[sign_key],
        &[],
        &p,
        TpmRc::ATTRIBUTES.with_handle(1),
    );
    let restricted = put_rsa(&mut e, 2, &key, DECRYPT | RESTRICTED, TpmtRsaScheme::Null);
    ok_params(&mut e, TpmCc::RSA_ENCRYPT, &[restricted], &[], &p);
    let p = rsa_enc_params(&c, &TpmtRsaDecrypt::Null, b"");
    let rc = TpmRc::ATTRIBUTES.with_handle(1);
    expect_rc(&mut e, TpmCc::RSA_DECRYPT, &[restricted], &[pw()], &p, rc);
    let ecc = put_ecc(&mut e, 1, &ecc_key(), DECRYPT, TpmtEccScheme::Null);
    expect_rc(
        &mut e,
        TpmCc::RSA_DECRYPT,
        &[ecc],
        &[pw()],
        &p,
        TpmRc::KEY.with_handle(1),
    );
    let p = rsa_enc_params(msg, &TpmtRsaDecrypt::Null, b"");
    expect_rc(
        &mut e,
        TpmCc::RSA_ENCRYPT,
        &[ecc],
        &[],
        &p,
        TpmRc::KEY.with_handle(1),
    );
    // Raw encryption of a value not below the modulus.
    let plain = put_rsa(&mut e, 0, &key, DECRYPT, TpmtRsaScheme::Null);
    let p = rsa_enc_params(&[0xff; 256], &TpmtRsaDecrypt::Null, b"");
    expect_rc(&mut e, TpmCc::RSA_ENCRYPT, &[plain], &[], &p, TpmRc::VALUE);
    // An RSASSA scheme is no decryption scheme (TPMI_ALG_RSA_DECRYPT: TPM_RC_VALUE).
    let mut p = rsa_enc_params(msg, &TpmtRsaDecrypt::Null, b"");
    p[3..5].copy_from_slice(&TpmAlgId::RSASSA.0.to_be_bytes());
    expect_rc(
        &mut e,
        TpmCc::RSA_ENCRYPT,
        &[plain],
        &[],
        &p,
        TpmRc::VALUE.with_parameter(2),
    );
}

// ---------------------------------------------------------------------------------------------
// TPM2_ECDH_KeyGen / TPM2_ECDH_ZGen
// ---------------------------------------------------------------------------------------------

fn point_of(p: &Tpm2bEccPoint) -> (Vec<u8>, Vec<u8>) {
    (p.point.x.as_bytes().to_vec(), p.point.y.as_bytes().to_vec())
}

fn point_param(x: &[u8], y: &[u8]) -> Tpm2bEccPoint {
    Tpm2bEccPoint {
        point: TpmsEccPoint {
            x: Tpm2bEccParameter::new(x).unwrap(),
            y: Tpm2bEccParameter::new(y).unwrap(),
        },
    }
}

#[test]
fn ecdh_zgen_of_keygen_point_gives_z() {
    let mut e = engine();
    let key = ecc_key();
    let h = put_ecc(&mut e, 0, &key, DECRYPT, TpmtEccScheme::Null);
    let out = ok_params(&mut e, TpmCc::ECDH_KEY_GEN, &[h], &[], &[]);
    let mut r = tpm2::Reader::new(&out);
    let z = Tpm2bEccPoint::unmarshal(&mut r).unwrap();
    let public = Tpm2bEccPoint::unmarshal(&mut r).unwrap();
    r.finish("ECDH_KeyGen response").unwrap();
    assert_eq!(z.point.x.len(), 32);
    // ZGen with the ephemeral public point gives the same Z.
    let p = params(&[&public]);
    let out = ok_params(&mut e, TpmCc::ECDH_ZGEN, &[h], &[pw()], &p);
    assert_eq!(Tpm2bEccPoint::from_bytes(&out).unwrap(), z);
    // And Z is d * pubPoint, computed with p256 directly.
    let (px, py) = point_of(&public);
    let encoded = p256::EncodedPoint::from_affine_coordinates(
        px.as_slice().into(),
        py.as_slice().into(),
        false,
    );
    let peer = p256::PublicKey::from_encoded_point(&encoded).unwrap();
    let d = p256::SecretKey::from_slice(&key.scalar()).unwrap();
    let product: p256::AffinePoint = (peer.to_projective() * *d.to_nonzero_scalar()).into();
    let want = product.to_encoded_point(false);
    assert_eq!(
        point_of(&z),
        (want.x().unwrap().to_vec(), want.y().unwrap().to_vec())
    );
    // KeyGen draws a fresh ephemeral key every time.
    let again = ok_params(&mut e, TpmCc::ECDH_KEY_GEN, &[h], &[], &[]);
    assert_ne!(again, out);
}

#[test]
fn ecdh_errors() {
    let mut e = engine();
    let key = ecc_key();
    let h = put_ecc(&mut e, 0, &key, DECRYPT, TpmtEccScheme::Null);
    let p = key.public();
    // A point off the curve.
    let mut y = p.y.clone();
    y[31] ^= 1;
    let bad = params(&[&point_param(&p.x, &y)]);
    expect_rc(
        &mut e,
        TpmCc::ECDH_ZGEN,
        &[h],
        &[pw()],
        &bad,
        TpmRc::ECC_POINT.with_parameter(1),
    );
    // An empty TPM2B_ECC_POINT.
    expect_rc(
        &mut e,
        TpmCc::ECDH_ZGEN,
        &[h],
        &[pw()],
        &[0, 0],
        TpmRc::SIZE.with_parameter(1),
    );
    let good = params(&[&point_param(&p.x, &p.y)]);
    // Restricted, non-decrypt and ECDSA-scheme keys do not do ZGen.
    let restricted = put_ecc(&mut e, 1, &key, DECRYPT | RESTRICTED, TpmtEccScheme::Null);
    let rc = TpmRc::ATTRIBUTES.with_handle(1);
    expect_rc(&mut e, TpmCc::ECDH_ZGEN, &[restricted], &[pw()], &good, rc);
    let signer = put_ecc(&mut e, 2, &key, SIGN, TpmtEccScheme::Null);
    expect_rc(&mut e, TpmCc::ECDH_ZGEN, &[signer], &[pw()], &good, rc);
    // A decryption key whose scheme is ECMQV is not for ECDH (an ECDH scheme is).
    let ecmqv = put_ecc(
        &mut e,
        0,
        &key,
        DECRYPT,
        TpmtEccScheme::Ecmqv(sha256_scheme()),
    );
    expect_rc(
        &mut e,
        TpmCc::ECDH_ZGEN,
        &[ecmqv],
        &[pw()],
        &good,
        TpmRc::SCHEME.with_handle(1),
    );
    let ecdh = put_ecc(
        &mut e,
        0,
        &key,
        DECRYPT,
        TpmtEccScheme::Ecdh(sha256_scheme()),
    );
    ok_params(&mut e, TpmCc::ECDH_ZGEN, &[ecdh], &[pw()], &good);
    // ECDH with an RSA key.
    let rsa = put_rsa(&mut e, 1, &rsa_key(), DECRYPT, TpmtRsaScheme::Null);
    expect_rc(
        &mut e,
        TpmCc::ECDH_ZGEN,
        &[rsa],
        &[pw()],
        &good,
        TpmRc::KEY.with_handle(1),
    );
    expect_rc(
        &mut e,
        TpmCc::ECDH_KEY_GEN,
        &[rsa],
        &[],
        &[],
        TpmRc::KEY.with_handle(1),
    );
    // KeyGen needs only the public part and no particular attributes.
    ok_params(&mut e, TpmCc::ECDH_KEY_GEN, &[signer], &[], &[]);
}

// ---------------------------------------------------------------------------------------------
// TPM2_EncryptDecrypt / TPM2_EncryptDecrypt2
// ---------------------------------------------------------------------------------------------

const NIST_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const NIST_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                          30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

fn ed_params(decrypt: bool, mode: TpmAlgId, iv: &[u8], data: &[u8]) -> Vec<u8> {
    params(&[
        &u8::from(decrypt),
        &mode,
        &Tpm2bIv::new(iv).unwrap(),
        &Tpm2bMaxBuffer::new(data).unwrap(),
    ])
}

fn ed2_params(decrypt: bool, mode: TpmAlgId, iv: &[u8], data: &[u8]) -> Vec<u8> {
    params(&[
        &Tpm2bMaxBuffer::new(data).unwrap(),
        &u8::from(decrypt),
        &mode,
        &Tpm2bIv::new(iv).unwrap(),
    ])
}

/// Runs TPM2_EncryptDecrypt (or, with `two`, TPM2_EncryptDecrypt2) and returns (outData, ivOut).
fn ed(
    e: &mut Engine,
    h: TpmHandle,
    two: bool,
    decrypt: bool,
    mode: TpmAlgId,
    iv: &[u8],
    data: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let (cc, p) = if two {
        (
            TpmCc::ENCRYPT_DECRYPT_2,
            ed2_params(decrypt, mode, iv, data),
        )
    } else {
        (TpmCc::ENCRYPT_DECRYPT, ed_params(decrypt, mode, iv, data))
    };
    let out = ok_params(e, cc, &[h], &[pw()], &p);
    let mut r = tpm2::Reader::new(&out);
    let data = Tpm2bMaxBuffer::unmarshal(&mut r).unwrap();
    let iv = Tpm2bIv::unmarshal(&mut r).unwrap();
    r.finish("EncryptDecrypt response").unwrap();
    (data.as_bytes().to_vec(), iv.as_bytes().to_vec())
}

#[test]
fn encrypt_decrypt_matches_sp800_38a() {
    let mut e = engine();
    let key = hex(NIST_KEY);
    let plain = hex(NIST_PLAIN);
    let iv = hex("000102030405060708090a0b0c0d0e0f");
    let ctr_iv = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    let h = put(
        &mut e,
        0,
        aes_public(SIGN | DECRYPT, 128, TpmAlgId::NULL),
        &key,
        TpmHandle::OWNER,
    );
    let cases = [
        (
            TpmAlgId::ECB,
            Vec::new(),
            "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
        ),
        (
            TpmAlgId::CBC,
            iv.clone(),
            "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
        ),
        (
            TpmAlgId::CFB,
            iv.clone(),
            "3b3fd92eb72dad20333449f8e83cfb4a c8a64537a0b3a93fcde3cdad9f1ce58b 26751f67a3cbb140b1808cf187a4f4df c04b05357c5d1c0eeac4c66f9ff7f2e6",
        ),
        (
            TpmAlgId::OFB,
            iv.clone(),
            "3b3fd92eb72dad20333449f8e83cfb4a 7789508d16918f03f53c52dac54ed825 9740051e9c5fecf64344f7a82260edcc 304c6528f659c77866a510d9c1d6ae5e",
        ),
        (
            TpmAlgId::CTR,
            ctr_iv.clone(),
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        ),
    ];
    for (mode, iv, cipher) in cases {
        let want = hex(cipher);
        for two in [false, true] {
            let (c, iv_out) = ed(&mut e, h, two, false, mode, &iv, &plain);
            assert_eq!(c, want, "{mode} encrypt");
            let (p, iv_back) = ed(&mut e, h, two, true, mode, &iv, &c);
            assert_eq!(p, plain, "{mode} decrypt");
            assert_eq!(iv_out, iv_back, "{mode} ivOut");
            // ivOut is the chaining value: two calls equal one.
            let (c1, mid) = ed(&mut e, h, two, false, mode, &iv, &plain[..32]);
            let (c2, end) = ed(&mut e, h, two, false, mode, &mid, &plain[32..]);
            assert_eq!([c1, c2].concat(), want, "{mode} chained");
            assert_eq!(end, iv_out, "{mode} chained ivOut");
            // ivOut agrees with the crypto module's chaining value (empty for ECB).
            let mut data = plain.clone();
            let chain =
                aes_encrypt(SymMode::from_alg(mode).unwrap(), &key, &iv, &mut data).unwrap();
            let want_iv = if mode == TpmAlgId::ECB {
                Vec::new()
            } else {
                chain.to_vec()
            };
            assert_eq!(iv_out, want_iv, "{mode} ivOut value");
        }
    }
    // CBC's ivOut is the last ciphertext block, OFB's the last keystream block.
    let (c, iv_out) = ed(&mut e, h, false, false, TpmAlgId::CBC, &iv, &plain);
    assert_eq!(iv_out, c[48..]);
    let (c, iv_out) = ed(&mut e, h, false, false, TpmAlgId::OFB, &iv, &plain);
    let keystream: Vec<u8> = c[48..]
        .iter()
        .zip(&plain[48..])
        .map(|(a, b)| a ^ b)
        .collect();
    assert_eq!(iv_out, keystream);
    // Empty data: nothing to do, ivOut is ivIn.
    assert_eq!(
        ed(&mut e, h, false, false, TpmAlgId::CFB, &iv, &[]),
        (Vec::new(), iv.clone())
    );
}

#[test]
fn encrypt_decrypt_key_mode_and_attributes() {
    let mut e = engine();
    let key = [0x42u8; 32];
    let iv = [9u8; 16];
    let cfb = put(
        &mut e,
        0,
        aes_public(SIGN | DECRYPT, 256, TpmAlgId::CFB),
        &key,
        TpmHandle::OWNER,
    );
    // The key's mode is used when the command says NULL, and may be repeated.
    let data = b"CFB takes any length";
    let (a, _) = ed(&mut e, cfb, false, false, TpmAlgId::NULL, &iv, data);
    let (b, _) = ed(&mut e, cfb, true, false, TpmAlgId::CFB, &iv, data);
    assert_eq!(a, b);
    let mut want = data.to_vec();
    aes_encrypt(SymMode::Cfb, &key, &iv, &mut want).unwrap();
    assert_eq!(a, want);
    // Another mode than the key's.
    let p = ed_params(false, TpmAlgId::CBC, &iv, &[0; 16]);
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[cfb],
        &[pw()],
        &p,
        TpmRc::MODE.with_parameter(2),
    );
    let p = ed2_params(false, TpmAlgId::CBC, &iv, &[0; 16]);
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT_2,
        &[cfb],
        &[pw()],
        &p,
        TpmRc::MODE.with_parameter(3),
    );
    // A key without a mode needs one from the command.
    let any = put(
        &mut e,
        1,
        aes_public(SIGN | DECRYPT, 256, TpmAlgId::NULL),
        &key,
        TpmHandle::OWNER,
    );
    let p = ed_params(false, TpmAlgId::NULL, &iv, &[0; 16]);
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[any],
        &[pw()],
        &p,
        TpmRc::MODE.with_parameter(2),
    );
    // IV sizes: one block, or empty for ECB.
    let p = ed_params(false, TpmAlgId::CBC, &iv[..8], &[0; 16]);
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[any],
        &[pw()],
        &p,
        TpmRc::SIZE.with_parameter(3),
    );
    let p = ed2_params(false, TpmAlgId::ECB, &iv, &[0; 16]);
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT_2,
        &[any],
        &[pw()],
        &p,
        TpmRc::SIZE.with_parameter(4),
    );
    // CBC and ECB take whole blocks.
    let p = ed_params(false, TpmAlgId::CBC, &iv, &[0; 17]);
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[any],
        &[pw()],
        &p,
        TpmRc::SIZE.with_parameter(4),
    );
    let p = ed2_params(true, TpmAlgId::ECB, &[], &[0; 15]);
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT_2,
        &[any],
        &[pw()],
        &p,
        TpmRc::SIZE.with_parameter(1),
    );
    // CTR and OFB take any length.
    ed(&mut e, any, false, false, TpmAlgId::CTR, &iv, &[1; 17]);
    ed(&mut e, any, true, true, TpmAlgId::OFB, &iv, &[1; 3]);
    // Encryption needs `sign` (encrypt), decryption `decrypt`; restricted keys do neither.
    let enc_only = put(
        &mut e,
        2,
        aes_public(SIGN, 128, TpmAlgId::CFB),
        &key[..16],
        TpmHandle::OWNER,
    );
    ed(&mut e, enc_only, false, false, TpmAlgId::CFB, &iv, b"x");
    let p = ed_params(true, TpmAlgId::CFB, &iv, b"x");
    let rc = TpmRc::ATTRIBUTES.with_handle(1);
    expect_rc(&mut e, TpmCc::ENCRYPT_DECRYPT, &[enc_only], &[pw()], &p, rc);
    let dec_only = put(
        &mut e,
        0,
        aes_public(DECRYPT, 128, TpmAlgId::CFB),
        &key[..16],
        TpmHandle::OWNER,
    );
    ed(&mut e, dec_only, false, true, TpmAlgId::CFB, &iv, b"x");
    let p = ed_params(false, TpmAlgId::CFB, &iv, b"x");
    expect_rc(&mut e, TpmCc::ENCRYPT_DECRYPT, &[dec_only], &[pw()], &p, rc);
    let restricted = put(
        &mut e,
        2,
        aes_public(DECRYPT | RESTRICTED, 128, TpmAlgId::CFB),
        &key[..16],
        TpmHandle::OWNER,
    );
    let p = ed_params(true, TpmAlgId::CFB, &iv, b"x");
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[restricted],
        &[pw()],
        &p,
        rc,
    );
    // A CMAC key is no cipher key.
    let cmac = put(
        &mut e,
        0,
        aes_public(SIGN | DECRYPT, 128, TpmAlgId::CMAC),
        &key[..16],
        TpmHandle::OWNER,
    );
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[cmac],
        &[pw()],
        &p,
        TpmRc::MODE.with_handle(1),
    );
    // An RSA key is no symmetric key.
    let rsa = put_rsa(&mut e, 2, &rsa_key(), SIGN | DECRYPT, TpmtRsaScheme::Null);
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[rsa],
        &[pw()],
        &p,
        TpmRc::KEY.with_handle(1),
    );
    // Unmarshalling: decrypt is a TPMI_YES_NO, mode a TPMI_ALG_CIPHER_MODE+.
    let mut p = ed_params(false, TpmAlgId::CFB, &iv, b"x");
    p[0] = 2;
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[any],
        &[pw()],
        &p,
        TpmRc::VALUE.with_parameter(1),
    );
    let p = ed_params(false, TpmAlgId::CMAC, &iv, b"x");
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[any],
        &[pw()],
        &p,
        TpmRc::MODE.with_parameter(2),
    );
    let p = ed2_params(false, TpmAlgId::SHA256, &iv, b"x");
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT_2,
        &[any],
        &[pw()],
        &p,
        TpmRc::MODE.with_parameter(3),
    );
    // An IV longer than a block does not unmarshal.
    let mut p = params(&[&0u8, &TpmAlgId::CFB, &17u16]);
    p.extend_from_slice(&[0; 17]);
    p.extend_from_slice(&params(&[&Tpm2bMaxBuffer::new(b"x").unwrap()]));
    expect_rc(
        &mut e,
        TpmCc::ENCRYPT_DECRYPT,
        &[any],
        &[pw()],
        &p,
        TpmRc::SIZE.with_parameter(3),
    );
}

/// ivOut after a final partial block, as swtpm 0.7.1 (libtpms 0.9.2 over OpenSSL) returns it
/// for AES-128 key 00..0f, IV 10..1f and 40 bytes 00..27 (captured from swtpm).
#[test]
fn partial_block_iv_out_matches_swtpm() {
    let mut e = engine();
    let key: Vec<u8> = (0..16).collect();
    let iv: Vec<u8> = (16..32).collect();
    let data: Vec<u8> = (0..40).collect();
    let public = aes_public(SIGN | DECRYPT, 128, TpmAlgId::NULL);
    let h = put(&mut e, 0, public, &key, TpmHandle::OWNER);
    let cases = [
        (
            TpmAlgId::CFB,
            "07ffed77e5d005699807e41a82999c9c66dc9d6bd70ba905d01b6805b1ed0e9b3102d940ac943ac3",
            "3102d940ac943ac3743ad8973eaa42e7",
            "2021222324252627900eee118e949293",
        ),
        (
            TpmAlgId::CTR,
            "07ffed77e5d005699807e41a82999c9c82d3d717cc1994155e60677997e4c017ea001a4411c0de8c",
            "101112131415161718191a1b1c1d1e22",
            "101112131415161718191a1b1c1d1e22",
        ),
        (
            TpmAlgId::OFB,
            "07ffed77e5d005699807e41a82999c9c99de961b311eeed3b4835e9d4f79a628cf2195650de475fc",
            "ef00b74629c153db09b0261872d4da19",
            "ef00b74629c153db09b0261872d4da19",
        ),
    ];
    for (mode, cipher, iv_enc, iv_dec) in cases {
        for two in [false, true] {
            let (c, iv_out) = ed(&mut e, h, two, false, mode, &iv, &data);
            assert_eq!((c, iv_out), (hex(cipher), hex(iv_enc)), "{mode} encrypt");
            // Decrypting the plaintext bytes as if they were ciphertext: CFB's register then
            // holds those input bytes.
            let (_, iv_out) = ed(&mut e, h, two, true, mode, &iv, &data);
            assert_eq!(iv_out, hex(iv_dec), "{mode} decrypt");
        }
    }
    // A counter at its maximum wraps.
    let (_, iv_out) = ed(
        &mut e,
        h,
        false,
        false,
        TpmAlgId::CTR,
        &[0xff; 16],
        &data[..33],
    );
    assert_eq!(iv_out, hex("00000000000000000000000000000002"));
}

// ---------------------------------------------------------------------------------------------
// TPM2_Unseal
// ---------------------------------------------------------------------------------------------

#[test]
fn unseal_returns_the_sealed_data() {
    let mut e = engine();
    let secret = b"sealed secret";
    let h = put(
        &mut e,
        0,
        keyedhash_public(USER, TpmtKeyedhashScheme::Null, secret),
        secret,
        TpmHandle::OWNER,
    );
    let out = ok_params(&mut e, TpmCc::UNSEAL, &[h], &[pw()], &[]);
    assert_eq!(
        Tpm2bSensitiveData::from_bytes(&out).unwrap().as_bytes(),
        secret
    );
    // HMAC keys, restricted objects and other types are not sealed data.
    let hmac_key = keyedhash_public(SIGN, TpmtKeyedhashScheme::Hmac(sha256_scheme()), secret);
    let k = put(&mut e, 1, hmac_key, secret, TpmHandle::OWNER);
    expect_rc(
        &mut e,
        TpmCc::UNSEAL,
        &[k],
        &[pw()],
        &[],
        TpmRc::ATTRIBUTES.with_handle(1),
    );
    let r = put(
        &mut e,
        2,
        keyedhash_public(USER | RESTRICTED, TpmtKeyedhashScheme::Null, secret),
        secret,
        TpmHandle::OWNER,
    );
    expect_rc(
        &mut e,
        TpmCc::UNSEAL,
        &[r],
        &[pw()],
        &[],
        TpmRc::ATTRIBUTES.with_handle(1),
    );
    let aes = put(
        &mut e,
        1,
        aes_public(USER, 128, TpmAlgId::CFB),
        &[1; 16],
        TpmHandle::OWNER,
    );
    expect_rc(
        &mut e,
        TpmCc::UNSEAL,
        &[aes],
        &[pw()],
        &[],
        TpmRc::TYPE.with_handle(1),
    );
    // Trailing parameter bytes.
    expect_rc(&mut e, TpmCc::UNSEAL, &[h], &[pw()], &[0], TpmRc::SIZE);
}

#[test]
fn rng_adapter_draws_from_the_drbg() {
    use rand_core::RngCore;
    let mut e = engine();
    let mut a = [0u8; 40];
    super::TpmRng(&mut e).fill_bytes(&mut a);
    let mut b = [0u8; 40];
    super::TpmRng(&mut e).fill_bytes(&mut b);
    assert_ne!(a, b);
    assert_ne!(a, [0; 40]);
}

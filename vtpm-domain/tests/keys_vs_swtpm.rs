#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! The key-using commands of our engine side by side with swtpm (TCG TPM 2.0 Library part 3
//! §12.7, §14.2–§14.5, §15.2–§15.3, §20.1–§20.2): the same keys, given in the clear, are loaded
//! into both with TPM2_LoadExternal (hierarchy TPM_RH_NULL), then
//!
//! - deterministic outputs must be byte-identical: RSASSA signatures, HMAC "signatures", raw
//!   RSA encryption, ECDH_ZGen, every TPM2_EncryptDecrypt(2) mode and length, TPM2_Unseal;
//! - randomised outputs are cross-checked: RSAPSS and ECDSA signatures made by one are verified
//!   by the other's TPM2_VerifySignature, OAEP/RSAES ciphertexts of one are decrypted by the
//!   other, ECDH_KeyGen of one is checked with ECDH_ZGen of the other; PSS salt lengths are
//!   checked with the `rsa` crate;
//! - invalid commands must get the same response code (with the same handle or parameter
//!   number) from both.
//!
//! swtpm answers TPM_RC_RETRY while it prepares a private key on first use; the commands are
//! then repeated, as a TSS does. Known, deliberate differences from swtpm 0.7.1 (libtpms 0.9.2)
//! are asserted as such: an RSA encryption or decryption that fails (message too long, bad
//! padding or label, value not below the modulus) is TPM_RC_VALUE here, as part 3 §14.2/§14.3
//! say and later libtpms returns for decryption, where libtpms 0.9.2 answers TPM_RC_FAILURE.
//!
//! swtpm must be installed: a missing binary fails the tests.

use tpm2::Marshal;
use tpm2::Unmarshal;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::st::TpmEccCurve;
use tpm2::structures::{
    PublicDetail, Tpm2bAuth, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, Tpm2bEccPoint, Tpm2bIv,
    Tpm2bMaxBuffer, Tpm2bName, Tpm2bPrivateKeyRsa, Tpm2bPublic, Tpm2bPublicKeyRsa,
    Tpm2bSecretDigest, Tpm2bSecretEccParameter, Tpm2bSensitive, Tpm2bSensitiveData, Tpm2bSymKey,
    TpmaObject, TpmsEccParms, TpmsEccPoint, TpmsEmpty, TpmsKeyedhashParms, TpmsRsaParms,
    TpmsSchemeHash, TpmsSymcipherParms, TpmtEccScheme, TpmtKdfScheme, TpmtKeyedhashScheme,
    TpmtPublic, TpmtRsaDecrypt, TpmtRsaScheme, TpmtSensitive, TpmtSigScheme, TpmtSignature,
    TpmtSymDefObject, TpmtTkHashcheck, TpmtTkVerified, TpmuSensitiveComposite,
};
use vtpm_domain::engine::crypto::hash::digest;
use vtpm_domain::engine::crypto::{Curve, EccPrivate, HashAlg, KdfaStream, RsaPrivate};

#[path = "support/pair.rs"]
mod pair;
use pair::{Pair, pw, rc_of};

const USER: u32 = TpmaObject::USER_WITH_AUTH;
const SIGN: u32 = TpmaObject::SIGN | USER;
const DECRYPT: u32 = TpmaObject::DECRYPT | USER;

fn params(parts: &[&dyn Marshal]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        p.marshal(&mut out);
    }
    out
}

impl Pair {
    /// Loads the same key into both (TPM_RH_NULL); they must agree on handle and Name.
    fn load(&mut self, sensitive: Option<TpmtSensitive>, public: TpmtPublic) -> TpmHandle {
        let p = params(&[
            &Tpm2bSensitive {
                sensitive_area: sensitive,
            },
            &Tpm2bPublic::from(public),
            &TpmHandle::NULL,
        ]);
        let cmd = build_command(TpmCc::LOAD_EXTERNAL, &[], &[], &p).unwrap();
        let rsp = self.same("TPM2_LoadExternal", &cmd);
        assert_eq!(rc_of(&rsp), TpmRc::SUCCESS, "TPM2_LoadExternal");
        let r = Response::parse(&rsp, TpmCc::LOAD_EXTERNAL).unwrap();
        Tpm2bName::from_bytes(r.parameters).unwrap();
        r.handle.unwrap()
    }
}

fn cmd(cc: TpmCc, h: TpmHandle, auth: bool, p: &[u8]) -> Vec<u8> {
    let sessions = if auth { vec![pw()] } else { Vec::new() };
    build_command(cc, &[h], &sessions, p).unwrap()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest(HashAlg::Sha256, &[data])
}

fn hash_scheme(alg: TpmAlgId) -> TpmsSchemeHash {
    TpmsSchemeHash { hash_alg: alg }
}

fn rng(label: &[u8]) -> KdfaStream {
    KdfaStream::new(HashAlg::Sha256, b"keys_vs_swtpm", label, b"", b"")
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

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

fn rsa_sensitive(key: &RsaPrivate) -> TpmtSensitive {
    TpmtSensitive {
        auth_value: Tpm2bAuth::empty(),
        seed_value: Tpm2bSecretDigest::empty(),
        sensitive: TpmuSensitiveComposite::Rsa(Tpm2bPrivateKeyRsa::new(&key.prime()).unwrap()),
    }
}

fn ecc_key(label: &[u8]) -> EccPrivate {
    EccPrivate::derive(Curve::NistP256, &mut rng(label)).unwrap()
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

fn ecc_sensitive(key: &EccPrivate) -> TpmtSensitive {
    TpmtSensitive {
        auth_value: Tpm2bAuth::empty(),
        seed_value: Tpm2bSecretDigest::empty(),
        sensitive: TpmuSensitiveComposite::Ecc(
            Tpm2bSecretEccParameter::new(&key.scalar()).unwrap(),
        ),
    }
}

/// The seedValue of symmetric and keyed-hash objects (as long as the nameAlg digest).
const SEED: [u8; 32] = [0x5a; 32];

/// unique = H_nameAlg(seedValue || key) (part 1 §27.7.4), as LoadExternal checks it.
fn sym_unique(secret: &[u8]) -> Tpm2bDigest {
    Tpm2bDigest::new(&digest(HashAlg::Sha256, &[&SEED, secret])).unwrap()
}

fn aes_public(attributes: u32, key: &[u8], mode: TpmAlgId) -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::SymCipher {
            parameters: TpmsSymcipherParms {
                sym: TpmtSymDefObject::Aes {
                    key_bits: u16::try_from(key.len() * 8).unwrap(),
                    mode,
                },
            },
            unique: sym_unique(key),
        },
    }
}

fn aes_sensitive(key: &[u8]) -> TpmtSensitive {
    TpmtSensitive {
        auth_value: Tpm2bAuth::empty(),
        seed_value: Tpm2bSecretDigest::new(&SEED).unwrap(),
        sensitive: TpmuSensitiveComposite::Sym(Tpm2bSymKey::new(key).unwrap()),
    }
}

fn keyedhash_public(attributes: u32, scheme: TpmtKeyedhashScheme, data: &[u8]) -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms { scheme },
            unique: sym_unique(data),
        },
    }
}

fn keyedhash_sensitive(data: &[u8]) -> TpmtSensitive {
    TpmtSensitive {
        auth_value: Tpm2bAuth::empty(),
        seed_value: Tpm2bSecretDigest::new(&SEED).unwrap(),
        sensitive: TpmuSensitiveComposite::Bits(Tpm2bSensitiveData::new(data).unwrap()),
    }
}

// ---------------------------------------------------------------------------------------------
// Command parameters
// ---------------------------------------------------------------------------------------------

fn sign_cmd(h: TpmHandle, d: &[u8], scheme: &TpmtSigScheme, ticket: &TpmtTkHashcheck) -> Vec<u8> {
    let p = params(&[&Tpm2bDigest::new(d).unwrap(), scheme, ticket]);
    cmd(TpmCc::SIGN, h, true, &p)
}

fn sign_null(h: TpmHandle, d: &[u8], scheme: &TpmtSigScheme) -> Vec<u8> {
    sign_cmd(h, d, scheme, &TpmtTkHashcheck::null())
}

fn verify_cmd(h: TpmHandle, d: &[u8], sig: &TpmtSignature) -> Vec<u8> {
    cmd(
        TpmCc::VERIFY_SIGNATURE,
        h,
        false,
        &params(&[&Tpm2bDigest::new(d).unwrap(), sig]),
    )
}

fn rsa_cmd(cc: TpmCc, h: TpmHandle, data: &[u8], scheme: &TpmtRsaDecrypt, label: &[u8]) -> Vec<u8> {
    let p = params(&[
        &Tpm2bPublicKeyRsa::new(data).unwrap(),
        scheme,
        &Tpm2bData::new(label).unwrap(),
    ]);
    cmd(cc, h, cc == TpmCc::RSA_DECRYPT, &p)
}

fn rsa_out(p: &[u8]) -> Vec<u8> {
    Tpm2bPublicKeyRsa::from_bytes(p)
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn ed_cmd(
    two: bool,
    h: TpmHandle,
    decrypt: bool,
    mode: TpmAlgId,
    iv: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let iv = Tpm2bIv::new(iv).unwrap();
    let data = Tpm2bMaxBuffer::new(data).unwrap();
    let d = u8::from(decrypt);
    if two {
        cmd(
            TpmCc::ENCRYPT_DECRYPT_2,
            h,
            true,
            &params(&[&data, &d, &mode, &iv]),
        )
    } else {
        cmd(
            TpmCc::ENCRYPT_DECRYPT,
            h,
            true,
            &params(&[&d, &mode, &iv, &data]),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn rsa_signatures_match_swtpm() {
    let mut t = Pair::new(b"keys_vs_swtpm");
    let key = rsa_key();
    let h = t.load(
        Some(rsa_sensitive(&key)),
        rsa_public(&key, SIGN, TpmtRsaScheme::Null),
    );
    // RSASSA is deterministic: identical signatures, for every hash.
    for (alg, data) in [
        (TpmAlgId::SHA1, &b"one"[..]),
        (TpmAlgId::SHA256, b"two"),
        (TpmAlgId::SHA384, b"three"),
        (TpmAlgId::SHA512, b"four"),
    ] {
        let hash = HashAlg::from_alg(alg).unwrap();
        let d = digest(hash, &[data]);
        let scheme = TpmtSigScheme::Rsassa(hash_scheme(alg));
        let rsp = t.same("RSASSA signature", &sign_null(h, &d, &scheme));
        assert_eq!(rc_of(&rsp), TpmRc::SUCCESS, "RSASSA with {alg}");
    }
    // RSAPSS is randomised: each verifies the other's signature, and both use a salt as long
    // as the digest.
    let d = sha256(b"pss");
    let scheme = TpmtSigScheme::Rsapss(hash_scheme(TpmAlgId::SHA256));
    let (a, b) = t.both_ok("RSAPSS", TpmCc::SIGN, &sign_null(h, &d, &scheme));
    let n = rsa::BigUint::from_bytes_be(&key.public().modulus());
    let checker = rsa::RsaPublicKey::new(n, rsa::BigUint::from(65537u32)).unwrap();
    for sig in [&a, &b] {
        let sig = TpmtSignature::from_bytes(sig).unwrap();
        let TpmtSignature::Rsapss(s) = &sig else {
            panic!("{sig:?}")
        };
        checker
            .verify(
                rsa::Pss::new_with_salt::<sha2::Sha256>(32),
                &d,
                s.sig.as_bytes(),
            )
            .expect("PSS with a 32-byte salt");
        let rsp = t.same("VerifySignature(RSAPSS)", &verify_cmd(h, &d, &sig));
        let r = Response::parse(&rsp, TpmCc::VERIFY_SIGNATURE).unwrap();
        assert_eq!(
            TpmtTkVerified::from_bytes(r.parameters).unwrap(),
            TpmtTkVerified::null()
        );
        // A signature over another digest is rejected by both.
        t.same_error(
            "VerifySignature(wrong digest)",
            &verify_cmd(h, &sha256(b"other"), &sig),
            TpmRc::SIGNATURE.with_parameter(2),
        );
    }

    // Errors.
    let rsassa = TpmtSigScheme::Rsassa(hash_scheme(TpmAlgId::SHA256));
    let nt = TpmtTkHashcheck::null();
    let cases: Vec<(&str, Vec<u8>, TpmRc)> = vec![
        (
            "no scheme anywhere",
            sign_null(h, &d, &TpmtSigScheme::Null),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "ECDSA with an RSA key",
            sign_null(h, &d, &TpmtSigScheme::Ecdsa(hash_scheme(TpmAlgId::SHA256))),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "HMAC with an RSA key",
            sign_null(h, &d, &TpmtSigScheme::Hmac(hash_scheme(TpmAlgId::SHA256))),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "digest shorter than the hash",
            sign_null(h, &d[..20], &rsassa),
            TpmRc::SIZE.with_parameter(1),
        ),
        (
            "ticket that is not one",
            sign_cmd(
                h,
                &d,
                &rsassa,
                &TpmtTkHashcheck {
                    hierarchy: TpmHandle::NULL,
                    digest: Tpm2bDigest::new(&[7; 64]).unwrap(),
                },
            ),
            TpmRc::TICKET.with_parameter(3),
        ),
        (
            "ticket with a bad hierarchy",
            {
                let mut c = sign_null(h, &d, &rsassa);
                let len = c.len();
                c[len - 6..len - 2].copy_from_slice(&0x4000_0009u32.to_be_bytes());
                c
            },
            TpmRc::VALUE.with_parameter(3),
        ),
        (
            "ticket with a bad tag",
            {
                let mut c = sign_null(h, &d, &rsassa);
                let len = c.len();
                c[len - 8..len - 6].copy_from_slice(&0x8022u16.to_be_bytes());
                c
            },
            TpmRc::TAG.with_parameter(3),
        ),
        (
            "SM3 scheme hash",
            sign_null(
                h,
                &d,
                &TpmtSigScheme::Rsassa(hash_scheme(TpmAlgId::SM3_256)),
            ),
            TpmRc::HASH.with_parameter(2),
        ),
        (
            "trailing byte",
            {
                let mut c = sign_cmd(h, &d, &rsassa, &nt);
                c.push(0);
                let len = u32::try_from(c.len()).unwrap();
                c[2..6].copy_from_slice(&len.to_be_bytes());
                c
            },
            TpmRc::SIZE,
        ),
        (
            "ECDSA signature for an RSA key",
            verify_cmd(
                h,
                &d,
                &TpmtSignature::Ecdsa(tpm2::structures::TpmsSignatureEcc {
                    hash: TpmAlgId::SHA256,
                    signature_r: Tpm2bEccParameter::new(&[1; 32]).unwrap(),
                    signature_s: Tpm2bEccParameter::new(&[1; 32]).unwrap(),
                }),
            ),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "RSASSA signature of the wrong size",
            verify_cmd(
                h,
                &d,
                &TpmtSignature::Rsassa(tpm2::structures::TpmsSignatureRsa {
                    hash: TpmAlgId::SHA256,
                    sig: Tpm2bPublicKeyRsa::new(&[1; 255]).unwrap(),
                }),
            ),
            TpmRc::SIGNATURE.with_parameter(2),
        ),
        (
            "RSA_Encrypt with a signing key",
            rsa_cmd(TpmCc::RSA_ENCRYPT, h, b"m", &TpmtRsaDecrypt::Null, b""),
            TpmRc::ATTRIBUTES.with_handle(1),
        ),
        (
            "Unseal of an RSA key",
            cmd(TpmCc::UNSEAL, h, true, &[]),
            TpmRc::TYPE.with_handle(1),
        ),
        (
            "EncryptDecrypt with an RSA key",
            ed_cmd(false, h, false, TpmAlgId::CFB, &[0; 16], b"x"),
            TpmRc::KEY.with_handle(1),
        ),
    ];
    for (what, c, want) in cases {
        t.same_error(what, &c, want);
    }

    // A decryption key does not sign; an x509sign key does not sign digests.
    let dec = t.load(
        Some(rsa_sensitive(&key)),
        rsa_public(&key, DECRYPT, TpmtRsaScheme::Null),
    );
    t.same_error(
        "Sign with a decryption key",
        &sign_null(dec, &d, &rsassa),
        TpmRc::KEY.with_handle(1),
    );
    t.same_error(
        "VerifySignature with a decryption key",
        &verify_cmd(dec, &d, &TpmtSignature::from_bytes(&a).unwrap()),
        TpmRc::ATTRIBUTES.with_handle(1),
    );
    // A key with a default scheme: the same scheme may be repeated, another is refused.
    let with_scheme = t.load(
        Some(rsa_sensitive(&key)),
        rsa_public(
            &key,
            SIGN,
            TpmtRsaScheme::Rsassa(hash_scheme(TpmAlgId::SHA256)),
        ),
    );
    let rsp = t.same(
        "default scheme",
        &sign_null(with_scheme, &d, &TpmtSigScheme::Null),
    );
    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
    t.same_error(
        "scheme other than the key's",
        &sign_null(
            with_scheme,
            &d,
            &TpmtSigScheme::Rsapss(hash_scheme(TpmAlgId::SHA256)),
        ),
        TpmRc::SCHEME.with_parameter(2),
    );
    t.same_error(
        "hash other than the key's",
        &sign_null(
            with_scheme,
            &d[..20],
            &TpmtSigScheme::Rsassa(hash_scheme(TpmAlgId::SHA1)),
        ),
        TpmRc::SCHEME.with_parameter(2),
    );
}

#[test]
fn rsa_encryption_matches_swtpm() {
    let mut t = Pair::new(b"keys_vs_swtpm");
    let key = rsa_key();
    let h = t.load(
        Some(rsa_sensitive(&key)),
        rsa_public(&key, DECRYPT, TpmtRsaScheme::Null),
    );
    let msg = b"the message";
    let label = b"LABEL\0";
    for scheme in [
        TpmtRsaDecrypt::Oaep(hash_scheme(TpmAlgId::SHA256)),
        TpmtRsaDecrypt::Oaep(hash_scheme(TpmAlgId::SHA1)),
        TpmtRsaDecrypt::Rsaes(TpmsEmpty {}),
    ] {
        let label: &[u8] = if matches!(scheme, TpmtRsaDecrypt::Rsaes(_)) {
            b""
        } else {
            label
        };
        let enc = rsa_cmd(TpmCc::RSA_ENCRYPT, h, msg, &scheme, label);
        let (a, b) = t.both_ok("RSA_Encrypt", TpmCc::RSA_ENCRYPT, &enc);
        // Each ciphertext decrypts in both TPMs to the message.
        for c in [rsa_out(&a), rsa_out(&b)] {
            assert_eq!(c.len(), 256);
            let dec = rsa_cmd(TpmCc::RSA_DECRYPT, h, &c, &scheme, label);
            let rsp = t.same("RSA_Decrypt", &dec);
            let r = Response::parse(&rsp, TpmCc::RSA_DECRYPT).unwrap();
            assert_eq!(rsa_out(r.parameters), msg);
        }
    }
    // Raw RSA is deterministic both ways.
    let raw = TpmtRsaDecrypt::Null;
    let rsp = t.same(
        "raw RSA_Encrypt",
        &rsa_cmd(TpmCc::RSA_ENCRYPT, h, msg, &raw, b""),
    );
    let c = rsa_out(
        Response::parse(&rsp, TpmCc::RSA_ENCRYPT)
            .unwrap()
            .parameters,
    );
    let rsp = t.same(
        "raw RSA_Decrypt",
        &rsa_cmd(TpmCc::RSA_DECRYPT, h, &c, &raw, b""),
    );
    let m = rsa_out(
        Response::parse(&rsp, TpmCc::RSA_DECRYPT)
            .unwrap()
            .parameters,
    );
    assert_eq!(&m[256 - msg.len()..], msg);

    let oaep = TpmtRsaDecrypt::Oaep(hash_scheme(TpmAlgId::SHA256));
    let cases: Vec<(&str, Vec<u8>, TpmRc)> = vec![
        (
            "label without a terminating zero",
            rsa_cmd(TpmCc::RSA_ENCRYPT, h, msg, &oaep, b"LABEL"),
            TpmRc::VALUE.with_parameter(3),
        ),
        (
            "decrypt label without a terminating zero",
            rsa_cmd(TpmCc::RSA_DECRYPT, h, &c, &oaep, b"LABEL"),
            TpmRc::VALUE.with_parameter(3),
        ),
        (
            "ciphertext shorter than the modulus",
            rsa_cmd(TpmCc::RSA_DECRYPT, h, &c[1..], &oaep, b""),
            TpmRc::SIZE,
        ),
        (
            "raw message longer than the modulus",
            rsa_cmd(TpmCc::RSA_ENCRYPT, h, &[1; 257], &raw, b""),
            TpmRc::VALUE,
        ),
        (
            "OAEP with SM3",
            rsa_cmd(
                TpmCc::RSA_ENCRYPT,
                h,
                msg,
                &TpmtRsaDecrypt::Oaep(hash_scheme(TpmAlgId::SM3_256)),
                b"",
            ),
            TpmRc::HASH.with_parameter(2),
        ),
        (
            "RSASSA as decryption scheme",
            {
                let mut c = rsa_cmd(TpmCc::RSA_ENCRYPT, h, msg, &raw, b"");
                let at = 14 + 2 + msg.len();
                c[at..at + 2].copy_from_slice(&TpmAlgId::RSASSA.0.to_be_bytes());
                c
            },
            TpmRc::VALUE.with_parameter(2),
        ),
        (
            "Sign with a decryption key",
            sign_null(
                h,
                &sha256(b"x"),
                &TpmtSigScheme::Rsassa(hash_scheme(TpmAlgId::SHA256)),
            ),
            TpmRc::KEY.with_handle(1),
        ),
        (
            "ECDH_KeyGen with an RSA key",
            cmd(TpmCc::ECDH_KEY_GEN, h, false, &[]),
            TpmRc::KEY.with_handle(1),
        ),
    ];
    for (what, c, want) in cases {
        t.same_error(what, &c, want);
    }
    // Failed encryptions and decryptions: TPM_RC_VALUE here (part 3 §14.2, §14.3), where
    // libtpms 0.9.2 answers TPM_RC_FAILURE (later libtpms: TPM_RC_VALUE for decryption).
    for (what, c) in [
        (
            "OAEP message too long",
            rsa_cmd(TpmCc::RSA_ENCRYPT, h, &[1; 191], &oaep, b""),
        ),
        (
            "RSAES message too long",
            rsa_cmd(
                TpmCc::RSA_ENCRYPT,
                h,
                &[1; 246],
                &TpmtRsaDecrypt::Rsaes(TpmsEmpty {}),
                b"",
            ),
        ),
        (
            "raw value above the modulus",
            rsa_cmd(TpmCc::RSA_ENCRYPT, h, &[0xff; 256], &raw, b""),
        ),
        (
            "OAEP with the wrong label",
            rsa_cmd(TpmCc::RSA_DECRYPT, h, &c, &oaep, b"OTHER\0"),
        ),
        (
            "RSAES padding check",
            rsa_cmd(
                TpmCc::RSA_DECRYPT,
                h,
                &c,
                &TpmtRsaDecrypt::Rsaes(TpmsEmpty {}),
                b"",
            ),
        ),
    ] {
        let (a, b) = t.both(&c);
        assert_eq!(rc_of(&a), TpmRc::VALUE, "{what} (ours)");
        assert!(
            rc_of(&b) == TpmRc::FAILURE || rc_of(&b) == TpmRc::VALUE,
            "{what}: swtpm {}",
            rc_of(&b)
        );
    }
    // A key whose scheme is OAEP refuses RSAES.
    let oaep_key = t.load(
        Some(rsa_sensitive(&key)),
        rsa_public(
            &key,
            DECRYPT,
            TpmtRsaScheme::Oaep(hash_scheme(TpmAlgId::SHA256)),
        ),
    );
    t.same_error(
        "RSAES with an OAEP key",
        &rsa_cmd(
            TpmCc::RSA_ENCRYPT,
            oaep_key,
            msg,
            &TpmtRsaDecrypt::Rsaes(TpmsEmpty {}),
            b"",
        ),
        TpmRc::SCHEME.with_parameter(2),
    );
    let (a, _) = t.both_ok(
        "OAEP key, implicit scheme",
        TpmCc::RSA_ENCRYPT,
        &rsa_cmd(
            TpmCc::RSA_ENCRYPT,
            oaep_key,
            msg,
            &TpmtRsaDecrypt::Null,
            b"",
        ),
    );
    let rsp = t.same(
        "OAEP key decrypts",
        &rsa_cmd(TpmCc::RSA_DECRYPT, oaep_key, &rsa_out(&a), &oaep, b""),
    );
    assert_eq!(
        rsa_out(
            Response::parse(&rsp, TpmCc::RSA_DECRYPT)
                .unwrap()
                .parameters
        ),
        msg
    );
    // A public key alone encrypts but cannot decrypt.
    let public_only = t.load(None, rsa_public(&key, DECRYPT, TpmtRsaScheme::Null));
    t.same(
        "public-only RSA_Encrypt",
        &rsa_cmd(TpmCc::RSA_ENCRYPT, public_only, msg, &raw, b""),
    );
    t.same_error(
        "public-only RSA_Decrypt",
        &rsa_cmd(TpmCc::RSA_DECRYPT, public_only, &c, &raw, b""),
        TpmRc::AUTH_UNAVAILABLE,
    );
}

fn point(p: &[u8]) -> Tpm2bEccPoint {
    Tpm2bEccPoint::from_bytes(p).unwrap()
}

#[test]
fn ecdsa_matches_swtpm() {
    let mut t = Pair::new(b"keys_vs_swtpm");
    let signer = ecc_key(b"ecc sign");
    let s = t.load(
        Some(ecc_sensitive(&signer)),
        ecc_public(&signer, SIGN, TpmtEccScheme::Null),
    );
    let d = sha256(b"ecdsa");
    let ecdsa = TpmtSigScheme::Ecdsa(hash_scheme(TpmAlgId::SHA256));
    let (a, b) = t.both_ok("ECDSA", TpmCc::SIGN, &sign_null(s, &d, &ecdsa));
    for sig in [&a, &b] {
        let sig = TpmtSignature::from_bytes(sig).unwrap();
        let TpmtSignature::Ecdsa(e) = &sig else {
            panic!("{sig:?}")
        };
        assert_eq!((e.signature_r.len(), e.signature_s.len()), (32, 32));
        let rsp = t.same("VerifySignature(ECDSA)", &verify_cmd(s, &d, &sig));
        assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
        t.same_error(
            "VerifySignature(ECDSA, wrong digest)",
            &verify_cmd(s, &sha256(b"no"), &sig),
            TpmRc::SIGNATURE.with_parameter(2),
        );
    }
    let zero_r = TpmtSignature::Ecdsa(tpm2::structures::TpmsSignatureEcc {
        hash: TpmAlgId::SHA256,
        signature_r: Tpm2bEccParameter::new(&[0; 32]).unwrap(),
        signature_s: Tpm2bEccParameter::new(&[1; 32]).unwrap(),
    });
    t.same_error(
        "ECDSA r = 0",
        &verify_cmd(s, &d, &zero_r),
        TpmRc::SIGNATURE.with_parameter(2),
    );
    t.same_error(
        "RSASSA with an ECC key",
        &sign_null(s, &d, &TpmtSigScheme::Rsassa(hash_scheme(TpmAlgId::SHA256))),
        TpmRc::SCHEME.with_parameter(2),
    );
    t.same_error(
        "ECDSA, short digest",
        &sign_null(s, &d[..20], &ecdsa),
        TpmRc::SIZE.with_parameter(1),
    );
    t.same_error(
        "ZGen with a signing key",
        &cmd(
            TpmCc::ECDH_ZGEN,
            s,
            true,
            &params(&[&point(&ecc_point_bytes(&signer))]),
        ),
        TpmRc::ATTRIBUTES.with_handle(1),
    );
}

#[test]
fn ecdh_matches_swtpm() {
    let mut t = Pair::new(b"keys_vs_swtpm");
    let d = sha256(b"ecdsa");
    let ecdsa = TpmtSigScheme::Ecdsa(hash_scheme(TpmAlgId::SHA256));
    let dh = ecc_key(b"ecc dh");
    let h = t.load(
        Some(ecc_sensitive(&dh)),
        ecc_public(&dh, DECRYPT, TpmtEccScheme::Null),
    );
    let peer = ecc_key(b"peer");
    let peer_point = ecc_point_bytes(&peer);
    let zgen = cmd(TpmCc::ECDH_ZGEN, h, true, &peer_point);
    let rsp = t.same("ECDH_ZGen", &zgen);
    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
    // The leading zero octets of a coordinate do not matter.
    let mut x = vec![0];
    x.extend_from_slice(&peer.public().x);
    let padded = Tpm2bEccPoint {
        point: TpmsEccPoint {
            x: Tpm2bEccParameter::new(&x).unwrap(),
            y: Tpm2bEccParameter::new(&peer.public().y).unwrap(),
        },
    };
    assert_eq!(
        t.same(
            "ECDH_ZGen, padded x",
            &cmd(TpmCc::ECDH_ZGEN, h, true, &params(&[&padded]))
        ),
        rsp
    );
    // KeyGen of each: ZGen of the other with the ephemeral point gives the same Z.
    let (a, b) = t.both_ok(
        "ECDH_KeyGen",
        TpmCc::ECDH_KEY_GEN,
        &cmd(TpmCc::ECDH_KEY_GEN, h, false, &[]),
    );
    for out in [a, b] {
        let mut r = tpm2::Reader::new(&out);
        let z = Tpm2bEccPoint::unmarshal(&mut r).unwrap();
        let ephemeral = Tpm2bEccPoint::unmarshal(&mut r).unwrap();
        let (za, zb) = t.both_ok(
            "ECDH_ZGen of an ephemeral point",
            TpmCc::ECDH_ZGEN,
            &cmd(TpmCc::ECDH_ZGEN, h, true, &params(&[&ephemeral])),
        );
        assert_eq!(point(&za), z);
        assert_eq!(point(&zb), z);
    }
    // Bad points.
    let mut y = peer.public().y;
    y[31] ^= 1;
    let off_curve = Tpm2bEccPoint {
        point: TpmsEccPoint {
            x: Tpm2bEccParameter::new(&peer.public().x).unwrap(),
            y: Tpm2bEccParameter::new(&y).unwrap(),
        },
    };
    let zero = Tpm2bEccPoint {
        point: TpmsEccPoint {
            x: Tpm2bEccParameter::new(&[0; 32]).unwrap(),
            y: Tpm2bEccParameter::new(&[0; 32]).unwrap(),
        },
    };
    let mut long_x = vec![1];
    long_x.extend_from_slice(&peer.public().x);
    let long = Tpm2bEccPoint {
        point: TpmsEccPoint {
            x: Tpm2bEccParameter::new(&long_x).unwrap(),
            y: Tpm2bEccParameter::new(&peer.public().y).unwrap(),
        },
    };
    for (what, p) in [
        ("off the curve", off_curve),
        ("zero", zero),
        ("33-byte x", long),
    ] {
        t.same_error(
            what,
            &cmd(TpmCc::ECDH_ZGEN, h, true, &params(&[&p])),
            TpmRc::ECC_POINT.with_parameter(1),
        );
    }
    t.same_error(
        "empty point",
        &cmd(TpmCc::ECDH_ZGEN, h, true, &[0, 0]),
        TpmRc::SIZE.with_parameter(1),
    );
    t.same_error(
        "Sign with an ECDH key",
        &sign_null(h, &d, &ecdsa),
        TpmRc::KEY.with_handle(1),
    );
    // A key whose scheme is ECDH gives the same Z. (ECMQV keys, which ECDH_ZGen refuses, are
    // not loadable here: this engine does not implement ECMQV.)
    let with_scheme = t.load(
        Some(ecc_sensitive(&dh)),
        ecc_public(
            &dh,
            DECRYPT,
            TpmtEccScheme::Ecdh(hash_scheme(TpmAlgId::SHA256)),
        ),
    );
    let again = t.same(
        "ZGen with an ECDH-scheme key",
        &zgen_for(with_scheme, &peer_point),
    );
    assert_eq!(again, rsp);
    // A public ECC key does ECDH_KeyGen only.
    let public_only = t.load(None, ecc_public(&dh, DECRYPT, TpmtEccScheme::Null));
    t.both_ok(
        "ECDH_KeyGen, public key",
        TpmCc::ECDH_KEY_GEN,
        &cmd(TpmCc::ECDH_KEY_GEN, public_only, false, &[]),
    );
    t.same_error(
        "ZGen, public key",
        &zgen_for(public_only, &peer_point),
        TpmRc::AUTH_UNAVAILABLE,
    );
}

fn zgen_for(h: TpmHandle, point: &[u8]) -> Vec<u8> {
    cmd(TpmCc::ECDH_ZGEN, h, true, point)
}

/// The public point of `key` as a marshalled TPM2B_ECC_POINT.
fn ecc_point_bytes(key: &EccPrivate) -> Vec<u8> {
    let p = key.public();
    params(&[&Tpm2bEccPoint {
        point: TpmsEccPoint {
            x: Tpm2bEccParameter::new(&p.x).unwrap(),
            y: Tpm2bEccParameter::new(&p.y).unwrap(),
        },
    }])
}

#[test]
fn symmetric_encryption_matches_swtpm() {
    let mut t = Pair::new(b"keys_vs_swtpm");
    let key128: Vec<u8> = (0..16).collect();
    let any = t.load(
        Some(aes_sensitive(&key128)),
        aes_public(SIGN | DECRYPT, &key128, TpmAlgId::NULL),
    );
    let iv: Vec<u8> = (16..32).collect();
    let data: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    // Every mode, both commands, both directions, lengths around the block size: identical
    // outData and ivOut.
    for mode in [
        TpmAlgId::CFB,
        TpmAlgId::CBC,
        TpmAlgId::CTR,
        TpmAlgId::OFB,
        TpmAlgId::ECB,
    ] {
        let whole_blocks = matches!(mode, TpmAlgId::CBC | TpmAlgId::ECB);
        let iv: &[u8] = if mode == TpmAlgId::ECB { &[] } else { &iv };
        for len in [0usize, 1, 15, 16, 17, 40, 64, 1024] {
            if whole_blocks && len % 16 != 0 {
                continue;
            }
            for two in [false, true] {
                for decrypt in [false, true] {
                    let c = ed_cmd(two, any, decrypt, mode, iv, &data[..len]);
                    let rsp = t.same(&format!("{mode} len {len} two {two} decrypt {decrypt}"), &c);
                    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
                }
            }
        }
    }
    // A counter at its maximum wraps around.
    t.same(
        "CTR wrap",
        &ed_cmd(false, any, false, TpmAlgId::CTR, &[0xff; 16], &data[..33]),
    );

    let cases: Vec<(&str, Vec<u8>, TpmRc)> = vec![
        (
            "no mode",
            ed_cmd(false, any, false, TpmAlgId::NULL, &iv, b"x"),
            TpmRc::MODE.with_parameter(2),
        ),
        (
            "no mode (2)",
            ed_cmd(true, any, false, TpmAlgId::NULL, &iv, b"x"),
            TpmRc::MODE.with_parameter(3),
        ),
        (
            "CMAC",
            ed_cmd(false, any, false, TpmAlgId::CMAC, &iv, b"x"),
            TpmRc::MODE.with_parameter(2),
        ),
        (
            "SHA-256 as mode (2)",
            ed_cmd(true, any, false, TpmAlgId::SHA256, &iv, b"x"),
            TpmRc::MODE.with_parameter(3),
        ),
        (
            "ECB with an IV",
            ed_cmd(false, any, false, TpmAlgId::ECB, &iv, &[0; 16]),
            TpmRc::SIZE.with_parameter(3),
        ),
        (
            "short IV (2)",
            ed_cmd(true, any, false, TpmAlgId::CBC, &iv[..8], &[0; 16]),
            TpmRc::SIZE.with_parameter(4),
        ),
        (
            "CFB without IV",
            ed_cmd(false, any, true, TpmAlgId::CFB, &[], b"x"),
            TpmRc::SIZE.with_parameter(3),
        ),
        (
            "unaligned CBC",
            ed_cmd(false, any, false, TpmAlgId::CBC, &iv, &[0; 17]),
            TpmRc::SIZE.with_parameter(4),
        ),
        (
            "unaligned ECB (2)",
            ed_cmd(true, any, true, TpmAlgId::ECB, &[], &[0; 31]),
            TpmRc::SIZE.with_parameter(1),
        ),
        (
            "decrypt = 2",
            {
                let mut c = ed_cmd(false, any, false, TpmAlgId::CFB, &iv, b"x");
                // header, handle, authorization size and the password session, then decrypt.
                c[10 + 4 + 4 + 9] = 2;
                c
            },
            TpmRc::VALUE.with_parameter(1),
        ),
        (
            "17-byte IV",
            {
                let mut p = params(&[&0u8, &TpmAlgId::CFB, &17u16]);
                p.extend_from_slice(&[0; 17]);
                p.extend_from_slice(&params(&[&Tpm2bMaxBuffer::new(b"x").unwrap()]));
                cmd(TpmCc::ENCRYPT_DECRYPT, any, true, &p)
            },
            TpmRc::SIZE.with_parameter(3),
        ),
        (
            "Sign with an AES key",
            sign_null(
                any,
                &sha256(b"x"),
                &TpmtSigScheme::Hmac(hash_scheme(TpmAlgId::SHA256)),
            ),
            TpmRc::KEY.with_handle(1),
        ),
        (
            "Unseal of an AES key",
            cmd(TpmCc::UNSEAL, any, true, &[]),
            TpmRc::TYPE.with_handle(1),
        ),
        (
            "RSA_Encrypt with an AES key",
            rsa_cmd(TpmCc::RSA_ENCRYPT, any, b"m", &TpmtRsaDecrypt::Null, b""),
            TpmRc::KEY.with_handle(1),
        ),
    ];
    for (what, c, want) in cases {
        t.same_error(what, &c, want);
    }

    // A key with a mode (AES-256-CFB): NULL or CFB is accepted, another mode is not.
    let key256 = [0xa5u8; 32];
    let cfb = t.load(
        Some(aes_sensitive(&key256)),
        aes_public(SIGN | DECRYPT, &key256, TpmAlgId::CFB),
    );
    for mode in [TpmAlgId::NULL, TpmAlgId::CFB] {
        let rsp = t.same(
            "key mode",
            &ed_cmd(false, cfb, false, mode, &iv, &data[..100]),
        );
        assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
    }
    t.same_error(
        "other mode",
        &ed_cmd(false, cfb, false, TpmAlgId::CBC, &iv, &[0; 16]),
        TpmRc::MODE.with_parameter(2),
    );
    t.same_error(
        "other mode (2)",
        &ed_cmd(true, cfb, false, TpmAlgId::OFB, &iv, &[0; 16]),
        TpmRc::MODE.with_parameter(3),
    );
}

#[test]
fn symmetric_key_attributes_match_swtpm() {
    let mut t = Pair::new(b"keys_vs_swtpm");
    let key128: Vec<u8> = (0..16).collect();
    let iv: Vec<u8> = (16..32).collect();
    // Encrypt-only and decrypt-only keys.
    let enc = t.load(
        Some(aes_sensitive(&key128)),
        aes_public(SIGN, &key128, TpmAlgId::CFB),
    );
    t.same_error(
        "decrypt with an encrypt-only key",
        &ed_cmd(false, enc, true, TpmAlgId::CFB, &iv, b"x"),
        TpmRc::ATTRIBUTES.with_handle(1),
    );
    let dec = t.load(
        Some(aes_sensitive(&key128)),
        aes_public(DECRYPT, &key128, TpmAlgId::CFB),
    );
    t.same_error(
        "encrypt with a decrypt-only key",
        &ed_cmd(true, dec, false, TpmAlgId::CFB, &iv, b"x"),
        TpmRc::ATTRIBUTES.with_handle(1),
    );
    let rsp = t.same(
        "decrypt with a decrypt-only key",
        &ed_cmd(true, dec, true, TpmAlgId::CFB, &iv, b"x"),
    );
    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
    let public_only = t.load(None, aes_public(SIGN | DECRYPT, &key128, TpmAlgId::CFB));
    t.same_error(
        "public-only AES key",
        &ed_cmd(false, public_only, false, TpmAlgId::CFB, &iv, b"x"),
        TpmRc::AUTH_UNAVAILABLE,
    );
}

#[test]
fn hmac_keys_and_sealed_data_match_swtpm() {
    let mut t = Pair::new(b"keys_vs_swtpm");
    let hmac_key = b"an HMAC key";
    let k = t.load(
        Some(keyedhash_sensitive(hmac_key)),
        keyedhash_public(
            SIGN,
            TpmtKeyedhashScheme::Hmac(hash_scheme(TpmAlgId::SHA256)),
            hmac_key,
        ),
    );
    let d = sha256(b"hmac me");
    let rsp = t.same("HMAC signature", &sign_null(k, &d, &TpmtSigScheme::Null));
    let sig =
        TpmtSignature::from_bytes(Response::parse(&rsp, TpmCc::SIGN).unwrap().parameters).unwrap();
    assert!(matches!(sig, TpmtSignature::Hmac(_)));
    let rsp = t.same("VerifySignature(HMAC)", &verify_cmd(k, &d, &sig));
    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
    let bad =
        TpmtSignature::Hmac(tpm2::structures::TpmtHa::new(TpmAlgId::SHA256, &[0; 32]).unwrap());
    let sha1 =
        TpmtSignature::Hmac(tpm2::structures::TpmtHa::new(TpmAlgId::SHA1, &[0; 20]).unwrap());
    let cases: Vec<(&str, Vec<u8>, TpmRc)> = vec![
        (
            "wrong HMAC",
            verify_cmd(k, &d, &bad),
            TpmRc::SIGNATURE.with_parameter(2),
        ),
        (
            "HMAC with another hash",
            verify_cmd(k, &d, &sha1),
            TpmRc::SIGNATURE.with_parameter(2),
        ),
        (
            "RSASSA with an HMAC key",
            sign_null(k, &d, &TpmtSigScheme::Rsassa(hash_scheme(TpmAlgId::SHA256))),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "HMAC-SHA1 with an HMAC-SHA256 key",
            sign_null(
                k,
                &d[..20],
                &TpmtSigScheme::Hmac(hash_scheme(TpmAlgId::SHA1)),
            ),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "Unseal of an HMAC key",
            cmd(TpmCc::UNSEAL, k, true, &[]),
            TpmRc::ATTRIBUTES.with_handle(1),
        ),
    ];
    for (what, c, want) in cases {
        t.same_error(what, &c, want);
    }
    let public_only = t.load(
        None,
        keyedhash_public(
            SIGN,
            TpmtKeyedhashScheme::Hmac(hash_scheme(TpmAlgId::SHA256)),
            hmac_key,
        ),
    );
    t.same_error(
        "VerifySignature, public HMAC key",
        &verify_cmd(public_only, &d, &sig),
        TpmRc::HANDLE.with_parameter(2),
    );

    let secret = b"the sealed secret";
    let sealed = t.load(
        Some(keyedhash_sensitive(secret)),
        keyedhash_public(USER, TpmtKeyedhashScheme::Null, secret),
    );
    let rsp = t.same("Unseal", &cmd(TpmCc::UNSEAL, sealed, true, &[]));
    let out = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
    assert_eq!(
        Tpm2bSensitiveData::from_bytes(out.parameters)
            .unwrap()
            .as_bytes(),
        secret
    );
    t.same_error(
        "Unseal with a parameter",
        &cmd(TpmCc::UNSEAL, sealed, true, &[0]),
        TpmRc::SIZE,
    );
    t.same_error(
        "Sign with sealed data",
        &sign_null(
            sealed,
            &d,
            &TpmtSigScheme::Hmac(hash_scheme(TpmAlgId::SHA256)),
        ),
        TpmRc::KEY.with_handle(1),
    );
    t.same_error(
        "VerifySignature with sealed data",
        &verify_cmd(sealed, &d, &sig),
        TpmRc::ATTRIBUTES.with_handle(1),
    );
}

/// A restricted signing key signs only digests the TPM hashed itself (part 3 §20.2): with the
/// hash-check ticket TPM2_Hash returned, and not with a NULL ticket, another TPM's ticket or
/// the NULL ticket TPM2_Hash gives for data starting with TPM_GENERATED_VALUE. The primary
/// keys differ between the two TPMs, so each verifies its own signature.
#[test]
fn restricted_signing_needs_a_hash_ticket() {
    let mut t = Pair::new(b"keys_vs_swtpm");
    let template = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(
            TpmaObject::FIXED_TPM
                | TpmaObject::FIXED_PARENT
                | TpmaObject::SENSITIVE_DATA_ORIGIN
                | TpmaObject::RESTRICTED
                | SIGN,
        ),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::Null,
                scheme: TpmtEccScheme::Ecdsa(hash_scheme(TpmAlgId::SHA256)),
                curve_id: TpmEccCurve::NIST_P256,
                kdf: TpmtKdfScheme::Null,
            },
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::empty(),
                y: Tpm2bEccParameter::empty(),
            },
        },
    };
    let mut p = vec![0, 4, 0, 0, 0, 0]; // TPM2B_SENSITIVE_CREATE: empty userAuth and data
    p.extend_from_slice(&params(&[
        &Tpm2bPublic::from(template),
        &Tpm2bData::empty(),
        &0u32, // TPML_PCR_SELECTION: no PCRs
    ]));
    let create = build_command(TpmCc::CREATE_PRIMARY, &[TpmHandle::OWNER], &[pw()], &p).unwrap();
    let (a, b) = t.both(&create);
    assert_eq!(
        (rc_of(&a), rc_of(&b)),
        (TpmRc::SUCCESS, TpmRc::SUCCESS),
        "CreatePrimary"
    );
    let key = Response::parse(&a, TpmCc::CREATE_PRIMARY)
        .unwrap()
        .handle
        .unwrap();
    assert_eq!(
        Response::parse(&b, TpmCc::CREATE_PRIMARY).unwrap().handle,
        Some(key)
    );

    let hash = |data: &[u8]| {
        let p = params(&[
            &Tpm2bMaxBuffer::new(data).unwrap(),
            &TpmAlgId::SHA256,
            &TpmHandle::OWNER,
        ]);
        build_command(TpmCc::HASH, &[], &[], &p).unwrap()
    };
    let ticket_of = |rsp: &[u8]| {
        let r = Response::parse(rsp, TpmCc::HASH).unwrap();
        let mut rd = tpm2::Reader::new(r.parameters);
        let digest = Tpm2bDigest::unmarshal(&mut rd).unwrap();
        (digest, TpmtTkHashcheck::unmarshal(&mut rd).unwrap())
    };
    let (ha, hb) = t.both(&hash(b"data to sign"));
    let (digest_a, ticket_a) = ticket_of(&ha);
    let (digest_b, ticket_b) = ticket_of(&hb);
    assert_eq!(digest_a, digest_b);
    assert_eq!(ticket_a.hierarchy, TpmHandle::OWNER);
    assert_eq!(ticket_a.digest.len(), ticket_b.digest.len());
    let d = digest_a.as_bytes();
    let null = TpmtSigScheme::Null;
    // Each TPM signs with its own ticket, and verifies the result.
    for (ticket, mine) in [(&ticket_a, true), (&ticket_b, false)] {
        let c = sign_cmd(key, d, &null, ticket);
        let rsp = if mine { t.ours(&c) } else { t.swtpm(&c) };
        assert_eq!(
            rc_of(&rsp),
            TpmRc::SUCCESS,
            "Sign with a ticket (ours: {mine})"
        );
        let sig = TpmtSignature::from_bytes(Response::parse(&rsp, TpmCc::SIGN).unwrap().parameters)
            .unwrap();
        let v = verify_cmd(key, d, &sig);
        let rsp = if mine { t.ours(&v) } else { t.swtpm(&v) };
        assert_eq!(
            rc_of(&rsp),
            TpmRc::SUCCESS,
            "VerifySignature (ours: {mine})"
        );
        // The verification ticket of a key in the owner hierarchy is not the NULL ticket.
        let vt = TpmtTkVerified::from_bytes(
            Response::parse(&rsp, TpmCc::VERIFY_SIGNATURE)
                .unwrap()
                .parameters,
        )
        .unwrap();
        assert_eq!(vt.hierarchy, TpmHandle::OWNER);
        assert_eq!(vt.digest.len(), 64);
    }
    // Without a ticket, or with the other TPM's ticket, neither signs.
    let ticket_error = TpmRc::TICKET.with_parameter(3);
    t.same_error(
        "restricted, NULL ticket",
        &sign_null(key, d, &null),
        ticket_error,
    );
    let ours = t.ours(&sign_cmd(key, d, &null, &ticket_b));
    assert_eq!(rc_of(&ours), ticket_error, "ours with swtpm's ticket");
    let theirs = t.swtpm(&sign_cmd(key, d, &null, &ticket_a));
    assert_eq!(rc_of(&theirs), ticket_error, "swtpm with our ticket");
    // Data that starts with TPM_GENERATED_VALUE gets the NULL ticket, which does not sign.
    let (ha, hb) = t.both(&hash(b"\xffTCG forged attestation"));
    let (digest, ticket) = ticket_of(&ha);
    assert_eq!(ticket_of(&hb), (digest.clone(), ticket.clone()));
    assert_eq!(ticket.digest.len(), 0);
    t.same_error(
        "restricted, TPM_GENERATED_VALUE data",
        &sign_cmd(key, digest.as_bytes(), &null, &ticket),
        ticket_error,
    );
}

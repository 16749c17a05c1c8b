//! Secret sharing with a TPM key (TCG TPM 2.0 Library part 1 §24 "Secret sharing", annex
//! B.10.3 and C.6.1): a seed is passed to the holder of an asymmetric decrypt key, under a
//! label naming its use ("SECRET" for session salts, "IDENTITY" for credentials,
//! "DUPLICATE" for duplication blobs; the label's terminating zero is part of it).
//!
//! - RSA: the seed is a random digest of the key's OAEP hash (the scheme's hash, or nameAlg when
//!   the scheme is TPM_ALG_NULL), encrypted with RSAES-OAEP under the label.
//! - ECC: an ephemeral key `(de, Qe)` is made; `Z = de · Qs` (x-coordinate) and
//!   `seed = KDFe(nameAlg, Z, label, Qe.x, Qs.x, digest bits)`; the encrypted secret is Qe
//!   as a TPMS_ECC_POINT.
//!
//! The seed then protects data for the key's holder (part 1 §24.4 credentials, §23.3.2.2 the
//! outer wrapper of duplication): `symKey = KDFa(nameAlg, seed, "STORAGE", Name, "", AES bits
//! of the key's symmetric definition)`, `hmacKey = KDFa(nameAlg, seed, "INTEGRITY", "", "",
//! digest bits)`; the data is encrypted with AES-CFB and a zero IV and prefixed by
//! `TPM2B_DIGEST(HMAC(hmacKey, encrypted || Name))` ([`seal_with_seed`], [`open_with_seed`]).

use alloc::vec::Vec;

use tpm2::rc::TpmRc;
use tpm2::structures::{
    PublicDetail, Tpm2bDigest, TpmsEccPoint, TpmtPublic, TpmtRsaScheme, TpmtSymDefObject,
};
use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use super::Engine;
use super::auth::ct_eq;
use super::commands::TpmRng;
use super::crypto::ecc::{Curve, EccPoint, EccPrivate};
use super::crypto::hash::{HashAlg, hmac};
use super::crypto::kdf::{kdfa, kdfe};
use super::crypto::rsa::RsaPublic;
use super::crypto::sym::{cfb_decrypt, cfb_encrypt};
use super::object::{self, Object};
use super::rcmap::wire_rc;
use super::state::Secret;

/// The OAEP hash of an RSA key (TPM_RC_VALUE for a scheme other than OAEP or NULL).
fn oaep_hash(public: &TpmtPublic) -> Result<HashAlg, TpmRc> {
    let PublicDetail::Rsa { parameters, .. } = &public.detail else {
        return Err(TpmRc::VALUE);
    };
    let hash = match &parameters.scheme {
        TpmtRsaScheme::Null => public.name_alg,
        TpmtRsaScheme::Oaep(s) => s.hash_alg,
        _ => return Err(TpmRc::VALUE),
    };
    HashAlg::from_alg(hash).ok_or(TpmRc::VALUE)
}

fn kdfe_seed(
    public: &TpmtPublic,
    z: &[u8],
    label: &[u8],
    qe_x: &[u8],
    qs_x: &[u8],
) -> Result<Secret, TpmRc> {
    let name_alg = HashAlg::from_alg(public.name_alg).ok_or(TpmRc::VALUE)?;
    let bits = u32::try_from(name_alg.digest_size() * 8).unwrap_or(512);
    Ok(kdfe(name_alg, z, label, qe_x, qs_x, bits))
}

/// Recovers the seed `encrypted` carries for `obj` (a loaded decrypt key with its private
/// part). A failure is TPM_RC_ECC_POINT for an ephemeral point off the curve, TPM_RC_VALUE
/// otherwise; the caller adds the parameter number.
pub(crate) fn decrypt(obj: &Object, label: &[u8], encrypted: &[u8]) -> Result<Secret, TpmRc> {
    match &obj.public.detail {
        PublicDetail::Rsa { .. } => {
            let hash = oaep_hash(&obj.public)?;
            let key = object::rsa_private(obj).map_err(|_| TpmRc::VALUE)?;
            let seed = key
                .decrypt_oaep(hash, label, encrypted)
                .map_err(|_| TpmRc::VALUE)?;
            if seed.len() > hash.digest_size() {
                return Err(TpmRc::VALUE);
            }
            Ok(seed)
        }
        PublicDetail::Ecc { unique, .. } => {
            let mut r = Reader::new(encrypted);
            let qe = TpmsEccPoint::unmarshal(&mut r).map_err(|_| TpmRc::VALUE)?;
            let d = object::ecc_private(obj).map_err(|_| TpmRc::VALUE)?;
            let peer = EccPoint {
                x: qe.x.as_bytes().to_vec(),
                y: qe.y.as_bytes().to_vec(),
            };
            // A point off the curve is TPM_RC_ECC_POINT (libtpms' CryptEccPointMultiply).
            let shared = d.ecdh(&peer).map_err(|_| TpmRc::ECC_POINT)?;
            let z = Zeroizing::new(shared.x);
            kdfe_seed(&obj.public, &z, label, qe.x.as_bytes(), unique.x.as_bytes())
        }
        _ => Err(TpmRc::VALUE),
    }
}

/// Makes a fresh seed for the holder of the key whose public area is `public` and returns it
/// with its encrypted form (the TPM2B_ENCRYPTED_SECRET contents). TPM_RC_KEY for an object
/// that is no asymmetric key; TPM_RC_VALUE if the RSA scheme cannot carry it.
pub(crate) fn encrypt(
    e: &mut Engine,
    public: &TpmtPublic,
    label: &[u8],
) -> Result<(Secret, Vec<u8>), TpmRc> {
    match &public.detail {
        PublicDetail::Rsa { parameters, unique } => {
            let hash = oaep_hash(public)?;
            let key =
                RsaPublic::new(unique.as_bytes(), parameters.exponent).map_err(|_| TpmRc::KEY)?;
            let seed = Zeroizing::new(e.random_vec(hash.digest_size()));
            let encrypted = key
                .encrypt_oaep(hash, label, &seed, &mut TpmRng(e))
                .map_err(|_| TpmRc::VALUE)?;
            Ok((seed, encrypted))
        }
        PublicDetail::Ecc { parameters, unique } => {
            let curve = Curve::from_tpm(parameters.curve_id).ok_or(TpmRc::CURVE)?;
            let qs = EccPoint {
                x: unique.x.as_bytes().to_vec(),
                y: unique.y.as_bytes().to_vec(),
            };
            let ephemeral =
                EccPrivate::generate(curve, &mut TpmRng(e)).map_err(|_| TpmRc::NO_RESULT)?;
            let shared = ephemeral.ecdh(&qs).map_err(|_| TpmRc::ECC_POINT)?;
            let z = Zeroizing::new(shared.x);
            let qe = ephemeral.public();
            let seed = kdfe_seed(public, &z, label, &qe.x, &qs.x)?;
            let mut encrypted = Vec::new();
            object::ecc_point(&qe)?.marshal(&mut encrypted);
            Ok((seed, encrypted))
        }
        _ => Err(TpmRc::KEY),
    }
}

/// The AES key size of a protector's symmetric definition (TPM_RC_SYMMETRIC without one).
pub(crate) fn protector_key_bits(public: &TpmtPublic) -> Result<u32, TpmRc> {
    let sym = match &public.detail {
        PublicDetail::Rsa { parameters, .. } => parameters.symmetric,
        PublicDetail::Ecc { parameters, .. } => parameters.symmetric,
        PublicDetail::SymCipher { parameters, .. } => parameters.sym,
        PublicDetail::KeyedHash { .. } => TpmtSymDefObject::Null,
    };
    match sym {
        TpmtSymDefObject::Aes { key_bits, .. } => Ok(u32::from(key_bits)),
        _ => Err(TpmRc::SYMMETRIC),
    }
}

/// The zero IV of the seed-keyed CFB encryption.
const ZERO_IV: [u8; 16] = [0; 16];

/// The hash, symmetric key and HMAC key `seed` gives for data named `name` (module docs).
fn seed_keys(
    protector: &TpmtPublic,
    seed: &[u8],
    name: &[u8],
) -> Result<(HashAlg, Secret, Secret), TpmRc> {
    let hash = HashAlg::from_alg(protector.name_alg).ok_or(TpmRc::HASH)?;
    let sym_key = kdfa(
        hash,
        seed,
        b"STORAGE",
        name,
        &[],
        protector_key_bits(protector)?,
    );
    let digest_bits = u32::try_from(hash.digest_size() * 8).unwrap_or(512);
    let hmac_key = kdfa(hash, seed, b"INTEGRITY", &[], &[], digest_bits);
    Ok((hash, sym_key, hmac_key))
}

/// Encrypts `data` (the object or credential named `name`) under `seed` for `protector` and
/// prefixes the integrity HMAC.
pub(crate) fn seal_with_seed(
    protector: &TpmtPublic,
    seed: &[u8],
    name: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, TpmRc> {
    let (hash, sym_key, hmac_key) = seed_keys(protector, seed, name)?;
    let mut enc = data.to_vec();
    cfb_encrypt(&sym_key, &ZERO_IV, &mut enc).map_err(|_| TpmRc::SYMMETRIC)?;
    let integrity = hmac(hash, &hmac_key, &[&enc, name]);
    let mut out = Vec::with_capacity(2 + integrity.len() + enc.len());
    Tpm2bDigest::new(&integrity)
        .map_err(|_| TpmRc::SIZE)?
        .marshal(&mut out);
    out.extend_from_slice(&enc);
    Ok(out)
}

/// Checks and decrypts what [`seal_with_seed`] made. Codes without a parameter number: the
/// unmarshalling code for a malformed integrity digest, TPM_RC_INTEGRITY for a wrong HMAC.
pub(crate) fn open_with_seed(
    protector: &TpmtPublic,
    seed: &[u8],
    name: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, TpmRc> {
    let (hash, sym_key, hmac_key) = seed_keys(protector, seed, name)?;
    let mut r = Reader::new(blob);
    let integrity = Tpm2bDigest::unmarshal(&mut r).map_err(|err| wire_rc(&err))?;
    let enc = r.take_rest();
    if !ct_eq(integrity.as_bytes(), &hmac(hash, &hmac_key, &[enc, name])) {
        return Err(TpmRc::INTEGRITY);
    }
    let mut plain = Zeroizing::new(enc.to_vec());
    cfb_decrypt(&sym_key, &ZERO_IV, &mut plain).map_err(|_| TpmRc::SYMMETRIC)?;
    Ok(plain)
}

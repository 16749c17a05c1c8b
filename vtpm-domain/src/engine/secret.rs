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

use alloc::vec::Vec;

use tpm2::rc::TpmRc;
use tpm2::structures::{PublicDetail, TpmsEccPoint, TpmtPublic, TpmtRsaScheme};
use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use super::Engine;
use super::commands::TpmRng;
use super::crypto::ecc::{Curve, EccPoint, EccPrivate};
use super::crypto::hash::HashAlg;
use super::crypto::kdf::kdfe;
use super::crypto::rsa::RsaPublic;
use super::object::{self, Object};
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

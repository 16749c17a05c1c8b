//! The asymmetric primitives of part 3 §14: TPM2_RSA_Encrypt (§14.2), TPM2_RSA_Decrypt
//! (§14.3), TPM2_ECDH_KeyGen (§14.4) and TPM2_ECDH_ZGen (§14.5).
//!
//! RSA padding is chosen as part 1 §11.2.4.2 describes (the reference implementation's
//! `CryptRsaSelectScheme`): the key's scheme when the caller gives TPM_ALG_NULL, the caller's
//! when the key has none, and the caller's when both name the same scheme and hash. A label,
//! when present, must end in a zero octet and is used with that octet (part 1 §11.4.7).

use tpm2::alg::TpmAlgId;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    PublicDetail, Tpm2bData, Tpm2bEccParameter, Tpm2bEccPoint, Tpm2bPublicKeyRsa, TpmaObject,
    TpmsEccPoint, TpmtEccScheme, TpmtPublic, TpmtRsaDecrypt, TpmtRsaScheme,
};

use super::{TpmRng, implemented_hash, loaded, padded};
use crate::engine::Engine;
use crate::engine::crypto::CryptoError;
use crate::engine::crypto::ecc::{EccPoint, EccPrivate};
use crate::engine::crypto::hash::HashAlg;
use crate::engine::dispatch::Ctx;
use crate::engine::object::{ecc_curve, ecc_private, ecc_public, rsa_private, rsa_public};

/// The padding an RSA operation uses after scheme selection.
enum Padding {
    /// TPM_ALG_NULL: raw RSA.
    Raw,
    /// TPM_ALG_RSAES: PKCS#1 v1.5.
    Pkcs1,
    /// TPM_ALG_OAEP with its hash.
    Oaep(HashAlg),
    /// The key's default scheme is a signing scheme: no encryption padding
    /// (TPM_RC_SCHEME when used).
    NotEncryption,
}

/// `CryptRsaSelectScheme`: `None` when the key's scheme and the requested one conflict.
fn select_rsa_scheme(public: &TpmtPublic, requested: &TpmtRsaDecrypt) -> Option<Padding> {
    let PublicDetail::Rsa { parameters, .. } = &public.detail else {
        return None;
    };
    let from_request = |r: &TpmtRsaDecrypt| match r {
        TpmtRsaDecrypt::Null => Some(Padding::Raw),
        TpmtRsaDecrypt::Rsaes(_) => Some(Padding::Pkcs1),
        TpmtRsaDecrypt::Oaep(d) => HashAlg::from_alg(d.hash_alg).map(Padding::Oaep),
    };
    match (&parameters.scheme, requested) {
        (TpmtRsaScheme::Null, r) => from_request(r),
        (TpmtRsaScheme::Rsaes(_), TpmtRsaDecrypt::Null | TpmtRsaDecrypt::Rsaes(_)) => {
            Some(Padding::Pkcs1)
        }
        (TpmtRsaScheme::Oaep(k), TpmtRsaDecrypt::Null) => {
            HashAlg::from_alg(k.hash_alg).map(Padding::Oaep)
        }
        (TpmtRsaScheme::Oaep(k), TpmtRsaDecrypt::Oaep(r)) if k.hash_alg == r.hash_alg => {
            from_request(requested)
        }
        (TpmtRsaScheme::Rsassa(_) | TpmtRsaScheme::Rsapss(_), TpmtRsaDecrypt::Null) => {
            Some(Padding::NotEncryption)
        }
        _ => None,
    }
}

/// part 3 §14.2/§14.3: a label is empty or a string ending in a zero octet.
fn label_ok(label: &Tpm2bData) -> bool {
    label.as_bytes().last().is_none_or(|&b| b == 0)
}

/// Reads the TPMT_RSA_DECRYPT+ parameter `n`, rejecting OAEP with a hash this TPM lacks.
fn read_scheme(ctx: &mut Ctx, n: u8) -> Result<TpmtRsaDecrypt, TpmRc> {
    let scheme = ctx.param_with(TpmtRsaDecrypt::unmarshal_allow_null)?;
    if let TpmtRsaDecrypt::Oaep(d) = &scheme {
        implemented_hash(d.hash_alg, n)?;
    }
    Ok(scheme)
}

/// The response code of a failed RSA encryption or decryption (part 3 §14.2, §14.3:
/// TPM_RC_VALUE when the message does not fit or the ciphertext does not decrypt).
fn rsa_error(err: CryptoError) -> TpmRc {
    match err {
        CryptoError::BadLength => TpmRc::SIZE,
        CryptoError::UnsupportedAlgorithm => TpmRc::SCHEME,
        _ => TpmRc::VALUE,
    }
}

/// TPM2_RSA_Encrypt (part 3 §14.2): RSA encryption with the public part of a loaded key.
///
/// Parameters: message (1), inScheme (2, TPMT_RSA_DECRYPT+), label (3).
pub(super) fn rsa_encrypt(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let message: Tpm2bPublicKeyRsa = ctx.param()?;
    let in_scheme = read_scheme(ctx, 2)?;
    let label: Tpm2bData = ctx.param()?;
    ctx.finish()?;
    let obj = loaded(e, ctx.handles[0])?;
    if obj.public.object_type() != TpmAlgId::RSA {
        return Err(TpmRc::KEY.with_handle(1));
    }
    if !obj.public.object_attributes.has(TpmaObject::DECRYPT) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    if !label_ok(&label) {
        return Err(TpmRc::VALUE.with_parameter(3));
    }
    let padding =
        select_rsa_scheme(&obj.public, &in_scheme).ok_or(TpmRc::SCHEME.with_parameter(2))?;
    let key = rsa_public(obj)?;
    let msg = message.as_bytes();
    let out = match padding {
        Padding::Raw => key.encrypt_raw(msg),
        Padding::Pkcs1 => key.encrypt_pkcs1v15(msg, &mut TpmRng(e)),
        Padding::Oaep(hash) => key.encrypt_oaep(hash, label.as_bytes(), msg, &mut TpmRng(e)),
        Padding::NotEncryption => return Err(TpmRc::SCHEME),
    }
    .map_err(rsa_error)?;
    ctx.put(&Tpm2bPublicKeyRsa::new(&out).map_err(|_| TpmRc::VALUE)?);
    Ok(())
}

/// TPM2_RSA_Decrypt (part 3 §14.3): RSA decryption with an unrestricted decryption key.
///
/// Parameters: cipherText (1), inScheme (2, TPMT_RSA_DECRYPT+), label (3).
pub(super) fn rsa_decrypt(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let cipher_text: Tpm2bPublicKeyRsa = ctx.param()?;
    let in_scheme = read_scheme(ctx, 2)?;
    let label: Tpm2bData = ctx.param()?;
    ctx.finish()?;
    let obj = loaded(e, ctx.handles[0])?;
    if obj.public_only {
        return Err(TpmRc::AUTH_UNAVAILABLE);
    }
    if obj.public.object_type() != TpmAlgId::RSA {
        return Err(TpmRc::KEY.with_handle(1));
    }
    let attributes = obj.public.object_attributes;
    if attributes.has(TpmaObject::RESTRICTED) || !attributes.has(TpmaObject::DECRYPT) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    if !label_ok(&label) {
        return Err(TpmRc::VALUE.with_parameter(3));
    }
    let padding =
        select_rsa_scheme(&obj.public, &in_scheme).ok_or(TpmRc::SCHEME.with_parameter(2))?;
    let key = rsa_private(obj)?;
    if cipher_text.len() != key.size() {
        return Err(TpmRc::SIZE);
    }
    let c = cipher_text.as_bytes();
    let message = match padding {
        Padding::Raw => key.decrypt_raw(c),
        Padding::Pkcs1 => key.decrypt_pkcs1v15(c),
        Padding::Oaep(hash) => key.decrypt_oaep(hash, label.as_bytes(), c),
        Padding::NotEncryption => return Err(TpmRc::SCHEME),
    }
    .map_err(rsa_error)?;
    ctx.put(&Tpm2bPublicKeyRsa::new(&message).map_err(|_| TpmRc::VALUE)?);
    Ok(())
}

/// A TPM2B_ECC_POINT with both coordinates padded to `size` bytes.
fn ecc_point(p: &EccPoint, size: usize) -> Result<Tpm2bEccPoint, TpmRc> {
    let coord = |v: &[u8]| Tpm2bEccParameter::new(&padded(v, size)).map_err(|_| TpmRc::VALUE);
    Ok(Tpm2bEccPoint {
        point: TpmsEccPoint {
            x: coord(&p.x)?,
            y: coord(&p.y)?,
        },
    })
}

/// TPM2_ECDH_KeyGen (part 3 §14.4): an ephemeral key pair on the curve of a loaded ECC key
/// (only its public part is needed) and the product of the ephemeral scalar with the key's
/// point. Outputs zPoint then pubPoint.
pub(super) fn ecdh_key_gen(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let obj = loaded(e, ctx.handles[0])?;
    if obj.public.object_type() != TpmAlgId::ECC {
        return Err(TpmRc::KEY.with_handle(1));
    }
    let curve = ecc_curve(obj).map_err(|_| TpmRc::KEY.with_handle(1))?;
    let point = ecc_public(obj).map_err(|_| TpmRc::KEY.with_handle(1))?;
    let ephemeral = EccPrivate::generate(curve, &mut TpmRng(e)).map_err(|_| TpmRc::NO_RESULT)?;
    let z = ephemeral
        .ecdh(&point)
        .map_err(|_| TpmRc::KEY.with_handle(1))?;
    let size = curve.key_bytes();
    ctx.put(&ecc_point(&z, size)?);
    ctx.put(&ecc_point(&ephemeral.public(), size)?);
    Ok(())
}

/// TPM2_ECDH_ZGen (part 3 §14.5): the product of a loaded unrestricted decryption key's scalar
/// with a point given by the caller.
///
/// Parameters: inPoint (1).
pub(super) fn ecdh_zgen(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let in_point: Tpm2bEccPoint = ctx.param()?;
    ctx.finish()?;
    let obj = loaded(e, ctx.handles[0])?;
    if obj.public_only {
        return Err(TpmRc::AUTH_UNAVAILABLE);
    }
    let PublicDetail::Ecc { parameters, .. } = &obj.public.detail else {
        return Err(TpmRc::KEY.with_handle(1));
    };
    let attributes = obj.public.object_attributes;
    if attributes.has(TpmaObject::RESTRICTED) || !attributes.has(TpmaObject::DECRYPT) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    if !matches!(
        parameters.scheme,
        TpmtEccScheme::Ecdh(_) | TpmtEccScheme::Null
    ) {
        return Err(TpmRc::SCHEME.with_handle(1));
    }
    let key = ecc_private(obj)?;
    let peer = EccPoint {
        x: in_point.point.x.as_bytes().to_vec(),
        y: in_point.point.y.as_bytes().to_vec(),
    };
    let z = key
        .ecdh(&peer)
        .map_err(|_| TpmRc::ECC_POINT.with_parameter(1))?;
    ctx.put(&ecc_point(&z, key.curve().key_bytes())?);
    Ok(())
}

//! TPM2_VerifySignature (part 3 §20.1) and TPM2_Sign (part 3 §20.2), with the signing-scheme
//! selection rules of part 1 §11.2.4–§11.2.5 (as the reference implementation's
//! `CryptSelectSignScheme` applies them) and the signing primitive shared with the attestation
//! commands.

use tpm2::alg::TpmAlgId;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSt;
use tpm2::structures::{
    PublicDetail, Tpm2bDigest, Tpm2bEccParameter, Tpm2bPublicKeyRsa, TpmaObject, TpmsSignatureEcc,
    TpmsSignatureRsa, TpmtEccScheme, TpmtHa, TpmtKeyedhashScheme, TpmtPublic, TpmtRsaScheme,
    TpmtSigScheme, TpmtSignature, TpmtTkHashcheck, TpmtTkVerified, check_hierarchy_allow_null,
};
use tpm2::{Error, Reader, Unmarshal};

use super::{TpmRng, implemented_hash, loaded, padded, verified_ticket, verify_hashcheck_ticket};
use crate::engine::Engine;
use crate::engine::auth::ct_eq;
use crate::engine::commands::ecc_commit::sign_ecdaa;
use crate::engine::crypto::CryptoError;
use crate::engine::crypto::ecc::verify_ecdsa;
use crate::engine::crypto::hash::{HashAlg, hmac};
use crate::engine::dispatch::Ctx;
use crate::engine::object::{ecc_curve, ecc_private, ecc_public, rsa_private, rsa_public};

/// The hash of a signing scheme (`None` for TPM_ALG_NULL).
pub(crate) fn scheme_hash(s: &TpmtSigScheme) -> Option<TpmAlgId> {
    match s {
        TpmtSigScheme::Hmac(d)
        | TpmtSigScheme::Rsassa(d)
        | TpmtSigScheme::Rsapss(d)
        | TpmtSigScheme::Ecdsa(d)
        | TpmtSigScheme::Sm2(d)
        | TpmtSigScheme::Ecschnorr(d) => Some(d.hash_alg),
        TpmtSigScheme::Ecdaa(d) => Some(d.hash_alg),
        TpmtSigScheme::Null => None,
    }
}

/// The default scheme of a key as a signing scheme: `Ok(None)` when it is TPM_ALG_NULL,
/// `Err(())` when the key cannot sign with any scheme (a symmetric cipher) or its scheme is
/// not a signing scheme.
fn key_sign_scheme(public: &TpmtPublic) -> Result<Option<TpmtSigScheme>, ()> {
    match &public.detail {
        PublicDetail::Rsa { parameters, .. } => match parameters.scheme {
            TpmtRsaScheme::Null => Ok(None),
            TpmtRsaScheme::Rsassa(d) => Ok(Some(TpmtSigScheme::Rsassa(d))),
            TpmtRsaScheme::Rsapss(d) => Ok(Some(TpmtSigScheme::Rsapss(d))),
            TpmtRsaScheme::Rsaes(_) | TpmtRsaScheme::Oaep(_) => Err(()),
        },
        PublicDetail::Ecc { parameters, .. } => match parameters.scheme {
            TpmtEccScheme::Null => Ok(None),
            TpmtEccScheme::Ecdsa(d) => Ok(Some(TpmtSigScheme::Ecdsa(d))),
            TpmtEccScheme::Ecdaa(d) => Ok(Some(TpmtSigScheme::Ecdaa(d))),
            TpmtEccScheme::Sm2(d) => Ok(Some(TpmtSigScheme::Sm2(d))),
            TpmtEccScheme::Ecschnorr(d) => Ok(Some(TpmtSigScheme::Ecschnorr(d))),
            TpmtEccScheme::Ecdh(_) | TpmtEccScheme::Ecmqv(_) => Err(()),
        },
        PublicDetail::KeyedHash { parameters, .. } => match parameters.scheme {
            TpmtKeyedhashScheme::Null => Ok(None),
            TpmtKeyedhashScheme::Hmac(d) => Ok(Some(TpmtSigScheme::Hmac(d))),
            TpmtKeyedhashScheme::Xor(_) => Err(()),
        },
        PublicDetail::SymCipher { .. } => Err(()),
    }
}

/// Whether a signing scheme fits a key type: RSASSA/RSAPSS for RSA, ECDSA (and the other ECC
/// signing schemes) for ECC, HMAC for a keyed-hash key.
fn scheme_fits(object_type: TpmAlgId, scheme: &TpmtSigScheme) -> bool {
    match object_type {
        TpmAlgId::RSA => matches!(scheme, TpmtSigScheme::Rsassa(_) | TpmtSigScheme::Rsapss(_)),
        TpmAlgId::ECC => matches!(
            scheme,
            TpmtSigScheme::Ecdsa(_)
                | TpmtSigScheme::Ecdaa(_)
                | TpmtSigScheme::Sm2(_)
                | TpmtSigScheme::Ecschnorr(_)
        ),
        TpmAlgId::KEYEDHASH => matches!(scheme, TpmtSigScheme::Hmac(_)),
        _ => false,
    }
}

/// Chooses the scheme a key signs with (part 1 §11.2.4, `CryptSelectSignScheme`): the key's
/// default scheme if `requested` is TPM_ALG_NULL (unless it needs caller data, as ECDAA does),
/// `requested` if the key has none, and `requested` if both are set and name the same scheme
/// and hash. The result must also fit the key type (an RSA key does not sign with ECDSA), as
/// libtpms checks since the fix of CVE-2025-49133. `None` (the caller's TPM_RC_SCHEME)
/// otherwise, and for a symmetric-cipher key.
pub(crate) fn select_sign_scheme(
    public: &TpmtPublic,
    requested: TpmtSigScheme,
) -> Option<TpmtSigScheme> {
    let key = key_sign_scheme(public).ok()?;
    let chosen = match (key, requested) {
        (None | Some(TpmtSigScheme::Ecdaa(_)), TpmtSigScheme::Null) => None,
        (None, requested) => Some(requested),
        (Some(key), TpmtSigScheme::Null) => Some(key),
        (Some(key), requested) => (key.algorithm() == requested.algorithm()
            && scheme_hash(&key) == scheme_hash(&requested))
        .then_some(requested),
    }?;
    scheme_fits(public.object_type(), &chosen).then_some(chosen)
}

/// Signs `digest` with the loaded key `h` in `scheme` (already selected), as TPM2_Sign and the
/// attestation commands do (`CryptSign`). A TPM_ALG_NULL scheme gives the NULL signature; an
/// ECDAA signature consumes the commitment its `count` names (`ecc_commit::sign_ecdaa`).
/// Errors carry no handle or parameter number: TPM_RC_SCHEME when the scheme does not fit the
/// key type or is not implemented, TPM_RC_VALUE when the digest does not fit the key or the
/// ECDAA count names no outstanding commitment.
pub(crate) fn sign_digest(
    e: &mut Engine,
    h: TpmHandle,
    scheme: &TpmtSigScheme,
    digest: &[u8],
) -> Result<TpmtSignature, TpmRc> {
    let value_error = |err: CryptoError| match err {
        CryptoError::UnsupportedAlgorithm => TpmRc::SCHEME,
        _ => TpmRc::VALUE,
    };
    let obj = loaded(e, h)?;
    match (&obj.public.detail, scheme) {
        (_, TpmtSigScheme::Null) => Ok(TpmtSignature::Null),
        (PublicDetail::Rsa { .. }, TpmtSigScheme::Rsassa(details)) => {
            let hash = HashAlg::from_alg(details.hash_alg).ok_or(TpmRc::SCHEME)?;
            let key = rsa_private(obj)?;
            let sig = key.sign_pkcs1v15(hash, digest).map_err(value_error)?;
            Ok(TpmtSignature::Rsassa(TpmsSignatureRsa {
                hash: details.hash_alg,
                sig: Tpm2bPublicKeyRsa::new(&sig).map_err(|_| TpmRc::VALUE)?,
            }))
        }
        (PublicDetail::Rsa { .. }, TpmtSigScheme::Rsapss(details)) => {
            let hash = HashAlg::from_alg(details.hash_alg).ok_or(TpmRc::SCHEME)?;
            let key = rsa_private(obj)?;
            let sig = key
                .sign_pss(hash, digest, &mut TpmRng(e))
                .map_err(value_error)?;
            Ok(TpmtSignature::Rsapss(TpmsSignatureRsa {
                hash: details.hash_alg,
                sig: Tpm2bPublicKeyRsa::new(&sig).map_err(|_| TpmRc::VALUE)?,
            }))
        }
        (PublicDetail::Ecc { .. }, TpmtSigScheme::Ecdsa(details)) => {
            let key = ecc_private(obj)?;
            let size = key.curve().key_bytes();
            let (sig_r, sig_s) = key
                .sign_ecdsa(digest, &mut TpmRng(e))
                .map_err(value_error)?;
            let param = |v: &[u8]| Tpm2bEccParameter::new(&padded(v, size));
            Ok(TpmtSignature::Ecdsa(TpmsSignatureEcc {
                hash: details.hash_alg,
                signature_r: param(&sig_r).map_err(|_| TpmRc::VALUE)?,
                signature_s: param(&sig_s).map_err(|_| TpmRc::VALUE)?,
            }))
        }
        (PublicDetail::Ecc { .. }, TpmtSigScheme::Ecdaa(details)) => {
            sign_ecdaa(e, h, details.hash_alg, details.count, digest)
        }
        (PublicDetail::KeyedHash { .. }, TpmtSigScheme::Hmac(details)) => {
            let hash = HashAlg::from_alg(details.hash_alg).ok_or(TpmRc::SCHEME)?;
            let mac = hmac(hash, &obj.sensitive.private, &[digest]);
            Ok(TpmtSignature::Hmac(
                TpmtHa::new(details.hash_alg, &mac).map_err(|_| TpmRc::SCHEME)?,
            ))
        }
        _ => Err(TpmRc::SCHEME),
    }
}

/// Reads a TPMT_TK_HASHCHECK. A wrong structure tag is TPM_RC_TAG (as `TPMT_TK_HASHCHECK`'s
/// unmarshalling in part 4 returns), a bad hierarchy TPM_RC_VALUE.
fn read_hashcheck(r: &mut Reader<'_>) -> Result<TpmtTkHashcheck, Error> {
    let tag = r.u16("TPM_ST tag")?;
    if tag != TpmSt::HASHCHECK.0 {
        return Err(Error::BadValue {
            what: "TPM_ST tag",
            value: u32::from(tag),
        });
    }
    Ok(TpmtTkHashcheck {
        hierarchy: check_hierarchy_allow_null(TpmHandle::unmarshal(r)?)?,
        digest: Tpm2bDigest::unmarshal(r)?,
    })
}

/// Rejects the schemes this TPM does not implement (SM2, EC-Schnorr) and hashes it does not
/// implement, as the unmarshalling of the parameter would on a TPM without them. ECDAA is
/// refused too: the attestation commands, which use this check, do not sign with it yet
/// (TPM2_Sign uses [`check_sign_implemented`]).
pub(crate) fn check_implemented(scheme: &TpmtSigScheme, n: u8) -> Result<(), TpmRc> {
    match scheme {
        TpmtSigScheme::Ecdaa(_) | TpmtSigScheme::Sm2(_) | TpmtSigScheme::Ecschnorr(_) => {
            Err(TpmRc::SCHEME.with_parameter(n))
        }
        other => match scheme_hash(other) {
            Some(alg) => implemented_hash(alg, n).map(|_| ()),
            None => Ok(()),
        },
    }
}

/// [`check_implemented`] for TPM2_Sign, which also signs with ECDAA (`ecc_commit`).
fn check_sign_implemented(scheme: &TpmtSigScheme, n: u8) -> Result<(), TpmRc> {
    match scheme {
        TpmtSigScheme::Ecdaa(d) => implemented_hash(d.hash_alg, n).map(|_| ()),
        other => check_implemented(other, n),
    }
}

/// TPM2_Sign (part 3 §20.2): signs an externally provided digest.
///
/// Parameters: digest (1), inScheme (2, TPMT_SIG_SCHEME+), validation (3).
pub(super) fn sign(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let digest: Tpm2bDigest = ctx.param()?;
    let in_scheme = ctx.param_with(TpmtSigScheme::unmarshal_allow_null)?;
    check_sign_implemented(&in_scheme, 2)?;
    let validation = ctx.param_with(read_hashcheck)?;
    ctx.finish()?;
    let h = ctx.handles[0];
    let obj = loaded(e, h)?;
    if obj.public_only {
        return Err(TpmRc::AUTH_UNAVAILABLE);
    }
    let attributes = obj.public.object_attributes;
    if !attributes.has(TpmaObject::SIGN) || obj.public.object_type() == TpmAlgId::SYMCIPHER {
        return Err(TpmRc::KEY.with_handle(1));
    }
    if attributes.has(TpmaObject::X509_SIGN) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    let scheme =
        select_sign_scheme(&obj.public, in_scheme).ok_or(TpmRc::SCHEME.with_parameter(2))?;
    let hash_alg = scheme_hash(&scheme).unwrap_or(TpmAlgId::NULL);
    if !validation.digest.is_empty() || attributes.has(TpmaObject::RESTRICTED) {
        // A restricted key signs only digests the TPM computed of data that does not start
        // with TPM_GENERATED_VALUE, proven by a hash-check ticket.
        if !verify_hashcheck_ticket(e, &validation, hash_alg, digest.as_bytes()) {
            return Err(TpmRc::TICKET.with_parameter(3));
        }
    } else if Some(digest.len()) != hash_alg.digest_size() {
        return Err(TpmRc::SIZE.with_parameter(1));
    }
    let signature = sign_digest(e, h, &scheme, digest.as_bytes())?;
    ctx.put(&signature);
    Ok(())
}

/// Checks `signature` over `digest` with the loaded key `h` (`CryptValidateSignature`). The
/// errors carry no parameter number: TPM_RC_SCHEME when the signature's algorithm does not fit
/// the key, TPM_RC_SIGNATURE when it does not verify, TPM_RC_HANDLE for an HMAC key whose
/// sensitive part is not loaded.
pub(crate) fn validate_signature(
    e: &Engine,
    h: TpmHandle,
    digest: &[u8],
    signature: &TpmtSignature,
) -> Result<(), TpmRc> {
    let obj = loaded(e, h)?;
    match (&obj.public.detail, signature) {
        (_, TpmtSignature::Null) => Err(TpmRc::SIGNATURE),
        (PublicDetail::Rsa { .. }, TpmtSignature::Rsassa(s) | TpmtSignature::Rsapss(s)) => {
            let key = rsa_public(obj).map_err(|_| TpmRc::SIGNATURE)?;
            let hash = HashAlg::from_alg(s.hash).ok_or(TpmRc::SIGNATURE)?;
            let ok = if matches!(signature, TpmtSignature::Rsassa(_)) {
                key.verify_pkcs1v15(hash, digest, s.sig.as_bytes())
            } else {
                key.verify_pss(hash, digest, s.sig.as_bytes())
            };
            ok.map_err(|_| TpmRc::SIGNATURE)
        }
        (PublicDetail::Ecc { .. }, TpmtSignature::Ecdsa(s)) => {
            let curve = ecc_curve(obj).map_err(|_| TpmRc::SIGNATURE)?;
            let point = ecc_public(obj).map_err(|_| TpmRc::SIGNATURE)?;
            verify_ecdsa(
                curve,
                &point,
                digest,
                s.signature_r.as_bytes(),
                s.signature_s.as_bytes(),
            )
            .map_err(|_| TpmRc::SIGNATURE)
        }
        (PublicDetail::KeyedHash { parameters, .. }, signature) => {
            if obj.public_only {
                return Err(TpmRc::HANDLE);
            }
            let TpmtSignature::Hmac(ha) = signature else {
                return Err(TpmRc::SCHEME);
            };
            // A key with a scheme only validates signatures of that scheme and hash.
            if let TpmtKeyedhashScheme::Hmac(d) = parameters.scheme {
                if d.hash_alg != ha.hash_alg() {
                    return Err(TpmRc::SIGNATURE);
                }
            } else if !parameters.scheme.is_null() {
                return Err(TpmRc::SIGNATURE);
            }
            let hash = HashAlg::from_alg(ha.hash_alg()).ok_or(TpmRc::SIGNATURE)?;
            let mac = hmac(hash, &obj.sensitive.private, &[digest]);
            if ct_eq(&mac, ha.digest()) {
                Ok(())
            } else {
                Err(TpmRc::SIGNATURE)
            }
        }
        // The signature's algorithm does not fit the key (or the key cannot sign at all).
        _ => Err(TpmRc::SCHEME),
    }
}

/// The signature algorithms this TPM verifies; the others are rejected as the unmarshalling of
/// TPMI_ALG_SIG_SCHEME on a TPM without them would (TPM_RC_SCHEME), and unimplemented hashes as
/// TPMI_ALG_HASH would (TPM_RC_HASH).
pub(crate) fn check_signature_implemented(signature: &TpmtSignature, n: u8) -> Result<(), TpmRc> {
    match signature {
        TpmtSignature::Ecdaa(_) | TpmtSignature::Sm2(_) | TpmtSignature::Ecschnorr(_) => {
            Err(TpmRc::SCHEME.with_parameter(n))
        }
        other => match other.hash_alg() {
            Some(alg) => implemented_hash(alg, n).map(|_| ()),
            None => Ok(()),
        },
    }
}

/// TPM2_VerifySignature (part 3 §20.1): checks a signature and returns a TPMT_TK_VERIFIED.
///
/// Parameters: digest (1), signature (2).
pub(super) fn verify_signature(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let digest: Tpm2bDigest = ctx.param()?;
    let signature: TpmtSignature = ctx.param()?;
    check_signature_implemented(&signature, 2)?;
    ctx.finish()?;
    let h = ctx.handles[0];
    let obj = loaded(e, h)?;
    if !obj.public.object_attributes.has(TpmaObject::SIGN) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    validate_signature(e, h, digest.as_bytes(), &signature).map_err(|rc| rc.with_parameter(2))?;
    let obj = loaded(e, h)?;
    let ticket = if obj.hierarchy == TpmHandle::NULL || obj.public.name_alg == TpmAlgId::NULL {
        TpmtTkVerified::null()
    } else {
        verified_ticket(e, obj.hierarchy, digest.as_bytes(), &obj.name)
    };
    ctx.put(&ticket);
    Ok(())
}

//! Object commands (TCG TPM 2.0 Library part 3 §12 "Object Commands" and §24.1
//! TPM2_CreatePrimary): TPM2_CreatePrimary, TPM2_Create, TPM2_Load, TPM2_LoadExternal,
//! TPM2_ReadPublic, TPM2_ObjectChangeAuth and TPM2_CreateLoaded (§12.9).
//!
//! The rules come from part 1 (object attributes and their consistency, "Object Attributes";
//! Names and Qualified Names, §16; primary seeds and proof values, §14; "Protected Storage",
//! the symmetric and integrity protection of TPM2B_PRIVATE) and part 2 §12 (public and
//! sensitive structures). Response codes, and the handle or parameter number they carry,
//! follow part 3 as libtpms (what swtpm runs) returns them; `tests/objects_vs_swtpm.rs`
//! compares both on a table of valid and invalid templates.
//!
//! # Key generation
//!
//! - Primary objects (TPM2_CreatePrimary) are derived, not drawn: every random byte comes from
//!   the stream `KDFa(nameAlg, primarySeed, "Primary Object Creation", Name(template),
//!   inSensitive.data)` ([`KdfaStream`]), so the same seed and the same template (including
//!   `unique` and the sensitive data) always give the same key, and any change of the template
//!   gives another one.
//! - Ordinary objects (TPM2_Create) draw from the same kind of stream keyed with 32 fresh bytes
//!   of the TPM's DRBG.
//!
//! - Derived objects (TPM2_CreateLoaded under a derivation parent: a restricted decryption
//!   keyed-hash object with the XOR scheme and KDF1_SP800_108) draw from
//!   `KDFa(schemeHash, parent key, label, context)`, label and context coming from the
//!   template's TPMS_DERIVE, each replaced by a non-empty one from inSensitive.data. The same
//!   parent, template, label and context always give the same key (the derivation is this
//!   engine's; keys derived by another TPM from the same parent key differ).
//!
//! In all cases the key is made first (RSA primes, ECC scalar, symmetric or HMAC key), then
//! `seedValue` (nameAlg digest size). Asymmetric keys that are not storage parents drop their
//! seedValue; keyed-hash and symmetric objects publish `unique = H_nameAlg(seedValue || key)`.
//!
//! # TPM2B_PRIVATE
//!
//! The outer wrap of part 1 "Protected Storage" with an IV, as the reference implementation
//! (and libtpms) protects the TPM's own objects:
//!
//! ```text
//! TPM2B_PRIVATE = TPM2B_DIGEST(outerHMAC) || TPM2B_IV(iv) || encSensitive
//! encSensitive  = AES-CFB(symKey, iv, UINT16 size || TPMT_SENSITIVE)
//! symKey        = KDFa(pNameAlg, parent seedValue, "STORAGE", Name, "", parent key bits)
//! HMACkey       = KDFa(pNameAlg, parent seedValue, "INTEGRITY", "", "", digest bits)
//! outerHMAC     = HMAC_pNameAlg(HMACkey, TPM2B_IV(iv) || encSensitive || Name)
//! ```
//!
//! pNameAlg is the parent's nameAlg and `iv` 16 fresh random bytes. The authValue in
//! TPMT_SENSITIVE is padded with zeros to the nameAlg digest size (and the zeros are removed
//! again on load), so outPrivate has exactly the size libtpms' has.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSt;
use tpm2::structures::{
    PublicDetail, Tpm2bAuth, Tpm2bCreationData, Tpm2bData, Tpm2bDigest, Tpm2bName, Tpm2bPrivate,
    Tpm2bPrivateKeyRsa, Tpm2bPublic, Tpm2bPublicKeyRsa, Tpm2bSecretDigest, Tpm2bSecretEccParameter,
    Tpm2bSensitive, Tpm2bSensitiveCreate, Tpm2bSensitiveData, Tpm2bSymKey, Tpm2bTemplate,
    TpmaLocality, TpmaObject, TpmlPcrSelection, TpmsCreationData, TpmsDerive, TpmtEccScheme,
    TpmtKdfScheme, TpmtKeyedhashScheme, TpmtPublic, TpmtRsaScheme, TpmtSensitive, TpmtSymDefObject,
    TpmtTkCreation, TpmuSensitiveComposite, check_hierarchy_allow_null,
};
use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::engine::auth::ct_eq;
use crate::engine::crypto::ecc::{Curve, EccPrivate};
use crate::engine::crypto::hash::{HashAlg, digest, hmac};
use crate::engine::crypto::kdf::{KdfaStream, kdfa};
use crate::engine::crypto::rsa::RsaPrivate;
use crate::engine::crypto::sym::{cfb_decrypt, cfb_encrypt};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::{HandleKind, hierarchy_enabled};
use crate::engine::object::{
    Object, Sensitive, alloc_transient_handle, compute_name, ecc_point, qualified_name,
};
use crate::engine::pcr::read_selection;
use crate::engine::rcmap::wire_rc;
use crate::engine::state::Secret;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::CREATE_PRIMARY,
        handles: &[HandleKind::HierarchyOrNull],
        roles: &[AuthRole::User],
        nv: false,
        handler: create_primary,
    },
    Entry {
        cc: TpmCc::CREATE,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: create,
    },
    Entry {
        cc: TpmCc::LOAD,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: load,
    },
    Entry {
        cc: TpmCc::LOAD_EXTERNAL,
        handles: &[],
        roles: &[],
        nv: false,
        handler: load_external,
    },
    Entry {
        cc: TpmCc::READ_PUBLIC,
        handles: &[HandleKind::Object],
        roles: &[],
        nv: false,
        handler: read_public,
    },
    Entry {
        cc: TpmCc::CREATE_LOADED,
        handles: &[HandleKind::Parent],
        roles: &[AuthRole::User],
        nv: false,
        handler: create_loaded,
    },
    Entry {
        cc: TpmCc::OBJECT_CHANGE_AUTH,
        handles: &[HandleKind::Object, HandleKind::Object],
        roles: &[AuthRole::Admin],
        nv: false,
        handler: object_change_auth,
    },
];

/// The KDFa label of primary-object derivation (the reference implementation's
/// PRIMARY_OBJECT_CREATION).
const PRIMARY_LABEL: &[u8] = b"Primary Object Creation";
/// The KDFa label of the stream an ordinary object is drawn from.
const CREATE_LABEL: &[u8] = b"Object Creation";
/// The hash of creation tickets (the same choice as the other tickets of this TPM, libtpms'
/// CONTEXT_INTEGRITY_HASH_ALG).
const TICKET_HASH: HashAlg = HashAlg::Sha512;
/// Largest keyed-hash data object (MAX_SYM_DATA).
const MAX_SEALED_DATA: usize = 128;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// Adds parameter number `n` to a format-one code that has no number yet (the reference
/// implementation's RcSafeAddToResult); anything else is returned unchanged.
pub(crate) fn blame(rc: TpmRc, n: u8) -> TpmRc {
    if rc.is_format1() && rc.0 & 0xF00 == 0 {
        rc.with_parameter(n)
    } else {
        rc
    }
}

fn attr(public: &TpmtPublic, bit: u32) -> bool {
    public.object_attributes.0 & bit != 0
}

/// The hash of a public area's nameAlg (TPM_RC_HASH when it is TPM_ALG_NULL or unknown).
fn name_hash(public: &TpmtPublic) -> Result<HashAlg, TpmRc> {
    HashAlg::from_alg(public.name_alg).ok_or(TpmRc::HASH)
}

/// The digest size of nameAlg, 0 for TPM_ALG_NULL.
fn name_digest_size(public: &TpmtPublic) -> usize {
    HashAlg::from_alg(public.name_alg).map_or(0, HashAlg::digest_size)
}

/// An authValue with trailing zeros removed (part 1 §19.6.? "authValue"; the reference
/// implementation's AdjustAuthSize), or `None` if it is still longer than the nameAlg digest.
pub(crate) fn adjust_auth(auth: &[u8], name_alg: TpmAlgId) -> Option<Secret> {
    let limit = HashAlg::from_alg(name_alg).map_or(64, HashAlg::digest_size);
    let len = auth.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    (len <= limit).then(|| Zeroizing::new(auth[..len].to_vec()))
}

/// TPMA_LOCALITY for the locality a command arrived at.
fn locality_attribute(locality: u8) -> TpmaLocality {
    if locality < 5 {
        TpmaLocality(1 << locality)
    } else {
        TpmaLocality(locality)
    }
}

// ---------------------------------------------------------------------------------------------
// Public area validation
// ---------------------------------------------------------------------------------------------

/// The algorithms this TPM implements, checked where the reference implementation's
/// unmarshalling would reject an unimplemented one (so the caller adds the parameter number of
/// the public area): hashes (TPM_RC_HASH), RSA key sizes 1024/2048/3072 (TPM_RC_VALUE, as
/// libtpms), NIST P-256 only (TPM_RC_CURVE), AES-128/256 only (TPM_RC_SYMMETRIC for other
/// ciphers, TPM_RC_VALUE for other key sizes), no ECMQV (TPM_RC_SCHEME).
pub(crate) fn check_supported(public: &TpmtPublic) -> Result<(), TpmRc> {
    let hash = |alg: TpmAlgId| -> Result<(), TpmRc> {
        HashAlg::from_alg(alg).map(|_| ()).ok_or(TpmRc::HASH)
    };
    if public.name_alg != TpmAlgId::NULL {
        hash(public.name_alg)?;
    }
    let sym = |s: &TpmtSymDefObject| -> Result<(), TpmRc> {
        match *s {
            TpmtSymDefObject::Null => Ok(()),
            TpmtSymDefObject::Aes { key_bits, .. } => {
                if key_bits == 128 || key_bits == 256 {
                    Ok(())
                } else {
                    Err(TpmRc::VALUE)
                }
            }
            _ => Err(TpmRc::SYMMETRIC),
        }
    };
    match &public.detail {
        PublicDetail::Rsa { parameters, .. } => {
            sym(&parameters.symmetric)?;
            match &parameters.scheme {
                TpmtRsaScheme::Rsassa(h) | TpmtRsaScheme::Rsapss(h) | TpmtRsaScheme::Oaep(h) => {
                    hash(h.hash_alg)?;
                }
                TpmtRsaScheme::Rsaes(_) | TpmtRsaScheme::Null => {}
            }
            if !matches!(parameters.key_bits, 1024 | 2048 | 3072) {
                return Err(TpmRc::VALUE);
            }
        }
        PublicDetail::Ecc { parameters, .. } => {
            sym(&parameters.symmetric)?;
            match &parameters.scheme {
                TpmtEccScheme::Ecdsa(h)
                | TpmtEccScheme::Ecdh(h)
                | TpmtEccScheme::Sm2(h)
                | TpmtEccScheme::Ecschnorr(h) => hash(h.hash_alg)?,
                TpmtEccScheme::Ecdaa(d) => hash(d.hash_alg)?,
                TpmtEccScheme::Ecmqv(_) => return Err(TpmRc::SCHEME),
                TpmtEccScheme::Null => {}
            }
            if Curve::from_tpm(parameters.curve_id).is_none() {
                return Err(TpmRc::CURVE);
            }
            match &parameters.kdf {
                TpmtKdfScheme::Null => {}
                TpmtKdfScheme::Mgf1(h)
                | TpmtKdfScheme::Kdf1Sp800_56a(h)
                | TpmtKdfScheme::Kdf2(h)
                | TpmtKdfScheme::Kdf1Sp800_108(h) => hash(h.hash_alg)?,
            }
        }
        PublicDetail::KeyedHash { parameters, .. } => match &parameters.scheme {
            TpmtKeyedhashScheme::Hmac(h) => hash(h.hash_alg)?,
            TpmtKeyedhashScheme::Xor(x) => hash(x.hash_alg)?,
            TpmtKeyedhashScheme::Null => {}
        },
        PublicDetail::SymCipher { parameters, .. } => sym(&parameters.sym)?,
    }
    Ok(())
}

/// Whether `scheme` is a signing scheme of the asymmetric type of `public`.
fn is_sign_scheme(public: &TpmtPublic) -> bool {
    match &public.detail {
        PublicDetail::Rsa { parameters, .. } => matches!(
            parameters.scheme,
            TpmtRsaScheme::Rsassa(_) | TpmtRsaScheme::Rsapss(_)
        ),
        PublicDetail::Ecc { parameters, .. } => matches!(
            parameters.scheme,
            TpmtEccScheme::Ecdsa(_)
                | TpmtEccScheme::Ecdaa(_)
                | TpmtEccScheme::Sm2(_)
                | TpmtEccScheme::Ecschnorr(_)
        ),
        _ => false,
    }
}

/// Whether the scheme of an asymmetric public area is a decryption (or key exchange) scheme.
fn is_decrypt_scheme(public: &TpmtPublic) -> bool {
    match &public.detail {
        PublicDetail::Rsa { parameters, .. } => matches!(
            parameters.scheme,
            TpmtRsaScheme::Rsaes(_) | TpmtRsaScheme::Oaep(_)
        ),
        PublicDetail::Ecc { parameters, .. } => matches!(
            parameters.scheme,
            TpmtEccScheme::Ecdh(_) | TpmtEccScheme::Ecmqv(_)
        ),
        _ => false,
    }
}

/// Scheme consistency (part 1 "Object Attributes" and the reference implementation's
/// SchemeChecks). Codes are bare: the caller adds the number of the public area.
fn scheme_checks(parent: Option<&Object>, public: &TpmtPublic) -> Result<(), TpmRc> {
    let sign = attr(public, TpmaObject::SIGN);
    let decrypt = attr(public, TpmaObject::DECRYPT);
    let restricted = attr(public, TpmaObject::RESTRICTED);
    let symmetric: Option<TpmtSymDefObject> = match &public.detail {
        PublicDetail::SymCipher { parameters, .. } => {
            // A decryption key needs a block-cipher mode (or NULL); CMAC only signs.
            if decrypt && parameters.sym.mode() == Some(TpmAlgId::CMAC) {
                return Err(TpmRc::SCHEME);
            }
            Some(parameters.sym)
        }
        PublicDetail::KeyedHash { parameters, .. } => {
            let scheme = &parameters.scheme;
            if sign == decrypt {
                if !scheme.is_null() {
                    return Err(TpmRc::SCHEME);
                }
            } else if sign {
                if !matches!(scheme, TpmtKeyedhashScheme::Hmac(_)) {
                    return Err(TpmRc::SCHEME);
                }
            } else {
                let TpmtKeyedhashScheme::Xor(xor) = scheme else {
                    return Err(TpmRc::SCHEME);
                };
                // A derivation parent uses SP800-108 (the only derivation implemented).
                if restricted && xor.kdf != TpmAlgId::KDF1_SP800_108 {
                    return Err(TpmRc::SCHEME);
                }
            }
            None
        }
        PublicDetail::Rsa { parameters, .. } => {
            asym_scheme_checks(public, parameters.scheme.is_null())?;
            Some(parameters.symmetric)
        }
        PublicDetail::Ecc { parameters, .. } => {
            asym_scheme_checks(public, parameters.scheme.is_null())?;
            if !parameters.kdf.is_null() {
                return Err(TpmRc::KDF);
            }
            Some(parameters.symmetric)
        }
    };
    if let Some(sym) = symmetric {
        if restricted && decrypt {
            if sym.is_null() {
                return Err(TpmRc::SYMMETRIC);
            }
            // A parent that cannot be duplicated uses its parent's algorithms.
            if let Some(p) = parent.filter(|_| attr(public, TpmaObject::FIXED_PARENT)) {
                if public.name_alg != p.public.name_alg {
                    return Err(TpmRc::HASH);
                }
                if Some(sym) != parent_sym(p) {
                    return Err(TpmRc::SYMMETRIC);
                }
            }
        }
    }
    Ok(())
}

/// The symmetric definition of a parent (its TPMT_SYM_DEF_OBJECT).
fn parent_sym(p: &Object) -> Option<TpmtSymDefObject> {
    match &p.public.detail {
        PublicDetail::Rsa { parameters, .. } => Some(parameters.symmetric),
        PublicDetail::Ecc { parameters, .. } => Some(parameters.symmetric),
        PublicDetail::SymCipher { parameters, .. } => Some(parameters.sym),
        PublicDetail::KeyedHash { .. } => None,
    }
}

/// The scheme rules of RSA and ECC keys; `null_scheme` tells whether the scheme is
/// TPM_ALG_NULL.
fn asym_scheme_checks(public: &TpmtPublic, null_scheme: bool) -> Result<(), TpmRc> {
    let sign = attr(public, TpmaObject::SIGN);
    let decrypt = attr(public, TpmaObject::DECRYPT);
    let restricted = attr(public, TpmaObject::RESTRICTED);
    if sign == decrypt {
        if !null_scheme {
            return Err(TpmRc::SCHEME);
        }
    } else if sign {
        // A signing key needs a signing scheme, except an unrestricted one with none.
        if !is_sign_scheme(public) && (restricted || !null_scheme) {
            return Err(TpmRc::SCHEME);
        }
    } else if restricted {
        // A storage parent has no scheme.
        if !null_scheme {
            return Err(TpmRc::SCHEME);
        }
    } else if !null_scheme && !is_decrypt_scheme(public) {
        return Err(TpmRc::SCHEME);
    }
    let symmetric = match &public.detail {
        PublicDetail::Rsa { parameters, .. } => parameters.symmetric,
        PublicDetail::Ecc { parameters, .. } => parameters.symmetric,
        _ => TpmtSymDefObject::Null,
    };
    let parent = restricted && decrypt;
    if !parent && !symmetric.is_null() {
        return Err(TpmRc::SYMMETRIC);
    }
    Ok(())
}

/// Attribute consistency of a public area for creation or loading under `parent` (`None`: a
/// primary object or an external one) — part 1 "Object Attributes", the reference
/// implementation's PublicAttributesValidation. Codes are bare.
fn public_attributes_validation(parent: Option<&Object>, public: &TpmtPublic) -> Result<(), TpmRc> {
    let a = |bit| attr(public, bit);
    if public.name_alg == TpmAlgId::NULL {
        return Err(TpmRc::HASH);
    }
    if !public.auth_policy.is_empty() && public.auth_policy.len() != name_digest_size(public) {
        return Err(TpmRc::SIZE);
    }
    let parent_fixed_tpm = parent.is_none_or(|p| p.has(TpmaObject::FIXED_TPM));
    if parent_fixed_tpm {
        if a(TpmaObject::FIXED_PARENT) != a(TpmaObject::FIXED_TPM) {
            return Err(TpmRc::ATTRIBUTES);
        }
    } else if a(TpmaObject::FIXED_TPM) {
        return Err(TpmRc::ATTRIBUTES);
    }
    if a(TpmaObject::SIGN) == a(TpmaObject::DECRYPT) {
        if a(TpmaObject::RESTRICTED) {
            return Err(TpmRc::ATTRIBUTES);
        }
        if public.object_type() != TpmAlgId::KEYEDHASH && !a(TpmaObject::SIGN) {
            return Err(TpmRc::ATTRIBUTES);
        }
    }
    if a(TpmaObject::FIXED_TPM) && a(TpmaObject::ENCRYPTED_DUPLICATION) {
        return Err(TpmRc::ATTRIBUTES);
    }
    if let Some(p) = parent.filter(|p| !p.has(TpmaObject::FIXED_TPM)) {
        if a(TpmaObject::ENCRYPTED_DUPLICATION) != p.has(TpmaObject::ENCRYPTED_DUPLICATION) {
            return Err(TpmRc::ATTRIBUTES);
        }
    }
    // A derived object has its parent's fixedTPM and is fixedParent.
    if let Some(p) = parent.filter(|p| is_derivation_parent(p)) {
        if a(TpmaObject::FIXED_TPM) != p.has(TpmaObject::FIXED_TPM) || !a(TpmaObject::FIXED_PARENT)
        {
            return Err(TpmRc::ATTRIBUTES);
        }
    }
    scheme_checks(parent, public)
}

/// The checks of object creation (part 3 §12.1 / §24.1 error tables; the reference
/// implementation's CreateChecks): who supplies the sensitive data, then
/// [`public_attributes_validation`]. Codes are bare.
fn create_checks(
    parent: Option<&Object>,
    public: &TpmtPublic,
    data_len: usize,
) -> Result<(), TpmRc> {
    let a = |bit| attr(public, bit);
    let origin = a(TpmaObject::SENSITIVE_DATA_ORIGIN);
    if !origin && data_len == 0 {
        return Err(TpmRc::ATTRIBUTES);
    }
    if parent.is_some() && origin && data_len != 0 {
        return Err(TpmRc::ATTRIBUTES);
    }
    match public.object_type() {
        TpmAlgId::KEYEDHASH | TpmAlgId::SYMCIPHER => {
            // A data object cannot be generated by the TPM.
            if public.object_type() == TpmAlgId::KEYEDHASH
                && !a(TpmaObject::SIGN)
                && !a(TpmaObject::DECRYPT)
                && origin
            {
                return Err(TpmRc::ATTRIBUTES);
            }
            // A restricted symmetric key with supplied data must be duplicable.
            if a(TpmaObject::RESTRICTED)
                && !origin
                && (a(TpmaObject::FIXED_PARENT) || a(TpmaObject::FIXED_TPM))
            {
                return Err(TpmRc::ATTRIBUTES);
            }
        }
        _ => {
            // Asymmetric keys are always generated by the TPM.
            if !origin {
                return Err(TpmRc::ATTRIBUTES);
            }
        }
    }
    public_attributes_validation(parent, public)
}

// ---------------------------------------------------------------------------------------------
// Key generation
// ---------------------------------------------------------------------------------------------

/// Whether `e` is a public exponent libtpms generates keys with: 0 (65537), or a prime of at
/// least 65537.
fn exponent_ok(e: u32) -> bool {
    if e == 0 {
        return true;
    }
    if e < 65537 || e % 2 == 0 {
        return false;
    }
    let mut d = 3u32;
    while u64::from(d) * u64::from(d) <= u64::from(e) {
        if e % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// `n` bytes from `rng`.
fn draw(rng: &mut KdfaStream, n: usize) -> Secret {
    let mut v = Zeroizing::new(alloc::vec![0u8; n]);
    rand_core::RngCore::fill_bytes(rng, &mut v);
    v
}

/// Makes the key of a new object from the validated template `public`, drawing every random
/// byte from `rng`, and returns the completed public area and the sensitive area (authValue
/// not set). `data` is inSensitive.data (ignored when the TPM generates the data). Codes are
/// final (bare, as the reference implementation's CryptCreateObject returns them).
fn generate(
    mut public: TpmtPublic,
    data: &[u8],
    rng: &mut KdfaStream,
) -> Result<(TpmtPublic, Sensitive), TpmRc> {
    let name_alg = name_hash(&public)?;
    let origin = attr(&public, TpmaObject::SENSITIVE_DATA_ORIGIN);
    let data = if origin { &[][..] } else { data };
    let sign = attr(&public, TpmaObject::SIGN);
    let decrypt = attr(&public, TpmaObject::DECRYPT);
    let restricted = attr(&public, TpmaObject::RESTRICTED);
    let private: Secret = match &mut public.detail {
        PublicDetail::Rsa { parameters, unique } => {
            if !exponent_ok(parameters.exponent) {
                return Err(TpmRc::RANGE);
            }
            let key = RsaPrivate::generate(parameters.key_bits, parameters.exponent, rng)
                .map_err(|_| TpmRc::NO_RESULT)?;
            *unique = Tpm2bPublicKeyRsa::new(&key.public().modulus()).map_err(|_| TpmRc::SIZE)?;
            key.prime()
        }
        PublicDetail::Ecc { parameters, unique } => {
            let curve = Curve::from_tpm(parameters.curve_id).ok_or(TpmRc::CURVE)?;
            let key = EccPrivate::derive(curve, rng).map_err(|_| TpmRc::NO_RESULT)?;
            *unique = ecc_point(&key.public())?;
            key.scalar()
        }
        PublicDetail::SymCipher { parameters, .. } => {
            let bytes = usize::from(parameters.sym.key_bits().unwrap_or(0) / 8);
            if origin {
                draw(rng, bytes)
            } else if data.len() == bytes {
                Zeroizing::new(data.to_vec())
            } else {
                return Err(TpmRc::KEY_SIZE);
            }
        }
        PublicDetail::KeyedHash { parameters, .. } => {
            let hash = match &parameters.scheme {
                TpmtKeyedhashScheme::Hmac(h) => HashAlg::from_alg(h.hash_alg),
                TpmtKeyedhashScheme::Xor(x) => HashAlg::from_alg(x.hash_alg),
                TpmtKeyedhashScheme::Null => Some(name_alg),
            }
            .ok_or(TpmRc::HASH)?;
            if (sign || decrypt) && data.len() > hash.block_size() {
                return Err(TpmRc::SIZE);
            }
            if origin && (sign || decrypt) {
                draw(rng, hash.digest_size())
            } else if data.len() <= MAX_SEALED_DATA {
                Zeroizing::new(data.to_vec())
            } else {
                return Err(TpmRc::SIZE);
            }
        }
    };
    let mut seed_value = draw(rng, name_alg.digest_size());
    match &mut public.detail {
        PublicDetail::SymCipher { unique, .. } | PublicDetail::KeyedHash { unique, .. } => {
            *unique = Tpm2bDigest::new(&digest(name_alg, &[&seed_value, &private]))
                .map_err(|_| TpmRc::SIZE)?;
        }
        _ => {
            // Only a storage parent keeps a seed for its children's protection.
            if sign || !restricted {
                seed_value = Zeroizing::new(Vec::new());
            }
        }
    }
    Ok((
        public,
        Sensitive {
            auth: Zeroizing::new(Vec::new()),
            seed_value,
            private,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Creation data and tickets
// ---------------------------------------------------------------------------------------------

/// TPMS_CREATION_DATA of a new object (part 2 §15.1) and its creationHash
/// (`H_nameAlg(TPMS_CREATION_DATA)`). `parent` is the parent object, or `None` when the parent
/// is the hierarchy `parent_handle` (whose Name and Qualified Name are its handle).
fn creation_data(
    e: &Engine,
    name_alg: HashAlg,
    parent_handle: TpmHandle,
    parent: Option<&Object>,
    creation_pcr: &TpmlPcrSelection,
    outside_info: Tpm2bData,
) -> Result<(TpmsCreationData, Vec<u8>), TpmRc> {
    // Unallocated PCRs are deselected; the digest is part 1 §17.6's over what remains.
    let pcr_select = e.state.vol.pcr.filter(creation_pcr);
    let pcr_digest = e.state.vol.pcr.digest(name_alg, &pcr_select);
    let handle_name = parent_handle.0.to_be_bytes();
    let (parent_name_alg, parent_name, parent_qn) = match parent {
        Some(p) => (p.public.name_alg, &p.name[..], &p.qualified_name[..]),
        None => (TpmAlgId::NULL, &handle_name[..], &handle_name[..]),
    };
    let data = TpmsCreationData {
        pcr_select,
        pcr_digest: Tpm2bDigest::new(&pcr_digest).map_err(|_| TpmRc::SIZE)?,
        locality: locality_attribute(e.locality),
        parent_name_alg,
        parent_name: Tpm2bName::new(parent_name).map_err(|_| TpmRc::SIZE)?,
        parent_qualified_name: Tpm2bName::new(parent_qn).map_err(|_| TpmRc::SIZE)?,
        outside_info,
    };
    let hash = digest(name_alg, &[&data.to_bytes()]);
    Ok((data, hash))
}

/// The TPMT_TK_CREATION for object `name` with `creation_hash` (part 2 §10.7.3):
/// `HMAC(proof(hierarchy), TPM_ST_CREATION || name || creationHash)`, for
/// TPM2_CertifyCreation to check.
pub(crate) fn creation_ticket(
    e: &Engine,
    hierarchy: TpmHandle,
    name: &[u8],
    creation_hash: &[u8],
) -> TpmtTkCreation {
    let mac = hmac(
        TICKET_HASH,
        e.state.proof(hierarchy),
        &[&TpmSt::CREATION.0.to_be_bytes(), name, creation_hash],
    );
    TpmtTkCreation {
        hierarchy,
        digest: Tpm2bDigest::new(&mac).unwrap_or_else(|_| Tpm2bDigest::empty()),
    }
}

// ---------------------------------------------------------------------------------------------
// Protected storage: TPMT_SENSITIVE <-> TPM2B_PRIVATE
// ---------------------------------------------------------------------------------------------

/// The TPMT_SENSITIVE of an object of type `ty` whose nameAlg is `name_alg`; the authValue is
/// padded with zeros to the nameAlg digest size, as the reference implementation marshals it.
pub(crate) fn to_tpmt_sensitive(
    ty: TpmAlgId,
    name_alg: TpmAlgId,
    s: &Sensitive,
) -> Result<TpmtSensitive, TpmRc> {
    let mut auth = Zeroizing::new(s.auth.to_vec());
    let digest_size = HashAlg::from_alg(name_alg).map_or(0, HashAlg::digest_size);
    if auth.len() < digest_size {
        auth.resize(digest_size, 0);
    }
    let composite = match ty {
        TpmAlgId::RSA => TpmuSensitiveComposite::Rsa(
            Tpm2bPrivateKeyRsa::new(&s.private).map_err(|_| TpmRc::SIZE)?,
        ),
        TpmAlgId::ECC => TpmuSensitiveComposite::Ecc(
            Tpm2bSecretEccParameter::new(&s.private).map_err(|_| TpmRc::SIZE)?,
        ),
        TpmAlgId::KEYEDHASH => TpmuSensitiveComposite::Bits(
            Tpm2bSensitiveData::new(&s.private).map_err(|_| TpmRc::SIZE)?,
        ),
        _ => TpmuSensitiveComposite::Sym(Tpm2bSymKey::new(&s.private).map_err(|_| TpmRc::SIZE)?),
    };
    Ok(TpmtSensitive {
        auth_value: Tpm2bAuth::new(&auth).map_err(|_| TpmRc::SIZE)?,
        seed_value: Tpm2bSecretDigest::new(&s.seed_value).map_err(|_| TpmRc::SIZE)?,
        sensitive: composite,
    })
}

/// The private bytes of a TPMT_SENSITIVE (the prime, scalar, data or key).
fn composite_bytes(s: &TpmtSensitive) -> &[u8] {
    match &s.sensitive {
        TpmuSensitiveComposite::Rsa(v) => v.as_bytes(),
        TpmuSensitiveComposite::Ecc(v) => v.as_bytes(),
        TpmuSensitiveComposite::Bits(v) => v.as_bytes(),
        TpmuSensitiveComposite::Sym(v) => v.as_bytes(),
    }
}

/// The symmetric key and HMAC key protecting the children of `parent` (see the module
/// documentation).
fn protection_keys(parent: &Object, name: &[u8]) -> Result<(HashAlg, Secret, Secret), TpmRc> {
    let hash = name_hash(&parent.public)?;
    let bits = crate::engine::secret::protector_key_bits(&parent.public)?;
    let seed = &parent.sensitive.seed_value;
    let sym_key = kdfa(hash, seed, b"STORAGE", name, &[], bits);
    let bits = u32::try_from(hash.digest_size() * 8).unwrap_or(512);
    let hmac_key = kdfa(hash, seed, b"INTEGRITY", &[], &[], bits);
    Ok((hash, sym_key, hmac_key))
}

/// The size of the IV of the outer wrap (the AES block).
pub(super) const IV_SIZE: usize = 16;

/// Protects `sensitive` (of the object named `name`) under storage parent `parent` as a
/// TPM2B_PRIVATE with the fresh random `iv` (see the module documentation).
pub(crate) fn sensitive_to_private(
    parent: &Object,
    name: &[u8],
    sensitive: TpmtSensitive,
    iv: &[u8; IV_SIZE],
) -> Result<Tpm2bPrivate, TpmRc> {
    let (hash, sym_key, hmac_key) = protection_keys(parent, name)?;
    let mut enc = Zeroizing::new(Vec::new());
    Tpm2bSensitive {
        sensitive_area: Some(sensitive),
    }
    .marshal(&mut enc);
    cfb_encrypt(&sym_key, iv, &mut enc).map_err(|_| TpmRc::SYMMETRIC)?;
    let mut wrapped = Vec::with_capacity(2 + IV_SIZE + enc.len());
    wrapped.extend_from_slice(&[0, 16]);
    wrapped.extend_from_slice(iv);
    wrapped.extend_from_slice(&enc);
    let integrity = hmac(hash, &hmac_key, &[&wrapped, name]);
    let mut out = Vec::with_capacity(2 + integrity.len() + wrapped.len());
    Tpm2bDigest::new(&integrity)
        .map_err(|_| TpmRc::SIZE)?
        .marshal(&mut out);
    out.extend_from_slice(&wrapped);
    Tpm2bPrivate::new(&out).map_err(|_| TpmRc::SIZE)
}

/// Checks and decrypts a TPM2B_PRIVATE made by [`sensitive_to_private`] for the object named
/// `name` under `parent`. Codes are bare (the caller adds the number of inPrivate):
/// TPM_RC_INTEGRITY when the HMAC does not match (wrong parent, wrong public area, tampering),
/// TPM_RC_SIZE or TPM_RC_INSUFFICIENT for malformed contents.
pub(crate) fn private_to_sensitive(
    parent: &Object,
    name: &[u8],
    private: &[u8],
) -> Result<TpmtSensitive, TpmRc> {
    let (hash, sym_key, hmac_key) = protection_keys(parent, name)?;
    let mut r = Reader::new(private);
    let integrity = Tpm2bDigest::unmarshal(&mut r).map_err(|e| wire_rc(&e))?;
    let wrapped = r.take_rest();
    let expected = hmac(hash, &hmac_key, &[wrapped, name]);
    if !ct_eq(integrity.as_bytes(), &expected) {
        return Err(TpmRc::INTEGRITY);
    }
    let mut r = Reader::new(wrapped);
    let iv = r
        .sized_bytes(IV_SIZE, "TPM2B_IV")
        .map_err(|e| wire_rc(&e))?;
    if iv.len() != IV_SIZE {
        return Err(TpmRc::VALUE);
    }
    let mut plain = Zeroizing::new(r.take_rest().to_vec());
    cfb_decrypt(&sym_key, iv, &mut plain).map_err(|_| TpmRc::SYMMETRIC)?;
    let mut r = Reader::new(&plain);
    let size = r.u16("TPM2B_SENSITIVE").map_err(|_| TpmRc::SIZE)?;
    if usize::from(size) + 2 != plain.len() {
        return Err(TpmRc::SIZE);
    }
    let s = TpmtSensitive::unmarshal(&mut r).map_err(|_| TpmRc::SIZE)?;
    if !r.is_empty() {
        return Err(TpmRc::SIZE);
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// The key checks of loading (the reference implementation's CryptValidateKeys and the binding
/// check of ObjectLoad): sizes of the public key and private part, and that the two belong
/// together. `blame_public` / `blame_sensitive` are the parameter numbers of the two areas;
/// binding failures are reported bare, as libtpms does.
fn validate_keys(
    public: &TpmtPublic,
    sensitive: Option<&TpmtSensitive>,
    blame_public: u8,
    blame_sensitive: u8,
) -> Result<(), TpmRc> {
    let digest_size = name_digest_size(public);
    let named = public.name_alg != TpmAlgId::NULL;
    if let Some(s) = sensitive {
        if s.sensitive_type() != public.object_type() {
            return Err(TpmRc::TYPE.with_parameter(blame_sensitive));
        }
        if digest_size > 0 && s.auth_value.len() > digest_size {
            return Err(TpmRc::SIZE.with_parameter(blame_sensitive));
        }
    }
    match &public.detail {
        PublicDetail::Rsa { parameters, unique } => {
            let bytes = usize::from(parameters.key_bits / 8);
            let n = unique.as_bytes();
            if n.len() != bytes || n.first().is_none_or(|&b| b < 0x80) {
                return Err(TpmRc::KEY.with_parameter(blame_public));
            }
            if parameters.exponent != 0 && parameters.exponent < 7 {
                return Err(TpmRc::VALUE.with_parameter(blame_public));
            }
            if let Some(s) = sensitive {
                let p = composite_bytes(s);
                if p.len() * 2 != bytes || p.first().is_none_or(|&b| b < 0x80) {
                    return Err(TpmRc::KEY_SIZE.with_parameter(blame_sensitive));
                }
                RsaPrivate::from_prime(n, parameters.exponent, p).map_err(|_| TpmRc::BINDING)?;
            }
        }
        PublicDetail::Ecc { parameters, unique } => {
            let curve = Curve::from_tpm(parameters.curve_id)
                .ok_or(TpmRc::CURVE.with_parameter(blame_public))?;
            let size = curve.key_bytes();
            match sensitive {
                None => {
                    if unique.x.len() != size || unique.y.len() != size {
                        return Err(TpmRc::KEY.with_parameter(blame_public));
                    }
                    if named {
                        let point = crate::engine::crypto::ecc::EccPoint {
                            x: unique.x.as_bytes().to_vec(),
                            y: unique.y.as_bytes().to_vec(),
                        };
                        point
                            .validate(curve)
                            .map_err(|_| TpmRc::ECC_POINT.with_parameter(blame_public))?;
                    }
                }
                Some(s) => {
                    let key = EccPrivate::from_scalar(curve, composite_bytes(s))
                        .map_err(|_| TpmRc::KEY_SIZE)?;
                    if named {
                        let q = key.public();
                        // Compare as integers (the caller's coordinates may carry leading
                        // zeros or lack them).
                        let same = |a: &[u8], b: &[u8]| {
                            let strip = |v: &[u8]| -> Vec<u8> {
                                v.iter().copied().skip_while(|&x| x == 0).collect()
                            };
                            strip(a) == strip(b)
                        };
                        if !same(&q.x, unique.x.as_bytes()) || !same(&q.y, unique.y.as_bytes()) {
                            return Err(TpmRc::BINDING);
                        }
                    }
                }
            }
        }
        PublicDetail::SymCipher { unique, .. } | PublicDetail::KeyedHash { unique, .. } => {
            match sensitive {
                None => {
                    if unique.len() != digest_size {
                        return Err(TpmRc::KEY.with_parameter(blame_public));
                    }
                }
                Some(s) => {
                    let key = composite_bytes(s);
                    let max = match &public.detail {
                        PublicDetail::SymCipher { parameters, .. } => {
                            let bytes = usize::from(parameters.sym.key_bits().unwrap_or(0) / 8);
                            if key.len() != bytes {
                                return Err(TpmRc::KEY_SIZE.with_parameter(blame_sensitive));
                            }
                            bytes
                        }
                        PublicDetail::KeyedHash { parameters, .. } => match &parameters.scheme {
                            TpmtKeyedhashScheme::Hmac(h) => {
                                HashAlg::from_alg(h.hash_alg).map_or(0, HashAlg::block_size)
                            }
                            TpmtKeyedhashScheme::Xor(x) => {
                                HashAlg::from_alg(x.hash_alg).map_or(0, HashAlg::block_size)
                            }
                            TpmtKeyedhashScheme::Null => MAX_SEALED_DATA,
                        },
                        _ => 0,
                    };
                    if key.len() > max {
                        return Err(TpmRc::KEY_SIZE.with_parameter(blame_sensitive));
                    }
                    if let Some(alg) = HashAlg::from_alg(public.name_alg) {
                        if s.seed_value.len() != digest_size {
                            return Err(TpmRc::KEY_SIZE.with_parameter(blame_sensitive));
                        }
                        let expected = digest(alg, &[s.seed_value.as_bytes(), key]);
                        if expected != unique.as_bytes() {
                            return Err(TpmRc::BINDING);
                        }
                    }
                }
            }
        }
    }
    // A parent's seed protects its children: at least half the nameAlg digest.
    if let Some(s) = sensitive.filter(|_| named) {
        if attr(public, TpmaObject::RESTRICTED)
            && attr(public, TpmaObject::DECRYPT)
            && (s.seed_value.len() < digest_size / 2 || s.seed_value.len() > digest_size)
        {
            return Err(TpmRc::SIZE.with_parameter(blame_sensitive));
        }
    }
    Ok(())
}

/// The checks of loading an object (the reference implementation's ObjectLoad):
/// attributes under `parent` (scheme rules only for public-only or unnamed objects), then the
/// keys. Codes carry their parameter numbers (or are bare where libtpms' are).
pub(super) fn load_checks(
    parent: Option<&Object>,
    public: &TpmtPublic,
    sensitive: Option<&TpmtSensitive>,
    blame_public: u8,
    blame_sensitive: u8,
) -> Result<(), TpmRc> {
    match sensitive {
        Some(s) if public.name_alg != TpmAlgId::NULL => {
            if s.seed_value.len() > name_digest_size(public) {
                return Err(TpmRc::KEY_SIZE.with_parameter(blame_sensitive));
            }
            public_attributes_validation(parent, public).map_err(|rc| blame(rc, blame_public))?;
        }
        _ => scheme_checks(None, public).map_err(|rc| blame(rc, blame_public))?,
    }
    validate_keys(public, sensitive, blame_public, blame_sensitive)
}

/// Our [`Sensitive`] from a TPMT_SENSITIVE (authValue trailing zeros removed).
pub(super) fn from_tpmt_sensitive(s: &TpmtSensitive) -> Sensitive {
    let auth = s.auth_value.as_bytes();
    let len = auth.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    Sensitive {
        auth: Zeroizing::new(auth[..len].to_vec()),
        seed_value: Zeroizing::new(s.seed_value.as_bytes().to_vec()),
        private: Zeroizing::new(composite_bytes(s).to_vec()),
    }
}

/// A storage parent loaded under handle 1 (TPM_RC_TYPE for handle 1 otherwise).
fn storage_parent(e: &Engine, h: TpmHandle) -> Result<&Object, TpmRc> {
    let parent = e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))?;
    if parent.is_storage_parent() {
        Ok(parent)
    } else {
        Err(TpmRc::TYPE.with_handle(1))
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// TPM2_CreatePrimary (part 3 §24.1).
fn create_primary(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let hierarchy = ctx.handles[0];
    let in_sensitive: Tpm2bSensitiveCreate = ctx.param()?;
    let in_public: Tpm2bPublic = ctx.param()?;
    check_supported(&in_public.public_area).map_err(|rc| rc.with_parameter(2))?;
    let outside_info: Tpm2bData = ctx.param()?;
    let creation_pcr = ctx.param_with(read_selection)?;
    ctx.finish()?;

    let handle = alloc_transient_handle(e)?;
    let template = in_public.public_area;
    let sc = in_sensitive.sensitive;
    create_checks(None, &template, sc.data.len()).map_err(|rc| blame(rc, 2))?;
    let auth = adjust_auth(sc.user_auth.as_bytes(), template.name_alg)
        .ok_or(TpmRc::SIZE.with_parameter(1))?;
    let name_alg = name_hash(&template).map_err(|rc| rc.with_parameter(2))?;

    // Everything random is derived from the seed and the template (module documentation).
    let template_name = compute_name(&template);
    let mut rng = KdfaStream::new(
        name_alg,
        e.state.seed(hierarchy),
        PRIMARY_LABEL,
        &template_name,
        sc.data.as_bytes(),
    );
    // RSA derivations are slow and deterministic: reuse a recent one (object::PrimaryCache).
    let rsa = matches!(template.detail, PublicDetail::Rsa { .. });
    let cache_key: Option<[u8; 32]> = rsa
        .then(|| {
            let d = digest(
                HashAlg::Sha256,
                &[
                    &name_alg.alg().0.to_be_bytes(),
                    e.state.seed(hierarchy),
                    &template_name,
                    sc.data.as_bytes(),
                ],
            );
            <[u8; 32]>::try_from(d.as_slice()).ok()
        })
        .flatten();
    let cached = cache_key.and_then(|k| e.primary_cache.get(&k));
    let (public, mut sensitive) = if let Some(hit) = cached {
        hit
    } else {
        let (public, sensitive) = generate(template, sc.data.as_bytes(), &mut rng)?;
        if let Some(k) = cache_key {
            e.primary_cache.insert(k, &public, &sensitive);
        }
        (public, sensitive)
    };
    sensitive.auth = auth;

    let (creation, creation_hash) =
        creation_data(e, name_alg, hierarchy, None, &creation_pcr, outside_info)?;
    let mut obj = Object::new(public, &hierarchy.0.to_be_bytes(), hierarchy, sensitive);
    obj.primary = true;
    let ticket = creation_ticket(e, hierarchy, &obj.name, &creation_hash);

    ctx.out_handle = Some(handle);
    ctx.put(&Tpm2bPublic::from(obj.public.clone()));
    ctx.put(&Tpm2bCreationData::from(creation));
    ctx.put(&Tpm2bDigest::new(&creation_hash).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&ticket);
    ctx.put(&Tpm2bName::new(&obj.name).map_err(|_| TpmRc::SIZE)?);
    e.state.vol.objects.insert(handle.0, obj);
    Ok(())
}

/// TPM2_Create (part 3 §12.1).
fn create(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let parent_handle = ctx.handles[0];
    let in_sensitive: Tpm2bSensitiveCreate = ctx.param()?;
    let in_public: Tpm2bPublic = ctx.param()?;
    check_supported(&in_public.public_area).map_err(|rc| rc.with_parameter(2))?;
    let outside_info: Tpm2bData = ctx.param()?;
    let creation_pcr = ctx.param_with(read_selection)?;
    ctx.finish()?;

    storage_parent(e, parent_handle)?;
    // The object is built in an object slot, even though it is not left loaded.
    alloc_transient_handle(e)?;
    let template = in_public.public_area;
    let sc = in_sensitive.sensitive;
    {
        let parent = storage_parent(e, parent_handle)?;
        create_checks(Some(parent), &template, sc.data.len()).map_err(|rc| blame(rc, 2))?;
    }
    let auth = adjust_auth(sc.user_auth.as_bytes(), template.name_alg)
        .ok_or(TpmRc::SIZE.with_parameter(1))?;
    let name_alg = name_hash(&template).map_err(|rc| rc.with_parameter(2))?;

    let seed = Zeroizing::new(e.random_vec(32));
    let mut iv = [0u8; IV_SIZE];
    e.random(&mut iv);
    let mut rng = KdfaStream::new(HashAlg::Sha256, &seed, CREATE_LABEL, &[], &[]);
    let (public, mut sensitive) = generate(template, sc.data.as_bytes(), &mut rng)?;
    sensitive.auth = auth;

    let parent = storage_parent(e, parent_handle)?;
    let (creation, creation_hash) = creation_data(
        e,
        name_alg,
        parent_handle,
        Some(parent),
        &creation_pcr,
        outside_info,
    )?;
    let name = compute_name(&public);
    let ticket = creation_ticket(e, parent.hierarchy, &name, &creation_hash);
    let private = sensitive_to_private(
        parent,
        &name,
        to_tpmt_sensitive(public.object_type(), public.name_alg, &sensitive)?,
        &iv,
    )?;

    ctx.put(&private);
    ctx.put(&Tpm2bPublic::from(public));
    ctx.put(&Tpm2bCreationData::from(creation));
    ctx.put(&Tpm2bDigest::new(&creation_hash).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&ticket);
    Ok(())
}

/// TPM2_Load (part 3 §12.2).
fn load(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let parent_handle = ctx.handles[0];
    let in_private: Tpm2bPrivate = ctx.param()?;
    let in_public: Tpm2bPublic = ctx.param()?;
    check_supported(&in_public.public_area).map_err(|rc| rc.with_parameter(2))?;
    ctx.finish()?;

    let handle = alloc_transient_handle(e)?;
    if in_private.is_empty() {
        return Err(TpmRc::SIZE.with_parameter(1));
    }
    let parent = storage_parent(e, parent_handle)?;
    let public = in_public.public_area;
    let name = compute_name(&public);
    let sensitive =
        private_to_sensitive(parent, &name, in_private.as_bytes()).map_err(|rc| blame(rc, 1))?;
    load_checks(Some(parent), &public, Some(&sensitive), 2, 1)?;

    let obj = Object::new(
        public,
        &parent.qualified_name,
        parent.hierarchy,
        from_tpmt_sensitive(&sensitive),
    );
    ctx.out_handle = Some(handle);
    ctx.put(&Tpm2bName::new(&obj.name).map_err(|_| TpmRc::SIZE)?);
    e.state.vol.objects.insert(handle.0, obj);
    Ok(())
}

/// TPM2_LoadExternal (part 3 §12.3).
fn load_external(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let in_private: Tpm2bSensitive = ctx.param()?;
    let in_public: Tpm2bPublic = ctx.param_with(Tpm2bPublic::unmarshal_allow_null)?;
    check_supported(&in_public.public_area).map_err(|rc| rc.with_parameter(2))?;
    let hierarchy: TpmHandle =
        ctx.param_with(|r| check_hierarchy_allow_null(TpmHandle::unmarshal(r)?))?;
    ctx.finish()?;

    let handle = alloc_transient_handle(e)?;
    if !hierarchy_enabled(e, hierarchy) {
        return Err(TpmRc::HIERARCHY.with_parameter(3));
    }
    let public = in_public.public_area;
    let sensitive = in_private.sensitive_area;
    if sensitive.is_some() {
        // A key whose private part the caller knows lives only in the NULL hierarchy and may
        // not look like a key of this TPM.
        if hierarchy != TpmHandle::NULL {
            return Err(TpmRc::HIERARCHY.with_parameter(3));
        }
        if attr(&public, TpmaObject::FIXED_TPM)
            || attr(&public, TpmaObject::FIXED_PARENT)
            || attr(&public, TpmaObject::RESTRICTED)
        {
            return Err(TpmRc::ATTRIBUTES.with_parameter(2));
        }
    }
    load_checks(None, &public, sensitive.as_ref(), 2, 1)?;

    let mut obj = Object::new(
        public,
        &[],
        hierarchy,
        sensitive
            .as_ref()
            .map(from_tpmt_sensitive)
            .unwrap_or_default(),
    );
    // An external object's Qualified Name is its Name (as libtpms reports it).
    obj.qualified_name.clone_from(&obj.name);
    obj.public_only = sensitive.is_none();
    ctx.out_handle = Some(handle);
    ctx.put(&Tpm2bName::new(&obj.name).map_err(|_| TpmRc::SIZE)?);
    e.state.vol.objects.insert(handle.0, obj);
    Ok(())
}

/// Whether `obj` is a derivation parent (part 1 "Derivation Parent": a loaded restricted
/// decryption keyed-hash object with its sensitive area; the XOR scheme with KDF1_SP800_108 is
/// enforced at creation).
fn is_derivation_parent(obj: &Object) -> bool {
    obj.has(TpmaObject::RESTRICTED | TpmaObject::DECRYPT)
        && obj.public.object_type() == TpmAlgId::KEYEDHASH
        && !obj.public_only
        && obj.sequence.is_none()
}

/// TPM2_CreateLoaded (part 3 §12.9): an object created under a storage parent (returned
/// protected and loaded), a primary object (parent a hierarchy), or an object derived from a
/// derivation parent; in the last two cases outPrivate is empty.
fn create_loaded(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let parent_handle = ctx.handles[0];
    let in_sensitive: Tpm2bSensitiveCreate = ctx.param()?;
    let in_public: Tpm2bTemplate = ctx.param()?;
    ctx.finish()?;

    let parent = e.state.object(parent_handle);
    let derivation = parent.is_some_and(is_derivation_parent);
    if parent.is_some_and(|p| !p.is_storage_parent()) && !derivation {
        return Err(TpmRc::TYPE.with_handle(1));
    }
    let handle = alloc_transient_handle(e)?;
    let (template, derive) = if derivation {
        let (t, d) = TpmtPublic::unmarshal_derivation_template(in_public.as_bytes())
            .map_err(|err| wire_rc(&err).with_parameter(2))?;
        (t, Some(d))
    } else {
        let t = in_public
            .to_public()
            .map_err(|err| wire_rc(&err).with_parameter(2))?;
        (t, None)
    };
    check_supported(&template).map_err(|rc| rc.with_parameter(2))?;
    let sc = in_sensitive.sensitive;
    let auth = adjust_auth(sc.user_auth.as_bytes(), template.name_alg)
        .ok_or(TpmRc::SIZE.with_parameter(1))?;
    let name_alg = name_hash(&template).map_err(|rc| rc.with_parameter(2))?;

    let parent = e.state.object(parent_handle);
    let (mut rng, data): (KdfaStream, &[u8]) = match (parent, derive) {
        (Some(p), Some(derive)) => {
            if template.object_type() == TpmAlgId::RSA {
                return Err(TpmRc::TYPE.with_parameter(2));
            }
            if attr(&template, TpmaObject::SENSITIVE_DATA_ORIGIN) {
                return Err(TpmRc::ATTRIBUTES);
            }
            public_attributes_validation(Some(p), &template).map_err(|rc| blame(rc, 2))?;
            // inSensitive.data may carry a TPMS_DERIVE whose non-empty members win.
            let (mut label, mut context) = (derive.label, derive.context);
            if !sc.data.is_empty() {
                let over = TpmsDerive::from_bytes(sc.data.as_bytes()).map_err(|_| TpmRc::VALUE)?;
                if !over.label.is_empty() {
                    label = over.label;
                }
                if !over.context.is_empty() {
                    context = over.context;
                }
            }
            let PublicDetail::KeyedHash { parameters, .. } = &p.public.detail else {
                return Err(TpmRc::TYPE.with_handle(1));
            };
            let TpmtKeyedhashScheme::Xor(xor) = &parameters.scheme else {
                return Err(TpmRc::TYPE.with_handle(1));
            };
            let hash = HashAlg::from_alg(xor.hash_alg).ok_or(TpmRc::HASH)?;
            let rng = KdfaStream::new(
                hash,
                &p.sensitive.private,
                label.as_bytes(),
                context.as_bytes(),
                &[],
            );
            (rng, &[][..])
        }
        (Some(p), None) => {
            create_checks(Some(p), &template, sc.data.len()).map_err(|rc| blame(rc, 2))?;
            let seed = Zeroizing::new(e.random_vec(32));
            let rng = KdfaStream::new(HashAlg::Sha256, &seed, CREATE_LABEL, &[], &[]);
            (rng, sc.data.as_bytes())
        }
        (None, _) => {
            create_checks(None, &template, sc.data.len()).map_err(|rc| blame(rc, 2))?;
            let rng = KdfaStream::new(
                name_alg,
                e.state.seed(parent_handle),
                PRIMARY_LABEL,
                &compute_name(&template),
                sc.data.as_bytes(),
            );
            (rng, sc.data.as_bytes())
        }
    };
    let (public, mut sensitive) = generate(template, data, &mut rng)?;
    sensitive.auth = auth;

    let mut iv = [0u8; IV_SIZE];
    e.random(&mut iv);
    let parent = e.state.object(parent_handle);
    let name = compute_name(&public);
    let private = match parent.filter(|_| !derivation) {
        Some(p) => sensitive_to_private(
            p,
            &name,
            to_tpmt_sensitive(public.object_type(), public.name_alg, &sensitive)?,
            &iv,
        )?,
        None => Tpm2bPrivate::empty(),
    };
    let handle_qn = parent_handle.0.to_be_bytes();
    let (parent_qn, hierarchy) = match parent {
        Some(p) => (&p.qualified_name[..], p.hierarchy),
        None => (&handle_qn[..], parent_handle),
    };
    let mut obj = Object::new(public, parent_qn, hierarchy, sensitive);
    obj.primary = parent.is_none();

    ctx.out_handle = Some(handle);
    ctx.put(&private);
    ctx.put(&Tpm2bPublic::from(obj.public.clone()));
    ctx.put(&Tpm2bName::new(&obj.name).map_err(|_| TpmRc::SIZE)?);
    e.state.vol.objects.insert(handle.0, obj);
    Ok(())
}

/// TPM2_ReadPublic (part 3 §12.4).
fn read_public(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let obj = e
        .state
        .object(ctx.handles[0])
        .ok_or(TpmRc::HANDLE.with_handle(1))?;
    if obj.sequence.is_some() {
        return Err(TpmRc::SEQUENCE);
    }
    let public = Tpm2bPublic::from(obj.public.clone());
    let name = Tpm2bName::new(&obj.name).map_err(|_| TpmRc::SIZE)?;
    let qn = Tpm2bName::new(&obj.qualified_name).map_err(|_| TpmRc::SIZE)?;
    ctx.put(&public);
    ctx.put(&name);
    ctx.put(&qn);
    Ok(())
}

/// TPM2_ObjectChangeAuth (part 3 §12.6): the object's sensitive area with a new authValue,
/// protected under `parentHandle` (which must be the object's parent).
fn object_change_auth(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let new_auth: Tpm2bAuth = ctx.param()?;
    ctx.finish()?;
    let mut iv = [0u8; IV_SIZE];
    e.random(&mut iv);
    let obj = e
        .state
        .object(ctx.handles[0])
        .ok_or(TpmRc::HANDLE.with_handle(1))?;
    if obj.sequence.is_some() {
        return Err(TpmRc::TYPE.with_handle(1));
    }
    let auth = adjust_auth(new_auth.as_bytes(), obj.public.name_alg)
        .ok_or(TpmRc::SIZE.with_parameter(1))?;
    // The parent is checked through the Qualified Name.
    let parent_handle = ctx.handles[1];
    let parent = e
        .state
        .object(parent_handle)
        .ok_or(TpmRc::HANDLE.with_handle(2))?;
    let qn = qualified_name(obj.public.name_alg, &parent.qualified_name, &obj.name);
    if qn != obj.qualified_name || !parent.is_storage_parent() {
        return Err(TpmRc::TYPE.with_handle(2));
    }
    let mut sensitive = obj.sensitive.clone();
    sensitive.auth = auth;
    let private = sensitive_to_private(
        parent,
        &obj.name,
        to_tpmt_sensitive(obj.public.object_type(), obj.public.name_alg, &sensitive)?,
        &iv,
    )?;
    ctx.put(&private);
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::many_single_char_names
    )]

    use super::*;
    use alloc::vec;
    use hmac::Mac;
    use sha2::Digest;
    use tpm2::response::Response;
    use tpm2::structures::{TpmsEccPoint, TpmtTkCreation};

    use crate::engine::crypto::ecc::EccPoint;
    use crate::engine::testutil::{
        TestPlatform, engine, expect_rc, fresh_engine, ok_params, pw, pw_with, run,
    };

    pub(crate) const FIXED_TPM: u32 = TpmaObject::FIXED_TPM;
    pub(crate) const FIXED_PARENT: u32 = TpmaObject::FIXED_PARENT;
    pub(crate) const SDO: u32 = TpmaObject::SENSITIVE_DATA_ORIGIN;
    pub(crate) const UWA: u32 = TpmaObject::USER_WITH_AUTH;
    pub(crate) const RESTRICTED: u32 = TpmaObject::RESTRICTED;
    pub(crate) const DECRYPT: u32 = TpmaObject::DECRYPT;
    pub(crate) const SIGN: u32 = TpmaObject::SIGN;
    pub(crate) const STORAGE: u32 = FIXED_TPM | FIXED_PARENT | SDO | UWA | RESTRICTED | DECRYPT;
    pub(crate) const NULL: [u8; 2] = [0x00, 0x10];

    pub(crate) fn b2(v: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(v.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(v);
        out
    }

    pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// TPMT_SYM_DEF_OBJECT bytes: AES with `bits` and `mode`, or NULL.
    pub(crate) fn aes(bits: u16, mode: u16) -> Vec<u8> {
        cat(&[&[0, 6], &bits.to_be_bytes(), &mode.to_be_bytes()])
    }

    /// TPMT_PUBLIC bytes of an RSA key.
    pub(crate) fn rsa_template(attrs: u32, sym: &[u8], scheme: &[u8], bits: u16) -> Vec<u8> {
        rsa_template_with(attrs, sym, scheme, bits, 0, &[])
    }

    pub(crate) fn rsa_template_with(
        attrs: u32,
        sym: &[u8],
        scheme: &[u8],
        bits: u16,
        exponent: u32,
        unique: &[u8],
    ) -> Vec<u8> {
        cat(&[
            &[0, 1, 0, 0x0b],
            &attrs.to_be_bytes(),
            &b2(&[]),
            sym,
            scheme,
            &bits.to_be_bytes(),
            &exponent.to_be_bytes(),
            &b2(unique),
        ])
    }

    /// TPMT_PUBLIC bytes of a NIST P-256 key.
    pub(crate) fn ecc_template(attrs: u32, sym: &[u8], scheme: &[u8]) -> Vec<u8> {
        cat(&[
            &[0, 0x23, 0, 0x0b],
            &attrs.to_be_bytes(),
            &b2(&[]),
            sym,
            scheme,
            &[0, 3],
            &NULL,
            &b2(&[]),
            &b2(&[]),
        ])
    }

    /// TPMT_PUBLIC bytes of a keyed-hash object.
    pub(crate) fn keyedhash_template(attrs: u32, scheme: &[u8]) -> Vec<u8> {
        cat(&[
            &[0, 8, 0, 0x0b],
            &attrs.to_be_bytes(),
            &b2(&[]),
            scheme,
            &b2(&[]),
        ])
    }

    /// TPMT_PUBLIC bytes of a symmetric cipher key.
    pub(crate) fn sym_template(attrs: u32, sym: &[u8]) -> Vec<u8> {
        cat(&[
            &[0, 0x25, 0, 0x0b],
            &attrs.to_be_bytes(),
            &b2(&[]),
            sym,
            &b2(&[]),
        ])
    }

    pub(crate) const HMAC_SHA256: [u8; 4] = [0, 5, 0, 0x0b];
    pub(crate) const RSASSA_SHA256: [u8; 4] = [0, 0x14, 0, 0x0b];
    pub(crate) const ECDSA_SHA256: [u8; 4] = [0, 0x18, 0, 0x0b];

    /// The parameters of TPM2_CreatePrimary / TPM2_Create.
    pub(crate) fn create_params(auth: &[u8], data: &[u8], template: &[u8]) -> Vec<u8> {
        cat(&[
            &b2(&cat(&[&b2(auth), &b2(data)])),
            &b2(template),
            &b2(&[]),
            &[0, 0, 0, 0],
        ])
    }

    /// What TPM2_CreatePrimary returned.
    pub(crate) struct Primary {
        pub handle: TpmHandle,
        pub public: TpmtPublic,
        pub creation: TpmsCreationData,
        pub creation_hash: Vec<u8>,
        pub ticket: TpmtTkCreation,
        pub name: Vec<u8>,
    }

    pub(crate) fn create_primary_raw(
        e: &mut Engine,
        hierarchy: TpmHandle,
        params: &[u8],
    ) -> Primary {
        let (rc, rsp) = run(e, TpmCc::CREATE_PRIMARY, &[hierarchy], &[pw()], params);
        assert_eq!(rc, TpmRc::SUCCESS, "CreatePrimary: {rc}");
        let r = Response::parse(&rsp, TpmCc::CREATE_PRIMARY).unwrap();
        let mut p = Reader::new(r.parameters);
        let public = Tpm2bPublic::unmarshal(&mut p).unwrap().public_area;
        let creation = Tpm2bCreationData::unmarshal(&mut p).unwrap().creation_data;
        let creation_hash = Tpm2bDigest::unmarshal(&mut p).unwrap().as_bytes().to_vec();
        let ticket = TpmtTkCreation::unmarshal(&mut p).unwrap();
        let name = Tpm2bName::unmarshal(&mut p).unwrap().as_bytes().to_vec();
        assert!(p.is_empty());
        Primary {
            handle: r.handle.unwrap(),
            public,
            creation,
            creation_hash,
            ticket,
            name,
        }
    }

    pub(crate) fn create_primary(e: &mut Engine, template: &[u8]) -> Primary {
        create_primary_raw(e, TpmHandle::OWNER, &create_params(&[], &[], template))
    }

    /// An RSA-2048 storage primary (AES-128-CFB) in the owner hierarchy.
    pub(crate) fn storage_primary(e: &mut Engine) -> Primary {
        create_primary(e, &rsa_template(STORAGE, &aes(128, 0x43), &NULL, 2048))
    }

    /// What TPM2_Create returned: outPrivate, outPublic (as sent back to TPM2_Load).
    pub(crate) fn create(
        e: &mut Engine,
        parent: TpmHandle,
        auth: &[u8],
        data: &[u8],
        template: &[u8],
    ) -> (Vec<u8>, Vec<u8>, TpmsCreationData, Vec<u8>, TpmtTkCreation) {
        let p = ok_params(
            e,
            TpmCc::CREATE,
            &[parent],
            &[pw()],
            &create_params(auth, data, template),
        );
        let mut r = Reader::new(&p);
        let private = Tpm2bPrivate::unmarshal(&mut r).unwrap().to_bytes();
        let public = Tpm2bPublic::unmarshal(&mut r).unwrap().to_bytes();
        let creation = Tpm2bCreationData::unmarshal(&mut r).unwrap().creation_data;
        let hash = Tpm2bDigest::unmarshal(&mut r).unwrap().as_bytes().to_vec();
        let ticket = TpmtTkCreation::unmarshal(&mut r).unwrap();
        assert!(r.is_empty());
        (private, public, creation, hash, ticket)
    }

    /// TPM2_Load; returns the handle and the Name.
    pub(crate) fn load(
        e: &mut Engine,
        parent: TpmHandle,
        private: &[u8],
        public: &[u8],
    ) -> (TpmHandle, Vec<u8>) {
        let (rc, rsp) = run(e, TpmCc::LOAD, &[parent], &[pw()], &cat(&[private, public]));
        assert_eq!(rc, TpmRc::SUCCESS, "Load: {rc}");
        let r = Response::parse(&rsp, TpmCc::LOAD).unwrap();
        let name = Tpm2bName::from_bytes(r.parameters)
            .unwrap()
            .as_bytes()
            .to_vec();
        (r.handle.unwrap(), name)
    }

    pub(crate) fn flush(e: &mut Engine, h: TpmHandle) {
        ok_params(e, TpmCc::FLUSH_CONTEXT, &[], &[], &h.0.to_be_bytes());
    }

    fn sha256(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }

    fn p2(rc: TpmRc) -> TpmRc {
        rc.with_parameter(2)
    }

    #[test]
    fn create_primary_outputs_are_consistent() {
        let mut e = engine();
        let p = storage_primary(&mut e);
        assert_eq!(p.handle, TpmHandle(0x8000_0000));
        // The TPM filled in the modulus and kept the rest of the template.
        let PublicDetail::Rsa { parameters, unique } = &p.public.detail else {
            panic!()
        };
        assert_eq!(unique.len(), 256);
        assert!(unique.as_bytes()[0] >= 0x80);
        assert_eq!(parameters.symmetric, TpmtSymDefObject::AES_128_CFB);
        assert_eq!(p.public.object_attributes, TpmaObject(STORAGE));
        // Name = nameAlg || SHA-256(public area).
        assert_eq!(p.name, cat(&[&[0, 0x0b], &sha256(&[&p.public.to_bytes()])]));
        // Creation data: parent is the hierarchy, locality 0, no PCRs.
        let c = &p.creation;
        assert_eq!(c.parent_name_alg, TpmAlgId::NULL);
        assert_eq!(c.parent_name.as_bytes(), &[0x40, 0, 0, 1]);
        assert_eq!(c.parent_qualified_name.as_bytes(), &[0x40, 0, 0, 1]);
        assert_eq!(c.locality, TpmaLocality(1));
        assert_eq!(c.pcr_digest.as_bytes(), &sha256(&[])[..]);
        assert_eq!(p.creation_hash, sha256(&[&c.to_bytes()]));
        // Ticket = HMAC-SHA-512(shProof, TPM_ST_CREATION || name || creationHash).
        let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(&e.state.perm.sh_proof).unwrap();
        mac.update(&[0x80, 0x21]);
        mac.update(&p.name);
        mac.update(&p.creation_hash);
        assert_eq!(p.ticket.hierarchy, TpmHandle::OWNER);
        assert_eq!(p.ticket.digest.as_bytes(), &mac.finalize().into_bytes()[..]);
        // The loaded object: the prime divides the modulus, seedValue is a SHA-256 digest.
        let obj = e.state.object(p.handle).unwrap();
        assert!(obj.primary);
        assert_eq!(obj.sensitive.seed_value.len(), 32);
        let n = rsa::BigUint::from_bytes_be(unique.as_bytes());
        let prime = rsa::BigUint::from_bytes_be(&obj.sensitive.private);
        assert_eq!(obj.sensitive.private.len(), 128);
        assert_eq!(&n % &prime, rsa::BigUint::from(0u32));
        assert_eq!(
            obj.qualified_name,
            cat(&[&[0, 0x0b], &sha256(&[&[0x40, 0, 0, 1], &p.name])])
        );
    }

    #[test]
    fn create_primary_is_deterministic() {
        let t = rsa_template(STORAGE, &aes(128, 0x43), &NULL, 2048);
        let mut e = engine();
        let a = create_primary(&mut e, &t);
        let b = create_primary(&mut e, &t);
        assert_eq!(a.public, b.public);
        assert_eq!(a.name, b.name);
        assert_eq!(
            e.state.object(a.handle).unwrap().sensitive.seed_value,
            e.state.object(b.handle).unwrap().sensitive.seed_value
        );
        // `b` came from the primary cache; a copy of the TPM (its cache starts empty) derives
        // the same key afresh.
        let mut copy = Engine::restore(&e.save_state(), Box::new(TestPlatform::new(7))).unwrap();
        flush(&mut copy, b.handle);
        let fresh = create_primary(&mut copy, &t);
        assert_eq!(a.public, fresh.public);
        assert_eq!(
            e.state.object(a.handle).unwrap().sensitive.private,
            copy.state.object(fresh.handle).unwrap().sensitive.private
        );
        // A different unique gives another key, as does another hierarchy or another TPM.
        let t2 = rsa_template_with(STORAGE, &aes(128, 0x43), &NULL, 2048, 0, b"other");
        flush(&mut e, b.handle);
        let c = create_primary(&mut e, &t2);
        assert_ne!(a.public.detail, c.public.detail);
        flush(&mut e, c.handle);
        let d = create_primary_raw(&mut e, TpmHandle::ENDORSEMENT, &create_params(&[], &[], &t));
        assert_ne!(a.public, d.public);
        let mut other = fresh_engine(99);
        expect_rc(
            &mut other,
            TpmCc::STARTUP,
            &[],
            &[],
            &[0, 0],
            TpmRc::SUCCESS,
        );
        let f = create_primary(&mut other, &t);
        assert_ne!(a.public, f.public);
        // The sensitive data is part of the derivation; the authValue is not.
        flush(&mut e, d.handle);
        let g = create_primary_raw(&mut e, TpmHandle::OWNER, &create_params(b"pw", &[], &t));
        assert_eq!(a.public, g.public);
        flush(&mut e, g.handle);
        let h = create_primary_raw(&mut e, TpmHandle::OWNER, &create_params(&[], b"x", &t));
        assert_ne!(a.public, h.public);
        // ECC and symmetric primaries are deterministic too.
        flush(&mut e, h.handle);
        flush(&mut e, a.handle);
        let ecc = ecc_template(STORAGE, &aes(128, 0x43), &NULL);
        let x = create_primary(&mut e, &ecc);
        let y = create_primary(&mut e, &ecc);
        assert_eq!(x.public, y.public);
        flush(&mut e, x.handle);
        flush(&mut e, y.handle);
        let hmac_t = keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        let x = create_primary(&mut e, &hmac_t);
        let y = create_primary(&mut e, &hmac_t);
        assert_eq!(x.public, y.public);
    }

    #[test]
    fn ecc_primary_point_is_the_public_key() {
        let mut e = engine();
        let p = create_primary(&mut e, &ecc_template(STORAGE, &aes(128, 0x43), &NULL));
        let PublicDetail::Ecc { unique, .. } = &p.public.detail else {
            panic!()
        };
        let obj = e.state.object(p.handle).unwrap();
        let sk = p256::SecretKey::from_slice(&obj.sensitive.private).unwrap();
        let point =
            p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&sk.public_key(), false);
        assert_eq!(unique.x.as_bytes(), point.x().unwrap().as_slice());
        assert_eq!(unique.y.as_bytes(), point.y().unwrap().as_slice());
        assert_eq!(obj.sensitive.seed_value.len(), 32);
        // A signing key keeps no seed.
        let s = create_primary(
            &mut e,
            &ecc_template(
                FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN,
                &NULL,
                &ECDSA_SHA256,
            ),
        );
        assert!(
            e.state
                .object(s.handle)
                .unwrap()
                .sensitive
                .seed_value
                .is_empty()
        );
        assert_eq!(
            ecc_public(&s.public),
            crate::engine::object::ecc_private(e.state.object(s.handle).unwrap())
                .unwrap()
                .public()
        );
    }

    fn ecc_public(p: &TpmtPublic) -> EccPoint {
        let PublicDetail::Ecc { unique, .. } = &p.detail else {
            panic!()
        };
        EccPoint {
            x: unique.x.as_bytes().to_vec(),
            y: unique.y.as_bytes().to_vec(),
        }
    }

    #[test]
    fn symmetric_unique_binds_seed_and_key() {
        let mut e = engine();
        let fixed = FIXED_TPM | FIXED_PARENT | UWA;
        for template in [
            keyedhash_template(fixed | SDO | SIGN, &HMAC_SHA256),
            sym_template(fixed | SDO | SIGN | DECRYPT, &aes(256, 0x40)),
        ] {
            let p = create_primary(&mut e, &template);
            let obj = e.state.object(p.handle).unwrap();
            let unique = match &p.public.detail {
                PublicDetail::KeyedHash { unique, .. } | PublicDetail::SymCipher { unique, .. } => {
                    unique.as_bytes().to_vec()
                }
                _ => panic!(),
            };
            assert_eq!(obj.sensitive.private.len(), 32);
            assert_eq!(
                unique,
                sha256(&[&obj.sensitive.seed_value, &obj.sensitive.private])
            );
            flush(&mut e, p.handle);
        }
        // Sealed data keeps the caller's bytes.
        let p = create_primary_raw(
            &mut e,
            TpmHandle::OWNER,
            &create_params(b"auth\0\0", b"secret", &keyedhash_template(fixed, &NULL)),
        );
        let obj = e.state.object(p.handle).unwrap();
        assert_eq!(&obj.sensitive.private[..], b"secret");
        assert_eq!(
            &obj.sensitive.auth[..],
            b"auth",
            "trailing zeros are removed"
        );
    }

    /// (description, inSensitive data, template bytes, expected code) checked against swtpm
    /// 0.7.1 / libtpms 0.9 (the same table runs against swtpm in tests/objects_vs_swtpm.rs).
    pub(crate) fn bad_templates() -> Vec<(&'static str, Vec<u8>, Vec<u8>, TpmRc)> {
        let f = FIXED_TPM | FIXED_PARENT;
        let sign_key = f | SDO | UWA | SIGN;
        let cfb = aes(128, 0x43);
        let rsa = |attrs, sym: &[u8], scheme: &[u8]| rsa_template(attrs, sym, scheme, 2048);
        vec![
            (
                "fixedTPM without fixedParent",
                vec![],
                rsa(STORAGE & !FIXED_PARENT, &cfb, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "fixedParent without fixedTPM",
                vec![],
                rsa(STORAGE & !FIXED_TPM, &cfb, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "restricted sign and decrypt",
                vec![],
                rsa(STORAGE | SIGN, &cfb, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "restricted, neither sign nor decrypt",
                vec![],
                rsa(STORAGE & !DECRYPT, &cfb, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "RSA neither sign nor decrypt",
                vec![],
                rsa(f | SDO | UWA, &NULL, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "storage key without symmetric",
                vec![],
                rsa(STORAGE, &NULL, &NULL),
                p2(TpmRc::SYMMETRIC),
            ),
            (
                "signing key with symmetric",
                vec![],
                rsa(sign_key, &cfb, &NULL),
                p2(TpmRc::SYMMETRIC),
            ),
            (
                "restricted signing key without scheme",
                vec![],
                rsa(sign_key | RESTRICTED, &NULL, &NULL),
                p2(TpmRc::SCHEME),
            ),
            (
                "signing key with OAEP",
                vec![],
                rsa(sign_key, &NULL, &[0, 0x17, 0, 0x0b]),
                p2(TpmRc::SCHEME),
            ),
            (
                "decryption key with RSASSA",
                vec![],
                rsa(f | SDO | UWA | DECRYPT, &NULL, &RSASSA_SHA256),
                p2(TpmRc::SCHEME),
            ),
            (
                "sign+decrypt with a scheme",
                vec![],
                rsa(sign_key | DECRYPT, &NULL, &RSASSA_SHA256),
                p2(TpmRc::SCHEME),
            ),
            (
                "storage key with OAEP",
                vec![],
                rsa(STORAGE, &cfb, &[0, 0x17, 0, 0x0b]),
                p2(TpmRc::SCHEME),
            ),
            (
                "RSA without sensitiveDataOrigin",
                vec![],
                rsa(STORAGE & !SDO, &cfb, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "RSA with data, no sensitiveDataOrigin",
                b"abcd".to_vec(),
                rsa(STORAGE & !SDO, &cfb, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "nameAlg SM3",
                vec![],
                cat(&[&[0, 1, 0, 0x12], &rsa(STORAGE, &cfb, &NULL)[4..]]),
                p2(TpmRc::HASH),
            ),
            (
                "nameAlg NULL",
                vec![],
                cat(&[&[0, 1, 0, 0x10], &rsa(STORAGE, &cfb, &NULL)[4..]]),
                p2(TpmRc::HASH),
            ),
            (
                "RSA-1000",
                vec![],
                rsa_template(STORAGE, &cfb, &NULL, 1000),
                p2(TpmRc::VALUE),
            ),
            (
                "RSA-4096",
                vec![],
                rsa_template(STORAGE, &cfb, &NULL, 4096),
                p2(TpmRc::VALUE),
            ),
            (
                "exponent 3",
                vec![],
                rsa_template_with(STORAGE, &cfb, &NULL, 2048, 3, &[]),
                TpmRc::RANGE,
            ),
            (
                "exponent 65541 (not prime)",
                vec![],
                rsa_template_with(STORAGE, &cfb, &NULL, 2048, 65541, &[]),
                TpmRc::RANGE,
            ),
            (
                "authPolicy of 5 bytes",
                vec![],
                cat(&[
                    &rsa(STORAGE, &cfb, &NULL)[..8],
                    &b2(b"12345"),
                    &rsa(STORAGE, &cfb, &NULL)[10..],
                ]),
                p2(TpmRc::SIZE),
            ),
            (
                "encryptedDuplication with fixedTPM",
                vec![],
                rsa(STORAGE | TpmaObject::ENCRYPTED_DUPLICATION, &cfb, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "AES-192 storage key",
                vec![],
                rsa(STORAGE, &aes(192, 0x43), &NULL),
                p2(TpmRc::VALUE),
            ),
            (
                "AES-100",
                vec![],
                rsa(STORAGE, &aes(100, 0x43), &NULL),
                p2(TpmRc::VALUE),
            ),
            (
                "SM4 storage key",
                vec![],
                rsa(STORAGE, &[0, 0x13, 0, 128, 0, 0x43], &NULL),
                p2(TpmRc::SYMMETRIC),
            ),
            (
                "XOR as object cipher",
                vec![],
                rsa(STORAGE, &[0, 0x0a, 0, 0x0b, 0, 0x43], &NULL),
                p2(TpmRc::SYMMETRIC),
            ),
            (
                "bad cipher mode",
                vec![],
                rsa(STORAGE, &aes(128, 0x01), &NULL),
                p2(TpmRc::MODE),
            ),
            (
                "RSA key with ECDSA scheme",
                vec![],
                rsa(sign_key, &NULL, &ECDSA_SHA256),
                p2(TpmRc::VALUE),
            ),
            (
                "RSASSA with hash NULL",
                vec![],
                rsa(sign_key, &NULL, &[0, 0x14, 0, 0x10]),
                p2(TpmRc::HASH),
            ),
            (
                "ECC curve NONE",
                vec![],
                cat(&[
                    &ecc_template(STORAGE, &cfb, &NULL)[..18],
                    &[0, 0],
                    &ecc_template(STORAGE, &cfb, &NULL)[20..],
                ]),
                p2(TpmRc::CURVE),
            ),
            (
                "ECC with a KDF",
                vec![],
                cat(&[
                    &ecc_template(STORAGE, &cfb, &NULL)[..20],
                    &[0, 0x22, 0, 0x0b],
                    &ecc_template(STORAGE, &cfb, &NULL)[22..],
                ]),
                p2(TpmRc::KDF),
            ),
            (
                "ECC signing key with ECDH",
                vec![],
                ecc_template(sign_key, &NULL, &[0, 0x19, 0, 0x0b]),
                p2(TpmRc::SCHEME),
            ),
            (
                "ECC decryption key with ECDSA",
                vec![],
                ecc_template(f | SDO | UWA | DECRYPT, &NULL, &ECDSA_SHA256),
                p2(TpmRc::SCHEME),
            ),
            (
                "ECC restricted signing key without scheme",
                vec![],
                ecc_template(sign_key | RESTRICTED, &NULL, &NULL),
                p2(TpmRc::SCHEME),
            ),
            (
                "ECC key with RSASSA",
                vec![],
                ecc_template(sign_key, &NULL, &RSASSA_SHA256),
                p2(TpmRc::SCHEME),
            ),
            (
                "HMAC key with XOR",
                vec![],
                keyedhash_template(f | SDO | UWA | SIGN, &[0, 0x0a, 0, 0x0b, 0, 0x22]),
                p2(TpmRc::SCHEME),
            ),
            (
                "keyed-hash with RSASSA",
                vec![],
                keyedhash_template(f | SDO | UWA | SIGN, &RSASSA_SHA256),
                p2(TpmRc::VALUE),
            ),
            (
                "sealed data generated by the TPM",
                vec![],
                keyedhash_template(f | SDO | UWA, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "sealed data with HMAC scheme",
                b"x".to_vec(),
                keyedhash_template(f | UWA, &HMAC_SHA256),
                p2(TpmRc::SCHEME),
            ),
            (
                "sealed object without data",
                vec![],
                keyedhash_template(f | UWA, &NULL),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "derivation parent with KDF1_SP800_56A",
                vec![],
                keyedhash_template(
                    f | SDO | UWA | RESTRICTED | DECRYPT,
                    &[0, 0x0a, 0, 0x0b, 0, 0x20],
                ),
                p2(TpmRc::SCHEME),
            ),
            (
                "HMAC key of 65 bytes",
                vec![b'a'; 65],
                keyedhash_template(f | UWA | SIGN, &HMAC_SHA256),
                TpmRc::SIZE,
            ),
            (
                "AES key of 10 bytes",
                vec![b'k'; 10],
                sym_template(f | UWA | DECRYPT | SIGN, &cfb),
                TpmRc::KEY_SIZE,
            ),
            (
                "AES decryption key in CMAC mode",
                vec![],
                sym_template(f | SDO | UWA | DECRYPT | SIGN, &aes(128, 0x3f)),
                p2(TpmRc::SCHEME),
            ),
            (
                "AES key neither sign nor decrypt",
                vec![],
                sym_template(f | SDO | UWA, &cfb),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "restricted AES key with fixed data",
                vec![b'k'; 16],
                sym_template(f | UWA | RESTRICTED | DECRYPT, &cfb),
                p2(TpmRc::ATTRIBUTES),
            ),
            (
                "object type 6",
                vec![],
                cat(&[&[0, 6], &rsa(STORAGE, &cfb, &NULL)[2..]]),
                p2(TpmRc::TYPE),
            ),
            (
                "reserved attribute bit 0",
                vec![],
                rsa(STORAGE | 1, &cfb, &NULL),
                p2(TpmRc::RESERVED_BITS),
            ),
            (
                "keyed-hash unique of 70 bytes",
                vec![],
                cat(&[
                    &keyedhash_template(f | SDO | UWA | SIGN, &HMAC_SHA256)[..14],
                    &b2(&[b'a'; 70]),
                ]),
                p2(TpmRc::SIZE),
            ),
            (
                "byte after the public area",
                vec![],
                cat(&[&rsa(STORAGE, &cfb, &NULL), &[0]]),
                p2(TpmRc::SIZE),
            ),
        ]
    }

    #[test]
    fn bad_templates_give_libtpms_codes() {
        let mut e = engine();
        for (what, data, template, want) in bad_templates() {
            let (rc, _) = run(
                &mut e,
                TpmCc::CREATE_PRIMARY,
                &[TpmHandle::OWNER],
                &[pw()],
                &create_params(&[], &data, &template),
            );
            assert_eq!(rc, want, "{what}: got {rc}, want {want}");
        }
        assert!(e.state.vol.objects.is_empty());
    }

    #[test]
    fn sensitive_parameter_errors() {
        let mut e = engine();
        let t = rsa_template(STORAGE, &aes(128, 0x43), &NULL, 1024);
        let run_cp = |e: &mut Engine, params: &[u8]| {
            run(
                e,
                TpmCc::CREATE_PRIMARY,
                &[TpmHandle::OWNER],
                &[pw()],
                params,
            )
            .0
        };
        // authValue longer than the nameAlg digest (after removing trailing zeros).
        assert_eq!(
            run_cp(&mut e, &create_params(&[b'a'; 33], &[], &t)),
            TpmRc::SIZE.with_parameter(1)
        );
        let mut padded = vec![b'a'; 32];
        padded.extend_from_slice(&[0, 0]);
        let ok = run_cp(&mut e, &create_params(&padded, &[], &t));
        assert_eq!(ok, TpmRc::SUCCESS);
        // Sealed data over 128 bytes fails to unmarshal; a byte after the structure too.
        let sealed = keyedhash_template(FIXED_TPM | FIXED_PARENT | UWA, &NULL);
        assert_eq!(
            run_cp(&mut e, &create_params(&[], &[b'a'; 129], &sealed)),
            TpmRc::SIZE.with_parameter(1)
        );
        let mut trailing = b2(&cat(&[&b2(&[]), &b2(&[]), &[0]]));
        trailing.extend_from_slice(&cat(&[&b2(&t), &b2(&[]), &[0, 0, 0, 0]]));
        assert_eq!(run_cp(&mut e, &trailing), TpmRc::SIZE.with_parameter(1));
        // A disabled hierarchy cannot be used; a non-hierarchy handle is TPM_RC_VALUE.
        let (rc, _) = run(
            &mut e,
            TpmCc::CREATE_PRIMARY,
            &[TpmHandle::LOCKOUT],
            &[pw()],
            &create_params(&[], &[], &t),
        );
        assert_eq!(rc, TpmRc::VALUE.with_handle(1));
    }

    #[test]
    fn create_load_round_trip() {
        let mut e = engine();
        let parent = storage_primary(&mut e);
        let sign = rsa_template(
            FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN,
            &NULL,
            &RSASSA_SHA256,
            1024,
        );
        let (private, public, creation, hash, ticket) =
            create(&mut e, parent.handle, b"key pw", &[], &sign);
        assert_eq!(creation.parent_name.as_bytes(), &parent.name[..]);
        assert_eq!(creation.parent_name_alg, TpmAlgId::SHA256);
        assert_eq!(
            creation.parent_qualified_name.as_bytes(),
            &e.state.object(parent.handle).unwrap().qualified_name[..]
        );
        assert_eq!(hash, sha256(&[&creation.to_bytes()]));
        assert_eq!(ticket.hierarchy, TpmHandle::OWNER);
        // Create does not leave the object loaded.
        assert_eq!(e.state.vol.objects.len(), 1);
        let (h, name) = load(&mut e, parent.handle, &private, &public);
        let pub_area = Tpm2bPublic::from_bytes(&public).unwrap().public_area;
        assert_eq!(name, compute_name(&pub_area));
        let obj = e.state.object(h).unwrap();
        assert_eq!(&obj.sensitive.auth[..], b"key pw");
        assert_eq!(obj.hierarchy, TpmHandle::OWNER);
        assert_eq!(
            obj.qualified_name,
            qualified_name(
                TpmAlgId::SHA256,
                &e.state.object(parent.handle).unwrap().qualified_name,
                &name
            )
        );
        // The private key matches the public modulus (TPM2_Load checked it too).
        assert!(crate::engine::object::rsa_private(obj).is_ok());
        // ReadPublic returns the same public area, Name and Qualified Name.
        let rp = ok_params(&mut e, TpmCc::READ_PUBLIC, &[h], &[], &[]);
        let mut r = Reader::new(&rp);
        assert_eq!(Tpm2bPublic::unmarshal(&mut r).unwrap().to_bytes(), public);
        assert_eq!(Tpm2bName::unmarshal(&mut r).unwrap().as_bytes(), &name[..]);
        assert_eq!(
            Tpm2bName::unmarshal(&mut r).unwrap().as_bytes(),
            &e.state.object(h).unwrap().qualified_name[..]
        );
        // Creating twice gives different keys (random, not derived).
        let (private2, public2, ..) = create(&mut e, parent.handle, b"key pw", &[], &sign);
        assert_ne!(public, public2);
        assert_ne!(private, private2);
    }

    #[test]
    fn outer_protection_matches_the_documented_layout() {
        let mut e = engine();
        let parent = storage_primary(&mut e);
        let sealed = keyedhash_template(FIXED_TPM | FIXED_PARENT | UWA, &NULL);
        let (private, public, ..) = create(&mut e, parent.handle, b"pw", b"sealed secret", &sealed);
        let p = e.state.object(parent.handle).unwrap();
        let seed = p.sensitive.seed_value.clone();
        let name = compute_name(&Tpm2bPublic::from_bytes(&public).unwrap().public_area);
        let blob = Tpm2bPrivate::from_bytes(&private).unwrap();
        let blob = blob.as_bytes();
        // integrity (TPM2B_DIGEST, 32 bytes) || TPM2B_IV (16 bytes) || encSensitive
        assert_eq!(&blob[..2], &[0, 32]);
        let (integrity, wrapped) = blob[2..].split_at(32);
        assert_eq!(&wrapped[..2], &[0, 16]);
        let (iv, enc) = wrapped[2..].split_at(16);
        let hmac_key = kdfa(HashAlg::Sha256, &seed, b"INTEGRITY", &[], &[], 256);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&hmac_key).unwrap();
        mac.update(wrapped);
        mac.update(&name);
        assert_eq!(integrity, &mac.finalize().into_bytes()[..]);
        let sym = kdfa(HashAlg::Sha256, &seed, b"STORAGE", &name, &[], 128);
        let mut plain = enc.to_vec();
        {
            use cipher::{AsyncStreamCipher, KeyIvInit};
            cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(&sym, iv)
                .unwrap()
                .decrypt(&mut plain);
        }
        let s = Tpm2bSensitive::from_bytes(&plain)
            .unwrap()
            .sensitive_area
            .unwrap();
        // The authValue is padded to the nameAlg digest size.
        assert_eq!(s.auth_value.as_bytes(), &cat(&[b"pw", &[0; 30]])[..]);
        assert_eq!(composite_bytes(&s), b"sealed secret");
        assert_eq!(s.seed_value.len(), 32);
    }

    #[test]
    fn tampered_or_misplaced_private_is_an_integrity_error() {
        let mut e = engine();
        let parent = storage_primary(&mut e);
        let sign = keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        let (private, public, ..) = create(&mut e, parent.handle, &[], &[], &sign);
        let load_rc = |e: &mut Engine, parent: TpmHandle, private: &[u8], public: &[u8]| {
            run(e, TpmCc::LOAD, &[parent], &[pw()], &cat(&[private, public])).0
        };
        for i in [3usize, 40, private.len() - 1] {
            let mut bad = private.clone();
            bad[i] ^= 1;
            assert_eq!(
                load_rc(&mut e, parent.handle, &bad, &public),
                TpmRc::INTEGRITY.with_parameter(1),
                "byte {i}"
            );
        }
        // Another public area (another Name) does not match the integrity value.
        let (_, public2, ..) = create(&mut e, parent.handle, &[], &[], &sign);
        assert_eq!(
            load_rc(&mut e, parent.handle, &private, &public2),
            TpmRc::INTEGRITY.with_parameter(1)
        );
        // Another parent with the same template but another seed (endorsement hierarchy).
        let other = create_primary_raw(
            &mut e,
            TpmHandle::ENDORSEMENT,
            &create_params(
                &[],
                &[],
                &rsa_template(STORAGE, &aes(128, 0x43), &NULL, 2048),
            ),
        );
        assert_eq!(
            load_rc(&mut e, other.handle, &private, &public),
            TpmRc::INTEGRITY.with_parameter(1)
        );
        // An empty private; a parent that is not a storage key.
        assert_eq!(
            load_rc(&mut e, parent.handle, &[0, 0], &public),
            TpmRc::SIZE.with_parameter(1)
        );
        flush(&mut e, other.handle);
        let (h, _) = load(&mut e, parent.handle, &private, &public);
        assert_eq!(
            load_rc(&mut e, h, &private, &public),
            TpmRc::TYPE.with_handle(1)
        );
        // A truncated integrity size field.
        assert_eq!(
            load_rc(&mut e, parent.handle, &[0, 1, 0], &public),
            TpmRc::INSUFFICIENT.with_parameter(1)
        );
    }

    #[test]
    fn object_memory_is_limited() {
        let mut e = engine();
        let parent = storage_primary(&mut e);
        let sign = keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        let (private, public, ..) = create(&mut e, parent.handle, &[], &[], &sign);
        load(&mut e, parent.handle, &private, &public);
        load(&mut e, parent.handle, &private, &public);
        let (rc, _) = run(
            &mut e,
            TpmCc::LOAD,
            &[parent.handle],
            &[pw()],
            &cat(&[&private, &public]),
        );
        assert_eq!(rc, TpmRc::OBJECT_MEMORY);
        let (rc, _) = run(
            &mut e,
            TpmCc::CREATE,
            &[parent.handle],
            &[pw()],
            &create_params(&[], &[], &sign),
        );
        assert_eq!(rc, TpmRc::OBJECT_MEMORY);
        let (rc, _) = run(
            &mut e,
            TpmCc::CREATE_PRIMARY,
            &[TpmHandle::OWNER],
            &[pw()],
            &create_params(&[], &[], &sign),
        );
        assert_eq!(rc, TpmRc::OBJECT_MEMORY);
    }

    #[test]
    fn create_checks_under_a_parent() {
        let mut e = engine();
        let parent = storage_primary(&mut e);
        let run_create = |e: &mut Engine, data: &[u8], t: &[u8]| {
            run(
                e,
                TpmCc::CREATE,
                &[parent.handle],
                &[pw()],
                &create_params(&[], data, t),
            )
            .0
        };
        // Data with sensitiveDataOrigin: allowed for a primary, not under a parent.
        let hmac_sdo =
            keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        assert_eq!(
            run_create(&mut e, &[b'k'; 32], &hmac_sdo),
            TpmRc::ATTRIBUTES.with_parameter(2)
        );
        // A child storage key with fixedParent must use its parent's nameAlg and cipher.
        let child = rsa_template(STORAGE, &aes(256, 0x43), &NULL, 1024);
        assert_eq!(
            run_create(&mut e, &[], &child),
            TpmRc::SYMMETRIC.with_parameter(2)
        );
        let child_sha1 = cat(&[
            &[0, 1, 0, 4],
            &rsa_template(STORAGE, &aes(128, 0x43), &NULL, 1024)[4..],
        ]);
        assert_eq!(
            run_create(&mut e, &[], &child_sha1),
            TpmRc::HASH.with_parameter(2)
        );
        let ok = rsa_template(STORAGE, &aes(128, 0x43), &NULL, 1024);
        assert_eq!(run_create(&mut e, &[], &ok), TpmRc::SUCCESS);
        // A duplicable child of a fixedTPM parent must have fixedTPM == fixedParent.
        let loose = rsa_template(SDO | UWA | SIGN | FIXED_PARENT, &NULL, &NULL, 1024);
        assert_eq!(
            run_create(&mut e, &[], &loose),
            TpmRc::ATTRIBUTES.with_parameter(2)
        );
        // The parent must be a storage key.
        let signer = create_primary(
            &mut e,
            &keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256),
        );
        let (rc, _) = run(
            &mut e,
            TpmCc::CREATE,
            &[signer.handle],
            &[pw()],
            &create_params(&[], &[], &ok),
        );
        assert_eq!(rc, TpmRc::TYPE.with_handle(1));
    }

    #[test]
    fn ecc_and_symmetric_children_load() {
        let mut e = engine();
        let parent = create_primary(&mut e, &ecc_template(STORAGE, &aes(128, 0x43), &NULL));
        let f = FIXED_TPM | FIXED_PARENT | UWA;
        for (data, t) in [
            (vec![], ecc_template(f | SDO | SIGN, &NULL, &ECDSA_SHA256)),
            (
                vec![],
                sym_template(f | SDO | DECRYPT | SIGN, &aes(128, 0x43)),
            ),
            (
                vec![7u8; 32],
                sym_template(f | DECRYPT | SIGN, &aes(256, 0x42)),
            ),
            (b"data".to_vec(), keyedhash_template(f, &NULL)),
        ] {
            let (private, public, ..) = create(&mut e, parent.handle, b"a", &data, &t);
            let (h, _) = load(&mut e, parent.handle, &private, &public);
            if !data.is_empty() {
                assert_eq!(&e.state.object(h).unwrap().sensitive.private[..], &data[..]);
            }
            flush(&mut e, h);
        }
    }

    /// A LoadExternal command's parameters.
    fn load_external_params(private: &[u8], public: &[u8], hierarchy: TpmHandle) -> Vec<u8> {
        cat(&[&b2(private), &b2(public), &hierarchy.0.to_be_bytes()])
    }

    #[test]
    fn load_external_public_and_private() {
        let mut e = engine();
        // An RSA key pair from the rsa crate.
        let mut rng = KdfaStream::new(HashAlg::Sha256, b"test key", b"rsa", &[], &[]);
        let key = RsaPrivate::generate(1024, 0, &mut rng).unwrap();
        let n = key.public().modulus();
        let public = rsa_template_with(UWA | SIGN, &NULL, &NULL, 1024, 0, &n);
        // Public only, owner hierarchy: Name = nameAlg || H(public), QN = Name.
        let (rc, rsp) = run(
            &mut e,
            TpmCc::LOAD_EXTERNAL,
            &[],
            &[],
            &load_external_params(&[], &public, TpmHandle::OWNER),
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::LOAD_EXTERNAL).unwrap();
        let h = r.handle.unwrap();
        let name = cat(&[&[0, 0x0b], &sha256(&[&public])]);
        assert_eq!(
            Tpm2bName::from_bytes(r.parameters).unwrap().as_bytes(),
            &name[..]
        );
        let obj = e.state.object(h).unwrap();
        assert!(obj.public_only);
        assert_eq!(obj.qualified_name, name);
        assert_eq!(obj.hierarchy, TpmHandle::OWNER);
        flush(&mut e, h);
        // With the private prime, in the NULL hierarchy.
        let sens = |prime: &[u8]| cat(&[&[0, 1], &b2(b"pw"), &b2(&[]), &b2(prime)]);
        let le = |e: &mut Engine, private: &[u8], public: &[u8], hier: TpmHandle| {
            run(
                e,
                TpmCc::LOAD_EXTERNAL,
                &[],
                &[],
                &load_external_params(private, public, hier),
            )
            .0
        };
        let prime = key.prime();
        assert_eq!(
            le(&mut e, &sens(&prime), &public, TpmHandle::NULL),
            TpmRc::SUCCESS
        );
        let obj = e.state.object(TpmHandle(0x8000_0000)).unwrap();
        assert!(!obj.public_only);
        assert_eq!(&obj.sensitive.auth[..], b"pw");
        flush(&mut e, TpmHandle(0x8000_0000));
        // Error paths, with libtpms' codes (tests/objects_vs_swtpm.rs has the same cases).
        assert_eq!(
            le(&mut e, &sens(&prime), &public, TpmHandle::OWNER),
            TpmRc::HIERARCHY.with_parameter(3)
        );
        let fixed = rsa_template_with(
            UWA | SIGN | FIXED_TPM | FIXED_PARENT,
            &NULL,
            &NULL,
            1024,
            0,
            &n,
        );
        assert_eq!(
            le(&mut e, &sens(&prime), &fixed, TpmHandle::NULL),
            TpmRc::ATTRIBUTES.with_parameter(2)
        );
        let mut other_rng = KdfaStream::new(HashAlg::Sha256, b"test key", b"other", &[], &[]);
        let other = RsaPrivate::generate(1024, 0, &mut other_rng).unwrap();
        assert_eq!(
            le(&mut e, &sens(&other.prime()), &public, TpmHandle::NULL),
            TpmRc::BINDING
        );
        assert_eq!(
            le(&mut e, &sens(&prime[..60]), &public, TpmHandle::NULL),
            TpmRc::KEY_SIZE.with_parameter(1)
        );
        let short = rsa_template_with(UWA | SIGN, &NULL, &NULL, 1024, 0, &n[..100]);
        assert_eq!(
            le(&mut e, &[], &short, TpmHandle::OWNER),
            TpmRc::KEY.with_parameter(2)
        );
        let exp5 = rsa_template_with(UWA | SIGN, &NULL, &NULL, 1024, 5, &n);
        assert_eq!(
            le(&mut e, &[], &exp5, TpmHandle::OWNER),
            TpmRc::VALUE.with_parameter(2)
        );
        let with_sym = rsa_template_with(UWA | SIGN, &aes(128, 0x43), &NULL, 1024, 0, &n);
        assert_eq!(
            le(&mut e, &[], &with_sym, TpmHandle::OWNER),
            TpmRc::SYMMETRIC.with_parameter(2)
        );
        let wrong_type = cat(&[&[0, 0x23], &b2(&[]), &b2(&[]), &b2(&[1; 32])]);
        assert_eq!(
            le(&mut e, &wrong_type, &public, TpmHandle::NULL),
            TpmRc::TYPE.with_parameter(1)
        );
        assert_eq!(
            le(&mut e, &[], &public, TpmHandle(0x4000_000a)),
            TpmRc::VALUE.with_parameter(3)
        );
        // nameAlg NULL: allowed in LoadExternal, the Name is empty.
        let null_name = cat(&[&[0, 1, 0, 0x10], &public[4..]]);
        assert_eq!(le(&mut e, &[], &null_name, TpmHandle::NULL), TpmRc::SUCCESS);
        assert!(
            e.state
                .object(TpmHandle(0x8000_0000))
                .unwrap()
                .name
                .is_empty()
        );
    }

    #[test]
    fn load_external_ecc_and_symmetric_checks() {
        let mut e = engine();
        let mut rng = KdfaStream::new(HashAlg::Sha256, b"test key", b"ecc", &[], &[]);
        let key = EccPrivate::derive(Curve::NistP256, &mut rng).unwrap();
        let q = key.public();
        let ecc = |x: &[u8], y: &[u8]| {
            cat(&[
                &[0, 0x23, 0, 0x0b],
                &(UWA | SIGN).to_be_bytes(),
                &b2(&[]),
                &NULL,
                &NULL,
                &[0, 3],
                &NULL,
                &b2(x),
                &b2(y),
            ])
        };
        let sens = |d: &[u8]| cat(&[&[0, 0x23], &b2(&[]), &b2(&[]), &b2(d)]);
        let le = |e: &mut Engine, private: &[u8], public: &[u8]| {
            let (rc, rsp) = run(
                e,
                TpmCc::LOAD_EXTERNAL,
                &[],
                &[],
                &load_external_params(private, public, TpmHandle::NULL),
            );
            if rc == TpmRc::SUCCESS {
                let h = Response::parse(&rsp, TpmCc::LOAD_EXTERNAL)
                    .unwrap()
                    .handle
                    .unwrap();
                flush(e, h);
            }
            rc
        };
        assert_eq!(
            le(&mut e, &sens(&key.scalar()), &ecc(&q.x, &q.y)),
            TpmRc::SUCCESS
        );
        assert_eq!(le(&mut e, &[], &ecc(&q.x, &q.y)), TpmRc::SUCCESS);
        let mut one = [0u8; 32];
        one[31] = 5;
        assert_eq!(le(&mut e, &sens(&one), &ecc(&q.x, &q.y)), TpmRc::BINDING);
        assert_eq!(
            le(&mut e, &sens(&[0; 32]), &ecc(&q.x, &q.y)),
            TpmRc::KEY_SIZE
        );
        assert_eq!(
            le(&mut e, &[], &ecc(&q.x, &one)),
            TpmRc::ECC_POINT.with_parameter(2)
        );
        assert_eq!(
            le(&mut e, &[], &ecc(&q.x[..31], &q.y)),
            TpmRc::KEY.with_parameter(2)
        );
        // Symmetric: unique must be H(seedValue || key).
        let k = [b'k'; 16];
        let seed = [b's'; 32];
        let sym = |unique: &[u8]| {
            cat(&[
                &[0, 0x25, 0, 0x0b],
                &(UWA | SIGN | DECRYPT).to_be_bytes(),
                &b2(&[]),
                &aes(128, 0x43),
                &b2(unique),
            ])
        };
        let ssens = |key: &[u8], seed: &[u8]| cat(&[&[0, 0x25], &b2(&[]), &b2(seed), &b2(key)]);
        let unique = sha256(&[&seed, &k]);
        assert_eq!(le(&mut e, &ssens(&k, &seed), &sym(&unique)), TpmRc::SUCCESS);
        assert_eq!(
            le(&mut e, &ssens(&k, &seed), &sym(&[b'u'; 32])),
            TpmRc::BINDING
        );
        assert_eq!(
            le(&mut e, &ssens(&k[..10], &seed), &sym(&unique)),
            TpmRc::KEY_SIZE.with_parameter(1)
        );
        assert_eq!(
            le(&mut e, &ssens(&k, &seed[..20]), &sym(&unique)),
            TpmRc::KEY_SIZE.with_parameter(1)
        );
        assert_eq!(
            le(&mut e, &[], &sym(&unique[..20])),
            TpmRc::KEY.with_parameter(2)
        );
    }

    #[test]
    fn object_change_auth_rewraps_under_the_parent() {
        let mut e = engine();
        let parent = storage_primary(&mut e);
        let t = keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        let (private, public, ..) = create(&mut e, parent.handle, b"old", &[], &t);
        let (h, _) = load(&mut e, parent.handle, &private, &public);
        let key = e.state.object(h).unwrap().sensitive.private.clone();
        // The ADMIN role of the object (password "old"), the parent unauthorized.
        let (rc, rsp) = run(
            &mut e,
            TpmCc::OBJECT_CHANGE_AUTH,
            &[h, parent.handle],
            &[pw_with(b"old")],
            &b2(b"new"),
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::OBJECT_CHANGE_AUTH).unwrap();
        let new_private = Tpm2bPrivate::from_bytes(r.parameters).unwrap().to_bytes();
        // The loaded object keeps its old authValue.
        assert_eq!(&e.state.object(h).unwrap().sensitive.auth[..], b"old");
        flush(&mut e, h);
        let (h2, _) = load(&mut e, parent.handle, &new_private, &public);
        let obj = e.state.object(h2).unwrap();
        assert_eq!(&obj.sensitive.auth[..], b"new");
        assert_eq!(obj.sensitive.private, key);
        // The wrong parent; a newAuth longer than the digest.
        let other = create_primary_raw(
            &mut e,
            TpmHandle::ENDORSEMENT,
            &create_params(
                &[],
                &[],
                &rsa_template(STORAGE, &aes(128, 0x43), &NULL, 2048),
            ),
        );
        let (rc, _) = run(
            &mut e,
            TpmCc::OBJECT_CHANGE_AUTH,
            &[h2, other.handle],
            &[pw_with(b"new")],
            &b2(b"x"),
        );
        assert_eq!(rc, TpmRc::TYPE.with_handle(2));
        let (rc, _) = run(
            &mut e,
            TpmCc::OBJECT_CHANGE_AUTH,
            &[h2, parent.handle],
            &[pw_with(b"new")],
            &b2(&[1; 33]),
        );
        assert_eq!(rc, TpmRc::SIZE.with_parameter(1));
        // A primary object has no parent object: its Qualified Name never matches.
        let (rc, _) = run(
            &mut e,
            TpmCc::OBJECT_CHANGE_AUTH,
            &[parent.handle, parent.handle],
            &[pw()],
            &b2(b"x"),
        );
        assert_eq!(rc, TpmRc::TYPE.with_handle(2));
    }

    #[test]
    fn read_public_of_a_sequence_is_refused() {
        let mut e = engine();
        let public =
            Tpm2bPublic::from_bytes(&b2(&keyedhash_template(TpmaObject::NO_DA, &NULL))).unwrap();
        let mut p = public.public_area;
        p.name_alg = TpmAlgId::NULL;
        let mut obj = Object::new(p, &[], TpmHandle::NULL, Sensitive::default());
        obj.sequence = Some(crate::engine::sequence::Sequence::hash(HashAlg::Sha256));
        e.state.vol.objects.insert(0x8000_0000, obj);
        expect_rc(
            &mut e,
            TpmCc::READ_PUBLIC,
            &[TpmHandle(0x8000_0000)],
            &[],
            &[],
            TpmRc::SEQUENCE,
        );
        // Not loaded: TPM_RC_REFERENCE_H0; beyond TRANSIENT_LAST: no TPMI_DH_OBJECT at all.
        let rp = |e: &mut Engine, h: u32| run(e, TpmCc::READ_PUBLIC, &[TpmHandle(h)], &[], &[]).0;
        assert_eq!(rp(&mut e, 0x8000_0001), TpmRc::REFERENCE_H0);
        assert_eq!(rp(&mut e, 0x8000_0005), TpmRc::VALUE.with_handle(1));
        assert_eq!(rp(&mut e, 0x8100_0005), TpmRc::HANDLE.with_handle(1));
    }

    #[test]
    fn creation_pcr_digest_covers_selected_pcrs() {
        let mut e = engine();
        let t = keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        // PCR 0 and 7 of the SHA-256 bank (all zero after Startup(CLEAR) at locality 0).
        let sel = cat(&[&[0, 0, 0, 1], &[0, 0x0b, 3, 0x81, 0, 0]]);
        let params = cat(&[
            &b2(&cat(&[&b2(&[]), &b2(&[])])),
            &b2(&t),
            &b2(b"outside"),
            &sel,
        ]);
        let p = create_primary_raw(&mut e, TpmHandle::OWNER, &params);
        assert_eq!(p.creation.pcr_select.to_bytes(), sel);
        assert_eq!(
            p.creation.pcr_digest.as_bytes(),
            &sha256(&[&[0; 32], &[0; 32]])[..]
        );
        assert_eq!(p.creation.outside_info.as_bytes(), b"outside");
        assert_eq!(p.creation_hash, sha256(&[&p.creation.to_bytes()]));
    }

    #[test]
    fn null_hierarchy_primary_uses_null_proof() {
        let mut e = engine();
        let t = keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        let p = create_primary_raw(&mut e, TpmHandle::NULL, &create_params(&[], &[], &t));
        assert_eq!(p.ticket.hierarchy, TpmHandle::NULL);
        let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(&e.state.vol.null_proof).unwrap();
        mac.update(&[0x80, 0x21]);
        mac.update(&p.name);
        mac.update(&p.creation_hash);
        assert_eq!(p.ticket.digest.as_bytes(), &mac.finalize().into_bytes()[..]);
        assert_eq!(e.state.object(p.handle).unwrap().hierarchy, TpmHandle::NULL);
    }

    /// What TPM2_CreateLoaded returns: handle, outPrivate bytes, outPublic, Name.
    type Loaded = (TpmHandle, Vec<u8>, TpmtPublic, Vec<u8>);

    /// TPM2_CreateLoaded; returns the code and, on success, its outputs.
    fn create_loaded_raw(
        e: &mut Engine,
        parent: TpmHandle,
        auth: &[u8],
        data: &[u8],
        template: &[u8],
    ) -> (TpmRc, Option<Loaded>) {
        let params = cat(&[&b2(&cat(&[&b2(auth), &b2(data)])), &b2(template)]);
        let (rc, rsp) = run(e, TpmCc::CREATE_LOADED, &[parent], &[pw()], &params);
        if rc != TpmRc::SUCCESS {
            return (rc, None);
        }
        let r = Response::parse(&rsp, TpmCc::CREATE_LOADED).unwrap();
        let mut p = Reader::new(r.parameters);
        let private = Tpm2bPrivate::unmarshal(&mut p).unwrap().to_bytes();
        let public = Tpm2bPublic::unmarshal(&mut p).unwrap().public_area;
        let name = Tpm2bName::unmarshal(&mut p).unwrap().as_bytes().to_vec();
        assert!(p.is_empty());
        (rc, Some((r.handle.unwrap(), private, public, name)))
    }

    #[test]
    fn create_loaded_under_a_parent_and_as_primary() {
        let mut e = engine();
        let parent = storage_primary(&mut e);
        let t = keyedhash_template(FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN, &HMAC_SHA256);
        let (rc, out) = create_loaded_raw(&mut e, parent.handle, b"pw", &[], &t);
        assert_eq!(rc, TpmRc::SUCCESS);
        let (h, private, public, name) = out.unwrap();
        assert_eq!(name, compute_name(&public));
        let obj = e.state.object(h).unwrap();
        assert_eq!(&obj.sensitive.auth[..], b"pw");
        assert!(!obj.primary);
        let key = obj.sensitive.private.clone();
        // The returned private area loads under the same parent to the same key.
        flush(&mut e, h);
        let (h2, name2) = load(
            &mut e,
            parent.handle,
            &private,
            &Tpm2bPublic::from(public).to_bytes(),
        );
        assert_eq!(name2, name);
        assert_eq!(e.state.object(h2).unwrap().sensitive.private, key);
        flush(&mut e, h2);
        // A hierarchy as parent: the primary object TPM2_CreatePrimary makes, no outPrivate.
        let storage = rsa_template(STORAGE, &aes(128, 0x43), &NULL, 2048);
        let (rc, out) = create_loaded_raw(&mut e, TpmHandle::OWNER, &[], &[], &storage);
        assert_eq!(rc, TpmRc::SUCCESS);
        let (h3, private3, public3, _) = out.unwrap();
        assert_eq!(private3, vec![0, 0]);
        assert_eq!(public3, parent.public);
        assert!(e.state.object(h3).unwrap().primary);
        assert_eq!(
            e.state.object(h3).unwrap().qualified_name,
            e.state.object(parent.handle).unwrap().qualified_name
        );
        // Errors: a parent that is no parent, a bad template, no slot left.
        let signer = create_primary(&mut e, &t);
        let (rc, _) = create_loaded_raw(&mut e, signer.handle, &[], &[], &t);
        assert_eq!(rc, TpmRc::TYPE.with_handle(1));
        flush(&mut e, signer.handle);
        let (rc, _) = create_loaded_raw(&mut e, parent.handle, &[], &[], &cat(&[&t, &[0]]));
        assert_eq!(rc, TpmRc::SIZE.with_parameter(2));
        let (rc, _) = create_loaded_raw(
            &mut e,
            parent.handle,
            &[],
            &[],
            &rsa_template(STORAGE, &aes(256, 0x43), &NULL, 1024),
        );
        assert_eq!(rc, TpmRc::SYMMETRIC.with_parameter(2));
        let (rc, _) = create_loaded_raw(&mut e, parent.handle, &[1; 33], &[], &t);
        assert_eq!(rc, TpmRc::SIZE.with_parameter(1));
        let (rc, _) = create_loaded_raw(&mut e, parent.handle, &[], &[], &t);
        assert_eq!(rc, TpmRc::SUCCESS);
        let (rc, _) = create_loaded_raw(&mut e, parent.handle, &[], &[], &t);
        assert_eq!(rc, TpmRc::OBJECT_MEMORY);
    }

    /// An ECC signing template for a derivation parent: unique is TPMS_DERIVE(label, context).
    fn derived_ecc_template(label: &[u8], context: &[u8]) -> Vec<u8> {
        let mut t = ecc_template(FIXED_TPM | FIXED_PARENT | UWA | SIGN, &NULL, &ECDSA_SHA256);
        t.truncate(t.len() - 4);
        t.extend_from_slice(&b2(label));
        t.extend_from_slice(&b2(context));
        t
    }

    #[test]
    fn create_loaded_derives_from_a_derivation_parent() {
        let mut e = engine();
        let xor108 = [0, 0x0a, 0, 0x0b, 0, 0x22];
        let dp = create_primary(&mut e, &keyedhash_template(STORAGE, &xor108));
        let derive = |e: &mut Engine, data: &[u8], t: &[u8]| {
            let (rc, out) = create_loaded_raw(e, dp.handle, &[], data, t);
            if let Some((h, private, public, _)) = &out {
                assert_eq!(private, &vec![0, 0], "derived objects have no outPrivate");
                flush(e, *h);
                return (rc, Some(public.clone()));
            }
            (rc, None)
        };
        let (rc, a) = derive(&mut e, &[], &derived_ecc_template(b"label", b"ctx"));
        assert_eq!(rc, TpmRc::SUCCESS);
        let (_, b) = derive(&mut e, &[], &derived_ecc_template(b"label", b"ctx"));
        assert_eq!(a, b, "same parent, label and context: same key");
        let (_, c) = derive(&mut e, &[], &derived_ecc_template(b"label", b"other"));
        assert_ne!(a, c);
        // inSensitive.data carries a TPMS_DERIVE whose non-empty members win.
        let over = cat(&[&b2(&[]), &b2(b"other")]);
        let (_, d) = derive(&mut e, &over, &derived_ecc_template(b"label", b"ctx"));
        assert_eq!(d, c);
        // The derived key: the private scalar is the public point's.
        let a = a.unwrap();
        let PublicDetail::Ecc { unique, .. } = &a.detail else {
            panic!()
        };
        assert_eq!(unique.x.len(), 32);
        // No RSA, no sensitiveDataOrigin, fixedTPM as the parent.
        let mut rsa = rsa_template(FIXED_TPM | FIXED_PARENT | UWA | SIGN, &NULL, &NULL, 2048);
        rsa.truncate(rsa.len() - 2);
        rsa.extend_from_slice(&cat(&[&b2(b"l"), &b2(b"c")]));
        assert_eq!(derive(&mut e, &[], &rsa).0, TpmRc::TYPE.with_parameter(2));
        let mut sdo = derived_ecc_template(b"l", b"c");
        sdo[7] |= 0x20;
        assert_eq!(derive(&mut e, &[], &sdo).0, TpmRc::ATTRIBUTES);
        let mut loose = derived_ecc_template(b"l", b"c");
        loose[7] &= !(0x02u8 | 0x10);
        assert_eq!(
            derive(&mut e, &[], &loose).0,
            TpmRc::ATTRIBUTES.with_parameter(2)
        );
        // A template with an ordinary unique does not fit the derivation form.
        let plain = ecc_template(FIXED_TPM | FIXED_PARENT | UWA | SIGN, &NULL, &ECDSA_SHA256);
        let (rc, _) = derive(&mut e, &[], &cat(&[&plain, &[0]]));
        assert_eq!(rc, TpmRc::SIZE.with_parameter(2));
    }

    #[test]
    fn tpms_ecc_point_conversion() {
        let p = EccPoint {
            x: vec![1; 32],
            y: vec![2; 32],
        };
        let t: TpmsEccPoint = ecc_point(&p).unwrap();
        assert_eq!(t.x.as_bytes(), &[1; 32]);
        assert_eq!(t.y.as_bytes(), &[2; 32]);
    }
}

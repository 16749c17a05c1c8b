//! Object commands (TCG TPM 2.0 Library part 3 §12 "Object Commands" and §24.1
//! TPM2_CreatePrimary): TPM2_CreatePrimary, TPM2_Create, TPM2_Load, TPM2_LoadExternal,
//! TPM2_ReadPublic and TPM2_ObjectChangeAuth.
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
//! In both cases the key is made first (RSA primes, ECC scalar, symmetric or HMAC key), then
//! `seedValue` (nameAlg digest size). Asymmetric keys that are not storage parents drop their
//! seedValue; keyed-hash and symmetric objects publish `unique = H_nameAlg(seedValue || key)`.
//!
//! # TPM2B_PRIVATE
//!
//! `TPM2B_PRIVATE = TPM2B_DIGEST(outerHMAC) || encSensitive` where
//! `encSensitive = AES-CFB(symKey, IV = 0, UINT16 size || TPMT_SENSITIVE)`,
//! `symKey = KDFa(pNameAlg, parent seedValue, "STORAGE", Name, "", parent key bits)`,
//! `outerHMAC = HMAC_pNameAlg(KDFa(pNameAlg, seedValue, "INTEGRITY", "", "", digest bits),
//! encSensitive || Name)`, pNameAlg being the parent's nameAlg. This is the layout of the
//! reference implementation, so blobs from tpm2-tools (`tpm2_create -r`) round-trip.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSt;
use tpm2::structures::{
    PublicDetail, Tpm2bAuth, Tpm2bCreationData, Tpm2bData, Tpm2bDigest, Tpm2bName, Tpm2bPrivate,
    Tpm2bPrivateKeyRsa, Tpm2bPublic, Tpm2bPublicKeyRsa, Tpm2bSecretDigest, Tpm2bSecretEccParameter,
    Tpm2bSensitive, Tpm2bSensitiveCreate, Tpm2bSensitiveData, Tpm2bSymKey, TpmaLocality,
    TpmaObject, TpmlPcrSelection, TpmsCreationData, TpmtEccScheme, TpmtKdfScheme,
    TpmtKeyedhashScheme, TpmtPublic, TpmtRsaScheme, TpmtSensitive, TpmtSymDefObject,
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

/// The symmetric key size of a storage parent (AES only), in bits.
fn parent_key_bits(parent: &Object) -> Result<u32, TpmRc> {
    let sym = match &parent.public.detail {
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
    if !(restricted && decrypt) && !symmetric.is_null() {
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

/// The TPMT_SENSITIVE of an object of type `ty`.
pub(crate) fn to_tpmt_sensitive(ty: TpmAlgId, s: &Sensitive) -> Result<TpmtSensitive, TpmRc> {
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
        auth_value: Tpm2bAuth::new(&s.auth).map_err(|_| TpmRc::SIZE)?,
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
    let bits = parent_key_bits(parent)?;
    let seed = &parent.sensitive.seed_value;
    let sym_key = kdfa(hash, seed, b"STORAGE", name, &[], bits);
    let bits = u32::try_from(hash.digest_size() * 8).unwrap_or(512);
    let hmac_key = kdfa(hash, seed, b"INTEGRITY", &[], &[], bits);
    Ok((hash, sym_key, hmac_key))
}

/// Protects `sensitive` (of the object named `name`) under storage parent `parent` as a
/// TPM2B_PRIVATE (see the module documentation).
pub(crate) fn sensitive_to_private(
    parent: &Object,
    name: &[u8],
    sensitive: TpmtSensitive,
) -> Result<Tpm2bPrivate, TpmRc> {
    let (hash, sym_key, hmac_key) = protection_keys(parent, name)?;
    let mut enc = Zeroizing::new(Vec::new());
    Tpm2bSensitive {
        sensitive_area: Some(sensitive),
    }
    .marshal(&mut enc);
    cfb_encrypt(&sym_key, &[0u8; 16], &mut enc).map_err(|_| TpmRc::SYMMETRIC)?;
    let integrity = hmac(hash, &hmac_key, &[&enc, name]);
    let mut out = Vec::with_capacity(2 + integrity.len() + enc.len());
    Tpm2bDigest::new(&integrity)
        .map_err(|_| TpmRc::SIZE)?
        .marshal(&mut out);
    out.extend_from_slice(&enc);
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
    let enc = r.take_rest();
    let expected = hmac(hash, &hmac_key, &[enc, name]);
    if !ct_eq(integrity.as_bytes(), &expected) {
        return Err(TpmRc::INTEGRITY);
    }
    let mut plain = Zeroizing::new(enc.to_vec());
    cfb_decrypt(&sym_key, &[0u8; 16], &mut plain).map_err(|_| TpmRc::SYMMETRIC)?;
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
fn load_checks(
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
fn from_tpmt_sensitive(s: &TpmtSensitive) -> Sensitive {
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
    let (public, mut sensitive) = generate(template, sc.data.as_bytes(), &mut rng)?;
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
        to_tpmt_sensitive(public.object_type(), &sensitive)?,
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
    obj.qualified_name = obj.name.clone();
    obj.public_only = sensitive.is_none();
    ctx.out_handle = Some(handle);
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
        to_tpmt_sensitive(obj.public.object_type(), &sensitive)?,
    )?;
    ctx.put(&private);
    Ok(())
}

//! Duplication commands (TCG TPM 2.0 Library part 3 §13): TPM2_Duplicate (§13.1),
//! TPM2_Rewrap (§13.2) and TPM2_Import (§13.3), with the wrappers of part 1 §23.3
//! "Duplication":
//!
//! - inner wrapper (symmetricAlg not TPM_ALG_NULL): `innerIntegrity = H_nameAlg(
//!   TPM2B_SENSITIVE || Name)`, then `TPM2B_DIGEST(innerIntegrity) || TPM2B_SENSITIVE` is
//!   encrypted with AES-CFB, a zero IV and the caller's (or a fresh) key;
//! - outer wrapper (a new parent): a seed shared with the parent under the label "DUPLICATE"
//!   (`secret.rs`), `symKey = KDFa(pNameAlg, seed, "STORAGE", Name, "", parent's AES bits)`,
//!   `hmacKey = KDFa(pNameAlg, seed, "INTEGRITY", "", "", digest bits)`; the data is encrypted
//!   with AES-CFB and a zero IV and prefixed by `TPM2B_DIGEST(HMAC(hmacKey, encrypted || Name))`.
//!
//! An imported object is then protected like one made by TPM2_Create (`object.rs`). The object
//! to duplicate is authorized in the DUP role: only by a policy session that asserted
//! TPM2_PolicyCommandCode(TPM2_Duplicate) (or TPM2_PolicyDuplicationSelect). Error codes and
//! their numbers follow libtpms (checked against swtpm in `tests/duplication_vs_swtpm.rs`).

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    Tpm2bData, Tpm2bDigest, Tpm2bEncryptedSecret, Tpm2bName, Tpm2bPrivate, Tpm2bPublic,
    Tpm2bSensitive, TpmaObject, TpmtPublic, TpmtSensitive, TpmtSymDefObject,
};
use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use super::object::{
    IV_SIZE, check_supported, from_tpmt_sensitive, load_checks, sensitive_to_private,
    to_tpmt_sensitive,
};
use crate::engine::Engine;
use crate::engine::auth::ct_eq;
use crate::engine::crypto::hash::{HashAlg, digest};
use crate::engine::crypto::sym::{cfb_decrypt, cfb_encrypt};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::HandleKind as K;
use crate::engine::object::{Object, compute_name};
use crate::engine::rcmap::wire_rc;
use crate::engine::secret;
use crate::engine::state::Secret;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::DUPLICATE,
        handles: &[K::Object, K::ObjectOrNull],
        roles: &[AuthRole::Dup],
        nv: false,
        handler: duplicate,
    },
    Entry {
        cc: TpmCc::REWRAP,
        handles: &[K::ObjectOrNull, K::ObjectOrNull],
        roles: &[AuthRole::User],
        nv: false,
        handler: rewrap,
    },
    Entry {
        cc: TpmCc::IMPORT,
        handles: &[K::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: import,
    },
];

/// The label of duplication seeds, with its terminating zero.
const DUPLICATE: &[u8] = b"DUPLICATE\0";

/// The zero IV of both wrappers.
const ZERO_IV: [u8; IV_SIZE] = [0; IV_SIZE];

/// The AES key size of an inner wrapper's symmetric definition: `None` for TPM_ALG_NULL;
/// TPM_RC_SYMMETRIC (another cipher) or TPM_RC_VALUE (a key size this TPM lacks) for
/// parameter `n`, as the unmarshalling would answer.
fn inner_key_bytes(sym: TpmtSymDefObject, n: u8) -> Result<Option<usize>, TpmRc> {
    match sym {
        TpmtSymDefObject::Null => Ok(None),
        TpmtSymDefObject::Aes { key_bits, .. } => match key_bits {
            128 | 256 => Ok(Some(usize::from(key_bits / 8))),
            _ => Err(TpmRc::VALUE.with_parameter(n)),
        },
        _ => Err(TpmRc::SYMMETRIC.with_parameter(n)),
    }
}

/// The loaded object of handle `n` (1-based) of the command.
fn loaded<'a>(e: &'a Engine, ctx: &Ctx, n: u8) -> Result<&'a Object, TpmRc> {
    let h = ctx.handles[usize::from(n) - 1];
    e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(n))
}

/// The public area of the storage key under handle `n`, or `None` for TPM_RH_NULL: a
/// restricted decryption RSA or ECC key that does not sign, whose private part need not be
/// loaded (the reference implementation's ObjectIsStorage; TPM_RC_TYPE otherwise).
fn storage_or_null(e: &Engine, ctx: &Ctx, n: u8) -> Result<Option<TpmtPublic>, TpmRc> {
    if ctx.handles[usize::from(n) - 1] == TpmHandle::NULL {
        return Ok(None);
    }
    let obj = loaded(e, ctx, n)?;
    let storage = obj.has(TpmaObject::RESTRICTED | TpmaObject::DECRYPT)
        && !obj.has(TpmaObject::SIGN)
        && matches!(obj.public.object_type(), TpmAlgId::RSA | TpmAlgId::ECC);
    if storage {
        Ok(Some(obj.public.clone()))
    } else {
        Err(TpmRc::TYPE.with_handle(n))
    }
}

/// Undoes the wrappers of a duplication blob (the reference implementation's
/// DuplicateToSensitive): the outer one when there is a seed, the inner one when there is a
/// key, then reads the TPM2B_SENSITIVE (codes without a parameter number).
fn duplicate_to_sensitive(
    blob: &[u8],
    name: &[u8],
    name_alg: HashAlg,
    outer: Option<(&TpmtPublic, &[u8])>,
    inner_key: Option<&[u8]>,
) -> Result<TpmtSensitive, TpmRc> {
    let mut data = match outer {
        Some((parent, seed)) => secret::open_with_seed(parent, seed, name, blob)?,
        None => Zeroizing::new(blob.to_vec()),
    };
    if let Some(key) = inner_key {
        cfb_decrypt(key, &ZERO_IV, &mut data).map_err(|_| TpmRc::SYMMETRIC)?;
        let mut r = Reader::new(&data);
        let integrity = Tpm2bDigest::unmarshal(&mut r).map_err(|err| wire_rc(&err))?;
        let rest = r.take_rest();
        if !ct_eq(integrity.as_bytes(), &digest(name_alg, &[rest, name])) {
            return Err(TpmRc::INTEGRITY);
        }
        data = Zeroizing::new(rest.to_vec());
    }
    let mut r = Reader::new(&data);
    let size = r.u16("TPM2B_SENSITIVE").map_err(|err| wire_rc(&err))?;
    if usize::from(size) + 2 != data.len() {
        return Err(TpmRc::SIZE);
    }
    let s = TpmtSensitive::unmarshal(&mut r).map_err(|err| wire_rc(&err))?;
    if !r.is_empty() {
        return Err(TpmRc::SIZE);
    }
    Ok(s)
}

/// TPM2_Duplicate (part 3 §13.1).
///
/// Handles: objectHandle (1, DUP role), newParentHandle (2, TPM_RH_NULL for none).
/// Parameters: encryptionKeyIn (1), symmetricAlg (2).
fn duplicate(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let key_in: Tpm2bData = ctx.param()?;
    let sym = ctx.param_with(TpmtSymDefObject::unmarshal_allow_null)?;
    let key_bytes = inner_key_bytes(sym, 2)?;
    ctx.finish()?;
    let (public, name, sensitive) = {
        let obj = loaded(e, ctx, 1)?;
        let s = to_tpmt_sensitive(
            obj.public.object_type(),
            obj.public.name_alg,
            &obj.sensitive,
        )?;
        (obj.public.clone(), obj.name.clone(), s)
    };
    let new_parent_handle = ctx.handles[1];
    let attrs = public.object_attributes;
    if attrs.has(TpmaObject::FIXED_PARENT) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    let name_alg = HashAlg::from_alg(public.name_alg).ok_or(TpmRc::TYPE.with_handle(1))?;
    let parent = storage_or_null(e, ctx, 2)?;
    if attrs.has(TpmaObject::ENCRYPTED_DUPLICATION) {
        if key_bytes.is_none() {
            return Err(TpmRc::SYMMETRIC.with_parameter(2));
        }
        if new_parent_handle == TpmHandle::NULL {
            return Err(TpmRc::HIERARCHY.with_handle(2));
        }
    }
    match key_bytes {
        None if !key_in.is_empty() => return Err(TpmRc::SIZE.with_parameter(1)),
        Some(n) if !key_in.is_empty() && key_in.len() != n => {
            return Err(TpmRc::SIZE.with_parameter(1));
        }
        _ => {}
    }
    let seed = match &parent {
        Some(p) => Some(secret::encrypt(e, p, DUPLICATE)?),
        None => None,
    };

    let mut data = Zeroizing::new(Vec::new());
    Tpm2bSensitive {
        sensitive_area: Some(sensitive),
    }
    .marshal(&mut data);
    let mut key_out: Secret = Zeroizing::new(Vec::new());
    if let Some(n) = key_bytes {
        let key: Secret = if key_in.is_empty() {
            let fresh = Zeroizing::new(e.random_vec(n));
            key_out.clone_from(&fresh);
            fresh
        } else {
            Zeroizing::new(key_in.as_bytes().to_vec())
        };
        let integrity = digest(name_alg, &[&data, &name]);
        let mut inner = Zeroizing::new(Vec::with_capacity(2 + integrity.len() + data.len()));
        Tpm2bDigest::new(&integrity)
            .map_err(|_| TpmRc::SIZE)?
            .marshal(&mut inner);
        inner.extend_from_slice(&data);
        cfb_encrypt(&key, &ZERO_IV, &mut inner).map_err(|_| TpmRc::SYMMETRIC)?;
        data = inner;
    }
    let (blob, encrypted) = match (&parent, seed) {
        (Some(p), Some((seed, encrypted))) => {
            (secret::seal_with_seed(p, &seed, &name, &data)?, encrypted)
        }
        _ => (data.to_vec(), Vec::new()),
    };
    ctx.put(&Tpm2bData::new(&key_out).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&Tpm2bPrivate::new(&blob).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&Tpm2bEncryptedSecret::new(&encrypted).map_err(|_| TpmRc::SIZE)?);
    Ok(())
}

/// TPM2_Rewrap (part 3 §13.2): moves a duplication blob from the outer wrapper of oldParent
/// to one of newParent (either may be TPM_RH_NULL for no outer wrapper).
///
/// Parameters: inDuplicate (1), name (2), inSymSeed (3).
fn rewrap(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let in_duplicate: Tpm2bPrivate = ctx.param()?;
    let name: Tpm2bName = ctx.param()?;
    let in_seed: Tpm2bEncryptedSecret = ctx.param()?;
    ctx.finish()?;
    let old_null = ctx.handles[0] == TpmHandle::NULL;
    if in_seed.is_empty() != old_null {
        return Err(TpmRc::HANDLE.with_handle(1));
    }
    let name = name.as_bytes();
    let inner: Zeroizing<Vec<u8>> = match storage_or_null(e, ctx, 1)? {
        Some(old) => {
            let seed = secret::decrypt(loaded(e, ctx, 1)?, DUPLICATE, in_seed.as_bytes())
                .map_err(|_| TpmRc::VALUE.with_parameter(3))?;
            secret::open_with_seed(&old, &seed, name, in_duplicate.as_bytes())
                .map_err(|rc| rc.with_parameter(1))?
        }
        None => Zeroizing::new(in_duplicate.as_bytes().to_vec()),
    };
    let (blob, encrypted) = match storage_or_null(e, ctx, 2)? {
        Some(new) => {
            let (seed, encrypted) = secret::encrypt(e, &new, DUPLICATE)?;
            (
                secret::seal_with_seed(&new, &seed, name, &inner)?,
                encrypted,
            )
        }
        None => (inner.to_vec(), Vec::new()),
    };
    ctx.put(&Tpm2bPrivate::new(&blob).map_err(|_| TpmRc::VALUE.with_parameter(1))?);
    ctx.put(&Tpm2bEncryptedSecret::new(&encrypted).map_err(|_| TpmRc::SIZE)?);
    Ok(())
}

/// TPM2_Import (part 3 §13.3).
///
/// Parameters: encryptionKey (1), objectPublic (2), duplicate (3), inSymSeed (4),
/// symmetricAlg (5).
fn import(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let key: Tpm2bData = ctx.param()?;
    let in_public: Tpm2bPublic = ctx.param()?;
    check_supported(&in_public.public_area).map_err(|rc| rc.with_parameter(2))?;
    let dup: Tpm2bPrivate = ctx.param()?;
    let in_seed: Tpm2bEncryptedSecret = ctx.param()?;
    let sym = ctx.param_with(TpmtSymDefObject::unmarshal_allow_null)?;
    let key_bytes = inner_key_bytes(sym, 5)?;
    ctx.finish()?;
    let public = in_public.public_area;
    let attrs = public.object_attributes;
    if attrs.has(TpmaObject::FIXED_TPM) || attrs.has(TpmaObject::FIXED_PARENT) {
        return Err(TpmRc::ATTRIBUTES.with_parameter(2));
    }
    let parent = loaded(e, ctx, 1)?;
    if !parent.is_storage_parent() {
        return Err(TpmRc::TYPE.with_handle(1));
    }
    let encrypted_duplication = attrs.has(TpmaObject::ENCRYPTED_DUPLICATION);
    match key_bytes {
        Some(n) if key.len() != n => return Err(TpmRc::SIZE.with_parameter(1)),
        None if !key.is_empty() => return Err(TpmRc::SIZE.with_parameter(1)),
        None if encrypted_duplication => return Err(TpmRc::ATTRIBUTES.with_parameter(1)),
        _ => {}
    }
    let seed = if in_seed.is_empty() {
        if encrypted_duplication {
            return Err(TpmRc::ATTRIBUTES.with_parameter(4));
        }
        None
    } else {
        if parent.public.object_type() == TpmAlgId::SYMCIPHER {
            return Err(TpmRc::TYPE.with_handle(1));
        }
        Some(
            secret::decrypt(parent, DUPLICATE, in_seed.as_bytes())
                .map_err(|rc| rc.with_parameter(4))?,
        )
    };
    let name_alg = HashAlg::from_alg(public.name_alg).ok_or(TpmRc::HASH.with_parameter(2))?;
    let name = compute_name(&public);
    let outer = seed.as_ref().map(|s| (&parent.public, s.as_slice()));
    let inner_key = key_bytes.map(|_| key.as_bytes());
    let sensitive = duplicate_to_sensitive(dup.as_bytes(), &name, name_alg, outer, inner_key)
        .map_err(|rc| rc.with_parameter(3))?;
    if parent.has(TpmaObject::FIXED_TPM) {
        load_checks(Some(parent), &public, Some(&sensitive), 2, 3)?;
    }
    // Re-marshalled from our own structure, so the auth value is padded like any object's.
    let own = from_tpmt_sensitive(&sensitive);
    let protected = to_tpmt_sensitive(public.object_type(), public.name_alg, &own)?;
    let mut iv = [0u8; IV_SIZE];
    e.random(&mut iv);
    let parent = loaded(e, ctx, 1)?;
    let private = sensitive_to_private(parent, &name, protected, &iv)?;
    ctx.put(&private);
    Ok(())
}

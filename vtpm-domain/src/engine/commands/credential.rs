//! Credential protection (TCG TPM 2.0 Library part 1 §24.6 "Protected storage of credentials",
//! part 3 §12.5 TPM2_ActivateCredential and §12.6 TPM2_MakeCredential): a credential (a short
//! secret, at most one nameAlg digest) is released only to the TPM that holds a given key
//! (typically the EK) and only for a given object on it (typically an attestation key).
//!
//! MakeCredential shares a seed with the holder of `handle` under the label "IDENTITY"
//! (`engine::secret`), then builds the TPM2B_ID_OBJECT:
//!
//! ```text
//! symKey    = KDFa(nameAlg, seed, "STORAGE", objectName, "", symmetric key bits of handle)
//! hmacKey   = KDFa(nameAlg, seed, "INTEGRITY", "", "", nameAlg digest bits)
//! encIdent  = AES-CFB(symKey, IV = 0, TPM2B_DIGEST(credential))
//! idObject  = TPM2B_DIGEST(HMAC(hmacKey, encIdent || objectName)) || encIdent
//! ```
//!
//! ActivateCredential recovers the seed with `keyHandle`'s private key, checks the HMAC with
//! the Name of `activateHandle` (TPM_RC_INTEGRITY when it differs: another object, another
//! TPM, a changed blob) and returns the credential. `handle` / `keyHandle` must be restricted
//! asymmetric decryption keys (TPM_RC_TYPE). Codes and their numbers follow libtpms (checked
//! against swtpm in `tests/credential_vs_swtpm.rs`).

use alloc::vec::Vec;

use tpm2::cc::TpmCc;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    PublicDetail, Tpm2bDigest, Tpm2bEncryptedSecret, Tpm2bIdObject, Tpm2bName, TpmaObject,
    TpmtPublic,
};
use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::engine::crypto::hash::HashAlg;
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::HandleKind as K;
use crate::engine::object::Object;
use crate::engine::secret;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::MAKE_CREDENTIAL,
        handles: &[K::Object],
        roles: &[],
        nv: false,
        handler: make_credential,
    },
    Entry {
        cc: TpmCc::ACTIVATE_CREDENTIAL,
        handles: &[K::Object, K::Object],
        roles: &[AuthRole::Admin, AuthRole::User],
        nv: false,
        handler: activate_credential,
    },
];

/// The label of credential seeds, with its terminating zero.
const IDENTITY: &[u8] = b"IDENTITY\0";

/// Whether `public` is a restricted asymmetric decryption key (a storage key or an EK).
fn restricted_decrypt(public: &TpmtPublic) -> bool {
    let bits = TpmaObject::DECRYPT | TpmaObject::RESTRICTED;
    matches!(
        public.detail,
        PublicDetail::Rsa { .. } | PublicDetail::Ecc { .. }
    ) && public.object_attributes.0 & bits == bits
}

/// TPM2_MakeCredential (part 3 §12.6).
fn make_credential(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let credential: Tpm2bDigest = ctx.param()?;
    let object_name: Tpm2bName = ctx.param()?;
    ctx.finish()?;
    let protector = e
        .state
        .object(ctx.handles[0])
        .ok_or(TpmRc::HANDLE.with_handle(1))?
        .public
        .clone();
    if !restricted_decrypt(&protector) {
        return Err(TpmRc::TYPE.with_handle(1));
    }
    let digest_size = HashAlg::from_alg(protector.name_alg).map_or(0, HashAlg::digest_size);
    if credential.as_bytes().len() > digest_size {
        return Err(TpmRc::SIZE.with_parameter(1));
    }
    let (seed, encrypted) = secret::encrypt(e, &protector, IDENTITY)?;
    let name = object_name.as_bytes();
    let mut plain = Zeroizing::new(Vec::new());
    credential.marshal(&mut plain);
    let blob = secret::seal_with_seed(&protector, &seed, name, &plain)?;
    ctx.put(&Tpm2bIdObject::new(&blob).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&Tpm2bEncryptedSecret::new(&encrypted).map_err(|_| TpmRc::SIZE)?);
    Ok(())
}

/// TPM2_ActivateCredential (part 3 §12.5).
fn activate_credential(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let blob: Tpm2bIdObject = ctx.param()?;
    let encrypted: Tpm2bEncryptedSecret = ctx.param()?;
    ctx.finish()?;
    let activate = e
        .state
        .object(ctx.handles[0])
        .ok_or(TpmRc::HANDLE.with_handle(1))?;
    let name = activate.name.clone();
    let key = e
        .state
        .object(ctx.handles[1])
        .ok_or(TpmRc::HANDLE.with_handle(2))?;
    if !restricted_decrypt(&key.public) {
        return Err(TpmRc::TYPE.with_handle(2));
    }
    let seed =
        secret::decrypt(key, IDENTITY, encrypted.as_bytes()).map_err(|rc| rc.with_parameter(2))?;
    let credential = credential_from_blob(key, &seed, &name, blob.as_bytes())
        .map_err(|rc| rc.with_parameter(1))?;
    ctx.put(&credential);
    Ok(())
}

/// Checks and decrypts a TPM2B_ID_OBJECT's contents (codes without a parameter number).
fn credential_from_blob(
    key: &Object,
    seed: &[u8],
    name: &[u8],
    blob: &[u8],
) -> Result<Tpm2bDigest, TpmRc> {
    // libtpms' own checks of the integrity field come first: any unmarshalling failure is
    // TPM_RC_INSUFFICIENT, a digest of another size TPM_RC_SIZE.
    let hash = HashAlg::from_alg(key.public.name_alg).ok_or(TpmRc::HASH)?;
    let mut r = Reader::new(blob);
    let integrity = Tpm2bDigest::unmarshal(&mut r).map_err(|_| TpmRc::INSUFFICIENT)?;
    if integrity.as_bytes().len() != hash.digest_size() {
        return Err(TpmRc::SIZE);
    }
    let plain = secret::open_with_seed(&key.public, seed, name, blob)?;
    let mut r = Reader::new(&plain);
    let credential = Tpm2bDigest::unmarshal(&mut r).map_err(|_| TpmRc::SIZE)?;
    if r.remaining() != 0 {
        return Err(TpmRc::SIZE);
    }
    Ok(credential)
}

//! Commands that use loaded keys (TCG TPM 2.0 Library part 3):
//!
//! - signing: TPM2_VerifySignature (§20.1) and TPM2_Sign (§20.2), with the scheme selection of
//!   part 1 §11.2.4–§11.2.5 and the hash-check and verification tickets of part 2 §10.7;
//! - asymmetric primitives: TPM2_RSA_Encrypt (§14.2), TPM2_RSA_Decrypt (§14.3),
//!   TPM2_ECDH_KeyGen (§14.4), TPM2_ECDH_ZGen (§14.5);
//! - symmetric encryption: TPM2_EncryptDecrypt (§15.2) and TPM2_EncryptDecrypt2 (§15.3);
//! - sealed data: TPM2_Unseal (§12.7).
//!
//! Response codes, and the handle or parameter number they carry, follow part 3 as the
//! reference implementation (libtpms, which swtpm runs) returns them; the file
//! `tests/keys_vs_swtpm.rs` compares both on the same keys. In particular:
//! - a signing scheme must fit the key type (TPM_RC_SCHEME for inScheme otherwise), as libtpms
//!   checks since the fix of CVE-2025-49133;
//! - TPM2_EncryptDecrypt's `ivOut` after a partial CFB block is OpenSSL's shift register, as
//!   swtpm returns it;
//! - one deliberate difference: an RSA encryption or decryption that fails is TPM_RC_VALUE
//!   (part 3 §14.2, §14.3), where libtpms 0.9.2 answers TPM_RC_FAILURE, a code that tells the
//!   caller the TPM itself failed.
//!
//! Shared pieces other command families use: [`hashcheck_ticket`] (TPM2_Hash,
//! TPM2_SequenceComplete), [`verify_hashcheck_ticket`], [`verified_ticket`],
//! [`select_sign_scheme`], [`scheme_hash`], [`check_sign_scheme_implemented`] and
//! [`sign_digest`] (attestation commands), [`validate_signature`]
//! (TPM2_PolicySigned), and [`TpmRng`], the TPM's DRBG as a `rand_core` source.

use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSt;
use tpm2::structures::{Tpm2bDigest, TpmtTkHashcheck, TpmtTkVerified};

use crate::engine::Engine;
use crate::engine::auth::ct_eq;
use crate::engine::crypto::hash::{HashAlg, hmac};
use crate::engine::dispatch::{AuthRole, Entry};
use crate::engine::entity::HandleKind;
use crate::engine::object::Object;

#[path = "keys_asym.rs"]
mod asym;
#[path = "keys_sign.rs"]
mod sign;
#[path = "keys_sym.rs"]
mod sym;
#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;

pub(crate) use sign::{
    check_implemented as check_sign_scheme_implemented, check_signature_implemented, scheme_hash,
    select_sign_scheme, sign_digest, validate_signature,
};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::SIGN,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: sign::sign,
    },
    Entry {
        cc: TpmCc::VERIFY_SIGNATURE,
        handles: &[HandleKind::Object],
        roles: &[],
        nv: false,
        handler: sign::verify_signature,
    },
    Entry {
        cc: TpmCc::RSA_ENCRYPT,
        handles: &[HandleKind::Object],
        roles: &[],
        nv: false,
        handler: asym::rsa_encrypt,
    },
    Entry {
        cc: TpmCc::RSA_DECRYPT,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: asym::rsa_decrypt,
    },
    Entry {
        cc: TpmCc::ECDH_KEY_GEN,
        handles: &[HandleKind::Object],
        roles: &[],
        nv: false,
        handler: asym::ecdh_key_gen,
    },
    Entry {
        cc: TpmCc::ECDH_ZGEN,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: asym::ecdh_zgen,
    },
    Entry {
        cc: TpmCc::ENCRYPT_DECRYPT,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: sym::encrypt_decrypt,
    },
    Entry {
        cc: TpmCc::ENCRYPT_DECRYPT_2,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: sym::encrypt_decrypt2,
    },
    Entry {
        cc: TpmCc::UNSEAL,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: sym::unseal,
    },
];

/// The hash of the HMAC that makes tickets (libtpms' CONTEXT_INTEGRITY_HASH_ALG).
const TICKET_HASH: HashAlg = HashAlg::Sha512;

/// The TPM's DRBG as a `rand_core` random source (for RSA padding, ECDSA nonces and ephemeral
/// keys).
pub(crate) struct TpmRng<'a>(pub(crate) &'a mut Engine);

impl RngCore for TpmRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.random(&mut b);
        u32::from_be_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.random(&mut b);
        u64::from_be_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.random(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.random(dest);
        Ok(())
    }
}

impl CryptoRng for TpmRng<'_> {}

/// The TPMT_TK_HASHCHECK proving that the TPM hashed data (not starting with
/// TPM_GENERATED_VALUE) into `digest` with `alg` (part 2 §10.7.6):
/// `HMAC(proof(hierarchy), TPM_ST_HASHCHECK || alg || digest)`, keyed with the hierarchy's
/// proof (the null proof for TPM_RH_NULL). The algorithm is included as the reference
/// implementation does, so a ticket for one hash cannot vouch for a digest of another.
pub(crate) fn hashcheck_ticket(
    e: &Engine,
    hierarchy: TpmHandle,
    alg: TpmAlgId,
    digest: &[u8],
) -> TpmtTkHashcheck {
    let mac = hmac(
        TICKET_HASH,
        e.state.proof(hierarchy),
        &[
            &TpmSt::HASHCHECK.0.to_be_bytes(),
            &alg.0.to_be_bytes(),
            digest,
        ],
    );
    TpmtTkHashcheck {
        hierarchy,
        digest: Tpm2bDigest::new(&mac).unwrap_or_else(|_| Tpm2bDigest::empty()),
    }
}

/// Whether `ticket` is the hash-check ticket this TPM issued for `digest` hashed with `alg`.
/// The NULL ticket (and any ticket with an empty digest) never verifies.
pub(crate) fn verify_hashcheck_ticket(
    e: &Engine,
    ticket: &TpmtTkHashcheck,
    alg: TpmAlgId,
    digest: &[u8],
) -> bool {
    let expected = hashcheck_ticket(e, ticket.hierarchy, alg, digest);
    ct_eq(ticket.digest.as_bytes(), expected.digest.as_bytes())
}

/// The TPMT_TK_VERIFIED for a signature over `digest` by the key named `key_name` in
/// `hierarchy` (part 2 §10.7.4): `HMAC(proof(hierarchy), TPM_ST_VERIFIED || digest ||
/// keyName)`.
pub(crate) fn verified_ticket(
    e: &Engine,
    hierarchy: TpmHandle,
    digest: &[u8],
    key_name: &[u8],
) -> TpmtTkVerified {
    let mac = hmac(
        TICKET_HASH,
        e.state.proof(hierarchy),
        &[&TpmSt::VERIFIED.0.to_be_bytes(), digest, key_name],
    );
    TpmtTkVerified {
        hierarchy,
        digest: Tpm2bDigest::new(&mac).unwrap_or_else(|_| Tpm2bDigest::empty()),
    }
}

/// The loaded object behind the (already checked) handle `h`; TPM_RC_HANDLE for handle 1 if
/// it vanished.
fn loaded(e: &Engine, h: TpmHandle) -> Result<&Object, TpmRc> {
    e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))
}

/// A hash algorithm this TPM implements, or TPM_RC_HASH for parameter `n` (what unmarshalling
/// a TPMI_ALG_HASH the TPM does not implement returns).
fn implemented_hash(alg: TpmAlgId, n: u8) -> Result<HashAlg, TpmRc> {
    HashAlg::from_alg(alg).ok_or(TpmRc::HASH.with_parameter(n))
}

/// Left-pads `bytes` to `len` (used to give ECC coordinates their curve size).
fn padded(bytes: &[u8], len: usize) -> Vec<u8> {
    crate::engine::crypto::left_pad(bytes, len).unwrap_or_else(|| bytes.to_vec())
}

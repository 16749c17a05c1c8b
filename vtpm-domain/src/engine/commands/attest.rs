//! Attestation commands (TCG TPM 2.0 Library part 3 §18): TPM2_Quote (§18.4), with the common
//! TPMS_ATTEST fields of part 2 §10.12.12 (the reference implementation's `FillInAttestInfo`
//! and `SignAttestInfo`).
//!
//! - signHandle is TPMI_DH_OBJECT+ with the USER role (auth index 1). TPM_RH_NULL is accepted
//!   by the handle area, but a quote needs a hash for its PCR digest and the NULL key has no
//!   scheme, so it ends in TPM_RC_SCHEME for inScheme (as libtpms answers).
//! - The signing scheme is chosen by [`select_sign_scheme`] (part 1 §11.2.4, shared with
//!   TPM2_Sign) and the signature made by [`sign_digest`] over `H_scheme(TPMS_ATTEST)`.
//! - `pcrDigest` is `H_scheme(PCR values in selection order)` over the allocated PCRs the
//!   selection names; the returned `pcrSelect` has the unallocated ones removed (part 1 §17.6,
//!   libtpms `PCRComputeCurrentDigest`).
//! - Privacy (part 1 §36.7 "Privacy"): unless the key is in the endorsement or platform
//!   hierarchy, resetCount, restartCount and firmwareVersion are obfuscated by adding
//!   `KDFa(SHA-512, shProof, "OBFUSCATE", Name(key), "", 128)`: its first eight bytes (read
//!   big-endian) to firmwareVersion, the next eight split into the high and low 32 bits added
//!   to resetCount and restartCount (all wrapping). The values differ from swtpm's (other
//!   proofs) but have the same property: constant for one key between resets, meaningless
//!   without shProof.
//! - `clockInfo.safe` is TPMA_STARTUP_CLEAR.orderly: the clock cannot have gone backwards unless
//!   the TPM lost power without TPM2_Shutdown.

use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    Tpm2bAttest, Tpm2bData, Tpm2bDigest, Tpm2bName, TpmaObject, TpmsAttest, TpmsClockInfo,
    TpmsQuoteInfo, TpmtSigScheme, TpmuAttest,
};

use super::capability::firmware_version;
use super::keys::{check_sign_scheme_implemented, scheme_hash, select_sign_scheme, sign_digest};
use crate::engine::Engine;
use crate::engine::crypto::hash::{HashAlg, digest};
use crate::engine::crypto::kdf::kdfa;
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::HandleKind;
use crate::engine::pcr;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[Entry {
    cc: TpmCc::QUOTE,
    handles: &[HandleKind::ObjectOrNull],
    roles: &[AuthRole::User],
    nv: false,
    handler: quote,
}];

/// The label of the obfuscation KDF (the reference implementation's OBFUSCATE_STRING).
const OBFUSCATE: &[u8] = b"OBFUSCATE";

/// TPM2_Quote (part 3 §18.4).
///
/// Parameters: qualifyingData (1, TPM2B_DATA), inScheme (2, TPMT_SIG_SCHEME+), PCRselect (3).
fn quote(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qualifying: Tpm2bData = ctx.param()?;
    let in_scheme = ctx.param_with(TpmtSigScheme::unmarshal_allow_null)?;
    check_sign_scheme_implemented(&in_scheme, 2)?;
    let selection = ctx.param_with(pcr::read_selection)?;
    ctx.finish()?;
    let h = ctx.handles[0];
    let scheme = if h == TpmHandle::NULL {
        // The NULL key signs with the NULL scheme, which has no hash for the PCR digest.
        TpmtSigScheme::Null
    } else {
        let obj = e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))?;
        if !obj.public.object_attributes.has(TpmaObject::SIGN)
            || obj.public.object_type() == TpmAlgId::SYMCIPHER
        {
            return Err(TpmRc::KEY.with_handle(1));
        }
        select_sign_scheme(&obj.public, in_scheme).ok_or(TpmRc::SCHEME.with_parameter(2))?
    };
    let hash = scheme_hash(&scheme)
        .and_then(HashAlg::from_alg)
        .ok_or(TpmRc::SCHEME.with_parameter(2))?;

    let (pcr_select, values) = e.state.vol.pcr.values(&selection);
    let pcr_digest = Tpm2bDigest::new(&digest(hash, &values)).map_err(|_| TpmRc::FAILURE)?;
    let attest = fill_attest_info(
        e,
        h,
        qualifying,
        TpmuAttest::Quote(TpmsQuoteInfo {
            pcr_select,
            pcr_digest,
        }),
    )?;
    let bytes = attest.to_bytes();
    let quoted = Tpm2bAttest::new(&bytes).map_err(|_| TpmRc::SIZE)?;
    let signature = sign_digest(e, h, &scheme, &digest(hash, &[&bytes]))?;
    ctx.put(&quoted);
    ctx.put(&signature);
    Ok(())
}

/// The TPMS_ATTEST fields every attestation shares (`FillInAttestInfo`): the signer's
/// Qualified Name, the caller's data, the clock and the firmware version, obfuscated for keys
/// outside the endorsement and platform hierarchies (see the module documentation).
fn fill_attest_info(
    e: &Engine,
    h: TpmHandle,
    extra_data: Tpm2bData,
    attested: TpmuAttest,
) -> Result<TpmsAttest, TpmRc> {
    let (v1, v2) = firmware_version();
    let mut firmware = (u64::from(v1) << 32) | u64::from(v2);
    let perm = &e.state.perm;
    let mut clock_info = TpmsClockInfo {
        clock: perm.clock,
        reset_count: perm.reset_count,
        restart_count: perm.restart_count,
        safe: e.state.vol.orderly,
    };
    // The NULL key never gets here (TPM_RC_SCHEME first): `h` is a loaded object.
    let obj = e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))?;
    let plain = matches!(obj.hierarchy, TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM);
    if !plain {
        let mask = kdfa(
            HashAlg::Sha512,
            &perm.sh_proof,
            OBFUSCATE,
            &obj.name,
            &[],
            128,
        );
        let word = |i: usize| {
            mask.get(i..i + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes)
        };
        let (first, second) = (word(0), word(8));
        firmware = firmware.wrapping_add(first);
        let high = u32::try_from(second >> 32).unwrap_or(0);
        let low = u32::try_from(second & 0xffff_ffff).unwrap_or(0);
        clock_info.reset_count = clock_info.reset_count.wrapping_add(high);
        clock_info.restart_count = clock_info.restart_count.wrapping_add(low);
    }
    Ok(TpmsAttest {
        qualified_signer: Tpm2bName::new(&obj.qualified_name).map_err(|_| TpmRc::FAILURE)?,
        extra_data,
        clock_info,
        firmware_version: firmware,
        attested,
    })
}

#[cfg(test)]
#[path = "attest_tests.rs"]
mod tests;

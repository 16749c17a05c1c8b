//! Attestation commands (TCG TPM 2.0 Library part 3 §18): TPM2_Certify (§18.2),
//! TPM2_CertifyCreation (§18.3), TPM2_Quote (§18.4), TPM2_GetSessionAuditDigest (§18.5),
//! TPM2_GetCommandAuditDigest (§18.6), TPM2_GetTime (§18.7), and TPM2_NV_Certify (§31.16),
//! with the common TPMS_ATTEST fields of part 2 §10.12.12 (the reference implementation's
//! `FillInAttestInfo` and `SignAttestInfo`).
//!
//! - signHandle is TPMI_DH_OBJECT+ with the USER role. It must be a signing key (sign set, not
//!   a symmetric cipher: TPM_RC_KEY for its handle). The signing scheme is chosen by
//!   [`select_sign_scheme`] (part 1 §11.2.4, shared with TPM2_Sign; TPM_RC_SCHEME for
//!   inScheme) and the signature made by [`sign_digest`] over `H_scheme(TPMS_ATTEST)`.
//! - signHandle TPM_RH_NULL gives the attestation with the NULL signature: its
//!   qualifiedSigner is the handle TPM_RH_NULL, whatever inScheme says. A quote still needs a
//!   hash for its PCR digest, so TPM2_Quote with TPM_RH_NULL ends in TPM_RC_SCHEME for
//!   inScheme (as libtpms answers).
//! - `pcrDigest` is `H_scheme(PCR values in selection order)` over the allocated PCRs the
//!   selection names; the returned `pcrSelect` has the unallocated ones removed (part 1 §17.6,
//!   libtpms `PCRComputeCurrentDigest`).
//! - Privacy (part 1 §36.7 "Privacy"): unless the key is in the endorsement or platform
//!   hierarchy (TPM_RH_NULL never is), resetCount, restartCount and firmwareVersion are
//!   obfuscated by adding `KDFa(SHA-512, shProof, "OBFUSCATE", qualifiedSigner, "", 128)`: its
//!   first eight bytes (read big-endian) to firmwareVersion, the next eight split into the
//!   high and low 32 bits added to resetCount and restartCount (all wrapping). The values
//!   differ from swtpm's (other proofs) but have the same property: constant for one key
//!   between resets, meaningless without shProof. TPM2_GetTime's own TPMS_TIME_INFO and
//!   firmwareVersion are in the clear (only the common header is obfuscated).
//! - `clockInfo.safe` is TPMA_STARTUP_CLEAR.orderly: the clock cannot have gone backwards unless
//!   the TPM lost power without TPM2_Shutdown.
//! - TPM2_CertifyCreation recomputes the creation ticket of `commands::object`
//!   (`HMAC_SHA512(proof(hierarchy), TPM_ST_CREATION || Name || creationHash)`) and refuses a
//!   ticket that differs (TPM_RC_TICKET for parameter 4).
//! - TPM2_NV_Certify reads like TPM2_NV_Read (`commands::nv::read_access`): size and offset
//!   both zero ask for `H_scheme(whole index)` (TPM_ST_ATTEST_NV_DIGEST; empty with the NULL
//!   scheme), otherwise the range itself (TPM_ST_ATTEST_NV).
//! - TPM2_GetCommandAuditDigest reports `engine::audit` and, when it signs with a key, clears
//!   the command audit digest. TPM2_GetSessionAuditDigest needs an HMAC session that was used
//!   for audit (TPM_RC_TYPE for handle 3 otherwise).

use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    MAX_NV_BUFFER_SIZE, Tpm2bAttest, Tpm2bData, Tpm2bDigest, Tpm2bMaxNvBuffer, Tpm2bName,
    TpmaObject, TpmsAttest, TpmsCertifyInfo, TpmsClockInfo, TpmsCommandAuditInfo, TpmsCreationInfo,
    TpmsNvCertifyInfo, TpmsNvDigestCertifyInfo, TpmsQuoteInfo, TpmsSessionAuditInfo,
    TpmsTimeAttestInfo, TpmsTimeInfo, TpmtSigScheme, TpmtSignature, TpmtTkCreation, TpmuAttest,
};

use super::capability::firmware_version;
use super::keys::{check_sign_scheme_implemented, scheme_hash, select_sign_scheme, sign_digest};
use super::nv::read_access;
use super::object::creation_ticket;
use crate::engine::Engine;
use crate::engine::auth::ct_eq;
use crate::engine::crypto::hash::{HashAlg, digest};
use crate::engine::crypto::kdf::kdfa;
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::HandleKind as K;
use crate::engine::pcr;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::QUOTE,
        handles: &[K::ObjectOrNull],
        roles: &[AuthRole::User],
        nv: false,
        handler: quote,
    },
    Entry {
        cc: TpmCc::CERTIFY,
        handles: &[K::Object, K::ObjectOrNull],
        roles: &[AuthRole::Admin, AuthRole::User],
        nv: false,
        handler: certify,
    },
    Entry {
        cc: TpmCc::CERTIFY_CREATION,
        handles: &[K::ObjectOrNull, K::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: certify_creation,
    },
    Entry {
        cc: TpmCc::GET_TIME,
        handles: &[K::Endorsement, K::ObjectOrNull],
        roles: &[AuthRole::User, AuthRole::User],
        nv: false,
        handler: get_time,
    },
    Entry {
        cc: TpmCc::NV_CERTIFY,
        handles: &[K::ObjectOrNull, K::NvAuth, K::NvIndex],
        roles: &[AuthRole::User, AuthRole::User],
        nv: false,
        handler: nv_certify,
    },
    Entry {
        cc: TpmCc::GET_COMMAND_AUDIT_DIGEST,
        handles: &[K::Endorsement, K::ObjectOrNull],
        roles: &[AuthRole::User, AuthRole::User],
        nv: true,
        handler: get_command_audit_digest,
    },
    Entry {
        cc: TpmCc::GET_SESSION_AUDIT_DIGEST,
        handles: &[K::Endorsement, K::ObjectOrNull, K::HmacSession],
        roles: &[AuthRole::User, AuthRole::User],
        nv: false,
        handler: get_session_audit_digest,
    },
];

/// The label of the obfuscation KDF (the reference implementation's OBFUSCATE_STRING).
const OBFUSCATE: &[u8] = b"OBFUSCATE";

// ---------------------------------------------------------------------------------------------
// Shared steps (FillInAttestInfo, SignAttestInfo)
// ---------------------------------------------------------------------------------------------

/// The signing key `h` (handle number `hn`) and its scheme (parameter `pn`), as every
/// attestation checks them (`IsSigningObject`, `CryptSelectSignScheme`): TPM_RH_NULL signs
/// with the NULL scheme whatever was asked.
fn signing_scheme(
    e: &Engine,
    h: TpmHandle,
    hn: u8,
    in_scheme: TpmtSigScheme,
    pn: u8,
) -> Result<TpmtSigScheme, TpmRc> {
    if h == TpmHandle::NULL {
        return Ok(TpmtSigScheme::Null);
    }
    let obj = e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(hn))?;
    if !obj.public.object_attributes.has(TpmaObject::SIGN)
        || obj.public.object_type() == TpmAlgId::SYMCIPHER
    {
        return Err(TpmRc::KEY.with_handle(hn));
    }
    select_sign_scheme(&obj.public, in_scheme).ok_or(TpmRc::SCHEME.with_parameter(pn))
}

/// The TPMS_ATTEST fields every attestation shares (`FillInAttestInfo`): the signer's
/// Qualified Name (TPM_RH_NULL's handle for the NULL signer), the caller's data, the clock
/// and the firmware version, obfuscated for signers outside the endorsement and platform
/// hierarchies (see the module documentation).
fn fill_attest_info(
    e: &Engine,
    h: TpmHandle,
    extra_data: Tpm2bData,
    attested: TpmuAttest,
) -> Result<TpmsAttest, TpmRc> {
    let mut firmware = plain_firmware_version();
    let perm = &e.state.perm;
    let mut clock_info = clock_info(e);
    let null_name = TpmHandle::NULL.0.to_be_bytes();
    let (signer, plain) = if h == TpmHandle::NULL {
        (&null_name[..], false)
    } else {
        let obj = e.state.object(h).ok_or(TpmRc::FAILURE)?;
        let plain = matches!(obj.hierarchy, TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM);
        (&obj.qualified_name[..], plain)
    };
    if !plain {
        let mask = kdfa(HashAlg::Sha512, &perm.sh_proof, OBFUSCATE, signer, &[], 128);
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
        qualified_signer: Tpm2bName::new(signer).map_err(|_| TpmRc::FAILURE)?,
        extra_data,
        clock_info,
        firmware_version: firmware,
        attested,
    })
}

/// TPMS_CLOCK_INFO now, in the clear.
fn clock_info(e: &Engine) -> TpmsClockInfo {
    let perm = &e.state.perm;
    TpmsClockInfo {
        clock: perm.clock,
        reset_count: perm.reset_count,
        restart_count: perm.restart_count,
        safe: e.state.vol.orderly,
    }
}

/// The firmware version as one u64 (TPM_PT_FIRMWARE_VERSION_1 in the high half).
fn plain_firmware_version() -> u64 {
    let (v1, v2) = firmware_version();
    (u64::from(v1) << 32) | u64::from(v2)
}

/// Builds the attestation of `attested` for signer `h` and puts it and its signature into the
/// response (`SignAttestInfo`): the NULL scheme gives the NULL signature.
fn attest_and_sign(
    e: &mut Engine,
    ctx: &mut Ctx,
    h: TpmHandle,
    scheme: &TpmtSigScheme,
    qualifying: Tpm2bData,
    attested: TpmuAttest,
) -> Result<(), TpmRc> {
    let attest = fill_attest_info(e, h, qualifying, attested)?;
    let bytes = attest.to_bytes();
    let attest_2b = Tpm2bAttest::new(&bytes).map_err(|_| TpmRc::SIZE)?;
    let signature = match scheme_hash(scheme).and_then(HashAlg::from_alg) {
        None => TpmtSignature::Null,
        Some(hash) => sign_digest(e, h, scheme, &digest(hash, &[&bytes]))?,
    };
    ctx.put(&attest_2b);
    ctx.put(&signature);
    Ok(())
}

/// Reads inScheme (TPMT_SIG_SCHEME+) and rejects the schemes this TPM does not implement.
fn read_scheme(ctx: &mut Ctx) -> Result<TpmtSigScheme, TpmRc> {
    let scheme = ctx.param_with(TpmtSigScheme::unmarshal_allow_null)?;
    check_sign_scheme_implemented(&scheme, ctx.index())?;
    Ok(scheme)
}

/// The Name of a loaded object as a TPM2B_NAME.
fn object_name(e: &Engine, h: TpmHandle, n: u8, qualified: bool) -> Result<Tpm2bName, TpmRc> {
    let obj = e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(n))?;
    let name = if qualified {
        &obj.qualified_name
    } else {
        &obj.name
    };
    Tpm2bName::new(name).map_err(|_| TpmRc::FAILURE)
}

// ---------------------------------------------------------------------------------------------
// The commands
// ---------------------------------------------------------------------------------------------

/// TPM2_Quote (part 3 §18.4).
///
/// Parameters: qualifyingData (1, TPM2B_DATA), inScheme (2, TPMT_SIG_SCHEME+), PCRselect (3).
fn quote(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qualifying: Tpm2bData = ctx.param()?;
    let in_scheme = read_scheme(ctx)?;
    let selection = ctx.param_with(pcr::read_selection)?;
    ctx.finish()?;
    let h = ctx.handles[0];
    let scheme = signing_scheme(e, h, 1, in_scheme, 2)?;
    // The NULL key signs with the NULL scheme, which has no hash for the PCR digest.
    let hash = scheme_hash(&scheme)
        .and_then(HashAlg::from_alg)
        .ok_or(TpmRc::SCHEME.with_parameter(2))?;
    let (pcr_select, values) = e.state.vol.pcr.values(&selection);
    let pcr_digest = Tpm2bDigest::new(&digest(hash, &values)).map_err(|_| TpmRc::FAILURE)?;
    let attested = TpmuAttest::Quote(TpmsQuoteInfo {
        pcr_select,
        pcr_digest,
    });
    attest_and_sign(e, ctx, h, &scheme, qualifying, attested)
}

/// TPM2_Certify (part 3 §18.2): objectHandle (1, ADMIN role), signHandle (2).
///
/// Parameters: qualifyingData (1), inScheme (2).
fn certify(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qualifying: Tpm2bData = ctx.param()?;
    let in_scheme = read_scheme(ctx)?;
    ctx.finish()?;
    let (object, h) = (ctx.handles[0], ctx.handles[1]);
    let scheme = signing_scheme(e, h, 2, in_scheme, 2)?;
    let attested = TpmuAttest::Certify(TpmsCertifyInfo {
        name: object_name(e, object, 1, false)?,
        qualified_name: object_name(e, object, 1, true)?,
    });
    attest_and_sign(e, ctx, h, &scheme, qualifying, attested)
}

/// TPM2_CertifyCreation (part 3 §18.3): signHandle (1), objectHandle (2, no authorization).
///
/// Parameters: qualifyingData (1), creationHash (2), inScheme (3), creationTicket (4).
fn certify_creation(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qualifying: Tpm2bData = ctx.param()?;
    let creation_hash: Tpm2bDigest = ctx.param()?;
    let in_scheme = read_scheme(ctx)?;
    let ticket: TpmtTkCreation = ctx.param()?;
    ctx.finish()?;
    let (h, object) = (ctx.handles[0], ctx.handles[1]);
    let scheme = signing_scheme(e, h, 1, in_scheme, 3)?;
    let object_name = object_name(e, object, 2, false)?;
    let expected = creation_ticket(
        e,
        ticket.hierarchy,
        object_name.as_bytes(),
        creation_hash.as_bytes(),
    );
    if !ct_eq(expected.digest.as_bytes(), ticket.digest.as_bytes()) {
        return Err(TpmRc::TICKET.with_parameter(4));
    }
    let attested = TpmuAttest::Creation(TpmsCreationInfo {
        object_name,
        creation_hash,
    });
    attest_and_sign(e, ctx, h, &scheme, qualifying, attested)
}

/// TPM2_GetTime (part 3 §18.7): privacyAdminHandle (1, TPM_RH_ENDORSEMENT), signHandle (2).
///
/// Parameters: qualifyingData (1), inScheme (2).
fn get_time(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qualifying: Tpm2bData = ctx.param()?;
    let in_scheme = read_scheme(ctx)?;
    ctx.finish()?;
    let h = ctx.handles[1];
    let scheme = signing_scheme(e, h, 2, in_scheme, 2)?;
    let attested = TpmuAttest::Time(TpmsTimeAttestInfo {
        time: TpmsTimeInfo {
            time: e.time_ms(),
            clock_info: clock_info(e),
        },
        firmware_version: plain_firmware_version(),
    });
    attest_and_sign(e, ctx, h, &scheme, qualifying, attested)
}

/// TPM2_NV_Certify (part 3 §31.16): signHandle (1), authHandle (2), nvIndex (3).
///
/// Parameters: qualifyingData (1), inScheme (2), size (3), offset (4).
fn nv_certify(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qualifying: Tpm2bData = ctx.param()?;
    let in_scheme = read_scheme(ctx)?;
    let size: u16 = ctx.param()?;
    let offset: u16 = ctx.param()?;
    ctx.finish()?;
    let (h, auth, nv) = (ctx.handles[0], ctx.handles[1], ctx.handles[2]);
    let scheme = signing_scheme(e, h, 1, in_scheme, 2)?;
    let index = e
        .state
        .perm
        .nv
        .get(nv)
        .ok_or(TpmRc::HANDLE.with_handle(3))?;
    read_access(auth, nv, index.attrs())?;
    let (size, offset) = (usize::from(size), usize::from(offset));
    if size + offset > usize::from(index.public.data_size) {
        return Err(TpmRc::NV_RANGE);
    }
    if size > MAX_NV_BUFFER_SIZE {
        return Err(TpmRc::VALUE.with_parameter(3));
    }
    let index_name = Tpm2bName::new(&index.name()).map_err(|_| TpmRc::FAILURE)?;
    let attested = if size == 0 && offset == 0 {
        let d = scheme_hash(&scheme)
            .and_then(HashAlg::from_alg)
            .map(|hash| digest(hash, &[&index.data]))
            .unwrap_or_default();
        TpmuAttest::NvDigest(TpmsNvDigestCertifyInfo {
            index_name,
            nv_digest: Tpm2bDigest::new(&d).map_err(|_| TpmRc::FAILURE)?,
        })
    } else {
        let bytes = index
            .data
            .get(offset..offset + size)
            .ok_or(TpmRc::NV_RANGE)?;
        TpmuAttest::Nv(TpmsNvCertifyInfo {
            index_name,
            offset: u16::try_from(offset).map_err(|_| TpmRc::FAILURE)?,
            nv_contents: Tpm2bMaxNvBuffer::new(bytes).map_err(|_| TpmRc::FAILURE)?,
        })
    };
    attest_and_sign(e, ctx, h, &scheme, qualifying, attested)
}

/// TPM2_GetCommandAuditDigest (part 3 §18.6): privacyHandle (1, TPM_RH_ENDORSEMENT),
/// signHandle (2). A signed report clears the command audit digest.
///
/// Parameters: qualifyingData (1), inScheme (2).
fn get_command_audit_digest(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qualifying: Tpm2bData = ctx.param()?;
    let in_scheme = read_scheme(ctx)?;
    ctx.finish()?;
    let h = ctx.handles[1];
    let scheme = signing_scheme(e, h, 2, in_scheme, 2)?;
    let audit = &e.state.perm.audit;
    let attested = TpmuAttest::CommandAudit(TpmsCommandAuditInfo {
        audit_counter: audit.counter,
        digest_alg: audit.alg.alg(),
        audit_digest: Tpm2bDigest::new(&audit.digest).map_err(|_| TpmRc::FAILURE)?,
        command_digest: Tpm2bDigest::new(&audit.commands_digest()).map_err(|_| TpmRc::FAILURE)?,
    });
    attest_and_sign(e, ctx, h, &scheme, qualifying, attested)?;
    if h != TpmHandle::NULL {
        e.state.perm.audit.digest.clear();
    }
    Ok(())
}

/// TPM2_GetSessionAuditDigest (part 3 §18.5): privacyAdminHandle (1, TPM_RH_ENDORSEMENT),
/// signHandle (2), sessionHandle (3, an HMAC session used for audit).
///
/// Parameters: qualifyingData (1), inScheme (2).
fn get_session_audit_digest(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qualifying: Tpm2bData = ctx.param()?;
    let in_scheme = read_scheme(ctx)?;
    ctx.finish()?;
    let (h, session) = (ctx.handles[1], ctx.handles[2]);
    let scheme = signing_scheme(e, h, 2, in_scheme, 2)?;
    let s = e
        .state
        .vol
        .sessions
        .get(&session.0)
        .ok_or(TpmRc::HANDLE.with_handle(3))?;
    let Some(audit_digest) = &s.audit_digest else {
        return Err(TpmRc::TYPE.with_handle(3));
    };
    let attested = TpmuAttest::SessionAudit(TpmsSessionAuditInfo {
        exclusive_session: s.audit_exclusive,
        session_digest: Tpm2bDigest::new(audit_digest).map_err(|_| TpmRc::FAILURE)?,
    });
    attest_and_sign(e, ctx, h, &scheme, qualifying, attested)
}

#[cfg(test)]
#[path = "attest_tests.rs"]
mod tests;

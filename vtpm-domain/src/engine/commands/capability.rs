//! TPM2_GetCapability (TCG TPM 2.0 Library part 3 §30.2) for every capability of part 2 §6.12,
//! TPM2_TestParms (§30.3), and the implementation limits the rest of the engine enforces.
//!
//! TPM2_TestParms accepts a TPMT_PUBLIC_PARMS exactly when TPM2_CreatePrimary / TPM2_Create
//! would accept the same parameters in a template: the structure must unmarshal (part 2
//! interface types) and pass `commands::object::check_supported` (implemented hashes, RSA
//! 1024/2048/3072, NIST P-256, AES-128/256), failing with that code for parameter 1.
//!
//! # Paging
//!
//! Each capability is a list ordered by its key (algorithm ID, handle, command code, property
//! tag, curve ID). `property` selects the first key to report and `propertyCount` the largest
//! number of entries (capped at the part 2 `MAX_CAP_*` maximum for the 1024-octet
//! MAX_CAP_BUFFER); `moreData` is YES when an entry past those returned exists. Where part 3
//! leaves details to the implementation we do what libtpms (swtpm) does, checked byte for byte
//! by `tests/basics_vs_swtpm.rs`:
//!
//! - TPM_CAP_ALGS and TPM_CAP_ECC_CURVES use the low 16 bits of `property`;
//! - TPM_CAP_HANDLES lists one handle type (the top octet of `property`); other types are
//!   TPM_RC_HANDLE for parameter 2;
//! - TPM_CAP_TPM_PROPERTIES never runs from one group (PT_FIXED, PT_VAR) into the next;
//! - TPM_CAP_PCRS requires `property` = 0 (TPM_RC_VALUE for parameter 2) and returns the whole
//!   allocation unless `propertyCount` is 0;
//! - TPM_CAP_AUTH_POLICIES and TPM_CAP_ACT require a permanent handle / an ACT handle;
//! - an unknown capability (including TPM_CAP_VENDOR_PROPERTY) is TPM_RC_VALUE for
//!   parameter 1, detected before the remaining parameters are read.
//!
//! # Limits
//!
//! The object and session limits come from the modules that enforce them
//! (`object::MAX_LOADED_OBJECTS`, `object::MAX_PERSISTENT_OBJECTS`,
//! `session::MAX_LOADED_SESSIONS`, `session::MAX_ACTIVE_SESSIONS`). The `pub(crate)` constants
//! below are the other limits this TPM reports; the modules that own the corresponding
//! resources must enforce them (saved-context sizes and gap, NV index count and size). The PCR
//! properties are computed from the rules `crate::engine::pcr` enforces. No command needs
//! physical presence, so TPM_CAP_PP_COMMANDS is empty; TPM_CAP_AUDIT_COMMANDS and
//! TPM_PT_AUDIT_COUNTER_0/1 report `engine::audit`; no ACT exists. NV indices are listed from `nv::NvStore`.
//!
//! # Identity
//!
//! TPM_PT_MANUFACTURER is "RVTP" (Rust vTPM), chosen not to collide with any vendor of the TCG
//! vendor ID registry; the vendor string is "vTPM-domain"; the firmware version is the crate
//! version. The TPM claims library specification family "2.0", level 0, revision 1.59
//! (published 2019-11-08, day 312), and the PC Client platform (TPM_PS_PC) at PTP revision
//! 1.05 without a platform-specification date.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cap::TpmCap;
use tpm2::cc::TpmCc;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::pt::{PT_FIXED, PT_GROUP, PT_VAR, TpmPt, TpmPtPcr};
use tpm2::rc::TpmRc;
use tpm2::st::TpmEccCurve;
use tpm2::structures::{
    MAX_CAP_ALGS, MAX_CAP_CC, MAX_CAP_HANDLES, MAX_DIGEST_BUFFER, MAX_ECC_CURVES,
    MAX_NV_BUFFER_SIZE, MAX_PCR_PROPERTIES, MAX_TAGGED_POLICIES, MAX_TPM_PROPERTIES, PublicDetail,
    Tpm2bDigest, TpmaAlgorithm, TpmaCc, TpmaObject, TpmaPermanent, TpmaStartupClear,
    TpmlAlgProperty, TpmlCc, TpmlCca, TpmlEccCurve, TpmlHandle, TpmlTaggedPcrProperty,
    TpmlTaggedPolicy, TpmlTaggedTpmProperty, TpmsAlgProperty, TpmsCapabilityData, TpmsPcrSelect,
    TpmsTaggedPcrSelect, TpmsTaggedPolicy, TpmsTaggedProperty, TpmtHa, TpmtPublic, TpmtPublicParms,
};

use crate::engine::Engine;
use crate::engine::commands::object::{blame, check_supported};
use crate::engine::dispatch::{self, Ctx, Entry};
use crate::engine::entity::PCR_COUNT;
use crate::engine::object::{MAX_LOADED_OBJECTS, MAX_PERSISTENT_OBJECTS};
use crate::engine::pcr;
use crate::engine::session::{HANDLE_INDEX_MASK, MAX_ACTIVE_SESSIONS, MAX_LOADED_SESSIONS};
use crate::engine::state::Policy;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::GET_CAPABILITY,
        handles: &[],
        roles: &[],
        nv: false,
        handler: get_capability,
    },
    Entry {
        cc: TpmCc::TEST_PARMS,
        handles: &[],
        roles: &[],
        nv: false,
        handler: test_parms,
    },
];

// ---------------------------------------------------------------------------------------------
// Limits (enforced by the modules that own the resources)
// ---------------------------------------------------------------------------------------------

/// TPM_PT_CONTEXT_GAP_MAX: the largest difference between the context counters of the oldest
/// and the newest saved session (TPM_RC_CONTEXT_GAP beyond it).
pub(crate) const CONTEXT_GAP_MAX: u32 = 0xFFFF;
/// TPM_PT_NV_INDEX_MAX: the largest NV index data area.
pub(crate) const NV_INDEX_MAX: u32 = 2048;
/// TPM_PT_CONTEXT_HASH: the integrity hash of saved contexts.
pub(crate) const CONTEXT_HASH: TpmAlgId = TpmAlgId::SHA512;
/// TPM_PT_CONTEXT_SYM: the cipher of saved contexts.
pub(crate) const CONTEXT_SYM: TpmAlgId = TpmAlgId::AES;
/// TPM_PT_CONTEXT_SYM_SIZE: its key size in bits.
pub(crate) const CONTEXT_SYM_BITS: u32 = 256;
/// TPM_PT_MAX_OBJECT_CONTEXT: the largest TPMS_CONTEXT TPM2_ContextSave returns for an object.
pub(crate) const MAX_OBJECT_CONTEXT: u32 = 3072;
/// TPM_PT_MAX_SESSION_CONTEXT: the largest TPMS_CONTEXT TPM2_ContextSave returns for a session.
pub(crate) const MAX_SESSION_CONTEXT: u32 = 1024;
/// TPM_PT_CLOCK_UPDATE: the longest interval (ms) between persisted copies of the clock.
pub(crate) const CLOCK_UPDATE_MS: u32 = 1 << 12;
/// The largest command and response (TPM_PT_MAX_COMMAND_SIZE, TPM_PT_MAX_RESPONSE_SIZE).
pub(crate) const MAX_COMMAND_SIZE: u32 = 4096;
/// MAX_CAP_BUFFER (TPM_PT_MAX_CAP_BUFFER).
pub(crate) const MAX_CAP_BUFFER: u32 = 1024;

/// TPM_PT_MANUFACTURER: "RVTP".
pub(crate) const MANUFACTURER: [u8; 4] = *b"RVTP";
/// TPM_PT_VENDOR_STRING_1..4: "vTPM-domain".
const VENDOR_STRING: [[u8; 4]; 4] = [*b"vTPM", *b"-dom", *b"ain\0", [0; 4]];
/// TPM_PT_FAMILY_INDICATOR: "2.0".
const FAMILY: [u8; 4] = *b"2.0\0";
/// Library specification revision × 100, and its publication date (day of year, year).
const SPEC_REVISION: u32 = 159;
const SPEC_DAY_OF_YEAR: u32 = 312;
const SPEC_YEAR: u32 = 2019;
/// TPM_PS_PC (part 2 §6.14 "TPM_PS"): the PC Client platform-specific specification.
const PS_FAMILY_PC: u32 = 1;
/// PC Client Platform TPM Profile revision × 100.
const PS_REVISION: u32 = 105;

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

const ASYM: u32 = TpmaAlgorithm::ASYMMETRIC;
const SYM: u32 = TpmaAlgorithm::SYMMETRIC;
const HASH: u32 = TpmaAlgorithm::HASH;
const OBJECT: u32 = TpmaAlgorithm::OBJECT;
const SIGN: u32 = TpmaAlgorithm::SIGNING;
const ENC: u32 = TpmaAlgorithm::ENCRYPTING;
const METHOD: u32 = TpmaAlgorithm::METHOD;

/// Every algorithm the engine implements with its TPMA_ALGORITHM (part 2 §8.2), by ID. The
/// attribute of each is the one libtpms reports for the same algorithm.
pub(crate) const ALGORITHMS: &[(TpmAlgId, u32)] = &[
    (TpmAlgId::RSA, ASYM | OBJECT),
    (TpmAlgId::SHA1, HASH),
    (TpmAlgId::HMAC, HASH | SIGN),
    (TpmAlgId::AES, SYM),
    (TpmAlgId::MGF1, HASH | METHOD),
    (TpmAlgId::KEYEDHASH, HASH | OBJECT | SIGN | ENC),
    (TpmAlgId::XOR, SYM | HASH),
    (TpmAlgId::SHA256, HASH),
    (TpmAlgId::SHA384, HASH),
    (TpmAlgId::SHA512, HASH),
    (TpmAlgId::RSASSA, ASYM | SIGN),
    (TpmAlgId::RSAES, ASYM | ENC),
    (TpmAlgId::RSAPSS, ASYM | SIGN),
    (TpmAlgId::OAEP, ASYM | ENC),
    (TpmAlgId::ECDSA, ASYM | SIGN),
    (TpmAlgId::ECDH, ASYM | METHOD),
    (TpmAlgId::ECDAA, ASYM | SIGN),
    (TpmAlgId::KDF1_SP800_56A, HASH | METHOD),
    (TpmAlgId::KDF1_SP800_108, HASH | METHOD),
    (TpmAlgId::ECC, ASYM | OBJECT),
    (TpmAlgId::SYMCIPHER, OBJECT),
    (TpmAlgId::CTR, SYM | ENC),
    (TpmAlgId::OFB, SYM | ENC),
    (TpmAlgId::CBC, SYM | ENC),
    (TpmAlgId::CFB, SYM | ENC),
    (TpmAlgId::ECB, SYM | ENC),
];

/// Whether `alg` is an implemented algorithm.
pub(crate) fn alg_implemented(alg: TpmAlgId) -> bool {
    ALGORITHMS.iter().any(|(a, _)| *a == alg)
}

/// The implemented ECC curves (TPM_CAP_ECC_CURVES).
pub(crate) const ECC_CURVES: &[TpmEccCurve] = &[TpmEccCurve::NIST_P256];

/// The permanent handles this TPM implements (TPM_CAP_HANDLES, TPM_HT_PERMANENT).
pub(crate) const PERMANENT_HANDLES: &[TpmHandle] = &[
    TpmHandle::OWNER,
    TpmHandle::NULL,
    TpmHandle::PASSWORD,
    TpmHandle::LOCKOUT,
    TpmHandle::ENDORSEMENT,
    TpmHandle::PLATFORM,
    TpmHandle::PLATFORM_NV,
];

/// The first and last authenticated countdown timer handles (TPM_RH_ACT_0, TPM_RH_ACT_F).
const ACT_FIRST: u32 = 0x4000_0110;
const ACT_LAST: u32 = 0x4000_011F;

/// PCRs 17–22: reset by the D-RTM sequence (_TPM_Hash_Start) at locality 4
/// (TPM_PT_PCR_DRTM_RESET, and TPM_PT_PCR_RESET_L4 as the PC Client profile lists it, although
/// TPM2_PCR_Reset itself never resets them).
const DRTM_PCRS: u32 = 0x007E_0000;
/// PCRs 20–22: may have an authPolicy / authValue (TPM_PT_PCR_POLICY, TPM_PT_PCR_AUTH).
const AUTH_PCRS: u32 = 0x0070_0000;

/// The PCRs (bit n = PCR n) with a TPM_PT_PCR property, from the rules `crate::engine::pcr`
/// enforces (PC Client Platform TPM Profile, table "PCR Attributes").
fn pcr_property_mask(tag: TpmPtPcr) -> u32 {
    let mask = |f: &dyn Fn(usize) -> bool| {
        (0..PCR_COUNT)
            .filter(|&p| usize::try_from(p).is_ok_and(f))
            .fold(0u32, |m, p| m | (1 << p))
    };
    match tag {
        TpmPtPcr::SAVE => mask(&pcr::state_saved),
        TpmPtPcr::NO_INCREMENT => mask(&|p| !pcr::counts_updates(p)),
        TpmPtPcr::DRTM_RESET | TpmPtPcr::RESET_L4 => DRTM_PCRS,
        TpmPtPcr::POLICY | TpmPtPcr::AUTH => AUTH_PCRS,
        _ => {
            for locality in 0..=4u8 {
                if TpmPtPcr::extend_at(locality) == Some(tag) {
                    return mask(&|p| pcr::may_extend(p, locality));
                }
                if TpmPtPcr::reset_at(locality) == Some(tag) {
                    return mask(&|p| pcr::may_reset(p, locality));
                }
            }
            0
        }
    }
}

/// The TPM_PT_PCR properties reported, in tag order.
const PCR_PROPERTIES: &[TpmPtPcr] = &[
    TpmPtPcr::SAVE,
    TpmPtPcr::EXTEND_L0,
    TpmPtPcr::RESET_L0,
    TpmPtPcr::EXTEND_L1,
    TpmPtPcr::RESET_L1,
    TpmPtPcr::EXTEND_L2,
    TpmPtPcr::RESET_L2,
    TpmPtPcr::EXTEND_L3,
    TpmPtPcr::RESET_L3,
    TpmPtPcr::EXTEND_L4,
    TpmPtPcr::RESET_L4,
    TpmPtPcr::NO_INCREMENT,
    TpmPtPcr::DRTM_RESET,
    TpmPtPcr::POLICY,
    TpmPtPcr::AUTH,
];

/// The nv / extensive / flushed attributes part 2 table 12 (TPM_CC) gives each command, as
/// libtpms reports them in TPMA_CC; commands absent here have none of them.
const CC_FLAGS: &[(TpmCc, u32)] = {
    const NV: u32 = TpmaCc::NV;
    const EXT: u32 = TpmaCc::EXTENSIVE;
    const FL: u32 = TpmaCc::FLUSHED;
    &[
        (TpmCc::NV_UNDEFINE_SPACE_SPECIAL, NV),
        (TpmCc::EVICT_CONTROL, NV),
        (TpmCc::HIERARCHY_CONTROL, NV | EXT),
        (TpmCc::NV_UNDEFINE_SPACE, NV),
        (TpmCc::CHANGE_EPS, NV | EXT),
        (TpmCc::CHANGE_PPS, NV | EXT),
        (TpmCc::CLEAR, NV | EXT),
        (TpmCc::CLEAR_CONTROL, NV),
        (TpmCc::CLOCK_SET, NV),
        (TpmCc::HIERARCHY_CHANGE_AUTH, NV),
        (TpmCc::NV_DEFINE_SPACE, NV),
        (TpmCc::PCR_ALLOCATE, NV),
        (TpmCc::PCR_SET_AUTH_POLICY, NV),
        (TpmCc::PP_COMMANDS, NV),
        (TpmCc::SET_PRIMARY_POLICY, NV),
        (TpmCc::NV_GLOBAL_WRITE_LOCK, NV),
        (TpmCc::GET_COMMAND_AUDIT_DIGEST, NV),
        (TpmCc::NV_INCREMENT, NV),
        (TpmCc::NV_SET_BITS, NV),
        (TpmCc::NV_EXTEND, NV),
        (TpmCc::NV_WRITE, NV),
        (TpmCc::NV_WRITE_LOCK, NV),
        (TpmCc::DICTIONARY_ATTACK_LOCK_RESET, NV),
        (TpmCc::DICTIONARY_ATTACK_PARAMETERS, NV),
        (TpmCc::NV_CHANGE_AUTH, NV),
        (TpmCc::PCR_EVENT, NV),
        (TpmCc::PCR_RESET, NV),
        (TpmCc::SEQUENCE_COMPLETE, FL),
        (TpmCc::SET_ALGORITHM_SET, NV),
        (TpmCc::SET_COMMAND_CODE_AUDIT_STATUS, NV),
        (TpmCc::INCREMENTAL_SELF_TEST, NV),
        (TpmCc::SELF_TEST, NV),
        (TpmCc::STARTUP, NV),
        (TpmCc::SHUTDOWN, NV),
        (TpmCc::STIR_RANDOM, NV),
        (TpmCc::NV_READ_LOCK, NV),
        (TpmCc::PCR_EXTEND, NV),
        (TpmCc::EVENT_SEQUENCE_COMPLETE, NV | FL),
    ]
};

/// Commands whose table 12 attributes were checked against libtpms; for the others (which
/// libtpms 0.9 does not implement) the entry's own `nv` flag is reported.
fn table_flags(cc: TpmCc) -> Option<u32> {
    const UNCHECKED: &[TpmCc] = &[
        TpmCc::FIELD_UPGRADE_START,
        TpmCc::FIELD_UPGRADE_DATA,
        TpmCc::FIRMWARE_READ,
    ];
    if UNCHECKED.contains(&cc) || cc > TpmCc::CERTIFY_X509 {
        return None;
    }
    Some(
        CC_FLAGS
            .iter()
            .find(|(c, _)| *c == cc)
            .map_or(0, |(_, f)| *f),
    )
}

/// The TPMA_CC of a registered command (part 2 §8.9).
pub(crate) fn command_attributes(entry: &Entry) -> Option<TpmaCc> {
    let info = entry.cc.info()?;
    let mut flags = table_flags(entry.cc).unwrap_or(if entry.nv { TpmaCc::NV } else { 0 });
    if info.response_handles > 0 {
        flags |= TpmaCc::R_HANDLE;
    }
    TpmaCc::for_command(entry.cc, info.handles, flags).ok()
}

/// The registered commands, by command code.
fn commands_sorted() -> Vec<&'static Entry> {
    let mut v: Vec<&'static Entry> = dispatch::entries().collect();
    v.sort_by_key(|e| e.cc);
    v
}

// ---------------------------------------------------------------------------------------------
// TPM properties
// ---------------------------------------------------------------------------------------------

/// Every property this TPM reports, in tag order (fixed group, then variable group).
const PROPERTIES: &[TpmPt] = &[
    TpmPt::FAMILY_INDICATOR,
    TpmPt::LEVEL,
    TpmPt::REVISION,
    TpmPt::DAY_OF_YEAR,
    TpmPt::YEAR,
    TpmPt::MANUFACTURER,
    TpmPt::VENDOR_STRING_1,
    TpmPt::VENDOR_STRING_2,
    TpmPt::VENDOR_STRING_3,
    TpmPt::VENDOR_STRING_4,
    TpmPt::VENDOR_TPM_TYPE,
    TpmPt::FIRMWARE_VERSION_1,
    TpmPt::FIRMWARE_VERSION_2,
    TpmPt::INPUT_BUFFER,
    TpmPt::HR_TRANSIENT_MIN,
    TpmPt::HR_PERSISTENT_MIN,
    TpmPt::HR_LOADED_MIN,
    TpmPt::ACTIVE_SESSIONS_MAX,
    TpmPt::PCR_COUNT,
    TpmPt::PCR_SELECT_MIN,
    TpmPt::CONTEXT_GAP_MAX,
    TpmPt::NV_COUNTERS_MAX,
    TpmPt::NV_INDEX_MAX,
    TpmPt::MEMORY,
    TpmPt::CLOCK_UPDATE,
    TpmPt::CONTEXT_HASH,
    TpmPt::CONTEXT_SYM,
    TpmPt::CONTEXT_SYM_SIZE,
    TpmPt::ORDERLY_COUNT,
    TpmPt::MAX_COMMAND_SIZE,
    TpmPt::MAX_RESPONSE_SIZE,
    TpmPt::MAX_DIGEST,
    TpmPt::MAX_OBJECT_CONTEXT,
    TpmPt::MAX_SESSION_CONTEXT,
    TpmPt::PS_FAMILY_INDICATOR,
    TpmPt::PS_LEVEL,
    TpmPt::PS_REVISION,
    TpmPt::PS_DAY_OF_YEAR,
    TpmPt::PS_YEAR,
    TpmPt::SPLIT_MAX,
    TpmPt::TOTAL_COMMANDS,
    TpmPt::LIBRARY_COMMANDS,
    TpmPt::VENDOR_COMMANDS,
    TpmPt::NV_BUFFER_MAX,
    TpmPt::MODES,
    TpmPt::MAX_CAP_BUFFER,
    TpmPt::PERMANENT,
    TpmPt::STARTUP_CLEAR,
    TpmPt::HR_NV_INDEX,
    TpmPt::HR_LOADED,
    TpmPt::HR_LOADED_AVAIL,
    TpmPt::HR_ACTIVE,
    TpmPt::HR_ACTIVE_AVAIL,
    TpmPt::HR_TRANSIENT_AVAIL,
    TpmPt::HR_PERSISTENT,
    TpmPt::HR_PERSISTENT_AVAIL,
    TpmPt::NV_COUNTERS,
    TpmPt::NV_COUNTERS_AVAIL,
    TpmPt::ALGORITHM_SET,
    TpmPt::LOADED_CURVES,
    TpmPt::LOCKOUT_COUNTER,
    TpmPt::MAX_AUTH_FAIL,
    TpmPt::LOCKOUT_INTERVAL,
    TpmPt::LOCKOUT_RECOVERY,
    TpmPt::NV_WRITE_RECOVERY,
    TpmPt::AUDIT_COUNTER_0,
    TpmPt::AUDIT_COUNTER_1,
];

/// A count as a u32 property value.
fn n32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `limit - used`, as a property value.
fn avail(limit: usize, used: usize) -> u32 {
    n32(limit.saturating_sub(used))
}

/// The crate version as TPM_PT_FIRMWARE_VERSION_1 (major << 16 | minor) and _2 (patch << 16).
pub(crate) fn firmware_version() -> (u32, u32) {
    let part = |s: &str| s.parse::<u16>().map_or(0, u32::from);
    let major = part(env!("CARGO_PKG_VERSION_MAJOR"));
    let minor = part(env!("CARGO_PKG_VERSION_MINOR"));
    let patch = part(env!("CARGO_PKG_VERSION_PATCH"));
    ((major << 16) | minor, patch << 16)
}

/// TPMA_PERMANENT (part 2 §8.6) from the permanent state.
fn permanent_attributes(e: &Engine) -> u32 {
    let p = &e.state.perm;
    let mut a = TpmaPermanent::default();
    if !p.owner_auth.is_empty() {
        a = a.with(TpmaPermanent::OWNER_AUTH_SET);
    }
    if !p.endorsement_auth.is_empty() {
        a = a.with(TpmaPermanent::ENDORSEMENT_AUTH_SET);
    }
    if !p.lockout_auth.is_empty() {
        a = a.with(TpmaPermanent::LOCKOUT_AUTH_SET);
    }
    if p.disable_clear {
        a = a.with(TpmaPermanent::DISABLE_CLEAR);
    }
    if p.da.failed_tries >= p.da.max_tries {
        a = a.with(TpmaPermanent::IN_LOCKOUT);
    }
    // The EPS is generated by the TPM at manufacture.
    a.with(TpmaPermanent::TPM_GENERATED_EPS).bits()
}

/// TPMA_STARTUP_CLEAR (part 2 §8.7) from the volatile state.
fn startup_clear_attributes(e: &Engine) -> u32 {
    let v = &e.state.vol;
    let mut a = TpmaStartupClear::default();
    for (on, bit) in [
        (v.ph_enable, TpmaStartupClear::PH_ENABLE),
        (v.sh_enable, TpmaStartupClear::SH_ENABLE),
        (v.eh_enable, TpmaStartupClear::EH_ENABLE),
        (v.ph_enable_nv, TpmaStartupClear::PH_ENABLE_NV),
        (v.orderly, TpmaStartupClear::ORDERLY),
    ] {
        if on {
            a = a.with(bit);
        }
    }
    a.bits()
}

/// Number of loaded sessions and of all tracked sessions (loaded or context-saved).
fn session_counts(e: &Engine) -> (usize, usize) {
    let all = e.state.vol.sessions.len();
    let loaded = e
        .state
        .vol
        .sessions
        .values()
        .filter(|s| s.is_loaded())
        .count();
    (loaded, all)
}

/// The value of a property, `None` for a tag this TPM does not report.
#[allow(clippy::too_many_lines)]
pub(crate) fn property_value(e: &Engine, pt: TpmPt) -> Option<u32> {
    let p = &e.state.perm;
    let word = |b: [u8; 4]| u32::from_be_bytes(b);
    let (loaded, active) = session_counts(e);
    let commands = n32(dispatch::entries().count());
    Some(match pt {
        TpmPt::FAMILY_INDICATOR => word(FAMILY),
        TpmPt::REVISION => SPEC_REVISION,
        TpmPt::DAY_OF_YEAR => SPEC_DAY_OF_YEAR,
        TpmPt::YEAR => SPEC_YEAR,
        TpmPt::MANUFACTURER => word(MANUFACTURER),
        TpmPt::VENDOR_STRING_1 => word(VENDOR_STRING[0]),
        TpmPt::VENDOR_STRING_2 => word(VENDOR_STRING[1]),
        TpmPt::VENDOR_STRING_3 => word(VENDOR_STRING[2]),
        TpmPt::VENDOR_STRING_4 => word(VENDOR_STRING[3]),
        TpmPt::VENDOR_TPM_TYPE => 1,
        TpmPt::FIRMWARE_VERSION_1 => firmware_version().0,
        TpmPt::FIRMWARE_VERSION_2 => firmware_version().1,
        TpmPt::INPUT_BUFFER => n32(MAX_DIGEST_BUFFER),
        TpmPt::HR_TRANSIENT_MIN => n32(MAX_LOADED_OBJECTS),
        TpmPt::HR_PERSISTENT_MIN => n32(MAX_PERSISTENT_OBJECTS),
        TpmPt::HR_LOADED_MIN => n32(MAX_LOADED_SESSIONS),
        TpmPt::ACTIVE_SESSIONS_MAX => n32(MAX_ACTIVE_SESSIONS),
        TpmPt::PCR_COUNT => PCR_COUNT,
        TpmPt::PCR_SELECT_MIN => PCR_COUNT.div_ceil(8),
        TpmPt::CONTEXT_GAP_MAX => CONTEXT_GAP_MAX,
        TpmPt::NV_INDEX_MAX => NV_INDEX_MAX,
        TpmPt::CLOCK_UPDATE => CLOCK_UPDATE_MS,
        TpmPt::CONTEXT_HASH => u32::from(CONTEXT_HASH.0),
        TpmPt::CONTEXT_SYM => u32::from(CONTEXT_SYM.0),
        TpmPt::CONTEXT_SYM_SIZE => CONTEXT_SYM_BITS,
        TpmPt::ORDERLY_COUNT => 0xFF,
        TpmPt::MAX_COMMAND_SIZE | TpmPt::MAX_RESPONSE_SIZE => MAX_COMMAND_SIZE,
        TpmPt::MAX_DIGEST => n32(tpm2::alg::MAX_DIGEST_SIZE),
        TpmPt::MAX_OBJECT_CONTEXT => MAX_OBJECT_CONTEXT,
        TpmPt::MAX_SESSION_CONTEXT => MAX_SESSION_CONTEXT,
        TpmPt::PS_FAMILY_INDICATOR => PS_FAMILY_PC,
        TpmPt::PS_REVISION => PS_REVISION,
        // Zero: LEVEL and PS_LEVEL (level 0); NV_COUNTERS_MAX (no limit of its own: any NV
        // index may be a counter); MEMORY (objects, sessions, persistent objects and NV
        // indices each have their own limit); no platform-specification date, vendor commands,
        // FIPS mode, algorithm set, NV write delay, NV index.
        TpmPt::LEVEL
        | TpmPt::PS_LEVEL
        | TpmPt::NV_COUNTERS_MAX
        | TpmPt::MEMORY
        | TpmPt::PS_DAY_OF_YEAR
        | TpmPt::PS_YEAR
        | TpmPt::VENDOR_COMMANDS
        | TpmPt::MODES
        | TpmPt::ALGORITHM_SET
        | TpmPt::NV_WRITE_RECOVERY => 0,
        // The command audit counter, high and low halves.
        TpmPt::AUDIT_COUNTER_0 => u32::try_from(p.audit.counter >> 32).unwrap_or(u32::MAX),
        TpmPt::AUDIT_COUNTER_1 => u32::try_from(p.audit.counter & 0xFFFF_FFFF).unwrap_or(0),
        // The commitments TPM2_Commit / TPM2_EC_Ephemeral may have outstanding.
        TpmPt::SPLIT_MAX => n32(crate::engine::state::COMMIT_ARRAY_BYTES * 8),
        TpmPt::HR_NV_INDEX => n32(p.nv.indices.len()),
        TpmPt::NV_COUNTERS => n32(p.nv.counters()),
        TpmPt::TOTAL_COMMANDS | TpmPt::LIBRARY_COMMANDS => commands,
        TpmPt::NV_BUFFER_MAX => n32(MAX_NV_BUFFER_SIZE),
        TpmPt::MAX_CAP_BUFFER => MAX_CAP_BUFFER,
        TpmPt::PERMANENT => permanent_attributes(e),
        TpmPt::STARTUP_CLEAR => startup_clear_attributes(e),
        TpmPt::HR_LOADED => n32(loaded),
        TpmPt::HR_LOADED_AVAIL => avail(MAX_LOADED_SESSIONS, loaded),
        TpmPt::HR_ACTIVE => n32(active),
        TpmPt::HR_ACTIVE_AVAIL => avail(MAX_ACTIVE_SESSIONS, active),
        TpmPt::HR_TRANSIENT_AVAIL => avail(MAX_LOADED_OBJECTS, e.state.vol.objects.len()),
        TpmPt::HR_PERSISTENT => n32(p.persistent.len()),
        TpmPt::HR_PERSISTENT_AVAIL => avail(MAX_PERSISTENT_OBJECTS, p.persistent.len()),
        TpmPt::NV_COUNTERS_AVAIL => n32(p.nv.counters_avail()),
        TpmPt::LOADED_CURVES => n32(ECC_CURVES.len()),
        TpmPt::LOCKOUT_COUNTER => p.da.failed_tries,
        TpmPt::MAX_AUTH_FAIL => p.da.max_tries,
        TpmPt::LOCKOUT_INTERVAL => p.da.recovery_time,
        TpmPt::LOCKOUT_RECOVERY => p.da.lockout_recovery,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// TPM2_GetCapability
// ---------------------------------------------------------------------------------------------

/// Whether `cap` unmarshals as a TPM_CAP (every TPMU_CAPABILITIES member, and
/// TPM_CAP_VENDOR_PROPERTY, which [`capability`] then refuses).
fn known_capability(cap: TpmCap) -> bool {
    matches!(
        cap,
        TpmCap::ALGS
            | TpmCap::HANDLES
            | TpmCap::COMMANDS
            | TpmCap::PP_COMMANDS
            | TpmCap::AUDIT_COMMANDS
            | TpmCap::PCRS
            | TpmCap::TPM_PROPERTIES
            | TpmCap::PCR_PROPERTIES
            | TpmCap::ECC_CURVES
            | TpmCap::AUTH_POLICIES
            | TpmCap::ACT
            // Unmarshalled like the others (so trailing bytes are TPM_RC_SIZE first), then
            // refused as not implemented, as libtpms does.
            | TpmCap::VENDOR_PROPERTY
    )
}

/// The entries of an ordered list from key `start` on: at most `count` (capped at `max`), and
/// whether another entry follows them.
fn page<T>(
    items: impl IntoIterator<Item = (u32, T)>,
    start: u32,
    count: u32,
    max: usize,
) -> (bool, Vec<T>) {
    let limit = usize::try_from(count).unwrap_or(usize::MAX).min(max);
    let mut out = Vec::new();
    for (key, item) in items {
        if key < start {
            continue;
        }
        if out.len() == limit {
            return (true, out);
        }
        out.push(item);
    }
    (false, out)
}

/// A list built from at most its maximum number of entries (never fails after [`page`]).
fn list<T, L>(
    items: Vec<T>,
    build: impl FnOnce(Vec<T>) -> Result<L, tpm2::Error>,
) -> Result<L, TpmRc> {
    build(items).map_err(|_| TpmRc::FAILURE)
}

fn get_capability(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let cap: TpmCap = ctx.param()?;
    if !known_capability(cap) {
        return Err(TpmRc::VALUE.with_parameter(1));
    }
    let property: u32 = ctx.param()?;
    let count: u32 = ctx.param()?;
    ctx.finish()?;
    let (more, data) = capability(e, cap, property, count)?;
    ctx.put(&more);
    ctx.put(&data);
    Ok(())
}

/// The answer to GetCapability(`cap`, `property`, `count`): moreData and the data.
#[allow(clippy::too_many_lines)]
fn capability(
    e: &Engine,
    cap: TpmCap,
    property: u32,
    count: u32,
) -> Result<(bool, TpmsCapabilityData), TpmRc> {
    let low16 = property & 0xFFFF;
    Ok(match cap {
        TpmCap::ALGS => {
            let items = ALGORITHMS.iter().map(|&(alg, bits)| {
                (
                    u32::from(alg.0),
                    TpmsAlgProperty {
                        alg,
                        alg_properties: TpmaAlgorithm(bits),
                    },
                )
            });
            let (more, v) = page(items, low16, count, MAX_CAP_ALGS);
            (
                more,
                TpmsCapabilityData::Algorithms(list(v, TpmlAlgProperty::new)?),
            )
        }
        TpmCap::HANDLES => {
            let handles = handles_of_type(e, TpmHandle(property))?;
            let (more, v) = page(handles, property, count, MAX_CAP_HANDLES);
            (more, TpmsCapabilityData::Handles(list(v, TpmlHandle::new)?))
        }
        TpmCap::COMMANDS => {
            let items = commands_sorted()
                .into_iter()
                .filter_map(|entry| command_attributes(entry).map(|a| (entry.cc.0, a)));
            let (more, v) = page(items, property, count, MAX_CAP_CC);
            (more, TpmsCapabilityData::Command(list(v, TpmlCca::new)?))
        }
        // No command needs physical presence.
        TpmCap::PP_COMMANDS => (false, TpmsCapabilityData::PpCommands(TpmlCc::empty())),
        TpmCap::AUDIT_COMMANDS => {
            let items = e
                .state
                .perm
                .audit
                .commands
                .iter()
                .map(|&cc| (cc, TpmCc(cc)));
            let (more, v) = page(items, property, count, MAX_CAP_CC);
            (
                more,
                TpmsCapabilityData::AuditCommands(list(v, TpmlCc::new)?),
            )
        }
        TpmCap::PCRS => {
            if property != 0 {
                return Err(TpmRc::VALUE.with_parameter(2));
            }
            let allocation = &e.state.perm.pcr_allocation;
            if count == 0 {
                let empty = tpm2::structures::TpmlPcrSelection::empty();
                (
                    !allocation.is_empty(),
                    TpmsCapabilityData::AssignedPcr(empty),
                )
            } else {
                (false, TpmsCapabilityData::AssignedPcr(allocation.clone()))
            }
        }
        TpmCap::TPM_PROPERTIES => {
            let start = property.max(PT_FIXED);
            // Never past the end of the group `start` is in (fixed, variable).
            let group_end = (start / PT_GROUP)
                .saturating_add(1)
                .saturating_mul(PT_GROUP);
            let items = PROPERTIES
                .iter()
                .filter(|pt| pt.0 < group_end && start < PT_VAR + PT_GROUP)
                .filter_map(|&pt| {
                    property_value(e, pt).map(|value| {
                        (
                            pt.0,
                            TpmsTaggedProperty {
                                property: pt,
                                value,
                            },
                        )
                    })
                });
            let (more, v) = page(items, start, count, MAX_TPM_PROPERTIES);
            (
                more,
                TpmsCapabilityData::TpmProperties(list(v, TpmlTaggedTpmProperty::new)?),
            )
        }
        TpmCap::PCR_PROPERTIES => {
            let items = PCR_PROPERTIES.iter().filter_map(|&tag| {
                let bytes = pcr_property_mask(tag).to_le_bytes();
                TpmsPcrSelect::from_bitmap(&bytes[..3])
                    .ok()
                    .map(|select| (tag.0, TpmsTaggedPcrSelect { tag, select }))
            });
            let (more, v) = page(items, property, count, MAX_PCR_PROPERTIES);
            (
                more,
                TpmsCapabilityData::PcrProperties(list(v, TpmlTaggedPcrProperty::new)?),
            )
        }
        TpmCap::ECC_CURVES => {
            let items = ECC_CURVES.iter().map(|&c| (u32::from(c.0), c));
            let (more, v) = page(items, low16, count, MAX_ECC_CURVES);
            (
                more,
                TpmsCapabilityData::EccCurves(list(v, TpmlEccCurve::new)?),
            )
        }
        TpmCap::AUTH_POLICIES => {
            if TpmHandle(property).ty() != TpmHt::PERMANENT {
                return Err(TpmRc::VALUE.with_parameter(2));
            }
            let p = &e.state.perm;
            let policies = [
                (TpmHandle::OWNER, &p.owner_policy),
                (TpmHandle::LOCKOUT, &p.lockout_policy),
                (TpmHandle::ENDORSEMENT, &p.endorsement_policy),
                (TpmHandle::PLATFORM, &e.state.vol.platform_policy),
            ];
            let items = policies.into_iter().map(|(handle, policy)| {
                (
                    handle.0,
                    TpmsTaggedPolicy {
                        handle,
                        policy_hash: policy_ha(policy),
                    },
                )
            });
            let (more, v) = page(items, property, count, MAX_TAGGED_POLICIES);
            (
                more,
                TpmsCapabilityData::AuthPolicies(list(v, TpmlTaggedPolicy::new)?),
            )
        }
        TpmCap::ACT => {
            if !(ACT_FIRST..=ACT_LAST).contains(&property) {
                return Err(TpmRc::VALUE.with_parameter(2));
            }
            // No authenticated countdown timer is implemented.
            (
                false,
                TpmsCapabilityData::Act(tpm2::structures::TpmlActData::empty()),
            )
        }
        _ => return Err(TpmRc::VALUE.with_parameter(1)),
    })
}

/// TPM2_TestParms (part 3 §30.3): whether the TPM supports a combination of algorithm
/// parameters.
fn test_parms(_e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let parameters: TpmtPublicParms = ctx.param()?;
    ctx.finish()?;
    let public = TpmtPublic {
        name_alg: TpmAlgId::NULL,
        object_attributes: TpmaObject::default(),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::with_empty_unique(parameters),
    };
    check_supported(&public).map_err(|rc| blame(rc, 1))
}

/// A hierarchy's policy as TPMT_HA (TPM_ALG_NULL when none was set).
fn policy_ha(policy: &Policy) -> TpmtHa {
    TpmtHa::new(policy.alg, &policy.digest).unwrap_or_else(|_| TpmtHa::null())
}

/// The handles of the type `start` belongs to, each with its ordering key, in order
/// (TPM_RC_HANDLE for parameter 2 for a type GetCapability does not list).
fn handles_of_type(e: &Engine, start: TpmHandle) -> Result<Vec<(u32, TpmHandle)>, TpmRc> {
    let ty = start.ty();
    let mut v: Vec<(u32, TpmHandle)> = match ty {
        TpmHt::PCR => (0..PCR_COUNT).map(|i| (i, TpmHandle(i))).collect(),
        TpmHt::NV_INDEX => e
            .state
            .perm
            .nv
            .indices
            .keys()
            .map(|&h| (h, TpmHandle(h)))
            .collect(),
        // TPM_HT_LOADED_SESSION / TPM_HT_SAVED_SESSION (part 2 §7.2): loaded and context-saved
        // sessions of either kind, ordered by their session index.
        TpmHt::HMAC_SESSION | TpmHt::POLICY_SESSION => {
            let want_loaded = ty == TpmHt::HMAC_SESSION;
            e.state
                .vol
                .sessions
                .iter()
                .filter(|(_, s)| s.is_loaded() == want_loaded)
                .map(|(&h, _)| {
                    (
                        (h & HANDLE_INDEX_MASK) | (start.0 & !HANDLE_INDEX_MASK),
                        TpmHandle(h),
                    )
                })
                .collect()
        }
        TpmHt::PERMANENT => PERMANENT_HANDLES.iter().map(|&h| (h.0, h)).collect(),
        TpmHt::TRANSIENT => e
            .state
            .vol
            .objects
            .keys()
            .map(|&h| (h, TpmHandle(h)))
            .collect(),
        TpmHt::PERSISTENT => e
            .state
            .perm
            .persistent
            .keys()
            .map(|&h| (h, TpmHandle(h)))
            .collect(),
        _ => return Err(TpmRc::HANDLE.with_parameter(2)),
    };
    v.sort_by_key(|(k, _)| *k);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::{engine, expect_rc, fresh_engine, ok_params, run};
    use tpm2::Unmarshal;
    use tpm2::commands::GetCapabilityResponse;

    fn get(e: &mut Engine, cap: TpmCap, property: u32, count: u32) -> (bool, TpmsCapabilityData) {
        let mut p = cap.0.to_be_bytes().to_vec();
        p.extend_from_slice(&property.to_be_bytes());
        p.extend_from_slice(&count.to_be_bytes());
        let out = ok_params(e, TpmCc::GET_CAPABILITY, &[], &[], &p);
        let r = GetCapabilityResponse::from_bytes(&out).unwrap();
        assert_eq!(r.capability_data.capability(), cap);
        (r.more_data, r.capability_data)
    }

    fn props(e: &mut Engine, property: u32, count: u32) -> (bool, Vec<(TpmPt, u32)>) {
        let (more, d) = get(e, TpmCap::TPM_PROPERTIES, property, count);
        let TpmsCapabilityData::TpmProperties(l) = d else {
            panic!("{d:?}")
        };
        (more, l.iter().map(|p| (p.property, p.value)).collect())
    }

    fn prop(e: &mut Engine, pt: TpmPt) -> u32 {
        let (_, l) = props(e, pt.0, 1);
        assert_eq!(l[0].0, pt);
        l[0].1
    }

    fn handles(e: &mut Engine, property: u32, count: u32) -> (bool, Vec<u32>) {
        let (more, d) = get(e, TpmCap::HANDLES, property, count);
        let TpmsCapabilityData::Handles(l) = d else {
            panic!("{d:?}")
        };
        (more, l.iter().map(|h| h.0).collect())
    }

    #[test]
    fn algorithms_page_by_id() {
        let mut e = engine();
        let (more, d) = get(&mut e, TpmCap::ALGS, 0, 1000);
        let TpmsCapabilityData::Algorithms(l) = d else {
            panic!()
        };
        assert!(!more);
        assert_eq!(l.len(), ALGORITHMS.len());
        for w in ALGORITHMS.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
        let (more, d) = get(&mut e, TpmCap::ALGS, 0x0b, 3);
        let TpmsCapabilityData::Algorithms(l) = d else {
            panic!()
        };
        let ids: Vec<_> = l.iter().map(|a| a.alg).collect();
        assert_eq!(ids, [TpmAlgId::SHA256, TpmAlgId::SHA384, TpmAlgId::SHA512]);
        assert!(l.iter().all(|a| a.alg_properties == TpmaAlgorithm(HASH)));
        assert!(more);
        // Only the low 16 bits of property count; the last algorithm ends the list.
        let (more, d) = get(&mut e, TpmCap::ALGS, 0x1_000b, 1);
        assert!(more && d.len() == 1);
        let (more, d) = get(&mut e, TpmCap::ALGS, u32::from(TpmAlgId::ECB.0), 5);
        assert!(!more && d.len() == 1);
        let (more, d) = get(&mut e, TpmCap::ALGS, 0x45, 5);
        assert!(!more && d.is_empty());
        // propertyCount 0: nothing, but more is available.
        let (more, d) = get(&mut e, TpmCap::ALGS, 0, 0);
        assert!(more && d.is_empty());
    }

    #[test]
    fn handle_ranges() {
        let mut e = engine();
        let (more, pcrs) = handles(&mut e, 0, 1000);
        assert_eq!(pcrs, (0..24).collect::<Vec<u32>>());
        assert!(!more);
        assert_eq!(handles(&mut e, 0x16, 1), (true, alloc::vec![0x16]));
        assert_eq!(handles(&mut e, 0x17, 1), (false, alloc::vec![0x17]));
        assert_eq!(handles(&mut e, 0x18, 1), (false, alloc::vec![]));
        let (_, perm) = handles(&mut e, 0x4000_0000, 100);
        assert_eq!(
            perm,
            [
                0x4000_0001,
                0x4000_0007,
                0x4000_0009,
                0x4000_000A,
                0x4000_000B,
                0x4000_000C,
                0x4000_000D
            ]
        );
        assert_eq!(
            handles(&mut e, 0x4000_0008, 2),
            (true, alloc::vec![0x4000_0009, 0x4000_000A])
        );
        for empty in [
            0x0100_0000,
            0x0200_0000,
            0x0300_0000,
            0x8000_0000,
            0x8100_0000,
            0x80FF_FFFF,
        ] {
            assert_eq!(
                handles(&mut e, empty, 10),
                (false, alloc::vec![]),
                "{empty:#x}"
            );
        }
        // Handle types GetCapability does not list: TPM_RC_HANDLE for parameter 2.
        for bad in [0x0500_0000u32, 0x9000_0000, 0xFF00_0000, 0x4100_0000] {
            let mut p = TpmCap::HANDLES.0.to_be_bytes().to_vec();
            p.extend_from_slice(&bad.to_be_bytes());
            p.extend_from_slice(&1u32.to_be_bytes());
            expect_rc(
                &mut e,
                TpmCc::GET_CAPABILITY,
                &[],
                &[],
                &p,
                TpmRc::HANDLE.with_parameter(2),
            );
        }
    }

    #[test]
    fn commands_are_exactly_the_registered_ones() {
        let mut e = engine();
        let (more, d) = get(&mut e, TpmCap::COMMANDS, 0, 1000);
        let TpmsCapabilityData::Command(l) = d else {
            panic!()
        };
        assert!(!more);
        let mut registered: Vec<TpmCc> = dispatch::entries().map(|e| e.cc).collect();
        registered.sort();
        let listed: Vec<TpmCc> = l.iter().map(|a| a.command_code()).collect();
        assert_eq!(listed, registered);
        assert_eq!(prop(&mut e, TpmPt::TOTAL_COMMANDS), n32(registered.len()));
        assert_eq!(prop(&mut e, TpmPt::LIBRARY_COMMANDS), n32(registered.len()));
        assert_eq!(prop(&mut e, TpmPt::VENDOR_COMMANDS), 0);
        // The attributes swtpm reports for the same commands.
        let want = [
            (TpmCc::INCREMENTAL_SELF_TEST, 0x0040_0142),
            (TpmCc::SELF_TEST, 0x0040_0143),
            (TpmCc::STARTUP, 0x0040_0144),
            (TpmCc::SHUTDOWN, 0x0040_0145),
            (TpmCc::STIR_RANDOM, 0x0040_0146),
            (TpmCc::GET_CAPABILITY, 0x0000_017A),
            (TpmCc::GET_RANDOM, 0x0000_017B),
            (TpmCc::GET_TEST_RESULT, 0x0000_017C),
        ];
        for (cc, bits) in want {
            let a = l.iter().find(|a| a.command_code() == cc).unwrap();
            assert_eq!(a.bits(), bits, "{cc}");
        }
        // Paging by command code.
        let (more, d) = get(&mut e, TpmCap::COMMANDS, TpmCc::GET_CAPABILITY.0, 1);
        let TpmsCapabilityData::Command(l) = d else {
            panic!()
        };
        assert_eq!(l[0].command_code(), TpmCc::GET_CAPABILITY);
        assert!(more);
        let (more, d) = get(&mut e, TpmCap::COMMANDS, 0x2000_0000, 5);
        assert!(!more && d.is_empty());
    }

    #[test]
    fn table_attributes_of_other_commands() {
        let flags = |cc: TpmCc, nv: bool| {
            let entry = Entry {
                cc,
                handles: &[],
                roles: &[],
                nv,
                handler: get_capability,
            };
            command_attributes(&entry).map(TpmaCc::bits)
        };
        // swtpm's TPMA_CC for these (cHandles and rHandle from part 3, nv/extensive/flushed
        // from part 2 table 12).
        assert_eq!(flags(TpmCc::CLEAR, true), Some(0x02C0_0126));
        assert_eq!(flags(TpmCc::CREATE_PRIMARY, true), Some(0x1200_0131));
        assert_eq!(flags(TpmCc::SEQUENCE_COMPLETE, false), Some(0x0300_013E));
        assert_eq!(
            flags(TpmCc::EVENT_SEQUENCE_COMPLETE, false),
            Some(0x0540_0185)
        );
        assert_eq!(flags(TpmCc::CONTEXT_LOAD, false), Some(0x1000_0161));
        assert_eq!(flags(TpmCc::FLUSH_CONTEXT, false), Some(0x0000_0165));
        assert_eq!(flags(TpmCc::START_AUTH_SESSION, false), Some(0x1400_0176));
        assert_eq!(
            flags(TpmCc::NV_UNDEFINE_SPACE_SPECIAL, false),
            Some(0x0440_011F)
        );
        assert_eq!(flags(TpmCc::POLICY_NV, false), Some(0x0600_0149));
        // Commands libtpms lacks report the entry's own nv flag.
        assert_eq!(flags(TpmCc::NV_DEFINE_SPACE_2, true), Some(0x0240_019D));
        assert_eq!(flags(TpmCc::ECC_ENCRYPT, false), Some(0x0200_0199));
    }

    #[test]
    fn properties_stay_in_their_group() {
        let mut e = engine();
        let (more, fixed) = props(&mut e, 0, 1000);
        assert!(!more);
        assert_eq!(fixed.first().unwrap().0, TpmPt::FAMILY_INDICATOR);
        assert_eq!(fixed.last().unwrap().0, TpmPt::MAX_CAP_BUFFER);
        assert!(fixed.iter().all(|(p, _)| p.is_fixed()));
        let n = n32(fixed.len());
        assert!(props(&mut e, PT_FIXED, n - 1).0);
        assert!(!props(&mut e, PT_FIXED, n).0);
        let (more, var) = props(&mut e, PT_VAR, 1000);
        assert!(!more);
        assert_eq!(var.len(), 21);
        assert!(var.iter().all(|(p, _)| p.is_var()));
        assert_eq!(props(&mut e, TpmPt::MAX_CAP_BUFFER.0, 5).1.len(), 1);
        for none in [0x131, 0x150, 0x1FF, 0x215, 0x300, 0x8000_0000] {
            assert_eq!(props(&mut e, none, 5), (false, alloc::vec![]), "{none:#x}");
        }
        // Below PT_FIXED the list starts at PT_FIXED; PT_FIXED + 21 is not a property.
        assert_eq!(props(&mut e, 0xFF, 2).1.len(), 2);
        let (_, l) = props(&mut e, TpmPt::CONTEXT_GAP_MAX.0, 2);
        assert_eq!(l[1].0, TpmPt::NV_COUNTERS_MAX);
        // MAX_TPM_PROPERTIES caps a request.
        assert!(props(&mut e, 0, u32::MAX).1.len() <= MAX_TPM_PROPERTIES);
    }

    #[test]
    fn property_values() {
        let mut e = engine();
        let word = |s: &[u8; 4]| u32::from_be_bytes(*s);
        assert_eq!(prop(&mut e, TpmPt::FAMILY_INDICATOR), word(b"2.0\0"));
        assert_eq!(prop(&mut e, TpmPt::MANUFACTURER), word(b"RVTP"));
        assert_eq!(prop(&mut e, TpmPt::VENDOR_STRING_1), word(b"vTPM"));
        assert_eq!(prop(&mut e, TpmPt::REVISION), 159);
        assert_eq!(prop(&mut e, TpmPt::INPUT_BUFFER), 1024);
        assert_eq!(prop(&mut e, TpmPt::MAX_COMMAND_SIZE), 4096);
        assert_eq!(prop(&mut e, TpmPt::MAX_RESPONSE_SIZE), 4096);
        assert_eq!(prop(&mut e, TpmPt::MAX_DIGEST), 64);
        assert_eq!(prop(&mut e, TpmPt::PCR_COUNT), 24);
        assert_eq!(prop(&mut e, TpmPt::PCR_SELECT_MIN), 3);
        assert_eq!(prop(&mut e, TpmPt::HR_TRANSIENT_MIN), 3);
        assert_eq!(prop(&mut e, TpmPt::HR_PERSISTENT_MIN), 16);
        assert_eq!(prop(&mut e, TpmPt::HR_LOADED_MIN), 3);
        assert_eq!(prop(&mut e, TpmPt::ACTIVE_SESSIONS_MAX), 64);
        assert_eq!(prop(&mut e, TpmPt::HR_TRANSIENT_AVAIL), 3);
        assert_eq!(prop(&mut e, TpmPt::HR_PERSISTENT_AVAIL), 16);
        assert_eq!(prop(&mut e, TpmPt::HR_LOADED_AVAIL), 3);
        assert_eq!(prop(&mut e, TpmPt::HR_ACTIVE_AVAIL), 64);
        assert_eq!(prop(&mut e, TpmPt::LOADED_CURVES), 1);
        assert_eq!(prop(&mut e, TpmPt::MAX_AUTH_FAIL), 3);
        assert_eq!(prop(&mut e, TpmPt::LOCKOUT_INTERVAL), 1000);
        assert_eq!(prop(&mut e, TpmPt::LOCKOUT_RECOVERY), 1000);
        let v = firmware_version();
        assert_eq!(prop(&mut e, TpmPt::FIRMWARE_VERSION_1), v.0);
        // A fresh TPM: only tpmGeneratedEPS; every hierarchy enabled, orderly (manufacture
        // counts as an orderly shutdown, as in libtpms).
        assert_eq!(
            prop(&mut e, TpmPt::PERMANENT),
            TpmaPermanent::TPM_GENERATED_EPS
        );
        assert_eq!(prop(&mut e, TpmPt::STARTUP_CLEAR), 0x8000_000F);
        // State changes show.
        e.state.perm.owner_auth = zeroize::Zeroizing::new(b"x".to_vec());
        e.state.perm.da.failed_tries = 3;
        e.state.vol.eh_enable = false;
        assert_eq!(prop(&mut e, TpmPt::PERMANENT), 0x0000_0601);
        assert_eq!(prop(&mut e, TpmPt::LOCKOUT_COUNTER), 3);
        assert_eq!(prop(&mut e, TpmPt::STARTUP_CLEAR), 0x8000_000B);
    }

    #[test]
    fn orderly_after_shutdown_and_startup() {
        let mut e = engine();
        ok_params(&mut e, TpmCc::SHUTDOWN, &[], &[], &[0, 0]);
        e.power_on();
        ok_params(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0]);
        assert_eq!(prop(&mut e, TpmPt::STARTUP_CLEAR), 0x8000_000F);
        // An unorderly restart (no Shutdown) is reported as such. (libtpms clears its orderly
        // state lazily, at the first command that changes NV, and so still reports orderly
        // when nothing ran between Startup and the power loss; we clear it at Startup.)
        e.power_on();
        ok_params(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0]);
        assert_eq!(prop(&mut e, TpmPt::STARTUP_CLEAR), 0x0000_000F);
    }

    #[test]
    fn pcr_properties_are_the_pc_client_ones() {
        let mut e = engine();
        let (more, d) = get(&mut e, TpmCap::PCR_PROPERTIES, 0, 100);
        let TpmsCapabilityData::PcrProperties(l) = d else {
            panic!()
        };
        assert!(!more);
        let mut bytes = Vec::new();
        tpm2::Marshal::marshal(&l, &mut bytes);
        // swtpm's answer to the same request.
        let swtpm = concat!(
            "0000000f0000000003ffff000000000103ffff8100000002030000810000000303ffff91",
            "00000004030000810000000503ffffff00000006030000f10000000703ffff9f00000008",
            "030000810000000903ffff870000000a0300007e00000011030000e1000000120300007e",
            "00000013030000700000001403000070"
        );
        assert_eq!(crate::engine::crypto::testutil::hex(swtpm), bytes);
        let (more, d) = get(&mut e, TpmCap::PCR_PROPERTIES, 0x10, 2);
        assert!(more && d.len() == 2);
        assert_eq!(get(&mut e, TpmCap::PCR_PROPERTIES, 0x15, 2).1.len(), 0);
    }

    #[test]
    fn pcrs_curves_policies_act() {
        let mut e = engine();
        let (more, d) = get(&mut e, TpmCap::PCRS, 0, 1);
        let TpmsCapabilityData::AssignedPcr(l) = d else {
            panic!()
        };
        assert!(!more);
        assert_eq!(l, e.state.perm.pcr_allocation);
        let (more, d) = get(&mut e, TpmCap::PCRS, 0, 0);
        assert!(more && d.is_empty());
        let mut p = TpmCap::PCRS.0.to_be_bytes().to_vec();
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 4]);
        expect_rc(
            &mut e,
            TpmCc::GET_CAPABILITY,
            &[],
            &[],
            &p,
            TpmRc::VALUE.with_parameter(2),
        );

        let (more, d) = get(&mut e, TpmCap::ECC_CURVES, 0, 10);
        assert_eq!(
            (more, d),
            (
                false,
                TpmsCapabilityData::EccCurves(
                    TpmlEccCurve::new(alloc::vec![TpmEccCurve::NIST_P256]).unwrap()
                )
            )
        );
        assert!(get(&mut e, TpmCap::ECC_CURVES, 4, 10).1.is_empty());

        let (more, d) = get(&mut e, TpmCap::AUTH_POLICIES, 0x4000_0000, 10);
        let TpmsCapabilityData::AuthPolicies(l) = d else {
            panic!()
        };
        assert!(!more);
        let hs: Vec<u32> = l.iter().map(|p| p.handle.0).collect();
        assert_eq!(hs, [0x4000_0001, 0x4000_000A, 0x4000_000B, 0x4000_000C]);
        assert!(l.iter().all(|p| p.policy_hash == TpmtHa::null()));
        e.state.perm.endorsement_policy = Policy {
            alg: TpmAlgId::SHA256,
            digest: alloc::vec![0x83; 32],
        };
        let (more, d) = get(&mut e, TpmCap::AUTH_POLICIES, 0x4000_000B, 1);
        let TpmsCapabilityData::AuthPolicies(l) = d else {
            panic!()
        };
        assert!(more);
        assert_eq!(
            l[0].policy_hash,
            TpmtHa::new(TpmAlgId::SHA256, &[0x83; 32]).unwrap()
        );
        for bad in [0u32, 0x8000_0000] {
            let mut p = TpmCap::AUTH_POLICIES.0.to_be_bytes().to_vec();
            p.extend_from_slice(&bad.to_be_bytes());
            p.extend_from_slice(&1u32.to_be_bytes());
            expect_rc(
                &mut e,
                TpmCc::GET_CAPABILITY,
                &[],
                &[],
                &p,
                TpmRc::VALUE.with_parameter(2),
            );
        }

        assert!(get(&mut e, TpmCap::ACT, ACT_FIRST, 10).1.is_empty());
        assert!(get(&mut e, TpmCap::ACT, ACT_LAST, 10).1.is_empty());
        for bad in [ACT_FIRST - 1, ACT_LAST + 1, 0] {
            let mut p = TpmCap::ACT.0.to_be_bytes().to_vec();
            p.extend_from_slice(&bad.to_be_bytes());
            p.extend_from_slice(&1u32.to_be_bytes());
            expect_rc(
                &mut e,
                TpmCc::GET_CAPABILITY,
                &[],
                &[],
                &p,
                TpmRc::VALUE.with_parameter(2),
            );
        }
        assert_eq!(get(&mut e, TpmCap::PP_COMMANDS, 0, 10).1.len(), 0);
        // A new TPM audits TPM2_SetCommandCodeAuditStatus only.
        assert_eq!(get(&mut e, TpmCap::AUDIT_COMMANDS, 0, 10).1.len(), 1);
        assert_eq!(get(&mut e, TpmCap::AUDIT_COMMANDS, 0x141, 10).1.len(), 0);
    }

    #[test]
    fn malformed_requests() {
        let mut e = engine();
        // Unknown capability: TPM_RC_VALUE for parameter 1, before the other parameters.
        for cap in [0x0Bu32, u32::MAX] {
            let mut p = cap.to_be_bytes().to_vec();
            expect_rc(
                &mut e,
                TpmCc::GET_CAPABILITY,
                &[],
                &[],
                &p,
                TpmRc::VALUE.with_parameter(1),
            );
            p.extend_from_slice(&[0; 9]);
            expect_rc(
                &mut e,
                TpmCc::GET_CAPABILITY,
                &[],
                &[],
                &p,
                TpmRc::VALUE.with_parameter(1),
            );
        }
        // TPM_CAP_VENDOR_PROPERTY unmarshals (trailing bytes are TPM_RC_SIZE first, as in
        // libtpms) and is then refused.
        let vendor = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let value1 = TpmRc::VALUE.with_parameter(1);
        expect_rc(&mut e, TpmCc::GET_CAPABILITY, &[], &[], &vendor, value1);
        let long = [&vendor[..], &[0]].concat();
        expect_rc(&mut e, TpmCc::GET_CAPABILITY, &[], &[], &long, TpmRc::SIZE);
        let good = [0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 0, 1];
        expect_rc(
            &mut e,
            TpmCc::GET_CAPABILITY,
            &[],
            &[],
            &good[..8],
            TpmRc::INSUFFICIENT.with_parameter(3),
        );
        expect_rc(
            &mut e,
            TpmCc::GET_CAPABILITY,
            &[],
            &[],
            &good[..6],
            TpmRc::INSUFFICIENT.with_parameter(2),
        );
        let mut extra = good.to_vec();
        extra.push(0);
        expect_rc(&mut e, TpmCc::GET_CAPABILITY, &[], &[], &extra, TpmRc::SIZE);
        // The size check comes before the action's own checks.
        let mut p = TpmCap::HANDLES.0.to_be_bytes().to_vec();
        p.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 1, 0]);
        expect_rc(&mut e, TpmCc::GET_CAPABILITY, &[], &[], &p, TpmRc::SIZE);
        let mut cold = fresh_engine(4);
        let (rc, _) = run(&mut cold, TpmCc::GET_CAPABILITY, &[], &[], &good);
        assert_eq!(rc, TpmRc::INITIALIZE);
    }

    #[test]
    fn test_parms() {
        let mut e = engine();
        let hex = crate::engine::crypto::testutil::hex;
        for ok in [
            "000100100010080000000000",
            "00010006008000430010080000000000",
            "00230010001800 0b00030010",
            "0008000a000b0022",
            "0025000601000042",
        ] {
            ok_params(&mut e, TpmCc::TEST_PARMS, &[], &[], &hex(ok));
        }
        let p1 = |rc: TpmRc| rc.with_parameter(1);
        for (parms, rc) in [
            ("000100100010020000000000", p1(TpmRc::VALUE)),
            ("0001000600c000430010080000000000", p1(TpmRc::VALUE)),
            ("00230010001000040010", p1(TpmRc::CURVE)),
            ("0025002600800043", p1(TpmRc::SYMMETRIC)),
            ("0007", p1(TpmRc::TYPE)),
            ("0001001000100800000000", p1(TpmRc::INSUFFICIENT)),
            ("00010010001008000000000000", TpmRc::SIZE),
        ] {
            expect_rc(&mut e, TpmCc::TEST_PARMS, &[], &[], &hex(parms), rc);
        }
    }

    #[test]
    fn every_full_list_fits_the_response() {
        let mut e = engine();
        for cap in [
            TpmCap::ALGS,
            TpmCap::COMMANDS,
            TpmCap::TPM_PROPERTIES,
            TpmCap::PCR_PROPERTIES,
            TpmCap::PCRS,
        ] {
            let mut p = cap.0.to_be_bytes().to_vec();
            p.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
            let (rc, rsp) = run(&mut e, TpmCc::GET_CAPABILITY, &[], &[], &p);
            assert_eq!(rc, TpmRc::SUCCESS);
            assert!(rsp.len() <= 10 + 1 + MAX_CAP_BUFFER as usize, "{cap}");
        }
    }
}

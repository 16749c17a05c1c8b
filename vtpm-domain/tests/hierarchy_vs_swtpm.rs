#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hierarchy and clock commands (TCG TPM 2.0 Library part 3 §24 and §29), cross-checked with
//! swtpm 0.7.1 / libtpms: each flow runs on swtpm and on our engine and records every response
//! code and every value both must agree on (what survives TPM2_Clear, TPM_CAP_AUTH_POLICIES,
//! TPMA_PERMANENT, whether a seed changed); the two records must be identical.
//!
//! - TPM2_Clear: with lockoutAuth and platformAuth, wrong authorization, after
//!   TPM2_ClearControl; what it removes (owner and endorsement objects, owner NV indices,
//!   authorizations, policies) and keeps (platform indices, the EK).
//! - TPM2_HierarchyChangeAuth, TPM2_HierarchyControl (every permission rule),
//!   TPM2_SetPrimaryPolicy, TPM2_ChangePPS, TPM2_ChangeEPS.
//! - TPM2_ReadClock, TPM2_ClockSet, TPM2_ClockRateAdjust.
//! - TPM2_ECC_Parameters and TPM2_SetAlgorithmSet.
//!
//! swtpm is required: the tests fail if it is not installed.

use std::fmt::Write as _;

use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::{Tpm2bAuth, Tpm2bDigest};

#[path = "support/pair.rs"]
mod pair;
use pair::{Log, Tpm, cross_check, exec, pw};

const O: TpmHandle = TpmHandle::OWNER;
const E: TpmHandle = TpmHandle::ENDORSEMENT;
const P: TpmHandle = TpmHandle::PLATFORM;
const L: TpmHandle = TpmHandle::LOCKOUT;

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        write!(s, "{x:02x}").unwrap();
        s
    })
}

fn pw_with(p: &[u8]) -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::new(p).unwrap())
}

/// Runs a command with one password session and logs its response code.
fn step(
    t: &mut dyn Tpm,
    log: &mut Log,
    what: &str,
    cc: TpmCc,
    h: TpmHandle,
    auth: &[u8],
    params: &[u8],
) -> Vec<u8> {
    let (rc, rsp) = exec(t, cc, &[h], &[pw_with(auth)], params);
    log.rc(what, rc);
    rsp
}

fn change_auth(t: &mut dyn Tpm, log: &mut Log, h: TpmHandle, old: &[u8], new: &[u8]) {
    let p = Tpm2bAuth::new(new).unwrap().to_bytes();
    let what = format!(
        "HierarchyChangeAuth {h:?} {:?}",
        String::from_utf8_lossy(new)
    );
    step(t, log, &what, TpmCc::HIERARCHY_CHANGE_AUTH, h, old, &p);
}

/// An unrestricted RSA-2048 signing key's template (TPMT_PUBLIC in a TPM2B).
fn signing_template() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend([0x00, 0x01, 0x00, 0x0b]); // RSA, nameAlg SHA-256
    t.extend(0x0004_0072u32.to_be_bytes()); // fixedTPM fixedParent SDO userWithAuth sign
    t.extend([0, 0]); // authPolicy
    t.extend([0x00, 0x10, 0x00, 0x10]); // symmetric NULL, scheme NULL
    t.extend(2048u16.to_be_bytes());
    t.extend(0u32.to_be_bytes());
    t.extend([0, 0]); // unique
    let mut b = u16::try_from(t.len()).unwrap().to_be_bytes().to_vec();
    b.extend(t);
    b
}

/// TPM2_CreatePrimary of [`signing_template`]; logs the code and returns (handle, public key).
fn primary(t: &mut dyn Tpm, log: &mut Log, what: &str, h: TpmHandle) -> (TpmHandle, Vec<u8>) {
    let mut p = vec![0, 4, 0, 0, 0, 0];
    p.extend(signing_template());
    p.extend([0, 0, 0, 0, 0, 0]);
    let (rc, rsp) = exec(t, TpmCc::CREATE_PRIMARY, &[h], &[pw()], &p);
    log.rc(what, rc);
    if rc != TpmRc::SUCCESS {
        return (TpmHandle::NULL, Vec::new());
    }
    let r = Response::parse(&rsp, TpmCc::CREATE_PRIMARY).unwrap();
    // The last 256 bytes of the TPMT_PUBLIC are the modulus.
    let size = usize::from(u16::from_be_bytes([r.parameters[0], r.parameters[1]]));
    let public = r.parameters[2..2 + size].to_vec();
    (r.handle.unwrap(), public[public.len() - 256..].to_vec())
}

fn define_index(t: &mut dyn Tpm, log: &mut Log, auth: TpmHandle, index: u32, extra: u32) {
    let mut public = Vec::new();
    public.extend(index.to_be_bytes());
    public.extend(TpmAlgId::SHA256.to_bytes());
    public.extend((0x0004_0004u32 | extra).to_be_bytes()); // AUTHWRITE | AUTHREAD
    public.extend([0, 0]);
    public.extend(8u16.to_be_bytes());
    let mut p = vec![0, 0];
    p.extend(u16::try_from(public.len()).unwrap().to_be_bytes());
    p.extend(public);
    let what = format!("NV_DefineSpace {index:#x}");
    step(t, log, &what, TpmCc::NV_DEFINE_SPACE, auth, b"", &p);
}

fn nv_present(t: &mut dyn Tpm, log: &mut Log, index: u32) {
    let (rc, _) = exec(t, TpmCc::NV_READ_PUBLIC, &[TpmHandle(index)], &[], &[]);
    log.rc(&format!("NV_ReadPublic {index:#x}"), rc);
}

fn capability(t: &mut dyn Tpm, log: &mut Log, what: &str, cap: u32, property: u32, count: u32) {
    let mut p = cap.to_be_bytes().to_vec();
    p.extend(property.to_be_bytes());
    p.extend(count.to_be_bytes());
    let (rc, rsp) = exec(t, TpmCc::GET_CAPABILITY, &[], &[], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: GetCapability", t.name());
    log.line(what, &hex(&rsp[10..]));
}

/// TPMA_PERMANENT (TPM_PT_PERMANENT) and TPMA_STARTUP_CLEAR (TPM_PT_STARTUP_CLEAR).
fn attributes(t: &mut dyn Tpm, log: &mut Log, what: &str) {
    capability(t, log, what, 6, 0x200, 2);
}

fn clear_flow(t: &mut dyn Tpm, log: &mut Log) {
    let (key, _) = primary(t, log, "owner primary", O);
    let p = 0x8100_0001u32.to_be_bytes();
    let (rc, _) = exec(t, TpmCc::EVICT_CONTROL, &[O, key], &[pw()], &p);
    log.rc("EvictControl owner key", rc);
    let (_, ek) = primary(t, log, "endorsement primary", E);
    define_index(t, log, O, 0x0150_0001, 0);
    define_index(t, log, P, 0x0140_0001, 0x4000_0000); // PLATFORMCREATE
    change_auth(t, log, O, b"", b"owner");
    change_auth(t, log, E, b"", b"endorse");
    change_auth(t, log, L, b"", b"lock");
    let d = Tpm2bDigest::new(&[0x11; 32]).unwrap().to_bytes();
    let mut sp = d.clone();
    sp.extend(TpmAlgId::SHA256.to_bytes());
    step(
        t,
        log,
        "SetPrimaryPolicy owner",
        TpmCc::SET_PRIMARY_POLICY,
        O,
        b"owner",
        &sp,
    );
    capability(t, log, "auth policies before", 9, 0x4000_0000, 16);
    attributes(t, log, "attributes before");

    step(
        t,
        log,
        "Clear wrong platform auth",
        TpmCc::CLEAR,
        P,
        b"nope",
        &[],
    );
    step(t, log, "Clear owner handle", TpmCc::CLEAR, O, b"owner", &[]);
    step(t, log, "Clear", TpmCc::CLEAR, L, b"lock", &[]);
    capability(t, log, "auth policies after", 9, 0x4000_0000, 16);
    attributes(t, log, "attributes after");
    nv_present(t, log, 0x0150_0001);
    nv_present(t, log, 0x0140_0001);
    let (rc, _) = exec(t, TpmCc::READ_PUBLIC, &[TpmHandle(0x8100_0001)], &[], &[]);
    log.rc("ReadPublic evicted key", rc);
    let (rc, _) = exec(t, TpmCc::READ_PUBLIC, &[key], &[], &[]);
    log.rc("ReadPublic transient key", rc);
    // Empty authorizations again; the EPS (so the EK) is kept.
    change_auth(t, log, O, b"", b"");
    change_auth(t, log, E, b"", b"");
    change_auth(t, log, L, b"", b"");
    let (_, ek_after) = primary(t, log, "endorsement primary after", E);
    log.line("EK kept", &(ek == ek_after).to_string());
    let (rc, rsp) = exec(t, TpmCc::READ_CLOCK, &[], &[], &[]);
    log.rc("ReadClock", rc);
    // time (8), clock (8), resetCount, restartCount, safe.
    log.line("counts after Clear", &hex(&rsp[26..35]));
}

#[test]
fn clear_against_swtpm() {
    cross_check("HIERARCHY_VERBOSE", clear_flow);
}

fn clear_control_flow(t: &mut dyn Tpm, log: &mut Log) {
    step(
        t,
        log,
        "ClearControl bad value",
        TpmCc::CLEAR_CONTROL,
        L,
        b"",
        &[2],
    );
    step(
        t,
        log,
        "ClearControl owner",
        TpmCc::CLEAR_CONTROL,
        O,
        b"",
        &[1],
    );
    step(
        t,
        log,
        "ClearControl lockout YES",
        TpmCc::CLEAR_CONTROL,
        L,
        b"",
        &[1],
    );
    attributes(t, log, "attributes disableClear");
    step(t, log, "Clear disabled", TpmCc::CLEAR, L, b"", &[]);
    step(t, log, "Clear disabled platform", TpmCc::CLEAR, P, b"", &[]);
    step(
        t,
        log,
        "ClearControl lockout NO",
        TpmCc::CLEAR_CONTROL,
        L,
        b"",
        &[0],
    );
    step(
        t,
        log,
        "ClearControl platform NO",
        TpmCc::CLEAR_CONTROL,
        P,
        b"",
        &[0],
    );
    step(t, log, "Clear platform", TpmCc::CLEAR, P, b"", &[]);
    step(
        t,
        log,
        "ClearControl trailing",
        TpmCc::CLEAR_CONTROL,
        P,
        b"",
        &[0, 0],
    );
}

#[test]
fn clear_control_against_swtpm() {
    cross_check("HIERARCHY_VERBOSE", clear_control_flow);
}

fn control(t: &mut dyn Tpm, log: &mut Log, auth: TpmHandle, enable: TpmHandle, state: u8) {
    let mut p = enable.0.to_be_bytes().to_vec();
    p.push(state);
    let what = format!("HierarchyControl {auth:?} {enable:?} {state}");
    step(t, log, &what, TpmCc::HIERARCHY_CONTROL, auth, b"", &p);
}

fn hierarchy_control_flow(t: &mut dyn Tpm, log: &mut Log) {
    let (key, _) = primary(t, log, "owner primary", O);
    control(t, log, O, E, 0);
    control(t, log, O, TpmHandle::PLATFORM_NV, 0);
    control(t, log, O, TpmHandle::NULL, 0);
    control(t, log, O, TpmHandle::LOCKOUT, 0);
    control(t, log, O, O, 2);
    control(t, log, L, O, 0);
    control(t, log, O, O, 1);
    control(t, log, O, O, 0);
    attributes(t, log, "attributes owner off");
    let (rc, _) = exec(t, TpmCc::READ_PUBLIC, &[key], &[], &[]);
    log.rc("ReadPublic owner key", rc);
    primary(t, log, "owner primary while disabled", O);
    control(t, log, O, O, 1);
    control(t, log, E, O, 1);
    control(t, log, P, O, 1);
    control(t, log, E, E, 0);
    control(t, log, E, E, 1);
    control(t, log, P, E, 1);
    control(t, log, P, TpmHandle::PLATFORM_NV, 0);
    control(t, log, P, TpmHandle::PLATFORM_NV, 1);
    control(t, log, P, P, 0);
    attributes(t, log, "attributes platform off");
    control(t, log, P, P, 1);
    change_auth(t, log, P, b"", b"x");
}

#[test]
fn hierarchy_control_against_swtpm() {
    cross_check("HIERARCHY_VERBOSE", hierarchy_control_flow);
}

fn policy_flow(t: &mut dyn Tpm, log: &mut Log) {
    let policy = |d: &[u8], alg: TpmAlgId| {
        let mut p = Tpm2bDigest::new(d).unwrap().to_bytes();
        p.extend(alg.to_bytes());
        p
    };
    let cc = TpmCc::SET_PRIMARY_POLICY;
    step(
        t,
        log,
        "owner sha256",
        cc,
        O,
        b"",
        &policy(&[1; 32], TpmAlgId::SHA256),
    );
    step(
        t,
        log,
        "endorsement sha1",
        cc,
        E,
        b"",
        &policy(&[2; 20], TpmAlgId::SHA1),
    );
    step(
        t,
        log,
        "lockout sha384",
        cc,
        L,
        b"",
        &policy(&[3; 48], TpmAlgId::SHA384),
    );
    step(
        t,
        log,
        "platform sha256",
        cc,
        P,
        b"",
        &policy(&[4; 32], TpmAlgId::SHA256),
    );
    step(
        t,
        log,
        "wrong size",
        cc,
        O,
        b"",
        &policy(&[1; 20], TpmAlgId::SHA256),
    );
    step(
        t,
        log,
        "not a hash",
        cc,
        O,
        b"",
        &policy(&[1; 32], TpmAlgId::AES),
    );
    step(
        t,
        log,
        "null with digest",
        cc,
        O,
        b"",
        &policy(&[1; 32], TpmAlgId::NULL),
    );
    step(t, log, "null", cc, E, b"", &policy(&[], TpmAlgId::NULL));
    step(
        t,
        log,
        "PCR handle",
        cc,
        TpmHandle(0),
        b"",
        &policy(&[], TpmAlgId::NULL),
    );
    capability(t, log, "auth policies", 9, 0x4000_0000, 16);
    for n in [64u16, 65] {
        let mut p = n.to_be_bytes().to_vec();
        p.extend(vec![7u8; usize::from(n)]);
        let what = format!("HierarchyChangeAuth {n} bytes");
        let rsp = step(t, log, &what, TpmCc::HIERARCHY_CHANGE_AUTH, L, b"", &p);
        if rsp[6..10] == [0; 4] {
            change_auth(t, log, L, &[7u8; 64], b"");
        }
    }
    change_auth(t, log, O, b"", &[0x61, 0, 0]);
    change_auth(t, log, O, b"a", b"b");
}

#[test]
fn primary_policy_and_auth_against_swtpm() {
    cross_check("HIERARCHY_VERBOSE", policy_flow);
}

fn seeds_flow(t: &mut dyn Tpm, log: &mut Log) {
    let (pk, platform_before) = primary(t, log, "platform primary", P);
    let p = 0x8180_0001u32.to_be_bytes();
    let (rc, _) = exec(t, TpmCc::EVICT_CONTROL, &[P, pk], &[pw()], &p);
    log.rc("EvictControl platform key", rc);
    let (_, ek_before) = primary(t, log, "endorsement primary", E);
    define_index(t, log, P, 0x0140_0002, 0x4000_0000);
    step(t, log, "ChangePPS owner", TpmCc::CHANGE_PPS, O, b"", &[]);
    step(t, log, "ChangePPS", TpmCc::CHANGE_PPS, P, b"", &[]);
    let (rc, _) = exec(t, TpmCc::READ_PUBLIC, &[TpmHandle(0x8180_0001)], &[], &[]);
    log.rc("ReadPublic evicted platform key", rc);
    nv_present(t, log, 0x0140_0002);
    let (_, platform_after) = primary(t, log, "platform primary after", P);
    log.line(
        "platform key changed",
        &(platform_before != platform_after).to_string(),
    );
    change_auth(t, log, E, b"", b"e");
    step(t, log, "ChangeEPS", TpmCc::CHANGE_EPS, P, b"", &[]);
    change_auth(t, log, E, b"", b"");
    let (_, ek_after) = primary(t, log, "endorsement primary after", E);
    log.line("EK changed", &(ek_before != ek_after).to_string());
}

#[test]
fn change_seeds_against_swtpm() {
    cross_check("HIERARCHY_VERBOSE", seeds_flow);
}

fn clock_flow(t: &mut dyn Tpm, log: &mut Log) {
    let (rc, rsp) = exec(t, TpmCc::READ_CLOCK, &[], &[], &[]);
    log.rc("ReadClock", rc);
    log.line("ReadClock size", &rsp.len().to_string());
    let clock = u64::from_be_bytes(rsp[18..26].try_into().unwrap());
    let set = |t: &mut dyn Tpm, log: &mut Log, what: &str, v: u64| {
        step(t, log, what, TpmCc::CLOCK_SET, O, b"", &v.to_be_bytes());
    };
    set(t, log, "ClockSet too far", 0xFFFF_0000_0000_0001);
    set(t, log, "ClockSet", clock + 10_000_000);
    let (_, rsp) = exec(t, TpmCc::READ_CLOCK, &[], &[], &[]);
    let now = u64::from_be_bytes(rsp[18..26].try_into().unwrap());
    log.line("clock moved", &(now >= clock + 10_000_000).to_string());
    set(t, log, "ClockSet back", clock + 5_000_000);
    let cc = TpmCc::CLOCK_RATE_ADJUST;
    for v in [0u8, 1, 2, 3, 0xFF, 0xFE, 0xFD, 4, 0xFC, 0x80] {
        step(t, log, &format!("ClockRateAdjust {v:#x}"), cc, P, b"", &[v]);
    }
    step(t, log, "ClockRateAdjust lockout", cc, L, b"", &[0]);
}

#[test]
fn clock_against_swtpm() {
    cross_check("HIERARCHY_VERBOSE", clock_flow);
}

/// TPM2_ECC_Parameters of NIST P-256 byte for byte, of a curve no TPM knows, and
/// TPM2_SetAlgorithmSet. (swtpm also implements P-384, P-521 and BN curves, which the engine
/// refuses with TPM_RC_CURVE.)
fn misc_flow(t: &mut dyn Tpm, log: &mut Log) {
    for curve in [0x0003u16, 0x0000, 0x0042] {
        let (rc, rsp) = exec(t, TpmCc::ECC_PARAMETERS, &[], &[], &curve.to_be_bytes());
        log.rc(&format!("ECC_Parameters {curve:#06x}"), rc);
        log.line("bytes", &hex(&rsp));
    }
    for h in [P, O] {
        let what = format!("SetAlgorithmSet {h:?}");
        step(
            t,
            log,
            &what,
            TpmCc::SET_ALGORITHM_SET,
            h,
            b"",
            &[0, 0, 0, 1],
        );
    }
}

#[test]
fn ecc_parameters_and_algorithm_set_against_swtpm() {
    cross_check("HIERARCHY_VERBOSE", misc_flow);
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::many_single_char_names, clippy::too_many_lines)]
//! The Enhanced Authorization commands of part 3 §23 beyond `policy_vs_swtpm.rs`, cross-checked
//! with swtpm 0.7 / libtpms: each flow runs on swtpm and on our engine and records every
//! response code, every policy digest and every unsealed secret; the records must be
//! identical. Where a value depends on the TPM (its primary seeds, clock or proofs), the flow
//! records whether it matches the value computed here from the specification instead.
//!
//! - Binding assertions: TPM2_PolicyCpHash, PolicyNameHash, PolicyTemplate,
//!   PolicyDuplicationSelect, PolicyNvWritten, PolicyPhysicalPresence: digests and the rules on
//!   which may follow which; enforcement through the owner hierarchy's policy (CreatePrimary
//!   with the right and a wrong template, a nameHash, physical presence) and an NV index
//!   written once under PolicyNvWritten(NO).
//! - TPM2_PolicySigned with an HMAC key and an ECDSA key loaded by both TPMs (the signatures
//!   are made here), its parameter checks and tickets, TPM2_PolicyTicket replaying them.
//! - TPM2_PolicyAuthorize with a TPM2_VerifySignature ticket, combined with PolicyCpHash, and
//!   TPM2_PolicyAuthorizeNV: unsealing through an approved policy, and every error.
//! - TPM2_PolicyNV with every TPM_EO and TPM2_PolicyCounterTimer.
//!
//! swtpm is required: the tests fail if it is not installed.

use sha2::Sha256;
use tpm2::alg::TpmAlgId;
use tpm2::auth::{TpmaSession, TpmsAuthCommand};
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::st::{TpmEccCurve, TpmSt};
use tpm2::structures::{
    PublicDetail, Tpm2bAuth, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, Tpm2bName, Tpm2bNonce,
    Tpm2bPublic, Tpm2bSensitive, Tpm2bSensitiveData, Tpm2bTimeout, TpmaObject, TpmlPcrSelection,
    TpmsEccParms, TpmsEccPoint, TpmsKeyedhashParms, TpmsSchemeHash, TpmsSensitiveCreate,
    TpmtEccScheme, TpmtKdfScheme, TpmtKeyedhashScheme, TpmtPublic, TpmtSensitive, TpmtSignature,
    TpmtSymDefObject, TpmtTkAuth, TpmtTkVerified, TpmuSensitiveComposite,
};
use tpm2::{Marshal, Reader, Unmarshal};
use vtpm_domain::engine::crypto::{Curve, EccPrivate, HashAlg, KdfaStream};

#[path = "support/pair.rs"]
mod pair;
use pair::{Log, Tpm, cross_check, exec};

#[path = "support/policy_util.rs"]
mod policy_util;
use policy_util::*;

const SHA256: TpmAlgId = TpmAlgId::SHA256;
const ZERO: [u8; 32] = [0; 32];

fn pw() -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::empty())
}

fn restart(t: &mut dyn Tpm, s: TpmHandle) {
    let (rc, _) = exec(t, TpmCc::POLICY_RESTART, &[s], &[], &[]);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: PolicyRestart", t.name());
}

fn name_param(name: &[u8]) -> Vec<u8> {
    Tpm2bName::new(name).unwrap().to_bytes()
}

fn digest_param(d: &[u8]) -> Vec<u8> {
    Tpm2bDigest::new(d).unwrap().to_bytes()
}

/// The Name of a loaded object (TPM2_ReadPublic).
fn object_name(t: &mut dyn Tpm, h: TpmHandle) -> Vec<u8> {
    let (rc, rsp) = exec(t, TpmCc::READ_PUBLIC, &[h], &[], &[]);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: ReadPublic", t.name());
    let r = Response::parse(&rsp, TpmCc::READ_PUBLIC).unwrap();
    let mut rd = Reader::new(r.parameters);
    Tpm2bPublic::unmarshal(&mut rd).unwrap();
    Tpm2bName::unmarshal(&mut rd).unwrap().as_bytes().to_vec()
}

/// TPM2_LoadExternal of `public` (with `sensitive` if given) into `hierarchy`.
fn load_external(
    t: &mut dyn Tpm,
    sensitive: Option<TpmtSensitive>,
    public: TpmtPublic,
    hierarchy: TpmHandle,
) -> TpmHandle {
    let mut p = Tpm2bSensitive {
        sensitive_area: sensitive,
    }
    .to_bytes();
    Tpm2bPublic::from(public).marshal(&mut p);
    hierarchy.marshal(&mut p);
    let (rc, rsp) = exec(t, TpmCc::LOAD_EXTERNAL, &[], &[], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: LoadExternal", t.name());
    Response::parse(&rsp, TpmCc::LOAD_EXTERNAL)
        .unwrap()
        .handle
        .unwrap()
}

const HMAC_KEY: [u8; 32] = [0x42; 32];

/// An HMAC-SHA256 signing key with a known secret, in the NULL hierarchy.
fn load_hmac_key(t: &mut dyn Tpm) -> TpmHandle {
    let seed = [0x5a; 32];
    let public = TpmtPublic {
        name_alg: SHA256,
        object_attributes: TpmaObject(TpmaObject::SIGN | TpmaObject::USER_WITH_AUTH),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms {
                scheme: TpmtKeyedhashScheme::Hmac(TpmsSchemeHash { hash_alg: SHA256 }),
            },
            unique: Tpm2bDigest::new(&sha256(&[&seed, &HMAC_KEY])).unwrap(),
        },
    };
    let sensitive = TpmtSensitive {
        auth_value: Tpm2bAuth::empty(),
        seed_value: tpm2::structures::Tpm2bSecretDigest::new(&seed).unwrap(),
        sensitive: TpmuSensitiveComposite::Bits(Tpm2bSensitiveData::new(&HMAC_KEY).unwrap()),
    };
    load_external(t, Some(sensitive), public, TpmHandle::NULL)
}

fn hmac_signature(d: &[u8]) -> TpmtSignature {
    use hmac::Mac;
    let mut m = hmac::Hmac::<Sha256>::new_from_slice(&HMAC_KEY).unwrap();
    m.update(d);
    let mac = m.finalize().into_bytes();
    TpmtSignature::Hmac(tpm2::structures::TpmtHa::new(SHA256, &mac).unwrap())
}

/// The ECC key of these tests (the same on every run).
fn ecc_key() -> EccPrivate {
    let mut rng = KdfaStream::new(HashAlg::Sha256, b"policy_assert", b"ecc", b"", b"");
    EccPrivate::derive(Curve::NistP256, &mut rng).unwrap()
}

/// The public part of [`ecc_key`] as an ECDSA-SHA256 signing key, loaded into the owner
/// hierarchy (so that TPM2_VerifySignature gives real tickets).
fn load_ecc_public(t: &mut dyn Tpm) -> TpmHandle {
    let pt = ecc_key().public();
    let public = TpmtPublic {
        name_alg: SHA256,
        object_attributes: TpmaObject(TpmaObject::SIGN | TpmaObject::USER_WITH_AUTH),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::Null,
                scheme: TpmtEccScheme::Ecdsa(TpmsSchemeHash { hash_alg: SHA256 }),
                curve_id: TpmEccCurve::NIST_P256,
                kdf: TpmtKdfScheme::Null,
            },
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::new(&pt.x).unwrap(),
                y: Tpm2bEccParameter::new(&pt.y).unwrap(),
            },
        },
    };
    load_external(t, None, public, TpmHandle::OWNER)
}

/// ECDSA over `d` with [`ecc_key`] (deterministic nonce stream, so both TPMs see the same
/// bytes).
fn ecc_signature(d: &[u8]) -> TpmtSignature {
    let mut rng = KdfaStream::new(HashAlg::Sha256, b"policy_assert", b"k", d, b"");
    let (r, s) = ecc_key().sign_ecdsa(d, &mut rng).unwrap();
    TpmtSignature::Ecdsa(tpm2::structures::TpmsSignatureEcc {
        hash: SHA256,
        signature_r: Tpm2bEccParameter::new(&r).unwrap(),
        signature_s: Tpm2bEccParameter::new(&s).unwrap(),
    })
}

/// TPM2_PolicySigned's aHash (SHA-256).
fn a_hash(nonce: &[u8], expiration: i32, cp: &[u8], policy_ref: &[u8]) -> Vec<u8> {
    sha256(&[nonce, &expiration.to_be_bytes(), cp, policy_ref])
}

fn signed_params(
    nonce: &[u8],
    cp: &[u8],
    policy_ref: &[u8],
    expiration: i32,
    sig: &TpmtSignature,
) -> Vec<u8> {
    let mut p = Tpm2bNonce::new(nonce).unwrap().to_bytes();
    p.extend(digest_param(cp));
    p.extend(Tpm2bNonce::new(policy_ref).unwrap().to_bytes());
    p.extend(expiration.to_be_bytes());
    sig.marshal(&mut p);
    p
}

/// TPM2_PolicySigned; logs the code, the shape of timeout and ticket, and whether the digest
/// is `want`. Returns the timeout buffer and ticket on success.
#[allow(clippy::too_many_arguments)]
fn signed(
    t: &mut dyn Tpm,
    log: &mut Log,
    what: &str,
    key: TpmHandle,
    s: TpmHandle,
    params: &[u8],
    want: Option<&[u8]>,
) -> Option<(Tpm2bTimeout, TpmtTkAuth)> {
    let (rc, rsp) = exec(t, TpmCc::POLICY_SIGNED, &[key, s], &[], params);
    log.rc(what, rc);
    let mut out = None;
    if rc == TpmRc::SUCCESS {
        let r = Response::parse(&rsp, TpmCc::POLICY_SIGNED).unwrap();
        let mut rd = Reader::new(r.parameters);
        let timeout = Tpm2bTimeout::unmarshal(&mut rd).unwrap();
        let ticket = TpmtTkAuth::unmarshal(&mut rd).unwrap();
        assert!(rd.is_empty());
        log.line(
            &format!("{what} output"),
            &format!(
                "timeout size {} expires-on-reset {:?}, ticket {:?} {:08x} digest size {}",
                timeout.len(),
                timeout.as_bytes().first().map(|b| b >> 7),
                ticket.tag(),
                ticket.hierarchy.0,
                ticket.digest.len()
            ),
        );
        out = Some((timeout, ticket));
    }
    let d = get_digest(t, s);
    match want {
        Some(w) => log.line(&format!("{what} digest as computed"), &(d == w).to_string()),
        None => log.line(&format!("{what} digest"), &hex(&d)),
    }
    out
}

fn ticket_params(
    timeout: &[u8],
    cp: &[u8],
    policy_ref: &[u8],
    name: &[u8],
    ticket: &TpmtTkAuth,
) -> Vec<u8> {
    let mut p = Tpm2bTimeout::new(timeout).unwrap().to_bytes();
    p.extend(digest_param(cp));
    p.extend(Tpm2bNonce::new(policy_ref).unwrap().to_bytes());
    p.extend(name_param(name));
    ticket.marshal(&mut p);
    p
}

/// `H(H(policyDigest || cc || name) || policyRef)`.
fn assertion_digest(old: &[u8], cc: TpmCc, name: &[u8], policy_ref: &[u8]) -> Vec<u8> {
    let inner = sha256(&[old, &cc_bytes(cc), name]);
    sha256(&[&inner, policy_ref])
}

/// The policy of PolicyCommandCode(Unseal) from the start.
fn unseal_cc_policy() -> Vec<u8> {
    sha256(&[
        &ZERO,
        &cc_bytes(TpmCc::POLICY_COMMAND_CODE),
        &cc_bytes(TpmCc::UNSEAL),
    ])
}

/// Runs policy command `cc` on session `h` and logs its code only.
fn step_rc(t: &mut dyn Tpm, log: &mut Log, what: &str, cc: TpmCc, h: TpmHandle, params: &[u8]) {
    let (rc, _) = exec(t, cc, &[h], &[], params);
    log.rc(what, rc);
}

fn yes_no_step(t: &mut dyn Tpm, log: &mut Log, what: &str, cc: TpmCc, s: TpmHandle, v: &[u8]) {
    step(t, log, what, cc, s, v);
}

// ---------------------------------------------------------------------------------------------
// Binding assertions
// ---------------------------------------------------------------------------------------------

fn bind_flow(t: &mut dyn Tpm, log: &mut Log) {
    for se in [3u8, 1] {
        log.line("session type", &se.to_string());
        let s = start(t, se, SHA256);
        let cp = TpmCc::POLICY_CP_HASH;
        let nh = TpmCc::POLICY_NAME_HASH;
        let tp = TpmCc::POLICY_TEMPLATE;
        let ds = TpmCc::POLICY_DUPLICATION_SELECT;
        let nw = TpmCc::POLICY_NV_WRITTEN;
        step(t, log, "CpHash short", cp, s, &digest_param(&[1; 5]));
        step(t, log, "CpHash", cp, s, &digest_param(&[1; 32]));
        let want = sha256(&[&ZERO, &cc_bytes(cp), &[1; 32]]);
        assert_eq!(get_digest(t, s), want, "{}: PolicyCpHash digest", t.name());
        step(t, log, "CpHash again", cp, s, &digest_param(&[1; 32]));
        step(t, log, "CpHash other", cp, s, &digest_param(&[2; 32]));
        step(
            t,
            log,
            "NameHash after CpHash",
            nh,
            s,
            &digest_param(&[3; 32]),
        );
        step(
            t,
            log,
            "Template after CpHash",
            tp,
            s,
            &digest_param(&[4; 32]),
        );
        let mut dup = name_param(&[7; 34]);
        dup.extend(name_param(&[8; 34]));
        dup.push(1);
        step(t, log, "DuplicationSelect after CpHash", ds, s, &dup);
        restart(t, s);
        step(t, log, "NameHash short", nh, s, &digest_param(&[3; 20]));
        step(t, log, "NameHash", nh, s, &digest_param(&[3; 32]));
        step(t, log, "NameHash again", nh, s, &digest_param(&[3; 32]));
        step(
            t,
            log,
            "CpHash after NameHash",
            cp,
            s,
            &digest_param(&[1; 32]),
        );
        restart(t, s);
        step(t, log, "Template", tp, s, &digest_param(&[4; 32]));
        step(t, log, "Template other", tp, s, &digest_param(&[5; 32]));
        step(t, log, "Template short", tp, s, &digest_param(&[5; 31]));
        step(t, log, "Template again", tp, s, &digest_param(&[4; 32]));
        step(
            t,
            log,
            "CpHash after Template",
            cp,
            s,
            &digest_param(&[1; 32]),
        );
        step(
            t,
            log,
            "NameHash after Template",
            nh,
            s,
            &digest_param(&[1; 32]),
        );
        restart(t, s);
        step(
            t,
            log,
            "Template short first",
            tp,
            s,
            &digest_param(&[5; 31]),
        );
        restart(t, s);
        let code = cc_bytes(TpmCc::DUPLICATE);
        step(
            t,
            log,
            "CommandCode(Duplicate)",
            TpmCc::POLICY_COMMAND_CODE,
            s,
            &code,
        );
        step(t, log, "DuplicationSelect after CommandCode", ds, s, &dup);
        restart(t, s);
        step(t, log, "DuplicationSelect(include)", ds, s, &dup);
        let want = sha256(&[&ZERO, &cc_bytes(ds), &[7; 34], &[8; 34], &[1]]);
        assert_eq!(get_digest(t, s), want, "{}: DuplicationSelect", t.name());
        step(t, log, "DuplicationSelect again", ds, s, &dup);
        step(
            t,
            log,
            "CommandCode(Duplicate) after",
            TpmCc::POLICY_COMMAND_CODE,
            s,
            &code,
        );
        restart(t, s);
        let n = dup.len() - 1;
        dup[n] = 0;
        step(t, log, "DuplicationSelect(exclude)", ds, s, &dup);
        let want = sha256(&[&ZERO, &cc_bytes(ds), &[8; 34], &[0]]);
        assert_eq!(get_digest(t, s), want, "{}: DuplicationSelect", t.name());
        restart(t, s);
        dup[n] = 2;
        step(t, log, "DuplicationSelect(2)", ds, s, &dup);
        restart(t, s);
        yes_no_step(t, log, "NvWritten(YES)", nw, s, &[1]);
        yes_no_step(t, log, "NvWritten(YES) again", nw, s, &[1]);
        yes_no_step(t, log, "NvWritten(NO)", nw, s, &[0]);
        yes_no_step(t, log, "NvWritten(2)", nw, s, &[2]);
        yes_no_step(t, log, "NvWritten()", nw, s, &[]);
        restart(t, s);
        let pp = TpmCc::POLICY_PHYSICAL_PRESENCE;
        step(t, log, "PhysicalPresence", pp, s, &[]);
        step(t, log, "PhysicalPresence trailing", pp, s, &[0]);
        flush(t, s);
    }
}

/// TPM2_SetPrimaryPolicy(owner, policy, SHA-256).
fn set_owner_policy(t: &mut dyn Tpm, policy: &[u8]) {
    let mut p = digest_param(policy);
    let alg = if policy.is_empty() {
        TpmAlgId::NULL
    } else {
        SHA256
    };
    p.extend(alg.to_bytes());
    let (rc, _) = exec(
        t,
        TpmCc::SET_PRIMARY_POLICY,
        &[TpmHandle::OWNER],
        &[pw()],
        &p,
    );
    assert_eq!(rc, TpmRc::SUCCESS, "{}: SetPrimaryPolicy", t.name());
}

fn session_auth(s: TpmHandle) -> TpmsAuthCommand {
    TpmsAuthCommand {
        session_handle: s,
        nonce: Tpm2bNonce::new(&NONCE).unwrap(),
        attributes: TpmaSession(TpmaSession::CONTINUE_SESSION),
        hmac: Tpm2bAuth::empty(),
    }
}

/// CreatePrimary parameters for a sealed data object with `data` (its template differs with
/// `data`'s length only through unique, which stays empty: the same template for any data).
fn seal_params(template_unique: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let public = TpmtPublic {
        name_alg: SHA256,
        object_attributes: TpmaObject(
            TpmaObject::FIXED_TPM | TpmaObject::FIXED_PARENT | TpmaObject::USER_WITH_AUTH,
        ),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms {
                scheme: TpmtKeyedhashScheme::Null,
            },
            unique: Tpm2bDigest::new(template_unique).unwrap(),
        },
    };
    let template = public.to_bytes();
    let mut p = tpm2::structures::Tpm2bSensitiveCreate {
        sensitive: TpmsSensitiveCreate {
            user_auth: Tpm2bAuth::empty(),
            data: Tpm2bSensitiveData::new(b"template test").unwrap(),
        },
    }
    .to_bytes();
    p.extend(Tpm2bPublic::from(public).to_bytes());
    p.extend(Tpm2bData::empty().to_bytes());
    p.extend(TpmlPcrSelection::empty().to_bytes());
    (p, template)
}

/// CreatePrimary in the owner hierarchy authorized by policy session `s`; logs the code.
fn create_primary_with(t: &mut dyn Tpm, log: &mut Log, what: &str, s: TpmHandle, p: &[u8]) {
    let (rc, rsp) = exec(
        t,
        TpmCc::CREATE_PRIMARY,
        &[TpmHandle::OWNER],
        &[session_auth(s)],
        p,
    );
    log.rc(what, rc);
    if rc == TpmRc::SUCCESS {
        let h = Response::parse(&rsp, TpmCc::CREATE_PRIMARY)
            .unwrap()
            .handle
            .unwrap();
        flush(t, h);
    }
}

fn bind_enforcement_flow(t: &mut dyn Tpm, log: &mut Log) {
    let (good, template) = seal_params(&[]);
    let (other, _) = seal_params(&[1; 32]);
    let template_hash = sha256(&[&template]);
    // The owner's policy: PolicyTemplate(H(template)).
    let tp = TpmCc::POLICY_TEMPLATE;
    set_owner_policy(t, &sha256(&[&ZERO, &cc_bytes(tp), &template_hash]));
    let s = start(t, 1, SHA256);
    step(t, log, "Template", tp, s, &digest_param(&template_hash));
    create_primary_with(t, log, "CreatePrimary, that template", s, &good);
    step(t, log, "Template", tp, s, &digest_param(&template_hash));
    create_primary_with(t, log, "CreatePrimary, other template", s, &other);
    // The owner's policy: PolicyNameHash(H(name(owner))).
    let name_hash = sha256(&[&TpmHandle::OWNER.0.to_be_bytes()]);
    let nh = TpmCc::POLICY_NAME_HASH;
    set_owner_policy(t, &sha256(&[&ZERO, &cc_bytes(nh), &name_hash]));
    restart(t, s);
    step(t, log, "NameHash", nh, s, &digest_param(&name_hash));
    create_primary_with(t, log, "CreatePrimary, that nameHash", s, &good);
    step(t, log, "NameHash", nh, s, &digest_param(&name_hash));
    let evict = 0x8100_0042u32.to_be_bytes();
    let (rc, _) = exec(
        t,
        TpmCc::EVICT_CONTROL,
        &[TpmHandle::OWNER, TpmHandle(0x8100_0041)],
        &[session_auth(s)],
        &evict,
    );
    log.rc("EvictControl, other names", rc);
    // PolicyCpHash: the cpHash of this very CreatePrimary.
    let cp = TpmCc::POLICY_CP_HASH;
    let cp_hash = sha256(&[
        &cc_bytes(TpmCc::CREATE_PRIMARY),
        &TpmHandle::OWNER.0.to_be_bytes(),
        &good,
    ]);
    set_owner_policy(t, &sha256(&[&ZERO, &cc_bytes(cp), &cp_hash]));
    restart(t, s);
    step(t, log, "CpHash", cp, s, &digest_param(&cp_hash));
    create_primary_with(t, log, "CreatePrimary, that cpHash", s, &good);
    step(t, log, "CpHash", cp, s, &digest_param(&cp_hash));
    create_primary_with(t, log, "CreatePrimary, other parameters", s, &other);
    // Physical presence is never asserted.
    let pp = TpmCc::POLICY_PHYSICAL_PRESENCE;
    set_owner_policy(t, &sha256(&[&ZERO, &cc_bytes(pp)]));
    restart(t, s);
    step(t, log, "PhysicalPresence", pp, s, &[]);
    create_primary_with(t, log, "CreatePrimary, physical presence", s, &good);
    flush(t, s);
    set_owner_policy(t, &[]);

    // An index written once: authPolicy PolicyCommandCode(NV_Write) + PolicyNvWritten(NO).
    let policy = sha256(&[
        &ZERO,
        &cc_bytes(TpmCc::POLICY_COMMAND_CODE),
        &cc_bytes(TpmCc::NV_WRITE),
    ]);
    let policy = sha256(&[&policy, &cc_bytes(TpmCc::POLICY_NV_WRITTEN), &[0]]);
    let index = TpmHandle(0x0150_0020);
    nv_define(t, index, POLICYWRITE | AUTHREAD, &policy, 8);
    let s = start(t, 1, SHA256);
    for what in ["first write", "second write"] {
        let code = cc_bytes(TpmCc::NV_WRITE);
        step(
            t,
            log,
            "CommandCode(NV_Write)",
            TpmCc::POLICY_COMMAND_CODE,
            s,
            &code,
        );
        step(t, log, "NvWritten(NO)", TpmCc::POLICY_NV_WRITTEN, s, &[0]);
        let mut p = Tpm2bDigest::new(&[9; 8]).unwrap().to_bytes();
        p.extend(0u16.to_be_bytes());
        let (rc, _) = exec(t, TpmCc::NV_WRITE, &[index, index], &[session_auth(s)], &p);
        log.rc(what, rc);
    }
    flush(t, s);
    nv_undefine(t, index);
}

#[test]
fn binding_assertions_match_swtpm() {
    cross_check("POLICY_VERBOSE", bind_flow);
}

#[test]
fn binding_assertions_are_enforced_like_swtpm() {
    cross_check("POLICY_VERBOSE", bind_enforcement_flow);
}

// ---------------------------------------------------------------------------------------------
// PolicySigned, PolicyTicket
// ---------------------------------------------------------------------------------------------

fn signed_flow(t: &mut dyn Tpm, log: &mut Log) {
    let key = load_hmac_key(t);
    let name = object_name(t, key);
    let ecc = load_ecc_public(t);
    let ecc_name = object_name(t, ecc);
    let r = b"ref".as_slice();
    let zero_sig = hmac_signature(&[]);

    // Trial: nothing is checked.
    let trial = start(t, 3, SHA256);
    let p = signed_params(&[1; 16], &[2; 5], r, -5, &zero_sig);
    let want = assertion_digest(&ZERO, TpmCc::POLICY_SIGNED, &name, r);
    signed(t, log, "trial", key, trial, &p, Some(&want));
    flush(t, trial);

    let (s, nonce) = start_with_nonce(t, 1, SHA256);
    let sig = hmac_signature(&a_hash(&nonce, 0, &[], r));
    let p = signed_params(&nonce, &[], r, 0, &sig);
    signed(t, log, "HMAC signed", key, s, &p, Some(&want));
    restart(t, s);
    let p = signed_params(&nonce, &[], b"other", 0, &sig);
    signed(t, log, "signature over another policyRef", key, s, &p, None);
    let p = signed_params(&[3; 16], &[], r, 0, &sig);
    signed(t, log, "wrong nonce", key, s, &p, None);
    let p = signed_params(&nonce, &[4; 5], r, 0, &sig);
    signed(t, log, "short cpHash", key, s, &p, None);
    let p = signed_params(&nonce, &[], r, 0, &TpmtSignature::Null);
    signed(t, log, "NULL signature", key, s, &p, None);
    let p = signed_params(
        &nonce,
        &[],
        r,
        0,
        &ecc_signature(&a_hash(&nonce, 0, &[], r)),
    );
    signed(t, log, "ECDSA signature for the HMAC key", key, s, &p, None);
    let p = signed_params(&nonce, &[], r, 0, &sig);
    signed(
        t,
        log,
        "trailing byte",
        key,
        s,
        &[p.as_slice(), &[0]].concat(),
        None,
    );
    let (rc, _) = exec(t, TpmCc::POLICY_SIGNED, &[TpmHandle::OWNER, s], &[], &p);
    log.rc("owner as authObject", rc);

    // ECDSA in the owner hierarchy, bound to a cpHash, with a ticket.
    let cp = [6u8; 32];
    let sig = ecc_signature(&a_hash(&nonce, -100, &cp, r));
    let p = signed_params(&nonce, &cp, r, -100, &sig);
    let want = assertion_digest(&ZERO, TpmCc::POLICY_SIGNED, &ecc_name, r);
    let out = signed(t, log, "ECDSA signed with ticket", ecc, s, &p, Some(&want));
    let (timeout, ticket) = out.expect("PolicySigned with a ticket");
    let p = signed_params(
        &nonce,
        &[7; 32],
        r,
        0,
        &ecc_signature(&a_hash(&nonce, 0, &[7; 32], r)),
    );
    signed(t, log, "another cpHash", ecc, s, &p, None);
    flush(t, s);

    // TPM2_PolicyTicket replays it in another session.
    let s = start(t, 1, SHA256);
    let pt = TpmCc::POLICY_TICKET;
    let tk = |timeout: &[u8], cp: &[u8], r: &[u8], name: &[u8], ticket: &TpmtTkAuth| {
        ticket_params(timeout, cp, r, name, ticket)
    };
    let tb = timeout.as_bytes();
    step(
        t,
        log,
        "PolicyTicket",
        pt,
        s,
        &tk(tb, &cp, r, &ecc_name, &ticket),
    );
    assert_eq!(get_digest(t, s), want, "{}: PolicyTicket digest", t.name());
    restart(t, s);
    step(
        t,
        log,
        "PolicyTicket, other ref",
        pt,
        s,
        &tk(tb, &cp, b"x", &ecc_name, &ticket),
    );
    step(
        t,
        log,
        "PolicyTicket, other name",
        pt,
        s,
        &tk(tb, &cp, r, &name, &ticket),
    );
    step(
        t,
        log,
        "PolicyTicket, short timeout",
        pt,
        s,
        &tk(&tb[1..], &cp, r, &ecc_name, &ticket),
    );
    let mut later = tb.to_vec();
    later[7] ^= 1;
    step(
        t,
        log,
        "PolicyTicket, other timeout",
        pt,
        s,
        &tk(&later, &cp, r, &ecc_name, &ticket),
    );
    let mut bad = ticket.clone();
    bad.signed = false;
    step(
        t,
        log,
        "PolicyTicket, secret tag",
        pt,
        s,
        &tk(tb, &cp, r, &ecc_name, &bad),
    );
    let mut bad = ticket.clone();
    bad.hierarchy = TpmHandle::ENDORSEMENT;
    step(
        t,
        log,
        "PolicyTicket, other hierarchy",
        pt,
        s,
        &tk(tb, &cp, r, &ecc_name, &bad),
    );
    let mut raw = tk(tb, &cp, r, &ecc_name, &ticket);
    let n = raw.len();
    raw[n - 8] = 0xEE;
    step(t, log, "PolicyTicket, changed mac", pt, s, &raw);
    let n = raw.len();
    let tag_at = n - 2 - 64 - 4 - 2;
    raw[tag_at..tag_at + 2].copy_from_slice(&TpmSt::VERIFIED.0.to_be_bytes());
    step(t, log, "PolicyTicket, verified tag", pt, s, &raw);
    step(
        t,
        log,
        "PolicyTicket, short cpHash",
        pt,
        s,
        &tk(tb, &[1; 3], r, &ecc_name, &ticket),
    );
    flush(t, s);

    // A PolicySecret ticket replays as PolicySecret.
    let (s, nonce) = start_with_nonce(t, 1, SHA256);
    let mut p = Tpm2bNonce::new(&nonce).unwrap().to_bytes();
    p.extend(digest_param(&[]));
    p.extend(Tpm2bNonce::new(b"sec").unwrap().to_bytes());
    p.extend((-50i32).to_be_bytes());
    let (rc, rsp) = exec(t, TpmCc::POLICY_SECRET, &[TpmHandle::OWNER, s], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: PolicySecret", t.name());
    let rp = Response::parse(&rsp, TpmCc::POLICY_SECRET).unwrap();
    let mut rd = Reader::new(rp.parameters);
    let timeout = Tpm2bTimeout::unmarshal(&mut rd).unwrap();
    let ticket = TpmtTkAuth::unmarshal(&mut rd).unwrap();
    let owner = TpmHandle::OWNER.0.to_be_bytes();
    let s2 = start(t, 1, SHA256);
    let p = tk(timeout.as_bytes(), &[], b"sec", &owner, &ticket);
    step(t, log, "PolicyTicket(secret)", pt, s2, &p);
    let want = assertion_digest(&ZERO, TpmCc::POLICY_SECRET, &owner, b"sec");
    assert_eq!(
        get_digest(t, s2),
        want,
        "{}: PolicyTicket(secret)",
        t.name()
    );
    flush(t, s2);
    flush(t, s);

    // A sealed object whose policy is PolicySigned(HMAC key, "seal").
    let policy = assertion_digest(&ZERO, TpmCc::POLICY_SIGNED, &name, b"seal");
    let obj = create_sealed(t, &policy, b"", b"signed for");
    let (s, nonce) = start_with_nonce(t, 1, SHA256);
    let sig = hmac_signature(&a_hash(&nonce, 0, &[], b"seal"));
    let p = signed_params(&nonce, &[], b"seal", 0, &sig);
    signed(t, log, "PolicySigned(seal)", key, s, &p, Some(&policy));
    unseal(t, log, "unseal", obj, s, &[]);
    // The nonce changed with the use: the old signature no longer verifies.
    signed(t, log, "PolicySigned(seal), stale nonce", key, s, &p, None);
    flush(t, s);
    flush(t, obj);
    flush(t, key);
    flush(t, ecc);
}

#[test]
fn policy_signed_and_tickets_match_swtpm() {
    cross_check("POLICY_VERBOSE", signed_flow);
}

// ---------------------------------------------------------------------------------------------
// PolicyAuthorize, PolicyAuthorizeNV
// ---------------------------------------------------------------------------------------------

/// TPM2_VerifySignature of `sig` over `d` with `key`: the ticket.
fn verify(t: &mut dyn Tpm, key: TpmHandle, d: &[u8], sig: &TpmtSignature) -> TpmtTkVerified {
    let mut p = digest_param(d);
    sig.marshal(&mut p);
    let (rc, rsp) = exec(t, TpmCc::VERIFY_SIGNATURE, &[key], &[], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: VerifySignature", t.name());
    let r = Response::parse(&rsp, TpmCc::VERIFY_SIGNATURE).unwrap();
    TpmtTkVerified::from_bytes(r.parameters).unwrap()
}

fn authorize_params(approved: &[u8], r: &[u8], key_name: &[u8], tk: &TpmtTkVerified) -> Vec<u8> {
    let mut p = digest_param(approved);
    p.extend(Tpm2bNonce::new(r).unwrap().to_bytes());
    p.extend(name_param(key_name));
    tk.marshal(&mut p);
    p
}

fn authorize_flow(t: &mut dyn Tpm, log: &mut Log) {
    let key = load_ecc_public(t);
    let key_name = object_name(t, key);
    let r = b"approved".as_slice();
    let approved = unseal_cc_policy();
    let ahash = sha256(&[&approved, r]);
    let ticket = verify(t, key, &ahash, &ecc_signature(&ahash));
    let pa = TpmCc::POLICY_AUTHORIZE;
    let authorized = assertion_digest(&ZERO, pa, &key_name, r);
    let obj = create_sealed(t, &authorized, b"", b"approved secret");

    let trial = start(t, 3, SHA256);
    let null = TpmtTkVerified::null();
    step(
        t,
        log,
        "trial, short name",
        pa,
        trial,
        &authorize_params(&[1; 32], r, &[0; 3], &null),
    );
    restart(t, trial);
    step(
        t,
        log,
        "trial, anything",
        pa,
        trial,
        &authorize_params(&[1; 32], r, &key_name, &null),
    );
    assert_eq!(
        get_digest(t, trial),
        authorized,
        "{}: trial PolicyAuthorize",
        t.name()
    );
    flush(t, trial);

    let s = start(t, 1, SHA256);
    let code = cc_bytes(TpmCc::UNSEAL);
    step(
        t,
        log,
        "CommandCode(Unseal)",
        TpmCc::POLICY_COMMAND_CODE,
        s,
        &code,
    );
    let good = authorize_params(&approved, r, &key_name, &ticket);
    step(t, log, "Authorize", pa, s, &good);
    assert_eq!(
        get_digest(t, s),
        authorized,
        "{}: PolicyAuthorize",
        t.name()
    );
    unseal(t, log, "unseal", obj, s, &[]);
    // Errors, each after the approved policy was asserted again.
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push((
        "other approved policy",
        authorize_params(&[1; 32], r, &key_name, &ticket),
    ));
    cases.push((
        "other policyRef",
        authorize_params(&approved, b"x", &key_name, &ticket),
    ));
    let mut other = key_name.clone();
    other[5] ^= 1;
    cases.push(("other key", authorize_params(&approved, r, &other, &ticket)));
    let mut sha1 = key_name.clone();
    sha1[..2].copy_from_slice(&TpmAlgId::SHA1.to_bytes());
    cases.push((
        "SHA-1 name, SHA-256 size",
        authorize_params(&approved, r, &sha1, &ticket),
    ));
    let mut unknown = key_name.clone();
    unknown[..2].copy_from_slice(&[0x00, 0x99]);
    cases.push((
        "unknown name alg",
        authorize_params(&approved, r, &unknown, &ticket),
    ));
    cases.push((
        "one-octet name",
        authorize_params(&approved, r, &[0], &ticket),
    ));
    let mut bad = ticket.clone();
    bad.hierarchy = TpmHandle::ENDORSEMENT;
    cases.push((
        "ticket, other hierarchy",
        authorize_params(&approved, r, &key_name, &bad),
    ));
    cases.push((
        "NULL ticket",
        authorize_params(&approved, r, &key_name, &TpmtTkVerified::null()),
    ));
    let mut raw = good.clone();
    let n = raw.len();
    raw[n - 1] ^= 1;
    cases.push(("changed ticket", raw.clone()));
    let tag_at = n - 2 - 64 - 4 - 2;
    raw[tag_at..tag_at + 2].copy_from_slice(&TpmSt::HASHCHECK.0.to_be_bytes());
    cases.push(("hashcheck ticket", raw));
    for (what, p) in cases {
        restart(t, s);
        step(
            t,
            log,
            "CommandCode(Unseal)",
            TpmCc::POLICY_COMMAND_CODE,
            s,
            &code,
        );
        step(t, log, what, pa, s, &p);
    }

    // Approved: PolicyCpHash(cpHash of TPM2_Unseal(obj)).
    let obj_name = object_name(t, obj);
    let cp = sha256(&[&cc_bytes(TpmCc::UNSEAL), &obj_name]);
    let approved = sha256(&[&ZERO, &cc_bytes(TpmCc::POLICY_CP_HASH), &cp]);
    let ahash = sha256(&[&approved, r]);
    let ticket = verify(t, key, &ahash, &ecc_signature(&ahash));
    restart(t, s);
    // (The object's Name, so the cpHash, differs between the two TPMs: codes only.)
    step_rc(
        t,
        log,
        "CpHash(unseal obj)",
        TpmCc::POLICY_CP_HASH,
        s,
        &digest_param(&cp),
    );
    step(
        t,
        log,
        "Authorize cpHash",
        pa,
        s,
        &authorize_params(&approved, r, &key_name, &ticket),
    );
    unseal(t, log, "unseal, cpHash", obj, s, &[]);
    let cp2 = sha256(&[&cc_bytes(TpmCc::READ_PUBLIC), &obj_name]);
    let approved = sha256(&[&ZERO, &cc_bytes(TpmCc::POLICY_CP_HASH), &cp2]);
    let ahash = sha256(&[&approved, r]);
    let ticket = verify(t, key, &ahash, &ecc_signature(&ahash));
    step_rc(
        t,
        log,
        "CpHash(other command)",
        TpmCc::POLICY_CP_HASH,
        s,
        &digest_param(&cp2),
    );
    step(
        t,
        log,
        "Authorize other cpHash",
        pa,
        s,
        &authorize_params(&approved, r, &key_name, &ticket),
    );
    unseal(t, log, "unseal, other cpHash", obj, s, &[]);
    flush(t, s);
    flush(t, obj);
    flush(t, key);
}

#[test]
fn policy_authorize_matches_swtpm() {
    cross_check("POLICY_VERBOSE", authorize_flow);
}

const OWNERWRITE: u32 = 0x2;
const AUTHWRITE: u32 = 0x4;
const POLICYWRITE: u32 = 0x8;
const COUNTER: u32 = 0x10;
const OWNERREAD: u32 = 0x2_0000;
const AUTHREAD: u32 = 0x4_0000;

fn nv_define(t: &mut dyn Tpm, index: TpmHandle, attrs: u32, policy: &[u8], size: u16) {
    let mut public = index.0.to_be_bytes().to_vec();
    public.extend(SHA256.to_bytes());
    public.extend(attrs.to_be_bytes());
    public.extend(digest_param(policy));
    public.extend(size.to_be_bytes());
    let mut p = Tpm2bAuth::empty().to_bytes();
    p.extend(u16::try_from(public.len()).unwrap().to_be_bytes());
    p.extend(public);
    let (rc, _) = exec(t, TpmCc::NV_DEFINE_SPACE, &[TpmHandle::OWNER], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: NV_DefineSpace", t.name());
}

fn nv_undefine(t: &mut dyn Tpm, index: TpmHandle) {
    let (rc, _) = exec(
        t,
        TpmCc::NV_UNDEFINE_SPACE,
        &[TpmHandle::OWNER, index],
        &[pw()],
        &[],
    );
    assert_eq!(rc, TpmRc::SUCCESS, "{}: NV_UndefineSpace", t.name());
}

fn nv_write(t: &mut dyn Tpm, index: TpmHandle, data: &[u8]) {
    let mut p = Tpm2bDigest::new(data).unwrap().to_bytes();
    p.extend(0u16.to_be_bytes());
    let (rc, _) = exec(t, TpmCc::NV_WRITE, &[index, index], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: NV_Write", t.name());
}

/// The Name of an NV index (TPM2_NV_ReadPublic).
fn nv_name(t: &mut dyn Tpm, index: TpmHandle) -> Vec<u8> {
    let (rc, rsp) = exec(t, TpmCc::NV_READ_PUBLIC, &[index], &[], &[]);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: NV_ReadPublic", t.name());
    let r = Response::parse(&rsp, TpmCc::NV_READ_PUBLIC).unwrap();
    let mut rd = Reader::new(r.parameters);
    let n = usize::from(rd.u16("size").unwrap());
    rd.bytes(n, "public").unwrap();
    Tpm2bName::unmarshal(&mut rd).unwrap().as_bytes().to_vec()
}

/// A policy command with an NV authorization (auth handle, index, session); logs the code and
/// the digest.
fn nv_step(
    t: &mut dyn Tpm,
    log: &mut Log,
    what: &str,
    cc: TpmCc,
    handles: [TpmHandle; 3],
    params: &[u8],
) {
    let mut sent = exec(t, cc, &handles, &[pw()], params);
    if sent.0 == TpmRc::RETRY {
        // libtpms asks for a retry on its first NV access after startup; a TSS resends.
        sent = exec(t, cc, &handles, &[pw()], params);
    }
    log.rc(what, sent.0);
    let d = get_digest(t, handles[2]);
    log.line(&format!("{what} digest"), &hex(&d));
}

fn authorize_nv_flow(t: &mut dyn Tpm, log: &mut Log) {
    let index = TpmHandle(0x0150_0011);
    nv_define(t, index, AUTHWRITE | AUTHREAD | OWNERREAD, &[], 34);
    let pan = TpmCc::POLICY_AUTHORIZE_NV;
    let s = start(t, 1, SHA256);
    nv_step(t, log, "unwritten", pan, [index, index, s], &[]);
    let trial = start(t, 3, SHA256);
    nv_step(t, log, "trial, unwritten", pan, [index, index, trial], &[]);
    flush(t, trial);
    let mut ha = SHA256.to_bytes();
    ha.extend(unseal_cc_policy());
    nv_write(t, index, &ha);
    let name = nv_name(t, index);
    let authorized = sha256(&[&ZERO, &cc_bytes(pan), &name]);
    let obj = create_sealed(t, &authorized, b"", b"nv approved");
    let code = cc_bytes(TpmCc::UNSEAL);
    step(
        t,
        log,
        "CommandCode(Unseal)",
        TpmCc::POLICY_COMMAND_CODE,
        s,
        &code,
    );
    nv_step(t, log, "AuthorizeNV", pan, [index, index, s], &[]);
    assert_eq!(
        get_digest(t, s),
        authorized,
        "{}: PolicyAuthorizeNV",
        t.name()
    );
    unseal(t, log, "unseal", obj, s, &[]);
    nv_step(t, log, "other policy", pan, [index, index, s], &[]);
    restart(t, s);
    step(
        t,
        log,
        "CommandCode(Unseal)",
        TpmCc::POLICY_COMMAND_CODE,
        s,
        &code,
    );
    nv_step(
        t,
        log,
        "owner reads",
        pan,
        [TpmHandle::OWNER, index, s],
        &[],
    );
    nv_step(
        t,
        log,
        "platform reads",
        pan,
        [TpmHandle::PLATFORM, index, s],
        &[],
    );
    nv_step(t, log, "trailing byte", pan, [index, index, s], &[0]);
    // A SHA-1 TPMT_HA; a truncated one.
    restart(t, s);
    let mut sha1 = TpmAlgId::SHA1.to_bytes();
    sha1.extend([0u8; 20]);
    sha1.extend([0u8; 12]);
    nv_write(t, index, &sha1);
    nv_step(t, log, "SHA-1 TPMT_HA", pan, [index, index, s], &[]);
    let mut odd = vec![0x00, 0x99];
    odd.extend([0u8; 32]);
    nv_write(t, index, &odd);
    nv_step(t, log, "unknown hash TPMT_HA", pan, [index, index, s], &[]);
    nv_undefine(t, index);
    // A counter index is not an ordinary index.
    let counter = TpmHandle(0x0150_0012);
    nv_define(t, counter, AUTHWRITE | AUTHREAD | COUNTER, &[], 8);
    let (rc, _) = exec(t, TpmCc::NV_INCREMENT, &[counter, counter], &[pw()], &[]);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: NV_Increment", t.name());
    nv_step(t, log, "counter index", pan, [counter, counter, s], &[]);
    nv_undefine(t, counter);
    flush(t, s);
    flush(t, obj);
}

#[test]
fn policy_authorize_nv_matches_swtpm() {
    cross_check("POLICY_VERBOSE", authorize_nv_flow);
}

// ---------------------------------------------------------------------------------------------
// PolicyNV, PolicyCounterTimer
// ---------------------------------------------------------------------------------------------

fn operand_params(operand: &[u8], offset: u16, op: u16) -> Vec<u8> {
    let mut p = digest_param(operand);
    p.extend(offset.to_be_bytes());
    p.extend(op.to_be_bytes());
    p
}

fn policy_nv_flow(t: &mut dyn Tpm, log: &mut Log) {
    let index = TpmHandle(0x0150_0010);
    nv_define(
        t,
        index,
        AUTHWRITE | AUTHREAD | OWNERREAD | OWNERWRITE,
        &[],
        8,
    );
    let pn = TpmCc::POLICY_NV;
    let s = start(t, 1, SHA256);
    let trial = start(t, 3, SHA256);
    let three = [0, 0, 0, 0, 0, 0, 0, 3];
    nv_step(
        t,
        log,
        "unwritten",
        pn,
        [index, index, s],
        &operand_params(&three, 0, 0),
    );
    nv_step(
        t,
        log,
        "trial, unwritten",
        pn,
        [index, index, trial],
        &operand_params(&three, 0, 0),
    );
    let name = nv_name(t, index);
    let args = sha256(&[
        &digest_param(&three)[2..],
        &0u16.to_be_bytes(),
        &0u16.to_be_bytes(),
    ]);
    let want = sha256(&[&ZERO, &cc_bytes(pn), &args, &name]);
    assert_eq!(get_digest(t, trial), want, "{}: PolicyNV digest", t.name());
    flush(t, trial);
    nv_write(t, index, &[0, 0, 0, 0, 0, 0, 0, 5]);
    for op in 0..12u16 {
        restart(t, s);
        let p = operand_params(&three, 0, op);
        nv_step(t, log, &format!("5 op{op} 3"), pn, [index, index, s], &p);
        restart(t, s);
        let p = operand_params(&[0xFF, 0, 0, 0, 0, 0, 0, 3], 0, op);
        nv_step(t, log, &format!("5 op{op} -big"), pn, [index, index, s], &p);
        restart(t, s);
        let p = operand_params(&[0, 5], 6, op);
        nv_step(
            t,
            log,
            &format!("5 op{op} 5 at 6"),
            pn,
            [index, index, s],
            &p,
        );
    }
    restart(t, s);
    nv_step(
        t,
        log,
        "operation 12",
        pn,
        [index, index, s],
        &operand_params(&three, 0, 12),
    );
    nv_step(
        t,
        log,
        "offset 9",
        pn,
        [index, index, s],
        &operand_params(&[1], 9, 0),
    );
    nv_step(
        t,
        log,
        "offset 8, empty",
        pn,
        [index, index, s],
        &operand_params(&[], 8, 0),
    );
    nv_step(
        t,
        log,
        "past the end",
        pn,
        [index, index, s],
        &operand_params(&three, 4, 0),
    );
    nv_step(
        t,
        log,
        "owner reads",
        pn,
        [TpmHandle::OWNER, index, s],
        &operand_params(&[0], 0, 0),
    );
    let pl = [TpmHandle::PLATFORM, index, s];
    nv_step(
        t,
        log,
        "platform reads",
        pn,
        pl,
        &operand_params(&[0], 0, 0),
    );
    nv_step(
        t,
        log,
        "trailing byte",
        pn,
        [index, index, s],
        &[operand_params(&[0], 0, 0), vec![0]].concat(),
    );
    flush(t, s);
    nv_undefine(t, index);
}

fn counter_timer_flow(t: &mut dyn Tpm, log: &mut Log) {
    let pct = TpmCc::POLICY_COUNTER_TIMER;
    let trial = start(t, 3, SHA256);
    step(
        t,
        log,
        "trial, offset 200",
        pct,
        trial,
        &operand_params(&[1; 8], 200, 11),
    );
    step(
        t,
        log,
        "trial, offset 20, 8 octets",
        pct,
        trial,
        &operand_params(&[1; 8], 20, 11),
    );
    step(
        t,
        log,
        "trial, any comparison",
        pct,
        trial,
        &operand_params(&[1; 8], 0, 0),
    );
    flush(t, trial);
    let s = start(t, 1, SHA256);
    let cases: &[(&str, &[u8], u16, u16)] = &[
        ("time < max", &[0xFF; 8], 0, 5),
        ("clock >= 0", &[0; 8], 8, 7),
        ("clock < 0", &[0; 8], 8, 5),
        ("clock has no bits set", &[0; 8], 8, 10),
        ("restartCount == 0", &[0; 4], 20, 0),
        ("safe byte", &[1], 24, 0),
        ("offset 25, empty", &[], 25, 0),
        ("offset 26", &[], 26, 0),
        ("offset 20, 8 octets", &[0; 8], 20, 0),
        ("operation 12", &[0], 0, 12),
    ];
    for (what, operand, offset, op) in cases {
        restart(t, s);
        step(t, log, what, pct, s, &operand_params(operand, *offset, *op));
    }
    flush(t, s);
}

#[test]
fn policy_nv_matches_swtpm() {
    cross_check("POLICY_VERBOSE", policy_nv_flow);
}

#[test]
fn policy_counter_timer_matches_swtpm() {
    cross_check("POLICY_VERBOSE", counter_timer_flow);
}

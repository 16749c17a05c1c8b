#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! TPM2_Duplicate, TPM2_Rewrap and TPM2_Import (TCG TPM 2.0 Library part 3 §13, part 1 §23.3),
//! cross-checked with swtpm 0.7 / libtpms:
//!
//! - keys move between the two TPMs both ways: duplicated by one for a storage key of the
//!   other (its public area loaded with TPM2_LoadExternal), imported, loaded and used there to
//!   sign, the signature verified by the first TPM with the original key; with no inner
//!   wrapper, with an AES-128 inner wrapper whose key the caller gives or the TPM makes, and
//!   without an outer wrapper (TPM_RH_NULL as new parent);
//! - TPM2_Rewrap moves a blob from a storage key of one TPM to one of the other;
//! - the same refusals on both, every response code recorded and compared: fixedParent objects,
//!   a signing key as new parent, inner-key sizes, encryptedDuplication rules, authorization by
//!   password instead of policy, damaged blobs, wrong inner keys, damaged seeds, fixedTPM
//!   objects offered to TPM2_Import, TPM2_Rewrap with a seed but no old parent.
//!
//! swtpm is required: the tests fail if it is not installed.

use sha2::{Digest, Sha256};
use tpm2::Unmarshal;
use tpm2::auth::{TpmaSession, TpmsAuthCommand};
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::{
    Tpm2bAuth, Tpm2bCreationData, Tpm2bDigest, Tpm2bName, Tpm2bNonce, Tpm2bPublic, TpmtTkCreation,
};
use tpm2::{Marshal, Reader};

#[path = "support/pair.rs"]
mod pair;
use pair::{Log, RC_RETRY, Tpm, cross_check, ours, pw, theirs};

/// `pair::exec`, repeated while swtpm answers TPM_RC_RETRY.
fn exec(
    t: &mut dyn Tpm,
    cc: TpmCc,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    params: &[u8],
) -> (TpmRc, Vec<u8>) {
    loop {
        let (rc, rsp) = pair::exec(t, cc, handles, sessions, params);
        if rc != RC_RETRY {
            return (rc, rsp);
        }
    }
}

fn b2(v: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(v.len()).unwrap().to_be_bytes().to_vec();
    out.extend(v);
    out
}

const SIGN: u32 = 0x0004_0000;
const DECRYPT: u32 = 0x0002_0000;
const RESTRICTED: u32 = 0x0001_0000;
const USER_WITH_AUTH: u32 = 0x40;
const SENSITIVE_DATA_ORIGIN: u32 = 0x20;
const FIXED_PARENT: u32 = 0x10;
const FIXED_TPM: u32 = 0x2;
const ENCRYPTED_DUPLICATION: u32 = 0x800;

/// A NIST P-256 restricted decryption key (AES-128-CFB), userWithAuth.
fn ecc_storage() -> Vec<u8> {
    let mut t = vec![0x00, 0x23, 0x00, 0x0B];
    t.extend(
        (RESTRICTED | DECRYPT | USER_WITH_AUTH | SENSITIVE_DATA_ORIGIN | FIXED_TPM | FIXED_PARENT)
            .to_be_bytes(),
    );
    t.extend([0x00, 0x00, 0x00, 0x06, 0x00, 0x80, 0x00, 0x43, 0x00, 0x10]);
    t.extend([0x00, 0x03, 0x00, 0x10, 0, 0, 0, 0]);
    t
}

/// An RSA-2048 restricted decryption key (AES-128-CFB), userWithAuth.
fn rsa_storage() -> Vec<u8> {
    let mut t = vec![0x00, 0x01, 0x00, 0x0B];
    t.extend(
        (RESTRICTED | DECRYPT | USER_WITH_AUTH | SENSITIVE_DATA_ORIGIN | FIXED_TPM | FIXED_PARENT)
            .to_be_bytes(),
    );
    t.extend([0x00, 0x00, 0x00, 0x06, 0x00, 0x80, 0x00, 0x43, 0x00, 0x10]);
    t.extend([0x08, 0x00, 0, 0, 0, 0, 0, 0]);
    t
}

/// `H(0…0 || TPM_CC_PolicyCommandCode || TPM_CC_Duplicate)`.
fn duplicate_policy() -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([0u8; 32]);
    h.update(TpmCc::POLICY_COMMAND_CODE.0.to_be_bytes());
    h.update(TpmCc::DUPLICATE.0.to_be_bytes());
    h.finalize().to_vec()
}

/// A P-256 ECDSA-SHA256 signing key that may be duplicated by policy, with extra attributes.
fn duplicable(extra: u32) -> Vec<u8> {
    let mut t = vec![0x00, 0x23, 0x00, 0x0B];
    t.extend((SIGN | USER_WITH_AUTH | SENSITIVE_DATA_ORIGIN | extra).to_be_bytes());
    t.extend(b2(&duplicate_policy()));
    t.extend([0x00, 0x10, 0x00, 0x18, 0x00, 0x0B]);
    t.extend([0x00, 0x03, 0x00, 0x10, 0, 0, 0, 0]);
    t
}

/// A primary key of `template` in the owner hierarchy: (handle, TPM2B_PUBLIC bytes).
fn primary(t: &mut dyn Tpm, template: &[u8]) -> (TpmHandle, Vec<u8>) {
    let mut p = vec![0, 4, 0, 0, 0, 0];
    p.extend(b2(template));
    p.extend([0, 0, 0, 0, 0, 0]);
    let (rc, rsp) = exec(t, TpmCc::CREATE_PRIMARY, &[TpmHandle::OWNER], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: CreatePrimary", t.name());
    let r = Response::parse(&rsp, TpmCc::CREATE_PRIMARY).unwrap();
    let public = public_prefix(r.parameters);
    (r.handle.unwrap(), public)
}

/// The bytes of the TPM2B_PUBLIC at the start of `b`.
fn public_prefix(b: &[u8]) -> Vec<u8> {
    let mut rd = Reader::new(b);
    Tpm2bPublic::unmarshal(&mut rd).unwrap().to_bytes()
}

/// TPM2_Create under `parent`: (TPM2B_PRIVATE, TPM2B_PUBLIC) bytes.
fn create(t: &mut dyn Tpm, parent: TpmHandle, template: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut p = vec![0, 4, 0, 0, 0, 0];
    p.extend(b2(template));
    p.extend([0, 0, 0, 0, 0, 0]);
    let (rc, rsp) = exec(t, TpmCc::CREATE, &[parent], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: Create", t.name());
    let r = Response::parse(&rsp, TpmCc::CREATE).unwrap();
    let mut rd = Reader::new(r.parameters);
    let n = usize::from(rd.u16("private").unwrap());
    let private = b2(rd.bytes(n, "private").unwrap());
    let public = Tpm2bPublic::unmarshal(&mut rd).unwrap().to_bytes();
    Tpm2bCreationData::unmarshal(&mut rd).unwrap();
    Tpm2bDigest::unmarshal(&mut rd).unwrap();
    TpmtTkCreation::unmarshal(&mut rd).unwrap();
    (private, public)
}

/// TPM2_Load: (rc, handle).
fn load(t: &mut dyn Tpm, parent: TpmHandle, private: &[u8], public: &[u8]) -> (TpmRc, TpmHandle) {
    let mut p = private.to_vec();
    p.extend(public);
    let (rc, rsp) = exec(t, TpmCc::LOAD, &[parent], &[pw()], &p);
    if rc != TpmRc::SUCCESS {
        return (rc, TpmHandle::NULL);
    }
    (
        rc,
        Response::parse(&rsp, TpmCc::LOAD).unwrap().handle.unwrap(),
    )
}

/// LoadExternal of a TPM2B_PUBLIC (no private part) into TPM_RH_NULL.
fn load_public(t: &mut dyn Tpm, public: &[u8]) -> TpmHandle {
    let mut p = vec![0, 0];
    p.extend(public);
    p.extend(TpmHandle::NULL.0.to_be_bytes());
    let (rc, rsp) = exec(t, TpmCc::LOAD_EXTERNAL, &[], &[], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: LoadExternal", t.name());
    Response::parse(&rsp, TpmCc::LOAD_EXTERNAL)
        .unwrap()
        .handle
        .unwrap()
}

fn flush(t: &mut dyn Tpm, h: TpmHandle) {
    let (rc, _) = exec(t, TpmCc::FLUSH_CONTEXT, &[], &[], &h.0.to_be_bytes());
    assert_eq!(rc, TpmRc::SUCCESS, "{}: FlushContext", t.name());
}

/// A policy session with PolicyCommandCode(TPM2_Duplicate) asserted; `code: false` leaves
/// the assertion out.
fn dup_session(t: &mut dyn Tpm, code: bool) -> TpmsAuthCommand {
    let mut p = b2(&[0x5A; 16]);
    p.extend([0, 0, 1, 0, 0x10, 0, 0x0B]);
    let (rc, rsp) = exec(
        t,
        TpmCc::START_AUTH_SESSION,
        &[TpmHandle::NULL, TpmHandle::NULL],
        &[],
        &p,
    );
    assert_eq!(rc, TpmRc::SUCCESS, "{}: StartAuthSession", t.name());
    let s = Response::parse(&rsp, TpmCc::START_AUTH_SESSION)
        .unwrap()
        .handle
        .unwrap();
    if code {
        let cc = TpmCc::DUPLICATE.0.to_be_bytes();
        let (rc, _) = exec(t, TpmCc::POLICY_COMMAND_CODE, &[s], &[], &cc);
        assert_eq!(rc, TpmRc::SUCCESS, "{}: PolicyCommandCode", t.name());
    }
    TpmsAuthCommand {
        session_handle: s,
        nonce: Tpm2bNonce::new(&[0x11; 16]).unwrap(),
        attributes: TpmaSession(TpmaSession::CONTINUE_SESSION),
        hmac: Tpm2bAuth::empty(),
    }
}

/// TPMT_SYM_DEF_OBJECT: AES-128-CFB or TPM_ALG_NULL.
fn sym(aes: bool) -> Vec<u8> {
    if aes {
        vec![0x00, 0x06, 0x00, 0x80, 0x00, 0x43]
    } else {
        vec![0x00, 0x10]
    }
}

struct Dup {
    key: Vec<u8>,
    blob: Vec<u8>,
    seed: Vec<u8>,
}

/// TPM2_Duplicate of `obj` (authorized by `auth`) for `parent`.
fn duplicate(
    t: &mut dyn Tpm,
    obj: TpmHandle,
    parent: TpmHandle,
    auth: &TpmsAuthCommand,
    key_in: &[u8],
    aes: bool,
) -> (TpmRc, Dup) {
    let mut p = b2(key_in);
    p.extend(sym(aes));
    let (rc, rsp) = exec(
        t,
        TpmCc::DUPLICATE,
        &[obj, parent],
        std::slice::from_ref(auth),
        &p,
    );
    let mut d = Dup {
        key: Vec::new(),
        blob: Vec::new(),
        seed: Vec::new(),
    };
    if rc == TpmRc::SUCCESS {
        let r = Response::parse(&rsp, TpmCc::DUPLICATE).unwrap();
        let mut rd = Reader::new(r.parameters);
        for v in [&mut d.key, &mut d.blob, &mut d.seed] {
            let n = usize::from(rd.u16("size").unwrap());
            *v = rd.bytes(n, "bytes").unwrap().to_vec();
        }
        assert!(rd.is_empty());
    }
    (rc, d)
}

/// TPM2_Import under `parent`: (rc, TPM2B_PRIVATE bytes).
fn import(
    t: &mut dyn Tpm,
    parent: TpmHandle,
    key: &[u8],
    public: &[u8],
    d: &Dup,
    aes: bool,
) -> (TpmRc, Vec<u8>) {
    let mut p = b2(key);
    p.extend(public);
    p.extend(b2(&d.blob));
    p.extend(b2(&d.seed));
    p.extend(sym(aes));
    let (rc, rsp) = exec(t, TpmCc::IMPORT, &[parent], &[pw()], &p);
    if rc != TpmRc::SUCCESS {
        return (rc, Vec::new());
    }
    let r = Response::parse(&rsp, TpmCc::IMPORT).unwrap();
    (rc, r.parameters.to_vec())
}

const DIGEST: [u8; 32] = [0x42; 32];

/// TPM2_Sign of [`DIGEST`] with the key's scheme: the TPMT_SIGNATURE bytes.
fn sign(t: &mut dyn Tpm, key: TpmHandle) -> Vec<u8> {
    let mut p = b2(&DIGEST);
    p.extend([0x00, 0x10]);
    p.extend([0x80, 0x24, 0x40, 0x00, 0x00, 0x07, 0x00, 0x00]);
    let (rc, rsp) = exec(t, TpmCc::SIGN, &[key], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: Sign", t.name());
    Response::parse(&rsp, TpmCc::SIGN)
        .unwrap()
        .parameters
        .to_vec()
}

fn verify(t: &mut dyn Tpm, key: TpmHandle, signature: &[u8]) -> TpmRc {
    let mut p = b2(&DIGEST);
    p.extend(signature);
    exec(t, TpmCc::VERIFY_SIGNATURE, &[key], &[], &p).0
}

/// A key made on `src` is duplicated for a storage key of `dst`, imported and loaded there,
/// signs there, and `src` verifies the signature with the original.
fn across(src: &mut dyn Tpm, dst: &mut dyn Tpm, storage: &[u8], aes: bool, key_in: &[u8]) {
    let what = format!(
        "{} -> {}, inner {}",
        src.name(),
        dst.name(),
        if aes { "AES-128" } else { "none" }
    );
    let (src_parent, _) = primary(src, storage);
    let (dst_parent, dst_public) = primary(dst, storage);
    let new_parent = load_public(src, &dst_public);
    let (private, public) = create(src, src_parent, &duplicable(0));
    let (rc, obj) = load(src, src_parent, &private, &public);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Load");
    let auth = dup_session(src, true);
    let (rc, d) = duplicate(src, obj, new_parent, &auth, key_in, aes);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Duplicate");
    assert!(!d.seed.is_empty(), "{what}: outer wrapper seed");
    let key = if key_in.is_empty() && aes {
        assert_eq!(d.key.len(), 16, "{what}: the TPM's inner key");
        d.key.clone()
    } else {
        assert!(d.key.is_empty(), "{what}: no key returned");
        key_in.to_vec()
    };
    let (rc, imported) = import(dst, dst_parent, &key, &public, &d, aes);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Import");
    let (rc, moved) = load(dst, dst_parent, &imported, &public);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Load of the imported key");
    let signature = sign(dst, moved);
    assert_eq!(
        verify(src, obj, &signature),
        TpmRc::SUCCESS,
        "{what}: signature"
    );
    for h in [moved, dst_parent] {
        flush(dst, h);
    }
    for h in [obj, new_parent, src_parent, auth.session_handle] {
        flush(src, h);
    }
}

#[test]
fn keys_move_between_swtpm_and_the_engine() {
    let mut sw = theirs();
    let mut en = ours();
    let t0 = std::time::Instant::now();
    for (aes, key) in [(false, &[][..]), (true, &[7u8; 16][..]), (true, &[][..])] {
        across(&mut en, &mut sw, &ecc_storage(), aes, key);
        across(&mut sw, &mut en, &ecc_storage(), aes, key);
    }
    across(&mut en, &mut sw, &rsa_storage(), true, &[]);
    across(&mut sw, &mut en, &rsa_storage(), false, &[]);
    eprintln!("eight key moves in {:?}", t0.elapsed());
}

/// Without an outer wrapper (new parent TPM_RH_NULL) the inner-wrapped blob imports on the
/// other TPM without a seed; TPM2_Rewrap then moves an outer-wrapped blob from one storage key
/// of `src` to one of `dst`.
fn null_parent_and_rewrap(src: &mut dyn Tpm, dst: &mut dyn Tpm) {
    let what = format!("{} -> {}", src.name(), dst.name());
    let (src_parent, _) = primary(src, &ecc_storage());
    let (dst_parent, dst_public) = primary(dst, &ecc_storage());
    let (private, public) = create(src, src_parent, &duplicable(0));
    let (_, obj) = load(src, src_parent, &private, &public);
    let auth = dup_session(src, true);
    let (rc, d) = duplicate(src, obj, TpmHandle::NULL, &auth, &[], true);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Duplicate to TPM_RH_NULL");
    assert!(d.seed.is_empty());
    let (rc, imported) = import(dst, dst_parent, &d.key, &public, &d, true);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Import without a seed");
    let (rc, moved) = load(dst, dst_parent, &imported, &public);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Load");
    flush(dst, moved);

    // Rewrap: duplicated for src_parent (an outer wrapper src can remove), rewrapped for
    // dst_parent, imported on dst.
    let auth2 = dup_session(src, true);
    let (rc, d) = duplicate(src, obj, src_parent, &auth2, &[], false);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Duplicate to its own parent");
    let new_parent = load_public(src, &dst_public);
    let name = {
        let (rc, rsp) = exec(src, TpmCc::READ_PUBLIC, &[obj], &[], &[]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::READ_PUBLIC).unwrap();
        let mut rd = Reader::new(r.parameters);
        Tpm2bPublic::unmarshal(&mut rd).unwrap();
        Tpm2bName::unmarshal(&mut rd).unwrap().as_bytes().to_vec()
    };
    let mut p = b2(&d.blob);
    p.extend(b2(&name));
    p.extend(b2(&d.seed));
    let (rc, rsp) = exec(src, TpmCc::REWRAP, &[src_parent, new_parent], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Rewrap");
    let r = Response::parse(&rsp, TpmCc::REWRAP).unwrap();
    let mut rd = Reader::new(r.parameters);
    let n = usize::from(rd.u16("dup").unwrap());
    let blob = rd.bytes(n, "dup").unwrap().to_vec();
    let n = usize::from(rd.u16("seed").unwrap());
    let seed = rd.bytes(n, "seed").unwrap().to_vec();
    let rewrapped = Dup {
        key: Vec::new(),
        blob,
        seed,
    };
    let (rc, imported) = import(dst, dst_parent, &[], &public, &rewrapped, false);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Import of the rewrapped blob");
    let (rc, moved) = load(dst, dst_parent, &imported, &public);
    assert_eq!(rc, TpmRc::SUCCESS, "{what}: Load");
    let signature = sign(dst, moved);
    assert_eq!(
        verify(src, obj, &signature),
        TpmRc::SUCCESS,
        "{what}: signature"
    );
    flush(dst, moved);
    flush(dst, dst_parent);
    for h in [
        obj,
        new_parent,
        src_parent,
        auth.session_handle,
        auth2.session_handle,
    ] {
        flush(src, h);
    }
}

#[test]
fn rewrap_and_inner_only_blobs_move_between_swtpm_and_the_engine() {
    let mut sw = theirs();
    let mut en = ours();
    null_parent_and_rewrap(&mut en, &mut sw);
    null_parent_and_rewrap(&mut sw, &mut en);
}

/// The refusals, on one TPM; every code is logged.
fn errors_flow(t: &mut dyn Tpm, log: &mut Log) {
    let (parent, parent_public) = primary(t, &ecc_storage());
    let other = load_public(t, &parent_public);
    // swtpm holds three objects: the keys are created first and loaded one at a time.
    let (private, public) = create(t, parent, &duplicable(0));
    let (private_e, public_e) = create(t, parent, &duplicable(ENCRYPTED_DUPLICATION));
    let (private_f, public_f) = create(t, parent, &duplicable(FIXED_PARENT | FIXED_TPM));

    let dup = |t: &mut dyn Tpm,
               log: &mut Log,
               what: &str,
               o: TpmHandle,
               np: TpmHandle,
               key: &[u8],
               aes: bool| {
        let auth = dup_session(t, true);
        let (rc, d) = duplicate(t, o, np, &auth, key, aes);
        log.rc(what, rc);
        flush(t, auth.session_handle);
        d
    };
    let (_, obj_f) = load(t, parent, &private_f, &public_f);
    dup(t, log, "fixedParent object", obj_f, other, &[], false);
    flush(t, obj_f);
    let (_, obj_e) = load(t, parent, &private_e, &public_e);
    dup(
        t,
        log,
        "encryptedDuplication, no inner",
        obj_e,
        other,
        &[],
        false,
    );
    dup(
        t,
        log,
        "encryptedDuplication, NULL parent",
        obj_e,
        TpmHandle::NULL,
        &[],
        true,
    );
    dup(t, log, "encryptedDuplication", obj_e, other, &[], true);
    flush(t, obj_e);
    let (_, obj) = load(t, parent, &private, &public);
    dup(t, log, "signing key as new parent", obj, obj, &[], false);
    dup(
        t,
        log,
        "key without inner wrapper",
        obj,
        other,
        &[1; 16],
        false,
    );
    dup(t, log, "short inner key", obj, other, &[1; 5], true);
    let auth = dup_session(t, false);
    let (rc, _) = duplicate(t, obj, other, &auth, &[], false);
    log.rc("policy without PolicyCommandCode", rc);
    flush(t, auth.session_handle);
    let (rc, _) = duplicate(t, obj, other, &pw(), &[], false);
    log.rc("password instead of a policy", rc);
    let mut p = b2(&[]);
    p.extend(sym(false));
    let (rc, _) = exec(t, TpmCc::DUPLICATE, &[obj, other], &[], &p);
    log.rc("no authorization", rc);

    // Import refusals: a good blob for `parent` first.
    let d = dup(t, log, "good", obj, other, &[3; 16], true);
    let (rc, _) = import(t, parent, &[3; 16], &public, &d, true);
    log.rc("import", rc);
    let (rc, _) = import(t, parent, &[4; 16], &public, &d, true);
    log.rc("import, wrong inner key", rc);
    let (rc, _) = import(t, parent, &[3; 16], &public, &d, false);
    log.rc("import, key but no inner wrapper", rc);
    let (rc, _) = import(t, parent, &[], &public, &d, false);
    log.rc("import, no inner wrapper", rc);
    let mut bad = Dup {
        key: Vec::new(),
        blob: d.blob.clone(),
        seed: d.seed.clone(),
    };
    bad.blob[40] ^= 1;
    let (rc, _) = import(t, parent, &[3; 16], &public, &bad, true);
    log.rc("import, damaged blob", rc);
    bad.blob.clone_from(&d.blob);
    bad.seed[10] ^= 1;
    let (rc, _) = import(t, parent, &[3; 16], &public, &bad, true);
    log.rc("import, damaged seed", rc);
    bad.seed = Vec::new();
    let (rc, _) = import(t, parent, &[3; 16], &public, &bad, true);
    log.rc("import, no seed", rc);
    let (rc, _) = import(t, parent, &[3; 16], &public_f, &d, true);
    log.rc("import, fixedParent public", rc);
    let (rc, _) = import(t, obj, &[3; 16], &public, &d, true);
    log.rc("import under a signing key", rc);
    let (rc, _) = import(t, parent, &[3; 16], &public_e, &d, true);
    log.rc("import, other public area", rc);

    // Rewrap: a seed needs an old parent; a blob for another key does not unwrap.
    let mut p = b2(&d.blob);
    p.extend(b2(&[0x00, 0x0B, 1, 2]));
    p.extend(b2(&d.seed));
    let (rc, _) = exec(t, TpmCc::REWRAP, &[TpmHandle::NULL, other], &[pw()], &p);
    log.rc("rewrap, seed without old parent", rc);
    let (rc, _) = exec(t, TpmCc::REWRAP, &[parent, other], &[pw()], &p);
    log.rc("rewrap, wrong name", rc);
    let (rc, _) = exec(t, TpmCc::REWRAP, &[obj, other], &[pw()], &p);
    log.rc("rewrap, signing key as old parent", rc);
    for h in [obj, other, parent] {
        flush(t, h);
    }
}

#[test]
fn refusals_match_swtpm() {
    cross_check("DUP_VERBOSE", errors_flow);
}

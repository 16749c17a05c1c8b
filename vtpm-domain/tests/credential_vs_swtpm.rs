#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! TPM2_MakeCredential and TPM2_ActivateCredential (TCG TPM 2.0 Library part 3 §12.5–12.6,
//! part 1 §24), cross-checked with swtpm 0.7.1 / libtpms:
//!
//! - the same flows on both TPMs, every response code recorded and compared: a credential made
//!   for an RSA and for an ECC storage key and activated; a signing key as protector or as
//!   keyHandle (TPM_RC_TYPE), an oversized credential (TPM_RC_SIZE), the credential activated
//!   for another object or with a changed blob (TPM_RC_INTEGRITY), a damaged secret (refused by
//!   both; the engine answers TPM_RC_VALUE as part 3 says, libtpms TPM_RC_FAILURE);
//! - across the two TPMs: a credential made by swtpm for our key and our object activates on our
//!   engine, and the other way round (the protector's public area moved with TPM2_LoadExternal).
//!
//! swtpm is required: the tests fail if it is not installed.

use tpm2::Unmarshal;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::{Tpm2bCreationData, Tpm2bDigest, Tpm2bName, Tpm2bPublic, TpmtTkCreation};
use tpm2::{Marshal, Reader};

#[path = "support/pair.rs"]
mod pair;
use pair::{Log, RC_RETRY, Tpm, cross_check, ours, pw, theirs};

/// `pair::exec`, repeated while swtpm answers TPM_RC_RETRY (it does on a key's first use, and a
/// TSS resends; the engine never answers it).
fn exec(
    t: &mut dyn Tpm,
    cc: TpmCc,
    handles: &[TpmHandle],
    sessions: &[tpm2::auth::TpmsAuthCommand],
    params: &[u8],
) -> (TpmRc, Vec<u8>) {
    loop {
        let (rc, rsp) = pair::exec(t, cc, handles, sessions, params);
        if rc != RC_RETRY {
            return (rc, rsp);
        }
    }
}

/// An RSA-2048 restricted decryption key (AES-128-CFB), userWithAuth.
fn rsa_storage() -> Vec<u8> {
    let mut t = vec![0x00, 0x01, 0x00, 0x0B, 0x00, 0x03, 0x00, 0x72, 0x00, 0x00];
    t.extend([0x00, 0x06, 0x00, 0x80, 0x00, 0x43, 0x00, 0x10]);
    t.extend([0x08, 0x00, 0, 0, 0, 0, 0, 0]);
    t
}

/// A NIST P-256 restricted decryption key (AES-128-CFB), userWithAuth.
fn ecc_storage() -> Vec<u8> {
    let mut t = vec![0x00, 0x23, 0x00, 0x0B, 0x00, 0x03, 0x00, 0x72, 0x00, 0x00];
    t.extend([0x00, 0x06, 0x00, 0x80, 0x00, 0x43, 0x00, 0x10]);
    t.extend([0x00, 0x03, 0x00, 0x10, 0, 0, 0, 0]);
    t
}

/// A NIST P-256 ECDSA-SHA256 signing key (the "AK"), userWithAuth.
fn ecc_signing() -> Vec<u8> {
    let mut t = vec![0x00, 0x23, 0x00, 0x0B, 0x00, 0x04, 0x00, 0x72, 0x00, 0x00];
    t.extend([0x00, 0x10, 0x00, 0x18, 0x00, 0x0B]);
    t.extend([0x00, 0x03, 0x00, 0x10, 0, 0, 0, 0]);
    t
}

/// A primary key of `template` in the owner hierarchy: (handle, public area, Name).
fn primary(t: &mut dyn Tpm, template: &[u8]) -> (TpmHandle, Vec<u8>, Vec<u8>) {
    let mut p = vec![0, 4, 0, 0, 0, 0];
    p.extend(u16::try_from(template.len()).unwrap().to_be_bytes());
    p.extend(template);
    p.extend([0, 0, 0, 0, 0, 0]);
    let (rc, rsp) = exec(t, TpmCc::CREATE_PRIMARY, &[TpmHandle::OWNER], &[pw()], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: CreatePrimary", t.name());
    let r = Response::parse(&rsp, TpmCc::CREATE_PRIMARY).unwrap();
    let mut rd = Reader::new(r.parameters);
    let public = Tpm2bPublic::unmarshal(&mut rd).unwrap();
    Tpm2bCreationData::unmarshal(&mut rd).unwrap();
    Tpm2bDigest::unmarshal(&mut rd).unwrap();
    TpmtTkCreation::unmarshal(&mut rd).unwrap();
    let name = Tpm2bName::unmarshal(&mut rd).unwrap();
    (
        r.handle.unwrap(),
        public.to_bytes(),
        name.as_bytes().to_vec(),
    )
}

fn b2(v: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(v.len()).unwrap().to_be_bytes().to_vec();
    out.extend(v);
    out
}

/// TPM2_MakeCredential: (rc, credentialBlob, secret) as TPM2B contents.
fn make(
    t: &mut dyn Tpm,
    key: TpmHandle,
    credential: &[u8],
    name: &[u8],
) -> (TpmRc, Vec<u8>, Vec<u8>) {
    let mut p = b2(credential);
    p.extend(b2(name));
    let (rc, rsp) = exec(t, TpmCc::MAKE_CREDENTIAL, &[key], &[], &p);
    if rc != TpmRc::SUCCESS {
        return (rc, Vec::new(), Vec::new());
    }
    let r = Response::parse(&rsp, TpmCc::MAKE_CREDENTIAL).unwrap();
    let mut rd = Reader::new(r.parameters);
    let blob = rd.sized_bytes(200, "blob").unwrap().to_vec();
    let secret = rd.sized_bytes(600, "secret").unwrap().to_vec();
    (rc, blob, secret)
}

/// TPM2_ActivateCredential: (rc, certInfo).
fn activate(
    t: &mut dyn Tpm,
    object: TpmHandle,
    key: TpmHandle,
    blob: &[u8],
    secret: &[u8],
) -> (TpmRc, Vec<u8>) {
    let mut p = b2(blob);
    p.extend(b2(secret));
    let (rc, rsp) = exec(
        t,
        TpmCc::ACTIVATE_CREDENTIAL,
        &[object, key],
        &[pw(), pw()],
        &p,
    );
    if rc != TpmRc::SUCCESS {
        return (rc, Vec::new());
    }
    let r = Response::parse(&rsp, TpmCc::ACTIVATE_CREDENTIAL).unwrap();
    let cert = Tpm2bDigest::unmarshal(&mut Reader::new(r.parameters)).unwrap();
    (rc, cert.as_bytes().to_vec())
}

const CREDENTIAL: &[u8] = b"vTPM credential!";

fn flow(t: &mut dyn Tpm, log: &mut Log) {
    for (label, template) in [("rsa", rsa_storage()), ("ecc", ecc_storage())] {
        let (key, _, _) = primary(t, &template);
        let (ak, _, ak_name) = primary(t, &ecc_signing());
        let (rc, blob, secret) = make(t, key, CREDENTIAL, &ak_name);
        log.rc(&format!("{label}: MakeCredential"), rc);
        let (rc, cert) = activate(t, ak, key, &blob, &secret);
        log.rc(&format!("{label}: ActivateCredential"), rc);
        log.line(
            &format!("{label}: credential back"),
            &(cert == CREDENTIAL).to_string(),
        );
        // Refusals.
        let (rc, ..) = make(t, ak, CREDENTIAL, &ak_name);
        log.rc(&format!("{label}: signing key as protector"), rc);
        let (rc, ..) = make(t, key, &[7; 33], &ak_name);
        log.rc(&format!("{label}: 33-byte credential"), rc);
        let (rc, ..) = make(t, key, &[], &ak_name);
        log.rc(&format!("{label}: empty credential"), rc);
        let (rc, _) = activate(t, key, key, &blob, &secret);
        log.rc(&format!("{label}: activated for another object"), rc);
        let (rc, _) = activate(t, ak, ak, &blob, &secret);
        log.rc(&format!("{label}: signing key as keyHandle"), rc);
        let mut changed = blob.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        let (rc, _) = activate(t, ak, key, &changed, &secret);
        log.rc(&format!("{label}: changed blob"), rc);
        let (rc, _) = activate(t, ak, key, &blob[..10], &secret);
        log.rc(&format!("{label}: truncated blob"), rc);
        if label == "rsa" {
            let mut bad = secret.clone();
            bad[5] ^= 0x40;
            let (rc, _) = activate(t, ak, key, &blob, &bad);
            // OAEP that does not check: TPM_RC_VALUE by part 1 §24 / part 3 §12.5 (the engine);
            // libtpms 0.9 with OpenSSL 3 answers TPM_RC_FAILURE, as for TPM2_RSA_Decrypt.
            log.line(
                &format!("{label}: damaged secret refused"),
                &(rc != TpmRc::SUCCESS).to_string(),
            );
        }
        for h in [key, ak] {
            let (rc, _) = exec(t, TpmCc::FLUSH_CONTEXT, &[], &[], &h.0.to_be_bytes());
            assert_eq!(rc, TpmRc::SUCCESS);
        }
    }
}

#[test]
fn credentials_against_swtpm() {
    cross_check("CREDENTIAL_VERBOSE", flow);
}

/// LoadExternal of a public area (no private part) into TPM_RH_NULL; returns the handle.
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

/// A credential made on `maker` for `holder`'s key and object activates on `holder`.
fn across(maker: &mut dyn Tpm, holder: &mut dyn Tpm, template: &[u8]) {
    let (key, key_public, _) = primary(holder, template);
    let (ak, _, ak_name) = primary(holder, &ecc_signing());
    let external = load_public(maker, &key_public);
    let (rc, blob, secret) = make(maker, external, CREDENTIAL, &ak_name);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: MakeCredential", maker.name());
    let (rc, cert) = activate(holder, ak, key, &blob, &secret);
    assert_eq!(
        rc,
        TpmRc::SUCCESS,
        "{} activating {}'s credential",
        holder.name(),
        maker.name()
    );
    assert_eq!(cert, CREDENTIAL);
    for h in [key, ak] {
        exec(holder, TpmCc::FLUSH_CONTEXT, &[], &[], &h.0.to_be_bytes());
    }
    exec(
        maker,
        TpmCc::FLUSH_CONTEXT,
        &[],
        &[],
        &external.0.to_be_bytes(),
    );
}

#[test]
fn credentials_move_between_swtpm_and_the_engine() {
    let mut sw = theirs();
    let mut en = ours();
    for template in [rsa_storage(), ecc_storage()] {
        across(&mut sw, &mut en, &template);
        across(&mut en, &mut sw, &template);
    }
}

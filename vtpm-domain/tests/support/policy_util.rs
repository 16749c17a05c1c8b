//! Helpers shared by the Enhanced Authorization cross-checks (`policy_vs_swtpm.rs`,
//! `policy_assert_vs_swtpm.rs`): sessions, policy steps, PCRs and sealed objects on a
//! [`Tpm`] of the pair harness.
#![allow(dead_code)]

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use tpm2::alg::TpmAlgId;
use tpm2::auth::{TpmaSession, TpmsAuthCommand};
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::{
    PublicDetail, Tpm2bAuth, Tpm2bData, Tpm2bDigest, Tpm2bNonce, Tpm2bPublic, Tpm2bSensitiveCreate,
    Tpm2bSensitiveData, TpmaObject, TpmlPcrSelection, TpmsKeyedhashParms, TpmsSensitiveCreate,
    TpmtKeyedhashScheme, TpmtPublic,
};
use tpm2::{Marshal, Unmarshal};

use super::pair::{Log, Tpm, exec};

pub(crate) const NONCE: [u8; 16] = [0x5A; 16];

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        write!(s, "{x:02x}").unwrap();
        s
    })
}

pub(crate) fn cc_bytes(cc: TpmCc) -> [u8; 4] {
    cc.0.to_be_bytes()
}

pub(crate) fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

/// TPM2_StartAuthSession without key or bind, no symmetric algorithm; `se` 1: policy, 3: trial.
pub(crate) fn start(t: &mut dyn Tpm, se: u8, hash: TpmAlgId) -> TpmHandle {
    start_with_nonce(t, se, hash).0
}

/// [`start`], also returning nonceTPM.
pub(crate) fn start_with_nonce(t: &mut dyn Tpm, se: u8, hash: TpmAlgId) -> (TpmHandle, Vec<u8>) {
    let mut p = Tpm2bNonce::new(&NONCE).unwrap().to_bytes();
    p.extend([0, 0, se, 0, 0x10]);
    p.extend(hash.to_bytes());
    let (rc, rsp) = exec(
        t,
        TpmCc::START_AUTH_SESSION,
        &[TpmHandle::NULL, TpmHandle::NULL],
        &[],
        &p,
    );
    assert_eq!(rc, TpmRc::SUCCESS, "{}: StartAuthSession", t.name());
    let r = Response::parse(&rsp, TpmCc::START_AUTH_SESSION).unwrap();
    let nonce = Tpm2bNonce::from_bytes(r.parameters).unwrap();
    (r.handle.unwrap(), nonce.as_bytes().to_vec())
}

pub(crate) fn flush(t: &mut dyn Tpm, h: TpmHandle) {
    let (rc, _) = exec(t, TpmCc::FLUSH_CONTEXT, &[], &[], &h.0.to_be_bytes());
    assert_eq!(rc, TpmRc::SUCCESS, "{}: FlushContext", t.name());
}

pub(crate) fn get_digest(t: &mut dyn Tpm, h: TpmHandle) -> Vec<u8> {
    let (rc, rsp) = exec(t, TpmCc::POLICY_GET_DIGEST, &[h], &[], &[]);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: PolicyGetDigest", t.name());
    let r = Response::parse(&rsp, TpmCc::POLICY_GET_DIGEST).unwrap();
    Tpm2bDigest::from_bytes(r.parameters)
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// Runs policy command `cc` on session `h` and logs its code and the resulting digest.
pub(crate) fn step(
    t: &mut dyn Tpm,
    log: &mut Log,
    what: &str,
    cc: TpmCc,
    h: TpmHandle,
    params: &[u8],
) {
    let (rc, _) = exec(t, cc, &[h], &[], params);
    log.rc(what, rc);
    let d = get_digest(t, h);
    log.line(&format!("{what} digest"), &hex(&d));
}

/// TPML_PCR_SELECTION of (hash, 3-octet bitmap) entries.
pub(crate) fn selection(entries: &[(TpmAlgId, [u8; 3])]) -> Vec<u8> {
    let mut v = u32::try_from(entries.len()).unwrap().to_be_bytes().to_vec();
    for (alg, bits) in entries {
        v.extend(alg.to_bytes());
        v.push(3);
        v.extend(bits);
    }
    v
}

pub(crate) fn pcr_params(digest: &[u8], sel: &[u8]) -> Vec<u8> {
    let mut p = Tpm2bDigest::new(digest).unwrap().to_bytes();
    p.extend(sel);
    p
}

pub(crate) fn or_list(digests: &[&[u8]]) -> Vec<u8> {
    let mut v = u32::try_from(digests.len()).unwrap().to_be_bytes().to_vec();
    for d in digests {
        v.extend(Tpm2bDigest::new(d).unwrap().to_bytes());
    }
    v
}

pub(crate) fn pcr_extend(t: &mut dyn Tpm, pcr: u32, data: &[u8; 32]) {
    let mut p = vec![0, 0, 0, 1, 0, 0x0B];
    p.extend(data);
    let pw = TpmsAuthCommand::password(Tpm2bAuth::empty());
    let (rc, _) = exec(t, TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], &[pw], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: PCR_Extend", t.name());
}

/// A sealed data object as a primary object of the owner hierarchy: `policy` as authPolicy,
/// `auth` as authValue, userWithAuth clear (only a policy session can unseal it).
pub(crate) fn create_sealed(
    t: &mut dyn Tpm,
    policy: &[u8],
    auth: &[u8],
    secret: &[u8],
) -> TpmHandle {
    let public = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(TpmaObject::FIXED_TPM | TpmaObject::FIXED_PARENT),
        auth_policy: Tpm2bDigest::new(policy).unwrap(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms {
                scheme: TpmtKeyedhashScheme::Null,
            },
            unique: Tpm2bDigest::empty(),
        },
    };
    let mut p = Tpm2bSensitiveCreate {
        sensitive: TpmsSensitiveCreate {
            user_auth: Tpm2bAuth::new(auth).unwrap(),
            data: Tpm2bSensitiveData::new(secret).unwrap(),
        },
    }
    .to_bytes();
    p.extend(
        Tpm2bPublic {
            public_area: public,
        }
        .to_bytes(),
    );
    p.extend(Tpm2bData::empty().to_bytes());
    p.extend(TpmlPcrSelection::empty().to_bytes());
    let pw = TpmsAuthCommand::password(Tpm2bAuth::empty());
    let (rc, rsp) = exec(t, TpmCc::CREATE_PRIMARY, &[TpmHandle::OWNER], &[pw], &p);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: CreatePrimary", t.name());
    Response::parse(&rsp, TpmCc::CREATE_PRIMARY)
        .unwrap()
        .handle
        .unwrap()
}

pub(crate) fn policy_auth(h: TpmHandle, hmac: &[u8]) -> TpmsAuthCommand {
    TpmsAuthCommand {
        session_handle: h,
        nonce: Tpm2bNonce::new(&NONCE).unwrap(),
        attributes: TpmaSession(TpmaSession::CONTINUE_SESSION),
        hmac: Tpm2bAuth::new(hmac).unwrap(),
    }
}

/// TPM2_Unseal of `obj` with policy session `s` (`hmac`: the HMAC field); logs the code and
/// the secret.
pub(crate) fn unseal(
    t: &mut dyn Tpm,
    log: &mut Log,
    what: &str,
    obj: TpmHandle,
    s: TpmHandle,
    hmac: &[u8],
) {
    let mut sent = exec(t, TpmCc::UNSEAL, &[obj], &[policy_auth(s, hmac)], &[]);
    if sent.0 == TpmRc::RETRY {
        // libtpms asks for a retry while it records its first DA failure; a TSS resends.
        sent = exec(t, TpmCc::UNSEAL, &[obj], &[policy_auth(s, hmac)], &[]);
    }
    let (rc, rsp) = sent;
    log.rc(what, rc);
    if rc == TpmRc::SUCCESS {
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        let data = Tpm2bSensitiveData::from_bytes(r.parameters).unwrap();
        log.line(&format!("{what} secret"), &hex(data.as_bytes()));
    }
}

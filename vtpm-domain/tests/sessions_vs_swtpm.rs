#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::many_single_char_names)]
//! Sessions, cross-checked with swtpm 0.7.1 / libtpms: a small HMAC-session client written
//! here with the `sha2`, `hmac`, `aes`, `cfb-mode`, `rsa` and `p256` crates (not with the
//! engine's crypto module) runs the same flows against swtpm and against our engine.
//!
//! Each flow checks, on each TPM, everything the client can verify (response HMACs, nonces,
//! decrypted parameters against values computed here), so a TPM passes only if its session
//! arithmetic (session keys, cpHash/rpHash, command and response HMACs, KDFa/KDFe, CFB and XOR
//! parameter encryption, RSA-OAEP and ECDH salts) equals the client's, and therefore equals
//! libtpms'. Every response code of a flow is also recorded, and the two TPMs' records must
//! be identical (bad HMACs, bad nonce sizes, bad session handles, attribute misuse, session
//! limits, dictionary-attack lockout).
//!
//! swtpm is required: the tests fail if it is not installed.

use std::fmt::Write as _;

use cipher::{AsyncStreamCipher, KeyIvInit};
use hmac::Mac;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use tpm2::alg::TpmAlgId;
use tpm2::auth::{TpmaSession, TpmsAuthCommand, TpmsAuthResponse};
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::st::TpmEccCurve;
use tpm2::structures::{
    PublicDetail, Tpm2bAuth, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, Tpm2bEncryptedSecret,
    Tpm2bName, Tpm2bNonce, Tpm2bPublic, Tpm2bPublicKeyRsa, Tpm2bSensitiveCreate,
    Tpm2bSensitiveData, TpmaObject, TpmlPcrSelection, TpmsEccParms, TpmsEccPoint, TpmsRsaParms,
    TpmsSensitiveCreate, TpmtEccScheme, TpmtKdfScheme, TpmtPublic, TpmtRsaScheme, TpmtSymDef,
    TpmtSymDefObject,
};
use tpm2::{Marshal, Reader, Unmarshal};

#[path = "support/pair.rs"]
mod pair;
use pair::{Log, Tpm, cross_check, exec};

// ---------------------------------------------------------------------------------------------
// The two TPMs
// ---------------------------------------------------------------------------------------------

/// Runs a command that must succeed and returns its parsed response.
fn ok<'a>(t: &mut dyn Tpm, cc: TpmCc, rsp: &'a (TpmRc, Vec<u8>)) -> Response<'a> {
    assert_eq!(
        rsp.0,
        TpmRc::SUCCESS,
        "{}: {cc} failed with {}",
        t.name(),
        rsp.0
    );
    Response::parse(&rsp.1, cc).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Client-side cryptography
// ---------------------------------------------------------------------------------------------

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn kdfa256(key: &[u8], label: &[u8], u: &[u8], v: &[u8], bits: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 1u32;
    let l = u32::try_from(bits).unwrap().to_be_bytes();
    while out.len() * 8 < bits {
        out.extend(hmac256(key, &[&i.to_be_bytes(), label, &[0], u, v, &l]));
        i += 1;
    }
    out.truncate(bits / 8);
    out
}

/// A deterministic random source for the client's OAEP padding and ephemeral keys.
struct TestRng(u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            self.0 += 1;
            let block = sha256(&[b"client rng", &self.0.to_be_bytes()]);
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sym {
    Null,
    Aes128,
    Xor,
}

impl Sym {
    fn def(self) -> TpmtSymDef {
        match self {
            Sym::Null => TpmtSymDef::Null,
            Sym::Aes128 => TpmtSymDef::AES_128_CFB,
            Sym::Xor => TpmtSymDef::Xor {
                hash_alg: TpmAlgId::SHA256,
            },
        }
    }
}

/// The caller's side of an HMAC or policy session (SHA-256).
struct Session {
    handle: TpmHandle,
    nonce_tpm: Vec<u8>,
    nonce_caller: Vec<u8>,
    key: Vec<u8>,
    sym: Sym,
    n: u8,
    /// The attributes of the last response session.
    last: u8,
}

const CONT: u8 = TpmaSession::CONTINUE_SESSION;
const DEC: u8 = TpmaSession::DECRYPT;
const ENC: u8 = TpmaSession::ENCRYPT;

impl Session {
    /// A fresh nonceCaller for the next command.
    fn next(&mut self) {
        self.n = self.n.wrapping_add(1);
        self.nonce_caller =
            sha256(&[b"nonce", &[self.n], &self.handle.0.to_be_bytes()])[..16].to_vec();
    }

    fn auth(&self, cp: &[u8], auth: &[u8], attrs: u8, extra: &[&[u8]]) -> TpmsAuthCommand {
        let key = [self.key.as_slice(), auth].concat();
        let mut parts: Vec<&[u8]> = vec![cp, &self.nonce_caller, &self.nonce_tpm];
        parts.extend_from_slice(extra);
        let a = [attrs];
        parts.push(&a);
        TpmsAuthCommand {
            session_handle: self.handle,
            nonce: Tpm2bNonce::new(&self.nonce_caller).unwrap(),
            attributes: TpmaSession(attrs),
            hmac: Tpm2bAuth::new(&hmac256(&key, &parts)).unwrap(),
        }
    }

    /// Checks a response session (HMAC over rpHash with the new nonceTPM) and takes the new
    /// nonce.
    fn verify(&mut self, who: &str, r: &TpmsAuthResponse, rp: &[u8], auth: &[u8]) {
        let key = [self.key.as_slice(), auth].concat();
        let nonce = r.nonce.as_bytes();
        let want = hmac256(&key, &[rp, nonce, &self.nonce_caller, &[r.attributes.0]]);
        assert_eq!(r.hmac.as_bytes(), want, "{who}: response HMAC");
        assert_eq!(nonce.len(), self.nonce_tpm.len(), "{who}: nonceTPM size");
        assert_ne!(nonce, self.nonce_tpm, "{who}: nonceTPM must roll");
        self.nonce_tpm = nonce.to_vec();
        self.last = r.attributes.0;
    }

    /// Parameter encryption (part 1 §21): `newer`/`older` are the nonces in KDF order.
    fn crypt(&self, auth: &[u8], newer: &[u8], older: &[u8], data: &mut [u8], encrypt: bool) {
        let key = [self.key.as_slice(), auth].concat();
        match self.sym {
            Sym::Aes128 => {
                let k = kdfa256(&key, b"CFB", newer, older, 256);
                let (k, iv) = k.split_at(16);
                if encrypt {
                    cfb_mode::Encryptor::<aes::Aes128>::new(k.into(), iv.into()).encrypt(data);
                } else {
                    cfb_mode::Decryptor::<aes::Aes128>::new(k.into(), iv.into()).decrypt(data);
                }
            }
            Sym::Xor => {
                let mask = kdfa256(&key, b"XOR", newer, older, data.len() * 8);
                for (d, m) in data.iter_mut().zip(mask) {
                    *d ^= m;
                }
            }
            Sym::Null => panic!("session has no cipher"),
        }
    }

    /// Encrypts the data of a command's first parameter (a TPM2B at the start of `params`).
    fn encrypt_command(&self, auth: &[u8], params: &mut [u8]) {
        let n = usize::from(u16::from_be_bytes([params[0], params[1]]));
        let (caller, tpm) = (self.nonce_caller.clone(), self.nonce_tpm.clone());
        self.crypt(auth, &caller, &tpm, &mut params[2..2 + n], true);
    }

    /// Decrypts the data of a response's first parameter (after [`Session::verify`] took the
    /// new nonceTPM).
    fn decrypt_response(&self, auth: &[u8], params: &[u8]) -> Vec<u8> {
        let n = usize::from(u16::from_be_bytes([params[0], params[1]]));
        let mut data = params[2..2 + n].to_vec();
        let (tpm, caller) = (self.nonce_tpm.clone(), self.nonce_caller.clone());
        self.crypt(auth, &tpm, &caller, &mut data, false);
        data
    }
}

fn cp_hash(cc: TpmCc, names: &[&[u8]], params: &[u8]) -> Vec<u8> {
    let code = cc.0.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![&code];
    parts.extend_from_slice(names);
    parts.push(params);
    sha256(&parts)
}

fn rp_hash(cc: TpmCc, params: &[u8]) -> Vec<u8> {
    sha256(&[&[0, 0, 0, 0], &cc.0.to_be_bytes(), params])
}

fn start_params(nonce: &[u8], salt: &[u8], se: u8, sym: TpmtSymDef, hash: TpmAlgId) -> Vec<u8> {
    let mut p = Tpm2bNonce::new(nonce).unwrap().to_bytes();
    p.extend(Tpm2bEncryptedSecret::new(salt).unwrap().to_bytes());
    p.push(se);
    p.extend(sym.to_bytes());
    p.extend(hash.to_bytes());
    p
}

/// TPM2_StartAuthSession (SHA-256, 16-octet nonces). `material` is bind authValue || salt
/// (`None` for an unbound, unsalted session).
fn start(
    t: &mut dyn Tpm,
    tpm_key: TpmHandle,
    bind: TpmHandle,
    encrypted_salt: &[u8],
    se: u8,
    sym: Sym,
    material: Option<&[u8]>,
) -> Session {
    let nonce_caller = sha256(&[b"first nonce", &[se]])[..16].to_vec();
    let p = start_params(
        &nonce_caller,
        encrypted_salt,
        se,
        sym.def(),
        TpmAlgId::SHA256,
    );
    let rsp = exec(t, TpmCc::START_AUTH_SESSION, &[tpm_key, bind], &[], &p);
    let r = ok(t, TpmCc::START_AUTH_SESSION, &rsp);
    let nonce_tpm = Tpm2bNonce::from_bytes(r.parameters)
        .unwrap()
        .as_bytes()
        .to_vec();
    assert_eq!(
        nonce_tpm.len(),
        16,
        "{}: nonceTPM as long as nonceCaller",
        t.name()
    );
    Session {
        handle: r.handle.unwrap(),
        key: material
            .map(|m| kdfa256(m, b"ATH", &nonce_tpm, &nonce_caller, 256))
            .unwrap_or_default(),
        nonce_tpm,
        nonce_caller,
        sym,
        n: 0,
        last: 0,
    }
}

const PCR16: TpmHandle = TpmHandle(16);

/// TPM2_PCR_Event(PCR 16, `event`) authorized by `s` (which may also decrypt the event), with
/// `more` sessions after it. Returns the response code and, on success, checks the response
/// HMACs and that the SHA-256 digest the TPM reports is the digest of `event` (so that the
/// TPM decrypted what it was sent).
fn pcr_event(
    t: &mut dyn Tpm,
    s: &mut Session,
    attrs: u8,
    more: &mut [(&mut Session, u8)],
    event: &[u8],
) -> TpmRc {
    let cc = TpmCc::PCR_EVENT;
    s.next();
    for (m, _) in more.iter_mut() {
        m.next();
    }
    let mut params = Tpm2bData::new(event).unwrap().to_bytes();
    if attrs & DEC != 0 {
        s.encrypt_command(b"", &mut params);
    }
    for (m, a) in more.iter() {
        if a & DEC != 0 {
            m.encrypt_command(b"", &mut params);
        }
    }
    let cp = cp_hash(cc, &[&PCR16.0.to_be_bytes()], &params);
    // The first session's HMAC also covers the nonceTPM of a decrypt or encrypt session.
    let extra: Vec<Vec<u8>> = more
        .iter()
        .filter(|(_, a)| a & (DEC | ENC) != 0)
        .map(|(m, _)| m.nonce_tpm.clone())
        .collect();
    let extra: Vec<&[u8]> = extra.iter().map(Vec::as_slice).collect();
    let mut sessions = vec![s.auth(&cp, b"", attrs, &extra)];
    for (m, a) in more.iter() {
        sessions.push(m.auth(&cp, b"", *a, &[]));
    }
    let rsp = exec(t, cc, &[PCR16], &sessions, &params);
    if rsp.0 != TpmRc::SUCCESS {
        return rsp.0;
    }
    let r = Response::parse(&rsp.1, cc).unwrap();
    let rp = rp_hash(cc, r.parameters);
    s.verify(t.name(), &r.sessions[0], &rp, b"");
    for (i, (m, _)) in more.iter_mut().enumerate() {
        m.verify(t.name(), &r.sessions[i + 1], &rp, b"");
    }
    // TPML_DIGEST_VALUES: find the SHA-256 entry.
    let mut rd = Reader::new(r.parameters);
    let count = rd.u32("count").unwrap();
    let mut found = false;
    for _ in 0..count {
        let alg = rd.u16("alg").unwrap();
        let len = match alg {
            0x0004 => 20,
            0x000B => 32,
            0x000C => 48,
            0x000D => 64,
            _ => panic!("unexpected bank {alg:#x}"),
        };
        let d = rd.bytes(len, "digest").unwrap();
        if alg == 0x000B {
            assert_eq!(d, sha256(&[event]), "{}: PCR_Event digest", t.name());
            found = true;
        }
    }
    assert!(found, "{}: no SHA-256 digest", t.name());
    TpmRc::SUCCESS
}

/// TPM2_Hash(SHA-256, `data`, TPM_RH_NULL) with `s` as a decrypt and/or encrypt session; checks
/// the response HMAC and that the (decrypted) digest is SHA-256(data).
fn hash_via(t: &mut dyn Tpm, s: &mut Session, attrs: u8, data: &[u8]) {
    let cc = TpmCc::HASH;
    s.next();
    let mut params = tpm2::structures::Tpm2bMaxBuffer::new(data)
        .unwrap()
        .to_bytes();
    params.extend(TpmAlgId::SHA256.to_bytes());
    params.extend(TpmHandle::NULL.to_bytes());
    if attrs & DEC != 0 {
        s.encrypt_command(b"", &mut params);
    }
    let a = s.auth(&cp_hash(cc, &[], &params), b"", attrs, &[]);
    let rsp = exec(t, cc, &[], &[a], &params);
    let r = ok(t, cc, &rsp);
    s.verify(t.name(), &r.sessions[0], &rp_hash(cc, r.parameters), b"");
    assert_eq!(
        r.sessions[0].attributes,
        TpmaSession(attrs),
        "{}: attributes echoed",
        t.name()
    );
    let digest = if attrs & ENC != 0 {
        s.decrypt_response(b"", r.parameters)
    } else {
        r.parameters[2..34].to_vec()
    };
    assert_eq!(
        digest,
        sha256(&[data]),
        "{}: TPM2_Hash result ({:?})",
        t.name(),
        s.sym
    );
}

// ---------------------------------------------------------------------------------------------
// Flows
// ---------------------------------------------------------------------------------------------

/// Unsalted sessions: bound and unbound, HMAC authorization, decrypt and encrypt with AES-CFB
/// and XOR, the extra-nonce rule, policy digests, continueSession.
fn unsalted(t: &mut dyn Tpm, log: &mut Log) {
    // Bound to the owner hierarchy (empty ownerAuth): the session key is KDFa("", ...), not
    // empty, and PCR 16 is not the bind entity.
    let mut s = start(
        t,
        TpmHandle::NULL,
        TpmHandle::OWNER,
        &[],
        0,
        Sym::Aes128,
        Some(b""),
    );
    log.rc(
        &format!("first session handle {:#010x}", s.handle.0),
        TpmRc::SUCCESS,
    );
    log.rc(
        "PCR_Event, HMAC",
        pcr_event(t, &mut s, CONT, &mut [], b"plain event"),
    );
    log.rc(
        "PCR_Event, HMAC + decrypt",
        pcr_event(t, &mut s, CONT | DEC, &mut [], b"secret event"),
    );
    hash_via(t, &mut s, CONT | DEC | ENC, b"data for TPM2_Hash, AES");
    hash_via(t, &mut s, CONT | ENC, b"only the response is encrypted");

    let mut x = start(
        t,
        TpmHandle::NULL,
        TpmHandle::OWNER,
        &[],
        0,
        Sym::Xor,
        Some(b""),
    );
    hash_via(t, &mut x, CONT | DEC | ENC, b"data for TPM2_Hash, XOR");
    // x decrypts for s: s's HMAC includes x's nonceTPM. x has continueSession clear and ends
    // with this command.
    let rc = pcr_event(t, &mut s, CONT, &mut [(&mut x, DEC)], b"two sessions");
    log.rc("PCR_Event, auth session + XOR decrypt session", rc);
    log.rc(
        "the ended decrypt session",
        pcr_event(t, &mut x, CONT, &mut [], b"x"),
    );

    // An unbound, unsalted session has an empty key: an empty HMAC is accepted for an entity
    // with an empty authValue.
    let mut u = start(t, TpmHandle::NULL, TpmHandle::NULL, &[], 0, Sym::Null, None);
    log.rc(
        "PCR_Event, unbound unsalted",
        pcr_event(t, &mut u, CONT, &mut [], b"u"),
    );
    u.next();
    let params = Tpm2bData::new(b"empty hmac").unwrap().to_bytes();
    let empty = TpmsAuthCommand {
        session_handle: u.handle,
        nonce: Tpm2bNonce::new(&u.nonce_caller).unwrap(),
        attributes: TpmaSession(0),
        hmac: Tpm2bAuth::empty(),
    };
    let rsp = exec(t, TpmCc::PCR_EVENT, &[PCR16], &[empty], &params);
    log.rc("PCR_Event, empty HMAC with empty key, session ends", rsp.0);
    let r = ok(t, TpmCc::PCR_EVENT, &rsp);
    assert!(
        r.sessions[0].hmac.is_empty(),
        "{}: empty response HMAC",
        t.name()
    );
    assert_eq!(r.sessions[0].attributes, TpmaSession(0));

    // Policy and trial sessions (s, p and trial fill the three session slots).
    let p = start(t, TpmHandle::NULL, TpmHandle::NULL, &[], 1, Sym::Null, None);
    let mut trial = start(t, TpmHandle::NULL, TpmHandle::NULL, &[], 3, Sym::Null, None);
    for h in [p.handle, trial.handle] {
        let rsp = exec(t, TpmCc::POLICY_GET_DIGEST, &[h], &[], &[]);
        let r = ok(t, TpmCc::POLICY_GET_DIGEST, &rsp);
        assert_eq!(
            r.parameters,
            [&[0, 32][..], &[0; 32]].concat(),
            "{}: empty policy",
            t.name()
        );
        log.rc(
            "PolicyRestart",
            exec(t, TpmCc::POLICY_RESTART, &[h], &[], &[]).0,
        );
    }
    let rc = exec(t, TpmCc::POLICY_GET_DIGEST, &[s.handle], &[], &[]).0;
    log.rc("PolicyGetDigest on an HMAC session", rc);
    let rc = exec(
        t,
        TpmCc::POLICY_GET_DIGEST,
        &[TpmHandle(0x0300_0020)],
        &[],
        &[],
    )
    .0;
    log.rc("PolicyGetDigest on a missing session", rc);
    log.rc(
        "PCR_Event with a trial session",
        pcr_event(t, &mut trial, CONT, &mut [], b"t"),
    );
    let rc = exec(
        t,
        TpmCc::START_AUTH_SESSION,
        &[TpmHandle::NULL, TpmHandle::NULL],
        &[],
        &start_params(&[5; 16], &[], 0, TpmtSymDef::Null, TpmAlgId::SHA256),
    )
    .0;
    log.rc("a fourth session", rc);

    // continueSession clear: the session ends with the (successful) command.
    log.rc(
        "PCR_Event without continueSession",
        pcr_event(t, &mut s, 0, &mut [], b"last"),
    );
    log.rc(
        "the ended session again",
        pcr_event(t, &mut s, CONT, &mut [], b"gone"),
    );
    log.rc(
        "FlushContext of the trial session",
        exec(t, TpmCc::FLUSH_CONTEXT, &[], &[], &trial.handle.to_bytes()).0,
    );
}

/// Response codes for malformed StartAuthSession parameters and misused sessions.
fn errors(t: &mut dyn Tpm, log: &mut Log) {
    let null2 = [TpmHandle::NULL, TpmHandle::NULL];
    let aes = TpmtSymDef::AES_128_CFB;
    let sha = TpmAlgId::SHA256;
    let cc = TpmCc::START_AUTH_SESSION;
    let cases: [(&str, Vec<u8>); 10] = [
        ("nonce of 15", start_params(&[1; 15], &[], 0, aes, sha)),
        ("nonce of 33", start_params(&[1; 33], &[], 0, aes, sha)),
        (
            "SHA-1 nonce of 21",
            start_params(&[1; 21], &[], 0, aes, TpmAlgId::SHA1),
        ),
        (
            "salt without key",
            start_params(&[1; 16], &[1], 0, aes, sha),
        ),
        ("session type 2", start_params(&[1; 16], &[], 2, aes, sha)),
        (
            "AES-OFB",
            start_params(
                &[1; 16],
                &[],
                0,
                TpmtSymDef::Aes {
                    key_bits: 128,
                    mode: TpmAlgId::OFB,
                },
                sha,
            ),
        ),
        (
            "authHash NULL",
            start_params(&[1; 16], &[], 0, aes, TpmAlgId::NULL),
        ),
        (
            "symmetric RSA",
            [
                start_params(&[1; 16], &[], 0, TpmtSymDef::Null, sha)[..21].to_vec(),
                vec![0, 1, 0, 0xB],
            ]
            .concat(),
        ),
        (
            "AES key of 100 bits",
            [
                start_params(&[1; 16], &[], 0, TpmtSymDef::Null, sha)[..21].to_vec(),
                vec![0, 6, 0, 100, 0, 0x43, 0, 0xB],
            ]
            .concat(),
        ),
        (
            "trailing byte",
            [start_params(&[1; 16], &[], 0, aes, sha), vec![0]].concat(),
        ),
    ];
    for (what, p) in cases {
        log.rc(
            &format!("StartAuthSession, {what}"),
            exec(t, cc, &null2, &[], &p).0,
        );
    }

    let mut s = start(
        t,
        TpmHandle::NULL,
        TpmHandle::NULL,
        &[],
        0,
        Sym::Aes128,
        None,
    );
    s.next();
    let params = Tpm2bData::new(b"e").unwrap().to_bytes();
    let cp = cp_hash(TpmCc::PCR_EVENT, &[&PCR16.0.to_be_bytes()], &params);
    let good = s.auth(&cp, b"", CONT, &[]);
    let mut run = |what: &str, sessions: &[TpmsAuthCommand]| {
        let rc = exec(t, TpmCc::PCR_EVENT, &[PCR16], sessions, &params).0;
        log.rc(what, rc);
    };
    let with = |h: u32| TpmsAuthCommand {
        session_handle: TpmHandle(h),
        ..good.clone()
    };
    run("session handle not loaded", &[with(0x0200_0005)]);
    run(
        "second session not loaded",
        &[good.clone(), with(0x0200_0006)],
    );
    run(
        "HMAC session named as a policy session",
        &[with(0x0300_0000)],
    );
    run("an object handle as session handle", &[with(0x8000_0000)]);
    run("a hierarchy handle as session handle", &[with(0x4000_0001)]);
    run("the same session twice", &[good.clone(), good.clone()]);
    let mut pw = TpmsAuthCommand::password(Tpm2bAuth::empty());
    pw.nonce = Tpm2bNonce::new(&[1; 16]).unwrap();
    run("password with a nonce", &[pw]);
    let mut pw = TpmsAuthCommand::password(Tpm2bAuth::empty());
    pw.attributes = TpmaSession(CONT | ENC);
    run("password with encrypt", &[pw]);
    let mut bad = good.clone();
    bad.hmac = Tpm2bAuth::new(&[0; 32]).unwrap();
    run("wrong HMAC for a PCR", &[bad]);
    let mut short = good.clone();
    short.hmac = Tpm2bAuth::new(&[0; 31]).unwrap();
    run("HMAC of the wrong size", &[short]);
    run("no session for the authorization handle", &[]);
    let idle = start(t, TpmHandle::NULL, TpmHandle::NULL, &[], 0, Sym::Null, None);
    let idle_auth = TpmsAuthCommand {
        session_handle: idle.handle,
        nonce: Tpm2bNonce::new(&[2; 16]).unwrap(),
        attributes: TpmaSession(CONT),
        hmac: Tpm2bAuth::empty(),
    };
    let mut run = |what: &str, sessions: &[TpmsAuthCommand]| {
        let rc = exec(t, TpmCc::PCR_EVENT, &[PCR16], sessions, &params).0;
        log.rc(what, rc);
    };
    run(
        "an extra session that does nothing",
        &[good.clone(), idle_auth.clone()],
    );
    let mut enc_null = idle_auth.clone();
    enc_null.attributes = TpmaSession(CONT | ENC);
    run(
        "encrypt on a command without an encrypted response",
        &[good.clone(), enc_null.clone()],
    );
    let mut dec_null = idle_auth;
    dec_null.attributes = TpmaSession(CONT | DEC);
    run(
        "decrypt with a session without cipher",
        &[good.clone(), dec_null],
    );

    // Malformed authorization areas.
    let pw = TpmsAuthCommand::password(Tpm2bAuth::empty()).to_bytes();
    let raw = |area: &[u8], declared: usize| {
        let mut c = vec![0x80, 0x02, 0, 0, 0, 0];
        c.extend(TpmCc::PCR_EVENT.0.to_be_bytes());
        c.extend(PCR16.0.to_be_bytes());
        c.extend(u32::try_from(declared).unwrap().to_be_bytes());
        c.extend_from_slice(area);
        c.extend_from_slice(&params);
        let n = u32::try_from(c.len()).unwrap().to_be_bytes();
        c[2..6].copy_from_slice(&n);
        c
    };
    let mut reserved = pw.clone();
    reserved[6] |= 0x08;
    let mut long_nonce = vec![0x40, 0, 0, 9, 0, 65];
    long_nonce.extend([0; 65]);
    long_nonce.extend([1, 0, 0]);
    let four = [pw.clone(), pw.clone(), pw.clone(), pw.clone()].concat();
    let cases: [(&str, Vec<u8>); 7] = [
        ("authorizationSize 8", raw(&pw, 8)),
        ("authorizationSize past the end", raw(&pw, 200)),
        (
            "authorizationSize cutting a session",
            raw(&[pw.clone(), pw.clone()].concat(), 12),
        ),
        ("reserved session attribute", raw(&reserved, reserved.len())),
        ("nonce of 65 octets", raw(&long_nonce, long_nonce.len())),
        ("four sessions", raw(&four, four.len())),
        ("authorizationSize 0", raw(&[], 0)),
    ];
    for (what, c) in cases {
        let rsp = t.send(&c);
        log.rc(
            what,
            TpmRc(u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]])),
        );
    }

    // A decrypt session and a first parameter that is not all there.
    let dec = TpmsAuthCommand {
        session_handle: s.handle,
        nonce: Tpm2bNonce::new(&[9; 16]).unwrap(),
        attributes: TpmaSession(CONT | DEC),
        hmac: Tpm2bAuth::empty(),
    };
    for (what, p) in [("size past the end", vec![0, 200, 1]), ("no size", vec![0])] {
        let rc = exec(t, cc, &null2, std::slice::from_ref(&dec), &p).0;
        log.rc(&format!("encrypted parameter, {what}"), rc);
    }

    // Session slots: three are loaded at most.
    let mut started = 2;
    loop {
        let p = start_params(&[7; 16], &[], 0, aes, sha);
        let rc = exec(t, cc, &null2, &[], &p).0;
        if rc != TpmRc::SUCCESS {
            log.rc(&format!("StartAuthSession after {started} sessions"), rc);
            break;
        }
        started += 1;
        assert!(started < 100, "{}: no session limit", t.name());
    }

    // DA: a wrong HMAC for lockoutAuth disables lockoutAuth.
    let lock = TpmHandle::LOCKOUT;
    let lcc = TpmCc::DICTIONARY_ATTACK_LOCK_RESET;
    let lcp = cp_hash(lcc, &[&lock.0.to_be_bytes()], &[]);
    s.next();
    let mut dec = s.auth(&lcp, b"", CONT | DEC, &[]);
    log.rc(
        "decrypt on a command without a TPM2B parameter",
        exec(t, lcc, &[lock], &[dec.clone()], &[]).0,
    );
    dec = s.auth(&lcp, b"wrong", CONT, &[]);
    log.rc(
        "wrong HMAC for lockoutAuth",
        exec(t, lcc, &[lock], &[dec], &[]).0,
    );
    let right = s.auth(&lcp, b"", CONT, &[]);
    log.rc(
        "right HMAC for lockoutAuth after a failure",
        exec(t, lcc, &[lock], &[right], &[]).0,
    );
}

/// A storage primary key under the owner hierarchy (password authorization).
fn create_primary(t: &mut dyn Tpm, public: TpmtPublic) -> (TpmHandle, TpmtPublic, Vec<u8>) {
    let cc = TpmCc::CREATE_PRIMARY;
    let mut p = Tpm2bSensitiveCreate {
        sensitive: TpmsSensitiveCreate {
            user_auth: Tpm2bAuth::empty(),
            data: Tpm2bSensitiveData::empty(),
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
    let rsp = exec(t, cc, &[TpmHandle::OWNER], &[pw], &p);
    let r = ok(t, cc, &rsp);
    let mut rd = Reader::new(r.parameters);
    let out = Tpm2bPublic::unmarshal(&mut rd).unwrap();
    let _ = tpm2::structures::Tpm2bCreationData::unmarshal(&mut rd).unwrap();
    let _ = Tpm2bDigest::unmarshal(&mut rd).unwrap();
    let _ = tpm2::structures::TpmtTkCreation::unmarshal(&mut rd).unwrap();
    let name = Tpm2bName::unmarshal(&mut rd).unwrap();
    (r.handle.unwrap(), out.public_area, name.as_bytes().to_vec())
}

const STORAGE: u32 = TpmaObject::RESTRICTED
    | TpmaObject::DECRYPT
    | TpmaObject::USER_WITH_AUTH
    | TpmaObject::FIXED_TPM
    | TpmaObject::FIXED_PARENT
    | TpmaObject::SENSITIVE_DATA_ORIGIN
    | TpmaObject::NO_DA;

/// Sessions salted with an RSA-OAEP encrypted salt, unbound and bound to the key.
fn salted_rsa(t: &mut dyn Tpm, log: &mut Log) {
    let template = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(STORAGE),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Rsa {
            parameters: TpmsRsaParms {
                symmetric: TpmtSymDefObject::AES_128_CFB,
                scheme: TpmtRsaScheme::Null,
                key_bits: 2048,
                exponent: 0,
            },
            unique: Tpm2bPublicKeyRsa::empty(),
        },
    };
    let (key, public, _name) = create_primary(t, template);
    let PublicDetail::Rsa { unique, .. } = &public.detail else {
        panic!("not RSA")
    };
    let pk = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(unique.as_bytes()),
        rsa::BigUint::from(65537u32),
    )
    .unwrap();
    let mut rng = TestRng(1);
    let salt = sha256(&[b"the salt"]);
    let encrypted = pk
        .encrypt(
            &mut rng,
            rsa::Oaep::new_with_label::<Sha256, _>("SECRET\0"),
            &salt,
        )
        .unwrap();
    let mut s = start(
        t,
        key,
        TpmHandle::NULL,
        &encrypted,
        0,
        Sym::Aes128,
        Some(&salt),
    );
    log.rc(
        "PCR_Event, salted",
        pcr_event(t, &mut s, CONT | DEC, &mut [], b"salted event"),
    );
    hash_via(t, &mut s, CONT | DEC | ENC, b"salted TPM2_Hash");
    // Bound to the key (empty authValue) and salted: authValue || salt.
    let mut b = start(t, key, key, &encrypted, 0, Sym::Xor, Some(&salt));
    log.rc(
        "PCR_Event, salted and bound",
        pcr_event(t, &mut b, CONT | DEC, &mut [], b"bound"),
    );
    // Ciphertexts that do not decrypt.
    let mut bad = encrypted.clone();
    bad[100] ^= 0x40;
    let wrong_label = pk
        .encrypt(
            &mut rng,
            rsa::Oaep::new_with_label::<Sha256, _>("SECRET"),
            &salt,
        )
        .unwrap();
    let too_long = pk
        .encrypt(
            &mut rng,
            rsa::Oaep::new_with_label::<Sha256, _>("SECRET\0"),
            &[1; 33],
        )
        .unwrap();
    for (what, c) in [
        ("damaged", bad),
        ("wrong label", wrong_label),
        ("salt of 33", too_long),
    ] {
        let p = start_params(&[1; 16], &c, 0, TpmtSymDef::Null, TpmAlgId::SHA256);
        let rc = exec(
            t,
            TpmCc::START_AUTH_SESSION,
            &[key, TpmHandle::NULL],
            &[],
            &p,
        )
        .0;
        log.rc(&format!("StartAuthSession, {what} salt"), rc);
    }
    let p = start_params(&[1; 16], &[], 0, TpmtSymDef::Null, TpmAlgId::SHA256);
    let rc = exec(
        t,
        TpmCc::START_AUTH_SESSION,
        &[key, TpmHandle::NULL],
        &[],
        &p,
    )
    .0;
    log.rc("StartAuthSession, key without salt", rc);
}

/// A session salted with an ECDH-derived salt (KDFe).
fn salted_ecc(t: &mut dyn Tpm, log: &mut Log) {
    let template = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(STORAGE),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::AES_128_CFB,
                scheme: TpmtEccScheme::Null,
                curve_id: TpmEccCurve::NIST_P256,
                kdf: TpmtKdfScheme::Null,
            },
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::empty(),
                y: Tpm2bEccParameter::empty(),
            },
        },
    };
    let (key, public, _name) = create_primary(t, template);
    let PublicDetail::Ecc { unique, .. } = &public.detail else {
        panic!("not ECC")
    };
    let mut sec1 = vec![4u8];
    for c in [&unique.x, &unique.y] {
        let b = c.as_bytes();
        sec1.extend(std::iter::repeat_n(0, 32 - b.len()));
        sec1.extend_from_slice(b);
    }
    let qs = p256::PublicKey::from_sec1_bytes(&sec1).unwrap();
    let eph = p256::SecretKey::random(&mut TestRng(7));
    let qe = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&eph.public_key(), false);
    let z = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), qs.as_affine());
    let (qe_x, qe_y) = (qe.x().unwrap().to_vec(), qe.y().unwrap().to_vec());
    // KDFe(SHA-256, Z, "SECRET", QeU.x, QsV.x, 256): one block.
    let salt = sha256(&[
        &1u32.to_be_bytes(),
        z.raw_secret_bytes().as_slice(),
        b"SECRET\0",
        &qe_x,
        &sec1[1..33],
    ]);
    let point = TpmsEccPoint {
        x: Tpm2bEccParameter::new(&qe_x).unwrap(),
        y: Tpm2bEccParameter::new(&qe_y).unwrap(),
    };
    let mut s = start(
        t,
        key,
        TpmHandle::NULL,
        &point.to_bytes(),
        0,
        Sym::Aes128,
        Some(&salt),
    );
    log.rc(
        "PCR_Event, ECC-salted",
        pcr_event(t, &mut s, CONT | DEC, &mut [], b"ecc event"),
    );
    hash_via(t, &mut s, CONT | ENC, b"ecc-salted TPM2_Hash");
    let mut off = point.clone();
    off.y = Tpm2bEccParameter::new(&[3; 32]).unwrap();
    let p = start_params(
        &[1; 16],
        &off.to_bytes(),
        0,
        TpmtSymDef::Null,
        TpmAlgId::SHA256,
    );
    let rc = exec(
        t,
        TpmCc::START_AUTH_SESSION,
        &[key, TpmHandle::NULL],
        &[],
        &p,
    )
    .0;
    log.rc("StartAuthSession, point off the curve", rc);
}

/// Audit sessions (exclusivity as reported in the response attributes) and a session that
/// goes through TPM2_ContextSave / TPM2_ContextLoad between two uses, as a resource manager
/// does.
fn audit_and_context(t: &mut dyn Tpm, log: &mut Log) {
    let mut a = start(
        t,
        TpmHandle::NULL,
        TpmHandle::OWNER,
        &[],
        0,
        Sym::Aes128,
        Some(b""),
    );
    let audit = CONT | TpmaSession::AUDIT;
    for round in 0..4 {
        if round == 2 {
            // A command with sessions allowed and no audit session ends exclusivity.
            let mut other = start(t, TpmHandle::NULL, TpmHandle::NULL, &[], 0, Sym::Null, None);
            log.rc(
                "PCR_Event, no audit",
                pcr_event(t, &mut other, 0, &mut [], b"other"),
            );
        }
        let attrs = if round == 3 {
            audit | TpmaSession::AUDIT_RESET
        } else {
            audit
        };
        let rc = pcr_event(t, &mut a, attrs, &mut [], b"audited");
        log.rc(&format!("PCR_Event, audit round {round}"), rc);
        // pcr_event verified the response HMAC over the echoed attributes; record them.
        writeln!(log.0, "  response attributes {:#04x}", a.last).unwrap();
    }
    let mut ex = start(t, TpmHandle::NULL, TpmHandle::NULL, &[], 0, Sym::Null, None);
    let rc = pcr_event(
        t,
        &mut ex,
        CONT | TpmaSession::AUDIT | TpmaSession::AUDIT_EXCLUSIVE,
        &mut [],
        b"x",
    );
    log.rc(
        "auditExclusive on a new audit session (it becomes exclusive)",
        rc,
    );
    let ax = CONT | TpmaSession::AUDIT | TpmaSession::AUDIT_EXCLUSIVE;
    let rc = pcr_event(t, &mut a, ax, &mut [], b"x");
    log.rc(
        "auditExclusive on a session that is no longer exclusive",
        rc,
    );

    // ContextSave, ContextLoad, and the session goes on.
    let rsp = exec(t, TpmCc::CONTEXT_SAVE, &[a.handle], &[], &[]);
    let r = ok(t, TpmCc::CONTEXT_SAVE, &rsp);
    let blob = r.parameters.to_vec();
    log.rc(
        "PCR_Event while saved",
        pcr_event(t, &mut a, CONT, &mut [], b"saved"),
    );
    let rsp = exec(t, TpmCc::CONTEXT_LOAD, &[], &[], &blob);
    let r = ok(t, TpmCc::CONTEXT_LOAD, &rsp);
    assert_eq!(
        r.handle,
        Some(a.handle),
        "{}: same handle after ContextLoad",
        t.name()
    );
    log.rc(
        "PCR_Event after ContextLoad",
        pcr_event(t, &mut a, CONT | DEC, &mut [], b"back"),
    );
    let rc = exec(t, TpmCc::CONTEXT_LOAD, &[], &[], &blob).0;
    log.rc("ContextLoad of the old context", rc);
}

/// Policy sessions with an empty policy against keys whose authPolicy is (not) the empty
/// policy digest, and a key without userWithAuth.
fn policy(t: &mut dyn Tpm, log: &mut Log) {
    let hmac_key = |policy: &[u8]| TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(
            TpmaObject::SIGN
                | TpmaObject::FIXED_TPM
                | TpmaObject::FIXED_PARENT
                | TpmaObject::SENSITIVE_DATA_ORIGIN
                | TpmaObject::NO_DA,
        ),
        auth_policy: Tpm2bDigest::new(policy).unwrap(),
        detail: PublicDetail::KeyedHash {
            parameters: tpm2::structures::TpmsKeyedhashParms {
                scheme: tpm2::structures::TpmtKeyedhashScheme::Hmac(
                    tpm2::structures::TpmsSchemeHash {
                        hash_alg: TpmAlgId::SHA256,
                    },
                ),
            },
            unique: Tpm2bDigest::empty(),
        },
    };
    let (good, _, _) = create_primary(t, hmac_key(&[0; 32]));
    let (other, _, _) = create_primary(t, hmac_key(&[1; 32]));
    let mut p = start(t, TpmHandle::NULL, TpmHandle::NULL, &[], 1, Sym::Null, None);
    let mut params = tpm2::structures::Tpm2bMaxBuffer::new(b"message")
        .unwrap()
        .to_bytes();
    params.extend(TpmAlgId::SHA256.to_bytes());
    let hmac = |t: &mut dyn Tpm, key: TpmHandle, s: TpmsAuthCommand| {
        exec(t, TpmCc::HMAC, &[key], &[s], &params).0
    };
    let pw = TpmsAuthCommand::password(Tpm2bAuth::empty());
    log.rc("HMAC with a password, no userWithAuth", hmac(t, good, pw));
    for round in 0..2 {
        p.next();
        let empty = TpmsAuthCommand {
            session_handle: p.handle,
            nonce: Tpm2bNonce::new(&p.nonce_caller).unwrap(),
            attributes: TpmaSession(CONT),
            hmac: Tpm2bAuth::empty(),
        };
        log.rc(
            &format!("HMAC with the empty policy, round {round}"),
            hmac(t, good, empty.clone()),
        );
        log.rc("HMAC with another policy", hmac(t, other, empty));
    }
}

#[test]
fn unsalted_sessions_match_swtpm() {
    cross_check("SESSIONS_VERBOSE", unsalted);
}

#[test]
fn session_errors_match_swtpm() {
    cross_check("SESSIONS_VERBOSE", errors);
}

#[test]
fn rsa_salted_sessions_match_swtpm() {
    cross_check("SESSIONS_VERBOSE", salted_rsa);
}

#[test]
fn ecc_salted_sessions_match_swtpm() {
    cross_check("SESSIONS_VERBOSE", salted_ecc);
}

#[test]
fn audit_and_context_match_swtpm() {
    cross_check("SESSIONS_VERBOSE", audit_and_context);
}

#[test]
fn policy_sessions_match_swtpm() {
    cross_check("SESSIONS_VERBOSE", policy);
}

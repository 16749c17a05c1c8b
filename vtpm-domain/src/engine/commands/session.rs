//! Session commands and dictionary-attack administration (TCG TPM 2.0 Library part 3):
//!
//! - §11.1 TPM2_StartAuthSession: HMAC, policy and trial sessions, bound and/or salted. The salt
//!   arrives encrypted to `tpmKey` (part 1 §24 "Secret sharing"): RSA-OAEP with the label
//!   "SECRET\0" and the key's scheme hash (its nameAlg when the scheme is TPM_ALG_NULL), or for
//!   an ECC key an ephemeral point QeU with `salt = KDFe(nameAlg, Z, "SECRET", QeU.x, QsV.x,
//!   digest bits)` where Z is the x-coordinate of `d * QeU`.
//! - §11.2 TPM2_PolicyRestart, §23.19 TPM2_PolicyGetDigest.
//! - §25.2 TPM2_DictionaryAttackLockReset, §25.3 TPM2_DictionaryAttackParameters.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSe;
use tpm2::structures::{Tpm2bDigest, Tpm2bEncryptedSecret, Tpm2bNonce, TpmaObject, TpmtSymDef};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::engine::auth;
use crate::engine::crypto::hash::HashAlg;
use crate::engine::dispatch::{Ctx, Entry};
use crate::engine::entity::{self, HandleKind};
use crate::engine::object::Object;
use crate::engine::session::{self, BoundEntity, Session, SessionKind};
use crate::engine::state::Secret;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::START_AUTH_SESSION,
        handles: &[HandleKind::ObjectOrNull, HandleKind::EntityOrNull],
        roles: &[],
        nv: false,
        handler: start_auth_session,
    },
    Entry {
        cc: TpmCc::POLICY_RESTART,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_restart,
    },
    Entry {
        cc: TpmCc::POLICY_GET_DIGEST,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_get_digest,
    },
    Entry {
        cc: TpmCc::DICTIONARY_ATTACK_LOCK_RESET,
        handles: &[HandleKind::Lockout],
        roles: &[],
        nv: true,
        handler: dictionary_attack_lock_reset,
    },
    Entry {
        cc: TpmCc::DICTIONARY_ATTACK_PARAMETERS,
        handles: &[HandleKind::Lockout],
        roles: &[],
        nv: true,
        handler: dictionary_attack_parameters,
    },
];

/// The label of secrets shared with a TPM key (part 1 §24), with its terminating zero.
const SECRET_LABEL: &[u8] = b"SECRET\0";

/// Recovers the salt of TPM2_StartAuthSession. Any failure is TPM_RC_VALUE, an ephemeral
/// point off the curve included, as libtpms answers (the caller adds the parameter number of
/// encryptedSalt).
fn decrypt_salt(obj: &Object, encrypted: &[u8]) -> Result<Secret, TpmRc> {
    crate::engine::secret::decrypt(obj, SECRET_LABEL, encrypted).map_err(|_| TpmRc::VALUE)
}

/// TPM2_StartAuthSession (part 3 §11.1).
fn start_auth_session(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let tpm_key = ctx.handles[0];
    let bind = ctx.handles[1];
    let nonce_caller: Tpm2bNonce = ctx.param()?;
    let encrypted_salt: Tpm2bEncryptedSecret = ctx.param()?;
    let session_type: TpmSe = ctx.param()?;
    let kind = match session_type {
        TpmSe::HMAC => SessionKind::Hmac,
        TpmSe::POLICY => SessionKind::Policy,
        TpmSe::TRIAL => SessionKind::Trial,
        _ => return Err(TpmRc::VALUE.with_parameter(3)),
    };
    let symmetric = ctx.param_with(TpmtSymDef::unmarshal_allow_null)?;
    let auth_hash: TpmAlgId = ctx.param()?;
    let hash = HashAlg::from_alg(auth_hash).ok_or(TpmRc::HASH.with_parameter(5))?;
    ctx.finish()?;

    // nonceCaller: at least 16 octets, at most the digest size of authHash.
    let nonce_len = nonce_caller.len();
    if nonce_len < 16 || nonce_len > hash.digest_size() {
        return Err(TpmRc::SIZE.with_parameter(1));
    }

    let salt = if tpm_key == TpmHandle::NULL {
        if !encrypted_salt.is_empty() {
            return Err(TpmRc::VALUE.with_parameter(2));
        }
        Zeroizing::new(Vec::new())
    } else {
        let obj = e
            .state
            .object(tpm_key)
            .ok_or(TpmRc::HANDLE.with_handle(1))?;
        if !matches!(obj.public.object_type(), TpmAlgId::RSA | TpmAlgId::ECC) {
            return Err(TpmRc::KEY.with_handle(1));
        }
        if encrypted_salt.is_empty() {
            return Err(TpmRc::VALUE.with_parameter(2));
        }
        if obj.public_only {
            return Err(TpmRc::HANDLE.with_handle(1));
        }
        if !obj.public.object_attributes.has(TpmaObject::DECRYPT) {
            return Err(TpmRc::ATTRIBUTES.with_handle(1));
        }
        decrypt_salt(obj, encrypted_salt.as_bytes()).map_err(|rc| rc.with_parameter(2))?
    };

    if bind != TpmHandle::NULL && e.state.object(bind).is_some_and(|o| o.public_only) {
        return Err(TpmRc::HANDLE.with_handle(2));
    }

    match symmetric {
        TpmtSymDef::Null | TpmtSymDef::Xor { .. } => {}
        TpmtSymDef::Aes { mode, .. } => {
            if mode != TpmAlgId::CFB {
                return Err(TpmRc::MODE.with_parameter(4));
            }
        }
        // SM4 and Camellia are not implemented.
        _ => return Err(TpmRc::SYMMETRIC.with_parameter(4)),
    }

    let handle = session::new_handle(&e.state.vol.sessions, kind)?;
    let nonce_tpm = e.random_vec(nonce_len);
    let bind_auth = (bind != TpmHandle::NULL).then(|| auth::auth_value(e, bind));
    let key = session::session_key(
        hash,
        bind_auth.as_ref().map(|a| a.as_slice()),
        &salt,
        &nonce_tpm,
        nonce_caller.as_bytes(),
    );
    let mut s = Session::new(
        kind,
        hash,
        nonce_tpm.clone(),
        key,
        symmetric,
        e.state.perm.clock,
    );
    if let Some(auth) = bind_auth {
        if kind == SessionKind::Hmac {
            s.bound = Some(BoundEntity {
                name: entity::name(e, bind),
                auth,
            });
        }
        s.da_bound = !auth::da_exempt(e, bind);
        s.lockout_bound = s.da_bound && bind == TpmHandle::LOCKOUT;
    }
    e.state.vol.sessions.insert(handle.0, s);
    ctx.out_handle = Some(handle);
    ctx.put(&Tpm2bNonce::new(&nonce_tpm).map_err(|_| TpmRc::FAILURE)?);
    Ok(())
}

/// TPM2_PolicyRestart (part 3 §11.2): forgets the assertions of a policy session,
/// keeping its nonce.
fn policy_restart(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let s = e
        .state
        .vol
        .sessions
        .get_mut(&ctx.handles[0].0)
        .ok_or(TpmRc::HANDLE.with_handle(1))?;
    s.reset_policy();
    Ok(())
}

/// TPM2_PolicyGetDigest (part 3 §23.19): the policyDigest of a policy or trial session.
fn policy_get_digest(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let s = e
        .state
        .vol
        .sessions
        .get(&ctx.handles[0].0)
        .ok_or(TpmRc::HANDLE.with_handle(1))?;
    let d = Tpm2bDigest::new(&s.policy.digest).map_err(|_| TpmRc::FAILURE)?;
    ctx.put(&d);
    Ok(())
}

/// TPM2_DictionaryAttackLockReset (part 3 §25.2): failedTries back to zero.
fn dictionary_attack_lock_reset(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    e.state.perm.da.failed_tries = 0;
    Ok(())
}

/// TPM2_DictionaryAttackParameters (part 3 §25.3): maxTries, recoveryTime and
/// lockoutRecovery.
fn dictionary_attack_parameters(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let max_tries: u32 = ctx.param()?;
    let recovery_time: u32 = ctx.param()?;
    let lockout_recovery: u32 = ctx.param()?;
    ctx.finish()?;
    let da = &mut e.state.perm.da;
    da.max_tries = max_tries;
    da.recovery_time = recovery_time;
    da.lockout_recovery = lockout_recovery;
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
mod tests {
    //! End-to-end session tests. Every digest, key and HMAC the TPM is expected to produce is
    //! recomputed here with the `sha2`, `hmac`, `aes` and `cfb-mode` crates directly, not with
    //! the engine's own crypto module.

    use super::*;
    use alloc::boxed::Box;
    use alloc::vec;

    use cipher::{AsyncStreamCipher, KeyIvInit};
    use hmac::Mac;
    use sha2::Digest;
    use tpm2::auth::{TpmaSession, TpmsAuthCommand, TpmsAuthResponse};
    use tpm2::response::Response;
    use tpm2::structures::{PublicDetail, TpmsEccPoint, TpmtRsaScheme};
    use tpm2::structures::{
        Tpm2bAuth, Tpm2bEccParameter, Tpm2bPublicKeyRsa, TpmsEccParms, TpmsKeyedhashParms,
        TpmsRsaParms, TpmtEccScheme, TpmtKdfScheme, TpmtKeyedhashScheme, TpmtPublic,
        TpmtSymDefObject,
    };
    use tpm2::{Marshal, Unmarshal, st::TpmEccCurve};

    use crate::engine::crypto::ecc::{Curve, EccPrivate};
    use crate::engine::crypto::kdf::KdfaStream;
    use crate::engine::crypto::rsa::RsaPrivate;
    use crate::engine::object::Sensitive;
    use crate::engine::testutil::{self, Clock, TestPlatform, expect_rc, pw_with, run};

    type HmacSha256 = hmac::Hmac<sha2::Sha256>;

    fn sha256(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }

    fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut m = HmacSha256::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }

    /// KDFa with HMAC-SHA-256 (part 1 §11.4.10.2), written out independently.
    fn kdfa256(key: &[u8], label: &[u8], u: &[u8], v: &[u8], bits: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 1u32;
        while out.len() * 8 < bits as usize {
            out.extend(hmac256(
                key,
                &[&i.to_be_bytes(), label, &[0], u, v, &bits.to_be_bytes()],
            ));
            i += 1;
        }
        out.truncate(bits as usize / 8);
        out
    }

    fn aes_cfb(key: &[u8], iv: &[u8], data: &mut [u8], encrypt: bool) {
        match (key.len(), encrypt) {
            (16, true) => {
                cfb_mode::Encryptor::<aes::Aes128>::new(key.into(), iv.into()).encrypt(data);
            }
            (16, false) => {
                cfb_mode::Decryptor::<aes::Aes128>::new(key.into(), iv.into()).decrypt(data);
            }
            (32, true) => {
                cfb_mode::Encryptor::<aes::Aes256>::new(key.into(), iv.into()).encrypt(data);
            }
            (32, false) => {
                cfb_mode::Decryptor::<aes::Aes256>::new(key.into(), iv.into()).decrypt(data);
            }
            _ => panic!("key size"),
        }
    }

    const CONT: u8 = TpmaSession::CONTINUE_SESSION;
    const SEALED_HANDLE: TpmHandle = TpmHandle(0x8000_0000);
    const KEY_HANDLE: TpmHandle = TpmHandle(0x8000_0001);
    const USER_WITH_AUTH: u32 = TpmaObject::USER_WITH_AUTH;

    /// The caller's side of one session.
    struct Sess {
        handle: TpmHandle,
        nonce_tpm: Vec<u8>,
        nonce_caller: Vec<u8>,
        key: Vec<u8>,
        counter: u8,
    }

    impl Sess {
        /// A fresh caller nonce for the next command.
        fn roll(&mut self) {
            self.counter += 1;
            self.nonce_caller = vec![self.counter; 16];
        }

        /// The authorization for a command with this cpHash.
        fn auth(&self, cp: &[u8], auth: &[u8], attrs: u8, extra: &[&[u8]]) -> TpmsAuthCommand {
            let key = [self.key.as_slice(), auth].concat();
            let mut parts: Vec<&[u8]> = vec![cp, &self.nonce_caller, &self.nonce_tpm];
            parts.extend_from_slice(extra);
            parts.push(core::slice::from_ref(&attrs));
            TpmsAuthCommand {
                session_handle: self.handle,
                nonce: Tpm2bNonce::new(&self.nonce_caller).unwrap(),
                attributes: TpmaSession(attrs),
                hmac: Tpm2bAuth::new(&hmac256(&key, &parts)).unwrap(),
            }
        }

        /// Checks the response session and takes the new nonceTPM.
        fn check(&mut self, rsp: &TpmsAuthResponse, rp: &[u8], auth: &[u8]) {
            let key = [self.key.as_slice(), auth].concat();
            let expected = hmac256(
                &key,
                &[
                    rp,
                    rsp.nonce.as_bytes(),
                    &self.nonce_caller,
                    &[rsp.attributes.0],
                ],
            );
            assert_eq!(rsp.hmac.as_bytes(), expected, "response HMAC");
            assert_ne!(rsp.nonce.as_bytes(), self.nonce_tpm, "nonceTPM rolled");
            assert_eq!(rsp.nonce.len(), self.nonce_tpm.len());
            self.nonce_tpm = rsp.nonce.as_bytes().to_vec();
        }
    }

    fn cp(cc: TpmCc, names: &[&[u8]], params: &[u8]) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = Vec::new();
        let code = cc.0.to_be_bytes();
        parts.push(&code);
        parts.extend_from_slice(names);
        parts.push(params);
        sha256(&parts)
    }

    fn rp(cc: TpmCc, params: &[u8]) -> Vec<u8> {
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

    /// TPM2_StartAuthSession with SHA-256; `key_material` is bind authValue || salt (None:
    /// unbound and unsalted).
    fn start(
        e: &mut Engine,
        tpm_key: TpmHandle,
        bind: TpmHandle,
        encrypted_salt: &[u8],
        se: u8,
        sym: TpmtSymDef,
        key_material: Option<&[u8]>,
    ) -> Sess {
        let nonce_caller = vec![0xA5u8; 16];
        let params = start_params(&nonce_caller, encrypted_salt, se, sym, TpmAlgId::SHA256);
        let (rc, rsp) = run(e, TpmCc::START_AUTH_SESSION, &[tpm_key, bind], &[], &params);
        assert_eq!(rc, TpmRc::SUCCESS, "StartAuthSession: {rc}");
        let r = Response::parse(&rsp, TpmCc::START_AUTH_SESSION).unwrap();
        let nonce_tpm = Tpm2bNonce::from_bytes(r.parameters)
            .unwrap()
            .as_bytes()
            .to_vec();
        assert_eq!(nonce_tpm.len(), 16, "nonceTPM has the size of nonceCaller");
        let key = key_material
            .map(|m| kdfa256(m, b"ATH", &nonce_tpm, &nonce_caller, 256))
            .unwrap_or_default();
        Sess {
            handle: r.handle.unwrap(),
            nonce_tpm,
            nonce_caller,
            key,
            counter: 0,
        }
    }

    fn hmac_session(e: &mut Engine) -> Sess {
        start(
            e,
            TpmHandle::NULL,
            TpmHandle::NULL,
            &[],
            0,
            TpmtSymDef::AES_128_CFB,
            None,
        )
    }

    fn keyed_hash_public(attrs: u32, policy: &[u8]) -> TpmtPublic {
        TpmtPublic {
            name_alg: TpmAlgId::SHA256,
            object_attributes: TpmaObject(attrs),
            auth_policy: Tpm2bDigest::new(policy).unwrap(),
            detail: PublicDetail::KeyedHash {
                parameters: TpmsKeyedhashParms {
                    scheme: TpmtKeyedhashScheme::Null,
                },
                unique: Tpm2bDigest::new(&[0x55; 32]).unwrap(),
            },
        }
    }

    fn insert(e: &mut Engine, h: TpmHandle, public: TpmtPublic, auth: &[u8], private: &[u8]) {
        let sensitive = Sensitive {
            auth: Zeroizing::new(auth.to_vec()),
            seed_value: Zeroizing::new(vec![1; 32]),
            private: Zeroizing::new(private.to_vec()),
        };
        let obj = Object::new(
            public,
            &TpmHandle::OWNER.0.to_be_bytes(),
            TpmHandle::OWNER,
            sensitive,
        );
        e.state.vol.objects.insert(h.0, obj);
    }

    /// A sealed data object (userWithAuth, DA-protected unless `attrs` says otherwise).
    fn insert_sealed(e: &mut Engine, auth: &[u8], attrs: u32, policy: &[u8]) -> Vec<u8> {
        insert(
            e,
            SEALED_HANDLE,
            keyed_hash_public(attrs, policy),
            auth,
            b"sealed secret",
        );
        e.state.object(SEALED_HANDLE).unwrap().name.clone()
    }

    /// Runs TPM2_Unseal on the sealed object with `sessions`.
    fn unseal(e: &mut Engine, sessions: &[TpmsAuthCommand]) -> (TpmRc, Vec<u8>) {
        run(e, TpmCc::UNSEAL, &[SEALED_HANDLE], sessions, &[])
    }

    fn engine_with_clock() -> (Engine, Clock) {
        let p = TestPlatform::new(11);
        let clock = p.clock();
        let mut e = Engine::manufacture(Box::new(p));
        let (rc, _) = run(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0]);
        assert_eq!(rc, TpmRc::SUCCESS);
        (e, clock)
    }

    #[test]
    fn start_auth_session_parameter_checks() {
        let mut e = testutil::engine();
        let null2 = [TpmHandle::NULL, TpmHandle::NULL];
        let aes = TpmtSymDef::AES_128_CFB;
        let cc = TpmCc::START_AUTH_SESSION;
        let sha = TpmAlgId::SHA256;
        let bad_nonces: [&[u8]; 2] = [&[1; 15], &[1; 33]];
        for nonce in bad_nonces {
            let p = start_params(nonce, &[], 0, aes, sha);
            expect_rc(&mut e, cc, &null2, &[], &p, TpmRc::SIZE.with_parameter(1));
        }
        let p = start_params(&[1; 16], &[1, 2], 0, aes, sha);
        expect_rc(&mut e, cc, &null2, &[], &p, TpmRc::VALUE.with_parameter(2));
        let p = start_params(&[1; 16], &[], 2, aes, sha);
        expect_rc(&mut e, cc, &null2, &[], &p, TpmRc::VALUE.with_parameter(3));
        let ofb = TpmtSymDef::Aes {
            key_bits: 128,
            mode: TpmAlgId::OFB,
        };
        let p = start_params(&[1; 16], &[], 0, ofb, sha);
        expect_rc(&mut e, cc, &null2, &[], &p, TpmRc::MODE.with_parameter(4));
        let p = start_params(&[1; 16], &[], 0, aes, TpmAlgId::NULL);
        expect_rc(&mut e, cc, &null2, &[], &p, TpmRc::HASH.with_parameter(5));
        // A SHA-1 session takes at most 20 octets of nonce.
        let p = start_params(&[1; 21], &[], 0, aes, TpmAlgId::SHA1);
        expect_rc(&mut e, cc, &null2, &[], &p, TpmRc::SIZE.with_parameter(1));
        // The sessions count from index 0 in one space shared by both types.
        let a = hmac_session(&mut e);
        assert_eq!(a.handle, TpmHandle(0x0200_0000));
        let b = start(&mut e, TpmHandle::NULL, TpmHandle::NULL, &[], 1, aes, None);
        assert_eq!(b.handle, TpmHandle(0x0300_0001));
        let c = start(
            &mut e,
            TpmHandle::NULL,
            TpmHandle::NULL,
            &[],
            3,
            TpmtSymDef::Null,
            None,
        );
        assert_eq!(c.handle, TpmHandle(0x0300_0002));
        let p = start_params(&[1; 16], &[], 0, aes, sha);
        expect_rc(&mut e, cc, &null2, &[], &p, TpmRc::SESSION_MEMORY);
    }

    #[test]
    fn hmac_session_authorizes_with_auth_value_and_rolls_nonces() {
        let mut e = testutil::engine();
        e.state.perm.lockout_auth = Zeroizing::new(b"lockpw".to_vec());
        let mut s = hmac_session(&mut e);
        let lockout = TpmHandle::LOCKOUT.0.to_be_bytes();
        for round in 0..3u32 {
            s.roll();
            let params = [
                (5 + round).to_be_bytes(),
                60u32.to_be_bytes(),
                70u32.to_be_bytes(),
            ]
            .concat();
            let cc = TpmCc::DICTIONARY_ATTACK_PARAMETERS;
            let a = s.auth(&cp(cc, &[&lockout], &params), b"lockpw", CONT, &[]);
            let (rc, rsp) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[a], &params);
            assert_eq!(rc, TpmRc::SUCCESS);
            let r = Response::parse(&rsp, cc).unwrap();
            assert_eq!(r.sessions.len(), 1);
            assert_eq!(r.sessions[0].attributes, TpmaSession(CONT));
            s.check(&r.sessions[0], &rp(cc, &[]), b"lockpw");
            assert_eq!(e.state.perm.da.max_tries, 5 + round);
            assert_eq!(e.state.perm.da.recovery_time, 60);
        }
        // Trailing zeros of the authValue do not count (neither in the HMAC key nor here).
        s.roll();
        let cc = TpmCc::DICTIONARY_ATTACK_LOCK_RESET;
        let a = s.auth(&cp(cc, &[&lockout], &[]), b"lockpw", CONT, &[]);
        e.state.perm.lockout_auth = Zeroizing::new(b"lockpw\0\0".to_vec());
        let (rc, rsp) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[a], &[]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, cc).unwrap();
        s.check(&r.sessions[0], &rp(cc, &[]), b"lockpw");
    }

    #[test]
    fn empty_key_allows_an_empty_hmac() {
        let mut e = testutil::engine();
        let mut s = hmac_session(&mut e);
        s.roll();
        let cc = TpmCc::DICTIONARY_ATTACK_LOCK_RESET;
        let a = TpmsAuthCommand {
            session_handle: s.handle,
            nonce: Tpm2bNonce::new(&s.nonce_caller).unwrap(),
            attributes: TpmaSession(CONT),
            hmac: Tpm2bAuth::empty(),
        };
        let (rc, rsp) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[a], &[]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, cc).unwrap();
        assert!(r.sessions[0].hmac.is_empty());
        // An HMAC computed with the empty key is accepted too.
        s.nonce_tpm = r.sessions[0].nonce.as_bytes().to_vec();
        s.roll();
        let lockout = TpmHandle::LOCKOUT.0.to_be_bytes();
        let a = s.auth(&cp(cc, &[&lockout], &[]), b"", CONT, &[]);
        let (rc, rsp) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[a], &[]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, cc).unwrap();
        s.check(&r.sessions[0], &rp(cc, &[]), b"");
    }

    #[test]
    fn wrong_hmac_on_lockout_blocks_lockout_auth_until_recovery() {
        let (mut e, clock) = engine_with_clock();
        e.state.perm.lockout_auth = Zeroizing::new(b"lockpw".to_vec());
        let mut s = hmac_session(&mut e);
        let lockout = TpmHandle::LOCKOUT.0.to_be_bytes();
        let cc = TpmCc::DICTIONARY_ATTACK_LOCK_RESET;
        s.roll();
        let bad = s.auth(&cp(cc, &[&lockout], &[]), b"wrong", CONT, &[]);
        e.take_dirty();
        expect_rc(
            &mut e,
            cc,
            &[TpmHandle::LOCKOUT],
            &[bad],
            &[],
            TpmRc::AUTH_FAIL.with_session(1),
        );
        assert!(e.take_dirty(), "a DA failure must be persisted");
        assert!(e.state.perm.da.lockout_auth_locked);
        assert_eq!(
            e.state.perm.da.failed_tries, 0,
            "lockoutAuth failures do not count"
        );
        // The session survives the failure with its nonce unchanged; the right HMAC is now
        // refused because lockoutAuth is blocked.
        let good = s.auth(&cp(cc, &[&lockout], &[]), b"lockpw", CONT, &[]);
        expect_rc(
            &mut e,
            cc,
            &[TpmHandle::LOCKOUT],
            core::slice::from_ref(&good),
            &[],
            TpmRc::LOCKOUT,
        );
        expect_rc(
            &mut e,
            cc,
            &[TpmHandle::LOCKOUT],
            &[pw_with(b"lockpw")],
            &[],
            TpmRc::LOCKOUT,
        );
        clock.advance(999_000);
        expect_rc(
            &mut e,
            cc,
            &[TpmHandle::LOCKOUT],
            core::slice::from_ref(&good),
            &[],
            TpmRc::LOCKOUT,
        );
        clock.advance(1_000);
        let (rc, _) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[good], &[]);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert!(!e.state.perm.da.lockout_auth_locked);
    }

    #[test]
    fn dictionary_attack_lockout_and_recovery() {
        let (mut e, clock) = engine_with_clock();
        insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        assert_eq!(e.state.perm.da.max_tries, 3);
        for i in 0..3 {
            let (rc, _) = unseal(&mut e, &[pw_with(b"nope")]);
            assert_eq!(rc, TpmRc::AUTH_FAIL.with_session(1), "try {i}");
        }
        assert_eq!(e.state.perm.da.failed_tries, 3);
        // In lockout even the right password is refused.
        let (rc, _) = unseal(&mut e, &[pw_with(b"objpw")]);
        assert_eq!(rc, TpmRc::LOCKOUT);
        // An HMAC session with the right HMAC too.
        let mut s = hmac_session(&mut e);
        s.roll();
        let name = e.state.object(SEALED_HANDLE).unwrap().name.clone();
        let a = s.auth(&cp(TpmCc::UNSEAL, &[&name], &[]), b"objpw", CONT, &[]);
        assert_eq!(unseal(&mut e, &[a]).0, TpmRc::LOCKOUT);
        // Entities without DA protection still work.
        e.state.perm.lockout_auth = Zeroizing::new(b"L".to_vec());
        // One recoveryTime (1000 s) later one failure is forgotten.
        clock.advance(1_000_000);
        let (rc, rsp) = unseal(&mut e, &[pw_with(b"objpw")]);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert_eq!(e.state.perm.da.failed_tries, 2);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        assert_eq!(&r.parameters[2..], b"sealed secret");
        // Password responses carry continueSession and nothing else.
        assert_eq!(r.sessions[0].attributes, TpmaSession(CONT));
        assert!(r.sessions[0].nonce.is_empty() && r.sessions[0].hmac.is_empty());
        // DictionaryAttackLockReset (lockoutAuth) clears the count.
        let (rc, _) = run(
            &mut e,
            TpmCc::DICTIONARY_ATTACK_LOCK_RESET,
            &[TpmHandle::LOCKOUT],
            &[pw_with(b"L")],
            &[],
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        assert_eq!(e.state.perm.da.failed_tries, 0);
        // A noDA object: failures are TPM_RC_BAD_AUTH and do not count.
        insert_sealed(&mut e, b"objpw", USER_WITH_AUTH | TpmaObject::NO_DA, &[]);
        for _ in 0..5 {
            assert_eq!(
                unseal(&mut e, &[pw_with(b"x")]).0,
                TpmRc::BAD_AUTH.with_session(1)
            );
        }
        assert_eq!(e.state.perm.da.failed_tries, 0);
        // recoveryTime 0 disables the protection.
        insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        let mut params = Vec::new();
        for v in [1u32, 0, 0] {
            params.extend(v.to_be_bytes());
        }
        let (rc, _) = run(
            &mut e,
            TpmCc::DICTIONARY_ATTACK_PARAMETERS,
            &[TpmHandle::LOCKOUT],
            &[pw_with(b"L")],
            &params,
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        for _ in 0..3 {
            assert_eq!(
                unseal(&mut e, &[pw_with(b"x")]).0,
                TpmRc::AUTH_FAIL.with_session(1)
            );
        }
        assert_eq!(unseal(&mut e, &[pw_with(b"objpw")]).0, TpmRc::SUCCESS);
    }

    #[test]
    fn bound_sessions_leave_the_auth_value_out_for_their_entity_only() {
        let mut e = testutil::engine();
        let name = insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        let mut s = start(
            &mut e,
            TpmHandle::NULL,
            SEALED_HANDLE,
            &[],
            0,
            TpmtSymDef::AES_128_CFB,
            Some(b"objpw"),
        );
        let cc = TpmCc::UNSEAL;
        s.roll();
        let a = s.auth(&cp(cc, &[&name], &[]), b"", CONT, &[]);
        let (rc, rsp) = unseal(&mut e, &[a]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, cc).unwrap();
        s.check(&r.sessions[0], &rp(cc, r.parameters), b"");
        // The same session for another entity includes that entity's authValue.
        e.state.perm.lockout_auth = Zeroizing::new(b"lockpw".to_vec());
        s.roll();
        let lockout = TpmHandle::LOCKOUT.0.to_be_bytes();
        let dcc = TpmCc::DICTIONARY_ATTACK_LOCK_RESET;
        let a = s.auth(&cp(dcc, &[&lockout], &[]), b"lockpw", CONT, &[]);
        let (rc, rsp) = run(&mut e, dcc, &[TpmHandle::LOCKOUT], &[a], &[]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, dcc).unwrap();
        s.check(&r.sessions[0], &rp(dcc, &[]), b"lockpw");
        // Once the entity's authValue changes, the session is no longer bound to it.
        e.state
            .vol
            .objects
            .get_mut(&SEALED_HANDLE.0)
            .unwrap()
            .sensitive
            .auth = Zeroizing::new(b"newpw".to_vec());
        s.roll();
        let a = s.auth(&cp(cc, &[&name], &[]), b"newpw", CONT, &[]);
        let (rc, rsp) = unseal(&mut e, &[a]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, cc).unwrap();
        s.check(&r.sessions[0], &rp(cc, r.parameters), b"newpw");
        // A session bound to ownerAuth (and salted by nothing) uses it in its key.
        e.state.perm.owner_auth = Zeroizing::new(b"own\0".to_vec());
        let mut o = start(
            &mut e,
            TpmHandle::NULL,
            TpmHandle::OWNER,
            &[],
            0,
            TpmtSymDef::Null,
            Some(b"own"),
        );
        o.roll();
        let a = o.auth(&cp(cc, &[&name], &[]), b"newpw", CONT, &[]);
        assert_eq!(unseal(&mut e, &[a]).0, TpmRc::SUCCESS);
    }

    fn rsa_key_public(modulus: &[u8], attrs: u32) -> TpmtPublic {
        TpmtPublic {
            name_alg: TpmAlgId::SHA256,
            object_attributes: TpmaObject(attrs),
            auth_policy: Tpm2bDigest::empty(),
            detail: PublicDetail::Rsa {
                parameters: TpmsRsaParms {
                    symmetric: TpmtSymDefObject::AES_128_CFB,
                    scheme: TpmtRsaScheme::Null,
                    key_bits: 2048,
                    exponent: 0,
                },
                unique: Tpm2bPublicKeyRsa::new(modulus).unwrap(),
            },
        }
    }

    const STORAGE: u32 = TpmaObject::RESTRICTED
        | TpmaObject::DECRYPT
        | TpmaObject::USER_WITH_AUTH
        | TpmaObject::FIXED_TPM
        | TpmaObject::FIXED_PARENT
        | TpmaObject::SENSITIVE_DATA_ORIGIN;

    #[test]
    fn rsa_salted_session() {
        let mut e = testutil::engine();
        let mut rng = KdfaStream::new(HashAlg::Sha256, b"test rsa key", b"KEY", &[], &[]);
        let key = RsaPrivate::generate(2048, 0, &mut rng).unwrap();
        let modulus = key.public().modulus();
        insert(
            &mut e,
            KEY_HANDLE,
            rsa_key_public(&modulus, STORAGE),
            b"",
            &key.prime(),
        );
        let name = insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        let salt = [0x3Cu8; 32];
        let encrypted = key
            .public()
            .encrypt_oaep(HashAlg::Sha256, b"SECRET\0", &salt, &mut rng)
            .unwrap();
        let mut s = start(
            &mut e,
            KEY_HANDLE,
            TpmHandle::NULL,
            &encrypted,
            0,
            TpmtSymDef::AES_128_CFB,
            Some(&salt),
        );
        s.roll();
        let a = s.auth(&cp(TpmCc::UNSEAL, &[&name], &[]), b"objpw", CONT, &[]);
        let (rc, rsp) = unseal(&mut e, &[a]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        s.check(&r.sessions[0], &rp(TpmCc::UNSEAL, r.parameters), b"objpw");

        // A ciphertext that does not decrypt, the wrong label, no salt, a key without
        // decrypt, a key that is not asymmetric.
        let start_cc = TpmCc::START_AUTH_SESSION;
        let handles = [KEY_HANDLE, TpmHandle::NULL];
        let sym = TpmtSymDef::AES_128_CFB;
        let mut bad = encrypted.clone();
        bad[10] ^= 1;
        let other_label = key
            .public()
            .encrypt_oaep(HashAlg::Sha256, b"SECRET", &salt, &mut rng)
            .unwrap();
        for c in [bad.as_slice(), &other_label] {
            let p = start_params(&[1; 16], c, 0, sym, TpmAlgId::SHA256);
            expect_rc(
                &mut e,
                start_cc,
                &handles,
                &[],
                &p,
                TpmRc::VALUE.with_parameter(2),
            );
        }
        let p = start_params(&[1; 16], &[], 0, sym, TpmAlgId::SHA256);
        expect_rc(
            &mut e,
            start_cc,
            &handles,
            &[],
            &p,
            TpmRc::VALUE.with_parameter(2),
        );
        e.state
            .vol
            .objects
            .get_mut(&KEY_HANDLE.0)
            .unwrap()
            .public
            .object_attributes = TpmaObject(TpmaObject::SIGN | TpmaObject::USER_WITH_AUTH);
        let p = start_params(&[1; 16], &encrypted, 0, sym, TpmAlgId::SHA256);
        expect_rc(
            &mut e,
            start_cc,
            &handles,
            &[],
            &p,
            TpmRc::ATTRIBUTES.with_handle(1),
        );
        let sealed = [SEALED_HANDLE, TpmHandle::NULL];
        expect_rc(
            &mut e,
            start_cc,
            &sealed,
            &[],
            &p,
            TpmRc::KEY.with_handle(1),
        );
    }

    #[test]
    fn ecc_salted_session() {
        let mut e = testutil::engine();
        let mut rng = KdfaStream::new(HashAlg::Sha256, b"test ecc key", b"KEY", &[], &[]);
        let tpm_key = EccPrivate::generate(Curve::NistP256, &mut rng).unwrap();
        let qs = tpm_key.public();
        let public = TpmtPublic {
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
                    x: Tpm2bEccParameter::new(&qs.x).unwrap(),
                    y: Tpm2bEccParameter::new(&qs.y).unwrap(),
                },
            },
        };
        insert(&mut e, KEY_HANDLE, public, b"", &tpm_key.scalar());
        let name = insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        // The caller's ephemeral key and the shared secret, then KDFe by hand.
        let eph = EccPrivate::generate(Curve::NistP256, &mut rng).unwrap();
        let qe = eph.public();
        let z = eph.ecdh(&qs).unwrap().x;
        let salt = sha256(&[&1u32.to_be_bytes(), &z, b"SECRET\0", &qe.x, &qs.x]);
        let point = TpmsEccPoint {
            x: Tpm2bEccParameter::new(&qe.x).unwrap(),
            y: Tpm2bEccParameter::new(&qe.y).unwrap(),
        };
        let mut s = start(
            &mut e,
            KEY_HANDLE,
            TpmHandle::NULL,
            &point.to_bytes(),
            0,
            TpmtSymDef::AES_128_CFB,
            Some(&salt),
        );
        s.roll();
        let a = s.auth(&cp(TpmCc::UNSEAL, &[&name], &[]), b"objpw", CONT, &[]);
        let (rc, rsp) = unseal(&mut e, &[a]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        s.check(&r.sessions[0], &rp(TpmCc::UNSEAL, r.parameters), b"objpw");
        // A point off the curve.
        let mut off = point.clone();
        off.y = Tpm2bEccParameter::new(&[7; 32]).unwrap();
        let p = start_params(
            &[1; 16],
            &off.to_bytes(),
            0,
            TpmtSymDef::Null,
            TpmAlgId::SHA256,
        );
        expect_rc(
            &mut e,
            TpmCc::START_AUTH_SESSION,
            &[KEY_HANDLE, TpmHandle::NULL],
            &[],
            &p,
            TpmRc::VALUE.with_parameter(2),
        );
    }

    /// Decrypts the first response parameter the way a caller does.
    fn decrypt_response(s: &Sess, sym: TpmtSymDef, auth: &[u8], data: &mut [u8]) {
        let key = [s.key.as_slice(), auth].concat();
        match sym {
            TpmtSymDef::Aes { key_bits, .. } => {
                let bits = u32::from(key_bits) + 128;
                let k = kdfa256(&key, b"CFB", &s.nonce_tpm, &s.nonce_caller, bits);
                let (k, iv) = k.split_at(usize::from(key_bits / 8));
                aes_cfb(k, iv, data, false);
            }
            TpmtSymDef::Xor { .. } => {
                let bits = u32::try_from(data.len() * 8).unwrap();
                let mask = kdfa256(&key, b"XOR", &s.nonce_tpm, &s.nonce_caller, bits);
                for (d, m) in data.iter_mut().zip(mask) {
                    *d ^= m;
                }
            }
            _ => panic!("no cipher"),
        }
    }

    #[test]
    fn response_parameter_encryption() {
        let xor = TpmtSymDef::Xor {
            hash_alg: TpmAlgId::SHA256,
        };
        let aes256 = TpmtSymDef::Aes {
            key_bits: 256,
            mode: TpmAlgId::CFB,
        };
        for sym in [TpmtSymDef::AES_128_CFB, aes256, xor] {
            let mut e = testutil::engine();
            let name = insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
            // Bound (to lockout, empty authValue) so that the session key is not empty.
            let mut s = start(
                &mut e,
                TpmHandle::NULL,
                TpmHandle::LOCKOUT,
                &[],
                0,
                sym,
                Some(b""),
            );
            s.roll();
            let attrs = CONT | TpmaSession::ENCRYPT;
            let a = s.auth(&cp(TpmCc::UNSEAL, &[&name], &[]), b"objpw", attrs, &[]);
            let (rc, rsp) = unseal(&mut e, &[a]);
            assert_eq!(rc, TpmRc::SUCCESS, "{sym:?}");
            let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
            assert_eq!(
                r.sessions[0].attributes,
                TpmaSession(attrs),
                "attributes are echoed"
            );
            // The response HMAC covers the encrypted parameter.
            s.check(&r.sessions[0], &rp(TpmCc::UNSEAL, r.parameters), b"objpw");
            let mut data = r.parameters[2..].to_vec();
            assert_ne!(data, b"sealed secret");
            decrypt_response(&s, sym, b"objpw", &mut data);
            assert_eq!(data, b"sealed secret", "{sym:?}");

            // An encrypt-only second session: its nonceTPM joins the first session's HMAC,
            // and its key has no authValue (it authorizes nothing).
            let mut enc = start(
                &mut e,
                TpmHandle::NULL,
                TpmHandle::LOCKOUT,
                &[],
                0,
                sym,
                Some(b""),
            );
            s.roll();
            enc.roll();
            let cph = cp(TpmCc::UNSEAL, &[&name], &[]);
            let first = s.auth(&cph, b"objpw", CONT, &[&enc.nonce_tpm]);
            let second = enc.auth(&cph, b"", CONT | TpmaSession::ENCRYPT, &[]);
            let (rc, rsp) = unseal(&mut e, &[first, second]);
            assert_eq!(rc, TpmRc::SUCCESS, "{sym:?}");
            let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
            let rph = rp(TpmCc::UNSEAL, r.parameters);
            s.check(&r.sessions[0], &rph, b"objpw");
            enc.check(&r.sessions[1], &rph, b"");
            let mut data = r.parameters[2..].to_vec();
            decrypt_response(&enc, sym, b"", &mut data);
            assert_eq!(data, b"sealed secret");
        }
    }

    #[test]
    fn command_parameter_decryption() {
        for sym in [
            TpmtSymDef::AES_128_CFB,
            TpmtSymDef::Xor {
                hash_alg: TpmAlgId::SHA256,
            },
        ] {
            let mut e = testutil::engine();
            let mut d = start(
                &mut e,
                TpmHandle::NULL,
                TpmHandle::LOCKOUT,
                &[],
                0,
                sym,
                Some(b""),
            );
            d.roll();
            // TPM2_StartAuthSession whose nonceCaller travels encrypted by session `d`.
            let plain_nonce = [0x42u8; 16];
            let mut params = start_params(&plain_nonce, &[], 0, TpmtSymDef::Null, TpmAlgId::SHA256);
            let data = &mut params[2..18];
            if let TpmtSymDef::Aes { .. } = sym {
                let k = kdfa256(&d.key, b"CFB", &d.nonce_caller, &d.nonce_tpm, 256);
                aes_cfb(&k[..16], &k[16..], data, true);
            } else {
                let mask = kdfa256(&d.key, b"XOR", &d.nonce_caller, &d.nonce_tpm, 128);
                for (b, m) in data.iter_mut().zip(mask) {
                    *b ^= m;
                }
            }
            let cc = TpmCc::START_AUTH_SESSION;
            let handles = [TpmHandle::NULL, TpmHandle::LOCKOUT];
            let names = [
                TpmHandle::NULL.0.to_be_bytes(),
                TpmHandle::LOCKOUT.0.to_be_bytes(),
            ];
            let cph = cp(cc, &[&names[0], &names[1]], &params);
            let a = d.auth(&cph, b"", CONT | TpmaSession::DECRYPT, &[]);
            let (rc, rsp) = run(&mut e, cc, &handles, &[a], &params);
            assert_eq!(rc, TpmRc::SUCCESS);
            let r = Response::parse(&rsp, cc).unwrap();
            // rpHash covers the parameters, not the response handle.
            d.check(&r.sessions[0], &rp(cc, r.parameters), b"");
            // The new session's key was derived from the decrypted nonceCaller.
            let nonce_tpm = Tpm2bNonce::from_bytes(r.parameters)
                .unwrap()
                .as_bytes()
                .to_vec();
            let mut n = Sess {
                handle: r.handle.unwrap(),
                key: kdfa256(b"", b"ATH", &nonce_tpm, &plain_nonce, 256),
                nonce_tpm,
                nonce_caller: plain_nonce.to_vec(),
                counter: 0,
            };
            n.roll();
            let lockout = TpmHandle::LOCKOUT.0.to_be_bytes();
            let rcc = TpmCc::DICTIONARY_ATTACK_LOCK_RESET;
            let a = n.auth(&cp(rcc, &[&lockout], &[]), b"", CONT, &[]);
            let (rc, _) = run(&mut e, rcc, &[TpmHandle::LOCKOUT], &[a], &[]);
            assert_eq!(rc, TpmRc::SUCCESS, "{sym:?}");
        }
    }

    #[test]
    fn continue_session_clear_flushes_after_success_only() {
        let mut e = testutil::engine();
        let name = insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        let mut s = hmac_session(&mut e);
        s.roll();
        let cph = cp(TpmCc::UNSEAL, &[&name], &[]);
        // A failed authorization leaves the session (and its nonce) alone.
        let bad = s.auth(&cph, b"wrong", 0, &[]);
        assert_eq!(unseal(&mut e, &[bad]).0, TpmRc::AUTH_FAIL.with_session(1));
        let good = s.auth(&cph, b"objpw", 0, &[]);
        let (rc, rsp) = unseal(&mut e, core::slice::from_ref(&good));
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        assert_eq!(r.sessions[0].attributes, TpmaSession(0));
        s.check(&r.sessions[0], &rp(TpmCc::UNSEAL, r.parameters), b"objpw");
        assert!(
            e.state.vol.sessions.is_empty(),
            "the session ended with the command"
        );
        assert_eq!(unseal(&mut e, &[good]).0, TpmRc::REFERENCE_S0);
        // Its handle is free again.
        assert_eq!(hmac_session(&mut e).handle, TpmHandle(0x0200_0000));
    }

    #[test]
    fn sessions_survive_save_state_and_restore() {
        let mut e = testutil::engine();
        let name = insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        let mut rng = KdfaStream::new(HashAlg::Sha256, b"restore", b"KEY", &[], &[]);
        let key = RsaPrivate::generate(2048, 0, &mut rng).unwrap();
        let modulus = key.public().modulus();
        insert(
            &mut e,
            KEY_HANDLE,
            rsa_key_public(&modulus, STORAGE),
            b"",
            &key.prime(),
        );
        let salt = [9u8; 32];
        let enc = key
            .public()
            .encrypt_oaep(HashAlg::Sha256, b"SECRET\0", &salt, &mut rng)
            .unwrap();
        let material = [b"objpw".as_slice(), &salt].concat();
        let mut s = start(
            &mut e,
            KEY_HANDLE,
            SEALED_HANDLE,
            &enc,
            0,
            TpmtSymDef::AES_128_CFB,
            Some(&material),
        );
        let blob = e.save_state();
        let mut restored =
            Engine::restore(&blob, Box::new(TestPlatform::new(99))).expect("restore");
        assert_eq!(
            restored.save_state().as_slice(),
            blob.as_slice(),
            "lossless"
        );
        let cph = cp(TpmCc::UNSEAL, &[&name], &[]);
        for engine in [&mut e, &mut restored] {
            let mut c = Sess {
                handle: s.handle,
                nonce_tpm: s.nonce_tpm.clone(),
                nonce_caller: Vec::new(),
                key: s.key.clone(),
                counter: 7,
            };
            c.roll();
            let a = c.auth(&cph, b"", CONT | TpmaSession::ENCRYPT, &[]);
            let (rc, rsp) = unseal(engine, &[a]);
            assert_eq!(rc, TpmRc::SUCCESS);
            let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
            c.check(&r.sessions[0], &rp(TpmCc::UNSEAL, r.parameters), b"");
            let mut data = r.parameters[2..].to_vec();
            decrypt_response(&c, TpmtSymDef::AES_128_CFB, b"objpw", &mut data);
            assert_eq!(data, b"sealed secret");
        }
        s.roll();
    }

    /// The policy digest of a session, by TPM2_PolicyGetDigest.
    fn policy_digest(e: &mut Engine, h: TpmHandle) -> Vec<u8> {
        let p = testutil::ok_params(e, TpmCc::POLICY_GET_DIGEST, &[h], &[], &[]);
        Tpm2bDigest::from_bytes(&p).unwrap().as_bytes().to_vec()
    }

    #[test]
    fn policy_sessions() {
        let mut e = testutil::engine();
        let empty_policy = [0u8; 32];
        let name = insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &empty_policy);
        let sym = TpmtSymDef::Null;
        let trial = start(&mut e, TpmHandle::NULL, TpmHandle::NULL, &[], 3, sym, None);
        let mut policy = start(&mut e, TpmHandle::NULL, TpmHandle::NULL, &[], 1, sym, None);
        assert_eq!(policy_digest(&mut e, trial.handle), empty_policy);
        assert_eq!(policy_digest(&mut e, policy.handle), empty_policy);
        // PolicyRestart forgets assertions.
        let ps = e.state.vol.sessions.get_mut(&policy.handle.0).unwrap();
        ps.policy.digest = vec![1; 32];
        ps.policy.command_code = Some(TpmCc::SIGN);
        let (rc, _) = run(&mut e, TpmCc::POLICY_RESTART, &[policy.handle], &[], &[]);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert_eq!(policy_digest(&mut e, policy.handle), empty_policy);
        assert_eq!(
            e.state.vol.sessions[&policy.handle.0].policy.command_code,
            None
        );
        // PolicyGetDigest on an HMAC session handle is refused at the handle.
        let h = hmac_session(&mut e);
        let (rc, _) = run(&mut e, TpmCc::POLICY_GET_DIGEST, &[h.handle], &[], &[]);
        assert!(!rc.is_success());

        // A trial session never authorizes.
        let plain = |s: &Sess| TpmsAuthCommand {
            session_handle: s.handle,
            nonce: Tpm2bNonce::new(&s.nonce_caller).unwrap(),
            attributes: TpmaSession(CONT),
            hmac: Tpm2bAuth::empty(),
        };
        assert_eq!(
            unseal(&mut e, &[plain(&trial)]).0,
            TpmRc::ATTRIBUTES.with_session(1)
        );
        // The empty policy matches an object whose authPolicy is the empty-policy digest;
        // the session key is empty, so the HMAC is empty.
        policy.roll();
        let (rc, rsp) = unseal(&mut e, &[plain(&policy)]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        assert!(r.sessions[0].hmac.is_empty());
        assert_eq!(&r.parameters[2..], b"sealed secret");
        // A recorded command code must match the command.
        e.state
            .vol
            .sessions
            .get_mut(&policy.handle.0)
            .unwrap()
            .policy
            .command_code = Some(TpmCc::SIGN);
        assert_eq!(
            unseal(&mut e, &[plain(&policy)]).0,
            TpmRc::POLICY_CC.with_session(1)
        );
        // The session was reset by its successful use; a digest that differs from the
        // object's authPolicy fails.
        let ps = e.state.vol.sessions.get_mut(&policy.handle.0).unwrap();
        ps.reset_policy();
        ps.policy.digest = vec![2; 32];
        assert_eq!(
            unseal(&mut e, &[plain(&policy)]).0,
            TpmRc::POLICY_FAIL.with_session(1)
        );
        // PolicyAuthValue: the authValue joins the HMAC key (bound-ness does not matter).
        let ps = e.state.vol.sessions.get_mut(&policy.handle.0).unwrap();
        ps.reset_policy();
        ps.policy.auth_value_needed = true;
        policy.nonce_tpm = ps.nonce_tpm.clone();
        policy.roll();
        let a = policy.auth(&cp(TpmCc::UNSEAL, &[&name], &[]), b"objpw", CONT, &[]);
        let (rc, rsp) = unseal(&mut e, &[a]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        policy.check(&r.sessions[0], &rp(TpmCc::UNSEAL, r.parameters), b"objpw");
        // PolicyPassword: the HMAC field is the password; the response HMAC is empty.
        e.state
            .vol
            .sessions
            .get_mut(&policy.handle.0)
            .unwrap()
            .policy
            .password_needed = true;
        policy.roll();
        let mut a = plain(&policy);
        a.hmac = Tpm2bAuth::new(b"objpw").unwrap();
        let (rc, rsp) = unseal(&mut e, &[a]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        assert!(r.sessions[0].hmac.is_empty());
        // Locality.
        e.state
            .vol
            .sessions
            .get_mut(&policy.handle.0)
            .unwrap()
            .policy
            .locality = 0b0000_0010;
        assert_eq!(unseal(&mut e, &[plain(&policy)]).0, TpmRc::LOCALITY);
        let cmd =
            tpm2::command::build_command(TpmCc::UNSEAL, &[SEALED_HANDLE], &[plain(&policy)], &[])
                .unwrap();
        let rsp = e.execute(1, &cmd);
        assert_eq!(testutil::rc_of(&rsp), TpmRc::SUCCESS);
        // An object without authPolicy: its empty policy matches no session digest.
        insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        assert_eq!(
            unseal(&mut e, &[plain(&policy)]).0,
            TpmRc::POLICY_FAIL.with_session(1)
        );
        // A hierarchy without authPolicy cannot be used with a policy session at all.
        let cc = TpmCc::DICTIONARY_ATTACK_LOCK_RESET;
        let (rc, _) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[plain(&policy)], &[]);
        assert_eq!(rc, TpmRc::AUTH_UNAVAILABLE);
        // And an object without userWithAuth not with its authValue.
        insert_sealed(&mut e, b"objpw", 0, &empty_policy);
        assert_eq!(
            unseal(&mut e, &[pw_with(b"objpw")]).0,
            TpmRc::AUTH_UNAVAILABLE
        );
    }

    #[test]
    fn authorization_area_errors() {
        let mut e = testutil::engine();
        let name = insert_sealed(&mut e, b"objpw", USER_WITH_AUTH, &[]);
        let mut s = hmac_session(&mut e);
        let nosym = start(
            &mut e,
            TpmHandle::NULL,
            TpmHandle::NULL,
            &[],
            0,
            TpmtSymDef::Null,
            None,
        );
        s.roll();
        let cph = cp(TpmCc::UNSEAL, &[&name], &[]);
        let good = s.auth(&cph, b"objpw", CONT, &[]);
        // A session handle with nothing loaded behind it.
        let mut missing = good.clone();
        missing.session_handle = TpmHandle(0x0200_0007);
        assert_eq!(unseal(&mut e, &[missing.clone()]).0, TpmRc::REFERENCE_S0);
        assert_eq!(
            unseal(&mut e, &[good.clone(), missing]).0,
            TpmRc(TpmRc::REFERENCE_S0.0 + 1)
        );
        // The index of an HMAC session named as a policy session.
        let mut wrong_type = good.clone();
        wrong_type.session_handle = TpmHandle(0x0300_0000);
        assert_eq!(
            unseal(&mut e, &[wrong_type]).0,
            TpmRc::HANDLE.with_session(1)
        );
        // The same session twice.
        assert_eq!(
            unseal(&mut e, &[good.clone(), good.clone()]).0,
            TpmRc::HANDLE.with_session(2)
        );
        // Password sessions: no nonce, no attributes but continueSession.
        let mut p = pw_with(b"objpw");
        p.nonce = Tpm2bNonce::new(&[1; 16]).unwrap();
        assert_eq!(unseal(&mut e, &[p]).0, TpmRc::NONCE.with_session(1));
        let mut p = pw_with(b"objpw");
        p.attributes = TpmaSession(CONT | TpmaSession::ENCRYPT);
        assert_eq!(unseal(&mut e, &[p]).0, TpmRc::ATTRIBUTES.with_session(1));
        // A password session with no handle to authorize.
        assert_eq!(
            unseal(&mut e, &[good.clone(), pw_with(b"")]).0,
            TpmRc::HANDLE.with_session(2)
        );
        // decrypt on a command whose first parameter is not a TPM2B; two encrypt sessions;
        // encrypt with no cipher; an extra session that does nothing.
        let mut dec = good.clone();
        dec.attributes = TpmaSession(CONT | TpmaSession::DECRYPT);
        assert_eq!(unseal(&mut e, &[dec]).0, TpmRc::ATTRIBUTES.with_session(1));
        let mut enc = good.clone();
        enc.attributes = TpmaSession(CONT | TpmaSession::ENCRYPT);
        let mut enc2 = nosym_auth(&nosym, CONT | TpmaSession::ENCRYPT);
        assert_eq!(
            unseal(&mut e, &[enc.clone(), enc2.clone()]).0,
            TpmRc::ATTRIBUTES.with_session(2)
        );
        enc2.attributes = TpmaSession(CONT | TpmaSession::ENCRYPT);
        assert_eq!(
            unseal(&mut e, &[good.clone(), enc2]).0,
            TpmRc::SYMMETRIC.with_session(2)
        );
        let idle = nosym_auth(&nosym, CONT);
        assert_eq!(
            unseal(&mut e, &[good.clone(), idle]).0,
            TpmRc::ATTRIBUTES.with_session(2)
        );
        // A missing authorization.
        assert_eq!(unseal(&mut e, &[]).0, TpmRc::AUTH_MISSING);
        // Nothing above touched the session: the original authorization still works.
        assert_eq!(unseal(&mut e, &[good]).0, TpmRc::SUCCESS);
    }

    /// An audit/encrypt-only use of an unbound, unsalted session: its key is empty, so an
    /// empty HMAC is accepted.
    fn nosym_auth(s: &Sess, attrs: u8) -> TpmsAuthCommand {
        TpmsAuthCommand {
            session_handle: s.handle,
            nonce: Tpm2bNonce::new(&[3; 16]).unwrap(),
            attributes: TpmaSession(attrs),
            hmac: Tpm2bAuth::empty(),
        }
    }

    #[test]
    fn audit_session_digest_and_exclusivity() {
        let mut e = testutil::engine();
        let lockout = TpmHandle::LOCKOUT.0.to_be_bytes();
        let mut s = start(
            &mut e,
            TpmHandle::NULL,
            TpmHandle::LOCKOUT,
            &[],
            0,
            TpmtSymDef::Null,
            Some(b""),
        );
        let cc = TpmCc::DICTIONARY_ATTACK_LOCK_RESET;
        let mut expected = vec![0u8; 32];
        for round in 0..3 {
            if round == 2 {
                // A command with sessions allowed and no audit session ends exclusivity.
                let (rc, _) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[pw_with(b"")], &[]);
                assert_eq!(rc, TpmRc::SUCCESS);
            }
            s.roll();
            let attrs = CONT | TpmaSession::AUDIT;
            let cph = cp(cc, &[&lockout], &[]);
            let a = s.auth(&cph, b"", attrs, &[]);
            let (rc, rsp) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[a], &[]);
            assert_eq!(rc, TpmRc::SUCCESS);
            let r = Response::parse(&rsp, cc).unwrap();
            let rph = rp(cc, &[]);
            let exclusive = if round < 2 {
                TpmaSession::AUDIT_EXCLUSIVE
            } else {
                0
            };
            assert_eq!(
                r.sessions[0].attributes,
                TpmaSession(attrs | exclusive),
                "round {round}"
            );
            s.check(&r.sessions[0], &rph, b"");
            expected = sha256(&[&expected, &cph, &rph]);
            let session = &e.state.vol.sessions[&s.handle.0];
            assert_eq!(session.audit_digest.as_deref(), Some(expected.as_slice()));
        }
        // auditExclusive asks for a session that is exclusive: it no longer is.
        s.roll();
        let attrs = CONT | TpmaSession::AUDIT | TpmaSession::AUDIT_EXCLUSIVE;
        let a = s.auth(&cp(cc, &[&lockout], &[]), b"", attrs, &[]);
        assert_eq!(
            run(&mut e, cc, &[TpmHandle::LOCKOUT], &[a], &[]).0,
            TpmRc::EXCLUSIVE
        );
        // auditReset restarts the digest and makes it exclusive again.
        let attrs = CONT | TpmaSession::AUDIT | TpmaSession::AUDIT_RESET;
        let cph = cp(cc, &[&lockout], &[]);
        let a = s.auth(&cph, b"", attrs, &[]);
        let (rc, rsp) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[a], &[]);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, cc).unwrap();
        assert!(r.sessions[0].attributes.has(TpmaSession::AUDIT_EXCLUSIVE));
        let fresh = sha256(&[&[0u8; 32], &cph, &rp(cc, &[])]);
        assert_eq!(
            e.state.vol.sessions[&s.handle.0].audit_digest.as_deref(),
            Some(fresh.as_slice())
        );
        // A policy session cannot audit.
        let p = start(
            &mut e,
            TpmHandle::NULL,
            TpmHandle::NULL,
            &[],
            1,
            TpmtSymDef::Null,
            None,
        );
        let a = nosym_auth(&p, CONT | TpmaSession::AUDIT);
        let (rc, _) = run(&mut e, cc, &[TpmHandle::LOCKOUT], &[pw_with(b""), a], &[]);
        assert_eq!(rc, TpmRc::ATTRIBUTES.with_session(2));
    }
}

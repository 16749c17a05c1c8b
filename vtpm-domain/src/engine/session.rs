//! Authorization sessions (TCG TPM 2.0 Library part 1 §19.6 "HMAC sessions", §19.7 "policy
//! sessions", §21 "session-based encryption"; part 3 §11.1 TPM2_StartAuthSession).
//!
//! A session is created by TPM2_StartAuthSession and lives in `Volatile::sessions` under its
//! handle until it is flushed (continueSession clear, TPM2_FlushContext) or the TPM is reset.
//! Its handle is `0x02nnnnnn` (HMAC) or `0x03nnnnnn` (policy and trial), where `nnnnnn` is an
//! index below [`MAX_ACTIVE_SESSIONS`] shared by both types, lowest free first (the numbering
//! of the reference implementation). A context-saved session keeps its handle and its place in
//! the map but is not loaded ([`Session::is_loaded`]); at most [`MAX_LOADED_SESSIONS`] are
//! loaded at once.
//!
//! The session key is part 1 §19.6.8:
//! `sessionKey = KDFa(authHash, authValue(bind) || salt, "ATH", nonceTPM, nonceCaller,
//! digestBits)`, empty when the session is neither bound nor salted.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::rc::TpmRc;
use tpm2::structures::TpmtSymDef;
use zeroize::Zeroizing;

use super::codec::{Loader, Persist, Writer};
use super::crypto::hash::HashAlg;
use super::crypto::kdf::kdfa;
use super::state::{Secret, StateError};

/// MAX_LOADED_SESSIONS: sessions that may be loaded at the same time (libtpms: 3).
pub(crate) const MAX_LOADED_SESSIONS: usize = 3;

/// MAX_ACTIVE_SESSIONS: sessions (loaded or context-saved) that may exist at the same time.
pub(crate) const MAX_ACTIVE_SESSIONS: usize = 64;

/// The bits of a session handle that number the session.
pub(crate) const HANDLE_INDEX_MASK: u32 = 0x00FF_FFFF;

/// Largest digest or nonce kept in a session (SHA-512).
const MAX_DIGEST: usize = 64;

/// Largest Name kept in a session (hash algorithm + SHA-512 digest).
const MAX_NAME: usize = MAX_DIGEST + 2;

/// What a session is for (TPM_SE, part 2 §6.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionKind {
    /// TPM_SE_HMAC: HMAC authorization, audit, parameter encryption.
    Hmac,
    /// TPM_SE_POLICY: policy authorization.
    Policy,
    /// TPM_SE_TRIAL: computes a policy digest; never authorizes anything.
    Trial,
}

impl SessionKind {
    /// The handle type of sessions of this kind.
    pub(crate) fn handle_type(self) -> TpmHt {
        match self {
            SessionKind::Hmac => TpmHt::HMAC_SESSION,
            SessionKind::Policy | SessionKind::Trial => TpmHt::POLICY_SESSION,
        }
    }

    fn code(self) -> u8 {
        match self {
            SessionKind::Hmac => 0,
            SessionKind::Policy => 1,
            SessionKind::Trial => 3,
        }
    }

    fn from_code(v: u8) -> Option<Self> {
        match v {
            0 => Some(SessionKind::Hmac),
            1 => Some(SessionKind::Policy),
            3 => Some(SessionKind::Trial),
            _ => None,
        }
    }
}

/// The command-binding assertion of a policy session (the reference implementation's `u1`
/// union): at most one of TPM2_PolicyCpHash, TPM2_PolicyNameHash, TPM2_PolicyTemplate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicyBinding {
    /// No binding.
    None,
    /// TPM2_PolicyCpHash: the cpHash the authorized command must have.
    CpHash(Vec<u8>),
    /// TPM2_PolicyNameHash: the digest of the Names of the command's handles.
    NameHash(Vec<u8>),
    /// TPM2_PolicyTemplate: the digest of the template given to Create/CreatePrimary/
    /// CreateLoaded.
    TemplateHash(Vec<u8>),
}

/// What the policy commands asserted so far in a policy or trial session (part 1 §19.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyState {
    /// policyDigest (digest size of the session hash; zeros after start or restart).
    pub digest: Vec<u8>,
    /// TPM2_PolicyCommandCode: the only command the session may authorize.
    pub command_code: Option<TpmCc>,
    /// TPM2_PolicyLocality: the TPMA_LOCALITY octet of allowed localities (0: any).
    pub locality: u8,
    /// TPM2_PolicyCpHash / PolicyNameHash / PolicyTemplate.
    pub binding: PolicyBinding,
    /// TPM2_PolicySigned/Secret/Ticket/CounterTimer timeout: the clock value (ms) after which
    /// the session may not authorize (0: none).
    pub timeout: u64,
    /// TPM2_PolicyPCR: the PCR update counter the PCR values were checked at.
    pub pcr_counter: Option<u32>,
    /// TPM2_PolicyAuthValue: the authValue goes into the HMAC key.
    pub auth_value_needed: bool,
    /// TPM2_PolicyPassword: the HMAC field carries the authValue in the clear.
    pub password_needed: bool,
    /// TPM2_PolicyPhysicalPresence.
    pub pp_required: bool,
    /// TPM2_PolicyNvWritten: the TPMA_NV_WRITTEN state the authorized index must have.
    pub nv_written: Option<bool>,
}

impl PolicyState {
    /// The state of a fresh (or restarted) policy session using `hash`.
    pub(crate) fn new(hash: HashAlg) -> Self {
        Self {
            digest: alloc::vec![0u8; hash.digest_size()],
            command_code: None,
            locality: 0,
            binding: PolicyBinding::None,
            timeout: 0,
            pcr_counter: None,
            auth_value_needed: false,
            password_needed: false,
            pp_required: false,
            nv_written: None,
        }
    }
}

/// The entity an HMAC session is bound to: its Name and its authValue (trailing zeros
/// removed) at the time of binding. Changing the authValue breaks the binding.
pub(crate) struct BoundEntity {
    /// The Name of the bind entity.
    pub name: Vec<u8>,
    /// Its authValue when the session started.
    pub auth: Secret,
}

/// One session.
// `session_key` is the specification's sessionKey.
#[allow(clippy::struct_field_names)]
pub(crate) struct Session {
    /// HMAC, policy or trial.
    pub kind: SessionKind,
    /// authHash: the hash of every HMAC, KDF and digest of the session.
    pub hash: HashAlg,
    /// nonceTPM: the TPM's current nonce (as long as the caller's first nonce).
    pub nonce_tpm: Vec<u8>,
    /// sessionKey (empty for an unbound, unsalted session).
    pub session_key: Secret,
    /// The parameter-encryption algorithm (TPM_ALG_NULL: none).
    pub symmetric: TpmtSymDef,
    /// The bind entity of a bound HMAC session (cleared when it becomes an audit session).
    pub bound: Option<BoundEntity>,
    /// The session was bound to a DA-protected entity: failures count for DA.
    pub da_bound: bool,
    /// The session was bound to TPM_RH_LOCKOUT.
    pub lockout_bound: bool,
    /// Policy assertions (policy and trial sessions).
    pub policy: PolicyState,
    /// The audit digest, once the session was used with `audit` set.
    pub audit_digest: Option<Vec<u8>>,
    /// This is the exclusive audit session.
    pub audit_exclusive: bool,
    /// The clock value (ms) the session (or its current policy) started at.
    pub start_time: u64,
    /// Context-saved: the session exists but is not loaded.
    saved: bool,
}

impl Session {
    /// A new, loaded session.
    pub(crate) fn new(
        kind: SessionKind,
        hash: HashAlg,
        nonce_tpm: Vec<u8>,
        session_key: Secret,
        symmetric: TpmtSymDef,
        start_time: u64,
    ) -> Self {
        Self {
            kind,
            hash,
            nonce_tpm,
            session_key,
            symmetric,
            bound: None,
            da_bound: false,
            lockout_bound: false,
            policy: PolicyState::new(hash),
            audit_digest: None,
            audit_exclusive: false,
            start_time,
            saved: false,
        }
    }

    /// The session is loaded (not context-saved).
    pub(crate) fn is_loaded(&self) -> bool {
        !self.saved
    }

    /// Marks the session context-saved (`true`, by TPM2_ContextSave) or loaded again
    /// (`false`, by TPM2_ContextLoad). The session keeps its handle either way.
    pub(crate) fn mark_saved(&mut self, saved: bool) {
        self.saved = saved;
    }

    /// A policy or trial session.
    pub(crate) fn is_policy(&self) -> bool {
        self.kind != SessionKind::Hmac
    }

    /// Forgets every policy assertion (TPM2_PolicyRestart, and after a policy session
    /// authorized a command with continueSession set); the nonce and the DA binding stay.
    pub(crate) fn reset_policy(&mut self) {
        self.policy = PolicyState::new(self.hash);
    }
}

/// `sessionKey = KDFa(hash, auth || salt, "ATH", nonceTPM, nonceCaller, digest bits)` (part 1
/// §19.6.8); empty when both `auth_bind` (the bind entity's authValue, `None` when unbound)
/// and `salt` are absent.
pub(crate) fn session_key(
    hash: HashAlg,
    auth_bind: Option<&[u8]>,
    salt: &[u8],
    nonce_tpm: &[u8],
    nonce_caller: &[u8],
) -> Secret {
    if auth_bind.is_none() && salt.is_empty() {
        return Zeroizing::new(Vec::new());
    }
    let mut key = Zeroizing::new(Vec::with_capacity(2 * MAX_DIGEST + 512));
    key.extend_from_slice(auth_bind.unwrap_or(&[]));
    key.extend_from_slice(salt);
    // digest_size() <= 64, so the bit count fits.
    let bits = u32::try_from(hash.digest_size() * 8).unwrap_or(512);
    kdfa(hash, &key, b"ATH", nonce_tpm, nonce_caller, bits)
}

/// How a session handle of an authorization area resolves.
pub(crate) enum Lookup {
    /// A loaded session of the handle's type.
    Loaded,
    /// The handle's index holds a loaded session of the other type (TPM_RC_HANDLE).
    WrongType,
    /// No loaded session has the handle's index (TPM_RC_REFERENCE_Sx).
    NotLoaded,
}

/// Resolves session handle `h` the way part 3 §5.4 does (by index first, then type).
pub(crate) fn lookup(sessions: &BTreeMap<u32, Session>, h: TpmHandle) -> Lookup {
    let index = h.0 & HANDLE_INDEX_MASK;
    let loaded = |key: u32| sessions.get(&key).is_some_and(Session::is_loaded);
    let other = match h.ty() {
        TpmHt::HMAC_SESSION => TpmHandle::POLICY_SESSION_FIRST.0 | index,
        TpmHt::POLICY_SESSION => TpmHandle::HMAC_SESSION_FIRST.0 | index,
        _ => return Lookup::NotLoaded,
    };
    if index as usize >= MAX_ACTIVE_SESSIONS {
        Lookup::NotLoaded
    } else if loaded(h.0) {
        Lookup::Loaded
    } else if loaded(other) {
        Lookup::WrongType
    } else {
        Lookup::NotLoaded
    }
}

/// Number of loaded sessions.
pub(crate) fn loaded_count(sessions: &BTreeMap<u32, Session>) -> usize {
    sessions.values().filter(|s| s.is_loaded()).count()
}

/// The handle for a new session of `kind`: TPM_RC_SESSION_MEMORY when
/// [`MAX_LOADED_SESSIONS`] are loaded, TPM_RC_SESSION_HANDLES when [`MAX_ACTIVE_SESSIONS`]
/// exist.
pub(crate) fn new_handle(
    sessions: &BTreeMap<u32, Session>,
    kind: SessionKind,
) -> Result<TpmHandle, TpmRc> {
    if loaded_count(sessions) >= MAX_LOADED_SESSIONS {
        return Err(TpmRc::SESSION_MEMORY);
    }
    let used = |i: u32| sessions.keys().any(|k| k & HANDLE_INDEX_MASK == i);
    let max = u32::try_from(MAX_ACTIVE_SESSIONS).unwrap_or(u32::MAX);
    let index = (0..max).find(|i| !used(*i)).ok_or(TpmRc::SESSION_HANDLES)?;
    let base = u32::from(kind.handle_type().0) << 24;
    Ok(TpmHandle(base | index))
}

fn save_hash(w: &mut Writer, h: HashAlg) {
    w.u16(h.alg().0);
}

fn load_hash(r: &mut Loader<'_>, what: &'static str) -> Result<HashAlg, StateError> {
    HashAlg::from_alg(TpmAlgId(r.u16(what)?)).ok_or(StateError::BadValue(what))
}

impl Persist for PolicyState {
    fn save(&self, w: &mut Writer) {
        w.bytes(&self.digest);
        w.u32(self.command_code.map_or(0, |c| c.0));
        w.u8(self.locality);
        match &self.binding {
            PolicyBinding::None => w.u8(0),
            PolicyBinding::CpHash(d) => {
                w.u8(1);
                w.bytes(d);
            }
            PolicyBinding::NameHash(d) => {
                w.u8(2);
                w.bytes(d);
            }
            PolicyBinding::TemplateHash(d) => {
                w.u8(3);
                w.bytes(d);
            }
        }
        w.u64(self.timeout);
        w.bool(self.pcr_counter.is_some());
        w.u32(self.pcr_counter.unwrap_or(0));
        w.bool(self.auth_value_needed);
        w.bool(self.password_needed);
        w.bool(self.pp_required);
        w.u8(match self.nv_written {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let digest = r.bytes(MAX_DIGEST, "policyDigest")?.to_vec();
        let command_code = match r.u32("policy command code")? {
            0 => None,
            c => Some(TpmCc(c)),
        };
        let locality = r.u8("policy locality")?;
        let binding = match r.u8("policy binding kind")? {
            0 => PolicyBinding::None,
            1 => PolicyBinding::CpHash(r.bytes(MAX_DIGEST, "policy cpHash")?.to_vec()),
            2 => PolicyBinding::NameHash(r.bytes(MAX_DIGEST, "policy nameHash")?.to_vec()),
            3 => PolicyBinding::TemplateHash(r.bytes(MAX_DIGEST, "policy templateHash")?.to_vec()),
            _ => return Err(StateError::BadValue("policy binding kind")),
        };
        let timeout = r.u64("policy timeout")?;
        let has_pcr = r.bool("policy PCR flag")?;
        let pcr = r.u32("policy PCR counter")?;
        Ok(Self {
            digest,
            command_code,
            locality,
            binding,
            timeout,
            pcr_counter: has_pcr.then_some(pcr),
            auth_value_needed: r.bool("isAuthValueNeeded")?,
            password_needed: r.bool("isPasswordNeeded")?,
            pp_required: r.bool("isPPRequired")?,
            nv_written: match r.u8("policy NV written")? {
                0 => None,
                1 => Some(false),
                2 => Some(true),
                _ => return Err(StateError::BadValue("policy NV written")),
            },
        })
    }
}

impl Persist for Session {
    fn save(&self, w: &mut Writer) {
        w.u8(self.kind.code());
        save_hash(w, self.hash);
        w.bytes(&self.nonce_tpm);
        w.bytes(&self.session_key);
        w.bool(!self.symmetric.is_null());
        if !self.symmetric.is_null() {
            w.tpm(&self.symmetric);
        }
        w.bool(self.bound.is_some());
        if let Some(b) = &self.bound {
            w.bytes(&b.name);
            w.bytes(&b.auth);
        }
        w.bool(self.da_bound);
        w.bool(self.lockout_bound);
        self.policy.save(w);
        w.bool(self.audit_digest.is_some());
        if let Some(d) = &self.audit_digest {
            w.bytes(d);
        }
        w.bool(self.audit_exclusive);
        w.u64(self.start_time);
        w.bool(self.saved);
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let kind = SessionKind::from_code(r.u8("session type")?)
            .ok_or(StateError::BadValue("session type"))?;
        let hash = load_hash(r, "session hash")?;
        let nonce_tpm = r.bytes(MAX_DIGEST, "nonceTPM")?.to_vec();
        let session_key = r.secret(MAX_DIGEST, "sessionKey")?;
        let symmetric = if r.bool("session symmetric flag")? {
            r.tpm("session symmetric")?
        } else {
            TpmtSymDef::Null
        };
        let bound = if r.bool("bound flag")? {
            Some(BoundEntity {
                name: r.bytes(MAX_NAME, "bind name")?.to_vec(),
                auth: r.secret(MAX_DIGEST, "bind authValue")?,
            })
        } else {
            None
        };
        let da_bound = r.bool("isDaBound")?;
        let lockout_bound = r.bool("isLockoutBound")?;
        let policy = PolicyState::load(r)?;
        let audit_digest = if r.bool("audit flag")? {
            Some(r.bytes(MAX_DIGEST, "audit digest")?.to_vec())
        } else {
            None
        };
        Ok(Self {
            kind,
            hash,
            nonce_tpm,
            session_key,
            symmetric,
            bound,
            da_bound,
            lockout_bound,
            policy,
            audit_digest,
            audit_exclusive: r.bool("audit exclusive")?,
            start_time: r.u64("session start time")?,
            saved: r.bool("session saved flag")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: SessionKind) -> Session {
        let mut s = Session::new(
            kind,
            HashAlg::Sha256,
            alloc::vec![7u8; 16],
            Zeroizing::new(alloc::vec![9u8; 32]),
            TpmtSymDef::AES_128_CFB,
            1234,
        );
        s.bound = Some(BoundEntity {
            name: alloc::vec![0x40, 0, 0, 1],
            auth: Zeroizing::new(b"owner".to_vec()),
        });
        s.da_bound = true;
        s.policy.command_code = Some(TpmCc::UNSEAL);
        s.policy.binding = PolicyBinding::NameHash(alloc::vec![3u8; 32]);
        s.policy.pcr_counter = Some(5);
        s.policy.nv_written = Some(true);
        s.audit_digest = Some(alloc::vec![1u8; 32]);
        s.audit_exclusive = true;
        s.mark_saved(true);
        s
    }

    fn bytes(s: &Session) -> Vec<u8> {
        let mut w = Writer::new();
        s.save(&mut w);
        w.out.to_vec()
    }

    #[test]
    fn persist_round_trip_is_lossless() {
        for kind in [SessionKind::Hmac, SessionKind::Policy, SessionKind::Trial] {
            let s = sample(kind);
            let b = bytes(&s);
            let mut r = Loader::new(&b);
            let back = Session::load(&mut r).unwrap();
            r.finish("session").unwrap();
            assert_eq!(bytes(&back), b);
            assert_eq!(back.kind, kind);
            assert!(!back.is_loaded());
            assert_eq!(back.policy, s.policy);
            assert_eq!(&*back.session_key, &*s.session_key);
        }
        let mut plain = Session::new(
            SessionKind::Hmac,
            HashAlg::Sha1,
            alloc::vec![1u8; 20],
            Zeroizing::new(Vec::new()),
            TpmtSymDef::Null,
            0,
        );
        plain.mark_saved(false);
        let b = bytes(&plain);
        let back = Session::load(&mut Loader::new(&b)).unwrap();
        assert!(back.symmetric.is_null() && back.bound.is_none() && back.is_loaded());
    }

    #[test]
    fn damaged_blobs_are_rejected() {
        let b = bytes(&sample(SessionKind::Policy));
        for cut in 0..b.len() {
            assert!(
                Session::load(&mut Loader::new(&b[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let mut bad = b.clone();
        bad[0] = 2; // no TPM_SE 2
        assert!(Session::load(&mut Loader::new(&bad)).is_err());
    }

    #[test]
    fn handles_share_one_index_space() {
        let mut map = BTreeMap::new();
        let h = new_handle(&map, SessionKind::Hmac).unwrap();
        assert_eq!(h, TpmHandle(0x0200_0000));
        map.insert(h.0, sample(SessionKind::Hmac));
        map.get_mut(&h.0).unwrap().mark_saved(false);
        let p = new_handle(&map, SessionKind::Trial).unwrap();
        assert_eq!(p, TpmHandle(0x0300_0001));
        map.insert(p.0, sample(SessionKind::Trial));
        map.get_mut(&p.0).unwrap().mark_saved(false);
        assert!(matches!(
            lookup(&map, TpmHandle(0x0200_0000)),
            Lookup::Loaded
        ));
        assert!(matches!(
            lookup(&map, TpmHandle(0x0300_0000)),
            Lookup::WrongType
        ));
        assert!(matches!(
            lookup(&map, TpmHandle(0x0200_0002)),
            Lookup::NotLoaded
        ));
        assert!(matches!(
            lookup(&map, TpmHandle(0x0200_0040)),
            Lookup::NotLoaded
        ));
        map.insert(0x0200_0002, sample(SessionKind::Hmac));
        map.get_mut(&0x0200_0002).unwrap().mark_saved(false);
        assert_eq!(
            new_handle(&map, SessionKind::Hmac),
            Err(TpmRc::SESSION_MEMORY)
        );
        // A context-saved session frees its slot but not its handle.
        map.get_mut(&0x0200_0000).unwrap().mark_saved(true);
        assert!(matches!(
            lookup(&map, TpmHandle(0x0200_0000)),
            Lookup::NotLoaded
        ));
        assert_eq!(
            new_handle(&map, SessionKind::Hmac),
            Ok(TpmHandle(0x0200_0003))
        );
        assert_eq!(loaded_count(&map), 2);
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn session_handles_run_out() {
        let mut map = BTreeMap::new();
        for i in 0..u32::try_from(MAX_ACTIVE_SESSIONS).unwrap() {
            map.insert(0x0200_0000 | i, sample(SessionKind::Hmac));
        }
        assert_eq!(
            new_handle(&map, SessionKind::Policy),
            Err(TpmRc::SESSION_HANDLES)
        );
    }
}

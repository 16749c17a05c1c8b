//! The whole TPM as data: permanent state (what a real TPM keeps in NV: seeds, proofs,
//! hierarchy authorizations, persistent objects, clock, counters), volatile state (PCRs,
//! loaded objects and sessions, the DRBG), and what TPM2_Shutdown(STATE) saved for the next
//! TPM2_Startup(STATE) (part 1 §12.2 "TPM initialization", §36 "NV memory").
//!
//! # Blob format (version 1)
//!
//! ```text
//! magic     8 bytes  "VTPMSTAT"
//! version   u16      1
//! sections  repeated: tag u16, length u32, body
//!             1 permanent, 2 volatile, 3 saved-by-Shutdown(STATE) (optional),
//!             4 NV indices (optional: absent when no index was ever defined; `nv.rs`),
//!             7 command audit (optional: absent while a new TPM's; `audit.rs`)
//!             8 commit state of the two-phase ECC commands (optional: absent while it is
//!               pristine, and in blobs written before TPM2_Commit existed)
//! digest    32 bytes SHA-256 of everything before it
//! ```
//!
//! All integers are big-endian; bodies use the encoding of the `codec` module. A reader
//! rejects unknown versions, missing or repeated sections, trailing bytes and a bad digest.
//! The digest detects accidental damage only: confidentiality and authenticity come from the
//! sealing layer (`crate::seal`) the blob is stored under.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use tpm2::alg::TpmAlgId;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::structures::TpmlPcrSelection;
use zeroize::Zeroizing;

use super::Platform;
use super::audit::CommandAudit;
use super::codec::{Loader, Persist, Writer};
use super::crypto::drbg::CtrDrbg;
use super::crypto::hash::{HashAlg, digest};
use super::nv::NvStore;
use super::object::Object;
use super::pcr::PcrBanks;
use super::session::Session;

/// Why a state blob cannot be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// The blob does not start with the state magic.
    BadMagic,
    /// The blob was written by a format version this build does not read.
    UnsupportedVersion(u16),
    /// The blob's digest does not match its contents.
    BadDigest,
    /// The blob ended inside the named field.
    Truncated(&'static str),
    /// The named field is larger than allowed.
    TooLarge(&'static str),
    /// The named field holds a value that is not allowed.
    BadValue(&'static str),
    /// Bytes remain after the named structure.
    TrailingBytes(&'static str),
    /// A required section is missing or repeated.
    BadSection(u16),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => f.write_str("not a vTPM state blob (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported state format version {v}"),
            Self::BadDigest => f.write_str("state blob is damaged (digest mismatch)"),
            Self::Truncated(w) => write!(f, "state blob ends inside {w}"),
            Self::TooLarge(w) => write!(f, "state field {w} is too large"),
            Self::BadValue(w) => write!(f, "state field {w} holds an invalid value"),
            Self::TrailingBytes(w) => write!(f, "unexpected bytes after {w}"),
            Self::BadSection(t) => write!(f, "state section {t} is missing or repeated"),
        }
    }
}

/// A secret byte string.
pub(crate) type Secret = Zeroizing<Vec<u8>>;

/// Size of primary seeds and hierarchy proofs (part 1 §14.3: at least the largest digest the
/// TPM implements for object names; SHA-512 here).
pub(crate) const SEED_SIZE: usize = 64;

/// Largest authValue or digest kept in state.
const MAX_VALUE: usize = 128;

/// An authorization policy: a digest and the hash it was computed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    pub alg: TpmAlgId,
    pub digest: Vec<u8>,
}

impl Policy {
    pub(crate) fn none() -> Self {
        Self {
            alg: TpmAlgId::NULL,
            digest: Vec::new(),
        }
    }

    pub(crate) fn into_parts(self) -> (TpmAlgId, Vec<u8>) {
        (self.alg, self.digest)
    }
}

impl Persist for Policy {
    fn save(&self, w: &mut Writer) {
        w.u16(self.alg.0);
        w.bytes(&self.digest);
    }
    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        Ok(Self {
            alg: TpmAlgId(r.u16("policy alg")?),
            digest: r.bytes(MAX_VALUE, "policy digest")?.to_vec(),
        })
    }
}

/// Dictionary-attack protection state (part 1 §19.8.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DaState {
    /// failedTries: authorization failures counted so far.
    pub failed_tries: u32,
    /// maxTries: failures before lockout.
    pub max_tries: u32,
    /// recoveryTime: seconds to forget one failure (0: only DictionaryAttackLockReset).
    pub recovery_time: u32,
    /// lockoutRecovery: seconds before lockoutAuth may be tried again after a failure.
    pub lockout_recovery: u32,
    /// lockoutAuth failed and `lockout_recovery` has not elapsed.
    pub lockout_auth_locked: bool,
    /// Clock value (ms) of the last decrement of `failed_tries` (or of the last failure).
    pub last_tick: u64,
    /// Clock value (ms) of the last lockoutAuth failure.
    pub lockout_failed_at: u64,
}

impl DaState {
    /// The parameters a new TPM has (and TPM2_Clear restores).
    pub(crate) fn new() -> Self {
        // The defaults libtpms manufactures with.
        Self {
            failed_tries: 0,
            max_tries: 3,
            recovery_time: 1000,
            lockout_recovery: 1000,
            lockout_auth_locked: false,
            last_tick: 0,
            lockout_failed_at: 0,
        }
    }
}

impl Persist for DaState {
    fn save(&self, w: &mut Writer) {
        w.u32(self.failed_tries);
        w.u32(self.max_tries);
        w.u32(self.recovery_time);
        w.u32(self.lockout_recovery);
        w.bool(self.lockout_auth_locked);
        w.u64(self.last_tick);
        w.u64(self.lockout_failed_at);
    }
    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        Ok(Self {
            failed_tries: r.u32("failedTries")?,
            max_tries: r.u32("maxTries")?,
            recovery_time: r.u32("recoveryTime")?,
            lockout_recovery: r.u32("lockoutRecovery")?,
            lockout_auth_locked: r.bool("lockoutAuth locked")?,
            last_tick: r.u64("DA tick")?,
            lockout_failed_at: r.u64("lockout failure time")?,
        })
    }
}

/// How the TPM was last shut down (part 1 §12.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShutdownKind {
    /// No TPM2_Shutdown before the last _TPM_Init (or never started): not orderly.
    None,
    /// TPM2_Shutdown(CLEAR).
    Clear,
    /// TPM2_Shutdown(STATE).
    State,
}

/// The state a real TPM keeps in NV.
pub(crate) struct Permanent {
    pub eps: Secret,
    pub sps: Secret,
    pub pps: Secret,
    pub eh_proof: Secret,
    pub sh_proof: Secret,
    pub ph_proof: Secret,
    pub owner_auth: Secret,
    pub endorsement_auth: Secret,
    pub lockout_auth: Secret,
    pub owner_policy: Policy,
    pub endorsement_policy: Policy,
    pub lockout_policy: Policy,
    pub da: DaState,
    pub disable_clear: bool,
    /// The PCR banks allocated now.
    pub pcr_allocation: TpmlPcrSelection,
    /// The allocation TPM2_PCR_Allocate set for the next TPM2_Startup(CLEAR).
    pub pcr_allocation_pending: Option<TpmlPcrSelection>,
    /// Persistent objects by handle.
    pub persistent: BTreeMap<u32, Object>,
    /// TPMS_CLOCK_INFO.clock (ms), advanced while powered.
    pub clock: u64,
    pub reset_count: u32,
    pub restart_count: u32,
    /// How the TPM was last shut down.
    pub shutdown: ShutdownKind,
    /// NV indices (saved as their own section of the blob).
    pub nv: NvStore,
    /// The command audit list, algorithm, counter and digest (their own section).
    pub audit: CommandAudit,
}

/// What TPM2_Shutdown(STATE) keeps for TPM2_Startup(STATE) (part 1 §12.2.3: "TPM Resume").
pub(crate) struct Saved {
    pub pcr: PcrBanks,
    pub null_seed: Secret,
    pub null_proof: Secret,
    pub context_counter: u64,
    /// `Volatile::clear_count` at TPM2_Shutdown(STATE).
    pub clear_count: u32,
    pub platform_auth: Secret,
    pub platform_policy: Policy,
    /// Context-saved sessions at the following _TPM_Init: they stay valid across TPM Restart
    /// and TPM Resume (part 1 §30.4), not across TPM Reset.
    pub sessions: BTreeMap<u32, Session>,
    /// `Volatile::session_contexts` of those sessions (which context of each is current).
    pub session_contexts: BTreeMap<u32, u64>,
    /// The locality of the TPM2_Startup before the TPM2_Shutdown(STATE): TPM2_Startup(STATE)
    /// must come from the same one.
    pub startup_locality: u8,
}

/// The state a real TPM loses at power-off.
pub(crate) struct Volatile {
    /// TPM2_Startup succeeded since the last _TPM_Init.
    pub started: bool,
    pub null_seed: Secret,
    pub null_proof: Secret,
    pub platform_auth: Secret,
    pub platform_policy: Policy,
    pub ph_enable: bool,
    pub sh_enable: bool,
    pub eh_enable: bool,
    pub ph_enable_nv: bool,
    pub pcr: PcrBanks,
    /// Loaded transient objects (including sequence objects) by handle.
    pub objects: BTreeMap<u32, Object>,
    /// Sessions (loaded or context-saved) by handle.
    pub sessions: BTreeMap<u32, Session>,
    /// The counter of saved contexts (part 1 §30.3.2, contextCounter).
    pub context_counter: u64,
    /// clearCount: TPM Restarts since the last TPM Reset (kept by TPM Resume); contexts of
    /// stClear objects are bound to it (commands/context.rs).
    pub clear_count: u32,
    /// The sequence number of the live context of each context-saved session, by session
    /// handle (TPM2_ContextLoad refuses any other context of the session).
    pub session_contexts: BTreeMap<u32, u64>,
    /// The TPM's random bit generator.
    pub drbg: CtrDrbg,
    /// The self tests not yet passed since _TPM_Init (bit i: test i of `commands::testing`).
    pub untested: u32,
    /// Failure mode (part 1 §12.3): the algorithm whose self test failed. Only
    /// TPM2_GetTestResult and TPM2_GetCapability run until the next _TPM_Init.
    pub failed_test: Option<TpmAlgId>,
    /// TPMA_STARTUP_CLEAR.orderly: the last TPM2_Startup followed a TPM2_Shutdown.
    pub orderly: bool,
    /// The locality of the last successful TPM2_Startup.
    pub startup_locality: u8,
}

/// Size of the commit array in bytes: 8 times this many TPM2_Commit / TPM2_EC_Ephemeral results
/// may be outstanding (TPM_PT_SPLIT_MAX; libtpms' `gr.commitArray` is 16 bytes too).
pub(crate) const COMMIT_ARRAY_BYTES: usize = 16;

/// The state of the commit mechanism of the two-phase ECC commands (part 1 §C.2.5, the
/// reference implementation's `gr.commitNonce`, `gr.commitCounter`, `gr.commitArray`). Like
/// libtpms' "reset data" it survives TPM Restart and TPM Resume and starts afresh at TPM Reset
/// (`commands::startup`); `commands::ecc_commit` uses it.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct CommitState {
    /// commitNonce, the KDFa key of every commit random value. Empty after a TPM Reset until
    /// the first commitment draws it from the DRBG (the reference implementation draws it in
    /// TPM2_Startup; drawing it on first use is the same to every observer and leaves the
    /// DRBG stream of a TPM that never commits as it was).
    pub nonce: Secret,
    /// commitCounter: the number of commitments made since the last TPM Reset.
    pub counter: u64,
    /// commitArray: bit `c mod 128` set while the commitment with counter `c` is unused.
    pub array: [u8; COMMIT_ARRAY_BYTES],
}

impl fmt::Debug for CommitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitState")
            .field("counter", &self.counter)
            .field("array", &self.array)
            .finish_non_exhaustive()
    }
}

impl CommitState {
    /// Nothing committed and no nonce drawn (as after TPM Reset): not worth a section.
    fn is_pristine(&self) -> bool {
        *self == CommitState::default()
    }
}

impl Persist for CommitState {
    fn save(&self, w: &mut Writer) {
        w.bytes(&self.nonce);
        w.u64(self.counter);
        w.bytes(&self.array);
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let nonce = secret(r, "commitNonce")?;
        let counter = r.u64("commitCounter")?;
        let array = r
            .bytes(COMMIT_ARRAY_BYTES, "commitArray")?
            .try_into()
            .map_err(|_| StateError::BadValue("commitArray"))?;
        Ok(Self {
            nonce,
            counter,
            array,
        })
    }
}

/// The whole TPM.
pub(crate) struct State {
    pub perm: Permanent,
    pub vol: Volatile,
    /// Set by TPM2_Shutdown(STATE), consumed by the next TPM2_Startup.
    pub saved: Option<Saved>,
    /// The commit state of TPM2_Commit, TPM2_EC_Ephemeral and ECDAA (saved as its own
    /// section of the blob).
    pub commit: CommitState,
}

fn fresh(platform: &mut dyn Platform, n: usize) -> Secret {
    let mut v = Zeroizing::new(alloc::vec![0u8; n]);
    platform.fill_entropy(&mut v);
    v
}

fn new_drbg(platform: &mut dyn Platform) -> CtrDrbg {
    let entropy = fresh(platform, 48);
    let nonce = fresh(platform, 16);
    CtrDrbg::instantiate(&entropy, &nonce, b"vtpm-domain DRBG")
}

impl Volatile {
    fn new(platform: &mut dyn Platform, allocation: &TpmlPcrSelection) -> Self {
        Self {
            started: false,
            null_seed: fresh(platform, SEED_SIZE),
            null_proof: fresh(platform, SEED_SIZE),
            platform_auth: Zeroizing::new(Vec::new()),
            platform_policy: Policy::none(),
            ph_enable: true,
            sh_enable: true,
            eh_enable: true,
            ph_enable_nv: true,
            pcr: PcrBanks::new(allocation),
            objects: BTreeMap::new(),
            sessions: BTreeMap::new(),
            context_counter: 0,
            clear_count: 0,
            session_contexts: BTreeMap::new(),
            drbg: new_drbg(platform),
            untested: u32::MAX,
            failed_test: None,
            orderly: false,
            startup_locality: 0,
        }
    }

    /// Random bytes from the DRBG, reseeding from the platform when it is due.
    pub(crate) fn drbg_generate(&mut self, platform: &mut dyn Platform, out: &mut [u8]) {
        if self.drbg.needs_reseed() {
            let entropy = fresh(platform, 48);
            self.drbg.reseed(&entropy, &[]);
        }
        self.drbg.generate(out, &[]);
    }
}

impl State {
    /// A freshly manufactured TPM.
    pub(crate) fn manufacture(platform: &mut dyn Platform) -> Self {
        let allocation = PcrBanks::default_allocation();
        let perm = Permanent {
            eps: fresh(platform, SEED_SIZE),
            sps: fresh(platform, SEED_SIZE),
            pps: fresh(platform, SEED_SIZE),
            eh_proof: fresh(platform, SEED_SIZE),
            sh_proof: fresh(platform, SEED_SIZE),
            ph_proof: fresh(platform, SEED_SIZE),
            owner_auth: Zeroizing::new(Vec::new()),
            endorsement_auth: Zeroizing::new(Vec::new()),
            lockout_auth: Zeroizing::new(Vec::new()),
            owner_policy: Policy::none(),
            endorsement_policy: Policy::none(),
            lockout_policy: Policy::none(),
            da: DaState::new(),
            disable_clear: false,
            pcr_allocation: allocation.clone(),
            pcr_allocation_pending: None,
            persistent: BTreeMap::new(),
            clock: 0,
            reset_count: 0,
            restart_count: 0,
            // A new TPM starts as if orderly shut down (as libtpms manufactures).
            shutdown: ShutdownKind::Clear,
            nv: NvStore::default(),
            audit: CommandAudit::default(),
        };
        let vol = Volatile::new(platform, &allocation);
        Self {
            perm,
            vol,
            saved: None,
            commit: CommitState::default(),
        }
    }

    /// _TPM_Init: volatile state is lost. The DRBG is re-instantiated from fresh entropy.
    pub(crate) fn power_on(&mut self, platform: &mut dyn Platform) {
        let old = core::mem::replace(
            &mut self.vol,
            Volatile::new(platform, &self.perm.pcr_allocation),
        );
        if let Some(saved) = &mut self.saved {
            saved.sessions = old
                .sessions
                .into_iter()
                .filter(|(_, s)| !s.is_loaded())
                .collect();
            saved.session_contexts = old.session_contexts;
        }
    }

    /// Advances the TPM clock by `ms` while powered.
    pub(crate) fn advance_clock(&mut self, ms: u64) {
        self.perm.clock = self.perm.clock.saturating_add(ms);
    }

    /// A loaded transient or persistent object.
    pub(crate) fn object(&self, h: TpmHandle) -> Option<&Object> {
        match h.ty() {
            TpmHt::TRANSIENT => self.vol.objects.get(&h.0),
            TpmHt::PERSISTENT => self.perm.persistent.get(&h.0),
            _ => None,
        }
    }

    /// A loaded transient or persistent object, mutable.
    pub(crate) fn object_mut(&mut self, h: TpmHandle) -> Option<&mut Object> {
        match h.ty() {
            TpmHt::TRANSIENT => self.vol.objects.get_mut(&h.0),
            TpmHt::PERSISTENT => self.perm.persistent.get_mut(&h.0),
            _ => None,
        }
    }

    /// The seed of a hierarchy (TPM_RH_NULL's is renewed at every TPM Reset).
    pub(crate) fn seed(&self, hierarchy: TpmHandle) -> &[u8] {
        match hierarchy {
            TpmHandle::ENDORSEMENT => &self.perm.eps,
            TpmHandle::OWNER => &self.perm.sps,
            TpmHandle::PLATFORM => &self.perm.pps,
            _ => &self.vol.null_seed,
        }
    }

    /// The proof value of a hierarchy (part 1 §14.4).
    pub(crate) fn proof(&self, hierarchy: TpmHandle) -> &[u8] {
        match hierarchy {
            TpmHandle::ENDORSEMENT => &self.perm.eh_proof,
            TpmHandle::OWNER => &self.perm.sh_proof,
            TpmHandle::PLATFORM => &self.perm.ph_proof,
            _ => &self.vol.null_proof,
        }
    }

    /// The whole state as a blob (see the module documentation).
    pub(crate) fn to_blob(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.out.extend_from_slice(MAGIC);
        w.u16(VERSION);
        w.u16(SECTION_PERMANENT);
        w.nested(|w| self.perm.save(w));
        w.u16(SECTION_VOLATILE);
        w.nested(|w| self.vol.save(w));
        if let Some(saved) = &self.saved {
            w.u16(SECTION_SAVED);
            w.nested(|w| saved.save(w));
        }
        if !self.perm.nv.is_pristine() {
            w.u16(SECTION_NV);
            w.nested(|w| self.perm.nv.save(w));
        }
        if !self.perm.audit.is_pristine() {
            w.u16(SECTION_AUDIT);
            w.nested(|w| self.perm.audit.save(w));
        }
        if !self.commit.is_pristine() {
            w.u16(SECTION_COMMIT);
            w.nested(|w| self.commit.save(w));
        }
        let d = digest(HashAlg::Sha256, &[&w.out]);
        w.out.extend_from_slice(&d);
        w.out
    }

    /// Reads a blob written by [`State::to_blob`].
    pub(crate) fn from_blob(blob: &[u8]) -> Result<Self, StateError> {
        if blob.len() < MAGIC.len() + 2 + 32 {
            return Err(StateError::Truncated("state header"));
        }
        if &blob[..MAGIC.len()] != MAGIC {
            return Err(StateError::BadMagic);
        }
        let (body, tag) = blob.split_at(blob.len() - 32);
        if digest(HashAlg::Sha256, &[body]) != tag {
            return Err(StateError::BadDigest);
        }
        let mut r = Loader::new(&body[MAGIC.len()..]);
        let version = r.u16("version")?;
        if version != VERSION {
            return Err(StateError::UnsupportedVersion(version));
        }
        let (mut perm, mut vol, mut saved, mut nv) = (None::<Permanent>, None, None, None);
        let mut audit = None;
        let mut commit = None;
        while r.remaining() > 0 {
            let tag = r.u16("section tag")?;
            match tag {
                SECTION_PERMANENT if perm.is_none() => {
                    perm = Some(r.nested("permanent", Permanent::load)?);
                }
                SECTION_VOLATILE if vol.is_none() => {
                    vol = Some(r.nested("volatile", Volatile::load)?);
                }
                SECTION_SAVED if saved.is_none() => {
                    saved = Some(r.nested("saved", Saved::load)?);
                }
                SECTION_NV if nv.is_none() => {
                    nv = Some(r.nested("NV indices", NvStore::load)?);
                }
                SECTION_AUDIT if audit.is_none() => {
                    audit = Some(r.nested("command audit", CommandAudit::load)?);
                }
                SECTION_COMMIT if commit.is_none() => {
                    commit = Some(r.nested("commit state", CommitState::load)?);
                }
                other => return Err(StateError::BadSection(other)),
            }
        }
        let mut perm = perm.ok_or(StateError::BadSection(SECTION_PERMANENT))?;
        perm.nv = nv.unwrap_or_default();
        perm.audit = audit.unwrap_or_default();
        Ok(Self {
            perm,
            vol: vol.ok_or(StateError::BadSection(SECTION_VOLATILE))?,
            saved,
            commit: commit.unwrap_or_default(),
        })
    }
}

const MAGIC: &[u8; 8] = b"VTPMSTAT";
const VERSION: u16 = 1;
const SECTION_PERMANENT: u16 = 1;
const SECTION_VOLATILE: u16 = 2;
const SECTION_SAVED: u16 = 3;
const SECTION_NV: u16 = 4;
const SECTION_AUDIT: u16 = 7;
const SECTION_COMMIT: u16 = 8;

/// Most persistent objects or loaded transient objects/sessions a blob may hold.
const MAX_ENTRIES: usize = 4096;

fn save_map<T: Persist>(w: &mut Writer, map: &BTreeMap<u32, T>) {
    w.u32(u32::try_from(map.len()).unwrap_or(u32::MAX));
    for (k, v) in map {
        w.u32(*k);
        v.save(w);
    }
}

fn load_map<T: Persist>(
    r: &mut Loader<'_>,
    what: &'static str,
) -> Result<BTreeMap<u32, T>, StateError> {
    let n = usize::try_from(r.u32(what)?).unwrap_or(usize::MAX);
    if n > MAX_ENTRIES {
        return Err(StateError::TooLarge(what));
    }
    let mut map = BTreeMap::new();
    for _ in 0..n {
        let k = r.u32(what)?;
        if map.insert(k, T::load(r)?).is_some() {
            return Err(StateError::BadValue(what));
        }
    }
    Ok(map)
}

fn secret(r: &mut Loader<'_>, what: &'static str) -> Result<Secret, StateError> {
    r.secret(MAX_VALUE, what)
}

impl Persist for Permanent {
    fn save(&self, w: &mut Writer) {
        for s in [
            &self.eps,
            &self.sps,
            &self.pps,
            &self.eh_proof,
            &self.sh_proof,
            &self.ph_proof,
        ] {
            w.bytes(s);
        }
        for s in [&self.owner_auth, &self.endorsement_auth, &self.lockout_auth] {
            w.bytes(s);
        }
        self.owner_policy.save(w);
        self.endorsement_policy.save(w);
        self.lockout_policy.save(w);
        self.da.save(w);
        w.bool(self.disable_clear);
        w.tpm(&self.pcr_allocation);
        w.bool(self.pcr_allocation_pending.is_some());
        if let Some(p) = &self.pcr_allocation_pending {
            w.tpm(p);
        }
        save_map(w, &self.persistent);
        w.u64(self.clock);
        w.u32(self.reset_count);
        w.u32(self.restart_count);
        w.u8(match self.shutdown {
            ShutdownKind::None => 0,
            ShutdownKind::Clear => 1,
            ShutdownKind::State => 2,
        });
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        Ok(Self {
            eps: secret(r, "EPS")?,
            sps: secret(r, "SPS")?,
            pps: secret(r, "PPS")?,
            eh_proof: secret(r, "ehProof")?,
            sh_proof: secret(r, "shProof")?,
            ph_proof: secret(r, "phProof")?,
            owner_auth: secret(r, "ownerAuth")?,
            endorsement_auth: secret(r, "endorsementAuth")?,
            lockout_auth: secret(r, "lockoutAuth")?,
            owner_policy: Policy::load(r)?,
            endorsement_policy: Policy::load(r)?,
            lockout_policy: Policy::load(r)?,
            da: DaState::load(r)?,
            disable_clear: r.bool("disableClear")?,
            pcr_allocation: r.tpm("PCR allocation")?,
            pcr_allocation_pending: if r.bool("pending allocation")? {
                Some(r.tpm("pending PCR allocation")?)
            } else {
                None
            },
            persistent: load_map(r, "persistent objects")?,
            clock: r.u64("clock")?,
            reset_count: r.u32("resetCount")?,
            restart_count: r.u32("restartCount")?,
            shutdown: match r.u8("shutdown kind")? {
                0 => ShutdownKind::None,
                1 => ShutdownKind::Clear,
                2 => ShutdownKind::State,
                _ => return Err(StateError::BadValue("shutdown kind")),
            },
            nv: NvStore::default(),
            audit: CommandAudit::default(),
        })
    }
}

impl Persist for Volatile {
    fn save(&self, w: &mut Writer) {
        w.bool(self.started);
        w.bytes(&self.null_seed);
        w.bytes(&self.null_proof);
        w.bytes(&self.platform_auth);
        self.platform_policy.save(w);
        for b in [
            self.ph_enable,
            self.sh_enable,
            self.eh_enable,
            self.ph_enable_nv,
        ] {
            w.bool(b);
        }
        self.pcr.save(w);
        save_map(w, &self.objects);
        save_map(w, &self.sessions);
        w.u64(self.context_counter);
        w.u32(self.clear_count);
        save_map(w, &self.session_contexts);
        w.bytes(&self.drbg.to_bytes());
        w.u32(self.untested);
        w.bool(self.failed_test.is_some());
        w.u16(self.failed_test.map_or(0, |a| a.0));
        w.bool(self.orderly);
        w.u8(self.startup_locality);
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        Ok(Self {
            started: r.bool("started")?,
            null_seed: secret(r, "nullSeed")?,
            null_proof: secret(r, "nullProof")?,
            platform_auth: secret(r, "platformAuth")?,
            platform_policy: Policy::load(r)?,
            ph_enable: r.bool("phEnable")?,
            sh_enable: r.bool("shEnable")?,
            eh_enable: r.bool("ehEnable")?,
            ph_enable_nv: r.bool("phEnableNV")?,
            pcr: PcrBanks::load(r)?,
            objects: load_map(r, "transient objects")?,
            sessions: load_map(r, "sessions")?,
            context_counter: r.u64("contextCounter")?,
            clear_count: r.u32("clearCount")?,
            session_contexts: load_map(r, "session contexts")?,
            drbg: CtrDrbg::from_bytes(r.bytes(MAX_VALUE, "DRBG")?)
                .map_err(|_| StateError::BadValue("DRBG"))?,
            untested: r.u32("untested self tests")?,
            failed_test: {
                let failed = r.bool("failure mode")?;
                let alg = TpmAlgId(r.u16("failed self test")?);
                failed.then_some(alg)
            },
            orderly: r.bool("orderly")?,
            startup_locality: r.u8("startup locality")?,
        })
    }
}

impl Persist for Saved {
    fn save(&self, w: &mut Writer) {
        self.pcr.save(w);
        w.bytes(&self.null_seed);
        w.bytes(&self.null_proof);
        w.u64(self.context_counter);
        w.u32(self.clear_count);
        w.bytes(&self.platform_auth);
        self.platform_policy.save(w);
        save_map(w, &self.sessions);
        save_map(w, &self.session_contexts);
        w.u8(self.startup_locality);
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        Ok(Self {
            pcr: PcrBanks::load(r)?,
            null_seed: secret(r, "saved nullSeed")?,
            null_proof: secret(r, "saved nullProof")?,
            context_counter: r.u64("saved contextCounter")?,
            clear_count: r.u32("saved clearCount")?,
            platform_auth: secret(r, "saved platformAuth")?,
            platform_policy: Policy::load(r)?,
            sessions: load_map(r, "saved sessions")?,
            session_contexts: load_map(r, "saved session contexts")?,
            startup_locality: r.u8("saved startup locality")?,
        })
    }
}

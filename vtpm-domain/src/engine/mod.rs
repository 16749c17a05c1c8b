//! The TPM 2.0 engine: one method in ([`Engine::execute`]: command bytes, response bytes), one
//! blob out ([`Engine::save_state`]).
//!
//! The layout follows the TCG TPM 2.0 Library specification: part 3 §5 (command processing
//! order) lives in [`dispatch`]; part 1 §19 (authorizations) in `auth` and `session`; part 1
//! §11.4 (cryptographic primitives) in [`crypto`]; each command family of part 3 in a file of
//! `commands/`. Handlers never parse bytes by hand (the `tpm2` crate does) and never touch
//! storage: they change the in-memory [`state`] and mark it dirty; the domain decides when to
//! persist it.

use alloc::boxed::Box;
use alloc::vec::Vec;

pub mod crypto;

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod codec;
pub(crate) mod commands;
pub(crate) mod crypto_state;
pub(crate) mod dispatch;
pub(crate) mod entity;
pub(crate) mod nv;
pub(crate) mod object;
pub(crate) mod pcr;
pub(crate) mod rcmap;
pub(crate) mod secret;
pub(crate) mod sequence;
pub(crate) mod session;
pub mod state;
#[cfg(test)]
pub(crate) mod testutil;

pub use state::StateError;

use state::State;

/// What the engine needs from the machine it runs on.
pub trait Platform: Send {
    /// Fills `buf` with fresh entropy (the OS's getrandom, RDSEED/RDRAND in a unikernel).
    fn fill_entropy(&mut self, buf: &mut [u8]);
    /// Milliseconds from an arbitrary origin, never going backwards.
    fn monotonic_ms(&mut self) -> u64;
}

/// One software TPM 2.0.
pub struct Engine {
    pub(crate) platform: Box<dyn Platform>,
    pub(crate) state: State,
    /// Set when state that must survive a crash changed (see [`Engine::take_dirty`]).
    pub(crate) dirty: bool,
    /// The locality of the command being executed (0–4).
    pub(crate) locality: u8,
    /// `monotonic_ms` at the moment the clock was last brought up to date.
    pub(crate) clock_base: u64,
    /// Recently derived RSA primary keys (not part of the state: a cache).
    pub(crate) primary_cache: object::PrimaryCache,
    /// `monotonic_ms` at the last _TPM_Init (or restore): the origin of TPMS_TIME_INFO.time.
    pub(crate) time_base: u64,
}

impl Engine {
    /// A freshly manufactured TPM: new primary seeds and proofs from the platform's entropy,
    /// default authorizations (empty), all PCR banks allocated. It is powered on and waits for
    /// TPM2_Startup.
    pub fn manufacture(mut platform: Box<dyn Platform>) -> Engine {
        let state = State::manufacture(&mut *platform);
        let clock_base = platform.monotonic_ms();
        let mut engine = Engine {
            platform,
            state,
            dirty: true,
            locality: 0,
            clock_base,
            primary_cache: object::PrimaryCache::default(),
            time_base: clock_base,
        };
        engine.power_on();
        engine
    }

    /// Rebuilds an engine from a blob written by [`Engine::save_state`]. The engine is in
    /// exactly the state it was saved in (including loaded objects, sessions and whether
    /// TPM2_Startup has run).
    pub fn restore(blob: &[u8], mut platform: Box<dyn Platform>) -> Result<Engine, StateError> {
        let state = State::from_blob(blob)?;
        let clock_base = platform.monotonic_ms();
        Ok(Engine {
            platform,
            state,
            dirty: false,
            locality: 0,
            clock_base,
            primary_cache: object::PrimaryCache::default(),
            time_base: clock_base,
        })
    }

    /// _TPM_Init (part 1 §12.2.1): a power cycle or reset signal. Everything volatile is lost
    /// (except what TPM2_Shutdown(STATE) saved); the TPM then accepts only TPM2_Startup.
    pub fn power_on(&mut self) {
        self.update_clock();
        self.time_base = self.clock_base;
        self.state.power_on(&mut *self.platform);
        self.dirty = true;
    }

    /// Executes one command received at `locality` and returns the whole response. Never
    /// panics: malformed input gives an error response.
    pub fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.locality = locality;
        self.update_clock();
        dispatch::execute(self, command)
    }

    /// The whole TPM (permanent and volatile parts) as one versioned, self-describing blob.
    /// It holds every secret of the TPM: seal it before it leaves memory.
    pub fn save_state(&self) -> zeroize::Zeroizing<Vec<u8>> {
        self.state.to_blob()
    }

    /// Puts the engine back into the state of `blob` (from [`Engine::save_state`] of this
    /// engine, e.g. a snapshot taken before a command whose changes could not be made durable).
    /// The platform, the clock's time base and the primary-key cache (keyed by the seeds it
    /// was derived from) stay. On error nothing changed.
    pub fn rollback_to(&mut self, blob: &[u8]) -> Result<(), StateError> {
        self.state = State::from_blob(blob)?;
        self.dirty = false;
        Ok(())
    }

    /// True if state that must survive a crash changed since the last call; clears the flag.
    pub fn take_dirty(&mut self) -> bool {
        core::mem::take(&mut self.dirty)
    }

    /// Advances the TPM clock (TPMS_CLOCK_INFO.clock) by the platform time elapsed.
    fn update_clock(&mut self) {
        let now = self.platform.monotonic_ms();
        let elapsed = now.saturating_sub(self.clock_base);
        self.clock_base = now;
        self.state.advance_clock(elapsed);
    }

    /// TPMS_TIME_INFO.time: milliseconds since the last _TPM_Init (or since this engine was
    /// restored from its state, which is a power cycle as far as the guest can tell).
    pub(crate) fn time_ms(&mut self) -> u64 {
        self.platform.monotonic_ms().saturating_sub(self.time_base)
    }

    /// Random bytes from the TPM's DRBG (part 1 §11.4.11).
    pub(crate) fn random(&mut self, out: &mut [u8]) {
        self.state.vol.drbg_generate(&mut *self.platform, out);
    }

    /// `n` random bytes from the TPM's DRBG.
    pub(crate) fn random_vec(&mut self, n: usize) -> Vec<u8> {
        let mut v = alloc::vec![0u8; n];
        self.random(&mut v);
        v
    }
}

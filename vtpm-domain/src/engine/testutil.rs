//! Helpers for the engine's unit tests: a deterministic [`Platform`] and short ways to build,
//! send and check commands.
//!
//! ```ignore
//! let mut e = testutil::engine(); // manufactured, TPM2_Startup(CLEAR) done
//! let p = testutil::ok_params(&mut e, TpmCc::GET_RANDOM, &[], &[], &[0, 8]);
//! assert_eq!(p.len(), 2 + 8);
//! ```

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::Tpm2bAuth;

use super::crypto::hash::{HashAlg, digest};
use super::{Engine, Platform};

/// A shared handle on a [`TestPlatform`]'s clock: tests keep one and move time forward while
/// the engine owns the platform.
#[derive(Clone, Default)]
pub(crate) struct Clock(Arc<AtomicU64>);

impl Clock {
    /// The current time (ms).
    pub(crate) fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Sets the time; values below the current time are ignored (the clock is monotonic).
    pub(crate) fn set(&self, ms: u64) {
        self.0.fetch_max(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub(crate) fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A deterministic platform: entropy is the SHA-256 counter-mode stream
/// `SHA-256(seed || counter_be64)`, `SHA-256(seed || counter+1)`, ..., and the clock only moves
/// when the test moves it (see [`Clock`]). Two platforms with the same seed hand out the same
/// bytes, so two engines built from them make the same keys.
pub(crate) struct TestPlatform {
    seed: u64,
    counter: u64,
    /// Unused bytes of the current stream block.
    block: Vec<u8>,
    clock: Clock,
}

impl TestPlatform {
    /// A platform whose entropy stream is determined by `seed`; the clock starts at 0.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: 0,
            block: Vec::new(),
            clock: Clock::default(),
        }
    }

    /// A handle on this platform's clock.
    pub(crate) fn clock(&self) -> Clock {
        self.clock.clone()
    }
}

impl Platform for TestPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            if self.block.is_empty() {
                let mut next = digest(
                    HashAlg::Sha256,
                    &[&self.seed.to_be_bytes(), &self.counter.to_be_bytes()],
                );
                self.counter = self.counter.wrapping_add(1);
                next.reverse(); // so that `pop` hands out the block in order
                self.block = next;
            }
            *b = self.block.pop().unwrap_or(0);
        }
    }

    fn monotonic_ms(&mut self) -> u64 {
        self.clock.now()
    }
}

/// A manufactured engine on `TestPlatform::new(seed)`, not yet started.
pub(crate) fn fresh_engine(seed: u64) -> Engine {
    Engine::manufacture(Box::new(TestPlatform::new(seed)))
}

/// A manufactured engine (seed 1) after a successful TPM2_Startup(CLEAR).
pub(crate) fn engine() -> Engine {
    let mut e = fresh_engine(1);
    let (rc, _) = run(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0]);
    assert_eq!(rc, TpmRc::SUCCESS, "TPM2_Startup(CLEAR) failed");
    e
}

/// The empty password session (TPM_RS_PW, continueSession, no password).
pub(crate) fn pw() -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::empty())
}

/// A password session carrying `password`.
pub(crate) fn pw_with(password: &[u8]) -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::new(password).expect("password fits TPM2B_AUTH"))
}

/// The response code of a response (its bytes 6..10).
pub(crate) fn rc_of(rsp: &[u8]) -> TpmRc {
    assert!(
        rsp.len() >= 10,
        "response shorter than a header: {rsp:02x?}"
    );
    TpmRc(u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]]))
}

/// Builds the command, runs it at locality 0 and returns the response code and the whole
/// response. Checks that the response's size field matches its length.
pub(crate) fn run(
    e: &mut Engine,
    cc: TpmCc,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    params: &[u8],
) -> (TpmRc, Vec<u8>) {
    let cmd = build_command(cc, handles, sessions, params).expect("command fits");
    run_raw(e, &cmd)
}

/// Runs raw command bytes at locality 0 (for malformed commands).
pub(crate) fn run_raw(e: &mut Engine, cmd: &[u8]) -> (TpmRc, Vec<u8>) {
    let rsp = e.execute(0, cmd);
    let rc = rc_of(&rsp);
    let size = u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]);
    assert_eq!(size as usize, rsp.len(), "response size field");
    (rc, rsp)
}

/// Runs the command, asserts TPM_RC_SUCCESS and returns the response parameter area (without
/// the response handle and without the parameterSize/sessions of a TPM_ST_SESSIONS response).
pub(crate) fn ok_params(
    e: &mut Engine,
    cc: TpmCc,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    params: &[u8],
) -> Vec<u8> {
    let (rc, rsp) = run(e, cc, handles, sessions, params);
    assert_eq!(rc, TpmRc::SUCCESS, "{cc} failed with {rc}");
    let r = Response::parse(&rsp, cc).expect("well-formed response");
    r.parameters.to_vec()
}

/// Runs the command and asserts that it fails with exactly `expected`.
pub(crate) fn expect_rc(
    e: &mut Engine,
    cc: TpmCc,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    params: &[u8],
    expected: TpmRc,
) {
    let (rc, rsp) = run(e, cc, handles, sessions, params);
    assert_eq!(rc, expected, "{cc}: got {rc}, want {expected}");
    if !expected.is_success() {
        assert_eq!(rsp.len(), 10, "an error response is a bare header");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_is_deterministic_and_spans_blocks() {
        let (mut one, mut two) = (TestPlatform::new(7), TestPlatform::new(7));
        let mut split = [0u8; 70];
        let mut whole = [0u8; 70];
        one.fill_entropy(&mut split[..5]);
        one.fill_entropy(&mut split[5..]);
        two.fill_entropy(&mut whole);
        assert_eq!(split, whole);
        let first = digest(HashAlg::Sha256, &[&7u64.to_be_bytes(), &0u64.to_be_bytes()]);
        let second = digest(HashAlg::Sha256, &[&7u64.to_be_bytes(), &1u64.to_be_bytes()]);
        assert_eq!(&split[..32], &first[..]);
        assert_eq!(&split[32..64], &second[..]);
        let mut other = [0u8; 70];
        TestPlatform::new(8).fill_entropy(&mut other);
        assert_ne!(split, other);
    }

    #[test]
    fn clock_is_settable_and_monotonic() {
        let mut p = TestPlatform::new(1);
        let c = p.clock();
        assert_eq!(p.monotonic_ms(), 0);
        c.set(100);
        c.advance(5);
        assert_eq!(p.monotonic_ms(), 105);
        c.set(50);
        assert_eq!(p.monotonic_ms(), 105);
    }

    #[test]
    fn engine_is_started() {
        let mut e = engine();
        // A second Startup is TPM_RC_INITIALIZE (part 3 §9.3.1).
        expect_rc(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0], TpmRc::INITIALIZE);
    }
}

//! Shared by the `*_vs_swtpm` tests: our engine and a private swtpm 0.7.1 side by side, so
//! that the same TPM 2.0 command bytes (TCG TPM 2.0 Library part 1 §18 "Command/Response
//! Structure") go to both.
//!
//! Two styles are served:
//! - flows written once against the [`Tpm`] trait, run on [`Theirs`] then on [`Ours`], each
//!   recording a [`Log`] that [`cross_check`] compares;
//! - a [`Pair`] that sends every command to both and compares the responses on the spot.
//!
//! swtpm answers TPM_RC_RETRY (part 2 §6.6.3) while it prepares a key on first use;
//! [`transact_retrying`] repeats the command then, as a TSS does. swtpm must be installed: a
//! missing binary fails the tests.
// Each test file uses part of this module; the rest would be dead code in that test crate.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::Tpm2bAuth;
use tpm2::transport::Transport;
use vtpm_domain::engine::crypto::HashAlg;
use vtpm_domain::engine::crypto::hash::digest;
use vtpm_domain::engine::{Engine, Platform};
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::SwtpmTransport;

/// TPM_RC_RETRY (part 2 §6.6.3): "the TPM was not able to start the command".
pub(crate) const RC_RETRY: TpmRc = TpmRc(0x922);

/// The response code of a response (bytes 6..10 of the header).
pub(crate) fn rc_of(rsp: &[u8]) -> TpmRc {
    TpmRc(u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]]))
}

/// A password session with the empty password.
pub(crate) fn pw() -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::empty())
}

// ---------------------------------------------------------------------------------------------
// Deterministic platforms
// ---------------------------------------------------------------------------------------------

/// Entropy from a SHA-256 counter stream (the hash of the incremented counter); the clock
/// stands still.
pub(crate) struct StillPlatform {
    pub(crate) counter: u64,
}

impl Platform for StillPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(32) {
            self.counter += 1;
            let block = Sha256::digest(self.counter.to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }

    fn monotonic_ms(&mut self) -> u64 {
        0
    }
}

/// Entropy is SHA-256 in counter mode over a per-test label; the clock is real time since
/// creation.
pub(crate) struct LabelPlatform {
    label: &'static [u8],
    counter: u64,
    start: Instant,
}

impl LabelPlatform {
    pub(crate) fn new(label: &'static [u8]) -> LabelPlatform {
        LabelPlatform {
            label,
            counter: 0,
            start: Instant::now(),
        }
    }
}

impl Platform for LabelPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(32) {
            let block = digest(HashAlg::Sha256, &[self.label, &self.counter.to_be_bytes()]);
            self.counter += 1;
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }

    fn monotonic_ms(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Talking to swtpm
// ---------------------------------------------------------------------------------------------

/// Starts a private swtpm; fails the test if swtpm is not installed.
pub(crate) fn spawn_swtpm() -> Swtpm {
    Swtpm::spawn(SwtpmOptions::default())
        .unwrap_or_else(|e| panic!("swtpm is required by this test: {e}"))
}

/// One command, one response.
pub(crate) fn transact(conn: &mut SwtpmTransport, cmd: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let n = conn.transact(cmd, &mut buf).expect("swtpm transaction");
    buf.truncate(n);
    buf
}

/// One command, repeated while swtpm answers TPM_RC_RETRY (at most 20 times).
pub(crate) fn transact_retrying(conn: &mut SwtpmTransport, cmd: &[u8]) -> Vec<u8> {
    for _ in 0..20 {
        let rsp = transact(conn, cmd);
        if rc_of(&rsp) != RC_RETRY {
            return rsp;
        }
    }
    panic!("swtpm kept answering TPM_RC_RETRY");
}

// ---------------------------------------------------------------------------------------------
// Flows run on each TPM in turn
// ---------------------------------------------------------------------------------------------

/// A TPM a flow can talk to.
pub(crate) trait Tpm {
    fn name(&self) -> &'static str;
    fn send(&mut self, cmd: &[u8]) -> Vec<u8>;
}

/// Our engine, on a [`StillPlatform`].
pub(crate) struct Ours(pub(crate) Engine);

impl Tpm for Ours {
    fn name(&self) -> &'static str {
        "engine"
    }

    fn send(&mut self, cmd: &[u8]) -> Vec<u8> {
        self.0.execute(0, cmd)
    }
}

/// A private swtpm. TPM_RC_RETRY is not repeated here: a flow records it, and it would then
/// differ from the engine's record.
pub(crate) struct Theirs {
    _swtpm: Swtpm,
    t: SwtpmTransport,
}

impl Tpm for Theirs {
    fn name(&self) -> &'static str {
        "swtpm"
    }

    fn send(&mut self, cmd: &[u8]) -> Vec<u8> {
        transact(&mut self.t, cmd)
    }
}

/// Builds and sends a command; returns its response code and the whole response.
pub(crate) fn exec(
    t: &mut dyn Tpm,
    cc: TpmCc,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    params: &[u8],
) -> (TpmRc, Vec<u8>) {
    let cmd = build_command(cc, handles, sessions, params).unwrap();
    let rsp = t.send(&cmd);
    assert!(rsp.len() >= 10, "{}: short response", t.name());
    let rc = TpmRc(u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]]));
    (rc, rsp)
}

/// TPM2_Startup(CLEAR), which must succeed.
pub(crate) fn startup(t: &mut dyn Tpm) {
    let (rc, _) = exec(t, TpmCc::STARTUP, &[], &[], &[0, 0]);
    assert_eq!(rc, TpmRc::SUCCESS, "{}: TPM2_Startup", t.name());
}

/// Our engine on a [`StillPlatform`], started.
pub(crate) fn ours() -> Ours {
    let mut e = Ours(Engine::manufacture(Box::new(StillPlatform { counter: 0 })));
    startup(&mut e);
    e
}

/// A private swtpm, started.
pub(crate) fn theirs() -> Theirs {
    let sw = spawn_swtpm();
    let t = sw.connect().expect("connect to swtpm");
    let mut s = Theirs { _swtpm: sw, t };
    startup(&mut s);
    s
}

/// What a flow saw, one line per step.
pub(crate) struct Log(pub(crate) String);

impl Log {
    pub(crate) fn line(&mut self, what: &str, value: &str) {
        writeln!(self.0, "{what}: {value}").unwrap();
    }

    pub(crate) fn rc(&mut self, what: &str, rc: TpmRc) {
        self.line(what, &rc.to_string());
    }
}

/// Runs `flow` on swtpm and on the engine and checks that both recorded the same lines. With
/// the environment variable `verbose` set, both records are printed.
pub(crate) fn cross_check(verbose: &str, flow: fn(&mut dyn Tpm, &mut Log)) {
    let mut logs = Vec::new();
    let mut sw = theirs();
    let mut en = ours();
    for t in [&mut sw as &mut dyn Tpm, &mut en] {
        let mut log = Log(String::new());
        flow(t, &mut log);
        if std::env::var_os(verbose).is_some() {
            eprintln!("--- {}\n{}", t.name(), log.0);
        }
        logs.push(log.0);
    }
    assert_eq!(
        logs[0], logs[1],
        "swtpm (left) and the engine (right) answered differently"
    );
}

// ---------------------------------------------------------------------------------------------
// Both TPMs at once
// ---------------------------------------------------------------------------------------------

/// Our engine (on a [`LabelPlatform`]) and a private swtpm, both after TPM2_Startup(CLEAR).
pub(crate) struct Pair {
    pub(crate) ours: Engine,
    pub(crate) conn: SwtpmTransport,
    swtpm: Swtpm,
}

impl Pair {
    /// `label` seeds our engine's entropy.
    pub(crate) fn new(label: &'static [u8]) -> Pair {
        let swtpm =
            Swtpm::spawn(SwtpmOptions::default()).expect("swtpm must be installed for these tests");
        let conn = swtpm.connect().unwrap();
        let ours = Engine::manufacture(Box::new(LabelPlatform::new(label)));
        let mut pair = Pair { ours, conn, swtpm };
        let startup = build_command(TpmCc::STARTUP, &[], &[], &[0, 0]).unwrap();
        let (a, b) = pair.both(&startup);
        assert_eq!((rc_of(&a), rc_of(&b)), (TpmRc::SUCCESS, TpmRc::SUCCESS));
        pair
    }

    /// A power cycle of both (_TPM_Init, swtpm's CMD_INIT): both then wait for TPM2_Startup.
    pub(crate) fn power_cycle(&mut self) {
        self.ours.power_on();
        let mut ctrl = self.swtpm.control().expect("swtpm control channel");
        ctrl.init(false).expect("swtpm CMD_INIT");
        self.conn = self.swtpm.connect().expect("reconnect to swtpm");
    }

    /// swtpm's response, after any TPM_RC_RETRY.
    pub(crate) fn swtpm(&mut self, cmd: &[u8]) -> Vec<u8> {
        transact_retrying(&mut self.conn, cmd)
    }

    /// Our response.
    pub(crate) fn ours(&mut self, cmd: &[u8]) -> Vec<u8> {
        self.ours.execute(0, cmd)
    }

    /// (our response, swtpm's response).
    pub(crate) fn both(&mut self, cmd: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (self.ours(cmd), self.swtpm(cmd))
    }

    /// Runs the command on both; the response codes must be equal. Returns the responses.
    pub(crate) fn same_rc(&mut self, what: &str, cmd: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (a, b) = self.both(cmd);
        assert_eq!(
            rc_of(&a),
            rc_of(&b),
            "{what}: ours {} / swtpm {}",
            rc_of(&a),
            rc_of(&b)
        );
        (a, b)
    }

    /// Runs the command on both and asserts byte-identical responses; returns them.
    pub(crate) fn same(&mut self, what: &str, cmd: &[u8]) -> Vec<u8> {
        let (a, b) = self.both(cmd);
        assert_eq!(a, b, "{what}: ours {} / swtpm {}", rc_of(&a), rc_of(&b));
        a
    }

    /// Runs the command on both and asserts it fails with `want` on both.
    pub(crate) fn same_error(&mut self, what: &str, cmd: &[u8], want: TpmRc) {
        let rsp = self.same(what, cmd);
        assert_eq!(rc_of(&rsp), want, "{what}");
    }

    /// Runs the command on both; both must succeed. Returns (ours, swtpm's) parameter areas.
    pub(crate) fn both_ok(&mut self, what: &str, cc: TpmCc, cmd: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (a, b) = self.both(cmd);
        assert_eq!(
            (rc_of(&a), rc_of(&b)),
            (TpmRc::SUCCESS, TpmRc::SUCCESS),
            "{what}"
        );
        let pa = Response::parse(&a, cc).unwrap().parameters.to_vec();
        let pb = Response::parse(&b, cc).unwrap().parameters.to_vec();
        (pa, pb)
    }
}

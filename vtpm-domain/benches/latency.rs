#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Iteration counts and percentile positions are small; their float conversions are exact.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::many_single_char_names
)]
//! Command latency of `vtpm-domain serve` against swtpm 0.7.1 (libtpms), both behind their swtpm
//! TCP socket interface on loopback, each driven by one persistent client connection. For every
//! operation: median, 10th and 90th percentile of the round-trip time over N iterations, and the
//! ratio of the medians (ours / swtpm; below 1 means we are faster).
//!
//! `cargo bench -p vtpm-domain --bench latency`; `BENCH_SCALE=0.2` runs a fifth of the
//! iterations. An operation the engine cannot do yet prints `n/a (rc 0x…)`. The benchmark
//! pins itself and both servers to CPU 0 (`taskset`) and alternates between the two TPMs every
//! iteration, so both see the same conditions; TPM_RC_RETRY is retried as a TSS would.

#[path = "../tests/support/cmdgen.rs"]
mod cmdgen;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cmdgen::{B, command, ecc_template, pw_session, rc_name, rc_of};
use tpm2::transport::Transport;
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::SwtpmTransport;

const ST: u32 = 0x144;
const GET_RANDOM: u32 = 0x17B;
const PCR_EXTEND: u32 = 0x182;
const PCR_READ: u32 = 0x17E;
const HASH: u32 = 0x17D;
const START_AUTH_SESSION: u32 = 0x176;
const FLUSH: u32 = 0x165;
const CREATE_PRIMARY: u32 = 0x131;
const CREATE: u32 = 0x153;
const SIGN: u32 = 0x15D;
const OWNER: u32 = 0x4000_0001;
const NULL: u32 = 0x4000_0007;
/// TPM_RC_RETRY.
const RETRY: u32 = 0x922;

/// Our server, started from the binary cargo built for this bench.
struct OurServer {
    child: Child,
    port: u16,
}

impl OurServer {
    fn start() -> Self {
        for _ in 0..5 {
            let port = free_port_pair();
            let mut child = Command::new(env!("CARGO_BIN_EXE_vtpm-domain"))
                .args([
                    "serve",
                    "--swtpm-tcp",
                    &format!("127.0.0.1:{port}"),
                    "--ephemeral",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run vtpm-domain");
            let stderr = child.stderr.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("listening on") {
                        let _ = tx.send(true);
                    }
                }
                let _ = tx.send(false);
            });
            if rx.recv_timeout(Duration::from_secs(30)) == Ok(true) {
                return Self { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("vtpm-domain serve did not start");
    }
}

impl Drop for OurServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port_pair() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < u16::MAX - 1 && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// One client connection.
struct Client(SwtpmTransport);

impl Client {
    /// Sends a command, repeating it while the TPM answers TPM_RC_RETRY (as a TSS does).
    fn send(&mut self, cmd: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        for _ in 0..100 {
            let n = self.0.transact(cmd, &mut buf).expect("transact");
            if rc_of(&buf[..n]) != RETRY {
                buf.truncate(n);
                return buf;
            }
        }
        panic!("TPM_RC_RETRY 100 times");
    }

    /// Sends; the response if it succeeded, the response code otherwise.
    fn ok(&mut self, cmd: &[u8]) -> Result<Vec<u8>, u32> {
        let r = self.send(cmd);
        match rc_of(&r) {
            0 => Ok(r),
            rc => Err(rc),
        }
    }

    fn handle(&mut self, cmd: &[u8]) -> Result<u32, u32> {
        let r = self.ok(cmd)?;
        Ok(u32::from_be_bytes([r[10], r[11], r[12], r[13]]))
    }

    fn flush(&mut self, h: u32) {
        let _ = self.send(&command(FLUSH, &[], &[], &h.to_be_bytes()));
    }
}

fn create_primary_cmd(parent: u32, template: &[u8]) -> Vec<u8> {
    let params = B::new()
        .b(&B::new().b(&[]).b(&[]).done())
        .raw(template)
        .b(&[])
        .u32(0)
        .done();
    command(CREATE_PRIMARY, &[parent], &[pw_session(&[])], &params)
}

/// TPM2B_PUBLIC of an RSA-2048 key: a restricted storage key (AES-128-CFB) or an unrestricted
/// RSASSA-SHA256 signing key.
fn rsa_template(storage: bool) -> Vec<u8> {
    rsa_template_with_unique(storage, &[])
}

/// An RSA template whose `unique` field is `unique` (a different value makes a different
/// primary key, so nothing can be reused from an earlier derivation).
fn rsa_template_with_unique(storage: bool, unique: &[u8]) -> Vec<u8> {
    let base = 0x0000_0072; // fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth
    let t = B::new().u16(0x0001).u16(0x000B);
    let t = if storage {
        t.u32(base | 0x0003_0000)
            .b(&[])
            .u16(0x0006)
            .u16(128)
            .u16(0x0043)
            .u16(0x0010)
    } else {
        t.u32(base | 0x0004_0000)
            .b(&[])
            .u16(0x0010)
            .u16(0x0014)
            .u16(0x000B)
    };
    let t = t.u16(2048).u32(0).b(unique).done();
    B::new().b(&t).done()
}

fn ecc_sign_template() -> Vec<u8> {
    ecc_template(0x0004_0072, false, Some(0x000B), 3)
}

fn ecc_storage_template() -> Vec<u8> {
    ecc_template(0x0003_0072, true, None, 3)
}

fn sign_cmd(key: u32) -> Vec<u8> {
    let params = B::new()
        .b(&[0x5A; 32])
        .u16(0x0010)
        .u16(0x8024)
        .u32(NULL)
        .b(&[])
        .done();
    command(SIGN, &[key], &[pw_session(&[])], &params)
}

/// An operation: set-up (untimed) returning state, the timed part, tear-down (untimed).
struct Op {
    name: &'static str,
    iterations: usize,
    setup: fn(&mut Client) -> Result<u32, u32>,
    timed: fn(&mut Client, u32) -> Result<Option<u32>, u32>,
    teardown: fn(&mut Client, u32),
}

// The signature is that of `Op::setup`, whose other implementations can fail.
#[allow(clippy::unnecessary_wraps)]
fn no_setup(_: &mut Client) -> Result<u32, u32> {
    Ok(0)
}

fn no_teardown(_: &mut Client, _: u32) {}

fn flush_state(c: &mut Client, h: u32) {
    c.flush(h);
}

fn ops() -> Vec<Op> {
    vec![
        Op {
            name: "GetRandom(32)",
            iterations: 500,
            setup: no_setup,
            timed: |c, _| {
                c.ok(&command(GET_RANDOM, &[], &[], &[0, 32]))?;
                Ok(None)
            },
            teardown: no_teardown,
        },
        Op {
            name: "PCR_Extend(sha256)",
            iterations: 500,
            setup: no_setup,
            timed: |c, _| {
                let d = B::new().u32(1).u16(0x000B).raw(&[0x11; 32]).done();
                c.ok(&command(PCR_EXTEND, &[16], &[pw_session(&[])], &d))?;
                Ok(None)
            },
            teardown: no_teardown,
        },
        Op {
            name: "PCR_Read(8 PCRs)",
            iterations: 500,
            setup: no_setup,
            timed: |c, _| {
                let sel = B::new().u32(1).u16(0x000B).u8(3).raw(&[0xFF, 0, 0]).done();
                c.ok(&command(PCR_READ, &[], &[], &sel))?;
                Ok(None)
            },
            teardown: no_teardown,
        },
        Op {
            name: "Hash(1 KB, sha256)",
            iterations: 500,
            setup: no_setup,
            timed: |c, _| {
                let p = B::new().b(&[0x33; 1024]).u16(0x000B).u32(NULL).done();
                c.ok(&command(HASH, &[], &[], &p))?;
                Ok(None)
            },
            teardown: no_teardown,
        },
        Op {
            name: "StartAuthSession+Flush",
            iterations: 300,
            setup: no_setup,
            timed: |c, _| {
                let p = B::new()
                    .b(&[0x44; 32])
                    .b(&[])
                    .u8(0x00)
                    .u16(0x0010)
                    .u16(0x000B)
                    .done();
                let h = c.handle(&command(START_AUTH_SESSION, &[NULL, NULL], &[], &p))?;
                c.ok(&command(FLUSH, &[], &[], &h.to_be_bytes()))?;
                Ok(None)
            },
            teardown: no_teardown,
        },
        Op {
            name: "Sign RSA-2048 RSASSA",
            iterations: 200,
            setup: |c| c.handle(&create_primary_cmd(OWNER, &rsa_template(false))),
            timed: |c, key| {
                c.ok(&sign_cmd(key))?;
                Ok(None)
            },
            teardown: flush_state,
        },
        Op {
            name: "Sign ECDSA P-256",
            iterations: 300,
            setup: |c| c.handle(&create_primary_cmd(OWNER, &ecc_sign_template())),
            timed: |c, key| {
                c.ok(&sign_cmd(key))?;
                Ok(None)
            },
            teardown: flush_state,
        },
        Op {
            name: "CreatePrimary RSA-2048 (new key)",
            iterations: 20,
            setup: no_setup,
            timed: |c, _| {
                static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let template = rsa_template_with_unique(true, &n.to_be_bytes());
                Ok(Some(c.handle(&create_primary_cmd(OWNER, &template))?))
            },
            teardown: no_teardown,
        },
        Op {
            name: "CreatePrimary RSA-2048 (same template)",
            iterations: 20,
            setup: no_setup,
            timed: |c, _| {
                Ok(Some(
                    c.handle(&create_primary_cmd(OWNER, &rsa_template(true)))?,
                ))
            },
            teardown: no_teardown,
        },
        Op {
            name: "CreatePrimary ECC P-256",
            iterations: 100,
            setup: no_setup,
            timed: |c, _| {
                Ok(Some(c.handle(&create_primary_cmd(
                    OWNER,
                    &ecc_storage_template(),
                ))?))
            },
            teardown: no_teardown,
        },
        Op {
            name: "Create RSA-2048 child",
            iterations: 20,
            setup: |c| c.handle(&create_primary_cmd(OWNER, &ecc_storage_template())),
            timed: |c, parent| {
                let params = B::new()
                    .b(&B::new().b(&[]).b(&[]).done())
                    .raw(&rsa_template(false))
                    .b(&[])
                    .u32(0)
                    .done();
                c.ok(&command(CREATE, &[parent], &[pw_session(&[])], &params))?;
                Ok(None)
            },
            teardown: flush_state,
        },
    ]
}

/// One side of a measurement: its set-up state (or the code that stopped it) and its times.
struct Side {
    state: Result<u32, u32>,
    times: Vec<f64>,
}

impl Side {
    fn new(c: &mut Client, op: &Op) -> Self {
        Self {
            state: (op.setup)(c),
            times: Vec::new(),
        }
    }

    /// Runs the timed part once; records the time unless `warm`.
    fn step(&mut self, c: &mut Client, op: &Op, warm: bool) {
        let Ok(state) = self.state else { return };
        let t0 = Instant::now();
        let out = (op.timed)(c, state);
        let dt = t0.elapsed();
        match out {
            Ok(Some(h)) => c.flush(h),
            Ok(None) => {}
            Err(rc) => {
                (op.teardown)(c, state);
                self.state = Err(rc);
                return;
            }
        }
        if !warm {
            self.times.push(dt.as_secs_f64() * 1e6);
        }
    }

    /// (median, p10, p90) in microseconds, or the response code that stopped the operation.
    fn finish(mut self, c: &mut Client, op: &Op) -> Result<(f64, f64, f64), u32> {
        let state = self.state?;
        (op.teardown)(c, state);
        self.times.sort_by(f64::total_cmp);
        let t = &self.times;
        let q = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize];
        Ok((q(0.5), q(0.1), q(0.9)))
    }
}

/// Measures both TPMs on `op`, alternating between them every iteration so that both see the
/// same machine load.
fn measure(
    ours: &mut Client,
    theirs: &mut Client,
    op: &Op,
    iterations: usize,
) -> [Result<(f64, f64, f64), u32>; 2] {
    let mut a = Side::new(ours, op);
    let mut b = Side::new(theirs, op);
    let warmup = (iterations / 10).clamp(1, 10);
    for i in 0..iterations + warmup {
        a.step(ours, op, i < warmup);
        b.step(theirs, op, i < warmup);
    }
    [a.finish(ours, op), b.finish(theirs, op)]
}

/// Re-runs this benchmark under `taskset -c 0` (servers inherit the affinity), so that client
/// and servers share one core: on a loaded machine the scheduler otherwise moves them between
/// cores in phases and adds 20-30 µs to some round trips and not others. Returns false if the
/// benchmark already runs pinned (or `taskset` is missing) and should run here.
fn rerun_pinned() -> bool {
    if std::env::var_os("VTPM_BENCH_PINNED").is_some() {
        return false;
    }
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    let status = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env("VTPM_BENCH_PINNED", "1")
        .status();
    match status {
        Ok(s) => {
            assert!(s.success(), "pinned benchmark failed: {s}");
            true
        }
        Err(e) => {
            eprintln!("latency: taskset unavailable ({e}); running unpinned");
            false
        }
    }
}

fn main() {
    if rerun_pinned() {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing special: either way
    // run once.
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let ours_server = OurServer::start();
    let sw = Swtpm::spawn(SwtpmOptions {
        startup_clear: true,
    })
    .expect("swtpm is required by this benchmark");
    let mut ours =
        Client(SwtpmTransport::connect(&format!("127.0.0.1:{}", ours_server.port)).unwrap());
    let mut theirs = Client(sw.connect().unwrap());
    let rc = rc_of(&ours.send(&command(ST, &[], &[], &[0, 0])));
    assert!(rc == 0 || rc == 0x100, "Startup: {}", rc_name(rc));

    println!(
        "{:<26} {:>16} {:>16} {:>7}   (µs: median [p10–p90])",
        "operation", "vtpm-domain", "swtpm", "ratio"
    );
    for op in ops() {
        let n = ((op.iterations as f64 * scale).round() as usize).max(3);
        let [a, b] = measure(&mut ours, &mut theirs, &op, n);
        let cell = |r: &Result<(f64, f64, f64), u32>| match r {
            Ok((m, lo, hi)) => format!("{m:.0} [{lo:.0}–{hi:.0}]"),
            Err(rc) => format!("n/a (rc {rc:#x})"),
        };
        let ratio = match (&a, &b) {
            (Ok((x, _, _)), Ok((y, _, _))) => format!("{:.2}", x / y),
            _ => "-".into(),
        };
        println!(
            "{:<26} {:>16} {:>16} {:>7}   n={n}",
            op.name,
            cell(&a),
            cell(&b),
            ratio
        );
    }
}

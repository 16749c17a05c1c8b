#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Iteration counts and percentile positions are small; their float conversions are exact.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
//! A guest's TPM commands through the whole hosted stack, next to swtpm 0.7.1 measured in the
//! same run.
//!
//! Ours: guest → tpmif (hosted platform) → `vtpm-domain xen` → engine; a command that changes
//! durable state is sealed to the vTPM's image and acknowledged by the manager (SAVEHASHKEY over
//! a second tpmif link) before the guest gets its answer. The hardware TPM behind the manager is
//! our engine (`HwTpm::Engine`). swtpm: the same commands over its TCP data channel, its state
//! directory on the same file system (it writes its NV state file after each NV change).
//!
//! Also: `Stack::up` cold (first boot: the manager formats its image, every vTPM is
//! manufactured) and warm (restart), `down`, and the resident memory of each process.
//!
//! Build the binaries first in the same profile — `cargo build --release -p vtpmmgr -p
//! vtpm-domain --bins` — then `cargo bench -p tools --bench stack`. Needs swtpm.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tpm2::transport::Transport;
use vtpm_tools::stack::ops::{self, AK_HANDLE, NV_INDEX, SIGNING_HANDLE};
use vtpm_tools::stack::{HwTpm, Stack, StackOptions};
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions, swtpm_installed};
use vtpmmgr_protocol::deep_quote::DeepQuoteCommand;

const ITERATIONS: usize = 200;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    v.sort();
    v
}

/// Median and mean in µs.
fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = v.iter().map(|&d| us(d)).sum::<f64>() / v.len() as f64;
    (us(v[v.len() / 2]), mean)
}

fn time<T: Transport>(tpm: &mut T, n: usize, mut f: impl FnMut(&mut T, usize)) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            let t = Instant::now();
            f(tpm, i);
            t.elapsed()
        })
        .collect()
}

type Op<T> = (&'static str, Box<dyn FnMut(&mut T, usize)>);

fn standard_ops<T: Transport + 'static>() -> Vec<Op<T>> {
    vec![
        (
            "GetRandom 32",
            Box::new(|t: &mut T, _| {
                ops::exec(
                    t,
                    tpm2::cc::TpmCc::GET_RANDOM,
                    &[],
                    &[],
                    &32u16.to_be_bytes(),
                )
                .unwrap();
            }),
        ),
        (
            "PCR_Read (sha256: 4,5)",
            Box::new(|t: &mut T, _| {
                ops::pcr_read_sha256(t, &[4, 5]).unwrap();
            }),
        ),
        (
            "PCR_Extend (sha256)",
            Box::new(|t: &mut T, i| {
                ops::pcr_extend_sha256(t, 16, &Sha256::digest(i.to_be_bytes()).into()).unwrap();
            }),
        ),
        (
            "NV_Write 32 B (durable)",
            Box::new(|t: &mut T, i| {
                ops::nv_write(t, NV_INDEX, &Sha256::digest(i.to_be_bytes())).unwrap();
            }),
        ),
        (
            "NV_Read 32 B",
            Box::new(|t: &mut T, _| {
                ops::nv_read(t, NV_INDEX, 32).unwrap();
            }),
        ),
        (
            "Sign ECDSA P-256",
            Box::new(|t: &mut T, i| {
                ops::sign(t, SIGNING_HANDLE, &Sha256::digest(i.to_be_bytes()).into()).unwrap();
            }),
        ),
        (
            "Quote PCR 4,5 (ECDSA)",
            Box::new(|t: &mut T, _| {
                ops::quote(t, AK_HANDLE, &[7; 32], &[4, 5]).unwrap();
            }),
        ),
    ]
}

fn prepare<T: Transport>(t: &mut T) {
    ops::ensure_persistent_key(t, AK_HANDLE, &ops::signing_template(true)).unwrap();
    ops::ensure_persistent_key(t, SIGNING_HANDLE, &ops::signing_template(false)).unwrap();
    ops::nv_ensure(t, NV_INDEX).unwrap();
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    assert!(
        swtpm_installed(),
        "swtpm is not installed: the bench's reference needs it"
    );
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!("stack bench: {ITERATIONS} iterations per operation, {cores} cores");
    let dir = std::env::temp_dir().join(format!("vtpm-stack-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let quiet = |_: &str| {};
    let opts = StackOptions {
        run_dir: dir.join("run"),
        tpm: HwTpm::Engine,
        configs: examples(),
        progress: &quiet,
    };

    let t = Instant::now();
    let stack = Stack::up(&opts).expect("stack up (build the release binaries first)");
    let cold = t.elapsed();
    let t = Instant::now();
    let _ = stack.down(&quiet).unwrap();
    let down1 = t.elapsed();
    let t = Instant::now();
    let mut stack = Stack::up(&opts).unwrap();
    let warm = t.elapsed();

    let guest = stack.guests[0].name.clone();
    let tpm = stack.guest(&guest).unwrap();
    ops::startup_clear(tpm).unwrap();
    prepare(tpm);

    let sw = Swtpm::spawn(SwtpmOptions {
        startup_clear: true,
    })
    .unwrap();
    let mut swt = sw.connect().unwrap();
    prepare(&mut swt);

    println!();
    println!(
        "{:<26} {:>12} {:>12} {:>12} {:>12} {:>7}",
        "operation", "ours median", "ours mean", "swtpm med.", "swtpm mean", "ratio"
    );
    let ours_ops = standard_ops::<vtpm_tools::stack::guest::GuestTpm>();
    let sw_ops = standard_ops::<vtpm_tools::transport::SwtpmTransport>();
    for ((name, mut f), (_, mut g)) in ours_ops.into_iter().zip(sw_ops) {
        let tpm = stack.guest(&guest).unwrap();
        let (om, oa) = stats(time(tpm, ITERATIONS, &mut f));
        let (sm, sa) = stats(time(&mut swt, ITERATIONS, &mut g));
        println!(
            "{name:<26} {om:>10.0}µs {oa:>10.0}µs {sm:>10.0}µs {sa:>10.0}µs {:>7.2}",
            om / sm
        );
    }
    let tpm = stack.guest(&guest).unwrap();
    let dq = DeepQuoteCommand {
        nonce: vec![9; 32],
        vtpm_pcrs: 0x30,
        hw_pcrs: 0xff,
        flags: 0xf,
    }
    .encode();
    let (dm, da) = stats(time(tpm, ITERATIONS / 4, |t, _| {
        let r = t.transmit(&dq).unwrap();
        assert_eq!(&r[6..10], &[0, 0, 0, 0], "DeepQuote failed");
    }));
    println!(
        "{:<26} {dm:>10.0}µs {da:>10.0}µs {:>12} {:>12} {:>7}",
        "DeepQuote (hardware)", "-", "-", "-"
    );

    println!();
    println!(
        "stack up, first boot (cold):  {:>8.1} ms",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "stack up, restart (warm):     {:>8.1} ms",
        warm.as_secs_f64() * 1e3
    );
    println!(
        "stack down (saves, 5 procs):  {:>8.1} ms",
        down1.as_secs_f64() * 1e3
    );
    println!();
    println!("resident memory (VmRSS):");
    if let Some(p) = stack.manager_pid() {
        println!("  manager              {:>8} KiB", rss_kib(p).unwrap_or(0));
    }
    for (name, pid) in stack.vtpm_pids() {
        println!("  {name:<20} {:>8} KiB", rss_kib(pid).unwrap_or(0));
    }
    println!(
        "  swtpm (reference)    {:>8} KiB",
        rss_kib(sw.pid()).unwrap_or(0)
    );
    let _ = stack.down(&quiet).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

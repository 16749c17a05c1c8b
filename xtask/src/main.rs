//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask ci`: install what the tests need if it is missing, then format check, clippy,
//!   the whole test suite, the `x86_64-unknown-none` build of every no_std crate and a compile
//!   check of the fuzz targets. This is what `.ci/run` runs.
//! - `cargo xtask deps`: only the installation step.
//! - `cargo xtask probe [ARGS]`: install what is needed, then `vtpmctl probe ARGS` (default: a
//!   private swtpm).
//! - `cargo xtask fuzz TARGET SECONDS`: run one cargo-fuzz target (needs a nightly toolchain
//!   and cargo-fuzz; both are installed on request).
//! - `cargo xtask upstream-tools-tests DIR [TEST...]`: tpm2-tools' own integration tests (from
//!   a tpm2-tools 5.4 source tree at DIR, outside this repository) against swtpm and against
//!   `vtpm-domain serve` (see `upstream.rs`).
//! - `cargo xtask fuzz-seeds`: regenerate the committed seed inputs under `fuzz/corpus/` from the
//!   captured tpm2-tools/swtpm traffic in `../shared/testdata/tpm2-traces/`.

use std::env;
use std::process::{Command, ExitCode};
use std::time::Instant;

mod hermit;
mod upstream;

/// Crates that must build without `std` for the unikernel target (libraries only, default
/// features off: `vtpm-domain`'s `std` feature holds its host adapters).
const NO_STD_CRATES: &[&str] = &[
    "tpm2",
    "tpm2_tis",
    "xen",
    "tpmback",
    "tpmfront",
    "shmlink",
    "block",
    "config",
    "vtpm-domain",
    "vtpmmgr",
    "vtpmmgr-protocol",
];
/// The bare-metal target the unikernel images use.
const BARE_TARGET: &str = "x86_64-unknown-none";
/// Debian packages the tests drive: swtpm (the reference TPM) and tpm2-tools (a real client).
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("swtpm", "swtpm"),
    ("swtpm_setup", "swtpm-tools"),
    ("tpm2_getrandom", "tpm2-tools"),
    ("openssl", "openssl"),
    ("qemu-system-x86_64", "qemu-system-x86"),
];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("deps") => deps(),
        Some("probe") => deps().and_then(|()| probe(&args[1..])),
        Some("fuzz") => fuzz(&args[1..]),
        Some("fuzz-seeds") => fuzz_seeds(),
        Some("image") => deps().and_then(|()| hermit::image(&args[1..]).map(|_| ())),
        Some("run") => deps().and_then(|()| match args.get(1).map(String::as_str) {
            Some("vtpmmgr") => hermit::run_vtpmmgr(&args[2..]),
            Some("stack") => hermit::run_stack(&args[2..]),
            _ => Err("usage: cargo xtask run (vtpmmgr [--check] [--fresh] | stack)".into()),
        }),
        Some("unikernel-test") => deps().and_then(|()| hermit::test(&args[1..])),
        Some("upstream-tools-tests") => deps().and_then(|()| upstream::main(&args[1..])),
        _ => {
            eprintln!(
                "usage: cargo xtask ci | deps | probe [vtpmctl probe args] | fuzz TARGET SECONDS | \\
                 fuzz-seeds | image [vtpmmgr] [vtpm-domain] | run (vtpmmgr [--check] [--fresh] | stack) | \\
                 unikernel-test | upstream-tools-tests TPM2_TOOLS_SOURCE_DIR [TEST...]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The repository's root (xtask's parent folder).
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| ".".into(), std::path::Path::to_path_buf)
}

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs `cmd`, echoing it, and fails with its description if it does not succeed.
fn run(what: &str, cmd: &mut Command) -> Result {
    eprintln!("xtask: $ {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .is_ok_and(|s| s.success())
}

fn output(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).trim() == "0"
}

/// Installs the Debian packages and the Rust target and components the tests need, when missing.
fn deps() -> Result {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(bin, _)| !have(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        eprintln!("xtask: swtpm, swtpm-tools and tpm2-tools are installed");
    } else {
        eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
        let sudo = if is_root() {
            vec![]
        } else {
            vec!["sudo", "-n"]
        };
        let apt = |args: &[&str]| {
            let mut all: Vec<&str> = sudo.clone();
            all.push("apt-get");
            all.extend_from_slice(args);
            let mut c = Command::new(all[0]);
            c.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
            c
        };
        run("apt-get update", &mut apt(&["update", "-q"]))?;
        let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
        install.extend(missing.iter());
        run("apt-get install", &mut apt(&install))?;
        if let Some((bin, pkg)) = DEBIAN_PACKAGES.iter().find(|(bin, _)| !have(bin)) {
            return Err(format!("`{bin}` is still missing after installing `{pkg}`"));
        }
    }
    if have("rustup") {
        let targets = output(Command::new("rustup").args(["target", "list", "--installed"]));
        if !targets.lines().any(|t| t.trim() == BARE_TARGET) {
            run(
                "rustup target add",
                Command::new("rustup").args(["target", "add", BARE_TARGET]),
            )?;
        }
        let components = output(Command::new("rustup").args(["component", "list", "--installed"]));
        for c in ["rustfmt", "clippy"] {
            if !components.lines().any(|l| l.starts_with(c)) {
                run(
                    "rustup component add",
                    Command::new("rustup").args(["component", "add", c]),
                )?;
            }
        }
    } else {
        eprintln!(
            "xtask: rustup not found; assuming {BARE_TARGET}, rustfmt and clippy are present"
        );
    }
    Ok(())
}

fn ci() -> Result {
    let started = Instant::now();
    let mut steps: Vec<(&str, f64)> = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Result| -> Result {
        let t = Instant::now();
        eprintln!("xtask: ==> {name}");
        f()?;
        steps.push((name, t.elapsed().as_secs_f64()));
        Ok(())
    };
    step("install test dependencies", &mut deps)?;
    step("format check", &mut || {
        run("cargo fmt", cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    step("clippy", &mut || {
        run(
            "cargo clippy",
            cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )
    })?;
    let mut totals = (0u64, 0u64);
    step("tests", &mut || {
        totals = run_tests()?;
        Ok(())
    })?;
    step("main job (README: vtpm-stack demo)", &mut || {
        run(
            "vtpm-stack demo",
            cargo().args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "tools",
                "--bin",
                "vtpm-stack",
                "--",
                "demo",
                "--run-dir",
                "target/ci-demo",
            ]),
        )
    })?;
    step("no_std build", &mut || {
        let mut c = cargo();
        c.args([
            "build",
            "--lib",
            "--no-default-features",
            "--target",
            BARE_TARGET,
        ]);
        for krate in NO_STD_CRATES {
            c.args(["-p", krate]);
        }
        run("no_std build", &mut c)
    })?;
    step("unikernel: images, manager boots, stack", &mut || {
        hermit::test(&[])
    })?;
    step("fuzz targets compile", &mut || {
        run(
            "cargo check (fuzz)",
            cargo().args(["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"]),
        )
    })?;
    eprintln!(
        "xtask: ci passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (name, secs) in steps {
        eprintln!("xtask:   {name:<28} {secs:>7.1} s");
    }
    println!("tests: {} passed, {} failed", totals.0, totals.1);
    Ok(())
}

/// Runs the workspace's tests, passing their output through, and returns the summed
/// (passed, failed) counts of every test binary.
fn run_tests() -> Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"])
        .stdout(std::process::Stdio::piped());
    eprintln!("xtask: $ {cmd:?}");
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cargo test: could not start: {e}"))?;
    let mut totals = (0, 0);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out)
            .lines()
            .map_while(std::result::Result::ok)
        {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let count = |word: &str| -> u64 {
                    rest.split(';')
                        .map(|p| {
                            p.trim()
                                .trim_start_matches("ok. ")
                                .trim_start_matches("FAILED. ")
                        })
                        .find_map(|p| p.strip_suffix(word))
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0)
                };
                totals.0 += count(" passed");
                totals.1 += count(" failed");
            }
        }
    }
    let status = child.wait().map_err(|e| format!("cargo test: {e}"))?;
    if status.success() {
        Ok(totals)
    } else {
        println!("tests: {} passed, {} failed", totals.0, totals.1);
        Err(format!("cargo test failed ({status})"))
    }
}

/// `vtpmctl probe`. Without `--tpm`, the embedded default: our own vTPM (`vtpm-domain serve
/// --ephemeral`) on a free loopback port pair, stopped afterwards.
fn probe(args: &[String]) -> Result {
    let vtpmctl = |extra: &[String]| {
        let mut c = cargo();
        c.args([
            "run",
            "--quiet",
            "--package",
            "tools",
            "--bin",
            "vtpmctl",
            "--",
        ]);
        c.arg("probe").args(extra).args(args);
        run("vtpmctl probe", &mut c)
    };
    if args.iter().any(|a| a == "--tpm" || a.starts_with("--tpm=")) {
        return vtpmctl(&[]);
    }
    run(
        "build vtpm-domain",
        cargo().args([
            "build",
            "--quiet",
            "--package",
            "vtpm-domain",
            "--bin",
            "vtpm-domain",
        ]),
    )?;
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from("target"),
        std::path::PathBuf::from,
    );
    let port = free_port_pair()?;
    let mut server = Command::new(target.join("debug").join("vtpm-domain"))
        .args([
            "serve",
            "--swtpm-tcp",
            &format!("127.0.0.1:{port}"),
            "--ephemeral",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start vtpm-domain: {e}"))?;
    // Forward the server's log for the whole run (it must never write into a closed pipe) and
    // wait for its ready line.
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(stderr) = server.stderr.take() {
        std::thread::spawn(move || {
            use std::io::{BufRead, BufReader};
            for line in BufReader::new(stderr)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
                eprintln!("vtpm-domain: {line}");
            }
        });
    }
    let ready = rx.recv_timeout(std::time::Duration::from_secs(60)).is_ok();
    let result = if ready {
        eprintln!(
            "xtask: probing the embedded vTPM (vtpm-domain serve --ephemeral) on port {port}"
        );
        vtpmctl(&["--tpm".into(), format!("swtpm:127.0.0.1:{port}")])
    } else {
        Err("vtpm-domain serve exited before it was listening".into())
    };
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// A loopback port P with P+1 also free (data and control channel).
fn free_port_pair() -> Result<u16> {
    use std::net::TcpListener;
    for _ in 0..64 {
        let a = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = a.local_addr().map_err(|e| e.to_string())?.port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free loopback port pair".into())
}

fn fuzz(args: &[String]) -> Result {
    let [target, seconds] = args else {
        return Err("usage: cargo xtask fuzz TARGET SECONDS".into());
    };
    let seconds: u64 = seconds
        .parse()
        .map_err(|_| format!("not a number of seconds: {seconds}"))?;
    let toolchains = output(Command::new("rustup").args(["toolchain", "list"]));
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        run(
            "install nightly",
            Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
            ]),
        )?;
    }
    if !output(cargo().args(["--list"]))
        .lines()
        .any(|l| l.trim() == "fuzz")
    {
        run(
            "install cargo-fuzz",
            cargo().args(["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    let corpus = format!("fuzz/corpus/{target}");
    run(
        "cargo fuzz run",
        Command::new("cargo").args([
            "+nightly",
            "fuzz",
            "run",
            target,
            &corpus,
            "--",
            &format!("-max_total_time={seconds}"),
            "-print_final_stats=1",
        ]),
    )
}

/// The captured traffic, relative to the workspace root.
const TRACES: &str = "../shared/testdata/tpm2-traces/upstream.jsonl.gz";
/// At most this many seeds per command code and target.
const SEEDS_PER_CODE: usize = 6;

/// The string value of `"key": "..."` in one JSON line of the trace file.
fn json_str<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!("\"{key}\": \""))? + key.len() + 5;
    let len = line[at..].find('"')?;
    Some(&line[at..at + len])
}

/// The value of `"key": "0x..."` in one JSON line of the trace file.
fn json_hex(line: &str, key: &str) -> Option<u32> {
    u32::from_str_radix(json_str(line, key)?.strip_prefix("0x")?, 16).ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn fuzz_seeds() -> Result {
    let out = Command::new("gzip")
        .args(["-dc", TRACES])
        .output()
        .map_err(|e| format!("run gzip on {TRACES}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gzip -dc {TRACES} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| format!("{TRACES}: {e}"))?;
    let mut seen = std::collections::HashSet::new();
    let mut per_code: std::collections::HashMap<(&str, u32), usize> =
        std::collections::HashMap::new();
    let mut written = 0usize;
    for line in text.lines() {
        let (Some(cmd), Some(rsp), Some(code)) = (
            json_str(line, "cmd"),
            json_str(line, "rsp"),
            json_hex(line, "cc_num"),
        ) else {
            continue;
        };
        let (Some(cmd), Some(rsp)) = (unhex(cmd), unhex(rsp)) else {
            continue;
        };
        let mut framed_rsp = code.to_be_bytes().to_vec();
        framed_rsp.extend_from_slice(&rsp);
        for (target, bytes) in [("command", cmd), ("response", framed_rsp)] {
            let n = per_code.entry((target, code)).or_default();
            if *n >= SEEDS_PER_CODE || !seen.insert(bytes.clone()) {
                continue;
            }
            *n += 1;
            let dir = format!("fuzz/corpus/{target}");
            std::fs::create_dir_all(&dir).map_err(|e| format!("create {dir}: {e}"))?;
            let path = format!("{dir}/seed-{code:03x}-{n}");
            std::fs::write(&path, &bytes).map_err(|e| format!("write {path}: {e}"))?;
            written += 1;
        }
    }
    written += structure_seeds(&text)?;
    written += engine_seeds(&text)?;
    written += state_and_seal_seeds()?;
    eprintln!("xtask: wrote {written} seeds under fuzz/corpus/");
    Ok(())
}

/// Seeds for the `structures` target: the structures inside real parameter areas, each prefixed
/// with the target's selector byte (its index in the target's `PARSERS` table).
/// Seeds of the `engine` target: per tpm2-tools test of the traces, the commands it sent in
/// order (the resource manager's ContextSave/ContextLoad left out), framed as the target reads
/// them (big-endian u16 length, then the command), 16 commands per seed, two seeds per test.
fn engine_seeds(text: &str) -> Result<usize> {
    const CONTEXT_SAVE: u32 = 0x162;
    const CONTEXT_LOAD: u32 = 0x161;
    let mut per_test: std::collections::BTreeMap<&str, Vec<Vec<u8>>> =
        std::collections::BTreeMap::new();
    for line in text.lines() {
        let (Some(test), Some(phase), Some(cmd), Some(code)) = (
            json_str(line, "test"),
            json_str(line, "phase"),
            json_str(line, "cmd"),
            json_hex(line, "cc_num"),
        ) else {
            continue;
        };
        if phase != "test" || code == CONTEXT_SAVE || code == CONTEXT_LOAD {
            continue;
        }
        if let Some(cmd) = unhex(cmd).filter(|c| c.len() < 0x2000) {
            per_test.entry(test).or_default().push(cmd);
        }
    }
    let dir = "fuzz/corpus/engine";
    std::fs::create_dir_all(dir).map_err(|e| format!("create {dir}: {e}"))?;
    let mut written = 0;
    for (test, cmds) in per_test {
        for (part, chunk) in cmds.chunks(16).take(2).enumerate() {
            let mut seed = Vec::new();
            for c in chunk {
                seed.extend_from_slice(&u16::try_from(c.len()).unwrap_or(0).to_be_bytes());
                seed.extend_from_slice(c);
            }
            let path = format!("{dir}/seed-{test}-{part}");
            std::fs::write(&path, &seed).map_err(|e| format!("write {path}: {e}"))?;
            written += 1;
        }
    }
    Ok(written)
}

/// Seeds of the `state` and `seal` targets: the blobs of an engine at three points of its
/// life (fresh; started with a primary key loaded; after TPM2_Shutdown(STATE)), made with
/// constant entropy so that the seeds are reproducible. `state` seeds leave out the trailing
/// digest (the target appends it); `seal` seeds are those blobs sealed under the target's key.
fn state_and_seal_seeds() -> Result<usize> {
    use vtpm_domain::engine::{Engine, Platform};
    struct ConstPlatform;
    impl Platform for ConstPlatform {
        fn fill_entropy(&mut self, buf: &mut [u8]) {
            buf.fill(0x5A);
        }
        fn monotonic_ms(&mut self) -> u64 {
            0
        }
    }
    const STARTUP_CLEAR: &[u8] = &[0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0];
    const SHUTDOWN_STATE: &[u8] = &[0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x45, 0, 1];
    // TPM2_CreatePrimary(owner) of an ECC P-256 restricted decryption key, empty password.
    const CREATE_PRIMARY: &[u8] = &[
        0x80, 2, 0, 0, 0, 0x43, 0, 0, 1, 0x31, 0x40, 0, 0, 1, 0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 1,
        0, 0, 0, 4, 0, 0, 0, 0, 0, 0x1A, 0, 0x23, 0, 0x0B, 0, 3, 0, 0x72, 0, 0, 0, 6, 0, 0x80, 0,
        0x43, 0, 0x10, 0, 3, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut e = Engine::manufacture(Box::new(ConstPlatform));
    let mut blobs = vec![e.save_state().to_vec()];
    for cmd in [STARTUP_CLEAR, CREATE_PRIMARY] {
        let rsp = e.execute(0, cmd);
        if rsp.get(6..10) != Some(&[0, 0, 0, 0][..]) {
            return Err(format!("seed engine: command failed: {rsp:02x?}"));
        }
    }
    blobs.push(e.save_state().to_vec());
    if e.execute(0, SHUTDOWN_STATE).get(6..10) != Some(&[0, 0, 0, 0][..]) {
        return Err("seed engine: TPM2_Shutdown(STATE) failed".into());
    }
    blobs.push(e.save_state().to_vec());
    let key = vtpm_domain::seal::SealKey::new([0x42; 32]);
    let mut written = 0;
    for target in ["state", "seal"] {
        let dir = format!("fuzz/corpus/{target}");
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {dir}: {e}"))?;
    }
    for (i, blob) in blobs.iter().enumerate() {
        let body = &blob[..blob.len().saturating_sub(32)];
        let sealed = vtpm_domain::seal::seal(&key, 1, &[7; 16], blob)
            .map_err(|e| format!("seal a seed: {e}"))?;
        for (target, bytes) in [("state", body), ("seal", &sealed[..])] {
            let path = format!("fuzz/corpus/{target}/seed-{i}");
            std::fs::write(&path, bytes).map_err(|e| format!("write {path}: {e}"))?;
            written += 1;
        }
    }
    Ok(written)
}

fn structure_seeds(text: &str) -> Result<usize> {
    use tpm2::Unmarshal;
    use tpm2::structures as s;

    /// Reads one `T` and returns the bytes it occupied.
    fn cut<'a, T: Unmarshal>(r: &mut tpm2::Reader<'a>) -> Option<&'a [u8]> {
        let before = r.rest();
        T::unmarshal(r).ok()?;
        Some(&before[..before.len() - r.rest().len()])
    }
    type Cutter = for<'a> fn(&mut tpm2::Reader<'a>) -> Option<&'a [u8]>;
    /// Command code, parse the response (true) or the command (false), bytes to skip first,
    /// then the structures in order with their selector bytes.
    type Step = (u32, bool, usize, &'static [(u8, Cutter)]);
    let plan: &[Step] = &[
        (0x173, true, 0, &[(1, cut::<s::Tpm2bPublic>)]),
        (0x17A, true, 1, &[(9, cut::<s::TpmsCapabilityData>)]),
        (
            0x17E,
            true,
            4,
            &[(10, cut::<s::TpmlPcrSelection>), (11, cut::<s::TpmlDigest>)],
        ),
        (
            0x158,
            true,
            2,
            &[(8, cut::<s::TpmsAttest>), (7, cut::<s::TpmtSignature>)],
        ),
        (0x15D, true, 0, &[(7, cut::<s::TpmtSignature>)]),
        (0x169, true, 0, &[(25, cut::<s::Tpm2bNvPublic>)]),
        (0x162, true, 0, &[(26, cut::<s::TpmsContext>)]),
        (
            0x131,
            false,
            0,
            &[
                (4, cut::<s::Tpm2bSensitiveCreate>),
                (1, cut::<s::Tpm2bPublic>),
            ],
        ),
        (
            0x153,
            true,
            0,
            &[
                (1, cut::<tpm2::structures::Tpm2bPrivate>),
                (1, cut::<s::Tpm2bPublic>),
                (5, cut::<s::Tpm2bCreationData>),
            ],
        ),
    ];
    let mut per_sel = std::collections::HashMap::<u8, usize>::new();
    let mut written = 0;
    for line in text.lines() {
        let (Some(code), Some(cmd), Some(rsp)) = (
            json_hex(line, "cc_num"),
            json_str(line, "cmd"),
            json_str(line, "rsp"),
        ) else {
            continue;
        };
        let Some(&(_, from_rsp, skip, steps)) = plan.iter().find(|p| p.0 == code) else {
            continue;
        };
        let (Some(cmd), Some(rsp)) = (unhex(cmd), unhex(rsp)) else {
            continue;
        };
        let cc = tpm2::cc::TpmCc(code);
        let params = if from_rsp {
            match tpm2::response::Response::parse(&rsp, cc) {
                Ok(r) if r.code().is_success() => r.parameters.to_vec(),
                _ => continue,
            }
        } else {
            match tpm2::command::Command::parse(&cmd) {
                Ok(c) => c.parameters.to_vec(),
                Err(_) => continue,
            }
        };
        let mut r = tpm2::Reader::new(&params);
        if r.bytes(skip, "skip").is_err() {
            continue;
        }
        for (sel, f) in steps {
            let Some(bytes) = f(&mut r) else { break };
            let n = per_sel.entry(*sel).or_default();
            if *n >= SEEDS_PER_CODE {
                continue;
            }
            *n += 1;
            let dir = "fuzz/corpus/structures";
            std::fs::create_dir_all(dir).map_err(|e| format!("create {dir}: {e}"))?;
            let mut seed = vec![*sel];
            seed.extend_from_slice(bytes);
            let path = format!("{dir}/seed-{sel:02}-{n}");
            std::fs::write(&path, seed).map_err(|e| format!("write {path}: {e}"))?;
            written += 1;
        }
    }
    Ok(written)
}

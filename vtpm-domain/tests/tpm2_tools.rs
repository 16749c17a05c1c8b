#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Short names for the tools' files (t, s, u, r, c) read like the shell they replace.
#![allow(clippy::many_single_char_names)]
//! The acceptance test of the engine: the real tpm2-tools 5.4 (through tpm2-tss's `swtpm` TCTI)
//! drive `vtpm-domain serve --swtpm-tcp 127.0.0.1:PORT`, and every result is checked, where
//! possible independently of the TPM: digests and HMACs with `openssl dgst`, signatures with
//! `openssl dgst -verify`, RSA encryption with `openssl pkeyutl`, AES modes with `openssl enc`.
//!
//! Each tool flow is its own test with its own server, so a failure names the flow; the panic
//! message starts with the failing tool command and the TSS's decoding of the TPM response code
//! (`Esys_Xxx(0xRC) - tpm:...`).
//!
//! tpm2-tools, openssl and (for the reference mode) swtpm must be installed: a missing program
//! fails the test. Setting `VTPM_TOOLS_REFERENCE=swtpm` runs the same flows against a private
//! swtpm instead of our server, which checks the expectations of this file against a mature TPM.
//!
//! `VTPM_TOOLS_STATE_FILE=1` runs every flow against a server with a sealed state file (written
//! after every state-changing command) instead of `--ephemeral`.
//!
//! Without a resource manager every object a tool loads (including the context files it is
//! given) stays loaded after the tool exits, so the flows flush transient objects after each
//! step, as a script using the tools directly must.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vtpm_tools::transport::SwtpmControl;

// ---------------------------------------------------------------------------------------------
// Processes and files
// ---------------------------------------------------------------------------------------------

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Our server with a new key (`vtpm-domain keygen`) and a state file in `dir`.
fn state_file_launch(dir: &Path) -> Launch {
    let (state, key) = (dir.join("tpm.state"), dir.join("tpm.key"));
    let out = Command::new(env!("CARGO_BIN_EXE_vtpm-domain"))
        .args(["keygen", "--key-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vtpm-domain keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Launch::Ours(vec![
        "--state".into(),
        state.display().to_string(),
        "--key-file".into(),
        key.display().to_string(),
    ])
}

/// A private directory, deleted on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "vtpm-tools-{what}-{}-{n}-{nanos}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Two consecutive free loopback ports (data, control).
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < u16::MAX - 1 && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free loopback ports");
}

/// Fails loudly if a program the tests need is not installed.
fn require(program: &str, version_arg: &str) {
    let ok = Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{program}` is required by this test but is not installed (Debian packages: tpm2-tools, \
         openssl, swtpm; or run `cargo xtask deps`)"
    );
}

fn require_all() {
    require("tpm2_startup", "--version");
    require("openssl", "version");
}

/// Which TPM the flows run against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Ours,
    Swtpm,
}

fn backend() -> Backend {
    match std::env::var("VTPM_TOOLS_REFERENCE").as_deref() {
        Ok("swtpm") => Backend::Swtpm,
        _ => Backend::Ours,
    }
}

/// How a server process is started (kept to start it again after a restart).
#[derive(Clone)]
enum Launch {
    /// Our binary with these arguments after `serve --swtpm-tcp 127.0.0.1:PORT`.
    Ours(Vec<String>),
    /// swtpm keeping its state in this directory.
    Swtpm(PathBuf),
}

/// A running TPM server on a loopback port pair (data PORT, control PORT + 1).
struct Server {
    child: Child,
    port: u16,
    launch: Launch,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// A fresh server: `--ephemeral`, or with `VTPM_TOOLS_STATE_FILE=1` a new sealed state file
    /// (so that every flow also runs with the state written after each command).
    fn fresh(scratch: &Path) -> Self {
        match backend() {
            Backend::Ours if std::env::var_os("VTPM_TOOLS_STATE_FILE").is_some() => {
                Self::start(&state_file_launch(scratch), None)
            }
            Backend::Ours => Self::start(&Launch::Ours(vec!["--ephemeral".into()]), None),
            Backend::Swtpm => {
                let dir = scratch.join("swtpm-state");
                fs::create_dir_all(&dir).unwrap();
                Self::start(&Launch::Swtpm(dir), None)
            }
        }
    }

    fn start(launch: &Launch, port: Option<u16>) -> Self {
        let mut last = String::new();
        for _ in 0..5 {
            let port = port.unwrap_or_else(free_port_pair);
            match Self::try_start(launch, port) {
                Ok(s) => return s,
                Err(e) => last = e,
            }
            if port != 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        panic!("cannot start the TPM server: {last}");
    }

    fn try_start(launch: &Launch, port: u16) -> Result<Self, String> {
        let log = Arc::new(Mutex::new(String::new()));
        let mut child = match launch {
            Launch::Ours(args) => Command::new(env!("CARGO_BIN_EXE_vtpm-domain"))
                .arg("serve")
                .arg("--swtpm-tcp")
                .arg(format!("127.0.0.1:{port}"))
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run vtpm-domain: {e}"))?,
            Launch::Swtpm(dir) => {
                require("swtpm", "--version");
                Command::new("swtpm")
                    .args(["socket", "--tpm2", "--server"])
                    .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                    .arg("--ctrl")
                    .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
                    .arg("--tpmstate")
                    .arg(format!("dir={}", dir.display()))
                    .args(["--flags", "not-need-init"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("cannot run swtpm: {e}"))?
            }
        };
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut server = Self {
            child,
            port,
            launch: launch.clone(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                std::thread::sleep(Duration::from_millis(50));
                return Err(format!("exited at start-up ({status}): {}", server.log()));
            }
            let ready = match launch {
                Launch::Ours(_) => rx.try_recv().is_ok(),
                Launch::Swtpm(_) => [port, port + 1].iter().all(|p| {
                    TcpStream::connect_timeout(
                        &([127, 0, 0, 1], *p).into(),
                        Duration::from_millis(200),
                    )
                    .is_ok()
                }),
            };
            if ready {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("no \"listening on\" within 30 s: {}", server.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    fn control(&self) -> SwtpmControl {
        SwtpmControl::connect(&format!("127.0.0.1:{}", self.port + 1)).unwrap()
    }

    /// _TPM_Init through the control channel (CMD_INIT), as a power cycle.
    fn power_cycle(&self) {
        self.control()
            .init(false)
            .unwrap_or_else(|e| panic!("CMD_INIT failed: {e}\nserver log:\n{}", self.log()));
    }

    /// Stops the process gracefully (CMD_SHUTDOWN), then starts it again on the same ports with
    /// the same arguments.
    fn restart_process(&mut self) {
        self.control()
            .shutdown()
            .unwrap_or_else(|e| panic!("CMD_SHUTDOWN failed: {e}\nserver log:\n{}", self.log()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "server exit status {status}: {}",
                    self.log()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after CMD_SHUTDOWN: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let launch = self.launch.clone();
        let next = Self::start(&launch, Some(self.port));
        let old = std::mem::replace(self, next);
        drop(old);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Whether tool output reports the TPM response code `rc` (`Esys_Xxx(0x18B)`; any case).
fn has_rc(stderr: &str, rc: u32) -> bool {
    let s = stderr.to_lowercase();
    s.contains(&format!("(0x{rc:x})")) || s.contains(&format!("0x{rc:08x}"))
}

/// The last line of tool output that names the failing TPM command and its response code.
fn tss_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    lines
        .iter()
        .find(|l| l.starts_with("ERROR: Esys_") || l.starts_with("ERROR: Tss2_Sys_"))
        .or_else(|| lines.iter().find(|l| l.contains("ErrorCode")))
        .or_else(|| lines.iter().find(|l| l.starts_with("ERROR")))
        .map_or_else(|| "(no TSS error line)".to_owned(), |l| (*l).to_owned())
}

/// A TPM server and a scratch directory for the tools' files.
struct Tpm {
    server: Server,
    dir: TempDir,
}

impl Tpm {
    /// A fresh ephemeral server, started with `tpm2_startup -c`.
    fn new(name: &str) -> Self {
        let t = Self::unstarted(name);
        t.tool(&["tpm2_startup", "-c"]);
        t
    }

    /// A fresh ephemeral server before TPM2_Startup.
    fn unstarted(name: &str) -> Self {
        require_all();
        let dir = TempDir::new(name);
        let server = Server::fresh(&dir.0);
        Self { server, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        fs::write(self.path(name), bytes).unwrap();
        self.p(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// Runs a program in the scratch directory with the TCTI pointing at the server.
    fn output(&self, args: &[&str]) -> Output {
        Command::new(args[0])
            .args(&args[1..])
            .current_dir(&self.dir.0)
            .env("TPM2TOOLS_TCTI", self.server.tcti())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", args[0]))
    }

    /// Runs a tool that must succeed; returns its standard output.
    fn tool(&self, args: &[&str]) -> String {
        let out = self.output(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "FAILED `{}`: {}\nexit {}\nstderr:\n{stderr}\nstdout:\n{}\nserver log:\n{}",
            args.join(" "),
            tss_error(&stderr),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            self.server.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a tool that must fail; returns its standard error.
    fn tool_fails(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            !out.status.success(),
            "`{}` succeeded but must fail; stdout:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Flushes every loaded transient object (tools leave what they load loaded).
    fn flush(&self) {
        self.tool(&["tpm2_flushcontext", "-t"]);
    }

    /// Runs a tool, then flushes transient objects.
    fn tool_f(&self, args: &[&str]) -> String {
        let out = self.tool(args);
        self.flush();
        out
    }

    /// The value of one PCR, read with `tpm2_pcrread -o`.
    fn pcr(&self, bank: &str, index: u32) -> Vec<u8> {
        let out = self.p("pcr.bin");
        self.tool(&["tpm2_pcrread", &format!("{bank}:{index}"), "-o", &out]);
        self.read("pcr.bin")
    }

    /// A primary key in the owner hierarchy, saved to `ctx`; `alg` as in `tpm2_createprimary -G`.
    fn primary(&self, alg: &str, ctx: &str) {
        let ctx = self.p(ctx);
        self.tool_f(&["tpm2_createprimary", "-C", "o", "-G", alg, "-c", &ctx]);
    }

    /// Creates and loads a child key of `parent`; returns the context file of the loaded key.
    fn child(&self, parent: &str, name: &str, extra: &[&str]) -> String {
        let (pubf, privf, ctx) = (
            self.p(&format!("{name}.pub")),
            self.p(&format!("{name}.priv")),
            self.p(&format!("{name}.ctx")),
        );
        let parent = self.p(parent);
        let mut args = vec!["tpm2_create", "-C", &parent, "-u", &pubf, "-r", &privf];
        args.extend_from_slice(extra);
        self.tool_f(&args);
        self.tool_f(&[
            "tpm2_load",
            "-C",
            &parent,
            "-u",
            &pubf,
            "-r",
            &privf,
            "-c",
            &ctx,
        ]);
        ctx
    }
}

/// `openssl dgst -<alg> -binary` of `data`: the independent digest.
fn openssl_digest(alg: &str, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", &format!("-{alg}"), "-binary"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl is required");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst -{alg} failed");
    out.stdout
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len() % 2 == 0, "odd hex string {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("hex {s:?}")))
        .collect()
}

/// Runs openssl with arguments; asserts success; returns stdout.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is required");
    assert!(
        out.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The value of `key:` in YAML-ish tool output (first occurrence, trimmed).
fn yaml_value<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

// ---------------------------------------------------------------------------------------------
// Flows
// ---------------------------------------------------------------------------------------------

#[test]
fn startup_and_getrandom() {
    let t = Tpm::unstarted("random");
    // Before TPM2_Startup every command is TPM_RC_INITIALIZE.
    let err = t.tool_fails(&["tpm2_getrandom", "--hex", "8"]);
    assert!(has_rc(&err, 0x100), "want TPM_RC_INITIALIZE, got:\n{err}");
    t.tool(&["tpm2_startup", "-c"]);
    // Make sure which TPM answers: ours does not claim to be IBM's.
    let fixed = t.tool(&["tpm2_getcap", "properties-fixed"]);
    let ibm = fixed.contains("\"IBM\"");
    assert_eq!(
        ibm,
        backend() == Backend::Swtpm,
        "unexpected TPM manufacturer:\n{fixed}"
    );
    for n in [1usize, 8, 16, 32, 48, 64] {
        let out = t.p("rand.bin");
        t.tool(&["tpm2_getrandom", &n.to_string(), "-o", &out]);
        assert_eq!(t.read("rand.bin").len(), n, "tpm2_getrandom {n}");
    }
    let a = unhex(&t.tool(&["tpm2_getrandom", "--hex", "32"]));
    let b = unhex(&t.tool(&["tpm2_getrandom", "--hex", "32"]));
    assert_eq!(a.len(), 32);
    assert_ne!(a, b, "two random draws are equal");
    // More than the largest digest: the tool caps or the TPM returns fewer bytes; `-f` asks
    // the tool to accept the short answer.
    let big = t.p("big.bin");
    t.tool(&["tpm2_getrandom", "-f", "128", "-o", &big]);
    let got = t.read("big.bin").len();
    assert!((1..=128).contains(&got), "got {got} bytes");
    // A second TPM2_Startup is answered TPM_RC_INITIALIZE, which tpm2_startup accepts as
    // "already started".
    t.tool(&["tpm2_startup", "-c"]);
    t.tool(&["tpm2_getrandom", "--hex", "4"]);
}

#[test]
fn pcrread_all_banks() {
    let t = Tpm::new("pcrread");
    let out = t.tool(&["tpm2_pcrread"]);
    for bank in ["sha1:", "sha256:", "sha384:"] {
        assert!(out.contains(bank), "bank {bank} missing:\n{out}");
    }
    for (bank, len) in [("sha1", 20), ("sha256", 32), ("sha384", 48)] {
        for i in 0..24 {
            let v = t.pcr(bank, i);
            let expected = if (17..=22).contains(&i) { 0xff } else { 0 };
            assert_eq!(v, vec![expected; len], "{bank}:{i} after Startup(CLEAR)");
        }
    }
    // Several banks and PCRs in one read, binary output: in selection order.
    let f = t.p("multi.bin");
    t.tool(&["tpm2_pcrread", "sha1:0,1+sha256:16,17", "-o", &f]);
    let mut want = vec![0u8; 40];
    want.extend_from_slice(&[0; 32]);
    want.extend_from_slice(&[0xff; 32]);
    assert_eq!(t.read("multi.bin"), want);
    let caps = t.tool(&["tpm2_getcap", "pcrs"]);
    assert!(caps.contains("sha256: [ 0, 1, 2, 3"), "{caps}");
}

#[test]
fn pcrextend_event_reset() {
    let t = Tpm::new("pcrextend");
    let d256 = openssl_digest("sha256", b"measured thing");
    let d1 = openssl_digest("sha1", b"measured thing");
    t.tool(&[
        "tpm2_pcrextend",
        &format!("16:sha256={},sha1={}", hex(&d256), hex(&d1)),
    ]);
    let mut old256 = vec![0u8; 32];
    old256.extend_from_slice(&d256);
    let want256 = openssl_digest("sha256", &old256);
    assert_eq!(t.pcr("sha256", 16), want256, "sha256 extend");
    let mut old1 = vec![0u8; 20];
    old1.extend_from_slice(&d1);
    let want1 = openssl_digest("sha1", &old1);
    assert_eq!(t.pcr("sha1", 16), want1, "sha1 extend");
    // The sha384 bank was not extended.
    assert_eq!(t.pcr("sha384", 16), vec![0u8; 48]);

    // A second extend chains.
    t.tool(&["tpm2_pcrextend", &format!("16:sha256={}", hex(&d256))]);
    let mut chain = want256.clone();
    chain.extend_from_slice(&d256);
    let want256b = openssl_digest("sha256", &chain);
    assert_eq!(t.pcr("sha256", 16), want256b);

    // PCR_Event: every bank extended with the digest of the event data.
    let event = b"an event of some length, with bytes \x00\x01\xff";
    let ev = t.write("event.bin", event);
    let out = t.tool(&["tpm2_pcrevent", "16", &ev]);
    for (bank, len) in [("sha1", 20usize), ("sha256", 32), ("sha384", 48)] {
        let de = openssl_digest(bank, event);
        assert!(
            out.contains(&hex(&de)) || out.to_lowercase().contains(&hex(&de)),
            "tpm2_pcrevent output lacks the {bank} digest of the data:\n{out}"
        );
        let mut before = match bank {
            "sha256" => want256b.clone(),
            "sha1" => want1.clone(),
            _ => vec![0u8; len],
        };
        before.extend_from_slice(&de);
        assert_eq!(
            t.pcr(bank, 16),
            openssl_digest(bank, &before),
            "{bank} after event"
        );
    }
    // pcrevent without a PCR only hashes (TPM2_EventSequenceComplete path is not used: it
    // hashes in the TPM through PCR_Event with TPM_RH_NULL).
    let out = t.tool(&["tpm2_pcrevent", &ev]);
    assert!(
        out.to_lowercase()
            .contains(&hex(&openssl_digest("sha256", event))),
        "{out}"
    );

    // PCR_Reset of PCR 16 (resettable at locality 0) zeroes every bank.
    t.tool(&["tpm2_pcrreset", "16"]);
    assert_eq!(t.pcr("sha256", 16), vec![0u8; 32]);
    assert_eq!(t.pcr("sha1", 16), vec![0u8; 20]);
    // PCR 0 is not resettable: TPM_RC_LOCALITY.
    let err = t.tool_fails(&["tpm2_pcrreset", "0"]);
    assert!(
        has_rc(&err, 0x907),
        "pcrreset 0: want TPM_RC_LOCALITY:\n{err}"
    );
    // Extending a PCR with a digest of the wrong size is refused by the tool; an unknown PCR
    // by the TPM.
    let err = t.tool_fails(&["tpm2_pcrextend", &format!("24:sha256={}", hex(&d256))]);
    assert!(!err.is_empty());
}

#[test]
fn hash_one_shot_and_sequence() {
    let t = Tpm::new("hash");
    let small = b"abc".to_vec();
    // Larger than TPM_PT_INPUT_BUFFER (1024): tpm2_hash uses a hash sequence.
    let large: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    for (name, data) in [("small", &small), ("large", &large)] {
        let f = t.write(&format!("{name}.bin"), data);
        for alg in ["sha1", "sha256", "sha384"] {
            let out = t.p("digest.bin");
            let tk = t.p("ticket.bin");
            t.tool(&["tpm2_hash", "-C", "o", "-g", alg, "-o", &out, "-t", &tk, &f]);
            assert_eq!(
                t.read("digest.bin"),
                openssl_digest(alg, data),
                "{alg} of {name} data"
            );
            let hexout = t.tool(&["tpm2_hash", "-C", "o", "-g", alg, "--hex", &f]);
            assert_eq!(unhex(&hexout), openssl_digest(alg, data));
        }
    }
}

#[test]
fn hmac_with_keyedhash_key() {
    let t = Tpm::new("hmac");
    t.primary("rsa2048", "prim.ctx");
    let key = t.child("prim.ctx", "hmac", &["-G", "hmac"]);
    let pubout = t.tool_f(&["tpm2_readpublic", "-c", &key]);
    assert!(pubout.contains("keyedhash"), "{pubout}");
    let m1 = t.write("m1.txt", b"message one");
    let m2 = t.write("m2.txt", b"message two");
    let a = unhex(&t.tool_f(&["tpm2_hmac", "-c", &key, "--hex", &m1]));
    let b = unhex(&t.tool_f(&["tpm2_hmac", "-c", &key, "--hex", &m1]));
    let c = unhex(&t.tool_f(&["tpm2_hmac", "-c", &key, "--hex", &m2]));
    assert_eq!(a.len(), 32, "HMAC-SHA256 length");
    assert_eq!(a, b, "HMAC is deterministic");
    assert_ne!(a, c, "different messages, different HMACs");
    // A long message goes through HMAC_Start / SequenceUpdate / SequenceComplete; its MAC of
    // a prefix-free different message must differ, and repeat.
    let long: Vec<u8> = (0..3000u32).map(|i| (i % 253) as u8).collect();
    let lf = t.write("long.bin", &long);
    let d = unhex(&t.tool_f(&["tpm2_hmac", "-c", &key, "--hex", &lf]));
    let e = unhex(&t.tool_f(&["tpm2_hmac", "-c", &key, "--hex", &lf]));
    assert_eq!(d, e);
    assert_eq!(d.len(), 32);
    assert_ne!(d, a);
    // A second key gives a different MAC of the same message.
    let key2 = t.child("prim.ctx", "hmac2", &["-G", "hmac"]);
    let f = unhex(&t.tool_f(&["tpm2_hmac", "-c", &key2, "--hex", &m1]));
    assert_ne!(a, f);
}

#[test]
fn createprimary_is_deterministic() {
    let t = Tpm::new("primary");
    for alg in ["rsa2048", "ecc256"] {
        let (u1, u2) = (t.p(&format!("{alg}-1.pub")), t.p(&format!("{alg}-2.pub")));
        let c = t.p("p.ctx");
        let out1 = t.tool_f(&[
            "tpm2_createprimary",
            "-C",
            "o",
            "-G",
            alg,
            "-o",
            &u1,
            "-c",
            &c,
        ]);
        let out2 = t.tool_f(&[
            "tpm2_createprimary",
            "-C",
            "o",
            "-G",
            alg,
            "-o",
            &u2,
            "-c",
            &c,
        ]);
        assert_eq!(
            fs::read(&u1).unwrap(),
            fs::read(&u2).unwrap(),
            "{alg}: the same template twice must give the same public area"
        );
        assert_eq!(out1, out2);
        // The endorsement hierarchy has another seed: another key.
        let u3 = t.p(&format!("{alg}-e.pub"));
        t.tool_f(&[
            "tpm2_createprimary",
            "-C",
            "e",
            "-G",
            alg,
            "-o",
            &u3,
            "-c",
            &c,
        ]);
        assert_ne!(
            fs::read(&u1).unwrap(),
            fs::read(&u3).unwrap(),
            "{alg}: o vs e"
        );
        // A different template (noDA added) gives a different key, not just another
        // attribute word: compare the public key itself.
        let attrs = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda";
        let out3 = t.tool_f(&[
            "tpm2_createprimary",
            "-C",
            "o",
            "-G",
            alg,
            "-a",
            attrs,
            "-c",
            &c,
        ]);
        let key = |out: &str| {
            yaml_value(out, "rsa")
                .or_else(|| yaml_value(out, "x"))
                .unwrap_or_else(|| panic!("no public key in {out}"))
                .to_owned()
        };
        assert_ne!(
            key(&out1),
            key(&out3),
            "{alg}: another template, another key"
        );
        assert_eq!(key(&out1).len(), if alg == "rsa2048" { 512 } else { 64 });
    }
    // readpublic of a primary shows the template.
    t.primary("ecc256", "e.ctx");
    let out = t.tool_f(&["tpm2_readpublic", "-c", &t.p("e.ctx")]);
    assert!(out.contains("NIST p256"), "{out}");
    assert!(out.contains("restricted"), "{out}");
    assert_eq!(yaml_value(&out, "sym-keybits"), Some("128"));
    let name = yaml_value(&out, "name").unwrap();
    assert!(name.starts_with("000b") && name.len() == 68, "name {name}");
}

/// Signs `msg` with the loaded key, verifies in the TPM and with openssl.
fn sign_and_verify(t: &Tpm, ctx: &str, scheme: &str, openssl_opts: &[&str]) {
    let msg = t.write("msg.txt", b"the message to be signed\n");
    let (sig_tss, sig_plain) = (t.p("sig.tss"), t.p("sig.raw"));
    t.tool_f(&[
        "tpm2_sign",
        "-c",
        ctx,
        "-g",
        "sha256",
        "-s",
        scheme,
        "-o",
        &sig_tss,
        &msg,
    ]);
    let tk = t.p("verified.tk");
    t.tool_f(&[
        "tpm2_verifysignature",
        "-c",
        ctx,
        "-g",
        "sha256",
        "-m",
        &msg,
        "-s",
        &sig_tss,
        "-t",
        &tk,
    ]);
    assert!(!t.read("verified.tk").is_empty());
    // A different message does not verify.
    let other = t.write("other.txt", b"another message\n");
    t.tool_fails(&[
        "tpm2_verifysignature",
        "-c",
        ctx,
        "-g",
        "sha256",
        "-m",
        &other,
        "-s",
        &sig_tss,
    ]);
    t.flush();
    t.tool_f(&[
        "tpm2_sign",
        "-c",
        ctx,
        "-g",
        "sha256",
        "-s",
        scheme,
        "-f",
        "plain",
        "-o",
        &sig_plain,
        &msg,
    ]);
    let pem = t.p("key.pem");
    t.tool_f(&["tpm2_readpublic", "-c", ctx, "-f", "pem", "-o", &pem]);
    let mut args = vec!["dgst", "-sha256", "-verify", &pem, "-signature", &sig_plain];
    args.extend_from_slice(openssl_opts);
    args.push(&msg);
    let out = openssl(&t.dir.0, &args);
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
}

#[test]
fn rsa_sign_verify() {
    let t = Tpm::new("rsasign");
    t.primary("rsa2048", "prim.ctx");
    let key = t.child("prim.ctx", "rsa", &["-G", "rsa2048"]);
    sign_and_verify(&t, &key, "rsassa", &[]);
    // RSASSA is deterministic.
    let msg = t.write("m.txt", b"deterministic");
    let (s1, s2) = (t.p("s1"), t.p("s2"));
    t.tool_f(&[
        "tpm2_sign",
        "-c",
        &key,
        "-g",
        "sha256",
        "-s",
        "rsassa",
        "-o",
        &s1,
        &msg,
    ]);
    t.tool_f(&[
        "tpm2_sign",
        "-c",
        &key,
        "-g",
        "sha256",
        "-s",
        "rsassa",
        "-o",
        &s2,
        &msg,
    ]);
    assert_eq!(t.read("s1"), t.read("s2"));
    sign_and_verify(
        &t,
        &key,
        "rsapss",
        &[
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:-2",
        ],
    );
}

#[test]
fn ecc_sign_verify() {
    let t = Tpm::new("eccsign");
    t.primary("ecc256", "prim.ctx");
    let key = t.child("prim.ctx", "ecc", &["-G", "ecc256"]);
    sign_and_verify(&t, &key, "ecdsa", &[]);
    // `tpm2_create -c` creates and loads in one go (TPM2_CreateLoaded when the TPM lists it).
    let direct = t.p("direct.ctx");
    t.tool_f(&[
        "tpm2_create",
        "-C",
        &t.p("prim.ctx"),
        "-G",
        "ecc256",
        "-c",
        &direct,
    ]);
    sign_and_verify(&t, &direct, "ecdsa", &[]);
}

#[test]
fn rsa_encrypt_decrypt() {
    let t = Tpm::new("rsaenc");
    t.primary("rsa2048", "prim.ctx");
    let key = t.child("prim.ctx", "rsa", &["-G", "rsa2048"]);
    let msg = t.write("msg.txt", b"secret message");
    for scheme in ["rsaes", "oaep"] {
        let (ct, pt) = (t.p("ct.bin"), t.p("pt.bin"));
        t.tool_f(&["tpm2_rsaencrypt", "-c", &key, "-s", scheme, "-o", &ct, &msg]);
        assert_eq!(t.read("ct.bin").len(), 256, "{scheme} ciphertext length");
        t.tool_f(&["tpm2_rsadecrypt", "-c", &key, "-s", scheme, "-o", &pt, &ct]);
        assert_eq!(t.read("pt.bin"), b"secret message", "{scheme} round trip");
    }
    // Encrypted by openssl with the public key, decrypted by the TPM.
    let pem = t.p("key.pem");
    t.tool_f(&["tpm2_readpublic", "-c", &key, "-f", "pem", "-o", &pem]);
    for (scheme, opts) in [
        (
            "oaep",
            &[
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
            ][..],
        ),
        ("rsaes", &["-pkeyopt", "rsa_padding_mode:pkcs1"][..]),
    ] {
        let ct = t.p("ossl.ct");
        let mut args = vec![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", &pem, "-in", &msg, "-out", &ct,
        ];
        args.extend_from_slice(opts);
        openssl(&t.dir.0, &args);
        let pt = t.p("ossl.pt");
        t.tool_f(&["tpm2_rsadecrypt", "-c", &key, "-s", scheme, "-o", &pt, &ct]);
        assert_eq!(t.read("ossl.pt"), b"secret message", "openssl {scheme}");
    }
    // A damaged ciphertext is refused.
    let mut bad = t.read("ossl.ct");
    bad[10] ^= 1;
    let badf = t.write("bad.ct", &bad);
    t.tool_fails(&["tpm2_rsadecrypt", "-c", &key, "-s", "rsaes", &badf]);
}

#[test]
fn seal_unseal() {
    let t = Tpm::new("seal");
    t.primary("ecc256", "prim.ctx");
    let secret = t.write("secret.txt", b"the sealed secret\n");
    let obj = t.child("prim.ctx", "sealed", &["-i", &secret]);
    let out = t.tool_f(&["tpm2_unseal", "-c", &obj]);
    assert_eq!(out.as_bytes(), b"the sealed secret\n");
    // With an authorization value.
    let obj2 = t.child("prim.ctx", "sealed2", &["-i", &secret, "-p", "pass123"]);
    let o = t.p("out.bin");
    t.tool_f(&["tpm2_unseal", "-c", &obj2, "-p", "pass123", "-o", &o]);
    assert_eq!(t.read("out.bin"), b"the sealed secret\n");
    let err = t.tool_fails(&["tpm2_unseal", "-c", &obj2, "-p", "wrong"]);
    assert!(
        has_rc(&err, 0x98e) || has_rc(&err, 0x9a2),
        "bad auth:\n{err}"
    );
    t.flush();
    // An RSA parent too.
    t.primary("rsa2048", "rprim.ctx");
    let obj3 = t.child("rprim.ctx", "sealed3", &["-i", &secret]);
    assert_eq!(
        t.tool_f(&["tpm2_unseal", "-c", &obj3]).as_bytes(),
        b"the sealed secret\n"
    );
}

#[test]
fn aes_encryptdecrypt() {
    let t = Tpm::new("aes");
    t.primary("rsa2048", "prim.ctx");
    let key = t.child("prim.ctx", "aes", &["-G", "aes128"]);
    let plain: Vec<u8> = (0..64u8).collect();
    let pf = t.write("plain.bin", &plain);
    let iv = t.write("iv.bin", &[7u8; 16]);
    for mode in ["cfb", "cbc", "ctr", "ofb", "ecb"] {
        let (ct, back) = (t.p(&format!("ct.{mode}")), t.p("back.bin"));
        t.tool_f(&[
            "tpm2_encryptdecrypt",
            "-c",
            &key,
            "-G",
            mode,
            "-t",
            &iv,
            "-o",
            &ct,
            &pf,
        ]);
        let c = t.read(&format!("ct.{mode}"));
        assert_eq!(c.len(), 64, "{mode} ciphertext length");
        assert_ne!(c, plain);
        t.tool_f(&[
            "tpm2_encryptdecrypt",
            "-d",
            "-c",
            &key,
            "-G",
            mode,
            "-t",
            &iv,
            "-o",
            &back,
            &ct,
        ]);
        assert_eq!(t.read("back.bin"), plain, "{mode} round trip");
    }
    // A key of known value (TPM2_LoadExternal) checked against openssl enc in every mode.
    let k = [
        0x2bu8, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88,
    ];
    let keybytes: Vec<u8> = k
        .iter()
        .chain(&[0x09u8, 0xcf, 0x4f, 0x3c])
        .copied()
        .collect();
    let kf = t.write("aes.key", &keybytes);
    let ext = t.p("ext.ctx");
    t.tool_f(&[
        "tpm2_loadexternal",
        "-C",
        "n",
        "-G",
        "aes",
        "-r",
        &kf,
        "-c",
        &ext,
    ]);
    for (mode, ossl, pad) in [
        ("cfb", "aes-128-cfb", false),
        ("cbc", "aes-128-cbc", true),
        ("ctr", "aes-128-ctr", false),
        ("ofb", "aes-128-ofb", false),
        ("ecb", "aes-128-ecb", true),
    ] {
        let ct = t.p("ext.ct");
        t.tool_f(&[
            "tpm2_encryptdecrypt",
            "-c",
            &ext,
            "-G",
            mode,
            "-t",
            &iv,
            "-o",
            &ct,
            &pf,
        ]);
        let khex = hex(&keybytes);
        let ivhex = hex(&[7u8; 16]);
        let cipher = format!("-{ossl}");
        let mut args = vec!["enc", "-e", &cipher, "-K", &khex, "-in", &pf];
        if mode != "ecb" {
            args.extend_from_slice(&["-iv", &ivhex]);
        }
        if pad {
            args.push("-nopad");
        }
        let want = openssl(&t.dir.0, &args);
        assert_eq!(t.read("ext.ct"), want, "{mode} against openssl enc");
    }
}

#[test]
fn evictcontrol_and_flushcontext() {
    let t = Tpm::new("evict");
    t.primary("ecc256", "prim.ctx");
    let before = t.tool_f(&["tpm2_readpublic", "-c", &t.p("prim.ctx")]);
    t.tool_f(&[
        "tpm2_evictcontrol",
        "-C",
        "o",
        "-c",
        &t.p("prim.ctx"),
        "0x81000001",
    ]);
    let handles = t.tool(&["tpm2_getcap", "handles-persistent"]);
    assert!(handles.contains("0x81000001"), "{handles}");
    let after = t.tool(&["tpm2_readpublic", "-c", "0x81000001"]);
    assert_eq!(
        yaml_value(&before, "name"),
        yaml_value(&after, "name"),
        "persistent copy has the same name"
    );
    // The transient original is flushed; the persistent copy remains usable as a parent.
    let trans = t.tool(&["tpm2_getcap", "handles-transient"]);
    assert!(!trans.contains("0x80"), "transients left: {trans}");
    let secret = t.write("s.txt", b"under a persistent parent");
    let (u, r, c) = (t.p("s.pub"), t.p("s.priv"), t.p("s.ctx"));
    t.tool_f(&[
        "tpm2_create",
        "-C",
        "0x81000001",
        "-i",
        &secret,
        "-u",
        &u,
        "-r",
        &r,
    ]);
    t.tool_f(&[
        "tpm2_load",
        "-C",
        "0x81000001",
        "-u",
        &u,
        "-r",
        &r,
        "-c",
        &c,
    ]);
    assert_eq!(
        t.tool_f(&["tpm2_unseal", "-c", &c]),
        "under a persistent parent"
    );
    // The same persistent handle again: TPM_RC_NV_DEFINED.
    t.primary("ecc256", "prim2.ctx");
    let err = t.tool_fails(&[
        "tpm2_evictcontrol",
        "-C",
        "o",
        "-c",
        &t.p("prim2.ctx"),
        "0x81000001",
    ]);
    assert!(has_rc(&err, 0x14c), "want TPM_RC_NV_DEFINED:\n{err}");
    t.flush();
    // FlushContext of a loaded transient object.
    t.tool(&[
        "tpm2_createprimary",
        "-C",
        "o",
        "-G",
        "ecc256",
        "-c",
        &t.p("p3.ctx"),
    ]);
    let trans = t.tool(&["tpm2_getcap", "handles-transient"]);
    let h = trans
        .lines()
        .find_map(|l| l.trim().strip_prefix("- "))
        .unwrap_or_else(|| panic!("no transient handle listed: {trans}"))
        .to_owned();
    t.tool(&["tpm2_flushcontext", &h]);
    let trans = t.tool(&["tpm2_getcap", "handles-transient"]);
    assert!(!trans.contains(&h), "{trans}");
    // Flushing it again: TPM_RC_HANDLE.
    let err = t.tool_fails(&["tpm2_flushcontext", &h]);
    assert!(!err.is_empty());
    // Evicting the persistent handle removes it.
    t.tool(&["tpm2_evictcontrol", "-C", "o", "-c", "0x81000001"]);
    let handles = t.tool(&["tpm2_getcap", "handles-persistent"]);
    assert!(!handles.contains("0x81000001"), "{handles}");
    let err = t.tool_fails(&["tpm2_readpublic", "-c", "0x81000001"]);
    assert!(has_rc(&err, 0x18b), "want TPM_RC_HANDLE:\n{err}");
}

#[test]
fn hmac_and_audit_sessions() {
    let t = Tpm::new("sessions");
    let s = t.p("session.ctx");
    t.tool(&["tpm2_startauthsession", "--hmac-session", "-S", &s]);
    let cfg = t.tool(&["tpm2_sessionconfig", &s]);
    assert!(cfg.contains("Session-Handle: 0x02"), "{cfg}");
    assert!(cfg.contains("continuesession"), "{cfg}");
    t.tool(&[
        "tpm2_sessionconfig",
        &s,
        "--enable-encrypt",
        "--enable-decrypt",
    ]);
    let cfg = t.tool(&["tpm2_sessionconfig", &s]);
    assert!(cfg.contains("decrypt") && cfg.contains("encrypt"), "{cfg}");
    // Response parameter encryption on GetRandom.
    let r = unhex(&t.tool(&["tpm2_getrandom", "-S", &s, "--hex", "16"]));
    assert_eq!(r.len(), 16);
    // An HMAC session authorizing the use of objects (empty authValue).
    let sess = format!("session:{s}");
    t.primary("ecc256", "prim.ctx");
    let secret = t.write("secret.txt", b"hmac-session secret");
    let obj = t.child("prim.ctx", "sealed", &["-i", &secret]);
    let out = t.tool_f(&["tpm2_unseal", "-c", &obj, "-p", &sess]);
    assert_eq!(out, "hmac-session secret");
    // The session's HMAC is really checked: an object with a password, authorized through the
    // HMAC session computed without it, is refused (TPM_RC_AUTH_FAIL, session 1).
    let obj2 = t.child("prim.ctx", "sealed2", &["-i", &secret, "-p", "pw2"]);
    let err = t.tool_fails(&["tpm2_unseal", "-c", &obj2, "-p", &sess]);
    assert!(
        has_rc(&err, 0x98e),
        "want TPM_RC_AUTH_FAIL (session 1):\n{err}"
    );
    t.flush();
    // The hierarchy authorized through the session, parameters encrypted both ways.
    let c = t.p("p2.ctx");
    t.tool_f(&[
        "tpm2_createprimary",
        "-C",
        "o",
        "-P",
        &sess,
        "-G",
        "ecc256",
        "-c",
        &c,
    ]);
    let digest = t.p("d.bin");
    let data = t.write("data.bin", b"hash me");
    t.tool(&["tpm2_hash", "-C", "o", "-g", "sha256", "-o", &digest, &data]);
    assert_eq!(t.read("d.bin"), openssl_digest("sha256", b"hash me"));
    let loaded = t.tool(&["tpm2_getcap", "handles-saved-session"]);
    assert!(
        loaded.contains("0x2000000") || loaded.contains("0x02000000"),
        "{loaded}"
    );
    t.tool(&["tpm2_flushcontext", &s]);

    // An audit session on GetRandom.
    let a = t.p("audit.ctx");
    t.tool(&["tpm2_startauthsession", "--audit-session", "-S", &a]);
    let cfg = t.tool(&["tpm2_sessionconfig", &a]);
    assert!(cfg.contains("audit"), "{cfg}");
    let r = unhex(&t.tool(&["tpm2_getrandom", "-S", &a, "--hex", "8"]));
    assert_eq!(r.len(), 8);
    t.tool(&["tpm2_flushcontext", "-s"]);
    for cap in ["handles-loaded-session", "handles-saved-session"] {
        let left = t.tool(&["tpm2_getcap", cap]);
        assert!(!left.contains("0x2"), "sessions left: {left}");
    }
    // A policy session can be started and flushed too.
    let p = t.p("policy.ctx");
    t.tool(&["tpm2_startauthsession", "--policy-session", "-S", &p]);
    t.tool(&["tpm2_flushcontext", &p]);
}

#[test]
fn getcap_every_capability() {
    let t = Tpm::new("getcap");
    let list = t.tool(&["tpm2_getcap", "-l"]);
    let caps: Vec<&str> = list
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .collect();
    assert!(caps.len() >= 13, "{list}");
    for cap in &caps {
        let out = t.tool(&["tpm2_getcap", cap]);
        match *cap {
            "properties-fixed" => {
                let v = |k: &str| -> String {
                    let i = out
                        .find(&format!("{k}:"))
                        .unwrap_or_else(|| panic!("{k}: {out}"));
                    yaml_value(&out[i + k.len() + 1..], "raw")
                        .unwrap()
                        .to_owned()
                };
                assert_eq!(v("TPM2_PT_PCR_COUNT"), "0x18");
                assert_eq!(v("TPM2_PT_MAX_COMMAND_SIZE"), "0x1000");
                assert_eq!(v("TPM2_PT_MAX_RESPONSE_SIZE"), "0x1000");
                assert_eq!(v("TPM2_PT_FAMILY_INDICATOR"), "0x322E3000");
                assert_eq!(v("TPM2_PT_PCR_SELECT_MIN"), "0x3");
                assert_eq!(v("TPM2_PT_INPUT_BUFFER"), "0x400");
            }
            "properties-variable" => {
                assert!(out.contains("TPM2_PT_STARTUP_CLEAR"), "{out}");
                assert!(out.contains("TPM2_PT_HR_LOADED_AVAIL"), "{out}");
            }
            "algorithms" => {
                for alg in [
                    "rsa:",
                    "sha256:",
                    "aes:",
                    "ecc:",
                    "hmac:",
                    "keyedhash:",
                    "cfb:",
                ] {
                    assert!(out.contains(alg), "{alg} missing: {out}");
                }
            }
            "commands" => {
                for cc in ["TPM2_CC_Startup", "TPM2_CC_GetRandom", "TPM2_CC_PCR_Read"] {
                    assert!(out.contains(cc), "{cc} missing: {out}");
                }
            }
            "pcrs" => assert!(out.contains("sha256"), "{out}"),
            "ecc-curves" => assert!(out.contains("TPM2_ECC_NIST_P256"), "{out}"),
            "handles-pcr" => {
                assert!(out.contains("0x0\n") || out.contains("- 0x0"), "{out}");
                assert!(out.contains("0x17"), "PCR 23: {out}");
            }
            "handles-permanent" => {
                for h in ["0x40000001", "0x4000000B", "0x4000000C"] {
                    assert!(
                        out.to_uppercase().contains(&h.to_uppercase()[2..]),
                        "{h}: {out}"
                    );
                }
            }
            _ => {}
        }
    }
    // An unknown capability is refused by the TPM.
    let err = t.tool_fails(&["tpm2_getcap", "no-such-capability"]);
    assert!(!err.is_empty());
}

/// The part shared by both restart flows: make state, Shutdown(STATE), `restart`, Startup
/// (STATE) keeps it; Shutdown, `restart`, Startup(CLEAR) resets PCRs, keeps persistent objects.
fn restart_flow(t: &mut Tpm, restart: fn(&mut Tpm)) {
    let d = openssl_digest("sha256", b"restart");
    t.tool(&["tpm2_pcrextend", &format!("16:sha256={}", hex(&d))]);
    let d1 = openssl_digest("sha1", b"restart");
    t.tool(&[
        "tpm2_pcrextend",
        &format!("7:sha256={},sha1={}", hex(&d), hex(&d1)),
    ]);
    let pcr16 = t.pcr("sha256", 16);
    let pcr7 = t.pcr("sha256", 7);
    let pcr7_sha1 = t.pcr("sha1", 7);
    assert_ne!(
        pcr7_sha1,
        vec![0u8; 20],
        "the sha1 bank of PCR 7 was extended too"
    );
    assert_ne!(pcr16, vec![0u8; 32]);
    t.primary("ecc256", "prim.ctx");
    let key = t.child("prim.ctx", "sig", &["-G", "ecc256"]);
    t.tool_f(&["tpm2_evictcontrol", "-C", "o", "-c", &key, "0x81000002"]);
    let pem = t.p("sig.pem");
    t.tool(&[
        "tpm2_readpublic",
        "-c",
        "0x81000002",
        "-f",
        "pem",
        "-o",
        &pem,
    ]);

    t.tool(&["tpm2_shutdown"]);
    restart(t);
    t.tool(&["tpm2_startup"]);
    // PCRs 0-15 are saved by Shutdown(STATE) and restored; 16 (debug) and 23 are reset on
    // every Startup (PC Client profile: TPM_PT_PCR_SAVE does not include them).
    assert_eq!(t.pcr("sha256", 7), pcr7, "PCR 7 after Startup(STATE)");
    assert_eq!(
        t.pcr("sha1", 7),
        pcr7_sha1,
        "PCR 7 (sha1) after Startup(STATE)"
    );
    assert_eq!(
        t.pcr("sha256", 16),
        vec![0u8; 32],
        "PCR 16 after Startup(STATE)"
    );
    assert_ne!(pcr16, vec![0u8; 32]);
    let handles = t.tool(&["tpm2_getcap", "handles-persistent"]);
    assert!(handles.contains("0x81000002"), "{handles}");
    // The persistent key still signs, verifiably with the public key read before.
    let msg = t.write("msg.txt", b"after the restart");
    let sig = t.p("sig.raw");
    t.tool_f(&[
        "tpm2_sign",
        "-c",
        "0x81000002",
        "-g",
        "sha256",
        "-f",
        "plain",
        "-o",
        &sig,
        &msg,
    ]);
    openssl(
        &t.dir.0,
        &["dgst", "-sha256", "-verify", &pem, "-signature", &sig, &msg],
    );

    // Shutdown(STATE) again but Startup(CLEAR): PCRs reset, persistent objects stay.
    t.tool(&["tpm2_shutdown"]);
    restart(t);
    t.tool(&["tpm2_startup", "-c"]);
    assert_eq!(
        t.pcr("sha256", 16),
        vec![0u8; 32],
        "PCR 16 after Startup(CLEAR)"
    );
    assert_eq!(
        t.pcr("sha256", 7),
        vec![0u8; 32],
        "PCR 7 after Startup(CLEAR)"
    );
    let handles = t.tool(&["tpm2_getcap", "handles-persistent"]);
    assert!(handles.contains("0x81000002"), "{handles}");

    // Startup(STATE) without a preceding Shutdown(STATE) is refused (TPM_RC_VALUE).
    t.tool(&["tpm2_shutdown", "-c"]);
    restart(t);
    let err = t.tool_fails(&["tpm2_startup"]);
    assert!(
        has_rc(&err, 0x1c4),
        "want TPM_RC_VALUE (parameter 1):\n{err}"
    );
    t.tool(&["tpm2_startup", "-c"]);
}

#[test]
fn restart_through_control_channel() {
    let mut t = Tpm::new("restart");
    restart_flow(&mut t, |t| t.server.power_cycle());
}

#[test]
fn restart_state_file_process() {
    require_all();
    let dir = TempDir::new("statefile");
    let state = dir.0.join("tpm.state");
    let launch = match backend() {
        Backend::Ours => state_file_launch(&dir.0),
        Backend::Swtpm => {
            let d = dir.0.join("swtpm-state");
            fs::create_dir_all(&d).unwrap();
            Launch::Swtpm(d)
        }
    };
    let server = Server::start(&launch, None);
    let mut t = Tpm { server, dir };
    t.tool(&["tpm2_startup", "-c"]);
    restart_flow(&mut t, |t| t.server.restart_process());
    if backend() == Backend::Ours {
        assert!(state.exists(), "state file not written");
    }
}

#[test]
fn ecdh_keygen_zgen() {
    let t = Tpm::new("ecdh");
    t.primary("ecc256", "prim.ctx");
    let key = t.child("prim.ctx", "ecdh", &["-G", "ecc256:ecdh"]);
    let (pubf, z1) = (t.p("eph.pub"), t.p("z1.bin"));
    t.tool_f(&["tpm2_ecdhkeygen", "-c", &key, "-u", &pubf, "-o", &z1]);
    let z2 = t.p("z2.bin");
    t.tool_f(&["tpm2_ecdhzgen", "-c", &key, "-u", &pubf, "-o", &z2]);
    let (a, b) = (t.read("z1.bin"), t.read("z2.bin"));
    assert!(!a.is_empty());
    assert_eq!(
        a, b,
        "ECDH_KeyGen's Z and ECDH_ZGen of its ephemeral point agree"
    );
    // A second KeyGen makes another ephemeral key and another Z.
    let z3 = t.p("z3.bin");
    t.tool_f(&[
        "tpm2_ecdhkeygen",
        "-c",
        &key,
        "-u",
        &t.p("eph2.pub"),
        "-o",
        &z3,
    ]);
    assert_ne!(a, t.read("z3.bin"));
}

#[test]
fn changeauth_and_dictionary_attack() {
    let t = Tpm::new("changeauth");
    t.primary("ecc256", "prim.ctx");
    let secret = t.write("secret.txt", b"auth changes");
    let obj = t.child("prim.ctx", "sealed", &["-i", &secret, "-p", "old"]);
    let newpriv = t.p("new.priv");
    t.tool_f(&[
        "tpm2_changeauth",
        "-c",
        &obj,
        "-C",
        &t.p("prim.ctx"),
        "-p",
        "old",
        "-r",
        &newpriv,
        "new",
    ]);
    let newctx = t.p("new.ctx");
    t.tool_f(&[
        "tpm2_load",
        "-C",
        &t.p("prim.ctx"),
        "-u",
        &t.p("sealed.pub"),
        "-r",
        &newpriv,
        "-c",
        &newctx,
    ]);
    assert_eq!(
        t.tool_f(&["tpm2_unseal", "-c", &newctx, "-p", "new"]),
        "auth changes"
    );
    let err = t.tool_fails(&["tpm2_unseal", "-c", &newctx, "-p", "old"]);
    assert!(
        has_rc(&err, 0x98e),
        "want TPM_RC_AUTH_FAIL (session 1):\n{err}"
    );
    t.flush();
    // The failure counted against the dictionary-attack lockout.
    let vars = t.tool(&["tpm2_getcap", "properties-variable"]);
    let counter = |out: &str| {
        let i = out.find("TPM2_PT_LOCKOUT_COUNTER:").expect(out);
        yaml_value(&out[i..], "TPM2_PT_LOCKOUT_COUNTER").map(str::to_owned)
    };
    assert_eq!(counter(&vars).as_deref(), Some("0x1"), "{vars}");
    // DictionaryAttackParameters and DictionaryAttackLockReset through the lockout hierarchy.
    t.tool(&[
        "tpm2_dictionarylockout",
        "-s",
        "-n",
        "7",
        "-t",
        "120",
        "-l",
        "300",
    ]);
    let vars = t.tool(&["tpm2_getcap", "properties-variable"]);
    assert!(vars.contains("TPM2_PT_MAX_AUTH_FAIL: 0x7"), "{vars}");
    assert!(vars.contains("TPM2_PT_LOCKOUT_INTERVAL: 0x78"), "{vars}");
    assert!(vars.contains("TPM2_PT_LOCKOUT_RECOVERY: 0x12C"), "{vars}");
    t.tool(&["tpm2_dictionarylockout", "-c"]);
    let vars = t.tool(&["tpm2_getcap", "properties-variable"]);
    assert_eq!(counter(&vars).as_deref(), Some("0x0"), "{vars}");
}

#[test]
fn policy_pcr_sealed_object() {
    let t = Tpm::new("policy");
    t.primary("ecc256", "prim.ctx");
    // A trial session computes the policy digest of PolicyPCR over PCR 0 (sha256).
    let (s, pol) = (t.p("trial.ctx"), t.p("pcr.policy"));
    t.tool(&["tpm2_startauthsession", "-S", &s]);
    t.tool(&["tpm2_policypcr", "-S", &s, "-l", "sha256:0", "-L", &pol]);
    t.tool(&["tpm2_flushcontext", &s]);
    assert_eq!(t.read("pcr.policy").len(), 32);
    let secret = t.write("secret.txt", b"released by policy");
    let obj = t.child(
        "prim.ctx",
        "sealed",
        &["-i", &secret, "-L", &pol, "-a", "fixedtpm|fixedparent"],
    );
    // A policy session satisfying the policy unseals.
    let ps = t.p("policy.ctx");
    t.tool(&["tpm2_startauthsession", "--policy-session", "-S", &ps]);
    t.tool(&["tpm2_policypcr", "-S", &ps, "-l", "sha256:0"]);
    let out = t.tool_f(&["tpm2_unseal", "-c", &obj, "-p", &format!("session:{ps}")]);
    assert_eq!(out, "released by policy");
    t.tool(&["tpm2_flushcontext", &ps]);
    // After PCR 0 changes, the same policy no longer matches: TPM_RC_POLICY_FAIL.
    let d = openssl_digest("sha256", b"change");
    t.tool(&["tpm2_pcrextend", &format!("0:sha256={}", hex(&d))]);
    t.tool(&["tpm2_startauthsession", "--policy-session", "-S", &ps]);
    t.tool(&["tpm2_policypcr", "-S", &ps, "-l", "sha256:0"]);
    let err = t.tool_fails(&["tpm2_unseal", "-c", &obj, "-p", &format!("session:{ps}")]);
    assert!(
        has_rc(&err, 0x99d),
        "want TPM_RC_POLICY_FAIL (session 1):\n{err}"
    );
    t.flush();
    t.tool(&["tpm2_flushcontext", &ps]);
}

#[test]
fn policy_password_command_code_or() {
    let t = Tpm::new("policies");
    t.primary("ecc256", "prim.ctx");
    // Policy A: PolicyCommandCode(Unseal) then PolicyPassword; policy B: PolicyAuthValue.
    let (trial, pol_a, pol_b, pol_or) = (
        t.p("trial.ctx"),
        t.p("a.policy"),
        t.p("b.policy"),
        t.p("or.policy"),
    );
    t.tool(&["tpm2_startauthsession", "-S", &trial]);
    t.tool(&["tpm2_policycommandcode", "-S", &trial, "TPM2_CC_Unseal"]);
    t.tool(&["tpm2_policypassword", "-S", &trial, "-L", &pol_a]);
    t.tool(&["tpm2_flushcontext", &trial]);
    t.tool(&["tpm2_startauthsession", "-S", &trial]);
    t.tool(&["tpm2_policyauthvalue", "-S", &trial, "-L", &pol_b]);
    t.tool(&["tpm2_flushcontext", &trial]);
    assert_ne!(t.read("a.policy"), t.read("b.policy"));
    // PolicyPassword extends the digest exactly as PolicyAuthValue does (part 3 §23.18).
    let pol_c = t.p("c.policy");
    t.tool(&["tpm2_startauthsession", "-S", &trial]);
    t.tool(&["tpm2_policypassword", "-S", &trial, "-L", &pol_c]);
    t.tool(&["tpm2_flushcontext", &trial]);
    assert_eq!(t.read("c.policy"), t.read("b.policy"));
    t.tool(&["tpm2_startauthsession", "-S", &trial]);
    t.tool(&[
        "tpm2_policyor",
        "-S",
        &trial,
        "-L",
        &pol_or,
        &format!("sha256:{pol_a},{pol_b}"),
    ]);
    t.tool(&["tpm2_flushcontext", &trial]);

    let secret = t.write("secret.txt", b"policy released");
    let obj = t.child(
        "prim.ctx",
        "sealed",
        &[
            "-i",
            &secret,
            "-p",
            "pw",
            "-L",
            &pol_a,
            "-a",
            "fixedtpm|fixedparent",
        ],
    );
    let ps = t.p("policy.ctx");
    let with_pw = format!("session:{ps}+pw");
    // PolicyCommandCode + PolicyPassword, then the password in the clear.
    t.tool(&["tpm2_startauthsession", "--policy-session", "-S", &ps]);
    t.tool(&["tpm2_policycommandcode", "-S", &ps, "TPM2_CC_Unseal"]);
    t.tool(&["tpm2_policypassword", "-S", &ps]);
    assert_eq!(
        t.tool_f(&["tpm2_unseal", "-c", &obj, "-p", &with_pw]),
        "policy released"
    );
    t.tool(&["tpm2_flushcontext", &ps]);
    // The wrong password fails even though the policy digest matches.
    t.tool(&["tpm2_startauthsession", "--policy-session", "-S", &ps]);
    t.tool(&["tpm2_policycommandcode", "-S", &ps, "TPM2_CC_Unseal"]);
    t.tool(&["tpm2_policypassword", "-S", &ps]);
    let err = t.tool_fails(&[
        "tpm2_unseal",
        "-c",
        &obj,
        "-p",
        &format!("session:{ps}+bad"),
    ]);
    assert!(
        has_rc(&err, 0x98e),
        "want TPM_RC_AUTH_FAIL (session 1):\n{err}"
    );
    t.flush();
    t.tool(&["tpm2_flushcontext", &ps]);
    // A policy that does not match the object's: TPM_RC_POLICY_FAIL.
    t.tool(&["tpm2_startauthsession", "--policy-session", "-S", &ps]);
    t.tool(&["tpm2_policyauthvalue", "-S", &ps]);
    let err = t.tool_fails(&["tpm2_unseal", "-c", &obj, "-p", &with_pw]);
    assert!(
        has_rc(&err, 0x99d),
        "want TPM_RC_POLICY_FAIL (session 1):\n{err}"
    );
    t.flush();
    t.tool(&["tpm2_flushcontext", &ps]);

    // An object under the OR of both policies: either branch, then PolicyOR, unseals (the
    // PolicyAuthValue branch with an HMAC computed over the password).
    let obj2 = t.child(
        "prim.ctx",
        "sealed2",
        &[
            "-i",
            &secret,
            "-p",
            "pw",
            "-L",
            &pol_or,
            "-a",
            "fixedtpm|fixedparent",
        ],
    );
    t.tool(&["tpm2_startauthsession", "--policy-session", "-S", &ps]);
    t.tool(&["tpm2_policyauthvalue", "-S", &ps]);
    t.tool(&[
        "tpm2_policyor",
        "-S",
        &ps,
        &format!("sha256:{pol_a},{pol_b}"),
    ]);
    assert_eq!(
        t.tool_f(&["tpm2_unseal", "-c", &obj2, "-p", &with_pw]),
        "policy released"
    );
    t.tool(&["tpm2_flushcontext", &ps]);
    // PolicyOR refuses a digest that is not in the list (TPM_RC_VALUE).
    t.tool(&["tpm2_startauthsession", "--policy-session", "-S", &ps]);
    t.tool(&["tpm2_policycommandcode", "-S", &ps, "TPM2_CC_Sign"]);
    let err = t.tool_fails(&[
        "tpm2_policyor",
        "-S",
        &ps,
        &format!("sha256:{pol_a},{pol_b}"),
    ]);
    assert!(
        has_rc(&err, 0x1c4),
        "want TPM_RC_VALUE (parameter 1):\n{err}"
    );
    t.tool(&["tpm2_flushcontext", &ps]);
}

#[test]
fn nv_define_write_read_undefine() {
    let t = Tpm::new("nv-ordinary");
    let idx = "0x1500016";
    t.tool(&[
        "tpm2_nvdefine",
        "-C",
        "o",
        "-s",
        "2000",
        "-a",
        "ownerread|ownerwrite|authread|authwrite",
        "-p",
        "nvpass",
        idx,
    ]);
    let public = t.tool(&["tpm2_nvreadpublic", idx]);
    assert!(public.contains("size: 2000"), "{public}");
    assert!(!public.contains("written"), "{public}");
    let handles = t.tool(&["tpm2_getcap", "handles-nv-index"]);
    assert!(handles.contains("0x1500016"), "{handles}");
    // 2000 bytes: tpm2_nvwrite and tpm2_nvread split them into TPM2_PT_NV_BUFFER_MAX chunks.
    let data: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 251) as u8).collect();
    let input = t.write("in.bin", &data);
    t.tool(&["tpm2_nvwrite", "-C", idx, "-P", "nvpass", "-i", &input, idx]);
    let public = t.tool(&["tpm2_nvreadpublic", idx]);
    assert!(public.contains("written"), "{public}");
    let out = t.p("out.bin");
    t.tool(&["tpm2_nvread", "-C", "o", "-s", "2000", "-o", &out, idx]);
    assert_eq!(t.read("out.bin"), data);
    t.tool(&[
        "tpm2_nvread",
        "-C",
        idx,
        "-P",
        "nvpass",
        "-s",
        "10",
        "--offset",
        "1500",
        "-o",
        &out,
        idx,
    ]);
    assert_eq!(t.read("out.bin"), &data[1500..1510]);
    let err = t.tool_fails(&["tpm2_nvread", "-C", idx, "-P", "wrong", "-s", "8", idx]);
    assert!(
        has_rc(&err, 0x98e),
        "want TPM_RC_AUTH_FAIL (session 1):\n{err}"
    );
    // tpm2_nvread checks the range itself (from TPM2_NV_ReadPublic) before asking the TPM.
    let err = t.tool_fails(&["tpm2_nvread", "-C", "o", "-s", "8", "--offset", "1996", idx]);
    assert!(err.contains("more bytes than available"), "{err}");
    t.tool(&["tpm2_nvundefine", "-C", "o", idx]);
    let err = t.tool_fails(&["tpm2_nvreadpublic", idx]);
    assert!(has_rc(&err, 0x18b), "want TPM_RC_HANDLE (handle 1):\n{err}");
    let handles = t.tool(&["tpm2_getcap", "handles-nv-index"]);
    assert!(!handles.contains("0x1500016"), "{handles}");
}

#[test]
fn nv_counter_bits_extend() {
    let t = Tpm::new("nv-counter");
    let rw = "ownerread|ownerwrite|authread|authwrite";
    let (counter, bits, extend) = ("0x1500017", "0x1500018", "0x1500019");
    t.tool(&[
        "tpm2_nvdefine",
        "-C",
        "o",
        "-s",
        "8",
        "-a",
        &format!("nt=counter|{rw}"),
        counter,
    ]);
    let value = |t: &Tpm, idx: &str| -> u64 {
        let out = t.p("v.bin");
        t.tool(&["tpm2_nvread", "-C", "o", "-s", "8", "-o", &out, idx]);
        u64::from_be_bytes(t.read("v.bin").try_into().unwrap())
    };
    t.tool(&["tpm2_nvincrement", "-C", "o", counter]);
    let first = value(&t, counter);
    for _ in 0..3 {
        t.tool(&["tpm2_nvincrement", "-C", "o", counter]);
    }
    assert_eq!(value(&t, counter), first + 3);
    let public = t.tool(&["tpm2_nvreadpublic", counter]);
    assert!(
        public.contains("nt=0x1") && public.contains("written"),
        "{public}"
    );
    // A counter cannot be written with TPM2_NV_Write.
    let input = t.write("eight.bin", &[0; 8]);
    let err = t.tool_fails(&["tpm2_nvwrite", "-C", "o", "-i", &input, counter]);
    assert!(has_rc(&err, 0x082), "want TPM_RC_ATTRIBUTES:\n{err}");
    // Bits.
    t.tool(&[
        "tpm2_nvdefine",
        "-C",
        "o",
        "-s",
        "8",
        "-a",
        &format!("nt=bits|{rw}"),
        bits,
    ]);
    t.tool(&["tpm2_nvsetbits", "-C", "o", "-i", "0x5", bits]);
    t.tool(&["tpm2_nvsetbits", "-C", "o", "-i", "0x100", bits]);
    assert_eq!(value(&t, bits), 0x105);
    // Extend (SHA-256): H(zeros || data), then H(previous || data).
    t.tool(&[
        "tpm2_nvdefine",
        "-C",
        "o",
        "-s",
        "32",
        "-g",
        "sha256",
        "-a",
        &format!("nt=extend|{rw}"),
        extend,
    ]);
    let data = t.write("ext.bin", b"measured");
    t.tool(&["tpm2_nvextend", "-C", "o", "-i", &data, extend]);
    let mut expected = openssl_digest("sha256", &[&[0u8; 32][..], b"measured"].concat());
    t.tool(&["tpm2_nvextend", "-C", "o", "-i", &data, extend]);
    expected = openssl_digest("sha256", &[&expected[..], b"measured"].concat());
    let out = t.p("ext.out");
    t.tool(&["tpm2_nvread", "-C", "o", "-s", "32", "-o", &out, extend]);
    assert_eq!(t.read("ext.out"), expected);
    for idx in [counter, bits, extend] {
        t.tool(&["tpm2_nvundefine", "-C", "o", idx]);
    }
}

/// `tpm2_quote` with the AK `ak` (a context file), then `tpm2_checkquote` with its public key
/// `pem`: the quote is accepted with the right nonce and PCR values, refused with another
/// nonce or a changed PCR value; a PCR changed after the quote makes a new quote differ.
fn quote_and_check(t: &Tpm, ak: &str, pem: &str, hash: &str) {
    let (msg, sig, pcrs) = (t.p("quote.msg"), t.p("quote.sig"), t.p("quote.pcrs"));
    let list = "sha256:0,1,16+sha1:16";
    let started = Instant::now();
    t.tool_f(&[
        "tpm2_quote",
        "-c",
        ak,
        "-l",
        list,
        "-q",
        "0badc0ffee",
        "-m",
        &msg,
        "-s",
        &sig,
        "-o",
        &pcrs,
        "-g",
        hash,
    ]);
    eprintln!("tpm2_quote ({hash}): {:?}", started.elapsed());
    let check = |nonce: &str, pcr_file: &str| {
        t.output(&[
            "tpm2_checkquote",
            "-u",
            pem,
            "-m",
            &msg,
            "-s",
            &sig,
            "-f",
            pcr_file,
            "-g",
            hash,
            "-q",
            nonce,
        ])
    };
    let ok = check("0badc0ffee", &pcrs);
    assert!(
        ok.status.success(),
        "tpm2_checkquote refused the quote: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("pcrs:"), "checkquote prints the PCRs: {out}");
    assert!(
        !check("0badc0fff0", &pcrs).status.success(),
        "tpm2_checkquote accepted a wrong nonce"
    );
    // Change one byte of PCR 16's SHA-256 value in the (tool-specific) PCR file.
    let value = t.pcr("sha256", 16);
    let mut bad = t.read("quote.pcrs");
    let at = bad
        .windows(value.len())
        .position(|w| w == value.as_slice())
        .expect("PCR 16 in the PCR file");
    bad[at] ^= 1;
    let bad_pcrs = t.write("bad.pcrs", &bad);
    assert!(
        !check("0badc0ffee", &bad_pcrs).status.success(),
        "tpm2_checkquote accepted changed PCR values"
    );
    // The message really is a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE with our nonce.
    let m = t.read("quote.msg");
    assert_eq!(&m[..6], &[0xff, b'T', b'C', b'G', 0x80, 0x18]);
    assert!(hex(&m).contains("00050badc0ffee"));
}

#[test]
fn quote_and_checkquote() {
    let t = Tpm::new("quote");
    // A restricted ECDSA signing primary in the endorsement hierarchy.
    let (ak, pem) = (t.p("ak.ctx"), t.p("ak.pem"));
    t.tool_f(&[
        "tpm2_createprimary",
        "-C",
        "e",
        "-G",
        "ecc256:ecdsa-sha256:null",
        "-a",
        "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign",
        "-c",
        &ak,
    ]);
    t.tool_f(&["tpm2_readpublic", "-c", &ak, "-f", "pem", "-o", &pem]);
    t.tool_f(&[
        "tpm2_pcrextend",
        "16:sha256=0101010101010101010101010101010101010101010101010101010101010101",
    ]);
    quote_and_check(&t, &ak, &pem, "sha256");
    t.flush();

    // The tpm2-tools attestation key: an RSA EK and an RSASSA AK under it (tpm2_createak
    // loads it with a PolicySecret session on the endorsement hierarchy).
    let (ek, ak2, ak2_pub, ak2_name) = (
        t.p("ek.ctx"),
        t.p("ak2.ctx"),
        t.p("ak2.pem"),
        t.p("ak2.name"),
    );
    t.tool_f(&[
        "tpm2_createek",
        "-c",
        &ek,
        "-G",
        "rsa",
        "-u",
        &t.p("ek.pub"),
    ]);
    t.tool_f(&[
        "tpm2_createak",
        "-C",
        &ek,
        "-c",
        &ak2,
        "-G",
        "rsa",
        "-g",
        "sha256",
        "-s",
        "rsassa",
        "-u",
        &ak2_pub,
        "-f",
        "pem",
        "-n",
        &ak2_name,
    ]);
    quote_and_check(&t, &ak2, &ak2_pub, "sha256");
}

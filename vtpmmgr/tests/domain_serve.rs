//! End to end: `vtpmmgr serve` on a swtpm as the hardware TPM, `vtpm-domain serve --manager
//! unix:… --uuid … --image …` as a vTPM whose key the manager keeps, and the real tpm2-tools
//! (tpm2-tss's `swtpm` TCTI) as the guest: a PCR extended, a primary key made persistent, the
//! domain process stopped and started again, the key still there; then a replaced image refused
//! with a clear error, and accepted with `--reset-image`.
//!
//! The `vtpm-domain` binary is built by this test (`cargo build -p vtpm-domain --bin
//! vtpm-domain`, same profile and target directory). swtpm and tpm2-tools must be installed:
//! a missing program fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{HwTpm, temp_dir};

/// A child process whose stderr is forwarded and watched.
struct Proc {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{name}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { name, child, lines }
    }

    /// Waits for a line containing `what`; on exit or timeout returns everything seen.
    fn wait_for(&mut self, what: &str) -> Result<String, String> {
        let mut seen = String::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.contains(what) => return Ok(line),
                Ok(line) => seen.push_str(&(line + "\n")),
                Err(_) => {
                    let status = self.child.wait().unwrap();
                    return Err(format!("{} ended ({status}):\n{seen}", self.name));
                }
            }
        }
    }

    /// SIGTERM, then the exit status must be success.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{} exit status {status}", self.name);
    }
}

impl Drop for Proc {
    /// A test that fails midway must not leave its servers running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn require(program: &str) {
    let ok = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{program}` is required by this test but is not installed (Debian package tpm2-tools; \
         or run `cargo xtask deps`)"
    );
}

/// Builds the `vtpm-domain` binary next to this test's target directory and returns its path.
fn vtpm_domain_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "vtpm-domain", "--bin", "vtpm-domain"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let t = Instant::now();
    let status = cmd.status().expect("run cargo");
    assert!(status.success(), "building vtpm-domain failed");
    eprintln!("built vtpm-domain in {:?}", t.elapsed());
    // target/<profile>/deps/<this test> → target/<profile>/vtpm-domain
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("vtpm-domain");
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}

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

fn vtpmctl(admin: &Path, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    vtpm_tools::mgr::run(admin, false, &args).unwrap_or_else(|e| panic!("vtpmctl {args:?}: {e}"))
}

/// Runs a tpm2-tools program against the domain on `port`; panics with its output on failure.
fn tool(port: u16, dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env(
            "TPM2TOOLS_TCTI",
            format!("swtpm:host=127.0.0.1,port={port}"),
        )
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Domain {
    bin: PathBuf,
    socket: PathBuf,
    uuid: String,
}

impl Domain {
    fn command(&self, port: u16, image: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "--swtpm-tcp", &format!("127.0.0.1:{port}")])
            .arg("--manager")
            .arg(format!("unix:{}", self.socket.display()))
            .args(["--uuid", &self.uuid, "--image"])
            .arg(image)
            .arg("--startup-clear")
            .args(extra);
        cmd
    }

    fn serve(&self, port: u16, image: &Path, extra: &[&str]) -> Result<Proc, String> {
        let mut p = Proc::spawn("vtpm-domain", &mut self.command(port, image, extra));
        p.wait_for("listening on")?;
        Ok(p)
    }
}

#[test]
fn tpm2_tools_on_a_manager_backed_domain() {
    require("tpm2_pcrextend");
    let bin = vtpm_domain_binary();
    let tpm = HwTpm::new("domain-serve");
    let dir = temp_dir("domain-serve");
    let (domains, admin) = (dir.join("domains.sock"), dir.join("admin.sock"));
    let hw_port = tpm.swtpm.as_ref().unwrap().data_port();
    let mut mgr = Proc::spawn(
        "vtpmmgr",
        Command::new(env!("CARGO_BIN_EXE_vtpmmgr"))
            .args(["serve", "--tpm", &format!("swtpm:127.0.0.1:{hw_port}")])
            .arg("--disk")
            .arg(dir.join("mgr.img"))
            .arg("--listen")
            .arg(format!("unix:{}", domains.display()))
            .arg("--admin")
            .arg(format!("unix:{}", admin.display())),
    );
    mgr.wait_for("listening on").unwrap();

    // Register the vTPM, authorising the vtpm-domain executable as its "kernel".
    let uuid = "0b5e6a3c-2f41-4d8e-9c7a-5e1d2c3b4a59";
    vtpmctl(&admin, &["group", "new"]);
    vtpmctl(
        &admin,
        &[
            "group",
            "update",
            "0",
            "--seq",
            "1",
            "--kernel-file",
            bin.to_str().unwrap(),
        ],
    );
    vtpmctl(&admin, &["vtpm", "new", "0", uuid]);
    let domain = Domain {
        bin,
        socket: domains.clone(),
        uuid: uuid.into(),
    };
    let image = dir.join("vtpm.img");

    // First boot.
    let port = free_port_pair();
    let mut d = domain.serve(port, &image, &[]).unwrap();
    let _ = &mut d;
    let t = Instant::now();
    tool(
        port,
        &dir,
        "tpm2_pcrextend",
        &["16:sha256=0000000000000000000000000000000000000000000000000000000000000001"],
    );
    let pcr = tool(port, &dir, "tpm2_pcrread", &["sha256:16"]);
    assert!(
        !pcr.contains("0x0000000000000000000000000000000000000000000000000000000000000000"),
        "{pcr}"
    );
    tool(
        port,
        &dir,
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "primary.ctx"],
    );
    tool(
        port,
        &dir,
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "primary.ctx", "0x81000001"],
    );
    tool(port, &dir, "tpm2_flushcontext", &["-t"]);
    eprintln!(
        "tpm2-tools flow on the manager-backed domain: {:?}",
        t.elapsed()
    );
    let before = tool(port, &dir, "tpm2_readpublic", &["-c", "0x81000001"]);
    d.stop();
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 2 * 1024 * 1024);

    // A new process: the key is found through the manager's record.
    let port = free_port_pair();
    let d = domain.serve(port, &image, &[]).unwrap();
    let handles = tool(port, &dir, "tpm2_getcap", &["handles-persistent"]);
    assert!(handles.contains("0x81000001"), "{handles}");
    let after = tool(port, &dir, "tpm2_readpublic", &["-c", "0x81000001"]);
    assert_eq!(before, after, "the same key");
    d.stop();

    // The image replaced by another: refused with the cause; --reset-image starts afresh.
    let other = dir.join("other.img");
    let out = domain
        .command(free_port_pair(), &other, &[])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("replaced, corrupted or rolled back"), "{err}");
    assert!(err.contains("--reset-image"), "{err}");
    let port = free_port_pair();
    let mut d = domain.serve(port, &other, &["--reset-image"]).unwrap();
    let _ = &mut d;
    let handles = tool(port, &dir, "tpm2_getcap", &["handles-persistent"]);
    assert!(!handles.contains("0x81000001"), "a new TPM: {handles}");
    d.stop();
    // The old image is now the stale one.
    let out = domain
        .command(free_port_pair(), &image, &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    mgr.stop();
    drop(tpm);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs a tpm2-tools program and returns whether it succeeded (for steps that must fail).
fn tool_ok(port: u16, dir: &Path, program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env(
            "TPM2TOOLS_TCTI",
            format!("swtpm:host=127.0.0.1,port={port}"),
        )
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
        .status
        .success()
}

/// Runs openssl; panics with its output on failure.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): install Debian's openssl"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keys and sealed objects made before a domain restart (its state sealed on the image, its key
/// with the manager) load, sign and unseal after it; the PCR-sealed secret only with the right
/// PCR value. The domain runs with `--ek-ca`: its EK certificates chain to the host's vTPM CA,
/// carry the EKs `tpm2_createek` makes, and survive the restart unchanged.
#[test]
fn keys_sealed_secrets_and_ek_certificates_survive_a_restart() {
    require("tpm2_unseal");
    let bin = vtpm_domain_binary();
    let tpm = HwTpm::new("domain-restart");
    let dir = temp_dir("domain-restart");
    let (domains, admin) = (dir.join("domains.sock"), dir.join("admin.sock"));
    let hw_port = tpm.swtpm.as_ref().unwrap().data_port();
    let mut mgr = Proc::spawn(
        "vtpmmgr",
        Command::new(env!("CARGO_BIN_EXE_vtpmmgr"))
            .args(["serve", "--tpm", &format!("swtpm:127.0.0.1:{hw_port}")])
            .arg("--disk")
            .arg(dir.join("mgr.img"))
            .arg("--listen")
            .arg(format!("unix:{}", domains.display()))
            .arg("--admin")
            .arg(format!("unix:{}", admin.display())),
    );
    mgr.wait_for("listening on").unwrap();
    let uuid = "5d1c0f2e-7a34-4b9e-8c61-2f0a9e3d7b15";
    vtpmctl(&admin, &["group", "new"]);
    vtpmctl(
        &admin,
        &[
            "group",
            "update",
            "0",
            "--seq",
            "1",
            "--kernel-file",
            bin.to_str().unwrap(),
        ],
    );
    vtpmctl(&admin, &["vtpm", "new", "0", uuid]);
    let domain = Domain {
        bin: bin.clone(),
        socket: domains,
        uuid: uuid.into(),
    };
    let image = dir.join("vtpm.img");
    let ca = dir.join("ek-ca");
    let ca_flag = ["--ek-ca", ca.to_str().unwrap()];

    // The host exports its CA certificate.
    let out = Command::new(&bin)
        .args(["ek-cert", "--ca-dir"])
        .arg(&ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("ca.pem"), &out.stdout).unwrap();

    let port = free_port_pair();
    let d = domain.serve(port, &image, &ca_flag).unwrap();
    let t = |program: &str, args: &[&str]| tool(port, &dir, program, args);
    t("tpm2_createprimary", &["-C", "o", "-c", "prim.ctx"]);
    t(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "prim.ctx", "0x81000002"],
    );
    t("tpm2_flushcontext", &["-t"]);
    t(
        "tpm2_create",
        &[
            "-C",
            "0x81000002",
            "-G",
            "rsa2048",
            "-u",
            "sign.pub",
            "-r",
            "sign.priv",
        ],
    );
    let pcr_value = "16:sha256=00000000000000000000000000000000000000000000000000000000000000aa";
    t("tpm2_pcrextend", &[pcr_value]);
    t(
        "tpm2_createpolicy",
        &["--policy-pcr", "-l", "sha256:16", "-L", "pcr.policy"],
    );
    std::fs::write(dir.join("secret.txt"), b"the disk key\n").unwrap();
    t(
        "tpm2_create",
        &[
            "-C",
            "0x81000002",
            "-i",
            "secret.txt",
            "-L",
            "pcr.policy",
            "-u",
            "seal.pub",
            "-r",
            "seal.priv",
        ],
    );
    t("tpm2_flushcontext", &["-t"]);
    t("tpm2_flushcontext", &["-l"]);
    t("tpm2_flushcontext", &["-s"]);
    let ek_before = t(
        "tpm2_createek",
        &["-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub", "-f", "pem"],
    );
    t("tpm2_flushcontext", &["-t"]);
    t("tpm2_nvread", &["0x01c00002", "-o", "ek-rsa.der"]);
    t("tpm2_nvread", &["0x01c0000a", "-o", "ek-ecc.der"]);
    d.stop();

    // A new process: the state comes back from the image.
    let port = free_port_pair();
    let d = domain.serve(port, &image, &ca_flag).unwrap();
    let t = |program: &str, args: &[&str]| tool(port, &dir, program, args);
    t(
        "tpm2_load",
        &[
            "-C",
            "0x81000002",
            "-u",
            "sign.pub",
            "-r",
            "sign.priv",
            "-c",
            "sign.ctx",
        ],
    );
    std::fs::write(dir.join("msg"), b"measured boot log").unwrap();
    t(
        "tpm2_sign",
        &["-c", "sign.ctx", "-g", "sha256", "-o", "msg.sig", "msg"],
    );
    t(
        "tpm2_verifysignature",
        &[
            "-c", "sign.ctx", "-g", "sha256", "-m", "msg", "-s", "msg.sig",
        ],
    );
    t("tpm2_flushcontext", &["-t"]);
    t(
        "tpm2_load",
        &[
            "-C",
            "0x81000002",
            "-u",
            "seal.pub",
            "-r",
            "seal.priv",
            "-c",
            "seal.ctx",
        ],
    );
    // PCR 16 was reset by the restart: the wrong value first.
    assert!(
        !tool_ok(
            port,
            &dir,
            "tpm2_unseal",
            &["-c", "seal.ctx", "-p", "pcr:sha256:16"]
        ),
        "unsealed with PCR 16 at its reset value"
    );
    t("tpm2_flushcontext", &["-l"]);
    t("tpm2_flushcontext", &["-s"]);
    t("tpm2_pcrextend", &[pcr_value]);
    let secret = t("tpm2_unseal", &["-c", "seal.ctx", "-p", "pcr:sha256:16"]);
    assert_eq!(secret, "the disk key\n");
    t("tpm2_pcrextend", &[pcr_value]);
    assert!(
        !tool_ok(
            port,
            &dir,
            "tpm2_unseal",
            &["-c", "seal.ctx", "-p", "pcr:sha256:16"]
        ),
        "unsealed with PCR 16 extended once more"
    );
    t("tpm2_flushcontext", &["-t"]);
    t("tpm2_flushcontext", &["-l"]);
    t("tpm2_flushcontext", &["-s"]);
    let ek_after = t(
        "tpm2_createek",
        &["-c", "ek2.ctx", "-G", "rsa", "-u", "ek2.pub", "-f", "pem"],
    );
    assert_eq!(ek_before, ek_after);
    t("tpm2_flushcontext", &["-t"]);
    t(
        "tpm2_createek",
        &[
            "-c",
            "ek3.ctx",
            "-G",
            "ecc",
            "-u",
            "ek-ecc.pub",
            "-f",
            "pem",
        ],
    );
    t("tpm2_flushcontext", &["-t"]);
    // The certificates were written once, before the restart, and are still there.
    t("tpm2_nvread", &["0x01c00002", "-o", "ek-rsa-2.der"]);
    assert_eq!(
        std::fs::read(dir.join("ek-rsa.der")).unwrap(),
        std::fs::read(dir.join("ek-rsa-2.der")).unwrap()
    );
    d.stop();
    mgr.stop();

    for (der, public) in [("ek-rsa.der", "ek.pub"), ("ek-ecc.der", "ek-ecc.pub")] {
        let pem = der.replace(".der", ".pem");
        openssl(&dir, &["x509", "-inform", "der", "-in", der, "-out", &pem]);
        let verified = openssl(&dir, &["verify", "-CAfile", "ca.pem", &pem]);
        assert!(verified.contains(": OK"), "{verified}");
        let key = openssl(&dir, &["x509", "-in", &pem, "-noout", "-pubkey"]);
        let want = std::fs::read_to_string(dir.join(public)).unwrap();
        assert_eq!(key, want, "{der} certifies the EK tpm2_createek makes");
    }
    drop(tpm);
    std::fs::remove_dir_all(dir).unwrap();
}

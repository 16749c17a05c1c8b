//! `cargo xtask upstream-tools-tests DIR [TEST...]`: the tpm2-tools integration tests
//! (`DIR/test/integration/tests/*.sh`, run with their own `helpers.sh`) against swtpm and
//! against `vtpm-domain serve`, each test on a fresh TPM of each kind, both through
//! `TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=P` and no resource manager.
//!
//! `--abrmd` runs the same tests through tpm2-abrmd (a resource manager, on a private D-Bus
//! session bus per test), as tpm2-tools' own CI does; most tests need one.
//!
//! DIR is a checkout of tpm2-software/tpm2-tools at the tag matching the installed tools (5.4
//! on Debian bookworm); it stays outside this repository and nothing of it is copied here.
//! The result is the share of the tests that pass on swtpm which also pass on the vTPM; below
//! 95 % the command fails. Every test's output is kept under `target/upstream-tools-tests/`
//! (`swtpm/NAME.log`, `vtpm/NAME.log`, `vtpm/NAME.server.log`) and the summary in
//! `summary.txt` there, with the first error line of each failure.

use std::fs;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Result, cargo, free_port_pair, root, run};

/// The share of swtpm's passing tests the vTPM must pass.
const REQUIRED_PERCENT: usize = 95;
/// Seconds one test may take before it is killed (`timeout`).
const TEST_TIMEOUT_S: u32 = 300;

/// What one test did on one TPM.
#[derive(Clone)]
struct Outcome {
    /// The script's exit status (77: skipped; None: killed or not started).
    code: Option<i32>,
    seconds: f64,
    /// The first line of the log that says what went wrong.
    reason: String,
}

impl Outcome {
    fn passed(&self) -> bool {
        self.code == Some(0)
    }

    fn label(&self) -> String {
        match self.code {
            Some(0) => "pass".into(),
            Some(77) => "skip".into(),
            Some(c) => format!("FAIL({c})"),
            None => "FAIL(killed)".into(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Swtpm,
    Vtpm,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Swtpm => "swtpm",
            Kind::Vtpm => "vtpm",
        }
    }
}

pub(crate) fn main(args: &[String]) -> Result {
    let abrmd = args.iter().any(|a| a == "--abrmd");
    let args: Vec<String> = args.iter().filter(|a| *a != "--abrmd").cloned().collect();
    let Some((dir, only)) = args.split_first() else {
        return Err(
            "usage: cargo xtask upstream-tools-tests [--abrmd] TPM2_TOOLS_SOURCE_DIR [TEST...]\n  \
                    (a checkout of github.com/tpm2-software/tpm2-tools at tag 5.4, outside \
                    this repository)"
                .into(),
        );
    };
    let src = fs::canonicalize(dir).map_err(|e| format!("{dir}: {e}"))?;
    let tests_dir = src.join("test/integration/tests");
    if !src.join("test/integration/helpers.sh").is_file() || !tests_dir.is_dir() {
        return Err(format!(
            "{}: not a tpm2-tools source tree (no test/integration/helpers.sh)",
            src.display()
        ));
    }
    let mut tests: Vec<String> = fs::read_dir(&tests_dir)
        .map_err(|e| format!("{}: {e}", tests_dir.display()))?
        .filter_map(std::result::Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".sh"))
                .map(str::to_owned)
        })
        .filter(|n| only.is_empty() || only.iter().any(|o| o == n))
        .collect();
    tests.sort();
    if tests.is_empty() {
        return Err("no test selected".into());
    }
    let mut needed = vec!["tpm2", "swtpm", "python3", "bash", "timeout"];
    if abrmd {
        needed.extend(["tpm2-abrmd", "dbus-run-session", "dbus-send"]);
    }
    for program in needed {
        if !crate::have(program) {
            let hint = if abrmd {
                "cargo xtask deps installs swtpm and tpm2-tools; --abrmd also needs the Debian \
                 packages tpm2-abrmd and libtss2-tcti-tabrmd0"
            } else {
                "cargo xtask deps installs the Debian packages"
            };
            return Err(format!("{program} is not installed ({hint})"));
        }
    }
    if abrmd && !crate::output(Command::new("ldconfig").arg("-p")).contains("libtss2-tcti-tabrmd") {
        return Err(
            "the tabrmd TCTI is not installed (Debian package libtss2-tcti-tabrmd0)".into(),
        );
    }
    let version = crate::output(Command::new("tpm2").arg("--version"));
    eprintln!("xtask: installed tools: {}", version.trim());
    run(
        "cargo build vtpm-domain",
        cargo().args(["build", "--release", "-p", "vtpm-domain"]),
    )?;
    let vtpm = root().join("target/release/vtpm-domain");
    let out = root().join("target/upstream-tools-tests");
    let _ = fs::remove_dir_all(&out);
    for kind in [Kind::Swtpm, Kind::Vtpm] {
        fs::create_dir_all(out.join(kind.name())).map_err(|e| e.to_string())?;
    }

    let started = Instant::now();
    let mut results = Vec::new();
    for (i, test) in tests.iter().enumerate() {
        // The two TPMs run the same test side by side.
        let (src_a, out_a) = (src.clone(), out.clone());
        let name = test.clone();
        let swtpm = thread::spawn(move || one(Kind::Swtpm, &src_a, &out_a, &name, None, abrmd));
        let on_vtpm = one(Kind::Vtpm, &src, &out, test, Some(&vtpm), abrmd);
        let on_swtpm = swtpm
            .join()
            .map_err(|_| "the swtpm runner thread panicked".to_owned())?;
        eprintln!(
            "xtask: [{:>2}/{}] {test:<34} swtpm {:<12} vtpm {:<12} ({:.1} s)",
            i + 1,
            tests.len(),
            on_swtpm.label(),
            on_vtpm.label(),
            on_vtpm.seconds.max(on_swtpm.seconds)
        );
        results.push((test.clone(), on_swtpm, on_vtpm));
    }
    report(&out, &version, &results, started.elapsed().as_secs_f64())
}

/// Writes and prints the summary; fails below [`REQUIRED_PERCENT`].
fn report(out: &Path, version: &str, results: &[(String, Outcome, Outcome)], secs: f64) -> Result {
    let baseline: Vec<_> = results.iter().filter(|(_, s, _)| s.passed()).collect();
    let kept = baseline.iter().filter(|(_, _, v)| v.passed()).count();
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str(&s);
        text.push('\n');
    };
    line(format!("tpm2-tools integration tests ({})", version.trim()));
    line(format!(
        "{} tests; {} pass on swtpm; {} of those pass on vtpm-domain ({}%); {:.0} s",
        results.len(),
        baseline.len(),
        kept,
        percent(kept, baseline.len()),
        secs
    ));
    line(String::new());
    line("Pass on swtpm, fail on vtpm-domain:".into());
    for (name, _, v) in baseline.iter().filter(|(_, _, v)| !v.passed()) {
        line(format!("  {name}: {} {}", v.label(), v.reason));
    }
    line("Fail on swtpm, pass on vtpm-domain:".into());
    for (name, s, _) in results.iter().filter(|(_, s, v)| !s.passed() && v.passed()) {
        line(format!("  {name} (swtpm: {} {})", s.label(), s.reason));
    }
    line("Fail on both:".into());
    for (name, s, v) in results
        .iter()
        .filter(|(_, s, v)| !s.passed() && !v.passed())
    {
        line(format!(
            "  {name}: swtpm {} {} | vtpm {} {}",
            s.label(),
            s.reason,
            v.label(),
            v.reason
        ));
    }
    let summary = out.join("summary.txt");
    fs::write(&summary, &text).map_err(|e| format!("{}: {e}", summary.display()))?;
    print!("{text}");
    eprintln!("xtask: summary and logs in {}", out.display());
    if kept * 100 >= baseline.len() * REQUIRED_PERCENT {
        Ok(())
    } else {
        Err(format!(
            "vtpm-domain passes {kept} of the {} tests swtpm passes (< {REQUIRED_PERCENT}%)",
            baseline.len()
        ))
    }
}

fn percent(n: usize, of: usize) -> String {
    // Tenths of a percent, in integers.
    match (n * 1000).checked_div(of) {
        Some(tenths) => format!("{}.{}", tenths / 10, tenths % 10),
        None => "-".into(),
    }
}

/// Runs `test` on a fresh TPM of `kind`.
fn one(
    kind: Kind,
    src: &Path,
    out: &Path,
    test: &str,
    vtpm: Option<&PathBuf>,
    abrmd: bool,
) -> Outcome {
    let t0 = Instant::now();
    let dir = out.join(kind.name());
    let log_path = dir.join(format!("{test}.log"));
    let failed = |reason: String| Outcome {
        code: None,
        seconds: t0.elapsed().as_secs_f64(),
        reason,
    };
    let state = dir.join(format!("{test}.state"));
    if let Err(e) = fs::create_dir_all(&state) {
        return failed(format!("state dir: {e}"));
    }
    let port = match free_port_pair() {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let server = match start_server(kind, port, &state, &dir, test, vtpm) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let mut server = Server(server);
    if let Err(e) = wait_for_port(port) {
        return failed(e);
    }
    let log = match fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => return failed(format!("{}: {e}", log_path.display())),
    };
    let err = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return failed(e.to_string()),
    };
    let integration = src.join("test/integration");
    let path = format!(
        "{}:{}",
        integration.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = src.join(format!("test/integration/tests/{test}.sh"));
    let tcti = if abrmd {
        "tabrmd:bus_type=session".to_owned()
    } else {
        format!("swtpm:host=127.0.0.1,port={port}")
    };
    let mut cmd = Command::new("timeout");
    cmd.arg(TEST_TIMEOUT_S.to_string());
    if abrmd {
        // A private session bus with tpm2-abrmd on it, as upstream's CI runs the suite.
        cmd.args([
            "dbus-run-session",
            "--",
            "bash",
            "-c",
            ABRMD_WRAPPER,
            "wrapper",
        ])
        .arg(format!("swtpm:host=127.0.0.1,port={port}"))
        .arg(&script);
    } else {
        cmd.arg("bash").arg(&script);
    }
    let status = cmd
        // Some tests write into their working folder: each run gets its own (`helpers.sh` is
        // found through PATH).
        .current_dir(&state)
        .env("PATH", path)
        .env("TPM2TOOLS_TEST_TCTI", tcti)
        .env("TPM2_TOOLS_TEST_FIXTURES", integration.join("fixtures"))
        .env("abs_srcdir", src)
        .env("abs_builddir", src)
        .env("srcdir", src)
        .env("PYTHON", "python3")
        .env("TPM2TOOLS_TEST_PERSISTENT", "true")
        .env("TMPDIR", &state)
        .env_remove("TPM2_SIM")
        .env_remove("TPM2_ABRMD")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .status();
    server.stop();
    let _ = fs::remove_dir_all(&state);
    let code = match status {
        Ok(s) => s.code().filter(|&c| c != 124),
        Err(e) => return failed(format!("bash: {e}")),
    };
    let text = fs::read(&log_path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let reason = if code == Some(0) {
        String::new()
    } else if code.is_none() {
        format!("timed out after {TEST_TIMEOUT_S} s")
    } else {
        first_error(&text)
    };
    Outcome {
        code,
        seconds: t0.elapsed().as_secs_f64(),
        reason,
    }
}

/// The line of a failed test's log that names the failure: the TPM error reported just before
/// the failing command (`ERROR: Esys_…(0x…) - …`) and the command (`… on line N failed`),
/// else the first error line. The helper's `realpath` complaint, printed by every test given by
/// an absolute path, and dbus-run-session's file-limit warning are noise.
fn first_error(log: &str) -> String {
    let noise =
        |l: &str| l.contains("realpath") || l.contains("dbus-daemon") || l.contains("WARNING");
    let lines: Vec<&str> = log.lines().collect();
    let failed = lines
        .iter()
        .rposition(|l| l.contains(" on line ") && l.contains("failed") && !noise(l));
    let tpm_error = |upto: usize| {
        lines[..upto]
            .iter()
            .rev()
            .find(|l| l.starts_with("ERROR: Esys_") || l.starts_with("ERROR: Tss2_"))
            .map(|l| l.trim_start_matches("ERROR: "))
    };
    let markers = ["ERROR", "failed", "Error", "error", "FAIL"];
    let s: String = match failed {
        Some(i) => match tpm_error(i) {
            Some(e) => format!("{} | {}", e.trim(), lines[i].trim()),
            None => lines[i].trim().to_string(),
        },
        None => lines
            .iter()
            .find(|l| markers.iter().any(|m| l.contains(m)) && !noise(l))
            .or_else(|| lines.iter().rev().find(|l| !l.trim().is_empty()))
            .map_or_else(String::new, |l| l.trim().to_string()),
    };
    let mut s: String = s.chars().take(220).collect();
    if s.is_empty() {
        s = "(no output)".into();
    }
    s
}

/// Starts tpm2-abrmd on the session bus for the TPM `$1`, waits until it answers on the bus,
/// runs the test `$2` and stops the broker.
const ABRMD_WRAPPER: &str = r#"
tpm2-abrmd --session --allow-root --tcti="$1" 2>>abrmd.log &
broker=$!
for _ in $(seq 100); do
    dbus-send --session --print-reply --dest=com.intel.tss2.Tabrmd /com/intel/tss2/Tabrmd/Tcti \
        org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1 && break
    sleep 0.1
done
bash "$2"
rc=$?
kill $broker 2>/dev/null
wait $broker 2>/dev/null
exit $rc
"#;

/// A TPM server process, killed when dropped.
struct Server(Child);

impl Server {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_server(
    kind: Kind,
    port: u16,
    state: &Path,
    dir: &Path,
    test: &str,
    vtpm: Option<&PathBuf>,
) -> Result<Child> {
    let log_path = dir.join(format!("{test}.server.log"));
    let log = fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = if let (Kind::Vtpm, Some(bin)) = (kind, vtpm) {
        let mut c = Command::new(bin);
        c.args([
            "serve",
            "--swtpm-tcp",
            &format!("127.0.0.1:{port}"),
            "--ephemeral",
        ]);
        c
    } else {
        let mut c = Command::new("swtpm");
        c.args(["socket", "--tpm2", "--flags", "not-need-init"])
            .arg("--server")
            .arg(format!("type=tcp,port={port}"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={}", port + 1))
            .arg("--tpmstate")
            .arg(format!("dir={}", state.display()));
        c
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", kind.name()))
}

/// Waits until the data channel accepts connections.
fn wait_for_port(port: u16) -> Result {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.flush();
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(format!("the TPM did not listen on port {port} within 20 s"))
}

#[cfg(test)]
mod tests {
    use super::first_error;

    #[test]
    fn failure_reason_names_the_tpm_error_and_the_command() {
        let log = "realpath: /x//y.sh: No such file or directory\n\
                   realpath \"$script\" on line 239 failed: 1\n\
                   ERROR: Esys_Commit(0x143) - tpm:error(2.0): command code not supported\n\
                   ERROR: Unable to run commit\n\
                   tpm2 commit -c key.ctx on line 280 failed: 5\n";
        assert_eq!(
            first_error(log),
            "Esys_Commit(0x143) - tpm:error(2.0): command code not supported | \
             tpm2 commit -c key.ctx on line 280 failed: 5"
        );
        assert_eq!(
            first_error("FAIL: no output here\n"),
            "FAIL: no output here"
        );
        assert_eq!(first_error(""), "(no output)");
    }
}

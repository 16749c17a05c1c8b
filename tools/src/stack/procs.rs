//! The stack's child processes: where their binaries are, how they start (own process group,
//! output to a log file in the run directory) and how they stop.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

use super::StackError;

/// Whether this process already brought the binaries up to date.
static BUILT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The binaries the stack starts, found next to the running executable (cargo puts every
/// binary of a profile in one directory).
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `vtpmmgr`.
    pub vtpmmgr: PathBuf,
    /// `vtpm-domain`.
    pub vtpm_domain: PathBuf,
}

impl Binaries {
    /// Finds the binaries. When run by `cargo run` (which sets `CARGO`), first builds them in
    /// the same profile, so the one command on a fresh machine needs nothing else.
    pub fn locate(progress: &dyn Fn(&str)) -> Result<Binaries, StackError> {
        let exe = std::env::current_exe()
            .map_err(|e| StackError::io("find the running executable", &e))?;
        let dir = exe
            .parent()
            .ok_or_else(|| StackError::Setup("the executable has no directory".into()))?
            .to_path_buf();
        // `cargo run` and `cargo test` run binaries from target/<profile>/ (tests from
        // target/<profile>/deps/).
        let in_test = dir.ends_with("deps");
        let profile_dir = if in_test {
            dir.parent().map_or_else(|| dir.clone(), Path::to_path_buf)
        } else {
            dir
        };
        // Inside `cargo test` the build lock is held: the test run builds every workspace
        // binary itself (`cargo test --workspace`), so no nested build.
        if let Some(cargo) = std::env::var_os("CARGO")
            .filter(|_| !in_test && !BUILT.swap(true, std::sync::atomic::Ordering::SeqCst))
        {
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            progress("building vtpmmgr and vtpm-domain");
            let mut c = Command::new(cargo);
            c.args([
                "build",
                "--quiet",
                "-p",
                "vtpmmgr",
                "-p",
                "vtpm-domain",
                "--bins",
            ]);
            if release {
                c.arg("--release");
            }
            let status = c
                .status()
                .map_err(|e| StackError::io("run cargo build", &e))?;
            if !status.success() {
                return Err(StackError::Setup(format!(
                    "cargo build of vtpmmgr and vtpm-domain failed ({status})"
                )));
            }
        }
        let b = Binaries {
            vtpmmgr: profile_dir.join("vtpmmgr"),
            vtpm_domain: profile_dir.join("vtpm-domain"),
        };
        for p in [&b.vtpmmgr, &b.vtpm_domain] {
            if !p.is_file() {
                return Err(StackError::Setup(format!(
                    "{} is missing: build it with `cargo build -p vtpmmgr -p vtpm-domain` \
                     (same profile; `cargo test --workspace` does), or run through `cargo run`",
                    p.display()
                )));
            }
        }
        Ok(b)
    }
}

/// A running child with its log file.
#[derive(Debug)]
pub struct Proc {
    /// A short name for messages.
    pub name: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// Starts `cmd` in its own process group (a terminal's Ctrl-C reaches only the stack,
    /// which then stops everything in order), with `env` added and output to `log`.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        env: &[(&str, &str)],
        log: &Path,
    ) -> Result<Proc, StackError> {
        let out = File::create(log)
            .map_err(|e| StackError::io(&format!("create {}", log.display()), &e))?;
        let err = out
            .try_clone()
            .map_err(|e| StackError::io("duplicate the log file", &e))?;
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| StackError::io(&format!("start {name}"), &e))?;
        Ok(Proc {
            name: name.into(),
            log: log.to_path_buf(),
            child,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs; `Err` carries the exit status and the log's tail when not.
    pub fn check_running(&mut self) -> Result<(), StackError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(StackError::Exited {
                name: self.name.clone(),
                status: status.to_string(),
                log_tail: tail(&self.log),
            }),
            Err(e) => Err(StackError::io(&format!("query {}", self.name), &e)),
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; kills it after that. Returns
    /// whether it exited cleanly (status 0) on its own.
    pub fn wait_or_kill(mut self, timeout: Duration) -> Result<bool, StackError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status.success()),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Ok(false);
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(StackError::io(&format!("wait for {}", self.name), &e)),
            }
        }
    }

    /// Kills the process at once (used when starting failed half-way).
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for Proc {
    /// A child still running when its handle goes (a start that failed half-way, a panic) is
    /// killed, never left behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last 2 KiB of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(2048)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

/// Waits until `ready()` holds, the process exits (an error with its log), or `timeout`.
pub fn wait_ready(
    proc: &mut Proc,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), StackError> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        proc.check_running()?;
        if Instant::now() >= deadline {
            return Err(StackError::Timeout {
                what: format!("{} to become ready", proc.name),
                log_tail: tail(&proc.log),
            });
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Creates `dir` (and parents) if missing.
pub fn ensure_dir(dir: &Path) -> Result<(), StackError> {
    fs::create_dir_all(dir).map_err(|e| StackError::io(&format!("create {}", dir.display()), &e))
}

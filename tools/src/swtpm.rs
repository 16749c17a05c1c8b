//! Private swtpm processes: started on free loopback ports with a fresh state directory, used as
//! the "hardware TPM" of hosted-mode runs and tests, and stopped by PID.

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::Error;
use crate::transport::{MssimTransport, SwtpmControl, SwtpmTransport};

/// How to start swtpm.
#[derive(Debug, Clone, Copy, Default)]
pub struct SwtpmOptions {
    /// Let swtpm send TPM2_Startup(CLEAR) itself, as firmware does on a real machine. Without
    /// it the TPM is powered on and waits for TPM2_Startup.
    pub startup_clear: bool,
}

/// A running swtpm owned by this process. Dropping it stops the process and deletes its state,
/// unless it was started on a caller's state directory ([`Swtpm::spawn_on_state`]).
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    data_port: u16,
    state_dir: PathBuf,
    keep_state: bool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Finds two consecutive free loopback ports (data, control).
pub fn free_port_pair() -> Result<u16, Error> {
    for _ in 0..64 {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("bind 127.0.0.1:0", e))?;
        let port = l
            .local_addr()
            .map_err(|e| Error::io("read local address", e))?
            .port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Swtpm(
        "no two consecutive free loopback ports found".into(),
    ))
}

fn unique_dir() -> Result<PathBuf, Error> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vtpm-swtpm-{}-{n}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    Ok(dir)
}

/// Whether a `swtpm` binary is on `PATH`.
pub fn swtpm_installed() -> bool {
    Command::new("swtpm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Swtpm {
    /// Starts swtpm (TPM 2.0) on a free pair of loopback ports and waits until both channels
    /// accept connections. Fails with a message naming the missing package if swtpm is not
    /// installed.
    pub fn spawn(options: SwtpmOptions) -> Result<Self, Error> {
        Self::spawn_retrying(options, None)
    }

    /// Starts swtpm like [`Swtpm::spawn`], but on the existing state directory `state_dir`
    /// (created if missing), which is kept when the process stops: stopping this swtpm and
    /// starting another on the same directory is a power cycle of the same TPM, with its seeds,
    /// persistent objects and NV indices.
    pub fn spawn_on_state(options: SwtpmOptions, state_dir: &Path) -> Result<Self, Error> {
        fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(format!("create {}", state_dir.display()), e))?;
        Self::spawn_retrying(options, Some(state_dir))
    }

    fn spawn_retrying(options: SwtpmOptions, state_dir: Option<&Path>) -> Result<Self, Error> {
        if !swtpm_installed() {
            return Err(Error::Swtpm(
                "the `swtpm` binary was not found on PATH (install Debian's `swtpm` and \
                 `swtpm-tools` packages, or run `cargo xtask deps`)"
                    .into(),
            ));
        }
        let mut last = String::new();
        // Another process may take a port between our probe and swtpm's bind: retry a few times.
        for _ in 0..5 {
            match Self::try_spawn(options, state_dir) {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::Swtpm(format!("could not start: {last}")))
    }

    fn try_spawn(options: SwtpmOptions, kept_dir: Option<&Path>) -> Result<Self, Error> {
        let port = free_port_pair()?;
        let (state_dir, keep_state) = match kept_dir {
            Some(dir) => (dir.to_path_buf(), true),
            None => (unique_dir()?, false),
        };
        let log = state_dir.join("swtpm.log");
        let stderr =
            File::create(&log).map_err(|e| Error::io(format!("create {}", log.display()), e))?;
        let flags = if options.startup_clear {
            "not-need-init,startup-clear"
        } else {
            "not-need-init"
        };
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
            .arg("--tpmstate")
            .arg(format!("dir={}", state_dir.display()))
            .arg("--flags")
            .arg(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| Error::io("start swtpm", e))?;
        let mut me = Self {
            child,
            data_port: port,
            state_dir,
            keep_state,
        };
        me.wait_ready()?;
        Ok(me)
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| Error::io("wait for swtpm", e))?
            {
                let log = fs::read_to_string(self.state_dir.join("swtpm.log")).unwrap_or_default();
                return Err(Error::Swtpm(format!(
                    "exited at start-up ({status}): {}",
                    log.trim()
                )));
            }
            let ready = [self.data_port, self.data_port + 1].iter().all(|p| {
                TcpStream::connect_timeout(&([127, 0, 0, 1], *p).into(), Duration::from_millis(200))
                    .is_ok()
            });
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Swtpm("did not listen within 10 s".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `127.0.0.1:PORT` of the data channel.
    pub fn data_addr(&self) -> String {
        format!("127.0.0.1:{}", self.data_port)
    }

    /// `127.0.0.1:PORT` of the control channel.
    pub fn ctrl_addr(&self) -> String {
        format!("127.0.0.1:{}", self.data_port + 1)
    }

    /// The data-channel port.
    pub fn data_port(&self) -> u16 {
        self.data_port
    }

    /// The directory holding this swtpm's state files.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// A new connection to the data channel.
    pub fn connect(&self) -> Result<SwtpmTransport, Error> {
        SwtpmTransport::connect(&self.data_addr())
    }

    /// A new connection to the data channel using the mssim command framing, which swtpm also
    /// accepts there.
    pub fn connect_mssim(&self) -> Result<MssimTransport, Error> {
        MssimTransport::connect("127.0.0.1", self.data_port)
    }

    /// A new connection to the control channel.
    pub fn control(&self) -> Result<SwtpmControl, Error> {
        SwtpmControl::connect(&self.ctrl_addr())
    }

    /// Stops swtpm gracefully (CMD_SHUTDOWN) and waits for it to exit; if it has not exited
    /// within 5 s it is killed by PID. Returns whether the exit was graceful.
    pub fn shutdown(mut self) -> Result<bool, Error> {
        let sent = self.control().and_then(|mut c| c.shutdown()).is_ok();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| Error::io("wait for swtpm", e))?
            {
                return Ok(sent && status.success());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        Ok(false)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn kill(&mut self) {
        if self.is_running() {
            // Child::kill sends SIGKILL to this child's PID.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.kill();
        if !self.keep_state {
            let _ = fs::remove_dir_all(&self.state_dir);
        }
    }
}

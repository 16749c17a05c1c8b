//! Shared test rig: a private swtpm as the hardware TPM (kept on a state directory so that it
//! can be power-cycled), a temporary image file, and an in-process manager.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use vtpm_tools::swtpm::{Swtpm, SwtpmOptions, swtpm_installed};
use vtpm_tools::transport::SwtpmTransport;
use vtpmmgr::Uuid;
use vtpmmgr::host::file_device::FileDevice;
use vtpmmgr::manager::{Connection, Manager, ManagerConfig, Peer, StartError, StartReport};
use vtpmmgr::protocol::{Reply, ReplyError, Request};

pub(crate) type Mgr = Manager<SwtpmTransport, FileDevice>;

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh temporary directory.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let n = N.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("vtpmmgr-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) fn require_swtpm() {
    assert!(
        swtpm_installed(),
        "swtpm is not installed: these tests need it as the hardware TPM (Debian package `swtpm`; \
         `cargo xtask deps` installs it)"
    );
}

/// A hardware TPM that survives power cycles: swtpm on a kept state directory.
pub(crate) struct HwTpm {
    pub(crate) state: PathBuf,
    pub(crate) swtpm: Option<Swtpm>,
}

impl HwTpm {
    pub(crate) fn new(tag: &str) -> HwTpm {
        require_swtpm();
        let state = temp_dir(tag);
        let mut t = HwTpm { state, swtpm: None };
        t.power_on();
        t
    }

    /// Starts swtpm on the state directory (firmware sends TPM2_Startup, as on a machine).
    pub(crate) fn power_on(&mut self) {
        assert!(self.swtpm.is_none());
        self.swtpm = Some(
            Swtpm::spawn_on_state(
                SwtpmOptions {
                    startup_clear: true,
                },
                &self.state,
            )
            .expect("start swtpm"),
        );
    }

    /// Stops swtpm (its state stays on disk).
    pub(crate) fn power_off(&mut self) {
        if let Some(s) = self.swtpm.take() {
            s.shutdown().expect("stop swtpm");
        }
    }

    pub(crate) fn connect(&self) -> SwtpmTransport {
        self.swtpm
            .as_ref()
            .expect("powered on")
            .connect()
            .expect("connect to swtpm")
    }
}

impl Drop for HwTpm {
    fn drop(&mut self) {
        self.power_off();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn log(args: std::fmt::Arguments<'_>) {
    eprintln!("vtpmmgr: {args}");
}

/// Starts a manager on `tpm` and the image `disk`.
pub(crate) fn start(tpm: &HwTpm, disk: &Path) -> Result<(Mgr, StartReport), StartError> {
    let (dev, _) = vtpmmgr::host::file_device::open_or_create(disk).expect("image file");
    Manager::start(
        tpm.connect(),
        dev,
        ManagerConfig::default(),
        b"test entropy",
        log,
    )
}

/// Sends a request on `conn` and parses the answer.
pub(crate) fn call(m: &mut Mgr, conn: &mut Connection, req: &Request) -> Result<Reply, ReplyError> {
    let raw = m.handle(conn, &req.encode());
    Reply::parse(req, &raw)
}

pub(crate) fn admin(m: &mut Mgr) -> Connection {
    m.connect(Peer::Admin)
}

pub(crate) fn domain(m: &mut Mgr, uuid: Uuid, kernel_hash: [u8; 32]) -> Connection {
    m.connect(Peer::Domain { uuid, kernel_hash })
}

/// The kernel hash the tests authorise for in-process domains.
pub(crate) const KERNEL: [u8; 32] = [0x4b; 32];

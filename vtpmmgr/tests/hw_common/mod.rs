//! Shared helpers of the `hw_*` tests: a private swtpm as the hardware TPM, raw commands for
//! what the manager never sends (PCR_Extend, HierarchyChangeAuth, NV_UndefineSpace), tpm2-tools
//! runs, scratch directories. Nothing is skipped: a missing swtpm or tpm2-tools panics with the
//! package to install.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::Tpm2bAuth;
use tpm2::transport::Transport;
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::SwtpmTransport;
use vtpmmgr::hw::{HwConfig, HwTpm, TpmInfo};

/// A private swtpm; `startup_clear` makes it start the TPM itself, as firmware does.
pub(crate) fn swtpm(startup_clear: bool) -> Swtpm {
    Swtpm::spawn(SwtpmOptions { startup_clear }).unwrap_or_else(|e| {
        panic!("swtpm is needed as the hardware TPM of these tests (Debian package `swtpm`): {e}")
    })
}

/// A private swtpm on the kept state directory `dir`.
pub(crate) fn swtpm_on(dir: &Path) -> Swtpm {
    Swtpm::spawn_on_state(SwtpmOptions::default(), dir)
        .unwrap_or_else(|e| panic!("swtpm (Debian package `swtpm`) must start: {e}"))
}

/// Connects to `sw` and starts a manager session.
pub(crate) fn start(sw: &Swtpm, config: HwConfig) -> (HwTpm<SwtpmTransport>, TpmInfo) {
    HwTpm::start(sw.connect().unwrap(), config).unwrap_or_else(|e| panic!("HwTpm::start: {e}"))
}

/// A fresh scratch directory under the system temp directory.
pub(crate) fn scratch(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "vtpmmgr-hw-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sends one command; returns the response parameters or the response code.
pub(crate) fn raw<T: Transport>(
    t: &mut T,
    code: TpmCc,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    params: &[u8],
) -> Result<Vec<u8>, TpmRc> {
    let cmd = build_command(code, handles, sessions, params).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = t.transact(&cmd, &mut buf).map_err(|_| TpmRc::FAILURE)?;
    let rsp = Response::parse(&buf[..n], code).unwrap();
    if rsp.code().is_success() {
        Ok(rsp.parameters.to_vec())
    } else {
        Err(rsp.code())
    }
}

/// A password session.
pub(crate) fn pw(auth: &[u8]) -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::new(auth).unwrap())
}

/// TPM2_PCR_Extend of SHA-256 PCR `pcr` with `digest`.
pub(crate) fn extend<T: Transport>(t: &mut T, pcr: u32, digest: [u8; 32]) {
    extend_bank(t, tpm2::alg::TpmAlgId::SHA256, pcr, &digest);
}

/// TPM2_PCR_Extend of PCR `pcr` in `bank` only, with `digest` (of that bank's size).
pub(crate) fn extend_bank<T: Transport>(
    t: &mut T,
    bank: tpm2::alg::TpmAlgId,
    pcr: u32,
    digest: &[u8],
) {
    let mut p = vec![0, 0, 0, 1];
    p.extend_from_slice(&bank.0.to_be_bytes());
    p.extend_from_slice(digest);
    raw(t, TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], &[pw(&[])], &p).unwrap();
}

/// TPM2_HierarchyChangeAuth of `hierarchy` from `old` to `new`.
pub(crate) fn change_auth<T: Transport>(t: &mut T, hierarchy: TpmHandle, old: &[u8], new: &[u8]) {
    let mut p = (u16::try_from(new.len()).unwrap()).to_be_bytes().to_vec();
    p.extend_from_slice(new);
    raw(
        t,
        TpmCc::HIERARCHY_CHANGE_AUTH,
        &[hierarchy],
        &[pw(old)],
        &p,
    )
    .unwrap();
}

/// Panics unless `tool` (from tpm2-tools) runs.
pub(crate) fn require_tool(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{tool}` is needed by this test: install Debian's `tpm2-tools` package"
    );
}

/// Runs a tpm2-tools command; returns (success, stdout + stderr).
pub(crate) fn run(tool: &str, args: &[&str]) -> (bool, String) {
    require_tool(tool);
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The tpm2-tools TCTI string for `sw`.
pub(crate) fn tcti(sw: &Swtpm) -> String {
    format!("swtpm:host=127.0.0.1,port={}", sw.data_port())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A transport that keeps a copy of every command sent through it.
pub(crate) struct Recording<T> {
    pub(crate) inner: T,
    pub(crate) commands: Vec<Vec<u8>>,
}

impl<T: Transport> Transport for Recording<T> {
    type Error = T::Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, T::Error> {
        self.commands.push(command.to_vec());
        self.inner.transact(command, response)
    }
}

impl<T> Recording<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            commands: Vec::new(),
        }
    }

    /// The command codes sent since the last call, as TPM2_... names.
    pub(crate) fn take_codes(&mut self) -> Vec<String> {
        self.commands
            .drain(..)
            .map(|c| {
                let code = u32::from_be_bytes(c[6..10].try_into().unwrap());
                TpmCc(code).to_string()
            })
            .collect()
    }
}

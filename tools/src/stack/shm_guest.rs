//! A guest on a shared-memory link (`docs/shm-link.md`): the unikernel vTPM domain's guest
//! link carries TPM 2.0 commands, and this is the client end, for `vtpm-stack shm-guest` and
//! `cargo xtask run stack`. The guest does what a booted OS does with its TPM: Startup, a
//! measurement into a PCR, a persistent signing key, a signature checked against the key's
//! public area, and Shutdown(STATE) before it goes down.

use std::path::Path;

use sha2::{Digest, Sha256};
use shmlink::{FileWindow, LinkFrontend, StdClock};
use tpm2::Marshal as _;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::st::TpmSu;
use tpm2::transport::Transport;

use super::ops;
use crate::attest::verify_signature;
use crate::error::Error;

/// Where the guest keeps its key.
pub const KEY_HANDLE: TpmHandle = TpmHandle(0x8100_0006);
/// The PCR it measures into (kept across Shutdown/Startup(STATE)).
pub const PCR: u32 = 10;
/// How long the vTPM may take to answer (TCG emulation).
const ANSWER_MS: u64 = 120_000;

/// The vTPM as a [`Transport`] over the guest link.
pub struct ShmTpm {
    front: LinkFrontend<FileWindow, StdClock>,
}

impl ShmTpm {
    /// Opens a session on the link region file at `path`.
    pub fn connect(path: &Path) -> Result<ShmTpm, String> {
        let window = FileWindow::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let front = LinkFrontend::connect(window, StdClock::default(), ANSWER_MS)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(ShmTpm { front })
    }

    /// Ends the session.
    pub fn close(self) {
        self.front.close();
    }
}

impl Transport for ShmTpm {
    type Error = Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
        let answer = self
            .front
            .transmit(0, command, ANSWER_MS)
            .map_err(|(_, e)| Error::Link(e.to_string()))?;
        let dst = response
            .get_mut(..answer.len())
            .ok_or_else(|| Error::Link(format!("a {}-byte answer does not fit", answer.len())))?;
        dst.copy_from_slice(&answer);
        Ok(answer.len())
    }
}

/// What the guest found: the PCR's value and its key's Name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestView {
    /// SHA-256 bank value of [`PCR`].
    pub pcr: Vec<u8>,
    /// The persistent key's Name.
    pub key_name: Vec<u8>,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(op)`
fn op(e: ops::OpError) -> String {
    e.to_string()
}

/// Signs a message with the key and checks the signature with its public area.
fn sign_and_check(tpm: &mut ShmTpm) -> Result<Vec<u8>, String> {
    let (public, name) = ops::read_public(tpm, KEY_HANDLE)
        .map_err(op)?
        .ok_or_else(|| format!("no key at {:#x}", KEY_HANDLE.0))?;
    let message = b"signed by the guest's vTPM key";
    let digest: [u8; 32] = Sha256::digest(message).into();
    let sig = ops::sign(tpm, KEY_HANDLE, &digest).map_err(op)?;
    verify_signature(&public, message, &sig)
        .map_err(|e| format!("the signature does not verify: {e}"))?;
    Ok(name)
}

/// A first boot: Startup(CLEAR), extend [`PCR`], create the key, sign, Shutdown(STATE).
pub fn first_boot(path: &Path, measurement: &[u8]) -> Result<GuestView, String> {
    let mut tpm = ShmTpm::connect(path)?;
    ops::startup_clear(&mut tpm).map_err(op)?;
    let digest: [u8; 32] = Sha256::digest(measurement).into();
    ops::pcr_extend_sha256(&mut tpm, PCR, &digest).map_err(op)?;
    ops::ensure_persistent_key(&mut tpm, KEY_HANDLE, &ops::signing_template(false)).map_err(op)?;
    let key_name = sign_and_check(&mut tpm)?;
    let pcr = ops::pcr_read_sha256(&mut tpm, &[PCR])
        .map_err(op)?
        .pop()
        .ok_or("PCR_Read returned no value")?;
    ops::shutdown_state(&mut tpm).map_err(op)?;
    tpm.close();
    Ok(GuestView { pcr, key_name })
}

/// A resume: Startup(STATE), read [`PCR`], sign with the key, Shutdown(STATE).
pub fn resume(path: &Path) -> Result<GuestView, String> {
    let mut tpm = ShmTpm::connect(path)?;
    ops::exec(&mut tpm, TpmCc::STARTUP, &[], &[], &TpmSu::STATE.to_bytes()).map_err(op)?;
    let pcr = ops::pcr_read_sha256(&mut tpm, &[PCR])
        .map_err(op)?
        .pop()
        .ok_or("PCR_Read returned no value")?;
    let key_name = sign_and_check(&mut tpm)?;
    ops::shutdown_state(&mut tpm).map_err(op)?;
    tpm.close();
    Ok(GuestView { pcr, key_name })
}

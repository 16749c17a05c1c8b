//! A guest's view of its vTPM in hosted mode: a domain of the launcher that connects tpmfront
//! to its vTPM domain's backend, as Linux `xen-tpmfront` does, and speaks TPM 2.0 over it.

use std::fmt;

use tpmfront::{FrontError, Frontend};
use xen::hosted::HostedPlatform;

/// How long a guest waits for its vTPM domain to connect.
const CONNECT_MS: u64 = 60_000;
/// How long one command may take (RSA key generation in a debug build is slow).
const COMMAND_MS: u64 = 120_000;

/// A guest's TPM: commands go over tpmif to its vTPM domain.
pub struct GuestTpm {
    name: String,
    platform: HostedPlatform,
    front: Option<Frontend>,
}

impl fmt::Debug for GuestTpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestTpm")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why a guest command failed.
#[derive(Debug)]
pub struct GuestError(pub String);

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GuestError {}

impl GuestTpm {
    /// Joins the launcher with `credential` and connects device 0.
    pub fn connect(name: &str, credential: &str) -> Result<GuestTpm, GuestError> {
        let mut platform = HostedPlatform::connect(credential)
            .map_err(|e| GuestError(format!("{name}: join the launcher: {e}")))?;
        let front = Frontend::connect(&mut platform, 0, CONNECT_MS)
            .map_err(|e| GuestError(format!("{name}: connect to its vTPM: {e}")))?;
        Ok(GuestTpm {
            name: name.into(),
            platform,
            front: Some(front),
        })
    }

    /// The guest's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends one command at locality 0 and returns the response.
    pub fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, GuestError> {
        let front = self
            .front
            .as_mut()
            .ok_or_else(|| GuestError(format!("{}: disconnected", self.name)))?;
        front
            .transmit(&mut self.platform, 0, command, COMMAND_MS)
            .map_err(|e: FrontError| GuestError(format!("{}: {e}", self.name)))
    }

    /// Disconnects as mini-os does at shutdown (the device returns to Initialising, so the
    /// guest can connect again after a restart).
    pub fn close(mut self) {
        if let Some(front) = self.front.take() {
            front.close(&mut self.platform);
        }
    }
}

impl tpm2::transport::Transport for GuestTpm {
    type Error = crate::Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, crate::Error> {
        let rsp = self
            .transmit(command)
            .map_err(|e| crate::Error::Link(e.0))?;
        let room = response.len();
        let dst = response.get_mut(..rsp.len()).ok_or_else(|| {
            crate::Error::Link(format!(
                "{}: a {}-byte response does not fit in {} bytes",
                self.name,
                rsp.len(),
                room
            ))
        })?;
        dst.copy_from_slice(&rsp);
        Ok(rsp.len())
    }
}

//! The manager-backed TPM for the socket front-ends: a [`Domain`] on an image file, its key
//! kept by `vtpmmgr serve` over the domain socket ([`SocketLink`]). This is how QEMU, libvirt
//! and tpm2-tools get a vTPM whose state is protected by the manager (`docs/vtpm-domain-serve.md`).

use std::path::{Path, PathBuf};

use block::FileDevice;
use vtpmmgr_protocol::Uuid;
use zeroize::Zeroizing;

use super::manager_link::{ShmLink, SocketLink};
use super::server::TpmBackend;
use crate::domain::ManagerLink;
use crate::domain::{Domain, DomainError, DomainOptions, StartReport, TPM_RC_NV_UNAVAILABLE};
use crate::engine::Platform;
use crate::image::ImageError;

/// The image size `serve` creates: 512 sectors of 4 KiB (2 MiB, as Xen's vTPM disks).
pub const IMAGE_SECTORS: u32 = 512;

/// How the domain reaches the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerAddress {
    /// `vtpmmgr serve`'s domain socket, for the vTPM with this UUID (registered with `vtpmctl
    /// vtpm new`).
    Unix {
        /// The socket.
        socket: PathBuf,
        /// The vTPM's UUID.
        uuid: Uuid,
    },
    /// A shared-memory link region of the unikernel manager, which knows the vTPM's UUID from
    /// its own configuration (`docs/shm-link.md`).
    Shm {
        /// The region file.
        region: PathBuf,
    },
}

impl core::fmt::Display for ManagerAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unix { uuid, .. } => write!(f, "vTPM {uuid}"),
            Self::Shm { region } => write!(f, "vTPM of link {}", region.display()),
        }
    }
}

/// Where the manager-backed state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerStorage {
    /// How the manager is reached.
    pub manager: ManagerAddress,
    /// The state image (created blank, 2 MiB, if missing).
    pub image: PathBuf,
    /// Replace a state the manager's record does not open with a new TPM.
    pub reset_image: bool,
}

/// A [`Domain`] behind the front-ends' [`TpmBackend`] seam.
pub struct ManagedTpm {
    domain: Domain<Box<dyn ManagerLink + Send>, FileDevice>,
}

impl core::fmt::Debug for ManagedTpm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ManagedTpm")
            .field("domain", &self.domain)
            .finish()
    }
}

/// Whether `--reset-image` would let a start that failed with `e` go ahead.
fn reset_would_help(e: &DomainError) -> bool {
    matches!(
        e,
        DomainError::ForeignRecord { .. }
            | DomainError::Image(
                ImageError::NoMatchingSlot(_)
                    | ImageError::Unseal { .. }
                    | ImageError::GenerationMismatch { .. }
            )
    )
}

impl ManagedTpm {
    /// Opens (or creates) the image, connects to the manager and starts the domain.
    pub fn start(
        storage: &ManagerStorage,
        platform: Box<dyn Platform>,
    ) -> Result<(ManagedTpm, StartReport), String> {
        let (dev, created) =
            FileDevice::open_or_create(&storage.image, IMAGE_SECTORS).map_err(|e| e.to_string())?;
        if created {
            eprintln!(
                "vtpm-domain: created a blank state image {}",
                storage.image.display()
            );
        }
        let link: Box<dyn ManagerLink + Send> = match &storage.manager {
            ManagerAddress::Unix { socket, uuid } => {
                Box::new(SocketLink::new(socket.clone(), *uuid))
            }
            ManagerAddress::Shm { region } => Box::new(ShmLink::new(region.clone())),
        };
        let opts = DomainOptions {
            reset_image: storage.reset_image,
        };
        match Domain::start(link, dev, platform, opts) {
            Ok((domain, report)) => Ok((ManagedTpm { domain }, report)),
            Err(e) => {
                let hint = if reset_would_help(&e) {
                    "; if the old TPM is to be given up, start once with --reset-image"
                } else {
                    ""
                };
                Err(format!(
                    "{} (image {}): {e}; refusing to start{hint}",
                    storage.manager,
                    display(&storage.image)
                ))
            }
        }
    }

    /// The domain.
    pub fn domain(&self) -> &Domain<Box<dyn ManagerLink + Send>, FileDevice> {
        &self.domain
    }
}

fn display(p: &Path) -> std::path::Display<'_> {
    p.display()
}

impl TpmBackend for ManagedTpm {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        let rsp = self.domain.execute(locality, command);
        if rsp.get(6..10) == Some(&TPM_RC_NV_UNAVAILABLE.to_be_bytes()[..]) {
            if let Some(e) = self.domain.last_error() {
                eprintln!("vtpm-domain: error: the command's changes cannot be saved, undone: {e}");
            }
        }
        rsp
    }

    fn power_on(&mut self) {
        if let Err(e) = self.domain.power_on() {
            eprintln!("vtpm-domain: error: power-on not saved yet (will retry): {e}");
        }
    }

    fn save_state(&self) -> Zeroizing<Vec<u8>> {
        self.domain.engine().save_state()
    }

    fn take_dirty(&mut self) -> bool {
        // Every durable change is saved by the domain before its response leaves.
        false
    }

    fn flush(&mut self) -> Result<(), DomainError> {
        self.domain.flush()
    }
}

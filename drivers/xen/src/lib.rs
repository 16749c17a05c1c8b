//! Xen's public interface as the vTPM stack uses it, in Rust (`no_std` + `alloc`).
//!
//! - [`tpmif`]: the tpmif v2 shared page (one 4 KiB page: an 8-byte header, then one TPM
//!   packet) and the request/response state machine both ends follow (reference
//!   `xen-vtpm.md` §2.1–§2.2; Xen's `xen/include/public/io/tpmif.h`, whose header comment puts
//!   the data at the wrong offset).
//! - [`xenbus`]: device states and the vTPM device's store layout (§2.3).
//! - [`platform`]: the seam the split drivers run on — store, grants, event channels, waiting.
//!
//! The page is reached only through the [`tpmif::SharedPage`] seam: a mapped grant on Xen,
//! shared memory between processes in hosted mode, plain memory in tests.
//!
//! With the `std` feature, implementations of the platform seam for hosts:
//! - [`hv`]: the hypervisor core (store, grants, event channels, domains) one machine shares;
//! - [`sim`]: every domain in one process (threads), for tests;
//! - [`hosted`]: every domain a Linux process, served by a launcher over a Unix socket.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod hv;
pub mod platform;
#[cfg(feature = "std")]
pub mod sim;
pub mod tpmif;
pub mod xenbus;

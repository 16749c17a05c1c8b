//! The vTPM manager (`vtpmmgr`): the root of trust of every vTPM on the host.
//!
//! - [`hw`]: the session with the machine's hardware TPM 2.0: start-up, the storage root key
//!   (SRK), the sealing key (SK) under it, the store's root key sealed to the SK, the monotonic
//!   NV counter that binds the store's generation, and quotes for the vTPMs.
//! - [`store`]: the sealed store on a 2 MB image of 4 KiB sectors (`docs/disk-format.md`):
//!   groups and vTPM entries, authenticated encryption of every sector, a hash tree from the
//!   root to every sector, copy-on-write updates with two alternating roots.
//! - [`backend`]: the tpmback loop that serves vTPM domains over any tpmif platform.
//! - [`seams`]: the traits the store and the manager are written against (block device,
//!   monotonic counter), so that the same code runs as a unikernel, a Linux process and a test.
//!
//! The library is `no_std` + `alloc`; the host adapters and the `vtpmmgr` binary sit behind the
//! `std` feature.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod backend;
#[cfg(feature = "std")]
pub mod host;
pub mod hw;
pub mod manager;
pub mod seams;
pub mod store;

pub use vtpmmgr_protocol as protocol;
pub use vtpmmgr_protocol::Uuid;

//! Host-side adapters and tools (`std`): TPM transports over the swtpm and mssim socket protocols
//! and the Linux TPM character devices, control of private swtpm processes, and the `vtpmctl`
//! command's probe and manager administration.
//!
//! The core crates (`tpm2`, the drivers, the engine) never touch a socket or a file; this crate
//! is where the [`tpm2::transport::Transport`] seam meets the operating system.

pub mod attest;
pub mod error;
pub mod measure;
pub mod mgr;
pub mod probe;
pub mod stack;
pub mod swtpm;
pub mod transport;

pub use error::Error;

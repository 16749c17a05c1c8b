//! The vTPM domain as a host process (feature `std`): the [`Engine`](crate::engine::Engine)
//! served over TCP with swtpm's socket protocol ([`swtpm`]) or the TCG simulator's
//! ([`mssim`]), its state kept in memory or in a locally sealed file ([`state_file`]).
//!
//! - [`platform`]: entropy and time for the engine from the host OS.
//! - [`server`]: the shared device, connection policy and bounded reads.
//! - [`swtpm`]: swtpm 0.7.1's data and control channels.
//! - [`mssim`]: ms-tpm-20-ref's command and platform ports.
//! - [`state_file`]: key files and crash-safe sealed state files.
//! - [`cli`]: the `vtpm-domain` command line.
//!
//! The user documentation is `docs/vtpm-domain-serve.md`.

pub mod cli;
pub mod ekca;
pub mod managed;
pub mod manager_link;
pub mod mssim;
pub mod platform;
pub mod server;
pub mod signal;
pub mod state_file;
pub mod swtpm;
pub mod xen;

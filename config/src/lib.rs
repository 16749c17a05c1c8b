//! xl domain configuration files of a vTPM stack (`no_std` + `alloc`).
//!
//! - [`syntax`]: the xl.cfg syntax ([`parse`] → [`XlConfig`], [`XlConfig::render`]);
//! - [`devices`]: `vtpm=` (reference `xen-vtpm.md` §9.1), `disk=` and `iomem=` entries;
//! - [`roles`]: [`classify`] a file as the manager (§9.2, §9.3), a vTPM domain (§9.2, §6.6)
//!   or a guest, validating it;
//! - [`stack`](mod@stack): several files together and their cross-references.
//!
//! Every error is a [`ConfigError`] whose `Display` is `file:line:col: message`.
#![no_std]

extern crate alloc;

pub mod devices;
pub mod error;
pub mod roles;
pub mod stack;
pub mod syntax;

pub use devices::{Disk, VtpmSpec};
pub use error::{ConfigError, ErrorKind, Pos};
pub use roles::{
    AuthSpec, Guest, LogLevel, ManagerDomain, ManagerOptions, Role, StartupMode, TpmDriver, TpmIrq,
    VtpmDomain, VtpmOptions, classify,
};
pub use stack::{Stack, stack};
pub use syntax::{Setting, Value, XlConfig, parse};

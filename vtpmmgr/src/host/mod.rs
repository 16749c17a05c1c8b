//! Hosted mode: the manager as a Linux process. Its image is a file, its hardware TPM is
//! reached through `vtpm-tools`' transports (swtpm, mssim, `/dev/tpmrm0`), and vTPM domains
//! and the administrator reach it over Unix sockets.

pub mod cli;
pub mod file_device;
pub mod peer;
pub mod server;
pub mod xen;

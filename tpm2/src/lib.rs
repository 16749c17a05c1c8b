//! The TPM 2.0 wire format, as defined by the TCG "Trusted Platform Module Library" specification,
//! part 2 (Structures), revision 1.59 and later, with the command framing of part 1 §18 and the
//! per-command handle counts of part 3.
//!
//! Everything that arrives from a guest, a disk or a socket goes through [`Unmarshal`], which
//! bounds-checks every length, every union selector and every enumerated value, and reports the
//! failure as an [`Error`] naming the structure that failed. Nothing in this crate panics on
//! hostile input.
//!
//! Layout:
//! - [`marshal`]: the [`Marshal`]/[`Unmarshal`] traits and the bounds-checked [`Reader`];
//! - constants: [`alg`] (TPM_ALG_ID), [`cc`] (TPM_CC and the command table), [`rc`] (TPM_RC,
//!   decoding of format-zero and format-one codes), [`pt`] (TPM_PT / TPM_PT_PCR), [`cap`]
//!   (TPM_CAP), [`handle`] (TPM_HANDLE ranges and permanent handles), [`st`] (TPM_ST, TPM_SU,
//!   TPM_SE);
//! - framing: [`header`] (the 10-byte command/response headers), [`auth`] (the authorization
//!   area), [`command`] and [`response`] (whole commands and responses);
//! - [`structures`]: TPM2B, TPMA, TPMS, TPMT, TPMU and TPML types;
//! - [`commands`]: typed parameter areas of commands and responses (part 3);
//! - [`transport`]: the one-method seam every TPM (hardware, socket, in-process engine) sits
//!   behind, and [`client`], typed calls over any transport.
#![no_std]

extern crate alloc;

pub mod alg;
pub mod auth;
pub mod cap;
pub mod cc;
pub mod client;
pub mod command;
pub mod commands;
pub mod error;
pub mod handle;
pub mod header;
pub mod marshal;
pub mod pt;
pub mod rc;
pub mod response;
pub mod st;
pub mod structures;
pub mod transport;

pub use error::Error;
pub use marshal::{Marshal, Reader, Unmarshal};

/// Paths the exported macros need, so that they also work in `std` crates.
#[doc(hidden)]
pub mod __private {
    pub use alloc::vec::Vec;
}

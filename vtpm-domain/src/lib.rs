//! The vTPM domain: a TPM 2.0 written in Rust for one guest.
//!
//! - [`engine`]: the TPM itself, behind one method ([`engine::Engine::execute`]: command bytes
//!   in, response bytes out), with its whole state serialisable to one blob.
//! - [`image`]: the domain's two-slot sealed state image (`docs/vtpm-image.md`).
//! - [`domain`]: the runtime: the engine persisted on its image, its key kept by the manager
//!   (LOADHASHKEY at start, SAVEHASHKEY after every durable change).
//! - `host` (feature `std`): the socket front-ends (swtpm data + control channel, mssim) and the
//!   locally sealed state file used when no manager is present.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod domain;
pub mod ekcert;
pub mod engine;
#[cfg(feature = "std")]
pub mod host;
pub mod image;
pub mod seal;

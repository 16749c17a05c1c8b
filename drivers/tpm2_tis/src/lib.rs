//! A driver for the FIFO interface of a TPM 2.0, as defined by the TCG PC Client Platform TPM
//! Profile Specification for TPM 2.0 (PTP) §6.5.2 "FIFO Interface" — the register interface
//! descended from the TCG PC Client Specific TPM Interface Specification (TIS) 1.3.
//!
//! The crate is `no_std` and allocation-free, so a unikernel can talk to its TPM before it has
//! a heap. It polls (never uses interrupts) and is generic over two seams:
//!
//! - [`Registers`]: 8- and 32-bit access to the registers of a locality page; [`Mmio`] is the
//!   real volatile memory-mapped implementation ([`regs`], PTP §6.5.2 register map);
//! - [`Clock`]: microsecond time and sleeping, for the PTP timeouts and command durations
//!   ([`clock`], [`timeouts`], PTP §6.5.1.3 and §6.5.1.4).
//!
//! [`Tis`] implements [`tpm2::transport::Transport`]: probe the chip, take a locality, then send
//! whole commands and get whole responses back ([`tis`]). Every way the chip can misbehave —
//! absent, registers that never settle, stuck bits, short bursts, wrong response sizes, no
//! response — ends in a specific [`Error`] within the relevant timeout, never in a hang.
//!
//! With the `model` feature (always on in this crate's tests), `model` provides a
//! register-level simulated TPM with fault injection and simulated clocks.
#![no_std]

pub mod clock;
pub mod error;
#[cfg(any(test, feature = "model"))]
pub mod model;
pub mod regs;
pub mod timeouts;
pub mod tis;

pub use clock::Clock;
pub use error::Error;
pub use regs::{Mmio, Registers};
pub use timeouts::{Config, DurationClass, Durations, Timeouts, duration_class};
pub use tis::{ChipInfo, Tis};

//! The hardware TPM's FIFO interface at its fixed address (PC Client Platform TPM Profile
//! §6.5.2: 0xfed40000, one 4 KiB page per locality), reached through the loader's uncached
//! identity map. `tpm2_tis::Tis::probe` checks that the page really is a TIS (DID_VID neither
//! all zeros nor all ones, ACCESS valid, a FIFO interface) before any command is sent.

use tpm2_tis::regs::Mmio;
use tpm2_tis::{ChipInfo, Tis};

use crate::clock::Clock;

/// The TIS register window's physical address.
pub const TIS_BASE: u64 = 0xfed4_0000;

/// The driver over the memory-mapped registers.
pub type HermitTis = Tis<Mmio, Clock>;

/// Opens the TIS at [`TIS_BASE`], checks that a TPM answers there and takes `locality`.
pub fn open(locality: u8) -> Result<(HermitTis, ChipInfo), String> {
    // SAFETY: the loader identity-maps 3–4 GiB uncached, so the five locality pages at
    // 0xfed40000 are valid device memory for volatile 8/32-bit accesses for the program's
    // life; this is the only handle to them (called once, at start).
    let regs = unsafe { Mmio::new(TIS_BASE as *mut u8, 5) };
    let mut tis = Tis::new(regs, Clock::new());
    let info = tis
        .probe()
        .map_err(|e| format!("no TPM at {TIS_BASE:#x}: {e}"))?;
    tis.request_locality(locality)
        .map_err(|e| format!("TPM at {TIS_BASE:#x}: locality {locality}: {e}"))?;
    Ok((tis, info))
}

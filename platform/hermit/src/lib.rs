//! The vTPM stub domains' platform layer on Hermit (design/ARCHITECTURE.md, "Seams"): what the
//! portable crates need from the machine, implemented for a Hermit unikernel under QEMU.
//!
//! - [`tis`]: the hardware TPM's TIS registers at 0xfed40000 + 0x1000 × locality, reached with
//!   volatile accesses through the loader's uncached identity map of 3–4 GiB, checked to be a
//!   TIS before use (`tpm2_tis::Tis::probe`).
//! - [`pci`] and [`ivshmem`]: QEMU's `ivshmem-plain` devices found by a scan of PCI bus 0; the
//!   first one is the manager's 2 MB disk ([`ivshmem::RegionDisk`]), the next ones are
//!   shared-memory tpmif links to vTPM domains.
//! - [`entropy`]: RDSEED/RDRAND (when the CPU has them) mixed with the time stamp counter;
//!   the manager mixes this with the hardware TPM's GetRandom in its DRBG.
//! - [`clock`]: monotonic time and sleeping for the drivers' polling loops.
//!
//! The console is Hermit's serial port (`println!`).

pub mod clock;
pub mod entropy;
pub mod ivshmem;
pub mod pci;
pub mod tis;

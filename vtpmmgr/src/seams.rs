//! The seams between the manager's logic and the machine (design/ARCHITECTURE.md, "Seams"):
//! a block device of 4 KiB sectors and a monotonic counter. Entropy comes in through
//! `rand_core`'s [`RngCore`](rand_core::RngCore) + [`CryptoRng`](rand_core::CryptoRng).

use core::fmt::{Debug, Display};

/// The size of one sector of the manager's image.
pub const SECTOR_SIZE: usize = 4096;

/// The number of sectors the manager uses: 512 × 4 KiB = 2 MiB. A larger device is accepted;
/// the sectors past this one are never read or written.
pub const SECTOR_COUNT: u32 = 512;

/// One sector's bytes.
pub type Sector = [u8; SECTOR_SIZE];

/// A device of 4 KiB sectors: an image file in hosted mode, memory in tests, the block front
/// end in the unikernel.
pub trait BlockDevice {
    /// Why an access failed.
    type Error: Debug + Display;

    /// The number of sectors the device holds.
    fn sector_count(&self) -> u32;

    /// Reads sector `index` into `buf`.
    fn read_sector(&mut self, index: u32, buf: &mut Sector) -> Result<(), Self::Error>;

    /// Writes `buf` to sector `index`. The write may be held in a cache until [`flush`].
    ///
    /// [`flush`]: BlockDevice::flush
    fn write_sector(&mut self, index: u32, buf: &Sector) -> Result<(), Self::Error>;

    /// Returns once every completed write is durable.
    fn flush(&mut self) -> Result<(), Self::Error>;
}

impl<B: BlockDevice + ?Sized> BlockDevice for &mut B {
    type Error = B::Error;

    fn sector_count(&self) -> u32 {
        (**self).sector_count()
    }

    fn read_sector(&mut self, index: u32, buf: &mut Sector) -> Result<(), Self::Error> {
        (**self).read_sector(index, buf)
    }

    fn write_sector(&mut self, index: u32, buf: &Sector) -> Result<(), Self::Error> {
        (**self).write_sector(index, buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        (**self).flush()
    }
}

/// A counter that only goes up and that the attacker cannot reset: an NV counter index on the
/// hardware TPM (TPM_NT_COUNTER, part 1 §37.2.3), or memory in tests. The store writes the
/// value it expects after its next increment into each root, so an image rolled back to an
/// older copy is recognised.
pub trait MonotonicCounter {
    /// Why the counter could not be read or incremented.
    type Error: Debug + Display;

    /// The current value.
    fn read(&mut self) -> Result<u64, Self::Error>;

    /// Adds one and returns the new value.
    fn increment(&mut self) -> Result<u64, Self::Error>;
}

impl<C: MonotonicCounter + ?Sized> MonotonicCounter for &mut C {
    type Error = C::Error;

    fn read(&mut self) -> Result<u64, Self::Error> {
        (**self).read()
    }

    fn increment(&mut self) -> Result<u64, Self::Error> {
        (**self).increment()
    }
}

//! The seams between the manager's logic and the machine (design/ARCHITECTURE.md, "Seams"):
//! a block device of 4 KiB sectors and a monotonic counter. Entropy comes in through
//! `rand_core`'s [`RngCore`](rand_core::RngCore) + [`CryptoRng`](rand_core::CryptoRng).

use alloc::vec::Vec;
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

/// A [`BlockDevice`] in memory: tests, tools and the fuzz targets. It counts reads, writes and
/// flushes, so a test can prove that an operation wrote nothing.
#[derive(Clone)]
pub struct MemDevice {
    data: Vec<u8>,
    reads: u64,
    writes: u64,
    flushes: u64,
}

impl MemDevice {
    /// A zero-filled device of `sectors` sectors.
    pub fn new(sectors: u32) -> MemDevice {
        let len = usize::try_from(sectors)
            .unwrap_or(0)
            .saturating_mul(SECTOR_SIZE);
        MemDevice::from_image(alloc::vec![0; len])
    }

    /// A device holding `image`; a trailing partial sector is not addressable.
    pub fn from_image(image: Vec<u8>) -> MemDevice {
        MemDevice {
            data: image,
            reads: 0,
            writes: 0,
            flushes: 0,
        }
    }

    /// The whole image.
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    /// The whole image, writable (to tamper with it in tests).
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// The image, consuming the device.
    pub fn into_image(self) -> Vec<u8> {
        self.data
    }

    /// Sector reads since creation or the last [`reset_counts`](Self::reset_counts).
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Sector writes since creation or the last [`reset_counts`](Self::reset_counts).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Flushes since creation or the last [`reset_counts`](Self::reset_counts).
    pub fn flushes(&self) -> u64 {
        self.flushes
    }

    /// Sets the read, write and flush counts to zero.
    pub fn reset_counts(&mut self) {
        self.reads = 0;
        self.writes = 0;
        self.flushes = 0;
    }

    fn range(&self, index: u32) -> Result<core::ops::Range<usize>, MemError> {
        let start = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(SECTOR_SIZE))
            .ok_or(MemError::OutOfRange { index })?;
        let end = start
            .checked_add(SECTOR_SIZE)
            .filter(|end| *end <= self.data.len())
            .ok_or(MemError::OutOfRange { index })?;
        Ok(start..end)
    }
}

impl Debug for MemDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemDevice")
            .field("sectors", &self.sector_count())
            .field("reads", &self.reads)
            .field("writes", &self.writes)
            .field("flushes", &self.flushes)
            .finish_non_exhaustive()
    }
}

/// Why a [`MemDevice`] access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemError {
    /// The sector lies past the end of the image.
    OutOfRange {
        /// The sector asked for.
        index: u32,
    },
}

impl Display for MemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MemError::OutOfRange { index } => {
                write!(f, "sector {index} lies past the end of the in-memory image")
            }
        }
    }
}

impl BlockDevice for MemDevice {
    type Error = MemError;

    fn sector_count(&self) -> u32 {
        u32::try_from(self.data.len() / SECTOR_SIZE).unwrap_or(u32::MAX)
    }

    fn read_sector(&mut self, index: u32, buf: &mut Sector) -> Result<(), MemError> {
        let range = self.range(index)?;
        buf.copy_from_slice(&self.data[range]);
        self.reads += 1;
        Ok(())
    }

    fn write_sector(&mut self, index: u32, buf: &Sector) -> Result<(), MemError> {
        let range = self.range(index)?;
        self.data[range].copy_from_slice(buf);
        self.writes += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), MemError> {
        self.flushes += 1;
        Ok(())
    }
}

/// A [`MonotonicCounter`] in memory (tests, tools, fuzzing). It never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemCounter {
    value: u64,
}

impl MemCounter {
    /// A counter starting at `value`.
    pub const fn new(value: u64) -> MemCounter {
        MemCounter { value }
    }

    /// The current value, without going through the trait.
    pub const fn value(&self) -> u64 {
        self.value
    }
}

impl MonotonicCounter for MemCounter {
    type Error = core::convert::Infallible;

    fn read(&mut self) -> Result<u64, Self::Error> {
        Ok(self.value)
    }

    fn increment(&mut self) -> Result<u64, Self::Error> {
        self.value = self.value.saturating_add(1);
        Ok(self.value)
    }
}

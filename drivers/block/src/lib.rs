//! The block-device seam (design/ARCHITECTURE.md, "Seams"): a device of 4 KiB sectors that
//! can be read, written and flushed. The vTPM manager keeps its store on one
//! (`docs/disk-format.md`), each vTPM domain its sealed state image (`docs/vtpm-image.md`).
//!
//! Implementations: [`MemDevice`] (memory: tests, tools, fuzzing), `FileDevice` (feature
//! `std`: an image file on the host), and the Xen block front end in the unikernel.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "std")]
pub mod file;
#[cfg(feature = "std")]
pub use file::{FileDevice, FileDeviceError};

use alloc::vec::Vec;
use core::fmt::{Debug, Display};

/// The size of one sector.
pub const SECTOR_SIZE: usize = 4096;

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

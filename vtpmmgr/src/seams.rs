//! The seams between the manager's logic and the machine (design/ARCHITECTURE.md, "Seams"):
//! a block device of 4 KiB sectors (the `block` crate's, shared with the vTPM domain, re-exported
//! here) and a monotonic counter. Entropy comes in through `rand_core`'s
//! [`RngCore`](rand_core::RngCore) + [`CryptoRng`](rand_core::CryptoRng).

use core::fmt::{Debug, Display};

pub use block::{BlockDevice, MemDevice, MemError, SECTOR_SIZE, Sector};

/// The number of sectors the manager uses: 512 × 4 KiB = 2 MiB. A larger device is accepted;
/// the sectors past this one are never read or written.
pub const SECTOR_COUNT: u32 = 512;

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

//! The time seam.
//!
//! Every wait of the FIFO protocol (PTP §6.5.1.4 timeouts, §6.5.1.3 command durations) is a
//! polling loop: read a register, and if the condition does not hold yet, sleep one poll interval
//! and look again until the deadline. The loop asks a [`Clock`] for the time and for the sleep, so
//! a unikernel supplies its timer and the tests supply simulated time that never really waits.

/// A monotonic microsecond clock that can also sleep.
pub trait Clock {
    /// Microseconds since an arbitrary fixed origin; never decreases.
    fn now_us(&mut self) -> u64;
    /// Waits about `us` microseconds (a busy-wait is fine).
    fn sleep_us(&mut self, us: u64);
}

impl<T: Clock + ?Sized> Clock for &mut T {
    fn now_us(&mut self) -> u64 {
        (**self).now_us()
    }
    fn sleep_us(&mut self, us: u64) {
        (**self).sleep_us(us);
    }
}

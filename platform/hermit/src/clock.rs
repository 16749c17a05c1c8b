//! Time for the polling loops: the TIS driver's microsecond clock and the link platform's
//! millisecond clock, both over `std::time::Instant` (Hermit: the TSC).

use std::time::{Duration, Instant};

/// A monotonic clock that can sleep.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// Microseconds since the origin.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl tpm2_tis::Clock for Clock {
    fn now_us(&mut self) -> u64 {
        Clock::now_us(self)
    }

    fn sleep_us(&mut self, us: u64) {
        // Short waits spin (a register usually changes within microseconds); longer ones yield
        // the CPU to Hermit's scheduler.
        if us < 100 {
            let until = Instant::now() + Duration::from_micros(us);
            while Instant::now() < until {
                core::hint::spin_loop();
            }
        } else {
            std::thread::sleep(Duration::from_micros(us));
        }
    }
}

impl shmlink::Clock for Clock {
    fn now_ms(&mut self) -> u64 {
        Clock::now_us(self) / 1000
    }

    fn pause(&mut self) {
        std::thread::sleep(Duration::from_micros(50));
    }
}

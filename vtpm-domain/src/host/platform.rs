//! The host's [`Platform`]: entropy from the kernel (`/dev/urandom`, read in blocks into a
//! zeroized pool) and a monotonic millisecond clock from [`std::time::Instant`].

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::Instant;

use zeroize::{Zeroize, Zeroizing};

use crate::engine::Platform;

/// The kernel's non-blocking random source (seeded once the kernel's pool is initialised).
pub const URANDOM: &str = "/dev/urandom";

/// Bytes fetched from the kernel per read.
const POOL_SIZE: usize = 512;

/// Fills `buf` from the kernel's random source, in one or more reads.
pub fn os_random(buf: &mut [u8]) -> io::Result<()> {
    let mut f = File::open(Path::new(URANDOM))?;
    f.read_exact(buf)
}

/// The [`Platform`] of a vTPM running as a host process.
pub struct HostPlatform {
    source: File,
    pool: Zeroizing<[u8; POOL_SIZE]>,
    /// How many bytes at the start of `pool` have been handed out (and zeroed).
    used: usize,
    origin: Instant,
}

impl core::fmt::Debug for HostPlatform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostPlatform").finish_non_exhaustive()
    }
}

impl HostPlatform {
    /// Opens the kernel's random source and fills the first pool.
    pub fn new() -> io::Result<Self> {
        let mut source = File::open(Path::new(URANDOM))?;
        let mut pool = Zeroizing::new([0u8; POOL_SIZE]);
        source.read_exact(&mut pool[..])?;
        Ok(Self {
            source,
            pool,
            used: 0,
            origin: Instant::now(),
        })
    }

    fn refill(&mut self) {
        if let Err(e) = self.source.read_exact(&mut self.pool[..]) {
            // Without entropy the TPM cannot make a single key safely; stopping is the only
            // answer that does not hand out predictable secrets.
            eprintln!("vtpm-domain: fatal: cannot read {URANDOM}: {e}");
            std::process::abort();
        }
        self.used = 0;
    }
}

impl Platform for HostPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        let mut filled = 0;
        while filled < buf.len() {
            if self.used == POOL_SIZE {
                self.refill();
            }
            let n = (buf.len() - filled).min(POOL_SIZE - self.used);
            let src = &mut self.pool[self.used..self.used + n];
            buf[filled..filled + n].copy_from_slice(src);
            src.zeroize();
            self.used += n;
            filled += n;
        }
    }

    fn monotonic_ms(&mut self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_spans_pool_refills_and_differs() {
        let mut p = HostPlatform::new().unwrap();
        let mut a = vec![0u8; POOL_SIZE * 2 + 7];
        let mut b = vec![0u8; POOL_SIZE * 2 + 7];
        p.fill_entropy(&mut a);
        p.fill_entropy(&mut b);
        assert_ne!(a, b);
        // 1 031 random bytes are all zero with probability 2^-8248.
        assert!(a.iter().any(|&x| x != 0));
        // Consumed pool bytes are wiped.
        assert!(p.pool[..p.used].iter().all(|&x| x == 0));
    }

    #[test]
    fn clock_never_goes_backwards() {
        let mut p = HostPlatform::new().unwrap();
        let t0 = p.monotonic_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let t1 = p.monotonic_ms();
        assert!(t1 >= t0 + 5, "{t0} -> {t1}");
    }
}

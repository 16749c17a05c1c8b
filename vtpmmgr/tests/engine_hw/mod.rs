//! Our engine as the manager's hardware TPM, in process (shared by the tests that need no
//! swtpm): a deterministic test platform and the engine behind the transport seam.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::fmt;
use std::time::Instant;

use tpm2::transport::Transport;
use vtpm_domain::engine::{Engine, Platform};

/// Entropy from a seeded xorshift (reproducible), time from the host's monotonic clock.
pub struct TestPlatform {
    seed: u64,
    origin: Instant,
}

impl Platform for TestPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            *b = self.seed.to_le_bytes()[0];
        }
    }

    fn monotonic_ms(&mut self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap()
    }
}

/// A test platform seeded with `seed`.
pub fn platform(seed: u64) -> Box<dyn Platform> {
    Box::new(TestPlatform {
        seed,
        origin: Instant::now(),
    })
}

/// The engine behind the transport seam, at locality 0.
pub struct InProcess(pub Engine);

/// A response that does not fit the caller's buffer.
#[derive(Debug)]
pub struct TooLarge;

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("response larger than the buffer")
    }
}

impl Transport for InProcess {
    type Error = TooLarge;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, TooLarge> {
        let r = self.0.execute(0, command);
        response
            .get_mut(..r.len())
            .ok_or(TooLarge)?
            .copy_from_slice(&r);
        Ok(r.len())
    }
}

//! Host entropy for the unikernel: RDSEED, else RDRAND (Intel SDM vol. 1 §7.3.17), when CPUID
//! says the CPU has them, hashed with time stamp counter readings. The manager mixes these
//! bytes with the hardware TPM's TPM2_GetRandom when it seeds its DRBG, so a CPU without either
//! instruction weakens nothing below the TPM's own randomness.

use core::arch::x86_64::{__cpuid, __cpuid_count, _rdtsc};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Which hardware random source was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// RDSEED (conditioned entropy).
    Rdseed,
    /// RDRAND (DRBG output).
    Rdrand,
    /// Neither instruction: time stamp counter jitter only.
    TscOnly,
}

fn has_rdrand() -> bool {
    // SAFETY: CPUID leaf 1 exists on every x86_64 CPU.
    unsafe { __cpuid(1) }.ecx & (1 << 30) != 0
}

fn has_rdseed() -> bool {
    // SAFETY: CPUID leaf 0 gives the highest leaf; leaf 7 is read only when it exists.
    unsafe { __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ebx & (1 << 18) != 0 }
}

/// One 64-bit word from RDSEED (`seed`) or RDRAND, retried while the CPU reports it has none
/// ready; `None` after 64 tries.
fn hardware_word(seed: bool) -> Option<u64> {
    for _ in 0..64 {
        let value: u64;
        let ok: u8;
        // SAFETY: only called for an instruction CPUID reports (`Source::detect`); it writes
        // one register and the carry flag.
        unsafe {
            if seed {
                core::arch::asm!("rdseed {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack));
            } else {
                core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack));
            }
        }
        if ok == 1 {
            return Some(value);
        }
        core::hint::spin_loop();
    }
    None
}

impl Source {
    /// The best source this CPU has.
    fn detect() -> Source {
        if has_rdseed() {
            Source::Rdseed
        } else if has_rdrand() {
            Source::Rdrand
        } else {
            Source::TscOnly
        }
    }

    /// SHA-256 of `counter` and eight (hardware word, TSC) pairs: 32 bytes.
    fn block(self, counter: u64) -> Zeroizing<[u8; 32]> {
        let mut hash = Sha256::new();
        hash.update(counter.to_le_bytes());
        for _ in 0..8 {
            let word = match self {
                Source::Rdseed => hardware_word(true).or_else(|| hardware_word(false)),
                Source::Rdrand => hardware_word(false),
                Source::TscOnly => None,
            };
            // SAFETY: RDTSC is available on every x86_64 CPU.
            let tsc = unsafe { _rdtsc() };
            hash.update(word.unwrap_or(0).to_le_bytes());
            hash.update(tsc.to_le_bytes());
        }
        Zeroizing::new(hash.finalize().into())
    }
}

/// 32 bytes of host entropy and the source they came from.
pub fn gather() -> (Zeroizing<[u8; 32]>, Source) {
    let source = Source::detect();
    (source.block(0), source)
}

/// The vTPM engine's entropy and clock on Hermit. It exists only where the CPU has RDSEED or
/// RDRAND: a vTPM's primary seeds must not come from timer jitter alone.
#[derive(Debug)]
pub struct EnginePlatform {
    source: Source,
    counter: u64,
    clock: crate::clock::Clock,
}

impl EnginePlatform {
    /// The platform, or why this CPU cannot give a vTPM its seeds.
    pub fn new() -> Result<Self, String> {
        let source = Source::detect();
        if source == Source::TscOnly {
            return Err(
                "the CPU has neither RDSEED nor RDRAND: no entropy for the vTPM's seeds \
                 (QEMU: -cpu max)"
                    .into(),
            );
        }
        Ok(Self {
            source,
            counter: 0,
            clock: crate::clock::Clock::new(),
        })
    }

    /// The hardware source in use.
    pub fn source(&self) -> Source {
        self.source
    }
}

impl vtpm_domain::engine::Platform for EnginePlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(32) {
            self.counter = self.counter.wrapping_add(1);
            let block = self.source.block(self.counter);
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }

    fn monotonic_ms(&mut self) -> u64 {
        self.clock.now_us() / 1000
    }
}

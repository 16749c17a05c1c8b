//! SIGTERM / SIGINT: the handler only records that a signal came; the server's main loop polls
//! [`take`] and then saves the state and returns.
//!
//! `std` has no signal API and the project takes no new crates, so the C library's `signal(2)`
//! (linked into every Rust program on Linux) is declared here directly.

use std::sync::atomic::{AtomicBool, Ordering};

static RECEIVED: AtomicBool = AtomicBool::new(false);

/// Linux signal numbers.
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

#[cfg(target_os = "linux")]
unsafe extern "C" {
    /// `sighandler_t signal(int signum, sighandler_t handler)` from the C library.
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

/// The handler: an atomic store is async-signal-safe.
extern "C" fn on_signal(_signum: i32) {
    RECEIVED.store(true, Ordering::SeqCst);
}

/// Routes SIGTERM and SIGINT to the flag read by [`take`]. Without Linux this does nothing
/// (the default action, termination, stays).
pub fn install() {
    #[cfg(target_os = "linux")]
    for signum in [SIGTERM, SIGINT] {
        // SAFETY: `signal` is the C library function of that prototype; `on_signal` is an
        // `extern "C" fn(i32)` that lives for the whole program and only performs an atomic
        // store, which is async-signal-safe.
        let _previous = unsafe { signal(signum, on_signal) };
    }
}

/// Whether a termination signal arrived since the last call.
pub fn take() -> bool {
    RECEIVED.swap(false, Ordering::SeqCst)
}

//! The first serial port (COM1, I/O port 0x3f8), 16550-compatible: the loader's console, and the
//! port the Hermit kernel is told to use.

use core::arch::asm;
use core::fmt;

/// COM1's I/O base.
pub(crate) const COM1: u16 = 0x3f8;

/// Writes one byte to an I/O port.
pub(crate) fn outb(port: u16, value: u8) {
    // SAFETY: port I/O to the UART and the debug-exit device has no memory effects; the loader
    // runs in ring 0 where `out` is allowed.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags));
    }
}

/// Reads one byte from an I/O port.
pub(crate) fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`; reading the UART's status register has no side effect.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags));
    }
    value
}

/// 115200 baud, 8N1, FIFOs on.
pub(crate) fn init() {
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x80);
    outb(COM1, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);
    outb(COM1 + 2, 0xc7);
    outb(COM1 + 4, 0x0b);
}

fn put(byte: u8) {
    // Bounded wait for the transmitter (an absent UART reads 0xff: ready).
    for _ in 0..100_000 {
        if inb(COM1 + 5) & 0x20 != 0 {
            break;
        }
    }
    outb(COM1, byte);
}

/// The console as a `fmt::Write` sink.
pub(crate) struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

/// Prints a line prefixed with `loader: `.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::serial::Console, "loader: ");
        let _ = writeln!($crate::serial::Console, $($arg)*);
    }};
}

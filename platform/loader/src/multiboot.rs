//! The multiboot information structure (Multiboot Specification 0.6.96 §3.3), read with bounds
//! on every count: the loader trusts QEMU, but a wrong count must end in an error, not a wild
//! read.

use alloc::string::String;
use alloc::vec::Vec;
use core::ptr;

/// What EAX holds when a multiboot loader jumps to us.
pub(crate) const MAGIC: u32 = 0x2bad_b002;

/// A range of usable RAM (memory map type 1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ram {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// A boot module: the application image QEMU was given with `-initrd`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Module {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// What the loader needs from the information structure.
#[derive(Debug)]
pub(crate) struct Info {
    pub(crate) ram: Vec<Ram>,
    pub(crate) modules: Vec<Module>,
    pub(crate) command_line: String,
}

fn read_u32(addr: u64) -> u32 {
    // SAFETY: the low 4 GiB are identity-mapped and readable; the addresses come from the
    // multiboot loader, which placed the structures there.
    unsafe { ptr::read_unaligned(addr as *const u32) }
}

fn read_u64(addr: u64) -> u64 {
    // SAFETY: as for `read_u32`.
    unsafe { ptr::read_unaligned(addr as *const u64) }
}

fn read_cstr(addr: u64, max: usize) -> String {
    let mut bytes = Vec::new();
    for i in 0..max as u64 {
        // SAFETY: as for `read_u32`; at most `max` bytes are read.
        let b = unsafe { ptr::read_volatile((addr + i) as *const u8) };
        if b == 0 {
            break;
        }
        bytes.push(b);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads the structure at `addr`.
pub(crate) fn read(addr: u32) -> Result<Info, &'static str> {
    const MAX_MODULES: u32 = 16;
    const MAX_MMAP_BYTES: u32 = 64 * 1024;
    let base = u64::from(addr);
    if base == 0 {
        return Err("no multiboot information structure");
    }
    let flags = read_u32(base);
    let mut ram = Vec::new();
    if flags & (1 << 6) != 0 {
        let length = read_u32(base + 44).min(MAX_MMAP_BYTES);
        let start = u64::from(read_u32(base + 48));
        let mut at = start;
        while at + 24 <= start + u64::from(length) {
            let size = read_u32(at);
            let region = read_u64(at + 4);
            let len = read_u64(at + 12);
            let kind = read_u32(at + 20);
            if kind == 1 && len > 0 {
                ram.push(Ram {
                    start: region,
                    end: region.saturating_add(len),
                });
            }
            if size < 20 {
                return Err("memory map entry shorter than its fields");
            }
            at += u64::from(size) + 4;
        }
    } else if flags & 1 != 0 {
        let upper_kib = u64::from(read_u32(base + 8));
        ram.push(Ram {
            start: 0x10_0000,
            end: 0x10_0000 + upper_kib * 1024,
        });
    }
    if ram.is_empty() {
        return Err("the multiboot loader reported no RAM");
    }
    let mut modules = Vec::new();
    if flags & (1 << 3) != 0 {
        let count = read_u32(base + 20);
        if count > MAX_MODULES {
            return Err("more boot modules than the loader accepts");
        }
        let table = u64::from(read_u32(base + 24));
        for i in 0..u64::from(count) {
            let entry = table + 16 * i;
            let start = u64::from(read_u32(entry));
            let end = u64::from(read_u32(entry + 4));
            if end < start {
                return Err("a boot module ends before it starts");
            }
            modules.push(Module { start, end });
        }
    }
    let command_line = if flags & (1 << 2) != 0 {
        read_cstr(u64::from(read_u32(base + 16)), 4096)
    } else {
        String::new()
    };
    Ok(Info {
        ram,
        modules,
        command_line,
    })
}

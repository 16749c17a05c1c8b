//! PCI configuration space through the legacy mechanism: the address at I/O port 0xcf8, the
//! data at 0xcfc (PCI Local Bus Specification 3.0 §3.2.2.3.2), and memory BARs with their sizes
//! (§6.2.5.1). QEMU's `pc` machine puts its devices on bus 0, which is all the scan covers.
//! Hermit applications run in ring 0, where port I/O is allowed.

use core::arch::asm;

const ADDRESS: u16 = 0xcf8;
const DATA: u16 = 0xcfc;

/// One PCI function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// Device (slot) number on bus 0.
    pub device: u8,
    /// Function number.
    pub function: u8,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device_id: u16,
}

/// A memory BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// Its physical address.
    pub address: u64,
    /// Its size in bytes.
    pub size: u64,
}

fn outl(port: u16, value: u32) {
    // SAFETY: configuration-space port I/O; it touches no memory.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags));
    }
}

fn inl(port: u16) -> u32 {
    let value: u32;
    // SAFETY: as for `outl`.
    unsafe {
        asm!("in eax, dx", out("eax") value, in("dx") port, options(nomem, nostack, preserves_flags));
    }
    value
}

fn address(device: u8, function: u8, offset: u8) -> u32 {
    0x8000_0000
        | (u32::from(device & 0x1f) << 11)
        | (u32::from(function & 7) << 8)
        | u32::from(offset & 0xfc)
}

/// Reads the configuration double word at `offset` of a function on bus 0.
pub fn read32(device: u8, function: u8, offset: u8) -> u32 {
    outl(ADDRESS, address(device, function, offset));
    inl(DATA)
}

/// Writes the configuration double word at `offset` of a function on bus 0.
pub fn write32(device: u8, function: u8, offset: u8, value: u32) {
    outl(ADDRESS, address(device, function, offset));
    outl(DATA, value);
}

/// Every function present on bus 0.
pub fn scan() -> Vec<Function> {
    let mut found = Vec::new();
    for device in 0..32u8 {
        for function in 0..8u8 {
            let id = read32(device, function, 0);
            let vendor = (id & 0xffff) as u16;
            if vendor == 0xffff {
                if function == 0 {
                    break;
                }
                continue;
            }
            found.push(Function {
                device,
                function,
                vendor,
                device_id: (id >> 16) as u16,
            });
            // Only multi-function devices (header type bit 7) have functions 1..7.
            if function == 0 && (read32(device, 0, 0x0c) >> 16) & 0x80 == 0 {
                break;
            }
        }
    }
    found
}

/// Memory BAR `index` (0..=5) of `f`, with its size, or `None` if it is an I/O BAR, unused, or
/// unassigned. Memory decoding is turned on.
pub fn memory_bar(f: &Function, index: u8) -> Option<Bar> {
    if index > 5 {
        return None;
    }
    let offset = 0x10 + 4 * index;
    let low = read32(f.device, f.function, offset);
    if low & 1 != 0 {
        return None;
    }
    let is64 = (low >> 1) & 3 == 2;
    let high = if is64 && index < 5 {
        read32(f.device, f.function, offset + 4)
    } else {
        0
    };
    // Size: write all ones, read back the writable bits, restore (§6.2.5.1).
    write32(f.device, f.function, offset, u32::MAX);
    let mask_low = read32(f.device, f.function, offset) & !0xf;
    write32(f.device, f.function, offset, low);
    let mask = if is64 && index < 5 {
        write32(f.device, f.function, offset + 4, u32::MAX);
        let mask_high = read32(f.device, f.function, offset + 4);
        write32(f.device, f.function, offset + 4, high);
        (u64::from(mask_high) << 32) | u64::from(mask_low)
    } else {
        u64::from(mask_low) | 0xffff_ffff_0000_0000
    };
    let size = (!mask).wrapping_add(1);
    let address = (u64::from(high) << 32) | u64::from(low & !0xf);
    if address == 0 || size == 0 {
        return None;
    }
    // Command register bit 1: memory space decoding.
    let command = read32(f.device, f.function, 0x04);
    if command & 2 == 0 {
        write32(f.device, f.function, 0x04, command | 2);
    }
    Some(Bar { address, size })
}

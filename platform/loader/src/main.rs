//! A multiboot loader for Hermit unikernel images (the vTPM stub domains under QEMU).
//!
//! QEMU's `-kernel` loads this program (an ELF32 file, Multiboot Specification 0.6.96), the
//! application image comes as the first module (`-initrd`), its arguments in the command line
//! (`-append "… -- ARGS"`). The loader:
//! 1. enters long mode with the low 4 GiB identity-mapped (`start`),
//! 2. reads the memory map and the modules (`multiboot`),
//! 3. loads the application ELF above everything it uses, applying its relocations
//!    (`hermit_entry::elf`),
//! 4. describes the machine in a device tree (RAM as `/memory@…` nodes, ACPI's RSDP as
//!    `/hermit,rsdp`),
//! 5. jumps to the kernel's entry with the boot information (`hermit_entry::boot_info`) in RDI
//!    and CPU number 0 in RSI, RSP at the bottom of a 32 KiB stack (the kernel adds the size).
//!
//! Everything the loader leaves for the kernel (boot information, device tree, command line,
//! stack) lies below the kernel image, where the kernel never hands out memory.
//!
//! A failure is printed on COM1 and ends QEMU through `isa-debug-exit` with status 5.

#![no_std]
#![no_main]

extern crate alloc;

mod heap;
mod multiboot;
#[macro_use]
mod serial;
mod start;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::mem::MaybeUninit;
use core::num::NonZeroU64;

use hermit_entry::boot_info::{
    BootInfo, DeviceTreeAddress, HardwareInfo, PlatformInfo, RawBootInfo, SerialPortBase,
};
use hermit_entry::elf::KernelObject;

/// Where the application is placed: at or above this, 2 MiB-aligned.
const KERNEL_ALIGN: u64 = 2 << 20;

/// The size of the stack handed to the kernel (its `KERNEL_STACK_SIZE`).
const KERNEL_STACK: usize = 0x8000;

#[repr(C, align(4096))]
struct Stack(core::cell::UnsafeCell<[u8; KERNEL_STACK]>);

// SAFETY: the stack is handed to the kernel once, as the loader's last act; nothing else
// touches it.
unsafe impl Sync for Stack {}

/// The stack the kernel starts on (in the loader's .bss, below the kernel).
static KERNEL_STACK_MEM: Stack = Stack(core::cell::UnsafeCell::new([0; KERNEL_STACK]));

unsafe extern "C" {
    static __loader_end: u8;
}

/// Ends QEMU with `isa-debug-exit` (status 2 × value + 1), or halts when the device is absent.
fn exit(value: u8) -> ! {
    serial::outb(0xf4, value);
    loop {
        // SAFETY: `hlt` with interrupts off stops this CPU; nothing else runs.
        unsafe { core::arch::asm!("cli; hlt", options(nomem, nostack)) };
    }
}

#[unsafe(no_mangle)]
extern "C" fn loader_main(magic: u32, info: u32) -> ! {
    serial::init();
    let Err(e) = run(magic, info);
    log!("error: {e}");
    exit(2)
}

/// Finds ACPI's root pointer ("RSD PTR ", 16-byte aligned) in the BIOS area 0xe0000–0xfffff,
/// with a valid checksum over its first 20 bytes.
fn find_rsdp() -> Option<u64> {
    (0xe_0000u64..0x10_0000).step_by(16).find(|&addr| {
        // SAFETY: the BIOS area is identity-mapped RAM/ROM; 20 bytes are read.
        let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, 20) };
        &bytes[..8] == b"RSD PTR " && bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b)) == 0
    })
}

fn run(magic: u32, info_addr: u32) -> Result<core::convert::Infallible, String> {
    if magic != multiboot::MAGIC {
        return Err(format!(
            "not started by a multiboot loader (magic {magic:#x})"
        ));
    }
    let info = multiboot::read(info_addr)?;
    let app = info
        .modules
        .first()
        .ok_or("no application image: give it to QEMU with -initrd")?;
    let elf_len =
        usize::try_from(app.end - app.start).map_err(|_| "the application image is too large")?;
    // SAFETY: the module lies in identity-mapped RAM the multiboot loader filled; it is only
    // read, and nothing writes it while the slice lives (the kernel is loaded above it).
    let elf = unsafe { core::slice::from_raw_parts(app.start as *const u8, elf_len) };
    let object = KernelObject::parse(elf).map_err(|e| format!("application image: {e}"))?;

    // Above the loader (whose arena holds the boot information) and every module.
    // Taking the address of a linker symbol; it is not read.
    let loader_end = core::ptr::addr_of!(__loader_end) as u64;
    let floor = info
        .modules
        .iter()
        .map(|m| m.end)
        .fold(loader_end, u64::max);
    let start = match object.start_addr() {
        Some(fixed) if fixed >= floor => fixed,
        Some(fixed) => {
            return Err(format!(
                "the application wants {fixed:#x}, below the loader's data ({floor:#x})"
            ));
        }
        None => floor.next_multiple_of(KERNEL_ALIGN),
    };
    let size = object.mem_size() as u64;
    let end = start + size;
    if !info.ram.iter().any(|r| r.start <= start && end <= r.end) {
        return Err(format!(
            "no RAM for the application at {start:#x}..{end:#x} ({} KiB): give QEMU more memory",
            size / 1024
        ));
    }
    // SAFETY: `start..end` is usable RAM (checked above), identity-mapped, above the loader
    // and every module, so it aliases nothing the loader still uses.
    let memory = unsafe {
        core::slice::from_raw_parts_mut(start as *mut MaybeUninit<u8>, object.mem_size())
    };
    let loaded = object.load_kernel(memory, start);

    let rsdp = find_rsdp();
    let fdt = device_tree(&info.ram, rsdp).map_err(|e| format!("device tree: {e:?}"))?;
    let fdt_addr = Box::leak(fdt.into_boxed_slice()).as_ptr() as u64;
    let command_line: &'static str = Box::leak(info.command_line.into_boxed_str());
    let phys_start = info.ram.iter().map(|r| r.start).min().unwrap_or(0);
    let phys_end = info.ram.iter().map(|r| r.end).max().unwrap_or(end);
    log!(
        "application {} KiB at {start:#x}, entry {:#x}; RAM up to {} MiB; RSDP {}; args {command_line:?}",
        size / 1024,
        loaded.entry_point,
        phys_end >> 20,
        rsdp.map_or_else(|| String::from("not found"), |a| format!("{a:#x}")),
    );
    let boot_info = BootInfo {
        hardware_info: HardwareInfo {
            phys_addr_range: phys_start..phys_end,
            serial_port_base: SerialPortBase::new(serial::COM1),
            device_tree: DeviceTreeAddress::new(fdt_addr),
        },
        load_info: loaded.load_info,
        platform_info: PlatformInfo::Multiboot {
            command_line: Some(command_line),
            multiboot_info_addr: NonZeroU64::new(u64::from(info_addr))
                .ok_or("no multiboot information address")?,
        },
    };
    let raw: &'static RawBootInfo = Box::leak(Box::new(RawBootInfo::from(boot_info)));
    let stack = KERNEL_STACK_MEM.0.get().cast::<u8>();
    // SAFETY: the entry point is the loaded kernel's `_start`, which takes the boot information
    // in RDI and the CPU number in RSI and never returns; RSP is the bottom of a stack that
    // stays valid (leaked, below the kernel).
    unsafe {
        core::arch::asm!(
            "mov rsp, {stack}",
            "jmp {entry}",
            stack = in(reg) stack,
            entry = in(reg) loaded.entry_point,
            in("rdi") core::ptr::from_ref(raw),
            in("rsi") 0u64,
            options(noreturn)
        )
    }
}

/// The device tree the kernel reads: RAM regions and the RSDP.
fn device_tree(
    ram: &[multiboot::Ram],
    rsdp: Option<u64>,
) -> Result<alloc::vec::Vec<u8>, vm_fdt::Error> {
    let mut fdt = vm_fdt::FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "hermit,multiboot")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    for r in ram {
        let node = fdt.begin_node(&format!("memory@{:x}", r.start))?;
        fdt.property_string("device_type", "memory")?;
        fdt.property_array_u64("reg", &[r.start, r.end - r.start])?;
        fdt.end_node(node)?;
    }
    if let Some(addr) = rsdp {
        let node = fdt.begin_node(&format!("hermit,rsdp@{addr:x}"))?;
        fdt.property_array_u64("reg", &[addr, 20])?;
        fdt.end_node(node)?;
    }
    fdt.end_node(root)?;
    fdt.finish()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    log!("panic: {info}");
    exit(2)
}

//! QEMU's `ivshmem-plain` device (vendor 0x1af4, device 0x1110; QEMU's docs/specs/ivshmem-spec):
//! BAR 2 is a file-backed region the host or another QEMU maps too. The stub domains use them
//! in PCI slot order: the first is the manager's disk, the others are tpmif links.
//!
//! The loader identity-maps the low 4 GiB (3–4 GiB uncached), where SeaBIOS places these BARs;
//! a region outside that window is refused rather than touched.

use core::fmt;

use block::{BlockDevice, SECTOR_SIZE, Sector};

use crate::pci;

/// A region the application may use: identity-mapped, `size` bytes at `address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ivshmem {
    /// The PCI slot on bus 0.
    pub slot: u8,
    /// Physical (= virtual) address of BAR 2.
    pub address: u64,
    /// Its size.
    pub size: u64,
}

impl Ivshmem {
    /// The region as a shared-memory link window.
    ///
    /// # Safety
    ///
    /// Nothing else in this program may access the region while the window lives (the peer
    /// may). `find` has checked that it is identity-mapped.
    pub unsafe fn window(&self) -> shmlink::MemWindow {
        let size = usize::try_from(self.size).unwrap_or(0);
        // SAFETY: the region is mapped for `size` bytes (checked by `find`); exclusivity is the
        // caller's promise.
        unsafe { shmlink::MemWindow::new(self.address as *mut u8, size) }
    }
}

/// The end of the loader's identity map.
const MAPPED_END: u64 = 1 << 32;

/// Every ivshmem-plain device on bus 0, by slot.
pub fn find() -> Result<Vec<Ivshmem>, String> {
    let mut out = Vec::new();
    for f in pci::scan() {
        if f.vendor != 0x1af4 || f.device_id != 0x1110 {
            continue;
        }
        let bar = pci::memory_bar(&f, 2)
            .ok_or_else(|| format!("ivshmem in slot {}: BAR 2 is not assigned", f.device))?;
        if bar
            .address
            .checked_add(bar.size)
            .is_none_or(|end| end > MAPPED_END)
        {
            return Err(format!(
                "ivshmem in slot {}: BAR 2 at {:#x} (+{:#x}) lies outside the identity-mapped 4 GiB",
                f.device, bar.address, bar.size
            ));
        }
        out.push(Ivshmem {
            slot: f.device,
            address: bar.address,
            size: bar.size,
        });
    }
    Ok(out)
}

/// Why a disk access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    /// The sector asked for.
    pub index: u32,
    /// The sectors the disk has.
    pub count: u32,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sector {} is past the disk's {} sectors",
            self.index, self.count
        )
    }
}

/// A block device over an ivshmem region: the manager's disk image, a file on the host that
/// QEMU maps shared. A write is in the host's page cache once the store instruction retires,
/// so it survives the unikernel and QEMU dying; `flush` orders it before later writes (the
/// host file reaches the disk when the host writes back its page cache).
#[derive(Debug)]
pub struct RegionDisk {
    base: *mut u8,
    sectors: u32,
}

// SAFETY: the disk is the exclusive handle to its region (constructor contract); moving it to
// another thread is sound.
unsafe impl Send for RegionDisk {}

impl RegionDisk {
    /// A disk over the region.
    ///
    /// # Safety
    ///
    /// `region` must be mapped readable and writable for its whole size, and nothing else in
    /// this program may access it while the disk lives.
    pub unsafe fn new(region: &Ivshmem) -> Self {
        let sectors = u32::try_from(region.size / SECTOR_SIZE as u64).unwrap_or(u32::MAX);
        Self {
            base: region.address as *mut u8,
            sectors,
        }
    }

    fn sector(&self, index: u32) -> Result<*mut u8, OutOfRange> {
        if index >= self.sectors {
            return Err(OutOfRange {
                index,
                count: self.sectors,
            });
        }
        // SAFETY: index < sectors, so the sector lies inside the region.
        Ok(unsafe { self.base.add(index as usize * SECTOR_SIZE) })
    }
}

impl BlockDevice for RegionDisk {
    type Error = OutOfRange;

    fn sector_count(&self) -> u32 {
        self.sectors
    }

    fn read_sector(&mut self, index: u32, buf: &mut Sector) -> Result<(), OutOfRange> {
        let at = self.sector(index)?;
        // SAFETY: `at` is a whole sector inside the region (checked), which only this disk
        // accesses; `buf` is a distinct local buffer.
        unsafe { core::ptr::copy_nonoverlapping(at, buf.as_mut_ptr(), SECTOR_SIZE) };
        Ok(())
    }

    fn write_sector(&mut self, index: u32, buf: &Sector) -> Result<(), OutOfRange> {
        let at = self.sector(index)?;
        // SAFETY: as for `read_sector`.
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), at, SECTOR_SIZE) };
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OutOfRange> {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

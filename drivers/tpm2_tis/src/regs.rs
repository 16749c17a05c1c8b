//! The FIFO interface's register space and the register-access seam.
//!
//! PTP (TCG PC Client Platform TPM Profile Specification for TPM 2.0, v1.04/v1.05 numbering)
//! §6.5.2 "FIFO Interface" gives each of the five localities its own 4 KiB page of registers at
//! `base + 0x1000 × locality` (base 0xFED4_0000 on PCs). The same layout is the TPM 1.2-era TIS
//! 1.3 register map (TCG PC Client Specific TPM Interface Specification 1.3), which is why the
//! driver is still called "TIS".
//!
//! | Offset | Width | Register | Constants |
//! |---|---|---|---|
//! | 0x000 | 8 | TPM_ACCESS_x | [`access`] |
//! | 0x008 | 32 | TPM_INT_ENABLE_x | [`int`] |
//! | 0x00C | 8 | TPM_INT_VECTOR_x | |
//! | 0x010 | 32 | TPM_INT_STATUS_x (write 1 to clear) | [`int`] |
//! | 0x014 | 32 | TPM_INTF_CAPABILITY_x | [`intf_capability`] |
//! | 0x018 | 32 | TPM_STS_x: status byte, burstCount in bits 8..=23 | [`sts`] |
//! | 0x024 | 8 | TPM_DATA_FIFO_x | |
//! | 0x030 | 32 | TPM_INTERFACE_ID_x | [`interface_id`] |
//! | 0xF00 | 32 | TPM_DID_VID_x: device id in bits 16..=31, vendor id in bits 0..=15 | |
//! | 0xF04 | 8 | TPM_RID_x | |
//!
//! The driver reaches the registers only through [`Registers`]; [`Mmio`] is the real,
//! volatile memory-mapped implementation and `model::TisModel` (feature `model`) a simulated one.

use core::ptr;

/// Number of localities the FIFO interface defines (0 to 4).
pub const LOCALITY_COUNT: u8 = 5;

/// Size of one locality's register page.
pub const LOCALITY_PAGE_SIZE: usize = 0x1000;

/// The conventional physical base of the register window on PC platforms.
pub const PC_BASE_ADDRESS: u64 = 0xFED4_0000;

/// Register offsets within a locality page (PTP §6.5.2).
pub mod offset {
    /// TPM_ACCESS_x: locality request, grant and release (8 bits).
    pub const ACCESS: u16 = 0x00;
    /// TPM_INT_ENABLE_x: interrupt enables (32 bits).
    pub const INT_ENABLE: u16 = 0x08;
    /// TPM_INT_VECTOR_x: the SIRQ number (8 bits).
    pub const INT_VECTOR: u16 = 0x0C;
    /// TPM_INT_STATUS_x: interrupt status, write 1 to clear (32 bits).
    pub const INT_STATUS: u16 = 0x10;
    /// TPM_INTF_CAPABILITY_x: what the interface supports (32 bits).
    pub const INTF_CAPABILITY: u16 = 0x14;
    /// TPM_STS_x: status bits and burstCount (32 bits).
    pub const STS: u16 = 0x18;
    /// TPM_DATA_FIFO_x: command and response bytes (8-bit accesses).
    pub const DATA_FIFO: u16 = 0x24;
    /// TPM_INTERFACE_ID_x: interface type, version and capabilities (32 bits).
    pub const INTERFACE_ID: u16 = 0x30;
    /// TPM_DID_VID_x: device and vendor identifiers (32 bits).
    pub const DID_VID: u16 = 0xF00;
    /// TPM_RID_x: revision identifier (8 bits).
    pub const RID: u16 = 0xF04;
}

/// TPM_ACCESS_x bits (PTP §6.5.2, "TPM_ACCESS_x").
pub mod access {
    /// tpmRegValidSts: the other bits of this register are valid.
    pub const VALID: u8 = 0x80;
    /// activeLocality: read 1 = this locality owns the TPM; write 1 = relinquish it (or withdraw
    /// a pending request).
    pub const ACTIVE_LOCALITY: u8 = 0x20;
    /// beenSeized: a higher locality took the TPM from this one (write 1 to clear).
    pub const BEEN_SEIZED: u8 = 0x10;
    /// Seize: take the TPM from a lower locality (write only).
    pub const SEIZE: u8 = 0x08;
    /// pendingRequest: some other locality is requesting the TPM.
    pub const PENDING_REQUEST: u8 = 0x04;
    /// requestUse: read 1 = this locality's request is pending; write 1 = request the TPM.
    pub const REQUEST_USE: u8 = 0x02;
    /// tpmEstablishment: cleared once a dynamic OS has been launched with locality 4.
    pub const ESTABLISHMENT: u8 = 0x01;
    /// Bits that always read 0 (bit 6 is reserved, Seize is write-only). A read with any of them
    /// set is not a TPM answering (typically a floating bus returning 0xFF).
    pub const READ_ZERO: u8 = 0x48;
}

/// TPM_STS_x bits (PTP §6.5.2.5).
pub mod sts {
    /// stsValid: dataAvail and Expect are valid.
    pub const VALID: u32 = 0x80;
    /// commandReady: read 1 = the TPM is ready for a command; write 1 = go to Ready (abort any
    /// command in reception or execution, discard any response).
    pub const COMMAND_READY: u32 = 0x40;
    /// tpmGo: write 1 = execute the command in the FIFO (reads 0).
    pub const GO: u32 = 0x20;
    /// dataAvail: response bytes are waiting in the FIFO.
    pub const DATA_AVAIL: u32 = 0x10;
    /// Expect: the TPM expects more command bytes.
    pub const EXPECT: u32 = 0x08;
    /// selfTestDone: the TPM's self-test has completed.
    pub const SELF_TEST_DONE: u32 = 0x04;
    /// responseRetry: write 1 = the TPM re-sends the response from its first byte (reads 0).
    pub const RESPONSE_RETRY: u32 = 0x02;
    /// Shift of burstCount, the number of bytes that may be written or read without waiting.
    pub const BURST_COUNT_SHIFT: u32 = 8;
    /// Mask of burstCount after shifting.
    pub const BURST_COUNT_MASK: u32 = 0xFFFF;
    /// commandCancel (write only).
    pub const COMMAND_CANCEL: u32 = 1 << 24;
    /// resetEstablishmentBit (write only).
    pub const RESET_ESTABLISHMENT: u32 = 1 << 25;
    /// Shift of tpmFamily (0 = TPM 1.2, 1 = TPM 2.0).
    pub const FAMILY_SHIFT: u32 = 26;
    /// Bits that always read 0: bit 0 (reserved), responseRetry, tpmGo and bits 28..=31
    /// (reserved). A read with any of them set is not a TPM answering.
    pub const READ_ZERO: u32 = 0xF000_0023;

    /// burstCount of a TPM_STS_x value.
    pub const fn burst_count(sts: u32) -> u16 {
        // The mask keeps 16 bits, so the narrowing cannot lose anything.
        #[allow(clippy::cast_possible_truncation)]
        let burst = ((sts >> BURST_COUNT_SHIFT) & BURST_COUNT_MASK) as u16;
        burst
    }

    /// Whether a TPM_STS_x value could come from a TPM at all (no read-zero bit set).
    pub const fn plausible(sts: u32) -> bool {
        sts & READ_ZERO == 0
    }
}

/// TPM_INT_ENABLE_x and TPM_INT_STATUS_x bits (PTP §6.5.2).
pub mod int {
    /// globalIntEnable (TPM_INT_ENABLE_x only).
    pub const GLOBAL_ENABLE: u32 = 1 << 31;
    /// commandReady interrupt.
    pub const COMMAND_READY: u32 = 0x80;
    /// localityChange interrupt.
    pub const LOCALITY_CHANGE: u32 = 0x04;
    /// stsValid interrupt.
    pub const STS_VALID: u32 = 0x02;
    /// dataAvail interrupt.
    pub const DATA_AVAIL: u32 = 0x01;
    /// Every interrupt source.
    pub const ALL_SOURCES: u32 = COMMAND_READY | LOCALITY_CHANGE | STS_VALID | DATA_AVAIL;
}

/// TPM_INTF_CAPABILITY_x fields (PTP §6.5.2).
pub mod intf_capability {
    /// BurstCountStatic: burstCount does not change while a burst is transferred.
    pub const BURST_COUNT_STATIC: u32 = 1 << 8;
    /// Shift of DataTransferSizeSupport (0 = legacy 1 byte, 1 = 8, 2 = 32, 3 = 64 bytes).
    pub const TRANSFER_SIZE_SHIFT: u32 = 9;
    /// Shift of InterfaceVersion (0 = TIS 1.2, 2 = TIS 1.3, 3 = PTP FIFO for TPM 2.0).
    pub const INTERFACE_VERSION_SHIFT: u32 = 28;
    /// InterfaceVersion value of a PTP FIFO interface for TPM 2.0.
    pub const VERSION_PTP_FIFO: u8 = 3;
}

/// TPM_INTERFACE_ID_x fields (PTP §6.5.2).
pub mod interface_id {
    /// Mask of InterfaceType (bits 0..=3).
    pub const TYPE_MASK: u32 = 0xF;
    /// InterfaceType: FIFO interface as defined by the PTP (TPM 2.0).
    pub const TYPE_FIFO: u8 = 0x0;
    /// InterfaceType: Command Response Buffer interface.
    pub const TYPE_CRB: u8 = 0x1;
    /// InterfaceType: TIS 1.3 FIFO (TPM 1.2); the rest of the register is not implemented.
    pub const TYPE_TIS13: u8 = 0xF;
}

/// Access to the registers of the FIFO interface.
///
/// `offset` is relative to the start of `locality`'s 4 KiB page (see [`offset`]); the 8-bit
/// methods access one byte, the 32-bit ones a naturally aligned little-endian double word. The
/// methods are infallible like the bus they model: an implementation that cannot reach a
/// register reads all ones (what an empty bus returns) and drops the write, which the driver
/// then reports as a missing or broken chip.
pub trait Registers {
    /// Reads the 8-bit register at `offset` of `locality`'s page.
    fn read8(&mut self, locality: u8, offset: u16) -> u8;
    /// Writes the 8-bit register at `offset` of `locality`'s page.
    fn write8(&mut self, locality: u8, offset: u16, value: u8);
    /// Reads the 32-bit register at `offset` of `locality`'s page.
    fn read32(&mut self, locality: u8, offset: u16) -> u32;
    /// Writes the 32-bit register at `offset` of `locality`'s page.
    fn write32(&mut self, locality: u8, offset: u16, value: u32);
    /// Whether `locality`'s page can be reached at all (for example, is mapped). The default
    /// accepts the five localities of the interface.
    fn has_locality(&self, locality: u8) -> bool {
        locality < LOCALITY_COUNT
    }
}

impl<T: Registers + ?Sized> Registers for &mut T {
    fn read8(&mut self, locality: u8, offset: u16) -> u8 {
        (**self).read8(locality, offset)
    }
    fn write8(&mut self, locality: u8, offset: u16, value: u8) {
        (**self).write8(locality, offset, value);
    }
    fn read32(&mut self, locality: u8, offset: u16) -> u32 {
        (**self).read32(locality, offset)
    }
    fn write32(&mut self, locality: u8, offset: u16, value: u32) {
        (**self).write32(locality, offset, value);
    }
    fn has_locality(&self, locality: u8) -> bool {
        (**self).has_locality(locality)
    }
}

/// The register window reached through volatile loads and stores.
///
/// Every access is bounds-checked (locality mapped, offset inside the page, natural alignment)
/// before memory is touched; a rejected read returns all ones and a rejected write is dropped.
/// Registers are little-endian, so values are converted from and to the CPU's byte order.
#[derive(Debug)]
pub struct Mmio {
    base: *mut u8,
    mapped: u8,
}

// SAFETY: `Mmio` is the exclusive handle to the register window (a requirement of its
// constructors); device registers are not tied to the thread that mapped them, so moving the
// handle to another thread is sound. It is not `Sync`: concurrent use needs a lock around it.
unsafe impl Send for Mmio {}

impl Mmio {
    /// A window whose pages for localities `0..localities` are mapped contiguously at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be 4 KiB-aligned and, for every locality `l < min(localities, 5)`, the 4 KiB
    /// at `base + 0x1000 × l` must be mapped as device (uncached) memory that is valid for
    /// volatile 8- and 32-bit reads and writes for as long as the returned value lives. Nothing
    /// else may access those pages while it lives (the returned value is the exclusive handle).
    pub unsafe fn new(base: *mut u8, localities: u8) -> Self {
        let count = localities.min(LOCALITY_COUNT);
        let mapped = u8::try_from((1u16 << count) - 1).unwrap_or(0x1F);
        // SAFETY: the caller's guarantee for `new` covers exactly the pages in `mapped`.
        unsafe { Self::with_mask(base, mapped) }
    }

    /// A window of which only the localities whose bit is set in `mask` are mapped, each at
    /// `base + 0x1000 × locality` (for instance vtpmmgr with `tpmlocality=2` maps only the
    /// third page). Bits 5..=7 of `mask` are ignored.
    ///
    /// # Safety
    ///
    /// `base` must be 4 KiB-aligned and, for every locality `l < 5` whose bit is set in `mask`,
    /// the 4 KiB at `base + 0x1000 × l` must be mapped as device (uncached) memory that is valid
    /// for volatile 8- and 32-bit reads and writes for as long as the returned value lives.
    /// Nothing else may access those pages while it lives.
    pub unsafe fn with_mask(base: *mut u8, mask: u8) -> Self {
        Self {
            base,
            mapped: mask & 0x1F,
        }
    }

    /// The address of a `width`-byte register, or `None` if it is outside the mapped pages or
    /// misaligned.
    fn register(&self, locality: u8, offset: u16, width: usize) -> Option<*mut u8> {
        if locality >= LOCALITY_COUNT || self.mapped & (1 << locality) == 0 {
            return None;
        }
        let offset = usize::from(offset);
        if offset % width != 0 || offset + width > LOCALITY_PAGE_SIZE {
            return None;
        }
        let byte = usize::from(locality) * LOCALITY_PAGE_SIZE + offset;
        // `wrapping_add` keeps this computation free of undefined behaviour; the resulting
        // pointer is only dereferenced under the constructor's guarantee that the page exists.
        let address = self.base.wrapping_add(byte);
        if address.addr() % width != 0 {
            return None;
        }
        Some(address)
    }
}

impl Registers for Mmio {
    fn read8(&mut self, locality: u8, offset: u16) -> u8 {
        match self.register(locality, offset, 1) {
            // SAFETY: `register` checked that the byte lies inside a page the constructor's
            // caller guaranteed to be mapped device memory owned by this handle.
            Some(address) => unsafe { ptr::read_volatile(address) },
            None => 0xFF,
        }
    }

    fn write8(&mut self, locality: u8, offset: u16, value: u8) {
        if let Some(address) = self.register(locality, offset, 1) {
            // SAFETY: as in `read8`.
            unsafe { ptr::write_volatile(address, value) }
        }
    }

    fn read32(&mut self, locality: u8, offset: u16) -> u32 {
        match self.register(locality, offset, 4) {
            // SAFETY: `register` checked that the four bytes lie inside a mapped page owned by
            // this handle and that the address is 4-byte aligned.
            #[allow(clippy::cast_ptr_alignment)]
            Some(address) => u32::from_le(unsafe { ptr::read_volatile(address.cast::<u32>()) }),
            None => u32::MAX,
        }
    }

    fn write32(&mut self, locality: u8, offset: u16, value: u32) {
        if let Some(address) = self.register(locality, offset, 4) {
            // SAFETY: as in `read32`.
            #[allow(clippy::cast_ptr_alignment)]
            unsafe {
                ptr::write_volatile(address.cast::<u32>(), value.to_le());
            }
        }
    }

    fn has_locality(&self, locality: u8) -> bool {
        locality < LOCALITY_COUNT && self.mapped & (1 << locality) != 0
    }
}

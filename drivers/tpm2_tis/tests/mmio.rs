//! `Mmio` against ordinary memory standing in for the register window: addressing, byte order,
//! bounds checks, and the driver's reaction to a window where no TPM answers.

use tpm2_tis::model::SimClock;
use tpm2_tis::regs::{LOCALITY_PAGE_SIZE, offset};
use tpm2_tis::{Error, Mmio, Registers, Tis};

/// One locality page, page-aligned like the real window; a `Vec` of them is a contiguous
/// window.
#[repr(C, align(4096))]
struct Page([u8; LOCALITY_PAGE_SIZE]);

/// Runs `test` with an `Mmio` over five fresh zeroed pages mapped per `mask`, then returns the
/// pages.
fn with_window(mask: u8, prepare: impl FnOnce(&mut [Page]), test: impl FnOnce(Mmio)) -> Vec<Page> {
    let mut pages: Vec<Page> = (0..5).map(|_| Page([0; LOCALITY_PAGE_SIZE])).collect();
    prepare(&mut pages);
    let base = pages.as_mut_ptr().cast::<u8>();
    // SAFETY: `base` points at five live, contiguous, 4 KiB-aligned pages that stay allocated
    // and untouched by anything else until `test` (which owns the `Mmio`) returns.
    let mmio = unsafe { Mmio::with_mask(base, mask) };
    test(mmio);
    pages
}

#[test]
fn registers_land_at_base_plus_page_plus_offset() {
    let pages = with_window(
        0x1F,
        |pages| {
            pages[2].0[0xF00..0xF04].copy_from_slice(&[0x14, 0x10, 0x01, 0x00]);
            pages[3].0[0xF04] = 0x7E;
        },
        |mut mmio| {
            assert_eq!(
                mmio.read32(2, offset::DID_VID),
                0x0001_1014,
                "little-endian"
            );
            assert_eq!(mmio.read8(3, offset::RID), 0x7E);
            mmio.write8(4, offset::DATA_FIFO, 0xAB);
            mmio.write32(1, offset::INT_ENABLE, 0x8000_0001);
            assert!((0..5).all(|l| mmio.has_locality(l)));
            assert!(!mmio.has_locality(5));
        },
    );
    assert_eq!(pages[4].0[0x24], 0xAB);
    assert_eq!(pages[1].0[0x08..0x0C], [0x01, 0x00, 0x00, 0x80]);
}

#[test]
fn out_of_bounds_accesses_touch_nothing() {
    let pages = with_window(
        0b0_0100,
        |pages| pages.iter_mut().for_each(|page| page.0.fill(0x11)),
        |mut mmio| {
            // Unmapped locality, nonexistent locality, past the page, misaligned.
            assert_eq!(mmio.read8(0, offset::ACCESS), 0xFF);
            assert_eq!(mmio.read32(5, offset::DID_VID), u32::MAX);
            assert_eq!(mmio.read8(2, 0x1000), 0xFF);
            assert_eq!(mmio.read32(2, 0xFFE), u32::MAX);
            assert_eq!(mmio.read32(2, 0x19), u32::MAX);
            mmio.write8(0, offset::ACCESS, 0x02);
            mmio.write8(6, offset::ACCESS, 0x02);
            mmio.write32(2, 0x19, 0);
            mmio.write32(2, 0x1000, 0);
            assert!(!mmio.has_locality(0));
            assert!(mmio.has_locality(2));
            // The mapped page is reachable.
            assert_eq!(mmio.read8(2, offset::ACCESS), 0x11);
        },
    );
    assert!(
        pages.iter().all(|page| page.0.iter().all(|&b| b == 0x11)),
        "a rejected write reached memory"
    );
}

#[test]
fn new_maps_a_prefix_of_localities() {
    let base = core::ptr::null_mut::<u8>();
    // SAFETY: only the mapping mask is inspected; no register of these values is accessed.
    let prefix = unsafe { Mmio::new(base, 2) };
    assert!(prefix.has_locality(0) && prefix.has_locality(1));
    assert!(!prefix.has_locality(2));
    // SAFETY: as above.
    let all = unsafe { Mmio::new(base, 200) };
    assert!((0..5).all(|l| all.has_locality(l)));
}

#[test]
fn probe_over_memory_without_a_tpm() {
    with_window(
        0x1F,
        |_| {},
        |mmio| {
            let mut tis = Tis::new(mmio, SimClock::default());
            assert_eq!(tis.probe(), Err(Error::NoDevice { did_vid: 0 }));
        },
    );
    // vtpmmgr with tpmlocality=2 maps only the third page: probing reads that page.
    with_window(
        0b0_0100,
        |pages| pages[2].0[0xF00..0xF04].fill(0xFF),
        |mmio| {
            let mut tis = Tis::new(mmio, SimClock::default());
            assert_eq!(tis.probe(), Err(Error::NoDevice { did_vid: u32::MAX }));
            assert_eq!(
                tis.request_locality(0),
                Err(Error::LocalityUnavailable { locality: 0 })
            );
        },
    );
}

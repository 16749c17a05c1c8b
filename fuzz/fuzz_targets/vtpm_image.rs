//! The vTPM domain's state-image reader (`vtpm_domain::image`): the slot parser on arbitrary
//! bytes, and `Image::load` on a device holding them. Properties: no panic; a parsed slot's
//! blob lies inside the slot and its bytes are exactly header ‖ blob.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_domain::image::{HashKey, Image, SLOT_HEADER_SIZE, parse_slot};
use vtpmmgr::seams::{MemDevice, SECTOR_SIZE};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let index = selector & 1;
    let capacity = [SECTOR_SIZE, 2 * SECTOR_SIZE, 1 << 20][usize::from(selector >> 1) % 3];
    if let Ok(view) = parse_slot(bytes, index, capacity) {
        assert!(view.written.len() <= capacity);
        assert_eq!(view.written.len(), SLOT_HEADER_SIZE + view.blob.len());
        assert_eq!(view.written, &bytes[..view.written.len()]);
    }
    // The same bytes as slot 0 (and, past the first sector, slot 1) of a two-slot device.
    let mut image = bytes.to_vec();
    image.resize(image.len().max(2 * SECTOR_SIZE).next_multiple_of(2 * SECTOR_SIZE), 0);
    let mut img = Image::open(MemDevice::from_image(image)).expect("two sectors or more");
    let key = HashKey::from_bytes(&[0x42; 64]).expect("64 bytes");
    let _ = img.load(&key);
});

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! A registered vTPM must always be able to save its key: VTPM_NEW registers entries with no
//! key (0 bytes), and each later SAVEHASHKEY grows its entry to up to 64 bytes. Probe how many
//! empty entries can be registered so that every one of them can then take a 64-byte key.

mod store_util;

use rand_core::RngCore;
use store_util::*;
use vtpmmgr::Uuid;
use vtpmmgr::store::{StoreError, VtpmRecord};

#[test]
fn registered_vtpms_can_all_save_full_keys() {
    let n: usize = std::env::var("VTPMMGR_RESERVATION_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(22_000);
    let (mut s, mut counter) = formatted();
    let mut r = rng(77);
    let g = s.create_group(uuid(&mut r), b"", &mut counter).unwrap();
    let mut uuids: Vec<Uuid> = Vec::with_capacity(n);
    while uuids.len() < n {
        let u = uuid(&mut r);
        s.insert(VtpmRecord::new(u, g, 0, &[]), &mut counter)
            .unwrap_or_else(|e| panic!("insert {}: {e}", uuids.len()));
        uuids.push(u);
    }
    // Random order of first saves.
    for i in (1..uuids.len()).rev() {
        let j = usize::try_from(r.next_u32()).unwrap() % (i + 1);
        uuids.swap(i, j);
    }
    let full = [0x5a; 64];
    for (i, u) in uuids.iter().enumerate() {
        match s.set_key(u, &full, &mut counter) {
            Ok(()) => {}
            Err(StoreError::Full) => panic!("the image was full after {i} of {n} first saves"),
            Err(e) => panic!("save {i}: {e}"),
        }
    }
    let usage = s.usage();
    println!(
        "{n} registered vTPMs all saved 64-byte keys: {} leaves, {} free sectors",
        usage.leaves, usage.free_sectors
    );
}

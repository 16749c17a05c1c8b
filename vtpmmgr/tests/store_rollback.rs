#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! The rollback rule: an image older than the hardware counter is refused (whole image, or
//! only its roots, or one sector replaced by an older copy); an image ahead of the counter by
//! more than one is refused; exactly one ahead is a lost increment and is rolled forward.

mod store_util;

use std::collections::{BTreeMap, BTreeSet};

use store_util::*;
use vtpmmgr::seams::{MemCounter, MemDevice, SECTOR_SIZE};
use vtpmmgr::store::{SectorRole, StoreError, VtpmRecord};

fn sectors(image: &[u8], range: std::ops::Range<usize>) -> Vec<u8> {
    image[range.start * SECTOR_SIZE..range.end * SECTOR_SIZE].to_vec()
}

#[test]
fn old_images_are_refused_and_a_lost_increment_is_redone() {
    let (mut s, mut counter) = formatted();
    let mut r = rng(30);
    let g = s.create_group(uuid(&mut r), b"", &mut counter).unwrap();
    // Every version of every leaf and index sector (enough commits for the allocator to wrap
    // around the 508 dynamic sectors).
    let mut history: BTreeMap<usize, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for _ in 0..320 {
        s.insert(
            VtpmRecord::new(uuid(&mut r), g, 0, &key(&mut r, 64)),
            &mut counter,
        )
        .unwrap();
        for (i, role) in s.sector_roles().into_iter().enumerate() {
            if matches!(role, SectorRole::Leaf | SectorRole::Index) {
                history
                    .entry(i)
                    .or_default()
                    .insert(sectors(s.device().image(), i..i + 1));
            }
        }
    }
    let old = s.device().image().to_vec();
    let old_counter = counter.value();
    let u = uuid(&mut r);
    s.insert(VtpmRecord::new(u, g, 0, &[1; 52]), &mut counter)
        .unwrap();
    let one_behind = s.device().image().to_vec();
    s.set_key(&u, &[2; 52], &mut counter).unwrap();
    s.delete(&u, &mut counter).unwrap();
    let roles = s.sector_roles();
    let current = s.into_device().into_image();
    let hw = counter.value();
    assert_eq!(hw, old_counter + 3);

    // The whole image put back: three commits behind, then one behind.
    for (image, behind) in [(&old, 3), (&one_behind, 2)] {
        let mut dev = MemDevice::from_image(image.clone());
        let mut c = counter;
        let e = with_open(&mut dev, &mut c, |_, _| ()).unwrap_err();
        assert_eq!(
            e,
            StoreError::RolledBack {
                image: hw - behind,
                hardware: hw
            }
        );
        println!("{e}");
        assert_eq!(dev.writes(), 0);
        assert_eq!(c, counter);
    }

    // Only the two roots put back (newer data sectors kept): refused either way.
    let mut mixed = current.clone();
    mixed[2 * SECTOR_SIZE..4 * SECTOR_SIZE].copy_from_slice(&sectors(&old, 2..4));
    let mut dev = MemDevice::from_image(mixed);
    let mut c = counter;
    let e = with_open(&mut dev, &mut c, |_, _| ()).unwrap_err();
    println!("old roots over new data: {e}");
    assert!(matches!(
        e,
        StoreError::RolledBack { .. } | StoreError::SectorHash { .. }
    ));

    // One sector of the current tree replaced by an older, authentic version of the same
    // sector (written before the allocator wrapped around).
    let leaf = (4..512).find_map(|i| {
        if !matches!(roles[i], SectorRole::Leaf | SectorRole::Index) {
            return None;
        }
        let now = sectors(&current, i..i + 1);
        let older = history.get(&i)?.iter().find(|v| **v != now)?;
        let mut img = current.clone();
        img[i * SECTOR_SIZE..(i + 1) * SECTOR_SIZE].copy_from_slice(older);
        Some((i, img))
    });
    let (i, img) = leaf.expect("a sector of the tree with an older version");
    {
        let mut dev = MemDevice::from_image(img);
        let mut c = counter;
        let e = with_open(&mut dev, &mut c, |_, _| ()).unwrap_err();
        assert!(
            matches!(e, StoreError::SectorHash { sector, .. } if sector == u32::try_from(i).unwrap()),
            "{e}"
        );
    }

    // The counter two or more behind the image: ahead.
    for lag in [2, 5] {
        let mut dev = MemDevice::from_image(current.clone());
        let mut c = MemCounter::new(hw - lag);
        let e = with_open(&mut dev, &mut c, |_, _| ()).unwrap_err();
        assert_eq!(
            e,
            StoreError::CounterAhead {
                image: hw,
                hardware: hw - lag
            }
        );
        assert_eq!(c.value(), hw - lag, "refusing moved the counter");
    }

    // Exactly one behind: the last increment was lost; open redoes it.
    let mut dev = MemDevice::from_image(current.clone());
    let mut c = MemCounter::new(hw - 1);
    with_open(&mut dev, &mut c, |s, report| {
        assert!(report.rolled_forward);
        assert_eq!(report.counter, hw);
        assert_eq!(s.get(&u).unwrap(), None);
    })
    .unwrap();
    assert_eq!(c.value(), hw);
    assert_eq!(dev.writes(), 0);

    // The current image with the current counter opens cleanly.
    let mut dev = MemDevice::from_image(current);
    let mut c = counter;
    with_open(&mut dev, &mut c, |s, report| {
        assert!(!report.rolled_forward && report.damage.is_empty());
        assert_eq!(s.vtpm_count(), 320);
    })
    .unwrap();
}

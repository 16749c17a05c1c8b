#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! Tamper evidence: single-byte changes at 10,000 positions over every kind of sector of a
//! populated image. Every change in a sector in use is detected at open (an error for the
//! current state; a damage entry for the other header copy and the standby root's tree); a
//! change in a free sector changes nothing; nothing panics; open writes nothing.

mod store_util;

use std::collections::BTreeMap;
use std::time::Instant;

use rand_core::RngCore;
use store_util::*;
use vtpmmgr::seams::{MemCounter, MemDevice, SECTOR_SIZE};
use vtpmmgr::store::{DamagedPart, SectorRole, StoreError, VtpmRecord};

/// Flips per kind of sector (10,000 in all).
const PLAN: [(SectorRole, usize); 9] = [
    (SectorRole::Header(0), 600),
    (SectorRole::Header(1), 600),
    (SectorRole::CurrentRoot, 1200),
    (SectorRole::StandbyRoot, 1000),
    (SectorRole::Group, 700),
    (SectorRole::Index, 1400),
    (SectorRole::Leaf, 2000),
    (SectorRole::StandbyOnly, 1000),
    (SectorRole::Free, 1500),
];

struct Image {
    bytes: Vec<u8>,
    counter: MemCounter,
    roles: Vec<SectorRole>,
    baseline: Dump,
}

/// ≥ 2 groups, ≥ 2 index sectors, both roots valid, a standby tree that differs.
fn populated() -> Image {
    let (mut s, mut counter) = formatted();
    let mut r = rng(20);
    let g1 = s
        .create_group(uuid(&mut r), &[1; 300], &mut counter)
        .unwrap();
    let g2 = s
        .create_group(uuid(&mut r), &[2; 40], &mut counter)
        .unwrap();
    s.update_group_kernels(g2, 3, &[[7; 32], [8; 32]], &mut counter)
        .unwrap();
    let mut n = 0u32;
    while s.usage().index_sectors < 2 {
        let g = if n % 3 == 0 { g2 } else { g1 };
        let len = [64, 52, 0, 33][usize::try_from(n % 4).unwrap()];
        s.insert(
            VtpmRecord::new(uuid(&mut r), g, 0, &key(&mut r, len)),
            &mut counter,
        )
        .unwrap();
        n += 1;
    }
    // A last insert, so that the standby tree has sectors of its own.
    s.insert(VtpmRecord::new(uuid(&mut r), g1, 1, &[9; 64]), &mut counter)
        .unwrap();
    let roles = s.sector_roles();
    let baseline = dump(&mut s);
    println!("tamper image: {n} vTPMs, {:?}", s.usage());
    Image {
        bytes: s.into_device().into_image(),
        counter,
        roles,
        baseline,
    }
}

enum Outcome {
    Refused(StoreError),
    Opened {
        damage: Vec<DamagedPart>,
        same: bool,
    },
}

/// read_header + open on the image, as the manager does.
fn try_open(dev: &mut MemDevice, counter: MemCounter, full_dump: bool, want: &Dump) -> Outcome {
    let mut c = counter;
    dev.reset_counts();
    let r = with_open(dev, &mut c, |s, report| {
        let same = if full_dump {
            dump(s) == *want
        } else {
            s.groups() == &want.groups[..] && s.vtpm_count() == want.count
        };
        (
            report.damage.iter().map(|d| d.part).collect::<Vec<_>>(),
            same,
        )
    });
    assert_eq!(dev.writes(), 0, "open wrote to the device");
    assert_eq!(c, counter, "open moved the counter");
    match r {
        Ok((damage, same)) => Outcome::Opened { damage, same },
        Err(e) => Outcome::Refused(e),
    }
}

#[test]
fn single_byte_changes_anywhere_are_detected() {
    let img = populated();
    let mut by_role: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (s, role) in img.roles.iter().enumerate() {
        by_role
            .entry(format!("{role:?}"))
            .or_default()
            .push(u32::try_from(s).unwrap());
    }
    for (role, _) in PLAN {
        let n = by_role.get(&format!("{role:?}")).map_or(0, Vec::len);
        assert!(n > 0, "the image has no {role:?} sector");
        println!("{role:?}: {n} sector(s)");
    }
    // The clean image opens without damage.
    let mut dev = MemDevice::from_image(img.bytes.clone());
    match try_open(&mut dev, img.counter, true, &img.baseline) {
        Outcome::Opened { damage, same } => assert!(damage.is_empty() && same),
        Outcome::Refused(e) => panic!("clean image refused: {e}"),
    }

    let mut jobs = Vec::new();
    let mut r = rng(21);
    for (role, count) in PLAN {
        let sectors = &by_role[&format!("{role:?}")];
        for i in 0..count {
            let sector = sectors[usize::try_from(r.next_u32()).unwrap() % sectors.len()];
            // Every tenth position is in the first or last 48 bytes (tags, nonces, kinds).
            let offset = match i % 10 {
                0 => usize::try_from(r.next_u32() % 48).unwrap(),
                1 => SECTOR_SIZE - 1 - usize::try_from(r.next_u32() % 48).unwrap(),
                _ => usize::try_from(r.next_u32()).unwrap() % SECTOR_SIZE,
            };
            let mask = u8::try_from(r.next_u32() % 255 + 1).unwrap();
            jobs.push((role, sector, offset, mask, i % 10 == 2));
        }
    }
    assert!(jobs.len() >= 10_000);

    let start = Instant::now();
    let threads = 2;
    let chunk = jobs.len().div_ceil(threads);
    let mut tallies: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let img = &img;
                scope.spawn(move || {
                    let mut dev = MemDevice::from_image(img.bytes.clone());
                    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
                    for &(role, sector, offset, mask, full) in part {
                        let at = usize::try_from(sector).unwrap() * SECTOR_SIZE + offset;
                        dev.image_mut()[at] ^= mask;
                        let outcome = try_open(&mut dev, img.counter, full, &img.baseline);
                        dev.image_mut()[at] ^= mask;
                        let what = format!("{role:?} sector {sector} byte {offset} ^{mask:#04x}");
                        let kind = match (role, &outcome) {
                            (SectorRole::Free, Outcome::Opened { damage, same }) => {
                                assert!(damage.is_empty(), "{what}: {damage:?}");
                                assert!(same, "{what}: contents changed");
                                "unchanged"
                            }
                            (SectorRole::Free, Outcome::Refused(e)) => {
                                panic!("{what}: refused: {e}")
                            }
                            (SectorRole::Header(c), Outcome::Opened { damage, same }) => {
                                assert!(same, "{what}");
                                assert!(
                                    damage.contains(&DamagedPart::HeaderCopy(c)),
                                    "{what}: {damage:?}"
                                );
                                "damage"
                            }
                            (SectorRole::StandbyRoot, Outcome::Opened { damage, same }) => {
                                assert!(same, "{what}");
                                assert!(
                                    damage.contains(&DamagedPart::StandbyRoot),
                                    "{what}: {damage:?}"
                                );
                                "damage"
                            }
                            (SectorRole::StandbyOnly, Outcome::Opened { damage, same }) => {
                                assert!(same, "{what}");
                                assert!(
                                    damage.contains(&DamagedPart::StandbyTree),
                                    "{what}: {damage:?}"
                                );
                                "damage"
                            }
                            (
                                SectorRole::CurrentRoot
                                | SectorRole::Group
                                | SectorRole::Index
                                | SectorRole::Leaf,
                                Outcome::Refused(_),
                            ) => "refused",
                            (_, Outcome::Refused(e)) => panic!("{what}: refused: {e}"),
                            (_, Outcome::Opened { damage, .. }) => {
                                panic!("{what}: not detected (damage {damage:?})")
                            }
                        };
                        let t = tally.entry(format!("{role:?} {kind}")).or_default();
                        t.0 += 1;
                        if full {
                            t.1 += 1;
                        }
                    }
                    tally
                })
            })
            .collect();
        for h in handles {
            for (k, (n, f)) in h.join().expect("worker panicked") {
                let t = tallies.entry(k).or_default();
                t.0 += n;
                t.1 += f;
            }
        }
    });
    for (k, (n, f)) in &tallies {
        println!("{k}: {n} ({f} with a full dump)");
    }
    println!(
        "{} single-byte changes checked in {:.1} s",
        jobs.len(),
        start.elapsed().as_secs_f64()
    );
}

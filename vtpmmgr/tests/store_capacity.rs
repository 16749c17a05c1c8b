#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! Capacity and speed of the store on its 2 MiB image: random-UUID vTPMs inserted in random
//! order until the image is full (64-byte and 52-byte keys), then look-ups, key updates and the
//! time to open the full image. Figures are printed (docs/disk-format.md, "Capacity").

mod store_util;

use std::time::{Duration, Instant};

use rand_core::RngCore;

use store_util::*;
use vtpmmgr::Uuid;
use vtpmmgr::seams::{MemCounter, MemDevice};
use vtpmmgr::store::{Store, StoreError, VtpmRecord};

/// Xen's figure for its format (shared/reference/xen-vtpm.md §4.12).
const XEN_CAPACITY: usize = 23_760;

fn fill(key_len: usize, seed: u64) -> (Store<MemDevice>, MemCounter, Vec<Uuid>) {
    let (mut s, mut counter) = formatted();
    let mut r = rng(seed);
    let g = s.create_group(uuid(&mut r), b"", &mut counter).unwrap();
    let mut uuids = Vec::new();
    let start = Instant::now();
    loop {
        let u = uuid(&mut r);
        match s.insert(
            VtpmRecord::new(u, g, 0, &key(&mut r, key_len)),
            &mut counter,
        ) {
            Ok(()) => uuids.push(u),
            Err(StoreError::Full) => break,
            Err(e) => panic!("insert {}: {e}", uuids.len()),
        }
    }
    let took = start.elapsed();
    let u = s.usage();
    let writes = u32::try_from(s.device().writes()).unwrap();
    println!(
        "{key_len}-byte keys: {} vTPMs until Full ({} leaves, {} index sectors, {} group sectors, \
         {} free sectors, leaf fill {:.1} %); {:.0} µs and {:.2} sector writes per insert",
        uuids.len(),
        u.leaves,
        u.index_sectors,
        u.group_sectors,
        u.free_sectors,
        f64::from(u32::try_from(u.fill_permille()).unwrap()) / 10.0,
        per(took, uuids.len()),
        f64::from(writes) / f64::from(u32::try_from(uuids.len()).unwrap()),
    );
    (s, counter, uuids)
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(u32::try_from(n.max(1)).unwrap())
}

#[test]
fn capacity_and_speed() {
    let (s, mut counter, uuids) = fill(64, 10);
    assert!(
        uuids.len() >= 20_000,
        "only {} vTPMs with 64-byte keys",
        uuids.len()
    );
    assert_eq!(usize::try_from(s.vtpm_count()).unwrap(), uuids.len());

    // 1,000 random look-ups and key updates.
    let mut r = rng(11);
    let picks: Vec<Uuid> = (0..1000)
        .map(|_| uuids[usize::try_from(r.next_u32()).unwrap() % uuids.len()])
        .collect();
    let mut dev = s.into_device();
    let (ms, damage) = with_open_timed(&mut dev, &mut counter);
    println!("open of the full image (every sector verified): {ms:.1} ms, damage {damage}");
    let (mut s, _) = open_owned(dev, &mut counter).unwrap();
    let reads_before = s.device().reads();
    let start = Instant::now();
    for u in &picks {
        assert!(s.get(u).unwrap().is_some());
    }
    let took = start.elapsed();
    let reads = s.device().reads() - reads_before;
    println!(
        "look-up: {:.2} sector reads and {:.0} µs each",
        f64::from(u32::try_from(reads).unwrap()) / 1000.0,
        per(took, 1000)
    );
    assert_eq!(reads, 1000, "one sector read per look-up");
    let start = Instant::now();
    for (i, u) in picks.iter().enumerate() {
        s.set_key(u, &[u8::try_from(i % 256).unwrap(); 64], &mut counter)
            .unwrap();
    }
    println!(
        "key update (same length): {:.0} µs each",
        per(start.elapsed(), 1000)
    );

    // A full image still accepts deletes, and inserts after them.
    for u in &uuids[..10] {
        s.delete(u, &mut counter).unwrap();
    }
    let g = s.groups()[0].id;
    s.insert(VtpmRecord::new(uuids[0], g, 0, &[1; 64]), &mut counter)
        .unwrap();
    let mut dev = s.into_device();
    with_open(&mut dev, &mut counter, |s, report| {
        assert!(report.damage.is_empty());
        assert_eq!(usize::try_from(s.vtpm_count()).unwrap(), uuids.len() - 9);
    })
    .unwrap();

    let (_, _, uuids52) = fill(52, 12);
    println!(
        "52-byte keys: {} vTPMs against Xen's {XEN_CAPACITY} (48 slots per sector)",
        uuids52.len()
    );
    assert!(
        uuids52.len() > XEN_CAPACITY,
        "only {} vTPMs with 52-byte keys",
        uuids52.len()
    );
}

fn with_open_timed(dev: &mut MemDevice, counter: &mut MemCounter) -> (f64, String) {
    let start = Instant::now();
    let report = with_open(dev, counter, |_, r| format!("{:?}", r.damage)).unwrap();
    (start.elapsed().as_secs_f64() * 1e3, report)
}

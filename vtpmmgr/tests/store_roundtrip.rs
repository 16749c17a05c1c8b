#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! The store keeps what it is given: groups and vTPMs with keys of several lengths, updates and
//! deletes, each checked entry by entry after reopening; every refusal names its reason; a
//! failed counter increment poisons the store and the reopen rolls forward.

mod store_util;

use std::collections::BTreeMap;

use store_util::*;
use vtpmmgr::Uuid;
use vtpmmgr::seams::{MemCounter, MemDevice, MonotonicCounter, SECTOR_COUNT};
use vtpmmgr::store::{
    GroupRecord, HeaderState, MAX_GROUPS, SectorKind, Store, StoreError, VtpmRecord, read_header,
};

const KEY_LENGTHS: [usize; 7] = [0, 1, 20, 32, 52, 63, 64];

/// Checks the reopened image against the model: the dump, every `get`, and `list` of every
/// group whole and in pages.
fn check(
    dev: &mut MemDevice,
    counter: &mut MemCounter,
    groups: &[GroupRecord],
    vtpms: &BTreeMap<Uuid, VtpmRecord>,
) {
    let want = model_dump(groups, vtpms);
    with_open(dev, counter, |s, report| {
        assert!(report.damage.is_empty(), "{:?}", report.damage);
        assert_eq!(dump(s), want);
        for (u, r) in vtpms {
            assert_eq!(s.get(u).unwrap().as_ref(), Some(r));
        }
        assert_eq!(s.get(&Uuid([0xee; 16])).unwrap(), None);
        for g in &want.groups {
            let all: Vec<Uuid> = vtpms
                .values()
                .filter(|v| v.group == g.id)
                .map(|v| v.uuid)
                .collect();
            assert_eq!(s.list(g.id, 0, usize::MAX).unwrap(), all);
            let mut paged = Vec::new();
            loop {
                let page = s.list(g.id, paged.len(), 7).unwrap();
                if page.is_empty() {
                    break;
                }
                assert!(page.len() <= 7);
                paged.extend(page);
            }
            assert_eq!(paged, all);
        }
        assert_eq!(s.list(9999, 0, 10), Err(StoreError::GroupNotFound(9999)));
    })
    .expect("open");
}

#[test]
fn round_trip_groups_vtpms_updates_deletes() {
    let (mut s, mut counter) = formatted();
    let mut r = rng(2);
    let mut groups: Vec<GroupRecord> = Vec::new();
    let mut vtpms: BTreeMap<Uuid, VtpmRecord> = BTreeMap::new();

    // Three groups, one with kernels and attestation blobs.
    for i in 0..3u8 {
        let u = uuid(&mut r);
        let attest = vec![i; usize::from(i) * 100];
        let id = s.create_group(u, &attest, &mut counter).unwrap();
        groups.push(GroupRecord {
            id,
            uuid: u,
            kernel_seq: 0,
            kernels: vec![],
            attest,
            vtpm_count: 0,
        });
    }
    assert_eq!(groups.iter().map(|g| g.id).collect::<Vec<_>>(), [1, 2, 3]);
    let kernels: Vec<[u8; 32]> = (0..16u8).map(|i| [i; 32]).collect();
    s.update_group_kernels(2, 5, &kernels, &mut counter)
        .unwrap();
    groups[1].kernel_seq = 5;
    groups[1].kernels = kernels.clone();
    s.set_group_attest(3, &[9u8; 1024], &mut counter).unwrap();
    groups[2].attest = vec![9u8; 1024];

    // vTPMs with keys of every interesting length, in random order.
    for i in 0..400usize {
        let rec = VtpmRecord::new(
            uuid(&mut r),
            groups[i % 3].id,
            u16::try_from(i).unwrap(),
            &key(&mut r, KEY_LENGTHS[i % KEY_LENGTHS.len()]),
        );
        s.insert(rec.clone(), &mut counter).unwrap();
        vtpms.insert(rec.uuid, rec);
    }
    assert_eq!(s.vtpm_count(), 400);
    assert_eq!(counter.value(), s.counter_value());
    assert_eq!(dump(&mut s), model_dump(&groups, &vtpms));
    let usage = s.usage();
    println!("400 vTPMs: {usage:?}, fill {}‰", usage.fill_permille());
    assert!(usage.leaves >= 5, "{usage:?}");

    let mut dev = s.into_device();
    check(&mut dev, &mut counter, &groups, &vtpms);

    // Key updates (growing, shrinking, emptying), deletes, a group emptied and deleted.
    let (mut s, _) = open_owned(dev, &mut counter).unwrap();
    let uuids: Vec<Uuid> = vtpms.keys().copied().collect();
    for (i, u) in uuids.iter().enumerate().step_by(3) {
        let k = key(&mut r, KEY_LENGTHS[(i * 5) % KEY_LENGTHS.len()]);
        s.set_key(u, &k, &mut counter).unwrap();
        vtpms.get_mut(u).unwrap().key = zeroize::Zeroizing::new(k);
    }
    for u in uuids.iter().skip(1).step_by(4) {
        s.delete(u, &mut counter).unwrap();
        vtpms.remove(u);
    }
    let in_group_1: Vec<Uuid> = vtpms
        .values()
        .filter(|v| v.group == 1)
        .map(|v| v.uuid)
        .collect();
    assert_eq!(
        s.delete_group(1, &mut counter),
        Err(StoreError::GroupNotEmpty {
            id: 1,
            vtpms: u32::try_from(in_group_1.len()).unwrap()
        })
    );
    for u in &in_group_1 {
        s.delete(u, &mut counter).unwrap();
        vtpms.remove(u);
    }
    s.delete_group(1, &mut counter).unwrap();
    groups.remove(0);
    let id4 = s.create_group(uuid(&mut r), b"new", &mut counter).unwrap();
    assert_eq!(id4, 4, "ids are never reused");
    groups.push(GroupRecord {
        id: 4,
        uuid: s.group(4).unwrap().uuid,
        kernel_seq: 0,
        kernels: vec![],
        attest: b"new".to_vec(),
        vtpm_count: 0,
    });
    assert_eq!(dump(&mut s), model_dump(&groups, &vtpms));
    let mut dev = s.into_device();
    check(&mut dev, &mut counter, &groups, &vtpms);

    // Delete everything: the tree shrinks back to the group sectors.
    let (mut s, _) = open_owned(dev, &mut counter).unwrap();
    let rest: Vec<Uuid> = vtpms.keys().copied().collect();
    for u in &rest {
        s.delete(u, &mut counter).unwrap();
    }
    vtpms.clear();
    let usage = s.usage();
    assert_eq!((usage.leaves, usage.index_sectors, usage.vtpms), (0, 0, 0));
    let mut dev = s.into_device();
    check(&mut dev, &mut counter, &groups, &vtpms);
}

#[test]
fn refusals_name_their_reason_and_write_nothing() {
    let (mut s, mut counter) = formatted();
    let mut r = rng(3);
    let g = s.create_group(Uuid([1; 16]), b"", &mut counter).unwrap();
    let u = uuid(&mut r);
    s.insert(VtpmRecord::new(u, g, 0, &[1; 64]), &mut counter)
        .unwrap();
    let before = dump(&mut s);
    let seq = s.sequence();

    assert_eq!(
        s.insert(VtpmRecord::new(u, g, 0, &[]), &mut counter),
        Err(StoreError::VtpmExists(u))
    );
    assert_eq!(
        s.insert(VtpmRecord::new(uuid(&mut r), 77, 0, &[]), &mut counter),
        Err(StoreError::GroupNotFound(77))
    );
    assert!(matches!(
        s.insert(VtpmRecord::new(uuid(&mut r), g, 0, &[0; 65]), &mut counter),
        Err(StoreError::Limit {
            max: 64,
            got: 65,
            ..
        })
    ));
    assert!(matches!(
        s.set_key(&u, &[0; 65], &mut counter),
        Err(StoreError::Limit {
            max: 64,
            got: 65,
            ..
        })
    ));
    let missing = Uuid([0x77; 16]);
    assert_eq!(
        s.set_key(&missing, &[1], &mut counter),
        Err(StoreError::VtpmNotFound(missing))
    );
    assert_eq!(
        s.delete(&missing, &mut counter),
        Err(StoreError::VtpmNotFound(missing))
    );
    assert_eq!(
        s.create_group(Uuid([1; 16]), b"", &mut counter),
        Err(StoreError::GroupExists(Uuid([1; 16])))
    );
    assert!(matches!(
        s.create_group(Uuid([2; 16]), &[0; 1025], &mut counter),
        Err(StoreError::Limit { max: 1024, .. })
    ));
    assert!(matches!(
        s.update_group_kernels(g, 1, &[[0; 32]; 17], &mut counter),
        Err(StoreError::Limit {
            max: 16,
            got: 17,
            ..
        })
    ));
    assert!(matches!(
        s.set_group_attest(g, &[0; 1025], &mut counter),
        Err(StoreError::Limit { max: 1024, .. })
    ));
    assert_eq!(
        s.delete_group(99, &mut counter),
        Err(StoreError::GroupNotFound(99))
    );
    assert_eq!(
        s.delete_group(g, &mut counter),
        Err(StoreError::GroupNotEmpty { id: g, vtpms: 1 })
    );
    assert_eq!(s.sequence(), seq, "a refused change commits nothing");
    assert_eq!(dump(&mut s), before);

    // 64 groups at most, even when each is as large as allowed (two per group sector).
    for i in 1..MAX_GROUPS {
        let id = s
            .create_group(
                Uuid([u8::try_from(i).unwrap() + 1; 16]),
                &[3; 1024],
                &mut counter,
            )
            .unwrap();
        s.update_group_kernels(id, 1, &[[4; 32]; 16], &mut counter)
            .unwrap();
    }
    assert!(matches!(
        s.create_group(Uuid([0xff; 16]), b"", &mut counter),
        Err(StoreError::Limit { max: 64, .. })
    ));
    println!("64 full-size groups: {:?}", s.usage());
    assert!(s.usage().group_sectors <= 33);
    let groups = s.groups().to_vec();
    let mut dev = s.into_device();
    with_open(&mut dev, &mut counter, |s, _| {
        assert_eq!(s.groups(), &groups[..]);
    })
    .unwrap();
}

#[test]
fn headers_blank_foreign_version_wrong_key_too_small() {
    let mut counter = MemCounter::new(0);
    let mut blank = MemDevice::new(SECTOR_COUNT);
    assert_eq!(read_header(&mut blank), Ok(HeaderState::Blank));
    assert_eq!(
        read_header(&mut MemDevice::new(100)),
        Err(StoreError::DeviceTooSmall { sectors: 100 })
    );

    let (s, mut counter2) = formatted();
    let mut dev = s.into_device();
    let HeaderState::Formatted(copies) = read_header(&mut dev).unwrap() else {
        panic!("not formatted")
    };
    assert_eq!(copies.len(), 1, "identical copies are listed once");
    assert_eq!(copies[0].copy, 0);
    assert_eq!(copies[0].manager_uuid, MANAGER);
    assert_eq!(copies[0].binding, BINDING);

    // Formatting again is refused.
    assert!(matches!(
        Store::format(
            &mut dev,
            MANAGER,
            b"",
            &root_key(),
            &mut counter,
            &mut rng(4)
        ),
        Err(StoreError::NotBlank)
    ));
    // The wrong root key.
    let wrong = vtpmmgr::store::RootKey::from_slice(&[1; 32]).unwrap();
    assert!(matches!(
        Store::open(&mut dev, &copies[0], &wrong, &mut counter2, &mut rng(5)),
        Err(StoreError::HeaderMac { copy: 0 })
    ));

    // A different header in copy B is listed second and reported as damage.
    let mut other = dev.clone();
    other.image_mut()[4096 + 40] ^= 1; // inside the binding
    let HeaderState::Formatted(copies2) = read_header(&mut other).unwrap() else {
        panic!()
    };
    assert_eq!(copies2.len(), 2);
    assert_eq!(copies2[1].copy, 1);
    let mut c = counter2;
    let (_, report) =
        Store::open(&mut other, &copies2[0], &root_key(), &mut c, &mut rng(6)).unwrap();
    assert_eq!(report.damage.len(), 1);
    assert_eq!(
        report.damage[0].error,
        StoreError::HeaderDiffers { copy: 1 }
    );
    println!("{}", report.damage[0]);
    let mut c = counter2;
    assert!(matches!(
        Store::open(&mut other, &copies2[1], &root_key(), &mut c, &mut rng(6)),
        Err(StoreError::HeaderMac { copy: 1 })
    ));

    // Foreign (Xen's magic) and a future version.
    let mut xen = MemDevice::new(SECTOR_COUNT);
    for c in 0..2 {
        xen.image_mut()[c * 4096..c * 4096 + 12].copy_from_slice(b"TPM\xfeMGR\xddDOM\0");
    }
    assert_eq!(read_header(&mut xen), Err(StoreError::Foreign));
    let mut v2 = dev.clone();
    for c in 0..2 {
        v2.image_mut()[c * 4096 + 11] = 2;
    }
    assert_eq!(
        read_header(&mut v2),
        Err(StoreError::UnsupportedVersion { version: 2 })
    );
    let mut torn = dev.clone();
    for c in 0..2 {
        torn.image_mut()[c * 4096 + 4000] = 1;
    }
    assert!(matches!(
        read_header(&mut torn),
        Err(StoreError::HeaderMalformed { copy: 0, .. })
    ));
    // Open on a formatted header but no root at all.
    let mut noroot = dev.clone();
    noroot.image_mut()[2 * 4096..4 * 4096].fill(0);
    let mut c = counter2;
    assert_eq!(
        Store::open(&mut noroot, &copies[0], &root_key(), &mut c, &mut rng(7)).err(),
        Some(StoreError::NoRoot)
    );
    let _ = SectorKind::Root;
}

/// A counter whose next increment fails or returns the wrong value.
struct Faulty {
    inner: MemCounter,
    mode: u8,
}

impl MonotonicCounter for Faulty {
    type Error = &'static str;
    fn read(&mut self) -> Result<u64, &'static str> {
        Ok(self.inner.value())
    }
    fn increment(&mut self) -> Result<u64, &'static str> {
        match self.mode {
            1 => Err("TPM_RC_NV_UNAVAILABLE"),
            2 => {
                self.inner.increment().unwrap();
                Ok(self.inner.increment().unwrap())
            }
            _ => Ok(self.inner.increment().unwrap()),
        }
    }
}

#[test]
fn counter_failure_poisons_and_reopen_rolls_forward() {
    let (mut s, counter) = formatted();
    let mut f = Faulty {
        inner: counter,
        mode: 0,
    };
    let g = s.create_group(Uuid([1; 16]), b"", &mut f).unwrap();
    let u = Uuid([5; 16]);
    f.mode = 1;
    let err = s
        .insert(VtpmRecord::new(u, g, 0, &[1; 52]), &mut f)
        .unwrap_err();
    assert!(matches!(err, StoreError::Poisoned { .. }), "{err}");
    println!("{err}");
    f.mode = 0;
    assert!(matches!(
        s.delete(&u, &mut f),
        Err(StoreError::Poisoned { .. })
    ));
    assert!(s.poisoned().is_some());
    // The commit reached the disk; the counter did not move: reopening rolls forward.
    let mut counter = f.inner;
    let hw = counter.value();
    let mut dev = s.into_device();
    with_open(&mut dev, &mut counter, |s, report| {
        assert!(report.rolled_forward);
        assert_eq!(report.counter, hw + 1);
        assert_eq!(s.get(&u).unwrap().unwrap().key.len(), 52);
    })
    .unwrap();
    assert_eq!(counter.value(), hw + 1);

    // An increment that skips a value also poisons.
    let (mut s, _) = open_owned(dev, &mut counter).unwrap();
    let mut f = Faulty {
        inner: counter,
        mode: 2,
    };
    assert!(matches!(
        s.set_key(&u, &[2; 8], &mut f),
        Err(StoreError::Poisoned { .. })
    ));
    // The image now expects one less than the counter holds: refused as rolled back.
    let mut counter = f.inner;
    let mut dev = s.into_device();
    assert!(matches!(
        with_open(&mut dev, &mut counter, |_, _| ()),
        Err(StoreError::RolledBack { .. })
    ));
}

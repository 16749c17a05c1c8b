//! The manager's store image (`vtpmmgr::store`, docs/disk-format.md). Each input is either
//! (first byte even) raw bytes for the header parser and the decoders of every sector payload,
//! or (first byte odd) a list of patches `(sector u16 LE, offset u16 LE, length u8, bytes)`
//! applied to a copy of a valid small image built once with a fixed root key, followed by
//! read_header, open with each header copy, and every read (groups, list, get, scan). Property:
//! no panic; a refused image writes nothing.
#![no_main]

use std::cell::RefCell;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vtpm_domain::engine::crypto::CtrDrbg;
use vtpmmgr::Uuid;
use vtpmmgr::seams::{MemCounter, MemDevice, SECTOR_COUNT, SECTOR_SIZE};
use vtpmmgr::store::inspect::{decode_payload, open_sector};
use vtpmmgr::store::{
    HeaderState, RootKey, SectorKind, Store, VtpmRecord, parse_header_sector, read_header,
};

fn key() -> RootKey {
    RootKey::from_slice(&[0x42; 32]).expect("32 bytes")
}

fn rng(seed: u8) -> CtrDrbg {
    CtrDrbg::instantiate(&[seed; 32], b"disk fuzz", b"")
}

/// Two groups (one with kernels and attestation blobs), 150 vTPMs in several leaves, some
/// updated and deleted: both roots valid.
fn image() -> &'static (Vec<u8>, u64) {
    static IMAGE: OnceLock<(Vec<u8>, u64)> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let mut counter = MemCounter::new(5);
        let mut r = rng(1);
        let mut s = Store::format(
            MemDevice::new(SECTOR_COUNT),
            Uuid([0xab; 16]),
            b"binding",
            &key(),
            &mut counter,
            &mut r,
        )
        .expect("format");
        let g1 = s
            .create_group(Uuid([1; 16]), &[1; 100], &mut counter)
            .expect("group");
        let g2 = s
            .create_group(Uuid([2; 16]), b"", &mut counter)
            .expect("group");
        s.update_group_kernels(g1, 2, &[[3; 32]; 4], &mut counter)
            .expect("kernels");
        for i in 0..150u32 {
            let mut u = [0u8; 16];
            u[..4].copy_from_slice(&i.wrapping_mul(0x9e37_79b9).to_be_bytes());
            let len = usize::try_from(i % 65).unwrap_or(0);
            let g = if i % 4 == 0 { g2 } else { g1 };
            s.insert(VtpmRecord::new(Uuid(u), g, 0, &vec![7; len]), &mut counter)
                .expect("insert");
        }
        let some = s.list(g1, 10, 3).expect("list");
        for u in &some {
            s.set_key(u, &[9; 64], &mut counter).expect("set_key");
        }
        s.delete(&some[0], &mut counter).expect("delete");
        (s.into_device().into_image(), counter.value())
    })
}

fn raw(data: &[u8]) {
    let mut sector = [0u8; SECTOR_SIZE];
    let n = data.len().min(SECTOR_SIZE);
    sector[..n].copy_from_slice(&data[..n]);
    let _ = parse_header_sector(0, &sector).map(|h| format!("{h:?}"));
    for kind in [
        SectorKind::Root,
        SectorKind::Group,
        SectorKind::Index,
        SectorKind::Leaf,
    ] {
        let _ = decode_payload(kind, data).map(|p| format!("{p:?}"));
    }
    let index = 2 + u32::try_from(data.len() % 510).unwrap_or(0);
    let _ = open_sector(&key(), index, &sector).map_err(|e| e.to_string());
}

thread_local! {
    /// A working copy of the image, restored after each input (cheaper than a 2 MiB copy).
    static WORK: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

fn patched(data: &[u8]) {
    let (base, value) = image();
    let mut img = WORK
        .with(|w| w.borrow_mut().take())
        .unwrap_or_else(|| base.clone());
    let mut touched = Vec::new();
    let mut rest = data;
    while let [s0, s1, o0, o1, len, tail @ ..] = rest {
        let sector = usize::from(u16::from_le_bytes([*s0, *s1])) % 512;
        let offset = usize::from(u16::from_le_bytes([*o0, *o1])) % SECTOR_SIZE;
        let n = usize::from(*len).min(tail.len()).min(SECTOR_SIZE - offset);
        let at = sector * SECTOR_SIZE + offset;
        img[at..at + n].copy_from_slice(&tail[..n]);
        touched.push(at..at + n);
        rest = &tail[n..];
    }
    let mut dev = MemDevice::from_image(img);
    check(&mut dev, *value);
    let mut img = dev.into_image();
    for r in touched {
        img[r.clone()].copy_from_slice(&base[r]);
    }
    WORK.with(|w| *w.borrow_mut() = Some(img));
}

fn check(dev: &mut MemDevice, value: u64) {
    let Ok(HeaderState::Formatted(copies)) = read_header(dev) else {
        return;
    };
    for copy in &copies {
        let mut counter = MemCounter::new(value);
        match Store::open(&mut *dev, copy, &key(), &mut counter, &mut rng(2)) {
            Ok((mut s, report)) => {
                for d in &report.damage {
                    let _ = d.to_string();
                }
                let ids: Vec<u32> = s.groups().iter().map(|g| g.id).collect();
                for id in ids {
                    if let Ok(uuids) = s.list(id, 0, usize::MAX) {
                        for u in uuids {
                            let _ = s.get(&u);
                        }
                    }
                }
                let _ = s.scan(|r| {
                    let _ = format!("{r:?}");
                });
                let _ = (s.usage(), s.sector_roles());
                break;
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    assert_eq!(dev.writes(), 0, "open wrote to the image");
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => raw(rest),
        Some((_, rest)) => patched(rest),
        None => {}
    }
});

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The seeds of the `disk` fuzz target (fuzz/corpus/disk) stay meaningful: the payload seeds
//! decode as the sector kind they were taken from, and every seed, as raw bytes, is refused or
//! decoded without a panic by every decoder.

use std::path::Path;

use vtpmmgr::store::SectorKind;
use vtpmmgr::store::inspect::{Payload, decode_payload};

fn seed(n: u32) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../fuzz/corpus/disk/seed-{n}"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn payload_seeds_decode_as_their_kind() {
    let kinds = [
        (1, SectorKind::Leaf),
        (2, SectorKind::Index),
        (3, SectorKind::Group),
        (4, SectorKind::Root),
    ];
    for (n, kind) in kinds {
        let bytes = seed(n);
        assert_eq!(bytes[0] % 2, 0, "seed-{n} is a raw-bytes input");
        let p = decode_payload(kind, &bytes[1..]).unwrap_or_else(|e| panic!("seed-{n}: {e}"));
        let ok = matches!(
            (kind, &p),
            (SectorKind::Leaf, Payload::Leaf(v)) if !v.is_empty()
        ) || matches!((kind, &p), (SectorKind::Index, Payload::Index(v)) if !v.is_empty())
            || matches!((kind, &p), (SectorKind::Group, Payload::Groups(v)) if v.len() == 2)
            || matches!((kind, &p), (SectorKind::Root, Payload::Root { .. }));
        assert!(ok, "seed-{n}: {p:?}");
        for other in [
            SectorKind::Root,
            SectorKind::Group,
            SectorKind::Index,
            SectorKind::Leaf,
        ] {
            let _ = decode_payload(other, &bytes);
        }
    }
    assert_eq!(seed(5)[0] % 2, 1, "seed-5 is a patch list");
}

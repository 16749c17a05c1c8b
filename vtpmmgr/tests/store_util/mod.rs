#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! Helpers shared by the store tests: deterministic randomness, a fixed root key, opening an
//! image the way the manager does (each header copy in turn), and a full dump of a store.
#![allow(dead_code)]

use std::collections::BTreeMap;

use rand_core::RngCore;
use vtpm_domain::engine::crypto::CtrDrbg;
use vtpmmgr::Uuid;
use vtpmmgr::seams::{BlockDevice, MemCounter, MemDevice, SECTOR_COUNT};
use vtpmmgr::store::{
    GroupRecord, HeaderState, OpenReport, RootKey, Store, StoreError, VtpmRecord, read_header,
};

/// A deterministic CSPRNG for tests (distinct seeds give distinct streams).
pub(crate) fn rng(seed: u64) -> CtrDrbg {
    CtrDrbg::instantiate(&[0x5a; 32], &seed.to_be_bytes(), b"vtpmmgr store tests")
}

pub(crate) fn root_key() -> RootKey {
    RootKey::from_slice(&[0x42; 32]).expect("32 bytes")
}

pub(crate) const MANAGER: Uuid = Uuid([0xab; 16]);
pub(crate) const BINDING: &[u8] = b"sealed root key blobs from the hardware TPM module";

pub(crate) fn uuid(r: &mut impl RngCore) -> Uuid {
    let mut b = [0u8; 16];
    r.fill_bytes(&mut b);
    Uuid::new_v4(b)
}

pub(crate) fn key(r: &mut impl RngCore, len: usize) -> Vec<u8> {
    let mut k = vec![0u8; len];
    r.fill_bytes(&mut k);
    k
}

/// A freshly formatted store on a 512-sector device, counter starting at 7.
pub(crate) fn formatted() -> (Store<MemDevice>, MemCounter) {
    let mut counter = MemCounter::new(7);
    let store = Store::format(
        MemDevice::new(SECTOR_COUNT),
        MANAGER,
        BINDING,
        &root_key(),
        &mut counter,
        &mut rng(1),
    )
    .expect("format");
    (store, counter)
}

static OPEN_SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1000);

/// Opens `dev` as the manager does (read the header, try each copy in turn) and runs `f` on
/// the opened store.
pub(crate) fn with_open<T>(
    dev: &mut MemDevice,
    counter: &mut MemCounter,
    f: impl FnOnce(&mut Store<&mut MemDevice>, &OpenReport) -> T,
) -> Result<T, StoreError> {
    let HeaderState::Formatted(copies) = read_header(dev)? else {
        return Err(StoreError::Blank);
    };
    let seed = OPEN_SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut last = StoreError::Blank;
    for c in &copies {
        match Store::open(&mut *dev, c, &root_key(), counter, &mut rng(seed)) {
            Ok((mut s, report)) => return Ok(f(&mut s, &report)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Opens an owned device as the manager does.
pub(crate) fn open_owned(
    mut dev: MemDevice,
    counter: &mut MemCounter,
) -> Result<(Store<MemDevice>, OpenReport), StoreError> {
    let HeaderState::Formatted(copies) = read_header(&mut dev)? else {
        return Err(StoreError::Blank);
    };
    let seed = OPEN_SEED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut last = StoreError::Blank;
    for c in &copies {
        let mut trial = *counter;
        match Store::open(&mut dev, c, &root_key(), &mut trial, &mut rng(seed)) {
            Ok((_, report)) => {
                *counter = trial;
                let (s, _) = Store::open(dev, c, &root_key(), counter, &mut rng(seed))?;
                return Ok((s, report));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Everything a store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dump {
    pub(crate) groups: Vec<GroupRecord>,
    pub(crate) vtpms: Vec<VtpmRecord>,
    pub(crate) count: u32,
}

pub(crate) fn dump<D: BlockDevice>(s: &mut Store<D>) -> Dump {
    let mut vtpms = Vec::new();
    s.scan(|r| vtpms.push(r.clone())).expect("scan");
    Dump {
        groups: s.groups().to_vec(),
        vtpms,
        count: s.vtpm_count(),
    }
}

/// The dump a model predicts.
pub(crate) fn model_dump(groups: &[GroupRecord], vtpms: &BTreeMap<Uuid, VtpmRecord>) -> Dump {
    let mut groups = groups.to_vec();
    for g in &mut groups {
        g.vtpm_count = u32::try_from(vtpms.values().filter(|v| v.group == g.id).count()).unwrap();
    }
    Dump {
        groups,
        vtpms: vtpms.values().cloned().collect(),
        count: u32::try_from(vtpms.len()).unwrap(),
    }
}

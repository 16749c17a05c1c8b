//! NV indices as data (TCG TPM 2.0 Library part 1 §37 "NV Memory", part 2 §13 "NV Storage
//! Structures"): each index is its public area (TPMS_NV_PUBLIC, whose attributes carry the
//! WRITTEN and lock bits), its authValue and its data. The commands are in `commands/nv.rs`.
//!
//! # Budget
//!
//! The TPM holds at most [`MAX_NV_INDICES`] indices and [`NV_BUDGET`] bytes of NV, each index
//! costing its data size plus [`INDEX_OVERHEAD`] (public area, authValue and bookkeeping).
//! ORDERLY indices also share [`ORDERLY_RAM`] bytes (data plus [`ORDERLY_OVERHEAD`] each), as
//! libtpms keeps them in RAM. TPM2_NV_DefineSpace beyond any limit is TPM_RC_NV_SPACE and
//! changes nothing.
//!
//! # Counters
//!
//! A counter index is initialised, at its first TPM2_NV_Increment, to the largest value any
//! counter of this TPM ever held (part 1 §37.4.3 "Counter"), kept in [`NvStore::max_counter`];
//! so a counter never goes back, even across delete and re-define.
//!
//! # Orderly indices
//!
//! TPMA_NV_ORDERLY counts against [`ORDERLY_RAM`] but the engine keeps every index in the
//! permanent state at once (as if non-orderly): the state blob is written after every NV
//! change anyway.
//!
//! # Persistence
//!
//! The store is the optional section 4 of the state blob (see `state.rs`): an empty store is
//! not written, so blobs from before NV indices existed still load.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use tpm2::handle::TpmHandle;
use tpm2::structures::{TpmNt, TpmaNv, TpmsNvPublic};
use tpm2::{Marshal, Reader, Unmarshal};

use super::codec::{Loader, Persist, Writer};
use super::crypto::hash::{HashAlg, digest};
use super::state::{Secret, StateError};

/// Most NV indices the TPM holds.
pub(crate) const MAX_NV_INDICES: usize = 64;
/// The NV bytes available to indices (data plus [`INDEX_OVERHEAD`] each).
pub(crate) const NV_BUDGET: usize = 32 * 1024;
/// What an index costs besides its data.
pub(crate) const INDEX_OVERHEAD: usize = 96;
/// The RAM that ORDERLY indices share (libtpms' RAM_INDEX_SPACE, measured on swtpm: one
/// orderly index of 500 bytes fits, 512 does not).
pub(crate) const ORDERLY_RAM: usize = 512;
/// What an ORDERLY index costs of [`ORDERLY_RAM`] besides its data.
pub(crate) const ORDERLY_OVERHEAD: usize = 12;

/// One defined NV index.
#[derive(Clone)]
pub(crate) struct NvIndex {
    /// The public area; `attributes` holds the current WRITTEN and lock bits.
    pub public: TpmsNvPublic,
    /// The authValue (trailing zeros removed).
    pub auth: Secret,
    /// The data, always `public.data_size` bytes (meaningless until written).
    pub data: Vec<u8>,
}

impl NvIndex {
    /// The attributes now.
    pub(crate) fn attrs(&self) -> TpmaNv {
        self.public.attributes
    }

    /// Whether every bit of `mask` is set.
    pub(crate) fn has(&self, mask: u32) -> bool {
        self.public.attributes.has(mask)
    }

    /// Sets or clears the bits of `mask`.
    pub(crate) fn set(&mut self, mask: u32, on: bool) {
        let a = self.public.attributes;
        self.public.attributes = if on { a.with(mask) } else { a.without(mask) };
    }

    /// The index type.
    pub(crate) fn nt(&self) -> TpmNt {
        self.attrs().nt()
    }

    /// The Name: nameAlg || H_nameAlg(TPMS_NV_PUBLIC) (part 1 §16).
    pub(crate) fn name(&self) -> Vec<u8> {
        let mut name = self.public.name_alg.0.to_be_bytes().to_vec();
        if let Some(alg) = HashAlg::from_alg(self.public.name_alg) {
            name.extend(digest(alg, &[&self.public.to_bytes()]));
        }
        name
    }

    /// The first eight data bytes as a big-endian integer (counters and bit fields).
    pub(crate) fn value_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(&self.data) {
            *d = *s;
        }
        u64::from_be_bytes(b)
    }

    /// Stores a counter or bit-field value and marks the index written.
    pub(crate) fn set_u64(&mut self, v: u64) {
        for (d, s) in self.data.iter_mut().zip(v.to_be_bytes()) {
            *d = s;
        }
        self.set(TpmaNv::WRITTEN, true);
    }

    /// A PIN_PASS or PIN_FAIL index (part 1 §37.4.4: its data is TPMS_NV_PIN_COUNTER_PARAMETERS,
    /// pinCount then pinLimit).
    pub(crate) fn is_pin(&self) -> bool {
        matches!(self.nt(), TpmNt::PIN_PASS | TpmNt::PIN_FAIL)
    }

    /// (pinCount, pinLimit) of a PIN index.
    pub(crate) fn pin(&self) -> (u32, u32) {
        let b = self.value_u64().to_be_bytes();
        (
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        )
    }

    /// Whether the authValue of a PIN index may be used: written, and pinCount below pinLimit.
    pub(crate) fn pin_open(&self) -> bool {
        let (count, limit) = self.pin();
        self.has(TpmaNv::WRITTEN) && count < limit
    }

    /// After the authValue of a PIN index was checked (part 1 §37.4.4, as libtpms): PIN_PASS
    /// counts successes, PIN_FAIL counts failures and starts again at zero after a success.
    /// Returns whether the index changed.
    pub(crate) fn pin_checked(&mut self, success: bool) -> bool {
        let (count, limit) = self.pin();
        let new = match (self.nt(), success) {
            (TpmNt::PIN_PASS, true) | (TpmNt::PIN_FAIL, false) => count.saturating_add(1),
            (TpmNt::PIN_FAIL, true) => 0,
            _ => return false,
        };
        self.set_u64((u64::from(new) << 32) | u64::from(limit));
        true
    }

    /// What the index costs of [`NV_BUDGET`].
    pub(crate) fn cost(&self) -> usize {
        usize::from(self.public.data_size) + INDEX_OVERHEAD
    }
}

/// Every NV index, and the counter high-water mark.
#[derive(Clone, Default)]
pub(crate) struct NvStore {
    /// Indices by handle.
    pub indices: BTreeMap<u32, NvIndex>,
    /// The largest value any counter index ever held.
    pub max_counter: u64,
}

impl NvStore {
    /// The index at `h`.
    pub(crate) fn get(&self, h: TpmHandle) -> Option<&NvIndex> {
        self.indices.get(&h.0)
    }

    /// The index at `h`, mutable.
    pub(crate) fn get_mut(&mut self, h: TpmHandle) -> Option<&mut NvIndex> {
        self.indices.get_mut(&h.0)
    }

    /// The NV bytes in use.
    pub(crate) fn used(&self) -> usize {
        self.indices.values().map(NvIndex::cost).sum()
    }

    /// Whether an index of `data_size` bytes (ORDERLY or not) still fits.
    pub(crate) fn fits(&self, data_size: u16, orderly: bool) -> bool {
        let size = usize::from(data_size);
        let ram_used: usize = self
            .indices
            .values()
            .filter(|i| i.has(TpmaNv::ORDERLY))
            .map(|i| usize::from(i.public.data_size) + ORDERLY_OVERHEAD)
            .sum();
        self.indices.len() < MAX_NV_INDICES
            && self.used() + size + INDEX_OVERHEAD <= NV_BUDGET
            && (!orderly || ram_used + size + ORDERLY_OVERHEAD <= ORDERLY_RAM)
    }

    /// The number of counter indices.
    pub(crate) fn counters(&self) -> usize {
        self.indices
            .values()
            .filter(|i| i.nt() == TpmNt::COUNTER)
            .count()
    }

    /// How many more counter indices (8 data bytes each) would fit (TPM_PT_NV_COUNTERS_AVAIL).
    pub(crate) fn counters_avail(&self) -> usize {
        let by_count = MAX_NV_INDICES.saturating_sub(self.indices.len());
        let by_space = NV_BUDGET.saturating_sub(self.used()) / (8 + INDEX_OVERHEAD);
        by_count.min(by_space)
    }

    /// Whether the store is empty and has no counter history (then it is not saved).
    pub(crate) fn is_pristine(&self) -> bool {
        self.indices.is_empty() && self.max_counter == 0
    }

    /// TPM Reset (`reset`) and TPM Restart (part 2 §13.4 TPMA_NV): READLOCKED is cleared;
    /// WRITELOCKED is cleared unless the index has WRITEDEFINE and was written; CLEAR_STCLEAR
    /// indices become unwritten. At TPM Reset, ORDERLY indices other than counters also
    /// become unwritten: libtpms keeps them in RAM only (measured with swtpm; counters are
    /// kept).
    pub(crate) fn startup_clear(&mut self, reset: bool) {
        for index in self.indices.values_mut() {
            if reset && index.has(TpmaNv::ORDERLY) && index.nt() != TpmNt::COUNTER {
                index.set(TpmaNv::WRITTEN, false);
            }
            index.set(TpmaNv::READLOCKED, false);
            if !(index.has(TpmaNv::WRITEDEFINE) && index.has(TpmaNv::WRITTEN)) {
                index.set(TpmaNv::WRITELOCKED, false);
            }
            if index.has(TpmaNv::CLEAR_STCLEAR) {
                index.set(TpmaNv::WRITTEN, false);
            }
        }
    }
}

impl Persist for NvIndex {
    fn save(&self, w: &mut Writer) {
        w.tpm(&self.public);
        w.bytes(&self.auth);
        w.bytes(&self.data);
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let public_bytes = r.bytes(512, "NV public area")?;
        let mut pr = Reader::new(public_bytes);
        let public =
            TpmsNvPublic::unmarshal(&mut pr).map_err(|_| StateError::BadValue("NV public area"))?;
        if !pr.is_empty() {
            return Err(StateError::TrailingBytes("NV public area"));
        }
        let auth = r.secret(64, "NV authValue")?;
        let data = r.bytes(tpm2::structures::MAX_NV_INDEX_SIZE, "NV data")?;
        if data.len() != usize::from(public.data_size) {
            return Err(StateError::BadValue("NV data size"));
        }
        Ok(Self {
            public,
            auth,
            data: data.to_vec(),
        })
    }
}

impl Persist for NvStore {
    fn save(&self, w: &mut Writer) {
        w.u64(self.max_counter);
        w.u32(u32::try_from(self.indices.len()).unwrap_or(u32::MAX));
        for (h, index) in &self.indices {
            w.u32(*h);
            index.save(w);
        }
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let max_counter = r.u64("NV counter high-water mark")?;
        let n = usize::try_from(r.u32("NV index count")?).unwrap_or(usize::MAX);
        if n > MAX_NV_INDICES {
            return Err(StateError::TooLarge("NV indices"));
        }
        let mut indices = BTreeMap::new();
        for _ in 0..n {
            let h = r.u32("NV index handle")?;
            let index = NvIndex::load(r)?;
            if index.public.nv_index.0 != h || indices.insert(h, index).is_some() {
                return Err(StateError::BadValue("NV index handle"));
            }
        }
        Ok(Self {
            indices,
            max_counter,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tpm2::alg::TpmAlgId;
    use tpm2::structures::Tpm2bDigest;
    use zeroize::Zeroizing;

    fn index(h: u32, attrs: u32, size: u16) -> NvIndex {
        NvIndex {
            public: TpmsNvPublic {
                nv_index: TpmHandle(h),
                name_alg: TpmAlgId::SHA256,
                attributes: TpmaNv(attrs),
                auth_policy: Tpm2bDigest::empty(),
                data_size: size,
            },
            auth: Zeroizing::new(b"pw".to_vec()),
            data: alloc::vec![0; usize::from(size)],
        }
    }

    #[test]
    fn store_round_trips_through_the_codec() {
        let mut store = NvStore {
            max_counter: 77,
            ..NvStore::default()
        };
        let mut idx = index(0x0100_0001, TpmaNv::AUTHREAD | TpmaNv::AUTHWRITE, 4);
        idx.data = alloc::vec![1, 2, 3, 4];
        store.indices.insert(0x0100_0001, idx);
        let mut w = Writer::new();
        store.save(&mut w);
        let mut r = Loader::new(&w.out);
        let back = NvStore::load(&mut r).unwrap();
        assert_eq!(r.remaining(), 0);
        assert_eq!(back.max_counter, 77);
        let b = back.get(TpmHandle(0x0100_0001)).unwrap();
        assert_eq!(b.data, [1, 2, 3, 4]);
        assert_eq!(&b.auth[..], b"pw");
        // A handle that does not match the public area is refused.
        let mut bad = w.out.clone();
        bad[15] ^= 1;
        assert!(NvStore::load(&mut Loader::new(&bad)).is_err());
    }

    #[test]
    fn startup_clear_follows_the_stclear_rules() {
        let mut s = NvStore::default();
        let base = TpmaNv::AUTHREAD | TpmaNv::AUTHWRITE | TpmaNv::WRITELOCKED | TpmaNv::WRITTEN;
        s.indices
            .insert(1, index(1, base | TpmaNv::WRITE_STCLEAR, 1));
        s.indices.insert(2, index(2, base | TpmaNv::WRITEDEFINE, 1));
        s.indices.insert(
            3,
            index(3, base | TpmaNv::CLEAR_STCLEAR | TpmaNv::READLOCKED, 1),
        );
        s.startup_clear(false);
        assert!(!s.indices[&1].has(TpmaNv::WRITELOCKED));
        assert!(s.indices[&2].has(TpmaNv::WRITELOCKED));
        assert!(!s.indices[&3].has(TpmaNv::WRITTEN));
        assert!(!s.indices[&3].has(TpmaNv::READLOCKED));
    }

    #[test]
    fn budget_counts_data_and_overhead() {
        let mut s = NvStore::default();
        assert!(s.fits(2048, false));
        assert!(s.fits(500, true) && !s.fits(501, true));
        assert_eq!(s.counters_avail(), MAX_NV_INDICES);
        let mut h = 0;
        while s.fits(2048, false) {
            h += 1;
            s.indices.insert(h, index(h, 0, 2048));
        }
        assert!(s.used() + 2048 + INDEX_OVERHEAD > NV_BUDGET);
        assert!(s.used() <= NV_BUDGET);
        assert_eq!(
            s.counters_avail(),
            (NV_BUDGET - s.used()) / (8 + INDEX_OVERHEAD)
        );
    }
}

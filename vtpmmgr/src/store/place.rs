//! How vTPM entries are packed into leaves (docs/disk-format.md, "Packing"). Random UUIDs
//! arrive in random order, so plain B-tree splits would leave leaves about 69 % full. Instead,
//! when a leaf overflows:
//!
//! 1. the entries of the leaves up to the nearest one with room (at most [`SHIFT_REACH`] away)
//!    are spread evenly over those leaves (no new sector);
//! 2. otherwise the entries of a window of up to `2 × SPLIT_REACH + 1` full leaves around it are
//!    spread over one more leaf (B*-style), smaller windows when the free sectors are short;
//!    while at least [`SPLIT_FLOOR`] sectors stay free;
//! 3. otherwise (the image is nearly full) step 1 is tried further away, as far as the free
//!    sectors allow rewriting;
//! 4. and last, step 2 without the floor.
//!
//! Only then is the change refused with [`StoreError::Full`].

use alloc::vec;
use alloc::vec::Vec;

use super::commit::Splice;
use super::error::StoreError;
use super::payload::{LEAF_CAPACITY, LEAF_FIXED, LEAF_GROUP, VtpmRecord, leaf_size};
use super::{DYNAMIC_SECTORS, Store};
use crate::seams::BlockDevice;

/// How far step 1 looks for a leaf with room.
pub(crate) const SHIFT_REACH: usize = 3;
/// Half the width of step 2's window.
pub(crate) const SPLIT_REACH: usize = 3;
/// How far step 3 looks, at most.
pub(crate) const FAR_REACH: usize = 32;
/// Step 2 adds a leaf only while this many sectors stay free: they are the budget step 3
/// rewrites leaves with once the image is nearly full.
pub(crate) const SPLIT_FLOOR: usize = 16;

/// A leaf being filled: its payload bytes and its distinct groups.
struct Fill {
    bytes: usize,
    groups: Vec<u32>,
}

impl Fill {
    fn new() -> Fill {
        Fill {
            bytes: LEAF_FIXED,
            groups: Vec::new(),
        }
    }

    /// The bytes `e` would add (its entry, and a group table slot for a new group).
    fn cost(&self, e: &VtpmRecord) -> usize {
        e.encoded_len()
            + if self.groups.contains(&e.group) {
                0
            } else {
                LEAF_GROUP
            }
    }

    fn add(&mut self, e: &VtpmRecord) {
        self.bytes += self.cost(e);
        if !self.groups.contains(&e.group) {
            self.groups.push(e.group);
        }
    }
}

/// Spreads `entries` (in order) over exactly `k` non-empty leaves of at most
/// [`LEAF_CAPACITY`] payload bytes each, as evenly by bytes as the entry boundaries allow;
/// `None` when they do not fit.
pub(crate) fn distribute(entries: Vec<VtpmRecord>, k: usize) -> Option<Vec<Vec<VtpmRecord>>> {
    let n = entries.len();
    if k == 0 || k > n {
        return None;
    }
    // need[j]: the fewest leaves entries j.. fit in. Leaf size only grows as entries are added,
    // so packing greedily (here from the right) gives the fewest leaves.
    let mut need = vec![0usize; n + 1];
    let mut fill = Fill::new();
    let mut bins = 0usize;
    for j in (0..n).rev() {
        let e = &entries[j];
        if bins == 0 || fill.bytes + fill.cost(e) > LEAF_CAPACITY {
            bins += 1;
            fill = Fill::new();
        }
        fill.add(e);
        need[j] = bins;
    }
    if need[0] > k {
        return None;
    }
    // suffix[j]: the entry bytes of entries j.. (the measure the leaves are balanced by).
    let mut suffix = vec![0usize; n + 1];
    for j in (0..n).rev() {
        suffix[j] = suffix[j + 1] + entries[j].encoded_len();
    }
    let mut cuts = Vec::with_capacity(k);
    let mut pos = 0usize;
    for i in 0..k {
        let rest = k - i;
        if rest == 1 {
            // need[pos] <= 1 was ensured when the previous leaf was closed.
            if pos >= n {
                return None;
            }
            cuts.push(n);
            break;
        }
        let target = suffix[pos].div_ceil(rest);
        let mut leaf = Fill::new();
        let mut taken = 0usize;
        while pos < n {
            let e = &entries[pos];
            let room = leaf.bytes + leaf.cost(e) <= LEAF_CAPACITY && n - pos > rest - 1;
            let must = need[pos] > rest - 1;
            let want = taken == 0 || must || taken + e.encoded_len() / 2 <= target;
            if !(room && want) {
                break;
            }
            leaf.add(e);
            taken += e.encoded_len();
            pos += 1;
        }
        if taken == 0 || need[pos] > rest - 1 {
            return None;
        }
        cuts.push(pos);
    }
    let mut out = Vec::with_capacity(k);
    let mut it = entries.into_iter();
    let mut prev = 0usize;
    for c in cuts {
        out.push(it.by_ref().take(c - prev).collect());
        prev = c;
    }
    Some(out)
}

impl<D: BlockDevice> Store<D> {
    /// The entries of leaves `lo..=hi` with leaf `t` replaced by `t_entries`.
    fn gather(
        &mut self,
        lo: usize,
        hi: usize,
        t: usize,
        t_entries: &[VtpmRecord],
    ) -> Result<Vec<VtpmRecord>, StoreError> {
        let mut all = Vec::new();
        for i in lo..=hi {
            if i == t {
                all.extend(t_entries.iter().cloned());
            } else {
                all.extend(self.read_leaf(i)?);
            }
        }
        Ok(all)
    }

    /// The payload bytes of leaf `i`.
    fn leaf_bytes(&self, i: usize) -> usize {
        self.leaves.get(i).map_or(0, |l| usize::from(l.bytes))
    }

    /// The bytes of leaf `i`'s entries (without the leaf's fixed bytes and group table).
    fn entry_bytes(&self, i: usize) -> usize {
        self.leaves.get(i).map_or(0, |l| {
            let table = LEAF_GROUP * usize::try_from(l.groups.count_ones()).unwrap_or(0);
            usize::from(l.bytes).saturating_sub(LEAF_FIXED + table)
        })
    }

    /// Tries to spread leaf `t`'s new entries over leaves `lo..=hi` (plus `extra` new leaves).
    fn try_spread(
        &mut self,
        lo: usize,
        hi: usize,
        extra: usize,
        floor: usize,
        t: usize,
        t_entries: &[VtpmRecord],
    ) -> Result<Option<Splice>, StoreError> {
        let k = hi - lo + 1 + extra;
        // Quick reject: the entries alone must fit, each leaf with at least one group.
        let bytes: usize = (lo..=hi)
            .map(|i| {
                if i == t {
                    t_entries.iter().map(VtpmRecord::encoded_len).sum()
                } else {
                    self.entry_bytes(i)
                }
            })
            .sum();
        if bytes > k * (LEAF_CAPACITY - LEAF_FIXED - LEAF_GROUP)
            || !self.splice_fits(lo, hi + 1, k, floor)
        {
            return Ok(None);
        }
        let all = self.gather(lo, hi, t, t_entries)?;
        Ok(distribute(all, k).map(|leaves| Splice {
            a: lo,
            b: hi + 1,
            leaves,
        }))
    }

    /// Shifts toward the nearest leaf with room within `from..=to` leaves of `t`.
    fn try_shift(
        &mut self,
        t: usize,
        t_entries: &[VtpmRecord],
        from: usize,
        to: usize,
    ) -> Result<Option<Splice>, StoreError> {
        let last = self.leaves.len().saturating_sub(1);
        for d in from..=to {
            let mut sides = Vec::with_capacity(2);
            if let Some(l) = t.checked_sub(d) {
                sides.push((l, t));
            }
            if t + d <= last {
                sides.push((t, t + d));
            }
            // The side whose far leaf has more room first.
            sides.sort_by_key(|(lo, hi)| {
                let far = if *lo == t { *hi } else { *lo };
                core::cmp::Reverse(LEAF_CAPACITY.saturating_sub(self.leaf_bytes(far)))
            });
            if sides.is_empty() {
                break;
            }
            for (lo, hi) in sides {
                if let Some(s) = self.try_spread(lo, hi, 0, 0, t, t_entries)? {
                    return Ok(Some(s));
                }
            }
        }
        Ok(None)
    }

    /// Spreads over one more leaf than the window `t ± reach` (for each reach from
    /// [`SPLIT_REACH`] down), keeping `floor` sectors free.
    fn try_split(
        &mut self,
        t: usize,
        t_entries: &[VtpmRecord],
        floor: usize,
    ) -> Result<Option<Splice>, StoreError> {
        let last = self.leaves.len().saturating_sub(1);
        for reach in (0..=SPLIT_REACH).rev() {
            let lo = t.saturating_sub(reach);
            let hi = (t + reach).min(last);
            if let Some(s) = self.try_spread(lo, hi, 1, floor, t, t_entries)? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// Places leaf `t`'s new entries (possibly over a leaf's capacity) as the module
    /// documentation describes.
    pub(crate) fn place(
        &mut self,
        t: usize,
        t_entries: Vec<VtpmRecord>,
    ) -> Result<Splice, StoreError> {
        if leaf_size(&t_entries) <= LEAF_CAPACITY {
            if !self.splice_fits(t, t + 1, 1, 0) {
                return Err(StoreError::Full);
            }
            return Ok(Splice {
                a: t,
                b: t + 1,
                leaves: alloc::vec![t_entries],
            });
        }
        if let Some(s) = self.try_shift(t, &t_entries, 1, SHIFT_REACH)? {
            return Ok(s);
        }
        if let Some(s) = self.try_split(t, &t_entries, SPLIT_FLOOR)? {
            return Ok(s);
        }
        let far = FAR_REACH.min(usize::try_from(DYNAMIC_SECTORS).unwrap_or(0));
        if let Some(s) = self.try_shift(t, &t_entries, SHIFT_REACH + 1, far)? {
            return Ok(s);
        }
        if let Some(s) = self.try_split(t, &t_entries, 0)? {
            return Ok(s);
        }
        Err(StoreError::Full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Uuid;

    fn recs(n: usize, key: usize) -> Vec<VtpmRecord> {
        (0..n)
            .map(|i| {
                let mut u = [0u8; 16];
                u[..8].copy_from_slice(&(i as u64).to_be_bytes());
                VtpmRecord::new(Uuid(u), 1, 0, &alloc::vec![7u8; key])
            })
            .collect()
    }

    #[test]
    fn distribute_balances_and_refuses_what_does_not_fit() {
        let e = recs(49, 64); // 7 + 49 × 84 = 4123 > 4044: needs two leaves
        assert_eq!(leaf_size(&e[..48]), 4039);
        assert!(distribute(e.clone(), 1).is_none());
        assert_eq!(distribute(e[..48].to_vec(), 1).unwrap().len(), 1);
        let two = distribute(e.clone(), 2).unwrap();
        assert_eq!(two.iter().map(Vec::len).collect::<Vec<_>>(), [25, 24]);
        let flat: Vec<_> = two.concat();
        assert_eq!(flat, e);
        let eight = distribute(recs(7 * 48 + 1, 64), 8).unwrap();
        assert!(
            eight
                .iter()
                .all(|l| leaf_size(l) <= LEAF_CAPACITY && l.len() >= 42)
        );
        assert!(distribute(recs(3, 0), 4).is_none());
        // Mixed sizes: every leaf within capacity.
        // Mixed sizes and groups: every leaf within capacity, and whenever greedy packing
        // needs at most k leaves, k leaves are found.
        let mut mixed = recs(160, 0);
        for (i, r) in mixed.iter_mut().enumerate() {
            r.key = zeroize::Zeroizing::new(alloc::vec![1u8; (i * 37) % 65]);
            r.group = u32::try_from(i % 11).unwrap();
        }
        let mut found = 0;
        for k in 1..12 {
            if let Some(out) = distribute(mixed.clone(), k) {
                assert_eq!(out.len(), k);
                assert!(
                    out.iter()
                        .all(|l| !l.is_empty() && leaf_size(l) <= LEAF_CAPACITY)
                );
                assert_eq!(out.concat(), mixed);
                found += 1;
            }
        }
        assert!(found >= 8, "{found}");
    }
}

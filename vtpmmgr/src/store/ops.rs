//! Reads and mutations of the opened store (docs/disk-format.md, "Look-up", "Commit"). Each
//! mutation builds one [`Change`] and commits it; nothing is written when it is refused.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use super::commit::{Change, GroupChange, Splice};
use super::error::{SectorKind, StoreError};
use super::load::read_child;
use super::payload::{
    GROUP_CAPACITY, GroupRecord, LEAF_CAPACITY, LeafView, MAX_ATTEST, MAX_GROUPS, MAX_KERNELS,
    MAX_KEY, VtpmRecord, leaf_size,
};
use super::{GroupMeta, Store};
use crate::Uuid;
use crate::seams::{BlockDevice, MonotonicCounter};

fn limit(what: &'static str, max: usize, got: usize) -> Result<(), StoreError> {
    if got > max {
        Err(StoreError::Limit { what, max, got })
    } else {
        Ok(())
    }
}

fn internal(what: &'static str) -> StoreError {
    StoreError::SectorMalformed {
        sector: 0,
        kind: SectorKind::Leaf,
        what,
    }
}

fn bin_bytes(gc: &GroupChange, bin: usize) -> usize {
    gc.groups
        .iter()
        .zip(&gc.meta)
        .filter(|(_, m)| m.bin == bin)
        .map(|(g, _)| g.encoded_len())
        .sum()
}

/// Puts group `idx` (detached: its bin is `usize::MAX`) into the first group sector with room,
/// or a new one.
fn home(gc: &mut GroupChange, idx: usize) {
    let len = gc.groups.get(idx).map_or(0, GroupRecord::encoded_len);
    let mut chosen = None;
    for k in 0..gc.bins.len() {
        if bin_bytes(gc, k) + len <= GROUP_CAPACITY {
            chosen = Some(k);
            break;
        }
    }
    let k = chosen.unwrap_or_else(|| {
        gc.bins.push(None);
        gc.bins.len() - 1
    });
    if let Some(b) = gc.bins.get_mut(k) {
        *b = None;
    }
    if let Some(m) = gc.meta.get_mut(idx) {
        m.bin = k;
    }
}

impl<D: BlockDevice> Store<D> {
    /// The leaf whose range holds `uuid` (the last leaf whose first UUID is not above it), by
    /// binary search over the cached index.
    pub(crate) fn locate(&self, uuid: &Uuid) -> Option<usize> {
        if self.leaves.is_empty() {
            None
        } else {
            Some(
                self.leaves
                    .partition_point(|l| l.first <= *uuid)
                    .saturating_sub(1),
            )
        }
    }

    /// Reads leaf `i`: one sector read, its SHA-256 checked against the cached index, the
    /// envelope authenticated and decrypted, the payload checked.
    fn read_leaf_payload(&mut self, i: usize) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let at = self
            .leaves
            .get(i)
            .map(|l| l.at)
            .ok_or_else(|| internal("leaf index out of range"))?;
        let p = read_child(&mut self.dev, &self.keys, at, SectorKind::Leaf)?;
        LeafView::parse(&p).map_err(|what| StoreError::SectorMalformed {
            sector: u32::from(at.sector),
            kind: SectorKind::Leaf,
            what,
        })?;
        Ok(p)
    }

    pub(crate) fn read_leaf(&mut self, i: usize) -> Result<Vec<VtpmRecord>, StoreError> {
        let p = self.read_leaf_payload(i)?;
        let v = LeafView::parse(&p).map_err(internal)?;
        Ok(v.records())
    }

    /// The vTPM with `uuid`: a binary search of the cached index (O(log leaves) comparisons),
    /// one sector read, a binary search of the leaf's UUID column (O(log entries)).
    pub fn get(&mut self, uuid: &Uuid) -> Result<Option<VtpmRecord>, StoreError> {
        let Some(t) = self.locate(uuid) else {
            return Ok(None);
        };
        let p = self.read_leaf_payload(t)?;
        let v = LeafView::parse(&p).map_err(internal)?;
        Ok(v.find(uuid).map(|i| v.record(i)))
    }

    /// Up to `max` UUIDs of group `group`'s vTPMs in UUID order, skipping the first `offset`.
    /// Reads only the leaves that hold entries of the group.
    pub fn list(&mut self, group: u32, offset: usize, max: usize) -> Result<Vec<Uuid>, StoreError> {
        let gi = self
            .group_index(group)
            .ok_or(StoreError::GroupNotFound(group))?;
        let bit = 1u64 << (self.gmeta.get(gi).map_or(0, |m| m.slot) % 64);
        let mut out = Vec::new();
        let mut skipped = 0usize;
        for i in 0..self.leaves.len() {
            if out.len() >= max {
                break;
            }
            if self.leaves.get(i).is_none_or(|l| l.groups & bit == 0) {
                continue;
            }
            let p = self.read_leaf_payload(i)?;
            let v = LeafView::parse(&p).map_err(internal)?;
            for j in 0..v.len() {
                if v.group(j) != group {
                    continue;
                }
                if skipped < offset {
                    skipped += 1;
                } else if out.len() < max {
                    out.push(v.uuid(j));
                }
            }
        }
        Ok(out)
    }

    /// Calls `f` with every vTPM in UUID order (one read per leaf).
    pub fn scan(&mut self, mut f: impl FnMut(&VtpmRecord)) -> Result<(), StoreError> {
        for i in 0..self.leaves.len() {
            for r in self.read_leaf(i)? {
                f(&r);
            }
        }
        Ok(())
    }

    fn group_change(&self) -> GroupChange {
        GroupChange {
            groups: self.groups.clone(),
            meta: self.gmeta.clone(),
            bins: self.bins.iter().copied().map(Some).collect(),
        }
    }

    fn commit_groups<C: MonotonicCounter>(
        &mut self,
        gc: GroupChange,
        next_group_id: u32,
        counter: &mut C,
    ) -> Result<(), StoreError> {
        self.commit(
            Change {
                splice: None,
                groups: Some(gc),
                count: None,
                next_group_id,
            },
            counter,
        )
    }

    /// Creates a group with no kernels; returns its id (ids are never reused).
    pub fn create_group<C: MonotonicCounter>(
        &mut self,
        uuid: Uuid,
        attest: &[u8],
        counter: &mut C,
    ) -> Result<u32, StoreError> {
        self.check_poison()?;
        limit("attestation blob bytes", MAX_ATTEST, attest.len())?;
        limit("groups", MAX_GROUPS, self.groups.len() + 1)?;
        if self.groups.iter().any(|g| g.uuid == uuid) {
            return Err(StoreError::GroupExists(uuid));
        }
        let id = self.next_group_id;
        let next = id.checked_add(1).ok_or(StoreError::Limit {
            what: "group ids",
            max: usize::try_from(u32::MAX).unwrap_or(usize::MAX),
            got: usize::MAX,
        })?;
        let slot = (0u8..64)
            .find(|s| !self.gmeta.iter().any(|m| m.slot == *s))
            .ok_or(StoreError::Limit {
                what: "groups",
                max: MAX_GROUPS,
                got: MAX_GROUPS + 1,
            })?;
        let mut gc = self.group_change();
        // Ids only grow, so the new group goes last.
        gc.groups.push(GroupRecord {
            id,
            uuid,
            kernel_seq: 0,
            kernels: Vec::new(),
            attest: attest.to_vec(),
            vtpm_count: 0,
        });
        gc.meta.push(GroupMeta {
            slot,
            bin: usize::MAX,
        });
        let idx = gc.groups.len() - 1;
        home(&mut gc, idx);
        self.commit_groups(gc, next, counter)?;
        Ok(id)
    }

    /// Replaces group `id`'s record, moving it to another group sector when it outgrows its own.
    fn rewrite_group<C: MonotonicCounter>(
        &mut self,
        id: u32,
        edit: impl FnOnce(&mut GroupRecord),
        counter: &mut C,
    ) -> Result<(), StoreError> {
        self.check_poison()?;
        let idx = self.group_index(id).ok_or(StoreError::GroupNotFound(id))?;
        let mut gc = self.group_change();
        let old_bin = gc.meta.get(idx).map_or(0, |m| m.bin);
        if let Some(g) = gc.groups.get_mut(idx) {
            edit(g);
        }
        if let Some(b) = gc.bins.get_mut(old_bin) {
            *b = None;
        }
        if bin_bytes(&gc, old_bin) > GROUP_CAPACITY {
            if let Some(m) = gc.meta.get_mut(idx) {
                m.bin = usize::MAX;
            }
            home(&mut gc, idx);
        }
        let next = self.next_group_id;
        self.commit_groups(gc, next, counter)
    }

    /// Sets group `id`'s kernel list (at most 16 SHA-256 hashes) and its sequence number.
    pub fn update_group_kernels<C: MonotonicCounter>(
        &mut self,
        id: u32,
        kernel_seq: u64,
        kernels: &[[u8; 32]],
        counter: &mut C,
    ) -> Result<(), StoreError> {
        limit("kernel hashes", MAX_KERNELS, kernels.len())?;
        self.rewrite_group(
            id,
            |g| {
                g.kernel_seq = kernel_seq;
                g.kernels = kernels.to_vec();
            },
            counter,
        )
    }

    /// Sets group `id`'s attestation blob (at most 1024 bytes).
    pub fn set_group_attest<C: MonotonicCounter>(
        &mut self,
        id: u32,
        attest: &[u8],
        counter: &mut C,
    ) -> Result<(), StoreError> {
        limit("attestation blob bytes", MAX_ATTEST, attest.len())?;
        self.rewrite_group(id, |g| g.attest = attest.to_vec(), counter)
    }

    /// Deletes group `id`, which must hold no vTPMs.
    pub fn delete_group<C: MonotonicCounter>(
        &mut self,
        id: u32,
        counter: &mut C,
    ) -> Result<(), StoreError> {
        self.check_poison()?;
        let idx = self.group_index(id).ok_or(StoreError::GroupNotFound(id))?;
        let vtpms = self.groups.get(idx).map_or(0, |g| g.vtpm_count);
        if vtpms != 0 {
            return Err(StoreError::GroupNotEmpty { id, vtpms });
        }
        let mut gc = self.group_change();
        let bin = gc.meta.get(idx).map_or(0, |m| m.bin);
        gc.groups.remove(idx);
        gc.meta.remove(idx);
        if let Some(b) = gc.bins.get_mut(bin) {
            *b = None;
        }
        let next = self.next_group_id;
        self.commit_groups(gc, next, counter)
    }

    fn commit_splice<C: MonotonicCounter>(
        &mut self,
        splice: Splice,
        count: Option<(u32, i64)>,
        counter: &mut C,
    ) -> Result<(), StoreError> {
        let next = self.next_group_id;
        self.commit(
            Change {
                splice: Some(splice),
                groups: None,
                count,
                next_group_id: next,
            },
            counter,
        )
    }

    /// Adds a vTPM. Refuses a UUID already stored, an unknown group and a key over 64 bytes.
    pub fn insert<C: MonotonicCounter>(
        &mut self,
        record: VtpmRecord,
        counter: &mut C,
    ) -> Result<(), StoreError> {
        self.check_poison()?;
        limit("key bytes", MAX_KEY, record.key.len())?;
        if self.group_index(record.group).is_none() {
            return Err(StoreError::GroupNotFound(record.group));
        }
        if self.vtpm_count == u32::MAX {
            return Err(StoreError::Full);
        }
        let gid = record.group;
        let splice = match self.locate(&record.uuid) {
            None => {
                if !self.splice_fits(0, 0, 1, 0) {
                    return Err(StoreError::Full);
                }
                Splice {
                    a: 0,
                    b: 0,
                    leaves: alloc::vec![alloc::vec![record]],
                }
            }
            Some(t) => {
                let mut entries = self.read_leaf(t)?;
                match entries.binary_search_by(|e| e.uuid.cmp(&record.uuid)) {
                    Ok(_) => return Err(StoreError::VtpmExists(record.uuid)),
                    Err(pos) => entries.insert(pos, record),
                }
                self.place(t, entries)?
            }
        };
        self.commit_splice(splice, Some((gid, 1)), counter)
    }

    /// Replaces vTPM `uuid`'s key (0..=64 bytes).
    pub fn set_key<C: MonotonicCounter>(
        &mut self,
        uuid: &Uuid,
        key: &[u8],
        counter: &mut C,
    ) -> Result<(), StoreError> {
        self.check_poison()?;
        limit("key bytes", MAX_KEY, key.len())?;
        let t = self.locate(uuid).ok_or(StoreError::VtpmNotFound(*uuid))?;
        let mut entries = self.read_leaf(t)?;
        let i = entries
            .binary_search_by(|e| e.uuid.cmp(uuid))
            .map_err(|_| StoreError::VtpmNotFound(*uuid))?;
        if let Some(e) = entries.get_mut(i) {
            e.key = Zeroizing::new(key.to_vec());
        }
        let splice = self.place(t, entries)?;
        self.commit_splice(splice, None, counter)
    }

    /// Removes vTPM `uuid`. An emptied leaf is dropped; a leaf under a third full is merged with
    /// its smaller neighbour when the two fill at most three quarters of one leaf.
    pub fn delete<C: MonotonicCounter>(
        &mut self,
        uuid: &Uuid,
        counter: &mut C,
    ) -> Result<(), StoreError> {
        self.check_poison()?;
        let t = self.locate(uuid).ok_or(StoreError::VtpmNotFound(*uuid))?;
        let mut entries = self.read_leaf(t)?;
        let i = entries
            .binary_search_by(|e| e.uuid.cmp(uuid))
            .map_err(|_| StoreError::VtpmNotFound(*uuid))?;
        let gid = entries.remove(i).group;
        let bytes = leaf_size(&entries);
        let splice = if entries.is_empty() {
            Splice {
                a: t,
                b: t + 1,
                leaves: Vec::new(),
            }
        } else {
            let size = |j: usize| self.leaves.get(j).map(|l| usize::from(l.bytes));
            let prev = t.checked_sub(1).and_then(|j| size(j).map(|s| (j, s)));
            let next = size(t + 1).map(|s| (t + 1, s));
            let pick = match (prev, next) {
                (Some(p), Some(n)) => Some(if p.1 <= n.1 { p } else { n }),
                (p, n) => p.or(n),
            };
            match pick {
                Some((j, s))
                    if bytes < LEAF_CAPACITY / 3
                        && bytes + s <= LEAF_CAPACITY * 3 / 4
                        && self.splice_fits(t.min(j), t.max(j) + 1, 1, 0) =>
                {
                    let other = self.read_leaf(j)?;
                    let merged = if j < t {
                        other.into_iter().chain(entries).collect()
                    } else {
                        entries.into_iter().chain(other).collect()
                    };
                    Splice {
                        a: t.min(j),
                        b: t.max(j) + 1,
                        leaves: alloc::vec![merged],
                    }
                }
                _ => Splice {
                    a: t,
                    b: t + 1,
                    leaves: alloc::vec![entries],
                },
            }
        };
        self.commit_splice(splice, Some((gid, -1)), counter)
    }
}

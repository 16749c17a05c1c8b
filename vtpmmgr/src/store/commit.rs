//! Copy-on-write commits (docs/disk-format.md, "Commit"). A change names the leaves it replaces
//! and the group sectors it rewrites; the commit works out which index sectors change, checks
//! that the free sectors suffice, seals every new sector, and then: writes them where the
//! current root references nothing, flushes, writes the new root into the other root slot,
//! flushes, increments the monotonic counter.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use zeroize::Zeroizing;

use super::envelope::{self, NONCE_LEN};
use super::error::{IoOp, SectorKind, StoreError};
use super::keys::sha256;
use super::load::io_error;
use super::payload::{
    FIRST_DYNAMIC, GroupRecord, INDEX_CAPACITY, IndexEntry, MAX_GROUPS, MAX_INDEX_SECTORS,
    RootPayload, SectorRef, VtpmRecord, encode_groups, encode_index, encode_leaf, leaf_size,
};
use super::{DYNAMIC_SECTORS, GroupMeta, LeafInfo, Node, ROOT_SLOTS, SectorSet, Store};
use crate::seams::{BlockDevice, MonotonicCounter, SECTOR_COUNT, Sector};

/// Free sectors every growing commit leaves behind, so that a delete (one leaf and one index
/// sector at most) is always possible.
pub(crate) const RESERVE: usize = 2;

/// Leaves `a..b` are replaced by `leaves` (each non-empty, sorted, within a leaf's capacity).
pub(crate) struct Splice {
    pub(crate) a: usize,
    pub(crate) b: usize,
    pub(crate) leaves: Vec<Vec<VtpmRecord>>,
}

/// The new group list. `bins` starts as the current group sectors; `None` marks a sector to
/// (re)write, pushed entries are new sectors; `meta[i].bin` indexes `bins`. Sectors left
/// without groups are dropped.
pub(crate) struct GroupChange {
    pub(crate) groups: Vec<GroupRecord>,
    pub(crate) meta: Vec<GroupMeta>,
    pub(crate) bins: Vec<Option<SectorRef>>,
}

/// One atomic change.
pub(crate) struct Change {
    pub(crate) splice: Option<Splice>,
    pub(crate) groups: Option<GroupChange>,
    /// A vTPM count change of one group.
    pub(crate) count: Option<(u32, i64)>,
    pub(crate) next_group_id: u32,
}

/// An index sector of the new tree: its length, and its old location when it is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodePlan {
    pub(crate) len: usize,
    pub(crate) keep: Option<SectorRef>,
}

/// The index sectors after leaves `from..to` are replaced by `added` leaves. New leaves join the
/// index sector that held leaf `from`; an index sector over capacity is split evenly; an emptied one is
/// dropped; a changed one under a quarter full is merged with a neighbour when both fit.
pub(crate) fn plan_nodes(nodes: &[Node], from: usize, to: usize, added: usize) -> Vec<NodePlan> {
    let mut out: Vec<NodePlan> = Vec::with_capacity(nodes.len() + 1);
    let mut push = |len: usize, keep: Option<SectorRef>| {
        if len > INDEX_CAPACITY {
            let parts = len.div_ceil(INDEX_CAPACITY).max(2);
            for i in 0..parts {
                let part = len * (i + 1) / parts - len * i / parts;
                out.push(NodePlan {
                    len: part,
                    keep: None,
                });
            }
        } else if len > 0 {
            out.push(NodePlan { len, keep });
        }
    };
    if nodes.is_empty() {
        push(added, None);
    } else {
        let total: usize = nodes.iter().map(|n| n.len).sum();
        let mut start = 0usize;
        let mut target = nodes.len() - 1;
        for (i, n) in nodes.iter().enumerate() {
            if from >= start && from < start + n.len {
                target = i;
                break;
            }
            start += n.len;
        }
        if from >= total {
            target = nodes.len() - 1;
        }
        let mut start = 0usize;
        for (i, n) in nodes.iter().enumerate() {
            let end = start + n.len;
            let removed = end.min(to).saturating_sub(start.max(from));
            let joined = if i == target { added } else { 0 };
            let len = n.len - removed + joined;
            let keep = if removed == 0 && joined == 0 {
                Some(n.at)
            } else {
                None
            };
            push(len, keep);
            start = end;
        }
    }
    // Merge a changed, under-filled index sector into its smaller neighbour.
    let mut i = 0usize;
    while i < out.len() {
        let Some(cur) = out.get(i).copied() else {
            break;
        };
        if cur.keep.is_none() && cur.len < INDEX_CAPACITY / 4 {
            let prev = i
                .checked_sub(1)
                .and_then(|p| out.get(p).map(|n| (p, n.len)));
            let next = out.get(i + 1).map(|n| (i + 1, n.len));
            let pick = match (prev, next) {
                (Some(p), Some(n)) => Some(if p.1 <= n.1 { p } else { n }),
                (p, n) => p.or(n),
            };
            if let Some((j, len)) = pick {
                if len + cur.len <= INDEX_CAPACITY {
                    let lo = i.min(j);
                    out.remove(i.max(j));
                    if let Some(n) = out.get_mut(lo) {
                        *n = NodePlan {
                            len: len + cur.len,
                            keep: None,
                        };
                    }
                    i = lo;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

impl<D: BlockDevice> Store<D> {
    pub(crate) fn check_poison(&self) -> Result<(), StoreError> {
        match &self.poisoned {
            Some(reason) => Err(StoreError::Poisoned {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether a commit writing `needed` sectors and leaving `live_new` live ones fits, a
    /// growing one leaving at least `floor` (and [`RESERVE`]) sectors free.
    pub(crate) fn budget_with_floor(
        &self,
        needed: usize,
        live_new: usize,
        floor: usize,
    ) -> Result<(), StoreError> {
        let dynamic = usize::try_from(DYNAMIC_SECTORS).unwrap_or(0);
        let live_old = usize::try_from(self.live.len()).unwrap_or(usize::MAX);
        let free_old = dynamic.saturating_sub(live_old);
        if needed > free_old {
            return Err(StoreError::Full);
        }
        if live_new > live_old && dynamic.saturating_sub(live_new) < floor.max(RESERVE) {
            return Err(StoreError::Full);
        }
        Ok(())
    }

    /// [`Self::budget_with_floor`] with the plain [`RESERVE`].
    pub(crate) fn budget(&self, needed: usize, live_new: usize) -> Result<(), StoreError> {
        self.budget_with_floor(needed, live_new, RESERVE)
    }

    /// Whether replacing leaves `a..b` by `m` new leaves fits in the free sectors, leaving at
    /// least `floor` free if the tree grows.
    pub(crate) fn splice_fits(&self, a: usize, b: usize, m: usize, floor: usize) -> bool {
        let plan = plan_nodes(&self.nodes, a, b, m);
        let needed = m + plan.iter().filter(|n| n.keep.is_none()).count();
        let live_new = self.leaves.len() - (b - a) + m + plan.len() + self.bins.len();
        self.budget_with_floor(needed, live_new, floor).is_ok()
    }

    /// `n` dynamic sectors the current tree does not use, next-fit from the cursor.
    fn allocate(&mut self, n: usize) -> Result<Vec<u16>, StoreError> {
        let last = u16::try_from(SECTOR_COUNT - 1).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(n);
        let mut s = self.cursor.clamp(FIRST_DYNAMIC, last);
        for _ in 0..DYNAMIC_SECTORS {
            if out.len() == n {
                break;
            }
            if !self.live.contains(s) {
                out.push(s);
            }
            s = if s >= last { FIRST_DYNAMIC } else { s + 1 };
        }
        if out.len() < n {
            return Err(StoreError::Full);
        }
        self.cursor = s;
        Ok(out)
    }

    /// `n` fresh nonces from the DRBG, in one request.
    fn nonces(&mut self, n: usize) -> Zeroizing<Vec<u8>> {
        if self.drbg.needs_reseed() {
            // Nonces need uniqueness, not secrecy: continue the generator from its own output.
            let mut more = Zeroizing::new([0u8; 48]);
            self.drbg.generate(&mut more[..], &[]);
            self.drbg.reseed(&more[..], &self.sequence.to_be_bytes());
        }
        let mut out = Zeroizing::new(vec![0u8; n * NONCE_LEN]);
        self.drbg.generate(&mut out, &[]);
        out
    }

    fn poison(&mut self, reason: String) -> StoreError {
        self.poisoned = Some(reason.clone());
        StoreError::Poisoned { reason }
    }

    /// Commits `change` atomically (see the module documentation).
    pub(crate) fn commit<C: MonotonicCounter>(
        &mut self,
        change: Change,
        counter: &mut C,
    ) -> Result<(), StoreError> {
        self.check_poison()?;
        let Change {
            splice,
            groups: group_change,
            count,
            next_group_id,
        } = change;
        let (a, b, m) = splice
            .as_ref()
            .map_or((0, 0, 0), |s| (s.a, s.b, s.leaves.len()));
        let node_plan = if splice.is_some() {
            plan_nodes(&self.nodes, a, b, m)
        } else {
            self.nodes
                .iter()
                .map(|n| NodePlan {
                    len: n.len,
                    keep: Some(n.at),
                })
                .collect()
        };
        // Group sectors: drop the ones left empty, renumber the rest.
        let mut group_change = group_change;
        let bin_plan: Vec<Option<SectorRef>> = match &mut group_change {
            Some(gc) => {
                let mut remap = vec![None; gc.bins.len()];
                let mut plan = Vec::new();
                for (k, bin) in gc.bins.iter().enumerate() {
                    if gc.meta.iter().any(|m| m.bin == k) {
                        if let Some(r) = remap.get_mut(k) {
                            *r = Some(plan.len());
                        }
                        plan.push(*bin);
                    }
                }
                for meta in &mut gc.meta {
                    meta.bin = remap.get(meta.bin).copied().flatten().unwrap_or(0);
                }
                plan
            }
            None => self.bins.iter().copied().map(Some).collect(),
        };
        if bin_plan.len() > MAX_GROUPS {
            return Err(StoreError::Limit {
                what: "group sectors",
                max: MAX_GROUPS,
                got: bin_plan.len(),
            });
        }
        if node_plan.len() > MAX_INDEX_SECTORS {
            return Err(StoreError::Limit {
                what: "index sectors",
                max: MAX_INDEX_SECTORS,
                got: node_plan.len(),
            });
        }
        let leaf_count = self.leaves.len() - (b - a) + m;
        let needed = m
            + node_plan.iter().filter(|n| n.keep.is_none()).count()
            + bin_plan.iter().filter(|b| b.is_none()).count();
        self.budget(needed, leaf_count + node_plan.len() + bin_plan.len())?;

        let vtpm_count = u32::try_from(i64::from(self.vtpm_count) + count.map_or(0, |(_, d)| d))
            .map_err(|_| StoreError::Limit {
                what: "vTPMs",
                max: usize::try_from(u32::MAX).unwrap_or(usize::MAX),
                got: usize::MAX,
            })?;
        let sequence = self.sequence.checked_add(1).ok_or(StoreError::Limit {
            what: "commit sequence",
            max: usize::MAX,
            got: usize::MAX,
        })?;
        let new_counter = self.counter.checked_add(1).ok_or(StoreError::Counter {
            message: String::from("the counter is at its maximum"),
        })?;

        let sectors = self.allocate(needed)?;
        let nonces = self.nonces(needed + 1);
        let mut fresh = sectors.iter().copied().zip(nonces.chunks_exact(NONCE_LEN));
        let mut writes: Vec<(u16, Box<Sector>)> = Vec::with_capacity(needed);
        let mut seal = |kind: SectorKind, payload: &[u8], writes: &mut Vec<(u16, Box<Sector>)>| {
            let (sector, nonce) = fresh.next().ok_or(StoreError::Full)?;
            let mut n = [0u8; NONCE_LEN];
            n.copy_from_slice(nonce);
            let buf = envelope::seal(&self.keys, u32::from(sector), kind, payload, &n)?;
            let at = SectorRef {
                sector,
                hash: sha256(&buf[..]),
            };
            writes.push((sector, buf));
            Ok::<SectorRef, StoreError>(at)
        };

        let (groups, gmeta) = match &group_change {
            Some(gc) => (&gc.groups, &gc.meta),
            None => (&self.groups, &self.gmeta),
        };
        // Leaves.
        let mut leaves: Vec<LeafInfo> = Vec::with_capacity(leaf_count);
        leaves.extend(self.leaves.iter().take(a).cloned());
        if let Some(sp) = &splice {
            for entries in &sp.leaves {
                let Some(first) = entries.first() else {
                    continue;
                };
                let mut mask = 0u64;
                for e in entries {
                    let slot = groups
                        .binary_search_by_key(&e.group, |g| g.id)
                        .ok()
                        .and_then(|i| gmeta.get(i))
                        .map_or(0, |m| m.slot);
                    mask |= 1u64 << (slot % 64);
                }
                let bytes = leaf_size(entries);
                let at = seal(SectorKind::Leaf, &encode_leaf(entries), &mut writes)?;
                leaves.push(LeafInfo {
                    first: first.uuid,
                    at,
                    count: u16::try_from(entries.len()).unwrap_or(u16::MAX),
                    bytes: u16::try_from(bytes).unwrap_or(u16::MAX),
                    groups: mask,
                });
            }
        }
        leaves.extend(self.leaves.iter().skip(b).cloned());

        // Index sectors.
        let mut nodes = Vec::with_capacity(node_plan.len());
        let mut pos = 0usize;
        for np in &node_plan {
            let run = leaves.get(pos..pos + np.len).unwrap_or(&[]);
            let at = match np.keep {
                Some(at) => at,
                None => seal(
                    SectorKind::Index,
                    &encode_index(run.iter().map(|l| IndexEntry {
                        first: l.first,
                        leaf: l.at,
                    })),
                    &mut writes,
                )?,
            };
            nodes.push(Node { len: np.len, at });
            pos += np.len;
        }

        // Group sectors.
        let mut bins = Vec::with_capacity(bin_plan.len());
        for (k, bp) in bin_plan.iter().enumerate() {
            let at = match bp {
                Some(at) => *at,
                None => seal(
                    SectorKind::Group,
                    &encode_groups(
                        groups
                            .iter()
                            .zip(gmeta.iter())
                            .filter(|(_, m)| m.bin == k)
                            .map(|(g, _)| g),
                    ),
                    &mut writes,
                )?,
            };
            bins.push(at);
        }

        // The root.
        let root = RootPayload {
            sequence,
            counter: new_counter,
            vtpm_count,
            next_group_id,
            groups: bins.clone(),
            index: nodes.iter().map(|n| n.at).collect(),
        };
        let root_slot = if self.slot == ROOT_SLOTS[0] {
            ROOT_SLOTS[1]
        } else {
            ROOT_SLOTS[0]
        };
        let mut rn = [0u8; NONCE_LEN];
        if let Some((_, nonce)) = fresh.next() {
            rn.copy_from_slice(nonce);
        }
        drop(fresh);
        let root_buf =
            envelope::seal(&self.keys, root_slot, SectorKind::Root, &root.encode(), &rn)?;

        // Write: data, flush, root, flush, increment.
        for (s, buf) in &writes {
            self.dev
                .write_sector(u32::from(*s), buf)
                .map_err(|e| io_error(IoOp::Write, Some(u32::from(*s)), e))?;
        }
        self.dev
            .flush()
            .map_err(|e| io_error(IoOp::Flush, None, e))?;
        if let Err(e) = self.dev.write_sector(root_slot, &root_buf) {
            let err = io_error(IoOp::Write, Some(root_slot), e);
            return Err(self.poison(format!(
                "the root write failed ({err}); its outcome is unknown"
            )));
        }

        // The new root may be on disk: from here on the in-memory state is the new one.
        let mut live = SectorSet::default();
        for s in bins
            .iter()
            .map(|b| b.sector)
            .chain(nodes.iter().map(|n| n.at.sector))
            .chain(leaves.iter().map(|l| l.at.sector))
        {
            live.insert(s);
        }
        self.standby = self.live;
        self.live = live;
        self.leaves = leaves;
        self.nodes = nodes;
        self.bins = bins;
        if let Some(gc) = group_change {
            self.groups = gc.groups;
            self.gmeta = gc.meta;
        }
        if let Some((gid, d)) = count {
            if let Some(i) = self.group_index(gid) {
                if let Some(g) = self.groups.get_mut(i) {
                    g.vtpm_count = u32::try_from(i64::from(g.vtpm_count) + d).unwrap_or(0);
                }
            }
        }
        self.vtpm_count = vtpm_count;
        self.next_group_id = next_group_id;
        self.sequence = sequence;
        self.counter = new_counter;
        self.slot = root_slot;

        if let Err(e) = self.dev.flush() {
            let err = io_error(IoOp::Flush, None, e);
            return Err(self.poison(format!(
                "the flush after the root write failed ({err}); the commit's outcome is unknown"
            )));
        }
        match counter.increment() {
            Ok(v) if v == new_counter => Ok(()),
            Ok(v) => Err(self.poison(format!(
                "the counter increment returned {v}, expected {new_counter}"
            ))),
            Err(e) => Err(self.poison(format!("the counter increment failed: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(len: usize, s: u16) -> Node {
        Node {
            len,
            at: SectorRef {
                sector: s,
                hash: [0; 32],
            },
        }
    }

    #[test]
    fn plan_nodes_splits_merges_and_keeps() {
        // Empty index: one new node.
        assert_eq!(
            plan_nodes(&[], 0, 0, 1),
            vec![NodePlan { len: 1, keep: None }]
        );
        let nodes = [node(80, 10), node(40, 11)];
        // Replace leaf 5 by two leaves: node 0 overflows and splits; node 1 unchanged.
        let p = plan_nodes(&nodes, 5, 6, 2);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].len + p[1].len, 81);
        assert!(p[0].keep.is_none() && p[1].keep.is_none());
        assert_eq!(
            p[2],
            NodePlan {
                len: 40,
                keep: Some(nodes[1].at)
            }
        );
        // Replace leaf 85 in place: only node 1 changes.
        let p = plan_nodes(&nodes, 85, 86, 1);
        assert_eq!(p[0].keep, Some(nodes[0].at));
        assert_eq!(
            p[1],
            NodePlan {
                len: 40,
                keep: None
            }
        );
        // Empty node 1 except one leaf, then remove it: dropped.
        let nodes = [node(30, 10), node(1, 11)];
        let p = plan_nodes(&nodes, 30, 31, 0);
        assert_eq!(
            p,
            vec![NodePlan {
                len: 30,
                keep: Some(nodes[0].at)
            }]
        );
        // A changed small node merges with its neighbour.
        let nodes = [node(30, 10), node(5, 11)];
        let p = plan_nodes(&nodes, 31, 32, 1);
        assert_eq!(
            p,
            vec![NodePlan {
                len: 35,
                keep: None
            }]
        );
    }
}

//! Format and open (docs/disk-format.md, "Format", "Open"): the choice of root, the
//! verification of its whole tree, the rollback rule against the monotonic counter, and the
//! check of the standby root. Open never writes to the device.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, btree_map};
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;

use rand_core::{CryptoRng, RngCore};
use vtpm_domain::engine::crypto::CtrDrbg;
use zeroize::Zeroizing;

use super::envelope;
use super::error::{IoOp, SectorKind, StoreError, copy_name};
use super::header::{HeaderCopy, HeaderState, MAX_BINDING, check_size, read_header, read_raw};
use super::keys::{Keys, RootKey, sha256};
use super::payload::{
    FIRST_DYNAMIC, GroupRecord, LeafView, MAX_GROUPS, RootPayload, SectorRef, parse_groups,
    parse_index,
};
use super::{GroupMeta, LeafInfo, Node, ROOT_SLOTS, SectorSet, Store};
use crate::Uuid;
use crate::seams::{BlockDevice, MonotonicCounter, SECTOR_SIZE, Sector};

/// The personalization string of the nonce generator.
const DRBG_PERSONALIZATION: &[u8] = b"vtpmmgr-store-v1 nonces";

/// Which part of the image a [`Damage`] entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamagedPart {
    /// Header copy A (0) or B (1).
    HeaderCopy(u8),
    /// The standby root sector (the root not chosen).
    StandbyRoot,
    /// A sector of the standby root's tree.
    StandbyTree,
}

/// Damage that did not stop the open: the other header copy, or the standby root and its tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// What is damaged.
    pub part: DamagedPart,
    /// What the check found.
    pub error: StoreError,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.part {
            DamagedPart::HeaderCopy(c) => write!(
                f,
                "header copy {} (sector {c}): {}; the other copy is intact",
                copy_name(c),
                self.error
            ),
            DamagedPart::StandbyRoot => write!(
                f,
                "standby root: {}; expected if the manager stopped during a commit, \
                 otherwise a sign of tampering",
                self.error
            ),
            DamagedPart::StandbyTree => write!(
                f,
                "standby root's tree: {}; expected if the manager stopped during a commit \
                 (the commit reuses the standby's sectors), otherwise a sign of tampering",
                self.error
            ),
        }
    }
}

/// What [`Store::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The sector of the root in use (2 or 3).
    pub root_sector: u32,
    /// Its commit sequence number.
    pub sequence: u64,
    /// The counter value it expects (equal to the hardware counter after the open).
    pub counter: u64,
    /// The last commit's counter increment had been lost in a crash and was redone.
    pub rolled_forward: bool,
    /// Damage outside the state in use.
    pub damage: Vec<Damage>,
}

/// What a leaf holds, remembered while the trees are verified so the standby's check reuses
/// the leaves it shares with the current tree.
struct LeafSummary {
    first: Uuid,
    last: Uuid,
    count: u16,
    bytes: u16,
    /// (group id, entries) per group present.
    groups: Vec<(u32, u32)>,
}

/// A verified tree.
pub(crate) struct Tree {
    pub(crate) root: RootPayload,
    pub(crate) groups: Vec<GroupRecord>,
    pub(crate) gmeta: Vec<GroupMeta>,
    pub(crate) bins: Vec<SectorRef>,
    pub(crate) leaves: Vec<LeafInfo>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) live: SectorSet,
}

enum RootRead {
    Blank,
    Bad(StoreError),
    Good(RootPayload),
}

fn read_root<D: BlockDevice>(dev: &mut D, keys: &Keys, slot: u32) -> Result<RootRead, StoreError> {
    let raw = read_raw(dev, slot)?;
    if raw.iter().all(|b| *b == 0) {
        return Ok(RootRead::Blank);
    }
    let parsed = envelope::open(keys, slot, SectorKind::Root, &raw).and_then(|p| {
        RootPayload::parse(&p).map_err(|what| StoreError::SectorMalformed {
            sector: slot,
            kind: SectorKind::Root,
            what,
        })
    });
    Ok(match parsed {
        Ok(r) => RootRead::Good(r),
        Err(e) => RootRead::Bad(e),
    })
}

/// Reads sector `r.sector`, checks its SHA-256 against `r.hash` and its envelope, and
/// returns the payload.
pub(crate) fn read_child<D: BlockDevice>(
    dev: &mut D,
    keys: &Keys,
    r: SectorRef,
    kind: SectorKind,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let sector = u32::from(r.sector);
    let raw = read_raw(dev, sector)?;
    if sha256(&raw[..]) != r.hash {
        return Err(StoreError::SectorHash { sector, kind });
    }
    envelope::open(keys, sector, kind, &raw)
}

fn malformed(sector: u16, kind: SectorKind, what: &'static str) -> StoreError {
    StoreError::SectorMalformed {
        sector: u32::from(sector),
        kind,
        what,
    }
}

/// Verifies the whole tree of `root`: every group, index and leaf sector (hash, MAC, payload
/// rules, global UUID order, known group ids, counts). Sectors are added to `seen` as they are
/// referenced, so a caller still learns the tree's sectors when verification fails.
fn load_tree<D: BlockDevice>(
    dev: &mut D,
    keys: &Keys,
    slot: u32,
    root: RootPayload,
    cache: &mut BTreeMap<SectorRef, LeafSummary>,
    seen: &mut SectorSet,
) -> Result<Tree, StoreError> {
    let mut claim = |s: u16, kind| {
        if seen.insert(s) {
            Ok(())
        } else {
            Err(malformed(
                s,
                kind,
                "the sector is referenced twice in one tree",
            ))
        }
    };
    // Groups.
    let mut groups: Vec<(GroupRecord, usize)> = Vec::new();
    for (bin, r) in root.groups.iter().enumerate() {
        claim(r.sector, SectorKind::Group)?;
        let p = read_child(dev, keys, *r, SectorKind::Group)?;
        let recs = parse_groups(&p).map_err(|w| malformed(r.sector, SectorKind::Group, w))?;
        for g in recs {
            if g.id >= root.next_group_id {
                return Err(malformed(
                    r.sector,
                    SectorKind::Group,
                    "a group id the root never assigned",
                ));
            }
            groups.push((g, bin));
        }
    }
    if groups.len() > MAX_GROUPS {
        return Err(malformed(
            root.groups.last().map_or(0, |r| r.sector),
            SectorKind::Group,
            "more than 64 groups",
        ));
    }
    groups.sort_by_key(|(g, _)| g.id);
    for w in groups.windows(2) {
        if let [(a, _), (b, bin)] = w {
            let sector = root.groups.get(*bin).map_or(0, |r| r.sector);
            if a.id == b.id {
                return Err(malformed(
                    sector,
                    SectorKind::Group,
                    "two groups share an id",
                ));
            }
        }
    }
    for (i, (g, bin)) in groups.iter().enumerate() {
        if groups.iter().skip(i + 1).any(|(h, _)| h.uuid == g.uuid) {
            let sector = root.groups.get(*bin).map_or(0, |r| r.sector);
            return Err(malformed(
                sector,
                SectorKind::Group,
                "two groups share a UUID",
            ));
        }
    }
    for (bin, r) in root.groups.iter().enumerate() {
        if !groups.iter().any(|(_, b)| *b == bin) {
            return Err(malformed(
                r.sector,
                SectorKind::Group,
                "an empty group sector",
            ));
        }
    }

    // Index sectors and leaves.
    let mut nodes = Vec::with_capacity(root.index.len());
    let mut leaves: Vec<LeafInfo> = Vec::new();
    let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut prev_last: Option<Uuid> = None;
    for r in &root.index {
        claim(r.sector, SectorKind::Index)?;
        let p = read_child(dev, keys, *r, SectorKind::Index)?;
        let entries = parse_index(&p).map_err(|w| malformed(r.sector, SectorKind::Index, w))?;
        nodes.push(Node {
            len: entries.len(),
            at: *r,
        });
        for e in entries {
            claim(e.leaf.sector, SectorKind::Leaf)?;
            if let btree_map::Entry::Vacant(slot) = cache.entry(e.leaf) {
                slot.insert(summarize_leaf(dev, keys, e.leaf)?);
            }
            let Some(s) = cache.get(&e.leaf) else {
                return Err(malformed(e.leaf.sector, SectorKind::Leaf, "summary lost"));
            };
            if s.first != e.first {
                return Err(malformed(
                    e.leaf.sector,
                    SectorKind::Leaf,
                    "its first UUID is not the one the index records",
                ));
            }
            if prev_last.is_some_and(|p| p >= s.first) {
                return Err(malformed(
                    e.leaf.sector,
                    SectorKind::Leaf,
                    "its UUIDs do not follow the previous leaf's",
                ));
            }
            prev_last = Some(s.last);
            let mut mask = 0u64;
            for (gid, n) in &s.groups {
                let Ok(slot) = groups.binary_search_by_key(gid, |(g, _)| g.id) else {
                    return Err(malformed(
                        e.leaf.sector,
                        SectorKind::Leaf,
                        "an entry names a group that does not exist",
                    ));
                };
                mask |= 1u64 << (slot % 64);
                *counts.entry(*gid).or_insert(0) += n;
            }
            total += u64::from(s.count);
            leaves.push(LeafInfo {
                first: s.first,
                at: e.leaf,
                count: s.count,
                bytes: s.bytes,
                groups: mask,
            });
        }
    }
    if total != u64::from(root.vtpm_count) {
        return Err(StoreError::SectorMalformed {
            sector: slot,
            kind: SectorKind::Root,
            what: "the vTPM count differs from the entries in the leaves",
        });
    }
    let gmeta = groups
        .iter()
        .enumerate()
        .map(|(slot, (_, bin))| GroupMeta {
            slot: u8::try_from(slot).unwrap_or(u8::MAX),
            bin: *bin,
        })
        .collect();
    let groups = groups
        .into_iter()
        .map(|(mut g, _)| {
            g.vtpm_count = counts.get(&g.id).copied().unwrap_or(0);
            g
        })
        .collect();
    Ok(Tree {
        bins: root.groups.clone(),
        root,
        groups,
        gmeta,
        leaves,
        nodes,
        live: *seen,
    })
}

fn summarize_leaf<D: BlockDevice>(
    dev: &mut D,
    keys: &Keys,
    at: SectorRef,
) -> Result<LeafSummary, StoreError> {
    let payload = read_child(dev, keys, at, SectorKind::Leaf)?;
    let v = LeafView::parse(&payload).map_err(|w| malformed(at.sector, SectorKind::Leaf, w))?;
    let mut groups: Vec<(u32, u32)> = Vec::new();
    for i in 0..v.len() {
        let g = v.group(i);
        match groups.iter_mut().find(|(id, _)| *id == g) {
            Some((_, n)) => *n += 1,
            None => groups.push((g, 1)),
        }
    }
    Ok(LeafSummary {
        first: v.uuid(0),
        last: v.uuid(v.len().saturating_sub(1)),
        count: u16::try_from(v.len()).unwrap_or(u16::MAX),
        bytes: u16::try_from(v.bytes()).unwrap_or(u16::MAX),
        groups,
    })
}

fn seed_drbg<R: RngCore + CryptoRng>(rng: &mut R, manager_uuid: &Uuid) -> CtrDrbg {
    let mut entropy = Zeroizing::new([0u8; 48]);
    rng.fill_bytes(&mut entropy[..]);
    let mut pers = Vec::with_capacity(DRBG_PERSONALIZATION.len() + 16);
    pers.extend_from_slice(DRBG_PERSONALIZATION);
    pers.extend_from_slice(manager_uuid.as_bytes());
    CtrDrbg::instantiate(&entropy[..32], &entropy[32..], &pers)
}

fn counter_error<E: fmt::Display>(what: &str, e: E) -> StoreError {
    StoreError::Counter {
        message: format!("{what}: {e}"),
    }
}

pub(crate) fn io_error<E: fmt::Display>(op: IoOp, sector: Option<u32>, e: E) -> StoreError {
    StoreError::Io {
        op,
        sector,
        message: e.to_string(),
    }
}

impl<D: BlockDevice> Store<D> {
    /// Formats a blank image: the initial empty root in sector 2 (sector 3 zeroed), a flush,
    /// both header copies, a flush, then the counter increment the root expects.
    ///
    /// The device's header sectors must be all zeros ([`StoreError::NotBlank`] otherwise).
    pub fn format<C: MonotonicCounter, R: RngCore + CryptoRng>(
        mut dev: D,
        manager_uuid: Uuid,
        binding: &[u8],
        root_key: &RootKey,
        counter: &mut C,
        rng: &mut R,
    ) -> Result<Store<D>, StoreError> {
        check_size(&dev)?;
        if binding.len() > MAX_BINDING {
            return Err(StoreError::Limit {
                what: "binding bytes",
                max: MAX_BINDING,
                got: binding.len(),
            });
        }
        match read_header(&mut dev) {
            Ok(HeaderState::Blank) => {}
            Err(e @ (StoreError::Io { .. } | StoreError::DeviceTooSmall { .. })) => return Err(e),
            Ok(HeaderState::Formatted(_)) | Err(_) => return Err(StoreError::NotBlank),
        }
        let keys = Keys::derive(root_key);
        let mut drbg = seed_drbg(rng, &manager_uuid);
        let c = counter.read().map_err(|e| counter_error("read", e))?;
        let expect = c
            .checked_add(1)
            .ok_or_else(|| counter_error("read", "the counter is at its maximum"))?;
        let root = RootPayload {
            sequence: 1,
            counter: expect,
            vtpm_count: 0,
            next_group_id: 1,
            groups: Vec::new(),
            index: Vec::new(),
        };
        let mut nonce = [0u8; envelope::NONCE_LEN];
        drbg.generate(&mut nonce, &[]);
        let slot = ROOT_SLOTS[0];
        let sealed = envelope::seal(&keys, slot, SectorKind::Root, &root.encode(), &nonce)?;
        let header = HeaderCopy::new(&keys, manager_uuid, binding).to_sector();
        let zero: Box<Sector> = Box::new([0u8; SECTOR_SIZE]);
        let write = |dev: &mut D, s: u32, buf: &Sector| {
            dev.write_sector(s, buf)
                .map_err(|e| io_error(IoOp::Write, Some(s), e))
        };
        let flush = |dev: &mut D| dev.flush().map_err(|e| io_error(IoOp::Flush, None, e));
        write(&mut dev, slot, &sealed)?;
        write(&mut dev, ROOT_SLOTS[1], &zero)?;
        flush(&mut dev)?;
        write(&mut dev, 0, &header)?;
        write(&mut dev, 1, &header)?;
        flush(&mut dev)?;
        let v = counter
            .increment()
            .map_err(|e| counter_error("increment", e))?;
        if v != expect {
            return Err(StoreError::Counter {
                message: format!("increment returned {v}, expected {expect}"),
            });
        }
        Ok(Store {
            dev,
            keys,
            drbg,
            manager_uuid,
            slot,
            sequence: 1,
            counter: expect,
            next_group_id: 1,
            vtpm_count: 0,
            groups: Vec::new(),
            gmeta: Vec::new(),
            bins: Vec::new(),
            leaves: Vec::new(),
            nodes: Vec::new(),
            live: SectorSet::default(),
            standby: SectorSet::default(),
            cursor: FIRST_DYNAMIC,
            poisoned: None,
        })
    }

    /// Opens a formatted image with one of its header copies and the root key unsealed from it.
    ///
    /// Verifies the header copy's tag, reads both roots and takes the newest one that
    /// authenticates (a torn root write falls back to the other), verifies its whole tree, then
    /// applies the rollback rule against the counter's value C: the root expects C (fine) or
    /// C + 1 (the last commit's increment was lost: it is redone and reported); less is
    /// [`StoreError::RolledBack`], more [`StoreError::CounterAhead`]. The other header copy and
    /// the standby root with its tree are checked too; their damage is reported, not fatal.
    /// Nothing is written to the device.
    pub fn open<C: MonotonicCounter, R: RngCore + CryptoRng>(
        mut dev: D,
        header: &HeaderCopy,
        root_key: &RootKey,
        counter: &mut C,
        rng: &mut R,
    ) -> Result<(Store<D>, OpenReport), StoreError> {
        check_size(&dev)?;
        let keys = Keys::derive(root_key);
        if !header.verify(&keys) {
            return Err(StoreError::HeaderMac { copy: header.copy });
        }
        let mut damage = Vec::new();
        let expected = header.to_sector();
        for copy in 0u8..2 {
            let raw = read_raw(&mut dev, u32::from(copy))?;
            if raw[..] != expected[..] {
                let error = match super::header::parse_header_sector(copy, &raw) {
                    Err(e) => e,
                    Ok(_) => StoreError::HeaderDiffers { copy },
                };
                damage.push(Damage {
                    part: DamagedPart::HeaderCopy(copy),
                    error,
                });
            }
        }

        let a = read_root(&mut dev, &keys, ROOT_SLOTS[0])?;
        let b = read_root(&mut dev, &keys, ROOT_SLOTS[1])?;
        let (slot, current, standby) = match (a, b) {
            (RootRead::Good(x), RootRead::Good(y)) => {
                if x.sequence == y.sequence {
                    return Err(malformed(
                        3,
                        SectorKind::Root,
                        "both roots carry the same sequence number",
                    ));
                }
                if x.sequence > y.sequence {
                    (ROOT_SLOTS[0], x, RootRead::Good(y))
                } else {
                    (ROOT_SLOTS[1], y, RootRead::Good(x))
                }
            }
            (RootRead::Good(x), other) => (ROOT_SLOTS[0], x, other),
            (other, RootRead::Good(y)) => (ROOT_SLOTS[1], y, other),
            (RootRead::Bad(e), _) | (_, RootRead::Bad(e)) => return Err(e),
            (RootRead::Blank, RootRead::Blank) => return Err(StoreError::NoRoot),
        };
        let standby_slot = if slot == ROOT_SLOTS[0] {
            ROOT_SLOTS[1]
        } else {
            ROOT_SLOTS[0]
        };

        let mut cache = BTreeMap::new();
        let mut seen = SectorSet::default();
        let tree = load_tree(&mut dev, &keys, slot, current, &mut cache, &mut seen)?;

        // The rollback rule.
        let c = counter.read().map_err(|e| counter_error("read", e))?;
        let image = tree.root.counter;
        let mut rolled_forward = false;
        if image != c {
            if Some(image) == c.checked_add(1) {
                let v = counter
                    .increment()
                    .map_err(|e| counter_error("increment (roll forward)", e))?;
                if v != image {
                    return Err(StoreError::Counter {
                        message: format!("roll-forward increment returned {v}, expected {image}"),
                    });
                }
                rolled_forward = true;
            } else if image < c {
                return Err(StoreError::RolledBack { image, hardware: c });
            } else {
                return Err(StoreError::CounterAhead { image, hardware: c });
            }
        }

        // The standby root and its tree.
        let mut standby_seen = SectorSet::default();
        match standby {
            RootRead::Good(r) => {
                if let Err(error) = load_tree(
                    &mut dev,
                    &keys,
                    standby_slot,
                    r,
                    &mut cache,
                    &mut standby_seen,
                ) {
                    damage.push(Damage {
                        part: DamagedPart::StandbyTree,
                        error,
                    });
                }
            }
            RootRead::Bad(error) => damage.push(Damage {
                part: DamagedPart::StandbyRoot,
                error,
            }),
            RootRead::Blank => {
                if tree.root.sequence > 1 {
                    damage.push(Damage {
                        part: DamagedPart::StandbyRoot,
                        error: malformed(
                            u16::try_from(standby_slot).unwrap_or(0),
                            SectorKind::Root,
                            "blank although the current root has a predecessor",
                        ),
                    });
                }
            }
        }

        let drbg = seed_drbg(rng, &header.manager_uuid);
        let report = OpenReport {
            root_sector: slot,
            sequence: tree.root.sequence,
            counter: image,
            rolled_forward,
            damage,
        };
        let store = Store {
            dev,
            keys,
            drbg,
            manager_uuid: header.manager_uuid,
            slot,
            sequence: tree.root.sequence,
            counter: image,
            next_group_id: tree.root.next_group_id,
            vtpm_count: tree.root.vtpm_count,
            groups: tree.groups,
            gmeta: tree.gmeta,
            bins: tree.bins,
            leaves: tree.leaves,
            nodes: tree.nodes,
            live: tree.live,
            standby: standby_seen,
            cursor: FIRST_DYNAMIC,
            poisoned: None,
        };
        Ok((store, report))
    }
}

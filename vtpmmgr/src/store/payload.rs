//! The records and the decrypted payload of each sector kind (docs/disk-format.md, "Root
//! payload", "Group payload", "Index payload", "Leaf payload"). Parsers check every count, length
//! and order rule and that the padding is zero, so each payload has one encoding.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use super::codec::{Parse, Reader};
use super::envelope::PAYLOAD_LEN;
use crate::Uuid;
use crate::seams::SECTOR_COUNT;

/// The longest vTPM key.
pub const MAX_KEY: usize = 64;
/// The most kernel hashes a group authorises.
pub const MAX_KERNELS: usize = 16;
/// The longest attestation blob a group carries.
pub const MAX_ATTEST: usize = 1024;
/// The most groups a store holds.
pub const MAX_GROUPS: usize = 64;

/// The first sector that holds groups, index sectors or leaves.
pub(crate) const FIRST_DYNAMIC: u16 = 4;
/// The most bytes a leaf payload takes.
pub(crate) const LEAF_CAPACITY: usize = PAYLOAD_LEN;
/// A leaf's fixed bytes: entry count 2, group table length 1.
pub(crate) const LEAF_FIXED: usize = 3;
/// Bytes per group in a leaf's group table.
pub(crate) const LEAF_GROUP: usize = 4;
/// Fixed bytes per vTPM entry: UUID 16, group table index 1, flags 2, key length 1.
pub(crate) const ENTRY_FIXED: usize = 20;
/// The bytes one index entry takes: first UUID 16, sector 2, SHA-256 32.
const INDEX_ENTRY: usize = 50;
/// The most leaves one index sector lists.
pub(crate) const INDEX_CAPACITY: usize = (PAYLOAD_LEN - 2) / INDEX_ENTRY;
/// The bytes a sector reference takes in the root: sector 2, SHA-256 32.
const REF_LEN: usize = 34;
/// Root bytes before the references.
const ROOT_FIXED: usize = 32;
/// The most index sectors the root lists (what remains after 64 group references).
pub(crate) const MAX_INDEX_SECTORS: usize = (PAYLOAD_LEN - ROOT_FIXED) / REF_LEN - MAX_GROUPS;
/// The bytes a group record takes before its kernel hashes and attestation blob.
const GROUP_FIXED: usize = 31;
/// The bytes a group sector has for records (after its count).
pub(crate) const GROUP_CAPACITY: usize = PAYLOAD_LEN - 2;

/// One vTPM's entry: its UUID, group, flags and the key its domain needs to decrypt its state.
#[derive(Clone, PartialEq, Eq)]
pub struct VtpmRecord {
    /// The vTPM's UUID (the order of the store).
    pub uuid: Uuid,
    /// The id of the group it belongs to.
    pub group: u32,
    /// Flags (opaque to the store).
    pub flags: u16,
    /// The hash key, 0..=64 bytes; empty means "never saved".
    pub key: Zeroizing<Vec<u8>>,
}

impl VtpmRecord {
    /// A record with a copy of `key`.
    pub fn new(uuid: Uuid, group: u32, flags: u16, key: &[u8]) -> VtpmRecord {
        VtpmRecord {
            uuid,
            group,
            flags,
            key: Zeroizing::new(key.to_vec()),
        }
    }

    /// The bytes this entry takes in a leaf.
    pub(crate) fn encoded_len(&self) -> usize {
        ENTRY_FIXED + self.key.len()
    }
}

impl core::fmt::Debug for VtpmRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VtpmRecord")
            .field("uuid", &self.uuid)
            .field("group", &self.group)
            .field("flags", &self.flags)
            .field("key_len", &self.key.len())
            .finish_non_exhaustive()
    }
}

/// A group: the kernels it authorises and its attestation-key blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// The id the store assigned (never reused).
    pub id: u32,
    /// The group's UUID.
    pub uuid: Uuid,
    /// The sequence number of the kernel list (the caller's).
    pub kernel_seq: u64,
    /// SHA-256 hashes of the kernels authorised for the group (at most 16).
    pub kernels: Vec<[u8; 32]>,
    /// Opaque attestation-key blobs (at most 1024 bytes).
    pub attest: Vec<u8>,
    /// How many vTPMs belong to the group (counted by the store).
    pub vtpm_count: u32,
}

impl GroupRecord {
    /// The bytes this record takes in a group sector.
    pub(crate) fn encoded_len(&self) -> usize {
        GROUP_FIXED + 32 * self.kernels.len() + self.attest.len()
    }
}

/// A reference to a child sector: its number and the SHA-256 of its whole on-disk sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SectorRef {
    pub(crate) sector: u16,
    pub(crate) hash: [u8; 32],
}

fn sector_number(r: &mut Reader<'_>) -> Parse<u16> {
    let s = r.u16("sector number")?;
    if s < FIRST_DYNAMIC || u32::from(s) >= SECTOR_COUNT {
        return Err("a reference points outside sectors 4..=511");
    }
    Ok(s)
}

fn put_ref(out: &mut Vec<u8>, r: &SectorRef) {
    out.extend_from_slice(&r.sector.to_be_bytes());
    out.extend_from_slice(&r.hash);
}

fn count_u16(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

// ---------------------------------------------------------------------------------------------
// Root

/// The root's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RootPayload {
    pub(crate) sequence: u64,
    pub(crate) counter: u64,
    pub(crate) vtpm_count: u32,
    pub(crate) next_group_id: u32,
    pub(crate) groups: Vec<SectorRef>,
    pub(crate) index: Vec<SectorRef>,
}

impl RootPayload {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PAYLOAD_LEN);
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&self.vtpm_count.to_be_bytes());
        out.extend_from_slice(&self.next_group_id.to_be_bytes());
        out.extend_from_slice(&count_u16(self.groups.len()));
        out.extend_from_slice(&count_u16(self.index.len()));
        out.extend_from_slice(&[0; 4]);
        for r in self.groups.iter().chain(&self.index) {
            put_ref(&mut out, r);
        }
        out
    }

    pub(crate) fn parse(payload: &[u8]) -> Parse<RootPayload> {
        let mut r = Reader::new(payload);
        let sequence = r.u64("sequence")?;
        let counter = r.u64("counter")?;
        let vtpm_count = r.u32("vTPM count")?;
        let next_group_id = r.u32("next group id")?;
        let ng = usize::from(r.u16("group sector count")?);
        let ni = usize::from(r.u16("index sector count")?);
        if r.u32("reserved")? != 0 {
            return Err("reserved bytes are not zero");
        }
        if ng > MAX_GROUPS {
            return Err("more than 64 group sectors");
        }
        if ni > MAX_INDEX_SECTORS {
            return Err("too many index sectors");
        }
        let mut refs = |n: usize| -> Parse<Vec<SectorRef>> {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let sector = sector_number(&mut r)?;
                let hash = r.array("child hash")?;
                v.push(SectorRef { sector, hash });
            }
            Ok(v)
        };
        let groups = refs(ng)?;
        let index = refs(ni)?;
        r.zero_rest("padding is not zero")?;
        if ni == 0 && vtpm_count != 0 {
            return Err("vTPM count is not zero but there is no index");
        }
        Ok(RootPayload {
            sequence,
            counter,
            vtpm_count,
            next_group_id,
            groups,
            index,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

pub(crate) fn encode_groups<'a>(groups: impl Iterator<Item = &'a GroupRecord>) -> Vec<u8> {
    let mut out = Vec::with_capacity(PAYLOAD_LEN);
    out.extend_from_slice(&[0, 0]);
    let mut n = 0usize;
    for g in groups {
        n += 1;
        out.extend_from_slice(&g.id.to_be_bytes());
        out.extend_from_slice(g.uuid.as_bytes());
        out.extend_from_slice(&g.kernel_seq.to_be_bytes());
        out.push(u8::try_from(g.kernels.len()).unwrap_or(u8::MAX));
        for k in &g.kernels {
            out.extend_from_slice(k);
        }
        out.extend_from_slice(&count_u16(g.attest.len()));
        out.extend_from_slice(&g.attest);
    }
    out[..2].copy_from_slice(&count_u16(n));
    out
}

/// Parses a group payload; `vtpm_count` comes out zero (the store counts the leaves).
pub(crate) fn parse_groups(payload: &[u8]) -> Parse<Vec<GroupRecord>> {
    let mut r = Reader::new(payload);
    let n = usize::from(r.u16("group count")?);
    if n == 0 {
        return Err("a group sector without groups");
    }
    if n > MAX_GROUPS {
        return Err("more than 64 groups");
    }
    let mut out: Vec<GroupRecord> = Vec::with_capacity(n);
    for _ in 0..n {
        let id = r.u32("group id")?;
        if out.last().is_some_and(|p| p.id >= id) {
            return Err("group ids are not ascending");
        }
        let uuid = Uuid(r.array("group UUID")?);
        let kernel_seq = r.u64("kernel sequence")?;
        let nk = usize::from(r.u8("kernel count")?);
        if nk > MAX_KERNELS {
            return Err("more than 16 kernel hashes");
        }
        let mut kernels = Vec::with_capacity(nk);
        for _ in 0..nk {
            kernels.push(r.array("kernel hash")?);
        }
        let na = usize::from(r.u16("attestation length")?);
        if na > MAX_ATTEST {
            return Err("attestation blob longer than 1024 bytes");
        }
        let attest = r.bytes(na, "attestation blob")?.to_vec();
        out.push(GroupRecord {
            id,
            uuid,
            kernel_seq,
            kernels,
            attest,
            vtpm_count: 0,
        });
    }
    r.zero_rest("padding is not zero")?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Index

/// One leaf as an index sector lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) first: Uuid,
    pub(crate) leaf: SectorRef,
}

pub(crate) fn encode_index(entries: impl Iterator<Item = IndexEntry>) -> Vec<u8> {
    let mut out = Vec::with_capacity(PAYLOAD_LEN);
    out.extend_from_slice(&[0, 0]);
    let mut n = 0usize;
    for e in entries {
        n += 1;
        out.extend_from_slice(e.first.as_bytes());
        put_ref(&mut out, &e.leaf);
    }
    out[..2].copy_from_slice(&count_u16(n));
    out
}

pub(crate) fn parse_index(payload: &[u8]) -> Parse<Vec<IndexEntry>> {
    let mut r = Reader::new(payload);
    let n = usize::from(r.u16("leaf count")?);
    if n == 0 {
        return Err("an index sector without leaves");
    }
    if n > INDEX_CAPACITY {
        return Err("more leaves than an index sector holds");
    }
    let mut out: Vec<IndexEntry> = Vec::with_capacity(n);
    for _ in 0..n {
        let first = Uuid(r.array("first UUID")?);
        if out.last().is_some_and(|p| p.first >= first) {
            return Err("first UUIDs are not ascending");
        }
        let sector = sector_number(&mut r)?;
        let hash = r.array("leaf hash")?;
        out.push(IndexEntry {
            first,
            leaf: SectorRef { sector, hash },
        });
    }
    r.zero_rest("padding is not zero")?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Leaves

/// The distinct group ids of `entries`, ascending.
fn group_table(entries: &[VtpmRecord]) -> Vec<u32> {
    let mut t: Vec<u32> = entries.iter().map(|e| e.group).collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// The bytes the leaf payload of `entries` takes.
pub(crate) fn leaf_size(entries: &[VtpmRecord]) -> usize {
    LEAF_FIXED
        + LEAF_GROUP * group_table(entries).len()
        + entries.iter().map(VtpmRecord::encoded_len).sum::<usize>()
}

/// Encodes a leaf: the counts, the group table, then the columns (UUIDs, group table indices,
/// flags, key lengths, keys).
pub(crate) fn encode_leaf(entries: &[VtpmRecord]) -> Zeroizing<Vec<u8>> {
    let table = group_table(entries);
    let mut out = Zeroizing::new(Vec::with_capacity(PAYLOAD_LEN));
    out.extend_from_slice(&count_u16(entries.len()));
    out.push(u8::try_from(table.len()).unwrap_or(u8::MAX));
    for g in &table {
        out.extend_from_slice(&g.to_be_bytes());
    }
    for e in entries {
        out.extend_from_slice(e.uuid.as_bytes());
    }
    for e in entries {
        let i = table.binary_search(&e.group).unwrap_or(0);
        out.push(u8::try_from(i).unwrap_or(u8::MAX));
    }
    for e in entries {
        out.extend_from_slice(&e.flags.to_be_bytes());
    }
    for e in entries {
        out.push(u8::try_from(e.key.len()).unwrap_or(u8::MAX));
    }
    for e in entries {
        out.extend_from_slice(&e.key);
    }
    out
}

/// A checked view of a leaf payload.
pub(crate) struct LeafView<'a> {
    table: &'a [u8],
    uuids: &'a [u8],
    gidx: &'a [u8],
    flags: &'a [u8],
    lens: &'a [u8],
    keys: &'a [u8],
}

impl<'a> LeafView<'a> {
    /// Checks a leaf payload: at least one entry; a group table of distinct ascending ids,
    /// each used; UUIDs strictly ascending; keys at most 64 bytes; zero padding.
    pub(crate) fn parse(payload: &'a [u8]) -> Parse<LeafView<'a>> {
        let mut r = Reader::new(payload);
        let n = usize::from(r.u16("entry count")?);
        if n == 0 {
            return Err("a leaf without entries");
        }
        if n > (LEAF_CAPACITY - LEAF_FIXED - LEAF_GROUP) / ENTRY_FIXED {
            return Err("more entries than a leaf holds");
        }
        let g = usize::from(r.u8("group table length")?);
        if g == 0 || g > n || g > MAX_GROUPS {
            return Err("group table length out of range");
        }
        let table = r.bytes(LEAF_GROUP * g, "group table")?;
        let uuids = r.bytes(16 * n, "UUID column")?;
        let gidx = r.bytes(n, "group index column")?;
        let flags = r.bytes(2 * n, "flags column")?;
        let lens = r.bytes(n, "key length column")?;
        let mut total = 0usize;
        for l in lens {
            if usize::from(*l) > MAX_KEY {
                return Err("a key longer than 64 bytes");
            }
            total += usize::from(*l);
        }
        let keys = r.bytes(total, "keys")?;
        r.zero_rest("padding is not zero")?;
        let mut prev: Option<&[u8]> = None;
        for id in table.chunks_exact(LEAF_GROUP) {
            if prev.is_some_and(|p| p >= id) {
                return Err("group table ids are not strictly ascending");
            }
            prev = Some(id);
        }
        let mut used = 0u64;
        for i in gidx {
            if usize::from(*i) >= g {
                return Err("a group index past the group table");
            }
            used |= 1u64 << (i % 64);
        }
        if used.count_ones() != u32::try_from(g).unwrap_or(0) {
            return Err("a group table entry no entry uses");
        }
        let mut prev: Option<&[u8]> = None;
        for u in uuids.chunks_exact(16) {
            if prev.is_some_and(|p| p >= u) {
                return Err("UUIDs are not strictly ascending");
            }
            prev = Some(u);
        }
        Ok(LeafView {
            table,
            uuids,
            gidx,
            flags,
            lens,
            keys,
        })
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.lens.len()
    }

    /// The bytes the payload takes (without the padding).
    pub(crate) fn bytes(&self) -> usize {
        LEAF_FIXED + self.table.len() + ENTRY_FIXED * self.len() + self.keys.len()
    }

    pub(crate) fn uuid(&self, i: usize) -> Uuid {
        let mut u = [0u8; 16];
        if let Some(s) = self.uuids.get(16 * i..16 * i + 16) {
            u.copy_from_slice(s);
        }
        Uuid(u)
    }

    pub(crate) fn group(&self, i: usize) -> u32 {
        let t = self.gidx.get(i).map_or(0, |x| usize::from(*x));
        let mut g = [0u8; 4];
        if let Some(s) = self.table.get(LEAF_GROUP * t..LEAF_GROUP * t + LEAF_GROUP) {
            g.copy_from_slice(s);
        }
        u32::from_be_bytes(g)
    }

    fn flags(&self, i: usize) -> u16 {
        let mut f = [0u8; 2];
        if let Some(s) = self.flags.get(2 * i..2 * i + 2) {
            f.copy_from_slice(s);
        }
        u16::from_be_bytes(f)
    }

    /// The index of `uuid`, by binary search over the UUID column (O(log n) comparisons).
    pub(crate) fn find(&self, uuid: &Uuid) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.uuid(mid).cmp(uuid) {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Entry `i` (its key located by summing the preceding key lengths).
    pub(crate) fn record(&self, i: usize) -> VtpmRecord {
        let start: usize = self.lens.iter().take(i).map(|l| usize::from(*l)).sum();
        let len = self.lens.get(i).map_or(0, |l| usize::from(*l));
        let key = self.keys.get(start..start + len).unwrap_or(&[]);
        VtpmRecord::new(self.uuid(i), self.group(i), self.flags(i), key)
    }

    /// Every entry, in order.
    pub(crate) fn records(&self) -> Vec<VtpmRecord> {
        let mut out = Vec::with_capacity(self.len());
        let mut start = 0usize;
        for (i, l) in self.lens.iter().enumerate() {
            let len = usize::from(*l);
            let key = self.keys.get(start..start + len).unwrap_or(&[]);
            out.push(VtpmRecord::new(
                self.uuid(i),
                self.group(i),
                self.flags(i),
                key,
            ));
            start += len;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants() {
        assert_eq!(PAYLOAD_LEN, 4044);
        assert_eq!(INDEX_CAPACITY, 80);
        assert_eq!(MAX_INDEX_SECTORS, 54);
        // One group: 48 entries with 64-byte keys, 56 with 52-byte keys (Xen: 48 slots).
        assert_eq!(
            (LEAF_CAPACITY - LEAF_FIXED - LEAF_GROUP) / (ENTRY_FIXED + 64),
            48
        );
        assert_eq!(
            (LEAF_CAPACITY - LEAF_FIXED - LEAF_GROUP) / (ENTRY_FIXED + 52),
            56
        );
    }

    #[test]
    fn root_at_its_limits_round_trips() {
        let r = |i: usize| SectorRef {
            sector: u16::try_from(4 + i).unwrap(),
            hash: [u8::try_from(i).unwrap(); 32],
        };
        let root = RootPayload {
            sequence: u64::MAX,
            counter: 7,
            vtpm_count: 1,
            next_group_id: 65,
            groups: (0..MAX_GROUPS).map(r).collect(),
            index: (MAX_GROUPS..MAX_GROUPS + MAX_INDEX_SECTORS)
                .map(r)
                .collect(),
        };
        let p = root.encode();
        assert_eq!(p.len(), PAYLOAD_LEN);
        assert_eq!(RootPayload::parse(&p), Ok(root));
    }

    #[test]
    fn leaf_round_trip_and_search() {
        let recs: Vec<VtpmRecord> = (0u8..10)
            .map(|i| {
                VtpmRecord::new(
                    Uuid([i; 16]),
                    u32::from(i % 3) * 1000,
                    0x100 + u16::from(i),
                    &[i; 7][..usize::from(i % 7)],
                )
            })
            .collect();
        let mut p = encode_leaf(&recs);
        p.resize(PAYLOAD_LEN, 0);
        let v = LeafView::parse(&p).unwrap();
        assert_eq!(v.bytes(), leaf_size(&recs));
        assert_eq!(v.records(), recs);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(v.find(&r.uuid), Some(i));
            assert_eq!(&v.record(i), r);
        }
        assert_eq!(v.find(&Uuid([0xff; 16])), None);
        p[PAYLOAD_LEN - 1] = 1;
        assert!(LeafView::parse(&p).is_err());
    }
}

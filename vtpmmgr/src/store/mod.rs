//! The sealed store on the manager's 2 MB image (docs/disk-format.md, format version 1).
//!
//! For every vTPM the store keeps its "hash key" (the secret its domain needs to decrypt its own
//! state), its group and flags; for every group the kernels it authorises and its attestation
//! blobs. The image is 512 sectors of 4 KiB:
//!
//! - sectors 0 and 1: two identical plaintext headers ([`read_header`]): magic, version, manager
//!   UUID, the hardware-TPM module's opaque `binding` (which seals the [`RootKey`]) and an
//!   HMAC-SHA256 tag under a key derived from the root key;
//! - sectors 2 and 3: two roots used alternately, each naming its commit sequence and the
//!   monotonic counter value it expects;
//! - sectors 4..=511: group, index and leaf sectors, copy-on-write. Every one of sectors 2..=511
//!   is an encrypt-then-MAC envelope (AES-256-CTR, HMAC-SHA256 over the sector number, kind,
//!   nonce and ciphertext), and every parent records the SHA-256 of each child's whole sector: a
//!   hash tree from the root to every byte in use.
//!
//! Each change is one atomic commit: new sectors go where the current root references nothing,
//! then a flush, the new root into the other root slot, a flush, and the counter increment
//! (Xen's manager, by contrast, issues a single flush and leaves its rollback counter a stub:
//! shared/reference/xen-vtpm.md §4.10).
//!
//! - [`header`]: the header copies; [`keys`]: the root key and its derived keys;
//! - `envelope`: the sector envelope; `payload`: records and sector payloads;
//! - `load`: format and open (tree verification, the rollback rule); `commit`: copy-on-write
//!   commits; `place`: how entries are packed into leaves; `ops`: reads and mutations;
//! - [`inspect`]: decoding of raw sectors for tools and the fuzz target.

mod codec;
mod commit;
mod envelope;
mod error;
pub mod header;
pub mod inspect;
pub mod keys;
mod load;
mod ops;
mod payload;
mod place;

use alloc::string::String;
use alloc::vec::Vec;

use vtpm_domain::engine::crypto::CtrDrbg;

pub use error::{IoOp, SectorKind, StoreError};
pub use header::{HeaderCopy, HeaderState, parse_header_sector, read_header};
pub use keys::RootKey;
pub use load::{Damage, DamagedPart, OpenReport};
pub use payload::{GroupRecord, MAX_ATTEST, MAX_GROUPS, MAX_KERNELS, MAX_KEY, VtpmRecord};

use crate::Uuid;
use crate::seams::{BlockDevice, SECTOR_COUNT};
use keys::Keys;
use payload::SectorRef;

/// The sectors available to groups, index sectors and leaves (4..=511).
pub const DYNAMIC_SECTORS: u32 = SECTOR_COUNT - 4;

/// The sectors of the two root slots.
pub(crate) const ROOT_SLOTS: [u32; 2] = [2, 3];

/// A set of sector numbers (a bitmap over the 512 sectors).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SectorSet([u64; 8]);

impl SectorSet {
    pub(crate) fn contains(&self, s: u16) -> bool {
        let i = usize::from(s);
        self.0
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Adds `s`; false if it was already present.
    pub(crate) fn insert(&mut self, s: u16) -> bool {
        let i = usize::from(s);
        match self.0.get_mut(i / 64) {
            Some(w) => {
                let bit = 1u64 << (i % 64);
                let fresh = *w & bit == 0;
                *w |= bit;
                fresh
            }
            None => false,
        }
    }

    pub(crate) fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// One leaf as the store keeps it in memory (the cached index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeafInfo {
    pub(crate) first: Uuid,
    pub(crate) at: SectorRef,
    pub(crate) count: u16,
    /// Bytes the entries take.
    pub(crate) bytes: u16,
    /// Bit `slot` is set when an entry of the group in that slot is in the leaf.
    pub(crate) groups: u64,
}

/// One index sector: it lists the next `len` leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) len: usize,
    pub(crate) at: SectorRef,
}

/// Where a group lives in memory and on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupMeta {
    /// The bit of this group in [`LeafInfo::groups`].
    pub(crate) slot: u8,
    /// The group sector ("bin") holding the record: an index into `Store::bins`.
    pub(crate) bin: usize,
}

/// How the image's sectors are used (diagnostics, capacity figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Sectors of the current tree (groups, index sectors, leaves).
    pub live_sectors: u32,
    /// Dynamic sectors the current tree does not use.
    pub free_sectors: u32,
    /// Group sectors.
    pub group_sectors: u32,
    /// Index sectors.
    pub index_sectors: u32,
    /// Leaves.
    pub leaves: u32,
    /// vTPMs.
    pub vtpms: u32,
    /// Bytes the vTPM entries take in the leaves.
    pub leaf_bytes_used: u64,
    /// Bytes the leaves could hold.
    pub leaf_bytes_capacity: u64,
}

impl Usage {
    /// Leaf fill in tenths of a percent.
    pub fn fill_permille(&self) -> u64 {
        (self.leaf_bytes_used * 1000)
            .checked_div(self.leaf_bytes_capacity)
            .unwrap_or(0)
    }
}

/// What a sector is used for (diagnostics and the tamper tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectorRole {
    /// Header copy A (0) or B (1).
    Header(u8),
    /// The root of the current state.
    CurrentRoot,
    /// The other root slot (the previous state).
    StandbyRoot,
    /// A group sector of the current tree.
    Group,
    /// An index sector of the current tree.
    Index,
    /// A leaf of the current tree.
    Leaf,
    /// Referenced only by the standby root's tree.
    StandbyOnly,
    /// Not referenced by either tree.
    Free,
}

/// The opened store. Mutations take the monotonic counter and are each one atomic commit.
pub struct Store<D: BlockDevice> {
    dev: D,
    keys: Keys,
    drbg: CtrDrbg,
    manager_uuid: Uuid,
    /// The sector of the current root (2 or 3).
    slot: u32,
    sequence: u64,
    /// The hardware counter value the current root expects (and the counter holds).
    counter: u64,
    next_group_id: u32,
    vtpm_count: u32,
    /// Sorted by id.
    groups: Vec<GroupRecord>,
    /// Parallel to `groups`.
    gmeta: Vec<GroupMeta>,
    bins: Vec<SectorRef>,
    leaves: Vec<LeafInfo>,
    nodes: Vec<Node>,
    live: SectorSet,
    standby: SectorSet,
    cursor: u16,
    poisoned: Option<String>,
}

impl<D: BlockDevice> core::fmt::Debug for Store<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("manager_uuid", &self.manager_uuid)
            .field("root_sector", &self.slot)
            .field("sequence", &self.sequence)
            .field("counter", &self.counter)
            .field("groups", &self.groups.len())
            .field("vtpms", &self.vtpm_count)
            .field("poisoned", &self.poisoned.is_some())
            .finish_non_exhaustive()
    }
}

impl<D: BlockDevice> Store<D> {
    /// The manager's UUID (from the header).
    pub fn manager_uuid(&self) -> Uuid {
        self.manager_uuid
    }

    /// The commit sequence number of the current root.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The monotonic counter value the current root expects.
    pub fn counter_value(&self) -> u64 {
        self.counter
    }

    /// Why the store refuses changes, if it does.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// Every group, by id.
    pub fn groups(&self) -> &[GroupRecord] {
        &self.groups
    }

    /// The group with `id`.
    pub fn group(&self, id: u32) -> Option<&GroupRecord> {
        self.group_index(id).and_then(|i| self.groups.get(i))
    }

    pub(crate) fn group_index(&self, id: u32) -> Option<usize> {
        self.groups.binary_search_by_key(&id, |g| g.id).ok()
    }

    /// The number of vTPMs.
    pub fn vtpm_count(&self) -> u32 {
        self.vtpm_count
    }

    /// How the image's sectors are used.
    pub fn usage(&self) -> Usage {
        let live = self.live.len();
        let leaves = u32::try_from(self.leaves.len()).unwrap_or(u32::MAX);
        Usage {
            live_sectors: live,
            free_sectors: DYNAMIC_SECTORS.saturating_sub(live),
            group_sectors: u32::try_from(self.bins.len()).unwrap_or(u32::MAX),
            index_sectors: u32::try_from(self.nodes.len()).unwrap_or(u32::MAX),
            leaves,
            vtpms: self.vtpm_count,
            leaf_bytes_used: self.leaves.iter().map(|l| u64::from(l.bytes)).sum(),
            leaf_bytes_capacity: u64::from(leaves)
                * u64::try_from(payload::LEAF_CAPACITY).unwrap_or(0),
        }
    }

    /// The role of each of the 512 sectors.
    pub fn sector_roles(&self) -> Vec<SectorRole> {
        let mut roles = Vec::with_capacity(usize::try_from(SECTOR_COUNT).unwrap_or(0));
        for s in 0..u16::try_from(SECTOR_COUNT).unwrap_or(u16::MAX) {
            roles.push(match u32::from(s) {
                0 => SectorRole::Header(0),
                1 => SectorRole::Header(1),
                r if r == self.slot => SectorRole::CurrentRoot,
                2 | 3 => SectorRole::StandbyRoot,
                _ if self.live.contains(s) => {
                    if self.bins.iter().any(|b| b.sector == s) {
                        SectorRole::Group
                    } else if self.nodes.iter().any(|n| n.at.sector == s) {
                        SectorRole::Index
                    } else {
                        SectorRole::Leaf
                    }
                }
                _ if self.standby.contains(s) => SectorRole::StandbyOnly,
                _ => SectorRole::Free,
            });
        }
        roles
    }

    /// The device (read-only: diagnostics and tests).
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The device, giving up the store.
    pub fn into_device(self) -> D {
        self.dev
    }
}

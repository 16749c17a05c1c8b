//! Decoding of single sectors for diagnostics tools and the `disk` fuzz target
//! (docs/disk-format.md). These run the same parsers [`super::Store::open`] runs.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use super::envelope;
use super::error::{SectorKind, StoreError};
use super::keys::{Keys, RootKey};
use super::payload::{GroupRecord, LeafView, RootPayload, VtpmRecord, parse_groups, parse_index};
use crate::Uuid;
use crate::seams::Sector;

/// A decoded sector payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A root.
    Root {
        /// Commit sequence number.
        sequence: u64,
        /// The counter value the root expects.
        counter: u64,
        /// The vTPM count.
        vtpms: u32,
        /// The next group id.
        next_group_id: u32,
        /// (sector, SHA-256) of each group sector.
        groups: Vec<(u16, [u8; 32])>,
        /// (sector, SHA-256) of each index sector.
        index: Vec<(u16, [u8; 32])>,
    },
    /// Group records (`vtpm_count` zero: the store counts the leaves).
    Groups(Vec<GroupRecord>),
    /// (first UUID, sector, SHA-256) of each leaf.
    Index(Vec<(Uuid, u16, [u8; 32])>),
    /// vTPM entries.
    Leaf(Vec<VtpmRecord>),
}

/// Decodes the decrypted payload of a sector of `kind`, with every rule open checks on it.
pub fn decode_payload(kind: SectorKind, payload: &[u8]) -> Result<Payload, &'static str> {
    Ok(match kind {
        SectorKind::Root => {
            let r = RootPayload::parse(payload)?;
            Payload::Root {
                sequence: r.sequence,
                counter: r.counter,
                vtpms: r.vtpm_count,
                next_group_id: r.next_group_id,
                groups: r.groups.iter().map(|g| (g.sector, g.hash)).collect(),
                index: r.index.iter().map(|g| (g.sector, g.hash)).collect(),
            }
        }
        SectorKind::Group => Payload::Groups(parse_groups(payload)?),
        SectorKind::Index => Payload::Index(
            parse_index(payload)?
                .into_iter()
                .map(|e| (e.first, e.leaf.sector, e.leaf.hash))
                .collect(),
        ),
        SectorKind::Leaf => Payload::Leaf(LeafView::parse(payload)?.records()),
    })
}

/// Authenticates and decrypts sector `index` (2..=511) under `root_key`, taking its kind from
/// its tag; returns the raw payload (4044 bytes, secret for leaves).
pub fn decrypt_sector(
    root_key: &RootKey,
    index: u32,
    sector: &Sector,
) -> Result<(SectorKind, Zeroizing<Vec<u8>>), StoreError> {
    let keys = Keys::derive(root_key);
    let kind = SectorKind::from_tag(sector[0]).unwrap_or(SectorKind::Root);
    Ok((kind, envelope::open(&keys, index, kind, sector)?))
}

/// Authenticates, decrypts and decodes sector `index` (2..=511) under `root_key`, taking its
/// kind from its tag.
pub fn open_sector(
    root_key: &RootKey,
    index: u32,
    sector: &Sector,
) -> Result<(SectorKind, Payload), StoreError> {
    let (kind, payload) = decrypt_sector(root_key, index, sector)?;
    let decoded = decode_payload(kind, &payload).map_err(|what| StoreError::SectorMalformed {
        sector: index,
        kind,
        what,
    })?;
    Ok((kind, decoded))
}

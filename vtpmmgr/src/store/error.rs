//! The store's one error type (docs/disk-format.md names the check behind each variant).

use alloc::string::String;
use core::fmt;

use crate::Uuid;

/// The kinds of encrypted sector (docs/disk-format.md, "Sector envelope").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectorKind {
    /// One of the two alternating roots (sectors 2 and 3).
    Root,
    /// Group records.
    Group,
    /// An index sector: the first UUID, sector and hash of each of a run of leaves.
    Index,
    /// A leaf: vTPM entries sorted by UUID.
    Leaf,
}

impl SectorKind {
    /// The plaintext kind tag at offset 0 of the sector.
    pub const fn tag(self) -> u8 {
        match self {
            SectorKind::Root => b'R',
            SectorKind::Group => b'G',
            SectorKind::Index => b'I',
            SectorKind::Leaf => b'L',
        }
    }

    /// The kind a tag names, if any.
    pub const fn from_tag(tag: u8) -> Option<SectorKind> {
        match tag {
            b'R' => Some(SectorKind::Root),
            b'G' => Some(SectorKind::Group),
            b'I' => Some(SectorKind::Index),
            b'L' => Some(SectorKind::Leaf),
            _ => None,
        }
    }
}

impl fmt::Display for SectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SectorKind::Root => "root",
            SectorKind::Group => "group",
            SectorKind::Index => "index",
            SectorKind::Leaf => "leaf",
        })
    }
}

/// Which device operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// Reading a sector.
    Read,
    /// Writing a sector.
    Write,
    /// Flushing the device's write cache.
    Flush,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoOp::Read => "reading",
            IoOp::Write => "writing",
            IoOp::Flush => "flushing",
        })
    }
}

/// Every way a store operation can fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The block device refused an access.
    Io {
        /// What was being done.
        op: IoOp,
        /// The sector (none for a flush).
        sector: Option<u32>,
        /// The device's own message.
        message: String,
    },
    /// The device has fewer sectors than the image needs.
    DeviceTooSmall {
        /// The device's sector count.
        sectors: u32,
    },
    /// Both header sectors are all zeros: the image was never formatted.
    Blank,
    /// `format` was asked to overwrite an image whose header sectors are not blank.
    NotBlank,
    /// The header sectors do not carry this store's magic: not a vtpmmgr image (or a Xen one).
    Foreign,
    /// The header carries the magic but a format version this code does not read.
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// A header copy carries the magic and version but is not well formed.
    HeaderMalformed {
        /// 0 = copy A (sector 0), 1 = copy B (sector 1).
        copy: u8,
        /// What is wrong.
        what: &'static str,
    },
    /// The header's tag does not verify: the wrong root key, or a damaged header.
    HeaderMac {
        /// The copy that failed.
        copy: u8,
    },
    /// A header sector differs from the verified header copy.
    HeaderDiffers {
        /// The copy that differs.
        copy: u8,
    },
    /// A sector's authentication tag does not verify (damage, tampering or a torn write).
    SectorMac {
        /// The sector.
        sector: u32,
        /// The kind the reader expected there.
        kind: SectorKind,
    },
    /// A sector's SHA-256 is not the one its parent records (damage, tampering or an older
    /// copy of the sector).
    SectorHash {
        /// The sector.
        sector: u32,
        /// The kind the reader expected there.
        kind: SectorKind,
    },
    /// A sector authenticated but its contents break a rule of the format.
    SectorMalformed {
        /// The sector.
        sector: u32,
        /// The kind the reader expected there.
        kind: SectorKind,
        /// The rule broken.
        what: &'static str,
    },
    /// Neither root sector holds a valid root.
    NoRoot,
    /// The image is older than the hardware counter says: a copy of an old image was put back.
    RolledBack {
        /// The counter value the image's root expects.
        image: u64,
        /// The hardware counter's value.
        hardware: u64,
    },
    /// The image expects a counter value more than one ahead of the hardware counter: a
    /// different counter, or an image from another machine.
    CounterAhead {
        /// The counter value the image's root expects.
        image: u64,
        /// The hardware counter's value.
        hardware: u64,
    },
    /// The monotonic counter could not be read or incremented, or returned a value other than
    /// the one expected.
    Counter {
        /// What happened.
        message: String,
    },
    /// An earlier commit may or may not have reached the disk (its root write, flush or
    /// counter increment failed): no more changes until the store is reopened.
    Poisoned {
        /// Why the store was poisoned.
        reason: String,
    },
    /// There are not enough free sectors for this change; nothing was written.
    Full,
    /// A vTPM with this UUID is already stored.
    VtpmExists(Uuid),
    /// No vTPM with this UUID is stored.
    VtpmNotFound(Uuid),
    /// A group with this UUID already exists.
    GroupExists(Uuid),
    /// No group with this id exists.
    GroupNotFound(u32),
    /// The group still holds vTPMs.
    GroupNotEmpty {
        /// The group.
        id: u32,
        /// How many vTPMs it holds.
        vtpms: u32,
    },
    /// A value exceeds one of the format's limits.
    Limit {
        /// The limited value.
        what: &'static str,
        /// The largest value allowed.
        max: usize,
        /// The value given.
        got: usize,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io {
                op,
                sector: Some(s),
                message,
            } => write!(f, "device error {op} sector {s}: {message}"),
            StoreError::Io {
                op,
                sector: None,
                message,
            } => write!(f, "device error {op}: {message}"),
            StoreError::DeviceTooSmall { sectors } => write!(
                f,
                "the device has {sectors} sectors of 4 KiB; the store needs {}",
                crate::seams::SECTOR_COUNT
            ),
            StoreError::Blank => f.write_str("the image is blank (never formatted)"),
            StoreError::NotBlank => {
                f.write_str("refusing to format: the image's header sectors are not blank")
            }
            StoreError::Foreign => {
                f.write_str("not a vtpmmgr store image (no vtpmmgr magic in either header sector)")
            }
            StoreError::UnsupportedVersion { version } => write!(
                f,
                "the image has store format version {version}; this build reads version 1"
            ),
            StoreError::HeaderMalformed { copy, what } => {
                write!(f, "header copy {} is malformed: {what}", copy_name(*copy))
            }
            StoreError::HeaderMac { copy } => write!(
                f,
                "header copy {} does not verify under the root key (wrong key or damaged header)",
                copy_name(*copy)
            ),
            StoreError::HeaderDiffers { copy } => write!(
                f,
                "header copy {} differs from the verified header",
                copy_name(*copy)
            ),
            StoreError::SectorMac { sector, kind } => write!(
                f,
                "{kind} sector {sector} fails authentication (damaged, tampered with or torn)"
            ),
            StoreError::SectorHash { sector, kind } => write!(
                f,
                "{kind} sector {sector} does not match the hash its parent records \
                 (damaged, tampered with or replaced by an older copy)"
            ),
            StoreError::SectorMalformed { sector, kind, what } => {
                write!(f, "{kind} sector {sector} is malformed: {what}")
            }
            StoreError::NoRoot => f.write_str("neither root sector holds a valid root"),
            StoreError::RolledBack { image, hardware } => write!(
                f,
                "the image was rolled back: it expects counter value {image}, \
                 the hardware counter is at {hardware}"
            ),
            StoreError::CounterAhead { image, hardware } => write!(
                f,
                "the image expects counter value {image} but the hardware counter is only at \
                 {hardware} (another counter or another machine's image)"
            ),
            StoreError::Counter { message } => write!(f, "monotonic counter: {message}"),
            StoreError::Poisoned { reason } => write!(
                f,
                "the store refuses changes until it is reopened: {reason}"
            ),
            StoreError::Full => {
                f.write_str("the image has no room for this change (nothing was written)")
            }
            StoreError::VtpmExists(u) => write!(f, "vTPM {u} already exists"),
            StoreError::VtpmNotFound(u) => write!(f, "no vTPM {u}"),
            StoreError::GroupExists(u) => write!(f, "a group with UUID {u} already exists"),
            StoreError::GroupNotFound(id) => write!(f, "no group {id}"),
            StoreError::GroupNotEmpty { id, vtpms } => {
                write!(f, "group {id} still holds {vtpms} vTPM(s)")
            }
            StoreError::Limit { what, max, got } => {
                write!(f, "{what}: {got} exceeds the limit of {max}")
            }
        }
    }
}

impl core::error::Error for StoreError {}

/// "A" for copy 0, "B" for copy 1.
pub(crate) fn copy_name(copy: u8) -> char {
    if copy == 0 { 'A' } else { 'B' }
}

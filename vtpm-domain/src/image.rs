//! The vTPM domain's state image (`docs/vtpm-image.md`): a block device (2 MiB as Xen's,
//! reference `xen-vtpm.md` §6.2) split into two slots of half the device each. A save seals the
//! engine's state ([`crate::seal`]) under a fresh random key and writes it to the slot that is
//! not current; the manager's record, `SHA-256(slot bytes as written) ‖ key` (64 bytes, sent by
//! SAVEHASHKEY, reference §3.5), then says which slot is current and how to open it. A crash
//! before the manager has the new record leaves the old slot current (§6.4: atomic by hash
//! selection).
//!
//! Slot layout (all integers big-endian), at sector `slot × (sectors / 2)`:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0      | 8    | magic `VTPMSLOT` |
//! | 8      | 2    | format version, 1 |
//! | 10     | 1    | slot index, 0 or 1 (where the slot was written) |
//! | 11     | 1    | reserved, 0 |
//! | 12     | 8    | generation (equal to the sealed blob's) |
//! | 20     | 4    | blob length `n` |
//! | 24     | 8    | reserved, 0 |
//! | 32     | n    | the sealed blob ([`crate::seal`]) |
//!
//! The digest in the manager's record covers bytes `0 .. 32 + n`; bytes after them are not
//! read. Everything read from the device is bounds-checked before use.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use block::{BlockDevice, SECTOR_SIZE, Sector};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::seal::{self, SealError, SealKey};

/// The first eight bytes of a slot.
pub const SLOT_MAGIC: [u8; 8] = *b"VTPMSLOT";
/// The slot format version this code writes and reads.
pub const SLOT_VERSION: u16 = 1;
/// The size of a slot's header.
pub const SLOT_HEADER_SIZE: usize = 32;
/// The size of the hash key the manager keeps for the domain: digest ‖ sealing key.
pub const HASH_KEY_SIZE: usize = 64;
/// The size of the digest part of the hash key.
pub const DIGEST_SIZE: usize = 32;

/// What the manager keeps for the domain: the SHA-256 of the current slot's bytes and the key
/// that sealed it. The key is zeroized on drop and never printed.
#[derive(Clone)]
pub struct HashKey {
    digest: [u8; DIGEST_SIZE],
    key: SealKey,
}

impl HashKey {
    /// Parses the 64 bytes LOADHASHKEY returned; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<HashKey> {
        if bytes.len() != HASH_KEY_SIZE {
            return None;
        }
        let (d, k) = bytes.split_at(DIGEST_SIZE);
        let mut digest = [0u8; DIGEST_SIZE];
        digest.copy_from_slice(d);
        Some(HashKey {
            digest,
            key: SealKey::from_slice(k)?,
        })
    }

    /// The 64 bytes SAVEHASHKEY sends.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(HASH_KEY_SIZE));
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(self.key.as_bytes());
        out
    }

    /// The digest of the slot this key opens.
    pub fn digest(&self) -> &[u8; DIGEST_SIZE] {
        &self.digest
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashKey")
            .field("digest", &Hex(&self.digest))
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Lower-case hex for diagnostics.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a slot's bytes are not a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError {
    /// Fewer bytes than the header, or than the blob length it announces.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The slot does not start with [`SLOT_MAGIC`].
    BadMagic,
    /// A format version this code does not read.
    UnsupportedVersion(u16),
    /// The slot says it was written at the other position.
    WrongIndex {
        /// The position it was read from.
        expected: u8,
        /// The index it records.
        found: u8,
    },
    /// Reserved bytes are not zero.
    Reserved,
    /// The blob length does not fit in a slot.
    TooLong {
        /// The announced length.
        len: u64,
        /// The most a slot holds.
        capacity: usize,
    },
}

impl fmt::Display for SlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated ({available} bytes, {needed} needed)")
            }
            Self::BadMagic => f.write_str("not a vTPM state slot (bad magic)"),
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "slot format version {v} is not supported (this reads {SLOT_VERSION})"
                )
            }
            Self::WrongIndex { expected, found } => {
                write!(
                    f,
                    "slot {expected} records that it was written as slot {found}"
                )
            }
            Self::Reserved => f.write_str("reserved header bytes are not zero"),
            Self::TooLong { len, capacity } => {
                write!(f, "blob length {len} exceeds the slot's {capacity} bytes")
            }
        }
    }
}

impl core::error::Error for SlotError {}

/// A parsed slot, borrowing the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotView<'a> {
    /// The generation recorded in the header.
    pub generation: u64,
    /// The sealed blob.
    pub blob: &'a [u8],
    /// Header ‖ blob: the bytes the manager's digest covers.
    pub written: &'a [u8],
}

fn be<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// Checks a slot header (the first [`SLOT_HEADER_SIZE`] bytes of `bytes`) read at position
/// `index` of a device whose slots hold `capacity` bytes each; returns the generation and the
/// blob length.
pub fn parse_header(bytes: &[u8], index: u8, capacity: usize) -> Result<(u64, usize), SlotError> {
    let header = bytes.get(..SLOT_HEADER_SIZE).ok_or(SlotError::Truncated {
        needed: SLOT_HEADER_SIZE,
        available: bytes.len(),
    })?;
    if header[..8] != SLOT_MAGIC {
        return Err(SlotError::BadMagic);
    }
    let version = u16::from_be_bytes(be(header, 8));
    if version != SLOT_VERSION {
        return Err(SlotError::UnsupportedVersion(version));
    }
    if header[10] != index {
        return Err(SlotError::WrongIndex {
            expected: index,
            found: header[10],
        });
    }
    if header[11] != 0 || header[24..32].iter().any(|&b| b != 0) {
        return Err(SlotError::Reserved);
    }
    let generation = u64::from_be_bytes(be(header, 12));
    let len = u32::from_be_bytes(be(header, 20));
    let max_blob = capacity.saturating_sub(SLOT_HEADER_SIZE);
    let blob_len =
        usize::try_from(len)
            .ok()
            .filter(|l| *l <= max_blob)
            .ok_or(SlotError::TooLong {
                len: u64::from(len),
                capacity,
            })?;
    Ok((generation, blob_len))
}

/// Parses a whole slot: `bytes` are the slot's bytes from its start (at least header ‖ blob;
/// anything after is ignored), read at position `index` of slots of `capacity` bytes.
pub fn parse_slot(bytes: &[u8], index: u8, capacity: usize) -> Result<SlotView<'_>, SlotError> {
    let (generation, blob_len) = parse_header(bytes, index, capacity)?;
    let end = SLOT_HEADER_SIZE + blob_len;
    let written = bytes.get(..end).ok_or(SlotError::Truncated {
        needed: end,
        available: bytes.len(),
    })?;
    Ok(SlotView {
        generation,
        blob: &written[SLOT_HEADER_SIZE..],
        written,
    })
}

/// Builds the bytes of a slot: header ‖ blob.
fn build_slot(index: u8, generation: u64, blob: &[u8]) -> Result<Vec<u8>, ImageError> {
    let len = u32::try_from(blob.len()).map_err(|_| ImageError::StateTooLarge {
        len: blob.len(),
        capacity: u32::MAX as usize,
    })?;
    let mut out = Vec::with_capacity(SLOT_HEADER_SIZE + blob.len());
    out.extend_from_slice(&SLOT_MAGIC);
    out.extend_from_slice(&SLOT_VERSION.to_be_bytes());
    out.push(index);
    out.push(0);
    out.extend_from_slice(&generation.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(blob);
    Ok(out)
}

fn sha256(bytes: &[u8]) -> [u8; DIGEST_SIZE] {
    Sha256::digest(bytes).into()
}

/// What was found in a slot (for the diagnostics of [`ImageError::NoMatchingSlot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// The slot's first sector is all zero: never written.
    Blank,
    /// The slot does not parse.
    Invalid(SlotError),
    /// The slot parses; its digest is not the one the manager recorded.
    Valid {
        /// The generation its header records.
        generation: u64,
    },
}

impl fmt::Display for SlotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blank => f.write_str("blank"),
            Self::Invalid(e) => write!(f, "invalid: {e}"),
            Self::Valid { generation } => {
                write!(
                    f,
                    "generation {generation}, not the one the manager recorded"
                )
            }
        }
    }
}

/// Why the image could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// The device is too small for two slots.
    TooSmall {
        /// Its sectors.
        sectors: u32,
    },
    /// The device failed.
    Device {
        /// What was done.
        op: &'static str,
        /// Where.
        sector: u32,
        /// The device's error message.
        detail: String,
    },
    /// The sealed state does not fit in a slot.
    StateTooLarge {
        /// The slot bytes needed.
        len: usize,
        /// The slot size.
        capacity: usize,
    },
    /// Neither slot has the digest the manager recorded: the image was replaced, corrupted or
    /// rolled back (or the manager's record belongs to another image).
    NoMatchingSlot([SlotState; 2]),
    /// A slot has the recorded digest but the recorded key does not open it.
    Unseal {
        /// The slot.
        slot: u8,
        /// Why.
        error: SealError,
    },
    /// The slot header's generation differs from the sealed (authenticated) one.
    GenerationMismatch {
        /// The slot.
        slot: u8,
        /// The header's.
        header: u64,
        /// The sealed blob's.
        sealed: u64,
    },
    /// Sealing failed.
    Seal(SealError),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooSmall { sectors } => write!(
                f,
                "the image has {sectors} sectors of {SECTOR_SIZE} bytes; two slots need at \
                 least 2"
            ),
            Self::Device { op, sector, detail } => {
                write!(f, "image device: {op} sector {sector}: {detail}")
            }
            Self::StateTooLarge { len, capacity } => write!(
                f,
                "the sealed TPM state needs {len} bytes; an image slot holds {capacity}"
            ),
            Self::NoMatchingSlot([a, b]) => write!(
                f,
                "no slot of the image matches the manager's record (slot 0: {a}; slot 1: {b}): \
                 the image was replaced, corrupted or rolled back"
            ),
            Self::Unseal { slot, error } => write!(
                f,
                "slot {slot} matches the manager's record but does not open with its key: {error}"
            ),
            Self::GenerationMismatch {
                slot,
                header,
                sealed,
            } => write!(
                f,
                "slot {slot}: header generation {header} differs from the sealed generation \
                 {sealed}"
            ),
            Self::Seal(e) => write!(f, "sealing the state: {e}"),
        }
    }
}

impl core::error::Error for ImageError {}

/// A state loaded from the current slot.
pub struct Loaded {
    /// The slot it came from.
    pub slot: u8,
    /// Its generation.
    pub generation: u64,
    /// The engine state.
    pub state: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("slot", &self.slot)
            .field("generation", &self.generation)
            .field("state_len", &self.state.len())
            .finish()
    }
}

/// A slot written but not yet recorded by the manager.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The slot written.
    pub slot: u8,
    /// Its generation.
    pub generation: u64,
    /// The record to send with SAVEHASHKEY.
    pub hash_key: HashKey,
}

/// The slot the manager's record points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Current {
    slot: u8,
    generation: u64,
    digest: [u8; DIGEST_SIZE],
}

/// The two-slot image on a block device.
pub struct Image<B: BlockDevice> {
    dev: B,
    slot_sectors: u32,
    current: Option<Current>,
}

impl<B: BlockDevice> fmt::Debug for Image<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("slot_sectors", &self.slot_sectors)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl<B: BlockDevice> Image<B> {
    /// The image on `dev`: slot 0 is the first half of its sectors, slot 1 the second.
    pub fn open(dev: B) -> Result<Image<B>, ImageError> {
        let sectors = dev.sector_count();
        let slot_sectors = sectors / 2;
        if slot_sectors == 0 {
            return Err(ImageError::TooSmall { sectors });
        }
        Ok(Image {
            dev,
            slot_sectors,
            current: None,
        })
    }

    /// The bytes one slot holds (header included).
    pub fn slot_capacity(&self) -> usize {
        usize::try_from(self.slot_sectors)
            .unwrap_or(usize::MAX)
            .saturating_mul(SECTOR_SIZE)
    }

    /// The current slot and its generation, once loaded or saved.
    pub fn current(&self) -> Option<(u8, u64)> {
        self.current.map(|c| (c.slot, c.generation))
    }

    /// The digest of the current slot.
    pub fn current_digest(&self) -> Option<&[u8; DIGEST_SIZE]> {
        self.current.as_ref().map(|c| &c.digest)
    }

    /// The device (tests inspect it).
    pub fn device(&self) -> &B {
        &self.dev
    }

    /// The device, writable.
    pub fn device_mut(&mut self) -> &mut B {
        &mut self.dev
    }

    /// Gives the device back.
    pub fn into_device(self) -> B {
        self.dev
    }

    fn first_sector(&self, slot: u8) -> u32 {
        u32::from(slot) * self.slot_sectors
    }

    fn read(&mut self, sector: u32, buf: &mut Sector) -> Result<(), ImageError> {
        self.dev
            .read_sector(sector, buf)
            .map_err(|e| ImageError::Device {
                op: "read",
                sector,
                detail: e.to_string(),
            })
    }

    /// Reads slot `slot`: `Ok(None)` if its first sector is blank, the bytes header ‖ blob
    /// otherwise (validated by [`parse_slot`] by the caller).
    fn read_slot(&mut self, slot: u8) -> Result<Result<Option<Vec<u8>>, SlotError>, ImageError> {
        let first = self.first_sector(slot);
        let capacity = self.slot_capacity();
        let mut sector: Sector = [0; SECTOR_SIZE];
        self.read(first, &mut sector)?;
        if sector.iter().all(|&b| b == 0) {
            return Ok(Ok(None));
        }
        let blob_len = match parse_header(&sector, slot, capacity) {
            Ok((_, len)) => len,
            Err(e) => return Ok(Err(e)),
        };
        let total = SLOT_HEADER_SIZE + blob_len;
        let mut bytes = Vec::with_capacity(total.next_multiple_of(SECTOR_SIZE));
        bytes.extend_from_slice(&sector);
        let mut next = first;
        while bytes.len() < total {
            next += 1;
            self.read(next, &mut sector)?;
            bytes.extend_from_slice(&sector);
        }
        bytes.truncate(total);
        Ok(Ok(Some(bytes)))
    }

    /// Finds the slot whose digest is `key`'s, opens it with `key`'s key and checks its
    /// generation. The slot becomes current.
    pub fn load(&mut self, key: &HashKey) -> Result<Loaded, ImageError> {
        let capacity = self.slot_capacity();
        let mut states = [SlotState::Blank; 2];
        for slot in 0..2u8 {
            let bytes = match self.read_slot(slot)? {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    states[usize::from(slot)] = SlotState::Invalid(e);
                    continue;
                }
            };
            let view = match parse_slot(&bytes, slot, capacity) {
                Ok(v) => v,
                Err(e) => {
                    states[usize::from(slot)] = SlotState::Invalid(e);
                    continue;
                }
            };
            let digest = sha256(view.written);
            if digest != key.digest {
                states[usize::from(slot)] = SlotState::Valid {
                    generation: view.generation,
                };
                continue;
            }
            let unsealed = seal::unseal(&key.key, view.blob)
                .map_err(|error| ImageError::Unseal { slot, error })?;
            if unsealed.generation != view.generation {
                return Err(ImageError::GenerationMismatch {
                    slot,
                    header: view.generation,
                    sealed: unsealed.generation,
                });
            }
            self.current = Some(Current {
                slot,
                generation: view.generation,
                digest,
            });
            return Ok(Loaded {
                slot,
                generation: view.generation,
                state: unsealed.state,
            });
        }
        Err(ImageError::NoMatchingSlot(states))
    }

    /// Seals `state` under `key` (fresh and random: never reuse one) with a fresh `nonce`,
    /// writes it to the slot that is not current, and flushes. The current slot is untouched
    /// and stays current until [`Image::commit`].
    pub fn write_next(
        &mut self,
        state: &[u8],
        key: SealKey,
        nonce: &[u8; seal::NONCE_SIZE],
    ) -> Result<Pending, ImageError> {
        let (slot, generation) = match self.current {
            Some(c) => (1 - c.slot, c.generation.saturating_add(1)),
            None => (0, 1),
        };
        let blob = seal::seal(&key, generation, nonce, state).map_err(ImageError::Seal)?;
        let bytes = build_slot(slot, generation, &blob)?;
        let capacity = self.slot_capacity();
        if bytes.len() > capacity {
            return Err(ImageError::StateTooLarge {
                len: bytes.len(),
                capacity,
            });
        }
        let digest = sha256(&bytes);
        let first = self.first_sector(slot);
        for (i, chunk) in bytes.chunks(SECTOR_SIZE).enumerate() {
            let mut sector: Sector = [0; SECTOR_SIZE];
            sector[..chunk.len()].copy_from_slice(chunk);
            let index = first + u32::try_from(i).unwrap_or(u32::MAX);
            self.dev
                .write_sector(index, &sector)
                .map_err(|e| ImageError::Device {
                    op: "write",
                    sector: index,
                    detail: e.to_string(),
                })?;
        }
        self.dev.flush().map_err(|e| ImageError::Device {
            op: "flush",
            sector: first,
            detail: e.to_string(),
        })?;
        Ok(Pending {
            slot,
            generation,
            hash_key: HashKey { digest, key },
        })
    }

    /// The manager has recorded `pending`: its slot is current.
    pub fn commit(&mut self, pending: &Pending) {
        self.current = Some(Current {
            slot: pending.slot,
            generation: pending.generation,
            digest: pending.hash_key.digest,
        });
    }

    /// Forgets which slot is current (a reset: the next write goes to slot 0 at generation 1).
    pub fn forget(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use alloc::vec;
    use block::MemDevice;

    fn key(b: u8) -> SealKey {
        SealKey::new([b; 32])
    }

    fn image() -> Image<MemDevice> {
        Image::open(MemDevice::new(512)).unwrap()
    }

    #[test]
    fn round_trip_alternates_slots_and_counts_generations() {
        let mut img = image();
        assert_eq!(img.slot_capacity(), 1024 * 1024);
        let p1 = img.write_next(b"state one", key(1), &[1; 16]).unwrap();
        assert_eq!((p1.slot, p1.generation), (0, 1));
        // Not committed: the next write goes to the same slot again.
        let p1 = img.write_next(b"state one", key(2), &[2; 16]).unwrap();
        assert_eq!((p1.slot, p1.generation), (0, 1));
        img.commit(&p1);
        let p2 = img
            .write_next(&vec![7u8; 10_000], key(3), &[3; 16])
            .unwrap();
        assert_eq!((p2.slot, p2.generation), (1, 2));
        img.commit(&p2);
        let p3 = img.write_next(b"three", key(4), &[4; 16]).unwrap();
        assert_eq!((p3.slot, p3.generation), (0, 3));

        // A new process: both records open their slot.
        let dev = img.into_device();
        for (p, want) in [(&p2, vec![7u8; 10_000]), (&p3, b"three".to_vec())] {
            let mut img = Image::open(dev.clone()).unwrap();
            let bytes = p.hash_key.to_bytes();
            assert_eq!(bytes.len(), 64);
            let l = img.load(&HashKey::from_bytes(&bytes).unwrap()).unwrap();
            assert_eq!((l.slot, l.generation), (p.slot, p.generation));
            assert_eq!(&l.state[..], &want[..]);
            assert_eq!(img.current(), Some((p.slot, p.generation)));
        }
        // The slot written first (generation 1) was overwritten by generation 3.
        let mut img = Image::open(dev).unwrap();
        let e = img.load(&p1.hash_key).unwrap_err();
        assert_eq!(
            e,
            ImageError::NoMatchingSlot([
                SlotState::Valid { generation: 3 },
                SlotState::Valid { generation: 2 }
            ])
        );
        assert!(
            e.to_string().contains("replaced, corrupted or rolled back"),
            "{e}"
        );
    }

    #[test]
    fn the_digest_covers_header_and_blob_as_written() {
        let mut img = image();
        let p = img.write_next(b"abc", key(1), &[1; 16]).unwrap();
        let len = SLOT_HEADER_SIZE + 3 + seal::OVERHEAD;
        let raw = &img.device().image()[..len];
        assert_eq!(&sha256(raw), p.hash_key.digest());
        assert_eq!(&raw[..8], b"VTPMSLOT");
        assert_eq!(&raw[8..12], &[0, 1, 0, 0]);
        assert_eq!(&raw[12..20], &1u64.to_be_bytes());
        assert_eq!(
            &raw[20..24],
            &u32::try_from(3 + seal::OVERHEAD).unwrap().to_be_bytes()
        );
        assert_eq!(&p.hash_key.to_bytes()[32..], &[1u8; 32]);
        assert!(format!("{:?}", p.hash_key).contains("<redacted>"));
    }

    /// Every header field and every blob byte changed, one at a time: never loads.
    #[test]
    fn corrupting_any_field_is_refused() {
        let mut img = image();
        let p = img.write_next(b"some state", key(1), &[1; 16]).unwrap();
        let dev = img.into_device();
        let len = SLOT_HEADER_SIZE + 10 + seal::OVERHEAD;
        for at in 0..len {
            let mut bad = dev.clone();
            bad.image_mut()[at] ^= 0x01;
            let e = Image::open(bad).unwrap().load(&p.hash_key).unwrap_err();
            let ImageError::NoMatchingSlot([s0, SlotState::Blank]) = e else {
                panic!("byte {at}: {e:?}")
            };
            let expected = match at {
                0..=7 => matches!(s0, SlotState::Invalid(SlotError::BadMagic)),
                8..=9 => matches!(s0, SlotState::Invalid(SlotError::UnsupportedVersion(_))),
                10 => matches!(s0, SlotState::Invalid(SlotError::WrongIndex { .. })),
                11 | 24..=31 => s0 == SlotState::Invalid(SlotError::Reserved),
                20 => matches!(s0, SlotState::Invalid(SlotError::TooLong { .. })),
                // A shorter length is still a valid slot with another digest; a longer one
                // too (the bytes after the blob are zero).
                _ => matches!(s0, SlotState::Valid { .. }),
            };
            assert!(expected, "byte {at}: {s0:?}");
        }
        // A huge length field is refused before anything is read.
        let mut bad = dev.clone();
        bad.image_mut()[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        let e = Image::open(bad).unwrap().load(&p.hash_key).unwrap_err();
        assert!(
            matches!(
                e,
                ImageError::NoMatchingSlot([SlotState::Invalid(SlotError::TooLong { .. }), _])
            ),
            "{e:?}"
        );
    }

    #[test]
    fn wrong_key_and_generation_mismatch() {
        let mut img = image();
        let p = img.write_next(b"s", key(1), &[1; 16]).unwrap();
        let mut other = p.hash_key.to_bytes();
        other[40] ^= 1;
        let wrong = HashKey::from_bytes(&other).unwrap();
        let e = img.load(&wrong).unwrap_err();
        assert_eq!(
            e,
            ImageError::Unseal {
                slot: 0,
                error: SealError::BadTag
            }
        );
        // A header generation that disagrees with the sealed one (the digest re-made to match,
        // as only someone holding the manager's record could).
        let mut dev = img.into_device();
        dev.image_mut()[12..20].copy_from_slice(&9u64.to_be_bytes());
        let len = SLOT_HEADER_SIZE + 1 + seal::OVERHEAD;
        let mut rec = p.hash_key.to_bytes();
        rec[..32].copy_from_slice(&sha256(&dev.image()[..len]));
        let e = Image::open(dev)
            .unwrap()
            .load(&HashKey::from_bytes(&rec).unwrap())
            .unwrap_err();
        assert_eq!(
            e,
            ImageError::GenerationMismatch {
                slot: 0,
                header: 9,
                sealed: 1
            }
        );
        assert!(HashKey::from_bytes(&[0; 52]).is_none());
    }

    #[test]
    fn truncated_and_tiny_devices() {
        assert_eq!(
            Image::open(MemDevice::new(1)).unwrap_err(),
            ImageError::TooSmall { sectors: 1 }
        );
        // Two sectors: a slot is one sector.
        let mut img = Image::open(MemDevice::new(2)).unwrap();
        let big = vec![0u8; SECTOR_SIZE];
        assert!(matches!(
            img.write_next(&big, key(1), &[1; 16]),
            Err(ImageError::StateTooLarge { .. })
        ));
        let p = img.write_next(b"fits", key(1), &[1; 16]).unwrap();
        img.commit(&p);
        // The device loses its second half: slot 1 cannot be read.
        let mut p2 = img.write_next(b"fits too", key(2), &[2; 16]).unwrap();
        let image = img.into_device().into_image();
        let mut cut =
            Image::open(MemDevice::from_image(image[..SECTOR_SIZE * 3 / 2].to_vec())).unwrap_err();
        assert_eq!(cut, ImageError::TooSmall { sectors: 1 });
        // A slot whose blob runs past the slot's end (length field raised) is refused.
        let mut dev = MemDevice::from_image(image);
        let len = u32::try_from(SECTOR_SIZE).unwrap();
        dev.image_mut()[SECTOR_SIZE + 20..SECTOR_SIZE + 24].copy_from_slice(&len.to_be_bytes());
        cut = Image::open(dev).unwrap().load(&p2.hash_key).unwrap_err();
        assert!(
            matches!(
                cut,
                ImageError::NoMatchingSlot([
                    SlotState::Valid { generation: 1 },
                    SlotState::Invalid(SlotError::TooLong { .. })
                ])
            ),
            "{cut:?}"
        );
        p2.slot = 0;
        assert!(parse_slot(&[0; 10], 0, 4096).is_err());
        assert_eq!(
            parse_slot(&image_header(100), 0, 4096),
            Err(SlotError::Truncated {
                needed: 132,
                available: 32
            })
        );
    }

    fn image_header(len: u32) -> Vec<u8> {
        build_slot(0, 5, &[])
            .map(|mut v| {
                v[20..24].copy_from_slice(&len.to_be_bytes());
                v
            })
            .unwrap()
    }
}

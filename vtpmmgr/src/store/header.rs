//! The two plaintext header copies in sectors 0 and 1 (docs/disk-format.md, "Header"). The
//! header is parsed without the root key, so the caller can unseal the root key from the
//! `binding`; [`super::Store::open`] then verifies its tag under a key derived from the root key.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::codec::{Parse, Reader};
use super::error::{IoOp, StoreError};
use super::keys::{Keys, hmac, hmac_verify};
use crate::Uuid;
use crate::seams::{BlockDevice, SECTOR_COUNT, SECTOR_SIZE, Sector};

/// The magic at offset 0 of both header sectors: `vTPM-MGR`.
pub const MAGIC: [u8; 8] = *b"vTPM-MGR";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The largest `binding` the header holds.
pub const MAX_BINDING: usize = 3072;

const UUID_OFFSET: usize = 16;
const BINDING_LEN_OFFSET: usize = 32;
const BINDING_OFFSET: usize = 34;
const TAG_OFFSET: usize = SECTOR_SIZE - 32;

/// One structurally valid header copy (its tag not yet verified).
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderCopy {
    /// 0 for copy A (sector 0), 1 for copy B (sector 1).
    pub copy: u8,
    /// The manager's UUID.
    pub manager_uuid: Uuid,
    /// Opaque bytes from the hardware-TPM module (its sealed blobs, the root key among them).
    pub binding: Vec<u8>,
    tag: [u8; 32],
}

impl core::fmt::Debug for HeaderCopy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeaderCopy")
            .field("copy", &self.copy)
            .field("manager_uuid", &self.manager_uuid)
            .field("binding_len", &self.binding.len())
            .finish_non_exhaustive()
    }
}

/// What the header sectors hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderState {
    /// Sectors 0 and 1 are all zeros: never formatted.
    Blank,
    /// The distinct structurally valid copies, copy A first (one entry when both are equal).
    Formatted(Vec<HeaderCopy>),
}

impl HeaderCopy {
    /// The canonical sector bytes of this copy (both copies are byte-identical).
    pub(crate) fn to_sector(&self) -> Box<Sector> {
        let mut s = body(self.manager_uuid, &self.binding);
        s[TAG_OFFSET..].copy_from_slice(&self.tag);
        s
    }

    /// Whether the tag verifies under `keys`.
    pub(crate) fn verify(&self, keys: &Keys) -> bool {
        let s = body(self.manager_uuid, &self.binding);
        hmac_verify(&keys.header_mac, &[&s[..TAG_OFFSET]], &self.tag)
    }

    /// A new, tagged header.
    pub(crate) fn new(keys: &Keys, manager_uuid: Uuid, binding: &[u8]) -> HeaderCopy {
        let s = body(manager_uuid, binding);
        let tag = hmac(&keys.header_mac, &[&s[..TAG_OFFSET]]);
        HeaderCopy {
            copy: 0,
            manager_uuid,
            binding: binding.to_vec(),
            tag: *tag,
        }
    }
}

/// The header sector without its tag. `binding` must be at most [`MAX_BINDING`] bytes (the
/// callers check); a longer one is cut, which then fails verification.
fn body(uuid: Uuid, binding: &[u8]) -> Box<Sector> {
    let mut s: Box<Sector> = Box::new([0u8; SECTOR_SIZE]);
    let n = binding.len().min(MAX_BINDING);
    s[..8].copy_from_slice(&MAGIC);
    s[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    s[UUID_OFFSET..UUID_OFFSET + 16].copy_from_slice(uuid.as_bytes());
    s[BINDING_LEN_OFFSET..BINDING_OFFSET]
        .copy_from_slice(&u16::try_from(n).unwrap_or(0).to_be_bytes());
    s[BINDING_OFFSET..BINDING_OFFSET + n].copy_from_slice(&binding[..n]);
    s
}

/// Parses one header sector (copy 0 = A, 1 = B) without any key.
pub fn parse_header_sector(copy: u8, sector: &Sector) -> Result<HeaderCopy, StoreError> {
    let mut r = Reader::new(&sector[..TAG_OFFSET]);
    let magic: [u8; 8] = r.array("magic").map_err(|_| StoreError::Foreign)?;
    if magic != MAGIC {
        return Err(StoreError::Foreign);
    }
    let fields = |r: &mut Reader<'_>| -> Parse<Result<(Uuid, Vec<u8>), u32>> {
        let version = r.u32("version")?;
        if version != FORMAT_VERSION {
            return Ok(Err(version));
        }
        if r.u32("flags")? != 0 {
            return Err("reserved flags are not zero");
        }
        let uuid = Uuid(r.array("manager UUID")?);
        let n = usize::from(r.u16("binding length")?);
        if n > MAX_BINDING {
            return Err("binding longer than 3072 bytes");
        }
        let binding = r.bytes(n, "binding")?.to_vec();
        r.zero_rest("padding after the binding is not zero")?;
        Ok(Ok((uuid, binding)))
    };
    match fields(&mut r) {
        Ok(Ok((manager_uuid, binding))) => {
            let mut tag = [0u8; 32];
            tag.copy_from_slice(&sector[TAG_OFFSET..]);
            Ok(HeaderCopy {
                copy,
                manager_uuid,
                binding,
                tag,
            })
        }
        Ok(Err(version)) => Err(StoreError::UnsupportedVersion { version }),
        Err(what) => Err(StoreError::HeaderMalformed { copy, what }),
    }
}

pub(crate) fn read_raw<D: BlockDevice>(dev: &mut D, index: u32) -> Result<Box<Sector>, StoreError> {
    let mut s: Box<Sector> = Box::new([0u8; SECTOR_SIZE]);
    dev.read_sector(index, &mut s).map_err(|e| StoreError::Io {
        op: IoOp::Read,
        sector: Some(index),
        message: alloc::format!("{e}"),
    })?;
    Ok(s)
}

pub(crate) fn check_size<D: BlockDevice>(dev: &D) -> Result<(), StoreError> {
    let sectors = dev.sector_count();
    if sectors < SECTOR_COUNT {
        return Err(StoreError::DeviceTooSmall { sectors });
    }
    Ok(())
}

fn is_zero(s: &Sector) -> bool {
    s.iter().all(|b| *b == 0)
}

/// Reads and parses both header copies, without any key.
///
/// Blank when both sectors are all zeros; otherwise the distinct structurally valid copies (A
/// first). When neither copy is valid the error says why: [`StoreError::UnsupportedVersion`],
/// then [`StoreError::HeaderMalformed`], then [`StoreError::Foreign`].
pub fn read_header<D: BlockDevice>(dev: &mut D) -> Result<HeaderState, StoreError> {
    check_size(dev)?;
    let a = read_raw(dev, 0)?;
    let b = read_raw(dev, 1)?;
    if is_zero(&a) && is_zero(&b) {
        return Ok(HeaderState::Blank);
    }
    let mut valid: Vec<HeaderCopy> = Vec::new();
    let mut errors = Vec::new();
    for (copy, s) in [(0u8, &a), (1u8, &b)] {
        if is_zero(s) {
            continue;
        }
        match parse_header_sector(copy, s) {
            Ok(c) => {
                let same = valid.iter().any(|v| {
                    v.manager_uuid == c.manager_uuid && v.binding == c.binding && v.tag == c.tag
                });
                if !same {
                    valid.push(c);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if !valid.is_empty() {
        return Ok(HeaderState::Formatted(valid));
    }
    let rank = |e: &StoreError| match e {
        StoreError::UnsupportedVersion { .. } => 0,
        StoreError::HeaderMalformed { .. } => 1,
        _ => 2,
    };
    errors.sort_by_key(rank);
    Err(errors.into_iter().next().unwrap_or(StoreError::Foreign))
}

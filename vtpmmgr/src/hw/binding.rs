//! The hardware binding: what `HwTpm::provision` returns and the manager keeps on disk, so that
//! what was sealed on one boot is unsealed on the next (docs/manager-hw.md, "Binding format").
//!
//! ```text
//! offset  size  field
//! 0       8     magic "VTPM-HWB"
//! 8       2     format version, big-endian: 1
//! 10      ...   records, in ascending tag order, each once: tag (1), length (2, BE), value
//!   0x01  34    SRK Name: 0x000B ‖ SHA-256 digest
//!   0x02  var   SK public area (TPMT_PUBLIC, the contents of its TPM2B_PUBLIC)
//!   0x03  var   SK private area (the contents of its TPM2B_PRIVATE: a 32-byte integrity
//!               HMAC as a TPM2B, then the encrypted sensitive area)
//!   0x04  var   sealed root key public area (TPMT_PUBLIC)
//!   0x05  var   sealed root key private area (contents of TPM2B_PRIVATE)
//!   0x06  38    optional PCR policy: bank (TPM_ALG_ID, 2) ‖ PCR bitmap (u32 BE, bit n =
//!               PCR n) ‖ the PolicyPCR digest (32)
//!   0x07  38    NV counter: index (u32 BE) ‖ its Name (0x000B ‖ SHA-256 digest, 34)
//!   0xFF  32    checksum: SHA-256 of every byte before this record
//! ```
//!
//! Nothing may follow the checksum record. Unknown tags are refused (a later version bumps the
//! version number). The checksum only catches accidents: a forged binding is refused by the
//! TPM (TPM_RC_INTEGRITY), because only the TPM can make private areas that load under its SRK.
//!
//! [`Binding::parse`] is bounds-checked throughout and also checks that each public area is
//! exactly the manager's template (docs/manager-hw.md, "Templates"), and that the sealed
//! object's authorization matches the presence of a policy.

use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest, Sha256};
use tpm2::Unmarshal;
use tpm2::alg::TpmAlgId;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::structures::{Tpm2bPrivate, TpmtPublic};

use super::policy::PCR_BITMAP_PCRS;
use super::templates;

/// The magic at offset 0.
pub const MAGIC: [u8; 8] = *b"VTPM-HWB";
/// The format version this module writes and reads.
pub const VERSION: u16 = 1;
/// The largest binding accepted.
pub const MAX_BINDING_SIZE: usize = 4096;
/// The length of a SHA-256 Name (nameAlg ‖ digest).
pub const NAME_SIZE: usize = 34;

const TAG_SRK_NAME: u8 = 0x01;
const TAG_SK_PUBLIC: u8 = 0x02;
const TAG_SK_PRIVATE: u8 = 0x03;
const TAG_SEALED_PUBLIC: u8 = 0x04;
const TAG_SEALED_PRIVATE: u8 = 0x05;
const TAG_PCR_POLICY: u8 = 0x06;
const TAG_NV_COUNTER: u8 = 0x07;
const TAG_CHECKSUM: u8 = 0xFF;

/// Why bytes are not a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingError {
    /// The input ended inside a field at offset `at`.
    Truncated {
        /// Offset of the field that did not fit.
        at: usize,
    },
    /// The input is larger than [`MAX_BINDING_SIZE`].
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// The first eight bytes are not [`MAGIC`].
    BadMagic,
    /// A format version this code does not read.
    UnsupportedVersion(u16),
    /// A record tag this version does not define.
    UnknownRecord {
        /// The tag.
        tag: u8,
        /// Its offset.
        at: usize,
    },
    /// A record repeated or out of ascending tag order.
    OutOfOrder {
        /// The tag.
        tag: u8,
        /// Its offset.
        at: usize,
    },
    /// A required record is absent.
    MissingRecord(&'static str),
    /// A record's value is not valid.
    BadRecord {
        /// The record.
        record: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// The checksum record does not match the bytes before it.
    ChecksumMismatch,
    /// Bytes follow the checksum record.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { at } => write!(f, "truncated at offset {at}"),
            Self::TooLarge { size } => {
                write!(f, "{size} bytes, more than the {MAX_BINDING_SIZE} allowed")
            }
            Self::BadMagic => f.write_str("not a binding (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Self::UnknownRecord { tag, at } => {
                write!(f, "unknown record tag {tag:#04x} at offset {at}")
            }
            Self::OutOfOrder { tag, at } => {
                write!(
                    f,
                    "record {tag:#04x} at offset {at} repeated or out of order"
                )
            }
            Self::MissingRecord(r) => write!(f, "the {r} record is missing"),
            Self::BadRecord { record, why } => write!(f, "bad {record} record: {why}"),
            Self::ChecksumMismatch => f.write_str("checksum mismatch (the binding is corrupt)"),
            Self::TrailingBytes { count } => {
                write!(f, "{count} bytes after the checksum record")
            }
        }
    }
}

impl core::error::Error for BindingError {}

/// The PCR policy recorded in a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundPolicy {
    /// The PCR bank.
    pub bank: TpmAlgId,
    /// The PCRs (bit n = PCR n, n < 24).
    pub pcrs: u32,
    /// The PolicyPCR digest in the sealed object's authPolicy.
    pub digest: [u8; 32],
}

/// A parsed binding (see the module documentation for the byte format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Name of the SRK everything was created under.
    pub srk_name: [u8; NAME_SIZE],
    /// The SK's TPMT_PUBLIC bytes.
    pub sk_public: Vec<u8>,
    /// The SK's TPM2B_PRIVATE contents.
    pub sk_private: Vec<u8>,
    /// The sealed root key's TPMT_PUBLIC bytes.
    pub sealed_public: Vec<u8>,
    /// The sealed root key's TPM2B_PRIVATE contents.
    pub sealed_private: Vec<u8>,
    /// The PCR policy of the sealed root key, if any.
    pub policy: Option<BoundPolicy>,
    /// The NV counter index.
    pub nv_index: u32,
    /// The NV counter's Name (after its first increment: TPMA_NV_WRITTEN set).
    pub nv_name: [u8; NAME_SIZE],
}

fn push_record(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(value);
}

impl Binding {
    /// The bytes of this binding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        push_record(&mut out, TAG_SRK_NAME, &self.srk_name);
        push_record(&mut out, TAG_SK_PUBLIC, &self.sk_public);
        push_record(&mut out, TAG_SK_PRIVATE, &self.sk_private);
        push_record(&mut out, TAG_SEALED_PUBLIC, &self.sealed_public);
        push_record(&mut out, TAG_SEALED_PRIVATE, &self.sealed_private);
        if let Some(p) = &self.policy {
            let mut v = Vec::with_capacity(38);
            v.extend_from_slice(&p.bank.0.to_be_bytes());
            v.extend_from_slice(&p.pcrs.to_be_bytes());
            v.extend_from_slice(&p.digest);
            push_record(&mut out, TAG_PCR_POLICY, &v);
        }
        let mut nv = Vec::with_capacity(38);
        nv.extend_from_slice(&self.nv_index.to_be_bytes());
        nv.extend_from_slice(&self.nv_name);
        push_record(&mut out, TAG_NV_COUNTER, &nv);
        let sum = Sha256::digest(&out);
        push_record(&mut out, TAG_CHECKSUM, &sum);
        out
    }

    /// Parses and validates a binding.
    pub fn parse(bytes: &[u8]) -> Result<Self, BindingError> {
        if bytes.len() > MAX_BINDING_SIZE {
            return Err(BindingError::TooLarge { size: bytes.len() });
        }
        let magic = bytes.get(..8).ok_or(BindingError::Truncated { at: 0 })?;
        if magic != MAGIC {
            return Err(BindingError::BadMagic);
        }
        let version = read_u16(bytes, 8)?;
        if version != VERSION {
            return Err(BindingError::UnsupportedVersion(version));
        }
        let mut fields = Fields::default();
        let mut at = 10;
        let mut last_tag = 0u8;
        loop {
            let tag = *bytes.get(at).ok_or(BindingError::Truncated { at })?;
            let len = usize::from(read_u16(bytes, at + 1)?);
            let value = bytes
                .get(at + 3..at + 3 + len)
                .ok_or(BindingError::Truncated { at: at + 3 })?;
            if tag <= last_tag {
                return Err(BindingError::OutOfOrder { tag, at });
            }
            last_tag = tag;
            if tag == TAG_CHECKSUM {
                let sum = Sha256::digest(&bytes[..at]);
                if value != sum.as_slice() {
                    return Err(BindingError::ChecksumMismatch);
                }
                let end = at + 3 + len;
                if end != bytes.len() {
                    return Err(BindingError::TrailingBytes {
                        count: bytes.len() - end,
                    });
                }
                break;
            }
            fields.set(tag, value, at)?;
            at += 3 + len;
        }
        fields.finish()
    }

    /// The SK's public area.
    pub fn sk_public_area(&self) -> Result<TpmtPublic, BindingError> {
        parse_public(&self.sk_public, "SK public")
    }

    /// The sealed root key's public area.
    pub fn sealed_public_area(&self) -> Result<TpmtPublic, BindingError> {
        parse_public(&self.sealed_public, "sealed public")
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Result<u16, BindingError> {
    let b = bytes
        .get(at..at + 2)
        .ok_or(BindingError::Truncated { at })?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn parse_public(bytes: &[u8], record: &'static str) -> Result<TpmtPublic, BindingError> {
    TpmtPublic::from_bytes(bytes).map_err(|_| BindingError::BadRecord {
        record,
        why: "not a TPMT_PUBLIC",
    })
}

fn name(value: &[u8], record: &'static str) -> Result<[u8; NAME_SIZE], BindingError> {
    let bad = BindingError::BadRecord {
        record,
        why: "not a SHA-256 Name",
    };
    let n: [u8; NAME_SIZE] = value.try_into().map_err(|_| bad)?;
    if n[..2] != TpmAlgId::SHA256.0.to_be_bytes() {
        return Err(bad);
    }
    Ok(n)
}

/// A private area made under a SHA-256 parent starts with its integrity HMAC as a TPM2B of 32
/// bytes (part 1 §23.4 "Integrity"), followed by the encrypted sensitive area.
fn private(value: &[u8], record: &'static str) -> Result<Vec<u8>, BindingError> {
    if value.len() <= 34 || value.len() > Tpm2bPrivate::MAX {
        return Err(BindingError::BadRecord {
            record,
            why: "too short or longer than a TPM2B_PRIVATE",
        });
    }
    if value[..2] != [0, 32] {
        return Err(BindingError::BadRecord {
            record,
            why: "does not start with a 32-byte integrity HMAC",
        });
    }
    Ok(value.to_vec())
}

/// The records seen so far.
#[derive(Default)]
struct Fields {
    srk_name: Option<[u8; NAME_SIZE]>,
    sk_public: Option<Vec<u8>>,
    sk_private: Option<Vec<u8>>,
    sealed_public: Option<Vec<u8>>,
    sealed_private: Option<Vec<u8>>,
    policy: Option<BoundPolicy>,
    nv: Option<(u32, [u8; NAME_SIZE])>,
}

impl Fields {
    fn set(&mut self, tag: u8, value: &[u8], at: usize) -> Result<(), BindingError> {
        match tag {
            TAG_SRK_NAME => self.srk_name = Some(name(value, "SRK Name")?),
            TAG_SK_PUBLIC => {
                let public = parse_public(value, "SK public")?;
                if !templates::matches(&public, &templates::sk()) {
                    return Err(BindingError::BadRecord {
                        record: "SK public",
                        why: "not the manager's SK template",
                    });
                }
                self.sk_public = Some(value.to_vec());
            }
            TAG_SK_PRIVATE => self.sk_private = Some(private(value, "SK private")?),
            TAG_SEALED_PUBLIC => {
                parse_public(value, "sealed public")?;
                self.sealed_public = Some(value.to_vec());
            }
            TAG_SEALED_PRIVATE => self.sealed_private = Some(private(value, "sealed private")?),
            TAG_PCR_POLICY => self.policy = Some(policy(value)?),
            TAG_NV_COUNTER => {
                let bad = BindingError::BadRecord {
                    record: "NV counter",
                    why: "not an NV index and its Name",
                };
                let (index, rest) = value.split_first_chunk::<4>().ok_or(bad)?;
                let index = u32::from_be_bytes(*index);
                if TpmHandle(index).ty() != TpmHt::NV_INDEX {
                    return Err(bad);
                }
                self.nv = Some((index, name(rest, "NV counter")?));
            }
            _ => return Err(BindingError::UnknownRecord { tag, at }),
        }
        Ok(())
    }

    fn finish(self) -> Result<Binding, BindingError> {
        let missing = BindingError::MissingRecord;
        let sealed_public = self.sealed_public.ok_or(missing("sealed public"))?;
        let area = parse_public(&sealed_public, "sealed public")?;
        let template = templates::sealed(self.policy.as_ref().map(|p| &p.digest));
        if !templates::matches(&area, &template) {
            return Err(BindingError::BadRecord {
                record: "sealed public",
                why: "not the manager's sealed-key template for the recorded policy",
            });
        }
        let (nv_index, nv_name) = self.nv.ok_or(missing("NV counter"))?;
        Ok(Binding {
            srk_name: self.srk_name.ok_or(missing("SRK Name"))?,
            sk_public: self.sk_public.ok_or(missing("SK public"))?,
            sk_private: self.sk_private.ok_or(missing("SK private"))?,
            sealed_public,
            sealed_private: self.sealed_private.ok_or(missing("sealed private"))?,
            policy: self.policy,
            nv_index,
            nv_name,
        })
    }
}

fn policy(value: &[u8]) -> Result<BoundPolicy, BindingError> {
    let bad = |why| BindingError::BadRecord {
        record: "PCR policy",
        why,
    };
    let v: &[u8; 38] = value.try_into().map_err(|_| bad("not 38 bytes"))?;
    let bank = TpmAlgId(u16::from_be_bytes([v[0], v[1]]));
    if bank.digest_size().is_none() {
        return Err(bad("the bank is not a hash algorithm"));
    }
    let pcrs = u32::from_be_bytes([v[2], v[3], v[4], v[5]]);
    if pcrs == 0 || pcrs >> PCR_BITMAP_PCRS != 0 {
        return Err(bad("the PCR bitmap is empty or selects PCRs past 23"));
    }
    let mut digest = [0; 32];
    digest.copy_from_slice(&v[6..]);
    Ok(BoundPolicy { bank, pcrs, digest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tpm2::Marshal;
    use tpm2::structures::{PublicDetail, Tpm2bDigest, Tpm2bEccParameter};

    /// A binding with plausible contents (not made by a TPM).
    pub(crate) fn sample(policy: bool) -> Binding {
        let mut sk = templates::sk();
        if let PublicDetail::Ecc { unique, .. } = &mut sk.detail {
            unique.x = Tpm2bEccParameter::new(&[1; 32]).unwrap();
            unique.y = Tpm2bEccParameter::new(&[2; 32]).unwrap();
        }
        let digest = [7u8; 32];
        let mut sealed = templates::sealed(policy.then_some(&digest));
        if let PublicDetail::KeyedHash { unique, .. } = &mut sealed.detail {
            *unique = Tpm2bDigest::new(&[3; 32]).unwrap();
        }
        let mut srk_name = [9u8; NAME_SIZE];
        srk_name[..2].copy_from_slice(&[0, 0x0b]);
        Binding {
            srk_name,
            sk_public: sk.to_bytes(),
            sk_private: [&[0, 32][..], &[4; 124]].concat(),
            sealed_public: sealed.to_bytes(),
            sealed_private: [&[0, 32][..], &[5; 92]].concat(),
            policy: policy.then_some(BoundPolicy {
                bank: TpmAlgId::SHA256,
                pcrs: 1 << 16,
                digest,
            }),
            nv_index: 0x0180_5654,
            nv_name: srk_name,
        }
    }

    #[test]
    fn round_trip() {
        for policy in [false, true] {
            let b = sample(policy);
            let bytes = b.to_bytes();
            assert_eq!(Binding::parse(&bytes).unwrap(), b);
            assert_eq!(&bytes[..10], b"VTPM-HWB\x00\x01");
        }
    }

    #[test]
    fn checksum_catches_a_flip() {
        let mut bytes = sample(true).to_bytes();
        bytes[20] ^= 1;
        assert_eq!(Binding::parse(&bytes), Err(BindingError::ChecksumMismatch));
    }

    #[test]
    fn policy_and_sealed_object_must_agree() {
        // A binding claiming a policy whose sealed object has none: re-checksummed by hand.
        let mut b = sample(false);
        b.policy = sample(true).policy;
        assert!(matches!(
            Binding::parse(&b.to_bytes()),
            Err(BindingError::BadRecord {
                record: "sealed public",
                ..
            })
        ));
    }

    #[test]
    fn every_truncation_and_flip_is_an_error() {
        let bytes = sample(true).to_bytes();
        for n in 0..bytes.len() {
            assert!(Binding::parse(&bytes[..n]).is_err(), "prefix {n}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(Binding::parse(&b).is_err(), "flip {i}/{bit}");
            }
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Binding::parse(&longer),
            Err(BindingError::TrailingBytes { count: 1 })
        );
    }
}

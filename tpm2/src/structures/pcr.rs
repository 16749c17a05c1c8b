//! PCR selections, tagged digests and digest lists (TCG TPM 2.0 Library part 2 §10.3.2
//! TPMT_HA, §10.6 PCR structures TPMS_PCR_SELECT / TPMS_PCR_SELECTION, §10.8
//! TPMS_TAGGED_PCR_SELECT, §10.9 lists TPML_DIGEST, TPML_DIGEST_VALUES, TPML_PCR_SELECTION).
//!
//! Implementation bounds this crate chooses (the specification leaves them to the platform):
//! - [`PCR_SELECT_MAX`] = 4 octets (32 PCRs). The PC Client profile has 24 PCRs, so TPMs send
//!   3 octets; one spare octet is accepted so that a TPM with up to 32 PCRs still parses, and
//!   anything larger is rejected with [`Error::TooLarge`]. The lower bound PCR_SELECT_MIN
//!   (3 on PC Client) is *not* enforced here: it is a property of the TPM being addressed, and
//!   the engine that implements the command checks it.
//! - [`HASH_COUNT`] = 16 entries in TPML_PCR_SELECTION and TPML_DIGEST_VALUES: far more hash
//!   algorithms than any TPM implements (libtpms has 4–5), small enough to bound allocation.
//! - TPML_DIGEST holds at most 8 digests, as part 2 §10.9.2 requires. Its `{2:}` minimum
//!   applies only to TPM2_PolicyOR input (a PCR_Read answer legitimately carries 0 or 1
//!   digests), so the command that needs it checks it, not this type.

use alloc::vec::Vec;
use core::fmt;

use crate::alg::{MAX_DIGEST_SIZE, TpmAlgId};
use crate::pt::TpmPtPcr;
use crate::structures::Tpm2bDigest;
use crate::{Error, Marshal, Reader, Unmarshal};

/// PCR_SELECT_MAX as implemented here: the largest `sizeofSelect`, in octets.
pub const PCR_SELECT_MAX: usize = 4;
/// The PC Client PCR_SELECT_MIN: octets needed to cover the platform's 24 PCRs. Selections
/// built by this crate's helpers use at least this size.
pub const PCR_SELECT_MIN: usize = 3;
/// HASH_COUNT as implemented here: the largest TPML_PCR_SELECTION / TPML_DIGEST_VALUES.
pub const HASH_COUNT: usize = 16;
/// The largest TPML_DIGEST (part 2 §10.9.2).
pub const MAX_DIGESTS: usize = 8;

/// Declares a TPML: a `u32` count then at most `$max` elements, stored in a `Vec` that the
/// constructors keep within the bound.
macro_rules! tpml {
    ($(#[$meta:meta])* $name:ident($elem:ty), $tcg:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name($crate::__private::Vec<$elem>);

        impl $name {
            /// The TCG name of this type.
            pub const TCG_NAME: &'static str = $tcg;
            /// The largest number of elements.
            pub const MAX: usize = $max;

            /// Wraps `items`, rejecting more than [`Self::MAX`].
            pub fn new(items: $crate::__private::Vec<$elem>) -> Result<Self, $crate::Error> {
                if items.len() > Self::MAX {
                    return Err($crate::Error::TooLarge {
                        what: $tcg,
                        size: items.len(),
                        max: Self::MAX,
                    });
                }
                Ok(Self(items))
            }

            /// The empty list.
            pub const fn empty() -> Self {
                Self($crate::__private::Vec::new())
            }

            /// Appends one element, rejecting it if the list is full.
            pub fn push(&mut self, item: $elem) -> Result<(), $crate::Error> {
                if self.0.len() >= Self::MAX {
                    return Err($crate::Error::TooLarge {
                        what: $tcg,
                        size: self.0.len() + 1,
                        max: Self::MAX,
                    });
                }
                self.0.push(item);
                Ok(())
            }

            /// The elements.
            pub fn as_slice(&self) -> &[$elem] {
                &self.0
            }

            /// The elements, by value.
            pub fn into_vec(self) -> $crate::__private::Vec<$elem> {
                self.0
            }
        }

        impl ::core::ops::Deref for $name {
            type Target = [$elem];
            fn deref(&self) -> &[$elem] {
                &self.0
            }
        }

        impl<'a> IntoIterator for &'a $name {
            type Item = &'a $elem;
            type IntoIter = ::core::slice::Iter<'a, $elem>;
            fn into_iter(self) -> Self::IntoIter {
                self.0.iter()
            }
        }

        impl $crate::marshal::Marshal for $name {
            fn marshal(&self, out: &mut $crate::__private::Vec<u8>) {
                $crate::marshal::marshal_list(&self.0, out);
            }
        }

        impl $crate::marshal::Unmarshal for $name {
            fn unmarshal(r: &mut $crate::marshal::Reader<'_>) -> Result<Self, $crate::Error> {
                Ok(Self(r.list(Self::MAX, $tcg)?))
            }
        }
    };
}
pub(crate) use tpml;

/// Checks a TPMI_ALG_HASH (no TPM_ALG_NULL): a hash algorithm this crate knows the size of.
pub fn check_hash(alg: TpmAlgId) -> Result<TpmAlgId, Error> {
    if alg.is_hash() {
        Ok(alg)
    } else {
        Err(Error::BadValue {
            what: "TPMI_ALG_HASH",
            value: u32::from(alg.0),
        })
    }
}

/// TPMS_PCR_SELECT (part 2 §10.6.1): `sizeofSelect` then a bit map of that many octets; bit
/// `n % 8` of octet `n / 8` selects PCR `n`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TpmsPcrSelect {
    size: u8,
    bits: [u8; PCR_SELECT_MAX],
}

impl TpmsPcrSelect {
    /// A bit map of `size` octets with nothing selected.
    pub fn empty(size: usize) -> Result<Self, Error> {
        if size > PCR_SELECT_MAX {
            return Err(Error::TooLarge {
                what: "TPMS_PCR_SELECT",
                size,
                max: PCR_SELECT_MAX,
            });
        }
        Ok(Self {
            size: u8::try_from(size).unwrap_or(0),
            bits: [0; PCR_SELECT_MAX],
        })
    }

    /// Wraps the raw `pcrSelect` octets (its length becomes `sizeofSelect`).
    pub fn from_bitmap(bitmap: &[u8]) -> Result<Self, Error> {
        if bitmap.len() > PCR_SELECT_MAX {
            return Err(Error::TooLarge {
                what: "TPMS_PCR_SELECT",
                size: bitmap.len(),
                max: PCR_SELECT_MAX,
            });
        }
        let mut bits = [0; PCR_SELECT_MAX];
        bits[..bitmap.len()].copy_from_slice(bitmap);
        Ok(Self {
            size: u8::try_from(bitmap.len()).unwrap_or(0),
            bits,
        })
    }

    /// A selection of `pcrs`, [`PCR_SELECT_MIN`] octets long or longer if a PCR needs it.
    pub fn from_pcrs(pcrs: &[u32]) -> Result<Self, Error> {
        let needed = pcrs
            .iter()
            .map(|&p| usize::try_from(p / 8 + 1).unwrap_or(usize::MAX))
            .max()
            .unwrap_or(0)
            .max(PCR_SELECT_MIN);
        let mut s = Self::empty(needed).map_err(|_| Error::BadValue {
            what: "TPMS_PCR_SELECT",
            value: pcrs.iter().copied().max().unwrap_or(0),
        })?;
        for &p in pcrs {
            s.select(p)?;
        }
        Ok(s)
    }

    /// `sizeofSelect`: the bit map's length in octets.
    pub const fn size_of_select(&self) -> usize {
        self.size as usize
    }

    /// The `pcrSelect` octets.
    pub fn bitmap(&self) -> &[u8] {
        &self.bits[..self.size_of_select()]
    }

    /// Whether PCR `pcr` is selected (PCRs beyond the bit map are not).
    pub fn is_selected(&self, pcr: u32) -> bool {
        let Ok(octet) = usize::try_from(pcr / 8) else {
            return false;
        };
        self.bitmap()
            .get(octet)
            .is_some_and(|b| b & (1 << (pcr % 8)) != 0)
    }

    /// Selects PCR `pcr`, which must fall inside the bit map.
    pub fn select(&mut self, pcr: u32) -> Result<(), Error> {
        let octet = usize::try_from(pcr / 8).unwrap_or(usize::MAX);
        if octet >= self.size_of_select() {
            return Err(Error::BadValue {
                what: "TPMS_PCR_SELECT",
                value: pcr,
            });
        }
        self.bits[octet] |= 1 << (pcr % 8);
        Ok(())
    }

    /// Deselects PCR `pcr` (no effect if it is outside the bit map).
    pub fn deselect(&mut self, pcr: u32) {
        let size = self.size_of_select();
        if let Some(b) = usize::try_from(pcr / 8)
            .ok()
            .filter(|&o| o < size)
            .and_then(|o| self.bits.get_mut(o))
        {
            *b &= !(1 << (pcr % 8));
        }
    }

    /// Whether no PCR is selected.
    pub fn is_empty(&self) -> bool {
        self.bitmap().iter().all(|&b| b == 0)
    }

    /// The selected PCR indices, ascending.
    pub fn pcrs(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .take(self.size_of_select() * 8)
            .filter(|&p| self.is_selected(p))
    }

    /// Number of selected PCRs.
    pub fn count(&self) -> usize {
        self.bitmap().iter().map(|b| b.count_ones() as usize).sum()
    }
}

impl fmt::Debug for TpmsPcrSelect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TPMS_PCR_SELECT(size {}: ", self.size)?;
        f.debug_list().entries(self.pcrs()).finish()?;
        f.write_str(")")
    }
}

impl Marshal for TpmsPcrSelect {
    fn marshal(&self, out: &mut Vec<u8>) {
        out.push(self.size);
        out.extend_from_slice(self.bitmap());
    }
}

impl Unmarshal for TpmsPcrSelect {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let size = usize::from(r.u8("TPMS_PCR_SELECT")?);
        if size > PCR_SELECT_MAX {
            return Err(Error::TooLarge {
                what: "TPMS_PCR_SELECT",
                size,
                max: PCR_SELECT_MAX,
            });
        }
        Self::from_bitmap(r.bytes(size, "TPMS_PCR_SELECT")?)
    }
}

/// TPMS_PCR_SELECTION (part 2 §10.6.2): the PCRs selected in one bank. On the wire: `hash`
/// (TPMI_ALG_HASH, TPM_ALG_NULL not allowed), `sizeofSelect`, `pcrSelect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TpmsPcrSelection {
    /// The bank.
    pub hash: TpmAlgId,
    /// The selected PCRs of that bank.
    pub select: TpmsPcrSelect,
}

impl TpmsPcrSelection {
    /// A selection of `pcrs` in bank `hash`.
    pub fn new(hash: TpmAlgId, pcrs: &[u32]) -> Result<Self, Error> {
        Ok(Self {
            hash: check_hash(hash)?,
            select: TpmsPcrSelect::from_pcrs(pcrs)?,
        })
    }
}

impl Marshal for TpmsPcrSelection {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.hash.marshal(out);
        self.select.marshal(out);
    }
}

impl Unmarshal for TpmsPcrSelection {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            hash: check_hash(TpmAlgId::unmarshal(r)?)?,
            select: TpmsPcrSelect::unmarshal(r)?,
        })
    }
}

/// TPMS_TAGGED_PCR_SELECT (part 2 §10.8.3): a PCR property (TPM_PT_PCR) and the PCRs that
/// have it, as reported by TPM_CAP_PCR_PROPERTIES.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TpmsTaggedPcrSelect {
    /// The property.
    pub tag: TpmPtPcr,
    /// The PCRs with that property.
    pub select: TpmsPcrSelect,
}

impl Marshal for TpmsTaggedPcrSelect {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.tag.marshal(out);
        self.select.marshal(out);
    }
}

impl Unmarshal for TpmsTaggedPcrSelect {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            tag: TpmPtPcr::unmarshal(r)?,
            select: TpmsPcrSelect::unmarshal(r)?,
        })
    }
}

tpml!(
    /// TPML_PCR_SELECTION (part 2 §10.9.7): one selection per bank, at most [`HASH_COUNT`].
    TpmlPcrSelection(TpmsPcrSelection), "TPML_PCR_SELECTION", HASH_COUNT
);

impl TpmlPcrSelection {
    /// Every selected (bank, PCR) pair, in list order.
    pub fn pairs(&self) -> impl Iterator<Item = (TpmAlgId, u32)> + '_ {
        self.0
            .iter()
            .flat_map(|s| s.select.pcrs().map(move |p| (s.hash, p)))
    }

    /// Total number of selected PCRs over all banks.
    pub fn count_selected(&self) -> usize {
        self.0.iter().map(|s| s.select.count()).sum()
    }
}

tpml!(
    /// TPML_DIGEST (part 2 §10.9.2): up to eight digests (PCR values, PolicyOR branches).
    TpmlDigest(Tpm2bDigest), "TPML_DIGEST", MAX_DIGESTS
);

/// TPMT_HA (part 2 §10.3.2): a hash algorithm and a digest of exactly that algorithm's size.
///
/// [`Unmarshal`] takes the field as TPMI_ALG_HASH without "+" and rejects TPM_ALG_NULL; use
/// [`TpmtHa::unmarshal_allow_null`] where the specification writes `TPMT_HA+` (the digest is
/// then empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TpmtHa {
    hash_alg: TpmAlgId,
    digest: Vec<u8>,
}

impl TpmtHa {
    /// A digest tagged with its algorithm; the length must equal the algorithm's digest size.
    pub fn new(hash_alg: TpmAlgId, digest: &[u8]) -> Result<Self, Error> {
        let expected = check_hash(hash_alg)?
            .digest_size()
            .unwrap_or(MAX_DIGEST_SIZE);
        if digest.len() != expected {
            return Err(Error::SizeMismatch {
                what: "TPMT_HA",
                declared: expected,
                actual: digest.len(),
            });
        }
        Ok(Self {
            hash_alg,
            digest: digest.to_vec(),
        })
    }

    /// The TPM_ALG_NULL value (no digest).
    pub const fn null() -> Self {
        Self {
            hash_alg: TpmAlgId::NULL,
            digest: Vec::new(),
        }
    }

    /// The hash algorithm (TPM_ALG_NULL only for values made by [`TpmtHa::null`] or
    /// [`TpmtHa::unmarshal_allow_null`]).
    pub const fn hash_alg(&self) -> TpmAlgId {
        self.hash_alg
    }

    /// The digest bytes.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// Reads a `TPMT_HA+`: like [`Unmarshal::unmarshal`], but TPM_ALG_NULL (with no digest)
    /// is accepted.
    pub fn unmarshal_allow_null(r: &mut Reader<'_>) -> Result<Self, Error> {
        if r.peek_u16("TPMT_HA")? == TpmAlgId::NULL.0 {
            r.u16("TPMT_HA")?;
            return Ok(Self::null());
        }
        Self::unmarshal(r)
    }
}

impl Marshal for TpmtHa {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.hash_alg.marshal(out);
        out.extend_from_slice(&self.digest);
    }
}

impl Unmarshal for TpmtHa {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let alg = TpmAlgId::unmarshal(r)?;
        let size = check_hash(alg)?.digest_size().unwrap_or(MAX_DIGEST_SIZE);
        Ok(Self {
            hash_alg: alg,
            digest: r.bytes(size, "TPMT_HA")?.to_vec(),
        })
    }
}

tpml!(
    /// TPML_DIGEST_VALUES (part 2 §10.9.5): one tagged digest per bank (TPM2_PCR_Extend).
    TpmlDigestValues(TpmtHa), "TPML_DIGEST_VALUES", HASH_COUNT
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::TpmCc;
    use crate::response::Response;
    use alloc::format;
    use alloc::vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn select_round_trip_and_bits() {
        let s = TpmsPcrSelect::from_pcrs(&[0, 7, 16, 23]).unwrap();
        assert_eq!(s.to_bytes(), [3, 0x81, 0x00, 0x81]);
        assert_eq!(s.pcrs().collect::<Vec<_>>(), [0, 7, 16, 23]);
        assert_eq!(s.count(), 4);
        assert!(s.is_selected(7) && !s.is_selected(8) && !s.is_selected(1000));
        assert_eq!(TpmsPcrSelect::from_bytes(&s.to_bytes()), Ok(s));
        assert_eq!(format!("{s:?}"), "TPMS_PCR_SELECT(size 3: [0, 7, 16, 23])");
        let mut t = s;
        t.deselect(7);
        t.deselect(4000);
        assert_eq!(t.bitmap(), [0x01, 0x00, 0x81]);
        // PCR 24 needs a fourth octet; PCR 32 does not fit at all.
        assert_eq!(
            TpmsPcrSelect::from_pcrs(&[24]).unwrap().to_bytes(),
            [4, 0, 0, 0, 1]
        );
        assert!(TpmsPcrSelect::from_pcrs(&[32]).is_err());
        assert!(TpmsPcrSelect::from_pcrs(&[u32::MAX]).is_err());
        let mut e = TpmsPcrSelect::empty(3).unwrap();
        assert!(e.is_empty());
        assert!(e.select(24).is_err());
        assert!(TpmsPcrSelect::empty(5).is_err());
        // Zero-sized selection is representable.
        assert_eq!(TpmsPcrSelect::from_bytes(&[0]).unwrap().size_of_select(), 0);
    }

    #[test]
    fn select_rejects_oversize_and_truncation() {
        assert_eq!(
            TpmsPcrSelect::from_bytes(&[5, 0, 0, 0, 0, 0]),
            Err(Error::TooLarge {
                what: "TPMS_PCR_SELECT",
                size: 5,
                max: 4
            })
        );
        assert!(matches!(
            TpmsPcrSelect::from_bytes(&[3, 0xff, 0xff]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            TpmsPcrSelect::from_bytes(&[]),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn selection_hash_must_be_a_hash() {
        let s = TpmsPcrSelection::new(TpmAlgId::SHA256, &[0, 1, 2]).unwrap();
        assert_eq!(s.to_bytes(), [0x00, 0x0b, 3, 0x07, 0, 0]);
        assert!(TpmsPcrSelection::new(TpmAlgId::NULL, &[0]).is_err());
        assert_eq!(
            TpmsPcrSelection::from_bytes(&[0x00, 0x10, 3, 0, 0, 0]),
            Err(Error::BadValue {
                what: "TPMI_ALG_HASH",
                value: 0x10
            })
        );
        assert!(TpmsPcrSelection::from_bytes(&[0x00, 0x06, 3, 0, 0, 0]).is_err());
    }

    #[test]
    fn selection_list_bounds() {
        let one = TpmsPcrSelection::new(TpmAlgId::SHA1, &[]).unwrap();
        let mut l = TpmlPcrSelection::new(vec![one; HASH_COUNT]).unwrap();
        assert!(l.push(one).is_err());
        assert!(TpmlPcrSelection::new(vec![one; HASH_COUNT + 1]).is_err());
        let bytes = l.to_bytes();
        assert_eq!(TpmlPcrSelection::from_bytes(&bytes).unwrap(), l);
        // A count of 17 is rejected before any element is read.
        let mut bad = vec![0, 0, 0, 17];
        bad.extend_from_slice(&bytes[4..]);
        bad.extend_from_slice(&one.to_bytes());
        assert_eq!(
            TpmlPcrSelection::from_bytes(&bad),
            Err(Error::TooLarge {
                what: "TPML_PCR_SELECTION",
                size: 17,
                max: 16
            })
        );
        // Count says 2, one element present.
        let mut short = vec![0, 0, 0, 2];
        short.extend_from_slice(&one.to_bytes());
        assert!(matches!(
            TpmlPcrSelection::from_bytes(&short),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn tagged_digest() {
        let d = [0xAB; 32];
        let ha = TpmtHa::new(TpmAlgId::SHA256, &d).unwrap();
        let bytes = ha.to_bytes();
        assert_eq!(bytes.len(), 34);
        assert_eq!(&bytes[..2], [0x00, 0x0b]);
        assert_eq!(TpmtHa::from_bytes(&bytes), Ok(ha.clone()));
        assert!(matches!(
            TpmtHa::new(TpmAlgId::SHA256, &d[..20]),
            Err(Error::SizeMismatch { .. })
        ));
        assert!(matches!(
            TpmtHa::from_bytes(&bytes[..33]),
            Err(Error::Truncated { .. })
        ));
        // NULL only where allowed.
        assert!(matches!(
            TpmtHa::from_bytes(&[0x00, 0x10]),
            Err(Error::BadValue { .. })
        ));
        let mut r = Reader::new(&[0x00, 0x10]);
        assert_eq!(TpmtHa::unmarshal_allow_null(&mut r), Ok(TpmtHa::null()));
        assert!(r.is_empty());
        assert_eq!(TpmtHa::null().to_bytes(), [0x00, 0x10]);
        let mut r = Reader::new(&bytes);
        assert_eq!(TpmtHa::unmarshal_allow_null(&mut r), Ok(ha.clone()));
        // Unknown algorithm.
        assert!(TpmtHa::from_bytes(&[0x00, 0x01, 0, 0]).is_err());
        let l = TpmlDigestValues::new(vec![ha, TpmtHa::new(TpmAlgId::SHA1, &[1; 20]).unwrap()])
            .unwrap();
        let lb = l.to_bytes();
        assert_eq!(lb.len(), 4 + 34 + 22);
        assert_eq!(TpmlDigestValues::from_bytes(&lb), Ok(l));
    }

    #[test]
    fn digest_list_max_eight() {
        let d = Tpm2bDigest::new(&[7; 32]).unwrap();
        let l = TpmlDigest::new(vec![d.clone(); 8]).unwrap();
        assert_eq!(TpmlDigest::from_bytes(&l.to_bytes()), Ok(l));
        assert!(TpmlDigest::new(vec![d.clone(); 9]).is_err());
        let mut bytes = vec![0, 0, 0, 9];
        for _ in 0..9 {
            d.marshal(&mut bytes);
        }
        assert!(matches!(
            TpmlDigest::from_bytes(&bytes),
            Err(Error::TooLarge { max: 8, .. })
        ));
    }

    #[test]
    fn pcr_read_golden() {
        // upstream.jsonl.gz, test "attestation", gseq 8638: TPM2_PCR_Read of sha256 PCRs 15, 16
        // and 22 (PCR 16 extended by the test, PCR 22 a locality-reset PCR reading all ones).
        let rsp = hex(concat!(
            "800100000082000000000000001600000001000b0300804100000003002000000000000000000000",
            "0000000000000000000000000000000000000000000000209dbb22387e019c04da95477333546082",
            "ce313152c4a7f8a6e1d5f0c77f4fb6f00020ffffffffffffffffffffffffffffffffffffffffffff",
            "ffffffffffffffffffff",
        ));
        let r = Response::parse(&rsp, TpmCc::PCR_READ).unwrap();
        let mut p = Reader::new(r.parameters);
        let counter = p.u32("pcrUpdateCounter").unwrap();
        let sel = TpmlPcrSelection::unmarshal(&mut p).unwrap();
        let digests = TpmlDigest::unmarshal(&mut p).unwrap();
        p.finish("PCR_Read").unwrap();
        assert_eq!(counter, 0x16);
        assert_eq!(sel.len(), 1);
        assert_eq!(sel[0].hash, TpmAlgId::SHA256);
        assert_eq!(sel[0].select.bitmap(), [0x00, 0x80, 0x41]);
        assert_eq!(sel[0].select.pcrs().collect::<Vec<_>>(), [15, 16, 22]);
        assert_eq!(
            sel.pairs().collect::<Vec<_>>(),
            [
                (TpmAlgId::SHA256, 15),
                (TpmAlgId::SHA256, 16),
                (TpmAlgId::SHA256, 22)
            ]
        );
        assert_eq!(digests.len(), 3);
        assert_eq!(digests[0].as_bytes(), [0; 32]);
        assert_eq!(&digests[1].as_bytes()[..4], [0x9d, 0xbb, 0x22, 0x38]);
        assert_eq!(digests[2].as_bytes(), [0xff; 32]);
        let mut again = Vec::new();
        counter.marshal(&mut again);
        sel.marshal(&mut again);
        digests.marshal(&mut again);
        assert_eq!(again, r.parameters);

        // Test "nv", gseq 151: two banks (sha256 and sha1, PCRs 0–3 each); the TPM answers
        // only the first eight digests it can fit, here all eight.
        let rsp = hex(concat!(
            "800100000102000000000000001700000002000b030f00000004030f0000000000080020",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "00200000000000000000000000000000000000000000000000000000000000000000",
            "00200000000000000000000000000000000000000000000000000000000000000000",
            "00200000000000000000000000000000000000000000000000000000000000000000",
            "00140000000000000000000000000000000000000000",
            "00140000000000000000000000000000000000000000",
            "00140000000000000000000000000000000000000000",
            "00140000000000000000000000000000000000000000"
        ));
        let r = Response::parse(&rsp, TpmCc::PCR_READ).unwrap();
        let mut p = Reader::new(r.parameters);
        assert_eq!(p.u32("pcrUpdateCounter").unwrap(), 0x17);
        let sel = TpmlPcrSelection::unmarshal(&mut p).unwrap();
        let digests = TpmlDigest::unmarshal(&mut p).unwrap();
        p.finish("PCR_Read").unwrap();
        assert_eq!(sel.count_selected(), 8);
        assert_eq!(sel[1].hash, TpmAlgId::SHA1);
        assert_eq!(digests.len(), 8);
        assert_eq!(digests[7].len(), 20);
    }
}

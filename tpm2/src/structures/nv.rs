//! NV index public areas (TCG TPM 2.0 Library part 2 §13.5 TPMS_NV_PUBLIC and §13.6
//! TPM2B_NV_PUBLIC).
//!
//! The Name of an NV index is `nameAlg || H_nameAlg(marshalled TPMS_NV_PUBLIC)` (part 1 §16);
//! the engine hashes [`Marshal::to_bytes`] of [`TpmsNvPublic`] with [`TpmsNvPublic::name_alg`].

use alloc::vec::Vec;

use crate::alg::TpmAlgId;
use crate::handle::{TpmHandle, TpmHt};
use crate::structures::crypto::read_alg_hash;
use crate::structures::{Tpm2bDigest, TpmaNv};
use crate::{Error, Marshal, Reader, Unmarshal};

/// MAX_NV_INDEX_SIZE: the largest data area of an NV index (the PC Client value, also the
/// reference implementation's default).
pub const MAX_NV_INDEX_SIZE: usize = 2048;

/// Checks a TPMI_RH_NV_INDEX (part 2 §9.24): a handle of type TPM_HT_NV_INDEX.
pub fn check_nv_index(h: TpmHandle) -> Result<TpmHandle, Error> {
    if h.ty() == TpmHt::NV_INDEX {
        Ok(h)
    } else {
        Err(Error::BadValue {
            what: "TPMI_RH_NV_INDEX",
            value: h.0,
        })
    }
}

/// TPMS_NV_PUBLIC (part 2 §13.5): the public area of an NV index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsNvPublic {
    /// nvIndex: the handle of the index (TPMI_RH_NV_INDEX).
    pub nv_index: TpmHandle,
    /// nameAlg: the hash of the index's Name (TPMI_ALG_HASH, no TPM_ALG_NULL).
    pub name_alg: TpmAlgId,
    /// attributes, including the index type (TPM_NT).
    pub attributes: TpmaNv,
    /// authPolicy: the policy for the index's policy role (empty for none).
    pub auth_policy: Tpm2bDigest,
    /// dataSize: the size of the data area, at most [`MAX_NV_INDEX_SIZE`].
    pub data_size: u16,
}

impl TpmsNvPublic {
    /// The algorithm of the index's Name.
    pub const fn name_alg(&self) -> TpmAlgId {
        self.name_alg
    }
}

impl Marshal for TpmsNvPublic {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.nv_index.marshal(out);
        self.name_alg.marshal(out);
        self.attributes.marshal(out);
        self.auth_policy.marshal(out);
        self.data_size.marshal(out);
    }
}

impl Unmarshal for TpmsNvPublic {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let nv_index = check_nv_index(TpmHandle::unmarshal(r)?)?;
        let name_alg = read_alg_hash(r, false)?;
        let attributes = TpmaNv::unmarshal(r)?;
        let auth_policy = Tpm2bDigest::unmarshal(r)?;
        let data_size = r.u16("TPMS_NV_PUBLIC")?;
        if usize::from(data_size) > MAX_NV_INDEX_SIZE {
            return Err(Error::TooLarge {
                what: "TPMS_NV_PUBLIC",
                size: usize::from(data_size),
                max: MAX_NV_INDEX_SIZE,
            });
        }
        Ok(Self {
            nv_index,
            name_alg,
            attributes,
            auth_policy,
            data_size,
        })
    }
}

crate::tpm2b_struct! {
    /// TPM2B_NV_PUBLIC (part 2 §13.6): a TPMS_NV_PUBLIC behind a size that must match it
    /// exactly; a zero size is rejected.
    Tpm2bNvPublic("TPM2B_NV_PUBLIC") {
        /// nvPublic.
        nv_public: TpmsNvPublic
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structures::{Tpm2bName, TpmNt};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// TPM2_NV_ReadPublic response parameters, corpus test "nvinc" seq 227: a counter index.
    const NV_READ_PUBLIC_COUNTER: &str = concat!(
        "000e01500015000b200e001e00000008",
        "0022000badc150ee58ee74e4d34b3cb2c1bc97a53836a3365c1fad01c5189423170341ae"
    );

    /// TPM2_NV_ReadPublic response parameters, corpus test "nv" seq 161: an index with a
    /// policy.
    const NV_READ_PUBLIC_POLICY: &str = concat!(
        "002e01500016000b00080008",
        "00208533fb21599dc345936092c046403db639530ebcb96053f7c8f1cd2219f72424",
        "0020",
        "0022000b78505c7fabe4c5891eae3001df20d461533ccef625fd06148d3ff00167a92bf4"
    );

    #[test]
    fn counter_index_from_the_corpus() {
        let bytes = hex(NV_READ_PUBLIC_COUNTER);
        let mut r = Reader::new(&bytes);
        let public = Tpm2bNvPublic::unmarshal(&mut r).unwrap();
        let name = Tpm2bName::unmarshal(&mut r).unwrap();
        r.finish("NV_ReadPublic").unwrap();
        let p = &public.nv_public;
        assert_eq!(p.nv_index, TpmHandle(0x0150_0015));
        assert_eq!(p.name_alg(), TpmAlgId::SHA256);
        assert_eq!(p.attributes.nt(), TpmNt::COUNTER);
        assert!(
            p.attributes
                .has(TpmaNv::AUTHWRITE | TpmaNv::AUTHREAD | TpmaNv::WRITTEN)
        );
        assert!(!p.attributes.has(TpmaNv::PPWRITE));
        assert!(p.auth_policy.is_empty());
        assert_eq!(p.data_size, 8);
        assert_eq!(&name.as_bytes()[..2], &[0, 0x0b]);
        let mut again = public.to_bytes();
        name.marshal(&mut again);
        assert_eq!(again, bytes);
        // The bytes the engine hashes for the Name.
        assert_eq!(p.to_bytes(), &bytes[2..16]);
    }

    #[test]
    fn policy_index_from_the_corpus() {
        let bytes = hex(NV_READ_PUBLIC_POLICY);
        let mut r = Reader::new(&bytes);
        let public = Tpm2bNvPublic::unmarshal(&mut r).unwrap();
        Tpm2bName::unmarshal(&mut r).unwrap();
        r.finish("NV_ReadPublic").unwrap();
        let p = public.nv_public;
        assert_eq!(
            p.attributes,
            TpmaNv(TpmaNv::POLICYWRITE | TpmaNv::POLICYREAD)
        );
        assert_eq!(p.attributes.nt(), TpmNt::ORDINARY);
        assert_eq!(p.auth_policy.len(), 32);
        assert_eq!(p.data_size, 32);
    }

    #[test]
    fn rejections() {
        let good = hex("000e01500015000b200e001e00000008");
        assert!(Tpm2bNvPublic::from_bytes(&good).is_ok());
        // A persistent-object handle is no NV index.
        let mut handle = good.clone();
        handle[2] = 0x81;
        assert_eq!(
            Tpm2bNvPublic::from_bytes(&handle),
            Err(Error::BadValue {
                what: "TPMI_RH_NV_INDEX",
                value: 0x8150_0015
            })
        );
        // nameAlg TPM_ALG_NULL.
        let mut null = good.clone();
        null[6..8].copy_from_slice(&[0, 0x10]);
        assert!(matches!(
            Tpm2bNvPublic::from_bytes(&null),
            Err(Error::BadValue {
                what: "TPMI_ALG_HASH",
                ..
            })
        ));
        // A reserved TPMA_NV bit (bit 8) and an undefined TPM_NT (3).
        let mut reserved = good.clone();
        reserved[10] |= 1;
        assert!(matches!(
            Tpm2bNvPublic::from_bytes(&reserved),
            Err(Error::ReservedBits { .. })
        ));
        let mut nt = good.clone();
        nt[11] = 0x3e;
        assert!(Tpm2bNvPublic::from_bytes(&nt).is_err());
        // dataSize 2048 is the largest allowed.
        let mut big = good.clone();
        big[14..16].copy_from_slice(&[0x08, 0x00]);
        assert!(Tpm2bNvPublic::from_bytes(&big).is_ok());
        big[15] = 1;
        assert_eq!(
            Tpm2bNvPublic::from_bytes(&big),
            Err(Error::TooLarge {
                what: "TPMS_NV_PUBLIC",
                size: 2049,
                max: 2048
            })
        );
        // Size errors of the TPM2B.
        let mut long = good.clone();
        long[1] += 1;
        long.push(0);
        assert_eq!(
            Tpm2bNvPublic::from_bytes(&long),
            Err(Error::TrailingBytes {
                what: "TPM2B_NV_PUBLIC",
                count: 1
            })
        );
        assert!(matches!(
            Tpm2bNvPublic::from_bytes(&[0, 0]),
            Err(Error::TooSmall { .. })
        ));
        assert!(matches!(
            Tpm2bNvPublic::from_bytes(&good[..12]),
            Err(Error::Truncated { .. })
        ));
    }
}

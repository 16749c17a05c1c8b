//! What TPM2_GetCapability returns (TCG TPM 2.0 Library part 2 §10.8 property structures,
//! §10.9 lists, §10.10 TPMU_CAPABILITIES / TPMS_CAPABILITY_DATA), and TPMI_YES_NO (§9.2).
//!
//! List maxima follow part 2's definitions with the PC Client platform's MAX_CAP_BUFFER of
//! 1024 octets: MAX_CAP_DATA = MAX_CAP_BUFFER − sizeof(TPM_CAP) − sizeof(UINT32) = 1016, and
//! each list holds at most MAX_CAP_DATA / sizeof(element):
//!
//! | list | element | size | maximum |
//! |---|---|---|---|
//! | TPML_ALG_PROPERTY | TPMS_ALG_PROPERTY | 6 | MAX_CAP_ALGS = 169 |
//! | TPML_HANDLE | TPM_HANDLE | 4 | MAX_CAP_HANDLES = 254 |
//! | TPML_CC, TPML_CCA | TPM_CC / TPMA_CC | 4 | MAX_CAP_CC = 254 |
//! | TPML_TAGGED_TPM_PROPERTY | TPMS_TAGGED_PROPERTY | 8 | MAX_TPM_PROPERTIES = 127 |
//! | TPML_TAGGED_PCR_PROPERTY | TPMS_TAGGED_PCR_SELECT | 8 | MAX_PCR_PROPERTIES = 127 |
//! | TPML_ECC_CURVE | TPM_ECC_CURVE | 2 | MAX_ECC_CURVES = 508 |
//! | TPML_TAGGED_POLICY | TPMS_TAGGED_POLICY | 72 | MAX_TAGGED_POLICIES = 14 |
//! | TPML_ACT_DATA | TPMS_ACT_DATA | 12 | MAX_ACT_DATA = 84 |
//!
//! The "size" column is the C `sizeof` of the reference implementation, which the
//! specification's formulas use: TPMS_TAGGED_PCR_SELECT is 4 + 1 + PCR_SELECT_MAX(3) = 8, and
//! TPMS_TAGGED_POLICY is a handle plus a TPMT_HA with a 64-octet TPMU_HA (70), padded to 72.
//! TPML_ALG is bounded by MAX_ALG_LIST_SIZE = 64 (part 2 §10.9.3).

use alloc::vec::Vec;

use crate::alg::TpmAlgId;
use crate::cap::TpmCap;
use crate::cc::TpmCc;
use crate::handle::TpmHandle;
use crate::pt::TpmPt;
use crate::st::TpmEccCurve;
use crate::structures::attributes::{TpmaAct, TpmaAlgorithm, TpmaCc};
use crate::structures::pcr::{TpmlPcrSelection, TpmsTaggedPcrSelect, TpmtHa, tpml};
use crate::{Error, Marshal, Reader, Unmarshal};

/// MAX_CAP_BUFFER of the PC Client platform.
pub const MAX_CAP_BUFFER: usize = 1024;
/// MAX_CAP_DATA: the room for a capability list after `capability` and `count`.
pub const MAX_CAP_DATA: usize = MAX_CAP_BUFFER - 4 - 4;
/// MAX_CAP_ALGS.
pub const MAX_CAP_ALGS: usize = MAX_CAP_DATA / 6;
/// MAX_CAP_HANDLES.
pub const MAX_CAP_HANDLES: usize = MAX_CAP_DATA / 4;
/// MAX_CAP_CC.
pub const MAX_CAP_CC: usize = MAX_CAP_DATA / 4;
/// MAX_TPM_PROPERTIES.
pub const MAX_TPM_PROPERTIES: usize = MAX_CAP_DATA / 8;
/// MAX_PCR_PROPERTIES.
pub const MAX_PCR_PROPERTIES: usize = MAX_CAP_DATA / 8;
/// MAX_ECC_CURVES.
pub const MAX_ECC_CURVES: usize = MAX_CAP_DATA / 2;
/// MAX_TAGGED_POLICIES.
pub const MAX_TAGGED_POLICIES: usize = MAX_CAP_DATA / 72;
/// MAX_ACT_DATA.
pub const MAX_ACT_DATA: usize = MAX_CAP_DATA / 12;
/// MAX_ALG_LIST_SIZE: the largest TPML_ALG.
pub const MAX_ALG_LIST_SIZE: usize = 64;

/// TPMI_YES_NO (part 2 §9.2) is marshalled as one octet that must be 0 (NO) or 1 (YES).
impl Marshal for bool {
    fn marshal(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

/// TPMI_YES_NO: values other than 0 and 1 are rejected.
impl Unmarshal for bool {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        read_yes_no(r, "TPMI_YES_NO")
    }
}

/// Reads a TPMI_YES_NO; `what` names the field for the truncation error. Values other than 0
/// and 1 fail with `BadValue { what: "TPMI_YES_NO" }`.
pub fn read_yes_no(r: &mut Reader<'_>, what: &'static str) -> Result<bool, Error> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::BadValue {
            what: "TPMI_YES_NO",
            value: u32::from(v),
        }),
    }
}

crate::wire_struct! {
    /// TPMS_ALG_PROPERTY (part 2 §10.8.1): an algorithm and its properties.
    pub struct TpmsAlgProperty("TPMS_ALG_PROPERTY") {
        /// The algorithm.
        pub alg: TpmAlgId,
        /// Its attributes.
        pub alg_properties: TpmaAlgorithm,
    }
}

crate::wire_struct! {
    /// TPMS_TAGGED_PROPERTY (part 2 §10.8.2): one TPM property and its value.
    pub struct TpmsTaggedProperty("TPMS_TAGGED_PROPERTY") {
        /// The property.
        pub property: TpmPt,
        /// Its value.
        pub value: u32,
    }
}

/// TPMS_TAGGED_POLICY (part 2 §10.8.4): a permanent handle and its authorization policy.
///
/// `policyHash` is read as `TPMT_HA+`: a hierarchy whose policy was never set reports its
/// policy algorithm as TPM_ALG_NULL with no digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsTaggedPolicy {
    /// The permanent handle.
    pub handle: TpmHandle,
    /// The policy algorithm and digest.
    pub policy_hash: TpmtHa,
}

impl Marshal for TpmsTaggedPolicy {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.handle.marshal(out);
        self.policy_hash.marshal(out);
    }
}

impl Unmarshal for TpmsTaggedPolicy {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            handle: TpmHandle::unmarshal(r)?,
            policy_hash: TpmtHa::unmarshal_allow_null(r)?,
        })
    }
}

crate::wire_struct! {
    /// TPMS_ACT_DATA (part 2 §10.8.5): the state of one authenticated countdown timer.
    pub struct TpmsActData("TPMS_ACT_DATA") {
        /// The ACT handle.
        pub handle: TpmHandle,
        /// Seconds remaining.
        pub timeout: u32,
        /// Its attributes.
        pub attributes: TpmaAct,
    }
}

tpml!(
    /// TPML_CC (part 2 §10.9.1): a list of command codes (PP and audit commands).
    TpmlCc(TpmCc), "TPML_CC", MAX_CAP_CC
);
tpml!(
    /// TPML_CCA (part 2 §10.9.2): the attributes of each implemented command.
    TpmlCca(TpmaCc), "TPML_CCA", MAX_CAP_CC
);
tpml!(
    /// TPML_ALG (part 2 §10.9.3): a list of algorithm identifiers.
    TpmlAlg(TpmAlgId), "TPML_ALG", MAX_ALG_LIST_SIZE
);
tpml!(
    /// TPML_HANDLE (part 2 §10.9.4): a list of handles.
    TpmlHandle(TpmHandle), "TPML_HANDLE", MAX_CAP_HANDLES
);
tpml!(
    /// TPML_ALG_PROPERTY (part 2 §10.9.8): algorithms and their properties.
    TpmlAlgProperty(TpmsAlgProperty), "TPML_ALG_PROPERTY", MAX_CAP_ALGS
);
tpml!(
    /// TPML_TAGGED_TPM_PROPERTY (part 2 §10.9.9): TPM properties and their values.
    TpmlTaggedTpmProperty(TpmsTaggedProperty), "TPML_TAGGED_TPM_PROPERTY", MAX_TPM_PROPERTIES
);
tpml!(
    /// TPML_TAGGED_PCR_PROPERTY (part 2 §10.9.10): PCR properties and the PCRs that have them.
    TpmlTaggedPcrProperty(TpmsTaggedPcrSelect), "TPML_TAGGED_PCR_PROPERTY", MAX_PCR_PROPERTIES
);
tpml!(
    /// TPML_ECC_CURVE (part 2 §10.9.11): implemented ECC curves.
    TpmlEccCurve(TpmEccCurve), "TPML_ECC_CURVE", MAX_ECC_CURVES
);
tpml!(
    /// TPML_TAGGED_POLICY (part 2 §10.9.12): permanent handles and their policies.
    TpmlTaggedPolicy(TpmsTaggedPolicy), "TPML_TAGGED_POLICY", MAX_TAGGED_POLICIES
);
tpml!(
    /// TPML_ACT_DATA (part 2 §10.9.13): authenticated countdown timers.
    TpmlActData(TpmsActData), "TPML_ACT_DATA", MAX_ACT_DATA
);

impl TpmlTaggedTpmProperty {
    /// The value reported for `property`, if the list has it.
    pub fn get(&self, property: TpmPt) -> Option<u32> {
        self.iter()
            .find(|p| p.property == property)
            .map(|p| p.value)
    }
}

/// TPMS_CAPABILITY_DATA (part 2 §10.10.2) with its TPMU_CAPABILITIES (§10.10.1): the variant
/// determines the `capability` selector written on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmsCapabilityData {
    /// TPM_CAP_ALGS.
    Algorithms(TpmlAlgProperty),
    /// TPM_CAP_HANDLES.
    Handles(TpmlHandle),
    /// TPM_CAP_COMMANDS.
    Command(TpmlCca),
    /// TPM_CAP_PP_COMMANDS.
    PpCommands(TpmlCc),
    /// TPM_CAP_AUDIT_COMMANDS.
    AuditCommands(TpmlCc),
    /// TPM_CAP_PCRS.
    AssignedPcr(TpmlPcrSelection),
    /// TPM_CAP_TPM_PROPERTIES.
    TpmProperties(TpmlTaggedTpmProperty),
    /// TPM_CAP_PCR_PROPERTIES.
    PcrProperties(TpmlTaggedPcrProperty),
    /// TPM_CAP_ECC_CURVES.
    EccCurves(TpmlEccCurve),
    /// TPM_CAP_AUTH_POLICIES.
    AuthPolicies(TpmlTaggedPolicy),
    /// TPM_CAP_ACT.
    Act(TpmlActData),
}

impl TpmsCapabilityData {
    /// The TPM_CAP selector of this variant.
    pub const fn capability(&self) -> TpmCap {
        match self {
            Self::Algorithms(_) => TpmCap::ALGS,
            Self::Handles(_) => TpmCap::HANDLES,
            Self::Command(_) => TpmCap::COMMANDS,
            Self::PpCommands(_) => TpmCap::PP_COMMANDS,
            Self::AuditCommands(_) => TpmCap::AUDIT_COMMANDS,
            Self::AssignedPcr(_) => TpmCap::PCRS,
            Self::TpmProperties(_) => TpmCap::TPM_PROPERTIES,
            Self::PcrProperties(_) => TpmCap::PCR_PROPERTIES,
            Self::EccCurves(_) => TpmCap::ECC_CURVES,
            Self::AuthPolicies(_) => TpmCap::AUTH_POLICIES,
            Self::Act(_) => TpmCap::ACT,
        }
    }

    /// Number of entries in the carried list.
    pub fn len(&self) -> usize {
        match self {
            Self::Algorithms(l) => l.len(),
            Self::Handles(l) => l.len(),
            Self::Command(l) => l.len(),
            Self::PpCommands(l) | Self::AuditCommands(l) => l.len(),
            Self::AssignedPcr(l) => l.len(),
            Self::TpmProperties(l) => l.len(),
            Self::PcrProperties(l) => l.len(),
            Self::EccCurves(l) => l.len(),
            Self::AuthPolicies(l) => l.len(),
            Self::Act(l) => l.len(),
        }
    }

    /// Whether the carried list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Marshal for TpmsCapabilityData {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.capability().marshal(out);
        match self {
            Self::Algorithms(l) => l.marshal(out),
            Self::Handles(l) => l.marshal(out),
            Self::Command(l) => l.marshal(out),
            Self::PpCommands(l) | Self::AuditCommands(l) => l.marshal(out),
            Self::AssignedPcr(l) => l.marshal(out),
            Self::TpmProperties(l) => l.marshal(out),
            Self::PcrProperties(l) => l.marshal(out),
            Self::EccCurves(l) => l.marshal(out),
            Self::AuthPolicies(l) => l.marshal(out),
            Self::Act(l) => l.marshal(out),
        }
    }
}

impl Unmarshal for TpmsCapabilityData {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let cap = TpmCap::unmarshal(r)?;
        Ok(match cap {
            TpmCap::ALGS => Self::Algorithms(Unmarshal::unmarshal(r)?),
            TpmCap::HANDLES => Self::Handles(Unmarshal::unmarshal(r)?),
            TpmCap::COMMANDS => Self::Command(Unmarshal::unmarshal(r)?),
            TpmCap::PP_COMMANDS => Self::PpCommands(Unmarshal::unmarshal(r)?),
            TpmCap::AUDIT_COMMANDS => Self::AuditCommands(Unmarshal::unmarshal(r)?),
            TpmCap::PCRS => Self::AssignedPcr(Unmarshal::unmarshal(r)?),
            TpmCap::TPM_PROPERTIES => Self::TpmProperties(Unmarshal::unmarshal(r)?),
            TpmCap::PCR_PROPERTIES => Self::PcrProperties(Unmarshal::unmarshal(r)?),
            TpmCap::ECC_CURVES => Self::EccCurves(Unmarshal::unmarshal(r)?),
            TpmCap::AUTH_POLICIES => Self::AuthPolicies(Unmarshal::unmarshal(r)?),
            TpmCap::ACT => Self::Act(Unmarshal::unmarshal(r)?),
            other => {
                return Err(Error::BadSelector {
                    what: "TPMU_CAPABILITIES",
                    value: other.0,
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pt::TpmPtPcr;
    use crate::response::Response;
    use crate::structures::pcr::{TpmsPcrSelect, TpmsPcrSelection};
    use alloc::vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Splits a GetCapability response into (moreData, capabilityData) and checks that
    /// re-marshalling gives the same parameter bytes.
    fn decode(rsp: &str) -> (bool, TpmsCapabilityData) {
        let rsp = hex(rsp);
        let r = Response::parse(&rsp, TpmCc::GET_CAPABILITY).unwrap();
        let mut p = Reader::new(r.parameters);
        let more = bool::unmarshal(&mut p).unwrap();
        let data = TpmsCapabilityData::unmarshal(&mut p).unwrap();
        p.finish("GetCapability").unwrap();
        let mut again = more.to_bytes();
        data.marshal(&mut again);
        assert_eq!(again, r.parameters);
        (more, data)
    }

    #[test]
    fn yes_no() {
        assert_eq!(bool::from_bytes(&[0]), Ok(false));
        assert_eq!(bool::from_bytes(&[1]), Ok(true));
        assert_eq!(
            bool::from_bytes(&[2]),
            Err(Error::BadValue {
                what: "TPMI_YES_NO",
                value: 2
            })
        );
        assert_eq!(true.to_bytes(), [1]);
        let mut r = Reader::new(&[]);
        assert!(matches!(
            read_yes_no(&mut r, "moreData"),
            Err(Error::Truncated {
                what: "moreData",
                ..
            })
        ));
    }

    #[test]
    fn maxima() {
        assert_eq!(MAX_CAP_ALGS, 169);
        assert_eq!(MAX_CAP_HANDLES, 254);
        assert_eq!(MAX_CAP_CC, 254);
        assert_eq!(MAX_TPM_PROPERTIES, 127);
        assert_eq!(MAX_PCR_PROPERTIES, 127);
        assert_eq!(MAX_ECC_CURVES, 508);
        assert_eq!(MAX_TAGGED_POLICIES, 14);
        assert_eq!(MAX_ACT_DATA, 84);
    }

    #[test]
    fn golden_pcrs() {
        // upstream.jsonl.gz, test "unseal", gseq 27606: TPM_CAP_PCRS, four banks of 24 PCRs.
        let (more, data) = decode(
            "80010000002b00000000000000000500000004000403ffffff000b03ffffff000c03ffffff000d03ffffff",
        );
        assert!(!more);
        let TpmsCapabilityData::AssignedPcr(l) = &data else {
            panic!("{data:?}")
        };
        let banks: Vec<_> = l.iter().map(|s| s.hash).collect();
        assert_eq!(
            banks,
            [
                TpmAlgId::SHA1,
                TpmAlgId::SHA256,
                TpmAlgId::SHA384,
                TpmAlgId::SHA512
            ]
        );
        assert!(l.iter().all(|s| s.select.count() == 24));
        assert_eq!(data.capability(), TpmCap::PCRS);
    }

    #[test]
    fn golden_ecc_curves() {
        // Test "getcap", gseq 14125: TPM_CAP_ECC_CURVES.
        let (more, data) =
            decode("8001000000230000000000000000080000000800010002000300040005001000110020");
        assert!(!more);
        let TpmsCapabilityData::EccCurves(l) = &data else {
            panic!("{data:?}")
        };
        assert_eq!(
            l.as_slice(),
            [
                TpmEccCurve::NIST_P192,
                TpmEccCurve::NIST_P224,
                TpmEccCurve::NIST_P256,
                TpmEccCurve::NIST_P384,
                TpmEccCurve::NIST_P521,
                TpmEccCurve::BN_P256,
                TpmEccCurve::BN_P638,
                TpmEccCurve::SM2_P256
            ]
        );
    }

    #[test]
    fn golden_handles_and_property() {
        // Test "getcap", gseq 14128: TPM_CAP_HANDLES from 0 (the PCRs 0–23).
        let (more, data) = decode(concat!(
            "8001000000730000000000000000010000001800000000000000010000000200000003000000040000",
            "0005000000060000000700000008000000090000000a0000000b0000000c0000000d0000000e000000",
            "0f0000001000000011000000120000001300000014000000150000001600000017"
        ));
        assert!(!more);
        let TpmsCapabilityData::Handles(l) = &data else {
            panic!("{data:?}")
        };
        assert_eq!(l.len(), 24);
        assert!(l.iter().enumerate().all(|(i, h)| h.0 as usize == i));
        // An empty answer (test "_prep:X509certutil", gseq 983: no transient objects).
        let (more, data) = decode("80010000001300000000000000000100000000");
        assert!(!more);
        assert_eq!(data, TpmsCapabilityData::Handles(TpmlHandle::empty()));
        assert!(data.is_empty());

        // Test "abrmd_policyauthorizenv", gseq 1466: TPM_PT_NV_BUFFER_MAX (0x12c) = 1024,
        // with moreData = YES.
        let (more, data) = decode("80010000001b000000000100000006000000010000012c00000400");
        assert!(more);
        let TpmsCapabilityData::TpmProperties(l) = &data else {
            panic!("{data:?}")
        };
        assert_eq!(l.get(TpmPt(0x12c)), Some(1024));
        assert_eq!(l.get(TpmPt::MANUFACTURER), None);
    }

    #[test]
    fn golden_algorithms_and_commands() {
        // Test "verifysignature", gseq 27827: TPM_CAP_ALGS from 0, 33 algorithms.
        let (_, data) = decode(ALGS_RSP);
        let TpmsCapabilityData::Algorithms(l) = &data else {
            panic!("{data:?}")
        };
        assert_eq!(l.len(), 33);
        assert_eq!(l[0].alg, TpmAlgId::RSA);
        assert!(
            l[0].alg_properties
                .has(TpmaAlgorithm::ASYMMETRIC | TpmaAlgorithm::OBJECT)
        );
        let sha256 = l.iter().find(|p| p.alg == TpmAlgId::SHA256).unwrap();
        assert_eq!(sha256.alg_properties, TpmaAlgorithm(TpmaAlgorithm::HASH));

        // Test "verifysignature", gseq 27761: TPM_CAP_COMMANDS from TPM2_NV_UndefineSpaceSpecial.
        let (more, data) = decode(COMMANDS_RSP);
        assert!(!more);
        let TpmsCapabilityData::Command(l) = &data else {
            panic!("{data:?}")
        };
        assert_eq!(l.len(), 110);
        assert_eq!(l[0].command_code(), TpmCc(0x11f));
        assert_eq!(l[0].c_handles(), 2);
        assert!(l[0].has(TpmaCc::NV));
        // TPM2_CreatePrimary (0x131) returns a handle.
        let create_primary = l.iter().find(|a| a.command_index() == 0x131).unwrap();
        assert!(create_primary.r_handle());
        assert_eq!(create_primary.c_handles(), 1);
    }

    #[test]
    fn constructed_capabilities_round_trip() {
        let cases = [
            TpmsCapabilityData::PpCommands(TpmlCc::new(vec![TpmCc(0x11f), TpmCc(0x121)]).unwrap()),
            TpmsCapabilityData::AuditCommands(TpmlCc::new(vec![TpmCc::GET_CAPABILITY]).unwrap()),
            TpmsCapabilityData::PcrProperties(
                TpmlTaggedPcrProperty::new(vec![TpmsTaggedPcrSelect {
                    tag: TpmPtPcr(0),
                    select: TpmsPcrSelect::from_pcrs(&[0, 1, 2, 3, 16]).unwrap(),
                }])
                .unwrap(),
            ),
            TpmsCapabilityData::AuthPolicies(
                TpmlTaggedPolicy::new(vec![
                    TpmsTaggedPolicy {
                        handle: TpmHandle::OWNER,
                        policy_hash: TpmtHa::null(),
                    },
                    TpmsTaggedPolicy {
                        handle: TpmHandle::ENDORSEMENT,
                        policy_hash: TpmtHa::new(TpmAlgId::SHA256, &[0x83; 32]).unwrap(),
                    },
                ])
                .unwrap(),
            ),
            TpmsCapabilityData::Act(
                TpmlActData::new(vec![TpmsActData {
                    handle: TpmHandle(0x4000_0110),
                    timeout: 30,
                    attributes: TpmaAct(TpmaAct::SIGNALED),
                }])
                .unwrap(),
            ),
            TpmsCapabilityData::AssignedPcr(
                TpmlPcrSelection::new(vec![TpmsPcrSelection::new(TpmAlgId::SHA256, &[7]).unwrap()])
                    .unwrap(),
            ),
        ];
        for c in cases {
            let bytes = c.to_bytes();
            assert_eq!(&bytes[..4], c.capability().0.to_be_bytes());
            assert_eq!(TpmsCapabilityData::from_bytes(&bytes), Ok(c.clone()));
            // Every strict prefix is truncated, never a panic or a different value.
            for n in 0..bytes.len() {
                assert!(
                    matches!(
                        TpmsCapabilityData::from_bytes(&bytes[..n]),
                        Err(Error::Truncated { .. })
                    ),
                    "{c:?} cut at {n}"
                );
            }
        }
    }

    #[test]
    fn rejections() {
        // Unknown capability and TPM_CAP_VENDOR_PROPERTY (no union member).
        for cap in [0x0000_000Bu32, 0x100, 0xFFFF_FFFF] {
            let mut b = cap.to_be_bytes().to_vec();
            b.extend_from_slice(&[0, 0, 0, 0]);
            assert_eq!(
                TpmsCapabilityData::from_bytes(&b),
                Err(Error::BadSelector {
                    what: "TPMU_CAPABILITIES",
                    value: cap
                })
            );
        }
        // Oversized lists, rejected on the count alone.
        let oversize = |cap: TpmCap, count: usize| {
            let mut b = cap.to_bytes();
            u32::try_from(count).unwrap().marshal(&mut b);
            b.extend_from_slice(&[0; 64]);
            TpmsCapabilityData::from_bytes(&b)
        };
        for (cap, max) in [
            (TpmCap::ALGS, MAX_CAP_ALGS),
            (TpmCap::HANDLES, MAX_CAP_HANDLES),
            (TpmCap::COMMANDS, MAX_CAP_CC),
            (TpmCap::PP_COMMANDS, MAX_CAP_CC),
            (TpmCap::AUDIT_COMMANDS, MAX_CAP_CC),
            (TpmCap::PCRS, 16),
            (TpmCap::TPM_PROPERTIES, MAX_TPM_PROPERTIES),
            (TpmCap::PCR_PROPERTIES, MAX_PCR_PROPERTIES),
            (TpmCap::ECC_CURVES, MAX_ECC_CURVES),
            (TpmCap::AUTH_POLICIES, MAX_TAGGED_POLICIES),
            (TpmCap::ACT, MAX_ACT_DATA),
        ] {
            assert!(
                matches!(oversize(cap, max + 1), Err(Error::TooLarge { size, max: m, .. }) if size == max + 1 && m == max),
                "{cap}"
            );
        }
        // A TPMA_CC with reserved bits inside TPM_CAP_COMMANDS.
        let mut b = TpmCap::COMMANDS.to_bytes();
        b.extend_from_slice(&[0, 0, 0, 1, 0x00, 0x01, 0x01, 0x44]);
        assert!(matches!(
            TpmsCapabilityData::from_bytes(&b),
            Err(Error::ReservedBits {
                what: "TPMA_CC",
                ..
            })
        ));
        // TPMA_ALGORITHM reserved bits inside TPM_CAP_ALGS.
        let mut b = TpmCap::ALGS.to_bytes();
        b.extend_from_slice(&[0, 0, 0, 1, 0x00, 0x01, 0, 0, 0, 0x80]);
        assert!(matches!(
            TpmsCapabilityData::from_bytes(&b),
            Err(Error::ReservedBits { .. })
        ));
        // TPML_ALG bound.
        let l = TpmlAlg::new(vec![TpmAlgId::SHA256; MAX_ALG_LIST_SIZE]).unwrap();
        assert_eq!(TpmlAlg::from_bytes(&l.to_bytes()), Ok(l));
        assert!(TpmlAlg::new(vec![TpmAlgId::SHA256; MAX_ALG_LIST_SIZE + 1]).is_err());
        // A policy with a truncated digest.
        let mut b = TpmHandle::OWNER.to_bytes();
        b.extend_from_slice(&[0x00, 0x0b, 1, 2, 3]);
        assert!(matches!(
            TpmsTaggedPolicy::from_bytes(&b),
            Err(Error::Truncated { .. })
        ));
        // TPMA_ACT reserved bits.
        let mut b = TpmHandle(0x4000_0110).to_bytes();
        b.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 4]);
        assert!(matches!(
            TpmsActData::from_bytes(&b),
            Err(Error::ReservedBits { .. })
        ));
    }

    const ALGS_RSP: &str = concat!(
        "8001000000d90000000000000000000000002100010000000900030000000200040000000400050000010400",
        "060000000200070000040400080000030c000a00000006000b00000004000c00000004000d00000004001400",
        "000101001500000201001600000101001700000201001800000101001900000401001a00000101001b000005",
        "01001c00000101001d0000040100200000040400210000040400220000040400230000000900250000000800",
        "2600000002003f00000102004000000202004100000202004200000202004300000202004400000202",
    );
    const COMMANDS_RSP: &str = concat!(
        "8001000001cb0000000000000000020000006e0440011f0440012002c001210440012202c0012402c0012502",
        "c001260240012702400128024001290240012a0240012b0240012c0240012d0240012e020001301200013102",
        "400132044001330440013404400135044001360440013704400138024001390240013a0240013b0240013c02",
        "40013d0300013e0240013f024001400040014200400143004001440040014500400146040001470400014806",
        "0001490400014a0400014b0400014c0600014d0400014e0440014f0400015004000151040001520200015302",
        "00015402000155020001561200015702000158020001591200015b0200015c0200015d0200015e0400016010",
        "000161020001620200016302000164000001651000016702000168020001690200016a0200016b0200016c02",
        "00016d0200016e0200016f020001700200017102000172020001730200017414000176020001770000017800",
        "00017a0000017b0000017c0000017d0000017e0200017f020001800000018102400182020001830600018405",
        "400185100001860200018702000188020001890000018a0200018b0200018c0200018d0000018e0200018f02",
        "00019012000191060001920200019304000197",
    );
}

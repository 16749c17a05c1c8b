//! Clock and attestation structures (TCG TPM 2.0 Library part 2 §10.11 TPMS_CLOCK_INFO,
//! TPMS_TIME_INFO, TPMS_TIME_ATTEST_INFO; §10.12 TPMS_CERTIFY_INFO … TPMS_ATTEST).
//!
//! TPMS_ATTEST is what TPM2_Quote, TPM2_Certify, TPM2_CertifyCreation, TPM2_NV_Certify,
//! TPM2_GetTime and the audit-digest commands sign. Its `type` (TPMI_ST_ATTEST) selects the
//! TPMU_ATTEST member; here [`TpmuAttest`] is an enum whose variant supplies the tag, so the two
//! cannot disagree. Unmarshalling checks the `magic` value TPM_GENERATED_VALUE and rejects any
//! TPM_ST that is not a TPMI_ST_ATTEST with [`Error::BadSelector`].

use alloc::vec::Vec;

use crate::alg::TpmAlgId;
use crate::st::TpmSt;
use crate::structures::buffers::{
    Tpm2bAttest, Tpm2bData, Tpm2bDigest, Tpm2bMaxNvBuffer, Tpm2bName,
};
use crate::structures::pcr::TpmlPcrSelection;
use crate::{Error, Marshal, Reader, Unmarshal};

/// TPM_GENERATED_VALUE (part 2 §6.2): the `magic` of every structure the TPM signs
/// ("\xffTCG").
pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;

crate::wire_struct! {
    /// TPMS_CLOCK_INFO (part 2 §10.11.1): the TPM's clock and reset/restart counts.
    pub struct TpmsClockInfo("TPMS_CLOCK_INFO") {
        /// Milliseconds the TPM has been powered since it was last cleared (or its clock set).
        pub clock: u64,
        /// Number of TPM resets since the last TPM2_Clear.
        pub reset_count: u32,
        /// Number of TPM restarts / resumes since the last reset or clear.
        pub restart_count: u32,
        /// TPMI_YES_NO: whether `clock` is guaranteed not to have gone backwards.
        pub safe: bool,
    }
}

crate::wire_struct! {
    /// TPMS_TIME_INFO (part 2 §10.11.6): time since the last TPM_Init, plus the clock.
    pub struct TpmsTimeInfo("TPMS_TIME_INFO") {
        /// Milliseconds since the last _TPM_Init or TPM2_Startup.
        pub time: u64,
        /// The clock state.
        pub clock_info: TpmsClockInfo,
    }
}

crate::wire_struct! {
    /// TPMS_TIME_ATTEST_INFO (part 2 §10.12.2): what TPM2_GetTime attests.
    pub struct TpmsTimeAttestInfo("TPMS_TIME_ATTEST_INFO") {
        /// The time and clock.
        pub time: TpmsTimeInfo,
        /// TPM vendor-specific firmware version.
        pub firmware_version: u64,
    }
}

crate::wire_struct! {
    /// TPMS_CERTIFY_INFO (part 2 §10.12.3): what TPM2_Certify attests.
    pub struct TpmsCertifyInfo("TPMS_CERTIFY_INFO") {
        /// The Name of the certified object.
        pub name: Tpm2bName,
        /// Its Qualified Name.
        pub qualified_name: Tpm2bName,
    }
}

crate::wire_struct! {
    /// TPMS_QUOTE_INFO (part 2 §10.12.4): what TPM2_Quote attests.
    pub struct TpmsQuoteInfo("TPMS_QUOTE_INFO") {
        /// The PCRs quoted.
        pub pcr_select: TpmlPcrSelection,
        /// Digest of the selected PCR values, with the signing key's hash algorithm.
        pub pcr_digest: Tpm2bDigest,
    }
}

crate::wire_struct! {
    /// TPMS_COMMAND_AUDIT_INFO (part 2 §10.12.5): what TPM2_GetCommandAuditDigest attests.
    pub struct TpmsCommandAuditInfo("TPMS_COMMAND_AUDIT_INFO") {
        /// The audit counter.
        pub audit_counter: u64,
        /// The hash algorithm of the audit digest.
        pub digest_alg: TpmAlgId,
        /// The current command audit digest.
        pub audit_digest: Tpm2bDigest,
        /// Digest of the command codes being audited.
        pub command_digest: Tpm2bDigest,
    }
}

crate::wire_struct! {
    /// TPMS_SESSION_AUDIT_INFO (part 2 §10.12.6): what TPM2_GetSessionAuditDigest attests.
    pub struct TpmsSessionAuditInfo("TPMS_SESSION_AUDIT_INFO") {
        /// TPMI_YES_NO: whether every command since the audit started was exclusive.
        pub exclusive_session: bool,
        /// The session's audit digest.
        pub session_digest: Tpm2bDigest,
    }
}

crate::wire_struct! {
    /// TPMS_CREATION_INFO (part 2 §10.12.7): what TPM2_CertifyCreation attests.
    pub struct TpmsCreationInfo("TPMS_CREATION_INFO") {
        /// The Name of the object.
        pub object_name: Tpm2bName,
        /// The digest of its creation data.
        pub creation_hash: Tpm2bDigest,
    }
}

crate::wire_struct! {
    /// TPMS_NV_CERTIFY_INFO (part 2 §10.12.8): what TPM2_NV_Certify attests for a data range.
    pub struct TpmsNvCertifyInfo("TPMS_NV_CERTIFY_INFO") {
        /// The Name of the NV index.
        pub index_name: Tpm2bName,
        /// Offset of `nv_contents` within the index.
        pub offset: u16,
        /// The certified contents.
        pub nv_contents: Tpm2bMaxNvBuffer,
    }
}

crate::wire_struct! {
    /// TPMS_NV_DIGEST_CERTIFY_INFO (part 2 §10.12.9): what TPM2_NV_Certify attests when asked
    /// for a digest of the whole index (size and offset zero).
    pub struct TpmsNvDigestCertifyInfo("TPMS_NV_DIGEST_CERTIFY_INFO") {
        /// The Name of the NV index.
        pub index_name: Tpm2bName,
        /// Digest of the index contents.
        pub nv_digest: Tpm2bDigest,
    }
}

/// TPMU_ATTEST (part 2 §10.12.11), selected by TPMI_ST_ATTEST (§10.12.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmuAttest {
    /// TPM_ST_ATTEST_CERTIFY.
    Certify(TpmsCertifyInfo),
    /// TPM_ST_ATTEST_CREATION.
    Creation(TpmsCreationInfo),
    /// TPM_ST_ATTEST_QUOTE.
    Quote(TpmsQuoteInfo),
    /// TPM_ST_ATTEST_COMMAND_AUDIT.
    CommandAudit(TpmsCommandAuditInfo),
    /// TPM_ST_ATTEST_SESSION_AUDIT.
    SessionAudit(TpmsSessionAuditInfo),
    /// TPM_ST_ATTEST_TIME.
    Time(TpmsTimeAttestInfo),
    /// TPM_ST_ATTEST_NV.
    Nv(TpmsNvCertifyInfo),
    /// TPM_ST_ATTEST_NV_DIGEST.
    NvDigest(TpmsNvDigestCertifyInfo),
}

impl TpmuAttest {
    /// The TPMI_ST_ATTEST tag of this variant.
    pub const fn tag(&self) -> TpmSt {
        match self {
            Self::Certify(_) => TpmSt::ATTEST_CERTIFY,
            Self::Creation(_) => TpmSt::ATTEST_CREATION,
            Self::Quote(_) => TpmSt::ATTEST_QUOTE,
            Self::CommandAudit(_) => TpmSt::ATTEST_COMMAND_AUDIT,
            Self::SessionAudit(_) => TpmSt::ATTEST_SESSION_AUDIT,
            Self::Time(_) => TpmSt::ATTEST_TIME,
            Self::Nv(_) => TpmSt::ATTEST_NV,
            Self::NvDigest(_) => TpmSt::ATTEST_NV_DIGEST,
        }
    }

    /// Reads the member selected by `tag`, rejecting tags that are not TPMI_ST_ATTEST.
    pub fn unmarshal_selected(tag: TpmSt, r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(match tag {
            TpmSt::ATTEST_CERTIFY => Self::Certify(Unmarshal::unmarshal(r)?),
            TpmSt::ATTEST_CREATION => Self::Creation(Unmarshal::unmarshal(r)?),
            TpmSt::ATTEST_QUOTE => Self::Quote(Unmarshal::unmarshal(r)?),
            TpmSt::ATTEST_COMMAND_AUDIT => Self::CommandAudit(Unmarshal::unmarshal(r)?),
            TpmSt::ATTEST_SESSION_AUDIT => Self::SessionAudit(Unmarshal::unmarshal(r)?),
            TpmSt::ATTEST_TIME => Self::Time(Unmarshal::unmarshal(r)?),
            TpmSt::ATTEST_NV => Self::Nv(Unmarshal::unmarshal(r)?),
            TpmSt::ATTEST_NV_DIGEST => Self::NvDigest(Unmarshal::unmarshal(r)?),
            other => {
                return Err(Error::BadSelector {
                    what: "TPMI_ST_ATTEST",
                    value: u32::from(other.0),
                });
            }
        })
    }
}

impl Marshal for TpmuAttest {
    fn marshal(&self, out: &mut Vec<u8>) {
        match self {
            Self::Certify(v) => v.marshal(out),
            Self::Creation(v) => v.marshal(out),
            Self::Quote(v) => v.marshal(out),
            Self::CommandAudit(v) => v.marshal(out),
            Self::SessionAudit(v) => v.marshal(out),
            Self::Time(v) => v.marshal(out),
            Self::Nv(v) => v.marshal(out),
            Self::NvDigest(v) => v.marshal(out),
        }
    }
}

/// TPMS_ATTEST (part 2 §10.12.12): the signed body of every attestation. On the wire:
/// `magic` (TPM_GENERATED_VALUE), `type` (from [`TpmuAttest::tag`]), `qualifiedSigner`,
/// `extraData`, `clockInfo`, `firmwareVersion`, `attested`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsAttest {
    /// Qualified Name of the signing key.
    pub qualified_signer: Tpm2bName,
    /// Caller-supplied qualifying data (a nonce).
    pub extra_data: Tpm2bData,
    /// The TPM's clock when the attestation was made (obfuscated unless the signer is in the
    /// endorsement or platform hierarchy).
    pub clock_info: TpmsClockInfo,
    /// TPM vendor-specific firmware version (also obfuscated).
    pub firmware_version: u64,
    /// What is attested; its variant is the structure's `type`.
    pub attested: TpmuAttest,
}

impl TpmsAttest {
    /// The `type` field.
    pub const fn tag(&self) -> TpmSt {
        self.attested.tag()
    }

    /// Decodes the body of a TPM2B_ATTEST, which must hold exactly one TPMS_ATTEST.
    pub fn from_tpm2b(b: &Tpm2bAttest) -> Result<Self, Error> {
        Self::from_bytes(b.as_bytes())
    }

    /// Wraps the marshalled structure as a TPM2B_ATTEST (fails only if it exceeds the
    /// TPM2B_ATTEST maximum).
    pub fn to_tpm2b(&self) -> Result<Tpm2bAttest, Error> {
        Tpm2bAttest::new(&self.to_bytes())
    }
}

impl Marshal for TpmsAttest {
    fn marshal(&self, out: &mut Vec<u8>) {
        TPM_GENERATED_VALUE.marshal(out);
        self.tag().marshal(out);
        self.qualified_signer.marshal(out);
        self.extra_data.marshal(out);
        self.clock_info.marshal(out);
        self.firmware_version.marshal(out);
        self.attested.marshal(out);
    }
}

impl Unmarshal for TpmsAttest {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let magic = r.u32("TPMS_ATTEST")?;
        if magic != TPM_GENERATED_VALUE {
            return Err(Error::BadValue {
                what: "TPM_GENERATED",
                value: magic,
            });
        }
        let tag = TpmSt::unmarshal(r)?;
        // Check the selector before reading the rest, so a wrong type fails as such.
        if !matches!(
            tag,
            TpmSt::ATTEST_CERTIFY
                | TpmSt::ATTEST_CREATION
                | TpmSt::ATTEST_QUOTE
                | TpmSt::ATTEST_COMMAND_AUDIT
                | TpmSt::ATTEST_SESSION_AUDIT
                | TpmSt::ATTEST_TIME
                | TpmSt::ATTEST_NV
                | TpmSt::ATTEST_NV_DIGEST
        ) {
            return Err(Error::BadSelector {
                what: "TPMI_ST_ATTEST",
                value: u32::from(tag.0),
            });
        }
        let qualified_signer = Tpm2bName::unmarshal(r)?;
        let extra_data = Tpm2bData::unmarshal(r)?;
        let clock_info = TpmsClockInfo::unmarshal(r)?;
        let firmware_version = r.u64("TPMS_ATTEST")?;
        let attested = TpmuAttest::unmarshal_selected(tag, r)?;
        Ok(Self {
            qualified_signer,
            extra_data,
            clock_info,
            firmware_version,
            attested,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::TpmCc;
    use crate::response::Response;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Decodes the TPM2B_ATTEST at the start of a response's parameters, checks that
    /// re-marshalling reproduces it, and returns it with the number of parameter bytes after
    /// it (the signature).
    fn decode(rsp: &str, cc: u32) -> (TpmsAttest, usize) {
        let rsp = hex(rsp);
        let r = Response::parse(&rsp, TpmCc(cc)).unwrap();
        let mut p = Reader::new(r.parameters);
        let b = Tpm2bAttest::unmarshal(&mut p).unwrap();
        let a = TpmsAttest::from_tpm2b(&b).unwrap();
        assert_eq!(a.to_tpm2b().unwrap(), b);
        (a, p.remaining())
    }

    #[test]
    fn golden_quote() {
        // upstream.jsonl.gz, test "quote", gseq 23354: TPM2_Quote of sha1 PCRs 16–18 with an
        // HMAC key and 50 octets of qualifying data.
        let (a, rest) = decode(QUOTE_RSP, 0x158);
        assert_eq!(a.tag(), TpmSt::ATTEST_QUOTE);
        assert_eq!(a.qualified_signer.len(), 34);
        assert_eq!(&a.qualified_signer.as_bytes()[..2], [0x00, 0x0b]);
        assert_eq!(a.extra_data.len(), 50);
        assert_eq!(
            &a.extra_data.as_bytes()[..5],
            [0x12, 0x34, 0x5a, 0xbc, 0xde]
        );
        assert_eq!(
            a.clock_info,
            TpmsClockInfo {
                clock: 0x86,
                reset_count: 0,
                restart_count: 0,
                safe: true
            }
        );
        assert_eq!(a.firmware_version, 0x2019_1023_0016_3636);
        let TpmuAttest::Quote(q) = &a.attested else {
            panic!("{a:?}")
        };
        assert_eq!(q.pcr_select.len(), 1);
        assert_eq!(q.pcr_select[0].hash, TpmAlgId::SHA1);
        assert_eq!(
            q.pcr_select[0].select.pcrs().collect::<Vec<_>>(),
            [16, 17, 18]
        );
        assert_eq!(q.pcr_digest.len(), 32);
        assert_eq!(&q.pcr_digest.as_bytes()[..4], [0xad, 0xd4, 0x08, 0xf9]);
        // TPMT_SIGNATURE with TPM_ALG_HMAC/sha256: 2 + 2 + 32.
        assert_eq!(rest, 36);
    }

    #[test]
    fn golden_certify_and_creation() {
        // Test "abrmd_policycphash", gseq 4699: TPM2_Certify with qualifying data 00ff55aa.
        let (a, rest) = decode(CERTIFY_RSP, 0x148);
        assert_eq!(a.extra_data.as_bytes(), [0x00, 0xff, 0x55, 0xaa]);
        let TpmuAttest::Certify(c) = &a.attested else {
            panic!("{a:?}")
        };
        assert_eq!(c.name.len(), 34);
        assert_eq!(c.qualified_name.len(), 34);
        assert_eq!(&c.name.as_bytes()[..4], [0x00, 0x0b, 0xff, 0xca]);
        // RSASSA-SHA256 signature with a 2048-bit key: 2 + 2 + 2 + 256.
        assert_eq!(rest, 262);

        // Same test, gseq 4821: TPM2_CertifyCreation.
        let (a, _) = decode(CERTIFY_CREATION_RSP, 0x14a);
        assert_eq!(a.tag(), TpmSt::ATTEST_CREATION);
        assert!(a.extra_data.is_empty());
        let TpmuAttest::Creation(c) = &a.attested else {
            panic!("{a:?}")
        };
        assert_eq!(c.object_name.len(), 34);
        assert_eq!(&c.creation_hash.as_bytes()[..4], [0x5d, 0xa0, 0x41, 0xba]);
    }

    #[test]
    fn golden_nv_and_time() {
        // Test "abrmd_policycphash", gseq 3240: TPM2_NV_Certify of 32 octets at offset 0.
        let (a, _) = decode(NV_CERTIFY_RSP, 0x184);
        assert_eq!(a.tag(), TpmSt::ATTEST_NV);
        let TpmuAttest::Nv(n) = &a.attested else {
            panic!("{a:?}")
        };
        assert_eq!(n.index_name.len(), 34);
        assert_eq!(n.offset, 0);
        assert_eq!(n.nv_contents.len(), 32);
        assert_eq!(&n.nv_contents.as_bytes()[..4], [0xa5, 0xbb, 0x1d, 0x60]);

        // Test "gettime", gseq 14371: TPM2_GetTime.
        let (a, _) = decode(GET_TIME_RSP, 0x14c);
        let TpmuAttest::Time(t) = &a.attested else {
            panic!("{a:?}")
        };
        assert_eq!(t.time.time, 0x9f2);
        assert_eq!(t.time.clock_info, a.clock_info);
        assert_eq!(t.firmware_version, a.firmware_version);
        assert_eq!(a.clock_info.clock, 0x194);
        assert!(a.clock_info.safe);
    }

    #[test]
    fn golden_audits() {
        // Test "commandaudit", gseq 10243: TPM2_GetCommandAuditDigest.
        let (a, _) = decode(COMMAND_AUDIT_RSP, 0x133);
        let TpmuAttest::CommandAudit(c) = &a.attested else {
            panic!("{a:?}")
        };
        assert_eq!(c.audit_counter, 1);
        assert_eq!(c.digest_alg, TpmAlgId::SHA256);
        assert_eq!(c.audit_digest.len(), 32);
        assert_eq!(c.command_digest.len(), 32);
        assert_eq!(&c.command_digest.as_bytes()[..2], [0x12, 0x22]);

        // Test "sessionaudit", gseq 24327: TPM2_GetSessionAuditDigest.
        let (a, _) = decode(SESSION_AUDIT_RSP, 0x14d);
        let TpmuAttest::SessionAudit(s) = &a.attested else {
            panic!("{a:?}")
        };
        assert!(!s.exclusive_session);
        assert_eq!(&s.session_digest.as_bytes()[..4], [0xa3, 0xdb, 0x9b, 0x05]);
    }

    fn sample() -> TpmsAttest {
        TpmsAttest {
            qualified_signer: Tpm2bName::new(&[0x40, 0, 0, 7]).unwrap(),
            extra_data: Tpm2bData::new(&[1, 2, 3]).unwrap(),
            clock_info: TpmsClockInfo {
                clock: 1000,
                reset_count: 2,
                restart_count: 3,
                safe: false,
            },
            firmware_version: 42,
            attested: TpmuAttest::NvDigest(TpmsNvDigestCertifyInfo {
                index_name: Tpm2bName::new(&[0x01, 0, 0, 1]).unwrap(),
                nv_digest: Tpm2bDigest::new(&[9; 32]).unwrap(),
            }),
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let a = sample();
        let bytes = a.to_bytes();
        assert_eq!(&bytes[..6], [0xff, 0x54, 0x43, 0x47, 0x80, 0x1c]);
        assert_eq!(TpmsAttest::from_bytes(&bytes), Ok(a.clone()));
        for n in 0..bytes.len() {
            assert!(
                matches!(
                    TpmsAttest::from_bytes(&bytes[..n]),
                    Err(Error::Truncated { .. })
                ),
                "cut at {n}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(
            TpmsAttest::from_bytes(&extra),
            Err(Error::TrailingBytes { .. })
        ));
        // Bad magic.
        let mut bad = bytes.clone();
        bad[3] = 0x48;
        assert_eq!(
            TpmsAttest::from_bytes(&bad),
            Err(Error::BadValue {
                what: "TPM_GENERATED",
                value: 0xff54_4348
            })
        );
        // Structure tags that are not TPMI_ST_ATTEST (0x801B is unassigned, 0x8021 is
        // TPM_ST_CREATION).
        for tag in [0x801Bu16, 0x8021, 0x8000, 0x0000] {
            let mut bad = bytes.clone();
            bad[4..6].copy_from_slice(&tag.to_be_bytes());
            assert_eq!(
                TpmsAttest::from_bytes(&bad),
                Err(Error::BadSelector {
                    what: "TPMI_ST_ATTEST",
                    value: u32::from(tag)
                })
            );
        }
        // safe must be 0 or 1.
        let clock_at = 6 + 2 + 4 + 2 + 3;
        let mut bad = bytes.clone();
        bad[clock_at + 16] = 2;
        assert!(matches!(
            TpmsAttest::from_bytes(&bad),
            Err(Error::BadValue {
                what: "TPMI_YES_NO",
                ..
            })
        ));
        // Every variant round-trips.
        let variants = [
            TpmuAttest::Certify(TpmsCertifyInfo {
                name: Tpm2bName::new(&[1; 34]).unwrap(),
                qualified_name: Tpm2bName::new(&[2; 34]).unwrap(),
            }),
            TpmuAttest::Time(TpmsTimeAttestInfo {
                time: TpmsTimeInfo {
                    time: 5,
                    clock_info: a.clock_info.clone(),
                },
                firmware_version: 6,
            }),
            TpmuAttest::Nv(TpmsNvCertifyInfo {
                index_name: Tpm2bName::new(&[3; 34]).unwrap(),
                offset: 8,
                nv_contents: Tpm2bMaxNvBuffer::new(&[4; 100]).unwrap(),
            }),
            TpmuAttest::SessionAudit(TpmsSessionAuditInfo {
                exclusive_session: true,
                session_digest: Tpm2bDigest::new(&[5; 48]).unwrap(),
            }),
        ];
        for v in variants {
            let x = TpmsAttest {
                attested: v,
                ..a.clone()
            };
            assert_eq!(TpmsAttest::from_bytes(&x.to_bytes()), Ok(x));
        }
    }

    const QUOTE_RSP: &str = concat!(
        "80020000011c00000000000000c900a3ff54434780180022000b56af4b342a795a5105673f67eb8e3b7f70f9",
        "dca352e786901bcc64a21935902e003212345abcde12345abcde12345abcde12345abcde12345abcde12345a",
        "bcde12345abcde12345abcde12345abcde12345abcde00000000000000860000000000000000012019102300",
        "163636000000010004030000070020add408f9dcb903c2211700487edd8250977de6de2060603ff7b984ae8b",
        "bb3a400005000b3de7b82f420e0cf2043b5167a16c5cb237a3c40fe2016a6dde886d714face7ce0020dc0af3",
        "d31cb52ac73793acff376d02d4ef4428ad9db466cbd1c7bd2f9f07d558010020ae4893459f823116b205b2c8",
        "bbf6b670f6a0429ccafad9bcdb2f308660d8d3b0",
    );
    const CERTIFY_RSP: &str = concat!(
        "80020000023100000000000001990091ff54434780170022000be6d513e43b19787f3fccc5b6f90a20bc256e",
        "c41456af8dfc4b7d70e6c4991299000400ff55aa000000000000039dd9e7e04f914eacf7015c8993ff759262",
        "650022000bffca8341ffe07bc1c4beb0deff64e8cf3075e83b2d288e7fe4d4fb232f1f7ff90022000bdef99c",
        "238a8090505c73abeb840a203766914c6f6b735da2834b54c68aead23b0014000b010003329ded2c11de1fd1",
        "169b156cc73e69dbcb8aa407e553e59f62371e062c23caf06efd75c4bf9d58d9ce14222ac78b82a60c5cc142",
        "b1b0f8f986f22034ed6e76bf0fcae3a6537f59faeac889afd2db2032c73d5d3c512c35de040fc945386c40fc",
        "4c137bba14a678d53442ccd238452a10c8dd15bf0c5306552620b71ec57d293dac58af64e922334afac71423",
        "fb0745ef9c8b8d384b8a2b22d9283ebd7737b885215352bd3614d419984b82d6f2ddaaf17cc0245c60ee2f68",
        "f488e2f4c943b471716bce707fc7361d9a3de9ebc9a0299a56df6dfd55b3ebabc6efe0d29865461b582c6dca",
        "9b708c76a77313fddc3a0eb794153d48e3a0b5757c458437afdd58002096613dbdedb9b6491bc757c6810a34",
        "4fcf25562426f1e09b0cd5dac55d32927a0100200ad28e0040b2785d5daa0ec2c11025830c9acdbbe12abeec",
        "7b0612c6820f851b00209a2a214ee5463922b4e27e8571da523f5d394311c0754a8e6d4831fe8d3a711e0100",
        "20aba747098f9ed5fb70304b4907563f34b540941d60b9a067a83804c98241e67f",
    );
    const CERTIFY_CREATION_RSP: &str = concat!(
        "8002000001e60000000000000193008bff544347801a0022000b2ecf0a8cb15b496b445138976025dc89cc17",
        "0c083f22f5fd8e415cd0120820590000000000000000044c9b595bcbcf43e90101f1a44365ad85a9ac002200",
        "0be3b904da9b5da62023eaf5f749b8633ffef7a1901d2381cacd19f9234530fa6b00205da041bac0ee3135ae",
        "bb0cadfba497c6a1877fae832dd3d1f8f7a871b825e8540014000b0100142da7455697064af8d60683251098",
        "f9b6fb6e9f20e6fa27760c12a5a98bc5f88619517ed6202b6f07ed1ef13d89f5d32900e502b0252cb8be4bd8",
        "e1d9fe9a560fa96b790b02c20023bfa65310757f3c1c7ceedb9e42da5df2115b353c733d21daa591e8c4a881",
        "c3899da7699b5b2a7d22e84ed091f2df73c88a332df56d1c952a9ad6b68bbb7eef25f400a63f528315dbca9e",
        "26529080bfa913be571a53015250572b7bd2bece7a4c0ac0b68c75320f6495c94182297cd6acab10d71e4363",
        "1d02c87c67ac4fa5718d68b9bf0006f1a6030bd4b716e0047fcc0d389b587ab30ea7d3583325182ecb9c55bc",
        "8835339679dac3813a4a2ee1301574f9903ae3720300201c7c920553b661432d131a7f71e9267c8c2d1d351a",
        "950b59ce9b03b1d3303940010020848ec54cbc266d694f80c811459aeb57bb81adab5d8f94096670699a61a5",
        "a39e",
    );
    const NV_CERTIFY_RSP: &str = concat!(
        "80020000022d0000000000000195008dff54434780140022000bf901b27eeb8c98b896f59a2ffb5e20945b8a",
        "2696d2f4598857df959ba7a6bf0200000000000000000896ee715a1389173e9501c90b970dd9db9ab5002200",
        "0bcc8e45ed0fb14512f1dbbfe56eed467fcd07ae07bb76ec1ae17b5981ab05ee4f00000020a5bb1d60921126",
        "6c56a941816edd65548131648823930378172822987f8c4f0f0014000b010055d2499c57c61eefa487ea9a81",
        "d29d595285e4199a407ea72ad86462afb21e987e1d174e9e935456c61625f342d156c1abfe99eabe3d309e5c",
        "43331319de32c9a9c08751ff8b7ca5565364563b51d5538c875afeef4bea41e55edf9074543e86624c92dc0a",
        "c22facd18577d25905f2161ed2a684a5ff7abaf37b0f3833701a6cdf375c9240ecb69e9bd2b64659bed265e8",
        "23f8058c8aa7abd2b714104bc460bfe38f94a3a61b0412a80d47655918d556c72a4412062a983115f3bfe956",
        "62c8746c15035cdb2781271016d218e64f5d9365ce0cecc4ddfdbd7127e52dfacfd7b2bcfc95d2f780fb21fa",
        "2dc45a9386c726e93ef4deffe6e2f7c8bc6c0e76a3a2a400209db7af8aef4bb143ce7ede8fc88e4f5a355fb7",
        "45d8531f968f766a1230410000010020cd1cfb1bea3055e5115cc94c17a2f6e737bb43f4b8dc597712cacff7",
        "643e0bb40020f711b00fde28333236c937cacbc402966cfdf46a026da06d2b6ac719395e5ff3010020b6c543",
        "f88a9d193cbf6ac911661f7233e02178ec037e8e9d0fe5bcd476c40d46",
    );
    const GET_TIME_RSP: &str = concat!(
        "800200000206000000000000016e0066ff54434780190022000ba4ca7d36aed86be69b0761228605520c5b9d",
        "1a1c24d04c7ecbfb6fc173af1247000000000000000001940000000000000000012019102300163636000000",
        "00000009f2000000000000019400000000000000000120191023001636360014000b01007179ba9330512ec5",
        "1b71d46a826c7210b4a55b8585adef9bdda99c1c2353b89501ffe9b6247d96382c6985dcdefc926024edece0",
        "35d32ee9c18028e5083537417539458e7b8ba0577081885479be2c9701c65d0b8309ccaa9fa66782f804431f",
        "726c6ea0cf1c572fe45d02676f3ab2db2c809340498aa83fe4bc883a076381baa82c49627d9aebccac90f938",
        "0b582e9f8983c47d70d503975db24d01e6cd59bf32f4249dcaa447cc59e01a077e9bc11dccb7d7ec16112ba4",
        "5c0423d94296f0f97984a1725a0207e9ecdc83003cb6b4f5bf800a156c78287f100918fdf25d3514d1aac177",
        "e3d73f05c746b5f13a4875e6bbfc12953452890f20798ffff5dd905c002099c23540984a3e858a49197d4bce",
        "622f54816caedd06ec2602a8189d8133935d0100203807f29b4d91d33b996157eaf1fd249f0cf452ec1b956e",
        "8350921256bc95443d002048799576ac6b2a58bb308c9e51d8410317158a7c2082a1e513615b53b47a30ca01",
        "00207539cd1361f55ebbba2f07fca799b09c557b539ff590ced56c65fd25029d4b79",
    );
    const COMMAND_AUDIT_RSP: &str = concat!(
        "800200000233000000000000019b0093ff54434780150022000bef5afec2f2f8b7ee1c7c578dc06a21b4ee1c",
        "cc620863eac34972d3e3d1d661cf00000000000000000136dddda56c95a2e1fd0135aaa3e615ef2dac000000",
        "0000000001000b002078bd6e1aa2f9576f25c6c847061226a0e08b2beb1dd7ce2872ead76784c0b839002012",
        "2256c273fcf60e77f13560864727bedd1b818c8c0bea96012415596cea28560014000b0100a6d459f64157fa",
        "2807162978ef531d9659af84e862e50b600978bc7c6c83c52c89f3a1442e94bc1db17c14a8ff04d6d13c9182",
        "617bad0957f4831096236550135a48403785be36f6375411a4454c446dde3c16b3b6c1e615fd61a7c2cee374",
        "f60670aab42630c74860ddc2671cada30e1972888e7db394163feac1b1f4613ef5b9f872aae3107285b22f32",
        "810a9b1c17c9c1f844691f045c18ff005e2f33aef3c9b90b8ca1b3d7cca0c6438f6941f17237e38d2332926d",
        "de7d00325201cf14fc45143cce3b862873526f26aa62eecefcbb1c5527a9f8b10edfb48fb82b56de64e8d4a2",
        "2bcb137a99a9d745302721120c0b4fc9ef032202b9e4f5fdaec0cf44290020e4c669aff8831a0ee7ef4a568d",
        "5e47571f2f2e9725f23e754fd9d48bd00bb8140100207ff154b5bceff49ac63ec11a26f47872b028dee9dce6",
        "0f6c58d12d2ca726337100209efac17a0f98870e880f2fd4da5d7f02f1ea76f1d1ea2f787ad69033b16189cb",
        "0100208bf5b13b325ad2207b95b5802682f868efb107df79be83639de9e28ff6233dee",
    );
    const SESSION_AUDIT_RSP: &str = concat!(
        "80020000020800000000000001700068ff54434780160022000b91d83b2637841a7995ee9d18024999852928",
        "70d54a42d88e7fbc05b8517b3e62000000000000000001610000000000000000012019102300163636000020",
        "a3db9b05c85c6b2a1717e61d186228f53deb204155c681c0db08e1f1b407c6210014000b01006cc855ba9574",
        "c32deb4bece0220b1d9cc07d74b16097d26976f516a64fb283b1a6ff2faaedb175e399128fef6fbd1c8f4c86",
        "8b6167d5b3075396e6d2f0e8a2b25387c7bbbaeb425b6551600aaca887578663bb48f9f01493530ff2a97299",
        "9ec2eb220d61b3e6e1084ddc62a2cf848b3e1efc17eb22ef00a94a6f40aa43d020849b7057210765669ec300",
        "faa6dd747fa67bd06d3a29cee94c3c0c641c2e2a6a9cccd51c373c2fb114b787b471ef13a5d3925ef4b06d7d",
        "c5ad2450d6a8fd02687b29a6e0661aedc0edeb55e40aab39821a81fcd7ee7a6b156d1b9152b348d710ef358e",
        "2da2a6d2e62838506a9243a1307aaff533163a3a468443ae3a45b10163c30020ca25cac912472fb967fe04bb",
        "d7ef1e6468826eda1afa344d130d52eeeed76400010020217531a95954a72474f166f4df0c9d469c766627a7",
        "94ba69750a7266d5e29bc5002031561d5d4652f3e76f9611d6e95d406013a2e0e87960a82bd47852d9eda846",
        "f9010020df86b2c90a4a3a667c0203c8f346aeb1fd4133c150065fe0a3bbad1cc4703ec4",
    );
}

//! Decodes every capability answer, PCR read and attestation in the traffic corpus
//! (/work/shared/testdata/tpm2-traces/upstream.jsonl.gz: tpm2-tools 5.4 against swtpm 0.7.1 /
//! libtpms 0.9.2) with the structures of part 2 §10.6–§10.12, and checks that each decodes
//! completely and re-marshals to the identical bytes:
//! - TPM2_GetCapability: `moreData` (TPMI_YES_NO) + TPMS_CAPABILITY_DATA, whose capability must
//!   be the one the command asked for;
//! - TPM2_PCR_Read: `pcrUpdateCounter` + TPML_PCR_SELECTION + TPML_DIGEST, one digest of the
//!   bank's size per selected PCR;
//! - TPM2_Quote, Certify, CertifyCreation, NV_Certify, GetTime, GetSessionAuditDigest and
//!   GetCommandAuditDigest: TPM2B_ATTEST holding a TPMS_ATTEST of the command's TPM_ST type,
//!   then the TPMT_SIGNATURE.

use std::collections::BTreeMap;

use tpm2::cap::TpmCap;
use tpm2::cc::TpmCc;
use tpm2::response::Response;
use tpm2::st::TpmSt;
use tpm2::structures::{
    Tpm2bAttest, TpmlDigest, TpmlPcrSelection, TpmsAttest, TpmsCapabilityData, TpmtSignature,
    read_yes_no,
};
use tpm2::{Marshal, Reader, Unmarshal};

mod common;

/// One successful record of the corpus.
struct Record {
    id: String,
    cc: String,
    cmd: Vec<u8>,
    rsp: Vec<u8>,
}

/// Every successful record whose command is one of `names` (corpus spelling, `TPM_CC_...`).
fn records(names: &[&str]) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    for line in common::text()?.lines() {
        let Some(cc) = common::field(line, "cc") else {
            continue;
        };
        if !names.contains(&cc) || common::field(line, "rc_name") != Some("TPM_RC_SUCCESS") {
            continue;
        }
        let gseq = line
            .split("\"gseq\": ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("?");
        let id = format!(
            "test {} gseq {gseq}",
            common::field(line, "test").unwrap_or("?")
        );
        let cmd = common::field(line, "cmd").and_then(common::hex);
        let rsp = common::field(line, "rsp").and_then(common::hex);
        let (Some(cmd), Some(rsp)) = (cmd, rsp) else {
            return Err(format!("{id}: unreadable cmd/rsp hex"));
        };
        out.push(Record {
            id,
            cc: cc.to_owned(),
            cmd,
            rsp,
        });
    }
    Ok(out)
}

/// The parameter area of a successful response to `cc`.
fn parameters(rec: &Record, cc: TpmCc) -> Result<&[u8], String> {
    let r = Response::parse(&rec.rsp, cc).map_err(|e| format!("{}: {e}", rec.id))?;
    if !r.code().is_success() {
        return Err(format!("{}: not a success response", rec.id));
    }
    Ok(r.parameters)
}

#[test]
fn every_get_capability_answer() {
    let recs = records(&["TPM_CC_GetCapability"]).unwrap();
    assert_eq!(
        recs.len(),
        2599,
        "successful GetCapability records in the corpus"
    );
    let mut per_cap: BTreeMap<String, usize> = BTreeMap::new();
    let mut more_data = 0;
    for rec in &recs {
        let params = parameters(rec, TpmCc::GET_CAPABILITY).unwrap();
        let mut r = Reader::new(params);
        let more = read_yes_no(&mut r, "moreData").unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        let data =
            TpmsCapabilityData::unmarshal(&mut r).unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        r.finish("GetCapability parameters")
            .unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        let mut again = more.to_bytes();
        data.marshal(&mut again);
        assert_eq!(again, params, "{}: re-marshalled differently", rec.id);
        // The command's first parameter is the capability asked for.
        let Some(asked) = rec
            .cmd
            .get(10..14)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
        else {
            panic!("{}: command too short", rec.id)
        };
        let asked = u32::from_be_bytes(asked);
        assert_eq!(data.capability(), TpmCap(asked), "{}", rec.id);
        more_data += usize::from(more);
        *per_cap.entry(data.capability().to_string()).or_default() += 1;
    }
    // What tpm2-tools asked swtpm for during the run.
    for cap in [
        TpmCap::ALGS,
        TpmCap::HANDLES,
        TpmCap::COMMANDS,
        TpmCap::PCRS,
        TpmCap::TPM_PROPERTIES,
        TpmCap::ECC_CURVES,
    ] {
        assert!(
            per_cap.get(&cap.to_string()).copied().unwrap_or(0) > 0,
            "no {cap} answer decoded: {per_cap:?}"
        );
    }
    assert_eq!(per_cap.values().sum::<usize>(), recs.len());
    assert!(more_data > 0, "some answers set moreData");
}

#[test]
fn every_pcr_read_answer() {
    let recs = records(&["TPM_CC_PCR_Read"]).unwrap();
    assert_eq!(recs.len(), 82, "successful PCR_Read records in the corpus");
    let mut digests_seen = 0;
    for rec in &recs {
        let params = parameters(rec, TpmCc::PCR_READ).unwrap();
        let mut r = Reader::new(params);
        let counter = r
            .u32("pcrUpdateCounter")
            .unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        let sel = TpmlPcrSelection::unmarshal(&mut r).unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        let values = TpmlDigest::unmarshal(&mut r).unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        r.finish("PCR_Read parameters")
            .unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        let mut again = counter.to_bytes();
        sel.marshal(&mut again);
        values.marshal(&mut again);
        assert_eq!(again, params, "{}: re-marshalled differently", rec.id);
        // pcrSelectionOut names exactly the PCRs whose values follow, in order.
        let pairs: Vec<_> = sel.pairs().collect();
        assert_eq!(pairs.len(), values.len(), "{}", rec.id);
        for ((bank, pcr), value) in pairs.iter().zip(values.iter()) {
            assert_eq!(
                Some(value.len()),
                bank.digest_size(),
                "{}: {bank} PCR {pcr}",
                rec.id
            );
        }
        digests_seen += values.len();
    }
    assert!(digests_seen > 0);
}

#[test]
fn every_attestation() {
    let expected: &[(&str, u32, TpmSt)] = &[
        ("TPM_CC_Quote", 0x158, TpmSt::ATTEST_QUOTE),
        ("TPM_CC_Certify", 0x148, TpmSt::ATTEST_CERTIFY),
        ("TPM_CC_CertifyCreation", 0x14A, TpmSt::ATTEST_CREATION),
        ("TPM_CC_NV_Certify", 0x184, TpmSt::ATTEST_NV),
        ("TPM_CC_GetTime", 0x14C, TpmSt::ATTEST_TIME),
        (
            "TPM_CC_GetSessionAuditDigest",
            0x14D,
            TpmSt::ATTEST_SESSION_AUDIT,
        ),
        (
            "TPM_CC_GetCommandAuditDigest",
            0x133,
            TpmSt::ATTEST_COMMAND_AUDIT,
        ),
    ];
    let names: Vec<&str> = expected.iter().map(|e| e.0).collect();
    let recs = records(&names).unwrap();
    let mut per_cc: BTreeMap<&str, usize> = BTreeMap::new();
    for rec in &recs {
        let Some(&(name, code, tag)) = expected.iter().find(|e| e.0 == rec.cc) else {
            unreachable!()
        };
        let params = parameters(rec, TpmCc(code)).unwrap();
        let mut r = Reader::new(params);
        let body = Tpm2bAttest::unmarshal(&mut r).unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        let attest = TpmsAttest::from_tpm2b(&body).unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        let sig = TpmtSignature::unmarshal(&mut r).unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        r.finish("attestation parameters")
            .unwrap_or_else(|e| panic!("{}: {e}", rec.id));
        assert_eq!(attest.tag(), tag, "{}", rec.id);
        assert_eq!(
            attest.to_bytes(),
            body.as_bytes(),
            "{}: re-marshalled differently",
            rec.id
        );
        let mut again = body.to_bytes();
        sig.marshal(&mut again);
        assert_eq!(again, params, "{}", rec.id);
        *per_cc.entry(name).or_default() += 1;
    }
    assert_eq!(
        per_cc,
        BTreeMap::from([
            ("TPM_CC_Certify", 4),
            ("TPM_CC_CertifyCreation", 5),
            ("TPM_CC_GetCommandAuditDigest", 3),
            ("TPM_CC_GetSessionAuditDigest", 23),
            ("TPM_CC_GetTime", 2),
            ("TPM_CC_NV_Certify", 4),
            ("TPM_CC_Quote", 16),
        ])
    );
}

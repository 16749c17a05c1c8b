//! Integration tests against a real swtpm (Debian's `swtpm` package), started by each test on a
//! free loopback port pair and stopped by PID. Nothing here is skipped when swtpm is missing:
//! `Swtpm::spawn` fails and the test fails with a message naming the package to install.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tpm2::alg::TpmAlgId;
use tpm2::cap::TpmCap;
use tpm2::cc::TpmCc;
use tpm2::client::{Client, ClientError};
use tpm2::command::build_command;
use tpm2::commands::{GetCapabilityCommand, PcrReadResponse};
use tpm2::pt::TpmPt;
use tpm2::rc::{RcDecoded, RcSubject, TpmRc};
use tpm2::response::Response;
use tpm2::st::TpmSu;
use tpm2::structures::{
    TpmaAlgorithm as A, TpmlPcrSelection, TpmsCapabilityData, TpmsPcrSelection,
};
use tpm2::transport::Transport;
use tpm2::{Marshal, Unmarshal};
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::ctrl;

fn spawn(startup_clear: bool) -> Swtpm {
    Swtpm::spawn(SwtpmOptions { startup_clear }).expect("swtpm must be installed and start")
}

/// Sends raw bytes and returns the raw response.
fn raw<T: Transport>(t: &mut T, cmd: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    let n = t.transact(cmd, &mut buf).expect("transport exchange");
    buf[..n].to_vec()
}

fn rc_of(e: &ClientError<vtpm_tools::Error>) -> TpmRc {
    e.rc()
        .unwrap_or_else(|| panic!("expected a TPM error response, got {e}"))
}

#[test]
fn boot_sequence_over_the_swtpm_transport() {
    let sw = spawn(false);
    let mut tpm = Client::new(sw.connect().unwrap());

    // Powered on but not started: every command but Startup answers TPM_RC_INITIALIZE.
    let e = tpm
        .get_capability(TpmCap::TPM_PROPERTIES, tpm2::pt::PT_FIXED, 8)
        .unwrap_err();
    assert_eq!(rc_of(&e), TpmRc::INITIALIZE);
    assert_eq!(TpmRc::INITIALIZE.name(), Some("TPM_RC_INITIALIZE"));
    assert!(e.to_string().contains("TPM_RC_INITIALIZE"), "{e}");

    tpm.startup(TpmSu::CLEAR).unwrap();
    // A second Startup is refused the same way.
    let e = tpm.startup(TpmSu::CLEAR).unwrap_err();
    assert_eq!(rc_of(&e), TpmRc::INITIALIZE);

    // Fixed properties: family "2.0", 4096-byte buffers, the manufacturer swtpm reports.
    let (_, data) = tpm
        .get_capability(TpmCap::TPM_PROPERTIES, tpm2::pt::PT_FIXED, 0x7f)
        .unwrap();
    let TpmsCapabilityData::TpmProperties(props) = data else {
        panic!("wrong capability {data:?}")
    };
    assert_eq!(
        props.get(TpmPt::FAMILY_INDICATOR),
        Some(u32::from_be_bytes(*b"2.0\0"))
    );
    assert_eq!(props.get(TpmPt::MAX_COMMAND_SIZE), Some(4096));
    assert_eq!(props.get(TpmPt::MAX_RESPONSE_SIZE), Some(4096));
    assert_eq!(
        props.get(TpmPt::MANUFACTURER),
        Some(u32::from_be_bytes(*b"IBM\0"))
    );
    assert_eq!(props.get(TpmPt::PCR_COUNT), Some(24));

    // Algorithms: the PC Client mandatory set is there, each with sensible attributes.
    let (_, data) = tpm.get_capability(TpmCap::ALGS, 0, 0x7f).unwrap();
    let TpmsCapabilityData::Algorithms(algs) = data else {
        panic!("wrong capability {data:?}")
    };
    let find = |a: TpmAlgId| {
        algs.as_slice()
            .iter()
            .find(|p| p.alg == a)
            .map(|p| p.alg_properties)
    };
    assert!(find(TpmAlgId::SHA256).unwrap().has(A::HASH));
    assert!(find(TpmAlgId::RSA).unwrap().has(A::ASYMMETRIC | A::OBJECT));
    assert!(find(TpmAlgId::ECC).unwrap().has(A::ASYMMETRIC | A::OBJECT));
    assert!(find(TpmAlgId::AES).unwrap().has(A::SYMMETRIC));
    assert!(find(TpmAlgId::CFB).is_some());

    // PCR banks: every bank has 24 PCRs and sha256 is among them.
    let (more, data) = tpm.get_capability(TpmCap::PCRS, 0, 1).unwrap();
    assert!(!more);
    let TpmsCapabilityData::AssignedPcr(banks) = data else {
        panic!("wrong capability {data:?}")
    };
    assert!(banks.as_slice().iter().any(|b| b.hash == TpmAlgId::SHA256));
    for b in banks.as_slice() {
        assert_eq!(b.select.bitmap().len() * 8, 24, "bank {}", b.hash);
    }

    // GetRandom: the asked-for length, and two draws differ.
    let a = tpm.get_random(16).unwrap();
    let b = tpm.get_random(16).unwrap();
    assert_eq!((a.len(), b.len()), (16, 16));
    assert_ne!(a, b);
    // Larger requests are capped at a digest's size, never over-long.
    let big = tpm.get_random(1000).unwrap();
    assert!(!big.is_empty() && big.len() <= 64, "{} bytes", big.len());

    // PCR_Read of three fresh sha256 PCRs: all zero, 32 bytes each, selection echoed.
    let sel = TpmlPcrSelection::new(vec![
        TpmsPcrSelection::new(TpmAlgId::SHA256, &[0, 1, 2]).unwrap(),
    ])
    .unwrap();
    let r: PcrReadResponse = tpm.pcr_read(sel.clone()).unwrap();
    assert_eq!(r.pcr_selection_out, sel);
    assert_eq!(r.pcr_values.as_slice().len(), 3);
    for d in r.pcr_values.as_slice() {
        assert_eq!(d.as_bytes(), [0u8; 32]);
    }

    sw.shutdown().unwrap();
}

#[test]
fn error_codes_decode_to_spec_names() {
    let sw = spawn(true);
    let mut t = sw.connect().unwrap();

    // GetCapability with an undefined capability: a format-one TPM_RC_VALUE on parameter 1.
    let params = GetCapabilityCommand {
        capability: TpmCap(0x77),
        property: 0,
        property_count: 1,
    };
    let cmd = build_command(TpmCc::GET_CAPABILITY, &[], &[], &params.to_bytes()).unwrap();
    let rsp = raw(&mut t, &cmd);
    let r = Response::parse(&rsp, TpmCc::GET_CAPABILITY).unwrap();
    let rc = r.code();
    assert_eq!(rc.base(), TpmRc::VALUE);
    assert!(matches!(
        rc.decode(),
        RcDecoded::Format1 {
            subject: Some(RcSubject::Parameter(1)),
            ..
        }
    ));
    assert_eq!(rc.to_string(), "TPM_RC_VALUE (parameter 1)");

    // An unknown command code: TPM_RC_COMMAND_CODE.
    let rsp = raw(&mut t, &[0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x00]);
    let r = Response::parse(&rsp, TpmCc(0x100)).unwrap();
    assert_eq!(r.code(), TpmRc::COMMAND_CODE);
    assert_eq!(r.code().name(), Some("TPM_RC_COMMAND_CODE"));

    // A command whose tag is neither TPM_ST_NO_SESSIONS nor TPM_ST_SESSIONS: libtpms answers
    // format-one TPM_RC_VALUE with no parameter number (0x084), which the engine must match.
    let rsp = raw(&mut t, &[0x80, 0x03, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8]);
    let r = Response::parse(&rsp, TpmCc::GET_RANDOM).unwrap();
    assert_eq!(r.code(), TpmRc(0x084));
    assert!(matches!(
        r.code().decode(),
        RcDecoded::Format1 { subject: None, .. }
    ));
    assert_eq!(r.code().to_string(), "TPM_RC_VALUE");

    // PCR_Read of a bank swtpm does not implement (SM3_256): TPM_RC_HASH on parameter 1.
    let rsp = raw(
        &mut t,
        &[
            0x80, 0x01, 0, 0, 0, 20, 0, 0, 0x01, 0x7E, 0, 0, 0, 1, 0x00, 0x12, 3, 1, 0, 0,
        ],
    );
    let r = Response::parse(&rsp, TpmCc::PCR_READ).unwrap();
    assert_eq!(r.code(), TpmRc(0x1c3));
    assert_eq!(r.code().base(), TpmRc::HASH);
    assert_eq!(r.code().to_string(), "TPM_RC_HASH (parameter 1)");
    sw.shutdown().unwrap();
}

#[test]
fn control_channel_init_locality_and_shutdown() {
    let sw = spawn(true);
    let mut ctl = sw.control().unwrap();
    let caps = ctl.capabilities().unwrap();
    for (bit, name) in [
        (0x1, "INIT"),
        (0x2, "SHUTDOWN"),
        (0x8, "SET_LOCALITY"),
        (0x400, "STOP"),
    ] {
        assert_ne!(caps & bit, 0, "swtpm lacks {name} ({caps:#x})");
    }
    assert_eq!(ctrl::INIT, 2);
    ctl.set_locality(0).unwrap();

    let mut tpm = Client::new(sw.connect().unwrap());
    assert_eq!(tpm.get_random(8).unwrap().len(), 8);

    // CMD_INIT is a power cycle: the TPM wants TPM2_Startup again. (swtpm serves one data
    // connection at a time, so the old one is closed first.)
    drop(tpm);
    ctl.init(false).unwrap();
    let mut tpm = Client::new(sw.connect().unwrap());
    assert_eq!(rc_of(&tpm.get_random(8).unwrap_err()), TpmRc::INITIALIZE);
    tpm.startup(TpmSu::CLEAR).unwrap();
    assert_eq!(tpm.get_random(8).unwrap().len(), 8);

    // Locality 5 does not exist: swtpm refuses it with result 0x3d (TPM_BAD_LOCALITY), which
    // comes back as a control error naming the command.
    let e = ctl.set_locality(5).unwrap_err();
    assert!(
        matches!(
            e,
            vtpm_tools::Error::Control {
                command: "CMD_SET_LOCALITY",
                result: 0x3d
            }
        ),
        "{e}"
    );
    ctl.set_locality(0).unwrap();

    drop(ctl);
    let pid = sw.pid();
    assert!(
        sw.shutdown().unwrap(),
        "swtpm {pid} did not exit gracefully on CMD_SHUTDOWN"
    );
}

#[test]
fn mssim_framing_against_swtpm() {
    let sw = spawn(false);
    let mut m = Client::new(sw.connect_mssim().unwrap());
    m.startup(TpmSu::CLEAR).unwrap();
    let (_, data) = m
        .get_capability(TpmCap::TPM_PROPERTIES, TpmPt::MANUFACTURER.0, 1)
        .unwrap();
    let TpmsCapabilityData::TpmProperties(p) = data else {
        panic!("wrong capability")
    };
    assert_eq!(
        p.get(TpmPt::MANUFACTURER),
        Some(u32::from_be_bytes(*b"IBM\0"))
    );
    assert_eq!(m.get_random(32).unwrap().len(), 32);
    m.into_transport().end_session().unwrap();
    sw.shutdown().unwrap();
}

#[test]
fn vtpmctl_probe_spawns_and_stops_its_own_swtpm() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtpmctl"))
        .args(["probe", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "vtpmctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "\"family\":\"2.0\"",
        "\"manufacturer\":\"IBM\"",
        "\"name\":\"sha256\"",
        "\"pcrs\":24",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from {stdout}");
    }
    // The private swtpm's pid is in the target string; it must be gone.
    let pid: u32 = stdout
        .split("pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .expect("pid in output");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "swtpm {pid} still running"
    );

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_vtpmctl"))
        .args(["probe", "--tpm", "swtpm:nowhere"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad TPM specification"));
}

#[test]
fn the_typed_client_matches_raw_bytes() {
    // Golden bytes: what tpm2-tools sends for `tpm2 pcrread sha256:0` (corpus test "pcrread").
    let sw = spawn(true);
    let mut t = sw.connect().unwrap();
    let cmd = [
        0x80, 0x01, 0, 0, 0, 0x14, 0, 0, 0x01, 0x7e, 0, 0, 0, 1, 0, 0x0b, 3, 1, 0, 0,
    ];
    let rsp = raw(&mut t, &cmd);
    let r = Response::parse(&rsp, TpmCc::PCR_READ).unwrap();
    let p = PcrReadResponse::from_bytes(r.parameters).unwrap();
    assert_eq!(p.pcr_values.as_slice()[0].as_bytes(), [0u8; 32]);
    assert_eq!(p.to_bytes(), r.parameters);
    sw.shutdown().unwrap();
}

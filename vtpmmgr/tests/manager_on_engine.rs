//! The manager with the project's own TPM 2.0 engine as its "hardware" TPM, in process: the
//! embedded default needs no swtpm. Everything but GROUP_ACTIVATE (TPM2_ActivateCredential is
//! engine part 2) runs — GET_QUOTE included, its quote verified with the group's AK — with
//! restarts of the manager and power cycles of the engine (its state blob carried over, as a
//! TPM's NV is).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::cast_possible_truncation
)]

use std::fmt;

use tpm2::Unmarshal;
use tpm2::alg::TpmAlgId;
use tpm2::structures::{TpmtPublic, TpmtSignature};
use vtpm_domain::engine::Engine;
use vtpmmgr::Uuid;
use vtpmmgr::manager::{Manager, ManagerConfig, Peer};
use vtpmmgr::protocol::{Reply, ReplyError, Request};
use vtpmmgr::seams::MemDevice;
use zeroize::Zeroizing;

mod engine_hw;

use engine_hw::{InProcess, platform};

fn log(args: fmt::Arguments<'_>) {
    eprintln!("vtpmmgr: {args}");
}

type Mgr = Manager<InProcess, MemDevice>;

fn call(m: &mut Mgr, peer: Peer, req: &Request) -> Result<Reply, ReplyError> {
    let mut c = m.connect(peer);
    let raw = m.handle(&mut c, &req.encode());
    m.disconnect(c);
    Reply::parse(req, &raw)
}

/// Powers the engine on from `blob` (TPM2_Startup is the manager's job).
fn power_on(blob: &[u8], seed: u64) -> InProcess {
    let mut e = Engine::restore(blob, platform(seed)).expect("engine state");
    e.power_on();
    InProcess(e)
}

#[test]
fn the_manager_runs_on_the_embedded_engine() {
    let mut e = Engine::manufacture(platform(7));
    e.power_on();
    let (mut m, report) = Manager::start(
        InProcess(e),
        MemDevice::new(vtpmmgr::seams::SECTOR_COUNT),
        ManagerConfig::default(),
        b"entropy",
        log,
    )
    .expect("start on a blank image");
    assert!(report.formatted);
    assert_eq!(report.tpm.manufacturer.trim(), "RVTP", "{}", report.tpm);

    let kernel = [0x4b; 32];
    call(&mut m, Peer::Admin, &Request::GroupNew).unwrap();
    call(
        &mut m,
        Peer::Admin,
        &Request::GroupUpdate {
            group: 0,
            sequence: 1,
            kernels: vec![kernel],
        },
    )
    .unwrap();
    let uuid = Uuid([0x21; 16]);
    call(
        &mut m,
        Peer::Admin,
        &Request::VtpmNew {
            group: 0,
            uuid: Some(uuid),
        },
    )
    .unwrap();
    let peer = Peer::Domain {
        uuid,
        kernel_hash: kernel,
    };
    let key = Zeroizing::new(vec![0x33; 64]);
    call(&mut m, peer, &Request::SaveHashKey(key.clone())).unwrap();
    // GET_QUOTE: the engine's TPM2_Quote with the group's AK, verified like any hardware quote.
    let mut c = m.connect(peer);
    call(&mut m, peer, &Request::LoadHashKey).unwrap();
    let raw = m.handle(&mut c, &Request::LoadHashKey.encode());
    assert!(matches!(
        Reply::parse(&Request::LoadHashKey, &raw),
        Ok(Reply::HashKey(_))
    ));
    let nonce = [7u8; 20];
    let q = Request::GetQuote {
        nonce,
        pcrs: 1,
        flags: 1,
    };
    let Ok(Reply::Quote(quote)) = Reply::parse(&q, &m.handle(&mut c, &q.encode())) else {
        panic!("GET_QUOTE on the engine failed");
    };
    let Ok(Reply::Group(g)) = call(&mut m, Peer::Admin, &Request::GroupShow { group: 0 }) else {
        panic!("GROUP_SHOW failed");
    };
    let ak = <TpmtPublic as Unmarshal>::from_bytes(&g.ak_public).unwrap();
    let sig = <TpmtSignature as Unmarshal>::from_bytes(&quote.signature).unwrap();
    let qualifying = vtpmmgr::manager::quote_qualifying_data(1, &nonce, &quote.hashes);
    let pcrs = [(TpmAlgId::SHA256, 0, quote.pcr_values[0].to_vec())];
    vtpm_tools::attest::verify_quote(&ak, &quote.attest, &sig, &qualifying, &pcrs)
        .expect("the engine's quote verifies with the group's AK");
    m.disconnect(c);

    // Power cycle: the engine's state is its NV; the image is the manager's.
    let (hw, store) = m.shut_down().expect("shut down");
    let blob = hw.0.save_state();
    let (mut m, report) = Manager::start(
        power_on(&blob, 8),
        store,
        ManagerConfig::default(),
        b"entropy",
        log,
    )
    .expect("reopen after a power cycle");
    assert!(!report.formatted);
    let Reply::HashKey(k) = call(&mut m, peer, &Request::LoadHashKey).unwrap() else {
        panic!()
    };
    assert_eq!(k, key);

    // Another engine (another TPM) cannot open the image.
    let (_, store) = m.shut_down().expect("shut down");
    let mut other = Engine::manufacture(platform(99));
    other.power_on();
    let err = Manager::start(
        InProcess(other),
        store,
        ManagerConfig::default(),
        b"entropy",
        log,
    )
    .unwrap_err();
    eprintln!("refusal: {err}");
    assert!(err.to_string().contains("nothing was written"));
}

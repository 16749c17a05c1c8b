//! tpmfront against tpmback (and against scripted hostile backends) in `xen::sim`, one
//! thread per domain: the mini-os frontend flow (reference §2.4), the page protocol (§2.2) and
//! every error path of the crate docs.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use tpmback::{BackEvent, Backend};
use tpmfront::{FrontError, Frontend};
use xen::platform::{DomId, GrantRef, Platform, Port};
use xen::sim::{Sim, SimPlatform};
use xen::tpmif::{SharedPage, TpmifError};
use xen::xenbus::{backend_path, frontend_path};

const UUID: &str = "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839";
const GET_RANDOM: [u8; 12] = [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8];
const LONG: u64 = 10_000;

/// What the backend thread does with a request.
enum Action {
    Respond(Vec<u8>),
    Ignore,
    /// `Backend::shutdown` and stop.
    Shutdown,
    /// Destroy the backend's own domain.
    Destroy,
}

struct BackThread {
    stop: Arc<AtomicBool>,
    join: JoinHandle<Vec<BackEvent>>,
}

impl BackThread {
    fn stop(self) -> Vec<BackEvent> {
        self.stop.store(true, Ordering::SeqCst);
        self.join.join().unwrap()
    }
}

/// A tpmback loop in its own thread.
fn spawn_backend(
    sim: &Sim,
    be: DomId,
    mut handler: impl FnMut(&[u8]) -> Action + Send + 'static,
) -> BackThread {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let mut p = sim.platform(be);
    let sim = sim.clone();
    let join = thread::spawn(move || {
        let mut backend = Backend::new(&mut p).unwrap();
        let mut log = Vec::new();
        while !flag.load(Ordering::SeqCst) {
            if p.wait(20).is_err() {
                break;
            }
            let Ok(events) = backend.poll(&mut p) else {
                break;
            };
            for e in events {
                if let BackEvent::Request { link, command, .. } = &e {
                    match handler(command) {
                        Action::Respond(r) => backend.respond(&mut p, *link, &r).unwrap(),
                        Action::Ignore => {}
                        Action::Shutdown => {
                            backend.shutdown(&mut p);
                            log.push(e);
                            return log;
                        }
                        Action::Destroy => {
                            sim.destroy_domain(be).unwrap();
                            log.push(e);
                            return log;
                        }
                    }
                }
                log.push(e);
            }
        }
        backend.shutdown(&mut p);
        log
    });
    BackThread { stop, join }
}

fn echo(cmd: &[u8]) -> Action {
    Action::Respond(cmd.to_vec())
}

/// A machine with a backend domain and one frontend domain with device 0.
fn machine() -> (Sim, DomId, DomId) {
    let sim = Sim::new();
    let be = sim.create_domain("vtpm").unwrap();
    let fe = sim.create_domain("guest").unwrap();
    sim.add_vtpm_device(be, fe, 0, UUID).unwrap();
    (sim, be, fe)
}

fn fe_read(p: &mut SimPlatform, fe: DomId, key: &str) -> Option<String> {
    p.read(&format!("{}/{key}", frontend_path(fe, 0))).unwrap()
}

#[test]
fn connect_transmit_close_and_a_successor_connects() {
    let (sim, be, fe) = machine();
    let back = spawn_backend(&sim, be, echo);
    let mut p = sim.platform(fe);
    let t = Instant::now();
    let mut f = Frontend::connect(&mut p, 0, LONG).unwrap();
    println!("connect: {:?}", t.elapsed());
    assert_eq!(f.backend(), be);
    assert_eq!(fe_read(&mut p, fe, "state").as_deref(), Some("4"));
    assert_eq!(
        fe_read(&mut p, fe, "feature-protocol-v2").as_deref(),
        Some("1")
    );
    let t = Instant::now();
    for i in 0..100u8 {
        let cmd = [0x80, 1, 0, 0, 0, 11, 0, 0, 0, 0, i];
        assert_eq!(f.transmit(&mut p, i % 5, &cmd, LONG).unwrap(), cmd);
    }
    println!("100 round trips: {:?}", t.elapsed());
    let max = vec![0x80, 1, 0, 0, 0x0f, 0xf8]
        .into_iter()
        .chain(std::iter::repeat_n(7, 4082))
        .collect::<Vec<u8>>();
    assert_eq!(
        f.transmit(&mut p, 0, &max, LONG).unwrap(),
        max,
        "4088 bytes each way"
    );
    f.close(&mut p);
    assert_eq!(fe_read(&mut p, fe, "state").as_deref(), Some("1"));
    assert_eq!(fe_read(&mut p, fe, "ring-ref"), None);
    assert_eq!(fe_read(&mut p, fe, "event-channel"), None);
    let be_state = p
        .read(&format!("{}/state", backend_path(be, fe, 0)))
        .unwrap();
    assert_eq!(be_state.as_deref(), Some("2"));
    // The successor (Linux after pv-grub; here another mini-os frontend) connects.
    let mut g = Frontend::connect(&mut p, 0, LONG).unwrap();
    assert_eq!(
        g.transmit(&mut p, 0, &GET_RANDOM, LONG).unwrap(),
        GET_RANDOM
    );
    g.close(&mut p);
    let log = back.stop();
    let connected = log
        .iter()
        .filter(|e| matches!(e, BackEvent::Connected(_)))
        .count();
    let opened = log
        .iter()
        .filter(|e| matches!(e, BackEvent::Opened(_)))
        .count();
    assert_eq!((opened, connected), (1, 2));
}

#[test]
fn frontends_in_three_domains_run_at_once() {
    let sim = Sim::new();
    let be = sim.create_domain("vtpm").unwrap();
    let back = spawn_backend(&sim, be, echo);
    let fronts: Vec<_> = (0..3u8)
        .map(|i| {
            let fe = sim.create_domain(&format!("guest{i}")).unwrap();
            sim.add_vtpm_device(be, fe, 0, UUID).unwrap();
            let mut p = sim.platform(fe);
            thread::spawn(move || {
                let mut f = Frontend::connect(&mut p, 0, LONG).unwrap();
                for k in 0..50u8 {
                    let cmd = [0x80, 1, 0, 0, 0, 12, 0, 0, 0, 0, i, k];
                    assert_eq!(f.transmit(&mut p, 0, &cmd, LONG).unwrap(), cmd);
                }
                f.close(&mut p);
            })
        })
        .collect();
    for t in fronts {
        t.join().unwrap();
    }
    let log = back.stop();
    let requests = log
        .iter()
        .filter(|e| matches!(e, BackEvent::Request { .. }))
        .count();
    assert_eq!(requests, 150);
}

#[test]
fn a_backend_that_never_answers_times_out_and_the_page_stays_busy() {
    let (sim, be, fe) = machine();
    let back = spawn_backend(&sim, be, |_| Action::Ignore);
    let mut p = sim.platform(fe);
    let mut f = Frontend::connect(&mut p, 0, LONG).unwrap();
    let t = Instant::now();
    assert_eq!(
        f.transmit(&mut p, 0, &GET_RANDOM, 150),
        Err(FrontError::Timeout)
    );
    println!("timeout + cancel: {:?}", t.elapsed());
    // tpmback ignores a cancel of a running request: the page is still the backend's.
    assert_eq!(
        f.transmit(&mut p, 0, &GET_RANDOM, 100),
        Err(FrontError::Busy)
    );
    f.close_within(&mut p, 1000);
    let log = back.stop();
    let requests = log
        .iter()
        .filter(|e| matches!(e, BackEvent::Request { .. }))
        .count();
    assert_eq!(requests, 1, "the second command was never put on the page");
}

#[test]
fn a_backend_that_shuts_down_or_dies_mid_request_is_gone() {
    for action in [0, 1] {
        let (sim, be, fe) = machine();
        let back = spawn_backend(&sim, be, move |_| {
            if action == 0 {
                Action::Shutdown
            } else {
                Action::Destroy
            }
        });
        let mut p = sim.platform(fe);
        let mut f = Frontend::connect(&mut p, 0, LONG).unwrap();
        let t = Instant::now();
        assert_eq!(
            f.transmit(&mut p, 0, &GET_RANDOM, LONG),
            Err(FrontError::BackendGone)
        );
        println!("backend gone noticed after {:?}", t.elapsed());
        assert_eq!(
            f.transmit(&mut p, 0, &GET_RANDOM, LONG),
            Err(FrontError::BackendGone),
            "and stays gone"
        );
        let t = Instant::now();
        f.close(&mut p);
        println!("close with the backend gone: {:?}", t.elapsed());
        assert_eq!(fe_read(&mut p, fe, "state").as_deref(), Some("1"));
        back.stop();
    }
}

#[test]
fn connect_fails_cleanly() {
    let (sim, be, fe) = machine();
    let mut p = sim.platform(fe);
    // No such device.
    assert_eq!(
        Frontend::connect(&mut p, 7, 100).map(|_| ()),
        Err(FrontError::BadBackendId(None))
    );
    // No backend running: timeout, and the keys are withdrawn.
    let t = Instant::now();
    assert_eq!(
        Frontend::connect(&mut p, 0, 150).map(|_| ()),
        Err(FrontError::ConnectTimeout)
    );
    println!("connect timeout: {:?}", t.elapsed());
    assert_eq!(fe_read(&mut p, fe, "state").as_deref(), Some("1"));
    assert_eq!(fe_read(&mut p, fe, "ring-ref"), None);
    // A backend without protocol v2.
    let back = spawn_backend(&sim, be, echo);
    let be_base = backend_path(be, fe, 0);
    while p.read(&format!("{be_base}/state")).unwrap().as_deref() != Some("2") {
        p.wait(10).unwrap();
    }
    sim.platform(0)
        .write(&format!("{be_base}/feature-protocol-v2"), "0")
        .unwrap();
    assert_eq!(
        Frontend::connect(&mut p, 0, LONG).map(|_| ()),
        Err(FrontError::NoProtocolV2(Some("0".into())))
    );
    sim.platform(0)
        .write(&format!("{be_base}/feature-protocol-v2"), "1")
        .unwrap();
    // After the failure (state back to 1) the backend is ready again: a retry works.
    let f = Frontend::connect(&mut p, 0, LONG).unwrap();
    f.close(&mut p);
    // A backend that shut down (state 6) is gone.
    back.stop();
    assert_eq!(
        Frontend::connect(&mut p, 0, LONG).map(|_| ()),
        Err(FrontError::BackendGone)
    );
    // A device whose backend-id is junk.
    sim.platform(0)
        .write(&format!("{}/backend-id", frontend_path(fe, 0)), "01")
        .unwrap();
    assert_eq!(
        Frontend::connect(&mut p, 0, LONG).map(|_| ()),
        Err(FrontError::BadBackendId(Some("01".into())))
    );
}

#[test]
fn a_command_over_4088_bytes_is_refused_before_the_page() {
    let (sim, be, fe) = machine();
    let back = spawn_backend(&sim, be, echo);
    let mut p = sim.platform(fe);
    let mut f = Frontend::connect(&mut p, 0, LONG).unwrap();
    assert_eq!(
        f.transmit(&mut p, 0, &[0; 4089], LONG),
        Err(FrontError::CommandTooLong(4089))
    );
    assert_eq!(
        f.transmit(&mut p, 0, &GET_RANDOM, LONG).unwrap(),
        GET_RANDOM
    );
    f.close(&mut p);
    back.stop();
}

/// What a scripted backend does on each notification.
enum Step {
    /// Writes these bytes at offset 0 of the page, then notifies.
    Page(Vec<u8>),
    /// Consumes the notification, does nothing.
    Ignore,
}

/// A hostile backend scripted with raw platform calls: connects like tpmback, then plays
/// `script`, one step per notification.
fn scripted_backend(sim: &Sim, be: DomId, fe: DomId, script: Vec<Step>) -> JoinHandle<()> {
    let mut p = sim.platform(be);
    thread::spawn(move || {
        let base = backend_path(be, fe, 0);
        let front = frontend_path(fe, 0);
        p.write_all(&[
            (&format!("{base}/feature-protocol-v2"), "1"),
            (&format!("{base}/state"), "2"),
        ])
        .unwrap();
        while p.read(&format!("{front}/state")).unwrap().as_deref() != Some("4") {
            p.wait(10).unwrap();
        }
        let num = |p: &mut SimPlatform, k: &str| -> u32 {
            p.read(&format!("{front}/{k}"))
                .unwrap()
                .unwrap()
                .parse()
                .unwrap()
        };
        let gref = GrantRef(num(&mut p, "ring-ref"));
        let remote = Port(num(&mut p, "event-channel"));
        let mut page = p.map_page(fe, gref).unwrap();
        let port = p.bind_interdomain(fe, remote).unwrap();
        p.write_all(&[
            (&format!("{base}/ready"), "1"),
            (&format!("{base}/state"), "4"),
        ])
        .unwrap();
        for step in script {
            while !p.take_port(port) {
                p.wait(50).unwrap();
            }
            match step {
                Step::Page(bytes) => {
                    page.write(0, &bytes);
                    page.barrier();
                    p.notify(port).unwrap();
                }
                Step::Ignore => {}
            }
        }
    })
}

fn header(len: u32, state: u8) -> Vec<u8> {
    let mut h = len.to_le_bytes().to_vec();
    h.extend_from_slice(&[state, 0, 0, 0]);
    h
}

#[test]
fn hostile_responses_are_errors_not_panics() {
    let lying = {
        let mut r = header(12, 2);
        r.extend_from_slice(&[0x80, 1, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0]);
        r
    };
    let short = {
        let mut r = header(4, 2);
        r.extend_from_slice(&[0x80, 1, 0, 0]);
        r
    };
    let cases: Vec<(Vec<u8>, FrontError)> = vec![
        (
            header(5000, 2),
            FrontError::BadPage(TpmifError::TooLong(5000)),
        ),
        (
            header(10, 9),
            FrontError::BadPage(TpmifError::UnknownState(9)),
        ),
        (
            header(10, 2),
            FrontError::BadResponse {
                length: 10,
                declared: Some(0),
            },
        ),
        (
            lying,
            FrontError::BadResponse {
                length: 12,
                declared: Some(30),
            },
        ),
        (
            short,
            FrontError::BadResponse {
                length: 4,
                declared: None,
            },
        ),
        (header(0, 0), FrontError::Aborted),
    ];
    for (bytes, expect) in cases {
        let (sim, be, fe) = machine();
        // The packet area is zeroed first: a bare header leaves a declared size of 0.
        let mut page = bytes.clone();
        page.resize(8 + 12, 0);
        let back = scripted_backend(&sim, be, fe, vec![Step::Page(page)]);
        let mut p = sim.platform(fe);
        let mut f = Frontend::connect(&mut p, 0, LONG).unwrap();
        let got = f.transmit(&mut p, 0, &GET_RANDOM, LONG);
        println!("{got:?}");
        assert_eq!(got, Err(expect.clone()));
        assert!(!expect.to_string().is_empty());
        back.join().unwrap();
    }
}

#[test]
fn a_cancel_the_backend_acknowledges_frees_the_page() {
    let (sim, be, fe) = machine();
    let good = {
        let mut r = header(10, 2);
        r.extend_from_slice(&[0x80, 1, 0, 0, 0, 10, 0, 0, 0, 0]);
        r
    };
    // SUBMIT ignored; CANCEL answered with IDLE; the next SUBMIT answered.
    let back = scripted_backend(
        &sim,
        be,
        fe,
        vec![Step::Ignore, Step::Page(header(0, 0)), Step::Page(good)],
    );
    let mut p = sim.platform(fe);
    let mut f = Frontend::connect(&mut p, 0, LONG).unwrap();
    let t = Instant::now();
    assert_eq!(
        f.transmit(&mut p, 0, &GET_RANDOM, 150),
        Err(FrontError::Timeout)
    );
    println!("timeout + acknowledged cancel: {:?}", t.elapsed());
    assert_eq!(
        f.transmit(&mut p, 0, &GET_RANDOM, LONG).unwrap(),
        vec![0x80, 1, 0, 0, 0, 10, 0, 0, 0, 0]
    );
    back.join().unwrap();
}

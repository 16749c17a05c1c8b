//! tpmback against a hostile frontend (`drivers/tpmback`, over `xen::sim`): the fuzzer plays a
//! guest that writes whatever it likes into its store keys (`ring-ref`, `event-channel`,
//! `feature-protocol-v2`, `state`) and onto its shared page (header and packet, at any moment),
//! and notifies at will, while the backend polls and echoes every request it accepts.
//!
//! Properties: no panic; `poll` never fails (a hostile frontend only ever costs its own link);
//! every request handed to the backend's owner is at most 4088 bytes; a second, well-behaved
//! frontend on the same backend keeps getting its answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpmback::{BackEvent, Backend, LinkId};
use xen::platform::{Platform, Port};
use xen::sim::{Sim, SimPage, SimPlatform};
use xen::tpmif::{self, FrontendEvent, MAX_PACKET, PAGE_SIZE, SharedPage};
use xen::xenbus::frontend_path;

const UUID: &str = "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839";
const GOOD_UUID: &str = "00112233-4455-6677-8899-aabbccddeeff";
const KEYS: [&str; 4] = ["ring-ref", "event-channel", "feature-protocol-v2", "state"];
/// TPM2_GetRandom(8).
const GET_RANDOM: [u8; 12] = [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8];

/// A frontend that connects the way Linux does (ring-ref, event-channel, protocol v2, state 3).
struct Front {
    p: SimPlatform,
    page: SimPage,
    port: Port,
    dir: String,
}

fn connect(sim: &Sim, be: u16, fe: u16) -> Front {
    let mut p = sim.platform(fe);
    let (gref, page) = p.grant_page(be).expect("grant");
    let port = p.alloc_unbound(be).expect("port");
    let dir = frontend_path(fe, 0);
    let ring = gref.0.to_string();
    let evt = port.0.to_string();
    p.write_all(&[
        (&format!("{dir}/ring-ref"), &ring),
        (&format!("{dir}/event-channel"), &evt),
        (&format!("{dir}/feature-protocol-v2"), "1"),
    ])
    .expect("handshake keys");
    p.write(&format!("{dir}/state"), "3").expect("state");
    Front { p, page, port, dir }
}

fn poll_echo(backend: &mut Backend, bp: &mut SimPlatform) -> Vec<LinkId> {
    let events = backend.poll(bp).expect("poll never fails on a frontend's behaviour");
    let mut answered = Vec::new();
    for ev in events {
        if let BackEvent::Request { link, command, .. } = ev {
            assert!(command.len() <= MAX_PACKET);
            let _ = backend.respond(bp, link, &command);
            answered.push(link);
        }
    }
    answered
}

fuzz_target!(|data: &[u8]| {
    let sim = Sim::new();
    let be = sim.create_domain("vtpm").expect("domain");
    let fe = sim.create_domain("hostile").expect("domain");
    let good = sim.create_domain("good").expect("domain");
    sim.add_vtpm_device(be, fe, 0, UUID).expect("device");
    sim.add_vtpm_device(be, good, 0, GOOD_UUID).expect("device");
    let mut bp = sim.platform(be);
    let mut backend = Backend::new(&mut bp).expect("backend");
    let mut bad = connect(&sim, be, fe);
    let mut ok = connect(&sim, be, good);
    poll_echo(&mut backend, &mut bp);
    poll_echo(&mut backend, &mut bp);

    let mut it = data.iter().copied();
    let mut steps = 0;
    while let Some(op) = it.next() {
        steps += 1;
        if steps > 64 {
            break;
        }
        match op % 6 {
            // Header bytes at an offset within the first 8.
            0 => {
                let off = usize::from(it.next().unwrap_or(0) % 8);
                let b: Vec<u8> = it.by_ref().take(8 - off).collect();
                bad.page.write(off, &b);
            }
            // Packet bytes somewhere in the page.
            1 => {
                let off = usize::from(it.next().unwrap_or(0)) * 16 % PAGE_SIZE;
                let n = usize::from(it.next().unwrap_or(0));
                let b: Vec<u8> = it.by_ref().take(n.min(PAGE_SIZE - off)).collect();
                bad.page.write(off, &b);
            }
            2 => {
                let _ = bad.p.notify(bad.port);
            }
            // A store key with a value of the fuzzer's choosing.
            3 => {
                let key = KEYS[usize::from(it.next().unwrap_or(0)) % KEYS.len()];
                let n = usize::from(it.next().unwrap_or(0) % 12);
                let v: String = it
                    .by_ref()
                    .take(n)
                    .map(|c| char::from(b' ' + c % 95))
                    .collect();
                let _ = bad.p.write(&format!("{}/{key}", bad.dir), &v);
            }
            4 => {
                poll_echo(&mut backend, &mut bp);
            }
            // The good frontend sends a request; it must be answered within a few polls.
            _ => {
                if tpmif::frontend_submit(&mut ok.page, 0, &GET_RANDOM).is_ok() {
                    let _ = ok.p.notify(ok.port);
                    let mut answered = false;
                    for _ in 0..4 {
                        if poll_echo(&mut backend, &mut bp).contains(&LinkId(good, 0)) {
                            answered = true;
                            break;
                        }
                    }
                    assert!(answered, "the well-behaved frontend starved");
                    match tpmif::frontend_poll(&ok.page) {
                        Ok(FrontendEvent::Response(h)) => assert_eq!(h.length, GET_RANDOM.len()),
                        other => panic!("the good frontend's page: {other:?}"),
                    }
                    let _ = ok.p.take_port(ok.port);
                }
            }
        }
    }
    poll_echo(&mut backend, &mut bp);
    backend.shutdown(&mut bp);
});

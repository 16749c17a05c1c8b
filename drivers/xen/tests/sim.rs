//! The in-process machine (`xen::sim`) against the platform model.
#![allow(clippy::unwrap_used)]

mod common;

use common::Machine;
use xen::platform::{DomId, Platform, XenError};
use xen::sim::{Sim, SimPlatform};
use xen::tpmif::SharedPage;
use xen::xenbus;

impl Machine for Sim {
    type P = SimPlatform;
    type D0 = SimPlatform;
    fn create(&self, label: &str) -> DomId {
        self.create_domain(label).unwrap()
    }
    fn platform(&self, id: DomId) -> SimPlatform {
        Sim::platform(self, id)
    }
    fn dom0(&self) -> SimPlatform {
        Sim::platform(self, 0)
    }
    fn destroy(&self, id: DomId) {
        self.destroy_domain(id).unwrap();
    }
    fn add_vtpm_device(&self, backend: DomId, frontend: DomId, devid: u32, uuid: &str) {
        Sim::add_vtpm_device(self, backend, frontend, devid, uuid).unwrap();
    }
}

#[test]
fn permissions() {
    common::permissions(&Sim::new());
}

#[test]
fn watches() {
    common::watches(&Sim::new());
}

#[test]
fn destroy_fires_backend_watch() {
    common::destroy_fires_backend_watch(&Sim::new());
}

#[test]
fn transactions() {
    common::transactions(&Sim::new());
}

#[test]
fn grants() {
    common::grants(&Sim::new());
}

#[test]
fn ports() {
    common::ports(&Sim::new());
}

#[test]
fn wait_wakes() {
    common::wait_wakes(&Sim::new());
}

#[test]
fn domains_and_toolstack() {
    let sim = Sim::new();
    let a = sim.create_domain("a").unwrap();
    let b = sim.create_domain("b").unwrap();
    assert_eq!((a, b), (1, 2), "ids from 1 up");
    let mut d0 = sim.platform(0);
    assert_eq!(d0.list("/local/domain").unwrap(), ["0", "1", "2"]);
    let mut pa = sim.platform(a);
    pa.write("/local/domain/1/x", "1").unwrap();
    sim.destroy_domain(a).unwrap();
    assert_eq!(pa.read("/local/domain/1/x"), Err(XenError::NoDomain(a)));
    assert_eq!(d0.list("/local/domain").unwrap(), ["0", "2"]);
    assert_eq!(sim.destroy_domain(a), Err(XenError::NoDomain(a)));
    assert!(sim.destroy_domain(0).is_err(), "dom0 stays");
    assert_eq!(sim.create_domain("c").unwrap(), 3, "ids are not reused");
    // set_perms opens a node to a reader.
    let mut pb = sim.platform(b);
    d0.write("/tool/data", "v").unwrap();
    assert!(matches!(pb.read("/tool/data"), Err(XenError::Denied(_))));
    sim.set_perms("/tool/data", 0, &[b]).unwrap();
    assert_eq!(pb.read("/tool/data").unwrap().as_deref(), Some("v"));
    assert!(matches!(
        sim.set_perms("/tool/none", 0, &[]),
        Err(XenError::NoEntry(_))
    ));
    // Device removal takes both directories.
    sim.add_vtpm_device(b, 3, 0, common::UUID).unwrap();
    assert!(
        d0.read(&format!("{}/state", xenbus::frontend_path(3, 0)))
            .unwrap()
            .is_some()
    );
    sim.remove_vtpm_device(b, 3, 0).unwrap();
    assert_eq!(d0.read(&xenbus::frontend_path(3, 0)).unwrap(), None);
    assert_eq!(d0.read(&xenbus::backend_path(b, 3, 0)).unwrap(), None);
    assert!(
        sim.add_vtpm_device(b, 99, 0, common::UUID).is_err(),
        "no such frontend"
    );
}

#[test]
fn a_domain_cannot_exhaust_the_store() {
    let sim = Sim::new();
    let a = sim.create_domain("a").unwrap();
    let mut pa = sim.platform(a);
    let mut refused = None;
    for i in 0..5000 {
        if let Err(e) = pa.write(&format!("/local/domain/1/n{i}"), "") {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("the quota stops a flood");
    assert!(matches!(e, XenError::Denied(_)), "{e:?}");
    assert_eq!(i, 4095, "4096 nodes including its home");
    // Removing frees quota.
    pa.remove("/local/domain/1/n0").unwrap();
    pa.write("/local/domain/1/again", "").unwrap();
}

#[test]
fn a_test_can_scribble_on_a_granted_page() {
    let sim = Sim::new();
    let a = sim.create_domain("a").unwrap();
    let b = sim.create_domain("b").unwrap();
    let (gref, page) = sim.platform(a).grant_page(b).unwrap();
    let mut scribbler = page.alias();
    let mapped = sim.platform(b).map_page(a, gref).unwrap();
    scribbler.write(0, &[0xff; 8]);
    let mut got = [0u8; 8];
    mapped.read(0, &mut got);
    assert_eq!(got, [0xff; 8]);
    drop(page);
    assert!(
        sim.platform(b).map_page(a, gref).is_err(),
        "the alias holds no grant"
    );
}

#[test]
fn platforms_are_send() {
    fn send<T: Send + 'static>() {}
    send::<SimPlatform>();
    send::<xen::sim::SimPage>();
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn ping_pong_latency() {
    let us = common::ping_pong(&Sim::new(), 20_000);
    println!("sim ping-pong: {us:.2} us per round trip");
}

//! Conformance: a frontend domain scripted with raw platform calls replays, byte for byte, what
//! Linux `xen-tpmfront` and mini-os tpmfront do (reference §2.2 page protocol, §2.3 keys,
//! §2.4 state machines), and tpmback must answer as mini-os tpmback does.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{GET_RANDOM, RawFront, UUIDS, World, get_random_response, link, page_bytes, requests};
use tpmback::BackEvent;
use xen::platform::Platform;
use xen::tpmif::SharedPage;

/// Reads the backend's `state` as the frontend (it watches it, as both frontends do).
fn backend_state(f: &mut RawFront) -> Option<String> {
    f.be_read("state")
}

/// The frontend watches `<backend>/state`; returns whether it fired since the last look.
fn watch_fired(f: &mut RawFront) -> bool {
    let path = format!("{}/state", f.be_path);
    f.p.take_watch(&path)
}

#[test]
fn linux_handshake_request_cancel_close_and_reconnect() {
    let mut w = World::new();
    let mut f = w.frontend("system_u:system_r:domU_t", UUIDS[0]);
    let opened = w.settle();
    assert!(matches!(&opened[..], [BackEvent::Opened(i)] if i.label == "system_u:system_r:domU_t"));
    // The backend announced itself: InitWait and protocol v2.
    assert_eq!(backend_state(&mut f).as_deref(), Some("2"));
    assert_eq!(f.be_read("feature-protocol-v2").as_deref(), Some("1"));
    let watch = format!("{}/state", f.be_path);
    f.p.watch(&watch).unwrap();
    assert!(watch_fired(&mut f), "a watch fires when registered");

    // probe: one transaction (ring-ref, event-channel, feature-protocol-v2), then state 3.
    f.linux_probe();
    assert_eq!(
        w.settle(),
        vec![BackEvent::Connected(link(&f))],
        "mapped and bound"
    );
    assert!(watch_fired(&mut f));
    assert_eq!(backend_state(&mut f).as_deref(), Some("4"));
    assert_eq!(f.be_read("ready").as_deref(), Some("1"));
    assert_eq!(f.be_read("feature-protocol-v2").as_deref(), Some("1"));
    // Linux checks protocol v2 and switches to Connected; the backend has nothing to do.
    f.write("state", "4");
    assert!(w.settle().is_empty());

    // tpm_send: page idle, packet at 8, LE length, locality 0 (Linux never writes it).
    assert_eq!(f.state_byte(), 0);
    f.submit(0, &GET_RANDOM);
    let mut expect = vec![12, 0, 0, 0, 1, 0, 0, 0];
    expect.extend_from_slice(&GET_RANDOM);
    assert_eq!(page_bytes(f.page(), 0, 20), expect);
    let events = w.poll();
    assert_eq!(requests(&events), vec![(link(&f), 0, GET_RANDOM.to_vec())]);
    let rsp = get_random_response();
    w.backend.respond(&mut w.bp, link(&f), &rsp).unwrap();
    assert!(f.notified(), "FINISH is notified");
    let mut expect = vec![20, 0, 0, 0, 2, 0, 0, 0];
    expect.extend_from_slice(&rsp);
    assert_eq!(
        page_bytes(f.page(), 0, 28),
        expect,
        "response at 8, LE length, FINISH"
    );

    // Cancel before the backend looked: IDLE (Linux: IDLE|CANCELED), the app never sees it.
    f.submit(0, &GET_RANDOM);
    f.page().write(4, &[3]);
    f.notify();
    assert!(w.settle().is_empty());
    assert!(f.notified());
    assert_eq!(f.state_byte(), 0);

    // Cancel after the backend took it: ignored, the response still arrives (FINISH).
    f.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.poll()).len(), 1);
    f.page().write(4, &[3]);
    f.notify();
    assert!(w.settle().is_empty());
    assert!(!f.notified());
    w.backend.respond(&mut w.bp, link(&f), &rsp).unwrap();
    assert!(f.notified());
    assert_eq!(f.response(), Some(rsp.clone()));

    // Close: 5 → backend 5; 6 → backend 2 (ready for a reconnect), no Closed event.
    f.write("state", "5");
    assert!(w.settle().is_empty());
    assert!(watch_fired(&mut f));
    assert_eq!(backend_state(&mut f).as_deref(), Some("5"));
    f.write("state", "6");
    assert!(w.settle().is_empty());
    assert_eq!(backend_state(&mut f).as_deref(), Some("2"));

    // Reconnect (resume = remove + fresh probe): a new page and port.
    let old_page = f.page.take().unwrap();
    let old_gref = f.gref;
    f.linux_probe();
    assert_ne!(f.gref, old_gref);
    assert_eq!(w.settle(), vec![BackEvent::Connected(link(&f))]);
    assert_eq!(backend_state(&mut f).as_deref(), Some("4"));
    f.write("state", "4");
    f.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.poll()).len(), 1);
    w.backend.respond(&mut w.bp, link(&f), &rsp).unwrap();
    assert_eq!(f.response(), Some(rsp));
    assert_eq!(
        page_bytes(&old_page, 4, 1),
        vec![2],
        "the old page is not touched"
    );
}

#[test]
fn minios_connects_at_4_shuts_down_to_1_and_linux_takes_over() {
    let mut w = World::new();
    let mut grub = w.frontend("system_u:system_r:domU_t", UUIDS[1]);
    w.settle();

    // mini-os tpmfront init: backend-id and backend, feature-protocol-v2 on its own, page,
    // port, one transaction with ring-ref and event-channel, state 4 directly.
    assert_eq!(
        grub.p.read(&grub.key("backend-id")).unwrap(),
        Some(w.be.to_string())
    );
    assert_eq!(
        grub.p.read(&grub.key("backend")).unwrap(),
        Some(grub.be_path.clone())
    );
    grub.write("feature-protocol-v2", "1");
    grub.fresh_page_and_port();
    let (rr, ec) = (grub.key("ring-ref"), grub.key("event-channel"));
    let (g, e) = (grub.gref.0.to_string(), grub.port().0.to_string());
    grub.p.write_all(&[(&rr, &g), (&ec, &e)]).unwrap();
    grub.write("state", "4");
    assert_eq!(w.settle(), vec![BackEvent::Connected(link(&grub))]);
    assert_eq!(grub.be_read("state").as_deref(), Some("4"));
    assert_eq!(grub.be_read("feature-protocol-v2").as_deref(), Some("1"));

    // pv-grub measures at locality 2 (tpmfront_set_locality).
    grub.submit(2, &GET_RANDOM);
    assert_eq!(page_bytes(grub.page(), 5, 1), vec![2]);
    let events = w.poll();
    assert_eq!(
        requests(&events),
        vec![(link(&grub), 2, GET_RANDOM.to_vec())]
    );
    w.backend
        .respond(&mut w.bp, link(&grub), &get_random_response())
        .unwrap();
    assert_eq!(grub.response(), Some(get_random_response()));

    // shutdown: 5, remove event-channel and ring-ref, 6, wait for the backend's 6 or 2, 1.
    grub.write("state", "5");
    w.settle();
    assert_eq!(grub.be_read("state").as_deref(), Some("5"));
    grub.p.remove(&ec).unwrap();
    grub.p.remove(&rr).unwrap();
    grub.write("state", "6");
    w.settle();
    assert_eq!(grub.be_read("state").as_deref(), Some("2"));
    grub.write("state", "1");
    assert!(w.settle().is_empty(), "the link stays open for a successor");
    assert_eq!(grub.be_read("state").as_deref(), Some("2"));
    let grub_page = grub.page.take().unwrap();
    drop(grub_page); // end of grant access

    // kexec: Linux in the same domain probes the same device.
    let mut linux = RawFront::new(&w.sim, w.be, grub.dom, 0);
    linux.linux_probe();
    assert_eq!(w.settle(), vec![BackEvent::Connected(link(&linux))]);
    linux.write("state", "4");
    linux.submit(0, &GET_RANDOM);
    let events = w.poll();
    assert_eq!(
        requests(&events),
        vec![(link(&linux), 0, GET_RANDOM.to_vec())]
    );
    w.backend
        .respond(&mut w.bp, link(&linux), &get_random_response())
        .unwrap();
    assert!(linux.notified());
    assert_eq!(linux.response(), Some(get_random_response()));
    assert_eq!(
        w.backend.info(link(&linux)).map(|i| i.uuid),
        xen::xenbus::parse_uuid(UUIDS[1]),
        "the same instance, the same uuid"
    );
}

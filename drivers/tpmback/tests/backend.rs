//! tpmback against `xen::sim`: the connection state machine (reference §2.4), the page
//! protocol (§2.2) and every hostile case of the crate docs, with several frontends at once.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{
    GET_RANDOM, RC_COMMAND_SIZE, RawFront, UUIDS, World, link, page_bytes, refusals, requests,
};
use tpmback::{BackError, BackEvent, Backend, LinkId};
use xen::platform::{Platform, XenError};
use xen::tpmif::{SharedPage, TpmifError};
use xen::xenbus::parse_uuid;

/// Recognises the expected refusal.
type Expect = fn(&BackError) -> bool;

/// A connected Linux-style frontend.
fn connected(w: &mut World, label: &str, uuid: &str) -> RawFront {
    let mut f = w.frontend(label, uuid);
    w.settle();
    f.linux_probe();
    let events = w.settle();
    assert!(
        events.contains(&BackEvent::Connected(link(&f))),
        "{events:?}"
    );
    f
}

#[test]
fn devices_present_before_start_and_added_later_are_opened() {
    let sim = xen::sim::Sim::new();
    let be = sim.create_domain("vtpm").unwrap();
    let early = sim.create_domain("guest_early").unwrap();
    sim.add_vtpm_device(be, early, 0, UUIDS[0]).unwrap();
    let mut bp = sim.platform(be);
    let mut backend = Backend::new(&mut bp).unwrap();
    let events = backend.poll(&mut bp).unwrap();
    let BackEvent::Opened(info) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(info.frontend, early);
    assert_eq!(info.devid, 0);
    assert_eq!(Some(info.uuid), parse_uuid(UUIDS[0]));
    assert_eq!(info.label, "guest_early");
    assert_eq!(backend.info(LinkId(early, 0)), Some(info));
    let late = sim.create_domain("guest_late").unwrap();
    sim.add_vtpm_device(be, late, 3, UUIDS[1]).unwrap();
    let events = backend.poll(&mut bp).unwrap();
    assert!(
        matches!(&events[..], [BackEvent::Opened(i)] if i.frontend == late && i.devid == 3),
        "{events:?}"
    );
    for (fe, devid) in [(early, 0), (late, 3)] {
        let base = xen::xenbus::backend_path(be, fe, devid);
        assert_eq!(
            bp.read(&format!("{base}/state")).unwrap().as_deref(),
            Some("2")
        );
        assert_eq!(
            bp.read(&format!("{base}/feature-protocol-v2"))
                .unwrap()
                .as_deref(),
            Some("1")
        );
    }
    assert_eq!(backend.links().count(), 2);
    assert!(backend.poll(&mut bp).unwrap().is_empty(), "quiet after");
}

#[test]
fn a_bad_uuid_makes_no_instance_and_is_refused_once() {
    let mut w = World::new();
    let mut bad = w.frontend("guest_bad", "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb83");
    let good = w.frontend("guest_good", UUIDS[0]);
    let events = w.settle();
    assert_eq!(
        refusals(&events),
        vec![(
            link(&bad),
            BackError::BadUuid("ac0a5b9e-cbe2-4c07-b43b-1d69e46fb83".into())
        )]
    );
    assert!(events.contains(&BackEvent::Opened(
        w.backend.info(link(&good)).unwrap().clone()
    )));
    assert_eq!(w.backend.info(link(&bad)), None);
    assert_eq!(
        w.be_read(bad.dom, "state").as_deref(),
        Some("1"),
        "nothing written"
    );
    assert_eq!(w.be_read(bad.dom, "feature-protocol-v2"), None);
    // Its frontend connecting changes nothing; the backend stays quiet about it.
    bad.linux_probe();
    assert!(w.settle().is_empty());
    assert_eq!(w.be_read(bad.dom, "state").as_deref(), Some("1"));
}

#[test]
fn a_device_without_uuid_waits_for_it() {
    let mut w = World::new();
    let fe = w.sim.create_domain("guest").unwrap();
    let base = xen::xenbus::backend_path(w.be, fe, 0);
    let mut dom0 = w.sim.platform(0);
    let fe_path = xen::xenbus::frontend_path(fe, 0);
    dom0.write_all(&[
        (&format!("{base}/frontend"), &fe_path),
        (&format!("{fe_path}/state"), "1"),
    ])
    .unwrap();
    w.sim
        .set_perms(&format!("{fe_path}/state"), fe, &[w.be])
        .unwrap();
    assert!(w.settle().is_empty(), "no uuid yet: nothing");
    dom0.write(&format!("{base}/uuid"), UUIDS[1]).unwrap();
    let events = w.settle();
    assert!(
        matches!(&events[..], [BackEvent::Opened(i)] if i.frontend == fe),
        "{events:?}"
    );
}

#[test]
fn a_wrong_frontend_path_is_refused() {
    let mut w = World::new();
    let fe = w.sim.create_domain("guest").unwrap();
    let base = xen::xenbus::backend_path(w.be, fe, 0);
    let mut dom0 = w.sim.platform(0);
    dom0.write_all(&[
        (&format!("{base}/frontend"), "/local/domain/0/device/vtpm/0"),
        (&format!("{base}/uuid"), UUIDS[0]),
    ])
    .unwrap();
    let events = w.settle();
    assert_eq!(
        refusals(&events),
        vec![(
            LinkId(fe, 0),
            BackError::BadFrontendPath(Some("/local/domain/0/device/vtpm/0".into()))
        )]
    );
}

#[test]
fn linux_handshake_connects_and_echoes() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    assert_eq!(w.be_read(f.dom, "ready").as_deref(), Some("1"));
    assert_eq!(w.be_read(f.dom, "state").as_deref(), Some("4"));
    f.write("state", "4");
    assert!(
        w.settle().is_empty(),
        "frontend's 4 after ours: nothing new"
    );
    f.submit(3, &GET_RANDOM);
    let events = w.echo_once();
    assert_eq!(requests(&events), vec![(link(&f), 3, GET_RANDOM.to_vec())]);
    assert!(f.notified());
    assert_eq!(f.response(), Some(GET_RANDOM.to_vec()));
}

#[test]
fn three_frontends_at_once_each_get_their_answer() {
    let mut w = World::new();
    let mut fs: Vec<RawFront> = (0..3)
        .map(|i| connected(&mut w, &format!("guest{i}"), UUIDS[i]))
        .collect();
    for round in 0..4u8 {
        for (i, f) in fs.iter_mut().enumerate() {
            let cmd = vec![
                0x80,
                1,
                0,
                0,
                0,
                11,
                0,
                0,
                0,
                round,
                u8::try_from(i).unwrap(),
            ];
            f.submit(0, &cmd);
        }
        let events = w.echo_once();
        assert_eq!(requests(&events).len(), 3, "one poll serves all three");
        for (i, f) in fs.iter_mut().enumerate() {
            assert!(f.notified());
            let rsp = f.response().unwrap();
            assert_eq!((rsp[9], rsp[10]), (round, u8::try_from(i).unwrap()));
        }
    }
}

#[test]
fn protocol_v2_is_required_and_a_refused_frontend_may_retry() {
    let mut w = World::new();
    let mut f = w.frontend("guest", UUIDS[0]);
    w.settle();
    f.linux_probe();
    f.write("feature-protocol-v2", "2");
    let events = w.settle();
    assert_eq!(
        refusals(&events),
        vec![(link(&f), BackError::NoProtocolV2(Some("2".into())))]
    );
    assert_eq!(w.be_read(f.dom, "state").as_deref(), Some("6"));
    assert_eq!(w.be_read(f.dom, "ready"), None);
    // Back to 1: the backend returns to InitWait; a correct attempt connects.
    f.write("state", "1");
    w.settle();
    assert_eq!(w.be_read(f.dom, "state").as_deref(), Some("2"));
    f.linux_probe();
    assert!(w.settle().contains(&BackEvent::Connected(link(&f))));
    // Missing feature key: refused too.
    let mut g = w.frontend("guest2", UUIDS[1]);
    w.settle();
    g.linux_probe();
    let key = g.key("feature-protocol-v2");
    g.p.remove(&key).unwrap();
    g.write("state", "4");
    assert_eq!(
        refusals(&w.settle()),
        vec![(link(&g), BackError::NoProtocolV2(None))]
    );
}

#[test]
fn bad_ring_refs_and_ports_set_closed_without_disturbing_others() {
    let mut w = World::new();
    let mut other = connected(&mut w, "bystander", UUIDS[2]);
    let mut f = w.frontend("guest", UUIDS[0]);
    w.settle();
    f.linux_probe();
    let cases: [(&str, &str, Expect); 5] = [
        ("ring-ref", "-1", |e| {
            matches!(e, BackError::BadRingRef(Some(_)))
        }),
        ("ring-ref", "007", |e| {
            matches!(e, BackError::BadRingRef(Some(_)))
        }),
        ("ring-ref", "4000", |e| {
            matches!(e, BackError::MapFailed(XenError::BadGrant { .. }))
        }),
        ("event-channel", "x", |e| {
            matches!(e, BackError::BadEventChannel(Some(_)))
        }),
        ("event-channel", "99", |e| {
            matches!(e, BackError::BindFailed(XenError::BadPort(_)))
        }),
    ];
    for (key, value, expect) in cases {
        f.linux_probe();
        f.write(key, value);
        f.write("state", "1");
        w.settle();
        f.write("state", "3");
        let r = refusals(&w.settle());
        assert!(r.len() == 1 && expect(&r[0].1), "{key}={value}: {r:?}");
        assert_eq!(w.be_read(f.dom, "state").as_deref(), Some("6"));
        // The bystander is still served.
        other.submit(0, &GET_RANDOM);
        assert_eq!(requests(&w.echo_once()).len(), 1);
        assert!(other.notified());
    }
}

#[test]
fn an_oversized_or_multi_page_request_gets_tpm_rc_command_size() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    for (header, reason) in [
        ([0xf9, 0x0f, 0, 0, 1, 0, 0, 0], TpmifError::TooLong(4089)),
        (
            [0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0],
            TpmifError::TooLong(0xffff_ffff),
        ),
        ([12, 0, 0, 0, 1, 0, 0, 2], TpmifError::ExtraPages(2)),
    ] {
        f.page().write(0, &header);
        f.notify();
        let events = w.settle();
        assert_eq!(refusals(&events), vec![(link(&f), BackError::Page(reason))]);
        assert!(requests(&events).is_empty());
        assert!(f.notified());
        assert_eq!(f.response(), Some(RC_COMMAND_SIZE.to_vec()), "{header:?}");
    }
    // A good request afterwards is served.
    f.page().write(7, &[0]);
    f.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.echo_once()).len(), 1);
}

#[test]
fn an_unknown_state_byte_is_ignored_and_refused() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    for state in [4u8, 9, 0xff] {
        f.page().write(0, &[12, 0, 0, 0, state, 0, 0, 0]);
        f.notify();
        let events = w.settle();
        assert_eq!(
            refusals(&events),
            vec![(link(&f), BackError::Page(TpmifError::UnknownState(state)))]
        );
        assert!(!f.notified(), "no answer");
        assert_eq!(f.state_byte(), state, "page left alone");
    }
}

#[test]
fn cancel_without_a_request_goes_idle_and_notifies() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    f.page().write(4, &[3]);
    f.notify();
    assert!(w.settle().is_empty());
    assert!(f.notified());
    assert_eq!(f.state_byte(), 0);
}

#[test]
fn cancel_while_processing_is_ignored_and_the_response_still_finishes() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    f.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.poll()).len(), 1);
    f.page().write(4, &[3]);
    f.notify();
    assert!(w.settle().is_empty());
    assert!(!f.notified(), "no IDLE for a cancel of a running request");
    assert_eq!(f.state_byte(), 3);
    // A second SUBMIT while busy is ignored too.
    f.submit(0, &[0x80, 1, 0, 0, 0, 10, 0, 0, 0, 0]);
    assert!(w.settle().is_empty());
    w.backend
        .respond(&mut w.bp, link(&f), &common::get_random_response())
        .unwrap();
    assert!(f.notified());
    assert_eq!(f.response(), Some(common::get_random_response()));
}

#[test]
fn respond_refuses_what_it_cannot_do() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    let l = link(&f);
    assert_eq!(
        w.backend.respond(&mut w.bp, LinkId(999, 0), b"x"),
        Err(BackError::UnknownLink(LinkId(999, 0)))
    );
    assert_eq!(
        w.backend.respond(&mut w.bp, l, b"x"),
        Err(BackError::NoRequest(l))
    );
    f.submit(0, &GET_RANDOM);
    w.poll();
    assert_eq!(
        w.backend.respond(&mut w.bp, l, &[0; 4089]),
        Err(BackError::ResponseTooLong(4089))
    );
    // Still outstanding: a 4088-byte response goes through.
    w.backend.respond(&mut w.bp, l, &[7; 4088]).unwrap();
    assert_eq!(f.response().map(|r| r.len()), Some(4088));
    let g = w.frontend("unconnected", UUIDS[1]);
    w.settle();
    assert_eq!(
        w.backend.respond(&mut w.bp, link(&g), b"x"),
        Err(BackError::NotConnected(link(&g)))
    );
    assert!(
        BackError::NotConnected(link(&g))
            .to_string()
            .contains("not connected")
    );
}

#[test]
fn a_notification_storm_does_not_starve_another_link() {
    let mut w = World::new();
    let mut noisy = connected(&mut w, "noisy", UUIDS[0]);
    let mut quiet = connected(&mut w, "quiet", UUIDS[1]);
    // The noisy link keeps a request outstanding (never answered) and notifies in a loop,
    // flipping its page between SUBMIT, CANCEL and junk.
    noisy.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.poll()).len(), 1);
    let mut polls = 0;
    let mut served = 0;
    for round in 0..200u32 {
        for k in 0..50u8 {
            let state = [1u8, 3, 7][usize::from(k % 3)];
            noisy.page().write(4, &[state]);
            noisy.notify();
        }
        if round % 10 == 0 {
            quiet.submit(0, &GET_RANDOM);
            polls += 1;
            let events = w.poll();
            let mine = requests(&events);
            assert_eq!(
                mine.len(),
                1,
                "the quiet link is served in the very next poll"
            );
            assert_eq!(mine[0].0, link(&quiet));
            w.backend.respond(&mut w.bp, link(&quiet), b"ok").unwrap();
            served += 1;
            assert_eq!(quiet.response().as_deref(), Some(&b"ok"[..]));
        } else {
            polls += 1;
            let events = w.poll();
            assert!(events.len() <= 1, "bounded work per poll: {events:?}");
        }
    }
    println!("{served} quiet requests served in {polls} polls during the storm");
    assert_eq!(served, 20);
}

#[test]
fn a_frontend_that_never_collects_or_never_connects_stalls_nobody() {
    let mut w = World::new();
    let mut lazy = connected(&mut w, "lazy", UUIDS[0]);
    let stuck = w.frontend("stuck_in_state_1", UUIDS[1]);
    let mut busy = connected(&mut w, "busy", UUIDS[2]);
    lazy.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.echo_once()).len(), 1);
    for i in 0..10u8 {
        busy.submit(0, &[i; 12]);
        let events = w.echo_once();
        assert_eq!(requests(&events), vec![(link(&busy), 0, vec![i; 12])]);
        assert_eq!(busy.response(), Some(vec![i; 12]));
    }
    // The lazy frontend's answer is still there for it.
    assert_eq!(lazy.response(), Some(GET_RANDOM.to_vec()));
    assert_eq!(w.be_read(stuck.dom, "state").as_deref(), Some("2"));
}

#[test]
fn the_request_is_copied_once_even_if_the_page_changes_while_read() {
    // A platform whose mapped pages rewrite their length (to 4000) and packet right after
    // the header is read: the backend must deliver what the header copy announced.
    let mut w = World::new();
    let mut f = w.frontend("guest", UUIDS[0]);
    let mut flip = flip::Flip(w.bp.clone());
    let mut backend = Backend::new(&mut flip).unwrap();
    backend.poll(&mut flip).unwrap();
    f.linux_probe();
    let events = backend.poll(&mut flip).unwrap();
    assert!(
        events.contains(&BackEvent::Connected(link(&f))),
        "{events:?}"
    );
    f.submit(0, &[0x55; 20]);
    let events = backend.poll(&mut flip).unwrap();
    let got = requests(&events);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2.len(), 20, "the length of the one header copy");
    assert_eq!(
        page_bytes(f.page(), 0, 4),
        4000u32.to_le_bytes().to_vec(),
        "it did flip"
    );
    assert_eq!(
        flip::reads(),
        3,
        "the state byte, one header copy, one packet copy"
    );
}

/// The flipping platform of the test above.
mod flip {
    use std::cell::{Cell, RefCell};

    use xen::platform::{DomId, GrantRef, Platform, Port, XenError};
    use xen::sim::{SimPage, SimPlatform};
    use xen::tpmif::SharedPage;

    thread_local! {
        static READS: Cell<u32> = const { Cell::new(0) };
    }

    pub(super) fn reads() -> u32 {
        READS.with(Cell::get)
    }

    pub(super) struct Flip(pub(super) SimPlatform);

    pub(super) struct FlipPage(RefCell<SimPage>);

    impl SharedPage for FlipPage {
        fn read(&self, offset: usize, buf: &mut [u8]) {
            self.0.borrow().read(offset, buf);
            READS.with(|r| r.set(r.get() + 1));
            // The hostile peer strikes right after each read that covers the length.
            if offset == 0 {
                let mut page = self.0.borrow_mut();
                page.write(0, &4000u32.to_le_bytes());
                page.write(8, &[0xaa; 64]);
            }
        }

        fn write(&mut self, offset: usize, data: &[u8]) {
            self.0.borrow_mut().write(offset, data);
        }

        fn barrier(&self) {
            self.0.borrow().barrier();
        }
    }

    impl Platform for Flip {
        type Page = FlipPage;

        fn domid(&self) -> DomId {
            self.0.domid()
        }
        fn read(&mut self, path: &str) -> Result<Option<String>, XenError> {
            self.0.read(path)
        }
        fn write(&mut self, path: &str, value: &str) -> Result<(), XenError> {
            self.0.write(path, value)
        }
        fn write_all(&mut self, entries: &[(&str, &str)]) -> Result<(), XenError> {
            self.0.write_all(entries)
        }
        fn remove(&mut self, path: &str) -> Result<(), XenError> {
            self.0.remove(path)
        }
        fn list(&mut self, path: &str) -> Result<Vec<String>, XenError> {
            self.0.list(path)
        }
        fn watch(&mut self, path: &str) -> Result<(), XenError> {
            self.0.watch(path)
        }
        fn unwatch(&mut self, path: &str) -> Result<(), XenError> {
            self.0.unwatch(path)
        }
        fn take_watch(&mut self, path: &str) -> bool {
            self.0.take_watch(path)
        }
        fn grant_page(&mut self, peer: DomId) -> Result<(GrantRef, FlipPage), XenError> {
            let (g, p) = self.0.grant_page(peer)?;
            Ok((g, FlipPage(RefCell::new(p))))
        }
        fn map_page(&mut self, peer: DomId, gref: GrantRef) -> Result<FlipPage, XenError> {
            Ok(FlipPage(RefCell::new(self.0.map_page(peer, gref)?)))
        }
        fn alloc_unbound(&mut self, peer: DomId) -> Result<Port, XenError> {
            self.0.alloc_unbound(peer)
        }
        fn bind_interdomain(&mut self, peer: DomId, remote: Port) -> Result<Port, XenError> {
            self.0.bind_interdomain(peer, remote)
        }
        fn close_port(&mut self, port: Port) {
            self.0.close_port(port);
        }
        fn notify(&mut self, port: Port) -> Result<(), XenError> {
            self.0.notify(port)
        }
        fn take_port(&mut self, port: Port) -> bool {
            self.0.take_port(port)
        }
        fn wait(&mut self, timeout_ms: u64) -> Result<bool, XenError> {
            self.0.wait(timeout_ms)
        }
        fn now_ms(&mut self) -> u64 {
            self.0.now_ms()
        }
        fn peer_label(&mut self, peer: DomId) -> Result<String, XenError> {
            self.0.peer_label(peer)
        }
    }
}

#[test]
fn closing_goes_5_then_2_and_the_frontend_can_reconnect() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    f.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.poll()).len(), 1);
    f.write("state", "5");
    w.settle();
    assert_eq!(w.be_read(f.dom, "state").as_deref(), Some("5"));
    f.write("state", "6");
    w.settle();
    assert_eq!(w.be_read(f.dom, "state").as_deref(), Some("2"));
    assert_eq!(
        w.backend.respond(&mut w.bp, link(&f), b"late"),
        Err(BackError::NotConnected(link(&f))),
        "the old request died with the connection"
    );
    f.linux_probe();
    assert!(w.settle().contains(&BackEvent::Connected(link(&f))));
    f.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.echo_once()).len(), 1);
    assert_eq!(f.response(), Some(GET_RANDOM.to_vec()));
}

#[test]
fn a_reconnect_whose_close_was_missed_moves_to_the_new_page() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    // 5, 6, a fresh page and port, 3: all before the backend looks (watches coalesce).
    f.write("state", "5");
    f.write("state", "6");
    f.linux_probe();
    let events = w.settle();
    assert!(
        events.contains(&BackEvent::Connected(link(&f))),
        "{events:?}"
    );
    f.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.echo_once()).len(), 1);
    assert_eq!(
        f.response(),
        Some(GET_RANDOM.to_vec()),
        "answered on the new page"
    );
}

#[test]
fn a_frontend_reset_to_1_while_connected_disconnects() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    f.write("state", "1");
    w.settle();
    assert_eq!(w.be_read(f.dom, "state").as_deref(), Some("2"));
    f.submit(0, &GET_RANDOM);
    assert!(w.settle().is_empty(), "no longer listening on the old port");
}

#[test]
fn junk_in_the_frontend_state_is_refused_and_ignored() {
    let mut w = World::new();
    let mut f = connected(&mut w, "guest", UUIDS[0]);
    f.write("state", "connected");
    assert_eq!(
        refusals(&w.settle()),
        vec![(link(&f), BackError::BadFrontendState("connected".into()))]
    );
    assert_eq!(w.be_read(f.dom, "state").as_deref(), Some("4"));
    f.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.echo_once()).len(), 1, "still connected");
}

#[test]
fn a_destroyed_frontend_is_closed_and_its_directory_removed() {
    let mut w = World::new();
    let f = connected(&mut w, "doomed", UUIDS[0]);
    let mut other = connected(&mut w, "survivor", UUIDS[1]);
    w.sim.destroy_domain(f.dom).unwrap();
    let events = w.settle();
    assert_eq!(events, vec![BackEvent::Closed(link(&f))]);
    assert_eq!(w.backend.info(link(&f)), None);
    assert_eq!(w.be_read(f.dom, "state"), None, "backend directory removed");
    other.submit(0, &GET_RANDOM);
    assert_eq!(requests(&w.echo_once()).len(), 1);
}

#[test]
fn a_removed_device_is_closed() {
    let mut w = World::new();
    let f = connected(&mut w, "guest", UUIDS[0]);
    w.sim.remove_vtpm_device(w.be, f.dom, 0).unwrap();
    assert_eq!(w.settle(), vec![BackEvent::Closed(link(&f))]);
    assert_eq!(w.backend.links().count(), 0);
    // Re-adding it opens it again.
    w.sim.add_vtpm_device(w.be, f.dom, 0, UUIDS[2]).unwrap();
    let events = w.settle();
    assert!(
        matches!(&events[..], [BackEvent::Opened(i)] if i.uuid == parse_uuid(UUIDS[2]).unwrap())
    );
}

#[test]
fn shutdown_closes_every_link() {
    let mut w = World::new();
    let mut a = connected(&mut w, "a", UUIDS[0]);
    let b = w.frontend("b", UUIDS[1]);
    w.settle();
    w.backend.shutdown(&mut w.bp);
    for fe in [a.dom, b.dom] {
        assert_eq!(w.be_read(fe, "state").as_deref(), Some("6"));
    }
    a.submit(0, &GET_RANDOM);
    assert!(w.poll().is_empty());
    assert_eq!(w.backend.links().count(), 0);
}

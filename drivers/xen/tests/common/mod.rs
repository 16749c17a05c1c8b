//! Behaviours every implementation of the platform seam must show (`xen::platform` module
//! docs), written once against a [`Machine`] and run by `sim.rs` and `hosted.rs`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    clippy::many_single_char_names
)]

use std::thread;
use std::time::{Duration, Instant};

use xen::platform::{DOM0, DomId, GrantRef, Platform, Port, XenError};
use xen::tpmif::SharedPage;
use xen::xenbus;

pub(crate) const UUID: &str = "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839";
pub(crate) const UUID2: &str = "0b4a1d3c-1111-4c07-b43b-1d69e46fb839";

/// A machine under test: the toolstack's operations plus one platform per domain.
pub(crate) trait Machine {
    /// A guest's platform.
    type P: Platform + Send + 'static;
    /// dom0's platform.
    type D0: Platform;
    fn create(&self, label: &str) -> DomId;
    fn platform(&self, id: DomId) -> Self::P;
    fn dom0(&self) -> Self::D0;
    fn destroy(&self, id: DomId);
    fn add_vtpm_device(&self, backend: DomId, frontend: DomId, devid: u32, uuid: &str);
}

fn denied<T: std::fmt::Debug>(r: Result<T, XenError>) {
    match r {
        Err(XenError::Denied(_)) => {}
        other => panic!("expected Denied, got {other:?}"),
    }
}

fn bad_path<T: std::fmt::Debug>(r: Result<T, XenError>) {
    match r {
        Err(XenError::BadPath(_)) => {}
        other => panic!("expected BadPath, got {other:?}"),
    }
}

pub(crate) fn permissions<M: Machine>(m: &M) {
    let be = m.create("backend");
    let fe = m.create("guest");
    let other = m.create("other");
    m.add_vtpm_device(be, fe, 0, UUID);
    m.add_vtpm_device(be, other, 0, UUID2);
    let (mut b, mut f, mut o) = (m.platform(be), m.platform(fe), m.platform(other));
    let fe_dir = xenbus::frontend_path(fe, 0);
    let be_dir = xenbus::backend_path(be, fe, 0);
    let other_be_dir = xenbus::backend_path(be, other, 0);
    let other_fe_dir = xenbus::frontend_path(other, 0);

    // Its own device directory and the backend directory it was given.
    assert_eq!(
        f.read(&format!("{fe_dir}/state")).unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(
        f.read(&format!("{fe_dir}/backend")).unwrap(),
        Some(be_dir.clone())
    );
    assert_eq!(
        f.read(&format!("{be_dir}/uuid")).unwrap().as_deref(),
        Some(UUID)
    );
    assert_eq!(
        f.list(&fe_dir).unwrap(),
        ["backend", "backend-id", "handle", "state"]
    );
    // Not another frontend's backend directory, nor another domain's device directory.
    denied(f.read(&format!("{other_be_dir}/uuid")));
    denied(f.read(&format!("{other_fe_dir}/state")));
    denied(f.list(&other_fe_dir));
    denied(f.list(&xenbus::backend_root(be)));
    // Reading is not writing.
    denied(f.write(&format!("{be_dir}/state"), "4"));
    denied(f.write(&format!("{be_dir}/new"), "x"));
    denied(f.remove(&be_dir));
    denied(f.write(&format!("{}/x", xenbus::domain_path(other)), "1"));
    denied(f.write("/local/domain/x", "1"));
    // The backend reads the frontend's directory but cannot write it.
    assert_eq!(
        b.read(&format!("{fe_dir}/handle")).unwrap().as_deref(),
        Some("0")
    );
    denied(b.write(&format!("{fe_dir}/state"), "6"));
    b.write(&format!("{be_dir}/state"), "2").unwrap();
    assert_eq!(
        f.read(&format!("{be_dir}/state")).unwrap().as_deref(),
        Some("2")
    );
    // Nodes a domain creates in its home inherit its perms: private to it.
    f.write(&format!("{fe_dir}/ring-ref"), "8").unwrap();
    assert_eq!(
        b.read(&format!("{fe_dir}/ring-ref")).unwrap().as_deref(),
        Some("8")
    );
    let private = format!("{}/data/secret", xenbus::domain_path(fe));
    f.write(&private, "s").unwrap();
    denied(o.read(&private));
    denied(b.read(&private));
    assert_eq!(f.read(&private).unwrap().as_deref(), Some("s"));
    // dom0 may do anything; absent nodes read as None.
    let mut d0 = m.dom0();
    assert_eq!(d0.read(&private).unwrap().as_deref(), Some("s"));
    assert_eq!(f.read(&format!("{private}/nope")).unwrap(), None);
    assert!(f.list(&format!("{private}/nope")).unwrap().is_empty());
    // Malformed paths and values.
    for bad in ["relative", "/a//b", "/a/", "/a b", "", "/a\u{e9}"] {
        bad_path(f.write(bad, "v"));
        bad_path(f.read(bad));
    }
    let long = format!("{}/{}", xenbus::domain_path(fe), "x".repeat(1100));
    bad_path(f.write(&long, "v"));
    bad_path(f.write(&private, "a\0b"));
    bad_path(f.write(&private, &"v".repeat(4097)));
    f.write(&private, &"v".repeat(4096)).unwrap();
}

pub(crate) fn watches<M: Machine>(m: &M) {
    let a = m.create("a");
    let b = m.create("b");
    let mut pa = m.platform(a);
    let mut pb = m.platform(b);
    let home = xenbus::domain_path(a);
    let top = format!("{home}/top");
    let w = format!("{top}/dir");
    pa.watch(&w).unwrap();
    assert!(pa.wait(5000).unwrap(), "a fresh watch is pending");
    assert!(pa.take_watch(&w), "a watch fires when registered");
    assert!(!pa.take_watch(&w), "taking consumes");
    pa.write(&format!("{w}/x/y"), "1").unwrap();
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_watch(&w), "a write below fires");
    pa.write(&format!("{home}/elsewhere"), "1").unwrap();
    pa.write(&format!("{top}/dirt"), "1").unwrap();
    assert!(!pa.wait(50).unwrap(), "nothing pending");
    assert!(!pa.take_watch(&w), "writes elsewhere do not fire");
    pa.write(&w, "v").unwrap();
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_watch(&w), "a write at the path fires");
    pa.remove(&top).unwrap();
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_watch(&w), "removing an ancestor fires");
    // Watch events travel apart from the write's reply (on Xen as in hosted mode): wait.
    pa.write(&format!("{w}/again"), "1").unwrap();
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_watch(&w));
    pa.remove(&format!("{w}/again")).unwrap();
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_watch(&w), "removing a node below fires");
    pa.remove(&format!("{w}/never")).unwrap();
    assert!(!pa.take_watch(&w), "removing nothing fires nothing");
    // A watch on what one may not read does not leak the owner's writes.
    let theirs = format!("{}/data", xenbus::domain_path(b));
    pa.watch(&theirs).unwrap();
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_watch(&theirs));
    pb.write(&theirs, "1").unwrap();
    assert!(!pa.wait(50).unwrap());
    assert!(!pa.take_watch(&theirs), "no read access, no event");
    // Unwatching stops events.
    pa.unwatch(&w).unwrap();
    pa.write(&format!("{w}/z"), "1").unwrap();
    assert!(!pa.wait(50).unwrap());
    assert!(!pa.take_watch(&w));
}

pub(crate) fn destroy_fires_backend_watch<M: Machine>(m: &M) {
    let be = m.create("backend");
    let fe = m.create("guest");
    m.add_vtpm_device(be, fe, 0, UUID);
    let mut b = m.platform(be);
    let state = format!("{}/state", xenbus::frontend_path(fe, 0));
    b.watch(&state).unwrap();
    assert!(b.take_watch(&state) || (b.wait(5000).unwrap() && b.take_watch(&state)));
    let root = xenbus::backend_root(be);
    b.watch(&root).unwrap();
    assert!(b.wait(5000).unwrap());
    assert!(b.take_watch(&root));
    m.destroy(fe);
    let t = Instant::now();
    while !b.take_watch(&state) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "destroy never fired the watch"
        );
        b.wait(1000).unwrap();
    }
    assert_eq!(b.read(&state).unwrap(), None, "the frontend's home is gone");
    assert!(b.list(&xenbus::domain_path(fe)).unwrap().is_empty());
    // The backend's own directory stays (the backend removes it, §2.4 step 6).
    assert!(!b.take_watch(&root));
    assert_eq!(
        b.read(&format!("{}/uuid", xenbus::backend_path(be, fe, 0)))
            .unwrap()
            .as_deref(),
        Some(UUID)
    );
    assert!(matches!(b.peer_label(fe), Err(XenError::NoDomain(d)) if d == fe));
}

pub(crate) fn transactions<M: Machine>(m: &M) {
    let a = m.create("a");
    let b = m.create("b");
    let mut pa = m.platform(a);
    let pb = m.platform(b);
    let home = xenbus::domain_path(a);
    let w = format!("{home}/t");
    pa.watch(&w).unwrap();
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_watch(&w));
    let one = format!("{w}/one");
    let bad = format!("{}/x", xenbus::domain_path(b));
    denied(pa.write_all(&[(&one, "1"), (&bad, "2")]));
    assert_eq!(pa.read(&one).unwrap(), None, "all or nothing");
    assert_eq!(pa.read(&w).unwrap(), None, "created parents rolled back");
    bad_path(pa.write_all(&[(&one, "1"), ("/bad//path", "2")]));
    assert_eq!(pa.read(&one).unwrap(), None);
    assert!(!pa.wait(50).unwrap());
    assert!(!pa.take_watch(&w), "a failed transaction fires nothing");
    let two = format!("{w}/two");
    pa.write_all(&[(&one, "1"), (&two, "2")]).unwrap();
    assert_eq!(pa.read(&one).unwrap().as_deref(), Some("1"));
    assert_eq!(pa.read(&two).unwrap().as_deref(), Some("2"));
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_watch(&w));
    assert_eq!(pa.list(&w).unwrap(), ["one", "two"]);
    let _ = pb.domid();
}

pub(crate) fn grants<M: Machine>(m: &M) {
    let a = m.create("a");
    let b = m.create("b");
    let c = m.create("c");
    let (mut pa, mut pb, mut pc) = (m.platform(a), m.platform(b), m.platform(c));
    let (gref, mut page) = pa.grant_page(b).unwrap();
    let mut buf = [0xffu8; 16];
    page.read(0, &mut buf);
    assert_eq!(buf, [0; 16], "pages start zeroed");
    assert_eq!(
        pc.map_page(a, gref).err(),
        Some(XenError::BadGrant { peer: a, gref }),
        "only the named peer maps"
    );
    assert!(pb.map_page(a, GrantRef(gref.0 + 1000)).is_err());
    assert!(pb.map_page(c, gref).is_err(), "the granter must match");
    let mut mapped = pb.map_page(a, gref).unwrap();
    page.write(100, b"from a");
    page.barrier();
    let mut got = [0u8; 6];
    mapped.read(100, &mut got);
    assert_eq!(&got, b"from a");
    mapped.write(4090, b"from b");
    mapped.barrier();
    page.read(4090, &mut got);
    assert_eq!(&got, b"from b");
    // Out-of-page accesses are clipped, not fatal.
    let mut tail = [7u8; 8];
    page.read(4092, &mut tail);
    assert_eq!(&tail, b"om b\0\0\0\0");
    page.write(5000, b"nothing");
    // Ending the grant refuses new maps; the existing mapping keeps working.
    drop(page);
    assert!(
        pb.map_page(a, gref).is_err(),
        "an ended grant refuses new maps"
    );
    mapped.write(0, b"still");
    let mut s = [0u8; 5];
    mapped.read(0, &mut s);
    assert_eq!(&s, b"still");
    // A dead granter's grants end too.
    let (g2, _keep) = pa.grant_page(b).unwrap();
    m.destroy(a);
    assert!(pb.map_page(a, g2).is_err());
    // A dead domain's own calls fail (hosted: its connection is cut).
    assert!(matches!(
        pa.grant_page(b),
        Err(XenError::NoDomain(_) | XenError::Io(_))
    ));
}

pub(crate) fn ports<M: Machine>(m: &M) {
    let a = m.create("a");
    let b = m.create("b");
    let c = m.create("c");
    let (mut pa, mut pb, mut pc) = (m.platform(a), m.platform(b), m.platform(c));
    let pa_port = pa.alloc_unbound(b).unwrap();
    assert!(
        pc.bind_interdomain(a, pa_port).is_err(),
        "only the named peer binds"
    );
    assert!(pb.bind_interdomain(a, Port(pa_port.0 + 50)).is_err());
    let pb_port = pb.bind_interdomain(a, pa_port).unwrap();
    assert!(pb.bind_interdomain(a, pa_port).is_err(), "bound only once");
    for _ in 0..3 {
        pb.notify(pb_port).unwrap();
    }
    assert!(pa.wait(5000).unwrap());
    assert!(pa.take_port(pa_port), "pending");
    assert!(
        !pa.take_port(pa_port),
        "three notifications coalesce into one"
    );
    assert!(!pb.take_port(pb_port));
    pa.notify(pa_port).unwrap();
    assert!(pb.wait(5000).unwrap());
    assert!(pb.take_port(pb_port));
    assert_eq!(pa.notify(Port(999)), Err(XenError::BadPort(Port(999))));
    // Closing stops delivery both ways; notifying a closed peer is no error.
    pa.close_port(pa_port);
    pb.notify(pb_port).unwrap();
    assert!(
        pa.notify(pa_port).is_err(),
        "the closed port itself is gone"
    );
    assert!(!pa.wait(50).unwrap());
    assert!(!pa.take_port(pa_port));
    assert!(!pb.take_port(pb_port));
    // A notification still in flight when its port closes wakes nobody, then or later.
    let late = pa.alloc_unbound(b).unwrap();
    let late_b = pb.bind_interdomain(a, late).unwrap();
    pb.notify(late_b).unwrap();
    thread::sleep(Duration::from_millis(20));
    pa.close_port(late);
    assert!(
        !pa.wait(50).unwrap(),
        "an event of a closed port is dropped"
    );
    assert!(!pa.wait(50).unwrap());
    // A dying domain's ports stop too.
    let p2 = pc.alloc_unbound(b).unwrap();
    let q2 = pb.bind_interdomain(c, p2).unwrap();
    m.destroy(c);
    pb.notify(q2).unwrap();
    assert!(matches!(
        pc.notify(p2),
        Err(XenError::NoDomain(_) | XenError::Io(_))
    ));
}

pub(crate) fn wait_wakes<M: Machine>(m: &M) {
    let a = m.create("a");
    let b = m.create("b");
    let mut pa = m.platform(a);
    let mut pb = m.platform(b);
    let port = pa.alloc_unbound(b).unwrap();
    let remote = pb.bind_interdomain(a, port).unwrap();
    let t = Instant::now();
    assert!(!pa.wait(100).unwrap(), "times out when nothing comes");
    println!(
        "wait(100) with nothing pending returned after {:?}",
        t.elapsed()
    );
    assert!(!pa.wait(0).unwrap());
    let waiter = thread::spawn(move || {
        let t = Instant::now();
        let woke = pa.wait(20_000).unwrap();
        let taken = pa.take_port(port);
        (woke, taken, t.elapsed(), pa)
    });
    thread::sleep(Duration::from_millis(100));
    pb.notify(remote).unwrap();
    let (woke, taken, took, mut pa) = waiter.join().unwrap();
    assert!(woke && taken, "woken by the notification");
    println!("wait woke {took:?} after it began (notify sent at ~100 ms)");
    assert_eq!(pa.peer_label(b).unwrap(), "b");
    assert_eq!(pa.peer_label(DOM0).unwrap(), "dom0");
    assert_eq!(pa.domid(), a);
    let t0 = pa.now_ms();
    thread::sleep(Duration::from_millis(5));
    assert!(pa.now_ms() >= t0);
}

/// notify → peer wakes → notify back, `rounds` times; returns µs per round trip.
pub(crate) fn ping_pong<M: Machine>(m: &M, rounds: u32) -> f64 {
    let a = m.create("ping");
    let b = m.create("pong");
    let mut pa = m.platform(a);
    let mut pb = m.platform(b);
    let port = pa.alloc_unbound(b).unwrap();
    let remote = pb.bind_interdomain(a, port).unwrap();
    let echo = thread::spawn(move || {
        for _ in 0..rounds {
            while !pb.take_port(remote) {
                pb.wait(10_000).unwrap();
            }
            pb.notify(remote).unwrap();
        }
    });
    let t = Instant::now();
    for _ in 0..rounds {
        pa.notify(port).unwrap();
        while !pa.take_port(port) {
            pa.wait(10_000).unwrap();
        }
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    echo.join().unwrap();
    us
}

//! Hosted mode (`xen::hosted`): the platform model across real socket connections to a
//! launcher (each domain a thread with its own connection, as a process would have), plus the
//! launcher's defences.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::Machine;
use xen::hosted::wire::{self, Msg};
use xen::hosted::{HostedPlatform, Launcher};
use xen::platform::{DomId, Platform, XenError};
use xen::sim::SimPlatform;
use xen::tpmif::SharedPage;
use xen::xenbus;

struct Hosted {
    launcher: Option<Launcher>,
    dir: PathBuf,
    creds: Mutex<BTreeMap<DomId, String>>,
}

impl Hosted {
    fn new() -> Hosted {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xen-hosted-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let launcher = Launcher::start(&dir).expect("launcher starts");
        Hosted {
            launcher: Some(launcher),
            dir,
            creds: Mutex::new(BTreeMap::new()),
        }
    }

    fn l(&self) -> &Launcher {
        self.launcher.as_ref().unwrap()
    }

    fn create_with_cred(&self, label: &str) -> (DomId, String) {
        self.l().create_domain(label).unwrap()
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        drop(self.launcher.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Machine for Hosted {
    type P = HostedPlatform;
    type D0 = SimPlatform;
    fn create(&self, label: &str) -> DomId {
        let (id, cred) = self.create_with_cred(label);
        self.creds.lock().unwrap().insert(id, cred);
        id
    }
    fn platform(&self, id: DomId) -> HostedPlatform {
        let cred = self
            .creds
            .lock()
            .unwrap()
            .remove(&id)
            .expect("one platform per domain");
        let p = HostedPlatform::connect(&cred).expect("the credential is accepted");
        assert_eq!(p.domid(), id);
        p
    }
    fn dom0(&self) -> SimPlatform {
        self.l().dom0()
    }
    fn destroy(&self, id: DomId) {
        self.l().destroy_domain(id).unwrap();
    }
    fn add_vtpm_device(&self, backend: DomId, frontend: DomId, devid: u32, uuid: &str) {
        self.l()
            .add_vtpm_device(backend, frontend, devid, uuid)
            .unwrap();
    }
}

#[test]
fn permissions() {
    common::permissions(&Hosted::new());
}

#[test]
fn watches() {
    common::watches(&Hosted::new());
}

#[test]
fn destroy_fires_backend_watch() {
    common::destroy_fires_backend_watch(&Hosted::new());
}

#[test]
fn transactions() {
    common::transactions(&Hosted::new());
}

#[test]
fn grants() {
    common::grants(&Hosted::new());
}

#[test]
fn ports() {
    common::ports(&Hosted::new());
}

#[test]
fn wait_wakes() {
    common::wait_wakes(&Hosted::new());
}

#[test]
fn the_run_dir_and_socket_are_private() {
    let m = Hosted::new();
    let dir = std::fs::metadata(&m.dir).unwrap().permissions().mode();
    let sock = std::fs::metadata(m.l().socket_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir & 0o777, 0o700);
    assert_eq!(sock & 0o777, 0o600);
}

#[test]
fn dom0_and_a_hosted_domain_share_a_page() {
    let m = Hosted::new();
    let a = m.create("a");
    let mut d0 = m.dom0();
    let mut pa = m.platform(a);
    let (gref, mut page) = d0.grant_page(a).unwrap();
    page.write(8, b"hello from dom0");
    page.barrier();
    let mut mapped = pa.map_page(0, gref).unwrap();
    let mut got = [0u8; 15];
    mapped.read(8, &mut got);
    assert_eq!(&got, b"hello from dom0");
    mapped.write(4000, b"back");
    let mut back = [0u8; 4];
    page.read(4000, &mut back);
    assert_eq!(&back, b"back");
    // And the other way: a hosted domain's grant, mapped by dom0.
    let (g2, mut p2) = pa.grant_page(0).unwrap();
    p2.write(0, b"x");
    let m2 = d0.map_page(a, g2).unwrap();
    let mut x = [0u8; 1];
    m2.read(0, &mut x);
    assert_eq!(&x, b"x");
    drop(p2);
    // The end-grant message is asynchronous: wait for it to land.
    let t = Instant::now();
    while d0.map_page(a, g2).is_ok() {
        assert!(t.elapsed() < Duration::from_secs(10), "grant never ended");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_wrong_credential_is_refused() {
    let m = Hosted::new();
    let (_, cred) = m.create_with_cred("a");
    let (hex, path) = cred.split_once('@').unwrap();
    let mut wrong: Vec<u8> = hex.bytes().collect();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = format!("{}@{path}", String::from_utf8(wrong).unwrap());
    assert!(matches!(
        HostedPlatform::connect(&wrong),
        Err(XenError::Denied(_))
    ));
    for junk in [
        "",
        "nothing",
        &format!("zz{}", &cred[2..]),
        &format!("@{path}"),
    ] {
        assert!(HostedPlatform::connect(junk).is_err(), "{junk:?}");
    }
    // The right one works, once.
    let p = HostedPlatform::connect(&cred).unwrap();
    assert!(matches!(
        HostedPlatform::connect(&cred),
        Err(XenError::Denied(_))
    ));
    drop(p);
}

#[test]
fn from_env_reads_vtpm_xen() {
    // Only this test touches the variable.
    let m = Hosted::new();
    let (id, cred) = m.create_with_cred("env");
    // SAFETY: no other thread of this test binary reads or writes VTPM_XEN.
    unsafe { std::env::set_var(xen::hosted::CREDENTIAL_ENV, &cred) };
    let p = HostedPlatform::from_env().unwrap();
    assert_eq!(p.domid(), id);
}

fn wait_gone(m: &Hosted, id: DomId) {
    let t = Instant::now();
    while m.l().domain_exists(id) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "domain {id} never died"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_dropped_connection_destroys_the_domain() {
    let m = Hosted::new();
    let be = m.create("backend");
    let fe = m.create("guest");
    m.add_vtpm_device(be, fe, 0, common::UUID);
    let mut b = m.platform(be);
    let f = m.platform(fe);
    let state = format!("{}/state", xenbus::frontend_path(fe, 0));
    b.watch(&state).unwrap();
    assert!(b.wait(5000).unwrap());
    assert!(b.take_watch(&state));
    drop(f); // the process "exits"
    let t = Instant::now();
    while !b.take_watch(&state) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the backend never heard"
        );
        b.wait(1000).unwrap();
    }
    assert_eq!(b.read(&state).unwrap(), None);
    wait_gone(&m, fe);
    assert!(m.l().domain_exists(be));
}

fn raw_hello(cred: &str) -> UnixStream {
    let (hex, path) = cred.split_once('@').unwrap();
    let mut token = [0u8; 16];
    for (i, b) in token.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let mut s = UnixStream::connect(path).unwrap();
    s.write_all(&wire::encode(&Msg::Hello { token })).unwrap();
    let mut reply = [0u8; 7];
    s.read_exact(&mut reply).unwrap();
    assert!(matches!(wire::parse(&reply), Ok(Msg::Welcome { .. })));
    s
}

#[test]
fn malformed_frames_drop_only_that_connection() {
    let m = Hosted::new();
    let good = m.create("good");
    let mut pg = m.platform(good);
    let frames: [&[u8]; 5] = [
        &[0, 0, 0, 0],                // zero length
        &[0xff, 0xff, 0xff, 0x7f, 1], // over the limit
        &[1, 0, 0, 0, 0x55],          // unknown type
        &[3, 0, 0, 0, 0x02, 9, 0],    // string longer than its frame
        &[3, 0, 0, 0, 0x81, 0, 0],    // trailing bytes
    ];
    for (i, frame) in frames.iter().enumerate() {
        let (id, cred) = m.create_with_cred(&format!("evil{i}"));
        let mut s = raw_hello(&cred);
        s.write_all(frame).unwrap();
        let mut buf = [0u8; 64];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The launcher hangs up (events may precede the close).
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("the launcher should hang up, not {e}"),
            }
        }
        wait_gone(&m, id);
    }
    // A well-formed reply sent as a request is a protocol error too.
    let (id, cred) = m.create_with_cred("liar");
    let mut s = raw_hello(&cred);
    s.write_all(&wire::encode(&Msg::Welcome { domid: 0 }))
        .unwrap();
    wait_gone(&m, id);
    // The well-behaved domain carries on.
    let home = xenbus::domain_path(good);
    pg.write(&format!("{home}/ok"), "1").unwrap();
    assert_eq!(
        pg.read(&format!("{home}/ok")).unwrap().as_deref(),
        Some("1")
    );
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn ping_pong_latency() {
    let us = common::ping_pong(&Hosted::new(), 20_000);
    println!("hosted ping-pong (two connections, threads): {us:.2} us per round trip");
}

#[test]
fn the_fuzz_seeds_are_valid_frames() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/hosted_wire");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the seed corpus exists") {
        let path = entry.unwrap().path();
        // Only the committed seeds: a fuzzing campaign adds its own inputs beside them.
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let msg = wire::parse(&bytes).expect("a seed parses");
        assert_eq!(wire::encode(&msg), bytes);
        n += 1;
    }
    assert!(n >= 10, "{n} seeds");
}

//! The manager's speed and capacity, against a private swtpm as the hardware TPM, with the
//! references measured in the same run: the swtpm round trip, an NV counter increment on the
//! same swtpm, and an `fdatasync` of the image file (the two durability costs every commit
//! pays).
//!
//! `cargo bench -p vtpmmgr --bench manager` (environment: `VTPMMGR_BENCH_N`, default 20000
//! vTPMs; `VTPMMGR_BENCH_DIR`, default the system temporary directory: put it on the disk you
//! care about).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "a benchmark: any failure aborts the run"
)]

use std::fmt::Arguments;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tpm2::client::Client;
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions, swtpm_installed};
use vtpm_tools::transport::SwtpmTransport;
use vtpmmgr::Uuid;
use vtpmmgr::host::file_device::FileDevice;
use vtpmmgr::manager::{Manager, ManagerConfig, Peer};
use vtpmmgr::protocol::{Reply, ReplyError, Request, ReturnCode};
use zeroize::Zeroizing;

type Mgr = Manager<SwtpmTransport, FileDevice>;

fn quiet(_: Arguments<'_>) {}

fn start(sw: &Swtpm, disk: &std::path::Path) -> (Mgr, Duration) {
    let (dev, _) = vtpmmgr::host::file_device::open_or_create(disk).expect("image");
    let t = Instant::now();
    let (m, _) = Manager::start(
        sw.connect().expect("connect"),
        dev,
        ManagerConfig::default(),
        b"bench",
        quiet,
    )
    .expect("start manager");
    (m, t.elapsed())
}

fn call(m: &mut Mgr, peer: Peer, req: &Request) -> Result<Reply, ReplyError> {
    let mut c = m.connect(peer);
    let raw = m.handle(&mut c, &req.encode());
    m.disconnect(c);
    Reply::parse(req, &raw)
}

/// A small deterministic generator (xorshift) for UUIDs and picks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn uuid(&mut self) -> Uuid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next().to_le_bytes());
        b[8..].copy_from_slice(&self.next().to_le_bytes());
        Uuid::new_v4(b)
    }
}

fn stats(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = v.iter().map(|d| us(*d)).sum::<f64>() / v.len() as f64;
    println!(
        "{label:<44} n={:<6} mean {:>9.1} µs  median {:>9.1} µs  p99 {:>9.1} µs",
        v.len(),
        mean,
        us(v[v.len() / 2]),
        us(v[v.len() * 99 / 100])
    );
}

fn main() {
    assert!(
        swtpm_installed(),
        "the bench needs swtpm (Debian package `swtpm`)"
    );
    let n: usize = std::env::var("VTPMMGR_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let base = std::env::var_os("VTPMMGR_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("vtpmmgr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let disk = dir.join("mgr.img");
    let sw = Swtpm::spawn_on_state(
        SwtpmOptions {
            startup_clear: true,
        },
        &dir.join("hwtpm"),
    )
    .expect("swtpm");

    // References, same run: swtpm round trip and an fdatasync of a file on the image's disk.
    let mut client = Client::new(sw.connect().unwrap());
    let mut rt = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        client.get_random(8).unwrap();
        rt.push(t.elapsed());
    }
    drop(client);
    let mut sync = Vec::new();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(dir.join("sync-probe")).unwrap();
        for i in 0..200u32 {
            f.write_all(&i.to_le_bytes()).unwrap();
            let t = Instant::now();
            f.sync_data().unwrap();
            sync.push(t.elapsed());
        }
    }

    let (mut m, t_format) = start(&sw, &disk);
    let admin = Peer::Admin;
    call(&mut m, admin, &Request::GroupNew).unwrap();
    let kernel = [0x4b; 32];
    call(
        &mut m,
        admin,
        &Request::GroupUpdate {
            group: 0,
            sequence: 1,
            kernels: vec![kernel],
        },
    )
    .unwrap();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut uuids = Vec::with_capacity(n);
    let mut new_t = Vec::with_capacity(n);
    let fill = Instant::now();
    let mut full = false;
    while !full {
        let uuid = rng.uuid();
        let t = Instant::now();
        match call(
            &mut m,
            admin,
            &Request::VtpmNew {
                group: 0,
                uuid: Some(uuid),
            },
        ) {
            Ok(_) => {
                new_t.push(t.elapsed());
                uuids.push(uuid);
            }
            Err(ReplyError::Refused(ReturnCode::RESOURCES)) => full = true,
            Err(e) => panic!("VTPM_NEW failed after {} vTPMs: {e}", uuids.len()),
        }
        if uuids.len() % 2000 == 0 && !full {
            eprintln!(
                "  {} vTPMs, {:.1} s",
                uuids.len(),
                fill.elapsed().as_secs_f64()
            );
        }
        if uuids.len() >= n && std::env::var_os("VTPMMGR_BENCH_UNTIL_FULL").is_none() {
            break;
        }
    }
    let fill_time = fill.elapsed();

    let mut save_t = Vec::new();
    let mut load_t = Vec::new();
    for i in 0..1000u32 {
        let uuid = uuids[(rng.next() % uuids.len() as u64) as usize];
        let peer = Peer::Domain {
            uuid,
            kernel_hash: kernel,
        };
        let key = Zeroizing::new(vec![(i % 251) as u8; 52 + (i as usize % 13)]);
        let mut c = m.connect(peer);
        let t = Instant::now();
        let raw = m.handle(&mut c, &Request::SaveHashKey(key.clone()).encode());
        save_t.push(t.elapsed());
        Reply::parse(&Request::SaveHashKey(key.clone()), &raw).unwrap();
        let t = Instant::now();
        let raw = m.handle(&mut c, &Request::LoadHashKey.encode());
        load_t.push(t.elapsed());
        let Ok(Reply::HashKey(back)) = Reply::parse(&Request::LoadHashKey, &raw) else {
            panic!("load failed")
        };
        assert_eq!(back, key);
        m.disconnect(c);
    }
    drop(m);
    let (reopened, t_open) = start(&sw, &disk);

    println!(
        "vtpmmgr bench: swtpm 0.7 as the hardware TPM, image {}",
        disk.display()
    );
    stats("reference: swtpm TPM2_GetRandom round trip", rt);
    stats("reference: fdatasync of a file on that disk", sync);
    println!(
        "vTPMs stored: {} ({}), fill {:.1} s",
        uuids.len(),
        if full { "image full" } else { "target reached" },
        fill_time.as_secs_f64()
    );
    stats("VTPM_NEW (one commit each)", new_t);
    stats("SAVEHASHKEY (commit + NV increment)", save_t);
    stats("LOADHASHKEY", load_t);
    println!(
        "start + format a blank image: {:.1} ms",
        t_format.as_secs_f64() * 1e3
    );
    println!(
        "start + open the full image (TPM start, unseal, verify every sector): {:.1} ms",
        t_open.as_secs_f64() * 1e3
    );
    drop(reopened);
    drop(sw);
    let _ = std::fs::remove_dir_all(dir);
}

//! The `vtpm-domain` binary end to end: started on free loopback ports by each test, driven
//! with the project's host transports (`vtpm_tools::transport`), tpm2-tools and raw sockets,
//! and compared with a real swtpm 0.7.1. Nothing is skipped: a missing swtpm or tpm2-tools
//! fails the test with a message naming the package.
//!
//! Timeouts are generous and only bound a hang; no test asserts how long anything took.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tpm2::alg::TpmAlgId;
use tpm2::client::Client;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSu;
use tpm2::structures::{TpmlPcrSelection, TpmsPcrSelection};
use tpm2::transport::Transport;
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::{MssimTransport, PlatformSignal, SwtpmControl, SwtpmTransport};

const BIN: &str = env!("CARGO_BIN_EXE_vtpm-domain");
/// Bounds every wait for the server; only reached if something hangs.
const PATIENCE: Duration = Duration::from_secs(60);

const STARTUP_CLEAR: [u8; 12] = [0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0];
const STARTUP_STATE: [u8; 12] = [0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 1];
const SHUTDOWN_STATE: [u8; 12] = [0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x45, 0, 1];
const GET_RANDOM_8: [u8; 12] = [0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x7b, 0, 8];

/// A response carrying only `rc`.
fn rc_only(rc: u32) -> Vec<u8> {
    let mut v = vec![0x80, 1, 0, 0, 0, 10];
    v.extend_from_slice(&rc.to_be_bytes());
    v
}

fn rc_of(rsp: &[u8]) -> u32 {
    u32::from_be_bytes(rsp[6..10].try_into().unwrap())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh private directory.
fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("vtpm-serve-{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Two consecutive free loopback ports.
fn free_port_pair() -> u16 {
    for _ in 0..64 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < u16::MAX - 1 && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free loopback ports");
}

/// A running `vtpm-domain serve`, killed (by PID) when dropped.
struct Served {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `vtpm-domain serve --{proto}-tcp 127.0.0.1:PORT ARGS...` and waits for its
    /// `listening on` line. Retries on another port if the chosen one was taken meanwhile.
    fn start(proto: &str, args: &[&str]) -> Served {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(proto, args) {
                Ok(s) => return s,
                Err(log) if log.contains("cannot listen") => last = log,
                Err(log) => panic!("vtpm-domain did not start: {log}"),
            }
        }
        panic!("vtpm-domain could not bind: {last}");
    }

    fn try_start(proto: &str, args: &[&str]) -> Result<Served, String> {
        let port = free_port_pair();
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg(format!("--{proto}-tcp"))
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vtpm-domain");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut me = Served { child, port, log };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if me.log().contains(&format!("listening on 127.0.0.1:{port}")) {
                return Ok(me);
            }
            if let Some(status) = me.child.try_wait().unwrap() {
                // Let the reader thread collect the last lines.
                thread::sleep(Duration::from_millis(100));
                return Err(format!("exited ({status}): {}", me.log()));
            }
            assert!(
                Instant::now() < deadline,
                "no `listening on` line: {}",
                me.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn data(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn ctrl(&self) -> String {
        format!("127.0.0.1:{}", self.port + 1)
    }

    fn connect(&self) -> SwtpmTransport {
        SwtpmTransport::connect(&self.data()).unwrap()
    }

    fn raw(&self) -> TcpStream {
        raw_connect(&self.data())
    }

    /// Waits for the process to end by itself.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit: {}",
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL: a crash.
    fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM by PID.
    fn terminate(&self) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn raw_connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Runs the binary to completion (bounded) and returns its status and stderr.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("vtpm-domain {args:?} did not exit");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    (out.status, text)
}

/// One response read by its header.
fn read_response(s: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 10];
    s.read_exact(&mut h).unwrap();
    let size = u32::from_be_bytes(h[2..6].try_into().unwrap()) as usize;
    assert!((10..=4096).contains(&size), "response size {size}");
    let mut r = h.to_vec();
    r.resize(size, 0);
    s.read_exact(&mut r[10..]).unwrap();
    r
}

fn transact<T: Transport>(t: &mut T, cmd: &[u8]) -> Vec<u8>
where
    T::Error: std::fmt::Debug,
{
    let mut buf = [0u8; 4096];
    let n = t.transact(cmd, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Reads until the peer closes (EOF or reset); returns what arrived before.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read failed instead of a close: {e}"),
        }
    }
}

/// TPM2_PCR_Extend of a SHA-256 digest into `pcr`, with an empty password session.
fn pcr_extend_cmd(pcr: u32, digest: &[u8; 32]) -> Vec<u8> {
    let mut c = vec![0x80, 0x02, 0, 0, 0, 65, 0, 0, 0x01, 0x82];
    c.extend_from_slice(&pcr.to_be_bytes());
    c.extend_from_slice(&9u32.to_be_bytes());
    c.extend_from_slice(&[0x40, 0, 0, 0x09, 0, 0, 0x01, 0, 0]);
    c.extend_from_slice(&1u32.to_be_bytes());
    c.extend_from_slice(&0x000Bu16.to_be_bytes());
    c.extend_from_slice(digest);
    assert_eq!(c.len(), 65);
    c
}

/// The SHA-256 value of `pcr`.
fn pcr_value<T: Transport>(tpm: &mut Client<T>, pcr: u32) -> Vec<u8>
where
    T::Error: std::fmt::Debug + std::fmt::Display,
{
    let sel = TpmlPcrSelection::new(vec![
        TpmsPcrSelection::new(TpmAlgId::SHA256, &[pcr]).unwrap(),
    ])
    .unwrap();
    let r = tpm.pcr_read(sel).unwrap();
    r.pcr_values.as_slice()[0].as_bytes().to_vec()
}

fn tpm2_tool(tcti: &str, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new(tool)
        .args(args)
        .env("TPM2TOOLS_TCTI", tcti)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): install Debian's `tpm2-tools` package")
        })
}

#[test]
fn swtpm_data_channel_serves_tpm2_tools_and_clients() {
    let srv = Served::start("swtpm", &["--ephemeral"]);
    let tcti = format!("swtpm:host=127.0.0.1,port={}", srv.port);

    let out = tpm2_tool(&tcti, "tpm2_startup", &["-c"]);
    assert!(out.status.success(), "tpm2_startup: {out:?}");
    let out = tpm2_tool(&tcti, "tpm2_getrandom", &["--hex", "16"]);
    assert!(out.status.success(), "tpm2_getrandom: {out:?}");
    let hex = String::from_utf8(out.stdout).unwrap();
    assert_eq!(hex.trim().len(), 32, "{hex:?}");
    assert!(hex.trim().chars().all(|c| c.is_ascii_hexdigit()), "{hex:?}");

    // The project's client over the same data channel: the TPM is started already.
    let mut tpm = Client::new(srv.connect());
    assert_eq!(
        tpm.startup(TpmSu::CLEAR).unwrap_err().rc(),
        Some(TpmRc::INITIALIZE)
    );
    let a = tpm.get_random(16).unwrap();
    let b = tpm.get_random(16).unwrap();
    assert_eq!((a.len(), b.len()), (16, 16));
    assert_ne!(a, b);
    drop(tpm);

    // The mssim-style prefix on the data channel, answered size + response + 0.
    let mut s = srv.raw();
    let mut framed = 8u32.to_be_bytes().to_vec();
    framed.push(0);
    framed.extend_from_slice(&12u32.to_be_bytes());
    framed.extend_from_slice(&GET_RANDOM_8);
    s.write_all(&framed).unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    assert_eq!(u32::from_be_bytes(size), 20);
    let mut rsp = [0u8; 20];
    s.read_exact(&mut rsp).unwrap();
    assert_eq!(&rsp[..10], &[0x80, 1, 0, 0, 0, 20, 0, 0, 0, 0]);
    assert_eq!(&rsp[10..12], &[0, 8]);
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(ack, [0; 4]);
    drop(s);

    // SwtpmControl (the host tools' client of the control channel) next to a data client.
    let mut ctl = SwtpmControl::connect(&srv.ctrl()).unwrap();
    let mut t = srv.connect();
    assert_eq!(ctl.capabilities().unwrap(), 0xACEF);
    assert!(!ctl.tpm_established().unwrap());
    ctl.set_locality(3).unwrap();
    assert_eq!(rc_of(&transact(&mut t, &GET_RANDOM_8)), 0);
    ctl.set_locality(0).unwrap();
    ctl.stop().unwrap();
    assert_eq!(transact(&mut t, &GET_RANDOM_8), rc_only(0x101));
    ctl.init(false).unwrap();
    assert_eq!(transact(&mut t, &GET_RANDOM_8), rc_only(0x100));
    ctl.shutdown().unwrap();
    drop(srv);
}

/// Sends one control request and reads its reply by the layout of `code`.
fn ctrl_request(s: &mut TcpStream, code: u32, body: &[u8]) -> Vec<u8> {
    let mut msg = code.to_be_bytes().to_vec();
    msg.extend_from_slice(body);
    s.write_all(&msg).unwrap();
    let mut reply = vec![0u8; 4];
    s.read_exact(&mut reply).unwrap();
    let result = u32::from_be_bytes(reply[..4].try_into().unwrap());
    let extra = match code {
        0x01 => 4,
        0x04 | 0x0F if result == 0 => 4,
        0x11 if result == 0 => 12,
        _ => 0,
    };
    let mut more = vec![0u8; extra];
    s.read_exact(&mut more).unwrap();
    reply.extend_from_slice(&more);
    reply
}

fn data_exchange(addr: &str, bytes: &[u8], reply_len: usize) -> Vec<u8> {
    let mut s = raw_connect(addr);
    s.write_all(bytes).unwrap();
    let mut r = vec![0u8; reply_len];
    s.read_exact(&mut r).unwrap();
    r
}

#[test]
fn control_channel_matches_swtpm() {
    let sw = Swtpm::spawn(SwtpmOptions::default())
        .expect("swtpm must be installed (Debian packages `swtpm`, `swtpm-tools`)");
    let mut ours = Served::start("swtpm", &["--ephemeral"]);
    let targets = [
        ("swtpm 0.7.1", sw.ctrl_addr(), sw.data_addr()),
        ("vtpm-domain", ours.ctrl(), ours.data()),
    ];
    let u32b = |v: u32| v.to_be_bytes().to_vec();
    // (code, body) in order; every reply must be byte-identical between the two.
    let script: Vec<(u32, Vec<u8>)> = vec![
        (0x04, vec![]),
        (0x05, vec![0]),
        (0x05, vec![4]),
        (0x05, vec![5]),
        (0x05, vec![0xff]),
        (0x05, vec![1]),
        (0x09, vec![]),
        (0x0A, vec![]),
        (0x0B, vec![0]),
        (0x0B, vec![1]),
        (0x0B, vec![2]),
        (0x0B, vec![3]),
        (0x0B, vec![4]),
        (0x0B, vec![5]),
        (0x0F, vec![]),
        (0x11, u32b(0)),
        (0x11, u32b(3000)),
        (0x00, vec![]),
        (0x14, vec![]),
        (0x99, vec![]),
        (0xFFFF_FFFF, vec![]),
        (0x05, vec![0]),
        (0x0E, vec![]),
        // Stopped.
        (0x04, vec![]),
        (0x09, vec![]),
        (0x0A, vec![]),
        (0x0B, vec![3]),
        (0x05, vec![2]),
        (0x05, vec![0]),
        (0x0F, vec![]),
        (0x11, u32b(100)),
        (0x11, u32b(3000)),
        (0x11, u32b(9000)),
        (0x11, u32b(0)),
        (0x0E, vec![]),
    ];
    let mut replies: Vec<Vec<Vec<u8>>> = Vec::new();
    for (_, ctrl, data) in &targets {
        let mut s = raw_connect(ctrl);
        let mut r: Vec<Vec<u8>> = script
            .iter()
            .map(|(code, body)| ctrl_request(&mut s, *code, body))
            .collect();
        // The data channel while stopped: TPM_RC_FAILURE, raw and prefixed.
        r.push(data_exchange(data, &GET_RANDOM_8, 10));
        let mut framed = 8u32.to_be_bytes().to_vec();
        framed.extend_from_slice(&[0, 0, 0, 0, 12]);
        framed.extend_from_slice(&GET_RANDOM_8);
        r.push(data_exchange(data, &framed, 18));
        // CMD_INIT: powered on again, waiting for TPM2_Startup.
        r.push(ctrl_request(&mut s, 0x02, &[0, 0, 0, 0]));
        r.push(data_exchange(data, &GET_RANDOM_8, 10));
        r.push(data_exchange(data, &STARTUP_CLEAR, 10));
        r.push(data_exchange(data, &STARTUP_CLEAR, 10));
        // A raw command larger than the 4096-byte buffer: TPM_RC_COMMAND_SIZE first.
        let mut big = vec![0x80, 1, 0, 0, 0x13, 0x88, 0, 0, 1, 0x7b];
        big.resize(5000, 0);
        r.push(data_exchange(data, &big, 10));
        replies.push(r);
    }
    for (i, (a, b)) in replies[0].iter().zip(&replies[1]).enumerate() {
        let what = script.get(i).map_or_else(
            || format!("data/extra step {}", i - script.len()),
            |(c, body)| format!("control 0x{c:02x} {body:02x?}"),
        );
        assert_eq!(a, b, "{what}: swtpm {a:02x?}, vtpm-domain {b:02x?}");
    }
    assert_eq!(replies[0].len(), replies[1].len());
    // Spot-check a few against the values swtpm 0.7.1 is known to give.
    assert_eq!(replies[1][3], u32b(0x3d));
    assert_eq!(
        replies[1][15],
        [0u32, 4096, 2808, 4096]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>()
    );
    assert_eq!(replies[1][17], u32b(0x0a));

    // CMD_GET_CAPABILITY: ours reports exactly what it implements, a subset of swtpm's.
    let caps: Vec<u64> = targets
        .iter()
        .map(|(_, ctrl, _)| {
            let r = ctrl_request(&mut raw_connect(ctrl), 0x01, &[]);
            u64::from_be_bytes(r.try_into().unwrap())
        })
        .collect();
    assert_eq!(caps[0], 0xFFFF, "swtpm 0.7.1");
    assert_eq!(caps[1], 0xACEF);
    assert_eq!(caps[1] & !caps[0], 0);

    // CMD_SHUTDOWN: 0, then the process ends with status 0.
    let mut s = raw_connect(&ours.ctrl());
    assert_eq!(ctrl_request(&mut s, 0x03, &[]), u32b(0));
    assert!(ours.wait_exit().success());
    assert!(sw.shutdown().unwrap());
}

#[test]
fn mssim_ports_follow_the_simulator_protocol() {
    let mut srv = Served::start("mssim", &["--ephemeral"]);
    let mut sim = MssimTransport::connect("127.0.0.1", srv.port).unwrap();
    for s in [
        PlatformSignal::PowerOn,
        PlatformSignal::NvOn,
        PlatformSignal::PhysPresOn,
        PlatformSignal::PhysPresOff,
        PlatformSignal::CancelOn,
        PlatformSignal::CancelOff,
    ] {
        sim.signal(s).unwrap();
    }
    // POWER_ON on a running TPM changes nothing: it still waits for TPM2_Startup.
    assert_eq!(transact(&mut sim, &GET_RANDOM_8), rc_only(0x100));
    assert_eq!(transact(&mut sim, &STARTUP_CLEAR), rc_only(0));
    sim.set_locality(3);
    assert_eq!(rc_of(&transact(&mut sim, &GET_RANDOM_8)), 0);
    sim.set_locality(0);

    // Powered off: empty responses, framed as size 0 and a zero acknowledgement.
    sim.signal(PlatformSignal::PowerOff).unwrap();
    sim.end_session().unwrap();
    let mut s = raw_connect(&srv.data());
    let mut framed = 8u32.to_be_bytes().to_vec();
    framed.extend_from_slice(&[0, 0, 0, 0, 12]);
    framed.extend_from_slice(&GET_RANDOM_8);
    s.write_all(&framed).unwrap();
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [0; 8]);
    s.write_all(&20u32.to_be_bytes()).unwrap();
    assert!(read_to_close(&mut s).is_empty());

    // POWER_ON, RESET and RESTART are each a _TPM_Init.
    let mut sim = MssimTransport::connect("127.0.0.1", srv.port).unwrap();
    for signal in [
        PlatformSignal::PowerOn,
        PlatformSignal::Reset,
        PlatformSignal::Restart,
    ] {
        sim.signal(signal).unwrap();
        assert_eq!(
            transact(&mut sim, &GET_RANDOM_8),
            rc_only(0x100),
            "{signal:?}"
        );
        assert_eq!(transact(&mut sim, &STARTUP_CLEAR), rc_only(0), "{signal:?}");
    }
    sim.end_session().unwrap();

    // tpm2-tools over the mssim TCTI.
    let tcti = format!("mssim:host=127.0.0.1,port={}", srv.port);
    let out = tpm2_tool(&tcti, "tpm2_getrandom", &["--hex", "8"]);
    assert!(out.status.success(), "tpm2_getrandom: {out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim().len(), 16);

    // Unknown codes: platform port answers 1 and closes; command port just closes.
    let mut p = raw_connect(&srv.ctrl());
    p.write_all(&99u32.to_be_bytes()).unwrap();
    assert_eq!(read_to_close(&mut p), 1u32.to_be_bytes());
    let mut c = raw_connect(&srv.data());
    c.write_all(&99u32.to_be_bytes()).unwrap();
    assert!(read_to_close(&mut c).is_empty());

    // TPM_STOP on the platform port ends the process, status 0.
    let mut p = raw_connect(&srv.ctrl());
    p.write_all(&21u32.to_be_bytes()).unwrap();
    assert!(srv.wait_exit().success());
}

#[test]
fn broken_clients_do_not_break_the_server() {
    let srv = Served::start("swtpm", &["--ephemeral"]);

    // Half a TPM2_Startup, then gone: it must not have been executed.
    let mut s = srv.raw();
    s.write_all(&STARTUP_CLEAR[..6]).unwrap();
    s.shutdown(Shutdown::Both).unwrap();
    drop(s);
    let mut t = srv.connect();
    assert_eq!(transact(&mut t, &STARTUP_CLEAR), rc_only(0));
    drop(t);

    // Raw commands whose header size cannot be honoured: TPM_RC_COMMAND_SIZE, then a close.
    let mut oversize = vec![0x80, 1, 0, 0, 0x13, 0x88, 0, 0, 1, 0x7b];
    oversize.resize(5000, 0xAA);
    let mut huge_declared = vec![0x80, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0x7b];
    huge_declared.extend_from_slice(&[0; 2]);
    for bad in [
        oversize,
        huge_declared,
        vec![0x80, 1, 0, 0, 0, 3, 0, 0, 1, 0x7b],
        b"hello world!".to_vec(),
    ] {
        let mut s = srv.raw();
        s.write_all(&bad).unwrap();
        let got = read_to_close(&mut s);
        assert_eq!(got, rc_only(0x142), "for {:02x?}", &bad[..10]);
    }

    // Prefixed frame larger than the buffer: framed TPM_RC_COMMAND_SIZE, then a close.
    let mut s = srv.raw();
    let mut framed = 8u32.to_be_bytes().to_vec();
    framed.push(0);
    framed.extend_from_slice(&9000u32.to_be_bytes());
    s.write_all(&framed).unwrap();
    let mut expected = 10u32.to_be_bytes().to_vec();
    expected.extend_from_slice(&rc_only(0x142));
    expected.extend_from_slice(&[0; 4]);
    assert_eq!(read_to_close(&mut s), expected);

    // Prefixed frame whose header disagrees with the frame size: an error response, and the
    // connection keeps working.
    let mut s = srv.raw();
    let mut framed = 8u32.to_be_bytes().to_vec();
    framed.extend_from_slice(&[0, 0, 0, 0, 12]);
    let mut lying = GET_RANDOM_8;
    lying[5] = 20;
    framed.extend_from_slice(&lying);
    s.write_all(&framed).unwrap();
    let mut reply = vec![0u8; expected.len()];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, expected);
    let mut good = 8u32.to_be_bytes().to_vec();
    good.extend_from_slice(&[0, 0, 0, 0, 12]);
    good.extend_from_slice(&GET_RANDOM_8);
    s.write_all(&good).unwrap();
    let mut reply = vec![0u8; 4 + 20 + 4];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[..4], &20u32.to_be_bytes());
    assert_eq!(rc_of(&reply[4..]), 0);
    drop(s);

    // Well-formed garbage of a legal size gets an error response from the TPM itself.
    let mut t = srv.connect();
    let r = transact(
        &mut t,
        &[0x12, 0x34, 0, 0, 0, 12, 0xde, 0xad, 0xbe, 0xef, 0, 0],
    );
    assert_ne!(rc_of(&r), 0);
    drop(t);

    // And the TPM still works normally.
    let mut tpm = Client::new(srv.connect());
    assert_eq!(tpm.get_random(8).unwrap().len(), 8);
}

#[test]
fn idle_and_stalled_clients_yield_the_channel() {
    let srv = Served::start("swtpm", &["--ephemeral", "--startup-clear"]);

    // A client stalls mid-command while another waits: the staller gets TPM_RC_COMMAND_SIZE
    // and is disconnected, its half command is never run, the waiting client is served.
    let mut staller = srv.raw();
    staller
        .write_all(&pcr_extend_cmd(10, &[9; 32])[..40])
        .unwrap();
    let data = srv.data();
    let waiter = thread::spawn(move || {
        let mut s = raw_connect(&data);
        s.write_all(&GET_RANDOM_8).unwrap();
        read_response(&mut s)
    });
    assert_eq!(read_to_close(&mut staller), rc_only(0x142));
    let r = waiter.join().unwrap();
    assert_eq!(rc_of(&r), 0);

    // An idle client keeps the data channel only until someone else wants it.
    let mut idle = srv.raw();
    idle.write_all(&GET_RANDOM_8).unwrap();
    assert_eq!(rc_of(&read_response(&mut idle)), 0);
    // The control channel is served meanwhile (its own thread).
    let mut ctl = SwtpmControl::connect(&srv.ctrl()).unwrap();
    assert!(!ctl.tpm_established().unwrap());
    let mut next = srv.raw();
    next.write_all(&GET_RANDOM_8).unwrap();
    assert_eq!(rc_of(&read_response(&mut next)), 0);
    assert!(read_to_close(&mut idle).is_empty());

    // Same on the control channel: `ctl` is idle, a second client gets served.
    let mut ctl2 = raw_connect(&srv.ctrl());
    assert_eq!(ctrl_request(&mut ctl2, 0x04, &[]), vec![0; 8]);
    assert!(ctl.tpm_established().is_err());

    // The stalled PCR_Extend never ran.
    drop((idle, next));
    let mut tpm = Client::new(srv.connect());
    assert_eq!(pcr_value(&mut tpm, 10), vec![0u8; 32]);
}

fn keygen(dir: &Path) -> PathBuf {
    let key = dir.join("tpm.key");
    let (status, out) = run_to_exit(&["keygen", "--key-file", key.to_str().unwrap()]);
    assert!(status.success(), "{out}");
    let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    key
}

#[test]
fn state_persists_across_restarts() {
    let dir = temp_dir("persist");
    let key = keygen(&dir);
    let state = dir.join("tpm.state");
    let args = [
        "--state",
        state.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ];
    let digest = [0x5a; 32];
    let mut expected = [0u8; 32].to_vec();
    expected.extend_from_slice(&digest);
    let expected = Sha256::digest(&expected).to_vec();

    // First start: no file, a new TPM is manufactured and written at once.
    let mut srv = Served::start("swtpm", &args);
    assert!(
        srv.log().contains("manufactured a new TPM"),
        "{}",
        srv.log()
    );
    assert!(state.exists());
    let mut tpm = Client::new(srv.connect());
    tpm.startup(TpmSu::CLEAR).unwrap();
    let r = transact(tpm.transport_mut(), &pcr_extend_cmd(10, &digest));
    assert_eq!(rc_of(&r), 0, "PCR_Extend: {r:02x?}");
    assert_eq!(pcr_value(&mut tpm, 10), expected);
    assert_eq!(rc_of(&transact(tpm.transport_mut(), &SHUTDOWN_STATE)), 0);
    let mut ctl = SwtpmControl::connect(&srv.ctrl()).unwrap();
    assert_eq!(ctl.capabilities().unwrap(), 0xACEF);
    ctl.shutdown().unwrap();
    assert!(srv.wait_exit().success());
    drop(srv);

    // Restart: TPM2_Startup(STATE) resumes, the PCR kept its value.
    let srv = Served::start("swtpm", &args);
    assert!(!srv.log().contains("manufactured"), "{}", srv.log());
    let mut tpm = Client::new(srv.connect());
    assert_eq!(rc_of(&transact(tpm.transport_mut(), &STARTUP_STATE)), 0);
    assert_eq!(pcr_value(&mut tpm, 10), expected);
    // The state file is sealed: it does not contain the PCR value or its digest in clear.
    let blob = fs::read(&state).unwrap();
    assert_eq!(&blob[..8], b"VTPMSEAL");
    assert!(!blob.windows(32).any(|w| w == expected || w == digest));

    // Crash right after a TPM2_Shutdown(STATE) response: it was on disk before the response.
    assert_eq!(rc_of(&transact(tpm.transport_mut(), &SHUTDOWN_STATE)), 0);
    srv.crash();
    let srv = Served::start("swtpm", &args);
    let mut tpm = Client::new(srv.connect());
    assert_eq!(rc_of(&transact(tpm.transport_mut(), &STARTUP_STATE)), 0);
    assert_eq!(pcr_value(&mut tpm, 10), expected);

    // Crash without TPM2_Shutdown: no saved state to resume; Startup(CLEAR) resets PCR 10.
    srv.crash();
    let srv = Served::start("swtpm", &args);
    let mut tpm = Client::new(srv.connect());
    assert_ne!(rc_of(&transact(tpm.transport_mut(), &STARTUP_STATE)), 0);
    assert_eq!(rc_of(&transact(tpm.transport_mut(), &STARTUP_CLEAR)), 0);
    assert_eq!(pcr_value(&mut tpm, 10), vec![0u8; 32]);

    // Two servers on one state file: the second is refused.
    let second = run_to_exit(&[
        "serve",
        "--swtpm-tcp",
        &format!("127.0.0.1:{}", free_port_pair()),
        "--state",
        state.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert!(!second.0.success());
    assert!(second.1.contains("in use"), "{}", second.1);
    drop(srv);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_saves_and_shuts_down_orderly() {
    let dir = temp_dir("sigterm");
    let key = keygen(&dir);
    let state = dir.join("tpm.state");
    let args = [
        "--state",
        state.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ];
    let mut srv = Served::start("mssim", &args);
    let mut tpm = Client::new(MssimTransport::connect("127.0.0.1", srv.port).unwrap());
    tpm.startup(TpmSu::CLEAR).unwrap();
    let r = transact(tpm.transport_mut(), &pcr_extend_cmd(10, &[1; 32]));
    assert_eq!(rc_of(&r), 0);
    let before = pcr_value(&mut tpm, 10);
    drop(tpm);
    let generation = u64::from_be_bytes(fs::read(&state).unwrap()[12..20].try_into().unwrap());
    srv.terminate();
    assert!(srv.wait_exit().success(), "{}", srv.log());
    drop(srv);
    let after = u64::from_be_bytes(fs::read(&state).unwrap()[12..20].try_into().unwrap());
    assert!(after > generation, "{generation} -> {after}");

    // The server sent TPM2_Shutdown(STATE) itself: the TPM resumes.
    let srv = Served::start("mssim", &args);
    let mut tpm = Client::new(MssimTransport::connect("127.0.0.1", srv.port).unwrap());
    assert_eq!(rc_of(&transact(tpm.transport_mut(), &STARTUP_STATE)), 0);
    assert_eq!(pcr_value(&mut tpm, 10), before);
    drop(srv);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unusable_state_or_key_is_refused() {
    let dir = temp_dir("refuse");
    let key = keygen(&dir);
    let state = dir.join("tpm.state");
    let serve_args = |state: &Path, key: &Path| -> Vec<String> {
        vec![
            "serve".into(),
            "--swtpm-tcp".into(),
            format!("127.0.0.1:{}", free_port_pair()),
            "--state".into(),
            state.to_str().unwrap().into(),
            "--key-file".into(),
            key.to_str().unwrap().into(),
        ]
    };
    let run = |state: &Path, key: &Path| {
        let a = serve_args(state, key);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run_to_exit(&a)
    };
    // Make a valid state file.
    let mut srv = Served::start(
        "swtpm",
        &[
            "--state",
            state.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
    );
    SwtpmControl::connect(&srv.ctrl())
        .unwrap()
        .shutdown()
        .unwrap();
    assert!(srv.wait_exit().success());
    drop(srv);
    let good = fs::read(&state).unwrap();

    // Wrong key.
    let other = dir.join("other.key");
    fs::write(&other, [7u8; 32]).unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).unwrap();
    let (status, out) = run(&state, &other);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("does not authenticate"), "{out}");
    assert!(out.contains("Refusing to start"), "{out}");

    // Modified, truncated, replaced files: refused, and left as they were.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    let truncated = good[..good.len() - 1].to_vec();
    let mut version = good.clone();
    version[9] = 2;
    for (bytes, why) in [
        (flipped, "does not authenticate"),
        (truncated, "truncated"),
        (version, "version 2"),
        (b"something else entirely".to_vec(), "bad magic"),
        (Vec::new(), "truncated"),
    ] {
        fs::write(&state, &bytes).unwrap();
        let (status, out) = run(&state, &key);
        assert_eq!(status.code(), Some(1), "{why}: {out}");
        assert!(out.contains(why), "{why}: {out}");
        assert_eq!(fs::read(&state).unwrap(), bytes, "{why}: file changed");
    }
    fs::write(&state, &good).unwrap();

    // Key files: too open, wrong size, not hex, missing.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let (status, out) = run(&state, &key);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("chmod 600"), "{out}");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let odd = dir.join("odd.key");
    for contents in [&[1u8; 31][..], &[1u8; 33][..], &[b'g'; 64][..]] {
        fs::write(&odd, contents).unwrap();
        fs::set_permissions(&odd, fs::Permissions::from_mode(0o600)).unwrap();
        let (status, out) = run(&state, &odd);
        assert_eq!(status.code(), Some(1), "{out}");
        assert!(out.contains("key file"), "{out}");
    }
    let (status, out) = run(&state, &dir.join("missing.key"));
    assert_eq!(status.code(), Some(1), "{out}");

    // The good state and key still work.
    let srv = Served::start(
        "swtpm",
        &[
            "--state",
            state.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
    );
    let mut tpm = Client::new(srv.connect());
    tpm.startup(TpmSu::CLEAR).unwrap();
    drop(srv);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2_and_keygen_never_overwrites() {
    for bad in [
        &[][..],
        &["serve"],
        &["serve", "--ephemeral"],
        &["serve", "--swtpm-tcp", "127.0.0.1:1", "--state", "x"],
        &["serve", "--swtpm-tcp", "127.0.0.1:65535", "--ephemeral"],
        &["keygen"],
        &["bogus"],
    ] {
        let (status, out) = run_to_exit(bad);
        assert_eq!(status.code(), Some(2), "{bad:?}: {out}");
        assert!(out.contains("USAGE"), "{bad:?}: {out}");
    }
    let (status, out) = run_to_exit(&["--help"]);
    assert!(status.success());
    assert!(out.contains("vtpm-domain serve"), "{out}");

    let dir = temp_dir("keygen");
    let key = keygen(&dir);
    let first = fs::read(&key).unwrap();
    assert_eq!(first.len(), 65);
    let (status, out) = run_to_exit(&["keygen", "--key-file", key.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1), "{out}");
    assert_eq!(fs::read(&key).unwrap(), first);
    let key2 = dir.join("second.key");
    let (status, _) = run_to_exit(&["keygen", "--key-file", key2.to_str().unwrap()]);
    assert!(status.success());
    assert_ne!(fs::read(&key2).unwrap(), first);
    fs::remove_dir_all(&dir).unwrap();
}

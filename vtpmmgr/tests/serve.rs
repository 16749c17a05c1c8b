//! The `vtpmmgr` binary end to end: `vtpmmgr serve` on a swtpm, administered through
//! `vtpmctl`'s library over the administrator's socket, used by this test process as a vTPM
//! domain over the domain socket (so the kernel hash the manager measures is this test
//! binary's), stopped with SIGTERM and restarted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::cast_possible_truncation
)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{HwTpm, temp_dir};
use vtpmmgr::Uuid;
use vtpmmgr::protocol::client::Client;
use vtpmmgr::protocol::{Reply, ReplyError, Request, ReturnCode};
use zeroize::Zeroizing;

#[derive(Debug)]
struct Served {
    child: Child,
    admin: PathBuf,
    domains: PathBuf,
    log: mpsc::Receiver<String>,
}

fn serve(tpm: &HwTpm, dir: &Path, disk: &Path) -> Result<Served, String> {
    let domains = dir.join("domains.sock");
    let admin = dir.join("admin.sock");
    let port = tpm.swtpm.as_ref().unwrap().data_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtpmmgr"))
        .args([
            "serve",
            "--tpm",
            &format!("swtpm:127.0.0.1:{port}"),
            "--disk",
        ])
        .arg(disk)
        .arg("--listen")
        .arg(format!("unix:{}", domains.display()))
        .arg("--admin")
        .arg(format!("unix:{}", admin.display()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vtpmmgr");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[vtpmmgr] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("listening on") => break,
            Ok(line) => seen.push_str(&(line + "\n")),
            Err(_) => {
                let status = child.wait().expect("wait");
                return Err(format!(
                    "vtpmmgr exited ({status}) before listening:\n{seen}"
                ));
            }
        }
    }
    Ok(Served {
        child,
        admin,
        domains,
        log: rx,
    })
}

fn stop(mut s: Served) {
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = s.child.wait().unwrap();
    assert!(status.success(), "vtpmmgr exit status {status}");
    assert!(
        !s.admin.exists() && !s.domains.exists(),
        "sockets removed at exit"
    );
    drop(s.log);
}

fn vtpmctl(s: &Served, args: &[&str]) -> Result<String, String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let json = args.first().is_some_and(|a| a == "--json");
    vtpm_tools::mgr::run(&s.admin, json, &args[usize::from(json)..])
}

#[test]
fn serve_administer_restart() {
    let tpm = HwTpm::new("serve");
    let dir = temp_dir("serve");
    let disk = dir.join("mgr.img");
    let s = serve(&tpm, &dir, &disk).unwrap();

    let out = vtpmctl(&s, &["--json", "group", "new"]).unwrap();
    assert!(out.starts_with("{\"index\":0,\"uuid\":\""), "{out}");
    let me = std::env::current_exe().unwrap();
    let out = vtpmctl(
        &s,
        &[
            "group",
            "update",
            "0",
            "--seq",
            "1",
            "--kernel-file",
            me.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(out.contains("1 kernel hash(es) authorised"), "{out}");
    let uuid: Uuid = "6f2c1b9e-0d7a-4c55-9a43-3e1f0f6b2a10".parse().unwrap();
    assert_eq!(
        vtpmctl(&s, &["vtpm", "new", "0", &uuid.to_string()]).unwrap(),
        format!("{uuid}\n")
    );
    let listed = vtpmctl(&s, &["--json", "vtpm", "list", "0"]).unwrap();
    assert_eq!(
        listed,
        format!("{{\"group\":0,\"total\":1,\"vtpms\":[\"{uuid}\"]}}\n")
    );
    let shown = vtpmctl(&s, &["group", "show", "0"]).unwrap();
    assert!(shown.contains("vTPMs:           1"), "{shown}");
    assert!(
        vtpmctl(&s, &["group", "show", "7"])
            .unwrap_err()
            .contains("BADINDEX")
    );

    let key = Zeroizing::new(vec![0xa5u8; 64]);
    let mut d = Client::domain(&s.domains, uuid).unwrap();
    d.call(&Request::SaveHashKey(key.clone())).unwrap();
    let Reply::HashKey(k) = d.call(&Request::LoadHashKey).unwrap() else {
        panic!()
    };
    assert_eq!(k, key);
    let Reply::BootHash(h) = d.call(&Request::GetBootHash).unwrap() else {
        panic!()
    };
    assert_eq!(h, vtpm_tools::mgr::file_sha256(&me).unwrap());
    // Management is not served on the domain socket.
    assert!(matches!(
        d.call(&Request::GroupList),
        Err(vtpmmgr::protocol::client::ClientError::Reply(
            ReplyError::Refused(ReturnCode::AUTHFAIL)
        ))
    ));
    // An oversized message ends the connection with SIZE.
    let mut big = Request::GroupList.encode();
    big[2..6].copy_from_slice(&5000u32.to_be_bytes());
    assert_eq!(&d.exchange(&big).unwrap()[6..10], &0x17u32.to_be_bytes());
    drop(d);
    stop(s);

    // Restart: the same key comes back; another manager on the same sockets is refused.
    let s = serve(&tpm, &dir, &disk).unwrap();
    assert!(serve(&tpm, &dir, &disk).unwrap_err().contains("in use"));
    let mut d = Client::domain(&s.domains, uuid).unwrap();
    let Reply::HashKey(k) = d.call(&Request::LoadHashKey).unwrap() else {
        panic!()
    };
    assert_eq!(k, key);
    drop(d);
    stop(s);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_foreign_image_is_refused_untouched() {
    let tpm = HwTpm::new("foreign-img");
    let dir = temp_dir("foreign-img");
    let disk = dir.join("other.img");
    let garbage: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&disk, &garbage).unwrap();
    let err = serve(&tpm, &dir, &disk).unwrap_err();
    assert!(err.contains("exit status: 1"), "{err}");
    assert!(
        std::fs::read(&disk).unwrap() == garbage,
        "the image was modified"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

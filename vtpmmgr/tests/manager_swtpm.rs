//! The manager against a real swtpm as its hardware TPM: keys survive restarts of the manager
//! and of the TPM, another TPM cannot open the image, a rolled-back image is refused, the
//! permission rules hold, and quotes verify with tpm2-tools.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names,
    clippy::cast_possible_truncation
)]

mod support;

use std::process::Command;

use sha2::{Digest, Sha256};
use support::{HwTpm, KERNEL, admin, call, domain, start, temp_dir};
use vtpmmgr::Uuid;
use vtpmmgr::manager::{StartError, quote_qualifying_data};
use vtpmmgr::protocol::{self, Reply, ReplyError, Request, ReturnCode};
use vtpmmgr::store::StoreError;
use zeroize::Zeroizing;

fn key(seed: u8, len: usize) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        (0..len)
            .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
            .collect(),
    )
}

fn file_hash(p: &std::path::Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(p).unwrap()).into()
}

/// A group authorising [`KERNEL`] and three vTPMs.
fn provision(m: &mut support::Mgr) -> Vec<Uuid> {
    let mut a = admin(m);
    let Reply::GroupNew { index, .. } = call(m, &mut a, &Request::GroupNew).unwrap() else {
        panic!()
    };
    assert_eq!(index, 0);
    call(
        m,
        &mut a,
        &Request::GroupUpdate {
            group: 0,
            sequence: 1,
            kernels: vec![KERNEL],
        },
    )
    .unwrap();
    let mut uuids = Vec::new();
    for i in 0..3u8 {
        let want = Uuid([0x10 + i; 16]);
        let Reply::VtpmNew(u) = call(
            m,
            &mut a,
            &Request::VtpmNew {
                group: 0,
                uuid: Some(want),
            },
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(u, want);
        uuids.push(u);
    }
    m.disconnect(a);
    uuids
}

fn load(m: &mut support::Mgr, uuid: Uuid) -> Result<Zeroizing<Vec<u8>>, ReplyError> {
    let mut c = domain(m, uuid, KERNEL);
    let r = call(m, &mut c, &Request::LoadHashKey);
    m.disconnect(c);
    match r? {
        Reply::HashKey(k) => Ok(k),
        other => panic!("{other:?}"),
    }
}

fn save(m: &mut support::Mgr, uuid: Uuid, k: &Zeroizing<Vec<u8>>) {
    let mut c = domain(m, uuid, KERNEL);
    call(m, &mut c, &Request::SaveHashKey(k.clone())).unwrap();
    m.disconnect(c);
}

#[test]
fn keys_survive_restarts_of_the_manager_and_the_tpm() {
    let mut tpm = HwTpm::new("restart");
    let dir = temp_dir("restart");
    let disk = dir.join("mgr.img");
    let (mut m, report) = start(&tpm, &disk).unwrap();
    assert!(report.formatted);
    let uuids = provision(&mut m);
    // Never saved: 52 zero bytes, "start fresh".
    assert_eq!(*load(&mut m, uuids[0]).unwrap(), vec![0u8; 52]);
    let keys = [key(1, 52), key(2, 64), key(3, 60)];
    for (u, k) in uuids.iter().zip(&keys) {
        save(&mut m, *u, k);
        assert_eq!(load(&mut m, *u).unwrap(), *k);
    }
    drop(m);

    // Manager restart, same TPM power cycle.
    let (mut m, report) = start(&tpm, &disk).unwrap();
    assert!(!report.formatted);
    for (u, k) in uuids.iter().zip(&keys) {
        assert_eq!(load(&mut m, *u).unwrap(), *k);
    }
    drop(m);

    // TPM power cycle (same swtpm state), then the manager again.
    tpm.power_off();
    tpm.power_on();
    let (mut m, report) = start(&tpm, &disk).unwrap();
    assert!(!report.formatted);
    for (u, k) in uuids.iter().zip(&keys) {
        assert_eq!(load(&mut m, *u).unwrap(), *k, "{u}");
    }
    let mut a = admin(&mut m);
    let Reply::VtpmList {
        total,
        uuids: listed,
    } = call(
        &mut m,
        &mut a,
        &Request::VtpmList {
            group: 0,
            offset: 0,
        },
    )
    .unwrap()
    else {
        panic!()
    };
    assert_eq!((total, listed), (3, uuids.clone()));
    drop(m);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn another_tpm_cannot_open_the_image_and_nothing_is_written() {
    let tpm = HwTpm::new("owner");
    let dir = temp_dir("foreign");
    let disk = dir.join("mgr.img");
    let (mut m, _) = start(&tpm, &disk).unwrap();
    let uuids = provision(&mut m);
    save(&mut m, uuids[1], &key(9, 64));
    drop(m);
    let before = file_hash(&disk);

    let other = HwTpm::new("other");
    let err = start(&other, &disk).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StartError::Unseal(_)), "{msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    eprintln!("refusal: {msg}");
    assert_eq!(file_hash(&disk), before);

    // The rightful TPM still opens it.
    let (mut m, _) = start(&tpm, &disk).unwrap();
    assert_eq!(*load(&mut m, uuids[1]).unwrap(), *key(9, 64));
    drop(m);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_rolled_back_image_is_refused_through_the_nv_counter() {
    let tpm = HwTpm::new("rollback");
    let dir = temp_dir("rollback");
    let disk = dir.join("mgr.img");
    let (mut m, _) = start(&tpm, &disk).unwrap();
    let uuids = provision(&mut m);
    save(&mut m, uuids[0], &key(1, 52));
    drop(m);
    let old = std::fs::read(&disk).unwrap();

    let (mut m, _) = start(&tpm, &disk).unwrap();
    save(&mut m, uuids[0], &key(2, 52));
    drop(m);
    let newer = file_hash(&disk);

    std::fs::write(&disk, &old).unwrap();
    let err = start(&tpm, &disk).unwrap_err();
    eprintln!("refusal: {err}");
    assert!(
        matches!(err, StartError::Store(StoreError::RolledBack { .. })),
        "{err}"
    );
    assert_eq!(
        Sha256::digest(std::fs::read(&disk).unwrap()).as_slice(),
        &Sha256::digest(&old)[..]
    );
    let _ = newer;
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn permissions_hold_on_every_request() {
    let tpm = HwTpm::new("perm");
    let dir = temp_dir("perm");
    let (mut m, _) = start(&tpm, &dir.join("mgr.img")).unwrap();
    let uuids = provision(&mut m);
    let refused = |r: Result<Reply, ReplyError>| match r {
        Err(ReplyError::Refused(c)) => c,
        other => panic!("expected a refusal, got {other:?}"),
    };

    // Unknown UUID: refused, not created.
    let mut c = domain(&mut m, Uuid([0xee; 16]), KERNEL);
    assert_eq!(
        refused(call(&mut m, &mut c, &Request::SaveHashKey(key(1, 52)))),
        ReturnCode::BAD_PARAMETER
    );
    assert_eq!(
        refused(call(&mut m, &mut c, &Request::LoadHashKey)),
        ReturnCode::BAD_PARAMETER
    );
    m.disconnect(c);

    // An unauthorised kernel is refused every time, retries included (Xen §3.9).
    let mut bad = domain(&mut m, uuids[0], [0x66; 32]);
    for _ in 0..3 {
        assert_eq!(
            refused(call(&mut m, &mut bad, &Request::LoadHashKey)),
            ReturnCode::DISABLED
        );
        assert_eq!(
            refused(call(&mut m, &mut bad, &Request::SaveHashKey(key(5, 52)))),
            ReturnCode::DISABLED
        );
    }
    m.disconnect(bad);

    // One connection at a time per vTPM.
    let mut first = domain(&mut m, uuids[0], KERNEL);
    call(&mut m, &mut first, &Request::LoadHashKey).unwrap();
    let mut second = domain(&mut m, uuids[0], KERNEL);
    assert_eq!(
        refused(call(&mut m, &mut second, &Request::LoadHashKey)),
        ReturnCode::DISABLED
    );
    // Deleting an open vTPM is refused.
    let mut a = admin(&mut m);
    assert_eq!(
        refused(call(&mut m, &mut a, &Request::VtpmDel { uuid: uuids[0] })),
        ReturnCode::DISABLED
    );
    let Reply::Vtpm(info) = call(&mut m, &mut a, &Request::VtpmShow { uuid: uuids[0] }).unwrap()
    else {
        panic!()
    };
    assert!(info.open);
    m.disconnect(first);
    call(&mut m, &mut second, &Request::LoadHashKey).unwrap();
    m.disconnect(second);

    // Revoking the kernel hash takes effect on an open connection at once.
    let mut open = domain(&mut m, uuids[1], KERNEL);
    call(&mut m, &mut open, &Request::LoadHashKey).unwrap();
    call(
        &mut m,
        &mut a,
        &Request::GroupUpdate {
            group: 0,
            sequence: 2,
            kernels: vec![[0x77; 32]],
        },
    )
    .unwrap();
    assert_eq!(
        refused(call(&mut m, &mut open, &Request::LoadHashKey)),
        ReturnCode::DISABLED
    );
    m.disconnect(open);
    // An old kernel list cannot be replayed.
    assert_eq!(
        refused(call(
            &mut m,
            &mut a,
            &Request::GroupUpdate {
                group: 0,
                sequence: 2,
                kernels: vec![KERNEL],
            },
        )),
        ReturnCode::BAD_PARAMETER
    );

    // Management only on the administrator's channel, with Xen's 0x01C5 tag.
    let mut d = domain(&mut m, uuids[2], KERNEL);
    let raw = m.handle(&mut d, &Request::GroupList.encode());
    assert_eq!(raw, [0x01, 0xC5, 0, 0, 0, 10, 0, 0, 0, 1]);
    // And vTPM requests not on it.
    let raw = m.handle(&mut a, &Request::LoadHashKey.encode());
    assert_eq!(&raw[6..10], &1u32.to_be_bytes());
    // GET_QUOTE needs an opened vTPM.
    assert_eq!(
        refused(call(
            &mut m,
            &mut d,
            &Request::GetQuote {
                nonce: [0; 20],
                pcrs: 1,
                flags: 0
            }
        )),
        ReturnCode::BAD_PARAMETER
    );
    // Bad group indices.
    assert_eq!(
        refused(call(&mut m, &mut a, &Request::GroupShow { group: 1 })),
        ReturnCode::BADINDEX
    );
    assert_eq!(
        refused(call(&mut m, &mut a, &Request::GroupDel { group: 0 })),
        ReturnCode::FAIL,
        "a group with vTPMs is not deleted"
    );
    // Duplicate UUIDs.
    assert_eq!(
        refused(call(
            &mut m,
            &mut a,
            &Request::VtpmNew {
                group: 0,
                uuid: Some(uuids[2])
            }
        )),
        ReturnCode::BAD_PARAMETER
    );
    // Pass-through on the administrator's channel: refused with the pass-through answer tag.
    let raw = m.handle(&mut a, &Request::GetRandom { count: 4 }.encode());
    assert_eq!(raw, [0x00, 0xC4, 0, 0, 0, 10, 0, 0, 0, 1]);
    // Pass-through GetRandom works for domains, others are disabled.
    let Reply::Random(r) = call(&mut m, &mut d, &Request::GetRandom { count: 16 }).unwrap() else {
        panic!()
    };
    assert!(!r.is_empty() && r.len() <= 16);
    let raw = m.handle(&mut d, &[0x00, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x15]);
    assert_eq!(raw, [0x00, 0xC4, 0, 0, 0, 10, 0, 0, 0, 8]);
    drop(m);
    std::fs::remove_dir_all(dir).unwrap();
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn tpm2b(b: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(b.len()).unwrap().to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

#[test]
fn quotes_verify_with_tpm2_checkquote() {
    assert!(
        Command::new("tpm2_checkquote")
            .arg("--version")
            .output()
            .is_ok(),
        "tpm2-tools is not installed (Debian package `tpm2-tools`; `cargo xtask deps`)"
    );
    let tpm = HwTpm::new("quote");
    let dir = temp_dir("quote");
    let (mut m, _) = start(&tpm, &dir.join("mgr.img")).unwrap();
    let uuids = provision(&mut m);
    let mut a = admin(&mut m);
    let Reply::Group(g) = call(&mut m, &mut a, &Request::GroupShow { group: 0 }).unwrap() else {
        panic!()
    };
    let mut d = domain(&mut m, uuids[0], KERNEL);
    call(&mut m, &mut d, &Request::LoadHashKey).unwrap();
    let nonce = [0x5a; 20];
    let flags = protocol::QUOTE_HASH_UUID
        | protocol::QUOTE_VTPM_MEASUREMENTS
        | protocol::QUOTE_GROUP_INFO
        | protocol::QUOTE_GROUP_PUBKEY;
    let pcrs = 0b1001_0001; // PCRs 0, 4, 7
    let Reply::Quote(q) = call(&mut m, &mut d, &Request::GetQuote { nonce, pcrs, flags }).unwrap()
    else {
        panic!()
    };
    assert_eq!(q.hashes.len(), 4);
    assert_eq!(q.hashes[0], <[u8; 32]>::from(Sha256::digest(uuids[0].0)));
    assert_eq!(q.hashes[1], <[u8; 32]>::from(Sha256::digest(KERNEL)));
    assert_eq!(q.hashes[3], <[u8; 32]>::from(Sha256::digest(&g.ak_public)));
    assert_eq!(q.pcr_values.len(), 3);
    let qualifying = quote_qualifying_data(flags, &nonce, &q.hashes);

    std::fs::write(dir.join("ak.pub"), tpm2b(&g.ak_public)).unwrap();
    std::fs::write(dir.join("attest"), &q.attest).unwrap();
    std::fs::write(dir.join("sig"), &q.signature).unwrap();
    // PCR values without their selection (as `tpm2_pcrread -o` writes them), selected by -l.
    std::fs::write(dir.join("pcrs"), q.pcr_values.concat()).unwrap();
    let check = |qual: &[u8]| {
        Command::new("tpm2_checkquote")
            .current_dir(&dir)
            .args(["-u", "ak.pub", "-m", "attest", "-s", "sig", "-g", "sha256"])
            .args(["-f", "pcrs", "-l", "sha256:0,4,7", "-q"])
            .arg(hex(qual))
            .output()
            .unwrap()
    };
    let ok = check(&qualifying);
    assert!(
        ok.status.success(),
        "tpm2_checkquote rejected the quote: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let mut wrong = qualifying;
    wrong[0] ^= 1;
    assert!(
        !check(&wrong).status.success(),
        "a different qualifying data must fail"
    );
    drop(m);
    std::fs::remove_dir_all(dir).unwrap();
}

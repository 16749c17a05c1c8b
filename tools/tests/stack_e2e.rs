//! The Xen design end to end in hosted mode: the manager on swtpm as its hardware TPM, the three
//! vTPM domains and three guests of `config/examples/`, every guest reaching its vTPM over
//! tpmif and every vTPM reaching the manager over tpmif.
//!
//! Each guest extends and reads a PCR, creates a persistent signing key and signs; the whole
//! stack (swtpm included: a power cycle of the "hardware") restarts; every guest then finds its
//! own key — the same Name, and its new signature verifies with the public key from before —
//! while its PCRs were reset by the new TPM2_Startup(CLEAR). A domain that is not a guest's
//! cannot read that guest's device, its vTPM's backend directory, map its page or bind its
//! event channel.
//!
//! The binaries come from the same target directory: `cargo test --workspace` builds them.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use vtpm_tools::attest;
use vtpm_tools::stack::ops::{self, SIGNING_HANDLE};
use vtpm_tools::stack::{GUEST_LABEL, HwTpm, Stack, StackOptions};
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions, swtpm_installed};
use vtpm_tools::transport::TpmSpec;
use xen::hosted::HostedPlatform;
use xen::platform::{GrantRef, Platform, Port, XenError};
use xen::xenbus;

/// The PCR each guest extends (a debug PCR, resettable, not used by boot measurement).
const PCR: u32 = 16;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    v.sort();
    v
}

fn scratch(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let d = std::env::temp_dir().join(format!("vtpm-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn say(s: &str) {
    eprintln!("{s}");
}

/// What a guest created before the restart.
struct Before {
    name: String,
    public: tpm2::structures::TpmtPublic,
    key_name: Vec<u8>,
}

#[test]
fn three_guests_keep_their_own_state_across_a_full_restart() {
    assert!(
        swtpm_installed(),
        "swtpm is not installed: this test needs it as the hardware TPM (`cargo xtask deps`)"
    );
    let t0 = Instant::now();
    let dir = scratch("e2e");
    let swtpm_state = dir.join("swtpm");
    std::fs::create_dir_all(&swtpm_state).unwrap();
    let hw = Swtpm::spawn_on_state(SwtpmOptions::default(), &swtpm_state).unwrap();
    let opts = |port: u16| StackOptions {
        run_dir: dir.join("run"),
        tpm: HwTpm::Spec(TpmSpec::Swtpm {
            host: "127.0.0.1".into(),
            port,
        }),
        configs: examples(),
        progress: &say,
    };
    let mut stack = Stack::up(&opts(hw.data_port())).unwrap();
    assert_eq!(stack.vtpms.len(), 3);
    assert_eq!(stack.guests.len(), 3);
    let names: Vec<String> = stack.guests.iter().map(|g| g.name.clone()).collect();

    let mut before = Vec::new();
    for name in &names {
        let tpm = stack.guest(name).unwrap();
        ops::startup_clear(tpm).unwrap();
        // Extend and read back.
        let d: [u8; 32] = Sha256::digest(name.as_bytes()).into();
        ops::pcr_extend_sha256(tpm, PCR, &d).unwrap();
        let expected: [u8; 32] = Sha256::new()
            .chain_update([0u8; 32])
            .chain_update(d)
            .finalize()
            .into();
        assert_eq!(
            ops::pcr_read_sha256(tpm, &[PCR]).unwrap(),
            vec![expected.to_vec()],
            "{name}: PCR {PCR} after one extend"
        );
        // Create and persist a key; sign with it.
        let (public, key_name, created) =
            ops::ensure_persistent_key(tpm, SIGNING_HANDLE, &ops::signing_template(false)).unwrap();
        assert!(created, "{name}: a key was already there on a fresh stack");
        let msg = format!("signed by {name} before the restart");
        let sig = ops::sign(tpm, SIGNING_HANDLE, &Sha256::digest(msg.as_bytes()).into()).unwrap();
        attest::verify_signature(&public, msg.as_bytes(), &sig).unwrap();
        before.push(Before {
            name: name.clone(),
            public,
            key_name,
        });
    }
    // Three vTPMs, three different keys.
    for (i, a) in before.iter().enumerate() {
        for b in &before[i + 1..] {
            assert_ne!(
                a.key_name, b.key_name,
                "{} and {} share a key",
                a.name, b.name
            );
        }
    }

    isolation(&stack);

    let unclean = stack.down(&say).unwrap();
    assert!(unclean.is_empty(), "had to kill {unclean:?}");
    // Power-cycle the hardware TPM too: a whole-host restart.
    assert!(hw.shutdown().unwrap(), "swtpm did not stop cleanly");
    let hw = Swtpm::spawn_on_state(SwtpmOptions::default(), &swtpm_state).unwrap();
    let mut stack = Stack::up(&opts(hw.data_port())).unwrap();

    for b in &before {
        let tpm = stack.guest(&b.name).unwrap();
        ops::startup_clear(tpm).unwrap();
        assert_eq!(
            ops::pcr_read_sha256(tpm, &[PCR]).unwrap(),
            vec![vec![0u8; 32]],
            "{}: PCR {PCR} not reset by Startup(CLEAR)",
            b.name
        );
        let (_, key_name) = ops::read_public(tpm, SIGNING_HANDLE)
            .unwrap()
            .unwrap_or_else(|| panic!("{}: its key is gone after the restart", b.name));
        assert_eq!(
            key_name, b.key_name,
            "{}: another key after the restart",
            b.name
        );
        let msg = format!("signed by {} after the restart", b.name);
        let sig = ops::sign(tpm, SIGNING_HANDLE, &Sha256::digest(msg.as_bytes()).into()).unwrap();
        attest::verify_signature(&b.public, msg.as_bytes(), &sig).unwrap_or_else(|e| {
            panic!(
                "{}: the old public key refuses the new signature: {e}",
                b.name
            )
        });
        // Another guest's public key refuses it: the key really is this guest's own.
        let other = before.iter().find(|o| o.name != b.name).unwrap();
        assert!(attest::verify_signature(&other.public, msg.as_bytes(), &sig).is_err());
    }
    let unclean = stack.down(&say).unwrap();
    assert!(unclean.is_empty(), "had to kill {unclean:?}");
    drop(hw);
    eprintln!(
        "end to end: 3 guests, 2 stack starts, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A domain that is not guest1 tries to reach guest1's link and its vTPM's backend.
fn isolation(stack: &Stack) {
    let launcher = stack.launcher();
    let mut dom0 = launcher.dom0();
    let g1 = &stack.guests[0];
    let v1 = stack.vtpms.iter().find(|v| v.name == g1.vtpm).unwrap();
    let fe = xenbus::frontend_path(g1.domid, 0);
    let be = xenbus::backend_path(v1.domid, g1.domid, 0);
    let ring: u32 = dom0
        .read(&format!("{fe}/ring-ref"))
        .unwrap()
        .expect("guest1 is connected")
        .parse()
        .unwrap();
    let port: u32 = dom0
        .read(&format!("{fe}/event-channel"))
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();

    let (_, cred) = launcher.create_domain(GUEST_LABEL).unwrap();
    let mut intruder = HostedPlatform::connect(&cred).unwrap();
    for path in [
        format!("{fe}/ring-ref"),
        format!("{be}/uuid"),
        format!("{be}/frontend"),
    ] {
        assert!(
            matches!(intruder.read(&path), Err(XenError::Denied(_))),
            "another domain read {path}"
        );
    }
    assert!(
        matches!(
            intruder.write(
                &format!("{be}/uuid"),
                "00000000-0000-0000-0000-000000000000"
            ),
            Err(XenError::Denied(_))
        ),
        "another domain rewrote the vTPM's uuid key"
    );
    assert!(
        intruder.map_page(g1.domid, GrantRef(ring)).is_err(),
        "another domain mapped guest1's page"
    );
    assert!(
        intruder.bind_interdomain(g1.domid, Port(port)).is_err(),
        "another domain bound guest1's event channel"
    );
    // The manager's side: the vTPM domain's device towards the manager is the manager's and
    // that vTPM domain's business only.
    let mgr_be = xenbus::backend_path(stack.manager_domid, v1.domid, 0);
    assert!(matches!(
        intruder.read(&format!("{mgr_be}/uuid")),
        Err(XenError::Denied(_))
    ));
}

/// The manager dies while guests run: a guest's durable change is refused with
/// TPM_RC_NV_UNAVAILABLE (never acknowledged and then lost), reads still work, and after a
/// restart the vTPM holds exactly what was acknowledged.
#[test]
fn losing_the_manager_is_a_clear_error_never_a_silent_loss() {
    let dir = scratch("mgr-loss");
    let opts = StackOptions {
        run_dir: dir.join("run"),
        tpm: HwTpm::Engine,
        configs: examples(),
        progress: &say,
    };
    let mut stack = Stack::up(&opts).unwrap();
    let name = stack.guests[0].name.clone();
    let tpm = stack.guest(&name).unwrap();
    ops::startup_clear(tpm).unwrap();
    ops::nv_ensure(tpm, ops::NV_INDEX).unwrap();
    ops::nv_write(tpm, ops::NV_INDEX, b"acknowledged").unwrap();

    let pid = stack.manager_pid().expect("the manager runs");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The launcher sees the manager's connection drop and destroys its domain; the vTPM's
    // tpmfront then finds its backend gone.
    std::thread::sleep(std::time::Duration::from_millis(300));

    let tpm = stack.guest(&name).unwrap();
    let err = ops::nv_write(tpm, ops::NV_INDEX, b"never saved!").unwrap_err();
    assert!(
        err.rc == Some(0x923),
        "a durable change without the manager must be refused with TPM_RC_NV_UNAVAILABLE: {err}"
    );
    // Reads do not need the manager.
    assert_eq!(
        &ops::nv_read(tpm, ops::NV_INDEX, 12).unwrap(),
        b"acknowledged"
    );
    assert_eq!(ops::pcr_read_sha256(tpm, &[PCR]).unwrap().len(), 1);

    let unclean = stack.down(&say).unwrap();
    assert!(unclean.contains(&"manager".to_string()), "{unclean:?}");
    let mut stack = Stack::up(&opts).unwrap();
    let tpm = stack.guest(&name).unwrap();
    ops::startup_clear(tpm).unwrap();
    assert_eq!(
        &ops::nv_read(tpm, ops::NV_INDEX, 12).unwrap(),
        b"acknowledged",
        "after the restart the vTPM holds what was acknowledged"
    );
    let unclean = stack.down(&say).unwrap();
    assert!(unclean.is_empty(), "had to kill {unclean:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

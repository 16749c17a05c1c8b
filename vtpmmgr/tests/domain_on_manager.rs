//! vTPM domains ([`vtpm_domain::domain::Domain`]) on the real manager, in process: the manager
//! runs on the project's engine as its hardware TPM (as in `manager_on_engine.rs`), each domain
//! reaches it through a [`ManagerLink`] that calls [`Manager::handle`] on its own connection.
//! First boot, restart, crash between the slot write and SAVEHASHKEY, a swapped or rolled-back
//! image, and two domains on one manager.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Instant;

use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::structures::Tpm2bAuth;
use vtpm_domain::domain::{
    Domain, DomainError, DomainOptions, LinkError, ManagerLink, StartOutcome, StartReport,
    TPM_RC_NV_UNAVAILABLE,
};
use vtpm_domain::engine::Engine;
use vtpm_domain::image::{ImageError, SlotState};
use vtpmmgr::Uuid;
use vtpmmgr::manager::{Connection, Manager, ManagerConfig, Peer};
use vtpmmgr::protocol::{Reply, Request};
use vtpmmgr::seams::MemDevice;

mod engine_hw;

use engine_hw::{InProcess, platform};

type Mgr = Manager<InProcess, MemDevice>;
type Shared = Rc<RefCell<Mgr>>;

const KERNEL: [u8; 32] = [0x4b; 32];
const A: Uuid = Uuid([0xA1; 16]);
const B: Uuid = Uuid([0xB2; 16]);

fn log(args: fmt::Arguments<'_>) {
    eprintln!("vtpmmgr: {args}");
}

/// A manager on a blank image, its hardware TPM our engine manufactured from `seed`.
fn blank_manager(seed: u64) -> Mgr {
    let mut e = Engine::manufacture(platform(seed));
    e.power_on();
    let (m, _) = Manager::start(
        InProcess(e),
        MemDevice::new(vtpmmgr::seams::SECTOR_COUNT),
        ManagerConfig::default(),
        b"entropy",
        log,
    )
    .expect("manager start");
    m
}

/// A manager with one group authorising [`KERNEL`] and the vTPMs `A` and `B` registered.
fn manager() -> Shared {
    let mut m = blank_manager(7);
    let mut admin = |req: Request| {
        let mut c = m.connect(Peer::Admin);
        let raw = m.handle(&mut c, &req.encode());
        m.disconnect(c);
        Reply::parse(&req, &raw).expect("admin request")
    };
    admin(Request::GroupNew);
    admin(Request::GroupUpdate {
        group: 0,
        sequence: 1,
        kernels: vec![KERNEL],
    });
    for uuid in [A, B] {
        admin(Request::VtpmNew {
            group: 0,
            uuid: Some(uuid),
        });
    }
    Rc::new(RefCell::new(m))
}

/// What the link does with the next SAVEHASHKEY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    No,
    /// The process dies after writing the slot, before SAVEHASHKEY leaves.
    BeforeSave,
    /// The process dies after the manager recorded SAVEHASHKEY, before the answer arrives.
    AfterSave,
}

/// A domain's connection to the in-process manager.
struct MgrLink {
    mgr: Shared,
    conn: Option<Connection>,
    crash: Crash,
}

impl MgrLink {
    fn new(mgr: &Shared, uuid: Uuid) -> MgrLink {
        let conn = mgr.borrow_mut().connect(Peer::Domain {
            uuid,
            kernel_hash: KERNEL,
        });
        MgrLink {
            mgr: Rc::clone(mgr),
            conn: Some(conn),
            crash: Crash::No,
        }
    }
}

impl ManagerLink for MgrLink {
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        let is_save = matches!(Request::parse(request), Ok(Request::SaveHashKey(_)));
        if is_save && self.crash == Crash::BeforeSave {
            return Err(LinkError::NotSent("crashed".into()));
        }
        let conn = self.conn.as_mut().expect("connected");
        let answer = self.mgr.borrow_mut().handle(conn, request);
        if is_save && self.crash == Crash::AfterSave {
            return Err(LinkError::NoAnswer("crashed".into()));
        }
        Ok(answer)
    }
}

impl Drop for MgrLink {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.mgr.borrow_mut().disconnect(c);
        }
    }
}

type Dom<'a> = Domain<MgrLink, &'a mut MemDevice>;

fn start<'a>(
    mgr: &Shared,
    uuid: Uuid,
    dev: &'a mut MemDevice,
    seed: u64,
) -> Result<(Dom<'a>, StartReport), DomainError> {
    Domain::start(
        MgrLink::new(mgr, uuid),
        dev,
        platform(seed),
        DomainOptions::default(),
    )
}

fn rc(rsp: &[u8]) -> u32 {
    u32::from_be_bytes(rsp[6..10].try_into().unwrap())
}

fn pw() -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::empty())
}

fn run(d: &mut Dom<'_>, cc: TpmCc, handles: &[TpmHandle], auth: bool, params: &[u8]) -> Vec<u8> {
    let sessions = if auth { vec![pw()] } else { vec![] };
    let cmd = build_command(cc, handles, &sessions, params).unwrap();
    d.execute(0, &cmd)
}

fn ok(d: &mut Dom<'_>, cc: TpmCc, handles: &[TpmHandle], auth: bool, params: &[u8]) -> Vec<u8> {
    let rsp = run(d, cc, handles, auth, params);
    assert_eq!(rc(&rsp), 0, "{cc} failed: {rsp:02x?}");
    rsp
}

fn startup(d: &mut Dom<'_>, state: bool) {
    ok(d, TpmCc::STARTUP, &[], false, &[0, u8::from(state)]);
}

fn shutdown_state(d: &mut Dom<'_>) {
    ok(d, TpmCc::SHUTDOWN, &[], false, &[0, 1]);
}

fn extend_pcr7(d: &mut Dom<'_>, byte: u8) {
    let mut p = vec![0, 0, 0, 1, 0, 0x0B];
    p.extend_from_slice(&[byte; 32]);
    ok(d, TpmCc::PCR_EXTEND, &[TpmHandle(7)], true, &p);
}

fn pcr7(d: &mut Dom<'_>) -> Vec<u8> {
    let rsp = ok(
        d,
        TpmCc::PCR_READ,
        &[],
        false,
        &[0, 0, 0, 1, 0, 0x0B, 3, 0x80, 0, 0],
    );
    rsp[rsp.len() - 32..].to_vec()
}

/// An ECC P-256 restricted decryption (storage) primary under the owner hierarchy; returns
/// its transient handle.
fn create_primary(d: &mut Dom<'_>) -> TpmHandle {
    let mut public = Vec::new();
    public.extend_from_slice(&0x0023u16.to_be_bytes()); // TPM_ALG_ECC
    public.extend_from_slice(&0x000Bu16.to_be_bytes()); // SHA-256
    public.extend_from_slice(&0x0003_0072u32.to_be_bytes()); // fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|decrypt
    public.extend_from_slice(&[0, 0]); // authPolicy
    public.extend_from_slice(&[0x00, 0x06, 0x00, 0x80, 0x00, 0x43]); // AES-128-CFB
    public.extend_from_slice(&[0x00, 0x10]); // scheme NULL
    public.extend_from_slice(&[0x00, 0x03]); // NIST P-256
    public.extend_from_slice(&[0x00, 0x10]); // kdf NULL
    public.extend_from_slice(&[0, 0, 0, 0]); // unique x, y empty
    let mut p = vec![0, 4, 0, 0, 0, 0]; // inSensitive: empty auth and data
    p.extend_from_slice(&u16::try_from(public.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&public);
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // outsideInfo, creationPCR
    let rsp = ok(d, TpmCc::CREATE_PRIMARY, &[TpmHandle::OWNER], true, &p);
    TpmHandle(u32::from_be_bytes(rsp[10..14].try_into().unwrap()))
}

const PERSISTENT: u32 = 0x8100_0001;

fn persist(d: &mut Dom<'_>, object: TpmHandle) -> Vec<u8> {
    run(
        d,
        TpmCc::EVICT_CONTROL,
        &[TpmHandle::OWNER, object],
        true,
        &PERSISTENT.to_be_bytes(),
    )
}

/// TPM2_EvictControl removing the persistent key.
fn evict(d: &mut Dom<'_>) -> Vec<u8> {
    run(
        d,
        TpmCc::EVICT_CONTROL,
        &[TpmHandle::OWNER, TpmHandle(PERSISTENT)],
        true,
        &PERSISTENT.to_be_bytes(),
    )
}

/// The persistent handles (TPM2_GetCapability(TPM_CAP_HANDLES, 0x81000000)).
fn persistent_handles(d: &mut Dom<'_>) -> Vec<u32> {
    let mut p = Vec::new();
    for v in [1u32, 0x8100_0000, 32] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    let rsp = ok(d, TpmCc::GET_CAPABILITY, &[], false, &p);
    let n = u32::from_be_bytes(rsp[15..19].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| u32::from_be_bytes(rsp[19 + 4 * i..23 + 4 * i].try_into().unwrap()))
        .collect()
}

#[test]
fn first_boot_restart_and_crashes() {
    let t0 = Instant::now();
    let mgr = manager();
    let mut dev = MemDevice::new(512);

    // First boot: a new TPM; a PCR extended and a key made persistent.
    let (mut d, report) = start(&mgr, A, &mut dev, 11).unwrap();
    assert_eq!(report.outcome, StartOutcome::FirstBoot);
    startup(&mut d, false);
    extend_pcr7(&mut d, 1);
    let pcr = pcr7(&mut d);
    let primary = create_primary(&mut d);
    assert_eq!(rc(&persist(&mut d, primary)), 0);
    shutdown_state(&mut d);
    let (_, _, r) = d.shutdown();
    r.unwrap();
    eprintln!("first boot: {:?}", t0.elapsed());

    // A new process on the same image: the key, and (after Startup(STATE)) the PCR, are back.
    let (mut d, report) = start(&mgr, A, &mut dev, 12).unwrap();
    let StartOutcome::Loaded { generation, .. } = report.outcome else {
        panic!("{report:?}")
    };
    assert!(generation >= 4, "{report:?}");
    startup(&mut d, true);
    assert_eq!(persistent_handles(&mut d), vec![PERSISTENT]);
    assert_eq!(pcr7(&mut d), pcr);

    // Crash after the slot was written, before SAVEHASHKEY: the change is lost, the previous
    // state loads.
    d.link_mut().crash = Crash::BeforeSave;
    let writes = d.image().device().writes();
    let rsp = evict(&mut d);
    assert_eq!(
        rc(&rsp),
        TPM_RC_NV_UNAVAILABLE,
        "removing the key could not be saved"
    );
    assert!(d.image().device().writes() > writes, "the slot was written");
    drop(d);
    let (mut d, _) = start(&mgr, A, &mut dev, 13).unwrap();
    startup(&mut d, false);
    assert_eq!(
        persistent_handles(&mut d),
        vec![PERSISTENT],
        "previous state"
    );

    // Crash after the manager recorded SAVEHASHKEY: the new state loads.
    d.link_mut().crash = Crash::AfterSave;
    let rsp = evict(&mut d);
    assert_eq!(rc(&rsp), TPM_RC_NV_UNAVAILABLE);
    drop(d);
    let (mut d, _) = start(&mgr, A, &mut dev, 14).unwrap();
    startup(&mut d, false);
    assert!(
        persistent_handles(&mut d).is_empty(),
        "the manager's record is authoritative"
    );
    drop(d);
    eprintln!("whole test: {:?}", t0.elapsed());
}

#[test]
fn swapped_and_rolled_back_images_are_refused() {
    let mgr = manager();
    let mut a = MemDevice::new(512);
    let mut b = MemDevice::new(512);
    let (mut d, _) = start(&mgr, A, &mut a, 21).unwrap();
    startup(&mut d, false);
    drop(d);
    let (mut d, _) = start(&mgr, B, &mut b, 22).unwrap();
    startup(&mut d, false);
    drop(d);
    let old_a = a.clone();
    let (mut d, _) = start(&mgr, A, &mut a, 23).unwrap();
    startup(&mut d, false);
    let primary = create_primary(&mut d);
    assert_eq!(rc(&persist(&mut d, primary)), 0);
    drop(d);

    // B's image under A's UUID, and A's image rolled back to before the key.
    let mut swapped = b.clone();
    let mut rolled_back = old_a;
    for dev in [&mut swapped, &mut rolled_back] {
        dev.reset_counts();
        let e = start(&mgr, A, dev, 24).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                DomainError::Image(ImageError::NoMatchingSlot([
                    SlotState::Valid { .. },
                    SlotState::Valid { .. }
                ]))
            ),
            "{e:?}"
        );
        assert!(msg.contains("replaced, corrupted or rolled back"), "{msg}");
        assert_eq!(dev.writes(), 0, "a refused start writes nothing");
    }
    // The real image still loads, with the key.
    let (mut d, _) = start(&mgr, A, &mut a, 25).unwrap();
    startup(&mut d, false);
    assert_eq!(persistent_handles(&mut d), vec![PERSISTENT]);
}

#[test]
fn two_domains_never_see_each_other() {
    let mgr = manager();
    let mut a = MemDevice::new(512);
    let mut b = MemDevice::new(512);
    // Both run at once, each on its own connection.
    let (mut da, _) = start(&mgr, A, &mut a, 31).unwrap();
    let (mut db, _) = start(&mgr, B, &mut b, 32).unwrap();
    startup(&mut da, false);
    startup(&mut db, false);
    let primary = create_primary(&mut da);
    assert_eq!(rc(&persist(&mut da, primary)), 0);
    assert!(persistent_handles(&mut db).is_empty());
    // A second domain for A while A is open is refused by the manager.
    let mut a2 = MemDevice::new(512);
    let e = start(&mgr, A, &mut a2, 33).unwrap_err();
    assert!(e.to_string().contains("open on another connection"), "{e}");
    drop(da);
    drop(db);
    // Restarted: each finds its own state; B's record does not open A's image.
    let (mut db, _) = start(&mgr, B, &mut b, 34).unwrap();
    startup(&mut db, false);
    assert!(persistent_handles(&mut db).is_empty());
    drop(db);
    let (mut da, _) = start(&mgr, A, &mut a, 35).unwrap();
    startup(&mut da, false);
    assert_eq!(persistent_handles(&mut da), vec![PERSISTENT]);
    drop(da);
    let mut a_copy = a.clone();
    assert!(start(&mgr, B, &mut a_copy, 36).is_err());
    // An unregistered UUID is refused before anything is written.
    let mut c = MemDevice::new(512);
    let e = start(&mgr, Uuid([0xC3; 16]), &mut c, 37).unwrap_err();
    assert_eq!(e, DomainError::NotRegistered);
    assert_eq!(c.writes(), 0);
}

/// What the unikernel manager does with its `--link` arguments: `provision` creates group 0,
/// authorises the declared kernel hashes and registers the declared vTPMs, after which their
/// domains start; a second run commits nothing; an undeclared kernel hash is still refused.
#[test]
fn provisioning_from_the_configuration_is_idempotent() {
    use vtpmmgr::backend::{Declared, label_hash, provision};

    let mut m = blank_manager(21);
    let declared = [
        Declared {
            uuid: A,
            kernel_hash: label_hash("vtpm-guest1"),
        },
        Declared {
            uuid: B,
            kernel_hash: label_hash("vtpm-guest2"),
        },
    ];
    provision(&mut m, &declared, log).unwrap();
    let sequence = m.store().sequence();
    provision(&mut m, &declared, log).unwrap();
    assert_eq!(
        m.store().sequence(),
        sequence,
        "a second provisioning commits nothing"
    );
    let mgr: Shared = Rc::new(RefCell::new(m));

    // The declared domain starts (first boot) and keeps its state across a restart.
    let mut dev = MemDevice::new(512);
    let link = |uuid, label: &str| {
        let conn = mgr.borrow_mut().connect(Peer::Domain {
            uuid,
            kernel_hash: label_hash(label),
        });
        MgrLink {
            mgr: Rc::clone(&mgr),
            conn: Some(conn),
            crash: Crash::No,
        }
    };
    let (d, report) = Domain::start(
        link(A, "vtpm-guest1"),
        &mut dev,
        platform(22),
        DomainOptions::default(),
    )
    .unwrap();
    assert_eq!(report.outcome, StartOutcome::FirstBoot);
    d.shutdown().2.unwrap();
    let (d, report) = Domain::start(
        link(A, "vtpm-guest1"),
        &mut dev,
        platform(23),
        DomainOptions::default(),
    )
    .unwrap();
    assert!(
        matches!(report.outcome, StartOutcome::Loaded { .. }),
        "{report:?}"
    );
    d.shutdown().2.unwrap();

    // A domain whose label was not declared is refused by the manager.
    let mut other = MemDevice::new(512);
    let refused = Domain::start(
        link(B, "not-declared"),
        &mut other,
        platform(24),
        DomainOptions::default(),
    );
    assert!(
        matches!(refused, Err(DomainError::Refused(_))),
        "{:?}",
        refused.err()
    );
}

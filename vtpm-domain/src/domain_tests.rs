//! Tests of [`crate::domain`]: a manager stand-in with the real LOADHASHKEY / SAVEHASHKEY
//! semantics (over `vtpmmgr-protocol` types) that can be made to fail on demand.

#![allow(clippy::unwrap_used, clippy::panic)]

use alloc::boxed::Box;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use block::{BlockDevice, MemDevice, MemError, Sector};
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use vtpmmgr_protocol::{HASH_KEY_MIN, Reply, Request, ReturnCode};
use zeroize::Zeroizing;

use super::*;
use crate::engine::testutil::{TestPlatform, pw};
use crate::image::{ImageError, SlotState};

/// How the stand-in fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    No,
    /// Unreachable: nothing is delivered.
    NotSent,
    /// The request is carried out but the answer is lost.
    LoseAnswer,
    /// The manager answers FAIL and does nothing.
    Refuse,
}

/// The manager's entry for one vTPM.
struct FakeManager {
    /// `None`: unknown UUID; `Some(empty)`: registered by VTPM_NEW, never saved.
    record: Option<Zeroizing<Vec<u8>>>,
    fail: Fail,
    saves: usize,
}

impl FakeManager {
    fn registered() -> FakeManager {
        FakeManager {
            record: Some(Zeroizing::new(Vec::new())),
            fail: Fail::No,
            saves: 0,
        }
    }
}

impl ManagerLink for FakeManager {
    fn call(&mut self, bytes: &[u8]) -> Result<Vec<u8>, LinkError> {
        match self.fail {
            Fail::NotSent => return Err(LinkError::NotSent("link down".into())),
            Fail::Refuse => return Ok(Reply::error(0x01C1, ReturnCode::FAIL)),
            Fail::No | Fail::LoseAnswer => {}
        }
        let request = Request::parse(bytes).map_err(|r| LinkError::NoAnswer(r.reason.into()))?;
        let answer = match (&request, &mut self.record) {
            (_, None) => Reply::error(request.tag(), ReturnCode::BAD_PARAMETER),
            (Request::LoadHashKey, Some(k)) if k.is_empty() => {
                Reply::HashKey(Zeroizing::new(vec![0; HASH_KEY_MIN])).encode()
            }
            (Request::LoadHashKey, Some(k)) => Reply::HashKey(k.clone()).encode(),
            (Request::SaveHashKey(new), Some(k)) => {
                *k = new.clone();
                self.saves += 1;
                Reply::Empty.encode()
            }
            _ => Reply::error(request.tag(), ReturnCode::BAD_ORDINAL),
        };
        if self.fail == Fail::LoseAnswer {
            return Err(LinkError::NoAnswer("connection reset".into()));
        }
        Ok(answer)
    }
}

/// A device whose writes can be made to fail.
struct FlakyDevice {
    inner: MemDevice,
    fail_writes: bool,
}

impl BlockDevice for FlakyDevice {
    type Error = MemError;
    fn sector_count(&self) -> u32 {
        self.inner.sector_count()
    }
    fn read_sector(&mut self, index: u32, buf: &mut Sector) -> Result<(), MemError> {
        self.inner.read_sector(index, buf)
    }
    fn write_sector(&mut self, index: u32, buf: &Sector) -> Result<(), MemError> {
        if self.fail_writes {
            return Err(MemError::OutOfRange { index });
        }
        self.inner.write_sector(index, buf)
    }
    fn flush(&mut self) -> Result<(), MemError> {
        self.inner.flush()
    }
}

type TestDomain<'a> = Domain<&'a mut FakeManager, &'a mut MemDevice>;

fn platform(seed: u64) -> Box<dyn Platform> {
    Box::new(TestPlatform::new(seed))
}

fn start<'a>(
    m: &'a mut FakeManager,
    dev: &'a mut MemDevice,
    opts: DomainOptions,
) -> Result<(TestDomain<'a>, StartReport), DomainError> {
    Domain::start(m, dev, platform(3), opts)
}

fn rc(rsp: &[u8]) -> u32 {
    u32::from_be_bytes(rsp[6..10].try_into().unwrap())
}

fn startup<L: ManagerLink, B: BlockDevice>(d: &mut Domain<L, B>) {
    let cmd = build_command(TpmCc::STARTUP, &[], &[], &[0, 0]).unwrap();
    assert_eq!(rc(&d.execute(0, &cmd)), 0);
}

/// TPM2_DictionaryAttackParameters: a command whose change must be durable.
fn set_max_tries<L: ManagerLink, B: BlockDevice>(d: &mut Domain<L, B>, tries: u32) -> u32 {
    let mut p = Vec::new();
    for v in [tries, 1000, 1000] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    let cmd = build_command(
        TpmCc::DICTIONARY_ATTACK_PARAMETERS,
        &[TpmHandle::LOCKOUT],
        &[pw()],
        &p,
    )
    .unwrap();
    rc(&d.execute(0, &cmd))
}

/// TPM_PT_MAX_AUTH_FAIL through TPM2_GetCapability (read-only).
fn max_tries<L: ManagerLink, B: BlockDevice>(d: &mut Domain<L, B>) -> u32 {
    let mut p = Vec::new();
    for v in [6u32, 0x20F, 1] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    let cmd = build_command(TpmCc::GET_CAPABILITY, &[], &[], &p).unwrap();
    let rsp = d.execute(0, &cmd);
    assert_eq!(rc(&rsp), 0);
    u32::from_be_bytes(rsp[rsp.len() - 4..].try_into().unwrap())
}

/// TPM2_PCR_Extend of PCR 16 with a SHA-256 digest of `byte`s.
fn extend<L: ManagerLink, B: BlockDevice>(d: &mut Domain<L, B>, byte: u8) -> u32 {
    let mut p = Vec::new();
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(&0x000Bu16.to_be_bytes());
    p.extend_from_slice(&[byte; 32]);
    let cmd = build_command(TpmCc::PCR_EXTEND, &[TpmHandle(16)], &[pw()], &p).unwrap();
    rc(&d.execute(0, &cmd))
}

/// TPM2_PCR_Read of SHA-256 PCR 16.
fn pcr16<L: ManagerLink, B: BlockDevice>(d: &mut Domain<L, B>) -> Vec<u8> {
    let p = [0, 0, 0, 1, 0, 0x0B, 3, 0, 0, 1];
    let cmd = build_command(TpmCc::PCR_READ, &[], &[], &p).unwrap();
    let rsp = d.execute(0, &cmd);
    assert_eq!(rc(&rsp), 0);
    rsp[rsp.len() - 32..].to_vec()
}

const NV_UNAVAILABLE: [u8; 10] = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x23];

#[test]
fn first_boot_save_and_restart() {
    let mut m = FakeManager::registered();
    let mut dev = MemDevice::new(512);
    let (mut d, report) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    assert_eq!(report.outcome, StartOutcome::FirstBoot);
    assert_eq!((report.slot, report.generation), (0, 1));
    startup(&mut d);
    // TPM2_Startup is durable (it counts resets): generation 2 in slot 1.
    assert_eq!(d.current(), Some((1, 2)));
    assert_eq!(set_max_tries(&mut d, 7), 0);
    assert_eq!(d.current(), Some((0, 3)));
    // Read-only and volatile commands write nothing.
    assert_eq!(extend(&mut d, 1), 0);
    assert_eq!(max_tries(&mut d), 7);
    assert_eq!(d.saves(), 3);
    let (_, _, r) = d.shutdown();
    r.unwrap();
    assert_eq!(m.saves, 3);
    assert_eq!(m.record.as_ref().unwrap().len(), 64);

    // A new process: the state is loaded from slot 0 and powered on (saved to slot 1).
    let (mut d, report) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    assert_eq!(
        report.outcome,
        StartOutcome::Loaded {
            slot: 0,
            generation: 3
        }
    );
    assert_eq!((report.slot, report.generation), (1, 4));
    startup(&mut d);
    assert_eq!(max_tries(&mut d), 7);
}

#[test]
fn what_the_manager_answers_decides_the_start() {
    // Unknown UUID: our manager never creates entries, so a save could never succeed.
    let mut m = FakeManager::registered();
    m.record = None;
    let mut dev = MemDevice::new(512);
    let e = start(&mut m, &mut dev, DomainOptions { reset_image: true }).unwrap_err();
    assert_eq!(e, DomainError::NotRegistered);
    assert!(e.to_string().contains("vtpmctl vtpm new"), "{e}");
    assert_eq!(dev.writes(), 0);

    // A 52-byte non-zero record (a Xen vtpm-stubdom's SHA-1 key): not ours.
    m.record = Some(Zeroizing::new(vec![1; 52]));
    let e = start(&mut m, &mut dev, DomainOptions::default()).unwrap_err();
    assert_eq!(e, DomainError::ForeignRecord { len: 52 });
    let (_, report) = start(&mut m, &mut dev, DomainOptions { reset_image: true }).unwrap();
    assert!(matches!(report.outcome, StartOutcome::Reset { .. }));
    assert_eq!(m.record.as_ref().unwrap().len(), 64);

    // The manager refuses (kernel hash not authorised).
    m.fail = Fail::Refuse;
    let e = start(&mut m, &mut dev, DomainOptions::default()).unwrap_err();
    assert_eq!(e, DomainError::Refused(ReturnCode::FAIL));
    m.fail = Fail::NotSent;
    assert!(matches!(
        start(&mut m, &mut dev, DomainOptions::default()),
        Err(DomainError::Link(LinkError::NotSent(_)))
    ));
}

#[test]
fn a_damaged_or_replaced_image_is_refused_unless_reset() {
    let mut m = FakeManager::registered();
    let mut dev = MemDevice::new(512);
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    startup(&mut d);
    assert_eq!(set_max_tries(&mut d, 9), 0);
    let (slot, _) = d.current().unwrap();
    drop(d);
    let good = dev.clone();

    // Replaced by a blank image.
    let mut blank = MemDevice::new(512);
    let e = start(&mut m, &mut blank, DomainOptions::default()).unwrap_err();
    assert_eq!(
        e,
        DomainError::Image(ImageError::NoMatchingSlot([SlotState::Blank; 2]))
    );
    assert_eq!(blank.writes(), 0, "a refused start writes nothing");

    // One bit of the current slot flipped.
    let mut bad = good.clone();
    bad.image_mut()[usize::from(slot) * 256 * 4096 + 100] ^= 4;
    let e = start(&mut m, &mut bad, DomainOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("replaced, corrupted or rolled back"),
        "{e}"
    );

    // Reset: a new TPM (another platform seed: the test platform is deterministic), the
    // record replaced.
    let (mut d, report) = Domain::start(
        &mut m,
        &mut bad,
        platform(5),
        DomainOptions { reset_image: true },
    )
    .unwrap();
    let StartOutcome::Reset { cause } = report.outcome else {
        panic!("{report:?}")
    };
    assert!(cause.contains("no slot of the image matches"), "{cause}");
    assert_eq!((report.slot, report.generation), (0, 1));
    startup(&mut d);
    assert_ne!(max_tries(&mut d), 9);
    drop(d);
    // The old image no longer matches the new record.
    let mut old = good;
    let r = start(&mut m, &mut old, DomainOptions::default()).map(|(_, r)| r);
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn the_image_cannot_be_rolled_back() {
    let mut m = FakeManager::registered();
    let mut dev = MemDevice::new(512);
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    startup(&mut d);
    assert_eq!(set_max_tries(&mut d, 4), 0);
    drop(d);
    let old = dev.clone();
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    startup(&mut d);
    assert_eq!(set_max_tries(&mut d, 5), 0);
    drop(d);
    let mut rolled_back = old;
    let e = start(&mut m, &mut rolled_back, DomainOptions::default()).unwrap_err();
    let DomainError::Image(ImageError::NoMatchingSlot(slots)) = e else {
        panic!("{e:?}")
    };
    assert!(
        slots.iter().all(|s| matches!(s, SlotState::Valid { .. })),
        "{slots:?}"
    );
}

#[test]
fn a_failed_save_undoes_the_command_and_later_saves_retry() {
    let mut m = FakeManager::registered();
    let mut dev = MemDevice::new(512);
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    startup(&mut d);
    assert_eq!(set_max_tries(&mut d, 10), 0);
    let before = pcr16(&mut d);

    for fail in [Fail::NotSent, Fail::Refuse, Fail::LoseAnswer] {
        d.link_mut().fail = fail;
        // The durable change is refused and undone.
        let cmd = {
            let mut p = Vec::new();
            for v in [11u32, 1000, 1000] {
                p.extend_from_slice(&v.to_be_bytes());
            }
            build_command(
                TpmCc::DICTIONARY_ATTACK_PARAMETERS,
                &[TpmHandle::LOCKOUT],
                &[pw()],
                &p,
            )
            .unwrap()
        };
        assert_eq!(d.execute(0, &cmd), NV_UNAVAILABLE.to_vec(), "{fail:?}");
        assert!(d.last_error().is_some());
        // Read-only and volatile commands still work.
        assert_eq!(max_tries(&mut d), 10, "{fail:?}: rolled back");
        assert_eq!(extend(&mut d, 2), 0);
        assert_ne!(pcr16(&mut d), before);

        // The link comes back: the same command now succeeds and is durable.
        d.link_mut().fail = Fail::No;
        assert_eq!(set_max_tries(&mut d, 12), 0, "{fail:?}");
        assert!(!d.save_owed());
        assert_eq!(max_tries(&mut d), 12);
        assert_eq!(set_max_tries(&mut d, 10), 0);
    }
    let (_, _, r) = d.shutdown();
    r.unwrap();
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    startup(&mut d);
    assert_eq!(max_tries(&mut d), 10);
}

/// The manager recorded the save but the answer was lost; the client was told the command
/// failed, so the record must go back to the state without it.
#[test]
fn a_recorded_save_whose_answer_was_lost_is_settled() {
    let mut m = FakeManager::registered();
    let mut dev = MemDevice::new(512);
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    startup(&mut d);
    assert_eq!(set_max_tries(&mut d, 20), 0);
    d.link_mut().fail = Fail::LoseAnswer;
    assert_eq!(
        rc(&d.execute(0, &{
            let mut p = Vec::new();
            for v in [21u32, 1000, 1000] {
                p.extend_from_slice(&v.to_be_bytes());
            }
            build_command(
                TpmCc::DICTIONARY_ATTACK_PARAMETERS,
                &[TpmHandle::LOCKOUT],
                &[pw()],
                &p,
            )
            .unwrap()
        })),
        TPM_RC_NV_UNAVAILABLE
    );
    assert!(d.save_owed());
    let saves = d.link_mut().saves;
    // The manager holds the record of the undone command; a crash now would load it, so the
    // next command (even a read) first settles: LOADHASHKEY, then a save of the real state.
    d.link_mut().fail = Fail::No;
    assert_eq!(max_tries(&mut d), 20);
    assert!(!d.save_owed());
    assert_eq!(d.link_mut().saves, saves + 1);
    drop(d);
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    startup(&mut d);
    assert_eq!(max_tries(&mut d), 20);
}

#[test]
fn a_failing_disk_answers_nv_unavailable() {
    let mut m = FakeManager::registered();
    let dev = FlakyDevice {
        inner: MemDevice::new(512),
        fail_writes: false,
    };
    let (mut d, _) = Domain::start(&mut m, dev, platform(4), DomainOptions::default()).unwrap();
    startup(&mut d);
    d.image_mut().device_mut().fail_writes = true;
    let saves = d.saves();
    assert_eq!(
        rc(&{
            let mut p = Vec::new();
            for v in [30u32, 1000, 1000] {
                p.extend_from_slice(&v.to_be_bytes());
            }
            d.execute(
                0,
                &build_command(
                    TpmCc::DICTIONARY_ATTACK_PARAMETERS,
                    &[TpmHandle::LOCKOUT],
                    &[pw()],
                    &p,
                )
                .unwrap(),
            )
        }),
        TPM_RC_NV_UNAVAILABLE
    );
    assert!(matches!(
        d.last_error(),
        Some(DomainError::Image(ImageError::Device { op: "write", .. }))
    ));
    // Nothing reached the manager: no doubt, nothing owed.
    assert!(!d.save_owed());
    assert_ne!(max_tries(&mut d), 30);
    d.image_mut().device_mut().fail_writes = false;
    assert_eq!(set_max_tries(&mut d, 30), 0);
    assert_eq!(d.saves(), saves + 1);
}

/// A power cycle whose save fails is saved by a later command.
#[test]
fn an_unsaved_power_on_is_saved_later() {
    let mut m = FakeManager::registered();
    let mut dev = MemDevice::new(512);
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    d.link_mut().fail = Fail::NotSent;
    assert!(d.power_on().is_err());
    assert!(d.save_owed());
    d.link_mut().fail = Fail::No;
    startup(&mut d);
    assert!(!d.save_owed());
    let (_, _, r) = d.shutdown();
    r.unwrap();
}

/// The cost of the per-command snapshot that makes the undo possible (printed, not asserted).
#[test]
fn snapshot_cost() {
    let mut m = FakeManager::registered();
    let mut dev = MemDevice::new(512);
    let (mut d, _) = start(&mut m, &mut dev, DomainOptions::default()).unwrap();
    startup(&mut d);
    let n = 200;
    let t = std::time::Instant::now();
    for _ in 0..n {
        core::hint::black_box(d.engine.save_state());
    }
    std::eprintln!(
        "state blob {} bytes, save_state {:?} per call",
        d.engine.save_state().len(),
        t.elapsed() / n
    );
}

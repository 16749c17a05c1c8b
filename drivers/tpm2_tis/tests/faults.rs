//! Every misbehaviour of the model ends in its own error, after no more simulated time than the
//! timeout that governs it (plus one poll interval), and the driver stays usable afterwards.

mod common;

use core::time::Duration;

use common::{POLL_US, STARTUP, StartupTpm, command, driver, no_retries, now, startup_tpm, us};
use tpm2::cc::TpmCc;
use tpm2::transport::Transport;
use tpm2_tis::model::{Echo, Faults, FrozenClock, SimClock, State, TisModel};
use tpm2_tis::regs::{access, offset, sts};
use tpm2_tis::{Config, Error, Registers, Timeouts, Tis};

const A: Duration = Timeouts::PTP.a;
const B: Duration = Timeouts::PTP.b;
const C: Duration = Timeouts::PTP.c;
const D: Duration = Timeouts::PTP.d;

/// A model whose transitions are immediate, so that the only simulated time a test sees is the
/// wait that fails.
fn model() -> TisModel<StartupTpm> {
    TisModel::immediate(startup_tpm as StartupTpm)
}

/// `elapsed` covers `waits` full timeouts and at most one extra poll interval each.
#[track_caller]
fn assert_waited(elapsed: u64, timeout: Duration, waits: u64) {
    let timeout = us(timeout);
    assert!(
        elapsed >= timeout * waits,
        "gave up early: {elapsed} µs < {waits} × {timeout} µs"
    );
    assert!(
        elapsed <= (timeout + POLL_US) * waits,
        "waited too long: {elapsed} µs > {waits} × ({timeout} + {POLL_US}) µs"
    );
}

/// After a failure the model is back in Ready, and once the fault is gone the next command
/// goes through.
#[track_caller]
fn recovers(tis: &mut Tis<&mut TisModel<StartupTpm>, SimClock>) {
    tis.registers_mut().faults = Faults::default();
    let mut response = [0u8; 64];
    assert_eq!(tis.transact(&STARTUP, &mut response), Ok(10));
    assert_eq!(tis.registers().stats.violations, 0);
}

#[test]
fn did_vid_zero_is_no_device() {
    let mut model = model();
    model.did_vid = 0;
    let mut tis = Tis::new(&mut model, SimClock::default());
    assert_eq!(tis.probe(), Err(Error::NoDevice { did_vid: 0 }));
    assert_eq!(now(&tis), 0);
}

#[test]
fn did_vid_all_ones_is_no_device() {
    let mut model = model();
    model.did_vid = u32::MAX;
    let mut tis = Tis::new(&mut model, SimClock::default());
    assert_eq!(tis.probe(), Err(Error::NoDevice { did_vid: u32::MAX }));
}

#[test]
fn empty_bus_is_no_device() {
    let mut model = model();
    model.faults.absent = true;
    let mut tis = Tis::new(&mut model, SimClock::default());
    assert_eq!(tis.probe(), Err(Error::NoDevice { did_vid: u32::MAX }));
    // Even without probing, a request for a locality on an empty bus cannot succeed: ACCESS
    // reads 0xFF, whose read-zero bits give it away.
    let start = now(&tis);
    assert!(matches!(
        tis.request_locality(0),
        Err(Error::LocalityTimeout { access: 0xFF, .. })
    ));
    assert_waited(now(&tis) - start, A, 1);
}

#[test]
fn crb_interface_is_unsupported() {
    let mut model = model();
    model.interface_id = 0x0000_4001;
    let mut tis = Tis::new(&mut model, SimClock::default());
    assert_eq!(
        tis.probe(),
        Err(Error::UnsupportedInterface {
            interface_id: 0x0000_4001
        })
    );
}

#[test]
fn registers_that_never_become_valid() {
    let mut model = model();
    model.faults.registers_never_valid = true;
    let mut tis = Tis::new(&mut model, SimClock::default());
    assert_eq!(
        tis.probe(),
        Err(Error::RegistersNeverValid {
            locality: 0,
            access: 0,
            timeout: A
        })
    );
    assert_waited(now(&tis), A, 1);
}

#[test]
fn locality_never_granted() {
    let mut model = model();
    model.faults.locality_never_granted = true;
    let mut tis = Tis::new(&mut model, SimClock::default());
    tis.probe().unwrap();
    assert_eq!(
        tis.request_locality(0),
        Err(Error::LocalityTimeout {
            locality: 0,
            access: access::VALID | access::REQUEST_USE,
            timeout: A
        })
    );
    assert_waited(now(&tis), A, 1);
    assert_eq!(tis.locality(), None);
    // The request was withdrawn.
    let value = tis.registers_mut().read8(0, offset::ACCESS);
    assert_eq!(value & access::REQUEST_USE, 0);
}

#[test]
fn nonexistent_locality() {
    let mut model = model();
    let mut tis = Tis::new(&mut model, SimClock::default());
    assert_eq!(
        tis.request_locality(5),
        Err(Error::LocalityUnavailable { locality: 5 })
    );
}

#[test]
fn command_ready_never_asserted() {
    let mut model = model();
    let mut tis = driver(&mut model, no_retries());
    tis.registers_mut().faults.command_ready_never = true;
    let mut response = [0u8; 64];
    let error = tis.transact(&STARTUP, &mut response).unwrap_err();
    assert!(
        matches!(error, Error::CommandReadyTimeout { timeout, sts } if timeout == B && sts & sts::COMMAND_READY == 0),
        "{error:?}"
    );
    assert_waited(now(&tis), B, 1);
    recovers(&mut tis);
}

#[test]
fn command_ready_never_asserted_with_a_retry() {
    let mut model = model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut().faults.command_ready_never = true;
    let mut response = [0u8; 64];
    assert!(matches!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::CommandReadyTimeout { .. })
    ));
    assert_eq!(tis.retries(), 1);
    assert_waited(now(&tis), B, 2);
    recovers(&mut tis);
}

#[test]
fn burst_count_stuck_at_zero() {
    let mut model = model();
    let mut tis = driver(&mut model, no_retries());
    tis.registers_mut().faults.burst_stuck_zero = true;
    let mut response = [0u8; 64];
    let error = tis.transact(&STARTUP, &mut response).unwrap_err();
    assert!(
        matches!(error, Error::BurstCountTimeout { timeout, sts } if timeout == D && sts::burst_count(sts) == 0),
        "{error:?}"
    );
    assert_waited(now(&tis), D, 1);
    assert_eq!(tis.registers().stats.fifo_writes, 0);
    recovers(&mut tis);
}

#[test]
fn short_bursts_of_one_byte() {
    let mut model = model();
    model.max_burst = 1;
    let mut tis = driver(&mut model, no_retries());
    let mut response = [0u8; 64];
    assert_eq!(tis.transact(&STARTUP, &mut response), Ok(10));
    assert_eq!(now(&tis), 0, "a 1-byte burst is still a burst: no waiting");
    assert_eq!(tis.registers().stats.violations, 0);
}

#[test]
fn expect_stuck_at_zero() {
    let mut model = model();
    model.max_burst = 4;
    let mut tis = driver(&mut model, no_retries());
    tis.registers_mut().faults.expect_stuck = Some(false);
    let mut response = [0u8; 64];
    assert_eq!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::ExpectMismatch { sent: 4, total: 12 })
    );
    assert_eq!(now(&tis), 0);
    assert_eq!(tis.registers().stats.commands, 0, "tpmGo was never written");
    recovers(&mut tis);
}

#[test]
fn expect_stuck_at_one() {
    let mut model = model();
    let mut tis = driver(&mut model, no_retries());
    tis.registers_mut().faults.expect_stuck = Some(true);
    let mut response = [0u8; 64];
    assert_eq!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::ExpectMismatch {
            sent: 12,
            total: 12
        })
    );
    assert_eq!(tis.registers().stats.commands, 0);
    assert_eq!(tis.registers().stats.aborts, 1);
    recovers(&mut tis);
}

#[test]
fn expect_stuck_is_retried_then_reported() {
    let mut model = model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut().faults.expect_stuck = Some(true);
    let mut response = [0u8; 64];
    assert_eq!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::ExpectMismatch {
            sent: 12,
            total: 12
        })
    );
    assert_eq!(tis.retries(), 1);
    assert_eq!(tis.registers().stats.aborts, 2);
}

#[test]
fn sts_valid_never_set() {
    let mut model = model();
    let mut tis = driver(&mut model, no_retries());
    tis.registers_mut().faults.sts_valid_never = true;
    let mut response = [0u8; 64];
    let error = tis.transact(&STARTUP, &mut response).unwrap_err();
    assert!(
        matches!(error, Error::StsValidTimeout { timeout, sts } if timeout == C && sts & sts::VALID == 0),
        "{error:?}"
    );
    assert_waited(now(&tis), C, 1);
    recovers(&mut tis);
}

#[test]
fn no_response_times_out_after_the_command_duration() {
    let mut model = model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut().faults.no_response = true;
    let mut response = [0u8; 64];
    let error = tis.transact(&STARTUP, &mut response).unwrap_err();
    let medium = Duration::from_millis(750);
    assert!(
        matches!(error, Error::ResponseTimeout { command, timeout, sts } if command == TpmCc::STARTUP && timeout == medium && sts & sts::DATA_AVAIL == 0),
        "{error:?}"
    );
    assert_waited(now(&tis), medium, 1);
    assert_eq!(tis.retries(), 0, "nothing after tpmGo is retried");
    assert_eq!(tis.registers().stats.aborts, 1, "the command was aborted");
    assert_eq!(tis.registers().state(), State::Ready);
    recovers(&mut tis);
}

#[test]
fn no_response_to_unlisted_and_key_generation_commands() {
    for (code, duration) in [
        (0x0000_017E, Duration::from_secs(90)), // TPM2_PCR_Read: default
        (0x0000_0131, Duration::from_secs(180)), // TPM2_CreatePrimary: key generation
        (0x0000_0143, Duration::from_secs(3)),  // TPM2_SelfTest: long
    ] {
        let mut model = TisModel::immediate(Echo);
        model.faults.no_response = true;
        let mut tis = driver(&mut model, Config::DEFAULT);
        let mut response = [0u8; 64];
        assert_eq!(
            tis.transact(&command(code, 3), &mut response),
            Err(Error::ResponseTimeout {
                command: TpmCc(code),
                sts: 0x0400_0080,
                timeout: duration
            })
        );
        assert_waited(now(&tis), duration, 1);
    }
}

#[test]
fn command_dropped_during_execution() {
    let mut model = model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut().faults.abort_during_execution = true;
    let mut response = [0u8; 64];
    let error = tis.transact(&STARTUP, &mut response).unwrap_err();
    assert!(
        matches!(error, Error::CommandAborted { command, .. } if command == TpmCc::STARTUP),
        "{error:?}"
    );
    assert_eq!(now(&tis), 0);
    recovers(&mut tis);
}

#[test]
fn response_size_larger_than_the_data() {
    let mut model = model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut().faults.response_size = Some(30);
    let mut response = [0u8; 64];
    let error = tis.transact(&STARTUP, &mut response).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShortResponse {
                expected: 30,
                received: 10,
                sts
            } if sts & sts::DATA_AVAIL == 0
        ),
        "{error:?}"
    );
    assert_eq!(now(&tis), 0);
    assert_eq!(tis.registers().state(), State::Ready);
    recovers(&mut tis);
}

#[test]
fn response_size_below_the_header() {
    let mut model = model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut().faults.response_size = Some(6);
    let mut response = [0u8; 64];
    assert_eq!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::BadResponseSize { size: 6, max: 64 })
    );
    assert_eq!(
        tis.registers().state(),
        State::Ready,
        "the response was discarded"
    );
    recovers(&mut tis);
}

#[test]
fn response_size_above_the_fifo_limit() {
    let mut model = model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut().faults.response_size = Some(5000);
    let mut response = [0u8; 8192];
    assert_eq!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::BadResponseSize {
            size: 5000,
            max: 4096
        })
    );
    recovers(&mut tis);
}

#[test]
fn response_larger_than_the_buffer() {
    let mut model = TisModel::immediate(Echo);
    let mut tis = driver(&mut model, Config::DEFAULT);
    let mut response = [0u8; 50];
    assert_eq!(
        tis.transact(&command(0x17B, 90), &mut response),
        Err(Error::BadResponseSize { size: 100, max: 50 })
    );
    assert_eq!(tis.registers().state(), State::Ready);
    assert_eq!(
        tis.registers().stats.fifo_reads,
        10,
        "only the header was read"
    );
}

#[test]
fn trailing_data_after_the_response() {
    let mut model = model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut().faults.trailing_bytes = 3;
    let mut response = [0u8; 64];
    let error = tis.transact(&STARTUP, &mut response).unwrap_err();
    assert!(
        matches!(error, Error::ExtraResponseData { size: 10, sts } if sts & sts::DATA_AVAIL != 0),
        "{error:?}"
    );
    assert_eq!(
        tis.registers().stats.fifo_reads,
        10,
        "exactly the declared size was read"
    );
    assert_eq!(tis.registers().state(), State::Ready);
    recovers(&mut tis);
}

#[test]
fn frozen_clock_still_terminates() {
    // With a clock that never advances, only the poll budget ends a wait: twice the polls the
    // timeout needs, plus four.
    let budget = |timeout: Duration| 2 * (us(timeout) / POLL_US) + 4;

    let mut chip = model();
    chip.faults.locality_never_granted = true;
    let mut tis = Tis::new(&mut chip, FrozenClock::default());
    tis.probe().unwrap();
    let before = tis.registers().stats.access_reads;
    assert!(matches!(
        tis.request_locality(0),
        Err(Error::LocalityTimeout { .. })
    ));
    let polls = tis.registers().stats.access_reads - before;
    assert!(polls <= 1 + budget(A), "{polls} ACCESS reads");

    let mut chip = model();
    chip.faults.no_response = true;
    let mut tis = Tis::new(&mut chip, FrozenClock::default());
    tis.probe().unwrap();
    tis.request_locality(0).unwrap();
    let before = tis.registers().stats.sts_reads;
    let mut response = [0u8; 64];
    assert!(matches!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::ResponseTimeout { .. })
    ));
    let polls = tis.registers().stats.sts_reads - before;
    assert!(
        polls <= 16 + budget(Duration::from_millis(750)),
        "{polls} STS reads"
    );
    assert!(tis.clock().sleeps > 0);

    // And a healthy chip works with a frozen clock.
    let mut chip = model();
    let mut tis = Tis::new(&mut chip, FrozenClock::default());
    tis.probe().unwrap();
    tis.request_locality(0).unwrap();
    assert_eq!(tis.transact(&STARTUP, &mut response), Ok(10));
}

#[test]
fn zero_poll_interval_still_terminates() {
    let mut model = model();
    model.faults.locality_never_granted = true;
    let config = Config {
        poll_interval: Duration::ZERO,
        ..Config::DEFAULT
    };
    let mut tis = Tis::with_config(&mut model, SimClock::default(), config);
    assert!(matches!(
        tis.request_locality(0),
        Err(Error::LocalityTimeout { .. })
    ));
    assert_eq!(now(&tis), us(A));
}

#[test]
fn linux_timeouts_are_honoured() {
    let mut model = model();
    let config = Config {
        timeouts: Timeouts::LINUX,
        send_retries: 0,
        ..Config::DEFAULT
    };
    let mut tis = driver(&mut model, config);
    tis.registers_mut().faults.command_ready_never = true;
    let mut response = [0u8; 64];
    assert!(matches!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::CommandReadyTimeout { timeout, .. }) if timeout == Duration::from_secs(4)
    ));
    assert_waited(now(&tis), Duration::from_secs(4), 1);
}

#[test]
fn error_messages_name_values_and_timeouts() {
    let cases: [(Error, &[&str]); 18] = [
        (
            Error::NoDevice { did_vid: 0 },
            &["0x00000000", "TPM_DID_VID"],
        ),
        (
            Error::UnsupportedInterface {
                interface_id: 0x4001,
            },
            &["0x00004001", "0x1"],
        ),
        (
            Error::RegistersNeverValid {
                locality: 2,
                access: 0,
                timeout: A,
            },
            &["tpmRegValidSts", "750ms", "TPM_ACCESS_2", "0x00"],
        ),
        (Error::LocalityUnavailable { locality: 7 }, &["locality 7"]),
        (
            Error::LocalityTimeout {
                locality: 1,
                access: 0x82,
                timeout: A,
            },
            &["locality 1", "750ms", "0x82"],
        ),
        (Error::NoLocality, &["no locality"]),
        (
            Error::LocalityLost {
                locality: 0,
                access: 0x80,
            },
            &["locality 0", "0x80"],
        ),
        (
            Error::BadCommand {
                len: 11,
                declared: Some(12),
            },
            &["11", "12"],
        ),
        (Error::ResponseBufferTooSmall { len: 9 }, &["9 bytes"]),
        (
            Error::CommandReadyTimeout {
                sts: 0x0400_0080,
                timeout: B,
            },
            &["commandReady", "2s", "0x04000080"],
        ),
        (
            Error::BurstCountTimeout {
                sts: 0x80,
                timeout: D,
            },
            &["burstCount", "30ms", "0x00000080"],
        ),
        (
            Error::StsValidTimeout { sts: 0, timeout: C },
            &["stsValid", "200ms"],
        ),
        (
            Error::ExpectMismatch { sent: 4, total: 12 },
            &["Expect cleared", "4 of 12"],
        ),
        (
            Error::ResponseTimeout {
                command: TpmCc::STARTUP,
                sts: 0x80,
                timeout: Duration::from_millis(750),
            },
            &["TPM2_Startup", "750ms", "aborted"],
        ),
        (
            Error::CommandAborted {
                command: TpmCc::SELF_TEST,
                sts: 0xC0,
            },
            &["TPM2_SelfTest", "0x000000c0"],
        ),
        (
            Error::BadResponseSize { size: 6, max: 64 },
            &["6 bytes", "10..=64"],
        ),
        (
            Error::ShortResponse {
                expected: 30,
                received: 10,
                sts: 0x80,
            },
            &["10 of 30"],
        ),
        (
            Error::ExtraResponseData {
                size: 10,
                sts: 0x90,
            },
            &["10-byte", "0x00000090"],
        ),
    ];
    for (error, needles) in cases {
        let text = error.to_string();
        for needle in needles {
            assert!(text.contains(needle), "{text:?} lacks {needle:?}");
        }
    }
    assert!(
        Error::ExpectMismatch {
            sent: 12,
            total: 12
        }
        .to_string()
        .contains("still set")
    );
}

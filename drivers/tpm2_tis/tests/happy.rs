//! The FIFO protocol against a well-behaved model: probing, localities, whole exchanges with
//! every burst size, retries after transient failures, and input validation.

mod common;

use common::{
    GET_RANDOM_CMD, GET_RANDOM_RSP, STARTUP, STARTUP_OK, command, driver, hex, no_retries,
    startup_model,
};
use tpm2::transport::Transport;
use tpm2_tis::model::{Echo, SimClock, State, TisModel};
use tpm2_tis::regs::{access, offset};
use tpm2_tis::{Config, Error, Registers, Tis};

#[test]
fn probe_reports_the_identity_registers() {
    let mut model = startup_model();
    model.did_vid = 0x001B_15D1;
    model.rid = 0x16;
    let mut tis = Tis::new(&mut model, SimClock::default());
    let info = tis.probe().unwrap();
    assert_eq!(info.locality, 0);
    assert_eq!(
        (info.vendor_id(), info.device_id(), info.rid),
        (0x15D1, 0x001B, 0x16)
    );
    assert_eq!(info.interface_version(), 3);
    assert_eq!(info.interface_type(), 0);
    assert!(!info.burst_count_static());
    assert_eq!(tis.locality(), None, "probing takes no locality");
}

#[test]
fn startup_round_trip_is_byte_exact() {
    let mut model = startup_model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    let mut response = [0u8; 4096];
    let len = tis.transact(&STARTUP, &mut response).unwrap();
    assert_eq!(&response[..len], STARTUP_OK);
    assert_eq!(tis.retries(), 0);
    assert_eq!(model.last_command(), STARTUP);
    assert_eq!(
        model.command(),
        &[] as &[u8],
        "commandReady emptied the FIFO"
    );
    assert_eq!(model.stats.commands, 1);
    assert_eq!(model.stats.fifo_writes, 12);
    assert_eq!(model.stats.fifo_reads, 10);
    assert_eq!(model.stats.violations, 0);
    assert!(
        matches!(model.state(), State::Idle | State::Ready),
        "the driver ends with commandReady, releasing the response: {:?}",
        model.state()
    );
}

#[test]
fn golden_exchange_with_every_burst_size() {
    let golden_command = hex(GET_RANDOM_CMD);
    let golden_response = hex(GET_RANDOM_RSP);
    for burst in [
        1,
        2,
        3,
        7,
        8,
        10,
        11,
        32,
        64,
        88,
        89,
        90,
        255,
        4096,
        u16::MAX,
    ] {
        let expected_command = golden_command.clone();
        let canned = golden_response.clone();
        let mut model = TisModel::new(move |cmd: &[u8], rsp: &mut [u8]| {
            assert_eq!(cmd, expected_command.as_slice());
            rsp[..canned.len()].copy_from_slice(&canned);
            canned.len()
        });
        model.max_burst = burst;
        let mut tis = driver(&mut model, Config::DEFAULT);
        let mut response = [0u8; 200];
        let len = tis.transact(&golden_command, &mut response).unwrap();
        assert_eq!(
            &response[..len],
            golden_response.as_slice(),
            "burst {burst}"
        );
        assert_eq!(model.stats.violations, 0, "burst {burst}");
        assert_eq!(model.stats.commands, 1, "burst {burst}");
    }
}

#[test]
fn largest_command_and_response() {
    let mut model = TisModel::new(Echo);
    model.max_burst = 64;
    let mut tis = driver(&mut model, Config::DEFAULT);
    let big = command(0x0000_0146, 4086);
    assert_eq!(big.len(), 4096);
    let mut response = [0u8; 4096];
    let len = tis.transact(&big, &mut response).unwrap();
    assert_eq!(len, 4096);
    assert_eq!(response[10..], big[10..]);
    assert_eq!(&response[2..6], &[0, 0, 0x10, 0]);
    assert_eq!(model.stats.violations, 0);
}

#[test]
fn back_to_back_commands() {
    let mut model = TisModel::new(Echo);
    let mut tis = driver(&mut model, Config::DEFAULT);
    for body in [0, 1, 31, 32, 33, 500] {
        let cmd = command(0x0000_017B, body);
        let mut response = [0u8; 1024];
        let len = tis.transact(&cmd, &mut response).unwrap();
        assert_eq!(len, cmd.len());
        assert_eq!(response[10..len], cmd[10..]);
    }
    assert_eq!(model.stats.commands, 6);
    assert_eq!(model.stats.violations, 0);
}

#[test]
fn intermittent_zero_bursts_are_waited_out() {
    let mut model = TisModel::new(Echo);
    model.faults.burst_zero_every = 2;
    model.max_burst = 5;
    let mut tis = driver(&mut model, Config::DEFAULT);
    let cmd = command(0x0000_017B, 100);
    let mut response = [0u8; 256];
    let len = tis.transact(&cmd, &mut response).unwrap();
    assert_eq!(response[..len][10..], cmd[10..]);
    assert_eq!(model.stats.violations, 0);
}

#[test]
fn flapping_sts_valid_is_tolerated() {
    let mut model = TisModel::new(Echo);
    model.faults.sts_valid_flap = true;
    model.max_burst = 4;
    let mut tis = driver(&mut model, Config::DEFAULT);
    let cmd = command(0x0000_017B, 50);
    let mut response = [0u8; 256];
    let len = tis.transact(&cmd, &mut response).unwrap();
    assert_eq!(response[..len][10..], cmd[10..]);
    assert_eq!(model.stats.violations, 0);
}

#[test]
fn locality_switching() {
    let mut model = startup_model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    assert_eq!(tis.locality(), Some(0));
    let mut response = [0u8; 64];
    assert_eq!(tis.transact(&STARTUP, &mut response).unwrap(), 10);

    tis.request_locality(2).unwrap();
    assert_eq!(tis.locality(), Some(2));
    assert_eq!(tis.registers().active_locality(), Some(2));
    assert_eq!(tis.transact(&STARTUP, &mut response).unwrap(), 10);
    assert_eq!(response[..10], STARTUP_OK);

    // Asking again for the held locality is a no-op.
    tis.request_locality(2).unwrap();
    assert_eq!(tis.registers().active_locality(), Some(2));

    tis.release_locality();
    assert_eq!(tis.locality(), None);
    assert_eq!(tis.registers().active_locality(), None);
    assert_eq!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::NoLocality)
    );
    assert_eq!(model.stats.commands, 2);
    assert_eq!(model.stats.violations, 0);
}

#[test]
fn locality_held_by_another_agent_is_granted_when_released() {
    let mut model = TisModel::immediate(common::startup_tpm as common::StartupTpm);
    // Firmware holds locality 3 and gives it up after our request is seen pending.
    model.write8(3, offset::ACCESS, access::REQUEST_USE);
    assert_eq!(
        model.read8(3, offset::ACCESS) & access::ACTIVE_LOCALITY,
        0x20
    );
    model.write8(1, offset::ACCESS, access::REQUEST_USE);
    let pending = model.read8(3, offset::ACCESS);
    assert_ne!(
        pending & access::PENDING_REQUEST,
        0,
        "locality 3 sees the request"
    );
    model.write8(3, offset::ACCESS, access::ACTIVE_LOCALITY);
    let mut tis = Tis::new(&mut model, SimClock::default());
    tis.request_locality(1).unwrap();
    assert_eq!(tis.registers().active_locality(), Some(1));
}

#[test]
fn pending_requests_of_other_localities_are_visible() {
    let mut model = startup_model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    assert!(!tis.other_locality_waiting());
    tis.registers_mut()
        .write8(3, offset::ACCESS, access::REQUEST_USE);
    assert!(tis.other_locality_waiting());
    tis.release_locality();
    assert!(!tis.other_locality_waiting(), "no locality held");
    // Locality 3 gets the TPM; the driver's next request waits for it to be released.
    assert_eq!(
        tis.registers_mut().read8(3, offset::ACCESS) & access::ACTIVE_LOCALITY,
        0
    );
    assert_ne!(
        tis.registers_mut().read8(3, offset::ACCESS) & access::ACTIVE_LOCALITY,
        0
    );
    assert!(matches!(
        tis.request_locality(0),
        Err(Error::LocalityTimeout { locality: 0, .. })
    ));
}

#[test]
fn transient_send_failure_is_retried() {
    let mut model = startup_model();
    model.faults.transient_send_failures = 1;
    let mut tis = driver(&mut model, Config::DEFAULT);
    let mut response = [0u8; 64];
    let len = tis.transact(&STARTUP, &mut response).unwrap();
    assert_eq!(&response[..len], STARTUP_OK);
    assert_eq!(tis.retries(), 1);
    assert_eq!(model.stats.aborts, 1, "the failed reception was aborted");
    assert_eq!(model.stats.commands, 1, "the command ran exactly once");
    assert_eq!(model.stats.violations, 0);
}

#[test]
fn retries_are_bounded_and_configurable() {
    let mut model = startup_model();
    model.faults.transient_send_failures = 2;
    let mut tis = driver(&mut model, Config::DEFAULT);
    let mut response = [0u8; 64];
    assert_eq!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::ExpectMismatch {
            sent: 11,
            total: 12
        })
    );
    assert_eq!(tis.retries(), 1);
    // The chip recovered; the driver is usable again.
    assert_eq!(tis.transact(&STARTUP, &mut response), Ok(10));
    assert_eq!(model.stats.commands, 1);

    let mut model = startup_model();
    model.faults.transient_send_failures = 3;
    let config = Config {
        send_retries: 3,
        ..Config::DEFAULT
    };
    let mut tis = driver(&mut model, config);
    assert_eq!(tis.transact(&STARTUP, &mut response), Ok(10));
    assert_eq!(tis.retries(), 3);

    let mut model = startup_model();
    model.faults.transient_send_failures = 1;
    let mut tis = driver(&mut model, no_retries());
    assert!(matches!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::ExpectMismatch { .. })
    ));
    assert_eq!(tis.retries(), 0);
}

#[test]
fn malformed_requests_are_rejected_before_touching_the_chip() {
    let mut model = startup_model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    let mut response = [0u8; 64];
    assert_eq!(
        tis.transact(&STARTUP[..9], &mut response),
        Err(Error::BadCommand {
            len: 9,
            declared: None
        })
    );
    assert_eq!(
        tis.transact(&STARTUP[..11], &mut response),
        Err(Error::BadCommand {
            len: 11,
            declared: Some(12)
        })
    );
    let too_big = command(0x17B, 4087);
    assert_eq!(
        tis.transact(&too_big, &mut response),
        Err(Error::BadCommand {
            len: 4097,
            declared: Some(4097)
        })
    );
    assert_eq!(
        tis.transact(&STARTUP, &mut response[..9]),
        Err(Error::ResponseBufferTooSmall { len: 9 })
    );
    assert_eq!(model.stats.fifo_writes, 0);
}

#[test]
fn lost_locality_is_reported() {
    let mut model = startup_model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    // Someone relinquishes the locality behind the driver's back.
    tis.registers_mut()
        .write8(0, offset::ACCESS, access::ACTIVE_LOCALITY);
    let mut response = [0u8; 64];
    assert_eq!(
        tis.transact(&STARTUP, &mut response),
        Err(Error::LocalityLost {
            locality: 0,
            access: 0x80
        })
    );
}

#[test]
fn interrupts_can_be_switched_off() {
    let mut model = startup_model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    tis.registers_mut()
        .write32(0, offset::INT_ENABLE, 0x8000_0087);
    tis.disable_interrupts().unwrap();
    assert_eq!(tis.registers().int_enable(0), 0);
    tis.release_locality();
    assert_eq!(tis.disable_interrupts(), Err(Error::NoLocality));
}

#[test]
fn works_through_the_transport_trait_object() {
    fn run(transport: &mut dyn Transport<Error = Error>) -> Vec<u8> {
        let mut response = [0u8; 64];
        let len = transport.transact(&STARTUP, &mut response).unwrap();
        response[..len].to_vec()
    }
    let mut model = startup_model();
    let mut tis = driver(&mut model, Config::DEFAULT);
    assert_eq!(run(&mut tis), STARTUP_OK);
}

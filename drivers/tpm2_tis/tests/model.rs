//! The model itself follows the FIFO interface rules, so that driver tests against it mean
//! something: raw register sequences and the violations it records.

use tpm2_tis::Registers;
use tpm2_tis::model::{Echo, State, TisModel};
use tpm2_tis::regs::{access, offset, sts};

const STARTUP: [u8; 12] = [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x44, 0, 0];

fn granted(model: &mut TisModel<Echo>, locality: u8) {
    model.write8(locality, offset::ACCESS, access::REQUEST_USE);
    let value = model.read8(locality, offset::ACCESS);
    assert_eq!(value, access::VALID | access::ACTIVE_LOCALITY);
}

#[test]
fn raw_state_machine_walk() {
    let mut model = TisModel::immediate(Echo);
    granted(&mut model, 0);
    assert_eq!(model.state(), State::Idle);
    model.write8(0, offset::STS, 0x40);
    assert_eq!(model.state(), State::Ready);
    let status = model.read32(0, offset::STS);
    assert_eq!(status & 0xFF, sts::VALID | sts::COMMAND_READY);
    assert_eq!(sts::burst_count(status), 32);
    assert_eq!(status >> sts::FAMILY_SHIFT, 1, "tpmFamily TPM 2.0");

    for &byte in &STARTUP[..11] {
        model.write8(0, offset::DATA_FIFO, byte);
    }
    assert_eq!(model.state(), State::Reception);
    assert_ne!(model.read32(0, offset::STS) & sts::EXPECT, 0);
    model.write8(0, offset::DATA_FIFO, STARTUP[11]);
    let status = model.read32(0, offset::STS);
    assert_eq!(status & (sts::EXPECT | sts::VALID), sts::VALID);

    model.write8(0, offset::STS, 0x20);
    assert_eq!(model.state(), State::Completion);
    let status = model.read32(0, offset::STS);
    assert_eq!(status & 0xFF, sts::VALID | sts::DATA_AVAIL);
    assert_eq!(sts::burst_count(status), 12);
    let response: Vec<u8> = (0..12).map(|_| model.read8(0, offset::DATA_FIFO)).collect();
    assert_eq!(response, [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0]);
    assert_eq!(model.read32(0, offset::STS) & sts::DATA_AVAIL, 0);

    // responseRetry rewinds the response.
    model.write8(0, offset::STS, 0x02);
    assert_eq!(model.read8(0, offset::DATA_FIFO), 0x80);

    model.write8(0, offset::STS, 0x40);
    assert_eq!(model.state(), State::Ready);
    assert_eq!(model.stats.violations, 0);
    assert_eq!(model.stats.aborts, 0);
}

#[test]
fn protocol_violations_are_counted() {
    let mut model = TisModel::immediate(Echo);
    // STS write and FIFO access without the locality.
    model.write8(0, offset::STS, 0x40);
    model.write8(0, offset::DATA_FIFO, 1);
    assert_eq!(
        model.read32(0, offset::STS),
        u32::MAX,
        "inactive locality reads all ones"
    );
    assert_eq!(model.stats.violations, 2);
    granted(&mut model, 0);
    // FIFO write while Idle, tpmGo with no command, FIFO read with no response.
    model.write8(0, offset::DATA_FIFO, 1);
    model.write8(0, offset::STS, 0x20);
    assert_eq!(model.read8(0, offset::DATA_FIFO), 0xFF);
    // Two bits at once, a write to a read-only register.
    model.write8(0, offset::STS, 0x60);
    model.write32(0, offset::DID_VID, 0);
    assert_eq!(model.stats.violations, 7);
    // tpmGo on an incomplete command.
    model.write8(0, offset::STS, 0x40);
    model.write8(0, offset::DATA_FIFO, 0x80);
    model.write8(0, offset::STS, 0x20);
    assert_eq!(model.stats.violations, 8);
    assert_eq!(model.state(), State::Reception);
    // Aborting a reception is counted as an abort, not a violation.
    model.write8(0, offset::STS, 0x40);
    assert_eq!(model.stats.aborts, 1);
    assert_eq!(model.state(), State::Ready);
}

#[test]
fn highest_pending_locality_wins() {
    let mut model = TisModel::immediate(Echo);
    granted(&mut model, 1);
    model.write8(0, offset::ACCESS, access::REQUEST_USE);
    model.write8(3, offset::ACCESS, access::REQUEST_USE);
    let value = model.read8(1, offset::ACCESS);
    assert_eq!(
        value,
        access::VALID | access::ACTIVE_LOCALITY | access::PENDING_REQUEST
    );
    assert_eq!(
        model.read8(0, offset::ACCESS),
        access::VALID | access::REQUEST_USE | access::PENDING_REQUEST
    );
    model.write8(1, offset::ACCESS, access::ACTIVE_LOCALITY);
    let _ = model.read8(0, offset::ACCESS);
    assert_eq!(model.active_locality(), Some(3));
    // Withdrawing a pending request.
    model.write8(0, offset::ACCESS, access::ACTIVE_LOCALITY);
    model.write8(3, offset::ACCESS, access::ACTIVE_LOCALITY);
    let _ = model.read8(0, offset::ACCESS);
    assert_eq!(model.active_locality(), None);
}

#[test]
fn latencies_count_register_reads() {
    let mut model = TisModel::new(Echo);
    model.ready_latency = 3;
    model.grant_latency = 2;
    model.write8(2, offset::ACCESS, access::REQUEST_USE);
    assert_eq!(model.read8(2, offset::ACCESS) & access::ACTIVE_LOCALITY, 0);
    assert_eq!(model.read8(2, offset::ACCESS) & access::ACTIVE_LOCALITY, 0);
    assert_ne!(model.read8(2, offset::ACCESS) & access::ACTIVE_LOCALITY, 0);
    model.write8(2, offset::STS, 0x40);
    let ready: Vec<bool> = (0..4)
        .map(|_| model.read32(2, offset::STS) & sts::COMMAND_READY != 0)
        .collect();
    assert_eq!(ready, [false, false, false, true]);
}

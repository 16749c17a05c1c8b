//! The FIFO protocol: probing, localities, and one command/response exchange.
//!
//! PTP (TCG PC Client Platform TPM Profile Specification for TPM 2.0) §6.5.2 "FIFO Interface":
//!
//! - Probing reads TPM_DID_VID (0 or all ones means no chip), waits TIMEOUT_A for
//!   tpmRegValidSts in TPM_ACCESS_x, and reads TPM_INTF_CAPABILITY_x, TPM_INTERFACE_ID_x and
//!   TPM_RID_x ([`Tis::probe`]).
//! - Locality use (TPM_ACCESS_x): write requestUse, wait TIMEOUT_A for activeLocality; write
//!   activeLocality to relinquish ([`Tis::request_locality`], [`Tis::release_locality`]).
//! - Sending (TPM_STS_x, §6.5.2.5, and the FIFO state machine Idle → Ready → Command Reception
//!   → Command Execution → Command Completion): make sure commandReady is 1 (write it and wait
//!   TIMEOUT_B), then write the command into TPM_DATA_FIFO_x in bursts of at most burstCount
//!   bytes (waiting TIMEOUT_D for a non-zero burstCount), all but the last byte first. After each
//!   burst wait TIMEOUT_C for stsValid and require Expect = 1; after the last byte require
//!   Expect = 0. Then write tpmGo.
//! - Completion: wait for dataAvail for the command's duration (§6.5.1.3, see
//!   [`crate::timeouts`]); on timeout write commandReady to abort.
//! - Receiving: read the 10-byte header in bursts, check the size it declares against the
//!   caller's buffer and the 4096-byte limit, read exactly that many bytes in bursts, wait for
//!   stsValid and require dataAvail = 0, and write commandReady to finish.
//!
//! A failure before tpmGo is retried (after a commandReady abort) up to
//! [`Config::send_retries`] times; nothing after tpmGo is retried because the TPM may have
//! executed the command. Every wait is bounded twice: by the clock, and by a poll count (twice
//! the polls the timeout needs, plus four) so that a clock which stops advancing cannot hang the
//! driver either.

use core::time::Duration;

use tpm2::cc::TpmCc;
use tpm2::header::{HEADER_SIZE, MAX_PACKET_SIZE, declared_size};
use tpm2::transport::Transport;

use crate::clock::Clock;
use crate::error::Error;
use crate::regs::{
    LOCALITY_COUNT, Registers, access, int, interface_id, intf_capability, offset, sts,
};
use crate::timeouts::Config;

/// What [`Tis::probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipInfo {
    /// The locality whose page was read.
    pub locality: u8,
    /// TPM_DID_VID_x.
    pub did_vid: u32,
    /// TPM_RID_x.
    pub rid: u8,
    /// TPM_INTF_CAPABILITY_x.
    pub intf_capability: u32,
    /// TPM_INTERFACE_ID_x.
    pub interface_id: u32,
}

impl ChipInfo {
    /// The vendor id (TCG vendor registry), bits 0..=15 of TPM_DID_VID.
    pub const fn vendor_id(&self) -> u16 {
        let bytes = self.did_vid.to_le_bytes();
        u16::from_le_bytes([bytes[0], bytes[1]])
    }

    /// The device id, bits 16..=31 of TPM_DID_VID.
    pub const fn device_id(&self) -> u16 {
        let bytes = self.did_vid.to_le_bytes();
        u16::from_le_bytes([bytes[2], bytes[3]])
    }

    /// InterfaceVersion of TPM_INTF_CAPABILITY (3 for a PTP FIFO interface of a TPM 2.0).
    pub const fn interface_version(&self) -> u8 {
        (self.intf_capability >> intf_capability::INTERFACE_VERSION_SHIFT).to_le_bytes()[0] & 0x7
    }

    /// InterfaceType of TPM_INTERFACE_ID (0 FIFO, 0xF a TIS 1.3 part without the register).
    pub const fn interface_type(&self) -> u8 {
        self.interface_id.to_le_bytes()[0] & 0xF
    }

    /// Whether burstCount stays constant during a burst (BurstCountStatic).
    pub const fn burst_count_static(&self) -> bool {
        self.intf_capability & intf_capability::BURST_COUNT_STATIC != 0
    }
}

/// One look at a register during a wait.
enum Poll<T> {
    /// The condition holds.
    Ready(T),
    /// Not yet; the value seen, for the timeout error.
    Pending(u32),
    /// A definite failure: stop waiting.
    Fail(Error),
}

/// Why a wait ended without its condition.
enum Waited {
    /// Time (or the poll budget) ran out; the last value seen.
    TimedOut(u32),
    /// The poll reported a failure.
    Failed(Error),
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn low_byte(value: u32) -> u8 {
    value.to_le_bytes()[0]
}

/// TPM_ACCESS_x says the locality is ours and the register is believable.
fn granted(value: u8) -> bool {
    value & access::READ_ZERO == 0
        && value & (access::VALID | access::ACTIVE_LOCALITY)
            == access::VALID | access::ACTIVE_LOCALITY
}

/// TPM_STS_x is believable and its stsValid bit is set.
fn sts_valid(value: u32) -> bool {
    sts::plausible(value) && value & sts::VALID != 0
}

/// The bits of TPM_STS_x that writes use, as the byte written to the status register.
fn sts_byte(bit: u32) -> u8 {
    low_byte(bit)
}

/// A polled FIFO-interface TPM driver over register access `R` and clock `C`.
///
/// Usage: [`Tis::probe`], [`Tis::request_locality`], then any number of
/// [`Transport::transact`] calls; [`Tis::release_locality`] when done. The driver never
/// allocates and never enables interrupts.
pub struct Tis<R, C> {
    regs: R,
    clock: C,
    config: Config,
    locality: Option<u8>,
    retries: u64,
}

impl<R, C> Tis<R, C> {
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The register access.
    pub fn registers(&self) -> &R {
        &self.regs
    }

    /// The register access, mutably (for diagnostics; writing registers behind the driver's
    /// back can break its protocol state).
    pub fn registers_mut(&mut self) -> &mut R {
        &mut self.regs
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The register access and the clock back.
    pub fn into_parts(self) -> (R, C) {
        (self.regs, self.clock)
    }

    /// The locality the driver holds, if any.
    pub fn locality(&self) -> Option<u8> {
        self.locality
    }

    /// How many times a command has been re-sent after a failed send, since creation.
    pub fn retries(&self) -> u64 {
        self.retries
    }
}

impl<R: Registers, C: Clock> Tis<R, C> {
    /// A driver with the default [`Config`] (PTP timeouts, TCG durations).
    pub fn new(regs: R, clock: C) -> Self {
        Self::with_config(regs, clock, Config::DEFAULT)
    }

    /// A driver with `config`.
    pub fn with_config(regs: R, clock: C, config: Config) -> Self {
        Self {
            regs,
            clock,
            config,
            locality: None,
            retries: 0,
        }
    }

    /// Polls `check` every poll interval until it is ready or fails, `timeout` has passed on
    /// the clock, or the poll budget is spent.
    fn wait<T>(
        &mut self,
        timeout: Duration,
        mut check: impl FnMut(&mut R) -> Poll<T>,
    ) -> Result<T, Waited> {
        let timeout_us = micros(timeout);
        let poll_us = micros(self.config.poll_interval).max(1);
        let budget = (timeout_us / poll_us).saturating_mul(2).saturating_add(4);
        let start = self.clock.now_us();
        let mut polls: u64 = 0;
        loop {
            let last = match check(&mut self.regs) {
                Poll::Ready(value) => return Ok(value),
                Poll::Fail(error) => return Err(Waited::Failed(error)),
                Poll::Pending(last) => last,
            };
            polls += 1;
            let elapsed = self.clock.now_us().saturating_sub(start);
            if elapsed >= timeout_us || polls >= budget {
                return Err(Waited::TimedOut(last));
            }
            self.clock.sleep_us(poll_us.min(timeout_us - elapsed));
        }
    }

    /// Identifies the chip through the lowest reachable locality page, without taking a
    /// locality.
    pub fn probe(&mut self) -> Result<ChipInfo, Error> {
        let locality = (0..LOCALITY_COUNT)
            .find(|&l| self.regs.has_locality(l))
            .ok_or(Error::LocalityUnavailable { locality: 0 })?;
        let did_vid = self.regs.read32(locality, offset::DID_VID);
        if did_vid == 0 || did_vid == u32::MAX {
            return Err(Error::NoDevice { did_vid });
        }
        let timeout = self.config.timeouts.a;
        self.wait(timeout, |regs| {
            let value = regs.read8(locality, offset::ACCESS);
            if value & access::READ_ZERO == 0 && value & access::VALID != 0 {
                Poll::Ready(())
            } else {
                Poll::Pending(u32::from(value))
            }
        })
        .map_err(|waited| match waited {
            Waited::TimedOut(last) => Error::RegistersNeverValid {
                locality,
                access: low_byte(last),
                timeout,
            },
            Waited::Failed(error) => error,
        })?;
        let info = ChipInfo {
            locality,
            did_vid,
            rid: self.regs.read8(locality, offset::RID),
            intf_capability: self.regs.read32(locality, offset::INTF_CAPABILITY),
            interface_id: self.regs.read32(locality, offset::INTERFACE_ID),
        };
        match info.interface_type() {
            interface_id::TYPE_FIFO | interface_id::TYPE_TIS13 => Ok(info),
            _ => Err(Error::UnsupportedInterface {
                interface_id: info.interface_id,
            }),
        }
    }

    /// Takes `locality` (0..=4), first releasing another locality the driver holds. Returns at
    /// once if the locality is already active.
    pub fn request_locality(&mut self, locality: u8) -> Result<(), Error> {
        if locality >= LOCALITY_COUNT || !self.regs.has_locality(locality) {
            return Err(Error::LocalityUnavailable { locality });
        }
        match self.locality {
            Some(held) if held != locality => self.release_locality(),
            _ => self.locality = None,
        }
        if granted(self.regs.read8(locality, offset::ACCESS)) {
            self.locality = Some(locality);
            return Ok(());
        }
        self.regs
            .write8(locality, offset::ACCESS, access::REQUEST_USE);
        let timeout = self.config.timeouts.a;
        let result = self.wait(timeout, |regs| {
            let value = regs.read8(locality, offset::ACCESS);
            if granted(value) {
                Poll::Ready(())
            } else {
                Poll::Pending(u32::from(value))
            }
        });
        match result {
            Ok(()) => {
                self.locality = Some(locality);
                Ok(())
            }
            Err(waited) => {
                // Withdraw the request so that a late grant does not leave the TPM locked to a
                // locality nobody uses.
                self.regs
                    .write8(locality, offset::ACCESS, access::ACTIVE_LOCALITY);
                Err(match waited {
                    Waited::TimedOut(last) => Error::LocalityTimeout {
                        locality,
                        access: low_byte(last),
                        timeout,
                    },
                    Waited::Failed(error) => error,
                })
            }
        }
    }

    /// Relinquishes the locality the driver holds (writes activeLocality), if any.
    pub fn release_locality(&mut self) {
        if let Some(locality) = self.locality.take() {
            self.regs
                .write8(locality, offset::ACCESS, access::ACTIVE_LOCALITY);
        }
    }

    /// Whether another locality is waiting for the TPM (pendingRequest in the held locality's
    /// TPM_ACCESS_x): the cue to [`Tis::release_locality`] between commands, as mini-os does
    /// after each response. `false` if the driver holds no locality.
    pub fn other_locality_waiting(&mut self) -> bool {
        self.locality.is_some_and(|locality| {
            let value = self.regs.read8(locality, offset::ACCESS);
            value & access::READ_ZERO == 0
                && value & access::VALID != 0
                && value & access::PENDING_REQUEST != 0
        })
    }

    /// Disables and acknowledges every interrupt of the held locality (TPM_INT_ENABLE_x,
    /// TPM_INT_STATUS_x), for a platform whose firmware left them on: this driver only polls.
    pub fn disable_interrupts(&mut self) -> Result<(), Error> {
        let locality = self.locality.ok_or(Error::NoLocality)?;
        let enabled = self.regs.read32(locality, offset::INT_ENABLE);
        self.regs.write32(
            locality,
            offset::INT_ENABLE,
            enabled & !(int::GLOBAL_ENABLE | int::ALL_SOURCES),
        );
        self.regs
            .write32(locality, offset::INT_STATUS, int::ALL_SOURCES);
        Ok(())
    }

    /// Writes commandReady: abort a command in reception or execution, discard a response, or
    /// ask an idle TPM to get ready.
    fn command_ready(&mut self, locality: u8) {
        self.regs
            .write8(locality, offset::STS, sts_byte(sts::COMMAND_READY));
    }

    /// Waits TIMEOUT_C for stsValid and returns TPM_STS_x.
    fn wait_valid(&mut self, locality: u8) -> Result<u32, Error> {
        let timeout = self.config.timeouts.c;
        self.wait(timeout, |regs| {
            let value = regs.read32(locality, offset::STS);
            if sts_valid(value) {
                Poll::Ready(value)
            } else {
                Poll::Pending(value)
            }
        })
        .map_err(|waited| match waited {
            Waited::TimedOut(sts) => Error::StsValidTimeout { sts, timeout },
            Waited::Failed(error) => error,
        })
    }

    /// Waits TIMEOUT_D for a non-zero burstCount and returns it.
    fn wait_burst(&mut self, locality: u8) -> Result<u16, Error> {
        let timeout = self.config.timeouts.d;
        self.wait(timeout, |regs| {
            let value = regs.read32(locality, offset::STS);
            let burst = sts::burst_count(value);
            if sts::plausible(value) && burst > 0 {
                Poll::Ready(burst)
            } else {
                Poll::Pending(value)
            }
        })
        .map_err(|waited| match waited {
            Waited::TimedOut(sts) => Error::BurstCountTimeout { sts, timeout },
            Waited::Failed(error) => error,
        })
    }

    /// Brings the TPM to Ready and writes the whole command, checking Expect.
    fn send(&mut self, locality: u8, command: &[u8]) -> Result<(), Error> {
        let status = self.regs.read32(locality, offset::STS);
        if !(sts::plausible(status) && status & sts::COMMAND_READY != 0) {
            self.command_ready(locality);
            let timeout = self.config.timeouts.b;
            self.wait(timeout, |regs| {
                let value = regs.read32(locality, offset::STS);
                if sts::plausible(value) && value & sts::COMMAND_READY != 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending(value)
                }
            })
            .map_err(|waited| match waited {
                Waited::TimedOut(sts) => Error::CommandReadyTimeout { sts, timeout },
                Waited::Failed(error) => error,
            })?;
        }
        let total = command.len();
        let mut sent = 0;
        while sent < total {
            let burst = usize::from(self.wait_burst(locality)?);
            // All bytes but the last go first; the last goes alone so that Expect can be seen
            // dropping exactly when the command is complete.
            let limit = if sent + 1 < total { total - 1 } else { total };
            let count = burst.min(limit - sent);
            for &byte in &command[sent..sent + count] {
                self.regs.write8(locality, offset::DATA_FIFO, byte);
            }
            sent += count;
            let status = self.wait_valid(locality)?;
            let expect = status & sts::EXPECT != 0;
            if expect != (sent < total) {
                return Err(Error::ExpectMismatch { sent, total });
            }
        }
        Ok(())
    }

    /// Reads one burst's worth of response bytes into `response[received..expected]`.
    fn read_burst(
        &mut self,
        locality: u8,
        response: &mut [u8],
        received: usize,
        expected: usize,
    ) -> Result<usize, Error> {
        let status = self.wait_valid(locality)?;
        if status & sts::DATA_AVAIL == 0 {
            return Err(Error::ShortResponse {
                expected,
                received,
                sts: status,
            });
        }
        let burst = match sts::burst_count(status) {
            0 => self.wait_burst(locality)?,
            burst => burst,
        };
        let count = usize::from(burst).min(expected - received);
        for slot in &mut response[received..received + count] {
            *slot = self.regs.read8(locality, offset::DATA_FIFO);
        }
        Ok(count)
    }

    /// Reads the header, validates its size, reads the rest and checks nothing is left.
    fn receive(&mut self, locality: u8, response: &mut [u8]) -> Result<usize, Error> {
        let mut received = 0;
        while received < HEADER_SIZE {
            received += self.read_burst(locality, response, received, HEADER_SIZE)?;
        }
        let size = declared_size(&response[..HEADER_SIZE]).unwrap_or(0);
        let max = response.len().min(MAX_PACKET_SIZE);
        let expected = match usize::try_from(size) {
            Ok(expected) if (HEADER_SIZE..=max).contains(&expected) => expected,
            _ => return Err(Error::BadResponseSize { size, max }),
        };
        while received < expected {
            received += self.read_burst(locality, response, received, expected)?;
        }
        let status = self.wait_valid(locality)?;
        if status & sts::DATA_AVAIL != 0 {
            return Err(Error::ExtraResponseData {
                size: expected,
                sts: status,
            });
        }
        Ok(expected)
    }

    /// One command/response exchange (see the module documentation).
    fn exchange(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
        let declared = declared_size(command);
        let whole = (HEADER_SIZE..=MAX_PACKET_SIZE).contains(&command.len())
            && declared.and_then(|size| usize::try_from(size).ok()) == Some(command.len());
        if !whole {
            return Err(Error::BadCommand {
                len: command.len(),
                declared,
            });
        }
        if response.len() < HEADER_SIZE {
            return Err(Error::ResponseBufferTooSmall {
                len: response.len(),
            });
        }
        let locality = self.locality.ok_or(Error::NoLocality)?;
        let access = self.regs.read8(locality, offset::ACCESS);
        if !granted(access) {
            return Err(Error::LocalityLost { locality, access });
        }
        let code = TpmCc(u32::from_be_bytes([
            command[6], command[7], command[8], command[9],
        ]));

        let mut attempt: u8 = 0;
        loop {
            match self.send(locality, command) {
                Ok(()) => break,
                Err(error) => {
                    self.command_ready(locality);
                    if attempt >= self.config.send_retries {
                        return Err(error);
                    }
                    attempt += 1;
                    self.retries += 1;
                }
            }
        }
        self.regs.write8(locality, offset::STS, sts_byte(sts::GO));

        let duration = self.config.duration(code);
        let completed = self.wait(duration, |regs| {
            let value = regs.read32(locality, offset::STS);
            if sts_valid(value) && value & sts::DATA_AVAIL != 0 {
                Poll::Ready(())
            } else if sts_valid(value) && value & sts::COMMAND_READY != 0 {
                Poll::Fail(Error::CommandAborted {
                    command: code,
                    sts: value,
                })
            } else {
                Poll::Pending(value)
            }
        });
        if let Err(waited) = completed {
            self.command_ready(locality);
            return Err(match waited {
                Waited::TimedOut(sts) => Error::ResponseTimeout {
                    command: code,
                    sts,
                    timeout: duration,
                },
                Waited::Failed(error) => error,
            });
        }

        let result = self.receive(locality, response);
        // Done with this response, or discard what is left of a bad one.
        self.command_ready(locality);
        result
    }
}

impl<R: Registers, C: Clock> Transport for Tis<R, C> {
    type Error = Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
        self.exchange(command, response)
    }
}

//! A register-level model of a FIFO-interface TPM, for tests (feature `model`).
//!
//! [`TisModel`] implements [`Registers`] with the PTP §6.5.2 behaviour: locality arbitration
//! through TPM_ACCESS_x (requestUse, activeLocality, pendingRequest; the highest requesting
//! locality is granted), and the FIFO state machine Idle → Ready → Command Reception (Expect) →
//! Command Execution → Command Completion (dataAvail) driven by commandReady, the data FIFO and
//! tpmGo, with burstCount limiting each burst. Writing commandReady in Reception or Execution
//! aborts, in Completion discards the response; the TPM then becomes Ready (as QEMU's TIS does).
//! A [`Responder`] plays the TPM behind the interface.
//!
//! Transitions take a number of register reads rather than time ([`TisModel::ready_latency`],
//! [`TisModel::grant_latency`], [`TisModel::exec_latency`]), so the model needs no clock and a
//! driver polling it must really poll. [`Faults`] makes it misbehave, and [`Stats`] records what
//! the driver did, including protocol violations (bytes written outside reception, tpmGo on an
//! incomplete command, FIFO reads without data, ...).
//!
//! [`SimClock`] and [`FrozenClock`] are [`Clock`]s for tests: simulated time that advances only
//! when the driver sleeps, and time that never advances at all.

use crate::clock::Clock;
use crate::regs::{LOCALITY_COUNT, Registers, access, offset, sts};

/// Capacity of the model's command and response buffers (the PTP FIFO limit).
pub const FIFO_SIZE: usize = 4096;

/// The most trailing bytes [`Faults::trailing_bytes`] can add.
pub const MAX_TRAILING: usize = 256;

/// The TPM behind the interface.
pub trait Responder {
    /// Executes `command` (complete, as received) and writes the response into `response`
    /// ([`FIFO_SIZE`] bytes), returning its length (clamped to the buffer).
    fn respond(&mut self, command: &[u8], response: &mut [u8]) -> usize;
}

impl<F: FnMut(&[u8], &mut [u8]) -> usize> Responder for F {
    fn respond(&mut self, command: &[u8], response: &mut [u8]) -> usize {
        self(command, response)
    }
}

/// Answers every command with TPM_ST_NO_SESSIONS, TPM_RC_SUCCESS and the command's parameter
/// bytes (everything after its 10-byte header), so response contents and sizes follow the
/// command.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Responder for Echo {
    fn respond(&mut self, command: &[u8], response: &mut [u8]) -> usize {
        let body = command.get(10..).unwrap_or(&[]);
        let len = (10 + body.len()).min(response.len());
        if len < 10 {
            return 0;
        }
        let size = u32::try_from(len).unwrap_or(u32::MAX);
        response[..2].copy_from_slice(&[0x80, 0x01]);
        response[2..6].copy_from_slice(&size.to_be_bytes());
        response[6..10].copy_from_slice(&[0, 0, 0, 0]);
        response[10..len].copy_from_slice(&body[..len - 10]);
        len
    }
}

/// The FIFO interface states of PTP §6.5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Idle: not ready for a command.
    Idle,
    /// Ready: commandReady = 1, the FIFO accepts a command.
    Ready,
    /// Command Reception: bytes arriving; Expect = 1 until the command is complete.
    Reception,
    /// Command Execution: after tpmGo.
    Execution,
    /// Command Completion: the response is in the FIFO; dataAvail = 1 while bytes remain.
    Completion,
}

/// Misbehaviours, all off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Nothing on the bus: every read returns all ones, writes vanish.
    pub absent: bool,
    /// TPM_ACCESS_x reads 0: tpmRegValidSts never set.
    pub registers_never_valid: bool,
    /// Locality requests stay pending forever.
    pub locality_never_granted: bool,
    /// commandReady never becomes 1 (the TPM stays Idle).
    pub command_ready_never: bool,
    /// burstCount always reads 0.
    pub burst_stuck_zero: bool,
    /// Every n-th TPM_STS_x read reports burstCount 0 (0 = never).
    pub burst_zero_every: u32,
    /// Expect is stuck at this value.
    pub expect_stuck: Option<bool>,
    /// stsValid never becomes 1.
    pub sts_valid_never: bool,
    /// stsValid alternates between 0 and 1 on successive TPM_STS_x reads.
    pub sts_valid_flap: bool,
    /// Commands never complete (dataAvail never becomes 1).
    pub no_response: bool,
    /// Commands end in Ready without a response, as if aborted internally.
    pub abort_during_execution: bool,
    /// The response header's size field is replaced by this value (the bytes are unchanged).
    pub response_size: Option<u32>,
    /// This many bytes (0xA5, at most [`MAX_TRAILING`]) follow each response in the FIFO.
    pub trailing_bytes: u16,
    /// The next this-many command receptions fail: Expect drops to 0 after the first byte.
    pub transient_send_failures: u32,
}

/// What the driver did to the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Commands executed (responses produced).
    pub commands: u32,
    /// Commands aborted by commandReady during reception or execution.
    pub aborts: u32,
    /// TPM_ACCESS_x reads.
    pub access_reads: u64,
    /// TPM_STS_x reads.
    pub sts_reads: u64,
    /// Bytes written to the data FIFO.
    pub fifo_writes: u64,
    /// Bytes read from the data FIFO.
    pub fifo_reads: u64,
    /// Accesses a correct driver never makes.
    pub violations: u32,
}

/// A simulated FIFO-interface TPM; see the module documentation.
#[derive(Debug, Clone)]
pub struct TisModel<T> {
    /// The TPM behind the interface.
    pub tpm: T,
    /// Active misbehaviours.
    pub faults: Faults,
    /// TPM_DID_VID value.
    pub did_vid: u32,
    /// TPM_RID value.
    pub rid: u8,
    /// TPM_INTF_CAPABILITY value.
    pub intf_capability: u32,
    /// TPM_INTERFACE_ID value.
    pub interface_id: u32,
    /// The largest burstCount reported.
    pub max_burst: u16,
    /// TPM_STS_x reads before commandReady appears after a commandReady write.
    pub ready_latency: u32,
    /// TPM_ACCESS_x reads before a requested locality is granted.
    pub grant_latency: u32,
    /// TPM_STS_x reads between tpmGo and the response.
    pub exec_latency: u32,
    /// What the driver did.
    pub stats: Stats,
    state: State,
    pending_ready: bool,
    countdown: u32,
    active: Option<u8>,
    requests: u8,
    grant_countdown: u32,
    sabotaged: bool,
    flap: bool,
    int_enable: [u32; LOCALITY_COUNT as usize],
    int_vector: [u8; LOCALITY_COUNT as usize],
    command: [u8; FIFO_SIZE],
    command_len: usize,
    executed: [u8; FIFO_SIZE],
    executed_len: usize,
    response: [u8; FIFO_SIZE + MAX_TRAILING],
    response_len: usize,
    response_pos: usize,
}

impl<T: Responder> TisModel<T> {
    /// An idle TPM with vendor 0x1014 / device 0x0001, a 32-byte burst, a PTP FIFO interface
    /// (InterfaceVersion 3, InterfaceType FIFO), small latencies and no faults.
    pub fn new(tpm: T) -> Self {
        Self {
            tpm,
            faults: Faults::default(),
            did_vid: 0x0001_1014,
            rid: 0x01,
            intf_capability: 0x3000_0697,
            interface_id: 0x0000_2100,
            max_burst: 32,
            ready_latency: 2,
            grant_latency: 1,
            exec_latency: 3,
            stats: Stats::default(),
            state: State::Idle,
            pending_ready: false,
            countdown: 0,
            active: None,
            requests: 0,
            grant_countdown: 0,
            sabotaged: false,
            flap: false,
            int_enable: [0; LOCALITY_COUNT as usize],
            int_vector: [0; LOCALITY_COUNT as usize],
            command: [0; FIFO_SIZE],
            command_len: 0,
            executed: [0; FIFO_SIZE],
            executed_len: 0,
            response: [0; FIFO_SIZE + MAX_TRAILING],
            response_len: 0,
            response_pos: 0,
        }
    }

    /// The same, with every latency 0 (transitions happen at the access that causes them).
    pub fn immediate(tpm: T) -> Self {
        Self {
            ready_latency: 0,
            grant_latency: 0,
            exec_latency: 0,
            ..Self::new(tpm)
        }
    }

    /// The interface state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The active locality.
    pub fn active_locality(&self) -> Option<u8> {
        self.active
    }

    /// The command bytes received so far in the current reception.
    pub fn command(&self) -> &[u8] {
        &self.command[..self.command_len]
    }

    /// The last command tpmGo started.
    pub fn last_command(&self) -> &[u8] {
        &self.executed[..self.executed_len]
    }

    /// TPM_INT_ENABLE_x of `locality`.
    pub fn int_enable(&self, locality: u8) -> u32 {
        self.int_enable
            .get(usize::from(locality))
            .copied()
            .unwrap_or(0)
    }

    fn violation(&mut self) {
        self.stats.violations = self.stats.violations.saturating_add(1);
    }

    fn command_complete(&self) -> bool {
        if self.command_len < 6 {
            return false;
        }
        let declared = u32::from_be_bytes([
            self.command[2],
            self.command[3],
            self.command[4],
            self.command[5],
        ]);
        usize::try_from(declared).is_ok_and(|declared| self.command_len >= declared)
    }

    fn enter_ready(&mut self) {
        self.state = State::Ready;
        self.pending_ready = false;
        self.command_len = 0;
    }

    /// commandReady written.
    fn command_ready(&mut self) {
        match self.state {
            State::Ready => self.command_len = 0,
            State::Reception | State::Execution | State::Idle | State::Completion => {
                if matches!(self.state, State::Reception | State::Execution) {
                    self.stats.aborts = self.stats.aborts.saturating_add(1);
                }
                self.state = State::Idle;
                self.command_len = 0;
                self.response_len = 0;
                self.response_pos = 0;
                self.sabotaged = false;
                self.pending_ready = !self.faults.command_ready_never;
                self.countdown = self.ready_latency;
                if self.pending_ready && self.countdown == 0 {
                    self.enter_ready();
                }
            }
        }
    }

    /// tpmGo written.
    fn go(&mut self) {
        if self.state != State::Reception || !self.command_complete() || self.sabotaged {
            self.violation();
            return;
        }
        self.executed[..self.command_len].copy_from_slice(&self.command[..self.command_len]);
        self.executed_len = self.command_len;
        self.state = State::Execution;
        self.countdown = self.exec_latency;
        if self.countdown == 0 && !self.faults.no_response {
            self.complete();
        }
    }

    /// Execution ends.
    fn complete(&mut self) {
        if self.faults.abort_during_execution {
            self.enter_ready();
            return;
        }
        let len = self
            .tpm
            .respond(
                &self.command[..self.command_len],
                &mut self.response[..FIFO_SIZE],
            )
            .min(FIFO_SIZE);
        if let Some(size) = self.faults.response_size {
            if len >= 6 {
                self.response[2..6].copy_from_slice(&size.to_be_bytes());
            }
        }
        let extra = usize::from(self.faults.trailing_bytes).min(MAX_TRAILING);
        self.response[len..len + extra].fill(0xA5);
        self.response_len = len + extra;
        self.response_pos = 0;
        self.state = State::Completion;
        self.stats.commands = self.stats.commands.saturating_add(1);
    }

    /// One TPM_STS_x read's worth of time passes.
    fn tick(&mut self) {
        match self.state {
            State::Idle if self.pending_ready => {
                if self.countdown == 0 {
                    self.enter_ready();
                } else {
                    self.countdown -= 1;
                }
            }
            State::Execution if !self.faults.no_response => {
                if self.countdown == 0 {
                    self.complete();
                } else {
                    self.countdown -= 1;
                }
            }
            _ => {}
        }
    }

    fn read_sts(&mut self, locality: u8) -> u32 {
        self.stats.sts_reads = self.stats.sts_reads.saturating_add(1);
        if self.active != Some(locality) {
            return u32::MAX;
        }
        self.tick();
        let faults = self.faults;
        // tpmFamily = 01: TPM 2.0.
        let mut value = 1 << sts::FAMILY_SHIFT;
        let valid = if faults.sts_valid_never {
            false
        } else if faults.sts_valid_flap {
            self.flap = !self.flap;
            self.flap
        } else {
            true
        };
        if valid {
            value |= sts::VALID;
        }
        if self.state == State::Ready {
            value |= sts::COMMAND_READY;
        }
        if self.state == State::Completion && self.response_pos < self.response_len {
            value |= sts::DATA_AVAIL;
        }
        let expect = faults.expect_stuck.unwrap_or(
            self.state == State::Reception && !self.sabotaged && !self.command_complete(),
        );
        if expect {
            value |= sts::EXPECT;
        }
        let room = match self.state {
            State::Ready | State::Reception => FIFO_SIZE - self.command_len,
            State::Completion => self.response_len - self.response_pos,
            State::Idle | State::Execution => 0,
        };
        let zero_now = faults.burst_zero_every != 0
            && self.stats.sts_reads % u64::from(faults.burst_zero_every) == 0;
        let burst = if faults.burst_stuck_zero || zero_now {
            0
        } else {
            u16::try_from(room).unwrap_or(u16::MAX).min(self.max_burst)
        };
        value | (u32::from(burst) << sts::BURST_COUNT_SHIFT)
    }

    fn write_sts(&mut self, locality: u8, value: u32) {
        if self.active != Some(locality) {
            self.violation();
            return;
        }
        match value & (sts::COMMAND_READY | sts::GO | sts::RESPONSE_RETRY) {
            sts::COMMAND_READY => self.command_ready(),
            sts::GO => self.go(),
            sts::RESPONSE_RETRY if self.state == State::Completion => self.response_pos = 0,
            _ => self.violation(),
        }
    }

    fn write_fifo(&mut self, locality: u8, byte: u8) {
        self.stats.fifo_writes = self.stats.fifo_writes.saturating_add(1);
        if self.active != Some(locality) {
            self.violation();
            return;
        }
        let accepting = match self.state {
            State::Ready => true,
            State::Reception => !self.command_complete() && self.command_len < FIFO_SIZE,
            State::Idle | State::Execution | State::Completion => false,
        };
        if !accepting {
            self.violation();
            return;
        }
        if self.state == State::Ready && self.faults.transient_send_failures > 0 {
            self.faults.transient_send_failures -= 1;
            self.sabotaged = true;
        }
        self.command[self.command_len] = byte;
        self.command_len += 1;
        self.state = State::Reception;
    }

    fn read_fifo(&mut self, locality: u8) -> u8 {
        self.stats.fifo_reads = self.stats.fifo_reads.saturating_add(1);
        if self.active != Some(locality)
            || self.state != State::Completion
            || self.response_pos >= self.response_len
        {
            self.violation();
            return 0xFF;
        }
        let byte = self.response[self.response_pos];
        self.response_pos += 1;
        byte
    }

    /// Grants the highest pending request once the TPM is free and the latency has passed.
    fn arbitrate(&mut self) {
        if self.active.is_some() || self.requests == 0 || self.faults.locality_never_granted {
            return;
        }
        if self.grant_countdown > 0 {
            self.grant_countdown -= 1;
            return;
        }
        let highest = self.requests.ilog2();
        let locality = u8::try_from(highest).unwrap_or(0);
        self.active = Some(locality);
        self.requests &= !(1 << locality);
    }

    fn read_access(&mut self, locality: u8) -> u8 {
        self.stats.access_reads = self.stats.access_reads.saturating_add(1);
        if self.faults.registers_never_valid {
            return 0;
        }
        self.arbitrate();
        let bit = 1 << locality;
        let mut value = access::VALID;
        if self.active == Some(locality) {
            value |= access::ACTIVE_LOCALITY;
        }
        if self.requests & bit != 0 {
            value |= access::REQUEST_USE;
        }
        if self.requests & !bit != 0 {
            value |= access::PENDING_REQUEST;
        }
        value
    }

    fn write_access(&mut self, locality: u8, value: u8) {
        let bit = 1 << locality;
        if value & access::REQUEST_USE != 0 && self.active != Some(locality) {
            if self.requests == 0 {
                self.grant_countdown = self.grant_latency;
            }
            self.requests |= bit;
        }
        if value & access::ACTIVE_LOCALITY != 0 {
            if self.active == Some(locality) {
                self.active = None;
                self.grant_countdown = self.grant_latency;
            } else {
                self.requests &= !bit;
            }
        }
        if value & access::SEIZE != 0 {
            self.violation();
        }
    }

    /// A register without read side effects, or with the side effects of one read.
    fn read_register(&mut self, locality: u8, register: u16) -> u32 {
        let index = usize::from(locality);
        match register {
            offset::ACCESS => u32::from(self.read_access(locality)),
            offset::INT_ENABLE => self.int_enable[index],
            offset::INT_VECTOR => u32::from(self.int_vector[index]),
            offset::INTF_CAPABILITY => self.intf_capability,
            offset::STS => self.read_sts(locality),
            offset::INTERFACE_ID => self.interface_id,
            offset::DID_VID => self.did_vid,
            offset::RID => u32::from(self.rid),
            // TPM_INT_STATUS_x: no interrupt is ever pending; reserved space reads 0.
            _ => 0,
        }
    }
}

impl<T: Responder> Registers for TisModel<T> {
    fn read8(&mut self, locality: u8, offset: u16) -> u8 {
        if self.faults.absent {
            return 0xFF;
        }
        if locality >= LOCALITY_COUNT {
            self.violation();
            return 0xFF;
        }
        if offset & !3 == offset::DATA_FIFO {
            return self.read_fifo(locality);
        }
        let value = self.read_register(locality, offset & !3);
        value.to_le_bytes()[usize::from(offset & 3)]
    }

    fn write8(&mut self, locality: u8, offset: u16, value: u8) {
        if self.faults.absent {
            return;
        }
        if locality >= LOCALITY_COUNT {
            self.violation();
            return;
        }
        match offset {
            offset::ACCESS => self.write_access(locality, value),
            offset::STS => self.write_sts(locality, u32::from(value)),
            o if o & !3 == offset::DATA_FIFO => self.write_fifo(locality, value),
            offset::INT_VECTOR => self.int_vector[usize::from(locality)] = value,
            _ => self.violation(),
        }
    }

    fn read32(&mut self, locality: u8, offset: u16) -> u32 {
        if self.faults.absent {
            return u32::MAX;
        }
        if locality >= LOCALITY_COUNT || offset % 4 != 0 {
            self.violation();
            return u32::MAX;
        }
        if offset == offset::DATA_FIFO {
            let bytes = core::array::from_fn(|_| self.read_fifo(locality));
            return u32::from_le_bytes(bytes);
        }
        self.read_register(locality, offset)
    }

    fn write32(&mut self, locality: u8, offset: u16, value: u32) {
        if self.faults.absent {
            return;
        }
        if locality >= LOCALITY_COUNT || offset % 4 != 0 {
            self.violation();
            return;
        }
        match offset {
            offset::STS => self.write_sts(locality, value),
            offset::INT_ENABLE if self.active == Some(locality) => {
                self.int_enable[usize::from(locality)] = value;
            }
            // Write 1 to clear; nothing is ever pending.
            offset::INT_STATUS if self.active == Some(locality) => {}
            _ => self.violation(),
        }
    }
}

/// Simulated time: starts at 0 and advances only by what the driver sleeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimClock {
    /// The current simulated time in microseconds.
    pub time_us: u64,
    /// How many times the driver slept.
    pub sleeps: u64,
}

impl Clock for SimClock {
    fn now_us(&mut self) -> u64 {
        self.time_us
    }

    fn sleep_us(&mut self, us: u64) {
        self.time_us = self.time_us.saturating_add(us);
        self.sleeps = self.sleeps.saturating_add(1);
    }
}

/// A broken clock: time never advances and sleeping returns at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrozenClock {
    /// How many times the driver slept.
    pub sleeps: u64,
}

impl Clock for FrozenClock {
    fn now_us(&mut self) -> u64 {
        0
    }

    fn sleep_us(&mut self, _us: u64) {
        self.sleeps = self.sleeps.saturating_add(1);
    }
}

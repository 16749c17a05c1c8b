//! What both socket front-ends share: the [`Device`] (the TPM engine with its power state,
//! locality and persistence, behind one mutex), the two listening channels served by one thread
//! each, and bounded, timed reads of requests.
//!
//! Connection policy (both channels, both protocols):
//!
//! - one client at a time per channel; further clients wait in the listen queue;
//! - `TCP_NODELAY` on every connection, writes time out after [`Limits::write_timeout`];
//! - between requests a client may stay idle as long as it likes, unless another client is
//!   waiting on the same channel: then a client idle for [`Limits::idle_yield`] is disconnected
//!   and the waiting one served (so a forgotten connection cannot block a channel forever);
//! - once the first byte of a request has arrived, the rest must arrive within
//!   [`Limits::request_timeout`]; otherwise the connection is closed (on the data channel after
//!   a TPM_RC_COMMAND_SIZE response);
//! - a request is executed only once it has been received completely: a client that
//!   disconnects mid-command leaves the TPM untouched;
//! - every buffer is bounded by the negotiated buffer size (at most 4096 bytes).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tpm2::cc::TpmCc;
use tpm2::header::{HEADER_SIZE, MAX_PACKET_SIZE};
use tpm2::rc::TpmRc;
use zeroize::Zeroizing;

use super::signal;
use super::state_file::{StateFile, StateFileError};
use crate::domain::DomainError;
use crate::engine::Engine;

/// The operations of a TPM the front-ends need: [`Engine`] in production, a recording
/// stand-in in the unit tests of [`Device`].
pub trait TpmBackend: Send {
    /// Executes one command at `locality`; returns the whole response.
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8>;
    /// _TPM_Init.
    fn power_on(&mut self);
    /// The whole state as one blob.
    fn save_state(&self) -> Zeroizing<Vec<u8>>;
    /// Whether crash-relevant state changed since the last call (clears the flag).
    fn take_dirty(&mut self) -> bool;
    /// A backend that persists itself (the manager-backed [`crate::domain::Domain`]): makes
    /// any save it still owes. Others have nothing to do.
    fn flush(&mut self) -> Result<(), DomainError> {
        Ok(())
    }
}

/// Why the state could not be made durable.
#[derive(Debug)]
pub enum PersistError {
    /// The sealed state file.
    File(StateFileError),
    /// The manager-backed domain (image or manager).
    Domain(DomainError),
}

impl core::fmt::Display for PersistError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::File(e) => write!(f, "{e}"),
            Self::Domain(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PersistError {}

impl From<StateFileError> for PersistError {
    fn from(e: StateFileError) -> Self {
        Self::File(e)
    }
}

impl TpmBackend for Engine {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        Engine::execute(self, locality, command)
    }
    fn power_on(&mut self) {
        Engine::power_on(self);
    }
    fn save_state(&self) -> Zeroizing<Vec<u8>> {
        Engine::save_state(self)
    }
    fn take_dirty(&mut self) -> bool {
        Engine::take_dirty(self)
    }
}

/// The smallest buffer size CMD_SET_BUFFERSIZE accepts (what swtpm 0.7.1 reports).
pub const MIN_BUFFER_SIZE: u32 = 2808;
/// The largest (and default) buffer size: the largest command or response.
pub const MAX_BUFFER_SIZE: u32 = 4096;

/// A 10-byte TPM 2.0 response carrying only `rc`.
pub fn rc_response(rc: TpmRc) -> Vec<u8> {
    let mut r = Vec::with_capacity(HEADER_SIZE);
    r.extend_from_slice(&0x8001u16.to_be_bytes());
    r.extend_from_slice(&10u32.to_be_bytes());
    r.extend_from_slice(&rc.0.to_be_bytes());
    r
}

/// The response code of a response (0 if it is too short to carry one).
pub(crate) fn response_code(rsp: &[u8]) -> u32 {
    rsp.get(6..10)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes)
}

/// The command code of a command, if it has a whole header.
pub(crate) fn command_code(cmd: &[u8]) -> Option<u32> {
    cmd.get(6..10)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
}

/// The TPM and everything the front-ends keep about it.
pub struct Device {
    tpm: Box<dyn TpmBackend>,
    store: Option<StateFile>,
    /// swtpm: not stopped (CMD_STOP .. CMD_INIT); mssim: powered on.
    running: bool,
    /// The locality of data-channel commands (CMD_SET_LOCALITY, or the mssim-style prefix).
    locality: u8,
    /// The buffer size set with CMD_SET_BUFFERSIZE: the largest command accepted.
    buffer_size: u32,
    /// The command code of the last command executed (to decide whether an orderly
    /// TPM2_Shutdown is needed before the process ends).
    last_command: Option<u32>,
    /// The TIS/CRB tpmEstablished flag. Only _TPM_Hash_Start sets it, and that is not offered
    /// (no CMD_HASH_*), so it stays clear; CMD_RESET_TPMESTABLISHED clears it.
    established: bool,
    /// A state change that could not be written yet: no further command runs until it is.
    persist_pending: bool,
    verbose: bool,
}

impl core::fmt::Debug for Device {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("running", &self.running)
            .field("locality", &self.locality)
            .field("buffer_size", &self.buffer_size)
            .field("persistent", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A device around `tpm` (powered on), persisting into `store` if given.
    pub fn new(tpm: Box<dyn TpmBackend>, store: Option<StateFile>, verbose: bool) -> Self {
        Self {
            tpm,
            store,
            running: true,
            locality: 0,
            buffer_size: MAX_BUFFER_SIZE,
            last_command: None,
            established: false,
            persist_pending: false,
            verbose,
        }
    }

    /// Whether state is written to a sealed file (CMD_GET_CONFIG's "file key" flag).
    pub fn has_file_key(&self) -> bool {
        self.store.is_some()
    }

    /// Whether the TPM accepts commands (not stopped / powered on).
    pub fn running(&self) -> bool {
        self.running
    }

    pub(crate) fn set_running(&mut self, running: bool) {
        self.running = running;
    }

    pub(crate) fn locality(&self) -> u8 {
        self.locality
    }

    pub(crate) fn set_locality(&mut self, locality: u8) {
        self.locality = locality;
    }

    pub(crate) fn buffer_size(&self) -> u32 {
        self.buffer_size
    }

    pub(crate) fn set_buffer_size(&mut self, size: u32) {
        self.buffer_size = size.clamp(MIN_BUFFER_SIZE, MAX_BUFFER_SIZE);
    }

    pub(crate) fn established(&self) -> bool {
        self.established
    }

    pub(crate) fn reset_established(&mut self) {
        self.established = false;
    }

    /// The largest command the data channel accepts now.
    pub(crate) fn max_command(&self) -> usize {
        usize::try_from(self.buffer_size).map_or(MAX_PACKET_SIZE, |s| s.min(MAX_PACKET_SIZE))
    }

    /// Executes one whole command. Before the response is returned, any state change the
    /// command made is written to the state file; if that fails the response is replaced by
    /// TPM_RC_FAILURE and no further command runs until a write succeeds.
    pub fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        if self.persist_pending && !self.flush_pending() {
            return rc_response(TpmRc::FAILURE);
        }
        let rsp = self.tpm.execute(locality, command);
        if let Some(cc) = command_code(command) {
            self.last_command = Some(cc);
        }
        if self.verbose {
            let cc = command_code(command).unwrap_or(0);
            let name = TpmCc(cc).name().unwrap_or("?");
            eprintln!(
                "vtpm-domain: {name} (0x{cc:08x}) at locality {locality}: {} bytes in, rc \
                 0x{:08x}, {} bytes out",
                command.len(),
                response_code(&rsp),
                rsp.len()
            );
        }
        if self.tpm.take_dirty() {
            self.persist_pending = true;
            if !self.flush_pending() {
                return rc_response(TpmRc::FAILURE);
            }
        }
        rsp
    }

    /// Writes the state if a write is owed; false if it failed (the error is logged).
    fn flush_pending(&mut self) -> bool {
        match self.write_state() {
            Ok(()) => {
                self.persist_pending = false;
                true
            }
            Err(e) => {
                eprintln!("vtpm-domain: error: cannot save the TPM state: {e}");
                false
            }
        }
    }

    fn write_state(&mut self) -> Result<(), PersistError> {
        match &mut self.store {
            Some(store) => {
                let blob = self.tpm.save_state();
                store.save(&blob)?;
            }
            None => self.tpm.flush().map_err(PersistError::Domain)?,
        }
        Ok(())
    }

    /// _TPM_Init: the TPM restarts and waits for TPM2_Startup; it accepts commands again.
    pub fn power_on(&mut self) -> Result<(), PersistError> {
        self.tpm.power_on();
        self.running = true;
        self.last_command = None;
        if self.tpm.take_dirty() || self.store.is_none() {
            self.persist_now()?;
        }
        Ok(())
    }

    /// Writes the whole state now, dirty or not (CMD_STORE_VOLATILE, shutdown); a
    /// self-persisting backend makes any save it still owes.
    pub fn persist_now(&mut self) -> Result<(), PersistError> {
        self.persist_pending = true;
        self.write_state()?;
        self.persist_pending = false;
        Ok(())
    }

    /// Before the process ends: if the TPM runs and the last command was not TPM2_Shutdown,
    /// sends TPM2_Shutdown(STATE) (and TPM2_Shutdown(CLEAR) should that fail for another
    /// reason than a missing TPM2_Startup), as swtpm does since 0.8, so that the next
    /// TPM2_Startup does not count a disorderly shutdown against the dictionary-attack logic.
    pub fn orderly_shutdown(&mut self) {
        if !self.running || self.last_command == Some(TpmCc::SHUTDOWN.0) {
            return;
        }
        for su in [1u16, 0u16] {
            let mut cmd = Vec::with_capacity(12);
            cmd.extend_from_slice(&0x8001u16.to_be_bytes());
            cmd.extend_from_slice(&12u32.to_be_bytes());
            cmd.extend_from_slice(&TpmCc::SHUTDOWN.0.to_be_bytes());
            cmd.extend_from_slice(&su.to_be_bytes());
            let rsp = self.execute(0, &cmd);
            let rc = response_code(&rsp);
            if rc == TpmRc::SUCCESS.0 || rc == TpmRc::INITIALIZE.0 {
                break;
            }
        }
    }
}

/// The time limits of the connection policy (module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long the rest of a request may take once its first byte arrived.
    pub request_timeout: Duration,
    /// How long an idle client keeps its channel while another client waits.
    pub idle_yield: Duration,
    /// How long a response write may block.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            idle_yield: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// The most a closing connection reads and discards.
const LINGER_BYTES: usize = 64 * 1024;
/// The longest a closing connection waits for the client to stop sending.
const LINGER_TIME: Duration = Duration::from_secs(1);

/// How often blocked reads wake up to check for a stop request or a waiting client.
const TICK: Duration = Duration::from_millis(100);

/// State shared by the channel threads.
#[derive(Debug)]
pub(crate) struct Shared {
    device: Mutex<Device>,
    stop: AtomicBool,
    limits: Limits,
}

impl Shared {
    /// The device, or `None` if a thread panicked while holding it: its state can no longer be
    /// trusted, so it is neither used nor saved again (callers answer TPM_RC_FAILURE).
    pub(crate) fn device(&self) -> Option<MutexGuard<'_, Device>> {
        self.device.lock().ok()
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Why a connection stopped being served.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// The client closed the connection between requests.
    Closed,
    /// The client closed the connection in the middle of a request (which is dropped).
    ClosedMidRequest,
    /// A request did not complete within [`Limits::request_timeout`].
    Stalled,
    /// The request's framing cannot be followed (an error response was sent if possible).
    Unrecoverable,
    /// The client stayed idle while another one was waiting.
    Yield,
    /// The server is stopping.
    Stop,
    /// The connection failed.
    Io(io::Error),
}

impl core::fmt::Display for Interrupt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Closed => f.write_str("client closed the connection"),
            Self::ClosedMidRequest => {
                f.write_str("client closed the connection mid-request (request dropped)")
            }
            Self::Stalled => f.write_str("request not completed in time"),
            Self::Unrecoverable => f.write_str("request framing cannot be followed"),
            Self::Yield => f.write_str("idle client replaced by a waiting one"),
            Self::Stop => f.write_str("server stopping"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// One accepted client.
pub(crate) struct Conn<'a> {
    stream: TcpStream,
    listener: &'a TcpListener,
    waiting: &'a mut Option<TcpStream>,
    shared: &'a Shared,
    idle_since: Instant,
}

impl<'a> Conn<'a> {
    pub(crate) fn shared(&self) -> &'a Shared {
        self.shared
    }

    /// Whether another client is waiting to be served on this channel.
    fn other_client_waiting(&mut self) -> bool {
        if self.waiting.is_some() {
            return true;
        }
        match self.listener.accept() {
            Ok((s, _)) => {
                *self.waiting = Some(s);
                true
            }
            Err(_) => false,
        }
    }

    /// Reads exactly `buf.len()` bytes of a request. `started` is when the request's first
    /// byte arrived (`None` if none has yet: then the client may idle, see the module doc).
    pub(crate) fn read_request(
        &mut self,
        buf: &mut [u8],
        started: &mut Option<Instant>,
    ) -> Result<(), Interrupt> {
        let mut got = 0;
        while got < buf.len() {
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(if started.is_some() {
                        Interrupt::ClosedMidRequest
                    } else {
                        Interrupt::Closed
                    });
                }
                Ok(n) => {
                    got += n;
                    started.get_or_insert_with(Instant::now);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.shared.stopping() {
                        return Err(Interrupt::Stop);
                    }
                    match started {
                        Some(t) if t.elapsed() > self.shared.limits.request_timeout => {
                            return Err(Interrupt::Stalled);
                        }
                        Some(_) => {}
                        None => {
                            if self.idle_since.elapsed() >= self.shared.limits.idle_yield
                                && self.other_client_waiting()
                            {
                                return Err(Interrupt::Yield);
                            }
                        }
                    }
                }
                Err(e) => return Err(Interrupt::Io(e)),
            }
        }
        Ok(())
    }

    /// Sends a whole reply and starts a new idle period.
    pub(crate) fn reply(&mut self, parts: &[&[u8]]) -> Result<(), Interrupt> {
        let total = parts.iter().map(|p| p.len()).sum();
        let mut msg = Vec::with_capacity(total);
        for p in parts {
            msg.extend_from_slice(p);
        }
        self.stream.write_all(&msg).map_err(Interrupt::Io)?;
        self.idle_since = Instant::now();
        Ok(())
    }

    /// Closes the connection without resetting it: the write side is shut down first and what
    /// the client is still sending is read and discarded (at most [`LINGER_BYTES`], for at
    /// most [`LINGER_TIME`]), so the last response is not destroyed by a TCP reset.
    fn close(mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER_TIME;
        let mut scratch = [0u8; 1024];
        let mut budget = LINGER_BYTES;
        while budget > 0 && Instant::now() < deadline {
            match self.stream.read(&mut scratch) {
                Ok(0) => break,
                Ok(n) => budget = budget.saturating_sub(n),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Discards whatever the client has already sent (bounded), without waiting for more.
    pub(crate) fn drain_available(&mut self) {
        if self.stream.set_nonblocking(true).is_err() {
            return;
        }
        let mut scratch = [0u8; 512];
        let mut budget = usize::try_from(MAX_BUFFER_SIZE).unwrap_or(4096);
        while budget > 0 {
            match self.stream.read(&mut scratch) {
                Ok(0) | Err(_) => break,
                Ok(n) => budget = budget.saturating_sub(n),
            }
        }
        let _ = self.stream.set_nonblocking(false);
    }
}

/// A request handler: serves one connection until it ends.
pub(crate) type Handler = fn(&mut Conn<'_>) -> Result<(), Interrupt>;

/// Which protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// swtpm's socket interface: data channel on PORT, control channel on PORT + 1.
    Swtpm,
    /// The TCG simulator's interface: command port PORT, platform port PORT + 1.
    Mssim,
}

impl Protocol {
    /// What the second port is called.
    pub fn second_port_name(self) -> &'static str {
        match self {
            Self::Swtpm => "control",
            Self::Mssim => "platform",
        }
    }
}

/// Why [`Server::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A client asked (CMD_SHUTDOWN, mssim TPM_STOP).
    Requested,
    /// SIGTERM or SIGINT.
    Signal,
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    protocol: Protocol,
    first: TcpListener,
    second: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `addr` (data / command port) and the next port (control / platform port).
    pub fn bind(
        protocol: Protocol,
        addr: SocketAddr,
        device: Device,
        limits: Limits,
    ) -> io::Result<Self> {
        let next = addr
            .port()
            .checked_add(1)
            .ok_or_else(|| io::Error::other("the port must be below 65535"))?;
        let first = TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        let second_addr = SocketAddr::new(addr.ip(), next);
        let second = TcpListener::bind(second_addr).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen on {second_addr}: {e}"))
        })?;
        Ok(Self {
            protocol,
            first,
            second,
            shared: Arc::new(Shared {
                device: Mutex::new(device),
                stop: AtomicBool::new(false),
                limits,
            }),
        })
    }

    /// The bound addresses (data / command, control / platform).
    pub fn local_addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.first.local_addr()?, self.second.local_addr()?))
    }

    /// Serves both channels until a client asks the server to stop or a termination signal
    /// arrives; either way the state is saved (after an orderly TPM2_Shutdown) before this
    /// returns. Threads still blocked in `accept` are left to the process exit.
    pub fn run(self) -> StopReason {
        let (h1, h2): (Handler, Handler) = match self.protocol {
            Protocol::Swtpm => (super::swtpm::serve_data, super::swtpm::serve_control),
            Protocol::Mssim => (super::mssim::serve_command, super::mssim::serve_platform),
        };
        let names = match self.protocol {
            Protocol::Swtpm => ["data", "control"],
            Protocol::Mssim => ["command", "platform"],
        };
        for (listener, handler, name) in [(self.first, h1, names[0]), (self.second, h2, names[1])] {
            let shared = Arc::clone(&self.shared);
            let spawned = thread::Builder::new()
                .name(format!("vtpm-{name}"))
                .spawn(move || channel_loop(&listener, &shared, handler, name));
            if let Err(e) = spawned {
                eprintln!("vtpm-domain: error: cannot start the {name} thread: {e}");
                self.shared.request_stop();
            }
        }
        loop {
            if self.shared.stopping() {
                return StopReason::Requested;
            }
            if signal::take() {
                eprintln!("vtpm-domain: termination signal: saving state and exiting");
                self.shared.request_stop();
                if let Some(mut dev) = self.shared.device() {
                    dev.orderly_shutdown();
                    if let Err(e) = dev.persist_now() {
                        eprintln!("vtpm-domain: error: cannot save the TPM state: {e}");
                    }
                }
                return StopReason::Signal;
            }
            thread::sleep(TICK);
        }
    }
}

fn configure(stream: &TcpStream, limits: &Limits) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TICK))?;
    stream.set_write_timeout(Some(limits.write_timeout))
}

/// Accepts clients one at a time and hands each to `handler` until the server stops.
fn channel_loop(listener: &TcpListener, shared: &Shared, handler: Handler, name: &str) {
    let mut waiting: Option<TcpStream> = None;
    while !shared.stopping() {
        let stream = if let Some(s) = waiting.take() {
            s
        } else {
            if listener.set_nonblocking(false).is_err() {
                thread::sleep(TICK);
                continue;
            }
            match listener.accept() {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("vtpm-domain: {name} channel: accept failed: {e}");
                    thread::sleep(TICK);
                    continue;
                }
            }
        };
        if shared.stopping() {
            break;
        }
        if configure(&stream, &shared.limits).is_err() || listener.set_nonblocking(true).is_err() {
            continue;
        }
        let mut conn = Conn {
            stream,
            listener,
            waiting: &mut waiting,
            shared,
            idle_since: Instant::now(),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| handler(&mut conn)));
        match outcome {
            Ok(Err(Interrupt::Closed | Interrupt::Stop) | Ok(())) => {}
            Ok(Err(why)) => eprintln!("vtpm-domain: {name} channel: connection dropped: {why}"),
            Err(_) => eprintln!(
                "vtpm-domain: {name} channel: internal error while serving a client; the TPM \
                 now answers TPM_RC_FAILURE"
            ),
        }
        conn.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{self, SealKey};

    /// Records commands; every command and power-on changes persistent state. The response
    /// code of TPM2_Shutdown(STATE) is configurable.
    struct Mock {
        log: Log,
        dirty: bool,
        shutdown_state_rc: TpmRc,
    }

    impl TpmBackend for Mock {
        fn execute(&mut self, _locality: u8, command: &[u8]) -> Vec<u8> {
            self.log.lock().unwrap().push(command.to_vec());
            self.dirty = true;
            let is_shutdown_state = command_code(command) == Some(TpmCc::SHUTDOWN.0)
                && command.get(10..12) == Some(&[0, 1]);
            rc_response(if is_shutdown_state {
                self.shutdown_state_rc
            } else {
                TpmRc::SUCCESS
            })
        }
        fn power_on(&mut self) {
            self.dirty = true;
        }
        fn save_state(&self) -> Zeroizing<Vec<u8>> {
            let n = u8::try_from(self.log.lock().unwrap().len()).unwrap();
            Zeroizing::new(vec![n])
        }
        fn take_dirty(&mut self) -> bool {
            core::mem::take(&mut self.dirty)
        }
    }

    type Log = Arc<Mutex<Vec<Vec<u8>>>>;

    fn mock(shutdown_state_rc: TpmRc) -> (Box<Mock>, Log) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let m = Mock {
            log: Arc::clone(&log),
            dirty: false,
            shutdown_state_rc,
        };
        (Box::new(m), log)
    }

    const GET_RANDOM: [u8; 12] = [0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x7b, 0, 8];

    #[test]
    fn a_failed_write_fails_the_command_and_holds_back_the_next() {
        let dir = std::env::temp_dir().join(format!("vtpm-server-persist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let key = || SealKey::new([1; 32]);
        let (file, _) = StateFile::open(&path, key()).unwrap();
        let (tpm, log) = mock(TpmRc::SUCCESS);
        let mut dev = Device::new(tpm, Some(file), false);

        assert_eq!(dev.execute(0, &GET_RANDOM), rc_response(TpmRc::SUCCESS));
        let on_disk = seal::unseal(&key(), &std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(&on_disk.state[..], &[1]);

        // The directory disappears: the write fails, so does the command's response.
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(dev.execute(0, &GET_RANDOM), rc_response(TpmRc::FAILURE));
        assert_eq!(log.lock().unwrap().len(), 2);
        // Until the state is written, nothing else runs.
        assert_eq!(dev.execute(0, &GET_RANDOM), rc_response(TpmRc::FAILURE));
        assert_eq!(log.lock().unwrap().len(), 2);

        // Storage is back: the owed write happens first, then the command runs.
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(dev.execute(0, &GET_RANDOM), rc_response(TpmRc::SUCCESS));
        assert_eq!(log.lock().unwrap().len(), 3);
        let on_disk = seal::unseal(&key(), &std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(&on_disk.state[..], &[3]);
        assert!(on_disk.generation >= 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn orderly_shutdown_is_sent_once_and_falls_back_to_clear() {
        let shutdown = |su: u8| vec![0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x45, 0, su];

        let (tpm, log) = mock(TpmRc::SUCCESS);
        let mut dev = Device::new(tpm, None, false);
        dev.execute(0, &GET_RANDOM);
        dev.orderly_shutdown();
        dev.orderly_shutdown();
        assert_eq!(*log.lock().unwrap(), vec![GET_RANDOM.to_vec(), shutdown(1)]);

        // Shutdown(STATE) refused for another reason than TPM_RC_INITIALIZE: CLEAR follows.
        let (tpm, log) = mock(TpmRc::VALUE);
        let mut dev = Device::new(tpm, None, false);
        dev.orderly_shutdown();
        assert_eq!(*log.lock().unwrap(), vec![shutdown(1), shutdown(0)]);

        // Not started: one attempt only.
        let (tpm, log) = mock(TpmRc::INITIALIZE);
        let mut dev = Device::new(tpm, None, false);
        dev.orderly_shutdown();
        assert_eq!(*log.lock().unwrap(), vec![shutdown(1)]);

        // A stopped TPM gets nothing; after power-on it does again.
        let (tpm, log) = mock(TpmRc::SUCCESS);
        let mut dev = Device::new(tpm, None, false);
        dev.set_running(false);
        dev.orderly_shutdown();
        assert!(log.lock().unwrap().is_empty());
        dev.power_on().unwrap();
        dev.orderly_shutdown();
        assert_eq!(log.lock().unwrap().len(), 1);
    }

    #[test]
    fn buffer_size_is_clamped_and_bounds_commands() {
        let (tpm, _) = mock(TpmRc::SUCCESS);
        let mut dev = Device::new(tpm, None, false);
        assert_eq!(dev.max_command(), 4096);
        dev.set_buffer_size(100);
        assert_eq!((dev.buffer_size(), dev.max_command()), (2808, 2808));
        dev.set_buffer_size(1 << 20);
        assert_eq!(dev.buffer_size(), 4096);
    }
}

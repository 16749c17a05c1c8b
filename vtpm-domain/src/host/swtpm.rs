//! swtpm's socket interface (swtpm 0.7.1, `man swtpm-ioctls`), so that anything that drives
//! swtpm over TCP (QEMU's `tpm-emulator` backend with TCP chardevs, tpm2-tss's `swtpm` TCTI,
//! cloud-hypervisor) can drive this TPM unchanged.
//!
//! **Data channel** (PORT): raw TPM 2.0 commands, framed by the size in their header, answered
//! by the raw response. A command may also carry the TCG simulator's prefix (`TPM_SEND_COMMAND`
//! = 8 as a big-endian u32, a locality byte, a big-endian u32 size); it is then answered like
//! swtpm does: u32 size, the response, u32 0. The prefix's locality becomes the locality of
//! this and later commands (as in swtpm); localities 5..=31 mean 0 (as in the TCG simulator).
//! While the TPM is stopped (CMD_STOP until CMD_INIT) every command is answered with
//! TPM_RC_FAILURE, like swtpm.
//!
//! **Control channel** (PORT + 1): a big-endian u32 command code followed by the request; the
//! reply starts with a big-endian u32 result (TPM 1.2-style codes: 0 success, 0x03
//! TPM_BAD_PARAMETER, 0x0a TPM_BAD_ORDINAL, 0x1f TPM_IOERROR, 0x3d TPM_BAD_LOCALITY). The
//! commands offered are exactly those in [`CAPABILITIES`]; any other code is answered with
//! TPM_BAD_ORDINAL (and whatever the client already sent with it is discarded), as swtpm does
//! for codes it does not know.

use std::time::Instant;

use tpm2::header::{HEADER_SIZE, MAX_PACKET_SIZE};
use tpm2::rc::TpmRc;

use super::server::{Conn, Interrupt, MAX_BUFFER_SIZE, MIN_BUFFER_SIZE, rc_response};

/// The mssim code that introduces a prefixed command.
pub const TPM_SEND_COMMAND: u32 = 8;

/// Control command codes (`CMD_*`; the CUSE ioctl number is the code minus one).
pub mod cmd {
    /// Bitmap of supported control commands.
    pub const GET_CAPABILITY: u32 = 0x01;
    /// _TPM_Init (power on); request: init flags u32.
    pub const INIT: u32 = 0x02;
    /// Orderly shutdown: save state, stop serving, exit.
    pub const SHUTDOWN: u32 = 0x03;
    /// Read the tpmEstablished flag.
    pub const GET_TPMESTABLISHED: u32 = 0x04;
    /// Locality of following data-channel commands; request: locality u8.
    pub const SET_LOCALITY: u32 = 0x05;
    /// Cancel the running command.
    pub const CANCEL_TPM_CMD: u32 = 0x09;
    /// Write the volatile state to storage now.
    pub const STORE_VOLATILE: u32 = 0x0A;
    /// Clear the tpmEstablished flag; request: locality u8.
    pub const RESET_TPMESTABLISHED: u32 = 0x0B;
    /// Stop the TPM without exiting.
    pub const STOP: u32 = 0x0E;
    /// Which keys protect the state.
    pub const GET_CONFIG: u32 = 0x0F;
    /// Query or set the buffer size; request: size u32 (0 = query).
    pub const SET_BUFFERSIZE: u32 = 0x11;
}

/// `PTM_CAP_*` bits.
pub mod cap {
    /// CMD_INIT.
    pub const INIT: u32 = 0x1;
    /// CMD_SHUTDOWN.
    pub const SHUTDOWN: u32 = 0x2;
    /// CMD_GET_TPMESTABLISHED.
    pub const GET_TPMESTABLISHED: u32 = 0x4;
    /// CMD_SET_LOCALITY.
    pub const SET_LOCALITY: u32 = 0x8;
    /// CMD_CANCEL_TPM_CMD.
    pub const CANCEL_TPM_CMD: u32 = 0x20;
    /// CMD_STORE_VOLATILE.
    pub const STORE_VOLATILE: u32 = 0x40;
    /// CMD_RESET_TPMESTABLISHED.
    pub const RESET_TPMESTABLISHED: u32 = 0x80;
    /// CMD_STOP.
    pub const STOP: u32 = 0x400;
    /// CMD_GET_CONFIG.
    pub const GET_CONFIG: u32 = 0x800;
    /// CMD_SET_BUFFERSIZE.
    pub const SET_BUFFERSIZE: u32 = 0x2000;
    /// The data channel accepts the `TPM_SEND_COMMAND` prefix.
    pub const SEND_COMMAND_HEADER: u32 = 0x8000;
}

/// What CMD_GET_CAPABILITY reports: exactly the control commands implemented here.
pub const CAPABILITIES: u32 = cap::INIT
    | cap::SHUTDOWN
    | cap::GET_TPMESTABLISHED
    | cap::SET_LOCALITY
    | cap::CANCEL_TPM_CMD
    | cap::STORE_VOLATILE
    | cap::RESET_TPMESTABLISHED
    | cap::STOP
    | cap::GET_CONFIG
    | cap::SET_BUFFERSIZE
    | cap::SEND_COMMAND_HEADER;

/// Control-channel result codes (TPM 1.2 `TPM_RESULT` values, as swtpm uses them).
pub mod result {
    /// Success.
    pub const SUCCESS: u32 = 0;
    /// The request is malformed.
    pub const BAD_PARAMETER: u32 = 0x03;
    /// Unknown command, or not allowed in the current state.
    pub const BAD_ORDINAL: u32 = 0x0a;
    /// Storage failed.
    pub const IOERROR: u32 = 0x1f;
    /// The locality is not allowed.
    pub const BAD_LOCALITY: u32 = 0x3d;
}

/// `PTM_CONFIG_FLAG_FILE_KEY`: the state is encrypted with a key from a file.
pub const CONFIG_FLAG_FILE_KEY: u32 = 0x1;

/// The locality a command prefix selects: the TCG simulator maps 5..=31 to 0; 32..=255 are
/// extended localities and passed on.
pub(crate) fn prefix_locality(l: u8) -> u8 {
    if (5..32).contains(&l) { 0 } else { l }
}

/// Sends a response, in the prefixed framing if the command came with the prefix.
fn send_response(conn: &mut Conn<'_>, prefixed: bool, rsp: &[u8]) -> Result<(), Interrupt> {
    if prefixed {
        let size = u32::try_from(rsp.len()).unwrap_or(u32::MAX);
        conn.reply(&[&size.to_be_bytes(), rsp, &0u32.to_be_bytes()])
    } else {
        conn.reply(&[rsp])
    }
}

/// Reads part of a command; a stall gets a TPM_RC_COMMAND_SIZE response before the
/// connection is closed.
fn read_part(
    conn: &mut Conn<'_>,
    buf: &mut [u8],
    started: &mut Option<Instant>,
    prefixed: bool,
) -> Result<(), Interrupt> {
    match conn.read_request(buf, started) {
        Err(Interrupt::Stalled) => {
            let _ = send_response(conn, prefixed, &rc_response(TpmRc::COMMAND_SIZE));
            Err(Interrupt::Stalled)
        }
        other => other,
    }
}

/// Runs a complete command (with `prefix_loc` if it came with the prefix).
fn run_command(conn: &mut Conn<'_>, prefix_loc: Option<u8>, command: &[u8]) -> Vec<u8> {
    let Some(mut dev) = conn.shared().device() else {
        return rc_response(TpmRc::FAILURE);
    };
    if let Some(l) = prefix_loc {
        dev.set_locality(prefix_locality(l));
    }
    if !dev.running() {
        return rc_response(TpmRc::FAILURE);
    }
    let locality = dev.locality();
    dev.execute(locality, command)
}

/// The largest command accepted now (the buffer size).
fn max_command(conn: &Conn<'_>) -> usize {
    // A failed device still reads whole commands, to answer them with TPM_RC_FAILURE.
    conn.shared()
        .device()
        .map_or(MAX_PACKET_SIZE, |d| d.max_command())
}

/// Serves the data channel of one client.
pub(crate) fn serve_data(conn: &mut Conn<'_>) -> Result<(), Interrupt> {
    loop {
        let mut started = None;
        let mut first = [0u8; 4];
        read_part(conn, &mut first, &mut started, false)?;
        let max = max_command(conn);
        if u32::from_be_bytes(first) == TPM_SEND_COMMAND {
            let mut loc_size = [0u8; 5];
            read_part(conn, &mut loc_size, &mut started, true)?;
            let [locality, s0, s1, s2, s3] = loc_size;
            let size = usize::try_from(u32::from_be_bytes([s0, s1, s2, s3])).unwrap_or(usize::MAX);
            if size > max {
                send_response(conn, true, &rc_response(TpmRc::COMMAND_SIZE))?;
                return Err(Interrupt::Unrecoverable);
            }
            let mut command = vec![0u8; size];
            read_part(conn, &mut command, &mut started, true)?;
            let declared = command
                .get(2..6)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .and_then(|d| usize::try_from(d).ok());
            let rsp = if size < HEADER_SIZE || declared != Some(size) {
                rc_response(TpmRc::COMMAND_SIZE)
            } else {
                run_command(conn, Some(locality), &command)
            };
            send_response(conn, true, &rsp)?;
        } else {
            let mut header = [0u8; HEADER_SIZE];
            header[..4].copy_from_slice(&first);
            read_part(conn, &mut header[4..], &mut started, false)?;
            let declared = usize::try_from(u32::from_be_bytes([
                header[2], header[3], header[4], header[5],
            ]))
            .unwrap_or(usize::MAX);
            if !(HEADER_SIZE..=max).contains(&declared) {
                // Where the next command starts is unknowable: answer and hang up.
                send_response(conn, false, &rc_response(TpmRc::COMMAND_SIZE))?;
                return Err(Interrupt::Unrecoverable);
            }
            let mut command = vec![0u8; declared];
            command[..HEADER_SIZE].copy_from_slice(&header);
            read_part(conn, &mut command[HEADER_SIZE..], &mut started, false)?;
            let rsp = run_command(conn, None, &command);
            send_response(conn, false, &rsp)?;
        }
    }
}

/// Reads the fixed-size request body of a control command. swtpm closes the connection when a
/// body does not arrive in time; so does this.
fn read_body<const N: usize>(
    conn: &mut Conn<'_>,
    started: &mut Option<Instant>,
) -> Result<[u8; N], Interrupt> {
    let mut body = [0u8; N];
    conn.read_request(&mut body, started)?;
    Ok(body)
}

/// Serves the control channel of one client.
pub(crate) fn serve_control(conn: &mut Conn<'_>) -> Result<(), Interrupt> {
    loop {
        let mut started = None;
        let mut code = [0u8; 4];
        conn.read_request(&mut code, &mut started)?;
        let code = u32::from_be_bytes(code);
        match code {
            cmd::GET_CAPABILITY => {
                // swtpm 0.7.1 answers a u64 bitmap; later versions a u32 result and a u32
                // bitmap. With fewer than 33 bits in use both are the same 8 bytes.
                conn.reply(&[&u64::from(CAPABILITIES).to_be_bytes()])?;
            }
            cmd::INIT => {
                let _flags: [u8; 4] = read_body(conn, &mut started)?;
                let res = match conn.shared().device() {
                    Some(mut dev) => match dev.power_on() {
                        Ok(()) => result::SUCCESS,
                        Err(e) => {
                            eprintln!("vtpm-domain: error: CMD_INIT: cannot save the state: {e}");
                            result::IOERROR
                        }
                    },
                    None => result::IOERROR,
                };
                conn.reply(&[&res.to_be_bytes()])?;
            }
            cmd::SHUTDOWN => {
                let res = match conn.shared().device() {
                    Some(mut dev) => {
                        dev.orderly_shutdown();
                        let res = match dev.persist_now() {
                            Ok(()) => result::SUCCESS,
                            Err(e) => {
                                eprintln!("vtpm-domain: error: cannot save the TPM state: {e}");
                                result::IOERROR
                            }
                        };
                        dev.set_running(false);
                        res
                    }
                    None => result::IOERROR,
                };
                // Reply before asking the process to end, so the reply is not lost to the
                // exit.
                let sent = conn.reply(&[&res.to_be_bytes()]);
                conn.shared().request_stop();
                sent?;
                return Err(Interrupt::Stop);
            }
            cmd::GET_TPMESTABLISHED => {
                let reply = match conn.shared().device() {
                    Some(dev) if dev.running() => Some(dev.established()),
                    _ => None,
                };
                match reply {
                    Some(bit) => {
                        conn.reply(&[&result::SUCCESS.to_be_bytes(), &[u8::from(bit), 0, 0, 0]])?;
                    }
                    None => conn.reply(&[&result::BAD_ORDINAL.to_be_bytes()])?,
                }
            }
            cmd::SET_LOCALITY => {
                let [loc] = read_body::<1>(conn, &mut started)?;
                let res = if loc > 4 {
                    result::BAD_LOCALITY
                } else if let Some(mut dev) = conn.shared().device() {
                    dev.set_locality(loc);
                    result::SUCCESS
                } else {
                    result::IOERROR
                };
                conn.reply(&[&res.to_be_bytes()])?;
            }
            cmd::CANCEL_TPM_CMD => {
                // Commands run to completion before the next request is read: there is never
                // one to cancel.
                let res = if conn.shared().device().is_some_and(|d| d.running()) {
                    result::SUCCESS
                } else {
                    result::BAD_ORDINAL
                };
                conn.reply(&[&res.to_be_bytes()])?;
            }
            cmd::STORE_VOLATILE => {
                let res = match conn.shared().device() {
                    Some(mut dev) if dev.running() => match dev.persist_now() {
                        Ok(()) => result::SUCCESS,
                        Err(e) => {
                            eprintln!("vtpm-domain: error: cannot save the TPM state: {e}");
                            result::IOERROR
                        }
                    },
                    _ => result::BAD_ORDINAL,
                };
                conn.reply(&[&res.to_be_bytes()])?;
            }
            cmd::RESET_TPMESTABLISHED => {
                let running = conn.shared().device().is_some_and(|d| d.running());
                if !running {
                    // swtpm checks this before reading the locality byte.
                    conn.drain_available();
                    conn.reply(&[&result::BAD_ORDINAL.to_be_bytes()])?;
                    continue;
                }
                let [loc] = read_body::<1>(conn, &mut started)?;
                // Only localities 3 and 4 may reset the flag (PC Client PTP).
                let res = if loc == 3 || loc == 4 {
                    if let Some(mut dev) = conn.shared().device() {
                        dev.reset_established();
                    }
                    result::SUCCESS
                } else {
                    result::BAD_LOCALITY
                };
                conn.reply(&[&res.to_be_bytes()])?;
            }
            cmd::STOP => {
                if let Some(mut dev) = conn.shared().device() {
                    if let Err(e) = dev.persist_now() {
                        eprintln!("vtpm-domain: error: cannot save the TPM state: {e}");
                    }
                    dev.set_running(false);
                }
                conn.reply(&[&result::SUCCESS.to_be_bytes()])?;
            }
            cmd::GET_CONFIG => {
                let flags = if conn.shared().device().is_some_and(|d| d.has_file_key()) {
                    CONFIG_FLAG_FILE_KEY
                } else {
                    0
                };
                conn.reply(&[&result::SUCCESS.to_be_bytes(), &flags.to_be_bytes()])?;
            }
            cmd::SET_BUFFERSIZE => {
                let req: [u8; 4] = read_body(conn, &mut started)?;
                let wanted = u32::from_be_bytes(req);
                let Some(mut dev) = conn.shared().device() else {
                    conn.reply(&[&result::IOERROR.to_be_bytes()])?;
                    continue;
                };
                if wanted > 0 && dev.running() {
                    drop(dev);
                    conn.reply(&[&result::BAD_ORDINAL.to_be_bytes()])?;
                    continue;
                }
                if wanted > 0 {
                    dev.set_buffer_size(wanted);
                }
                let size = dev.buffer_size();
                drop(dev);
                conn.reply(&[
                    &result::SUCCESS.to_be_bytes(),
                    &size.to_be_bytes(),
                    &MIN_BUFFER_SIZE.to_be_bytes(),
                    &MAX_BUFFER_SIZE.to_be_bytes(),
                ])?;
            }
            _ => {
                conn.drain_available();
                conn.reply(&[&result::BAD_ORDINAL.to_be_bytes()])?;
            }
        }
    }
}

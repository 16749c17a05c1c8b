//! The TCG TPM 2.0 simulator's TCP interface (ms-tpm-20-ref `TcpServer.c`, `TpmTcpProtocol.h`),
//! as spoken by tpm2-tss's `mssim` TCTI and the IBM TSS.
//!
//! **Command port** (PORT), every number a big-endian u32:
//!
//! - `TPM_SEND_COMMAND` (8), locality (u8), size, command → size, response, 0. While the TPM is
//!   powered off the response is empty (size 0), as in the simulator. Localities 5..=31 mean 0.
//! - `TPM_SESSION_END` (20): the server closes the connection (no reply).
//! - `TPM_STOP` (21): the state is saved and the server exits (no reply).
//! - anything else: the connection is closed, as the simulator does.
//!
//! **Platform port** (PORT + 1): one u32 signal, answered by u32 0:
//! `TPM_SIGNAL_POWER_ON` (1, _TPM_Init if the TPM was off, nothing if it was on),
//! `TPM_SIGNAL_POWER_OFF` (2), `TPM_SIGNAL_RESET` (17) and `TPM_SIGNAL_RESTART` (18) (both
//! _TPM_Init), and, without effect, `PHYS_PRES_ON/OFF` (3/4), `CANCEL_ON/OFF` (9/10),
//! `NV_ON/OFF` (11/12) and `KEY_CACHE_ON/OFF` (13/14). `TPM_SESSION_END` (20) closes the
//! connection and `TPM_STOP` (21) stops the server, both without reply; any other code is
//! answered with 1 and the connection closed, as in the simulator.
//!
//! The TPM starts powered on (like swtpm's `not-need-init`); the POWER_ON that clients such as
//! tpm2-tss send first is then a no-op and the TPM still waits for TPM2_Startup.

use std::time::Instant;

use tpm2::header::{HEADER_SIZE, MAX_PACKET_SIZE};
use tpm2::rc::TpmRc;

use super::server::{Conn, Interrupt, rc_response};
use super::swtpm::prefix_locality;

/// Platform and command-port codes (`TpmTcpProtocol.h`).
pub mod code {
    /// Power on.
    pub const POWER_ON: u32 = 1;
    /// Power off.
    pub const POWER_OFF: u32 = 2;
    /// Physical presence asserted.
    pub const PHYS_PRES_ON: u32 = 3;
    /// Physical presence deasserted.
    pub const PHYS_PRES_OFF: u32 = 4;
    /// A framed TPM command (command port).
    pub const SEND_COMMAND: u32 = 8;
    /// Cancel asserted.
    pub const CANCEL_ON: u32 = 9;
    /// Cancel deasserted.
    pub const CANCEL_OFF: u32 = 10;
    /// NV available.
    pub const NV_ON: u32 = 11;
    /// NV unavailable.
    pub const NV_OFF: u32 = 12;
    /// RSA key cache on.
    pub const KEY_CACHE_ON: u32 = 13;
    /// RSA key cache off.
    pub const KEY_CACHE_OFF: u32 = 14;
    /// Power off + on.
    pub const RESET: u32 = 17;
    /// _TPM_Init without power loss.
    pub const RESTART: u32 = 18;
    /// The client is done with this connection.
    pub const SESSION_END: u32 = 20;
    /// The simulator should exit.
    pub const STOP: u32 = 21;
}

fn ack(conn: &mut Conn<'_>, value: u32) -> Result<(), Interrupt> {
    conn.reply(&[&value.to_be_bytes()])
}

/// Saves the state and asks the server to stop (TPM_STOP).
fn stop(conn: &Conn<'_>) -> Interrupt {
    if let Some(mut dev) = conn.shared().device() {
        dev.orderly_shutdown();
        if let Err(e) = dev.persist_now() {
            eprintln!("vtpm-domain: error: cannot save the TPM state: {e}");
        }
        dev.set_running(false);
    }
    conn.shared().request_stop();
    Interrupt::Stop
}

fn send_framed(conn: &mut Conn<'_>, rsp: &[u8]) -> Result<(), Interrupt> {
    let size = u32::try_from(rsp.len()).unwrap_or(u32::MAX);
    conn.reply(&[&size.to_be_bytes(), rsp, &0u32.to_be_bytes()])
}

fn read_part(
    conn: &mut Conn<'_>,
    buf: &mut [u8],
    started: &mut Option<Instant>,
) -> Result<(), Interrupt> {
    match conn.read_request(buf, started) {
        Err(Interrupt::Stalled) => {
            let _ = send_framed(conn, &rc_response(TpmRc::COMMAND_SIZE));
            Err(Interrupt::Stalled)
        }
        other => other,
    }
}

/// Serves the command port of one client.
pub(crate) fn serve_command(conn: &mut Conn<'_>) -> Result<(), Interrupt> {
    loop {
        let mut started = None;
        let mut code = [0u8; 4];
        conn.read_request(&mut code, &mut started)?;
        match u32::from_be_bytes(code) {
            code::SEND_COMMAND => {
                let mut loc_size = [0u8; 5];
                read_part(conn, &mut loc_size, &mut started)?;
                let [locality, s0, s1, s2, s3] = loc_size;
                let size =
                    usize::try_from(u32::from_be_bytes([s0, s1, s2, s3])).unwrap_or(usize::MAX);
                let max = conn
                    .shared()
                    .device()
                    .map_or(MAX_PACKET_SIZE, |d| d.max_command());
                if size > max {
                    send_framed(conn, &rc_response(TpmRc::COMMAND_SIZE))?;
                    return Err(Interrupt::Unrecoverable);
                }
                let mut command = vec![0u8; size];
                read_part(conn, &mut command, &mut started)?;
                let declared = command
                    .get(2..6)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
                    .and_then(|d| usize::try_from(d).ok());
                let rsp = if size < HEADER_SIZE || declared != Some(size) {
                    rc_response(TpmRc::COMMAND_SIZE)
                } else {
                    match conn.shared().device() {
                        Some(mut dev) if dev.running() => {
                            dev.execute(prefix_locality(locality), &command)
                        }
                        Some(_) => Vec::new(),
                        None => rc_response(TpmRc::FAILURE),
                    }
                };
                send_framed(conn, &rsp)?;
            }
            code::SESSION_END => return Err(Interrupt::Closed),
            code::STOP => return Err(stop(conn)),
            _ => return Err(Interrupt::Unrecoverable),
        }
    }
}

/// Serves the platform port of one client.
pub(crate) fn serve_platform(conn: &mut Conn<'_>) -> Result<(), Interrupt> {
    loop {
        let mut started = None;
        let mut code = [0u8; 4];
        conn.read_request(&mut code, &mut started)?;
        match u32::from_be_bytes(code) {
            code::POWER_ON | code::RESET | code::RESTART => {
                let signal = u32::from_be_bytes(code);
                let res = match conn.shared().device() {
                    Some(dev) if signal == code::POWER_ON && dev.running() => Ok(()),
                    Some(mut dev) => dev.power_on().map_err(|e| e.to_string()),
                    None => Err("the TPM failed".to_owned()),
                };
                match res {
                    Ok(()) => ack(conn, 0)?,
                    Err(e) => {
                        eprintln!("vtpm-domain: error: power-on signal: {e}");
                        ack(conn, 1)?;
                    }
                }
            }
            code::POWER_OFF => {
                if let Some(mut dev) = conn.shared().device() {
                    if dev.running() {
                        if let Err(e) = dev.persist_now() {
                            eprintln!("vtpm-domain: error: cannot save the TPM state: {e}");
                        }
                        dev.set_running(false);
                    }
                }
                ack(conn, 0)?;
            }
            code::PHYS_PRES_ON
            | code::PHYS_PRES_OFF
            | code::CANCEL_ON
            | code::CANCEL_OFF
            | code::NV_ON
            | code::NV_OFF
            | code::KEY_CACHE_ON
            | code::KEY_CACHE_OFF => ack(conn, 0)?,
            code::SESSION_END => return Err(Interrupt::Closed),
            code::STOP => return Err(stop(conn)),
            _ => {
                ack(conn, 1)?;
                return Err(Interrupt::Unrecoverable);
            }
        }
    }
}

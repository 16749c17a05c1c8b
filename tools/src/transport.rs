//! Host implementations of the TPM transport seam ([`tpm2::transport::Transport`]):
//!
//! - [`SwtpmTransport`]: swtpm's TCP data channel, raw TPM command bytes in and response bytes
//!   out, with [`SwtpmControl`] for its control channel (swtpm's `man swtpm-ioctls`, the
//!   `CMD_*` codes; by convention on the data port + 1);
//! - [`MssimTransport`]: the TCG simulator's protocol (ms-tpm-20-ref `TcpServer.c`): on the
//!   command port each command is framed as `TPM_SEND_COMMAND` (8), locality (u8) and size
//!   (u32), answered by size (u32), the response and a zero acknowledgement (u32); platform
//!   signals go to the platform port (command port + 1) and are acknowledged with a zero u32;
//! - [`DevTransport`]: a Linux TPM character device (`/dev/tpmrm0`, `/dev/tpm0`), one `write`
//!   of the command and one `read` of the whole response.
//!
//! All of them bound every read by a timeout and validate the size in the response header before
//! reading the body, so a misbehaving peer produces an [`Error`], never a hang or an overflow.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tpm2::header::{HEADER_SIZE, declared_size};
use tpm2::transport::Transport;

use crate::Error;

/// How long any single exchange may take: the Linux driver's default command duration.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest response the host adapters accept (TPM_PT_MAX_RESPONSE_SIZE of any real TPM).
pub const MAX_RESPONSE: usize = 4096;

fn connect(addr: &str, what: &str) -> Result<TcpStream, Error> {
    let context = || format!("connect to {what} at {addr}");
    let mut last = None;
    let addrs = addr
        .to_socket_addrs()
        .map_err(|e| Error::io(context(), e))?;
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(s) => {
                s.set_nodelay(true).map_err(|e| Error::io(context(), e))?;
                s.set_read_timeout(Some(DEFAULT_TIMEOUT))
                    .map_err(|e| Error::io(context(), e))?;
                s.set_write_timeout(Some(DEFAULT_TIMEOUT))
                    .map_err(|e| Error::io(context(), e))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::io(
        context(),
        last.unwrap_or_else(|| std::io::Error::other("address resolved to nothing")),
    ))
}

/// Reads exactly `buf.len()` bytes of a message of `expected` bytes of which `before` were
/// already read, reporting a short read as [`Error::ShortResponse`].
fn read_full(
    src: &mut impl Read,
    buf: &mut [u8],
    (before, expected): (usize, usize),
    what: &str,
) -> Result<(), Error> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(Error::ShortResponse {
                    expected,
                    got: before + got,
                });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("read {what}"), e)),
        }
    }
    Ok(())
}

fn read_u32(src: &mut impl Read, what: &str) -> Result<u32, Error> {
    let mut b = [0u8; 4];
    read_full(src, &mut b, (0, 4), what)?;
    Ok(u32::from_be_bytes(b))
}

/// Reads one response (header first, then as many bytes as the header declares).
fn read_response(src: &mut impl Read, response: &mut [u8]) -> Result<usize, Error> {
    let max = response.len().min(MAX_RESPONSE);
    if max < HEADER_SIZE {
        return Err(Error::BadResponseSize { declared: 0, max });
    }
    read_full(
        src,
        &mut response[..HEADER_SIZE],
        (0, HEADER_SIZE),
        "response header",
    )?;
    let declared = declared_size(&response[..HEADER_SIZE]).unwrap_or(0);
    let size = usize::try_from(declared).unwrap_or(usize::MAX);
    if !(HEADER_SIZE..=max).contains(&size) {
        return Err(Error::BadResponseSize { declared, max });
    }
    read_full(
        src,
        &mut response[HEADER_SIZE..size],
        (HEADER_SIZE, size),
        "response body",
    )?;
    Ok(size)
}

/// swtpm's TCP data channel: raw command bytes, raw response bytes.
#[derive(Debug)]
pub struct SwtpmTransport {
    data: TcpStream,
    addr: String,
}

impl SwtpmTransport {
    /// Connects to the data channel at `addr` (`HOST:PORT`).
    pub fn connect(addr: &str) -> Result<Self, Error> {
        Ok(Self {
            data: connect(addr, "swtpm data channel")?,
            addr: addr.to_owned(),
        })
    }

    /// The address this transport is connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Transport for SwtpmTransport {
    type Error = Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
        self.data
            .write_all(command)
            .map_err(|e| Error::io(format!("send command to swtpm at {}", self.addr), e))?;
        read_response(&mut self.data, response)
    }
}

/// swtpm control-channel command codes (`swtpm-ioctls`, `CMD_*`; the CUSE ioctl number is the
/// code minus one).
pub mod ctrl {
    /// CMD_GET_CAPABILITY: bitmap of supported control commands.
    pub const GET_CAPABILITY: u32 = 0x01;
    /// CMD_INIT: power the TPM on (TPM_Init), reloading its state.
    pub const INIT: u32 = 0x02;
    /// CMD_SHUTDOWN: shut down the TPM and terminate swtpm.
    pub const SHUTDOWN: u32 = 0x03;
    /// CMD_GET_TPMESTABLISHED: read the tpmEstablished flag.
    pub const GET_TPMESTABLISHED: u32 = 0x04;
    /// CMD_SET_LOCALITY: locality of subsequent commands.
    pub const SET_LOCALITY: u32 = 0x05;
    /// CMD_STOP: stop the TPM without terminating swtpm.
    pub const STOP: u32 = 0x0E;
    /// CMD_INIT flag: delete the volatile state file after reading it.
    pub const INIT_DELETE_VOLATILE: u32 = 0x01;
}

/// swtpm's control channel.
#[derive(Debug)]
pub struct SwtpmControl {
    stream: TcpStream,
    addr: String,
}

impl SwtpmControl {
    /// Connects to the control channel at `addr` (`HOST:PORT`, usually the data port + 1).
    pub fn connect(addr: &str) -> Result<Self, Error> {
        Ok(Self {
            stream: connect(addr, "swtpm control channel")?,
            addr: addr.to_owned(),
        })
    }

    /// Sends `code` with `payload`, checks the result word and returns `extra` more bytes.
    fn request(
        &mut self,
        name: &'static str,
        code: u32,
        payload: &[u8],
        extra: usize,
    ) -> Result<Vec<u8>, Error> {
        let mut msg = code.to_be_bytes().to_vec();
        msg.extend_from_slice(payload);
        self.stream
            .write_all(&msg)
            .map_err(|e| Error::io(format!("send {name} to swtpm control at {}", self.addr), e))?;
        let result = read_u32(&mut self.stream, name)?;
        if result != 0 {
            return Err(Error::Control {
                command: name,
                result,
            });
        }
        let mut rest = vec![0u8; extra];
        read_full(&mut self.stream, &mut rest, (0, extra), name)?;
        Ok(rest)
    }

    /// CMD_GET_CAPABILITY: the bitmap of control commands this swtpm supports.
    pub fn capabilities(&mut self) -> Result<u32, Error> {
        let b = self.request("CMD_GET_CAPABILITY", ctrl::GET_CAPABILITY, &[], 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// CMD_INIT: power-on; the TPM then expects TPM2_Startup.
    pub fn init(&mut self, delete_volatile: bool) -> Result<(), Error> {
        let flags = if delete_volatile {
            ctrl::INIT_DELETE_VOLATILE
        } else {
            0
        };
        self.request("CMD_INIT", ctrl::INIT, &flags.to_be_bytes(), 0)
            .map(drop)
    }

    /// CMD_SHUTDOWN: swtpm saves its state and exits.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        self.request("CMD_SHUTDOWN", ctrl::SHUTDOWN, &[], 0)
            .map(drop)
    }

    /// CMD_SET_LOCALITY: the locality of the following commands.
    pub fn set_locality(&mut self, locality: u8) -> Result<(), Error> {
        self.request("CMD_SET_LOCALITY", ctrl::SET_LOCALITY, &[locality], 0)
            .map(drop)
    }

    /// CMD_GET_TPMESTABLISHED: the tpmEstablished bit.
    pub fn tpm_established(&mut self) -> Result<bool, Error> {
        let b = self.request("CMD_GET_TPMESTABLISHED", ctrl::GET_TPMESTABLISHED, &[], 4)?;
        Ok(b[0] & 1 == 1)
    }

    /// CMD_STOP: stop the TPM but keep swtpm running (until the next CMD_INIT).
    pub fn stop(&mut self) -> Result<(), Error> {
        self.request("CMD_STOP", ctrl::STOP, &[], 0).map(drop)
    }
}

/// Platform signals of the TCG simulator's platform port (ms-tpm-20-ref `TpmTcpProtocol.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum PlatformSignal {
    /// TPM_SIGNAL_POWER_ON.
    PowerOn = 1,
    /// TPM_SIGNAL_POWER_OFF.
    PowerOff = 2,
    /// TPM_SIGNAL_PHYS_PRES_ON.
    PhysPresOn = 3,
    /// TPM_SIGNAL_PHYS_PRES_OFF.
    PhysPresOff = 4,
    /// TPM_SIGNAL_CANCEL_ON.
    CancelOn = 9,
    /// TPM_SIGNAL_CANCEL_OFF.
    CancelOff = 10,
    /// TPM_SIGNAL_NV_ON.
    NvOn = 11,
    /// TPM_SIGNAL_NV_OFF.
    NvOff = 12,
    /// TPM_SIGNAL_RESET.
    Reset = 17,
    /// TPM_SIGNAL_RESTART.
    Restart = 18,
}

impl PlatformSignal {
    /// The simulator's name for the signal.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PowerOn => "TPM_SIGNAL_POWER_ON",
            Self::PowerOff => "TPM_SIGNAL_POWER_OFF",
            Self::PhysPresOn => "TPM_SIGNAL_PHYS_PRES_ON",
            Self::PhysPresOff => "TPM_SIGNAL_PHYS_PRES_OFF",
            Self::CancelOn => "TPM_SIGNAL_CANCEL_ON",
            Self::CancelOff => "TPM_SIGNAL_CANCEL_OFF",
            Self::NvOn => "TPM_SIGNAL_NV_ON",
            Self::NvOff => "TPM_SIGNAL_NV_OFF",
            Self::Reset => "TPM_SIGNAL_RESET",
            Self::Restart => "TPM_SIGNAL_RESTART",
        }
    }
}

/// The mssim command code that frames a TPM command on the command port.
pub const TPM_SEND_COMMAND: u32 = 8;
/// The mssim command that ends a session on either port before closing it.
pub const TPM_SESSION_END: u32 = 20;

/// The TCG simulator's TCP protocol.
#[derive(Debug)]
pub struct MssimTransport {
    command: TcpStream,
    platform_addr: String,
    platform: Option<TcpStream>,
    locality: u8,
}

impl MssimTransport {
    /// Connects to the command port at `host:port`; the platform port (`port + 1`) is
    /// connected when the first platform signal is sent.
    pub fn connect(host: &str, port: u16) -> Result<Self, Error> {
        let command = connect(&format!("{host}:{port}"), "mssim command port")?;
        let platform_addr = format!("{host}:{}", port.wrapping_add(1));
        Ok(Self {
            command,
            platform_addr,
            platform: None,
            locality: 0,
        })
    }

    /// Sets the locality sent with every following command.
    pub fn set_locality(&mut self, locality: u8) {
        self.locality = locality;
    }

    /// Sends a platform signal and checks its acknowledgement.
    pub fn signal(&mut self, signal: PlatformSignal) -> Result<(), Error> {
        let stream = match &mut self.platform {
            Some(s) => s,
            None => self
                .platform
                .insert(connect(&self.platform_addr, "mssim platform port")?),
        };
        stream
            .write_all(&(signal as u32).to_be_bytes())
            .map_err(|e| Error::io(format!("send {}", signal.name()), e))?;
        match read_u32(stream, signal.name())? {
            0 => Ok(()),
            ack => Err(Error::Mssim {
                command: signal.name(),
                ack,
            }),
        }
    }

    /// Sends TPM_SESSION_END on both ports, as clients do before disconnecting.
    pub fn end_session(mut self) -> Result<(), Error> {
        let end = TPM_SESSION_END.to_be_bytes();
        self.command
            .write_all(&end)
            .map_err(|e| Error::io("send TPM_SESSION_END", e))?;
        if let Some(p) = &mut self.platform {
            p.write_all(&end)
                .map_err(|e| Error::io("send TPM_SESSION_END", e))?;
        }
        Ok(())
    }
}

impl Transport for MssimTransport {
    type Error = Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
        let len = u32::try_from(command.len()).map_err(|_| Error::BadResponseSize {
            declared: u32::MAX,
            max: MAX_RESPONSE,
        })?;
        let mut msg = Vec::with_capacity(9 + command.len());
        msg.extend_from_slice(&TPM_SEND_COMMAND.to_be_bytes());
        msg.push(self.locality);
        msg.extend_from_slice(&len.to_be_bytes());
        msg.extend_from_slice(command);
        self.command
            .write_all(&msg)
            .map_err(|e| Error::io("send mssim TPM_SEND_COMMAND", e))?;
        let framed = read_u32(&mut self.command, "mssim response size")?;
        let max = response.len().min(MAX_RESPONSE);
        let size = usize::try_from(framed).unwrap_or(usize::MAX);
        if !(HEADER_SIZE..=max).contains(&size) {
            return Err(Error::BadResponseSize {
                declared: framed,
                max,
            });
        }
        read_full(
            &mut self.command,
            &mut response[..size],
            (0, size),
            "mssim response",
        )?;
        if declared_size(&response[..size]) != Some(framed) {
            return Err(Error::BadResponseSize {
                declared: declared_size(&response[..size]).unwrap_or(0),
                max: size,
            });
        }
        match read_u32(&mut self.command, "mssim acknowledgement")? {
            0 => Ok(size),
            ack => Err(Error::Mssim {
                command: "TPM_SEND_COMMAND",
                ack,
            }),
        }
    }
}

/// A Linux TPM character device: `/dev/tpmrm0` (kernel resource manager) or `/dev/tpm0`.
#[derive(Debug)]
pub struct DevTransport {
    file: File,
    path: PathBuf,
}

impl DevTransport {
    /// Opens the device read-write.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        Ok(Self { file, path })
    }
}

impl Transport for DevTransport {
    type Error = Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
        let path = self.path.display().to_string();
        device_exchange(&mut self.file, &path, command, response)
    }
}

/// One exchange with a TPM character device: one `write` of the command, one `read` of the
/// whole response (the kernel hands it back in one piece), whose length must equal the size in
/// its header.
fn device_exchange(
    dev: &mut (impl Read + Write),
    path: &str,
    command: &[u8],
    response: &mut [u8],
) -> Result<usize, Error> {
    dev.write_all(command)
        .map_err(|e| Error::io(format!("write to {path}"), e))?;
    let n = dev
        .read(response)
        .map_err(|e| Error::io(format!("read {path}"), e))?;
    let declared = declared_size(&response[..n]).unwrap_or(0);
    if n < HEADER_SIZE || usize::try_from(declared).ok() != Some(n) {
        return Err(Error::BadResponseSize { declared, max: n });
    }
    Ok(n)
}

/// Any of the host transports, chosen at run time from a `--tpm` specification.
#[derive(Debug)]
pub enum AnyTransport {
    /// swtpm's data channel.
    Swtpm(SwtpmTransport),
    /// The TCG simulator protocol.
    Mssim(MssimTransport),
    /// A Linux TPM device.
    Dev(DevTransport),
}

/// A parsed `--tpm` specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmSpec {
    /// `swtpm:HOST:PORT`: swtpm's TCP data channel (control channel on PORT + 1).
    Swtpm {
        /// Host name or address.
        host: String,
        /// Data channel port.
        port: u16,
    },
    /// `mssim:HOST:PORT`: the TCG simulator protocol (platform port on PORT + 1).
    Mssim {
        /// Host name or address.
        host: String,
        /// Command port.
        port: u16,
    },
    /// `dev:PATH`: a Linux TPM character device.
    Dev(PathBuf),
    /// `spawn`: a private swtpm started for this run and stopped afterwards.
    Spawn,
}

impl std::str::FromStr for TpmSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadTpmSpec(s.to_owned());
        if s == "spawn" {
            return Ok(Self::Spawn);
        }
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "dev" if !rest.is_empty() => Ok(Self::Dev(PathBuf::from(rest))),
            "swtpm" | "mssim" => {
                let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let port: u16 = port.parse().map_err(|_| bad())?;
                if host.is_empty() || port == 0 || port == u16::MAX {
                    return Err(bad());
                }
                let host = host.to_owned();
                Ok(if kind == "swtpm" {
                    Self::Swtpm { host, port }
                } else {
                    Self::Mssim { host, port }
                })
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for TpmSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Swtpm { host, port } => write!(f, "swtpm:{}", host_port(host, *port)),
            Self::Mssim { host, port } => write!(f, "mssim:{}", host_port(host, *port)),
            Self::Dev(path) => write!(f, "dev:{}", path.display()),
            Self::Spawn => f.write_str("spawn"),
        }
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl TpmSpec {
    /// Connects to the TPM this specification names. [`TpmSpec::Spawn`] cannot be opened here:
    /// start a [`crate::swtpm::Swtpm`] and connect to it instead.
    pub fn open(&self) -> Result<AnyTransport, Error> {
        match self {
            Self::Swtpm { host, port } => Ok(AnyTransport::Swtpm(SwtpmTransport::connect(
                &host_port(host, *port),
            )?)),
            Self::Mssim { host, port } => {
                Ok(AnyTransport::Mssim(MssimTransport::connect(host, *port)?))
            }
            Self::Dev(path) => Ok(AnyTransport::Dev(DevTransport::open(path)?)),
            Self::Spawn => Err(Error::BadTpmSpec("spawn".into())),
        }
    }
}

impl Transport for AnyTransport {
    type Error = Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
        match self {
            Self::Swtpm(t) => t.transact(command, response),
            Self::Mssim(t) => t.transact(command, response),
            Self::Dev(t) => t.transact(command, response),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(
            "swtpm:127.0.0.1:2321".parse::<TpmSpec>().unwrap(),
            TpmSpec::Swtpm {
                host: "127.0.0.1".into(),
                port: 2321
            }
        );
        assert_eq!(
            "mssim:[::1]:2321".parse::<TpmSpec>().unwrap(),
            TpmSpec::Mssim {
                host: "::1".into(),
                port: 2321
            }
        );
        assert_eq!(
            "dev:/dev/tpmrm0".parse::<TpmSpec>().unwrap(),
            TpmSpec::Dev("/dev/tpmrm0".into())
        );
        for bad in [
            "",
            "swtpm",
            "swtpm:host",
            "swtpm:host:0",
            "swtpm::1",
            "tcp:a:1",
            "dev:",
            "swtpm:h:99999",
        ] {
            assert!(bad.parse::<TpmSpec>().is_err(), "{bad:?} accepted");
        }
    }

    /// A stand-in for a TPM device: records the write, answers a fixed read.
    struct FakeDevice {
        written: Vec<u8>,
        answer: Vec<u8>,
    }

    impl Read for FakeDevice {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.answer.len().min(buf.len());
            buf[..n].copy_from_slice(&self.answer[..n]);
            Ok(n)
        }
    }

    impl Write for FakeDevice {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn device_exchange_checks_the_read_length() {
        let cmd = [0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0];
        let mut buf = [0u8; 4096];
        let mut dev = FakeDevice {
            written: vec![],
            answer: vec![0x80, 1, 0, 0, 0, 10, 0, 0, 1, 0],
        };
        assert_eq!(
            device_exchange(&mut dev, "fake", &cmd, &mut buf).unwrap(),
            10
        );
        assert_eq!(dev.written, cmd);
        // The header claims 12 bytes, the device returned 10.
        let mut dev = FakeDevice {
            written: vec![],
            answer: vec![0x80, 1, 0, 0, 0, 12, 0, 0, 0, 0],
        };
        assert!(matches!(
            device_exchange(&mut dev, "fake", &cmd, &mut buf),
            Err(Error::BadResponseSize {
                declared: 12,
                max: 10
            })
        ));
        // Fewer bytes than a header.
        let mut dev = FakeDevice {
            written: vec![],
            answer: vec![0x80, 1, 0],
        };
        assert!(device_exchange(&mut dev, "fake", &cmd, &mut buf).is_err());
    }

    #[test]
    fn response_reader_rejects_bad_sizes() {
        let mut buf = [0u8; 64];
        // Header declares 9 bytes (below the header size).
        let mut src: &[u8] = &[0x80, 1, 0, 0, 0, 9, 0, 0, 0, 0];
        assert!(matches!(
            read_response(&mut src, &mut buf),
            Err(Error::BadResponseSize { declared: 9, .. })
        ));
        // Header declares more than the buffer.
        let mut src: &[u8] = &[0x80, 1, 0, 0, 0, 200, 0, 0, 0, 0];
        assert!(matches!(
            read_response(&mut src, &mut buf),
            Err(Error::BadResponseSize { declared: 200, .. })
        ));
        // Peer hangs up mid-body.
        let mut src: &[u8] = &[0x80, 1, 0, 0, 0, 20, 0, 0, 0, 0, 1, 2];
        assert!(matches!(
            read_response(&mut src, &mut buf),
            Err(Error::ShortResponse {
                expected: 20,
                got: 12
            })
        ));
        let mut src: &[u8] = &[0x80, 1, 0, 0, 0, 12, 0, 0, 0, 0, 7, 7, 9];
        assert_eq!(read_response(&mut src, &mut buf).unwrap(), 12);
        assert_eq!(&buf[10..12], &[7, 7]);
    }
}

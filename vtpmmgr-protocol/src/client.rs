//! A client of the manager's Unix sockets (hosted mode, `docs/vtpmmgr-serve.md`): `vtpmctl`
//! on the administrator's socket, a vTPM domain (or a test) on the domain socket, which it
//! opens with the attach hello `"VTPMATT1" ‖ uuid[16]`. Messages are framed by their own
//! 10-byte header.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::{self as protocol, Uuid};

/// The attach hello's magic.
pub const ATTACH_MAGIC: &[u8; 8] = b"VTPMATT1";

/// A client of a manager socket: `vtpmctl` on the administrator's socket, a vTPM domain (or a
/// test) on the domain socket.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connects to the administrator's socket.
    pub fn admin(path: &Path) -> io::Result<Client> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        Ok(Client { stream })
    }

    /// Connects to the domain socket as the domain serving vTPM `uuid`.
    pub fn domain(path: &Path, uuid: Uuid) -> io::Result<Client> {
        let mut stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        let mut hello = Vec::with_capacity(24);
        hello.extend_from_slice(ATTACH_MAGIC);
        hello.extend_from_slice(&uuid.0);
        stream.write_all(&hello)?;
        Ok(Client { stream })
    }

    /// Sends raw request bytes and returns the raw answer.
    pub fn exchange(&mut self, request: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(request)?;
        let mut head = [0u8; protocol::HEADER_SIZE];
        self.stream.read_exact(&mut head)?;
        let size = protocol::framed_size(&head)
            .map_err(|rej| io::Error::new(io::ErrorKind::InvalidData, rej.reason))?;
        let mut msg = vec![0u8; size];
        msg[..head.len()].copy_from_slice(&head);
        self.stream.read_exact(&mut msg[head.len()..])?;
        Ok(msg)
    }

    /// Sends a typed request and parses the answer.
    pub fn call(&mut self, request: &protocol::Request) -> Result<protocol::Reply, ClientError> {
        let raw = self.exchange(&request.encode()).map_err(ClientError::Io)?;
        protocol::Reply::parse(request, &raw).map_err(ClientError::Reply)
    }
}

/// Why a client call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The socket failed.
    Io(io::Error),
    /// The manager refused, or answered something malformed.
    Reply(protocol::ReplyError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "manager socket: {e}"),
            Self::Reply(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

//! The hosted [`ManagerLink`]s:
//! - [`SocketLink`]: the manager's domain socket (`docs/vtpmmgr-serve.md`), opened with
//!   [`Client::domain`] (the attach hello names the vTPM's UUID; the manager identifies the
//!   process by its executable). A broken connection is dropped and reopened on the next call.
//! - [`ShmLink`]: a shared-memory link region served by the unikernel manager
//!   (`docs/shm-link.md`); the manager knows which vTPM the link carries from its own
//!   configuration. A broken session is reopened on the next call.

use std::path::PathBuf;

use shmlink::{FileWindow, LinkFrontend, StdClock};

use vtpmmgr_protocol::Uuid;
use vtpmmgr_protocol::client::Client;

use crate::domain::{LinkError, ManagerLink};

/// A connection to the manager's domain socket, (re)opened on demand.
#[derive(Debug)]
pub struct SocketLink {
    path: PathBuf,
    uuid: Uuid,
    client: Option<Client>,
}

impl SocketLink {
    /// A link to the manager listening on `path`, for vTPM `uuid`. Nothing is opened yet.
    pub fn new(path: PathBuf, uuid: Uuid) -> SocketLink {
        SocketLink {
            path,
            uuid,
            client: None,
        }
    }

    /// Drops the connection (the manager then closes the vTPM; the next call reconnects).
    pub fn disconnect(&mut self) {
        self.client = None;
    }
}

impl ManagerLink for SocketLink {
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        if self.client.is_none() {
            let c = Client::domain(&self.path, self.uuid)
                .map_err(|e| LinkError::NotSent(format!("{}: {e}", self.path.display())))?;
            self.client = Some(c);
        }
        let Some(client) = self.client.as_mut() else {
            return Err(LinkError::NotSent("not connected".into()));
        };
        match client.exchange(request) {
            Ok(answer) => Ok(answer),
            Err(e) => {
                self.client = None;
                Err(LinkError::NoAnswer(format!("{}: {e}", self.path.display())))
            }
        }
    }
}

/// How long the unikernel manager may take to answer one request (TCG emulation is slow).
const SHM_ANSWER_MS: u64 = 60_000;
/// How long to wait for the manager to acknowledge a session.
const SHM_CONNECT_MS: u64 = 60_000;

/// A shared-memory link to the unikernel manager, (re)connected on demand.
#[derive(Debug)]
pub struct ShmLink {
    path: PathBuf,
    front: Option<LinkFrontend<FileWindow, StdClock>>,
    /// Answered requests, their summed round-trip time, and the first one's (LOADHASHKEY).
    answered: u64,
    total: std::time::Duration,
    first: Option<std::time::Duration>,
}

impl ShmLink {
    /// A link over the region file at `path`. Nothing is opened yet.
    pub fn new(path: PathBuf) -> ShmLink {
        ShmLink {
            path,
            front: None,
            answered: 0,
            total: std::time::Duration::ZERO,
            first: None,
        }
    }
}

impl ManagerLink for ShmLink {
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        if self.front.is_none() {
            let window = FileWindow::open(&self.path)
                .map_err(|e| LinkError::NotSent(format!("{}: {e}", self.path.display())))?;
            let front = LinkFrontend::connect(window, StdClock::default(), SHM_CONNECT_MS)
                .map_err(|e| LinkError::NotSent(format!("{}: {e}", self.path.display())))?;
            self.front = Some(front);
        }
        let front = self
            .front
            .as_mut()
            .ok_or_else(|| LinkError::NotSent("the link is closed".into()))?;
        let started = std::time::Instant::now();
        match front.transmit(0, request, SHM_ANSWER_MS) {
            Ok(answer) => {
                let took = started.elapsed();
                self.answered += 1;
                self.total += took;
                if self.first.is_none() {
                    self.first = Some(took);
                    eprintln!(
                        "vtpm-domain: manager link: first request (LOADHASHKEY) answered in {} µs",
                        took.as_micros()
                    );
                }
                Ok(answer)
            }
            Err((sent, e)) => {
                self.front = None;
                let why = format!("{}: {e}", self.path.display());
                Err(if sent {
                    LinkError::NoAnswer(why)
                } else {
                    LinkError::NotSent(why)
                })
            }
        }
    }
}

impl Drop for ShmLink {
    fn drop(&mut self) {
        if let Some(front) = self.front.take() {
            front.close();
        }
        if let (Some(first), Ok(n)) = (self.first, u32::try_from(self.answered)) {
            if n > 0 {
                eprintln!(
                    "vtpm-domain: manager link: {n} request(s) answered; the first (LOADHASHKEY) in \
                     {} µs, mean round trip {} µs",
                    first.as_micros(),
                    (self.total / n).as_micros()
                );
            }
        }
    }
}

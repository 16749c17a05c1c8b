//! The hosted [`ManagerLink`]: the manager's domain socket (`docs/vtpmmgr-serve.md`), opened
//! with [`Client::domain`] (the attach hello names the vTPM's UUID; the manager identifies the
//! process by its executable). A broken connection is dropped and reopened on the next call.

use std::path::PathBuf;

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

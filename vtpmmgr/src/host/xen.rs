//! `vtpmmgr serve --xen`: the tpmback loop of [`crate::backend`] over the hosted platform, with
//! the manager shared behind a mutex with the socket server.

use std::sync::Mutex;

use tpm2::transport::Transport;

use super::server::lock;
use crate::backend::SharedManager;
use crate::manager::Manager;
use crate::seams::BlockDevice;

pub use crate::backend::{label_hash, serve};

impl<T: Transport, D: BlockDevice> SharedManager<T, D> for Mutex<Manager<T, D>> {
    fn with<R>(&self, f: impl FnOnce(&mut Manager<T, D>) -> R) -> R {
        f(&mut lock(self))
    }
}

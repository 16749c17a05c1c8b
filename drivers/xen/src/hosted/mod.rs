//! Hosted mode: every domain a Linux process, the launcher their hypervisor (the platform
//! model of [`crate::platform`]; reference `xen-vtpm.md` §2.3–§2.4 for what runs on it).
//!
//! - The [`Launcher`] creates a run directory (mode 0700) with a Unix socket (mode 0600) and
//!   serves the [`crate::hv`] core from one thread per connected domain. It creates domains
//!   and hands each a credential — `<32 hex digits of a random 128-bit token>@<socket path>`
//!   — which the child finds in the environment variable [`CREDENTIAL_ENV`] (`VTPM_XEN`).
//!   When a domain's connection drops the launcher destroys the domain, as Xen destroys a
//!   dying domain: its peers' watches on its store home fire.
//! - A domain's [`HostedPlatform`] carries store, grant and port requests over the socket
//!   ([`wire`]: length-prefixed typed frames, parsed as hostile by the launcher — a malformed
//!   frame drops that connection and so that domain). Notifications and watch fires come
//!   back asynchronously on the same socket.
//! - A page is a sealed 4096-byte `memfd` the launcher creates for the grant and passes, a
//!   fresh open file description per end, with `SCM_RIGHTS` to the granter and to the mapping
//!   peer; both use `pread`/`pwrite`. No path names it, so only the two ends (and the
//!   launcher) can reach it. The launcher, not the granter, creates the file so that a
//!   hostile domain cannot hand its peer a descriptor that blocks or lies (a FIFO, a file it
//!   truncates).

mod domain;
mod launcher;
mod sys;
pub mod wire;

use std::path::Path;
use std::string::String;

pub use domain::{HostedPage, HostedPlatform};
pub use launcher::Launcher;

/// The environment variable carrying a hosted domain's credential.
pub const CREDENTIAL_ENV: &str = "VTPM_XEN";

/// The socket's name in the run directory.
pub const SOCKET_NAME: &str = "xen.sock";

fn format_credential(token: &[u8; 16], socket: &Path) -> String {
    let mut s = String::with_capacity(33 + socket.as_os_str().len());
    let hex = b"0123456789abcdef";
    for b in token {
        s.push(char::from(hex[usize::from(b >> 4)]));
        s.push(char::from(hex[usize::from(b & 0xf)]));
    }
    s.push('@');
    s.push_str(&socket.to_string_lossy());
    s
}

fn parse_credential(cred: &str) -> Option<([u8; 16], &Path)> {
    let (hex, path) = cred.split_once('@')?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || path.is_empty() {
        return None;
    }
    let mut token = [0u8; 16];
    for (i, byte) in token.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some((token, Path::new(path)))
}

//! A tpmif v2 link over a plain shared-memory region: no hypervisor, no store, no event
//! channels. The unikernel manager under QEMU serves vTPM domains this way: each link is a
//! file that QEMU maps as an `ivshmem-plain` BAR and the vTPM domain (a Linux process, or
//! another QEMU) maps too. Layout and protocol: `docs/shm-link.md`.
//!
//! - Page 0 is the link's control block: a magic and version the toolstack writes once
//!   ([`format`]), the frontend's *session* number (bumped at each connect) and the backend's
//!   acknowledgement of it.
//! - Page 1 is a tpmif v2 shared page (reference `xen-vtpm.md` §2.2), driven by the same state
//!   machine as on Xen ([`xen::tpmif`]): the header is copied once and validated, lengths are
//!   bounded by the page.
//! - Notifications are polled: each side looks at the state byte (and the session word).
//!
//! Every byte of the region is writable by the peer at any time, so everything read from it is
//! hostile: it is bounds-checked and validated, and a bad value ends in an error or a refused
//! request, never a panic or an unbounded loop. The region says nothing about who the peer is:
//! the manager takes each link's vTPM identity from its own configuration (the toolstack),
//! never from the region.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod backend;
mod error;
#[cfg(feature = "std")]
mod file;
mod frontend;
mod window;

pub use backend::{LinkBackend, LinkEvent};
pub use error::LinkError;
#[cfg(feature = "std")]
pub use file::{FileWindow, StdClock};
pub use frontend::{Clock, LinkFrontend};
pub use window::{MemWindow, Window};

/// The bytes a link region needs: the control page and the tpmif page.
pub const REGION_SIZE: usize = 2 * xen::tpmif::PAGE_SIZE;

/// The magic at the start of a formatted region.
pub const MAGIC: [u8; 8] = *b"VTPMLNK1";

/// The layout version this crate writes and accepts.
pub const VERSION: u32 = 1;

/// Offsets in the control page.
pub(crate) mod offset {
    pub(crate) const MAGIC: usize = 0;
    pub(crate) const VERSION: usize = 8;
    /// Written by the frontend: its current session (0: none).
    pub(crate) const SESSION: usize = 12;
    /// Written by the backend: the session it serves.
    pub(crate) const ACK: usize = 16;
    /// Written by the backend: non-zero once it has stopped serving.
    pub(crate) const STOPPED: usize = 20;
    /// The tpmif page.
    pub(crate) const RING: usize = xen::tpmif::PAGE_SIZE;
}

/// Toolstack: writes a fresh control page and an idle tpmif page over `window`.
pub fn format(window: &mut impl Window) -> Result<(), LinkError> {
    if window.size() < REGION_SIZE {
        return Err(LinkError::TooSmall {
            size: window.size(),
        });
    }
    window.write(0, &[0u8; REGION_SIZE]);
    window.write(offset::VERSION, &VERSION.to_le_bytes());
    window.barrier();
    window.write(offset::MAGIC, &MAGIC);
    window.barrier();
    Ok(())
}

/// Checks the magic and version.
pub(crate) fn check(window: &impl Window) -> Result<(), LinkError> {
    if window.size() < REGION_SIZE {
        return Err(LinkError::TooSmall {
            size: window.size(),
        });
    }
    let mut magic = [0u8; 8];
    window.read(offset::MAGIC, &mut magic);
    if magic != MAGIC {
        return Err(LinkError::NotALink);
    }
    let version = read_u32(window, offset::VERSION);
    if version != VERSION {
        return Err(LinkError::Version(version));
    }
    Ok(())
}

pub(crate) fn read_u32(window: &impl Window, at: usize) -> u32 {
    let mut b = [0u8; 4];
    window.read(at, &mut b);
    u32::from_le_bytes(b)
}

pub(crate) fn write_u32(window: &mut impl Window, at: usize, value: u32) {
    window.write(at, &value.to_le_bytes());
}

/// The tpmif page of a window, as [`xen::tpmif`] wants it.
pub(crate) struct Ring<'a, W: Window>(pub &'a mut W);

impl<W: Window> xen::tpmif::SharedPage for Ring<'_, W> {
    fn read(&self, at: usize, buf: &mut [u8]) {
        if at.saturating_add(buf.len()) <= xen::tpmif::PAGE_SIZE {
            self.0.read(offset::RING + at, buf);
        } else {
            buf.fill(0);
        }
    }

    fn write(&mut self, at: usize, data: &[u8]) {
        if at.saturating_add(data.len()) <= xen::tpmif::PAGE_SIZE {
            self.0.write(offset::RING + at, data);
        }
    }

    fn barrier(&self) {
        self.0.barrier();
    }
}

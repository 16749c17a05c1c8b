//! The tpmif v2 shared page (reference `xen-vtpm.md` §2.1) and its state machine (§2.2).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `length` (little-endian): bytes of the request (front) or response (back) |
//! | 4 | 1 | `state`: 0 IDLE, 1 SUBMIT, 2 FINISH, 3 CANCEL |
//! | 5 | 1 | `locality` of the request (front writes) |
//! | 6 | 1 | pad, zero |
//! | 7 | 1 | `nr_extra_pages`: grant refs that follow the header (0 everywhere) |
//! | 8 + 4n | `length` | the TPM packet |
//!
//! One request is outstanding at a time. The frontend only writes SUBMIT and CANCEL, the
//! backend only IDLE and FINISH. The peer can change the page at any moment, so each side
//! copies the header once, validates the copy, and then copies the packet out once: nothing
//! is read from the page twice (the TOCTOU rule of `rust-vmm`'s packet parsers).
//!
//! Extra pages are refused: no implementation maps them, and the largest packet is therefore
//! 4096 − 8 = 4088 bytes in each direction.

use alloc::boxed::Box;
use core::fmt;

use zerocopy::byteorder::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The shared page's size.
pub const PAGE_SIZE: usize = 4096;
/// The header's size; the packet starts here (with no extra pages).
pub const HEADER_SIZE: usize = 8;
/// The largest request or response.
pub const MAX_PACKET: usize = PAGE_SIZE - HEADER_SIZE;

/// The page as the peer shares it. Reads and writes are volatile copies; [`barrier`] orders
/// them against the peer (a full fence: Xen's `wmb`/`rmb`).
///
/// [`barrier`]: SharedPage::barrier
pub trait SharedPage {
    /// Copies `buf.len()` bytes from `offset` (which the caller keeps within the page).
    fn read(&self, offset: usize, buf: &mut [u8]);
    /// Copies `data` to `offset` (which the caller keeps within the page).
    fn write(&mut self, offset: usize, data: &[u8]);
    /// Orders every earlier access before every later one, as the peer sees them.
    fn barrier(&self);
}

impl<T: SharedPage + ?Sized> SharedPage for Box<T> {
    fn read(&self, offset: usize, buf: &mut [u8]) {
        (**self).read(offset, buf);
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        (**self).write(offset, data);
    }

    fn barrier(&self) {
        (**self).barrier();
    }
}

/// The header as it sits on the page.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader {
    length: U32,
    state: u8,
    locality: u8,
    pad: u8,
    nr_extra_pages: u8,
}

/// The `state` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No request, or the last one was cancelled.
    Idle,
    /// The frontend has put a request on the page.
    Submit,
    /// The backend has put the response on the page.
    Finish,
    /// The frontend asks to abandon its request.
    Cancel,
}

impl State {
    /// The state a byte names, if any.
    pub const fn from_u8(v: u8) -> Option<State> {
        match v {
            0 => Some(State::Idle),
            1 => Some(State::Submit),
            2 => Some(State::Finish),
            3 => Some(State::Cancel),
            _ => None,
        }
    }

    /// The byte on the page.
    pub const fn to_u8(self) -> u8 {
        match self {
            State::Idle => 0,
            State::Submit => 1,
            State::Finish => 2,
            State::Cancel => 3,
        }
    }
}

/// What is wrong with the page or with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpmifError {
    /// The state byte is not one of the four states.
    UnknownState(u8),
    /// The peer announced extra pages, which nothing implements.
    ExtraPages(u8),
    /// A length over [`MAX_PACKET`] (announced by the peer, or of a packet to send).
    TooLong(usize),
    /// A packet to send, or a buffer to receive into, is too small or empty.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl fmt::Display for TpmifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownState(s) => write!(f, "tpmif: unknown state byte {s}"),
            Self::ExtraPages(n) => {
                write!(f, "tpmif: {n} extra pages announced; none are supported")
            }
            Self::TooLong(n) => write!(f, "tpmif: packet of {n} bytes exceeds the 4088-byte page"),
            Self::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "tpmif: {needed} bytes do not fit in a {available}-byte buffer"
                )
            }
        }
    }
}

impl core::error::Error for TpmifError {}

/// One validated copy of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The packet length (≤ [`MAX_PACKET`]).
    pub length: usize,
    /// The state.
    pub state: State,
    /// The request's locality.
    pub locality: u8,
}

/// One unvalidated copy of the header's fields, for a peer that must give a defined answer
/// to a bad header (the backend answers an oversized SUBMIT with a TPM error, which needs the
/// state byte of the same copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFields {
    /// `length` as written.
    pub length: u32,
    /// `state` as written (any byte).
    pub state: u8,
    /// `locality` as written.
    pub locality: u8,
    /// `nr_extra_pages` as written.
    pub nr_extra_pages: u8,
}

impl RawFields {
    /// Copies the header off the page once: the state byte first, then (after a barrier) the
    /// whole header, whose state is taken from that first read.
    ///
    /// The peer writes the length before the state, with a barrier between, so a length read
    /// after the state is at least as new as that state. One copy of all eight bytes could pair
    /// the previous packet's length with the new state — a torn read that a peer running on
    /// another CPU does produce (seen between two QEMUs sharing a link).
    pub fn read(page: &impl SharedPage) -> RawFields {
        let mut state = [0u8; 1];
        page.read(4, &mut state);
        page.barrier();
        let mut bytes = [0u8; HEADER_SIZE];
        page.read(0, &mut bytes);
        let (length, locality, nr_extra_pages) = match RawHeader::read_from_bytes(&bytes) {
            Ok(raw) => (raw.length.get(), raw.locality, raw.nr_extra_pages),
            // Eight bytes always make a header; a length the state machine refuses otherwise.
            Err(_) => (u32::MAX, 0, 0),
        };
        RawFields {
            length,
            state: state[0],
            locality,
            nr_extra_pages,
        }
    }
}

impl Header {
    /// Copies the header off the page once ([`RawFields::read`]) and validates the copy.
    pub fn read(page: &impl SharedPage) -> Result<Header, TpmifError> {
        Header::validate(RawFields::read(page))
    }

    /// Validates a copy taken with [`RawFields::read`].
    pub fn validate(raw: RawFields) -> Result<Header, TpmifError> {
        let state = State::from_u8(raw.state).ok_or(TpmifError::UnknownState(raw.state))?;
        if raw.nr_extra_pages != 0 {
            return Err(TpmifError::ExtraPages(raw.nr_extra_pages));
        }
        let length = usize::try_from(raw.length).unwrap_or(usize::MAX);
        if length > MAX_PACKET {
            return Err(TpmifError::TooLong(length));
        }
        Ok(Header {
            length,
            state,
            locality: raw.locality,
        })
    }

    /// What this header means to the backend.
    pub const fn backend_event(self) -> BackendEvent {
        match self.state {
            State::Submit => BackendEvent::Request(self),
            State::Cancel => BackendEvent::Cancel,
            State::Idle | State::Finish => BackendEvent::Spurious,
        }
    }
}

fn set_state(page: &mut impl SharedPage, state: State) {
    page.write(4, &[state.to_u8()]);
}

/// Puts `packet` on the page with its length, then (after a barrier) `state`.
fn publish(
    page: &mut impl SharedPage,
    packet: &[u8],
    locality: Option<u8>,
    state: State,
) -> Result<(), TpmifError> {
    if packet.len() > MAX_PACKET {
        return Err(TpmifError::TooLong(packet.len()));
    }
    page.write(HEADER_SIZE, packet);
    let len = u32::try_from(packet.len()).map_err(|_| TpmifError::TooLong(packet.len()))?;
    page.write(0, &len.to_le_bytes());
    if let Some(l) = locality {
        page.write(5, &[l]);
    }
    page.barrier();
    set_state(page, state);
    page.barrier();
    Ok(())
}

/// Copies the packet announced by `header` into `buf` (one copy) and returns its length.
fn take(page: &impl SharedPage, header: &Header, buf: &mut [u8]) -> Result<usize, TpmifError> {
    let available = buf.len();
    let dst = buf
        .get_mut(..header.length)
        .ok_or(TpmifError::BufferTooSmall {
            needed: header.length,
            available,
        })?;
    page.read(HEADER_SIZE, dst);
    Ok(header.length)
}

/// What the backend finds on the page when notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendEvent {
    /// A request: its header (length validated).
    Request(Header),
    /// The frontend cancels; answer with [`backend_cancelled`] unless a request is running.
    Cancel,
    /// Nothing for the backend (IDLE or FINISH): a spurious notification.
    Spurious,
}

/// The backend's view of a notification.
pub fn backend_poll(page: &impl SharedPage) -> Result<BackendEvent, TpmifError> {
    let h = Header::read(page)?;
    page.barrier();
    Ok(h.backend_event())
}

/// Copies the request announced by `header` (from [`backend_poll`]) into `buf`.
pub fn backend_take_request(
    page: &impl SharedPage,
    header: &Header,
    buf: &mut [u8],
) -> Result<usize, TpmifError> {
    take(page, header, buf)
}

/// Puts the response on the page and sets FINISH (the caller then notifies the frontend).
pub fn backend_finish(page: &mut impl SharedPage, response: &[u8]) -> Result<(), TpmifError> {
    publish(page, response, None, State::Finish)
}

/// Acknowledges a cancel: IDLE (the caller then notifies the frontend).
pub fn backend_cancelled(page: &mut impl SharedPage) {
    page.barrier();
    set_state(page, State::Idle);
    page.barrier();
}

/// Puts a request on the page at `locality` and sets SUBMIT (the caller then notifies).
pub fn frontend_submit(
    page: &mut impl SharedPage,
    locality: u8,
    command: &[u8],
) -> Result<(), TpmifError> {
    publish(page, command, Some(locality), State::Submit)
}

/// What the frontend finds on the page when notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontendEvent {
    /// The response is ready: its header (length validated).
    Response(Header),
    /// The backend dropped or cancelled the request.
    Idle,
    /// Still SUBMIT or CANCEL: keep waiting.
    Pending,
}

/// The frontend's view of a notification.
pub fn frontend_poll(page: &impl SharedPage) -> Result<FrontendEvent, TpmifError> {
    let h = Header::read(page)?;
    page.barrier();
    Ok(match h.state {
        State::Finish => FrontendEvent::Response(h),
        State::Idle => FrontendEvent::Idle,
        State::Submit | State::Cancel => FrontendEvent::Pending,
    })
}

/// Copies the response announced by `header` (from [`frontend_poll`]) into `buf`.
pub fn frontend_take_response(
    page: &impl SharedPage,
    header: &Header,
    buf: &mut [u8],
) -> Result<usize, TpmifError> {
    take(page, header, buf)
}

/// Asks the backend to abandon the request (the caller then notifies).
pub fn frontend_cancel(page: &mut impl SharedPage) {
    page.barrier();
    set_state(page, State::Cancel);
    page.barrier();
}

#[cfg(test)]
mod tests {
    use core::cell::Cell;
    use core::sync::atomic::{Ordering, fence};

    use super::*;

    /// A page in memory. `flip_after` makes the page change its length field after that many
    /// reads, as a hostile peer would between two reads.
    struct MemPage {
        bytes: [u8; PAGE_SIZE],
        reads: Cell<u32>,
        flip_after: Option<u32>,
    }

    impl MemPage {
        fn new() -> MemPage {
            MemPage {
                bytes: [0; PAGE_SIZE],
                reads: Cell::new(0),
                flip_after: None,
            }
        }
    }

    impl SharedPage for MemPage {
        fn read(&self, offset: usize, buf: &mut [u8]) {
            let n = self.reads.get() + 1;
            self.reads.set(n);
            let mut copy = self.bytes;
            if self.flip_after.is_some_and(|k| n > k) {
                copy[..4].copy_from_slice(&u32::MAX.to_le_bytes());
            }
            buf.copy_from_slice(&copy[offset..offset + buf.len()]);
        }

        fn write(&mut self, offset: usize, data: &[u8]) {
            self.bytes[offset..offset + data.len()].copy_from_slice(data);
        }

        fn barrier(&self) {
            fence(Ordering::SeqCst);
        }
    }

    #[test]
    fn a_request_and_its_response_cross_the_page() {
        let mut page = MemPage::new();
        assert_eq!(backend_poll(&page), Ok(BackendEvent::Spurious));
        let cmd = [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x44, 0, 0];
        frontend_submit(&mut page, 2, &cmd).unwrap();
        // The data sits at offset 8 (not the 16 of tpmif.h's comment), length little-endian.
        assert_eq!(&page.bytes[..8], &[12, 0, 0, 0, 1, 2, 0, 0]);
        assert_eq!(&page.bytes[8..20], &cmd);
        assert_eq!(frontend_poll(&page), Ok(FrontendEvent::Pending));
        let BackendEvent::Request(h) = backend_poll(&page).unwrap() else {
            panic!()
        };
        assert_eq!((h.length, h.locality), (12, 2));
        let mut buf = [0u8; MAX_PACKET];
        let n = backend_take_request(&page, &h, &mut buf).unwrap();
        assert_eq!(&buf[..n], &cmd);
        let rsp = [0x80, 0x01, 0, 0, 0, 0x0a, 0, 0, 0, 0];
        backend_finish(&mut page, &rsp).unwrap();
        assert_eq!(backend_poll(&page), Ok(BackendEvent::Spurious));
        let FrontendEvent::Response(h) = frontend_poll(&page).unwrap() else {
            panic!()
        };
        let n = frontend_take_response(&page, &h, &mut buf).unwrap();
        assert_eq!(&buf[..n], &rsp);
    }

    #[test]
    fn cancel_goes_back_to_idle() {
        let mut page = MemPage::new();
        frontend_submit(&mut page, 0, &[1, 2, 3]).unwrap();
        frontend_cancel(&mut page);
        assert_eq!(backend_poll(&page), Ok(BackendEvent::Cancel));
        backend_cancelled(&mut page);
        assert_eq!(frontend_poll(&page), Ok(FrontendEvent::Idle));
    }

    #[test]
    fn hostile_headers_are_refused() {
        let mut page = MemPage::new();
        page.bytes[4] = 4;
        assert_eq!(backend_poll(&page), Err(TpmifError::UnknownState(4)));
        page.bytes[4] = 1;
        page.bytes[7] = 1;
        assert_eq!(backend_poll(&page), Err(TpmifError::ExtraPages(1)));
        page.bytes[7] = 0;
        page.bytes[..4].copy_from_slice(&4089u32.to_le_bytes());
        assert_eq!(backend_poll(&page), Err(TpmifError::TooLong(4089)));
        page.bytes[..4].copy_from_slice(&4088u32.to_le_bytes());
        let BackendEvent::Request(h) = backend_poll(&page).unwrap() else {
            panic!()
        };
        let mut small = [0u8; 100];
        assert_eq!(
            backend_take_request(&page, &h, &mut small),
            Err(TpmifError::BufferTooSmall {
                needed: 4088,
                available: 100
            })
        );
        let mut buf = [0u8; MAX_PACKET];
        assert_eq!(backend_take_request(&page, &h, &mut buf), Ok(4088));
    }

    #[test]
    fn the_raw_copy_keeps_what_validation_refuses() {
        let mut page = MemPage::new();
        page.bytes[..8].copy_from_slice(&[0xf9, 0x0f, 0, 0, 1, 3, 0, 0]);
        let raw = RawFields::read(&page);
        assert_eq!(
            raw,
            RawFields {
                length: 4089,
                state: 1,
                locality: 3,
                nr_extra_pages: 0
            }
        );
        assert_eq!(Header::validate(raw), Err(TpmifError::TooLong(4089)));
        assert_eq!(State::from_u8(raw.state), Some(State::Submit));
        assert_eq!(State::Cancel.to_u8(), 3);
        // A boxed page is a page.
        let mut boxed: Box<dyn SharedPage> = Box::new(MemPage::new());
        frontend_submit(&mut boxed, 1, &[5; 3]).unwrap();
        assert_eq!(
            backend_poll(&boxed).map(|e| matches!(e, BackendEvent::Request(_))),
            Ok(true)
        );
    }

    #[test]
    fn the_header_is_read_once() {
        // The peer rewrites the length after our header read (the state byte, then the
        // header): we keep using the copy.
        let mut page = MemPage::new();
        frontend_submit(&mut page, 0, &[9; 20]).unwrap();
        page.flip_after = Some(2);
        let BackendEvent::Request(h) = backend_poll(&page).unwrap() else {
            panic!()
        };
        let mut buf = [0u8; 64];
        assert_eq!(backend_take_request(&page, &h, &mut buf), Ok(20));
        assert_eq!(&buf[..20], &[9; 20]);
    }

    #[test]
    fn oversized_packets_are_not_sent() {
        let mut page = MemPage::new();
        assert_eq!(
            frontend_submit(&mut page, 0, &[0; MAX_PACKET + 1]),
            Err(TpmifError::TooLong(MAX_PACKET + 1))
        );
        assert_eq!(
            backend_finish(&mut page, &[0; MAX_PACKET + 1]),
            Err(TpmifError::TooLong(MAX_PACKET + 1))
        );
        assert_eq!(page.bytes, [0; PAGE_SIZE], "nothing written");
        frontend_submit(&mut page, 0, &[7; MAX_PACKET]).unwrap();
        assert_eq!(page.bytes[PAGE_SIZE - 1], 7);
    }
}

//! The backend end of a link (the manager): acknowledges the frontend's sessions, takes
//! requests off the tpmif page, puts answers back.

use alloc::vec;
use alloc::vec::Vec;

use xen::tpmif::{self, BackendEvent, Header, RawFields, State, TpmifError};

use crate::{LinkError, Ring, Window, check, offset, read_u32, write_u32};

/// What [`LinkBackend::poll`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A frontend started a new session; whatever the link carried before is over.
    Connected {
        /// Its session number.
        session: u32,
    },
    /// The frontend closed its session.
    Disconnected,
    /// A request, copied off the page once. Answer it with [`LinkBackend::respond`] before
    /// polling again.
    Request {
        /// The locality the frontend asked for.
        locality: u8,
        /// The request bytes.
        command: Vec<u8>,
    },
    /// A request the page cannot carry (too long, extra pages announced). Answer it with
    /// [`LinkBackend::respond`] (an error answer) before polling again.
    Malformed(TpmifError),
}

/// The backend of one link.
#[derive(Debug)]
pub struct LinkBackend<W: Window> {
    window: W,
    session: u32,
    answering: bool,
}

impl<W: Window> LinkBackend<W> {
    /// Takes the backend end of a formatted region and announces that it serves it.
    pub fn new(mut window: W) -> Result<Self, LinkError> {
        check(&window)?;
        write_u32(&mut window, offset::ACK, 0);
        write_u32(&mut window, offset::STOPPED, 0);
        window.barrier();
        Ok(Self {
            window,
            session: 0,
            answering: false,
        })
    }

    /// The session being served (0: none).
    pub fn session(&self) -> u32 {
        self.session
    }

    /// Looks at the link once.
    pub fn poll(&mut self) -> Option<LinkEvent> {
        let session = read_u32(&self.window, offset::SESSION);
        self.window.barrier();
        if session != self.session {
            self.session = session;
            self.answering = false;
            // Whatever the page held belonged to the old session: reset it before the new
            // session may use it (the frontend waits for the acknowledgement).
            tpmif::backend_cancelled(&mut Ring(&mut self.window));
            write_u32(&mut self.window, offset::ACK, session);
            self.window.barrier();
            return Some(if session == 0 {
                LinkEvent::Disconnected
            } else {
                LinkEvent::Connected { session }
            });
        }
        if session == 0 || self.answering {
            return None;
        }
        let mut ring = Ring(&mut self.window);
        // One copy of the header, validated; a bad SUBMIT gets an answer from the same copy.
        let raw = RawFields::read(&ring);
        tpmif::SharedPage::barrier(&ring);
        match Header::validate(raw) {
            Ok(header) => match header.backend_event() {
                BackendEvent::Request(h) => {
                    let mut command = vec![0u8; h.length];
                    match tpmif::backend_take_request(&ring, &h, &mut command) {
                        Ok(n) => command.truncate(n),
                        Err(e) => {
                            self.answering = true;
                            return Some(LinkEvent::Malformed(e));
                        }
                    }
                    self.answering = true;
                    Some(LinkEvent::Request {
                        locality: h.locality,
                        command,
                    })
                }
                BackendEvent::Cancel => {
                    tpmif::backend_cancelled(&mut ring);
                    None
                }
                BackendEvent::Spurious => None,
            },
            Err(e) if raw.state == State::Submit.to_u8() => {
                self.answering = true;
                Some(LinkEvent::Malformed(e))
            }
            // Any other bad header waits for the frontend to write a good one.
            Err(_) => None,
        }
    }

    /// Puts the answer to the request last returned by [`poll`](Self::poll) on the page.
    pub fn respond(&mut self, answer: &[u8]) -> Result<(), LinkError> {
        self.answering = false;
        tpmif::backend_finish(&mut Ring(&mut self.window), answer)?;
        Ok(())
    }

    /// Marks the link as no longer served (the manager stops).
    pub fn stop(mut self) -> W {
        write_u32(&mut self.window, offset::STOPPED, 1);
        self.window.barrier();
        self.window
    }
}

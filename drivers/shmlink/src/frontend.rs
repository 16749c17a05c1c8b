//! The frontend end of a link (the vTPM domain): opens a session, sends one request at a time
//! and waits for its answer by polling, cancelling it after a timeout.

use alloc::vec;
use alloc::vec::Vec;

use xen::tpmif::{self, FrontendEvent, MAX_PACKET};

use crate::{LinkError, Ring, Window, check, offset, read_u32, write_u32};

/// Time and pausing for the polling loops.
pub trait Clock {
    /// Milliseconds since an arbitrary fixed origin; never decreases.
    fn now_ms(&mut self) -> u64;
    /// Waits a little before the next look at the region (this is the polling latency).
    fn pause(&mut self);
}

/// The frontend of one link.
#[derive(Debug)]
pub struct LinkFrontend<W: Window, C: Clock> {
    window: W,
    clock: C,
    session: u32,
    /// A request was cancelled: the session takes no more (see [`LinkError::Abandoned`]).
    abandoned: bool,
}

impl<W: Window, C: Clock> LinkFrontend<W, C> {
    /// Opens a new session on a formatted region and waits up to `timeout_ms` for a backend to
    /// acknowledge it.
    pub fn connect(mut window: W, mut clock: C, timeout_ms: u64) -> Result<Self, LinkError> {
        check(&window)?;
        // A number neither the frontend's word nor the backend's acknowledgement holds, so the
        // backend sees a new session even if it never saw the last one close.
        let session = read_u32(&window, offset::SESSION)
            .max(read_u32(&window, offset::ACK))
            .wrapping_add(1)
            .max(1);
        // The page is left alone until the backend acknowledges: it resets the page to IDLE
        // before it does, so a request of an earlier session cannot race the first one of this.
        write_u32(&mut window, offset::SESSION, session);
        window.barrier();
        let start = clock.now_ms();
        loop {
            if read_u32(&window, offset::ACK) == session && read_u32(&window, offset::STOPPED) == 0
            {
                return Ok(Self {
                    window,
                    clock,
                    session,
                    abandoned: false,
                });
            }
            let waited_ms = clock.now_ms().saturating_sub(start);
            if waited_ms >= timeout_ms {
                return Err(LinkError::NoBackend { waited_ms });
            }
            clock.pause();
        }
    }

    /// Whether the backend still serves this session.
    fn served(&self) -> Result<(), LinkError> {
        if read_u32(&self.window, offset::STOPPED) != 0 {
            return Err(LinkError::BackendStopped);
        }
        let ack = read_u32(&self.window, offset::ACK);
        if ack != self.session {
            return Err(LinkError::SessionLost);
        }
        Ok(())
    }

    /// Sends `command` at `locality` and returns the answer. Errors before the request was put
    /// on the page are [`LinkError::NoBackend`]-like (nothing was sent); after it, the request
    /// may or may not have been carried out.
    pub fn transmit(
        &mut self,
        locality: u8,
        command: &[u8],
        timeout_ms: u64,
    ) -> Result<Vec<u8>, (bool, LinkError)> {
        if self.abandoned {
            return Err((false, LinkError::Abandoned));
        }
        self.served().map_err(|e| (false, e))?;
        tpmif::frontend_submit(&mut Ring(&mut self.window), locality, command)
            .map_err(|e| (false, e.into()))?;
        let start = self.clock.now_ms();
        loop {
            match tpmif::frontend_poll(&Ring(&mut self.window)) {
                Ok(FrontendEvent::Response(h)) => {
                    let mut answer = vec![0u8; MAX_PACKET];
                    let n = tpmif::frontend_take_response(&Ring(&mut self.window), &h, &mut answer)
                        .map_err(|e| (true, e.into()))?;
                    answer.truncate(n);
                    return Ok(answer);
                }
                Ok(FrontendEvent::Idle) => {
                    return Err((true, LinkError::SessionLost));
                }
                Ok(FrontendEvent::Pending) => {}
                Err(e) => return Err((true, e.into())),
            }
            if let Err(e) = self.served() {
                return Err((true, e));
            }
            let waited_ms = self.clock.now_ms().saturating_sub(start);
            if waited_ms >= timeout_ms {
                tpmif::frontend_cancel(&mut Ring(&mut self.window));
                self.abandoned = true;
                return Err((true, LinkError::Timeout { waited_ms }));
            }
            self.clock.pause();
        }
    }

    /// Ends the session.
    pub fn close(mut self) -> W {
        write_u32(&mut self.window, offset::SESSION, 0);
        self.window.barrier();
        self.window
    }
}

//! One backend instance (a `backend/vtpm/<frontend>/<devid>` device): the connection state
//! machine of mini-os tpmback (reference §2.4 steps 2–6) and the backend's half of the page
//! protocol (§2.2).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use xen::platform::{DomId, GrantRef, Platform, Port, XenError};
use xen::tpmif::{
    self, BackendEvent, Header, RawFields, SharedPage, State, TpmifError, backend_cancelled,
    backend_finish, backend_take_request,
};
use xen::xenbus::{XenbusState, backend_path, frontend_path, parse_uuid};

use crate::{BackError, BackEvent, LinkId, LinkInfo};

/// The TPM 2.0 response to a request the page cannot hold (length over 4088 or extra pages):
/// `TPM_ST_NO_SESSIONS`, size 10, `TPM_RC_COMMAND_SIZE` (0x142; TPM 2.0 Part 2 §6.6.3).
pub(crate) const RC_COMMAND_SIZE_RESPONSE: [u8; 10] = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x42];

/// A mapped page and bound port.
struct Conn {
    page: Box<dyn SharedPage>,
    port: Port,
    /// What the frontend published for this connection (to notice a reconnect whose close
    /// we did not see).
    gref: GrantRef,
    remote: Port,
    /// A request was handed to the application and not yet answered.
    busy: bool,
}

/// What a frontend state change leaves of the link.
pub(crate) enum Step {
    Stay,
    /// The frontend's directory is gone: tear down and forget.
    Gone,
}

pub(crate) struct Link {
    pub(crate) id: LinkId,
    pub(crate) info: LinkInfo,
    be_path: String,
    pub(crate) fe_state_path: String,
    /// The backend state we last wrote.
    state: XenbusState,
    conn: Option<Conn>,
}

/// Outcome of [`Link::open`] when no instance is made yet.
pub(crate) enum NotOpened {
    /// The toolstack has not written `uuid` yet: try again on the next change.
    Pending,
    /// Refused for good (until the device directory is removed).
    Refused(BackError),
}

impl From<XenError> for NotOpened {
    fn from(e: XenError) -> Self {
        Self::Refused(BackError::Platform(e))
    }
}

/// A decimal key of the frontend; `Err` carries what was there (`None`: nothing readable).
fn read_number(p: &mut impl Platform, path: &str) -> Result<u32, Option<String>> {
    let value = p.read(path).map_err(|_| None)?.ok_or(None)?;
    parse_decimal(&value).ok_or(Some(value))
}

/// A strict decimal: digits only, no leading zero (but "0"), fits a `u32`.
pub(crate) fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl Link {
    /// Step 2: a new device directory. Parses `uuid` strictly, checks `frontend`, reads the
    /// peer's label, writes `feature-protocol-v2` = 1 and `state` = 2, watches the
    /// frontend's state.
    pub(crate) fn open<P: Platform>(p: &mut P, id: LinkId) -> Result<Link, NotOpened>
    where
        P::Page: 'static,
    {
        let LinkId(frontend, devid) = id;
        let be_path = backend_path(p.domid(), frontend, devid);
        let Some(text) = p.read(&format!("{be_path}/uuid"))? else {
            return Err(NotOpened::Pending);
        };
        let uuid = parse_uuid(&text).ok_or(NotOpened::Refused(BackError::BadUuid(text)))?;
        let fe_path = frontend_path(frontend, devid);
        let published = p.read(&format!("{be_path}/frontend"))?;
        if published.as_deref() != Some(fe_path.as_str()) {
            return Err(NotOpened::Refused(BackError::BadFrontendPath(published)));
        }
        let label = p
            .peer_label(frontend)
            .map_err(|e| NotOpened::Refused(BackError::PeerLabel(e)))?;
        p.write_all(&[
            (&format!("{be_path}/feature-protocol-v2"), "1"),
            (&format!("{be_path}/state"), XenbusState::InitWait.as_str()),
        ])?;
        let fe_state_path = format!("{fe_path}/state");
        p.watch(&fe_state_path)?;
        Ok(Link {
            id,
            info: LinkInfo {
                frontend,
                devid,
                uuid,
                label,
            },
            be_path,
            fe_state_path,
            state: XenbusState::InitWait,
            conn: None,
        })
    }

    fn set_state(&mut self, p: &mut impl Platform, state: XenbusState) -> Result<(), BackError> {
        if self.state != state {
            p.write(&format!("{}/state", self.be_path), state.as_str())?;
            self.state = state;
        }
        Ok(())
    }

    fn frontend(&self) -> DomId {
        self.info.frontend
    }

    fn fe_key(&self, key: &str) -> String {
        format!(
            "{}/{key}",
            frontend_path(self.info.frontend, self.info.devid)
        )
    }

    /// Unmaps the page and closes the port (nothing is written to the store).
    pub(crate) fn disconnect(&mut self, p: &mut impl Platform) {
        if let Some(conn) = self.conn.take() {
            p.close_port(conn.port);
            drop(conn.page);
        }
    }

    /// The frontend's `state` watch fired: steps 3–6.
    pub(crate) fn frontend_changed<P: Platform>(
        &mut self,
        p: &mut P,
        out: &mut Vec<BackEvent>,
    ) -> Result<Step, BackError>
    where
        P::Page: 'static,
    {
        let value = match p.read(&self.fe_state_path) {
            Ok(Some(v)) => v,
            Ok(None) | Err(XenError::NoEntry(_) | XenError::Denied(_) | XenError::NoDomain(_)) => {
                return Ok(Step::Gone);
            }
            Err(e) => return Err(e.into()),
        };
        let Some(state) = XenbusState::parse(&value) else {
            return Err(BackError::BadFrontendState(value));
        };
        match state {
            // Closed (step 5), or not connected at all: a frontend that reset without
            // closing, or a refused one starting over. Unmap, unbind, back to InitWait,
            // ready for a connection.
            XenbusState::Closed
            | XenbusState::Unknown
            | XenbusState::Initialising
            | XenbusState::InitWait => {
                self.disconnect(p);
                self.set_state(p, XenbusState::InitWait)?;
            }
            XenbusState::Initialised | XenbusState::Connected => self.connect(p, out)?,
            XenbusState::Closing => self.set_state(p, XenbusState::Closing)?,
            XenbusState::Reconfiguring | XenbusState::Reconfigured => {}
        }
        Ok(Step::Stay)
    }

    /// Step 3: map and bind, `ready` = 1, `state` = 4; any failure: `state` = 6.
    fn connect<P: Platform>(&mut self, p: &mut P, out: &mut Vec<BackEvent>) -> Result<(), BackError>
    where
        P::Page: 'static,
    {
        match self.try_connect(p) {
            Ok(false) => Ok(()),
            Ok(true) => {
                out.push(BackEvent::Connected(self.id));
                Ok(())
            }
            Err(e) => {
                self.disconnect(p);
                // The refusal is the news; a failure to record it changes nothing for it.
                let _ = self.set_state(p, XenbusState::Closed);
                Err(e)
            }
        }
    }

    /// `Ok(true)`: newly connected; `Ok(false)`: already connected to these references.
    fn try_connect<P: Platform>(&mut self, p: &mut P) -> Result<bool, BackError>
    where
        P::Page: 'static,
    {
        let gref = read_number(p, &self.fe_key("ring-ref")).map_err(BackError::BadRingRef)?;
        let remote =
            read_number(p, &self.fe_key("event-channel")).map_err(BackError::BadEventChannel)?;
        let (gref, remote) = (GrantRef(gref), Port(remote));
        if let Some(conn) = &self.conn {
            if conn.gref == gref && conn.remote == remote {
                self.set_state(p, XenbusState::Connected)?;
                return Ok(false);
            }
            // A new page and port: the frontend closed and came back while we looked away.
            self.disconnect(p);
        }
        let feature = p.read(&self.fe_key("feature-protocol-v2"))?;
        if feature.as_deref() != Some("1") {
            return Err(BackError::NoProtocolV2(feature));
        }
        let page = p
            .map_page(self.frontend(), gref)
            .map_err(BackError::MapFailed)?;
        let port = p
            .bind_interdomain(self.frontend(), remote)
            .map_err(BackError::BindFailed)?;
        self.conn = Some(Conn {
            page: Box::new(page),
            port,
            gref,
            remote,
            busy: false,
        });
        p.write_all(&[
            (&format!("{}/ready", self.be_path), "1"),
            (
                &format!("{}/state", self.be_path),
                XenbusState::Connected.as_str(),
            ),
        ])?;
        self.state = XenbusState::Connected;
        Ok(true)
    }

    /// Step 6: the frontend is gone. Tear down, `state` 5 then 6, stop watching, remove the
    /// backend directory.
    pub(crate) fn gone(&mut self, p: &mut impl Platform) {
        self.disconnect(p);
        // Best effort: the directory is removed right after; nothing waits on these.
        let _ = self.set_state(p, XenbusState::Closing);
        let _ = self.set_state(p, XenbusState::Closed);
        let _ = p.unwatch(&self.fe_state_path);
        let _ = p.remove(&self.be_path);
    }

    /// The device directory was removed by the toolstack: tear down without writing.
    pub(crate) fn removed(&mut self, p: &mut impl Platform) {
        self.disconnect(p);
        let _ = p.unwatch(&self.fe_state_path);
    }

    /// Backend shutdown: tear down, `state` 5 then 6, stop watching.
    pub(crate) fn shut(&mut self, p: &mut impl Platform) {
        self.disconnect(p);
        let _ = self.set_state(p, XenbusState::Closing);
        let _ = self.set_state(p, XenbusState::Closed);
        let _ = p.unwatch(&self.fe_state_path);
    }

    /// The port fired: look at the page once (one header copy) and act (§2.2).
    pub(crate) fn serve_port(
        &mut self,
        p: &mut impl Platform,
        out: &mut Vec<BackEvent>,
    ) -> Result<(), BackError> {
        let id = self.id;
        let Some(conn) = &mut self.conn else {
            return Ok(());
        };
        if !p.take_port(conn.port) {
            return Ok(());
        }
        let raw = RawFields::read(&conn.page);
        conn.page.barrier();
        let header = match Header::validate(raw) {
            Ok(h) => h,
            Err(e) => {
                let submitted = raw.state == State::Submit.to_u8();
                if submitted
                    && !conn.busy
                    && matches!(e, TpmifError::TooLong(_) | TpmifError::ExtraPages(_))
                {
                    backend_finish(&mut conn.page, &RC_COMMAND_SIZE_RESPONSE)
                        .map_err(BackError::Page)?;
                    p.notify(conn.port)?;
                }
                return Err(BackError::Page(e));
            }
        };
        match header.backend_event() {
            BackendEvent::Request(h) => {
                if conn.busy {
                    return Ok(());
                }
                let mut command = vec![0u8; h.length];
                let n =
                    backend_take_request(&conn.page, &h, &mut command).map_err(BackError::Page)?;
                command.truncate(n);
                conn.busy = true;
                out.push(BackEvent::Request {
                    link: id,
                    locality: h.locality,
                    command,
                });
            }
            BackendEvent::Cancel => {
                if !conn.busy {
                    backend_cancelled(&mut conn.page);
                    p.notify(conn.port)?;
                }
            }
            BackendEvent::Spurious => {}
        }
        Ok(())
    }

    /// Puts the response on the page, FINISH, notify.
    pub(crate) fn respond(
        &mut self,
        p: &mut impl Platform,
        response: &[u8],
    ) -> Result<(), BackError> {
        let conn = self.conn.as_mut().ok_or(BackError::NotConnected(self.id))?;
        if !conn.busy {
            return Err(BackError::NoRequest(self.id));
        }
        if response.len() > tpmif::MAX_PACKET {
            return Err(BackError::ResponseTooLong(response.len()));
        }
        backend_finish(&mut conn.page, response).map_err(BackError::Page)?;
        conn.busy = false;
        p.notify(conn.port)?;
        Ok(())
    }
}

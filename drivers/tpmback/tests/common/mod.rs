//! Test helpers: a simulated machine with a backend domain, frontends scripted with raw
//! platform calls (what Linux xen-tpmfront and mini-os tpmfront do, byte for byte), and a
//! backend driven poll by poll.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)]

use tpmback::{BackEvent, Backend, LinkId};
use xen::platform::{DomId, GrantRef, Platform, Port};
use xen::sim::{Sim, SimPage, SimPlatform};
use xen::tpmif::SharedPage;
use xen::xenbus::{backend_path, frontend_path};

pub const UUIDS: [&str; 3] = [
    "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839",
    "00112233-4455-6677-8899-aabbccddeeff",
    "fedcba98-7654-3210-0f1e-2d3c4b5a6978",
];

/// TPM2_GetRandom(8): TPM_ST_NO_SESSIONS, size 12, TPM_CC_GetRandom (0x17b), bytesRequested 8.
pub const GET_RANDOM: [u8; 12] = [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8];

/// Its response: TPM_ST_NO_SESSIONS, size 20, TPM_RC_SUCCESS, TPM2B_DIGEST of 8 bytes.
pub fn get_random_response() -> Vec<u8> {
    let mut r = vec![0x80, 0x01, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 8];
    r.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    r
}

/// The backend's TPM_RC_COMMAND_SIZE answer.
pub const RC_COMMAND_SIZE: [u8; 10] = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x42];

/// A machine with a backend domain.
pub struct World {
    pub sim: Sim,
    pub be: DomId,
    pub bp: SimPlatform,
    pub backend: Backend,
}

impl World {
    /// A backend domain `vtpm` with its backend started (no devices yet).
    pub fn new() -> World {
        let sim = Sim::new();
        let be = sim.create_domain("system_u:system_r:vtpm_t").unwrap();
        let mut bp = sim.platform(be);
        let backend = Backend::new(&mut bp).unwrap();
        World {
            sim,
            be,
            bp,
            backend,
        }
    }

    /// A new frontend domain with one device (devid 0) whose uuid is `uuid`.
    pub fn frontend(&mut self, label: &str, uuid: &str) -> RawFront {
        let fe = self.sim.create_domain(label).unwrap();
        self.sim.add_vtpm_device(self.be, fe, 0, uuid).unwrap();
        RawFront::new(&self.sim, self.be, fe, 0)
    }

    /// One poll.
    pub fn poll(&mut self) -> Vec<BackEvent> {
        let events = self.backend.poll(&mut self.bp).unwrap();
        for e in &events {
            println!("  event: {e:?}");
        }
        events
    }

    /// Polls until nothing more happens (at most 20 polls), collecting every event.
    pub fn settle(&mut self) -> Vec<BackEvent> {
        let mut all = Vec::new();
        for _ in 0..20 {
            let events = self.poll();
            if events.is_empty() {
                return all;
            }
            all.extend(events);
        }
        panic!("the backend does not settle: {all:?}")
    }

    /// Polls once and answers every request with its own bytes.
    pub fn echo_once(&mut self) -> Vec<BackEvent> {
        let events = self.poll();
        for e in &events {
            if let BackEvent::Request { link, command, .. } = e {
                self.backend.respond(&mut self.bp, *link, command).unwrap();
            }
        }
        events
    }

    /// The backend's value of `key` for `fe`'s device 0.
    pub fn be_read(&mut self, fe: DomId, key: &str) -> Option<String> {
        self.bp
            .read(&format!("{}/{key}", backend_path(self.be, fe, 0)))
            .unwrap()
    }
}

pub fn link(fe: &RawFront) -> LinkId {
    LinkId(fe.dom, fe.devid)
}

/// The requests among `events`.
pub fn requests(events: &[BackEvent]) -> Vec<(LinkId, u8, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            BackEvent::Request {
                link,
                locality,
                command,
            } => Some((*link, *locality, command.clone())),
            _ => None,
        })
        .collect()
}

/// The refusals among `events`.
pub fn refusals(events: &[BackEvent]) -> Vec<(LinkId, tpmback::BackError)> {
    events
        .iter()
        .filter_map(|e| match e {
            BackEvent::Refused { link, reason } => Some((*link, reason.clone())),
            _ => None,
        })
        .collect()
}

/// A frontend domain acting through raw platform calls.
pub struct RawFront {
    pub p: SimPlatform,
    pub dom: DomId,
    pub devid: u32,
    pub path: String,
    pub be_path: String,
    pub page: Option<SimPage>,
    pub gref: GrantRef,
    pub port: Option<Port>,
    pub backend: DomId,
}

impl RawFront {
    pub fn new(sim: &Sim, backend: DomId, dom: DomId, devid: u32) -> RawFront {
        RawFront {
            p: sim.platform(dom),
            dom,
            devid,
            path: frontend_path(dom, devid),
            be_path: backend_path(backend, dom, devid),
            page: None,
            gref: GrantRef(0),
            port: None,
            backend,
        }
    }

    pub fn key(&self, k: &str) -> String {
        format!("{}/{k}", self.path)
    }

    pub fn write(&mut self, k: &str, v: &str) {
        let path = self.key(k);
        self.p.write(&path, v).unwrap();
    }

    pub fn be_read(&mut self, k: &str) -> Option<String> {
        let path = format!("{}/{k}", self.be_path);
        self.p.read(&path).unwrap()
    }

    /// Grants a fresh zeroed page and allocates a fresh port (dropping any earlier ones).
    pub fn fresh_page_and_port(&mut self) {
        if let Some(port) = self.port.take() {
            self.p.close_port(port);
        }
        let (gref, page) = self.p.grant_page(self.backend).unwrap();
        assert_eq!(page_bytes(&page, 0, 4096), vec![0; 4096], "a zeroed page");
        self.page = Some(page);
        self.gref = gref;
        self.port = Some(self.p.alloc_unbound(self.backend).unwrap());
    }

    /// Linux xen-tpmfront probe (§2.4): one transaction with ring-ref, event-channel and
    /// feature-protocol-v2, then state 3.
    pub fn linux_probe(&mut self) {
        self.fresh_page_and_port();
        let (rr, ec, fp) = (
            self.key("ring-ref"),
            self.key("event-channel"),
            self.key("feature-protocol-v2"),
        );
        let (g, e) = (self.gref.0.to_string(), self.port().0.to_string());
        self.p
            .write_all(&[(&rr, &g), (&ec, &e), (&fp, "1")])
            .unwrap();
        self.write("state", "3");
    }

    pub fn port(&self) -> Port {
        self.port.unwrap()
    }

    pub fn page(&mut self) -> &mut SimPage {
        self.page.as_mut().unwrap()
    }

    /// Puts a request on the page as both Linux and mini-os do (data at 8, LE length,
    /// locality, then SUBMIT) and notifies.
    pub fn submit(&mut self, locality: u8, cmd: &[u8]) {
        let len = u32::try_from(cmd.len()).unwrap().to_le_bytes();
        let page = self.page();
        page.write(8, cmd);
        page.write(0, &len);
        page.write(5, &[locality]);
        page.barrier();
        page.write(4, &[1]);
        page.barrier();
        self.notify();
    }

    pub fn notify(&mut self) {
        let port = self.port();
        self.p.notify(port).unwrap();
    }

    /// Consumes the frontend's pending notification.
    pub fn notified(&mut self) -> bool {
        let port = self.port();
        self.p.take_port(port)
    }

    /// The page's state byte.
    pub fn state_byte(&mut self) -> u8 {
        page_bytes(self.page(), 4, 1)[0]
    }

    /// The response on the page, if the state is FINISH.
    pub fn response(&mut self) -> Option<Vec<u8>> {
        let page = self.page();
        let head = page_bytes(page, 0, 8);
        if head[4] != 2 {
            return None;
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        Some(page_bytes(page, 8, len))
    }
}

pub fn page_bytes(page: &impl SharedPage, offset: usize, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    page.read(offset, &mut buf);
    buf
}

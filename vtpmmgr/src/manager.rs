//! The manager: start-up (hardware TPM, then the image: format a blank one, or unseal and open
//! an existing one), and the protocol handlers (reference §3.4–§3.6, `docs/manager-protocol.md`).
//!
//! Connections are created by the transport (tpmback on Xen, a Unix socket in hosted mode),
//! which alone knows who the peer is: a vTPM domain connection carries the vTPM's UUID and the
//! domain's kernel hash, an administrator connection carries neither. The permission rules
//! are Xen's §3.4 without its holes:
//!
//! - a domain may load and save only the entry of its own UUID, and only while the domain's
//!   kernel hash is in its group's list; the check runs on every request (Xen skipped it on a
//!   retry, §3.9), so revoking a hash takes effect at once;
//! - an entry is open on at most one connection at a time;
//! - management requests are served only on the administrator's channel (Xen let the first
//!   vTPM ever connected administer the manager);
//! - an unknown UUID is refused, never created on the fly (VTPM_NEW registers vTPMs).
//!
//! Every change is one atomic store commit, made durable and bound to the hardware counter
//! before the answer is sent.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use rand_core::RngCore;
use sha2::{Digest, Sha256};
use tpm2::alg::TpmAlgId;
use tpm2::transport::Transport;
use vtpm_domain::engine::crypto::CtrDrbg;
use zeroize::Zeroizing;

use crate::Uuid;
use crate::hw::{self, HwConfig, HwError, HwTpm, TpmInfo};
use crate::protocol::{self, GroupInfo, QuoteReply, Reply, Request, ReturnCode, VtpmInfo};
use crate::seams::BlockDevice;
use crate::store::{self, HeaderState, OpenReport, RootKey, Store, StoreError, VtpmRecord};

/// The label under which the NV counter's auth value is derived from the root key.
const NV_AUTH_LABEL: &str = "nv-counter-auth";
/// The largest pass-through GetRandom answer: a tpmif page minus the 14-byte TPM 1.2 header.
const MAX_RANDOM: usize = protocol::MAX_MESSAGE - 14;

/// The most vTPMs the manager registers with one group: every registered vTPM must be able to
/// save a 64-byte key later, and the store fits 22,799 vTPMs that all have one (measured,
/// `tests/store_capacity.rs`; `tests/store_reservation.rs` registers 22,000 key-less entries and
/// then saves a 64-byte key in each). Each further group takes a sector, i.e. one leaf of 48
/// entries, off that budget.
pub const MAX_VTPMS: usize = 22_000;

/// The registration limit with `groups` groups.
pub const fn vtpm_limit(groups: usize) -> usize {
    MAX_VTPMS.saturating_sub(48 * groups.saturating_sub(1))
}

/// Why the manager could not start.
#[derive(Debug)]
pub enum StartError {
    /// The hardware TPM failed.
    Hw(HwError),
    /// The image could not be read, formatted or opened.
    Store(StoreError),
    /// No header copy could be unsealed by this TPM; the errors are per copy.
    Unseal(Vec<HwError>),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hw(e) => write!(f, "hardware TPM: {e}"),
            Self::Store(e) => write!(f, "image: {e}; nothing was written"),
            Self::Unseal(errs) => {
                f.write_str("cannot unseal the image's root key with this TPM")?;
                for (i, e) in errs.iter().enumerate() {
                    write!(f, "; header copy {i}: {e}")?;
                }
                f.write_str("; nothing was written")
            }
        }
    }
}

impl core::error::Error for StartError {}

impl From<HwError> for StartError {
    fn from(e: HwError) -> Self {
        Self::Hw(e)
    }
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// What start-up found and did.
#[derive(Debug)]
pub struct StartReport {
    /// The hardware TPM.
    pub tpm: TpmInfo,
    /// Whether a blank image was formatted.
    pub formatted: bool,
    /// The image's manager UUID.
    pub manager_uuid: Uuid,
    /// The store's open report (absent after formatting).
    pub open: Option<OpenReport>,
}

impl StartReport {
    /// Logs what start-up found: the hardware TPM, and for an opened image (named `image`) its
    /// generation, the hardware counter, a counter increment redone after a crash, and any
    /// damage outside the state in use. (A format is logged by [`Manager::start`] itself.)
    pub fn log(&self, image: &dyn fmt::Display, log: fn(fmt::Arguments<'_>)) {
        log(format_args!("hardware TPM: {}", self.tpm));
        if let Some(open) = &self.open {
            log(format_args!(
                "opened {image} (manager {}): generation {}, hardware counter {}{}",
                self.manager_uuid,
                open.sequence,
                open.counter,
                if open.rolled_forward {
                    "; the last commit's counter increment was redone after a crash"
                } else {
                    ""
                }
            ));
            for d in &open.damage {
                log(format_args!("warning: {d}"));
            }
        }
    }
}

/// Who is on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A vTPM domain, identified by the transport.
    Domain {
        /// The vTPM's UUID (Xen: the backend's xenstore `uuid`).
        uuid: Uuid,
        /// The domain's kernel hash (Xen: a hash of its security label; hosted: SHA-256 of
        /// the process's executable).
        kernel_hash: [u8; 32],
    },
    /// The administrator's channel.
    Admin,
}

/// One connection's state.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    peer: Peer,
    opened: bool,
}

impl Connection {
    /// Who is on this connection.
    pub const fn peer(&self) -> Peer {
        self.peer
    }
}

/// A handler's failure: the code answered, and what to log.
struct Refusal {
    code: ReturnCode,
    why: String,
}

fn refuse(code: ReturnCode, why: impl Into<String>) -> Refusal {
    Refusal {
        code,
        why: why.into(),
    }
}

/// The manager.
pub struct Manager<T: Transport, D: BlockDevice> {
    hw: HwTpm<T>,
    store: Store<D>,
    binding: Vec<u8>,
    nv_auth: Zeroizing<[u8; 32]>,
    rng: CtrDrbg,
    /// vTPM UUID → the connection that has it open.
    open: BTreeMap<Uuid, u64>,
    next_connection: u64,
    ek_public: Option<Vec<u8>>,
    log: fn(fmt::Arguments<'_>),
}

impl<T: Transport, D: BlockDevice> fmt::Debug for Manager<T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("open", &self.open.len())
            .finish_non_exhaustive()
    }
}

/// The manager's configuration.
#[derive(Debug, Default)]
pub struct ManagerConfig {
    /// The hardware TPM configuration (hierarchy auth, PCR policy, NV index, SRK handle).
    pub hw: HwConfig,
}

impl<T: Transport, D: BlockDevice> Manager<T, D> {
    /// Starts the manager: the hardware TPM session, then the image. A blank image is
    /// formatted (a new root key is sealed to this TPM); an existing one is opened only if this
    /// TPM unseals its root key, every sector verifies and the hardware counter agrees with its
    /// generation. A refused image is never written to.
    ///
    /// `host_entropy` is mixed with the TPM's randomness to seed the manager's DRBG.
    pub fn start(
        transport: T,
        mut dev: D,
        config: ManagerConfig,
        host_entropy: &[u8],
        log: fn(fmt::Arguments<'_>),
    ) -> Result<(Manager<T, D>, StartReport), StartError> {
        let (mut hw, tpm) = HwTpm::start(transport, config.hw)?;
        let mut seed = Zeroizing::new([0u8; 48]);
        hw.get_random(&mut seed[..])?;
        // The manager's randomness: CTR_DRBG (AES-256) seeded from the TPM and the host.
        let mut rng = CtrDrbg::instantiate(&seed[..], host_entropy, b"vtpmmgr");
        match store::read_header(&mut dev)? {
            HeaderState::Blank => {
                let root = RootKey::generate(&mut rng);
                let nv_auth = root.derive(NV_AUTH_LABEL);
                let binding = hw.provision(root.as_bytes(), &nv_auth)?;
                let mut id = [0u8; 16];
                rng.fill_bytes(&mut id);
                let manager_uuid = Uuid::new_v4(id);
                let store = {
                    let mut counter = hw.counter(&binding, &nv_auth)?;
                    Store::format(dev, manager_uuid, &binding, &root, &mut counter, &mut rng)?
                };
                log(format_args!(
                    "formatted a new image (manager {manager_uuid}); its root key is sealed to this TPM"
                ));
                let report = StartReport {
                    tpm,
                    formatted: true,
                    manager_uuid,
                    open: None,
                };
                Ok((
                    Self::assemble(hw, store, binding, nv_auth, rng, log),
                    report,
                ))
            }
            HeaderState::Formatted(copies) => {
                let mut errors = Vec::new();
                let mut found = None;
                for copy in copies {
                    match hw.unseal(&copy.binding) {
                        Ok(key) => {
                            found = Some((copy, key));
                            break;
                        }
                        Err(e) => errors.push(e),
                    }
                }
                let Some((copy, key)) = found else {
                    return Err(StartError::Unseal(errors));
                };
                let root = RootKey::new(key);
                let nv_auth = root.derive(NV_AUTH_LABEL);
                let (store, open) = {
                    let mut counter = hw.counter(&copy.binding, &nv_auth)?;
                    Store::open(dev, &copy, &root, &mut counter, &mut rng)?
                };
                let report = StartReport {
                    tpm,
                    formatted: false,
                    manager_uuid: copy.manager_uuid,
                    open: Some(open),
                };
                Ok((
                    Self::assemble(hw, store, copy.binding, nv_auth, rng, log),
                    report,
                ))
            }
        }
    }

    fn assemble(
        hw: HwTpm<T>,
        store: Store<D>,
        binding: Vec<u8>,
        nv_auth: Zeroizing<[u8; 32]>,
        rng: CtrDrbg,
        log: fn(fmt::Arguments<'_>),
    ) -> Self {
        Self {
            hw,
            store,
            binding,
            nv_auth,
            rng,
            open: BTreeMap::new(),
            next_connection: 1,
            ek_public: None,
            log,
        }
    }

    /// Stops the manager: flushes what it holds in the hardware TPM, and gives back the
    /// transport and the device. (Every change is already durable; this only tidies the TPM.)
    pub fn shut_down(self) -> Result<(T, D), HwError> {
        let Manager { hw, store, .. } = self;
        let transport = hw.close()?;
        Ok((transport, store.into_device()))
    }

    /// The name of the hardware TPM's storage root key (its TPM2B_NAME contents).
    pub fn srk_name(&self) -> &[u8] {
        self.hw.srk_name()
    }

    /// The image's binding: the sealing key (SK, under the SRK), the root key sealed under it
    /// and the counter index, as the image holds them (docs/manager-hw.md).
    pub fn binding(&self) -> &[u8] {
        &self.binding
    }

    /// The store (for status and tests).
    pub fn store(&mut self) -> &mut Store<D> {
        &mut self.store
    }

    /// A new connection from `peer`.
    pub fn connect(&mut self, peer: Peer) -> Connection {
        let id = self.next_connection;
        self.next_connection += 1;
        Connection {
            id,
            peer,
            opened: false,
        }
    }

    /// The connection is gone: its vTPM is no longer open.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "ends the connection: the caller gives it up"
    )]
    pub fn disconnect(&mut self, conn: Connection) {
        if let Peer::Domain { uuid, .. } = conn.peer {
            if self.open.get(&uuid) == Some(&conn.id) {
                self.open.remove(&uuid);
            }
        }
    }

    /// Answers one request from `conn`. Never fails: every error becomes an answer code, and
    /// the reason is logged (never with secrets).
    pub fn handle(&mut self, conn: &mut Connection, bytes: &[u8]) -> Vec<u8> {
        let request = match Request::parse(bytes) {
            Ok(r) => r,
            Err(rej) => {
                (self.log)(format_args!("connection {}: refused: {rej}", conn.id));
                return rej.encode();
            }
        };
        let is_admin = conn.peer == Peer::Admin;
        if request.is_management() != is_admin {
            let why = if is_admin {
                "vTPM requests are not served on the administrator's channel"
            } else {
                "management requests are served only on the administrator's channel"
            };
            (self.log)(format_args!("connection {}: {request:?}: {why}", conn.id));
            return protocol::Rejection {
                // Xen's dispatcher-level answer: the request's tag + 3 (0x01C5, 0x01C4, 0x00C4).
                tag: request.tag() + 3,
                code: ReturnCode::AUTHFAIL,
                reason: why,
            }
            .encode();
        }
        match self.dispatch(conn, &request) {
            Ok(reply) => reply.encode(),
            Err(r) => {
                (self.log)(format_args!(
                    "connection {}: {request:?}: {} ({})",
                    conn.id, r.why, r.code
                ));
                Reply::error(request.tag(), r.code)
            }
        }
    }

    fn dispatch(&mut self, conn: &mut Connection, request: &Request) -> Result<Reply, Refusal> {
        match request {
            Request::SaveHashKey(key) => {
                let uuid = self.open_own(conn)?.uuid;
                let mut counter = self
                    .hw
                    .counter(&self.binding, &self.nv_auth)
                    .map_err(hw_fail)?;
                self.store
                    .set_key(&uuid, key, &mut counter)
                    .map_err(|e| store_fail(&e))?;
                Ok(Reply::Empty)
            }
            Request::LoadHashKey => {
                let rec = self.open_own(conn)?;
                if rec.key.is_empty() {
                    // Never saved: Xen answers 52 zero bytes for an entry VTPM_NEW made.
                    return Ok(Reply::HashKey(Zeroizing::new(alloc::vec![
                        0;
                        protocol::HASH_KEY_MIN
                    ])));
                }
                Ok(Reply::HashKey(Zeroizing::new(rec.key.to_vec())))
            }
            Request::GetBootHash => match conn.peer {
                Peer::Domain { kernel_hash, .. } => Ok(Reply::BootHash(kernel_hash)),
                Peer::Admin => Err(refuse(ReturnCode::BAD_PARAMETER, "no domain")),
            },
            Request::GetQuote { nonce, pcrs, flags } => self.quote(conn, nonce, *pcrs, *flags),
            Request::GetRandom { count } => {
                let n = usize::try_from(*count)
                    .unwrap_or(MAX_RANDOM)
                    .min(MAX_RANDOM);
                let mut out = alloc::vec![0u8; n];
                self.hw.get_random(&mut out).map_err(hw_fail)?;
                Ok(Reply::Random(out))
            }
            _ => self.manage(request),
        }
    }

    /// Opens the connection's own vTPM (§3.4), or re-checks it if already open.
    fn open_own(&mut self, conn: &mut Connection) -> Result<VtpmRecord, Refusal> {
        let Peer::Domain { uuid, kernel_hash } = conn.peer else {
            return Err(refuse(ReturnCode::BAD_PARAMETER, "no domain"));
        };
        let rec = self.lookup(&uuid)?;
        if let Some(&holder) = self.open.get(&uuid) {
            if holder != conn.id {
                return Err(refuse(
                    ReturnCode::DISABLED,
                    alloc::format!("vTPM {uuid} is open on connection {holder}"),
                ));
            }
        }
        let group = self
            .store
            .group(rec.group)
            .ok_or_else(|| refuse(ReturnCode::FAIL, "the vTPM's group is missing"))?;
        if !group.kernels.contains(&kernel_hash) {
            return Err(refuse(
                ReturnCode::DISABLED,
                alloc::format!(
                    "the domain's kernel hash is not authorised for vTPM {uuid}'s group"
                ),
            ));
        }
        self.open.insert(uuid, conn.id);
        conn.opened = true;
        Ok(rec)
    }

    fn lookup(&mut self, uuid: &Uuid) -> Result<VtpmRecord, Refusal> {
        match self.store.get(uuid) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(refuse(
                ReturnCode::BAD_PARAMETER,
                alloc::format!("unknown vTPM {uuid}"),
            )),
            Err(e) => Err(store_fail(&e)),
        }
    }

    fn quote(
        &mut self,
        conn: &mut Connection,
        nonce: &[u8; 20],
        pcrs: u32,
        flags: u32,
    ) -> Result<Reply, Refusal> {
        let Peer::Domain { uuid, kernel_hash } = conn.peer else {
            return Err(refuse(ReturnCode::BAD_PARAMETER, "no domain"));
        };
        if !conn.opened || self.open.get(&uuid) != Some(&conn.id) {
            return Err(refuse(
                ReturnCode::BAD_PARAMETER,
                "GET_QUOTE needs the vTPM opened by LOADHASHKEY or SAVEHASHKEY",
            ));
        }
        if pcrs == 0 {
            return Err(refuse(
                ReturnCode::BAD_PARAMETER,
                "the quote selects no PCR",
            ));
        }
        let rec = self.lookup(&uuid)?;
        let group = self
            .store
            .group(rec.group)
            .ok_or_else(|| refuse(ReturnCode::FAIL, "the vTPM's group is missing"))?
            .clone();
        let ak_public = public_area(&hw::attestation_public(&group.attest).map_err(hw_fail)?.0);
        let mut hashes = Vec::new();
        if flags & protocol::QUOTE_HASH_UUID != 0 {
            hashes.push(sha256(&[&uuid.0]));
        }
        if flags & protocol::QUOTE_VTPM_MEASUREMENTS != 0 {
            hashes.push(sha256(&[&kernel_hash]));
        }
        if flags & protocol::QUOTE_GROUP_INFO != 0 {
            hashes.push(group_info_hash(&group));
        }
        if flags & protocol::QUOTE_GROUP_PUBKEY != 0 {
            hashes.push(sha256(&[&ak_public]));
        }
        let qualifying = quote_qualifying_data(flags, nonce, &hashes);
        let q = self
            .hw
            .quote(&group.attest, &qualifying, TpmAlgId::SHA256, pcrs)
            .map_err(hw_fail)?;
        let mut pcr_values = Vec::new();
        for v in &q.pcr_values {
            let arr: [u8; 32] = v
                .as_slice()
                .try_into()
                .map_err(|_| refuse(ReturnCode::FAIL, "PCR value is not a SHA-256 digest"))?;
            pcr_values.push(arr);
        }
        Ok(Reply::Quote(QuoteReply {
            attest: q.attest,
            signature: q.signature,
            hashes,
            pcr_values,
        }))
    }

    fn group_id(&self, index: u32) -> Result<u32, Refusal> {
        self.store
            .groups()
            .get(index as usize)
            .map(|g| g.id)
            .ok_or_else(|| {
                refuse(
                    ReturnCode::BADINDEX,
                    alloc::format!("no group {index} ({} groups)", self.store.groups().len()),
                )
            })
    }

    fn group_index(&self, id: u32) -> u32 {
        self.store
            .groups()
            .iter()
            .position(|g| g.id == id)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(u32::MAX)
    }

    fn manage(&mut self, request: &Request) -> Result<Reply, Refusal> {
        match request {
            Request::GroupList => Ok(Reply::GroupCount(
                u32::try_from(self.store.groups().len()).unwrap_or(u32::MAX),
            )),
            Request::GroupNew => {
                let limit = vtpm_limit(self.store.groups().len() + 1);
                if self.store.vtpm_count() as usize > limit {
                    return Err(refuse(
                        ReturnCode::RESOURCES,
                        alloc::format!(
                            "another group would leave room for only {limit} vTPMs, and {} are registered",
                            self.store.vtpm_count()
                        ),
                    ));
                }
                let ak = self.hw.create_attestation_key().map_err(hw_fail)?;
                let (ak_public, ak_name) = hw::attestation_public(&ak).map_err(hw_fail)?;
                let ak_public = public_area(&ak_public);
                let mut id = [0u8; 16];
                self.rng.fill_bytes(&mut id);
                let uuid = Uuid::new_v4(id);
                let mut counter = self
                    .hw
                    .counter(&self.binding, &self.nv_auth)
                    .map_err(hw_fail)?;
                let gid = self
                    .store
                    .create_group(uuid, &ak, &mut counter)
                    .map_err(|e| store_fail(&e))?;
                Ok(Reply::GroupNew {
                    index: self.group_index(gid),
                    uuid,
                    ak_public,
                    ak_name,
                })
            }
            Request::GroupDel { group } => {
                let gid = self.group_id(*group)?;
                let mut counter = self
                    .hw
                    .counter(&self.binding, &self.nv_auth)
                    .map_err(hw_fail)?;
                self.store
                    .delete_group(gid, &mut counter)
                    .map_err(|e| store_fail(&e))?;
                Ok(Reply::Empty)
            }
            Request::GroupActivate {
                group,
                credential,
                secret,
            } => {
                let gid = self.group_id(*group)?;
                let ak = self
                    .store
                    .group(gid)
                    .map(|g| g.attest.clone())
                    .unwrap_or_default();
                let cert = self
                    .hw
                    .activate_credential(&ak, credential, secret)
                    .map_err(hw_fail)?;
                Ok(Reply::Credential(cert))
            }
            Request::GroupUpdate {
                group,
                sequence,
                kernels,
            } => {
                let gid = self.group_id(*group)?;
                let current = self.store.group(gid).map_or(0, |g| g.kernel_seq);
                if *sequence <= current {
                    return Err(refuse(
                        ReturnCode::BAD_PARAMETER,
                        alloc::format!(
                            "kernel list sequence {sequence} is not newer than {current}"
                        ),
                    ));
                }
                let mut counter = self
                    .hw
                    .counter(&self.binding, &self.nv_auth)
                    .map_err(hw_fail)?;
                self.store
                    .update_group_kernels(gid, *sequence, kernels, &mut counter)
                    .map_err(|e| store_fail(&e))?;
                Ok(Reply::Empty)
            }
            Request::GroupShow { group } => {
                let gid = self.group_id(*group)?;
                let g = self
                    .store
                    .group(gid)
                    .ok_or_else(|| refuse(ReturnCode::BADINDEX, "group vanished"))?
                    .clone();
                let (ak_public, ak_name) = hw::attestation_public(&g.attest).map_err(hw_fail)?;
                let ak_public = public_area(&ak_public);
                Ok(Reply::Group(GroupInfo {
                    uuid: g.uuid,
                    ak_public,
                    ak_name,
                    sequence: g.kernel_seq,
                    kernels: g.kernels.clone(),
                    vtpms: g.vtpm_count,
                }))
            }
            Request::VtpmList { group, offset } => {
                let gid = self.group_id(*group)?;
                let total = self.store.group(gid).map_or(0, |g| g.vtpm_count);
                let uuids = self
                    .store
                    .list(gid, *offset as usize, protocol::LIST_MAX)
                    .map_err(|e| store_fail(&e))?;
                Ok(Reply::VtpmList { total, uuids })
            }
            Request::VtpmShow { uuid } => {
                let rec = self.lookup(uuid)?;
                Ok(Reply::Vtpm(VtpmInfo {
                    group: self.group_index(rec.group),
                    has_key: !rec.key.is_empty(),
                    open: self.open.contains_key(uuid),
                }))
            }
            Request::VtpmNew { group, uuid } => {
                let gid = self.group_id(*group)?;
                let limit = vtpm_limit(self.store.groups().len());
                if self.store.vtpm_count() as usize >= limit {
                    return Err(refuse(
                        ReturnCode::RESOURCES,
                        alloc::format!(
                            "the image holds its maximum of {limit} vTPMs (each keeps room for a 64-byte key)"
                        ),
                    ));
                }
                let uuid = uuid.unwrap_or_else(|| {
                    let mut id = [0u8; 16];
                    self.rng.fill_bytes(&mut id);
                    Uuid::new_v4(id)
                });
                let mut counter = self
                    .hw
                    .counter(&self.binding, &self.nv_auth)
                    .map_err(hw_fail)?;
                self.store
                    .insert(
                        VtpmRecord {
                            uuid,
                            group: gid,
                            flags: 0,
                            key: Zeroizing::new(Vec::new()),
                        },
                        &mut counter,
                    )
                    .map_err(|e| store_fail(&e))?;
                Ok(Reply::VtpmNew(uuid))
            }
            Request::VtpmDel { uuid } => {
                if let Some(holder) = self.open.get(uuid) {
                    return Err(refuse(
                        ReturnCode::DISABLED,
                        alloc::format!("vTPM {uuid} is open on connection {holder}"),
                    ));
                }
                let mut counter = self
                    .hw
                    .counter(&self.binding, &self.nv_auth)
                    .map_err(hw_fail)?;
                self.store
                    .delete(uuid, &mut counter)
                    .map_err(|e| store_fail(&e))?;
                Ok(Reply::Empty)
            }
            Request::ReadPubek => {
                if self.ek_public.is_none() {
                    let ek = self.hw.endorsement_public().map_err(hw_fail)?;
                    self.ek_public = Some(public_area(&ek));
                }
                Ok(Reply::Pubek(self.ek_public.clone().unwrap_or_default()))
            }
            _ => Err(refuse(ReturnCode::BAD_ORDINAL, "not a management request")),
        }
    }
}

/// The TPMT_PUBLIC inside TPM2B_PUBLIC wire bytes (the protocol carries the public area).
fn public_area(tpm2b: &[u8]) -> Vec<u8> {
    tpm2b.get(2..).unwrap_or_default().to_vec()
}

#[allow(clippy::needless_pass_by_value, reason = "used as `map_err(hw_fail)`")]
fn hw_fail(e: HwError) -> Refusal {
    refuse(ReturnCode::FAIL, alloc::format!("hardware TPM: {e}"))
}

fn store_fail(e: &StoreError) -> Refusal {
    let code = match e {
        StoreError::VtpmNotFound(_)
        | StoreError::VtpmExists(_)
        | StoreError::GroupExists(_)
        | StoreError::GroupNotFound(_) => ReturnCode::BAD_PARAMETER,
        StoreError::Full => ReturnCode::RESOURCES,
        _ => ReturnCode::FAIL,
    };
    refuse(code, alloc::format!("store: {e}"))
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-256 over the group's identity and kernel list (GET_QUOTE's GROUP_INFO hash):
/// `uuid[16] ‖ kernel_seq (u64 BE) ‖ count (u32 BE) ‖ kernels[32 × count]`.
pub fn group_info_hash(group: &store::GroupRecord) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(group.uuid.0);
    h.update(group.kernel_seq.to_be_bytes());
    h.update(
        u32::try_from(group.kernels.len())
            .unwrap_or(0)
            .to_be_bytes(),
    );
    for k in &group.kernels {
        h.update(k);
    }
    h.finalize().into()
}

pub use crate::protocol::deep_quote::quote_qualifying_data;

//! The session with the hardware TPM 2.0 (docs/manager-hw.md): start-up, the storage root key
//! (SRK), the sealing key (SK) under it, the store's root key sealed under the SK (optionally to
//! PCRs), the monotonic NV counter that binds the store's generation, random numbers, and
//! attestation (an AK, quotes, the EK and credential activation) for the vTPMs' GET_QUOTE.
//!
//! It replaces Xen's TPM 2.0 hierarchy (xen-vtpm.md §5), fixing its defects: TPM2_Startup is
//! sent; the SK and the sealed root key are kept (as the [`binding`]) so that what is
//! sealed on one boot unseals on the next; PCR values are decoded from the wire properly; the
//! root key is sealed with a TPM-enforced PCR policy if configured; sessions and every loaded
//! object are flushed on every path, with at most three objects loaded at once.
//!
//! Specifications: TCG TPM 2.0 Library rev 1.59, part 1 (§16 Names, §19 authorizations and
//! policy, §37 NV), part 2 (structures), part 3 (commands, cited at each use); TCG "TPM v2.0
//! Provisioning Guidance" (the SRK template); TCG EK Credential Profile (the EK template).
//!
//! Everything is generic over [`Transport`]: the TIS driver in the unikernel, `/dev/tpmrm0` or
//! swtpm's socket on a host.

mod attest;
pub mod binding;
mod counter;
pub mod error;
mod info;
pub mod policy;
mod seal;
pub mod templates;
mod wire;

use alloc::vec::Vec;
use core::fmt;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::commands::{GetRandomCommand, GetRandomResponse, PcrReadCommand, PcrReadResponse};
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::rc::{RcDecoded, RcSubject, TpmRc};
use tpm2::st::TpmSu;
use tpm2::structures::{
    Tpm2bCreationData, Tpm2bData, Tpm2bDigest, Tpm2bName, Tpm2bPrivate, Tpm2bPublic,
    Tpm2bSensitiveCreate, Tpm2bSensitiveData, TpmlPcrSelection, TpmsSensitiveCreate, TpmtPublic,
    TpmtTkCreation,
};
use tpm2::transport::Transport;
use tpm2::{Marshal, Unmarshal};
use zeroize::Zeroizing;

pub use attest::{MAX_AK_BLOB, Quote, attestation_public};
pub use binding::{Binding, BindingError, BoundPolicy};
pub use counter::NvCounter;
pub use error::{AuthEntity, HwError};
pub use info::{PcrBank, TpmInfo};
pub use seal::NV_COUNTER_ATTRIBUTES;

use error::{AuthEntity as Entity, auth_context};
use wire::{Wire, password};

/// The first NV index `provision` tries for the monotonic counter: 0x01805654 ("VT"), in the
/// owner range 0x01800000–0x01BFFFFF of the TCG "Registry of Reserved TPM 2.0 Handles and
/// Localities".
pub const DEFAULT_NV_INDEX: u32 = 0x0180_5654;

/// How many consecutive NV indices `provision` tries, from `HwConfig::nv_index` on.
pub const NV_INDEX_TRIES: u32 = 16;

/// The PCRs the sealed root key is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcrPolicy {
    /// The PCR bank (a TPM_ALG_ID hash; SHA-256 by default).
    pub bank: TpmAlgId,
    /// The PCRs, bit n = PCR n (n < 24).
    pub pcrs: u32,
}

impl Default for PcrPolicy {
    fn default() -> Self {
        Self {
            bank: TpmAlgId::SHA256,
            pcrs: 0,
        }
    }
}

/// How the manager uses the hardware TPM.
#[derive(Clone)]
pub struct HwConfig {
    /// The owner hierarchy's authorization value (empty on a freshly cleared TPM).
    pub owner_auth: Zeroizing<Vec<u8>>,
    /// The endorsement hierarchy's authorization value (for the EK).
    pub endorsement_auth: Zeroizing<Vec<u8>>,
    /// Seal the root key to these PCRs (TPM-enforced PolicyPCR), or `None`.
    pub pcr_policy: Option<PcrPolicy>,
    /// The first NV index to try for the counter ([`DEFAULT_NV_INDEX`]).
    pub nv_index: u32,
    /// A persistent handle (0x81xxxxxx) for the SRK: used if it holds an SRK of our template,
    /// otherwise the SRK is created and made persistent there (TPM2_EvictControl). `None`
    /// recreates the SRK at every start (it is deterministic).
    pub srk_handle: Option<u32>,
}

impl Default for HwConfig {
    fn default() -> Self {
        Self {
            owner_auth: Zeroizing::new(Vec::new()),
            endorsement_auth: Zeroizing::new(Vec::new()),
            pcr_policy: None,
            nv_index: DEFAULT_NV_INDEX,
            srk_handle: None,
        }
    }
}

impl fmt::Debug for HwConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HwConfig")
            .field(
                "owner_auth",
                &format_args!("<{} bytes>", self.owner_auth.len()),
            )
            .field(
                "endorsement_auth",
                &format_args!("<{} bytes>", self.endorsement_auth.len()),
            )
            .field("pcr_policy", &self.pcr_policy)
            .field("nv_index", &format_args!("{:#010x}", self.nv_index))
            .field("srk_handle", &self.srk_handle)
            .finish()
    }
}

/// An object created by TPM2_Create: its public area (parsed and as bytes) and its private
/// area (the contents of its TPM2B_PRIVATE).
struct Created {
    public: TpmtPublic,
    public_bytes: Vec<u8>,
    private: Vec<u8>,
}

/// The manager's session with the hardware TPM; holds the SRK loaded (or persistent).
pub struct HwTpm<T> {
    wire: Wire<T>,
    srk: TpmHandle,
    srk_name: Vec<u8>,
    srk_persistent: bool,
    config: HwConfig,
}

impl<T> fmt::Debug for HwTpm<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HwTpm")
            .field("srk", &self.srk)
            .field("srk_persistent", &self.srk_persistent)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> HwTpm<T> {
    /// Starts the TPM (TPM2_Startup(CLEAR); TPM_RC_INITIALIZE means firmware already did),
    /// runs TPM2_SelfTest(fullTest = YES), reads [`TpmInfo`], flushes transient objects left
    /// loaded by an earlier manager, and sets up the SRK.
    pub fn start(transport: T, config: HwConfig) -> Result<(Self, TpmInfo), HwError> {
        let mut wire = Wire::new(transport);
        match wire.exec(TpmCc::STARTUP, &[], &[], &TpmSu::CLEAR.to_bytes()) {
            Ok(_) => {}
            Err(HwError::Tpm { rc, .. }) if rc == TpmRc::INITIALIZE => {}
            Err(e) => return Err(e),
        }
        wire.exec(TpmCc::SELF_TEST, &[], &[], &[1])?;
        let info = info::read(&mut wire)?;
        // The manager owns the TPM (Xen gives only its stub domain the TIS pages). Objects a
        // previous manager left loaded (it crashed, or was stopped without `close`) would fill
        // the TPM's few transient slots: flush them. Behind a resource manager
        // (`/dev/tpmrm0`) this list holds only this connection's objects, i.e. none.
        for h in info::transient_handles(&mut wire)? {
            wire.flush(h)?;
        }
        let mut me = Self {
            wire,
            srk: TpmHandle::NULL,
            srk_name: Vec::new(),
            srk_persistent: false,
            config,
        };
        me.setup_srk()?;
        Ok((me, info))
    }

    /// Flushes the SRK (unless it is persistent) and gives the transport back.
    pub fn close(mut self) -> Result<T, HwError> {
        if !self.srk_persistent {
            self.wire.flush(self.srk)?;
        }
        Ok(self.wire.into_transport())
    }

    /// The transport, for raw access (diagnostics, tests). Commands sent through it must leave
    /// the SRK loaded.
    pub fn transport_mut(&mut self) -> &mut T {
        self.wire.transport_mut()
    }

    /// The Name of the SRK (`0x000B ‖ SHA-256(public area)`).
    pub fn srk_name(&self) -> &[u8] {
        &self.srk_name
    }

    /// The SRK's handle (transient, or the configured persistent handle).
    pub fn srk_handle(&self) -> u32 {
        self.srk.0
    }

    /// Fills `out` with random bytes from the TPM (TPM2_GetRandom, part 3 §16.1, repeated: a
    /// TPM returns at most one digest's worth per call).
    pub fn get_random(&mut self, out: &mut [u8]) -> Result<(), HwError> {
        let mut filled = 0;
        while filled < out.len() {
            let want = u16::try_from(out.len() - filled)
                .unwrap_or(u16::MAX)
                .min(64);
            let cmd = GetRandomCommand {
                bytes_requested: want,
            };
            let a = self
                .wire
                .exec(TpmCc::GET_RANDOM, &[], &[], &cmd.to_bytes())?;
            let mut r = a.reader(TpmCc::GET_RANDOM);
            let rsp: GetRandomResponse = r.read()?;
            r.finish()?;
            let got = rsp.random_bytes.as_bytes();
            if got.is_empty() || got.len() > usize::from(want) {
                return Err(HwError::Unexpected(
                    "TPM2_GetRandom returned no bytes or more than requested",
                ));
            }
            out[filled..filled + got.len()].copy_from_slice(got);
            filled += got.len();
        }
        Ok(())
    }

    /// The SRK: CreatePrimary from the template every start, or the persistent handle.
    fn setup_srk(&mut self) -> Result<(), HwError> {
        let Some(handle) = self.config.srk_handle else {
            let (handle, name) = self.create_srk()?;
            self.srk = handle;
            self.srk_name = name;
            return Ok(());
        };
        let persistent = TpmHandle(handle);
        if persistent.ty() != TpmHt::PERSISTENT {
            return Err(HwError::BadArgument(
                "srk_handle is not a persistent handle (0x81xxxxxx)",
            ));
        }
        match self.read_public(persistent) {
            Ok((public, name)) => {
                if !templates::matches(&public, &templates::srk()) {
                    return Err(HwError::SrkHandleOccupied { handle });
                }
                self.srk_name = name;
            }
            Err(HwError::Tpm { rc, .. }) if rc.base() == TpmRc::HANDLE => {
                let (transient, name) = self.create_srk()?;
                let evicted = self.evict_control(transient, persistent);
                let flushed = self.wire.flush(transient);
                evicted?;
                flushed?;
                self.srk_name = name;
            }
            Err(e) => return Err(e),
        }
        self.srk = persistent;
        self.srk_persistent = true;
        Ok(())
    }

    /// TPM2_CreatePrimary (part 3 §24.1) of the SRK in the owner hierarchy. Returns the
    /// transient handle and the Name, which is checked against the returned public area.
    fn create_srk(&mut self) -> Result<(TpmHandle, Vec<u8>), HwError> {
        let auth = password(&self.config.owner_auth)?;
        let (handle, public, name) = self
            .create_primary(TpmHandle::OWNER, auth, &templates::srk())
            .map_err(|e| auth_context(e, Entity::Owner, 1))?;
        if !templates::matches(&public, &templates::srk()) || name != templates::name(&public) {
            let _ = self.wire.flush(handle);
            return Err(HwError::Unexpected(
                "the SRK's public area or Name is not the one requested",
            ));
        }
        Ok((handle, name))
    }

    /// TPM2_CreatePrimary with empty userAuth, no data, no outsideInfo, no creation PCRs.
    fn create_primary(
        &mut self,
        hierarchy: TpmHandle,
        auth: tpm2::auth::TpmsAuthCommand,
        template: &TpmtPublic,
    ) -> Result<(TpmHandle, TpmtPublic, Vec<u8>), HwError> {
        let mut p = Vec::new();
        sensitive_create(&[])?.marshal(&mut p);
        Tpm2bPublic::from(template.clone()).marshal(&mut p);
        Tpm2bData::empty().marshal(&mut p);
        TpmlPcrSelection::empty().marshal(&mut p);
        let a = self
            .wire
            .exec(TpmCc::CREATE_PRIMARY, &[hierarchy], &[auth], &p)?;
        let handle = a.handle(TpmCc::CREATE_PRIMARY)?;
        let parsed = (|| {
            let mut r = a.reader(TpmCc::CREATE_PRIMARY);
            let public: Tpm2bPublic = r.read()?;
            let _: Tpm2bCreationData = r.read()?;
            let _: Tpm2bDigest = r.read()?;
            let _: TpmtTkCreation = r.read()?;
            let name: Tpm2bName = r.read()?;
            r.finish()?;
            Ok((public.public_area, name.as_bytes().to_vec()))
        })();
        match parsed {
            Ok((public, name)) => Ok((handle, public, name)),
            Err(e) => {
                let _ = self.wire.flush(handle);
                Err(e)
            }
        }
    }

    /// TPM2_EvictControl (part 3 §28.5): makes `object` persistent at `persistent`.
    fn evict_control(&mut self, object: TpmHandle, persistent: TpmHandle) -> Result<(), HwError> {
        let auth = password(&self.config.owner_auth)?;
        let a = self
            .wire
            .exec(
                TpmCc::EVICT_CONTROL,
                &[TpmHandle::OWNER, object],
                &[auth],
                &persistent.to_bytes(),
            )
            .map_err(|e| auth_context(e, Entity::Owner, 1))?;
        a.reader(TpmCc::EVICT_CONTROL).finish()
    }

    /// TPM2_ReadPublic (part 3 §12.4): the public area and Name of a loaded object.
    fn read_public(&mut self, object: TpmHandle) -> Result<(TpmtPublic, Vec<u8>), HwError> {
        let a = self.wire.exec(TpmCc::READ_PUBLIC, &[object], &[], &[])?;
        let mut r = a.reader(TpmCc::READ_PUBLIC);
        let public: Tpm2bPublic = r.read()?;
        let name: Tpm2bName = r.read()?;
        let _qualified: Tpm2bName = r.read()?;
        r.finish()?;
        Ok((public.public_area, name.as_bytes().to_vec()))
    }

    /// TPM2_Create (part 3 §12.1) under `parent` (authorized with its empty authValue) with
    /// `data` as the sensitive data (empty for keys the TPM generates).
    fn create(
        &mut self,
        parent: TpmHandle,
        template: &TpmtPublic,
        data: &[u8],
    ) -> Result<Created, HwError> {
        let mut p = Zeroizing::new(Vec::new());
        sensitive_create(data)?.marshal(&mut p);
        Tpm2bPublic::from(template.clone()).marshal(&mut p);
        Tpm2bData::empty().marshal(&mut p);
        TpmlPcrSelection::empty().marshal(&mut p);
        let a = self
            .wire
            .exec(TpmCc::CREATE, &[parent], &[password(&[])?], &p)?;
        let mut r = a.reader(TpmCc::CREATE);
        let private: Tpm2bPrivate = r.read()?;
        let public: Tpm2bPublic = r.read()?;
        let _: Tpm2bCreationData = r.read()?;
        let _: Tpm2bDigest = r.read()?;
        let _: TpmtTkCreation = r.read()?;
        r.finish()?;
        if !templates::matches(&public.public_area, template) {
            return Err(HwError::Unexpected(
                "TPM2_Create returned a public area other than the template",
            ));
        }
        Ok(Created {
            public_bytes: public.public_area.to_bytes(),
            public: public.public_area,
            private: private.as_bytes().to_vec(),
        })
    }

    /// TPM2_Load (part 3 §12.2) of a private/public pair under `parent`. A refused integrity
    /// check means the blobs were made by another TPM or under another parent: [`HwError::WrongTpm`].
    fn load(
        &mut self,
        parent: TpmHandle,
        private: &[u8],
        public: &[u8],
        what: &'static str,
    ) -> Result<TpmHandle, HwError> {
        let public = TpmtPublic::from_bytes(public).map_err(|_| {
            HwError::Malformed(BindingError::BadRecord {
                record: what,
                why: "not a TPMT_PUBLIC",
            })
        })?;
        let private = Tpm2bPrivate::new(private).map_err(|_| {
            HwError::Malformed(BindingError::BadRecord {
                record: what,
                why: "private area too long",
            })
        })?;
        let mut p = Vec::new();
        private.marshal(&mut p);
        Tpm2bPublic::from(public).marshal(&mut p);
        let a = self
            .wire
            .exec(TpmCc::LOAD, &[parent], &[password(&[])?], &p)
            .map_err(|e| load_error(e, what))?;
        let handle = a.handle(TpmCc::LOAD)?;
        let mut r = a.reader(TpmCc::LOAD);
        let parsed: Result<Tpm2bName, _> = r.read();
        match parsed.and_then(|n| r.finish().map(|()| n)) {
            Ok(_) => Ok(handle),
            Err(e) => {
                let _ = self.wire.flush(handle);
                Err(e)
            }
        }
    }

    /// The values of the PCRs in `bitmap` of `bank`, ascending, read with TPM2_PCR_Read
    /// (part 3 §22.4), which returns at most eight digests per call: the selection is read
    /// page by page. If the PCRs change between pages (pcrUpdateCounter), the read starts over
    /// (at most three times).
    fn read_pcrs(&mut self, bank: TpmAlgId, bitmap: u32) -> Result<Vec<Vec<u8>>, HwError> {
        let size = bank
            .digest_size()
            .ok_or(HwError::BadArgument("the PCR bank is not a hash algorithm"))?;
        'again: for _ in 0..3 {
            let mut values: Vec<Option<Vec<u8>>> = alloc::vec![None; 24];
            let mut remaining = bitmap;
            let mut counter = None;
            while remaining != 0 {
                let cmd = PcrReadCommand {
                    pcr_selection_in: policy::selection(bank, remaining)?,
                };
                let a = self.wire.exec(TpmCc::PCR_READ, &[], &[], &cmd.to_bytes())?;
                let mut r = a.reader(TpmCc::PCR_READ);
                let rsp: PcrReadResponse = r.read()?;
                r.finish()?;
                if *counter.get_or_insert(rsp.pcr_update_counter) != rsp.pcr_update_counter {
                    continue 'again;
                }
                let returned = policy::bitmap_of(&rsp.pcr_selection_out, bank);
                let order: Vec<(TpmAlgId, u32)> = rsp.pcr_selection_out.pairs().collect();
                if returned == 0
                    || returned & !remaining != 0
                    || order.len() != rsp.pcr_values.len()
                    || order
                        .iter()
                        .any(|&(h, pcr)| h != bank || pcr >= policy::PCR_BITMAP_PCRS)
                {
                    return Err(HwError::Unexpected(
                        "TPM2_PCR_Read returned other PCRs than requested (is the bank allocated?)",
                    ));
                }
                for (&(_, pcr), digest) in order.iter().zip(rsp.pcr_values.iter()) {
                    if digest.len() != size {
                        return Err(HwError::Unexpected(
                            "TPM2_PCR_Read returned a digest of the wrong size",
                        ));
                    }
                    if let Some(slot) = values.get_mut(pcr as usize) {
                        *slot = Some(digest.as_bytes().to_vec());
                    }
                }
                remaining &= !returned;
            }
            return Ok(values.into_iter().flatten().collect());
        }
        Err(HwError::PcrsChanged)
    }
}

/// The meaning of a TPM2_Load failure: a refused integrity check (or a sensitive area that does
/// not fit its public area) means the blobs were made by another TPM or under another parent;
/// a parameter the TPM could not unmarshal means the blob is malformed.
fn load_error(e: HwError, what: &'static str) -> HwError {
    match e {
        HwError::Tpm { rc, .. }
            if matches!(
                rc.base(),
                TpmRc::INTEGRITY | TpmRc::BINDING | TpmRc::SENSITIVE
            ) =>
        {
            HwError::WrongTpm {
                reason: "TPM2_Load refused the private area (TPM_RC_INTEGRITY)",
            }
        }
        HwError::Tpm { rc, .. }
            if matches!(
                rc.decode(),
                RcDecoded::Format1 {
                    subject: Some(RcSubject::Parameter(_)),
                    ..
                }
            ) =>
        {
            HwError::Malformed(BindingError::BadRecord {
                record: what,
                why: "TPM2_Load refused its structure",
            })
        }
        other => other,
    }
}

/// A TPM2B_SENSITIVE_CREATE with an empty userAuth and `data`.
fn sensitive_create(data: &[u8]) -> Result<Tpm2bSensitiveCreate, HwError> {
    Ok(Tpm2bSensitiveCreate::from(TpmsSensitiveCreate {
        user_auth: tpm2::structures::Tpm2bAuth::empty(),
        data: Tpm2bSensitiveData::new(data)
            .map_err(|_| HwError::BadArgument("sealed data longer than 128 bytes"))?,
    }))
}

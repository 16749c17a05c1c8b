//! The vTPM domain's runtime: the [`Engine`] with its state kept on the domain's two-slot image
//! ([`crate::image`], `docs/vtpm-image.md`) and its key kept by the manager (reference
//! `xen-vtpm.md` §6.1 start-up, §6.3 load, §6.4 save and first boot, §6.5 when state is
//! written; manager protocol §3.5 LOADHASHKEY / SAVEHASHKEY, `docs/manager-protocol.md`).
//!
//! - Start: LOADHASHKEY. An entry that was registered (VTPM_NEW) but never saved answers 52
//!   zero bytes: a TPM is manufactured (first boot). A 64-byte record must open one of the
//!   image's slots; if none does, start-up is refused with the cause, unless the operator asked
//!   for a reset ([`DomainOptions::reset_image`]). Xen starts a brand-new TPM on any load
//!   error; a domain that silently loses its keys is worse than one that does not start.
//!   Our manager refuses unknown UUIDs (it never creates entries on the fly), so that, and a
//!   refused kernel hash, are start-up errors too. The engine is then powered on and its state
//!   saved, which also proves the save path before the first guest command.
//! - Every command whose changes must survive a crash ([`Engine::take_dirty`]) is made durable
//!   before its response leaves: seal under a fresh key, write the slot that is not current,
//!   flush, SAVEHASHKEY. If any step fails, the engine is put back into its state from before
//!   the command and the answer is TPM_RC_NV_UNAVAILABLE (part 2 §6.6.3, 0x923): the client
//!   learns that nothing happened. Commands that change nothing durable keep working while the
//!   manager or the disk is away; later saves retry (the link may reconnect).
//! - A SAVEHASHKEY whose answer was lost may or may not have been recorded. Until that is
//!   settled (by LOADHASHKEY: which of the two digests does the manager hold?) no slot is
//!   overwritten, and if the manager did record it, the engine's current state is saved at
//!   once so that the record matches what the clients were told.
//!
//! Entropy for the sealing keys comes from the engine's [`Platform`] (the OS, or RDSEED in the
//! unikernel). The manager's pass-through GetRandom is not used: the platform's source is at
//! least as good and needs no round trip.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use block::BlockDevice;
use vtpmmgr_protocol::{Reply, ReplyError, Request, ReturnCode};
use zeroize::Zeroizing;

use crate::engine::{Engine, Platform, StateError};
use crate::image::{HashKey, Image, ImageError, Pending};
use crate::seal::{self, SealKey};

/// TPM_RC_NV_UNAVAILABLE (part 2 §6.6.3): the answer to a command whose changes could not be
/// made durable.
pub const TPM_RC_NV_UNAVAILABLE: u32 = 0x923;
/// TPM_RC_FAILURE: the engine could not be put back after a failed save (never expected).
const TPM_RC_FAILURE: u32 = 0x101;

/// Raw manager-protocol bytes to the manager and back: tpmfront on Xen, a Unix socket in hosted
/// mode, the manager itself in tests.
pub trait ManagerLink {
    /// Sends one request and returns the manager's whole answer.
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, LinkError>;
}

impl<L: ManagerLink + ?Sized> ManagerLink for &mut L {
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        (**self).call(request)
    }
}

impl<L: ManagerLink + ?Sized> ManagerLink for Box<L> {
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        (**self).call(request)
    }
}

/// What broke on the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// The request was not delivered (no connection to the manager): it had no effect.
    NotSent(String),
    /// The request may have been delivered, but no whole answer came back.
    NoAnswer(String),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSent(why) => write!(f, "cannot reach the manager: {why}"),
            Self::NoAnswer(why) => write!(f, "no answer from the manager: {why}"),
        }
    }
}

impl core::error::Error for LinkError {}

/// How the domain starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DomainOptions {
    /// If the manager's record does not open the image (replaced, corrupt or rolled back, or a
    /// record of another format), manufacture a new TPM and replace the record, instead of
    /// refusing to start. Everything the old TPM held is lost.
    pub reset_image: bool,
}

/// What start-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// The manager's entry had never been saved: a new TPM was manufactured.
    FirstBoot,
    /// The state was loaded from the image.
    Loaded {
        /// The slot it came from.
        slot: u8,
        /// Its generation.
        generation: u64,
    },
    /// The record did not open the image and [`DomainOptions::reset_image`] was given: a new
    /// TPM was manufactured; `cause` says what was wrong.
    Reset {
        /// Why the old state could not be loaded.
        cause: String,
    },
}

/// What [`Domain::start`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartReport {
    /// Load, first boot or reset.
    pub outcome: StartOutcome,
    /// The slot current after the start-up save.
    pub slot: u8,
    /// Its generation.
    pub generation: u64,
}

/// Why the domain could not start, or a save failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// The link to the manager failed.
    Link(LinkError),
    /// The manager does not know this vTPM's UUID (register it with VTPM_NEW).
    NotRegistered,
    /// The manager refused LOADHASHKEY or SAVEHASHKEY with `code`.
    Refused(ReturnCode),
    /// The manager's answer is malformed.
    Malformed(&'static str),
    /// The manager holds a record of another format (`len` bytes, not all zero, not 64 bytes:
    /// e.g. a Xen vtpm-stubdom's 52-byte SHA-1 key).
    ForeignRecord {
        /// The record's length.
        len: usize,
    },
    /// The image: damage found at start-up, or a device failure.
    Image(ImageError),
    /// The state in the current slot opened but this engine cannot restore it.
    State(StateError),
    /// The manager's record is neither the last one this domain saved nor the one whose
    /// answer was lost: someone else changed it.
    RecordChanged,
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Link(e) => write!(f, "{e}"),
            Self::NotRegistered => f.write_str(
                "the manager does not know this vTPM's UUID (BAD_PARAMETER): register it with \
                 `vtpmctl vtpm new GROUP UUID` first",
            ),
            Self::Refused(code) if *code == ReturnCode::DISABLED => write!(
                f,
                "the manager refused ({code}): this domain's kernel hash is not authorised for \
                 the vTPM's group, or the vTPM is open on another connection"
            ),
            Self::Refused(code) => write!(f, "the manager refused the request ({code})"),
            Self::Malformed(what) => write!(f, "malformed answer from the manager: {what}"),
            Self::ForeignRecord { len } => write!(
                f,
                "the manager's record for this vTPM is {len} bytes, not a key of this image \
                 format (64 bytes): it belongs to another kind of vTPM"
            ),
            Self::Image(e) => write!(f, "state image: {e}"),
            Self::State(e) => write!(f, "the state in the image does not restore: {e}"),
            Self::RecordChanged => f.write_str(
                "the manager's record changed behind this domain's back (neither its last \
                 save nor the one in doubt)",
            ),
        }
    }
}

impl core::error::Error for DomainError {}

impl From<LinkError> for DomainError {
    fn from(e: LinkError) -> Self {
        Self::Link(e)
    }
}

impl From<ImageError> for DomainError {
    fn from(e: ImageError) -> Self {
        Self::Image(e)
    }
}

/// What LOADHASHKEY answered.
enum Record {
    /// Never saved (all zero).
    Blank,
    /// A key of this format.
    Key(HashKey),
    /// Something else.
    Foreign(usize),
}

fn refusal(e: &ReplyError) -> DomainError {
    match *e {
        ReplyError::Refused(ReturnCode::BAD_PARAMETER) => DomainError::NotRegistered,
        ReplyError::Refused(code) => DomainError::Refused(code),
        ReplyError::Malformed(what) => DomainError::Malformed(what),
    }
}

fn load_record<L: ManagerLink>(link: &mut L) -> Result<Record, DomainError> {
    let request = Request::LoadHashKey;
    let raw = link.call(&request.encode())?;
    match Reply::parse(&request, &raw).map_err(|e| refusal(&e))? {
        Reply::HashKey(k) if k.iter().all(|&b| b == 0) => Ok(Record::Blank),
        Reply::HashKey(k) => {
            Ok(HashKey::from_bytes(&k).map_or(Record::Foreign(k.len()), Record::Key))
        }
        _ => Err(DomainError::Malformed(
            "LOADHASHKEY answered with another reply",
        )),
    }
}

fn save_record<L: ManagerLink>(link: &mut L, key: &HashKey) -> Result<(), DomainError> {
    let request = Request::SaveHashKey(key.to_bytes());
    let raw = link.call(&request.encode())?;
    match Reply::parse(&request, &raw).map_err(|e| refusal(&e))? {
        Reply::Empty => Ok(()),
        _ => Err(DomainError::Malformed("SAVEHASHKEY answered with a body")),
    }
}

/// A 10-byte TPM 2.0 response carrying `rc`.
fn rc_response(rc: u32) -> Vec<u8> {
    let mut r = Vec::with_capacity(10);
    r.extend_from_slice(&0x8001u16.to_be_bytes());
    r.extend_from_slice(&10u32.to_be_bytes());
    r.extend_from_slice(&rc.to_be_bytes());
    r
}

/// A vTPM: the engine, its image and its manager.
pub struct Domain<L: ManagerLink, B: BlockDevice> {
    link: L,
    image: Image<B>,
    engine: Engine,
    /// A save whose SAVEHASHKEY answer was lost: the manager may hold its record.
    in_doubt: Option<Pending>,
    /// The engine holds changes the manager's record does not (a power-on whose save failed,
    /// or a recorded save in doubt that was settled in favour of the rolled-back command).
    unsaved: bool,
    last_error: Option<DomainError>,
    saves: u64,
}

impl<L: ManagerLink, B: BlockDevice> fmt::Debug for Domain<L, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Domain")
            .field("image", &self.image)
            .field("in_doubt", &self.in_doubt.is_some())
            .field("unsaved", &self.unsaved)
            .field("saves", &self.saves)
            .finish_non_exhaustive()
    }
}

impl<L: ManagerLink, B: BlockDevice> Domain<L, B> {
    /// Starts the vTPM (module documentation): LOADHASHKEY, load the state from `dev` or
    /// manufacture a TPM, power it on (it then waits for TPM2_Startup), save.
    pub fn start(
        mut link: L,
        dev: B,
        platform: Box<dyn Platform>,
        opts: DomainOptions,
    ) -> Result<(Domain<L, B>, StartReport), DomainError> {
        let mut image = Image::open(dev)?;
        let (engine, outcome) = match load_record(&mut link)? {
            Record::Blank => (Engine::manufacture(platform), StartOutcome::FirstBoot),
            Record::Foreign(len) if opts.reset_image => (
                Engine::manufacture(platform),
                StartOutcome::Reset {
                    cause: alloc::format!("{}", DomainError::ForeignRecord { len }),
                },
            ),
            Record::Foreign(len) => return Err(DomainError::ForeignRecord { len }),
            Record::Key(key) => match image.load(&key) {
                Ok(loaded) => {
                    let mut engine =
                        Engine::restore(&loaded.state, platform).map_err(DomainError::State)?;
                    engine.power_on();
                    (
                        engine,
                        StartOutcome::Loaded {
                            slot: loaded.slot,
                            generation: loaded.generation,
                        },
                    )
                }
                // A device that cannot be read is not damage: a reset would not help.
                Err(e @ ImageError::Device { .. }) => return Err(e.into()),
                Err(e) if opts.reset_image => {
                    image.forget();
                    (
                        Engine::manufacture(platform),
                        StartOutcome::Reset {
                            cause: alloc::format!("{e}"),
                        },
                    )
                }
                Err(e) => return Err(e.into()),
            },
        };
        let mut domain = Domain {
            link,
            image,
            engine,
            in_doubt: None,
            unsaved: true,
            last_error: None,
            saves: 0,
        };
        domain.engine.take_dirty();
        domain.persist()?;
        let (slot, generation) = domain.image.current().unwrap_or((0, 0));
        Ok((
            domain,
            StartReport {
                outcome,
                slot,
                generation,
            },
        ))
    }

    /// Executes one command and returns its response, after making its changes durable
    /// (module documentation). A command whose changes could not be saved is undone and
    /// answered TPM_RC_NV_UNAVAILABLE; [`Domain::last_error`] says why.
    pub fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        if self.in_doubt.is_some() {
            self.settle_and_resave();
        }
        let before = self.engine.save_state();
        let rsp = self.engine.execute(locality, command);
        if !self.engine.take_dirty() {
            if self.unsaved {
                // Owed from earlier; this command's answer does not depend on it.
                if let Err(e) = self.persist() {
                    self.last_error = Some(e);
                }
            }
            return rsp;
        }
        match self.persist() {
            Ok(()) => rsp,
            Err(e) => {
                self.last_error = Some(e);
                match self.engine.rollback_to(&before) {
                    Ok(()) => rc_response(TPM_RC_NV_UNAVAILABLE),
                    Err(se) => {
                        // Cannot happen (the blob is the engine's own); stop serving changes.
                        self.last_error = Some(DomainError::State(se));
                        rc_response(TPM_RC_FAILURE)
                    }
                }
            }
        }
    }

    /// _TPM_Init (a power cycle from the front-end, e.g. swtpm's CMD_INIT): the TPM waits for
    /// TPM2_Startup again. The change is saved; if that fails it is saved with a later command.
    pub fn power_on(&mut self) -> Result<(), DomainError> {
        self.engine.power_on();
        self.engine.take_dirty();
        self.unsaved = true;
        self.persist()
    }

    /// Saves now if the engine holds anything the manager's record does not.
    pub fn flush(&mut self) -> Result<(), DomainError> {
        if self.in_doubt.is_some() {
            self.settle_and_resave();
        }
        if self.unsaved || self.in_doubt.is_some() {
            self.persist()?;
        }
        Ok(())
    }

    /// Stops the domain: a final save if one is owed; gives back the link and the device.
    pub fn shutdown(mut self) -> (L, B, Result<(), DomainError>) {
        let result = self.flush();
        (self.link, self.image.into_device(), result)
    }

    /// Why the last save failed (cleared by nothing: it stays until the next failure).
    pub fn last_error(&self) -> Option<&DomainError> {
        self.last_error.as_ref()
    }

    /// Whether the engine holds changes the manager has not recorded (or may not have).
    pub fn save_owed(&self) -> bool {
        self.unsaved || self.in_doubt.is_some()
    }

    /// The current slot and generation.
    pub fn current(&self) -> Option<(u8, u64)> {
        self.image.current()
    }

    /// Successful saves since start (the start-up save included).
    pub fn saves(&self) -> u64 {
        self.saves
    }

    /// The engine (read-only: commands go through [`Domain::execute`]).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The link (a front-end may reconnect it; tests break it).
    pub fn link_mut(&mut self) -> &mut L {
        &mut self.link
    }

    /// The image.
    pub fn image(&self) -> &Image<B> {
        &self.image
    }

    /// The image, writable (tests tamper with its device).
    pub fn image_mut(&mut self) -> &mut Image<B> {
        &mut self.image
    }

    /// Seals the engine's state under a fresh key into the slot that is not current, then has
    /// the manager record it.
    fn persist(&mut self) -> Result<(), DomainError> {
        if self.in_doubt.is_some() {
            self.settle()?;
        }
        let state = self.engine.save_state();
        let mut key = Zeroizing::new([0u8; seal::KEY_SIZE]);
        let mut nonce = [0u8; seal::NONCE_SIZE];
        self.engine.platform.fill_entropy(&mut key[..]);
        self.engine.platform.fill_entropy(&mut nonce);
        let pending = self.image.write_next(&state, SealKey::new(*key), &nonce)?;
        match save_record(&mut self.link, &pending.hash_key) {
            Ok(()) => {
                self.image.commit(&pending);
                self.unsaved = false;
                self.saves += 1;
                Ok(())
            }
            Err(e) => {
                if !matches!(e, DomainError::Link(LinkError::NotSent(_))) {
                    self.in_doubt = Some(pending);
                }
                Err(e)
            }
        }
    }

    /// Finds out whether the manager recorded the save in doubt. Returns true if it did (the
    /// engine, rolled back since, then differs from the record).
    fn settle(&mut self) -> Result<bool, DomainError> {
        let Some(pending) = self.in_doubt.take() else {
            return Ok(false);
        };
        let record = match load_record(&mut self.link) {
            Ok(r) => r,
            Err(e) => {
                self.in_doubt = Some(pending);
                return Err(e);
            }
        };
        match record {
            Record::Key(k) if k.digest() == pending.hash_key.digest() => {
                self.image.commit(&pending);
                Ok(true)
            }
            Record::Key(k) if Some(k.digest()) == self.image.current_digest() => Ok(false),
            _ => {
                self.in_doubt = Some(pending);
                Err(DomainError::RecordChanged)
            }
        }
    }

    fn settle_and_resave(&mut self) {
        match self.settle() {
            Ok(true) => {
                self.unsaved = true;
                if let Err(e) = self.persist() {
                    self.last_error = Some(e);
                }
            }
            Ok(false) => {}
            Err(e) => self.last_error = Some(e),
        }
    }
}

#[cfg(test)]
#[path = "domain_tests.rs"]
mod tests;

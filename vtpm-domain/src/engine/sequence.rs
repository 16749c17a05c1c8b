//! Hash, HMAC and event sequence objects (TCG TPM 2.0 Library part 1 §32 "Hash, HMAC and Event
//! Sequences", part 3 §17) and when they may produce a hash-check ticket (part 2 §10.7.6
//! TPMT_TK_HASHCHECK; the ticket itself is computed by `commands::keys::hashcheck_ticket`).
//!
//! A sequence object lives among the loaded transient objects (it takes one of the
//! MAX_LOADED_OBJECTS slots) with a stand-in public area: type keyed-hash, nameAlg TPM_ALG_NULL
//! (so its Name is the Empty Buffer), objectAttributes `noDA` only (sequence objects are exempt
//! from dictionary-attack protection), in the NULL hierarchy (it cannot be made persistent).
//! Its authValue is the `auth` of TPM2_HashSequenceStart / TPM2_HMAC_Start. The running state
//! ([`Sequence`]) is serialisable ([`crate::engine::crypto_state`]), so a sequence survives a
//! save/restore of the engine between updates.
//!
//! Ticket rules (libtpms, part 3 §15.4 and §17.5): a hash sequence may produce a ticket only if
//! its first block of data (the first TPM2_SequenceUpdate buffer, or the TPM2_SequenceComplete
//! buffer if there was no update) is at least four bytes long and does not start with
//! TPM_GENERATED_VALUE; otherwise, and whenever the hierarchy is TPM_RH_NULL, the NULL ticket
//! is returned. HMAC sequences never produce a ticket.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    PublicDetail, Tpm2bDigest, TpmaObject, TpmsKeyedhashParms, TpmtKeyedhashScheme, TpmtPublic,
};
use zeroize::Zeroizing;

use super::Engine;
use super::codec::{Loader, Persist, Writer};
use super::crypto::hash::HashAlg;
use super::crypto_state::{HashState, HmacState};
use super::object::{Object, Sensitive, alloc_transient_handle};
use super::state::StateError;

/// TPM_GENERATED_VALUE as it appears at the start of data the TPM itself produced.
const TPM_GENERATED: [u8; 4] = 0xff54_4347u32.to_be_bytes();

/// The running state of a sequence object.
#[derive(Clone)]
pub(crate) enum Sequence {
    /// A hash sequence (TPM2_HashSequenceStart with a hash).
    Hash {
        /// The running hash.
        state: HashState,
        /// The first block of data has been seen.
        first_block: bool,
        /// The first block allows a ticket (see the module documentation).
        ticket_safe: bool,
    },
    /// An HMAC sequence (TPM2_HMAC_Start).
    Hmac(HmacState),
    /// An event sequence (TPM2_HashSequenceStart with TPM_ALG_NULL): one hash per implemented
    /// algorithm, in [`HashAlg::ALL`] order.
    Event(Vec<HashState>),
}

/// Whether `data` may be covered by a hash-check ticket: it is at least four bytes long and
/// does not start with TPM_GENERATED_VALUE (libtpms `TicketIsSafe`).
pub(crate) fn ticket_safe(data: &[u8]) -> bool {
    data.len() >= TPM_GENERATED.len() && data[..TPM_GENERATED.len()] != TPM_GENERATED
}

impl Sequence {
    /// A new hash sequence.
    pub(crate) fn hash(alg: HashAlg) -> Self {
        Self::Hash {
            state: HashState::new(alg),
            first_block: false,
            ticket_safe: false,
        }
    }

    /// A new HMAC sequence keyed with `key`.
    pub(crate) fn hmac(alg: HashAlg, key: &[u8]) -> Self {
        Self::Hmac(HmacState::new(alg, key))
    }

    /// A new event sequence.
    pub(crate) fn event() -> Self {
        Self::Event(HashAlg::ALL.iter().map(|a| HashState::new(*a)).collect())
    }

    /// TPM2_SequenceUpdate's action.
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Hash {
                state,
                first_block,
                ticket_safe: safe,
            } => {
                if !*first_block {
                    *first_block = true;
                    *safe = ticket_safe(data);
                }
                state.update(data);
            }
            Self::Hmac(m) => m.update(data),
            Self::Event(states) => states.iter_mut().for_each(|s| s.update(data)),
        }
    }
}

impl Persist for Sequence {
    fn save(&self, w: &mut Writer) {
        match self {
            Self::Hash {
                state,
                first_block,
                ticket_safe,
            } => {
                w.u8(0);
                state.save(w);
                w.bool(*first_block);
                w.bool(*ticket_safe);
            }
            Self::Hmac(m) => {
                w.u8(1);
                m.save(w);
            }
            Self::Event(states) => {
                w.u8(2);
                w.u32(u32::try_from(states.len()).unwrap_or(u32::MAX));
                for s in states {
                    s.save(w);
                }
            }
        }
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        match r.u8("sequence kind")? {
            0 => Ok(Self::Hash {
                state: HashState::load(r)?,
                first_block: r.bool("sequence first block")?,
                ticket_safe: r.bool("sequence ticket safety")?,
            }),
            1 => Ok(Self::Hmac(HmacState::load(r)?)),
            2 => {
                if usize::try_from(r.u32("event sequence hashes")?).ok() != Some(HashAlg::ALL.len())
                {
                    return Err(StateError::BadValue("event sequence hashes"));
                }
                let mut states = Vec::with_capacity(HashAlg::ALL.len());
                for alg in HashAlg::ALL {
                    let s = HashState::load(r)?;
                    if s.alg() != alg {
                        return Err(StateError::BadValue("event sequence hashes"));
                    }
                    states.push(s);
                }
                Ok(Self::Event(states))
            }
            _ => Err(StateError::BadValue("sequence kind")),
        }
    }
}

/// The stand-in public area of a sequence object (see the module documentation).
fn sequence_public() -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::NULL,
        object_attributes: TpmaObject(TpmaObject::NO_DA),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms {
                scheme: TpmtKeyedhashScheme::Null,
            },
            unique: Tpm2bDigest::empty(),
        },
    }
}

/// Loads a new sequence object with authValue `auth` (trailing zeros removed, as for every
/// authValue) in the lowest free transient slot (TPM_RC_OBJECT_MEMORY when none is free).
pub(crate) fn start(e: &mut Engine, sequence: Sequence, auth: &[u8]) -> Result<TpmHandle, TpmRc> {
    let handle = alloc_transient_handle(e)?;
    let end = auth.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let sensitive = Sensitive {
        auth: Zeroizing::new(auth[..end].to_vec()),
        ..Sensitive::default()
    };
    let mut obj = Object::new(sequence_public(), &[], TpmHandle::NULL, sensitive);
    obj.name = Vec::new();
    obj.qualified_name = Vec::new();
    obj.sequence = Some(sequence);
    e.state.vol.objects.insert(handle.0, obj);
    Ok(handle)
}

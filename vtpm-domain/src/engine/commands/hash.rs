//! Hashing and HMAC (TCG TPM 2.0 Library part 3 §15.4 TPM2_Hash, §15.5 TPM2_HMAC) and the
//! hash/HMAC/event sequences of part 3 §17: TPM2_HMAC_Start (§17.2), TPM2_HashSequenceStart
//! (§17.3), TPM2_SequenceUpdate (§17.4), TPM2_SequenceComplete (§17.5) and
//! TPM2_EventSequenceComplete (§17.6). Sequence objects and tickets are in
//! [`crate::engine::sequence`].
//!
//! Response codes follow libtpms (swtpm), which the integration tests compare against. One of
//! them departs from the numbering part 3 suggests: TPM2_SequenceUpdate on an object that is
//! not a sequence answers TPM_RC_MODE with *parameter* 1 (`TPM_RC_MODE + TPM_RC_P +
//! TPM_RC_1`), not handle 1, because that is the code libtpms returns.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    PublicDetail, Tpm2bAuth, Tpm2bDigest, Tpm2bMaxBuffer, TpmaObject, TpmtKeyedhashScheme,
    TpmtTkHashcheck,
};
use tpm2::{Reader, Unmarshal};

use super::pcr::{event_digests, extend_target};
use crate::engine::Engine;
use crate::engine::crypto::hash::{HashAlg, digest, hmac};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::HandleKind;
use crate::engine::object::Object;
use crate::engine::pcr::read_hash_alg;
use crate::engine::sequence::{self, Sequence, hashcheck_ticket, ticket_safe};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::HASH,
        handles: &[],
        roles: &[],
        nv: false,
        handler: hash,
    },
    Entry {
        cc: TpmCc::HMAC,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: hmac_command,
    },
    Entry {
        cc: TpmCc::HMAC_START,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: hmac_start,
    },
    Entry {
        cc: TpmCc::HASH_SEQUENCE_START,
        handles: &[],
        roles: &[],
        nv: false,
        handler: hash_sequence_start,
    },
    Entry {
        cc: TpmCc::SEQUENCE_UPDATE,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: sequence_update,
    },
    Entry {
        cc: TpmCc::SEQUENCE_COMPLETE,
        handles: &[HandleKind::Object],
        roles: &[AuthRole::User],
        nv: false,
        handler: sequence_complete,
    },
    Entry {
        cc: TpmCc::EVENT_SEQUENCE_COMPLETE,
        handles: &[HandleKind::PcrOrNull, HandleKind::Object],
        roles: &[AuthRole::User, AuthRole::User],
        nv: false,
        handler: event_sequence_complete,
    },
];

/// Reads a TPMI_RH_HIERARCHY+ parameter (owner, endorsement, platform or TPM_RH_NULL;
/// TPM_RC_VALUE otherwise).
fn read_hierarchy(r: &mut Reader<'_>) -> Result<TpmHandle, tpm2::Error> {
    let h = TpmHandle::unmarshal(r)?;
    match h {
        TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM | TpmHandle::NULL => Ok(h),
        _ => Err(tpm2::Error::BadValue {
            what: "TPMI_RH_HIERARCHY",
            value: h.0,
        }),
    }
}

fn read_hash(r: &mut Reader<'_>) -> Result<HashAlg, tpm2::Error> {
    read_hash_alg(r, false)?.ok_or(tpm2::Error::BadValue {
        what: "TPMI_ALG_HASH",
        value: u32::from(TpmAlgId::NULL.0),
    })
}

fn read_hash_or_null(r: &mut Reader<'_>) -> Result<Option<HashAlg>, tpm2::Error> {
    read_hash_alg(r, true)
}

/// TPM2_Hash (§15.4).
fn hash(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bMaxBuffer = ctx.param()?;
    let alg = ctx.param_with(read_hash)?;
    let hierarchy = ctx.param_with(read_hierarchy)?;
    ctx.finish()?;
    let out = digest(alg, &[data.as_bytes()]);
    // Data shorter than TPM_GENERATED_VALUE cannot start with it, so it gets a ticket here
    // (unlike a sequence whose first block is short).
    let safe = data.len() < 4 || ticket_safe(data.as_bytes());
    let ticket = if safe {
        hashcheck_ticket(e, hierarchy, alg, &out)
    } else {
        TpmtTkHashcheck::null()
    };
    ctx.put(&Tpm2bDigest::new(&out).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&ticket);
    Ok(())
}

/// The HMAC key of `obj` and the hash to use (part 3 §15.5 / §17.2 checks): a keyed-hash
/// object (TPM_RC_TYPE), not restricted (TPM_RC_ATTRIBUTES), with `sign` (TPM_RC_KEY); the
/// hash is the key's scheme hash, or `requested` when the scheme is TPM_ALG_NULL; a requested
/// hash other than the key's gives TPM_RC_VALUE on parameter `alg_param`.
fn hmac_key(
    obj: &Object,
    requested: Option<HashAlg>,
    alg_param: u8,
) -> Result<(HashAlg, &[u8]), TpmRc> {
    let PublicDetail::KeyedHash { parameters, .. } = &obj.public.detail else {
        return Err(TpmRc::TYPE.with_handle(1));
    };
    if obj.sequence.is_some() {
        return Err(TpmRc::TYPE.with_handle(1));
    }
    if obj.public.object_attributes.0 & TpmaObject::RESTRICTED != 0 {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    if obj.public.object_attributes.0 & TpmaObject::SIGN == 0 {
        return Err(TpmRc::KEY.with_handle(1));
    }
    let alg = match &parameters.scheme {
        TpmtKeyedhashScheme::Hmac(s) => {
            let default = HashAlg::from_alg(s.hash_alg);
            match requested {
                None => default,
                Some(r) if Some(r) == default => default,
                Some(_) => None,
            }
        }
        _ => requested,
    };
    let alg = alg.ok_or(TpmRc::VALUE.with_parameter(alg_param))?;
    Ok((alg, &obj.sensitive.private))
}

fn loaded(e: &Engine, h: TpmHandle) -> Result<&Object, TpmRc> {
    e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))
}

/// TPM2_HMAC (§15.5).
fn hmac_command(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bMaxBuffer = ctx.param()?;
    let requested = ctx.param_with(read_hash_or_null)?;
    ctx.finish()?;
    let obj = loaded(e, ctx.handles[0])?;
    let (alg, key) = hmac_key(obj, requested, 2)?;
    let out = hmac(alg, key, &[data.as_bytes()]);
    ctx.put(&Tpm2bDigest::new(&out).map_err(|_| TpmRc::SIZE)?);
    Ok(())
}

/// TPM2_HMAC_Start (§17.2).
fn hmac_start(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let auth: Tpm2bAuth = ctx.param()?;
    let requested = ctx.param_with(read_hash_or_null)?;
    ctx.finish()?;
    let obj = loaded(e, ctx.handles[0])?;
    let (alg, key) = hmac_key(obj, requested, 2)?;
    let seq = Sequence::hmac(alg, key);
    let handle = sequence::start(e, seq, auth.as_bytes())?;
    ctx.out_handle = Some(handle);
    Ok(())
}

/// TPM2_HashSequenceStart (§17.3): TPM_ALG_NULL starts an event sequence.
fn hash_sequence_start(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let auth: Tpm2bAuth = ctx.param()?;
    let alg = ctx.param_with(read_hash_or_null)?;
    ctx.finish()?;
    let seq = alg.map_or_else(Sequence::event, Sequence::hash);
    let handle = sequence::start(e, seq, auth.as_bytes())?;
    ctx.out_handle = Some(handle);
    Ok(())
}

/// TPM2_SequenceUpdate (§17.4).
fn sequence_update(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bMaxBuffer = ctx.param()?;
    ctx.finish()?;
    let obj = e
        .state
        .object_mut(ctx.handles[0])
        .ok_or(TpmRc::HANDLE.with_handle(1))?;
    // libtpms numbers this TPM_RC_MODE as parameter 1 (see the module documentation).
    let seq = obj.sequence.as_mut().ok_or(TpmRc::MODE.with_parameter(1))?;
    seq.update(data.as_bytes());
    Ok(())
}

/// Removes a completed sequence object (part 3 §17.5, §17.6: it is flushed on success).
fn flush(e: &mut Engine, h: TpmHandle) {
    e.state.vol.objects.remove(&h.0);
}

/// TPM2_SequenceComplete (§17.5).
fn sequence_complete(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bMaxBuffer = ctx.param()?;
    let hierarchy = ctx.param_with(read_hierarchy)?;
    ctx.finish()?;
    let h = ctx.handles[0];
    let seq = loaded(e, h)?
        .sequence
        .clone()
        .ok_or(TpmRc::MODE.with_handle(1))?;
    let (result, ticket) = match seq {
        Sequence::Hash {
            mut state,
            first_block,
            ticket_safe: safe,
        } => {
            let alg = state.alg();
            state.update(data.as_bytes());
            let safe = if first_block {
                safe
            } else {
                ticket_safe(data.as_bytes())
            };
            let result = state.finish();
            let ticket = if safe {
                hashcheck_ticket(e, hierarchy, alg, &result)
            } else {
                TpmtTkHashcheck::null()
            };
            (result, ticket)
        }
        Sequence::Hmac(mut m) => {
            m.update(data.as_bytes());
            (m.finish(), TpmtTkHashcheck::null())
        }
        Sequence::Event(_) => return Err(TpmRc::MODE.with_handle(1)),
    };
    flush(e, h);
    ctx.put(&Tpm2bDigest::new(&result).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&ticket);
    Ok(())
}

/// TPM2_EventSequenceComplete (§17.6).
fn event_sequence_complete(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bMaxBuffer = ctx.param()?;
    ctx.finish()?;
    let (pcr_handle, h) = (ctx.handles[0], ctx.handles[1]);
    let Some(Sequence::Event(states)) = e.state.object(h).and_then(|o| o.sequence.clone()) else {
        return Err(TpmRc::MODE.with_handle(2));
    };
    let pcr = extend_target(e, pcr_handle)?;
    let digests: Vec<(HashAlg, Vec<u8>)> = states
        .into_iter()
        .map(|mut s| {
            s.update(data.as_bytes());
            (s.alg(), s.finish())
        })
        .collect();
    let out = event_digests(e, pcr, digests)?;
    flush(e, h);
    ctx.put(&out);
    Ok(())
}

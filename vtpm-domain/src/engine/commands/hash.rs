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
//!
//! The `hashAlg` of TPM2_HMAC and TPM2_HMAC_Start is a TPMI_ALG_MAC_SCHEME+ (part 2 §11.1.20,
//! since revision 1.59): an algorithm that is not a MAC scheme is TPM_RC_SYMMETRIC, and the key
//! checks run in the order of the reference `CryptSelectMac`: the key type (TPM_RC_TYPE), the
//! hash (TPM_RC_VALUE), then `restricted` (TPM_RC_ATTRIBUTES) and `sign` (TPM_RC_KEY). This
//! TPM implements no block-cipher MAC (TPM_ALG_CMAC), so the MAC schemes are the implemented
//! hashes and only keyed-hash keys can MAC; libtpms 0.9 also computes AES-CMAC with a
//! symmetric key, which answers TPM_RC_TYPE here.

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

use super::keys;
use super::pcr::{event_digests, extend_target};
use crate::engine::Engine;
use crate::engine::crypto::hash::{HashAlg, digest, hmac};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::HandleKind;
use crate::engine::object::Object;
use crate::engine::pcr::read_hash_alg;
use crate::engine::sequence::{self, Sequence, ticket_safe};

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

/// The hash-check ticket over `digest` for `hierarchy`: the NULL ticket for TPM_RH_NULL or
/// when the data is not safe to vouch for (see [`ticket_safe`]).
fn ticket(
    e: &Engine,
    safe: bool,
    hierarchy: TpmHandle,
    alg: HashAlg,
    digest: &[u8],
) -> TpmtTkHashcheck {
    if safe && hierarchy != TpmHandle::NULL {
        keys::hashcheck_ticket(e, hierarchy, alg.alg(), digest)
    } else {
        TpmtTkHashcheck::null()
    }
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
    let safe = data.as_bytes().len() < 4 || ticket_safe(data.as_bytes());
    let validation = ticket(e, safe, hierarchy, alg, &out);
    ctx.put(&Tpm2bDigest::new(&out).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&validation);
    Ok(())
}

/// Reads the TPMI_ALG_MAC_SCHEME+ `hashAlg` of TPM2_HMAC / TPM2_HMAC_Start: an implemented
/// hash or TPM_ALG_NULL (`None`); anything else is TPM_RC_SYMMETRIC on that parameter.
fn mac_scheme_param(ctx: &mut Ctx) -> Result<Option<HashAlg>, TpmRc> {
    let alg: TpmAlgId = ctx.param()?;
    if alg == TpmAlgId::NULL {
        return Ok(None);
    }
    HashAlg::from_alg(alg)
        .map(Some)
        .ok_or(TpmRc::SYMMETRIC.with_parameter(ctx.index()))
}

/// The HMAC key of `obj` and the hash to use (part 3 §15.5 / §17.2, in the order of the
/// reference `CryptSelectMac`): a keyed-hash object (TPM_RC_TYPE); the key's scheme hash, or
/// `requested` when the scheme is TPM_ALG_NULL (a requested hash other than the key's, or no
/// hash at all, is TPM_RC_VALUE on parameter `alg_param`); not restricted (TPM_RC_ATTRIBUTES);
/// with `sign` (TPM_RC_KEY).
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
    if obj.public.object_attributes.0 & TpmaObject::RESTRICTED != 0 {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    if obj.public.object_attributes.0 & TpmaObject::SIGN == 0 {
        return Err(TpmRc::KEY.with_handle(1));
    }
    Ok((alg, &obj.sensitive.private))
}

fn loaded(e: &Engine, h: TpmHandle) -> Result<&Object, TpmRc> {
    e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))
}

/// TPM2_HMAC (§15.5).
fn hmac_command(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bMaxBuffer = ctx.param()?;
    let requested = mac_scheme_param(ctx)?;
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
    let requested = mac_scheme_param(ctx)?;
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
            let validation = ticket(e, safe, hierarchy, alg, &result);
            (result, validation)
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

#[cfg(test)]
#[allow(clippy::many_single_char_names)]
mod tests {
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    use hmac::Mac;
    use sha2::Digest;
    use tpm2::alg::TpmAlgId;
    use tpm2::cc::TpmCc;
    use tpm2::handle::TpmHandle;
    use tpm2::rc::TpmRc;
    use tpm2::response::Response;
    use tpm2::structures::{
        PublicDetail, Tpm2bDigest, TpmaObject, TpmsKeyedhashParms, TpmsSchemeHash,
        TpmtKeyedhashScheme, TpmtPublic, TpmtTkHashcheck,
    };
    use tpm2::{Reader, Unmarshal};
    use zeroize::Zeroizing;

    use crate::engine::Engine;
    use crate::engine::commands::keys::verify_hashcheck_ticket;
    use crate::engine::object::{Object, Sensitive};
    use crate::engine::testutil::{self, TestPlatform, pw, pw_with, run};

    fn b2(data: &[u8]) -> Vec<u8> {
        let mut v = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        v.extend_from_slice(data);
        v
    }

    fn sha256(data: &[u8]) -> Vec<u8> {
        sha2::Sha256::digest(data).to_vec()
    }

    /// Parses digest || ticket.
    fn digest_and_ticket(p: &[u8]) -> (Vec<u8>, TpmtTkHashcheck) {
        let mut r = Reader::new(p);
        let d = Tpm2bDigest::unmarshal(&mut r).unwrap();
        let t = TpmtTkHashcheck::unmarshal(&mut r).unwrap();
        r.finish("test").unwrap();
        (d.as_bytes().to_vec(), t)
    }

    fn hash(e: &mut Engine, data: &[u8], alg: TpmAlgId, hierarchy: TpmHandle) -> (TpmRc, Vec<u8>) {
        let params = [
            b2(data),
            alg.0.to_be_bytes().to_vec(),
            hierarchy.0.to_be_bytes().to_vec(),
        ]
        .concat();
        let (rc, rsp) = run(e, TpmCc::HASH, &[], &[], &params);
        let p = if rc == TpmRc::SUCCESS {
            Response::parse(&rsp, TpmCc::HASH)
                .unwrap()
                .parameters
                .to_vec()
        } else {
            vec![]
        };
        (rc, p)
    }

    fn start(e: &mut Engine, auth: &[u8], alg: TpmAlgId) -> TpmHandle {
        let params = [b2(auth), alg.0.to_be_bytes().to_vec()].concat();
        let (rc, rsp) = run(e, TpmCc::HASH_SEQUENCE_START, &[], &[], &params);
        assert_eq!(rc, TpmRc::SUCCESS);
        Response::parse(&rsp, TpmCc::HASH_SEQUENCE_START)
            .unwrap()
            .handle
            .unwrap()
    }

    fn update(e: &mut Engine, h: TpmHandle, auth: &[u8], data: &[u8]) -> TpmRc {
        run(e, TpmCc::SEQUENCE_UPDATE, &[h], &[pw_with(auth)], &b2(data)).0
    }

    fn complete(
        e: &mut Engine,
        h: TpmHandle,
        auth: &[u8],
        data: &[u8],
        hierarchy: TpmHandle,
    ) -> (TpmRc, Vec<u8>) {
        let params = [b2(data), hierarchy.0.to_be_bytes().to_vec()].concat();
        let (rc, rsp) = run(e, TpmCc::SEQUENCE_COMPLETE, &[h], &[pw_with(auth)], &params);
        let p = if rc == TpmRc::SUCCESS {
            Response::parse(&rsp, TpmCc::SEQUENCE_COMPLETE)
                .unwrap()
                .parameters
                .to_vec()
        } else {
            vec![]
        };
        (rc, p)
    }

    #[test]
    fn hash_and_its_ticket() {
        let mut e = testutil::engine();
        let (rc, p) = hash(&mut e, b"abc", TpmAlgId::SHA256, TpmHandle::OWNER);
        assert_eq!(rc, TpmRc::SUCCESS);
        let (d, t) = digest_and_ticket(&p);
        assert_eq!(d, sha256(b"abc"));
        assert_eq!(t.hierarchy, TpmHandle::OWNER);
        assert_eq!(t.digest.len(), 64);
        assert!(verify_hashcheck_ticket(&e, &t, TpmAlgId::SHA256, &d));
        assert!(!verify_hashcheck_ticket(&e, &t, TpmAlgId::SHA1, &d));
        // Short data still gets a ticket; data starting with TPM_GENERATED_VALUE does not.
        let (_, p) = hash(
            &mut e,
            &[0xff, 0x54],
            TpmAlgId::SHA1,
            TpmHandle::ENDORSEMENT,
        );
        assert_eq!(digest_and_ticket(&p).1.hierarchy, TpmHandle::ENDORSEMENT);
        let (_, p) = hash(
            &mut e,
            &[0xff, 0x54, 0x43, 0x47, 1],
            TpmAlgId::SHA1,
            TpmHandle::OWNER,
        );
        assert!(digest_and_ticket(&p).1.is_null());
        let (_, p) = hash(&mut e, b"abc", TpmAlgId::SHA384, TpmHandle::NULL);
        assert!(digest_and_ticket(&p).1.is_null());
        // Errors.
        assert_eq!(
            hash(&mut e, &[0; 1025], TpmAlgId::SHA1, TpmHandle::OWNER).0,
            TpmRc::SIZE.with_parameter(1)
        );
        assert_eq!(
            hash(&mut e, b"", TpmAlgId::NULL, TpmHandle::OWNER).0,
            TpmRc::HASH.with_parameter(2)
        );
        assert_eq!(
            hash(&mut e, b"", TpmAlgId::SM3_256, TpmHandle::OWNER).0,
            TpmRc::HASH.with_parameter(2)
        );
        assert_eq!(
            hash(&mut e, b"", TpmAlgId::SHA1, TpmHandle::LOCKOUT).0,
            TpmRc::VALUE.with_parameter(3)
        );
    }

    #[test]
    fn a_sequence_in_three_chunks_equals_one_hash() {
        let mut e = testutil::engine();
        let data: Vec<u8> = (0..2500u32)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        for alg in [
            TpmAlgId::SHA1,
            TpmAlgId::SHA256,
            TpmAlgId::SHA384,
            TpmAlgId::SHA512,
        ] {
            let h = start(&mut e, b"seq", alg);
            assert_eq!(update(&mut e, h, b"seq", &data[..1000]), TpmRc::SUCCESS);
            assert_eq!(update(&mut e, h, b"seq", &data[1000..1024]), TpmRc::SUCCESS);
            assert_eq!(update(&mut e, h, b"seq", &data[1024..2000]), TpmRc::SUCCESS);
            let (rc, p) = complete(&mut e, h, b"seq", &data[2000..], TpmHandle::OWNER);
            assert_eq!(rc, TpmRc::SUCCESS);
            let (d, t) = digest_and_ticket(&p);
            let (_, one) = hash(&mut e, &data[..1000], alg, TpmHandle::OWNER);
            assert_eq!(d, {
                let hash_alg = crate::engine::crypto::hash::HashAlg::from_alg(alg).unwrap();
                crate::engine::crypto::hash::digest(hash_alg, &[&data])
            });
            assert_ne!(digest_and_ticket(&one).0, d);
            assert!(verify_hashcheck_ticket(&e, &t, alg, &d));
            // The sequence object is gone.
            assert!(e.state.object(h).is_none());
        }
        // Data of 1024 bytes or less through a sequence gives exactly TPM2_Hash's digest.
        let h = start(&mut e, b"", TpmAlgId::SHA256);
        for chunk in data[..900].chunks(300) {
            assert_eq!(update(&mut e, h, b"", chunk), TpmRc::SUCCESS);
        }
        let (_, p) = complete(&mut e, h, b"", &[], TpmHandle::OWNER);
        let (_, q) = hash(&mut e, &data[..900], TpmAlgId::SHA256, TpmHandle::OWNER);
        assert_eq!(p, q, "same digest and same ticket");
    }

    #[test]
    fn sequence_ticket_rules() {
        let mut e = testutil::engine();
        let null_ticket = |p: &[u8]| digest_and_ticket(p).1.is_null();
        // No update, short final block: no ticket.
        let h = start(&mut e, b"", TpmAlgId::SHA256);
        assert!(null_ticket(
            &complete(&mut e, h, b"", b"abc", TpmHandle::OWNER).1
        ));
        // First update of TPM_GENERATED_VALUE or shorter than four bytes: no ticket.
        for first in [&[0xff, 0x54, 0x43, 0x47][..], b"", b"ab"] {
            let h = start(&mut e, b"", TpmAlgId::SHA256);
            assert_eq!(update(&mut e, h, b"", first), TpmRc::SUCCESS);
            assert_eq!(update(&mut e, h, b"", b"more data"), TpmRc::SUCCESS);
            assert!(null_ticket(
                &complete(&mut e, h, b"", b"", TpmHandle::OWNER).1
            ));
        }
        // Hierarchy NULL: the NULL ticket; a bad hierarchy is parameter 2.
        let h = start(&mut e, b"", TpmAlgId::SHA256);
        assert!(null_ticket(
            &complete(&mut e, h, b"", b"abcd", TpmHandle::NULL).1
        ));
        let h = start(&mut e, b"", TpmAlgId::SHA256);
        assert_eq!(
            complete(&mut e, h, b"", b"abcd", TpmHandle(0x4000_000A)).0,
            TpmRc::VALUE.with_parameter(2)
        );
        let (rc, p) = complete(&mut e, h, b"", b"abcd", TpmHandle::PLATFORM);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert_eq!(digest_and_ticket(&p).1.hierarchy, TpmHandle::PLATFORM);
    }

    #[test]
    fn sequence_limits_auth_and_modes() {
        let mut e = testutil::engine();
        let handles: Vec<TpmHandle> = (0..3)
            .map(|_| start(&mut e, b"pw\0\0", TpmAlgId::SHA1))
            .collect();
        assert_eq!(
            handles,
            [
                TpmHandle(0x8000_0000),
                TpmHandle(0x8000_0001),
                TpmHandle(0x8000_0002)
            ]
        );
        let params = [b2(b""), TpmAlgId::SHA1.0.to_be_bytes().to_vec()].concat();
        assert_eq!(
            run(&mut e, TpmCc::HASH_SEQUENCE_START, &[], &[], &params).0,
            TpmRc::OBJECT_MEMORY
        );
        // The authValue (trailing zeros dropped) protects the sequence.
        assert_eq!(update(&mut e, handles[0], b"pw", b"x"), TpmRc::SUCCESS);
        assert_ne!(update(&mut e, handles[0], b"px", b"x"), TpmRc::SUCCESS);
        // A sequence object has an empty Name and is exempt from DA.
        let obj = e.state.object(handles[0]).unwrap();
        assert!(obj.name.is_empty());
        assert!(obj.public.object_attributes.0 & TpmaObject::NO_DA != 0);
        assert_eq!(obj.hierarchy, TpmHandle::NULL);
        // Event sequences cannot be completed as hash sequences and vice versa.
        for h in &handles {
            e.state.vol.objects.remove(&h.0);
        }
        let ev = start(&mut e, b"", TpmAlgId::NULL);
        assert_eq!(
            complete(&mut e, ev, b"", b"", TpmHandle::OWNER).0,
            TpmRc::MODE.with_handle(1)
        );
        let hs = start(&mut e, b"", TpmAlgId::SHA1);
        let (rc, _) = run(
            &mut e,
            TpmCc::EVENT_SEQUENCE_COMPLETE,
            &[TpmHandle::NULL, hs],
            &[pw(), pw()],
            &b2(b""),
        );
        assert_eq!(rc, TpmRc::MODE.with_handle(2));
        // Auth too long, unknown hash.
        let params = [b2(&[1; 65]), TpmAlgId::SHA1.0.to_be_bytes().to_vec()].concat();
        assert_eq!(
            run(&mut e, TpmCc::HASH_SEQUENCE_START, &[], &[], &params).0,
            TpmRc::SIZE.with_parameter(1)
        );
        let params = [b2(b""), TpmAlgId::RSA.0.to_be_bytes().to_vec()].concat();
        assert_eq!(
            run(&mut e, TpmCc::HASH_SEQUENCE_START, &[], &[], &params).0,
            TpmRc::HASH.with_parameter(2)
        );
        assert_eq!(
            update(&mut e, hs, b"", &[0; 1025]),
            TpmRc::SIZE.with_parameter(1)
        );
    }

    #[test]
    fn event_sequence_extends_and_returns_every_hash() {
        let mut e = testutil::engine();
        let ev = start(&mut e, b"", TpmAlgId::NULL);
        assert_eq!(update(&mut e, ev, b"", b"hel"), TpmRc::SUCCESS);
        let (rc, rsp) = run(
            &mut e,
            TpmCc::EVENT_SEQUENCE_COMPLETE,
            &[TpmHandle(9), ev],
            &[pw(), pw()],
            &b2(b"lo"),
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let p = Response::parse(&rsp, TpmCc::EVENT_SEQUENCE_COMPLETE)
            .unwrap()
            .parameters
            .to_vec();
        // Same as TPM2_PCR_Event of "hello".
        let (rc, rsp) = run(
            &mut e,
            TpmCc::PCR_EVENT,
            &[TpmHandle::NULL],
            &[pw()],
            &b2(b"hello"),
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        assert_eq!(
            p,
            Response::parse(&rsp, TpmCc::PCR_EVENT).unwrap().parameters
        );
        assert_eq!(&p[..4], [0, 0, 0, 4]);
        let sha256_of_hello = sha256(b"hello");
        let want = sha2::Sha256::digest([&[0u8; 32][..], &sha256_of_hello].concat()).to_vec();
        assert_eq!(
            e.state
                .vol
                .pcr
                .value(crate::engine::crypto::hash::HashAlg::Sha256, 9)
                .unwrap(),
            want
        );
        assert!(e.state.object(ev).is_none());
        // Locality is checked (and the sequence survives the failure).
        let ev = start(&mut e, b"", TpmAlgId::NULL);
        let (rc, _) = run(
            &mut e,
            TpmCc::EVENT_SEQUENCE_COMPLETE,
            &[TpmHandle(17), ev],
            &[pw(), pw()],
            &b2(b""),
        );
        assert_eq!(rc, TpmRc::LOCALITY);
        assert!(e.state.object(ev).is_some());
    }

    fn keyed_hash(
        e: &mut Engine,
        attributes: u32,
        scheme: TpmtKeyedhashScheme,
        key: &[u8],
    ) -> TpmHandle {
        let public = TpmtPublic {
            name_alg: TpmAlgId::SHA256,
            object_attributes: TpmaObject(attributes | TpmaObject::USER_WITH_AUTH),
            auth_policy: Tpm2bDigest::empty(),
            detail: PublicDetail::KeyedHash {
                parameters: TpmsKeyedhashParms { scheme },
                unique: Tpm2bDigest::new(&sha256(key)).unwrap(),
            },
        };
        let sensitive = Sensitive {
            private: Zeroizing::new(key.to_vec()),
            ..Sensitive::default()
        };
        let obj = Object::new(
            public,
            &TpmHandle::NULL.0.to_be_bytes(),
            TpmHandle::NULL,
            sensitive,
        );
        let h = crate::engine::object::alloc_transient_handle(e).unwrap();
        e.state.vol.objects.insert(h.0, obj);
        h
    }

    fn reference_hmac(alg: TpmAlgId, key: &[u8], data: &[u8]) -> Vec<u8> {
        match alg {
            TpmAlgId::SHA1 => {
                let mut m = <hmac::Hmac<sha1::Sha1> as Mac>::new_from_slice(key).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            TpmAlgId::SHA384 => {
                let mut m = <hmac::Hmac<sha2::Sha384> as Mac>::new_from_slice(key).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            _ => {
                let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hmac_cmd(e: &mut Engine, key: TpmHandle, data: &[u8], alg: TpmAlgId) -> (TpmRc, Vec<u8>) {
        let params = [b2(data), alg.0.to_be_bytes().to_vec()].concat();
        let (rc, rsp) = run(e, TpmCc::HMAC, &[key], &[pw()], &params);
        let p = if rc == TpmRc::SUCCESS {
            Response::parse(&rsp, TpmCc::HMAC).unwrap().parameters[2..].to_vec()
        } else {
            vec![]
        };
        (rc, p)
    }

    fn hmac_start(
        e: &mut Engine,
        key: TpmHandle,
        auth: &[u8],
        alg: TpmAlgId,
    ) -> (TpmRc, Option<TpmHandle>) {
        let params = [b2(auth), alg.0.to_be_bytes().to_vec()].concat();
        let (rc, rsp) = run(e, TpmCc::HMAC_START, &[key], &[pw()], &params);
        let h = (rc == TpmRc::SUCCESS).then(|| {
            Response::parse(&rsp, TpmCc::HMAC_START)
                .unwrap()
                .handle
                .unwrap()
        });
        (rc, h)
    }

    #[test]
    fn hmac_and_hmac_sequences() {
        let mut e = testutil::engine();
        let key = b"a keyed-hash key of 32 bytes....";
        let sign = TpmaObject::SIGN;
        let k = keyed_hash(
            &mut e,
            sign | TpmaObject::DECRYPT,
            TpmtKeyedhashScheme::Null,
            key,
        );
        for alg in [TpmAlgId::SHA1, TpmAlgId::SHA256, TpmAlgId::SHA384] {
            assert_eq!(
                hmac_cmd(&mut e, k, b"data", alg),
                (TpmRc::SUCCESS, reference_hmac(alg, key, b"data"))
            );
        }
        assert_eq!(
            hmac_cmd(&mut e, k, b"data", TpmAlgId::NULL).0,
            TpmRc::VALUE.with_parameter(2)
        );
        assert_eq!(
            hmac_cmd(&mut e, k, &[0; 1025], TpmAlgId::SHA1).0,
            TpmRc::SIZE.with_parameter(1)
        );
        // HMAC sequence: three chunks equal one TPM2_HMAC; never a ticket.
        let (rc, s) = hmac_start(&mut e, k, b"sq", TpmAlgId::SHA384);
        assert_eq!(rc, TpmRc::SUCCESS);
        let s = s.unwrap();
        assert_eq!(update(&mut e, s, b"sq", b"da"), TpmRc::SUCCESS);
        assert_eq!(update(&mut e, s, b"sq", b"t"), TpmRc::SUCCESS);
        let (rc, p) = complete(&mut e, s, b"sq", b"a", TpmHandle::OWNER);
        assert_eq!(rc, TpmRc::SUCCESS);
        let (d, t) = digest_and_ticket(&p);
        assert_eq!(d, reference_hmac(TpmAlgId::SHA384, key, b"data"));
        assert!(t.is_null());
        assert_eq!(
            hmac_start(&mut e, k, b"", TpmAlgId::NULL).0,
            TpmRc::VALUE.with_parameter(2)
        );
        // A key with an HMAC scheme: its hash, or TPM_RC_VALUE for another one.
        let scheme = TpmtKeyedhashScheme::Hmac(TpmsSchemeHash {
            hash_alg: TpmAlgId::SHA1,
        });
        let k1 = keyed_hash(&mut e, sign, scheme, key);
        let want = reference_hmac(TpmAlgId::SHA1, key, b"data");
        assert_eq!(
            hmac_cmd(&mut e, k1, b"data", TpmAlgId::NULL),
            (TpmRc::SUCCESS, want.clone())
        );
        assert_eq!(
            hmac_cmd(&mut e, k1, b"data", TpmAlgId::SHA1),
            (TpmRc::SUCCESS, want)
        );
        assert_eq!(
            hmac_cmd(&mut e, k1, b"data", TpmAlgId::SHA256).0,
            TpmRc::VALUE.with_parameter(2)
        );
        assert_eq!(
            hmac_start(&mut e, k1, b"", TpmAlgId::SHA256).0,
            TpmRc::VALUE.with_parameter(2)
        );
        // Key checks: restricted, no sign, a sequence object.
        e.state.vol.objects.remove(&k1.0);
        let restricted = keyed_hash(
            &mut e,
            sign | TpmaObject::RESTRICTED,
            TpmtKeyedhashScheme::Hmac(TpmsSchemeHash {
                hash_alg: TpmAlgId::SHA256,
            }),
            key,
        );
        assert_eq!(
            hmac_cmd(&mut e, restricted, b"x", TpmAlgId::SHA256).0,
            TpmRc::ATTRIBUTES.with_handle(1)
        );
        assert_eq!(
            hmac_start(&mut e, restricted, b"", TpmAlgId::SHA256).0,
            TpmRc::ATTRIBUTES.with_handle(1)
        );
        e.state.vol.objects.remove(&restricted.0);
        let sealed = keyed_hash(&mut e, 0, TpmtKeyedhashScheme::Null, key);
        // The hash is resolved before `sign` is checked; non-hashes are TPM_RC_SYMMETRIC.
        assert_eq!(
            hmac_cmd(&mut e, sealed, b"x", TpmAlgId::NULL).0,
            TpmRc::VALUE.with_parameter(2)
        );
        for alg in [TpmAlgId::SM3_256, TpmAlgId::CMAC, TpmAlgId::AES] {
            assert_eq!(
                hmac_cmd(&mut e, sealed, b"x", alg).0,
                TpmRc::SYMMETRIC.with_parameter(2)
            );
        }
        assert_eq!(
            hmac_cmd(&mut e, sealed, b"x", TpmAlgId::SHA256).0,
            TpmRc::KEY.with_handle(1)
        );
        e.state.vol.objects.remove(&sealed.0);
        let seq = start(&mut e, b"", TpmAlgId::SHA256);
        assert_eq!(
            hmac_cmd(&mut e, seq, b"x", TpmAlgId::SHA256).0,
            TpmRc::TYPE.with_handle(1)
        );
        // SequenceUpdate / SequenceComplete on a key: TPM_RC_MODE (parameter 1 for the update,
        // as libtpms numbers it).
        assert_eq!(update(&mut e, k, b"", b"x"), TpmRc::MODE.with_parameter(1));
        assert_eq!(
            complete(&mut e, k, b"", b"x", TpmHandle::OWNER).0,
            TpmRc::MODE.with_handle(1)
        );
    }

    #[test]
    fn sequences_survive_save_and_restore() {
        let mut e = testutil::engine();
        let key = [0x5a; 100];
        let k = keyed_hash(
            &mut e,
            TpmaObject::SIGN | TpmaObject::DECRYPT,
            TpmtKeyedhashScheme::Null,
            &key,
        );
        let (_, hs) = hmac_start(&mut e, k, b"m", TpmAlgId::SHA256);
        let hs = hs.unwrap();
        e.state.vol.objects.remove(&k.0);
        let s = start(&mut e, b"s", TpmAlgId::SHA512);
        let ev = start(&mut e, b"", TpmAlgId::NULL);
        let data: Vec<u8> = (0..3000u32)
            .map(|i| u8::try_from(i % 253).unwrap())
            .collect();
        for (h, auth) in [(hs, &b"m"[..]), (s, b"s"), (ev, b"")] {
            assert_eq!(update(&mut e, h, auth, &data[..1000]), TpmRc::SUCCESS);
            assert_eq!(update(&mut e, h, auth, &data[1000..1001]), TpmRc::SUCCESS);
        }
        let blob = e.save_state();
        let mut back = Engine::restore(&blob, Box::new(TestPlatform::new(1))).unwrap();
        for eng in [&mut e, &mut back] {
            for (h, auth) in [(hs, &b"m"[..]), (s, b"s"), (ev, b"")] {
                assert_eq!(update(eng, h, auth, &data[1001..2000]), TpmRc::SUCCESS);
            }
        }
        let (_, a) = complete(&mut e, hs, b"m", &data[2000..], TpmHandle::NULL);
        let (_, b) = complete(&mut back, hs, b"m", &data[2000..], TpmHandle::NULL);
        assert_eq!(a, b);
        assert_eq!(
            digest_and_ticket(&a).0,
            reference_hmac(TpmAlgId::SHA256, &key, &data)
        );
        let (_, a) = complete(&mut e, s, b"s", &data[2000..], TpmHandle::OWNER);
        let (_, b) = complete(&mut back, s, b"s", &data[2000..], TpmHandle::OWNER);
        assert_eq!(a, b, "same digest, same ticket (same proofs)");
        assert_eq!(
            digest_and_ticket(&a).0,
            sha2::Sha512::digest(&data).to_vec()
        );
        let mut outs = Vec::new();
        for eng in [&mut e, &mut back] {
            let (rc, rsp) = run(
                eng,
                TpmCc::EVENT_SEQUENCE_COMPLETE,
                &[TpmHandle(10), ev],
                &[pw(), pw()],
                &b2(&data[2000..]),
            );
            assert_eq!(rc, TpmRc::SUCCESS);
            outs.push(
                Response::parse(&rsp, TpmCc::EVENT_SEQUENCE_COMPLETE)
                    .unwrap()
                    .parameters
                    .to_vec(),
            );
        }
        assert_eq!(outs[0], outs[1]);
        assert_eq!(
            e.state
                .vol
                .pcr
                .value(crate::engine::crypto::hash::HashAlg::Sha1, 10),
            back.state
                .vol
                .pcr
                .value(crate::engine::crypto::hash::HashAlg::Sha1, 10)
        );
    }
}

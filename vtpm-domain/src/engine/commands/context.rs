//! Context management (TCG TPM 2.0 Library part 3 §28: TPM2_ContextSave, TPM2_ContextLoad,
//! TPM2_FlushContext, TPM2_EvictControl; part 1 §30 "Context Management").
//!
//! # Saved contexts
//!
//! A TPMS_CONTEXT carries `sequence` (the context counter after this save), `savedHandle`
//! (0x80000000 for a transient object, 0x80000001 for a sequence object, 0x80000002 for an
//! object with stClear, or the session handle), `hierarchy` (the object's, TPM_RH_NULL for a
//! session) and `contextBlob`:
//!
//! ```text
//! contextBlob = TPM2B_DIGEST(integrity) || encContext
//! encContext  = AES-256-CFB(key, iv, sequence(8) || context)
//! key || iv   = KDFa(SHA-512, proof(hierarchy), "CONTEXT", sequence(8), savedHandle(4), 384)
//! integrity   = HMAC-SHA-512(proof(hierarchy), nullProof || clearCount(4, stClear only)
//!                            || sequence(8) || savedHandle(4) || encContext)
//! ```
//!
//! `context` is this engine's own encoding of the object or session (the state-blob encoding
//! of `codec`). The hierarchy's proof keys both the encryption and the integrity, so a context
//! dies with its hierarchy's proof (TPM2_Clear for owner and endorsement objects). Where the
//! reference implementation mixes in totalResetCount, this engine mixes in the NULL
//! hierarchy's proof, which is renewed at every TPM Reset and kept by TPM Restart and TPM
//! Resume: no context survives a TPM Reset, as part 1 §30.3 requires. The clearCount (TPM
//! Restarts since the last Reset) binds the contexts of stClear objects, which therefore do not
//! survive a TPM Restart.
//!
//! A saved session stays in the session table, marked saved, and `Volatile::session_contexts`
//! records the sequence number of its context. TPM2_ContextLoad accepts a session context only
//! if the session is still saved, the context is the last one saved (same sequence; older
//! contexts of the session are refused with TPM_RC_HANDLE, as part 3 §28.3 requires) and the
//! decrypted session is exactly the one the table holds.
//!
//! # Context gap
//!
//! The context counter is 64 bits and each saved session keeps its complete state, so no saved
//! session can be confused with a newer one: this engine never needs TPM_RC_CONTEXT_GAP (part 1
//! §30.5 lets the gap be as large as the implementation can track). TPM_RC_TOO_MANY_CONTEXTS is
//! returned if the counter would wrap.
//!
//! # Persistent objects
//!
//! TPM2_EvictControl copies a loaded transient object to a persistent handle (owner range
//! 0x81000000–0x817FFFFF, platform range 0x81800000–0x81FFFFFF) or deletes a persistent one; at
//! most [`MAX_PERSISTENT_OBJECTS`] are kept (TPM_RC_NV_SPACE beyond).

use alloc::vec::Vec;

use tpm2::Unmarshal;
use tpm2::cc::TpmCc;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::rc::TpmRc;
use tpm2::structures::{
    SAVED_OBJECT, SAVED_OBJECT_ST_CLEAR, SAVED_SEQUENCE, Tpm2bDigest, TpmaObject, TpmsContext,
    TpmsContextData,
};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::engine::auth::ct_eq;
use crate::engine::codec::{Loader, Persist, Writer};
use crate::engine::crypto::hash::{HashAlg, hmac};
use crate::engine::crypto::kdf::kdfa;
use crate::engine::crypto::sym::{cfb_decrypt, cfb_encrypt};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::{HandleKind, hierarchy_enabled};
use crate::engine::object::{
    MAX_PERSISTENT_OBJECTS, Object, alloc_transient_handle, transient_in_range,
};
use crate::engine::rcmap::wire_rc;
use crate::engine::session::{
    HANDLE_INDEX_MASK, MAX_ACTIVE_SESSIONS, MAX_LOADED_SESSIONS, Session,
};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::CONTEXT_SAVE,
        handles: &[HandleKind::Context],
        roles: &[],
        nv: false,
        handler: context_save,
    },
    Entry {
        cc: TpmCc::CONTEXT_LOAD,
        handles: &[],
        roles: &[],
        nv: false,
        handler: context_load,
    },
    Entry {
        cc: TpmCc::FLUSH_CONTEXT,
        handles: &[],
        roles: &[],
        nv: false,
        handler: flush_context,
    },
    Entry {
        cc: TpmCc::EVICT_CONTROL,
        handles: &[HandleKind::Provision, HandleKind::Object],
        roles: &[AuthRole::User],
        nv: true,
        handler: evict_control,
    },
];

/// The hash of context integrity and key derivation (libtpms' CONTEXT_INTEGRITY_HASH_ALG).
const CONTEXT_HASH: HashAlg = HashAlg::Sha512;
/// AES-256 key and CFB IV sizes of context encryption.
const CONTEXT_KEY_BYTES: usize = 32;
const CONTEXT_IV_BYTES: usize = 16;
/// Largest encoded object or session accepted back from a context blob.
const MAX_CONTEXT_BODY: usize = 4096;

/// The first handle of the platform's persistent range.
const PLATFORM_PERSISTENT: u32 = 0x8180_0000;

fn is_session(h: TpmHandle) -> bool {
    matches!(h.ty(), TpmHt::HMAC_SESSION | TpmHt::POLICY_SESSION)
}

/// The key and IV that encrypt a context (see the module documentation).
fn context_keys(
    e: &Engine,
    hierarchy: TpmHandle,
    sequence: u64,
    saved: TpmHandle,
) -> Zeroizing<Vec<u8>> {
    let bits = u32::try_from((CONTEXT_KEY_BYTES + CONTEXT_IV_BYTES) * 8).unwrap_or(384);
    kdfa(
        CONTEXT_HASH,
        e.state.proof(hierarchy),
        b"CONTEXT",
        &sequence.to_be_bytes(),
        &saved.0.to_be_bytes(),
        bits,
    )
}

/// The integrity HMAC of an encrypted context (see the module documentation).
fn context_integrity(
    e: &Engine,
    hierarchy: TpmHandle,
    sequence: u64,
    saved: TpmHandle,
    encrypted: &[u8],
) -> Vec<u8> {
    let clear = if saved == SAVED_OBJECT_ST_CLEAR {
        e.state.vol.clear_count.to_be_bytes().to_vec()
    } else {
        Vec::new()
    };
    hmac(
        CONTEXT_HASH,
        e.state.proof(hierarchy),
        &[
            &e.state.vol.null_proof,
            &clear,
            &sequence.to_be_bytes(),
            &saved.0.to_be_bytes(),
            encrypted,
        ],
    )
}

/// Encrypts and integrity-protects `body` as a TPMS_CONTEXT.
fn protect(
    e: &Engine,
    hierarchy: TpmHandle,
    sequence: u64,
    saved: TpmHandle,
    body: &[u8],
) -> Result<TpmsContext, TpmRc> {
    let keys = context_keys(e, hierarchy, sequence, saved);
    let (key, iv) = keys.split_at(CONTEXT_KEY_BYTES);
    let mut enc = Zeroizing::new(Vec::with_capacity(8 + body.len()));
    enc.extend_from_slice(&sequence.to_be_bytes());
    enc.extend_from_slice(body);
    cfb_encrypt(key, iv, &mut enc).map_err(|_| TpmRc::FAILURE)?;
    let integrity = context_integrity(e, hierarchy, sequence, saved, &enc);
    let data = TpmsContextData {
        integrity: Tpm2bDigest::new(&integrity).map_err(|_| TpmRc::FAILURE)?,
        encrypted: enc.to_vec(),
    };
    Ok(TpmsContext {
        sequence,
        saved_handle: saved,
        hierarchy,
        context_blob: data.to_blob().map_err(|_| TpmRc::SIZE)?,
    })
}

/// Checks and decrypts a context; returns the encoded object or session. Codes carry the
/// parameter number (1).
fn unprotect(e: &Engine, context: &TpmsContext) -> Result<Zeroizing<Vec<u8>>, TpmRc> {
    let data = TpmsContextData::from_blob(&context.context_blob)
        .map_err(|err| wire_rc(&err).with_parameter(1))?;
    if data.integrity.len() != CONTEXT_HASH.digest_size() || data.encrypted.len() < 8 {
        return Err(TpmRc::SIZE.with_parameter(1));
    }
    let expected = context_integrity(
        e,
        context.hierarchy,
        context.sequence,
        context.saved_handle,
        &data.encrypted,
    );
    if !ct_eq(data.integrity.as_bytes(), &expected) {
        return Err(TpmRc::INTEGRITY.with_parameter(1));
    }
    let keys = context_keys(e, context.hierarchy, context.sequence, context.saved_handle);
    let (key, iv) = keys.split_at(CONTEXT_KEY_BYTES);
    let mut plain = Zeroizing::new(data.encrypted);
    cfb_decrypt(key, iv, &mut plain).map_err(|_| TpmRc::FAILURE)?;
    // The fingerprint: authenticated above, so a mismatch means a broken TPM.
    if plain.get(..8) != Some(&context.sequence.to_be_bytes()[..]) {
        return Err(TpmRc::INTEGRITY.with_parameter(1));
    }
    Ok(Zeroizing::new(plain[8..].to_vec()))
}

/// The encoding of a piece of state (an object or a session) inside a context.
fn encode<T: Persist>(v: &T) -> Zeroizing<Vec<u8>> {
    let mut w = Writer::new();
    v.save(&mut w);
    w.out
}

/// The next context sequence number (TPM_RC_TOO_MANY_CONTEXTS when the counter would wrap).
fn next_sequence(e: &mut Engine) -> Result<u64, TpmRc> {
    let c = &mut e.state.vol.context_counter;
    *c = c.checked_add(1).ok_or(TpmRc::TOO_MANY_CONTEXTS)?;
    Ok(*c)
}

/// TPM2_ContextSave (part 3 §28.2).
fn context_save(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let h = ctx.handles[0];
    let context = if h.ty() == TpmHt::TRANSIENT {
        let obj = e
            .state
            .vol
            .objects
            .get(&h.0)
            .ok_or(TpmRc::HANDLE.with_handle(1))?;
        let saved = if obj.sequence.is_some() {
            SAVED_SEQUENCE
        } else if obj.has(TpmaObject::ST_CLEAR) {
            SAVED_OBJECT_ST_CLEAR
        } else {
            SAVED_OBJECT
        };
        let hierarchy = obj.hierarchy;
        let body = encode(obj);
        if body.len() > MAX_CONTEXT_BODY {
            return Err(TpmRc::SIZE);
        }
        let sequence = next_sequence(e)?;
        protect(e, hierarchy, sequence, saved, &body)?
    } else if is_session(h) {
        if !e
            .state
            .vol
            .sessions
            .get(&h.0)
            .is_some_and(Session::is_loaded)
        {
            return Err(TpmRc::HANDLE.with_handle(1));
        }
        let sequence = next_sequence(e)?;
        // The session is saved (and no longer loaded) from here on; the context records it
        // in that state so that TPM2_ContextLoad can compare.
        let session = e
            .state
            .vol
            .sessions
            .get_mut(&h.0)
            .ok_or(TpmRc::HANDLE.with_handle(1))?;
        session.mark_saved(true);
        let body = encode(&*session);
        e.state.vol.session_contexts.insert(h.0, sequence);
        protect(e, TpmHandle::NULL, sequence, h, &body)?
    } else {
        // TPMI_DH_CONTEXT has no persistent objects.
        return Err(TpmRc::VALUE.with_handle(1));
    };
    ctx.put(&context);
    Ok(())
}

/// TPM2_ContextLoad (part 3 §28.3).
fn context_load(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let context: TpmsContext = ctx.param()?;
    ctx.finish()?;
    let body = unprotect(e, &context)?;
    let saved = context.saved_handle;
    if is_session(saved) {
        let live = e.state.vol.session_contexts.get(&saved.0) == Some(&context.sequence);
        // The saved session must be the one the context holds. Whether it is the exclusive
        // audit session may have changed while it was saved (any command without it ends the
        // exclusivity, libtpms' global g_exclusiveAuditSession): that flag is not compared.
        let matches = e
            .state
            .vol
            .sessions
            .get_mut(&saved.0)
            .filter(|s| !s.is_loaded())
            .is_some_and(|s| {
                let exclusive = s.audit_exclusive;
                let same = [false, true].iter().any(|&x| {
                    s.audit_exclusive = x;
                    ct_eq(&encode(&*s), &body)
                });
                s.audit_exclusive = exclusive;
                same
            });
        if !live || !matches {
            return Err(TpmRc::HANDLE.with_parameter(1));
        }
        let loaded = e
            .state
            .vol
            .sessions
            .values()
            .filter(|s| s.is_loaded())
            .count();
        if loaded >= MAX_LOADED_SESSIONS {
            return Err(TpmRc::SESSION_MEMORY);
        }
        if let Some(s) = e.state.vol.sessions.get_mut(&saved.0) {
            s.mark_saved(false);
        }
        e.state.vol.session_contexts.remove(&saved.0);
        ctx.out_handle = Some(saved);
    } else {
        if !hierarchy_enabled(e, context.hierarchy) {
            return Err(TpmRc::HIERARCHY.with_parameter(1));
        }
        let handle = alloc_transient_handle(e)?;
        let mut r = Loader::new(&body);
        let obj = Object::load(&mut r).map_err(|_| TpmRc::INTEGRITY.with_parameter(1))?;
        if r.remaining() != 0 || obj.hierarchy != context.hierarchy {
            return Err(TpmRc::INTEGRITY.with_parameter(1));
        }
        e.state.vol.objects.insert(handle.0, obj);
        ctx.out_handle = Some(handle);
    }
    Ok(())
}

/// TPM2_FlushContext (part 3 §28.4): `flushHandle` is a TPMI_DH_CONTEXT parameter (a loaded
/// transient object, or a loaded or saved session).
fn flush_context(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    // TPMI_DH_CONTEXT: TRANSIENT_FIRST..=TRANSIENT_LAST and the two session ranges; anything
    // else fails to unmarshal (TPM_RC_VALUE), before the size of the parameter area is checked.
    let h: TpmHandle = ctx.param_with(|r| {
        let h = TpmHandle::unmarshal(r)?;
        let in_range = if h.ty() == TpmHt::TRANSIENT {
            transient_in_range(h)
        } else {
            is_session(h) && ((h.0 & HANDLE_INDEX_MASK) as usize) < MAX_ACTIVE_SESSIONS
        };
        if in_range {
            Ok(h)
        } else {
            Err(tpm2::Error::BadValue {
                what: "TPMI_DH_CONTEXT",
                value: h.0,
            })
        }
    })?;
    ctx.finish()?;
    if h.ty() == TpmHt::TRANSIENT {
        return e
            .state
            .vol
            .objects
            .remove(&h.0)
            .map(|_| ())
            .ok_or(TpmRc::HANDLE.with_parameter(1));
    }
    // Sessions are found by index, whatever their type (as the reference implementation).
    let index = h.0 & HANDLE_INDEX_MASK;
    let key = e
        .state
        .vol
        .sessions
        .keys()
        .copied()
        .find(|k| k & HANDLE_INDEX_MASK == index)
        .ok_or(TpmRc::HANDLE.with_parameter(1))?;
    e.state.vol.sessions.remove(&key);
    e.state.vol.session_contexts.remove(&key);
    Ok(())
}

/// TPM2_EvictControl (part 3 §28.5).
fn evict_control(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let auth = ctx.handles[0];
    let object_handle = ctx.handles[1];
    let persistent: TpmHandle = ctx.param_with(|r| {
        let h = TpmHandle::unmarshal(r)?;
        if h.ty() == TpmHt::PERSISTENT {
            Ok(h)
        } else {
            Err(tpm2::Error::BadValue {
                what: "TPMI_DH_PERSISTENT",
                value: h.0,
            })
        }
    })?;
    ctx.finish()?;

    let obj = e
        .state
        .object(object_handle)
        .ok_or(TpmRc::HANDLE.with_handle(2))?;
    let evict = object_handle.ty() == TpmHt::PERSISTENT;
    if obj.is_temporary()
        || obj.has(TpmaObject::ST_CLEAR)
        || obj.public_only
        || obj.sequence.is_some()
    {
        return Err(TpmRc::ATTRIBUTES.with_handle(2));
    }
    if evict && object_handle != persistent {
        return Err(TpmRc::HANDLE.with_handle(2));
    }
    let platform_object = obj.hierarchy == TpmHandle::PLATFORM;
    let platform_range = persistent.0 >= PLATFORM_PERSISTENT;
    if auth == TpmHandle::PLATFORM {
        if !evict {
            if !platform_object {
                return Err(TpmRc::HIERARCHY.with_handle(2));
            }
            if !platform_range {
                return Err(TpmRc::RANGE.with_parameter(1));
            }
        }
    } else {
        // Owner authorization: never for platform objects.
        if platform_object {
            return Err(TpmRc::HIERARCHY.with_handle(2));
        }
        if !evict && platform_range {
            return Err(TpmRc::RANGE.with_parameter(1));
        }
    }
    if evict {
        e.state.perm.persistent.remove(&persistent.0);
        return Ok(());
    }
    if e.state.perm.persistent.contains_key(&persistent.0) {
        return Err(TpmRc::NV_DEFINED);
    }
    if e.state.perm.persistent.len() >= MAX_PERSISTENT_OBJECTS {
        return Err(TpmRc::NV_SPACE);
    }
    let copy = obj.copy_plain();
    e.state.perm.persistent.insert(persistent.0, copy);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::many_single_char_names
    )]

    use super::*;
    use crate::engine::object::Sensitive;
    use alloc::boxed::Box;
    use tpm2::Marshal;
    use tpm2::response::Response;
    use tpm2::structures::{Tpm2bContextData, Tpm2bPublic};

    use crate::engine::commands::object::tests::{
        FIXED_PARENT, FIXED_TPM, HMAC_SHA256, NULL, SDO, SIGN, UWA, b2, cat, create, create_params,
        create_primary, create_primary_raw, flush, keyedhash_template, load, rsa_template,
        storage_primary,
    };
    use crate::engine::testutil::{TestPlatform, engine, expect_rc, ok_params, pw, run};

    fn save(e: &mut Engine, h: TpmHandle) -> TpmsContext {
        let p = ok_params(e, TpmCc::CONTEXT_SAVE, &[h], &[], &[]);
        TpmsContext::from_bytes(&p).unwrap()
    }

    fn load_rc(e: &mut Engine, c: &TpmsContext) -> (TpmRc, Option<TpmHandle>) {
        let (rc, rsp) = run(e, TpmCc::CONTEXT_LOAD, &[], &[], &c.to_bytes());
        let h = (rc == TpmRc::SUCCESS).then(|| {
            Response::parse(&rsp, TpmCc::CONTEXT_LOAD)
                .unwrap()
                .handle
                .unwrap()
        });
        (rc, h)
    }

    fn read_public(e: &mut Engine, h: TpmHandle) -> Vec<u8> {
        ok_params(e, TpmCc::READ_PUBLIC, &[h], &[], &[])
    }

    /// Power cycle: Shutdown(`shutdown`) (if any), _TPM_Init, Startup(`startup`).
    fn cycle(e: &mut Engine, shutdown: Option<u16>, startup: u16) {
        if let Some(su) = shutdown {
            ok_params(e, TpmCc::SHUTDOWN, &[], &[], &su.to_be_bytes());
        }
        e.power_on();
        ok_params(e, TpmCc::STARTUP, &[], &[], &startup.to_be_bytes());
    }

    const CLEAR: u16 = 0;
    const STATE: u16 = 1;

    fn hmac_key_template(extra: u32) -> Vec<u8> {
        keyedhash_template(
            FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN | extra,
            &HMAC_SHA256,
        )
    }

    #[test]
    fn save_flush_load_round_trip() {
        let mut e = engine();
        let p = storage_primary(&mut e);
        let before = read_public(&mut e, p.handle);
        let c = save(&mut e, p.handle);
        assert_eq!(c.saved_handle, SAVED_OBJECT);
        assert_eq!(c.hierarchy, TpmHandle::OWNER);
        assert_eq!(c.sequence, 1);
        // The object stays loaded after ContextSave.
        assert!(e.state.object(p.handle).is_some());
        flush(&mut e, p.handle);
        let (rc, h) = load_rc(&mut e, &c);
        assert_eq!(rc, TpmRc::SUCCESS);
        let h = h.unwrap();
        assert_eq!(h, TpmHandle(0x8000_0000));
        assert_eq!(read_public(&mut e, h), before);
        // The reloaded primary still works as a parent: a child made under it loads.
        let (private, public, ..) = create(&mut e, h, &[], &[], &hmac_key_template(0));
        let (child, _) = load(&mut e, h, &private, &public);
        // A context can be loaded more than once (objects are copies).
        let (rc, h2) = load_rc(&mut e, &c);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert_eq!(read_public(&mut e, h2.unwrap()), before);
        // Sequence numbers increase.
        let c2 = save(&mut e, child);
        assert_eq!(c2.sequence, 2);
        // No slot left.
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::OBJECT_MEMORY);
    }

    #[test]
    fn tampered_contexts_are_integrity_errors() {
        let mut e = engine();
        let p = create_primary(&mut e, &hmac_key_template(0));
        let c = save(&mut e, p.handle);
        flush(&mut e, p.handle);
        let blob = c.context_blob.as_bytes().to_vec();
        for i in [2usize, 70, 80, blob.len() - 1] {
            let mut bad = c.clone();
            let mut b = blob.clone();
            b[i] ^= 0x40;
            bad.context_blob = Tpm2bContextData::new(&b).unwrap();
            assert_eq!(
                load_rc(&mut e, &bad).0,
                TpmRc::INTEGRITY.with_parameter(1),
                "byte {i}"
            );
        }
        let mut bad = c.clone();
        bad.sequence += 1;
        assert_eq!(load_rc(&mut e, &bad).0, TpmRc::INTEGRITY.with_parameter(1));
        let mut bad = c.clone();
        bad.saved_handle = SAVED_OBJECT_ST_CLEAR;
        assert_eq!(load_rc(&mut e, &bad).0, TpmRc::INTEGRITY.with_parameter(1));
        let mut bad = c.clone();
        bad.hierarchy = TpmHandle::ENDORSEMENT;
        assert_eq!(load_rc(&mut e, &bad).0, TpmRc::INTEGRITY.with_parameter(1));
        // A blob whose integrity value has the wrong size, or nothing after it.
        let mut bad = c.clone();
        bad.context_blob = Tpm2bContextData::new(&b2(&[0; 32])).unwrap();
        assert_eq!(load_rc(&mut e, &bad).0, TpmRc::SIZE.with_parameter(1));
        bad.context_blob = Tpm2bContextData::new(&b2(&[0; 64])).unwrap();
        assert_eq!(load_rc(&mut e, &bad).0, TpmRc::SIZE.with_parameter(1));
        // A savedHandle that is no TPMI_DH_SAVED fails to unmarshal.
        let mut raw = c.to_bytes();
        raw[8..12].copy_from_slice(&0x8000_0003u32.to_be_bytes());
        expect_rc(
            &mut e,
            TpmCc::CONTEXT_LOAD,
            &[],
            &[],
            &raw,
            TpmRc::VALUE.with_parameter(1),
        );
        // The original still loads.
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::SUCCESS);
    }

    #[test]
    fn contexts_across_reset_restart_and_resume() {
        let mut e = engine();
        let plain = create_primary(&mut e, &hmac_key_template(0));
        let st_clear = create_primary(&mut e, &hmac_key_template(TpmaObject::ST_CLEAR));
        let c_plain = save(&mut e, plain.handle);
        let c_st = save(&mut e, st_clear.handle);
        assert_eq!(c_st.saved_handle, SAVED_OBJECT_ST_CLEAR);

        // TPM Resume: everything loads.
        cycle(&mut e, Some(STATE), STATE);
        assert!(e.state.vol.objects.is_empty());
        assert_eq!(load_rc(&mut e, &c_plain).0, TpmRc::SUCCESS);
        assert_eq!(load_rc(&mut e, &c_st).0, TpmRc::SUCCESS);
        // The context counter survived: new contexts get new numbers.
        assert_eq!(save(&mut e, TpmHandle(0x8000_0000)).sequence, 3);

        // TPM Restart: stClear contexts are dead, others load.
        cycle(&mut e, Some(STATE), CLEAR);
        assert_eq!(load_rc(&mut e, &c_plain).0, TpmRc::SUCCESS);
        assert_eq!(load_rc(&mut e, &c_st).0, TpmRc::INTEGRITY.with_parameter(1));

        // TPM Reset: nothing saved before loads.
        cycle(&mut e, Some(CLEAR), CLEAR);
        assert_eq!(
            load_rc(&mut e, &c_plain).0,
            TpmRc::INTEGRITY.with_parameter(1)
        );
        // Without an orderly shutdown either.
        let p = create_primary(&mut e, &hmac_key_template(0));
        let c = save(&mut e, p.handle);
        cycle(&mut e, None, CLEAR);
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::INTEGRITY.with_parameter(1));
    }

    #[test]
    fn disabled_hierarchy_and_sequence_objects() {
        let mut e = engine();
        let p = create_primary(&mut e, &hmac_key_template(0));
        let c = save(&mut e, p.handle);
        flush(&mut e, p.handle);
        e.state.vol.sh_enable = false;
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::HIERARCHY.with_parameter(1));
        e.state.vol.sh_enable = true;
        // A sequence object is saved with 0x80000001 and comes back with its state.
        let public = Tpm2bPublic::from_bytes(&b2(&keyedhash_template(TpmaObject::NO_DA, &NULL)))
            .unwrap()
            .public_area;
        let mut obj = Object::new(public, &[], TpmHandle::NULL, Sensitive::default());
        obj.sequence = Some(crate::engine::sequence::Sequence::hash(HashAlg::Sha256));
        e.state.vol.objects.insert(0x8000_0001, obj);
        let c = save(&mut e, TpmHandle(0x8000_0001));
        assert_eq!(c.saved_handle, SAVED_SEQUENCE);
        assert_eq!(c.hierarchy, TpmHandle::NULL);
        flush(&mut e, TpmHandle(0x8000_0001));
        let (rc, h) = load_rc(&mut e, &c);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert!(e.state.object(h.unwrap()).unwrap().sequence.is_some());
    }

    #[test]
    fn flush_context_handles() {
        let mut e = engine();
        let flush_rc =
            |e: &mut Engine, h: u32| run(e, TpmCc::FLUSH_CONTEXT, &[], &[], &h.to_be_bytes()).0;
        assert_eq!(
            flush_rc(&mut e, 0x8000_0000),
            TpmRc::HANDLE.with_parameter(1)
        );
        assert_eq!(
            flush_rc(&mut e, 0x8000_0003),
            TpmRc::VALUE.with_parameter(1)
        );
        assert_eq!(
            flush_rc(&mut e, 0x8100_0001),
            TpmRc::VALUE.with_parameter(1)
        );
        assert_eq!(
            flush_rc(&mut e, 0x4000_0001),
            TpmRc::VALUE.with_parameter(1)
        );
        assert_eq!(
            flush_rc(&mut e, 0x0200_0000),
            TpmRc::HANDLE.with_parameter(1)
        );
        assert_eq!(
            flush_rc(&mut e, 0x0200_0040),
            TpmRc::VALUE.with_parameter(1)
        );
        assert_eq!(
            flush_rc(&mut e, 0x0300_0000),
            TpmRc::HANDLE.with_parameter(1)
        );
        // The handle is checked before the size of the parameter area.
        let (rc, _) = run(
            &mut e,
            TpmCc::FLUSH_CONTEXT,
            &[],
            &[],
            &[0x40, 0, 0, 1, 0x19],
        );
        assert_eq!(rc, TpmRc::VALUE.with_parameter(1));
        let (rc, _) = run(
            &mut e,
            TpmCc::FLUSH_CONTEXT,
            &[],
            &[],
            &[0x80, 0, 0, 0, 0x19],
        );
        assert_eq!(rc, TpmRc::SIZE);
        let p = create_primary(&mut e, &hmac_key_template(0));
        assert_eq!(flush_rc(&mut e, p.handle.0), TpmRc::SUCCESS);
        assert!(e.state.vol.objects.is_empty());
        // A context of a persistent handle: TPMI_DH_CONTEXT has none.
        let p = create_primary(&mut e, &hmac_key_template(0));
        evict(&mut e, TpmHandle::OWNER, p.handle, 0x8100_0001).unwrap();
        let (rc, _) = run(
            &mut e,
            TpmCc::CONTEXT_SAVE,
            &[TpmHandle(0x8100_0001)],
            &[],
            &[],
        );
        assert_eq!(rc, TpmRc::VALUE.with_handle(1));
    }

    /// Starts an unbound, unsalted HMAC session; returns its handle.
    fn start_hmac_session(e: &mut Engine) -> TpmHandle {
        let params = cat(&[&b2(&[7; 16]), &b2(&[]), &[0x00], &NULL, &[0, 0x0b]]);
        let (rc, rsp) = run(
            e,
            TpmCc::START_AUTH_SESSION,
            &[TpmHandle::NULL, TpmHandle::NULL],
            &[],
            &params,
        );
        assert_eq!(rc, TpmRc::SUCCESS, "StartAuthSession: {rc}");
        Response::parse(&rsp, TpmCc::START_AUTH_SESSION)
            .unwrap()
            .handle
            .unwrap()
    }

    #[test]
    fn a_saved_audit_session_loads_after_losing_exclusivity() {
        let mut e = engine();
        let s = start_hmac_session(&mut e);
        // GetRandom audited by the session: it becomes the exclusive audit session.
        let audit = tpm2::auth::TpmsAuthCommand {
            session_handle: s,
            nonce: tpm2::structures::Tpm2bNonce::new(&[1; 16]).unwrap(),
            attributes: tpm2::auth::TpmaSession(
                tpm2::auth::TpmaSession::CONTINUE_SESSION | tpm2::auth::TpmaSession::AUDIT,
            ),
            hmac: tpm2::structures::Tpm2bAuth::empty(),
        };
        let (rc, _) = run(&mut e, TpmCc::GET_RANDOM, &[], &[audit], &[0, 8]);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert!(e.state.vol.sessions[&s.0].audit_exclusive);
        let c = save(&mut e, s);
        // A command with sessions but without it ends the exclusivity, also while it is saved.
        let pw = pw();
        let ext = cat(&[&[0, 0, 0, 1, 0, 0x0b], &[9; 32]]);
        let (rc, _) = run(&mut e, TpmCc::PCR_EXTEND, &[TpmHandle(16)], &[pw], &ext);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert!(!e.state.vol.sessions[&s.0].audit_exclusive);
        let (rc, h) = load_rc(&mut e, &c);
        assert_eq!((rc, h), (TpmRc::SUCCESS, Some(s)));
    }

    #[test]
    fn session_contexts() {
        let mut e = engine();
        let s = start_hmac_session(&mut e);
        let c = save(&mut e, s);
        assert_eq!(c.saved_handle, s);
        assert_eq!(c.hierarchy, TpmHandle::NULL);
        assert!(!e.state.vol.sessions[&s.0].is_loaded());
        // A saved session cannot be saved again (it is not loaded).
        let (rc, _) = run(&mut e, TpmCc::CONTEXT_SAVE, &[s], &[], &[]);
        assert_eq!(rc, TpmRc::REFERENCE_H0);
        let (rc, h) = load_rc(&mut e, &c);
        assert_eq!(rc, TpmRc::SUCCESS);
        assert_eq!(h, Some(s));
        assert!(e.state.vol.sessions[&s.0].is_loaded());
        // Loading it again while it is loaded: TPM_RC_HANDLE.
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::HANDLE.with_parameter(1));
        // Save again: the first context is stale even though the session did not change.
        let c2 = save(&mut e, s);
        assert!(c2.sequence > c.sequence);
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::HANDLE.with_parameter(1));
        // Once the session has moved on (a new nonce), its own context no longer matches.
        e.state.vol.sessions.get_mut(&s.0).unwrap().nonce_tpm[0] ^= 1;
        assert_eq!(load_rc(&mut e, &c2).0, TpmRc::HANDLE.with_parameter(1));
        e.state.vol.sessions.get_mut(&s.0).unwrap().nonce_tpm[0] ^= 1;
        // Tampering is an integrity error, as for objects.
        let mut bad = c2.clone();
        let mut b = bad.context_blob.as_bytes().to_vec();
        b[100] ^= 1;
        bad.context_blob = Tpm2bContextData::new(&b).unwrap();
        assert_eq!(load_rc(&mut e, &bad).0, TpmRc::INTEGRITY.with_parameter(1));
        assert_eq!(load_rc(&mut e, &c2).0, TpmRc::SUCCESS);
        // A saved session can be flushed; its context is then refused.
        let c3 = save(&mut e, s);
        let (rc, _) = run(&mut e, TpmCc::FLUSH_CONTEXT, &[], &[], &s.0.to_be_bytes());
        assert_eq!(rc, TpmRc::SUCCESS);
        assert_eq!(load_rc(&mut e, &c3).0, TpmRc::HANDLE.with_parameter(1));
    }

    #[test]
    fn session_contexts_across_resume_restart_and_reset() {
        let mut e = engine();
        let s = start_hmac_session(&mut e);
        let c = save(&mut e, s);
        cycle(&mut e, Some(STATE), STATE);
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::SUCCESS, "after TPM Resume");
        let c = save(&mut e, s);
        cycle(&mut e, Some(STATE), CLEAR);
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::SUCCESS, "after TPM Restart");
        let c = save(&mut e, s);
        cycle(&mut e, Some(CLEAR), CLEAR);
        assert_ne!(load_rc(&mut e, &c).0, TpmRc::SUCCESS, "after TPM Reset");
    }

    #[test]
    fn session_memory_limit_on_load() {
        let mut e = engine();
        let s = start_hmac_session(&mut e);
        let c = save(&mut e, s);
        for _ in 0..MAX_LOADED_SESSIONS {
            start_hmac_session(&mut e);
        }
        assert_eq!(load_rc(&mut e, &c).0, TpmRc::SESSION_MEMORY);
    }

    fn evict(
        e: &mut Engine,
        auth: TpmHandle,
        obj: TpmHandle,
        persistent: u32,
    ) -> Result<(), TpmRc> {
        let (rc, _) = run(
            e,
            TpmCc::EVICT_CONTROL,
            &[auth, obj],
            &[pw()],
            &persistent.to_be_bytes(),
        );
        if rc == TpmRc::SUCCESS {
            Ok(())
        } else {
            Err(rc)
        }
    }

    #[test]
    fn evict_control_makes_and_removes_persistent_objects() {
        let mut e = engine();
        let p = storage_primary(&mut e);
        let public = read_public(&mut e, p.handle);
        assert!(e.take_dirty());
        evict(&mut e, TpmHandle::OWNER, p.handle, 0x8100_0001).unwrap();
        assert!(e.take_dirty(), "EvictControl changes NV");
        let persistent = TpmHandle(0x8100_0001);
        assert_eq!(read_public(&mut e, persistent), public);
        // The persistent copy is a parent like the transient one.
        let (private, pub_bytes, ..) = create(&mut e, persistent, &[], &[], &hmac_key_template(0));
        load(&mut e, p.handle, &private, &pub_bytes);
        // Errors.
        assert_eq!(
            evict(&mut e, TpmHandle::OWNER, p.handle, 0x8100_0001),
            Err(TpmRc::NV_DEFINED)
        );
        assert_eq!(
            evict(&mut e, TpmHandle::OWNER, p.handle, 0x8180_0000),
            Err(TpmRc::RANGE.with_parameter(1))
        );
        assert_eq!(
            evict(&mut e, TpmHandle::PLATFORM, p.handle, 0x8180_0000),
            Err(TpmRc::HIERARCHY.with_handle(2))
        );
        assert_eq!(
            evict(&mut e, TpmHandle::OWNER, persistent, 0x8100_0002),
            Err(TpmRc::HANDLE.with_handle(2))
        );
        let (rc, _) = run(
            &mut e,
            TpmCc::EVICT_CONTROL,
            &[TpmHandle::OWNER, p.handle],
            &[pw()],
            &[0x80, 0, 0, 1],
        );
        assert_eq!(rc, TpmRc::VALUE.with_parameter(1));
        // Evict (delete) the persistent object.
        evict(&mut e, TpmHandle::OWNER, persistent, 0x8100_0001).unwrap();
        let (rc, _) = run(&mut e, TpmCc::READ_PUBLIC, &[persistent], &[], &[]);
        assert_eq!(rc, TpmRc::HANDLE.with_handle(1));
        // Platform objects with platform authorization in the platform range.
        let pp = create_primary_raw(
            &mut e,
            TpmHandle::PLATFORM,
            &create_params(&[], &[], &hmac_key_template(0)),
        );
        flush(&mut e, TpmHandle(0x8000_0001));
        assert_eq!(
            evict(&mut e, TpmHandle::PLATFORM, pp.handle, 0x8100_0005),
            Err(TpmRc::RANGE.with_parameter(1))
        );
        assert_eq!(
            evict(&mut e, TpmHandle::OWNER, pp.handle, 0x8100_0005),
            Err(TpmRc::HIERARCHY.with_handle(2))
        );
        evict(&mut e, TpmHandle::PLATFORM, pp.handle, 0x8180_0005).unwrap();
        // Platform authorization may delete any persistent object.
        evict(&mut e, TpmHandle::OWNER, p.handle, 0x8100_0001).unwrap();
        evict(&mut e, TpmHandle::PLATFORM, persistent, 0x8100_0001).unwrap();
    }

    #[test]
    fn evict_control_refuses_temporary_objects_and_fills_up() {
        let mut e = engine();
        let null = create_primary_raw(
            &mut e,
            TpmHandle::NULL,
            &create_params(&[], &[], &hmac_key_template(0)),
        );
        assert_eq!(
            evict(&mut e, TpmHandle::OWNER, null.handle, 0x8100_0001),
            Err(TpmRc::ATTRIBUTES.with_handle(2))
        );
        flush(&mut e, null.handle);
        let st = create_primary(&mut e, &hmac_key_template(TpmaObject::ST_CLEAR));
        assert_eq!(
            evict(&mut e, TpmHandle::OWNER, st.handle, 0x8100_0001),
            Err(TpmRc::ATTRIBUTES.with_handle(2))
        );
        flush(&mut e, st.handle);
        let p = create_primary(&mut e, &hmac_key_template(0));
        let max = u32::try_from(MAX_PERSISTENT_OBJECTS).unwrap();
        for i in 0..max {
            evict(&mut e, TpmHandle::OWNER, p.handle, 0x8100_0100 + i).unwrap();
        }
        assert_eq!(
            evict(&mut e, TpmHandle::OWNER, p.handle, 0x8100_0100 + max),
            Err(TpmRc::NV_SPACE)
        );
    }

    #[test]
    fn objects_survive_save_state_and_restore() {
        let mut e = engine();
        let p = storage_primary(&mut e);
        let key = create_primary(
            &mut e,
            &rsa_template(
                FIXED_TPM | FIXED_PARENT | SDO | UWA | SIGN,
                &NULL,
                &NULL,
                1024,
            ),
        );
        evict(&mut e, TpmHandle::OWNER, p.handle, 0x8100_0001).unwrap();
        let c = save(&mut e, key.handle);
        let blob = e.save_state();
        let mut r = Engine::restore(&blob, Box::new(TestPlatform::new(5))).unwrap();
        for h in [p.handle, key.handle, TpmHandle(0x8100_0001)] {
            assert_eq!(read_public(&mut r, h), read_public(&mut e, h));
        }
        // The restored RSA key is usable (rebuilt from its prime).
        assert!(crate::engine::object::rsa_private(r.state.object(key.handle).unwrap()).is_ok());
        // A child created by one engine loads in the other, under the persistent copy.
        let (private, public, ..) = create(
            &mut e,
            TpmHandle(0x8100_0001),
            &[],
            &[],
            &hmac_key_template(0),
        );
        flush(&mut r, key.handle);
        let (h, _) = load(&mut r, TpmHandle(0x8100_0001), &private, &public);
        assert!(read_public(&mut r, h).starts_with(&public));
        // Contexts saved before the state was saved load in the restored engine.
        flush(&mut r, h);
        assert_eq!(load_rc(&mut r, &c).0, TpmRc::SUCCESS);
        // Identical answers to the same command on both engines.
        let rp1 = read_public(&mut r, TpmHandle(0x8100_0001));
        let rp2 = read_public(&mut e, TpmHandle(0x8100_0001));
        assert_eq!(rp1, rp2);
    }
}

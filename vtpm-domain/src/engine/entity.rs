//! Entities named by handles (part 1 §14–§16, part 2 §9 "interface types" for handles): which
//! handle types each TPMI_DH_/TPMI_RH_ type accepts, whether the entity exists, its Name
//! (part 1 §16), and its authValue and authPolicy.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::rc::TpmRc;
use zeroize::Zeroizing;

use super::Engine;

/// The interface type of a handle in a command's handle area (part 2 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandleKind {
    /// TPMI_DH_OBJECT: a loaded transient or persistent object.
    Object,
    /// TPMI_DH_OBJECT+: an object or TPM_RH_NULL.
    ObjectOrNull,
    /// TPMI_DH_ENTITY+.
    EntityOrNull,
    /// TPMI_DH_ENTITY: an entity with an authorization (not TPM_RH_NULL).
    Entity,
    /// TPMI_RH_HIERARCHY+: also TPM_RH_NULL.
    HierarchyOrNull,
    /// TPMI_RH_PROVISION: owner or platform.
    Provision,
    /// TPMI_RH_LOCKOUT.
    Lockout,
    /// TPMI_RH_CLEAR: lockout or platform.
    Clear,
    /// TPMI_RH_HIERARCHY_AUTH / TPMI_RH_HIERARCHY_POLICY: lockout, owner, endorsement or
    /// platform.
    HierarchyAuth,
    /// TPMI_RH_HIERARCHY: owner, endorsement or platform (not TPM_RH_NULL).
    Hierarchy,
    /// TPMI_RH_PLATFORM.
    Platform,
    /// TPMI_RH_ENDORSEMENT (the privacy administrator of the audit and time attestations).
    Endorsement,
    /// TPMI_DH_PCR: a PCR index.
    Pcr,
    /// TPMI_DH_PCR+: a PCR index or TPM_RH_NULL.
    PcrOrNull,
    /// TPMI_DH_CONTEXT: a loaded session, transient or persistent object.
    Context,
    /// TPMI_SH_POLICY: a loaded policy session.
    PolicySession,
    /// TPMI_SH_HMAC: a loaded HMAC session.
    HmacSession,
    /// TPMI_DH_PARENT+: a loaded object, a hierarchy or TPM_RH_NULL (TPM2_CreateLoaded).
    Parent,
    /// TPMI_RH_NV_INDEX: a defined NV index.
    NvIndex,
    /// TPMI_RH_NV_AUTH: owner, platform or a defined NV index.
    NvAuth,
}

/// Number of PCRs in every bank (PC Client profile).
pub(crate) const PCR_COUNT: u32 = 24;

/// Checks `h` against `kind` (TPM_RC_VALUE for a handle of the wrong type) and that it refers
/// to something present, enabled (TPM_RC_HIERARCHY). The caller adds the handle number. An
/// absent persistent object or NV index is TPM_RC_HANDLE; an absent transient object or
/// session is the warning TPM_RC_REFERENCE_H0 (as libtpms and the reference code answer: the
/// caller may have to load or re-load it).
pub(crate) fn check_handle(engine: &Engine, kind: HandleKind, h: TpmHandle) -> Result<(), TpmRc> {
    use HandleKind as K;
    let ty = h.ty();
    let hierarchy = |h: TpmHandle| -> Result<(), TpmRc> {
        if hierarchy_enabled(engine, h) {
            Ok(())
        } else {
            Err(TpmRc::HIERARCHY)
        }
    };
    match kind {
        K::Object | K::ObjectOrNull => {
            if kind == K::ObjectOrNull && h == TpmHandle::NULL {
                return Ok(());
            }
            if ty != TpmHt::TRANSIENT && ty != TpmHt::PERSISTENT {
                return Err(TpmRc::VALUE);
            }
            object_present(engine, h)
        }
        K::EntityOrNull | K::Entity => {
            if kind == K::EntityOrNull && h == TpmHandle::NULL {
                return Ok(());
            }
            match ty {
                TpmHt::TRANSIENT | TpmHt::PERSISTENT => object_present(engine, h),
                TpmHt::PCR => pcr_index(h).map(|_| ()),
                TpmHt::NV_INDEX => nv_present(engine, h),
                TpmHt::PERMANENT => match h {
                    TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM => hierarchy(h),
                    TpmHandle::LOCKOUT => Ok(()),
                    _ => Err(TpmRc::VALUE),
                },
                _ => Err(TpmRc::VALUE),
            }
        }
        K::HierarchyOrNull => match h {
            TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM => hierarchy(h),
            TpmHandle::NULL => Ok(()),
            _ => Err(TpmRc::VALUE),
        },
        K::Provision => match h {
            TpmHandle::OWNER | TpmHandle::PLATFORM => hierarchy(h),
            _ => Err(TpmRc::VALUE),
        },
        K::Lockout => {
            if h == TpmHandle::LOCKOUT {
                Ok(())
            } else {
                Err(TpmRc::VALUE)
            }
        }
        K::Clear => match h {
            TpmHandle::LOCKOUT => Ok(()),
            TpmHandle::PLATFORM => hierarchy(h),
            _ => Err(TpmRc::VALUE),
        },
        K::HierarchyAuth => match h {
            TpmHandle::LOCKOUT => Ok(()),
            TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM => hierarchy(h),
            _ => Err(TpmRc::VALUE),
        },
        K::Hierarchy => match h {
            TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM => hierarchy(h),
            _ => Err(TpmRc::VALUE),
        },
        K::Platform => {
            if h == TpmHandle::PLATFORM {
                hierarchy(h)
            } else {
                Err(TpmRc::VALUE)
            }
        }
        K::Endorsement => {
            if h == TpmHandle::ENDORSEMENT {
                hierarchy(h)
            } else {
                Err(TpmRc::VALUE)
            }
        }
        K::Pcr | K::PcrOrNull => {
            if kind == K::PcrOrNull && h == TpmHandle::NULL {
                return Ok(());
            }
            pcr_index(h).map(|_| ())
        }
        K::Context => match ty {
            // TPMI_DH_CONTEXT: transient objects and sessions, no persistent objects.
            TpmHt::TRANSIENT => object_present(engine, h),
            TpmHt::HMAC_SESSION | TpmHt::POLICY_SESSION => session_present(engine, h),
            _ => Err(TpmRc::VALUE),
        },
        K::Parent => match h {
            TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM => hierarchy(h),
            TpmHandle::NULL => Ok(()),
            _ if matches!(ty, TpmHt::TRANSIENT | TpmHt::PERSISTENT) => object_present(engine, h),
            _ => Err(TpmRc::VALUE),
        },
        K::NvIndex => {
            if ty != TpmHt::NV_INDEX {
                return Err(TpmRc::VALUE);
            }
            nv_present(engine, h)
        }
        K::NvAuth => match h {
            TpmHandle::OWNER | TpmHandle::PLATFORM => hierarchy(h),
            _ if ty == TpmHt::NV_INDEX => nv_present(engine, h),
            _ => Err(TpmRc::VALUE),
        },
        K::PolicySession | K::HmacSession => {
            let want = if kind == K::PolicySession {
                TpmHt::POLICY_SESSION
            } else {
                TpmHt::HMAC_SESSION
            };
            if ty != want {
                return Err(TpmRc::VALUE);
            }
            session_present(engine, h)
        }
    }
}

/// The PCR number of a PCR handle (TPM_RC_VALUE beyond the last PCR).
pub(crate) fn pcr_index(h: TpmHandle) -> Result<usize, TpmRc> {
    if h.0 < PCR_COUNT {
        Ok(h.0 as usize)
    } else {
        Err(TpmRc::VALUE)
    }
}

/// Whether a hierarchy (or TPM_RH_NULL, always) is enabled.
pub(crate) fn hierarchy_enabled(engine: &Engine, h: TpmHandle) -> bool {
    let v = &engine.state.vol;
    match h {
        TpmHandle::OWNER => v.sh_enable,
        TpmHandle::ENDORSEMENT => v.eh_enable,
        TpmHandle::PLATFORM => v.ph_enable,
        _ => true,
    }
}

fn object_present(engine: &Engine, h: TpmHandle) -> Result<(), TpmRc> {
    // As libtpms: a transient handle beyond TRANSIENT_LAST is no TPMI_DH_OBJECT (TPM_RC_VALUE),
    // a transient object that is not loaded is TPM_RC_REFERENCE_H0 (+ handle index, added by
    // the dispatcher), a persistent object that does not exist is TPM_RC_HANDLE.
    let transient = h.ty() == TpmHt::TRANSIENT;
    if transient && !super::object::transient_in_range(h) {
        return Err(TpmRc::VALUE);
    }
    let Some(obj) = engine.state.object(h) else {
        return Err(if transient {
            TpmRc::REFERENCE_H0
        } else {
            TpmRc::HANDLE
        });
    };
    if hierarchy_enabled(engine, obj.hierarchy) {
        Ok(())
    } else {
        Err(TpmRc::HIERARCHY)
    }
}

/// A defined NV index that its hierarchy lets be seen (the reference implementation's
/// NvIndexIsAccessible): owner indices disappear while shEnable is clear, platform-created ones
/// while phEnableNV is clear (TPM_RC_HANDLE).
fn nv_present(engine: &Engine, h: TpmHandle) -> Result<(), TpmRc> {
    let Some(index) = engine.state.perm.nv.get(h) else {
        return Err(TpmRc::HANDLE);
    };
    let v = &engine.state.vol;
    let visible = if index.has(tpm2::structures::TpmaNv::PLATFORMCREATE) {
        v.ph_enable_nv
    } else {
        v.sh_enable
    };
    if visible { Ok(()) } else { Err(TpmRc::HANDLE) }
}

fn session_present(engine: &Engine, h: TpmHandle) -> Result<(), TpmRc> {
    // A session handle beyond HMAC/POLICY_SESSION_LAST is no TPMI_SH_* / TPMI_DH_CONTEXT
    // (TPM_RC_VALUE, as libtpms).
    if (h.0 & super::session::HANDLE_INDEX_MASK) as usize >= super::session::MAX_ACTIVE_SESSIONS {
        return Err(TpmRc::VALUE);
    }
    // As the reference implementation: a session is found by index; a loaded session of the
    // other type there is TPM_RC_HANDLE, nothing loaded is TPM_RC_REFERENCE_H0 (+ handle
    // index, added by the dispatcher).
    match super::session::lookup(&engine.state.vol.sessions, h) {
        super::session::Lookup::Loaded => Ok(()),
        super::session::Lookup::WrongType => Err(TpmRc::HANDLE),
        super::session::Lookup::NotLoaded => Err(TpmRc::REFERENCE_H0),
    }
}

/// The Name of an entity (part 1 §16): nameAlg || H(public area) for objects, the handle
/// and NV indices, the handle itself for everything else.
pub(crate) fn name(engine: &Engine, h: TpmHandle) -> Vec<u8> {
    match h.ty() {
        TpmHt::NV_INDEX => match engine.state.perm.nv.get(h) {
            Some(i) => i.name(),
            None => h.0.to_be_bytes().to_vec(),
        },
        TpmHt::TRANSIENT | TpmHt::PERSISTENT => match engine.state.object(h) {
            Some(o) => o.name.clone(),
            None => h.0.to_be_bytes().to_vec(),
        },
        _ => h.0.to_be_bytes().to_vec(),
    }
}

/// The authValue of an entity (empty when it has none).
pub(crate) fn auth_value(engine: &Engine, h: TpmHandle) -> Zeroizing<Vec<u8>> {
    let p = &engine.state.perm;
    let v = &engine.state.vol;
    match h.ty() {
        TpmHt::TRANSIENT | TpmHt::PERSISTENT => engine
            .state
            .object(h)
            .map(|o| o.sensitive.auth.clone())
            .unwrap_or_default(),
        TpmHt::PCR => Zeroizing::new(Vec::new()),
        TpmHt::NV_INDEX => engine
            .state
            .perm
            .nv
            .get(h)
            .map(|i| i.auth.clone())
            .unwrap_or_default(),
        _ => match h {
            TpmHandle::OWNER => p.owner_auth.clone(),
            TpmHandle::ENDORSEMENT => p.endorsement_auth.clone(),
            TpmHandle::LOCKOUT => p.lockout_auth.clone(),
            TpmHandle::PLATFORM => v.platform_auth.clone(),
            _ => Zeroizing::new(Vec::new()),
        },
    }
}

/// The authPolicy of an entity and its hash algorithm (empty digest when none).
pub(crate) fn auth_policy(engine: &Engine, h: TpmHandle) -> (TpmAlgId, Vec<u8>) {
    let p = &engine.state.perm;
    let v = &engine.state.vol;
    match h.ty() {
        TpmHt::TRANSIENT | TpmHt::PERSISTENT => engine.state.object(h).map_or_else(
            || (TpmAlgId::NULL, Vec::new()),
            |o| (o.public.name_alg, o.public.auth_policy.as_bytes().to_vec()),
        ),
        TpmHt::NV_INDEX => engine.state.perm.nv.get(h).map_or_else(
            || (TpmAlgId::NULL, Vec::new()),
            |i| (i.public.name_alg, i.public.auth_policy.as_bytes().to_vec()),
        ),
        _ => match h {
            TpmHandle::OWNER => p.owner_policy.clone().into_parts(),
            TpmHandle::ENDORSEMENT => p.endorsement_policy.clone().into_parts(),
            TpmHandle::LOCKOUT => p.lockout_policy.clone().into_parts(),
            TpmHandle::PLATFORM => v.platform_policy.clone().into_parts(),
            _ => (TpmAlgId::NULL, Vec::new()),
        },
    }
}

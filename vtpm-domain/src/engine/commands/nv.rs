//! Non-volatile storage (TCG TPM 2.0 Library part 3 §31): TPM2_NV_DefineSpace,
//! NV_UndefineSpace, NV_UndefineSpaceSpecial, NV_ReadPublic, NV_Write, NV_Increment, NV_Extend,
//! NV_SetBits, NV_WriteLock, NV_GlobalWriteLock, NV_Read, NV_ReadLock, NV_ChangeAuth.
//!
//! The authorization of the index itself (AUTHREAD/AUTHWRITE/POLICYREAD/POLICYWRITE) is checked
//! by `auth` (part 3 §5.6); the checks of each command's "Detailed Actions" run here in the
//! order of the specification, with the response codes (and parameter numbers) the reference
//! implementation gives, as `tests/nv_vs_swtpm.rs` checks against swtpm:
//!
//! - write access (§31.3.1 NvWriteAccessChecks): WRITELOCKED → TPM_RC_NV_LOCKED; owner auth
//!   without OWNERWRITE, platform auth without PPWRITE, or another index →
//!   TPM_RC_NV_AUTHORIZATION;
//! - read access: READLOCKED → TPM_RC_NV_LOCKED; OWNERREAD/PPREAD likewise →
//!   TPM_RC_NV_AUTHORIZATION; then an unwritten index → TPM_RC_NV_UNINITIALIZED.
//!
//! PIN_PASS and PIN_FAIL indices (part 1 §37.4.4) are written and read like ordinary 8-byte
//! indices; `auth` counts the uses of their authValue.

use alloc::vec::Vec;

use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    MAX_NV_BUFFER_SIZE, Tpm2bAuth, Tpm2bMaxNvBuffer, Tpm2bName, Tpm2bNvPublic, TpmNt, TpmaNv,
    TpmsNvPublic,
};
use tpm2::{Reader, Unmarshal};

use crate::engine::Engine;
use crate::engine::commands::object::adjust_auth;
use crate::engine::crypto::hash::{HashAlg, Hasher};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::HandleKind as K;
use crate::engine::nv::NvIndex;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::NV_DEFINE_SPACE,
        handles: &[K::Provision],
        roles: &[AuthRole::User],
        nv: true,
        handler: define_space,
    },
    Entry {
        cc: TpmCc::NV_UNDEFINE_SPACE,
        handles: &[K::Provision, K::NvIndex],
        roles: &[AuthRole::User],
        nv: true,
        handler: undefine_space,
    },
    Entry {
        cc: TpmCc::NV_UNDEFINE_SPACE_SPECIAL,
        handles: &[K::NvIndex, K::Platform],
        roles: &[AuthRole::Admin, AuthRole::User],
        nv: true,
        handler: undefine_space_special,
    },
    Entry {
        cc: TpmCc::NV_READ_PUBLIC,
        handles: &[K::NvIndex],
        roles: &[],
        nv: false,
        handler: read_public,
    },
    Entry {
        cc: TpmCc::NV_WRITE,
        handles: &[K::NvAuth, K::NvIndex],
        roles: &[AuthRole::User],
        nv: true,
        handler: write,
    },
    Entry {
        cc: TpmCc::NV_INCREMENT,
        handles: &[K::NvAuth, K::NvIndex],
        roles: &[AuthRole::User],
        nv: true,
        handler: increment,
    },
    Entry {
        cc: TpmCc::NV_EXTEND,
        handles: &[K::NvAuth, K::NvIndex],
        roles: &[AuthRole::User],
        nv: true,
        handler: extend,
    },
    Entry {
        cc: TpmCc::NV_SET_BITS,
        handles: &[K::NvAuth, K::NvIndex],
        roles: &[AuthRole::User],
        nv: true,
        handler: set_bits,
    },
    Entry {
        cc: TpmCc::NV_WRITE_LOCK,
        handles: &[K::NvAuth, K::NvIndex],
        roles: &[AuthRole::User],
        nv: true,
        handler: write_lock,
    },
    Entry {
        cc: TpmCc::NV_GLOBAL_WRITE_LOCK,
        handles: &[K::Provision],
        roles: &[AuthRole::User],
        nv: true,
        handler: global_write_lock,
    },
    Entry {
        cc: TpmCc::NV_READ,
        handles: &[K::NvAuth, K::NvIndex],
        roles: &[AuthRole::User],
        nv: false,
        handler: read,
    },
    Entry {
        cc: TpmCc::NV_READ_LOCK,
        handles: &[K::NvAuth, K::NvIndex],
        roles: &[AuthRole::User],
        nv: true,
        handler: read_lock,
    },
    Entry {
        cc: TpmCc::NV_CHANGE_AUTH,
        handles: &[K::NvIndex],
        roles: &[AuthRole::Admin],
        nv: true,
        handler: change_auth,
    },
];

/// The index named by handle `n` (1-based) of the command (TPM_RC_HANDLE if it vanished).
fn index(e: &Engine, h: TpmHandle, n: u8) -> Result<&NvIndex, TpmRc> {
    e.state.perm.nv.get(h).ok_or(TpmRc::HANDLE.with_handle(n))
}

fn index_mut(e: &mut Engine, h: TpmHandle, n: u8) -> Result<&mut NvIndex, TpmRc> {
    e.state
        .perm
        .nv
        .get_mut(h)
        .ok_or(TpmRc::HANDLE.with_handle(n))
}

/// Who authorized an access, checked against the owner/platform attribute (`owner`, `pp`):
/// the owner, the platform, or the index itself (part 3 §31.3.1).
fn check_authorizer(
    auth: TpmHandle,
    nv: TpmHandle,
    a: TpmaNv,
    owner: u32,
    pp: u32,
) -> Result<(), TpmRc> {
    let ok = match auth {
        TpmHandle::OWNER => a.has(owner),
        TpmHandle::PLATFORM => a.has(pp),
        _ => auth == nv,
    };
    if ok {
        Ok(())
    } else {
        Err(TpmRc::NV_AUTHORIZATION)
    }
}

/// The write access checks (NvWriteAccessChecks).
fn write_access(auth: TpmHandle, nv: TpmHandle, a: TpmaNv) -> Result<(), TpmRc> {
    if a.has(TpmaNv::WRITELOCKED) {
        return Err(TpmRc::NV_LOCKED);
    }
    check_authorizer(auth, nv, a, TpmaNv::OWNERWRITE, TpmaNv::PPWRITE)
}

/// The read access checks (NvReadAccessChecks).
pub(crate) fn read_access(auth: TpmHandle, nv: TpmHandle, a: TpmaNv) -> Result<(), TpmRc> {
    if a.has(TpmaNv::READLOCKED) {
        return Err(TpmRc::NV_LOCKED);
    }
    check_authorizer(auth, nv, a, TpmaNv::OWNERREAD, TpmaNv::PPREAD)?;
    if a.has(TpmaNv::WRITTEN) {
        Ok(())
    } else {
        Err(TpmRc::NV_UNINITIALIZED)
    }
}

/// Offset of the low octet of TPMA_NV in a TPMS_NV_PUBLIC (nvIndex, nameAlg, then the
/// attributes' four octets).
const NT_OCTET: usize = 4 + 2 + 3;

/// Reads TPM2B_NV_PUBLIC as libtpms does: the structure is read from the bytes that follow the
/// size (whatever the size says), and only then compared with it (TPM_RC_SIZE if they differ,
/// or if the size is zero).
fn read_nv_public(r: &mut Reader<'_>) -> Result<Tpm2bNvPublic, tpm2::Error> {
    const WHAT: &str = "TPM2B_NV_PUBLIC";
    let size = usize::from(r.u16(WHAT)?);
    if size == 0 {
        return Err(tpm2::Error::TooSmall {
            what: WHAT,
            size,
            min: 1,
        });
    }
    let before = r.position();
    let public = read_tpms_nv_public(r)?;
    let actual = r.position() - before;
    if actual != size {
        return Err(tpm2::Error::SizeMismatch {
            what: WHAT,
            declared: size,
            actual,
        });
    }
    Ok(Tpm2bNvPublic::from(public))
}

/// Reads TPMS_NV_PUBLIC, accepting a TPM_NT the specification does not define: that is the
/// command's TPM_RC_ATTRIBUTES (part 3 §31.3), not an unmarshalling error, as in libtpms.
fn read_tpms_nv_public(r: &mut Reader<'_>) -> Result<TpmsNvPublic, tpm2::Error> {
    let start = r.clone();
    let err = match TpmsNvPublic::unmarshal(r) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut copy = start.clone();
    let mut bytes = copy.take_rest().to_vec();
    let Some(octet) = bytes.get_mut(NT_OCTET) else {
        return Err(err);
    };
    let nt = *octet & 0xF0;
    if nt == 0 {
        return Err(err);
    }
    *octet &= 0x0F;
    let mut again = Reader::new(&bytes);
    let mut v = TpmsNvPublic::unmarshal(&mut again)?;
    v.attributes = TpmaNv(v.attributes.0 | u32::from(nt));
    *r = start;
    r.bytes(again.position(), "TPMS_NV_PUBLIC")?;
    Ok(v)
}

/// TPM2_NV_DefineSpace (part 3 §31.3).
fn define_space(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let auth: Tpm2bAuth = ctx.param()?;
    let info = ctx.param_with(read_nv_public)?;
    ctx.finish()?;
    let p1 = |rc: TpmRc| rc.with_parameter(1);
    let p2 = |rc: TpmRc| rc.with_parameter(2);
    let public = info.nv_public;
    let a = public.attributes;
    let Some(name_hash) = HashAlg::from_alg(public.name_alg) else {
        return Err(p2(TpmRc::HASH));
    };
    let name_size = name_hash.digest_size();
    let policy_len = public.auth_policy.len();
    if policy_len != 0 && policy_len != name_size {
        return Err(p2(TpmRc::SIZE));
    }
    let Some(auth) = adjust_auth(auth.as_bytes(), public.name_alg) else {
        return Err(p1(TpmRc::SIZE));
    };
    let auth_handle = ctx.handles[0];
    if auth_handle == TpmHandle::PLATFORM && !e.state.vol.ph_enable_nv {
        return Err(TpmRc::HIERARCHY.with_handle(1));
    }
    let nt = a.nt();
    let size = usize::from(public.data_size);
    match nt {
        TpmNt::EXTEND if size != name_size => return Err(p2(TpmRc::SIZE)),
        TpmNt::COUNTER | TpmNt::BITS | TpmNt::PIN_FAIL | TpmNt::PIN_PASS if size != 8 => {
            return Err(p2(TpmRc::SIZE));
        }
        TpmNt::ORDINARY
        | TpmNt::EXTEND
        | TpmNt::COUNTER
        | TpmNt::BITS
        | TpmNt::PIN_FAIL
        | TpmNt::PIN_PASS => {}
        // Types the specification does not define.
        _ => return Err(p2(TpmRc::ATTRIBUTES)),
    }
    if nt == TpmNt::COUNTER && a.has(TpmaNv::CLEAR_STCLEAR) {
        return Err(p2(TpmRc::ATTRIBUTES));
    }
    // A PIN_FAIL index is not DA-protected (its pinCount is); neither PIN type may be written
    // with its own authValue, be globally locked or be write-locked for good.
    if nt == TpmNt::PIN_FAIL && !a.has(TpmaNv::NO_DA) {
        return Err(p2(TpmRc::ATTRIBUTES));
    }
    if matches!(nt, TpmNt::PIN_FAIL | TpmNt::PIN_PASS)
        && a.0 & (TpmaNv::AUTHWRITE | TpmaNv::GLOBALLOCK | TpmaNv::WRITEDEFINE) != 0
    {
        return Err(p2(TpmRc::ATTRIBUTES));
    }
    let any = |m: u32| a.0 & m != 0;
    if any(TpmaNv::WRITTEN | TpmaNv::WRITELOCKED | TpmaNv::READLOCKED)
        || !any(TpmaNv::OWNERREAD | TpmaNv::PPREAD | TpmaNv::AUTHREAD | TpmaNv::POLICYREAD)
        || !any(TpmaNv::OWNERWRITE | TpmaNv::PPWRITE | TpmaNv::AUTHWRITE | TpmaNv::POLICYWRITE)
        || (a.has(TpmaNv::CLEAR_STCLEAR) && a.has(TpmaNv::WRITEDEFINE))
    {
        return Err(p2(TpmRc::ATTRIBUTES));
    }
    // The creator must be able to delete the index.
    if a.has(TpmaNv::PLATFORMCREATE) != (auth_handle == TpmHandle::PLATFORM) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    if a.has(TpmaNv::POLICY_DELETE) && auth_handle != TpmHandle::PLATFORM {
        return Err(p2(TpmRc::ATTRIBUTES));
    }
    if size > MAX_NV_BUFFER_SIZE && a.has(TpmaNv::WRITEALL) {
        return Err(p2(TpmRc::SIZE));
    }
    let nv = &mut e.state.perm.nv;
    if nv.get(public.nv_index).is_some() {
        return Err(TpmRc::NV_DEFINED);
    }
    if !nv.fits(public.data_size, a.has(TpmaNv::ORDERLY)) {
        return Err(TpmRc::NV_SPACE);
    }
    nv.indices.insert(
        public.nv_index.0,
        NvIndex {
            data: alloc::vec![0; size],
            public,
            auth,
        },
    );
    Ok(())
}

/// Deletes an index, keeping a counter's value as the high-water mark for new counters.
fn delete(e: &mut Engine, h: TpmHandle) {
    let nv = &mut e.state.perm.nv;
    if let Some(index) = nv.indices.remove(&h.0) {
        if index.nt() == TpmNt::COUNTER {
            nv.max_counter = nv.max_counter.max(index.value_u64());
        }
    }
}

/// TPM2_NV_UndefineSpace (part 3 §31.4).
fn undefine_space(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let (auth, h) = (ctx.handles[0], ctx.handles[1]);
    let index = index(e, h, 2)?;
    if index.has(TpmaNv::POLICY_DELETE) {
        return Err(TpmRc::ATTRIBUTES.with_handle(2));
    }
    if auth == TpmHandle::OWNER && index.has(TpmaNv::PLATFORMCREATE) {
        return Err(TpmRc::NV_AUTHORIZATION);
    }
    delete(e, h);
    Ok(())
}

/// TPM2_NV_UndefineSpaceSpecial (part 3 §31.5): the index's policy (ADMIN role) and platform
/// authorization delete an index with POLICY_DELETE.
fn undefine_space_special(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let h = ctx.handles[0];
    if !index(e, h, 1)?.has(TpmaNv::POLICY_DELETE) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    delete(e, h);
    Ok(())
}

/// TPM2_NV_ReadPublic (part 3 §31.6).
fn read_public(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let index = index(e, ctx.handles[0], 1)?;
    let public = Tpm2bNvPublic::from(index.public.clone());
    let name = Tpm2bName::new(&index.name()).map_err(|_| TpmRc::FAILURE)?;
    ctx.put(&public);
    ctx.put(&name);
    Ok(())
}

/// Write access to an index that is not a counter, bit field or extend index.
fn writable(e: &Engine, ctx: &Ctx) -> Result<(), TpmRc> {
    let (auth, h) = (ctx.handles[0], ctx.handles[1]);
    write_access(auth, h, index(e, h, 2)?.attrs())
}

/// TPM2_NV_Write (part 3 §31.7).
fn write(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bMaxNvBuffer = ctx.param()?;
    let offset: u16 = ctx.param()?;
    ctx.finish()?;
    writable(e, ctx)?;
    let index = index_mut(e, ctx.handles[1], 2)?;
    // Counters, bit fields and extend indices have their own commands.
    if matches!(index.nt(), TpmNt::COUNTER | TpmNt::BITS | TpmNt::EXTEND) {
        return Err(TpmRc::ATTRIBUTES);
    }
    let (offset, len, size) = (
        usize::from(offset),
        data.len(),
        usize::from(index.public.data_size),
    );
    if offset > size {
        return Err(TpmRc::VALUE.with_parameter(2));
    }
    if len > size - offset || (index.has(TpmaNv::WRITEALL) && len < size) {
        return Err(TpmRc::NV_RANGE);
    }
    if !index.has(TpmaNv::WRITTEN) {
        // As libtpms: the bytes a first (partial) write of an ordinary index leaves out read
        // as 0xFF (erased NV), or as zero for an ORDERLY one (which libtpms keeps in RAM).
        // libtpms does not clear other types (only PIN indices can be written partially):
        // their other bytes are whatever its NV held; here they are zero.
        let fill = if index.nt() == TpmNt::ORDINARY && !index.has(TpmaNv::ORDERLY) {
            0xFF
        } else {
            0
        };
        index.data.fill(fill);
    }
    let Some(dst) = index.data.get_mut(offset..offset + len) else {
        return Err(TpmRc::NV_RANGE);
    };
    dst.copy_from_slice(data.as_bytes());
    index.set(TpmaNv::WRITTEN, true);
    Ok(())
}

/// TPM2_NV_Increment (part 3 §31.8): an unwritten counter starts from the high-water mark.
fn increment(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    writable(e, ctx)?;
    let nv = &mut e.state.perm.nv;
    let start = nv.max_counter;
    let index = nv
        .get_mut(ctx.handles[1])
        .ok_or(TpmRc::HANDLE.with_handle(2))?;
    if index.nt() != TpmNt::COUNTER {
        return Err(TpmRc::ATTRIBUTES.with_handle(2));
    }
    let value = if index.has(TpmaNv::WRITTEN) {
        index.value_u64()
    } else {
        start
    };
    index.set_u64(value.wrapping_add(1));
    Ok(())
}

/// TPM2_NV_Extend (part 3 §31.9): data = H_nameAlg(data || input).
fn extend(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let input: Tpm2bMaxNvBuffer = ctx.param()?;
    ctx.finish()?;
    writable(e, ctx)?;
    let index = index_mut(e, ctx.handles[1], 2)?;
    if index.nt() != TpmNt::EXTEND {
        return Err(TpmRc::ATTRIBUTES.with_handle(2));
    }
    let Some(alg) = HashAlg::from_alg(index.public.name_alg) else {
        return Err(TpmRc::FAILURE);
    };
    let mut h = Hasher::new(alg);
    if index.has(TpmaNv::WRITTEN) {
        h.update(&index.data);
    } else {
        h.update(&alloc::vec![0u8; alg.digest_size()]);
    }
    h.update(input.as_bytes());
    let new: Vec<u8> = h.finish();
    if new.len() != index.data.len() {
        return Err(TpmRc::FAILURE);
    }
    index.data = new;
    index.set(TpmaNv::WRITTEN, true);
    Ok(())
}

/// TPM2_NV_SetBits (part 3 §31.10).
fn set_bits(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let bits: u64 = ctx.param()?;
    ctx.finish()?;
    writable(e, ctx)?;
    let index = index_mut(e, ctx.handles[1], 2)?;
    if index.nt() != TpmNt::BITS {
        return Err(TpmRc::ATTRIBUTES.with_handle(2));
    }
    let old = if index.has(TpmaNv::WRITTEN) {
        index.value_u64()
    } else {
        0
    };
    index.set_u64(old | bits);
    Ok(())
}

/// TPM2_NV_WriteLock (part 3 §31.11): an index already locked is no error.
fn write_lock(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let (auth, h) = (ctx.handles[0], ctx.handles[1]);
    let index = index_mut(e, h, 2)?;
    match write_access(auth, h, index.attrs()) {
        Ok(()) => {}
        Err(TpmRc::NV_AUTHORIZATION) => return Err(TpmRc::NV_AUTHORIZATION),
        Err(_) => return Ok(()),
    }
    if !index.has(TpmaNv::WRITEDEFINE) && !index.has(TpmaNv::WRITE_STCLEAR) {
        return Err(TpmRc::ATTRIBUTES.with_handle(2));
    }
    index.set(TpmaNv::WRITELOCKED, true);
    Ok(())
}

/// TPM2_NV_GlobalWriteLock (part 3 §31.12): every GLOBALLOCK index becomes write-locked.
fn global_write_lock(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    for index in e.state.perm.nv.indices.values_mut() {
        if index.has(TpmaNv::GLOBALLOCK) {
            index.set(TpmaNv::WRITELOCKED, true);
        }
    }
    Ok(())
}

/// TPM2_NV_Read (part 3 §31.13).
fn read(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let size: u16 = ctx.param()?;
    let offset: u16 = ctx.param()?;
    ctx.finish()?;
    let (auth, h) = (ctx.handles[0], ctx.handles[1]);
    let index = index(e, h, 2)?;
    read_access(auth, h, index.attrs())?;
    let (size, offset) = (usize::from(size), usize::from(offset));
    if size > MAX_NV_BUFFER_SIZE {
        return Err(TpmRc::VALUE.with_parameter(1));
    }
    let total = usize::from(index.public.data_size);
    if offset > total {
        return Err(TpmRc::VALUE.with_parameter(2));
    }
    if size > total - offset {
        return Err(TpmRc::NV_RANGE);
    }
    let bytes = index
        .data
        .get(offset..offset + size)
        .ok_or(TpmRc::NV_RANGE)?;
    let out = Tpm2bMaxNvBuffer::new(bytes).map_err(|_| TpmRc::FAILURE)?;
    ctx.put(&out);
    Ok(())
}

/// TPM2_NV_ReadLock (part 3 §31.14): an index already read-locked is no error, nor is an
/// unwritten one.
fn read_lock(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let (auth, h) = (ctx.handles[0], ctx.handles[1]);
    let index = index_mut(e, h, 2)?;
    match read_access(auth, h, index.attrs()) {
        Ok(()) | Err(TpmRc::NV_UNINITIALIZED) => {}
        Err(TpmRc::NV_LOCKED) => return Ok(()),
        Err(rc) => return Err(rc),
    }
    if !index.has(TpmaNv::READ_STCLEAR) {
        return Err(TpmRc::ATTRIBUTES.with_handle(2));
    }
    index.set(TpmaNv::READLOCKED, true);
    Ok(())
}

/// TPM2_NV_ChangeAuth (part 3 §31.15): the ADMIN role, so only with the index's policy.
fn change_auth(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let new_auth: Tpm2bAuth = ctx.param()?;
    ctx.finish()?;
    let index = index_mut(e, ctx.handles[0], 1)?;
    let auth = adjust_auth(new_auth.as_bytes(), index.public.name_alg)
        .ok_or(TpmRc::SIZE.with_parameter(1))?;
    index.auth = auth;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::engine::crypto::hash::digest;
    use crate::engine::testutil::{engine, expect_rc, ok_params, pw, pw_with};
    use tpm2::Marshal;
    use tpm2::alg::TpmAlgId;
    use tpm2::structures::Tpm2bDigest;

    const H: TpmHandle = TpmHandle(0x0150_0001);

    fn define_params(auth: &[u8], attrs: u32, size: u16) -> Vec<u8> {
        let public = TpmsNvPublic {
            nv_index: H,
            name_alg: TpmAlgId::SHA256,
            attributes: TpmaNv(attrs),
            auth_policy: Tpm2bDigest::empty(),
            data_size: size,
        };
        let mut p = Tpm2bAuth::new(auth).unwrap().to_bytes();
        p.extend(Tpm2bNvPublic::from(public).to_bytes());
        p
    }

    fn define(e: &mut Engine, attrs: u32, size: u16) {
        let p = define_params(b"pw", attrs, size);
        ok_params(e, TpmCc::NV_DEFINE_SPACE, &[TpmHandle::OWNER], &[pw()], &p);
    }

    const RW: u32 = TpmaNv::AUTHREAD | TpmaNv::AUTHWRITE;

    #[test]
    fn define_checks_carry_their_numbers() {
        let mut e = engine();
        let cc = TpmCc::NV_DEFINE_SPACE;
        let own = [TpmHandle::OWNER];
        let cases = [
            (
                define_params(b"pw", TpmaNv::AUTHWRITE, 8),
                TpmRc::ATTRIBUTES.with_parameter(2),
            ),
            (
                define_params(&[1; 33], RW, 8),
                TpmRc::SIZE.with_parameter(1),
            ),
            (
                define_params(b"", TpmaNv(RW).with_nt(TpmNt::COUNTER).0, 4),
                TpmRc::SIZE.with_parameter(2),
            ),
            (
                define_params(b"", RW | TpmaNv::PLATFORMCREATE, 8),
                TpmRc::ATTRIBUTES.with_handle(1),
            ),
        ];
        for (p, want) in cases {
            expect_rc(&mut e, cc, &own, &[pw()], &p, want);
        }
        assert!(e.state.perm.nv.indices.is_empty());
    }

    #[test]
    fn name_is_the_hash_of_the_public_area_and_tracks_written() {
        let mut e = engine();
        define(&mut e, RW, 4);
        let before = e.state.perm.nv.get(H).unwrap().name();
        let public = e.state.perm.nv.get(H).unwrap().public.to_bytes();
        let mut want = TpmAlgId::SHA256.0.to_be_bytes().to_vec();
        want.extend(digest(HashAlg::Sha256, &[&public]));
        assert_eq!(before, want);
        let mut p = Tpm2bMaxNvBuffer::new(&[1, 2]).unwrap().to_bytes();
        p.extend(1u16.to_be_bytes());
        ok_params(&mut e, TpmCc::NV_WRITE, &[H, H], &[pw_with(b"pw")], &p);
        let index = e.state.perm.nv.get(H).unwrap();
        assert!(index.has(TpmaNv::WRITTEN));
        assert_ne!(index.name(), before);
        assert_eq!(index.data, [0xFF, 1, 2, 0xFF]);
    }

    #[test]
    fn access_checks_in_order() {
        let mut e = engine();
        define(&mut e, RW | TpmaNv::WRITE_STCLEAR, 8);
        let read = |size: u16, off: u16| {
            let mut p = size.to_be_bytes().to_vec();
            p.extend(off.to_be_bytes());
            p
        };
        let own_read = [TpmHandle::OWNER, H];
        // No OWNERREAD: the owner may not read.
        expect_rc(
            &mut e,
            TpmCc::NV_READ,
            &own_read,
            &[pw()],
            &read(1, 0),
            TpmRc::NV_AUTHORIZATION,
        );
        let me = [H, H];
        let auth = [pw_with(b"pw")];
        expect_rc(
            &mut e,
            TpmCc::NV_READ,
            &me,
            &auth,
            &read(1, 0),
            TpmRc::NV_UNINITIALIZED,
        );
        let mut w = Tpm2bMaxNvBuffer::new(&[7; 8]).unwrap().to_bytes();
        w.extend(0u16.to_be_bytes());
        ok_params(&mut e, TpmCc::NV_WRITE, &me, &auth, &w);
        expect_rc(
            &mut e,
            TpmCc::NV_READ,
            &me,
            &auth,
            &read(9, 0),
            TpmRc::NV_RANGE,
        );
        expect_rc(
            &mut e,
            TpmCc::NV_READ,
            &me,
            &auth,
            &read(1, 9),
            TpmRc::VALUE.with_parameter(2),
        );
        expect_rc(
            &mut e,
            TpmCc::NV_READ,
            &me,
            &auth,
            &read(1025, 0),
            TpmRc::VALUE.with_parameter(1),
        );
        ok_params(&mut e, TpmCc::NV_WRITE_LOCK, &me, &auth, &[]);
        expect_rc(&mut e, TpmCc::NV_WRITE, &me, &auth, &w, TpmRc::NV_LOCKED);
        // Locking again is no error; the lock is checked before the index type.
        ok_params(&mut e, TpmCc::NV_WRITE_LOCK, &me, &auth, &[]);
        expect_rc(
            &mut e,
            TpmCc::NV_INCREMENT,
            &me,
            &auth,
            &[],
            TpmRc::NV_LOCKED,
        );
    }

    #[test]
    fn counter_high_water_mark() {
        let mut e = engine();
        let counter = TpmaNv(RW).with_nt(TpmNt::COUNTER).0;
        define(&mut e, counter, 8);
        let me = [H, H];
        let auth = [pw_with(b"pw")];
        for _ in 0..3 {
            ok_params(&mut e, TpmCc::NV_INCREMENT, &me, &auth, &[]);
        }
        assert_eq!(e.state.perm.nv.get(H).unwrap().value_u64(), 3);
        ok_params(
            &mut e,
            TpmCc::NV_UNDEFINE_SPACE,
            &[TpmHandle::OWNER, H],
            &[pw()],
            &[],
        );
        assert_eq!(e.state.perm.nv.max_counter, 3);
        define(&mut e, counter, 8);
        ok_params(&mut e, TpmCc::NV_INCREMENT, &me, &auth, &[]);
        assert_eq!(e.state.perm.nv.get(H).unwrap().value_u64(), 4);
    }
}

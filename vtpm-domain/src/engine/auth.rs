//! The authorization area of commands and responses: TCG TPM 2.0 Library part 1 §19
//! ("Authorizations and Acknowledgments") and §21 ("Session-based encryption"), with the order
//! of the checks and their response codes from part 3 §5.6 ("Authorization Checks", rev 1.59
//! numbering) and the response side from part 1 §18 ("Response Authorization").
//!
//! - Password authorizations: the HMAC field holds the authValue; both are compared with
//!   trailing zeros removed, in constant time.
//! - HMAC sessions (part 1 §19.6 "HMAC computation"): `authHMAC = HMAC_authHash(sessionKey ||
//!   authValue, cpHash || nonceCaller || nonceTPM [|| nonceTPMdecrypt] [|| nonceTPMencrypt] ||
//!   sessionAttributes)` with `cpHash = H_authHash(commandCode || Name1 || Name2 || Name3 ||
//!   parameters)`. The authValue is left out when the session is bound to the entity it
//!   authorizes ("bound sessions"), and the extra nonces go only into the first session's HMAC
//!   when other sessions decrypt or encrypt. The response HMAC is `HMAC(key, rpHash ||
//!   nonceTPM || nonceCaller || sessionAttributes)` with `rpHash = H(TPM_RC_SUCCESS ||
//!   commandCode || parameters)` and a fresh nonceTPM ("nonce rolling").
//! - Policy sessions (part 1 §19.7): the session's policyDigest must equal the entity's
//!   authPolicy, and the assertions recorded by policy commands (command code, locality,
//!   cpHash/nameHash/template, timeout, PCR counter, physical presence) must hold.
//! - Roles (part 1 §19.2): USER with the authValue only if the object has userWithAuth;
//!   ADMIN with the authValue only for objects without adminWithPolicy; DUP always by policy.
//! - Parameter encryption (part 1 §21): the data of the first TPM2B parameter, with AES-CFB
//!   under `KDFa(authHash, sessionKey || authValue, "CFB", nonceNewer, nonceOlder, keyBits +
//!   128)` (key || IV) or with XOR obfuscation (`KDFa(authHash, sessionKey || authValue, "XOR",
//!   nonceNewer, nonceOlder, ...)`).
//! - Session audit: `auditDigest = H(auditDigest || cpHash || rpHash)`, restarted (and made the
//!   exclusive audit session) on first use and on auditReset.
//! - Dictionary-attack protection (part 1 §19.8): failures against DA-protected entities count
//!   in failedTries (one is forgotten per recoveryTime seconds; recoveryTime 0 disables the
//!   protection); at maxTries those entities are locked out (TPM_RC_LOCKOUT). A lockoutAuth
//!   failure blocks lockoutAuth for lockoutRecovery seconds.
//!
//! Where the specification leaves a choice, this module does what the reference
//! implementation (and so libtpms and swtpm) does, so that clients see the same behaviour.

use alloc::vec::Vec;

use tpm2::auth::{TpmaSession, TpmsAuthCommand, TpmsAuthResponse};
use tpm2::cc::{CommandInfo, TpmCc};
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::rc::TpmRc;
use tpm2::structures::{Tpm2bAuth, Tpm2bNonce, TpmaObject, TpmtSymDef};
use zeroize::Zeroizing;

use super::Engine;
use super::crypto::hash::{HashAlg, Hasher, Hmac};
use super::crypto::kdf::kdfa;
use super::crypto::sym::{cfb_decrypt, cfb_encrypt, xor_obfuscate};
use super::dispatch::{AuthRole, Entry};
use super::entity;
use super::session::{Lookup, PolicyBinding, Session, SessionKind, lookup};
use super::state::Secret;

/// One session of a command's authorization area, as authorization left it.
struct Slot {
    /// TPM_RS_PW or the session handle.
    handle: TpmHandle,
    /// sessionAttributes as received (auditExclusive updated in the response).
    attributes: TpmaSession,
    /// nonceCaller.
    nonce_caller: Vec<u8>,
    /// The caller sent an empty HMAC.
    hmac_empty: bool,
    /// The handle this session authorizes (`None` for audit/encrypt/decrypt-only sessions).
    assoc: Option<TpmHandle>,
    /// The entity's authValue is part of the HMAC key.
    include_auth: bool,
}

impl Slot {
    fn is_password(&self) -> bool {
        self.handle == TpmHandle::PASSWORD
    }
}

/// What the response needs to know about each session of the command.
pub(crate) struct AuthContext {
    slots: Vec<Slot>,
    /// The session that encrypts the first response parameter.
    encrypt: Option<usize>,
    /// The audit session.
    audit: Option<usize>,
    /// cpHash (with the audit session's hash) of the command as received.
    audit_cp_hash: Vec<u8>,
    /// The command may carry sessions at all (for the exclusive-audit bookkeeping).
    sessions_allowed: bool,
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `v` without its trailing zero octets: authValues are compared and used this way.
pub(crate) fn trim_zeros(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &v[..end]
}

/// The authValue of an entity with trailing zeros removed.
pub(crate) fn auth_value(engine: &Engine, h: TpmHandle) -> Secret {
    let full = entity::auth_value(engine, h);
    Zeroizing::new(trim_zeros(&full).to_vec())
}

/// `cpHash = H(commandCode || Names of all handles || parameters)` (part 1 §18.7).
pub(crate) fn cp_hash(alg: HashAlg, cc: TpmCc, names: &[Vec<u8>], params: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    h.update(&cc.0.to_be_bytes());
    for n in names {
        h.update(n);
    }
    h.update(params);
    h.finish()
}

/// `rpHash = H(TPM_RC_SUCCESS || commandCode || parameters)` (part 1 §18.9).
pub(crate) fn rp_hash(alg: HashAlg, cc: TpmCc, params: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    h.update(&TpmRc::SUCCESS.0.to_be_bytes());
    h.update(&cc.0.to_be_bytes());
    h.update(params);
    h.finish()
}

/// A session HMAC, command or response (part 1 §19.6 "HMAC computation"):
/// `HMAC(key, digest || nonceNewer || nonceOlder || extra... || sessionAttributes)`.
pub(crate) fn session_hmac(
    alg: HashAlg,
    key: &[u8],
    digest: &[u8],
    nonce_newer: &[u8],
    nonce_older: &[u8],
    extra: &[&[u8]],
    attributes: TpmaSession,
) -> Vec<u8> {
    let mut m = Hmac::new(alg, key);
    m.update(digest);
    m.update(nonce_newer);
    m.update(nonce_older);
    for e in extra {
        m.update(e);
    }
    m.update(&[attributes.0]);
    m.finish()
}

/// Encrypts (`encrypt`) or decrypts `data` in place with the session's parameter cipher
/// (part 1 §21.2 XOR, §21.3 CFB). `key` is sessionKey || authValue.
pub(crate) fn crypt_parameter(
    session: &Session,
    key: &[u8],
    nonce_newer: &[u8],
    nonce_older: &[u8],
    data: &mut [u8],
    encrypt: bool,
) -> Result<(), TpmRc> {
    match session.symmetric {
        TpmtSymDef::Xor { .. } => {
            xor_obfuscate(session.hash, key, nonce_newer, nonce_older, data);
            Ok(())
        }
        TpmtSymDef::Aes { key_bits, .. } => {
            let key_len = usize::from(key_bits / 8);
            let bits = u32::from(key_bits) + 128;
            let stream = kdfa(session.hash, key, b"CFB", nonce_newer, nonce_older, bits);
            let (k, iv) = stream.split_at(key_len.min(stream.len()));
            let r = if encrypt {
                cfb_encrypt(k, iv, data)
            } else {
                cfb_decrypt(k, iv, data)
            };
            r.map_err(|_| TpmRc::FAILURE)
        }
        _ => Err(TpmRc::SYMMETRIC),
    }
}

/// The data bytes of the TPM2B at the start of `params` (TPM_RC_INSUFFICIENT without a size,
/// TPM_RC_SIZE if the size runs past the end).
fn first_tpm2b(params: &mut [u8]) -> Result<&mut [u8], TpmRc> {
    if params.len() < 2 {
        return Err(TpmRc::INSUFFICIENT);
    }
    let n = usize::from(u16::from_be_bytes([params[0], params[1]]));
    let rest = &mut params[2..];
    if n > rest.len() {
        return Err(TpmRc::SIZE);
    }
    Ok(&mut rest[..n])
}

fn session_number(i: usize) -> u8 {
    u8::try_from(i + 1).unwrap_or(u8::MAX)
}

/// TPM_RC_REFERENCE_S0 + `i`.
fn reference_s(i: usize) -> TpmRc {
    TpmRc(TpmRc::REFERENCE_S0.0 + u32::try_from(i).unwrap_or(0).min(6))
}

/// Digests computed once per hash algorithm.
#[derive(Default)]
struct DigestCache(Vec<(HashAlg, Vec<u8>)>);

impl DigestCache {
    fn get(&mut self, alg: HashAlg, compute: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
        if let Some((_, d)) = self.0.iter().find(|(a, _)| *a == alg) {
            return d.clone();
        }
        let d = compute();
        self.0.push((alg, d.clone()));
        d
    }
}

/// The command being authorized.
struct Command<'a> {
    cc: TpmCc,
    entry: &'a Entry,
    names: Vec<Vec<u8>>,
    params: &'a [u8],
    cp: DigestCache,
}

impl Command<'_> {
    fn cp_hash(&mut self, alg: HashAlg) -> Vec<u8> {
        let (cc, names, params) = (self.cc, &self.names, self.params);
        self.cp.get(alg, || cp_hash(alg, cc, names, params))
    }

    /// The role the `i`-th authorization handle is checked for.
    fn role(&self, i: usize) -> AuthRole {
        self.entry.roles.get(i).copied().unwrap_or(AuthRole::User)
    }
}

// ---------------------------------------------------------------------------------------------
// Dictionary-attack protection (part 1 §19.8)
// ---------------------------------------------------------------------------------------------

/// Forgets the failures whose recovery time has passed and re-enables lockoutAuth after
/// lockoutRecovery (part 1 §19.8). Runs before every command.
pub(crate) fn da_self_heal(engine: &mut Engine) {
    let now = engine.state.perm.clock;
    let da = &mut engine.state.perm.da;
    let mut changed = false;
    if da.failed_tries != 0 {
        if da.recovery_time == 0 {
            // Protection is disabled: nothing counts.
            da.failed_tries = 0;
            changed = true;
        } else {
            let period = u64::from(da.recovery_time).saturating_mul(1000);
            let healed = now.saturating_sub(da.last_tick) / period;
            if healed != 0 {
                let n = u32::try_from(healed).unwrap_or(u32::MAX);
                da.failed_tries = da.failed_tries.saturating_sub(n);
                da.last_tick = da.last_tick.saturating_add(healed.saturating_mul(period));
                changed = true;
            }
        }
    }
    if da.lockout_auth_locked && da.lockout_recovery != 0 {
        let period = u64::from(da.lockout_recovery).saturating_mul(1000);
        if now.saturating_sub(da.lockout_failed_at) >= period {
            da.lockout_auth_locked = false;
            changed = true;
        }
    }
    if changed {
        engine.dirty = true;
    }
}

/// Whether the entity is exempt from dictionary-attack protection: every permanent handle
/// except TPM_RH_LOCKOUT, objects with noDA, PCRs (part 1 §19.8).
pub(crate) fn da_exempt(engine: &Engine, h: TpmHandle) -> bool {
    match h.ty() {
        TpmHt::PERMANENT => h != TpmHandle::LOCKOUT,
        TpmHt::TRANSIENT | TpmHt::PERSISTENT => engine
            .state
            .object(h)
            .is_none_or(|o| o.public.object_attributes.has(TpmaObject::NO_DA)),
        TpmHt::PCR => true,
        TpmHt::NV_INDEX => engine
            .state
            .perm
            .nv
            .get(h)
            .is_none_or(|i| i.has(tpm2::structures::TpmaNv::NO_DA)),
        _ => false,
    }
}

/// Counts a use of a PIN index's authValue (`nv::NvIndex::pin_checked`).
fn pin_checked(engine: &mut Engine, h: TpmHandle, success: bool) {
    if h.ty() != TpmHt::NV_INDEX {
        return;
    }
    let changed = engine
        .state
        .perm
        .nv
        .get_mut(h)
        .is_some_and(|i| i.is_pin() && i.pin_checked(success));
    if changed {
        engine.dirty = true;
    }
}

/// TPM_RC_LOCKOUT if the TPM is in lockout for a DA-protected entity, or, with
/// `lockout_auth`, if lockoutAuth is blocked.
fn check_locked_out(engine: &Engine, lockout_auth: bool) -> Result<(), TpmRc> {
    let da = &engine.state.perm.da;
    let locked = if lockout_auth {
        da.lockout_auth_locked
    } else {
        da.failed_tries >= da.max_tries
    };
    if locked { Err(TpmRc::LOCKOUT) } else { Ok(()) }
}

/// An authorization failure: counts it against DA when it applies (TPM_RC_AUTH_FAIL),
/// otherwise TPM_RC_BAD_AUTH.
fn register_failure(engine: &mut Engine, slot: &Slot) -> TpmRc {
    let mut handle = slot.assoc.unwrap_or(TpmHandle::UNASSIGNED);
    if slot.is_password() {
        if da_exempt(engine, handle) {
            return TpmRc::BAD_AUTH;
        }
    } else {
        let (da_bound, lockout_bound) = engine
            .state
            .vol
            .sessions
            .get(&slot.handle.0)
            .map_or((false, false), |s| (s.da_bound, s.lockout_bound));
        if lockout_bound {
            handle = TpmHandle::LOCKOUT;
        }
        if !da_bound && (da_exempt(engine, handle) || !slot.include_auth) {
            return TpmRc::BAD_AUTH;
        }
    }
    let now = engine.state.perm.clock;
    let da = &mut engine.state.perm.da;
    if handle == TpmHandle::LOCKOUT {
        da.lockout_auth_locked = true;
        da.lockout_failed_at = now;
    } else {
        if da.recovery_time != 0 {
            da.failed_tries = da.failed_tries.saturating_add(1);
        }
        da.last_tick = now;
    }
    engine.dirty = true;
    TpmRc::AUTH_FAIL
}

// ---------------------------------------------------------------------------------------------
// Availability of authValue and authPolicy (part 1 §19.2, part 3 §5.6)
// ---------------------------------------------------------------------------------------------

/// A policy session is required: the DUP role always, the ADMIN role on anything but an object
/// without adminWithPolicy.
fn policy_required(engine: &Engine, h: TpmHandle, role: AuthRole) -> bool {
    match role {
        AuthRole::Admin => match h.ty() {
            TpmHt::TRANSIENT | TpmHt::PERSISTENT => engine.state.object(h).is_none_or(|o| {
                o.public
                    .object_attributes
                    .has(TpmaObject::ADMIN_WITH_POLICY)
            }),
            _ => true,
        },
        AuthRole::Dup => true,
        AuthRole::User => false,
    }
}

/// Commands that write an NV index for authorization purposes (the reference
/// implementation's IsWriteOperation): they need AUTHWRITE / POLICYWRITE, others AUTHREAD /
/// POLICYREAD.
fn is_nv_write(cc: TpmCc) -> bool {
    matches!(
        cc,
        TpmCc::NV_WRITE
            | TpmCc::NV_INCREMENT
            | TpmCc::NV_SET_BITS
            | TpmCc::NV_EXTEND
            | TpmCc::NV_WRITE_LOCK
    )
}

/// Whether an NV index's attributes allow `mask_write` (write commands) or `mask_read`.
fn nv_allows(engine: &Engine, h: TpmHandle, cc: TpmCc, mask_write: u32, mask_read: u32) -> bool {
    engine.state.perm.nv.get(h).is_some_and(|i| {
        i.has(if is_nv_write(cc) {
            mask_write
        } else {
            mask_read
        })
    })
}

/// The authValue may be used for this role.
fn auth_value_available(engine: &Engine, h: TpmHandle, role: AuthRole, cc: TpmCc) -> bool {
    match h.ty() {
        TpmHt::PERMANENT => matches!(
            h,
            TpmHandle::OWNER
                | TpmHandle::ENDORSEMENT
                | TpmHandle::PLATFORM
                | TpmHandle::LOCKOUT
                | TpmHandle::NULL
        ),
        TpmHt::TRANSIENT | TpmHt::PERSISTENT => engine.state.object(h).is_some_and(|o| {
            let a = o.public.object_attributes;
            o.sequence.is_some()
                || (!o.public_only
                    && (a.has(TpmaObject::USER_WITH_AUTH)
                        || (role == AuthRole::Admin && !a.has(TpmaObject::ADMIN_WITH_POLICY))))
        }),
        // Part 1 §37.3: an index's authValue authorizes writes with AUTHWRITE, reads with
        // AUTHREAD.
        // A PIN index's authValue authorizes reads while the index is written and pinCount
        // is below pinLimit (part 1 §37.4.4), whatever AUTHREAD says.
        TpmHt::NV_INDEX => {
            use tpm2::structures::TpmaNv;
            match engine.state.perm.nv.get(h) {
                Some(i) if i.is_pin() && !is_nv_write(cc) => i.pin_open(),
                _ => nv_allows(engine, h, cc, TpmaNv::AUTHWRITE, TpmaNv::AUTHREAD),
            }
        }
        TpmHt::PCR => true,
        _ => false,
    }
}

/// The entity has a policy that a policy session may satisfy.
fn auth_policy_available(engine: &Engine, h: TpmHandle, role: AuthRole, cc: TpmCc) -> bool {
    match h.ty() {
        TpmHt::PERMANENT => {
            matches!(
                h,
                TpmHandle::OWNER
                    | TpmHandle::ENDORSEMENT
                    | TpmHandle::PLATFORM
                    | TpmHandle::LOCKOUT
            ) && !entity::auth_policy(engine, h).1.is_empty()
        }
        TpmHt::TRANSIENT | TpmHt::PERSISTENT => engine
            .state
            .object(h)
            .is_some_and(|o| !o.public_only && o.sequence.is_none()),
        // POLICYWRITE for writes, POLICYREAD for reads; the ADMIN role (NV_ChangeAuth,
        // NV_UndefineSpaceSpecial) only needs a policy.
        TpmHt::NV_INDEX => {
            use tpm2::structures::TpmaNv;
            !entity::auth_policy(engine, h).1.is_empty()
                && (role == AuthRole::Admin
                    || nv_allows(engine, h, cc, TpmaNv::POLICYWRITE, TpmaNv::POLICYREAD))
        }
        // No PCR belongs to a policy group.
        _ => false,
    }
}

/// The session is bound to `h` (same Name, same authValue as at binding).
fn is_bind_entity(engine: &Engine, session: &Session, h: TpmHandle) -> bool {
    session.bound.as_ref().is_some_and(|b| {
        b.name == entity::name(engine, h) && ct_eq(&b.auth, &auth_value(engine, h))
    })
}

// ---------------------------------------------------------------------------------------------
// Authorization checks (part 3 §5.6)
// ---------------------------------------------------------------------------------------------

/// The policy assertions of a policy session (part 1 §19.7).
fn check_policy(
    engine: &Engine,
    cmd: &mut Command<'_>,
    session: &Session,
    i: usize,
    h: TpmHandle,
) -> Result<(), TpmRc> {
    let p = &session.policy;
    if cmd.cc == TpmCc::POLICY_SECRET && !p.password_needed && !p.auth_value_needed {
        return Err(TpmRc::MODE);
    }
    if p.pcr_counter
        .is_some_and(|c| c != engine.state.vol.pcr.update_counter)
    {
        return Err(TpmRc::PCR_CHANGED);
    }
    let (alg, policy) = entity::auth_policy(engine, h);
    if !ct_eq(&p.digest, &policy) || alg != session.hash.alg() {
        return Err(TpmRc::POLICY_FAIL);
    }
    if p.timeout != 0 && p.timeout < engine.state.perm.clock {
        return Err(TpmRc::EXPIRED);
    }
    match p.command_code {
        Some(cc) if cc != cmd.cc => return Err(TpmRc::POLICY_CC),
        None if matches!(cmd.role(i), AuthRole::Admin | AuthRole::Dup) => {
            return Err(TpmRc::POLICY_FAIL);
        }
        _ => {}
    }
    if p.locality != 0 {
        let l = engine.locality;
        let allowed = if l < 5 {
            p.locality < 32 && p.locality & (1 << l) != 0
        } else {
            l > 31 && p.locality == l
        };
        if !allowed {
            return Err(TpmRc::LOCALITY);
        }
    }
    if p.pp_required {
        // No physical-presence signal reaches a virtual TPM: it is never asserted.
        return Err(TpmRc::PP);
    }
    let ok = match &p.binding {
        PolicyBinding::None => true,
        PolicyBinding::CpHash(d) => ct_eq(d, &cmd.cp_hash(session.hash)),
        PolicyBinding::NameHash(d) => {
            let mut hasher = Hasher::new(session.hash);
            for n in &cmd.names {
                hasher.update(n);
            }
            ct_eq(d, &hasher.finish())
        }
        PolicyBinding::TemplateHash(d) => {
            template_hash(cmd, session.hash).is_some_and(|t| ct_eq(d, &t))
        }
    };
    if !ok {
        return Err(TpmRc::POLICY_FAIL);
    }
    if let Some(want) = p.nv_written {
        // TPM2_PolicyNvWritten: the authorized entity is an NV index whose WRITTEN is `want`.
        let written = engine
            .state
            .perm
            .nv
            .get(h)
            .map(|i| i.has(tpm2::structures::TpmaNv::WRITTEN));
        if written != Some(want) {
            return Err(TpmRc::POLICY_FAIL);
        }
    }
    Ok(())
}

/// The digest of the template (second parameter, a TPM2B) of TPM2_Create, TPM2_CreatePrimary
/// or TPM2_CreateLoaded; `None` for other commands or malformed parameters.
fn template_hash(cmd: &Command<'_>, alg: HashAlg) -> Option<Vec<u8>> {
    if !matches!(
        cmd.cc,
        TpmCc::CREATE | TpmCc::CREATE_PRIMARY | TpmCc::CREATE_LOADED
    ) {
        return None;
    }
    let mut r = tpm2::Reader::new(cmd.params);
    let first = usize::from(r.u16("inSensitive size").ok()?);
    r.bytes(first, "inSensitive").ok()?;
    let n = usize::from(r.u16("template size").ok()?);
    let template = r.bytes(n, "template").ok()?;
    Some(super::crypto::hash::digest(alg, &[template]))
}

/// The HMAC the caller should have sent for slot `i` (empty when the key is empty and the
/// caller sent nothing).
fn expected_command_hmac(
    engine: &Engine,
    cmd: &mut Command<'_>,
    slots: &[Slot],
    decrypt: Option<usize>,
    encrypt: Option<usize>,
    i: usize,
) -> Vec<u8> {
    let slot = &slots[i];
    let Some(session) = engine.state.vol.sessions.get(&slot.handle.0) else {
        return Vec::new();
    };
    let mut key = Zeroizing::new(session.session_key.to_vec());
    if slot.include_auth {
        if let Some(h) = slot.assoc {
            key.extend_from_slice(&auth_value(engine, h));
        }
    }
    if key.is_empty() && slot.hmac_empty {
        return Vec::new();
    }
    // The first session also covers the nonces of the decrypt and encrypt sessions.
    let nonce_of = |j: usize| -> Vec<u8> {
        slots
            .get(j)
            .and_then(|s| engine.state.vol.sessions.get(&s.handle.0))
            .map(|s| s.nonce_tpm.clone())
            .unwrap_or_default()
    };
    let mut extra: Vec<Vec<u8>> = Vec::new();
    if i == 0 && slot.assoc.is_some() {
        if let Some(d) = decrypt.filter(|&d| d != i) {
            extra.push(nonce_of(d));
        }
        if let Some(e) = encrypt.filter(|&e| e != i && Some(e) != decrypt) {
            extra.push(nonce_of(e));
        }
    }
    let extra: Vec<&[u8]> = extra.iter().map(Vec::as_slice).collect();
    let cp = cmd.cp_hash(session.hash);
    session_hmac(
        session.hash,
        &key,
        &cp,
        &slot.nonce_caller,
        &session.nonce_tpm,
        &extra,
        slot.attributes,
    )
}

/// Checks the authorization of slot `i` for its associated handle (part 3 §5.6, the
/// reference implementation's CheckAuthSession). Errors carry no session number yet.
#[allow(clippy::too_many_arguments)]
fn check_auth_session(
    engine: &mut Engine,
    cmd: &mut Command<'_>,
    slots: &mut [Slot],
    decrypt: Option<usize>,
    encrypt: Option<usize>,
    hmacs: &[Tpm2bAuth],
    i: usize,
    h: TpmHandle,
) -> Result<(), TpmRc> {
    let role = cmd.role(i);
    let handle = slots[i].handle;
    let session = engine.state.vol.sessions.get(&handle.0);
    let (is_policy, password_needed) = session.map_or((false, false), |s| {
        (s.is_policy(), s.policy.password_needed)
    });
    let include_auth = match session {
        None => true,
        Some(s) if s.is_policy() => s.policy.auth_value_needed || s.policy.password_needed,
        Some(s) => !is_bind_entity(engine, s, h),
    };
    slots[i].include_auth = include_auth;
    if include_auth && !da_exempt(engine, h) {
        check_locked_out(engine, h == TpmHandle::LOCKOUT)?;
    }
    if is_policy {
        if !auth_policy_available(engine, h, role, cmd.cc) {
            return Err(TpmRc::AUTH_UNAVAILABLE);
        }
        if let Some(s) = engine.state.vol.sessions.get(&handle.0) {
            check_policy(engine, cmd, s, i, h)?;
        }
    } else {
        if policy_required(engine, h, role) {
            return Err(TpmRc::AUTH_TYPE);
        }
        if !auth_value_available(engine, h, role, cmd.cc) {
            return Err(TpmRc::AUTH_UNAVAILABLE);
        }
    }
    let given = hmacs.get(i).map_or(&[][..], Tpm2bAuth::as_bytes);
    let ok = if handle == TpmHandle::PASSWORD || password_needed {
        ct_eq(trim_zeros(given), &auth_value(engine, h))
    } else {
        let expected = expected_command_hmac(engine, cmd, slots, decrypt, encrypt, i);
        ct_eq(given, &expected)
    };
    if include_auth || handle == TpmHandle::PASSWORD {
        pin_checked(engine, h, ok);
    }
    if ok {
        Ok(())
    } else {
        Err(register_failure(engine, &slots[i]))
    }
}

/// Checks the authorization area of a command (part 3 §5.5, §5.6), decrypts the first
/// parameter in place if a session asks for it (§5.7), and returns what the response needs.
pub(crate) fn authorize(
    engine: &mut Engine,
    entry: &Entry,
    info: &CommandInfo,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    params: &mut Vec<u8>,
) -> Result<AuthContext, TpmRc> {
    da_self_heal(engine);

    // The sessions themselves: attributes, presence, duplicates, one decrypt / encrypt /
    // audit session at most.
    let mut slots: Vec<Slot> = Vec::with_capacity(sessions.len());
    let (mut decrypt, mut encrypt, mut audit) = (None, None, None);
    for (i, s) in sessions.iter().enumerate() {
        let n = session_number(i);
        let a = s.attributes;
        if s.session_handle == TpmHandle::PASSWORD {
            let forbidden = TpmaSession::ENCRYPT
                | TpmaSession::DECRYPT
                | TpmaSession::AUDIT
                | TpmaSession::AUDIT_EXCLUSIVE
                | TpmaSession::AUDIT_RESET;
            if a.0 & forbidden != 0 {
                return Err(TpmRc::ATTRIBUTES.with_session(n));
            }
            if !s.nonce.is_empty() {
                return Err(TpmRc::NONCE.with_session(n));
            }
        } else {
            match lookup(&engine.state.vol.sessions, s.session_handle) {
                Lookup::Loaded => {}
                Lookup::WrongType => return Err(TpmRc::HANDLE.with_session(n)),
                Lookup::NotLoaded => return Err(reference_s(i)),
            }
            if slots.iter().any(|p| p.handle == s.session_handle) {
                return Err(TpmRc::HANDLE.with_session(n));
            }
            let Some(session) = engine.state.vol.sessions.get(&s.session_handle.0) else {
                return Err(reference_s(i));
            };
            if a.has(TpmaSession::DECRYPT) {
                if !info.decrypt || decrypt.is_some() {
                    return Err(TpmRc::ATTRIBUTES.with_session(n));
                }
                if session.symmetric.is_null() {
                    return Err(TpmRc::SYMMETRIC.with_session(n));
                }
                decrypt = Some(i);
            }
            if a.has(TpmaSession::ENCRYPT) {
                if !info.encrypt || encrypt.is_some() {
                    return Err(TpmRc::ATTRIBUTES.with_session(n));
                }
                if session.symmetric.is_null() {
                    return Err(TpmRc::SYMMETRIC.with_session(n));
                }
                encrypt = Some(i);
            }
            if a.has(TpmaSession::AUDIT) {
                if audit.is_some() || session.is_policy() {
                    return Err(TpmRc::ATTRIBUTES.with_session(n));
                }
                if !a.has(TpmaSession::AUDIT_RESET)
                    && session.audit_digest.is_some()
                    && a.has(TpmaSession::AUDIT_EXCLUSIVE)
                    && !session.audit_exclusive
                {
                    return Err(TpmRc::EXCLUSIVE);
                }
                audit = Some(i);
            }
        }
        slots.push(Slot {
            handle: s.session_handle,
            attributes: a,
            nonce_caller: s.nonce.as_bytes().to_vec(),
            hmac_empty: s.hmac.is_empty(),
            assoc: None,
            include_auth: false,
        });
    }

    // Each authorization handle takes the session at its position.
    for i in 0..usize::from(info.auth_handles) {
        let Some(slot) = slots.get_mut(i) else {
            return Err(TpmRc::AUTH_MISSING);
        };
        slot.assoc = handles.get(i).copied();
    }

    let mut cmd = Command {
        cc: info.code,
        entry,
        names: handles.iter().map(|h| entity::name(engine, *h)).collect(),
        params: params.as_slice(),
        cp: DigestCache::default(),
    };
    let hmacs: Vec<Tpm2bAuth> = sessions.iter().map(|s| s.hmac.clone()).collect();
    for i in 0..slots.len() {
        let n = session_number(i);
        let handle = slots[i].handle;
        if handle == TpmHandle::PASSWORD {
            if slots[i].assoc.is_none() {
                return Err(TpmRc::HANDLE.with_session(n));
            }
        } else if let Some(s) = engine.state.vol.sessions.get(&handle.0) {
            if s.kind == SessionKind::Trial {
                return Err(TpmRc::ATTRIBUTES.with_session(n));
            }
            if s.da_bound {
                check_locked_out(engine, s.lockout_bound)?;
            }
        }
        if let Some(h) = slots[i].assoc {
            check_auth_session(engine, &mut cmd, &mut slots, decrypt, encrypt, &hmacs, i, h)
                .map_err(|rc| rc.with_session(n))?;
        } else {
            let a = slots[i].attributes;
            if a.0 & (TpmaSession::AUDIT | TpmaSession::ENCRYPT | TpmaSession::DECRYPT) == 0 {
                return Err(TpmRc::ATTRIBUTES.with_session(n));
            }
            slots[i].include_auth = false;
            let expected = expected_command_hmac(engine, &mut cmd, &slots, decrypt, encrypt, i);
            let given = hmacs.get(i).map_or(&[][..], Tpm2bAuth::as_bytes);
            if !ct_eq(given, &expected) {
                return Err(register_failure(engine, &slots[i]).with_session(n));
            }
        }
    }

    let audit_cp_hash = match audit.and_then(|a| slots.get(a)) {
        Some(slot) => match engine.state.vol.sessions.get(&slot.handle.0) {
            Some(s) => cmd.cp_hash(s.hash),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    drop(cmd);

    // §5.7 parameter decryption, the last step of session processing.
    if let Some(d) = decrypt {
        let n = session_number(d);
        let slot = &slots[d];
        let Some(session) = engine.state.vol.sessions.get(&slot.handle.0) else {
            return Err(reference_s(d));
        };
        let mut key = Zeroizing::new(session.session_key.to_vec());
        if let Some(h) = slot.assoc {
            key.extend_from_slice(&auth_value(engine, h));
        }
        let data = first_tpm2b(params).map_err(|rc| rc.with_session(n))?;
        crypt_parameter(
            session,
            &key,
            &slot.nonce_caller,
            &session.nonce_tpm,
            data,
            false,
        )
        .map_err(|rc| rc.with_session(n))?;
    }

    Ok(AuthContext {
        slots,
        encrypt,
        audit,
        audit_cp_hash,
        sessions_allowed: !info.no_sessions,
    })
}

/// A command failed after its authorizations were checked. As in the reference
/// implementation nothing happens to the sessions: nonces do not roll, policy assertions
/// stay, and a session with continueSession clear is not flushed (only a successful command
/// ends a session). DA failures recorded during authorization stay.
pub(crate) fn command_failed(_engine: &mut Engine, _ctx: AuthContext, _rc: TpmRc) {}

/// Clears the exclusive-audit mark of every session but `except`.
fn clear_exclusive(engine: &mut Engine, except: Option<TpmHandle>) {
    for (h, s) in &mut engine.state.vol.sessions {
        if Some(*h) != except.map(|e| e.0) {
            s.audit_exclusive = false;
        }
    }
}

/// The response sessions of a successful command (part 1 §18.9): new nonces,
/// encryption of the first response parameter, the audit digest, response HMACs, and the end
/// of sessions whose continueSession is clear.
pub(crate) fn respond(
    engine: &mut Engine,
    mut ctx: AuthContext,
    cc: TpmCc,
    params: &mut [u8],
) -> Result<Vec<TpmsAuthResponse>, TpmRc> {
    // New nonces, same sizes. Computed first so that nothing changes if encryption fails.
    let mut nonces: Vec<Vec<u8>> = Vec::with_capacity(ctx.slots.len());
    for slot in &ctx.slots {
        let len = if slot.is_password() {
            0
        } else {
            engine
                .state
                .vol
                .sessions
                .get(&slot.handle.0)
                .map_or(0, |s| s.nonce_tpm.len())
        };
        nonces.push(if len == 0 {
            Vec::new()
        } else {
            engine.random_vec(len)
        });
    }

    if let Some(e) = ctx.encrypt {
        let slot = &ctx.slots[e];
        let session = engine
            .state
            .vol
            .sessions
            .get(&slot.handle.0)
            .ok_or(TpmRc::FAILURE)?;
        let mut key = Zeroizing::new(session.session_key.to_vec());
        if let Some(h) = slot.assoc {
            key.extend_from_slice(&auth_value(engine, h));
        }
        let data = first_tpm2b(params).map_err(|_| TpmRc::FAILURE)?;
        crypt_parameter(session, &key, &nonces[e], &slot.nonce_caller, data, true)?;
    }

    for (slot, nonce) in ctx.slots.iter().zip(&nonces) {
        if let Some(s) = engine.state.vol.sessions.get_mut(&slot.handle.0) {
            s.nonce_tpm.clone_from(nonce);
        }
    }

    let mut rp = DigestCache::default();
    let rp_of = |rp: &mut DigestCache, alg: HashAlg| rp.get(alg, || rp_hash(alg, cc, params));

    // Audit: the first use or auditReset starts a new digest and makes the
    // session the exclusive one; any other command with sessions allowed and no audit session
    // ends exclusivity.
    match ctx.audit {
        Some(a) => {
            let handle = ctx.slots[a].handle;
            let attrs = ctx.slots[a].attributes;
            let cp = core::mem::take(&mut ctx.audit_cp_hash);
            let alg = engine.state.vol.sessions.get(&handle.0).map(|s| s.hash);
            if let Some(alg) = alg {
                let rp_hash = rp_of(&mut rp, alg);
                let restart = engine.state.vol.sessions.get(&handle.0).is_some_and(|s| {
                    s.audit_digest.is_none() || attrs.has(TpmaSession::AUDIT_RESET)
                });
                if restart {
                    clear_exclusive(engine, Some(handle));
                } else if !engine
                    .state
                    .vol
                    .sessions
                    .get(&handle.0)
                    .is_some_and(|s| s.audit_exclusive)
                {
                    clear_exclusive(engine, None);
                }
                if let Some(s) = engine.state.vol.sessions.get_mut(&handle.0) {
                    if restart {
                        s.audit_digest = Some(alloc::vec![0u8; alg.digest_size()]);
                        s.audit_exclusive = true;
                        s.bound = None;
                    }
                    let old = s.audit_digest.take().unwrap_or_default();
                    s.audit_digest = Some(super::crypto::hash::digest(alg, &[&old, &cp, &rp_hash]));
                    let exclusive = s.audit_exclusive;
                    let attrs = &mut ctx.slots[a].attributes;
                    attrs.0 = if exclusive {
                        attrs.0 | TpmaSession::AUDIT_EXCLUSIVE
                    } else {
                        attrs.0 & !TpmaSession::AUDIT_EXCLUSIVE
                    };
                }
            }
        }
        None if ctx.sessions_allowed => clear_exclusive(engine, None),
        None => {}
    }

    let mut out = Vec::with_capacity(ctx.slots.len());
    for (slot, nonce) in ctx.slots.iter().zip(nonces) {
        if slot.is_password() {
            out.push(TpmsAuthResponse {
                nonce: Tpm2bNonce::empty(),
                attributes: TpmaSession(slot.attributes.0 | TpmaSession::CONTINUE_SESSION),
                hmac: Tpm2bAuth::empty(),
            });
            continue;
        }
        let Some(session) = engine.state.vol.sessions.get(&slot.handle.0) else {
            continue;
        };
        let hmac = if session.is_policy() && session.policy.password_needed {
            Vec::new()
        } else {
            let mut key = Zeroizing::new(session.session_key.to_vec());
            if slot.include_auth {
                if let Some(h) = slot.assoc {
                    key.extend_from_slice(&auth_value(engine, h));
                }
            }
            if key.is_empty() && slot.hmac_empty {
                Vec::new()
            } else {
                let rp_hash = rp_of(&mut rp, session.hash);
                session_hmac(
                    session.hash,
                    &key,
                    &rp_hash,
                    &nonce,
                    &slot.nonce_caller,
                    &[],
                    slot.attributes,
                )
            }
        };
        out.push(TpmsAuthResponse {
            nonce: Tpm2bNonce::new(&nonce).map_err(|_| TpmRc::FAILURE)?,
            attributes: slot.attributes,
            hmac: Tpm2bAuth::new(&hmac).map_err(|_| TpmRc::FAILURE)?,
        });
        let now = engine.state.perm.clock;
        let continues = slot.attributes.has(TpmaSession::CONTINUE_SESSION);
        if continues {
            if let Some(s) = engine.state.vol.sessions.get_mut(&slot.handle.0) {
                if s.is_policy() {
                    s.reset_policy();
                    s.start_time = now;
                }
            }
        } else {
            engine.state.vol.sessions.remove(&slot.handle.0);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The session arithmetic against computations written out with the `sha2` and `hmac`
    //! crates; the end-to-end behaviour is tested in `commands::session` and, against swtpm,
    //! in `tests/sessions_vs_swtpm.rs`.

    use super::*;
    use hmac::Mac;
    use sha2::Digest;

    fn sha256(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }

    fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }

    #[test]
    fn cp_and_rp_hashes() {
        let names = [alloc::vec![0x40, 0, 0, 1], alloc::vec![0, 0x0B, 7, 7]];
        let params = [1u8, 2, 3];
        let cp = cp_hash(HashAlg::Sha256, TpmCc::PCR_EVENT, &names, &params);
        let want = sha256(&[&[0, 0, 1, 0x3C], &names[0], &names[1], &params]);
        assert_eq!(cp, want);
        let rp = rp_hash(HashAlg::Sha256, TpmCc::PCR_EVENT, &params);
        assert_eq!(rp, sha256(&[&[0, 0, 0, 0], &[0, 0, 1, 0x3C], &params]));
        // SHA-1 sessions hash with SHA-1.
        assert_eq!(
            cp_hash(HashAlg::Sha1, TpmCc::PCR_EVENT, &names, &params).len(),
            20
        );
    }

    #[test]
    fn session_hmac_layout() {
        let key = b"sessionkey||auth";
        let got = session_hmac(
            HashAlg::Sha256,
            key,
            b"cp",
            b"newer",
            b"older",
            &[b"dec", b"enc"],
            TpmaSession(0x61),
        );
        assert_eq!(
            got,
            hmac256(key, &[b"cp", b"newer", b"older", b"dec", b"enc", &[0x61]])
        );
    }

    #[test]
    fn session_key_derivation() {
        let (nt, nc) = ([1u8; 16], [2u8; 16]);
        // KDFa(SHA-256, auth || salt, "ATH", nonceTPM, nonceCaller, 256): one block.
        let want = hmac256(
            b"authsalt",
            &[
                &1u32.to_be_bytes(),
                b"ATH\0",
                &nt,
                &nc,
                &256u32.to_be_bytes(),
            ],
        );
        let got =
            crate::engine::session::session_key(HashAlg::Sha256, Some(b"auth"), b"salt", &nt, &nc);
        assert_eq!(&*got, want.as_slice());
        // Bound to an entity with an empty authValue: still a key.
        let bound = crate::engine::session::session_key(HashAlg::Sha256, Some(b""), &[], &nt, &nc);
        assert_eq!(bound.len(), 32);
        // Neither bound nor salted: empty.
        let none = crate::engine::session::session_key(HashAlg::Sha256, None, &[], &nt, &nc);
        assert!(none.is_empty());
    }

    #[test]
    fn trailing_zeros_and_constant_time_compare() {
        assert_eq!(trim_zeros(b"ab\0\0"), b"ab");
        assert_eq!(trim_zeros(b"\0a\0"), b"\0a");
        assert_eq!(trim_zeros(b"\0\0"), b"");
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn first_parameter_bounds() {
        let mut short = alloc::vec![0u8];
        assert_eq!(first_tpm2b(&mut short).err(), Some(TpmRc::INSUFFICIENT));
        let mut over = alloc::vec![0u8, 5, 1, 2, 3];
        assert_eq!(first_tpm2b(&mut over).err(), Some(TpmRc::SIZE));
        let mut fits = alloc::vec![0u8, 2, 1, 2, 3];
        assert_eq!(first_tpm2b(&mut fits).unwrap(), &[1, 2]);
    }

    #[test]
    fn malformed_encrypted_parameter_names_the_session() {
        use crate::engine::testutil::{engine, run};
        use tpm2::response::Response;
        use tpm2::{Marshal, Unmarshal};
        let mut e = engine();
        // An unbound, unsalted AES session used only to decrypt.
        let mut p = Tpm2bNonce::new(&[7; 16]).unwrap().to_bytes();
        p.extend([0, 0, 0]);
        p.extend(TpmtSymDef::AES_128_CFB.to_bytes());
        p.extend(tpm2::alg::TpmAlgId::SHA256.to_bytes());
        let null2 = [TpmHandle::NULL, TpmHandle::NULL];
        let (rc, rsp) = run(&mut e, TpmCc::START_AUTH_SESSION, &null2, &[], &p);
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::START_AUTH_SESSION).unwrap();
        let handle = r.handle.unwrap();
        let _ = Tpm2bNonce::from_bytes(r.parameters).unwrap();
        let dec = TpmsAuthCommand {
            session_handle: handle,
            nonce: Tpm2bNonce::new(&[1; 16]).unwrap(),
            attributes: TpmaSession(TpmaSession::CONTINUE_SESSION | TpmaSession::DECRYPT),
            hmac: Tpm2bAuth::empty(),
        };
        // The first parameter claims more bytes than the command has.
        let (rc, _) = run(
            &mut e,
            TpmCc::START_AUTH_SESSION,
            &null2,
            core::slice::from_ref(&dec),
            &[0, 200, 1],
        );
        assert_eq!(rc, TpmRc::SIZE.with_session(1));
        let (rc, _) = run(&mut e, TpmCc::START_AUTH_SESSION, &null2, &[dec], &[0]);
        assert_eq!(rc, TpmRc::INSUFFICIENT.with_session(1));
    }
}

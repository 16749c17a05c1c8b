//! Enhanced Authorization (EA) commands (TCG TPM 2.0 Library part 3 §23; part 1 §19.7
//! "policy sessions"):
//!
//! - §23.4 TPM2_PolicySecret: `policyDigest = H(H(policyDigest || TPM_CC_PolicySecret ||
//!   authName) || policyRef)` once authHandle's authorization succeeded; nonceTPM, cpHashA and
//!   expiration (seconds; from the session start with a nonce, from now without) restrict the
//!   session; a negative expiration returns a timeout and a TPM_ST_AUTH_SECRET ticket whose HMAC
//!   (SHA-512, hierarchy proof) is this TPM's own format (no other TPM checks it).
//! - §23.5 TPM2_PolicyOR: `policyDigest = H(0…0 || TPM_CC_PolicyOR || digests)` when the
//!   current digest is one of the 2–8 `pHashList` entries (any entry for a trial session).
//! - §23.6 TPM2_PolicyLocality: `H(policyDigest || TPM_CC_PolicyLocality || locality)`; the
//!   session keeps the intersection of the normal localities, or the one extended locality.
//! - §23.7 TPM2_PolicyPCR: `H(policyDigest || TPM_CC_PolicyPCR || pcrs || pcrDigest)` where
//!   `pcrs` has the unallocated PCRs removed and `pcrDigest` is the digest of their values
//!   (part 1 §17.6); the session records the PCR update counter so that a later PCR change
//!   makes it fail with TPM_RC_PCR_CHANGED.
//! - §23.11 TPM2_PolicyCommandCode: `H(policyDigest || TPM_CC_PolicyCommandCode || code)`.
//! - §23.18 TPM2_PolicyAuthValue and §23.19 TPM2_PolicyPassword: both
//!   `H(policyDigest || TPM_CC_PolicyAuthValue)`; they set isAuthValueNeeded resp.
//!   isPasswordNeeded and clear the other.
//!
//! Error codes and their parameter numbers follow part 3 and libtpms (checked against swtpm
//! 0.7.1 in `tests/policy_vs_swtpm.rs`).

use alloc::vec::Vec;

use tpm2::Marshal;
use tpm2::cc::TpmCc;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::rc::TpmRc;
use tpm2::st::TpmSt;
use tpm2::structures::{Tpm2bDigest, Tpm2bNonce, Tpm2bTimeout, TpmlDigest, TpmtTkAuth};

use crate::engine::Engine;
use crate::engine::crypto::hash::{HashAlg, digest, hmac};
use crate::engine::dispatch::{self, Ctx, Entry};
use crate::engine::entity::{self, HandleKind};
use crate::engine::pcr;
use crate::engine::session::{PolicyBinding, Session, SessionKind};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::POLICY_SECRET,
        handles: &[HandleKind::Entity, HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_secret,
    },
    Entry {
        cc: TpmCc::POLICY_OR,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_or,
    },
    Entry {
        cc: TpmCc::POLICY_LOCALITY,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_locality,
    },
    Entry {
        cc: TpmCc::POLICY_PCR,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_pcr,
    },
    Entry {
        cc: TpmCc::POLICY_COMMAND_CODE,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_command_code,
    },
    Entry {
        cc: TpmCc::POLICY_AUTH_VALUE,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_auth_value,
    },
    Entry {
        cc: TpmCc::POLICY_PASSWORD,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_password,
    },
];

/// Fewest entries of TPM2_PolicyOR's pHashList.
const OR_MIN_DIGESTS: usize = 2;

/// The policy session of the last handle (its type and presence were checked by the
/// dispatcher).
pub(super) fn session<'a>(e: &'a mut Engine, ctx: &Ctx) -> Result<&'a mut Session, TpmRc> {
    let n = u8::try_from(ctx.handles.len()).unwrap_or(1);
    let h = ctx.handles.last().ok_or(TpmRc::HANDLE.with_handle(1))?;
    match e.state.vol.sessions.get_mut(&h.0) {
        Some(s) if s.is_policy() => Ok(s),
        _ => Err(TpmRc::HANDLE.with_handle(n)),
    }
}

/// `policyDigest = H(policyDigest || cc || parts...)` (part 1 §19.7.2).
pub(super) fn extend(s: &mut Session, cc: TpmCc, parts: &[&[u8]]) {
    let code = cc.0.to_be_bytes();
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 2);
    all.push(&s.policy.digest);
    all.push(&code);
    all.extend_from_slice(parts);
    let new = digest(s.hash, &all);
    s.policy.digest = new;
}

/// The bit of a TPM2_PolicySecret timeout buffer that marks an authorization that expires on
/// the next TPM Reset (no nonceTPM was given; libtpms' EXPIRATION_BIT).
pub(super) const EXPIRES_ON_RESET: u64 = 1 << 63;

/// The hash of the HMAC that makes tickets (libtpms' CONTEXT_INTEGRITY_HASH_ALG).
const TICKET_HASH: HashAlg = HashAlg::Sha512;

/// The hierarchy an entity belongs to (the reference implementation's EntityGetHierarchy).
pub(super) fn entity_hierarchy(e: &Engine, h: TpmHandle) -> TpmHandle {
    match h.ty() {
        TpmHt::TRANSIENT | TpmHt::PERSISTENT => {
            e.state.object(h).map_or(TpmHandle::OWNER, |o| o.hierarchy)
        }
        TpmHt::PERMANENT => match h {
            TpmHandle::PLATFORM | TpmHandle::ENDORSEMENT | TpmHandle::NULL => h,
            _ => TpmHandle::OWNER,
        },
        _ => TpmHandle::OWNER,
    }
}

/// The absolute timeout (TPM clock, ms) of an assertion with `expiration` seconds (part 3
/// §23.3/§23.4): counted from the session start when nonceTPM was given, from now otherwise;
/// 0 for no expiration.
pub(super) fn auth_timeout(start: u64, now: u64, expiration: i32, with_nonce: bool) -> u64 {
    if expiration == 0 {
        return 0;
    }
    let seconds = u64::from(expiration.unsigned_abs());
    let base = if with_nonce { start } else { now };
    base.saturating_add(seconds.saturating_mul(1000))
}

/// The parameter numbers the errors of [`parameter_checks`] name.
pub(super) struct Blame {
    pub nonce: u8,
    pub cp_hash: u8,
    pub expiration: u8,
}

/// The checks every authorization assertion (TPM2_PolicySigned/Secret/Ticket) makes on its
/// restrictions (the reference implementation's PolicyParameterChecks): a given nonceTPM must
/// be the session's, a timeout must not have passed, a given cpHashA must have the session's
/// digest size and agree with a cpHash/nameHash/template already asserted. The blame numbers
/// are the parameters the errors name (0 for a check the command does not make).
pub(super) fn parameter_checks(
    s: &Session,
    now: u64,
    nonce_tpm: &[u8],
    cp_hash: &[u8],
    timeout: u64,
    blame: &Blame,
) -> Result<(), TpmRc> {
    if !nonce_tpm.is_empty() && nonce_tpm != s.nonce_tpm {
        return Err(TpmRc::NONCE.with_parameter(blame.nonce));
    }
    if timeout != 0 && timeout < now {
        return Err(TpmRc::EXPIRED.with_parameter(blame.expiration));
    }
    if !cp_hash.is_empty() {
        if cp_hash.len() != s.policy.digest.len() {
            return Err(TpmRc::SIZE.with_parameter(blame.cp_hash));
        }
        let bound = match &s.policy.binding {
            PolicyBinding::None => None,
            PolicyBinding::CpHash(d)
            | PolicyBinding::NameHash(d)
            | PolicyBinding::TemplateHash(d) => Some(d),
        };
        if bound.is_some_and(|d| d.as_slice() != cp_hash) {
            return Err(TpmRc::CPHASH);
        }
    }
    Ok(())
}

/// The session update of an authorization assertion (PolicyContextUpdate):
/// `policyDigest = H(H(policyDigest || cc || name) || policyRef)`, the cpHash binding when one
/// was given, and the earliest timeout.
pub(super) fn context_update(
    s: &mut Session,
    cc: TpmCc,
    name: &[u8],
    policy_ref: &[u8],
    cp_hash: &[u8],
    timeout: u64,
) {
    extend(s, cc, &[name]);
    s.policy.digest = digest(s.hash, &[&s.policy.digest, policy_ref]);
    if !cp_hash.is_empty() {
        s.policy.binding = PolicyBinding::CpHash(cp_hash.to_vec());
    }
    if timeout != 0 && (s.policy.timeout == 0 || timeout < s.policy.timeout) {
        s.policy.timeout = timeout;
    }
}

/// What a TPMT_TK_AUTH ticket vouches for.
pub(super) struct AuthTicket<'a> {
    /// TPM_ST_AUTH_SIGNED or TPM_ST_AUTH_SECRET.
    pub tag: TpmSt,
    pub hierarchy: TpmHandle,
    /// The absolute timeout without the expires-on-reset bit.
    pub timeout: u64,
    pub expires_on_reset: bool,
    pub cp_hash: &'a [u8],
    pub policy_ref: &'a [u8],
    pub name: &'a [u8],
}

impl AuthTicket<'_> {
    /// `HMAC(proof, tag || timeout || [resetCount] || cpHashA || policyRef || authName)` with
    /// the hierarchy's proof; resetCount only for tickets that expire on TPM Reset.
    pub(super) fn hmac(&self, e: &Engine) -> Vec<u8> {
        let tag = self.tag.0.to_be_bytes();
        let t = self.timeout.to_be_bytes();
        let rc = e.state.perm.reset_count.to_be_bytes();
        let mut parts: Vec<&[u8]> = alloc::vec![&tag, &t];
        if self.expires_on_reset {
            parts.push(&rc);
        }
        parts.extend([self.cp_hash, self.policy_ref, self.name]);
        hmac(TICKET_HASH, e.state.proof(self.hierarchy), &parts)
    }

    /// Writes the response's timeout buffer (the timeout, its top bit set for a ticket that
    /// expires on reset) and the ticket.
    pub(super) fn put(&self, e: &Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
        let mac = self.hmac(e);
        let flagged = if self.expires_on_reset {
            self.timeout | EXPIRES_ON_RESET
        } else {
            self.timeout
        };
        ctx.put(&Tpm2bTimeout::new(&flagged.to_be_bytes()).map_err(|_| TpmRc::FAILURE)?);
        ctx.put(&TpmtTkAuth {
            signed: self.tag == TpmSt::AUTH_SIGNED,
            hierarchy: self.hierarchy,
            digest: Tpm2bDigest::new(&mac).map_err(|_| TpmRc::FAILURE)?,
        });
        Ok(())
    }
}

/// The empty timeout and NULL ticket of an assertion that gives no ticket.
pub(super) fn put_no_ticket(ctx: &mut Ctx, signed: bool) {
    ctx.put(&Tpm2bTimeout::empty());
    ctx.put(&TpmtTkAuth {
        signed,
        hierarchy: TpmHandle::NULL,
        digest: Tpm2bDigest::empty(),
    });
}

/// TPM2_PolicySecret (part 3 §23.4): the caller proved knowledge of authHandle's authValue (the
/// dispatcher checked the authorization), so `policyDigest = H(H(policyDigest ||
/// TPM_CC_PolicySecret || authName) || policyRef)`; the optional nonceTPM, cpHashA and
/// expiration restrict the assertion. A negative expiration returns a TPM_ST_AUTH_SECRET
/// ticket ([`AuthTicket`]).
fn policy_secret(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let nonce_tpm: Tpm2bNonce = ctx.param()?;
    let cp_hash: Tpm2bDigest = ctx.param()?;
    let policy_ref: Tpm2bNonce = ctx.param()?;
    let expiration: i32 = ctx.param()?;
    ctx.finish()?;
    let auth_handle = ctx
        .handles
        .first()
        .copied()
        .ok_or(TpmRc::HANDLE.with_handle(1))?;
    let name = entity::name(e, auth_handle);
    let hierarchy = entity_hierarchy(e, auth_handle);
    let now = e.state.perm.clock;
    let s = session(e, ctx)?;
    let trial = s.kind == SessionKind::Trial;
    let mut timeout = 0;
    if !trial {
        timeout = auth_timeout(s.start_time, now, expiration, !nonce_tpm.is_empty());
        let blame = Blame {
            nonce: 1,
            cp_hash: 2,
            expiration: 4,
        };
        parameter_checks(
            s,
            now,
            nonce_tpm.as_bytes(),
            cp_hash.as_bytes(),
            timeout,
            &blame,
        )?;
    }
    let (cp, r) = (cp_hash.as_bytes(), policy_ref.as_bytes());
    context_update(s, TpmCc::POLICY_SECRET, &name, r, cp, timeout);
    if expiration < 0 && !trial {
        let ticket = AuthTicket {
            tag: TpmSt::AUTH_SECRET,
            hierarchy,
            timeout,
            expires_on_reset: nonce_tpm.is_empty(),
            cp_hash: cp,
            policy_ref: r,
            name: &name,
        };
        ticket.put(e, ctx)?;
    } else {
        put_no_ticket(ctx, false);
    }
    Ok(())
}

/// TPM2_PolicyOR (part 3 §23.5).
fn policy_or(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    // TPML_DIGEST with at least two entries (libtpms: minCount 2): the count is checked before
    // any digest is read.
    let list: TpmlDigest = ctx.param_with(|r| {
        let mut peek = r.clone();
        let n = peek.u32("TPML_DIGEST count")?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n < OR_MIN_DIGESTS {
            return Err(tpm2::Error::TooSmall {
                what: "TPML_DIGEST",
                size: n,
                min: OR_MIN_DIGESTS,
            });
        }
        <TpmlDigest as tpm2::Unmarshal>::unmarshal(r)
    })?;
    ctx.finish()?;
    let s = session(e, ctx)?;
    let trial = s.kind == SessionKind::Trial;
    if !trial
        && !list
            .as_slice()
            .iter()
            .any(|d| d.as_bytes() == s.policy.digest)
    {
        return Err(TpmRc::VALUE.with_parameter(1));
    }
    let zeros = alloc::vec![0u8; s.hash.digest_size()];
    let code = TpmCc::POLICY_OR.0.to_be_bytes();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(list.as_slice().len() + 2);
    parts.push(&zeros);
    parts.push(&code);
    parts.extend(list.as_slice().iter().map(Tpm2bDigest::as_bytes));
    s.policy.digest = digest(s.hash, &parts);
    Ok(())
}

/// TPM2_PolicyLocality (part 3 §23.6). The locality octet must not be zero; a normal set is
/// intersected with the one already asserted (an empty intersection is TPM_RC_RANGE), an
/// extended locality must equal the one already asserted, and the two kinds do not mix.
fn policy_locality(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let locality: u8 = ctx.param()?;
    ctx.finish()?;
    let range = TpmRc::RANGE.with_parameter(1);
    if locality == 0 {
        return Err(range);
    }
    let s = session(e, ctx)?;
    let prev = s.policy.locality;
    if prev != 0 && (prev < 32) != (locality < 32) {
        return Err(range);
    }
    let next = if locality < 32 {
        let base = if prev == 0 { 0x1F } else { prev };
        let both = base & locality;
        if both == 0 {
            return Err(range);
        }
        both
    } else {
        if prev != 0 && prev != locality {
            return Err(range);
        }
        locality
    };
    extend(s, TpmCc::POLICY_LOCALITY, &[&[locality]]);
    s.policy.locality = next;
    Ok(())
}

/// TPM2_PolicyPCR (part 3 §23.7).
fn policy_pcr(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let pcr_digest: Tpm2bDigest = ctx.param()?;
    let pcrs = ctx.param_with(pcr::read_selection)?;
    ctx.finish()?;
    let counter = e.state.vol.pcr.update_counter;
    let hash = session(e, ctx)?.hash;
    let (filtered, current) = {
        let (filtered, values) = e.state.vol.pcr.values(&pcrs);
        (filtered, digest(hash, &values))
    };
    let s = session(e, ctx)?;
    let value = if s.kind == SessionKind::Trial {
        // A trial session takes the caller's digest when there is one.
        if pcr_digest.is_empty() {
            current
        } else {
            pcr_digest.as_bytes().to_vec()
        }
    } else {
        if s.policy.pcr_counter.is_some_and(|c| c != counter) {
            return Err(TpmRc::PCR_CHANGED);
        }
        if !pcr_digest.is_empty() && pcr_digest.as_bytes() != current {
            return Err(TpmRc::VALUE.with_parameter(1));
        }
        current
    };
    let selection = filtered.to_bytes();
    extend(s, TpmCc::POLICY_PCR, &[&selection, &value]);
    if s.kind != SessionKind::Trial {
        s.policy.pcr_counter = Some(counter);
    }
    Ok(())
}

/// TPM2_PolicyCommandCode (part 3 §23.11): TPM_RC_VALUE when another code was asserted,
/// TPM_RC_POLICY_CC for a command this TPM does not implement.
fn policy_command_code(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let code = TpmCc(ctx.param::<u32>()?);
    ctx.finish()?;
    let s = session(e, ctx)?;
    if s.policy.command_code.is_some_and(|c| c != code) {
        return Err(TpmRc::VALUE.with_parameter(1));
    }
    if dispatch::lookup(code).is_none() {
        return Err(TpmRc::POLICY_CC.with_parameter(1));
    }
    extend(s, TpmCc::POLICY_COMMAND_CODE, &[&code.0.to_be_bytes()]);
    s.policy.command_code = Some(code);
    Ok(())
}

/// TPM2_PolicyAuthValue (part 3 §23.18).
fn policy_auth_value(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let s = session(e, ctx)?;
    extend(s, TpmCc::POLICY_AUTH_VALUE, &[]);
    s.policy.auth_value_needed = true;
    s.policy.password_needed = false;
    Ok(())
}

/// TPM2_PolicyPassword (part 3 §23.19): the same digest as TPM2_PolicyAuthValue.
fn policy_password(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let s = session(e, ctx)?;
    extend(s, TpmCc::POLICY_AUTH_VALUE, &[]);
    s.policy.password_needed = true;
    s.policy.auth_value_needed = false;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::many_single_char_names)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec;

    use sha2::Digest;
    use tpm2::Unmarshal as _;
    use tpm2::alg::TpmAlgId;
    use tpm2::auth::{TpmaSession, TpmsAuthCommand};
    use tpm2::handle::TpmHandle;
    use tpm2::response::Response;
    use tpm2::structures::{
        PublicDetail, Tpm2bAuth, Tpm2bNonce, TpmaObject, TpmsKeyedhashParms, TpmtKeyedhashScheme,
        TpmtPublic,
    };
    use zeroize::Zeroizing;

    use crate::engine::crypto::hash::HashAlg;
    use crate::engine::object::{Object, Sensitive};
    use crate::engine::testutil::{self, expect_rc, run};

    const SEALED: TpmHandle = TpmHandle(0x8000_0000);

    fn sha256(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }

    /// TPM2_StartAuthSession (no key, no bind, SHA-256, no symmetric) of type `se`
    /// (1: policy, 3: trial); returns the handle and nonceCaller.
    fn start(e: &mut Engine, se: u8) -> (TpmHandle, Vec<u8>) {
        let nonce = vec![0x5Au8; 16];
        let mut p = Tpm2bNonce::new(&nonce).unwrap().to_bytes();
        p.extend([0, 0, se, 0, 0x10, 0, 0x0B]);
        let (rc, rsp) = run(
            e,
            TpmCc::START_AUTH_SESSION,
            &[TpmHandle::NULL, TpmHandle::NULL],
            &[],
            &p,
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::START_AUTH_SESSION).unwrap();
        (r.handle.unwrap(), nonce)
    }

    fn get_digest(e: &mut Engine, h: TpmHandle) -> Vec<u8> {
        let p = testutil::ok_params(e, TpmCc::POLICY_GET_DIGEST, &[h], &[], &[]);
        Tpm2bDigest::from_bytes(&p).unwrap().as_bytes().to_vec()
    }

    fn ok(e: &mut Engine, cc: TpmCc, h: TpmHandle, params: &[u8]) {
        expect_rc(e, cc, &[h], &[], params, TpmRc::SUCCESS);
    }

    fn cc_bytes(cc: TpmCc) -> [u8; 4] {
        cc.0.to_be_bytes()
    }

    /// TPML_PCR_SELECTION for SHA-256 PCRs given as a 3-octet bitmap.
    fn sel256(bitmap: [u8; 3]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 1, 0, 0x0B, 3];
        v.extend(bitmap);
        v
    }

    fn or_list(digests: &[&[u8]]) -> Vec<u8> {
        let mut v = u32::try_from(digests.len()).unwrap().to_be_bytes().to_vec();
        for d in digests {
            v.extend(Tpm2bDigest::new(d).unwrap().to_bytes());
        }
        v
    }

    fn pcr_extend(e: &mut Engine, pcr: u32, data: &[u8; 32]) {
        let mut p = vec![0, 0, 0, 1, 0, 0x0B];
        p.extend(data);
        expect_rc(
            e,
            TpmCc::PCR_EXTEND,
            &[TpmHandle(pcr)],
            &[testutil::pw()],
            &p,
            TpmRc::SUCCESS,
        );
    }

    fn insert_sealed(e: &mut Engine, policy: &[u8], auth: &[u8]) {
        let public = TpmtPublic {
            name_alg: TpmAlgId::SHA256,
            object_attributes: TpmaObject(TpmaObject::FIXED_TPM | TpmaObject::FIXED_PARENT),
            auth_policy: Tpm2bDigest::new(policy).unwrap(),
            detail: PublicDetail::KeyedHash {
                parameters: TpmsKeyedhashParms {
                    scheme: TpmtKeyedhashScheme::Null,
                },
                unique: Tpm2bDigest::new(&[0x33; 32]).unwrap(),
            },
        };
        let sensitive = Sensitive {
            auth: Zeroizing::new(auth.to_vec()),
            seed_value: Zeroizing::new(vec![2; 32]),
            private: Zeroizing::new(b"policy secret".to_vec()),
        };
        let obj = Object::new(
            public,
            &TpmHandle::OWNER.0.to_be_bytes(),
            TpmHandle::OWNER,
            sensitive,
        );
        e.state.vol.objects.insert(SEALED.0, obj);
    }

    fn policy_auth(h: TpmHandle, nonce: &[u8], hmac: &[u8]) -> TpmsAuthCommand {
        TpmsAuthCommand {
            session_handle: h,
            nonce: Tpm2bNonce::new(nonce).unwrap(),
            attributes: TpmaSession(TpmaSession::CONTINUE_SESSION),
            hmac: Tpm2bAuth::new(hmac).unwrap(),
        }
    }

    #[test]
    fn trial_digests_follow_the_specification() {
        let mut e = testutil::engine();
        let (t, _) = start(&mut e, 3);
        let zero = [0u8; 32];

        ok(
            &mut e,
            TpmCc::POLICY_COMMAND_CODE,
            t,
            &cc_bytes(TpmCc::UNSEAL),
        );
        let mut want = sha256(&[
            &zero,
            &cc_bytes(TpmCc::POLICY_COMMAND_CODE),
            &cc_bytes(TpmCc::UNSEAL),
        ]);
        assert_eq!(get_digest(&mut e, t), want);

        ok(&mut e, TpmCc::POLICY_PASSWORD, t, &[]);
        want = sha256(&[&want, &cc_bytes(TpmCc::POLICY_AUTH_VALUE)]);
        assert_eq!(get_digest(&mut e, t), want);
        ok(&mut e, TpmCc::POLICY_AUTH_VALUE, t, &[]);
        want = sha256(&[&want, &cc_bytes(TpmCc::POLICY_AUTH_VALUE)]);
        assert_eq!(get_digest(&mut e, t), want);

        ok(&mut e, TpmCc::POLICY_LOCALITY, t, &[0b0000_0011]);
        want = sha256(&[&want, &cc_bytes(TpmCc::POLICY_LOCALITY), &[3]]);
        assert_eq!(get_digest(&mut e, t), want);

        // PolicyPCR over SHA-256 PCR 0 and 3, both zero after Startup(CLEAR).
        let sel = sel256([0b0000_1001, 0, 0]);
        let mut p = Tpm2bDigest::empty().to_bytes();
        p.extend(&sel);
        ok(&mut e, TpmCc::POLICY_PCR, t, &p);
        let pcr_digest = sha256(&[&zero, &zero]);
        want = sha256(&[&want, &cc_bytes(TpmCc::POLICY_PCR), &sel, &pcr_digest]);
        assert_eq!(get_digest(&mut e, t), want);
        // A trial session takes a given pcrDigest as it is.
        let mut p = Tpm2bDigest::new(&[7u8; 32]).unwrap().to_bytes();
        p.extend(&sel);
        ok(&mut e, TpmCc::POLICY_PCR, t, &p);
        want = sha256(&[&want, &cc_bytes(TpmCc::POLICY_PCR), &sel, &[7u8; 32]]);
        assert_eq!(get_digest(&mut e, t), want);

        // PolicyOR in a trial session accepts any list and starts from zeros.
        let (a, b) = ([1u8; 32], [2u8; 20]);
        ok(&mut e, TpmCc::POLICY_OR, t, &or_list(&[&a, &b]));
        want = sha256(&[&zero, &cc_bytes(TpmCc::POLICY_OR), &a, &b]);
        assert_eq!(get_digest(&mut e, t), want);

        // The session's flags: the last of PolicyPassword/PolicyAuthValue wins.
        let s = &e.state.vol.sessions[&t.0].policy;
        assert!(s.auth_value_needed && !s.password_needed);
        assert_eq!(s.command_code, Some(TpmCc::UNSEAL));
        assert_eq!(s.locality, 3);
        assert_eq!(
            s.pcr_counter, None,
            "a trial session records no PCR counter"
        );
        ok(&mut e, TpmCc::POLICY_PASSWORD, t, &[]);
        let s = &e.state.vol.sessions[&t.0].policy;
        assert!(!s.auth_value_needed && s.password_needed);
    }

    #[test]
    fn pcr_selection_is_filtered_before_hashing() {
        let mut e = testutil::engine();
        let (t, _) = start(&mut e, 3);
        // Deallocate SHA-256 PCR 2 in this engine: selecting PCRs 0 and 2 hashes PCR 0 only,
        // and the selection in the digest has PCR 2 removed.
        for b in &mut e.state.vol.pcr.banks {
            if b.alg == HashAlg::Sha256 {
                b.allocated &= !(1 << 2);
            }
        }
        let mut p = Tpm2bDigest::empty().to_bytes();
        p.extend(sel256([0b101, 0, 0]));
        let sel = sel256([1, 0, 0]);
        ok(&mut e, TpmCc::POLICY_PCR, t, &p);
        let want = sha256(&[
            &[0u8; 32],
            &cc_bytes(TpmCc::POLICY_PCR),
            &sel,
            &sha256(&[&[0u8; 32]]),
        ]);
        assert_eq!(get_digest(&mut e, t), want);
    }

    #[test]
    fn parameter_errors() {
        let mut e = testutil::engine();
        let (p, _) = start(&mut e, 1);
        let (t, _) = start(&mut e, 3);
        let value1 = TpmRc::VALUE.with_parameter(1);
        let range1 = TpmRc::RANGE.with_parameter(1);
        let size1 = TpmRc::SIZE.with_parameter(1);
        let h = |s| [s];
        // PolicyOR: 2..8 entries; the current digest must be listed (not for trial).
        let d = [9u8; 32];
        for s in [p, t] {
            let c = TpmCc::POLICY_OR;
            expect_rc(&mut e, c, &h(s), &[], &or_list(&[&d]), size1);
            expect_rc(&mut e, c, &h(s), &[], &or_list(&[&d[..]; 9]), size1);
            expect_rc(&mut e, c, &h(s), &[], &or_list(&[]), size1);
            // The count is judged before the (here truncated) digests are read.
            expect_rc(&mut e, c, &h(s), &[], &[0, 0, 0, 1, 0, 0x20, 0x30], size1);
        }
        expect_rc(
            &mut e,
            TpmCc::POLICY_OR,
            &[p],
            &[],
            &or_list(&[&d, &d]),
            value1,
        );
        ok(&mut e, TpmCc::POLICY_OR, p, &or_list(&[&d, &[0u8; 32]]));
        assert_eq!(
            get_digest(&mut e, p),
            sha256(&[&[0u8; 32], &cc_bytes(TpmCc::POLICY_OR), &d, &[0u8; 32]])
        );
        // PolicyLocality.
        let c = TpmCc::POLICY_LOCALITY;
        expect_rc(&mut e, c, &[p], &[], &[0], range1);
        ok(&mut e, c, p, &[0b0000_0110]);
        expect_rc(&mut e, c, &[p], &[], &[0b0000_1001], range1);
        expect_rc(&mut e, c, &[p], &[], &[40], range1);
        ok(&mut e, c, p, &[0b0001_0100]);
        assert_eq!(e.state.vol.sessions[&p.0].policy.locality, 0b100);
        ok(&mut e, TpmCc::POLICY_RESTART, p, &[]);
        ok(&mut e, c, p, &[40]);
        expect_rc(&mut e, c, &[p], &[], &[41], range1);
        expect_rc(&mut e, c, &[p], &[], &[1], range1);
        ok(&mut e, c, p, &[40]);
        expect_rc(
            &mut e,
            c,
            &[p],
            &[],
            &[],
            TpmRc::INSUFFICIENT.with_parameter(1),
        );
        // PolicyCommandCode.
        let c = TpmCc::POLICY_COMMAND_CODE;
        ok(&mut e, c, p, &cc_bytes(TpmCc::UNSEAL));
        ok(&mut e, c, p, &cc_bytes(TpmCc::UNSEAL));
        expect_rc(&mut e, c, &[p], &[], &cc_bytes(TpmCc::SIGN), value1);
        let policy_cc1 = TpmRc::POLICY_CC.with_parameter(1);
        expect_rc(
            &mut e,
            c,
            &[t],
            &[],
            &0x0000_0FFFu32.to_be_bytes(),
            policy_cc1,
        );
        expect_rc(
            &mut e,
            c,
            &[t],
            &[],
            &cc_bytes(TpmCc::UNSEAL),
            TpmRc::SUCCESS,
        );
        // Trailing bytes.
        expect_rc(
            &mut e,
            TpmCc::POLICY_AUTH_VALUE,
            &[p],
            &[],
            &[0],
            TpmRc::SIZE,
        );
        expect_rc(&mut e, TpmCc::POLICY_PASSWORD, &[p], &[], &[0], TpmRc::SIZE);
        // PolicyPCR: a wrong pcrDigest fails in a policy session only.
        let mut bad = Tpm2bDigest::new(&[7u8; 32]).unwrap().to_bytes();
        bad.extend(sel256([1, 0, 0]));
        expect_rc(&mut e, TpmCc::POLICY_PCR, &[p], &[], &bad, value1);
        expect_rc(&mut e, TpmCc::POLICY_PCR, &[t], &[], &bad, TpmRc::SUCCESS);
        // Not a policy session handle.
        expect_rc(
            &mut e,
            TpmCc::POLICY_AUTH_VALUE,
            &[TpmHandle(0x0300_0010)],
            &[],
            &[],
            TpmRc::REFERENCE_H0,
        );
    }

    #[test]
    fn pcr_policy_unseals_until_the_pcr_changes() {
        let mut e = testutil::engine();
        // Bring the PCR update counter away from its start value first.
        pcr_extend(&mut e, 1, &[0x11; 32]);
        let sel = sel256([1, 0, 0]);
        let pcr0 = [0u8; 32];
        let policy = sha256(&[
            &[0u8; 32],
            &cc_bytes(TpmCc::POLICY_PCR),
            &sel,
            &sha256(&[&pcr0]),
        ]);
        insert_sealed(&mut e, &policy, b"");
        let (p, nonce) = start(&mut e, 1);
        let mut params = Tpm2bDigest::new(&sha256(&[&pcr0])).unwrap().to_bytes();
        params.extend(&sel);
        ok(&mut e, TpmCc::POLICY_PCR, p, &params);
        let (rc, rsp) = run(
            &mut e,
            TpmCc::UNSEAL,
            &[SEALED],
            &[policy_auth(p, &nonce, &[])],
            &[],
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        assert_eq!(&r.parameters[2..], b"policy secret");

        // The session was reset by its use; assert again, then change PCR 0.
        ok(&mut e, TpmCc::POLICY_PCR, p, &params);
        let ext = [0x22u8; 32];
        pcr_extend(&mut e, 0, &ext);
        let auth = [policy_auth(p, &nonce, &[])];
        let (rc, _) = run(&mut e, TpmCc::UNSEAL, &[SEALED], &auth, &[]);
        assert_eq!(rc, TpmRc::PCR_CHANGED);
        // Asserting again in the same session: the recorded counter is stale.
        let mut any = Tpm2bDigest::empty().to_bytes();
        any.extend(&sel);
        expect_rc(
            &mut e,
            TpmCc::POLICY_PCR,
            &[p],
            &[],
            &any,
            TpmRc::PCR_CHANGED,
        );
        // With the stale expected digest: TPM_RC_VALUE after a restart.
        ok(&mut e, TpmCc::POLICY_RESTART, p, &[]);
        expect_rc(
            &mut e,
            TpmCc::POLICY_PCR,
            &[p],
            &[],
            &params,
            TpmRc::VALUE.with_parameter(1),
        );
        // The new PCR value gives a digest that no longer matches the object's policy.
        ok(&mut e, TpmCc::POLICY_PCR, p, &any);
        let new0 = sha256(&[&pcr0, &ext]);
        let want = sha256(&[
            &[0u8; 32],
            &cc_bytes(TpmCc::POLICY_PCR),
            &sel,
            &sha256(&[&new0]),
        ]);
        assert_eq!(get_digest(&mut e, p), want);
        let (rc, _) = run(&mut e, TpmCc::UNSEAL, &[SEALED], &auth, &[]);
        assert_eq!(rc, TpmRc::POLICY_FAIL.with_session(1));
    }

    #[test]
    fn password_and_command_code_policy_authorizes_unseal() {
        let mut e = testutil::engine();
        let zero = [0u8; 32];
        let a = sha256(&[
            &zero,
            &cc_bytes(TpmCc::POLICY_COMMAND_CODE),
            &cc_bytes(TpmCc::UNSEAL),
        ]);
        let a = sha256(&[&a, &cc_bytes(TpmCc::POLICY_AUTH_VALUE)]);
        let b = sha256(&[&zero, &cc_bytes(TpmCc::POLICY_LOCALITY), &[0b0000_0010]]);
        let or = sha256(&[&zero, &cc_bytes(TpmCc::POLICY_OR), &a, &b]);
        insert_sealed(&mut e, &or, b"pw");
        let (p, nonce) = start(&mut e, 1);
        ok(
            &mut e,
            TpmCc::POLICY_COMMAND_CODE,
            p,
            &cc_bytes(TpmCc::UNSEAL),
        );
        ok(&mut e, TpmCc::POLICY_PASSWORD, p, &[]);
        ok(&mut e, TpmCc::POLICY_OR, p, &or_list(&[&a, &b]));
        assert_eq!(get_digest(&mut e, p), or);
        // PolicyPassword: the password travels in the HMAC field.
        let (rc, _) = run(
            &mut e,
            TpmCc::UNSEAL,
            &[SEALED],
            &[policy_auth(p, &nonce, b"no")],
            &[],
        );
        assert_eq!(rc, TpmRc::AUTH_FAIL.with_session(1));
        // A failed authorization leaves the session's assertions in place.
        assert_eq!(get_digest(&mut e, p), or);
        let (rc, rsp) = run(
            &mut e,
            TpmCc::UNSEAL,
            &[SEALED],
            &[policy_auth(p, &nonce, b"pw")],
            &[],
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::UNSEAL).unwrap();
        assert_eq!(&r.parameters[2..], b"policy secret");
        // The locality branch: only at locality 1.
        ok(&mut e, TpmCc::POLICY_LOCALITY, p, &[0b0000_0010]);
        ok(&mut e, TpmCc::POLICY_OR, p, &or_list(&[&a, &b]));
        let auth = [policy_auth(p, &nonce, &[])];
        let cmd = tpm2::command::build_command(TpmCc::UNSEAL, &[SEALED], &auth, &[]).unwrap();
        assert_eq!(testutil::rc_of(&e.execute(0, &cmd)), TpmRc::LOCALITY);
        assert_eq!(testutil::rc_of(&e.execute(1, &cmd)), TpmRc::SUCCESS);
        // A policy that is not in the list.
        expect_rc(
            &mut e,
            TpmCc::POLICY_OR,
            &[p],
            &[],
            &or_list(&[&a, &b]),
            TpmRc::VALUE.with_parameter(1),
        );
    }

    fn secret_params(nonce: &[u8], cp: &[u8], policy_ref: &[u8], expiration: i32) -> Vec<u8> {
        let mut p = Tpm2bNonce::new(nonce).unwrap().to_bytes();
        p.extend(Tpm2bDigest::new(cp).unwrap().to_bytes());
        p.extend(Tpm2bNonce::new(policy_ref).unwrap().to_bytes());
        p.extend(expiration.to_be_bytes());
        p
    }

    #[test]
    fn policy_secret_digest_timeout_and_ticket() {
        use hmac::Mac;
        let p = testutil::TestPlatform::new(3);
        let clock = p.clock();
        let mut e = Engine::manufacture(Box::new(p));
        expect_rc(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0], TpmRc::SUCCESS);
        clock.set(5000);
        let (s, _) = start(&mut e, 1);
        let nonce_tpm = e.state.vol.sessions[&s.0].nonce_tpm.clone();
        let start_time = e.state.vol.sessions[&s.0].start_time;
        let owner = TpmHandle::OWNER;
        let cp = [4u8; 32];
        let params = secret_params(&nonce_tpm, &cp, b"ref", -10);
        let (rc, rsp) = run(
            &mut e,
            TpmCc::POLICY_SECRET,
            &[owner, s],
            &[testutil::pw()],
            &params,
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::POLICY_SECRET).unwrap();
        // Digest: H(H(0 || TPM_CC_PolicySecret || name(owner)) || policyRef).
        let d = sha256(&[
            &[0u8; 32],
            &cc_bytes(TpmCc::POLICY_SECRET),
            &owner.0.to_be_bytes(),
        ]);
        assert_eq!(get_digest(&mut e, s), sha256(&[&d, b"ref"]));
        // Timeout: session start + 10 s; the nonce was given, so no expires-on-reset flag.
        let timeout = start_time + 10_000;
        let mut want = Tpm2bTimeout::new(&timeout.to_be_bytes())
            .unwrap()
            .to_bytes();
        let proof = e.state.proof(owner).to_vec();
        let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(&proof).unwrap();
        for part in [
            &TpmSt::AUTH_SECRET.0.to_be_bytes()[..],
            &timeout.to_be_bytes(),
            &cp,
            b"ref",
            &owner.0.to_be_bytes(),
        ] {
            mac.update(part);
        }
        let mac = mac.finalize().into_bytes();
        want.extend(TpmSt::AUTH_SECRET.0.to_be_bytes());
        want.extend(owner.0.to_be_bytes());
        want.extend(Tpm2bDigest::new(&mac).unwrap().to_bytes());
        assert_eq!(r.parameters, want.as_slice());
        let policy = &e.state.vol.sessions[&s.0].policy;
        assert_eq!(policy.timeout, timeout);
        assert_eq!(policy.binding, PolicyBinding::CpHash(cp.to_vec()));

        // Without nonceTPM the timeout counts from now and carries the expires-on-reset bit.
        ok(&mut e, TpmCc::POLICY_RESTART, s, &[]);
        clock.set(7000);
        let params = secret_params(&[], &[], &[], -1);
        let (rc, rsp) = run(
            &mut e,
            TpmCc::POLICY_SECRET,
            &[owner, s],
            &[testutil::pw()],
            &params,
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::POLICY_SECRET).unwrap();
        let now = e.state.perm.clock;
        let flagged = (now + 1000) | (1 << 63);
        assert_eq!(
            &r.parameters[..10],
            &[&[0, 8][..], &flagged.to_be_bytes()].concat()
        );
        // A positive expiration gives no ticket; an expired one is refused.
        ok(&mut e, TpmCc::POLICY_RESTART, s, &[]);
        let params = secret_params(&[], &[], &[], 1);
        let (rc, rsp) = run(
            &mut e,
            TpmCc::POLICY_SECRET,
            &[owner, s],
            &[testutil::pw()],
            &params,
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::POLICY_SECRET).unwrap();
        assert_eq!(r.parameters, [0, 0, 0x80, 0x23, 0x40, 0, 0, 7, 0, 0]);
        let nonce_tpm = e.state.vol.sessions[&s.0].nonce_tpm.clone();
        let start_time = e.state.vol.sessions[&s.0].start_time;
        assert!(
            now > start_time + 1000,
            "the session is older than one second"
        );
        let params = secret_params(&nonce_tpm, &[], &[], 1);
        expect_rc(
            &mut e,
            TpmCc::POLICY_SECRET,
            &[owner, s],
            &[testutil::pw()],
            &params,
            TpmRc::EXPIRED.with_parameter(4),
        );
    }

    #[test]
    fn policy_state_survives_save_and_restore() {
        let mut e = testutil::engine();
        let (p, _) = start(&mut e, 1);
        ok(
            &mut e,
            TpmCc::POLICY_COMMAND_CODE,
            p,
            &cc_bytes(TpmCc::UNSEAL),
        );
        ok(&mut e, TpmCc::POLICY_LOCALITY, p, &[3]);
        let mut params = Tpm2bDigest::empty().to_bytes();
        params.extend(sel256([1, 0, 0]));
        ok(&mut e, TpmCc::POLICY_PCR, p, &params);
        ok(&mut e, TpmCc::POLICY_PASSWORD, p, &[]);
        let before = e.state.vol.sessions[&p.0].policy.clone();
        let blob = e.save_state();
        let mut back = Engine::restore(&blob, Box::new(testutil::TestPlatform::new(1))).unwrap();
        assert_eq!(back.state.vol.sessions[&p.0].policy, before);
        assert_eq!(get_digest(&mut back, p), before.digest);
    }
}

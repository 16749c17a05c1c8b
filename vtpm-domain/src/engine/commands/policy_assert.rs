//! Enhanced Authorization commands that assert something outside the session (TCG TPM 2.0
//! Library part 3 §23; part 1 §19.7):
//!
//! - §23.3 TPM2_PolicySigned: a signature by authObject over `aHash = H_sig(nonceTPM ||
//!   expiration || cpHashA || policyRef)`; the digest update, restrictions and ticket are those
//!   of TPM2_PolicySecret (`policy.rs`), the ticket tagged TPM_ST_AUTH_SIGNED.
//! - §23.5 TPM2_PolicyTicket: replays a TPM2_PolicySigned/Secret authorization from its ticket
//!   (the timeout buffer's top bit marks a ticket that expires on TPM Reset, as this TPM issues
//!   them); not in trial sessions (TPM_RC_ATTRIBUTES, as libtpms).
//! - §23.16 TPM2_PolicyAuthorize: replaces an approved policyDigest by `H(H(0…0 ||
//!   TPM_CC_PolicyAuthorize || keySign) || policyRef)` given a TPM2_VerifySignature ticket over
//!   `H_keyNameAlg(approvedPolicy || policyRef)`.
//! - §23.22 TPM2_PolicyAuthorizeNV: the same with the approved policy read from an NV index (a
//!   TPMT_HA): `H(0…0 || TPM_CC_PolicyAuthorizeNV || nvIndexName)`. Like libtpms, the index
//!   type is not checked: a counter's data is no TPMT_HA and fails to unmarshal.
//! - §23.9 TPM2_PolicyNV and §23.10 TPM2_PolicyCounterTimer: an arithmetic comparison
//!   (TPM_EO, part 2 §6.8) of NV index data resp. the marshalled TPMS_TIME_INFO with operandB;
//!   `H(policyDigest || cc || H(operandB || offset || operation) [|| nvIndexName])`.
//!
//! Trial sessions skip the checks and only update the digest. Error codes and their numbers
//! follow part 3 and libtpms (checked against swtpm in `tests/policy_vs_swtpm.rs`).

use alloc::vec::Vec;

use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSt;
use tpm2::structures::{
    Tpm2bDigest, Tpm2bName, Tpm2bNonce, Tpm2bOperand, Tpm2bTimeout, TpmaObject, TpmtHa,
    TpmtSignature, TpmtTkAuth, TpmtTkVerified,
};
use tpm2::{Reader, Unmarshal as _};

use super::hierarchy::time_info;
use super::keys::{check_signature_implemented, validate_signature, verified_ticket};
use super::nv::read_access;
use super::policy::{
    AuthTicket, Blame, EXPIRES_ON_RESET, auth_timeout, context_update, entity_hierarchy, extend,
    parameter_checks, put_no_ticket, session,
};
use crate::engine::Engine;
use crate::engine::auth::ct_eq;
use crate::engine::crypto::hash::{HashAlg, digest};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::{self, HandleKind};
use crate::engine::rcmap::wire_rc;
use crate::engine::session::SessionKind;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::POLICY_SIGNED,
        handles: &[HandleKind::Object, HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_signed,
    },
    Entry {
        cc: TpmCc::POLICY_TICKET,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_ticket,
    },
    Entry {
        cc: TpmCc::POLICY_AUTHORIZE,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_authorize,
    },
    Entry {
        cc: TpmCc::POLICY_AUTHORIZE_NV,
        handles: &[
            HandleKind::NvAuth,
            HandleKind::NvIndex,
            HandleKind::PolicySession,
        ],
        roles: &[AuthRole::User],
        nv: false,
        handler: policy_authorize_nv,
    },
    Entry {
        cc: TpmCc::POLICY_NV,
        handles: &[
            HandleKind::NvAuth,
            HandleKind::NvIndex,
            HandleKind::PolicySession,
        ],
        roles: &[AuthRole::User],
        nv: false,
        handler: policy_nv,
    },
    Entry {
        cc: TpmCc::POLICY_COUNTER_TIMER,
        handles: &[HandleKind::PolicySession],
        roles: &[],
        nv: false,
        handler: policy_counter_timer,
    },
];

/// TPM2_PolicySigned (part 3 §23.3).
///
/// Parameters: nonceTPM (1), cpHashA (2), policyRef (3), expiration (4), auth (5).
fn policy_signed(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let nonce_tpm: Tpm2bNonce = ctx.param()?;
    let cp_hash: Tpm2bDigest = ctx.param()?;
    let policy_ref: Tpm2bNonce = ctx.param()?;
    let expiration: i32 = ctx.param()?;
    let signature: TpmtSignature = ctx.param()?;
    check_signature_implemented(&signature, 5)?;
    ctx.finish()?;
    let key = ctx.handles[0];
    let obj = e.state.object(key).ok_or(TpmRc::HANDLE.with_handle(1))?;
    let attrs = obj.public.object_attributes;
    if !attrs.has(TpmaObject::SIGN) || obj.public.object_type() == TpmAlgId::SYMCIPHER {
        return Err(TpmRc::TYPE.with_handle(1));
    }
    let name = entity::name(e, key);
    let hierarchy = entity_hierarchy(e, key);
    let now = e.state.perm.clock;
    let (nonce, cp, r) = (
        nonce_tpm.as_bytes(),
        cp_hash.as_bytes(),
        policy_ref.as_bytes(),
    );
    let (trial, start) = {
        let s = session(e, ctx)?;
        (s.kind == SessionKind::Trial, s.start_time)
    };
    let mut timeout = 0;
    if !trial {
        timeout = auth_timeout(start, now, expiration, !nonce.is_empty());
        let blame = Blame {
            nonce: 1,
            cp_hash: 2,
            expiration: 4,
        };
        parameter_checks(session(e, ctx)?, now, nonce, cp, timeout, &blame)?;
        let a_hash = signature
            .hash_alg()
            .and_then(HashAlg::from_alg)
            .map(|h| digest(h, &[nonce, &expiration.to_be_bytes(), cp, r]))
            .unwrap_or_default();
        validate_signature(e, key, &a_hash, &signature).map_err(|rc| rc.with_parameter(5))?;
    }
    context_update(
        session(e, ctx)?,
        TpmCc::POLICY_SIGNED,
        &name,
        r,
        cp,
        timeout,
    );
    if expiration < 0 && !trial {
        AuthTicket {
            tag: TpmSt::AUTH_SIGNED,
            hierarchy,
            timeout,
            expires_on_reset: nonce.is_empty(),
            cp_hash: cp,
            policy_ref: r,
            name: &name,
        }
        .put(e, ctx)?;
    } else {
        put_no_ticket(ctx, true);
    }
    Ok(())
}

/// TPM2_PolicyTicket (part 3 §23.5).
///
/// Parameters: timeout (1), cpHashA (2), policyRef (3), authName (4), ticket (5).
fn policy_ticket(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let timeout_buf: Tpm2bTimeout = ctx.param()?;
    let cp_hash: Tpm2bDigest = ctx.param()?;
    let policy_ref: Tpm2bNonce = ctx.param()?;
    let auth_name: Tpm2bName = ctx.param()?;
    let ticket: TpmtTkAuth = ctx.param()?;
    ctx.finish()?;
    // A trial session has no use for a ticket: it may assert the authorization itself.
    if session(e, ctx)?.kind == SessionKind::Trial {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    let raw: [u8; 8] = timeout_buf
        .as_bytes()
        .try_into()
        .map_err(|_| TpmRc::SIZE.with_parameter(1))?;
    let flagged = u64::from_be_bytes(raw);
    let timeout = flagged & !EXPIRES_ON_RESET;
    let (cp, r, name) = (
        cp_hash.as_bytes(),
        policy_ref.as_bytes(),
        auth_name.as_bytes(),
    );
    let now = e.state.perm.clock;
    let blame = Blame {
        nonce: 0,
        cp_hash: 2,
        expiration: 1,
    };
    parameter_checks(session(e, ctx)?, now, &[], cp, timeout, &blame)?;
    let expected = AuthTicket {
        tag: ticket.tag(),
        hierarchy: ticket.hierarchy,
        timeout,
        expires_on_reset: flagged & EXPIRES_ON_RESET != 0,
        cp_hash: cp,
        policy_ref: r,
        name,
    }
    .hmac(e);
    if !ct_eq(&expected, ticket.digest.as_bytes()) {
        return Err(TpmRc::TICKET.with_parameter(5));
    }
    let cc = if ticket.signed {
        TpmCc::POLICY_SIGNED
    } else {
        TpmCc::POLICY_SECRET
    };
    context_update(session(e, ctx)?, cc, name, r, cp, timeout);
    Ok(())
}

/// TPM2_PolicyAuthorize (part 3 §23.16).
///
/// Parameters: approvedPolicy (1), policyRef (2), keySign (3), checkTicket (4).
fn policy_authorize(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let approved: Tpm2bDigest = ctx.param()?;
    let policy_ref: Tpm2bNonce = ctx.param()?;
    let key_sign: Tpm2bName = ctx.param()?;
    let ticket: TpmtTkVerified = ctx.param()?;
    ctx.finish()?;
    // The key's Name algorithm decides the digest size; both are checked in trial sessions
    // too (a Name too short to hold an algorithm is an unknown algorithm, as in libtpms).
    let name = key_sign.as_bytes();
    let alg = match name {
        [a, b, ..] => TpmAlgId(u16::from_be_bytes([*a, *b])),
        _ => TpmAlgId::NULL,
    };
    let hash = HashAlg::from_alg(alg).ok_or(TpmRc::HASH.with_parameter(3))?;
    if name.len() - 2 != hash.digest_size() {
        return Err(TpmRc::SIZE.with_parameter(3));
    }
    let trial = session(e, ctx)?.kind == SessionKind::Trial;
    if !trial {
        if approved.as_bytes() != session(e, ctx)?.policy.digest {
            return Err(TpmRc::VALUE.with_parameter(1));
        }
        let a_hash = digest(hash, &[approved.as_bytes(), policy_ref.as_bytes()]);
        let want = verified_ticket(e, ticket.hierarchy, &a_hash, name);
        if !ct_eq(want.digest.as_bytes(), ticket.digest.as_bytes()) {
            return Err(TpmRc::VALUE.with_parameter(4));
        }
    }
    let s = session(e, ctx)?;
    s.policy.digest.fill(0);
    context_update(
        s,
        TpmCc::POLICY_AUTHORIZE,
        key_sign.as_bytes(),
        policy_ref.as_bytes(),
        &[],
        0,
    );
    Ok(())
}

/// TPM2_PolicyAuthorizeNV (part 3 §23.22): the index (an ordinary one, readable with the
/// command's authorization) holds a TPMT_HA that must be the session's hash and
/// policyDigest.
fn policy_authorize_nv(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let (auth, h) = (ctx.handles[0], ctx.handles[1]);
    let index = e.state.perm.nv.get(h).ok_or(TpmRc::HANDLE.with_handle(2))?;
    let nv_name = index.name();
    let s = session(e, ctx)?;
    if s.kind != SessionKind::Trial {
        let (hash, current) = (s.hash, s.policy.digest.clone());
        let index = e.state.perm.nv.get(h).ok_or(TpmRc::HANDLE.with_handle(2))?;
        read_access(auth, h, index.attrs())?;
        // The index's data must start with a TPMT_HA (an unknown hash is TPM_RC_HASH, as the
        // unmarshalling in libtpms answers; a counter or bit field never holds one).
        let mut r = Reader::new(&index.data);
        let stored = TpmtHa::unmarshal(&mut r).map_err(|err| wire_rc(&err))?;
        if stored.hash_alg() != hash.alg() {
            return Err(TpmRc::HASH);
        }
        if !ct_eq(stored.digest(), &current) {
            return Err(TpmRc::VALUE);
        }
    }
    let s = session(e, ctx)?;
    s.policy.digest.fill(0);
    extend(s, TpmCc::POLICY_AUTHORIZE_NV, &[&nv_name]);
    Ok(())
}

/// TPM_EO (part 2 §6.8): how a TPM value A compares with operandB.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Neq,
    SignedGt,
    UnsignedGt,
    SignedLt,
    UnsignedLt,
    SignedGe,
    UnsignedGe,
    SignedLe,
    UnsignedLe,
    BitSet,
    BitClear,
}

impl Op {
    /// The operation of a TPM_EO value; TPM_RC_VALUE for parameter `n` otherwise.
    fn from_u16(v: u16, n: u8) -> Result<Self, TpmRc> {
        Ok(match v {
            0 => Self::Eq,
            1 => Self::Neq,
            2 => Self::SignedGt,
            3 => Self::UnsignedGt,
            4 => Self::SignedLt,
            5 => Self::UnsignedLt,
            6 => Self::SignedGe,
            7 => Self::UnsignedGe,
            8 => Self::SignedLe,
            9 => Self::UnsignedLe,
            10 => Self::BitSet,
            11 => Self::BitClear,
            _ => return Err(TpmRc::VALUE.with_parameter(n)),
        })
    }

    /// `a op b` for two big-endian numbers of the same length (the reference implementation's
    /// PolicySptCheckCondition). Signed comparisons follow part 4's SignedCompareB: with
    /// different sign bits the negative one is smaller; two negative operands compare in the
    /// reverse of their unsigned order (so 0x81 > 0x82, as on every TPM built from the
    /// reference code and as tpm2-tools' tests expect).
    fn holds(self, a: &[u8], b: &[u8]) -> bool {
        use core::cmp::Ordering;
        let unsigned = a.cmp(b);
        let negative = |x: &[u8]| x.first().is_some_and(|f| f & 0x80 != 0);
        let signed = match (negative(a), negative(b)) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (true, true) => unsigned.reverse(),
            (false, false) => unsigned,
        };
        match self {
            Self::Eq => unsigned == Ordering::Equal,
            Self::Neq => unsigned != Ordering::Equal,
            Self::SignedGt => signed == Ordering::Greater,
            Self::UnsignedGt => unsigned == Ordering::Greater,
            Self::SignedLt => signed == Ordering::Less,
            Self::UnsignedLt => unsigned == Ordering::Less,
            Self::SignedGe => signed != Ordering::Less,
            Self::UnsignedGe => unsigned != Ordering::Less,
            Self::SignedLe => signed != Ordering::Greater,
            Self::UnsignedLe => unsigned != Ordering::Greater,
            Self::BitSet => a.iter().zip(b).all(|(x, y)| x & y == *y),
            Self::BitClear => a.iter().zip(b).all(|(x, y)| x & y == 0),
        }
    }
}

/// `H(operandB || offset || operation)`, the argument digest of TPM2_PolicyNV and
/// TPM2_PolicyCounterTimer.
fn args_hash(hash: HashAlg, operand: &[u8], offset: u16, operation: u16) -> Vec<u8> {
    digest(
        hash,
        &[operand, &offset.to_be_bytes(), &operation.to_be_bytes()],
    )
}

/// TPM2_PolicyNV (part 3 §23.9).
///
/// Parameters: operandB (1), offset (2), operation (3).
fn policy_nv(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let operand: Tpm2bOperand = ctx.param()?;
    let offset: u16 = ctx.param()?;
    let operation: u16 = ctx.param()?;
    let op = Op::from_u16(operation, 3)?;
    ctx.finish()?;
    let (auth, h) = (ctx.handles[0], ctx.handles[1]);
    let index = e.state.perm.nv.get(h).ok_or(TpmRc::HANDLE.with_handle(2))?;
    let nv_name = index.name();
    let trial = session(e, ctx)?.kind == SessionKind::Trial;
    if !trial {
        let index = e.state.perm.nv.get(h).ok_or(TpmRc::HANDLE.with_handle(2))?;
        read_access(auth, h, index.attrs())?;
        let (size, off) = (usize::from(index.public.data_size), usize::from(offset));
        if off > size {
            return Err(TpmRc::VALUE.with_parameter(2));
        }
        let b = operand.as_bytes();
        if size - off < b.len() {
            return Err(TpmRc::SIZE.with_parameter(1));
        }
        let a = index.data.get(off..off + b.len()).ok_or(TpmRc::NV_RANGE)?;
        if !op.holds(a, b) {
            return Err(TpmRc::POLICY);
        }
    }
    let s = session(e, ctx)?;
    let args = args_hash(s.hash, operand.as_bytes(), offset, operation);
    extend(s, TpmCc::POLICY_NV, &[&args, &nv_name]);
    Ok(())
}

/// TPM2_PolicyCounterTimer (part 3 §23.10): compares with the marshalled TPMS_TIME_INFO (time,
/// clock, resetCount, restartCount, safe; not obfuscated).
///
/// Parameters: operandB (1), offset (2), operation (3).
fn policy_counter_timer(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let operand: Tpm2bOperand = ctx.param()?;
    let offset: u16 = ctx.param()?;
    let operation: u16 = ctx.param()?;
    let op = Op::from_u16(operation, 3)?;
    ctx.finish()?;
    // The offset checks apply to trial sessions too (a policy reaching outside
    // TPMS_TIME_INFO makes no sense); the comparison only to policy sessions.
    let trial = session(e, ctx)?.kind == SessionKind::Trial;
    let info = time_info(e).to_bytes();
    let (b, off) = (operand.as_bytes(), usize::from(offset));
    if off > info.len() {
        return Err(TpmRc::VALUE.with_parameter(2));
    }
    let a = info.get(off..off + b.len()).ok_or(TpmRc::RANGE)?;
    if !trial && !op.holds(a, b) {
        return Err(TpmRc::POLICY);
    }
    let s = session(e, ctx)?;
    let args = args_hash(s.hash, operand.as_bytes(), offset, operation);
    extend(s, TpmCc::POLICY_COUNTER_TIMER, &[&args]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    use tpm2::cc::TpmCc;
    use tpm2::handle::TpmHandle;
    use tpm2::rc::TpmRc;
    use tpm2::response::Response;
    use tpm2::structures::{Tpm2bDigest, Tpm2bName, Tpm2bNonce, Tpm2bTimeout, TpmtTkAuth};
    use tpm2::{Marshal as _, Reader, Unmarshal as _};

    use super::Op;
    use crate::engine::Engine;
    use crate::engine::testutil::{self, expect_rc, run};

    /// A policy session (SHA-256, no salt, no bind).
    fn policy_session(e: &mut Engine) -> TpmHandle {
        let mut p = Tpm2bNonce::new(&[0x5A; 16]).unwrap().to_bytes();
        p.extend([0, 0, 1, 0, 0x10, 0, 0x0B]);
        let (rc, rsp) = run(
            e,
            TpmCc::START_AUTH_SESSION,
            &[TpmHandle::NULL, TpmHandle::NULL],
            &[],
            &p,
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        Response::parse(&rsp, TpmCc::START_AUTH_SESSION)
            .unwrap()
            .handle
            .unwrap()
    }

    /// TPM2_PolicySecret(owner) without nonceTPM, expiring in `seconds`: timeout and ticket.
    fn secret_ticket(e: &mut Engine, seconds: i32) -> (Tpm2bTimeout, TpmtTkAuth) {
        let s = policy_session(e);
        let mut p = Tpm2bNonce::empty().to_bytes();
        p.extend(Tpm2bDigest::empty().to_bytes());
        p.extend(Tpm2bNonce::new(b"r").unwrap().to_bytes());
        p.extend((-seconds).to_be_bytes());
        let (rc, rsp) = run(
            e,
            TpmCc::POLICY_SECRET,
            &[TpmHandle::OWNER, s],
            &[testutil::pw()],
            &p,
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let r = Response::parse(&rsp, TpmCc::POLICY_SECRET).unwrap();
        let mut rd = Reader::new(r.parameters);
        let out = (
            Tpm2bTimeout::unmarshal(&mut rd).unwrap(),
            TpmtTkAuth::unmarshal(&mut rd).unwrap(),
        );
        expect_rc(
            e,
            TpmCc::FLUSH_CONTEXT,
            &[],
            &[],
            &s.0.to_be_bytes(),
            TpmRc::SUCCESS,
        );
        out
    }

    fn ticket_params(timeout: &Tpm2bTimeout, ticket: &TpmtTkAuth) -> Vec<u8> {
        let mut p = timeout.to_bytes();
        p.extend(Tpm2bDigest::empty().to_bytes());
        p.extend(Tpm2bNonce::new(b"r").unwrap().to_bytes());
        p.extend(
            Tpm2bName::new(&TpmHandle::OWNER.0.to_be_bytes())
                .unwrap()
                .to_bytes(),
        );
        ticket.marshal(&mut p);
        p
    }

    #[test]
    fn tickets_expire_with_the_clock_and_on_tpm_reset() {
        let platform = testutil::TestPlatform::new(5);
        let clock = platform.clock();
        let mut e = Engine::manufacture(Box::new(platform));
        expect_rc(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0], TpmRc::SUCCESS);
        clock.set(10_000);
        let (timeout, ticket) = secret_ticket(&mut e, 5);
        assert_eq!(timeout.as_bytes()[0] >> 7, 1, "expires on TPM Reset");
        let p = ticket_params(&timeout, &ticket);
        let s = policy_session(&mut e);
        expect_rc(&mut e, TpmCc::POLICY_TICKET, &[s], &[], &p, TpmRc::SUCCESS);
        // Past its timeout.
        clock.advance(6_000);
        let expired = TpmRc::EXPIRED.with_parameter(1);
        expect_rc(&mut e, TpmCc::POLICY_TICKET, &[s], &[], &p, expired);

        // A fresh ticket, then a TPM Reset: resetCount is in its HMAC.
        let (timeout, ticket) = secret_ticket(&mut e, 100);
        let p = ticket_params(&timeout, &ticket);
        expect_rc(&mut e, TpmCc::POLICY_TICKET, &[s], &[], &p, TpmRc::SUCCESS);
        expect_rc(&mut e, TpmCc::SHUTDOWN, &[], &[], &[0, 0], TpmRc::SUCCESS);
        e.power_on();
        expect_rc(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0], TpmRc::SUCCESS);
        let s = policy_session(&mut e);
        let bad = TpmRc::TICKET.with_parameter(5);
        expect_rc(&mut e, TpmCc::POLICY_TICKET, &[s], &[], &p, bad);
        assert_eq!(
            e.state.vol.sessions[&s.0].policy.digest,
            vec![0u8; 32],
            "the refused ticket left the session's digest alone"
        );
    }

    #[test]
    fn comparisons_follow_tpm_eo() {
        let (small, big, neg) = ([0x00, 0x05], [0x01, 0x00], [0xFF, 0xFF]);
        assert!(Op::Eq.holds(&small, &small) && !Op::Eq.holds(&small, &big));
        assert!(Op::Neq.holds(&small, &big));
        assert!(Op::UnsignedGt.holds(&big, &small) && !Op::UnsignedGt.holds(&big, &big));
        assert!(Op::UnsignedGt.holds(&neg, &big), "0xFFFF is large unsigned");
        assert!(Op::SignedLt.holds(&neg, &small), "0xFFFF is negative");
        // Two negatives: the reference code's order, the reverse of the unsigned one.
        assert!(Op::SignedGt.holds(&[0x81], &[0x82]) && Op::SignedLt.holds(&[0x82], &[0x81]));
        assert!(Op::SignedGt.holds(&small, &neg));
        assert!(Op::SignedGe.holds(&small, &small) && Op::UnsignedLe.holds(&small, &small));
        assert!(Op::UnsignedLt.holds(&small, &big) && Op::SignedLe.holds(&neg, &neg));
        assert!(Op::UnsignedGe.holds(&big, &small));
        assert!(Op::BitSet.holds(&[0b1110], &[0b0110]) && !Op::BitSet.holds(&[0b1010], &[0b0110]));
        assert!(
            Op::BitClear.holds(&[0b1000], &[0b0110]) && !Op::BitClear.holds(&[0b1100], &[0b0110])
        );
        for v in 0..12 {
            assert!(Op::from_u16(v, 3).is_ok());
        }
        assert!(Op::from_u16(12, 3).is_err());
    }
}

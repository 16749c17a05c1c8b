//! The anonymous-signing and two-phase ECC commands of TCG TPM 2.0 Library part 3 §19 and
//! §14.7, on NIST P-256 (the one curve the engine implements):
//!
//! - TPM2_Commit (§19.2): the first phase of an ECDAA signature with a key whose scheme is
//!   TPM_ALG_ECDAA: `K = [ds]P2`, `L = [r]P2` (when `s2`/`y2` give `P2 = (H_nameAlg(s2) mod p,
//!   y2)`) and `E = [r]P1` (or `[r]G` when neither `P1` nor `P2` is given), and the counter that
//!   names `r`;
//! - TPM2_EC_Ephemeral (§19.3): `Q = [r]G` for the ephemeral key of a two-phase key exchange;
//! - TPM2_ZGen_2Phase (§14.7): `outZ1 = [dsA]QsB`, `outZ2 = [r]QeB` (SP 800-56A C(2e, 2s, ECC
//!   CDH), scheme TPM_ALG_ECDH) with the ephemeral `r` of an earlier TPM2_EC_Ephemeral, which
//!   the command consumes;
//! - the ECDAA signature of TPM2_Sign (part 1 §C.4, part 4 `CryptEccSign`): nonceK random,
//!   `T = H(nonceK || digest)`, `s = r + T·ds mod n`, consuming the commitment `count`.
//!
//! The commit random value (part 1 §C.2.5; the reference implementation's `CryptGenerateR`,
//! `CryptCommit`, `CryptEndCommit`) is `r = KDFa(commitNonce, "ECDAA Commit", Name, counter)`,
//! redrawn from the next KDFa block while it is not below n or its upper half is zero. `Name`
//! is the key's Name for TPM2_Commit and ECDAA (so an `r` committed for one key signs only
//! with that key) and empty for TPM2_EC_Ephemeral and TPM2_ZGen_2Phase. A commitment sets bit
//! `counter mod 128` of the commit array; using one checks and clears that bit and rebuilds the
//! full counter from the 16-bit value the caller gives (`TPM_RC_VALUE` when the bit is clear or
//! the value is more than 128 commitments old), so each `r` is used at most once.
//!
//! The state lives in `state::CommitState` (its own optional section of the state blob). Every
//! command here that commits or consumes marks the engine dirty, so the domain persists the
//! change before the response leaves: a crash cannot bring back a consumed commitment, whose
//! reuse in a second ECDAA signature would reveal the private key.
//!
//! Response codes and their numbers are those of libtpms 0.9 (`tests/ecc_commit_vs_swtpm.rs`).
//! Differences: curves other than P-256 are TPM_RC_CURVE (libtpms has eight); the key
//! exchange schemes TPM_ALG_ECMQV and TPM_ALG_SM2 are not implemented (TPM_RC_SCHEME for
//! `inScheme`, as unmarshalling a TPMI_ECC_KEY_EXCHANGE without them gives).

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::st::TpmEccCurve;
use tpm2::structures::{
    PublicDetail, Tpm2bEccParameter, Tpm2bEccPoint, Tpm2bSensitiveData, TpmaObject, TpmsEccPoint,
    TpmsSignatureEcc, TpmtEccScheme, TpmtSignature,
};
use zeroize::Zeroizing;

use super::TpmRng;
use crate::engine::Engine;
use crate::engine::crypto::ecc::{Curve, EccPoint, EccPrivate, ecc_multiply, schnorr_combine};
use crate::engine::crypto::hash::{HashAlg, digest};
use crate::engine::crypto::kdf::kdfa_block;
use crate::engine::crypto::left_pad;
use crate::engine::dispatch::{Ctx, Entry};
use crate::engine::entity::HandleKind;
use crate::engine::object::{ecc_curve, ecc_private};
use crate::engine::state::COMMIT_ARRAY_BYTES;

/// This family's rows of the dispatch table. Each command changes the commit state, which must
/// be durable before the answer (see the module documentation).
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::COMMIT,
        handles: &[HandleKind::Object],
        roles: &[],
        nv: true,
        handler: commit,
    },
    Entry {
        cc: TpmCc::EC_EPHEMERAL,
        handles: &[],
        roles: &[],
        nv: true,
        handler: ec_ephemeral,
    },
    Entry {
        cc: TpmCc::ZGEN_2PHASE,
        handles: &[HandleKind::Object],
        roles: &[],
        nv: true,
        handler: zgen_2phase,
    },
];

/// The KDFa label of the commit random value (the reference implementation's COMMIT_STRING,
/// whose terminating zero octet KDFa supplies).
const COMMIT_LABEL: &[u8] = b"ECDAA Commit";
/// The hash of that KDFa (libtpms' CONTEXT_INTEGRITY_HASH_ALG).
const COMMIT_HASH: HashAlg = HashAlg::Sha512;
/// Size of commitNonce (a TPM2B_NONCE as large as the largest digest).
const COMMIT_NONCE_BYTES: usize = 64;
/// `counter mod (commit array bits)`.
const INDEX_MASK: u16 = {
    assert!(COMMIT_ARRAY_BYTES * 8 <= 0x1_0000 && (COMMIT_ARRAY_BYTES * 8).is_power_of_two());
    #[allow(clippy::cast_possible_truncation)]
    let bits = (COMMIT_ARRAY_BYTES * 8) as u16;
    bits - 1
};
/// How many KDFa blocks the commit random value may draw (each is refused with probability
/// below 2^-32).
const R_ATTEMPTS: u32 = 64;
/// How many nonces an ECDAA signature draws before giving up (each fails with probability
/// below 2^-255).
const SIGN_ATTEMPTS: usize = 16;

/// The bit of the commit array for `c` (byte, mask).
fn commit_bit(c: u16) -> (usize, u8) {
    let index = c & INDEX_MASK;
    (usize::from(index / 8), 1u8 << (index % 8))
}

/// commitNonce, drawn from the DRBG on first use after a TPM Reset.
fn commit_nonce(e: &mut Engine) -> Zeroizing<Vec<u8>> {
    if e.state.commit.nonce.is_empty() {
        let nonce = Zeroizing::new(e.random_vec(COMMIT_NONCE_BYTES));
        e.state.commit.nonce = nonce;
    }
    e.state.commit.nonce.clone()
}

/// The full counter of the outstanding commitment whose low 16 bits are `c`, or `None` when
/// there is none (`CryptGenerateR`'s check): its bit must be set, and it must be one of the
/// last 128 commitments.
fn committed_counter(e: &Engine, c: u16) -> Option<u64> {
    let (byte, mask) = commit_bit(c);
    if e.state.commit.array.get(byte).is_none_or(|b| b & mask == 0) {
        return None;
    }
    let mut current = e.state.commit.counter;
    #[allow(clippy::cast_possible_truncation)]
    if (c & INDEX_MASK) >= (current as u16 & INDEX_MASK) {
        // The commitment was made before the counter last wrapped past this bit.
        current = current.wrapping_sub(u64::from(INDEX_MASK) + 1);
    }
    #[allow(clippy::cast_possible_truncation)]
    if (current as u16 & !INDEX_MASK) != (c & !INDEX_MASK) {
        return None;
    }
    Some((current & !0xFFFF) | u64::from(c))
}

/// The commit random value (`CryptGenerateR`): for a new commitment (`count` `None`) of the
/// current counter, else of the outstanding commitment `count` (`None` if there is none).
fn generate_r(
    e: &mut Engine,
    curve: Curve,
    count: Option<u16>,
    name: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let counter = match count {
        None => e.state.commit.counter,
        Some(c) => committed_counter(e, c)?,
    };
    let nonce = commit_nonce(e);
    let size = curve.key_bytes();
    let bits = u32::try_from(size * 8).ok()?;
    // The reference implementation starts KDFa at iteration counter 1, which KDFa increments
    // before its first block.
    for i in 2..2 + R_ATTEMPTS {
        let block = kdfa_block(
            COMMIT_HASH,
            &nonce,
            COMMIT_LABEL,
            name,
            &counter.to_be_bytes(),
            i,
            bits,
        );
        let r = Zeroizing::new(block.get(..size)?.to_vec());
        let below_order = curve.reduce_mod_order(&r).ok()? == *r;
        // As in the reference implementation, one of the first size/2 + 1 octets must be set.
        if below_order && r.iter().take(size / 2 + 1).any(|&b| b != 0) {
            return Some(r);
        }
    }
    None
}

/// Makes the current counter an outstanding commitment (`CryptCommit`); returns its low 16
/// bits.
fn make_commitment(e: &mut Engine) -> u16 {
    let st = &mut e.state.commit;
    #[allow(clippy::cast_possible_truncation)]
    let old = st.counter as u16;
    st.counter = st.counter.wrapping_add(1);
    let (byte, mask) = commit_bit(old);
    if let Some(b) = st.array.get_mut(byte) {
        *b |= mask;
    }
    e.dirty = true;
    old
}

/// Consumes the outstanding commitment `c` (`CryptEndCommit`).
fn end_commitment(e: &mut Engine, c: u16) {
    let (byte, mask) = commit_bit(c);
    if let Some(b) = e.state.commit.array.get_mut(byte) {
        *b &= !mask;
    }
    e.dirty = true;
}

/// A TPM2B_ECC_POINT of `p` with coordinates of the curve's size; the empty point (both
/// coordinates empty) for `None`.
fn point_out(p: Option<&EccPoint>, curve: Curve) -> Result<Tpm2bEccPoint, TpmRc> {
    let coord = |v: &[u8]| {
        let padded = left_pad(v, curve.key_bytes()).ok_or(TpmRc::NO_RESULT)?;
        Tpm2bEccParameter::new(&padded).map_err(|_| TpmRc::NO_RESULT)
    };
    let point = match p {
        Some(p) => TpmsEccPoint {
            x: coord(&p.x)?,
            y: coord(&p.y)?,
        },
        None => TpmsEccPoint {
            x: Tpm2bEccParameter::empty(),
            y: Tpm2bEccParameter::empty(),
        },
    };
    Ok(Tpm2bEccPoint { point })
}

/// A TPMS_ECC_POINT as the crypto layer's point.
fn point_in(p: &TpmsEccPoint) -> EccPoint {
    EccPoint {
        x: p.x.as_bytes().to_vec(),
        y: p.y.as_bytes().to_vec(),
    }
}

/// `[k]P` (or `[k]G`); a failure is TPM_RC_NO_RESULT (part 3 §19.2: a product at infinity).
fn multiply(curve: Curve, p: Option<&EccPoint>, k: &[u8]) -> Result<EccPoint, TpmRc> {
    ecc_multiply(curve, p, k).map_err(|_| TpmRc::NO_RESULT)
}

/// TPM2_Commit (part 3 §19.2).
///
/// Handle: signHandle (1, USER). Parameters: P1 (1), s2 (2), y2 (3).
fn commit(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let p1: Tpm2bEccPoint = ctx.param()?;
    let s2: Tpm2bSensitiveData = ctx.param()?;
    let y2: Tpm2bEccParameter = ctx.param()?;
    ctx.finish()?;
    let h = ctx.handles[0];
    let obj = e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))?;
    let PublicDetail::Ecc { parameters, .. } = &obj.public.detail else {
        return Err(TpmRc::KEY.with_handle(1));
    };
    // Only a key with an anonymous (split) signing scheme commits.
    if !matches!(parameters.scheme, TpmtEccScheme::Ecdaa(_)) {
        return Err(TpmRc::SCHEME.with_handle(1));
    }
    if s2.is_empty() != y2.is_empty() {
        return Err(TpmRc::SIZE.with_parameter(3));
    }
    let curve = ecc_curve(obj).map_err(|_| TpmRc::KEY.with_handle(1))?;
    let name = obj.name.clone();
    let name_alg = obj.public.name_alg;
    let r_value = generate_r(e, curve, None, &name).ok_or(TpmRc::NO_RESULT)?;
    let obj = e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))?;
    let p2 = if s2.is_empty() {
        None
    } else {
        let hash = HashAlg::from_alg(name_alg).ok_or(TpmRc::HASH.with_handle(1))?;
        let x2 = curve
            .reduce_mod_prime(&digest(hash, &[s2.as_bytes()]))
            .map_err(|_| TpmRc::NO_RESULT)?;
        let p2 = EccPoint {
            x: x2,
            y: y2.as_bytes().to_vec(),
        };
        p2.validate(curve)
            .map_err(|_| TpmRc::ECC_POINT.with_parameter(2))?;
        if obj.public_only {
            return Err(TpmRc::KEY.with_handle(1));
        }
        Some(p2)
    };
    // An empty P1 is two empty coordinates.
    let p1 = if p1.point.x.is_empty() && p1.point.y.is_empty() {
        None
    } else {
        let p1 = point_in(&p1.point);
        p1.validate(curve)
            .map_err(|_| TpmRc::ECC_POINT.with_parameter(1))?;
        Some(p1)
    };
    let (k_point, l_point) = match &p2 {
        Some(p2) => {
            let ds = ecc_private(obj)
                .map_err(|_| TpmRc::KEY.with_handle(1))?
                .scalar();
            (
                Some(multiply(curve, Some(p2), &ds)?),
                Some(multiply(curve, Some(p2), &r_value)?),
            )
        }
        None => (None, None),
    };
    // E = [r]P1, or [r]G when there is neither P1 nor P2 (part 4 CryptEccCommitCompute).
    let e_point = if p1.is_some() || p2.is_none() {
        Some(multiply(curve, p1.as_ref(), &r_value)?)
    } else {
        None
    };
    let counter = make_commitment(e);
    ctx.put(&point_out(k_point.as_ref(), curve)?);
    ctx.put(&point_out(l_point.as_ref(), curve)?);
    ctx.put(&point_out(e_point.as_ref(), curve)?);
    ctx.put(&counter);
    Ok(())
}

/// TPM2_EC_Ephemeral (part 3 §19.3).
///
/// Parameters: curveID (1).
fn ec_ephemeral(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let curve: u16 = ctx.param()?;
    // TPMI_ECC_CURVE: a curve the TPM does not implement fails while unmarshalling.
    let curve = Curve::from_tpm(TpmEccCurve(curve)).ok_or(TpmRc::CURVE.with_parameter(1))?;
    ctx.finish()?;
    let r = generate_r(e, curve, None, &[]).ok_or(TpmRc::NO_RESULT)?;
    let q = multiply(curve, None, &r)?;
    let counter = make_commitment(e);
    ctx.put(&point_out(Some(&q), curve)?);
    ctx.put(&counter);
    Ok(())
}

/// TPM2_ZGen_2Phase (part 3 §14.7).
///
/// Handle: keyA (1, USER). Parameters: inQsB (1), inQeB (2), inScheme (3), counter (4).
fn zgen_2phase(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let qs_b: Tpm2bEccPoint = ctx.param()?;
    let qe_b: Tpm2bEccPoint = ctx.param()?;
    let scheme = TpmAlgId(ctx.param()?);
    // TPMI_ECC_KEY_EXCHANGE without "+": ECDH is the one implemented.
    if scheme != TpmAlgId::ECDH {
        return Err(TpmRc::SCHEME.with_parameter(3));
    }
    let counter: u16 = ctx.param()?;
    ctx.finish()?;
    let h = ctx.handles[0];
    let obj = e.state.object(h).ok_or(TpmRc::HANDLE.with_handle(1))?;
    let PublicDetail::Ecc { parameters, .. } = &obj.public.detail else {
        return Err(TpmRc::KEY.with_handle(1));
    };
    let attributes = obj.public.object_attributes;
    if attributes.has(TpmaObject::RESTRICTED) || !attributes.has(TpmaObject::DECRYPT) {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    // A key with a scheme exchanges keys only with it.
    if !parameters.scheme.is_null() && parameters.scheme.algorithm() != scheme {
        return Err(TpmRc::SCHEME.with_parameter(3));
    }
    let curve = ecc_curve(obj).map_err(|_| TpmRc::KEY.with_handle(1))?;
    let qs_b = point_in(&qs_b.point);
    qs_b.validate(curve)
        .map_err(|_| TpmRc::ECC_POINT.with_parameter(1))?;
    let qe_b = point_in(&qe_b.point);
    qe_b.validate(curve)
        .map_err(|_| TpmRc::ECC_POINT.with_parameter(2))?;
    let ds_a = ecc_private(obj)
        .map_err(|_| TpmRc::KEY.with_handle(1))?
        .scalar();
    let r = generate_r(e, curve, Some(counter), &[]).ok_or(TpmRc::VALUE.with_parameter(4))?;
    // C(2e, 2s, ECC CDH): Zs = [dsA]QsB, Ze = [deA]QeB.
    let z1 = multiply(curve, Some(&qs_b), &ds_a)?;
    let z2 = multiply(curve, Some(&qe_b), &r)?;
    end_commitment(e, counter);
    ctx.put(&point_out(Some(&z1), curve)?);
    ctx.put(&point_out(Some(&z2), curve)?);
    Ok(())
}

/// An ECDAA signature of `digest` with the loaded ECC key `h` (part 4 `CryptEccSign` for
/// TPM_ALG_ECDAA), consuming the commitment `count` the key made with TPM2_Commit. The errors
/// carry no number: TPM_RC_VALUE when `count` names no outstanding commitment (never made,
/// already used, or too old), TPM_RC_SCHEME for a hash the TPM lacks, TPM_RC_NO_RESULT when no
/// nonce gives a signature.
///
/// The signature is (nonceK, s): `signatureR` is the random nonceK in `[1, n - 1]` without
/// leading zero octets (as the reference implementation returns it) and `signatureS` is `s`
/// with the curve's size. A verifier recomputes `T = H(signatureR || digest)` and checks
/// `[s]P1 = E + [T]([ds]P1)` (with `G` and the public key when the commit had no points, with
/// `P2`, `L` and `K` when it had `P2`).
pub(crate) fn sign_ecdaa(
    e: &mut Engine,
    h: TpmHandle,
    hash_alg: TpmAlgId,
    count: u16,
    digest_in: &[u8],
) -> Result<TpmtSignature, TpmRc> {
    let obj = e.state.object(h).ok_or(TpmRc::HANDLE)?;
    let key = ecc_private(obj)?;
    let curve = key.curve();
    let name = obj.name.clone();
    let r_value = generate_r(e, curve, Some(count), &name).ok_or(TpmRc::VALUE)?;
    let hash = HashAlg::from_alg(hash_alg).ok_or(TpmRc::SCHEME)?;
    let ds = key.scalar();
    for _ in 0..SIGN_ATTEMPTS {
        let nonce_k = EccPrivate::generate(curve, &mut TpmRng(e))
            .map_err(|_| TpmRc::NO_RESULT)?
            .scalar();
        let first = nonce_k
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(nonce_k.len());
        let nonce_k = nonce_k.get(first..).unwrap_or_default();
        let t = digest(hash, &[nonce_k, digest_in]);
        let Some(s) = schnorr_combine(curve, &r_value, &t, &ds).map_err(|_| TpmRc::NO_RESULT)?
        else {
            continue;
        };
        end_commitment(e, count);
        return Ok(TpmtSignature::Ecdaa(TpmsSignatureEcc {
            hash: hash_alg,
            signature_r: Tpm2bEccParameter::new(nonce_k).map_err(|_| TpmRc::NO_RESULT)?,
            signature_s: Tpm2bEccParameter::new(&s).map_err(|_| TpmRc::NO_RESULT)?,
        }));
    }
    Err(TpmRc::NO_RESULT)
}

#[cfg(test)]
#[path = "ecc_commit_tests.rs"]
mod tests;

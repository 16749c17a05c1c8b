//! Two small commands:
//!
//! - TCG TPM 2.0 Library part 3 §14.6 TPM2_ECC_Parameters: TPMS_ALGORITHM_DETAIL_ECC of a curve
//!   the TPM implements (only NIST P-256 here: the FIPS 186 domain parameters, the default KDF
//!   TPM_ALG_KDF1_SP800_56A with SHA-256 and no default signing scheme, as libtpms reports).
//!   Another curve is TPM_RC_CURVE.
//! - §26.3 TPM2_SetAlgorithmSet (platform authorization): the TPM has one algorithm set, so any `algorithmSet` is accepted and
//!   changes nothing.

use alloc::vec::Vec;

use tpm2::cc::TpmCc;
use tpm2::rc::TpmRc;
use tpm2::st::TpmEccCurve;

use crate::engine::Engine;
use crate::engine::dispatch::{Ctx, Entry};
use crate::engine::entity::HandleKind;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::ECC_PARAMETERS,
        handles: &[],
        roles: &[],
        nv: false,
        handler: ecc_parameters,
    },
    Entry {
        cc: TpmCc::SET_ALGORITHM_SET,
        handles: &[HandleKind::Platform],
        roles: &[],
        nv: false,
        handler: set_algorithm_set,
    },
];

/// NIST P-256 (FIPS 186-4 §D.1.2.3): p, a, b, Gx, Gy, n, each 32 bytes big-endian.
const P256: [[u8; 32]; 6] = [
    hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"),
    hex32("ffffffff00000001000000000000000000000000fffffffffffffffffffffffc"),
    hex32("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"),
    hex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
    hex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
    hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
];

/// 64 hex digits as 32 bytes (at compile time).
const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lower-case hex digit"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64, "64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// TPM2_ECC_Parameters.
fn ecc_parameters(_e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let curve: u16 = ctx.param()?;
    ctx.finish()?;
    if TpmEccCurve(curve) != TpmEccCurve::NIST_P256 {
        return Err(TpmRc::CURVE.with_parameter(1));
    }
    let mut out = Vec::with_capacity(0xD9);
    out.extend_from_slice(&curve.to_be_bytes());
    out.extend_from_slice(&256u16.to_be_bytes());
    // kdf: TPM_ALG_KDF1_SP800_56A with SHA-256; sign: TPM_ALG_NULL.
    out.extend_from_slice(&[0x00, 0x20, 0x00, 0x0B, 0x00, 0x10]);
    for v in &P256 {
        out.extend_from_slice(&32u16.to_be_bytes());
        out.extend_from_slice(v);
    }
    // h = 1.
    out.extend_from_slice(&[0x00, 0x01, 0x01]);
    ctx.out.extend_from_slice(&out);
    Ok(())
}

/// TPM2_SetAlgorithmSet.
fn set_algorithm_set(_e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let _set: u32 = ctx.param()?;
    ctx.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::engine::testutil::{engine, expect_rc, ok_params, pw};
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use tpm2::handle::TpmHandle;
    use tpm2::structures::TpmsAlgorithmDetailEcc;
    use tpm2::{Reader, Unmarshal};

    #[test]
    fn p256_parameters() {
        let mut e = engine();
        let p = ok_params(&mut e, TpmCc::ECC_PARAMETERS, &[], &[], &[0, 3]);
        let detail = TpmsAlgorithmDetailEcc::unmarshal(&mut Reader::new(&p)).unwrap();
        assert_eq!(detail.key_size, 256);
        // The base point and order agree with the implementation the engine computes with.
        let g = p256::ProjectivePoint::GENERATOR
            .to_affine()
            .to_encoded_point(false);
        assert_eq!(detail.g_x.as_bytes(), g.x().unwrap().as_slice());
        assert_eq!(detail.g_y.as_bytes(), g.y().unwrap().as_slice());
        assert_eq!(detail.h.as_bytes(), [1]);
        for curve in [0u16, 1, 4, 0x10] {
            expect_rc(
                &mut e,
                TpmCc::ECC_PARAMETERS,
                &[],
                &[],
                &curve.to_be_bytes(),
                TpmRc::CURVE.with_parameter(1),
            );
        }
        ok_params(
            &mut e,
            TpmCc::SET_ALGORITHM_SET,
            &[TpmHandle::PLATFORM],
            &[pw()],
            &[0, 0, 0, 1],
        );
        expect_rc(
            &mut e,
            TpmCc::SET_ALGORITHM_SET,
            &[TpmHandle::OWNER],
            &[pw()],
            &[0, 0, 0, 1],
            TpmRc::VALUE.with_handle(1),
        );
    }
}

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
    [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff,
    ],
    [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xfc,
    ],
    [
        0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86,
        0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2,
        0x60, 0x4b,
    ],
    [
        0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40,
        0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98,
        0xc2, 0x96,
    ],
    [
        0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e,
        0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf,
        0x51, 0xf5,
    ],
    [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ],
];

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

//! TPM2_GetRandom (TCG TPM 2.0 Library part 3 §16.1) and TPM2_StirRandom (§16.2), over the
//! TPM's CTR_DRBG (part 1 §11.4.11).
//!
//! GetRandom returns at most one digest's worth: the largest digest the TPM implements
//! (SHA-512, 64 octets, the size of TPMU_HA), which is also what libtpms returns for larger
//! requests. StirRandom reseeds the DRBG with fresh platform entropy and `inData` as the
//! additional input (SP 800-90A §10.2.1.4), so the caller's data changes every later output
//! without replacing the TPM's own entropy.

use tpm2::alg::MAX_DIGEST_SIZE;
use tpm2::cc::TpmCc;
use tpm2::rc::TpmRc;
use tpm2::structures::{Tpm2bDigest, Tpm2bSensitiveData};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::engine::dispatch::{Ctx, Entry};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::GET_RANDOM,
        handles: &[],
        roles: &[],
        nv: false,
        handler: get_random,
    },
    Entry {
        cc: TpmCc::STIR_RANDOM,
        handles: &[],
        roles: &[],
        nv: false,
        handler: stir_random,
    },
];

/// Entropy drawn from the platform for a StirRandom reseed (the DRBG's seed length).
const RESEED_ENTROPY: usize = 48;

/// TPM2_GetRandom: `bytesRequested` octets, at most [`MAX_DIGEST_SIZE`].
fn get_random(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let requested: u16 = ctx.param()?;
    ctx.finish()?;
    let n = usize::from(requested).min(MAX_DIGEST_SIZE);
    let bytes = Zeroizing::new(e.random_vec(n));
    let out = Tpm2bDigest::new(&bytes).map_err(|_| TpmRc::FAILURE)?;
    ctx.put(&out);
    Ok(())
}

/// TPM2_StirRandom: `inData` (TPM2B_SENSITIVE_DATA, at most 128 octets) becomes additional
/// input of a reseed.
fn stir_random(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bSensitiveData = ctx.param()?;
    ctx.finish()?;
    let mut entropy = Zeroizing::new([0u8; RESEED_ENTROPY]);
    e.platform.fill_entropy(&mut entropy[..]);
    e.state.vol.drbg.reseed(&entropy[..], data.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::{engine, expect_rc, fresh_engine, ok_params};
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use tpm2::Unmarshal;
    use tpm2::commands::GetRandomResponse;

    fn get(e: &mut Engine, n: u16) -> Vec<u8> {
        let out = ok_params(e, TpmCc::GET_RANDOM, &[], &[], &n.to_be_bytes());
        GetRandomResponse::from_bytes(&out)
            .unwrap()
            .random_bytes
            .as_bytes()
            .to_vec()
    }

    #[test]
    fn sizes_are_capped_at_the_largest_digest() {
        let mut e = engine();
        for (ask, got) in [
            (0, 0),
            (1, 1),
            (32, 32),
            (48, 48),
            (64, 64),
            (65, 64),
            (100, 64),
            (u16::MAX, 64),
        ] {
            assert_eq!(get(&mut e, ask).len(), got, "asked for {ask}");
        }
    }

    #[test]
    fn output_comes_from_the_drbg_and_differs_each_time() {
        let mut tpm = engine();
        let first = get(&mut tpm, 64);
        let second = get(&mut tpm, 64);
        assert_ne!(first, second);
        // 64 random octets are all zero with probability 2^-512.
        assert!(first.iter().any(|&x| x != 0));
        // The same platform seed gives the same TPM, and the same bytes.
        let mut twin = engine();
        assert_eq!(get(&mut twin, 64), first);
        // The bytes are the DRBG's next output.
        let mut third = engine();
        let mut drbg = third.state.vol.drbg.clone();
        let mut want = [0u8; 16];
        drbg.generate(&mut want, &[]);
        assert_eq!(get(&mut third, 16), want);
    }

    #[test]
    fn stir_random_changes_the_stream_by_its_input() {
        let run_with = |stir: Option<&[u8]>| {
            let mut e = engine();
            if let Some(data) = stir {
                let mut p = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
                p.extend_from_slice(data);
                ok_params(&mut e, TpmCc::STIR_RANDOM, &[], &[], &p);
            }
            get(&mut e, 32)
        };
        let plain = run_with(None);
        let a = run_with(Some(b"guest entropy"));
        let b = run_with(Some(b"other entropy"));
        let empty = run_with(Some(b""));
        assert_ne!(plain, a);
        assert_ne!(a, b);
        assert_ne!(empty, plain, "a stir always reseeds from the platform");
        // Deterministic for the same platform and input.
        assert_eq!(run_with(Some(b"guest entropy")), a);
    }

    #[test]
    fn malformed_parameters() {
        let mut e = engine();
        expect_rc(
            &mut e,
            TpmCc::GET_RANDOM,
            &[],
            &[],
            &[0],
            TpmRc::INSUFFICIENT.with_parameter(1),
        );
        expect_rc(&mut e, TpmCc::GET_RANDOM, &[], &[], &[0, 1, 0], TpmRc::SIZE);
        expect_rc(
            &mut e,
            TpmCc::STIR_RANDOM,
            &[],
            &[],
            &[],
            TpmRc::INSUFFICIENT.with_parameter(1),
        );
        expect_rc(
            &mut e,
            TpmCc::STIR_RANDOM,
            &[],
            &[],
            &[0, 5, 1, 2, 3],
            TpmRc::INSUFFICIENT.with_parameter(1),
        );
        expect_rc(
            &mut e,
            TpmCc::STIR_RANDOM,
            &[],
            &[],
            &[0, 1, 1, 2],
            TpmRc::SIZE,
        );
        let mut big = 129u16.to_be_bytes().to_vec();
        big.extend_from_slice(&[7; 129]);
        expect_rc(
            &mut e,
            TpmCc::STIR_RANDOM,
            &[],
            &[],
            &big,
            TpmRc::SIZE.with_parameter(1),
        );
        let mut max = 128u16.to_be_bytes().to_vec();
        max.extend_from_slice(&[7; 128]);
        ok_params(&mut e, TpmCc::STIR_RANDOM, &[], &[], &max);
        let mut cold = fresh_engine(2);
        expect_rc(
            &mut cold,
            TpmCc::GET_RANDOM,
            &[],
            &[],
            &[0, 8],
            TpmRc::INITIALIZE,
        );
    }

    #[test]
    fn random_state_survives_save_and_restore() {
        let mut e = engine();
        get(&mut e, 10);
        let blob = e.save_state();
        let mut r = Engine::restore(
            &blob,
            Box::new(crate::engine::testutil::TestPlatform::new(1)),
        )
        .unwrap();
        assert_eq!(get(&mut r, 64), get(&mut e, 64));
    }
}

//! Self tests (TCG TPM 2.0 Library part 3 §10): TPM2_SelfTest (§10.2),
//! TPM2_IncrementalSelfTest (§10.3) and TPM2_GetTestResult (§10.4), with failure mode
//! (part 1 §12.3 "Self-test modes", part 3 §5.2).
//!
//! Every test is a known-answer test of the engine's own cryptography (`crate::engine::crypto`)
//! against published vectors: FIPS 180-4 examples for the hashes, RFC 2202 / RFC 4231 for HMAC,
//! FIPS-197 appendix C and SP 800-38A appendix F for AES and its modes, a NIST CAVP vector for
//! the CTR_DRBG, RFC 6979 A.2.5 for P-256 ECDSA and the P-256 public key, and fixed vectors
//! for KDFa / KDFe and RSA-1024 (computed once with Python's `hmac`/`hashlib` and the
//! `cryptography` package (OpenSSL) from the part 1 §11.4.10 formulas and RFC 8017, kept in
//! this file). The RSA key is small and fixed so that a test takes milliseconds.
//!
//! After _TPM_Init nothing is tested; the list of untested algorithms is the `toDoList` of
//! TPM2_IncrementalSelfTest. A test that fails puts the TPM in failure mode: from then on every
//! command but TPM2_GetTestResult and TPM2_GetCapability answers TPM_RC_FAILURE (checked by the
//! dispatcher) until the next _TPM_Init. TPM2_GetTestResult then reports testResult =
//! TPM_RC_FAILURE and, as its vendor-specific outData, the TPM_ALG_ID of the failed test
//! (two octets, big-endian); outside failure mode outData is empty and testResult is
//! TPM_RC_SUCCESS, as libtpms reports.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::rc::TpmRc;
use tpm2::structures::{Tpm2bMaxBuffer, TpmlAlg};

use crate::engine::Engine;
use crate::engine::commands::capability::alg_implemented;
use crate::engine::crypto::drbg::CtrDrbg;
use crate::engine::crypto::ecc::{Curve, EccPoint, EccPrivate, verify_ecdsa};
use crate::engine::crypto::hash::{HashAlg, digest, hmac};
use crate::engine::crypto::kdf::{KdfaStream, kdfa, kdfe};
use crate::engine::crypto::rsa::{RsaPrivate, RsaPublic};
use crate::engine::crypto::sym::{SymMode, aes_decrypt, aes_encrypt};
use crate::engine::dispatch::{Ctx, Entry};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::SELF_TEST,
        handles: &[],
        roles: &[],
        nv: false,
        handler: self_test,
    },
    Entry {
        cc: TpmCc::INCREMENTAL_SELF_TEST,
        handles: &[],
        roles: &[],
        nv: false,
        handler: incremental_self_test,
    },
    Entry {
        cc: TpmCc::GET_TEST_RESULT,
        handles: &[],
        roles: &[],
        nv: false,
        handler: get_test_result,
    },
];

/// One known-answer test: the algorithm it covers and the check (true: passed).
pub(crate) struct SelfTest {
    /// The algorithm reported in toDoList.
    pub alg: TpmAlgId,
    /// Runs the test.
    pub run: fn() -> bool,
}

/// Every self test, in algorithm ID order (the order of toDoList). Bit `i` of
/// `Volatile::untested` stands for `TESTS[i]`.
pub(crate) const TESTS: &[SelfTest] = &[
    SelfTest {
        alg: TpmAlgId::SHA1,
        run: || hash_kat(HashAlg::Sha1),
    },
    SelfTest {
        alg: TpmAlgId::HMAC,
        run: hmac_kat,
    },
    SelfTest {
        alg: TpmAlgId::AES,
        run: aes_kat,
    },
    SelfTest {
        alg: TpmAlgId::SHA256,
        run: || hash_kat(HashAlg::Sha256),
    },
    SelfTest {
        alg: TpmAlgId::SHA384,
        run: || hash_kat(HashAlg::Sha384),
    },
    SelfTest {
        alg: TpmAlgId::SHA512,
        run: || hash_kat(HashAlg::Sha512),
    },
    SelfTest {
        alg: TpmAlgId::RSASSA,
        run: rsassa_kat,
    },
    SelfTest {
        alg: TpmAlgId::RSAES,
        run: rsaes_kat,
    },
    SelfTest {
        alg: TpmAlgId::RSAPSS,
        run: rsapss_kat,
    },
    SelfTest {
        alg: TpmAlgId::OAEP,
        run: oaep_kat,
    },
    SelfTest {
        alg: TpmAlgId::ECDSA,
        run: ecdsa_kat,
    },
    SelfTest {
        alg: TpmAlgId::ECDH,
        run: ecdh_kat,
    },
    SelfTest {
        alg: TpmAlgId::KDF1_SP800_56A,
        run: kdfe_kat,
    },
    SelfTest {
        alg: TpmAlgId::KDF1_SP800_108,
        run: kdfa_kat,
    },
    SelfTest {
        alg: TpmAlgId::CTR,
        run: || mode_kat(SymMode::Ctr),
    },
    SelfTest {
        alg: TpmAlgId::OFB,
        run: || mode_kat(SymMode::Ofb),
    },
    SelfTest {
        alg: TpmAlgId::CBC,
        run: || mode_kat(SymMode::Cbc),
    },
    SelfTest {
        alg: TpmAlgId::CFB,
        run: || mode_kat(SymMode::Cfb),
    },
    SelfTest {
        alg: TpmAlgId::ECB,
        run: || mode_kat(SymMode::Ecb),
    },
];

const _: () = assert!(TESTS.len() <= 32, "untested is a 32-bit mask");

/// The mask of every test in `tests`.
fn all_mask(tests: &[SelfTest]) -> u32 {
    (0..tests.len()).fold(0, |m, i| m | (1 << i))
}

/// The mask of the tests of `alg`: its own test, or the tests of the algorithms it is built
/// from (an implemented algorithm without a test of its own has none); `None` if `alg` is not
/// implemented.
fn tests_for(alg: TpmAlgId) -> Option<u32> {
    if !alg_implemented(alg) {
        return None;
    }
    let bits = |algs: &[TpmAlgId]| {
        TESTS
            .iter()
            .enumerate()
            .filter(|(_, t)| algs.contains(&t.alg))
            .fold(0u32, |m, (i, _)| m | (1 << i))
    };
    Some(match alg {
        TpmAlgId::RSA => bits(&[
            TpmAlgId::RSASSA,
            TpmAlgId::RSAES,
            TpmAlgId::RSAPSS,
            TpmAlgId::OAEP,
        ]),
        TpmAlgId::ECC => bits(&[TpmAlgId::ECDSA, TpmAlgId::ECDH]),
        TpmAlgId::KEYEDHASH => bits(&[TpmAlgId::HMAC, TpmAlgId::KDF1_SP800_108]),
        TpmAlgId::XOR => bits(&[TpmAlgId::KDF1_SP800_108]),
        TpmAlgId::SYMCIPHER => bits(&[TpmAlgId::AES]),
        TpmAlgId::MGF1 => bits(&[TpmAlgId::OAEP]),
        other => bits(&[other]),
    })
}

/// Runs the tests of `mask` (bit i: `tests[i]`); each passed test leaves the toDoList. The first
/// failure puts the TPM in failure mode and is TPM_RC_FAILURE.
pub(crate) fn run_tests(e: &mut Engine, mask: u32, tests: &[SelfTest]) -> Result<(), TpmRc> {
    for (i, t) in tests.iter().enumerate() {
        let bit = 1u32 << i;
        if mask & bit == 0 {
            continue;
        }
        if (t.run)() {
            e.state.vol.untested &= !bit;
        } else {
            e.state.vol.failed_test = Some(t.alg);
            return Err(TpmRc::FAILURE);
        }
    }
    Ok(())
}

/// Makes sure the tests `alg` depends on have passed, running those not yet run (part 1
/// §12.3: an algorithm is tested before its first use). For command handlers.
#[allow(dead_code)] // for the command families that use an algorithm first
pub(crate) fn ensure_tested(e: &mut Engine, alg: TpmAlgId) -> Result<(), TpmRc> {
    let mask = tests_for(alg).unwrap_or(0) & e.state.vol.untested;
    run_tests(e, mask, TESTS)
}

/// The algorithms still to be tested (toDoList), in algorithm ID order.
fn to_do_list(e: &Engine) -> Vec<TpmAlgId> {
    TESTS
        .iter()
        .enumerate()
        .filter(|(i, _)| e.state.vol.untested & (1 << i) != 0)
        .map(|(_, t)| t.alg)
        .collect()
}

/// TPM2_SelfTest (part 3 §10.2): fullTest = YES tests everything again, NO only what has not
/// been tested.
fn self_test(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let full: bool = ctx.param()?;
    ctx.finish()?;
    let mask = if full {
        all_mask(TESTS)
    } else {
        all_mask(TESTS) & e.state.vol.untested
    };
    run_tests(e, mask, TESTS)
}

/// TPM2_IncrementalSelfTest (part 3 §10.3): tests the algorithms of toTest that have not been
/// tested and returns those still untested. An algorithm that is not implemented (including
/// TPM_ALG_NULL) is TPM_RC_VALUE for parameter 1.
fn incremental_self_test(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let to_test: TpmlAlg = ctx.param()?;
    ctx.finish()?;
    let mut mask = 0;
    for alg in &to_test {
        mask |= tests_for(*alg).ok_or(TpmRc::VALUE.with_parameter(1))?;
    }
    run_tests(e, mask & e.state.vol.untested, TESTS)?;
    let list = TpmlAlg::new(to_do_list(e)).map_err(|_| TpmRc::FAILURE)?;
    ctx.put(&list);
    Ok(())
}

/// TPM2_GetTestResult (part 3 §10.4).
fn get_test_result(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let (data, result) = match e.state.vol.failed_test {
        Some(alg) => (alg.0.to_be_bytes().to_vec(), TpmRc::FAILURE),
        None => (Vec::new(), TpmRc::SUCCESS),
    };
    let out = Tpm2bMaxBuffer::new(&data).map_err(|_| TpmRc::FAILURE)?;
    ctx.put(&out);
    ctx.put(&result.0);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Known-answer tests
// ---------------------------------------------------------------------------------------------

/// Decodes a hex constant of this file (`None` for a malformed one, which fails the test).
fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let text = core::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

/// Whether `got` equals the hex constant `want`.
fn same(got: &[u8], want: &str) -> bool {
    unhex(want).is_some_and(|w| w == got)
}

/// FIPS 180-4 example: the digest of "abc".
fn hash_kat(alg: HashAlg) -> bool {
    let want = match alg {
        HashAlg::Sha1 => "a9993e364706816aba3e25717850c26c9cd0d89d",
        HashAlg::Sha256 => "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        HashAlg::Sha384 => concat!(
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed",
            "8086072ba1e7cc2358baeca134c825a7"
        ),
        HashAlg::Sha512 => concat!(
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a",
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        ),
    };
    same(&digest(alg, &[b"a", b"bc"]), want)
}

/// RFC 2202 test case 2 (HMAC-SHA-1) and RFC 4231 test case 2 (HMAC-SHA-256/384/512).
fn hmac_kat() -> bool {
    let cases = [
        (HashAlg::Sha1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (
            HashAlg::Sha256,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            HashAlg::Sha384,
            concat!(
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e",
                "8e2240ca5e69e2c78b3239ecfab21649"
            ),
        ),
        (
            HashAlg::Sha512,
            concat!(
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554",
                "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
            ),
        ),
    ];
    cases.iter().all(|(alg, want)| {
        same(
            &hmac(*alg, b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            want,
        )
    })
}

/// FIPS-197 appendix C.1 (AES-128) and C.3 (AES-256), both directions, and the first request
/// of the NIST CAVP CTR_DRBG AES-256 (use df, no reseed) vector COUNT 0, since the DRBG is
/// built on AES-256.
fn aes_kat() -> bool {
    let Some(plain) = unhex("00112233445566778899aabbccddeeff") else {
        return false;
    };
    let key128: Vec<u8> = (0u8..16).collect();
    let key256: Vec<u8> = (0u8..32).collect();
    let ok = [
        (key128, "69c4e0d86a7b0430d8cdb78070b4c55a"),
        (key256, "8ea2b7ca516745bfeafc49904b496089"),
    ]
    .iter()
    .all(|(key, want)| {
        let mut block = plain.clone();
        aes_encrypt(SymMode::Ecb, key, &[0; 16], &mut block).is_ok()
            && same(&block, want)
            && aes_decrypt(SymMode::Ecb, key, &[0; 16], &mut block).is_ok()
            && block == plain
    });
    ok && drbg_kat()
}

/// NIST CAVP CTR_DRBG (AES-256, derivation function, no prediction resistance, no reseed)
/// COUNT 0: two 512-bit requests after instantiation.
fn drbg_kat() -> bool {
    let (Some(entropy), Some(nonce)) = (
        unhex("36401940fa8b1fba91a1661f211d78a0b9389a74e5bccfece8d766af1a6d3b14"),
        unhex("496f25b0f1301b4f501be30380a137eb"),
    ) else {
        return false;
    };
    let mut drbg = CtrDrbg::instantiate(&entropy, &nonce, &[]);
    let mut out = [0u8; 64];
    drbg.generate(&mut out, &[]);
    drbg.generate(&mut out, &[]);
    same(
        &out,
        concat!(
            "5862eb38bd558dd978a696e6df164782ddd887e7e9a6c9f3f1fbafb78941b535",
            "a64912dfd224c6dc7454e5250b3d97165e16260c2faf1cc7735cb75fb4f07e1d"
        ),
    )
}

/// SP 800-38A appendix F, AES-128, the first two blocks of each mode, both directions.
fn mode_kat(mode: SymMode) -> bool {
    let want = match mode {
        SymMode::Cbc => "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2",
        SymMode::Cfb => "3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b",
        SymMode::Ofb => "3b3fd92eb72dad20333449f8e83cfb4a7789508d16918f03f53c52dac54ed825",
        SymMode::Ctr => "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff",
        SymMode::Ecb => "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf",
    };
    let iv = if mode == SymMode::Ctr {
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
    } else {
        "000102030405060708090a0b0c0d0e0f"
    };
    let (Some(key), Some(iv), Some(plain)) = (
        unhex("2b7e151628aed2a6abf7158809cf4f3c"),
        unhex(iv),
        unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"),
    ) else {
        return false;
    };
    let mut data = plain.clone();
    aes_encrypt(mode, &key, &iv, &mut data).is_ok()
        && same(&data, want)
        && aes_decrypt(mode, &key, &iv, &mut data).is_ok()
        && data == plain
}

/// KDFa (part 1 §11.4.10.2) with HMAC-SHA-256 over two blocks: key 00..1f, label "KAT",
/// contextU 16 × 01, contextV 16 × 02, 384 bits.
fn kdfa_kat() -> bool {
    let key: Vec<u8> = (0u8..32).collect();
    let out = kdfa(HashAlg::Sha256, &key, b"KAT", &[1; 16], &[2; 16], 384);
    same(
        &out,
        concat!(
            "2880ee17b916bc0b0c103c71984451a64cbc72c8faecba7482f65616a85f6af5",
            "0b83f9ade8e87642477a446cff66a98b"
        ),
    )
}

/// KDFe (part 1 §11.4.10.3) with SHA-256 over two blocks: Z 00..1f, label "KAT", partyU
/// 32 × 03, partyV 32 × 04, 384 bits.
fn kdfe_kat() -> bool {
    let z: Vec<u8> = (0u8..32).collect();
    let out = kdfe(HashAlg::Sha256, &z, b"KAT", &[3; 32], &[4; 32], 384);
    same(
        &out,
        concat!(
            "5c7c5b7b37fc53ff3196a733690000a144e7536dae14f685f4aed6aa2b014b46",
            "522ab30d228a44869ccf943802772736"
        ),
    )
}

/// The fixed RSA-1024 test key (exponent 65537): modulus and first prime.
const RSA_N: &str = concat!(
    "de62646be5541ba4e5ada4f77ae2c894e8fc692560e733014ea4b01dbbba5863",
    "1534ed84a32c216129a4c3afef3c8a0d5cb6b59f694b2eea5e6800d5312b54d0",
    "b6ecc34b6be44e45af68ebe922c3e21d0faa0ddfc3d126cb97c7344df7d757a1",
    "ad90cc096f5638f3e8e8dde3014c743496d4a31e7a2741b5dd5c37d417d1af5f"
);
const RSA_P: &str = concat!(
    "fc9a370d6e5a4dd56bdbaf512db628ad2e71e2d34b6e4028dd0fc7afe766c168",
    "bf6f87dc3dc1f3bdfd5281a83f8db636f6d7978ddffa282d68f2909ce9ad8e7b"
);
/// The message the RSA encryption tests decrypt.
const RSA_MESSAGE: &[u8] = b"vtpm self test";

fn rsa_key() -> Option<RsaPrivate> {
    RsaPrivate::from_prime(&unhex(RSA_N)?, 65537, &unhex(RSA_P)?).ok()
}

fn rsa_public() -> Option<RsaPublic> {
    RsaPublic::new(&unhex(RSA_N)?, 65537).ok()
}

/// SHA-256("abc").
fn abc_sha256() -> Vec<u8> {
    digest(HashAlg::Sha256, &[b"abc"])
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (deterministic): the signature of "abc" is the expected one
/// and verifies; a changed digest does not.
fn rsassa_kat() -> bool {
    let (Some(key), Some(public)) = (rsa_key(), rsa_public()) else {
        return false;
    };
    let d = abc_sha256();
    let want = concat!(
        "a03d7201f2805ac68909399e73531fa5414589d9f593f5ca41681ea7b90e0c66",
        "2529928a76981f3dc2c1408e4e5361c2c21ecffaa0c30569672801ba8165a94c",
        "60743cb0df3bf4160eb09b927d8137cc624ce027ca5352830f3806489f0842df",
        "57efb0b0ec0b6752d4877530a4ec65cd8404f14da3bdf1ce4f68b36beadc54f4"
    );
    let Ok(sig) = key.sign_pkcs1v15(HashAlg::Sha256, &d) else {
        return false;
    };
    let mut other = d.clone();
    other[0] ^= 1;
    same(&sig, want)
        && public.verify_pkcs1v15(HashAlg::Sha256, &d, &sig).is_ok()
        && public
            .verify_pkcs1v15(HashAlg::Sha256, &other, &sig)
            .is_err()
}

/// RSASSA-PSS with SHA-256: a signature made by OpenSSL (salt of 32 octets) verifies, and one
/// made here verifies; a changed digest does not.
fn rsapss_kat() -> bool {
    let (Some(key), Some(public), Some(openssl_sig)) = (
        rsa_key(),
        rsa_public(),
        unhex(concat!(
            "7d8befc43a8f3deb359dbd124442bf9895d14115e38c28ef2c08ec6817198528",
            "7077b923350f0d1bb0d86ffbc0f3bd240492aab91dc15110cb1158d2b3069635",
            "be4896e9f22f86cb2ecdfc1237506d561461243839ad926fe3af2c322aea1334",
            "a0a5e1166db230e65188d83d84b36030badfc9c1022c56871835dc60482e0e55"
        )),
    ) else {
        return false;
    };
    let d = abc_sha256();
    let mut rng = KdfaStream::new(HashAlg::Sha256, b"self test", b"PSS", b"", b"");
    let Ok(own) = key.sign_pss(HashAlg::Sha256, &d, &mut rng) else {
        return false;
    };
    let mut other = d.clone();
    other[31] ^= 0x80;
    public.verify_pss(HashAlg::Sha256, &d, &openssl_sig).is_ok()
        && public.verify_pss(HashAlg::Sha256, &d, &own).is_ok()
        && public
            .verify_pss(HashAlg::Sha256, &other, &openssl_sig)
            .is_err()
}

/// RSAES-PKCS1-v1_5: a ciphertext made by OpenSSL decrypts to the test message.
fn rsaes_kat() -> bool {
    let (Some(key), Some(ct)) = (
        rsa_key(),
        unhex(concat!(
            "aab7751f4adc882bfca992c3c4316793b49a113508f8ef38ad9007eb9a7062b1",
            "033a231f7885ea7514cd33cc057368ba320dcc6ac491412fe0267106aa268a9b",
            "a628f13685d727c1979734a170cde4dea532215c6dc515a398b2169e2144453a",
            "1842a4782642159fbb5cfe3b69c6cf143d314156169720f09a1dab92dad9f18e"
        )),
    ) else {
        return false;
    };
    key.decrypt_pkcs1v15(&ct)
        .is_ok_and(|m| m.as_slice() == RSA_MESSAGE)
}

/// RSAES-OAEP with SHA-256 and an empty label: a ciphertext made by OpenSSL decrypts to the
/// test message, and one made here round-trips.
fn oaep_kat() -> bool {
    let (Some(key), Some(public), Some(ct)) = (
        rsa_key(),
        rsa_public(),
        unhex(concat!(
            "060140e8a74ad1977368008a5db95bd9468ee6094f82805908faa5d51f9fa39e",
            "7afc29fb86760b49e60167d45a1173d8c86c86aeb389c0be80b9355505dbc5b5",
            "9af12be85bf4d6e74b63d449650bca8e2604bc196de580f2d22d548e03751cd6",
            "817c01896ed80563bf8532d8cb0858f09ce5ae9c9fafad6e0cba2dad6798a2a3"
        )),
    ) else {
        return false;
    };
    let mut rng = KdfaStream::new(HashAlg::Sha256, b"self test", b"OAEP", b"", b"");
    let round_trip = public
        .encrypt_oaep(HashAlg::Sha256, b"", RSA_MESSAGE, &mut rng)
        .ok()
        .and_then(|c| key.decrypt_oaep(HashAlg::Sha256, b"", &c).ok());
    key.decrypt_oaep(HashAlg::Sha256, b"", &ct)
        .is_ok_and(|m| m.as_slice() == RSA_MESSAGE)
        && round_trip.is_some_and(|m| m.as_slice() == RSA_MESSAGE)
}

/// The RFC 6979 A.2.5 P-256 key: private scalar and public point.
const P256_D: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
const P256_QX: &str = "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";
const P256_QY: &str = "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";

fn p256_public() -> Option<EccPoint> {
    Some(EccPoint {
        x: unhex(P256_QX)?,
        y: unhex(P256_QY)?,
    })
}

/// ECDSA P-256 with SHA-256: RFC 6979 A.2.5's signature of "sample" verifies, a signature made
/// here with the same key verifies, and a changed digest does not.
fn ecdsa_kat() -> bool {
    let (Some(scalar), Some(public), Some(sig_r), Some(sig_s)) = (
        unhex(P256_D),
        p256_public(),
        unhex("efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"),
        unhex("f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"),
    ) else {
        return false;
    };
    let Ok(key) = EccPrivate::from_scalar(Curve::NistP256, &scalar) else {
        return false;
    };
    let hash = digest(HashAlg::Sha256, &[b"sample"]);
    let mut rng = KdfaStream::new(HashAlg::Sha256, b"self test", b"ECDSA", b"", b"");
    let Ok((own_r, own_s)) = key.sign_ecdsa(&hash, &mut rng) else {
        return false;
    };
    let mut other = hash.clone();
    other[0] ^= 1;
    let curve = Curve::NistP256;
    verify_ecdsa(curve, &public, &hash, &sig_r, &sig_s).is_ok()
        && verify_ecdsa(curve, &public, &hash, &own_r, &own_s).is_ok()
        && verify_ecdsa(curve, &public, &other, &sig_r, &sig_s).is_err()
}

/// ECDH on P-256: d × G is RFC 6979's public key, and d × Q is the same as computed from
/// the other side's point (a second fixed scalar, 2).
fn ecdh_kat() -> bool {
    let (Some(d), Some(q), Some(gx), Some(gy)) = (
        unhex(P256_D),
        p256_public(),
        unhex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
        unhex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
    ) else {
        return false;
    };
    let g = EccPoint { x: gx, y: gy };
    let (Ok(key), Ok(two)) = (
        EccPrivate::from_scalar(Curve::NistP256, &d),
        EccPrivate::from_scalar(Curve::NistP256, &[2]),
    ) else {
        return false;
    };
    let (Ok(dg), Ok(dq2), Ok(two_q)) = (key.ecdh(&g), key.ecdh(&two.public()), two.ecdh(&q)) else {
        return false;
    };
    dg == q && dq2 == two_q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::{engine, expect_rc, fresh_engine, ok_params, run};
    use alloc::boxed::Box;
    use tpm2::Marshal;
    use tpm2::Unmarshal;
    use tpm2::commands::{GetTestResultResponse, IncrementalSelfTestResponse};

    fn to_do(e: &mut Engine, algs: &[TpmAlgId]) -> Vec<TpmAlgId> {
        let params = TpmlAlg::new(algs.to_vec()).unwrap().to_bytes();
        let out = ok_params(e, TpmCc::INCREMENTAL_SELF_TEST, &[], &[], &params);
        IncrementalSelfTestResponse::from_bytes(&out)
            .unwrap()
            .to_do_list
            .into_vec()
    }

    #[test]
    fn every_known_answer_test_passes() {
        for t in TESTS {
            assert!((t.run)(), "self test of {} failed", t.alg);
        }
        // Sorted by algorithm ID and each covers an implemented algorithm.
        for pair in TESTS.windows(2) {
            assert!(pair[0].alg < pair[1].alg);
        }
        for t in TESTS {
            assert!(tests_for(t.alg).is_some(), "{}", t.alg);
        }
    }

    #[test]
    fn known_answers_detect_wrong_values() {
        assert!(!same(
            &digest(HashAlg::Sha256, &[b"abd"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        ));
        assert!(unhex("0g").is_none() && unhex("abc").is_none());
        assert_eq!(unhex("00 ff\n10"), Some(alloc::vec![0, 0xff, 0x10]));
    }

    #[test]
    fn incremental_self_test_shrinks_the_to_do_list() {
        let mut e = engine();
        let all: Vec<TpmAlgId> = TESTS.iter().map(|t| t.alg).collect();
        // Nothing tested after _TPM_Init: the empty request reports everything.
        assert_eq!(to_do(&mut e, &[]), all);
        let rest = to_do(&mut e, &[TpmAlgId::SHA256]);
        assert!(!rest.contains(&TpmAlgId::SHA256) && rest.len() == all.len() - 1);
        // RSA stands for its schemes; ECC for ECDSA and ECDH.
        let rest = to_do(&mut e, &[TpmAlgId::RSA, TpmAlgId::ECC]);
        for a in [
            TpmAlgId::RSASSA,
            TpmAlgId::RSAES,
            TpmAlgId::RSAPSS,
            TpmAlgId::OAEP,
            TpmAlgId::ECDSA,
            TpmAlgId::ECDH,
        ] {
            assert!(!rest.contains(&a), "{a}");
        }
        // SelfTest(NO) tests the rest; the list is then empty.
        ok_params(&mut e, TpmCc::SELF_TEST, &[], &[], &[0]);
        assert!(to_do(&mut e, &[]).is_empty());
        // Full self test again.
        ok_params(&mut e, TpmCc::SELF_TEST, &[], &[], &[1]);
        assert!(to_do(&mut e, &[TpmAlgId::AES]).is_empty());
    }

    #[test]
    fn incremental_self_test_rejects_what_is_not_implemented() {
        let mut e = engine();
        let value_p1 = TpmRc::VALUE.with_parameter(1);
        for bad in [
            TpmAlgId::NULL,
            TpmAlgId::CAMELLIA,
            TpmAlgId::TDES,
            TpmAlgId(0x99),
            TpmAlgId::ERROR,
        ] {
            let params = TpmlAlg::new(alloc::vec![TpmAlgId::SHA1, bad])
                .unwrap()
                .to_bytes();
            expect_rc(
                &mut e,
                TpmCc::INCREMENTAL_SELF_TEST,
                &[],
                &[],
                &params,
                value_p1,
            );
        }
        // 65 entries: TPML_ALG holds at most 64 (TPM_RC_SIZE), checked while unmarshalling.
        let mut params = 65u32.to_be_bytes().to_vec();
        for _ in 0..65 {
            params.extend_from_slice(&[0, 0x0b]);
        }
        expect_rc(
            &mut e,
            TpmCc::INCREMENTAL_SELF_TEST,
            &[],
            &[],
            &params,
            TpmRc::SIZE.with_parameter(1),
        );
        // Truncated list, extra bytes.
        expect_rc(
            &mut e,
            TpmCc::INCREMENTAL_SELF_TEST,
            &[],
            &[],
            &[0, 0, 0, 2, 0, 0x0b],
            TpmRc::INSUFFICIENT.with_parameter(1),
        );
        expect_rc(
            &mut e,
            TpmCc::INCREMENTAL_SELF_TEST,
            &[],
            &[],
            &[0, 0, 0, 1, 0, 0x99, 0],
            TpmRc::SIZE,
        );
        // Nothing was tested by the failed commands.
        assert_eq!(to_do(&mut e, &[]).len(), TESTS.len());
    }

    #[test]
    fn self_test_parameter_checks() {
        let mut e = engine();
        expect_rc(
            &mut e,
            TpmCc::SELF_TEST,
            &[],
            &[],
            &[2],
            TpmRc::VALUE.with_parameter(1),
        );
        expect_rc(
            &mut e,
            TpmCc::SELF_TEST,
            &[],
            &[],
            &[],
            TpmRc::INSUFFICIENT.with_parameter(1),
        );
        expect_rc(&mut e, TpmCc::SELF_TEST, &[], &[], &[1, 0], TpmRc::SIZE);
        expect_rc(&mut e, TpmCc::GET_TEST_RESULT, &[], &[], &[0], TpmRc::SIZE);
        // Before TPM2_Startup: TPM_RC_INITIALIZE.
        let mut cold = fresh_engine(3);
        expect_rc(
            &mut cold,
            TpmCc::SELF_TEST,
            &[],
            &[],
            &[1],
            TpmRc::INITIALIZE,
        );
        expect_rc(
            &mut cold,
            TpmCc::GET_TEST_RESULT,
            &[],
            &[],
            &[],
            TpmRc::INITIALIZE,
        );
    }

    #[test]
    fn get_test_result_reports_success() {
        let mut e = engine();
        let out = ok_params(&mut e, TpmCc::GET_TEST_RESULT, &[], &[], &[]);
        // swtpm's bytes for the same command: outData empty, testResult TPM_RC_SUCCESS.
        assert_eq!(out, [0, 0, 0, 0, 0, 0]);
    }

    fn broken() -> bool {
        false
    }

    #[test]
    fn a_failed_test_enters_failure_mode() {
        let mut e = engine();
        let table = [
            SelfTest {
                alg: TpmAlgId::SHA1,
                run: || hash_kat(HashAlg::Sha1),
            },
            SelfTest {
                alg: TpmAlgId::AES,
                run: broken,
            },
        ];
        assert_eq!(run_tests(&mut e, 0b11, &table), Err(TpmRc::FAILURE));
        assert_eq!(e.state.vol.failed_test, Some(TpmAlgId::AES));
        // Everything but GetTestResult and GetCapability is TPM_RC_FAILURE.
        expect_rc(&mut e, TpmCc::SELF_TEST, &[], &[], &[1], TpmRc::FAILURE);
        expect_rc(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0], TpmRc::FAILURE);
        expect_rc(&mut e, TpmCc::GET_RANDOM, &[], &[], &[0, 8], TpmRc::FAILURE);
        let out = ok_params(&mut e, TpmCc::GET_TEST_RESULT, &[], &[], &[]);
        let r = GetTestResultResponse::from_bytes(&out).unwrap();
        assert_eq!(r.out_data.as_bytes(), TpmAlgId::AES.0.to_be_bytes());
        assert_eq!(r.test_result, TpmRc::FAILURE);
        let (rc, _) = run(
            &mut e,
            TpmCc::GET_CAPABILITY,
            &[],
            &[],
            &[0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 0, 1],
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        // Failure mode survives a save/restore, and _TPM_Init clears it.
        let blob = e.save_state();
        let mut again = Engine::restore(
            &blob,
            Box::new(crate::engine::testutil::TestPlatform::new(9)),
        )
        .unwrap();
        expect_rc(&mut again, TpmCc::SELF_TEST, &[], &[], &[1], TpmRc::FAILURE);
        again.power_on();
        ok_params(&mut again, TpmCc::STARTUP, &[], &[], &[0, 0]);
        ok_params(&mut again, TpmCc::SELF_TEST, &[], &[], &[1]);
    }

    #[test]
    fn failure_mode_before_startup() {
        let mut e = fresh_engine(5);
        let table = [SelfTest {
            alg: TpmAlgId::SHA256,
            run: broken,
        }];
        assert_eq!(run_tests(&mut e, 1, &table), Err(TpmRc::FAILURE));
        // The CRTM's TPM2_Startup learns about the failure; GetTestResult works unstarted.
        expect_rc(&mut e, TpmCc::STARTUP, &[], &[], &[0, 0], TpmRc::FAILURE);
        let out = ok_params(&mut e, TpmCc::GET_TEST_RESULT, &[], &[], &[]);
        assert_eq!(out, [0, 2, 0, 0x0b, 0, 0, 1, 1]);
    }

    #[test]
    fn ensure_tested_runs_only_what_is_missing() {
        let mut e = engine();
        ensure_tested(&mut e, TpmAlgId::ECC).unwrap();
        let left = to_do(&mut e, &[]);
        assert!(!left.contains(&TpmAlgId::ECDSA) && !left.contains(&TpmAlgId::ECDH));
        assert_eq!(left.len(), TESTS.len() - 2);
        // An algorithm that is not implemented has nothing to test.
        ensure_tested(&mut e, TpmAlgId::CAMELLIA).unwrap();
    }
}

//! AES in the TPM's block modes (TCG TPM 2.0 Library part 1 §11.4.6 "Symmetric encryption",
//! part 2 §6.3 TPM_ALG_CFB/CBC/CTR/OFB/ECB, NIST SP 800-38A) and XOR parameter obfuscation
//! (part 1 §21.2 "XOR parameter obfuscation").
//!
//! The modes are written over the `aes` block cipher so that the chaining value returned to
//! TPM2_EncryptDecrypt (`ivOut`, part 3 §15.2) follows the reference implementation exactly:
//!
//! | mode | `ivOut` |
//! |------|---------|
//! | CFB  | the last ciphertext block; if it was partial, its bytes followed by zeros |
//! | CBC  | the last ciphertext block |
//! | CTR  | the counter for the next block (incremented once per block, partial included) |
//! | OFB  | the last keystream block (the next block cipher input) |
//! | ECB  | zeros (ECB has no chaining value) |
//!
//! With empty data nothing is computed and `ivOut` is the input IV (zeros for ECB). So
//! encrypting `A` and then `B` with the `ivOut` of `A` equals encrypting `A || B` at once,
//! provided `A` is a whole number of blocks (for CFB, CTR and OFB a partial block ends the
//! chain).

use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use tpm2::alg::TpmAlgId;
use zeroize::Zeroizing;

use super::CryptoError;
use super::hash::HashAlg;
use super::kdf::kdfa;

/// The AES block size in bytes.
pub const AES_BLOCK: usize = 16;

/// A block cipher mode of the TPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymMode {
    /// TPM_ALG_CFB: full-block (128-bit) cipher feedback, partial last block allowed.
    Cfb,
    /// TPM_ALG_CBC: cipher block chaining, no padding (whole blocks only).
    Cbc,
    /// TPM_ALG_CTR: counter mode, the whole IV is a big-endian counter.
    Ctr,
    /// TPM_ALG_OFB: output feedback.
    Ofb,
    /// TPM_ALG_ECB: electronic code book (whole blocks only).
    Ecb,
}

impl SymMode {
    /// The mode for a TPM_ALG_ID, `None` if it is not a block mode.
    pub fn from_alg(alg: TpmAlgId) -> Option<SymMode> {
        match alg {
            TpmAlgId::CFB => Some(SymMode::Cfb),
            TpmAlgId::CBC => Some(SymMode::Cbc),
            TpmAlgId::CTR => Some(SymMode::Ctr),
            TpmAlgId::OFB => Some(SymMode::Ofb),
            TpmAlgId::ECB => Some(SymMode::Ecb),
            _ => None,
        }
    }

    /// The TPM_ALG_ID of this mode.
    pub fn alg(self) -> TpmAlgId {
        match self {
            SymMode::Cfb => TpmAlgId::CFB,
            SymMode::Cbc => TpmAlgId::CBC,
            SymMode::Ctr => TpmAlgId::CTR,
            SymMode::Ofb => TpmAlgId::OFB,
            SymMode::Ecb => TpmAlgId::ECB,
        }
    }
}

/// An AES key schedule of any of the three sizes (zeroized on drop by the `aes` crate).
enum Aes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl Aes {
    fn new(key: &[u8]) -> Result<Aes, CryptoError> {
        let aes = match key.len() {
            16 => aes::Aes128::new_from_slice(key).map(Aes::A128),
            24 => aes::Aes192::new_from_slice(key).map(Aes::A192),
            32 => aes::Aes256::new_from_slice(key).map(Aes::A256),
            _ => return Err(CryptoError::KeySize),
        };
        aes.map_err(|_| CryptoError::KeySize)
    }

    fn encrypt(&self, block: &mut [u8; AES_BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Aes::A128(c) => c.encrypt_block(b),
            Aes::A192(c) => c.encrypt_block(b),
            Aes::A256(c) => c.encrypt_block(b),
        }
    }

    fn decrypt(&self, block: &mut [u8; AES_BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Aes::A128(c) => c.decrypt_block(b),
            Aes::A192(c) => c.decrypt_block(b),
            Aes::A256(c) => c.decrypt_block(b),
        }
    }
}

/// Checks the key, IV and data length; returns the cipher and the initial chaining value.
fn setup(
    mode: SymMode,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Result<(Aes, Zeroizing<[u8; AES_BLOCK]>), CryptoError> {
    let aes = Aes::new(key)?;
    let mut chain = Zeroizing::new([0u8; AES_BLOCK]);
    if mode != SymMode::Ecb {
        let iv: &[u8; AES_BLOCK] = iv.try_into().map_err(|_| CryptoError::BadLength)?;
        chain.copy_from_slice(iv);
    }
    if matches!(mode, SymMode::Cbc | SymMode::Ecb) && data.len() % AES_BLOCK != 0 {
        return Err(CryptoError::BadLength);
    }
    Ok((aes, chain))
}

/// Adds one to a big-endian 128-bit counter (wrapping).
fn increment(counter: &mut [u8; AES_BLOCK]) {
    for byte in counter.iter_mut().rev() {
        let (v, carry) = byte.overflowing_add(1);
        *byte = v;
        if !carry {
            break;
        }
    }
}

/// XORs `src` into `dst` (up to the shorter length).
fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

/// CTR and OFB: the same keystream for both directions.
fn keystream(mode: SymMode, aes: &Aes, chain: &mut [u8; AES_BLOCK], data: &mut [u8]) {
    let mut pad = Zeroizing::new([0u8; AES_BLOCK]);
    for chunk in data.chunks_mut(AES_BLOCK) {
        if mode == SymMode::Ctr {
            pad.copy_from_slice(chain);
            aes.encrypt(&mut pad);
            increment(chain);
        } else {
            aes.encrypt(chain);
            pad.copy_from_slice(chain);
        }
        xor_into(chunk, &pad[..]);
    }
}

/// Encrypts `data` in place with AES (`key` of 16, 24 or 32 bytes) in `mode`, starting from
/// `iv` (16 bytes; ignored for ECB). Returns the chaining value for the next call (`ivOut`,
/// see the module documentation).
pub fn aes_encrypt(
    mode: SymMode,
    key: &[u8],
    iv: &[u8],
    data: &mut [u8],
) -> Result<[u8; AES_BLOCK], CryptoError> {
    let (aes, mut chain) = setup(mode, key, iv, data)?;
    match mode {
        SymMode::Cfb => {
            for chunk in data.chunks_mut(AES_BLOCK) {
                aes.encrypt(&mut chain);
                xor_into(chunk, &chain[..]);
                chain[..chunk.len()].copy_from_slice(chunk);
                chain[chunk.len()..].fill(0);
            }
        }
        SymMode::Cbc => {
            for chunk in data.chunks_mut(AES_BLOCK) {
                xor_into(&mut chain[..], chunk);
                aes.encrypt(&mut chain);
                chunk.copy_from_slice(&chain[..]);
            }
        }
        SymMode::Ctr | SymMode::Ofb => keystream(mode, &aes, &mut chain, data),
        SymMode::Ecb => {
            let mut block = Zeroizing::new([0u8; AES_BLOCK]);
            for chunk in data.chunks_mut(AES_BLOCK) {
                block.copy_from_slice(chunk);
                aes.encrypt(&mut block);
                chunk.copy_from_slice(&block[..]);
            }
        }
    }
    Ok(*chain)
}

/// Decrypts `data` in place; the inverse of [`aes_encrypt`] with the same arguments, returning
/// the same chaining value.
pub fn aes_decrypt(
    mode: SymMode,
    key: &[u8],
    iv: &[u8],
    data: &mut [u8],
) -> Result<[u8; AES_BLOCK], CryptoError> {
    let (aes, mut chain) = setup(mode, key, iv, data)?;
    match mode {
        SymMode::Cfb => {
            let mut pad = Zeroizing::new([0u8; AES_BLOCK]);
            for chunk in data.chunks_mut(AES_BLOCK) {
                pad.copy_from_slice(&chain[..]);
                aes.encrypt(&mut pad);
                chain[..chunk.len()].copy_from_slice(chunk);
                chain[chunk.len()..].fill(0);
                xor_into(chunk, &pad[..]);
            }
        }
        SymMode::Cbc => {
            let mut block = Zeroizing::new([0u8; AES_BLOCK]);
            for chunk in data.chunks_mut(AES_BLOCK) {
                block.copy_from_slice(chunk);
                aes.decrypt(&mut block);
                xor_into(&mut block[..], &chain[..]);
                chain.copy_from_slice(chunk);
                chunk.copy_from_slice(&block[..]);
            }
        }
        SymMode::Ctr | SymMode::Ofb => keystream(mode, &aes, &mut chain, data),
        SymMode::Ecb => {
            let mut block = Zeroizing::new([0u8; AES_BLOCK]);
            for chunk in data.chunks_mut(AES_BLOCK) {
                block.copy_from_slice(chunk);
                aes.decrypt(&mut block);
                chunk.copy_from_slice(&block[..]);
            }
        }
    }
    Ok(*chain)
}

/// AES-CFB (128-bit feedback, partial last block allowed) encryption in place, as parameter
/// encryption (part 1 §21, CFB mode) and TPM2B_PRIVATE protection (part 1, "Protected
/// Storage") use it.
pub fn cfb_encrypt(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
    aes_encrypt(SymMode::Cfb, key, iv, data).map(|_| ())
}

/// AES-CFB decryption in place; the inverse of [`cfb_encrypt`].
pub fn cfb_decrypt(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
    aes_decrypt(SymMode::Cfb, key, iv, data).map(|_| ())
}

/// XOR parameter obfuscation (part 1 §21.2): `data ^= KDFa(alg, hmac_key, "XOR", nonce_newer,
/// nonce_older, 8 * data.len())`. Its own inverse.
///
/// `data` is a command or response parameter (a few KiB at most); data longer than 2^29 - 1
/// bytes (whose bit count does not fit the KDF's 32-bit length) is not obfuscated beyond that
/// length.
pub fn xor_obfuscate(
    alg: HashAlg,
    hmac_key: &[u8],
    nonce_newer: &[u8],
    nonce_older: &[u8],
    data: &mut [u8],
) {
    let bits = u32::try_from(data.len().saturating_mul(8)).unwrap_or(u32::MAX - 7);
    let mask = kdfa(alg, hmac_key, b"XOR", nonce_newer, nonce_older, bits);
    xor_into(data, &mask);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::testutil::hex;
    use alloc::vec::Vec;

    // NIST SP 800-38A appendix F: the common plaintext and keys.
    const PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                         30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
    const KEY128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const KEY192: &str = "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
    const KEY256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    const IV: &str = "000102030405060708090a0b0c0d0e0f";
    const CTR_IV: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

    fn check(mode: SymMode, key: &str, iv: &str, cipher: &str) {
        let key = hex(key);
        let iv = hex(iv);
        let plain = hex(PLAIN);
        let expected = hex(cipher);
        let mut data = plain.clone();
        let iv_out = aes_encrypt(mode, &key, &iv, &mut data).unwrap();
        assert_eq!(data, expected, "{mode:?} encrypt");
        let iv_back = aes_decrypt(mode, &key, &iv, &mut data).unwrap();
        assert_eq!(data, plain, "{mode:?} decrypt");
        assert_eq!(iv_out, iv_back, "{mode:?} ivOut");
        // Chaining: two blocks, then two blocks with the returned chaining value.
        let mut first = plain[..32].to_vec();
        let mut second = plain[32..].to_vec();
        let mid = aes_encrypt(mode, &key, &iv, &mut first).unwrap();
        let end = aes_encrypt(mode, &key, &mid, &mut second).unwrap();
        assert_eq!([first, second].concat(), expected, "{mode:?} chained");
        assert_eq!(end, iv_out, "{mode:?} chained ivOut");
        let mut first = expected[..48].to_vec();
        let mut second = expected[48..].to_vec();
        let mid = aes_decrypt(mode, &key, &iv, &mut first).unwrap();
        aes_decrypt(mode, &key, &mid, &mut second).unwrap();
        assert_eq!([first, second].concat(), plain, "{mode:?} chained decrypt");
    }

    /// SP 800-38A F.1 (ECB), F.2 (CBC), F.3.13-F.3.18 (CFB128), F.4 (OFB), F.5 (CTR).
    #[test]
    fn sp800_38a_vectors() {
        check(
            SymMode::Ecb,
            KEY128,
            IV,
            "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf
             43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
        );
        check(
            SymMode::Ecb,
            KEY256,
            IV,
            "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870
             b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7",
        );
        check(
            SymMode::Cbc,
            KEY128,
            IV,
            "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
             73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
        );
        check(
            SymMode::Cbc,
            KEY192,
            IV,
            "4f021db243bc633d7178183a9fa071e8 b4d9ada9ad7dedf4e5e738763f69145a
             571b242012fb7ae07fa9baac3df102e0 08b0e27988598881d920a9e64f5615cd",
        );
        check(
            SymMode::Cbc,
            KEY256,
            IV,
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
             39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
        );
        check(
            SymMode::Cfb,
            KEY128,
            IV,
            "3b3fd92eb72dad20333449f8e83cfb4a c8a64537a0b3a93fcde3cdad9f1ce58b
             26751f67a3cbb140b1808cf187a4f4df c04b05357c5d1c0eeac4c66f9ff7f2e6",
        );
        check(
            SymMode::Cfb,
            KEY256,
            IV,
            "dc7e84bfda79164b7ecd8486985d3860 39ffed143b28b1c832113c6331e5407b
             df10132415e54b92a13ed0a8267ae2f9 75a385741ab9cef82031623d55b1e471",
        );
        check(
            SymMode::Ofb,
            KEY128,
            IV,
            "3b3fd92eb72dad20333449f8e83cfb4a 7789508d16918f03f53c52dac54ed825
             9740051e9c5fecf64344f7a82260edcc 304c6528f659c77866a510d9c1d6ae5e",
        );
        check(
            SymMode::Ofb,
            KEY256,
            IV,
            "dc7e84bfda79164b7ecd8486985d3860 4febdc6740d20b3ac88f6ad82a4fb08d
             71ab47a086e86eedf39d1c5bba97c408 0126141d67f37be8538f5a8be740e484",
        );
        check(
            SymMode::Ctr,
            KEY128,
            CTR_IV,
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
             5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        );
        check(
            SymMode::Ctr,
            KEY256,
            CTR_IV,
            "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5
             2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
        );
    }

    #[test]
    fn iv_out_per_mode() {
        let key = hex(KEY128);
        let iv = hex(IV);
        // CBC/CFB: the last ciphertext block.
        for mode in [SymMode::Cbc, SymMode::Cfb] {
            let mut data = hex(PLAIN);
            let out = aes_encrypt(mode, &key, &iv, &mut data).unwrap();
            assert_eq!(&out[..], &data[48..]);
        }
        // CTR: the counter after four blocks.
        let mut data = hex(PLAIN);
        let out = aes_encrypt(SymMode::Ctr, &key, &hex(CTR_IV), &mut data).unwrap();
        assert_eq!(out.to_vec(), hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdff03"));
        // OFB: the last keystream block = ciphertext ^ plaintext of the last block.
        let mut data = hex(PLAIN);
        let out = aes_encrypt(SymMode::Ofb, &key, &iv, &mut data).unwrap();
        let plain = hex(PLAIN);
        let ks: Vec<u8> = data[48..]
            .iter()
            .zip(&plain[48..])
            .map(|(c, p)| c ^ p)
            .collect();
        assert_eq!(out.to_vec(), ks);
        // ECB: zeros.
        let mut data = hex(PLAIN);
        assert_eq!(
            aes_encrypt(SymMode::Ecb, &key, &[], &mut data).unwrap(),
            [0; 16]
        );
        // Empty data: the IV comes back unchanged.
        assert_eq!(
            aes_encrypt(SymMode::Cfb, &key, &iv, &mut [])
                .unwrap()
                .to_vec(),
            iv
        );
    }

    #[test]
    fn partial_blocks() {
        let key = hex(KEY128);
        let iv = hex(IV);
        let plain = hex(PLAIN);
        // CFB/OFB/CTR with 37 bytes: a prefix of the full-length result.
        for (mode, iv) in [
            (SymMode::Cfb, &iv),
            (SymMode::Ofb, &iv),
            (SymMode::Ctr, &hex(CTR_IV)),
        ] {
            let mut full = plain.clone();
            aes_encrypt(mode, &key, iv, &mut full).unwrap();
            let mut part = plain[..37].to_vec();
            let out = aes_encrypt(mode, &key, iv, &mut part).unwrap();
            assert_eq!(part, full[..37]);
            let out_dec = aes_decrypt(mode, &key, iv, &mut part).unwrap();
            assert_eq!(part, plain[..37]);
            assert_eq!(out, out_dec);
            if mode == SymMode::Cfb {
                // ivOut = the 5 ciphertext bytes of the partial block, then zeros.
                assert_eq!(&out[..5], &full[32..37]);
                assert_eq!(&out[5..], &[0; 11]);
            }
        }
        // CFB: a long message split at a block boundary chains too (partial tail).
        let mut whole = plain[..61].to_vec();
        aes_encrypt(SymMode::Cfb, &key, &iv, &mut whole).unwrap();
        let mut a = plain[..16].to_vec();
        let mut b = plain[16..61].to_vec();
        let mid = aes_encrypt(SymMode::Cfb, &key, &iv, &mut a).unwrap();
        aes_encrypt(SymMode::Cfb, &key, &mid, &mut b).unwrap();
        assert_eq!([a, b].concat(), whole);
        // The convenience functions are CFB.
        let mut c = plain[..21].to_vec();
        cfb_encrypt(&key, &iv, &mut c).unwrap();
        assert_eq!(c, whole[..21]);
        cfb_decrypt(&key, &iv, &mut c).unwrap();
        assert_eq!(c, plain[..21]);
    }

    #[test]
    fn rejects_bad_sizes() {
        let key = hex(KEY128);
        let iv = hex(IV);
        let mut data = [0u8; 20];
        assert_eq!(
            aes_encrypt(SymMode::Cfb, &key[..15], &iv, &mut data),
            Err(CryptoError::KeySize)
        );
        assert_eq!(
            aes_encrypt(SymMode::Cfb, &[0; 64], &iv, &mut data),
            Err(CryptoError::KeySize)
        );
        assert_eq!(
            aes_encrypt(SymMode::Cfb, &key, &iv[..8], &mut data),
            Err(CryptoError::BadLength)
        );
        assert_eq!(
            aes_decrypt(SymMode::Cbc, &key, &iv, &mut data),
            Err(CryptoError::BadLength)
        );
        assert_eq!(
            aes_encrypt(SymMode::Ecb, &key, &[], &mut data),
            Err(CryptoError::BadLength)
        );
        assert_eq!(data, [0; 20]);
    }

    #[test]
    fn mode_ids() {
        for mode in [
            SymMode::Cfb,
            SymMode::Cbc,
            SymMode::Ctr,
            SymMode::Ofb,
            SymMode::Ecb,
        ] {
            assert_eq!(SymMode::from_alg(mode.alg()), Some(mode));
        }
        assert_eq!(SymMode::from_alg(TpmAlgId::AES), None);
    }

    /// Cross-check with the RustCrypto mode crates on an odd-length message.
    #[test]
    fn agrees_with_rustcrypto_modes() {
        use cipher::{AsyncStreamCipher, KeyIvInit, StreamCipher};
        let key = [7u8; 32];
        let iv = [9u8; 16];
        let plain: Vec<u8> = (0..100u8).collect();
        let mut ours = plain.clone();
        aes_encrypt(SymMode::Cfb, &key, &iv, &mut ours).unwrap();
        let mut theirs = plain.clone();
        cfb_mode::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into()).encrypt(&mut theirs);
        assert_eq!(ours, theirs);
        let mut ours = plain.clone();
        aes_encrypt(SymMode::Ctr, &key, &iv, &mut ours).unwrap();
        let mut theirs = plain.clone();
        ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &iv.into()).apply_keystream(&mut theirs);
        assert_eq!(ours, theirs);
        let mut ours = plain.clone();
        aes_encrypt(SymMode::Ofb, &key, &iv, &mut ours).unwrap();
        let mut theirs = plain.clone();
        ofb::Ofb::<aes::Aes256>::new(&key.into(), &iv.into()).apply_keystream(&mut theirs);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn xor_obfuscation_round_trip_and_definition() {
        let key = b"session key || auth";
        let newer = [1u8; 16];
        let older = [2u8; 16];
        let plain = b"parameter to hide".to_vec();
        let mut data = plain.clone();
        xor_obfuscate(HashAlg::Sha256, key, &newer, &older, &mut data);
        assert_ne!(data, plain);
        let mask = kdfa(HashAlg::Sha256, key, b"XOR", &newer, &older, 8 * 17);
        let expected: Vec<u8> = plain.iter().zip(mask.iter()).map(|(p, m)| p ^ m).collect();
        assert_eq!(data, expected);
        xor_obfuscate(HashAlg::Sha256, key, &newer, &older, &mut data);
        assert_eq!(data, plain);
        xor_obfuscate(HashAlg::Sha1, key, &newer, &older, &mut []);
    }
}

//! The TPM's random number generator (TCG TPM 2.0 Library part 1 §11.4.11 "Random number
//! generator"): NIST SP 800-90A rev. 1 CTR_DRBG (§10.2.1) with AES-256, the block cipher
//! derivation function (§10.3.2), no prediction resistance.
//!
//! Parameters: keylen = 256 bits, outlen = 128 bits, seedlen = 384 bits, ctr_len = 128 bits.
//! A request larger than the 2^19-bit (64 KiB) limit of §10.2.1 table 3 is served as several
//! requests. The reseed interval chosen here is 2^20 requests (the SP allows up to 2^48):
//! [`CtrDrbg::needs_reseed`] reports when it is reached; the engine then reseeds from the
//! platform's entropy. Generation does not stop on its own past the interval.

use alloc::vec::Vec;

use cipher::generic_array::GenericArray;
use cipher::{BlockEncrypt, KeyInit};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::CryptoError;

const KEY_LEN: usize = 32;
const BLOCK_LEN: usize = 16;
const SEED_LEN: usize = KEY_LEN + BLOCK_LEN;
/// N of Block_Cipher_df: the number of bytes to return (seedlen / 8), as 32 bits.
const SEED_BITS_AS_BYTES: u32 = 48;
/// The largest request, in bytes (2^19 bits).
pub const MAX_REQUEST: usize = 1 << 16;
/// Requests allowed between reseeds before [`CtrDrbg::needs_reseed`] says so.
pub const RESEED_INTERVAL: u64 = 1 << 20;
/// Size of the serialised state ([`CtrDrbg::to_bytes`]): key, V, counter.
pub const STATE_LEN: usize = KEY_LEN + BLOCK_LEN + 8;

fn aes256(key: &[u8; KEY_LEN]) -> aes::Aes256 {
    aes::Aes256::new(GenericArray::from_slice(key))
}

fn encrypt_block(cipher: &aes::Aes256, block: &mut [u8; BLOCK_LEN]) {
    cipher.encrypt_block(GenericArray::from_mut_slice(block));
}

/// BCC (§10.3.3): CBC-MAC with a zero IV over `data` (a multiple of the block length).
fn bcc(cipher: &aes::Aes256, data: &[u8]) -> [u8; BLOCK_LEN] {
    let mut chain = [0u8; BLOCK_LEN];
    for block in data.chunks(BLOCK_LEN) {
        for (c, d) in chain.iter_mut().zip(block) {
            *c ^= d;
        }
        encrypt_block(cipher, &mut chain);
    }
    chain
}

/// Block_Cipher_df (§10.3.2) returning seedlen bits, over the concatenation of `parts`.
fn block_cipher_df(parts: &[&[u8]]) -> Zeroizing<[u8; SEED_LEN]> {
    let input_len: usize = parts.iter().map(|p| p.len()).sum();
    // S = L || N || input || 0x80 || zero padding to a block multiple. L is the input length
    // in bytes as 32 bits; inputs here are far below 4 GiB (entropy, nonces, a few KiB of
    // additional input), so truncation cannot happen in practice.
    let mut s = Zeroizing::new(Vec::with_capacity(input_len + 2 * BLOCK_LEN + 9));
    s.extend_from_slice(&[0u8; BLOCK_LEN]); // room for IV = [i]32 || 0^96
    let l = u32::try_from(input_len).unwrap_or(u32::MAX);
    s.extend_from_slice(&l.to_be_bytes());
    s.extend_from_slice(&SEED_BITS_AS_BYTES.to_be_bytes());
    for part in parts {
        s.extend_from_slice(part);
    }
    s.push(0x80);
    while s.len() % BLOCK_LEN != 0 {
        s.push(0);
    }
    // K = leftmost keylen bits of 0x00010203...1F.
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    for (b, i) in k.iter_mut().zip(0u8..) {
        *b = i;
    }
    let cipher = aes256(&k);
    let mut temp = Zeroizing::new([0u8; SEED_LEN]);
    for (chunk, i) in temp.chunks_mut(BLOCK_LEN).zip(0u32..) {
        s[..4].copy_from_slice(&i.to_be_bytes());
        chunk.copy_from_slice(&bcc(&cipher, &s));
    }
    k.copy_from_slice(&temp[..KEY_LEN]);
    let mut x = Zeroizing::new([0u8; BLOCK_LEN]);
    x.copy_from_slice(&temp[KEY_LEN..]);
    let cipher = aes256(&k);
    let mut out = Zeroizing::new([0u8; SEED_LEN]);
    for chunk in out.chunks_mut(BLOCK_LEN) {
        encrypt_block(&cipher, &mut x);
        chunk.copy_from_slice(&x[..]);
    }
    out
}

/// A CTR_DRBG instance: key, V and the reseed counter. Zeroized on drop; `Debug` shows only the
/// counter.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CtrDrbg {
    key: [u8; KEY_LEN],
    v: [u8; BLOCK_LEN],
    reseed_counter: u64,
}

impl core::fmt::Debug for CtrDrbg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CtrDrbg")
            .field("reseed_counter", &self.reseed_counter)
            .finish_non_exhaustive()
    }
}

impl CtrDrbg {
    /// V = V + 1 mod 2^128.
    fn increment_v(&mut self) {
        for byte in self.v.iter_mut().rev() {
            let (b, carry) = byte.overflowing_add(1);
            *byte = b;
            if !carry {
                break;
            }
        }
    }

    /// CTR_DRBG_Update (§10.2.1.2) with seedlen bits of provided data.
    fn update(&mut self, provided: &[u8; SEED_LEN]) {
        let cipher = aes256(&self.key);
        let mut temp = Zeroizing::new([0u8; SEED_LEN]);
        for chunk in temp.chunks_mut(BLOCK_LEN) {
            self.increment_v();
            let mut block = self.v;
            encrypt_block(&cipher, &mut block);
            chunk.copy_from_slice(&block);
            block.zeroize();
        }
        for (t, p) in temp.iter_mut().zip(provided) {
            *t ^= p;
        }
        self.key.copy_from_slice(&temp[..KEY_LEN]);
        self.v.copy_from_slice(&temp[KEY_LEN..]);
    }

    /// Instantiate (§10.2.1.3.2): seeds from `entropy` (at least 32 bytes of full entropy for
    /// 256-bit security; the caller provides it), `nonce` and `personalization`.
    pub fn instantiate(entropy: &[u8], nonce: &[u8], personalization: &[u8]) -> CtrDrbg {
        let seed = block_cipher_df(&[entropy, nonce, personalization]);
        let mut drbg = CtrDrbg {
            key: [0; KEY_LEN],
            v: [0; BLOCK_LEN],
            reseed_counter: 1,
        };
        drbg.update(&seed);
        drbg
    }

    /// Reseed (§10.2.1.4.2) with fresh `entropy` and optional `additional` input.
    pub fn reseed(&mut self, entropy: &[u8], additional: &[u8]) {
        let seed = block_cipher_df(&[entropy, additional]);
        self.update(&seed);
        self.reseed_counter = 1;
    }

    /// One request of at most [`MAX_REQUEST`] bytes (§10.2.1.5.2).
    fn generate_one(&mut self, out: &mut [u8], additional: &[u8]) {
        let extra = if additional.is_empty() {
            Zeroizing::new([0u8; SEED_LEN])
        } else {
            let extra = block_cipher_df(&[additional]);
            self.update(&extra);
            extra
        };
        let cipher = aes256(&self.key);
        let mut block = Zeroizing::new([0u8; BLOCK_LEN]);
        for chunk in out.chunks_mut(BLOCK_LEN) {
            self.increment_v();
            block.copy_from_slice(&self.v);
            encrypt_block(&cipher, &mut block);
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        self.update(&extra);
        self.reseed_counter = self.reseed_counter.saturating_add(1);
    }

    /// Fills `out` (any length: requests above [`MAX_REQUEST`] bytes are split, each part a
    /// separate SP 800-90A request with the same additional input).
    pub fn generate(&mut self, out: &mut [u8], additional: &[u8]) {
        if out.is_empty() {
            return;
        }
        for chunk in out.chunks_mut(MAX_REQUEST) {
            self.generate_one(chunk, additional);
        }
    }

    /// True once [`RESEED_INTERVAL`] requests were served since the last (re)seed.
    pub fn needs_reseed(&self) -> bool {
        self.reseed_counter > RESEED_INTERVAL
    }

    /// The number of requests since the last (re)seed, plus one (SP 800-90A's reseed_counter).
    pub fn reseed_counter(&self) -> u64 {
        self.reseed_counter
    }

    /// The state as `key (32) || V (16) || reseed_counter (u64, big-endian)`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(STATE_LEN));
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.v);
        out.extend_from_slice(&self.reseed_counter.to_be_bytes());
        out
    }

    /// The state written by [`Self::to_bytes`]; [`CryptoError::BadLength`] unless exactly
    /// [`STATE_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<CtrDrbg, CryptoError> {
        if bytes.len() != STATE_LEN {
            return Err(CryptoError::BadLength);
        }
        let (key, rest) = bytes.split_at(KEY_LEN);
        let (v, counter) = rest.split_at(BLOCK_LEN);
        let mut drbg = CtrDrbg {
            key: [0; KEY_LEN],
            v: [0; BLOCK_LEN],
            reseed_counter: 0,
        };
        drbg.key.copy_from_slice(key);
        drbg.v.copy_from_slice(v);
        let mut c = [0u8; 8];
        c.copy_from_slice(counter);
        drbg.reseed_counter = u64::from_be_bytes(c);
        Ok(drbg)
    }
}

impl RngCore for CtrDrbg {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.generate(&mut b, &[]);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.generate(&mut b, &[]);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.generate(dest, &[]);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.generate(dest, &[]);
        Ok(())
    }
}

impl CryptoRng for CtrDrbg {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::testutil::hex;

    /// NIST CAVP DRBG test vectors (drbgtestvectors.zip), drbgvectors_no_reseed/CTR_DRBG.rsp,
    /// [AES-256 use df] [PredictionResistance = False] [EntropyInputLen = 256]
    /// [NonceLen = 128] [PersonalizationStringLen = 0] [AdditionalInputLen = 0]
    /// [ReturnedBitsLen = 512], COUNT = 0, including the intermediate Key and V values.
    #[test]
    fn cavp_no_reseed_count0() {
        let mut drbg = CtrDrbg::instantiate(
            &hex("36401940fa8b1fba91a1661f211d78a0b9389a74e5bccfece8d766af1a6d3b14"),
            &hex("496f25b0f1301b4f501be30380a137eb"),
            &[],
        );
        let state = drbg.to_bytes();
        assert_eq!(
            state[..32],
            hex("3363d9000e6db47c16d3fc65f2872c08a35f99b2d174afa537a66ec153052d98")[..]
        );
        assert_eq!(state[32..48], hex("9ee8d2e9c618ccbb8e66b5eb5333dce1")[..]);
        let mut out = [0u8; 64];
        drbg.generate(&mut out, &[]);
        let state = drbg.to_bytes();
        assert_eq!(
            state[..32],
            hex("b1dff09c816af6d4b2111fe63c4507cb196154f8c59957a94a2b641a7c16cc01")[..]
        );
        assert_eq!(state[32..48], hex("69eec01b2dd4ff3aab5fac9467f54485")[..]);
        drbg.generate(&mut out, &[]);
        assert_eq!(
            out[..],
            hex(
                "5862eb38bd558dd978a696e6df164782ddd887e7e9a6c9f3f1fbafb78941b535
                 a64912dfd224c6dc7454e5250b3d97165e16260c2faf1cc7735cb75fb4f07e1d"
            )[..]
        );
        assert_eq!(drbg.reseed_counter(), 3);
    }

    /// NIST CAVP drbgvectors_pr_false/CTR_DRBG.rsp, [AES-256 use df]
    /// [PredictionResistance = False] [EntropyInputLen = 256] [NonceLen = 128]
    /// [PersonalizationStringLen = 256] [AdditionalInputLen = 0] [ReturnedBitsLen = 512],
    /// COUNT = 0: instantiate, reseed, generate twice.
    #[test]
    fn cavp_pr_false_personalization_reseed_count0() {
        let mut drbg = CtrDrbg::instantiate(
            &hex("4cfb218673346d9d50c922e49b0dfcd090adf04f5c3ba47327dfcd6fa63a785c"),
            &hex("016962a7fd2787a24bf6be47ef3783f1"),
            &hex("88eeb8e0e83bf3294bdacd6099ebe4bf55ecd9113f71e5ebcb4575f3d6a68a6b"),
        );
        drbg.reseed(
            &hex("b7ec46072363834a1b0133f2c23891db4f11a68651f23e3a8b1fdc03b192c7e7"),
            &[],
        );
        let mut out = [0u8; 64];
        drbg.generate(&mut out, &[]);
        drbg.generate(&mut out, &[]);
        assert_eq!(
            out[..],
            hex(
                "a55180a190bef3adaf28f6b795e9f1f3d6dfa1b27dd0467b0c75f5fa931e9714
                 75b27cae03a29654e2f40966ea33643040d1400fe677873af8097c1fe9f00298"
            )[..]
        );
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn state_round_trip_and_debug() {
        let mut a = CtrDrbg::instantiate(&[1; 32], &[2; 16], b"vtpm");
        let mut tmp = [0u8; 10];
        a.generate(&mut tmp, b"extra");
        let bytes = a.to_bytes();
        assert_eq!(bytes.len(), STATE_LEN);
        assert_eq!(&bytes[48..], &2u64.to_be_bytes());
        let mut b = CtrDrbg::from_bytes(&bytes).unwrap();
        let (mut x, mut y) = ([0u8; 100], [0u8; 100]);
        a.generate(&mut x, b"more");
        b.generate(&mut y, b"more");
        assert_eq!(x, y);
        assert_eq!(
            CtrDrbg::from_bytes(&bytes[1..]).unwrap_err(),
            CryptoError::BadLength
        );
        let text = alloc::format!("{a:?}");
        assert!(text.contains("reseed_counter") && !text.contains("key"));
        // Additional input changes the output.
        let mut c = CtrDrbg::from_bytes(&bytes).unwrap();
        let mut z = [0u8; 100];
        c.generate(&mut z, b"different");
        assert_ne!(x, z);
    }

    #[test]
    fn large_requests_are_split() {
        let mut a = CtrDrbg::instantiate(&[3; 32], &[4; 16], &[]);
        let mut b = a.clone();
        let mut big = alloc::vec![0u8; MAX_REQUEST + 100];
        a.generate(&mut big, &[]);
        assert_eq!(a.reseed_counter(), 3);
        let mut first = alloc::vec![0u8; MAX_REQUEST];
        let mut second = alloc::vec![0u8; 100];
        b.generate(&mut first, &[]);
        b.generate(&mut second, &[]);
        assert_eq!(big[..MAX_REQUEST], first[..]);
        assert_eq!(big[MAX_REQUEST..], second[..]);
        // Output within one request is the CTR keystream: no block repeats.
        assert_ne!(big[..16], big[16..32]);
    }

    #[test]
    fn reseed_interval() {
        let mut drbg = CtrDrbg::instantiate(&[5; 32], &[], &[]);
        assert!(!drbg.needs_reseed());
        let mut bytes = drbg.to_bytes();
        bytes[48..].copy_from_slice(&(RESEED_INTERVAL + 1).to_be_bytes());
        drbg = CtrDrbg::from_bytes(&bytes).unwrap();
        assert!(drbg.needs_reseed());
        drbg.reseed(&[6; 32], b"");
        assert!(!drbg.needs_reseed());
        assert_eq!(drbg.reseed_counter(), 1);
        assert_ne!(drbg.next_u64(), drbg.next_u64());
    }
}

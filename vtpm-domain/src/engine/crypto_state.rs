//! Hash and HMAC computations whose running state can be written into the state blob: the
//! state of a hash, HMAC or event sequence object (TCG TPM 2.0 Library part 3 §17, part 1 §32
//! "Hash, HMAC and Event Sequences") must survive [`crate::engine::Engine::save_state`] /
//! [`crate::engine::Engine::restore`] between two TPM2_SequenceUpdate commands.
//!
//! The `sha1`/`sha2` hashers do not expose their chaining state, so this module runs the hash
//! itself around their block compression functions (`sha1::compress`, `sha2::compress256`,
//! `sha2::compress512`) with the padding and initial values of FIPS 180-4 §5.1–§5.3 and the
//! output truncation of §6. [`HashState`] keeps the chaining words, the partial block and the
//! message length; [`HmacState`] (RFC 2104, part 1 §11.4.4) adds the padded key K0 for the
//! outer hash. HMAC states are key-equivalent and are zeroized on drop.

use alloc::vec::Vec;

use sha2::digest::consts::{U64, U128};
use sha2::digest::generic_array::GenericArray;
use tpm2::alg::TpmAlgId;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::codec::{Loader, Persist, Writer};
use super::crypto::hash::HashAlg;
use super::state::StateError;

/// FIPS 180-4 §5.3.1: the SHA-1 initial hash value.
const SHA1_IV: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];

/// FIPS 180-4 §5.3.3: the SHA-256 initial hash value.
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// FIPS 180-4 §5.3.4: the SHA-384 initial hash value.
const SHA384_IV: [u64; 8] = [
    0xcbbb9d5dc1059ed8,
    0x629a292a367cd507,
    0x9159015a3070dd17,
    0x152fecd8f70e5939,
    0x67332667ffc00b31,
    0x8eb44a8768581511,
    0xdb0c2e0d64f98fa7,
    0x47b5481dbefa4fa4,
];

/// FIPS 180-4 §5.3.5: the SHA-512 initial hash value.
const SHA512_IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// The largest block (SHA-384/512).
const MAX_BLOCK: usize = 128;

/// Number of chaining words of each algorithm (32-bit for SHA-1/256, 64-bit for SHA-384/512).
fn word_count(alg: HashAlg) -> usize {
    match alg {
        HashAlg::Sha1 => 5,
        HashAlg::Sha256 | HashAlg::Sha384 | HashAlg::Sha512 => 8,
    }
}

/// A running SHA-1/SHA-256/SHA-384/SHA-512 computation that can be saved and restored.
///
/// 32-bit chaining words (SHA-1, SHA-256) are kept in the low half of `words`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct HashState {
    #[zeroize(skip)]
    alg: HashAlg,
    words: [u64; 8],
    /// The bytes of the current, incomplete block (`len % block_size` of them are valid).
    block: [u8; MAX_BLOCK],
    /// Message bytes hashed so far.
    len: u64,
}

impl HashState {
    /// Starts a hash.
    pub(crate) fn new(alg: HashAlg) -> Self {
        let mut words = [0u64; 8];
        match alg {
            HashAlg::Sha1 => {
                for (w, iv) in words.iter_mut().zip(SHA1_IV) {
                    *w = u64::from(iv);
                }
            }
            HashAlg::Sha256 => {
                for (w, iv) in words.iter_mut().zip(SHA256_IV) {
                    *w = u64::from(iv);
                }
            }
            HashAlg::Sha384 => words = SHA384_IV,
            HashAlg::Sha512 => words = SHA512_IV,
        }
        Self {
            alg,
            words,
            block: [0; MAX_BLOCK],
            len: 0,
        }
    }

    /// The algorithm.
    pub(crate) fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Bytes of the current incomplete block.
    fn buffered(&self) -> usize {
        // The block size divides 2^64, so the remainder is below it and fits a usize.
        usize::try_from(self.len % self.alg.block_size() as u64).unwrap_or(0)
    }

    /// Runs the compression function over one whole block.
    fn compress(&mut self, block: &[u8]) {
        match self.alg {
            HashAlg::Sha1 => {
                let mut s = [0u32; 5];
                low_words(&self.words, &mut s);
                sha1::compress(
                    &mut s,
                    core::slice::from_ref(GenericArray::<u8, U64>::from_slice(block)),
                );
                store_low_words(&s, &mut self.words);
                s.zeroize();
            }
            HashAlg::Sha256 => {
                let mut s = [0u32; 8];
                low_words(&self.words, &mut s);
                sha2::compress256(
                    &mut s,
                    core::slice::from_ref(GenericArray::<u8, U64>::from_slice(block)),
                );
                store_low_words(&s, &mut self.words);
                s.zeroize();
            }
            HashAlg::Sha384 | HashAlg::Sha512 => {
                sha2::compress512(
                    &mut self.words,
                    core::slice::from_ref(GenericArray::<u8, U128>::from_slice(block)),
                );
            }
        }
    }

    /// Adds data.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        let bs = self.alg.block_size();
        let mut have = self.buffered();
        self.len = self.len.wrapping_add(data.len() as u64);
        if have > 0 {
            let take = (bs - have).min(data.len());
            self.block[have..have + take].copy_from_slice(&data[..take]);
            data = &data[take..];
            have += take;
            if have < bs {
                return;
            }
            let block = self.block;
            self.compress(&block[..bs]);
        }
        let mut chunks = data.chunks_exact(bs);
        for c in &mut chunks {
            self.compress(c);
        }
        let rest = chunks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
    }

    /// The digest of everything added (FIPS 180-4 §5.1 padding, §6 output).
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let bs = self.alg.block_size();
        // The length field: 8 bytes for SHA-1/256, 16 for SHA-384/512 (the high 8 are zero:
        // `len` counts bytes in a u64).
        let len_field = if bs == MAX_BLOCK { 16 } else { 8 };
        let bits = self.len.wrapping_mul(8);
        let have = self.buffered();
        let mut tail = Zeroizing::new([0u8; 2 * MAX_BLOCK]);
        tail[..have].copy_from_slice(&self.block[..have]);
        tail[have] = 0x80;
        let total = if have + 1 + len_field <= bs {
            bs
        } else {
            2 * bs
        };
        tail[total - 8..total].copy_from_slice(&bits.to_be_bytes());
        for block in tail[..total].chunks_exact(bs) {
            self.compress(block);
        }
        let mut out = Vec::with_capacity(self.alg.digest_size());
        match self.alg {
            HashAlg::Sha1 | HashAlg::Sha256 => {
                for w in &self.words[..word_count(self.alg)] {
                    // Low half only: these are 32-bit words.
                    out.extend_from_slice(&w.to_be_bytes()[4..]);
                }
            }
            HashAlg::Sha384 | HashAlg::Sha512 => {
                for w in &self.words {
                    out.extend_from_slice(&w.to_be_bytes());
                }
                out.truncate(self.alg.digest_size());
            }
        }
        out
    }
}

fn low_words<const N: usize>(words: &[u64; 8], out: &mut [u32; N]) {
    for (o, w) in out.iter_mut().zip(words) {
        // The value was stored from a u32, so the conversion cannot fail.
        *o = u32::try_from(*w & 0xffff_ffff).unwrap_or(0);
    }
}

fn store_low_words<const N: usize>(s: &[u32; N], words: &mut [u64; 8]) {
    for (w, v) in words.iter_mut().zip(s) {
        *w = u64::from(*v);
    }
}

impl core::fmt::Debug for HashState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HashState")
            .field("alg", &self.alg)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Persist for HashState {
    fn save(&self, w: &mut Writer) {
        w.u16(self.alg.alg().0);
        for v in &self.words[..word_count(self.alg)] {
            w.u64(*v);
        }
        w.u64(self.len);
        w.bytes(&self.block[..self.buffered()]);
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let alg = HashAlg::from_alg(TpmAlgId(r.u16("hash state algorithm")?))
            .ok_or(StateError::BadValue("hash state algorithm"))?;
        let mut s = Self::new(alg);
        for i in 0..word_count(alg) {
            let v = r.u64("hash state word")?;
            if matches!(alg, HashAlg::Sha1 | HashAlg::Sha256) && v > u64::from(u32::MAX) {
                return Err(StateError::BadValue("hash state word"));
            }
            s.words[i] = v;
        }
        s.len = r.u64("hash state length")?;
        let buf = r.bytes(MAX_BLOCK, "hash state block")?;
        if buf.len() != s.buffered() {
            return Err(StateError::BadValue("hash state block"));
        }
        s.block[..buf.len()].copy_from_slice(buf);
        Ok(s)
    }
}

/// A running HMAC (RFC 2104; part 1 §11.4.4) that can be saved and restored. It holds the
/// padded key K0, so it is zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct HmacState {
    /// H((K0 ⊕ ipad) || text so far).
    inner: HashState,
    /// K0: the key (hashed first if longer than a block) padded with zeros to the block size.
    key: [u8; MAX_BLOCK],
}

impl HmacState {
    /// Starts an HMAC keyed with `key` (any length).
    pub(crate) fn new(alg: HashAlg, key: &[u8]) -> Self {
        let bs = alg.block_size();
        let mut k0 = [0u8; MAX_BLOCK];
        if key.len() > bs {
            let mut h = HashState::new(alg);
            h.update(key);
            let d = Zeroizing::new(h.finish());
            k0[..d.len()].copy_from_slice(&d);
        } else {
            k0[..key.len()].copy_from_slice(key);
        }
        let mut pad = Zeroizing::new([0u8; MAX_BLOCK]);
        for (p, k) in pad.iter_mut().zip(&k0[..bs]) {
            *p = k ^ 0x36;
        }
        let mut inner = HashState::new(alg);
        inner.update(&pad[..bs]);
        Self { inner, key: k0 }
    }

    /// The algorithm.
    pub(crate) fn alg(&self) -> HashAlg {
        self.inner.alg()
    }

    /// Adds data.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The HMAC of everything added.
    pub(crate) fn finish(self) -> Vec<u8> {
        let alg = self.alg();
        let bs = alg.block_size();
        let inner = Zeroizing::new(self.inner.clone().finish());
        let mut pad = Zeroizing::new([0u8; MAX_BLOCK]);
        for (p, k) in pad.iter_mut().zip(&self.key[..bs]) {
            *p = k ^ 0x5c;
        }
        let mut outer = HashState::new(alg);
        outer.update(&pad[..bs]);
        outer.update(&inner);
        outer.finish()
    }
}

impl core::fmt::Debug for HmacState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HmacState")
            .field("alg", &self.alg())
            .finish_non_exhaustive()
    }
}

impl Persist for HmacState {
    fn save(&self, w: &mut Writer) {
        self.inner.save(w);
        w.bytes(&self.key[..self.alg().block_size()]);
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let inner = HashState::load(r)?;
        let bs = inner.alg().block_size();
        let k = r.bytes(MAX_BLOCK, "HMAC key")?;
        if k.len() != bs || inner.len < bs as u64 {
            return Err(StateError::BadValue("HMAC key"));
        }
        let mut key = [0u8; MAX_BLOCK];
        key[..bs].copy_from_slice(k);
        Ok(Self { inner, key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::hash::{digest, hmac};
    use crate::engine::crypto::testutil::hex;

    fn message(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| u8::try_from((i.wrapping_mul(31) ^ (i >> 8)) & 0xff).unwrap())
            .collect()
    }

    fn one_shot(alg: HashAlg, data: &[u8]) -> Vec<u8> {
        let mut h = HashState::new(alg);
        h.update(data);
        h.finish()
    }

    /// Cross-check against the `sha1`/`sha2` hashers (through `crypto::hash::digest`, which
    /// uses their own buffering) on lengths around every padding boundary.
    #[test]
    fn matches_the_reference_hashers_on_many_lengths() {
        let lengths = [
            0usize, 1, 2, 55, 56, 57, 63, 64, 65, 111, 112, 113, 119, 120, 127, 128, 129, 255, 256,
            1000, 1024, 100_000,
        ];
        for alg in HashAlg::ALL {
            for &n in &lengths {
                let m = message(n);
                assert_eq!(one_shot(alg, &m), digest(alg, &[&m]), "{alg:?} length {n}");
            }
        }
    }

    /// FIPS 180-4 example "abc" (independent of any implementation in this crate).
    #[test]
    fn fips_180_abc() {
        let expect = |alg, want: &str| {
            assert_eq!(one_shot(alg, b"abc"), hex(want), "{alg:?}");
        };
        expect(HashAlg::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        expect(
            HashAlg::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        expect(
            HashAlg::Sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        );
        expect(
            HashAlg::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        );
    }

    #[test]
    fn split_at_every_position_and_in_many_pieces() {
        for alg in HashAlg::ALL {
            let m = message(300);
            let want = digest(alg, &[&m]);
            for cut in 0..=m.len() {
                let mut h = HashState::new(alg);
                h.update(&m[..cut]);
                h.update(&m[cut..]);
                assert_eq!(h.finish(), want, "{alg:?} cut {cut}");
            }
            let mut h = HashState::new(alg);
            for piece in m.chunks(7) {
                h.update(piece);
                h.update(&[]);
            }
            assert_eq!(h.finish(), want);
        }
    }

    fn round_trip<T: Persist>(v: &T) -> T {
        let mut w = Writer::new();
        v.save(&mut w);
        let mut r = Loader::new(&w.out);
        let back = T::load(&mut r).unwrap();
        r.finish("test").unwrap();
        back
    }

    #[test]
    fn saved_mid_stream_and_restored_gives_the_same_digest() {
        for alg in HashAlg::ALL {
            let m = message(2000);
            for cut in [0usize, 1, 63, 64, 65, 127, 128, 129, 1000] {
                let mut h = HashState::new(alg);
                h.update(&m[..cut]);
                let mut back = round_trip(&h);
                back.update(&m[cut..]);
                assert_eq!(back.finish(), digest(alg, &[&m]), "{alg:?} cut {cut}");

                let mut mac = HmacState::new(alg, b"a key");
                mac.update(&m[..cut]);
                let mut back = round_trip(&mac);
                back.update(&m[cut..]);
                assert_eq!(
                    back.finish(),
                    hmac(alg, b"a key", &[&m]),
                    "{alg:?} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn hmac_matches_the_reference_for_short_block_and_long_keys() {
        for alg in HashAlg::ALL {
            for key_len in [0usize, 1, 20, 63, 64, 65, 127, 128, 129, 300] {
                let key = message(key_len);
                for n in [0usize, 1, 64, 129, 1000] {
                    let m = message(n);
                    let mut mac = HmacState::new(alg, &key);
                    let (a, b) = m.split_at(n / 3);
                    mac.update(a);
                    mac.update(b);
                    assert_eq!(
                        mac.finish(),
                        hmac(alg, &key, &[&m]),
                        "{alg:?} key {key_len}"
                    );
                }
            }
        }
    }

    /// RFC 4231 test case 2 (independent of the `hmac` crate).
    #[test]
    fn hmac_rfc4231_case_2() {
        let mut mac = HmacState::new(HashAlg::Sha256, b"Jefe");
        mac.update(b"what do ya want for nothing?");
        let want = hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(mac.finish(), want);
    }

    #[test]
    fn load_rejects_inconsistent_state() {
        let mut h = HashState::new(HashAlg::Sha256);
        h.update(b"hello");
        let mut w = Writer::new();
        h.save(&mut w);
        let good = w.out.to_vec();
        // Unknown algorithm.
        let mut bad = good.clone();
        bad[1] = 0x10;
        assert!(HashState::load(&mut Loader::new(&bad)).is_err());
        // A 32-bit word that does not fit.
        let mut bad = good.clone();
        bad[2] = 1;
        assert_eq!(
            HashState::load(&mut Loader::new(&bad)).unwrap_err(),
            StateError::BadValue("hash state word")
        );
        // Buffered bytes that disagree with the length.
        let mut bad = good.clone();
        let len_at = 2 + 8 * 8;
        bad[len_at + 7] = 6;
        assert_eq!(
            HashState::load(&mut Loader::new(&bad)).unwrap_err(),
            StateError::BadValue("hash state block")
        );
        // Truncated.
        assert!(HashState::load(&mut Loader::new(&good[..good.len() - 1])).is_err());
        // The HMAC key must be one block.
        let mac = HmacState::new(HashAlg::Sha1, b"k");
        let mut w = Writer::new();
        mac.save(&mut w);
        let mut bad = w.out.to_vec();
        bad.pop();
        let n = bad.len();
        bad[n - 64] = 63;
        assert!(HmacState::load(&mut Loader::new(&bad)).is_err());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let mac = HmacState::new(HashAlg::Sha256, &[0xAB; 16]);
        let text = alloc::format!("{mac:?}");
        assert!(text.contains("Sha256"));
        assert!(!text.to_lowercase().contains("ab, "));
        assert!(!text.contains("171"));
    }
}

//! Key derivation functions: KDFa (TCG TPM 2.0 Library part 1 §11.4.10.2, NIST SP 800-108
//! counter mode with HMAC) and KDFe (part 1 §11.4.10.3, NIST SP 800-56A concatenation KDF).
//!
//! KDFa block `i` (counting from 1) is
//! `HMAC(key, [i]32 || Label || 00 || Context_U || Context_V || [bits]32)`; KDFe block `i` is
//! `H([i]32 || Z || Use || 00 || PartyUInfo || PartyVInfo)`. Integers are big-endian. The `00`
//! octet terminating the label is added only if the label does not already end in one (an empty
//! label is the single octet `00`), as the reference implementation does. The output is the
//! first `ceil(bits / 8)` bytes of the concatenated blocks; when `bits` is not a multiple of 8,
//! the unused high-order bits of the first byte are cleared.

use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use super::hash::{HashAlg, Hasher, Hmac};

/// Whether the label needs the terminating zero octet appended.
fn needs_terminator(label: &[u8]) -> bool {
    label.last() != Some(&0)
}

/// The number of output bytes for `bits` bits.
fn bytes_for(bits: u32) -> usize {
    // u32 / 8 + 1 fits in usize on every supported target.
    bits.div_ceil(8) as usize
}

/// Clears the high-order bits of the first byte beyond `bits`.
fn mask_leading(out: &mut [u8], bits: u32) {
    let extra = bits % 8;
    if extra != 0 {
        if let Some(first) = out.first_mut() {
            *first &= (1u8 << extra) - 1;
        }
    }
}

/// One KDFa block for counter `i`, `bits` being the value hashed as [L]32 (also used alone by the
/// commit random value of `commands::ecc_commit`, which restarts KDFa at a given counter).
pub(crate) fn kdfa_block(
    alg: HashAlg,
    key: &[u8],
    label: &[u8],
    context_u: &[u8],
    context_v: &[u8],
    i: u32,
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let mut m = Hmac::new(alg, key);
    m.update(&i.to_be_bytes());
    m.update(label);
    if needs_terminator(label) {
        m.update(&[0]);
    }
    m.update(context_u);
    m.update(context_v);
    m.update(&bits.to_be_bytes());
    Zeroizing::new(m.finish())
}

/// KDFa (part 1 §11.4.10.2): `bits` bits derived from `key`, `label` and the two contexts.
pub fn kdfa(
    alg: HashAlg,
    key: &[u8],
    label: &[u8],
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let len = bytes_for(bits);
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut counter: u32 = 0;
    while out.len() < len {
        counter = counter.wrapping_add(1);
        let block = kdfa_block(alg, key, label, context_u, context_v, counter, bits);
        let take = block.len().min(len - out.len());
        out.extend_from_slice(&block[..take]);
    }
    mask_leading(&mut out, bits);
    out
}

/// KDFe (part 1 §11.4.10.3): `bits` bits derived from the shared secret `z` (the x-coordinate
/// of an ECDH point), the `label` ("Use") and the two parties' information.
pub fn kdfe(
    alg: HashAlg,
    z: &[u8],
    label: &[u8],
    party_u: &[u8],
    party_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let len = bytes_for(bits);
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut counter: u32 = 0;
    while out.len() < len {
        counter = counter.wrapping_add(1);
        let mut h = Hasher::new(alg);
        h.update(&counter.to_be_bytes());
        h.update(z);
        h.update(label);
        if needs_terminator(label) {
            h.update(&[0]);
        }
        h.update(party_u);
        h.update(party_v);
        let block = Zeroizing::new(h.finish());
        let take = block.len().min(len - out.len());
        out.extend_from_slice(&block[..take]);
    }
    mask_leading(&mut out, bits);
    out
}

/// A deterministic byte stream from KDFa, used as the random source when a primary key is
/// derived from a hierarchy seed and its template (part 1, "Primary Seed" and
/// TPM2_CreatePrimary).
///
/// The stream is KDFa block 1, block 2, ... of (`alg`, `key`, `label`, `context_u`,
/// `context_v`); each block is computed with `[L]32` set to the block's size in bits
/// (the digest size × 8), and the counter continues across calls. Reading `a` bytes then `b`
/// bytes gives the same bytes as reading `a + b` at once.
pub struct KdfaStream {
    alg: HashAlg,
    key: Zeroizing<Vec<u8>>,
    label: Vec<u8>,
    context_u: Vec<u8>,
    context_v: Vec<u8>,
    counter: u32,
    /// The current block and how many of its bytes were handed out.
    block: Zeroizing<Vec<u8>>,
    used: usize,
}

impl KdfaStream {
    /// Starts a stream (nothing is computed until bytes are read).
    pub fn new(
        alg: HashAlg,
        key: &[u8],
        label: &[u8],
        context_u: &[u8],
        context_v: &[u8],
    ) -> KdfaStream {
        KdfaStream {
            alg,
            key: Zeroizing::new(key.to_vec()),
            label: label.to_vec(),
            context_u: context_u.to_vec(),
            context_v: context_v.to_vec(),
            counter: 0,
            block: Zeroizing::new(Vec::new()),
            used: 0,
        }
    }

    fn refill(&mut self) {
        self.counter = self.counter.wrapping_add(1);
        let bits = match self.alg {
            HashAlg::Sha1 => 160,
            HashAlg::Sha256 => 256,
            HashAlg::Sha384 => 384,
            HashAlg::Sha512 => 512,
        };
        self.block = kdfa_block(
            self.alg,
            &self.key,
            &self.label,
            &self.context_u,
            &self.context_v,
            self.counter,
            bits,
        );
        self.used = 0;
    }
}

impl RngCore for KdfaStream {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let mut filled = 0;
        while filled < dest.len() {
            if self.used >= self.block.len() {
                self.refill();
            }
            let take = (self.block.len() - self.used).min(dest.len() - filled);
            dest[filled..filled + take].copy_from_slice(&self.block[self.used..self.used + take]);
            self.used += take;
            filled += take;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for KdfaStream {}

impl Drop for KdfaStream {
    fn drop(&mut self) {
        // key and block are Zeroizing; the contexts may carry secrets too (a seed's context).
        self.context_u.zeroize();
        self.context_v.zeroize();
    }
}

impl core::fmt::Debug for KdfaStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KdfaStream")
            .field("alg", &self.alg)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::hash::{digest, hmac};

    /// KDFa built by hand from its definition: the HMAC input is spelled out byte by byte.
    #[test]
    fn kdfa_matches_hand_built_hmac_input() {
        let key = b"0123456789abcdef0123456789abcdef";
        let label = b"STORAGE";
        let u = [0x11u8; 5];
        let v = [0x22u8; 3];
        let bits = 384u32; // two SHA-256 blocks, the second truncated
        let mut input1 = Vec::new();
        input1.extend_from_slice(&[0, 0, 0, 1]);
        input1.extend_from_slice(b"STORAGE\0");
        input1.extend_from_slice(&u);
        input1.extend_from_slice(&v);
        input1.extend_from_slice(&[0, 0, 0x01, 0x80]);
        let mut input2 = input1.clone();
        input2[3] = 2;
        let mut expected = hmac(HashAlg::Sha256, key, &[&input1]);
        expected.extend_from_slice(&hmac(HashAlg::Sha256, key, &[&input2])[..16]);
        let out = kdfa(HashAlg::Sha256, key, label, &u, &v, bits);
        assert_eq!(&out[..], &expected[..]);
        // A label that already ends in 0 gets no second terminator.
        let out0 = kdfa(HashAlg::Sha256, key, b"STORAGE\0", &u, &v, bits);
        assert_eq!(&out0[..], &expected[..]);
        // An empty label is the single 00 octet.
        let mut input_empty = Vec::new();
        input_empty.extend_from_slice(&[0, 0, 0, 1, 0]);
        input_empty.extend_from_slice(&[0, 0, 0, 0x80]);
        assert_eq!(
            &kdfa(HashAlg::Sha1, key, b"", b"", b"", 128)[..],
            &hmac(HashAlg::Sha1, key, &[&input_empty])[..16]
        );
    }

    /// KDFa is SP 800-108 counter-mode KDF with HMAC, 32-bit counter, a 00 separator and a
    /// 32-bit length: the same construction as OpenSSL 3's KBKDF. Expected value from
    /// `openssl kdf -keylen 48 -kdfopt mac:HMAC -kdfopt digest:SHA256 -kdfopt hexkey:00112233
    /// -kdfopt salt:STORAGE -kdfopt hexinfo:aabb KBKDF` (OpenSSL 3.0.19); the live comparison
    /// for more inputs is in `tests/crypto_openssl.rs`.
    #[test]
    fn kdfa_matches_openssl_kbkdf() {
        let out = kdfa(
            HashAlg::Sha256,
            &[0x00, 0x11, 0x22, 0x33],
            b"STORAGE",
            &[0xaa],
            &[0xbb],
            384,
        );
        assert_eq!(
            &out[..],
            &crate::engine::crypto::testutil::hex(
                "a28ed491a3bcd2f5bed9fe9e412abf7f97f0543df86d54a61790ebaeadc3689d
                 79bba479aa1e14ac0907905ce23b7e34"
            )[..]
        );
    }

    #[test]
    fn kdfa_masks_partial_byte() {
        let full = kdfa(HashAlg::Sha256, b"k", b"L", b"", b"", 12);
        assert_eq!(full.len(), 2);
        assert_eq!(full[0] & 0xf0, 0);
        // Same HMAC input (bits = 12 in the trailer), unmasked, from the definition:
        let raw = hmac(
            HashAlg::Sha256,
            b"k",
            &[&[0, 0, 0, 1], b"L\0", &[0, 0, 0, 12]],
        );
        assert_eq!(full[0], raw[0] & 0x0f);
        assert_eq!(full[1], raw[1]);
        assert!(kdfa(HashAlg::Sha256, b"k", b"L", b"", b"", 0).is_empty());
    }

    #[test]
    fn kdfe_matches_hand_built_hash_input() {
        let z = [0x5au8; 32];
        let pu = [1u8, 2, 3];
        let pv = [4u8, 5];
        let block = |i: u8| digest(HashAlg::Sha256, &[&[0, 0, 0, i], &z, b"SECRET\0", &pu, &pv]);
        let mut expected = block(1);
        expected.extend_from_slice(&block(2)[..8]);
        assert_eq!(
            &kdfe(HashAlg::Sha256, &z, b"SECRET", &pu, &pv, 320)[..],
            &expected[..]
        );
        assert_eq!(
            &kdfe(HashAlg::Sha256, &z, b"SECRET\0", &pu, &pv, 320)[..],
            &expected[..]
        );
        let odd = kdfe(HashAlg::Sha256, &z, b"SECRET", &pu, &pv, 9);
        assert_eq!(&odd[..], &[block(1)[0] & 1, block(1)[1]]);
    }

    #[test]
    fn stream_is_kdfa_blocks_and_continues_across_calls() {
        let mut a = KdfaStream::new(HashAlg::Sha256, b"seed", b"label", b"u", b"v");
        let mut b = KdfaStream::new(HashAlg::Sha256, b"seed", b"label", b"u", b"v");
        let mut whole = [0u8; 100];
        a.fill_bytes(&mut whole);
        let mut parts = [0u8; 100];
        let (p1, rest) = parts.split_at_mut(7);
        let (p2, p3) = rest.split_at_mut(40);
        b.fill_bytes(p1);
        b.fill_bytes(p2);
        b.fill_bytes(p3);
        assert_eq!(whole, parts);
        // Block 1 of the stream is the single-block KDFa of the same inputs.
        assert_eq!(
            &whole[..32],
            &kdfa(HashAlg::Sha256, b"seed", b"label", b"u", b"v", 256)[..]
        );
        // Block 2 is the HMAC with counter 2 and [L] = 256.
        let block2 = hmac(
            HashAlg::Sha256,
            b"seed",
            &[&[0, 0, 0, 2], b"label\0", b"u", b"v", &[0, 0, 1, 0]],
        );
        assert_eq!(&whole[32..64], &block2[..]);
        let text = alloc::format!("{a:?}");
        assert!(!text.contains("seed"));
    }
}

//! Hash functions and HMAC (TCG TPM 2.0 Library part 1 §11.4.3 "Hash functions" and §11.4.4
//! "HMAC", RFC 2104): SHA-1, SHA-256, SHA-384 and SHA-512 from the `sha1`/`sha2` crates.
//!
//! [`Hmac`] keeps no copy of the key: the `hmac` crate folds it into the two hash states at
//! construction. Those states are key-equivalent, and the `sha1`/`sha2` 0.10 cores offer no
//! zeroization, so they are not wiped on drop; every buffer this module makes from a key is.

use alloc::vec::Vec;

use hmac::Mac;
use hmac::digest::KeyInit;
use sha2::Digest;
use tpm2::alg::TpmAlgId;

/// A hash algorithm the engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// TPM_ALG_SHA1.
    Sha1,
    /// TPM_ALG_SHA256.
    Sha256,
    /// TPM_ALG_SHA384.
    Sha384,
    /// TPM_ALG_SHA512.
    Sha512,
}

impl HashAlg {
    /// Every implemented hash, in TPM_ALG_ID order.
    pub const ALL: [HashAlg; 4] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// The hash for a TPM_ALG_ID, `None` if it is not an implemented hash (including
    /// TPM_ALG_NULL).
    pub fn from_alg(alg: TpmAlgId) -> Option<HashAlg> {
        match alg {
            TpmAlgId::SHA1 => Some(HashAlg::Sha1),
            TpmAlgId::SHA256 => Some(HashAlg::Sha256),
            TpmAlgId::SHA384 => Some(HashAlg::Sha384),
            TpmAlgId::SHA512 => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    /// The TPM_ALG_ID of this hash.
    pub fn alg(self) -> TpmAlgId {
        match self {
            HashAlg::Sha1 => TpmAlgId::SHA1,
            HashAlg::Sha256 => TpmAlgId::SHA256,
            HashAlg::Sha384 => TpmAlgId::SHA384,
            HashAlg::Sha512 => TpmAlgId::SHA512,
        }
    }

    /// Output size in bytes.
    pub fn digest_size(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Internal block size in bytes (the HMAC key block).
    pub fn block_size(self) -> usize {
        match self {
            HashAlg::Sha1 | HashAlg::Sha256 => 64,
            HashAlg::Sha384 | HashAlg::Sha512 => 128,
        }
    }
}

/// The hash of the concatenation of `parts`.
pub fn digest(alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    for part in parts {
        h.update(part);
    }
    h.finish()
}

/// The running state of one hash algorithm.
#[derive(Clone)]
enum HashState {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

/// An incremental hash (a hash sequence object's state, a PCR extend, a name computation).
#[derive(Clone)]
pub struct Hasher {
    state: HashState,
}

impl Hasher {
    /// Starts a hash.
    pub fn new(alg: HashAlg) -> Hasher {
        let state = match alg {
            HashAlg::Sha1 => HashState::Sha1(sha1::Sha1::new()),
            HashAlg::Sha256 => HashState::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => HashState::Sha384(sha2::Sha384::new()),
            HashAlg::Sha512 => HashState::Sha512(sha2::Sha512::new()),
        };
        Hasher { state }
    }

    /// The algorithm of this hash.
    pub fn alg(&self) -> HashAlg {
        match self.state {
            HashState::Sha1(_) => HashAlg::Sha1,
            HashState::Sha256(_) => HashAlg::Sha256,
            HashState::Sha384(_) => HashAlg::Sha384,
            HashState::Sha512(_) => HashAlg::Sha512,
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HashState::Sha1(h) => h.update(data),
            HashState::Sha256(h) => h.update(data),
            HashState::Sha384(h) => h.update(data),
            HashState::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything added.
    pub fn finish(self) -> Vec<u8> {
        match self.state {
            HashState::Sha1(h) => h.finalize().to_vec(),
            HashState::Sha256(h) => h.finalize().to_vec(),
            HashState::Sha384(h) => h.finalize().to_vec(),
            HashState::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

impl core::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hasher")
            .field("alg", &self.alg())
            .finish_non_exhaustive()
    }
}

/// The running state of one HMAC.
#[derive(Clone)]
enum HmacState {
    Sha1(hmac::Hmac<sha1::Sha1>),
    Sha256(hmac::Hmac<sha2::Sha256>),
    Sha384(hmac::Hmac<sha2::Sha384>),
    Sha512(hmac::Hmac<sha2::Sha512>),
}

/// Builds an HMAC state; HMAC takes keys of any length (RFC 2104 §2), so this cannot fail.
fn keyed<M: KeyInit>(key: &[u8]) -> M {
    match M::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// An incremental HMAC (RFC 2104) keyed at construction. `Debug` shows only the algorithm.
#[derive(Clone)]
pub struct Hmac {
    state: HmacState,
}

impl Hmac {
    /// Starts an HMAC with `key` (any length; keys longer than the block are hashed first).
    pub fn new(alg: HashAlg, key: &[u8]) -> Hmac {
        let state = match alg {
            HashAlg::Sha1 => HmacState::Sha1(keyed(key)),
            HashAlg::Sha256 => HmacState::Sha256(keyed(key)),
            HashAlg::Sha384 => HmacState::Sha384(keyed(key)),
            HashAlg::Sha512 => HmacState::Sha512(keyed(key)),
        };
        Hmac { state }
    }

    /// The algorithm of this HMAC.
    pub fn alg(&self) -> HashAlg {
        match self.state {
            HmacState::Sha1(_) => HashAlg::Sha1,
            HmacState::Sha256(_) => HashAlg::Sha256,
            HmacState::Sha384(_) => HashAlg::Sha384,
            HmacState::Sha512(_) => HashAlg::Sha512,
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HmacState::Sha1(m) => m.update(data),
            HmacState::Sha256(m) => m.update(data),
            HmacState::Sha384(m) => m.update(data),
            HmacState::Sha512(m) => m.update(data),
        }
    }

    /// The HMAC of everything added.
    pub fn finish(self) -> Vec<u8> {
        match self.state {
            HmacState::Sha1(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha256(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha384(m) => m.finalize().into_bytes().to_vec(),
            HmacState::Sha512(m) => m.finalize().into_bytes().to_vec(),
        }
    }
}

impl core::fmt::Debug for Hmac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hmac")
            .field("alg", &self.alg())
            .finish_non_exhaustive()
    }
}

/// The HMAC of the concatenation of `parts` under `key`.
pub fn hmac(alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::new(alg, key);
    for part in parts {
        m.update(part);
    }
    m.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::testutil::hex;

    #[test]
    fn ids_and_sizes() {
        for alg in HashAlg::ALL {
            assert_eq!(HashAlg::from_alg(alg.alg()), Some(alg));
            assert_eq!(alg.alg().digest_size(), Some(alg.digest_size()));
            assert_eq!(digest(alg, &[]).len(), alg.digest_size());
        }
        assert_eq!(HashAlg::from_alg(TpmAlgId::NULL), None);
        assert_eq!(HashAlg::from_alg(TpmAlgId::SM3_256), None);
    }

    /// FIPS 180-4 examples ("abc" and the two-block message), from NIST's published examples.
    #[test]
    fn sha_known_answers() {
        let abc: &[u8] = b"abc";
        assert_eq!(
            digest(HashAlg::Sha1, &[abc]),
            hex("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            digest(HashAlg::Sha256, &[abc]),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            digest(HashAlg::Sha384, &[abc]),
            hex(
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed
                 8086072ba1e7cc2358baeca134c825a7"
            )
        );
        assert_eq!(
            digest(HashAlg::Sha512, &[abc]),
            hex(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            )
        );
        let two_block: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            digest(HashAlg::Sha256, &[two_block]),
            hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        );
        assert_eq!(
            digest(HashAlg::Sha1, &[two_block]),
            hex("84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        );
    }

    #[test]
    fn parts_and_incremental_agree() {
        for alg in HashAlg::ALL {
            let whole = digest(alg, &[b"hello world, this is a test"]);
            assert_eq!(
                digest(alg, &[b"hello ", b"world, this", b" is a test"]),
                whole
            );
            let mut h = Hasher::new(alg);
            h.update(b"hello world");
            let fork = h.clone();
            h.update(b", this is a test");
            assert_eq!(h.alg(), alg);
            assert_eq!(h.finish(), whole);
            assert_eq!(fork.finish(), digest(alg, &[b"hello world"]));
        }
    }

    /// RFC 4231 test cases 1, 2, 4 (truncated 6 as well: a key longer than the block).
    #[test]
    fn hmac_rfc4231() {
        let key1 = [0x0b; 20];
        let data1: &[u8] = b"Hi There";
        assert_eq!(
            hmac(HashAlg::Sha256, &key1, &[data1]),
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            hmac(HashAlg::Sha384, &key1, &[data1]),
            hex(
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c
                 faea9ea9076ede7f4af152e8b2fa9cb6"
            )
        );
        assert_eq!(
            hmac(HashAlg::Sha512, &key1, &[data1]),
            hex(
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde
                 daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
            )
        );
        // Test case 2: key "Jefe".
        assert_eq!(
            hmac(
                HashAlg::Sha256,
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            ),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        // Test case 6: a 131-byte key, longer than the SHA-256 block.
        let key6 = [0xaa; 131];
        assert_eq!(
            hmac(
                HashAlg::Sha256,
                &key6,
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            ),
            hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
        assert_eq!(
            hmac(
                HashAlg::Sha512,
                &key6,
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            ),
            hex(
                "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352
                 6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
            )
        );
    }

    /// RFC 2202 test case 1 for HMAC-SHA-1.
    #[test]
    fn hmac_sha1_rfc2202() {
        assert_eq!(
            hmac(HashAlg::Sha1, &[0x0b; 20], &[b"Hi There"]),
            hex("b617318655057264e28bc0b6fb378c8ef146be00")
        );
    }

    #[test]
    fn hmac_incremental_and_debug() {
        let mut m = Hmac::new(HashAlg::Sha256, b"secret key");
        m.update(b"part one ");
        let fork = m.clone();
        m.update(b"part two");
        assert_eq!(m.alg(), HashAlg::Sha256);
        let text = alloc::format!("{m:?}");
        assert!(!text.contains("secret"));
        assert_eq!(
            m.finish(),
            hmac(HashAlg::Sha256, b"secret key", &[b"part one part two"])
        );
        assert_eq!(
            fork.finish(),
            hmac(HashAlg::Sha256, b"secret key", &[b"part one "])
        );
    }
}

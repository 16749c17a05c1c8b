//! The sealed state blob: a TPM state (from [`crate::engine::Engine::save_state`]) encrypted
//! and authenticated under a 32-byte key, as the host process keeps it in its state file and
//! the Xen domain on its disk image.
//!
//! Construction: encrypt-then-MAC. A fresh random 16-byte nonce per seal gives fresh keys:
//!
//! ```text
//! enc_key (32) || iv (16) || mac_key (32) =
//!     KDFa(SHA-256, key, "VTPM SEALED STATE", nonce, generation as u64 BE, 640 bits)
//! ciphertext = AES-256-CTR(enc_key, iv, state)
//! tag        = HMAC-SHA256(mac_key, header || ciphertext)
//! ```
//!
//! KDFa is TCG TPM 2.0 Library part 1 §11.4.10.2 (NIST SP 800-108 counter mode with HMAC); CTR
//! is part 1 §11.4.6 with the whole 16-byte IV as a big-endian counter (NIST SP 800-38A §6.5);
//! HMAC is RFC 2104 / FIPS 198-1.
//!
//! Byte layout (all integers big-endian):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0      | 8    | magic `VTPMSEAL` |
//! | 8      | 2    | format version, 1 |
//! | 10     | 2    | flags, 0 (reserved; any other value is refused) |
//! | 12     | 8    | generation: incremented by the writer on every seal |
//! | 20     | 16   | nonce |
//! | 36     | 4    | ciphertext length `n` |
//! | 40     | n    | ciphertext |
//! | 40 + n | 32   | tag over bytes `0 .. 40 + n` |
//!
//! The generation is authenticated (it is in the MAC'd header and in the key derivation), so a
//! keeper of the key that also remembers the last generation it wrote (the Xen manager) can
//! detect a rolled-back blob; the blob alone cannot.
//!
//! [`unseal`] rejects every modification with a typed [`SealError`]; the tag is compared in
//! constant time and nothing is decrypted before it verifies.

use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroizing;

use crate::engine::crypto::hash::{HashAlg, hmac};
use crate::engine::crypto::kdf::kdfa;
use crate::engine::crypto::sym::{SymMode, aes_decrypt, aes_encrypt};

/// The first eight bytes of every sealed blob.
pub const MAGIC: [u8; 8] = *b"VTPMSEAL";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the sealing key.
pub const KEY_SIZE: usize = 32;
/// Size of the per-seal nonce.
pub const NONCE_SIZE: usize = 16;
/// Size of the header (magic through ciphertext length).
pub const HEADER_SIZE: usize = 40;
/// Size of the HMAC-SHA256 tag.
pub const TAG_SIZE: usize = 32;
/// Bytes a sealed blob adds to its state.
pub const OVERHEAD: usize = HEADER_SIZE + TAG_SIZE;

/// The KDFa label of the key derivation.
const LABEL: &[u8] = b"VTPM SEALED STATE";
/// enc_key, iv and mac_key together, in bits.
const DERIVED_BITS: u32 = (32 + 16 + 32) * 8;

/// A 32-byte sealing key (zeroized on drop, never printed).
#[derive(Clone)]
pub struct SealKey(Zeroizing<[u8; KEY_SIZE]>);

impl SealKey {
    /// Wraps key bytes.
    pub fn new(bytes: [u8; KEY_SIZE]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies a key from a slice of exactly [`KEY_SIZE`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut key = Zeroizing::new([0u8; KEY_SIZE]);
        if bytes.len() != KEY_SIZE {
            return None;
        }
        key.copy_from_slice(bytes);
        Some(Self(key))
    }

    /// The key's bytes (to hand to the manager inside a hash key; never print them).
    pub fn as_bytes(&self) -> &[u8; KEY_SIZE] {
        &self.0
    }

    fn bytes(&self) -> &[u8] {
        &self.0[..]
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// Why a blob could not be sealed or unsealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// The blob ends before its header, ciphertext or tag does.
    Truncated {
        /// Bytes the blob should have.
        needed: usize,
        /// Bytes it has.
        available: usize,
    },
    /// The blob does not start with [`MAGIC`]: it is not a sealed vTPM state.
    BadMagic,
    /// A format version this code does not read.
    UnsupportedVersion(u16),
    /// Reserved flag bits are set.
    UnsupportedFlags(u16),
    /// Bytes follow the tag.
    TrailingData {
        /// Bytes the header announces in total.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The tag does not verify: wrong key, or the blob was modified.
    BadTag,
    /// The state is too large for the 32-bit length field.
    TooLarge,
    /// The cipher or key derivation failed (an internal error).
    Crypto,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => write!(
                f,
                "sealed state is truncated ({available} bytes, at least {needed} needed)"
            ),
            Self::BadMagic => f.write_str("not a sealed vTPM state (bad magic)"),
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "sealed state format version {v} is not supported (this reads {FORMAT_VERSION})"
                )
            }
            Self::UnsupportedFlags(x) => write!(f, "sealed state has unknown flags 0x{x:04x}"),
            Self::TrailingData { expected, actual } => write!(
                f,
                "sealed state has {actual} bytes where its header announces {expected}"
            ),
            Self::BadTag => f.write_str(
                "sealed state does not authenticate (wrong key, or the data was modified)",
            ),
            Self::TooLarge => f.write_str("state too large to seal"),
            Self::Crypto => f.write_str("internal cryptographic failure"),
        }
    }
}

impl core::error::Error for SealError {}

/// A successfully unsealed blob.
pub struct Unsealed {
    /// The generation the blob was sealed with.
    pub generation: u64,
    /// The state.
    pub state: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unsealed")
            .field("generation", &self.generation)
            .field("state_len", &self.state.len())
            .finish()
    }
}

/// The per-seal keys.
struct Derived(Zeroizing<Vec<u8>>);

impl Derived {
    fn new(key: &SealKey, nonce: &[u8], generation: u64) -> Result<Self, SealError> {
        let d = kdfa(
            HashAlg::Sha256,
            key.bytes(),
            LABEL,
            nonce,
            &generation.to_be_bytes(),
            DERIVED_BITS,
        );
        if d.len() != 80 {
            return Err(SealError::Crypto);
        }
        Ok(Self(d))
    }
    fn enc_key(&self) -> &[u8] {
        &self.0[..32]
    }
    fn iv(&self) -> &[u8] {
        &self.0[32..48]
    }
    fn mac_key(&self) -> &[u8] {
        &self.0[48..80]
    }
}

/// Constant-time equality (the lengths are public).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(diff) == 0
}

/// Reads a big-endian integer of `N` bytes at `at` (the caller has checked the length).
fn field<const N: usize>(blob: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = blob.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// Seals `state` under `key` with generation `generation` and a fresh random `nonce` (never
/// reuse a nonce with the same key and generation).
pub fn seal(
    key: &SealKey,
    generation: u64,
    nonce: &[u8; NONCE_SIZE],
    state: &[u8],
) -> Result<Vec<u8>, SealError> {
    let len = u32::try_from(state.len()).map_err(|_| SealError::TooLarge)?;
    let total = state
        .len()
        .checked_add(OVERHEAD)
        .ok_or(SealError::TooLarge)?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&generation.to_be_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(state);
    let d = Derived::new(key, nonce, generation)?;
    aes_encrypt(SymMode::Ctr, d.enc_key(), d.iv(), &mut out[HEADER_SIZE..])
        .map_err(|_| SealError::Crypto)?;
    let tag = hmac(HashAlg::Sha256, d.mac_key(), &[&out]);
    if tag.len() != TAG_SIZE {
        return Err(SealError::Crypto);
    }
    out.extend_from_slice(&tag);
    Ok(out)
}

/// The generation recorded in a blob's header, without authenticating it (for diagnostics;
/// trust only the generation [`unseal`] returns).
pub fn peek_generation(blob: &[u8]) -> Result<u64, SealError> {
    check_header(blob).map(|(generation, _)| generation)
}

/// Checks magic, version, flags and lengths; returns the generation and ciphertext length.
fn check_header(blob: &[u8]) -> Result<(u64, usize), SealError> {
    if blob.len() < MAGIC.len() || blob[..MAGIC.len()] != MAGIC {
        // A prefix of the magic is merely short; anything else is not ours.
        if blob.len() < MAGIC.len() && MAGIC.starts_with(blob) {
            return Err(SealError::Truncated {
                needed: OVERHEAD,
                available: blob.len(),
            });
        }
        return Err(SealError::BadMagic);
    }
    if blob.len() < HEADER_SIZE {
        return Err(SealError::Truncated {
            needed: OVERHEAD,
            available: blob.len(),
        });
    }
    let version = u16::from_be_bytes(field(blob, 8));
    if version != FORMAT_VERSION {
        return Err(SealError::UnsupportedVersion(version));
    }
    let flags = u16::from_be_bytes(field(blob, 10));
    if flags != 0 {
        return Err(SealError::UnsupportedFlags(flags));
    }
    let generation = u64::from_be_bytes(field(blob, 12));
    let len =
        usize::try_from(u32::from_be_bytes(field(blob, 36))).map_err(|_| SealError::Truncated {
            needed: usize::MAX,
            available: blob.len(),
        })?;
    let expected = len.checked_add(OVERHEAD).ok_or(SealError::Truncated {
        needed: usize::MAX,
        available: blob.len(),
    })?;
    if blob.len() < expected {
        return Err(SealError::Truncated {
            needed: expected,
            available: blob.len(),
        });
    }
    if blob.len() > expected {
        return Err(SealError::TrailingData {
            expected,
            actual: blob.len(),
        });
    }
    Ok((generation, len))
}

/// Authenticates and decrypts a blob written by [`seal`] under the same key.
pub fn unseal(key: &SealKey, blob: &[u8]) -> Result<Unsealed, SealError> {
    let (generation, len) = check_header(blob)?;
    let body_end = HEADER_SIZE + len;
    let nonce = &blob[20..36];
    let d = Derived::new(key, nonce, generation)?;
    let tag = hmac(HashAlg::Sha256, d.mac_key(), &[&blob[..body_end]]);
    if !ct_eq(&tag, &blob[body_end..]) {
        return Err(SealError::BadTag);
    }
    let mut state = Zeroizing::new(blob[HEADER_SIZE..body_end].to_vec());
    aes_decrypt(SymMode::Ctr, d.enc_key(), d.iv(), &mut state).map_err(|_| SealError::Crypto)?;
    Ok(Unsealed { generation, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn key(b: u8) -> SealKey {
        SealKey::new([b; KEY_SIZE])
    }

    const NONCE: [u8; NONCE_SIZE] = [7; NONCE_SIZE];

    #[test]
    fn round_trip_keeps_state_and_generation() {
        for len in [0usize, 1, 15, 16, 17, 1000, 70_000] {
            let state: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let blob = seal(&key(1), 42, &NONCE, &state).unwrap();
            assert_eq!(blob.len(), state.len() + OVERHEAD);
            assert_eq!(&blob[..8], b"VTPMSEAL");
            if len >= 16 {
                assert_ne!(
                    &blob[HEADER_SIZE..HEADER_SIZE + 16],
                    &state[..16],
                    "not encrypted"
                );
            }
            let u = unseal(&key(1), &blob).unwrap();
            assert_eq!(u.generation, 42);
            assert_eq!(&u.state[..], &state[..]);
            assert_eq!(peek_generation(&blob), Ok(42));
        }
    }

    #[test]
    fn nonce_and_generation_change_the_ciphertext() {
        let state = vec![0u8; 64];
        let a = seal(&key(1), 1, &NONCE, &state).unwrap();
        let b = seal(&key(1), 1, &[8; NONCE_SIZE], &state).unwrap();
        let c = seal(&key(1), 2, &NONCE, &state).unwrap();
        assert_ne!(a[HEADER_SIZE..], b[HEADER_SIZE..]);
        assert_ne!(a[HEADER_SIZE..], c[HEADER_SIZE..]);
    }

    /// The construction, recomputed from its definition in the module documentation with the
    /// crypto primitives (themselves tested against NIST/RFC vectors in `engine::crypto`).
    #[test]
    fn layout_matches_the_documented_construction() {
        let state = b"the state of a TPM".to_vec();
        let blob = seal(&key(3), 0x0102_0304_0506_0708, &NONCE, &state).unwrap();
        let mut header = Vec::new();
        header.extend_from_slice(b"VTPMSEAL");
        header.extend_from_slice(&[0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        header.extend_from_slice(&NONCE);
        header.extend_from_slice(&18u32.to_be_bytes());
        assert_eq!(&blob[..HEADER_SIZE], &header[..]);
        let d = kdfa(
            HashAlg::Sha256,
            &[3; 32],
            b"VTPM SEALED STATE",
            &NONCE,
            &[1, 2, 3, 4, 5, 6, 7, 8],
            640,
        );
        let mut ct = state.clone();
        aes_encrypt(SymMode::Ctr, &d[..32], &d[32..48], &mut ct).unwrap();
        assert_eq!(&blob[HEADER_SIZE..HEADER_SIZE + 18], &ct[..]);
        let tag = hmac(HashAlg::Sha256, &d[48..80], &[&blob[..HEADER_SIZE + 18]]);
        assert_eq!(&blob[HEADER_SIZE + 18..], &tag[..]);
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let blob = seal(&key(1), 5, &NONCE, b"0123456789abcdefXYZ").unwrap();
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[i] ^= 1 << bit;
                let e = unseal(&key(1), &bad).unwrap_err();
                let expected_kind = match i {
                    0..=7 => matches!(e, SealError::BadMagic),
                    8..=9 => matches!(e, SealError::UnsupportedVersion(_)),
                    10..=11 => matches!(e, SealError::UnsupportedFlags(_)),
                    36..=39 => {
                        matches!(
                            e,
                            SealError::Truncated { .. } | SealError::TrailingData { .. }
                        )
                    }
                    _ => e == SealError::BadTag,
                };
                assert!(expected_kind, "byte {i} bit {bit}: {e:?}");
            }
        }
    }

    #[test]
    fn wrong_key_truncation_and_garbage_are_rejected() {
        let blob = seal(&key(1), 5, &NONCE, b"state").unwrap();
        assert_eq!(unseal(&key(2), &blob).unwrap_err(), SealError::BadTag);
        for cut in 0..blob.len() {
            let e = unseal(&key(1), &blob[..cut]).unwrap_err();
            assert!(matches!(e, SealError::Truncated { .. }), "cut {cut}: {e:?}");
        }
        let mut long = blob.clone();
        long.push(0);
        assert!(matches!(
            unseal(&key(1), &long),
            Err(SealError::TrailingData { .. })
        ));
        assert_eq!(
            unseal(
                &key(1),
                b"not a sealed blob at all, no no no no no no no no no no no no"
            )
            .unwrap_err(),
            SealError::BadMagic
        );
        // A length field of u32::MAX must not allocate or overflow.
        let mut huge = blob.clone();
        huge[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            unseal(&key(1), &huge),
            Err(SealError::Truncated { .. })
        ));
        // Tag swapped from another blob under the same key.
        let other = seal(&key(1), 5, &NONCE, b"STATE").unwrap();
        let mut spliced = blob.clone();
        let n = spliced.len();
        spliced[n - TAG_SIZE..].copy_from_slice(&other[n - TAG_SIZE..]);
        assert_eq!(unseal(&key(1), &spliced).unwrap_err(), SealError::BadTag);
    }

    #[test]
    fn key_never_printed() {
        let k = key(0xAB);
        assert_eq!(alloc::format!("{k:?}"), "SealKey(..)");
        assert!(SealKey::from_slice(&[0; 31]).is_none());
        assert!(SealKey::from_slice(&[0; 32]).is_some());
    }
}

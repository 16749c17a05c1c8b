//! The root key and the keys derived from it (docs/disk-format.md, "Keys"): every sub-key is
//! HMAC-SHA256(root key, label), RFC 2104 used as a PRF as in NIST SP 800-108's single-block
//! case.

use hmac::digest::KeyInit;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The label of the sector encryption key (AES-256-CTR).
pub(crate) const LABEL_SECTOR_ENC: &str = "vtpmmgr-store-v1 sector-encryption";
/// The label of the sector authentication key (HMAC-SHA256).
pub(crate) const LABEL_SECTOR_MAC: &str = "vtpmmgr-store-v1 sector-mac";
/// The label of the header authentication key (HMAC-SHA256).
pub(crate) const LABEL_HEADER_MAC: &str = "vtpmmgr-store-v1 header-mac";

/// The store's 32-byte root key: random at format time, kept sealed to the hardware TPM (in the
/// header's `binding`), zeroized when dropped and never printed.
#[derive(Clone)]
pub struct RootKey(Zeroizing<[u8; 32]>);

impl RootKey {
    /// The length of a root key in bytes.
    pub const LEN: usize = 32;

    /// A fresh random root key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> RootKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut key[..]);
        RootKey(key)
    }

    /// A root key from its 32 bytes (for instance just unsealed).
    pub fn new(key: Zeroizing<[u8; 32]>) -> RootKey {
        RootKey(key)
    }

    /// A root key from its bytes; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<RootKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return None;
        }
        key.copy_from_slice(bytes);
        Some(RootKey(key))
    }

    /// The key's bytes (to seal them to the hardware TPM).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HMAC-SHA256(root key, `label`): a 32-byte secret for another purpose, e.g. the NV
    /// counter's auth value (`"nv-counter-auth"`). Labels starting with `vtpmmgr-store-v1 `
    /// are the store's own.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        hmac(&self.0, &[label.as_bytes()])
    }
}

impl core::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// The sub-keys the store uses.
pub(crate) struct Keys {
    /// The sector encryption key, expanded (the `aes` crate zeroizes it on drop).
    pub(crate) sector_aes: aes::Aes256,
    #[cfg(test)]
    pub(crate) sector_enc: Zeroizing<[u8; 32]>,
    pub(crate) sector_mac: Zeroizing<[u8; 32]>,
    pub(crate) header_mac: Zeroizing<[u8; 32]>,
}

impl Keys {
    pub(crate) fn derive(root: &RootKey) -> Keys {
        let enc = root.derive(LABEL_SECTOR_ENC);
        Keys {
            sector_aes: <aes::Aes256 as KeyInit>::new(GenericArray::from_slice(&enc[..])),
            #[cfg(test)]
            sector_enc: enc,
            sector_mac: root.derive(LABEL_SECTOR_MAC),
            header_mac: root.derive(LABEL_HEADER_MAC),
        }
    }
}

/// An HMAC-SHA256 state keyed with a 32-byte key. The key is zero-padded to the 64-byte block
/// as RFC 2104 §2 does for short keys, so this is plain HMAC-SHA256.
pub(crate) fn hmac_state(key: &[u8; 32]) -> HmacSha256 {
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    <HmacSha256 as KeyInit>::new(GenericArray::from_slice(&block[..]))
}

/// HMAC-SHA256(key, concatenation of `parts`).
pub(crate) fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut m = hmac_state(key);
    for p in parts {
        m.update(p);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&m.finalize().into_bytes());
    out
}

/// Checks HMAC-SHA256(key, parts) against `tag` in constant time.
pub(crate) fn hmac_verify(key: &[u8; 32], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut m = hmac_state(key);
    for p in parts {
        m.update(p);
    }
    m.verify_slice(tag).is_ok()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(data));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_with_padded_key_is_rfc4231_case_2_shape() {
        // RFC 4231 test case 1 uses a 20-byte key; check our 32-byte path against the generic
        // `new_from_slice` path instead.
        let key = [0x0bu8; 32];
        let ours = hmac(&key, &[b"Hi ", b"There"]);
        let mut theirs = <HmacSha256 as KeyInit>::new_from_slice(&key).unwrap();
        theirs.update(b"Hi There");
        assert_eq!(&ours[..], &theirs.finalize().into_bytes()[..]);
    }

    #[test]
    fn derived_keys_differ_by_label() {
        let root = RootKey::from_slice(&[7u8; 32]).unwrap();
        let k = Keys::derive(&root);
        assert_ne!(*k.sector_enc, *k.sector_mac);
        assert_ne!(*k.sector_mac, *k.header_mac);
        assert_ne!(*root.derive("nv-counter-auth"), *k.header_mac);
        assert_eq!(alloc::format!("{root:?}"), "RootKey(<redacted>)");
    }
}

//! The authenticated-encrypted sector envelope (docs/disk-format.md, "Sector envelope"):
//! encrypt-then-MAC with AES-256-CTR (NIST SP 800-38A §6.5, the whole 128-bit counter block
//! incremented big-endian) and HMAC-SHA256 (RFC 2104) over the sector number and every byte
//! before the tag, kind tag and nonce included.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use cipher::BlockEncrypt;
use zeroize::{Zeroize, Zeroizing};

use super::error::{SectorKind, StoreError};
use super::keys::{Keys, hmac, hmac_verify};
use crate::seams::{SECTOR_SIZE, Sector};

/// Offset of the nonce.
pub(crate) const NONCE_OFFSET: usize = 4;
/// Length of the nonce (the initial AES-CTR counter block).
pub(crate) const NONCE_LEN: usize = 16;
/// Offset of the ciphertext.
pub(crate) const CIPHERTEXT_OFFSET: usize = NONCE_OFFSET + NONCE_LEN;
/// Offset of the HMAC-SHA256 tag.
pub(crate) const TAG_OFFSET: usize = SECTOR_SIZE - 32;
/// The plaintext payload every encrypted sector carries.
pub(crate) const PAYLOAD_LEN: usize = TAG_OFFSET - CIPHERTEXT_OFFSET;

/// Blocks encrypted per batch.
const BATCH: usize = 16;

/// XORs `data` with the AES-256-CTR keystream from counter block `nonce` (the whole block
/// incremented as a big-endian 128-bit integer: NIST SP 800-38A, B.1 with m = 128).
fn keystream(keys: &Keys, nonce: &[u8; NONCE_LEN], data: &mut [u8]) {
    let aes = &keys.sector_aes;
    let mut counter = u128::from_be_bytes(*nonce);
    let mut ks = [aes::Block::default(); BATCH];
    for batch in data.chunks_mut(BATCH * 16) {
        for b in &mut ks {
            b.copy_from_slice(&counter.to_be_bytes());
            counter = counter.wrapping_add(1);
        }
        aes.encrypt_blocks(&mut ks);
        for (chunk, k) in batch.chunks_mut(16).zip(ks.iter()) {
            match (
                <&mut [u8; 16]>::try_from(&mut *chunk),
                <&[u8; 16]>::try_from(k.as_slice()),
            ) {
                (Ok(c), Ok(k)) => {
                    *c = (u128::from_ne_bytes(*c) ^ u128::from_ne_bytes(*k)).to_ne_bytes();
                }
                _ => {
                    for (x, y) in chunk.iter_mut().zip(k.iter()) {
                        *x ^= y;
                    }
                }
            }
        }
    }
    for b in &mut ks {
        b.as_mut_slice().zeroize();
    }
}

/// Builds sector `index` of `kind` around `payload` (at most [`PAYLOAD_LEN`] bytes, zero-padded).
pub(crate) fn seal(
    keys: &Keys,
    index: u32,
    kind: SectorKind,
    payload: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<Box<Sector>, StoreError> {
    if payload.len() > PAYLOAD_LEN {
        return Err(StoreError::Limit {
            what: "sector payload bytes",
            max: PAYLOAD_LEN,
            got: payload.len(),
        });
    }
    let mut out: Box<Sector> = Box::new([0u8; SECTOR_SIZE]);
    out[0] = kind.tag();
    out[NONCE_OFFSET..CIPHERTEXT_OFFSET].copy_from_slice(nonce);
    let body = &mut out[CIPHERTEXT_OFFSET..TAG_OFFSET];
    body[..payload.len()].copy_from_slice(payload);
    keystream(keys, nonce, body);
    let tag = hmac(
        &keys.sector_mac,
        &[&index.to_be_bytes(), &out[..TAG_OFFSET]],
    );
    out[TAG_OFFSET..].copy_from_slice(&tag[..]);
    Ok(out)
}

/// Authenticates sector `index`, checks that it is of `kind` and returns its decrypted
/// payload ([`PAYLOAD_LEN`] bytes).
pub(crate) fn open(
    keys: &Keys,
    index: u32,
    kind: SectorKind,
    sector: &Sector,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    if !hmac_verify(
        &keys.sector_mac,
        &[&index.to_be_bytes(), &sector[..TAG_OFFSET]],
        &sector[TAG_OFFSET..],
    ) {
        return Err(StoreError::SectorMac {
            sector: index,
            kind,
        });
    }
    let malformed = |what| StoreError::SectorMalformed {
        sector: index,
        kind,
        what,
    };
    if sector[0] != kind.tag() {
        return Err(malformed(match SectorKind::from_tag(sector[0]) {
            Some(SectorKind::Root) => "holds a root where another kind belongs",
            Some(SectorKind::Group) => "holds group records where another kind belongs",
            Some(SectorKind::Index) => "holds an index where another kind belongs",
            Some(SectorKind::Leaf) => "holds a leaf where another kind belongs",
            None => "unknown kind tag",
        }));
    }
    if sector[1..NONCE_OFFSET].iter().any(|b| *b != 0) {
        return Err(malformed("reserved envelope bytes are not zero"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sector[NONCE_OFFSET..CIPHERTEXT_OFFSET]);
    let mut payload = Zeroizing::new(vec![0u8; PAYLOAD_LEN]);
    payload.copy_from_slice(&sector[CIPHERTEXT_OFFSET..TAG_OFFSET]);
    keystream(keys, &nonce, &mut payload);
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RootKey;
    use aes::Aes256;
    use cipher::{KeyInit, KeyIvInit};
    use hmac::digest::generic_array::GenericArray;

    fn keys() -> Keys {
        Keys::derive(&RootKey::from_slice(&[1u8; 32]).unwrap())
    }

    #[test]
    fn round_trip_and_binding_to_sector_and_kind() {
        let k = keys();
        let s = seal(&k, 9, SectorKind::Leaf, b"hello", &[3u8; 16]).unwrap();
        let p = open(&k, 9, SectorKind::Leaf, &s).unwrap();
        assert_eq!(&p[..5], b"hello");
        assert!(p[5..].iter().all(|b| *b == 0));
        assert_eq!(
            open(&k, 10, SectorKind::Leaf, &s),
            Err(StoreError::SectorMac {
                sector: 10,
                kind: SectorKind::Leaf
            })
        );
        assert!(matches!(
            open(&k, 9, SectorKind::Index, &s),
            Err(StoreError::SectorMalformed { sector: 9, .. })
        ));
        // The plaintext does not appear in the sector.
        assert!(!s.windows(5).any(|w| w == b"hello"));
    }

    #[test]
    fn ctr_is_standard_big_endian_ctr() {
        // NIST SP 800-38A F.5.5 (CTR-AES256.Encrypt), first two blocks.
        let key: [u8; 32] = [
            0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d,
            0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3,
            0x09, 0x14, 0xdf, 0xf4,
        ];
        let iv: [u8; 16] = [
            0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
            0xfe, 0xff,
        ];
        let mut k = keys();
        k.sector_enc = Zeroizing::new(key);
        k.sector_aes = Aes256::new(GenericArray::from_slice(&key));
        let mut data: [u8; 32] = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a, 0xae, 0x2d, 0x8a, 0x57, 0x1e, 0x03, 0xac, 0x9c, 0x9e, 0xb7, 0x6f, 0xac,
            0x45, 0xaf, 0x8e, 0x51,
        ];
        keystream(&k, &iv, &mut data);
        // The same as RustCrypto's `ctr::Ctr128BE` over a whole payload, across the 2^128 wrap.
        for start in [[0xffu8; 16], iv, [0u8; 16]] {
            let mut ours = vec![0x5au8; PAYLOAD_LEN];
            let mut theirs = ours.clone();
            keystream(&k, &start, &mut ours);
            let mut c = ctr::Ctr128BE::<Aes256>::new(
                GenericArray::from_slice(&k.sector_enc[..]),
                GenericArray::from_slice(&start),
            );
            cipher::StreamCipher::apply_keystream(&mut c, &mut theirs);
            assert_eq!(ours, theirs);
        }
        let want: [u8; 32] = [
            0x60, 0x1e, 0xc3, 0x13, 0x77, 0x57, 0x89, 0xa5, 0xb7, 0xa7, 0xf5, 0x04, 0xbb, 0xf3,
            0xd2, 0x28, 0xf4, 0x43, 0xe3, 0xca, 0x4d, 0x62, 0xb5, 0x9a, 0xca, 0x84, 0xe9, 0x90,
            0xca, 0xca, 0xf5, 0xc5,
        ];
        assert_eq!(data, want);
    }
}

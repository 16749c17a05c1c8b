//! The engine's cryptographic primitives (TCG TPM 2.0 Library part 1 §11.4): thin wrappers over
//! the RustCrypto crates, shaped the way the TPM uses them.
//!
//! - [`hash`]: SHA-1/SHA-256/SHA-384/SHA-512 digests and HMAC (part 1 §11.4.3, §11.4.4).
//! - [`kdf`]: KDFa and KDFe (part 1 §11.4.10.2, §11.4.10.3) and a KDFa byte stream.
//! - [`sym`]: AES in the TPM's block modes (part 1 §11.4.6) and XOR obfuscation (§21.2).
//! - [`rsa`]: RSA keys, RSASSA/RSAPSS signatures, RSAES/OAEP/raw encryption (part 1 §11.4.7).
//! - [`ecc`]: NIST P-256 keys, ECDSA and ECDH (part 1 §11.4.8, §C).
//! - [`drbg`]: the TPM's random number generator, CTR_DRBG with AES-256 (part 1 §11.4.11).
//!
//! Every function reports failures as one [`CryptoError`]; command handlers translate it to the
//! TPM_RC that fits their command. Secrets (keys, DRBG state, derived streams) are zeroized when
//! dropped and never printed by `Debug`.

use alloc::vec::Vec;

pub mod drbg;
pub mod ecc;
pub mod hash;
pub mod kdf;
pub mod rsa;
pub mod sym;

pub use drbg::CtrDrbg;
pub use ecc::{Curve, EccPoint, EccPrivate};
pub use hash::{HashAlg, Hasher, Hmac};
pub use kdf::KdfaStream;
pub use rsa::{RsaPrivate, RsaPublic};
pub use sym::SymMode;

/// Why a cryptographic operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// The algorithm, mode, curve or scheme is not implemented.
    UnsupportedAlgorithm,
    /// A key has a size the algorithm does not accept.
    KeySize,
    /// An input (IV, data, digest, signature part) has the wrong length.
    BadLength,
    /// Key material is inconsistent or out of range (for example a prime that does not divide
    /// the modulus, a scalar of zero, an unusable public exponent).
    InvalidKey,
    /// A signature does not verify.
    InvalidSignature,
    /// A ciphertext does not decrypt (bad padding, value not below the modulus, wrong label).
    DecryptFailed,
    /// A point is not on the curve (or is the point at infinity).
    PointNotOnCurve,
    /// The message does not fit in what the key can encrypt or sign.
    NoRoom,
}

impl core::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            CryptoError::UnsupportedAlgorithm => "unsupported algorithm",
            CryptoError::KeySize => "unsupported key size",
            CryptoError::BadLength => "input has the wrong length",
            CryptoError::InvalidKey => "invalid key",
            CryptoError::InvalidSignature => "signature does not verify",
            CryptoError::DecryptFailed => "decryption failed",
            CryptoError::PointNotOnCurve => "point is not on the curve",
            CryptoError::NoRoom => "message too long for the key",
        };
        f.write_str(text)
    }
}

impl core::error::Error for CryptoError {}

/// Left-pads `bytes` with zeros to `len` bytes; `None` if it is longer than `len` once its
/// leading zeros are removed.
pub(crate) fn left_pad(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = &bytes[first..];
    if significant.len() > len {
        return None;
    }
    let mut out = alloc::vec![0u8; len];
    out[len - significant.len()..].copy_from_slice(significant);
    Some(out)
}

#[cfg(test)]
pub(crate) mod testutil {
    use alloc::vec::Vec;

    /// Decodes a hex string (whitespace ignored); panics on bad input (tests only).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(digits.len() % 2 == 0, "odd hex length");
        digits
            .chunks(2)
            .map(|pair| {
                let text = core::str::from_utf8(pair).unwrap();
                u8::from_str_radix(text, 16).unwrap()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_pad_pads_and_strips() {
        assert_eq!(left_pad(&[1, 2], 4), Some(alloc::vec![0, 0, 1, 2]));
        assert_eq!(left_pad(&[0, 0, 0, 1, 2], 4), Some(alloc::vec![0, 0, 1, 2]));
        assert_eq!(left_pad(&[1, 2, 3, 4, 5], 4), None);
        assert_eq!(left_pad(&[], 2), Some(alloc::vec![0, 0]));
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(
            alloc::format!("{}", CryptoError::NoRoom),
            "message too long for the key"
        );
    }
}

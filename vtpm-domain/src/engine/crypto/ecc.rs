//! Elliptic-curve keys, ECDSA and ECDH (TCG TPM 2.0 Library part 1 §11.4.8 and annex C; FIPS
//! 186-5 ECDSA; NIST SP 800-56A ECC CDH) over the `p256` crate. Only TPM_ECC_NIST_P256 is
//! implemented; the API takes a [`Curve`] so that more curves can be added.
//!
//! Coordinates and scalars are big-endian byte strings of exactly [`Curve::key_bytes`] bytes on
//! output; shorter inputs are left-padded with zeros, longer ones rejected.
//!
//! ECDSA signing is hedged: the nonce is RFC 6979's, with random bytes from the caller's source
//! mixed in. A digest longer than the curve order is truncated to its leftmost bits and a
//! shorter one is taken as an integer, as FIPS 186-5 §6.4.1 says, so SHA-1 through SHA-512
//! digests all work.

use alloc::vec::Vec;

use p256::ecdsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::bigint::{Encoding, NonZero, U256, U512};
use p256::elliptic_curve::ff::{Field, PrimeField};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, FieldBytes, ProjectivePoint, PublicKey, Scalar, SecretKey};
use rand_core::{CryptoRng, RngCore};
use tpm2::st::TpmEccCurve;
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, left_pad};

/// An implemented curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// TPM_ECC_NIST_P256 (secp256r1).
    NistP256,
}

impl Curve {
    /// The curve for a TPM_ECC_CURVE, `None` if it is not implemented.
    pub fn from_tpm(curve: TpmEccCurve) -> Option<Curve> {
        match curve {
            TpmEccCurve::NIST_P256 => Some(Curve::NistP256),
            _ => None,
        }
    }

    /// The TPM_ECC_CURVE of this curve.
    pub fn tpm(self) -> TpmEccCurve {
        match self {
            Curve::NistP256 => TpmEccCurve::NIST_P256,
        }
    }

    /// The size of a coordinate, a scalar and each half of a signature, in bytes.
    pub fn key_bytes(self) -> usize {
        match self {
            Curve::NistP256 => 32,
        }
    }

    /// `value` (a big-endian integer of at most 64 bytes) modulo the field prime p, as
    /// `key_bytes` bytes (TPM2_Commit's `x2 = H(s2) mod p`). For public values only: the
    /// arithmetic is not constant-time and its temporaries are not zeroized.
    pub fn reduce_mod_prime(self, value: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self {
            Curve::NistP256 => reduce(value, &P256_P),
        }
    }

    /// `value` (a big-endian integer of at most 64 bytes) modulo the group order n, as
    /// `key_bytes` bytes. For public values only (see [`Curve::reduce_mod_prime`]).
    pub fn reduce_mod_order(self, value: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self {
            Curve::NistP256 => reduce(value, &P256_N),
        }
    }
}

/// The P-256 field prime p (FIPS 186-4 §D.1.2.3).
const P256_P: U256 =
    U256::from_be_hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
/// The P-256 group order n (FIPS 186-4 §D.1.2.3).
const P256_N: U256 =
    U256::from_be_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

/// `value mod modulus` for a value of at most 64 bytes, as 32 bytes.
fn reduce(value: &[u8], modulus: &U256) -> Result<Vec<u8>, CryptoError> {
    let wide = left_pad(value, 64).ok_or(CryptoError::BadLength)?;
    let mut m = [0u8; 64];
    m[32..].copy_from_slice(&modulus.to_be_bytes());
    let m = Option::<NonZero<U512>>::from(NonZero::new(U512::from_be_slice(&m)))
        .ok_or(CryptoError::UnsupportedAlgorithm)?;
    let rem = U512::from_be_slice(&wide).rem(&m).to_be_bytes();
    Ok(rem[32..].to_vec())
}

/// A scalar in `[0, n - 1]` from big-endian bytes (left-padded); `None` if not below n.
fn scalar(bytes: &[u8]) -> Option<Scalar> {
    let mut repr = field_bytes(bytes)?;
    let s = Option::from(Scalar::from_repr(repr));
    repr.as_mut_slice().zeroize();
    s
}

/// `[k]P` for a point `P` of `curve`, or `[k]G` (the base point) when `point` is `None`: the
/// products of TPM2_Commit, TPM2_EC_Ephemeral and TPM2_ZGen_2Phase (part 1 §C). `k` must be in
/// `[1, n - 1]` ([`CryptoError::InvalidKey`] otherwise); an invalid `P` is
/// [`CryptoError::PointNotOnCurve`], as is a product at infinity (impossible on a prime-order
/// curve with such a `k`).
pub fn ecc_multiply(
    curve: Curve,
    point: Option<&EccPoint>,
    k: &[u8],
) -> Result<EccPoint, CryptoError> {
    match curve {
        Curve::NistP256 => {
            let k = scalar(k)
                .filter(|s| !bool::from(s.is_zero()))
                .ok_or(CryptoError::InvalidKey)?;
            let base = match point {
                Some(p) => p.to_public(curve)?.to_projective(),
                None => ProjectivePoint::GENERATOR,
            };
            let product = PublicKey::from_affine((base * k).to_affine())
                .map_err(|_| CryptoError::PointNotOnCurve)?;
            EccPoint::from_public(&product)
        }
    }
}

/// The Schnorr combination `s = (k + (t mod n) * d) mod n` of EC-Schnorr and ECDAA signatures
/// (part 4 `TpmEcc_SchnorrCalculateS`): `k` and `d` are scalars below n, `t` a hash of at most
/// 64 bytes. `Ok(None)` when `t mod n` or `s` is zero (the caller draws another nonce).
pub fn schnorr_combine(
    curve: Curve,
    k: &[u8],
    t: &[u8],
    d: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, CryptoError> {
    match curve {
        Curve::NistP256 => {
            let t = scalar(&curve.reduce_mod_order(t)?).ok_or(CryptoError::BadLength)?;
            let k = scalar(k).ok_or(CryptoError::InvalidKey)?;
            let d = scalar(d).ok_or(CryptoError::InvalidKey)?;
            if bool::from(t.is_zero()) {
                return Ok(None);
            }
            let s = k + t * d;
            if bool::from(s.is_zero()) {
                return Ok(None);
            }
            Ok(Some(Zeroizing::new(s.to_repr().to_vec())))
        }
    }
}

/// `bytes` as a P-256 field element encoding (left-padded); `None` if too long.
fn field_bytes(bytes: &[u8]) -> Option<FieldBytes> {
    let padded = Zeroizing::new(left_pad(bytes, 32)?);
    Some(FieldBytes::clone_from_slice(&padded))
}

/// The leftmost 256 bits of `digest` as an integer encoding (FIPS 186-5 §6.4.1 step 3).
fn digest_field(digest: &[u8]) -> Result<FieldBytes, CryptoError> {
    if digest.is_empty() {
        return Err(CryptoError::BadLength);
    }
    let mut z = FieldBytes::default();
    if digest.len() >= 32 {
        z.copy_from_slice(&digest[..32]);
    } else {
        z[32 - digest.len()..].copy_from_slice(digest);
    }
    Ok(z)
}

/// A point given by its affine coordinates (big-endian).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EccPoint {
    /// The x-coordinate.
    pub x: Vec<u8>,
    /// The y-coordinate.
    pub y: Vec<u8>,
}

impl EccPoint {
    /// The public key this point is, if it is a valid point of `curve` (on the curve, not the
    /// point at infinity, coordinates below the field prime).
    fn to_public(&self, curve: Curve) -> Result<PublicKey, CryptoError> {
        match curve {
            Curve::NistP256 => {
                let x = field_bytes(&self.x).ok_or(CryptoError::PointNotOnCurve)?;
                let y = field_bytes(&self.y).ok_or(CryptoError::PointNotOnCurve)?;
                let encoded = EncodedPoint::from_affine_coordinates(&x, &y, false);
                Option::from(PublicKey::from_encoded_point(&encoded))
                    .ok_or(CryptoError::PointNotOnCurve)
            }
        }
    }

    fn from_public(public: &PublicKey) -> Result<EccPoint, CryptoError> {
        let encoded = public.to_encoded_point(false);
        match (encoded.x(), encoded.y()) {
            (Some(x), Some(y)) => Ok(EccPoint {
                x: x.to_vec(),
                y: y.to_vec(),
            }),
            _ => Err(CryptoError::PointNotOnCurve),
        }
    }

    /// Checks that the point is on `curve` (part 1 §C.6; TPM_RC_ECC_POINT when it is not).
    pub fn validate(&self, curve: Curve) -> Result<(), CryptoError> {
        self.to_public(curve).map(|_| ())
    }

    /// The same point with both coordinates left-padded to the curve size; fails if it is not
    /// a valid point.
    pub fn normalized(&self, curve: Curve) -> Result<EccPoint, CryptoError> {
        EccPoint::from_public(&self.to_public(curve)?)
    }
}

/// An ECC private key (the scalar is zeroized on drop; `Debug` shows only the curve).
#[derive(Clone)]
pub struct EccPrivate {
    curve: Curve,
    secret: SecretKey,
}

impl core::fmt::Debug for EccPrivate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EccPrivate")
            .field("curve", &self.curve)
            .finish_non_exhaustive()
    }
}

/// How many candidates [`EccPrivate::derive`] draws before giving up (each fails with
/// probability below 2^-32 on P-256, so only a broken source exhausts this).
const DERIVE_ATTEMPTS: usize = 64;

impl EccPrivate {
    /// A new random key from `rng`.
    pub fn generate(
        curve: Curve,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<EccPrivate, CryptoError> {
        EccPrivate::derive(curve, rng)
    }

    /// A key drawn from a (possibly deterministic) stream: `key_bytes` bytes at a time, taken
    /// as a big-endian integer, until one is in `[1, n - 1]` (FIPS 186-5 A.2.2, rejection
    /// sampling). With a [`KdfaStream`](super::KdfaStream) this derives primary keys.
    pub fn derive(curve: Curve, rng: &mut impl RngCore) -> Result<EccPrivate, CryptoError> {
        let mut candidate = Zeroizing::new(alloc::vec![0u8; curve.key_bytes()]);
        for _ in 0..DERIVE_ATTEMPTS {
            rng.fill_bytes(&mut candidate);
            if let Ok(key) = EccPrivate::from_scalar(curve, &candidate) {
                return Ok(key);
            }
        }
        Err(CryptoError::InvalidKey)
    }

    /// A key from its scalar (big-endian, at most `key_bytes` significant bytes); rejects 0 and
    /// values not below the group order.
    pub fn from_scalar(curve: Curve, bytes: &[u8]) -> Result<EccPrivate, CryptoError> {
        match curve {
            Curve::NistP256 => {
                let mut d = field_bytes(bytes).ok_or(CryptoError::InvalidKey)?;
                let secret = SecretKey::from_bytes(&d).map_err(|_| CryptoError::InvalidKey);
                d.as_mut_slice().zeroize();
                Ok(EccPrivate {
                    curve,
                    secret: secret?,
                })
            }
        }
    }

    /// The curve of this key.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The scalar, big-endian, `key_bytes` bytes.
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.to_bytes().to_vec())
    }

    /// The public point `d * G`.
    pub fn public(&self) -> EccPoint {
        let encoded = self.secret.public_key().to_encoded_point(false);
        // A public key from a non-zero scalar is never the identity, so both coordinates exist.
        EccPoint {
            x: encoded.x().map(|x| x.to_vec()).unwrap_or_default(),
            y: encoded.y().map(|y| y.to_vec()).unwrap_or_default(),
        }
    }

    /// An ECDSA signature `(r, s)`, each `key_bytes` bytes, over `digest` (any length; see the
    /// module documentation).
    pub fn sign_ecdsa(
        &self,
        digest: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let z = digest_field(digest)?;
        let signer = SigningKey::from(&self.secret);
        let sig: Signature = signer
            .sign_prehash_with_rng(rng, &z)
            .map_err(|_| CryptoError::InvalidKey)?;
        let (r, s) = sig.split_bytes();
        Ok((r.to_vec(), s.to_vec()))
    }

    /// ECDH (part 1 §C.6.1, TPM2_ECDH_ZGen): the full point `d * peer`, after checking that the
    /// peer's point is on the curve.
    pub fn ecdh(&self, peer: &EccPoint) -> Result<EccPoint, CryptoError> {
        let peer = peer.to_public(self.curve)?;
        let product = peer.to_projective() * *self.secret.to_nonzero_scalar();
        let shared = PublicKey::from_affine(product.to_affine())
            .map_err(|_| CryptoError::PointNotOnCurve)?;
        EccPoint::from_public(&shared)
    }
}

/// Verifies an ECDSA signature `(r, s)` over `digest` with the public point `public` of
/// `curve`. Any failure (bad point, `r` or `s` zero or not below the order, mismatch) is
/// [`CryptoError::InvalidSignature`] except an invalid point, which is
/// [`CryptoError::PointNotOnCurve`].
pub fn verify_ecdsa(
    curve: Curve,
    public: &EccPoint,
    digest: &[u8],
    r: &[u8],
    s: &[u8],
) -> Result<(), CryptoError> {
    let key = public.to_public(curve)?;
    let z = digest_field(digest).map_err(|_| CryptoError::InvalidSignature)?;
    let r = field_bytes(r).ok_or(CryptoError::InvalidSignature)?;
    let s = field_bytes(s).ok_or(CryptoError::InvalidSignature)?;
    let sig = Signature::from_scalars(r, s).map_err(|_| CryptoError::InvalidSignature)?;
    VerifyingKey::from(&key)
        .verify_prehash(&z, &sig)
        .map_err(|_| CryptoError::InvalidSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::hash::{HashAlg, digest};
    use crate::engine::crypto::kdf::KdfaStream;
    use crate::engine::crypto::testutil::hex;

    fn rng() -> KdfaStream {
        KdfaStream::new(HashAlg::Sha256, b"ecc test", b"RNG", b"", b"")
    }

    /// NIST CAVS 14.1 ECC CDH primitive test vectors (KAS_ECC_CDH_PrimitiveTest.txt),
    /// [P-256] COUNT = 0.
    #[test]
    fn cdh_known_answer() {
        let d = EccPrivate::from_scalar(
            Curve::NistP256,
            &hex("7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534"),
        )
        .unwrap();
        let public = d.public();
        assert_eq!(
            public.x,
            hex("ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230")
        );
        assert_eq!(
            public.y,
            hex("28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141")
        );
        let peer = EccPoint {
            x: hex("700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287"),
            y: hex("db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac"),
        };
        let z = d.ecdh(&peer).unwrap();
        assert_eq!(
            z.x,
            hex("46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b")
        );
        assert_eq!(z.y.len(), 32);
        // The same point from the other side (the peer's private key is not in the vector, so
        // check the symmetric property with two fresh keys instead).
        let a = EccPrivate::generate(Curve::NistP256, &mut rng()).unwrap();
        let b = EccPrivate::derive(
            Curve::NistP256,
            &mut KdfaStream::new(HashAlg::Sha256, b"b", b"", b"", b""),
        )
        .unwrap();
        assert_eq!(a.ecdh(&b.public()).unwrap(), b.ecdh(&a.public()).unwrap());
        // Off-curve peers are refused.
        let mut bad = peer.clone();
        bad.y[31] ^= 1;
        assert_eq!(d.ecdh(&bad), Err(CryptoError::PointNotOnCurve));
    }

    /// RFC 6979 A.2.5 (P-256): the key pair and the SHA-256 signature of "sample" verify.
    #[test]
    fn rfc6979_vector_verifies() {
        let key = EccPrivate::from_scalar(
            Curve::NistP256,
            &hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"),
        )
        .unwrap();
        let public = key.public();
        assert_eq!(
            public.x,
            hex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6")
        );
        assert_eq!(
            public.y,
            hex("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299")
        );
        let d = digest(HashAlg::Sha256, &[b"sample"]);
        let r = hex("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716");
        let s = hex("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8");
        verify_ecdsa(Curve::NistP256, &public, &d, &r, &s).unwrap();
        let mut bad = s.clone();
        bad[0] ^= 1;
        assert_eq!(
            verify_ecdsa(Curve::NistP256, &public, &d, &r, &bad),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn sign_verify_all_digest_sizes() {
        let key = EccPrivate::generate(Curve::NistP256, &mut rng()).unwrap();
        let public = key.public();
        let mut rng = rng();
        for hash in HashAlg::ALL {
            let d = digest(hash, &[b"message"]);
            let (r, s) = key.sign_ecdsa(&d, &mut rng).unwrap();
            assert_eq!((r.len(), s.len()), (32, 32));
            verify_ecdsa(Curve::NistP256, &public, &d, &r, &s).unwrap();
            let other = digest(hash, &[b"other"]);
            assert!(verify_ecdsa(Curve::NistP256, &public, &other, &r, &s).is_err());
        }
        // A 64-byte digest is truncated to its first 32 bytes: only those matter.
        let long = digest(HashAlg::Sha512, &[b"long"]);
        let (r, s) = key.sign_ecdsa(&long, &mut rng).unwrap();
        verify_ecdsa(Curve::NistP256, &public, &long[..32], &r, &s).unwrap();
        let mut tail = long.clone();
        tail[63] ^= 0xff;
        verify_ecdsa(Curve::NistP256, &public, &tail, &r, &s).unwrap();
        // A 20-byte digest is the integer it encodes: the same as left-padded to 32.
        let short = digest(HashAlg::Sha1, &[b"short"]);
        let (r, s) = key.sign_ecdsa(&short, &mut rng).unwrap();
        let mut padded = alloc::vec![0u8; 12];
        padded.extend_from_slice(&short);
        verify_ecdsa(Curve::NistP256, &public, &padded, &r, &s).unwrap();
        assert_eq!(key.sign_ecdsa(&[], &mut rng), Err(CryptoError::BadLength));
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn verify_accepts_high_s_and_short_encodings() {
        let key = EccPrivate::generate(Curve::NistP256, &mut rng()).unwrap();
        let public = key.public();
        let d = digest(HashAlg::Sha256, &[b"high s"]);
        let (r, s) = key.sign_ecdsa(&d, &mut rng()).unwrap();
        // (r, n - s) is also a valid signature; TPMs and OpenSSL produce either.
        let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        let mut neg = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let v = i16::from(n[i]) - i16::from(s[i]) - borrow;
            borrow = i16::from(v < 0);
            neg[i] = u8::try_from(v + 256 * borrow).unwrap();
        }
        verify_ecdsa(Curve::NistP256, &public, &d, &r, &neg).unwrap();
        // Leading zeros may be stripped from every input.
        let strip = |v: &[u8]| -> Vec<u8> {
            let first = v.iter().position(|&b| b != 0).unwrap_or(v.len());
            v[first..].to_vec()
        };
        let short_point = EccPoint {
            x: strip(&public.x),
            y: strip(&public.y),
        };
        verify_ecdsa(Curve::NistP256, &short_point, &d, &strip(&r), &strip(&s)).unwrap();
        // r = 0, over-long values and bad points are rejected.
        assert!(verify_ecdsa(Curve::NistP256, &public, &d, &[0; 32], &s).is_err());
        assert!(verify_ecdsa(Curve::NistP256, &public, &d, &[1; 33], &s).is_err());
        assert!(verify_ecdsa(Curve::NistP256, &public, &d, &r, &n).is_err());
        let off = EccPoint {
            x: public.x.clone(),
            y: public.x.clone(),
        };
        assert_eq!(
            verify_ecdsa(Curve::NistP256, &off, &d, &r, &s),
            Err(CryptoError::PointNotOnCurve)
        );
    }

    #[test]
    fn scalars_and_points() {
        let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        assert_eq!(
            EccPrivate::from_scalar(Curve::NistP256, &[0; 32]).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            EccPrivate::from_scalar(Curve::NistP256, &n).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            EccPrivate::from_scalar(Curve::NistP256, &[1; 33]).unwrap_err(),
            CryptoError::InvalidKey
        );
        // d = 1: the public point is the generator; short input is left-padded.
        let one = EccPrivate::from_scalar(Curve::NistP256, &[1]).unwrap();
        assert_eq!(&one.scalar()[..], &[&[0u8; 31][..], &[1]].concat()[..]);
        let g = one.public();
        assert_eq!(
            g.x,
            hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
        );
        assert_eq!(
            g.y,
            hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
        );
        g.validate(Curve::NistP256).unwrap();
        let mut off = g.clone();
        off.x[0] ^= 1;
        assert_eq!(
            off.validate(Curve::NistP256),
            Err(CryptoError::PointNotOnCurve)
        );
        let zero = EccPoint {
            x: alloc::vec![],
            y: alloc::vec![],
        };
        assert_eq!(
            zero.validate(Curve::NistP256),
            Err(CryptoError::PointNotOnCurve)
        );
        let long = EccPoint {
            x: [&[0u8][..], &g.x].concat(),
            y: [&[1u8][..], &g.y].concat(),
        };
        assert_eq!(
            long.validate(Curve::NistP256),
            Err(CryptoError::PointNotOnCurve)
        );
        let zero_led = EccPoint {
            x: [&[0u8][..], &g.x].concat(),
            y: g.y.clone(),
        };
        assert_eq!(zero_led.normalized(Curve::NistP256).unwrap(), g);
        // derive is deterministic and draws 32 bytes per attempt.
        let a = EccPrivate::derive(Curve::NistP256, &mut rng()).unwrap();
        let mut stream = rng();
        let mut first = [0u8; 32];
        stream.fill_bytes(&mut first);
        assert_eq!(&a.scalar()[..], &first[..]);
        assert!(!alloc::format!("{a:?}").contains(&alloc::format!("{:?}", &first[..4])));
        assert_eq!(
            Curve::from_tpm(TpmEccCurve::NIST_P256),
            Some(Curve::NistP256)
        );
        assert_eq!(Curve::from_tpm(TpmEccCurve::NIST_P384), None);
        assert_eq!(Curve::NistP256.tpm(), TpmEccCurve::NIST_P256);
    }

    /// A source that gives n (invalid) first, then a valid value: derive retries.
    #[test]
    fn derive_rejects_out_of_range() {
        struct Fixed(Vec<u8>);
        impl RngCore for Fixed {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                let take: Vec<u8> = self.0.drain(..dest.len()).collect();
                dest.copy_from_slice(&take);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        let mut source = n.clone();
        source.extend_from_slice(&[0u8; 32]);
        source.extend_from_slice(&[7u8; 32]);
        let key = EccPrivate::derive(Curve::NistP256, &mut Fixed(source)).unwrap();
        assert_eq!(&key.scalar()[..], &[7u8; 32][..]);
        let mut zeros = Fixed(alloc::vec![0u8; 32 * DERIVE_ATTEMPTS]);
        assert_eq!(
            EccPrivate::derive(Curve::NistP256, &mut zeros).unwrap_err(),
            CryptoError::InvalidKey
        );
    }
}

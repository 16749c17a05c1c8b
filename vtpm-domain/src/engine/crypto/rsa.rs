//! RSA (TCG TPM 2.0 Library part 1 §11.4.7 and annex B; RFC 8017 for the encodings) over the
//! `rsa` 0.9 crate.
//!
//! - Keys: [`RsaPrivate::generate`] (deterministic for a deterministic random source, which is
//!   how primary keys are derived), [`RsaPrivate::from_prime`] (TPM2B_PRIVATE_KEY_RSA keeps only
//!   one prime; the other and the private exponent are recomputed on load).
//! - Signatures: RSASSA-PKCS1-v1_5 and RSASSA-PSS. PSS signatures use the salt length of the
//!   reference implementation (`CryptRsaPssSaltSize`): the digest size, or less if the key is
//!   too small (`emLen - hLen - 2`), the largest FIPS 186-4 allows, which is what OpenSSL and
//!   tpm2-tools verify with `-sigopt rsa_pss_saltlen:-1`/auto or digest. PSS verification accepts
//!   any salt length, as the reference implementation's `PssDecode` does.
//! - Encryption: RSAES-OAEP (with an arbitrary byte string as label, used verbatim: TPM callers
//!   pass "SECRET\0", "DUPLICATE\0", ... including the terminating zero), RSAES-PKCS1-v1_5 and
//!   raw RSA (TPM_ALG_NULL scheme).
//!
//! Private-key operations are blinded (RFC 8017 §5.1.2 note). Operations that take no random
//! source derive the blinding factor from the prime and the input with KDFa, so repeated
//! requests are reproducible but the factor stays unknown to the caller.

use alloc::boxed::Box;
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::digest::{DynDigest, InvalidBufferSize};
use zeroize::{Zeroize, Zeroizing};

use super::CryptoError;
use super::hash::{HashAlg, Hasher, digest};
use super::kdf::KdfaStream;

/// The exponent a TPM means by `exponent == 0` (part 2 §12.2.3.5 TPMS_RSA_PARMS).
pub const DEFAULT_EXPONENT: u32 = 65537;

/// The smallest and largest modulus sizes accepted, in bits.
pub const MIN_BITS: usize = 1024;
/// The largest modulus size accepted, in bits (the `rsa` crate's limit).
pub const MAX_BITS: usize = 4096;

/// The DER DigestInfo prefix of RFC 8017 §9.2 note 1 for each hash.
fn digest_info_prefix(hash: HashAlg) -> &'static [u8] {
    match hash {
        HashAlg::Sha1 => &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
        HashAlg::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlg::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlg::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

fn pkcs1v15_sign_scheme(hash: HashAlg) -> Pkcs1v15Sign {
    Pkcs1v15Sign {
        hash_len: Some(hash.digest_size()),
        prefix: Box::from(digest_info_prefix(hash)),
    }
}

/// A boxed running hash for the `rsa` crate's dynamic-digest interfaces.
fn dyn_digest(hash: HashAlg) -> Box<dyn DynDigest + Send + Sync> {
    use sha2::Digest;
    match hash {
        HashAlg::Sha1 => Box::new(sha1::Sha1::new()),
        HashAlg::Sha256 => Box::new(sha2::Sha256::new()),
        HashAlg::Sha384 => Box::new(sha2::Sha384::new()),
        HashAlg::Sha512 => Box::new(sha2::Sha512::new()),
    }
}

/// The label-hash "digest" handed to the `rsa` crate's OAEP: the crate hashes its (UTF-8) label
/// with it; we give no label and answer with the hash of our byte-string label, so any bytes
/// can be a label.
#[derive(Clone)]
struct LabelHash {
    hash: Vec<u8>,
}

impl DynDigest for LabelHash {
    fn update(&mut self, _data: &[u8]) {}

    fn finalize_into(self, buf: &mut [u8]) -> Result<(), InvalidBufferSize> {
        let mut this = self;
        this.finalize_into_reset(buf)
    }

    fn finalize_into_reset(&mut self, out: &mut [u8]) -> Result<(), InvalidBufferSize> {
        if out.len() != self.hash.len() {
            return Err(InvalidBufferSize);
        }
        out.copy_from_slice(&self.hash);
        Ok(())
    }

    fn reset(&mut self) {}

    fn output_size(&self) -> usize {
        self.hash.len()
    }

    fn box_clone(&self) -> Box<dyn DynDigest> {
        Box::new(self.clone())
    }
}

fn oaep_scheme(hash: HashAlg, label: &[u8]) -> Oaep {
    Oaep {
        digest: Box::new(LabelHash {
            hash: digest(hash, &[label]),
        }),
        mgf_digest: dyn_digest(hash),
        label: None,
    }
}

/// Trial-division primality for a public exponent.
fn is_prime_u32(e: u32) -> bool {
    if e < 2 {
        return false;
    }
    if e % 2 == 0 {
        return e == 2;
    }
    let mut d: u32 = 3;
    while let Some(sq) = d.checked_mul(d) {
        if sq > e {
            break;
        }
        if e % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

fn effective_exponent(exponent: u32) -> u32 {
    if exponent == 0 {
        DEFAULT_EXPONENT
    } else {
        exponent
    }
}

/// `x` as exactly `len` big-endian bytes (`None` if it does not fit).
fn to_fixed(x: &BigUint, len: usize) -> Option<Zeroizing<Vec<u8>>> {
    let bytes = Zeroizing::new(x.to_bytes_be());
    super::left_pad(&bytes, len).map(Zeroizing::new)
}

fn map_encrypt_error(e: &rsa::Error) -> CryptoError {
    match e {
        rsa::Error::MessageTooLong | rsa::Error::LabelTooLong => CryptoError::NoRoom,
        _ => CryptoError::InvalidKey,
    }
}

/// An RSA public key: modulus and public exponent.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublic {
    key: RsaPublicKey,
    exponent: u32,
}

impl core::fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaPublic")
            .field("bits", &self.key.n().bits())
            .field("exponent", &self.exponent)
            .finish()
    }
}

impl RsaPublic {
    /// A public key from its big-endian modulus and exponent (0 means 65537). The modulus must
    /// be odd and between 1024 and 4096 bits.
    pub fn new(modulus: &[u8], exponent: u32) -> Result<RsaPublic, CryptoError> {
        let n = BigUint::from_bytes_be(modulus);
        let bits = n.bits();
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(CryptoError::KeySize);
        }
        if n.to_bytes_be().last().is_none_or(|b| b % 2 == 0) {
            return Err(CryptoError::InvalidKey);
        }
        let exponent = effective_exponent(exponent);
        if exponent < 3 {
            return Err(CryptoError::InvalidKey);
        }
        let key =
            RsaPublicKey::new(n, BigUint::from(exponent)).map_err(|_| CryptoError::InvalidKey)?;
        Ok(RsaPublic { key, exponent })
    }

    /// The modulus, big-endian, [`Self::size`] bytes.
    pub fn modulus(&self) -> Vec<u8> {
        self.key.n().to_bytes_be()
    }

    /// The public exponent (65537 when the key was made with exponent 0).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bits()
    }

    /// The modulus size in bytes (the size of every signature and ciphertext).
    pub fn size(&self) -> usize {
        self.key.size()
    }

    /// Verifies an RSASSA-PKCS1-v1_5 signature over `digest` (a `hash` digest).
    pub fn verify_pkcs1v15(
        &self,
        hash: HashAlg,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        if digest.len() != hash.digest_size() || sig.len() != self.size() {
            return Err(CryptoError::InvalidSignature);
        }
        self.key
            .verify(pkcs1v15_sign_scheme(hash), digest, sig)
            .map_err(|_| CryptoError::InvalidSignature)
    }

    /// Verifies an RSASSA-PSS signature (MGF1 with `hash`) over `digest`, whatever its salt
    /// length (RFC 8017 §9.1.2 with the salt length recovered from the encoding).
    pub fn verify_pss(&self, hash: HashAlg, digest: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let h_len = hash.digest_size();
        if digest.len() != h_len || sig.len() != self.size() {
            return Err(CryptoError::InvalidSignature);
        }
        let s = BigUint::from_bytes_be(sig);
        if &s >= self.key.n() {
            return Err(CryptoError::InvalidSignature);
        }
        let m = s.modpow(self.key.e(), self.key.n());
        let mod_bits = self.bits();
        let em_bits = mod_bits - 1;
        let em_len = em_bits.div_ceil(8);
        let k_bytes = to_fixed(&m, self.size()).ok_or(CryptoError::InvalidSignature)?;
        // When emLen < k the leading octet of the k-octet value must be zero.
        let (lead, em) = k_bytes.split_at(self.size() - em_len);
        if lead.iter().any(|&b| b != 0) || em_len < h_len + 2 {
            return Err(CryptoError::InvalidSignature);
        }
        if em.last() != Some(&0xbc) {
            return Err(CryptoError::InvalidSignature);
        }
        let (masked_db, rest) = em.split_at(em_len - h_len - 1);
        let h = &rest[..h_len];
        let top_mask = 0xffu8 >> (8 * em_len - em_bits);
        if masked_db.first().is_some_and(|b| b & !top_mask != 0) {
            return Err(CryptoError::InvalidSignature);
        }
        let mut db = masked_db.to_vec();
        mgf1_xor(hash, h, &mut db);
        if let Some(first) = db.first_mut() {
            *first &= top_mask;
        }
        let one = db
            .iter()
            .position(|&b| b != 0)
            .ok_or(CryptoError::InvalidSignature)?;
        if db[one] != 0x01 {
            return Err(CryptoError::InvalidSignature);
        }
        let salt = &db[one + 1..];
        let expected = super::hash::digest(hash, &[&[0u8; 8], digest, salt]);
        if expected.as_slice() == h {
            Ok(())
        } else {
            Err(CryptoError::InvalidSignature)
        }
    }

    /// RSAES-OAEP encryption (MGF1 and label hash with `hash`); `label` is used verbatim.
    pub fn encrypt_oaep(
        &self,
        hash: HashAlg,
        label: &[u8],
        msg: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, CryptoError> {
        self.key
            .encrypt(rng, oaep_scheme(hash, label), msg)
            .map_err(|e| map_encrypt_error(&e))
    }

    /// RSAES-PKCS1-v1_5 encryption.
    pub fn encrypt_pkcs1v15(
        &self,
        msg: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, CryptoError> {
        self.key
            .encrypt(rng, Pkcs1v15Encrypt, msg)
            .map_err(|e| map_encrypt_error(&e))
    }

    /// Raw RSA (TPM_ALG_NULL scheme): `m^e mod n` for `msg` left-padded with zeros to the
    /// modulus size. `msg` must be shorter than the modulus or numerically below it.
    pub fn encrypt_raw(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let padded = super::left_pad(msg, self.size()).ok_or(CryptoError::NoRoom)?;
        let m = BigUint::from_bytes_be(&padded);
        if &m >= self.key.n() {
            return Err(CryptoError::NoRoom);
        }
        let c = m.modpow(self.key.e(), self.key.n());
        to_fixed(&c, self.size())
            .map(|c| c.to_vec())
            .ok_or(CryptoError::NoRoom)
    }
}

/// MGF1 (RFC 8017 B.2.1) with `hash`, XORed into `out`.
fn mgf1_xor(hash: HashAlg, seed: &[u8], out: &mut [u8]) {
    let mut counter: u32 = 0;
    for chunk in out.chunks_mut(hash.digest_size()) {
        let mut h = Hasher::new(hash);
        h.update(seed);
        h.update(&counter.to_be_bytes());
        let mask = h.finish();
        for (o, m) in chunk.iter_mut().zip(&mask) {
            *o ^= m;
        }
        counter = counter.wrapping_add(1);
    }
}

/// An RSA private key (two primes). The `rsa` crate zeroizes its secret parts on drop; `Debug`
/// shows only the size.
#[derive(Clone)]
pub struct RsaPrivate {
    key: RsaPrivateKey,
    exponent: u32,
}

impl core::fmt::Debug for RsaPrivate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaPrivate")
            .field("bits", &self.key.n().bits())
            .field("exponent", &self.exponent)
            .finish_non_exhaustive()
    }
}

impl RsaPrivate {
    /// Generates a key of `bits` bits (a multiple of 16 from 1024 to 4096) with public exponent
    /// `exponent` (0 means 65537; otherwise it must be an odd prime).
    ///
    /// The result depends only on the bytes drawn from `rng`: with a deterministic source such as
    /// [`KdfaStream`] the same inputs always give the same key (primary keys rely on this).
    pub fn generate(
        bits: u16,
        exponent: u32,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<RsaPrivate, CryptoError> {
        let bits = usize::from(bits);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || bits % 16 != 0 {
            return Err(CryptoError::KeySize);
        }
        let exponent = effective_exponent(exponent);
        if exponent < 3 || !is_prime_u32(exponent) {
            return Err(CryptoError::InvalidKey);
        }
        let key = RsaPrivateKey::new_with_exp(rng, bits, &BigUint::from(exponent))
            .map_err(|_| CryptoError::InvalidKey)?;
        Ok(RsaPrivate { key, exponent })
    }

    /// Rebuilds a key from its modulus, exponent (0 means 65537) and one of its primes: the
    /// other prime is `n / p` (rejected unless `p * q == n` exactly), the private exponent and
    /// CRT values are recomputed.
    pub fn from_prime(
        modulus: &[u8],
        exponent: u32,
        prime: &[u8],
    ) -> Result<RsaPrivate, CryptoError> {
        let public = RsaPublic::new(modulus, exponent)?;
        let n = public.key.n();
        let p = BigUint::from_bytes_be(prime);
        if p <= BigUint::from(1u32) || &p >= n {
            return Err(CryptoError::InvalidKey);
        }
        let q = n / &p;
        if &(&p * &q) != n {
            return Err(CryptoError::InvalidKey);
        }
        // from_p_q recomputes n = p*q, d from λ(n), checks d*e ≡ 1 mod (p-1) and (q-1), and
        // precomputes dP, dQ and qInv.
        let key = RsaPrivateKey::from_p_q(p, q, BigUint::from(public.exponent))
            .map_err(|_| CryptoError::InvalidKey)?;
        Ok(RsaPrivate {
            key,
            exponent: public.exponent,
        })
    }

    /// The first prime, big-endian, left-padded to half the modulus size (bits / 16 bytes):
    /// what TPM2B_PRIVATE_KEY_RSA stores.
    pub fn prime(&self) -> Zeroizing<Vec<u8>> {
        let half = self.key.n().bits().div_ceil(16);
        let p = &self.key.primes()[0];
        // A prime of a balanced key is never longer than half the modulus; fall back to its
        // natural length if an imported key is unbalanced.
        to_fixed(p, half).unwrap_or_else(|| Zeroizing::new(p.to_bytes_be()))
    }

    /// The public half.
    pub fn public(&self) -> RsaPublic {
        RsaPublic {
            key: self.key.to_public_key(),
            exponent: self.exponent,
        }
    }

    /// The modulus size in bytes.
    pub fn size(&self) -> usize {
        self.key.size()
    }

    /// A blinding source derived from the secret prime and the operation's input.
    fn blinding(&self, input: &[u8]) -> KdfaStream {
        let p = Zeroizing::new(self.key.primes()[0].to_bytes_be());
        KdfaStream::new(HashAlg::Sha256, &p, b"RSA BLINDING", input, &[])
    }

    /// RSASSA-PKCS1-v1_5 signature over `digest` (which must be a `hash` digest).
    pub fn sign_pkcs1v15(&self, hash: HashAlg, digest: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if digest.len() != hash.digest_size() {
            return Err(CryptoError::BadLength);
        }
        let mut rng = self.blinding(digest);
        self.key
            .sign_with_rng(&mut rng, pkcs1v15_sign_scheme(hash), digest)
            .map_err(|e| map_encrypt_error(&e))
    }

    /// The PSS salt length used for signing (see the module documentation).
    pub fn pss_salt_len(&self, hash: HashAlg) -> Option<usize> {
        let h_len = hash.digest_size();
        let em_len = (self.key.n().bits() - 1).div_ceil(8);
        let room = em_len.checked_sub(h_len + 2)?;
        Some(room.min(h_len))
    }

    /// RSASSA-PSS signature over `digest` (MGF1 with `hash`), salt length per
    /// [`Self::pss_salt_len`].
    pub fn sign_pss(
        &self,
        hash: HashAlg,
        digest: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, CryptoError> {
        if digest.len() != hash.digest_size() {
            return Err(CryptoError::BadLength);
        }
        let salt_len = self.pss_salt_len(hash).ok_or(CryptoError::NoRoom)?;
        let scheme = Pss {
            blinded: true,
            digest: dyn_digest(hash),
            salt_len,
        };
        self.key
            .sign_with_rng(rng, scheme, digest)
            .map_err(|e| map_encrypt_error(&e))
    }

    fn check_ciphertext_len(&self, ciphertext: &[u8]) -> Result<(), CryptoError> {
        if ciphertext.len() == self.size() {
            Ok(())
        } else {
            Err(CryptoError::BadLength)
        }
    }

    /// RSAES-OAEP decryption (MGF1 and label hash with `hash`); `label` is used verbatim.
    /// `ciphertext` must be exactly the modulus size.
    pub fn decrypt_oaep(
        &self,
        hash: HashAlg,
        label: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.check_ciphertext_len(ciphertext)?;
        let mut rng = self.blinding(ciphertext);
        self.key
            .decrypt_blinded(&mut rng, oaep_scheme(hash, label), ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::DecryptFailed)
    }

    /// RSAES-PKCS1-v1_5 decryption; `ciphertext` must be exactly the modulus size.
    pub fn decrypt_pkcs1v15(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.check_ciphertext_len(ciphertext)?;
        let mut rng = self.blinding(ciphertext);
        self.key
            .decrypt_blinded(&mut rng, Pkcs1v15Encrypt, ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::DecryptFailed)
    }

    /// Raw RSA decryption (TPM_ALG_NULL scheme): `c^d mod n`, as the modulus size in bytes.
    /// `ciphertext` must be the modulus size and numerically below the modulus.
    pub fn decrypt_raw(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.check_ciphertext_len(ciphertext)?;
        let n = self.key.n();
        let c = BigUint::from_bytes_be(ciphertext);
        if &c >= n {
            return Err(CryptoError::DecryptFailed);
        }
        let mut m = self.private_op_blinded(&c, ciphertext)?;
        let out = to_fixed(&m, self.size()).ok_or(CryptoError::DecryptFailed);
        m.zeroize();
        out
    }

    /// `c^d mod n` with base blinding: `(c * r^e)^d * r^-1`. The inverse of `r` is taken with
    /// Fermat's little theorem modulo each prime, recombined with the CRT.
    #[allow(clippy::many_single_char_names, reason = "RFC 8017 notation")]
    fn private_op_blinded(&self, c: &BigUint, input: &[u8]) -> Result<BigUint, CryptoError> {
        let n = self.key.n();
        let one = BigUint::from(1u32);
        let two = BigUint::from(2u32);
        let mut rng = self.blinding(input);
        let mut buf = Zeroizing::new(alloc::vec![0u8; self.size()]);
        let r = loop {
            rng.fill_bytes(&mut buf);
            let r = BigUint::from_bytes_be(&buf) % n;
            if r > one {
                break r;
            }
        };
        let blinded = (c * r.modpow(self.key.e(), n)) % n;
        let mb = self.crt(&blinded)?;
        let primes = self.key.primes();
        let (p, q) = (&primes[0], &primes[1]);
        let r_inv_p = (&r % p).modpow(&(p - &two), p);
        let r_inv_q = (&r % q).modpow(&(q - &two), q);
        let r_inv = self.recombine(&r_inv_p, &r_inv_q)?;
        let check = (&r * &r_inv) % n;
        if check != one {
            return Err(CryptoError::DecryptFailed);
        }
        let m = (mb * r_inv) % n;
        // Defend against faults in the CRT computation: m^e must give c back.
        if &m.modpow(self.key.e(), n) != c {
            return Err(CryptoError::DecryptFailed);
        }
        Ok(m)
    }

    /// `x^d mod n` by the CRT.
    fn crt(&self, x: &BigUint) -> Result<BigUint, CryptoError> {
        let primes = self.key.primes();
        let (p, q) = (&primes[0], &primes[1]);
        let dp = self.key.dp().ok_or(CryptoError::InvalidKey)?;
        let dq = self.key.dq().ok_or(CryptoError::InvalidKey)?;
        let mp = (x % p).modpow(dp, p);
        let mq = (x % q).modpow(dq, q);
        self.recombine(&mp, &mq)
    }

    /// The value that is `a mod p` and `b mod q` (Garner: `b + q * ((a - b) * qInv mod p)`).
    #[allow(clippy::many_single_char_names, reason = "RFC 8017 notation")]
    fn recombine(&self, a: &BigUint, b: &BigUint) -> Result<BigUint, CryptoError> {
        let primes = self.key.primes();
        let (p, q) = (&primes[0], &primes[1]);
        let q_inv = Zeroizing::new(self.key.crt_coefficient().ok_or(CryptoError::InvalidKey)?);
        // (a - b) mod p without going negative.
        let b_mod_p = b % p;
        let diff = ((a % p) + p - b_mod_p) % p;
        let h = (diff * &*q_inv) % p;
        Ok(b + q * h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(tag: &[u8]) -> KdfaStream {
        KdfaStream::new(HashAlg::Sha256, b"test seed", b"RSA TEST", tag, &[])
    }

    fn key1024() -> RsaPrivate {
        RsaPrivate::generate(1024, 0, &mut stream(b"1024")).unwrap()
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn deterministic_generation_and_rebuild() {
        let a = key1024();
        let b = RsaPrivate::generate(1024, 0, &mut stream(b"1024")).unwrap();
        assert_eq!(a.public().modulus(), b.public().modulus());
        assert_eq!(a.public().modulus().len(), 128);
        assert_eq!(a.public().exponent(), 65537);
        let other = RsaPrivate::generate(1024, 0, &mut stream(b"other")).unwrap();
        assert_ne!(a.public().modulus(), other.public().modulus());
        // Rebuild from n, e and p; the rebuilt key makes the same (deterministic) signature.
        let p = a.prime();
        assert_eq!(p.len(), 64);
        let rebuilt = RsaPrivate::from_prime(&a.public().modulus(), 0, &p).unwrap();
        let d = digest(HashAlg::Sha256, &[b"message"]);
        assert_eq!(
            rebuilt.sign_pkcs1v15(HashAlg::Sha256, &d).unwrap(),
            a.sign_pkcs1v15(HashAlg::Sha256, &d).unwrap()
        );
        // Either prime works.
        let q = a.key.primes()[1].to_bytes_be();
        let rebuilt_q = RsaPrivate::from_prime(&a.public().modulus(), 65537, &q).unwrap();
        assert_eq!(rebuilt_q.public(), a.public());
        let text = alloc::format!("{a:?}");
        assert!(text.contains("1024") && !text.contains("primes"));
    }

    #[test]
    fn from_prime_rejects_bad_input() {
        let a = key1024();
        let n = a.public().modulus();
        let p = a.prime();
        let mut bad = p.to_vec();
        bad[63] ^= 2;
        assert_eq!(
            RsaPrivate::from_prime(&n, 0, &bad).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            RsaPrivate::from_prime(&n, 0, &[1]).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            RsaPrivate::from_prime(&n, 0, &[]).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            RsaPrivate::from_prime(&n, 0, &n).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            RsaPrivate::from_prime(&n[..60], 0, &p).unwrap_err(),
            CryptoError::KeySize
        );
        // A wrong exponent does not match the primes... unless it happens to be coprime; 3
        // divides neither p-1 nor q-1 only by chance, so use an even exponent instead.
        assert!(RsaPrivate::from_prime(&n, 4, &p).is_err());
    }

    #[test]
    fn generate_rejects_bad_parameters() {
        let mut rng = stream(b"x");
        assert_eq!(
            RsaPrivate::generate(512, 0, &mut rng).unwrap_err(),
            CryptoError::KeySize
        );
        assert_eq!(
            RsaPrivate::generate(1032, 0, &mut rng).unwrap_err(),
            CryptoError::KeySize
        );
        assert_eq!(
            RsaPrivate::generate(8192, 0, &mut rng).unwrap_err(),
            CryptoError::KeySize
        );
        assert_eq!(
            RsaPrivate::generate(1024, 65536, &mut rng).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            RsaPrivate::generate(1024, 1, &mut rng).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            RsaPrivate::generate(1024, 9, &mut rng).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert!(is_prime_u32(65537) && is_prime_u32(3) && is_prime_u32(4294967291));
        assert!(!is_prime_u32(4294967295) && !is_prime_u32(65535));
    }

    #[test]
    fn pkcs1v15_sign_verify() {
        let key = key1024();
        let public = key.public();
        for hash in HashAlg::ALL {
            let d = digest(hash, &[b"hello"]);
            let sig = key.sign_pkcs1v15(hash, &d).unwrap();
            assert_eq!(sig.len(), 128);
            public.verify_pkcs1v15(hash, &d, &sig).unwrap();
            let mut bad = sig.clone();
            bad[5] ^= 1;
            assert_eq!(
                public.verify_pkcs1v15(hash, &d, &bad),
                Err(CryptoError::InvalidSignature)
            );
            assert!(public.verify_pkcs1v15(hash, &d[1..], &sig).is_err());
            assert!(public.verify_pkcs1v15(hash, &d, &sig[1..]).is_err());
        }
        assert_eq!(
            key.sign_pkcs1v15(HashAlg::Sha256, &[0; 20]),
            Err(CryptoError::BadLength)
        );
        // The signature is the raw RSA of the EMSA-PKCS1-v1_5 encoding.
        let d = digest(HashAlg::Sha1, &[b"abc"]);
        let sig = key.sign_pkcs1v15(HashAlg::Sha1, &d).unwrap();
        let em = public.encrypt_raw(&sig).unwrap();
        let prefix = digest_info_prefix(HashAlg::Sha1);
        let t_len = prefix.len() + 20;
        assert_eq!(&em[..2], &[0, 1]);
        assert!(em[2..128 - t_len - 1].iter().all(|&b| b == 0xff));
        assert_eq!(em[128 - t_len - 1], 0);
        assert_eq!(&em[128 - t_len..128 - 20], prefix);
        assert_eq!(&em[128 - 20..], &d[..]);
    }

    #[test]
    fn pss_sign_verify_and_salt_lengths() {
        let key = key1024();
        let public = key.public();
        let mut rng = stream(b"pss");
        assert_eq!(key.pss_salt_len(HashAlg::Sha256), Some(32));
        // 1024-bit key with SHA-512: emLen 128 - 64 - 2 = 62 < 64.
        assert_eq!(key.pss_salt_len(HashAlg::Sha512), Some(62));
        for hash in HashAlg::ALL {
            let d = digest(hash, &[b"pss message"]);
            let sig = key.sign_pss(hash, &d, &mut rng).unwrap();
            public.verify_pss(hash, &d, &sig).unwrap();
            let mut bad = sig.clone();
            bad[100] ^= 0x80;
            assert_eq!(
                public.verify_pss(hash, &d, &bad),
                Err(CryptoError::InvalidSignature)
            );
            assert!(
                public
                    .verify_pss(hash, &digest(hash, &[b"other"]), &sig)
                    .is_err()
            );
            // PKCS#1 v1.5 verification of a PSS signature fails and vice versa.
            assert!(public.verify_pkcs1v15(hash, &d, &sig).is_err());
            let v15 = key.sign_pkcs1v15(hash, &d).unwrap();
            assert!(public.verify_pss(hash, &d, &v15).is_err());
        }
        // Verification accepts other salt lengths (here 0 and 20 bytes, made with the crate).
        let d = digest(HashAlg::Sha256, &[b"salted"]);
        for salt_len in [0usize, 20, 60] {
            let scheme = Pss {
                blinded: false,
                digest: dyn_digest(HashAlg::Sha256),
                salt_len,
            };
            let sig = key.key.sign_with_rng(&mut rng, scheme, &d).unwrap();
            public.verify_pss(HashAlg::Sha256, &d, &sig).unwrap();
        }
    }

    #[test]
    fn oaep_round_trip_with_binary_labels() {
        let key = key1024();
        let public = key.public();
        let mut rng = stream(b"oaep");
        for hash in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
            for label in [
                &b""[..],
                b"SECRET\0",
                b"DUPLICATE\0",
                &[0xff, 0xfe, 0x00, 0x80],
            ] {
                // 1024-bit key and SHA-384 leave room for 128 - 2 * 48 - 2 = 30 bytes.
                let msg = b"a 30-byte seed for the session";
                let ct = public.encrypt_oaep(hash, label, msg, &mut rng).unwrap();
                assert_eq!(ct.len(), 128);
                assert_eq!(&key.decrypt_oaep(hash, label, &ct).unwrap()[..], msg);
                assert_eq!(
                    key.decrypt_oaep(hash, b"OTHER\0", &ct),
                    Err(CryptoError::DecryptFailed)
                );
            }
        }
        // The crate's own OAEP with a UTF-8 label agrees with the byte-string label.
        let ct = public
            .key
            .encrypt(
                &mut rng,
                Oaep::new_with_label::<sha2::Sha256, _>("SECRET\0"),
                b"xyz",
            )
            .unwrap();
        assert_eq!(
            &key.decrypt_oaep(HashAlg::Sha256, b"SECRET\0", &ct).unwrap()[..],
            b"xyz"
        );
        // 1024-bit key, SHA-256: at most 128 - 2*32 - 2 = 62 bytes.
        assert!(
            public
                .encrypt_oaep(HashAlg::Sha256, b"", &[0; 62], &mut rng)
                .is_ok()
        );
        assert_eq!(
            public.encrypt_oaep(HashAlg::Sha256, b"", &[0; 63], &mut rng),
            Err(CryptoError::NoRoom)
        );
        assert_eq!(
            key.decrypt_oaep(HashAlg::Sha256, b"", &[1; 127]),
            Err(CryptoError::BadLength)
        );
        assert_eq!(
            key.decrypt_oaep(HashAlg::Sha256, b"", &[0xff; 128]),
            Err(CryptoError::DecryptFailed)
        );
    }

    #[test]
    fn pkcs1v15_encryption_round_trip() {
        let key = key1024();
        let public = key.public();
        let mut rng = stream(b"es");
        let ct = public.encrypt_pkcs1v15(b"secret", &mut rng).unwrap();
        assert_eq!(&key.decrypt_pkcs1v15(&ct).unwrap()[..], b"secret");
        assert!(public.encrypt_pkcs1v15(&[1; 117], &mut rng).is_ok());
        assert_eq!(
            public.encrypt_pkcs1v15(&[1; 118], &mut rng),
            Err(CryptoError::NoRoom)
        );
        let mut bad = ct.clone();
        bad[0] ^= 0x01;
        assert!(key.decrypt_pkcs1v15(&bad).is_err());
    }

    #[test]
    fn raw_round_trip() {
        let key = key1024();
        let public = key.public();
        let msg = b"short raw message";
        let ct = public.encrypt_raw(msg).unwrap();
        assert_eq!(ct.len(), 128);
        let pt = key.decrypt_raw(&ct).unwrap();
        assert_eq!(&pt[..128 - msg.len()], &[0u8; 111][..]);
        assert_eq!(&pt[128 - msg.len()..], msg);
        // Raw decryption is the inverse of raw encryption for values below n, and matches the
        // textbook definition c^d: compare with the crate's PKCS#1 v1.5 signature (a private op).
        let d = digest(HashAlg::Sha256, &[b"m"]);
        let sig = key.sign_pkcs1v15(HashAlg::Sha256, &d).unwrap();
        let em = public.encrypt_raw(&sig).unwrap();
        assert_eq!(&key.decrypt_raw(&em).unwrap()[..], &sig[..]);
        // Values at or above n are rejected; so are over-long inputs.
        let n = public.modulus();
        assert_eq!(public.encrypt_raw(&n), Err(CryptoError::NoRoom));
        assert_eq!(public.encrypt_raw(&[1; 129]), Err(CryptoError::NoRoom));
        assert_eq!(key.decrypt_raw(&n).unwrap_err(), CryptoError::DecryptFailed);
        assert_eq!(
            key.decrypt_raw(&n[1..]).unwrap_err(),
            CryptoError::BadLength
        );
    }

    #[test]
    fn public_key_validation() {
        let key = key1024();
        let n = key.public().modulus();
        assert!(RsaPublic::new(&n, 0).is_ok());
        assert_eq!(RsaPublic::new(&n, 3).unwrap().exponent(), 3);
        assert_eq!(
            RsaPublic::new(&n[..64], 0).unwrap_err(),
            CryptoError::KeySize
        );
        assert_eq!(RsaPublic::new(&[], 0).unwrap_err(), CryptoError::KeySize);
        let mut even = n.clone();
        even[127] &= 0xfe;
        assert_eq!(
            RsaPublic::new(&even, 0).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(RsaPublic::new(&n, 1).unwrap_err(), CryptoError::InvalidKey);
        // Leading zeros in the modulus are ignored.
        let mut padded = alloc::vec![0u8; 2];
        padded.extend_from_slice(&n);
        assert_eq!(RsaPublic::new(&padded, 0).unwrap(), key.public());
    }
}

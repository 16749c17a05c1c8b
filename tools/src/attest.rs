//! Verifying a TPM2_Quote (TCG TPM 2.0 Library part 3 §18.4) away from the TPM: the signed
//! TPMS_ATTEST (part 2 §10.12.12) with its TPMS_QUOTE_INFO (§10.12.4), the PCR values it
//! commits to (part 1 §17.6: `pcrDigest = H(value_1 ‖ value_2 ‖ …)` in selection order) and the
//! signature by the attestation key's public area.
//!
//! Signatures supported: RSASSA-PKCS1-v1_5 with SHA-256, RSASSA-PSS with SHA-256 (salt as long
//! as the digest, as TPMs sign, or the largest salt the key allows, as some older TPMs do), and
//! ECDSA on NIST P-256 with SHA-256 (the manager's GET_QUOTE AK). Any other algorithm or hash
//! is [`AttestError::UnsupportedSignature`].
//!
//! What this does not check: who the key belongs to (the caller trusts `public` through a
//! credential activation or a certificate), the qualifiedSigner (it depends on the key's
//! parents), the clock (returned in [`QuoteInfo`] for the caller to judge freshness beyond the
//! nonce).

use std::fmt;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256};
use tpm2::alg::TpmAlgId;
use tpm2::st::{TpmEccCurve, TpmSt};
use tpm2::structures::{
    PublicDetail, TPM_GENERATED_VALUE, TpmaObject, TpmlPcrSelection, TpmsAttest, TpmsClockInfo,
    TpmtEccScheme, TpmtPublic, TpmtRsaScheme, TpmtSignature, TpmuAttest,
};
use tpm2::{Reader, Unmarshal};

/// One PCR value the verifier expects: bank (a hash algorithm), PCR index, value.
pub type PcrValue = (TpmAlgId, u32, Vec<u8>);

/// What a verified quote says besides the PCRs the caller supplied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteInfo {
    /// The PCRs the quote covers, in the TPM's selection order.
    pub pcr_select: TpmlPcrSelection,
    /// The quoted pcrDigest (SHA-256).
    pub pcr_digest: Vec<u8>,
    /// The TPM's clock, reset and restart counts, and whether the clock is safe. The counts are
    /// obfuscated for keys outside the endorsement and platform hierarchies (part 1 §36.7).
    pub clock_info: TpmsClockInfo,
    /// The (possibly obfuscated) firmware version.
    pub firmware_version: u64,
    /// The Qualified Name of the signing key as the TPM reported it (not checked).
    pub qualified_signer: Vec<u8>,
    /// The signature algorithm that was checked (TPM_ALG_RSASSA, TPM_ALG_RSAPSS or
    /// TPM_ALG_ECDSA).
    pub signature_alg: TpmAlgId,
}

/// Why a quote was refused. Each check has its own variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestError {
    /// The attestation does not start with TPM_GENERATED_VALUE: the TPM did not make it.
    BadMagic(u32),
    /// The attestation is of another type than TPM_ST_ATTEST_QUOTE.
    NotAQuote(u16),
    /// The attestation bytes do not hold exactly one TPMS_ATTEST.
    Malformed(String),
    /// extraData is not the nonce the verifier expected (a replay or another request).
    NonceMismatch,
    /// The quote covers a PCR for which no value was supplied.
    PcrMissing {
        /// The PCR's bank.
        bank: TpmAlgId,
        /// The PCR index.
        index: u32,
    },
    /// A value was supplied for a PCR the quote does not cover.
    PcrNotQuoted {
        /// The PCR's bank.
        bank: TpmAlgId,
        /// The PCR index.
        index: u32,
    },
    /// The same PCR was supplied twice.
    PcrDuplicate {
        /// The PCR's bank.
        bank: TpmAlgId,
        /// The PCR index.
        index: u32,
    },
    /// The supplied PCR values do not hash to the quoted pcrDigest.
    PcrDigestMismatch,
    /// A signature algorithm or hash this verifier does not implement.
    UnsupportedSignature {
        /// The signature algorithm.
        alg: TpmAlgId,
        /// Its hash (TPM_ALG_NULL if none).
        hash: TpmAlgId,
    },
    /// The public area is not a key this verifier can check signatures with (not RSA, not
    /// P-256, or a malformed modulus or point).
    UnsupportedKey(&'static str),
    /// The key is not a signing key (its `sign` attribute is clear).
    NotASigningKey,
    /// The signature's algorithm does not fit the key (an ECDSA signature for an RSA key), or
    /// the key has a scheme and the signature uses another one.
    SchemeMismatch,
    /// The signature does not verify: the attestation or the signature was changed, or another
    /// key made it.
    BadSignature,
}

impl fmt::Display for AttestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(m) => write!(
                f,
                "the attestation's magic is {m:#010x}, not TPM_GENERATED_VALUE: not made by a TPM"
            ),
            Self::NotAQuote(t) => write!(f, "the attestation is of type {t:#06x}, not a quote"),
            Self::Malformed(e) => write!(f, "the attestation is malformed: {e}"),
            Self::NonceMismatch => {
                write!(f, "the quote's nonce (extraData) is not the expected one")
            }
            Self::PcrMissing { bank, index } => {
                write!(f, "no value supplied for quoted PCR {index} of bank {bank}")
            }
            Self::PcrNotQuoted { bank, index } => {
                write!(
                    f,
                    "PCR {index} of bank {bank} was supplied but is not in the quote"
                )
            }
            Self::PcrDuplicate { bank, index } => {
                write!(f, "PCR {index} of bank {bank} was supplied twice")
            }
            Self::PcrDigestMismatch => {
                write!(
                    f,
                    "the supplied PCR values do not match the quoted pcrDigest"
                )
            }
            Self::UnsupportedSignature { alg, hash } => write!(
                f,
                "unsupported signature {alg} with {hash} (supported: RSASSA, RSAPSS and ECDSA \
                 P-256, each with SHA-256)"
            ),
            Self::UnsupportedKey(why) => write!(f, "unsupported attestation key: {why}"),
            Self::NotASigningKey => write!(f, "the attestation key is not a signing key"),
            Self::SchemeMismatch => {
                write!(f, "the signature's scheme does not fit the attestation key")
            }
            Self::BadSignature => write!(f, "the quote's signature does not verify"),
        }
    }
}

impl std::error::Error for AttestError {}

/// Verifies a quote: `attest_bytes` is the contents of the TPM2B_ATTEST TPM2_Quote returned
/// (the TPMS_ATTEST, without its size), `signature` its TPMT_SIGNATURE, `public` the
/// attestation key's public area, `expected_extra_data` the nonce the verifier sent as
/// qualifyingData, `pcr_values` the value of every quoted PCR (any order; exactly the PCRs the
/// quote selects). The checks, in order: magic, type, structure, extraData, signature, PCR
/// values against pcrDigest.
pub fn verify_quote(
    public: &TpmtPublic,
    attest_bytes: &[u8],
    signature: &TpmtSignature,
    expected_extra_data: &[u8],
    pcr_values: &[PcrValue],
) -> Result<QuoteInfo, AttestError> {
    let attest = parse(attest_bytes)?;
    if attest.extra_data.as_bytes() != expected_extra_data {
        return Err(AttestError::NonceMismatch);
    }
    let signature_alg = verify_signature(public, attest_bytes, signature)?;
    let TpmuAttest::Quote(quote) = attest.attested else {
        return Err(AttestError::NotAQuote(attest.tag().0));
    };
    let expected = pcr_digest(&quote.pcr_select, pcr_values)?;
    if quote.pcr_digest.as_bytes() != expected.as_slice() {
        return Err(AttestError::PcrDigestMismatch);
    }
    Ok(QuoteInfo {
        pcr_select: quote.pcr_select,
        pcr_digest: expected,
        clock_info: attest.clock_info,
        firmware_version: attest.firmware_version,
        qualified_signer: attest.qualified_signer.as_bytes().to_vec(),
        signature_alg,
    })
}

/// Checks magic and type before the rest, so that each failure is named.
fn parse(bytes: &[u8]) -> Result<TpmsAttest, AttestError> {
    let mut r = Reader::new(bytes);
    let magic = r
        .u32("TPMS_ATTEST magic")
        .map_err(|e| AttestError::Malformed(e.to_string()))?;
    if magic != TPM_GENERATED_VALUE {
        return Err(AttestError::BadMagic(magic));
    }
    let tag = r
        .u16("TPMS_ATTEST type")
        .map_err(|e| AttestError::Malformed(e.to_string()))?;
    if tag != TpmSt::ATTEST_QUOTE.0 {
        return Err(AttestError::NotAQuote(tag));
    }
    TpmsAttest::from_bytes(bytes).map_err(|e| AttestError::Malformed(e.to_string()))
}

/// SHA-256 of the supplied values in the order of `selection` (bank by bank, PCRs ascending),
/// which must name exactly the supplied PCRs.
fn pcr_digest(selection: &TpmlPcrSelection, values: &[PcrValue]) -> Result<Vec<u8>, AttestError> {
    for (i, (bank, index, _)) in values.iter().enumerate() {
        let (bank, index) = (*bank, *index);
        if values[..i]
            .iter()
            .any(|(b, n, _)| *b == bank && *n == index)
        {
            return Err(AttestError::PcrDuplicate { bank, index });
        }
        if !selection.pairs().any(|(b, n)| b == bank && n == index) {
            return Err(AttestError::PcrNotQuoted { bank, index });
        }
    }
    let mut h = Sha256::new();
    for (bank, index) in selection.pairs() {
        let value = values
            .iter()
            .find(|(b, n, _)| *b == bank && *n == index)
            .ok_or(AttestError::PcrMissing { bank, index })?;
        h.update(&value.2);
    }
    Ok(h.finalize().to_vec())
}

/// The default signing scheme of a key, as (algorithm, hash); `None` for TPM_ALG_NULL.
fn key_scheme(public: &TpmtPublic) -> Option<(TpmAlgId, TpmAlgId)> {
    match &public.detail {
        PublicDetail::Rsa { parameters, .. } => match parameters.scheme {
            TpmtRsaScheme::Rsassa(d) => Some((TpmAlgId::RSASSA, d.hash_alg)),
            TpmtRsaScheme::Rsapss(d) => Some((TpmAlgId::RSAPSS, d.hash_alg)),
            _ => None,
        },
        PublicDetail::Ecc { parameters, .. } => match parameters.scheme {
            TpmtEccScheme::Ecdsa(d) => Some((TpmAlgId::ECDSA, d.hash_alg)),
            _ => None,
        },
        _ => None,
    }
}

fn signature_alg(signature: &TpmtSignature) -> TpmAlgId {
    match signature {
        TpmtSignature::Hmac(_) => TpmAlgId::HMAC,
        TpmtSignature::Rsassa(_) => TpmAlgId::RSASSA,
        TpmtSignature::Rsapss(_) => TpmAlgId::RSAPSS,
        TpmtSignature::Ecdsa(_) => TpmAlgId::ECDSA,
        TpmtSignature::Ecdaa(_) => TpmAlgId::ECDAA,
        TpmtSignature::Sm2(_) => TpmAlgId::SM2,
        TpmtSignature::Ecschnorr(_) => TpmAlgId::ECSCHNORR,
        TpmtSignature::Null => TpmAlgId::NULL,
    }
}

/// The DER DigestInfo prefix of SHA-256 (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Checks `signature` over SHA-256(`message`) with `public`; returns the algorithm checked.
pub fn verify_signature(
    public: &TpmtPublic,
    message: &[u8],
    signature: &TpmtSignature,
) -> Result<TpmAlgId, AttestError> {
    let alg = signature_alg(signature);
    let hash = signature.hash_alg().unwrap_or(TpmAlgId::NULL);
    let supported = matches!(alg, TpmAlgId::RSASSA | TpmAlgId::RSAPSS | TpmAlgId::ECDSA);
    if !supported || hash != TpmAlgId::SHA256 {
        return Err(AttestError::UnsupportedSignature { alg, hash });
    }
    if !public.object_attributes.has(TpmaObject::SIGN) {
        return Err(AttestError::NotASigningKey);
    }
    if key_scheme(public).is_some_and(|k| k != (alg, hash)) {
        return Err(AttestError::SchemeMismatch);
    }
    let digest = Sha256::digest(message);
    match (&public.detail, signature) {
        (
            PublicDetail::Rsa { parameters, unique },
            TpmtSignature::Rsassa(s) | TpmtSignature::Rsapss(s),
        ) => {
            let exponent = if parameters.exponent == 0 {
                65537
            } else {
                parameters.exponent
            };
            let key = RsaPublicKey::new(
                BigUint::from_bytes_be(unique.as_bytes()),
                BigUint::from(exponent),
            )
            .map_err(|_| AttestError::UnsupportedKey("the RSA modulus or exponent is invalid"))?;
            let sig = s.sig.as_bytes();
            let ok = if alg == TpmAlgId::RSASSA {
                let scheme = Pkcs1v15Sign {
                    hash_len: Some(32),
                    prefix: Box::from(&SHA256_DIGEST_INFO[..]),
                };
                key.verify(scheme, &digest, sig).is_ok()
            } else {
                // The digest-sized salt TPMs use, else the largest salt the key allows.
                let k = unique.as_bytes().len();
                let max_salt = k.saturating_sub(32 + 2);
                key.verify(Pss::new_with_salt::<Sha256>(32), &digest, sig)
                    .is_ok()
                    || key
                        .verify(Pss::new_with_salt::<Sha256>(max_salt), &digest, sig)
                        .is_ok()
            };
            if ok {
                Ok(alg)
            } else {
                Err(AttestError::BadSignature)
            }
        }
        (PublicDetail::Ecc { parameters, unique }, TpmtSignature::Ecdsa(s)) => {
            if parameters.curve_id != TpmEccCurve::NIST_P256 {
                return Err(AttestError::UnsupportedKey(
                    "an ECC curve other than NIST P-256",
                ));
            }
            let coordinate = |b: &[u8]| {
                let mut out = [0u8; 32];
                let start = 32usize
                    .checked_sub(b.len())
                    .ok_or(AttestError::UnsupportedKey(
                        "a P-256 coordinate longer than 32 bytes",
                    ))?;
                out[start..].copy_from_slice(b);
                Ok::<_, AttestError>(out)
            };
            let (x, y) = (
                coordinate(unique.x.as_bytes())?,
                coordinate(unique.y.as_bytes())?,
            );
            let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
            let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                .map_err(|_| AttestError::UnsupportedKey("the ECC point is not on P-256"))?;
            let scalar = |b: &[u8]| coordinate(b).map_err(|_| AttestError::BadSignature);
            let (r, s) = (
                scalar(s.signature_r.as_bytes())?,
                scalar(s.signature_s.as_bytes())?,
            );
            let sig = p256::ecdsa::Signature::from_scalars(r, s)
                .map_err(|_| AttestError::BadSignature)?;
            key.verify_prehash(&digest, &sig)
                .map(|()| alg)
                .map_err(|_| AttestError::BadSignature)
        }
        _ => Err(AttestError::SchemeMismatch),
    }
}

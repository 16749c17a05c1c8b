//! Endorsement keys and their certificates (TCG EK Credential Profile for TPM Family 2.0,
//! version 2.x):
//!
//! - §2.2.1.4 "Low Range" default templates: [`rsa_ek_template`] (template L-1: RSA 2048,
//!   SHA-256, AES-128-CFB, the PolicySecret(TPM_RH_ENDORSEMENT) policy, 256 zero bytes of
//!   unique) and [`ecc_ek_template`] (L-2: NIST P-256, 32 + 32 zero bytes of unique). These
//!   are the keys `tpm2_createek` (`-G rsa` / `-G ecc`) creates.
//! - §2.2.1.5 NV indices: the RSA EK certificate at [`RSA_EK_CERT_INDEX`] (0x01C00002), the ECC
//!   one at [`ECC_EK_CERT_INDEX`] (0x01C0000A), platform-created, readable with owner or
//!   index authorization (empty), written once by the platform and then locked (WRITEDEFINE).
//! - §3 the certificate: X.509 v3 (RFC 5280), empty subject, a critical subjectAltName naming
//!   the TPM (tcg-at-tpmManufacturer / Model / Version, OIDs 2.23.133.2.1–3), basicConstraints
//!   CA:FALSE, keyUsage keyEncipherment (RSA) or keyAgreement (ECC), extKeyUsage
//!   tcg-kp-EKCertificate (2.23.133.8.1), the CA's key identifier, signed ECDSA-SHA-256.
//!
//! The issuer is a per-installation vTPM CA ([`EkCa`]): an ECDSA P-256 key and a self-signed
//! certificate. A verifier that trusts the host's CA certificate can chain every vTPM's EK
//! to it. [`provision`] puts both certificates into a TPM through its command interface.
//!
//! DER is written by the small encoder here (X.690 definite lengths); nothing is parsed.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use rand_core::{CryptoRng, RngCore};
use tpm2::alg::TpmAlgId;
use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::response::Response;
use tpm2::structures::{PublicDetail, Tpm2bAuth, Tpm2bPublic};
use tpm2::{Reader, Unmarshal};

use crate::engine::crypto::ecc::{Curve, EccPrivate};
use crate::engine::crypto::hash::{HashAlg, digest};

/// A length or offset as a big-endian u16 (all of them are bounded far below 64 KiB here).
fn be16(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

/// NV index of the RSA 2048 EK certificate (EK profile §2.2.1.5.1).
pub const RSA_EK_CERT_INDEX: u32 = 0x01C0_0002;
/// NV index of the ECC NIST P-256 EK certificate.
pub const ECC_EK_CERT_INDEX: u32 = 0x01C0_000A;

/// TPMA_NV of an EK certificate index: PPWRITE, WRITEDEFINE, PPREAD, OWNERREAD, AUTHREAD,
/// NO_DA, PLATFORMCREATE.
const EK_CERT_NV_ATTRIBUTES: u32 = 0x4207_2001;

/// Bytes written per TPM2_NV_Write (the engine's MAX_NV_BUFFER_SIZE is larger).
const NV_CHUNK: usize = 512;

/// Why EK certificates could not be made or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EkCertError {
    /// The CA key is not a valid P-256 scalar.
    BadCaKey,
    /// Signing failed (a broken random source).
    Signing,
    /// A TPM command failed with this response code.
    Tpm {
        /// The command.
        command: &'static str,
        /// Its response code.
        rc: u32,
    },
    /// A TPM response could not be read.
    BadResponse(&'static str),
}

impl fmt::Display for EkCertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCaKey => f.write_str("the EK CA key is not a valid P-256 private key"),
            Self::Signing => f.write_str("signing the certificate failed"),
            Self::Tpm { command, rc } => write!(f, "{command} failed with rc {rc:#010x}"),
            Self::BadResponse(what) => write!(f, "malformed TPM response to {what}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DER (X.690)
// ---------------------------------------------------------------------------------------------

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0C;
const BOOLEAN: u8 = 0x01;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// A TLV with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            // At most 8 length octets follow.
            out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap_or(8));
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn uint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let mut v = Vec::with_capacity(bytes.len() + 1);
    if bytes.get(start).is_none_or(|&b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(&bytes[start..]);
    tlv(INTEGER, &v)
}

/// An OBJECT IDENTIFIER from its arcs (the first two are at most 2 and 39).
fn oid(arcs: &[u32]) -> Vec<u8> {
    let mut body = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        _ => (0, arcs),
    };
    for arc in core::iter::once(first).chain(rest.iter().copied()) {
        let mut groups = [0u8; 5];
        let mut n = 0;
        let mut v = arc;
        loop {
            groups[n] = (v & 0x7F) as u8;
            n += 1;
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            body.push(groups[i] | if i == 0 { 0 } else { 0x80 });
        }
    }
    tlv(OID, &body)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.push(0);
    v.extend_from_slice(bytes);
    tlv(BIT_STRING, &v)
}

fn utf8(s: &str) -> Vec<u8> {
    tlv(UTF8_STRING, s.as_bytes())
}

/// [n] EXPLICIT.
fn explicit(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xA0 | n, content)
}

/// An extension: extnID, critical (if set), extnValue.
fn extension(id: &[u32], critical: bool, value: &[u8]) -> Vec<u8> {
    let crit = if critical {
        tlv(BOOLEAN, &[0xFF])
    } else {
        Vec::new()
    };
    seq(&[&oid(id), &crit, &tlv(OCTET_STRING, value)])
}

/// A Name of (attribute type, UTF-8 value) pairs, one RDN each.
fn name(attributes: &[(&[u32], &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(t, v)| tlv(SET, &seq(&[&oid(t), &utf8(v)])))
        .collect();
    tlv(SEQUENCE, &rdns.concat())
}

const OID_ECDSA_SHA256: &[u32] = &[1, 2, 840, 10045, 4, 3, 2];
const OID_EC_PUBLIC_KEY: &[u32] = &[1, 2, 840, 10045, 2, 1];
const OID_P256: &[u32] = &[1, 2, 840, 10045, 3, 1, 7];
const OID_RSA_ENCRYPTION: &[u32] = &[1, 2, 840, 113_549, 1, 1, 1];
const OID_CN: &[u32] = &[2, 5, 4, 3];
const OID_O: &[u32] = &[2, 5, 4, 10];
const OID_SUBJECT_KEY_ID: &[u32] = &[2, 5, 29, 14];
const OID_KEY_USAGE: &[u32] = &[2, 5, 29, 15];
const OID_SUBJECT_ALT_NAME: &[u32] = &[2, 5, 29, 17];
const OID_BASIC_CONSTRAINTS: &[u32] = &[2, 5, 29, 19];
const OID_AUTHORITY_KEY_ID: &[u32] = &[2, 5, 29, 35];
const OID_EXT_KEY_USAGE: &[u32] = &[2, 5, 29, 37];
const OID_TPM_MANUFACTURER: &[u32] = &[2, 23, 133, 2, 1];
const OID_TPM_MODEL: &[u32] = &[2, 23, 133, 2, 2];
const OID_TPM_VERSION: &[u32] = &[2, 23, 133, 2, 3];
const OID_EK_CERTIFICATE: &[u32] = &[2, 23, 133, 8, 1];

/// UTCTime (years 1950–2049) or GeneralizedTime of a Unix time, as RFC 5280 §4.1.2.5 asks.
fn time(unix_seconds: u64) -> Vec<u8> {
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    let hms = (secs / 3600, (secs / 60) % 60, secs % 60);
    if (1950..2050).contains(&y) {
        let s = alloc::format!(
            "{:02}{m:02}{d:02}{:02}{:02}{:02}Z",
            y % 100,
            hms.0,
            hms.1,
            hms.2
        );
        tlv(UTC_TIME, s.as_bytes())
    } else {
        let s = alloc::format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}Z", hms.0, hms.1, hms.2);
        tlv(GENERALIZED_TIME, s.as_bytes())
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Count in 400-year eras from 0000-03-01, where leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let d = day_of_year - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = year_of_era + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// notAfter of certificates without a well-defined expiry (RFC 5280 §4.1.2.5).
fn no_expiry() -> Vec<u8> {
    tlv(GENERALIZED_TIME, b"99991231235959Z")
}

// ---------------------------------------------------------------------------------------------
// The CA
// ---------------------------------------------------------------------------------------------

/// The per-installation vTPM EK CA: an ECDSA P-256 key. Its certificate is derived from it and
/// the creation time, so it can be re-made identically.
pub struct EkCa {
    key: EccPrivate,
    created: u64,
}

impl fmt::Debug for EkCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EkCa")
            .field("key_id", &hex(&self.key_id()))
            .finish_non_exhaustive()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = fmt::Write::write_fmt(&mut s, format_args!("{x:02x}"));
        s
    })
}

impl EkCa {
    /// A new CA key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng), now: u64) -> Result<EkCa, EkCertError> {
        let key = EccPrivate::generate(Curve::NistP256, rng).map_err(|_| EkCertError::BadCaKey)?;
        Ok(EkCa { key, created: now })
    }

    /// The CA of a stored scalar (32 bytes, big-endian) and creation time.
    pub fn from_parts(scalar: &[u8], created: u64) -> Result<EkCa, EkCertError> {
        let key =
            EccPrivate::from_scalar(Curve::NistP256, scalar).map_err(|_| EkCertError::BadCaKey)?;
        Ok(EkCa { key, created })
    }

    /// The private scalar (to store; secret).
    pub fn scalar(&self) -> zeroize::Zeroizing<Vec<u8>> {
        self.key.scalar()
    }

    /// When the CA was created (Unix seconds).
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The uncompressed public point (0x04 || x || y).
    fn public_point(&self) -> Vec<u8> {
        let p = self.key.public();
        [&[0x04u8][..], &p.x, &p.y].concat()
    }

    /// The key identifier (RFC 5280 §4.2.1.2 method 1: SHA-1 of the public key bits).
    pub fn key_id(&self) -> Vec<u8> {
        digest(HashAlg::Sha1, &[&self.public_point()])
    }

    /// The CA's distinguished name.
    fn name(&self) -> Vec<u8> {
        let id = hex(&self.key_id());
        let cn = alloc::format!("vTPM EK CA {}", id.get(..16).unwrap_or(&id));
        name(&[(OID_O, "vtpm-domain"), (OID_CN, &cn)])
    }

    /// Signs a TBSCertificate and returns the whole Certificate.
    fn sign(
        &self,
        tbs: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, EkCertError> {
        let h = digest(HashAlg::Sha256, &[tbs]);
        let (r, s) = self
            .key
            .sign_ecdsa(&h, rng)
            .map_err(|_| EkCertError::Signing)?;
        let sig = seq(&[&uint(&r), &uint(&s)]);
        Ok(seq(&[
            tbs,
            &seq(&[&oid(OID_ECDSA_SHA256)]),
            &bit_string(&sig),
        ]))
    }

    /// The self-signed CA certificate (DER). Serial and dates come from the key and the
    /// creation time; the signature differs between calls (ECDSA is randomized).
    pub fn certificate(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, EkCertError> {
        let spki = seq(&[
            &seq(&[&oid(OID_EC_PUBLIC_KEY), &oid(OID_P256)]),
            &bit_string(&self.public_point()),
        ]);
        let key_id = self.key_id();
        let extensions = seq(&[
            &extension(OID_BASIC_CONSTRAINTS, true, &seq(&[&tlv(BOOLEAN, &[0xFF])])),
            // keyCertSign (bit 5) and cRLSign (bit 6): one unused bit.
            &extension(OID_KEY_USAGE, true, &tlv(BIT_STRING, &[0x01, 0x06])),
            &extension(OID_SUBJECT_KEY_ID, false, &tlv(OCTET_STRING, &key_id)),
        ]);
        let tbs = seq(&[
            &explicit(0, &uint(&[2])),
            &uint(&key_id[..16]),
            &seq(&[&oid(OID_ECDSA_SHA256)]),
            &self.name(),
            &seq(&[&time(self.created), &no_expiry()]),
            &self.name(),
            &spki,
            &explicit(3, &extensions),
        ]);
        self.sign(&tbs, rng)
    }

    /// An EK certificate (DER) for `ek`, issued `now`.
    pub fn ek_certificate(
        &self,
        ek: &EkPublic,
        now: u64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, EkCertError> {
        let (spki, usage) = match ek {
            EkPublic::Rsa { modulus, exponent } => (
                seq(&[
                    &seq(&[&oid(OID_RSA_ENCRYPTION), &tlv(NULL, &[])]),
                    &bit_string(&seq(&[&uint(modulus), &uint(&exponent.to_be_bytes())])),
                ]),
                // keyEncipherment (bit 2): five unused bits.
                tlv(BIT_STRING, &[0x05, 0x20]),
            ),
            EkPublic::Ecc { x, y } => (
                seq(&[
                    &seq(&[&oid(OID_EC_PUBLIC_KEY), &oid(OID_P256)]),
                    &bit_string(&[&[0x04u8][..], x, y].concat()),
                ]),
                // keyAgreement (bit 4): three unused bits.
                tlv(BIT_STRING, &[0x03, 0x08]),
            ),
        };
        let (major, minor) = crate::engine::commands::firmware_version();
        let tpm_name = name(&[
            (
                OID_TPM_MANUFACTURER,
                &alloc::format!("id:{}", hex(&crate::engine::commands::MANUFACTURER)),
            ),
            (OID_TPM_MODEL, "vTPM-domain"),
            (
                OID_TPM_VERSION,
                &alloc::format!("id:{major:08X}{minor:08X}"),
            ),
        ]);
        // GeneralNames with one directoryName ([4], a Name is a CHOICE: explicit).
        let san = seq(&[&tlv(0xA4, &tpm_name)]);
        let extensions = seq(&[
            &extension(
                OID_AUTHORITY_KEY_ID,
                false,
                &seq(&[&tlv(0x80, &self.key_id())]),
            ),
            &extension(OID_BASIC_CONSTRAINTS, true, &seq(&[])),
            &extension(OID_KEY_USAGE, true, &usage),
            &extension(OID_SUBJECT_ALT_NAME, true, &san),
            &extension(OID_EXT_KEY_USAGE, false, &seq(&[&oid(OID_EK_CERTIFICATE)])),
        ]);
        let mut serial = [0u8; 16];
        rng.fill_bytes(&mut serial);
        serial[0] = (serial[0] & 0x7F) | 0x40;
        let tbs = seq(&[
            &explicit(0, &uint(&[2])),
            &uint(&serial),
            &seq(&[&oid(OID_ECDSA_SHA256)]),
            &self.name(),
            &seq(&[&time(now), &no_expiry()]),
            &tlv(SEQUENCE, &[]),
            &spki,
            &explicit(3, &extensions),
        ]);
        self.sign(&tbs, rng)
    }
}

/// PEM (RFC 7468) of a DER certificate.
pub fn pem(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(core::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Templates and provisioning
// ---------------------------------------------------------------------------------------------

/// The public part of an EK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EkPublic {
    /// RSA: modulus and public exponent.
    Rsa {
        /// The modulus, big-endian.
        modulus: Vec<u8>,
        /// The public exponent.
        exponent: u32,
    },
    /// ECC P-256: the public point.
    Ecc {
        /// x, big-endian.
        x: Vec<u8>,
        /// y, big-endian.
        y: Vec<u8>,
    },
}

/// The EK policy: PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256, no policyRef
/// (EK profile §2.2.1.4, part 3 §23.4).
pub fn ek_policy() -> Vec<u8> {
    let inner = digest(
        HashAlg::Sha256,
        &[
            &[0u8; 32],
            &TpmCc::POLICY_SECRET.0.to_be_bytes(),
            &TpmHandle::ENDORSEMENT.0.to_be_bytes(),
        ],
    );
    digest(HashAlg::Sha256, &[&inner])
}

/// The head shared by both templates: nameAlg SHA-256, fixedTPM | fixedParent |
/// sensitiveDataOrigin | adminWithPolicy | restricted | decrypt, the EK policy, AES-128-CFB.
fn template_head(object_type: TpmAlgId) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&object_type.0.to_be_bytes());
    t.extend_from_slice(&TpmAlgId::SHA256.0.to_be_bytes());
    t.extend_from_slice(&0x0003_00B2u32.to_be_bytes());
    let policy = ek_policy();
    t.extend_from_slice(&be16(policy.len()));
    t.extend_from_slice(&policy);
    t.extend_from_slice(&TpmAlgId::AES.0.to_be_bytes());
    t.extend_from_slice(&128u16.to_be_bytes());
    t.extend_from_slice(&TpmAlgId::CFB.0.to_be_bytes());
    t.extend_from_slice(&TpmAlgId::NULL.0.to_be_bytes());
    t
}

/// Template L-1 (TPMT_PUBLIC): RSA 2048.
pub fn rsa_ek_template() -> Vec<u8> {
    let mut t = template_head(TpmAlgId::RSA);
    t.extend_from_slice(&2048u16.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&256u16.to_be_bytes());
    t.extend_from_slice(&[0u8; 256]);
    t
}

/// Template L-2 (TPMT_PUBLIC): ECC NIST P-256.
pub fn ecc_ek_template() -> Vec<u8> {
    let mut t = template_head(TpmAlgId::ECC);
    t.extend_from_slice(&0x0003u16.to_be_bytes());
    t.extend_from_slice(&TpmAlgId::NULL.0.to_be_bytes());
    for _ in 0..2 {
        t.extend_from_slice(&32u16.to_be_bytes());
        t.extend_from_slice(&[0u8; 32]);
    }
    t
}

/// What [`provision`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// The NV indices written now (empty: both certificates were there already).
    pub written: Vec<u32>,
}

/// Sends one command through `exec` and returns the response, or the failing code.
fn call(
    exec: &mut dyn FnMut(&[u8]) -> Vec<u8>,
    command: &'static str,
    cc: TpmCc,
    handles: &[TpmHandle],
    params: &[u8],
) -> Result<Vec<u8>, EkCertError> {
    let sessions =
        if handles.is_empty() || cc == TpmCc::NV_READ_PUBLIC || cc == TpmCc::FLUSH_CONTEXT {
            Vec::new()
        } else {
            alloc::vec![TpmsAuthCommand::password(Tpm2bAuth::empty())]
        };
    let cmd = build_command(cc, handles, &sessions, params)
        .map_err(|_| EkCertError::BadResponse(command))?;
    let rsp = exec(&cmd);
    let rc = rsp
        .get(6..10)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or(EkCertError::BadResponse(command))?;
    if rc != 0 {
        return Err(EkCertError::Tpm { command, rc });
    }
    Ok(rsp)
}

/// Creates the EK of `template` and returns its public part (the key is flushed again).
pub fn read_ek(
    exec: &mut dyn FnMut(&[u8]) -> Vec<u8>,
    template: &[u8],
) -> Result<EkPublic, EkCertError> {
    let mut p = alloc::vec![0, 4, 0, 0, 0, 0];
    p.extend_from_slice(&be16(template.len()));
    p.extend_from_slice(template);
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let what = "TPM2_CreatePrimary(EK)";
    let rsp = call(
        exec,
        what,
        TpmCc::CREATE_PRIMARY,
        &[TpmHandle::ENDORSEMENT],
        &p,
    )?;
    let r =
        Response::parse(&rsp, TpmCc::CREATE_PRIMARY).map_err(|_| EkCertError::BadResponse(what))?;
    let handle = r.handle.ok_or(EkCertError::BadResponse(what))?;
    let public = Tpm2bPublic::unmarshal(&mut Reader::new(r.parameters))
        .map_err(|_| EkCertError::BadResponse(what))?
        .public_area;
    call(
        exec,
        "TPM2_FlushContext(EK)",
        TpmCc::FLUSH_CONTEXT,
        &[],
        &handle.0.to_be_bytes(),
    )?;
    match public.detail {
        PublicDetail::Rsa { parameters, unique } => Ok(EkPublic::Rsa {
            modulus: unique.as_bytes().to_vec(),
            exponent: if parameters.exponent == 0 {
                65_537
            } else {
                parameters.exponent
            },
        }),
        PublicDetail::Ecc { unique, .. } => Ok(EkPublic::Ecc {
            x: unique.x.as_bytes().to_vec(),
            y: unique.y.as_bytes().to_vec(),
        }),
        _ => Err(EkCertError::BadResponse(what)),
    }
}

/// Makes sure the TPM behind `exec` (started, platform authorization empty) holds an RSA and
/// an ECC EK certificate from `ca`; indices already defined are left alone.
pub fn provision(
    exec: &mut dyn FnMut(&[u8]) -> Vec<u8>,
    ca: &EkCa,
    now: u64,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Provisioned, EkCertError> {
    let mut written = Vec::new();
    for (index, template) in [
        (RSA_EK_CERT_INDEX, rsa_ek_template()),
        (ECC_EK_CERT_INDEX, ecc_ek_template()),
    ] {
        let probe = build_command(TpmCc::NV_READ_PUBLIC, &[TpmHandle(index)], &[], &[])
            .map_err(|_| EkCertError::BadResponse("TPM2_NV_ReadPublic"))?;
        let rsp = exec(&probe);
        if rsp.get(6..10) == Some(&[0, 0, 0, 0]) {
            continue;
        }
        let ek = read_ek(exec, &template)?;
        let cert = ca.ek_certificate(&ek, now, rng)?;
        let size = u16::try_from(cert.len()).map_err(|_| EkCertError::Signing)?;
        let mut public = Vec::new();
        public.extend_from_slice(&index.to_be_bytes());
        public.extend_from_slice(&TpmAlgId::SHA256.0.to_be_bytes());
        public.extend_from_slice(&EK_CERT_NV_ATTRIBUTES.to_be_bytes());
        public.extend_from_slice(&[0, 0]);
        public.extend_from_slice(&size.to_be_bytes());
        let mut p = alloc::vec![0, 0];
        p.extend_from_slice(&be16(public.len()));
        p.extend_from_slice(&public);
        let platform = TpmHandle::PLATFORM;
        call(
            exec,
            "TPM2_NV_DefineSpace(EK certificate)",
            TpmCc::NV_DEFINE_SPACE,
            &[platform],
            &p,
        )?;
        for (i, chunk) in cert.chunks(NV_CHUNK).enumerate() {
            let mut p = be16(chunk.len()).to_vec();
            p.extend_from_slice(chunk);
            p.extend_from_slice(&be16(i * NV_CHUNK));
            call(
                exec,
                "TPM2_NV_Write(EK certificate)",
                TpmCc::NV_WRITE,
                &[platform, TpmHandle(index)],
                &p,
            )?;
        }
        call(
            exec,
            "TPM2_NV_WriteLock(EK certificate)",
            TpmCc::NV_WRITE_LOCK,
            &[platform, TpmHandle(index)],
            &[],
        )?;
        written.push(index);
    }
    Ok(Provisioned { written })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn der_basics() {
        assert_eq!(
            oid(&[1, 2, 840, 113_549, 1, 1, 1]),
            [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1]
        );
        assert_eq!(uint(&[0, 0, 0x80]), [2, 2, 0, 0x80]);
        assert_eq!(uint(&[0, 0]), [2, 1, 0]);
        assert_eq!(uint(&[0x01, 0x00]), [2, 2, 1, 0]);
        let long = tlv(OCTET_STRING, &[0u8; 300]);
        assert_eq!(&long[..4], &[4, 0x82, 0x01, 0x2c]);
        assert_eq!(tlv(OCTET_STRING, &[0u8; 200])[..3], [4, 0x81, 200]);
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(time(0), tlv(UTC_TIME, b"700101000000Z"));
        // 2050-01-01 needs GeneralizedTime.
        assert_eq!(
            time(2_524_608_000),
            tlv(GENERALIZED_TIME, b"20500101000000Z")
        );
    }

    #[test]
    fn ek_policy_is_the_profile_value() {
        // EK Credential Profile §2.2.1.4 (the value every TSS uses).
        assert_eq!(
            hex(&ek_policy()),
            "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa"
        );
    }

    #[test]
    fn pem_encoding() {
        let p = pem(b"Man");
        assert!(p.contains("\nTWFu\n"));
        let p = pem(b"Ma");
        assert!(p.contains("\nTWE=\n"));
        let p = pem(&[0u8; 100]);
        assert_eq!(p.lines().nth(1).map(str::len), Some(64));
    }
}

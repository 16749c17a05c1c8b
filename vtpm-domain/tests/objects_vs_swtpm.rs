#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The object and context commands of our engine side by side with swtpm 0.7.1 / libtpms 0.9
//! (TCG TPM 2.0 Library part 3 §12 "Object Commands", §24.1 TPM2_CreatePrimary, §28 "Context
//! Management"): the same command bytes go to both.
//!
//! - Templates: a table of valid and invalid templates for TPM2_CreatePrimary and TPM2_Create
//!   must get the same response code (with the same parameter number) from both. For the
//!   valid ones, everything that does not depend on the TPM's seeds must be identical: the
//!   public area apart from the key itself (`unique`), the whole creation data and so the
//!   creation hash, and the sizes of every output (outPrivate included, since the
//!   TPM2B_PRIVATE layout is the reference implementation's).
//! - TPM2_LoadExternal then TPM2_ReadPublic of the same public key gives byte-identical
//!   answers (public area, Name and Qualified Name depend only on the public area), and the
//!   invalid LoadExternal cases give the same codes.
//! - Error paths of TPM2_Load (tampered or empty private, wrong parent), TPM2_ObjectChangeAuth,
//!   TPM2_ContextSave / TPM2_ContextLoad / TPM2_FlushContext (tampered contexts, stale session
//!   contexts, handle ranges) and TPM2_EvictControl give the same codes, each TPM working on
//!   its own objects and contexts.
//!
//! Implementation limits that differ on purpose (RSA-4096 is refused by both, but NIST P-384,
//! P-521, BN curves and Camellia are implemented by libtpms and not here) are left out of the
//! comparison tables. swtpm must be installed: a missing binary fails the tests.

use tpm2::Unmarshal;
use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::{
    PublicDetail, Tpm2bCreationData, Tpm2bDigest, Tpm2bName, Tpm2bPrivate, Tpm2bPublic,
    TpmsEccPoint, TpmtPublic, TpmtTkCreation,
};
use vtpm_domain::engine::crypto::hash::digest;
use vtpm_domain::engine::crypto::{Curve, EccPrivate, HashAlg, KdfaStream, RsaPrivate};

#[path = "support/pair.rs"]
mod pair;
use pair::{Pair, pw, rc_of};

const FIXED_TPM: u32 = 1 << 1;
const ST_CLEAR: u32 = 1 << 2;
const FIXED_PARENT: u32 = 1 << 4;
const SDO: u32 = 1 << 5;
const UWA: u32 = 1 << 6;
const ENC_DUP: u32 = 1 << 11;
const RESTRICTED: u32 = 1 << 16;
const DECRYPT: u32 = 1 << 17;
const SIGN: u32 = 1 << 18;
const FIXED: u32 = FIXED_TPM | FIXED_PARENT;
const STORAGE: u32 = FIXED | SDO | UWA | RESTRICTED | DECRYPT;
const SIGN_KEY: u32 = FIXED | SDO | UWA | SIGN;

const NULL: [u8; 2] = [0, 0x10];
const RSASSA: [u8; 4] = [0, 0x14, 0, 0x0b];
const OAEP: [u8; 4] = [0, 0x17, 0, 0x0b];
const ECDSA: [u8; 4] = [0, 0x18, 0, 0x0b];
const ECDH: [u8; 4] = [0, 0x19, 0, 0x0b];
const HMAC: [u8; 4] = [0, 5, 0, 0x0b];
const XOR_108: [u8; 6] = [0, 0x0a, 0, 0x0b, 0, 0x22];

const OWNER: TpmHandle = TpmHandle::OWNER;
const PLATFORM: TpmHandle = TpmHandle::PLATFORM;

// ---------------------------------------------------------------------------------------------
// The two TPMs
// ---------------------------------------------------------------------------------------------

/// A command with a password session for each of the first `auths` handles.
fn command(cc: TpmCc, handles: &[TpmHandle], auths: usize, params: &[u8]) -> Vec<u8> {
    let sessions: Vec<TpmsAuthCommand> = (0..auths).map(|_| pw()).collect();
    build_command(cc, handles, &sessions, params).unwrap()
}

impl Pair {
    /// Flushes every transient object of both.
    fn flush_all(&mut self) {
        for h in 0x8000_0000u32..0x8000_0003 {
            let c = command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.to_be_bytes());
            self.both(&c);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wire helpers
// ---------------------------------------------------------------------------------------------

fn b2(v: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(v.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(v);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn aes(bits: u16, mode: u16) -> Vec<u8> {
    cat(&[&[0, 6], &bits.to_be_bytes(), &mode.to_be_bytes()])
}

fn cfb() -> Vec<u8> {
    aes(128, 0x43)
}

fn rsa_t(
    attrs: u32,
    sym: &[u8],
    scheme: &[u8],
    bits: u16,
    exponent: u32,
    unique: &[u8],
) -> Vec<u8> {
    cat(&[
        &[0, 1, 0, 0x0b],
        &attrs.to_be_bytes(),
        &b2(&[]),
        sym,
        scheme,
        &bits.to_be_bytes(),
        &exponent.to_be_bytes(),
        &b2(unique),
    ])
}

fn rsa(attrs: u32, sym: &[u8], scheme: &[u8]) -> Vec<u8> {
    rsa_t(attrs, sym, scheme, 2048, 0, &[])
}

fn ecc_t(
    attrs: u32,
    sym: &[u8],
    scheme: &[u8],
    curve: u16,
    kdf: &[u8],
    x: &[u8],
    y: &[u8],
) -> Vec<u8> {
    cat(&[
        &[0, 0x23, 0, 0x0b],
        &attrs.to_be_bytes(),
        &b2(&[]),
        sym,
        scheme,
        &curve.to_be_bytes(),
        kdf,
        &b2(x),
        &b2(y),
    ])
}

fn ecc(attrs: u32, sym: &[u8], scheme: &[u8]) -> Vec<u8> {
    ecc_t(attrs, sym, scheme, 3, &NULL, &[], &[])
}

fn keyedhash(attrs: u32, scheme: &[u8]) -> Vec<u8> {
    keyedhash_u(attrs, scheme, &[])
}

fn keyedhash_u(attrs: u32, scheme: &[u8], unique: &[u8]) -> Vec<u8> {
    cat(&[
        &[0, 8, 0, 0x0b],
        &attrs.to_be_bytes(),
        &b2(&[]),
        scheme,
        &b2(unique),
    ])
}

fn symcipher(attrs: u32, sym: &[u8]) -> Vec<u8> {
    cat(&[
        &[0, 0x25, 0, 0x0b],
        &attrs.to_be_bytes(),
        &b2(&[]),
        sym,
        &b2(&[]),
    ])
}

fn with_name_alg(template: &[u8], alg: u16) -> Vec<u8> {
    cat(&[&template[..2], &alg.to_be_bytes(), &template[4..]])
}

fn with_policy(template: &[u8], policy: &[u8]) -> Vec<u8> {
    cat(&[&template[..8], &b2(policy), &template[10..]])
}

/// inSensitive, inPublic, outsideInfo, creationPCR.
fn create_params(auth: &[u8], data: &[u8], template: &[u8]) -> Vec<u8> {
    let pcrs = [0, 0, 0, 1, 0, 0x0b, 3, 0x83, 0, 0]; // SHA-256 PCRs 0, 1, 7
    cat(&[
        &b2(&cat(&[&b2(auth), &b2(data)])),
        &b2(template),
        &b2(b"info"),
        &pcrs,
    ])
}

fn create_primary_cmd(hierarchy: TpmHandle, data: &[u8], template: &[u8]) -> Vec<u8> {
    command(
        TpmCc::CREATE_PRIMARY,
        &[hierarchy],
        1,
        &create_params(&[], data, template),
    )
}

/// The handle a successful response returns.
fn handle_of(rsp: &[u8], cc: TpmCc) -> TpmHandle {
    assert_eq!(rc_of(rsp), TpmRc::SUCCESS, "{cc}");
    Response::parse(rsp, cc).unwrap().handle.unwrap()
}

/// The public area with `unique` emptied (what does not depend on the TPM's keys).
fn without_unique(mut p: TpmtPublic) -> TpmtPublic {
    p.detail = PublicDetail::with_empty_unique(p.detail.parameters());
    p
}

fn unique_len(p: &TpmtPublic) -> Vec<usize> {
    match &p.detail {
        PublicDetail::Rsa { unique, .. } => vec![unique.len()],
        PublicDetail::Ecc { unique, .. } => vec![unique.x.len(), unique.y.len()],
        PublicDetail::KeyedHash { unique, .. } | PublicDetail::SymCipher { unique, .. } => {
            vec![unique.len()]
        }
    }
}

/// Compares two successful TPM2_CreatePrimary responses: everything except the key-dependent
/// values must be equal.
fn compare_create_primary(what: &str, a: &[u8], b: &[u8]) {
    assert_eq!(a.len(), b.len(), "{what}: response sizes");
    let parse = |rsp: &[u8]| {
        let r = Response::parse(rsp, TpmCc::CREATE_PRIMARY).unwrap();
        let mut p = tpm2::Reader::new(r.parameters);
        let public = Tpm2bPublic::unmarshal(&mut p).unwrap().public_area;
        let creation = Tpm2bCreationData::unmarshal(&mut p).unwrap();
        let hash = Tpm2bDigest::unmarshal(&mut p).unwrap();
        let ticket = TpmtTkCreation::unmarshal(&mut p).unwrap();
        let name = Tpm2bName::unmarshal(&mut p).unwrap();
        assert!(p.is_empty());
        (public, creation, hash, ticket, name)
    };
    let (pa, ca, ha, ta, na) = parse(a);
    let (pb, cb, hb, tb, nb) = parse(b);
    assert_eq!(unique_len(&pa), unique_len(&pb), "{what}: unique sizes");
    assert_eq!(
        without_unique(pa),
        without_unique(pb),
        "{what}: public area"
    );
    assert_eq!(ca, cb, "{what}: creation data");
    assert_eq!(ha, hb, "{what}: creation hash");
    assert_eq!(ta.hierarchy, tb.hierarchy, "{what}: ticket hierarchy");
    assert_eq!(ta.digest.len(), tb.digest.len(), "{what}: ticket size");
    assert_eq!(na.len(), nb.len(), "{what}: Name size");
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/// Valid templates (inSensitive.data, template).
fn good_templates() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    vec![
        ("RSA-2048 storage key", vec![], rsa(STORAGE, &cfb(), &NULL)),
        (
            "RSA-1024 storage key, AES-256",
            vec![],
            rsa_t(STORAGE, &aes(256, 0x43), &NULL, 1024, 0, &[]),
        ),
        (
            "RSA storage key, CBC mode",
            vec![],
            rsa(STORAGE, &aes(128, 0x42), &NULL),
        ),
        (
            "RSA storage key, SHA-1 Name",
            vec![],
            with_name_alg(&rsa(STORAGE, &cfb(), &NULL), 0x04),
        ),
        (
            "RSA storage key, SHA-384 Name",
            vec![],
            with_name_alg(&rsa(STORAGE, &cfb(), &NULL), 0x0c),
        ),
        (
            "RSA storage key, stClear",
            vec![],
            rsa(STORAGE | ST_CLEAR, &cfb(), &NULL),
        ),
        (
            "RSA storage key with unique",
            vec![],
            rsa_t(STORAGE, &cfb(), &NULL, 2048, 0, &[0x80; 256]),
        ),
        (
            "RSA storage key, policy",
            vec![],
            with_policy(&rsa(STORAGE, &cfb(), &NULL), &[1; 32]),
        ),
        ("RSA signing key", vec![], rsa(SIGN_KEY, &NULL, &NULL)),
        (
            "RSA restricted RSASSA",
            vec![],
            rsa(SIGN_KEY | RESTRICTED, &NULL, &RSASSA),
        ),
        (
            "RSA RSAPSS",
            vec![],
            rsa(SIGN_KEY, &NULL, &[0, 0x16, 0, 0x0b]),
        ),
        (
            "RSA RSAES",
            vec![],
            rsa(FIXED | SDO | UWA | DECRYPT, &NULL, &[0, 0x15]),
        ),
        (
            "RSA exponent 65539",
            vec![],
            rsa_t(SIGN_KEY, &NULL, &NULL, 2048, 65539, &[]),
        ),
        (
            "RSA sign+decrypt",
            vec![],
            rsa(SIGN_KEY | DECRYPT, &NULL, &NULL),
        ),
        (
            "RSA duplicable",
            vec![],
            rsa(SDO | UWA | SIGN | ENC_DUP, &NULL, &NULL),
        ),
        ("ECC storage key", vec![], ecc(STORAGE, &cfb(), &NULL)),
        ("ECC ECDSA", vec![], ecc(SIGN_KEY, &NULL, &ECDSA)),
        (
            "ECC ECDH",
            vec![],
            ecc(FIXED | SDO | UWA | DECRYPT, &NULL, &ECDH),
        ),
        (
            "ECC ECDAA",
            vec![],
            ecc(SIGN_KEY, &NULL, &[0, 0x1a, 0, 0x0b, 0, 0]),
        ),
        ("HMAC key", vec![], keyedhash(SIGN_KEY, &HMAC)),
        (
            "HMAC key with data",
            vec![7; 32],
            keyedhash(FIXED | UWA | SIGN, &HMAC),
        ),
        (
            "sealed data",
            b"secret".to_vec(),
            keyedhash(FIXED | UWA, &NULL),
        ),
        (
            "sealed 128 bytes",
            vec![1; 128],
            keyedhash(FIXED | UWA, &NULL),
        ),
        ("derivation parent", vec![], keyedhash(STORAGE, &XOR_108)),
        (
            "keyed-hash XOR decrypt",
            vec![],
            keyedhash(FIXED | SDO | UWA | DECRYPT, &XOR_108),
        ),
        (
            "AES-128 CFB",
            vec![],
            symcipher(FIXED | SDO | UWA | SIGN | DECRYPT, &cfb()),
        ),
        (
            "AES-256 CTR",
            vec![],
            symcipher(FIXED | SDO | UWA | SIGN | DECRYPT, &aes(256, 0x40)),
        ),
        (
            "AES mode NULL",
            vec![],
            symcipher(FIXED | SDO | UWA | SIGN | DECRYPT, &aes(128, 0x10)),
        ),
        (
            "AES CMAC signing",
            vec![],
            symcipher(SIGN_KEY, &aes(128, 0x3f)),
        ),
        ("AES storage key", vec![], symcipher(STORAGE, &cfb())),
        (
            "AES key with data",
            vec![9; 16],
            symcipher(FIXED | UWA | DECRYPT, &cfb()),
        ),
        (
            "x509sign on storage key",
            vec![],
            rsa(STORAGE | (1 << 19), &cfb(), &NULL),
        ),
    ]
}

/// Invalid templates (inSensitive.data, template, expected code from both).
fn bad_templates() -> Vec<(&'static str, Vec<u8>, Vec<u8>, TpmRc)> {
    let p2 = |rc: TpmRc| rc.with_parameter(2);
    vec![
        (
            "fixedTPM without fixedParent",
            vec![],
            rsa(STORAGE & !FIXED_PARENT, &cfb(), &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "fixedParent without fixedTPM",
            vec![],
            rsa(STORAGE & !FIXED_TPM, &cfb(), &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "restricted sign and decrypt",
            vec![],
            rsa(STORAGE | SIGN, &cfb(), &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "restricted, neither sign nor decrypt",
            vec![],
            rsa(STORAGE & !DECRYPT, &cfb(), &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "RSA neither sign nor decrypt",
            vec![],
            rsa(FIXED | SDO | UWA, &NULL, &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "storage key without symmetric",
            vec![],
            rsa(STORAGE, &NULL, &NULL),
            p2(TpmRc::SYMMETRIC),
        ),
        (
            "signing key with symmetric",
            vec![],
            rsa(SIGN_KEY, &cfb(), &NULL),
            p2(TpmRc::SYMMETRIC),
        ),
        (
            "restricted signing key without scheme",
            vec![],
            rsa(SIGN_KEY | RESTRICTED, &NULL, &NULL),
            p2(TpmRc::SCHEME),
        ),
        (
            "signing key with OAEP",
            vec![],
            rsa(SIGN_KEY, &NULL, &OAEP),
            p2(TpmRc::SCHEME),
        ),
        (
            "decryption key with RSASSA",
            vec![],
            rsa(FIXED | SDO | UWA | DECRYPT, &NULL, &RSASSA),
            p2(TpmRc::SCHEME),
        ),
        (
            "sign+decrypt with a scheme",
            vec![],
            rsa(SIGN_KEY | DECRYPT, &NULL, &RSASSA),
            p2(TpmRc::SCHEME),
        ),
        (
            "storage key with OAEP",
            vec![],
            rsa(STORAGE, &cfb(), &OAEP),
            p2(TpmRc::SCHEME),
        ),
        (
            "RSA without sensitiveDataOrigin",
            vec![],
            rsa(STORAGE & !SDO, &cfb(), &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "RSA with data, no sensitiveDataOrigin",
            b"abcd".to_vec(),
            rsa(STORAGE & !SDO, &cfb(), &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "nameAlg SM3",
            vec![],
            with_name_alg(&rsa(STORAGE, &cfb(), &NULL), 0x12),
            p2(TpmRc::HASH),
        ),
        (
            "nameAlg NULL",
            vec![],
            with_name_alg(&rsa(STORAGE, &cfb(), &NULL), 0x10),
            p2(TpmRc::HASH),
        ),
        (
            "nameAlg RSA",
            vec![],
            with_name_alg(&rsa(STORAGE, &cfb(), &NULL), 0x01),
            p2(TpmRc::HASH),
        ),
        (
            "RSA-1000",
            vec![],
            rsa_t(STORAGE, &cfb(), &NULL, 1000, 0, &[]),
            p2(TpmRc::VALUE),
        ),
        (
            "RSA-4096",
            vec![],
            rsa_t(STORAGE, &cfb(), &NULL, 4096, 0, &[]),
            p2(TpmRc::VALUE),
        ),
        (
            "exponent 3",
            vec![],
            rsa_t(STORAGE, &cfb(), &NULL, 2048, 3, &[]),
            TpmRc::RANGE,
        ),
        (
            "exponent 65536",
            vec![],
            rsa_t(STORAGE, &cfb(), &NULL, 2048, 65536, &[]),
            TpmRc::RANGE,
        ),
        (
            "exponent 65541 (not prime)",
            vec![],
            rsa_t(STORAGE, &cfb(), &NULL, 2048, 65541, &[]),
            TpmRc::RANGE,
        ),
        (
            "authPolicy of 5 bytes",
            vec![],
            with_policy(&rsa(STORAGE, &cfb(), &NULL), b"12345"),
            p2(TpmRc::SIZE),
        ),
        (
            "authPolicy of 32 bytes, SHA-1 Name",
            vec![],
            with_policy(&with_name_alg(&rsa(STORAGE, &cfb(), &NULL), 4), &[1; 32]),
            p2(TpmRc::SIZE),
        ),
        (
            "encryptedDuplication with fixedTPM",
            vec![],
            rsa(STORAGE | ENC_DUP, &cfb(), &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "AES-192 storage key",
            vec![],
            rsa(STORAGE, &aes(192, 0x43), &NULL),
            p2(TpmRc::VALUE),
        ),
        (
            "AES-100",
            vec![],
            rsa(STORAGE, &aes(100, 0x43), &NULL),
            p2(TpmRc::VALUE),
        ),
        (
            "SM4 storage key",
            vec![],
            rsa(STORAGE, &[0, 0x13, 0, 128, 0, 0x43], &NULL),
            p2(TpmRc::SYMMETRIC),
        ),
        (
            "XOR as object cipher",
            vec![],
            rsa(STORAGE, &[0, 0x0a, 0, 0x0b, 0, 0x43], &NULL),
            p2(TpmRc::SYMMETRIC),
        ),
        (
            "unknown cipher",
            vec![],
            rsa(STORAGE, &[0, 0x01, 0, 128, 0, 0x43], &NULL),
            p2(TpmRc::SYMMETRIC),
        ),
        (
            "bad cipher mode",
            vec![],
            rsa(STORAGE, &aes(128, 0x01), &NULL),
            p2(TpmRc::MODE),
        ),
        (
            "RSA key with ECDSA scheme",
            vec![],
            rsa(SIGN_KEY, &NULL, &ECDSA),
            p2(TpmRc::VALUE),
        ),
        (
            "RSASSA with hash NULL",
            vec![],
            rsa(SIGN_KEY, &NULL, &[0, 0x14, 0, 0x10]),
            p2(TpmRc::HASH),
        ),
        (
            "ECC curve NONE",
            vec![],
            ecc_t(STORAGE, &cfb(), &NULL, 0, &NULL, &[], &[]),
            p2(TpmRc::CURVE),
        ),
        (
            "ECC curve 0x99",
            vec![],
            ecc_t(STORAGE, &cfb(), &NULL, 0x99, &NULL, &[], &[]),
            p2(TpmRc::CURVE),
        ),
        (
            "ECC with KDF1_SP800_108",
            vec![],
            ecc_t(STORAGE, &cfb(), &NULL, 3, &[0, 0x22, 0, 0x0b], &[], &[]),
            p2(TpmRc::KDF),
        ),
        (
            "ECC with MGF1",
            vec![],
            ecc_t(STORAGE, &cfb(), &NULL, 3, &[0, 0x07, 0, 0x0b], &[], &[]),
            p2(TpmRc::KDF),
        ),
        (
            "ECC signing key with ECDH",
            vec![],
            ecc(SIGN_KEY, &NULL, &ECDH),
            p2(TpmRc::SCHEME),
        ),
        (
            "ECC decryption key with ECDSA",
            vec![],
            ecc(FIXED | SDO | UWA | DECRYPT, &NULL, &ECDSA),
            p2(TpmRc::SCHEME),
        ),
        (
            "ECC storage key with ECDH",
            vec![],
            ecc(STORAGE, &cfb(), &ECDH),
            p2(TpmRc::SCHEME),
        ),
        (
            "ECC restricted signing key without scheme",
            vec![],
            ecc(SIGN_KEY | RESTRICTED, &NULL, &NULL),
            p2(TpmRc::SCHEME),
        ),
        (
            "ECC key with RSASSA",
            vec![],
            ecc(SIGN_KEY, &NULL, &RSASSA),
            p2(TpmRc::SCHEME),
        ),
        (
            "ECC key with scheme 0x0001",
            vec![],
            ecc(SIGN_KEY, &NULL, &[0, 1]),
            p2(TpmRc::SCHEME),
        ),
        (
            "HMAC key with XOR",
            vec![],
            keyedhash(SIGN_KEY, &XOR_108),
            p2(TpmRc::SCHEME),
        ),
        (
            "keyed-hash with RSASSA",
            vec![],
            keyedhash(SIGN_KEY, &RSASSA),
            p2(TpmRc::VALUE),
        ),
        (
            "sealed data generated by the TPM",
            vec![],
            keyedhash(FIXED | SDO | UWA, &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "sealed data with HMAC scheme",
            b"x".to_vec(),
            keyedhash(FIXED | UWA, &HMAC),
            p2(TpmRc::SCHEME),
        ),
        (
            "sealed data with XOR scheme",
            b"x".to_vec(),
            keyedhash(FIXED | UWA, &XOR_108),
            p2(TpmRc::SCHEME),
        ),
        (
            "sealed object without data",
            vec![],
            keyedhash(FIXED | UWA, &NULL),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "derivation parent with KDF1_SP800_56A",
            vec![],
            keyedhash(STORAGE, &[0, 0x0a, 0, 0x0b, 0, 0x20]),
            p2(TpmRc::SCHEME),
        ),
        (
            "keyed-hash decryption key with HMAC",
            vec![],
            keyedhash(FIXED | SDO | UWA | DECRYPT, &HMAC),
            p2(TpmRc::SCHEME),
        ),
        (
            "HMAC key of 65 bytes",
            vec![b'a'; 65],
            keyedhash(FIXED | UWA | SIGN, &HMAC),
            TpmRc::SIZE,
        ),
        (
            "sealed data of 129 bytes",
            vec![b'a'; 129],
            keyedhash(FIXED | UWA, &NULL),
            TpmRc::SIZE.with_parameter(1),
        ),
        (
            "restricted HMAC key with data",
            vec![b'k'; 32],
            keyedhash(FIXED | UWA | SIGN | RESTRICTED, &HMAC),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "AES key of 10 bytes",
            vec![b'k'; 10],
            symcipher(FIXED | UWA | DECRYPT | SIGN, &cfb()),
            TpmRc::KEY_SIZE,
        ),
        (
            "AES-128 key of 32 bytes",
            vec![b'k'; 32],
            symcipher(FIXED | UWA | DECRYPT | SIGN, &cfb()),
            TpmRc::KEY_SIZE,
        ),
        (
            "AES decryption key in CMAC mode",
            vec![],
            symcipher(FIXED | SDO | UWA | DECRYPT | SIGN, &aes(128, 0x3f)),
            p2(TpmRc::SCHEME),
        ),
        (
            "AES key neither sign nor decrypt",
            vec![],
            symcipher(FIXED | SDO | UWA, &cfb()),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "AES-192 key",
            vec![],
            symcipher(FIXED | SDO | UWA | DECRYPT, &aes(192, 0x43)),
            p2(TpmRc::VALUE),
        ),
        (
            "symcipher with NULL cipher",
            vec![],
            cat(&[
                &symcipher(FIXED | SDO | UWA | DECRYPT, &cfb())[..10],
                &NULL,
                &b2(&[]),
            ]),
            p2(TpmRc::SYMMETRIC),
        ),
        (
            "restricted AES key with fixed data",
            vec![b'k'; 16],
            symcipher(FIXED | UWA | RESTRICTED | DECRYPT, &cfb()),
            p2(TpmRc::ATTRIBUTES),
        ),
        (
            "object type 6",
            vec![],
            cat(&[&[0, 6], &rsa(STORAGE, &cfb(), &NULL)[2..]]),
            p2(TpmRc::TYPE),
        ),
        (
            "reserved attribute bit 0",
            vec![],
            rsa(STORAGE | 1, &cfb(), &NULL),
            p2(TpmRc::RESERVED_BITS),
        ),
        (
            "reserved attribute bit 3",
            vec![],
            rsa(STORAGE | 8, &cfb(), &NULL),
            p2(TpmRc::RESERVED_BITS),
        ),
        (
            "RSA unique of 513 bytes",
            vec![],
            rsa_t(STORAGE, &cfb(), &NULL, 2048, 0, &[0x80; 513]),
            p2(TpmRc::SIZE),
        ),
        (
            "keyed-hash unique of 70 bytes",
            vec![],
            keyedhash_u(SIGN_KEY, &HMAC, &[1; 70]),
            p2(TpmRc::SIZE),
        ),
        (
            "byte after the public area",
            vec![],
            cat(&[&rsa(STORAGE, &cfb(), &NULL), &[0]]),
            p2(TpmRc::SIZE),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn create_primary_templates_match_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    for (what, data, template) in good_templates() {
        let cmd = create_primary_cmd(OWNER, &data, &template);
        let (a, b) = pair.same_rc(what, &cmd);
        assert_eq!(rc_of(&a), TpmRc::SUCCESS, "{what}");
        compare_create_primary(what, &a, &b);
        pair.flush_all();
    }
    // The endorsement, platform and NULL hierarchies: same layout, ticket hierarchy included.
    for h in [TpmHandle::ENDORSEMENT, PLATFORM, TpmHandle::NULL] {
        let cmd = create_primary_cmd(h, &[], &ecc(STORAGE, &cfb(), &NULL));
        let (a, b) = pair.same_rc("hierarchies", &cmd);
        compare_create_primary("hierarchies", &a, &b);
        pair.flush_all();
    }
    for (what, data, template, want) in bad_templates() {
        let cmd = create_primary_cmd(OWNER, &data, &template);
        let (a, _) = pair.same_rc(what, &cmd);
        assert_eq!(rc_of(&a), want, "{what}");
    }
    // Sensitive-area errors (parameter 1) and a bad hierarchy handle.
    let t = rsa_t(STORAGE, &cfb(), &NULL, 1024, 0, &[]);
    let long_auth = command(
        TpmCc::CREATE_PRIMARY,
        &[OWNER],
        1,
        &create_params(&[b'a'; 33], &[], &t),
    );
    pair.same_rc("authValue of 33 bytes", &long_auth);
    let mut padded = vec![b'a'; 32];
    padded.extend_from_slice(&[0, 0]);
    let ok = command(
        TpmCc::CREATE_PRIMARY,
        &[OWNER],
        1,
        &create_params(&padded, &[], &t),
    );
    pair.same_rc("authValue with trailing zeros", &ok);
    pair.flush_all();
    let lockout = command(
        TpmCc::CREATE_PRIMARY,
        &[TpmHandle::LOCKOUT],
        1,
        &create_params(&[], &[], &t),
    );
    pair.same_rc("lockout as hierarchy", &lockout);
    let trailing = command(
        TpmCc::CREATE_PRIMARY,
        &[OWNER],
        1,
        &cat(&[
            &b2(&cat(&[&b2(&[]), &b2(&[]), &[0]])),
            &b2(&t),
            &b2(&[]),
            &[0, 0, 0, 0],
        ]),
    );
    pair.same_rc("byte after the sensitive area", &trailing);
}

#[test]
fn object_memory_matches_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let t = keyedhash(SIGN_KEY, &HMAC);
    for _ in 0..3 {
        let (a, _) = pair.same_rc("fill", &create_primary_cmd(OWNER, &[], &t));
        assert_eq!(rc_of(&a), TpmRc::SUCCESS);
    }
    let (a, _) = pair.same_rc("fourth primary", &create_primary_cmd(OWNER, &[], &t));
    assert_eq!(rc_of(&a), TpmRc::OBJECT_MEMORY);
}

/// Creates a storage primary in both; returns (ours, swtpm's) handles (always 0x80000000).
fn storage_primaries(pair: &mut Pair) -> TpmHandle {
    let (a, b) = pair.same_rc(
        "primary",
        &create_primary_cmd(OWNER, &[], &rsa(STORAGE, &cfb(), &NULL)),
    );
    let h = handle_of(&a, TpmCc::CREATE_PRIMARY);
    assert_eq!(h, handle_of(&b, TpmCc::CREATE_PRIMARY));
    h
}

/// outPrivate and outPublic of a successful TPM2_Create response.
fn created(rsp: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let r = Response::parse(rsp, TpmCc::CREATE).unwrap();
    let mut p = tpm2::Reader::new(r.parameters);
    let private = Tpm2bPrivate::unmarshal(&mut p).unwrap();
    let public = Tpm2bPublic::unmarshal(&mut p).unwrap();
    (
        tpm2::Marshal::to_bytes(&private),
        tpm2::Marshal::to_bytes(&public),
    )
}

#[test]
fn create_under_a_parent_matches_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let parent = storage_primaries(&mut pair);
    let create = |data: &[u8], t: &[u8]| {
        command(TpmCc::CREATE, &[parent], 1, &create_params(b"pw", data, t))
    };
    let children: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "RSA-2048 signing key",
            vec![],
            rsa(SIGN_KEY, &NULL, &RSASSA),
        ),
        (
            "RSA-1024 decryption key",
            vec![],
            rsa_t(FIXED | SDO | UWA | DECRYPT, &NULL, &OAEP, 1024, 0, &[]),
        ),
        ("RSA child storage key", vec![], rsa(STORAGE, &cfb(), &NULL)),
        ("ECC signing key", vec![], ecc(SIGN_KEY, &NULL, &ECDSA)),
        ("ECC storage key", vec![], ecc(STORAGE, &cfb(), &NULL)),
        ("HMAC key", vec![], keyedhash(SIGN_KEY, &HMAC)),
        (
            "sealed data",
            b"the secret".to_vec(),
            keyedhash(FIXED | UWA, &NULL),
        ),
        (
            "AES key",
            vec![],
            symcipher(FIXED | SDO | UWA | DECRYPT | SIGN, &aes(256, 0x43)),
        ),
        (
            "duplicable key",
            vec![],
            rsa(SDO | UWA | SIGN, &NULL, &NULL),
        ),
    ];
    for (what, data, t) in &children {
        let (a, b) = pair.same_rc(what, &create(data, t));
        assert_eq!(rc_of(&a), TpmRc::SUCCESS, "{what}");
        let (priv_a, pub_a) = created(&a);
        let (priv_b, pub_b) = created(&b);
        // Same TPM2B_PRIVATE layout, hence the same size; same public area but the key.
        assert_eq!(priv_a.len(), priv_b.len(), "{what}: outPrivate size");
        let pa = Tpm2bPublic::from_bytes(&pub_a).unwrap().public_area;
        let pb = Tpm2bPublic::from_bytes(&pub_b).unwrap().public_area;
        assert_eq!(without_unique(pa), without_unique(pb), "{what}");
        // Each loads under its own parent; ReadPublic agrees on the sizes.
        let load = |private: &[u8], public: &[u8]| {
            command(TpmCc::LOAD, &[parent], 1, &cat(&[private, public]))
        };
        let la = pair.ours(&load(&priv_a, &pub_a));
        let lb = pair.swtpm(&load(&priv_b, &pub_b));
        assert_eq!(
            (rc_of(&la), rc_of(&lb)),
            (TpmRc::SUCCESS, TpmRc::SUCCESS),
            "{what}: load"
        );
        assert_eq!(la.len(), lb.len(), "{what}: load response");
        let h = handle_of(&la, TpmCc::LOAD);
        // Tampering with the private area is an integrity error in both.
        let mut bad_a = priv_a.clone();
        let mut bad_b = priv_b.clone();
        let i = bad_a.len() - 3;
        bad_a[i] ^= 1;
        bad_b[i] ^= 1;
        let ta = pair.ours(&load(&bad_a, &pub_a));
        let tb = pair.swtpm(&load(&bad_b, &pub_b));
        assert_eq!(rc_of(&ta), rc_of(&tb), "{what}: tampered");
        assert_eq!(rc_of(&ta), TpmRc::INTEGRITY.with_parameter(1));
        // Another public area does not fit the private one.
        let ca = pair.ours(&load(&priv_a, &pub_b));
        let cb = pair.swtpm(&load(&priv_b, &pub_a));
        assert_eq!(rc_of(&ca), rc_of(&cb), "{what}: crossed");
        let flush = command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.0.to_be_bytes());
        pair.both(&flush);
    }
    // Errors under a parent.
    let bad: Vec<(&str, Vec<u8>, Vec<u8>, TpmRc)> = vec![
        (
            "data with sensitiveDataOrigin",
            vec![b'k'; 32],
            keyedhash(SIGN_KEY, &HMAC),
            TpmRc::ATTRIBUTES.with_parameter(2),
        ),
        (
            "child storage key with another cipher",
            vec![],
            rsa(STORAGE, &aes(256, 0x43), &NULL),
            TpmRc::SYMMETRIC.with_parameter(2),
        ),
        (
            "child storage key with another nameAlg",
            vec![],
            with_name_alg(&rsa(STORAGE, &cfb(), &NULL), 4),
            TpmRc::HASH.with_parameter(2),
        ),
        (
            "fixedParent without fixedTPM",
            vec![],
            rsa(SDO | UWA | SIGN | FIXED_PARENT, &NULL, &NULL),
            TpmRc::ATTRIBUTES.with_parameter(2),
        ),
        (
            "RSA exponent 5",
            vec![],
            rsa_t(SIGN_KEY, &NULL, &NULL, 1024, 5, &[]),
            TpmRc::RANGE,
        ),
        (
            "AES key of 20 bytes",
            vec![1; 20],
            symcipher(FIXED | UWA | DECRYPT, &cfb()),
            TpmRc::KEY_SIZE,
        ),
    ];
    for (what, data, t, want) in &bad {
        let (a, _) = pair.same_rc(what, &create(data, t));
        assert_eq!(rc_of(&a), *want, "{what}");
    }
    // A parent that is not a storage key; an empty private.
    let (a, _) = pair.same_rc(
        "HMAC primary",
        &create_primary_cmd(OWNER, &[], &keyedhash(SIGN_KEY, &HMAC)),
    );
    let signer = handle_of(&a, TpmCc::CREATE_PRIMARY);
    let c = command(
        TpmCc::CREATE,
        &[signer],
        1,
        &create_params(&[], &[], &keyedhash(SIGN_KEY, &HMAC)),
    );
    let (a, _) = pair.same_rc("Create under a signing key", &c);
    assert_eq!(rc_of(&a), TpmRc::TYPE.with_handle(1));
    let (a, b) = pair.same_rc(
        "Create for the load test",
        &create(&[], &keyedhash(SIGN_KEY, &HMAC)),
    );
    let (_, pub_a) = created(&a);
    let (_, pub_b) = created(&b);
    let ea = pair.ours(&command(
        TpmCc::LOAD,
        &[parent],
        1,
        &cat(&[&[0, 0], &pub_a]),
    ));
    let eb = pair.swtpm(&command(
        TpmCc::LOAD,
        &[parent],
        1,
        &cat(&[&[0, 0], &pub_b]),
    ));
    assert_eq!(
        (rc_of(&ea), rc_of(&eb)),
        (TpmRc::SIZE.with_parameter(1), TpmRc::SIZE.with_parameter(1))
    );
    let trunc = cat(&[&b2(&[0, 5, 1]), &pub_a]);
    let (a, _) = pair.same_rc(
        "truncated integrity",
        &command(TpmCc::LOAD, &[parent], 1, &trunc),
    );
    assert_eq!(rc_of(&a), TpmRc::INSUFFICIENT.with_parameter(1));
    let short = cat(&[&b2(&[0, 1, 0]), &pub_a]);
    let (a, _) = pair.same_rc(
        "one-byte integrity",
        &command(TpmCc::LOAD, &[parent], 1, &short),
    );
    assert_eq!(rc_of(&a), TpmRc::INTEGRITY.with_parameter(1));
}

#[test]
fn object_change_auth_matches_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let parent = storage_primaries(&mut pair);
    let t = keyedhash(SIGN_KEY, &HMAC);
    let (a, b) = pair.same_rc(
        "create",
        &command(TpmCc::CREATE, &[parent], 1, &create_params(&[], &[], &t)),
    );
    let (priv_a, pub_a) = created(&a);
    let (priv_b, pub_b) = created(&b);
    let la = pair.ours(&command(
        TpmCc::LOAD,
        &[parent],
        1,
        &cat(&[&priv_a, &pub_a]),
    ));
    let lb = pair.swtpm(&command(
        TpmCc::LOAD,
        &[parent],
        1,
        &cat(&[&priv_b, &pub_b]),
    ));
    let key = handle_of(&la, TpmCc::LOAD);
    assert_eq!(key, handle_of(&lb, TpmCc::LOAD));
    let change = |obj: TpmHandle, par: TpmHandle, auth: &[u8]| {
        command(TpmCc::OBJECT_CHANGE_AUTH, &[obj, par], 1, &b2(auth))
    };
    let (a, b) = pair.same_rc("change", &change(key, parent, b"new"));
    assert_eq!(rc_of(&a), TpmRc::SUCCESS);
    let out_a = Response::parse(&a, TpmCc::OBJECT_CHANGE_AUTH)
        .unwrap()
        .parameters
        .to_vec();
    let out_b = Response::parse(&b, TpmCc::OBJECT_CHANGE_AUTH)
        .unwrap()
        .parameters
        .to_vec();
    assert_eq!(out_a.len(), out_b.len());
    let (a, _) = pair.same_rc("wrong parent", &change(key, key, b"x"));
    assert_eq!(rc_of(&a), TpmRc::TYPE.with_handle(2));
    let (a, _) = pair.same_rc("primary", &change(parent, parent, b"x"));
    assert_eq!(rc_of(&a), TpmRc::TYPE.with_handle(2));
    let (a, _) = pair.same_rc("long auth", &change(key, parent, &[1; 33]));
    assert_eq!(rc_of(&a), TpmRc::SIZE.with_parameter(1));
    // The new private area loads, in both.
    let np_a = Tpm2bPrivate::from_bytes(&out_a).unwrap();
    let np_b = Tpm2bPrivate::from_bytes(&out_b).unwrap();
    pair.both(&command(TpmCc::FLUSH_CONTEXT, &[], 0, &key.0.to_be_bytes()));
    let la = pair.ours(&command(
        TpmCc::LOAD,
        &[parent],
        1,
        &cat(&[&tpm2::Marshal::to_bytes(&np_a), &pub_a]),
    ));
    let lb = pair.swtpm(&command(
        TpmCc::LOAD,
        &[parent],
        1,
        &cat(&[&tpm2::Marshal::to_bytes(&np_b), &pub_b]),
    ));
    assert_eq!((rc_of(&la), rc_of(&lb)), (TpmRc::SUCCESS, TpmRc::SUCCESS));
}

fn load_external(private: &[u8], public: &[u8], hierarchy: TpmHandle) -> Vec<u8> {
    command(
        TpmCc::LOAD_EXTERNAL,
        &[],
        0,
        &cat(&[&b2(private), &b2(public), &hierarchy.0.to_be_bytes()]),
    )
}

fn rng(label: &[u8]) -> KdfaStream {
    KdfaStream::new(HashAlg::Sha256, b"objects_vs_swtpm", label, b"", b"")
}

#[test]
fn load_external_and_read_public_are_identical() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let key = RsaPrivate::generate(2048, 0, &mut rng(b"rsa")).unwrap();
    let n = key.public().modulus();
    let ek = EccPrivate::derive(Curve::NistP256, &mut rng(b"ecc")).unwrap();
    let q = ek.public();
    let seed = [b's'; 32];
    let aes_key = [b'k'; 16];
    let sym_unique = digest(HashAlg::Sha256, &[&seed, &aes_key]);
    let publics: Vec<(&str, Vec<u8>)> = vec![
        (
            "RSA signing key",
            rsa_t(UWA | SIGN, &NULL, &NULL, 2048, 0, &n),
        ),
        (
            "RSA RSASSA restricted",
            rsa_t(UWA | SIGN | RESTRICTED, &NULL, &RSASSA, 2048, 0, &n),
        ),
        (
            "RSA storage key (public)",
            rsa_t(STORAGE, &cfb(), &NULL, 2048, 0, &n),
        ),
        (
            "RSA exponent 7",
            rsa_t(UWA | SIGN, &NULL, &NULL, 2048, 7, &n),
        ),
        (
            "RSA SHA-1 Name",
            with_name_alg(&rsa_t(UWA | DECRYPT, &NULL, &OAEP, 2048, 0, &n), 4),
        ),
        (
            "RSA SHA-384 Name",
            with_name_alg(&rsa_t(UWA | DECRYPT, &NULL, &NULL, 2048, 0, &n), 0x0c),
        ),
        (
            "RSA SHA-512 Name",
            with_name_alg(&rsa_t(UWA | DECRYPT, &NULL, &NULL, 2048, 0, &n), 0x0d),
        ),
        (
            "RSA NULL Name",
            with_name_alg(&rsa_t(UWA | SIGN, &NULL, &NULL, 2048, 0, &n), 0x10),
        ),
        (
            "RSA policy",
            with_policy(&rsa_t(UWA | SIGN, &NULL, &NULL, 2048, 0, &n), &[3; 32]),
        ),
        (
            "RSA neither sign nor decrypt",
            rsa_t(UWA, &NULL, &NULL, 2048, 0, &n),
        ),
        (
            "ECC ECDSA",
            ecc_t(UWA | SIGN, &NULL, &ECDSA, 3, &NULL, &q.x, &q.y),
        ),
        (
            "ECC ECDH",
            ecc_t(UWA | DECRYPT, &NULL, &ECDH, 3, &NULL, &q.x, &q.y),
        ),
        (
            "AES key (public)",
            cat(&[&symcipher(UWA | DECRYPT, &cfb())[..16], &b2(&sym_unique)]),
        ),
        (
            "HMAC key (public)",
            keyedhash_u(UWA | SIGN, &HMAC, &sym_unique),
        ),
    ];
    for (what, public) in &publics {
        for hierarchy in [OWNER, TpmHandle::NULL] {
            let rsp = pair.same(what, &load_external(&[], public, hierarchy));
            let h = handle_of(&rsp, TpmCc::LOAD_EXTERNAL);
            let rp = pair.same(what, &command(TpmCc::READ_PUBLIC, &[h], 0, &[]));
            assert_eq!(rc_of(&rp), TpmRc::SUCCESS);
            pair.same(
                what,
                &command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.0.to_be_bytes()),
            );
        }
    }
    // With the private part (NULL hierarchy only), and the errors.
    let rsa_sens = |prime: &[u8]| cat(&[&[0, 1], &b2(b"pw"), &b2(&[]), &b2(prime)]);
    let rsa_pub = rsa_t(UWA | SIGN, &NULL, &NULL, 2048, 0, &n);
    let other = RsaPrivate::generate(2048, 0, &mut rng(b"other")).unwrap();
    let ecc_sens = |d: &[u8]| cat(&[&[0, 0x23], &b2(&[]), &b2(&[]), &b2(d)]);
    let ecc_pub = ecc_t(UWA | SIGN, &NULL, &NULL, 3, &NULL, &q.x, &q.y);
    let mut five = [0u8; 32];
    five[31] = 5;
    let sym_pub =
        |unique: &[u8]| cat(&[&symcipher(UWA | DECRYPT | SIGN, &cfb())[..16], &b2(unique)]);
    let sym_sens = |k: &[u8], s: &[u8]| cat(&[&[0, 0x25], &b2(&[]), &b2(s), &b2(k)]);
    let hmac_sens = |k: &[u8], s: &[u8]| cat(&[&[0, 8], &b2(&[]), &b2(s), &b2(k)]);
    let big = [b'h'; 65];
    let cases: Vec<(&str, Vec<u8>, Vec<u8>, TpmHandle)> = vec![
        (
            "RSA key pair",
            rsa_sens(&key.prime()),
            rsa_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "RSA key pair, owner hierarchy",
            rsa_sens(&key.prime()),
            rsa_pub.clone(),
            OWNER,
        ),
        (
            "RSA key pair, fixedTPM",
            rsa_sens(&key.prime()),
            rsa_t(UWA | SIGN | FIXED, &NULL, &NULL, 2048, 0, &n),
            TpmHandle::NULL,
        ),
        (
            "RSA key pair, restricted",
            rsa_sens(&key.prime()),
            rsa_t(UWA | SIGN | RESTRICTED, &NULL, &RSASSA, 2048, 0, &n),
            TpmHandle::NULL,
        ),
        (
            "RSA wrong prime",
            rsa_sens(&other.prime()),
            rsa_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "RSA short prime",
            rsa_sens(&key.prime()[..100]),
            rsa_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "RSA authValue of 33 bytes",
            cat(&[&[0, 1], &b2(&[1; 33]), &b2(&[]), &b2(&key.prime())]),
            rsa_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "RSA seedValue of 33 bytes",
            cat(&[&[0, 1], &b2(&[]), &b2(&[1; 33]), &b2(&key.prime())]),
            rsa_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "RSA NULL Name with private",
            rsa_sens(&key.prime()),
            with_name_alg(&rsa_pub, 0x10),
            TpmHandle::NULL,
        ),
        (
            "sensitive of another type",
            ecc_sens(&[1; 32]),
            rsa_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "RSA modulus too short",
            vec![],
            rsa_t(UWA | SIGN, &NULL, &NULL, 2048, 0, &n[..200]),
            OWNER,
        ),
        (
            "RSA modulus top bit clear",
            vec![],
            rsa_t(UWA | SIGN, &NULL, &NULL, 2048, 0, &cat(&[&[1], &n[1..]])),
            OWNER,
        ),
        (
            "RSA exponent 3",
            vec![],
            rsa_t(UWA | SIGN, &NULL, &NULL, 2048, 3, &n),
            OWNER,
        ),
        (
            "RSA signing key with symmetric",
            vec![],
            rsa_t(UWA | SIGN, &cfb(), &NULL, 2048, 0, &n),
            OWNER,
        ),
        (
            "RSA restricted signing key without scheme",
            vec![],
            rsa_t(UWA | SIGN | RESTRICTED, &NULL, &NULL, 2048, 0, &n),
            OWNER,
        ),
        (
            "bad hierarchy",
            vec![],
            rsa_pub.clone(),
            TpmHandle(0x4000_000a),
        ),
        (
            "ECC key pair",
            ecc_sens(&ek.scalar()),
            ecc_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "ECC wrong scalar",
            ecc_sens(&five),
            ecc_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "ECC zero scalar",
            ecc_sens(&[0; 32]),
            ecc_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "ECC scalar above the order",
            ecc_sens(&[0xff; 32]),
            ecc_pub.clone(),
            TpmHandle::NULL,
        ),
        (
            "ECC point off the curve",
            vec![],
            ecc_t(UWA | SIGN, &NULL, &NULL, 3, &NULL, &q.x, &five),
            OWNER,
        ),
        (
            "ECC short x",
            vec![],
            ecc_t(UWA | SIGN, &NULL, &NULL, 3, &NULL, &q.x[..31], &q.y),
            OWNER,
        ),
        (
            "ECC off the curve, NULL Name",
            vec![],
            with_name_alg(
                &ecc_t(UWA | SIGN, &NULL, &NULL, 3, &NULL, &q.x, &five),
                0x10,
            ),
            OWNER,
        ),
        (
            "ECC private with off-curve point",
            ecc_sens(&ek.scalar()),
            ecc_t(UWA | SIGN, &NULL, &NULL, 3, &NULL, &q.x, &five),
            TpmHandle::NULL,
        ),
        (
            "AES key",
            sym_sens(&aes_key, &seed),
            sym_pub(&sym_unique),
            TpmHandle::NULL,
        ),
        (
            "AES key, wrong unique",
            sym_sens(&aes_key, &seed),
            sym_pub(&[b'u'; 32]),
            TpmHandle::NULL,
        ),
        (
            "AES key of 10 bytes",
            sym_sens(&aes_key[..10], &seed),
            sym_pub(&sym_unique),
            TpmHandle::NULL,
        ),
        (
            "AES seed of 20 bytes",
            sym_sens(&aes_key, &seed[..20]),
            sym_pub(&sym_unique),
            TpmHandle::NULL,
        ),
        (
            "AES public only, unique of 20 bytes",
            vec![],
            sym_pub(&sym_unique[..20]),
            OWNER,
        ),
        (
            "AES NULL Name with private",
            sym_sens(&aes_key, &seed),
            with_name_alg(&sym_pub(&sym_unique), 0x10),
            TpmHandle::NULL,
        ),
        (
            "HMAC key of 65 bytes",
            hmac_sens(&big, &seed),
            keyedhash_u(UWA | SIGN, &HMAC, &digest(HashAlg::Sha256, &[&seed, &big])),
            TpmHandle::NULL,
        ),
        (
            "sealed data",
            hmac_sens(b"data", &seed),
            keyedhash_u(UWA, &NULL, &digest(HashAlg::Sha256, &[&seed, b"data"])),
            TpmHandle::NULL,
        ),
    ];
    for (what, private, public, hierarchy) in &cases {
        let rsp = pair.same(what, &load_external(private, public, *hierarchy));
        if rc_of(&rsp) == TpmRc::SUCCESS {
            let h = handle_of(&rsp, TpmCc::LOAD_EXTERNAL);
            pair.same(what, &command(TpmCc::READ_PUBLIC, &[h], 0, &[]));
            pair.same(
                what,
                &command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.0.to_be_bytes()),
            );
        }
    }
}

/// A change made to a saved context.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

/// The TPMS_CONTEXT of a successful ContextSave.
fn context_of(rsp: &[u8]) -> Vec<u8> {
    assert_eq!(rc_of(rsp), TpmRc::SUCCESS, "ContextSave");
    Response::parse(rsp, TpmCc::CONTEXT_SAVE)
        .unwrap()
        .parameters
        .to_vec()
}

fn context_load(context: &[u8]) -> Vec<u8> {
    command(TpmCc::CONTEXT_LOAD, &[], 0, context)
}

#[test]
fn contexts_match_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let parent = storage_primaries(&mut pair);
    let (a, b) = pair.both(&command(TpmCc::CONTEXT_SAVE, &[parent], 0, &[]));
    let (ca, cb) = (context_of(&a), context_of(&b));
    // Same framing: savedHandle and hierarchy agree (sequence numbers and blobs are private).
    assert_eq!(ca[8..16], cb[8..16]);
    pair.same(
        "flush",
        &command(TpmCc::FLUSH_CONTEXT, &[], 0, &parent.0.to_be_bytes()),
    );
    let (a, b) = (
        pair.ours(&context_load(&ca)),
        pair.swtpm(&context_load(&cb)),
    );
    assert_eq!((rc_of(&a), rc_of(&b)), (TpmRc::SUCCESS, TpmRc::SUCCESS));
    assert_eq!(
        handle_of(&a, TpmCc::CONTEXT_LOAD),
        handle_of(&b, TpmCc::CONTEXT_LOAD)
    );
    let (a, b) = pair.same_rc("read back", &command(TpmCc::READ_PUBLIC, &[parent], 0, &[]));
    assert_eq!((rc_of(&a), a.len()), (TpmRc::SUCCESS, b.len()));
    // Tampering, in each TPM's own context.
    let tamper = |c: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = c.to_vec();
        f(&mut v);
        context_load(&v)
    };
    let edits: Vec<(&str, Edit)> = vec![
        (
            "last byte",
            Box::new(|v: &mut Vec<u8>| *v.last_mut().unwrap() ^= 1),
        ),
        ("integrity byte", Box::new(|v: &mut Vec<u8>| v[20] ^= 1)),
        ("sequence", Box::new(|v: &mut Vec<u8>| v[7] ^= 1)),
        (
            "hierarchy",
            Box::new(|v: &mut Vec<u8>| v[12..16].copy_from_slice(&[0x40, 0, 0, 0x0b])),
        ),
        (
            "savedHandle 0x80000002",
            Box::new(|v: &mut Vec<u8>| v[11] = 2),
        ),
        (
            "savedHandle 0x80000003",
            Box::new(|v: &mut Vec<u8>| v[11] = 3),
        ),
        (
            "integrity of 32 bytes",
            Box::new(|v: &mut Vec<u8>| {
                v.truncate(16);
                v.extend_from_slice(&b2(&cat(&[&b2(&[0; 32]), &[0; 40]])));
            }),
        ),
        (
            "only an integrity value",
            Box::new(|v: &mut Vec<u8>| {
                v.truncate(16);
                v.extend_from_slice(&b2(&b2(&[0; 64])));
            }),
        ),
    ];
    for (what, edit) in &edits {
        let a = pair.ours(&tamper(&ca, edit.as_ref()));
        let b = pair.swtpm(&tamper(&cb, edit.as_ref()));
        assert_eq!(
            rc_of(&a),
            rc_of(&b),
            "{what}: ours {} / swtpm {}",
            rc_of(&a),
            rc_of(&b)
        );
        assert_ne!(rc_of(&a), TpmRc::SUCCESS, "{what}");
    }
    // Handles ContextSave and FlushContext do not take.
    for h in [
        0x8000_0005u32,
        0x8000_0002,
        0x8100_0001,
        0x4000_0001,
        0x0200_0000,
        0x0200_0040,
    ] {
        pair.same_rc(
            &format!("ContextSave {h:#x}"),
            &command(TpmCc::CONTEXT_SAVE, &[TpmHandle(h)], 0, &[]),
        );
        pair.same_rc(
            &format!("FlushContext {h:#x}"),
            &command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.to_be_bytes()),
        );
    }
    for h in [0x8000_0003u32, 0x0300_0000, 0x0300_0040, 0x0100_0000] {
        pair.same_rc(
            &format!("FlushContext {h:#x}"),
            &command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.to_be_bytes()),
        );
    }
    // Loaded objects that are not parents; ReadPublic of absent objects.
    for h in [0x8000_0001u32, 0x8000_0005, 0x8100_0001] {
        pair.same_rc(
            &format!("ReadPublic {h:#x}"),
            &command(TpmCc::READ_PUBLIC, &[TpmHandle(h)], 0, &[]),
        );
    }
}

/// Starts an unsalted, unbound HMAC session in both (same handle).
fn start_session(pair: &mut Pair) -> TpmHandle {
    let params = cat(&[&b2(&[7; 16]), &b2(&[]), &[0], &NULL, &[0, 0x0b]]);
    let cmd = command(
        TpmCc::START_AUTH_SESSION,
        &[TpmHandle::NULL, TpmHandle::NULL],
        0,
        &params,
    );
    let (a, b) = pair.both(&cmd);
    let h = handle_of(&a, TpmCc::START_AUTH_SESSION);
    assert_eq!(h, handle_of(&b, TpmCc::START_AUTH_SESSION));
    h
}

#[test]
fn session_contexts_match_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let s = start_session(&mut pair);
    let save = command(TpmCc::CONTEXT_SAVE, &[s], 0, &[]);
    let (a, b) = pair.both(&save);
    let (c1a, c1b) = (context_of(&a), context_of(&b));
    assert_eq!(c1a[8..16], c1b[8..16], "savedHandle and hierarchy");
    // A saved session is not loaded.
    pair.same_rc("save a saved session", &save);
    let each = |pair: &mut Pair, what: &str, ca: &[u8], cb: &[u8]| {
        let a = pair.ours(&context_load(ca));
        let b = pair.swtpm(&context_load(cb));
        assert_eq!(
            rc_of(&a),
            rc_of(&b),
            "{what}: ours {} / swtpm {}",
            rc_of(&a),
            rc_of(&b)
        );
        rc_of(&a)
    };
    assert_eq!(each(&mut pair, "load", &c1a, &c1b), TpmRc::SUCCESS);
    assert_eq!(
        each(&mut pair, "load while loaded", &c1a, &c1b),
        TpmRc::HANDLE.with_parameter(1)
    );
    let (a, b) = pair.both(&save);
    let (c2a, c2b) = (context_of(&a), context_of(&b));
    assert_eq!(
        each(&mut pair, "stale context", &c1a, &c1b),
        TpmRc::HANDLE.with_parameter(1)
    );
    let mut t2a = c2a.clone();
    let mut t2b = c2b.clone();
    *t2a.last_mut().unwrap() ^= 1;
    *t2b.last_mut().unwrap() ^= 1;
    assert_eq!(
        each(&mut pair, "tampered", &t2a, &t2b),
        TpmRc::INTEGRITY.with_parameter(1)
    );
    assert_eq!(
        each(&mut pair, "current context", &c2a, &c2b),
        TpmRc::SUCCESS
    );
    let (a, b) = pair.both(&save);
    let (c3a, c3b) = (context_of(&a), context_of(&b));
    pair.same(
        "flush a saved session",
        &command(TpmCc::FLUSH_CONTEXT, &[], 0, &s.0.to_be_bytes()),
    );
    assert_eq!(
        each(&mut pair, "flushed session", &c3a, &c3b),
        TpmRc::HANDLE.with_parameter(1)
    );
    pair.same_rc(
        "flush again",
        &command(TpmCc::FLUSH_CONTEXT, &[], 0, &s.0.to_be_bytes()),
    );
}

fn evict(auth: TpmHandle, object: TpmHandle, persistent: u32) -> Vec<u8> {
    command(
        TpmCc::EVICT_CONTROL,
        &[auth, object],
        1,
        &persistent.to_be_bytes(),
    )
}

#[test]
fn evict_control_matches_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let parent = storage_primaries(&mut pair);
    let ok = |pair: &mut Pair, what: &str, cmd: Vec<u8>| {
        let (a, _) = pair.same_rc(what, &cmd);
        assert_eq!(rc_of(&a), TpmRc::SUCCESS, "{what}");
    };
    let fails = |pair: &mut Pair, what: &str, cmd: Vec<u8>, want: TpmRc| {
        let (a, _) = pair.same_rc(what, &cmd);
        assert_eq!(rc_of(&a), want, "{what}");
    };
    ok(&mut pair, "persist", evict(OWNER, parent, 0x8100_0001));
    // The persistent copy reads back the same in both.
    let a = pair.ours(&command(
        TpmCc::READ_PUBLIC,
        &[TpmHandle(0x8100_0001)],
        0,
        &[],
    ));
    let b = pair.swtpm(&command(
        TpmCc::READ_PUBLIC,
        &[TpmHandle(0x8100_0001)],
        0,
        &[],
    ));
    assert_eq!((rc_of(&a), a.len()), (rc_of(&b), b.len()));
    fails(
        &mut pair,
        "taken",
        evict(OWNER, parent, 0x8100_0001),
        TpmRc::NV_DEFINED,
    );
    fails(
        &mut pair,
        "platform range",
        evict(OWNER, parent, 0x8180_0001),
        TpmRc::RANGE.with_parameter(1),
    );
    fails(
        &mut pair,
        "platform auth, owner object",
        evict(PLATFORM, parent, 0x8180_0001),
        TpmRc::HIERARCHY.with_handle(2),
    );
    fails(
        &mut pair,
        "persistent mismatch",
        evict(OWNER, TpmHandle(0x8100_0001), 0x8100_0002),
        TpmRc::HANDLE.with_handle(2),
    );
    fails(
        &mut pair,
        "not a persistent handle",
        evict(OWNER, parent, 0x8000_0001),
        TpmRc::VALUE.with_parameter(1),
    );
    fails(
        &mut pair,
        "absent object",
        evict(OWNER, TpmHandle(0x8100_0009), 0x8100_0009),
        TpmRc::HANDLE.with_handle(2),
    );
    pair.same_rc(
        "ContextSave of a persistent object",
        &command(TpmCc::CONTEXT_SAVE, &[TpmHandle(0x8100_0001)], 0, &[]),
    );
    ok(
        &mut pair,
        "delete",
        evict(OWNER, TpmHandle(0x8100_0001), 0x8100_0001),
    );
    pair.flush_all();
    // Objects that cannot be made persistent.
    let (a, _) = pair.same_rc(
        "NULL primary",
        &create_primary_cmd(TpmHandle::NULL, &[], &keyedhash(SIGN_KEY, &HMAC)),
    );
    let h = handle_of(&a, TpmCc::CREATE_PRIMARY);
    fails(
        &mut pair,
        "NULL hierarchy object",
        evict(OWNER, h, 0x8100_0003),
        TpmRc::ATTRIBUTES.with_handle(2),
    );
    pair.flush_all();
    let (a, _) = pair.same_rc(
        "stClear primary",
        &create_primary_cmd(OWNER, &[], &keyedhash(SIGN_KEY | ST_CLEAR, &HMAC)),
    );
    let h = handle_of(&a, TpmCc::CREATE_PRIMARY);
    fails(
        &mut pair,
        "stClear object",
        evict(OWNER, h, 0x8100_0003),
        TpmRc::ATTRIBUTES.with_handle(2),
    );
    pair.flush_all();
    let key = RsaPrivate::generate(1024, 0, &mut rng(b"evict")).unwrap();
    let public = rsa_t(UWA | SIGN, &NULL, &NULL, 1024, 0, &key.public().modulus());
    let rsp = pair.same("public key", &load_external(&[], &public, OWNER));
    let h = handle_of(&rsp, TpmCc::LOAD_EXTERNAL);
    fails(
        &mut pair,
        "public-only object",
        evict(OWNER, h, 0x8100_0003),
        TpmRc::ATTRIBUTES.with_handle(2),
    );
    pair.flush_all();
    // Platform objects need platformAuth and the platform range.
    let (a, _) = pair.same_rc(
        "platform primary",
        &create_primary_cmd(PLATFORM, &[], &keyedhash(SIGN_KEY, &HMAC)),
    );
    let h = handle_of(&a, TpmCc::CREATE_PRIMARY);
    fails(
        &mut pair,
        "platform object, owner auth",
        evict(OWNER, h, 0x8100_0003),
        TpmRc::HIERARCHY.with_handle(2),
    );
    fails(
        &mut pair,
        "platform object, owner range",
        evict(PLATFORM, h, 0x8100_0003),
        TpmRc::RANGE.with_parameter(1),
    );
    ok(
        &mut pair,
        "platform object",
        evict(PLATFORM, h, 0x8180_0003),
    );
    pair.flush_all();
    ok(
        &mut pair,
        "platform deletes",
        evict(PLATFORM, TpmHandle(0x8180_0003), 0x8180_0003),
    );
}

#[test]
fn tpms_ecc_point_is_the_wire_form() {
    // The test helpers and the tpm2 crate agree on the ECC template layout.
    let t = ecc_t(UWA | SIGN, &NULL, &ECDSA, 3, &NULL, &[1; 32], &[2; 32]);
    let p = TpmtPublic::from_bytes(&t).unwrap();
    let PublicDetail::Ecc { unique, .. } = p.detail else {
        panic!()
    };
    assert_eq!(
        unique,
        TpmsEccPoint {
            x: tpm2::structures::Tpm2bEccParameter::new(&[1; 32]).unwrap(),
            y: tpm2::structures::Tpm2bEccParameter::new(&[2; 32]).unwrap(),
        }
    );
}

fn create_loaded(parent: TpmHandle, data: &[u8], template: &[u8]) -> Vec<u8> {
    command(
        TpmCc::CREATE_LOADED,
        &[parent],
        1,
        &cat(&[&b2(&cat(&[&b2(b"pw"), &b2(data)])), &b2(template)]),
    )
}

/// The derivation form of an ECC signing template: unique is TPMS_DERIVE(label, context).
fn derived_ecc(attrs: u32, label: &[u8], context: &[u8]) -> Vec<u8> {
    let mut t = ecc(attrs, &NULL, &ECDSA);
    t.truncate(t.len() - 4);
    cat(&[&t, &b2(label), &b2(context)])
}

#[test]
fn create_loaded_matches_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let parent = storage_primaries(&mut pair);
    let sizes = |rsp: &[u8]| {
        let r = Response::parse(rsp, TpmCc::CREATE_LOADED).unwrap();
        let mut p = tpm2::Reader::new(r.parameters);
        let private = Tpm2bPrivate::unmarshal(&mut p).unwrap();
        let public = Tpm2bPublic::unmarshal(&mut p).unwrap().public_area;
        let name = Tpm2bName::unmarshal(&mut p).unwrap();
        assert!(p.is_empty());
        (private.len(), without_unique(public), name.len(), r.handle)
    };
    for (what, data, t) in [
        ("HMAC key", vec![], keyedhash(SIGN_KEY, &HMAC)),
        (
            "sealed data",
            b"secret".to_vec(),
            keyedhash(FIXED | UWA, &NULL),
        ),
        ("ECC signing key", vec![], ecc(SIGN_KEY, &NULL, &ECDSA)),
        (
            "RSA-1024 signing key",
            vec![],
            rsa_t(SIGN_KEY, &NULL, &RSASSA, 1024, 0, &[]),
        ),
    ] {
        for p in [parent, OWNER, TpmHandle::NULL] {
            let (a, b) = pair.same_rc(what, &create_loaded(p, &data, &t));
            assert_eq!(rc_of(&a), TpmRc::SUCCESS, "{what}");
            let (sa, sb) = (sizes(&a), sizes(&b));
            assert_eq!(sa, sb, "{what} under {p:?}");
            let h = handle_of(&a, TpmCc::CREATE_LOADED);
            pair.same(
                "flush",
                &command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.0.to_be_bytes()),
            );
        }
    }
    // Errors under a storage parent and under a hierarchy.
    for p in [parent, OWNER] {
        let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
            (
                "bad attributes",
                vec![],
                rsa(STORAGE & !FIXED_PARENT, &cfb(), &NULL),
            ),
            (
                "byte after the template",
                vec![],
                cat(&[&keyedhash(SIGN_KEY, &HMAC), &[0]]),
            ),
            (
                "RSA-4096",
                vec![],
                rsa_t(SIGN_KEY, &NULL, &NULL, 4096, 0, &[]),
            ),
            (
                "nameAlg NULL",
                vec![],
                with_name_alg(&keyedhash(SIGN_KEY, &HMAC), 0x10),
            ),
            (
                "data with sensitiveDataOrigin",
                vec![1; 32],
                keyedhash(SIGN_KEY, &HMAC),
            ),
            ("sealed without data", vec![], keyedhash(FIXED | UWA, &NULL)),
            (
                "AES key of 10 bytes",
                vec![1; 10],
                symcipher(FIXED | UWA | DECRYPT, &cfb()),
            ),
        ];
        for (what, data, t) in &cases {
            let (a, _) = pair.same_rc(what, &create_loaded(p, data, t));
            // (With a hierarchy as parent, data with sensitiveDataOrigin is accepted by both.)
            let _ = a;
            pair.flush_all();
            if p == parent {
                // The storage parent was flushed with the rest: make it again.
                storage_primaries(&mut pair);
            }
        }
    }
    pair.flush_all();
    // A derivation parent: the errors of derivation (the derived keys themselves are this
    // engine's own and are not compared).
    let (a, _) = pair.same_rc(
        "derivation parent",
        &create_primary_cmd(OWNER, &[], &keyedhash(STORAGE, &XOR_108)),
    );
    let dp = handle_of(&a, TpmCc::CREATE_PRIMARY);
    let fixed_sign = FIXED | UWA | SIGN;
    let derived: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "derived ECC key",
            vec![],
            derived_ecc(fixed_sign, b"label", b"context"),
        ),
        (
            "derived key with sensitiveDataOrigin",
            vec![],
            derived_ecc(fixed_sign | SDO, b"l", b"c"),
        ),
        (
            "derived key not fixedParent",
            vec![],
            derived_ecc(UWA | SIGN, b"l", b"c"),
        ),
        (
            "derived RSA key",
            vec![],
            cat(&[
                &rsa_t(fixed_sign, &NULL, &NULL, 2048, 0, &[])[..20],
                &b2(b"l"),
                &b2(b"c"),
            ]),
        ),
        ("ordinary template", vec![], ecc(fixed_sign, &NULL, &ECDSA)),
    ];
    for (what, data, t) in &derived {
        let (a, b) = pair.same_rc(what, &create_loaded(dp, data, t));
        if rc_of(&a) == TpmRc::SUCCESS {
            let (sa, sb) = (sizes(&a), sizes(&b));
            assert_eq!(sa, sb, "{what}");
            assert_eq!(sa.0, 0, "{what}: no outPrivate");
            let h = handle_of(&a, TpmCc::CREATE_LOADED);
            pair.same(
                "flush",
                &command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.0.to_be_bytes()),
            );
        }
    }
    // TPM2_Create and TPM2_Load do not take a derivation parent.
    let c = command(
        TpmCc::CREATE,
        &[dp],
        1,
        &create_params(&[], &[], &keyedhash(SIGN_KEY, &HMAC)),
    );
    pair.same_rc("Create under a derivation parent", &c);
}

#[test]
fn sequence_objects_match_swtpm() {
    let mut pair = Pair::new(b"objects_vs_swtpm");
    let start = command(
        TpmCc::HASH_SEQUENCE_START,
        &[],
        0,
        &cat(&[&b2(&[]), &[0, 0x0b]]),
    );
    let (a, _) = pair.same_rc("HashSequenceStart", &start);
    let h = handle_of(&a, TpmCc::HASH_SEQUENCE_START);
    let (a, _) = pair.same_rc(
        "ReadPublic of a sequence",
        &command(TpmCc::READ_PUBLIC, &[h], 0, &[]),
    );
    assert_eq!(rc_of(&a), TpmRc::SEQUENCE);
    let (a, b) = pair.both(&command(TpmCc::CONTEXT_SAVE, &[h], 0, &[]));
    let (ca, cb) = (context_of(&a), context_of(&b));
    assert_eq!(
        ca[8..16],
        cb[8..16],
        "savedHandle 0x80000001, hierarchy TPM_RH_NULL"
    );
    assert_eq!(&ca[8..12], &[0x80, 0, 0, 1]);
    let (a, _) = pair.same_rc("EvictControl of a sequence", &evict(OWNER, h, 0x8100_0001));
    assert_eq!(rc_of(&a), TpmRc::ATTRIBUTES.with_handle(2));
    pair.same(
        "flush",
        &command(TpmCc::FLUSH_CONTEXT, &[], 0, &h.0.to_be_bytes()),
    );
    // The saved sequence comes back and can be completed.
    let (a, b) = (
        pair.ours(&context_load(&ca)),
        pair.swtpm(&context_load(&cb)),
    );
    assert_eq!((rc_of(&a), rc_of(&b)), (TpmRc::SUCCESS, TpmRc::SUCCESS));
    let complete = command(
        TpmCc::SEQUENCE_COMPLETE,
        &[h],
        1,
        &cat(&[&b2(b"abc"), &TpmHandle::NULL.0.to_be_bytes()]),
    );
    let (a, b) = pair.both(&complete);
    assert_eq!(rc_of(&a), TpmRc::SUCCESS);
    // The digest (SHA-256 of "abc") is the same; the NULL ticket too.
    let da = Response::parse(&a, TpmCc::SEQUENCE_COMPLETE)
        .unwrap()
        .parameters
        .to_vec();
    let db = Response::parse(&b, TpmCc::SEQUENCE_COMPLETE)
        .unwrap()
        .parameters
        .to_vec();
    assert_eq!(da, db);
    assert_eq!(&da[2..34], &digest(HashAlg::Sha256, &[b"abc"])[..]);
}

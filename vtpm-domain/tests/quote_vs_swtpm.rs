#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! TPM2_Quote (TCG TPM 2.0 Library part 3 §18.4, TPMS_ATTEST of part 2 §10.12) on our engine
//! side by side with swtpm: the same keys (given in the clear with TPM2_LoadExternal, or
//! primary keys each TPM derives from its own seeds), the same PCR values and the same
//! commands go to both, then
//!
//! - every command is accepted or refused by both with the identical response code (handle or
//!   parameter number included);
//! - the attestation structures agree field by field where they do not depend on the TPM's
//!   own state: magic, type, qualifiedSigner (same key), extraData, pcrSelect, pcrDigest;
//!   for an endorsement-hierarchy key (no obfuscation) also resetCount, restartCount, safe;
//! - each TPM's signature over its own attestation verifies with the other TPM's
//!   TPM2_VerifySignature (same key) or, for primary keys, with the `p256` crate and the
//!   public key the TPM returned.
//!
//! swtpm must be installed: a missing binary fails the tests.

use sha2::Digest;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::st::{TpmEccCurve, TpmSt};
use tpm2::structures::{
    PublicDetail, Tpm2bAttest, Tpm2bAuth, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter,
    Tpm2bPrivateKeyRsa, Tpm2bPublic, Tpm2bPublicKeyRsa, Tpm2bSecretDigest, Tpm2bSecretEccParameter,
    Tpm2bSensitive, Tpm2bSensitiveData, TpmaObject, TpmlPcrSelection, TpmsAttest, TpmsEccParms,
    TpmsEccPoint, TpmsKeyedhashParms, TpmsPcrSelection, TpmsRsaParms, TpmsSchemeHash,
    TpmtEccScheme, TpmtKdfScheme, TpmtKeyedhashScheme, TpmtPublic, TpmtRsaScheme, TpmtSensitive,
    TpmtSigScheme, TpmtSignature, TpmtSymDefObject, TpmuAttest, TpmuSensitiveComposite,
};
use tpm2::{Marshal, Reader, Unmarshal};
use vtpm_domain::engine::crypto::hash::digest;
use vtpm_domain::engine::crypto::{Curve, EccPrivate, HashAlg, KdfaStream, RsaPrivate};

#[path = "support/pair.rs"]
mod pair;
use pair::{Pair, pw, rc_of};

const USER: u32 = TpmaObject::USER_WITH_AUTH;
const SIGN: u32 = TpmaObject::SIGN | USER;
const DECRYPT: u32 = TpmaObject::DECRYPT | USER;
const SHA1: TpmAlgId = TpmAlgId::SHA1;
const SHA256: TpmAlgId = TpmAlgId::SHA256;
const SHA384: TpmAlgId = TpmAlgId::SHA384;
const SHA512: TpmAlgId = TpmAlgId::SHA512;

fn rng(label: &[u8]) -> KdfaStream {
    KdfaStream::new(HashAlg::Sha256, b"quote_vs_swtpm", label, b"", b"")
}

fn scheme(hash: TpmAlgId) -> TpmsSchemeHash {
    TpmsSchemeHash { hash_alg: hash }
}

fn rsa_public(key: &RsaPrivate, attributes: u32, s: TpmtRsaScheme) -> TpmtPublic {
    TpmtPublic {
        name_alg: SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Rsa {
            parameters: TpmsRsaParms {
                symmetric: TpmtSymDefObject::Null,
                scheme: s,
                key_bits: 2048,
                exponent: 0,
            },
            unique: Tpm2bPublicKeyRsa::new(&key.public().modulus()).unwrap(),
        },
    }
}

fn ecc_public(x: &[u8], y: &[u8], attributes: u32, s: TpmtEccScheme) -> TpmtPublic {
    TpmtPublic {
        name_alg: SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::Null,
                scheme: s,
                curve_id: TpmEccCurve::NIST_P256,
                kdf: TpmtKdfScheme::Null,
            },
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::new(x).unwrap(),
                y: Tpm2bEccParameter::new(y).unwrap(),
            },
        },
    }
}

fn sensitive(composite: TpmuSensitiveComposite, seed: &[u8]) -> TpmtSensitive {
    TpmtSensitive {
        auth_value: Tpm2bAuth::empty(),
        seed_value: Tpm2bSecretDigest::new(seed).unwrap(),
        sensitive: composite,
    }
}

/// Loads the same key into both (TPM_RH_NULL); both must give the same handle.
fn load(p: &mut Pair, sens: Option<TpmtSensitive>, public: TpmtPublic) -> TpmHandle {
    let mut params = Tpm2bSensitive {
        sensitive_area: sens,
    }
    .to_bytes();
    Tpm2bPublic::from(public).marshal(&mut params);
    TpmHandle::NULL.marshal(&mut params);
    let cmd = build_command(TpmCc::LOAD_EXTERNAL, &[], &[], &params).unwrap();
    let rsp = p.same("TPM2_LoadExternal", &cmd);
    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS, "TPM2_LoadExternal");
    Response::parse(&rsp, TpmCc::LOAD_EXTERNAL)
        .unwrap()
        .handle
        .unwrap()
}

fn flush(p: &mut Pair, h: TpmHandle) {
    let cmd = build_command(TpmCc::FLUSH_CONTEXT, &[], &[], &h.0.to_be_bytes()).unwrap();
    p.same("TPM2_FlushContext", &cmd);
}

fn sel(banks: &[(TpmAlgId, &[u32])]) -> TpmlPcrSelection {
    TpmlPcrSelection::new(
        banks
            .iter()
            .map(|(a, pcrs)| TpmsPcrSelection::new(*a, pcrs).unwrap())
            .collect(),
    )
    .unwrap()
}

fn quote_params(nonce: &[u8], s: &TpmtSigScheme, selection: &[u8]) -> Vec<u8> {
    let mut v = Tpm2bData::new(nonce).unwrap().to_bytes();
    s.marshal(&mut v);
    v.extend_from_slice(selection);
    v
}

fn quote_cmd(
    h: TpmHandle,
    nonce: &[u8],
    s: &TpmtSigScheme,
    selection: &TpmlPcrSelection,
) -> Vec<u8> {
    quote_raw(h, &quote_params(nonce, s, &selection.to_bytes()))
}

fn quote_raw(h: TpmHandle, params: &[u8]) -> Vec<u8> {
    build_command(TpmCc::QUOTE, &[h], &[pw()], params).unwrap()
}

/// A successful quote's attestation bytes, structure and signature.
fn parse_quote(params: &[u8]) -> (Vec<u8>, TpmsAttest, TpmtSignature) {
    let mut r = Reader::new(params);
    let quoted = Tpm2bAttest::unmarshal(&mut r).unwrap();
    let sig = TpmtSignature::unmarshal(&mut r).unwrap();
    assert!(r.is_empty(), "trailing bytes after the signature");
    let attest = TpmsAttest::from_tpm2b(&quoted).unwrap();
    (quoted.as_bytes().to_vec(), attest, sig)
}

fn quote_info(a: &TpmsAttest) -> (TpmlPcrSelection, Vec<u8>) {
    match &a.attested {
        TpmuAttest::Quote(q) => (q.pcr_select.clone(), q.pcr_digest.as_bytes().to_vec()),
        other => panic!("not a quote: {other:?}"),
    }
}

/// Runs the same quote on both, compares the TPM-independent fields and returns
/// ((ours bytes, attest, sig), (swtpm's ...)).
#[allow(clippy::type_complexity)]
fn both_quote(
    p: &mut Pair,
    what: &str,
    cmd: &[u8],
) -> (
    (Vec<u8>, TpmsAttest, TpmtSignature),
    (Vec<u8>, TpmsAttest, TpmtSignature),
) {
    let (a, b) = p.both_ok(what, TpmCc::QUOTE, cmd);
    let (ours, theirs) = (parse_quote(&a), parse_quote(&b));
    assert_eq!(ours.0[..4], [0xff, b'T', b'C', b'G'], "{what}: magic");
    assert_eq!(ours.1.tag(), TpmSt::ATTEST_QUOTE, "{what}: type");
    assert_eq!(ours.1.tag(), theirs.1.tag(), "{what}: type");
    assert_eq!(ours.1.extra_data, theirs.1.extra_data, "{what}: extraData");
    assert_eq!(
        quote_info(&ours.1),
        quote_info(&theirs.1),
        "{what}: pcrSelect, pcrDigest"
    );
    (ours, theirs)
}

fn verify_cmd(h: TpmHandle, d: &[u8], sig: &TpmtSignature) -> Vec<u8> {
    let mut v = Tpm2bDigest::new(d).unwrap().to_bytes();
    sig.marshal(&mut v);
    build_command(TpmCc::VERIFY_SIGNATURE, &[h], &[], &v).unwrap()
}

fn extend_cmd(pcr: u32, byte: u8) -> Vec<u8> {
    let mut v = 2u32.to_be_bytes().to_vec();
    v.extend_from_slice(&SHA1.0.to_be_bytes());
    v.extend_from_slice(&[byte; 20]);
    v.extend_from_slice(&SHA256.0.to_be_bytes());
    v.extend_from_slice(&[byte; 32]);
    build_command(TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], &[pw()], &v).unwrap()
}

/// A pair with swtpm's PCR banks aligned to ours (SHA-1, SHA-256, SHA-384) and some PCRs
/// extended identically.
fn pair(label: &'static [u8]) -> Pair {
    let mut p = Pair::new(label);
    let all: Vec<u32> = (0..24).collect();
    let alloc = sel(&[(SHA1, &all), (SHA256, &all), (SHA384, &all), (SHA512, &[])]);
    let cmd = build_command(
        TpmCc::PCR_ALLOCATE,
        &[TpmHandle::PLATFORM],
        &[pw()],
        &alloc.to_bytes(),
    )
    .unwrap();
    p.same("TPM2_PCR_Allocate", &cmd);
    p.power_cycle();
    let startup = build_command(TpmCc::STARTUP, &[], &[], &[0, 0]).unwrap();
    p.same("TPM2_Startup", &startup);
    for (pcr, byte) in [(0, 1), (7, 2), (16, 3), (23, 4)] {
        p.same("TPM2_PCR_Extend", &extend_cmd(pcr, byte));
    }
    p
}

#[test]
fn quotes_with_external_keys_match_swtpm() {
    let mut p = pair(b"quote_vs_swtpm external");
    let rsa = RsaPrivate::generate(2048, 0, &mut rng(b"rsa")).unwrap();
    let ecc = EccPrivate::derive(Curve::NistP256, &mut rng(b"ecc")).unwrap();
    let pt = ecc.public();
    let selection = sel(&[(SHA256, &[0, 7, 16, 23]), (SHA1, &[0, 1]), (SHA384, &[7])]);
    let nonce = b"quote_vs_swtpm nonce";
    let cases: Vec<(&str, TpmtPublic, TpmuSensitiveComposite, TpmtSigScheme)> = vec![
        (
            "RSASSA-SHA256 key",
            rsa_public(&rsa, SIGN, TpmtRsaScheme::Rsassa(scheme(SHA256))),
            TpmuSensitiveComposite::Rsa(Tpm2bPrivateKeyRsa::new(&rsa.prime()).unwrap()),
            TpmtSigScheme::Null,
        ),
        (
            "RSA key, RSAPSS-SHA384 given",
            rsa_public(&rsa, SIGN, TpmtRsaScheme::Null),
            TpmuSensitiveComposite::Rsa(Tpm2bPrivateKeyRsa::new(&rsa.prime()).unwrap()),
            TpmtSigScheme::Rsapss(scheme(SHA384)),
        ),
        (
            "ECDSA-SHA256 key",
            ecc_public(&pt.x, &pt.y, SIGN, TpmtEccScheme::Ecdsa(scheme(SHA256))),
            TpmuSensitiveComposite::Ecc(Tpm2bSecretEccParameter::new(&ecc.scalar()).unwrap()),
            TpmtSigScheme::Ecdsa(scheme(SHA256)),
        ),
        (
            "ECC key, ECDSA-SHA1 given",
            ecc_public(&pt.x, &pt.y, SIGN, TpmtEccScheme::Null),
            TpmuSensitiveComposite::Ecc(Tpm2bSecretEccParameter::new(&ecc.scalar()).unwrap()),
            TpmtSigScheme::Ecdsa(scheme(SHA1)),
        ),
    ];
    for (what, public, composite, in_scheme) in cases {
        let h = load(&mut p, Some(sensitive(composite, &[])), public);
        let t0 = std::time::Instant::now();
        let (ours, theirs) = both_quote(&mut p, what, &quote_cmd(h, nonce, &in_scheme, &selection));
        eprintln!("{what}: both quotes in {:?}", t0.elapsed());
        assert_eq!(ours.1.extra_data.as_bytes(), nonce);
        // The same key in the same hierarchy: the same Qualified Name.
        assert_eq!(ours.1.qualified_signer, theirs.1.qualified_signer, "{what}");
        assert_eq!(ours.1.clock_info.safe, theirs.1.clock_info.safe, "{what}");
        // Each signature verifies on the other TPM.
        let alg = HashAlg::from_alg(ours.2.hash_alg().unwrap()).unwrap();
        let d_ours = digest(alg, &[&ours.0]);
        let d_theirs = digest(alg, &[&theirs.0]);
        let (a, b) = p.both(&verify_cmd(h, &d_ours, &ours.2));
        assert_eq!(
            (rc_of(&a), rc_of(&b)),
            (TpmRc::SUCCESS, TpmRc::SUCCESS),
            "{what}: ours"
        );
        let (a, b) = p.both(&verify_cmd(h, &d_theirs, &theirs.2));
        assert_eq!(
            (rc_of(&a), rc_of(&b)),
            (TpmRc::SUCCESS, TpmRc::SUCCESS),
            "{what}: swtpm's"
        );
        // A changed attestation does not verify.
        let mut bad = ours.0.clone();
        bad[10] ^= 1;
        let (a, b) = p.both(&verify_cmd(h, &digest(alg, &[&bad]), &ours.2));
        assert_eq!(rc_of(&a), rc_of(&b), "{what}: tampered");
        assert_ne!(rc_of(&a), TpmRc::SUCCESS, "{what}: tampered");
        flush(&mut p, h);
    }
}

#[test]
fn hmac_key_quote_is_identical_but_for_the_clock() {
    let mut p = pair(b"quote_vs_swtpm hmac");
    let secret = [0x42u8; 32];
    let seed = [0x5au8; 32];
    let public = TpmtPublic {
        name_alg: SHA256,
        object_attributes: TpmaObject(SIGN),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms {
                scheme: TpmtKeyedhashScheme::Hmac(scheme(SHA256)),
            },
            unique: Tpm2bDigest::new(&digest(HashAlg::Sha256, &[&seed, &secret])).unwrap(),
        },
    };
    let comp = TpmuSensitiveComposite::Bits(Tpm2bSensitiveData::new(&secret).unwrap());
    let h = load(&mut p, Some(sensitive(comp, &seed)), public);
    let selection = sel(&[(SHA1, &[0, 7, 16])]);
    let cmd = quote_cmd(h, b"", &TpmtSigScheme::Null, &selection);
    let (ours, theirs) = both_quote(&mut p, "HMAC key", &cmd);
    assert!(ours.1.extra_data.is_empty());
    // The HMAC over each TPM's own attestation is checked with the hmac crate.
    for (bytes, sig) in [(&ours.0, &ours.2), (&theirs.0, &theirs.2)] {
        use hmac::Mac;
        let TpmtSignature::Hmac(ha) = sig else {
            panic!("not an HMAC signature")
        };
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
        mac.update(&sha2::Sha256::digest(bytes));
        assert_eq!(ha.digest(), &mac.finalize().into_bytes()[..]);
    }
}

/// Creates a restricted ECDSA-P256-SHA256 signing primary in `hierarchy` on both; returns
/// (handle, our public area, swtpm's public area).
fn ak(p: &mut Pair, hierarchy: TpmHandle) -> (TpmHandle, TpmtPublic, TpmtPublic) {
    let template = ecc_public(
        &[],
        &[],
        SIGN | TpmaObject::RESTRICTED
            | TpmaObject::FIXED_TPM
            | TpmaObject::FIXED_PARENT
            | TpmaObject::SENSITIVE_DATA_ORIGIN,
        TpmtEccScheme::Ecdsa(scheme(SHA256)),
    );
    let mut params = vec![0, 4, 0, 0, 0, 0]; // TPM2B_SENSITIVE_CREATE: empty auth and data
    Tpm2bPublic::from(template).marshal(&mut params);
    params.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // outsideInfo, creationPCR
    let cmd = build_command(TpmCc::CREATE_PRIMARY, &[hierarchy], &[pw()], &params).unwrap();
    let (a, b) = p.both(&cmd);
    let parse = |rsp: &[u8]| {
        assert_eq!(rc_of(rsp), TpmRc::SUCCESS, "TPM2_CreatePrimary");
        let r = Response::parse(rsp, TpmCc::CREATE_PRIMARY).unwrap();
        let public = Tpm2bPublic::unmarshal(&mut Reader::new(r.parameters))
            .unwrap()
            .public_area;
        (r.handle.unwrap(), public)
    };
    let (ha, pa) = parse(&a);
    let (hb, pb) = parse(&b);
    assert_eq!(ha, hb, "primary handles");
    (ha, pa, pb)
}

/// Checks an ECDSA P-256 signature over SHA-256(`msg`) with the `p256` crate.
fn p256_verifies(public: &TpmtPublic, msg: &[u8], sig: &TpmtSignature) -> bool {
    use p256::ecdsa::signature::Verifier;
    let PublicDetail::Ecc { unique, .. } = &public.detail else {
        panic!("not an ECC key")
    };
    let TpmtSignature::Ecdsa(s) = sig else {
        panic!("not an ECDSA signature")
    };
    let point = p256::EncodedPoint::from_affine_coordinates(
        p256::FieldBytes::from_slice(unique.x.as_bytes()),
        p256::FieldBytes::from_slice(unique.y.as_bytes()),
        false,
    );
    let vk = p256::ecdsa::VerifyingKey::from_encoded_point(&point).unwrap();
    let sig = p256::ecdsa::Signature::from_scalars(
        *p256::FieldBytes::from_slice(s.signature_r.as_bytes()),
        *p256::FieldBytes::from_slice(s.signature_s.as_bytes()),
    )
    .unwrap();
    vk.verify(msg, &sig).is_ok()
}

#[test]
fn endorsement_and_owner_primaries() {
    let mut p = pair(b"quote_vs_swtpm primaries");
    let selection = sel(&[(SHA256, &[0, 1, 2, 3, 4, 5, 6, 7])]);
    // Endorsement hierarchy: clock information in the clear, equal counts on both.
    let (h, ours_pub, theirs_pub) = ak(&mut p, TpmHandle::ENDORSEMENT);
    let cmd = quote_cmd(h, b"nonce-e", &TpmtSigScheme::Null, &selection);
    let (ours, theirs) = both_quote(&mut p, "endorsement AK", &cmd);
    assert_eq!(
        ours.1.clock_info.reset_count,
        theirs.1.clock_info.reset_count
    );
    assert_eq!(
        ours.1.clock_info.restart_count,
        theirs.1.clock_info.restart_count
    );
    assert_eq!(ours.1.clock_info.safe, theirs.1.clock_info.safe);
    eprintln!(
        "endorsement AK: ours {:?} fw {:#x}, swtpm {:?} fw {:#x}",
        ours.1.clock_info, ours.1.firmware_version, theirs.1.clock_info, theirs.1.firmware_version
    );
    assert!(p256_verifies(&ours_pub, &ours.0, &ours.2), "our quote");
    assert!(
        p256_verifies(&theirs_pub, &theirs.0, &theirs.2),
        "swtpm's quote"
    );
    assert!(!p256_verifies(&ours_pub, &theirs.0, &theirs.2), "other key");
    // A restricted key refuses another scheme, as on swtpm.
    let other = quote_cmd(h, b"n", &TpmtSigScheme::Ecdsa(scheme(SHA384)), &selection);
    p.same_error(
        "restricted AK, other hash",
        &other,
        TpmRc::SCHEME.with_parameter(2),
    );
    flush(&mut p, h);

    // Owner hierarchy: both obfuscate the counts (whose true value is known to be equal).
    let (h, ours_pub, _) = ak(&mut p, TpmHandle::OWNER);
    let cmd = quote_cmd(h, b"nonce-o", &TpmtSigScheme::Null, &selection);
    let (ours2, theirs2) = both_quote(&mut p, "owner AK", &cmd);
    assert_ne!(
        ours2.1.clock_info.reset_count,
        ours.1.clock_info.reset_count
    );
    assert_ne!(
        theirs2.1.clock_info.reset_count,
        theirs.1.clock_info.reset_count
    );
    assert!(p256_verifies(&ours_pub, &ours2.0, &ours2.2), "our quote");
    flush(&mut p, h);
}

#[test]
fn refusals_match_swtpm() {
    let mut p = pair(b"quote_vs_swtpm errors");
    let ecc = EccPrivate::derive(Curve::NistP256, &mut rng(b"ecc")).unwrap();
    let pt = ecc.public();
    let ecc_sens = || {
        Some(sensitive(
            TpmuSensitiveComposite::Ecc(Tpm2bSecretEccParameter::new(&ecc.scalar()).unwrap()),
            &[],
        ))
    };
    let selection = sel(&[(SHA256, &[0])]);
    let null = TpmtSigScheme::Null;
    let ecdsa256 = TpmtSigScheme::Ecdsa(scheme(SHA256));

    // A decryption key.
    let dec = load(
        &mut p,
        ecc_sens(),
        ecc_public(&pt.x, &pt.y, DECRYPT, TpmtEccScheme::Null),
    );
    p.same_error(
        "decrypt key",
        &quote_cmd(dec, b"n", &ecdsa256, &selection),
        TpmRc::KEY.with_handle(1),
    );
    flush(&mut p, dec);

    let key = load(
        &mut p,
        ecc_sens(),
        ecc_public(&pt.x, &pt.y, SIGN, TpmtEccScheme::Ecdsa(scheme(SHA256))),
    );
    let bare_pub = {
        let mut b = ecc_public(&pt.x, &pt.y, SIGN, TpmtEccScheme::Null);
        b.name_alg = SHA384; // another Name than `key`
        b
    };
    let bare = load(&mut p, ecc_sens(), bare_pub);
    let rsassa = TpmtSigScheme::Rsassa(scheme(SHA256));
    let q = |h, s: &TpmtSigScheme| quote_cmd(h, b"nonce", s, &selection);
    let checks: Vec<(&str, Vec<u8>, TpmRc)> = vec![
        (
            "other hash than the key's",
            q(key, &TpmtSigScheme::Ecdsa(scheme(SHA384))),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "RSA scheme on an ECC key",
            q(key, &rsassa),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "no scheme anywhere",
            q(bare, &null),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "RSA scheme on a bare ECC key",
            q(bare, &rsassa),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "TPM_RH_NULL with a scheme",
            q(TpmHandle::NULL, &ecdsa256),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "TPM_RH_NULL without",
            q(TpmHandle::NULL, &null),
            TpmRc::SCHEME.with_parameter(2),
        ),
        (
            "absent key",
            q(TpmHandle(0x8000_0002), &null),
            TpmRc(TpmRc::REFERENCE_H0.0),
        ),
        (
            "owner handle",
            q(TpmHandle::OWNER, &null),
            TpmRc::VALUE.with_handle(1),
        ),
        ("hash of the key, NULL given", q(key, &null), TpmRc::SUCCESS),
        (
            "bare key, SHA-384 given",
            q(bare, &TpmtSigScheme::Ecdsa(scheme(SHA384))),
            TpmRc::SUCCESS,
        ),
    ];
    for (what, c, want) in &checks {
        let (a, _) = p.same_rc(what, c);
        assert_eq!(rc_of(&a), *want, "{what}");
    }

    // qualifyingData: 66 bytes (sizeof TPMT_HA with SHA-512) fit, 67 do not.
    let mut big = 67u16.to_be_bytes().to_vec();
    big.extend_from_slice(&[1; 67]);
    null.marshal(&mut big);
    selection.marshal(&mut big);
    p.same_error(
        "67-byte qualifyingData",
        &quote_raw(key, &big),
        TpmRc::SIZE.with_parameter(1),
    );
    let max = quote_params(&[1; 66], &null, &selection.to_bytes());
    let (ours, theirs) = both_quote(&mut p, "66-byte qualifyingData", &quote_raw(key, &max));
    assert_eq!(ours.1.extra_data.len(), 66);
    assert_eq!(theirs.1.extra_data.len(), 66);

    // Malformed and odd selections.
    let raw: Vec<(&str, Vec<u8>)> = vec![
        ("sizeofSelect 4", vec![0, 0, 0, 1, 0, 0x0b, 4, 1, 0, 0, 0]),
        ("sizeofSelect 2", vec![0, 0, 0, 1, 0, 0x0b, 2, 1, 0]),
        ("unknown hash", vec![0, 0, 0, 1, 0, 0x99, 3, 1, 0, 0]),
        ("NULL hash", vec![0, 0, 0, 1, 0, 0x10, 3, 1, 0, 0]),
        ("five banks", vec![0, 0, 0, 5]),
        ("truncated", vec![0, 0, 0, 1, 0, 0x0b]),
        ("trailing byte", vec![0, 0, 0, 0, 0]),
    ];
    for (what, s) in &raw {
        let c = quote_raw(key, &quote_params(b"n", &null, s));
        let (a, _) = p.same_rc(what, &c);
        assert_ne!(rc_of(&a), TpmRc::SUCCESS, "{what}");
    }
    // Empty selections and unallocated banks are quoted (digest of nothing).
    let ok: Vec<(&str, Vec<u8>)> = vec![
        ("no banks", vec![0, 0, 0, 0]),
        ("empty SHA-256 bank", vec![0, 0, 0, 1, 0, 0x0b, 3, 0, 0, 0]),
        (
            "unallocated SHA-512 bank",
            vec![0, 0, 0, 1, 0, 0x0d, 3, 0xff, 0, 0],
        ),
        (
            "a bank twice",
            vec![0, 0, 0, 2, 0, 0x0b, 3, 1, 0, 0, 0, 0x0b, 3, 0x80, 0, 0],
        ),
    ];
    for (what, s) in &ok {
        both_quote(&mut p, what, &quote_raw(key, &quote_params(b"n", &null, s)));
    }
    flush(&mut p, key);
    flush(&mut p, bare);
}

#[test]
fn quote_is_listed_with_the_same_attributes() {
    let mut p = Pair::new(b"quote_vs_swtpm getcap");
    // TPM2_GetCapability(TPM_CAP_COMMANDS, TPM_CC_Quote, 1): the first TPMA_CC is Quote's.
    let mut params = 2u32.to_be_bytes().to_vec();
    params.extend_from_slice(&TpmCc::QUOTE.0.to_be_bytes());
    params.extend_from_slice(&1u32.to_be_bytes());
    let cmd = build_command(TpmCc::GET_CAPABILITY, &[], &[], &params).unwrap();
    let (a, b) = p.same_rc("GetCapability(COMMANDS)", &cmd);
    // header, moreData, capability, count, then the TPMA_CC.
    assert_eq!(a[11..23], b[11..23], "TPMA_CC of TPM2_Quote");
    assert_eq!(
        u32::from_be_bytes(a[19..23].try_into().unwrap()) & 0xffff,
        TpmCc::QUOTE.0
    );
}

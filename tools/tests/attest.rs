#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `vtpm_tools::attest::verify_quote` on quotes made by real TPMs (TCG TPM 2.0 Library part 3
//! §18.4): a private swtpm (through `vtpm_tools::swtpm` and `tpm2::client`), our engine, and the
//! manager's GET_QUOTE path (`vtpmmgr::hw::HwTpm::quote` with the AK it creates, over swtpm).
//! Good quotes verify for RSASSA, RSAPSS and ECDSA P-256 keys; a changed attestation,
//! signature, nonce, PCR value or PCR list, another key, and unsupported schemes are each
//! refused with their own error.
//!
//! swtpm must be installed: a missing binary fails the tests.

use std::time::Instant;

use sha2::{Digest, Sha256};
use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::client::Client;
use tpm2::command::build_command;
use tpm2::commands::PcrReadResponse;
use tpm2::handle::TpmHandle;
use tpm2::response::Response;
use tpm2::st::{TpmEccCurve, TpmSu};
use tpm2::structures::{
    PublicDetail, Tpm2bAttest, Tpm2bAuth, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, Tpm2bPublic,
    Tpm2bPublicKeyRsa, TpmaObject, TpmlPcrSelection, TpmsEccParms, TpmsEccPoint,
    TpmsKeyedhashParms, TpmsPcrSelection, TpmsRsaParms, TpmsSchemeHash, TpmtEccScheme,
    TpmtKdfScheme, TpmtKeyedhashScheme, TpmtPublic, TpmtRsaScheme, TpmtSigScheme, TpmtSignature,
    TpmtSymDefObject,
};
use tpm2::{Reader, Unmarshal};
use vtpm_domain::engine::{Engine, Platform};
use vtpm_tools::attest::{AttestError, PcrValue, verify_quote};
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::SwtpmTransport;

const AK: u32 = TpmaObject::SIGN
    | TpmaObject::RESTRICTED
    | TpmaObject::USER_WITH_AUTH
    | TpmaObject::FIXED_TPM
    | TpmaObject::FIXED_PARENT
    | TpmaObject::SENSITIVE_DATA_ORIGIN;
const SIGNER: u32 =
    TpmaObject::SIGN | TpmaObject::USER_WITH_AUTH | TpmaObject::SENSITIVE_DATA_ORIGIN;

/// A TPM the test talks to in raw commands.
enum Target {
    /// The client, and the process (kept alive while the client talks to it).
    Swtpm(Client<SwtpmTransport>, #[allow(dead_code)] Swtpm),
    Engine(Box<Engine>),
}

/// Our engine's platform: OS randomness would do, but a counter stream keeps runs repeatable.
struct TestPlatform(u64, Instant);

impl Platform for TestPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(32) {
            self.0 += 1;
            let block = Sha256::digest(self.0.to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }

    fn monotonic_ms(&mut self) -> u64 {
        u64::try_from(self.1.elapsed().as_millis()).unwrap()
    }
}

fn pw() -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::empty())
}

impl Target {
    fn swtpm() -> Target {
        let sw = Swtpm::spawn(SwtpmOptions::default()).unwrap_or_else(|e| {
            panic!("swtpm is required by this test (Debian package swtpm): {e}")
        });
        let mut client = Client::new(sw.connect().unwrap());
        client.startup(TpmSu::CLEAR).unwrap();
        Target::Swtpm(client, sw)
    }

    fn engine() -> Target {
        let mut e = Engine::manufacture(Box::new(TestPlatform(0, Instant::now())));
        let rsp = e.execute(
            0,
            &build_command(TpmCc::STARTUP, &[], &[], &[0, 0]).unwrap(),
        );
        assert_eq!(&rsp[6..10], &[0, 0, 0, 0], "engine TPM2_Startup");
        Target::Engine(Box::new(e))
    }

    /// Runs a command that must succeed; returns (response handle, parameters).
    fn ok(
        &mut self,
        cc: TpmCc,
        handles: &[TpmHandle],
        params: &[u8],
    ) -> (Option<TpmHandle>, Vec<u8>) {
        let sessions = if cc.info().unwrap().auth_handles > 0 {
            vec![pw()]
        } else {
            Vec::new()
        };
        let cmd = build_command(cc, handles, &sessions, params).unwrap();
        let rsp = match self {
            Target::Swtpm(c, _) => loop {
                let r = c.execute_raw(&cmd).unwrap().to_vec();
                if r[6..10] != [0, 0, 9, 0x22] {
                    break r; // not TPM_RC_RETRY
                }
            },
            Target::Engine(e) => e.execute(0, &cmd),
        };
        let r = Response::parse(&rsp, cc).unwrap();
        assert!(r.code().is_success(), "{cc}: {}", r.code());
        (r.handle, r.parameters.to_vec())
    }

    fn create_primary(
        &mut self,
        hierarchy: TpmHandle,
        template: &TpmtPublic,
    ) -> (TpmHandle, TpmtPublic) {
        let mut p = vec![0, 4, 0, 0, 0, 0];
        Tpm2bPublic::from(template.clone()).marshal(&mut p);
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let t = Instant::now();
        let (h, params) = self.ok(TpmCc::CREATE_PRIMARY, &[hierarchy], &p);
        eprintln!("CreatePrimary: {:?}", t.elapsed());
        let public = Tpm2bPublic::unmarshal(&mut Reader::new(&params)).unwrap();
        (h.unwrap(), public.public_area)
    }

    fn extend(&mut self, pcr: u32, data: &[u8]) {
        let mut p = 1u32.to_be_bytes().to_vec();
        p.extend_from_slice(&TpmAlgId::SHA256.0.to_be_bytes());
        p.extend_from_slice(&Sha256::digest(data));
        self.ok(TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], &p);
    }

    /// The values of `selection` (at most eight PCRs), as the verifier would get them.
    fn pcr_values(&mut self, selection: &TpmlPcrSelection) -> Vec<PcrValue> {
        let (_, p) = self.ok(TpmCc::PCR_READ, &[], &selection.to_bytes());
        let r = PcrReadResponse::from_bytes(&p).unwrap();
        assert_eq!(&r.pcr_selection_out, selection, "all PCRs read");
        r.pcr_selection_out
            .pairs()
            .zip(r.pcr_values.as_slice())
            .map(|((bank, index), v)| (bank, index, v.as_bytes().to_vec()))
            .collect()
    }

    fn quote(
        &mut self,
        h: TpmHandle,
        nonce: &[u8],
        scheme: &TpmtSigScheme,
        selection: &TpmlPcrSelection,
    ) -> (Vec<u8>, TpmtSignature) {
        let mut p = Tpm2bData::new(nonce).unwrap().to_bytes();
        scheme.marshal(&mut p);
        selection.marshal(&mut p);
        let (_, out) = self.ok(TpmCc::QUOTE, &[h], &p);
        let mut r = Reader::new(&out);
        let attest = Tpm2bAttest::unmarshal(&mut r).unwrap();
        let sig = TpmtSignature::unmarshal(&mut r).unwrap();
        (attest.as_bytes().to_vec(), sig)
    }
}

fn hash(alg: TpmAlgId) -> TpmsSchemeHash {
    TpmsSchemeHash { hash_alg: alg }
}

fn rsa_template(attributes: u32, scheme: TpmtRsaScheme) -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Rsa {
            parameters: TpmsRsaParms {
                symmetric: TpmtSymDefObject::Null,
                scheme,
                key_bits: 2048,
                exponent: 0,
            },
            unique: Tpm2bPublicKeyRsa::empty(),
        },
    }
}

fn ecc_template(attributes: u32, scheme: TpmtEccScheme) -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::Null,
                scheme,
                curve_id: TpmEccCurve::NIST_P256,
                kdf: TpmtKdfScheme::Null,
            },
            unique: TpmsEccPoint {
                x: Tpm2bEccParameter::empty(),
                y: Tpm2bEccParameter::empty(),
            },
        },
    }
}

fn selection() -> TpmlPcrSelection {
    TpmlPcrSelection::new(vec![
        TpmsPcrSelection::new(TpmAlgId::SHA256, &[0, 7, 16, 23]).unwrap(),
        TpmsPcrSelection::new(TpmAlgId::SHA1, &[16]).unwrap(),
    ])
    .unwrap()
}

/// Quotes with the key `h` (public area `public`) on `t`, verifies, and checks each refusal.
fn good_and_bad(
    t: &mut Target,
    what: &str,
    h: TpmHandle,
    public: &TpmtPublic,
    scheme: &TpmtSigScheme,
) {
    t.extend(16, what.as_bytes());
    t.extend(23, b"twenty-three");
    let sel = selection();
    let values = t.pcr_values(&sel);
    let nonce = Sha256::digest(what.as_bytes()).to_vec();
    let (attest, sig) = t.quote(h, &nonce, scheme, &sel);

    let started = Instant::now();
    let info = verify_quote(public, &attest, &sig, &nonce, &values)
        .unwrap_or_else(|e| panic!("{what}: a good quote is refused: {e}"));
    eprintln!("{what}: verify_quote in {:?}", started.elapsed());
    assert_eq!(info.pcr_select, sel, "{what}");
    // Values in any order.
    let mut reversed = values.clone();
    reversed.reverse();
    verify_quote(public, &attest, &sig, &nonce, &reversed).unwrap();

    let refused = |public: &TpmtPublic,
                   attest: &[u8],
                   sig: &TpmtSignature,
                   nonce: &[u8],
                   values: &[PcrValue]| {
        verify_quote(public, attest, sig, nonce, values).expect_err("must be refused")
    };
    // A changed attestation (the clock), signature, nonce.
    let mut changed = attest.clone();
    let clock_at = 4 + 2 + 2 + info.qualified_signer.len() + 2 + nonce.len();
    changed[clock_at + 7] ^= 1;
    assert_eq!(
        refused(public, &changed, &sig, &nonce, &values),
        AttestError::BadSignature,
        "{what}"
    );
    let mut bad_sig = sig.clone();
    match &mut bad_sig {
        TpmtSignature::Rsassa(s) | TpmtSignature::Rsapss(s) => {
            let mut b = s.sig.as_bytes().to_vec();
            b[100] ^= 1;
            s.sig = Tpm2bPublicKeyRsa::new(&b).unwrap();
        }
        TpmtSignature::Ecdsa(s) => {
            let mut b = s.signature_s.as_bytes().to_vec();
            b[5] ^= 1;
            s.signature_s = Tpm2bEccParameter::new(&b).unwrap();
        }
        other => panic!("unexpected signature {other:?}"),
    }
    assert_eq!(
        refused(public, &attest, &bad_sig, &nonce, &values),
        AttestError::BadSignature,
        "{what}"
    );
    assert_eq!(
        refused(public, &attest, &sig, b"another nonce", &values),
        AttestError::NonceMismatch
    );
    // Changed PCR values, one missing, one not quoted, one twice.
    let mut wrong = values.clone();
    wrong[2].2[0] ^= 1;
    assert_eq!(
        refused(public, &attest, &sig, &nonce, &wrong),
        AttestError::PcrDigestMismatch
    );
    assert_eq!(
        refused(public, &attest, &sig, &nonce, &values[1..]),
        AttestError::PcrMissing {
            bank: TpmAlgId::SHA256,
            index: 0
        }
    );
    let mut extra = values.clone();
    extra.push((TpmAlgId::SHA256, 1, vec![0; 32]));
    assert_eq!(
        refused(public, &attest, &sig, &nonce, &extra),
        AttestError::PcrNotQuoted {
            bank: TpmAlgId::SHA256,
            index: 1
        }
    );
    let mut twice = values.clone();
    twice.push(values[0].clone());
    assert_eq!(
        refused(public, &attest, &sig, &nonce, &twice),
        AttestError::PcrDuplicate {
            bank: TpmAlgId::SHA256,
            index: 0
        }
    );
    // Magic and type.
    let mut magic = attest.clone();
    magic[0] = 0;
    assert!(matches!(
        refused(public, &magic, &sig, &nonce, &values),
        AttestError::BadMagic(_)
    ));
    let mut ty = attest.clone();
    ty[5] = 0x17; // TPM_ST_ATTEST_CERTIFY
    assert_eq!(
        refused(public, &ty, &sig, &nonce, &values),
        AttestError::NotAQuote(0x8017)
    );
    assert!(matches!(
        refused(public, &attest[..attest.len() - 1], &sig, &nonce, &values),
        AttestError::Malformed(_)
    ));
}

#[test]
fn swtpm_quotes_verify() {
    let mut t = Target::swtpm();
    let cases = [
        (
            "swtpm RSASSA AK",
            TpmHandle::ENDORSEMENT,
            rsa_template(AK, TpmtRsaScheme::Rsassa(hash(TpmAlgId::SHA256))),
            TpmtSigScheme::Null,
        ),
        (
            "swtpm RSAPSS key",
            TpmHandle::OWNER,
            rsa_template(SIGNER, TpmtRsaScheme::Null),
            TpmtSigScheme::Rsapss(hash(TpmAlgId::SHA256)),
        ),
        (
            "swtpm ECDSA AK",
            TpmHandle::OWNER,
            ecc_template(AK, TpmtEccScheme::Ecdsa(hash(TpmAlgId::SHA256))),
            TpmtSigScheme::Null,
        ),
    ];
    let mut publics = Vec::new();
    for (what, hierarchy, template, scheme) in cases {
        let (h, public) = t.create_primary(hierarchy, &template);
        good_and_bad(&mut t, what, h, &public, &scheme);
        publics.push((h, public));
    }
    // Another key's public area (three transient slots: the RSA keys go).
    for (h, _) in &publics[..2] {
        t.ok(TpmCc::FLUSH_CONTEXT, &[], &h.0.to_be_bytes());
    }
    let sel = selection();
    let values = t.pcr_values(&sel);
    let (ecc_h, ecc_pub) = &publics[2];
    let (attest, sig) = t.quote(*ecc_h, b"n", &TpmtSigScheme::Null, &sel);
    let (other, _) = t.create_primary(
        TpmHandle::ENDORSEMENT,
        &ecc_template(AK, TpmtEccScheme::Ecdsa(hash(TpmAlgId::SHA256))),
    );
    let other_pub = {
        let (_, p) = t.ok(TpmCc::READ_PUBLIC, &[other], &[]);
        Tpm2bPublic::unmarshal(&mut Reader::new(&p))
            .unwrap()
            .public_area
    };
    assert_eq!(
        verify_quote(&other_pub, &attest, &sig, b"n", &values),
        Err(AttestError::BadSignature)
    );
    verify_quote(ecc_pub, &attest, &sig, b"n", &values).unwrap();
    // An ECDSA signature checked with the RSA key.
    assert_eq!(
        verify_quote(&publics[0].1, &attest, &sig, b"n", &values),
        Err(AttestError::SchemeMismatch)
    );
}

#[test]
fn unsupported_schemes_are_named() {
    let mut t = Target::swtpm();
    let sel = selection();
    let values = t.pcr_values(&sel);
    // ECDSA with SHA-384 (the key has no scheme of its own).
    let (h, public) =
        t.create_primary(TpmHandle::OWNER, &ecc_template(SIGNER, TpmtEccScheme::Null));
    let (attest, sig) = t.quote(h, b"n", &TpmtSigScheme::Ecdsa(hash(TpmAlgId::SHA384)), &sel);
    assert_eq!(
        verify_quote(&public, &attest, &sig, b"n", &values),
        Err(AttestError::UnsupportedSignature {
            alg: TpmAlgId::ECDSA,
            hash: TpmAlgId::SHA384
        })
    );
    // An HMAC key.
    let keyed = TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(SIGNER),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms {
                scheme: TpmtKeyedhashScheme::Hmac(hash(TpmAlgId::SHA256)),
            },
            unique: Tpm2bDigest::empty(),
        },
    };
    let (h, public) = t.create_primary(TpmHandle::OWNER, &keyed);
    let (attest, sig) = t.quote(h, b"n", &TpmtSigScheme::Null, &sel);
    let err = verify_quote(&public, &attest, &sig, b"n", &values).unwrap_err();
    assert_eq!(
        err,
        AttestError::UnsupportedSignature {
            alg: TpmAlgId::HMAC,
            hash: TpmAlgId::SHA256
        }
    );
    assert!(err.to_string().contains("unsupported signature"), "{err}");
}

#[test]
fn engine_quotes_verify() {
    let mut t = Target::engine();
    let (h, public) = t.create_primary(
        TpmHandle::ENDORSEMENT,
        &ecc_template(AK, TpmtEccScheme::Ecdsa(hash(TpmAlgId::SHA256))),
    );
    good_and_bad(&mut t, "engine ECDSA AK", h, &public, &TpmtSigScheme::Null);
    let (h, public) = t.create_primary(
        TpmHandle::OWNER,
        &rsa_template(AK, TpmtRsaScheme::Rsassa(hash(TpmAlgId::SHA256))),
    );
    good_and_bad(&mut t, "engine RSASSA AK", h, &public, &TpmtSigScheme::Null);
    t.ok(TpmCc::FLUSH_CONTEXT, &[], &h.0.to_be_bytes());
    let (h, public) = t.create_primary(
        TpmHandle::OWNER,
        &rsa_template(SIGNER, TpmtRsaScheme::Rsapss(hash(TpmAlgId::SHA256))),
    );
    good_and_bad(
        &mut t,
        "engine RSAPSS key",
        h,
        &public,
        &TpmtSigScheme::Null,
    );
}

/// The manager's GET_QUOTE path: `HwTpm::quote` with the AK `HwTpm::create_attestation_key`
/// makes (ECC P-256, restricted, ECDSA-SHA256), over swtpm as the hardware TPM.
#[test]
fn manager_quotes_verify() {
    use vtpmmgr::hw::{HwConfig, HwTpm, attestation_public};
    let sw = Swtpm::spawn(SwtpmOptions::default())
        .unwrap_or_else(|e| panic!("swtpm is required by this test (Debian package swtpm): {e}"));
    let (mut hw, _) = HwTpm::start(sw.connect().unwrap(), HwConfig::default())
        .unwrap_or_else(|e| panic!("HwTpm::start: {e}"));
    let ak = hw.create_attestation_key().unwrap();
    let (public, _name) = attestation_public(&ak).unwrap();
    let public = Tpm2bPublic::unmarshal(&mut Reader::new(&public))
        .unwrap()
        .public_area;
    let bitmap: u32 = (1 << 0) | (1 << 7) | (1 << 16);
    let nonce = b"verifier nonce 0123456789abcdef";
    let q = hw.quote(&ak, nonce, TpmAlgId::SHA256, bitmap).unwrap();
    let sig = TpmtSignature::unmarshal(&mut Reader::new(&q.signature)).unwrap();
    // The manager hands out the values of the selected PCRs, ascending.
    let values: Vec<PcrValue> = [0u32, 7, 16]
        .iter()
        .zip(&q.pcr_values)
        .map(|(i, v)| (TpmAlgId::SHA256, *i, v.clone()))
        .collect();
    let info = verify_quote(&public, &q.attest, &sig, nonce, &values)
        .unwrap_or_else(|e| panic!("the manager's quote is refused: {e}"));
    assert_eq!(info.signature_alg, TpmAlgId::ECDSA);
    assert_eq!(
        verify_quote(&public, &q.attest, &sig, b"stale nonce", &values),
        Err(AttestError::NonceMismatch)
    );
    let mut wrong = values.clone();
    wrong[1].2[31] ^= 0x80;
    assert_eq!(
        verify_quote(&public, &q.attest, &sig, nonce, &wrong),
        Err(AttestError::PcrDigestMismatch)
    );
}

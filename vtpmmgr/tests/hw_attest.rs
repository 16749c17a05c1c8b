//! Attestation against a private swtpm as the hardware TPM, checked with tpm2-tools: quotes
//! verified by `tpm2_checkquote`, the EK compared with `tpm2_createek -G ecc`, and credentials
//! made by `tpm2_makecredential -T none` activated by the manager.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod hw_common;

use std::fs;

use hw_common::*;
use tpm2::Unmarshal;
use tpm2::alg::TpmAlgId;
use tpm2::structures::{Tpm2bPublic, TpmsAttest, TpmtSignature, TpmuAttest};
use vtpmmgr::hw::{HwConfig, HwError, attestation_public};

/// The PCR file `tpm2_quote -o` writes ("serialized" format of tpm2-tools 5.4): the host-memory
/// image (little-endian on x86-64) of a TPML_PCR_SELECTION (count, then 16 TPMS_PCR_SELECTION of
/// 8 bytes: hash, sizeofSelect, four select octets, one pad octet), a u32 count of TPML_DIGEST,
/// then each TPML_DIGEST (count, then eight TPM2B_DIGEST of 66 bytes: size, 64-byte buffer),
/// eight values per list. tpm2_checkquote 5.4 reads more than seven PCRs only from this format
/// (its "values" reader stops at seven).
fn serialized_pcrs(bank: TpmAlgId, bitmap: u32, values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&1u32.to_le_bytes());
    for i in 0..16 {
        let mut entry = [0u8; 8];
        if i == 0 {
            entry[..2].copy_from_slice(&bank.0.to_le_bytes());
            entry[2] = 3;
            entry[3..7].copy_from_slice(&bitmap.to_le_bytes());
        }
        out.extend_from_slice(&entry);
    }
    let lists: Vec<&[Vec<u8>]> = values.chunks(8).collect();
    out.extend_from_slice(&u32::try_from(lists.len()).unwrap().to_le_bytes());
    for list in lists {
        out.extend_from_slice(&u32::try_from(list.len()).unwrap().to_le_bytes());
        for i in 0..8 {
            let mut d = [0u8; 66];
            if let Some(v) = list.get(i) {
                d[..2].copy_from_slice(&u16::try_from(v.len()).unwrap().to_le_bytes());
                d[2..2 + v.len()].copy_from_slice(v);
            }
            out.extend_from_slice(&d);
        }
    }
    out
}

#[test]
fn quotes_verify_with_tpm2_checkquote() {
    require_tool("tpm2_checkquote");
    let dir = scratch("quote");
    let sw = swtpm(false);
    let (mut hw, _) = start(&sw, HwConfig::default());
    extend(hw.transport_mut(), 16, [0x16; 32]);
    extend(hw.transport_mut(), 23, [0x23; 32]);

    let ak = hw.create_attestation_key().unwrap();
    assert!(ak.len() <= vtpmmgr::hw::MAX_AK_BLOB, "{} bytes", ak.len());
    let (ak_public, ak_name) = attestation_public(&ak).unwrap();
    assert_eq!(ak_name.len(), 34);
    Tpm2bPublic::from_bytes(&ak_public).unwrap();
    fs::write(dir.join("ak.pub"), &ak_public).unwrap();

    let cases: [(u32, &str); 4] = [
        (1 << 16, "sha256:16"),
        ((1 << 0) | (1 << 7) | (1 << 23), "sha256:0,7,23"),
        (0x0001_00FE, "sha256:1,2,3,4,5,6,7,16"),
        (
            0x00FF_FFFF,
            "sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
        ),
    ];
    for (bitmap, list) in cases {
        let nonce = [0xC0, 0xFF, 0xEE, bitmap.to_le_bytes()[0], 0x42];
        let q = hw.quote(&ak, &nonce, TpmAlgId::SHA256, bitmap).unwrap();
        assert_eq!(q.pcr_values.len(), bitmap.count_ones() as usize);
        let attest = TpmsAttest::from_bytes(&q.attest).unwrap();
        assert_eq!(attest.extra_data.as_bytes(), nonce);
        assert!(matches!(attest.attested, TpmuAttest::Quote(_)));
        assert!(matches!(
            TpmtSignature::from_bytes(&q.signature).unwrap(),
            TpmtSignature::Ecdsa(_)
        ));
        fs::write(dir.join("quote.msg"), &q.attest).unwrap();
        fs::write(dir.join("quote.sig"), &q.signature).unwrap();
        // Up to seven PCRs as plain values with the selection given by -l, more in the
        // serialized format that carries its own selection.
        let values_format = q.pcr_values.len() <= 7;
        let pcr_file = |values: &[Vec<u8>]| {
            if values_format {
                values.concat()
            } else {
                serialized_pcrs(TpmAlgId::SHA256, bitmap, values)
            }
        };
        fs::write(dir.join("quote.pcrs"), pcr_file(&q.pcr_values)).unwrap();
        let d = |f: &str| dir.join(f).to_str().unwrap().to_owned();
        let args = |qualification: &str| {
            let mut a = vec![
                "-u".to_owned(),
                d("ak.pub"),
                "-m".to_owned(),
                d("quote.msg"),
                "-s".to_owned(),
                d("quote.sig"),
                "-f".to_owned(),
                d("quote.pcrs"),
                "-g".to_owned(),
                "sha256".to_owned(),
                "-q".to_owned(),
                qualification.to_owned(),
            ];
            if values_format {
                a.extend(["-l".to_owned(), list.to_owned()]);
            }
            a
        };
        let run_with = |q: &str| {
            let a = args(q);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            run("tpm2_checkquote", &a)
        };
        let (ok, out) = run_with(&hex(&nonce));
        assert!(ok, "tpm2_checkquote refused the quote of {list}: {out}");
        // Another qualification (a replayed quote) is refused.
        let (ok, out) = run_with("00112233");
        assert!(
            !ok,
            "tpm2_checkquote accepted the wrong qualifying data: {out}"
        );
        // Other PCR values than quoted are refused.
        let mut altered = q.pcr_values.clone();
        let last = altered.len() - 1;
        altered[last][31] ^= 1;
        fs::write(dir.join("quote.pcrs"), pcr_file(&altered)).unwrap();
        let (ok, out) = run_with(&hex(&nonce));
        assert!(!ok, "tpm2_checkquote accepted altered PCR values: {out}");
    }

    // Arguments the manager refuses before the TPM sees them.
    assert!(matches!(
        hw.quote(&ak, &[0; 65], TpmAlgId::SHA256, 1),
        Err(HwError::BadArgument(_))
    ));
    assert!(matches!(
        hw.quote(&ak, b"", TpmAlgId::SHA256, 0),
        Err(HwError::BadArgument(_))
    ));
    assert!(matches!(
        hw.quote(&ak[..ak.len() - 1], b"", TpmAlgId::SHA256, 1),
        Err(HwError::BadArgument(_))
    ));
    hw.close().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn another_tpms_ak_is_refused() {
    let sw_a = swtpm(false);
    let sw_b = swtpm(false);
    let (mut a, _) = start(&sw_a, HwConfig::default());
    let (mut b, _) = start(&sw_b, HwConfig::default());
    let ak = a.create_attestation_key().unwrap();
    let e = b.quote(&ak, b"n", TpmAlgId::SHA256, 1).unwrap_err();
    assert!(matches!(e, HwError::WrongTpm { .. }), "{e:?}");
    a.close().unwrap();
    b.close().unwrap();
}

/// Reads the file `tpm2_makecredential` writes: magic 0xBADCC0DE, version 1 (both u32 BE),
/// then the TPM2B_ID_OBJECT and the TPM2B_ENCRYPTED_SECRET.
fn read_credential_file(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(bytes[..8], [0xBA, 0xDC, 0xC0, 0xDE, 0, 0, 0, 1], "header");
    let n = usize::from(u16::from_be_bytes([bytes[8], bytes[9]]));
    let id = bytes[10..10 + n].to_vec();
    let rest = &bytes[10 + n..];
    let m = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    assert_eq!(rest.len(), 2 + m, "nothing after the secret");
    (id, rest[2..].to_vec())
}

#[test]
fn ek_matches_tpm2_createek_and_credentials_activate() {
    let dir = scratch("credential");
    let d = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    let sw = swtpm(false);
    let (mut hw, _) = start(&sw, HwConfig::default());
    let ek_public = hw.endorsement_public().unwrap();
    let ak = hw.create_attestation_key().unwrap();
    let (_, ak_name) = attestation_public(&ak).unwrap();
    let t = hw.close().unwrap();
    drop(t);

    // tpm2-tools makes the same EK from its default ECC template.
    let (ok, out) = run(
        "tpm2_createek",
        &[
            "-T",
            &tcti(&sw),
            "-G",
            "ecc",
            "-c",
            &d("ek.ctx"),
            "-u",
            &d("ek_tools.pub"),
        ],
    );
    assert!(ok, "tpm2_createek: {out}");
    let (ok, out) = run("tpm2_flushcontext", &["-T", &tcti(&sw), "-t"]);
    assert!(ok, "tpm2_flushcontext: {out}");
    assert_eq!(
        fs::read(d("ek_tools.pub")).unwrap(),
        ek_public,
        "the EK differs from tpm2_createek -G ecc's"
    );

    // A verifier binds a secret to the AK's Name and encrypts it to the EK, without a TPM.
    fs::write(d("ek.pub"), &ek_public).unwrap();
    let secret: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    fs::write(d("secret"), &secret).unwrap();
    let make = |name: &[u8], out_file: &str| {
        let (ok, out) = run(
            "tpm2_makecredential",
            &[
                "-T",
                "none",
                "-u",
                &d("ek.pub"),
                "-s",
                &d("secret"),
                "-n",
                &hex(name),
                "-o",
                &d(out_file),
            ],
        );
        assert!(ok, "tpm2_makecredential: {out}");
        read_credential_file(&fs::read(d(out_file)).unwrap())
    };
    let (id_object, enc_secret) = make(&ak_name, "cred.out");

    let (mut hw, _) = start(&sw, HwConfig::default());
    let got = hw
        .activate_credential(&ak, &id_object, &enc_secret)
        .unwrap();
    assert_eq!(got.as_slice(), secret.as_slice());

    // A credential for another key's Name does not activate with this AK.
    let mut other = ak_name.clone();
    other[10] ^= 1;
    let (id_object, enc_secret) = make(&other, "cred2.out");
    let e = hw
        .activate_credential(&ak, &id_object, &enc_secret)
        .unwrap_err();
    println!("credential for another Name: {e}");
    assert!(matches!(e, HwError::Tpm { .. }), "{e:?}");
    // Every failure flushed what it loaded: the activation works again.
    let (id_object, enc_secret) = make(&ak_name, "cred3.out");
    let got = hw
        .activate_credential(&ak, &id_object, &enc_secret)
        .unwrap();
    assert_eq!(got.as_slice(), secret.as_slice());
    hw.close().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

//! Decodes the object, NV, context and signature traffic of the corpus
//! (/work/shared/testdata/tpm2-traces/upstream.jsonl.gz: tpm2-tools 5.4 against swtpm 0.7.1 /
//! libtpms 0.9.2) with the structures of part 2 §11–§15 (`structures::{crypto, object, nv,
//! context}`), one parameter area at a time: every field is read with the type part 3 gives it,
//! the area must be consumed exactly, and the fields re-marshalled one after another must give
//! back the identical bytes.
//!
//! Every successful record of the commands listed in [`decode`] is decoded (command and
//! response parameters), and every TPM2_ContextLoad command, successful or not.

use std::collections::BTreeMap;

use tpm2::auth::TpmaSession;
use tpm2::cc::TpmCc;
use tpm2::command::Command;
use tpm2::handle::TpmHandle;
use tpm2::response::Response;
use tpm2::structures::{
    PublicDetail, Tpm2bCreationData, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, Tpm2bEccPoint,
    Tpm2bEncryptedSecret, Tpm2bName, Tpm2bNonce, Tpm2bNvPublic, Tpm2bPrivate, Tpm2bPublic,
    Tpm2bPublicKeyRsa, Tpm2bSensitive, Tpm2bSensitiveCreate, Tpm2bSensitiveData, Tpm2bTemplate,
    Tpm2bTimeout, TpmlPcrSelection, TpmsContext, TpmtPublicParms, TpmtRsaDecrypt, TpmtSigScheme,
    TpmtSignature, TpmtSymDef, TpmtSymDefObject, TpmtTkAuth, TpmtTkCreation, TpmtTkHashcheck,
    TpmtTkVerified,
};
use tpm2::{Error, Marshal, Reader, Unmarshal};

mod common;

fn unhex(s: &str) -> Vec<u8> {
    common::hex(s).expect("corpus hex")
}

/// A parameter area being decoded: every field read is re-marshalled into `out`.
struct Area<'a> {
    bytes: &'a [u8],
    r: Reader<'a>,
    out: Vec<u8>,
    /// Whether the first parameter is encrypted by a session (part 1 §21: only the contents
    /// of a leading TPM2B are, its size stays in the clear).
    first_encrypted: bool,
}

impl<'a> Area<'a> {
    fn new(bytes: &'a [u8], first_encrypted: bool) -> Self {
        Self {
            bytes,
            r: Reader::new(bytes),
            out: Vec::new(),
            first_encrypted,
        }
    }

    /// Reads the first parameter, a TPM2B: typed if it is in the clear, `None` (an opaque
    /// sized buffer) if a session encrypted it.
    fn first<T: Marshal + Unmarshal>(&mut self, what: &str) -> Result<Option<T>, String> {
        if self.first_encrypted {
            let body = self
                .r
                .sized_bytes(usize::from(u16::MAX), "encrypted parameter")
                .map_err(|e| format!("{what} (encrypted): {e}"))?;
            tpm2::marshal::marshal_sized(body, &mut self.out);
            return Ok(None);
        }
        self.take(what).map(Some)
    }

    /// Reads a field with its plain [`Unmarshal`].
    fn take<T: Marshal + Unmarshal>(&mut self, what: &str) -> Result<T, String> {
        self.take_with(what, T::unmarshal)
    }

    /// Reads a field with an explicit reader (the "+" forms).
    fn take_with<T: Marshal>(
        &mut self,
        what: &str,
        read: impl FnOnce(&mut Reader<'a>) -> Result<T, Error>,
    ) -> Result<T, String> {
        let at = self.r.position();
        let v = read(&mut self.r).map_err(|e| format!("{what} at offset {at}: {e}"))?;
        v.marshal(&mut self.out);
        Ok(v)
    }

    /// The whole area must have been read, and re-marshal to the same bytes.
    fn finish(self) -> Result<(), String> {
        if !self.r.is_empty() {
            return Err(format!("{} bytes left over", self.r.remaining()));
        }
        if self.out != self.bytes {
            return Err(format!(
                "re-marshalled {:02x?}\n  differs from {:02x?}",
                self.out, self.bytes
            ));
        }
        Ok(())
    }
}

/// A TPMI_RH_HIERARCHY+ command parameter (TPM2_LoadExternal).
fn hierarchy(r: &mut Reader<'_>) -> Result<TpmHandle, Error> {
    let h = TpmHandle::unmarshal(r)?;
    match h {
        TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM | TpmHandle::NULL => Ok(h),
        _ => Err(Error::BadValue {
            what: "TPMI_RH_HIERARCHY",
            value: h.0,
        }),
    }
}

/// The creation outputs shared by TPM2_Create and TPM2_CreatePrimary.
fn creation_outputs(a: &mut Area<'_>) -> Result<(), String> {
    let data: Tpm2bCreationData = a.take("creationData")?;
    let hash: Tpm2bDigest = a.take("creationHash")?;
    let ticket: TpmtTkCreation = a.take("creationTicket")?;
    // Every creation ticket carries an HMAC, even for objects of the NULL hierarchy (keyed
    // with the null proof).
    if hash.is_empty() || ticket.is_null() {
        return Err(format!("creation hash {hash:?} with ticket {ticket:?}"));
    }
    if data.creation_data.pcr_digest.is_empty() {
        return Err("empty pcrDigest".into());
    }
    Ok(())
}

/// The inputs shared by TPM2_Create and TPM2_CreatePrimary.
fn creation_inputs(a: &mut Area<'_>) -> Result<Tpm2bPublic, String> {
    a.first::<Tpm2bSensitiveCreate>("inSensitive")?;
    let template: Tpm2bPublic = a.take("inPublic")?;
    a.take::<Tpm2bData>("outsideInfo")?;
    a.take::<TpmlPcrSelection>("creationPCR")?;
    Ok(template)
}

/// A public area returned by the TPM must carry a key (templates may not).
fn check_filled(p: &Tpm2bPublic) -> Result<(), String> {
    let empty = match &p.public_area.detail {
        PublicDetail::Rsa { unique, .. } => unique.is_empty(),
        PublicDetail::Ecc { unique, .. } => unique.x.is_empty() || unique.y.is_empty(),
        PublicDetail::KeyedHash { unique, .. } | PublicDetail::SymCipher { unique, .. } => {
            unique.is_empty()
        }
    };
    if empty {
        Err("the TPM returned a public area with an empty unique".into())
    } else {
        Ok(())
    }
}

/// Decodes the command parameters (`cmd`) and, for a success, the response parameters and
/// handle (`rsp`) of one record. `Ok(None)` means the command is not one this test covers.
fn decode(
    code: TpmCc,
    (cmd, cmd_encrypted): (&[u8], bool),
    rsp: Option<(Option<TpmHandle>, &[u8], bool)>,
) -> Result<Option<&'static str>, String> {
    let mut c = Area::new(cmd, cmd_encrypted);
    let name = match code {
        TpmCc::READ_PUBLIC => "ReadPublic",
        TpmCc::CREATE_PRIMARY => "CreatePrimary",
        TpmCc::CREATE => "Create",
        TpmCc::LOAD => "Load",
        TpmCc::NV_READ_PUBLIC => "NV_ReadPublic",
        TpmCc::CONTEXT_SAVE => "ContextSave",
        TpmCc::CONTEXT_LOAD => "ContextLoad",
        TpmCc::SIGN => "Sign",
        TpmCc::VERIFY_SIGNATURE => "VerifySignature",
        TpmCc::LOAD_EXTERNAL => "LoadExternal",
        TpmCc::RSA_ENCRYPT => "RSA_Encrypt",
        TpmCc::RSA_DECRYPT => "RSA_Decrypt",
        TpmCc::START_AUTH_SESSION => "StartAuthSession",
        TpmCc::TEST_PARMS => "TestParms",
        TpmCc::IMPORT => "Import",
        TpmCc::DUPLICATE => "Duplicate",
        TpmCc::CREATE_LOADED => "CreateLoaded",
        TpmCc::HASH => "Hash",
        TpmCc::SEQUENCE_COMPLETE => "SequenceComplete",
        TpmCc::POLICY_SIGNED => "PolicySigned",
        TpmCc::POLICY_SECRET => "PolicySecret",
        TpmCc::POLICY_TICKET => "PolicyTicket",
        TpmCc::CERTIFY_CREATION => "CertifyCreation",
        TpmCc::ECDH_KEY_GEN => "ECDH_KeyGen",
        TpmCc::ECDH_ZGEN => "ECDH_ZGen",
        TpmCc::EC_EPHEMERAL => "EC_Ephemeral",
        TpmCc::COMMIT => "Commit",
        TpmCc::ZGEN_2PHASE => "ZGen_2Phase",
        _ => return Ok(None),
    };

    // Command parameters.
    match code {
        TpmCc::CREATE_PRIMARY | TpmCc::CREATE => {
            creation_inputs(&mut c)?;
        }
        TpmCc::LOAD => {
            c.first::<Tpm2bPrivate>("inPrivate")?;
            c.take::<Tpm2bPublic>("inPublic")?;
        }
        TpmCc::CONTEXT_LOAD => {
            c.take::<TpmsContext>("context")?;
        }
        TpmCc::SIGN => {
            c.first::<Tpm2bDigest>("digest")?;
            c.take_with("inScheme", TpmtSigScheme::unmarshal_allow_null)?;
            c.take::<TpmtTkHashcheck>("validation")?;
        }
        TpmCc::VERIFY_SIGNATURE => {
            c.first::<Tpm2bDigest>("digest")?;
            c.take::<TpmtSignature>("signature")?;
        }
        TpmCc::LOAD_EXTERNAL => {
            c.first::<Tpm2bSensitive>("inPrivate")?;
            c.take_with("inPublic", Tpm2bPublic::unmarshal_allow_null)?;
            c.take_with("hierarchy", hierarchy)?;
        }
        TpmCc::RSA_ENCRYPT | TpmCc::RSA_DECRYPT => {
            c.first::<Tpm2bPublicKeyRsa>("message / cipherText")?;
            c.take_with("inScheme", TpmtRsaDecrypt::unmarshal_allow_null)?;
            c.take::<Tpm2bData>("label")?;
        }
        TpmCc::START_AUTH_SESSION => {
            c.first::<Tpm2bNonce>("nonceCaller")?;
            c.take::<Tpm2bEncryptedSecret>("encryptedSalt")?;
            c.take::<u8>("sessionType")?;
            c.take_with("symmetric", TpmtSymDef::unmarshal_allow_null)?;
            c.take::<u16>("authHash")?;
        }
        TpmCc::TEST_PARMS => {
            c.take::<TpmtPublicParms>("parameters")?;
        }
        TpmCc::IMPORT => {
            c.first::<Tpm2bData>("encryptionKey")?;
            c.take::<Tpm2bPublic>("objectPublic")?;
            c.take::<Tpm2bPrivate>("duplicate")?;
            c.take::<Tpm2bEncryptedSecret>("inSymSeed")?;
            c.take_with("symmetricAlg", TpmtSymDefObject::unmarshal_allow_null)?;
        }
        TpmCc::DUPLICATE => {
            c.first::<Tpm2bData>("encryptionKeyIn")?;
            c.take_with("symmetricAlg", TpmtSymDefObject::unmarshal_allow_null)?;
        }
        TpmCc::CREATE_LOADED => {
            c.first::<Tpm2bSensitiveCreate>("inSensitive")?;
            let template: Tpm2bTemplate = c.take("inPublic")?;
            template
                .to_public()
                .map_err(|e| format!("inPublic as a TPMT_PUBLIC: {e}"))?;
        }
        TpmCc::POLICY_SIGNED => {
            c.first::<Tpm2bNonce>("nonceTPM")?;
            c.take::<Tpm2bDigest>("cpHashA")?;
            c.take::<Tpm2bNonce>("policyRef")?;
            c.take::<i32>("expiration")?;
            c.take::<TpmtSignature>("auth")?;
        }
        TpmCc::POLICY_TICKET => {
            c.first::<Tpm2bTimeout>("timeout")?;
            c.take::<Tpm2bDigest>("cpHashA")?;
            c.take::<Tpm2bNonce>("policyRef")?;
            c.take::<Tpm2bName>("authName")?;
            c.take::<TpmtTkAuth>("ticket")?;
        }
        TpmCc::CERTIFY_CREATION => {
            c.first::<Tpm2bData>("qualifyingData")?;
            c.take::<Tpm2bDigest>("creationHash")?;
            c.take_with("inScheme", TpmtSigScheme::unmarshal_allow_null)?;
            c.take::<TpmtTkCreation>("creationTicket")?;
        }
        TpmCc::ECDH_ZGEN => {
            c.first::<Tpm2bEccPoint>("inPoint")?;
        }
        TpmCc::EC_EPHEMERAL => {
            c.take::<u16>("curveID")?;
        }
        TpmCc::COMMIT => {
            c.first::<Tpm2bEccPoint>("P1")?;
            c.take::<Tpm2bSensitiveData>("s2")?;
            c.take::<Tpm2bEccParameter>("y2")?;
        }
        TpmCc::ZGEN_2PHASE => {
            c.first::<Tpm2bEccPoint>("inQsB")?;
            c.take::<Tpm2bEccPoint>("inQeB")?;
            c.take::<u16>("inScheme")?;
            c.take::<u16>("counter")?;
        }
        // Commands whose parameters this test does not cover (only the response is of
        // interest, or the parameters are plain buffers).
        _ => c = Area::new(&[], false),
    }
    c.finish().map_err(|e| format!("command: {e}"))?;

    let Some((handle, params, rsp_encrypted)) = rsp else {
        return Ok(Some(name));
    };
    let returns_handle = matches!(
        code,
        TpmCc::CREATE_PRIMARY
            | TpmCc::LOAD
            | TpmCc::LOAD_EXTERNAL
            | TpmCc::CONTEXT_LOAD
            | TpmCc::CREATE_LOADED
            | TpmCc::START_AUTH_SESSION
    );
    if handle.is_some() != returns_handle {
        return Err(format!("response handle {handle:?} unexpected"));
    }
    let mut a = Area::new(params, rsp_encrypted);
    match code {
        TpmCc::READ_PUBLIC => {
            if a.first_encrypted {
                a.first::<Tpm2bPublic>("outPublic")?;
            } else {
                let p = a.take_with("outPublic", Tpm2bPublic::unmarshal_allow_null)?;
                check_filled(&p)?;
            }
            a.take::<Tpm2bName>("name")?;
            a.take::<Tpm2bName>("qualifiedName")?;
        }
        TpmCc::CREATE_PRIMARY => {
            if let Some(p) = a.first("outPublic")? {
                check_filled(&p)?;
            }
            creation_outputs(&mut a)?;
            a.take::<Tpm2bName>("name")?;
        }
        TpmCc::CREATE => {
            a.first::<Tpm2bPrivate>("outPrivate")?;
            check_filled(&a.take("outPublic")?)?;
            creation_outputs(&mut a)?;
        }
        TpmCc::LOAD | TpmCc::LOAD_EXTERNAL => {
            a.first::<Tpm2bName>("name")?;
        }
        TpmCc::NV_READ_PUBLIC => {
            a.first::<Tpm2bNvPublic>("nvPublic")?;
            a.take::<Tpm2bName>("nvName")?;
        }
        TpmCc::CONTEXT_SAVE => {
            a.take::<TpmsContext>("context")?;
        }
        TpmCc::SIGN => {
            a.take::<TpmtSignature>("signature")?;
        }
        TpmCc::VERIFY_SIGNATURE => {
            a.take::<TpmtTkVerified>("validation")?;
        }
        TpmCc::RSA_ENCRYPT | TpmCc::RSA_DECRYPT => {
            a.first::<Tpm2bPublicKeyRsa>("outData / message")?;
        }
        TpmCc::START_AUTH_SESSION => {
            a.first::<Tpm2bNonce>("nonceTPM")?;
        }
        TpmCc::IMPORT => {
            a.first::<Tpm2bPrivate>("outPrivate")?;
        }
        TpmCc::DUPLICATE => {
            a.first::<Tpm2bData>("encryptionKeyOut")?;
            a.take::<Tpm2bPrivate>("duplicate")?;
            a.take::<Tpm2bEncryptedSecret>("outSymSeed")?;
        }
        TpmCc::CREATE_LOADED => {
            a.first::<Tpm2bPrivate>("outPrivate")?;
            check_filled(&a.take("outPublic")?)?;
            a.take::<Tpm2bName>("name")?;
        }
        TpmCc::HASH | TpmCc::SEQUENCE_COMPLETE => {
            a.first::<Tpm2bDigest>("outHash / result")?;
            a.take::<TpmtTkHashcheck>("validation")?;
        }
        TpmCc::POLICY_SIGNED | TpmCc::POLICY_SECRET => {
            a.first::<Tpm2bTimeout>("timeout")?;
            a.take::<TpmtTkAuth>("policyTicket")?;
        }
        TpmCc::ECDH_KEY_GEN => {
            a.first::<Tpm2bEccPoint>("zPoint")?;
            a.take::<Tpm2bEccPoint>("pubPoint")?;
        }
        TpmCc::ECDH_ZGEN => {
            a.first::<Tpm2bEccPoint>("outPoint")?;
        }
        TpmCc::EC_EPHEMERAL => {
            a.first::<Tpm2bEccPoint>("Q")?;
            a.take::<u16>("counter")?;
        }
        TpmCc::COMMIT => {
            a.first::<Tpm2bEccPoint>("K")?;
            a.take::<Tpm2bEccPoint>("L")?;
            a.take::<Tpm2bEccPoint>("E")?;
            a.take::<u16>("counter")?;
        }
        TpmCc::ZGEN_2PHASE => {
            a.first::<Tpm2bEccPoint>("outZ1")?;
            a.take::<Tpm2bEccPoint>("outZ2")?;
        }
        // Responses without parameters of interest here (PolicyTicket, TestParms,
        // ContextLoad, CertifyCreation's attestation is covered elsewhere).
        _ => a = Area::new(&[], false),
    }
    a.finish().map_err(|e| format!("response: {e}"))?;
    Ok(Some(name))
}

#[test]
fn corpus_objects_contexts_and_signatures() {
    let text = common::text_or_fail();
    let mut commands: BTreeMap<&str, usize> = BTreeMap::new();
    let mut responses: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut records = 0usize;
    let mut encrypted = 0usize;

    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        records += 1;
        let id = format!(
            "{}#{} ({})",
            common::field(line, "test").unwrap_or("?"),
            common::number(line, "seq").unwrap_or(0),
            common::field(line, "cc").unwrap_or("?")
        );
        let (Some(cmd), Some(rsp), Some(rc)) = (
            common::field(line, "cmd"),
            common::field(line, "rsp"),
            common::field(line, "rc"),
        ) else {
            failures.push(format!("{id}: record without cmd/rsp/rc"));
            continue;
        };
        let (cmd, rsp) = (unhex(cmd), unhex(rsp));
        let ok = rc == "0x00000000";

        // Commands the framing layer rejects are the business of other tests.
        let Ok(command) = Command::parse(&cmd) else {
            continue;
        };
        let code = command.header.code;
        // Only successful records, except that every ContextLoad command is decoded.
        if !ok && code != TpmCc::CONTEXT_LOAD {
            continue;
        }
        // Parameter encryption: a session with `decrypt` encrypted the first command
        // parameter, one with `encrypt` the first response parameter.
        let has = |bit| command.sessions.iter().any(|s| s.attributes.has(bit));
        let (cmd_encrypted, rsp_encrypted) = (has(TpmaSession::DECRYPT), has(TpmaSession::ENCRYPT));
        encrypted += usize::from(cmd_encrypted) + usize::from(ok && rsp_encrypted);
        let response = if ok {
            match Response::parse(&rsp, code) {
                Ok(r) => Some((r.handle, r.parameters, rsp_encrypted)),
                Err(e) => {
                    failures.push(format!("{id}: response framing: {e}"));
                    continue;
                }
            }
        } else {
            None
        };
        match decode(code, (command.parameters, cmd_encrypted), response) {
            Ok(Some(name)) => {
                *commands.entry(name).or_default() += 1;
                if ok {
                    *responses.entry(name).or_default() += 1;
                }
            }
            Ok(None) => {}
            Err(e) => failures.push(format!("{id}: {e}")),
        }
    }

    println!(
        "{records} records ({encrypted} parameter areas with an encrypted first parameter); \
         decoded (commands / successful responses):"
    );
    for (name, n) in &commands {
        println!(
            "  {name:<18} {n:>5} / {:>5}",
            responses.get(name).unwrap_or(&0)
        );
    }
    assert!(
        failures.is_empty(),
        "{} records failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Everything the brief names must actually have been seen, in the numbers the corpus
    // holds (rc 0 records per command, counted independently of the decoder above).
    let count_ok = |cc: &str| {
        text.lines()
            .filter(|l| {
                common::field(l, "cc") == Some(cc) && common::field(l, "rc") == Some("0x00000000")
            })
            .count()
    };
    for (name, cc) in [
        ("ReadPublic", "TPM_CC_ReadPublic"),
        ("CreatePrimary", "TPM_CC_CreatePrimary"),
        ("Create", "TPM_CC_Create"),
        ("Load", "TPM_CC_Load"),
        ("NV_ReadPublic", "TPM_CC_NV_ReadPublic"),
        ("ContextSave", "TPM_CC_ContextSave"),
        ("Sign", "TPM_CC_Sign"),
        ("LoadExternal", "TPM_CC_LoadExternal"),
        ("VerifySignature", "TPM_CC_VerifySignature"),
        ("RSA_Encrypt", "TPM_CC_RSA_Encrypt"),
        ("StartAuthSession", "TPM_CC_StartAuthSession"),
    ] {
        let expected = count_ok(cc);
        assert!(expected > 0, "no successful {cc} in the corpus");
        assert_eq!(
            responses.get(name).copied().unwrap_or(0),
            expected,
            "successful {cc} responses decoded"
        );
    }
    let context_loads = text
        .lines()
        .filter(|l| common::field(l, "cc") == Some("TPM_CC_ContextLoad"))
        .count();
    assert_eq!(commands.get("ContextLoad").copied(), Some(context_loads));
}

//! Attestation for the manager's GET_QUOTE: an attestation key (AK) under the SRK, quotes of
//! the hardware PCRs, the endorsement key (EK) and credential activation (the AK certified
//! through the EK by a privacy CA or verifier).
//!
//! Commands: TPM2_Create (part 3 §12.1) and TPM2_Load (§12.2) of the AK, TPM2_Quote (§18.4),
//! TPM2_PCR_Read (§22.4), TPM2_CreatePrimary (§24.1) of the EK, TPM2_StartAuthSession (§11.1),
//! TPM2_PolicySecret (§23.4), TPM2_ActivateCredential (§12.5), TPM2_FlushContext (§28.4).
//!
//! The AK blob is `TPM2B_PUBLIC ‖ TPM2B_PRIVATE` (sizes included), parsed strictly.

use alloc::vec::Vec;

use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::structures::{
    Tpm2bAttest, Tpm2bData, Tpm2bDigest, Tpm2bEncryptedSecret, Tpm2bIdObject, Tpm2bNonce,
    Tpm2bPrivate, Tpm2bPublic, Tpm2bTimeout, TpmsAttest, TpmtSigScheme, TpmtSignature, TpmtTkAuth,
    TpmuAttest,
};
use tpm2::transport::Transport;
use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use super::error::{AuthEntity, HwError, auth_context};
use super::wire::password;
use super::{HwTpm, policy, templates};

/// The largest AK blob.
pub const MAX_AK_BLOB: usize = 1024;

/// How often a quote is retried when the PCRs change between TPM2_Quote and TPM2_PCR_Read.
const QUOTE_ATTEMPTS: u32 = 3;

/// A quote of the hardware PCRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The signed TPMS_ATTEST bytes (the contents of the TPM2B_ATTEST).
    pub attest: Vec<u8>,
    /// The TPMT_SIGNATURE bytes (ECDSA-SHA256).
    pub signature: Vec<u8>,
    /// The values of the quoted PCRs, ascending.
    pub pcr_values: Vec<Vec<u8>>,
}

/// The AK blob taken apart: the public area (as a TPM2B_PUBLIC) and the private area.
struct AkBlob {
    public: Tpm2bPublic,
    private: Tpm2bPrivate,
}

fn parse_ak(blob: &[u8]) -> Result<AkBlob, HwError> {
    let bad = HwError::BadArgument("not an AK blob made by create_attestation_key");
    if blob.len() > MAX_AK_BLOB {
        return Err(bad);
    }
    let mut r = Reader::new(blob);
    let public = Tpm2bPublic::unmarshal(&mut r).map_err(|_| bad.clone())?;
    let private = Tpm2bPrivate::unmarshal(&mut r).map_err(|_| bad.clone())?;
    r.finish("AK blob").map_err(|_| bad.clone())?;
    if private.is_empty() || !templates::matches(&public.public_area, &templates::ak()) {
        return Err(bad);
    }
    Ok(AkBlob { public, private })
}

/// The AK's public area as TPM2B_PUBLIC wire bytes, and its Name (`0x000B ‖ SHA-256`).
pub fn attestation_public(blob: &[u8]) -> Result<(Vec<u8>, Vec<u8>), HwError> {
    let ak = parse_ak(blob)?;
    Ok((
        ak.public.to_bytes(),
        templates::name(&ak.public.public_area),
    ))
}

impl<T: Transport> HwTpm<T> {
    /// Creates an AK (ECC P-256, restricted, ECDSA-SHA256) under the SRK and returns its blob.
    pub fn create_attestation_key(&mut self) -> Result<Vec<u8>, HwError> {
        let ak = self.create(self.srk, &templates::ak(), &[])?;
        let mut blob = Vec::new();
        Tpm2bPublic::from(ak.public).marshal(&mut blob);
        Tpm2bPrivate::new(&ak.private)
            .map_err(|_| HwError::Unexpected("the AK's private area is too long"))?
            .marshal(&mut blob);
        if blob.len() > MAX_AK_BLOB {
            return Err(HwError::Unexpected("the AK blob exceeds 1024 bytes"));
        }
        Ok(blob)
    }

    fn load_ak(&mut self, ak: &AkBlob) -> Result<TpmHandle, HwError> {
        let public = ak.public.public_area.to_bytes();
        self.load(self.srk, ak.private.as_bytes(), &public, "AK")
            .map_err(|e| match e {
                HwError::Malformed(_) => HwError::BadArgument("TPM2_Load refused the AK blob"),
                other => other,
            })
    }

    /// Quotes `pcr_bitmap` (bit n = PCR n, n < 24) of `pcr_bank` with the AK, over
    /// `qualifying_data` (a verifier's nonce, at most 64 bytes), and reads the quoted PCR
    /// values. The quote's pcrDigest is checked against the values read; if the PCRs changed
    /// in between, the quote is taken again (at most three times).
    pub fn quote(
        &mut self,
        ak_blob: &[u8],
        qualifying_data: &[u8],
        pcr_bank: TpmAlgId,
        pcr_bitmap: u32,
    ) -> Result<Quote, HwError> {
        let ak = parse_ak(ak_blob)?;
        if qualifying_data.len() > 64 {
            return Err(HwError::BadArgument("qualifying data longer than 64 bytes"));
        }
        if pcr_bitmap == 0 {
            return Err(HwError::BadArgument("the quote selects no PCR"));
        }
        let selection = policy::selection(pcr_bank, pcr_bitmap)?;
        for _ in 0..QUOTE_ATTEMPTS {
            let handle = self.load_ak(&ak)?;
            let mut p = Vec::new();
            Tpm2bData::new(qualifying_data)
                .map_err(|_| HwError::BadArgument("qualifying data"))?
                .marshal(&mut p);
            TpmtSigScheme::Null.marshal(&mut p);
            selection.marshal(&mut p);
            let result = password(&[]).and_then(|pw| {
                let a = self.wire.exec(TpmCc::QUOTE, &[handle], &[pw], &p)?;
                let mut r = a.reader(TpmCc::QUOTE);
                let attest: Tpm2bAttest = r.read()?;
                let signature: TpmtSignature = r.read()?;
                r.finish()?;
                Ok((attest, signature))
            });
            let flushed = self.wire.flush(handle);
            let (attest, signature) = result?;
            flushed?;

            let body = TpmsAttest::from_tpm2b(&attest).map_err(|error| HwError::Wire {
                command: TpmCc::QUOTE,
                error,
            })?;
            let TpmuAttest::Quote(info) = &body.attested else {
                return Err(HwError::Unexpected("TPM2_Quote did not return a quote"));
            };
            if body.extra_data.as_bytes() != qualifying_data
                || policy::bitmap_of(&info.pcr_select, pcr_bank) != pcr_bitmap
            {
                return Err(HwError::Unexpected(
                    "the quote's qualifying data or PCR selection is not the one requested",
                ));
            }
            let values = self.read_pcrs(pcr_bank, pcr_bitmap)?;
            if info.pcr_digest.as_bytes() == policy::pcr_digest(&values) {
                return Ok(Quote {
                    attest: attest.as_bytes().to_vec(),
                    signature: signature.to_bytes(),
                    pcr_values: values,
                });
            }
        }
        Err(HwError::PcrsChanged)
    }

    /// The EK's public area (TPM2B_PUBLIC wire bytes), recreated from the EK Credential
    /// Profile's ECC P-256 template in the endorsement hierarchy and flushed again.
    pub fn endorsement_public(&mut self) -> Result<Vec<u8>, HwError> {
        let (handle, public, _) = self.create_ek()?;
        self.wire.flush(handle)?;
        Ok(Tpm2bPublic::from(public).to_bytes())
    }

    fn create_ek(&mut self) -> Result<(TpmHandle, tpm2::structures::TpmtPublic, Vec<u8>), HwError> {
        let auth = password(&self.config.endorsement_auth)?;
        let (handle, public, name) = self
            .create_primary(TpmHandle::ENDORSEMENT, auth, &templates::ek())
            .map_err(|e| auth_context(e, AuthEntity::Endorsement, 1))?;
        if !templates::matches(&public, &templates::ek()) {
            let _ = self.wire.flush(handle);
            return Err(HwError::Unexpected(
                "the EK is not of the requested template",
            ));
        }
        Ok((handle, public, name))
    }

    /// TPM2_ActivateCredential: recovers the secret a verifier bound to the AK's Name and
    /// encrypted to the EK (`credential_blob` is the TPM2B_ID_OBJECT's contents, `secret` the
    /// TPM2B_ENCRYPTED_SECRET's). The EK is used through a policy session satisfied by
    /// TPM2_PolicySecret(TPM_RH_ENDORSEMENT), as its template's authPolicy demands; the AK
    /// (ADMIN role) with its empty authValue. Loads AK and EK next to the SRK (three objects)
    /// and flushes both and the session on every path.
    pub fn activate_credential(
        &mut self,
        ak_blob: &[u8],
        credential_blob: &[u8],
        secret: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HwError> {
        let ak = parse_ak(ak_blob)?;
        let id_object = Tpm2bIdObject::new(credential_blob)
            .map_err(|_| HwError::BadArgument("credential blob longer than a TPM2B_ID_OBJECT"))?;
        let enc_secret = Tpm2bEncryptedSecret::new(secret)
            .map_err(|_| HwError::BadArgument("secret longer than a TPM2B_ENCRYPTED_SECRET"))?;
        let ak_handle = self.load_ak(&ak)?;
        let result = self.activate_with(ak_handle, &id_object, &enc_secret);
        let flushed = self.wire.flush(ak_handle);
        let cert = result?;
        flushed?;
        Ok(cert)
    }

    fn activate_with(
        &mut self,
        ak: TpmHandle,
        id_object: &Tpm2bIdObject,
        enc_secret: &Tpm2bEncryptedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, HwError> {
        let (ek, _, _) = self.create_ek()?;
        let session = match self.wire.start_policy_session() {
            Ok(s) => s,
            Err(e) => {
                let _ = self.wire.flush(ek);
                return Err(e);
            }
        };
        let result = self.policy_secret_endorsement(session).and_then(|()| {
            let mut p = Vec::new();
            id_object.marshal(&mut p);
            enc_secret.marshal(&mut p);
            let ek_auth = self.wire.policy_auth(session);
            let a = self.wire.exec(
                TpmCc::ACTIVATE_CREDENTIAL,
                &[ak, ek],
                &[password(&[])?, ek_auth],
                &p,
            )?;
            let mut r = a.reader(TpmCc::ACTIVATE_CREDENTIAL);
            let cert: Tpm2bDigest = r.read()?;
            r.finish()?;
            Ok(Zeroizing::new(cert.as_bytes().to_vec()))
        });
        let flushed_session = self.wire.flush(session);
        let flushed_ek = self.wire.flush(ek);
        let cert = result?;
        flushed_session?;
        flushed_ek?;
        Ok(cert)
    }

    /// TPM2_PolicySecret(TPM_RH_ENDORSEMENT) on `session`, with no nonce, cpHash, policyRef or
    /// expiration.
    fn policy_secret_endorsement(&mut self, session: TpmHandle) -> Result<(), HwError> {
        let mut p = Vec::new();
        Tpm2bNonce::empty().marshal(&mut p);
        Tpm2bDigest::empty().marshal(&mut p);
        Tpm2bNonce::empty().marshal(&mut p);
        0i32.marshal(&mut p);
        let auth = password(&self.config.endorsement_auth)?;
        let a = self
            .wire
            .exec(
                TpmCc::POLICY_SECRET,
                &[TpmHandle::ENDORSEMENT, session],
                &[auth],
                &p,
            )
            .map_err(|e| auth_context(e, AuthEntity::Endorsement, 1))?;
        let mut r = a.reader(TpmCc::POLICY_SECRET);
        let _: Tpm2bTimeout = r.read()?;
        let _: TpmtTkAuth = r.read()?;
        r.finish()
    }
}

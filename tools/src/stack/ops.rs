//! The TPM 2.0 commands a guest kernel and its tools send, as the demo and the end-to-end
//! tests use them (TCG TPM 2.0 library part 3: §9.3 Startup, §12.4 ReadPublic, §18.4 Quote,
//! §20.2 Sign, §22.2 PCR_Extend, §22.4 PCR_Read, §24.1 CreatePrimary, §28.5 EvictControl,
//! §31.3 NV_DefineSpace, §31.6 NV_Write, §31.13 NV_Read). Authorization is the empty password
//! everywhere, as on a freshly manufactured TPM.

use tpm2::alg::TpmAlgId;
use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::marshal::Reader;
use tpm2::response::Response;
use tpm2::st::{TpmEccCurve, TpmSu};
use tpm2::structures::{
    PublicDetail, Tpm2bAttest, Tpm2bAuth, Tpm2bCreationData, Tpm2bData, Tpm2bDigest,
    Tpm2bEccParameter, Tpm2bMaxNvBuffer, Tpm2bName, Tpm2bNvPublic, Tpm2bPublic,
    Tpm2bSensitiveCreate, Tpm2bSensitiveData, TpmaNv, TpmaObject, TpmlPcrSelection, TpmsEccParms,
    TpmsEccPoint, TpmsNvPublic, TpmsPcrSelection, TpmsSchemeHash, TpmsSensitiveCreate,
    TpmtEccScheme, TpmtKdfScheme, TpmtPublic, TpmtSigScheme, TpmtSignature, TpmtSymDefObject,
    TpmtTkCreation, TpmtTkHashcheck,
};
use tpm2::transport::Transport;
use tpm2::{Marshal, Unmarshal};

/// Why a guest operation failed.
#[derive(Debug)]
pub struct OpError {
    /// What failed, for people.
    pub message: String,
    /// The TPM's response code, when the TPM answered with an error.
    pub rc: Option<u32>,
}

impl OpError {
    fn new(message: String) -> OpError {
        OpError { message, rc: None }
    }
}

impl core::fmt::Display for OpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpError {}

/// The persistent handle of each guest's attestation key (a restricted ECDSA P-256 key).
pub const AK_HANDLE: TpmHandle = TpmHandle(0x8100_0010);
/// The persistent handle of each guest's general signing key (unrestricted ECDSA P-256).
pub const SIGNING_HANDLE: TpmHandle = TpmHandle(0x8100_0011);
/// The NV index where each guest writes something of its own.
pub const NV_INDEX: TpmHandle = TpmHandle(0x0150_0016);

fn pw() -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::empty())
}

/// Sends one command; a TPM error becomes an [`OpError`] naming the command and the code.
/// Returns the handle (if the command returns one) and the parameter bytes.
pub fn exec<T: Transport>(
    tpm: &mut T,
    code: TpmCc,
    handles: &[TpmHandle],
    sessions: &[TpmsAuthCommand],
    params: &[u8],
) -> Result<(Option<TpmHandle>, Vec<u8>), OpError> {
    let cmd = build_command(code, handles, sessions, params)
        .map_err(|e| OpError::new(format!("{code:?}: {e}")))?;
    let mut buf = vec![0u8; 4096];
    let n = tpm
        .transact(&cmd, &mut buf)
        .map_err(|e| OpError::new(format!("{code:?}: {e}")))?;
    let rsp =
        Response::parse(&buf[..n], code).map_err(|e| OpError::new(format!("{code:?}: {e}")))?;
    if !rsp.code().is_success() {
        return Err(OpError {
            message: format!("{code:?} answered TPM_RC 0x{:03x}", rsp.code().0),
            rc: Some(rsp.code().0),
        });
    }
    Ok((rsp.handle, rsp.parameters.to_vec()))
}

/// TPM2_Startup(CLEAR), as firmware sends it at every boot.
pub fn startup_clear<T: Transport>(tpm: &mut T) -> Result<(), OpError> {
    exec(tpm, TpmCc::STARTUP, &[], &[], &TpmSu::CLEAR.to_bytes()).map(|_| ())
}

/// TPM2_Shutdown(STATE), as an operating system sends it before a reboot.
pub fn shutdown_state<T: Transport>(tpm: &mut T) -> Result<(), OpError> {
    exec(tpm, TpmCc::SHUTDOWN, &[], &[], &TpmSu::STATE.to_bytes()).map(|_| ())
}

/// An ECC P-256 ECDSA-SHA256 signing key template; `restricted` makes it an attestation key.
pub fn signing_template(restricted: bool) -> TpmtPublic {
    let mut attributes = TpmaObject::FIXED_TPM
        | TpmaObject::FIXED_PARENT
        | TpmaObject::SENSITIVE_DATA_ORIGIN
        | TpmaObject::USER_WITH_AUTH
        | TpmaObject::NO_DA
        | TpmaObject::SIGN;
    if restricted {
        attributes |= TpmaObject::RESTRICTED;
    }
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::empty(),
        detail: PublicDetail::Ecc {
            parameters: TpmsEccParms {
                symmetric: TpmtSymDefObject::Null,
                scheme: TpmtEccScheme::Ecdsa(TpmsSchemeHash {
                    hash_alg: TpmAlgId::SHA256,
                }),
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

/// TPM2_CreatePrimary in the owner hierarchy: the transient handle, public area and Name.
pub fn create_primary<T: Transport>(
    tpm: &mut T,
    template: &TpmtPublic,
) -> Result<(TpmHandle, TpmtPublic, Vec<u8>), OpError> {
    let mut p = Vec::new();
    Tpm2bSensitiveCreate::from(TpmsSensitiveCreate {
        user_auth: Tpm2bAuth::empty(),
        data: Tpm2bSensitiveData::empty(),
    })
    .marshal(&mut p);
    Tpm2bPublic::from(template.clone()).marshal(&mut p);
    Tpm2bData::empty().marshal(&mut p);
    TpmlPcrSelection::empty().marshal(&mut p);
    let (handle, params) = exec(tpm, TpmCc::CREATE_PRIMARY, &[TpmHandle::OWNER], &[pw()], &p)?;
    let handle = handle.ok_or_else(|| OpError::new("CreatePrimary returned no handle".into()))?;
    let wire = |e: tpm2::Error| OpError::new(format!("CreatePrimary response: {e}"));
    let mut r = Reader::new(&params);
    let public = Tpm2bPublic::unmarshal(&mut r).map_err(wire)?;
    let _ = Tpm2bCreationData::unmarshal(&mut r).map_err(wire)?;
    let _ = Tpm2bDigest::unmarshal(&mut r).map_err(wire)?;
    let _ = TpmtTkCreation::unmarshal(&mut r).map_err(wire)?;
    let name = Tpm2bName::unmarshal(&mut r).map_err(wire)?;
    Ok((handle, public.public_area, name.as_bytes().to_vec()))
}

/// TPM2_EvictControl: makes `object` persistent at `persistent`.
pub fn evict_control<T: Transport>(
    tpm: &mut T,
    object: TpmHandle,
    persistent: TpmHandle,
) -> Result<(), OpError> {
    exec(
        tpm,
        TpmCc::EVICT_CONTROL,
        &[TpmHandle::OWNER, object],
        &[pw()],
        &persistent.to_bytes(),
    )
    .map(|_| ())
}

/// TPM2_FlushContext.
pub fn flush<T: Transport>(tpm: &mut T, handle: TpmHandle) -> Result<(), OpError> {
    exec(tpm, TpmCc::FLUSH_CONTEXT, &[], &[], &handle.to_bytes()).map(|_| ())
}

/// TPM2_ReadPublic: the public area and Name, or `None` when no object has that handle.
pub fn read_public<T: Transport>(
    tpm: &mut T,
    handle: TpmHandle,
) -> Result<Option<(TpmtPublic, Vec<u8>)>, OpError> {
    let params = match exec(tpm, TpmCc::READ_PUBLIC, &[handle], &[], &[]) {
        Ok((_, p)) => p,
        // TPM_RC_HANDLE for handle 1: no object there.
        Err(OpError {
            rc: Some(0x18b), ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let wire = |e: tpm2::Error| OpError::new(format!("ReadPublic response: {e}"));
    let mut r = Reader::new(&params);
    let public = Tpm2bPublic::unmarshal(&mut r).map_err(wire)?;
    let name = Tpm2bName::unmarshal(&mut r).map_err(wire)?;
    Ok(Some((public.public_area, name.as_bytes().to_vec())))
}

/// Creates the key of `template` and makes it persistent at `handle`, unless an object is
/// already there. Returns its public area, Name, and whether it was created now.
pub fn ensure_persistent_key<T: Transport>(
    tpm: &mut T,
    handle: TpmHandle,
    template: &TpmtPublic,
) -> Result<(TpmtPublic, Vec<u8>, bool), OpError> {
    if let Some((public, name)) = read_public(tpm, handle)? {
        return Ok((public, name, false));
    }
    let (transient, public, name) = create_primary(tpm, template)?;
    evict_control(tpm, transient, handle)?;
    flush(tpm, transient)?;
    Ok((public, name, true))
}

/// SHA-256 PCR values of `pcrs`, in ascending order.
pub fn pcr_read_sha256<T: Transport>(tpm: &mut T, pcrs: &[u32]) -> Result<Vec<Vec<u8>>, OpError> {
    pcr_read(tpm, TpmAlgId::SHA256, pcrs)
}

/// PCR values of `pcrs` in bank `alg`, in ascending order.
pub fn pcr_read<T: Transport>(
    tpm: &mut T,
    alg: TpmAlgId,
    pcrs: &[u32],
) -> Result<Vec<Vec<u8>>, OpError> {
    let sel = TpmlPcrSelection::new(vec![
        TpmsPcrSelection::new(alg, pcrs)
            .map_err(|e| OpError::new(format!("PCR selection: {e}")))?,
    ])
    .map_err(|e| OpError::new(format!("PCR selection: {e}")))?;
    let mut p = Vec::new();
    sel.marshal(&mut p);
    let (_, params) = exec(tpm, TpmCc::PCR_READ, &[], &[], &p)?;
    let wire = |e: tpm2::Error| OpError::new(format!("PCR_Read response: {e}"));
    let mut r = Reader::new(&params);
    let _update = u32::unmarshal(&mut r).map_err(wire)?;
    let _sel = TpmlPcrSelection::unmarshal(&mut r).map_err(wire)?;
    let count = u32::unmarshal(&mut r).map_err(wire)?;
    let mut out = Vec::new();
    for _ in 0..count {
        let d = Tpm2bDigest::unmarshal(&mut r).map_err(wire)?;
        out.push(d.as_bytes().to_vec());
    }
    if out.len() != pcrs.len() {
        return Err(OpError::new(format!(
            "PCR_Read returned {} values for {} PCRs",
            out.len(),
            pcrs.len()
        )));
    }
    Ok(out)
}

/// TPM2_PCR_Extend of one SHA-256 digest into `pcr`.
pub fn pcr_extend_sha256<T: Transport>(
    tpm: &mut T,
    pcr: u32,
    digest: &[u8; 32],
) -> Result<(), OpError> {
    let mut p = Vec::new();
    1u32.marshal(&mut p);
    TpmAlgId::SHA256.marshal(&mut p);
    p.extend_from_slice(digest);
    exec(tpm, TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], &[pw()], &p).map(|_| ())
}

/// TPM2_Quote with `key` over SHA-256 PCRs `pcrs`, with the key's own scheme: the signed
/// TPMS_ATTEST bytes and the signature.
pub fn quote<T: Transport>(
    tpm: &mut T,
    key: TpmHandle,
    nonce: &[u8],
    pcrs: &[u32],
) -> Result<(Vec<u8>, TpmtSignature), OpError> {
    let mut p = Vec::new();
    Tpm2bData::new(nonce)
        .map_err(|e| OpError::new(format!("nonce: {e}")))?
        .marshal(&mut p);
    TpmtSigScheme::Null.marshal(&mut p);
    TpmlPcrSelection::new(vec![
        TpmsPcrSelection::new(TpmAlgId::SHA256, pcrs)
            .map_err(|e| OpError::new(format!("PCR selection: {e}")))?,
    ])
    .map_err(|e| OpError::new(format!("PCR selection: {e}")))?
    .marshal(&mut p);
    let (_, params) = exec(tpm, TpmCc::QUOTE, &[key], &[pw()], &p)?;
    let wire = |e: tpm2::Error| OpError::new(format!("Quote response: {e}"));
    let mut r = Reader::new(&params);
    let attest = Tpm2bAttest::unmarshal(&mut r).map_err(wire)?;
    let sig = TpmtSignature::unmarshal(&mut r).map_err(wire)?;
    Ok((attest.as_bytes().to_vec(), sig))
}

/// TPM2_Sign of a SHA-256 digest with an unrestricted key and its own scheme.
pub fn sign<T: Transport>(
    tpm: &mut T,
    key: TpmHandle,
    digest: &[u8; 32],
) -> Result<TpmtSignature, OpError> {
    let mut p = Vec::new();
    Tpm2bDigest::new(digest)
        .map_err(|e| OpError::new(format!("digest: {e}")))?
        .marshal(&mut p);
    TpmtSigScheme::Null.marshal(&mut p);
    TpmtTkHashcheck::null().marshal(&mut p);
    let (_, params) = exec(tpm, TpmCc::SIGN, &[key], &[pw()], &p)?;
    TpmtSignature::from_bytes(&params).map_err(|e| OpError::new(format!("Sign response: {e}")))
}

/// Defines a 64-byte owner-authorised ordinary NV index at `index` unless it exists.
pub fn nv_ensure<T: Transport>(tpm: &mut T, index: TpmHandle) -> Result<bool, OpError> {
    if exec(tpm, TpmCc::NV_READ_PUBLIC, &[index], &[], &[]).is_ok() {
        return Ok(false);
    }
    let public = TpmsNvPublic {
        nv_index: index,
        name_alg: TpmAlgId::SHA256,
        attributes: TpmaNv(TpmaNv::OWNERWRITE | TpmaNv::OWNERREAD | TpmaNv::NO_DA),
        auth_policy: Tpm2bDigest::empty(),
        data_size: 64,
    };
    let mut p = Vec::new();
    Tpm2bAuth::empty().marshal(&mut p);
    Tpm2bNvPublic::from(public).marshal(&mut p);
    exec(
        tpm,
        TpmCc::NV_DEFINE_SPACE,
        &[TpmHandle::OWNER],
        &[pw()],
        &p,
    )?;
    Ok(true)
}

/// Writes `data` (≤ 64 bytes) at offset 0 of `index` with owner authorization.
pub fn nv_write<T: Transport>(tpm: &mut T, index: TpmHandle, data: &[u8]) -> Result<(), OpError> {
    let mut p = Vec::new();
    Tpm2bMaxNvBuffer::new(data)
        .map_err(|e| OpError::new(format!("NV data: {e}")))?
        .marshal(&mut p);
    0u16.marshal(&mut p);
    exec(
        tpm,
        TpmCc::NV_WRITE,
        &[TpmHandle::OWNER, index],
        &[pw()],
        &p,
    )
    .map(|_| ())
}

/// Reads `size` bytes at offset 0 of `index` with owner authorization.
pub fn nv_read<T: Transport>(tpm: &mut T, index: TpmHandle, size: u16) -> Result<Vec<u8>, OpError> {
    let mut p = Vec::new();
    size.marshal(&mut p);
    0u16.marshal(&mut p);
    let (_, params) = exec(tpm, TpmCc::NV_READ, &[TpmHandle::OWNER, index], &[pw()], &p)?;
    let b =
        Tpm2bMaxNvBuffer::from_bytes(&params).map_err(|e| OpError::new(format!("NV_Read: {e}")))?;
    Ok(b.as_bytes().to_vec())
}

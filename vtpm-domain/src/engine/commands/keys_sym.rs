//! TPM2_EncryptDecrypt (part 3 §15.2), TPM2_EncryptDecrypt2 (part 3 §15.3) and TPM2_Unseal
//! (part 3 §12.7).
//!
//! A symmetric-cipher key encrypts if it has `sign` (which reads "encrypt" for these keys) and
//! decrypts if it has `decrypt`; restricted keys do neither. The mode is the key's, or the
//! caller's when the key's is TPM_ALG_NULL (the caller may repeat the key's mode). The IV is one
//! block, empty for ECB; CBC and ECB take whole blocks only.

use tpm2::alg::TpmAlgId;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    PublicDetail, Tpm2bIv, Tpm2bMaxBuffer, Tpm2bSensitiveData, TpmaObject, TpmtSymDefObject,
};
use tpm2::{Error, Reader, Unmarshal};
use zeroize::Zeroizing;

use super::loaded;
use crate::engine::Engine;
use crate::engine::crypto::sym::{AES_BLOCK, SymMode, aes_decrypt, aes_encrypt};
use crate::engine::dispatch::Ctx;

/// Reads a TPMI_YES_NO (TPM_RC_VALUE unless 0 or 1).
fn read_yes_no(r: &mut Reader<'_>) -> Result<bool, Error> {
    match u8::unmarshal(r)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::BadValue {
            what: "TPMI_YES_NO",
            value: u32::from(v),
        }),
    }
}

/// Reads a TPMI_ALG_CIPHER_MODE+ (part 2 §9.34): CTR, OFB, CBC, CFB, ECB or TPM_ALG_NULL;
/// anything else is TPM_RC_MODE.
fn read_cipher_mode(r: &mut Reader<'_>) -> Result<TpmAlgId, Error> {
    let mode = TpmAlgId::unmarshal(r)?;
    if mode == TpmAlgId::NULL || SymMode::from_alg(mode).is_some() {
        Ok(mode)
    } else {
        Err(Error::BadValue {
            what: "TPMI_ALG_SYM_MODE (cipher mode)",
            value: u32::from(mode.0),
        })
    }
}

/// The CFB shift register after a final partial block, as libtpms (OpenSSL's CFB-128) leaves
/// it and returns as `ivOut`: the partial block's ciphertext bytes, then the rest of the
/// keystream block they were encrypted with (`AES_K(previous ciphertext block or IV)`). The
/// reference code of part 4 pads with zeros instead; swtpm is what guests meet, so its value
/// is returned. `ciphertext` is the whole ciphertext of the call (output when encrypting,
/// input when decrypting) and must not be a whole number of blocks.
fn cfb_partial_register(
    key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<[u8; AES_BLOCK]>, TpmRc> {
    let whole = ciphertext.len() - ciphertext.len() % AES_BLOCK;
    let previous = if whole == 0 {
        iv
    } else {
        &ciphertext[whole - AES_BLOCK..whole]
    };
    let mut register = Zeroizing::new([0u8; AES_BLOCK]);
    register.copy_from_slice(previous);
    aes_encrypt(SymMode::Ecb, key, &[], &mut register[..])
        .map_err(|_| TpmRc::KEY.with_handle(1))?;
    let tail = &ciphertext[whole..];
    register[..tail.len()].copy_from_slice(tail);
    Ok(register)
}

/// The parameters of TPM2_EncryptDecrypt(2), with the numbers they have in the command.
struct Request {
    decrypt: bool,
    mode: TpmAlgId,
    iv: Tpm2bIv,
    data: Tpm2bMaxBuffer,
    mode_n: u8,
    iv_n: u8,
    data_n: u8,
}

/// The action shared by both commands (`EncryptDecryptShared`).
fn encrypt_decrypt_shared(e: &Engine, ctx: &mut Ctx, req: &Request) -> Result<(), TpmRc> {
    let obj = loaded(e, ctx.handles[0])?;
    if obj.public_only {
        return Err(TpmRc::AUTH_UNAVAILABLE);
    }
    let PublicDetail::SymCipher { parameters, .. } = &obj.public.detail else {
        return Err(TpmRc::KEY.with_handle(1));
    };
    let attributes = obj.public.object_attributes;
    let allowed = if req.decrypt {
        attributes.has(TpmaObject::DECRYPT)
    } else {
        attributes.has(TpmaObject::ENCRYPT)
    };
    if attributes.has(TpmaObject::RESTRICTED) || !allowed {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    let TpmtSymDefObject::Aes { mode: key_mode, .. } = parameters.sym else {
        return Err(TpmRc::KEY.with_handle(1));
    };
    // The key's mode must be an encryption mode or TPM_ALG_NULL (not CMAC).
    if key_mode != TpmAlgId::NULL && SymMode::from_alg(key_mode).is_none() {
        return Err(TpmRc::MODE.with_handle(1));
    }
    let mode = if key_mode == TpmAlgId::NULL {
        req.mode
    } else if req.mode == TpmAlgId::NULL || req.mode == key_mode {
        key_mode
    } else {
        return Err(TpmRc::MODE.with_parameter(req.mode_n));
    };
    let Some(mode) = SymMode::from_alg(mode) else {
        return Err(TpmRc::MODE.with_parameter(req.mode_n));
    };
    let iv_len = if mode == SymMode::Ecb { 0 } else { AES_BLOCK };
    if req.iv.len() != iv_len {
        return Err(TpmRc::SIZE.with_parameter(req.iv_n));
    }
    if matches!(mode, SymMode::Cbc | SymMode::Ecb) && req.data.len() % AES_BLOCK != 0 {
        return Err(TpmRc::SIZE.with_parameter(req.data_n));
    }
    let key = &obj.sensitive.private;
    let mut data = Zeroizing::new(req.data.as_bytes().to_vec());
    let chain = if req.decrypt {
        aes_decrypt(mode, key, req.iv.as_bytes(), &mut data)
    } else {
        aes_encrypt(mode, key, req.iv.as_bytes(), &mut data)
    }
    .map_err(|_| TpmRc::KEY.with_handle(1))?;
    let iv_out = if mode == SymMode::Ecb || data.is_empty() {
        req.iv.clone()
    } else if mode == SymMode::Cfb && data.len() % AES_BLOCK != 0 {
        let ciphertext = if req.decrypt {
            req.data.as_bytes()
        } else {
            &data[..]
        };
        let register = cfb_partial_register(key, req.iv.as_bytes(), ciphertext)?;
        Tpm2bIv::new(&register[..]).map_err(|_| TpmRc::SIZE)?
    } else {
        Tpm2bIv::new(&chain).map_err(|_| TpmRc::SIZE)?
    };
    ctx.put(&Tpm2bMaxBuffer::new(&data).map_err(|_| TpmRc::SIZE)?);
    ctx.put(&iv_out);
    Ok(())
}

/// TPM2_EncryptDecrypt (part 3 §15.2).
///
/// Parameters: decrypt (1), mode (2, TPMI_ALG_CIPHER_MODE+), ivIn (3), inData (4).
pub(super) fn encrypt_decrypt(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let decrypt = ctx.param_with(read_yes_no)?;
    let mode = ctx.param_with(read_cipher_mode)?;
    let iv: Tpm2bIv = ctx.param()?;
    let data: Tpm2bMaxBuffer = ctx.param()?;
    ctx.finish()?;
    let req = Request {
        decrypt,
        mode,
        iv,
        data,
        mode_n: 2,
        iv_n: 3,
        data_n: 4,
    };
    encrypt_decrypt_shared(e, ctx, &req)
}

/// TPM2_EncryptDecrypt2 (part 3 §15.3): the same with inData first, so that a session can
/// encrypt it.
///
/// Parameters: inData (1), decrypt (2), mode (3, TPMI_ALG_CIPHER_MODE+), ivIn (4).
pub(super) fn encrypt_decrypt2(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bMaxBuffer = ctx.param()?;
    let decrypt = ctx.param_with(read_yes_no)?;
    let mode = ctx.param_with(read_cipher_mode)?;
    let iv: Tpm2bIv = ctx.param()?;
    ctx.finish()?;
    let req = Request {
        decrypt,
        mode,
        iv,
        data,
        mode_n: 3,
        iv_n: 4,
        data_n: 1,
    };
    encrypt_decrypt_shared(e, ctx, &req)
}

/// TPM2_Unseal (part 3 §12.7): the data of a sealed data object (a keyed-hash object that is
/// neither a signing, a decryption nor a restricted key).
pub(super) fn unseal(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let obj = loaded(e, ctx.handles[0])?;
    if obj.public_only {
        return Err(TpmRc::AUTH_UNAVAILABLE);
    }
    if obj.public.object_type() != TpmAlgId::KEYEDHASH {
        return Err(TpmRc::TYPE.with_handle(1));
    }
    let attributes = obj.public.object_attributes;
    if attributes.bits() & (TpmaObject::DECRYPT | TpmaObject::SIGN | TpmaObject::RESTRICTED) != 0 {
        return Err(TpmRc::ATTRIBUTES.with_handle(1));
    }
    let out = Tpm2bSensitiveData::new(&obj.sensitive.private).map_err(|_| TpmRc::SIZE)?;
    ctx.put(&out);
    Ok(())
}

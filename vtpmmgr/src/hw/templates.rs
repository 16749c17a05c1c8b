//! The public-area templates of every object the manager creates on the hardware TPM
//! (part 2 §12.2.4 TPMT_PUBLIC), and object Names (part 1 §16: `nameAlg ‖ H_nameAlg(TPMT_PUBLIC)`).
//!
//! - SRK: the ECC NIST P-256 storage primary key of the TCG "TPM v2.0 Provisioning Guidance"
//!   (version 1.0 revision 1.0, §7.5.1 "Storage Primary Key (SRK) Templates"): restricted
//!   decrypt, AES-128-CFB, fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA,
//!   empty authPolicy, `unique` = two 32-byte zero coordinates. Deterministic: the same key
//!   comes back at every boot until the owner seed changes (TPM2_Clear).
//! - SK: an ordinary (non-primary) storage key of the same shape under the SRK, with an empty
//!   `unique` (the TPM fills it in TPM2_Create).
//! - Sealed root key: a keyed-hash data object (scheme NULL) holding the 32-byte root key.
//! - AK: an ECC P-256 restricted signing key, ECDSA-SHA256.
//! - EK: the "default" ECC NIST P-256 EK of the TCG EK Credential Profile (template L-2, the one
//!   `tpm2_createek -G ecc` makes): restricted decrypt, adminWithPolicy, authPolicy =
//!   PolicySecret(TPM_RH_ENDORSEMENT), `unique` = two 32-byte zero coordinates.
//!
//! Every object uses SHA-256 as nameAlg and an empty authValue.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::st::TpmEccCurve;
use tpm2::structures::{
    PublicDetail, Tpm2bDigest, Tpm2bEccParameter, TpmaObject, TpmsEccParms, TpmsEccPoint,
    TpmsKeyedhashParms, TpmsSchemeHash, TpmtEccScheme, TpmtKdfScheme, TpmtKeyedhashScheme,
    TpmtPublic, TpmtSymDefObject,
};

use super::policy::EK_POLICY;

/// The attributes of the SRK and the SK: fixedTPM | fixedParent | sensitiveDataOrigin |
/// userWithAuth | noDA | restricted | decrypt (0x00030472).
pub const STORAGE_ATTRIBUTES: u32 = TpmaObject::FIXED_TPM
    | TpmaObject::FIXED_PARENT
    | TpmaObject::SENSITIVE_DATA_ORIGIN
    | TpmaObject::USER_WITH_AUTH
    | TpmaObject::NO_DA
    | TpmaObject::RESTRICTED
    | TpmaObject::DECRYPT;

/// The attributes of the sealed root key with a PCR policy: fixedTPM | fixedParent | noDA
/// (0x00000412). Without a policy userWithAuth is added (0x00000452).
pub const SEALED_ATTRIBUTES: u32 =
    TpmaObject::FIXED_TPM | TpmaObject::FIXED_PARENT | TpmaObject::NO_DA;

/// The attributes of the AK: fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth |
/// noDA | restricted | sign (0x00050472).
pub const AK_ATTRIBUTES: u32 = TpmaObject::FIXED_TPM
    | TpmaObject::FIXED_PARENT
    | TpmaObject::SENSITIVE_DATA_ORIGIN
    | TpmaObject::USER_WITH_AUTH
    | TpmaObject::NO_DA
    | TpmaObject::RESTRICTED
    | TpmaObject::SIGN;

/// The attributes of the EK (EK Credential Profile template L-2): fixedTPM | fixedParent |
/// sensitiveDataOrigin | adminWithPolicy | restricted | decrypt (0x000300B2).
pub const EK_ATTRIBUTES: u32 = TpmaObject::FIXED_TPM
    | TpmaObject::FIXED_PARENT
    | TpmaObject::SENSITIVE_DATA_ORIGIN
    | TpmaObject::ADMIN_WITH_POLICY
    | TpmaObject::RESTRICTED
    | TpmaObject::DECRYPT;

/// A P-256 point of two 32-byte zero coordinates (the `unique` of the SRK and EK templates),
/// or of two empty coordinates.
fn point(zero_filled: bool) -> TpmsEccPoint {
    let coordinate = if zero_filled {
        Tpm2bEccParameter::new(&[0; 32]).unwrap_or_default()
    } else {
        Tpm2bEccParameter::empty()
    };
    TpmsEccPoint {
        x: coordinate.clone(),
        y: coordinate,
    }
}

fn storage_parms() -> TpmsEccParms {
    TpmsEccParms {
        symmetric: TpmtSymDefObject::AES_128_CFB,
        scheme: TpmtEccScheme::Null,
        curve_id: TpmEccCurve::NIST_P256,
        kdf: TpmtKdfScheme::Null,
    }
}

fn ecc(attributes: u32, policy: &[u8], parameters: TpmsEccParms, zero_unique: bool) -> TpmtPublic {
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy: Tpm2bDigest::new(policy).unwrap_or_default(),
        detail: PublicDetail::Ecc {
            parameters,
            unique: point(zero_unique),
        },
    }
}

/// The SRK template (see the module documentation).
pub fn srk() -> TpmtPublic {
    ecc(STORAGE_ATTRIBUTES, &[], storage_parms(), true)
}

/// The SK template.
pub fn sk() -> TpmtPublic {
    ecc(STORAGE_ATTRIBUTES, &[], storage_parms(), false)
}

/// The AK template.
pub fn ak() -> TpmtPublic {
    let parameters = TpmsEccParms {
        symmetric: TpmtSymDefObject::Null,
        scheme: TpmtEccScheme::Ecdsa(TpmsSchemeHash {
            hash_alg: TpmAlgId::SHA256,
        }),
        curve_id: TpmEccCurve::NIST_P256,
        kdf: TpmtKdfScheme::Null,
    };
    ecc(AK_ATTRIBUTES, &[], parameters, false)
}

/// The EK template.
pub fn ek() -> TpmtPublic {
    ecc(EK_ATTRIBUTES, &EK_POLICY, storage_parms(), true)
}

/// The sealed-root-key template: `policy` is the PolicyPCR digest, or `None` for
/// authorization with the (empty) authValue.
pub fn sealed(policy: Option<&[u8; 32]>) -> TpmtPublic {
    let (attributes, auth_policy) = match policy {
        Some(digest) => (
            SEALED_ATTRIBUTES,
            Tpm2bDigest::new(digest).unwrap_or_default(),
        ),
        None => (
            SEALED_ATTRIBUTES | TpmaObject::USER_WITH_AUTH,
            Tpm2bDigest::empty(),
        ),
    };
    TpmtPublic {
        name_alg: TpmAlgId::SHA256,
        object_attributes: TpmaObject(attributes),
        auth_policy,
        detail: PublicDetail::KeyedHash {
            parameters: TpmsKeyedhashParms {
                scheme: TpmtKeyedhashScheme::Null,
            },
            unique: Tpm2bDigest::empty(),
        },
    }
}

/// Whether `public` is an object made from `template`: every field equal except `unique`,
/// which must be filled in (an ECC point of two 32-byte coordinates, or a 32-byte keyed-hash
/// digest).
pub fn matches(public: &TpmtPublic, template: &TpmtPublic) -> bool {
    let head = public.name_alg == template.name_alg
        && public.object_attributes == template.object_attributes
        && public.auth_policy == template.auth_policy
        && public.detail.parameters() == template.detail.parameters();
    let unique = match &public.detail {
        PublicDetail::Ecc { unique, .. } => unique.x.len() == 32 && unique.y.len() == 32,
        PublicDetail::KeyedHash { unique, .. } => unique.len() == 32,
        _ => false,
    };
    head && unique
}

/// The Name of an object with SHA-256 nameAlg: `0x000B ‖ SHA-256(TPMT_PUBLIC)` (part 1 §16).
pub fn name(public: &TpmtPublic) -> Vec<u8> {
    let mut out = Vec::with_capacity(34);
    TpmAlgId::SHA256.marshal(&mut out);
    out.extend_from_slice(&Sha256::digest(public.to_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_words_are_the_documented_ones() {
        assert_eq!(STORAGE_ATTRIBUTES, 0x0003_0472);
        assert_eq!(AK_ATTRIBUTES, 0x0005_0472);
        assert_eq!(EK_ATTRIBUTES, 0x0003_00B2);
        assert_eq!(SEALED_ATTRIBUTES, 0x0000_0412);
    }

    #[test]
    fn srk_template_bytes() {
        // type ECC, nameAlg SHA-256, attributes, empty policy, AES-128-CFB, scheme NULL,
        // NIST P-256, KDF NULL, unique x and y of 32 zero bytes.
        let mut expected = Vec::from(*b"\x00\x23\x00\x0b\x00\x03\x04\x72\x00\x00");
        expected.extend_from_slice(b"\x00\x06\x00\x80\x00\x43\x00\x10\x00\x03\x00\x10");
        expected.extend_from_slice(&[0, 32]);
        expected.extend_from_slice(&[0; 32]);
        expected.extend_from_slice(&[0, 32]);
        expected.extend_from_slice(&[0; 32]);
        assert_eq!(srk().to_bytes(), expected);
    }

    #[test]
    fn ek_template_bytes_start() {
        let bytes = ek().to_bytes();
        // type, nameAlg, attributes 0x000300B2, a 32-byte policy.
        assert_eq!(&bytes[..10], b"\x00\x23\x00\x0b\x00\x03\x00\xb2\x00\x20");
        assert_eq!(&bytes[10..42], &EK_POLICY);
    }

    #[test]
    fn template_matching() {
        let mut made = sk();
        if let PublicDetail::Ecc { unique, .. } = &mut made.detail {
            *unique = point(true);
        }
        assert!(matches(&made, &sk()));
        assert!(!matches(&sk(), &sk()), "an empty unique is not a made key");
        assert!(!matches(&made, &ak()));
        made.object_attributes = TpmaObject(STORAGE_ATTRIBUTES & !TpmaObject::NO_DA);
        assert!(!matches(&made, &sk()));
    }
}

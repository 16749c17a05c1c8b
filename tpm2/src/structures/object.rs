//! Objects (TCG TPM 2.0 Library part 2 §12) and the tickets and creation data that go with
//! them (§10.7 tickets, §15.1 TPMS_CREATION_DATA): public areas (§12.2: TPMS_KEYEDHASH_PARMS,
//! TPMS_RSA_PARMS, TPMS_ECC_PARMS, TPMT_PUBLIC_PARMS, TPMU_PUBLIC_ID, TPMT_PUBLIC,
//! TPM2B_PUBLIC, TPM2B_TEMPLATE), sensitive areas (§12.3: TPMU_SENSITIVE_COMPOSITE,
//! TPMT_SENSITIVE, TPM2B_SENSITIVE), creation inputs (§11.1.11 TPMS_DERIVE, §11.1.15–§11.1.16
//! TPMS_SENSITIVE_CREATE, TPM2B_SENSITIVE_CREATE) and TPMS_ID_OBJECT (§12.4.2).
//!
//! A public area's `type` selects both its `parameters` and its `unique` member; here the
//! two live together in one [`PublicDetail`] variant, so a value cannot describe an RSA key
//! with ECC parameters. The same holds for the sensitive area, whose
//! [`TpmuSensitiveComposite`] variant is its `sensitiveType`.
//!
//! Sized wrappers (TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, TPM2B_CREATION_DATA, ...) must be
//! filled exactly by the structure inside them: bytes left over inside the size are
//! [`Error::TrailingBytes`], a structure running past it is [`Error::Truncated`], and a zero
//! size where the structure is required is [`Error::TooSmall`] (the reference implementation's
//! TPM_RC_SIZE in each case).
//!
//! TPM_ALG_NULL follows the convention of [`crate::structures::crypto`]: the [`Unmarshal`]
//! implementations read the plain types of part 2 / part 3, and `unmarshal_with` /
//! `unmarshal_allow_null` read the "+" forms (TPM2B_PUBLIC+ of TPM2_LoadExternal, whose
//! `nameAlg` may be TPM_ALG_NULL).
//!
//! The Name of an object is `nameAlg || H_nameAlg(marshalled TPMT_PUBLIC)` (part 1 §16); this
//! crate has no hash functions, so [`TpmtPublic::name_alg`] and the bytes from
//! [`Marshal::to_bytes`] are what the engine hashes.

use alloc::vec::Vec;

use crate::alg::TpmAlgId;
use crate::handle::TpmHandle;
use crate::marshal::marshal_sized_with;
use crate::st::{TpmEccCurve, TpmSt};
use crate::structures::crypto::{check_ecc_curve, read_alg_hash};
use crate::structures::{
    Tpm2bAuth, Tpm2bData, Tpm2bDigest, Tpm2bEccParameter, Tpm2bLabel, Tpm2bName,
    Tpm2bPrivateKeyRsa, Tpm2bPublicKeyRsa, Tpm2bSecretDigest, Tpm2bSecretEccParameter,
    Tpm2bSensitiveData, Tpm2bSymKey, Tpm2bTemplate, TpmaLocality, TpmaObject, TpmlPcrSelection,
    TpmsEccPoint, TpmsSymcipherParms, TpmtEccScheme, TpmtKdfScheme, TpmtKeyedhashScheme,
    TpmtRsaScheme, TpmtSymDefObject,
};
use crate::{Error, Marshal, Reader, Unmarshal};

/// Reads a TPMI_ALG_PUBLIC (part 2 §12.2.2): the four object types. Anything else is a bad
/// selector of `what`.
fn read_public_type(r: &mut Reader<'_>, what: &'static str) -> Result<TpmAlgId, Error> {
    let ty = TpmAlgId::unmarshal(r)?;
    match ty {
        TpmAlgId::RSA | TpmAlgId::KEYEDHASH | TpmAlgId::ECC | TpmAlgId::SYMCIPHER => Ok(ty),
        _ => Err(Error::BadSelector {
            what,
            value: u32::from(ty.0),
        }),
    }
}

/// Checks a TPMI_RH_HIERARCHY+ (part 2 §9.13): the three hierarchies or TPM_RH_NULL.
pub fn check_hierarchy_allow_null(h: TpmHandle) -> Result<TpmHandle, Error> {
    match h {
        TpmHandle::OWNER | TpmHandle::ENDORSEMENT | TpmHandle::PLATFORM | TpmHandle::NULL => Ok(h),
        _ => Err(Error::BadValue {
            what: "TPMI_RH_HIERARCHY",
            value: h.0,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Public parameters (§12.2.3)
// ---------------------------------------------------------------------------------------------

/// TPMS_KEYEDHASH_PARMS (part 2 §12.2.3.3): the scheme of a keyed-hash object
/// (TPMT_KEYEDHASH_SCHEME+: TPM_ALG_NULL for a sealed data object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsKeyedhashParms {
    /// scheme.
    pub scheme: TpmtKeyedhashScheme,
}

impl Marshal for TpmsKeyedhashParms {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.scheme.marshal(out);
    }
}

impl Unmarshal for TpmsKeyedhashParms {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            scheme: TpmtKeyedhashScheme::unmarshal_allow_null(r)?,
        })
    }
}

/// TPMS_RSA_PARMS (part 2 §12.2.3.5): the parameters of an RSA key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsRsaParms {
    /// symmetric: for a restricted decryption key (a storage parent), the cipher that protects
    /// its children; otherwise TPM_ALG_NULL (TPMT_SYM_DEF_OBJECT+).
    pub symmetric: TpmtSymDefObject,
    /// scheme (TPMT_RSA_SCHEME+).
    pub scheme: TpmtRsaScheme,
    /// keyBits (TPMI_RSA_KEY_BITS: 1024, 2048, 3072 or 4096).
    pub key_bits: u16,
    /// exponent: the public exponent; 0 means the default 2^16 + 1.
    pub exponent: u32,
}

impl TpmsRsaParms {
    /// The RSA key sizes accepted as TPMI_RSA_KEY_BITS.
    pub const KEY_BITS: [u16; 4] = [1024, 2048, 3072, 4096];
    /// The exponent a zero `exponent` field stands for.
    pub const DEFAULT_EXPONENT: u32 = 0x0001_0001;

    /// The exponent actually used: [`TpmsRsaParms::DEFAULT_EXPONENT`] when the field is 0.
    pub const fn effective_exponent(&self) -> u32 {
        if self.exponent == 0 {
            Self::DEFAULT_EXPONENT
        } else {
            self.exponent
        }
    }
}

impl Marshal for TpmsRsaParms {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.symmetric.marshal(out);
        self.scheme.marshal(out);
        self.key_bits.marshal(out);
        self.exponent.marshal(out);
    }
}

impl Unmarshal for TpmsRsaParms {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let symmetric = TpmtSymDefObject::unmarshal_allow_null(r)?;
        let scheme = TpmtRsaScheme::unmarshal_allow_null(r)?;
        let key_bits = r.u16("TPMI_RSA_KEY_BITS")?;
        if !Self::KEY_BITS.contains(&key_bits) {
            return Err(Error::BadValue {
                what: "TPMI_RSA_KEY_BITS",
                value: u32::from(key_bits),
            });
        }
        Ok(Self {
            symmetric,
            scheme,
            key_bits,
            exponent: r.u32("TPMS_RSA_PARMS")?,
        })
    }
}

/// TPMS_ECC_PARMS (part 2 §12.2.3.6): the parameters of an ECC key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsEccParms {
    /// symmetric: for a restricted decryption key, the cipher that protects its children;
    /// otherwise TPM_ALG_NULL (TPMT_SYM_DEF_OBJECT+).
    pub symmetric: TpmtSymDefObject,
    /// scheme (TPMT_ECC_SCHEME+).
    pub scheme: TpmtEccScheme,
    /// curveID (TPMI_ECC_CURVE: a named curve, not TPM_ECC_NONE).
    pub curve_id: TpmEccCurve,
    /// kdf (TPMT_KDF_SCHEME+).
    pub kdf: TpmtKdfScheme,
}

impl Marshal for TpmsEccParms {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.symmetric.marshal(out);
        self.scheme.marshal(out);
        self.curve_id.marshal(out);
        self.kdf.marshal(out);
    }
}

impl Unmarshal for TpmsEccParms {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            symmetric: TpmtSymDefObject::unmarshal_allow_null(r)?,
            scheme: TpmtEccScheme::unmarshal_allow_null(r)?,
            curve_id: check_ecc_curve(TpmEccCurve::unmarshal(r)?)?,
            kdf: TpmtKdfScheme::unmarshal_allow_null(r)?,
        })
    }
}

/// TPMT_PUBLIC_PARMS (part 2 §12.2.3.8): an object type with its parameters
/// (TPMU_PUBLIC_PARMS), as given to TPM2_TestParms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmtPublicParms {
    /// TPM_ALG_KEYEDHASH.
    KeyedHash(TpmsKeyedhashParms),
    /// TPM_ALG_SYMCIPHER.
    SymCipher(TpmsSymcipherParms),
    /// TPM_ALG_RSA.
    Rsa(TpmsRsaParms),
    /// TPM_ALG_ECC.
    Ecc(TpmsEccParms),
}

impl TpmtPublicParms {
    /// The object type (TPMI_ALG_PUBLIC).
    pub const fn object_type(&self) -> TpmAlgId {
        match self {
            Self::KeyedHash(_) => TpmAlgId::KEYEDHASH,
            Self::SymCipher(_) => TpmAlgId::SYMCIPHER,
            Self::Rsa(_) => TpmAlgId::RSA,
            Self::Ecc(_) => TpmAlgId::ECC,
        }
    }

    /// Reads the TPMU_PUBLIC_PARMS member selected by `ty` (a valid TPMI_ALG_PUBLIC).
    fn unmarshal_for(r: &mut Reader<'_>, ty: TpmAlgId) -> Result<Self, Error> {
        Ok(match ty {
            TpmAlgId::KEYEDHASH => Self::KeyedHash(TpmsKeyedhashParms::unmarshal(r)?),
            TpmAlgId::SYMCIPHER => Self::SymCipher(TpmsSymcipherParms::unmarshal(r)?),
            TpmAlgId::RSA => Self::Rsa(TpmsRsaParms::unmarshal(r)?),
            TpmAlgId::ECC => Self::Ecc(TpmsEccParms::unmarshal(r)?),
            _ => {
                return Err(Error::BadSelector {
                    what: "TPMU_PUBLIC_PARMS",
                    value: u32::from(ty.0),
                });
            }
        })
    }

    /// Writes the TPMU_PUBLIC_PARMS member only (no selector).
    fn marshal_union(&self, out: &mut Vec<u8>) {
        match self {
            Self::KeyedHash(p) => p.marshal(out),
            Self::SymCipher(p) => p.marshal(out),
            Self::Rsa(p) => p.marshal(out),
            Self::Ecc(p) => p.marshal(out),
        }
    }
}

impl Marshal for TpmtPublicParms {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.object_type().marshal(out);
        self.marshal_union(out);
    }
}

impl Unmarshal for TpmtPublicParms {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let ty = read_public_type(r, "TPMT_PUBLIC_PARMS")?;
        Self::unmarshal_for(r, ty)
    }
}

// ---------------------------------------------------------------------------------------------
// Public area (§12.2.3.2, §12.2.4, §12.2.5)
// ---------------------------------------------------------------------------------------------

crate::wire_struct! {
    /// TPMS_DERIVE (part 2 §11.1.11): the label and context that take the place of `unique`
    /// in the template of an object derived from a derivation parent (TPM2_CreateLoaded).
    pub struct TpmsDerive("TPMS_DERIVE") {
        /// label.
        pub label: Tpm2bLabel,
        /// context.
        pub context: Tpm2bLabel,
    }
}

/// TPMU_PUBLIC_ID (part 2 §12.2.3.2): the unique identifier of an object, whose member is
/// chosen by the object type (or, for a derivation template, is a TPMS_DERIVE). It has no
/// selector of its own; in a [`TpmtPublic`] it lives inside [`PublicDetail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmuPublicId {
    /// keyedHash: the digest binding the sealed data or HMAC key.
    KeyedHash(Tpm2bDigest),
    /// sym: the digest binding the symmetric key.
    Sym(Tpm2bDigest),
    /// rsa: the public modulus.
    Rsa(Tpm2bPublicKeyRsa),
    /// ecc: the public point.
    Ecc(TpmsEccPoint),
    /// derive: label and context of a derivation template.
    Derive(TpmsDerive),
}

impl Marshal for TpmuPublicId {
    fn marshal(&self, out: &mut Vec<u8>) {
        match self {
            Self::KeyedHash(d) | Self::Sym(d) => d.marshal(out),
            Self::Rsa(n) => n.marshal(out),
            Self::Ecc(p) => p.marshal(out),
            Self::Derive(d) => d.marshal(out),
        }
    }
}

/// The `[type]parameters` (TPMU_PUBLIC_PARMS) and `[type]unique` (TPMU_PUBLIC_ID) members of
/// a TPMT_PUBLIC, which share the selector `type`: one variant per object type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicDetail {
    /// TPM_ALG_KEYEDHASH: an HMAC key, XOR key or sealed data object.
    KeyedHash {
        /// parameters.keyedHashDetail.
        parameters: TpmsKeyedhashParms,
        /// unique.keyedHash.
        unique: Tpm2bDigest,
    },
    /// TPM_ALG_SYMCIPHER: a symmetric block-cipher key.
    SymCipher {
        /// parameters.symDetail.
        parameters: TpmsSymcipherParms,
        /// unique.sym.
        unique: Tpm2bDigest,
    },
    /// TPM_ALG_RSA: an RSA key.
    Rsa {
        /// parameters.rsaDetail.
        parameters: TpmsRsaParms,
        /// unique.rsa: the modulus.
        unique: Tpm2bPublicKeyRsa,
    },
    /// TPM_ALG_ECC: an ECC key.
    Ecc {
        /// parameters.eccDetail.
        parameters: TpmsEccParms,
        /// unique.ecc: the public point.
        unique: TpmsEccPoint,
    },
}

impl PublicDetail {
    /// Pairs parameters with a unique identifier, which must be the member the parameters'
    /// object type selects ([`Error::BadSelector`] naming TPMU_PUBLIC_ID otherwise).
    pub fn new(parameters: TpmtPublicParms, unique: TpmuPublicId) -> Result<Self, Error> {
        Ok(match (parameters, unique) {
            (TpmtPublicParms::KeyedHash(parameters), TpmuPublicId::KeyedHash(unique)) => {
                Self::KeyedHash { parameters, unique }
            }
            (TpmtPublicParms::SymCipher(parameters), TpmuPublicId::Sym(unique)) => {
                Self::SymCipher { parameters, unique }
            }
            (TpmtPublicParms::Rsa(parameters), TpmuPublicId::Rsa(unique)) => {
                Self::Rsa { parameters, unique }
            }
            (TpmtPublicParms::Ecc(parameters), TpmuPublicId::Ecc(unique)) => {
                Self::Ecc { parameters, unique }
            }
            (parameters, _) => {
                return Err(Error::BadSelector {
                    what: "TPMU_PUBLIC_ID",
                    value: u32::from(parameters.object_type().0),
                });
            }
        })
    }

    /// The parameters with an empty `unique` of the matching member (what a template carries
    /// before the TPM fills in the key).
    pub fn with_empty_unique(parameters: TpmtPublicParms) -> Self {
        match parameters {
            TpmtPublicParms::KeyedHash(parameters) => Self::KeyedHash {
                parameters,
                unique: Tpm2bDigest::empty(),
            },
            TpmtPublicParms::SymCipher(parameters) => Self::SymCipher {
                parameters,
                unique: Tpm2bDigest::empty(),
            },
            TpmtPublicParms::Rsa(parameters) => Self::Rsa {
                parameters,
                unique: Tpm2bPublicKeyRsa::empty(),
            },
            TpmtPublicParms::Ecc(parameters) => Self::Ecc {
                parameters,
                unique: TpmsEccPoint {
                    x: Tpm2bEccParameter::empty(),
                    y: Tpm2bEccParameter::empty(),
                },
            },
        }
    }

    /// The object type (the TPMT_PUBLIC `type` selector).
    pub const fn object_type(&self) -> TpmAlgId {
        match self {
            Self::KeyedHash { .. } => TpmAlgId::KEYEDHASH,
            Self::SymCipher { .. } => TpmAlgId::SYMCIPHER,
            Self::Rsa { .. } => TpmAlgId::RSA,
            Self::Ecc { .. } => TpmAlgId::ECC,
        }
    }

    /// The type and parameters as a TPMT_PUBLIC_PARMS.
    pub fn parameters(&self) -> TpmtPublicParms {
        match self {
            Self::KeyedHash { parameters, .. } => TpmtPublicParms::KeyedHash(parameters.clone()),
            Self::SymCipher { parameters, .. } => TpmtPublicParms::SymCipher(*parameters),
            Self::Rsa { parameters, .. } => TpmtPublicParms::Rsa(parameters.clone()),
            Self::Ecc { parameters, .. } => TpmtPublicParms::Ecc(parameters.clone()),
        }
    }

    /// The unique identifier.
    pub fn unique(&self) -> TpmuPublicId {
        match self {
            Self::KeyedHash { unique, .. } => TpmuPublicId::KeyedHash(unique.clone()),
            Self::SymCipher { unique, .. } => TpmuPublicId::Sym(unique.clone()),
            Self::Rsa { unique, .. } => TpmuPublicId::Rsa(unique.clone()),
            Self::Ecc { unique, .. } => TpmuPublicId::Ecc(unique.clone()),
        }
    }

    /// Reads parameters and unique for object type `ty` (a valid TPMI_ALG_PUBLIC).
    fn unmarshal_for(r: &mut Reader<'_>, ty: TpmAlgId) -> Result<Self, Error> {
        let parameters = TpmtPublicParms::unmarshal_for(r, ty)?;
        Ok(match parameters {
            TpmtPublicParms::KeyedHash(parameters) => Self::KeyedHash {
                parameters,
                unique: Tpm2bDigest::unmarshal(r)?,
            },
            TpmtPublicParms::SymCipher(parameters) => Self::SymCipher {
                parameters,
                unique: Tpm2bDigest::unmarshal(r)?,
            },
            TpmtPublicParms::Rsa(parameters) => Self::Rsa {
                parameters,
                unique: Tpm2bPublicKeyRsa::unmarshal(r)?,
            },
            TpmtPublicParms::Ecc(parameters) => Self::Ecc {
                parameters,
                unique: TpmsEccPoint::unmarshal(r)?,
            },
        })
    }

    /// Writes parameters then unique (no selector).
    fn marshal_members(&self, out: &mut Vec<u8>) {
        match self {
            Self::KeyedHash { parameters, unique } => {
                parameters.marshal(out);
                unique.marshal(out);
            }
            Self::SymCipher { parameters, unique } => {
                parameters.marshal(out);
                unique.marshal(out);
            }
            Self::Rsa { parameters, unique } => {
                parameters.marshal(out);
                unique.marshal(out);
            }
            Self::Ecc { parameters, unique } => {
                parameters.marshal(out);
                unique.marshal(out);
            }
        }
    }
}

/// TPMT_PUBLIC (part 2 §12.2.4): the public area of an object.
///
/// The Name of the object is `nameAlg || H_nameAlg(self.to_bytes())`; computing it is the
/// engine's job (this crate has no hash functions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmtPublic {
    /// nameAlg: the hash of the Name (TPMI_ALG_HASH; TPM_ALG_NULL only in the "+" form).
    pub name_alg: TpmAlgId,
    /// objectAttributes.
    pub object_attributes: TpmaObject,
    /// authPolicy: the policy digest for the ADMIN or USER role (empty for none).
    pub auth_policy: Tpm2bDigest,
    /// type, parameters and unique.
    pub detail: PublicDetail,
}

impl TpmtPublic {
    /// The object type (TPMI_ALG_PUBLIC).
    pub const fn object_type(&self) -> TpmAlgId {
        self.detail.object_type()
    }

    /// The algorithm of the object's Name.
    pub const fn name_alg(&self) -> TpmAlgId {
        self.name_alg
    }

    /// Reads everything up to and including `parameters`, returning the pieces and the type.
    fn unmarshal_head(
        r: &mut Reader<'_>,
        allow_null_name_alg: bool,
    ) -> Result<(TpmAlgId, TpmAlgId, TpmaObject, Tpm2bDigest), Error> {
        let ty = read_public_type(r, "TPMT_PUBLIC")?;
        let name_alg = read_alg_hash(r, allow_null_name_alg)?;
        let object_attributes = TpmaObject::unmarshal(r)?;
        let auth_policy = Tpm2bDigest::unmarshal(r)?;
        Ok((ty, name_alg, object_attributes, auth_policy))
    }

    /// Reads a TPMT_PUBLIC; `nameAlg` may be TPM_ALG_NULL only if `allow_null_name_alg`.
    pub fn unmarshal_with(r: &mut Reader<'_>, allow_null_name_alg: bool) -> Result<Self, Error> {
        let (ty, name_alg, object_attributes, auth_policy) =
            Self::unmarshal_head(r, allow_null_name_alg)?;
        Ok(Self {
            name_alg,
            object_attributes,
            auth_policy,
            detail: PublicDetail::unmarshal_for(r, ty)?,
        })
    }

    /// Reads the template of an object derived from a derivation parent (TPM2_CreateLoaded,
    /// part 3 §12.9): a TPMT_PUBLIC whose `unique` member is a TPMS_DERIVE. The returned
    /// public area has an empty `unique` of its type. The whole of `bytes` must be used.
    pub fn unmarshal_derivation_template(bytes: &[u8]) -> Result<(Self, TpmsDerive), Error> {
        let mut r = Reader::new(bytes);
        let (ty, name_alg, object_attributes, auth_policy) = Self::unmarshal_head(&mut r, false)?;
        let parameters = TpmtPublicParms::unmarshal_for(&mut r, ty)?;
        let derive = TpmsDerive::unmarshal(&mut r)?;
        r.finish("TPMT_PUBLIC")?;
        Ok((
            Self {
                name_alg,
                object_attributes,
                auth_policy,
                detail: PublicDetail::with_empty_unique(parameters),
            },
            derive,
        ))
    }
}

impl Marshal for TpmtPublic {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.object_type().marshal(out);
        self.name_alg.marshal(out);
        self.object_attributes.marshal(out);
        self.auth_policy.marshal(out);
        self.detail.marshal_members(out);
    }
}

impl Unmarshal for TpmtPublic {
    /// Reads a plain TPMT_PUBLIC: `nameAlg` may not be TPM_ALG_NULL.
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::unmarshal_with(r, false)
    }
}

/// TPM2B_PUBLIC (part 2 §12.2.5): a public area behind a size that must match it exactly.
/// A zero size is rejected: the structure is required wherever TPM2B_PUBLIC appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tpm2bPublic {
    /// publicArea.
    pub public_area: TpmtPublic,
}

impl Tpm2bPublic {
    /// Reads a TPM2B_PUBLIC; `allow_null_name_alg` is the "+" of TPM2B_PUBLIC+
    /// (TPM2_LoadExternal).
    pub fn unmarshal_with(r: &mut Reader<'_>, allow_null_name_alg: bool) -> Result<Self, Error> {
        let public_area = r.sized_exact("TPM2B_PUBLIC", |inner| {
            TpmtPublic::unmarshal_with(inner, allow_null_name_alg)
        })?;
        Ok(Self { public_area })
    }

    /// Reads a TPM2B_PUBLIC+: like [`Unmarshal::unmarshal`], but `nameAlg` may be
    /// TPM_ALG_NULL.
    pub fn unmarshal_allow_null(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::unmarshal_with(r, true)
    }
}

impl From<TpmtPublic> for Tpm2bPublic {
    fn from(public_area: TpmtPublic) -> Self {
        Self { public_area }
    }
}

impl Marshal for Tpm2bPublic {
    fn marshal(&self, out: &mut Vec<u8>) {
        marshal_sized_with(out, |o| self.public_area.marshal(o));
    }
}

impl Unmarshal for Tpm2bPublic {
    /// Reads a plain TPM2B_PUBLIC: `nameAlg` may not be TPM_ALG_NULL.
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::unmarshal_with(r, false)
    }
}

impl Tpm2bTemplate {
    /// The marshalled form of `public` as a template.
    pub fn from_public(public: &TpmtPublic) -> Result<Self, Error> {
        Self::new(&public.to_bytes())
    }

    /// The template read as an ordinary TPMT_PUBLIC (which must fill it exactly). For a
    /// derivation parent use [`TpmtPublic::unmarshal_derivation_template`] on
    /// [`Tpm2bTemplate::as_bytes`] instead.
    pub fn to_public(&self) -> Result<TpmtPublic, Error> {
        let mut r = Reader::new(self.as_bytes());
        let public = TpmtPublic::unmarshal(&mut r)?;
        r.finish("TPM2B_TEMPLATE")?;
        Ok(public)
    }
}

// ---------------------------------------------------------------------------------------------
// Sensitive area (§12.3) and creation inputs (§11.1.15–§11.1.16)
// ---------------------------------------------------------------------------------------------

/// TPMU_SENSITIVE_COMPOSITE (part 2 §12.3.2.3): the private part of an object, whose member is
/// the object type. Every member is zeroized on drop and hidden from `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmuSensitiveComposite {
    /// rsa: one prime factor.
    Rsa(Tpm2bPrivateKeyRsa),
    /// ecc: the private scalar.
    Ecc(Tpm2bSecretEccParameter),
    /// bits: the HMAC key or sealed data.
    Bits(Tpm2bSensitiveData),
    /// sym: the symmetric key.
    Sym(Tpm2bSymKey),
}

impl TpmuSensitiveComposite {
    /// The object type this member belongs to (TPMT_SENSITIVE `sensitiveType`).
    pub const fn object_type(&self) -> TpmAlgId {
        match self {
            Self::Rsa(_) => TpmAlgId::RSA,
            Self::Ecc(_) => TpmAlgId::ECC,
            Self::Bits(_) => TpmAlgId::KEYEDHASH,
            Self::Sym(_) => TpmAlgId::SYMCIPHER,
        }
    }
}

/// TPMT_SENSITIVE (part 2 §12.3.2.4): the sensitive area of an object. The
/// `sensitiveType` selector is the variant of [`TpmtSensitive::sensitive`]. Nothing secret is
/// printed by `Debug`, and every secret is zeroized on drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmtSensitive {
    /// authValue: the USER authorization secret.
    pub auth_value: Tpm2bAuth,
    /// seedValue: for a storage parent, the seed of its symmetric protection; for other keys
    /// the obfuscation value.
    pub seed_value: Tpm2bSecretDigest,
    /// sensitiveType and sensitive.
    pub sensitive: TpmuSensitiveComposite,
}

impl TpmtSensitive {
    /// The object type (the `sensitiveType` selector).
    pub const fn sensitive_type(&self) -> TpmAlgId {
        self.sensitive.object_type()
    }
}

impl Marshal for TpmtSensitive {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.sensitive_type().marshal(out);
        self.auth_value.marshal(out);
        self.seed_value.marshal(out);
        match &self.sensitive {
            TpmuSensitiveComposite::Rsa(v) => v.marshal(out),
            TpmuSensitiveComposite::Ecc(v) => v.marshal(out),
            TpmuSensitiveComposite::Bits(v) => v.marshal(out),
            TpmuSensitiveComposite::Sym(v) => v.marshal(out),
        }
    }
}

impl Unmarshal for TpmtSensitive {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let ty = read_public_type(r, "TPMT_SENSITIVE")?;
        let auth_value = Tpm2bAuth::unmarshal(r)?;
        let seed_value = Tpm2bSecretDigest::unmarshal(r)?;
        let sensitive = match ty {
            TpmAlgId::RSA => TpmuSensitiveComposite::Rsa(Tpm2bPrivateKeyRsa::unmarshal(r)?),
            TpmAlgId::ECC => TpmuSensitiveComposite::Ecc(Tpm2bSecretEccParameter::unmarshal(r)?),
            TpmAlgId::KEYEDHASH => TpmuSensitiveComposite::Bits(Tpm2bSensitiveData::unmarshal(r)?),
            _ => TpmuSensitiveComposite::Sym(Tpm2bSymKey::unmarshal(r)?),
        };
        Ok(Self {
            auth_value,
            seed_value,
            sensitive,
        })
    }
}

/// TPM2B_SENSITIVE (part 2 §12.3.3): a sensitive area in the clear behind a size. Unlike
/// TPM2B_PUBLIC, a zero size is allowed and means "no sensitive area" (TPM2_LoadExternal of
/// a public key alone).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tpm2bSensitive {
    /// sensitiveArea, or `None` for the empty buffer.
    pub sensitive_area: Option<TpmtSensitive>,
}

impl Marshal for Tpm2bSensitive {
    fn marshal(&self, out: &mut Vec<u8>) {
        match &self.sensitive_area {
            Some(s) => marshal_sized_with(out, |o| s.marshal(o)),
            None => 0u16.marshal(out),
        }
    }
}

impl Unmarshal for Tpm2bSensitive {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        if r.peek_u16("TPM2B_SENSITIVE")? == 0 {
            r.u16("TPM2B_SENSITIVE")?;
            return Ok(Self::default());
        }
        let area = r.sized_exact("TPM2B_SENSITIVE", TpmtSensitive::unmarshal)?;
        Ok(Self {
            sensitive_area: Some(area),
        })
    }
}

crate::wire_struct! {
    /// TPMS_SENSITIVE_CREATE (part 2 §11.1.15): the authorization value and data a caller
    /// supplies for a new object. Both members are secret (zeroized, not printed).
    pub struct TpmsSensitiveCreate("TPMS_SENSITIVE_CREATE") {
        /// userAuth: the USER authorization secret.
        pub user_auth: Tpm2bAuth,
        /// data: data to seal, or a key to import as the object's secret (often empty).
        pub data: Tpm2bSensitiveData,
    }
}

crate::tpm2b_struct! {
    /// TPM2B_SENSITIVE_CREATE (part 2 §11.1.16): a TPMS_SENSITIVE_CREATE behind a size that must
    /// match it exactly; a zero size is rejected (the structure is at least four bytes).
    Tpm2bSensitiveCreate("TPM2B_SENSITIVE_CREATE") {
        /// sensitive.
        sensitive: TpmsSensitiveCreate
    }
}

crate::wire_struct! {
    /// TPMS_ID_OBJECT (part 2 §12.4.2): a credential protected for TPM2_ActivateCredential,
    /// in its plaintext form. On the wire (inside a TPM2B_ID_OBJECT) `encIdentity` is
    /// encrypted *including* its size field, so a received credential blob is split as
    /// `integrityHMAC` followed by opaque bytes; this type is what the engine marshals before
    /// encrypting and unmarshals after decrypting.
    pub struct TpmsIdObject("TPMS_ID_OBJECT") {
        /// integrityHMAC: HMAC over encIdentity and the Name of the key.
        pub integrity_hmac: Tpm2bDigest,
        /// encIdentity: the encrypted credential.
        pub enc_identity: Tpm2bDigest,
    }
}

// ---------------------------------------------------------------------------------------------
// Creation data (§15.1) and tickets (§10.7)
// ---------------------------------------------------------------------------------------------

crate::wire_struct! {
    /// TPMS_CREATION_DATA (part 2 §15.1): the state of the TPM when an object was created,
    /// returned by TPM2_Create / TPM2_CreatePrimary and certified by TPM2_CertifyCreation.
    pub struct TpmsCreationData("TPMS_CREATION_DATA") {
        /// pcrSelect: the PCRs included in `pcr_digest`.
        pub pcr_select: TpmlPcrSelection,
        /// pcrDigest: digest of the selected PCRs with the parent's nameAlg.
        pub pcr_digest: Tpm2bDigest,
        /// locality: the locality of the creating command.
        pub locality: TpmaLocality,
        /// parentNameAlg: the parent's nameAlg (TPM_ALG_NULL for a primary object).
        pub parent_name_alg: TpmAlgId,
        /// parentName: the Name of the parent (a handle for a primary object).
        pub parent_name: Tpm2bName,
        /// parentQualifiedName: the Qualified Name of the parent.
        pub parent_qualified_name: Tpm2bName,
        /// outsideInfo: data the caller asked to associate with the creation.
        pub outside_info: Tpm2bData,
    }
}

crate::tpm2b_struct! {
    /// TPM2B_CREATION_DATA (part 2 §15.2): a TPMS_CREATION_DATA behind a size that must match
    /// it exactly; a zero size is rejected.
    Tpm2bCreationData("TPM2B_CREATION_DATA") {
        /// creationData.
        creation_data: TpmsCreationData
    }
}

/// Declares a ticket whose structure tag is one fixed TPM_ST value.
/// A TPM_ST that part 2 defines ([`Error::BadValue`] naming `TPM_ST` for any other value, as
/// the reference unmarshalling answers before a ticket checks which tag it holds).
fn read_known_st(r: &mut Reader<'_>) -> Result<TpmSt, Error> {
    let tag = TpmSt::unmarshal(r)?;
    if tag.name().is_none() {
        return Err(Error::BadValue {
            what: "TPM_ST",
            value: u32::from(tag.0),
        });
    }
    Ok(tag)
}

macro_rules! ticket {
    ($(#[$meta:meta])* $name:ident, $tcg:literal, $tag:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// hierarchy: the hierarchy whose proof value keyed the ticket
            /// (TPMI_RH_HIERARCHY+; TPM_RH_NULL for the NULL hierarchy and the NULL ticket).
            pub hierarchy: TpmHandle,
            /// digest: the ticket HMAC (empty for a NULL ticket).
            pub digest: Tpm2bDigest,
        }

        impl $name {
            /// The structure tag this ticket carries.
            pub const TAG: TpmSt = TpmSt::$tag;

            /// The NULL ticket: TPM_RH_NULL and an empty digest.
            pub const fn null() -> Self {
                Self {
                    hierarchy: TpmHandle::NULL,
                    digest: Tpm2bDigest::empty(),
                }
            }

            /// Whether this is the NULL ticket: TPM_RH_NULL *and* an empty digest. (A ticket
            /// of the NULL hierarchy may still carry an HMAC keyed with the null proof, as
            /// libtpms returns for objects created under TPM_RH_NULL.)
            pub fn is_null(&self) -> bool {
                self.hierarchy == TpmHandle::NULL && self.digest.is_empty()
            }
        }

        impl Marshal for $name {
            fn marshal(&self, out: &mut Vec<u8>) {
                Self::TAG.marshal(out);
                self.hierarchy.marshal(out);
                self.digest.marshal(out);
            }
        }

        impl Unmarshal for $name {
            fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
                let tag = read_known_st(r)?;
                if tag != Self::TAG {
                    return Err(Error::BadSelector {
                        what: $tcg,
                        value: u32::from(tag.0),
                    });
                }
                Ok(Self {
                    hierarchy: check_hierarchy_allow_null(TpmHandle::unmarshal(r)?)?,
                    digest: Tpm2bDigest::unmarshal(r)?,
                })
            }
        }
    };
}

ticket!(
    /// TPMT_TK_CREATION (part 2 §10.7.3): proof that the TPM created an object
    /// (tag TPM_ST_CREATION).
    TpmtTkCreation, "TPMT_TK_CREATION", CREATION
);
ticket!(
    /// TPMT_TK_VERIFIED (part 2 §10.7.4): proof that the TPM verified a signature
    /// (tag TPM_ST_VERIFIED).
    TpmtTkVerified, "TPMT_TK_VERIFIED", VERIFIED
);
ticket!(
    /// TPMT_TK_HASHCHECK (part 2 §10.7.6): proof that the TPM hashed data that did not start
    /// with TPM_GENERATED_VALUE (tag TPM_ST_HASHCHECK).
    TpmtTkHashcheck, "TPMT_TK_HASHCHECK", HASHCHECK
);

/// TPMT_TK_AUTH (part 2 §10.7.5): a ticket from TPM2_PolicySigned (tag TPM_ST_AUTH_SIGNED) or
/// TPM2_PolicySecret (tag TPM_ST_AUTH_SECRET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmtTkAuth {
    /// Whether the ticket came from TPM2_PolicySigned (TPM_ST_AUTH_SIGNED) rather than
    /// TPM2_PolicySecret (TPM_ST_AUTH_SECRET).
    pub signed: bool,
    /// hierarchy (TPMI_RH_HIERARCHY+).
    pub hierarchy: TpmHandle,
    /// digest: the ticket HMAC.
    pub digest: Tpm2bDigest,
}

impl TpmtTkAuth {
    /// The structure tag this ticket carries.
    pub const fn tag(&self) -> TpmSt {
        if self.signed {
            TpmSt::AUTH_SIGNED
        } else {
            TpmSt::AUTH_SECRET
        }
    }
}

impl Marshal for TpmtTkAuth {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.tag().marshal(out);
        self.hierarchy.marshal(out);
        self.digest.marshal(out);
    }
}

impl Unmarshal for TpmtTkAuth {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        let tag = read_known_st(r)?;
        let signed = match tag {
            TpmSt::AUTH_SIGNED => true,
            TpmSt::AUTH_SECRET => false,
            _ => {
                return Err(Error::BadSelector {
                    what: "TPMT_TK_AUTH",
                    value: u32::from(tag.0),
                });
            }
        };
        Ok(Self {
            signed,
            hierarchy: check_hierarchy_allow_null(TpmHandle::unmarshal(r)?)?,
            digest: Tpm2bDigest::unmarshal(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structures::{Tpm2bPrivate, TpmtSymDefObject};
    use alloc::format;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// Reads one `T` from `r` and checks that it marshals back to exactly the bytes consumed.
    fn take<T: Marshal + Unmarshal>(r: &mut Reader<'_>) -> T {
        let before = r.rest();
        let v = T::unmarshal(r).unwrap();
        let used = before.len() - r.remaining();
        assert_eq!(v.to_bytes(), &before[..used]);
        v
    }

    /// TPM2_ReadPublic response parameters, corpus test "abrmd_extended-sessions" seq 195.
    const READ_PUBLIC_RSA_STORAGE: &str = concat!(
        "011a0001000b00030072000000060080004300100800000000000100a50d83c87ff6d0a84d404b37a5fc22ad",
        "eb2f6de2334510e455e4e9a1057f42ccbc379d698a22dac41691080e83c1fcc131078c342d6fdc795d7a88f6",
        "8d27325e93637cfb3d3eee0e4db24ab80d31a70bfd6bec659607395a88215663e043e13b6ac1ee5c4f4dd4b8",
        "e0b0698500d1367574d9dc7ca21466f60739ee618108154338154dd093cf78b5a76e7077a1743d869c6edd80",
        "c658725ca2f82597005c84854442d349e3940dcde8f101dfebfdd43b1d8aacffb09a7663c1d60b789febfca5",
        "ad27c9ee1bbbf6b70d6e65cbc9dd48bec9d85fec26a5a44c5e75373e5cf6c6b0e1682119d2f618d08ee0d23f",
        "2afddd894839fce235ae994a5e80c355cf014f3f0022000befff4b28e68c06ccec434b89eac7de85dec33d95",
        "22bd925a1bec1aecfe37d12d0022000b377f8b1a77c1eb1c86178f8ea408cc7a3649ce6bde9010a101e91bbe",
        "22df269b",
    );
    /// TPM2_ReadPublic response parameters, corpus test "abrmd_policyauthvalue" seq 80.
    const READ_PUBLIC_ECC: &str = concat!(
        "00760023000b0006007200208fcd2169ab92694e0c633f1ab772842b8241bbc20288981fc7ac1eddc1fddb0e",
        "001000100003001000209c437bfa40405599ec455c83c5ae79d67bccf4296c3ced7e471336b6d2b1018f0020",
        "da4799cf2dca503eba8bcae810a4373aa90f805c999d1b421e2283b9ca9214b20022000b3d0863d7c0335eac",
        "bf3cf6e2870a0f8c1ecf58844d33184750c05214867d20890022000b8933f4f00ce000f445dd35338e49139b",
        "661fc3ea6b3a097ed17be3e4bdeba7e1",
    );
    /// TPM2_ReadPublic response parameters, corpus test "abrmd_policycommandcode" seq 105.
    const READ_PUBLIC_SEALED: &str = concat!(
        "004e0008000b000000120020e613137076524bde487533865884e9732ebee3aacb095d94a6de492ec06c46fa",
        "0010002062fa8d9a350182a4d0a0cb7d55a7d926778e9e756273a5e633ce831bbab067f10022000bf5b03edb",
        "7962cd45153be037728a2345db4d91915d76a2b70a5914970af59a7b0022000b7c2e0542125d8fc95f0a96e6",
        "350340b62658b60707f637cbabf99b14f46aeafc",
    );
    /// TPM2_ReadPublic response parameters, corpus test "abrmd_policycphash" seq 3627.
    const READ_PUBLIC_SYMCIPHER: &str = concat!(
        "00520025000b000600320020c36efee04531e86f201b071f7a422bc12c19e4f6f724eb049d20c92dff313851",
        "00060080001000205a6c8cb3e99d1ca069ebb82e6dba240355d318682e6ef7d1f43d981093c5560a0022000b",
        "2d182fc76cf874e3dfdb2cda58dc2ece38c35831efc42bbd0b50824cb7537b3e0022000b17ef07c2bea3de0a",
        "1ba2ec5a791c4e910ef4d5bf486dc14d484ddea7d14e042c",
    );
    /// TPM2_CreatePrimary response parameters (after the handle), corpus test "nv" seq 636.
    const CREATE_PRIMARY_RSP: &str = concat!(
        "011a0001000b00030072000000060080004300100800000000000100a35ac15a4feccd663242685e1a1a663f",
        "16a20dbbf62ff39e4eaa943e74a4b4850b6efe865f15cd8674eec782a9f5061117267e409693abbfa70ec2ac",
        "b0b73b1a8632125bb072c6c6f9cfc6dcf0225c3ea37d160f6318bc9e4ba9ed21866f7dee78c73a5215c782f2",
        "cc08b8e058798e70e1321d1226a4fecf7cfbd2c25513f5b5d1984c30eaa7394fbf69a9200f64f2fb7b5463cd",
        "a506aaaf9b86e88181c85a53c0265129f2a95d2ad4ee07287503a0e4a3011ec1b5d616aa65f2fa5169f71989",
        "59a6ba60707727de2ec70c1edd2ef67a5c024e3242b657c88978c21c0e633525e8df473118d2b43704b8ede0",
        "b6daee781fa2c5937b0caa5ebb6778b78961f8a50037000000000020e3b0c44298fc1c149afbf4c8996fb924",
        "27ae41e4649b934ca495991b7852b855010010000440000001000440000001000000205da041bac0ee3135ae",
        "bb0cadfba497c6a1877fae832dd3d1f8f7a871b825e85480214000000100400cef700be981d7509ac2e3f1e4",
        "687a8931f60fb16f8d7fe5251b9cd5dd219e06db245687c865f7d41ff2102e4bf58495cf80dac2b1988f5526",
        "8dfb2165baff890022000b92725da789dbf1efeb0184c8a41cc072203dd85a872f8d3b770ba553ca617d2e",
    );
    /// TPM2_CreatePrimary command parameters, same record.
    const CREATE_PRIMARY_CMD: &str =
        "000400000000001a0001000b00030072000000060080004300100800000000000000000000000000";
    /// TPM2_Create command parameters, corpus test "create" seq 64.
    const CREATE_ECC_CMD: &str =
        "000400000000001600230004000600720000001000100003001000000000000000000000";
    /// TPM2_Create response parameters, same record.
    const CREATE_ECC_RSP: &str = concat!(
        "006600141477f338e1f9dd29749ab3428958ffd69d8e38f60010abb562477ca45d1120fe4418a5b520707f36",
        "d1f56dbf2b0bebefc66f3320a174b684ae2c50828329168e3e9a2a8a0cf9e0dfada0352b5a2b56dd0cec1939",
        "ba7a55b1140db1498cff2ba8e5321b0d005600230004000600720000001000100003001000204cfcf3484c9a",
        "dc3c08d26455e488607d9f88be33f3a9e6057ae5c80b84d8a054002032257f16c73830dfe01dfbfec8658ab3",
        "74a8b23dfb91977db80a04228475e518004f000000000014da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "0100040016000471efb327bf5834b8e6a7522a0de06fde7e6b590f00160004dc262c85df3fff4fba203a770a",
        "8aeb77e833070c0000001480cbdf593e14fe77eec319d66918a91f793fef4580214000000100403cdc8f9327",
        "e14ffceb42aab77de4c8ee489b01a41a12c6bcf172fcee6c33b5e6b89b098076ef04e5b481f4f161fd90f743",
        "034dc2d2385fbbdfb87f29ff5a5d75",
    );
    /// TPM2_LoadExternal command parameters, corpus test "abrmd_policyauthorize" seq 10.
    const LOAD_EXTERNAL_CMD: &str = concat!(
        "000001160001000b000600400000001000100800000100010100b5111dc7c8546dac9c2d2929a53e12c6f717",
        "755e5121abd61c5dbc12e29130396c47890f263ad01c1b262ea4c0da7db637106bff37dadcfaaf30b10c7b7d",
        "845a38f3e842960ba0d32ca607ec1537d2fb7a7243f534b28f256474d2522f3636db5a60c003b1854d690965",
        "897de08e7af36f544f024098cbf4255ae98a594c8dfc21d5d538d7db97098ba0e41c4d0341c55e1619cfce37",
        "bbdcc9b89eb76701c09583f1ac96b1bd666844092b12b85577ef858db8e1ace8ef4365c7ff2edbc9c62dcf68",
        "93fb57cf2740cb9a1101949bcf2c9c2538ccbe784c2ab023dddb2994e70efc70307288d9870153e8d0c411b6",
        "e5afdc14ef20f7fd99574a526c5bde2e5d3140000007",
    );

    #[test]
    fn rsa_storage_key_from_read_public() {
        let bytes = hex(READ_PUBLIC_RSA_STORAGE);
        let mut r = Reader::new(&bytes);
        let public: Tpm2bPublic = take(&mut r);
        let name: Tpm2bName = take(&mut r);
        let qualified: Tpm2bName = take(&mut r);
        r.finish("ReadPublic").unwrap();

        let p = &public.public_area;
        assert_eq!(p.object_type(), TpmAlgId::RSA);
        assert_eq!(p.name_alg(), TpmAlgId::SHA256);
        assert_eq!(
            p.object_attributes,
            TpmaObject(
                TpmaObject::FIXED_TPM
                    | TpmaObject::FIXED_PARENT
                    | TpmaObject::SENSITIVE_DATA_ORIGIN
                    | TpmaObject::USER_WITH_AUTH
                    | TpmaObject::RESTRICTED
                    | TpmaObject::DECRYPT
            )
        );
        assert!(p.auth_policy.is_empty());
        let PublicDetail::Rsa { parameters, unique } = &p.detail else {
            panic!("not RSA: {:?}", p.detail)
        };
        assert_eq!(parameters.symmetric, TpmtSymDefObject::AES_128_CFB);
        assert_eq!(parameters.scheme, TpmtRsaScheme::Null);
        assert_eq!(parameters.key_bits, 2048);
        assert_eq!(parameters.exponent, 0);
        assert_eq!(parameters.effective_exponent(), 65537);
        assert_eq!(unique.len(), 256);
        assert_eq!(&unique.as_bytes()[..4], &[0xa5, 0x0d, 0x83, 0xc8]);
        // Names are nameAlg || digest.
        assert_eq!(name.len(), 34);
        assert_eq!(&name.as_bytes()[..2], &[0x00, 0x0b]);
        assert_eq!(&qualified.as_bytes()[..2], &[0x00, 0x0b]);
        // The TPMT_PUBLIC the engine hashes for the Name is the TPM2B body.
        assert_eq!(p.to_bytes(), &bytes[2..2 + 0x11a]);
        assert_eq!(
            public.public_area.detail.parameters().object_type(),
            TpmAlgId::RSA
        );
    }

    #[test]
    fn ecc_sealed_and_symcipher_from_read_public() {
        let bytes = hex(READ_PUBLIC_ECC);
        let mut r = Reader::new(&bytes);
        let ecc: Tpm2bPublic = take(&mut r);
        let PublicDetail::Ecc { parameters, unique } = &ecc.public_area.detail else {
            panic!("not ECC")
        };
        assert_eq!(parameters.curve_id, TpmEccCurve::NIST_P256);
        assert!(parameters.symmetric.is_null());
        assert!(parameters.scheme.is_null() && parameters.kdf.is_null());
        assert_eq!((unique.x.len(), unique.y.len()), (32, 32));
        assert_eq!(ecc.public_area.object_attributes.0, 0x0006_0072);
        assert_eq!(ecc.public_area.auth_policy.len(), 32);

        let bytes = hex(READ_PUBLIC_SEALED);
        let sealed: Tpm2bPublic = take(&mut Reader::new(&bytes));
        let p = &sealed.public_area;
        assert_eq!(
            p.object_attributes,
            TpmaObject(TpmaObject::FIXED_TPM | TpmaObject::FIXED_PARENT)
        );
        assert!(matches!(
            &p.detail,
            PublicDetail::KeyedHash { parameters, unique }
                if parameters.scheme.is_null() && unique.len() == 32
        ));

        let bytes = hex(READ_PUBLIC_SYMCIPHER);
        let sym: Tpm2bPublic = take(&mut Reader::new(&bytes));
        let PublicDetail::SymCipher { parameters, .. } = &sym.public_area.detail else {
            panic!("not a symmetric cipher")
        };
        // AES-128 with no default mode (TPMI_ALG_SYM_MODE+).
        assert_eq!(
            parameters.sym,
            TpmtSymDefObject::Aes {
                key_bits: 128,
                mode: TpmAlgId::NULL
            }
        );
    }

    #[test]
    fn create_primary_command_and_response() {
        let cmd = hex(CREATE_PRIMARY_CMD);
        let mut r = Reader::new(&cmd);
        let sensitive: Tpm2bSensitiveCreate = take(&mut r);
        let template: Tpm2bPublic = take(&mut r);
        let outside: Tpm2bData = take(&mut r);
        let pcrs: TpmlPcrSelection = take(&mut r);
        r.finish("CreatePrimary").unwrap();
        assert!(sensitive.sensitive.user_auth.is_empty() && sensitive.sensitive.data.is_empty());
        assert!(matches!(
            &template.public_area.detail,
            PublicDetail::Rsa { parameters, unique }
                if parameters.key_bits == 2048 && unique.is_empty()
        ));
        assert!(outside.is_empty() && pcrs.is_empty());

        let rsp = hex(CREATE_PRIMARY_RSP);
        let mut r = Reader::new(&rsp);
        let public: Tpm2bPublic = take(&mut r);
        let creation: Tpm2bCreationData = take(&mut r);
        let creation_hash: Tpm2bDigest = take(&mut r);
        let ticket: TpmtTkCreation = take(&mut r);
        let name: Tpm2bName = take(&mut r);
        r.finish("CreatePrimary").unwrap();
        // The TPM filled in the modulus of the template it was given.
        assert_eq!(
            public.public_area.object_attributes,
            template.public_area.object_attributes
        );
        assert!(
            matches!(&public.public_area.detail, PublicDetail::Rsa { unique, .. } if unique.len() == 256)
        );
        let c = &creation.creation_data;
        assert!(c.pcr_select.is_empty());
        // SHA-256 of nothing: no PCRs selected.
        assert_eq!(&c.pcr_digest.as_bytes()[..4], &[0xe3, 0xb0, 0xc4, 0x42]);
        assert_eq!(c.locality, TpmaLocality(1));
        // A primary object's parent is a hierarchy: its Name is the handle.
        assert_eq!(c.parent_name_alg, TpmAlgId::NULL);
        assert_eq!(c.parent_name.as_bytes(), &[0x40, 0, 0, 1]);
        assert_eq!(c.parent_qualified_name.as_bytes(), &[0x40, 0, 0, 1]);
        assert!(c.outside_info.is_empty());
        assert_eq!(creation_hash.len(), 32);
        assert_eq!(ticket.hierarchy, TpmHandle::OWNER);
        assert!(!ticket.is_null());
        assert_eq!(name.len(), 34);
    }

    #[test]
    fn create_ecc_with_sha1_name() {
        let cmd = hex(CREATE_ECC_CMD);
        let mut r = Reader::new(&cmd);
        let _: Tpm2bSensitiveCreate = take(&mut r);
        let template: Tpm2bPublic = take(&mut r);
        let _: Tpm2bData = take(&mut r);
        let _: TpmlPcrSelection = take(&mut r);
        r.finish("Create").unwrap();
        assert_eq!(template.public_area.name_alg, TpmAlgId::SHA1);
        assert_eq!(template.public_area.object_type(), TpmAlgId::ECC);

        let rsp = hex(CREATE_ECC_RSP);
        let mut r = Reader::new(&rsp);
        let private: Tpm2bPrivate = take(&mut r);
        let public: Tpm2bPublic = take(&mut r);
        let creation: Tpm2bCreationData = take(&mut r);
        let _: Tpm2bDigest = take(&mut r);
        let ticket: TpmtTkCreation = take(&mut r);
        r.finish("Create").unwrap();
        assert!(!private.is_empty());
        assert!(matches!(
            &public.public_area.detail,
            PublicDetail::Ecc { unique, .. } if unique.x.len() == 32
        ));
        // The parent (an ordinary key) has a SHA-1 Name in this test.
        let c = &creation.creation_data;
        assert_eq!(c.parent_name_alg, TpmAlgId::SHA1);
        assert_eq!(c.parent_name.len(), 22);
        assert_eq!(ticket.hierarchy, TpmHandle::OWNER);
    }

    #[test]
    fn load_external_public_only() {
        let cmd = hex(LOAD_EXTERNAL_CMD);
        let mut r = Reader::new(&cmd);
        let private: Tpm2bSensitive = take(&mut r);
        let public = Tpm2bPublic::unmarshal_allow_null(&mut r).unwrap();
        let hierarchy = TpmHandle::unmarshal(&mut r).unwrap();
        r.finish("LoadExternal").unwrap();
        assert!(private.sensitive_area.is_none());
        assert!(matches!(
            &public.public_area.detail,
            PublicDetail::Rsa { parameters, .. } if parameters.exponent == 0x10001
        ));
        assert_eq!(
            public.public_area.object_attributes,
            TpmaObject(TpmaObject::USER_WITH_AUTH | TpmaObject::DECRYPT | TpmaObject::SIGN)
        );
        assert_eq!(hierarchy, TpmHandle::NULL);
    }

    /// The TPM2B_PUBLIC template of the CreatePrimary golden command (26 bytes of body).
    fn template() -> Vec<u8> {
        let cmd = hex(CREATE_PRIMARY_CMD);
        cmd[6..6 + 28].to_vec()
    }

    #[test]
    fn public_rejections() {
        let good = template();
        assert_eq!(&good[..2], &[0, 0x1a]);
        assert!(Tpm2bPublic::from_bytes(&good).is_ok());

        // A byte inside the size that the TPMT_PUBLIC does not use.
        let mut long = good.clone();
        long[1] += 1;
        long.push(0);
        assert_eq!(
            Tpm2bPublic::from_bytes(&long),
            Err(Error::TrailingBytes {
                what: "TPM2B_PUBLIC",
                count: 1
            })
        );
        // A size one short: the TPMT_PUBLIC runs past it.
        let mut short = good.clone();
        short[1] -= 1;
        assert!(matches!(
            Tpm2bPublic::unmarshal(&mut Reader::new(&short)),
            Err(Error::Truncated { .. })
        ));
        // Size 0: the public area is required.
        assert_eq!(
            Tpm2bPublic::from_bytes(&[0, 0]),
            Err(Error::TooSmall {
                what: "TPM2B_PUBLIC",
                size: 0,
                min: 1
            })
        );
        // The input ends inside the structure.
        assert!(matches!(
            Tpm2bPublic::from_bytes(&good[..15]),
            Err(Error::Truncated { .. })
        ));

        // nameAlg TPM_ALG_NULL: only in TPM2B_PUBLIC+.
        let mut null_name = good.clone();
        null_name[4..6].copy_from_slice(&[0, 0x10]);
        assert_eq!(
            Tpm2bPublic::from_bytes(&null_name),
            Err(Error::BadValue {
                what: "TPMI_ALG_HASH",
                value: 0x10
            })
        );
        let p = Tpm2bPublic::unmarshal_allow_null(&mut Reader::new(&null_name)).unwrap();
        assert_eq!(p.public_area.name_alg(), TpmAlgId::NULL);
        assert_eq!(p.to_bytes(), null_name);

        // An object type that is no TPMI_ALG_PUBLIC.
        let mut bad_type = good.clone();
        bad_type[2..4].copy_from_slice(&[0, 0x06]);
        assert_eq!(
            Tpm2bPublic::from_bytes(&bad_type),
            Err(Error::BadSelector {
                what: "TPMT_PUBLIC",
                value: 6
            })
        );
        // RSA parameters under the ECC type: read as ECC parameters, 0x0800 is no curve.
        let mut mismatched = good.clone();
        mismatched[2..4].copy_from_slice(&[0, 0x23]);
        assert_eq!(
            Tpm2bPublic::from_bytes(&mismatched),
            Err(Error::BadValue {
                what: "TPMI_ECC_CURVE",
                value: 0x0800
            })
        );
        // RSA-2049.
        let mut bits = good.clone();
        bits[20..22].copy_from_slice(&[0x08, 0x01]);
        assert_eq!(
            Tpm2bPublic::from_bytes(&bits),
            Err(Error::BadValue {
                what: "TPMI_RSA_KEY_BITS",
                value: 2049
            })
        );
        // A reserved object attribute (bit 0).
        let mut reserved = good.clone();
        reserved[9] |= 1;
        assert!(matches!(
            Tpm2bPublic::from_bytes(&reserved),
            Err(Error::ReservedBits {
                what: "TPMA_OBJECT",
                ..
            })
        ));
        // A symmetric cipher object may not have a NULL cipher.
        let sym = hex("000e0025000b00060040000000100000");
        assert_eq!(
            Tpm2bPublic::from_bytes(&sym[..]),
            Err(Error::BadSelector {
                what: "TPMT_SYM_DEF_OBJECT",
                value: 0x10
            })
        );
    }

    #[test]
    fn detail_parts_must_agree() {
        let t = Tpm2bPublic::from_bytes(&template()).unwrap().public_area;
        let parameters = t.detail.parameters();
        let unique = t.detail.unique();
        assert_eq!(
            PublicDetail::new(parameters.clone(), unique),
            Ok(t.detail.clone())
        );
        assert_eq!(
            PublicDetail::new(parameters.clone(), TpmuPublicId::Sym(Tpm2bDigest::empty())),
            Err(Error::BadSelector {
                what: "TPMU_PUBLIC_ID",
                value: 1
            })
        );
        assert_eq!(
            PublicDetail::with_empty_unique(parameters.clone()),
            t.detail
        );
        // TPMT_PUBLIC_PARMS (TPM2_TestParms) is the type and the parameters.
        let bytes = parameters.to_bytes();
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(TpmtPublicParms::from_bytes(&bytes), Ok(parameters));
        assert!(matches!(
            TpmtPublicParms::from_bytes(&[0, 0x10]),
            Err(Error::BadSelector {
                what: "TPMT_PUBLIC_PARMS",
                value: 0x10
            })
        ));
    }

    #[test]
    fn templates_and_derivation() {
        let t = Tpm2bPublic::from_bytes(&template()).unwrap().public_area;
        let tpl = Tpm2bTemplate::from_public(&t).unwrap();
        assert_eq!(tpl.as_bytes(), &template()[2..]);
        assert_eq!(tpl.to_public(), Ok(t.clone()));

        // A keyed-hash template for a derivation parent: unique is a TPMS_DERIVE.
        let derived = hex(concat!(
            "0008000b00040072",
            "0000",     // type, nameAlg, attributes, authPolicy
            "0005000b", // HMAC with SHA-256
            "0003616263",
            "0002",
            "7879" // label "abc", context "xy"
        ));
        // As an ordinary template the TPMS_DERIVE does not fit.
        let mut r = Reader::new(&derived);
        assert!(TpmtPublic::unmarshal(&mut r).is_ok());
        assert_eq!(r.remaining(), 4);
        let (public, derive) = TpmtPublic::unmarshal_derivation_template(&derived).unwrap();
        assert_eq!(derive.label.as_bytes(), b"abc");
        assert_eq!(derive.context.as_bytes(), b"xy");
        assert!(matches!(
            &public.detail,
            PublicDetail::KeyedHash { unique, .. } if unique.is_empty()
        ));
        let unique = TpmuPublicId::Derive(derive);
        assert_eq!(unique.to_bytes(), &derived[derived.len() - 9..]);
        let mut extra = derived.clone();
        extra.push(0);
        assert!(matches!(
            TpmtPublic::unmarshal_derivation_template(&extra),
            Err(Error::TrailingBytes { .. })
        ));
    }

    #[test]
    fn sensitive_round_trip_hides_secrets() {
        let s = TpmtSensitive {
            auth_value: Tpm2bAuth::new(b"hunter2").unwrap(),
            seed_value: Tpm2bSecretDigest::new(&[0xAB; 32]).unwrap(),
            sensitive: TpmuSensitiveComposite::Ecc(
                Tpm2bSecretEccParameter::new(&[0xCD; 32]).unwrap(),
            ),
        };
        assert_eq!(s.sensitive_type(), TpmAlgId::ECC);
        let wrapped = Tpm2bSensitive {
            sensitive_area: Some(s.clone()),
        };
        let bytes = wrapped.to_bytes();
        assert_eq!(&bytes[..4], &[0, 2 + 2 + 7 + 2 + 32 + 2 + 32, 0, 0x23]);
        assert_eq!(Tpm2bSensitive::from_bytes(&bytes), Ok(wrapped.clone()));
        let shown = format!("{wrapped:?}");
        assert!(shown.contains("secret bytes"), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains("171") && !shown.contains("205"));

        // Every sensitive type.
        for composite in [
            TpmuSensitiveComposite::Rsa(Tpm2bPrivateKeyRsa::new(&[1; 128]).unwrap()),
            TpmuSensitiveComposite::Bits(Tpm2bSensitiveData::new(b"sealed").unwrap()),
            TpmuSensitiveComposite::Sym(Tpm2bSymKey::new(&[2; 16]).unwrap()),
        ] {
            let s = TpmtSensitive {
                auth_value: Tpm2bAuth::empty(),
                seed_value: Tpm2bSecretDigest::empty(),
                sensitive: composite,
            };
            assert_eq!(TpmtSensitive::from_bytes(&s.to_bytes()), Ok(s));
        }

        // The empty TPM2B_SENSITIVE of TPM2_LoadExternal.
        assert_eq!(
            Tpm2bSensitive::from_bytes(&[0, 0]),
            Ok(Tpm2bSensitive::default())
        );
        assert_eq!(Tpm2bSensitive::default().to_bytes(), [0, 0]);
        // Bytes inside the size left over; a type that is not an object type.
        let mut long = bytes.clone();
        long[1] += 1;
        long.push(0);
        assert!(matches!(
            Tpm2bSensitive::from_bytes(&long),
            Err(Error::TrailingBytes {
                what: "TPM2B_SENSITIVE",
                ..
            })
        ));
        let mut bad = bytes;
        bad[3] = 0x10;
        assert!(matches!(
            Tpm2bSensitive::from_bytes(&bad),
            Err(Error::BadSelector {
                what: "TPMT_SENSITIVE",
                ..
            })
        ));
    }

    #[test]
    fn sensitive_create_sizes() {
        let sc = Tpm2bSensitiveCreate {
            sensitive: TpmsSensitiveCreate {
                user_auth: Tpm2bAuth::new(b"pw").unwrap(),
                data: Tpm2bSensitiveData::new(b"data").unwrap(),
            },
        };
        let bytes = sc.to_bytes();
        assert_eq!(bytes, hex("000a00027077000464617461"));
        assert_eq!(Tpm2bSensitiveCreate::from_bytes(&bytes), Ok(sc.clone()));
        assert!(!format!("{sc:?}").contains("pw"));
        assert_eq!(
            Tpm2bSensitiveCreate::from_bytes(&[0, 0]),
            Err(Error::TooSmall {
                what: "TPM2B_SENSITIVE_CREATE",
                size: 0,
                min: 1
            })
        );
        assert!(matches!(
            Tpm2bSensitiveCreate::from_bytes(&hex("000500000000ff")),
            Err(Error::TrailingBytes { count: 1, .. })
        ));
    }

    #[test]
    fn tickets() {
        // The NULL hash-check ticket tpm2-tools sends with TPM2_Sign.
        let null = hex("802440000007" /* tag, TPM_RH_NULL */);
        let mut bytes = null.clone();
        bytes.extend_from_slice(&[0, 0]);
        let t = TpmtTkHashcheck::from_bytes(&bytes).unwrap();
        assert!(t.is_null());
        assert_eq!(t, TpmtTkHashcheck::null());
        assert_eq!(t.to_bytes(), bytes);
        // The same bytes are not a creation ticket.
        assert_eq!(
            TpmtTkCreation::from_bytes(&bytes),
            Err(Error::BadSelector {
                what: "TPMT_TK_CREATION",
                value: 0x8024
            })
        );
        // TPM_RS_PW is no hierarchy.
        assert_eq!(
            TpmtTkVerified::from_bytes(&hex("8022400000090000")),
            Err(Error::BadValue {
                what: "TPMI_RH_HIERARCHY",
                value: 0x4000_0009
            })
        );
        let verified = TpmtTkVerified::from_bytes(&hex("80224000000b0002abcd")).unwrap();
        assert_eq!(verified.hierarchy, TpmHandle::ENDORSEMENT);
        // TPMT_TK_AUTH carries one of two tags.
        let signed = TpmtTkAuth::from_bytes(&hex("8025400000070000")).unwrap();
        assert!(signed.signed);
        let secret = TpmtTkAuth::from_bytes(&hex("802340000001000101")).unwrap();
        assert_eq!(secret.tag(), TpmSt::AUTH_SECRET);
        assert_eq!(secret.to_bytes(), hex("802340000001000101"));
        assert!(TpmtTkAuth::from_bytes(&hex("8021400000070000")).is_err());
        assert!(matches!(
            TpmtTkAuth::from_bytes(&hex("80254000")),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn id_object_round_trip() {
        let id = TpmsIdObject {
            integrity_hmac: Tpm2bDigest::new(&[1; 32]).unwrap(),
            enc_identity: Tpm2bDigest::new(&[2; 16]).unwrap(),
        };
        assert_eq!(TpmsIdObject::from_bytes(&id.to_bytes()), Ok(id));
    }
}

//! Algorithm parameters and structures (TCG TPM 2.0 Library part 2 §11): symmetric
//! definitions (§11.1: TPMT_SYM_DEF, TPMT_SYM_DEF_OBJECT, TPMS_SYMCIPHER_PARMS), schemes
//! (§11.1.17–§11.2.5.6: TPMS_SCHEME_HASH, TPMS_SCHEME_ECDAA, TPMS_SCHEME_XOR,
//! TPMT_KEYEDHASH_SCHEME, TPMT_SIG_SCHEME, TPMT_KDF_SCHEME, TPMT_ASYM_SCHEME, TPMT_RSA_SCHEME,
//! TPMT_RSA_DECRYPT, TPMT_ECC_SCHEME), ECC points and curve details (§11.2.5:
//! TPMS_ECC_POINT, TPM2B_ECC_POINT, TPMS_ALGORITHM_DETAIL_ECC) and signatures (§11.3:
//! TPMS_SIGNATURE_RSA, TPMS_SIGNATURE_ECC, TPMT_SIGNATURE).
//!
//! Every TPMT/TPMU pair is one Rust enum whose variant *is* the selector, so a value can never
//! carry details of one algorithm under the identifier of another. TPM_ALG_NULL is the `Null`
//! variant and carries nothing.
//!
//! Whether TPM_ALG_NULL is acceptable depends on where the structure is used: part 2 and part 3
//! write `TYPE+` for the fields that allow it. Following that notation (and [`TpmtHa`]), the
//! [`Unmarshal`] implementation of every selector-bearing type reads the plain `TYPE` and
//! rejects TPM_ALG_NULL; `unmarshal_allow_null` reads `TYPE+`, and `unmarshal_with(reader,
//! allow_null)` lets a containing structure pass its own "+" down. A selector outside the
//! interface type is [`Error::BadSelector`] naming the TPMT; a bad value inside (key size,
//! block-cipher mode, hash) is [`Error::BadValue`] naming the TPMI.
//!
//! The algorithm sets are those of the TPMI_ALG_* tables of part 2 restricted to the
//! algorithms [`TpmAlgId`] names (the classical RSA/ECC/AES/SM4/Camellia set; EdDSA, LMS and
//! XMSS of later revisions are not supported and are rejected as unknown selectors).

use alloc::vec::Vec;

use crate::alg::TpmAlgId;
use crate::st::TpmEccCurve;
use crate::structures::pcr::check_hash;
use crate::structures::{Tpm2bEccParameter, Tpm2bPublicKeyRsa, TpmtHa};
use crate::{Error, Marshal, Reader, Unmarshal};

/// Reads a TPMI_ALG_HASH; with `allow_null` also TPM_ALG_NULL (TPMI_ALG_HASH+).
pub(crate) fn read_alg_hash(r: &mut Reader<'_>, allow_null: bool) -> Result<TpmAlgId, Error> {
    let alg = TpmAlgId::unmarshal(r)?;
    if allow_null && alg == TpmAlgId::NULL {
        return Ok(alg);
    }
    check_hash(alg)
}

/// Reads a TPMI_ALG_KDF+ (part 2 §9.30): one of the four key derivation functions or
/// TPM_ALG_NULL.
fn read_alg_kdf(r: &mut Reader<'_>) -> Result<TpmAlgId, Error> {
    let alg = TpmAlgId::unmarshal(r)?;
    match alg {
        TpmAlgId::MGF1
        | TpmAlgId::KDF1_SP800_56A
        | TpmAlgId::KDF2
        | TpmAlgId::KDF1_SP800_108
        | TpmAlgId::NULL => Ok(alg),
        _ => Err(Error::BadValue {
            what: "TPMI_ALG_KDF",
            value: u32::from(alg.0),
        }),
    }
}

crate::wire_struct! {
    /// TPMS_EMPTY (part 2 §10.1): a structure with no members, used as the details of schemes
    /// that have no parameters (TPMS_ENC_SCHEME_RSAES).
    pub struct TpmsEmpty("TPMS_EMPTY") {}
}

// ---------------------------------------------------------------------------------------------
// Symmetric definitions (§11.1)
// ---------------------------------------------------------------------------------------------

/// Reads the TPMU_SYM_KEY_BITS and TPMU_SYM_MODE members for a block cipher `alg`, checking
/// the key size against TPMI_AES_KEY_BITS / TPMI_SM4_KEY_BITS / TPMI_CAMELLIA_KEY_BITS and
/// the mode against TPMI_ALG_SYM_MODE+.
fn read_block_cipher(r: &mut Reader<'_>, alg: TpmAlgId) -> Result<(u16, TpmAlgId), Error> {
    let key_bits = r.u16("TPMU_SYM_KEY_BITS")?;
    let (allowed, what): (&[u16], _) = match alg {
        TpmAlgId::AES => (&[128, 192, 256], "TPMI_AES_KEY_BITS"),
        TpmAlgId::SM4 => (&[128], "TPMI_SM4_KEY_BITS"),
        _ => (&[128, 192, 256], "TPMI_CAMELLIA_KEY_BITS"),
    };
    if !allowed.contains(&key_bits) {
        return Err(Error::BadValue {
            what,
            value: u32::from(key_bits),
        });
    }
    let mode = TpmAlgId::unmarshal(r)?;
    match mode {
        TpmAlgId::CMAC
        | TpmAlgId::CTR
        | TpmAlgId::OFB
        | TpmAlgId::CBC
        | TpmAlgId::CFB
        | TpmAlgId::ECB
        | TpmAlgId::NULL => Ok((key_bits, mode)),
        _ => Err(Error::BadValue {
            what: "TPMI_ALG_SYM_MODE",
            value: u32::from(mode.0),
        }),
    }
}

/// TPMT_SYM_DEF_OBJECT (part 2 §11.1.7): the symmetric algorithm of an object (a storage
/// key's inner protection or a symmetric-cipher key). The selector is TPMI_ALG_SYM_OBJECT:
/// a block cipher, or TPM_ALG_NULL where the field is written "+".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpmtSymDefObject {
    /// TPM_ALG_AES with its key size (128, 192 or 256) and mode (TPMI_ALG_SYM_MODE+).
    Aes {
        /// keyBits.aes (TPMI_AES_KEY_BITS).
        key_bits: u16,
        /// mode.aes (a block-cipher mode or TPM_ALG_NULL).
        mode: TpmAlgId,
    },
    /// TPM_ALG_SM4 (128-bit keys).
    Sm4 {
        /// keyBits.sm4 (TPMI_SM4_KEY_BITS).
        key_bits: u16,
        /// mode.sm4.
        mode: TpmAlgId,
    },
    /// TPM_ALG_CAMELLIA with its key size (128, 192 or 256).
    Camellia {
        /// keyBits.camellia (TPMI_CAMELLIA_KEY_BITS).
        key_bits: u16,
        /// mode.camellia.
        mode: TpmAlgId,
    },
    /// TPM_ALG_NULL: no symmetric algorithm; nothing follows the selector.
    Null,
}

impl TpmtSymDefObject {
    /// The TCG name of this type.
    pub const TCG_NAME: &'static str = "TPMT_SYM_DEF_OBJECT";

    /// AES-128 in CFB mode, the usual storage-key and session cipher.
    pub const AES_128_CFB: Self = Self::Aes {
        key_bits: 128,
        mode: TpmAlgId::CFB,
    };

    /// The algorithm selector.
    pub const fn algorithm(&self) -> TpmAlgId {
        match self {
            Self::Aes { .. } => TpmAlgId::AES,
            Self::Sm4 { .. } => TpmAlgId::SM4,
            Self::Camellia { .. } => TpmAlgId::CAMELLIA,
            Self::Null => TpmAlgId::NULL,
        }
    }

    /// The key size in bits (`None` for TPM_ALG_NULL).
    pub const fn key_bits(&self) -> Option<u16> {
        match *self {
            Self::Aes { key_bits, .. }
            | Self::Sm4 { key_bits, .. }
            | Self::Camellia { key_bits, .. } => Some(key_bits),
            Self::Null => None,
        }
    }

    /// The block-cipher mode (`None` for TPM_ALG_NULL).
    pub const fn mode(&self) -> Option<TpmAlgId> {
        match *self {
            Self::Aes { mode, .. } | Self::Sm4 { mode, .. } | Self::Camellia { mode, .. } => {
                Some(mode)
            }
            Self::Null => None,
        }
    }

    /// Whether this is TPM_ALG_NULL.
    pub const fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// Reads a `TPMT_SYM_DEF_OBJECT+`: like [`Unmarshal::unmarshal`], but TPM_ALG_NULL is accepted.
    pub fn unmarshal_allow_null(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::unmarshal_with(r, true)
    }

    /// Reads a TPMT_SYM_DEF_OBJECT, accepting TPM_ALG_NULL only if `allow_null`.
    pub fn unmarshal_with(r: &mut Reader<'_>, allow_null: bool) -> Result<Self, Error> {
        let alg = TpmAlgId::unmarshal(r)?;
        match alg {
            TpmAlgId::AES => {
                let (key_bits, mode) = read_block_cipher(r, alg)?;
                Ok(Self::Aes { key_bits, mode })
            }
            TpmAlgId::SM4 => {
                let (key_bits, mode) = read_block_cipher(r, alg)?;
                Ok(Self::Sm4 { key_bits, mode })
            }
            TpmAlgId::CAMELLIA => {
                let (key_bits, mode) = read_block_cipher(r, alg)?;
                Ok(Self::Camellia { key_bits, mode })
            }
            TpmAlgId::NULL if allow_null => Ok(Self::Null),
            _ => Err(Error::BadSelector {
                what: Self::TCG_NAME,
                value: u32::from(alg.0),
            }),
        }
    }
}

impl Marshal for TpmtSymDefObject {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.algorithm().marshal(out);
        if let (Some(bits), Some(mode)) = (self.key_bits(), self.mode()) {
            bits.marshal(out);
            mode.marshal(out);
        }
    }
}

impl Unmarshal for TpmtSymDefObject {
    /// Reads a plain `TPMT_SYM_DEF_OBJECT`: TPM_ALG_NULL is rejected.
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::unmarshal_with(r, false)
    }
}

/// TPMT_SYM_DEF (part 2 §11.1.6): the symmetric algorithm of a session (parameter encryption)
/// or of a key derivation. The selector is TPMI_ALG_SYM: a block cipher, TPM_ALG_XOR (whose
/// "key bits" member is a hash algorithm and which has no mode), or TPM_ALG_NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpmtSymDef {
    /// TPM_ALG_AES.
    Aes {
        /// keyBits.aes (128, 192 or 256).
        key_bits: u16,
        /// mode.aes (a block-cipher mode or TPM_ALG_NULL).
        mode: TpmAlgId,
    },
    /// TPM_ALG_SM4.
    Sm4 {
        /// keyBits.sm4 (128).
        key_bits: u16,
        /// mode.sm4.
        mode: TpmAlgId,
    },
    /// TPM_ALG_CAMELLIA.
    Camellia {
        /// keyBits.camellia (128, 192 or 256).
        key_bits: u16,
        /// mode.camellia.
        mode: TpmAlgId,
    },
    /// TPM_ALG_XOR: the XOR obfuscation of part 1 §11.4.6.
    Xor {
        /// keyBits.xor: the hash used by the KDF (TPMI_ALG_HASH, no TPM_ALG_NULL).
        hash_alg: TpmAlgId,
    },
    /// TPM_ALG_NULL: no symmetric algorithm.
    Null,
}

impl TpmtSymDef {
    /// The TCG name of this type.
    pub const TCG_NAME: &'static str = "TPMT_SYM_DEF";

    /// AES-128 in CFB mode, the parameter-encryption cipher every TPM supports.
    pub const AES_128_CFB: Self = Self::Aes {
        key_bits: 128,
        mode: TpmAlgId::CFB,
    };

    /// The algorithm selector.
    pub const fn algorithm(&self) -> TpmAlgId {
        match self {
            Self::Aes { .. } => TpmAlgId::AES,
            Self::Sm4 { .. } => TpmAlgId::SM4,
            Self::Camellia { .. } => TpmAlgId::CAMELLIA,
            Self::Xor { .. } => TpmAlgId::XOR,
            Self::Null => TpmAlgId::NULL,
        }
    }

    /// Whether this is TPM_ALG_NULL.
    pub const fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// Reads a `TPMT_SYM_DEF+`: like [`Unmarshal::unmarshal`], but TPM_ALG_NULL is accepted.
    pub fn unmarshal_allow_null(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::unmarshal_with(r, true)
    }

    /// Reads a TPMT_SYM_DEF, accepting TPM_ALG_NULL only if `allow_null`.
    pub fn unmarshal_with(r: &mut Reader<'_>, allow_null: bool) -> Result<Self, Error> {
        let alg = TpmAlgId::unmarshal(r)?;
        match alg {
            TpmAlgId::AES => {
                let (key_bits, mode) = read_block_cipher(r, alg)?;
                Ok(Self::Aes { key_bits, mode })
            }
            TpmAlgId::SM4 => {
                let (key_bits, mode) = read_block_cipher(r, alg)?;
                Ok(Self::Sm4 { key_bits, mode })
            }
            TpmAlgId::CAMELLIA => {
                let (key_bits, mode) = read_block_cipher(r, alg)?;
                Ok(Self::Camellia { key_bits, mode })
            }
            TpmAlgId::XOR => Ok(Self::Xor {
                hash_alg: read_alg_hash(r, false)?,
            }),
            TpmAlgId::NULL if allow_null => Ok(Self::Null),
            _ => Err(Error::BadSelector {
                what: Self::TCG_NAME,
                value: u32::from(alg.0),
            }),
        }
    }
}

impl From<TpmtSymDefObject> for TpmtSymDef {
    fn from(v: TpmtSymDefObject) -> Self {
        match v {
            TpmtSymDefObject::Aes { key_bits, mode } => Self::Aes { key_bits, mode },
            TpmtSymDefObject::Sm4 { key_bits, mode } => Self::Sm4 { key_bits, mode },
            TpmtSymDefObject::Camellia { key_bits, mode } => Self::Camellia { key_bits, mode },
            TpmtSymDefObject::Null => Self::Null,
        }
    }
}

impl Marshal for TpmtSymDef {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.algorithm().marshal(out);
        match *self {
            Self::Aes { key_bits, mode }
            | Self::Sm4 { key_bits, mode }
            | Self::Camellia { key_bits, mode } => {
                key_bits.marshal(out);
                mode.marshal(out);
            }
            Self::Xor { hash_alg } => hash_alg.marshal(out),
            Self::Null => {}
        }
    }
}

impl Unmarshal for TpmtSymDef {
    /// Reads a plain `TPMT_SYM_DEF`: TPM_ALG_NULL is rejected.
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::unmarshal_with(r, false)
    }
}

/// TPMS_SYMCIPHER_PARMS (part 2 §11.1.9): the parameters of a symmetric-cipher object. Its
/// `sym` field is a TPMT_SYM_DEF_OBJECT without "+": TPM_ALG_NULL is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TpmsSymcipherParms {
    /// sym: the cipher, key size and default mode.
    pub sym: TpmtSymDefObject,
}

impl Marshal for TpmsSymcipherParms {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.sym.marshal(out);
    }
}

impl Unmarshal for TpmsSymcipherParms {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            sym: TpmtSymDefObject::unmarshal_with(r, false)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Scheme details (§11.1.17–§11.2.3)
// ---------------------------------------------------------------------------------------------

/// TPMS_SCHEME_HASH (part 2 §11.1.17): the details of every scheme whose only parameter is a
/// hash algorithm (TPMI_ALG_HASH, no TPM_ALG_NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TpmsSchemeHash {
    /// hashAlg.
    pub hash_alg: TpmAlgId,
}

impl Marshal for TpmsSchemeHash {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.hash_alg.marshal(out);
    }
}

impl Unmarshal for TpmsSchemeHash {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            hash_alg: read_alg_hash(r, false)?,
        })
    }
}

/// TPMS_SCHEME_HMAC (part 2 §11.1.20): a TPMS_SCHEME_HASH.
pub type TpmsSchemeHmac = TpmsSchemeHash;
/// TPMS_SIG_SCHEME_RSASSA (part 2 §11.2.1.2): a TPMS_SCHEME_HASH.
pub type TpmsSigSchemeRsassa = TpmsSchemeHash;
/// TPMS_SIG_SCHEME_RSAPSS (part 2 §11.2.1.2): a TPMS_SCHEME_HASH.
pub type TpmsSigSchemeRsapss = TpmsSchemeHash;
/// TPMS_SIG_SCHEME_ECDSA (part 2 §11.2.1.3): a TPMS_SCHEME_HASH.
pub type TpmsSigSchemeEcdsa = TpmsSchemeHash;
/// TPMS_SIG_SCHEME_SM2 (part 2 §11.2.1.3): a TPMS_SCHEME_HASH.
pub type TpmsSigSchemeSm2 = TpmsSchemeHash;
/// TPMS_SIG_SCHEME_ECSCHNORR (part 2 §11.2.1.3): a TPMS_SCHEME_HASH.
pub type TpmsSigSchemeEcschnorr = TpmsSchemeHash;
/// TPMS_SIG_SCHEME_ECDAA (part 2 §11.2.1.3): a TPMS_SCHEME_ECDAA.
pub type TpmsSigSchemeEcdaa = TpmsSchemeEcdaa;
/// TPMS_ENC_SCHEME_OAEP (part 2 §11.2.2.2): a TPMS_SCHEME_HASH.
pub type TpmsEncSchemeOaep = TpmsSchemeHash;
/// TPMS_ENC_SCHEME_RSAES (part 2 §11.2.2.2): a TPMS_EMPTY.
pub type TpmsEncSchemeRsaes = TpmsEmpty;
/// TPMS_KEY_SCHEME_ECDH (part 2 §11.2.2.3): a TPMS_SCHEME_HASH.
pub type TpmsKeySchemeEcdh = TpmsSchemeHash;
/// TPMS_KEY_SCHEME_ECMQV (part 2 §11.2.2.3): a TPMS_SCHEME_HASH.
pub type TpmsKeySchemeEcmqv = TpmsSchemeHash;
/// TPMS_KDF_SCHEME_MGF1 and the other TPMS_KDF_SCHEME_* (part 2 §11.2.3.1): a
/// TPMS_SCHEME_HASH.
pub type TpmsKdfSchemeMgf1 = TpmsSchemeHash;

/// TPMS_SCHEME_ECDAA (part 2 §11.1.18): the hash and the commit counter of an ECDAA
/// signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TpmsSchemeEcdaa {
    /// hashAlg (TPMI_ALG_HASH, no TPM_ALG_NULL).
    pub hash_alg: TpmAlgId,
    /// count: the counter value returned by TPM2_Commit.
    pub count: u16,
}

impl Marshal for TpmsSchemeEcdaa {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.hash_alg.marshal(out);
        self.count.marshal(out);
    }
}

impl Unmarshal for TpmsSchemeEcdaa {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            hash_alg: read_alg_hash(r, false)?,
            count: r.u16("TPMS_SCHEME_ECDAA")?,
        })
    }
}

/// TPMS_SCHEME_XOR (part 2 §11.1.21): the hash and KDF of the XOR obfuscation scheme of a
/// keyed-hash object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TpmsSchemeXor {
    /// hashAlg (TPMI_ALG_HASH, no TPM_ALG_NULL).
    pub hash_alg: TpmAlgId,
    /// kdf (TPMI_ALG_KDF+: a KDF or TPM_ALG_NULL).
    pub kdf: TpmAlgId,
}

impl Marshal for TpmsSchemeXor {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.hash_alg.marshal(out);
        self.kdf.marshal(out);
    }
}

impl Unmarshal for TpmsSchemeXor {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            hash_alg: read_alg_hash(r, false)?,
            kdf: read_alg_kdf(r)?,
        })
    }
}

/// Declares a TPMT whose TPMU member is chosen by an algorithm selector: an enum with one
/// variant per allowed algorithm (carrying that algorithm's details) plus `Null`.
macro_rules! alg_union {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($tcg:literal) {
            $( $(#[$vmeta:meta])* $variant:ident($payload:ty) = $alg:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant($payload), )*
            /// TPM_ALG_NULL: nothing follows the selector.
            Null,
        }

        impl $name {
            /// The TCG name of this type.
            pub const TCG_NAME: &'static str = $tcg;
            /// The selectors of the interface type, other than TPM_ALG_NULL.
            pub const ALGORITHMS: &'static [TpmAlgId] = &[$(TpmAlgId::$alg),*];

            /// The algorithm selector.
            pub const fn algorithm(&self) -> TpmAlgId {
                match self {
                    $( Self::$variant(_) => TpmAlgId::$alg, )*
                    Self::Null => TpmAlgId::NULL,
                }
            }

            /// Whether this is TPM_ALG_NULL.
            pub const fn is_null(&self) -> bool {
                matches!(self, Self::Null)
            }

            /// Reads the "+" form of the type: like [`Unmarshal::unmarshal`], but TPM_ALG_NULL
            /// is accepted.
            pub fn unmarshal_allow_null(r: &mut Reader<'_>) -> Result<Self, Error> {
                Self::unmarshal_with(r, true)
            }

            /// Reads one value, accepting TPM_ALG_NULL only if `allow_null` (the "+" of the
            /// field's type in part 2 / part 3).
            pub fn unmarshal_with(r: &mut Reader<'_>, allow_null: bool) -> Result<Self, Error> {
                let alg = TpmAlgId::unmarshal(r)?;
                $(
                    if alg == TpmAlgId::$alg {
                        return Ok(Self::$variant(<$payload as Unmarshal>::unmarshal(r)?));
                    }
                )*
                if allow_null && alg == TpmAlgId::NULL {
                    return Ok(Self::Null);
                }
                Err(Error::BadSelector {
                    what: $tcg,
                    value: u32::from(alg.0),
                })
            }
        }

        impl Marshal for $name {
            fn marshal(&self, out: &mut Vec<u8>) {
                self.algorithm().marshal(out);
                match self {
                    $( Self::$variant(v) => v.marshal(out), )*
                    Self::Null => {}
                }
            }
        }

        impl Unmarshal for $name {
            /// Reads the plain type: TPM_ALG_NULL is rejected.
            fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
                Self::unmarshal_with(r, false)
            }
        }
    };
}

alg_union! {
    /// TPMT_KEYEDHASH_SCHEME (part 2 §11.1.23), selector TPMI_ALG_KEYEDHASH_SCHEME: the
    /// scheme of a keyed-hash object (HMAC key, XOR obfuscation, or none for sealed data).
    pub enum TpmtKeyedhashScheme("TPMT_KEYEDHASH_SCHEME") {
        /// TPM_ALG_HMAC.
        Hmac(TpmsSchemeHmac) = HMAC,
        /// TPM_ALG_XOR.
        Xor(TpmsSchemeXor) = XOR,
    }
}

alg_union! {
    /// TPMT_SIG_SCHEME (part 2 §11.2.1.5), selector TPMI_ALG_SIG_SCHEME: a signing scheme
    /// with its details (TPMU_SIG_SCHEME).
    pub enum TpmtSigScheme("TPMT_SIG_SCHEME") {
        /// TPM_ALG_HMAC.
        Hmac(TpmsSchemeHmac) = HMAC,
        /// TPM_ALG_RSASSA (PKCS#1 v1.5).
        Rsassa(TpmsSigSchemeRsassa) = RSASSA,
        /// TPM_ALG_RSAPSS.
        Rsapss(TpmsSigSchemeRsapss) = RSAPSS,
        /// TPM_ALG_ECDSA.
        Ecdsa(TpmsSigSchemeEcdsa) = ECDSA,
        /// TPM_ALG_ECDAA.
        Ecdaa(TpmsSigSchemeEcdaa) = ECDAA,
        /// TPM_ALG_SM2.
        Sm2(TpmsSigSchemeSm2) = SM2,
        /// TPM_ALG_ECSCHNORR.
        Ecschnorr(TpmsSigSchemeEcschnorr) = ECSCHNORR,
    }
}

alg_union! {
    /// TPMT_KDF_SCHEME (part 2 §11.2.3.3), selector TPMI_ALG_KDF: a key derivation function
    /// and its hash (TPMU_KDF_SCHEME).
    pub enum TpmtKdfScheme("TPMT_KDF_SCHEME") {
        /// TPM_ALG_MGF1.
        Mgf1(TpmsKdfSchemeMgf1) = MGF1,
        /// TPM_ALG_KDF1_SP800_56A.
        Kdf1Sp800_56a(TpmsSchemeHash) = KDF1_SP800_56A,
        /// TPM_ALG_KDF2.
        Kdf2(TpmsSchemeHash) = KDF2,
        /// TPM_ALG_KDF1_SP800_108.
        Kdf1Sp800_108(TpmsSchemeHash) = KDF1_SP800_108,
    }
}

alg_union! {
    /// TPMT_ASYM_SCHEME (part 2 §11.2.3.6), selector TPMI_ALG_ASYM_SCHEME: any asymmetric
    /// scheme with its details (TPMU_ASYM_SCHEME).
    pub enum TpmtAsymScheme("TPMT_ASYM_SCHEME") {
        /// TPM_ALG_ECDH.
        Ecdh(TpmsKeySchemeEcdh) = ECDH,
        /// TPM_ALG_ECMQV.
        Ecmqv(TpmsKeySchemeEcmqv) = ECMQV,
        /// TPM_ALG_RSASSA.
        Rsassa(TpmsSigSchemeRsassa) = RSASSA,
        /// TPM_ALG_RSAPSS.
        Rsapss(TpmsSigSchemeRsapss) = RSAPSS,
        /// TPM_ALG_ECDSA.
        Ecdsa(TpmsSigSchemeEcdsa) = ECDSA,
        /// TPM_ALG_ECDAA.
        Ecdaa(TpmsSigSchemeEcdaa) = ECDAA,
        /// TPM_ALG_SM2.
        Sm2(TpmsSigSchemeSm2) = SM2,
        /// TPM_ALG_ECSCHNORR.
        Ecschnorr(TpmsSigSchemeEcschnorr) = ECSCHNORR,
        /// TPM_ALG_RSAES (PKCS#1 v1.5 encryption; no details).
        Rsaes(TpmsEncSchemeRsaes) = RSAES,
        /// TPM_ALG_OAEP.
        Oaep(TpmsEncSchemeOaep) = OAEP,
    }
}

alg_union! {
    /// TPMT_RSA_SCHEME (part 2 §11.2.4.2), selector TPMI_ALG_RSA_SCHEME: the scheme of an
    /// RSA key (TPMU_ASYM_SCHEME restricted to the RSA signing and encryption schemes).
    pub enum TpmtRsaScheme("TPMT_RSA_SCHEME") {
        /// TPM_ALG_RSASSA.
        Rsassa(TpmsSigSchemeRsassa) = RSASSA,
        /// TPM_ALG_RSAES.
        Rsaes(TpmsEncSchemeRsaes) = RSAES,
        /// TPM_ALG_RSAPSS.
        Rsapss(TpmsSigSchemeRsapss) = RSAPSS,
        /// TPM_ALG_OAEP.
        Oaep(TpmsEncSchemeOaep) = OAEP,
    }
}

alg_union! {
    /// TPMT_RSA_DECRYPT (part 2 §11.2.4.4), selector TPMI_ALG_RSA_DECRYPT: the padding of
    /// TPM2_RSA_Encrypt / TPM2_RSA_Decrypt.
    pub enum TpmtRsaDecrypt("TPMT_RSA_DECRYPT") {
        /// TPM_ALG_RSAES.
        Rsaes(TpmsEncSchemeRsaes) = RSAES,
        /// TPM_ALG_OAEP.
        Oaep(TpmsEncSchemeOaep) = OAEP,
    }
}

alg_union! {
    /// TPMT_ECC_SCHEME (part 2 §11.2.5.6), selector TPMI_ALG_ECC_SCHEME: the scheme of an ECC
    /// key (signing or key exchange).
    pub enum TpmtEccScheme("TPMT_ECC_SCHEME") {
        /// TPM_ALG_ECDSA.
        Ecdsa(TpmsSigSchemeEcdsa) = ECDSA,
        /// TPM_ALG_ECDH.
        Ecdh(TpmsKeySchemeEcdh) = ECDH,
        /// TPM_ALG_ECDAA.
        Ecdaa(TpmsSigSchemeEcdaa) = ECDAA,
        /// TPM_ALG_SM2.
        Sm2(TpmsSigSchemeSm2) = SM2,
        /// TPM_ALG_ECSCHNORR.
        Ecschnorr(TpmsSigSchemeEcschnorr) = ECSCHNORR,
        /// TPM_ALG_ECMQV.
        Ecmqv(TpmsKeySchemeEcmqv) = ECMQV,
    }
}

// ---------------------------------------------------------------------------------------------
// ECC (§11.2.5)
// ---------------------------------------------------------------------------------------------

crate::wire_struct! {
    /// TPMS_ECC_POINT (part 2 §11.2.5.2): an affine point.
    pub struct TpmsEccPoint("TPMS_ECC_POINT") {
        /// x coordinate.
        pub x: Tpm2bEccParameter,
        /// y coordinate.
        pub y: Tpm2bEccParameter,
    }
}

crate::tpm2b_struct! {
    /// TPM2B_ECC_POINT (part 2 §11.2.5.3): a TPMS_ECC_POINT behind a size. The size must equal
    /// the bytes the point occupies; a zero size (the structure missing) is rejected, as the
    /// reference implementation does (TPM_RC_SIZE).
    Tpm2bEccPoint("TPM2B_ECC_POINT") {
        /// point.
        point: TpmsEccPoint
    }
}

/// Checks a TPMI_ECC_CURVE (part 2 §11.2.5.5): one of the named curves, never
/// TPM_ECC_NONE.
pub fn check_ecc_curve(curve: TpmEccCurve) -> Result<TpmEccCurve, Error> {
    if curve != TpmEccCurve::NONE && curve.name().is_some() {
        Ok(curve)
    } else {
        Err(Error::BadValue {
            what: "TPMI_ECC_CURVE",
            value: u32::from(curve.0),
        })
    }
}

/// TPMS_ALGORITHM_DETAIL_ECC (part 2 §11.2.5.7): the parameters of a curve, as returned by
/// TPM2_ECC_Parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsAlgorithmDetailEcc {
    /// curveID.
    pub curve_id: TpmEccCurve,
    /// keySize: the curve size in bits.
    pub key_size: u16,
    /// kdf: the default KDF and hash (TPMT_KDF_SCHEME+).
    pub kdf: TpmtKdfScheme,
    /// sign: the default signing scheme (TPMT_ECC_SCHEME+).
    pub sign: TpmtEccScheme,
    /// p: the field modulus.
    pub p: Tpm2bEccParameter,
    /// a: coefficient of the curve equation.
    pub a: Tpm2bEccParameter,
    /// b: coefficient of the curve equation.
    pub b: Tpm2bEccParameter,
    /// gX: x coordinate of the base point.
    pub g_x: Tpm2bEccParameter,
    /// gY: y coordinate of the base point.
    pub g_y: Tpm2bEccParameter,
    /// n: the order of the base point.
    pub n: Tpm2bEccParameter,
    /// h: the cofactor.
    pub h: Tpm2bEccParameter,
}

impl Marshal for TpmsAlgorithmDetailEcc {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.curve_id.marshal(out);
        self.key_size.marshal(out);
        self.kdf.marshal(out);
        self.sign.marshal(out);
        for v in [
            &self.p, &self.a, &self.b, &self.g_x, &self.g_y, &self.n, &self.h,
        ] {
            v.marshal(out);
        }
    }
}

impl Unmarshal for TpmsAlgorithmDetailEcc {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            curve_id: TpmEccCurve::unmarshal(r)?,
            key_size: r.u16("TPMS_ALGORITHM_DETAIL_ECC")?,
            kdf: TpmtKdfScheme::unmarshal_allow_null(r)?,
            sign: TpmtEccScheme::unmarshal_allow_null(r)?,
            p: Tpm2bEccParameter::unmarshal(r)?,
            a: Tpm2bEccParameter::unmarshal(r)?,
            b: Tpm2bEccParameter::unmarshal(r)?,
            g_x: Tpm2bEccParameter::unmarshal(r)?,
            g_y: Tpm2bEccParameter::unmarshal(r)?,
            n: Tpm2bEccParameter::unmarshal(r)?,
            h: Tpm2bEccParameter::unmarshal(r)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures (§11.3)
// ---------------------------------------------------------------------------------------------

/// TPMS_SIGNATURE_RSA (part 2 §11.3.1): an RSASSA or RSAPSS signature (the TPMS_SIGNATURE_RSASSA
/// and TPMS_SIGNATURE_RSAPSS of the specification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsSignatureRsa {
    /// hash: the hash of the signed digest (TPMI_ALG_HASH, no TPM_ALG_NULL).
    pub hash: TpmAlgId,
    /// sig: the signature, as long as the key's modulus.
    pub sig: Tpm2bPublicKeyRsa,
}

impl Marshal for TpmsSignatureRsa {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.hash.marshal(out);
        self.sig.marshal(out);
    }
}

impl Unmarshal for TpmsSignatureRsa {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            hash: read_alg_hash(r, false)?,
            sig: Tpm2bPublicKeyRsa::unmarshal(r)?,
        })
    }
}

/// TPMS_SIGNATURE_ECC (part 2 §11.3.2): an ECDSA, ECDAA, SM2 or EC-Schnorr signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsSignatureEcc {
    /// hash: the hash of the signed digest (TPMI_ALG_HASH, no TPM_ALG_NULL).
    pub hash: TpmAlgId,
    /// signatureR.
    pub signature_r: Tpm2bEccParameter,
    /// signatureS.
    pub signature_s: Tpm2bEccParameter,
}

impl Marshal for TpmsSignatureEcc {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.hash.marshal(out);
        self.signature_r.marshal(out);
        self.signature_s.marshal(out);
    }
}

impl Unmarshal for TpmsSignatureEcc {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            hash: read_alg_hash(r, false)?,
            signature_r: Tpm2bEccParameter::unmarshal(r)?,
            signature_s: Tpm2bEccParameter::unmarshal(r)?,
        })
    }
}

alg_union! {
    /// TPMT_SIGNATURE (part 2 §11.3.4), selector TPMI_ALG_SIG_SCHEME: a signature with its
    /// algorithm (TPMU_SIGNATURE). An HMAC "signature" is a TPMT_HA; `Null` is the empty
    /// signature returned when no signing key was given (TPM2_Certify with TPM_RH_NULL).
    pub enum TpmtSignature("TPMT_SIGNATURE") {
        /// TPM_ALG_HMAC: the HMAC as a TPMT_HA (its hash may not be TPM_ALG_NULL).
        Hmac(TpmtHa) = HMAC,
        /// TPM_ALG_RSASSA.
        Rsassa(TpmsSignatureRsa) = RSASSA,
        /// TPM_ALG_RSAPSS.
        Rsapss(TpmsSignatureRsa) = RSAPSS,
        /// TPM_ALG_ECDSA.
        Ecdsa(TpmsSignatureEcc) = ECDSA,
        /// TPM_ALG_ECDAA.
        Ecdaa(TpmsSignatureEcc) = ECDAA,
        /// TPM_ALG_SM2.
        Sm2(TpmsSignatureEcc) = SM2,
        /// TPM_ALG_ECSCHNORR.
        Ecschnorr(TpmsSignatureEcc) = ECSCHNORR,
    }
}

impl TpmtSignature {
    /// The hash algorithm the signature was computed over (`None` for TPM_ALG_NULL).
    pub fn hash_alg(&self) -> Option<TpmAlgId> {
        match self {
            Self::Hmac(ha) => Some(ha.hash_alg()),
            Self::Rsassa(s) | Self::Rsapss(s) => Some(s.hash),
            Self::Ecdsa(s) | Self::Ecdaa(s) | Self::Sm2(s) | Self::Ecschnorr(s) => Some(s.hash),
            Self::Null => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn round_trip<T: Marshal + Unmarshal + PartialEq + core::fmt::Debug>(bytes: &[u8]) -> T {
        let v = T::from_bytes(bytes).unwrap();
        assert_eq!(v.to_bytes(), bytes);
        v
    }

    #[test]
    fn sym_def_object_forms() {
        // From the corpus: the symmetric field of every storage key template (AES-128-CFB).
        let aes = round_trip::<TpmtSymDefObject>(&hex("000600800043"));
        assert_eq!(aes, TpmtSymDefObject::AES_128_CFB);
        assert_eq!(aes.key_bits(), Some(128));
        assert_eq!(aes.mode(), Some(TpmAlgId::CFB));
        // TPMT_SYM_DEF_OBJECT+ (as in TPMS_RSA_PARMS) accepts NULL.
        let null = TpmtSymDefObject::unmarshal_allow_null(&mut Reader::new(&[0, 0x10])).unwrap();
        assert!(null.is_null());
        assert_eq!(null.key_bits(), None);
        assert_eq!(null.to_bytes(), [0, 0x10]);
        // The plain type (as in TPMS_SYMCIPHER_PARMS) does not.
        assert_eq!(
            TpmtSymDefObject::from_bytes(&hex("0010")),
            Err(Error::BadSelector {
                what: "TPMT_SYM_DEF_OBJECT",
                value: 0x10
            })
        );
        assert_eq!(
            TpmsSymcipherParms::from_bytes(&hex("0010")),
            Err(Error::BadSelector {
                what: "TPMT_SYM_DEF_OBJECT",
                value: 0x10
            })
        );
        // XOR is a TPMI_ALG_SYM but not a TPMI_ALG_SYM_OBJECT.
        assert!(matches!(
            TpmtSymDefObject::from_bytes(&hex("000a000b")),
            Err(Error::BadSelector { value: 0x0a, .. })
        ));
        // AES-257 is no AES key size.
        assert_eq!(
            TpmtSymDefObject::from_bytes(&hex("000601010043")),
            Err(Error::BadValue {
                what: "TPMI_AES_KEY_BITS",
                value: 257
            })
        );
        // SM4 has only 128-bit keys.
        assert!(TpmtSymDefObject::from_bytes(&hex("001300800043")).is_ok());
        assert!(matches!(
            TpmtSymDefObject::from_bytes(&hex("001301000043")),
            Err(Error::BadValue {
                what: "TPMI_SM4_KEY_BITS",
                ..
            })
        ));
        // A hash is no block-cipher mode.
        assert_eq!(
            TpmtSymDefObject::from_bytes(&hex("00060080000b")),
            Err(Error::BadValue {
                what: "TPMI_ALG_SYM_MODE",
                value: 0x0b
            })
        );
        // Truncated in the middle of the key size.
        assert!(matches!(
            TpmtSymDefObject::from_bytes(&hex("000600")),
            Err(Error::Truncated { .. })
        ));
        // A mode of NULL is allowed (TPMI_ALG_SYM_MODE+).
        let aes_null = round_trip::<TpmtSymDefObject>(&hex("000601000010"));
        assert_eq!(aes_null.mode(), Some(TpmAlgId::NULL));
    }

    #[test]
    fn sym_def_xor_has_hash_and_no_mode() {
        let xor = round_trip::<TpmtSymDef>(&hex("000a000b"));
        assert_eq!(
            xor,
            TpmtSymDef::Xor {
                hash_alg: TpmAlgId::SHA256
            }
        );
        // XOR's hash may not be NULL, and trailing "mode" bytes are not consumed.
        assert!(matches!(
            TpmtSymDef::from_bytes(&hex("000a0010")),
            Err(Error::BadValue {
                what: "TPMI_ALG_HASH",
                ..
            })
        ));
        assert!(matches!(
            TpmtSymDef::from_bytes(&hex("000a000b0043")),
            Err(Error::TrailingBytes { count: 2, .. })
        ));
        // From the corpus: StartAuthSession with AES-128-CFB parameter encryption.
        assert_eq!(
            round_trip::<TpmtSymDef>(&hex("000600800043")),
            TpmtSymDef::AES_128_CFB
        );
        assert_eq!(
            TpmtSymDef::from(TpmtSymDefObject::AES_128_CFB),
            TpmtSymDef::AES_128_CFB
        );
        assert!(matches!(
            TpmtSymDef::from_bytes(&hex("0010")),
            Err(Error::BadSelector { .. })
        ));
        assert_eq!(
            TpmtSymDef::unmarshal_allow_null(&mut Reader::new(&hex("0010"))),
            Ok(TpmtSymDef::Null)
        );
        // RSA is not a symmetric algorithm.
        assert!(matches!(
            TpmtSymDef::from_bytes(&hex("0001")),
            Err(Error::BadSelector {
                what: "TPMT_SYM_DEF",
                value: 1
            })
        ));
    }

    #[test]
    fn schemes() {
        let rsassa = round_trip::<TpmtRsaScheme>(&hex("0014000b"));
        assert_eq!(
            rsassa,
            TpmtRsaScheme::Rsassa(TpmsSchemeHash {
                hash_alg: TpmAlgId::SHA256
            })
        );
        assert_eq!(rsassa.algorithm(), TpmAlgId::RSASSA);
        // RSAES has no details.
        assert_eq!(
            round_trip::<TpmtRsaScheme>(&hex("0015")),
            TpmtRsaScheme::Rsaes(TpmsEmpty {})
        );
        // ECDSA is not an RSA scheme; RSASSA is not an RSA decryption scheme.
        assert!(matches!(
            TpmtRsaScheme::from_bytes(&hex("0018000b")),
            Err(Error::BadSelector {
                what: "TPMT_RSA_SCHEME",
                value: 0x18
            })
        ));
        assert!(matches!(
            TpmtRsaDecrypt::from_bytes(&hex("0014000b")),
            Err(Error::BadSelector { .. })
        ));
        assert_eq!(
            round_trip::<TpmtRsaDecrypt>(&hex("0017000b")),
            TpmtRsaDecrypt::Oaep(TpmsSchemeHash {
                hash_alg: TpmAlgId::SHA256
            })
        );
        // NULL only with "+".
        assert_eq!(
            TpmtEccScheme::unmarshal_allow_null(&mut Reader::new(&hex("0010"))),
            Ok(TpmtEccScheme::Null)
        );
        assert_eq!(TpmtEccScheme::Null.to_bytes(), [0, 0x10]);
        assert_eq!(
            TpmtEccScheme::from_bytes(&hex("0010")),
            Err(Error::BadSelector {
                what: "TPMT_ECC_SCHEME",
                value: 0x10
            })
        );
        // ECDAA carries a count.
        assert_eq!(
            round_trip::<TpmtEccScheme>(&hex("001a000b0007")),
            TpmtEccScheme::Ecdaa(TpmsSchemeEcdaa {
                hash_alg: TpmAlgId::SHA256,
                count: 7
            })
        );
        // A scheme's hash may not be NULL.
        assert_eq!(
            TpmtSigScheme::from_bytes(&hex("00140010")),
            Err(Error::BadValue {
                what: "TPMI_ALG_HASH",
                value: 0x10
            })
        );
        // Keyed-hash: HMAC and XOR (with a KDF, which may be NULL).
        assert_eq!(
            round_trip::<TpmtKeyedhashScheme>(&hex("0005000b")),
            TpmtKeyedhashScheme::Hmac(TpmsSchemeHash {
                hash_alg: TpmAlgId::SHA256
            })
        );
        assert_eq!(
            round_trip::<TpmtKeyedhashScheme>(&hex("000a000b0022")),
            TpmtKeyedhashScheme::Xor(TpmsSchemeXor {
                hash_alg: TpmAlgId::SHA256,
                kdf: TpmAlgId::KDF1_SP800_108
            })
        );
        assert!(TpmtKeyedhashScheme::from_bytes(&hex("000a000b0010")).is_ok());
        assert_eq!(
            TpmtKeyedhashScheme::from_bytes(&hex("000a000b000b")),
            Err(Error::BadValue {
                what: "TPMI_ALG_KDF",
                value: 0x0b
            })
        );
        assert_eq!(
            round_trip::<TpmtKdfScheme>(&hex("0021000c")),
            TpmtKdfScheme::Kdf2(TpmsSchemeHash {
                hash_alg: TpmAlgId::SHA384
            })
        );
        assert!(TpmtAsymScheme::ALGORITHMS.contains(&TpmAlgId::ECMQV));
        assert_eq!(
            round_trip::<TpmtAsymScheme>(&hex("001d000b")).algorithm(),
            TpmAlgId::ECMQV
        );
    }

    #[test]
    fn signatures_from_the_corpus() {
        // TPM2_Sign responses of the corpus (tests "sign" and "verifysignature"): the
        // parameter area after parameterSize.
        let hmac = round_trip::<TpmtSignature>(&hex(
            "0005000b6309b2896d36007bb10c913a156f543f876b4409f2b7a3184de95d2717873bba",
        ));
        let TpmtSignature::Hmac(ha) = &hmac else {
            panic!("not an HMAC: {hmac:?}")
        };
        assert_eq!(ha.hash_alg(), TpmAlgId::SHA256);
        assert_eq!(ha.digest().len(), 32);
        assert_eq!(hmac.hash_alg(), Some(TpmAlgId::SHA256));

        let ecdsa = round_trip::<TpmtSignature>(&hex(concat!(
            "0018000b",
            "0020b6497e3c1f75db2f94d62a60a164c50a9ef663f3b7bbac3410827ff6784ebc5f",
            "0020753f482b16e27b3d36a2edee8f878f1f7ec9e3d8494c8f135fc8e6a6472c32c4"
        )));
        let TpmtSignature::Ecdsa(sig) = &ecdsa else {
            panic!("not ECDSA: {ecdsa:?}")
        };
        assert_eq!(sig.hash, TpmAlgId::SHA256);
        assert_eq!(sig.signature_r.len(), 32);
        assert_eq!(sig.signature_s.as_bytes()[0], 0x75);

        // RSASSA with a 2048-bit key: 256 signature bytes.
        let mut rsassa = hex("0014000b0100");
        rsassa.extend_from_slice(&[0x5a; 256]);
        let sig = round_trip::<TpmtSignature>(&rsassa);
        assert!(matches!(&sig, TpmtSignature::Rsassa(s) if s.sig.len() == 256));
        // Truncated signature value.
        assert!(matches!(
            TpmtSignature::from_bytes(&rsassa[..100]),
            Err(Error::Truncated { .. })
        ));

        // The NULL signature (TPM2_Certify without a signing key).
        let null = TpmtSignature::unmarshal_allow_null(&mut Reader::new(&hex("0010"))).unwrap();
        assert_eq!(null.hash_alg(), None);
        assert_eq!(null.to_bytes(), [0, 0x10]);
        assert!(TpmtSignature::from_bytes(&hex("0010")).is_err());
        // An HMAC signature with a NULL hash, and an unknown selector.
        assert!(TpmtSignature::from_bytes(&hex("00050010")).is_err());
        assert!(matches!(
            TpmtSignature::from_bytes(&hex("0006000b")),
            Err(Error::BadSelector {
                what: "TPMT_SIGNATURE",
                value: 6
            })
        ));
    }

    #[test]
    fn ecc_point_sizes() {
        let point = TpmsEccPoint {
            x: Tpm2bEccParameter::new(&[1; 32]).unwrap(),
            y: Tpm2bEccParameter::new(&[2; 32]).unwrap(),
        };
        let wrapped = Tpm2bEccPoint {
            point: point.clone(),
        };
        let bytes = wrapped.to_bytes();
        assert_eq!(&bytes[..2], &[0, 68]);
        assert_eq!(round_trip::<Tpm2bEccPoint>(&bytes), wrapped);
        // Size 0: the point is missing.
        assert_eq!(
            Tpm2bEccPoint::from_bytes(&[0, 0]),
            Err(Error::TooSmall {
                what: "TPM2B_ECC_POINT",
                size: 0,
                min: 1
            })
        );
        // A size one larger than the point: the extra byte is inside the TPM2B.
        let mut long = vec![0, 69];
        long.extend_from_slice(&point.to_bytes());
        long.push(0);
        assert_eq!(
            Tpm2bEccPoint::from_bytes(&long),
            Err(Error::TrailingBytes {
                what: "TPM2B_ECC_POINT",
                count: 1
            })
        );
        // A size one smaller: the point runs past it.
        let mut short = vec![0, 67];
        short.extend_from_slice(&point.to_bytes());
        assert!(matches!(
            Tpm2bEccPoint::unmarshal(&mut Reader::new(&short)),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn algorithm_detail_ecc_round_trip() {
        let detail = TpmsAlgorithmDetailEcc {
            curve_id: TpmEccCurve::NIST_P256,
            key_size: 256,
            kdf: TpmtKdfScheme::Null,
            sign: TpmtEccScheme::Null,
            p: Tpm2bEccParameter::new(&[0xff; 32]).unwrap(),
            a: Tpm2bEccParameter::new(&[0xfc; 32]).unwrap(),
            b: Tpm2bEccParameter::new(&[0x5a; 32]).unwrap(),
            g_x: Tpm2bEccParameter::new(&[0x6b; 32]).unwrap(),
            g_y: Tpm2bEccParameter::new(&[0x4f; 32]).unwrap(),
            n: Tpm2bEccParameter::new(&[0xfe; 32]).unwrap(),
            h: Tpm2bEccParameter::new(&[1]).unwrap(),
        };
        let bytes = detail.to_bytes();
        assert_eq!(&bytes[..8], &[0, 3, 1, 0, 0, 0x10, 0, 0x10]);
        assert_eq!(round_trip::<TpmsAlgorithmDetailEcc>(&bytes), detail);
        assert_eq!(
            check_ecc_curve(TpmEccCurve::NIST_P384),
            Ok(TpmEccCurve::NIST_P384)
        );
        assert!(check_ecc_curve(TpmEccCurve::NONE).is_err());
        assert!(check_ecc_curve(TpmEccCurve(0x7777)).is_err());
    }
}

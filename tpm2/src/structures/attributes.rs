//! Attribute words (TCG TPM 2.0 Library part 2 §8, and TPMA_NV of §13.4).
//!
//! Each TPMA is a newtype over its wire integer. The single-bit attributes are associated
//! constants (masks) tested with `has()`; multi-bit fields (TPMA_CC's commandIndex and
//! cHandles, TPMA_NV's TPM_NT, TPMA_LOCALITY's Extended) have accessors. `Debug` lists the set
//! bits by their specification names. Unmarshalling rejects every bit the specification marks
//! "reserved" / "shall be zero" with [`Error::ReservedBits`]; TPMA_NV additionally rejects a
//! TPM_NT value the specification does not define.
//!
//! TPMA_SESSION (§8.4) lives with the authorization area in [`crate::auth`].

use alloc::vec::Vec;
use core::fmt;

use crate::cc::TpmCc;
use crate::{Error, Marshal, Reader, Unmarshal};

/// Writes `TPMA_X(name|name|...` for the named single-bit flags of `bits`; the caller appends
/// any multi-bit fields and the closing parenthesis.
fn write_flags<T>(
    f: &mut fmt::Formatter<'_>,
    tcg: &str,
    bits: T,
    names: &[(T, &str)],
) -> Result<bool, fmt::Error>
where
    T: Copy + PartialEq + core::ops::BitAnd<Output = T>,
{
    write!(f, "{tcg}(")?;
    let mut first = true;
    for &(mask, name) in names {
        if bits & mask == mask {
            if !first {
                f.write_str("|")?;
            }
            f.write_str(name)?;
            first = false;
        }
    }
    Ok(first)
}

/// Declares one attribute word: newtype, bit constants, `has`/`with`/`without`, the reserved
/// mask, Debug, Marshal, and (unless the type supplies its own `from_bits`) an Unmarshal that
/// rejects reserved bits.
macro_rules! attribute_word {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($int:ty, $tcg:literal) {
            $( $(#[$bmeta:meta])* $konst:ident = $val:expr => $bname:literal, )*
        }
        reserved = $reserved:expr;
        $(fields = $fields:expr;)?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub $int);

        impl $name {
            $( $(#[$bmeta])* pub const $konst: $int = $val; )*
            /// The bits the specification marks reserved (they must be clear).
            pub const RESERVED: $int = $reserved;
            /// The TCG name of this type.
            pub const TCG_NAME: &'static str = $tcg;
            const NAMES: &'static [($int, &'static str)] = &[$((Self::$konst, $bname)),*];

            /// Whether every bit of `mask` is set.
            pub const fn has(self, mask: $int) -> bool {
                self.0 & mask == mask
            }

            /// This value with the bits of `mask` set.
            #[must_use]
            pub const fn with(self, mask: $int) -> Self {
                Self(self.0 | mask)
            }

            /// This value with the bits of `mask` cleared.
            #[must_use]
            pub const fn without(self, mask: $int) -> Self {
                Self(self.0 & !mask)
            }

            /// The raw attribute word.
            pub const fn bits(self) -> $int {
                self.0
            }
        }

        impl fmt::Debug for $name {
            // TPMA_LOCALITY has no reserved bits, so its mask is zero.
            #[allow(clippy::bad_bit_mask)]
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let _first = write_flags(f, $tcg, self.0, Self::NAMES)?;
                $( ($fields)(self, _first, &mut *f)?; )?
                if self.0 & Self::RESERVED != 0 {
                    write!(f, " reserved={:#x}", self.0 & Self::RESERVED)?;
                }
                f.write_str(")")
            }
        }

        impl Marshal for $name {
            fn marshal(&self, out: &mut Vec<u8>) {
                self.0.marshal(out);
            }
        }

        impl Unmarshal for $name {
            fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
                Self::from_bits(<$int>::from_be_bytes(r.array($tcg)?))
            }
        }
    };
}

/// Implements the plain `from_bits` (reserved bits rejected) for attribute words with no other
/// constraint.
macro_rules! plain_from_bits {
    ($($name:ident: $int:ty),*) => {$(
        impl $name {
            /// Validates a raw word: every reserved bit must be clear.
            pub fn from_bits(v: $int) -> Result<Self, Error> {
                if v & Self::RESERVED != 0 {
                    return Err(Error::ReservedBits {
                        what: Self::TCG_NAME,
                        value: u32::from(v),
                    });
                }
                Ok(Self(v))
            }
        }
    )*};
}

attribute_word! {
    /// TPMA_ALGORITHM (part 2 §8.2): the properties of an algorithm, as reported by
    /// TPM_CAP_ALGS.
    pub struct TpmaAlgorithm(u32, "TPMA_ALGORITHM") {
        /// asymmetric: an asymmetric algorithm with public and private portions.
        ASYMMETRIC = 1 << 0 => "asymmetric",
        /// symmetric: a symmetric block cipher.
        SYMMETRIC = 1 << 1 => "symmetric",
        /// hash: a hash algorithm.
        HASH = 1 << 2 => "hash",
        /// object: an algorithm that may be used as an object type.
        OBJECT = 1 << 3 => "object",
        /// signing: a signing algorithm.
        SIGNING = 1 << 8 => "signing",
        /// encrypting: an encryption/decryption algorithm.
        ENCRYPTING = 1 << 9 => "encrypting",
        /// method: a method such as a key derivation function.
        METHOD = 1 << 10 => "method",
    }
    reserved = 0xFFFF_F8F0;
}

attribute_word! {
    /// TPMA_OBJECT (part 2 §8.3): an object's use, authorization types and relationship to
    /// other objects.
    pub struct TpmaObject(u32, "TPMA_OBJECT") {
        /// fixedTPM: the object's hierarchy may not change.
        FIXED_TPM = 1 << 1 => "fixedTPM",
        /// stClear: saved contexts may not be loaded after Startup(CLEAR).
        ST_CLEAR = 1 << 2 => "stClear",
        /// fixedParent: the object's parent may not change.
        FIXED_PARENT = 1 << 4 => "fixedParent",
        /// sensitiveDataOrigin: the TPM generated the sensitive data (other than authValue).
        SENSITIVE_DATA_ORIGIN = 1 << 5 => "sensitiveDataOrigin",
        /// userWithAuth: USER role may be approved with the authValue.
        USER_WITH_AUTH = 1 << 6 => "userWithAuth",
        /// adminWithPolicy: ADMIN role requires a policy session.
        ADMIN_WITH_POLICY = 1 << 7 => "adminWithPolicy",
        /// noDA: the object is not subject to dictionary-attack protection.
        NO_DA = 1 << 10 => "noDA",
        /// encryptedDuplication: duplication requires an inner wrapper and a symmetric seed.
        ENCRYPTED_DUPLICATION = 1 << 11 => "encryptedDuplication",
        /// restricted: key usage is restricted to TPM-generated structures.
        RESTRICTED = 1 << 16 => "restricted",
        /// decrypt: a decryption key (for a storage key, a parent).
        DECRYPT = 1 << 17 => "decrypt",
        /// sign / encrypt: a signing key, or (for symmetric ciphers) an encryption key.
        SIGN_ENCRYPT = 1 << 18 => "sign/encrypt",
        /// x509sign: the key may only sign X.509 certificates (TPM2_CertifyX509).
        X509_SIGN = 1 << 19 => "x509sign",
    }
    reserved = 0xFFF0_F309;
}

impl TpmaObject {
    /// Alias of [`TpmaObject::SIGN_ENCRYPT`] for signing keys.
    pub const SIGN: u32 = Self::SIGN_ENCRYPT;
    /// Alias of [`TpmaObject::SIGN_ENCRYPT`] for symmetric encryption keys.
    pub const ENCRYPT: u32 = Self::SIGN_ENCRYPT;
}

attribute_word! {
    /// TPMA_LOCALITY (part 2 §8.5): a set of localities.
    ///
    /// When any of the Extended bits (5–7) is set, the whole octet is instead one extended
    /// locality in the range 32–255; localities 5–31 cannot be expressed.
    pub struct TpmaLocality(u8, "TPMA_LOCALITY") {
        /// TPM_LOC_ZERO.
        ZERO = 1 << 0 => "TPM_LOC_ZERO",
        /// TPM_LOC_ONE.
        ONE = 1 << 1 => "TPM_LOC_ONE",
        /// TPM_LOC_TWO.
        TWO = 1 << 2 => "TPM_LOC_TWO",
        /// TPM_LOC_THREE.
        THREE = 1 << 3 => "TPM_LOC_THREE",
        /// TPM_LOC_FOUR.
        FOUR = 1 << 4 => "TPM_LOC_FOUR",
    }
    reserved = 0;
    fields = |v: &TpmaLocality, first: bool, f: &mut fmt::Formatter<'_>| -> fmt::Result {
        match v.extended_locality() {
            Some(l) if first => write!(f, "extended locality {l}"),
            Some(l) => write!(f, " extended locality {l}"),
            None => Ok(()),
        }
    };
}

impl TpmaLocality {
    /// The Extended field (bits 5–7).
    pub const EXTENDED_MASK: u8 = 0xE0;

    /// Whether this is an extended locality rather than a bit map of localities 0–4.
    pub const fn is_extended(self) -> bool {
        self.0 & Self::EXTENDED_MASK != 0
    }

    /// The single extended locality (32–255) this value names, if it is one.
    pub const fn extended_locality(self) -> Option<u8> {
        if self.is_extended() {
            Some(self.0)
        } else {
            None
        }
    }

    /// The encoding that selects exactly `locality`, or `None` for localities 5–31, which
    /// TPMA_LOCALITY cannot express.
    pub const fn single(locality: u8) -> Option<Self> {
        match locality {
            0..=4 => Some(Self(1 << locality)),
            32..=255 => Some(Self(locality)),
            _ => None,
        }
    }

    /// Whether `locality` (0–255) is selected: for an extended value, only that locality; for a
    /// bit map, one of localities 0–4 whose bit is set.
    pub const fn selects(self, locality: u8) -> bool {
        if self.is_extended() {
            self.0 == locality
        } else {
            locality < 5 && self.0 & (1 << locality) != 0
        }
    }

    /// Validates a raw octet (every value is a valid TPMA_LOCALITY).
    pub const fn from_bits(v: u8) -> Result<Self, Error> {
        Ok(Self(v))
    }
}

attribute_word! {
    /// TPMA_PERMANENT (part 2 §8.6): permanent TPM state, reported as TPM_PT_PERMANENT.
    pub struct TpmaPermanent(u32, "TPMA_PERMANENT") {
        /// ownerAuthSet: TPM2_HierarchyChangeAuth has set ownerAuth.
        OWNER_AUTH_SET = 1 << 0 => "ownerAuthSet",
        /// endorsementAuthSet.
        ENDORSEMENT_AUTH_SET = 1 << 1 => "endorsementAuthSet",
        /// lockoutAuthSet.
        LOCKOUT_AUTH_SET = 1 << 2 => "lockoutAuthSet",
        /// disableClear: TPM2_Clear is disabled.
        DISABLE_CLEAR = 1 << 8 => "disableClear",
        /// inLockout: the TPM is in dictionary-attack lockout.
        IN_LOCKOUT = 1 << 9 => "inLockout",
        /// tpmGeneratedEPS: the TPM generated the endorsement primary seed.
        TPM_GENERATED_EPS = 1 << 10 => "tpmGeneratedEPS",
    }
    reserved = 0xFFFF_F8F8;
}

attribute_word! {
    /// TPMA_STARTUP_CLEAR (part 2 §8.7): state cleared by Startup(CLEAR), reported as
    /// TPM_PT_STARTUP_CLEAR.
    pub struct TpmaStartupClear(u32, "TPMA_STARTUP_CLEAR") {
        /// phEnable: the platform hierarchy is enabled.
        PH_ENABLE = 1 << 0 => "phEnable",
        /// shEnable: the storage hierarchy is enabled.
        SH_ENABLE = 1 << 1 => "shEnable",
        /// ehEnable: the endorsement hierarchy is enabled.
        EH_ENABLE = 1 << 2 => "ehEnable",
        /// phEnableNV: platform-created NV indices are accessible.
        PH_ENABLE_NV = 1 << 3 => "phEnableNV",
        /// orderly: the last shutdown was orderly.
        ORDERLY = 1 << 31 => "orderly",
    }
    reserved = 0x7FFF_FFF0;
}

attribute_word! {
    /// TPMA_MEMORY (part 2 §8.8): how the TPM shares memory, reported as TPM_PT_MEMORY.
    pub struct TpmaMemory(u32, "TPMA_MEMORY") {
        /// sharedRAM: session and object slots share RAM.
        SHARED_RAM = 1 << 0 => "sharedRAM",
        /// sharedNV: persistent objects and NV indices share NV.
        SHARED_NV = 1 << 1 => "sharedNV",
        /// objectCopiedToRam: persistent objects use a transient slot when referenced.
        OBJECT_COPIED_TO_RAM = 1 << 2 => "objectCopiedToRam",
    }
    reserved = 0xFFFF_FFF8;
}

attribute_word! {
    /// TPMA_CC (part 2 §8.9): the properties of one command, as reported by TPM_CAP_COMMANDS.
    pub struct TpmaCc(u32, "TPMA_CC") {
        /// nv: the command may write to NV.
        NV = 1 << 22 => "nv",
        /// extensive: the command may flush any number of loaded contexts.
        EXTENSIVE = 1 << 23 => "extensive",
        /// flushed: transient handles in the command are flushed when it completes.
        FLUSHED = 1 << 24 => "flushed",
        /// rHandle: the response has a handle area.
        R_HANDLE = 1 << 28 => "rHandle",
        /// V: a vendor-specific command.
        V = 1 << 29 => "V",
    }
    // Bits 16–21 are reserved; Res (30–31) is "allocated for software, shall be zero".
    reserved = 0xC03F_0000;
    fields = |v: &TpmaCc, first: bool, f: &mut fmt::Formatter<'_>| -> fmt::Result {
        if !first {
            f.write_str(" ")?;
        }
        write!(f, "commandIndex={:#06x} cHandles={}", v.command_index(), v.c_handles())
    };
}

impl TpmaCc {
    /// The commandIndex field (bits 0–15).
    pub const COMMAND_INDEX_MASK: u32 = 0x0000_FFFF;
    /// The cHandles field (bits 25–27).
    pub const C_HANDLES_MASK: u32 = 0x0E00_0000;
    const C_HANDLES_SHIFT: u32 = 25;
    /// The single-bit attributes [`TpmaCc::new`] accepts in `flags`.
    pub const FLAGS: u32 = Self::NV | Self::EXTENSIVE | Self::FLUSHED | Self::R_HANDLE | Self::V;

    /// Builds a TPMA_CC from its fields: `flags` is any combination of [`TpmaCc::NV`],
    /// [`TpmaCc::EXTENSIVE`], [`TpmaCc::FLUSHED`], [`TpmaCc::R_HANDLE`] and [`TpmaCc::V`];
    /// `c_handles` must fit the three-bit cHandles field.
    pub fn new(command_index: u16, c_handles: u8, flags: u32) -> Result<Self, Error> {
        if c_handles > 7 {
            return Err(Error::BadValue {
                what: "TPMA_CC.cHandles",
                value: u32::from(c_handles),
            });
        }
        if flags & !Self::FLAGS != 0 {
            return Err(Error::ReservedBits {
                what: "TPMA_CC",
                value: flags,
            });
        }
        Ok(Self(
            u32::from(command_index) | (u32::from(c_handles) << Self::C_HANDLES_SHIFT) | flags,
        ))
    }

    /// The attributes of command `code`: its index and vendor bit come from the code.
    pub fn for_command(code: TpmCc, c_handles: u8, flags: u32) -> Result<Self, Error> {
        let index = u16::try_from(code.0 & Self::COMMAND_INDEX_MASK).unwrap_or(0);
        let vendor = code.0 & Self::V;
        Self::new(index, c_handles, flags | vendor)
    }

    /// commandIndex: the low 16 bits of the command code.
    pub const fn command_index(self) -> u16 {
        (self.0 & Self::COMMAND_INDEX_MASK) as u16
    }

    /// cHandles: the number of handles in the command's handle area.
    pub const fn c_handles(self) -> u8 {
        ((self.0 & Self::C_HANDLES_MASK) >> Self::C_HANDLES_SHIFT) as u8
    }

    /// Whether the response has a handle area.
    pub const fn r_handle(self) -> bool {
        self.has(Self::R_HANDLE)
    }

    /// Whether this is a vendor-specific command.
    pub const fn vendor(self) -> bool {
        self.has(Self::V)
    }

    /// The TPM_CC this describes: commandIndex, plus the V bit for vendor commands.
    pub const fn command_code(self) -> TpmCc {
        TpmCc(self.0 & (Self::COMMAND_INDEX_MASK | Self::V))
    }
}

attribute_word! {
    /// TPMA_MODES (part 2 §8.10): the modes the TPM is designed to meet, reported as
    /// TPM_PT_MODES.
    pub struct TpmaModes(u32, "TPMA_MODES") {
        /// FIPS_140_2: designed to comply with FIPS 140-2 at level 1 or higher.
        FIPS_140_2 = 1 << 0 => "FIPS_140_2",
    }
    reserved = 0xFFFF_FFFE;
}

attribute_word! {
    /// TPMA_X509_KEY_USAGE (part 2 §8.11): RFC 5280 key usage for TPM2_CertifyX509.
    pub struct TpmaX509KeyUsage(u32, "TPMA_X509_KEY_USAGE") {
        /// decipherOnly.
        DECIPHER_ONLY = 1 << 23 => "decipherOnly",
        /// encipherOnly.
        ENCIPHER_ONLY = 1 << 24 => "encipherOnly",
        /// cRLSign.
        CRL_SIGN = 1 << 25 => "cRLSign",
        /// keyCertSign.
        KEY_CERT_SIGN = 1 << 26 => "keyCertSign",
        /// keyAgreement.
        KEY_AGREEMENT = 1 << 27 => "keyAgreement",
        /// dataEncipherment.
        DATA_ENCIPHERMENT = 1 << 28 => "dataEncipherment",
        /// keyEncipherment.
        KEY_ENCIPHERMENT = 1 << 29 => "keyEncipherment",
        /// nonrepudiation (contentCommitment).
        NONREPUDIATION = 1 << 30 => "nonrepudiation",
        /// digitalSignature.
        DIGITAL_SIGNATURE = 1 << 31 => "digitalSignature",
    }
    reserved = 0x007F_FFFF;
}

attribute_word! {
    /// TPMA_ACT (part 2 §8.12): the state of an authenticated countdown timer.
    pub struct TpmaAct(u32, "TPMA_ACT") {
        /// signaled: the ACT has signaled.
        SIGNALED = 1 << 0 => "signaled",
        /// preserveSignaled: the signaled bit is preserved over a power cycle.
        PRESERVE_SIGNALED = 1 << 1 => "preserveSignaled",
    }
    reserved = 0xFFFF_FFFC;
}

crate::open_enum! {
    /// TPM_NT (part 2 §13.4, table "TPM_NT Constants"): the type of an NV index, carried in
    /// bits 4–7 of TPMA_NV.
    pub struct TpmNt(u8, "TPM_NT") {
        ORDINARY = 0x0 => "TPM_NT_ORDINARY",
        COUNTER = 0x1 => "TPM_NT_COUNTER",
        BITS = 0x2 => "TPM_NT_BITS",
        EXTEND = 0x4 => "TPM_NT_EXTEND",
        PIN_FAIL = 0x8 => "TPM_NT_PIN_FAIL",
        PIN_PASS = 0x9 => "TPM_NT_PIN_PASS",
    }
}

attribute_word! {
    /// TPMA_NV (part 2 §13.4): the attributes of an NV index, including its type (TPM_NT).
    pub struct TpmaNv(u32, "TPMA_NV") {
        /// TPMA_NV_PPWRITE: Platform Authorization may write.
        PPWRITE = 1 << 0 => "PPWRITE",
        /// TPMA_NV_OWNERWRITE: Owner Authorization may write.
        OWNERWRITE = 1 << 1 => "OWNERWRITE",
        /// TPMA_NV_AUTHWRITE: the index's authValue may authorize writes.
        AUTHWRITE = 1 << 2 => "AUTHWRITE",
        /// TPMA_NV_POLICYWRITE: the index's authPolicy may authorize writes.
        POLICYWRITE = 1 << 3 => "POLICYWRITE",
        /// TPMA_NV_POLICY_DELETE: deletion requires the index's policy.
        POLICY_DELETE = 1 << 10 => "POLICY_DELETE",
        /// TPMA_NV_WRITELOCKED: writes are locked.
        WRITELOCKED = 1 << 11 => "WRITELOCKED",
        /// TPMA_NV_WRITEALL: a partial write is not allowed.
        WRITEALL = 1 << 12 => "WRITEALL",
        /// TPMA_NV_WRITEDEFINE: TPM2_NV_WriteLock locks until the index is deleted.
        WRITEDEFINE = 1 << 13 => "WRITEDEFINE",
        /// TPMA_NV_WRITE_STCLEAR: TPM2_NV_WriteLock locks until the next Startup(CLEAR).
        WRITE_STCLEAR = 1 << 14 => "WRITE_STCLEAR",
        /// TPMA_NV_GLOBALLOCK: TPM2_NV_GlobalWriteLock applies to this index.
        GLOBALLOCK = 1 << 15 => "GLOBALLOCK",
        /// TPMA_NV_PPREAD: Platform Authorization may read.
        PPREAD = 1 << 16 => "PPREAD",
        /// TPMA_NV_OWNERREAD: Owner Authorization may read.
        OWNERREAD = 1 << 17 => "OWNERREAD",
        /// TPMA_NV_AUTHREAD: the index's authValue may authorize reads.
        AUTHREAD = 1 << 18 => "AUTHREAD",
        /// TPMA_NV_POLICYREAD: the index's authPolicy may authorize reads.
        POLICYREAD = 1 << 19 => "POLICYREAD",
        /// TPMA_NV_NO_DA: not subject to dictionary-attack protection.
        NO_DA = 1 << 25 => "NO_DA",
        /// TPMA_NV_ORDERLY: the index state may be saved to NV only on orderly shutdown.
        ORDERLY = 1 << 26 => "ORDERLY",
        /// TPMA_NV_CLEAR_STCLEAR: TPMA_NV_WRITTEN is cleared by Startup(CLEAR).
        CLEAR_STCLEAR = 1 << 27 => "CLEAR_STCLEAR",
        /// TPMA_NV_READLOCKED: reads are locked.
        READLOCKED = 1 << 28 => "READLOCKED",
        /// TPMA_NV_WRITTEN: the index has been written.
        WRITTEN = 1 << 29 => "WRITTEN",
        /// TPMA_NV_PLATFORMCREATE: defined with Platform Authorization.
        PLATFORMCREATE = 1 << 30 => "PLATFORMCREATE",
        /// TPMA_NV_READ_STCLEAR: TPM2_NV_ReadLock may lock reads until Startup(CLEAR).
        READ_STCLEAR = 1 << 31 => "READ_STCLEAR",
    }
    // Bits 8–9 and 20–24 are reserved.
    reserved = 0x01F0_0300;
    fields = |v: &TpmaNv, first: bool, f: &mut fmt::Formatter<'_>| -> fmt::Result {
        if !first {
            f.write_str(" ")?;
        }
        write!(f, "{}", v.nt())
    };
}

impl TpmaNv {
    /// The TPM_NT field (bits 4–7).
    pub const TPM_NT_MASK: u32 = 0x0000_00F0;
    const TPM_NT_SHIFT: u32 = 4;

    /// The index type (TPM_NT).
    pub const fn nt(self) -> TpmNt {
        TpmNt(((self.0 & Self::TPM_NT_MASK) >> Self::TPM_NT_SHIFT) as u8)
    }

    /// This value with its TPM_NT field replaced by `nt` (only the low four bits of `nt` fit).
    #[must_use]
    pub const fn with_nt(self, nt: TpmNt) -> Self {
        Self((self.0 & !Self::TPM_NT_MASK) | (((nt.0 & 0x0F) as u32) << Self::TPM_NT_SHIFT))
    }

    /// Validates a raw word: reserved bits clear and a TPM_NT the specification defines.
    pub fn from_bits(v: u32) -> Result<Self, Error> {
        if v & Self::RESERVED != 0 {
            return Err(Error::ReservedBits {
                what: Self::TCG_NAME,
                value: v,
            });
        }
        let a = Self(v);
        if a.nt().name().is_none() {
            return Err(Error::BadValue {
                what: "TPM_NT",
                value: u32::from(a.nt().0),
            });
        }
        Ok(a)
    }
}

plain_from_bits!(
    TpmaAlgorithm: u32,
    TpmaObject: u32,
    TpmaPermanent: u32,
    TpmaStartupClear: u32,
    TpmaMemory: u32,
    TpmaCc: u32,
    TpmaModes: u32,
    TpmaX509KeyUsage: u32,
    TpmaAct: u32
);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn object_bits_and_reserved() {
        // The attributes tpm2-tools uses for a default primary storage key:
        // fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt.
        let a = TpmaObject::from_bytes(&[0x00, 0x03, 0x00, 0x72]).unwrap();
        assert!(a.has(TpmaObject::FIXED_TPM | TpmaObject::RESTRICTED | TpmaObject::DECRYPT));
        assert!(!a.has(TpmaObject::SIGN));
        assert_eq!(
            format!("{a:?}"),
            "TPMA_OBJECT(fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|decrypt)"
        );
        assert_eq!(a.to_bytes(), [0x00, 0x03, 0x00, 0x72]);
        for bit in [0u32, 3, 8, 9, 12, 15, 20, 31] {
            assert_eq!(
                TpmaObject::from_bits(1 << bit),
                Err(Error::ReservedBits {
                    what: "TPMA_OBJECT",
                    value: 1 << bit
                }),
                "bit {bit}"
            );
        }
        let all = TpmaObject::NAMES.iter().fold(0, |acc, &(m, _)| acc | m);
        assert_eq!(all | TpmaObject::RESERVED, u32::MAX);
        assert_eq!(all & TpmaObject::RESERVED, 0);
        assert_eq!(
            a.without(TpmaObject::DECRYPT).with(TpmaObject::SIGN).0,
            0x0005_0072
        );
    }

    #[test]
    fn every_reserved_mask_is_disjoint_from_named_bits() {
        fn check(names: &[(u32, &str)], reserved: u32) {
            for &(m, n) in names {
                assert_eq!(m & reserved, 0, "{n}");
            }
        }
        check(TpmaAlgorithm::NAMES, TpmaAlgorithm::RESERVED);
        check(TpmaPermanent::NAMES, TpmaPermanent::RESERVED);
        check(TpmaStartupClear::NAMES, TpmaStartupClear::RESERVED);
        check(TpmaMemory::NAMES, TpmaMemory::RESERVED);
        check(TpmaCc::NAMES, TpmaCc::RESERVED);
        check(TpmaModes::NAMES, TpmaModes::RESERVED);
        check(TpmaX509KeyUsage::NAMES, TpmaX509KeyUsage::RESERVED);
        check(TpmaAct::NAMES, TpmaAct::RESERVED);
        check(TpmaNv::NAMES, TpmaNv::RESERVED | TpmaNv::TPM_NT_MASK);
        // Every bit of TPMA_NV is a flag, TPM_NT or reserved.
        let all = TpmaNv::NAMES.iter().fold(0, |acc, &(m, _)| acc | m);
        assert_eq!(all | TpmaNv::RESERVED | TpmaNv::TPM_NT_MASK, u32::MAX);
        // Likewise TPMA_CC.
        let all = TpmaCc::NAMES.iter().fold(0, |acc, &(m, _)| acc | m);
        assert_eq!(
            all | TpmaCc::RESERVED | TpmaCc::COMMAND_INDEX_MASK | TpmaCc::C_HANDLES_MASK,
            u32::MAX
        );
    }

    #[test]
    fn algorithm_from_capability() {
        // TPMA_ALGORITHM of TPM_ALG_RSA in swtpm's TPM_CAP_ALGS answer: asymmetric|object.
        let a = TpmaAlgorithm::from_bytes(&[0, 0, 0, 0x09]).unwrap();
        assert!(a.has(TpmaAlgorithm::ASYMMETRIC | TpmaAlgorithm::OBJECT));
        assert_eq!(format!("{a:?}"), "TPMA_ALGORITHM(asymmetric|object)");
        assert!(matches!(
            TpmaAlgorithm::from_bytes(&[0, 0, 0, 0x10]),
            Err(Error::ReservedBits { .. })
        ));
        assert!(matches!(
            TpmaAlgorithm::from_bytes(&[0, 0, 0]),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn locality_rules() {
        let l = TpmaLocality(TpmaLocality::ZERO | TpmaLocality::THREE);
        assert!(l.selects(0) && l.selects(3));
        assert!(!l.selects(1) && !l.selects(4) && !l.selects(32) && !l.selects(255));
        assert_eq!(
            format!("{l:?}"),
            "TPMA_LOCALITY(TPM_LOC_ZERO|TPM_LOC_THREE)"
        );
        // Any Extended bit makes the octet one locality.
        let e = TpmaLocality(0x21);
        assert!(e.is_extended());
        assert_eq!(e.extended_locality(), Some(33));
        assert!(e.selects(33));
        assert!(!e.selects(0) && !e.selects(32));
        assert_eq!(
            format!("{e:?}"),
            "TPMA_LOCALITY(TPM_LOC_ZERO extended locality 33)"
        );
        assert_eq!(TpmaLocality::single(2), Some(TpmaLocality(0x04)));
        assert_eq!(TpmaLocality::single(200), Some(TpmaLocality(200)));
        assert_eq!(TpmaLocality::single(5), None);
        assert_eq!(TpmaLocality::single(31), None);
        for loc in 0..=255u8 {
            if let Some(s) = TpmaLocality::single(loc) {
                assert!(s.selects(loc));
                assert_eq!(TpmaLocality::from_bytes(&[s.0]), Ok(s));
            }
        }
        assert!(!TpmaLocality(0).selects(0));
    }

    #[test]
    fn cc_fields() {
        // TPMA_CC of TPM2_NV_UndefineSpaceSpecial (0x11F) from swtpm's TPM_CAP_COMMANDS answer:
        // 0x0440011f = nv, cHandles=2, commandIndex=0x011f.
        let a = TpmaCc::from_bytes(&[0x04, 0x40, 0x01, 0x1f]).unwrap();
        assert_eq!(a.command_index(), 0x011f);
        assert_eq!(a.c_handles(), 2);
        assert!(a.has(TpmaCc::NV));
        assert!(!a.has(TpmaCc::FLUSHED) && !a.r_handle() && !a.vendor());
        assert_eq!(a.command_code(), TpmCc(0x011f));
        assert_eq!(TpmaCc::new(0x011f, 2, TpmaCc::NV), Ok(a));
        assert_eq!(
            format!("{a:?}"),
            "TPMA_CC(nv commandIndex=0x011f cHandles=2)"
        );
        let b = TpmaCc::for_command(TpmCc(0x2000_0001), 1, TpmaCc::R_HANDLE).unwrap();
        assert!(b.vendor() && b.r_handle());
        assert_eq!(b.command_code(), TpmCc(0x2000_0001));
        assert_eq!(b.c_handles(), 1);
        assert!(matches!(TpmaCc::new(1, 8, 0), Err(Error::BadValue { .. })));
        assert!(matches!(
            TpmaCc::new(1, 0, 1 << 16),
            Err(Error::ReservedBits { .. })
        ));
        for bit in [16u32, 21, 30, 31] {
            assert!(TpmaCc::from_bits(1 << bit).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn nv_type_and_reserved() {
        // A counter index as tpm2-tools defines it: ownerwrite|ownerread|NT=COUNTER.
        let a = TpmaNv(TpmaNv::OWNERWRITE | TpmaNv::OWNERREAD).with_nt(TpmNt::COUNTER);
        assert_eq!(a.0, 0x0002_0012);
        assert_eq!(a.nt(), TpmNt::COUNTER);
        assert_eq!(TpmaNv::from_bytes(&a.to_bytes()), Ok(a));
        assert_eq!(
            format!("{a:?}"),
            "TPMA_NV(OWNERWRITE|OWNERREAD TPM_NT_COUNTER)"
        );
        for nt in [3u32, 5, 6, 7, 10, 15] {
            assert_eq!(
                TpmaNv::from_bits(nt << 4),
                Err(Error::BadValue {
                    what: "TPM_NT",
                    value: nt
                })
            );
        }
        for nt in TpmNt::ALL {
            assert_eq!(TpmaNv::default().with_nt(*nt).nt(), *nt);
            assert!(TpmaNv::from_bits(TpmaNv::default().with_nt(*nt).0).is_ok());
        }
        for bit in [8u32, 9, 20, 24] {
            assert!(matches!(
                TpmaNv::from_bits(1 << bit),
                Err(Error::ReservedBits { .. })
            ));
        }
    }

    #[test]
    fn small_words() {
        let p = TpmaPermanent::from_bytes(&[0, 0, 0x04, 0x01]).unwrap();
        assert!(p.has(TpmaPermanent::OWNER_AUTH_SET | TpmaPermanent::TPM_GENERATED_EPS));
        assert!(TpmaPermanent::from_bits(0x08).is_err());
        let s = TpmaStartupClear::from_bits(0x8000_000f).unwrap();
        assert!(s.has(TpmaStartupClear::ORDERLY | TpmaStartupClear::PH_ENABLE_NV));
        assert!(TpmaStartupClear::from_bits(0x10).is_err());
        assert!(TpmaMemory::from_bits(0x7).is_ok() && TpmaMemory::from_bits(0x8).is_err());
        assert!(TpmaModes::from_bits(1).is_ok() && TpmaModes::from_bits(2).is_err());
        assert!(TpmaAct::from_bits(3).is_ok() && TpmaAct::from_bits(4).is_err());
        let k = TpmaX509KeyUsage::from_bits(0x8000_0000).unwrap();
        assert!(k.has(TpmaX509KeyUsage::DIGITAL_SIGNATURE));
        assert!(TpmaX509KeyUsage::from_bits(0x0040_0000).is_err());
        assert_eq!(format!("{:?}", TpmaAct(0)), "TPMA_ACT()");
        assert_eq!(
            format!("{:?}", TpmaMemory(0x11)),
            "TPMA_MEMORY(sharedRAM reserved=0x10)"
        );
    }
}

//! TPM_ALG_ID (part 2 §6.3) and the properties of the hash algorithms this project supports.

crate::open_enum! {
    /// TPM_ALG_ID: an algorithm identifier (part 2 §6.3, table 9).
    pub struct TpmAlgId(u16, "TPM_ALG_ID") {
        ERROR = 0x0000 => "TPM_ALG_ERROR",
        RSA = 0x0001 => "TPM_ALG_RSA",
        TDES = 0x0003 => "TPM_ALG_TDES",
        SHA1 = 0x0004 => "TPM_ALG_SHA1",
        HMAC = 0x0005 => "TPM_ALG_HMAC",
        AES = 0x0006 => "TPM_ALG_AES",
        MGF1 = 0x0007 => "TPM_ALG_MGF1",
        KEYEDHASH = 0x0008 => "TPM_ALG_KEYEDHASH",
        XOR = 0x000A => "TPM_ALG_XOR",
        SHA256 = 0x000B => "TPM_ALG_SHA256",
        SHA384 = 0x000C => "TPM_ALG_SHA384",
        SHA512 = 0x000D => "TPM_ALG_SHA512",
        NULL = 0x0010 => "TPM_ALG_NULL",
        SM3_256 = 0x0012 => "TPM_ALG_SM3_256",
        SM4 = 0x0013 => "TPM_ALG_SM4",
        RSASSA = 0x0014 => "TPM_ALG_RSASSA",
        RSAES = 0x0015 => "TPM_ALG_RSAES",
        RSAPSS = 0x0016 => "TPM_ALG_RSAPSS",
        OAEP = 0x0017 => "TPM_ALG_OAEP",
        ECDSA = 0x0018 => "TPM_ALG_ECDSA",
        ECDH = 0x0019 => "TPM_ALG_ECDH",
        ECDAA = 0x001A => "TPM_ALG_ECDAA",
        SM2 = 0x001B => "TPM_ALG_SM2",
        ECSCHNORR = 0x001C => "TPM_ALG_ECSCHNORR",
        ECMQV = 0x001D => "TPM_ALG_ECMQV",
        KDF1_SP800_56A = 0x0020 => "TPM_ALG_KDF1_SP800_56A",
        KDF2 = 0x0021 => "TPM_ALG_KDF2",
        KDF1_SP800_108 = 0x0022 => "TPM_ALG_KDF1_SP800_108",
        ECC = 0x0023 => "TPM_ALG_ECC",
        SYMCIPHER = 0x0025 => "TPM_ALG_SYMCIPHER",
        CAMELLIA = 0x0026 => "TPM_ALG_CAMELLIA",
        SHA3_256 = 0x0027 => "TPM_ALG_SHA3_256",
        SHA3_384 = 0x0028 => "TPM_ALG_SHA3_384",
        SHA3_512 = 0x0029 => "TPM_ALG_SHA3_512",
        CMAC = 0x003F => "TPM_ALG_CMAC",
        CTR = 0x0040 => "TPM_ALG_CTR",
        OFB = 0x0041 => "TPM_ALG_OFB",
        CBC = 0x0042 => "TPM_ALG_CBC",
        CFB = 0x0043 => "TPM_ALG_CFB",
        ECB = 0x0044 => "TPM_ALG_ECB",
    }
}

impl TpmAlgId {
    /// Tpm2bDigest size in bytes for a hash algorithm, `None` for anything else.
    pub const fn digest_size(self) -> Option<usize> {
        match self {
            Self::SHA1 => Some(20),
            Self::SHA256 | Self::SM3_256 | Self::SHA3_256 => Some(32),
            Self::SHA384 | Self::SHA3_384 => Some(48),
            Self::SHA512 | Self::SHA3_512 => Some(64),
            _ => None,
        }
    }

    /// Whether this is a hash algorithm (a valid TPMI_ALG_HASH other than TPM_ALG_NULL).
    pub const fn is_hash(self) -> bool {
        self.digest_size().is_some()
    }
}

/// The largest digest any supported hash produces (sizeof(TPMU_HA)).
pub const MAX_DIGEST_SIZE: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes() {
        assert_eq!(TpmAlgId::SHA256.name(), Some("TPM_ALG_SHA256"));
        assert_eq!(alloc::format!("{}", TpmAlgId(0x7777)), "TPM_ALG_ID(0x7777)");
        assert_eq!(TpmAlgId::SHA384.digest_size(), Some(48));
        assert_eq!(TpmAlgId::NULL.digest_size(), None);
    }
}

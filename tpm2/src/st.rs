//! Structure tags and small enumerations: TPM_ST (part 2 §6.9), TPM_SU (§6.5), TPM_SE (§6.11),
//! TPM_ECC_CURVE (§6.4).

crate::open_enum! {
    /// TPM_ST: structure tags (part 2 §6.9, table 19).
    pub struct TpmSt(u16, "TPM_ST") {
        RSP_COMMAND = 0x00C4 => "TPM_ST_RSP_COMMAND",
        NULL = 0x8000 => "TPM_ST_NULL",
        NO_SESSIONS = 0x8001 => "TPM_ST_NO_SESSIONS",
        SESSIONS = 0x8002 => "TPM_ST_SESSIONS",
        ATTEST_NV = 0x8014 => "TPM_ST_ATTEST_NV",
        ATTEST_COMMAND_AUDIT = 0x8015 => "TPM_ST_ATTEST_COMMAND_AUDIT",
        ATTEST_SESSION_AUDIT = 0x8016 => "TPM_ST_ATTEST_SESSION_AUDIT",
        ATTEST_CERTIFY = 0x8017 => "TPM_ST_ATTEST_CERTIFY",
        ATTEST_QUOTE = 0x8018 => "TPM_ST_ATTEST_QUOTE",
        ATTEST_TIME = 0x8019 => "TPM_ST_ATTEST_TIME",
        ATTEST_CREATION = 0x801A => "TPM_ST_ATTEST_CREATION",
        ATTEST_NV_DIGEST = 0x801C => "TPM_ST_ATTEST_NV_DIGEST",
        CREATION = 0x8021 => "TPM_ST_CREATION",
        VERIFIED = 0x8022 => "TPM_ST_VERIFIED",
        AUTH_SECRET = 0x8023 => "TPM_ST_AUTH_SECRET",
        HASHCHECK = 0x8024 => "TPM_ST_HASHCHECK",
        AUTH_SIGNED = 0x8025 => "TPM_ST_AUTH_SIGNED",
        FU_MANIFEST = 0x8029 => "TPM_ST_FU_MANIFEST",
    }
}

crate::open_enum! {
    /// TPM_SU: startup and shutdown types (part 2 §6.5).
    pub struct TpmSu(u16, "TPM_SU") {
        CLEAR = 0x0000 => "TPM_SU_CLEAR",
        STATE = 0x0001 => "TPM_SU_STATE",
    }
}

crate::open_enum! {
    /// TPM_SE: session types (part 2 §6.11).
    pub struct TpmSe(u8, "TPM_SE") {
        HMAC = 0x00 => "TPM_SE_HMAC",
        POLICY = 0x01 => "TPM_SE_POLICY",
        TRIAL = 0x03 => "TPM_SE_TRIAL",
    }
}

crate::open_enum! {
    /// TPM_ECC_CURVE: ECC curve identifiers (part 2 §6.4).
    pub struct TpmEccCurve(u16, "TPM_ECC_CURVE") {
        NONE = 0x0000 => "TPM_ECC_NONE",
        NIST_P192 = 0x0001 => "TPM_ECC_NIST_P192",
        NIST_P224 = 0x0002 => "TPM_ECC_NIST_P224",
        NIST_P256 = 0x0003 => "TPM_ECC_NIST_P256",
        NIST_P384 = 0x0004 => "TPM_ECC_NIST_P384",
        NIST_P521 = 0x0005 => "TPM_ECC_NIST_P521",
        BN_P256 = 0x0010 => "TPM_ECC_BN_P256",
        BN_P638 = 0x0011 => "TPM_ECC_BN_P638",
        SM2_P256 = 0x0020 => "TPM_ECC_SM2_P256",
    }
}

//! TPM_CC command codes (TCG TPM 2.0 Library part 2 §6.5.2, table 12) and the per-command shape
//! that part 3 gives in each command's "Command" and "Response" tables: how many handles the
//! command and response handle areas hold, how many of the command handles carry an
//! authorization (the `@` handles), whether parameter encryption may apply to the first
//! command or response parameter (it may when that parameter is a TPM2B), and whether the
//! command must be sent without sessions.
//!
//! The list covers every command of the library specification up to version 1.84
//! (TPM_CC_FIRST = TPM2_NV_UndefineSpaceSpecial through TPM_CC_LAST =
//! TPM2_PolicyTransportSPDM), plus the one vendor-range command the specification itself defines,
//! TPM2_Vendor_TCG_Test (part 3 §33).

/// TPM_CC_V (part 2 §6.5.2, and the `V` bit 29 of TPMA_CC in §8.9): set in every vendor-specific
/// command code.
pub const VENDOR_BIT: u32 = 0x2000_0000;

crate::open_enum! {
    /// TPM_CC (part 2 §6.5.2, table 12). `Display` prints the command's part 3 name.
    pub struct TpmCc(u32, "TPM_CC") {
        NV_UNDEFINE_SPACE_SPECIAL = 0x0000_011F => "TPM2_NV_UndefineSpaceSpecial",
        EVICT_CONTROL = 0x0000_0120 => "TPM2_EvictControl",
        HIERARCHY_CONTROL = 0x0000_0121 => "TPM2_HierarchyControl",
        NV_UNDEFINE_SPACE = 0x0000_0122 => "TPM2_NV_UndefineSpace",
        CHANGE_EPS = 0x0000_0124 => "TPM2_ChangeEPS",
        CHANGE_PPS = 0x0000_0125 => "TPM2_ChangePPS",
        CLEAR = 0x0000_0126 => "TPM2_Clear",
        CLEAR_CONTROL = 0x0000_0127 => "TPM2_ClearControl",
        CLOCK_SET = 0x0000_0128 => "TPM2_ClockSet",
        HIERARCHY_CHANGE_AUTH = 0x0000_0129 => "TPM2_HierarchyChangeAuth",
        NV_DEFINE_SPACE = 0x0000_012A => "TPM2_NV_DefineSpace",
        PCR_ALLOCATE = 0x0000_012B => "TPM2_PCR_Allocate",
        PCR_SET_AUTH_POLICY = 0x0000_012C => "TPM2_PCR_SetAuthPolicy",
        PP_COMMANDS = 0x0000_012D => "TPM2_PP_Commands",
        SET_PRIMARY_POLICY = 0x0000_012E => "TPM2_SetPrimaryPolicy",
        FIELD_UPGRADE_START = 0x0000_012F => "TPM2_FieldUpgradeStart",
        CLOCK_RATE_ADJUST = 0x0000_0130 => "TPM2_ClockRateAdjust",
        CREATE_PRIMARY = 0x0000_0131 => "TPM2_CreatePrimary",
        NV_GLOBAL_WRITE_LOCK = 0x0000_0132 => "TPM2_NV_GlobalWriteLock",
        GET_COMMAND_AUDIT_DIGEST = 0x0000_0133 => "TPM2_GetCommandAuditDigest",
        NV_INCREMENT = 0x0000_0134 => "TPM2_NV_Increment",
        NV_SET_BITS = 0x0000_0135 => "TPM2_NV_SetBits",
        NV_EXTEND = 0x0000_0136 => "TPM2_NV_Extend",
        NV_WRITE = 0x0000_0137 => "TPM2_NV_Write",
        NV_WRITE_LOCK = 0x0000_0138 => "TPM2_NV_WriteLock",
        DICTIONARY_ATTACK_LOCK_RESET = 0x0000_0139 => "TPM2_DictionaryAttackLockReset",
        DICTIONARY_ATTACK_PARAMETERS = 0x0000_013A => "TPM2_DictionaryAttackParameters",
        NV_CHANGE_AUTH = 0x0000_013B => "TPM2_NV_ChangeAuth",
        PCR_EVENT = 0x0000_013C => "TPM2_PCR_Event",
        PCR_RESET = 0x0000_013D => "TPM2_PCR_Reset",
        SEQUENCE_COMPLETE = 0x0000_013E => "TPM2_SequenceComplete",
        SET_ALGORITHM_SET = 0x0000_013F => "TPM2_SetAlgorithmSet",
        SET_COMMAND_CODE_AUDIT_STATUS = 0x0000_0140 => "TPM2_SetCommandCodeAuditStatus",
        FIELD_UPGRADE_DATA = 0x0000_0141 => "TPM2_FieldUpgradeData",
        INCREMENTAL_SELF_TEST = 0x0000_0142 => "TPM2_IncrementalSelfTest",
        SELF_TEST = 0x0000_0143 => "TPM2_SelfTest",
        STARTUP = 0x0000_0144 => "TPM2_Startup",
        SHUTDOWN = 0x0000_0145 => "TPM2_Shutdown",
        STIR_RANDOM = 0x0000_0146 => "TPM2_StirRandom",
        ACTIVATE_CREDENTIAL = 0x0000_0147 => "TPM2_ActivateCredential",
        CERTIFY = 0x0000_0148 => "TPM2_Certify",
        POLICY_NV = 0x0000_0149 => "TPM2_PolicyNV",
        CERTIFY_CREATION = 0x0000_014A => "TPM2_CertifyCreation",
        DUPLICATE = 0x0000_014B => "TPM2_Duplicate",
        GET_TIME = 0x0000_014C => "TPM2_GetTime",
        GET_SESSION_AUDIT_DIGEST = 0x0000_014D => "TPM2_GetSessionAuditDigest",
        NV_READ = 0x0000_014E => "TPM2_NV_Read",
        NV_READ_LOCK = 0x0000_014F => "TPM2_NV_ReadLock",
        OBJECT_CHANGE_AUTH = 0x0000_0150 => "TPM2_ObjectChangeAuth",
        POLICY_SECRET = 0x0000_0151 => "TPM2_PolicySecret",
        REWRAP = 0x0000_0152 => "TPM2_Rewrap",
        CREATE = 0x0000_0153 => "TPM2_Create",
        ECDH_ZGEN = 0x0000_0154 => "TPM2_ECDH_ZGen",
        HMAC = 0x0000_0155 => "TPM2_HMAC",
        IMPORT = 0x0000_0156 => "TPM2_Import",
        LOAD = 0x0000_0157 => "TPM2_Load",
        QUOTE = 0x0000_0158 => "TPM2_Quote",
        RSA_DECRYPT = 0x0000_0159 => "TPM2_RSA_Decrypt",
        HMAC_START = 0x0000_015B => "TPM2_HMAC_Start",
        SEQUENCE_UPDATE = 0x0000_015C => "TPM2_SequenceUpdate",
        SIGN = 0x0000_015D => "TPM2_Sign",
        UNSEAL = 0x0000_015E => "TPM2_Unseal",
        POLICY_SIGNED = 0x0000_0160 => "TPM2_PolicySigned",
        CONTEXT_LOAD = 0x0000_0161 => "TPM2_ContextLoad",
        CONTEXT_SAVE = 0x0000_0162 => "TPM2_ContextSave",
        ECDH_KEY_GEN = 0x0000_0163 => "TPM2_ECDH_KeyGen",
        ENCRYPT_DECRYPT = 0x0000_0164 => "TPM2_EncryptDecrypt",
        FLUSH_CONTEXT = 0x0000_0165 => "TPM2_FlushContext",
        LOAD_EXTERNAL = 0x0000_0167 => "TPM2_LoadExternal",
        MAKE_CREDENTIAL = 0x0000_0168 => "TPM2_MakeCredential",
        NV_READ_PUBLIC = 0x0000_0169 => "TPM2_NV_ReadPublic",
        POLICY_AUTHORIZE = 0x0000_016A => "TPM2_PolicyAuthorize",
        POLICY_AUTH_VALUE = 0x0000_016B => "TPM2_PolicyAuthValue",
        POLICY_COMMAND_CODE = 0x0000_016C => "TPM2_PolicyCommandCode",
        POLICY_COUNTER_TIMER = 0x0000_016D => "TPM2_PolicyCounterTimer",
        POLICY_CP_HASH = 0x0000_016E => "TPM2_PolicyCpHash",
        POLICY_LOCALITY = 0x0000_016F => "TPM2_PolicyLocality",
        POLICY_NAME_HASH = 0x0000_0170 => "TPM2_PolicyNameHash",
        POLICY_OR = 0x0000_0171 => "TPM2_PolicyOR",
        POLICY_TICKET = 0x0000_0172 => "TPM2_PolicyTicket",
        READ_PUBLIC = 0x0000_0173 => "TPM2_ReadPublic",
        RSA_ENCRYPT = 0x0000_0174 => "TPM2_RSA_Encrypt",
        START_AUTH_SESSION = 0x0000_0176 => "TPM2_StartAuthSession",
        VERIFY_SIGNATURE = 0x0000_0177 => "TPM2_VerifySignature",
        ECC_PARAMETERS = 0x0000_0178 => "TPM2_ECC_Parameters",
        FIRMWARE_READ = 0x0000_0179 => "TPM2_FirmwareRead",
        GET_CAPABILITY = 0x0000_017A => "TPM2_GetCapability",
        GET_RANDOM = 0x0000_017B => "TPM2_GetRandom",
        GET_TEST_RESULT = 0x0000_017C => "TPM2_GetTestResult",
        HASH = 0x0000_017D => "TPM2_Hash",
        PCR_READ = 0x0000_017E => "TPM2_PCR_Read",
        POLICY_PCR = 0x0000_017F => "TPM2_PolicyPCR",
        POLICY_RESTART = 0x0000_0180 => "TPM2_PolicyRestart",
        READ_CLOCK = 0x0000_0181 => "TPM2_ReadClock",
        PCR_EXTEND = 0x0000_0182 => "TPM2_PCR_Extend",
        PCR_SET_AUTH_VALUE = 0x0000_0183 => "TPM2_PCR_SetAuthValue",
        NV_CERTIFY = 0x0000_0184 => "TPM2_NV_Certify",
        EVENT_SEQUENCE_COMPLETE = 0x0000_0185 => "TPM2_EventSequenceComplete",
        HASH_SEQUENCE_START = 0x0000_0186 => "TPM2_HashSequenceStart",
        POLICY_PHYSICAL_PRESENCE = 0x0000_0187 => "TPM2_PolicyPhysicalPresence",
        POLICY_DUPLICATION_SELECT = 0x0000_0188 => "TPM2_PolicyDuplicationSelect",
        POLICY_GET_DIGEST = 0x0000_0189 => "TPM2_PolicyGetDigest",
        TEST_PARMS = 0x0000_018A => "TPM2_TestParms",
        COMMIT = 0x0000_018B => "TPM2_Commit",
        POLICY_PASSWORD = 0x0000_018C => "TPM2_PolicyPassword",
        ZGEN_2PHASE = 0x0000_018D => "TPM2_ZGen_2Phase",
        EC_EPHEMERAL = 0x0000_018E => "TPM2_EC_Ephemeral",
        POLICY_NV_WRITTEN = 0x0000_018F => "TPM2_PolicyNvWritten",
        POLICY_TEMPLATE = 0x0000_0190 => "TPM2_PolicyTemplate",
        CREATE_LOADED = 0x0000_0191 => "TPM2_CreateLoaded",
        POLICY_AUTHORIZE_NV = 0x0000_0192 => "TPM2_PolicyAuthorizeNV",
        ENCRYPT_DECRYPT_2 = 0x0000_0193 => "TPM2_EncryptDecrypt2",
        AC_GET_CAPABILITY = 0x0000_0194 => "TPM2_AC_GetCapability",
        AC_SEND = 0x0000_0195 => "TPM2_AC_Send",
        POLICY_AC_SEND_SELECT = 0x0000_0196 => "TPM2_Policy_AC_SendSelect",
        CERTIFY_X509 = 0x0000_0197 => "TPM2_CertifyX509",
        ACT_SET_TIMEOUT = 0x0000_0198 => "TPM2_ACT_SetTimeout",
        ECC_ENCRYPT = 0x0000_0199 => "TPM2_ECC_Encrypt",
        ECC_DECRYPT = 0x0000_019A => "TPM2_ECC_Decrypt",
        POLICY_CAPABILITY = 0x0000_019B => "TPM2_PolicyCapability",
        POLICY_PARAMETERS = 0x0000_019C => "TPM2_PolicyParameters",
        NV_DEFINE_SPACE_2 = 0x0000_019D => "TPM2_NV_DefineSpace2",
        NV_READ_PUBLIC_2 = 0x0000_019E => "TPM2_NV_ReadPublic2",
        SET_CAPABILITY = 0x0000_019F => "TPM2_SetCapability",
        READ_ONLY_CONTROL = 0x0000_01A0 => "TPM2_ReadOnlyControl",
        POLICY_TRANSPORT_SPDM = 0x0000_01A1 => "TPM2_PolicyTransportSPDM",
        VENDOR_TCG_TEST = VENDOR_BIT => "TPM2_Vendor_TCG_Test",
    }
}

impl TpmCc {
    /// TPM_CC_FIRST: the lowest library command code.
    pub const FIRST: Self = Self::NV_UNDEFINE_SPACE_SPECIAL;
    /// TPM_CC_LAST: the highest library command code of the supported specification version.
    pub const LAST: Self = Self::POLICY_TRANSPORT_SPDM;
    /// TPM_CC_MAC: the same code as [`TpmCc::HMAC`] (TPM2_MAC is TPM2_HMAC for any MAC scheme).
    pub const MAC: Self = Self::HMAC;
    /// TPM_CC_MAC_Start: the same code as [`TpmCc::HMAC_START`].
    pub const MAC_START: Self = Self::HMAC_START;

    /// Whether this is a vendor-specific command code (TPM_CC_V set).
    pub const fn is_vendor(self) -> bool {
        self.0 & VENDOR_BIT != 0
    }

    /// The part 3 shape of this command, if it is a command of the library specification.
    pub fn info(self) -> Option<&'static CommandInfo> {
        COMMANDS
            .binary_search_by_key(&self, |c| c.code)
            .ok()
            .and_then(|i| COMMANDS.get(i))
    }
}

/// What part 3 says about the shape of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The command code.
    pub code: TpmCc,
    /// Number of handles in the command's handle area.
    pub handles: u8,
    /// Number of handles in the response's handle area (0 or 1).
    pub response_handles: u8,
    /// How many of the leading command handles need an authorization session (the handles
    /// part 3 marks with `@`). The authorization area must hold at least this many sessions, in
    /// handle order.
    pub auth_handles: u8,
    /// Whether the first command parameter is a TPM2B, so that a session may set `decrypt`.
    pub decrypt: bool,
    /// Whether the first response parameter is a TPM2B, so that a session may set `encrypt`.
    pub encrypt: bool,
    /// Whether part 3 requires the tag TPM_ST_NO_SESSIONS (TPM2_Startup and the context
    /// management commands, which take no sessions at all).
    pub no_sessions: bool,
}

/// Which of the first command / response parameters is a TPM2B.
#[derive(Clone, Copy)]
enum Crypt {
    /// Neither.
    No,
    /// Only the first command parameter.
    Dec,
    /// Only the first response parameter.
    Enc,
    /// Both.
    Both,
}
use Crypt::{Both, Dec, Enc, No};

/// One table row: handles, auth handles, response handles, parameter encryption.
const fn c(
    code: TpmCc,
    handles: u8,
    auth_handles: u8,
    response_handles: u8,
    crypt: Crypt,
) -> CommandInfo {
    CommandInfo {
        code,
        handles,
        response_handles,
        auth_handles,
        decrypt: matches!(crypt, Dec | Both),
        encrypt: matches!(crypt, Enc | Both),
        no_sessions: false,
    }
}

/// A row for a command that part 3 allows only with TPM_ST_NO_SESSIONS.
const fn bare(info: CommandInfo) -> CommandInfo {
    CommandInfo {
        no_sessions: true,
        ..info
    }
}

/// Every command of the specification, sorted by code. Columns: command, handles in the
/// command, `@` handles among them, handles in the response, which first parameters are TPM2Bs;
/// `bare` marks the commands that take no sessions.
pub static COMMANDS: &[CommandInfo] = &[
    c(TpmCc::NV_UNDEFINE_SPACE_SPECIAL, 2, 2, 0, No),
    c(TpmCc::EVICT_CONTROL, 2, 1, 0, No),
    c(TpmCc::HIERARCHY_CONTROL, 1, 1, 0, No),
    c(TpmCc::NV_UNDEFINE_SPACE, 2, 1, 0, No),
    c(TpmCc::CHANGE_EPS, 1, 1, 0, No),
    c(TpmCc::CHANGE_PPS, 1, 1, 0, No),
    c(TpmCc::CLEAR, 1, 1, 0, No),
    c(TpmCc::CLEAR_CONTROL, 1, 1, 0, No),
    c(TpmCc::CLOCK_SET, 1, 1, 0, No),
    c(TpmCc::HIERARCHY_CHANGE_AUTH, 1, 1, 0, Dec),
    c(TpmCc::NV_DEFINE_SPACE, 1, 1, 0, Dec),
    c(TpmCc::PCR_ALLOCATE, 1, 1, 0, No),
    c(TpmCc::PCR_SET_AUTH_POLICY, 1, 1, 0, Dec),
    c(TpmCc::PP_COMMANDS, 1, 1, 0, No),
    c(TpmCc::SET_PRIMARY_POLICY, 1, 1, 0, Dec),
    c(TpmCc::FIELD_UPGRADE_START, 2, 1, 0, Dec),
    c(TpmCc::CLOCK_RATE_ADJUST, 1, 1, 0, No),
    c(TpmCc::CREATE_PRIMARY, 1, 1, 1, Both),
    c(TpmCc::NV_GLOBAL_WRITE_LOCK, 1, 1, 0, No),
    c(TpmCc::GET_COMMAND_AUDIT_DIGEST, 2, 2, 0, Both),
    c(TpmCc::NV_INCREMENT, 2, 1, 0, No),
    c(TpmCc::NV_SET_BITS, 2, 1, 0, No),
    c(TpmCc::NV_EXTEND, 2, 1, 0, Dec),
    c(TpmCc::NV_WRITE, 2, 1, 0, Dec),
    c(TpmCc::NV_WRITE_LOCK, 2, 1, 0, No),
    c(TpmCc::DICTIONARY_ATTACK_LOCK_RESET, 1, 1, 0, No),
    c(TpmCc::DICTIONARY_ATTACK_PARAMETERS, 1, 1, 0, No),
    c(TpmCc::NV_CHANGE_AUTH, 1, 1, 0, Dec),
    c(TpmCc::PCR_EVENT, 1, 1, 0, Dec),
    c(TpmCc::PCR_RESET, 1, 1, 0, No),
    c(TpmCc::SEQUENCE_COMPLETE, 1, 1, 0, Both),
    c(TpmCc::SET_ALGORITHM_SET, 1, 1, 0, No),
    c(TpmCc::SET_COMMAND_CODE_AUDIT_STATUS, 1, 1, 0, No),
    c(TpmCc::FIELD_UPGRADE_DATA, 0, 0, 0, Dec),
    c(TpmCc::INCREMENTAL_SELF_TEST, 0, 0, 0, No),
    c(TpmCc::SELF_TEST, 0, 0, 0, No),
    bare(c(TpmCc::STARTUP, 0, 0, 0, No)),
    c(TpmCc::SHUTDOWN, 0, 0, 0, No),
    c(TpmCc::STIR_RANDOM, 0, 0, 0, Dec),
    c(TpmCc::ACTIVATE_CREDENTIAL, 2, 2, 0, Both),
    c(TpmCc::CERTIFY, 2, 2, 0, Both),
    c(TpmCc::POLICY_NV, 3, 1, 0, Dec),
    c(TpmCc::CERTIFY_CREATION, 2, 1, 0, Both),
    c(TpmCc::DUPLICATE, 2, 1, 0, Both),
    c(TpmCc::GET_TIME, 2, 2, 0, Both),
    c(TpmCc::GET_SESSION_AUDIT_DIGEST, 3, 2, 0, Both),
    c(TpmCc::NV_READ, 2, 1, 0, Enc),
    c(TpmCc::NV_READ_LOCK, 2, 1, 0, No),
    c(TpmCc::OBJECT_CHANGE_AUTH, 2, 1, 0, Both),
    c(TpmCc::POLICY_SECRET, 2, 1, 0, Both),
    c(TpmCc::REWRAP, 2, 1, 0, Both),
    c(TpmCc::CREATE, 1, 1, 0, Both),
    c(TpmCc::ECDH_ZGEN, 1, 1, 0, Both),
    c(TpmCc::HMAC, 1, 1, 0, Both),
    c(TpmCc::IMPORT, 1, 1, 0, Both),
    c(TpmCc::LOAD, 1, 1, 1, Both),
    c(TpmCc::QUOTE, 1, 1, 0, Both),
    c(TpmCc::RSA_DECRYPT, 1, 1, 0, Both),
    c(TpmCc::HMAC_START, 1, 1, 1, Dec),
    c(TpmCc::SEQUENCE_UPDATE, 1, 1, 0, Dec),
    c(TpmCc::SIGN, 1, 1, 0, Dec),
    c(TpmCc::UNSEAL, 1, 1, 0, Enc),
    c(TpmCc::POLICY_SIGNED, 2, 0, 0, Both),
    bare(c(TpmCc::CONTEXT_LOAD, 0, 0, 1, No)),
    bare(c(TpmCc::CONTEXT_SAVE, 1, 0, 0, No)),
    c(TpmCc::ECDH_KEY_GEN, 1, 0, 0, Enc),
    c(TpmCc::ENCRYPT_DECRYPT, 1, 1, 0, Enc),
    bare(c(TpmCc::FLUSH_CONTEXT, 0, 0, 0, No)),
    c(TpmCc::LOAD_EXTERNAL, 0, 0, 1, Both),
    c(TpmCc::MAKE_CREDENTIAL, 1, 0, 0, Both),
    c(TpmCc::NV_READ_PUBLIC, 1, 0, 0, Enc),
    c(TpmCc::POLICY_AUTHORIZE, 1, 0, 0, Dec),
    c(TpmCc::POLICY_AUTH_VALUE, 1, 0, 0, No),
    c(TpmCc::POLICY_COMMAND_CODE, 1, 0, 0, No),
    c(TpmCc::POLICY_COUNTER_TIMER, 1, 0, 0, Dec),
    c(TpmCc::POLICY_CP_HASH, 1, 0, 0, Dec),
    c(TpmCc::POLICY_LOCALITY, 1, 0, 0, No),
    c(TpmCc::POLICY_NAME_HASH, 1, 0, 0, Dec),
    c(TpmCc::POLICY_OR, 1, 0, 0, No),
    c(TpmCc::POLICY_TICKET, 1, 0, 0, Dec),
    c(TpmCc::READ_PUBLIC, 1, 0, 0, Enc),
    c(TpmCc::RSA_ENCRYPT, 1, 0, 0, Both),
    c(TpmCc::START_AUTH_SESSION, 2, 0, 1, Both),
    c(TpmCc::VERIFY_SIGNATURE, 1, 0, 0, Dec),
    c(TpmCc::ECC_PARAMETERS, 0, 0, 0, No),
    c(TpmCc::FIRMWARE_READ, 0, 0, 0, Enc),
    c(TpmCc::GET_CAPABILITY, 0, 0, 0, No),
    c(TpmCc::GET_RANDOM, 0, 0, 0, Enc),
    c(TpmCc::GET_TEST_RESULT, 0, 0, 0, Enc),
    c(TpmCc::HASH, 0, 0, 0, Both),
    c(TpmCc::PCR_READ, 0, 0, 0, No),
    c(TpmCc::POLICY_PCR, 1, 0, 0, Dec),
    c(TpmCc::POLICY_RESTART, 1, 0, 0, No),
    c(TpmCc::READ_CLOCK, 0, 0, 0, No),
    c(TpmCc::PCR_EXTEND, 1, 1, 0, No),
    c(TpmCc::PCR_SET_AUTH_VALUE, 1, 1, 0, Dec),
    c(TpmCc::NV_CERTIFY, 3, 2, 0, Both),
    c(TpmCc::EVENT_SEQUENCE_COMPLETE, 2, 2, 0, Dec),
    c(TpmCc::HASH_SEQUENCE_START, 0, 0, 1, Dec),
    c(TpmCc::POLICY_PHYSICAL_PRESENCE, 1, 0, 0, No),
    c(TpmCc::POLICY_DUPLICATION_SELECT, 1, 0, 0, Dec),
    c(TpmCc::POLICY_GET_DIGEST, 1, 0, 0, Enc),
    c(TpmCc::TEST_PARMS, 0, 0, 0, No),
    c(TpmCc::COMMIT, 1, 1, 0, Both),
    c(TpmCc::POLICY_PASSWORD, 1, 0, 0, No),
    c(TpmCc::ZGEN_2PHASE, 1, 1, 0, Both),
    c(TpmCc::EC_EPHEMERAL, 0, 0, 0, Enc),
    c(TpmCc::POLICY_NV_WRITTEN, 1, 0, 0, No),
    c(TpmCc::POLICY_TEMPLATE, 1, 0, 0, Dec),
    c(TpmCc::CREATE_LOADED, 1, 1, 1, Both),
    c(TpmCc::POLICY_AUTHORIZE_NV, 3, 1, 0, No),
    c(TpmCc::ENCRYPT_DECRYPT_2, 1, 1, 0, Both),
    c(TpmCc::AC_GET_CAPABILITY, 1, 0, 0, No),
    c(TpmCc::AC_SEND, 3, 2, 0, Dec),
    c(TpmCc::POLICY_AC_SEND_SELECT, 1, 0, 0, Dec),
    c(TpmCc::CERTIFY_X509, 2, 2, 0, Both),
    c(TpmCc::ACT_SET_TIMEOUT, 1, 1, 0, No),
    c(TpmCc::ECC_ENCRYPT, 1, 0, 0, Both),
    c(TpmCc::ECC_DECRYPT, 1, 1, 0, Both),
    c(TpmCc::POLICY_CAPABILITY, 1, 0, 0, Dec),
    c(TpmCc::POLICY_PARAMETERS, 1, 0, 0, Dec),
    c(TpmCc::NV_DEFINE_SPACE_2, 1, 1, 0, Dec),
    c(TpmCc::NV_READ_PUBLIC_2, 1, 0, 0, Enc),
    c(TpmCc::SET_CAPABILITY, 1, 1, 0, Dec),
    c(TpmCc::READ_ONLY_CONTROL, 1, 1, 0, No),
    c(TpmCc::POLICY_TRANSPORT_SPDM, 1, 0, 0, Dec),
    c(TpmCc::VENDOR_TCG_TEST, 0, 0, 0, Both),
];

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn table_is_strictly_sorted() {
        for pair in COMMANDS.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} must come before {}",
                pair[0].code,
                pair[1].code
            );
        }
    }

    #[test]
    fn every_code_has_a_shape_and_every_shape_a_code() {
        for &cc in TpmCc::ALL {
            assert_eq!(cc.info().map(|i| i.code), Some(cc), "{cc} has no shape");
        }
        for info in COMMANDS {
            assert!(TpmCc::ALL.contains(&info.code), "{:?}", info.code);
            assert!(info.code.name().is_some());
        }
        assert_eq!(TpmCc::ALL.len(), COMMANDS.len());
        // 126 library commands up to TPM_CC_LAST of version 1.84, plus TPM2_Vendor_TCG_Test.
        assert_eq!(COMMANDS.len(), 127);
    }

    #[test]
    fn shapes_are_consistent() {
        for info in COMMANDS {
            assert!(info.handles <= 3, "{}", info.code);
            assert!(info.auth_handles <= info.handles, "{}", info.code);
            assert!(info.response_handles <= 1, "{}", info.code);
            assert!(
                (TpmCc::FIRST..=TpmCc::LAST).contains(&info.code) || info.code.is_vendor(),
                "{}",
                info.code
            );
        }
    }

    #[test]
    fn part3_shapes() {
        let shape = |cc: TpmCc| {
            cc.info()
                .map(|i| {
                    (
                        i.handles,
                        i.auth_handles,
                        i.response_handles,
                        i.decrypt,
                        i.encrypt,
                    )
                })
                .unwrap_or_default()
        };
        // TPM2_Startup: no handles, the parameter is a TPM_SU.
        assert_eq!(shape(TpmCc::STARTUP), (0, 0, 0, false, false));
        // TPM2_PCR_Extend: @pcrHandle; digests is a TPML.
        assert_eq!(shape(TpmCc::PCR_EXTEND), (1, 1, 0, false, false));
        // TPM2_NV_Write: @authHandle, nvIndex; data is a TPM2B_MAX_NV_BUFFER.
        assert_eq!(shape(TpmCc::NV_WRITE), (2, 1, 0, true, false));
        // TPM2_NV_Read: @authHandle, nvIndex; size/offset in, TPM2B_MAX_NV_BUFFER out.
        assert_eq!(shape(TpmCc::NV_READ), (2, 1, 0, false, true));
        // TPM2_PolicySecret: @authHandle, policySession; nonceTPM in, timeout out.
        assert_eq!(shape(TpmCc::POLICY_SECRET), (2, 1, 0, true, true));
        // TPM2_NV_UndefineSpaceSpecial: @nvIndex (ADMIN role), @platform.
        assert_eq!(
            shape(TpmCc::NV_UNDEFINE_SPACE_SPECIAL),
            (2, 2, 0, false, false)
        );
        // TPM2_EvictControl: @auth, objectHandle.
        assert_eq!(shape(TpmCc::EVICT_CONTROL), (2, 1, 0, false, false));
        // TPM2_CreatePrimary returns objectHandle.
        assert_eq!(shape(TpmCc::CREATE_PRIMARY), (1, 1, 1, true, true));
        // TPM2_StartAuthSession: tpmKey, bind (no authorization); returns sessionHandle.
        assert_eq!(shape(TpmCc::START_AUTH_SESSION), (2, 0, 1, true, true));
        // TPM2_ContextLoad returns loadedHandle; TPM2_FlushContext carries its handle as a
        // parameter.
        assert_eq!(shape(TpmCc::CONTEXT_LOAD), (0, 0, 1, false, false));
        assert_eq!(shape(TpmCc::FLUSH_CONTEXT), (0, 0, 0, false, false));
        let bare: alloc::vec::Vec<TpmCc> = COMMANDS
            .iter()
            .filter(|i| i.no_sessions)
            .map(|i| i.code)
            .collect();
        assert_eq!(
            bare,
            [
                TpmCc::STARTUP,
                TpmCc::CONTEXT_LOAD,
                TpmCc::CONTEXT_SAVE,
                TpmCc::FLUSH_CONTEXT
            ]
        );
        // TPM2_NV_Certify: @signHandle, @authHandle, nvIndex.
        assert_eq!(shape(TpmCc::NV_CERTIFY), (3, 2, 0, true, true));
        // TPM2_PolicyNV: @authHandle, nvIndex, policySession.
        assert_eq!(shape(TpmCc::POLICY_NV), (3, 1, 0, true, false));
        // TPM2_HMAC_Start returns sequenceHandle.
        assert_eq!(shape(TpmCc::HMAC_START), (1, 1, 1, true, false));
    }

    #[test]
    fn names_and_vendor_bit() {
        assert_eq!(format!("{}", TpmCc::PCR_READ), "TPM2_PCR_Read");
        assert_eq!(format!("{}", TpmCc(0x11F)), "TPM2_NV_UndefineSpaceSpecial");
        assert_eq!(format!("{}", TpmCc(0x123)), "TPM_CC(0x123)");
        assert_eq!(TpmCc::MAC, TpmCc(0x155));
        assert_eq!(TpmCc::MAC_START, TpmCc(0x15B));
        assert_eq!(TpmCc::LAST, TpmCc(0x1A1));
        assert!(TpmCc::VENDOR_TCG_TEST.is_vendor());
        assert!(TpmCc(0x2000_0123).is_vendor());
        assert!(!TpmCc::GET_CAPABILITY.is_vendor());
        // Gaps in the code space are not commands.
        for code in [0x123, 0x15A, 0x15F, 0x166, 0x175, 0x1A2, 0x2000_0001] {
            assert!(TpmCc(code).info().is_none(), "{code:#x}");
        }
    }
}

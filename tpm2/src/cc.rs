//! TPM_CC command codes (part 2 §6.5.2) and the command table of part 3: for each command the
//! number of handles in the command's handle area and in the response's handle area.
//!
//! (Stub: to be completed with every command of the library specification.)

crate::open_enum! {
    /// TPM_CC (part 2 §6.5.2, table 12).
    pub struct TpmCc(u32, "TPM_CC") {
        SELF_TEST = 0x0000_0143 => "TPM2_SelfTest",
        STARTUP = 0x0000_0144 => "TPM2_Startup",
        SHUTDOWN = 0x0000_0145 => "TPM2_Shutdown",
        GET_CAPABILITY = 0x0000_017A => "TPM2_GetCapability",
        GET_RANDOM = 0x0000_017B => "TPM2_GetRandom",
        PCR_READ = 0x0000_017E => "TPM2_PCR_Read",
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
}

/// Every command this crate knows the shape of, sorted by code.
pub static COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        code: TpmCc::SELF_TEST,
        handles: 0,
        response_handles: 0,
    },
    CommandInfo {
        code: TpmCc::STARTUP,
        handles: 0,
        response_handles: 0,
    },
    CommandInfo {
        code: TpmCc::SHUTDOWN,
        handles: 0,
        response_handles: 0,
    },
    CommandInfo {
        code: TpmCc::GET_CAPABILITY,
        handles: 0,
        response_handles: 0,
    },
    CommandInfo {
        code: TpmCc::GET_RANDOM,
        handles: 0,
        response_handles: 0,
    },
    CommandInfo {
        code: TpmCc::PCR_READ,
        handles: 0,
        response_handles: 0,
    },
];

impl TpmCc {
    /// The part 3 shape of this command, if it is a command of the library specification.
    pub fn info(self) -> Option<&'static CommandInfo> {
        COMMANDS
            .binary_search_by_key(&self, |c| c.code)
            .ok()
            .map(|i| &COMMANDS[i])
    }
}

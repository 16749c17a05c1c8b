//! TPM_PT property tags for TPM_CAP_TPM_PROPERTIES (TCG TPM 2.0 Library part 2 §6.13, table 23)
//! and TPM_PT_PCR tags for TPM_CAP_PCR_PROPERTIES (part 2 §6.14, table 24).
//!
//! TPM_PT values come in groups of 256 (PT_GROUP): the PT_FIXED group holds properties that do
//! not change (implementation limits, manufacturer, firmware version), the PT_VAR group
//! properties that change with TPM state (TPMA_PERMANENT, free handle counts, dictionary-attack
//! parameters, audit counter).

/// PT_GROUP: the number of properties in each group.
pub const PT_GROUP: u32 = 0x100;
/// PT_FIXED: the first property of the group that does not change.
pub const PT_FIXED: u32 = PT_GROUP;
/// PT_VAR: the first property of the group that changes with TPM state.
pub const PT_VAR: u32 = PT_GROUP * 2;

crate::open_enum! {
    /// TPM_PT (part 2 §6.13).
    pub struct TpmPt(u32, "TPM_PT") {
        NONE = 0 => "TPM_PT_NONE",
        FAMILY_INDICATOR = PT_FIXED => "TPM_PT_FAMILY_INDICATOR",
        LEVEL = PT_FIXED + 1 => "TPM_PT_LEVEL",
        REVISION = PT_FIXED + 2 => "TPM_PT_REVISION",
        DAY_OF_YEAR = PT_FIXED + 3 => "TPM_PT_DAY_OF_YEAR",
        YEAR = PT_FIXED + 4 => "TPM_PT_YEAR",
        MANUFACTURER = PT_FIXED + 5 => "TPM_PT_MANUFACTURER",
        VENDOR_STRING_1 = PT_FIXED + 6 => "TPM_PT_VENDOR_STRING_1",
        VENDOR_STRING_2 = PT_FIXED + 7 => "TPM_PT_VENDOR_STRING_2",
        VENDOR_STRING_3 = PT_FIXED + 8 => "TPM_PT_VENDOR_STRING_3",
        VENDOR_STRING_4 = PT_FIXED + 9 => "TPM_PT_VENDOR_STRING_4",
        VENDOR_TPM_TYPE = PT_FIXED + 10 => "TPM_PT_VENDOR_TPM_TYPE",
        FIRMWARE_VERSION_1 = PT_FIXED + 11 => "TPM_PT_FIRMWARE_VERSION_1",
        FIRMWARE_VERSION_2 = PT_FIXED + 12 => "TPM_PT_FIRMWARE_VERSION_2",
        INPUT_BUFFER = PT_FIXED + 13 => "TPM_PT_INPUT_BUFFER",
        HR_TRANSIENT_MIN = PT_FIXED + 14 => "TPM_PT_HR_TRANSIENT_MIN",
        HR_PERSISTENT_MIN = PT_FIXED + 15 => "TPM_PT_HR_PERSISTENT_MIN",
        HR_LOADED_MIN = PT_FIXED + 16 => "TPM_PT_HR_LOADED_MIN",
        ACTIVE_SESSIONS_MAX = PT_FIXED + 17 => "TPM_PT_ACTIVE_SESSIONS_MAX",
        PCR_COUNT = PT_FIXED + 18 => "TPM_PT_PCR_COUNT",
        PCR_SELECT_MIN = PT_FIXED + 19 => "TPM_PT_PCR_SELECT_MIN",
        CONTEXT_GAP_MAX = PT_FIXED + 20 => "TPM_PT_CONTEXT_GAP_MAX",
        NV_COUNTERS_MAX = PT_FIXED + 22 => "TPM_PT_NV_COUNTERS_MAX",
        NV_INDEX_MAX = PT_FIXED + 23 => "TPM_PT_NV_INDEX_MAX",
        MEMORY = PT_FIXED + 24 => "TPM_PT_MEMORY",
        CLOCK_UPDATE = PT_FIXED + 25 => "TPM_PT_CLOCK_UPDATE",
        CONTEXT_HASH = PT_FIXED + 26 => "TPM_PT_CONTEXT_HASH",
        CONTEXT_SYM = PT_FIXED + 27 => "TPM_PT_CONTEXT_SYM",
        CONTEXT_SYM_SIZE = PT_FIXED + 28 => "TPM_PT_CONTEXT_SYM_SIZE",
        ORDERLY_COUNT = PT_FIXED + 29 => "TPM_PT_ORDERLY_COUNT",
        MAX_COMMAND_SIZE = PT_FIXED + 30 => "TPM_PT_MAX_COMMAND_SIZE",
        MAX_RESPONSE_SIZE = PT_FIXED + 31 => "TPM_PT_MAX_RESPONSE_SIZE",
        MAX_DIGEST = PT_FIXED + 32 => "TPM_PT_MAX_DIGEST",
        MAX_OBJECT_CONTEXT = PT_FIXED + 33 => "TPM_PT_MAX_OBJECT_CONTEXT",
        MAX_SESSION_CONTEXT = PT_FIXED + 34 => "TPM_PT_MAX_SESSION_CONTEXT",
        PS_FAMILY_INDICATOR = PT_FIXED + 35 => "TPM_PT_PS_FAMILY_INDICATOR",
        PS_LEVEL = PT_FIXED + 36 => "TPM_PT_PS_LEVEL",
        PS_REVISION = PT_FIXED + 37 => "TPM_PT_PS_REVISION",
        PS_DAY_OF_YEAR = PT_FIXED + 38 => "TPM_PT_PS_DAY_OF_YEAR",
        PS_YEAR = PT_FIXED + 39 => "TPM_PT_PS_YEAR",
        SPLIT_MAX = PT_FIXED + 40 => "TPM_PT_SPLIT_MAX",
        TOTAL_COMMANDS = PT_FIXED + 41 => "TPM_PT_TOTAL_COMMANDS",
        LIBRARY_COMMANDS = PT_FIXED + 42 => "TPM_PT_LIBRARY_COMMANDS",
        VENDOR_COMMANDS = PT_FIXED + 43 => "TPM_PT_VENDOR_COMMANDS",
        NV_BUFFER_MAX = PT_FIXED + 44 => "TPM_PT_NV_BUFFER_MAX",
        MODES = PT_FIXED + 45 => "TPM_PT_MODES",
        MAX_CAP_BUFFER = PT_FIXED + 46 => "TPM_PT_MAX_CAP_BUFFER",
        FIRMWARE_SVN = PT_FIXED + 47 => "TPM_PT_FIRMWARE_SVN",
        FIRMWARE_MAX_SVN = PT_FIXED + 48 => "TPM_PT_FIRMWARE_MAX_SVN",
        PERMANENT = PT_VAR => "TPM_PT_PERMANENT",
        STARTUP_CLEAR = PT_VAR + 1 => "TPM_PT_STARTUP_CLEAR",
        HR_NV_INDEX = PT_VAR + 2 => "TPM_PT_HR_NV_INDEX",
        HR_LOADED = PT_VAR + 3 => "TPM_PT_HR_LOADED",
        HR_LOADED_AVAIL = PT_VAR + 4 => "TPM_PT_HR_LOADED_AVAIL",
        HR_ACTIVE = PT_VAR + 5 => "TPM_PT_HR_ACTIVE",
        HR_ACTIVE_AVAIL = PT_VAR + 6 => "TPM_PT_HR_ACTIVE_AVAIL",
        HR_TRANSIENT_AVAIL = PT_VAR + 7 => "TPM_PT_HR_TRANSIENT_AVAIL",
        HR_PERSISTENT = PT_VAR + 8 => "TPM_PT_HR_PERSISTENT",
        HR_PERSISTENT_AVAIL = PT_VAR + 9 => "TPM_PT_HR_PERSISTENT_AVAIL",
        NV_COUNTERS = PT_VAR + 10 => "TPM_PT_NV_COUNTERS",
        NV_COUNTERS_AVAIL = PT_VAR + 11 => "TPM_PT_NV_COUNTERS_AVAIL",
        ALGORITHM_SET = PT_VAR + 12 => "TPM_PT_ALGORITHM_SET",
        LOADED_CURVES = PT_VAR + 13 => "TPM_PT_LOADED_CURVES",
        LOCKOUT_COUNTER = PT_VAR + 14 => "TPM_PT_LOCKOUT_COUNTER",
        MAX_AUTH_FAIL = PT_VAR + 15 => "TPM_PT_MAX_AUTH_FAIL",
        LOCKOUT_INTERVAL = PT_VAR + 16 => "TPM_PT_LOCKOUT_INTERVAL",
        LOCKOUT_RECOVERY = PT_VAR + 17 => "TPM_PT_LOCKOUT_RECOVERY",
        NV_WRITE_RECOVERY = PT_VAR + 18 => "TPM_PT_NV_WRITE_RECOVERY",
        AUDIT_COUNTER_0 = PT_VAR + 19 => "TPM_PT_AUDIT_COUNTER_0",
        AUDIT_COUNTER_1 = PT_VAR + 20 => "TPM_PT_AUDIT_COUNTER_1",
    }
}

impl TpmPt {
    /// Whether this property is in the PT_FIXED group.
    pub const fn is_fixed(self) -> bool {
        self.0 >= PT_FIXED && self.0 < PT_FIXED + PT_GROUP
    }

    /// Whether this property is in the PT_VAR group.
    pub const fn is_var(self) -> bool {
        self.0 >= PT_VAR && self.0 < PT_VAR + PT_GROUP
    }
}

crate::open_enum! {
    /// TPM_PT_PCR (part 2 §6.14): PCR properties reported through TPM_CAP_PCR_PROPERTIES.
    pub struct TpmPtPcr(u32, "TPM_PT_PCR") {
        SAVE = 0x00 => "TPM_PT_PCR_SAVE",
        EXTEND_L0 = 0x01 => "TPM_PT_PCR_EXTEND_L0",
        RESET_L0 = 0x02 => "TPM_PT_PCR_RESET_L0",
        EXTEND_L1 = 0x03 => "TPM_PT_PCR_EXTEND_L1",
        RESET_L1 = 0x04 => "TPM_PT_PCR_RESET_L1",
        EXTEND_L2 = 0x05 => "TPM_PT_PCR_EXTEND_L2",
        RESET_L2 = 0x06 => "TPM_PT_PCR_RESET_L2",
        EXTEND_L3 = 0x07 => "TPM_PT_PCR_EXTEND_L3",
        RESET_L3 = 0x08 => "TPM_PT_PCR_RESET_L3",
        EXTEND_L4 = 0x09 => "TPM_PT_PCR_EXTEND_L4",
        RESET_L4 = 0x0A => "TPM_PT_PCR_RESET_L4",
        NO_INCREMENT = 0x11 => "TPM_PT_PCR_NO_INCREMENT",
        DRTM_RESET = 0x12 => "TPM_PT_PCR_DRTM_RESET",
        POLICY = 0x13 => "TPM_PT_PCR_POLICY",
        AUTH = 0x14 => "TPM_PT_PCR_AUTH",
    }
}

impl TpmPtPcr {
    /// TPM_PT_PCR_FIRST: the lowest PCR property.
    pub const FIRST: Self = Self::SAVE;
    /// TPM_PT_PCR_LAST: the highest PCR property.
    pub const LAST: Self = Self::AUTH;

    /// TPM_PT_PCR_EXTEND_Ln: the property listing PCRs that locality `n` (0..=4) may extend.
    pub const fn extend_at(locality: u8) -> Option<Self> {
        if locality <= 4 {
            Some(Self(1 + 2 * locality as u32))
        } else {
            None
        }
    }

    /// TPM_PT_PCR_RESET_Ln: the property listing PCRs that locality `n` (0..=4) may reset.
    pub const fn reset_at(locality: u8) -> Option<Self> {
        if locality <= 4 {
            Some(Self(2 + 2 * locality as u32))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn property_values() {
        assert_eq!(TpmPt::MANUFACTURER, TpmPt(0x105));
        assert_eq!(TpmPt::INPUT_BUFFER, TpmPt(0x10D));
        assert_eq!(TpmPt::MAX_COMMAND_SIZE, TpmPt(0x11E));
        assert_eq!(TpmPt::NV_BUFFER_MAX, TpmPt(0x12C));
        assert_eq!(TpmPt::FIRMWARE_MAX_SVN, TpmPt(0x130));
        assert_eq!(TpmPt::PERMANENT, TpmPt(0x200));
        assert_eq!(TpmPt::LOCKOUT_COUNTER, TpmPt(0x20E));
        assert_eq!(TpmPt::AUDIT_COUNTER_1, TpmPt(0x214));
        // PT_FIXED + 21 is not assigned.
        assert_eq!(TpmPt(0x115).name(), None);
        assert_eq!(format!("{}", TpmPt::PCR_COUNT), "TPM_PT_PCR_COUNT");
        assert_eq!(format!("{}", TpmPt(0x115)), "TPM_PT(0x115)");
    }

    #[test]
    fn groups() {
        for &pt in TpmPt::ALL {
            if pt == TpmPt::NONE {
                continue;
            }
            assert!(pt.is_fixed() != pt.is_var(), "{pt}");
        }
        // Each group is declared in increasing order.
        for pair in TpmPt::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        assert!(TpmPt::YEAR.is_fixed() && TpmPt::HR_LOADED.is_var());
    }

    #[test]
    fn pcr_properties() {
        assert_eq!(TpmPtPcr::extend_at(0), Some(TpmPtPcr::EXTEND_L0));
        assert_eq!(TpmPtPcr::reset_at(4), Some(TpmPtPcr::RESET_L4));
        assert_eq!(TpmPtPcr::extend_at(3), Some(TpmPtPcr::EXTEND_L3));
        assert_eq!(TpmPtPcr::reset_at(5), None);
        assert_eq!(TpmPtPcr::LAST, TpmPtPcr(0x14));
        assert_eq!(format!("{}", TpmPtPcr::DRTM_RESET), "TPM_PT_PCR_DRTM_RESET");
    }
}

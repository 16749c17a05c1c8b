//! TPM_PT property tags for TPM_CAP_TPM_PROPERTIES and TPM_PT_PCR tags for
//! TPM_CAP_PCR_PROPERTIES (part 2 §6.13, §6.14).
//!
//! (Stub: to be completed.)

crate::open_enum! {
    /// TPM_PT (part 2 §6.13).
    pub struct TpmPt(u32, "TPM_PT") {
        FAMILY_INDICATOR = 0x100 => "TPM_PT_FAMILY_INDICATOR",
        MANUFACTURER = 0x105 => "TPM_PT_MANUFACTURER",
    }
}

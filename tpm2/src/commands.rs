//! Typed parameter areas of commands and responses (TCG TPM 2.0 Library part 3), for the
//! commands a platform issues at boot and a client uses to discover a TPM: Startup, Shutdown,
//! SelfTest, IncrementalSelfTest, GetTestResult, GetCapability, GetRandom, StirRandom, PCR_Read.
//!
//! Each type holds only the *parameter* area; handles and sessions are in
//! [`crate::command::Command`] / [`crate::response::Response`]. Every type is matched with its
//! command code through [`CommandParams`] / [`ResponseParams`].

use alloc::vec::Vec;

use crate::cap::TpmCap;
use crate::cc::TpmCc;
use crate::rc::TpmRc;
use crate::st::TpmSu;
use crate::structures::{
    Tpm2bDigest, Tpm2bMaxBuffer, Tpm2bSensitiveData, TpmlAlg, TpmlDigest, TpmlPcrSelection,
    TpmsCapabilityData,
};
use crate::{Error, Marshal, Reader, Unmarshal, wire_struct};

/// A command parameter area and the command it belongs to.
pub trait CommandParams: Marshal + Unmarshal {
    /// The command code.
    const CODE: TpmCc;
}

/// A response parameter area and the command it answers.
pub trait ResponseParams: Marshal + Unmarshal {
    /// The command code.
    const CODE: TpmCc;
}

/// TPM_SU as a command parameter: only TPM_SU_CLEAR and TPM_SU_STATE are valid (part 2 §6.5).
fn read_su(r: &mut Reader<'_>) -> Result<TpmSu, Error> {
    let su = TpmSu::unmarshal(r)?;
    if su == TpmSu::CLEAR || su == TpmSu::STATE {
        Ok(su)
    } else {
        Err(Error::BadValue {
            what: "TPM_SU",
            value: u32::from(su.0),
        })
    }
}

macro_rules! su_params {
    ($(#[$meta:meta])* $name:ident, $field:ident, $code:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            /// TPM_SU_CLEAR or TPM_SU_STATE.
            pub $field: TpmSu,
        }
        impl Marshal for $name {
            fn marshal(&self, out: &mut Vec<u8>) {
                self.$field.marshal(out);
            }
        }
        impl Unmarshal for $name {
            fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
                Ok(Self { $field: read_su(r)? })
            }
        }
        impl CommandParams for $name {
            const CODE: TpmCc = $code;
        }
    };
}

su_params!(
    /// TPM2_Startup command parameters (part 3 §9.3).
    StartupCommand, startup_type, TpmCc::STARTUP
);
su_params!(
    /// TPM2_Shutdown command parameters (part 3 §9.4).
    ShutdownCommand, shutdown_type, TpmCc::SHUTDOWN
);

wire_struct! {
    /// TPM2_SelfTest command parameters (part 3 §10.2).
    pub struct SelfTestCommand("TPM2_SelfTest") {
        /// YES: test everything; NO: test only what has not been tested.
        pub full_test: bool,
    }
}
impl CommandParams for SelfTestCommand {
    const CODE: TpmCc = TpmCc::SELF_TEST;
}

wire_struct! {
    /// TPM2_IncrementalSelfTest command parameters (part 3 §10.3).
    pub struct IncrementalSelfTestCommand("TPM2_IncrementalSelfTest") {
        /// Algorithms to test.
        pub to_test: TpmlAlg,
    }
}
impl CommandParams for IncrementalSelfTestCommand {
    const CODE: TpmCc = TpmCc::INCREMENTAL_SELF_TEST;
}

wire_struct! {
    /// TPM2_IncrementalSelfTest response parameters (part 3 §10.3).
    pub struct IncrementalSelfTestResponse("TPM2_IncrementalSelfTest response") {
        /// Algorithms still to be tested.
        pub to_do_list: TpmlAlg,
    }
}
impl ResponseParams for IncrementalSelfTestResponse {
    const CODE: TpmCc = TpmCc::INCREMENTAL_SELF_TEST;
}

wire_struct! {
    /// TPM2_GetTestResult response parameters (part 3 §10.4).
    pub struct GetTestResultResponse("TPM2_GetTestResult response") {
        /// Vendor-specific test information.
        pub out_data: Tpm2bMaxBuffer,
        /// The result of the self tests.
        pub test_result: TpmRc,
    }
}
impl ResponseParams for GetTestResultResponse {
    const CODE: TpmCc = TpmCc::GET_TEST_RESULT;
}

wire_struct! {
    /// TPM2_GetCapability command parameters (part 3 §30.2).
    pub struct GetCapabilityCommand("TPM2_GetCapability") {
        /// Which group of values.
        pub capability: TpmCap,
        /// The first value to return (a property tag, handle, command code or algorithm).
        pub property: u32,
        /// How many values to return at most.
        pub property_count: u32,
    }
}
impl CommandParams for GetCapabilityCommand {
    const CODE: TpmCc = TpmCc::GET_CAPABILITY;
}

wire_struct! {
    /// TPM2_GetCapability response parameters (part 3 §30.2).
    pub struct GetCapabilityResponse("TPM2_GetCapability response") {
        /// Whether more values of this capability exist past those returned.
        pub more_data: bool,
        /// The values.
        pub capability_data: TpmsCapabilityData,
    }
}
impl ResponseParams for GetCapabilityResponse {
    const CODE: TpmCc = TpmCc::GET_CAPABILITY;
}

wire_struct! {
    /// TPM2_GetRandom command parameters (part 3 §16.1).
    pub struct GetRandomCommand("TPM2_GetRandom") {
        /// Number of octets wanted (the TPM may return fewer, at most one digest's worth).
        pub bytes_requested: u16,
    }
}
impl CommandParams for GetRandomCommand {
    const CODE: TpmCc = TpmCc::GET_RANDOM;
}

wire_struct! {
    /// TPM2_GetRandom response parameters (part 3 §16.1).
    pub struct GetRandomResponse("TPM2_GetRandom response") {
        /// The random octets.
        pub random_bytes: Tpm2bDigest,
    }
}
impl ResponseParams for GetRandomResponse {
    const CODE: TpmCc = TpmCc::GET_RANDOM;
}

wire_struct! {
    /// TPM2_StirRandom command parameters (part 3 §16.2).
    pub struct StirRandomCommand("TPM2_StirRandom") {
        /// Additional entropy.
        pub in_data: Tpm2bSensitiveData,
    }
}
impl CommandParams for StirRandomCommand {
    const CODE: TpmCc = TpmCc::STIR_RANDOM;
}

wire_struct! {
    /// TPM2_PCR_Read command parameters (part 3 §22.4).
    pub struct PcrReadCommand("TPM2_PCR_Read") {
        /// The banks and PCRs to read.
        pub pcr_selection_in: TpmlPcrSelection,
    }
}
impl CommandParams for PcrReadCommand {
    const CODE: TpmCc = TpmCc::PCR_READ;
}

wire_struct! {
    /// TPM2_PCR_Read response parameters (part 3 §22.4).
    pub struct PcrReadResponse("TPM2_PCR_Read response") {
        /// The PCR update counter.
        pub pcr_update_counter: u32,
        /// The PCRs whose values are returned (may be fewer than requested).
        pub pcr_selection_out: TpmlPcrSelection,
        /// The PCR values, in selection order.
        pub pcr_values: TpmlDigest,
    }
}
impl ResponseParams for PcrReadResponse {
    const CODE: TpmCc = TpmCc::PCR_READ;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_type_is_checked() {
        assert_eq!(
            StartupCommand::from_bytes(&[0, 1]),
            Ok(StartupCommand {
                startup_type: TpmSu::STATE
            })
        );
        assert_eq!(
            StartupCommand::from_bytes(&[0, 2]),
            Err(Error::BadValue {
                what: "TPM_SU",
                value: 2
            })
        );
        assert!(ShutdownCommand::from_bytes(&[0, 0, 0]).is_err());
    }

    #[test]
    fn get_capability_golden() {
        // tpm2-tools' first command of `tpm2 getcap properties-fixed` (corpus, test "getcap"):
        // GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_FIXED, TPM_MAX_TPM_PROPERTIES).
        let params = [0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 0, 0x7f];
        let c = GetCapabilityCommand::from_bytes(&params).unwrap();
        assert_eq!(c.capability, TpmCap::TPM_PROPERTIES);
        assert_eq!((c.property, c.property_count), (0x100, 0x7f));
        assert_eq!(c.to_bytes(), params);
    }

    #[test]
    fn self_test_rejects_non_boolean() {
        assert_eq!(
            SelfTestCommand::from_bytes(&[1]),
            Ok(SelfTestCommand { full_test: true })
        );
        assert!(SelfTestCommand::from_bytes(&[2]).is_err());
    }
}

//! TPM_RC response codes (part 2 §6.6): format-zero and format-one decoding with readable names.
//!
//! (Stub: to be completed.)

use core::fmt;

/// A TPM response code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TpmRc(pub u32);

impl TpmRc {
    /// TPM_RC_SUCCESS.
    pub const SUCCESS: Self = Self(0);
    /// TPM_RC_INITIALIZE: TPM not initialized by TPM2_Startup or already initialized.
    pub const INITIALIZE: Self = Self(0x100);

    /// Whether this is TPM_RC_SUCCESS.
    pub const fn is_success(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for TpmRc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TpmRc({:#x})", self.0)
    }
}

//! The monotonic counter of the store: a TPM_NT_COUNTER NV index (part 1 §37.2.3: an 8-byte
//! value that only TPM2_NV_Increment changes and that never decreases, even if the index is
//! deleted and defined again), read with TPM2_NV_Read (part 3 §31.13) and advanced with
//! TPM2_NV_Increment (§31.8), both authorized by the index's authValue.
//!
//! Before handing the counter out, its Name (TPM2_NV_ReadPublic, §31.6) is compared with the
//! binding's: an index deleted and recreated by someone holding owner authorization has the
//! same handle but, unless the same attributes and authValue digest were used, a different
//! Name, and a recreated counter could start lower than the store's generation.

use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::Tpm2bMaxNvBuffer;
use tpm2::transport::Transport;
use zeroize::Zeroizing;

use super::HwTpm;
use super::binding::Binding;
use super::error::{AuthEntity, HwError, auth_context};
use super::wire::password;
use crate::seams::MonotonicCounter;

/// The NV counter of a binding, borrowed from the [`HwTpm`] session.
pub struct NvCounter<'a, T> {
    tpm: &'a mut HwTpm<T>,
    index: TpmHandle,
    auth: Zeroizing<[u8; 32]>,
}

impl<T> core::fmt::Debug for NvCounter<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NvCounter")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> HwTpm<T> {
    /// The counter of `binding`, authorized by `nv_auth`, after checking that the index still is
    /// the one provisioned (its Name).
    pub fn counter(
        &mut self,
        binding: &[u8],
        nv_auth: &[u8; 32],
    ) -> Result<NvCounter<'_, T>, HwError> {
        let b = Binding::parse(binding)?;
        let index = TpmHandle(b.nv_index);
        let replaced = HwError::CounterReplaced { index: b.nv_index };
        let name = match self.nv_read_public(index) {
            Ok((_, name)) => name,
            Err(HwError::Tpm { rc, .. }) if rc.base() == TpmRc::HANDLE => return Err(replaced),
            Err(e) => return Err(e),
        };
        if name.as_slice() != b.nv_name.as_slice() {
            return Err(replaced);
        }
        Ok(NvCounter {
            tpm: self,
            index,
            auth: Zeroizing::new(*nv_auth),
        })
    }
}

impl<T: Transport> NvCounter<'_, T> {
    /// The NV index.
    pub fn index(&self) -> u32 {
        self.index.0
    }
}

impl<T: Transport> MonotonicCounter for NvCounter<'_, T> {
    type Error = HwError;

    /// TPM2_NV_Read of the 8-byte big-endian value.
    fn read(&mut self) -> Result<u64, HwError> {
        let mut params = [0u8; 4];
        params[..2].copy_from_slice(&8u16.to_be_bytes());
        let a = self
            .tpm
            .wire
            .exec(
                TpmCc::NV_READ,
                &[self.index, self.index],
                &[password(self.auth.as_slice())?],
                &params,
            )
            .map_err(|e| auth_context(e, AuthEntity::NvCounter, 1))?;
        let mut r = a.reader(TpmCc::NV_READ);
        let data: Tpm2bMaxNvBuffer = r.read()?;
        r.finish()?;
        let value: [u8; 8] = data.as_bytes().try_into().map_err(|_| {
            HwError::Unexpected("TPM2_NV_Read of the counter did not return 8 bytes")
        })?;
        Ok(u64::from_be_bytes(value))
    }

    /// TPM2_NV_Increment, then the new value.
    fn increment(&mut self) -> Result<u64, HwError> {
        let auth = self.auth.clone();
        self.tpm.nv_increment(self.index, auth.as_slice())?;
        self.read()
    }
}

//! TPM_HANDLE (part 2 §7): handle types (TPM_HT), the ranges of each type, and the permanent
//! handles (TPM_RH, TPM_RS_PW).

use core::fmt;

use crate::{Error, Marshal, Reader, Unmarshal};

crate::open_enum! {
    /// TPM_HT: the most significant octet of a handle (part 2 §7.2).
    pub struct TpmHt(u8, "TPM_HT") {
        PCR = 0x00 => "TPM_HT_PCR",
        NV_INDEX = 0x01 => "TPM_HT_NV_INDEX",
        HMAC_SESSION = 0x02 => "TPM_HT_HMAC_SESSION",
        POLICY_SESSION = 0x03 => "TPM_HT_POLICY_SESSION",
        PERMANENT = 0x40 => "TPM_HT_PERMANENT",
        TRANSIENT = 0x80 => "TPM_HT_TRANSIENT",
        PERSISTENT = 0x81 => "TPM_HT_PERSISTENT",
        AC = 0x90 => "TPM_HT_AC",
    }
}

/// A TPM handle (TPM_HANDLE, part 2 §7.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TpmHandle(pub u32);

impl TpmHandle {
    /// TPM_RH_OWNER: the storage hierarchy.
    pub const OWNER: Self = Self(0x4000_0001);
    /// TPM_RH_NULL: the null hierarchy / "no handle".
    pub const NULL: Self = Self(0x4000_0007);
    /// TPM_RH_UNASSIGNED.
    pub const UNASSIGNED: Self = Self(0x4000_0008);
    /// TPM_RS_PW: the password authorization session.
    pub const PASSWORD: Self = Self(0x4000_0009);
    /// TPM_RH_LOCKOUT: the dictionary-attack lockout authority.
    pub const LOCKOUT: Self = Self(0x4000_000A);
    /// TPM_RH_ENDORSEMENT: the endorsement hierarchy.
    pub const ENDORSEMENT: Self = Self(0x4000_000B);
    /// TPM_RH_PLATFORM: the platform hierarchy.
    pub const PLATFORM: Self = Self(0x4000_000C);
    /// TPM_RH_PLATFORM_NV: platform NV enable.
    pub const PLATFORM_NV: Self = Self(0x4000_000D);

    /// First PCR handle (TPM_HR_PCR).
    pub const PCR_FIRST: Self = Self(0x0000_0000);
    /// First NV index handle (TPM_HR_NV_INDEX).
    pub const NV_INDEX_FIRST: Self = Self(0x0100_0000);
    /// First HMAC session handle (TPM_HR_HMAC_SESSION).
    pub const HMAC_SESSION_FIRST: Self = Self(0x0200_0000);
    /// First policy session handle (TPM_HR_POLICY_SESSION).
    pub const POLICY_SESSION_FIRST: Self = Self(0x0300_0000);
    /// First permanent handle (TPM_HR_PERMANENT).
    pub const PERMANENT_FIRST: Self = Self(0x4000_0000);
    /// First transient object handle (TPM_HR_TRANSIENT).
    pub const TRANSIENT_FIRST: Self = Self(0x8000_0000);
    /// First persistent object handle (TPM_HR_PERSISTENT).
    pub const PERSISTENT_FIRST: Self = Self(0x8100_0000);

    /// The handle type: the most significant octet.
    pub const fn ty(self) -> TpmHt {
        TpmHt(self.0.to_be_bytes()[0])
    }

    /// The name of a permanent handle, if this is one the specification defines.
    pub const fn permanent_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x4000_0000 => "TPM_RH_SRK",
            0x4000_0001 => "TPM_RH_OWNER",
            0x4000_0002 => "TPM_RH_REVOKE",
            0x4000_0003 => "TPM_RH_TRANSPORT",
            0x4000_0004 => "TPM_RH_OPERATOR",
            0x4000_0005 => "TPM_RH_ADMIN",
            0x4000_0006 => "TPM_RH_EK",
            0x4000_0007 => "TPM_RH_NULL",
            0x4000_0008 => "TPM_RH_UNASSIGNED",
            0x4000_0009 => "TPM_RS_PW",
            0x4000_000A => "TPM_RH_LOCKOUT",
            0x4000_000B => "TPM_RH_ENDORSEMENT",
            0x4000_000C => "TPM_RH_PLATFORM",
            0x4000_000D => "TPM_RH_PLATFORM_NV",
            0x4000_0010 => "TPM_RH_AUTH_00",
            0x4000_010F => "TPM_RH_AUTH_FF",
            _ => return None,
        })
    }
}

impl fmt::Debug for TpmHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for TpmHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.permanent_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#010x}", self.0),
        }
    }
}

impl From<u32> for TpmHandle {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

impl Marshal for TpmHandle {
    fn marshal(&self, out: &mut alloc::vec::Vec<u8>) {
        self.0.marshal(out);
    }
}

impl Unmarshal for TpmHandle {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self(r.u32("TPM_HANDLE")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_names() {
        assert_eq!(TpmHandle(0x8100_0001).ty(), TpmHt::PERSISTENT);
        assert_eq!(TpmHandle(0x0300_0000).ty(), TpmHt::POLICY_SESSION);
        assert_eq!(alloc::format!("{}", TpmHandle::PASSWORD), "TPM_RS_PW");
        assert_eq!(alloc::format!("{}", TpmHandle(0x8000_0001)), "0x80000001");
    }
}

//! Saved contexts (TCG TPM 2.0 Library part 2 §14: §14.3 TPMS_CONTEXT_DATA, §14.5
//! TPMS_CONTEXT): what TPM2_ContextSave returns and TPM2_ContextLoad takes back.

use alloc::vec::Vec;

use crate::handle::{TpmHandle, TpmHt};
use crate::structures::object::check_hierarchy_allow_null;
use crate::structures::{Tpm2bContextData, Tpm2bDigest};
use crate::{Error, Marshal, Reader, Unmarshal};

/// The `savedHandle` of a saved transient object (part 2 §14.5).
pub const SAVED_OBJECT: TpmHandle = TpmHandle(0x8000_0000);
/// The `savedHandle` of a saved sequence object.
pub const SAVED_SEQUENCE: TpmHandle = TpmHandle(0x8000_0001);
/// The `savedHandle` of a saved transient object with `stClear` SET.
pub const SAVED_OBJECT_ST_CLEAR: TpmHandle = TpmHandle(0x8000_0002);

/// Checks a TPMI_DH_SAVED (part 2 §9.8): a session handle (HMAC or policy), or one of the
/// three transient placeholders of a saved object. The upper end of the session ranges
/// (HMAC_SESSION_LAST, POLICY_SESSION_LAST) is implementation-dependent; whether a given
/// session exists is for the engine to decide, so any handle of the two session types is
/// accepted here.
pub fn check_saved_handle(h: TpmHandle) -> Result<TpmHandle, Error> {
    match h.ty() {
        TpmHt::HMAC_SESSION | TpmHt::POLICY_SESSION => Ok(h),
        _ if h == SAVED_OBJECT || h == SAVED_SEQUENCE || h == SAVED_OBJECT_ST_CLEAR => Ok(h),
        _ => Err(Error::BadValue {
            what: "TPMI_DH_SAVED",
            value: h.0,
        }),
    }
}

/// TPMS_CONTEXT (part 2 §14.5): a saved session or object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsContext {
    /// sequence: the TPM's context counter when the context was saved.
    pub sequence: u64,
    /// savedHandle (TPMI_DH_SAVED): the session handle, or a placeholder for an object.
    pub saved_handle: TpmHandle,
    /// hierarchy (TPMI_RH_HIERARCHY+): the hierarchy of a saved object, TPM_RH_NULL for a
    /// session.
    pub hierarchy: TpmHandle,
    /// contextBlob: the integrity-protected, encrypted context (see [`TpmsContextData`]).
    pub context_blob: Tpm2bContextData,
}

impl Marshal for TpmsContext {
    fn marshal(&self, out: &mut Vec<u8>) {
        self.sequence.marshal(out);
        self.saved_handle.marshal(out);
        self.hierarchy.marshal(out);
        self.context_blob.marshal(out);
    }
}

impl Unmarshal for TpmsContext {
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            sequence: r.u64("TPMS_CONTEXT")?,
            saved_handle: check_saved_handle(TpmHandle::unmarshal(r)?)?,
            hierarchy: check_hierarchy_allow_null(TpmHandle::unmarshal(r)?)?,
            context_blob: Tpm2bContextData::unmarshal(r)?,
        })
    }
}

/// TPMS_CONTEXT_DATA (part 2 §14.3): the layout of a context blob, an integrity HMAC followed
/// by the encrypted context.
///
/// Part 2 types `encrypted` as a TPM2B_CONTEXT_SENSITIVE, but the blob is produced and
/// consumed only by the TPM that saved it, and the reference implementation (and libtpms)
/// writes the encrypted bytes without a size of their own: everything after the integrity
/// value. This type follows that layout: [`TpmsContextData::encrypted`] is the rest of the
/// blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsContextData {
    /// integrity: the HMAC over the encrypted context and its metadata.
    pub integrity: Tpm2bDigest,
    /// encrypted: the encrypted context, to the end of the blob.
    pub encrypted: Vec<u8>,
}

impl TpmsContextData {
    /// Splits a context blob into the integrity value and the rest.
    pub fn from_blob(blob: &Tpm2bContextData) -> Result<Self, Error> {
        let mut r = Reader::new(blob.as_bytes());
        let integrity = Tpm2bDigest::unmarshal(&mut r)?;
        Ok(Self {
            integrity,
            encrypted: r.take_rest().to_vec(),
        })
    }

    /// Joins the integrity value and the encrypted context into a blob.
    pub fn to_blob(&self) -> Result<Tpm2bContextData, Error> {
        let mut out = self.integrity.to_bytes();
        out.extend_from_slice(&self.encrypted);
        Tpm2bContextData::new(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// TPM2_ContextSave response parameters, corpus test "nv" seq 136: a policy session.
    const CONTEXT_SAVE_POLICY_SESSION: &str = concat!(
        "000000000000001e030000004000000701820040823498a3ec383cac4f6cfa19b68a91926ea4b5d685c382be",
        "3c2613ba6f86c6d5da9adf446de576b85a071b0f1c8728a55323b9fa102a89c8387846c95bdcf4da512575a7",
        "1ff3a9077f98a694a8ab70947de585ceef4ebdf5ac66e48ba18c7cd92364d00cabd396aba80c2232d1540f43",
        "5cc55f15f22ac186bda79a1ddc4cdac444c0029e546198f37b65f75ccea618607bc1ad156f059e098d0490c8",
        "4529ca30e7a6df2d2376d1746f839af3e6b49faefdf675be42d642ea3ffc5a1097bf54524ec8652221110a3b",
        "54ae6810e03e041cd1b84832b627339e8766120a59dd703cde16b95f46788c81566ec450b6d84bc142504229",
        "f26447dfe2f073e450e55821595d7fb13d77d9ff01f5c9892fb6eaf9e1659401ade179b5473a3e8db9f985df",
        "45767db0266c919d984261a2e7f080f0a2d0c84ebc13b96e7796e012a5a1f7738e8a8fa1230c344217568aa9",
        "a3bd5e41292d84447921ba841ceb68434bb996d8931b923abca3a5304a939322e1e178aa65f35a5b9b5a0901",
        "087e093f29fb8dd6",
    );

    #[test]
    fn policy_session_context_from_the_corpus() {
        let bytes = hex(CONTEXT_SAVE_POLICY_SESSION);
        let ctx = TpmsContext::from_bytes(&bytes).unwrap();
        assert_eq!(ctx.sequence, 0x1e);
        assert_eq!(ctx.saved_handle, TpmHandle(0x0300_0000));
        assert_eq!(ctx.hierarchy, TpmHandle::NULL);
        assert_eq!(ctx.context_blob.len(), 0x182);
        assert_eq!(ctx.to_bytes(), bytes);

        // libtpms' blob: a 64-byte integrity HMAC, then the encrypted rest.
        let data = TpmsContextData::from_blob(&ctx.context_blob).unwrap();
        assert_eq!(data.integrity.len(), 64);
        assert_eq!(data.encrypted.len(), 0x182 - 66);
        assert_eq!(data.to_blob(), Ok(ctx.context_blob.clone()));
    }

    #[test]
    fn saved_handles_and_hierarchies() {
        let mut bytes = hex("00000000000000018000000240000001000400112233");
        let ctx = TpmsContext::from_bytes(&bytes).unwrap();
        assert_eq!(ctx.saved_handle, SAVED_OBJECT_ST_CLEAR);
        assert_eq!(ctx.hierarchy, TpmHandle::OWNER);
        // 0x80000003 is no saved-object placeholder; a persistent handle is not either.
        bytes[11] = 3;
        assert_eq!(
            TpmsContext::from_bytes(&bytes),
            Err(Error::BadValue {
                what: "TPMI_DH_SAVED",
                value: 0x8000_0003
            })
        );
        bytes[8..12].copy_from_slice(&[0x81, 0, 0, 1]);
        assert!(TpmsContext::from_bytes(&bytes).is_err());
        bytes[8..12].copy_from_slice(&[0x02, 0, 0, 5]);
        assert!(TpmsContext::from_bytes(&bytes).is_ok());
        // TPM_RH_LOCKOUT is no hierarchy.
        bytes[12..16].copy_from_slice(&[0x40, 0, 0, 0x0a]);
        assert_eq!(
            TpmsContext::from_bytes(&bytes),
            Err(Error::BadValue {
                what: "TPMI_RH_HIERARCHY",
                value: 0x4000_000a
            })
        );
        // Blob larger than the input; blob larger than MAX_CONTEXT_SIZE.
        assert!(matches!(
            TpmsContext::from_bytes(&hex("00000000000000010200000040000007ffff00")),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            TpmsContext::from_bytes(&hex("00000000000000010200000040000007001000")),
            Err(Error::Truncated { .. })
        ));
        // A blob too short for its integrity value.
        let short = Tpm2bContextData::new(&[0, 32, 1]).unwrap();
        assert!(matches!(
            TpmsContextData::from_blob(&short),
            Err(Error::Truncated { .. })
        ));
    }
}

//! From a wire-format error to the response code part 2 assigns to the failed unmarshalling
//! (part 2 §4 "interface types": each TPMI type names the code its unmarshalling returns;
//! part 3 §5.6: TPM_RC_INSUFFICIENT for a short buffer, TPM_RC_SIZE for a bad size field).

use tpm2::Error;
use tpm2::rc::TpmRc;

/// The base response code (no parameter number yet) for a failed unmarshalling.
pub(crate) fn wire_rc(e: &Error) -> TpmRc {
    match *e {
        Error::Truncated { .. } => TpmRc::INSUFFICIENT,
        Error::TrailingBytes { .. }
        | Error::TooLarge { .. }
        | Error::TooSmall { .. }
        | Error::SizeMismatch { .. } => TpmRc::SIZE,
        Error::ReservedBits { .. } => TpmRc::RESERVED_BITS,
        Error::BadSelector { what, .. } | Error::BadValue { what, .. } => by_type(what),
    }
}

/// The code of an interface type's unmarshalling failure, by TCG type name.
fn by_type(what: &str) -> TpmRc {
    // A structure tag part 2 does not define (TPM_ST's own unmarshalling).
    if what == "TPM_ST" {
        return TpmRc::VALUE;
    }
    // A ticket's structure tag (TPMT_TK_*: TPMI_ST_* tags) fails with TPM_RC_TAG.
    if what.starts_with("TPMT_TK") {
        return TpmRc::TAG;
    }
    // Part 2 gives these TPM_RC_VALUE, and libtpms returns it (checked with swtpm by
    // tests/objects_vs_swtpm.rs): TPMI_ALG_KEYEDHASH_SCHEME, TPMI_ALG_RSA_SCHEME and the key
    // sizes (TPMI_RSA_KEY_BITS, TPMI_AES_KEY_BITS, ...).
    if matches!(what, "TPMT_KEYEDHASH_SCHEME" | "TPMT_RSA_SCHEME") || what.contains("KEY_BITS") {
        return TpmRc::VALUE;
    }
    if what.contains("HASH") || what == "TPMT_HA" || what == "TPMS_PCR_SELECT" {
        if what == "TPMS_PCR_SELECT" {
            return TpmRc::VALUE;
        }
        return TpmRc::HASH;
    }
    if what.contains("KDF") {
        return TpmRc::KDF;
    }
    if what.contains("CURVE") {
        return TpmRc::CURVE;
    }
    if what.contains("SYM_MODE") {
        return TpmRc::MODE;
    }
    if what.contains("SYM") {
        return TpmRc::SYMMETRIC;
    }
    if what.contains("SCHEME") || what.contains("SIGNATURE") {
        return TpmRc::SCHEME;
    }
    // TPMI_ALG_PUBLIC, also as the sensitiveType of TPMT_SENSITIVE.
    if what.contains("PUBLIC") || what == "TPMT_SENSITIVE" {
        return TpmRc::TYPE;
    }
    if what.contains("TPM_ST") || what.contains("tag") {
        return TpmRc::TAG;
    }
    TpmRc::VALUE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_failures() {
        let e = Error::BadValue {
            what: "TPMI_ALG_HASH",
            value: 0x10,
        };
        assert_eq!(wire_rc(&e), TpmRc::HASH);
        let e = Error::Truncated {
            what: "TPM2B_DIGEST",
            needed: 4,
            available: 1,
        };
        assert_eq!(wire_rc(&e), TpmRc::INSUFFICIENT);
        let e = Error::BadValue {
            what: "TPMI_YES_NO",
            value: 2,
        };
        assert_eq!(wire_rc(&e), TpmRc::VALUE);
    }
}

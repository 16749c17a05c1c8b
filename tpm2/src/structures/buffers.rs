//! Plain TPM2B byte buffers (part 2 §10.4 and the TPM2B types of §11–§13).
//!
//! The maxima follow the implementation constants of the PC Client platform (SHA-512 as the
//! largest digest, RSA up to 4096 bits, ECC up to NIST P-521, 1024-byte hash and NV buffers), so
//! that anything a conformant TPM emits is accepted and nothing larger is. Buffers that carry
//! secrets are zeroized on drop and never printed.

use crate::alg::MAX_DIGEST_SIZE;
use crate::tpm2b;

/// Largest RSA modulus handled on the wire, in bytes (RSA-4096).
pub const MAX_RSA_KEY_BYTES: usize = 512;
/// Largest ECC parameter handled on the wire, in bytes (NIST P-521).
pub const MAX_ECC_KEY_BYTES: usize = 66;
/// MAX_DIGEST_BUFFER: the largest TPM2B_MAX_BUFFER.
pub const MAX_DIGEST_BUFFER: usize = 1024;
/// MAX_NV_BUFFER_SIZE: the largest NV read or write in one command.
pub const MAX_NV_BUFFER_SIZE: usize = 1024;
/// MAX_SYM_DATA: the largest sealed data object.
pub const MAX_SYM_DATA: usize = 128;
/// MAX_SYM_KEY_BYTES: the largest symmetric key (AES-256).
pub const MAX_SYM_KEY_BYTES: usize = 32;
/// MAX_SYM_BLOCK_SIZE: the largest symmetric block (AES).
pub const MAX_SYM_BLOCK_SIZE: usize = 16;
/// MAX_CONTEXT_SIZE: the largest saved context blob.
pub const MAX_CONTEXT_SIZE: usize = 4096;
/// LABEL_MAX_BUFFER: the largest derivation label or context.
pub const LABEL_MAX_BUFFER: usize = 32;

tpm2b!(
    /// TPM2B_DIGEST (part 2 §10.4.2): a digest, at most the largest hash.
    Tpm2bDigest, "TPM2B_DIGEST", MAX_DIGEST_SIZE
);
tpm2b!(
    /// TPM2B_DATA (part 2 §10.4.3): opaque data up to the size of a TPMT_HA.
    Tpm2bData, "TPM2B_DATA", MAX_DIGEST_SIZE + 2
);
tpm2b!(
    /// TPM2B_NONCE (part 2 §10.4.4): a session nonce.
    Tpm2bNonce, "TPM2B_NONCE", MAX_DIGEST_SIZE
);
tpm2b!(
    /// TPM2B_AUTH (part 2 §10.4.5): an authorization value.
    secret Tpm2bAuth, "TPM2B_AUTH", MAX_DIGEST_SIZE
);
tpm2b!(
    /// TPM2B_OPERAND (part 2 §10.4.6): an operand for TPM2_PolicyCounterTimer / PolicyNV.
    Tpm2bOperand, "TPM2B_OPERAND", MAX_DIGEST_SIZE
);
tpm2b!(
    /// TPM2B_EVENT (part 2 §10.4.7): event data for TPM2_PCR_Event.
    Tpm2bEvent, "TPM2B_EVENT", 1024
);
tpm2b!(
    /// TPM2B_MAX_BUFFER (part 2 §10.4.8): data for hashing and symmetric operations.
    Tpm2bMaxBuffer, "TPM2B_MAX_BUFFER", MAX_DIGEST_BUFFER
);
tpm2b!(
    /// TPM2B_MAX_NV_BUFFER (part 2 §10.4.9): NV data for one read or write.
    Tpm2bMaxNvBuffer, "TPM2B_MAX_NV_BUFFER", MAX_NV_BUFFER_SIZE
);
tpm2b!(
    /// TPM2B_TIMEOUT (part 2 §10.4.10): a policy timeout.
    Tpm2bTimeout, "TPM2B_TIMEOUT", 8
);
tpm2b!(
    /// TPM2B_IV (part 2 §10.4.11): an initial value for a symmetric mode.
    Tpm2bIv, "TPM2B_IV", MAX_SYM_BLOCK_SIZE
);
tpm2b!(
    /// TPM2B_NAME (part 2 §10.5.3): an entity's Tpm2bName (a handle or a hash-algorithm-tagged digest).
    Tpm2bName, "TPM2B_NAME", MAX_DIGEST_SIZE + 2
);
tpm2b!(
    /// TPM2B_SENSITIVE_DATA (part 2 §11.1.14): sealed data or a key's seed.
    secret Tpm2bSensitiveData, "TPM2B_SENSITIVE_DATA", MAX_SYM_DATA
);
tpm2b!(
    /// TPM2B_SYM_KEY (part 2 §11.1.8): a symmetric key.
    secret Tpm2bSymKey, "TPM2B_SYM_KEY", MAX_SYM_KEY_BYTES
);
tpm2b!(
    /// TPM2B_LABEL (part 2 §11.1.10): a label or context for a derived key.
    Tpm2bLabel, "TPM2B_LABEL", LABEL_MAX_BUFFER
);
tpm2b!(
    /// TPM2B_DERIVE (part 2 §11.1.12): a marshalled TPMS_DERIVE.
    Tpm2bDerive, "TPM2B_DERIVE", 2 * (LABEL_MAX_BUFFER + 2)
);
tpm2b!(
    /// TPM2B_PUBLIC_KEY_RSA (part 2 §11.2.4.5): an RSA modulus or an RSA cipher/signature value.
    Tpm2bPublicKeyRsa, "TPM2B_PUBLIC_KEY_RSA", MAX_RSA_KEY_BYTES
);
tpm2b!(
    /// TPM2B_PRIVATE_KEY_RSA (part 2 §11.2.4.7): one RSA prime.
    secret Tpm2bPrivateKeyRsa, "TPM2B_PRIVATE_KEY_RSA", MAX_RSA_KEY_BYTES / 2
);
tpm2b!(
    /// TPM2B_ECC_PARAMETER (part 2 §11.2.5.1): an ECC coordinate or scalar.
    Tpm2bEccParameter, "TPM2B_ECC_PARAMETER", MAX_ECC_KEY_BYTES
);
tpm2b!(
    /// TPM2B_ENCRYPTED_SECRET (part 2 §11.4.33): a salt or seed encrypted to a key.
    Tpm2bEncryptedSecret, "TPM2B_ENCRYPTED_SECRET", MAX_RSA_KEY_BYTES
);
tpm2b!(
    /// TPM2B_PRIVATE (part 2 §12.3.7): an object's protected sensitive area.
    Tpm2bPrivate, "TPM2B_PRIVATE", 2048
);
tpm2b!(
    /// TPM2B_ID_OBJECT (part 2 §12.4.3): a credential blob for TPM2_ActivateCredential.
    Tpm2bIdObject, "TPM2B_ID_OBJECT", 2 * (MAX_DIGEST_SIZE + 2)
);
tpm2b!(
    /// TPM2B_CONTEXT_SENSITIVE (part 2 §14.2): the sensitive part of a saved context.
    Tpm2bContextSensitive, "TPM2B_CONTEXT_SENSITIVE", MAX_CONTEXT_SIZE
);
tpm2b!(
    /// TPM2B_CONTEXT_DATA (part 2 §14.4): a protected saved context.
    Tpm2bContextData, "TPM2B_CONTEXT_DATA", MAX_CONTEXT_SIZE
);
tpm2b!(
    /// TPM2B_ATTEST (part 2 §10.12.13): a marshalled TPMS_ATTEST as it is signed.
    Tpm2bAttest, "TPM2B_ATTEST", 2048
);
tpm2b!(
    /// TPM2B_TEMPLATE (part 2 §12.2.6): a marshalled TPMT_PUBLIC used as a template.
    Tpm2bTemplate, "TPM2B_TEMPLATE", 1024
);
tpm2b!(
    /// TPM2B_PRIVATE_VENDOR_SPECIFIC (part 2 §11.2.7): an implementation-specific private key.
    secret Tpm2bPrivateVendorSpecific, "TPM2B_PRIVATE_VENDOR_SPECIFIC", 1280
);

tpm2b!(
    /// A TPM2B_DIGEST that holds a secret (the `seedValue` of TPMT_SENSITIVE): the same wire
    /// form as [`Tpm2bDigest`], zeroized on drop and never printed.
    secret Tpm2bSecretDigest, "TPM2B_DIGEST", MAX_DIGEST_SIZE
);

tpm2b!(
    /// A TPM2B_ECC_PARAMETER that holds a secret (an ECC private scalar in
    /// TPMU_SENSITIVE_COMPOSITE): the same wire form as
    /// [`Tpm2bEccParameter`], zeroized on drop and never printed.
    secret Tpm2bSecretEccParameter, "TPM2B_ECC_PARAMETER", MAX_ECC_KEY_BYTES
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Marshal, Unmarshal};

    #[test]
    fn digest_round_trip_and_bounds() {
        let d = Tpm2bDigest::new(&[0xAB; 32]).unwrap();
        let bytes = d.to_bytes();
        assert_eq!(&bytes[..2], &[0, 32]);
        assert_eq!(Tpm2bDigest::from_bytes(&bytes), Ok(d));
        let mut too_big = alloc::vec![0u8, 65];
        too_big.extend_from_slice(&[0; 65]);
        assert_eq!(
            Tpm2bDigest::from_bytes(&too_big),
            Err(Error::TooLarge {
                what: "TPM2B_DIGEST",
                size: 65,
                max: 64
            })
        );
        assert!(Tpm2bDigest::new(&[0; 65]).is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let a = Tpm2bAuth::new(b"hunter2").unwrap();
        assert_eq!(alloc::format!("{a:?}"), "Tpm2bAuth(<7 secret bytes>)");
    }
}

//! The session with the hardware TPM 2.0 (docs/manager-hw.md).

//! TPM2B, TPMA, TPMS, TPMT, TPMU and TPML structures (part 2 §8–§13).

pub mod buffers;

pub use buffers::*;

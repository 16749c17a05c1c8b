//! TPM2B, TPMA, TPMS, TPMT, TPMU and TPML structures (part 2 §8–§13).

pub mod attest;
pub mod attributes;
pub mod buffers;
pub mod capability;
pub mod context;
pub mod crypto;
pub mod nv;
pub mod object;
pub mod pcr;

pub use attest::*;
pub use attributes::*;
pub use buffers::*;
pub use capability::*;
pub use context::*;
pub use crypto::*;
pub use nv::*;
pub use object::*;
pub use pcr::*;

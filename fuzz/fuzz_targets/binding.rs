//! The manager's hardware binding parser (`vtpmmgr::hw::Binding::parse`) and the AK blob parser
//! (`vtpmmgr::hw::attestation_public`): bytes as read back from the manager's disk.
//!
//! The first input byte picks the mode: even, the rest is the binding as stored; odd, the rest
//! is a binding without its checksum record, which the target appends (SHA-256 of the rest), so
//! that the record validation behind the checksum is reached. Properties: no panic; a binding
//! that parses is canonical (it serializes back to exactly its bytes) and its public areas
//! decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_domain::engine::crypto::hash::{HashAlg, digest};
use vtpmmgr::hw::{Binding, attestation_public};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let _ = attestation_public(rest);
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        bytes.extend_from_slice(&[0xFF, 0, 32]);
        bytes.extend_from_slice(&digest(HashAlg::Sha256, &[rest]));
    }
    let Ok(binding) = Binding::parse(&bytes) else {
        return;
    };
    assert_eq!(
        binding.to_bytes(),
        bytes,
        "a parsed binding is not canonical"
    );
    binding
        .sk_public_area()
        .expect("SK public area was validated");
    binding
        .sealed_public_area()
        .expect("sealed public area was validated");
});

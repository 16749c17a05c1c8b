//! The state blob reader (`Engine::restore`, `vtpm_domain::engine::state`): a blob read back
//! from a disk image or a state file. The input is the blob without its trailing SHA-256
//! digest, which the target appends, so the fuzzer reaches the section and field parsers
//! instead of stopping at the digest check. Properties: no panic; a blob that loads saves
//! again to a blob that loads and saves to the same bytes; the restored engine answers a
//! command with a well-formed response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_domain::engine::crypto::hash::{HashAlg, digest};
use vtpm_domain::engine::{Engine, Platform};

struct ConstPlatform;

impl Platform for ConstPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        buf.fill(0x5A);
    }
    fn monotonic_ms(&mut self) -> u64 {
        0
    }
}

/// TPM2_GetRandom(16).
const GET_RANDOM: &[u8] = &[0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x7B, 0, 0x10];

fuzz_target!(|body: &[u8]| {
    let mut blob = body.to_vec();
    blob.extend_from_slice(&digest(HashAlg::Sha256, &[body]));
    let Ok(engine) = Engine::restore(&blob, Box::new(ConstPlatform)) else {
        return;
    };
    let saved = engine.save_state();
    let mut again = Engine::restore(&saved, Box::new(ConstPlatform)).expect("own blob loads");
    assert!(*again.save_state() == *saved, "save/restore is not stable");
    let rsp = again.execute(0, GET_RANDOM);
    assert!(rsp.len() >= 10, "short response {rsp:02x?}");
    let size = u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]);
    assert_eq!(size as usize, rsp.len(), "size field of {rsp:02x?}");
});

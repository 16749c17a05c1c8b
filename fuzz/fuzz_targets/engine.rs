//! The whole TPM engine, as a hostile guest or client drives it (the libtpms fuzz harness's
//! design): a manufactured engine after TPM2_Startup(CLEAR) and a TPM2_CreatePrimary (so a
//! transient handle exists) executes a series of commands cut from the input, then its state is
//! saved, restored into a second engine, and one more command must give the same answer on
//! both. Nothing may panic; every response must be a well-formed response header whose size is
//! its length (an error response is exactly the 10-byte header).
//!
//! Input: records of a big-endian u16 `n` and `n & 0x1FFF` command bytes (fewer if the input
//! ends); bits 13..16 of `n` choose the locality (0–4; 5–7 mean 0). The last record is also the
//! command replayed after the restore (GetRandom if there is none).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vtpm_domain::engine::{Engine, Platform};

/// Every call returns the same bytes, so the original and the restored engine see identical
/// entropy whatever each drew before.
struct ConstPlatform;

impl Platform for ConstPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for (b, i) in buf.iter_mut().zip((0..=255u8).cycle()) {
            *b = i.wrapping_mul(167).wrapping_add(0x5A);
        }
    }
    fn monotonic_ms(&mut self) -> u64 {
        0
    }
}

/// TPM2_Startup(CLEAR).
const STARTUP: &[u8] = &[0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x44, 0, 0];
/// TPM2_GetRandom(16).
const GET_RANDOM: &[u8] = &[0x80, 0x01, 0, 0, 0, 0x0C, 0, 0, 0x01, 0x7B, 0, 0x10];
/// TPM2_CreatePrimary(TPM_RH_OWNER, password session) of an ECC P-256 storage key (AES-128-CFB,
/// fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|decrypt).
const CREATE_PRIMARY: &[u8] = &[
    0x80, 0x02, 0, 0, 0, 0x43, 0, 0, 0x01, 0x31, // header
    0x40, 0, 0, 0x01, // TPM_RH_OWNER
    0, 0, 0, 0x09, 0x40, 0, 0, 0x09, 0, 0, 0x01, 0, 0, // password session
    0, 0x04, 0, 0, 0, 0, // inSensitive
    0, 0x1A, 0, 0x23, 0, 0x0B, // TPM2B_PUBLIC size, ECC, SHA-256
    0, 0x03, 0, 0x72, 0, 0, // attributes, empty authPolicy
    0, 0x06, 0, 0x80, 0, 0x43, // AES-128-CFB
    0, 0x10, 0, 0x03, 0, 0x10, // scheme NULL, NIST P-256, kdf NULL
    0, 0, 0, 0, // unique (empty x, y)
    0, 0, // outsideInfo
    0, 0, 0, 0, // creationPCR
];

/// The state every run starts from (manufacture, Startup, CreatePrimary), made once.
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut e = Engine::manufacture(Box::new(ConstPlatform));
        check(&e.execute(0, STARTUP));
        check(&e.execute(0, CREATE_PRIMARY));
        e.save_state().to_vec()
    })
}

/// A response is a header whose size field is its length; errors are the bare header.
fn check(rsp: &[u8]) {
    assert!(rsp.len() >= 10, "short response {rsp:02x?}");
    let size = u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]);
    assert_eq!(size as usize, rsp.len(), "size field of {rsp:02x?}");
    let tag = u16::from_be_bytes([rsp[0], rsp[1]]);
    assert!(tag == 0x8001 || tag == 0x8002, "tag of {rsp:02x?}");
    let rc = u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]]);
    if rc != 0 {
        assert_eq!(rsp.len(), 10, "error response with a body: {rsp:02x?}");
        assert_eq!(tag, 0x8001, "error response tag: {rsp:02x?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut e = Engine::restore(base(), Box::new(ConstPlatform)).expect("the base state loads");
    let mut rest = data;
    let mut last: &[u8] = GET_RANDOM;
    let mut last_locality = 0;
    while let Some((head, tail)) = rest.split_first_chunk::<2>() {
        let n = u16::from_be_bytes(*head);
        let len = usize::from(n & 0x1FFF).min(tail.len());
        let locality = match (n >> 13) as u8 {
            l @ 0..=4 => l,
            _ => 0,
        };
        let (cmd, next) = tail.split_at(len);
        check(&e.execute(locality, cmd));
        last = cmd;
        last_locality = locality;
        rest = next;
    }
    let blob = e.save_state();
    let mut copy = Engine::restore(&blob, Box::new(ConstPlatform)).expect("own blob restores");
    let a = e.execute(last_locality, last);
    let b = copy.execute(last_locality, last);
    check(&a);
    assert_eq!(a, b, "the restored engine answers differently");
    assert!(
        *e.save_state() == *copy.save_state(),
        "states differ after the replay"
    );
});

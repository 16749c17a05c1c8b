//! Whole TPM 2.0 responses, as a (possibly hostile or broken) TPM would return them. The first
//! four input bytes name the command the response answers (it decides whether a handle comes
//! first); the rest is the response. Nothing may panic; whatever parses must rebuild to the
//! same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm2::cc::TpmCc;
use tpm2::commands::{
    GetCapabilityResponse, GetRandomResponse, GetTestResultResponse, IncrementalSelfTestResponse,
    PcrReadResponse,
};
use tpm2::response::{Response, build_response};
use tpm2::{Marshal, Unmarshal};

fn round_trip<T: Marshal + Unmarshal>(bytes: &[u8]) {
    if let Ok(v) = T::from_bytes(bytes) {
        assert_eq!(v.to_bytes(), bytes, "{} did not round-trip", core::any::type_name::<T>());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((code, rsp)) = data.split_first_chunk::<4>() else { return };
    let code = TpmCc(u32::from_be_bytes(*code));
    let Ok(r) = Response::parse(rsp, code) else { return };
    if !r.code().is_success() {
        assert_eq!(rsp.len(), 10);
        return;
    }
    if r.header.tag == tpm2::st::TpmSt::NO_SESSIONS || !r.sessions.is_empty() {
        let rebuilt = build_response(r.handle, r.parameters, &r.sessions)
            .expect("a parsed response fits in a packet");
        if r.header.tag != tpm2::st::TpmSt::RSP_COMMAND {
            assert_eq!(rebuilt, rsp, "response did not round-trip");
        }
    }
    let p = r.parameters;
    match code {
        TpmCc::GET_CAPABILITY => round_trip::<GetCapabilityResponse>(p),
        TpmCc::GET_RANDOM => round_trip::<GetRandomResponse>(p),
        TpmCc::PCR_READ => round_trip::<PcrReadResponse>(p),
        TpmCc::GET_TEST_RESULT => round_trip::<GetTestResultResponse>(p),
        TpmCc::INCREMENTAL_SELF_TEST => round_trip::<IncrementalSelfTestResponse>(p),
        _ => {}
    }
});

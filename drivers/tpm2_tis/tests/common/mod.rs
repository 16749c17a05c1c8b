//! Shared fixtures for the driver tests.
#![allow(dead_code, unreachable_pub)]

use tpm2_tis::model::{Responder, SimClock, TisModel};
use tpm2_tis::{Config, Tis};

/// TPM2_Startup(TPM_SU_CLEAR) from the trace corpus
/// (shared/testdata/tpm2-traces/upstream.jsonl.gz, test `_prep:nv`, seq 1, TPM_CC_Startup).
pub const STARTUP: [u8; 12] = [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x44, 0, 0];

/// Its response in the same record: TPM_ST_NO_SESSIONS, size 10, TPM_RC_SUCCESS.
pub const STARTUP_OK: [u8; 10] = [0x80, 0x01, 0, 0, 0, 0x0a, 0, 0, 0, 0];

/// TPM2_GetRandom with an HMAC session and its response, from the same corpus (test
/// `abrmd_extended-sessions`, seq 149, TPM_CC_GetRandom, TPM_RC_SUCCESS): 89 and 93 bytes.
pub const GET_RANDOM_CMD: &str = "8002000000590000017b00000049020000010020d4d84772174cd70c247969a8924aa4b1884cbb4e5d7531eee7faf9ea1e8378574100202e94587a6e95ed0f93abdab62237c827f883d7b02c94ec92ade4b6f6627147e10008";
/// See [`GET_RANDOM_CMD`].
pub const GET_RANDOM_RSP: &str = "80020000005d000000000000000a00088d88b036928f3587002094aa55901038aeb654af64b896ae9485cbb60bf2ee1b0f5d6831cfe22400c7b5410020391d98a20914325398a8d53ac25ebed1bc970d70dca259764916d696a5b287e3";

/// Decodes a hex string.
pub fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The poll interval of the default configuration, in microseconds.
pub const POLL_US: u64 = 500;

/// A TPM that only knows TPM2_Startup.
pub fn startup_tpm(command: &[u8], response: &mut [u8]) -> usize {
    assert_eq!(command, STARTUP, "the model received a corrupted command");
    response[..STARTUP_OK.len()].copy_from_slice(&STARTUP_OK);
    STARTUP_OK.len()
}

/// The type of [`startup_tpm`] as a responder.
pub type StartupTpm = fn(&[u8], &mut [u8]) -> usize;

/// A model of a TPM answering TPM2_Startup.
pub fn startup_model() -> TisModel<StartupTpm> {
    TisModel::new(startup_tpm as StartupTpm)
}

/// A command with code `code` and `body_len` parameter bytes (a running pattern).
pub fn command(code: u32, body_len: usize) -> Vec<u8> {
    let size = u32::try_from(10 + body_len).expect("command size");
    let mut bytes = vec![0x80, 0x01];
    bytes.extend_from_slice(&size.to_be_bytes());
    bytes.extend_from_slice(&code.to_be_bytes());
    bytes.extend((0..body_len).map(|i| u8::try_from(i % 251).expect("below 251")));
    bytes
}

/// A driver over `model` that has probed and holds locality 0, with simulated time.
pub fn driver<T: Responder>(
    model: &mut TisModel<T>,
    config: Config,
) -> Tis<&mut TisModel<T>, SimClock> {
    let mut tis = Tis::with_config(model, SimClock::default(), config);
    tis.probe().expect("probe");
    tis.request_locality(0).expect("locality 0");
    tis
}

/// Simulated microseconds elapsed on the driver's clock.
pub fn now<R>(tis: &Tis<R, SimClock>) -> u64 {
    tis.clock().time_us
}

/// The default configuration without send retries.
pub fn no_retries() -> Config {
    Config {
        send_retries: 0,
        ..Config::DEFAULT
    }
}

/// Microseconds of a duration.
pub fn us(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).expect("duration in µs")
}

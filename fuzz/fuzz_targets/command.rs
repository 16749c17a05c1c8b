//! Whole TPM 2.0 commands, as a guest or a client would send them: header, handles, sessions and
//! the typed parameter area of the commands `tpm2::commands` knows. Nothing may panic; whatever
//! parses must re-marshal to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm2::cc::TpmCc;
use tpm2::command::{Command, build_command};
use tpm2::commands::{
    GetCapabilityCommand, GetRandomCommand, IncrementalSelfTestCommand, PcrReadCommand,
    SelfTestCommand, ShutdownCommand, StartupCommand, StirRandomCommand,
};
use tpm2::{Marshal, Unmarshal};

fn round_trip<T: Marshal + Unmarshal>(bytes: &[u8]) {
    if let Ok(v) = T::from_bytes(bytes) {
        assert_eq!(v.to_bytes(), bytes, "{} did not round-trip", core::any::type_name::<T>());
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(cmd) = Command::parse(data) else { return };
    let rebuilt = build_command(cmd.header.code, &cmd.handles, &cmd.sessions, cmd.parameters)
        .expect("a parsed command fits in a packet");
    assert_eq!(rebuilt, data, "command did not round-trip");
    let p = cmd.parameters;
    match cmd.header.code {
        TpmCc::STARTUP => round_trip::<StartupCommand>(p),
        TpmCc::SHUTDOWN => round_trip::<ShutdownCommand>(p),
        TpmCc::SELF_TEST => round_trip::<SelfTestCommand>(p),
        TpmCc::INCREMENTAL_SELF_TEST => round_trip::<IncrementalSelfTestCommand>(p),
        TpmCc::GET_CAPABILITY => round_trip::<GetCapabilityCommand>(p),
        TpmCc::GET_RANDOM => round_trip::<GetRandomCommand>(p),
        TpmCc::STIR_RANDOM => round_trip::<StirRandomCommand>(p),
        TpmCc::PCR_READ => round_trip::<PcrReadCommand>(p),
        _ => {}
    }
});

//! The manager protocol (`vtpmmgr-protocol`): hostile requests from a domain or an
//! administrator, and hostile answers from a manager. Properties: no panic; an accepted
//! request or answer re-encodes to bytes that parse back to the same value; a refusal is a
//! bare 10-byte header. The vTPM's DeepQuote vendor command and its answer (same module family)
//! are parsed from the same bytes, with the same round-trip property.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpmmgr_protocol::deep_quote::{DeepQuoteCommand, DeepQuoteResponse};
use vtpmmgr_protocol::{Reply, Request};

fuzz_target!(|data: &[u8]| {
    match Request::parse(data) {
        Ok(req) => assert_eq!(Request::parse(&req.encode()), Ok(req)),
        Err(rej) => assert_eq!(rej.encode().len(), 10),
    }
    // The same bytes as an answer to each kind of request.
    let (selector, answer) = data.split_first().unwrap_or((&0, &[]));
    let probe = match selector % 8 {
        0 => Request::LoadHashKey,
        1 => Request::GetBootHash,
        2 => Request::GetQuote { nonce: [0; 20], pcrs: 1, flags: 0 },
        3 => Request::GetRandom { count: 8 },
        4 => Request::GroupNew,
        5 => Request::GroupShow { group: 0 },
        6 => Request::VtpmList { group: 0, offset: 0 },
        _ => Request::VtpmShow { uuid: vtpmmgr_protocol::Uuid::NIL },
    };
    if let Ok(reply) = Reply::parse(&probe, answer) {
        assert_eq!(Reply::parse(&probe, &reply.encode()), Ok(reply));
    }
    if let Ok(c) = DeepQuoteCommand::parse(data) {
        assert_eq!(DeepQuoteCommand::parse(&c.encode()), Ok(c));
    }
    if let Ok(a) = DeepQuoteResponse::parse(data) {
        assert_eq!(DeepQuoteResponse::parse(&a.encode()), Ok(a));
    }
});

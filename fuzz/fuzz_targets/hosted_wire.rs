//! The hosted-mode wire (`xen::hosted::wire`) as a hostile domain writes it to the launcher.
//! Properties: no panic; a frame that parses re-encodes to exactly the same bytes (the parser
//! is strict), and its re-encoding parses back to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen::hosted::wire::{MAX_FRAME, encode, frame_len, parse};

fuzz_target!(|data: &[u8]| {
    if let Some(prefix) = data.first_chunk::<4>() {
        if let Ok(len) = frame_len(*prefix) {
            assert!((1..=MAX_FRAME).contains(&len));
        }
    }
    if let Ok(msg) = parse(data) {
        let again = encode(&msg);
        assert_eq!(again, data, "{msg:?} re-encodes differently");
        assert_eq!(parse(&again).as_ref(), Ok(&msg));
    }
});

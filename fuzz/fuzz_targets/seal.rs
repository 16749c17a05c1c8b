//! The sealed-state reader (`vtpm_domain::seal::unseal`, `peek_generation`): the bytes of a
//! state file or disk image, under a fixed key. Properties: no panic; whatever unseals seals
//! again (same generation) to a blob that unseals to the same state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_domain::seal::{SealKey, peek_generation, seal, unseal};

fuzz_target!(|blob: &[u8]| {
    let key = SealKey::new([0x42; 32]);
    let _ = peek_generation(blob);
    let Ok(opened) = unseal(&key, blob) else {
        return;
    };
    let again = seal(&key, opened.generation, &[7; 16], &opened.state).expect("reseal");
    let back = unseal(&key, &again).expect("own blob unseals");
    assert_eq!(back.generation, opened.generation);
    assert!(*back.state == *opened.state, "state changed through seal/unseal");
});

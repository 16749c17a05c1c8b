//! xl configuration files (`config`): arbitrary bytes (as UTF-8, lossily) are parsed and
//! classified. Properties: no panic; errors carry a position inside the text; a file that
//! parses renders to canonical text that parses to the same settings, renders identically and
//! classifies the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = config::parse("fuzz.cfg", &text);
    let cfg = match parsed {
        Ok(cfg) => cfg,
        Err(e) => {
            let lines = u32::try_from(text.split('\n').count()).unwrap_or(u32::MAX);
            assert!(e.line >= 1 && e.line <= lines && e.column >= 1, "{e}");
            let _ = e.to_string();
            return;
        }
    };
    let role = config::classify(&cfg);
    let canonical = cfg.render();
    let again = config::parse("fuzz.cfg", &canonical)
        .unwrap_or_else(|e| panic!("canonical text does not parse: {e}\n{canonical}"));
    assert_eq!(again.values(), cfg.values());
    assert_eq!(again.render(), canonical);
    match (role, config::classify(&again)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.kind, b.kind),
        (a, b) => panic!("classification differs after rendering: {a:?} / {b:?}"),
    }
    // A stack of this file alone either is refused or is a lone manager.
    if let Ok(s) = config::stack(&[("fuzz.cfg".into(), text.into_owned())]) {
        assert!(s.vtpm_domains.is_empty() && s.guests.is_empty());
    }
});

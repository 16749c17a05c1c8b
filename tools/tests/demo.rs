//! The README's main job: `vtpm-stack demo` on the example configs with the embedded default
//! (our own engine as the hardware TPM, nothing else installed), run as a test so CI proves it.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use vtpm_tools::stack::HwTpm;
use vtpm_tools::stack::demo;

#[test]
fn the_demo_passes_on_the_examples_with_the_embedded_default() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples");
    let mut configs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    configs.sort();
    let run = std::env::temp_dir().join(format!("vtpm-demo-test-{}", std::process::id()));
    let lines = Mutex::new(Vec::<String>::new());
    let say = |s: &str| {
        eprintln!("{s}");
        lines.lock().unwrap().push(s.to_string());
    };
    let reports = demo::run(&run, &HwTpm::Engine, &configs, &say)
        .unwrap_or_else(|e| panic!("the demo failed: {e}"));
    assert_eq!(reports.len(), 3);
    for (i, a) in reports.iter().enumerate() {
        for b in &reports[i + 1..] {
            assert_ne!(a.ak_name, b.ak_name);
            assert_ne!(a.vtpm, b.vtpm);
        }
    }
    let text = lines.lock().unwrap().join("\n");
    for step in ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "Demo passed"] {
        assert!(text.contains(step), "the report lacks {step}:\n{text}");
    }
    assert_eq!(text.matches("same as before").count(), 3, "{text}");
    assert_eq!(
        text.matches("verified with the manager's group AK").count(),
        3,
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&run);
}

//! Access to the captured traffic corpus shared by the corpus tests:
//! `../shared/testdata/tpm2-traces/upstream.jsonl.gz` (tpm2-tools 5.4 against swtpm 0.7.1 /
//! libtpms 0.9.2; see its README), decompressed once per test binary by the system's `gzip`.
//! A missing corpus or `gzip` fails the test with a message; nothing is skipped.

#![allow(dead_code, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The corpus file.
pub(crate) const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/tpm2-traces/upstream.jsonl.gz"
);

/// The decompressed corpus, one JSON object per line.
pub(crate) fn text() -> Result<&'static str, String> {
    static TEXT: OnceLock<Result<String, String>> = OnceLock::new();
    TEXT.get_or_init(load).as_deref().map_err(Clone::clone)
}

/// Like [`text`], failing the test with the reason.
pub(crate) fn text_or_fail() -> &'static str {
    text().unwrap_or_else(|e| panic!("{e}"))
}

fn load() -> Result<String, String> {
    if !Path::new(CORPUS).is_file() {
        return Err(format!(
            "traffic corpus missing: {CORPUS} (see ../shared/testdata/tpm2-traces/README.md)"
        ));
    }
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(CORPUS)
        .output()
        .map_err(|e| format!("cannot run `gzip -dc {CORPUS}` (is gzip installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`gzip -dc {CORPUS}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("corpus is not UTF-8: {e}"))
}

/// The string value of `"key": "..."` in one JSON line (the values these tests read contain no
/// escapes).
pub(crate) fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\": \"");
    let start = line.find(&pat)? + pat.len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// The number value of `"key": N` in one JSON line.
pub(crate) fn number(line: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\": ");
    let start = line.find(&pat)? + pat.len();
    let digits: String = line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Bytes from hex, `None` if `s` is not hex.
pub(crate) fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A `0x…` hex string as a number.
pub(crate) fn hex_u32(s: &str) -> Option<u32> {
    u32::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

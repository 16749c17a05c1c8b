//! `vtpmmgr`: the vTPM manager in hosted mode (`vtpmmgr --help`, `docs/vtpmmgr-serve.md`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    vtpmmgr::host::cli::main(&args)
}

//! `vtpmmgr`: the vTPM manager in hosted mode.

fn main() {
    eprintln!("vtpmmgr: not yet wired");
    std::process::exit(2);
}

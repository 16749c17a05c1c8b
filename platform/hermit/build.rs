//! Links the Hermit kernel library that `cargo xtask image` builds (`HERMIT_LIB_DIR`).

fn main() {
    println!("cargo:rerun-if-env-changed=HERMIT_LIB_DIR");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("hermit") {
        return;
    }
    let Ok(dir) = std::env::var("HERMIT_LIB_DIR") else {
        eprintln!("HERMIT_LIB_DIR is not set: build the images with `cargo xtask image`");
        std::process::exit(1);
    };
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-lib=static=hermit");
    println!("cargo:rerun-if-changed={dir}/libhermit.a");
}

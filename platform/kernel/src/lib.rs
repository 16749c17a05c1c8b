//! The Hermit kernel, linked whole into a static library; `cargo xtask image` then keeps only
//! its entry points and system calls global (the rest is renamed so it cannot clash with the
//! application's own copy of core and alloc).
#![no_std]

extern crate hermit;

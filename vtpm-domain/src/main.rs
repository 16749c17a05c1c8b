//! The `vtpm-domain` program: a software TPM 2.0 served over TCP with swtpm's or the TCG
//! simulator's protocol (see `docs/vtpm-domain-serve.md` and [`vtpm_domain::host::cli`]).

fn main() -> std::process::ExitCode {
    vtpm_domain::host::cli::main()
}

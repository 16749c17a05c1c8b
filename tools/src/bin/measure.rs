//! `measure`: pv-grub-style boot measurement (reference `xen-vtpm.md` §8) for TPM 2.0.
//!
//! ```text
//! measure --kernel FILE [--cmdline STR] [--initrd FILE] [--tpm SPEC] [--json]
//!   SPEC: spawn (a private swtpm), swtpm:HOST:PORT, mssim:HOST:PORT, dev:/dev/tpmrm0
//! ```
//!
//! Prints the SHA-1 and SHA-256 digests of the kernel, command line and initrd and the PCR 4/5
//! values they produce from all-zero PCRs. With `--tpm` it reads PCRs 4/5, extends the
//! measurement, reads them back and compares with the values expected from what it read
//! first; the exit status is 1 if they differ.

use std::fmt::Write as _;
use std::process::ExitCode;

use tpm2::client::Client;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSu;
use vtpm_tools::Error;
use vtpm_tools::measure::{BootFiles, Measurement, PcrValues, extend, hex, read_pcrs};
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::{AnyTransport, TpmSpec};

const USAGE: &str = "usage: measure --kernel FILE [--cmdline STR] [--initrd FILE] \
                     [--tpm spawn|swtpm:HOST:PORT|mssim:HOST:PORT|dev:PATH] [--json]";

struct Args {
    kernel: String,
    cmdline: String,
    initrd: Option<String>,
    tpm: Option<TpmSpec>,
    json: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut kernel = None;
    let mut cmdline = String::new();
    let mut initrd = None;
    let mut tpm = None;
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--kernel" => kernel = Some(value()?),
            "--cmdline" => cmdline = value()?,
            "--initrd" => initrd = Some(value()?),
            "--tpm" => tpm = Some(value()?.parse::<TpmSpec>().map_err(|e| e.to_string())?),
            "--json" => json = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        kernel: kernel.ok_or_else(|| format!("--kernel is required\n{USAGE}"))?,
        cmdline,
        initrd,
        tpm,
        json,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("measure: {e}");
            ExitCode::from(2)
        }
    }
}

/// The TPM part: (PCRs before, PCRs after, expected after).
struct TpmRun {
    target: String,
    before: PcrValues,
    after: PcrValues,
    expected: PcrValues,
}

fn run(args: &[String]) -> Result<bool, String> {
    let a = parse_args(args)?;
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("read {p}: {e}"));
    let kernel = read(&a.kernel)?;
    let initrd = a.initrd.as_deref().map(read).transpose()?;
    let m = Measurement::of(&BootFiles {
        kernel: &kernel,
        cmdline: &a.cmdline,
        initrd: initrd.as_deref(),
    });
    let tpm = match &a.tpm {
        None => None,
        Some(spec) => Some(on_tpm(spec, &m).map_err(|e| format!("TPM {spec}: {e}"))?),
    };
    let ok = tpm.as_ref().is_none_or(|t| t.after == t.expected);
    let text = if a.json {
        json(&a, &m, tpm.as_ref(), ok)
    } else {
        human(&a, &m, tpm.as_ref(), ok)
    };
    print!("{text}");
    Ok(ok)
}

fn on_tpm(spec: &TpmSpec, m: &Measurement) -> Result<TpmRun, Error> {
    // A private swtpm lives until the end of this function; dropping it stops it by PID.
    let (_spawned, mut t) = match spec {
        TpmSpec::Spawn => {
            let sw = Swtpm::spawn(SwtpmOptions {
                startup_clear: true,
            })?;
            let t = AnyTransport::Swtpm(sw.connect()?);
            (Some(sw), t)
        }
        other => (None, other.open()?),
    };
    let before = match read_pcrs(&mut t) {
        // A TPM that was never started (e.g. a fresh simulator): start it as firmware would.
        Err(Error::Tpm { rc, .. }) if rc == TpmRc::INITIALIZE => {
            Client::new(&mut t)
                .startup(TpmSu::CLEAR)
                .map_err(|e| Error::Swtpm(format!("TPM2_Startup(CLEAR): {e}")))?;
            read_pcrs(&mut t)?
        }
        other => other?,
    };
    extend(&mut t, m)?;
    let after = read_pcrs(&mut t)?;
    Ok(TpmRun {
        target: spec.to_string(),
        before,
        after,
        expected: m.expected_from(&before),
    })
}

fn human(a: &Args, m: &Measurement, tpm: Option<&TpmRun>, ok: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kernel   {}", a.kernel);
    let _ = writeln!(s, "cmdline  {:?}", a.cmdline);
    let _ = writeln!(
        s,
        "initrd   {}",
        a.initrd
            .as_deref()
            .unwrap_or("(none: the empty-input digest is extended)")
    );
    let _ = writeln!(s, "\ndigests:");
    for (name, d1, d256) in [
        ("kernel", &m.sha1.kernel[..], &m.sha256.kernel[..]),
        ("cmdline", &m.sha1.cmdline, &m.sha256.cmdline),
        ("initrd", &m.sha1.initrd, &m.sha256.initrd),
    ] {
        let _ = writeln!(s, "  sha1   {name:<8} {}", hex(d1));
        let _ = writeln!(s, "  sha256 {name:<8} {}", hex(d256));
    }
    let pcrs = |s: &mut String, title: &str, v: &PcrValues| {
        let _ = writeln!(s, "\n{title}:");
        let _ = writeln!(s, "  sha1   PCR4 {}", hex(&v.sha1.pcr4));
        let _ = writeln!(s, "  sha1   PCR5 {}", hex(&v.sha1.pcr5));
        let _ = writeln!(s, "  sha256 PCR4 {}", hex(&v.sha256.pcr4));
        let _ = writeln!(s, "  sha256 PCR5 {}", hex(&v.sha256.pcr5));
    };
    pcrs(&mut s, "expected PCRs from all-zero PCRs", &m.expected());
    if let Some(t) = tpm {
        let _ = writeln!(s, "\nTPM {}", t.target);
        if t.before != PcrValues::ZERO {
            pcrs(&mut s, "PCRs before extending (not zero)", &t.before);
            pcrs(&mut s, "expected PCRs from those values", &t.expected);
        }
        pcrs(&mut s, "PCRs read back after extending", &t.after);
        let verdict = if ok { "MATCH" } else { "MISMATCH" };
        let _ = writeln!(s, "\nresult: {verdict}");
    }
    s
}

fn json(a: &Args, m: &Measurement, tpm: Option<&TpmRun>, ok: bool) -> String {
    let q = |v: &str| format!("{v:?}");
    let pcrs = |v: &PcrValues| {
        format!(
            "{{\"sha1\": {{\"4\": \"{}\", \"5\": \"{}\"}}, \"sha256\": {{\"4\": \"{}\", \"5\": \"{}\"}}}}",
            hex(&v.sha1.pcr4),
            hex(&v.sha1.pcr5),
            hex(&v.sha256.pcr4),
            hex(&v.sha256.pcr5)
        )
    };
    let mut s = String::from("{\n");
    let _ = writeln!(s, "  \"kernel\": {},", q(&a.kernel));
    let _ = writeln!(s, "  \"cmdline\": {},", q(&a.cmdline));
    let _ = writeln!(
        s,
        "  \"initrd\": {},",
        a.initrd.as_deref().map_or_else(|| "null".into(), q)
    );
    let _ = writeln!(
        s,
        "  \"digests\": {{\"sha1\": {{\"kernel\": \"{}\", \"cmdline\": \"{}\", \"initrd\": \"{}\"}}, \
         \"sha256\": {{\"kernel\": \"{}\", \"cmdline\": \"{}\", \"initrd\": \"{}\"}}}},",
        hex(&m.sha1.kernel),
        hex(&m.sha1.cmdline),
        hex(&m.sha1.initrd),
        hex(&m.sha256.kernel),
        hex(&m.sha256.cmdline),
        hex(&m.sha256.initrd)
    );
    let _ = write!(s, "  \"expected\": {}", pcrs(&m.expected()));
    if let Some(t) = tpm {
        let _ = write!(
            s,
            ",\n  \"tpm\": {{\"target\": {}, \"before\": {}, \"expected\": {}, \"after\": {}, \"match\": {ok}}}",
            q(&t.target),
            pcrs(&t.before),
            pcrs(&t.expected),
            pcrs(&t.after)
        );
    }
    s.push_str("\n}\n");
    s
}

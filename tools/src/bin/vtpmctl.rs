//! `vtpmctl`: administration of the vTPM subsystem.
//!
//! ```text
//! vtpmctl probe [--tpm SPEC] [--json]
//!   SPEC: spawn (default: a private swtpm for this run), swtpm:HOST:PORT, mssim:HOST:PORT,
//!         dev:/dev/tpmrm0
//! vtpmctl [--mgr unix:PATH] [--json] group|vtpm|ek ...   (see `vtpmctl --help`)
//! ```

use std::process::ExitCode;

use tpm2::client::Client;
use vtpm_tools::probe::probe;
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::{AnyTransport, TpmSpec};

const PROBE_USAGE: &str =
    "vtpmctl probe [--tpm spawn|swtpm:HOST:PORT|mssim:HOST:PORT|dev:PATH] [--json]";

fn usage() -> String {
    format!("usage:\n{PROBE_USAGE}\n{}", vtpm_tools::mgr::USAGE)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vtpmctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (cmd, rest) = args.split_first().ok_or_else(usage)?;
    if cmd == "-h" || cmd == "--help" {
        println!("{}", usage());
        return Ok(());
    }
    if cmd != "probe" {
        return manage(args);
    }
    let mut spec = TpmSpec::Spawn;
    let mut json = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--tpm" => {
                let v = it.next().ok_or("--tpm needs a value")?;
                spec = v.parse().map_err(|e| format!("{e}"))?;
            }
            other => return Err(format!("unexpected argument {other:?}\n{PROBE_USAGE}")),
        }
    }
    // Keep the private swtpm alive until the probe is done; dropping it stops it by PID.
    let (spawned, transport, target) = match &spec {
        TpmSpec::Spawn => {
            let sw = Swtpm::spawn(SwtpmOptions {
                startup_clear: true,
            })
            .map_err(|e| e.to_string())?;
            let t = AnyTransport::Swtpm(sw.connect().map_err(|e| e.to_string())?);
            let target = format!("swtpm:{} (private swtpm, pid {})", sw.data_addr(), sw.pid());
            (Some(sw), t, target)
        }
        other => {
            let t = other.open().map_err(|e| e.to_string())?;
            (None, t, other.to_string())
        }
    };
    let mut client = Client::new(transport);
    let report = probe(&mut client).map_err(|e| format!("probe of {target} failed: {e}"))?;
    if json {
        println!("{}", report.to_json(&target));
    } else {
        print!("{}", report.to_text(&target));
    }
    if let Some(sw) = spawned {
        drop(client);
        sw.shutdown().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The management commands: global options first, then the command words.
fn manage(args: &[String]) -> Result<(), String> {
    let mut socket = vtpm_tools::mgr::default_socket();
    let mut json = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "--json" => json = true,
            "--mgr" => {
                i += 1;
                let v = args.get(i).ok_or("--mgr needs unix:PATH")?;
                socket = vtpm_tools::mgr::parse_socket(v);
            }
            _ => break,
        }
        i += 1;
    }
    let out = vtpm_tools::mgr::run(&socket, json, &args[i..])?;
    print!("{out}");
    Ok(())
}

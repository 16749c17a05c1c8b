//! `vtpm-stack`: the manager, the vTPM domains and their guests in hosted mode, from xl
//! configs (`vtpm_tools::stack`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use vtpm_domain::host::signal;
use vtpm_tools::stack::{HwTpm, Stack, StackOptions, demo};
use vtpm_tools::transport::TpmSpec;

const USAGE: &str = "\
vtpm-stack: the vTPM stack in hosted mode (a launcher plays Xen: store, grants, event channels)

USAGE:
    vtpm-stack demo [--tpm SPEC] [--run-dir DIR] [CONFIG...]
    vtpm-stack up   [--tpm SPEC] [--run-dir DIR] CONFIG...
    vtpm-stack status [--run-dir DIR]
    vtpm-stack down   [--run-dir DIR]
    vtpm-stack shm-guest REGION (first MEASUREMENT | resume)
                   the guest of a unikernel vTPM domain on its shared-memory guest link
                   (docs/unikernel.md): Startup, PCR 10, a key at 0x81000006, a checked
                   signature, Shutdown(STATE); prints PCR 10 and the key's Name

    --tpm SPEC     the hardware TPM behind the manager: `engine` (default: our own engine in
                   its own process, state kept in the run directory), swtpm:HOST:PORT,
                   mssim:HOST:PORT or dev:/dev/tpmrm0
    --run-dir DIR  images, sockets and logs (default: ./vtpm-run; the demo: ./vtpm-demo,
                   cleared first)
    CONFIG         xl config files: one manager, vTPM domains, guests (the demo defaults to
                   config/examples/*.cfg)

`up` stays in the foreground and shows each domain's state; `down` (from another shell),
SIGINT or SIGTERM stop everything in order, each vTPM saving its state first.
";

struct Args {
    tpm: HwTpm,
    run_dir: Option<PathBuf>,
    configs: Vec<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        tpm: HwTpm::Engine,
        run_dir: None,
        configs: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--tpm" => {
                let v = it.next().ok_or("--tpm needs a value")?;
                a.tpm = if v == "engine" {
                    HwTpm::Engine
                } else {
                    HwTpm::Spec(
                        v.parse::<TpmSpec>()
                            .map_err(|e| format!("--tpm {v}: {e}"))?,
                    )
                };
            }
            "--run-dir" => {
                a.run_dir = Some(PathBuf::from(it.next().ok_or("--run-dir needs a value")?));
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => a.configs.push(PathBuf::from(s)),
        }
    }
    Ok(a)
}

fn example_configs() -> Result<Vec<PathBuf>, String> {
    // The examples sit in the source tree; `cargo run` starts in the workspace (or the
    // package) directory.
    for base in [
        Path::new("config/examples"),
        Path::new("../config/examples"),
    ] {
        if let Ok(rd) = std::fs::read_dir(base) {
            let mut v: Vec<PathBuf> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
                .collect();
            v.sort();
            if !v.is_empty() {
                return Ok(v);
            }
        }
    }
    Err("no configs given and config/examples/*.cfg not found (run from the workspace)".into())
}

fn say(s: &str) {
    println!("{s}");
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    if cmd == "shm-guest" {
        return shm_guest(rest);
    }
    let args = match parse(rest) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vtpm-stack: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd.as_str() {
        "demo" => run_demo(args),
        "up" => up(args),
        "down" => control(&args, "down"),
        "status" => control(&args, "status"),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("vtpm-stack: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vtpm-stack: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_demo(a: Args) -> Result<(), String> {
    let configs = if a.configs.is_empty() {
        example_configs()?
    } else {
        a.configs
    };
    let run_dir = a.run_dir.unwrap_or_else(|| PathBuf::from("vtpm-demo"));
    demo::run(&run_dir, &a.tpm, &configs, &say).map_err(|e| e.to_string())?;
    Ok(())
}

fn control_socket(run_dir: &Path) -> PathBuf {
    run_dir.join("stack.sock")
}

fn print_status(s: &mut Stack, out: &mut dyn Write) {
    let _ = writeln!(
        out,
        "{:<14} {:<8} {:>5} {:>8}  link",
        "domain", "role", "domid", "pid"
    );
    for d in s.status() {
        let _ = writeln!(
            out,
            "{:<14} {:<8} {:>5} {:>8}  {}",
            d.name,
            d.role,
            d.domid,
            d.pid.map_or_else(|| "-".to_string(), |p| p.to_string()),
            d.link
        );
    }
}

fn up(a: Args) -> Result<(), String> {
    if a.configs.is_empty() {
        return Err("up needs the config files".into());
    }
    let run_dir = a.run_dir.unwrap_or_else(|| PathBuf::from("vtpm-run"));
    let progress = |s: &str| say(&format!("… {s}"));
    std::fs::create_dir_all(&run_dir).map_err(|e| format!("create {}: {e}", run_dir.display()))?;
    let sock = control_socket(&run_dir);
    if UnixStream::connect(&sock).is_ok() {
        return Err(format!("a stack already runs in {}", run_dir.display()));
    }
    let _ = std::fs::remove_file(&sock);
    let listener =
        UnixListener::bind(&sock).map_err(|e| format!("bind {}: {e}", sock.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("control socket: {e}"))?;
    signal::install();
    let mut s = Stack::up(&StackOptions {
        run_dir: run_dir.clone(),
        tpm: a.tpm,
        configs: a.configs,
        progress: &progress,
    })
    .map_err(|e| e.to_string())?;
    print_status(&mut s, &mut std::io::stdout());
    say(&format!(
        "up: guests' devices are ready; `vtpm-stack down --run-dir {}` or Ctrl-C stops everything",
        run_dir.display()
    ));
    let mut requester: Option<UnixStream> = None;
    loop {
        if signal::take() {
            break;
        }
        match listener.accept() {
            Ok((mut conn, _)) => {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                let _ = BufReader::new(&conn).read_line(&mut line);
                match line.trim() {
                    "status" => print_status(&mut s, &mut conn),
                    "down" => {
                        requester = Some(conn);
                        break;
                    }
                    other => {
                        let _ = writeln!(conn, "unknown request {other:?}");
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(format!("control socket: {e}")),
        }
    }
    let unclean = s.down(&progress).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&sock);
    let msg = if unclean.is_empty() {
        "down: every domain stopped cleanly, state saved".to_string()
    } else {
        format!("down: had to kill {}", unclean.join(", "))
    };
    say(&msg);
    if let Some(mut r) = requester {
        let _ = writeln!(r, "{msg}");
    }
    if unclean.is_empty() { Ok(()) } else { Err(msg) }
}

fn control(a: &Args, request: &str) -> Result<(), String> {
    let run_dir = a
        .run_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("vtpm-run"));
    let sock = control_socket(&run_dir);
    let mut c = UnixStream::connect(&sock)
        .map_err(|e| format!("no stack runs in {} ({e})", run_dir.display()))?;
    writeln!(c, "{request}").map_err(|e| e.to_string())?;
    let mut out = String::new();
    for line in BufReader::new(c).lines() {
        let line = line.map_err(|e| e.to_string())?;
        out.push_str(&line);
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

/// `vtpm-stack shm-guest REGION first MEASUREMENT | resume`: the guest of a unikernel vTPM
/// domain, on its shared-memory guest link. Prints the PCR's value and the key's Name.
fn shm_guest(args: &[String]) -> ExitCode {
    use vtpm_tools::stack::shm_guest;
    let result = match args {
        [region, how, measurement] if how == "first" => {
            shm_guest::first_boot(Path::new(region), measurement.as_bytes())
        }
        [region, how] if how == "resume" => shm_guest::resume(Path::new(region)),
        _ => {
            eprintln!("usage: vtpm-stack shm-guest REGION (first MEASUREMENT | resume)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(view) => {
            let hex = |b: &[u8]| {
                b.iter().fold(String::new(), |mut s, x| {
                    use std::fmt::Write as _;
                    let _ = write!(s, "{x:02x}");
                    s
                })
            };
            println!("pcr{} {}", shm_guest::PCR, hex(&view.pcr));
            println!("key {}", hex(&view.key_name));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vtpm-stack: shm-guest: {e}");
            ExitCode::FAILURE
        }
    }
}

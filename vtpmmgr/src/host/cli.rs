//! The `vtpmmgr` command line (hand-written parsing: no dependency for a handful of options).
//! Exit codes: 0 success, 1 runtime failure (TPM unreachable, image refused, ...), 2 bad usage.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use vtpm_domain::host::signal;
use vtpm_tools::transport::TpmSpec;
use zeroize::Zeroizing;

use super::file_device::FileDevice;
use super::server::{self, Sockets};
use crate::hw::{HwConfig, PcrPolicy};
use crate::manager::{Manager, ManagerConfig};

/// The help text.
pub const USAGE: &str = "\
vtpmmgr: the vTPM manager (hosted mode)

USAGE:
    vtpmmgr serve --tpm SPEC --disk FILE (--listen unix:PATH | --xen) --admin unix:PATH
                  [--owner-auth-file FILE] [--endorsement-auth-file FILE]
                  [--pcr-policy BANK:PCR,PCR,...] [--nv-index HANDLE] [--srk-handle HANDLE]
    vtpmmgr help | --help

SERVE:
    --tpm SPEC        the hardware TPM: swtpm:HOST:PORT, mssim:HOST:PORT or dev:/dev/tpmrm0
    --disk FILE       the manager's 2 MiB image; created and formatted if it does not exist
                      (or is all zeros); an image this TPM cannot open is refused untouched
    --listen unix:PATH   the socket vTPM domains connect to (created mode 0600)
    --xen             serve vTPM domains over tpmback, as on Xen: the platform comes from
                      VTPM_XEN (set by `vtpm-stack`); each vTPM is the backend device's `uuid`
                      key and its kernel hash SHA-256 of the domain's label. The toolstack's
                      `control/shutdown` key stops the manager like SIGTERM
    --admin unix:PATH    the administrator's socket, for vtpmctl (created mode 0600)
    --owner-auth-file FILE        the owner hierarchy's auth value (raw bytes), if set
    --endorsement-auth-file FILE  the endorsement hierarchy's auth value, if set
    --pcr-policy BANK:LIST  seal the image's root key to these PCRs of the hardware TPM at
                      format time (e.g. sha256:0,2,4,7); unsealing then needs the same values
    --nv-index HANDLE the first NV index to try for the rollback counter (hex, owner range)
    --srk-handle HANDLE  keep the SRK persistent at this handle (0x81xxxxxx) instead of
                      recreating it at every start

    Once serving, `listening on PATH (admin PATH)` is printed to stderr. SIGTERM or SIGINT
    stops the manager; every change is already durable when it is acknowledged.
";

/// `serve` options.
#[derive(Debug)]
pub struct ServeOptions {
    /// The hardware TPM.
    pub tpm: TpmSpec,
    /// The image.
    pub disk: PathBuf,
    /// The domain socket.
    pub listen: Option<PathBuf>,
    /// Serve domains over tpmback (`VTPM_XEN`).
    pub xen: bool,
    /// The administrator's socket.
    pub admin: PathBuf,
    /// Owner auth file.
    pub owner_auth_file: Option<PathBuf>,
    /// Endorsement auth file.
    pub endorsement_auth_file: Option<PathBuf>,
    /// PCR policy for the root key.
    pub pcr_policy: Option<PcrPolicy>,
    /// First NV index to try.
    pub nv_index: Option<u32>,
    /// Persistent SRK handle.
    pub srk_handle: Option<u32>,
}

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    /// Print the help.
    Help,
    /// Serve.
    Serve(Box<ServeOptions>),
}

/// A usage error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

fn parse_handle(flag: &str, v: &str) -> Result<u32, UsageError> {
    let digits = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    u32::from_str_radix(digits, 16).map_err(|_| usage(format!("{flag} {v:?}: not a hex handle")))
}

fn parse_unix(flag: &str, v: &str) -> Result<PathBuf, UsageError> {
    v.strip_prefix("unix:")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| usage(format!("{flag} {v:?}: expected unix:PATH")))
}

/// Parses `BANK:PCR,PCR,...` (BANK: sha1, sha256, sha384; PCRs 0..=23).
pub fn parse_pcr_policy(v: &str) -> Result<PcrPolicy, UsageError> {
    let bad = |why: &str| usage(format!("--pcr-policy {v:?}: {why}"));
    let (bank, list) = v
        .split_once(':')
        .ok_or_else(|| bad("expected BANK:PCR,PCR,..."))?;
    let bank = match bank {
        "sha1" => tpm2::alg::TpmAlgId::SHA1,
        "sha256" => tpm2::alg::TpmAlgId::SHA256,
        "sha384" => tpm2::alg::TpmAlgId::SHA384,
        _ => return Err(bad("bank must be sha1, sha256 or sha384")),
    };
    let mut pcrs = 0u32;
    for p in list.split(',') {
        let n: u32 = p
            .trim()
            .parse()
            .map_err(|_| bad("PCRs are numbers 0..=23"))?;
        if n > 23 {
            return Err(bad("PCRs are numbers 0..=23"));
        }
        pcrs |= 1 << n;
    }
    Ok(PcrPolicy { bank, pcrs })
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(usage("missing command"));
    };
    match cmd.as_str() {
        "help" | "--help" | "-h" => return Ok(Command::Help),
        "serve" => {}
        other => return Err(usage(format!("unknown command {other:?}"))),
    }
    let (mut tpm, mut disk, mut listen, mut admin) = (None, None, None, None);
    let mut o = ServeOptions {
        tpm: TpmSpec::Spawn,
        disk: PathBuf::new(),
        listen: None,
        xen: false,
        admin: PathBuf::new(),
        owner_auth_file: None,
        endorsement_auth_file: None,
        pcr_policy: None,
        nv_index: None,
        srk_handle: None,
    };
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(String::as_str)
                .ok_or_else(|| usage(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--tpm" => {
                let v = value()?;
                let spec: TpmSpec = v.parse().map_err(|e| usage(format!("--tpm: {e}")))?;
                if spec == TpmSpec::Spawn {
                    return Err(usage(
                        "--tpm spawn would seal the image to a TPM that vanishes at exit",
                    ));
                }
                tpm = Some(spec);
            }
            "--disk" => disk = Some(PathBuf::from(value()?)),
            "--listen" => listen = Some(parse_unix("--listen", value()?)?),
            "--admin" => admin = Some(parse_unix("--admin", value()?)?),
            "--xen" => o.xen = true,
            "--owner-auth-file" => o.owner_auth_file = Some(PathBuf::from(value()?)),
            "--endorsement-auth-file" => o.endorsement_auth_file = Some(PathBuf::from(value()?)),
            "--pcr-policy" => o.pcr_policy = Some(parse_pcr_policy(value()?)?),
            "--nv-index" => o.nv_index = Some(parse_handle("--nv-index", value()?)?),
            "--srk-handle" => o.srk_handle = Some(parse_handle("--srk-handle", value()?)?),
            other => return Err(usage(format!("unexpected argument {other:?}"))),
        }
    }
    o.tpm = tpm.ok_or_else(|| usage("--tpm SPEC is required"))?;
    o.disk = disk.ok_or_else(|| usage("--disk FILE is required"))?;
    o.listen = listen;
    if o.listen.is_none() && !o.xen {
        return Err(usage("--listen unix:PATH or --xen is required"));
    }
    o.admin = admin.ok_or_else(|| usage("--admin unix:PATH is required"))?;
    if o.listen.as_ref() == Some(&o.admin) {
        return Err(usage("--listen and --admin must be different sockets"));
    }
    Ok(Command::Serve(Box::new(o)))
}

fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut v = Zeroizing::new(Vec::new());
    f.read_to_end(&mut v)
        .map_err(|e| format!("read {}: {e}", path.display()))?;
    if v.len() > 64 {
        return Err(format!(
            "{}: an auth value is at most 64 bytes, the file has {}",
            path.display(),
            v.len()
        ));
    }
    Ok(v)
}

fn log(args: fmt::Arguments<'_>) {
    eprintln!("vtpmmgr: {args}");
}

/// Runs `vtpmmgr` with `args` (after the program name).
pub fn main(args: &[String]) -> ExitCode {
    match parse(args) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Serve(o)) => match serve(&o) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vtpmmgr: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("vtpmmgr: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn serve(o: &ServeOptions) -> Result<(), String> {
    let mut hw = HwConfig::default();
    if let Some(p) = &o.owner_auth_file {
        hw.owner_auth = read_secret(p)?;
    }
    if let Some(p) = &o.endorsement_auth_file {
        hw.endorsement_auth = read_secret(p)?;
    }
    hw.pcr_policy = o.pcr_policy;
    if let Some(i) = o.nv_index {
        hw.nv_index = i;
    }
    hw.srk_handle = o.srk_handle;
    // Join the platform and bind first, so that a missing launcher or a taken socket fails
    // before anything touches the TPM or the image.
    let platform = if o.xen {
        Some(
            ::xen::hosted::HostedPlatform::from_env()
                .map_err(|e| format!("--xen: join the platform: {e}"))?,
        )
    } else {
        None
    };
    let domains = match &o.listen {
        Some(p) => Some(server::bind(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let admin = server::bind(&o.admin).map_err(|e| e.to_string())?;
    let mut paths: Vec<PathBuf> = o.listen.iter().cloned().collect();
    paths.push(o.admin.clone());
    let remove_sockets = || {
        for p in &paths {
            let _ = std::fs::remove_file(p);
        }
    };
    let started = start(o, hw);
    let manager = match started {
        Ok(m) => m,
        Err(e) => {
            remove_sockets();
            return Err(e);
        }
    };
    signal::install();
    let manager = Arc::new(Mutex::new(manager));
    let stopping = Arc::new(AtomicBool::new(false));
    let xen_thread = platform.map(|mut p| {
        let (m, stop) = (Arc::clone(&manager), Arc::clone(&stopping));
        std::thread::spawn(move || {
            let r = super::xen::serve(&mut p, &*m, &stop, log);
            stop.store(true, Ordering::SeqCst);
            r
        })
    });
    log(format_args!(
        "listening on {} (admin {})",
        match (&o.listen, o.xen) {
            (Some(p), true) => format!("{} and tpmback", p.display()),
            (Some(p), false) => p.display().to_string(),
            (None, _) => "tpmback".into(),
        },
        o.admin.display()
    ));
    let stop = || {
        if signal::take() {
            stopping.store(true, Ordering::SeqCst);
        }
        stopping.load(Ordering::SeqCst)
    };
    let served = server::serve(
        &manager,
        &Sockets {
            domains,
            admin,
            paths: paths.clone(),
        },
        stop,
        log,
    )
    .map_err(|e| e.to_string());
    stopping.store(true, Ordering::SeqCst);
    if let Some(t) = xen_thread {
        match t.join() {
            Ok(r) => r?,
            Err(_) => return Err("the tpmback thread panicked".into()),
        }
    }
    served?;
    log(format_args!("stopped"));
    Ok(())
}

type HostManager = Manager<vtpm_tools::transport::AnyTransport, FileDevice>;

fn start(o: &ServeOptions, hw: HwConfig) -> Result<HostManager, String> {
    let transport = o
        .tpm
        .open()
        .map_err(|e| format!("hardware TPM {}: {e}", o.tpm))?;
    let (dev, created) = super::file_device::open_or_create(&o.disk).map_err(|e| e.to_string())?;
    if created {
        log(format_args!("created a blank image {}", o.disk.display()));
    }
    let mut entropy = Zeroizing::new([0u8; 32]);
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut entropy[..]))
        .map_err(|e| format!("read /dev/urandom: {e}"))?;
    let (manager, report) = Manager::start(transport, dev, ManagerConfig { hw }, &entropy[..], log)
        .map_err(|e| format!("{}: {e}", o.disk.display()))?;
    report.log(&format_args!("image {}", o.disk.display()), log);
    Ok(manager)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn serve_needs_every_required_option() {
        let ok = parse(&args(
            "serve --tpm swtpm:127.0.0.1:2321 --disk /tmp/x --listen unix:/tmp/a --admin unix:/tmp/b \
             --pcr-policy sha256:0,7,23 --nv-index 0x01500010 --srk-handle 81000002",
        ))
        .unwrap();
        let Command::Serve(o) = ok else { panic!() };
        assert_eq!(o.nv_index, Some(0x0150_0010));
        assert_eq!(o.srk_handle, Some(0x8100_0002));
        assert_eq!(o.pcr_policy.unwrap().pcrs, 1 | 1 << 7 | 1 << 23);
        for bad in [
            "serve --disk /tmp/x --listen unix:/tmp/a --admin unix:/tmp/b",
            "serve --tpm spawn --disk /tmp/x --listen unix:/tmp/a --admin unix:/tmp/b",
            "serve --tpm swtpm:h:1 --disk /tmp/x --listen /tmp/a --admin unix:/tmp/b",
            "serve --tpm swtpm:h:1 --disk /tmp/x --listen unix:/tmp/a --admin unix:/tmp/a",
            "serve --tpm swtpm:h:1 --disk /tmp/x --listen unix:/tmp/a --admin unix:/tmp/b --pcr-policy sha256:24",
            "serve --tpm swtpm:h:1 --disk /tmp/x --listen unix:/tmp/a --admin unix:/tmp/b --pcr-policy md5:1",
            "serve --tpm swtpm:h:1 --disk /tmp/x --listen unix:/tmp/a --admin unix:/tmp/b --bogus",
            "frobnicate",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}

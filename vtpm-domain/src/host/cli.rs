//! The `vtpm-domain` command line (hand-written parsing: no dependency for a handful of
//! options). Exit codes: 0 success, 1 runtime failure (state refused, port taken, ...), 2 bad
//! usage.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::managed::{ManagedTpm, ManagerAddress, ManagerStorage};
use super::platform::HostPlatform;
use super::server::{Device, Limits, Protocol, Server, StopReason, response_code};
use super::signal;
use super::state_file::{StateFile, read_key_file, write_new_key_file};
use crate::domain::StartOutcome;
use crate::engine::Engine;

/// The help text.
pub const USAGE: &str = "\
vtpm-domain: a software TPM 2.0 served over TCP

USAGE:
    vtpm-domain serve (--swtpm-tcp ADDR:PORT | --mssim-tcp ADDR:PORT)
                      (--ephemeral | --state FILE --key-file KEYFILE
                       | --manager unix:PATH --uuid UUID --image FILE [--reset-image]
                       | --manager shm:REGION --image FILE [--reset-image])
                      [--startup-clear] [--ek-ca DIR] [--verbose]
    vtpm-domain ek-cert [--ca-dir DIR]
    vtpm-domain xen --image FILE [--reset-image] [--verbose]
    vtpm-domain keygen --key-file KEYFILE
    vtpm-domain help | --help

SERVE:
    --swtpm-tcp ADDR:PORT  swtpm socket protocol: data channel on PORT, control channel on
                           PORT+1 (QEMU tpm-emulator, tpm2-tss TCTI \"swtpm\")
    --mssim-tcp ADDR:PORT  TCG simulator protocol: command port PORT, platform port PORT+1
                           (tpm2-tss TCTI \"mssim\")
    --ephemeral            keep the TPM in memory only (a new TPM every start)
    --state FILE           keep the TPM sealed in FILE, written after every change
    --key-file KEYFILE     the 32-byte sealing key: 32 raw bytes or 64 hex digits, mode 0600
    --manager unix:PATH    keep the TPM's key with the vTPM manager (`vtpmmgr serve`) on its
                           domain socket PATH; the state is sealed on --image
    --manager shm:REGION   the same with the unikernel manager, over the shared-memory link
                           region file REGION (docs/shm-link.md); no --uuid: the manager's
                           own configuration names the vTPM of each link
    --uuid UUID            the vTPM's UUID, registered with `vtpmctl vtpm new GROUP UUID`
    --image FILE           the 2 MiB two-slot state image (created blank if missing)
    --reset-image          if the manager's record does not open the image (replaced, corrupt
                           or rolled back), start a NEW TPM and replace the record
    --startup-clear        send TPM2_Startup(CLEAR) at start (default: the client does)
    --ek-ca DIR            give the TPM an RSA and an ECC EK certificate (NV indices
                           0x01C00002 and 0x01C0000A) issued by the vTPM EK CA kept in DIR
                           (created if empty), unless it has them already
    --verbose              log every command code and response code to stderr

    A process start is a power cycle: the TPM waits for TPM2_Startup. Once listening,
    `listening on ADDR:PORT (control|platform ADDR:PORT+1)` is printed to stderr.

XEN:
    The vTPM domain of the Xen design, started by `vtpm-stack` (or another launcher) with
    VTPM_XEN in its environment: tpmfront device 0 to the manager (LOADHASHKEY/SAVEHASHKEY),
    tpmback to its guests, its state on --image. The toolstack's `control/shutdown` key, SIGTERM
    or SIGINT stop it after a final save.

EK-CERT:
    Prints the vTPM EK CA's certificate (PEM), the trust anchor of every EK certificate
    `serve --ek-ca DIR` issues; creates the CA in DIR first if DIR holds none. DIR defaults to
    $VTPM_EK_CA_DIR, else $XDG_DATA_HOME/vtpm-domain/ek-ca, else
    ~/.local/share/vtpm-domain/ek-ca.

KEYGEN:
    Writes a new random key (64 hex digits) to KEYFILE with mode 0600; never overwrites.
";

/// Where the TPM state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory only.
    Ephemeral,
    /// Sealed in a file.
    Sealed {
        /// The state file.
        state: PathBuf,
        /// The key file.
        key_file: PathBuf,
    },
    /// On a two-slot image, its key kept by the manager.
    Manager(ManagerStorage),
}

/// `serve` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The protocol.
    pub protocol: Protocol,
    /// The first port's address (the second port is the next one).
    pub addr: SocketAddr,
    /// Where the state lives.
    pub storage: Storage,
    /// Send TPM2_Startup(CLEAR) before listening.
    pub startup_clear: bool,
    /// Log commands.
    pub verbose: bool,
    /// Provision EK certificates from the CA in this folder.
    pub ek_ca: Option<PathBuf>,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print the help.
    Help,
    /// Write a new key file.
    Keygen {
        /// Where.
        key_file: PathBuf,
    },
    /// Run the server.
    Serve(ServeOptions),
    /// Run as a Xen-style vTPM domain.
    Xen(super::xen::XenOptions),
    /// Print the EK CA's certificate.
    EkCert {
        /// The CA folder (None: the default one).
        ca_dir: Option<PathBuf>,
    },
}

/// A command line that does not parse; the message says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Parses `ADDR:PORT`; PORT must leave room for PORT + 1.
pub fn parse_addr(s: &str) -> Result<SocketAddr, UsageError> {
    let addr = s
        .to_socket_addrs()
        .map_err(|e| usage(format!("bad address {s:?} (expected ADDR:PORT): {e}")))?
        .next()
        .ok_or_else(|| usage(format!("address {s:?} resolves to nothing")))?;
    if addr.port() == 0 || addr.port() == u16::MAX {
        return Err(usage(format!(
            "port {} in {s:?} is not usable: PORT and PORT+1 must both be real ports",
            addr.port()
        )));
    }
    Ok(addr)
}

/// Splits `--name=value` / `--name value` options off `args`.
struct Args {
    items: Vec<OsString>,
    pos: usize,
}

impl Args {
    /// The next option name and its inline value (`--name=value`), if any.
    fn next_option(&mut self) -> Result<Option<(String, Option<OsString>)>, UsageError> {
        let Some(arg) = self.items.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let text = arg
            .to_str()
            .ok_or_else(|| usage(format!("unexpected argument {arg:?}")))?;
        if !text.starts_with("--") {
            return Err(usage(format!("unexpected argument {text:?}")));
        }
        Ok(Some(match text.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(OsString::from(value))),
            None => (text.to_owned(), None),
        }))
    }

    fn value(&mut self, name: &str, inline: Option<OsString>) -> Result<OsString, UsageError> {
        if let Some(v) = inline {
            return Ok(v);
        }
        let v = self
            .items
            .get(self.pos)
            .cloned()
            .ok_or_else(|| usage(format!("{name} needs a value")))?;
        self.pos += 1;
        Ok(v)
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), UsageError> {
    if slot.is_some() {
        return Err(usage(format!("{name} given twice")));
    }
    *slot = Some(value);
    Ok(())
}

fn no_value(name: &str, inline: Option<&OsString>) -> Result<(), UsageError> {
    match inline {
        Some(_) => Err(usage(format!("{name} takes no value"))),
        None => Ok(()),
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Result<Command, UsageError> {
    let Some(first) = args.first() else {
        return Err(usage("no command given"));
    };
    let rest = Args {
        items: args[1..].to_vec(),
        pos: 0,
    };
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help);
    }
    match first.to_str() {
        Some("help") => {
            if args.len() > 1 {
                return Err(usage("help takes no arguments"));
            }
            Ok(Command::Help)
        }
        Some("keygen") => parse_keygen(rest),
        Some("ek-cert") => parse_ek_cert(rest),
        Some("serve") => parse_serve(rest),
        Some("xen") => parse_xen(rest),
        _ => Err(usage(format!("unknown command {first:?}"))),
    }
}

fn parse_keygen(mut args: Args) -> Result<Command, UsageError> {
    let mut key_file = None;
    while let Some((name, inline)) = args.next_option()? {
        match name.as_str() {
            "--key-file" => {
                let v = args.value(&name, inline)?;
                set_once(&mut key_file, PathBuf::from(v), &name)?;
            }
            _ => return Err(usage(format!("unknown keygen option {name}"))),
        }
    }
    let key_file = key_file.ok_or_else(|| usage("keygen needs --key-file KEYFILE"))?;
    Ok(Command::Keygen { key_file })
}

fn parse_ek_cert(mut args: Args) -> Result<Command, UsageError> {
    let mut ca_dir = None;
    while let Some((name, inline)) = args.next_option()? {
        match name.as_str() {
            "--ca-dir" => {
                let v = args.value(&name, inline)?;
                set_once(&mut ca_dir, PathBuf::from(v), &name)?;
            }
            _ => return Err(usage(format!("unknown ek-cert option {name}"))),
        }
    }
    Ok(Command::EkCert { ca_dir })
}

fn parse_xen(mut args: Args) -> Result<Command, UsageError> {
    let (mut image, mut reset_image, mut verbose) = (None, None, None);
    while let Some((name, inline)) = args.next_option()? {
        match name.as_str() {
            "--image" => {
                let v = args.value(&name, inline)?;
                set_once(&mut image, PathBuf::from(v), &name)?;
            }
            "--reset-image" => {
                no_value(&name, inline.as_ref())?;
                set_once(&mut reset_image, (), &name)?;
            }
            "--verbose" => {
                no_value(&name, inline.as_ref())?;
                set_once(&mut verbose, (), &name)?;
            }
            _ => return Err(usage(format!("unknown xen option {name}"))),
        }
    }
    Ok(Command::Xen(super::xen::XenOptions {
        image: image.ok_or_else(|| usage("xen needs --image FILE"))?,
        reset_image: reset_image.is_some(),
        verbose: verbose.is_some(),
    }))
}

fn parse_serve(mut args: Args) -> Result<Command, UsageError> {
    let mut listen: Option<(Protocol, SocketAddr)> = None;
    let mut ephemeral = None;
    let mut state = None;
    let mut key_file = None;
    let mut startup_clear = None;
    let mut verbose = None;
    let mut manager: Option<(bool, PathBuf)> = None;
    let mut uuid = None;
    let mut image = None;
    let mut reset_image = None;
    let mut ek_ca = None;
    while let Some((name, inline)) = args.next_option()? {
        match name.as_str() {
            "--ek-ca" => {
                let v = args.value(&name, inline)?;
                set_once(&mut ek_ca, PathBuf::from(v), &name)?;
            }
            "--swtpm-tcp" | "--mssim-tcp" => {
                let v = args.value(&name, inline)?;
                let text = v
                    .to_str()
                    .ok_or_else(|| usage(format!("bad address {v:?}")))?;
                let protocol = if name == "--swtpm-tcp" {
                    Protocol::Swtpm
                } else {
                    Protocol::Mssim
                };
                if listen.is_some() {
                    return Err(usage("give exactly one of --swtpm-tcp and --mssim-tcp"));
                }
                listen = Some((protocol, parse_addr(text)?));
            }
            "--ephemeral" => {
                no_value(&name, inline.as_ref())?;
                set_once(&mut ephemeral, (), &name)?;
            }
            "--state" => {
                let v = args.value(&name, inline)?;
                set_once(&mut state, PathBuf::from(v), &name)?;
            }
            "--key-file" => {
                let v = args.value(&name, inline)?;
                set_once(&mut key_file, PathBuf::from(v), &name)?;
            }
            "--startup-clear" => {
                no_value(&name, inline.as_ref())?;
                set_once(&mut startup_clear, (), &name)?;
            }
            "--manager" => {
                let v = args.value(&name, inline)?;
                let text = v
                    .to_str()
                    .ok_or_else(|| usage(format!("bad manager address {v:?}")))?;
                let (shm, path) = if let Some(p) = text.strip_prefix("unix:") {
                    (false, p)
                } else if let Some(p) = text.strip_prefix("shm:") {
                    (true, p)
                } else {
                    return Err(usage(format!(
                        "--manager {text:?}: expected unix:PATH or shm:REGION"
                    )));
                };
                if path.is_empty() {
                    return Err(usage(format!("--manager {text:?} needs a path")));
                }
                set_once(&mut manager, (shm, PathBuf::from(path)), &name)?;
            }
            "--uuid" => {
                let v = args.value(&name, inline)?;
                let parsed = v
                    .to_str()
                    .and_then(|t| t.parse::<vtpmmgr_protocol::Uuid>().ok())
                    .ok_or_else(|| usage(format!("--uuid {v:?} is not a UUID")))?;
                set_once(&mut uuid, parsed, &name)?;
            }
            "--image" => {
                let v = args.value(&name, inline)?;
                set_once(&mut image, PathBuf::from(v), &name)?;
            }
            "--reset-image" => {
                no_value(&name, inline.as_ref())?;
                set_once(&mut reset_image, (), &name)?;
            }
            "--verbose" => {
                no_value(&name, inline.as_ref())?;
                set_once(&mut verbose, (), &name)?;
            }
            _ => return Err(usage(format!("unknown serve option {name}"))),
        }
    }
    let (protocol, addr) = listen
        .ok_or_else(|| usage("serve needs --swtpm-tcp ADDR:PORT or --mssim-tcp ADDR:PORT"))?;
    let managed = manager.is_some() || uuid.is_some() || image.is_some() || reset_image.is_some();
    if managed {
        if ephemeral.is_some() || state.is_some() || key_file.is_some() {
            return Err(usage(
                "--manager/--uuid/--image cannot be combined with --ephemeral/--state/--key-file",
            ));
        }
        let address = match (manager, uuid) {
            (Some((false, socket)), Some(uuid)) => ManagerAddress::Unix { socket, uuid },
            (Some((true, region)), None) => ManagerAddress::Shm { region },
            (Some((true, _)), Some(_)) => {
                return Err(usage(
                    "--uuid does not go with --manager shm: (the manager's --link names the vTPM)",
                ));
            }
            _ => {
                return Err(usage(
                    "a manager-backed TPM needs --manager unix:PATH --uuid UUID --image FILE \
                     or --manager shm:REGION --image FILE",
                ));
            }
        };
        let Some(image) = image else {
            return Err(usage("a manager-backed TPM needs --image FILE"));
        };
        return Ok(Command::Serve(ServeOptions {
            protocol,
            addr,
            storage: Storage::Manager(ManagerStorage {
                manager: address,
                image,
                reset_image: reset_image.is_some(),
            }),
            startup_clear: startup_clear.is_some(),
            verbose: verbose.is_some(),
            ek_ca,
        }));
    }
    let storage = match (ephemeral, state, key_file) {
        (Some(()), None, None) => Storage::Ephemeral,
        (None, Some(state), Some(key_file)) => Storage::Sealed { state, key_file },
        (Some(()), _, _) => {
            return Err(usage(
                "--ephemeral cannot be combined with --state/--key-file",
            ));
        }
        (None, Some(_), None) => return Err(usage("--state needs --key-file KEYFILE")),
        (None, None, Some(_)) => return Err(usage("--key-file needs --state FILE")),
        (None, None, None) => {
            return Err(usage(
                "serve needs --ephemeral, --state FILE --key-file KEYFILE, --manager \
                 unix:PATH --uuid UUID --image FILE, or --manager shm:REGION --image FILE",
            ));
        }
    };
    Ok(Command::Serve(ServeOptions {
        protocol,
        addr,
        storage,
        startup_clear: startup_clear.is_some(),
        verbose: verbose.is_some(),
        ek_ca,
    }))
}

/// TPM2_Startup(CLEAR).
const STARTUP_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];

/// Loads or creates the TPM for `storage`.
fn open_device(storage: &Storage, verbose: bool) -> Result<Device, String> {
    let platform =
        HostPlatform::new().map_err(|e| format!("cannot open the OS random source: {e}"))?;
    match storage {
        Storage::Manager(m) => {
            let (tpm, report) = ManagedTpm::start(m, Box::new(platform))?;
            let who = match &m.manager {
                ManagerAddress::Unix { uuid, .. } => format!("vTPM {uuid}"),
                ManagerAddress::Shm { region } => format!("vTPM of link {}", region.display()),
            };
            let at = format!("slot {} generation {}", report.slot, report.generation);
            match &report.outcome {
                StartOutcome::FirstBoot => eprintln!(
                    "vtpm-domain: {who}: first boot: manufactured a new TPM (image {}, {at})",
                    m.image.display()
                ),
                StartOutcome::Loaded { slot, generation } => eprintln!(
                    "vtpm-domain: {who}: loaded generation {generation} from slot {slot} of {} \
                     (now {at})",
                    m.image.display()
                ),
                StartOutcome::Reset { cause } => eprintln!(
                    "vtpm-domain: {who}: RESET as asked (--reset-image): the old state was \
                     given up ({cause}); manufactured a new TPM ({at})"
                ),
            }
            Ok(Device::new(Box::new(tpm), None, verbose))
        }
        Storage::Ephemeral => Ok(Device::new(
            Box::new(Engine::manufacture(Box::new(platform))),
            None,
            verbose,
        )),
        Storage::Sealed { state, key_file } => {
            let key = read_key_file(key_file).map_err(|e| e.to_string())?;
            let (mut file, existing) = StateFile::open(state, key).map_err(|e| e.to_string())?;
            let Some(blob) = existing else {
                let engine = Engine::manufacture(Box::new(platform));
                file.save(&engine.save_state()).map_err(|e| e.to_string())?;
                eprintln!(
                    "vtpm-domain: {} did not exist: manufactured a new TPM into it",
                    state.display()
                );
                return Ok(Device::new(Box::new(engine), Some(file), verbose));
            };
            let engine = Engine::restore(&blob, Box::new(platform)).map_err(|e| {
                format!(
                    "state file {}: the TPM state does not load ({e}); refusing to start",
                    state.display()
                )
            })?;
            drop(blob);
            if verbose {
                eprintln!(
                    "vtpm-domain: loaded {} (generation {})",
                    state.display(),
                    file.generation()
                );
            }
            let mut dev = Device::new(Box::new(engine), Some(file), verbose);
            // A process start is a power cycle.
            dev.power_on().map_err(|e| e.to_string())?;
            Ok(dev)
        }
    }
}

/// Runs `serve` until a client or a signal stops it.
pub fn serve(opts: &ServeOptions) -> Result<StopReason, String> {
    signal::install();
    let mut device = open_device(&opts.storage, opts.verbose)?;
    if let Some(dir) = &opts.ek_ca {
        let done = super::ekca::provision_device(&mut device, dir)?;
        for index in &done.written {
            eprintln!(
                "vtpm-domain: wrote an EK certificate to NV index {index:#010x} (CA {})",
                dir.display()
            );
        }
    }
    if opts.startup_clear {
        let rsp = device.execute(0, &STARTUP_CLEAR);
        let rc = response_code(&rsp);
        if rc != 0 {
            return Err(format!("TPM2_Startup(CLEAR) failed with rc 0x{rc:08x}"));
        }
    }
    let server = Server::bind(opts.protocol, opts.addr, device, Limits::default())
        .map_err(|e| e.to_string())?;
    let (first, second) = server.local_addrs().map_err(|e| e.to_string())?;
    eprintln!(
        "listening on {first} ({} {second})",
        opts.protocol.second_port_name()
    );
    Ok(server.run())
}

/// Prints the EK CA's certificate.
pub fn ek_cert(ca_dir: Option<PathBuf>) -> Result<(), String> {
    let dir = ca_dir.or_else(super::ekca::default_dir).ok_or(
        "no CA folder: give --ca-dir DIR (neither VTPM_EK_CA_DIR, XDG_DATA_HOME nor HOME is set)",
    )?;
    let (pem, created) = super::ekca::ca_certificate_pem(&dir)?;
    if created {
        eprintln!("vtpm-domain: created a new vTPM EK CA in {}", dir.display());
    }
    print!("{pem}");
    Ok(())
}

/// Writes a new key file.
pub fn keygen(path: &Path) -> Result<(), String> {
    write_new_key_file(path).map_err(|e| e.to_string())?;
    eprintln!(
        "vtpm-domain: wrote a new key to {} (mode 0600)",
        path.display()
    );
    Ok(())
}

/// The program: parses `std::env::args_os()` and runs the command.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match parse(&args) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::EkCert { ca_dir }) => match ek_cert(ca_dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vtpm-domain: error: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Command::Keygen { key_file }) => match keygen(&key_file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vtpm-domain: error: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Command::Xen(opts)) => match super::xen::run(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vtpm-domain: error: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Command::Serve(opts)) => match serve(&opts) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vtpm-domain: error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("vtpm-domain: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        let v: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&v)
    }

    #[test]
    fn ek_options() {
        assert_eq!(
            p(&["ek-cert", "--ca-dir", "ca"]),
            Ok(Command::EkCert {
                ca_dir: Some(PathBuf::from("ca"))
            })
        );
        assert_eq!(p(&["ek-cert"]), Ok(Command::EkCert { ca_dir: None }));
        assert!(p(&["ek-cert", "--bogus"]).is_err());
        let Ok(Command::Serve(o)) = p(&[
            "serve",
            "--swtpm-tcp",
            "127.0.0.1:2321",
            "--ephemeral",
            "--ek-ca=ca",
        ]) else {
            panic!("serve --ek-ca does not parse");
        };
        assert_eq!(o.ek_ca, Some(PathBuf::from("ca")));
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(p(&["help"]), Ok(Command::Help));
        assert_eq!(p(&["--help"]), Ok(Command::Help));
        assert_eq!(p(&["serve", "--help"]), Ok(Command::Help));
        assert_eq!(
            p(&["keygen", "--key-file", "k"]),
            Ok(Command::Keygen {
                key_file: "k".into()
            })
        );
        let Ok(Command::Serve(o)) = p(&[
            "serve",
            "--swtpm-tcp",
            "127.0.0.1:2321",
            "--state=s",
            "--key-file",
            "k",
            "--startup-clear",
        ]) else {
            panic!("serve did not parse")
        };
        assert_eq!(o.protocol, Protocol::Swtpm);
        assert_eq!(o.addr, "127.0.0.1:2321".parse().unwrap());
        assert_eq!(
            o.storage,
            Storage::Sealed {
                state: "s".into(),
                key_file: "k".into()
            }
        );
        assert!(o.startup_clear && !o.verbose);
        let Ok(Command::Serve(o)) = p(&[
            "serve",
            "--ephemeral",
            "--mssim-tcp",
            "[::1]:2321",
            "--verbose",
        ]) else {
            panic!("serve did not parse")
        };
        assert_eq!(o.protocol, Protocol::Mssim);
        assert_eq!(o.storage, Storage::Ephemeral);
        assert!(o.verbose);
    }

    #[test]
    fn parses_the_manager_backed_form() {
        let uuid = "6f2c1b9e-0d7a-4c55-9a43-3e1f0f6b2a10";
        let Ok(Command::Serve(o)) = p(&[
            "serve",
            "--swtpm-tcp",
            "127.0.0.1:2321",
            "--manager",
            "unix:/run/vtpmmgr/domains.sock",
            "--uuid",
            uuid,
            "--image=/var/lib/vtpm/a.img",
            "--reset-image",
        ]) else {
            panic!("serve did not parse")
        };
        assert_eq!(
            o.storage,
            Storage::Manager(ManagerStorage {
                manager: ManagerAddress::Unix {
                    socket: "/run/vtpmmgr/domains.sock".into(),
                    uuid: uuid.parse().unwrap(),
                },
                image: "/var/lib/vtpm/a.img".into(),
                reset_image: true,
            })
        );
        let base = ["serve", "--swtpm-tcp", "127.0.0.1:2321"];
        for bad in [
            &["--manager", "unix:/s", "--uuid", uuid][..],
            &["--manager", "unix:/s", "--image", "i"],
            &["--uuid", uuid, "--image", "i"],
            &["--reset-image"],
            &["--manager", "/s", "--uuid", uuid, "--image", "i"],
            &["--manager", "unix:", "--uuid", uuid, "--image", "i"],
            &["--manager", "unix:/s", "--uuid", "nope", "--image", "i"],
            &[
                "--manager",
                "unix:/s",
                "--uuid",
                uuid,
                "--image",
                "i",
                "--ephemeral",
            ],
            &[
                "--manager",
                "unix:/s",
                "--uuid",
                uuid,
                "--image",
                "i",
                "--state",
                "s",
            ],
            &[
                "--manager",
                "unix:/s",
                "--uuid",
                uuid,
                "--uuid",
                uuid,
                "--image",
                "i",
            ],
            &[
                "--manager",
                "unix:/s",
                "--uuid",
                uuid,
                "--image",
                "i",
                "--reset-image=1",
            ],
        ] {
            let mut args = base.to_vec();
            args.extend_from_slice(bad);
            assert!(p(&args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refuses_bad_usage() {
        for bad in [
            &[][..],
            &["frobnicate"],
            &["help", "x"],
            &["keygen"],
            &["keygen", "--key-file"],
            &["keygen", "--key-file", "a", "--key-file", "b"],
            &["serve", "--ephemeral"],
            &["serve", "--swtpm-tcp", "127.0.0.1:2321"],
            &["serve", "--swtpm-tcp", "127.0.0.1:2321", "--state", "s"],
            &["serve", "--swtpm-tcp", "127.0.0.1:2321", "--key-file", "k"],
            &[
                "serve",
                "--swtpm-tcp",
                "127.0.0.1:2321",
                "--ephemeral",
                "--state",
                "s",
            ],
            &[
                "serve",
                "--swtpm-tcp",
                "127.0.0.1:2321",
                "--mssim-tcp",
                "127.0.0.1:1",
                "--ephemeral",
            ],
            &["serve", "--swtpm-tcp", "127.0.0.1:65535", "--ephemeral"],
            &["serve", "--swtpm-tcp", "127.0.0.1:0", "--ephemeral"],
            &["serve", "--swtpm-tcp", "nonsense", "--ephemeral"],
            &[
                "serve",
                "--swtpm-tcp",
                "127.0.0.1:2321",
                "--ephemeral",
                "--ephemeral",
            ],
            &["serve", "--swtpm-tcp", "127.0.0.1:2321", "--ephemeral=yes"],
            &[
                "serve",
                "--swtpm-tcp",
                "127.0.0.1:2321",
                "--ephemeral",
                "stray",
            ],
            &[
                "serve",
                "--swtpm-tcp",
                "127.0.0.1:2321",
                "--ephemeral",
                "--bogus",
            ],
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }
}

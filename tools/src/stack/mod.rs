//! `vtpm-stack`: the whole Xen design in hosted mode — a launcher playing hypervisor and
//! toolstack (store, grants, event channels), the manager and one process per vTPM domain, as
//! the xl configs describe them (reference `xen-vtpm.md` §1, §2.3, §9).
//!
//! `up` follows the order an administrator follows on Xen:
//! 1. the hardware TPM: a real one (`dev:`), swtpm, or — the embedded default — our own engine
//!    in its own process (`vtpm-domain serve` with a state file in the run directory);
//! 2. the manager domain (`vtpmmgr serve --xen`), on the manager config's disk image;
//! 3. provisioning through the manager's admin socket: a group, the vTPM domains' label hash as
//!    its authorised kernel, and each vTPM domain's UUID registered (VTPM_NEW) once;
//! 4. each vTPM domain (`vtpm-domain xen`) with its device towards the manager, keyed by the
//!    config's UUID;
//! 5. each guest's device towards its vTPM domain. Guests are domains of the launcher that the
//!    caller drives ([`Stack::guest`]): the demo and the tests play the guest kernels.
//!
//! `down` reverses it: guests disconnect, each domain is asked to shut down through its
//! `control/shutdown` store key (as xl does) and saves its state, then the manager and the
//! hardware TPM stop.

pub mod demo;
pub mod guest;
pub mod ops;
pub mod procs;
pub mod shm_guest;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use config::ConfigError;
use vtpmmgr_protocol::client::{Client, ClientError};
use vtpmmgr_protocol::{Reply, ReplyError, Request, ReturnCode, Uuid};
use xen::hosted::Launcher;
use xen::platform::{DomId, Platform};
use xen::xenbus::{self, XenbusState};

use crate::transport::TpmSpec;
use guest::GuestTpm;
use procs::{Binaries, Proc};

/// The security label the launcher gives each kind of domain (Xen: the XSM label). The manager
/// authorises vTPM domains by the SHA-256 of theirs.
pub const MANAGER_LABEL: &str = "system_u:system_r:vtpmmgr_t";
/// The vTPM domains' label.
pub const VTPM_LABEL: &str = "system_u:system_r:vtpm_t";
/// The guests' label.
pub const GUEST_LABEL: &str = "system_u:system_r:guest_t";

/// How long the manager may take to open (or format) its image.
const MANAGER_START: Duration = Duration::from_secs(120);
/// How long a domain may take to stop after its shutdown request.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the stack could not do something.
#[derive(Debug)]
pub enum StackError {
    /// A config file is wrong.
    Config(ConfigError),
    /// Preparing the run (binaries, directories, options).
    Setup(String),
    /// An operating-system call failed.
    Io(String),
    /// A process exited when it should run.
    Exited {
        /// Which.
        name: String,
        /// Its exit status.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// Something did not happen in time.
    Timeout {
        /// What.
        what: String,
        /// The end of the relevant log.
        log_tail: String,
    },
    /// The manager refused a provisioning step.
    Manager(String),
    /// The launcher's store or a guest link failed.
    Xen(String),
}

impl StackError {
    pub(crate) fn io(what: &str, e: &std::io::Error) -> StackError {
        StackError::Io(format!("{what}: {e}"))
    }
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Setup(s) | Self::Io(s) => f.write_str(s),
            Self::Exited {
                name,
                status,
                log_tail,
            } => write!(
                f,
                "{name} exited ({status}); its log ends with:\n{log_tail}"
            ),
            Self::Timeout { what, log_tail } => {
                write!(
                    f,
                    "timed out waiting for {what}; the log ends with:\n{log_tail}"
                )
            }
            Self::Manager(s) => write!(f, "manager: {s}"),
            Self::Xen(s) => write!(f, "launcher: {s}"),
        }
    }
}

impl std::error::Error for StackError {}

impl From<ConfigError> for StackError {
    fn from(e: ConfigError) -> Self {
        StackError::Config(e)
    }
}

fn xen_err(e: impl fmt::Display) -> StackError {
    StackError::Xen(e.to_string())
}

/// Which TPM plays the hardware TPM.
#[derive(Debug, Clone)]
pub enum HwTpm {
    /// Our own engine in its own process, its state in the run directory.
    Engine,
    /// A TPM reached through a transport (`swtpm:HOST:PORT`, `mssim:…`, `dev:/dev/tpmrm0`).
    Spec(TpmSpec),
}

/// What `up` needs.
pub struct StackOptions<'a> {
    /// Where images, sockets and logs live (created if missing). Relative `file:` disks in the
    /// configs resolve against it.
    pub run_dir: PathBuf,
    /// The hardware TPM.
    pub tpm: HwTpm,
    /// The xl config files: one manager, vTPM domains, guests.
    pub configs: Vec<PathBuf>,
    /// Progress messages.
    pub progress: &'a dyn Fn(&str),
}

/// One vTPM domain of a running stack.
#[derive(Debug)]
pub struct VtpmDomainRun {
    /// Its name (xl `name=`).
    pub name: String,
    /// Its domain id.
    pub domid: DomId,
    /// The UUID the manager keys it by.
    pub uuid: [u8; 16],
    /// Its image.
    pub image: PathBuf,
    proc: Proc,
}

/// One guest: a domain whose kernel the caller plays.
#[derive(Debug, Clone)]
pub struct GuestRun {
    /// Its name.
    pub name: String,
    /// Its domain id.
    pub domid: DomId,
    /// The vTPM domain serving it.
    pub vtpm: String,
    /// Its kernel, ramdisk and command line, for measurement (paths resolved against the
    /// config file's directory).
    pub kernel: PathBuf,
    /// The ramdisk, if any.
    pub ramdisk: Option<PathBuf>,
    /// The command line.
    pub cmdline: String,
    credential: String,
}

/// A running stack.
pub struct Stack {
    run_dir: PathBuf,
    launcher: Launcher,
    hw: Option<Proc>,
    /// The manager's domain id.
    pub manager_domid: DomId,
    manager: Option<Proc>,
    admin_socket: PathBuf,
    /// The vTPM domains.
    pub vtpms: Vec<VtpmDomainRun>,
    /// The guests.
    pub guests: Vec<GuestRun>,
    connected: BTreeMap<String, GuestTpm>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("run_dir", &self.run_dir)
            .field("vtpms", &self.vtpms)
            .field("guests", &self.guests)
            .finish_non_exhaustive()
    }
}

/// One line of `status`.
#[derive(Debug, Clone)]
pub struct DomainStatus {
    /// Name.
    pub name: String,
    /// "manager", "vtpm" or "guest".
    pub role: &'static str,
    /// Domain id.
    pub domid: DomId,
    /// The process id (guests and the launcher's own domains have none).
    pub pid: Option<u32>,
    /// The state of the domain's link towards its backend (vTPM domains: to the manager;
    /// guests: to their vTPM), as the backend's xenbus `state` key says.
    pub link: String,
}

/// Reads and checks the configs; also returns each domain's config directory by name (guests'
/// kernel and ramdisk paths are relative to it).
fn read_configs(
    paths: &[PathBuf],
) -> Result<(config::Stack, BTreeMap<String, PathBuf>), StackError> {
    let mut files = Vec::new();
    let mut dirs = BTreeMap::new();
    for p in paths {
        let text = fs::read_to_string(p)
            .map_err(|e| StackError::io(&format!("read {}", p.display()), &e))?;
        let file = p.display().to_string();
        let role = config::classify(&config::parse(&file, &text)?)?;
        dirs.insert(
            role.name().to_string(),
            p.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        );
        files.push((file, text));
    }
    Ok((config::stack(&files)?, dirs))
}

impl Stack {
    /// Starts everything the configs describe (module docs give the order).
    #[allow(clippy::too_many_lines, reason = "one linear start-up sequence")]
    pub fn up(opts: &StackOptions<'_>) -> Result<Stack, StackError> {
        let progress = opts.progress;
        let (cfg, dirs) = read_configs(&opts.configs)?;
        let bins = Binaries::locate(progress)?;
        let run = &opts.run_dir;
        procs::ensure_dir(run)?;
        let logs = run.join("logs");
        procs::ensure_dir(&logs)?;
        let launcher = Launcher::start(&run.join("xen")).map_err(xen_err)?;

        // 1. The hardware TPM.
        let (hw, tpm_spec) = match &opts.tpm {
            HwTpm::Spec(s) => (None, s.to_string()),
            HwTpm::Engine => {
                progress("starting the hardware TPM (our engine, state in hwtpm.state)");
                let key = run.join("hwtpm.key");
                if !key.exists() {
                    let status = Command::new(&bins.vtpm_domain)
                        .args(["keygen", "--key-file"])
                        .arg(&key)
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .map_err(|e| StackError::io("run vtpm-domain keygen", &e))?;
                    if !status.success() {
                        return Err(StackError::Setup(format!(
                            "vtpm-domain keygen failed ({status})"
                        )));
                    }
                }
                let port =
                    crate::swtpm::free_port_pair().map_err(|e| StackError::Setup(e.to_string()))?;
                let mut c = Command::new(&bins.vtpm_domain);
                c.args(["serve", "--swtpm-tcp"])
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--state")
                    .arg(run.join("hwtpm.state"))
                    .arg("--key-file")
                    .arg(&key);
                let mut p = Proc::spawn("hardware TPM", c, &[], &logs.join("hwtpm.log"))?;
                procs::wait_ready(&mut p, Duration::from_secs(30), || {
                    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                })?;
                (Some(p), format!("swtpm:127.0.0.1:{port}"))
            }
        };

        // 2. The manager.
        let m = &cfg.manager;
        progress(&format!("starting the manager domain {:?}", m.name));
        let (manager_domid, mcred) = launcher.create_domain(MANAGER_LABEL).map_err(xen_err)?;
        let mut dom0 = launcher.dom0();
        dom0.write(
            &format!("{}/name", xenbus::domain_path(manager_domid)),
            &m.name,
        )
        .map_err(xen_err)?;
        let admin_socket = run.join("admin.sock");
        let mut c = Command::new(&bins.vtpmmgr);
        c.args(["serve", "--xen", "--tpm", &tpm_spec, "--disk"])
            .arg(m.disk.resolve(&run.display().to_string()))
            .arg("--admin")
            .arg(format!("unix:{}", admin_socket.display()));
        manager_options(&m.options, run, &mut c)?;
        let mut manager = Proc::spawn(
            "manager",
            c,
            &[("VTPM_XEN", &mcred)],
            &logs.join("vtpmmgr.log"),
        )?;
        procs::wait_ready(&mut manager, MANAGER_START, || {
            Client::admin(&admin_socket).is_ok()
        })?;

        // 3. Provisioning.
        let uuids: Vec<[u8; 16]> = cfg
            .vtpm_domains
            .iter()
            .map(config::VtpmDomain::uuid)
            .collect();
        provision(&admin_socket, &uuids, progress)?;

        // 4. The vTPM domains.
        let mut vtpms = Vec::new();
        let mut by_name: BTreeMap<String, DomId> = BTreeMap::new();
        for v in &cfg.vtpm_domains {
            let uuid = v.uuid();
            let (domid, cred) = launcher.create_domain(VTPM_LABEL).map_err(xen_err)?;
            dom0.write(&format!("{}/name", xenbus::domain_path(domid)), &v.name)
                .map_err(xen_err)?;
            launcher
                .add_vtpm_device(manager_domid, domid, 0, &xenbus::format_uuid(&uuid))
                .map_err(xen_err)?;
            let image = PathBuf::from(v.disk.resolve(&run.display().to_string()));
            progress(&format!(
                "starting vTPM domain {:?} (domain {domid}, vTPM {})",
                v.name,
                xenbus::format_uuid(&uuid)
            ));
            let mut c = Command::new(&bins.vtpm_domain);
            c.args(["xen", "--image"]).arg(&image);
            let p = Proc::spawn(
                &v.name,
                c,
                &[("VTPM_XEN", &cred)],
                &logs.join(format!("{}.log", v.name)),
            )?;
            by_name.insert(v.name.clone(), domid);
            vtpms.push(VtpmDomainRun {
                name: v.name.clone(),
                domid,
                uuid,
                image,
                proc: p,
            });
        }

        // 5. The guests' devices.
        let mut guests = Vec::new();
        for g in &cfg.guests {
            let Some(spec) = g.vtpm.first() else { continue };
            let backend = *by_name.get(&spec.backend).ok_or_else(|| {
                StackError::Setup(format!(
                    "guest {:?}: no vTPM domain {:?}",
                    g.name, spec.backend
                ))
            })?;
            let (domid, credential) = launcher.create_domain(GUEST_LABEL).map_err(xen_err)?;
            dom0.write(&format!("{}/name", xenbus::domain_path(domid)), &g.name)
                .map_err(xen_err)?;
            let uuid = spec.uuid.unwrap_or_else(|| random_uuid(domid));
            launcher
                .add_vtpm_device(backend, domid, 0, &xenbus::format_uuid(&uuid))
                .map_err(xen_err)?;
            let base = dirs
                .get(&g.name)
                .cloned()
                .unwrap_or_else(|| PathBuf::from("."));
            guests.push(GuestRun {
                name: g.name.clone(),
                domid,
                vtpm: spec.backend.clone(),
                kernel: base.join(&g.kernel),
                ramdisk: g.ramdisk.as_ref().map(|r| base.join(r)),
                cmdline: g.cmdline.clone().unwrap_or_default(),
                credential,
            });
        }
        let mut stack = Stack {
            run_dir: run.clone(),
            launcher,
            hw,
            manager_domid,
            manager: Some(manager),
            admin_socket,
            vtpms,
            guests,
            connected: BTreeMap::new(),
        };
        // Every vTPM domain connects to the manager before `up` returns.
        for i in 0..stack.vtpms.len() {
            let (domid, name) = (stack.vtpms[i].domid, stack.vtpms[i].name.clone());
            let path = format!("{}/state", xenbus::backend_path(manager_domid, domid, 0));
            let mut dom0 = stack.launcher.dom0();
            let log = stack.vtpms[i].proc.log.clone();
            procs::wait_ready(&mut stack.vtpms[i].proc, Duration::from_secs(60), || {
                dom0.read(&path).ok().flatten().as_deref() == Some(XenbusState::Connected.as_str())
            })
            .map_err(|e| match e {
                StackError::Timeout { .. } => StackError::Timeout {
                    what: format!("vTPM domain {name} to connect to the manager"),
                    log_tail: procs::tail(&log),
                },
                other => other,
            })?;
        }
        Ok(stack)
    }

    /// The launcher (the toolstack's view: store, domains), for tools and tests that act as
    /// dom0 or create extra domains.
    pub fn launcher(&self) -> &Launcher {
        &self.launcher
    }

    /// The manager's process id, while it runs.
    pub fn manager_pid(&mut self) -> Option<u32> {
        let m = self.manager.as_mut()?;
        m.check_running().ok().map(|()| m.pid())
    }

    /// Each running vTPM domain's name and process id.
    pub fn vtpm_pids(&mut self) -> Vec<(String, u32)> {
        self.vtpms
            .iter_mut()
            .filter_map(|v| {
                v.proc
                    .check_running()
                    .ok()
                    .map(|()| (v.name.clone(), v.proc.pid()))
            })
            .collect()
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The manager's admin socket.
    pub fn admin_socket(&self) -> &Path {
        &self.admin_socket
    }

    /// Guest `name`'s TPM. The first call joins the launcher as that guest's domain and
    /// connects its tpmfront (as its kernel would at boot); the link then stays up until
    /// [`Stack::down`] (a domain's credential is good for one connection).
    pub fn guest(&mut self, name: &str) -> Result<&mut GuestTpm, StackError> {
        if !self.connected.contains_key(name) {
            let g = self
                .guests
                .iter()
                .find(|g| g.name == name)
                .ok_or_else(|| StackError::Setup(format!("no guest {name:?}")))?;
            let tpm = GuestTpm::connect(&g.name, &g.credential)
                .map_err(|e| StackError::Xen(e.to_string()))?;
            self.connected.insert(name.to_string(), tpm);
        }
        self.connected
            .get_mut(name)
            .ok_or_else(|| StackError::Setup(format!("no guest {name:?}")))
    }

    /// Each domain's state, read from the store.
    pub fn status(&mut self) -> Vec<DomainStatus> {
        let mut dom0 = self.launcher.dom0();
        let mut link = |backend: DomId, frontend: DomId| -> String {
            let path = format!("{}/state", xenbus::backend_path(backend, frontend, 0));
            match dom0.read(&path) {
                Ok(Some(s)) => XenbusState::parse(&s).map_or_else(
                    || format!("state {s:?}"),
                    |st| {
                        match st {
                            XenbusState::Connected => "connected",
                            XenbusState::InitWait => "ready (frontend not connected)",
                            XenbusState::Initialising => "created (backend not up)",
                            XenbusState::Closing | XenbusState::Closed => "closing/closed",
                            _ => "in transition",
                        }
                        .to_string()
                    },
                ),
                Ok(None) => "no device".into(),
                Err(e) => format!("unreadable: {e}"),
            }
        };
        let mut out = Vec::new();
        if let Some(m) = &mut self.manager {
            out.push(DomainStatus {
                name: m.name.clone(),
                role: "manager",
                domid: self.manager_domid,
                pid: m.check_running().ok().map(|()| m.pid()),
                link: "-".into(),
            });
        }
        for v in &mut self.vtpms {
            out.push(DomainStatus {
                name: v.name.clone(),
                role: "vtpm",
                domid: v.domid,
                pid: v.proc.check_running().ok().map(|()| v.proc.pid()),
                link: link(self.manager_domid, v.domid),
            });
        }
        for g in &self.guests {
            let backend = self
                .vtpms
                .iter()
                .find(|v| v.name == g.vtpm)
                .map_or(0, |v| v.domid);
            out.push(DomainStatus {
                name: g.name.clone(),
                role: "guest",
                domid: g.domid,
                pid: None,
                link: link(backend, g.domid),
            });
        }
        out
    }

    /// Stops everything in order; each domain saves its state first. Returns the names of
    /// processes that had to be killed (empty when everything stopped cleanly).
    pub fn down(mut self, progress: &dyn Fn(&str)) -> Result<Vec<String>, StackError> {
        let mut unclean = Vec::new();
        for (name, tpm) in std::mem::take(&mut self.connected) {
            progress(&format!("guest {name:?} disconnects from its vTPM"));
            tpm.close();
        }
        let mut dom0 = self.launcher.dom0();
        for v in std::mem::take(&mut self.vtpms) {
            progress(&format!("stopping vTPM domain {:?}", v.name));
            dom0.write(
                &format!("{}/control/shutdown", xenbus::domain_path(v.domid)),
                "poweroff",
            )
            .map_err(xen_err)?;
            if !v.proc.wait_or_kill(STOP_TIMEOUT)? {
                unclean.push(v.name.clone());
            }
        }
        if let Some(m) = self.manager.take() {
            progress("stopping the manager");
            dom0.write(
                &format!(
                    "{}/control/shutdown",
                    xenbus::domain_path(self.manager_domid)
                ),
                "poweroff",
            )
            .map_err(xen_err)?;
            if !m.wait_or_kill(STOP_TIMEOUT)? {
                unclean.push("manager".into());
            }
        }
        if let Some(hw) = self.hw.take() {
            progress("stopping the hardware TPM");
            // Our engine saves its state after every change; SIGKILL after the wait loses
            // nothing, but a clean stop is asked first through its own signal handling.
            terminate(&hw);
            if !hw.wait_or_kill(STOP_TIMEOUT)? {
                unclean.push("hardware TPM".into());
            }
        }
        Ok(unclean)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for v in std::mem::take(&mut self.vtpms) {
            v.proc.kill();
        }
        if let Some(m) = self.manager.take() {
            m.kill();
        }
        if let Some(h) = self.hw.take() {
            h.kill();
        }
    }
}

#[cfg(target_os = "linux")]
unsafe extern "C" {
    /// `int kill(pid_t pid, int sig)` from the C library.
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Sends SIGTERM to `p`.
fn terminate(p: &Proc) {
    const SIGTERM: i32 = 15;
    if let Ok(pid) = i32::try_from(p.pid()) {
        // SAFETY: `kill` is the C library function of that prototype; it only sends a signal
        // to the process we started (its PID cannot have been reused: we have not reaped it).
        let _ = unsafe { kill(pid, SIGTERM) };
    }
}

/// The manager config's `extra=` options that mean something to a hosted manager:
/// `owner_auth=` (TPM 2.0's default owner auth is empty, so `well-known` passes nothing; any
/// other value goes to a 0600 file, never to the command line) and `srk_handle=`. The TIS
/// options (`tpmlocality=`, `tpmiomem=`, `tpmirq=`, `tpmdriver=`) describe the register page of
/// a stub domain and have no meaning for a transport; a non-default `srk_auth=` is refused
/// (the manager's SRK has an empty auth value).
fn manager_options(
    o: &config::ManagerOptions,
    run: &Path,
    c: &mut Command,
) -> Result<(), StackError> {
    if o.srk_auth != config::AuthSpec::WellKnown {
        return Err(StackError::Setup(
            "srk_auth= other than well-known is not supported: the manager's SRK has an empty \
             auth value"
                .into(),
        ));
    }
    if o.owner_auth != config::AuthSpec::WellKnown {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = run.join("owner-auth");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StackError::io(&format!("create {}", path.display()), &e))?;
        f.write_all(&o.owner_auth.value()[..])
            .map_err(|e| StackError::io(&format!("write {}", path.display()), &e))?;
        c.arg("--owner-auth-file").arg(&path);
    }
    if let Some(h) = o.srk_handle {
        c.arg("--srk-handle").arg(format!("0x{h:08x}"));
    }
    Ok(())
}

/// A per-run UUID for a guest device without one (libxl generates a random one).
fn random_uuid(seed: DomId) -> [u8; 16] {
    let mut u = [0u8; 16];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut u);
    } else {
        u[..2].copy_from_slice(&seed.to_be_bytes());
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

fn mgr_call(client: &mut Client, req: &Request) -> Result<Reply, StackError> {
    client
        .call(req)
        .map_err(|e| StackError::Manager(format!("{req:?}: {e}")))
}

/// Makes sure the manager has a group authorising the vTPM domains' label and knows every
/// UUID. Idempotent: a restart finds everything in place and changes nothing.
fn provision(admin: &Path, uuids: &[[u8; 16]], progress: &dyn Fn(&str)) -> Result<(), StackError> {
    let mut c = Client::admin(admin)
        .map_err(|e| StackError::Manager(format!("connect {}: {e}", admin.display())))?;
    let Reply::GroupCount(n) = mgr_call(&mut c, &Request::GroupList)? else {
        return Err(StackError::Manager("GROUP_LIST: unexpected answer".into()));
    };
    if n == 0 {
        progress("manager: creating group 0");
        mgr_call(&mut c, &Request::GroupNew)?;
    }
    let Reply::Group(g) = mgr_call(&mut c, &Request::GroupShow { group: 0 })? else {
        return Err(StackError::Manager("GROUP_SHOW: unexpected answer".into()));
    };
    let hash = vtpm_label_hash();
    if !g.kernels.contains(&hash) {
        progress("manager: authorising the vTPM domains' label in group 0");
        let mut kernels = g.kernels.clone();
        kernels.push(hash);
        mgr_call(
            &mut c,
            &Request::GroupUpdate {
                group: 0,
                sequence: g.sequence + 1,
                kernels,
            },
        )?;
    }
    for u in uuids {
        let uuid = Uuid(*u);
        match c.call(&Request::VtpmShow { uuid }) {
            Ok(_) => {}
            // An unknown UUID: register it. Anything else is a failure to report.
            Err(ClientError::Reply(ReplyError::Refused(ReturnCode::BAD_PARAMETER))) => {
                progress(&format!("manager: registering vTPM {uuid}"));
                mgr_call(
                    &mut c,
                    &Request::VtpmNew {
                        group: 0,
                        uuid: Some(uuid),
                    },
                )?;
            }
            Err(e) => return Err(StackError::Manager(format!("VTPM_SHOW {uuid}: {e}"))),
        }
    }
    Ok(())
}

/// SHA-256 of [`VTPM_LABEL`]: the kernel hash the manager checks for vTPM domains.
pub fn vtpm_label_hash() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(VTPM_LABEL.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(extra: &str) -> config::ManagerOptions {
        let text = format!(
            "name=\"vtpmmgr\"\nkernel=\"vtpmmgr-stubdom.gz\"\nmemory=128\n\
             disk=[\"file:mgr.img,hda,w\"]\niomem=[\"fed40,5\"]\nextra=\"tpm2=1 {extra}\"\n"
        );
        let cfg = config::parse("mgr.cfg", &text).unwrap();
        match config::classify(&cfg).unwrap() {
            config::Role::Manager(m) => m.options,
            other => panic!("not a manager: {other:?}"),
        }
    }

    fn args(c: &Command) -> Vec<String> {
        c.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn manager_options_reach_the_manager_without_exposing_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let run = std::env::temp_dir().join(format!("vtpm-stack-opts-{}", std::process::id()));
        fs::create_dir_all(&run).unwrap();

        let mut c = Command::new("vtpmmgr");
        manager_options(&options(""), &run, &mut c).unwrap();
        assert!(
            args(&c).is_empty(),
            "well-known owner auth is TPM 2.0's empty auth"
        );

        let mut c = Command::new("vtpmmgr");
        manager_options(
            &options("owner_auth=text:s3cret srk_handle=81000001"),
            &run,
            &mut c,
        )
        .unwrap();
        let a = args(&c);
        assert_eq!(a[0], "--owner-auth-file");
        assert!(!a.iter().any(|x| x.contains("s3cret")), "{a:?}");
        let file = PathBuf::from(&a[1]);
        assert_eq!(
            fs::read(&file).unwrap(),
            <sha1::Sha1 as sha1::Digest>::digest(b"s3cret").to_vec()
        );
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(&a[2..], ["--srk-handle", "0x81000001"]);

        let mut c = Command::new("vtpmmgr");
        let e = manager_options(&options("srk_auth=text:x"), &run, &mut c).unwrap_err();
        assert!(e.to_string().contains("srk_auth"), "{e}");
        let _ = fs::remove_dir_all(&run);
    }
}

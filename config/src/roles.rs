//! The three kinds of domain in a vTPM stack and how a file is recognised as one of them
//! (reference `xen-vtpm.md` §9.2 example configurations, §9.3 manager options, §6.6 vTPM
//! domain options, §9.1 `vtpm=`).
//!
//! # Classification rules ([`classify`])
//!
//! The kernel's file name (after the last `/`) decides first, as it is what xl actually boots:
//! 1. it contains `vtpmmgr` → the **manager**;
//! 2. it contains `vtpm-stubdom` or `vtpm-domain` → a **vTPM domain**;
//! 3. otherwise, a file with `iomem=` or a `tpm2=` token in `extra=` → the **manager** (a
//!    manager kernel under another name; a stack's guests get no `iomem=`);
//! 4. otherwise, a file with a `disk=` and a `vtpm=` entry carrying a `uuid=` → a **vTPM
//!    domain** (a vTPM kernel under another name);
//! 5. anything else is a **guest**.
//!
//! Each role is then validated completely; every misconfiguration is an error that names the
//! setting's line and column.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use crate::devices::{Disk, VtpmSpec, parse_iomem};
use crate::error::{ConfigError, ErrorKind, Pos, invalid};
use crate::syntax::XlConfig;

/// What a configuration file describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The vTPM manager (owns the hardware TPM).
    Manager(ManagerDomain),
    /// A vTPM domain (serves one guest, stores its state through the manager).
    VtpmDomain(VtpmDomain),
    /// A guest using a vTPM.
    Guest(Guest),
}

impl Role {
    /// The domain name.
    pub fn name(&self) -> &str {
        match self {
            Self::Manager(m) => &m.name,
            Self::VtpmDomain(v) => &v.name,
            Self::Guest(g) => &g.name,
        }
    }

    /// The role in words.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Manager(_) => "manager",
            Self::VtpmDomain(_) => "vTPM domain",
            Self::Guest(_) => "guest",
        }
    }
}

/// The manager domain (§9.2, §9.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerDomain {
    /// `name=`.
    pub name: String,
    /// `kernel=`.
    pub kernel: String,
    /// `memory=` in MiB.
    pub memory_mb: u64,
    /// The one `disk=` (vdev `hda`, writable).
    pub disk: Disk,
    /// `iomem=` ranges as (first page frame, page count).
    pub iomem: Vec<(u64, u64)>,
    /// The options in `extra=`.
    pub options: ManagerOptions,
}

/// How the manager reaches the hardware TPM (`tpmdriver=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpmDriver {
    /// The TIS MMIO interface (default).
    TpmTis,
    /// A TPM exported by another domain through tpmfront (testing).
    Tpmfront,
}

/// `tpmirq=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpmIrq {
    /// 0 (default): polling.
    Polling,
    /// A fixed interrupt line.
    Line(u32),
    /// `probe`: ask the TPM.
    Probe,
}

/// `owner_auth=` / `srk_auth=` (§9.3). The values are secrets: `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthSpec {
    /// `well-known` (default): twenty zero bytes.
    WellKnown,
    /// `hash:<40 hex>`: the 20-byte auth value itself.
    Hash(Zeroizing<[u8; 20]>),
    /// `text:<string>`: the auth value is SHA-1 of the string.
    Text(Zeroizing<String>),
}

impl AuthSpec {
    /// The 20-byte auth value this specification denotes.
    pub fn value(&self) -> Zeroizing<[u8; 20]> {
        match self {
            Self::WellKnown => Zeroizing::new([0; 20]),
            Self::Hash(h) => h.clone(),
            Self::Text(t) => Zeroizing::new(Sha1::digest(t.as_bytes()).into()),
        }
    }

    fn parse(key: &str, v: &str) -> Result<Self, String> {
        if v == "well-known" {
            return Ok(Self::WellKnown);
        }
        if let Some(hex) = v.strip_prefix("hash:") {
            let mut out = Zeroizing::new([0u8; 20]);
            if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{key}=hash: needs exactly 40 hex digits"));
            }
            for (i, byte) in out.iter_mut().enumerate() {
                let pair = hex.get(2 * i..2 * i + 2).unwrap_or("00");
                *byte = u8::from_str_radix(pair, 16).map_err(|_| format!("{key}=hash: bad hex"))?;
            }
            return Ok(Self::Hash(out));
        }
        if let Some(text) = v.strip_prefix("text:") {
            return Ok(Self::Text(Zeroizing::new(text.into())));
        }
        Err(format!(
            "{key}= must be well-known, hash:<40 hex> or text:<string>"
        ))
    }
}

impl fmt::Debug for AuthSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WellKnown => f.write_str("WellKnown"),
            Self::Hash(_) => f.write_str("Hash(<redacted>)"),
            Self::Text(_) => f.write_str("Text(<redacted>)"),
        }
    }
}

/// The manager's `extra=` options (§9.3). TPM 2.0 only: `tpm2=1` is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerOptions {
    /// `tpmlocality=` 0..=4 (default 0).
    pub locality: u8,
    /// `tpmiomem=` physical base address of the TIS registers (default 0xFED40000).
    pub tpm_iomem: u64,
    /// `tpmdriver=`.
    pub driver: TpmDriver,
    /// `tpmirq=`.
    pub irq: TpmIrq,
    /// `owner_auth=`.
    pub owner_auth: AuthSpec,
    /// `srk_auth=`.
    pub srk_auth: AuthSpec,
    /// `srk_handle=`: an existing parent key to use instead of creating one.
    pub srk_handle: Option<u32>,
}

/// The default TIS base address.
pub const DEFAULT_TPM_IOMEM: u64 = 0xFED4_0000;

impl ManagerOptions {
    /// The page frame of the TIS register page of the configured locality.
    pub const fn locality_pfn(&self) -> u64 {
        (self.tpm_iomem >> 12) + self.locality as u64
    }
}

/// A vTPM domain (§9.2 "vTPM domain", options §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VtpmDomain {
    /// `name=`.
    pub name: String,
    /// `kernel=`.
    pub kernel: String,
    /// `memory=` in MiB.
    pub memory_mb: u64,
    /// The one `disk=` (vdev `hda`, writable).
    pub disk: Disk,
    /// The one `vtpm=` entry: the manager as backend, and this vTPM's fixed UUID.
    pub manager: VtpmSpec,
    /// The options in `extra=`.
    pub options: VtpmOptions,
}

impl VtpmDomain {
    /// The vTPM's UUID (always present: classification requires it).
    pub fn uuid(&self) -> [u8; 16] {
        self.manager.uuid.unwrap_or_default()
    }
}

/// `loglevel=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `error`.
    Error,
    /// `info` (default).
    Info,
    /// `debug`.
    Debug,
}

/// The vTPM's startup mode (`clear`, `save`, `deactivated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupMode {
    /// `clear` (default).
    Clear,
    /// `save`.
    Save,
    /// `deactivated`.
    Deactivated,
}

/// A vTPM domain's `extra=` options (§6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VtpmOptions {
    /// `loglevel=`.
    pub loglevel: LogLevel,
    /// Startup mode.
    pub startup: StartupMode,
    /// `maintcmds=1`.
    pub maintcmds: bool,
    /// `hwinitpcr=` as written (a TPM 1.2 feature: recorded, not acted on).
    pub hwinitpcr: Option<String>,
    /// `locality=` entries as written (recorded).
    pub locality: Vec<String>,
}

/// A guest (§9.2 "Guest").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    /// `name=`.
    pub name: String,
    /// `kernel=`.
    pub kernel: String,
    /// `ramdisk=`.
    pub ramdisk: Option<String>,
    /// `cmdline=`, or as xl builds it from `root=` and `extra=` (`root=ROOT EXTRA`).
    pub cmdline: Option<String>,
    /// `memory=` in MiB.
    pub memory_mb: u64,
    /// The `vtpm=` entries.
    pub vtpm: Vec<VtpmSpec>,
}

/// The file name of a path.
fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Splits `extra=` into its space-separated tokens.
fn tokens(extra: &str) -> impl Iterator<Item = &str> {
    extra.split([' ', '\t']).filter(|t| !t.is_empty())
}

/// Decides what `cfg` describes (module docs: classification rules) and validates it.
pub fn classify(cfg: &XlConfig) -> Result<Role, ConfigError> {
    let kernel = cfg.string("kernel")?.unwrap_or("");
    let base = basename(kernel);
    let extra = cfg.string("extra")?.unwrap_or("");
    if base.contains("vtpmmgr") {
        return manager(cfg).map(Role::Manager);
    }
    if base.contains("vtpm-stubdom") || base.contains("vtpm-domain") {
        return vtpm_domain(cfg).map(Role::VtpmDomain);
    }
    if cfg.get("iomem").is_some() || tokens(extra).any(|t| t.starts_with("tpm2=")) {
        return manager(cfg).map(Role::Manager);
    }
    let has_fixed_uuid = cfg
        .string_list("vtpm")?
        .iter()
        .any(|(t, _)| VtpmSpec::parse(t).is_ok_and(|s| s.uuid.is_some()));
    if cfg.get("disk").is_some() && has_fixed_uuid {
        return vtpm_domain(cfg).map(Role::VtpmDomain);
    }
    guest(cfg).map(Role::Guest)
}

fn value_pos(cfg: &XlConfig, key: &str) -> Pos {
    cfg.get(key).map_or(Pos::FILE, |s| s.value_pos)
}

fn memory(cfg: &XlConfig) -> Result<u64, ConfigError> {
    match cfg.integer("memory")? {
        None => Err(cfg.error(Pos::FILE, ErrorKind::Missing("memory"))),
        Some(0) => Err(cfg.error(
            value_pos(cfg, "memory"),
            invalid("memory", "must be at least 1 (MiB)"),
        )),
        Some(m) => Ok(m),
    }
}

/// The one disk of a stub domain: `hda` (mini-os opens vbd 768, §9.2) and writable.
fn stub_disk(cfg: &XlConfig, role: &'static str) -> Result<Disk, ConfigError> {
    let disks = cfg.string_list("disk")?;
    let [(text, pos)] = disks.as_slice() else {
        if disks.is_empty() {
            return Err(cfg.error(Pos::FILE, ErrorKind::Missing("disk")));
        }
        return Err(cfg.error(
            value_pos(cfg, "disk"),
            invalid(
                "disk",
                format!("a {role} has exactly one disk, not {}", disks.len()),
            ),
        ));
    };
    let disk = Disk::parse(text).map_err(|r| cfg.error(*pos, invalid("disk", r)))?;
    if disk.vdev != "hda" {
        return Err(cfg.error(
            *pos,
            invalid(
                "disk",
                format!(
                    "vdev is {:?}; a {role} needs hda (mini-os opens vbd 768)",
                    disk.vdev
                ),
            ),
        ));
    }
    if !disk.writable {
        return Err(cfg.error(
            *pos,
            invalid(
                "disk",
                format!("a {role} must be able to write its disk (use ,w)"),
            ),
        ));
    }
    Ok(disk)
}

fn manager(cfg: &XlConfig) -> Result<ManagerDomain, ConfigError> {
    let name = cfg.required_string("name")?.to_string();
    let kernel = cfg.required_string("kernel")?.to_string();
    let memory_mb = memory(cfg)?;
    let disk = stub_disk(cfg, "manager")?;
    let options = manager_options(cfg)?;
    let mut iomem = Vec::new();
    for (text, pos) in cfg.string_list("iomem")? {
        iomem.push(parse_iomem(text).map_err(|r| cfg.error(pos, invalid("iomem", r)))?);
    }
    if options.driver == TpmDriver::TpmTis {
        let pfn = options.locality_pfn();
        let covered = iomem.iter().any(|&(s, n)| pfn >= s && pfn - s < n);
        if !covered {
            let msg = format!(
                "no range covers page {pfn:#x}, the TIS page of locality {} at {:#x} \
                 (use iomem=[\"{:x},5\"] for all localities)",
                options.locality,
                options.tpm_iomem,
                options.tpm_iomem >> 12
            );
            let pos = value_pos(cfg, "iomem");
            return Err(if iomem.is_empty() && cfg.get("iomem").is_none() {
                cfg.error(Pos::FILE, invalid("iomem", msg))
            } else {
                cfg.error(pos, invalid("iomem", msg))
            });
        }
    }
    if options.driver == TpmDriver::TpmTis && cfg.get("vtpm").is_some() {
        return Err(cfg.error(
            value_pos(cfg, "vtpm"),
            ErrorKind::NotAllowed {
                key: "vtpm",
                role: "manager",
                reason: "the manager uses the hardware TPM (only tpmdriver=tpmfront takes a vtpm=)",
            },
        ));
    }
    Ok(ManagerDomain {
        name,
        kernel,
        memory_mb,
        disk,
        iomem,
        options,
    })
}

fn manager_options(cfg: &XlConfig) -> Result<ManagerOptions, ConfigError> {
    let extra = cfg.string("extra")?.unwrap_or("");
    let pos = value_pos(cfg, "extra");
    let err = |r: String| cfg.error(pos, invalid("extra", r));
    let mut o = ManagerOptions {
        locality: 0,
        tpm_iomem: DEFAULT_TPM_IOMEM,
        driver: TpmDriver::TpmTis,
        irq: TpmIrq::Polling,
        owner_auth: AuthSpec::WellKnown,
        srk_auth: AuthSpec::WellKnown,
        srk_handle: None,
    };
    let mut tpm2 = false;
    for t in tokens(extra) {
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        match k {
            "tpm2" if v == "1" => tpm2 = true,
            "tpm2" => {
                return Err(err(format!(
                    "{t:?}: TPM 2.0 mode is selected by exactly tpm2=1"
                )));
            }
            "tpmlocality" => {
                o.locality = v
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= 4)
                    .ok_or_else(|| err(format!("{t:?}: tpmlocality must be 0 to 4")))?;
            }
            "tpmiomem" => {
                o.tpm_iomem = v
                    .strip_prefix("0x")
                    .or_else(|| v.strip_prefix("0X"))
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .filter(|a| a % 4096 == 0)
                    .ok_or_else(|| {
                        err(format!(
                            "{t:?}: tpmiomem must be a page-aligned 0x<hex> address"
                        ))
                    })?;
            }
            "tpmdriver" => {
                o.driver = match v {
                    "tpm_tis" => TpmDriver::TpmTis,
                    "tpmfront" => TpmDriver::Tpmfront,
                    _ => return Err(err(format!("{t:?}: tpmdriver must be tpm_tis or tpmfront"))),
                };
            }
            "tpmirq" => {
                o.irq = match v {
                    "probe" => TpmIrq::Probe,
                    "0" => TpmIrq::Polling,
                    n => TpmIrq::Line(
                        n.parse()
                            .map_err(|_| err(format!("{t:?}: tpmirq must be a number or probe")))?,
                    ),
                };
            }
            "owner_auth" => o.owner_auth = AuthSpec::parse(k, v).map_err(err)?,
            "srk_auth" => o.srk_auth = AuthSpec::parse(k, v).map_err(err)?,
            "srk_handle" => {
                let h = v
                    .strip_prefix("0x")
                    .or_else(|| v.strip_prefix("0X"))
                    .unwrap_or(v);
                o.srk_handle = Some(
                    u32::from_str_radix(h, 16)
                        .map_err(|_| err(format!("{t:?}: srk_handle must be a hex handle")))?,
                );
            }
            _ => {
                // Only the key is echoed: a mistyped auth option must not print its secret.
                return Err(err(format!("unknown manager option {k:?}")));
            }
        }
    }
    if !tpm2 {
        return Err(cfg.error(
            pos,
            invalid(
                "extra",
                "TPM 1.2 managers are not supported: add tpm2=1 to extra= (this manager drives a TPM 2.0)",
            ),
        ));
    }
    Ok(o)
}

fn vtpm_domain(cfg: &XlConfig) -> Result<VtpmDomain, ConfigError> {
    let name = cfg.required_string("name")?.to_string();
    let kernel = cfg.required_string("kernel")?.to_string();
    let memory_mb = memory(cfg)?;
    let disk = stub_disk(cfg, "vTPM domain")?;
    let entries = cfg.string_list("vtpm")?;
    let [(text, pos)] = entries.as_slice() else {
        if entries.is_empty() {
            return Err(cfg.error(Pos::FILE, ErrorKind::Missing("vtpm")));
        }
        return Err(cfg.error(
            value_pos(cfg, "vtpm"),
            invalid(
                "vtpm",
                format!(
                    "a vTPM domain has exactly one vtpm= entry (its manager), not {}",
                    entries.len()
                ),
            ),
        ));
    };
    let manager = VtpmSpec::parse(text).map_err(|r| cfg.error(*pos, invalid("vtpm", r)))?;
    if manager.uuid.is_none() {
        return Err(cfg.error(
            *pos,
            invalid(
                "vtpm",
                "a vTPM domain needs a fixed uuid= (the manager keys the vTPM's state by it)",
            ),
        ));
    }
    let options = vtpm_options(cfg)?;
    Ok(VtpmDomain {
        name,
        kernel,
        memory_mb,
        disk,
        manager,
        options,
    })
}

fn vtpm_options(cfg: &XlConfig) -> Result<VtpmOptions, ConfigError> {
    let extra = cfg.string("extra")?.unwrap_or("");
    let pos = value_pos(cfg, "extra");
    let err = |r: String| cfg.error(pos, invalid("extra", r));
    let mut o = VtpmOptions {
        loglevel: LogLevel::Info,
        startup: StartupMode::Clear,
        maintcmds: false,
        hwinitpcr: None,
        locality: Vec::new(),
    };
    for t in tokens(extra) {
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        match (k, v) {
            ("clear", "") => o.startup = StartupMode::Clear,
            ("save", "") => o.startup = StartupMode::Save,
            ("deactivated", "") => o.startup = StartupMode::Deactivated,
            ("loglevel", "error") => o.loglevel = LogLevel::Error,
            ("loglevel", "info") => o.loglevel = LogLevel::Info,
            ("loglevel", "debug") => o.loglevel = LogLevel::Debug,
            ("loglevel", _) => {
                return Err(err(format!("{t:?}: loglevel must be error, info or debug")));
            }
            ("maintcmds", "0") => o.maintcmds = false,
            ("maintcmds", "1") => o.maintcmds = true,
            ("maintcmds", _) => return Err(err(format!("{t:?}: maintcmds must be 0 or 1"))),
            ("hwinitpcr", v) if !v.is_empty() => o.hwinitpcr = Some(v.into()),
            ("locality", v) if !v.is_empty() => {
                if o.locality.len() == 16 {
                    return Err(err("at most 16 locality= options".into()));
                }
                o.locality.push(v.into());
            }
            _ => return Err(err(format!("unknown vTPM domain option {t:?}"))),
        }
    }
    Ok(o)
}

fn guest(cfg: &XlConfig) -> Result<Guest, ConfigError> {
    let name = cfg.required_string("name")?.to_string();
    let kernel = cfg.required_string("kernel")?.to_string();
    let memory_mb = memory(cfg)?;
    let ramdisk = cfg.string("ramdisk")?.map(ToString::to_string);
    let root = cfg.string("root")?;
    let extra = cfg.string("extra")?;
    let cmdline = match (cfg.string("cmdline")?, root, extra) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            let key = if root.is_some() { "root" } else { "extra" };
            return Err(cfg.error(
                cfg.get(key).map_or(Pos::FILE, |s| s.key_pos),
                invalid(
                    key,
                    "cmdline= and root=/extra= are both given (xl refuses this too)",
                ),
            ));
        }
        (Some(c), None, None) => Some(c.to_string()),
        (None, Some(r), Some(e)) => Some(format!("root={r} {e}")),
        (None, Some(r), None) => Some(format!("root={r}")),
        (None, None, Some(e)) => Some(e.to_string()),
        (None, None, None) => None,
    };
    let mut vtpm = Vec::new();
    for (text, pos) in cfg.string_list("vtpm")? {
        vtpm.push(VtpmSpec::parse(text).map_err(|r| cfg.error(pos, invalid("vtpm", r)))?);
    }
    Ok(Guest {
        name,
        kernel,
        ramdisk,
        cmdline,
        memory_mb,
        vtpm,
    })
}

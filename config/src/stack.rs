//! A whole stack: several files classified together and their cross-references checked
//! (reference `xen-vtpm.md` §9.1–§9.2).
//!
//! Rules, each an error naming the file and the offending setting:
//! - every file parses and classifies ([`crate::classify`]);
//! - domain names are unique across the files;
//! - there is exactly one manager;
//! - every vTPM domain's `backend=` names the manager;
//! - no two vTPM domains share a UUID (the manager keys vTPM state by it);
//! - every guest `backend=` names a vTPM domain of the stack (not the manager, not a guest);
//! - a guest names a vTPM domain at most once, and each vTPM domain serves at most one guest.
//!   Xen's vTPM accepts several frontends, but they share one TPM state: that is meant for a
//!   guest's own boot loader and kernel, never for two guests (their PCRs would mix).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{ConfigError, ErrorKind, Pos};
use crate::roles::{Guest, ManagerDomain, Role, VtpmDomain, classify};
use crate::syntax::{XlConfig, parse};

/// A checked stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// The manager.
    pub manager: ManagerDomain,
    /// The vTPM domains, in input order.
    pub vtpm_domains: Vec<VtpmDomain>,
    /// The guests, in input order.
    pub guests: Vec<Guest>,
}

impl Stack {
    /// The vTPM domain serving `guest` (its first `vtpm=` entry), if any.
    pub fn vtpm_of(&self, guest: &str) -> Option<&VtpmDomain> {
        let g = self.guests.iter().find(|g| g.name == guest)?;
        let b = &g.vtpm.first()?.backend;
        self.vtpm_domains.iter().find(|v| &v.name == b)
    }

    /// The guest a vTPM domain serves, if any.
    pub fn guest_of(&self, vtpm: &str) -> Option<&Guest> {
        self.guests
            .iter()
            .find(|g| g.vtpm.iter().any(|s| s.backend == vtpm))
    }
}

fn stack_err(cfg: &XlConfig, pos: Pos, msg: String) -> ConfigError {
    cfg.error(pos, ErrorKind::Stack(msg))
}

fn key_pos(cfg: &XlConfig, key: &str) -> Pos {
    cfg.get(key).map_or(Pos::FILE, |s| s.key_pos)
}

/// Where `vtpm=` item `i` is.
fn vtpm_item(cfg: &XlConfig, i: usize) -> Pos {
    cfg.get("vtpm").map_or(Pos::FILE, |s| s.item_pos(i))
}

/// Parses and classifies `(file name, text)` pairs and checks the stack's cross-references
/// (module docs).
pub fn stack(configs: &[(String, String)]) -> Result<Stack, ConfigError> {
    let mut parsed: Vec<(XlConfig, Role)> = Vec::with_capacity(configs.len());
    for (file, text) in configs {
        let cfg = parse(file, text)?;
        let role = classify(&cfg)?;
        if let Some((first, _)) = parsed.iter().find(|(_, r)| r.name() == role.name()) {
            return Err(stack_err(
                &cfg,
                key_pos(&cfg, "name"),
                format!(
                    "domain name {:?} is already used by {}",
                    role.name(),
                    first.file()
                ),
            ));
        }
        parsed.push((cfg, role));
    }
    let mut manager: Option<(&XlConfig, &ManagerDomain)> = None;
    for (cfg, role) in &parsed {
        if let Role::Manager(m) = role {
            if let Some((first, _)) = manager {
                return Err(stack_err(
                    cfg,
                    key_pos(cfg, "name"),
                    format!("a second manager (the first is in {})", first.file()),
                ));
            }
            manager = Some((cfg, m));
        }
    }
    let Some((_, mgr)) = manager else {
        return Err(ConfigError::new(
            "(stack)",
            Pos::FILE,
            ErrorKind::Stack("no manager configuration among the files".into()),
        ));
    };
    let mut vtpms: Vec<(&XlConfig, &VtpmDomain)> = Vec::new();
    for (cfg, role) in &parsed {
        let Role::VtpmDomain(v) = role else { continue };
        if v.manager.backend != mgr.name {
            return Err(stack_err(
                cfg,
                vtpm_item(cfg, 0),
                format!(
                    "backend={} is not the manager (the manager is named {:?})",
                    v.manager.backend, mgr.name
                ),
            ));
        }
        if let Some((other, _)) = vtpms.iter().find(|(_, o)| o.uuid() == v.uuid()) {
            return Err(stack_err(
                cfg,
                vtpm_item(cfg, 0),
                format!(
                    "uuid {} is already used by the vTPM domain in {}",
                    xen::xenbus::format_uuid(&v.uuid()),
                    other.file()
                ),
            ));
        }
        vtpms.push((cfg, v));
    }
    // vTPM domain name -> the guest file that uses it.
    let mut served: Vec<(&str, &str)> = Vec::new();
    for (cfg, role) in &parsed {
        let Role::Guest(g) = role else { continue };
        for (i, spec) in g.vtpm.iter().enumerate() {
            let pos = vtpm_item(cfg, i);
            let b = spec.backend.as_str();
            if !vtpms.iter().any(|(_, v)| v.name == b) {
                let why = if b == mgr.name {
                    "is the manager; a guest attaches to a vTPM domain"
                } else {
                    "names no vTPM domain of the stack"
                };
                return Err(stack_err(cfg, pos, format!("backend={b} {why}")));
            }
            if let Some((_, user)) = served.iter().find(|(v, _)| *v == b) {
                let msg = if *user == cfg.file() {
                    format!("backend={b} is listed twice")
                } else {
                    format!(
                        "vTPM domain {b} already serves the guest in {user}; \
                         each vTPM domain serves one guest"
                    )
                };
                return Err(stack_err(cfg, pos, msg));
            }
            served.push((b, cfg.file()));
        }
    }
    let mut vtpm_domains = Vec::new();
    let mut guests = Vec::new();
    let mut the_manager = None;
    for (_, role) in parsed {
        match role {
            Role::Manager(m) => the_manager = Some(m),
            Role::VtpmDomain(v) => vtpm_domains.push(v),
            Role::Guest(g) => guests.push(g),
        }
    }
    let manager = the_manager.ok_or_else(|| {
        ConfigError::new("(stack)", Pos::FILE, ErrorKind::Stack("no manager".into()))
    })?;
    Ok(Stack {
        manager,
        vtpm_domains,
        guests,
    })
}

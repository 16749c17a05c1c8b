//! `vtpmmgr` as a Hermit unikernel stub domain: the hardware TPM through the TIS registers at
//! 0xfed40000, the store on the first ivshmem region, vTPM domains on the further ivshmem
//! regions (shared-memory tpmif links, `docs/shm-link.md`). Everything it does is printed on
//! the serial console; `cargo xtask run vtpmmgr` starts it under QEMU.
//!
//! Arguments (after `--` on QEMU's `-append`, written by the toolstack):
//! - `--check`: start (format a blank disk or open the store), print what was found, stop.
//! - `--link SLOT=UUID[,LABEL]`: the ivshmem region in PCI slot SLOT is the link of the vTPM
//!   with this UUID, whose domain has security label LABEL (default `vtpm-domain`; the
//!   manager checks SHA-256 of it as the domain's kernel hash). Repeatable. The identity comes
//!   from here, never from the region, which the vTPM domain can write.
//! - `--locality N`: the TPM locality to use (default 0).
//! - default: start, then serve the links until QEMU is stopped (every change is committed
//!   before it is answered, so stopping at any time loses nothing).

use std::cell::RefCell;
use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use shmlink::{LinkBackend, LinkEvent, MemWindow};
use vtpm_hermit::{entropy, ivshmem, tis};
use vtpmmgr::Uuid;
use vtpmmgr::backend::{Declared, label_hash, provision};
use vtpmmgr::manager::{Connection, Manager, ManagerConfig, Peer};
use vtpmmgr::protocol::{Rejection, ReturnCode, tag};

/// One `--link` argument.
struct LinkSpec {
    slot: u8,
    uuid: Uuid,
    label: String,
}

fn parse_link(v: &str) -> Result<LinkSpec, String> {
    let bad = || format!("--link {v:?}: expected SLOT=UUID[,LABEL]");
    let (slot, rest) = v.split_once('=').ok_or_else(bad)?;
    let slot: u8 = slot.parse().ok().filter(|s| *s < 32).ok_or_else(bad)?;
    let (uuid, label) = rest.split_once(',').unwrap_or((rest, "vtpm-domain"));
    let uuid: Uuid = uuid
        .parse()
        .map_err(|e| format!("--link {v:?}: bad UUID {uuid:?}: {e}"))?;
    if label.is_empty() {
        return Err(bad());
    }
    Ok(LinkSpec {
        slot,
        uuid,
        label: label.to_string(),
    })
}

fn log(args: fmt::Arguments<'_>) {
    println!("vtpmmgr: {args}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            log(format_args!("stopped"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            log(format_args!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut check = false;
    let mut locality = 0u8;
    let mut links: Vec<LinkSpec> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--check" => check = true,
            "--link" => links.push(parse_link(it.next().ok_or("--link needs SLOT=UUID")?)?),
            "--locality" => {
                locality = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|l| *l <= 4)
                    .ok_or("--locality needs a number from 0 to 4")?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (expected --check, --link SLOT=UUID[,LABEL], --locality N)"
                ));
            }
        }
    }
    log(format_args!("unikernel stub domain starting"));
    let (transport, chip) = tis::open(locality)?;
    log(format_args!(
        "TIS at {:#x}: DID_VID {:#010x} (vendor {:#06x}, device {:#06x}), RID {:#04x}, interface version {}, locality {locality}",
        tis::TIS_BASE,
        chip.did_vid,
        chip.vendor_id(),
        chip.device_id(),
        chip.rid,
        chip.interface_version(),
    ));
    let regions = ivshmem::find()?;
    let disk_region = regions
        .first()
        .ok_or("no ivshmem region for the disk (QEMU: -device ivshmem-plain)")?;
    log(format_args!(
        "disk: ivshmem in slot {} at {:#x}, {} KiB",
        disk_region.slot,
        disk_region.address,
        disk_region.size / 1024
    ));
    // SAFETY: the region is identity-mapped (checked by `find`) and only this disk uses it.
    let disk = unsafe { ivshmem::RegionDisk::new(disk_region) };
    let (host_entropy, source) = entropy::gather();
    log(format_args!(
        "host entropy: {source:?}, mixed with the TPM's GetRandom"
    ));
    let (manager, report) = Manager::start(
        transport,
        disk,
        ManagerConfig::default(),
        &host_entropy[..],
        log,
    )
    .map_err(|e| format!("start: {e}"))?;
    report.log(&"the store on the ivshmem disk", log);
    log(format_args!("SRK name {}", hex(manager.srk_name())));
    log(format_args!(
        "SK and sealed root key: binding SHA-256 {}",
        hex(&Sha256::digest(manager.binding()))
    ));
    if check {
        manager.shut_down().map_err(|e| format!("shut down: {e}"))?;
        return Ok(());
    }
    for (i, l) in links.iter().enumerate() {
        if links[..i].iter().any(|m| m.slot == l.slot) {
            return Err(format!("--link: slot {} is named twice", l.slot));
        }
    }
    let mut manager = manager;
    let declared: Vec<Declared> = links
        .iter()
        .map(|l| Declared {
            uuid: l.uuid,
            kernel_hash: label_hash(&l.label),
        })
        .collect();
    provision(&mut manager, &declared, log).map_err(|e| format!("provisioning the links: {e}"))?;
    let mut served = Vec::new();
    for spec in links {
        let region = regions
            .iter()
            .skip(1)
            .find(|r| r.slot == spec.slot)
            .ok_or_else(|| format!("--link: no ivshmem region in PCI slot {}", spec.slot))?;
        // SAFETY: the region is identity-mapped (checked by `find`); each slot is named once
        // per link and the disk is never a link (it is skipped above).
        let window = unsafe { region.window() };
        let backend =
            LinkBackend::new(window).map_err(|e| format!("link in slot {}: {e}", spec.slot))?;
        log(format_args!(
            "link in slot {}: vTPM {} (label {:?})",
            spec.slot, spec.uuid, spec.label
        ));
        served.push(Link {
            spec,
            backend,
            conn: None,
        });
    }
    log(format_args!("ready: serving {} link(s)", served.len()));
    serve(&RefCell::new(manager), &mut served)
}

struct Link {
    spec: LinkSpec,
    backend: LinkBackend<MemWindow>,
    conn: Option<Connection>,
}

/// Polls every link; sleeps a little when none had anything (the notification latency of
/// polling).
fn serve<T: tpm2::transport::Transport, D: block::BlockDevice>(
    manager: &RefCell<Manager<T, D>>,
    links: &mut [Link],
) -> ! {
    let mut idle_since = Instant::now();
    loop {
        let mut busy = false;
        for link in links.iter_mut() {
            let Some(event) = link.backend.poll() else {
                continue;
            };
            busy = true;
            match event {
                LinkEvent::Connected { session } => {
                    let mut m = manager.borrow_mut();
                    if let Some(old) = link.conn.take() {
                        m.disconnect(old);
                    }
                    link.conn = Some(m.connect(Peer::Domain {
                        uuid: link.spec.uuid,
                        kernel_hash: label_hash(&link.spec.label),
                    }));
                    log(format_args!(
                        "link in slot {}: session {session} connected",
                        link.spec.slot
                    ));
                }
                LinkEvent::Disconnected => {
                    if let Some(old) = link.conn.take() {
                        manager.borrow_mut().disconnect(old);
                    }
                    log(format_args!("link in slot {}: closed", link.spec.slot));
                }
                LinkEvent::Request { command, .. } => {
                    let answer = match link.conn.as_mut() {
                        Some(conn) => manager.borrow_mut().handle(conn, &command),
                        None => refusal("no session on this link"),
                    };
                    if let Err(e) = link.backend.respond(&answer) {
                        log(format_args!("link in slot {}: {e}", link.spec.slot));
                    }
                }
                LinkEvent::Malformed(e) => {
                    log(format_args!(
                        "link in slot {}: refused: {e}",
                        link.spec.slot
                    ));
                    if let Err(e) = link.backend.respond(&refusal("malformed request")) {
                        log(format_args!("link in slot {}: {e}", link.spec.slot));
                    }
                }
            }
        }
        if busy {
            idle_since = Instant::now();
        } else if idle_since.elapsed() > Duration::from_millis(20) {
            // Long idle: a coarser poll leaves the CPU to QEMU's other threads.
            std::thread::sleep(Duration::from_micros(500));
        } else {
            std::hint::spin_loop();
        }
    }
}

fn refusal(reason: &'static str) -> Vec<u8> {
    Rejection {
        tag: tag::RSP,
        code: ReturnCode::FAIL,
        reason,
    }
    .encode()
}

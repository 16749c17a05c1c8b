//! `vtpmmgr` as a Hermit unikernel stub domain: the hardware TPM through the TIS registers at
//! 0xfed40000, the store on the first ivshmem region, vTPM domains on the further ivshmem
//! regions (shared-memory tpmif links, `docs/shm-link.md`). Everything it does is printed on
//! the serial console; `cargo xtask run vtpmmgr` starts it under QEMU.
//!
//! Arguments (after `--` on QEMU's `-append`):
//! - `--check`: start (format a blank disk or open the store), print what was found, stop.
//! - default: start, then serve vTPM domains until a link's toolstack asks for shutdown.

use std::fmt;
use std::process::ExitCode;

use sha2::{Digest, Sha256};
use vtpm_hermit::{entropy, ivshmem, tis};
use vtpmmgr::manager::{Manager, ManagerConfig};

fn log(args: fmt::Arguments<'_>) {
    println!("vtpmmgr: {args}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--check" => check = true,
            "--locality" => {
                locality = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|l| *l <= 4)
                    .ok_or("--locality needs a number from 0 to 4")?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (expected --check, --locality N)"
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
    log(format_args!("hardware TPM: {}", report.tpm));
    if report.formatted {
        log(format_args!(
            "formatted a blank disk: new store, manager {}",
            report.manager_uuid
        ));
    } else if let Some(open) = &report.open {
        log(format_args!(
            "opened the store: manager {}, generation {}, hardware counter {}{}",
            report.manager_uuid,
            open.sequence,
            open.counter,
            if open.rolled_forward {
                "; the last commit's counter increment was redone"
            } else {
                ""
            }
        ));
        for d in &open.damage {
            log(format_args!("warning: {d}"));
        }
    }
    log(format_args!("SRK name {}", hex(manager.srk_name())));
    log(format_args!(
        "SK and sealed root key: binding SHA-256 {}",
        hex(&Sha256::digest(manager.binding()))
    ));
    if check {
        manager.shut_down().map_err(|e| format!("shut down: {e}"))?;
        return Ok(());
    }
    log(format_args!("ready: {} link region(s)", regions.len() - 1));
    Ok(())
}

//! `vtpm-domain` as a Hermit unikernel stub domain: one guest's TPM 2.0. Its state image is an
//! ivshmem region, its key is kept by the manager over a shared-memory link
//! (`docs/shm-link.md`; this domain is the link's frontend), and its guest reaches it over a
//! second link (this domain is that link's backend; the payload is TPM 2.0 commands, as on
//! tpmif). Everything it does is printed on the serial console.
//!
//! Arguments (after `--` on QEMU's `-append`, written by the toolstack):
//! - `--disk SLOT`: the ivshmem region holding the two-slot state image (2 MiB).
//! - `--manager SLOT`: the link to the manager.
//! - `--guest SLOT`: the link the guest's TPM commands come on.
//! - `--reset-image`: start a new TPM if the manager's record does not open the image.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shmlink::{LinkBackend, LinkEvent, LinkFrontend, MemWindow};
use vtpm_domain::domain::{Domain, DomainOptions, LinkError, ManagerLink, StartOutcome};
use vtpm_hermit::clock::Clock;
use vtpm_hermit::entropy::EnginePlatform;
use vtpm_hermit::ivshmem::{self, Ivshmem, RegionDisk};

/// How long the manager may take to acknowledge the link, and to answer one request.
const MANAGER_MS: u64 = 60_000;

fn log(args: std::fmt::Arguments<'_>) {
    println!("vtpm-domain: {args}");
}

/// The manager, over the shared-memory link; a broken session is reopened on the next call.
struct ManagerShm {
    window: Option<MemWindow>,
    front: Option<LinkFrontend<MemWindow, Clock>>,
    /// Whether the first answer (LOADHASHKEY) has been timed.
    timed: bool,
}

impl ManagerLink for ManagerShm {
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        if self.front.is_none() {
            let window = self
                .window
                .take()
                .ok_or_else(|| LinkError::NotSent("the link to the manager is gone".into()))?;
            match LinkFrontend::connect(window, Clock::new(), MANAGER_MS) {
                Ok(f) => self.front = Some(f),
                Err(e) => return Err(LinkError::NotSent(format!("manager link: {e}"))),
            }
        }
        let front = self
            .front
            .as_mut()
            .ok_or_else(|| LinkError::NotSent("the link to the manager is closed".into()))?;
        let started = Instant::now();
        match front.transmit(0, request, MANAGER_MS) {
            Ok(answer) => {
                if !self.timed {
                    self.timed = true;
                    log(format_args!(
                        "manager link: first request (LOADHASHKEY) answered in {} µs",
                        started.elapsed().as_micros()
                    ));
                }
                Ok(answer)
            }
            Err((sent, e)) => {
                if let Some(f) = self.front.take() {
                    self.window = Some(f.close());
                }
                let why = format!("manager link: {e}");
                Err(if sent {
                    LinkError::NoAnswer(why)
                } else {
                    LinkError::NotSent(why)
                })
            }
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log(format_args!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn slot_arg(it: &mut std::slice::Iter<'_, String>, name: &str) -> Result<u8, String> {
    it.next()
        .and_then(|v| v.parse().ok())
        .filter(|s| *s < 32)
        .ok_or_else(|| format!("{name} needs a PCI slot number (0-31)"))
}

fn region(regions: &[Ivshmem], slot: u8, what: &str) -> Result<Ivshmem, String> {
    regions
        .iter()
        .find(|r| r.slot == slot)
        .copied()
        .ok_or_else(|| format!("no ivshmem region in PCI slot {slot} for the {what}"))
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut disk, mut manager, mut guest, mut reset_image) = (None, None, None, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--disk" => disk = Some(slot_arg(&mut it, a)?),
            "--manager" => manager = Some(slot_arg(&mut it, a)?),
            "--guest" => guest = Some(slot_arg(&mut it, a)?),
            "--reset-image" => reset_image = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (expected --disk SLOT --manager SLOT --guest \
                     SLOT [--reset-image])"
                ));
            }
        }
    }
    let (Some(disk), Some(manager), Some(guest)) = (disk, manager, guest) else {
        return Err("needs --disk SLOT --manager SLOT --guest SLOT".into());
    };
    if disk == manager || disk == guest || manager == guest {
        return Err("--disk, --manager and --guest must name three different slots".into());
    }
    log(format_args!("unikernel stub domain starting"));
    let regions = ivshmem::find()?;
    let (disk_r, manager_r, guest_r) = (
        region(&regions, disk, "disk")?,
        region(&regions, manager, "manager link")?,
        region(&regions, guest, "guest link")?,
    );
    let platform = EnginePlatform::new()?;
    log(format_args!(
        "entropy: {:?}; disk in slot {disk} ({} KiB), manager link in slot {manager}, guest link in slot {guest}",
        platform.source(),
        disk_r.size / 1024
    ));
    // SAFETY: the three regions are distinct slots (checked above), identity-mapped (checked
    // by `find`), and each is handed to exactly one owner below.
    let (dev, manager_w, guest_w) = unsafe {
        (
            RegionDisk::new(&disk_r),
            manager_r.window(),
            guest_r.window(),
        )
    };
    let link = ManagerShm {
        window: Some(manager_w),
        front: None,
        timed: false,
    };
    let started = Instant::now();
    let (mut domain, report) =
        Domain::start(link, dev, Box::new(platform), DomainOptions { reset_image })
            .map_err(|e| format!("start: {e}"))?;
    let at = format!("slot {} generation {}", report.slot, report.generation);
    match &report.outcome {
        StartOutcome::FirstBoot => log(format_args!("first boot: manufactured a new TPM ({at})")),
        StartOutcome::Loaded { slot, generation } => log(format_args!(
            "loaded generation {generation} from slot {slot} (now {at})"
        )),
        StartOutcome::Reset { cause } => log(format_args!(
            "RESET as asked (--reset-image): the old state was given up ({cause}); manufactured a \
             new TPM ({at})"
        )),
    }
    log(format_args!(
        "key from the manager and state loaded in {} ms",
        started.elapsed().as_millis()
    ));
    domain
        .power_on()
        .map_err(|e| format!("saving the power-on: {e}"))?;
    let mut backend =
        LinkBackend::new(guest_w).map_err(|e| format!("guest link in slot {guest}: {e}"))?;
    log(format_args!(
        "ready: serving the guest link in slot {guest}"
    ));
    let mut idle_since = Instant::now();
    loop {
        match backend.poll() {
            Some(LinkEvent::Request { locality, command }) => {
                let answer = domain.execute(locality, &command);
                if let Err(e) = backend.respond(&answer) {
                    log(format_args!("guest link: {e}"));
                }
                idle_since = Instant::now();
            }
            Some(LinkEvent::Malformed(e)) => {
                log(format_args!("guest link: refused: {e}"));
                // TPM_ST_NO_SESSIONS, 10 bytes, TPM_RC_COMMAND_SIZE.
                let answer = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x42];
                if let Err(e) = backend.respond(&answer) {
                    log(format_args!("guest link: {e}"));
                }
            }
            Some(LinkEvent::Connected { session }) => {
                log(format_args!("guest link: session {session} connected"));
            }
            Some(LinkEvent::Disconnected) => log(format_args!("guest link: closed")),
            None if idle_since.elapsed() > Duration::from_millis(20) => {
                std::thread::sleep(Duration::from_micros(500));
            }
            None => std::hint::spin_loop(),
        }
    }
}

//! `vtpm-domain xen`: the vTPM domain of the Xen design (reference `xen-vtpm.md` §6.1, §3.7),
//! on the tpmif platform (hosted: the launcher's shared memory and event channels).
//!
//! 1. Joins the platform (`VTPM_XEN` from the launcher) and connects tpmfront device 0 to the
//!    manager.
//! 2. Starts the [`Domain`]: LOADHASHKEY, the state image, a fresh TPM on first boot.
//! 3. Serves guests through tpmback (any number of frontends share the one TPM, as pv-grub
//!    and then Linux do). After every command that changed persistent state the new state is
//!    written and SAVEHASHKEY acknowledged before the guest sees its answer.
//! 4. Stops when the toolstack writes `control/shutdown` (or on SIGTERM/SIGINT): closes the
//!    guests' links, saves, and disconnects from the manager.
//!
//! Guest commands with the DeepQuote vendor code are answered here, not by the engine: the
//! vTPM's PCRs are bound into a GET_QUOTE of the manager (`vtpmmgr_protocol::deep_quote`).

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;

use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::rc::TpmRc;
use tpm2::response::{Response, error_response};
use tpm2::structures::{TpmlPcrSelection, TpmsPcrSelection};
use tpmback::{BackEvent, Backend};
use tpmfront::Frontend;
use vtpmmgr_protocol::deep_quote::{self, DeepQuoteCommand, DeepQuoteResponse};
use vtpmmgr_protocol::{Reply, Request};
use xen::hosted::HostedPlatform;
use xen::platform::Platform;
use xen::xenbus;

use super::managed::IMAGE_SECTORS;
use super::platform::HostPlatform;
use super::signal;
use crate::domain::{Domain, DomainOptions, LinkError, ManagerLink, StartOutcome};

/// How long the manager may take to answer one request.
const MANAGER_MS: u64 = 60_000;
/// How long to wait for the manager's backend at start.
const CONNECT_MS: u64 = 60_000;
/// How long one wait for events lasts before signals are polled again.
const POLL_MS: u64 = 100;

/// `xen` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XenOptions {
    /// The state image.
    pub image: PathBuf,
    /// Start a new TPM even though the manager holds a key for an older one.
    pub reset_image: bool,
    /// Log every command's code and answer code.
    pub verbose: bool,
}

type Shared = Rc<RefCell<HostedPlatform>>;

/// The manager, reached through tpmfront.
struct FrontLink {
    platform: Shared,
    front: Option<Frontend>,
}

impl ManagerLink for FrontLink {
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        let front = self
            .front
            .as_mut()
            .ok_or_else(|| LinkError::NotSent("the link to the manager is closed".into()))?;
        let mut p = self.platform.borrow_mut();
        // Whether a failed exchange reached the manager is unknown: the domain then checks
        // with LOADHASHKEY before it writes again.
        front
            .transmit(&mut *p, 0, request, MANAGER_MS)
            .map_err(|e| LinkError::NoAnswer(e.to_string()))
    }
}

fn log(args: fmt::Arguments<'_>) {
    eprintln!("vtpm-domain: {args}");
}

/// Runs the domain until it is asked to stop.
pub fn run(o: &XenOptions) -> Result<(), String> {
    let platform: Shared = Rc::new(RefCell::new(
        HostedPlatform::from_env().map_err(|e| format!("join the platform: {e}"))?,
    ));
    let me = platform.borrow().domid();
    let front = Frontend::connect(&mut *platform.borrow_mut(), 0, CONNECT_MS)
        .map_err(|e| format!("connect to the manager: {e}"))?;
    log(format_args!("domain {me}: connected to the manager"));
    let link = FrontLink {
        platform: Rc::clone(&platform),
        front: Some(front),
    };
    let (dev, created) = block::FileDevice::open_or_create(&o.image, IMAGE_SECTORS)
        .map_err(|e| format!("{}: {e}", o.image.display()))?;
    if created {
        log(format_args!("created a blank image {}", o.image.display()));
    }
    let entropy =
        HostPlatform::new().map_err(|e| format!("cannot open the OS random source: {e}"))?;
    let (mut domain, report) = Domain::start(
        link,
        dev,
        Box::new(entropy),
        DomainOptions {
            reset_image: o.reset_image,
        },
    )
    .map_err(|e| format!("{}: {e}", o.image.display()))?;
    let at = format!("slot {} generation {}", report.slot, report.generation);
    match &report.outcome {
        StartOutcome::FirstBoot => {
            log(format_args!("first boot: manufactured a new TPM ({at})"));
        }
        StartOutcome::Loaded { slot, generation } => log(format_args!(
            "loaded generation {generation} from slot {slot} (now {at})"
        )),
        StartOutcome::Reset { cause } => log(format_args!(
            "RESET as asked (--reset-image): the old state was given up ({cause}); \
             manufactured a new TPM ({at})"
        )),
    }
    // The domain's start is the vTPM's power-on: it waits for the guest's TPM2_Startup.
    domain
        .power_on()
        .map_err(|e| format!("saving the power-on: {e}"))?;

    let mut backend =
        Backend::new(&mut *platform.borrow_mut()).map_err(|e| format!("tpmback: {e}"))?;
    let shutdown_key = format!("{}/control/shutdown", xenbus::domain_path(me));
    platform
        .borrow_mut()
        .watch(&shutdown_key)
        .map_err(|e| format!("watch {shutdown_key}: {e}"))?;
    signal::install();
    log(format_args!("domain {me}: serving guests"));
    loop {
        if signal::take() {
            log(format_args!("signal: stopping"));
            break;
        }
        let mut p = platform.borrow_mut();
        p.wait(POLL_MS).map_err(|e| format!("platform: {e}"))?;
        if p.take_watch(&shutdown_key)
            && p.read(&shutdown_key)
                .ok()
                .flatten()
                .is_some_and(|v| !v.is_empty())
        {
            log(format_args!("the toolstack asked for shutdown"));
            break;
        }
        let events = backend.poll(&mut *p).map_err(|e| format!("tpmback: {e}"))?;
        drop(p);
        for ev in events {
            match ev {
                BackEvent::Request {
                    link,
                    locality,
                    command,
                } => {
                    let answer = if DeepQuoteCommand::is_deep_quote(&command) {
                        deep_quote_answer(&mut domain, &command)
                    } else {
                        domain.execute(locality, &command)
                    };
                    if o.verbose {
                        log(format_args!(
                            "domain {} device {}: command 0x{:x} → 0x{:x}",
                            link.0,
                            link.1,
                            super::server::command_code(&command).unwrap_or(0),
                            super::server::response_code(&answer)
                        ));
                    }
                    let mut p = platform.borrow_mut();
                    if let Err(e) = backend.respond(&mut *p, link, &answer) {
                        log(format_args!("domain {}: answer not delivered: {e}", link.0));
                    }
                }
                BackEvent::Opened(info) => log(format_args!(
                    "guest domain {} device {} attached ({:?})",
                    info.frontend, info.devid, info.label
                )),
                BackEvent::Connected(l) => {
                    log(format_args!(
                        "guest domain {} device {} connected",
                        l.0, l.1
                    ));
                }
                BackEvent::Closed(l) => {
                    log(format_args!("guest domain {} device {} closed", l.0, l.1));
                }
                BackEvent::Refused { link, reason } => {
                    log(format_args!(
                        "guest domain {} device {}: {reason}",
                        link.0, link.1
                    ));
                }
            }
        }
    }
    backend.shutdown(&mut *platform.borrow_mut());
    let (link, _dev, saved) = domain.shutdown();
    if let Some(front) = link.front {
        front.close(&mut *platform.borrow_mut());
    }
    saved.map_err(|e| format!("final save: {e}"))?;
    log(format_args!("stopped; state saved"));
    Ok(())
}

/// Answers DeepQuote: the vTPM's selected SHA-256 PCRs, read from the engine, are bound into
/// the manager's GET_QUOTE (module docs). Errors are TPM 2.0 error answers.
fn deep_quote_answer<B: block::BlockDevice>(
    domain: &mut Domain<FrontLink, B>,
    command: &[u8],
) -> Vec<u8> {
    let rc = |code: TpmRc| error_response(code).to_vec();
    let Ok(cmd) = DeepQuoteCommand::parse(command) else {
        return rc(TpmRc::VALUE);
    };
    let pcrs = deep_quote::pcrs_of(cmd.vtpm_pcrs);
    let mut values = Vec::new();
    if !pcrs.is_empty() {
        let Some(v) = read_pcrs(domain, &pcrs) else {
            return rc(TpmRc::FAILURE);
        };
        values = v;
    }
    let nonce = deep_quote::binding(&cmd.nonce, cmd.vtpm_pcrs, &values);
    let request = Request::GetQuote {
        nonce,
        pcrs: cmd.hw_pcrs,
        flags: cmd.flags,
    };
    let Ok(answer) = domain.link_mut().call(&request.encode()) else {
        return rc(TpmRc::NV_UNAVAILABLE);
    };
    match Reply::parse(&request, &answer) {
        Ok(Reply::Quote(quote)) => DeepQuoteResponse {
            vtpm_pcrs: cmd.vtpm_pcrs,
            vtpm_values: values,
            quote,
        }
        .encode(),
        _ => rc(TpmRc::FAILURE),
    }
}

/// The vTPM's SHA-256 values of `pcrs`, through a PCR_Read the engine answers (read-only).
fn read_pcrs<B: block::BlockDevice>(
    domain: &mut Domain<FrontLink, B>,
    pcrs: &[u32],
) -> Option<Vec<[u8; 32]>> {
    let sel =
        TpmlPcrSelection::new(vec![TpmsPcrSelection::new(TpmAlgId::SHA256, pcrs).ok()?]).ok()?;
    let mut p = Vec::new();
    sel.marshal(&mut p);
    let cmd = build_command(TpmCc::PCR_READ, &[], &[], &p).ok()?;
    let rsp = domain.execute(0, &cmd);
    let r = Response::parse(&rsp, TpmCc::PCR_READ).ok()?;
    if !r.code().is_success() {
        return None;
    }
    // updateCounter (4) ‖ TPML_PCR_SELECTION ‖ TPML_DIGEST.
    let params = r.parameters;
    let mut reader = tpm2::marshal::Reader::new(params);
    let _ = <u32 as tpm2::Unmarshal>::unmarshal(&mut reader).ok()?;
    let _ = <TpmlPcrSelection as tpm2::Unmarshal>::unmarshal(&mut reader).ok()?;
    let n = <u32 as tpm2::Unmarshal>::unmarshal(&mut reader).ok()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let d = <tpm2::structures::Tpm2bDigest as tpm2::Unmarshal>::unmarshal(&mut reader).ok()?;
        out.push(<[u8; 32]>::try_from(d.as_bytes()).ok()?);
    }
    (out.len() == pcrs.len()).then_some(out)
}

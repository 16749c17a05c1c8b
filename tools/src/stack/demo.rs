//! `vtpm-stack demo`: the whole design in one run, with no hardware TPM and nothing else
//! installed. It brings the stack up from the example configs, boots each guest the way
//! pv-grub does (PCR 4 ← kernel, PCR 5 ← command line, then initrd), gives each guest a
//! persistent attestation key and an NV index of its own, verifies a quote from each vTPM and
//! a hardware-backed DeepQuote through the manager, restarts everything and checks that every
//! guest finds its own key and data — and that nobody else's — with PCRs reset by the new
//! Startup(CLEAR).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use tpm2::Unmarshal;
use tpm2::alg::TpmAlgId;
use tpm2::structures::TpmtPublic;
use vtpmmgr_protocol::client::Client;
use vtpmmgr_protocol::deep_quote::{
    self, DeepQuoteCommand, DeepQuoteResponse, quote_qualifying_data,
};
use vtpmmgr_protocol::{
    QUOTE_GROUP_INFO, QUOTE_GROUP_PUBKEY, QUOTE_HASH_UUID, QUOTE_VTPM_MEASUREMENTS, Reply, Request,
};

use super::guest::GuestTpm;
use super::ops::{self, AK_HANDLE, NV_INDEX};
use super::{HwTpm, Stack, StackError, StackOptions};
use crate::attest;
use crate::measure::{BootFiles, Measurement};

/// The PCRs pv-grub measures into.
const BOOT_PCRS: [u32; 2] = [4, 5];

/// What the demo found for one guest.
#[derive(Debug, Clone)]
pub struct GuestReport {
    /// The guest.
    pub name: String,
    /// Its vTPM domain.
    pub vtpm: String,
    /// The attestation key's Name (hex), the same before and after the restart.
    pub ak_name: String,
    /// The expected SHA-256 PCR 4 and 5 after the boot measurement.
    pub pcr4: String,
    /// PCR 5.
    pub pcr5: String,
}

/// Runs the demo. `say` receives the readable report line by line as it goes.
#[allow(clippy::too_many_lines, reason = "one linear script, step by step")]
pub fn run(
    run_dir: &Path,
    tpm: &HwTpm,
    configs: &[PathBuf],
    say: &dyn Fn(&str),
) -> Result<Vec<GuestReport>, StackError> {
    let started = Instant::now();
    let fail = |what: String| StackError::Setup(what);
    let progress = |s: &str| say(&format!("    … {s}"));
    if run_dir.exists() {
        fs::remove_dir_all(run_dir)
            .map_err(|e| StackError::io(&format!("clear {}", run_dir.display()), &e))?;
    }
    let opts = StackOptions {
        run_dir: run_dir.to_path_buf(),
        tpm: tpm.clone(),
        configs: configs.to_vec(),
        progress: &progress,
    };

    say(&format!(
        "[1/5] Bringing up the stack in {} ({} configs; hardware TPM: {})",
        run_dir.display(),
        configs.len(),
        match tpm {
            HwTpm::Engine => "our own engine in its own process".to_string(),
            HwTpm::Spec(s) => s.to_string(),
        }
    ));
    let mut stack = Stack::up(&opts)?;
    print_status(&mut stack, say);

    say(
        "[2/5] Booting each guest as pv-grub does (SHA-1 and SHA-256 banks, checked against values \
         recomputed from the files), and giving it a key and data of its own",
    );
    let mut reports = Vec::new();
    // Each guest's SHA-256 PCR 4 and 5 after its boot measurement (the quotes cover them).
    let mut boot_pcrs: Vec<Vec<Vec<u8>>> = Vec::new();
    for g in stack.guests.clone() {
        let kernel = read(&g.kernel)?;
        let initrd = g.ramdisk.as_ref().map(|p| read(p)).transpose()?;
        let m = Measurement::of(&BootFiles {
            kernel: &kernel,
            cmdline: &g.cmdline,
            initrd: initrd.as_deref(),
        });
        let expected = m.expected();
        let tpm = stack.guest(&g.name)?;
        ops::startup_clear(tpm).map_err(|e| fail(format!("{}: {e}", g.name)))?;
        crate::measure::extend(tpm, &m).map_err(|e| fail(format!("{}: {e}", g.name)))?;
        let pcrs =
            ops::pcr_read_sha256(tpm, &BOOT_PCRS).map_err(|e| fail(format!("{}: {e}", g.name)))?;
        let sha1 = ops::pcr_read(tpm, TpmAlgId::SHA1, &BOOT_PCRS)
            .map_err(|e| fail(format!("{}: {e}", g.name)))?;
        if pcrs[0] != expected.sha256.pcr4
            || pcrs[1] != expected.sha256.pcr5
            || sha1[0] != expected.sha1.pcr4
            || sha1[1] != expected.sha1.pcr5
        {
            return Err(fail(format!(
                "{}: PCR 4/5 differ from the values recomputed from the boot files",
                g.name
            )));
        }
        let (_, ak_name, created) =
            ops::ensure_persistent_key(tpm, AK_HANDLE, &ops::signing_template(true))
                .map_err(|e| fail(format!("{}: {e}", g.name)))?;
        ops::nv_ensure(tpm, NV_INDEX).map_err(|e| fail(format!("{}: {e}", g.name)))?;
        ops::nv_write(tpm, NV_INDEX, marker(&g.name).as_bytes())
            .map_err(|e| fail(format!("{}: {e}", g.name)))?;
        say(&format!(
            "    {:<8} kernel {} B, initrd {}, PCR4 {}…, PCR5 {}…; AK {} at 0x{:08x}, NV 0x{:08x} written",
            g.name,
            kernel.len(),
            initrd
                .as_ref()
                .map_or_else(|| "none".to_string(), |i| format!("{} B", i.len())),
            short(&hex(&pcrs[0]), 16),
            short(&hex(&pcrs[1]), 16),
            if created { "created" } else { "found" },
            AK_HANDLE.0,
            NV_INDEX.0
        ));
        boot_pcrs.push(pcrs.clone());
        reports.push(GuestReport {
            name: g.name.clone(),
            vtpm: g.vtpm.clone(),
            ak_name: hex(&ak_name),
            pcr4: hex(&pcrs[0]),
            pcr5: hex(&pcrs[1]),
        });
    }

    say(
        "[3/5] Attesting: a quote from each vTPM, and a hardware-backed DeepQuote through the manager",
    );
    let group_ak = group_ak_public(&stack)?;
    for (i, g) in stack.guests.clone().iter().enumerate() {
        let vtpm_uuid = stack
            .vtpms
            .iter()
            .find(|v| v.name == g.vtpm)
            .map(|v| v.uuid)
            .ok_or_else(|| fail(format!("{}: no vTPM domain {}", g.name, g.vtpm)))?;
        let tpm = stack.guest(&g.name)?;
        let nonce = fresh_nonce(&g.name);
        let (public, _) = ops::read_public(tpm, AK_HANDLE)
            .map_err(|e| fail(format!("{}: {e}", g.name)))?
            .ok_or_else(|| fail(format!("{}: the AK is missing", g.name)))?;
        let (attest_bytes, signature) = ops::quote(tpm, AK_HANDLE, &nonce, &BOOT_PCRS)
            .map_err(|e| fail(format!("{}: {e}", g.name)))?;
        let values = boot_pcrs[i].clone();
        let quoted: Vec<attest::PcrValue> = BOOT_PCRS
            .iter()
            .zip(&values)
            .map(|(&i, v)| (TpmAlgId::SHA256, i, v.clone()))
            .collect();
        attest::verify_quote(&public, &attest_bytes, &signature, &nonce, &quoted)
            .map_err(|e| fail(format!("{}: the vTPM quote does not verify: {e}", g.name)))?;
        let hw_pcrs = deep_quote_check(tpm, &nonce, &values, &group_ak, vtpm_uuid)
            .map_err(|e| fail(format!("{}: DeepQuote: {e}", g.name)))?;
        say(&format!(
            "    {:<8} vTPM quote over PCR 4,5 verified (ECDSA P-256, its own AK); hardware quote over {} PCR(s) \
             verified with the manager's group AK, binding this vTPM's PCRs and UUID",
            g.name, hw_pcrs
        ));
    }

    say("[4/5] Restarting everything (each domain saves its state and stops; then a fresh start)");
    let unclean = stack.down(&progress)?;
    if !unclean.is_empty() {
        return Err(fail(format!(
            "did not stop cleanly: {}",
            unclean.join(", ")
        )));
    }
    let mut stack = Stack::up(&opts)?;
    print_status(&mut stack, say);

    say(
        "[5/5] After the restart: each guest finds its own key and data, PCRs reset by Startup(CLEAR)",
    );
    let names: Vec<&str> = reports.iter().map(|r| r.ak_name.as_str()).collect();
    for (i, a) in names.iter().enumerate() {
        if names[i + 1..].contains(a) {
            return Err(fail("two guests have the same attestation key".into()));
        }
    }
    for r in &reports {
        let tpm = stack.guest(&r.name)?;
        ops::startup_clear(tpm).map_err(|e| fail(format!("{}: {e}", r.name)))?;
        let (_, name) = ops::read_public(tpm, AK_HANDLE)
            .map_err(|e| fail(format!("{}: {e}", r.name)))?
            .ok_or_else(|| fail(format!("{}: its AK is gone after the restart", r.name)))?;
        if hex(&name) != r.ak_name {
            return Err(fail(format!(
                "{}: a different AK after the restart",
                r.name
            )));
        }
        let data = ops::nv_read(tpm, NV_INDEX, 64).map_err(|e| fail(format!("{}: {e}", r.name)))?;
        let want = marker(&r.name);
        if !data.starts_with(want.as_bytes()) {
            return Err(fail(format!("{}: its NV data changed", r.name)));
        }
        let pcrs =
            ops::pcr_read_sha256(tpm, &BOOT_PCRS).map_err(|e| fail(format!("{}: {e}", r.name)))?;
        if pcrs.iter().any(|p| p.iter().any(|&b| b != 0)) {
            return Err(fail(format!(
                "{}: PCR 4/5 not reset by Startup(CLEAR)",
                r.name
            )));
        }
        say(&format!(
            "    {:<8} AK {}… same as before; NV holds {:?}; PCR 4,5 = 0 (reset)",
            r.name,
            short(&r.ak_name, 20),
            want
        ));
    }
    say("    three guests, three different AKs: no guest sees another's key or data");
    let unclean = stack.down(&progress)?;
    if !unclean.is_empty() {
        return Err(fail(format!(
            "did not stop cleanly: {}",
            unclean.join(", ")
        )));
    }
    say(&format!(
        "Demo passed in {:.1} s. Logs and images: {}",
        started.elapsed().as_secs_f64(),
        run_dir.display()
    ));
    Ok(reports)
}

fn print_status(stack: &mut Stack, say: &dyn Fn(&str)) {
    say(&format!(
        "    {:<14} {:<8} {:>5} {:>8}  link",
        "domain", "role", "domid", "pid"
    ));
    for s in stack.status() {
        say(&format!(
            "    {:<14} {:<8} {:>5} {:>8}  {}",
            s.name,
            s.role,
            s.domid,
            s.pid.map_or_else(|| "-".to_string(), |p| p.to_string()),
            s.link
        ));
    }
}

/// What each guest writes into its NV index.
fn marker(name: &str) -> String {
    format!("owned by {name}")
}

fn read(p: &Path) -> Result<Vec<u8>, StackError> {
    fs::read(p).map_err(|e| StackError::io(&format!("read {}", p.display()), &e))
}

fn fresh_nonce(label: &str) -> Vec<u8> {
    let mut n = [0u8; 32];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut n);
    }
    Sha256::new()
        .chain_update(n)
        .chain_update(label.as_bytes())
        .finalize()
        .to_vec()
}

/// The manager's group 0 attestation key, read through the admin socket.
fn group_ak_public(stack: &Stack) -> Result<TpmtPublic, StackError> {
    let mut c = Client::admin(stack.admin_socket())
        .map_err(|e| StackError::Manager(format!("connect: {e}")))?;
    let Reply::Group(g) = c
        .call(&Request::GroupShow { group: 0 })
        .map_err(|e| StackError::Manager(format!("GROUP_SHOW: {e}")))?
    else {
        return Err(StackError::Manager("GROUP_SHOW: unexpected answer".into()));
    };
    TpmtPublic::from_bytes(&g.ak_public)
        .map_err(|e| StackError::Manager(format!("the group's AK: {e}")))
}

/// Sends DeepQuote, checks every link of the chain, returns the number of hardware PCRs.
fn deep_quote_check(
    tpm: &mut GuestTpm,
    nonce: &[u8],
    vtpm_values: &[Vec<u8>],
    group_ak: &TpmtPublic,
    vtpm_uuid: [u8; 16],
) -> Result<usize, String> {
    let flags = QUOTE_HASH_UUID | QUOTE_VTPM_MEASUREMENTS | QUOTE_GROUP_INFO | QUOTE_GROUP_PUBKEY;
    let cmd = DeepQuoteCommand {
        nonce: nonce.to_vec(),
        vtpm_pcrs: (1 << 4) | (1 << 5),
        hw_pcrs: 0xff,
        flags,
    };
    let rsp = tpm.transmit(&cmd.encode()).map_err(|e| e.to_string())?;
    let rc = rsp
        .get(6..10)
        .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if rc != 0 {
        return Err(format!("the vTPM answered 0x{rc:x}"));
    }
    let a = DeepQuoteResponse::parse(&rsp).map_err(|e| e.to_string())?;
    if a.vtpm_values.iter().map(|v| v.to_vec()).collect::<Vec<_>>() != vtpm_values {
        return Err("the vTPM PCR values in the answer are not the guest's".into());
    }
    let binding = deep_quote::binding(nonce, a.vtpm_pcrs, &a.vtpm_values);
    let qualifying = quote_qualifying_data(flags, &binding, &a.quote.hashes);
    if a.quote.hashes.first() != Some(&<[u8; 32]>::from(Sha256::digest(vtpm_uuid))) {
        return Err("the UUID hash is not this vTPM's".into());
    }
    let sig = tpm2::structures::TpmtSignature::from_bytes(&a.quote.signature)
        .map_err(|e| format!("signature: {e}"))?;
    let hw: Vec<Vec<u8>> = a.quote.pcr_values.iter().map(|v| v.to_vec()).collect();
    let pcrs = deep_quote::pcrs_of(cmd.hw_pcrs);
    let quoted: Vec<attest::PcrValue> = pcrs
        .iter()
        .zip(&hw)
        .map(|(&i, v)| (TpmAlgId::SHA256, i, v.clone()))
        .collect();
    attest::verify_quote(group_ak, &a.quote.attest, &sig, &qualifying, &quoted)
        .map_err(|e| format!("hardware quote: {e}"))?;
    Ok(hw.len())
}

/// The first `n` characters of `s` (all of it when shorter: a TPM's answer may be short).
fn short(s: &str, n: usize) -> &str {
    s.get(..n).unwrap_or(s)
}

fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

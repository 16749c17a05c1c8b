//! The unikernel stub domains (`docs/unikernel.md`, shared/reference/hermit-unikernel.md):
//! building the images from registry packages only, and running them under QEMU (TCG) with a
//! swtpm-backed `tpm-tis`.
//!
//! - `cargo xtask image [vtpmmgr] [vtpm-domain]`: the pinned nightly (installed with rustup if missing), the
//!   Hermit kernel library (`platform/kernel`, symbols localised), the multiboot loader
//!   (`platform/loader`) and both applications (`platform/hermit`). Artefacts: `target/hermit/`.
//! - `cargo xtask run vtpmmgr [--check] [--fresh]`: the manager unikernel on a swtpm, its disk
//!   and TPM state under `vtpm-run/unikernel/`.
//! - `cargo xtask run stack`: the manager unikernel, a hosted and a unikernel vTPM domain on
//!   shared-memory links, each with its guest; then a restart of everything (fresh state).
//! - `cargo xtask unikernel-test`: what CI runs: fresh images' boots judged from the console.
//!
//! Every QEMU run is under a timeout; a wedged guest is killed and reported.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Result, have, output, run};

/// The toolchain Hermit 0.11 builds with.
pub(crate) const NIGHTLY: &str = "nightly-2025-03-15";

/// Where the images land.
const OUT: &str = "target/hermit";
/// Where runs keep their state (disk, TPM state, links, logs).
const RUN: &str = "vtpm-run/unikernel";
/// Where `run stack` keeps its state (fresh at every run).
const STACK_RUN: &str = "vtpm-run/unikernel-stack";
/// Where `unikernel-test` keeps its (always fresh) state.
const TEST_RUN: &str = "target/unikernel-test";
/// The vTPM the stack's link carries, and its domain's label.
const STACK_UUID: &str = "6f1c3a52-8d0e-4b7a-9c21-3e5f7a9b0d14";
const STACK_LABEL: &str = "vtpm-guest1";
/// The vTPM the unikernel domain's link carries, and that domain's label.
const UK_UUID: &str = "0b8e2d6c-41f7-4e3a-a5d9-7c1e2f3a4b5d";
const UK_LABEL: &str = "vtpm-guest2";
/// The manager's PCI slots: the disk, the hosted domain's link, the unikernel domain's link.
const DISK_SLOT: u8 = 4;
const LINK_SLOT: u8 = 5;
const UK_LINK_SLOT: u8 = 6;
/// Guest RAM: the manager runs in 32 MiB (Hermit 0.11's kernel panics in 16 MiB); the vTPM
/// domain gets 64 MiB, room for the engine's RSA key generation.
const MANAGER_RAM: &str = "32M";
const DOMAIN_RAM: &str = "64M";
/// How long a boot may take before QEMU is killed.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

fn rustup_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.arg(format!("+{NIGHTLY}"));
    // The workspace's own cargo sets these for xtask; the nested builds must not inherit them.
    for v in [
        "RUSTC",
        "RUSTDOC",
        "CARGO",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
    ] {
        c.env_remove(v);
    }
    c
}

fn ensure_toolchain() -> Result {
    let list = output(Command::new("rustup").args(["toolchain", "list"]));
    if list.lines().any(|l| l.starts_with(NIGHTLY)) {
        let components = output(Command::new("rustup").args([
            "component",
            "list",
            "--installed",
            "--toolchain",
            NIGHTLY,
        ]));
        for c in ["rust-src", "llvm-tools", "clippy"] {
            if !components.lines().any(|l| l.starts_with(c)) {
                run(
                    "rustup component add",
                    Command::new("rustup").args(["component", "add", "--toolchain", NIGHTLY, c]),
                )?;
            }
        }
        return Ok(());
    }
    run(
        "rustup toolchain install",
        Command::new("rustup").args([
            "toolchain",
            "install",
            NIGHTLY,
            "--profile",
            "minimal",
            "-c",
            "rust-src,llvm-tools,clippy",
        ]),
    )
}

fn llvm_tool(name: &str) -> Result<PathBuf> {
    let sysroot =
        output(Command::new("rustc").args([&format!("+{NIGHTLY}"), "--print", "sysroot"]));
    let path = Path::new(sysroot.trim())
        .join("lib/rustlib/x86_64-unknown-linux-gnu/bin")
        .join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: the {NIGHTLY} toolchain needs its llvm-tools component",
            path.display()
        ))
    }
}

fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let r = f()?;
    eprintln!("xtask: {what}: {:.1} s", t.elapsed().as_secs_f64());
    Ok(r)
}

/// Builds the kernel library and keeps global only its entry points and system calls.
fn kernel(root: &Path) -> Result<PathBuf> {
    let dir = root.join("platform/kernel");
    run(
        "build the Hermit kernel",
        rustup_cargo().current_dir(&dir).args([
            "build",
            "--release",
            "--locked",
            "--target",
            "x86_64-unknown-none",
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ]),
    )?;
    let raw = dir.join("target/x86_64-unknown-none/release/libvtpm_hermit_kernel.a");
    let out_dir = root.join(OUT);
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let lib = out_dir.join("libhermit.a");
    let fresh = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    if fresh(&lib).is_some() && fresh(&lib) >= fresh(&raw) {
        return Ok(lib);
    }
    let nm = llvm_tool("llvm-nm")?;
    let listed = Command::new(&nm)
        .args(["--defined-only", "--extern-only", "--format=just-symbols"])
        .arg(&raw)
        .output()
        .map_err(|e| format!("llvm-nm: {e}"))?;
    let text = String::from_utf8_lossy(&listed.stdout);
    let mut symbols: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.ends_with(':'))
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    let keep = |s: &str| {
        matches!(s, "_start" | "__bss_start" | "mcount" | "runtime_entry") || s.starts_with("sys_")
    };
    let mut renames = String::new();
    let mut kept = 0;
    for s in &symbols {
        if keep(s) {
            kept += 1;
        } else if let Some(rest) = s.strip_prefix("_ZN") {
            let _ = writeln!(renames, "{s} _ZN6hermit{rest}");
        } else {
            let _ = writeln!(renames, "{s} hermit_{s}");
        }
    }
    let map = out_dir.join("kernel-symbols.map");
    fs::write(&map, renames).map_err(|e| format!("{}: {e}", map.display()))?;
    run(
        "localise the kernel's symbols",
        Command::new(llvm_tool("llvm-objcopy")?)
            .arg(format!("--redefine-syms={}", map.display()))
            .arg(&raw)
            .arg(&lib),
    )?;
    eprintln!(
        "xtask: kernel library: {} global symbols, {kept} kept (entry points and sys_*), the rest renamed",
        symbols.len()
    );
    Ok(lib)
}

/// Builds the loader and converts it to the ELF32 file QEMU's multiboot support loads.
fn loader(root: &Path) -> Result<PathBuf> {
    let dir = root.join("platform/loader");
    run(
        "build the loader",
        rustup_cargo()
            .current_dir(&dir)
            .args(["build", "--release", "--locked"]),
    )?;
    let out = root.join(OUT).join("vtpm-loader.elf32");
    run(
        "convert the loader to ELF32",
        Command::new(llvm_tool("llvm-objcopy")?)
            .args(["-O", "elf32-i386"])
            .arg(dir.join("target/x86_64-unknown-none/release/vtpm-loader"))
            .arg(&out),
    )?;
    Ok(out)
}

/// Builds an application image.
fn app(root: &Path, name: &str, lib: &Path) -> Result<PathBuf> {
    let dir = root.join("platform/hermit");
    let lib_dir = lib.parent().ok_or("kernel library without a folder")?;
    run(
        &format!("build the {name} unikernel"),
        rustup_cargo()
            .current_dir(&dir)
            .env("HERMIT_LIB_DIR", lib_dir)
            .args(["build", "--release", "--locked", "--bin", name]),
    )?;
    let out = root.join(OUT).join(name);
    fs::copy(
        dir.join("target/x86_64-unknown-hermit/release").join(name),
        &out,
    )
    .map_err(|e| format!("copy {name}: {e}"))?;
    Ok(out)
}

/// The built images.
pub(crate) struct Images {
    pub(crate) loader: PathBuf,
    pub(crate) vtpmmgr: PathBuf,
    pub(crate) vtpm_domain: PathBuf,
}

fn size(p: &Path) -> u64 {
    fs::metadata(p).map_or(0, |m| m.len())
}

/// `cargo xtask image [vtpmmgr]`.
pub(crate) fn image(args: &[String]) -> Result<Images> {
    for a in args {
        if !matches!(a.as_str(), "vtpmmgr" | "vtpm-domain") {
            return Err(format!(
                "image: unknown image {a:?} (expected vtpmmgr, vtpm-domain)"
            ));
        }
    }
    let root = super::root();
    timed("toolchain", ensure_toolchain)?;
    let lib = timed("kernel library", || kernel(&root))?;
    let loader = timed("loader", || loader(&root))?;
    let vtpmmgr = timed("vtpmmgr application", || app(&root, "vtpmmgr", &lib))?;
    let vtpm_domain = timed("vtpm-domain application", || {
        app(&root, "vtpm-domain", &lib)
    })?;
    for p in [&lib, &loader, &vtpmmgr, &vtpm_domain] {
        eprintln!("xtask: {:>9} bytes  {}", size(p), p.display());
    }
    Ok(Images {
        loader,
        vtpmmgr,
        vtpm_domain,
    })
}

/// A swtpm: the machine's "hardware" TPM, one process per QEMU run on a lasting state folder
/// (a power cycle of the same chip).
struct Swtpm {
    child: Child,
    socket: PathBuf,
}

impl Swtpm {
    fn start(dir: &Path) -> Result<Swtpm> {
        if !have("swtpm") {
            return Err("swtpm is missing (Debian package swtpm; `cargo xtask deps`)".into());
        }
        let state = dir.join("tpm");
        fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
        let socket = dir.join("swtpm.sock");
        let _ = fs::remove_file(&socket);
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--flags", "not-need-init", "--tpmstate"])
            .arg(format!("dir={}", state.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", socket.display()))
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("swtpm: {e}"))?;
        let t = Instant::now();
        while !socket.exists() {
            if t.elapsed() > Duration::from_secs(10) {
                return Err("swtpm did not create its socket".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Swtpm { child, socket })
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A manager unikernel under QEMU, its console read line by line.
struct Qemu {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    started: Instant,
}

impl Qemu {
    /// Boots `app` in `memory` of guest RAM with `append` after `--`, a `tpm-tis` on `tpm` if
    /// given, and each region (QEMU id, file, size, PCI slot) as an `ivshmem-plain` device.
    fn start(
        loader: &Path,
        app: &Path,
        memory: &str,
        append: &str,
        tpm: Option<&Swtpm>,
        regions: &[(&str, &Path, &str, u8)],
    ) -> Result<Qemu> {
        if !have("qemu-system-x86_64") {
            return Err("qemu-system-x86_64 is missing (Debian package qemu-system-x86)".into());
        }
        let mut c = Command::new("qemu-system-x86_64");
        c.args(["-accel", "tcg", "-cpu", "max", "-m", memory, "-smp", "1"])
            .args([
                "-display",
                "none",
                "-serial",
                "stdio",
                "-no-reboot",
                "-monitor",
                "none",
            ])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            .arg("-kernel")
            .arg(loader)
            .arg("-initrd")
            .arg(app)
            .arg("-append")
            .arg(format!("-- {append}"));
        if let Some(tpm) = tpm {
            c.arg("-chardev")
                .arg(format!("socket,id=chrtpm,path={}", tpm.socket.display()))
                .args(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm"])
                .args(["-device", "tpm-tis,tpmdev=tpm0"]);
        }
        for (id, file, size, slot) in regions {
            c.arg("-object")
                .arg(format!(
                    "memory-backend-file,id={id},size={size},mem-path={},share=on",
                    file.display()
                ))
                .arg("-device")
                .arg(format!("ivshmem-plain,memdev={id},addr={slot:#x}"));
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = c.spawn().map_err(|e| format!("qemu: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().ok_or("qemu without stdout")?;
        let err = child.stderr.take().ok_or("qemu without stderr")?;
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            for l in s.lines() {
                let _ = tx2.send(format!("qemu: {l}"));
            }
        });
        Ok(Qemu {
            child,
            lines,
            log: Vec::new(),
            started,
        })
    }

    /// Waits for a console line containing `needle` (application lines are echoed); fails on
    /// an application error, QEMU's end, or the boot timeout (QEMU is then killed).
    fn wait_for(&mut self, needle: &str) -> Result<String> {
        loop {
            let left = BOOT_TIMEOUT.saturating_sub(self.started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let line = strip_ansi(&line);
                    if line.starts_with("vtpmmgr:")
                        || line.starts_with("vtpm-domain:")
                        || line.starts_with("loader:")
                        || line.starts_with("qemu:")
                    {
                        eprintln!("    | {line}");
                    }
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                    if line.starts_with("vtpmmgr: error")
                        || line.starts_with("vtpm-domain: error")
                        || line.starts_with("loader: error")
                    {
                        return Err(format!("the unikernel failed: {line}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    return Err(format!(
                        "no {needle:?} on the console within {} s: QEMU killed (wedged guest)",
                        BOOT_TIMEOUT.as_secs()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("QEMU ended before the console showed {needle:?}"));
                }
            }
        }
    }

    /// Waits for QEMU to end; returns its exit code (isa-debug-exit: 3 = success).
    /// `limit`: how long from QEMU's start (None: no limit; the console is echoed).
    fn wait_exit(mut self, limit: Option<Duration>) -> Result<(i32, Vec<String>)> {
        loop {
            let line = match limit {
                Some(l) => match self
                    .lines
                    .recv_timeout(l.saturating_sub(self.started.elapsed()))
                {
                    Ok(line) => line,
                    Err(_) => break,
                },
                None => match self.lines.recv() {
                    Ok(line) => {
                        eprintln!("    | {}", strip_ansi(&line));
                        line
                    }
                    Err(_) => break,
                },
            };
            self.log.push(strip_ansi(&line));
        }
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok((s.code().unwrap_or(-1), self.log));
            }
            if t.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                return Err("QEMU did not exit: killed".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// QEMU's resident memory, from /proc.
    fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Kills QEMU and returns its whole console.
    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.log.push(strip_ansi(&l));
        }
        self.log
    }
}

/// Keeps a console in the run folder, and shows its end when the run failed.
fn keep_console(dir: &Path, name: &str, log: &[String], failed: bool) {
    let path = dir.join(format!("{name}.console.log"));
    let _ = fs::write(&path, log.join("\n") + "\n");
    if failed {
        eprintln!("xtask: the end of {name}'s console ({}):", path.display());
        for l in log.iter().rev().take(15).rev() {
            eprintln!("    | {l}");
        }
    }
}

/// Creates a zero-filled file of `bytes` unless it exists.
fn ensure_file(path: &Path, bytes: usize) -> Result {
    if !path.exists() {
        fs::write(path, vec![0u8; bytes]).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Creates and formats a link region unless it exists.
fn ensure_link(path: &Path) -> Result {
    if !path.exists() {
        let mut w = shmlink::FileWindow::create(path, 64 << 10)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        shmlink::format(&mut w).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The manager unikernel on `tpm` with its disk and `links` (file, slot).
fn manager(
    images: &Images,
    tpm: &Swtpm,
    dir: &Path,
    append: &str,
    links: &[(&Path, u8)],
) -> Result<Qemu> {
    let disk = dir.join("vtpmmgr-disk.img");
    ensure_file(&disk, 2 << 20)?;
    let ids: Vec<String> = links
        .iter()
        .map(|(_, slot)| format!("link{slot}"))
        .collect();
    let mut regions: Vec<(&str, &Path, &str, u8)> = vec![("disk", &disk, "2M", DISK_SLOT)];
    for ((file, slot), id) in links.iter().zip(&ids) {
        regions.push((id, file, "64K", *slot));
    }
    Qemu::start(
        &images.loader,
        &images.vtpmmgr,
        MANAGER_RAM,
        append,
        Some(tpm),
        &regions,
    )
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

fn run_dir(fresh: bool) -> Result<PathBuf> {
    state_dir(RUN, fresh)
}

fn state_dir(relative: &str, fresh: bool) -> Result<PathBuf> {
    let dir = super::root().join(relative);
    if fresh && dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// What one `--check` boot printed.
#[derive(Debug)]
struct CheckBoot {
    formatted: bool,
    did_vid: String,
    srk: String,
    binding: String,
    ready_ms: u128,
}

fn value_after<'a>(log: &'a [String], prefix: &str) -> Option<&'a str> {
    log.iter()
        .find_map(|l| l.split_once(prefix).map(|(_, v)| v.trim()))
}

fn check_boot(images: &Images, dir: &Path) -> Result<CheckBoot> {
    let tpm = Swtpm::start(dir)?;
    let mut q = manager(images, &tpm, dir, "--check", &[])?;
    q.wait_for("binding SHA-256")?;
    let ready_ms = q.started.elapsed().as_millis();
    let (code, log) = q.wait_exit(Some(BOOT_TIMEOUT))?;
    if code != 3 {
        return Err(format!(
            "the manager unikernel exited with QEMU status {code} (3 = success)"
        ));
    }
    let get = |p: &str| {
        value_after(&log, p)
            .map(str::to_string)
            .ok_or_else(|| format!("the console lacks {p:?}"))
    };
    let did_vid = get("DID_VID")?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(CheckBoot {
        formatted: log.iter().any(|l| l.contains("formatted a new image")),
        did_vid,
        srk: get("SRK name")?,
        binding: get("binding SHA-256")?,
        ready_ms,
    })
}

/// `cargo xtask run vtpmmgr [--check] [--fresh]`.
pub(crate) fn run_vtpmmgr(args: &[String]) -> Result {
    if let Some(a) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--fresh" | "--check"))
    {
        return Err(format!("run vtpmmgr: unknown argument {a:?}"));
    }
    let fresh = args.iter().any(|a| a == "--fresh");
    let check = args.iter().any(|a| a == "--check");
    let images = image(&[])?;
    let dir = run_dir(fresh)?;
    if check {
        let b = check_boot(&images, &dir)?;
        eprintln!("xtask: {b:?}");
        return Ok(());
    }
    let tpm = Swtpm::start(&dir)?;
    let mut q = manager(&images, &tpm, &dir, "", &[])?;
    q.wait_for("ready")?;
    eprintln!("xtask: the manager is serving (no links); stop it with Ctrl-C");
    let (code, _) = q.wait_exit(None)?;
    Err(format!("QEMU ended with status {code}"))
}

/// A hosted vTPM domain on the manager's link, serving the swtpm socket protocol.
struct Domain {
    child: Child,
    log: PathBuf,
}

impl Domain {
    fn start(dir: &Path, link: &Path, port: u16, n: u32) -> Result<Domain> {
        let bin = super::root().join("target/release/vtpm-domain");
        let log = dir.join(format!("vtpm-domain-{n}.log"));
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(&bin)
            .args(["serve", "--swtpm-tcp", &format!("127.0.0.1:{port}")])
            .arg("--manager")
            .arg(format!("shm:{}", link.display()))
            .arg("--image")
            .arg(dir.join("vtpm-guest1.img"))
            .stderr(file)
            .spawn()
            .map_err(|e| {
                format!(
                    "{}: {e} (build it: cargo build --release -p vtpm-domain)",
                    bin.display()
                )
            })?;
        let mut d = Domain { child, log };
        let t = Instant::now();
        loop {
            let text = fs::read_to_string(&d.log).unwrap_or_default();
            if text.contains("listening on") {
                for l in text.lines() {
                    eprintln!("    | {l}");
                }
                return Ok(d);
            }
            if let Some(s) = d.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("vtpm-domain exited ({s}): {text}"));
            }
            if t.elapsed() > BOOT_TIMEOUT {
                let _ = d.child.kill();
                return Err(format!("vtpm-domain did not start: {text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM: the domain saves its state and exits.
    fn stop(mut self) -> Result<String> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t = Instant::now();
        while self.child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if t.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                return Err("vtpm-domain did not stop on SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(fs::read_to_string(&self.log).unwrap_or_default())
    }
}

/// Runs one tpm2-tools command against the domain; returns its stdout.
fn tpm2(port: u16, dir: &Path, tool: &str, args: &[&str]) -> Result<String> {
    if !have(tool) {
        return Err(format!("{tool} is missing (Debian package tpm2-tools)"));
    }
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .env(
            "TPM2TOOLS_TCTI",
            format!("swtpm:host=127.0.0.1,port={port}"),
        )
        .output()
        .map_err(|e| format!("{tool}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const KEY_HANDLE: &str = "0x81000005";
const DIGEST: &str = "10:sha256=00000000000000000000000000000000000000000000000000000000000000aa";

/// The guest's first session: Startup(CLEAR), extend PCR 10, a signing key made persistent,
/// a signature verified, Shutdown(STATE). Returns (PCR 10, key's public area).
fn guest_first(port: u16, dir: &Path) -> Result<(String, Vec<u8>)> {
    tpm2(port, dir, "tpm2_startup", &["-c"])?;
    tpm2(port, dir, "tpm2_pcrextend", &[DIGEST])?;
    let pcr = tpm2(port, dir, "tpm2_pcrread", &["sha256:10"])?;
    tpm2(
        port,
        dir,
        "tpm2_createprimary",
        &["-C", "o", "-c", "prim.ctx", "-Q"],
    )?;
    tpm2(
        port,
        dir,
        "tpm2_create",
        &[
            "-C", "prim.ctx", "-G", "ecc256", "-u", "key.pub", "-r", "key.priv", "-Q",
        ],
    )?;
    tpm2(port, dir, "tpm2_flushcontext", &["-t"])?;
    tpm2(
        port,
        dir,
        "tpm2_load",
        &[
            "-C", "prim.ctx", "-u", "key.pub", "-r", "key.priv", "-c", "key.ctx", "-Q",
        ],
    )?;
    tpm2(
        port,
        dir,
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "key.ctx", KEY_HANDLE],
    )?;
    tpm2(port, dir, "tpm2_flushcontext", &["-t"])?;
    let public = guest_sign(port, dir, "sig-1")?;
    tpm2(port, dir, "tpm2_shutdown", &[])?;
    Ok((pcr, public))
}

/// Signs a message with the persistent key, verifies it, returns the key's public area.
fn guest_sign(port: u16, dir: &Path, sig: &str) -> Result<Vec<u8>> {
    fs::write(dir.join("message"), b"signed by the guest's vTPM key\n")
        .map_err(|e| e.to_string())?;
    tpm2(
        port,
        dir,
        "tpm2_sign",
        &["-c", KEY_HANDLE, "-g", "sha256", "-o", sig, "message"],
    )?;
    tpm2(
        port,
        dir,
        "tpm2_verifysignature",
        &["-c", KEY_HANDLE, "-g", "sha256", "-m", "message", "-s", sig],
    )?;
    tpm2(
        port,
        dir,
        "tpm2_readpublic",
        &["-c", KEY_HANDLE, "-o", "key-public.bin", "-Q"],
    )?;
    fs::read(dir.join("key-public.bin")).map_err(|e| e.to_string())
}

fn link_ms(domain_log: &str) -> Option<String> {
    domain_log
        .lines()
        .find(|l| l.contains("manager link:"))
        .map(|l| l.trim_start_matches("vtpm-domain: ").to_string())
}

/// Brings the stack up, runs the guest, restarts everything, checks what survived.
/// Runs `vtpm-stack shm-guest` (the unikernel domain's guest) and returns its two lines.
fn shm_guest(region: &Path, args: &[&str]) -> Result<String> {
    let bin = super::root().join("target/release/vtpm-stack");
    let out = Command::new(&bin)
        .arg("shm-guest")
        .arg(region)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "the unikernel domain's guest failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Brings the stack up — swtpm, the manager unikernel with two links, a hosted vTPM domain
/// (link slot 5, tpm2-tools as its guest) and a unikernel vTPM domain (link slot 6, its guest
/// on a second link) — runs the guests, restarts everything, and checks what survived.
fn stack(images: &Images, dir: &Path, report: &mut Vec<String>) -> Result {
    let link = dir.join("link-5.shm");
    let uk_link = dir.join("link-6.shm");
    let uk_guest = dir.join("guest-2.shm");
    let uk_disk = dir.join("vtpm-guest2.img");
    for l in [&link, &uk_link, &uk_guest] {
        ensure_link(l)?;
    }
    ensure_file(&uk_disk, 2 << 20)?;
    let args = format!(
        "--link {LINK_SLOT}={STACK_UUID},{STACK_LABEL} --link {UK_LINK_SLOT}={UK_UUID},{UK_LABEL}"
    );
    let port = 23_410 + u16::try_from(std::process::id() % 500).unwrap_or(0) * 2;
    let mut first: Option<(String, Vec<u8>, String)> = None;
    for round in 1..=2u32 {
        eprintln!(
            "xtask: stack, start {round}: swtpm; the manager unikernel; a hosted vTPM domain on \
             link slot {LINK_SLOT}; a unikernel vTPM domain on link slot {UK_LINK_SLOT}"
        );
        let tpm = Swtpm::start(dir)?;
        let mut q = manager(
            images,
            &tpm,
            dir,
            &args,
            &[(&link, LINK_SLOT), (&uk_link, UK_LINK_SLOT)],
        )?;
        q.wait_for("ready: serving")?;
        let ready = q.started.elapsed();
        let mut uk = Qemu::start(
            &images.loader,
            &images.vtpm_domain,
            DOMAIN_RAM,
            "--disk 4 --manager 5 --guest 6",
            None,
            &[
                ("disk", &uk_disk, "2M", 4),
                ("manager", &uk_link, "64K", 5),
                ("guest", &uk_guest, "64K", 6),
            ],
        )?;
        let domain = Domain::start(dir, &link, port, round);
        let result = (|| {
            if let Err(e) = &domain {
                return Err(format!("the hosted vTPM domain: {e}"));
            }
            uk.wait_for("ready: serving the guest link")?;
            let uk_ready = uk.started.elapsed();
            report.push(format!(
                "stack start {round}: unikernel vTPM domain ready {:.2} s after its QEMU started",
                uk_ready.as_secs_f64()
            ));
            if let Some(l) = uk
                .log
                .iter()
                .find(|l| l.contains("manager link: first request"))
            {
                report.push(format!(
                    "stack start {round}: unikernel domain's {}",
                    l.trim_start_matches("vtpm-domain: ")
                ));
            }
            match &first {
                None => {
                    let (pcr, public) = guest_first(port, dir)?;
                    eprintln!(
                        "xtask: hosted domain's guest (tpm2-tools): PCR 10 extended, key {KEY_HANDLE} created and signing; Shutdown(STATE)"
                    );
                    let view = shm_guest(&uk_guest, &["first", "guest2 kernel"])?;
                    eprintln!(
                        "xtask: unikernel domain's guest: PCR 10 extended, key 0x81000006 created and signing; Shutdown(STATE)"
                    );
                    first = Some((pcr, public, view));
                }
                Some((pcr, public, view)) => {
                    tpm2(port, dir, "tpm2_startup", &[])?;
                    let now = tpm2(port, dir, "tpm2_pcrread", &["sha256:10"])?;
                    if &now != pcr {
                        return Err(format!("PCR 10 changed across the restart: {pcr} → {now}"));
                    }
                    let again = guest_sign(port, dir, "sig-2")?;
                    if &again != public {
                        return Err(format!("key {KEY_HANDLE} changed across the restart"));
                    }
                    tpm2(port, dir, "tpm2_shutdown", &[])?;
                    eprintln!(
                        "xtask: hosted domain's guest after the restart: Startup(STATE), PCR 10 kept, key {KEY_HANDLE} the same and signing"
                    );
                    let now = shm_guest(&uk_guest, &["resume"])?;
                    if &now != view {
                        return Err(format!(
                            "the unikernel domain's guest saw a change across the restart: {view} → {now}"
                        ));
                    }
                    eprintln!(
                        "xtask: unikernel domain's guest after the restart: Startup(STATE), PCR 10 kept, key 0x81000006 the same and signing"
                    );
                }
            }
            Ok(())
        })();
        let rss = q.rss_kib();
        let uk_rss = uk.rss_kib();
        let domain_log = domain.and_then(Domain::stop);
        let failed = result.is_err() || domain_log.is_err();
        keep_console(
            dir,
            &format!("vtpm-domain-unikernel-{round}"),
            &uk.stop(),
            failed,
        );
        keep_console(dir, &format!("vtpmmgr-{round}"), &q.stop(), failed);
        drop(tpm);
        result?;
        let domain_log = domain_log?;
        report.push(format!(
            "stack start {round}: manager ready {:.2} s after its QEMU started; QEMU RSS: manager {} MiB, unikernel vTPM domain {} MiB",
            ready.as_secs_f64(),
            rss.unwrap_or(0) / 1024,
            uk_rss.unwrap_or(0) / 1024
        ));
        if let Some(l) = link_ms(&domain_log) {
            report.push(format!("stack start {round}: hosted domain's {l}"));
        }
    }
    Ok(())
}

/// `cargo xtask run stack`: always on fresh state (`vtpm-run/unikernel-stack`).
pub(crate) fn run_stack(args: &[String]) -> Result {
    if let Some(a) = args.iter().find(|a| *a != "--fresh") {
        return Err(format!("run stack: unknown argument {a:?}"));
    }
    let images = image(&[])?;
    build_domain()?;
    // Its guests start with Startup(CLEAR) and create their keys: every run starts fresh.
    let dir = state_dir(STACK_RUN, true)?;
    let mut report = Vec::new();
    stack(&images, &dir, &mut report)?;
    for l in report {
        eprintln!("xtask: {l}");
    }
    Ok(())
}

fn build_domain() -> Result {
    run(
        "build vtpm-domain",
        super::cargo().args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "vtpm-domain",
            "--bin",
            "vtpm-domain",
            "-p",
            "tools",
            "--bin",
            "vtpm-stack",
        ]),
    )
}

/// Clippy on the platform crates (their own workspaces, the root workspace's lints), with
/// warnings as errors.
fn lint(root: &Path, lib: &Path) -> Result {
    run(
        "clippy (platform/loader)",
        rustup_cargo()
            .current_dir(root.join("platform/loader"))
            .args(["clippy", "--release", "--locked", "--", "-D", "warnings"]),
    )?;
    run(
        "clippy (platform/hermit)",
        rustup_cargo()
            .current_dir(root.join("platform/hermit"))
            .env("HERMIT_LIB_DIR", lib)
            .args(["clippy", "--release", "--locked", "--", "-D", "warnings"]),
    )
}

/// `cargo xtask unikernel-test`: the CI check. Fresh images and state: two `--check` boots
/// (format, then open with the same keys), then the stack twice.
pub(crate) fn test(_args: &[String]) -> Result {
    let images = image(&[])?;
    let root = super::root();
    timed("clippy on the platform crates", || {
        lint(&root, &root.join(OUT))
    })?;
    build_domain()?;
    // Its own folder: a user's `run` state is never touched.
    let dir = state_dir(TEST_RUN, true)?;
    let mut report = vec![format!(
        "image sizes: loader {} KiB, vtpmmgr {} KiB, vtpm-domain {} KiB",
        size(&images.loader) / 1024,
        size(&images.vtpmmgr) / 1024,
        size(&images.vtpm_domain) / 1024
    )];
    let a = check_boot(&images, &dir)?;
    let b = check_boot(&images, &dir)?;
    if !a.formatted || b.formatted {
        return Err(format!("expected a format then an open: {a:?} {b:?}"));
    }
    if a.did_vid != "0x00011014" {
        return Err(format!(
            "unexpected DID_VID {} (swtpm's is 0x00011014)",
            a.did_vid
        ));
    }
    if a.srk != b.srk || a.binding != b.binding {
        return Err(format!("keys changed across the reboot: {a:?} {b:?}"));
    }
    report.push(format!(
        "boot 1 formatted, boot 2 opened the same store: SRK {}…, binding {}… (DID_VID {}); to the report: {} ms, {} ms",
        a.srk.get(..16).unwrap_or(&a.srk),
        a.binding.get(..16).unwrap_or(&a.binding),
        a.did_vid,
        a.ready_ms,
        b.ready_ms
    ));
    stack(&images, &dir, &mut report)?;
    for l in report {
        eprintln!("xtask: {l}");
    }
    Ok(())
}

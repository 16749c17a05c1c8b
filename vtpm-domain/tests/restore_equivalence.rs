#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `Engine::save_state` → `Engine::restore` is lossless: an engine restored from a blob taken
//! at any point answers the rest of a command sequence exactly like the engine it was taken
//! from, byte for byte — random numbers, nonces, keys and signatures included (the DRBG state is
//! in the blob), and ends in the same state (equal blobs).
//!
//! The platform hands out the same entropy bytes on every call, so an engine that re-seeded from
//! the platform instead of restoring its DRBG would diverge from the original and be caught.

#[path = "support/cmdgen.rs"]
mod cmdgen;

use cmdgen::{
    B, CC_CREATE_PRIMARY, CC_GET_RANDOM, CC_SHUTDOWN, CC_STARTUP, Cmd, RH_OWNER, Target, command,
    ecc_template, generate, generate_nv, hex, pw_session, rc_name, rc_of, run_one,
};
use vtpm_domain::engine::{Engine, Platform};

/// Every call returns the same bytes: output does not depend on how much was drawn before.
struct ConstPlatform(u8);

impl Platform for ConstPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for (b, i) in buf.iter_mut().zip((0..=255u8).cycle()) {
            *b = self.0 ^ i.wrapping_mul(31);
        }
    }
    fn monotonic_ms(&mut self) -> u64 {
        1000
    }
}

struct Ours(Engine);

impl Target for Ours {
    fn send(&mut self, locality: u8, cmd: &[u8]) -> Vec<u8> {
        self.0.execute(locality, cmd)
    }
}

fn fresh(seed: u8) -> Ours {
    let mut e = Engine::manufacture(Box::new(ConstPlatform(seed)));
    let rsp = e.execute(0, &command(CC_STARTUP, &[], &[], &[0, 0]));
    assert_eq!(rc_of(&rsp), 0, "Startup(CLEAR): {}", rc_name(rc_of(&rsp)));
    Ours(e)
}

fn restored(from: &Engine, seed: u8) -> Ours {
    let blob = from.save_state();
    Ours(Engine::restore(&blob, Box::new(ConstPlatform(seed))).expect("restore"))
}

/// Runs `cmds` on `a`; at each index in `points` (ascending) the current state is copied into
/// a new engine, and from there on every command goes to both, whose responses must be equal.
fn check(cmds: &[Cmd], points: &[usize], seed: u8) -> (usize, usize) {
    let mut a = fresh(seed);
    let mut objs_a = Vec::new();
    let mut copies: Vec<(usize, Ours, Vec<Option<u32>>)> = Vec::new();
    let mut compared = 0;
    let mut succeeded = 0;
    for i in 0..cmds.len() {
        if points.contains(&i) {
            copies.push((i, restored(&a.0, seed), objs_a.clone()));
        }
        let ra = run_one(&mut a, &mut objs_a, cmds, i);
        if rc_of(&ra) == 0 {
            succeeded += 1;
        }
        for (from, b, objs_b) in &mut copies {
            let rb = run_one(b, objs_b, cmds, i);
            compared += 1;
            assert_eq!(
                hex(&ra),
                hex(&rb),
                "command #{i} ({}) after a restore at #{from}: {}\n  original {}\n  restored {}",
                cmds[i].kind,
                hex(&cmds[i].bytes(&objs_a)),
                rc_name(rc_of(&ra)),
                rc_name(rc_of(&rb)),
            );
        }
    }
    let end = a.0.save_state();
    for (from, b, _) in &copies {
        assert!(
            *end == *b.0.save_state(),
            "final state differs for the copy restored at #{from}"
        );
    }
    (compared, succeeded)
}

#[test]
fn generated_sequences_survive_restore() {
    let mut total = 0;
    let mut ok = 0;
    for seed in 1..=4u8 {
        let cmds = generate(u64::from(seed), 250);
        let points = [0, 1, 17, 60, 121, 200, 249];
        let (c, s) = check(&cmds, &points, seed);
        total += c;
        ok += s;
    }
    println!("restore equivalence: {total} responses compared, {ok} successful originals");
}

/// The same with NV command sequences (`cmdgen::generate_nv`): NV indices, their data, locks,
/// PIN counters and the counter high-water mark survive `save_state` / `restore` (the NV
/// section of the blob).
#[test]
fn nv_sequences_survive_restore() {
    let mut total = 0;
    let mut ok = 0;
    for seed in 1..=4u8 {
        let cmds = generate_nv(u64::from(seed), 250);
        let points = [0, 1, 17, 60, 121, 200, 249];
        let (c, s) = check(&cmds, &points, seed);
        total += c;
        ok += s;
    }
    println!("NV restore equivalence: {total} responses compared, {ok} successful originals");
}

/// What the steps of [`volatile_state_survives_restore`] learn from earlier answers.
#[derive(Default)]
struct Learned {
    /// Handles returned, in order.
    handles: Vec<u32>,
    /// The last ContextSave's TPMS_CONTEXT.
    context: Vec<u8>,
}

type Step = Box<dyn Fn(&Learned) -> Vec<u8>>;

/// A state rich in volatile things — loaded and context-saved objects and sessions, a policy
/// digest, a hash sequence in progress, a DRBG that has advanced — copied after every step.
/// ECDSA's random k and session nonces come from the DRBG, so they must match too.
#[test]
fn volatile_state_survives_restore() {
    let cp = |hier: u32, attrs: u32, sym: bool, scheme: Option<u16>| -> Vec<u8> {
        let params = B::new()
            .b(&B::new().b(&[]).b(&[]).done())
            .raw(&ecc_template(attrs, sym, scheme, 3))
            .b(&[])
            .u32(0)
            .done();
        command(CC_CREATE_PRIMARY, &[hier], &[pw_session(&[])], &params)
    };
    let start_session = |kind: u8, aes: bool| -> Vec<u8> {
        let b = B::new().b(&[0x11; 16]).b(&[]).u8(kind);
        let b = if aes {
            b.u16(0x0006).u16(128).u16(0x0043)
        } else {
            b.u16(0x0010)
        };
        command(
            0x176,
            &[0x4000_0007, 0x4000_0007],
            &[],
            &b.u16(0x000B).done(),
        )
    };
    let h = |l: &Learned, i: usize| l.handles.get(i).copied().unwrap_or(0x80FF_FFF0);
    let steps: Vec<(&str, Step)> = vec![
        (
            "GetRandom",
            Box::new(|_| command(CC_GET_RANDOM, &[], &[], &[0, 32])),
        ),
        (
            "CreatePrimary storage",
            Box::new(move |_| cp(RH_OWNER, 0x0003_0072, true, None)),
        ),
        (
            "StartAuthSession HMAC",
            Box::new(move |_| start_session(0, false)),
        ),
        (
            "StartAuthSession policy",
            Box::new(move |_| start_session(1, true)),
        ),
        (
            "GetRandom",
            Box::new(|_| command(CC_GET_RANDOM, &[], &[], &[0, 16])),
        ),
        (
            "PolicyGetDigest",
            Box::new(move |l| command(0x189, &[h(l, 2)], &[], &[])),
        ),
        (
            "CreatePrimary signing",
            Box::new(move |_| cp(0x4000_0007, 0x0004_0072, false, Some(0x000B))),
        ),
        (
            "ContextSave session",
            Box::new(move |l| command(0x162, &[h(l, 1)], &[], &[])),
        ),
        (
            "ContextLoad session",
            Box::new(|l| command(0x161, &[], &[], &l.context)),
        ),
        (
            "ContextSave object",
            Box::new(move |l| command(0x162, &[h(l, 0)], &[], &[])),
        ),
        (
            "FlushContext object",
            Box::new(move |l| command(0x165, &[], &[], &h(l, 0).to_be_bytes())),
        ),
        (
            "ContextLoad object",
            Box::new(|l| command(0x161, &[], &[], &l.context)),
        ),
        (
            "HashSequenceStart",
            Box::new(|_| command(0x186, &[], &[], &B::new().b(b"ab").u16(0x000B).done())),
        ),
        (
            "SequenceUpdate",
            Box::new(move |l| {
                let p = B::new().b(b"hello ").done();
                command(0x15C, &[h(l, 6)], &[pw_session(b"ab")], &p)
            }),
        ),
        (
            "PolicyRestart",
            Box::new(move |l| command(0x180, &[h(l, 2)], &[], &[])),
        ),
        (
            "PolicyGetDigest",
            Box::new(move |l| command(0x189, &[h(l, 2)], &[], &[])),
        ),
        (
            "GetRandom",
            Box::new(|_| command(CC_GET_RANDOM, &[], &[], &[0, 48])),
        ),
        (
            "SequenceComplete",
            Box::new(move |l| {
                let p = B::new().b(b"world").u32(0x4000_0007).done();
                command(0x13E, &[h(l, 6)], &[pw_session(b"ab")], &p)
            }),
        ),
        (
            "Sign ECDSA",
            Box::new(move |l| {
                let p = B::new()
                    .b(&[0x42; 32])
                    .u16(0x0010)
                    .u16(0x8024)
                    .u32(0x4000_0007)
                    .b(&[])
                    .done();
                command(0x15D, &[h(l, 3)], &[pw_session(&[])], &p)
            }),
        ),
        (
            "FlushContext session",
            Box::new(move |l| command(0x165, &[], &[], &h(l, 4).to_be_bytes())),
        ),
        (
            "GetRandom",
            Box::new(|_| command(CC_GET_RANDOM, &[], &[], &[0, 8])),
        ),
    ];
    let returns_handle = [0x131u32, 0x176, 0x161, 0x186];
    let mut successes = 0;
    for point in 0..=steps.len() {
        let mut a = fresh(9);
        let mut b = None;
        let mut learned = Learned::default();
        for (i, (name, step)) in steps.iter().enumerate() {
            if i == point {
                b = Some(restored(&a.0, 9));
            }
            let cmd = step(&learned);
            let ra = a.send(0, &cmd);
            if point == 0 && rc_of(&ra) == 0 {
                successes += 1;
            }
            if rc_of(&ra) == 0 {
                let cc = u32::from_be_bytes([cmd[6], cmd[7], cmd[8], cmd[9]]);
                if returns_handle.contains(&cc) {
                    learned
                        .handles
                        .push(u32::from_be_bytes([ra[10], ra[11], ra[12], ra[13]]));
                }
                if cc == 0x162 {
                    learned.context = ra[10..].to_vec();
                }
            }
            if let Some(b) = b.as_mut() {
                let rb = b.send(0, &cmd);
                assert_eq!(
                    hex(&ra),
                    hex(&rb),
                    "#{i} {name} after a restore at #{point}: {} / {}",
                    rc_name(rc_of(&ra)),
                    rc_name(rc_of(&rb))
                );
            }
        }
        if let Some(b) = b {
            assert!(
                *a.0.save_state() == *b.0.save_state(),
                "restore at #{point}"
            );
        }
    }
    println!(
        "volatile state: {successes} of {} steps succeed",
        steps.len()
    );
}

/// Shutdown(STATE), save, restore into a new engine, _TPM_Init, Startup(STATE): both engines
/// continue identically.
#[test]
fn shutdown_state_blob_resumes() {
    let cmds = generate(11, 120);
    let mut a = fresh(3);
    let mut objs = Vec::new();
    for i in 0..cmds.len() {
        run_one(&mut a, &mut objs, &cmds, i);
    }
    let rsp = a.send(0, &command(CC_SHUTDOWN, &[], &[], &[0, 1]));
    assert_eq!(rc_of(&rsp), 0, "Shutdown(STATE): {}", rc_name(rc_of(&rsp)));
    let mut b = restored(&a.0, 3);
    a.0.power_on();
    b.0.power_on();
    for e in [&mut a, &mut b] {
        let rsp = e.send(0, &command(CC_STARTUP, &[], &[], &[0, 1]));
        assert_eq!(rc_of(&rsp), 0, "Startup(STATE): {}", rc_name(rc_of(&rsp)));
    }
    let more = generate(12, 120);
    let (mut oa, mut ob) = (Vec::new(), Vec::new());
    for i in 0..more.len() {
        let ra = run_one(&mut a, &mut oa, &more, i);
        let rb = run_one(&mut b, &mut ob, &more, i);
        assert_eq!(
            hex(&ra),
            hex(&rb),
            "command #{i} ({}) after Startup(STATE)",
            more[i].kind
        );
    }
}

/// Damaged blobs are refused, never accepted or panicked on.
#[test]
fn damaged_blobs_are_refused() {
    let mut a = fresh(5);
    let cmds = generate(5, 80);
    let mut objs = Vec::new();
    for i in 0..cmds.len() {
        run_one(&mut a, &mut objs, &cmds, i);
    }
    let blob = a.0.save_state();
    assert!(Engine::restore(&blob, Box::new(ConstPlatform(5))).is_ok());
    let step = (blob.len() / 300).max(1);
    for cut in (0..blob.len()).step_by(step) {
        assert!(
            Engine::restore(&blob[..cut], Box::new(ConstPlatform(5))).is_err(),
            "a blob cut to {cut} of {} bytes was accepted",
            blob.len()
        );
    }
    for pos in (0..blob.len()).step_by(step) {
        let mut bad = blob.to_vec();
        bad[pos] ^= 0x01;
        assert!(
            Engine::restore(&bad, Box::new(ConstPlatform(5))).is_err(),
            "a blob with byte {pos} flipped was accepted"
        );
    }
    let mut long = blob.to_vec();
    long.push(0);
    assert!(Engine::restore(&long, Box::new(ConstPlatform(5))).is_err());
}

// ---------------------------------------------------------------------------------------------
// The `engine` fuzz target's property, replayed on its seeds and on every crash it found
// ---------------------------------------------------------------------------------------------

/// The fuzz target's platform (`fuzz/fuzz_targets/engine.rs`).
struct FuzzPlatform;

impl Platform for FuzzPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for (b, i) in buf.iter_mut().zip((0..=255u8).cycle()) {
            *b = i.wrapping_mul(167).wrapping_add(0x5A);
        }
    }
    fn monotonic_ms(&mut self) -> u64 {
        0
    }
}

/// A response is a header whose size field is its length; errors are the bare header.
fn well_formed(rsp: &[u8]) {
    assert!(rsp.len() >= 10, "short response {}", hex(rsp));
    let size = u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]);
    assert_eq!(size as usize, rsp.len(), "size field of {}", hex(rsp));
    if rc_of(rsp) != 0 {
        assert_eq!(hex(&rsp[..2]), "8001", "error tag of {}", hex(rsp));
        assert_eq!(rsp.len(), 10, "error with a body: {}", hex(rsp));
    }
}

/// What the fuzz target does with one input.
fn fuzz_one(data: &[u8]) {
    let mut e = Engine::manufacture(Box::new(FuzzPlatform));
    well_formed(&e.execute(0, &command(CC_STARTUP, &[], &[], &[0, 0])));
    let cp = B::new()
        .b(&B::new().b(&[]).b(&[]).done())
        .raw(&ecc_template(0x0003_0072, true, None, 3))
        .b(&[])
        .u32(0)
        .done();
    well_formed(&e.execute(
        0,
        &command(CC_CREATE_PRIMARY, &[RH_OWNER], &[pw_session(&[])], &cp),
    ));
    let base = e.save_state();
    let mut e = Engine::restore(&base, Box::new(FuzzPlatform)).unwrap();
    let mut rest = data;
    let get_random = command(CC_GET_RANDOM, &[], &[], &[0, 16]);
    let mut last: &[u8] = &get_random;
    let mut last_locality = 0;
    while rest.len() >= 2 {
        let n = u16::from_be_bytes([rest[0], rest[1]]);
        let tail = &rest[2..];
        let len = usize::from(n & 0x1FFF).min(tail.len());
        let locality = match (n >> 13) as u8 {
            l @ 0..=4 => l,
            _ => 0,
        };
        let (cmd, next) = tail.split_at(len);
        well_formed(&e.execute(locality, cmd));
        last = cmd;
        last_locality = locality;
        rest = next;
    }
    let blob = e.save_state();
    let mut copy = Engine::restore(&blob, Box::new(FuzzPlatform)).unwrap();
    let a = e.execute(last_locality, last);
    let b = copy.execute(last_locality, last);
    well_formed(&a);
    assert_eq!(hex(&a), hex(&b), "the restored engine answers differently");
    assert!(
        *e.save_state() == *copy.save_state(),
        "states differ after the replay"
    );
}

fn replay_dir(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let r = std::panic::catch_unwind(|| fuzz_one(&data));
        assert!(r.is_ok(), "{} fails the fuzz property", f.display());
    }
    files.len()
}

/// Inputs that once crashed the `engine` fuzz target (`tests/fuzz_regressions/`), and the
/// target's seed corpus (`fuzz/corpus/engine/`, tpm2-tools traffic), through the same
/// property: no panic, well-formed responses, save/restore answers identically.
#[test]
fn fuzz_regressions_and_seeds_replay() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let crashes = replay_dir(&root.join("tests/fuzz_regressions"));
    let seeds = replay_dir(&root.join("../fuzz/corpus/engine"));
    assert!(seeds > 100, "the engine fuzz seeds are missing ({seeds})");
    println!("replayed {crashes} fuzz regressions and {seeds} seeds");
}

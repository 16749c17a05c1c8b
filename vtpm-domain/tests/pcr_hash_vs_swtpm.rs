#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! PCRs, hashing and sequences of our engine side by side with swtpm (TCG TPM 2.0 Library
//! part 3 §22 TPM2_PCR_Extend/Event/Read/Allocate/Reset, §15.4 TPM2_Hash, §15.5 TPM2_HMAC,
//! §17 hash/HMAC/event sequences): the same command bytes go to both, at the same locality,
//! and
//!
//! - responses must be byte-identical: every PCR command (values, pcrUpdateCounter, selections,
//!   digests, allocation sizes), HMACs, event sequences, and every error (code, handle or
//!   parameter number);
//! - for commands that return a hash-check ticket (TPM2_Hash, TPM2_SequenceComplete) the
//!   digest, the ticket's hierarchy and the ticket HMAC's length must agree; the ticket HMAC
//!   itself differs because it is keyed with each TPM's own hierarchy proof.
//!
//! swtpm allocates all four banks (SHA-1, SHA-256, SHA-384, SHA-512) when manufactured, our
//! engine SHA-1, SHA-256 and SHA-384. Every test first gives swtpm our allocation with
//! TPM2_PCR_Allocate (both must answer it identically) and restarts both TPMs, so that
//! pcrUpdateCounter, which counts one update per bank extended, compares too.
//!
//! swtpm answers TPM_RC_RETRY to the first TPM2_HMAC after start-up; the command is repeated,
//! as a TSS does. swtpm must be installed: a missing binary fails the tests.

use tpm2::Reader;
use tpm2::Unmarshal;
use tpm2::alg::TpmAlgId;
use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::{Tpm2bAuth, Tpm2bDigest, TpmaObject, TpmtTkHashcheck};
use vtpm_domain::engine::Engine;
use vtpm_domain::engine::crypto::hash::{HashAlg, digest};
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};
use vtpm_tools::transport::{SwtpmControl, SwtpmTransport};

#[path = "support/pair.rs"]
mod pair;
use pair::{LabelPlatform, pw, rc_of, transact_retrying};

const SHA1: TpmAlgId = TpmAlgId::SHA1;
const SHA256: TpmAlgId = TpmAlgId::SHA256;
const SHA384: TpmAlgId = TpmAlgId::SHA384;
const SHA512: TpmAlgId = TpmAlgId::SHA512;

fn pw_with(p: &[u8]) -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::new(p).unwrap())
}

/// A command with one empty password session per handle in `auth`.
fn cmd(cc: TpmCc, handles: &[TpmHandle], auth: usize, params: &[u8]) -> Vec<u8> {
    let sessions: Vec<TpmsAuthCommand> = (0..auth).map(|_| pw()).collect();
    build_command(cc, handles, &sessions, params).unwrap()
}

fn b2(data: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// A TPML_PCR_SELECTION as raw bytes: (hash, sizeofSelect, PCRs).
fn sel_raw(banks: &[(TpmAlgId, usize, &[u32])]) -> Vec<u8> {
    let mut v = u32::try_from(banks.len()).unwrap().to_be_bytes().to_vec();
    for (alg, size, pcrs) in banks {
        v.extend_from_slice(&alg.0.to_be_bytes());
        v.push(u8::try_from(*size).unwrap());
        let mut bits = vec![0u8; *size];
        for p in *pcrs {
            bits[usize::try_from(*p / 8).unwrap()] |= 1 << (p % 8);
        }
        v.extend_from_slice(&bits);
    }
    v
}

fn sel(banks: &[(TpmAlgId, &[u32])]) -> Vec<u8> {
    let with_size: Vec<(TpmAlgId, usize, &[u32])> =
        banks.iter().map(|(a, p)| (*a, 3, *p)).collect();
    sel_raw(&with_size)
}

/// A TPML_DIGEST_VALUES.
fn digests(list: &[(TpmAlgId, Vec<u8>)]) -> Vec<u8> {
    let mut v = u32::try_from(list.len()).unwrap().to_be_bytes().to_vec();
    for (a, d) in list {
        v.extend_from_slice(&a.0.to_be_bytes());
        v.extend_from_slice(d);
    }
    v
}

/// Distinct digest values for test step `n` in bank `alg`.
fn value(alg: TpmAlgId, n: u32) -> Vec<u8> {
    let h = HashAlg::from_alg(alg).unwrap();
    digest(h, &[&n.to_be_bytes()])
}

const ALL: [u32; 24] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
];

/// Our engine and a private swtpm, with the same PCR allocation, both started.
struct Pair {
    ours: Engine,
    conn: SwtpmTransport,
    ctrl: SwtpmControl,
    _swtpm: Swtpm,
}

impl Pair {
    fn new() -> Pair {
        let swtpm =
            Swtpm::spawn(SwtpmOptions::default()).expect("swtpm must be installed for these tests");
        let conn = swtpm.connect().unwrap();
        let ctrl = swtpm.control().unwrap();
        let ours = Engine::manufacture(Box::new(LabelPlatform::new(b"pcr_hash_vs_swtpm")));
        let mut pair = Pair {
            ours,
            conn,
            ctrl,
            _swtpm: swtpm,
        };
        pair.startup(0, 0);
        // Our allocation for swtpm; both answer the request identically (the new allocation
        // needs 24 × (20 + 32 + 48) bytes of the 24 × (20 + 32 + 48 + 64) available).
        let alloc = sel(&[(SHA1, &ALL), (SHA256, &ALL), (SHA384, &ALL), (SHA512, &[])]);
        let rsp = pair.same(
            0,
            "align allocation",
            &cmd(TpmCc::PCR_ALLOCATE, &[TpmHandle::PLATFORM], 1, &alloc),
        );
        let p = Response::parse(&rsp, TpmCc::PCR_ALLOCATE).unwrap();
        assert_eq!(
            p.parameters,
            [
                &[1u8][..],
                &24u32.to_be_bytes(),
                &2400u32.to_be_bytes(),
                &3936u32.to_be_bytes()
            ]
            .concat()
        );
        pair.cycle(0, 0, 0);
        pair
    }

    fn swtpm(&mut self, locality: u8, cmd: &[u8]) -> Vec<u8> {
        self.ctrl.set_locality(locality).unwrap();
        transact_retrying(&mut self.conn, cmd)
    }

    /// (our response, swtpm's response).
    fn both(&mut self, locality: u8, cmd: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let ours = self.ours.execute(locality, cmd);
        (ours, self.swtpm(locality, cmd))
    }

    /// Runs the command on both, asserts byte-identical responses and returns ours.
    fn same(&mut self, locality: u8, what: &str, cmd: &[u8]) -> Vec<u8> {
        let (a, b) = self.both(locality, cmd);
        assert_eq!(a, b, "{what}: ours {} / swtpm {}", rc_of(&a), rc_of(&b));
        a
    }

    /// Like [`Pair::same`], and the command must give `want`.
    fn same_rc(&mut self, locality: u8, what: &str, cmd: &[u8], want: TpmRc) -> Vec<u8> {
        let rsp = self.same(locality, what, cmd);
        assert_eq!(rc_of(&rsp), want, "{what}");
        rsp
    }

    fn startup(&mut self, locality: u8, su: u8) {
        let c = cmd(TpmCc::STARTUP, &[], 0, &[0, su]);
        self.same_rc(locality, "TPM2_Startup", &c, TpmRc::SUCCESS);
    }

    /// TPM2_Shutdown(`shutdown`), a power cycle and TPM2_Startup(`startup`) at `locality`.
    fn cycle(&mut self, shutdown: u8, startup: u8, locality: u8) {
        let c = cmd(TpmCc::SHUTDOWN, &[], 0, &[0, shutdown]);
        self.same_rc(0, "TPM2_Shutdown", &c, TpmRc::SUCCESS);
        self.ctrl.init(false).unwrap();
        self.ours.power_on();
        self.startup(locality, startup);
    }

    /// Every PCR of every bank, eight at a time, and a few mixed selections: identical bytes.
    fn compare_all_pcrs(&mut self, what: &str) {
        for alg in [SHA1, SHA256, SHA384, SHA512] {
            for chunk in ALL.chunks(8) {
                let c = cmd(TpmCc::PCR_READ, &[], 0, &sel(&[(alg, chunk)]));
                self.same_rc(0, what, &c, TpmRc::SUCCESS);
            }
        }
        let c = cmd(
            TpmCc::PCR_READ,
            &[],
            0,
            &sel(&[
                (SHA384, &[0, 17, 23]),
                (SHA1, &[16, 20, 22]),
                (SHA256, &[10, 21]),
            ]),
        );
        self.same_rc(0, what, &c, TpmRc::SUCCESS);
    }
}

// ---------------------------------------------------------------------------------------------
// PCRs
// ---------------------------------------------------------------------------------------------

#[test]
fn pcr_read_after_startup_and_its_limits() {
    let mut p = Pair::new();
    p.compare_all_pcrs("initial values");
    let read = |s: &[u8]| cmd(TpmCc::PCR_READ, &[], 0, s);
    // The values themselves: pcrUpdateCounter 20, PCR 16 zero, PCR 17 all ones.
    let rsp = p.same_rc(
        0,
        "PCR 16, 17",
        &read(&sel(&[(SHA256, &[16, 17])])),
        TpmRc::SUCCESS,
    );
    let params = Response::parse(&rsp, TpmCc::PCR_READ)
        .unwrap()
        .parameters
        .to_vec();
    let mut want = 20u32.to_be_bytes().to_vec();
    want.extend(sel(&[(SHA256, &[16, 17])]));
    want.extend([0, 0, 0, 2, 0, 32]);
    want.extend([0; 32]);
    want.extend([0, 32]);
    want.extend([0xFF; 32]);
    assert_eq!(params, want);
    // 24 PCRs of one bank, then of three banks: at most eight digests, selection trimmed.
    p.same_rc(0, "24 PCRs", &read(&sel(&[(SHA1, &ALL)])), TpmRc::SUCCESS);
    let three = sel(&[(SHA1, &[0, 1, 2]), (SHA256, &ALL), (SHA384, &[0, 1])]);
    p.same_rc(0, "three banks", &read(&three), TpmRc::SUCCESS);
    let all_banks = sel(&[(SHA1, &ALL), (SHA256, &ALL), (SHA384, &ALL), (SHA512, &ALL)]);
    p.same_rc(0, "four banks", &read(&all_banks), TpmRc::SUCCESS);
    // Unallocated bank, empty selections, no selection at all, a bank twice.
    p.same_rc(
        0,
        "unallocated",
        &read(&sel(&[(SHA512, &[1, 2]), (SHA1, &[]), (SHA256, &[3])])),
        TpmRc::SUCCESS,
    );
    p.same_rc(0, "empty list", &read(&[0, 0, 0, 0]), TpmRc::SUCCESS);
    p.same_rc(
        0,
        "twice",
        &read(&sel(&[(SHA256, &[1]), (SHA256, &[1, 2])])),
        TpmRc::SUCCESS,
    );
    // Errors: sizeofSelect other than 3, bad hashes, too many banks, truncation, trailing.
    for size in [0usize, 1, 2, 4, 5] {
        let s = sel_raw(&[(SHA256, size, &[])]);
        p.same_rc(0, "sizeofSelect", &read(&s), TpmRc::VALUE.with_parameter(1));
    }
    for alg in [
        TpmAlgId::NULL,
        TpmAlgId::SM3_256,
        TpmAlgId::RSA,
        TpmAlgId::SHA3_256,
    ] {
        let s = sel_raw(&[(alg, 3, &[0])]);
        p.same_rc(0, "bad hash", &read(&s), TpmRc::HASH.with_parameter(1));
    }
    let five = sel(&[
        (SHA1, &[1]),
        (SHA1, &[1]),
        (SHA1, &[1]),
        (SHA1, &[1]),
        (SHA1, &[1]),
    ]);
    p.same_rc(0, "five banks", &read(&five), TpmRc::SIZE.with_parameter(1));
    let mut short = sel(&[(SHA1, &[1])]);
    short.pop();
    p.same_rc(
        0,
        "truncated",
        &read(&short),
        TpmRc::INSUFFICIENT.with_parameter(1),
    );
    let mut long = sel(&[(SHA1, &[1])]);
    long.push(0);
    p.same_rc(0, "trailing byte", &read(&long), TpmRc::SIZE);
}

#[test]
fn extend_event_and_reset_at_every_locality() {
    let mut p = Pair::new();
    let mut n = 0u32;
    let (mut extended, mut reset) = (0, 0);
    for pcr in 0..24u32 {
        for loc in 0..5u8 {
            n += 1;
            let d = digests(&[
                (SHA1, value(SHA1, n)),
                (SHA256, value(SHA256, n)),
                (SHA384, value(SHA384, n)),
            ]);
            let c = cmd(TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], 1, &d);
            let rsp = p.same(loc, &format!("extend PCR {pcr} at locality {loc}"), &c);
            extended += usize::from(rc_of(&rsp) == TpmRc::SUCCESS);
            let c = cmd(
                TpmCc::PCR_EVENT,
                &[TpmHandle(pcr)],
                1,
                &b2(&n.to_be_bytes()),
            );
            p.same(loc, &format!("event PCR {pcr} at locality {loc}"), &c);
            let c = cmd(
                TpmCc::PCR_READ,
                &[],
                0,
                &sel(&[(SHA1, &[pcr]), (SHA256, &[pcr]), (SHA384, &[pcr])]),
            );
            p.same_rc(0, "read back", &c, TpmRc::SUCCESS);
            let c = cmd(TpmCc::PCR_RESET, &[TpmHandle(pcr)], 1, &[]);
            let rsp = p.same(loc, &format!("reset PCR {pcr} at locality {loc}"), &c);
            reset += usize::from(rc_of(&rsp) == TpmRc::SUCCESS);
        }
    }
    // The PC Client table: 17 of the 120 (PCR, locality) pairs may not extend, and only PCRs
    // 16 and 23 (localities 0–3) and 20–22 (locality 2) may be reset.
    assert_eq!((extended, reset), (103, 11));
    p.compare_all_pcrs("after the locality matrix");
    // Extend with the banks in another order, a bank twice, an unallocated bank, one bank,
    // no digest at all; TPM_RH_NULL does nothing.
    let cases = [
        digests(&[(SHA384, value(SHA384, 1)), (SHA1, value(SHA1, 2))]),
        digests(&[(SHA256, value(SHA256, 3)), (SHA256, value(SHA256, 4))]),
        digests(&[(SHA512, value(SHA512, 5)), (SHA1, value(SHA1, 6))]),
        digests(&[(SHA256, value(SHA256, 7))]),
        digests(&[]),
        digests(&[
            (SHA1, value(SHA1, 8)),
            (SHA256, value(SHA256, 8)),
            (SHA384, value(SHA384, 8)),
            (SHA512, value(SHA512, 8)),
        ]),
    ];
    for (i, d) in cases.iter().enumerate() {
        let pcr = TpmHandle(u32::try_from(i).unwrap() + 8);
        p.same_rc(
            0,
            "extend variant",
            &cmd(TpmCc::PCR_EXTEND, &[pcr], 1, d),
            TpmRc::SUCCESS,
        );
        p.same_rc(
            0,
            "extend NULL",
            &cmd(TpmCc::PCR_EXTEND, &[TpmHandle::NULL], 1, d),
            TpmRc::SUCCESS,
        );
    }
    // Events of every size up to the limit, and to TPM_RH_NULL.
    for (i, len) in [0usize, 1, 63, 64, 65, 1000, 1024].into_iter().enumerate() {
        let data = vec![u8::try_from(i).unwrap(); len];
        p.same_rc(
            0,
            "event",
            &cmd(TpmCc::PCR_EVENT, &[TpmHandle(14)], 1, &b2(&data)),
            TpmRc::SUCCESS,
        );
        p.same_rc(
            0,
            "event NULL",
            &cmd(TpmCc::PCR_EVENT, &[TpmHandle::NULL], 1, &b2(&data)),
            TpmRc::SUCCESS,
        );
    }
    p.compare_all_pcrs("after the variants");
}

#[test]
fn pcr_command_errors() {
    let mut p = Pair::new();
    let ext = |h: u32, d: &[u8]| cmd(TpmCc::PCR_EXTEND, &[TpmHandle(h)], 1, d);
    let one = digests(&[(SHA1, value(SHA1, 1))]);
    let five = digests(&(0..5).map(|i| (SHA1, value(SHA1, i))).collect::<Vec<_>>());
    p.same_rc(
        0,
        "five digests",
        &ext(1, &five),
        TpmRc::SIZE.with_parameter(1),
    );
    let short = digests(&[(SHA256, vec![0x11; 20])]);
    p.same_rc(
        0,
        "short digest",
        &ext(1, &short),
        TpmRc::INSUFFICIENT.with_parameter(1),
    );
    let long = digests(&[(SHA256, vec![0x11; 40])]);
    p.same_rc(0, "long digest", &ext(1, &long), TpmRc::SIZE);
    let null = [0, 0, 0, 1, 0, 0x10];
    p.same_rc(
        0,
        "NULL hash",
        &ext(1, &null),
        TpmRc::HASH.with_parameter(1),
    );
    let sm3 = digests(&[(TpmAlgId::SM3_256, vec![0; 32])]);
    p.same_rc(0, "SM3 hash", &ext(1, &sm3), TpmRc::HASH.with_parameter(1));
    for h in [24u32, 0x8100_0000, 0x4000_0001, 0x0100_0000] {
        p.same_rc(0, "not a PCR", &ext(h, &one), TpmRc::VALUE.with_handle(1));
        let c = cmd(TpmCc::PCR_RESET, &[TpmHandle(h)], 1, &[]);
        p.same_rc(0, "reset not a PCR", &c, TpmRc::VALUE.with_handle(1));
    }
    let c = cmd(TpmCc::PCR_RESET, &[TpmHandle::NULL], 1, &[]);
    p.same_rc(0, "reset NULL", &c, TpmRc::VALUE.with_handle(1));
    let c = cmd(TpmCc::PCR_RESET, &[TpmHandle(16)], 1, &[0]);
    p.same_rc(0, "reset trailing", &c, TpmRc::SIZE);
    // Parameters are unmarshalled before the locality is checked.
    p.same_rc(
        0,
        "five digests, PCR 17",
        &ext(17, &five),
        TpmRc::SIZE.with_parameter(1),
    );
    p.same_rc(0, "PCR 17 at locality 0", &ext(17, &one), TpmRc::LOCALITY);
    let big = b2(&[0; 1025]);
    p.same_rc(
        0,
        "event too big",
        &cmd(TpmCc::PCR_EVENT, &[TpmHandle(1)], 1, &big),
        TpmRc::SIZE.with_parameter(1),
    );
    // Wrong password (the PCR's authValue is empty), no session.
    let c = build_command(TpmCc::PCR_EXTEND, &[TpmHandle(1)], &[pw_with(b"x")], &one).unwrap();
    p.same_rc(0, "bad password", &c, TpmRc::BAD_AUTH.with_session(1));
    let c = build_command(TpmCc::PCR_EXTEND, &[TpmHandle(1)], &[], &one).unwrap();
    p.same_rc(0, "no session", &c, TpmRc::AUTH_MISSING);
    p.compare_all_pcrs("after the errors");
}

#[test]
fn pcr_allocate_and_startup_kinds() {
    let mut p = Pair::new();
    let alloc = |s: &[u8]| cmd(TpmCc::PCR_ALLOCATE, &[TpmHandle::PLATFORM], 1, s);
    let requests = [
        sel(&[(SHA1, &[]), (SHA256, &ALL), (SHA384, &ALL), (SHA512, &[])]),
        sel(&[(SHA512, &ALL)]),
        vec![0, 0, 0, 0],
        sel(&[(SHA256, &[0, 17]), (SHA256, &ALL)]),
        sel(&[(SHA1, &[]), (SHA256, &[0, 17]), (SHA384, &[])]),
    ];
    for r in &requests {
        p.same_rc(0, "allocate", &alloc(r), TpmRc::SUCCESS);
    }
    for r in [
        sel(&[(SHA1, &[]), (SHA256, &[0]), (SHA384, &[])]),
        sel(&[(SHA1, &[]), (SHA256, &[17]), (SHA384, &[])]),
    ] {
        p.same_rc(0, "allocate without PCR 0 or 17", &alloc(&r), TpmRc::PCR);
    }
    let c = cmd(TpmCc::PCR_ALLOCATE, &[TpmHandle::OWNER], 1, &requests[0]);
    p.same_rc(0, "allocate by the owner", &c, TpmRc::VALUE.with_handle(1));
    p.same_rc(
        0,
        "allocate five banks",
        &alloc(&[0, 0, 0, 5]),
        TpmRc::SIZE.with_parameter(1),
    );
    // The old allocation is used until the next TPM Reset.
    p.compare_all_pcrs("before the reset");
    // SHA-256 (PCRs 0 and 17) and a full SHA-512 bank after the reset.
    p.same_rc(
        0,
        "allocate",
        &alloc(&sel(&[
            (SHA1, &[]),
            (SHA256, &[0, 17]),
            (SHA384, &[]),
            (SHA512, &ALL),
        ])),
        TpmRc::SUCCESS,
    );
    p.cycle(0, 0, 0);
    p.compare_all_pcrs("after the reset");
    for (i, pcr) in [0u32, 5, 17].into_iter().enumerate() {
        let n = u32::try_from(i).unwrap();
        let d = digests(&[
            (SHA1, value(SHA1, n)),
            (SHA256, value(SHA256, n)),
            (SHA512, value(SHA512, n)),
        ]);
        p.same_rc(
            3,
            "extend",
            &cmd(TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], 1, &d),
            TpmRc::SUCCESS,
        );
    }
    p.compare_all_pcrs("after extends in the new banks");
    // Back to our default banks.
    p.same_rc(
        0,
        "allocate",
        &alloc(&sel(&[
            (SHA1, &ALL),
            (SHA256, &ALL),
            (SHA384, &ALL),
            (SHA512, &[]),
        ])),
        TpmRc::SUCCESS,
    );
    p.cycle(0, 0, 0);
    // Extends, then TPM Resume, TPM Restart and TPM Reset: values and pcrUpdateCounter.
    let extend_some = |p: &mut Pair, n: u32| {
        for (pcr, loc) in [(0u32, 0u8), (5, 0), (16, 0), (17, 3), (20, 2), (23, 1)] {
            let d = digests(&[
                (SHA1, value(SHA1, n + pcr)),
                (SHA384, value(SHA384, n + pcr)),
            ]);
            p.same_rc(
                loc,
                "extend",
                &cmd(TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], 1, &d),
                TpmRc::SUCCESS,
            );
        }
    };
    extend_some(&mut p, 100);
    p.cycle(1, 1, 0);
    p.compare_all_pcrs("after a TPM Resume");
    extend_some(&mut p, 200);
    p.cycle(1, 0, 0);
    p.compare_all_pcrs("after a TPM Restart");
    extend_some(&mut p, 300);
    p.cycle(1, 1, 0);
    p.compare_all_pcrs("after a second TPM Resume");
    p.cycle(0, 0, 0);
    p.compare_all_pcrs("after a TPM Reset");
    // A TPM Reset at locality 3: PCR 0 records the startup locality (PTP table 5).
    p.cycle(0, 0, 3);
    p.compare_all_pcrs("after a reset at locality 3");
    extend_some(&mut p, 400);
    p.compare_all_pcrs("after extends");
}

// ---------------------------------------------------------------------------------------------
// Hashing, HMAC, sequences
// ---------------------------------------------------------------------------------------------

/// Checks two responses that carry `outDigest || TPMT_TK_HASHCHECK` (TPM2_Hash,
/// TPM2_SequenceComplete): same code, same digest, same ticket hierarchy and HMAC length,
/// same session area. Returns (digest, ticket) of ours.
fn same_but_ticket(
    what: &str,
    cc: TpmCc,
    ours: &[u8],
    theirs: &[u8],
) -> (Vec<u8>, TpmtTkHashcheck) {
    assert_eq!(rc_of(ours), rc_of(theirs), "{what}");
    assert_eq!(rc_of(ours), TpmRc::SUCCESS, "{what}");
    assert_eq!(ours.len(), theirs.len(), "{what}: response size");
    let parse = |rsp: &[u8]| {
        let r = Response::parse(rsp, cc).unwrap();
        let mut rd = Reader::new(r.parameters);
        let d = Tpm2bDigest::unmarshal(&mut rd).unwrap();
        let t = TpmtTkHashcheck::unmarshal(&mut rd).unwrap();
        rd.finish("parameters").unwrap();
        (d.as_bytes().to_vec(), t, r.sessions)
    };
    let (d1, t1, s1) = parse(ours);
    let (d2, t2, s2) = parse(theirs);
    assert_eq!(d1, d2, "{what}: digest");
    assert_eq!(t1.hierarchy, t2.hierarchy, "{what}: ticket hierarchy");
    assert_eq!(t1.digest.len(), t2.digest.len(), "{what}: ticket size");
    assert_eq!(s1, s2, "{what}: sessions");
    (d1, t1)
}

fn hash_cmd(data: &[u8], alg: TpmAlgId, hierarchy: TpmHandle) -> Vec<u8> {
    let params = [
        b2(data),
        alg.0.to_be_bytes().to_vec(),
        hierarchy.0.to_be_bytes().to_vec(),
    ]
    .concat();
    cmd(TpmCc::HASH, &[], 0, &params)
}

fn message(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| u8::try_from(i % 251).unwrap() ^ salt)
        .collect()
}

#[test]
fn hash_command() {
    let mut p = Pair::new();
    for alg in [SHA1, SHA256, SHA384, SHA512] {
        for len in [0usize, 1, 3, 4, 55, 56, 64, 111, 112, 128, 1000, 1024] {
            for hierarchy in [
                TpmHandle::OWNER,
                TpmHandle::ENDORSEMENT,
                TpmHandle::PLATFORM,
                TpmHandle::NULL,
            ] {
                let c = hash_cmd(&message(len, 7), alg, hierarchy);
                let (a, b) = p.both(0, &c);
                let (d, t) = same_but_ticket("TPM2_Hash", TpmCc::HASH, &a, &b);
                assert_eq!(
                    d,
                    digest(HashAlg::from_alg(alg).unwrap(), &[&message(len, 7)])
                );
                assert_eq!(t.is_null(), hierarchy == TpmHandle::NULL);
            }
        }
    }
    // Data starting with TPM_GENERATED_VALUE: the NULL ticket; a 2-byte prefix of it: a ticket.
    for data in [
        &[0xff, 0x54, 0x43, 0x47][..],
        &[0xff, 0x54, 0x43, 0x47, 0],
        &[0xff, 0x54],
    ] {
        let (a, b) = p.both(0, &hash_cmd(data, SHA256, TpmHandle::OWNER));
        let (_, t) = same_but_ticket("TPM_GENERATED data", TpmCc::HASH, &a, &b);
        assert_eq!(t.is_null(), data.len() >= 4);
    }
    p.same_rc(
        0,
        "1025 bytes",
        &hash_cmd(&[0; 1025], SHA1, TpmHandle::OWNER),
        TpmRc::SIZE.with_parameter(1),
    );
    p.same_rc(
        0,
        "NULL hash",
        &hash_cmd(b"x", TpmAlgId::NULL, TpmHandle::OWNER),
        TpmRc::HASH.with_parameter(2),
    );
    p.same_rc(
        0,
        "SM3",
        &hash_cmd(b"x", TpmAlgId::SM3_256, TpmHandle::OWNER),
        TpmRc::HASH.with_parameter(2),
    );
    for h in [
        TpmHandle::LOCKOUT,
        TpmHandle(0x8000_0000),
        TpmHandle::PASSWORD,
        TpmHandle(0x4000_000D),
    ] {
        p.same_rc(
            0,
            "bad hierarchy",
            &hash_cmd(b"x", SHA1, h),
            TpmRc::VALUE.with_parameter(3),
        );
    }
    let mut c = hash_cmd(b"x", SHA1, TpmHandle::OWNER);
    c.truncate(c.len() - 2);
    let size = u32::try_from(c.len()).unwrap().to_be_bytes();
    c[2..6].copy_from_slice(&size);
    p.same_rc(0, "truncated", &c, TpmRc::INSUFFICIENT.with_parameter(3));
}

fn start_cmd(auth: &[u8], alg: TpmAlgId) -> Vec<u8> {
    cmd(
        TpmCc::HASH_SEQUENCE_START,
        &[],
        0,
        &[b2(auth), alg.0.to_be_bytes().to_vec()].concat(),
    )
}

fn update_cmd(h: TpmHandle, auth: &[u8], data: &[u8]) -> Vec<u8> {
    build_command(TpmCc::SEQUENCE_UPDATE, &[h], &[pw_with(auth)], &b2(data)).unwrap()
}

fn complete_cmd(h: TpmHandle, auth: &[u8], data: &[u8], hierarchy: TpmHandle) -> Vec<u8> {
    let params = [b2(data), hierarchy.0.to_be_bytes().to_vec()].concat();
    build_command(TpmCc::SEQUENCE_COMPLETE, &[h], &[pw_with(auth)], &params).unwrap()
}

fn event_complete_cmd(pcr: TpmHandle, h: TpmHandle, data: &[u8]) -> Vec<u8> {
    cmd(TpmCc::EVENT_SEQUENCE_COMPLETE, &[pcr, h], 2, &b2(data))
}

impl Pair {
    /// Starts the same sequence on both: same handle.
    fn start(&mut self, auth: &[u8], alg: TpmAlgId) -> TpmHandle {
        let rsp = self.same_rc(0, "sequence start", &start_cmd(auth, alg), TpmRc::SUCCESS);
        Response::parse(&rsp, TpmCc::HASH_SEQUENCE_START)
            .unwrap()
            .handle
            .unwrap()
    }

    fn flush(&mut self, h: TpmHandle) {
        let c = cmd(TpmCc::FLUSH_CONTEXT, &[], 0, &h.0.to_be_bytes());
        self.same_rc(0, "flush", &c, TpmRc::SUCCESS);
    }
}

#[test]
fn hash_and_event_sequences() {
    let mut p = Pair::new();
    let data = message(3000, 0x33);
    // Hash sequences in several chunkings; complete with each hierarchy.
    for alg in [SHA1, SHA256, SHA384, SHA512] {
        for (i, cuts) in [
            &[0usize, 3000][..],
            &[0, 1, 1025, 2000, 2900],
            &[0, 4, 5, 64, 1000],
        ]
        .into_iter()
        .enumerate()
        {
            let h = p.start(b"seq\0", alg);
            for w in cuts.windows(2) {
                p.same_rc(
                    0,
                    "update",
                    &update_cmd(h, b"seq", &data[w[0]..w[1].min(w[0] + 1024)]),
                    TpmRc::SUCCESS,
                );
            }
            let hierarchy = [TpmHandle::OWNER, TpmHandle::ENDORSEMENT, TpmHandle::NULL][i];
            let (a, b) = p.both(0, &complete_cmd(h, b"seq", b"tail", hierarchy));
            let (_, t) = same_but_ticket("complete", TpmCc::SEQUENCE_COMPLETE, &a, &b);
            // A first block shorter than TPM_GENERATED_VALUE never gets a ticket.
            let short_first = cuts[1] - cuts[0] < 4;
            assert_eq!(t.is_null(), hierarchy == TpmHandle::NULL || short_first);
            // The object is gone from both.
            p.same_rc(
                0,
                "update after complete",
                &update_cmd(h, b"seq", b""),
                TpmRc::REFERENCE_H0,
            );
        }
    }
    // Ticket rules: first block short or TPM_GENERATED_VALUE; no update and a short final block.
    for first in [&b""[..], b"ab", &[0xff, 0x54, 0x43, 0x47], b"abcd"] {
        let h = p.start(b"", SHA256);
        p.same_rc(
            0,
            "first update",
            &update_cmd(h, b"", first),
            TpmRc::SUCCESS,
        );
        p.same_rc(
            0,
            "second update",
            &update_cmd(h, b"", b"\xff\x54\x43\x47"),
            TpmRc::SUCCESS,
        );
        let (a, b) = p.both(0, &complete_cmd(h, b"", b"", TpmHandle::OWNER));
        let (_, t) = same_but_ticket("ticket rule", TpmCc::SEQUENCE_COMPLETE, &a, &b);
        assert_eq!(t.is_null(), first != b"abcd");
    }
    for last in [&b"abc"[..], b"abcd", &[0xff, 0x54, 0x43, 0x47, 1]] {
        let h = p.start(b"", SHA384);
        let (a, b) = p.both(0, &complete_cmd(h, b"", last, TpmHandle::PLATFORM));
        let (_, t) = same_but_ticket("no update", TpmCc::SEQUENCE_COMPLETE, &a, &b);
        assert_eq!(t.is_null(), last != b"abcd");
    }
    // Event sequences: every bank's digest, the PCR extended (or not, for TPM_RH_NULL).
    for (pcr, loc) in [
        (TpmHandle(9), 0u8),
        (TpmHandle::NULL, 0),
        (TpmHandle(20), 1),
        (TpmHandle(17), 0),
    ] {
        let h = p.start(b"ev", TpmAlgId::NULL);
        for chunk in data[..2500].chunks(1000) {
            p.same_rc(
                0,
                "event update",
                &update_cmd(h, b"ev", chunk),
                TpmRc::SUCCESS,
            );
        }
        let c = build_command(
            TpmCc::EVENT_SEQUENCE_COMPLETE,
            &[pcr, h],
            &[pw(), pw_with(b"ev")],
            &b2(b"end"),
        )
        .unwrap();
        let rsp = p.same(loc, "event complete", &c);
        if rc_of(&rsp) == TpmRc::LOCALITY {
            // The sequence survives a refused extend.
            p.flush(h);
        } else {
            assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
        }
    }
    p.compare_all_pcrs("after event sequences");
    // Object memory: three slots, lowest free handle first.
    let handles: Vec<TpmHandle> = (0..3).map(|_| p.start(b"", SHA1)).collect();
    p.same_rc(
        0,
        "a fourth sequence",
        &start_cmd(b"", SHA1),
        TpmRc::OBJECT_MEMORY,
    );
    p.flush(handles[1]);
    assert_eq!(p.start(b"", TpmAlgId::NULL), handles[1]);
    // Kind mismatches and bad parameters.
    p.same_rc(
        0,
        "complete an event sequence",
        &complete_cmd(handles[1], b"", b"", TpmHandle::OWNER),
        TpmRc::MODE.with_handle(1),
    );
    p.same_rc(
        0,
        "event-complete a hash sequence",
        &event_complete_cmd(TpmHandle::NULL, handles[0], b""),
        TpmRc::MODE.with_handle(2),
    );
    p.same_rc(
        0,
        "bad hierarchy",
        &complete_cmd(handles[0], b"", b"", TpmHandle::LOCKOUT),
        TpmRc::VALUE.with_parameter(2),
    );
    p.same_rc(
        0,
        "update too big",
        &update_cmd(handles[0], b"", &[0; 1025]),
        TpmRc::SIZE.with_parameter(1),
    );
    p.same_rc(
        0,
        "wrong password",
        &update_cmd(handles[0], b"x", b""),
        TpmRc::BAD_AUTH.with_session(1),
    );
    for h in [TpmHandle(3), TpmHandle::OWNER, TpmHandle(0x8000_0005)] {
        p.same_rc(
            0,
            "update a non-object",
            &update_cmd(h, b"", b""),
            TpmRc::VALUE.with_handle(1),
        );
    }
    for h in handles {
        p.flush(h);
    }
    p.same_rc(
        0,
        "auth too long",
        &start_cmd(&[1; 65], SHA1),
        TpmRc::SIZE.with_parameter(1),
    );
    p.same_rc(0, "auth of 64", &start_cmd(&[1; 64], SHA1), TpmRc::SUCCESS);
    for alg in [TpmAlgId::SM3_256, TpmAlgId::RSA, TpmAlgId::SHA3_256] {
        p.same_rc(
            0,
            "bad hash",
            &start_cmd(b"", alg),
            TpmRc::HASH.with_parameter(2),
        );
    }
}

/// A keyed-hash key loaded with TPM2_LoadExternal (TPM_RH_NULL): `scheme` None is
/// TPM_ALG_NULL, else TPM_ALG_HMAC with that hash.
fn load_keyed_hash(
    p: &mut Pair,
    attributes: u32,
    scheme: Option<TpmAlgId>,
    key: &[u8],
) -> TpmHandle {
    let seed = [0x5au8; 32];
    let unique = digest(HashAlg::Sha256, &[&seed, key]);
    let sensitive = [
        TpmAlgId::KEYEDHASH.0.to_be_bytes().to_vec(),
        b2(b""),
        b2(&seed),
        b2(key),
    ]
    .concat();
    let scheme = match scheme {
        None => TpmAlgId::NULL.0.to_be_bytes().to_vec(),
        Some(h) => [TpmAlgId::HMAC.0.to_be_bytes(), h.0.to_be_bytes()].concat(),
    };
    let public = [
        TpmAlgId::KEYEDHASH.0.to_be_bytes().to_vec(),
        SHA256.0.to_be_bytes().to_vec(),
        (attributes | TpmaObject::USER_WITH_AUTH)
            .to_be_bytes()
            .to_vec(),
        b2(b""),
        scheme,
        b2(&unique),
    ]
    .concat();
    let params = [
        b2(&sensitive),
        b2(&public),
        TpmHandle::NULL.0.to_be_bytes().to_vec(),
    ]
    .concat();
    let rsp = p.same_rc(
        0,
        "TPM2_LoadExternal",
        &cmd(TpmCc::LOAD_EXTERNAL, &[], 0, &params),
        TpmRc::SUCCESS,
    );
    Response::parse(&rsp, TpmCc::LOAD_EXTERNAL)
        .unwrap()
        .handle
        .unwrap()
}

fn hmac_cmd(key: TpmHandle, data: &[u8], alg: TpmAlgId) -> Vec<u8> {
    cmd(
        TpmCc::HMAC,
        &[key],
        1,
        &[b2(data), alg.0.to_be_bytes().to_vec()].concat(),
    )
}

fn hmac_start_cmd(key: TpmHandle, auth: &[u8], alg: TpmAlgId) -> Vec<u8> {
    cmd(
        TpmCc::HMAC_START,
        &[key],
        1,
        &[b2(auth), alg.0.to_be_bytes().to_vec()].concat(),
    )
}

#[test]
fn hmac_and_hmac_sequences() {
    let mut p = Pair::new();
    let sign = TpmaObject::SIGN;
    let key = message(40, 0x5c);
    // sign + decrypt with no scheme: the hash comes from the command.
    let k = load_keyed_hash(&mut p, sign | TpmaObject::DECRYPT, None, &key);
    let data = message(1024, 1);
    for alg in [SHA1, SHA256, SHA384, SHA512] {
        for len in [0usize, 1, 64, 1024] {
            p.same_rc(
                0,
                "TPM2_HMAC",
                &hmac_cmd(k, &data[..len], alg),
                TpmRc::SUCCESS,
            );
        }
        // The same through a sequence (HMAC sequences give the NULL ticket: identical bytes).
        let rsp = p.same_rc(
            0,
            "TPM2_HMAC_Start",
            &hmac_start_cmd(k, b"s", alg),
            TpmRc::SUCCESS,
        );
        let s = Response::parse(&rsp, TpmCc::HMAC_START)
            .unwrap()
            .handle
            .unwrap();
        for chunk in data.chunks(300) {
            p.same_rc(
                0,
                "HMAC update",
                &update_cmd(s, b"s", chunk),
                TpmRc::SUCCESS,
            );
        }
        p.same_rc(
            0,
            "HMAC complete",
            &complete_cmd(s, b"s", b"!", TpmHandle::OWNER),
            TpmRc::SUCCESS,
        );
    }
    p.same_rc(
        0,
        "no hash",
        &hmac_cmd(k, b"x", TpmAlgId::NULL),
        TpmRc::VALUE.with_parameter(2),
    );
    p.same_rc(
        0,
        "no hash (start)",
        &hmac_start_cmd(k, b"", TpmAlgId::NULL),
        TpmRc::VALUE.with_parameter(2),
    );
    p.same_rc(
        0,
        "too big",
        &hmac_cmd(k, &[0; 1025], SHA1),
        TpmRc::SIZE.with_parameter(1),
    );
    // hashAlg is a TPMI_ALG_MAC_SCHEME+: anything but an implemented hash is TPM_RC_SYMMETRIC.
    for alg in [
        TpmAlgId::SM3_256,
        TpmAlgId::RSA,
        TpmAlgId::AES,
        TpmAlgId::SHA3_256,
    ] {
        p.same_rc(
            0,
            "not a MAC scheme",
            &hmac_cmd(k, b"x", alg),
            TpmRc::SYMMETRIC.with_parameter(2),
        );
        let c = hmac_start_cmd(k, b"", alg);
        p.same_rc(
            0,
            "not a MAC scheme (start)",
            &c,
            TpmRc::SYMMETRIC.with_parameter(2),
        );
    }
    // Known difference: libtpms 0.9 implements TPM_ALG_CMAC (and computes AES-CMAC with a
    // symmetric key); this TPM does not, so CMAC is not a MAC scheme here.
    let (ours, theirs) = p.both(0, &hmac_cmd(k, b"x", TpmAlgId::CMAC));
    assert_eq!(rc_of(&ours), TpmRc::SYMMETRIC.with_parameter(2));
    assert_eq!(rc_of(&theirs), TpmRc::SCHEME.with_parameter(2));
    // Sequence commands on a key.
    p.same_rc(
        0,
        "update a key",
        &update_cmd(k, b"", b"x"),
        TpmRc::MODE.with_parameter(1),
    );
    p.same_rc(
        0,
        "complete a key",
        &complete_cmd(k, b"", b"x", TpmHandle::OWNER),
        TpmRc::MODE.with_handle(1),
    );
    p.same_rc(
        0,
        "event-complete a key",
        &event_complete_cmd(TpmHandle::NULL, k, b""),
        TpmRc::MODE.with_handle(2),
    );
    p.flush(k);
    // An HMAC key with its own hash: that hash, or TPM_RC_VALUE.
    let k = load_keyed_hash(&mut p, sign, Some(SHA384), &key);
    p.same_rc(
        0,
        "default hash",
        &hmac_cmd(k, b"abc", TpmAlgId::NULL),
        TpmRc::SUCCESS,
    );
    p.same_rc(0, "its hash", &hmac_cmd(k, b"abc", SHA384), TpmRc::SUCCESS);
    p.same_rc(
        0,
        "another hash",
        &hmac_cmd(k, b"abc", SHA256),
        TpmRc::VALUE.with_parameter(2),
    );
    p.same_rc(
        0,
        "another hash (start)",
        &hmac_start_cmd(k, b"", SHA1),
        TpmRc::VALUE.with_parameter(2),
    );
    p.flush(k);
    // Not a signing key (sealed data): TPM_RC_KEY; a sequence object: TPM_RC_TYPE.
    let k = load_keyed_hash(&mut p, 0, None, &key);
    p.same_rc(
        0,
        "sealed data",
        &hmac_cmd(k, b"abc", SHA256),
        TpmRc::KEY.with_handle(1),
    );
    p.same_rc(
        0,
        "sealed data (start)",
        &hmac_start_cmd(k, b"", SHA256),
        TpmRc::KEY.with_handle(1),
    );
    p.flush(k);
    let s = p.start(b"", SHA256);
    p.same_rc(
        0,
        "HMAC with a sequence",
        &hmac_cmd(s, b"abc", SHA256),
        TpmRc::TYPE.with_handle(1),
    );
    p.flush(s);
}

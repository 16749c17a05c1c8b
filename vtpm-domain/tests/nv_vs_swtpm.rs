#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::many_single_char_names)]
//! NV storage (TCG TPM 2.0 Library part 3 §31, part 1 §37) cross-checked with swtpm 0.7.1:
//! every command goes to our engine and to swtpm (the shared [`pair::Pair`] harness) and the
//! responses must be byte-identical (password sessions only, so every NV response is
//! deterministic) unless noted. Covered: ordinary, counter, bit-field and extend indices;
//! chunked and out-of-range reads and writes; owner, platform and index authorization,
//! wrong passwords (TPM_RC_AUTH_FAIL and DA counting, TPM_RC_BAD_AUTH with NO_DA); write,
//! read and global locks across Startup(CLEAR) and Startup(STATE); define-time attribute
//! checks; TPM2_NV_ChangeAuth and NV_UndefineSpaceSpecial under a policy session; the NV
//! properties and handle list of TPM2_GetCapability. The NV budget (TPM_RC_NV_SPACE) and
//! save/restore run on the engine alone. swtpm must be installed.

use tpm2::auth::{TpmaSession, TpmsAuthCommand};
use tpm2::cc::TpmCc;
use tpm2::command::build_command;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::response::Response;
use tpm2::structures::{Tpm2bAuth, Tpm2bDigest, Tpm2bNonce, TpmNt, TpmaNv, TpmsNvPublic};
use tpm2::{Marshal, Unmarshal};

#[path = "support/pair.rs"]
mod pair;
use pair::{Pair, rc_of};

use sha2::{Digest, Sha256};

const SHA1: tpm2::alg::TpmAlgId = tpm2::alg::TpmAlgId::SHA1;
const SHA256: tpm2::alg::TpmAlgId = tpm2::alg::TpmAlgId::SHA256;

const OWNER: TpmHandle = TpmHandle::OWNER;
const PLATFORM: TpmHandle = TpmHandle::PLATFORM;

const RW_AUTH: u32 = TpmaNv::AUTHREAD | TpmaNv::AUTHWRITE;
const RW_OWNER: u32 = TpmaNv::OWNERREAD | TpmaNv::OWNERWRITE;

fn pw(p: &[u8]) -> TpmsAuthCommand {
    TpmsAuthCommand::password(Tpm2bAuth::new(p).unwrap())
}

fn cmd(cc: TpmCc, handles: &[TpmHandle], sessions: &[TpmsAuthCommand], params: &[u8]) -> Vec<u8> {
    build_command(cc, handles, sessions, params).unwrap()
}

fn public(h: u32, alg: tpm2::alg::TpmAlgId, attrs: u32, policy: &[u8], size: u16) -> TpmsNvPublic {
    TpmsNvPublic {
        nv_index: TpmHandle(h),
        name_alg: alg,
        attributes: TpmaNv(attrs),
        auth_policy: Tpm2bDigest::new(policy).unwrap(),
        data_size: size,
    }
}

fn nt(attrs: u32, t: TpmNt) -> u32 {
    TpmaNv(attrs).with_nt(t).0
}

/// TPM2_NV_DefineSpace parameters (auth, publicInfo).
fn define_params(auth: &[u8], p: &TpmsNvPublic) -> Vec<u8> {
    let mut v = Tpm2bAuth::new(auth).unwrap().to_bytes();
    let body = p.to_bytes();
    v.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    v.extend(body);
    v
}

/// Defines on both through `by` (owner or platform, empty password); returns the code.
fn define(p: &mut Pair, what: &str, by: TpmHandle, auth: &[u8], public: &TpmsNvPublic) -> TpmRc {
    let c = cmd(
        TpmCc::NV_DEFINE_SPACE,
        &[by],
        &[pw(b"")],
        &define_params(auth, public),
    );
    rc_of(&p.same(what, &c))
}

fn ok(p: &mut Pair, what: &str, c: &[u8]) -> Vec<u8> {
    let r = p.same(what, c);
    assert_eq!(rc_of(&r), TpmRc::SUCCESS, "{what}");
    r
}

fn write_params(data: &[u8], offset: u16) -> Vec<u8> {
    let mut v = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    v.extend(data);
    v.extend(offset.to_be_bytes());
    v
}

fn read_params(size: u16, offset: u16) -> Vec<u8> {
    let mut v = size.to_be_bytes().to_vec();
    v.extend(offset.to_be_bytes());
    v
}

fn write(auth: TpmHandle, h: u32, s: &[u8], data: &[u8], offset: u16) -> Vec<u8> {
    cmd(
        TpmCc::NV_WRITE,
        &[auth, TpmHandle(h)],
        &[pw(s)],
        &write_params(data, offset),
    )
}

fn read(auth: TpmHandle, h: u32, s: &[u8], size: u16, offset: u16) -> Vec<u8> {
    cmd(
        TpmCc::NV_READ,
        &[auth, TpmHandle(h)],
        &[pw(s)],
        &read_params(size, offset),
    )
}

fn nv_cmd(cc: TpmCc, auth: TpmHandle, h: u32, s: &[u8], params: &[u8]) -> Vec<u8> {
    cmd(cc, &[auth, TpmHandle(h)], &[pw(s)], params)
}

fn read_public(h: u32) -> Vec<u8> {
    cmd(TpmCc::NV_READ_PUBLIC, &[TpmHandle(h)], &[], &[])
}

fn undefine(by: TpmHandle, h: u32) -> Vec<u8> {
    cmd(
        TpmCc::NV_UNDEFINE_SPACE,
        &[by, TpmHandle(h)],
        &[pw(b"")],
        &[],
    )
}

/// The data of a successful TPM2_NV_Read response.
fn read_data(rsp: &[u8]) -> Vec<u8> {
    let r = Response::parse(rsp, TpmCc::NV_READ).unwrap();
    r.parameters[2..].to_vec()
}

/// TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES) of one property: its value.
fn property(p: &mut Pair, pt: u32) -> u32 {
    let mut params = 6u32.to_be_bytes().to_vec();
    params.extend(pt.to_be_bytes());
    params.extend(1u32.to_be_bytes());
    let r = p.same(
        "GetCapability",
        &cmd(TpmCc::GET_CAPABILITY, &[], &[], &params),
    );
    let b = &Response::parse(&r, TpmCc::GET_CAPABILITY)
        .unwrap()
        .parameters;
    // moreData, capability, count, (property, value)
    assert_eq!(u32::from_be_bytes(b[9..13].try_into().unwrap()), pt);
    u32::from_be_bytes(b[13..17].try_into().unwrap())
}

const PT_HR_NV_INDEX: u32 = 0x202;
const PT_NV_COUNTERS: u32 = 0x20A;
const PT_LOCKOUT_COUNTER: u32 = 0x20E;
const PT_NV_INDEX_MAX: u32 = 0x117;
const PT_NV_BUFFER_MAX: u32 = 0x12C;

#[test]
fn ordinary_index_define_write_read_undefine() {
    let mut p = Pair::new(b"nv ordinary");
    let h = 0x0150_0001;
    let pb = public(h, SHA256, RW_AUTH | RW_OWNER, &[], 100);
    assert_eq!(define(&mut p, "define", OWNER, b"idx", &pb), TpmRc::SUCCESS);
    assert_eq!(
        define(&mut p, "define again", OWNER, b"idx", &pb),
        TpmRc::NV_DEFINED
    );
    ok(&mut p, "readpublic", &read_public(h));
    let r = p.same("read unwritten", &read(TpmHandle(h), h, b"idx", 10, 0));
    assert_eq!(rc_of(&r), TpmRc::NV_UNINITIALIZED);
    let data: Vec<u8> = (0..100u8).collect();
    ok(
        &mut p,
        "write by index",
        &write(TpmHandle(h), h, b"idx", &data[..50], 0),
    );
    ok(
        &mut p,
        "write by owner",
        &write(OWNER, h, b"", &data[50..], 50),
    );
    ok(&mut p, "readpublic written", &read_public(h));
    let mut back = Vec::new();
    for off in (0..100u16).step_by(32) {
        let n = 32.min(100 - off);
        back.extend(read_data(&ok(
            &mut p,
            "chunk",
            &read(TpmHandle(h), h, b"idx", n, off),
        )));
    }
    assert_eq!(back, data);
    ok(&mut p, "read by owner", &read(OWNER, h, b"", 100, 0));
    ok(&mut p, "read nothing", &read(OWNER, h, b"", 0, 100));
    for (what, c) in [
        ("read past the end", read(OWNER, h, b"", 101, 0)),
        ("read offset past the end", read(OWNER, h, b"", 1, 101)),
        ("read more than the buffer", read(OWNER, h, b"", 1025, 0)),
        ("read 2 at 99", read(OWNER, h, b"", 2, 99)),
        ("write past the end", write(OWNER, h, b"", &[1; 10], 95)),
        ("write offset past the end", write(OWNER, h, b"", &[1], 101)),
        ("write 1025 bytes", write(OWNER, h, b"", &[1; 1025], 0)),
        ("platform read", read(PLATFORM, h, b"", 1, 0)),
        ("platform write", write(PLATFORM, h, b"", &[1], 0)),
        (
            "write counter command",
            nv_cmd(TpmCc::NV_INCREMENT, OWNER, h, b"", &[]),
        ),
        (
            "set bits",
            nv_cmd(TpmCc::NV_SET_BITS, OWNER, h, b"", &[0; 8]),
        ),
        (
            "extend",
            nv_cmd(TpmCc::NV_EXTEND, OWNER, h, b"", &[0, 1, 9]),
        ),
        (
            "write lock without lock attributes",
            nv_cmd(TpmCc::NV_WRITE_LOCK, OWNER, h, b"", &[]),
        ),
        (
            "read lock without READ_STCLEAR",
            nv_cmd(TpmCc::NV_READ_LOCK, OWNER, h, b"", &[]),
        ),
        ("read public of an absent index", read_public(h + 1)),
        ("read of an absent index", read(OWNER, h + 1, b"", 1, 0)),
        (
            "write by another index",
            write(TpmHandle(h + 1), h, b"", &[1], 0),
        ),
        ("not an NV handle", read(OWNER, 0x8100_0000, b"", 1, 0)),
    ] {
        let r = p.same(what, &c);
        assert_ne!(rc_of(&r), TpmRc::SUCCESS, "{what}");
    }
    // GetCapability: the handle list and the NV properties.
    let mut caps = 1u32.to_be_bytes().to_vec();
    caps.extend(0x0100_0000u32.to_be_bytes());
    caps.extend(10u32.to_be_bytes());
    ok(
        &mut p,
        "handles",
        &cmd(TpmCc::GET_CAPABILITY, &[], &[], &caps),
    );
    assert_eq!(property(&mut p, PT_HR_NV_INDEX), 1);
    assert_eq!(property(&mut p, PT_NV_INDEX_MAX), 2048);
    assert_eq!(property(&mut p, PT_NV_BUFFER_MAX), 1024);
    ok(&mut p, "undefine", &undefine(OWNER, h));
    assert_eq!(
        rc_of(&p.same("read after undefine", &read(OWNER, h, b"", 1, 0))),
        TpmRc::HANDLE.with_handle(2)
    );
    assert_eq!(property(&mut p, PT_HR_NV_INDEX), 0);
    ok(
        &mut p,
        "handles, none",
        &cmd(TpmCc::GET_CAPABILITY, &[], &[], &caps),
    );
}

#[test]
fn authorization_failures_and_dictionary_attack() {
    let mut p = Pair::new(b"nv auth");
    let (da, noda, owner_only, read_only) = (0x0150_0010, 0x0150_0011, 0x0150_0012, 0x0150_0013);
    for (h, attrs) in [
        (da, RW_AUTH),
        (noda, RW_AUTH | TpmaNv::NO_DA),
        (owner_only, RW_OWNER),
        (read_only, TpmaNv::AUTHREAD | TpmaNv::OWNERWRITE),
    ] {
        let pb = public(h, SHA256, attrs, &[], 16);
        assert_eq!(
            define(&mut p, "define", OWNER, b"secret", &pb),
            TpmRc::SUCCESS
        );
        ok(
            &mut p,
            "owner or index write",
            &write(
                if attrs & TpmaNv::OWNERWRITE != 0 {
                    OWNER
                } else {
                    TpmHandle(h)
                },
                h,
                if attrs & TpmaNv::OWNERWRITE != 0 {
                    b""
                } else {
                    b"secret"
                },
                &[7; 16],
                0,
            ),
        );
    }
    assert_eq!(property(&mut p, PT_LOCKOUT_COUNTER), 0);
    let r = p.same("wrong password", &read(TpmHandle(da), da, b"wrong", 16, 0));
    assert_eq!(rc_of(&r), TpmRc::AUTH_FAIL.with_session(1));
    assert_eq!(property(&mut p, PT_LOCKOUT_COUNTER), 1);
    let r = p.same(
        "wrong password, NO_DA",
        &read(TpmHandle(noda), noda, b"wrong", 16, 0),
    );
    assert_eq!(rc_of(&r), TpmRc::BAD_AUTH.with_session(1));
    assert_eq!(property(&mut p, PT_LOCKOUT_COUNTER), 1);
    ok(
        &mut p,
        "right password",
        &read(TpmHandle(da), da, b"secret", 16, 0),
    );
    let r = p.same(
        "index auth without AUTHREAD",
        &read(TpmHandle(owner_only), owner_only, b"secret", 16, 0),
    );
    assert_eq!(rc_of(&r), TpmRc::AUTH_UNAVAILABLE.with_session(1));
    let r = p.same("owner read without OWNERREAD", &read(OWNER, da, b"", 16, 0));
    assert_eq!(rc_of(&r), TpmRc::NV_AUTHORIZATION);
    let r = p.same(
        "index write without AUTHWRITE",
        &write(TpmHandle(read_only), read_only, b"secret", &[1], 0),
    );
    assert_eq!(rc_of(&r), TpmRc::AUTH_UNAVAILABLE.with_session(1));
    ok(
        &mut p,
        "index read with AUTHREAD",
        &read(TpmHandle(read_only), read_only, b"secret", 4, 4),
    );
    ok(
        &mut p,
        "owner write with OWNERWRITE",
        &write(OWNER, read_only, b"", &[1], 0),
    );
    let r = p.same("wrong owner password", &read(OWNER, owner_only, b"x", 1, 0));
    assert_eq!(rc_of(&r), TpmRc::BAD_AUTH.with_session(1));
    // Until lockout (maxTries 3 on both after manufacture).
    for i in 0..3 {
        p.same(
            &format!("failure {i}"),
            &read(TpmHandle(da), da, b"wrong", 16, 0),
        );
    }
    let r = p.same("locked out", &read(TpmHandle(da), da, b"secret", 16, 0));
    assert_eq!(rc_of(&r), TpmRc::LOCKOUT);
    ok(
        &mut p,
        "NO_DA index still usable",
        &read(TpmHandle(noda), noda, b"secret", 16, 0),
    );
}

#[test]
fn counters_bits_and_extend() {
    let mut p = Pair::new(b"nv counters");
    let (c1, c2, bits, ext256, ext1) = (
        0x0150_0020,
        0x0150_0021,
        0x0150_0022,
        0x0150_0023,
        0x0150_0024,
    );
    let counter = public(c1, SHA256, nt(RW_AUTH | RW_OWNER, TpmNt::COUNTER), &[], 8);
    assert_eq!(
        define(&mut p, "counter", OWNER, b"", &counter),
        TpmRc::SUCCESS
    );
    assert_eq!(property(&mut p, PT_NV_COUNTERS), 1);
    assert_eq!(
        rc_of(&p.same("unwritten counter", &read(OWNER, c1, b"", 8, 0))),
        TpmRc::NV_UNINITIALIZED
    );
    for _ in 0..3 {
        ok(
            &mut p,
            "increment",
            &nv_cmd(TpmCc::NV_INCREMENT, TpmHandle(c1), c1, b"", &[]),
        );
    }
    let v = read_data(&ok(&mut p, "read counter", &read(OWNER, c1, b"", 8, 0)));
    let v = u64::from_be_bytes(v.try_into().unwrap());
    ok(&mut p, "read half", &read(OWNER, c1, b"", 4, 4));
    assert_ne!(
        rc_of(&p.same("write a counter", &write(OWNER, c1, b"", &[0; 8], 0))),
        TpmRc::SUCCESS
    );
    ok(&mut p, "undefine counter", &undefine(OWNER, c1));
    // A new counter continues from the largest value seen.
    let counter2 = public(c2, SHA256, nt(RW_AUTH, TpmNt::COUNTER), &[], 8);
    assert_eq!(
        define(&mut p, "counter 2", OWNER, b"", &counter2),
        TpmRc::SUCCESS
    );
    ok(
        &mut p,
        "increment 2",
        &nv_cmd(TpmCc::NV_INCREMENT, TpmHandle(c2), c2, b"", &[]),
    );
    let v2 = read_data(&ok(
        &mut p,
        "read counter 2",
        &read(TpmHandle(c2), c2, b"", 8, 0),
    ));
    assert_eq!(u64::from_be_bytes(v2.try_into().unwrap()), v + 1);
    for (what, pb) in [
        (
            "counter of 4 bytes",
            public(c1, SHA256, nt(RW_AUTH, TpmNt::COUNTER), &[], 4),
        ),
        (
            "counter with CLEAR_STCLEAR",
            public(
                c1,
                SHA256,
                nt(RW_AUTH | TpmaNv::CLEAR_STCLEAR, TpmNt::COUNTER),
                &[],
                8,
            ),
        ),
        (
            "bits of 9 bytes",
            public(c1, SHA256, nt(RW_AUTH, TpmNt::BITS), &[], 9),
        ),
        (
            "extend of 20 bytes with SHA-256",
            public(c1, SHA256, nt(RW_AUTH, TpmNt::EXTEND), &[], 20),
        ),
    ] {
        assert_ne!(
            define(&mut p, what, OWNER, b"", &pb),
            TpmRc::SUCCESS,
            "{what}"
        );
    }
    // Bits.
    let b = public(bits, SHA256, nt(RW_AUTH, TpmNt::BITS), &[], 8);
    assert_eq!(define(&mut p, "bits", OWNER, b"", &b), TpmRc::SUCCESS);
    for v in [1u64, 0x100, 0x8000_0000_0000_0000] {
        ok(
            &mut p,
            "set bits",
            &nv_cmd(
                TpmCc::NV_SET_BITS,
                TpmHandle(bits),
                bits,
                b"",
                &v.to_be_bytes(),
            ),
        );
    }
    let v = read_data(&ok(
        &mut p,
        "read bits",
        &read(TpmHandle(bits), bits, b"", 8, 0),
    ));
    assert_eq!(v, 0x8000_0000_0000_0101u64.to_be_bytes());
    assert_ne!(
        rc_of(&p.same(
            "increment bits",
            &nv_cmd(TpmCc::NV_INCREMENT, TpmHandle(bits), bits, b"", &[])
        )),
        TpmRc::SUCCESS
    );
    // Extend, SHA-256 and SHA-1.
    for (h, alg, size) in [(ext256, SHA256, 32), (ext1, SHA1, 20)] {
        let e = public(h, alg, nt(RW_AUTH, TpmNt::EXTEND), &[], size);
        assert_eq!(define(&mut p, "extend", OWNER, b"", &e), TpmRc::SUCCESS);
        for d in [&b"first"[..], b"", &[0xAB; 1024]] {
            let mut params = u16::try_from(d.len()).unwrap().to_be_bytes().to_vec();
            params.extend(d);
            ok(
                &mut p,
                "extend",
                &nv_cmd(TpmCc::NV_EXTEND, TpmHandle(h), h, b"", &params),
            );
        }
        ok(&mut p, "read extend", &read(TpmHandle(h), h, b"", size, 0));
        ok(&mut p, "readpublic extend", &read_public(h));
    }
    let first = Sha256::digest([[0u8; 32].as_slice(), b"first"].concat());
    let mut params = 5u16.to_be_bytes().to_vec();
    params.extend(b"first");
    let h = 0x0150_0025;
    let e = public(h, SHA256, nt(RW_AUTH, TpmNt::EXTEND), &[], 32);
    assert_eq!(
        define(&mut p, "extend once", OWNER, b"", &e),
        TpmRc::SUCCESS
    );
    ok(
        &mut p,
        "extend once",
        &nv_cmd(TpmCc::NV_EXTEND, TpmHandle(h), h, b"", &params),
    );
    assert_eq!(
        read_data(&ok(&mut p, "read", &read(TpmHandle(h), h, b"", 32, 0))),
        first.as_slice()
    );
    assert_eq!(property(&mut p, PT_NV_COUNTERS), 1);
}

fn startup(p: &mut Pair, su: u16) {
    ok(
        p,
        "Startup",
        &cmd(TpmCc::STARTUP, &[], &[], &su.to_be_bytes()),
    );
}

fn shutdown(p: &mut Pair, su: u16) {
    ok(
        p,
        "Shutdown",
        &cmd(TpmCc::SHUTDOWN, &[], &[], &su.to_be_bytes()),
    );
}

#[test]
fn locks_across_startup() {
    let mut p = Pair::new(b"nv locks");
    let (wst, wdef, rst, clr, glob, wdef_unwritten) = (
        0x0150_0030,
        0x0150_0031,
        0x0150_0032,
        0x0150_0033,
        0x0150_0034,
        0x0150_0035,
    );
    let (clr_orderly, orderly) = (0x0150_0036, 0x0150_0037);
    let all = [
        wst,
        wdef,
        rst,
        clr,
        glob,
        wdef_unwritten,
        clr_orderly,
        orderly,
    ];
    for (h, extra) in [
        (clr_orderly, TpmaNv::CLEAR_STCLEAR | TpmaNv::ORDERLY),
        (orderly, TpmaNv::ORDERLY | TpmaNv::WRITE_STCLEAR),
        (wst, TpmaNv::WRITE_STCLEAR),
        (wdef, TpmaNv::WRITEDEFINE),
        (rst, TpmaNv::READ_STCLEAR),
        (clr, TpmaNv::CLEAR_STCLEAR),
        (glob, TpmaNv::GLOBALLOCK),
        (wdef_unwritten, TpmaNv::WRITEDEFINE),
    ] {
        let pb = public(h, SHA256, RW_AUTH | extra, &[], 8);
        assert_eq!(define(&mut p, "define", OWNER, b"", &pb), TpmRc::SUCCESS);
        if h != wdef_unwritten {
            ok(
                &mut p,
                "write",
                &write(TpmHandle(h), h, b"", &[h.to_be_bytes()[3]; 8], 0),
            );
        }
    }
    let wl = |h: u32| nv_cmd(TpmCc::NV_WRITE_LOCK, TpmHandle(h), h, b"", &[]);
    let rl = |h: u32| nv_cmd(TpmCc::NV_READ_LOCK, TpmHandle(h), h, b"", &[]);
    ok(&mut p, "write lock STCLEAR", &wl(wst));
    ok(&mut p, "write lock again", &wl(wst));
    ok(&mut p, "write lock WRITEDEFINE", &wl(wdef));
    ok(
        &mut p,
        "write lock WRITEDEFINE unwritten",
        &wl(wdef_unwritten),
    );
    ok(&mut p, "read lock", &rl(rst));
    ok(&mut p, "read lock again", &rl(rst));
    ok(
        &mut p,
        "global lock",
        &cmd(TpmCc::NV_GLOBAL_WRITE_LOCK, &[OWNER], &[pw(b"")], &[]),
    );
    let check = |p: &mut Pair, when: &str| {
        for h in all {
            p.same(&format!("{when}: readpublic {h:x}"), &read_public(h));
            p.same(
                &format!("{when}: write {h:x}"),
                &write(TpmHandle(h), h, b"", &[1], 0),
            );
            p.same(
                &format!("{when}: read {h:x}"),
                &read(TpmHandle(h), h, b"", 8, 0),
            );
        }
    };
    for h in [wst, wdef, glob, wdef_unwritten] {
        let r = p.same("write locked", &write(TpmHandle(h), h, b"", &[1], 0));
        assert_eq!(rc_of(&r), TpmRc::NV_LOCKED);
    }
    let r = p.same("read locked", &read(TpmHandle(rst), rst, b"", 8, 0));
    assert_eq!(rc_of(&r), TpmRc::NV_LOCKED);
    // Resume keeps every lock.
    shutdown(&mut p, 1);
    p.power_cycle();
    startup(&mut p, 1);
    check(&mut p, "after Startup(STATE)");
    for h in all {
        p.same("re-lock", &wl(h));
    }
    p.same("re-lock read", &rl(rst));
    // Restart: STCLEAR locks go, WRITEDEFINE of a written index stays.
    shutdown(&mut p, 1);
    p.power_cycle();
    startup(&mut p, 0);
    check(&mut p, "after TPM Restart");
    // Reset.
    for h in all {
        p.same("re-lock", &wl(h));
    }
    shutdown(&mut p, 0);
    p.power_cycle();
    startup(&mut p, 0);
    check(&mut p, "after TPM Reset");
    let r = p.same("CLEAR_STCLEAR", &read_public(clr));
    assert_eq!(rc_of(&r), TpmRc::SUCCESS);
}

#[test]
fn define_space_checks() {
    let mut p = Pair::new(b"nv define");
    let h = 0x0150_0040;
    let cases: Vec<(&str, TpmHandle, Vec<u8>, TpmsNvPublic)> = vec![
        (
            "no way to read",
            OWNER,
            vec![],
            public(h, SHA256, TpmaNv::AUTHWRITE, &[], 8),
        ),
        (
            "no way to write",
            OWNER,
            vec![],
            public(h, SHA256, TpmaNv::AUTHREAD, &[], 8),
        ),
        (
            "WRITTEN set",
            OWNER,
            vec![],
            public(h, SHA256, RW_AUTH | TpmaNv::WRITTEN, &[], 8),
        ),
        (
            "WRITELOCKED set",
            OWNER,
            vec![],
            public(h, SHA256, RW_AUTH | TpmaNv::WRITELOCKED, &[], 8),
        ),
        (
            "READLOCKED set",
            OWNER,
            vec![],
            public(h, SHA256, RW_AUTH | TpmaNv::READLOCKED, &[], 8),
        ),
        (
            "CLEAR_STCLEAR with WRITEDEFINE",
            OWNER,
            vec![],
            public(
                h,
                SHA256,
                RW_AUTH | TpmaNv::CLEAR_STCLEAR | TpmaNv::WRITEDEFINE,
                &[],
                8,
            ),
        ),
        (
            "PLATFORMCREATE by the owner",
            OWNER,
            vec![],
            public(h, SHA256, RW_AUTH | TpmaNv::PLATFORMCREATE, &[], 8),
        ),
        (
            "platform without PLATFORMCREATE",
            PLATFORM,
            vec![],
            public(h, SHA256, RW_AUTH, &[], 8),
        ),
        (
            "POLICY_DELETE by the owner",
            OWNER,
            vec![],
            public(h, SHA256, RW_AUTH | TpmaNv::POLICY_DELETE, &[0; 32], 8),
        ),
        (
            "policy of the wrong size",
            OWNER,
            vec![],
            public(h, SHA256, RW_AUTH, &[0; 20], 8),
        ),
        (
            "auth longer than the digest",
            OWNER,
            vec![1; 33],
            public(h, SHA256, RW_AUTH, &[], 8),
        ),
        (
            "auth of 33 bytes with trailing zeros",
            OWNER,
            [vec![1; 32], vec![0]].concat(),
            public(h + 1, SHA256, RW_AUTH, &[], 8),
        ),
        (
            "too large",
            OWNER,
            vec![],
            public(h, SHA256, RW_AUTH, &[], 2049),
        ),
        (
            "WRITEALL beyond the buffer",
            OWNER,
            vec![],
            public(h, SHA256, RW_AUTH | TpmaNv::WRITEALL, &[], 1025),
        ),
        (
            "largest",
            OWNER,
            vec![],
            public(h + 2, SHA256, RW_AUTH, &[], 2048),
        ),
        (
            "not an NV handle",
            OWNER,
            vec![],
            public(0x8100_0000, SHA256, RW_AUTH, &[], 8),
        ),
        (
            "NULL nameAlg",
            OWNER,
            vec![],
            public(h, tpm2::alg::TpmAlgId::NULL, RW_AUTH, &[], 8),
        ),
        (
            "platform",
            PLATFORM,
            vec![],
            public(h + 3, SHA256, RW_AUTH | TpmaNv::PLATFORMCREATE, &[], 8),
        ),
        (
            "zero size",
            OWNER,
            vec![],
            public(h + 4, SHA1, RW_AUTH | TpmaNv::WRITEALL, &[], 0),
        ),
    ];
    for (what, by, auth, pb) in cases {
        let c = cmd(
            TpmCc::NV_DEFINE_SPACE,
            &[by],
            &[pw(b"")],
            &define_params(&auth, &pb),
        );
        p.same(what, &c);
    }
    // WRITEALL: a partial write is refused, a whole one accepted.
    let w = public(h + 5, SHA256, RW_AUTH | TpmaNv::WRITEALL, &[], 16);
    assert_eq!(define(&mut p, "WRITEALL", OWNER, b"", &w), TpmRc::SUCCESS);
    assert_eq!(
        rc_of(&p.same("partial", &write(TpmHandle(h + 5), h + 5, b"", &[1; 8], 0))),
        TpmRc::NV_RANGE
    );
    ok(
        &mut p,
        "whole",
        &write(TpmHandle(h + 5), h + 5, b"", &[1; 16], 0),
    );
    // The platform's index: the owner may not delete it.
    assert_eq!(
        rc_of(&p.same("owner undefines platform index", &undefine(OWNER, h + 3))),
        TpmRc::NV_AUTHORIZATION
    );
    ok(
        &mut p,
        "platform undefines its index",
        &undefine(PLATFORM, h + 3),
    );
    ok(
        &mut p,
        "platform undefines an owner index",
        &undefine(PLATFORM, h + 5),
    );
    ok(
        &mut p,
        "readpublic of the zero-size index",
        &read_public(h + 4),
    );
    p.same(
        "read of a zero-size index",
        &read(TpmHandle(h + 4), h + 4, b"", 0, 0),
    );
    p.same(
        "write zero bytes",
        &write(TpmHandle(h + 4), h + 4, b"", &[], 0),
    );
    p.same("readpublic after an empty write", &read_public(h + 4));
}

/// StartAuthSession of a policy session (SHA-256, unbound, unsalted) and PolicyCommandCode(cc).
fn policy_session(p: &mut Pair, cc: TpmCc) -> TpmHandle {
    let mut params = Tpm2bNonce::new(&[0x33; 16]).unwrap().to_bytes();
    params.extend([0, 0, 1, 0, 0x10]);
    params.extend(SHA256.to_bytes());
    let c = cmd(
        TpmCc::START_AUTH_SESSION,
        &[TpmHandle::NULL, TpmHandle::NULL],
        &[],
        &params,
    );
    let (a, b) = p.same_rc("StartAuthSession", &c);
    let ha = Response::parse(&a, TpmCc::START_AUTH_SESSION)
        .unwrap()
        .handle
        .unwrap();
    let hb = Response::parse(&b, TpmCc::START_AUTH_SESSION)
        .unwrap()
        .handle
        .unwrap();
    assert_eq!(ha, hb, "session handles");
    ok(
        p,
        "PolicyCommandCode",
        &cmd(TpmCc::POLICY_COMMAND_CODE, &[ha], &[], &cc.0.to_be_bytes()),
    );
    ha
}

fn policy_cc_digest(cc: TpmCc) -> Vec<u8> {
    Sha256::digest([&[0u8; 32][..], &0x16Cu32.to_be_bytes(), &cc.0.to_be_bytes()].concat()).to_vec()
}

fn policy_auth(s: TpmHandle) -> TpmsAuthCommand {
    TpmsAuthCommand {
        session_handle: s,
        nonce: Tpm2bNonce::new(&[0x44; 16]).unwrap(),
        attributes: TpmaSession(0),
        hmac: Tpm2bAuth::empty(),
    }
}

#[test]
fn change_auth_and_undefine_special_by_policy() {
    let mut p = Pair::new(b"nv policy");
    let h = 0x0150_0050;
    let pb = public(
        h,
        SHA256,
        RW_AUTH,
        &policy_cc_digest(TpmCc::NV_CHANGE_AUTH),
        8,
    );
    assert_eq!(define(&mut p, "define", OWNER, b"old", &pb), TpmRc::SUCCESS);
    // The ADMIN role needs the policy: a password is TPM_RC_AUTH_TYPE.
    let c = cmd(
        TpmCc::NV_CHANGE_AUTH,
        &[TpmHandle(h)],
        &[pw(b"old")],
        &Tpm2bAuth::new(b"new").unwrap().to_bytes(),
    );
    assert_eq!(
        rc_of(&p.same("change auth by password", &c)),
        TpmRc::AUTH_TYPE.with_session(1)
    );
    let s = policy_session(&mut p, TpmCc::NV_CHANGE_AUTH);
    let c = cmd(
        TpmCc::NV_CHANGE_AUTH,
        &[TpmHandle(h)],
        &[policy_auth(s)],
        &Tpm2bAuth::new(b"new").unwrap().to_bytes(),
    );
    let (a, _) = p.same_rc("change auth by policy", &c);
    assert_eq!(rc_of(&a), TpmRc::SUCCESS);
    ok(
        &mut p,
        "write with the new password",
        &write(TpmHandle(h), h, b"new", &[5; 8], 0),
    );
    let r = p.same("old password", &write(TpmHandle(h), h, b"old", &[5; 8], 0));
    assert_eq!(rc_of(&r), TpmRc::AUTH_FAIL.with_session(1));

    // continueSession was clear: the session is gone on both.
    let c = cmd(TpmCc::FLUSH_CONTEXT, &[], &[], &s.0.to_be_bytes());
    assert_eq!(
        rc_of(&p.same("session closed", &c)),
        TpmRc::HANDLE.with_parameter(1)
    );

    // POLICY_DELETE: only NV_UndefineSpaceSpecial (platform + policy) deletes it.
    let d = 0x0150_0051;
    let pd = public(
        d,
        SHA256,
        RW_AUTH | TpmaNv::PLATFORMCREATE | TpmaNv::POLICY_DELETE,
        &policy_cc_digest(TpmCc::NV_UNDEFINE_SPACE_SPECIAL),
        8,
    );
    assert_eq!(
        define(&mut p, "define POLICY_DELETE", PLATFORM, b"", &pd),
        TpmRc::SUCCESS
    );
    assert_eq!(
        rc_of(&p.same("undefine", &undefine(PLATFORM, d))),
        TpmRc::ATTRIBUTES.with_handle(2)
    );
    let s = policy_session(&mut p, TpmCc::NV_UNDEFINE_SPACE_SPECIAL);
    let c = cmd(
        TpmCc::NV_UNDEFINE_SPACE_SPECIAL,
        &[TpmHandle(d), PLATFORM],
        &[policy_auth(s), pw(b"")],
        &[],
    );
    let (a, _) = p.same_rc("undefine special", &c);
    assert_eq!(rc_of(&a), TpmRc::SUCCESS);
    assert_eq!(
        rc_of(&p.same("gone", &read_public(d))),
        TpmRc::HANDLE.with_handle(1)
    );
    // Without POLICY_DELETE it is refused.
    let s = policy_session(&mut p, TpmCc::NV_UNDEFINE_SPACE_SPECIAL);
    let e = 0x0150_0052;
    let pe = public(
        e,
        SHA256,
        RW_AUTH | TpmaNv::PLATFORMCREATE,
        &policy_cc_digest(TpmCc::NV_UNDEFINE_SPACE_SPECIAL),
        8,
    );
    assert_eq!(define(&mut p, "define", PLATFORM, b"", &pe), TpmRc::SUCCESS);
    let c = cmd(
        TpmCc::NV_UNDEFINE_SPACE_SPECIAL,
        &[TpmHandle(e), PLATFORM],
        &[policy_auth(s), pw(b"")],
        &[],
    );
    p.same_rc("undefine special without POLICY_DELETE", &c);
}

/// The NV budget on the engine alone (swtpm's is larger): TPM_RC_NV_SPACE when full, and the
/// failed define changes nothing.
#[test]
fn nv_space_runs_out_cleanly() {
    let mut e = pair::ours().0;
    let define_on = |e: &mut vtpm_domain::engine::Engine, h: u32, size: u16| {
        let pb = public(h, SHA256, RW_AUTH, &[], size);
        rc_of(&e.execute(
            0,
            &cmd(
                TpmCc::NV_DEFINE_SPACE,
                &[OWNER],
                &[pw(b"")],
                &define_params(b"", &pb),
            ),
        ))
    };
    let mut h = 0x0150_1000;
    while define_on(&mut e, h, 2048) == TpmRc::SUCCESS {
        h += 1;
    }
    let defined = h - 0x0150_1000;
    println!("{defined} indices of 2048 bytes fit");
    assert!(
        defined >= 8,
        "the budget holds at least 8 full-size indices"
    );
    let before = e.save_state();
    assert_eq!(define_on(&mut e, h, 2048), TpmRc::NV_SPACE);
    assert_eq!(*e.save_state(), *before, "a refused define changes nothing");
    // Undefining one makes room again.
    let c = cmd(
        TpmCc::NV_UNDEFINE_SPACE,
        &[OWNER, TpmHandle(0x0150_1000)],
        &[pw(b"")],
        &[],
    );
    assert_eq!(rc_of(&e.execute(0, &c)), TpmRc::SUCCESS);
    assert_eq!(define_on(&mut e, h, 2048), TpmRc::SUCCESS);
}

/// Define + write, save_state, restore into a new engine, read back (and the counter high-water
/// mark survives).
#[test]
fn indices_survive_save_and_restore() {
    let mut e = pair::ours().0;
    let h = 0x0150_2000;
    let pb = public(h, SHA256, RW_AUTH | TpmaNv::WRITE_STCLEAR, &[], 32);
    let c = cmd(
        TpmCc::NV_DEFINE_SPACE,
        &[OWNER],
        &[pw(b"")],
        &define_params(b"pw", &pb),
    );
    assert_eq!(rc_of(&e.execute(0, &c)), TpmRc::SUCCESS);
    assert_eq!(
        rc_of(&e.execute(0, &write(TpmHandle(h), h, b"pw", b"persisted bytes!", 8))),
        TpmRc::SUCCESS
    );
    assert_eq!(
        rc_of(&e.execute(
            0,
            &nv_cmd(TpmCc::NV_WRITE_LOCK, TpmHandle(h), h, b"pw", &[])
        )),
        TpmRc::SUCCESS
    );
    let ch = 0x0150_2001;
    let cp = public(ch, SHA256, nt(RW_AUTH, TpmNt::COUNTER), &[], 8);
    let c = cmd(
        TpmCc::NV_DEFINE_SPACE,
        &[OWNER],
        &[pw(b"")],
        &define_params(b"", &cp),
    );
    assert_eq!(rc_of(&e.execute(0, &c)), TpmRc::SUCCESS);
    for _ in 0..5 {
        e.execute(0, &nv_cmd(TpmCc::NV_INCREMENT, TpmHandle(ch), ch, b"", &[]));
    }
    assert_eq!(rc_of(&e.execute(0, &undefine(OWNER, ch))), TpmRc::SUCCESS);
    let blob = e.save_state();
    let mut r =
        vtpm_domain::engine::Engine::restore(&blob, Box::new(pair::StillPlatform { counter: 99 }))
            .unwrap();
    let rsp = r.execute(0, &read(TpmHandle(h), h, b"pw", 16, 8));
    assert_eq!(rc_of(&rsp), TpmRc::SUCCESS);
    assert_eq!(read_data(&rsp), b"persisted bytes!");
    assert_eq!(r.execute(0, &read_public(h)), e.execute(0, &read_public(h)));
    assert_eq!(
        rc_of(&r.execute(0, &write(TpmHandle(h), h, b"pw", b"x", 0))),
        TpmRc::NV_LOCKED
    );
    let c = cmd(
        TpmCc::NV_DEFINE_SPACE,
        &[OWNER],
        &[pw(b"")],
        &define_params(b"", &cp),
    );
    assert_eq!(rc_of(&r.execute(0, &c)), TpmRc::SUCCESS);
    r.execute(0, &nv_cmd(TpmCc::NV_INCREMENT, TpmHandle(ch), ch, b"", &[]));
    let v = read_data(&r.execute(0, &read(TpmHandle(ch), ch, b"", 8, 0)));
    assert_eq!(
        v,
        6u64.to_be_bytes(),
        "the counter high-water mark survives"
    );
    // A blob without any NV index has no NV section (old blobs load the same way).
    let fresh = pair::ours().0.save_state();
    assert!(
        vtpm_domain::engine::Engine::restore(&fresh, Box::new(pair::StillPlatform { counter: 1 }))
            .is_ok()
    );
}

#[test]
fn tpm_nt_and_unmarshal_errors() {
    let mut p = Pair::new(b"nv unmarshal");
    let mut pb = public(0x0150_0060, SHA256, RW_AUTH, &[], 8);
    pb.attributes = TpmaNv(RW_AUTH).with_nt(TpmNt(3));
    // An undefined TPM_NT.
    let c = cmd(
        TpmCc::NV_DEFINE_SPACE,
        &[OWNER],
        &[pw(b"")],
        &define_params(b"", &pb),
    );
    p.same("TPM_NT 3", &c);
    // Reserved attribute bits.
    let mut raw = define_params(b"", &public(0x0150_0060, SHA256, RW_AUTH, &[], 8));
    raw[4 + 6] |= 0x01; // bit 24 of TPMA_NV
    p.same(
        "reserved bit",
        &cmd(TpmCc::NV_DEFINE_SPACE, &[OWNER], &[pw(b"")], &raw),
    );
    // Truncated and oversized parameters.
    let good = define_params(b"", &public(0x0150_0060, SHA256, RW_AUTH, &[], 8));
    p.same(
        "truncated",
        &cmd(
            TpmCc::NV_DEFINE_SPACE,
            &[OWNER],
            &[pw(b"")],
            &good[..good.len() - 1],
        ),
    );
    p.same(
        "extra byte",
        &cmd(
            TpmCc::NV_DEFINE_SPACE,
            &[OWNER],
            &[pw(b"")],
            &[good.clone(), vec![0]].concat(),
        ),
    );
    p.same(
        "read without offset",
        &nv_cmd(TpmCc::NV_READ, OWNER, 0x0150_0060, b"", &[0, 1]),
    );
    p.same(
        "no session",
        &cmd(
            TpmCc::NV_WRITE,
            &[OWNER, TpmHandle(0x0150_0060)],
            &[],
            &write_params(&[1], 0),
        ),
    );
    p.same(
        "readpublic of a PCR handle",
        &cmd(TpmCc::NV_READ_PUBLIC, &[TpmHandle(1)], &[], &[]),
    );
    let _ = TpmsNvPublic::unmarshal;
}

/// PIN_FAIL and PIN_PASS indices (part 1 §37.4.4): the authValue authorizes reads while the
/// index is written and pinCount < pinLimit; PIN_FAIL counts failures (a success starts again
/// at zero), PIN_PASS counts successes; the owner rewrites the parameters.
#[test]
fn pin_indices() {
    let mut p = Pair::new(b"nv pin");
    for (h, t) in [
        (0x0150_0080u32, TpmNt::PIN_FAIL),
        (0x0150_0081, TpmNt::PIN_PASS),
    ] {
        let pb = public(h, SHA256, nt(RW_OWNER | TpmaNv::NO_DA, t), &[], 8);
        assert_eq!(
            define(&mut p, "define PIN", OWNER, b"pin", &pb),
            TpmRc::SUCCESS
        );
        let r = p.same("unwritten PIN", &read(TpmHandle(h), h, b"pin", 8, 0));
        assert_eq!(rc_of(&r), TpmRc::AUTH_UNAVAILABLE.with_session(1));
        let mut params = 0u32.to_be_bytes().to_vec();
        params.extend(3u32.to_be_bytes());
        ok(
            &mut p,
            "owner writes pinLimit 3",
            &write(OWNER, h, b"", &params, 0),
        );
        for pwd in [
            &b"pin"[..],
            b"pin",
            b"bad",
            b"pin",
            b"bad",
            b"bad",
            b"bad",
            b"pin",
        ] {
            p.same("read with the PIN", &read(TpmHandle(h), h, pwd, 8, 0));
            ok(
                &mut p,
                "owner reads the counters",
                &read(OWNER, h, b"", 8, 0),
            );
            ok(&mut p, "readpublic", &read_public(h));
        }
        let r = p.same(
            "write by the PIN",
            &write(TpmHandle(h), h, b"pin", &[0; 8], 0),
        );
        assert_eq!(rc_of(&r), TpmRc::AUTH_UNAVAILABLE.with_session(1));
        ok(
            &mut p,
            "owner resets pinCount",
            &write(OWNER, h, b"", &[0; 4], 0),
        );
        ok(
            &mut p,
            "PIN usable again",
            &read(TpmHandle(h), h, b"pin", 8, 0),
        );
        ok(&mut p, "counters", &read(OWNER, h, b"", 8, 0));
    }
    for (what, attrs, size) in [
        ("PIN_FAIL without NO_DA", nt(RW_OWNER, TpmNt::PIN_FAIL), 8),
        (
            "PIN_PASS with AUTHWRITE",
            nt(RW_OWNER | TpmaNv::AUTHWRITE, TpmNt::PIN_PASS),
            8,
        ),
        (
            "PIN_PASS with GLOBALLOCK",
            nt(RW_OWNER | TpmaNv::GLOBALLOCK, TpmNt::PIN_PASS),
            8,
        ),
        (
            "PIN_FAIL with WRITEDEFINE",
            nt(
                RW_OWNER | TpmaNv::NO_DA | TpmaNv::WRITEDEFINE,
                TpmNt::PIN_FAIL,
            ),
            8,
        ),
        ("PIN_PASS of 4 bytes", nt(RW_OWNER, TpmNt::PIN_PASS), 4),
    ] {
        let pb = public(0x0150_0089, SHA256, attrs, &[], size);
        assert_ne!(
            define(&mut p, what, OWNER, b"pin", &pb),
            TpmRc::SUCCESS,
            "{what}"
        );
    }
}

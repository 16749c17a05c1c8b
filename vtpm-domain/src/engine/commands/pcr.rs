//! Integrity collection (TCG TPM 2.0 Library part 3 §22): TPM2_PCR_Extend (§22.2),
//! TPM2_PCR_Event (§22.3), TPM2_PCR_Read (§22.4), TPM2_PCR_Allocate (§22.5) and
//! TPM2_PCR_Reset (§22.8). The PCR model and its PC Client attributes are in
//! [`crate::engine::pcr`].
//!
//! TPM2_PCR_Event hashes the event data with every implemented hash (SHA-1, SHA-256, SHA-384,
//! SHA-512) and returns all four digests whatever the allocation, as libtpms does; only the
//! allocated banks are extended. TPM2_PCR_Allocate takes effect at the next TPM Reset
//! (TPM2_Startup(CLEAR)); until then the old allocation stays in use.

use alloc::vec::Vec;

use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{Tpm2bDigest, Tpm2bEvent, TpmlDigest, TpmlDigestValues, TpmtHa};

use crate::engine::Engine;
use crate::engine::crypto::hash::{HashAlg, digest};
use crate::engine::dispatch::{AuthRole, Ctx, Entry};
use crate::engine::entity::{HandleKind, pcr_index};
use crate::engine::pcr::{self, allocate, read_digest_values, read_selection};

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        cc: TpmCc::PCR_EXTEND,
        handles: &[HandleKind::PcrOrNull],
        roles: &[AuthRole::User],
        nv: false,
        handler: pcr_extend,
    },
    Entry {
        cc: TpmCc::PCR_EVENT,
        handles: &[HandleKind::PcrOrNull],
        roles: &[AuthRole::User],
        nv: false,
        handler: pcr_event,
    },
    Entry {
        cc: TpmCc::PCR_READ,
        handles: &[],
        roles: &[],
        nv: false,
        handler: pcr_read,
    },
    Entry {
        cc: TpmCc::PCR_ALLOCATE,
        handles: &[HandleKind::Platform],
        roles: &[AuthRole::User],
        nv: true,
        handler: pcr_allocate,
    },
    Entry {
        cc: TpmCc::PCR_RESET,
        handles: &[HandleKind::Pcr],
        roles: &[AuthRole::User],
        nv: false,
        handler: pcr_reset,
    },
];

/// The PCR a TPMI_DH_PCR+ handle names (`None` for TPM_RH_NULL), checked against the
/// locality of the command for an extend (TPM_RC_LOCALITY).
pub(crate) fn extend_target(e: &Engine, h: TpmHandle) -> Result<Option<usize>, TpmRc> {
    if h == TpmHandle::NULL {
        return Ok(None);
    }
    let pcr = pcr_index(h).map_err(|rc| rc.with_handle(1))?;
    if !pcr::may_extend(pcr, e.locality) {
        return Err(TpmRc::LOCALITY);
    }
    Ok(Some(pcr))
}

/// Hashes `data` with every implemented hash and extends each digest into PCR `pcr` (if any):
/// the action of TPM2_PCR_Event and TPM2_EventSequenceComplete.
pub(crate) fn event_digests(
    e: &mut Engine,
    pcr: Option<usize>,
    digests: impl IntoIterator<Item = (HashAlg, Vec<u8>)>,
) -> Result<TpmlDigestValues, TpmRc> {
    let mut out = TpmlDigestValues::empty();
    for (alg, d) in digests {
        if let Some(p) = pcr {
            e.state.vol.pcr.extend(p, alg, &d);
        }
        out.push(TpmtHa::new(alg.alg(), &d).map_err(|_| TpmRc::SIZE)?)
            .map_err(|_| TpmRc::SIZE)?;
    }
    Ok(out)
}

/// TPM2_PCR_Extend (§22.2).
fn pcr_extend(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let digests = ctx.param_with(read_digest_values)?;
    ctx.finish()?;
    let Some(pcr) = extend_target(e, ctx.handles[0])? else {
        return Ok(());
    };
    for (alg, d) in digests {
        e.state.vol.pcr.extend(pcr, alg, &d);
    }
    Ok(())
}

/// TPM2_PCR_Event (§22.3).
fn pcr_event(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let data: Tpm2bEvent = ctx.param()?;
    ctx.finish()?;
    let pcr = extend_target(e, ctx.handles[0])?;
    let digests = HashAlg::ALL.map(|a| (a, digest(a, &[data.as_bytes()])));
    let out = event_digests(e, pcr, digests)?;
    ctx.put(&out);
    Ok(())
}

/// TPM2_PCR_Read (§22.4).
fn pcr_read(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let selection = ctx.param_with(read_selection)?;
    ctx.finish()?;
    let banks = &e.state.vol.pcr;
    let (selection_out, values) = banks.read(&selection);
    let mut digests = TpmlDigest::empty();
    for v in values {
        digests
            .push(Tpm2bDigest::new(v).map_err(|_| TpmRc::SIZE)?)
            .map_err(|_| TpmRc::SIZE)?;
    }
    let counter = banks.update_counter;
    ctx.put(&counter);
    ctx.put(&selection_out);
    ctx.put(&digests);
    Ok(())
}

/// TPM2_PCR_Allocate (§22.5).
fn pcr_allocate(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    let request = ctx.param_with(read_selection)?;
    ctx.finish()?;
    let a = allocate(&e.state.perm.pcr_allocation, &request)?;
    let success = a.fits();
    if success {
        e.state.perm.pcr_allocation_pending = Some(a.selection.clone());
    }
    ctx.put(&u8::from(success));
    ctx.put(&a.max_pcr);
    ctx.put(&a.size_needed);
    ctx.put(&a.size_available);
    Ok(())
}

/// TPM2_PCR_Reset (§22.8).
fn pcr_reset(e: &mut Engine, ctx: &mut Ctx) -> Result<(), TpmRc> {
    ctx.finish()?;
    let pcr = pcr_index(ctx.handles[0]).map_err(|rc| rc.with_handle(1))?;
    if !pcr::may_reset(pcr, e.locality) {
        return Err(TpmRc::LOCALITY);
    }
    e.state.vol.pcr.reset(pcr);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::many_single_char_names)]
mod tests {
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    use sha2::Digest;
    use tpm2::Marshal;
    use tpm2::alg::TpmAlgId;
    use tpm2::cc::TpmCc;
    use tpm2::command::build_command;
    use tpm2::handle::TpmHandle;
    use tpm2::rc::TpmRc;
    use tpm2::response::Response;
    use tpm2::structures::{TpmlPcrSelection, TpmsPcrSelection};

    use crate::engine::Engine;
    use crate::engine::testutil::{self, pw, rc_of};

    fn at(e: &mut Engine, loc: u8, cc: TpmCc, h: &[TpmHandle], params: &[u8]) -> (TpmRc, Vec<u8>) {
        let sessions = if h.is_empty() || cc == TpmCc::PCR_READ {
            vec![]
        } else {
            vec![pw()]
        };
        let cmd = build_command(cc, h, &sessions, params).unwrap();
        let rsp = e.execute(loc, &cmd);
        let rc = rc_of(&rsp);
        let params = if rc == TpmRc::SUCCESS {
            Response::parse(&rsp, cc).unwrap().parameters.to_vec()
        } else {
            Vec::new()
        };
        (rc, params)
    }

    fn sel(banks: &[(TpmAlgId, &[u32])]) -> Vec<u8> {
        TpmlPcrSelection::new(
            banks
                .iter()
                .map(|(a, p)| TpmsPcrSelection::new(*a, p).unwrap())
                .collect(),
        )
        .unwrap()
        .to_bytes()
    }

    /// PCR_Read of one PCR in one bank: (pcrUpdateCounter, value).
    fn read(e: &mut Engine, alg: TpmAlgId, pcr: u32) -> (u32, Vec<u8>) {
        let (rc, p) = at(e, 0, TpmCc::PCR_READ, &[], &sel(&[(alg, &[pcr])]));
        assert_eq!(rc, TpmRc::SUCCESS);
        let counter = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
        // counter, selection (4 + 2 + 1 + 3), digest count (4), size (2), value.
        let value = p[4 + 10 + 4 + 2..].to_vec();
        (counter, value)
    }

    fn digests(list: &[(TpmAlgId, &[u8])]) -> Vec<u8> {
        let mut v = u32::try_from(list.len()).unwrap().to_be_bytes().to_vec();
        for (a, d) in list {
            v.extend_from_slice(&a.0.to_be_bytes());
            v.extend_from_slice(d);
        }
        v
    }

    fn sha1(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = sha1::Sha1::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }
    fn sha256(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }
    fn sha384(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = sha2::Sha384::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }
    fn sha512(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = sha2::Sha512::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    }

    #[test]
    fn extend_matches_independent_hashes() {
        let mut e = testutil::engine();
        let d1 = [0x11u8; 20];
        let d256 = [0x22u8; 32];
        let d384 = [0x33u8; 48];
        let d512 = [0x44u8; 64];
        let (c0, _) = read(&mut e, TpmAlgId::SHA1, 7);
        assert_eq!(c0, 20);
        let params = digests(&[
            (TpmAlgId::SHA1, &d1),
            (TpmAlgId::SHA256, &d256),
            (TpmAlgId::SHA384, &d384),
            (TpmAlgId::SHA512, &d512),
        ]);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EXTEND, &[TpmHandle(7)], &params).0,
            TpmRc::SUCCESS
        );
        let (c1, v1) = read(&mut e, TpmAlgId::SHA1, 7);
        assert_eq!(
            c1,
            c0 + 3,
            "one update per allocated bank; SHA-512 is not allocated"
        );
        assert_eq!(v1, sha1(&[&[0; 20], &d1]));
        assert_eq!(
            read(&mut e, TpmAlgId::SHA256, 7).1,
            sha256(&[&[0; 32], &d256])
        );
        assert_eq!(
            read(&mut e, TpmAlgId::SHA384, 7).1,
            sha384(&[&[0; 48], &d384])
        );
        // A second extend chains.
        let params = digests(&[(TpmAlgId::SHA256, &d256)]);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EXTEND, &[TpmHandle(7)], &params).0,
            TpmRc::SUCCESS
        );
        let first = sha256(&[&[0; 32], &d256]);
        assert_eq!(
            read(&mut e, TpmAlgId::SHA256, 7).1,
            sha256(&[&first, &d256])
        );
        // TPM_RH_NULL: success, nothing changes.
        let before = read(&mut e, TpmAlgId::SHA256, 7);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EXTEND, &[TpmHandle::NULL], &params).0,
            TpmRc::SUCCESS
        );
        assert_eq!(read(&mut e, TpmAlgId::SHA256, 7), before);
    }

    #[test]
    fn extend_errors() {
        let mut e = testutil::engine();
        let h = [TpmHandle(1)];
        let short = {
            let mut v = digests(&[]);
            v[3] = 1;
            v.extend_from_slice(&[0, 0x0b]);
            v.extend_from_slice(&[0; 20]);
            v
        };
        let cases: Vec<(Vec<u8>, TpmRc)> = vec![
            (vec![0, 0, 0, 5], TpmRc::SIZE.with_parameter(1)),
            (short, TpmRc::INSUFFICIENT.with_parameter(1)),
            (
                [digests(&[(TpmAlgId::SHA256, &[1; 32])]), vec![0]].concat(),
                TpmRc::SIZE,
            ),
            (vec![0, 0, 0, 1, 0, 0x10], TpmRc::HASH.with_parameter(1)),
            (
                [vec![0, 0, 0, 1, 0, 0x12], vec![0; 32]].concat(),
                TpmRc::HASH.with_parameter(1),
            ),
        ];
        for (params, want) in cases {
            assert_eq!(at(&mut e, 0, TpmCc::PCR_EXTEND, &h, &params).0, want);
        }
        let ok = digests(&[(TpmAlgId::SHA1, &[1; 20])]);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EXTEND, &[TpmHandle(24)], &ok).0,
            TpmRc::VALUE.with_handle(1)
        );
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EXTEND, &[TpmHandle(17)], &ok).0,
            TpmRc::LOCALITY
        );
        assert_eq!(
            at(&mut e, 2, TpmCc::PCR_EXTEND, &[TpmHandle(21)], &ok).0,
            TpmRc::SUCCESS
        );
        assert_eq!(
            at(&mut e, 3, TpmCc::PCR_EXTEND, &[TpmHandle(21)], &ok).0,
            TpmRc::LOCALITY
        );
        // The locality check comes after parameter unmarshalling.
        assert_eq!(
            at(
                &mut e,
                0,
                TpmCc::PCR_EXTEND,
                &[TpmHandle(17)],
                &[0, 0, 0, 5]
            )
            .0,
            TpmRc::SIZE.with_parameter(1)
        );
    }

    #[test]
    fn event_hashes_with_every_implemented_hash() {
        let mut e = testutil::engine();
        let data = b"hello";
        let mut params = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        params.extend_from_slice(data);
        let (rc, out) = at(&mut e, 0, TpmCc::PCR_EVENT, &[TpmHandle(5)], &params);
        assert_eq!(rc, TpmRc::SUCCESS);
        let expect = [
            (TpmAlgId::SHA1, sha1(&[data])),
            (TpmAlgId::SHA256, sha256(&[data])),
            (TpmAlgId::SHA384, sha384(&[data])),
            (TpmAlgId::SHA512, sha512(&[data])),
        ];
        let list: Vec<(TpmAlgId, &[u8])> = expect.iter().map(|(a, d)| (*a, &d[..])).collect();
        assert_eq!(out, digests(&list));
        let (counter, v) = read(&mut e, TpmAlgId::SHA1, 5);
        assert_eq!(counter, 23);
        assert_eq!(v, sha1(&[&[0; 20], &sha1(&[data])]));
        assert_eq!(
            read(&mut e, TpmAlgId::SHA384, 5).1,
            sha384(&[&[0; 48], &sha384(&[data])])
        );
        // TPM_RH_NULL: digests only.
        let (rc, out2) = at(&mut e, 0, TpmCc::PCR_EVENT, &[TpmHandle::NULL], &params);
        assert_eq!((rc, out2), (TpmRc::SUCCESS, out));
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 5).0, 23);
        // Locality and size.
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EVENT, &[TpmHandle(17)], &params).0,
            TpmRc::LOCALITY
        );
        let mut big = 1025u16.to_be_bytes().to_vec();
        big.extend_from_slice(&[0; 1025]);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EVENT, &[TpmHandle(5)], &big).0,
            TpmRc::SIZE.with_parameter(1)
        );
    }

    #[test]
    fn reset_follows_the_locality_table() {
        let mut e = testutil::engine();
        let ok = digests(&[(TpmAlgId::SHA1, &[1; 20])]);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EXTEND, &[TpmHandle(16)], &ok).0,
            TpmRc::SUCCESS
        );
        assert_ne!(read(&mut e, TpmAlgId::SHA1, 16).1, [0; 20]);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_RESET, &[TpmHandle(16)], &[]).0,
            TpmRc::SUCCESS
        );
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 16).1, [0; 20]);
        for (pcr, loc, want) in [
            (0u32, 0u8, TpmRc::LOCALITY),
            (15, 2, TpmRc::LOCALITY),
            (16, 4, TpmRc::LOCALITY),
            (17, 4, TpmRc::LOCALITY),
            (20, 0, TpmRc::LOCALITY),
            (20, 2, TpmRc::SUCCESS),
            (21, 2, TpmRc::SUCCESS),
            (23, 3, TpmRc::SUCCESS),
        ] {
            assert_eq!(
                at(&mut e, loc, TpmCc::PCR_RESET, &[TpmHandle(pcr)], &[]).0,
                want,
                "{pcr}@{loc}"
            );
        }
        // PCR 20 was reset from all ones to zero; it counts, 21 and 23 do not.
        assert_eq!(read(&mut e, TpmAlgId::SHA256, 20), (21, vec![0; 32]));
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_RESET, &[TpmHandle::NULL], &[]).0,
            TpmRc::VALUE.with_handle(1)
        );
    }

    #[test]
    fn read_caps_the_answer_at_eight_digests() {
        let mut e = testutil::engine();
        let all: Vec<u32> = (0..24).collect();
        let (rc, p) = at(
            &mut e,
            0,
            TpmCc::PCR_READ,
            &[],
            &sel(&[
                (TpmAlgId::SHA1, &[0, 1, 2]),
                (TpmAlgId::SHA256, &all),
                (TpmAlgId::SHA512, &[1]),
            ]),
        );
        assert_eq!(rc, TpmRc::SUCCESS);
        let mut want = 20u32.to_be_bytes().to_vec();
        want.extend(sel(&[
            (TpmAlgId::SHA1, &[0, 1, 2]),
            (TpmAlgId::SHA256, &[0, 1, 2, 3, 4]),
            (TpmAlgId::SHA512, &[]),
        ]));
        want.extend(8u32.to_be_bytes());
        for _ in 0..3 {
            want.extend([0, 20]);
            want.extend([0; 20]);
        }
        for _ in 0..5 {
            want.extend([0, 32]);
            want.extend([0; 32]);
        }
        assert_eq!(p, want);
        // sizeofSelect must be 3; five banks are too many.
        assert_eq!(
            at(
                &mut e,
                0,
                TpmCc::PCR_READ,
                &[],
                &[0, 0, 0, 1, 0, 0x0b, 4, 1, 0, 0, 0]
            )
            .0,
            TpmRc::VALUE.with_parameter(1)
        );
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_READ, &[], &[0, 0, 0, 5]).0,
            TpmRc::SIZE.with_parameter(1)
        );
        let (rc, p) = at(&mut e, 0, TpmCc::PCR_READ, &[], &[0, 0, 0, 0]);
        assert_eq!(
            (rc, p),
            (TpmRc::SUCCESS, [&20u32.to_be_bytes()[..], &[0; 8]].concat())
        );
    }

    fn restart(e: &mut Engine, shutdown: u8, startup: u8, loc: u8) {
        assert_eq!(
            at(e, 0, TpmCc::SHUTDOWN, &[], &[0, shutdown]).0,
            TpmRc::SUCCESS
        );
        e.power_on();
        assert_eq!(
            at(e, loc, TpmCc::STARTUP, &[], &[0, startup]).0,
            TpmRc::SUCCESS
        );
    }

    #[test]
    fn allocation_applies_at_the_next_tpm_reset() {
        let mut e = testutil::engine();
        let all: Vec<u32> = (0..24).collect();
        let req = sel(&[
            (TpmAlgId::SHA1, &[]),
            (TpmAlgId::SHA256, &all),
            (TpmAlgId::SHA384, &[0, 17]),
            (TpmAlgId::SHA512, &all),
        ]);
        let (rc, p) = at(&mut e, 0, TpmCc::PCR_ALLOCATE, &[TpmHandle::PLATFORM], &req);
        assert_eq!(rc, TpmRc::SUCCESS);
        let needed = 24 * 32 + 2 * 48 + 24 * 64;
        let want = [
            &[1u8][..],
            &24u32.to_be_bytes(),
            &u32::to_be_bytes(needed),
            &3936u32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(p, want);
        // Still the old banks.
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 3).1, [0; 20]);
        let (_, p) = at(
            &mut e,
            0,
            TpmCc::PCR_READ,
            &[],
            &sel(&[(TpmAlgId::SHA512, &[3])]),
        );
        assert_eq!(&p[p.len() - 4..], [0, 0, 0, 0], "no SHA-512 digest yet");
        // A TPM Reset applies the new allocation.
        restart(&mut e, 0, 0, 0);
        let (_, p) = at(
            &mut e,
            0,
            TpmCc::PCR_READ,
            &[],
            &sel(&[(TpmAlgId::SHA1, &[3])]),
        );
        assert_eq!(&p[p.len() - 4..], [0, 0, 0, 0], "SHA-1 is gone");
        assert_eq!(read(&mut e, TpmAlgId::SHA512, 3).1, [0; 64]);
        let (_, p) = at(
            &mut e,
            0,
            TpmCc::PCR_READ,
            &[],
            &sel(&[(TpmAlgId::SHA384, &[0, 3, 17])]),
        );
        assert_eq!(&p[4..14], sel(&[(TpmAlgId::SHA384, &[0, 17])]));
        // Counter: PCRs 0–15 and 17–20 in each bank are "changed" once at Startup.
        assert_eq!(read(&mut e, TpmAlgId::SHA512, 3).0, 20);
        // An allocation without PCR 17 fails; the platform hierarchy authorizes it.
        let bad = sel(&[
            (TpmAlgId::SHA1, &[]),
            (TpmAlgId::SHA256, &[0]),
            (TpmAlgId::SHA384, &[]),
            (TpmAlgId::SHA512, &[]),
        ]);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_ALLOCATE, &[TpmHandle::PLATFORM], &bad).0,
            TpmRc::PCR
        );
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_ALLOCATE, &[TpmHandle::OWNER], &req).0,
            TpmRc::VALUE.with_handle(1)
        );
    }

    #[test]
    fn startup_kinds_and_startup_locality() {
        let mut e = testutil::fresh_engine(3);
        assert_eq!(
            at(&mut e, 3, TpmCc::STARTUP, &[], &[0, 0]).0,
            TpmRc::SUCCESS
        );
        let mut pcr0 = vec![0u8; 32];
        pcr0[31] = 3;
        assert_eq!(read(&mut e, TpmAlgId::SHA256, 0), (20, pcr0));
        let ok = digests(&[(TpmAlgId::SHA1, &[1; 20])]);
        for (pcr, loc) in [(5u32, 0u8), (16, 0), (17, 3), (20, 2)] {
            assert_eq!(
                at(&mut e, loc, TpmCc::PCR_EXTEND, &[TpmHandle(pcr)], &ok).0,
                TpmRc::SUCCESS
            );
        }
        let v5 = read(&mut e, TpmAlgId::SHA1, 5).1;
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 5).0, 23);
        // Resume (from the locality of the last Startup): PCR 5 kept, 16/17/20 back to their
        // initial values, +4. Another locality is refused.
        assert_eq!(
            at(&mut e, 0, TpmCc::SHUTDOWN, &[], &[0, 1]).0,
            TpmRc::SUCCESS
        );
        e.power_on();
        assert_eq!(
            at(&mut e, 0, TpmCc::STARTUP, &[], &[0, 1]).0,
            TpmRc::LOCALITY
        );
        assert_eq!(
            at(&mut e, 3, TpmCc::STARTUP, &[], &[0, 1]).0,
            TpmRc::SUCCESS
        );
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 5), (27, v5));
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 16).1, [0; 20]);
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 17).1, [0xFF; 20]);
        // Restart: everything reset, +20.
        restart(&mut e, 1, 0, 0);
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 5), (47, vec![0; 20]));
        // Reset: counter starts over.
        restart(&mut e, 0, 0, 0);
        assert_eq!(read(&mut e, TpmAlgId::SHA1, 5).0, 20);
    }

    #[test]
    fn pcr_state_survives_save_and_restore() {
        let mut e = testutil::engine();
        let ok = digests(&[(TpmAlgId::SHA384, &[5; 48])]);
        assert_eq!(
            at(&mut e, 0, TpmCc::PCR_EXTEND, &[TpmHandle(9)], &ok).0,
            TpmRc::SUCCESS
        );
        let blob = e.save_state();
        let mut back = Engine::restore(&blob, Box::new(testutil::TestPlatform::new(1))).unwrap();
        assert_eq!(
            read(&mut back, TpmAlgId::SHA384, 9),
            read(&mut e, TpmAlgId::SHA384, 9)
        );
    }
}

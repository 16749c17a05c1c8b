//! Checks the command table of `tpm2::cc` (part 3 handle counts, `@` handles, parameter
//! encryption) and the response-code decoding of `tpm2::rc` against real traffic: every record of
//! /work/shared/testdata/tpm2-traces/upstream.jsonl.gz (tpm2-tools 5.4 against swtpm 0.7.1 /
//! libtpms 0.9.2) must split into header, handles, sessions and parameters, and its response must
//! split the same way.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tpm2::auth::TpmaSession;
use tpm2::cc::TpmCc;
use tpm2::command::Command;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::rc::{RcDecoded, RcSubject, TpmRc};
use tpm2::response::Response;
use tpm2::st::TpmSt;

mod common;

/// Number of records the corpus README promises.
const RECORDS: usize = 27_973;

/// One parsed record, or the reason it could not be read.
struct Record {
    id: String,
    cmd: Vec<u8>,
    rsp: Vec<u8>,
    cc: u32,
    rc: u32,
    rc_name: String,
}

fn record(line: &str) -> Result<Record, String> {
    let get = |k: &str| common::field(line, k).ok_or_else(|| format!("no \"{k}\" in {line}"));
    let id = format!(
        "test {} gseq {}",
        get("test")?,
        line.split("\"gseq\": ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("?")
    );
    Ok(Record {
        cmd: common::hex(get("cmd")?).ok_or_else(|| format!("{id}: bad cmd hex"))?,
        rsp: common::hex(get("rsp")?).ok_or_else(|| format!("{id}: bad rsp hex"))?,
        cc: common::hex_u32(get("cc_num")?).ok_or_else(|| format!("{id}: bad cc_num"))?,
        rc: common::hex_u32(get("rc")?).ok_or_else(|| format!("{id}: bad rc"))?,
        rc_name: get("rc_name")?.to_owned(),
        id,
    })
}

/// The spec name of the code the corpus describes. The corpus labels come from tpm2-tss's
/// `Tss2_RC_Decode`, which prints the spec's one-line description instead of the name; this maps
/// every description that occurs in the corpus to the name of the code it belongs to.
fn tss_description_to_name(desc: &str) -> Option<&'static str> {
    Some(match desc {
        "value is out of range or is not correct for the context" => "TPM_RC_VALUE",
        "TPM not initialized by TPM2_Startup or already initialized" => "TPM_RC_INITIALIZE",
        "the command is disabled" => "TPM_RC_DISABLED",
        "authValue or authPolicy is not available for selected entity" => "TPM_RC_AUTH_UNAVAILABLE",
        "NV access locked" => "TPM_RC_NV_LOCKED",
        "an NV Index is used before being initialized or the state saved by \
         TPM2_ShutdownSTATE could not be restored" => "TPM_RC_NV_UNINITIALIZED",
        "the handle is not correct for the use" => "TPM_RC_HANDLE",
        "integrity check failed" => "TPM_RC_INTEGRITY",
        "hierarchy is not enabled or is not correct for the use" => "TPM_RC_HIERARCHY",
        "unsupported symmetric algorithm or key size or not appropriate for instance" => {
            "TPM_RC_SYMMETRIC"
        }
        "mode of operation not supported" => "TPM_RC_MODE",
        "bad locality" => "TPM_RC_LOCALITY",
        "the TPM was not able to start the command" => "TPM_RC_RETRY",
        "the authorization HMAC check failed and DA counter incremented" => "TPM_RC_AUTH_FAIL",
        "a policy check failed" => "TPM_RC_POLICY_FAIL",
        "authorization failure without DA implications" => "TPM_RC_BAD_AUTH",
        _ => return None,
    })
}

/// Checks our decoding of `rc` against the corpus label
/// `tpm:<kind>:<description>` (kind: `error(2.0)`, `warn(2.0)`, `handle(n)`, `handle(unk)`,
/// `session(n)`, `parameter(n)`).
fn check_rc(rc: TpmRc, label: &str) -> Result<(), String> {
    if label == "TPM_RC_SUCCESS" {
        return if rc.is_success() && rc.name() == Some("TPM_RC_SUCCESS") {
            Ok(())
        } else {
            Err(format!("{rc:?} labelled success"))
        };
    }
    let mut parts = label.splitn(3, ':');
    let (Some("tpm"), Some(kind), Some(desc)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("unexpected rc label {label:?}"));
    };
    let name = tss_description_to_name(desc.trim())
        .ok_or_else(|| format!("no spec name known for the corpus label {label:?}"))?;
    if rc.name() != Some(name) {
        return Err(format!("{rc:?}: corpus says {name}"));
    }
    let base = rc.base();
    let expected = match kind {
        "error(2.0)" => RcDecoded::Format0 {
            base,
            warning: false,
        },
        "warn(2.0)" => RcDecoded::Format0 {
            base,
            warning: true,
        },
        "handle(unk)" => RcDecoded::Format1 {
            base,
            subject: None,
        },
        _ => {
            let (what, n) = kind
                .strip_suffix(')')
                .and_then(|k| k.split_once('('))
                .ok_or_else(|| format!("unexpected rc kind {kind:?}"))?;
            let n: u8 = n.parse().map_err(|_| format!("bad number in {kind:?}"))?;
            let subject = match what {
                "handle" => RcSubject::Handle(n),
                "session" => RcSubject::Session(n),
                "parameter" => RcSubject::Parameter(n),
                _ => return Err(format!("unexpected rc kind {kind:?}")),
            };
            RcDecoded::Format1 {
                base,
                subject: Some(subject),
            }
        }
    };
    if rc.decode() == expected {
        Ok(())
    } else {
        Err(format!(
            "{rc:?} decodes as {:?}, corpus label {label:?}",
            rc.decode()
        ))
    }
}

/// The handle types a command that returns a handle may return (part 3).
fn returned_handle_types(cc: TpmCc) -> Option<&'static [TpmHt]> {
    const TRANSIENT: &[TpmHt] = &[TpmHt::TRANSIENT];
    const SESSION: &[TpmHt] = &[TpmHt::HMAC_SESSION, TpmHt::POLICY_SESSION];
    const CONTEXT: &[TpmHt] = &[TpmHt::TRANSIENT, TpmHt::HMAC_SESSION, TpmHt::POLICY_SESSION];
    Some(match cc {
        TpmCc::CREATE_PRIMARY
        | TpmCc::LOAD
        | TpmCc::LOAD_EXTERNAL
        | TpmCc::CREATE_LOADED
        | TpmCc::HASH_SEQUENCE_START
        | TpmCc::HMAC_START => TRANSIENT,
        TpmCc::START_AUTH_SESSION => SESSION,
        TpmCc::CONTEXT_LOAD => CONTEXT,
        _ => return None,
    })
}

/// Handle-type expectations from part 3 for the commands the corpus only sends without sessions
/// (where a wrong handle count in the table would not upset the session parser): the handles
/// must be exactly as many as listed and of the listed types. Every policy command also takes
/// its policy session as the last handle.
fn check_handle_types(code: TpmCc, handles: &[TpmHandle]) -> Result<(), String> {
    const KEY: &[TpmHt] = &[TpmHt::TRANSIENT, TpmHt::PERSISTENT];
    const SAVABLE: &[TpmHt] = &[TpmHt::TRANSIENT, TpmHt::HMAC_SESSION, TpmHt::POLICY_SESSION];
    const TPM_KEY: &[TpmHt] = &[TpmHt::TRANSIENT, TpmHt::PERSISTENT, TpmHt::PERMANENT];
    const ANY: &[TpmHt] = &[
        TpmHt::PCR,
        TpmHt::NV_INDEX,
        TpmHt::TRANSIENT,
        TpmHt::PERSISTENT,
        TpmHt::PERMANENT,
    ];
    const POLICY: &[TpmHt] = &[TpmHt::POLICY_SESSION];
    if code.to_string().starts_with("TPM2_Policy")
        && handles.last().map(|h| h.ty()) != Some(TpmHt::POLICY_SESSION)
    {
        return Err(format!(
            "{code} must end with a policy session: {handles:?}"
        ));
    }
    let expected: &[&[TpmHt]] = match code {
        TpmCc::CONTEXT_SAVE => &[SAVABLE],
        TpmCc::READ_PUBLIC
        | TpmCc::VERIFY_SIGNATURE
        | TpmCc::RSA_ENCRYPT
        | TpmCc::MAKE_CREDENTIAL
        | TpmCc::ECDH_KEY_GEN => &[KEY],
        TpmCc::START_AUTH_SESSION => &[TPM_KEY, ANY],
        TpmCc::POLICY_SIGNED => &[KEY, POLICY],
        _ => return Ok(()),
    };
    let matches = handles.len() == expected.len()
        && handles
            .iter()
            .zip(expected)
            .all(|(h, allowed)| allowed.contains(&h.ty()));
    if matches {
        Ok(())
    } else {
        Err(format!(
            "{code} handles {handles:?} are not of the part 3 types"
        ))
    }
}

#[derive(Default)]
struct Tally {
    commands: usize,
    with_sessions: usize,
    responses: usize,
    successes: usize,
    returned_handles: usize,
    per_code: BTreeMap<u32, usize>,
    per_rc: BTreeMap<u32, usize>,
}

fn check(rec: &Record, tally: &mut Tally) -> Result<(), String> {
    let id = &rec.id;
    let cmd = Command::parse(&rec.cmd)
        .map_err(|e| format!("{id}: command {:02x?} does not parse: {e}", rec.cmd))?;
    let code = cmd.header.code;
    if code.0 != rec.cc {
        return Err(format!("{id}: parsed {code}, corpus says {:#x}", rec.cc));
    }
    let info = code
        .info()
        .ok_or_else(|| format!("{id}: parsed {code} without a table entry"))?;
    tally.commands += 1;
    *tally.per_code.entry(code.0).or_default() += 1;

    // The handle area: every handle must be of a type the specification defines.
    if let Some(h) = cmd.handles.iter().find(|h| h.ty().name().is_none()) {
        return Err(format!("{id}: {code} handle {h} has no defined type"));
    }
    check_handle_types(code, &cmd.handles).map_err(|e| format!("{id}: {e}"))?;
    // The authorization area: a command with `@` handles carries at least that many sessions
    // (tpm2-tools never sends one without), and a session may only ask for parameter
    // encryption where the first parameter is a TPM2B.
    if cmd.header.tag == TpmSt::SESSIONS {
        tally.with_sessions += 1;
        if info.no_sessions {
            return Err(format!("{id}: {code} takes no sessions but has some"));
        }
    }
    if cmd.sessions.len() < usize::from(info.auth_handles) {
        return Err(format!(
            "{id}: {code} needs {} authorizations, has {} sessions",
            info.auth_handles,
            cmd.sessions.len()
        ));
    }
    for s in &cmd.sessions {
        if s.attributes.has(TpmaSession::DECRYPT) && !info.decrypt {
            return Err(format!(
                "{id}: {code} has a decrypt session but no TPM2B first"
            ));
        }
        if s.attributes.has(TpmaSession::ENCRYPT) && !info.encrypt {
            return Err(format!(
                "{id}: {code} has an encrypt session but no TPM2B first"
            ));
        }
    }

    let rsp = Response::parse(&rec.rsp, code).map_err(|e| {
        format!(
            "{id}: response {:02x?} to {code} does not parse: {e}",
            rec.rsp
        )
    })?;
    tally.responses += 1;
    let rc = rsp.code();
    if rc.0 != rec.rc {
        return Err(format!("{id}: parsed {rc:?}, corpus says {:#x}", rec.rc));
    }
    *tally.per_rc.entry(rc.0).or_default() += 1;
    check_rc(rc, &rec.rc_name).map_err(|e| format!("{id}: {e}"))?;
    if !rc.is_success() {
        return Ok(());
    }
    tally.successes += 1;
    // A session-authorized command is answered with as many sessions as it carried.
    if rsp.sessions.len() != cmd.sessions.len() {
        return Err(format!(
            "{id}: {code} sent {} sessions, got {} back",
            cmd.sessions.len(),
            rsp.sessions.len()
        ));
    }
    match (info.response_handles, rsp.handle) {
        (0, None) => Ok(()),
        (1, Some(h)) => {
            let allowed = returned_handle_types(code)
                .ok_or_else(|| format!("{id}: no expectation for the handle {code} returns"))?;
            tally.returned_handles += 1;
            if allowed.contains(&h.ty()) {
                Ok(())
            } else {
                Err(format!("{id}: {code} returned {h} of type {}", h.ty()))
            }
        }
        (n, h) => Err(format!("{id}: {code} has {n} response handles, got {h:?}")),
    }
}

#[test]
fn every_corpus_record_splits_along_the_command_table() {
    let text = common::text_or_fail();
    let mut tally = Tally::default();
    // Failures grouped by the command name in the record: count and first message of each.
    let mut failures: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        if let Err(e) = record(line).and_then(|rec| check(&rec, &mut tally)) {
            let key = common::field(line, "cc").unwrap_or("?").to_owned();
            failures.entry(key).or_insert((0, e)).0 += 1;
        }
    }
    let mut report = String::new();
    for (cc, (count, first)) in &failures {
        let _ = writeln!(report, "  {cc}: {count} records, first: {first}");
    }
    assert!(
        failures.is_empty(),
        "{} of {lines} records failed:\n{report}",
        failures.values().map(|(n, _)| n).sum::<usize>()
    );
    assert_eq!(
        lines, RECORDS,
        "the corpus README promises {RECORDS} records"
    );
    assert_eq!(tally.commands, RECORDS);
    assert_eq!(tally.responses, RECORDS);
    // Every command that returns a handle appears with at least one success.
    for code in [
        TpmCc::CREATE_PRIMARY,
        TpmCc::LOAD,
        TpmCc::LOAD_EXTERNAL,
        TpmCc::CREATE_LOADED,
        TpmCc::HASH_SEQUENCE_START,
        TpmCc::HMAC_START,
        TpmCc::START_AUTH_SESSION,
        TpmCc::CONTEXT_LOAD,
    ] {
        assert!(tally.per_code.contains_key(&code.0), "{code} not in corpus");
    }
    println!(
        "corpus: {} commands parsed ({} with sessions), {} responses parsed ({} success, {} \
         returned a handle), {} distinct command codes, {} distinct response codes",
        tally.commands,
        tally.with_sessions,
        tally.responses,
        tally.successes,
        tally.returned_handles,
        tally.per_code.len(),
        tally.per_rc.len()
    );
}

#[test]
fn rc_labels_map_to_spec_names() {
    // The mapping above must agree with the constants themselves.
    for (desc, rc) in [
        ("the handle is not correct for the use", TpmRc::HANDLE),
        ("the TPM was not able to start the command", TpmRc::RETRY),
        (
            "authorization failure without DA implications",
            TpmRc::BAD_AUTH,
        ),
    ] {
        assert_eq!(tss_description_to_name(desc), rc.name());
    }
    assert_eq!(
        check_rc(
            TpmRc(0x1cb),
            "tpm:parameter(1):the handle is not correct for the use"
        ),
        Ok(())
    );
    assert!(
        check_rc(
            TpmRc(0x18b),
            "tpm:parameter(1):the handle is not correct for the use"
        )
        .is_err()
    );
    assert!(
        check_rc(
            TpmRc(0x922),
            "tpm:error(2.0):the TPM was not able to start the command"
        )
        .is_err()
    );
}

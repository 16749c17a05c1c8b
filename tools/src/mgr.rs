//! `vtpmctl` management commands: talk to a running `vtpmmgr` on its administrator's socket
//! (`docs/manager-protocol.md`) and print readable text or `--json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use vtpmmgr_protocol::client::Client;
use vtpmmgr_protocol::{GroupInfo, MAX_KERNELS, Reply, Request, Uuid};

use crate::probe::json_str;

/// The usage text of the management commands.
pub const USAGE: &str = "\
vtpmctl [--mgr unix:PATH] [--json] group list
vtpmctl [--mgr unix:PATH] [--json] group new
vtpmctl [--mgr unix:PATH] [--json] group show GROUP
vtpmctl [--mgr unix:PATH]          group del GROUP
vtpmctl [--mgr unix:PATH]          group update GROUP --seq N [--kernel SHA256HEX | --kernel-file FILE]...
vtpmctl [--mgr unix:PATH] [--json] group activate GROUP --credential FILE --secret FILE
vtpmctl [--mgr unix:PATH] [--json] vtpm list GROUP
vtpmctl [--mgr unix:PATH] [--json] vtpm show UUID
vtpmctl [--mgr unix:PATH] [--json] vtpm new GROUP [UUID]
vtpmctl [--mgr unix:PATH]          vtpm del UUID
vtpmctl [--mgr unix:PATH] [--json] ek [--out FILE]
  --mgr: the manager's administrator socket (default $VTPMMGR_ADMIN, else /run/vtpmmgr/admin.sock)
  GROUP: a group index as GROUP_LIST counts them (0, 1, ...)";

/// Where the administrator's socket is when `--mgr` is not given.
pub fn default_socket() -> PathBuf {
    std::env::var_os("VTPMMGR_ADMIN")
        .map_or_else(|| PathBuf::from("/run/vtpmmgr/admin.sock"), PathBuf::from)
}

/// Parses `unix:PATH` (or a bare path).
pub fn parse_socket(s: &str) -> PathBuf {
    PathBuf::from(s.strip_prefix("unix:").unwrap_or(s))
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn parse_hex32(s: &str) -> Result<[u8; 32], String> {
    let bad = || format!("{s:?} is not 64 hex digits (a SHA-256 hash)");
    if s.len() != 64 || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn parse_group(s: Option<&String>) -> Result<u32, String> {
    let s = s.ok_or("missing GROUP (an index: 0, 1, ...)")?;
    s.parse()
        .map_err(|_| format!("{s:?} is not a group index (0, 1, ...)"))
}

fn parse_uuid(s: Option<&String>) -> Result<Uuid, String> {
    let s = s.ok_or("missing UUID")?;
    s.parse().map_err(|e| format!("{s:?}: {e}"))
}

/// SHA-256 of a file: how a domain binary becomes a kernel hash.
pub fn file_sha256(path: &Path) -> Result<[u8; 32], String> {
    let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    Ok(Sha256::digest(&bytes).into())
}

fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("read {path}: {e}"))
}

/// Reads a file that holds a TPM2B (as tpm2-tools writes them) and returns its contents.
fn read_tpm2b(path: &str) -> Result<Vec<u8>, String> {
    let b = read_file(path)?;
    let n = b
        .get(..2)
        .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
        .ok_or_else(|| format!("{path}: shorter than a TPM2B size"))?;
    if n + 2 != b.len() {
        return Err(format!(
            "{path}: TPM2B size {n} does not match the file's {} bytes",
            b.len()
        ));
    }
    Ok(b[2..].to_vec())
}

fn call(client: &mut Client, req: &Request) -> Result<Reply, String> {
    client.call(req).map_err(|e| e.to_string())
}

fn group_text(index: u32, g: &GroupInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "group {index}");
    let _ = writeln!(s, "  uuid:            {}", g.uuid);
    let _ = writeln!(s, "  vTPMs:           {}", g.vtpms);
    let _ = writeln!(s, "  kernel sequence: {}", g.sequence);
    let _ = writeln!(s, "  kernel hashes:   {}", g.kernels.len());
    for k in &g.kernels {
        let _ = writeln!(s, "    {}", hex(k));
    }
    let _ = writeln!(s, "  AK name:         {}", hex(&g.ak_name));
    s
}

fn group_json(index: u32, g: &GroupInfo) -> String {
    let kernels: Vec<String> = g.kernels.iter().map(|k| json_str(&hex(k))).collect();
    format!(
        "{{\"index\":{index},\"uuid\":{},\"vtpms\":{},\"kernel_sequence\":{},\"kernels\":[{}],\
         \"ak_name\":{},\"ak_public\":{}}}",
        json_str(&g.uuid.to_string()),
        g.vtpms,
        g.sequence,
        kernels.join(","),
        json_str(&hex(&g.ak_name)),
        json_str(&hex(&g.ak_public)),
    )
}

/// Runs one management command (`args` after the global options) and returns what to print.
pub fn run(socket: &Path, json: bool, args: &[String]) -> Result<String, String> {
    let mut client = Client::admin(socket).map_err(|e| {
        format!(
            "cannot reach the manager at {}: {e} (is `vtpmmgr serve` running? --mgr unix:PATH)",
            socket.display()
        )
    })?;
    let word = |i: usize| args.get(i).map(String::as_str);
    match (word(0), word(1)) {
        (Some("group"), Some("list")) => {
            let Reply::GroupCount(n) = call(&mut client, &Request::GroupList)? else {
                return Err("unexpected answer".into());
            };
            let mut groups = Vec::new();
            for i in 0..n {
                if let Reply::Group(g) = call(&mut client, &Request::GroupShow { group: i })? {
                    groups.push((i, g));
                }
            }
            if json {
                let items: Vec<String> = groups.iter().map(|(i, g)| group_json(*i, g)).collect();
                return Ok(format!("[{}]\n", items.join(",")));
            }
            let mut s = format!("{n} group(s)\n");
            for (i, g) in &groups {
                let _ = writeln!(
                    s,
                    "  {i}: {}  {} vTPM(s), {} kernel hash(es)",
                    g.uuid,
                    g.vtpms,
                    g.kernels.len()
                );
            }
            Ok(s)
        }
        (Some("group"), Some("new")) => {
            let Reply::GroupNew {
                index,
                uuid,
                ak_public,
                ak_name,
            } = call(&mut client, &Request::GroupNew)?
            else {
                return Err("unexpected answer".into());
            };
            Ok(if json {
                format!(
                    "{{\"index\":{index},\"uuid\":{},\"ak_name\":{},\"ak_public\":{}}}\n",
                    json_str(&uuid.to_string()),
                    json_str(&hex(&ak_name)),
                    json_str(&hex(&ak_public))
                )
            } else {
                format!(
                    "created group {index}\n  uuid:    {uuid}\n  AK name: {}\n",
                    hex(&ak_name)
                )
            })
        }
        (Some("group"), Some("show")) => {
            let index = parse_group(args.get(2))?;
            let Reply::Group(g) = call(&mut client, &Request::GroupShow { group: index })? else {
                return Err("unexpected answer".into());
            };
            Ok(if json {
                group_json(index, &g) + "\n"
            } else {
                group_text(index, &g)
            })
        }
        (Some("group"), Some("del")) => {
            let group = parse_group(args.get(2))?;
            call(&mut client, &Request::GroupDel { group })?;
            Ok(format!("deleted group {group}\n"))
        }
        (Some("group"), Some("update")) => {
            let group = parse_group(args.get(2))?;
            let mut sequence = None;
            let mut kernels = Vec::new();
            let mut it = args[3..].iter();
            while let Some(a) = it.next() {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                match a.as_str() {
                    "--seq" => {
                        sequence = Some(
                            v.parse()
                                .map_err(|_| format!("--seq {v:?}: not a number"))?,
                        );
                    }
                    "--kernel" => kernels.push(parse_hex32(v)?),
                    "--kernel-file" => kernels.push(file_sha256(Path::new(v))?),
                    other => return Err(format!("unexpected argument {other:?}")),
                }
            }
            let sequence =
                sequence.ok_or("group update needs --seq N (greater than the current)")?;
            if kernels.len() > MAX_KERNELS {
                return Err(format!("at most {MAX_KERNELS} kernel hashes per group"));
            }
            let n = kernels.len();
            call(
                &mut client,
                &Request::GroupUpdate {
                    group,
                    sequence,
                    kernels,
                },
            )?;
            Ok(format!(
                "group {group}: {n} kernel hash(es) authorised (sequence {sequence})\n"
            ))
        }
        (Some("group"), Some("activate")) => {
            let group = parse_group(args.get(2))?;
            let (mut cred, mut secret) = (None, None);
            let mut it = args[3..].iter();
            while let Some(a) = it.next() {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                match a.as_str() {
                    "--credential" => cred = Some(read_tpm2b(v)?),
                    "--secret" => secret = Some(read_tpm2b(v)?),
                    other => return Err(format!("unexpected argument {other:?}")),
                }
            }
            let req = Request::GroupActivate {
                group,
                credential: cred.ok_or("--credential FILE is required")?,
                secret: secret.ok_or("--secret FILE is required")?,
            };
            let Reply::Credential(c) = call(&mut client, &req)? else {
                return Err("unexpected answer".into());
            };
            Ok(if json {
                format!("{{\"credential\":{}}}\n", json_str(&hex(&c)))
            } else {
                format!("{}\n", hex(&c))
            })
        }
        (Some("vtpm"), Some("list")) => {
            let group = parse_group(args.get(2))?;
            let mut all = Vec::new();
            let total = loop {
                let offset = u32::try_from(all.len()).unwrap_or(u32::MAX);
                let Reply::VtpmList { total, uuids } =
                    call(&mut client, &Request::VtpmList { group, offset })?
                else {
                    return Err("unexpected answer".into());
                };
                let done = uuids.is_empty();
                all.extend(uuids);
                if done || all.len() >= total as usize {
                    break total;
                }
            };
            if json {
                let items: Vec<String> = all.iter().map(|u| json_str(&u.to_string())).collect();
                return Ok(format!(
                    "{{\"group\":{group},\"total\":{total},\"vtpms\":[{}]}}\n",
                    items.join(",")
                ));
            }
            let mut s = format!("group {group}: {total} vTPM(s)\n");
            for u in &all {
                let _ = writeln!(s, "  {u}");
            }
            Ok(s)
        }
        (Some("vtpm"), Some("show")) => {
            let uuid = parse_uuid(args.get(2))?;
            let Reply::Vtpm(v) = call(&mut client, &Request::VtpmShow { uuid })? else {
                return Err("unexpected answer".into());
            };
            Ok(if json {
                format!(
                    "{{\"uuid\":{},\"group\":{},\"has_key\":{},\"open\":{}}}\n",
                    json_str(&uuid.to_string()),
                    v.group,
                    v.has_key,
                    v.open
                )
            } else {
                format!(
                    "vTPM {uuid}\n  group:    {}\n  key:      {}\n  open now: {}\n",
                    v.group,
                    if v.has_key { "saved" } else { "none yet" },
                    if v.open { "yes" } else { "no" }
                )
            })
        }
        (Some("vtpm"), Some("new")) => {
            let group = parse_group(args.get(2))?;
            let uuid = args.get(3).map(|_| parse_uuid(args.get(3))).transpose()?;
            let Reply::VtpmNew(u) = call(&mut client, &Request::VtpmNew { group, uuid })? else {
                return Err("unexpected answer".into());
            };
            Ok(if json {
                format!(
                    "{{\"uuid\":{},\"group\":{group}}}\n",
                    json_str(&u.to_string())
                )
            } else {
                format!("{u}\n")
            })
        }
        (Some("vtpm"), Some("del")) => {
            let uuid = parse_uuid(args.get(2))?;
            call(&mut client, &Request::VtpmDel { uuid })?;
            Ok(format!("deleted vTPM {uuid}\n"))
        }
        (Some("ek"), _) => {
            let Reply::Pubek(p) = call(&mut client, &Request::ReadPubek)? else {
                return Err("unexpected answer".into());
            };
            if let (Some("--out"), Some(path)) = (word(1), word(2)) {
                let mut file = u16::try_from(p.len())
                    .map_err(|_| "EK public too large")?
                    .to_be_bytes()
                    .to_vec();
                file.extend_from_slice(&p);
                std::fs::write(path, file).map_err(|e| format!("write {path}: {e}"))?;
            }
            Ok(if json {
                format!("{{\"ek_public\":{}}}\n", json_str(&hex(&p)))
            } else {
                format!("{}\n", hex(&p))
            })
        }
        _ => Err(format!("unknown management command\n{USAGE}")),
    }
}

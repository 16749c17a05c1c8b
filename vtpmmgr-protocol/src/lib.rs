//! The vTPM ⇄ manager protocol (reference `xen-vtpm.md` §3; `docs/manager-protocol.md`).
//!
//! Framing, tags, ordinals and return codes are Xen's (§3.1–§3.3): a 10-byte header (tag,
//! size, ordinal or return code, all big-endian) then the body. Bodies of the vTPM commands
//! SAVEHASHKEY, LOADHASHKEY and GET_BOOT_HASH are Xen's too; GET_QUOTE keeps Xen's request and
//! answers with a TPM 2.0 quote; the management bodies are the TPM 2.0 forms documented in
//! `docs/manager-protocol.md` (Xen's are TPM 1.2 only and never worked on TPM 2.0, §5.5).
//!
//! The crate is `no_std` + `alloc`; feature `std` adds [`client`], a Unix-socket client.
//!
//! Both directions are typed: [`Request::parse`] and [`Reply::parse`] validate every byte
//! (hostile input from a domain or from the manager), [`Request::encode`] and
//! [`Reply::encode`] build them. A parse failure carries the reply the manager sends back.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "std")]
pub mod client;
pub mod deep_quote;
pub mod uuid;

pub use uuid::Uuid;

use alloc::vec::Vec;
use core::fmt;

use tpm2::marshal::Reader;
use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};
use zeroize::Zeroizing;

/// The header size.
pub const HEADER_SIZE: usize = 10;
/// The largest message either side sends: a tpmif page (4096 bytes) minus its 8-byte header
/// (reference §2.1). Xen's manager could build 8 KiB answers that tpmback then dropped (§3.9).
pub const MAX_MESSAGE: usize = 4088;
/// The smallest and largest hash key a vTPM may store (§3.5).
pub const HASH_KEY_MIN: usize = 52;
/// See [`HASH_KEY_MIN`].
pub const HASH_KEY_MAX: usize = 64;
/// The most UUIDs one VTPM_LIST answer carries: (4088 − 10 − 4) / 16.
pub const LIST_MAX: usize = 254;
/// The most kernel hashes a group authorises.
pub const MAX_KERNELS: usize = 16;
/// The size of a kernel (domain) hash: SHA-256.
pub const KERNEL_HASH_SIZE: usize = 32;

/// Message tags (§3.1).
pub mod tag {
    /// vTPM command (SAVEHASHKEY, LOADHASHKEY, GET_BOOT_HASH, GET_QUOTE).
    pub const REQ: u16 = 0x01C1;
    /// Management command.
    pub const REQ2: u16 = 0x01C2;
    /// Every answer the command handlers give.
    pub const RSP: u16 = 0x01C4;
    /// A management request refused by the dispatcher (request tag + 3).
    pub const RSP2: u16 = 0x01C5;
    /// TPM 1.2 command passed through to the hardware TPM (only GetRandom is served).
    pub const TPM_RQU_COMMAND: u16 = 0x00C1;
    /// Answer to a pass-through command.
    pub const TPM_RSP_COMMAND: u16 = 0x00C4;
}

/// Ordinals (§3.3).
pub mod ordinal {
    /// Store this connection's vTPM hash key.
    pub const SAVE_HASH_KEY: u32 = 0x0000_0001;
    /// Fetch this connection's vTPM hash key.
    pub const LOAD_HASH_KEY: u32 = 0x0000_0002;
    /// This connection's kernel (domain) hash.
    pub const GET_BOOT_HASH: u32 = 0x0000_0003;
    /// A hardware-TPM quote over the vTPM's identity and hardware PCRs.
    pub const GET_QUOTE: u32 = 0x0000_0004;
    /// Number of groups.
    pub const GROUP_LIST: u32 = 0x0200_0101;
    /// Create a group (and its attestation key).
    pub const GROUP_NEW: u32 = 0x0200_0102;
    /// Delete an empty group.
    pub const GROUP_DEL: u32 = 0x0200_0103;
    /// TPM2_ActivateCredential for the group's attestation key.
    pub const GROUP_ACTIVATE: u32 = 0x0200_0104;
    /// Replace the group's authorised kernel hashes.
    pub const GROUP_UPDATE: u32 = 0x0200_0106;
    /// A group's identity, attestation key and kernel hashes.
    pub const GROUP_SHOW: u32 = 0x0200_0107;
    /// The UUIDs of a group's vTPMs.
    pub const VTPM_LIST: u32 = 0x0200_0201;
    /// One vTPM's group and status.
    pub const VTPM_SHOW: u32 = 0x0200_0202;
    /// Register a vTPM in a group.
    pub const VTPM_NEW: u32 = 0x0200_0204;
    /// Delete a vTPM.
    pub const VTPM_DEL: u32 = 0x0200_0205;
    /// The hardware TPM's endorsement key (Xen's unimplemented ReadPubek ordinal).
    pub const READ_PUBEK: u32 = 0x0200_0303;
    /// TPM 1.2 TPM_ORD_GetRandom, the one pass-through command served (§5.6).
    pub const TPM_GET_RANDOM: u32 = 0x0000_0046;
}

/// Return codes: TPM 1.2 codes as Xen's manager uses them (§3.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReturnCode(pub u32);

impl ReturnCode {
    /// Success.
    pub const SUCCESS: Self = Self(0);
    /// Not allowed on this channel.
    pub const AUTHFAIL: Self = Self(1);
    /// Group index out of range.
    pub const BADINDEX: Self = Self(2);
    /// Malformed request, unknown UUID, bad sizes.
    pub const BAD_PARAMETER: Self = Self(3);
    /// GET_QUOTE flags with unknown bits (VTPM_INVALID_REQUEST).
    pub const INVALID_REQUEST: Self = Self(5);
    /// The vTPM is open on another connection, or its kernel hash is not authorised.
    pub const DISABLED: Self = Self(7);
    /// Pass-through command not allowed.
    pub const DISABLED_CMD: Self = Self(8);
    /// Failure of the hardware TPM or the store.
    pub const FAIL: Self = Self(9);
    /// Unknown ordinal.
    pub const BAD_ORDINAL: Self = Self(10);
    /// The store has no room left (TPM_RESOURCES).
    pub const RESOURCES: Self = Self(0x15);
    /// A list longer than the limits.
    pub const SIZE: Self = Self(0x17);
    /// Unknown tag.
    pub const BADTAG: Self = Self(0x1E);

    /// The name used in messages.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "SUCCESS",
            1 => "AUTHFAIL",
            2 => "BADINDEX",
            3 => "BAD_PARAMETER",
            5 => "INVALID_REQUEST",
            7 => "DISABLED",
            8 => "DISABLED_CMD",
            9 => "FAIL",
            10 => "BAD_ORDINAL",
            0x15 => "RESOURCES",
            0x17 => "SIZE",
            0x1E => "BADTAG",
            _ => "unknown",
        }
    }
}

impl fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#x})", self.name(), self.0)
    }
}

impl fmt::Debug for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The header as it sits on the wire.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader {
    tag: U16,
    size: U32,
    code: U32,
}

/// GET_QUOTE flag: include SHA-256 of the vTPM's UUID.
pub const QUOTE_HASH_UUID: u32 = 1;
/// GET_QUOTE flag: include SHA-256 of the connection's kernel hash.
pub const QUOTE_VTPM_MEASUREMENTS: u32 = 2;
/// GET_QUOTE flag: include SHA-256 of the group's identity and kernel list.
pub const QUOTE_GROUP_INFO: u32 = 4;
/// GET_QUOTE flag: include SHA-256 of the group's attestation public key.
pub const QUOTE_GROUP_PUBKEY: u32 = 8;
const QUOTE_FLAGS: u32 =
    QUOTE_HASH_UUID | QUOTE_VTPM_MEASUREMENTS | QUOTE_GROUP_INFO | QUOTE_GROUP_PUBKEY;

/// A request, validated.
#[derive(Clone, PartialEq, Eq)]
pub enum Request {
    /// SAVEHASHKEY: store `key` (52..=64 bytes) for the connection's vTPM.
    SaveHashKey(Zeroizing<Vec<u8>>),
    /// LOADHASHKEY.
    LoadHashKey,
    /// GET_BOOT_HASH.
    GetBootHash,
    /// GET_QUOTE.
    GetQuote {
        /// The caller's nonce.
        nonce: [u8; 20],
        /// Hardware PCRs to quote (bit i = PCR i; TPM 1.2 selection bytes on the wire).
        pcrs: u32,
        /// `QUOTE_*` flags.
        flags: u32,
    },
    /// TPM 1.2 TPM_GetRandom passed through (§5.6): up to `count` random bytes.
    GetRandom {
        /// Bytes requested.
        count: u32,
    },
    /// GROUP_LIST.
    GroupList,
    /// GROUP_NEW.
    GroupNew,
    /// GROUP_DEL.
    GroupDel {
        /// Group index.
        group: u32,
    },
    /// GROUP_ACTIVATE: TPM2_ActivateCredential with the group's attestation key.
    GroupActivate {
        /// Group index.
        group: u32,
        /// TPM2B_ID_OBJECT contents.
        credential: Vec<u8>,
        /// TPM2B_ENCRYPTED_SECRET contents.
        secret: Vec<u8>,
    },
    /// GROUP_UPDATE: replace the authorised kernel hashes.
    GroupUpdate {
        /// Group index.
        group: u32,
        /// Must be greater than the group's current sequence (no replay of old lists).
        sequence: u64,
        /// SHA-256 kernel (domain) hashes, at most [`MAX_KERNELS`].
        kernels: Vec<[u8; KERNEL_HASH_SIZE]>,
    },
    /// GROUP_SHOW.
    GroupShow {
        /// Group index.
        group: u32,
    },
    /// VTPM_LIST.
    VtpmList {
        /// Group index.
        group: u32,
        /// How many UUIDs to skip.
        offset: u32,
    },
    /// VTPM_SHOW.
    VtpmShow {
        /// The vTPM.
        uuid: Uuid,
    },
    /// VTPM_NEW.
    VtpmNew {
        /// Group index.
        group: u32,
        /// The UUID to register; a random one when absent.
        uuid: Option<Uuid>,
    },
    /// VTPM_DEL.
    VtpmDel {
        /// The vTPM.
        uuid: Uuid,
    },
    /// READ_PUBEK: the hardware TPM's endorsement public key.
    ReadPubek,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SaveHashKey(k) => write!(f, "SaveHashKey(<{} bytes redacted>)", k.len()),
            Self::LoadHashKey => f.write_str("LoadHashKey"),
            Self::GetBootHash => f.write_str("GetBootHash"),
            Self::GetQuote { pcrs, flags, .. } => {
                write!(f, "GetQuote {{ pcrs: {pcrs:#x}, flags: {flags:#x} }}")
            }
            Self::GetRandom { count } => write!(f, "GetRandom({count})"),
            Self::GroupList => f.write_str("GroupList"),
            Self::GroupNew => f.write_str("GroupNew"),
            Self::GroupDel { group } => write!(f, "GroupDel({group})"),
            Self::GroupActivate { group, .. } => write!(f, "GroupActivate({group})"),
            Self::GroupUpdate {
                group,
                sequence,
                kernels,
            } => write!(
                f,
                "GroupUpdate({group}, seq {sequence}, {} kernels)",
                kernels.len()
            ),
            Self::GroupShow { group } => write!(f, "GroupShow({group})"),
            Self::VtpmList { group, offset } => write!(f, "VtpmList({group}, {offset})"),
            Self::VtpmShow { uuid } => write!(f, "VtpmShow({uuid})"),
            Self::VtpmNew { group, uuid } => write!(f, "VtpmNew({group}, {uuid:?})"),
            Self::VtpmDel { uuid } => write!(f, "VtpmDel({uuid})"),
            Self::ReadPubek => f.write_str("ReadPubek"),
        }
    }
}

/// A request the manager refuses before any handler runs, with the answer it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// The answer's tag.
    pub tag: u16,
    /// The answer's return code.
    pub code: ReturnCode,
    /// What was wrong, for the log.
    pub reason: &'static str,
}

impl Rejection {
    /// The bare 10-byte answer.
    pub fn encode(&self) -> Vec<u8> {
        header(self.tag, HEADER_SIZE, self.code.0)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

/// The tag of a refusal answering a request tagged `request_tag`: the request's tag + 3
/// (§3.1), 0x01C4 for an unknown tag.
const fn answer_tag(request_tag: u16) -> u16 {
    match request_tag {
        tag::REQ | tag::REQ2 | tag::TPM_RQU_COMMAND => request_tag + 3,
        _ => tag::RSP,
    }
}

/// The length a message's header declares, for a reader framing a byte stream: it must lie in
/// `HEADER_SIZE..=MAX_MESSAGE`, otherwise the refusal to send back (the stream's framing is
/// then lost).
pub fn framed_size(head: &[u8; HEADER_SIZE]) -> Result<usize, Rejection> {
    let size = u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize;
    if (HEADER_SIZE..=MAX_MESSAGE).contains(&size) {
        return Ok(size);
    }
    Err(Rejection {
        tag: answer_tag(u16::from_be_bytes([head[0], head[1]])),
        code: if size > MAX_MESSAGE {
            ReturnCode::SIZE
        } else {
            ReturnCode::BAD_PARAMETER
        },
        reason: "message size outside 10..=4088",
    })
}

fn header(tag: u16, size: usize, code: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&u32::try_from(size).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out
}

fn finish(tag: u16, code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = header(tag, HEADER_SIZE + body.len(), code);
    out.extend_from_slice(body);
    out
}

impl Request {
    /// The request's tag.
    pub const fn tag(&self) -> u16 {
        match self {
            Self::SaveHashKey(_)
            | Self::LoadHashKey
            | Self::GetBootHash
            | Self::GetQuote { .. } => tag::REQ,
            Self::GetRandom { .. } => tag::TPM_RQU_COMMAND,
            _ => tag::REQ2,
        }
    }

    /// The request's ordinal.
    pub const fn ordinal(&self) -> u32 {
        match self {
            Self::SaveHashKey(_) => ordinal::SAVE_HASH_KEY,
            Self::LoadHashKey => ordinal::LOAD_HASH_KEY,
            Self::GetBootHash => ordinal::GET_BOOT_HASH,
            Self::GetQuote { .. } => ordinal::GET_QUOTE,
            Self::GetRandom { .. } => ordinal::TPM_GET_RANDOM,
            Self::GroupList => ordinal::GROUP_LIST,
            Self::GroupNew => ordinal::GROUP_NEW,
            Self::GroupDel { .. } => ordinal::GROUP_DEL,
            Self::GroupActivate { .. } => ordinal::GROUP_ACTIVATE,
            Self::GroupUpdate { .. } => ordinal::GROUP_UPDATE,
            Self::GroupShow { .. } => ordinal::GROUP_SHOW,
            Self::VtpmList { .. } => ordinal::VTPM_LIST,
            Self::VtpmShow { .. } => ordinal::VTPM_SHOW,
            Self::VtpmNew { .. } => ordinal::VTPM_NEW,
            Self::VtpmDel { .. } => ordinal::VTPM_DEL,
            Self::ReadPubek => ordinal::READ_PUBEK,
        }
    }

    /// Whether this is a management request (tag 0x01C2), allowed only on the administrator's
    /// channel.
    pub const fn is_management(&self) -> bool {
        self.tag() == tag::REQ2
    }

    /// Validates a whole request. The size field must equal `bytes.len()` (Xen ignored it,
    /// §3.1) and every body must be consumed exactly.
    pub fn parse(bytes: &[u8]) -> Result<Request, Rejection> {
        let Ok((raw, body)) = RawHeader::read_from_prefix(bytes) else {
            // Xen answers a short request as if its tag were 0x00C1 (§3.1).
            return Err(Rejection {
                tag: tag::TPM_RSP_COMMAND,
                code: ReturnCode::BAD_PARAMETER,
                reason: "request shorter than its 10-byte header",
            });
        };
        let req_tag = raw.tag.get();
        let reject = |code, reason| Rejection {
            tag: answer_tag(req_tag),
            code,
            reason,
        };
        if bytes.len() > MAX_MESSAGE {
            return Err(reject(ReturnCode::SIZE, "request longer than 4088 bytes"));
        }
        if raw.size.get() as usize != bytes.len() {
            return Err(reject(
                ReturnCode::BAD_PARAMETER,
                "size field differs from the request's length",
            ));
        }
        let ord = raw.code.get();
        let bad = |reason| reject(ReturnCode::BAD_PARAMETER, reason);
        let mut r = Reader::new(body);
        let req = match (req_tag, ord) {
            (tag::REQ, ordinal::SAVE_HASH_KEY) => {
                if !(HASH_KEY_MIN..=HASH_KEY_MAX).contains(&body.len()) {
                    return Err(bad("hash key must be 52 to 64 bytes"));
                }
                r.take_rest();
                Request::SaveHashKey(Zeroizing::new(body.to_vec()))
            }
            (tag::REQ, ordinal::LOAD_HASH_KEY) => Request::LoadHashKey,
            (tag::REQ, ordinal::GET_BOOT_HASH) => Request::GetBootHash,
            (tag::REQ, ordinal::GET_QUOTE) => {
                let nonce = r.array::<20>("nonce").map_err(|_| bad("truncated nonce"))?;
                let sel = r
                    .sized_bytes(4, "PCR selection")
                    .map_err(|_| bad("PCR selection missing or longer than 4 bytes"))?;
                let mut pcrs = 0u32;
                for (i, b) in sel.iter().enumerate() {
                    pcrs |= u32::from(*b) << (8 * i);
                }
                if pcrs >> 24 != 0 {
                    return Err(bad("PCR selection beyond PCR 23"));
                }
                let flags = r.u32("flags").map_err(|_| bad("truncated flags"))?;
                if flags & !QUOTE_FLAGS != 0 {
                    return Err(reject(ReturnCode::INVALID_REQUEST, "unknown quote flags"));
                }
                Request::GetQuote { nonce, pcrs, flags }
            }
            (tag::TPM_RQU_COMMAND, ordinal::TPM_GET_RANDOM) => Request::GetRandom {
                count: r.u32("count").map_err(|_| bad("truncated count"))?,
            },
            (tag::TPM_RQU_COMMAND, _) => {
                return Err(reject(
                    ReturnCode::DISABLED_CMD,
                    "only TPM_GetRandom is passed through",
                ));
            }
            (tag::REQ2, ordinal::GROUP_LIST) => Request::GroupList,
            (tag::REQ2, ordinal::GROUP_NEW) => Request::GroupNew,
            (tag::REQ2, ordinal::GROUP_DEL) => Request::GroupDel {
                group: r.u32("group").map_err(|_| bad("truncated group"))?,
            },
            (tag::REQ2, ordinal::GROUP_ACTIVATE) => {
                let group = r.u32("group").map_err(|_| bad("truncated group"))?;
                let credential = r
                    .sized_bytes(MAX_MESSAGE, "credential")
                    .map_err(|_| bad("truncated credential"))?
                    .to_vec();
                let secret = r
                    .sized_bytes(MAX_MESSAGE, "secret")
                    .map_err(|_| bad("truncated secret"))?
                    .to_vec();
                Request::GroupActivate {
                    group,
                    credential,
                    secret,
                }
            }
            (tag::REQ2, ordinal::GROUP_UPDATE) => {
                let group = r.u32("group").map_err(|_| bad("truncated group"))?;
                let sequence = r.u64("sequence").map_err(|_| bad("truncated sequence"))?;
                let n = r.u32("count").map_err(|_| bad("truncated kernel count"))?;
                if n as usize > MAX_KERNELS {
                    return Err(reject(ReturnCode::SIZE, "more than 16 kernel hashes"));
                }
                let mut kernels = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    kernels.push(
                        r.array("kernel")
                            .map_err(|_| bad("truncated kernel hash"))?,
                    );
                }
                Request::GroupUpdate {
                    group,
                    sequence,
                    kernels,
                }
            }
            (tag::REQ2, ordinal::GROUP_SHOW) => Request::GroupShow {
                group: r.u32("group").map_err(|_| bad("truncated group"))?,
            },
            (tag::REQ2, ordinal::VTPM_LIST) => Request::VtpmList {
                group: r.u32("group").map_err(|_| bad("truncated group"))?,
                offset: r.u32("offset").map_err(|_| bad("truncated offset"))?,
            },
            (tag::REQ2, ordinal::VTPM_SHOW) => Request::VtpmShow {
                uuid: Uuid(r.array("uuid").map_err(|_| bad("truncated UUID"))?),
            },
            (tag::REQ2, ordinal::VTPM_NEW) => {
                let group = r.u32("group").map_err(|_| bad("truncated group"))?;
                let uuid = if r.rest().is_empty() {
                    None
                } else {
                    Some(Uuid(r.array("uuid").map_err(|_| bad("truncated UUID"))?))
                };
                Request::VtpmNew { group, uuid }
            }
            (tag::REQ2, ordinal::VTPM_DEL) => Request::VtpmDel {
                uuid: Uuid(r.array("uuid").map_err(|_| bad("truncated UUID"))?),
            },
            (tag::REQ2, ordinal::READ_PUBEK) => Request::ReadPubek,
            (tag::REQ | tag::REQ2, _) => {
                return Err(reject(ReturnCode::BAD_ORDINAL, "unknown ordinal"));
            }
            _ => return Err(reject(ReturnCode::BADTAG, "unknown tag")),
        };
        if !r.rest().is_empty() {
            return Err(bad("bytes left over after the request body"));
        }
        Ok(req)
    }

    /// The request's bytes.
    pub fn encode(&self) -> Vec<u8> {
        // The body may hold a hash key: wiped when dropped.
        let mut body = Zeroizing::new(Vec::new());
        match self {
            Self::SaveHashKey(k) => body.extend_from_slice(k),
            Self::LoadHashKey
            | Self::GetBootHash
            | Self::GroupList
            | Self::GroupNew
            | Self::ReadPubek => {}
            Self::GetQuote { nonce, pcrs, flags } => {
                body.extend_from_slice(nonce);
                body.extend_from_slice(&3u16.to_be_bytes());
                body.extend_from_slice(&pcrs.to_le_bytes()[..3]);
                body.extend_from_slice(&flags.to_be_bytes());
            }
            Self::GetRandom { count } => body.extend_from_slice(&count.to_be_bytes()),
            Self::GroupDel { group } | Self::GroupShow { group } => {
                body.extend_from_slice(&group.to_be_bytes());
            }
            Self::GroupActivate {
                group,
                credential,
                secret,
            } => {
                body.extend_from_slice(&group.to_be_bytes());
                put_sized(&mut body, credential);
                put_sized(&mut body, secret);
            }
            Self::GroupUpdate {
                group,
                sequence,
                kernels,
            } => {
                body.extend_from_slice(&group.to_be_bytes());
                body.extend_from_slice(&sequence.to_be_bytes());
                body.extend_from_slice(&u32_len(kernels.len()).to_be_bytes());
                for k in kernels {
                    body.extend_from_slice(k);
                }
            }
            Self::VtpmList { group, offset } => {
                body.extend_from_slice(&group.to_be_bytes());
                body.extend_from_slice(&offset.to_be_bytes());
            }
            Self::VtpmShow { uuid } | Self::VtpmDel { uuid } => body.extend_from_slice(&uuid.0),
            Self::VtpmNew { group, uuid } => {
                body.extend_from_slice(&group.to_be_bytes());
                if let Some(u) = uuid {
                    body.extend_from_slice(&u.0);
                }
            }
        }
        finish(self.tag(), self.ordinal(), &body)
    }
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// GROUP_SHOW's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group's UUID.
    pub uuid: Uuid,
    /// The attestation key's TPM2B_PUBLIC contents (a TPMT_PUBLIC).
    pub ak_public: Vec<u8>,
    /// The attestation key's name.
    pub ak_name: Vec<u8>,
    /// The kernel list's sequence number.
    pub sequence: u64,
    /// The authorised kernel hashes.
    pub kernels: Vec<[u8; KERNEL_HASH_SIZE]>,
    /// How many vTPMs the group holds.
    pub vtpms: u32,
}

/// VTPM_SHOW's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VtpmInfo {
    /// The index of the vTPM's group.
    pub group: u32,
    /// Whether a hash key has been saved.
    pub has_key: bool,
    /// Whether a domain has the vTPM open now.
    pub open: bool,
}

/// GET_QUOTE's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteReply {
    /// TPMS_ATTEST bytes the hardware TPM signed.
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE bytes.
    pub signature: Vec<u8>,
    /// The optional hashes selected by the flags, in flag order, 32 bytes each.
    pub hashes: Vec<[u8; 32]>,
    /// The quoted SHA-256 PCR values, in ascending PCR order.
    pub pcr_values: Vec<[u8; 32]>,
}

/// GET_QUOTE's answer body: `TPM2B attest ‖ TPM2B signature ‖ u32 n ‖ hashes[32 × n] ‖ u32 m
/// ‖ pcr_values[32 × m]`.
pub fn encode_quote_reply(q: &QuoteReply) -> Vec<u8> {
    let mut body = Vec::new();
    put_sized(&mut body, &q.attest);
    put_sized(&mut body, &q.signature);
    body.extend_from_slice(&u32_len(q.hashes.len()).to_be_bytes());
    for h in &q.hashes {
        body.extend_from_slice(h);
    }
    body.extend_from_slice(&u32_len(q.pcr_values.len()).to_be_bytes());
    for p in &q.pcr_values {
        body.extend_from_slice(p);
    }
    body
}

/// Parses [`encode_quote_reply`]'s bytes, all of them (at most 4 hashes and 24 PCR values).
pub fn parse_quote_reply(bytes: &[u8]) -> Result<QuoteReply, &'static str> {
    let mut r = Reader::new(bytes);
    let attest = r
        .sized_bytes(MAX_MESSAGE, "attest")
        .map_err(|_| "attest")?
        .to_vec();
    let signature = r
        .sized_bytes(MAX_MESSAGE, "signature")
        .map_err(|_| "signature")?
        .to_vec();
    let nh = r.u32("hash count").map_err(|_| "hash count")?;
    if nh > 4 {
        return Err("more than 4 quote hashes");
    }
    let mut hashes = Vec::new();
    for _ in 0..nh {
        hashes.push(r.array("hash").map_err(|_| "hash")?);
    }
    let np = r.u32("PCR count").map_err(|_| "PCR count")?;
    if np > 24 {
        return Err("more than 24 PCR values");
    }
    let mut pcr_values = Vec::new();
    for _ in 0..np {
        pcr_values.push(r.array("PCR value").map_err(|_| "PCR value")?);
    }
    if !r.take_rest().is_empty() {
        return Err("bytes after the PCR values");
    }
    Ok(QuoteReply {
        attest,
        signature,
        hashes,
        pcr_values,
    })
}

/// A successful answer's body, typed by the request it answers.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    /// No body (SAVEHASHKEY, GROUP_DEL, GROUP_UPDATE, VTPM_DEL).
    Empty,
    /// LOADHASHKEY: the stored key.
    HashKey(Zeroizing<Vec<u8>>),
    /// GET_BOOT_HASH.
    BootHash([u8; KERNEL_HASH_SIZE]),
    /// GET_QUOTE.
    Quote(QuoteReply),
    /// Pass-through GetRandom: the bytes (answered as a TPM 1.2 response).
    Random(Vec<u8>),
    /// GROUP_LIST.
    GroupCount(u32),
    /// GROUP_NEW: the group's index, UUID and attestation key.
    GroupNew {
        /// The new group's index.
        index: u32,
        /// Its UUID.
        uuid: Uuid,
        /// The attestation key's TPM2B_PUBLIC contents.
        ak_public: Vec<u8>,
        /// The attestation key's name.
        ak_name: Vec<u8>,
    },
    /// GROUP_ACTIVATE: the recovered credential.
    Credential(Zeroizing<Vec<u8>>),
    /// GROUP_SHOW.
    Group(GroupInfo),
    /// VTPM_LIST: the group's total and one page of UUIDs.
    VtpmList {
        /// vTPMs in the group.
        total: u32,
        /// This page.
        uuids: Vec<Uuid>,
    },
    /// VTPM_SHOW.
    Vtpm(VtpmInfo),
    /// VTPM_NEW: the vTPM's UUID.
    VtpmNew(Uuid),
    /// READ_PUBEK: the endorsement key's TPM2B_PUBLIC contents.
    Pubek(Vec<u8>),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashKey(k) => write!(f, "HashKey(<{} bytes redacted>)", k.len()),
            Self::Credential(k) => write!(f, "Credential(<{} bytes redacted>)", k.len()),
            Self::Empty => f.write_str("Empty"),
            Self::BootHash(_) => f.write_str("BootHash"),
            Self::Quote(q) => write!(f, "Quote({} PCRs)", q.pcr_values.len()),
            Self::Random(r) => write!(f, "Random({} bytes)", r.len()),
            Self::GroupCount(n) => write!(f, "GroupCount({n})"),
            Self::GroupNew { index, uuid, .. } => write!(f, "GroupNew({index}, {uuid})"),
            Self::Group(g) => write!(f, "{g:?}"),
            Self::VtpmList { total, uuids } => write!(f, "VtpmList({total}, {uuids:?})"),
            Self::Vtpm(v) => write!(f, "{v:?}"),
            Self::VtpmNew(u) => write!(f, "VtpmNew({u})"),
            Self::Pubek(p) => write!(f, "Pubek({} bytes)", p.len()),
        }
    }
}

/// Why an answer from the manager was refused by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The manager answered with an error code.
    Refused(ReturnCode),
    /// The answer is not well formed.
    Malformed(&'static str),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(c) => write!(f, "the manager refused the request: {c}"),
            Self::Malformed(w) => write!(f, "malformed answer from the manager: {w}"),
        }
    }
}

impl core::error::Error for ReplyError {}

impl Reply {
    /// The successful answer's bytes. A body that would exceed [`MAX_MESSAGE`] is never built:
    /// the handlers bound their lists.
    pub fn encode(&self) -> Vec<u8> {
        // The body may hold a hash key or a credential: wiped when dropped.
        let mut body = Zeroizing::new(Vec::new());
        let mut tag_out = tag::RSP;
        match self {
            Self::Empty => {}
            Self::HashKey(k) | Self::Credential(k) => {
                if matches!(self, Self::Credential(_)) {
                    put_sized(&mut body, k);
                } else {
                    body.extend_from_slice(k);
                }
            }
            Self::BootHash(h) => body.extend_from_slice(h),
            Self::Quote(q) => body.extend_from_slice(&encode_quote_reply(q)),
            Self::Random(r) => {
                tag_out = tag::TPM_RSP_COMMAND;
                body.extend_from_slice(&u32_len(r.len()).to_be_bytes());
                body.extend_from_slice(r);
            }
            Self::GroupCount(n) => body.extend_from_slice(&n.to_be_bytes()),
            Self::GroupNew {
                index,
                uuid,
                ak_public,
                ak_name,
            } => {
                body.extend_from_slice(&index.to_be_bytes());
                body.extend_from_slice(&uuid.0);
                put_sized(&mut body, ak_public);
                put_sized(&mut body, ak_name);
            }
            Self::Group(g) => {
                body.extend_from_slice(&g.uuid.0);
                put_sized(&mut body, &g.ak_public);
                put_sized(&mut body, &g.ak_name);
                body.extend_from_slice(&g.sequence.to_be_bytes());
                body.extend_from_slice(&u32_len(g.kernels.len()).to_be_bytes());
                for k in &g.kernels {
                    body.extend_from_slice(k);
                }
                body.extend_from_slice(&g.vtpms.to_be_bytes());
            }
            Self::VtpmList { total, uuids } => {
                body.extend_from_slice(&total.to_be_bytes());
                for u in uuids {
                    body.extend_from_slice(&u.0);
                }
            }
            Self::Vtpm(v) => {
                body.extend_from_slice(&v.group.to_be_bytes());
                body.push(u8::from(v.has_key));
                body.push(u8::from(v.open));
            }
            Self::VtpmNew(u) => body.extend_from_slice(&u.0),
            Self::Pubek(p) => put_sized(&mut body, p),
        }
        finish(tag_out, ReturnCode::SUCCESS.0, &body)
    }

    /// A handler's error answer: a bare header with `code`.
    pub fn error(request_tag: u16, code: ReturnCode) -> Vec<u8> {
        let tag_out = if request_tag == tag::TPM_RQU_COMMAND {
            tag::TPM_RSP_COMMAND
        } else {
            tag::RSP
        };
        header(tag_out, HEADER_SIZE, code.0)
    }

    /// Validates the manager's answer to `request` (client side).
    pub fn parse(request: &Request, bytes: &[u8]) -> Result<Reply, ReplyError> {
        let (raw, body) = RawHeader::read_from_prefix(bytes)
            .map_err(|_| ReplyError::Malformed("answer shorter than its header"))?;
        if raw.size.get() as usize != bytes.len() {
            return Err(ReplyError::Malformed("size field differs from the length"));
        }
        let code = ReturnCode(raw.code.get());
        if code != ReturnCode::SUCCESS {
            if !body.is_empty() {
                return Err(ReplyError::Malformed("error answer with a body"));
            }
            return Err(ReplyError::Refused(code));
        }
        let want_tag = if matches!(request, Request::GetRandom { .. }) {
            tag::TPM_RSP_COMMAND
        } else {
            tag::RSP
        };
        if raw.tag.get() != want_tag {
            return Err(ReplyError::Malformed("unexpected answer tag"));
        }
        let m = ReplyError::Malformed;
        let mut r = Reader::new(body);
        let reply = match request {
            Request::SaveHashKey(_)
            | Request::GroupDel { .. }
            | Request::GroupUpdate { .. }
            | Request::VtpmDel { .. } => Reply::Empty,
            Request::LoadHashKey => {
                if body.len() > HASH_KEY_MAX {
                    return Err(m("hash key longer than 64 bytes"));
                }
                Reply::HashKey(Zeroizing::new(r.take_rest().to_vec()))
            }
            Request::GetBootHash => {
                Reply::BootHash(r.array("boot hash").map_err(|_| m("boot hash"))?)
            }
            Request::GetQuote { .. } => {
                let q = parse_quote_reply(r.take_rest()).map_err(m)?;
                Reply::Quote(q)
            }
            Request::GetRandom { .. } => {
                let n = r.u32("random size").map_err(|_| m("random size"))?;
                let bytes = r
                    .bytes(n as usize, "random")
                    .map_err(|_| m("random bytes"))?;
                Reply::Random(bytes.to_vec())
            }
            Request::GroupList => Reply::GroupCount(r.u32("count").map_err(|_| m("count"))?),
            Request::GroupNew => Reply::GroupNew {
                index: r.u32("index").map_err(|_| m("index"))?,
                uuid: Uuid(r.array("uuid").map_err(|_| m("uuid"))?),
                ak_public: r
                    .sized_bytes(MAX_MESSAGE, "AK public")
                    .map_err(|_| m("AK public"))?
                    .to_vec(),
                ak_name: r
                    .sized_bytes(MAX_MESSAGE, "AK name")
                    .map_err(|_| m("AK name"))?
                    .to_vec(),
            },
            Request::GroupActivate { .. } => Reply::Credential(Zeroizing::new(
                r.sized_bytes(MAX_MESSAGE, "credential")
                    .map_err(|_| m("credential"))?
                    .to_vec(),
            )),
            Request::GroupShow { .. } => {
                let uuid = Uuid(r.array("uuid").map_err(|_| m("uuid"))?);
                let ak_public = r
                    .sized_bytes(MAX_MESSAGE, "AK public")
                    .map_err(|_| m("AK public"))?
                    .to_vec();
                let ak_name = r
                    .sized_bytes(MAX_MESSAGE, "AK name")
                    .map_err(|_| m("AK name"))?
                    .to_vec();
                let sequence = r.u64("sequence").map_err(|_| m("sequence"))?;
                let n = r.u32("kernel count").map_err(|_| m("kernel count"))?;
                if n as usize > MAX_KERNELS {
                    return Err(m("more than 16 kernel hashes"));
                }
                let mut kernels = Vec::new();
                for _ in 0..n {
                    kernels.push(r.array("kernel").map_err(|_| m("kernel hash"))?);
                }
                let vtpms = r.u32("vTPM count").map_err(|_| m("vTPM count"))?;
                Reply::Group(GroupInfo {
                    uuid,
                    ak_public,
                    ak_name,
                    sequence,
                    kernels,
                    vtpms,
                })
            }
            Request::VtpmList { .. } => {
                let total = r.u32("total").map_err(|_| m("total"))?;
                let rest = r.take_rest();
                if rest.len() % 16 != 0 || rest.len() / 16 > LIST_MAX {
                    return Err(m("UUID list"));
                }
                let uuids = rest
                    .chunks_exact(16)
                    .map(|c| {
                        let mut u = [0u8; 16];
                        u.copy_from_slice(c);
                        Uuid(u)
                    })
                    .collect();
                Reply::VtpmList { total, uuids }
            }
            Request::VtpmShow { .. } => {
                let group = r.u32("group").map_err(|_| m("group"))?;
                let has_key = flag(r.u8("has key").map_err(|_| m("has key"))?)?;
                let open = flag(r.u8("open").map_err(|_| m("open"))?)?;
                Reply::Vtpm(VtpmInfo {
                    group,
                    has_key,
                    open,
                })
            }
            Request::VtpmNew { .. } => {
                Reply::VtpmNew(Uuid(r.array("uuid").map_err(|_| m("uuid"))?))
            }
            Request::ReadPubek => Reply::Pubek(
                r.sized_bytes(MAX_MESSAGE, "EK public")
                    .map_err(|_| m("EK public"))?
                    .to_vec(),
            ),
        };
        if !r.rest().is_empty() {
            return Err(m("bytes left over after the answer"));
        }
        Ok(reply)
    }
}

fn flag(b: u8) -> Result<bool, ReplyError> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(ReplyError::Malformed("flag byte other than 0 or 1")),
    }
}

#[cfg(test)]
mod tests;

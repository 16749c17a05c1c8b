//! The wire between a hosted domain and the launcher: length-prefixed binary frames.
//!
//! A frame is a little-endian `u32` body length, then the body: one message-type byte and its
//! fields. Integers are little-endian; a string is a `u16` byte length and UTF-8; a list is a
//! `u32` count and its items; an option is a `0`/`1` tag. [`parse`] is strict — every byte is
//! accounted for, so `encode(parse(frame)) == frame` — and bounded: nothing is allocated
//! beyond what the frame's own bytes cover, and a frame is at most [`MAX_FRAME`] bytes. The
//! launcher drops a connection on the first frame that fails to parse.
//!
//! A page travels as a file descriptor (`SCM_RIGHTS`) attached to the [`Msg::Page`] frame.

use std::fmt;
use std::string::String;
use std::vec::Vec;

use crate::platform::{DomId, GrantRef, Port, XenError};

/// The largest frame body, in bytes.
pub const MAX_FRAME: usize = 1 << 20;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    // ----- domain → launcher -----
    /// The first frame: the credential's token.
    Hello {
        /// The 128-bit token.
        token: [u8; 16],
    },
    /// Store read.
    Read {
        /// Path.
        path: String,
    },
    /// Store write.
    Write {
        /// Path.
        path: String,
        /// Value.
        value: String,
    },
    /// Store transaction.
    WriteAll {
        /// (path, value) pairs.
        entries: Vec<(String, String)>,
    },
    /// Store removal.
    Remove {
        /// Path.
        path: String,
    },
    /// Store listing.
    List {
        /// Path.
        path: String,
    },
    /// Register a watch.
    Watch {
        /// Path.
        path: String,
    },
    /// Drop a watch.
    Unwatch {
        /// Path.
        path: String,
    },
    /// Grant a fresh page to `peer` (reply: [`Msg::Page`]).
    Grant {
        /// The peer.
        peer: DomId,
    },
    /// Map `peer`'s grant (reply: [`Msg::Page`]).
    Map {
        /// The granter.
        peer: DomId,
        /// Its reference.
        gref: GrantRef,
    },
    /// End a grant.
    EndGrant {
        /// The reference.
        gref: GrantRef,
    },
    /// Allocate an unbound port (reply: [`Msg::PortNo`]).
    AllocUnbound {
        /// The peer allowed to bind.
        peer: DomId,
    },
    /// Bind to a peer's port (reply: [`Msg::PortNo`]).
    Bind {
        /// The peer.
        peer: DomId,
        /// Its unbound port.
        remote: Port,
    },
    /// Close a port.
    Close {
        /// The local port.
        port: Port,
    },
    /// Notify a port's other end (no reply).
    Notify {
        /// The local port.
        port: Port,
    },
    /// A peer's label (reply: [`Msg::Label`]).
    PeerLabel {
        /// The peer.
        peer: DomId,
    },

    // ----- launcher → domain: replies -----
    /// The credential is good: you are `domid`.
    Welcome {
        /// The domain's id.
        domid: DomId,
    },
    /// Success without a value.
    Done,
    /// A read's result.
    Value(Option<String>),
    /// A listing.
    Names(Vec<String>),
    /// A page: its file descriptor rides with this frame.
    Page {
        /// The grant reference.
        gref: GrantRef,
    },
    /// A port number.
    PortNo(Port),
    /// A label.
    Label(String),
    /// The operation failed.
    Failed(XenError),

    // ----- launcher → domain: events -----
    /// A port became pending.
    PortEvent(Port),
    /// A watch fired.
    WatchEvent(String),
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the frame or a field needs.
    Truncated,
    /// The length prefix is zero or above [`MAX_FRAME`].
    BadLength(u32),
    /// Bytes left over after the message.
    Trailing(usize),
    /// An unknown message type.
    UnknownType(u8),
    /// An unknown error code in a [`Msg::Failed`].
    UnknownErrorCode(u8),
    /// An option tag other than 0 or 1.
    BadTag(u8),
    /// A string that is not UTF-8.
    NotUtf8,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => write!(f, "frame cut short"),
            Self::BadLength(n) => write!(f, "frame length {n} is out of range (1..={MAX_FRAME})"),
            Self::Trailing(n) => write!(f, "{n} stray bytes after the message"),
            Self::UnknownType(t) => write!(f, "unknown message type {t:#04x}"),
            Self::UnknownErrorCode(c) => write!(f, "unknown error code {c}"),
            Self::BadTag(t) => write!(f, "option tag {t} is neither 0 nor 1"),
            Self::NotUtf8 => write!(f, "string is not UTF-8"),
        }
    }
}

impl core::error::Error for WireError {}

/// The body length a frame's 4-byte prefix announces, checked against [`MAX_FRAME`].
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, WireError> {
    let n = u32::from_le_bytes(prefix);
    match usize::try_from(n) {
        Ok(len) if (1..=MAX_FRAME).contains(&len) => Ok(len),
        _ => Err(WireError::BadLength(n)),
    }
}

mod ty {
    pub(super) const HELLO: u8 = 0x01;
    pub(super) const READ: u8 = 0x02;
    pub(super) const WRITE: u8 = 0x03;
    pub(super) const WRITE_ALL: u8 = 0x04;
    pub(super) const REMOVE: u8 = 0x05;
    pub(super) const LIST: u8 = 0x06;
    pub(super) const WATCH: u8 = 0x07;
    pub(super) const UNWATCH: u8 = 0x08;
    pub(super) const GRANT: u8 = 0x09;
    pub(super) const MAP: u8 = 0x0a;
    pub(super) const END_GRANT: u8 = 0x0b;
    pub(super) const ALLOC_UNBOUND: u8 = 0x0c;
    pub(super) const BIND: u8 = 0x0d;
    pub(super) const CLOSE: u8 = 0x0e;
    pub(super) const NOTIFY: u8 = 0x0f;
    pub(super) const PEER_LABEL: u8 = 0x10;
    pub(super) const WELCOME: u8 = 0x80;
    pub(super) const DONE: u8 = 0x81;
    pub(super) const VALUE: u8 = 0x82;
    pub(super) const NAMES: u8 = 0x83;
    pub(super) const PAGE: u8 = 0x84;
    pub(super) const PORT_NO: u8 = 0x85;
    pub(super) const LABEL: u8 = 0x86;
    pub(super) const FAILED: u8 = 0x87;
    pub(super) const PORT_EVENT: u8 = 0xc0;
    pub(super) const WATCH_EVENT: u8 = 0xc1;
}

/// Encodes a message as a whole frame (prefix included). Strings longer than 65535 bytes are
/// cut at a character boundary (nothing this crate sends comes near).
pub fn encode(msg: &Msg) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64));
    w.0.extend_from_slice(&[0; 4]);
    match msg {
        Msg::Hello { token } => {
            w.u8(ty::HELLO);
            w.0.extend_from_slice(token);
        }
        Msg::Read { path } => w.typed_str(ty::READ, path),
        Msg::Write { path, value } => {
            w.typed_str(ty::WRITE, path);
            w.str(value);
        }
        Msg::WriteAll { entries } => {
            w.u8(ty::WRITE_ALL);
            w.count(entries.len());
            for (p, v) in entries {
                w.str(p);
                w.str(v);
            }
        }
        Msg::Remove { path } => w.typed_str(ty::REMOVE, path),
        Msg::List { path } => w.typed_str(ty::LIST, path),
        Msg::Watch { path } => w.typed_str(ty::WATCH, path),
        Msg::Unwatch { path } => w.typed_str(ty::UNWATCH, path),
        Msg::Grant { peer } => {
            w.u8(ty::GRANT);
            w.u16(*peer);
        }
        Msg::Map { peer, gref } => {
            w.u8(ty::MAP);
            w.u16(*peer);
            w.u32(gref.0);
        }
        Msg::EndGrant { gref } => {
            w.u8(ty::END_GRANT);
            w.u32(gref.0);
        }
        Msg::AllocUnbound { peer } => {
            w.u8(ty::ALLOC_UNBOUND);
            w.u16(*peer);
        }
        Msg::Bind { peer, remote } => {
            w.u8(ty::BIND);
            w.u16(*peer);
            w.u32(remote.0);
        }
        Msg::Close { port } => {
            w.u8(ty::CLOSE);
            w.u32(port.0);
        }
        Msg::Notify { port } => {
            w.u8(ty::NOTIFY);
            w.u32(port.0);
        }
        Msg::PeerLabel { peer } => {
            w.u8(ty::PEER_LABEL);
            w.u16(*peer);
        }
        Msg::Welcome { domid } => {
            w.u8(ty::WELCOME);
            w.u16(*domid);
        }
        Msg::Done => w.u8(ty::DONE),
        Msg::Value(v) => {
            w.u8(ty::VALUE);
            match v {
                None => w.u8(0),
                Some(s) => {
                    w.u8(1);
                    w.str(s);
                }
            }
        }
        Msg::Names(names) => {
            w.u8(ty::NAMES);
            w.count(names.len());
            for n in names {
                w.str(n);
            }
        }
        Msg::Page { gref } => {
            w.u8(ty::PAGE);
            w.u32(gref.0);
        }
        Msg::PortNo(p) => {
            w.u8(ty::PORT_NO);
            w.u32(p.0);
        }
        Msg::Label(s) => w.typed_str(ty::LABEL, s),
        Msg::Failed(e) => {
            w.u8(ty::FAILED);
            w.error(e);
        }
        Msg::PortEvent(p) => {
            w.u8(ty::PORT_EVENT);
            w.u32(p.0);
        }
        Msg::WatchEvent(s) => w.typed_str(ty::WATCH_EVENT, s),
    }
    let body = u32::try_from(w.0.len() - 4).unwrap_or(u32::MAX);
    w.0[..4].copy_from_slice(&body.to_le_bytes());
    w.0
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn str(&mut self, s: &str) {
        let mut end = s.len().min(usize::from(u16::MAX));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let cut = &s.as_bytes()[..end];
        self.u16(u16::try_from(cut.len()).unwrap_or(0));
        self.0.extend_from_slice(cut);
    }
    fn typed_str(&mut self, t: u8, s: &str) {
        self.u8(t);
        self.str(s);
    }
    fn error(&mut self, e: &XenError) {
        match e {
            XenError::NoEntry(s) => self.typed_str(1, s),
            XenError::Denied(s) => self.typed_str(2, s),
            XenError::BadPath(s) => self.typed_str(3, s),
            XenError::BadGrant { peer, gref } => {
                self.u8(4);
                self.u16(*peer);
                self.u32(gref.0);
            }
            XenError::BadPort(p) => {
                self.u8(5);
                self.u32(p.0);
            }
            XenError::NoDomain(d) => {
                self.u8(6);
                self.u16(*d);
            }
            XenError::Io(s) => self.typed_str(7, s),
        }
    }
}

/// Parses one whole frame (prefix included, nothing after it).
pub fn parse(frame: &[u8]) -> Result<Msg, WireError> {
    let (prefix, body) = frame.split_at_checked(4).ok_or(WireError::Truncated)?;
    let mut p = [0u8; 4];
    p.copy_from_slice(prefix);
    let len = frame_len(p)?;
    if body.len() < len {
        return Err(WireError::Truncated);
    }
    if body.len() > len {
        return Err(WireError::Trailing(body.len() - len));
    }
    let mut r = Reader(body);
    let msg = r.msg()?;
    if !r.0.is_empty() {
        return Err(WireError::Trailing(r.0.len()));
    }
    Ok(msg)
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(WireError::Truncated)?;
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn str(&mut self) -> Result<String, WireError> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        core::str::from_utf8(b)
            .map(String::from)
            .map_err(|_| WireError::NotUtf8)
    }
    /// A list count, checked against the bytes left (each item takes at least `min` bytes).
    fn count(&mut self, min: usize) -> Result<usize, WireError> {
        let n = usize::try_from(self.u32()?).map_err(|_| WireError::Truncated)?;
        if n.saturating_mul(min) > self.0.len() {
            return Err(WireError::Truncated);
        }
        Ok(n)
    }
    fn error(&mut self) -> Result<XenError, WireError> {
        Ok(match self.u8()? {
            1 => XenError::NoEntry(self.str()?),
            2 => XenError::Denied(self.str()?),
            3 => XenError::BadPath(self.str()?),
            4 => XenError::BadGrant {
                peer: self.u16()?,
                gref: GrantRef(self.u32()?),
            },
            5 => XenError::BadPort(Port(self.u32()?)),
            6 => XenError::NoDomain(self.u16()?),
            7 => XenError::Io(self.str()?),
            c => return Err(WireError::UnknownErrorCode(c)),
        })
    }
    fn msg(&mut self) -> Result<Msg, WireError> {
        Ok(match self.u8()? {
            ty::HELLO => {
                let mut token = [0u8; 16];
                token.copy_from_slice(self.take(16)?);
                Msg::Hello { token }
            }
            ty::READ => Msg::Read { path: self.str()? },
            ty::WRITE => Msg::Write {
                path: self.str()?,
                value: self.str()?,
            },
            ty::WRITE_ALL => {
                let n = self.count(4)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push((self.str()?, self.str()?));
                }
                Msg::WriteAll { entries }
            }
            ty::REMOVE => Msg::Remove { path: self.str()? },
            ty::LIST => Msg::List { path: self.str()? },
            ty::WATCH => Msg::Watch { path: self.str()? },
            ty::UNWATCH => Msg::Unwatch { path: self.str()? },
            ty::GRANT => Msg::Grant { peer: self.u16()? },
            ty::MAP => Msg::Map {
                peer: self.u16()?,
                gref: GrantRef(self.u32()?),
            },
            ty::END_GRANT => Msg::EndGrant {
                gref: GrantRef(self.u32()?),
            },
            ty::ALLOC_UNBOUND => Msg::AllocUnbound { peer: self.u16()? },
            ty::BIND => Msg::Bind {
                peer: self.u16()?,
                remote: Port(self.u32()?),
            },
            ty::CLOSE => Msg::Close {
                port: Port(self.u32()?),
            },
            ty::NOTIFY => Msg::Notify {
                port: Port(self.u32()?),
            },
            ty::PEER_LABEL => Msg::PeerLabel { peer: self.u16()? },
            ty::WELCOME => Msg::Welcome { domid: self.u16()? },
            ty::DONE => Msg::Done,
            ty::VALUE => match self.u8()? {
                0 => Msg::Value(None),
                1 => Msg::Value(Some(self.str()?)),
                t => return Err(WireError::BadTag(t)),
            },
            ty::NAMES => {
                let n = self.count(2)?;
                let mut names = Vec::with_capacity(n);
                for _ in 0..n {
                    names.push(self.str()?);
                }
                Msg::Names(names)
            }
            ty::PAGE => Msg::Page {
                gref: GrantRef(self.u32()?),
            },
            ty::PORT_NO => Msg::PortNo(Port(self.u32()?)),
            ty::LABEL => Msg::Label(self.str()?),
            ty::FAILED => Msg::Failed(self.error()?),
            ty::PORT_EVENT => Msg::PortEvent(Port(self.u32()?)),
            ty::WATCH_EVENT => Msg::WatchEvent(self.str()?),
            t => return Err(WireError::UnknownType(t)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;

    fn samples() -> Vec<Msg> {
        vec![
            Msg::Hello { token: [7; 16] },
            Msg::Read { path: "/a".into() },
            Msg::Write {
                path: "/a/b".into(),
                value: "v\u{e9}".into(),
            },
            Msg::WriteAll {
                entries: vec![("/x".into(), String::new()), ("/y".into(), "1".into())],
            },
            Msg::Remove { path: "/r".into() },
            Msg::List { path: "/".into() },
            Msg::Watch { path: "/w".into() },
            Msg::Unwatch { path: "/w".into() },
            Msg::Grant { peer: 3 },
            Msg::Map {
                peer: 3,
                gref: GrantRef(8),
            },
            Msg::EndGrant { gref: GrantRef(9) },
            Msg::AllocUnbound { peer: 1 },
            Msg::Bind {
                peer: 1,
                remote: Port(2),
            },
            Msg::Close { port: Port(4) },
            Msg::Notify { port: Port(5) },
            Msg::PeerLabel { peer: 0 },
            Msg::Welcome { domid: 12 },
            Msg::Done,
            Msg::Value(None),
            Msg::Value(Some("x".into())),
            Msg::Names(vec!["a".into(), "bb".into()]),
            Msg::Page { gref: GrantRef(10) },
            Msg::PortNo(Port(6)),
            Msg::Label("dom0".into()),
            Msg::Failed(XenError::Denied("/p".into())),
            Msg::Failed(XenError::BadGrant {
                peer: 2,
                gref: GrantRef(3),
            }),
            Msg::Failed(XenError::NoDomain(4)),
            Msg::Failed(XenError::Io("gone".to_string())),
            Msg::PortEvent(Port(7)),
            Msg::WatchEvent("/w".into()),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let f = encode(&m);
            assert_eq!(parse(&f), Ok(m.clone()), "{m:?}");
            // Every cut is refused, and so is a stray byte.
            for cut in 0..f.len() {
                assert!(parse(&f[..cut]).is_err(), "{m:?} cut at {cut}");
            }
            let mut long = f.clone();
            long.push(0);
            assert!(parse(&long).is_err());
        }
    }

    #[test]
    fn hostile_frames_are_refused() {
        assert_eq!(parse(&[0, 0, 0, 0]), Err(WireError::BadLength(0)));
        assert_eq!(
            parse(&[0xff, 0xff, 0xff, 0xff, 1]),
            Err(WireError::BadLength(u32::MAX))
        );
        assert_eq!(
            parse(&[1, 0, 0, 0, 0x55]),
            Err(WireError::UnknownType(0x55))
        );
        assert_eq!(parse(&[2, 0, 0, 0, 0x82, 2]), Err(WireError::BadTag(2)));
        // A list claiming four billion items in a few bytes.
        assert_eq!(
            parse(&[5, 0, 0, 0, 0x83, 0xff, 0xff, 0xff, 0xff]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            parse(&[4, 0, 0, 0, 0x02, 1, 0, 0xff]),
            Err(WireError::NotUtf8)
        );
        assert_eq!(
            parse(&[3, 0, 0, 0, 0x87, 9, 0]),
            Err(WireError::UnknownErrorCode(9))
        );
    }
}

//! Xenbus device states and the vTPM device's store layout (reference `xen-vtpm.md` §2.3;
//! Xen's `xen/include/public/io/xenbus.h`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::platform::DomId;

/// A split device's connection state, as written to its `state` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum XenbusState {
    /// 0: not known (also: the key is missing).
    Unknown,
    /// 1: the toolstack created the device; also where a closed frontend returns for a
    /// successor (mini-os after pv-grub).
    Initialising,
    /// 2: the backend waits for the frontend's details.
    InitWait,
    /// 3: the frontend published its details (Linux).
    Initialised,
    /// 4: connected.
    Connected,
    /// 5: closing.
    Closing,
    /// 6: closed.
    Closed,
    /// 7: reconfiguring (unused by the vTPM drivers).
    Reconfiguring,
    /// 8: reconfigured (unused by the vTPM drivers).
    Reconfigured,
}

impl XenbusState {
    /// Parses a `state` value: a decimal 0–8, nothing else (no sign, no spaces).
    pub fn parse(value: &str) -> Option<XenbusState> {
        Some(match value {
            "0" => Self::Unknown,
            "1" => Self::Initialising,
            "2" => Self::InitWait,
            "3" => Self::Initialised,
            "4" => Self::Connected,
            "5" => Self::Closing,
            "6" => Self::Closed,
            "7" => Self::Reconfiguring,
            "8" => Self::Reconfigured,
            _ => return None,
        })
    }

    /// The value written to the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "0",
            Self::Initialising => "1",
            Self::InitWait => "2",
            Self::Initialised => "3",
            Self::Connected => "4",
            Self::Closing => "5",
            Self::Closed => "6",
            Self::Reconfiguring => "7",
            Self::Reconfigured => "8",
        }
    }
}

/// The device kind string of a vTPM.
pub const DEVICE_KIND: &str = "vtpm";

/// A domain's home in the store.
pub fn domain_path(domid: DomId) -> String {
    format!("/local/domain/{domid}")
}

/// `/local/domain/<backend>/backend/vtpm`: what a backend watches.
pub fn backend_root(backend: DomId) -> String {
    format!("/local/domain/{backend}/backend/{DEVICE_KIND}")
}

/// `/local/domain/<backend>/backend/vtpm/<frontend>/<devid>`.
pub fn backend_path(backend: DomId, frontend: DomId, devid: u32) -> String {
    format!("{}/{frontend}/{devid}", backend_root(backend))
}

/// `/local/domain/<frontend>/device/vtpm/<devid>`.
pub fn frontend_path(frontend: DomId, devid: u32) -> String {
    format!("/local/domain/{frontend}/device/{DEVICE_KIND}/{devid}")
}

/// The keys the toolstack (libxl) writes in one transaction to create a vTPM device
/// (reference §2.3): the backend's `frontend`, `frontend-id`, `online`, `state` 1, `handle`,
/// `uuid` and `resume`, and the frontend's `backend`, `backend-id`, `state` 1 and `handle`.
/// `uuid` is the canonical lowercase 36-character form.
pub fn device_entries(
    backend: DomId,
    frontend: DomId,
    devid: u32,
    uuid: &str,
) -> Vec<(String, String)> {
    let be = backend_path(backend, frontend, devid);
    let fe = frontend_path(frontend, devid);
    let init = XenbusState::Initialising.as_str();
    alloc::vec![
        (format!("{be}/frontend"), fe.clone()),
        (format!("{be}/frontend-id"), format!("{frontend}")),
        (format!("{be}/online"), "1".into()),
        (format!("{be}/state"), init.into()),
        (format!("{be}/handle"), format!("{devid}")),
        (format!("{be}/uuid"), uuid.into()),
        (format!("{be}/resume"), "False".into()),
        (format!("{fe}/backend"), be),
        (format!("{fe}/backend-id"), format!("{backend}")),
        (format!("{fe}/state"), init.into()),
        (format!("{fe}/handle"), format!("{devid}")),
    ]
}

/// Parses a UUID exactly as mini-os tpmback does (reference §2.4): 36 characters, hex pairs in
/// the groups 4-2-2-2-6 bytes separated by `-`; the first pair is byte 0. Upper- and lowercase
/// hex are accepted; anything else (spaces, signs, braces, a missing or extra character) is
/// refused.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let b = text.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut pos = 0;
    for (i, byte) in out.iter_mut().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            if b[pos] != b'-' {
                return None;
            }
            pos += 1;
        }
        let hi = hex_digit(b[pos])?;
        let lo = hex_digit(b[pos + 1])?;
        *byte = (hi << 4) | lo;
        pos += 2;
    }
    Some(out)
}

/// The canonical lowercase text of a UUID.
pub fn format_uuid(uuid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let hex = b"0123456789abcdef";
        s.push(char::from(hex[usize::from(byte >> 4)]));
        s.push(char::from(hex[usize::from(byte & 0xf)]));
    }
    s
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_junk_is_refused() {
        for v in 0..=8u8 {
            let s = alloc::format!("{v}");
            assert_eq!(
                XenbusState::parse(&s).map(XenbusState::as_str),
                Some(s.as_str())
            );
        }
        for junk in ["", "9", " 4", "4 ", "+4", "04", "-1", "connected"] {
            assert_eq!(XenbusState::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn uuids_parse_strictly() {
        let text = "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839";
        let u = parse_uuid(text).unwrap();
        assert_eq!(u[0], 0xac);
        assert_eq!(u[15], 0x39);
        assert_eq!(format_uuid(&u), text);
        assert_eq!(parse_uuid(&text.to_uppercase()), Some(u));
        for bad in [
            "",
            "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb83",
            "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb8390",
            "ac0a5b9ecbe2-4c07-b43b-1d69e46fb8390",
            "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb83g",
            "{c0a5b9e-cbe2-4c07-b43b-1d69e46fb839",
            "ac0a5b9e-cbe2-4c07-b43b -d69e46fb839",
            "ac0a5b9é-cbe2-4c07-b43b-1d69e46fb83",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_toolstack_writes_the_reference_layout() {
        let e = device_entries(1, 7, 0, "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839");
        let get = |k: &str| e.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("/local/domain/1/backend/vtpm/7/0/frontend"),
            Some("/local/domain/7/device/vtpm/0")
        );
        assert_eq!(get("/local/domain/1/backend/vtpm/7/0/state"), Some("1"));
        assert_eq!(
            get("/local/domain/1/backend/vtpm/7/0/resume"),
            Some("False")
        );
        assert_eq!(
            get("/local/domain/7/device/vtpm/0/backend"),
            Some("/local/domain/1/backend/vtpm/7/0")
        );
        assert_eq!(get("/local/domain/7/device/vtpm/0/backend-id"), Some("1"));
        assert_eq!(e.len(), 11);
    }
}

//! vTPM, group and manager identities: 16-byte UUIDs (RFC 9562), stored and sent in textual
//! order (the first hex pair is byte 0), as Xen's tpmback stores the xenstore `uuid` key.

use core::fmt;
use core::str::FromStr;

/// A 16-byte UUID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID.
    pub const NIL: Uuid = Uuid([0; 16]);

    /// A random (version 4, RFC 9562 §5.4) UUID made from 16 random bytes.
    pub fn new_v4(mut random: [u8; 16]) -> Uuid {
        random[6] = (random[6] & 0x0f) | 0x40;
        random[8] = (random[8] & 0x3f) | 0x80;
        Uuid(random)
    }

    /// The bytes, in textual order.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a UUID string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UuidParseError;

impl fmt::Display for UuidParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a UUID (expected 8-4-4-4-12 hex digits)")
    }
}

impl core::error::Error for UuidParseError {}

impl FromStr for Uuid {
    type Err = UuidParseError;

    /// Parses the hyphenated form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
    fn from_str(s: &str) -> Result<Uuid, UuidParseError> {
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(UuidParseError);
        }
        let mut out = [0u8; 16];
        let mut n = 0;
        let mut i = 0;
        while i < b.len() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b[i] != b'-' {
                    return Err(UuidParseError);
                }
                i += 1;
                continue;
            }
            let hi = hex(b[i]).ok_or(UuidParseError)?;
            let lo = hex(*b.get(i + 1).ok_or(UuidParseError)?).ok_or(UuidParseError)?;
            *out.get_mut(n).ok_or(UuidParseError)? = hi << 4 | lo;
            n += 1;
            i += 2;
        }
        if n != 16 {
            return Err(UuidParseError);
        }
        Ok(Uuid(out))
    }
}

fn hex(c: u8) -> Option<u8> {
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
    fn text_round_trip_in_textual_byte_order() {
        let s = "00112233-4455-6677-8899-aabbccddeeff";
        let u: Uuid = s.parse().unwrap();
        assert_eq!(u.0[0], 0x00);
        assert_eq!(u.0[15], 0xff);
        assert_eq!(alloc::format!("{u}"), s);
        assert_eq!(
            "00112233-4455-6677-8899-AABBCCDDEEFF".parse::<Uuid>(),
            Ok(u)
        );
    }

    #[test]
    fn malformed_strings_are_refused() {
        for s in [
            "",
            "00112233445566778899aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddeefg",
            "0011223-34455-6677-8899-aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddeeff0",
            "00112233-4455-6677-8899-aabbccddeé",
        ] {
            assert_eq!(s.parse::<Uuid>(), Err(UuidParseError), "{s}");
        }
    }

    #[test]
    fn v4_sets_version_and_variant() {
        let u = Uuid::new_v4([0xff; 16]);
        assert_eq!(u.0[6] >> 4, 4);
        assert_eq!(u.0[8] >> 6, 0b10);
    }
}

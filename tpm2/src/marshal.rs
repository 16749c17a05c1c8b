//! Marshalling and unmarshalling (TCG TPM 2.0 Library part 2 §5 and the "Marshal"/"Unmarshal"
//! rules of part 4): big-endian integers, size-prefixed TPM2B buffers, tagged unions.
//!
//! [`Reader`] is the only way bytes are consumed: every read checks the remaining length and
//! returns [`Error::Truncated`] instead of panicking. [`Unmarshal::from_bytes`] additionally
//! rejects trailing bytes.

use alloc::vec::Vec;

use crate::Error;

/// A bounds-checked cursor over an input buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over all of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub const fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been consumed.
    pub const fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes consumed so far.
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed rest of the input, without consuming it.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes exactly `n` bytes, reported as part of `what` if the input is short.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let available = self.remaining();
        if n > available {
            return Err(Error::Truncated {
                what,
                needed: n,
                available,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Consumes everything that is left.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Consumes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a `u16` size and then that many bytes, rejecting sizes above `max`.
    pub fn sized_bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let size = usize::from(self.u16(what)?);
        if size > max {
            return Err(Error::TooLarge { what, size, max });
        }
        self.bytes(size, what)
    }

    /// Reads a `u16` size and returns a sub-reader over exactly that many bytes, for TPM2B
    /// wrappers around a structure (TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, ...). A zero size is
    /// rejected: callers that allow an empty wrapper check [`Reader::peek_u16`] first.
    pub fn sized(&mut self, what: &'static str) -> Result<Reader<'a>, Error> {
        let body = self.sized_bytes(usize::from(u16::MAX), what)?;
        if body.is_empty() {
            return Err(Error::TooSmall {
                what,
                size: 0,
                min: 1,
            });
        }
        Ok(Reader::new(body))
    }

    /// Reads a TPM2B-wrapped structure: a non-zero `u16` size, then `inner` must consume exactly
    /// that many bytes (trailing bytes inside the size are an error).
    ///
    /// A size that runs past the end of the input is judged as the reference implementation's
    /// unmarshalling code does (part 4, `TPM2B_*_Unmarshal`): the structure is read from what is
    /// there, so its own error (TPM_RC_INSUFFICIENT when it is cut short) comes first, and a
    /// structure that ends before the declared size is a [`Error::SizeMismatch`].
    pub fn sized_exact<T>(
        &mut self,
        what: &'static str,
        inner: impl FnOnce(&mut Reader<'a>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let declared = usize::from(self.peek_u16(what)?);
        let available = self.remaining().saturating_sub(2);
        if declared > available {
            self.u16(what)?;
            let present = self.rest();
            let mut body = Reader::new(present);
            inner(&mut body)?;
            return Err(Error::SizeMismatch {
                what,
                declared,
                actual: present.len() - body.remaining(),
            });
        }
        let mut body = self.sized(what)?;
        let v = inner(&mut body)?;
        body.finish(what)?;
        Ok(v)
    }

    /// The next big-endian `u16`, without consuming it.
    pub fn peek_u16(&self, what: &'static str) -> Result<u16, Error> {
        self.clone().u16(what)
    }

    /// Fails with [`Error::TrailingBytes`] if anything is left.
    pub fn finish(&self, what: &'static str) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::TrailingBytes { what, count }),
        }
    }

    /// Reads a count-prefixed list (a TPML body) with at most `max` elements.
    pub fn list<T: Unmarshal>(&mut self, max: usize, what: &'static str) -> Result<Vec<T>, Error> {
        let count = self.u32(what)?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > max {
            return Err(Error::TooLarge {
                what,
                size: count,
                max,
            });
        }
        // Each element takes at least one byte, so a count larger than the input is a lie and
        // must not drive the allocation.
        let mut out = Vec::with_capacity(count.min(self.remaining()));
        for _ in 0..count {
            out.push(T::unmarshal(self)?);
        }
        Ok(out)
    }
}

/// A value that can be written in TPM wire format.
pub trait Marshal {
    /// Appends the wire form of `self` to `out`.
    fn marshal(&self, out: &mut Vec<u8>);

    /// The wire form of `self` as a new buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.marshal(&mut out);
        out
    }
}

/// A value that can be read from TPM wire format with every bound checked.
pub trait Unmarshal: Sized {
    /// Reads one value from `r`, leaving the reader after it.
    fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error>;

    /// Reads one value that must occupy all of `bytes`.
    fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let v = Self::unmarshal(&mut r)?;
        r.finish(core::any::type_name::<Self>())?;
        Ok(v)
    }
}

macro_rules! primitive {
    ($($t:ty),*) => {$(
        impl Marshal for $t {
            fn marshal(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
        impl Unmarshal for $t {
            fn unmarshal(r: &mut Reader<'_>) -> Result<Self, Error> {
                Ok(<$t>::from_be_bytes(r.array(stringify!($t))?))
            }
        }
    )*};
}
primitive!(u8, u16, u32, u64, i32);

impl<T: Marshal> Marshal for [T] {
    fn marshal(&self, out: &mut Vec<u8>) {
        for v in self {
            v.marshal(out);
        }
    }
}

/// Writes a TPML: a `u32` count followed by the elements.
///
/// # Panics
/// Never for lists built by this crate: their lengths are bounded far below `u32::MAX`.
pub fn marshal_list<T: Marshal>(items: &[T], out: &mut Vec<u8>) {
    u32::try_from(items.len()).unwrap_or(u32::MAX).marshal(out);
    items.marshal(out);
}

/// Writes `body` behind a `u16` size prefix (a TPM2B).
pub fn marshal_sized(body: &[u8], out: &mut Vec<u8>) {
    u16::try_from(body.len()).unwrap_or(u16::MAX).marshal(out);
    out.extend_from_slice(body);
}

/// Marshals `inner` behind a `u16` size prefix (TPM2B_PUBLIC and friends).
pub fn marshal_sized_with(out: &mut Vec<u8>, inner: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    inner(out);
    let size = u16::try_from(out.len() - at - 2).unwrap_or(u16::MAX);
    out[at..at + 2].copy_from_slice(&size.to_be_bytes());
}

/// Declares a plain wire structure: its fields are marshalled one after another, in order.
///
/// ```
/// use tpm2::{Marshal, Unmarshal};
/// tpm2::wire_struct! {
///     /// An example pair.
///     pub struct Example("TPMS_EXAMPLE") {
///         /// First field.
///         pub a: u16,
///         /// Second field.
///         pub b: u32,
///     }
/// }
/// let e = Example { a: 1, b: 2 };
/// assert_eq!(e.to_bytes(), [0, 1, 0, 0, 0, 2]);
/// assert_eq!(Example::from_bytes(&[0, 1, 0, 0, 0, 2]).unwrap(), e);
/// assert!(Example::from_bytes(&[0, 1, 0, 0, 0, 2, 9]).is_err());
/// ```
#[macro_export]
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($tcg:literal) {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }
        impl $crate::marshal::Marshal for $name {
            fn marshal(&self, out: &mut $crate::__private::Vec<u8>) {
                $( $crate::marshal::Marshal::marshal(&self.$field, out); )*
                let _ = out;
            }
        }
        impl $crate::marshal::Unmarshal for $name {
            fn unmarshal(r: &mut $crate::marshal::Reader<'_>) -> Result<Self, $crate::Error> {
                let _ = &r;
                Ok(Self { $( $field: <$ty as $crate::marshal::Unmarshal>::unmarshal(r)?, )* })
            }
        }
    };
}

/// Declares a TPM2B buffer type: a `u16` size followed by at most `max` bytes.
///
/// With `secret`, the contents are zeroized when dropped and `Debug` does not print them.
#[macro_export]
macro_rules! tpm2b {
    ($(#[$meta:meta])* $name:ident, $tcg:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name($crate::__private::Vec<u8>);
        $crate::tpm2b!(@common $name, $tcg, $max);
    };
    ($(#[$meta:meta])* secret $name:ident, $tcg:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Default)]
        pub struct $name($crate::__private::Vec<u8>);
        $crate::tpm2b!(@common $name, $tcg, $max);
        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                write!(f, concat!(stringify!($name), "(<{} secret bytes>)"), self.0.len())
            }
        }
        impl Drop for $name {
            fn drop(&mut self) {
                ::zeroize::Zeroize::zeroize(&mut self.0);
            }
        }
    };
    (@common $name:ident, $tcg:literal, $max:expr) => {
        impl $name {
            /// The TCG name of this type.
            pub const TCG_NAME: &'static str = $tcg;
            /// The largest number of bytes this buffer may hold.
            pub const MAX: usize = $max;

            /// Wraps `bytes`, rejecting more than [`Self::MAX`].
            pub fn new(bytes: &[u8]) -> Result<Self, $crate::Error> {
                if bytes.len() > Self::MAX {
                    return Err($crate::Error::TooLarge {
                        what: $tcg,
                        size: bytes.len(),
                        max: Self::MAX,
                    });
                }
                Ok(Self(bytes.to_vec()))
            }

            /// The empty buffer.
            pub const fn empty() -> Self {
                Self($crate::__private::Vec::new())
            }

            /// The contents.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// Number of bytes held.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether the buffer is empty (size 0 on the wire).
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }
        impl $crate::marshal::Marshal for $name {
            fn marshal(&self, out: &mut $crate::__private::Vec<u8>) {
                $crate::marshal::marshal_sized(&self.0, out);
            }
        }
        impl $crate::marshal::Unmarshal for $name {
            fn unmarshal(r: &mut $crate::marshal::Reader<'_>) -> Result<Self, $crate::Error> {
                Ok(Self(r.sized_bytes(Self::MAX, $tcg)?.to_vec()))
            }
        }
    };
}

/// Declares a TPM2B that wraps one structure (TPM2B_NV_PUBLIC, TPM2B_ECC_POINT, ...): a
/// non-zero `u16` size that the inner structure must fill exactly.
#[macro_export]
macro_rules! tpm2b_struct {
    ($(#[$meta:meta])* $name:ident($tcg:literal) { $(#[$fmeta:meta])* $field:ident: $inner:ty }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $(#[$fmeta])*
            pub $field: $inner,
        }
        impl From<$inner> for $name {
            fn from($field: $inner) -> Self {
                Self { $field }
            }
        }
        impl $crate::marshal::Marshal for $name {
            fn marshal(&self, out: &mut $crate::__private::Vec<u8>) {
                $crate::marshal::marshal_sized_with(out, |o| self.$field.marshal(o));
            }
        }
        impl $crate::marshal::Unmarshal for $name {
            fn unmarshal(r: &mut $crate::marshal::Reader<'_>) -> Result<Self, $crate::Error> {
                Ok(Self { $field: r.sized_exact($tcg, <$inner>::unmarshal)? })
            }
        }
    };
}

/// Declares an "open" TCG enumeration: a newtype over the wire integer with one associated
/// constant per value the specification names, a `name()` lookup, and `Debug`/`Display` that
/// print the TCG name (or the hex value when unnamed). Unmarshalling accepts any value;
/// validation against an interface type (TPMI_*) happens where the structure needs it.
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($int:ty, $tcg:literal) {
            $( $konst:ident = $val:expr => $kname:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $int);
        impl $name {
            $( #[doc = $kname] pub const $konst: Self = Self($val); )*
            /// The TCG name of this type.
            pub const TCG_NAME: &'static str = $tcg;
            /// Every value the specification names, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$konst),*];

            /// The TCG name of this value, if it has one.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( v if v == $val => Some($kname), )*
                    _ => None,
                }
            }
        }
        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(self, f)
            }
        }
        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, concat!($tcg, "({:#x})"), self.0),
                }
            }
        }
        impl From<$int> for $name {
            fn from(v: $int) -> Self {
                Self(v)
            }
        }
        impl From<$name> for $int {
            fn from(v: $name) -> Self {
                v.0
            }
        }
        impl $crate::marshal::Marshal for $name {
            fn marshal(&self, out: &mut $crate::__private::Vec<u8>) {
                $crate::marshal::Marshal::marshal(&self.0, out);
            }
        }
        impl $crate::marshal::Unmarshal for $name {
            fn unmarshal(r: &mut $crate::marshal::Reader<'_>) -> Result<Self, $crate::Error> {
                Ok(Self(<$int>::from_be_bytes(r.array($tcg)?)))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_exact_past_the_end() {
        let two_u16 = |r: &mut Reader<'_>| Ok((r.u16("a")?, r.u16("b")?));
        // Exact: fine; size 0: too small.
        let mut r = Reader::new(&[0, 4, 1, 2, 3, 4]);
        assert_eq!(r.sized_exact("S", two_u16), Ok((0x0102, 0x0304)));
        let mut r = Reader::new(&[0, 0]);
        assert!(matches!(
            r.sized_exact("S", two_u16),
            Err(Error::TooSmall { .. })
        ));
        // The size runs past the end but the structure is complete: a size mismatch (SIZE).
        let mut r = Reader::new(&[0, 9, 1, 2, 3, 4]);
        assert_eq!(
            r.sized_exact("S", two_u16),
            Err(Error::SizeMismatch {
                what: "S",
                declared: 9,
                actual: 4
            })
        );
        // The structure itself is cut short: its own error (INSUFFICIENT).
        let mut r = Reader::new(&[0, 9, 1, 2, 3]);
        assert!(matches!(
            r.sized_exact("S", two_u16),
            Err(Error::Truncated { what: "b", .. })
        ));
    }

    #[test]
    fn reader_bounds() {
        let mut r = Reader::new(&[0x12, 0x34, 0x56]);
        assert_eq!(r.u16("x"), Ok(0x1234));
        assert_eq!(
            r.u16("x"),
            Err(Error::Truncated {
                what: "x",
                needed: 2,
                available: 1
            })
        );
        assert_eq!(
            r.finish("x"),
            Err(Error::TrailingBytes {
                what: "x",
                count: 1
            })
        );
        assert_eq!(r.u8("x"), Ok(0x56));
        assert_eq!(r.finish("x"), Ok(()));
    }

    #[test]
    fn sized_bytes_limits() {
        let mut r = Reader::new(&[0, 3, 1, 2, 3]);
        assert_eq!(
            r.clone().sized_bytes(2, "b"),
            Err(Error::TooLarge {
                what: "b",
                size: 3,
                max: 2
            })
        );
        assert_eq!(r.sized_bytes(3, "b"), Ok(&[1u8, 2, 3][..]));
        let mut r = Reader::new(&[0, 9, 1]);
        assert_eq!(
            r.sized_bytes(64, "b"),
            Err(Error::Truncated {
                what: "b",
                needed: 9,
                available: 1
            })
        );
    }

    #[test]
    fn list_count_larger_than_input_fails_cleanly() {
        let mut r = Reader::new(&[0, 0, 0, 200, 0, 1]);
        assert_eq!(
            r.list::<u16>(1000, "TPML_X"),
            Err(Error::Truncated {
                what: "u16",
                needed: 2,
                available: 0
            })
        );
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            r.list::<u16>(8, "TPML_X"),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn sized_with_backpatches() {
        let mut out = Vec::new();
        marshal_sized_with(&mut out, |o| o.extend_from_slice(&[9, 9, 9]));
        assert_eq!(out, [0, 3, 9, 9, 9]);
    }
}

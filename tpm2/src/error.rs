//! The one error type of the wire-format crate.

use core::fmt;

/// Why a byte string is not a valid TPM 2.0 structure.
///
/// Every variant names the structure (`what`, a TCG name such as `"TPM2B_DIGEST"`) so that a
/// rejected guest command can be logged with a useful reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input ended before `what` was complete.
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes needed to continue.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes remain after `what`, where the specification requires the structure to fill its
    /// buffer exactly.
    TrailingBytes {
        /// The structure that should have consumed everything.
        what: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
    /// A size field is larger than `what` allows.
    TooLarge {
        /// The sized structure.
        what: &'static str,
        /// The size found on the wire.
        size: usize,
        /// The largest size the specification (or this implementation) allows.
        max: usize,
    },
    /// A size field is smaller than `what` needs (for example a zero-sized TPM2B where the
    /// specification forbids an empty buffer).
    TooSmall {
        /// The sized structure.
        what: &'static str,
        /// The size found on the wire.
        size: usize,
        /// The smallest size allowed.
        min: usize,
    },
    /// A union selector (an algorithm id, capability or structure tag) that `what` does not
    /// accept.
    BadSelector {
        /// The union or tagged structure.
        what: &'static str,
        /// The selector value found.
        value: u32,
    },
    /// A value outside the set the specification allows for `what`.
    BadValue {
        /// The interface type or enumeration.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// Reserved bits are set in the attribute word `what`.
    ReservedBits {
        /// The attribute type.
        what: &'static str,
        /// The whole attribute value found.
        value: u32,
    },
    /// A declared size does not agree with the bytes actually present.
    SizeMismatch {
        /// The structure whose size field disagrees.
        what: &'static str,
        /// The size the header or size field declared.
        declared: usize,
        /// The number of bytes actually present.
        actual: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated {
                what,
                needed,
                available,
            } => {
                write!(
                    f,
                    "{what}: truncated (needs {needed} more bytes, {available} left)"
                )
            }
            Self::TrailingBytes { what, count } => {
                write!(f, "{what}: {count} unexpected trailing bytes")
            }
            Self::TooLarge { what, size, max } => {
                write!(f, "{what}: size {size} exceeds the maximum of {max}")
            }
            Self::TooSmall { what, size, min } => {
                write!(f, "{what}: size {size} is below the minimum of {min}")
            }
            Self::BadSelector { what, value } => {
                write!(f, "{what}: selector {value:#x} is not allowed")
            }
            Self::BadValue { what, value } => write!(f, "{what}: value {value:#x} is not allowed"),
            Self::ReservedBits { what, value } => {
                write!(f, "{what}: reserved bits set in {value:#x}")
            }
            Self::SizeMismatch {
                what,
                declared,
                actual,
            } => {
                write!(
                    f,
                    "{what}: declared size {declared} but {actual} bytes present"
                )
            }
        }
    }
}

impl core::error::Error for Error {}

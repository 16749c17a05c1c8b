//! The one error type of the crate: what went wrong, and where (file, line, column).

use alloc::string::String;
use core::fmt;

/// A position in a configuration file: 1-based line and column (columns count characters).
/// Line 0 means "the file as a whole" (for example a setting that is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// 1-based line, 0 for the whole file.
    pub line: u32,
    /// 1-based column in characters, 0 for the whole file.
    pub column: u32,
}

impl Pos {
    /// The whole file (no particular position).
    pub const FILE: Self = Self { line: 0, column: 0 };

    /// A position.
    pub const fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

/// A configuration error: `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as given to [`crate::parse`].
    pub file: String,
    /// 1-based line, 0 when the error concerns the whole file.
    pub line: u32,
    /// 1-based column, 0 when the error concerns the whole file.
    pub column: u32,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl ConfigError {
    /// An error at `pos` of `file`.
    pub fn new(file: &str, pos: Pos, kind: ErrorKind) -> Self {
        Self {
            file: file.into(),
            line: pos.line,
            column: pos.column,
            kind,
        }
    }

    /// The error's position.
    pub const fn pos(&self) -> Pos {
        Pos::new(self.line, self.column)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.kind)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.kind
            )
        }
    }
}

impl core::error::Error for ConfigError {}

/// What is wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    // ----- syntax (xl.cfg(5) "Syntax") -----
    /// A character that cannot start or continue what the parser expects here.
    Unexpected {
        /// The character found (`None` at the end of the input).
        found: Option<char>,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// A string that reaches the end of its line (or of the file) without its closing quote.
    UnterminatedString,
    /// A backslash escape that is not one of `\\ \" \' \n \t \r \xHH`.
    BadEscape(char),
    /// A list without its closing `]`.
    UnterminatedList,
    /// A list inside a list.
    NestedList,
    /// An integer that does not fit 64 bits.
    IntegerOverflow,
    /// A key set twice (the first setting's line is given).
    DuplicateKey {
        /// The key.
        key: String,
        /// Where it was first set.
        first_line: u32,
    },

    // ----- settings -----
    /// A setting the role requires is absent.
    Missing(&'static str),
    /// A setting of the wrong type (e.g. a list where a string is required).
    WrongType {
        /// The key.
        key: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A setting whose value is not acceptable; the message says why.
    Invalid {
        /// The key.
        key: String,
        /// Why the value is refused.
        reason: String,
    },
    /// A setting that makes no sense for the role the file was classified as.
    NotAllowed {
        /// The key.
        key: &'static str,
        /// The role.
        role: &'static str,
        /// Why.
        reason: &'static str,
    },

    // ----- across files ([`crate::stack`]) -----
    /// A problem in the relations between the files of a stack; the message says which.
    Stack(String),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unexpected {
                found: Some(c),
                expected,
            } => write!(f, "unexpected {c:?}, expected {expected}"),
            Self::Unexpected {
                found: None,
                expected,
            } => write!(f, "unexpected end of file, expected {expected}"),
            Self::UnterminatedString => f.write_str("string has no closing quote on its line"),
            Self::BadEscape(c) => write!(
                f,
                "unknown escape \\{c} (use \\\\, \\\", \\', \\n, \\t, \\r or \\xHH)"
            ),
            Self::UnterminatedList => f.write_str("list has no closing ']'"),
            Self::NestedList => f.write_str("lists cannot contain lists"),
            Self::IntegerOverflow => f.write_str("integer does not fit in 64 bits"),
            Self::DuplicateKey { key, first_line } => {
                write!(f, "{key} is set twice (first on line {first_line})")
            }
            Self::Missing(key) => write!(f, "required setting {key}= is missing"),
            Self::WrongType { key, expected } => write!(f, "{key}= must be {expected}"),
            Self::Invalid { key, reason } => write!(f, "{key}=: {reason}"),
            Self::NotAllowed { key, role, reason } => {
                write!(
                    f,
                    "{key}= is not allowed in a {role} configuration: {reason}"
                )
            }
            Self::Stack(msg) => f.write_str(msg),
        }
    }
}

/// Shorthand for [`ErrorKind::Invalid`].
pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> ErrorKind {
    ErrorKind::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

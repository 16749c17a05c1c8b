//! The xl domain configuration syntax (xl.cfg(5) "Syntax"; reference `xen-vtpm.md` §9.2 shows
//! the files this must read):
//!
//! ```text
//! file     := { line }
//! setting  := KEY '=' value            KEY = [A-Za-z_][A-Za-z0-9_.]*
//! value    := STRING | INTEGER | '[' [ scalar { ',' scalar } [','] ] ']'
//! STRING   := "…" | '…'                escapes \\ \" \' \n \t \r \xHH, no newline inside
//! INTEGER  := decimal | 0x hex         (64-bit, unsigned)
//! ```
//!
//! A setting ends at a newline, a `;` or a `#` comment (which runs to the end of the line and
//! is not recognised inside strings). Several `;`-separated settings may share a line. A list
//! may span lines: inside brackets newlines and comments are whitespace. A key may be set only
//! once per file (xl would silently take one of them; here it is an error, as it is almost
//! always a mistake).
//!
//! [`parse`] checks syntax only; the role-specific meaning is in [`crate::roles`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::error::{ConfigError, ErrorKind, Pos};

/// A value: a string, an integer or a flat list of strings and integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A quoted string, escapes resolved.
    Str(String),
    /// An unsigned integer (decimal or `0x` hex in the file).
    Int(u64),
    /// A list of strings and integers (never of lists).
    List(Vec<Value>),
}

impl Value {
    /// The kind of value, in words.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Str(_) => "a string",
            Self::Int(_) => "an integer",
            Self::List(_) => "a list",
        }
    }
}

/// One `KEY = VALUE` setting with its positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The key.
    pub key: String,
    /// Where the key starts.
    pub key_pos: Pos,
    /// The value.
    pub value: Value,
    /// Where the value starts (the opening quote, first digit or `[`).
    pub value_pos: Pos,
    /// For a list, where each item starts; empty otherwise.
    pub item_pos: Vec<Pos>,
}

impl Setting {
    /// Where list item `i` starts (the value's position if there is no such item).
    pub fn item_pos(&self, i: usize) -> Pos {
        self.item_pos.get(i).copied().unwrap_or(self.value_pos)
    }
}

/// A parsed configuration file: its settings in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlConfig {
    file: String,
    settings: Vec<Setting>,
}

/// Parses `text`, the contents of `file` (the name is only used in error messages).
pub fn parse(file: &str, text: &str) -> Result<XlConfig, ConfigError> {
    let mut p = Parser {
        file,
        text,
        at: 0,
        line: 1,
        column: 1,
    };
    let mut settings: Vec<Setting> = Vec::new();
    loop {
        p.skip_blanks();
        match p.peek() {
            None => break,
            Some('\n' | ';') => {
                p.bump();
            }
            Some('#') => p.skip_comment(),
            Some(c) if is_key_start(c) => {
                let s = p.setting()?;
                if let Some(first) = settings.iter().find(|f| f.key == s.key) {
                    return Err(p.error_at(
                        s.key_pos,
                        ErrorKind::DuplicateKey {
                            key: s.key,
                            first_line: first.key_pos.line,
                        },
                    ));
                }
                settings.push(s);
                p.end_of_setting()?;
            }
            Some(c) => {
                return Err(p.error(ErrorKind::Unexpected {
                    found: Some(c),
                    expected: "a setting (KEY = VALUE), a comment or a blank line",
                }));
            }
        }
    }
    Ok(XlConfig {
        file: file.into(),
        settings,
    })
}

fn is_key_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
    at: usize,
    line: u32,
    column: u32,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text.get(self.at..).and_then(|s| s.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }

    const fn pos(&self) -> Pos {
        Pos::new(self.line, self.column)
    }

    fn error(&self, kind: ErrorKind) -> ConfigError {
        ConfigError::new(self.file, self.pos(), kind)
    }

    fn error_at(&self, pos: Pos, kind: ErrorKind) -> ConfigError {
        ConfigError::new(self.file, pos, kind)
    }

    /// Spaces, tabs and carriage returns (not newlines).
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.bump();
        }
    }

    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some('\n')) {
            self.bump();
        }
    }

    /// Blanks, newlines and comments (inside a list).
    fn skip_space_in_list(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => self.skip_comment(),
                _ => break,
            }
        }
    }

    fn setting(&mut self) -> Result<Setting, ConfigError> {
        let key_pos = self.pos();
        let mut key = String::new();
        while let Some(c) = self.peek().filter(|c| is_key_char(*c)) {
            key.push(c);
            self.bump();
        }
        self.skip_blanks();
        if self.peek() != Some('=') {
            return Err(self.error(ErrorKind::Unexpected {
                found: self.peek(),
                expected: "'=' after the key",
            }));
        }
        self.bump();
        self.skip_blanks();
        let value_pos = self.pos();
        let mut item_pos = Vec::new();
        let value = if self.peek() == Some('[') {
            self.bump();
            Value::List(self.list_items(value_pos, &mut item_pos)?)
        } else {
            self.scalar("a value: a quoted string, an integer or a list")?
        };
        Ok(Setting {
            key,
            key_pos,
            value,
            value_pos,
            item_pos,
        })
    }

    /// After a setting: blanks, then a comment, `;`, newline or the end of the file.
    fn end_of_setting(&mut self) -> Result<(), ConfigError> {
        self.skip_blanks();
        match self.peek() {
            None | Some('\n' | ';' | '#') => Ok(()),
            found => Err(self.error(ErrorKind::Unexpected {
                found,
                expected: "the end of the setting (a newline, ';' or '#')",
            })),
        }
    }

    /// The items after `[`, up to and including `]`.
    fn list_items(
        &mut self,
        open: Pos,
        item_pos: &mut Vec<Pos>,
    ) -> Result<Vec<Value>, ConfigError> {
        let mut items = Vec::new();
        loop {
            self.skip_space_in_list();
            match self.peek() {
                None => return Err(self.error_at(open, ErrorKind::UnterminatedList)),
                Some(']') => {
                    self.bump();
                    return Ok(items);
                }
                Some('[') => return Err(self.error(ErrorKind::NestedList)),
                Some(_) => {}
            }
            item_pos.push(self.pos());
            items.push(self.scalar("a list item (a quoted string or an integer) or ']'")?);
            self.skip_space_in_list();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                None => return Err(self.error_at(open, ErrorKind::UnterminatedList)),
                found => {
                    return Err(self.error(ErrorKind::Unexpected {
                        found,
                        expected: "',' or ']' after a list item",
                    }));
                }
            }
        }
    }

    fn scalar(&mut self, expected: &'static str) -> Result<Value, ConfigError> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => self.string(q),
            Some(c) if c.is_ascii_digit() => self.integer(),
            found => Err(self.error(ErrorKind::Unexpected { found, expected })),
        }
    }

    fn string(&mut self, quote: char) -> Result<Value, ConfigError> {
        let open = self.pos();
        self.bump();
        let mut s = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => return Err(self.error_at(open, ErrorKind::UnterminatedString)),
                Some(c) if c == quote => {
                    self.bump();
                    return Ok(Value::Str(s));
                }
                Some('\\') => {
                    let at = self.pos();
                    self.bump();
                    s.push(self.escape(at)?);
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
    }

    /// The character after a backslash at `at`.
    fn escape(&mut self, at: Pos) -> Result<char, ConfigError> {
        let c = match self.peek() {
            None | Some('\n') => return Err(self.error_at(at, ErrorKind::UnterminatedString)),
            Some(c) => c,
        };
        self.bump();
        Ok(match c {
            '\\' | '"' | '\'' => c,
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'x' => {
                let mut v = 0u32;
                for _ in 0..2 {
                    let d = self.peek().and_then(|d| d.to_digit(16));
                    let Some(d) = d else {
                        return Err(self.error_at(at, ErrorKind::BadEscape('x')));
                    };
                    self.bump();
                    v = v * 16 + d;
                }
                // Two hex digits are at most 0xff: always a valid scalar value.
                char::from_u32(v).ok_or_else(|| self.error_at(at, ErrorKind::BadEscape('x')))?
            }
            other => return Err(self.error_at(at, ErrorKind::BadEscape(other))),
        })
    }

    fn integer(&mut self) -> Result<Value, ConfigError> {
        let start = self.pos();
        let rest = self.text.get(self.at..).unwrap_or("");
        let hex = rest.starts_with("0x") || rest.starts_with("0X");
        let radix = if hex {
            self.bump();
            self.bump();
            16
        } else {
            10
        };
        let mut value: u64 = 0;
        let mut digits = 0usize;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(radix)) {
            self.bump();
            digits += 1;
            value = value
                .checked_mul(u64::from(radix))
                .and_then(|v| v.checked_add(u64::from(d)))
                .ok_or_else(|| self.error_at(start, ErrorKind::IntegerOverflow))?;
        }
        if digits == 0 {
            return Err(self.error(ErrorKind::Unexpected {
                found: self.peek(),
                expected: "hex digits after 0x",
            }));
        }
        if let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            return Err(self.error(ErrorKind::Unexpected {
                found: Some(c),
                expected: "the end of the integer",
            }));
        }
        Ok(Value::Int(value))
    }
}

impl XlConfig {
    /// The file name given to [`parse`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// All settings in file order.
    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }

    /// The setting of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }

    /// An error at `pos` of this file.
    pub fn error(&self, pos: Pos, kind: ErrorKind) -> ConfigError {
        ConfigError::new(&self.file, pos, kind)
    }

    fn wrong_type(&self, s: &Setting, expected: &'static str) -> ConfigError {
        self.error(
            s.value_pos,
            ErrorKind::WrongType {
                key: s.key.clone(),
                expected,
            },
        )
    }

    /// A string setting: `None` if absent, an error if it is not a string.
    pub fn string(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Setting {
                value: Value::Str(v),
                ..
            }) => Ok(Some(v)),
            Some(s) => Err(self.wrong_type(s, "a quoted string")),
        }
    }

    /// A string setting that must be present and non-empty.
    pub fn required_string(&self, key: &'static str) -> Result<&str, ConfigError> {
        match self.string(key)? {
            None => Err(self.error(Pos::FILE, ErrorKind::Missing(key))),
            Some("") => Err(self.error(
                self.get(key).map_or(Pos::FILE, |s| s.value_pos),
                crate::error::invalid(key, "must not be empty"),
            )),
            Some(v) => Ok(v),
        }
    }

    /// An integer setting: `None` if absent, an error if it is not an integer.
    pub fn integer(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Setting {
                value: Value::Int(v),
                ..
            }) => Ok(Some(*v)),
            Some(s) => Err(self.wrong_type(s, "an integer")),
        }
    }

    /// A list of strings with each item's position; an absent key is an empty list.
    pub fn string_list(&self, key: &str) -> Result<Vec<(&str, Pos)>, ConfigError> {
        let Some(s) = self.get(key) else {
            return Ok(Vec::new());
        };
        let Value::List(items) = &s.value else {
            return Err(self.wrong_type(s, "a list of quoted strings"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Str(t) => Ok((t.as_str(), s.item_pos(i))),
                _ => Err(self.error(
                    s.item_pos(i),
                    ErrorKind::WrongType {
                        key: s.key.clone(),
                        expected: "a list of quoted strings",
                    },
                )),
            })
            .collect()
    }

    /// The canonical text of this configuration: one `key = value` line per setting in file
    /// order, strings double-quoted with escapes, integers in decimal, lists on one line.
    /// Parsing the result gives the same keys and values (positions differ).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.settings {
            out.push_str(&s.key);
            out.push_str(" = ");
            render_value(&s.value, &mut out);
            out.push('\n');
        }
        out
    }

    /// The settings as `(key, value)` pairs, without positions (for comparing two parses).
    pub fn values(&self) -> Vec<(&str, &Value)> {
        self.settings
            .iter()
            .map(|s| (s.key.as_str(), &s.value))
            .collect()
    }
}

fn render_value(v: &Value, out: &mut String) {
    match v {
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Str(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_value(item, out);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn err(text: &str) -> ConfigError {
        parse("t.cfg", text).unwrap_err()
    }

    fn at(e: &ConfigError) -> (u32, u32) {
        (e.line, e.column)
    }

    #[test]
    fn scalars_and_positions() {
        let c = parse("t.cfg", "name = \"a\"\n  memory=8\nb='x y'\nh = 0xFeD40\n").unwrap();
        assert_eq!(c.string("name").unwrap(), Some("a"));
        assert_eq!(c.integer("memory").unwrap(), Some(8));
        assert_eq!(c.string("b").unwrap(), Some("x y"));
        assert_eq!(c.integer("h").unwrap(), Some(0xfed40));
        let m = c.get("memory").unwrap();
        assert_eq!(m.key_pos, Pos::new(2, 3));
        assert_eq!(m.value_pos, Pos::new(2, 10));
        assert_eq!(c.get("h").unwrap().value_pos, Pos::new(4, 5));
        assert!(c.get("nope").is_none());
    }

    #[test]
    fn comments_semicolons_blank_lines() {
        let text = "# header\n\n a=1; b = \"#not a comment\" # comment\n;;c=2;\n\t\n";
        let c = parse("t.cfg", text).unwrap();
        assert_eq!(
            c.values(),
            vec![
                ("a", &Value::Int(1)),
                ("b", &Value::Str("#not a comment".into())),
                ("c", &Value::Int(2)),
            ]
        );
    }

    #[test]
    fn lists_span_lines_with_comments_and_trailing_comma() {
        let text = "disk = [ 'file:a,hda,w', # first\n   \"b\" ,\n 3,\n]\nx=[]\ny = [1]\n";
        let c = parse("t.cfg", text).unwrap();
        let d = c.get("disk").unwrap();
        assert_eq!(
            d.value,
            Value::List(vec![
                Value::Str("file:a,hda,w".into()),
                Value::Str("b".into()),
                Value::Int(3)
            ])
        );
        assert_eq!(
            d.item_pos,
            vec![Pos::new(1, 10), Pos::new(2, 4), Pos::new(3, 2)]
        );
        assert_eq!(c.get("x").unwrap().value, Value::List(vec![]));
        assert_eq!(c.get("y").unwrap().value, Value::List(vec![Value::Int(1)]));
        assert_eq!(c.get("y").unwrap().value_pos, Pos::new(6, 5));
    }

    #[test]
    fn escapes() {
        let c = parse("t", r#"a="q\"\\\n\t\r\x41\'"; b='it\'s "x"'"#).unwrap();
        assert_eq!(c.string("a").unwrap(), Some("q\"\\\n\t\rA'"));
        assert_eq!(c.string("b").unwrap(), Some("it's \"x\""));
        assert_eq!(at(&err("a=\"\\q\"")), (1, 4));
        assert_eq!(err("a=\"\\q\"").kind, ErrorKind::BadEscape('q'));
        assert_eq!(err("a='\\x4'").kind, ErrorKind::BadEscape('x'));
    }

    #[test]
    fn unicode_columns_count_characters() {
        let e = err("a = \"é\" ?");
        assert_eq!(at(&e), (1, 9));
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let cases: [(&str, (u32, u32), &str); 14] = [
            ("a", (1, 2), "'=' after the key"),
            ("a 1", (1, 3), "'=' after the key"),
            ("\n  a =", (2, 6), "a value"),
            ("a = b", (1, 5), "a value"),
            ("a = \"x\" 1", (1, 9), "end of the setting"),
            ("a = 0x", (1, 7), "hex digits"),
            ("a = 12ab", (1, 7), "end of the integer"),
            ("a = [1 2]", (1, 8), "',' or ']'"),
            ("a = [,]", (1, 6), "a list item"),
            ("= 1", (1, 1), "a setting"),
            ("1 = 2", (1, 1), "a setting"),
            ("a = [1,\n\"x\"", (1, 5), "no closing ']'"),
            ("a = [\"x\n\"]", (1, 6), "no closing quote"),
            ("a = 'x", (1, 5), "no closing quote"),
        ];
        for (text, pos, msg) in cases {
            let e = err(text);
            assert_eq!(at(&e), pos, "{text:?}: {e}");
            assert!(e.to_string().contains(msg), "{text:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&alloc::format!("t.cfg:{}:{}: ", pos.0, pos.1))
            );
        }
        assert_eq!(err("a = [[1]]").kind, ErrorKind::NestedList);
        assert_eq!(at(&err("a = [[1]]")), (1, 6));
        let e = err("a = 18446744073709551616");
        assert_eq!(
            (e.kind.clone(), at(&e)),
            (ErrorKind::IntegerOverflow, (1, 5))
        );
        assert_eq!(
            parse("t", "a = 18446744073709551615")
                .unwrap()
                .integer("a")
                .unwrap(),
            Some(u64::MAX)
        );
        assert!(
            err("a = 0x1_0000_0000_0000_0000")
                .kind
                .to_string()
                .contains("end")
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = err("a=1\n\nb=2;a=3");
        assert_eq!(at(&e), (3, 5));
        assert_eq!(
            e.kind,
            ErrorKind::DuplicateKey {
                key: "a".into(),
                first_line: 1
            }
        );
        assert_eq!(e.to_string(), "t.cfg:3:5: a is set twice (first on line 1)");
    }

    #[test]
    fn typed_accessors_report_positions() {
        let c = parse("t.cfg", "n = 1\ns = 'x'\nl = ['a', 2]\n").unwrap();
        let e = c.string("n").unwrap_err();
        assert_eq!(
            (at(&e), e.to_string()),
            ((1, 5), "t.cfg:1:5: n= must be a quoted string".into())
        );
        assert_eq!(at(&c.integer("s").unwrap_err()), (2, 5));
        assert_eq!(at(&c.string_list("s").unwrap_err()), (2, 5));
        assert_eq!(at(&c.string_list("l").unwrap_err()), (3, 11));
        assert_eq!(c.string_list("absent").unwrap(), vec![]);
        let e = c.required_string("name").unwrap_err();
        assert_eq!(e.to_string(), "t.cfg: required setting name= is missing");
        let c = parse("t.cfg", "name=''").unwrap();
        assert_eq!(at(&c.required_string("name").unwrap_err()), (1, 6));
    }

    #[test]
    fn render_round_trips() {
        let text = "a = 'it\\'s'\nb=0x10 ; c = [ \"x\\ty\",\n 2, ]\nd=\"\\x01\"\n";
        let c = parse("t", text).unwrap();
        let r = c.render();
        assert_eq!(
            r,
            "a = \"it's\"\nb = 16\nc = [\"x\\ty\", 2]\nd = \"\u{1}\"\n"
        );
        assert_eq!(parse("t", &r).unwrap().values(), c.values());
    }
}

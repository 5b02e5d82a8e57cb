//! JSON text → [`Value`], with `JSON.parse`'s grammar and a nesting limit.

use super::scan::plain_len;
use super::{Map, Number, Value, number::MAX_SAFE_INTEGER};

/// Default nesting limit for arrays and objects: deep enough for any real event payload,
/// shallow enough that parsing (recursive) and dropping a hostile `[[[[…` stays far from the
/// stack's end.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// JSON text that `JSON.parse` refuses, or that windlass refuses on purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is not JSON (byte offset of the first offending character).
    #[error("invalid json at byte {0}")]
    Syntax(usize),
    /// A `\uD800`–`\uDFFF` escape without its pair: Node keeps it, a Rust string cannot.
    #[error("lone surrogate escape at byte {0}")]
    LoneSurrogate(usize),
    /// Arrays and objects nested deeper than the limit.
    #[error("json nested deeper than {0}")]
    TooDeep(usize),
}

pub(crate) fn parse_json(text: &str, max_depth: usize) -> Result<Value, JsonError> {
    let mut parser = Parser { bytes: text.as_bytes(), text, pos: 0, max_depth };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(JsonError::Syntax(parser.pos));
    }
    Ok(value)
}

/// Parses the one JSON value at `at` in `text` (after whitespace) as if it sat `depth`
/// arrays and objects deep: the value and where it ends. What follows is not looked at.
pub(crate) fn parse_json_at(
    text: &str,
    at: usize,
    depth: usize,
    max_depth: usize,
) -> Result<(Value, usize), JsonError> {
    let mut parser = Parser { bytes: text.as_bytes(), text, pos: at.min(text.len()), max_depth };
    parser.skip_ws();
    let value = parser.value(depth)?;
    Ok((value, parser.pos))
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn err(&self) -> JsonError {
        JsonError::Syntax(self.pos)
    }

    // JSON whitespace only: `JSON.parse` refuses NBSP, form feed and the rest.
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, literal: &[u8], value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            Ok(value)
        } else {
            Err(self.err())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.expect_literal(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_literal(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            _ => Err(self.err()),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > self.max_depth {
            return Err(JsonError::TooDeep(self.max_depth));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err()),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > self.max_depth {
            return Err(JsonError::TooDeep(self.max_depth));
        }
        self.pos += 1;
        let mut entries = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(Map::new()));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err());
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err());
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth)?;
            entries.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(Map::from_parsed(entries)));
                }
                _ => return Err(self.err()),
            }
        }
    }

    fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err()),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err());
            }
            self.digits();
            integral = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err());
            }
            self.digits();
            integral = false;
        }
        let literal = &self.text[start..self.pos];
        // Up to 16 digits fit an i64; beyond 2^53 JS rounds, and so does the f64 path.
        if integral && literal.len() <= 17 {
            if let Ok(n) = literal.parse::<i64>() {
                if n.unsigned_abs() <= MAX_SAFE_INTEGER + 1 {
                    return Ok(Number::from(n));
                }
            }
        }
        // Rust's float parsing rounds correctly, as JS does.
        literal.parse::<f64>().map(Number::from).map_err(|_| JsonError::Syntax(start))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let digits = self.bytes.get(self.pos..self.pos + 4).ok_or_else(|| self.err())?;
        let mut n = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.err()),
            };
            n = n * 16 + u16::from(v);
        }
        self.pos += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes, one copy.
        self.pos += plain_len(&self.bytes[start..]);
        match self.peek() {
            None | Some(0..=0x1f) => return Err(self.err()),
            Some(b'"') => {
                let s = self.text[start..self.pos].to_owned();
                self.pos += 1;
                return Ok(s);
            }
            _ => {}
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            let run = self.pos;
            self.pos += plain_len(&self.bytes[run..]);
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let escape_at = self.pos;
                    self.pos += 1;
                    let c = self.peek().ok_or_else(|| self.err())?;
                    self.pos += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape(escape_at)?),
                        _ => return Err(JsonError::Syntax(escape_at)),
                    }
                }
                _ => return Err(self.err()),
            }
        }
    }

    fn unicode_escape(&mut self, escape_at: usize) -> Result<char, JsonError> {
        let unit = self.hex4()?;
        match unit {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u") {
                    let save = self.pos;
                    self.pos += 2;
                    let low = self.hex4()?;
                    if (0xDC00..=0xDFFF).contains(&low) {
                        let c = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                        return char::from_u32(c).ok_or(JsonError::LoneSurrogate(escape_at));
                    }
                    self.pos = save;
                }
                Err(JsonError::LoneSurrogate(escape_at))
            }
            0xDC00..=0xDFFF => Err(JsonError::LoneSurrogate(escape_at)),
            _ => char::from_u32(u32::from(unit)).ok_or(JsonError::Syntax(escape_at)),
        }
    }
}

//! [`Value`]: JSON as Socket.IO carries it, with binary anywhere, and its JSON text form.
//!
//! Parsing ([`Value::from_json`]) follows `JSON.parse`; printing ([`Value::to_json`]) follows
//! `JSON.stringify`, so that `Value::from_json(x)?.to_json()` is byte for byte what Node's
//! `JSON.stringify(JSON.parse(x))` gives — what a Node server echoes. Differences, all on input
//! Node accepts and windlass refuses:
//! - a lone UTF-16 surrogate escape (`"\ud800"`) is a [`JsonError::LoneSurrogate`]: a Rust
//!   string cannot hold it, and replacing it would change the data silently;
//! - nesting deeper than [`DEFAULT_MAX_DEPTH`] (or the configured limit) is a
//!   [`JsonError::TooDeep`], never a stack overflow.

mod de;
mod interop;
mod map;
mod number;
mod parse;
pub(crate) mod print;
mod scan;
mod ser;

use bytes::Bytes;

pub use de::from_value;
pub use interop::BinaryInJson;
pub use map::Map;
pub use number::{MAX_SAFE_INTEGER, Number};
pub use parse::{DEFAULT_MAX_DEPTH, JsonError};
pub use ser::{ValueError, to_value};

pub(crate) use parse::parse_json;
pub(crate) use print::{BinaryMode, write_json};

/// A JSON value that may hold binary data anywhere: what a Socket.IO event carries.
///
/// On the wire, binary values travel as separate attachments and the JSON holds
/// `{"_placeholder":true,"num":N}` in their place; [`socket`](crate::socket) does that
/// replacement both ways. Printed as plain JSON (outside a packet) a binary value is what
/// `JSON.stringify` makes of a Node `Buffer`: `{"type":"Buffer","data":[1,2,3]}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// `null` (also what `undefined`, `NaN` and infinities become in JSON).
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// Binary data (a Node `Buffer` / browser `ArrayBuffer`).
    Binary(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// An object, in JavaScript's key order.
    Object(Map),
}

impl Value {
    /// Parses JSON text as `JSON.parse` does, nesting at most [`DEFAULT_MAX_DEPTH`] deep.
    pub fn from_json(text: &str) -> Result<Self, JsonError> {
        parse_json(text, DEFAULT_MAX_DEPTH)
    }

    /// Parses the one JSON value at byte `at` of `text` (after whitespace), as if it sat
    /// `depth` arrays and objects deep in a document nesting at most [`DEFAULT_MAX_DEPTH`]
    /// deep: the value and the byte where it ends. For readers that walk a document's outer
    /// levels themselves; what follows the value is theirs to check.
    pub fn from_json_at(text: &str, at: usize, depth: usize) -> Result<(Self, usize), JsonError> {
        parse::parse_json_at(text, at, depth, DEFAULT_MAX_DEPTH)
    }

    /// Where the JSON value at byte `at` of `text` ends, when reading it (as
    /// [`from_json_at`](Self::from_json_at) does, `depth` deep) and printing it back gives the
    /// same bytes: the text may then be used as it stands. `None` when that is not certain:
    /// whitespace, an escape in a string, a number that is not a small integer, an object with
    /// an array index for a key, a key twice or more than 16 keys (all of which `JSON.parse`
    /// and `JSON.stringify` may rewrite), nesting too deep, or anything that does not parse.
    /// What follows the value is the caller's to check.
    pub fn verbatim_json_at(text: &str, at: usize, depth: usize) -> Option<usize> {
        scan::verbatim_end(text.as_bytes(), at, depth, DEFAULT_MAX_DEPTH)
    }

    /// Parses JSON text, nesting at most `max_depth` arrays and objects deep.
    pub fn from_json_with_depth(text: &str, max_depth: usize) -> Result<Self, JsonError> {
        parse_json(text, max_depth)
    }

    /// The JSON text `JSON.stringify` would print for this value (binary as Node's
    /// `Buffer` JSON).
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        write_json(self, &mut out, &mut BinaryMode::BufferJson);
        // Only `str` pieces and ASCII are written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends [`to_json`](Self::to_json)'s text to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_json(self, out, &mut BinaryMode::BufferJson);
    }

    /// Appends `text` as `JSON.stringify` writes a string (quoted, escaped) to `out`.
    pub fn write_json_string(text: &str, out: &mut Vec<u8>) {
        print::write_string(text, out);
    }

    /// Whether this value holds binary data anywhere inside it.
    pub fn has_binary(&self) -> bool {
        match self {
            Self::Binary(_) => true,
            Self::Array(items) => items.iter().any(Self::has_binary),
            Self::Object(map) => map.values().any(Self::has_binary),
            _ => false,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as a `u64`, if this is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// The number as an `i64`, if this is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// The number as an `f64`, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().map(Number::as_f64)
    }

    /// The bytes, if this is binary.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Self::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Self::Object(map) => Some(map),
            _ => None,
        }
    }

    /// `self[key]` for an object; `None` otherwise.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|map| map.get(key))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Self::Number(n)
    }
}

macro_rules! from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Self::Number(Number::from(n))
            }
        }
    )*};
}
from_number!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Self::Binary(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Self::Array(items)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Self {
        Self::Object(map)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

impl std::str::FromStr for Value {
    type Err = JsonError;
    fn from_str(text: &str) -> Result<Self, JsonError> {
        Self::from_json(text)
    }
}

#[cfg(test)]
mod tests;

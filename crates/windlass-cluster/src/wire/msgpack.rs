//! `MessagePack` straight to and from [`Value`], as notepack.io (Node's encoder) writes and
//! reads it.
//!
//! Written by hand rather than through `rmpv`: going by way of `rmpv::Value` copied every
//! string and allocated every array and map twice, and was the largest user-space cost of a
//! broadcast between nodes (callgrind: 13,700 instructions to write a 128-byte `said` event
//! and 18,000 to read it; see docs/PERFORMANCE.md). The format is small and fixed; the tests
//! hold this module to `rmpv`'s output byte for byte.

use std::borrow::Cow;

use bytes::Bytes;
use windlass_sio_proto::{Number, Value};

use super::WireError;

/// The largest integer a JS number holds exactly (2^53 − 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The most items or entries reserved ahead for a container whose length is announced.
const PREALLOCATE: usize = 256;

/// `nil`.
pub(super) const NIL: u8 = 0xc0;

/// Appends `value` to `out`: integers in the smallest form, other numbers as float 64.
pub(super) fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(NIL),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::Number(n) => write_number(*n, out),
        Value::String(s) => write_str(s, out),
        Value::Binary(b) => {
            write_len(out, b.len(), None, [0xc4, 0xc5, 0xc6]);
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            write_container_len(out, items.len(), 0x90, [0xdc, 0xdd]);
            for item in items {
                write(item, out);
            }
        }
        Value::Object(map) => {
            write_map_len(map.len(), out);
            for (key, item) in map.iter() {
                write_str(key, out);
                write(item, out);
            }
        }
    }
}

/// Appends a string.
pub(super) fn write_str(s: &str, out: &mut Vec<u8>) {
    write_len(out, s.len(), Some(0xa0), [0xd9, 0xda, 0xdb]);
    out.extend_from_slice(s.as_bytes());
}

/// Appends the head of a map of `len` entries (the entries follow, key then value).
pub(super) fn write_map_len(len: usize, out: &mut Vec<u8>) {
    write_container_len(out, len, 0x80, [0xde, 0xdf]);
}

/// Appends the head of an array of `len` items (the items follow).
pub(super) fn write_array_len(len: usize, out: &mut Vec<u8>) {
    write_container_len(out, len, 0x90, [0xdc, 0xdd]);
}

/// Appends an unsigned integer.
pub(super) fn write_uint(u: u64, out: &mut Vec<u8>) {
    write_unsigned(u, out);
}

fn write_number(n: Number, out: &mut Vec<u8>) {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) if i < 0 => write_negative(i, out),
        (_, Some(u)) => write_unsigned(u, out),
        _ => {
            out.push(0xcb);
            out.extend_from_slice(&n.as_f64().to_be_bytes());
        }
    }
}

fn write_unsigned(u: u64, out: &mut Vec<u8>) {
    if let Ok(small) = u8::try_from(u) {
        if small < 0x80 {
            out.push(small);
        } else {
            out.extend_from_slice(&[0xcc, small]);
        }
    } else if let Ok(u) = u16::try_from(u) {
        out.push(0xcd);
        out.extend_from_slice(&u.to_be_bytes());
    } else if let Ok(u) = u32::try_from(u) {
        out.push(0xce);
        out.extend_from_slice(&u.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn write_negative(i: i64, out: &mut Vec<u8>) {
    if i >= -32 {
        out.extend_from_slice(&(i as i8).to_be_bytes());
    } else if let Ok(i) = i8::try_from(i) {
        out.push(0xd0);
        out.extend_from_slice(&i.to_be_bytes());
    } else if let Ok(i) = i16::try_from(i) {
        out.push(0xd1);
        out.extend_from_slice(&i.to_be_bytes());
    } else if let Ok(i) = i32::try_from(i) {
        out.push(0xd2);
        out.extend_from_slice(&i.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// A string's or a binary's length: the fix form under 32 (strings only), then 8, 16 and 32
/// bits.
fn write_len(out: &mut Vec<u8>, len: usize, fix: Option<u8>, markers: [u8; 3]) {
    match (fix, u8::try_from(len), u16::try_from(len)) {
        (Some(fix), Ok(small), _) if small < 32 => out.push(fix | small),
        (_, Ok(small), _) => out.extend_from_slice(&[markers[0], small]),
        (_, _, Ok(len)) => {
            out.push(markers[1]);
            out.extend_from_slice(&len.to_be_bytes());
        }
        _ => {
            out.push(markers[2]);
            out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        }
    }
}

/// An array's or a map's length: the fix form under 16, then 16 and 32 bits.
fn write_container_len(out: &mut Vec<u8>, len: usize, fix: u8, markers: [u8; 2]) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(markers[0]);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(markers[1]);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
}

/// Reads one value from the start of `bytes` (what follows it is ignored, as notepack does),
/// nested at most `max_depth` deep.
pub(super) fn read(bytes: &[u8], max_depth: usize) -> Result<Value, WireError> {
    Reader::new(bytes, max_depth).value(0)
}

/// Reads values one at a time, for messages whose envelope is read without building it.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    max_depth: usize,
}

fn truncated() -> WireError {
    WireError::MessagePack("unexpected end of data".to_owned())
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], max_depth: usize) -> Self {
        Self { bytes, at: 0, max_depth }
    }

    /// How many bytes are left to read.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// Where the reader is, to come back to with [`rewind`](Self::rewind).
    pub(super) fn position(&self) -> usize {
        self.at
    }

    /// Reads again from `at`, a [`position`](Self::position) of this reader.
    pub(super) fn rewind(&mut self, at: usize) {
        self.at = at;
    }

    /// The value at `at`, `depth` deep, read without moving the reader.
    pub(super) fn value_at(&mut self, at: usize, depth: usize) -> Result<Value, WireError> {
        let here = self.at;
        self.at = at;
        let value = self.value(depth);
        self.at = here;
        value
    }

    /// The length of the array that starts here, or `None` (nothing read) if no array does.
    pub(super) fn array_len(&mut self) -> Result<Option<usize>, WireError> {
        self.container_len([0x90, 0xdc, 0xdd])
    }

    /// The number of entries of the map that starts here, or `None` (nothing read) if no map
    /// does.
    pub(super) fn map_len(&mut self) -> Result<Option<usize>, WireError> {
        self.container_len([0x80, 0xde, 0xdf])
    }

    fn container_len(&mut self, [fix, len16, len32]: [u8; 3]) -> Result<Option<usize>, WireError> {
        let Some(&marker) = self.bytes.get(self.at) else { return Err(truncated()) };
        Ok(match marker {
            _ if marker & 0xf0 == fix => {
                self.at += 1;
                Some(usize::from(marker & 0x0f))
            }
            _ if marker == len16 => {
                self.at += 1;
                Some(self.len(2)?)
            }
            _ if marker == len32 => {
                self.at += 1;
                Some(self.len(4)?)
            }
            _ => None,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len()).ok_or_else(truncated)?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    fn len(&mut self, bytes: u8) -> Result<usize, WireError> {
        Ok(match bytes {
            1 => usize::from(self.byte()?),
            2 => usize::from(u16::from_be_bytes(self.array()?)),
            _ => u32::from_be_bytes(self.array()?) as usize,
        })
    }

    /// The value that starts here, at `depth` levels of nesting.
    pub(super) fn value(&mut self, depth: usize) -> Result<Value, WireError> {
        if depth >= self.max_depth {
            return Err(WireError::MessagePack("nested too deep".to_owned()));
        }
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => integer(i64::from(marker)),
            0xe0..=0xff => integer(i64::from(i8::from_be_bytes([marker]))),
            NIL => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xcc => integer(i64::from(self.byte()?)),
            0xcd => integer(i64::from(u16::from_be_bytes(self.array()?))),
            0xce => integer(i64::from(u32::from_be_bytes(self.array()?))),
            0xcf => match u64::from_be_bytes(self.array()?) {
                n if n <= MAX_SAFE_INTEGER => integer(i64::try_from(n).unwrap_or(i64::MAX)),
                #[allow(clippy::cast_precision_loss)]
                n => Value::Number(Number::from(n as f64)),
            },
            0xd0 => integer(i64::from(i8::from_be_bytes(self.array()?))),
            0xd1 => integer(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => integer(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => integer(i64::from_be_bytes(self.array()?)),
            0xca => Value::Number(Number::from(f64::from(f32::from_be_bytes(self.array()?)))),
            0xcb => Value::Number(Number::from(f64::from_be_bytes(self.array()?))),
            0xa0..=0xbf => Value::String(self.string(usize::from(marker & 0x1f))?),
            0xd9..=0xdb => {
                let len = self.len(1 << (marker - 0xd9))?;
                Value::String(self.string(len)?)
            }
            0xc4..=0xc6 => {
                let len = self.len(1 << (marker - 0xc4))?;
                Value::Binary(Bytes::copy_from_slice(self.take(len)?))
            }
            0x90..=0x9f => self.items(usize::from(marker & 0x0f), depth)?,
            0xdc => {
                let len = self.len(2)?;
                self.items(len, depth)?
            }
            0xdd => {
                let len = self.len(4)?;
                self.items(len, depth)?
            }
            0x80..=0x8f => self.entries(usize::from(marker & 0x0f), depth)?,
            0xde => {
                let len = self.len(2)?;
                self.entries(len, depth)?
            }
            0xdf => {
                let len = self.len(4)?;
                self.entries(len, depth)?
            }
            // notepack's `undefined` (fixext 1, type 0) and its other extensions (dates) have
            // no place in a packet: null, as nil is.
            0xd4..=0xd8 => {
                self.take(1 + (1 << (marker - 0xd4)))?;
                Value::Null
            }
            0xc7..=0xc9 => {
                let len = self.len(1 << (marker - 0xc7))?;
                self.take(1)?;
                self.take(len)?;
                Value::Null
            }
            0xc1 => return Err(WireError::MessagePack("reserved marker 0xc1".to_owned())),
        })
    }

    fn string(&mut self, len: usize) -> Result<String, WireError> {
        self.str(len).map(str::to_owned)
    }

    fn str(&mut self, len: usize) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.take(len)?)
            .map_err(|_| WireError::Shape("a MessagePack string is not UTF-8"))
    }

    fn items(&mut self, len: usize, depth: usize) -> Result<Value, WireError> {
        // Every item takes at least a byte, and a length beyond what is left is a lie: what
        // is reserved ahead is bounded by both, and by a small constant (every open
        // container of a deep message holds its reservation).
        let mut items = Vec::with_capacity(len.min(self.bytes.len() - self.at).min(PREALLOCATE));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn entries(&mut self, len: usize, depth: usize) -> Result<Value, WireError> {
        let mut entries = Vec::with_capacity(len.min((self.bytes.len() - self.at) / 2).min(PREALLOCATE));
        for _ in 0..len {
            let key = self.key(depth + 1)?.into_owned();
            let value = self.value(depth + 1)?;
            entries.push((key, value));
        }
        // Built at once, not key by key: inserting looks each key up among the others.
        Ok(Value::Object(entries.into_iter().collect()))
    }
}

impl<'a> Reader<'a> {
    /// The string that starts here, borrowed; `None` (nothing read) if no string does.
    pub(super) fn str_here(&mut self) -> Result<Option<&'a str>, WireError> {
        let Some(&marker) = self.bytes.get(self.at) else { return Err(truncated()) };
        let len = match marker {
            0xa0..=0xbf => {
                self.at += 1;
                usize::from(marker & 0x1f)
            }
            0xd9..=0xdb => {
                self.at += 1;
                self.len(1 << (marker - 0xd9))?
            }
            _ => return Ok(None),
        };
        self.str(len).map(Some)
    }

    /// A map key: a string, or an integer written out in full (as JS makes a key of it).
    pub(super) fn key(&mut self, depth: usize) -> Result<Cow<'a, str>, WireError> {
        if depth >= self.max_depth {
            return Err(WireError::MessagePack("nested too deep".to_owned()));
        }
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => marker.to_string().into(),
            0xe0..=0xff => i8::from_be_bytes([marker]).to_string().into(),
            0xcc => self.byte()?.to_string().into(),
            0xcd => u16::from_be_bytes(self.array()?).to_string().into(),
            0xce => u32::from_be_bytes(self.array()?).to_string().into(),
            0xcf => u64::from_be_bytes(self.array()?).to_string().into(),
            0xd0 => i8::from_be_bytes(self.array()?).to_string().into(),
            0xd1 => i16::from_be_bytes(self.array()?).to_string().into(),
            0xd2 => i32::from_be_bytes(self.array()?).to_string().into(),
            0xd3 => i64::from_be_bytes(self.array()?).to_string().into(),
            0xa0..=0xbf => self.str(usize::from(marker & 0x1f))?.into(),
            0xd9..=0xdb => {
                let len = self.len(1 << (marker - 0xd9))?;
                self.str(len)?.into()
            }
            _ => return Err(WireError::Shape("a map key is a string")),
        })
    }
}

/// The most keys a map written straight may have: the keys are compared with one another.
const STRAIGHT_KEYS: usize = 16;

impl Reader<'_> {
    /// Appends the value that starts here to `out` as the JSON that [`value`](Self::value)'s
    /// value would print (`Value::write_json`), without building it; `None` (the reader left
    /// anywhere, `out` holding a part) when that cannot be known without building it, or the
    /// value does not read: binary (a packet's attachments), a map with a key that is not a
    /// string, that could be an array index (JS puts those first) or that comes twice (the
    /// last value at the first place), or of more than 16 keys. The caller then reads the
    /// value from where it started.
    pub(super) fn json_here(&mut self, depth: usize, out: &mut Vec<u8>) -> Option<()> {
        if depth >= self.max_depth {
            return None;
        }
        match *self.bytes.get(self.at)? {
            0xa0..=0xbf | 0xd9..=0xdb => {
                windlass_sio_proto::Value::write_json_string(self.str_here().ok()??, out);
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let len = self.array_len().ok()??;
                out.push(b'[');
                for i in 0..len {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.json_here(depth + 1, out)?;
                }
                out.push(b']');
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let len = self.map_len().ok()??;
                if len > STRAIGHT_KEYS {
                    return None;
                }
                let mut keys = [""; STRAIGHT_KEYS];
                out.push(b'{');
                for i in 0..len {
                    if depth + 1 >= self.max_depth {
                        return None;
                    }
                    let key = self.str_here().ok()??;
                    if key.starts_with(|c: char| c.is_ascii_digit()) || keys[..i].contains(&key) {
                        return None;
                    }
                    keys[i] = key;
                    if i > 0 {
                        out.push(b',');
                    }
                    windlass_sio_proto::Value::write_json_string(key, out);
                    out.push(b':');
                    self.json_here(depth + 1, out)?;
                }
                out.push(b'}');
            }
            0xc4..=0xc6 => return None,
            // Numbers, booleans, nil and extensions: no allocation in a value.
            _ => self.value(depth).ok()?.write_json(out),
        }
        Some(())
    }
}

/// An integer read: exact within ±2^53, beyond that the double a JS number would hold (notepack
/// reads it into one, as a Node peer would after a JSON round trip).
fn integer(n: i64) -> Value {
    if n.unsigned_abs() <= MAX_SAFE_INTEGER {
        Value::Number(Number::from(n))
    } else {
        #[allow(clippy::cast_precision_loss)]
        Value::Number(Number::from(n as f64))
    }
}

#[cfg(test)]
mod tests {
    //! This module against the `rmpv` path it replaced (kept here as the reference): the same
    //! bytes written for every value, the same value (or an error) read from any bytes.

    use proptest::prelude::*;
    use windlass_sio_proto::Map;

    use super::*;

    const MAX_DEPTH: usize = 128;

    fn reference_write(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &to_rmpv(value)).unwrap();
        out
    }

    fn reference_read(bytes: &[u8]) -> Result<Value, WireError> {
        let mut reader = bytes;
        let value = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH)
            .map_err(|e| WireError::MessagePack(e.to_string()))?;
        from_rmpv(value, 0)
    }

    fn written(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write(value, &mut out);
        out
    }

    fn same_read(bytes: &[u8]) {
        match (read(bytes, MAX_DEPTH), reference_read(bytes)) {
            // Debug output, so that a NaN read equals a NaN read.
            (Ok(ours), Ok(reference)) => {
                assert_eq!(format!("{ours:?}"), format!("{reference:?}"), "{bytes:02x?}");
            }
            (Err(_), Err(_)) => {}
            // Two differences on purpose: rmpv spent its depth budget twice per container and
            // three times per string (about 60 levels where this reads 128), and read the
            // reserved marker 0xc1 as nil where notepack throws.
            (Ok(_), Err(WireError::MessagePack(e))) if e == "depth limit exceeded" => {}
            (Err(WireError::MessagePack(e)), Ok(_)) if e.contains("0xc1") => {}
            (ours, reference) => panic!("{bytes:02x?}: read {ours:?}, rmpv read {reference:?}"),
        }
    }

    /// What [`Reader::json_here`] writes of `bytes`, when it writes it straight, is the JSON of
    /// the value read.
    fn same_json(bytes: &[u8]) -> bool {
        let mut out = Vec::new();
        if Reader::new(bytes, MAX_DEPTH).json_here(0, &mut out).is_none() {
            return false;
        }
        let value =
            read(bytes, MAX_DEPTH).unwrap_or_else(|e| panic!("{bytes:02x?}: written straight, read {e}"));
        assert_eq!(String::from_utf8(out).unwrap(), value.to_json(), "{bytes:02x?}");
        true
    }

    /// Values that are written straight: no binary, objects of at most 16 keys of letters.
    fn plain_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number().prop_map(Value::Number),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 16, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..16).prop_map(Value::Array),
                prop::collection::vec(("[a-z_]{0,8}", inner), 0..16)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<i64>().prop_map(Number::from),
            any::<u64>().prop_map(Number::from),
            (-40_i64..300).prop_map(Number::from),
            any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan()).prop_map(Number::from),
            prop_oneof![Just(-0.0), Just(0.5), Just(1e21), Just(-2f64.powi(53)), Just(2f64.powi(64))]
                .prop_map(Number::from),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![".{0,40}", "[a-z]{30,300}", Just("é".repeat(40_000))]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number().prop_map(Value::Number),
            text().prop_map(Value::String),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::Binary(Bytes::from(b))),
        ];
        leaf.prop_recursive(4, 64, 20, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
                prop::collection::vec((".{0,8}", inner), 0..20)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn writes_what_rmpv_wrote(value in value()) {
            prop_assert_eq!(written(&value), reference_write(&value));
        }

        #[test]
        fn reads_what_rmpv_read_from_written_values(value in value()) {
            same_read(&written(&value));
        }

        #[test]
        fn reads_what_rmpv_read_from_mangled_values(value in value(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let mut bytes = written(&value);
            let at = at.index(bytes.len());
            bytes[at] = byte;
            same_read(&bytes);
            same_read(&bytes[..cut.index(bytes.len() + 1)]);
        }

        #[test]
        fn reads_what_rmpv_read_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            same_read(&bytes);
        }

        #[test]
        fn plain_values_are_written_straight_as_json(value in plain_value()) {
            let bytes = written(&value);
            prop_assert!(same_json(&bytes), "not written straight: {:?}", value);
        }

        #[test]
        fn anything_written_straight_is_the_json_of_the_value_read(value in value(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let mut bytes = written(&value);
            same_json(&bytes);
            let at = at.index(bytes.len());
            bytes[at] = byte;
            same_json(&bytes);
            same_json(&bytes[..cut.index(bytes.len() + 1)]);
        }

        #[test]
        fn any_bytes_written_straight_are_the_json_of_the_value_read(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            same_json(&bytes);
        }
    }

    #[test]
    fn what_js_would_reorder_or_a_buffer_is_not_written_straight() {
        // {"b":1,"a":2} straight; {"1":1}, {"a":1,"a":2}, {1:1} and a buffer not.
        assert!(same_json(&[0x82, 0xa1, b'b', 0x01, 0xa1, b'a', 0x02]));
        assert!(!same_json(&[0x81, 0xa1, b'1', 0x01]));
        assert!(!same_json(&[0x82, 0xa1, b'a', 0x01, 0xa1, b'a', 0x02]));
        assert!(!same_json(&[0x81, 0x01, 0x01]));
        assert!(!same_json(&[0x91, 0xc4, 0x01, 0x00]));
        // Too deep to read is not written either.
        let mut deep = vec![0x91; MAX_DEPTH];
        deep.push(0xc0);
        assert!(!same_json(&deep));
        deep.remove(0);
        assert!(same_json(&deep));
    }

    #[test]
    fn every_marker_reads_as_rmpv_reads_it() {
        for marker in 0..=255_u8 {
            for tail in [&[][..], &[0x01], &[0x00, 0x02, 0xa1, 0x61, 0xc0], &[0xff; 20], &[0x00; 20]] {
                let mut bytes = vec![marker];
                bytes.extend_from_slice(tail);
                same_read(&bytes);
            }
        }
    }

    #[test]
    fn nesting_stops_at_128_levels() {
        let nested = |depth: usize, open: &[u8], leaf: &[u8]| -> Vec<u8> {
            let mut bytes: Vec<u8> = std::iter::repeat_n(open, depth).flatten().copied().collect();
            bytes.extend_from_slice(leaf);
            bytes
        };
        for (open, leaf) in [(&[0x91][..], &[0xc0][..]), (&[0x81, 0xa1, 0x6b], &[0x01])] {
            assert!(read(&nested(MAX_DEPTH - 1, open, leaf), MAX_DEPTH).is_ok());
            assert!(read(&nested(MAX_DEPTH, open, leaf), MAX_DEPTH).is_err());
            assert!(read(&nested(100_000, open, leaf), MAX_DEPTH).is_err());
        }
    }

    #[test]
    fn integer_keys_are_written_out_in_full() {
        let bytes = [0x82, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xd0, 0x80, 0x02];
        same_read(&bytes);
        let Value::Object(map) = read(&bytes, MAX_DEPTH).unwrap() else { panic!() };
        assert_eq!(map.keys().collect::<Vec<_>>(), ["18446744073709551615", "-128"]);
    }

    #[test]
    fn a_map_of_many_keys_is_read_at_once() {
        // Key by key, each looked up among the others, this took minutes.
        let mut bytes = vec![0xdf];
        bytes.extend_from_slice(&60_000_u32.to_be_bytes());
        for i in 0..60_000 {
            write_str(&format!("k{i}"), &mut bytes);
            bytes.push(0xc0);
        }
        let Value::Object(map) = read(&bytes, MAX_DEPTH).unwrap() else { panic!("not a map") };
        assert_eq!(map.len(), 60_000);
        assert_eq!(map.keys().last(), Some("k59999"));
    }

    #[test]
    fn lengths_beyond_the_data_reserve_nothing() {
        assert!(read(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0], MAX_DEPTH).is_err());
        assert!(read(&[0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0], MAX_DEPTH).is_err());
        assert!(read(&[0xc6, 0xff, 0xff, 0xff, 0xff], MAX_DEPTH).is_err());
    }

    pub(super) fn to_rmpv(value: &Value) -> rmpv::Value {
        match value {
            Value::Null => rmpv::Value::Nil,
            Value::Bool(b) => rmpv::Value::Boolean(*b),
            Value::Number(n) => number_to_rmpv(*n),
            Value::String(s) => rmpv::Value::String(s.as_str().into()),
            Value::Binary(b) => rmpv::Value::Binary(b.to_vec()),
            Value::Array(items) => rmpv::Value::Array(items.iter().map(to_rmpv).collect()),
            Value::Object(map) => rmpv::Value::Map(
                map.iter().map(|(k, v)| (rmpv::Value::String(k.into()), to_rmpv(v))).collect(),
            ),
        }
    }

    /// notepack: an integral, finite number is an integer in the smallest form, any other a
    /// float 64.
    fn number_to_rmpv(n: Number) -> rmpv::Value {
        if let Some(i) = n.as_i64() {
            return rmpv::Value::Integer(i.into());
        }
        if let Some(u) = n.as_u64() {
            return rmpv::Value::Integer(u.into());
        }
        rmpv::Value::F64(n.as_f64())
    }

    fn from_rmpv(value: rmpv::Value, depth: usize) -> Result<Value, WireError> {
        if depth > MAX_DEPTH {
            return Err(WireError::Shape("nested too deep"));
        }
        Ok(match value {
            // notepack's `undefined` (fixext 1, type 0) and its other extensions (dates) have no
            // place in a packet: null, as nil is.
            rmpv::Value::Nil | rmpv::Value::Ext(..) => Value::Null,
            rmpv::Value::Boolean(b) => Value::Bool(b),
            // An integer beyond 2^53 is a rounded double to Node (notepack reads it into a JS
            // number), as it is once written as JSON and read back: the same here.
            #[allow(clippy::cast_precision_loss)]
            rmpv::Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
                (Some(n), _) if n.unsigned_abs() <= MAX_SAFE_INTEGER => Value::Number(Number::from(n)),
                (Some(n), _) => Value::Number(Number::from(n as f64)),
                (None, Some(n)) => Value::Number(Number::from(n as f64)),
                (None, None) => Value::Null,
            },
            rmpv::Value::F32(f) => Value::Number(Number::from(f64::from(f))),
            rmpv::Value::F64(f) => Value::Number(Number::from(f)),
            rmpv::Value::String(s) => {
                Value::String(s.into_str().ok_or(WireError::Shape("a MessagePack string is not UTF-8"))?)
            }
            rmpv::Value::Binary(b) => Value::Binary(Bytes::from(b)),
            rmpv::Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| from_rmpv(v, depth + 1)).collect::<Result<_, _>>()?)
            }
            rmpv::Value::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (key, value) in entries {
                    let key = match key {
                        rmpv::Value::String(s) => {
                            s.into_str().ok_or(WireError::Shape("a MessagePack key is not UTF-8"))?
                        }
                        rmpv::Value::Integer(i) => i.to_string(),
                        _ => return Err(WireError::Shape("a map key is a string")),
                    };
                    map.insert(key, from_rmpv(value, depth + 1)?);
                }
                Value::Object(map)
            }
        })
    }
}

//! [`Value`] → JSON text, as `JSON.stringify` writes it.

use bytes::BufMut;

use super::scan::plain_len;
use super::{Number, Value};

/// What to write for a binary value.
pub(crate) enum BinaryMode {
    /// `{"type":"Buffer","data":[…]}`: `JSON.stringify` of a Node `Buffer`.
    BufferJson,
    /// `{"_placeholder":true,"num":N}` with `N` counting up from the held number, in the
    /// order socket.io-parser's `deconstructPacket` numbers attachments.
    Placeholders(usize),
}

pub(crate) fn write_json<B: BufMut>(value: &Value, out: &mut B, binary: &mut BinaryMode) {
    match value {
        Value::Null => out.put_slice(b"null"),
        Value::Bool(true) => out.put_slice(b"true"),
        Value::Bool(false) => out.put_slice(b"false"),
        Value::Number(n) => write_number(*n, out),
        Value::String(s) => write_string(s, out),
        Value::Binary(bytes) => match binary {
            BinaryMode::BufferJson => {
                out.put_slice(b"{\"type\":\"Buffer\",\"data\":[");
                for (i, byte) in bytes.iter().enumerate() {
                    if i > 0 {
                        out.put_u8(b',');
                    }
                    write_u64(u64::from(*byte), out);
                }
                out.put_slice(b"]}");
            }
            BinaryMode::Placeholders(next) => {
                out.put_slice(b"{\"_placeholder\":true,\"num\":");
                write_u64(*next as u64, out);
                out.put_u8(b'}');
                *next += 1;
            }
        },
        Value::Array(items) => {
            out.put_u8(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                write_json(item, out, binary);
            }
            out.put_u8(b']');
        }
        Value::Object(map) => {
            out.put_u8(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                write_string(key, out);
                out.put_u8(b':');
                write_json(item, out, binary);
            }
            out.put_u8(b'}');
        }
    }
}

pub(crate) fn write_u64<B: BufMut>(mut n: u64, out: &mut B) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&buf[at..]);
}

fn write_number<B: BufMut>(n: Number, out: &mut B) {
    if let Some(i) = n.as_i64().filter(|_| n.is_integer()) {
        if i < 0 {
            out.put_u8(b'-');
        }
        write_u64(i.unsigned_abs(), out);
    } else if let Some(u) = n.as_u64().filter(|_| n.is_integer()) {
        write_u64(u, out);
    } else if n.is_finite() {
        out.put_slice(ryu_js::Buffer::new().format_finite(n.as_f64()).as_bytes());
    } else {
        out.put_slice(b"null");
    }
}

/// `JSON.stringify` of a string: `"` and `\` escaped, the C0 controls as `\b \f \n \r \t`
/// or `\u00xx` (lowercase hex); everything else, DEL and U+2028 included, raw.
pub(crate) fn write_string<B: BufMut>(s: &str, out: &mut B) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let mut rest = s.as_bytes();
    loop {
        let plain = plain_len(rest);
        out.put_slice(&rest[..plain]);
        let Some(&b) = rest.get(plain) else { break };
        rest = &rest[plain + 1..];
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\x08' => b"\\b",
            b'\x0c' => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => &[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]],
        };
        out.put_slice(escape);
    }
    out.put_u8(b'"');
}

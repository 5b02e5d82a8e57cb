//! Base64 as Node's `Buffer` does it for long-polling's `b` packets.

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};

/// Standard alphabet with padding: `Buffer#toString("base64")`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut BytesMut) {
    let start = out.len();
    let len = bytes.len().div_ceil(3) * 4;
    out.put_bytes(0, len);
    // The buffer has exactly the encoded length, so encoding cannot fail.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(bytes, &mut out[start..]);
}

/// `Buffer.from(text, "base64")`, which never fails: both alphabets (`+/` and `-_`) are
/// accepted, any other character is skipped, the first `=` ends the data, and bits that do not
/// fill a byte are dropped (`"A"` → empty, `"AQ"` → `[1]`, `"AQ=ID"` → `[1]`).
pub(crate) fn decode_lenient(text: &[u8]) -> Bytes {
    // Fast path: canonical padded or unpadded base64.
    let strict = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    if let Ok(bytes) = strict.decode(text) {
        return Bytes::from(bytes);
    }
    let mut out = BytesMut::with_capacity(text.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.put_u8((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out.freeze()
}

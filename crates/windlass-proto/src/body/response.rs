//! Writing a response head and chunked body framing.

use http::header::{CONTENT_LENGTH, HeaderName, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode};

/// The line end of HTTP/1.1, and what follows each chunk's data.
pub const CRLF: &[u8] = b"\r\n";

/// The last chunk and the empty trailer section: what ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// How a response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// `Content-Length: n`. Also the answer to a HEAD request, with the length a GET would
    /// have had and no body written.
    Length(u64),
    /// `Transfer-Encoding: chunked`: each piece of the body is written after a
    /// [`chunk_prefix`] and followed by [`CRLF`]; [`LAST_CHUNK`] ends it.
    Chunked,
    /// Neither header, for responses that have no body by definition: 1xx (a 101 upgrade
    /// included), 204 and 304.
    None,
}

/// Writes a status line, the fields of `headers` and the blank line into `dst`.
///
/// The status line is `HTTP/1.1 {code} {canonical reason}\r\n` (the reason is empty for codes
/// without one). The framing header comes first, as `framing` says; any `Content-Length` or
/// `Transfer-Encoding` in `headers` is dropped, so a handler cannot contradict the framing the
/// server writes the body with. The other fields follow in `headers` order (names as
/// [`HeaderMap`] stores them, in lowercase); `http` has already refused values holding CR or LF.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use windlass_proto::body::{ResponseFraming, encode_response_head};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("content-type", "text/plain".parse().unwrap());
/// let mut head = Vec::new();
/// encode_response_head(StatusCode::OK, &headers, ResponseFraming::Length(2), &mut head);
/// assert_eq!(head, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-type: text/plain\r\n\r\n");
/// ```
pub fn encode_response_head(
    status: StatusCode,
    headers: &HeaderMap,
    framing: ResponseFraming,
    dst: &mut Vec<u8>,
) {
    write_status_line(status, dst);
    match framing {
        ResponseFraming::Length(n) => write_content_length(n, dst),
        ResponseFraming::Chunked => dst.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        ResponseFraming::None => {}
    }
    write_fields(headers, &[CONTENT_LENGTH, TRANSFER_ENCODING], dst);
    dst.extend_from_slice(CRLF);
}

/// `HTTP/1.1 {code} {canonical reason}\r\n`.
pub(crate) fn write_status_line(status: StatusCode, dst: &mut Vec<u8>) {
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    dst.extend_from_slice(CRLF);
}

/// `Content-Length: {n}\r\n`.
pub(crate) fn write_content_length(n: u64, dst: &mut Vec<u8>) {
    dst.extend_from_slice(b"Content-Length: ");
    // Digits by hand: `write!` costs a formatter per response.
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.extend_from_slice(&digits[at..]);
    dst.extend_from_slice(CRLF);
}

/// One `name: value\r\n` line per field of `headers`, except those named in `skip`.
pub(crate) fn write_fields(headers: &HeaderMap, skip: &[HeaderName], dst: &mut Vec<u8>) {
    for (name, value) in headers {
        if skip.contains(name) {
            continue;
        }
        dst.extend_from_slice(name.as_str().as_bytes());
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value.as_bytes());
        dst.extend_from_slice(CRLF);
    }
}

/// Hex digits of the largest `usize`, plus CRLF.
const PREFIX_CAPACITY: usize = usize::BITS as usize / 4 + 2;

/// The line before a chunk's data: its size in hex and CRLF. A small value on the stack, to be
/// written with the data in one vectored write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChunkPrefix {
    bytes: [u8; PREFIX_CAPACITY],
    len: u8,
}

impl ChunkPrefix {
    /// The prefix's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl AsRef<[u8]> for ChunkPrefix {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for ChunkPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkPrefix({:?})", String::from_utf8_lossy(self.as_slice()))
    }
}

/// The prefix of one chunk of `len` bytes (`{len:x}\r\n`); the data is followed by [`CRLF`].
///
/// A chunk of 0 bytes would end the body, so skip empty writes and end with [`LAST_CHUNK`].
///
/// ```
/// use windlass_proto::body::{CRLF, LAST_CHUNK, chunk_prefix};
///
/// let mut wire = chunk_prefix(26).as_slice().to_vec();
/// wire.extend_from_slice(b"abcdefghijklmnopqrstuvwxyz");
/// wire.extend_from_slice(CRLF);
/// wire.extend_from_slice(LAST_CHUNK);
/// assert_eq!(wire, b"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n");
/// ```
pub fn chunk_prefix(len: usize) -> ChunkPrefix {
    let mut bytes = [0u8; PREFIX_CAPACITY];
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, byte) in bytes[..digits].iter_mut().enumerate() {
        let nibble = (len >> (4 * (digits - 1 - i))) & 0xf;
        *byte = b"0123456789abcdef"[nibble];
    }
    bytes[digits..digits + 2].copy_from_slice(CRLF);
    ChunkPrefix { bytes, len: (digits + 2) as u8 }
}

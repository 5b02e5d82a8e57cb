//! HTTP/1.1 message bodies (RFC 9112 §6, §7.1): how a request body is delimited, a decoder that
//! takes it off the front of the connection's read buffer, and the framing half of writing a
//! response.
//!
//! A request's framing is decided once, from its head, by [`request_framing`], which refuses the
//! header shapes used for request smuggling instead of guessing what the client meant: a front
//! proxy that guessed differently would see a different request boundary than we do. A
//! [`BodyDecoder`] then hands out the body as it arrives, without copying, and stops exactly at
//! its end, so the bytes after it are the next pipelined request's.
//!
//! ```
//! use bytes::BytesMut;
//! use windlass_proto::body::{BodyDecoder, BodyLimits, Decoded, request_framing};
//! use windlass_proto::head::{HeadLimits, parse_request_head};
//!
//! let mut buf = BytesMut::from(
//!     &b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
//!        5\r\nHello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"[..],
//! );
//! let (request, head_len) = parse_request_head(&buf, &HeadLimits::default())?.unwrap();
//! let _head = buf.split_to(head_len);
//! let mut decoder = BodyDecoder::new(request_framing(request.headers())?, BodyLimits::default());
//! let mut body = Vec::new();
//! loop {
//!     match decoder.decode(&mut buf)? {
//!         Decoded::Data(data) => body.extend_from_slice(&data),
//!         Decoded::NeedMore => unreachable!("read more from the socket into buf"),
//!         Decoded::End => break,
//!     }
//! }
//! assert_eq!(body, b"Hello");
//! assert_eq!(&buf[..], b"GET / HTTP/1.1\r\n"); // the next request, untouched
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod grammar;
mod response;
#[cfg(test)]
mod tests;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode};

use crate::head::HeadError;

pub use response::{CRLF, ChunkPrefix, LAST_CHUNK, ResponseFraming, chunk_prefix, encode_response_head};
pub(crate) use response::{write_content_length, write_fields, write_status_line};

/// How a request's body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither `Content-Length` nor `Transfer-Encoding` (a request without them has
    /// no body; it is never read to the end of the connection).
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Decides the framing of a request body from its headers, refusing the shapes used for request
/// smuggling.
///
/// In this order:
/// - `Content-Length` together with `Transfer-Encoding` is refused (400). RFC 9112 §6.1 lets a
///   server either drop `Content-Length` or refuse; we refuse, because this is the classic
///   smuggling shape and no honest client sends it.
/// - `Transfer-Encoding` must be exactly `chunked` (the elements of all its lines, comma
///   separated, compared case-insensitively). An empty element, `chunked` twice or not last
///   is 400; any other coding (`gzip`, `identity`, …) is 501, as we implement none.
/// - `Content-Length` must appear once (several lines, or a list such as `5, 5`, are refused
///   even when the values agree) and be `1*DIGIT` fitting in a `u64`; otherwise 400.
/// - Neither header: [`BodyFraming::Empty`].
///
/// ```
/// use http::HeaderMap;
/// use windlass_proto::body::{BodyFraming, request_framing};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("content-length", "12".parse().unwrap());
/// assert_eq!(request_framing(&headers), Ok(BodyFraming::Length(12)));
/// headers.insert("transfer-encoding", "chunked".parse().unwrap());
/// assert_eq!(request_framing(&headers).unwrap_err().status(), 400);
/// ```
pub fn request_framing(headers: &HeaderMap) -> Result<BodyFraming, HeadError> {
    let has_length = headers.contains_key(CONTENT_LENGTH);
    let has_coding = headers.contains_key(TRANSFER_ENCODING);
    if has_length && has_coding {
        return Err(HeadError::ContentLengthWithTransferEncoding);
    }
    if has_coding {
        return transfer_coding(headers).map(|()| BodyFraming::Chunked);
    }
    if has_length {
        return content_length(headers).map(BodyFraming::Length);
    }
    Ok(BodyFraming::Empty)
}

/// Checks that the `Transfer-Encoding` list is exactly `chunked`.
fn transfer_coding(headers: &HeaderMap) -> Result<(), HeadError> {
    let mut chunked = 0;
    let mut chunked_last = false;
    let mut other = false;
    for line in headers.get_all(TRANSFER_ENCODING) {
        for element in line.as_bytes().split(|&b| b == b',') {
            let coding = grammar::trim_ows(element);
            let name = &coding[..grammar::token_len(coding)];
            // Parameters (`gzip;q=1`) are the coding's business; we only need the name to end
            // where they start.
            let params = grammar::trim_ows(&coding[name.len()..]);
            if name.is_empty() || !(params.is_empty() || params.starts_with(b";")) {
                return Err(HeadError::TransferEncoding("empty or malformed element"));
            }
            chunked_last = name.eq_ignore_ascii_case(b"chunked") && params.is_empty();
            if chunked_last {
                chunked += 1;
            } else {
                other = true;
            }
        }
    }
    // RFC 9112 §6.3: a request whose final coding is not chunked has no reliable length: 400.
    // A second `chunked` would make the body chunked twice, which no client means.
    if chunked > 1 || (chunked == 1 && !chunked_last) {
        return Err(HeadError::TransferEncoding("chunked must appear once, last"));
    }
    if other {
        return Err(HeadError::UnsupportedTransferCoding);
    }
    Ok(())
}

fn content_length(headers: &HeaderMap) -> Result<u64, HeadError> {
    let mut lines = headers.get_all(CONTENT_LENGTH).iter();
    let (Some(value), None) = (lines.next(), lines.next()) else {
        return Err(HeadError::ContentLength("repeated"));
    };
    let digits = value.as_bytes();
    if digits.contains(&b',') {
        return Err(HeadError::ContentLength("a list"));
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::ContentLength("not a decimal number"));
    }
    digits
        .iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .ok_or(HeadError::ContentLength("too large"))
}

/// Limits on one request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimits {
    /// Most body bytes (after de-chunking). Default 1 MiB: forms and JSON fit, while 10,000
    /// connections cannot make the server buffer more than 10 GiB; servers that take uploads
    /// raise it. Past it the answer is 413, decided from the declared length or chunk size
    /// before the data is read.
    pub max_body_bytes: u64,
    /// Longest chunk-size line, extensions included, CRLF excluded; also the most bytes the
    /// chunk extensions of the whole body may take together. Default 4096: a size is at most
    /// 16 digits and extensions are unused in practice, so this only bounds what a client can
    /// make the server buffer while looking for a line end, and (as extensions are read and
    /// discarded) how many framing bytes it can make the server read per body byte with
    /// one-byte chunks. Past it the answer is 400.
    pub max_chunk_line: usize,
    /// Most bytes of trailer fields, each with its CRLF (the blank line ending the body is not
    /// counted). Trailers are read and discarded. Default 8 KiB, the head limit. Past it the
    /// answer is 431, as for a head with too much in its fields: trailers are fields too.
    pub max_trailer_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self { max_body_bytes: 1 << 20, max_chunk_line: 4096, max_trailer_bytes: 8 * 1024 }
    }
}

/// What [`BodyDecoder::decode`] found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes (never empty), split off the buffer without copying.
    Data(Bytes),
    /// The buffer holds no more of the body: read more from the connection.
    NeedMore,
    /// The body is complete; what is left in the buffer is the next request's.
    End,
}

/// Why a request body was refused; [`BodyError::status`] is the response to send. After any of
/// these the connection must close: where the next request starts is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than `max_body_bytes` (declared, or by a chunk size).
    #[error("request body exceeds {max} bytes")]
    TooLarge {
        /// The configured limit.
        max: u64,
    },
    /// Malformed chunked framing: a bad chunk size, chunk extension or trailer field, a missing
    /// CRLF, a bare LF, or a chunk-size line (or all the body's extensions) past
    /// `max_chunk_line`.
    #[error("malformed chunked body: {0}")]
    Chunk(&'static str),
    /// The trailer fields passed `max_trailer_bytes`.
    #[error("request trailers exceed {max} bytes")]
    TrailersTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The connection ended mid-body (reported by the I/O layer, which sees the end of stream).
    #[error("connection closed before the request body was complete")]
    Incomplete,
    /// The body did not arrive in time (reported by the I/O layer, which owns the clock).
    #[error("request body not received in time")]
    Timeout,
}

impl BodyError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TrailersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Chunk(_) | Self::Incomplete => StatusCode::BAD_REQUEST,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone)]
enum State {
    /// `Content-Length` framing: body bytes still to come.
    Length(u64),
    /// At a chunk-size line.
    ChunkSize,
    /// Inside a chunk's data: bytes still to come.
    ChunkData(u64),
    /// At the CRLF that ends a chunk's data.
    ChunkEnd,
    /// After the last chunk: trailer fields, then the blank line.
    Trailers,
    Done,
    /// Refused; every later call says so again rather than resynchronise on hostile bytes.
    Failed(BodyError),
}

/// Takes one request body off the front of the read buffer, as it arrives.
///
/// The tokio-util decoder contract, with the body's end made explicit: [`Decoded::NeedMore`]
/// means read more, and exactly the bytes that make up the body are consumed (chunk framing
/// bytes included, never a byte past the body's end).
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    framing: BodyFraming,
    limits: BodyLimits,
    received: u64,
    /// Bytes at the front of the buffer already searched for the end of the current line, so a
    /// line arriving a byte at a time is scanned once.
    scanned: usize,
    /// Trailer bytes consumed so far, against `max_trailer_bytes`.
    trailer_bytes: usize,
    /// Chunk-extension bytes consumed so far, against `max_chunk_line`.
    extension_bytes: usize,
}

impl BodyDecoder {
    /// A decoder for one body with the given framing.
    pub fn new(framing: BodyFraming, limits: BodyLimits) -> Self {
        let state = match framing {
            BodyFraming::Empty => State::Done,
            BodyFraming::Length(n) => State::Length(n),
            BodyFraming::Chunked => State::ChunkSize,
        };
        Self { state, framing, limits, received: 0, scanned: 0, trailer_bytes: 0, extension_bytes: 0 }
    }

    /// Takes body bytes from the front of `buf`.
    ///
    /// Data is split off `buf` without copying, up to what the body has left; chunk framing is
    /// consumed as it is validated. A `Content-Length` larger than `max_body_bytes`, or a chunk
    /// size that would pass it, fails before any of that data is read. After
    /// [`Decoded::End`], bytes left in `buf` belong to the next pipelined request and are not
    /// touched, by this call or any later one. After an error, every later call returns it
    /// again.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use windlass_proto::body::{BodyDecoder, BodyFraming, BodyLimits, Decoded};
    ///
    /// let mut decoder = BodyDecoder::new(BodyFraming::Length(5), BodyLimits::default());
    /// let mut buf = BytesMut::from(&b"Hel"[..]);
    /// assert_eq!(decoder.decode(&mut buf)?, Decoded::Data("Hel".into()));
    /// assert_eq!(decoder.decode(&mut buf)?, Decoded::NeedMore);
    /// buf.extend_from_slice(b"loGET");
    /// assert_eq!(decoder.decode(&mut buf)?, Decoded::Data("lo".into()));
    /// assert_eq!(decoder.decode(&mut buf)?, Decoded::End);
    /// assert_eq!(&buf[..], b"GET");
    /// # Ok::<(), windlass_proto::BodyError>(())
    /// ```
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, BodyError> {
        let result = self.step(buf);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Decoded, BodyError> {
        loop {
            match &self.state {
                State::Done => return Ok(Decoded::End),
                State::Failed(e) => return Err(e.clone()),
                &State::Length(remaining) => {
                    if self.received + remaining > self.limits.max_body_bytes {
                        return Err(BodyError::TooLarge { max: self.limits.max_body_bytes });
                    }
                    if remaining == 0 {
                        self.state = State::Done;
                        return Ok(Decoded::End);
                    }
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let (data, left) = self.take(buf, remaining);
                    self.state = State::Length(left);
                    return Ok(Decoded::Data(data));
                }
                State::ChunkSize => {
                    let Some(len) = self.chunk_size_line(buf)? else { return Ok(Decoded::NeedMore) };
                    let (size, extensions) =
                        grammar::chunk_size(&buf[..len - 2]).map_err(BodyError::Chunk)?;
                    self.extension_bytes = self.extension_bytes.saturating_add(extensions);
                    if self.extension_bytes > self.limits.max_chunk_line {
                        return Err(BodyError::Chunk("chunk extensions too long"));
                    }
                    if self.received.checked_add(size).is_none_or(|n| n > self.limits.max_body_bytes) {
                        return Err(BodyError::TooLarge { max: self.limits.max_body_bytes });
                    }
                    buf.advance(len);
                    self.state = if size == 0 { State::Trailers } else { State::ChunkData(size) };
                }
                &State::ChunkData(remaining) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let (data, left) = self.take(buf, remaining);
                    self.state = if left == 0 { State::ChunkEnd } else { State::ChunkData(left) };
                    return Ok(Decoded::Data(data));
                }
                State::ChunkEnd => match &buf[..buf.len().min(2)] {
                    b"\r\n" => {
                        buf.advance(2);
                        self.state = State::ChunkSize;
                    }
                    b"" | b"\r" => return Ok(Decoded::NeedMore),
                    _ => return Err(BodyError::Chunk("chunk data not followed by CRLF")),
                },
                State::Trailers => {
                    let Some(len) = self.trailer_line(buf)? else { return Ok(Decoded::NeedMore) };
                    buf.advance(len);
                    if len == 2 {
                        self.state = State::Done;
                        return Ok(Decoded::End);
                    }
                    self.trailer_bytes += len;
                }
            }
        }
    }

    /// Splits off up to `remaining` body bytes; returns them and what is then left.
    fn take(&mut self, buf: &mut BytesMut, remaining: u64) -> (Bytes, u64) {
        let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
        self.received += n as u64;
        (buf.split_to(n).freeze(), remaining - n as u64)
    }

    /// The length of the line at the front of `buf` up to its LF, or `None` if it has none yet.
    fn find_line_end(&mut self, buf: &[u8]) -> Option<usize> {
        let Some(pos) = memchr::memchr(b'\n', &buf[self.scanned..]) else {
            self.scanned = buf.len();
            return None;
        };
        let len = self.scanned + pos + 1;
        self.scanned = 0;
        Some(len)
    }

    /// The length of the complete chunk-size line at the front of `buf`, CRLF included.
    ///
    /// The length limit is checked before the line's syntax, and on an incomplete line against
    /// the shortest line it can still become, so that a body refused when it arrives in one
    /// read is refused with the same error when it arrives a byte at a time.
    fn chunk_size_line(&mut self, buf: &[u8]) -> Result<Option<usize>, BodyError> {
        const TOO_LONG: BodyError = BodyError::Chunk("chunk-size line too long");
        let Some(len) = self.find_line_end(buf) else {
            // A final CR may be the start of the CRLF.
            if buf.len() - usize::from(buf.ends_with(b"\r")) > self.limits.max_chunk_line {
                return Err(TOO_LONG);
            }
            return Ok(None);
        };
        let line = &buf[..len - 1];
        if line.len() - usize::from(line.ends_with(b"\r")) > self.limits.max_chunk_line {
            return Err(TOO_LONG);
        }
        if !line.ends_with(b"\r") {
            return Err(BodyError::Chunk("chunk-size line ends with a bare LF"));
        }
        Ok(Some(len))
    }

    /// The length of the complete trailer line at the front of `buf`, CRLF included (2 for the
    /// blank line that ends the body). The limit is checked as in `chunk_size_line`.
    fn trailer_line(&mut self, buf: &[u8]) -> Result<Option<usize>, BodyError> {
        let max = self.limits.max_trailer_bytes;
        let too_large = BodyError::TrailersTooLarge { max };
        let Some(len) = self.find_line_end(buf) else {
            // A lone CR may become the blank line, which is not counted; anything else becomes
            // a field line of at least one more byte (its LF).
            if !buf.is_empty() && buf != b"\r" && self.trailer_bytes + buf.len() + 1 > max {
                return Err(too_large);
            }
            return Ok(None);
        };
        let line = &buf[..len];
        if line == b"\r\n" {
            return Ok(Some(len));
        }
        if self.trailer_bytes + len > max {
            return Err(too_large);
        }
        let Some(field) = line.strip_suffix(b"\r\n") else {
            return Err(BodyError::Chunk("trailer line ends with a bare LF"));
        };
        grammar::trailer_field(field).map_err(BodyError::Chunk)?;
        Ok(Some(len))
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Body bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The declared length for `Content-Length` framing (`None` for chunked and empty bodies).
    ///
    /// Lets a server answer 413 before reading anything when it exceeds `max_body_bytes`
    /// (for instance to skip a `100 Continue`); [`decode`](Self::decode) enforces the limit too.
    pub fn declared_length(&self) -> Option<u64> {
        match self.framing {
            BodyFraming::Length(n) => Some(n),
            BodyFraming::Empty | BodyFraming::Chunked => None,
        }
    }
}

//! One HTTP/1.1 request head, parsed under limits.

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version};

/// Limits on a request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest head in bytes, request line and final blank line included. Default 8 KiB, the
    /// limit most servers and proxies use; past it the answer is 431.
    pub max_head_bytes: usize,
    /// Most header fields. Default 64; past it the answer is 431.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self { max_head_bytes: 8 * 1024, max_headers: 64 }
    }
}

/// Why a request head was refused; [`HeadError::status`] is the response to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The head did not fit in `max_head_bytes`.
    #[error("request head exceeds {max} bytes")]
    TooLarge {
        /// The configured limit.
        max: usize,
    },
    /// More header fields than `max_headers`.
    #[error("request has more than {max} header fields")]
    TooManyHeaders {
        /// The configured limit.
        max: usize,
    },
    /// Neither HTTP/1.1 nor HTTP/1.0.
    #[error("unsupported HTTP version")]
    Version,
    /// Not a valid HTTP/1.x request head.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The head did not arrive in time (reported by the I/O layer, which owns the clock).
    #[error("request head not received in time")]
    Timeout,
    /// Both `Content-Length` and `Transfer-Encoding`: the classic request-smuggling shape,
    /// refused rather than resolved (see [`request_framing`](crate::body::request_framing)).
    #[error("request has both Content-Length and Transfer-Encoding")]
    ContentLengthWithTransferEncoding,
    /// `Content-Length` repeated, a list, not `1*DIGIT`, or past `u64`.
    #[error("invalid Content-Length: {0}")]
    ContentLength(&'static str),
    /// A `Transfer-Encoding` list with an empty or malformed element, or `chunked` repeated or
    /// not last.
    #[error("invalid Transfer-Encoding: {0}")]
    TransferEncoding(&'static str),
    /// A transfer coding other than `chunked` (we implement none).
    #[error("unsupported transfer coding: only chunked is implemented")]
    UnsupportedTransferCoding,
}

impl HeadError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } | Self::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::Malformed(_)
            | Self::ContentLengthWithTransferEncoding
            | Self::ContentLength(_)
            | Self::TransferEncoding(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }
}

/// Header slots parsed on the stack; larger limits use the heap.
const STACK_HEADERS: usize = 64;

/// Parses a request head from the front of `buf`.
///
/// Returns the request and the length of the head, or `Ok(None)` if the head is not complete
/// yet (and still within the limit). Bytes after the head are not looked at: they belong to the
/// next layer (for a WebSocket, the first frames).
pub fn parse_request_head(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(Request<()>, usize)>, HeadError> {
    parse(buf, limits, true, |range| Part::Copied(&buf[range]))
}

/// Parses a request head from the front of `buf` and takes its bytes off: the same as
/// [`parse_request_head`], but the request target and the field values are slices of the
/// head's bytes rather than copies, so a request costs no allocation per field. (The buffer
/// turns into a shared one at the first head taken, once per connection.)
pub fn take_request_head(buf: &mut BytesMut, limits: &HeadLimits) -> Result<Option<Request<()>>, HeadError> {
    // First pass on the borrowed buffer: is a whole, valid head there?
    let Some(head_len) = parse(buf, limits, false, |range| Part::Copied(&buf[range]))?.map(|(_, len)| len)
    else {
        return Ok(None);
    };
    // Second pass on the head alone, now shared: the request keeps slices of it. An error
    // found only here (a bad target or value) ends the connection anyway.
    let head = buf.split_to(head_len).freeze();
    parse(&head, limits, true, |range| Part::Shared(head.slice(range)))
        .map(|parsed| parsed.map(|(request, _)| request))
}

/// How the parser gets the bytes of the target and of each value.
enum Part<'a> {
    Copied(&'a [u8]),
    Shared(Bytes),
}

/// Parses a head; with `build` false, stops once the head is known whole and its line and
/// version valid (the returned request is then empty).
fn parse<'b>(
    buf: &'b [u8],
    limits: &HeadLimits,
    build: bool,
    part: impl Fn(std::ops::Range<usize>) -> Part<'b>,
) -> Result<Option<(Request<()>, usize)>, HeadError> {
    // The usual limit fits on the stack: no allocation per parse attempt (the server parses
    // its growing buffer after every read).
    let mut on_stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut on_heap = Vec::new();
    let headers: &mut [httparse::Header<'_>] = if limits.max_headers <= STACK_HEADERS {
        &mut on_stack[..limits.max_headers]
    } else {
        on_heap.resize(limits.max_headers, httparse::EMPTY_HEADER);
        &mut on_heap
    };
    let mut req = httparse::Request::new(headers);
    let status = match req.parse(buf) {
        Ok(status) => status,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HeadError::TooManyHeaders { max: limits.max_headers });
        }
        Err(httparse::Error::Version) => return Err(HeadError::Version),
        Err(e) => return Err(HeadError::Malformed(malformed_reason(e))),
    };
    let head_len = match status {
        httparse::Status::Complete(len) if len <= limits.max_head_bytes => len,
        httparse::Status::Complete(_) => {
            return Err(HeadError::TooLarge { max: limits.max_head_bytes });
        }
        httparse::Status::Partial if buf.len() >= limits.max_head_bytes => {
            return Err(HeadError::TooLarge { max: limits.max_head_bytes });
        }
        httparse::Status::Partial => return Ok(None),
    };
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        // HTTP/1.0 clients (proxies that speak it upstream, old tools) are served; they close
        // after each answer unless they ask to keep the connection.
        Some(0) => Version::HTTP_10,
        _ => return Err(HeadError::Version),
    };
    if version == Version::HTTP_10
        && req.headers.iter().any(|h| h.name.eq_ignore_ascii_case(http::header::TRANSFER_ENCODING.as_str()))
    {
        // RFC 9112 §6.1: transfer codings are HTTP/1.1's; a 1.0 message that claims one is
        // faulty (and a smuggling shape).
        return Err(HeadError::TransferEncoding("not allowed in HTTP/1.0"));
    }
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| HeadError::Malformed("invalid method"))?;
    if !build {
        return Ok(Some((Request::new(()), head_len)));
    }
    // Where a slice of `buf` lies in it.
    let range_of = |slice: &[u8]| {
        let start = slice.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + slice.len()
    };
    let path = req.path.unwrap_or_default();
    let uri = match part(range_of(path.as_bytes())) {
        Part::Copied(bytes) => Uri::try_from(bytes),
        Part::Shared(bytes) => Uri::from_maybe_shared(bytes),
    }
    .map_err(|_| HeadError::Malformed("invalid request target"))?;
    // Built in place rather than through `Request::builder()`, whose error plumbing costs a
    // closure per part on every request.
    let mut map = http::HeaderMap::with_capacity(req.headers.len());
    for header in req.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| HeadError::Malformed("invalid header name"))?;
        let value = match part(range_of(header.value)) {
            Part::Copied(bytes) => HeaderValue::from_bytes(bytes),
            Part::Shared(bytes) => HeaderValue::from_maybe_shared(bytes),
        }
        .map_err(|_| HeadError::Malformed("invalid header value"))?;
        map.append(name, value);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = map;
    Ok(Some((request, head_len)))
}

fn malformed_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        _ => "invalid request line",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] =
        b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nCookie: a=1\r\n\r\n";

    #[test]
    fn parses_a_head_and_leaves_what_follows() {
        let mut input = GET.to_vec();
        input.extend_from_slice(&[0x81, 0x80]);
        let (req, len) = parse_request_head(&input, &HeadLimits::default()).unwrap().unwrap();
        assert_eq!(len, GET.len());
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().path(), "/chat");
        assert_eq!(req.uri().query(), Some("room=1"));
        assert_eq!(req.headers()["upgrade"], "websocket");
    }

    #[test]
    fn http_1_0_is_served_without_transfer_codings() {
        let (req, _) =
            parse_request_head(b"GET / HTTP/1.0\r\n\r\n", &HeadLimits::default()).unwrap().unwrap();
        assert_eq!(req.version(), Version::HTTP_10);
        let chunked = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            parse_request_head(chunked, &HeadLimits::default()).unwrap_err(),
            HeadError::TransferEncoding("not allowed in HTTP/1.0")
        );
    }

    #[test]
    fn every_prefix_is_incomplete_not_an_error() {
        for cut in 0..GET.len() {
            assert!(matches!(parse_request_head(&GET[..cut], &HeadLimits::default()), Ok(None)), "cut {cut}");
        }
    }

    #[test]
    fn errors_carry_their_status() {
        let limits = HeadLimits { max_head_bytes: 64, max_headers: 2 };
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431),
            (b"GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 431),
            (b"GET\x01 / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
        ];
        for (input, status) in cases {
            let err = parse_request_head(input, &limits).unwrap_err();
            assert_eq!(err.status().as_u16(), *status, "{err} for {:?}", String::from_utf8_lossy(input));
        }
        assert_eq!(HeadError::Timeout.status(), StatusCode::REQUEST_TIMEOUT);
    }
}

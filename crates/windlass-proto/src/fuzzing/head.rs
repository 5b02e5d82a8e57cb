//! Request heads and the opening handshake.

use http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, HeaderName, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, Method, Request, StatusCode, Version};

use super::{Knobs, scaled};
use crate::deflate::negotiate;
use crate::handshake::{self, Accepted, HandshakeError};
use crate::head::{HeadError, HeadLimits, parse_request_head, take_request_head};

/// `max_head_bytes` by the low nibble of the first byte: the default, then limits short inputs
/// can reach.
const HEAD_BYTES: [usize; 16] = [8 * 1024, 1, 2, 15, 16, 17, 24, 32, 48, 64, 100, 128, 256, 512, 1024, 4096];
/// `max_headers` by the high nibble.
const HEADERS: [usize; 16] = [64, 0, 1, 2, 3, 4, 5, 6, 8, 10, 16, 24, 32, 48, 100, 128];

/// Sub-protocol lists a server might support, picked by the first byte.
const PROTOCOLS: [&[&str]; 4] = [&[], &["chat"], &["chat", "superchat"], &["v2.json", "v1.json", "chat"]];

type Parsed = Result<Option<(Request<()>, usize)>, HeadError>;

/// Parses a request head under input-chosen limits, whole and cut short.
///
/// Invariants: a complete head lies within the input and the limit and ends with its blank
/// line; `Ok(None)` only while the input is shorter than the limit (the server never buffers
/// more without deciding); every error answers 400, 431 or 505 and names the configured limit.
/// A server re-parses its growing buffer after every read, so a prefix must never decide
/// differently from the whole: a prefix that is complete gives the same request and length,
/// a prefix that fails means the whole fails.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn request_head(data: &[u8]) {
    let mut knobs = Knobs::new(data);
    let limits_byte = knobs.byte();
    let cut = knobs.byte();
    let limits = HeadLimits {
        max_head_bytes: HEAD_BYTES[usize::from(limits_byte & 0x0f)],
        max_headers: HEADERS[usize::from(limits_byte >> 4)],
    };
    let input = knobs.rest();
    let whole = parse_checked(input, &limits);
    let mut cuts = vec![scaled(cut, input.len())];
    if let Ok(Some((_, len))) = &whole {
        // Just short of the head, and exactly the head without what follows it.
        cuts.extend([len - 1, *len]);
    }
    for cut in cuts {
        let prefix = parse_checked(&input[..cut], &limits);
        match (&prefix, &whole) {
            (Ok(None), _) | (Err(_), Err(_)) => {}
            (Ok(Some(a)), Ok(Some(b))) => {
                assert!(same_head(a, b), "prefix of {cut} bytes parsed differently");
            }
            _ => panic!("prefix of {cut} bytes gave {prefix:?}, the whole input {whole:?}"),
        }
    }
}

fn parse_checked(input: &[u8], limits: &HeadLimits) -> Parsed {
    let result = parse_request_head(input, limits);
    // The server's zero-copy form decides the same, gives the same request, and takes
    // exactly the head's bytes.
    let mut buf = bytes::BytesMut::from(input);
    let taken = take_request_head(&mut buf, limits);
    match (&taken, &result) {
        (Ok(None), Ok(None)) => assert_eq!(buf.len(), input.len(), "nothing taken without a head"),
        (Ok(Some(a)), Ok(Some(b))) => {
            assert!(same_head(&(a.clone(), b.1), b), "the zero-copy parse differs");
            assert_eq!(buf.len(), input.len() - b.1, "the zero-copy parse took other bytes than the head");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "the zero-copy parse fails differently"),
        _ => panic!("zero-copy parse {taken:?}, copying parse {result:?}"),
    }
    match &result {
        Ok(None) => assert!(
            input.len() < limits.max_head_bytes,
            "{} bytes buffered without a decision (limit {})",
            input.len(),
            limits.max_head_bytes
        ),
        Ok(Some((request, len))) => {
            assert!(*len <= input.len() && *len <= limits.max_head_bytes, "head length {len}");
            assert!(input[..*len].ends_with(b"\n"), "head does not end with its blank line");
            assert!(matches!(request.version(), Version::HTTP_11 | Version::HTTP_10));
            assert!(request.headers().len() <= limits.max_headers, "more headers than the limit");
        }
        Err(e) => {
            match e {
                HeadError::TooLarge { max } => assert_eq!(*max, limits.max_head_bytes),
                HeadError::TooManyHeaders { max } => assert_eq!(*max, limits.max_headers),
                HeadError::Version | HeadError::Malformed(_) => {}
                HeadError::Timeout => panic!("the parser has no clock, yet reported a timeout"),
                HeadError::ContentLengthWithTransferEncoding
                | HeadError::ContentLength(_)
                | HeadError::TransferEncoding(_)
                | HeadError::UnsupportedTransferCoding => {
                    panic!("the head parser does not decide body framing, yet reported {e:?}")
                }
            }
            assert!(matches!(e.status().as_u16(), 400 | 431 | 505), "{e:?} answers {}", e.status());
        }
    }
    result
}

fn same_head((a, a_len): &(Request<()>, usize), (b, b_len): &(Request<()>, usize)) -> bool {
    a_len == b_len
        && a.method() == b.method()
        && a.uri() == b.uri()
        && a.version() == b.version()
        && a.headers() == b.headers()
}

/// Parses a request head and answers it as `WsServer` does: [`handshake::accept`], then
/// permessage-deflate negotiation, then the 101 or the error response.
///
/// Invariants: the outcome is exactly what an independent model of RFC 6455 §4.2.1 predicts
/// (same refusal, checked in the same order, or the same sub-protocol); refusals answer 400,
/// 405 or 426 with the headers their status requires, in a response that parses as HTTP with a
/// correct `Content-Length`; an accepted key is 16 bytes of canonical base64 and its accept
/// value is 20 bytes (a SHA-1) of base64; the 101 response parses and carries exactly the
/// negotiated values; a deflate agreement passes the checks of [`super::deflate_negotiate`].
///
/// # Panics
///
/// When an invariant does not hold.
pub fn handshake(data: &[u8]) {
    let mut knobs = Knobs::new(data);
    let policy = knobs.byte();
    let deflate = super::deflate::config_from(knobs.byte(), 0);
    let strict = policy & 1 != 0;
    let supported = PROTOCOLS[usize::from(policy >> 1) % PROTOCOLS.len()];
    let Ok(Some((request, _))) = parse_request_head(knobs.rest(), &HeadLimits::default()) else {
        return;
    };
    let result = handshake::accept(&request, supported, strict);
    assert_eq!(result, handshake::accept(&request, supported, strict), "accept is not deterministic");
    assert_eq!(
        result.clone().map(|a| a.protocol),
        model(&request, supported, strict),
        "accept disagrees with the RFC 6455 model"
    );
    match result {
        Err(e) => check_refusal(&request, &e),
        Ok(mut accepted) => {
            let key = request.headers()[SEC_WEBSOCKET_KEY].as_bytes();
            assert_eq!(base64_decode(key).map(|k| k.len()), Some(16), "accepted key {key:?}");
            let accept = accepted.accept_key.as_bytes();
            assert_eq!(base64_decode(accept).map(|k| k.len()), Some(20), "accept value {accept:?}");
            assert_eq!(accepted.extensions, None);
            let offers =
                request.headers().get_all(SEC_WEBSOCKET_EXTENSIONS).iter().filter_map(|v| v.to_str().ok());
            if let Some(agreement) = negotiate(offers, &deflate) {
                super::deflate::check_agreement(&agreement, &deflate, key);
                accepted.extensions = Some(agreement.response);
            }
            check_switching_protocols(&accepted);
        }
    }
}

/// What RFC 6455 §4.2.1 says about `request`, checked in the order `accept` documents: the
/// chosen sub-protocol, or the refusal.
fn model(request: &Request<()>, supported: &[&str], strict: bool) -> Result<Option<String>, HandshakeError> {
    let headers = request.headers();
    if request.method() != Method::GET {
        return Err(HandshakeError::Method(request.method().clone()));
    }
    if ![UPGRADE, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION].iter().any(|name| headers.contains_key(name)) {
        return Err(HandshakeError::NotUpgrade);
    }
    if !list(headers, &UPGRADE).iter().any(|t| t.eq_ignore_ascii_case("websocket")) {
        return Err(HandshakeError::UpgradeHeader);
    }
    if !list(headers, &CONNECTION).iter().any(|t| t.eq_ignore_ascii_case("upgrade")) {
        return Err(HandshakeError::ConnectionHeader);
    }
    if !headers.contains_key(HOST) {
        return Err(HandshakeError::Host);
    }
    match headers.get_all(SEC_WEBSOCKET_VERSION).iter().collect::<Vec<_>>()[..] {
        [version] if version.as_bytes() == b"13" => {}
        [_] => return Err(HandshakeError::Version),
        _ => return Err(HandshakeError::MissingVersion),
    }
    match headers.get_all(SEC_WEBSOCKET_KEY).iter().collect::<Vec<_>>()[..] {
        [key] if base64_decode(key.as_bytes()).is_some_and(|k| k.len() == 16) => {}
        _ => return Err(HandshakeError::Key),
    }
    let offered = list(headers, &SEC_WEBSOCKET_PROTOCOL);
    let protocol = offered.iter().find(|p| supported.contains(&p.as_str())).cloned();
    if strict && protocol.is_none() && headers.contains_key(SEC_WEBSOCKET_PROTOCOL) {
        return Err(HandshakeError::SubProtocol);
    }
    Ok(protocol)
}

/// The elements of a comma-separated header list (RFC 9110 §5.6.1) across all its lines;
/// lines that are not visible ASCII count as absent.
fn list(headers: &HeaderMap, name: &HeaderName) -> Vec<String> {
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else { continue };
        out.extend(
            value
                .split(',')
                .map(|t| t.trim_matches([' ', '\t']))
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        );
    }
    out
}

/// Strict, padded base64 (RFC 4648 §4): `None` unless `text` is the canonical encoding of the
/// bytes it decodes to.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if text.len() % 4 != 0 {
        return None;
    }
    let data = text.strip_suffix(b"==").or_else(|| text.strip_suffix(b"=")).unwrap_or(text);
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for &c in data {
        let value = ALPHABET.iter().position(|&a| a == c)?;
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    // Re-encoding catches non-zero padding bits and padding in the wrong place.
    let mut encoded = Vec::with_capacity(text.len());
    for chunk in out.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            encoded.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i)) as usize & 63] } else { b'=' });
        }
    }
    (encoded == text).then_some(out)
}

fn check_refusal(request: &Request<()>, e: &HandshakeError) {
    let status = e.status();
    assert!(matches!(status.as_u16(), 400 | 405 | 426), "{e:?} answers {status}");
    assert_eq!(status == StatusCode::METHOD_NOT_ALLOWED, request.method() != Method::GET);
    let message = e.to_string();
    assert!(!message.starts_with(|c: char| c.is_ascii_uppercase()), "Display is not lowercase: {message}");
    let response = handshake::error_response(status, e.headers(), &message);
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&response) else {
        panic!("error response is not a complete HTTP head: {:?}", String::from_utf8_lossy(&response));
    };
    assert_eq!(parsed.code, Some(status.as_u16()));
    let content_length = header(parsed.headers, CONTENT_LENGTH.as_str()).expect("no Content-Length");
    assert_eq!(content_length, (response.len() - head_len).to_string().as_bytes());
    for (name, value) in e.headers() {
        assert_eq!(header(parsed.headers, name), Some(value.as_bytes()), "{e:?} without its {name} header");
    }
    match status.as_u16() {
        405 => assert_eq!(header(parsed.headers, "allow"), Some(&b"GET"[..])),
        426 => assert_eq!(header(parsed.headers, "sec-websocket-version"), Some(&b"13"[..])),
        _ => {}
    }
}

fn check_switching_protocols(accepted: &Accepted) {
    let response = handshake::switching_protocols(accepted);
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut parsed = httparse::Response::new(&mut headers);
    assert_eq!(
        parsed.parse(&response),
        Ok(httparse::Status::Complete(response.len())),
        "101 is not one head"
    );
    assert_eq!(parsed.code, Some(101));
    let expected = [
        (UPGRADE, Some("websocket")),
        (CONNECTION, Some("Upgrade")),
        (SEC_WEBSOCKET_ACCEPT, Some(accepted.accept_key.as_str())),
        (SEC_WEBSOCKET_PROTOCOL, accepted.protocol.as_deref()),
        (SEC_WEBSOCKET_EXTENSIONS, accepted.extensions.as_deref()),
    ];
    for (name, value) in &expected {
        assert_eq!(header(parsed.headers, name.as_str()), value.map(str::as_bytes), "101 {name}");
    }
    assert_eq!(parsed.headers.len(), expected.iter().filter(|(_, v)| v.is_some()).count());
}

/// The value of the only header called `name` (ASCII case-insensitive) in a parsed response.
fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    let mut values = headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
    let value = values.next()?.value;
    assert!(values.next().is_none(), "{name} appears twice");
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode(b"dGhlIHNhbXBsZSBub25jZQ==").as_deref(), Some(&b"the sample nonce"[..]));
        assert_eq!(base64_decode(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").map(|k| k.len()), Some(20));
        assert_eq!(base64_decode(b"").as_deref(), Some(&b""[..]));
        for bad in [
            &b"dGhlIHNhbXBsZSBub25jZR=="[..],
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhl=HNh",
            b"dGhlIHNhbXBsZSBub25j*Q==",
        ] {
            assert_eq!(base64_decode(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}

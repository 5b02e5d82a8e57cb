//! The server side of the opening handshake (RFC 6455 §4.2).

use std::fmt::Write as _;

use http::{HeaderMap, Method, Request, StatusCode, header};

use crate::body::{write_content_length, write_fields, write_status_line};

/// Why an upgrade request was refused; [`HandshakeError::status`] and
/// [`HandshakeError::headers`] are the response to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The upgrade request is not a GET.
    #[error("websocket upgrade must use GET, not {0}")]
    Method(Method),
    /// A plain HTTP request to a WebSocket-only endpoint.
    #[error("this endpoint only speaks websocket: send an upgrade request")]
    NotUpgrade,
    /// No `Upgrade: websocket` token.
    #[error("missing or invalid Upgrade header: expected websocket")]
    UpgradeHeader,
    /// No `upgrade` token in `Connection`.
    #[error("missing or invalid Connection header: expected upgrade")]
    ConnectionHeader,
    /// No `Host` header (required by HTTP/1.1 and RFC 6455).
    #[error("missing Host header")]
    Host,
    /// `Sec-WebSocket-Version` absent or repeated.
    #[error("missing Sec-WebSocket-Version header")]
    MissingVersion,
    /// A version other than 13.
    #[error("unsupported websocket version: only 13 is supported")]
    Version,
    /// The request is not HTTP/1.1 (RFC 6455 §4.2.1: an HTTP/1.1 or higher GET).
    #[error("a websocket upgrade needs HTTP/1.1")]
    HttpVersion,
    /// `Sec-WebSocket-Key` absent, repeated, or not 16 bytes in base64.
    #[error("missing or invalid Sec-WebSocket-Key: expected 16 bytes in base64")]
    Key,
    /// Strict sub-protocol checking found no protocol both sides speak.
    #[error("no offered sub-protocol is supported")]
    SubProtocol,
}

impl HandshakeError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotUpgrade | Self::Version => StatusCode::UPGRADE_REQUIRED,
            Self::HttpVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Headers the response must carry besides the usual ones.
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Method(_) => &[("Allow", "GET")],
            Self::NotUpgrade => &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")],
            Self::Version => &[("Sec-WebSocket-Version", "13")],
            _ => &[],
        }
    }
}

/// A valid upgrade request: what the 101 response must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `Sec-WebSocket-Accept`.
    pub accept_key: String,
    /// The negotiated sub-protocol, if any.
    pub protocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` response value, if an extension was agreed (set by the
    /// caller after [`negotiate`](crate::deflate::negotiate)).
    pub extensions: Option<String>,
}

/// Validates an upgrade request and negotiates a sub-protocol.
///
/// The chosen sub-protocol is the first one the client offers that `supported` contains. With
/// `strict`, a client that offers sub-protocols none of which is supported is refused (400);
/// otherwise the connection proceeds without one, as browsers then decide for themselves.
pub fn accept<B>(req: &Request<B>, supported: &[&str], strict: bool) -> Result<Accepted, HandshakeError> {
    let headers = req.headers();
    let wants_upgrade = headers.contains_key(header::UPGRADE)
        || headers.contains_key(header::SEC_WEBSOCKET_KEY)
        || headers.contains_key(header::SEC_WEBSOCKET_VERSION);
    if req.method() != Method::GET {
        return Err(HandshakeError::Method(req.method().clone()));
    }
    if !wants_upgrade {
        return Err(HandshakeError::NotUpgrade);
    }
    if req.version() != http::Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion);
    }
    if !has_token(headers, &header::UPGRADE, "websocket") {
        return Err(HandshakeError::UpgradeHeader);
    }
    if !has_token(headers, &header::CONNECTION, "upgrade") {
        return Err(HandshakeError::ConnectionHeader);
    }
    if !headers.contains_key(header::HOST) {
        return Err(HandshakeError::Host);
    }
    let mut versions = headers.get_all(header::SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes() == b"13" => {}
        (Some(_), None) => return Err(HandshakeError::Version),
        _ => return Err(HandshakeError::MissingVersion),
    }
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) if is_valid_key(key.as_bytes()) => key.as_bytes(),
        _ => return Err(HandshakeError::Key),
    };
    let protocol = negotiate(headers, supported);
    if strict && protocol.is_none() && headers.contains_key(header::SEC_WEBSOCKET_PROTOCOL) {
        return Err(HandshakeError::SubProtocol);
    }
    Ok(Accepted { accept_key: tungstenite::handshake::derive_accept_key(key), protocol, extensions: None })
}

/// The 101 response for an accepted upgrade.
pub fn switching_protocols(accepted: &Accepted) -> Vec<u8> {
    let mut out = String::with_capacity(160);
    out.push_str("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    let _ = write!(out, "Sec-WebSocket-Accept: {}\r\n", accepted.accept_key);
    if let Some(protocol) = &accepted.protocol {
        let _ = write!(out, "Sec-WebSocket-Protocol: {protocol}\r\n");
    }
    if let Some(extensions) = &accepted.extensions {
        let _ = write!(out, "Sec-WebSocket-Extensions: {extensions}\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A complete error response that closes the connection: status line, `Connection: close`, a
/// plain-text body saying what was wrong, and any `extra` headers.
pub fn error_response(status: StatusCode, extra: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + body.len());
    write_status_line(status, &mut out);
    out.extend_from_slice(b"Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n");
    write_content_length(body.len() as u64 + 1, &mut out);
    for (name, value) in extra {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out.push(b'\n');
    out
}

/// A complete response that closes the connection: status line, `headers` (any
/// `Connection` or `Transfer-Encoding` among them are dropped), then `body`. `Content-Length`
/// is the body's length, except that an empty body keeps a `Content-Length` given in
/// `headers` (the answer to a HEAD request).
pub fn response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let length = match headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()) {
        Some(length) if body.is_empty() && length.bytes().all(|b| b.is_ascii_digit()) => length.to_owned(),
        _ => body.len().to_string(),
    };
    let mut out = Vec::with_capacity(128 + body.len());
    write_status_line(status, &mut out);
    out.extend_from_slice(b"Connection: close\r\nContent-Length: ");
    out.extend_from_slice(length.as_bytes());
    out.extend_from_slice(b"\r\n");
    write_fields(headers, &[header::CONTENT_LENGTH, header::CONNECTION, header::TRANSFER_ENCODING], &mut out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Whether any of the comma-separated values of header `name` is `token` (ASCII case-insensitive).
fn has_token(headers: &HeaderMap, name: &header::HeaderName, token: &str) -> bool {
    tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

fn tokens<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn negotiate(headers: &HeaderMap, supported: &[&str]) -> Option<String> {
    tokens(headers, &header::SEC_WEBSOCKET_PROTOCOL)
        .find(|offered| supported.contains(offered))
        .map(str::to_owned)
}

/// A key is 16 random bytes in base64: 22 significant characters and `==`.
fn is_valid_key(key: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if key.len() != 24 || &key[22..] != b"==" {
        return false;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c);
    if !key[..22].iter().all(|&c| value(c).is_some()) {
        return false;
    }
    // The last significant character carries 2 bits of data; its low 4 bits must be zero.
    value(key[21]).is_some_and(|v| v.trailing_zeros() >= 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri("/chat");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    const GOOD: &[(&str, &str)] = &[
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];

    fn with(replace: &str, value: Option<&str>) -> Vec<(&'static str, String)> {
        GOOD.iter()
            .filter_map(|(n, v)| {
                if n.eq_ignore_ascii_case(replace) {
                    value.map(|value| (*n, value.to_owned()))
                } else {
                    Some((*n, (*v).to_owned()))
                }
            })
            .collect()
    }

    fn check(headers: &[(&'static str, String)]) -> Result<Accepted, HandshakeError> {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        accept(&request("GET", &pairs), &[], false)
    }

    #[test]
    fn rfc_sample_key_gives_the_rfc_accept_value() {
        let accepted = accept(&request("GET", GOOD), &[], false).unwrap();
        assert_eq!(accepted.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let response = String::from_utf8(switching_protocols(&accepted)).unwrap();
        assert_eq!(
            response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
    }

    #[test]
    fn tokens_are_case_insensitive_and_may_be_lists() {
        assert!(check(&with("Connection", Some("keep-alive, UPGRADE"))).is_ok());
        assert!(check(&with("Upgrade", Some("WebSocket"))).is_ok());
    }

    #[test]
    fn each_defect_has_its_status() {
        let cases: Vec<(Vec<(&'static str, String)>, HandshakeError)> = vec![
            (with("Upgrade", Some("h2c")), HandshakeError::UpgradeHeader),
            (with("Upgrade", None), HandshakeError::UpgradeHeader),
            (with("Connection", Some("keep-alive")), HandshakeError::ConnectionHeader),
            (with("Host", None), HandshakeError::Host),
            (with("Sec-WebSocket-Version", Some("8")), HandshakeError::Version),
            (with("Sec-WebSocket-Version", None), HandshakeError::MissingVersion),
            (with("Sec-WebSocket-Key", None), HandshakeError::Key),
            (with("Sec-WebSocket-Key", Some("short")), HandshakeError::Key),
            (with("Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25jZR==")), HandshakeError::Key),
            (with("Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25j*Q==")), HandshakeError::Key),
        ];
        for (headers, expected) in cases {
            assert_eq!(check(&headers), Err(expected.clone()), "{headers:?}");
        }
        assert_eq!(HandshakeError::Version.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(HandshakeError::Version.headers(), &[("Sec-WebSocket-Version", "13")]);
        assert_eq!(HandshakeError::Key.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn post_is_405_and_a_plain_get_is_426() {
        let err = accept(&request("POST", GOOD), &[], false).unwrap_err();
        assert_eq!((err.status(), err.headers()), (StatusCode::METHOD_NOT_ALLOWED, &[("Allow", "GET")][..]));
        let err = accept(&request("GET", &[("Host", "x")]), &[], false).unwrap_err();
        assert_eq!(err, HandshakeError::NotUpgrade);
        assert_eq!(err.status(), StatusCode::UPGRADE_REQUIRED);
        assert!(err.headers().contains(&("Upgrade", "websocket")));
    }

    #[test]
    fn sub_protocol_is_the_first_offered_that_is_supported() {
        let mut headers = GOOD.to_vec();
        headers.push(("Sec-WebSocket-Protocol", "wamp, chat.v2"));
        headers.push(("Sec-WebSocket-Protocol", "chat.v1"));
        let req = request("GET", &headers);
        let accepted = accept(&req, &["chat.v1", "chat.v2"], false).unwrap();
        assert_eq!(accepted.protocol.as_deref(), Some("chat.v2"));
        assert!(
            String::from_utf8(switching_protocols(&accepted))
                .unwrap()
                .contains("\r\nSec-WebSocket-Protocol: chat.v2\r\n")
        );
        // No match: lenient proceeds without one, strict refuses.
        assert_eq!(accept(&req, &["other"], false).unwrap().protocol, None);
        assert_eq!(accept(&req, &["other"], true), Err(HandshakeError::SubProtocol));
        // Strict mode does not refuse clients that offer nothing.
        assert!(accept(&request("GET", GOOD), &["other"], true).is_ok());
    }

    #[test]
    fn plain_responses_set_their_own_framing_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "text/html".parse().unwrap());
        headers.insert(header::CONTENT_LENGTH, "999".parse().unwrap());
        let bytes = response(StatusCode::OK, &headers, b"<p>hi</p>");
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 9\r\ncontent-type: text/html\r\n\r\n<p>hi</p>"
        );
    }

    #[test]
    fn error_responses_are_complete_http() {
        let bytes =
            error_response(StatusCode::UPGRADE_REQUIRED, &[("Sec-WebSocket-Version", "13")], "bad version");
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\nSec-WebSocket-Version: 13\r\n\r\nbad version\n"
        );
    }
}

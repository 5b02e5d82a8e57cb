//! Responses windlass builds itself (refusals, errors) and the writing of responses.

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use super::body::Body;

/// A plain-text response: `body` and a newline.
pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut text = String::with_capacity(body.len() + 1);
    text.push_str(body);
    text.push('\n');
    let mut response = Response::new(Body::from(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// A refusal: a plain-text explanation, `extra` headers, and the connection closed after it.
pub(crate) fn refusal(status: StatusCode, extra: &[(&str, &str)], body: &str) -> Response<Body> {
    let mut response = text(status, body);
    for (name, value) in extra {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
        {
            response.headers_mut().append(name, value);
        }
    }
    closing(response)
}

/// Marks a response as the connection's last.
pub(crate) fn closing(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Whether a response (or request) says `Connection: close`.
pub(crate) fn says_close(headers: &http::HeaderMap) -> bool {
    connection_has(headers, "close")
}

/// Whether `Connection` lists `token` (ASCII case-insensitive).
pub(crate) fn connection_has(headers: &http::HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

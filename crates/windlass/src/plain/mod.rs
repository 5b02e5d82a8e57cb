//! Plain HTTP answers beside the WebSocket on the same port: a page, a file, a health check.
//! Not a web framework; enough to ship a page with its socket.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::http_server::{Body, HttpComponent};

/// Answers every GET (and HEAD) with the same bytes and content type; other methods get 405.
///
/// ```
/// use windlass::{HttpServer, Router, StaticResponse, Health};
///
/// let page = StaticResponse::new("text/html; charset=utf-8", "<!doctype html><p>hello</p>");
/// let app = HttpServer::new(Router::new().route("/", page).route("/health", Health));
/// ```
#[derive(Clone, Debug)]
pub struct StaticResponse {
    content_type: HeaderValue,
    body: Bytes,
}

impl StaticResponse {
    /// Serves `body` as `content_type`.
    ///
    /// # Panics
    ///
    /// If `content_type` is not a valid header value.
    pub fn new(content_type: &str, body: impl Into<Bytes>) -> Self {
        let content_type =
            HeaderValue::from_str(content_type).expect("content type must be a valid header value");
        Self { content_type, body: body.into() }
    }

    /// Serves the file at `path`, read once now, with the content type its extension implies
    /// (`application/octet-stream` when unknown).
    pub fn file(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        let body = std::fs::read(path)?;
        Ok(Self::new(content_type_for(path), body))
    }
}

/// The content type for a file name's extension.
pub(crate) fn content_type_for(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("wasm") => "application/wasm",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Answers GET and HEAD with `body` (the server leaves the body out for HEAD), anything else
/// with 405.
pub(crate) fn answer<B>(request: &Request<B>, content_type: HeaderValue, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    if request.method() == Method::GET || request.method() == Method::HEAD {
        *response.body_mut() = Body::from(body);
        response.headers_mut().insert(CONTENT_TYPE, content_type);
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    } else {
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}

#[async_trait]
impl HttpComponent for StaticResponse {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        answer(&request, self.content_type.clone(), self.body.clone())
    }
}

/// A liveness check: `200 OK` with body `ok` to GET and HEAD.
#[derive(Clone, Copy, Debug, Default)]
pub struct Health;

#[async_trait]
impl HttpComponent for Health {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        let ok = Bytes::from_static(b"ok\n");
        answer(&request, HeaderValue::from_static("text/plain; charset=utf-8"), ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type_for(Path::new("www/index.HTML")), "text/html; charset=utf-8");
        assert_eq!(content_type_for(Path::new("app.js")), "text/javascript; charset=utf-8");
        assert_eq!(content_type_for(Path::new("logo.svg")), "image/svg+xml");
        assert_eq!(content_type_for(Path::new("LICENSE")), "application/octet-stream");
    }
}

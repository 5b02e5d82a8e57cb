//! `HttpServer`: HTTP/1.1 on each connection (Ratchet's `HttpServer`), answering requests
//! through an [`HttpComponent`] until the connection closes or a component upgrades it.

mod body;
pub(crate) mod conn;
mod date;
pub(crate) mod response;
mod upgrade;

use std::time::Duration;

use async_trait::async_trait;
use http::{Request, Response};
use windlass_proto::{BodyLimits, HeadLimits};

pub use body::{Body, BodyError};
pub use upgrade::ConnectionInfo;
pub(crate) use upgrade::{OnUpgrade, Upgraded};

use crate::io_server::{IoComponent, IoConnection};

/// What an [`HttpServer`] hands each request to (Ratchet's `HttpServerInterface`): a request
/// comes in, a response goes out.
///
/// The request's extensions hold its [`ConnectionInfo`] (id, peer address); its body is read
/// as the component asks for it. A component may hold its answer back (await data before
/// answering, as a long-polling endpoint does); if the client goes away meanwhile, the
/// future is dropped. [`WsServer`](crate::WsServer) implements this trait by answering 101 and
/// taking the connection over; [`Router`](crate::Router) and the decorators implement it by
/// passing requests on; [`ServiceComponent`](crate::ServiceComponent) serves any tower
/// `Service`.
///
/// ```
/// use windlass::{Body, HttpComponent};
/// use windlass::http::{Request, Response};
///
/// struct Upper;
///
/// #[windlass::async_trait]
/// impl HttpComponent for Upper {
///     async fn on_request(&self, request: Request<Body>) -> Response<Body> {
///         match request.into_body().bytes().await {
///             Ok(bytes) => Response::new(Body::from(bytes.to_ascii_uppercase())),
///             Err(e) => e.into_response(),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait HttpComponent: Send + Sync + 'static {
    /// Answers one request.
    async fn on_request(&self, request: Request<Body>) -> Response<Body>;
}

#[async_trait]
impl<H: HttpComponent + ?Sized> HttpComponent for std::sync::Arc<H> {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        (**self).on_request(request).await
    }
}

/// HTTP/1.1 settings of an [`HttpServer`]. Every field has a default chosen for a public
/// server; `HttpServer` has a builder method for each.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Request head limits: 8 KiB and 64 fields by default; past them 431.
    pub head: HeadLimits,
    /// Request body limits: 1 MiB by default; past it 413 (before reading, when
    /// `Content-Length` says so).
    pub body: BodyLimits,
    /// How long a client has to send a whole request head once it has started one (from
    /// accept for the first request). Default 10 s; then 408.
    pub head_timeout: Duration,
    /// How long a handler waiting for body bytes waits before the body fails with 408.
    /// Default 10 s.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests before it is closed.
    /// Default 60 s.
    pub keep_alive_timeout: Duration,
    /// Requests served on one connection before it is closed (`Connection: close` on the
    /// last answer), so long-lived clients spread over restarted or added servers. Default
    /// 1,000.
    pub max_requests_per_connection: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            head: HeadLimits::default(),
            body: BodyLimits::default(),
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_requests_per_connection: 1_000,
        }
    }
}

/// Serves HTTP/1.1 on each connection and passes each request to `H` (Ratchet's
/// `HttpServer`).
///
/// Connections are kept alive between requests; pipelined requests are answered in order.
/// Request bodies come with `Content-Length` or chunked, under a size limit; `Expect:
/// 100-continue` is answered when the handler first reads the body. Bad input gets a status
/// and the connection is closed: a malformed head or a smuggling shape (`Content-Length` with
/// `Transfer-Encoding`, repeated or malformed lengths, bad chunk sizes) 400, a head over
/// `max_head_bytes` or with more than `max_headers` fields 431, a body over the limit 413, a
/// version other than HTTP/1.1 505, a head or body that does not arrive in time 408, a
/// transfer coding other than chunked 501. At `max_connections` the refusal is a 503.
#[derive(Debug, Clone)]
pub struct HttpServer<H> {
    inner: H,
    config: HttpConfig,
}

impl<H> HttpServer<H> {
    /// Wraps `inner` with the default [`HttpConfig`].
    pub fn new(inner: H) -> Self {
        Self { inner, config: HttpConfig::default() }
    }

    /// Wraps `inner` with `config`.
    pub fn with_config(inner: H, config: HttpConfig) -> Self {
        Self { inner, config }
    }

    /// The settings.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Largest request head in bytes (default 8 KiB).
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.config.head.max_head_bytes = bytes;
        self
    }

    /// Most header fields (default 64).
    pub fn max_headers(mut self, count: usize) -> Self {
        self.config.head.max_headers = count;
        self
    }

    /// Largest request body in bytes (default 1 MiB).
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.config.body.max_body_bytes = bytes;
        self
    }

    /// How long a client has to send a whole request head (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.head_timeout = timeout;
        self
    }

    /// How long a handler waits for more of a request body (default 10 s).
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config.body_timeout = timeout;
        self
    }

    /// How long an idle keep-alive connection is kept (default 60 s).
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.config.keep_alive_timeout = timeout;
        self
    }

    /// Requests served per connection (default 1,000).
    pub fn max_requests_per_connection(mut self, count: u64) -> Self {
        self.config.max_requests_per_connection = count;
        self
    }

    /// The wrapped component.
    pub fn get_ref(&self) -> &H {
        &self.inner
    }

    /// The wrapped component, mutable.
    pub fn get_mut(&mut self) -> &mut H {
        &mut self.inner
    }

    /// Unwraps the component.
    pub fn into_inner(self) -> H {
        self.inner
    }
}

#[async_trait]
impl<H: HttpComponent> IoComponent for HttpServer<H> {
    async fn on_connection(&self, conn: IoConnection) {
        conn::serve(&self.inner, &self.config, conn).await;
    }

    fn refusal(&self) -> &'static [u8] {
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
    }
}

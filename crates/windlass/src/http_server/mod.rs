//! `HttpServer`: reads one HTTP/1.1 request head and hands it on (Ratchet's `HttpServer`).

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use http::{Request, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::OwnedSemaphorePermit;
use windlass_proto::handshake::error_response;
use windlass_proto::head::parse_request_head;
use windlass_proto::{HeadError, HeadLimits};

use crate::connection::ConnectionId;
use crate::io_server::{IoComponent, IoConnection, ServerContext, Socket};

/// What an [`HttpServer`] hands a parsed request to (Ratchet's `HttpServerInterface`).
///
/// [`WsServer`](crate::WsServer) implements it.
#[async_trait]
pub trait HttpComponent: Send + Sync + 'static {
    /// Answers one request. `conn` holds the socket and any bytes the client sent after the
    /// head (for a WebSocket, its first frames).
    async fn on_request(&self, request: Request<()>, conn: HttpConnection);
}

/// A connection whose request head has been read.
#[derive(Debug)]
pub struct HttpConnection {
    pub(crate) socket: Socket,
    /// Bytes read past the end of the head; they belong to the next layer.
    pub(crate) buffered: BytesMut,
    pub(crate) id: ConnectionId,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) server: ServerContext,
    /// The request was `HEAD`: answers carry the headers a `GET` would get and no body
    /// (RFC 9110 §9.3.2).
    pub(crate) head_only: bool,
    pub(crate) permit: OwnedSemaphorePermit,
}

impl HttpConnection {
    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// Bytes received after the request head.
    pub fn buffered(&self) -> &[u8] {
        &self.buffered
    }

    /// Answers with `response` (sent with `Content-Length` and `Connection: close`), then
    /// closes the connection. For plain HTTP routes beside a WebSocket: a page, a health check.
    ///
    /// To a `HEAD` request only the head goes out, with the `Content-Length` of `body`.
    pub async fn respond(self, response: http::Response<bytes::Bytes>) {
        let (parts, body) = response.into_parts();
        let mut bytes = windlass_proto::handshake::response(parts.status, &parts.headers, &body);
        if self.head_only {
            bytes.truncate(bytes.len() - body.len());
        }
        respond_and_close(self.socket, parts.status, &bytes).await;
    }

    /// Answers with an error status, a plain-text `body` and `headers`, then closes the
    /// connection.
    ///
    /// To a `HEAD` request only the head goes out.
    pub async fn respond_error(self, status: StatusCode, headers: &[(&str, &str)], body: &str) {
        let mut bytes = error_response(status, headers, body);
        if self.head_only {
            // The body is `body` and a newline.
            bytes.truncate(bytes.len() - body.len() - 1);
        }
        respond_and_close(self.socket, status, &bytes).await;
    }
}

/// Writes a final response, sends FIN, and reads (and discards) until the client closes, so
/// the response is not destroyed by a reset while the client is still sending. Bounded in
/// time and bytes.
///
/// Every answer short of an upgrade goes through here, so this is where they are counted
/// (`windlass_handshakes_total{status}`; the 101 is counted by `WsServer`).
pub(crate) async fn respond_and_close(mut socket: Socket, status: StatusCode, response: &[u8]) {
    crate::metrics::handshake(status);
    let written = async {
        socket.write_all(response).await?;
        socket.shutdown().await
    };
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(2), written).await {
        socket.linger(Duration::from_secs(2)).await;
    }
}

/// Parses the request head of each connection and passes it to `H` (Ratchet's `HttpServer`).
///
/// Bad input gets a status and the connection is closed: a malformed head 400, a head over
/// `max_head_bytes` or with more than `max_headers` fields 431, a version other than HTTP/1.1
/// 505, and a head that does not arrive within the handshake timeout 408. At
/// `max_connections` the refusal is a 503.
#[derive(Debug, Clone)]
pub struct HttpServer<H> {
    inner: H,
    limits: HeadLimits,
    handshake_timeout: Duration,
}

impl<H> HttpServer<H> {
    /// Wraps `inner` with the default limits: 8 KiB heads, 64 header fields, 10 s to send the
    /// head.
    pub fn new(inner: H) -> Self {
        Self { inner, limits: HeadLimits::default(), handshake_timeout: Duration::from_secs(10) }
    }

    /// Largest request head in bytes (default 8 KiB).
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_head_bytes = bytes;
        self
    }

    /// Most header fields (default 64).
    pub fn max_headers(mut self, count: usize) -> Self {
        self.limits.max_headers = count;
        self
    }

    /// How long a client has to send its whole request head (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
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

enum HeadOutcome {
    Request(Box<Request<()>>, BytesMut),
    Refused(HeadError),
    /// The peer left, or the server is shutting down: nothing to answer.
    Gone,
}

impl<H: HttpComponent> HttpServer<H> {
    async fn read_head(&self, socket: &mut Socket) -> HeadOutcome {
        let mut buf = BytesMut::with_capacity(1024);
        loop {
            if !buf.is_empty() {
                match parse_request_head(&buf, &self.limits) {
                    Ok(Some((request, head_len))) => {
                        let _ = buf.split_to(head_len);
                        return HeadOutcome::Request(Box::new(request), buf);
                    }
                    Ok(None) => {}
                    Err(e) => return HeadOutcome::Refused(e),
                }
            }
            if buf.capacity() - buf.len() < 512 {
                buf.reserve(1024);
            }
            match socket.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return HeadOutcome::Gone,
                Ok(_) => {}
            }
        }
    }
}

#[async_trait]
impl<H: HttpComponent> IoComponent for HttpServer<H> {
    async fn on_connection(&self, conn: IoConnection) {
        let IoConnection { mut socket, id, remote_addr, server, permit } = conn;
        // Boxed: reading the head takes a timer, a shutdown listener and a buffer, which would
        // otherwise stay in this future for as long as the connection lasts.
        let outcome = Box::pin(async {
            tokio::select! {
                outcome = tokio::time::timeout(self.handshake_timeout, self.read_head(&mut socket)) => {
                    outcome.unwrap_or(HeadOutcome::Refused(HeadError::Timeout))
                }
                () = server.shutdown.cancelled() => HeadOutcome::Gone,
            }
        })
        .await;
        match outcome {
            HeadOutcome::Request(request, buffered) => {
                tracing::debug!(method = %request.method(), uri = %request.uri(), "request");
                let head_only = request.method() == http::Method::HEAD;
                let conn = HttpConnection { socket, buffered, id, remote_addr, server, head_only, permit };
                self.inner.on_request(*request, conn).await;
            }
            HeadOutcome::Refused(e) => {
                tracing::debug!(error = %e, status = e.status().as_u16(), "bad request head");
                respond_and_close(socket, e.status(), &error_response(e.status(), &[], &e.to_string())).await;
            }
            HeadOutcome::Gone => {}
        }
    }

    fn refusal(&self) -> &'static [u8] {
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
    }
}

//! `WsServer`: the RFC 6455 handshake and framing around a [`MessageComponent`] (Ratchet's
//! `WsServer`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::BytesMut;
use http::header::{
    CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use http::{Request, Response, StatusCode};
use windlass_proto::Accepted;
use windlass_proto::deflate::{DeflateConfig, DeflateParams, negotiate};
use windlass_proto::handshake::{accept, switching_protocols};
use windlass_proto::{DecoderConfig, WsDecoder};

use crate::component::MessageComponent;
use crate::http_server::response::refusal;
use crate::http_server::{Body, ConnectionInfo, HttpComponent, OnUpgrade, Upgraded};
use crate::io_server::{ServerContext, Socket};
use crate::session::{Connection, DEFAULT_SEND_QUEUE, Outgoing, QueueConfig, Shared, SlowConsumer, WireKind};
use crate::transport::{Driver, Timing, Wire};

/// WebSocket settings. Every field has a default chosen for a public server with many
/// connections; [`WsServer`] has a builder method for each.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WsConfig {
    /// Largest frame payload; bigger frames close the connection with 1009. Default 1 MiB.
    pub max_frame_size: usize,
    /// Largest message after joining fragments; bigger ones close with 1009 as soon as a frame
    /// header shows the limit would be passed. Default 1 MiB.
    pub max_message_size: usize,
    /// Ping a peer that has been silent this long (`None`: never). Default 30 s.
    pub keep_alive_interval: Option<Duration>,
    /// After a keep-alive ping, how long the peer has to send anything before it is presumed
    /// dead and dropped (1006). Default 30 s.
    pub keep_alive_timeout: Duration,
    /// How long to wait for the peer's close frame after ours, or for the peer to take our
    /// last bytes. Default 5 s.
    pub close_timeout: Duration,
    /// Refuse (400) clients whose offered sub-protocols are all unsupported. Default off, as
    /// browsers handle a missing `Sec-WebSocket-Protocol` themselves.
    pub strict_sub_protocols: bool,
    /// Bytes that may wait in one connection's send queue before the slow-consumer policy
    /// applies. Default 4 MiB.
    pub max_send_queue: usize,
    /// What to do with a peer that reads too slowly. Default: close it with 1008.
    pub slow_consumer: SlowConsumer,
    /// Offer permessage-deflate (RFC 7692) with these limits. Default `None`: compression
    /// costs CPU and, with context takeover, about 300 KiB per connection that uses it.
    pub deflate: Option<DeflateConfig>,
    /// Keep the upgrade request for [`Connection::request`] after `on_open`. Default off: the
    /// request head is about a kilobyte per connection; read what you need in `on_open`.
    pub keep_request: bool,
}

impl Default for WsConfig {
    fn default() -> Self {
        let decoder = DecoderConfig::default();
        Self {
            max_frame_size: decoder.max_frame_size,
            max_message_size: decoder.max_message_size,
            keep_alive_interval: Some(Duration::from_secs(30)),
            keep_alive_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            strict_sub_protocols: false,
            max_send_queue: DEFAULT_SEND_QUEUE,
            slow_consumer: SlowConsumer::Close,
            deflate: None,
            keep_request: false,
        }
    }
}

/// Runs the WebSocket protocol for a [`MessageComponent`] (Ratchet's `WsServer`).
///
/// Handshake refusals: a non-GET upgrade 405 (with `Allow: GET`), a plain HTTP request 426
/// (with `Upgrade: websocket`), a version other than 13 426 (with `Sec-WebSocket-Version: 13`),
/// anything else wrong 400.
#[derive(Debug, Clone)]
pub struct WsServer<C> {
    /// Shared with each connection's task.
    component: Arc<C>,
    config: WsConfig,
    /// Registry and task tracker for connections upgraded by another server (axum).
    detached: Arc<OnceLock<ServerContext>>,
}

impl<C> WsServer<C> {
    /// Wraps `component` with the default [`WsConfig`].
    pub fn new(component: C) -> Self {
        Self::with_config(component, WsConfig::default())
    }

    /// Wraps `component` with `config`.
    pub fn with_config(component: C, config: WsConfig) -> Self {
        Self { component: Arc::new(component), config, detached: Arc::default() }
    }

    /// The settings.
    pub fn config(&self) -> &WsConfig {
        &self.config
    }

    /// Largest frame payload (default 1 MiB).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.config.max_frame_size = bytes;
        self
    }

    /// Largest message (default 1 MiB). Sets the frame limit to the same value, since a
    /// frame is at most a message; call [`max_frame_size`](Self::max_frame_size) afterwards to
    /// set it lower.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self.config.max_frame_size = bytes;
        self
    }

    /// Ping a silent peer every `interval`, and drop it if it stays silent for the keep-alive
    /// timeout after a ping (Ratchet's `enableKeepAlive`).
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.config.keep_alive_interval = Some(interval);
        self
    }

    /// How long a pinged peer has to answer (default 30 s).
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.config.keep_alive_timeout = timeout;
        self
    }

    /// Never ping.
    pub fn no_keep_alive(mut self) -> Self {
        self.config.keep_alive_interval = None;
        self
    }

    /// How long to wait for the close handshake to finish (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// Refuse clients whose sub-protocols are all unsupported (Ratchet's
    /// `setStrictSubProtocolCheck`; default off).
    pub fn strict_sub_protocols(mut self, strict: bool) -> Self {
        self.config.strict_sub_protocols = strict;
        self
    }

    /// Send-queue limit per connection in bytes (default 4 MiB).
    pub fn max_send_queue(mut self, bytes: usize) -> Self {
        self.config.max_send_queue = bytes;
        self
    }

    /// The slow-consumer policy (default [`SlowConsumer::Close`]).
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.config.slow_consumer = policy;
        self
    }

    /// Agree permessage-deflate with clients that offer it (RFC 7692). See [`DeflateConfig`]
    /// for the parameters; `DeflateConfig::default()` suits most servers, and
    /// `server_no_context_takeover` + `client_no_context_takeover` suit servers with many
    /// connections (no compressor is kept per connection, and a broadcast is compressed once).
    pub fn deflate(mut self, config: DeflateConfig) -> Self {
        self.config.deflate = Some(config);
        self
    }

    /// Keeps the upgrade request for [`Connection::request`] after `on_open` (Ratchet keeps
    /// it for the connection's life). Off by default: read what you need in `on_open`.
    pub fn keep_request(mut self, keep: bool) -> Self {
        self.config.keep_request = keep;
        self
    }

    /// The wrapped component.
    pub fn get_ref(&self) -> &C {
        &self.component
    }

    /// The wrapped component, mutable while no connection is using it.
    pub fn get_mut(&mut self) -> Option<&mut C> {
        Arc::get_mut(&mut self.component)
    }

    /// Unwraps the component, shared with the connections that may still be running.
    pub fn into_inner(self) -> Arc<C> {
        self.component
    }
}

#[async_trait]
impl<C: MessageComponent> HttpComponent for WsServer<C> {
    async fn on_request(&self, mut request: Request<Body>) -> Response<Body> {
        let supported = self.component.sub_protocols();
        let mut accepted = match accept(&request, supported, self.config.strict_sub_protocols) {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, status = e.status().as_u16(), "handshake refused");
                return refusal(e.status(), e.headers(), &e.to_string());
            }
        };
        let agreement = self.config.deflate.as_ref().and_then(|config| {
            let offers =
                request.headers().get_all(SEC_WEBSOCKET_EXTENSIONS).iter().filter_map(|v| v.to_str().ok());
            negotiate(offers, config)
        });
        accepted.extensions = agreement.as_ref().map(|a| a.response.clone());
        let deflate = agreement.map(|a| a.params);
        let component = Arc::clone(&self.component);
        let config = self.config.clone();
        let own_server = request.extensions().get::<ConnectionInfo>().is_some_and(|info| info.own_server);
        if !own_server {
            // Mounted in another server (axum): upgrade through hyper's own upgrade.
            let Some(on_upgrade) = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
                tracing::warn!("WebSocket request with no connection to upgrade");
                return refusal(StatusCode::INTERNAL_SERVER_ERROR, &[], "no connection to upgrade");
            };
            let info = request
                .extensions()
                .get::<ConnectionInfo>()
                .copied()
                .unwrap_or_else(|| ConnectionInfo::for_remote_addr(SocketAddr::from(([0, 0, 0, 0], 0))));
            let server = self.detached.get_or_init(ServerContext::detached).clone();
            let response = switching_response(&accepted);
            let request = request.map(|_| ());
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(upgraded) => {
                        let socket = Socket::foreign(upgraded);
                        let upgraded = Upgraded { socket, buffered: BytesMut::new(), server, permit: None };
                        run(
                            component,
                            &config,
                            request,
                            info,
                            accepted.protocol,
                            deflate,
                            Bytes::new(),
                            upgraded,
                        )
                        .await;
                    }
                    Err(e) => tracing::debug!(error = %e, "upgrade failed"),
                }
            });
            return response;
        }
        let Some(info) = request.extensions().get::<ConnectionInfo>().copied() else {
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, &[], "no connection to upgrade");
        };
        // windlass's own HttpServer hands the raw socket over unwritten; the 101 head goes out
        // with the first frames, in one write.
        let head = Bytes::from(switching_protocols(&accepted));
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let mut request = request.map(|_| ());
        // The request's extensions become the connection's for its whole life: the HTTP
        // layer's own entries are not kept (the connection knows its id and address).
        request.extensions_mut().remove::<ConnectionInfo>();
        response.extensions_mut().insert(OnUpgrade::new(move |upgraded: Upgraded| {
            run(component, &config, request, info, accepted.protocol, deflate, head, upgraded)
        }));
        response
    }
}

/// The request with every header value copied into memory of its own.
fn with_owned_headers(mut request: Request<()>) -> Request<()> {
    for value in request.headers_mut().values_mut() {
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
    }
    request
}

/// The 101 answer as a response, for a host server that writes it itself.
fn switching_response(accepted: &Accepted) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let values = [
        (SEC_WEBSOCKET_ACCEPT, Some(accepted.accept_key.as_str())),
        (SEC_WEBSOCKET_PROTOCOL, accepted.protocol.as_deref()),
        (SEC_WEBSOCKET_EXTENSIONS, accepted.extensions.as_deref()),
    ];
    for (name, value) in values {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
    response
}

/// The task of an upgraded connection: queues the 101 head (written with the first frames),
/// then runs the frame loop.
#[allow(clippy::too_many_arguments)]
fn run<C: MessageComponent>(
    component: Arc<C>,
    config: &WsConfig,
    request: Request<()>,
    info: ConnectionInfo,
    protocol: Option<String>,
    deflate: Option<DeflateParams>,
    head: Bytes,
    upgraded: Upgraded,
) -> impl Future<Output = ()> + Send + use<C> {
    // Not an `async fn`: the connection's task holds only the frame loop's future, not these
    // arguments beside it for the connection's whole life.
    let Upgraded { socket, buffered, server, permit } = upgraded;
    let queue = QueueConfig { limit: config.max_send_queue, policy: config.slow_consumer };
    let shared = Arc::new(Shared::new(info.id(), info.remote_addr(), WireKind::WebSocket, deflate, queue));
    // A request kept for the connection's life gets header values of its own: parsed values
    // are slices of the HTTP read buffer, which it would otherwise hold for that long.
    let request = if config.keep_request { with_owned_headers(request) } else { request };
    let mut connection = Connection::new(shared, Some(request), protocol);
    if !head.is_empty() {
        connection.push_control(Outgoing::raw(head));
    }
    let mut decoder = WsDecoder::new(DecoderConfig {
        max_frame_size: config.max_frame_size,
        max_message_size: config.max_message_size,
        require_mask: true,
    });
    if let Some(params) = deflate {
        decoder = decoder.with_deflate(params);
    }
    let timing = Timing {
        close_timeout: config.close_timeout,
        keep_alive: config.keep_alive_interval.map(|interval| (interval, config.keep_alive_timeout)),
        keep_request: config.keep_request,
    };
    let wire = Wire::WebSocket(decoder);
    let metrics = Arc::clone(&server.metrics);
    let driver = Driver::new(component, socket, connection, wire, buffered, timing, permit, metrics);
    driver.run(server.registry.clone())
}

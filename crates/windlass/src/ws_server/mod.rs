//! `WsServer`: the RFC 6455 handshake and framing around a [`MessageComponent`] (Ratchet's
//! `WsServer`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::SEC_WEBSOCKET_EXTENSIONS;
use http::{Request, StatusCode};
use tracing::Instrument as _;
use windlass_proto::deflate::{DeflateConfig, negotiate};
use windlass_proto::handshake::{accept, switching_protocols};
use windlass_proto::{DecoderConfig, WsDecoder};

use crate::component::MessageComponent;
use crate::connection::{
    Connection, DEFAULT_SEND_QUEUE, Driver, Outgoing, QueueConfig, Shared, SlowConsumer, Timing, Wire,
    WireKind,
};
use crate::http_server::{HttpComponent, HttpConnection};

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
}

impl<C> WsServer<C> {
    /// Wraps `component` with the default [`WsConfig`].
    pub fn new(component: C) -> Self {
        Self::with_config(component, WsConfig::default())
    }

    /// Wraps `component` with `config`.
    pub fn with_config(component: C, config: WsConfig) -> Self {
        Self { component: Arc::new(component), config }
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
    async fn on_request(&self, request: Request<()>, conn: HttpConnection) {
        let supported = self.component.sub_protocols();
        let mut accepted = match accept(&request, supported, self.config.strict_sub_protocols) {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, status = e.status().as_u16(), "handshake refused");
                conn.respond_error(e.status(), e.headers(), &e.to_string()).await;
                return;
            }
        };
        let agreement = self.config.deflate.as_ref().and_then(|config| {
            let offers =
                request.headers().get_all(SEC_WEBSOCKET_EXTENSIONS).iter().filter_map(|v| v.to_str().ok());
            negotiate(offers, config)
        });
        accepted.extensions = agreement.as_ref().map(|a| a.response.clone());
        let deflate = agreement.map(|a| a.params);
        let HttpConnection { socket, buffered, id, remote_addr, server, permit, .. } = conn;
        let queue = QueueConfig { limit: self.config.max_send_queue, policy: self.config.slow_consumer };
        let shared = Arc::new(Shared::new(id, remote_addr, WireKind::WebSocket, deflate, queue));
        let mut connection = Connection::new(shared, Some(request), accepted.protocol.clone());
        connection.push_control(Outgoing::raw(Bytes::from(switching_protocols(&accepted))));
        crate::metrics::handshake(StatusCode::SWITCHING_PROTOCOLS);
        let mut decoder = WsDecoder::new(DecoderConfig {
            max_frame_size: self.config.max_frame_size,
            max_message_size: self.config.max_message_size,
            require_mask: true,
        });
        if let Some(params) = deflate {
            decoder = decoder.with_deflate(params);
        }
        let timing = Timing {
            close_timeout: self.config.close_timeout,
            keep_alive: self
                .config
                .keep_alive_interval
                .map(|interval| (interval, self.config.keep_alive_timeout)),
            keep_request: self.config.keep_request,
        };
        let component = Arc::clone(&self.component);
        let wire = Wire::WebSocket(decoder);
        let metrics = Arc::clone(&server.metrics);
        let driver = Driver::new(component, socket, connection, wire, buffered, timing, permit, metrics);
        // The frame loop runs as a task of its own, so that this handshake's futures (and the
        // HTTP layer's, and any decorator's) are freed now rather than kept for the
        // connection's life; the task carries the connection's span.
        let span = tracing::Span::current();
        if span.is_disabled() {
            // Spans off (the default below `debug`): the task does without the span's room.
            server.tracker.spawn(driver.run(server.registry.clone()));
        } else {
            server.tracker.spawn(driver.run(server.registry.clone()).instrument(span));
        }
    }
}

//! Raw TCP: a [`MessageComponent`] served with one line per message, as in Ratchet's tutorial
//! where the chat is first tried with telnet.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use windlass_proto::LineDecoder;

use crate::component::MessageComponent;
use crate::io_server::{IoComponent, IoConnection};
use crate::session::{Connection, DEFAULT_SEND_QUEUE, QueueConfig, Shared, SlowConsumer, WireKind};
use crate::transport::{Driver, Timing, Wire};

/// Serves a [`MessageComponent`] over raw TCP.
///
/// Each line the peer sends (up to `\n`, without the `\n` or `\r\n`) is one message: text if it
/// is UTF-8, binary otherwise. Each message sent gets a `\n` appended unless it ends with one.
/// A line split across TCP reads arrives whole; an unterminated last line is delivered when the
/// peer closes.
///
/// `IoServer::bind(addr, chat)` wraps `chat` in a default `LineServer`; build one explicitly to
/// change the limits.
#[derive(Debug, Clone)]
pub struct LineServer<C> {
    component: C,
    settings: LineSettings,
}

#[derive(Debug, Clone)]
struct LineSettings {
    max_line_length: usize,
    max_send_queue: usize,
    slow_consumer: SlowConsumer,
    close_timeout: Duration,
}

impl Default for LineSettings {
    fn default() -> Self {
        Self {
            max_line_length: 64 * 1024,
            max_send_queue: DEFAULT_SEND_QUEUE,
            slow_consumer: SlowConsumer::Close,
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl<C> LineServer<C> {
    /// Wraps `component`: 64 KiB lines, a 4 MiB send queue closed when full, 5 s to flush on
    /// close.
    pub fn new(component: C) -> Self {
        Self { component, settings: LineSettings::default() }
    }

    /// Longest line in bytes; a longer one closes the connection (`on_close` sees 1009).
    pub fn max_line_length(mut self, bytes: usize) -> Self {
        self.settings.max_line_length = bytes;
        self
    }

    /// Send-queue limit per connection in bytes.
    pub fn max_send_queue(mut self, bytes: usize) -> Self {
        self.settings.max_send_queue = bytes;
        self
    }

    /// The slow-consumer policy.
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.settings.slow_consumer = policy;
        self
    }

    /// The wrapped component.
    pub fn get_ref(&self) -> &C {
        &self.component
    }

    /// Unwraps the component.
    pub fn into_inner(self) -> C {
        self.component
    }
}

async fn serve<C: MessageComponent>(component: &C, settings: &LineSettings, conn: IoConnection) {
    let IoConnection { socket, id, remote_addr, server, permit } = conn;
    let queue = QueueConfig { limit: settings.max_send_queue, policy: settings.slow_consumer };
    let shared = Arc::new(Shared::new(id, remote_addr, WireKind::Lines, None, queue));
    let connection = Connection::new(shared, None, None);
    let timing = Timing { close_timeout: settings.close_timeout, keep_alive: None, keep_request: false };
    let wire = Wire::Lines(LineDecoder::new(settings.max_line_length));
    let metrics = Arc::clone(&server.metrics);
    Driver::new(component, socket, connection, wire, BytesMut::new(), timing, Some(permit), metrics)
        .run(server.registry)
        .await;
}

#[async_trait]
impl<C: MessageComponent> IoComponent for LineServer<C> {
    async fn on_connection(&self, conn: IoConnection) {
        serve(&self.component, &self.settings, conn).await;
    }
}

/// Every component runs over raw TCP as it is: `IoServer::bind(addr, Chat::new())`.
#[async_trait]
impl<C: MessageComponent> IoComponent for C {
    async fn on_connection(&self, conn: IoConnection) {
        serve(self, &LineSettings::default(), conn).await;
    }
}

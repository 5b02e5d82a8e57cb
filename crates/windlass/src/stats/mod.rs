//! The series windlass records through the [`metrics`] facade, on the hot path. Serving them is
//! [`Metrics`](crate::Metrics)' job, in the layer above.
//!
//! Instrumentation costs nothing but a no-op call until a recorder is installed. Handles are
//! registered once per connection (a registry lookup when the connection opens), so a message
//! costs one relaxed atomic increment per counter, and a write one per vectored write.

use std::sync::OnceLock;

use http::StatusCode;
use metrics::{Counter, Gauge, counter, gauge};
use windlass_proto::CloseCode;

/// Connections whose connection task runs (after a WebSocket handshake, or any raw TCP one).
pub(crate) const CONNECTIONS_OPEN: &str = "windlass_connections_open";
/// Handshake answers by HTTP status: 101, and every refusal.
pub(crate) const HANDSHAKES: &str = "windlass_handshakes_total";
/// Messages handed to `on_message`.
pub(crate) const MESSAGES_RECEIVED: &str = "windlass_messages_received_total";
/// Messages whose last byte was written to the socket.
pub(crate) const MESSAGES_SENT: &str = "windlass_messages_sent_total";
/// Bytes read by connection tasks (frames or lines; not the HTTP head).
pub(crate) const BYTES_RECEIVED: &str = "windlass_bytes_received_total";
/// Bytes written by connection tasks (frames or lines; not the handshake response).
pub(crate) const BYTES_SENT: &str = "windlass_bytes_sent_total";
/// Sends that found the send queue over its limit, by slow-consumer policy.
pub(crate) const QUEUE_OVERFLOWS: &str = "windlass_send_queue_overflows_total";
/// Ended connections by the close code reported to `on_close`.
pub(crate) const CLOSES: &str = "windlass_closes_total";

/// Handles one connection task updates, registered once when it starts.
#[derive(Debug)]
pub(crate) struct ConnectionMetrics {
    pub(crate) messages_received: Counter,
    pub(crate) messages_sent: Counter,
    pub(crate) bytes_received: Counter,
    pub(crate) bytes_sent: Counter,
    open: Gauge,
    /// `windlass_handshakes_total` of the statuses most answers have, each looked up at its
    /// first answer: a lookup per request (a label string made, the registry searched) costs
    /// as much as a keep-alive request's parsing.
    handshakes: [OnceLock<Counter>; COMMON_STATUSES.len()],
}

/// The statuses whose counters a server keeps at hand.
const COMMON_STATUSES: [u16; 8] = [101, 200, 204, 304, 400, 403, 404, 426];

impl ConnectionMetrics {
    pub(crate) fn new() -> Self {
        // The overflow series exist from the start, at 0, as Prometheus prefers; they are
        // looked up only when a queue overflows.
        for policy in OVERFLOW_POLICIES {
            let _registered = overflows(policy);
        }
        Self {
            messages_received: counter!(MESSAGES_RECEIVED),
            messages_sent: counter!(MESSAGES_SENT),
            bytes_received: counter!(BYTES_RECEIVED),
            bytes_sent: counter!(BYTES_SENT),
            open: gauge!(CONNECTIONS_OPEN),
            handshakes: Default::default(),
        }
    }

    /// Counts an answer to a handshake or plain HTTP request.
    pub(crate) fn handshake(&self, status: StatusCode) {
        let code = status.as_u16();
        match COMMON_STATUSES.iter().position(|&common| common == code) {
            Some(i) => self.handshakes[i].get_or_init(|| handshakes(code)).increment(1),
            None => handshakes(code).increment(1),
        }
    }

    /// Counts the connection as open until the returned guard drops, whatever ends the task.
    pub(crate) fn open(&self) -> OpenGuard {
        self.open.increment(1);
        OpenGuard(self.open.clone())
    }
}

/// Decrements `windlass_connections_open` when dropped.
#[derive(Debug)]
pub(crate) struct OpenGuard(Gauge);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.decrement(1);
    }
}

fn handshakes(status: u16) -> Counter {
    counter!(HANDSHAKES, "status" => status.to_string())
}

/// Counts an ended connection by its close code.
pub(crate) fn close(code: CloseCode) {
    counter!(CLOSES, "code" => code.0.to_string()).increment(1);
}

/// The names of the slow-consumer policies, as [`overflows`] labels them.
pub(crate) const OVERFLOW_POLICIES: [&str; 3] = ["close", "drop_message", "error"];

/// The overflow counter for a connection whose slow-consumer policy is named `policy`.
pub(crate) fn overflows(policy: &'static str) -> Counter {
    counter!(QUEUE_OVERFLOWS, "policy" => policy)
}

//! Observability: the series windlass records through the [`metrics`] facade, and [`Metrics`],
//! an [`HttpComponent`] that serves them in the Prometheus text format.
//!
//! Instrumentation costs nothing but a no-op call until a recorder is installed. Handles are
//! registered once per connection (a registry lookup when the connection opens), so a message
//! costs one relaxed atomic increment per counter, and a write one per vectored write.

use async_trait::async_trait;
use bytes::Bytes;
use http::header::HeaderValue;
use http::{Request, Response, StatusCode};
use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use windlass_proto::CloseCode;

use crate::connection::SlowConsumer;
use crate::http_server::{Body, HttpComponent};

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

/// The content type of the Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Handles one connection task updates, registered once when it starts.
#[derive(Debug)]
pub(crate) struct ConnectionMetrics {
    pub(crate) messages_received: Counter,
    pub(crate) messages_sent: Counter,
    pub(crate) bytes_received: Counter,
    pub(crate) bytes_sent: Counter,
    open: Gauge,
}

impl ConnectionMetrics {
    pub(crate) fn new() -> Self {
        Self {
            messages_received: counter!(MESSAGES_RECEIVED),
            messages_sent: counter!(MESSAGES_SENT),
            bytes_received: counter!(BYTES_RECEIVED),
            bytes_sent: counter!(BYTES_SENT),
            open: gauge!(CONNECTIONS_OPEN),
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

/// Counts an answer to a handshake or plain HTTP request.
pub(crate) fn handshake(status: StatusCode) {
    counter!(HANDSHAKES, "status" => status.as_u16().to_string()).increment(1);
}

/// Counts an ended connection by its close code.
pub(crate) fn close(code: CloseCode) {
    counter!(CLOSES, "code" => code.0.to_string()).increment(1);
}

/// The overflow counter for a connection with `policy`.
pub(crate) fn overflows(policy: SlowConsumer) -> Counter {
    let policy = match policy {
        SlowConsumer::Close => "close",
        SlowConsumer::DropMessage => "drop_message",
        SlowConsumer::Error => "error",
    };
    counter!(QUEUE_OVERFLOWS, "policy" => policy)
}

/// Why [`Metrics::install`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A global `metrics` recorder is installed already (there can be one per process). Build
    /// a Prometheus recorder into it yourself and serve it with [`Metrics::from_handle`].
    #[error(
        "a global metrics recorder is already installed; serve your own PrometheusHandle with Metrics::from_handle"
    )]
    RecorderAlreadyInstalled,
    /// The Prometheus recorder could not be built.
    #[error("could not build the Prometheus recorder: {0}")]
    Build(String),
}

/// Serves the process's metrics in the Prometheus text format (`text/plain; version=0.0.4`) to
/// GET and HEAD, at whatever route it is mounted on; other methods get 405.
///
/// Every series windlass records is named `windlass_*`; see `docs/ARCHITECTURE.md` for the list.
/// Series recorded by the application through the [`metrics`] facade are served too.
///
/// ```no_run
/// use windlass::{HttpServer, IoServer, Metrics, Router};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let router = Router::new().route("/metrics", Metrics::install()?);
/// IoServer::bind("127.0.0.1:8080", HttpServer::new(router)).await?.run().await?;
/// # Ok(())
/// # }
/// ```
///
/// Install the recorder before serving: a connection registers its series when it opens, and
/// series registered before any recorder is installed stay no-ops.
#[derive(Clone, Debug)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs a Prometheus recorder as the process's global `metrics` recorder and serves it.
    ///
    /// Fails with [`MetricsError::RecorderAlreadyInstalled`] if a global recorder is installed
    /// already (by an earlier call, or by the application).
    pub fn install() -> Result<Self, MetricsError> {
        let handle = PrometheusBuilder::new().install_recorder().map_err(|e| match e {
            BuildError::FailedToSetGlobalRecorder(_) => MetricsError::RecorderAlreadyInstalled,
            other => MetricsError::Build(other.to_string()),
        })?;
        Ok(Self::from_handle(handle))
    }

    /// Serves a recorder the application installed itself (say, with its own buckets, global
    /// labels, or inside a fan-out of recorders).
    pub fn from_handle(handle: PrometheusHandle) -> Self {
        describe();
        Self { handle }
    }

    /// The recorder's handle.
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }

    /// The metrics as Prometheus text, as a scrape gets them.
    pub fn render(&self) -> String {
        // Publishes new descriptions and drains histogram samples: the recorder has no
        // background task of its own, so each scrape does this upkeep.
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// Describes windlass's series (the `# HELP` lines) and registers the unlabelled ones, so they
/// are scraped as 0 before anything happens.
fn describe() {
    describe_gauge!(CONNECTIONS_OPEN, "Connections whose connection task is running.");
    describe_counter!(HANDSHAKES, "Answers to handshakes and plain HTTP requests, by HTTP status.");
    describe_counter!(MESSAGES_RECEIVED, "Messages received and handed to on_message.");
    describe_counter!(MESSAGES_SENT, "Messages written to the socket in full.");
    describe_counter!(BYTES_RECEIVED, "Bytes of frames or lines read from peers.");
    describe_counter!(BYTES_SENT, "Bytes of frames or lines written to peers.");
    describe_counter!(QUEUE_OVERFLOWS, "Sends that found the send queue over its limit, by policy.");
    describe_counter!(CLOSES, "Ended connections, by the close code reported to on_close.");
    drop(ConnectionMetrics::new());
}

#[async_trait]
impl HttpComponent for Metrics {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        let body = Bytes::from(self.render());
        crate::plain::answer(&request, HeaderValue::from_static(CONTENT_TYPE), body)
    }
}

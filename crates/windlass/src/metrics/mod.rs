//! [`Metrics`]: an [`HttpComponent`] that serves the series windlass records (see
//! [`crate::stats`]) in the Prometheus text format.

use async_trait::async_trait;
use bytes::Bytes;
use http::header::HeaderValue;
use http::{Request, Response};
use metrics::{describe_counter, describe_gauge};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

use crate::http_server::{Body, HttpComponent};
use crate::stats::{
    BYTES_RECEIVED, BYTES_SENT, CLOSES, CONNECTIONS_OPEN, ConnectionMetrics, HANDSHAKES, MESSAGES_RECEIVED,
    MESSAGES_SENT, QUEUE_OVERFLOWS,
};

/// The content type of the Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

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

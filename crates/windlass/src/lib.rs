//! # windlass
//!
//! A Ratchet-style WebSocket component framework. Write a component with `on_open`,
//! `on_message`, `on_close` and `on_error`, then compose the server in code, layer by layer,
//! as PHP Ratchet users do:
//!
//! ```no_run
//! use windlass::{BoxError, CloseInfo, Connection, ConnectionPool, HttpServer, IoServer, Message, MessageComponent, WsServer};
//!
//! #[derive(Default)]
//! struct Chat {
//!     clients: ConnectionPool,
//! }
//!
//! impl MessageComponent for Chat {
//!     async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
//!         self.clients.attach(conn);
//!         Ok(())
//!     }
//!
//!     async fn on_message(&self, from: &mut Connection, msg: Message) -> Result<(), BoxError> {
//!         self.clients.broadcast_except(from.id(), msg);
//!         Ok(())
//!     }
//!
//!     async fn on_close(&self, conn: &mut Connection, _close: CloseInfo) {
//!         self.clients.detach(conn.id());
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     // WebSocket:
//!     IoServer::bind("127.0.0.1:8080", HttpServer::new(WsServer::new(Chat::default()))).await?.run().await
//!     // Raw TCP, one line per message, the same component:
//!     // IoServer::bind("127.0.0.1:8080", Chat::default()).await?.run().await
//! }
//! ```
//!
//! ## Layers
//!
//! | type | Ratchet | job |
//! |---|---|---|
//! | [`IoServer`] | `IoServer` | accept loop, connection ids, connection cap, graceful shutdown |
//! | [`HttpServer`] | `HttpServer` | one HTTP/1.1 request head, under limits (400/408/431/505) |
//! | [`WsServer`] | `WsServer` | RFC 6455 handshake and framing, keep-alive, close handshake |
//! | [`LineServer`] | — | raw TCP, one line per message |
//! | [`MessageComponent`] | `MessageComponentInterface` | your application |
//!
//! Each connection runs in its own tokio task; see `docs/ARCHITECTURE.md` for the task model
//! and the guarantees listed on [`MessageComponent`].

mod app;
mod auth;
mod blacklist;
mod component;
mod error;
pub mod event_server;
mod http_server;
mod io_server;
mod line_server;
mod message;
mod metrics;
mod origin;
mod plain;
mod pool;
mod proxy;
mod router;
mod service;
mod session;
mod stats;
mod transport;
mod ws_server;

pub use self::metrics::{Metrics, MetricsError};
pub use app::{App, AppServer};
pub use auth::{AuthFn, Authenticate, Authenticator, Rejection, auth_fn};
pub use blacklist::{BlackListHandle, InvalidIpNet, IpBlackList, IpNet};
pub use component::{CloseInfo, MessageComponent};
pub use error::{BoxError, Error, SendError};
pub use event_server::{EventServer, SocketIo};
pub use http_server::{Body, BodyError, ConnectionInfo, HttpComponent, HttpConfig, HttpServer};
pub use io_server::{DEFAULT_MAX_CONNECTIONS, IoComponent, IoConnection, IoServer, Socket};
pub use io_server::{TlsConfig, TlsError};
pub use line_server::LineServer;
pub use message::{Message, Utf8Bytes};
pub use origin::{MissingOrigin, OriginCheck};
pub use plain::{Health, StaticResponse};
pub use pool::ConnectionPool;
pub use proxy::TrustedProxies;
pub use router::{PathParams, Router};
pub use service::{ComponentService, ServiceComponent};
pub use session::{Connection, ConnectionHandle, ConnectionId, InvalidSessionId, SessionId, SlowConsumer};
pub use ws_server::{WsConfig, WsServer};

/// The protocol core, for those who need its types (close codes, limits, decoders).
pub use windlass_proto as proto;
pub use windlass_proto::CloseCode;
pub use windlass_proto::deflate::DeflateConfig;

/// The Prometheus exporter, for [`Metrics::from_handle`] (a recorder built with your own
/// settings).
pub use metrics_exporter_prometheus as prometheus;

/// The `http` crate, whose `Request` type [`Connection::request`] returns.
pub use http;

/// The attribute that [`HttpComponent`] and [`IoComponent`] implementations carry.
pub use async_trait::async_trait;

/// Compiles the README's example as a doctest, so the front page never goes stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

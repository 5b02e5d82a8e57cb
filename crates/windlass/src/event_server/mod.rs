//! Socket.IO: events, rooms and acknowledgements over Engine.IO v4, in Ratchet's
//! `WampServer` slot.
//!
//! ```text
//! IoServer → HttpServer → EventServer ─┬─ Engine.IO sessions (polling ⇄ WebSocket, heartbeat)
//!                                      └─ Socket.IO: namespaces → sockets → your handlers
//! ```
//!
//! [`SocketIo`] is the server handle (Node's `io`): namespaces, broadcasts, settings.
//! [`EventServer`] is the layer that answers its HTTP requests, composed like the others:
//!
//! ```no_run
//! use windlass::event_server::{EventServer, SocketIo};
//! use windlass::{HttpServer, IoServer};
//!
//! # async fn run() -> std::io::Result<()> {
//! let io = SocketIo::new();
//! io.on_connection(|socket| async move {
//!     socket.on("chat message", |socket, event| async move {
//!         let text: String = event.data().unwrap_or_default();
//!         let _ = socket.namespace().emit("chat message", &text);
//!     });
//! });
//! let app = HttpServer::new(EventServer::new(io));
//! IoServer::bind("127.0.0.1:3000", app).await?.run().await
//! # }
//! ```

mod ack;
mod adapter;
mod broadcast;
mod bundle;
mod client;
pub(crate) mod engine;
mod event;
mod namespace;
mod raw;
mod recovery;
mod socket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use http::header::HeaderValue;
use http::{Request, Response, StatusCode};

pub use self::ack::AckError;
pub use self::adapter::{
    AckReport, AckReports, Adapter, AdapterFuture, BroadcastFlags, BroadcastOptions, ClusterError,
    LocalAdapter, Node, PacketText, ServerAck, SocketInfo, with_offset,
};
pub use self::broadcast::BroadcastOperator;
pub use self::engine::{CloseReason, EngineConfig};
pub use self::event::Event;
pub use self::namespace::{ConnectError, Namespace};
pub use self::raw::{EngineIoHandler, EngineIoMessage, EngineIoServer, EngineIoSession};
pub use self::recovery::{
    JoinFn, KeptSession, MemoryStore, RecoveryConfig, Restored, SessionStore, StoreFuture, StoredPacket,
};
pub use self::socket::{DisconnectReason, EmitError, Handshake, Socket};
pub use windlass_sio_proto::{Map, Value, from_value, to_value};

use self::client::SioHandler;
use self::engine::{Engine, lock};
use self::namespace::NsInner;
use crate::http_server::{Body, HttpComponent};

/// Settings of a [`SocketIo`] server.
#[derive(Clone, Debug)]
pub struct SocketIoConfig {
    /// Engine.IO: heartbeat, payload limit, transports, CORS.
    pub engine: EngineConfig,
    /// The path the server answers under (`path`); default `/socket.io/`.
    pub path: String,
    /// How long a client has to join a namespace after its session opens (`connectTimeout`);
    /// default 45 s.
    pub connect_timeout: Duration,
    /// Serve the browser client at `<path>socket.io.js` and `.min.js` (`serveClient`);
    /// default true when the bundle was found at build time.
    pub serve_client: bool,
    /// Connection state recovery (`connectionStateRecovery`); default off.
    pub recovery: Option<RecoveryConfig>,
    /// Ack timeout used by broadcasts with acks when none is given; default 10 s.
    pub default_ack_timeout: Duration,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            path: "/socket.io/".to_owned(),
            connect_timeout: Duration::from_secs(45),
            serve_client: true,
            recovery: None,
            default_ack_timeout: Duration::from_secs(10),
        }
    }
}

/// A Socket.IO server: Node's `io`.
///
/// Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct SocketIo {
    pub(crate) inner: Arc<IoInner>,
}

pub(crate) struct IoInner {
    pub(crate) config: SocketIoConfig,
    namespaces: Mutex<HashMap<String, Arc<NsInner>>>,
    /// Namespaces made on demand for names a predicate accepts (`io.of(/regex/)`).
    dynamic: Mutex<Vec<DynamicNamespace>>,
    pub(crate) engine: std::sync::OnceLock<Engine>,
    pub(crate) recovery: recovery::Recovery,
    /// Other nodes: [`LocalAdapter`] unless the server was built with another.
    pub(crate) adapter: Arc<dyn Adapter>,
}

struct DynamicNamespace {
    accepts: Box<dyn Fn(&str) -> bool + Send + Sync>,
    setup: Arc<dyn Fn(&Namespace) + Send + Sync>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo").field("path", &self.inner.config.path).finish_non_exhaustive()
    }
}

impl Default for SocketIo {
    fn default() -> Self {
        Self::new()
    }
}

impl SocketIo {
    /// A server with Node's defaults.
    pub fn new() -> Self {
        Self::with_config(SocketIoConfig::default())
    }

    /// A server with `config`.
    pub fn with_config(config: SocketIoConfig) -> Self {
        Self::build(config, None, None)
    }

    /// A server with `config` whose connection state recovery keeps sessions and packets in
    /// `store` rather than in memory (a broker shared by several nodes, say). Recovery must
    /// be on (`config.recovery`) for the store to be used.
    pub fn with_session_store(config: SocketIoConfig, store: impl SessionStore) -> Self {
        Self::builder().config(config).session_store(store).build()
    }

    /// A server put together piece by piece: settings, the adapter to other nodes, the
    /// recovery store.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::default()
    }

    fn build(
        mut config: SocketIoConfig,
        store: Option<Arc<dyn SessionStore>>,
        adapter: Option<Arc<dyn Adapter>>,
    ) -> Self {
        if !config.path.ends_with('/') {
            config.path.push('/');
        }
        let recovery = recovery::Recovery::new(config.recovery.clone(), store);
        let inner = Arc::new(IoInner {
            config,
            namespaces: Mutex::new(HashMap::new()),
            dynamic: Mutex::new(Vec::new()),
            engine: std::sync::OnceLock::new(),
            recovery,
            adapter: adapter.unwrap_or_else(|| Arc::new(LocalAdapter)),
        });
        let handler = Arc::new(SioHandler { io: Arc::downgrade(&inner) });
        let engine = Engine::new(inner.config.engine.clone(), handler);
        let _ = inner.engine.set(engine);
        inner.adapter.attach(Node::new(Arc::downgrade(&inner)));
        let io = Self { inner };
        io.of("/");
        io
    }

    /// The settings.
    pub fn config(&self) -> &SocketIoConfig {
        &self.inner.config
    }

    /// The namespace `name` (made if new), as Node's `io.of(name)`.
    pub fn of(&self, name: &str) -> Namespace {
        let prefixed;
        let name = if name.starts_with('/') {
            name
        } else {
            prefixed = format!("/{name}");
            prefixed.as_str()
        };
        let mut namespaces = lock(&self.inner.namespaces);
        // Looked up by reference first: handlers call `io.to(room)` (that is, `of("/")`) for
        // every event, and the name is copied only when the namespace is made.
        if let Some(ns) = namespaces.get(name) {
            return Namespace { inner: Arc::clone(ns) };
        }
        let ns = NsInner::new(name.to_owned(), Arc::downgrade(&self.inner));
        namespaces.insert(name.to_owned(), Arc::clone(&ns));
        drop(namespaces);
        self.inner.adapter.namespace_created(&ns.name);
        Namespace { inner: ns }
    }

    /// The namespace `name` if it exists (never made here).
    pub(crate) fn existing_namespace(inner: &IoInner, name: &str) -> Option<Arc<NsInner>> {
        lock(&inner.namespaces).get(name).cloned()
    }

    /// The names of the namespaces this server has.
    pub(crate) fn namespace_names(inner: &IoInner) -> Vec<String> {
        lock(&inner.namespaces).keys().cloned().collect()
    }

    /// Namespaces made on demand: a client joining a namespace that does not exist yet and
    /// whose name `accepts` gets one, set up by `setup` (Node's `io.of(regex or function)`).
    pub fn dynamic_namespaces(
        &self,
        accepts: impl Fn(&str) -> bool + Send + Sync + 'static,
        setup: impl Fn(&Namespace) + Send + Sync + 'static,
    ) {
        lock(&self.inner.dynamic)
            .push(DynamicNamespace { accepts: Box::new(accepts), setup: Arc::new(setup) });
    }

    /// Runs `handler` for every socket that joins `/` (Node's `io.on("connection")`).
    pub fn on_connection<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.of("/").on_connection(handler);
    }

    /// Emits to every socket of `/`.
    pub fn emit<T: serde::Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.of("/").emit(event, data)
    }

    /// A broadcast on `/` to the sockets in `room` (Node's `io.to(room)`).
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.of("/").to(room)
    }

    /// A broadcast on `/` to every socket but those in `room`.
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        self.of("/").except(room)
    }

    /// The sockets of `/` on every node (Node's `io.fetchSockets()`); an error, never a
    /// wrong list, when a node of the cluster cannot answer.
    pub async fn fetch_sockets(&self) -> Result<Vec<SocketInfo>, ClusterError> {
        self.of("/").broadcast().fetch_sockets().await
    }

    /// The adapter to other nodes.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.inner.adapter
    }

    /// Disconnects every socket with reason `server shutting down` (their `disconnecting` and
    /// `disconnect` handlers run; with recovery on they are kept, as the reason is
    /// recoverable) and closes every Engine.IO session: each WebSocket is closed, a waiting
    /// polling GET gets the close packet (Node's `io.close()`, without closing the HTTP
    /// server). Call it before stopping the `IoServer`; sessions opened after it are served
    /// as usual.
    pub fn close(&self) {
        let namespaces: Vec<Arc<NsInner>> = lock(&self.inner.namespaces).values().cloned().collect();
        for ns in namespaces {
            let sockets: Vec<Socket> = lock(&ns.sockets).values().cloned().collect();
            for socket in sockets {
                socket.on_close(DisconnectReason::ServerShuttingDown);
            }
        }
        self.engine().shared.close_all(CloseReason::ServerShuttingDown);
        self.inner.adapter.close();
    }

    /// [`close`](Self::close), then waits (at most 2 s) until the adapter has sent the
    /// cluster what the closing produced (sessions kept, the node's leaving): what a node does
    /// on SIGTERM before it exits.
    pub async fn shutdown(&self) {
        self.close();
        self.inner.adapter.flush(Duration::from_secs(2)).await;
    }

    /// The namespace for a CONNECT to `name`: an existing one, or one made on demand.
    pub(crate) fn namespace_for(inner: &Arc<IoInner>, name: &str) -> Option<Arc<NsInner>> {
        if let Some(ns) = lock(&inner.namespaces).get(name) {
            return Some(Arc::clone(ns));
        }
        let setup = lock(&inner.dynamic).iter().find(|d| (d.accepts)(name)).map(|d| Arc::clone(&d.setup))?;
        let io = SocketIo { inner: Arc::clone(inner) };
        let ns = io.of(name);
        setup(&ns);
        Some(ns.inner)
    }

    pub(crate) fn engine(&self) -> &Engine {
        self.inner.engine.get().expect("the engine is set when the server is made")
    }
}

/// Builds a [`SocketIo`]: `SocketIo::builder().config(c).adapter(a).build()`.
#[derive(Default)]
pub struct SocketIoBuilder {
    config: SocketIoConfig,
    store: Option<Arc<dyn SessionStore>>,
    adapter: Option<Arc<dyn Adapter>>,
}

impl std::fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl SocketIoBuilder {
    /// The settings (Node's defaults otherwise).
    #[must_use]
    pub fn config(mut self, config: SocketIoConfig) -> Self {
        self.config = config;
        self
    }

    /// The adapter to other nodes ([`LocalAdapter`] otherwise).
    #[must_use]
    pub fn adapter(mut self, adapter: impl Adapter) -> Self {
        self.adapter = Some(Arc::new(adapter));
        self
    }

    /// Where connection state recovery keeps sessions and packets ([`MemoryStore`]
    /// otherwise); used when `config.recovery` is on.
    #[must_use]
    pub fn session_store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The server.
    pub fn build(self) -> SocketIo {
        SocketIo::build(self.config, self.store, self.adapter)
    }
}

/// The HTTP layer of a [`SocketIo`] server: `IoServer(HttpServer(EventServer(io)))`.
///
/// Answers the requests under the server's path (`/socket.io/`: Engine.IO, and the client
/// bundle); any other path gets 404, or goes to the component set with
/// [`fallback`](Self::fallback).
pub struct EventServer {
    io: SocketIo,
    fallback: Option<Arc<dyn HttpComponent>>,
}

impl EventServer {
    /// The layer for `io`.
    pub fn new(io: SocketIo) -> Self {
        Self { io, fallback: None }
    }

    /// Requests outside the server's path go to `component` (a page, a router).
    pub fn fallback(mut self, component: impl HttpComponent) -> Self {
        self.fallback = Some(Arc::new(component));
        self
    }

    /// The server handle.
    pub fn io(&self) -> &SocketIo {
        &self.io
    }
}

#[async_trait]
impl HttpComponent for EventServer {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        let path = request.uri().path();
        let base = &self.io.inner.config.path;
        // `/socket.io` without its slash is not the endpoint, as in Node.
        let Some(rest) = path.strip_prefix(base.as_str()) else {
            return match &self.fallback {
                Some(fallback) => fallback.on_request(request).await,
                None => not_found(),
            };
        };
        if self.io.inner.config.serve_client
            && let Some(response) = bundle::serve(rest, &request)
        {
            return response;
        }
        // Everything else under the path is Engine.IO's, as in Node (an unknown file is a
        // request without a transport: 400).
        self.io.engine().on_request(request).await
    }
}

/// Runs a handler's future: at once up to its first pending `.await` (so handlers start in
/// the order packets came, and what they emit keeps that order), then, if it is not done, on
/// a task of its own (so awaiting never stops the connection from reading). A panic is
/// logged and ends only that handler.
pub(crate) fn spawn_handler(future: impl std::future::Future<Output = ()> + Send + 'static) {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::task::{Context, Poll, Waker};

    let mut future = Box::pin(future);
    let mut cx = Context::from_waker(Waker::noop());
    // The task polls it again with its own waker before it waits, so the first poll's
    // no-op waker is never the one relied on.
    match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => {
            tokio::spawn(async move {
                if let Err(panic) = futures_util::FutureExt::catch_unwind(AssertUnwindSafe(future)).await {
                    tracing::error!(panic = panic_text(&*panic), "socket.io handler panicked");
                }
            });
        }
        Err(panic) => tracing::error!(panic = panic_text(&*panic), "socket.io handler panicked"),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

pub(crate) fn not_found() -> Response<Body> {
    let mut response = Response::new(Body::from("Not Found"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

//! A socket: one client in one namespace.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use serde::Serialize;
use windlass_sio_proto::socket::{Packet, RESERVED_EVENTS};

use super::ack::{AckError, Acks};
use super::adapter::SocketInfo;
use super::broadcast::{BroadcastOperator, encode};
use super::client::Client;
use super::engine::{CloseReason, lock};
use super::event::Event;
use super::namespace::{BoxFuture, Namespace, NsInner};
use super::{Value, spawn_handler};
use crate::error::BoxError;

type EventHandler = Arc<dyn Fn(Socket, Event) -> BoxFuture<()> + Send + Sync>;
type DisconnectHandler = Arc<dyn Fn(Socket, DisconnectReason) -> BoxFuture<()> + Send + Sync>;
type PacketMiddleware = Arc<dyn Fn(&Socket, &mut Event) -> Result<(), BoxError> + Send + Sync>;
type ErrorHandler = Arc<dyn Fn(&Socket, &BoxError) + Send + Sync>;
type OutgoingListener = Arc<dyn Fn(&Socket, &str, &[Value]) + Send + Sync>;

/// Why a socket left its namespace, as Socket.IO names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The connection failed.
    TransportError,
    /// The client closed the connection.
    TransportClose,
    /// The server closed the connection (`disconnect(true)`).
    ForcedClose,
    /// A ping went unanswered.
    PingTimeout,
    /// The client sent something that is not Socket.IO.
    ParseError,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The server closed the connection after the client broke the protocol's order (a
    /// packet for a namespace it has not joined).
    ForcedServerClose,
    /// The client left the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server removed the socket (`socket.disconnect()` here).
    ServerNamespaceDisconnect,
}

impl DisconnectReason {
    /// The reason as Socket.IO names it (`"client namespace disconnect"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransportError => "transport error",
            Self::TransportClose => "transport close",
            Self::ForcedClose => "forced close",
            Self::PingTimeout => "ping timeout",
            Self::ParseError => "parse error",
            Self::ServerShuttingDown => "server shutting down",
            Self::ForcedServerClose => "forced server close",
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
        }
    }

    /// Whether the client may recover the session after this (Node's recoverable reasons).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            Self::TransportError
                | Self::TransportClose
                | Self::ForcedClose
                | Self::PingTimeout
                | Self::ServerShuttingDown
                | Self::ForcedServerClose
        )
    }
}

impl From<CloseReason> for DisconnectReason {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::TransportClose => Self::TransportClose,
            CloseReason::TransportError => Self::TransportError,
            CloseReason::PingTimeout => Self::PingTimeout,
            CloseReason::ParseError => Self::ParseError,
            CloseReason::ForcedClose => Self::ForcedClose,
            CloseReason::ServerShuttingDown => Self::ServerShuttingDown,
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The event name is one Socket.IO keeps for itself (`connect`, `disconnect`, …).
    #[error("\"{0}\" is a reserved event name")]
    Reserved(String),
    /// The data could not be turned into Socket.IO's JSON.
    #[error("cannot serialize the event's data: {0}")]
    Serialize(#[from] windlass_sio_proto::ValueError),
    /// The socket is disconnected.
    #[error("the socket is disconnected")]
    Disconnected,
}

/// What a client sent when it joined, as Node's `socket.handshake`: the request that opened
/// its connection (shared by its sockets in every namespace) and the CONNECT packet's auth.
#[derive(Clone, Debug)]
pub struct Handshake {
    session: Arc<super::engine::EngineSession>,
    /// Boxed, and only when not the empty object (most clients send none): 8 bytes on every
    /// socket rather than a `Value`'s 40.
    auth: Option<Box<Value>>,
}

/// The `auth` of a client that sent none.
static NO_AUTH: Value = Value::Object(windlass_sio_proto::Map::new());

impl Handshake {
    pub(crate) fn new(session: Arc<super::engine::EngineSession>, auth: Value) -> Self {
        let empty = matches!(&auth, Value::Object(map) if map.is_empty());
        Self { session, auth: (!empty).then(|| Box::new(auth)) }
    }

    fn engine(&self) -> &super::engine::session::Handshake {
        &self.session.handshake
    }

    /// The request headers of the connection's first request.
    pub fn headers(&self) -> &HeaderMap {
        self.engine().request.headers()
    }

    /// Its path and query.
    pub fn url(&self) -> &str {
        self.engine().request.url()
    }

    /// Its query string.
    pub fn query(&self) -> &str {
        self.engine().request.query()
    }

    /// The client's address.
    pub fn address(&self) -> SocketAddr {
        self.engine().remote_addr
    }

    /// Whether it came over TLS.
    pub fn secure(&self) -> bool {
        self.engine().secure
    }

    /// When the connection opened, in milliseconds since the Unix epoch.
    pub fn issued(&self) -> u64 {
        self.engine().issued
    }

    /// The CONNECT packet's payload (`auth` on the client); an empty object when none.
    pub fn auth(&self) -> &Value {
        self.auth.as_deref().unwrap_or(&NO_AUTH)
    }

    /// The handshake as Node's `socket.handshake` object, which nodes of a cluster send
    /// each other: `{headers, time, address, xdomain, secure, issued, url, query, auth}`.
    pub fn to_value(&self) -> Value {
        use windlass_sio_proto::Map;
        let mut headers = Map::with_capacity(self.headers().len());
        for (name, value) in self.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            // Node joins repeated headers with ", " (cookies with "; ").
            let joined = match headers.get(name.as_str()).and_then(Value::as_str) {
                Some(before) if name == http::header::COOKIE => format!("{before}; {value}"),
                Some(before) => format!("{before}, {value}"),
                None => value,
            };
            headers.insert(name.as_str(), Value::String(joined));
        }
        let mut query = Map::new();
        for (name, value) in windlass_sio_proto::engine::query_pairs(self.query()) {
            query.insert(name, Value::String(value));
        }
        let mut out = Map::with_capacity(9);
        out.insert("headers", Value::Object(headers));
        out.insert("time", Value::String(js_date(self.issued())));
        out.insert("address", Value::String(self.address().ip().to_string()));
        out.insert("xdomain", Value::Bool(self.headers().contains_key(http::header::ORIGIN)));
        out.insert("secure", Value::Bool(self.secure()));
        out.insert("issued", Value::from(windlass_sio_proto::Number::from(self.issued())));
        out.insert("url", Value::String(self.url().to_owned()));
        out.insert("query", Value::Object(query));
        out.insert("auth", self.auth().clone());
        Value::Object(out)
    }
}

/// `String(new Date(millis))` in UTC: `Mon Dec 07 2026 02:30:00 GMT+0000 (Coordinated
/// Universal Time)`.
fn js_date(millis: u64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(millis);
    // `Mon, 07 Dec 2026 02:30:00 GMT`, rearranged.
    let http = httpdate::fmt_http_date(at);
    let parts: Vec<&str> = http.split(' ').collect();
    match parts.as_slice() {
        [weekday, day, month, year, time, _] => format!(
            "{} {month} {day} {year} {time} GMT+0000 (Coordinated Universal Time)",
            weekday.trim_end_matches(',')
        ),
        _ => http,
    }
}

pub(crate) struct SocketInner {
    pub(crate) id: Arc<str>,
    /// The private id a client recovers its session with (recovery on only).
    pub(crate) pid: Option<Arc<str>>,
    pub(crate) ns: Arc<NsInner>,
    pub(crate) client: Arc<Client>,
    pub(crate) handshake: Handshake,
    pub(crate) recovered: bool,
    listeners: Mutex<Listeners>,
    pub(crate) acks: Acks,
    pub(crate) connected: AtomicBool,
    extensions: Mutex<http::Extensions>,
}

/// What a socket runs for what happens to it.
#[derive(Default)]
struct Listeners {
    /// Event handlers with their event's name, in the order added (several may share one).
    /// A list rather than a map: a socket has a few, and a map's table costs more than the
    /// list on every socket.
    events: Vec<(Arc<str>, EventHandler)>,
    /// The other kinds, kept apart until the first is added: most sockets have none.
    rare: Option<Box<RareListeners>>,
}

#[derive(Default)]
struct RareListeners {
    any: Vec<EventHandler>,
    disconnecting: Vec<DisconnectHandler>,
    disconnected: Vec<DisconnectHandler>,
    middleware: Vec<PacketMiddleware>,
    errors: Vec<ErrorHandler>,
    outgoing: Vec<OutgoingListener>,
}

impl Listeners {
    fn rare(&mut self) -> &mut RareListeners {
        self.rare.get_or_insert_with(Box::default)
    }
}

/// One client in one namespace: Node's `socket`.
///
/// Cheap to clone; every clone is the same socket.
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Arc<SocketInner>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.inner.id)
            .field("nsp", &self.inner.ns.name)
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(
        id: Arc<str>,
        pid: Option<Arc<str>>,
        ns: Arc<NsInner>,
        client: Arc<Client>,
        handshake: Handshake,
        recovered: bool,
    ) -> Self {
        Self {
            inner: Arc::new(SocketInner {
                id,
                pid,
                ns,
                client,
                handshake,
                recovered,
                listeners: Mutex::new(Listeners::default()),
                acks: Acks::default(),
                connected: AtomicBool::new(false),
                extensions: Mutex::new(http::Extensions::new()),
            }),
        }
    }

    /// The socket's id (also the name of its own room).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The Engine.IO session's id (Node's `socket.conn.id`): shared by the sockets of one
    /// client in several namespaces.
    pub fn engine_id(&self) -> &str {
        &self.inner.client.session.sid
    }

    /// The namespace.
    pub fn namespace(&self) -> Namespace {
        Namespace { inner: Arc::clone(&self.inner.ns) }
    }

    /// What the client sent when it joined.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    /// Whether this socket's session was recovered after a disconnection.
    pub fn recovered(&self) -> bool {
        self.inner.recovered
    }

    /// Whether the socket is connected.
    pub fn connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// Runs `handler` for every `event` the client emits. Several handlers for one event run
    /// in the order they were added, each with the same arguments.
    ///
    /// A handler's code up to its first `.await` runs before the next packet is read, so
    /// what it emits keeps the client's order; past that it runs on its own task, so awaiting
    /// (an acknowledgement, say) never stops this socket from reading.
    pub fn on<F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(Socket, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: EventHandler = Arc::new(move |socket, event| Box::pin(handler(socket, event)));
        let mut listeners = lock(&self.inner.listeners);
        // Grown one at a time: a socket gets its handlers once, and keeps the list for life.
        listeners.events.reserve_exact(1);
        listeners.events.push((self.inner.ns.intern(event.into()), handler));
    }

    /// Runs `handler` for every event the client emits, before its own handlers (Node's
    /// `onAny`).
    pub fn on_any<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.listeners)
            .rare()
            .any
            .push(Arc::new(move |socket, event| Box::pin(handler(socket, event))));
    }

    /// Adds a per-packet middleware (Node's `socket.use`): it sees every incoming event before
    /// the listeners, in the order added, and may change it; an `Err` drops the event and goes
    /// to the [`on_error`](Self::on_error) handlers instead.
    pub fn use_middleware<F>(&self, middleware: F)
    where
        F: Fn(&Socket, &mut Event) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        lock(&self.inner.listeners).rare().middleware.push(Arc::new(middleware));
    }

    /// Runs `handler` with the error of a per-packet middleware that refused an event (Node's
    /// `socket.on("error")`).
    pub fn on_error<F>(&self, handler: F)
    where
        F: Fn(&Socket, &BoxError) + Send + Sync + 'static,
    {
        lock(&self.inner.listeners).rare().errors.push(Arc::new(handler));
    }

    /// Runs `listener` for every event this socket emits, with its name and arguments
    /// (Node's `onAnyOutgoing`).
    pub fn on_any_outgoing<F>(&self, listener: F)
    where
        F: Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    {
        lock(&self.inner.listeners).rare().outgoing.push(Arc::new(listener));
    }

    /// Runs `handler` when the socket is about to leave, its rooms still readable (Node's
    /// `disconnecting`).
    pub fn on_disconnecting<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.listeners)
            .rare()
            .disconnecting
            .push(Arc::new(move |socket, reason| Box::pin(handler(socket, reason))));
    }

    /// Runs `handler` once the socket has left (Node's `disconnect`).
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.listeners)
            .rare()
            .disconnected
            .push(Arc::new(move |socket, reason| Box::pin(handler(socket, reason))));
    }

    /// Emits `event` with one argument, `data`.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_args(event, vec![windlass_sio_proto::to_value(data)?])
    }

    /// Emits `event` with any number of arguments.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        check_event(event)?;
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.notify_outgoing(event, &args);
        if self.inner.pid.is_some() {
            // With recovery on, what a socket is sent is kept like a broadcast to its own
            // room, so that it can be replayed (as Node does).
            return BroadcastOperator::new(Arc::clone(&self.inner.ns)).to(self.id()).emit_args(event, args);
        }
        self.send_packet(&Packet::event(self.inner.ns.name.to_string(), event, args));
        Ok(())
    }

    /// Emits `event` with `data` and waits for the client's acknowledgement (without a time
    /// limit: see [`timeout`](Self::timeout)).
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<Value>, AckError> {
        self.emit_args_with_ack(event, vec![windlass_sio_proto::to_value(data)?], None).await
    }

    /// Sets a time limit for the acknowledgement of the next emit (Node's
    /// `socket.timeout(ms).emitWithAck(…)`).
    pub fn timeout(&self, timeout: Duration) -> TimedSocket<'_> {
        TimedSocket { socket: self, timeout }
    }

    pub(crate) async fn emit_args_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, AckError> {
        check_event(event)?;
        if !self.connected() {
            return Err(AckError::Disconnected);
        }
        self.notify_outgoing(event, &args);
        let id = self.inner.ns.next_ack_id();
        let answer = self.inner.acks.register(id);
        self.send_packet(&Packet::event(self.inner.ns.name.to_string(), event, args).with_id(id));
        self.inner.acks.wait(id, answer, timeout).await
    }

    /// Joins `room`.
    pub fn join(&self, room: impl Into<String>) {
        self.inner.ns.join(&self.inner.id, Arc::from(room.into()));
        self.session_changed();
    }

    /// Joins `room`, then waits until broadcasts to it from every node of a cluster reach
    /// this socket (Node's `await socket.join(room)`). The same as [`join`](Self::join) with
    /// an adapter that listens to every room; with one that subscribes per room (the sharded
    /// Redis adapter), the wait for its subscription.
    pub async fn join_synced(&self, room: impl Into<String>) {
        let room = room.into();
        self.join(room.as_str());
        if let Some(io) = self.inner.ns.io.upgrade() {
            io.adapter.room_ready(&self.inner.ns.name, &room).await;
        }
    }

    /// Leaves `room`.
    pub fn leave(&self, room: &str) {
        self.inner.ns.leave(&self.inner.id, room);
        self.session_changed();
    }

    /// With recovery on, tells the session store (which may save it for other nodes).
    pub(crate) fn session_changed(&self) {
        if let Some(pid) = &self.inner.pid
            && self.connected()
            && let Some(io) = self.inner.ns.io.upgrade()
        {
            io.recovery.save(pid, self);
        }
    }

    /// The rooms the socket is in, its own id first, then in the order joined.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.ns.rooms_of(&self.inner.id).iter().map(ToString::to_string).collect()
    }

    /// A broadcast to the sockets in `room`, this one left out (Node's `socket.to(room)`).
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// A broadcast to every other socket of the namespace (Node's `socket.broadcast`).
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(Arc::clone(&self.inner.ns)).except(self.id())
    }

    /// A broadcast to every other socket but those in `room`.
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// Removes the socket from its namespace (the client sees `io server disconnect`);
    /// with `close`, also closes the client's connection, leaving every namespace.
    pub fn disconnect(&self, close: bool) {
        if !self.connected() {
            return;
        }
        if close {
            self.inner.client.disconnect_all();
            self.inner.client.session.close(CloseReason::ForcedClose);
        } else {
            self.send_packet(&Packet::disconnect(self.inner.ns.name.to_string()));
            self.on_close(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    /// Closes the client's connection without telling it to leave its namespaces (Node's
    /// `socket.conn.close()`): the sockets disconnect with `forced close`, a reason that lets
    /// a client with connection state recovery get its session back.
    pub fn close_connection(&self) {
        self.inner.client.session.close(CloseReason::ForcedClose);
    }

    /// What other nodes are told of this socket (its part of a `fetch_sockets` answer).
    pub fn info(&self) -> SocketInfo {
        SocketInfo {
            id: Arc::clone(&self.inner.id),
            rooms: self.inner.ns.rooms_of(&self.inner.id),
            handshake: self.inner.handshake.to_value(),
            data: Value::Null,
        }
    }

    /// Typed data kept with the socket (Node's `socket.data`), for the whole connection.
    pub fn extensions(&self) -> std::sync::MutexGuard<'_, http::Extensions> {
        lock(&self.inner.extensions)
    }

    pub(crate) fn send_packet(&self, packet: &Packet) {
        self.inner.client.session.send(encode(packet));
    }

    /// An event from the client.
    fn notify_outgoing(&self, event: &str, args: &[Value]) {
        let listeners = self.rare_listeners(|rare| rare.outgoing.clone());
        for listener in listeners {
            listener(self, event, args);
        }
    }

    pub(crate) fn on_event(&self, name: String, args: Vec<Value>, ack: Option<u64>) {
        let mut event = Event::new(name, args, ack.map(|id| (self.clone(), id)));
        let middleware = self.rare_listeners(|rare| rare.middleware.clone());
        for run in middleware {
            if let Err(error) = run(self, &mut event) {
                tracing::debug!(id = %self.inner.id, %error, "event refused by a middleware");
                for handler in self.rare_listeners(|rare| rare.errors.clone()) {
                    handler(self, &error);
                }
                return;
            }
        }
        // The catch-all handlers, then the event's own; the last gets the event itself, so
        // the common case (one handler) copies no arguments.
        let handlers: Vec<EventHandler> = {
            let listeners = lock(&self.inner.listeners);
            let any = listeners.rare.as_ref().map_or(&[][..], |rare| &rare.any[..]);
            let own = listeners.events.iter().filter(|(name, _)| **name == *event.name()).map(|(_, h)| h);
            any.iter().chain(own).cloned().collect()
        };
        if let Some((last, first)) = handlers.split_last() {
            for handler in first {
                spawn_handler(handler(self.clone(), event.clone()));
            }
            spawn_handler(last(self.clone(), event));
        }
    }

    /// A copy of one kind of the rarer listeners (none if none was ever added), to run
    /// without the lock held: a listener may add listeners.
    fn rare_listeners<T>(&self, pick: impl FnOnce(&RareListeners) -> Vec<T>) -> Vec<T> {
        lock(&self.inner.listeners).rare.as_deref().map(pick).unwrap_or_default()
    }

    /// The socket leaves its namespace: `disconnecting` (rooms readable), the rooms
    /// emptied, then `disconnect`. Once.
    pub(crate) fn on_close(&self, reason: DisconnectReason) {
        if !self.inner.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        for handler in self.rare_listeners(|rare| rare.disconnecting.clone()) {
            spawn_handler(handler(self.clone(), reason));
        }
        if let Some(pid) = &self.inner.pid
            && let Some(io) = self.inner.ns.io.upgrade()
        {
            if reason.is_recoverable() {
                io.recovery.keep(pid, self, self.inner.ns.rooms_of(&self.inner.id));
            } else {
                io.recovery.forget(pid);
            }
        }
        self.inner.ns.remove_socket(&self.inner.id);
        self.inner.client.remove(&self.inner.ns.name);
        self.inner.acks.clear();
        for handler in self.rare_listeners(|rare| rare.disconnected.clone()) {
            spawn_handler(handler(self.clone(), reason));
        }
        tracing::debug!(id = %self.inner.id, nsp = %self.inner.ns.name, reason = reason.as_str(), "socket disconnected");
    }
}

/// A socket whose next emit waits at most a time for its acknowledgement.
#[derive(Debug)]
pub struct TimedSocket<'a> {
    socket: &'a Socket,
    timeout: Duration,
}

impl TimedSocket<'_> {
    /// Emits `event` with `data` and waits for the acknowledgement; [`AckError::Timeout`] when
    /// none came in time.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<Value>, AckError> {
        let args = vec![windlass_sio_proto::to_value(data)?];
        self.socket.emit_args_with_ack(event, args, Some(self.timeout)).await
    }

    /// Emits `event` with any number of arguments and waits for the acknowledgement.
    pub async fn emit_args_with_ack(&self, event: &str, args: Vec<Value>) -> Result<Vec<Value>, AckError> {
        self.socket.emit_args_with_ack(event, args, Some(self.timeout)).await
    }
}

pub(crate) fn check_event(event: &str) -> Result<(), EmitError> {
    if RESERVED_EVENTS.contains(&event) {
        return Err(EmitError::Reserved(event.to_owned()));
    }
    Ok(())
}

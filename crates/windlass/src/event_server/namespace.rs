//! Namespaces: their sockets, rooms, connection handlers and middleware.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde::Serialize;

use super::adapter::{ClusterError, ServerAck};
use super::broadcast::BroadcastOperator;
use super::engine::lock;
use super::socket::{EmitError, Socket};
use super::{IoInner, Value};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type ConnectionHandler = Arc<dyn Fn(Socket) -> BoxFuture<()> + Send + Sync>;
type Middleware = Arc<dyn Fn(Socket) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;
type ServerSideHandler = Arc<dyn Fn(Vec<Value>, Option<ServerAck>) -> BoxFuture<()> + Send + Sync>;

/// A refusal from a namespace middleware: the client gets `CONNECT_ERROR` with
/// `{"message", "data"}` (Node's `next(err)` with `err.data`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectError {
    message: String,
    data: Option<Value>,
}

impl ConnectError {
    /// A refusal with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), data: None }
    }

    /// The refusal with details for the client (`err.data`).
    pub fn with_data<T: Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.data = windlass_sio_proto::to_value(data).ok();
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn into_parts(self) -> (String, Option<Value>) {
        (self.message, self.data)
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

/// A map keyed by socket id. Ids are random and drawn by the server, so a fast seeded hash
/// is safe here, where `SipHash`'s cost would be paid per recipient of every broadcast. (Room
/// names, which clients may choose, keep the standard hash.)
pub(crate) type IdMap<V> = HashMap<Arc<str>, V, foldhash::fast::RandomState>;
type IdSet<'a> = HashSet<&'a str, foldhash::fast::RandomState>;

/// Which sockets are in which rooms, both ways.
///
/// A socket's own room (its id) is not stored: it is the socket itself, found in the
/// namespace's sockets, which saves a set and two map entries per socket. A room keeps its
/// members' sockets, so a broadcast walks it without looking each one up.
#[derive(Default)]
pub(crate) struct Rooms {
    members: HashMap<Arc<str>, IdMap<Socket>>,
    /// Each socket's joined rooms in the order it joined them (after its own id), as Node's
    /// `socket.rooms` set iterates.
    of_socket: IdMap<Vec<Arc<str>>>,
}

/// The sockets a broadcast's `except` leaves out: a few ids compared directly (the usual
/// case: a socket's own room, for `socket.to(room)`), a set past that.
enum Excluded<'a> {
    Ids(Vec<&'a str>),
    Set(IdSet<'a>),
}

impl<'a> Excluded<'a> {
    /// Past this many ids, a set.
    const DIRECT: usize = 8;

    fn of(index: &'a Rooms, sockets: &'a IdMap<Socket>, except: &'a [Arc<str>]) -> Self {
        let ids = except.iter().flat_map(|room| {
            let own = sockets.get_key_value(room).map(|(id, _)| &**id);
            let joined =
                index.members.get(room).into_iter().flat_map(|members| members.keys().map(|id| &**id));
            own.into_iter().chain(joined)
        });
        let ids: Vec<&'a str> = ids.collect();
        if ids.len() > Self::DIRECT { Self::Set(ids.into_iter().collect()) } else { Self::Ids(ids) }
    }

    fn contains(&self, id: &str) -> bool {
        match self {
            Self::Ids(ids) => ids.contains(&id),
            Self::Set(set) => set.contains(id),
        }
    }
}

pub(crate) struct NsInner {
    pub(crate) name: Arc<str>,
    pub(crate) io: Weak<IoInner>,
    handlers: Mutex<Vec<ConnectionHandler>>,
    middleware: Mutex<Vec<Middleware>>,
    /// Listeners of events from other servers, by event name.
    server_side: Mutex<Vec<(String, ServerSideHandler)>>,
    pub(crate) sockets: Mutex<IdMap<Socket>>,
    pub(crate) rooms: Mutex<Rooms>,
    /// Ids of acknowledgements the server asks for, shared by the namespace's sockets.
    next_ack: AtomicU64,
    /// Event names sockets listen to, kept once for all of them (every socket of an app
    /// registers the same few), up to [`MAX_INTERNED`].
    names: Mutex<HashSet<Arc<str>>>,
}

/// Most event names kept by a namespace; past this, names (an app that makes them per
/// socket, say) get memory of their own.
const MAX_INTERNED: usize = 1024;

impl NsInner {
    pub(crate) fn new(name: String, io: Weak<IoInner>) -> Arc<Self> {
        Arc::new(Self {
            name: Arc::from(name),
            io,
            handlers: Mutex::new(Vec::new()),
            middleware: Mutex::new(Vec::new()),
            server_side: Mutex::new(Vec::new()),
            sockets: Mutex::new(IdMap::default()),
            rooms: Mutex::new(Rooms::default()),
            next_ack: AtomicU64::new(0),
            names: Mutex::new(HashSet::new()),
        })
    }

    /// `name`, shared with every socket that listens to it.
    pub(crate) fn intern(&self, name: String) -> Arc<str> {
        let mut names = lock(&self.names);
        if let Some(kept) = names.get(name.as_str()) {
            return Arc::clone(kept);
        }
        let name: Arc<str> = Arc::from(name);
        if names.len() < MAX_INTERNED {
            names.insert(Arc::clone(&name));
        }
        name
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.next_ack.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn connection_handlers(&self) -> Vec<ConnectionHandler> {
        lock(&self.handlers).clone()
    }

    pub(crate) fn middleware(&self) -> Vec<Middleware> {
        lock(&self.middleware).clone()
    }

    /// An event from another server: its name first, then its arguments. With several
    /// listeners, the first that answers answers (as in Node, one answer per server).
    pub(crate) fn on_server_side_event(&self, mut args: Vec<Value>, ack: Option<ServerAck>) {
        if args.is_empty() {
            return;
        }
        let Value::String(name) = args.remove(0) else { return };
        let listeners: Vec<ServerSideHandler> = lock(&self.server_side)
            .iter()
            .filter(|(event, _)| *event == name)
            .map(|(_, h)| Arc::clone(h))
            .collect();
        let wants_answer = ack.is_some();
        let ack = Arc::new(Mutex::new(ack));
        for listener in listeners {
            let once: Option<ServerAck> = if wants_answer {
                let ack = Arc::clone(&ack);
                Some(Box::new(move |answer: Value| {
                    if let Some(ack) = lock(&ack).take() {
                        ack(answer);
                    }
                }))
            } else {
                None
            };
            super::spawn_handler(listener(args.clone(), once));
        }
    }

    pub(crate) fn add_socket(&self, socket: &Socket) {
        lock(&self.sockets).insert(Arc::clone(&socket.inner.id), socket.clone());
    }

    pub(crate) fn remove_socket(&self, id: &str) {
        lock(&self.sockets).remove(id);
        let mut rooms = lock(&self.rooms);
        if let Some(joined) = rooms.of_socket.remove(id) {
            for room in joined {
                if let Some(members) = rooms.members.get_mut(&room) {
                    members.remove(id);
                    if members.is_empty() {
                        rooms.members.remove(&room);
                        self.room_changed(&room, false);
                    }
                }
            }
        }
    }

    /// Tells the adapter that `room` now has a first socket of this node (`created`) or no
    /// more (Node's `create-room` and `delete-room`). Called with the rooms locked, so that
    /// the adapter hears of a room's changes in the order they were made (the hooks only
    /// queue).
    fn room_changed(&self, room: &str, created: bool) {
        if let Some(io) = self.io.upgrade() {
            if created {
                io.adapter.room_created(&self.name, room);
            } else {
                io.adapter.room_deleted(&self.name, room);
            }
        }
    }

    pub(crate) fn join(&self, id: &Arc<str>, room: Arc<str>) {
        if *room == **id {
            return;
        }
        let mut rooms = lock(&self.rooms);
        let joined = rooms.of_socket.entry(Arc::clone(id)).or_default();
        if joined.contains(&room) {
            return;
        }
        if joined.capacity() == 0 {
            // Most sockets join a room or two: one slot first.
            joined.reserve_exact(1);
        }
        joined.push(Arc::clone(&room));
        let Some(socket) = lock(&self.sockets).get(id).cloned() else {
            joined.pop();
            return;
        };
        let members = rooms.members.entry(room).or_default();
        members.insert(Arc::clone(id), socket);
        if members.len() == 1 {
            // The room's name is the one just pushed.
            if let Some(room) = rooms.of_socket.get(id).and_then(|joined| joined.last()) {
                self.room_changed(room, true);
            }
        }
    }

    pub(crate) fn leave(&self, id: &str, room: &str) {
        let mut rooms = lock(&self.rooms);
        if let Some(joined) = rooms.of_socket.get_mut(id) {
            joined.retain(|r| &**r != room);
        }
        let Some(members) = rooms.members.get_mut(room) else { return };
        if members.remove(id).is_some() && members.is_empty() {
            rooms.members.remove(room);
            self.room_changed(room, false);
        }
    }

    /// The socket's rooms: its own id first, then those it joined, in order; none once it
    /// has left the namespace.
    pub(crate) fn rooms_of(&self, id: &Arc<str>) -> Vec<Arc<str>> {
        if !lock(&self.sockets).contains_key(id) {
            return Vec::new();
        }
        let rooms = lock(&self.rooms);
        let joined = rooms.of_socket.get(id).map_or(&[][..], Vec::as_slice);
        let mut all = Vec::with_capacity(1 + joined.len());
        all.push(Arc::clone(id));
        all.extend(joined.iter().cloned());
        all
    }

    /// Every room with a socket of this node in it, sockets' own rooms included (Node's
    /// `adapter.rooms` keys).
    pub(crate) fn all_rooms(&self) -> Vec<Arc<str>> {
        let mut all: Vec<Arc<str>> = lock(&self.sockets).keys().cloned().collect();
        all.extend(lock(&self.rooms).members.keys().cloned());
        all
    }

    pub(crate) fn room_size(&self, room: &str) -> usize {
        let joined = lock(&self.rooms).members.get(room).map_or(0, HashMap::len);
        joined + usize::from(lock(&self.sockets).contains_key(room))
    }

    /// The sockets a broadcast reaches: those in any of `rooms` (every socket when empty),
    /// once each, but none in `except`.
    pub(crate) fn targets(&self, rooms: &[Arc<str>], except: &[Arc<str>]) -> Vec<Socket> {
        let index = lock(&self.rooms);
        let sockets = lock(&self.sockets);
        let excluded = Excluded::of(&index, &sockets, except);
        // A room named by a socket id holds that socket (its own room) besides any joiners.
        let room = |room: &Arc<str>| {
            let own = sockets.get_key_value(room);
            let joined = index.members.get(room).into_iter().flat_map(|members| members.iter());
            own.into_iter().chain(joined).filter(|(id, _)| !excluded.contains(id))
        };
        match rooms {
            [] => sockets.iter().filter(|(id, _)| !excluded.contains(id)).map(|(_, s)| s.clone()).collect(),
            // One room needs no de-duplication: its joiners are distinct, and a socket never
            // joins its own room (`join` keeps it implicit).
            [one] => room(one).map(|(_, s)| s.clone()).collect(),
            _ => {
                let mut seen: IdSet<'_> = IdSet::default();
                rooms
                    .iter()
                    .flat_map(room)
                    .filter(|(id, _)| seen.insert(id))
                    .map(|(_, s)| s.clone())
                    .collect()
            }
        }
    }
}

/// A namespace: Node's `io.of(name)`.
#[derive(Clone)]
pub struct Namespace {
    pub(crate) inner: Arc<NsInner>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

impl Namespace {
    /// The name (`/`, `/admin`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Runs `handler` for every socket that joins (Node's `nsp.on("connection")`). Several
    /// handlers run in the order they were added.
    pub fn on_connection<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.handlers).push(Arc::new(move |socket| Box::pin(handler(socket))));
    }

    /// Adds a connect middleware (Node's `nsp.use`): it runs before a socket joins, in the
    /// order added; an `Err` refuses the socket with `CONNECT_ERROR`.
    pub fn middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        lock(&self.inner.middleware).push(Arc::new(move |socket| Box::pin(middleware(socket))));
    }

    /// Runs `handler` for `event` emitted by another server of the cluster (Node's
    /// `io.on(event)` for `serverSideEmit`): the arguments, and an answer callback when the
    /// other server waits for one.
    pub fn on_server_side<F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(Vec<Value>, Option<ServerAck>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.server_side)
            .push((event.into(), Arc::new(move |args, ack| Box::pin(handler(args, ack)))));
    }

    /// Emits `event` to the other servers of the cluster (Node's `serverSideEmit`); this one
    /// does not get it.
    pub fn server_side_emit(&self, event: &str, mut args: Vec<Value>) -> Result<(), EmitError> {
        super::socket::check_event(event)?;
        args.insert(0, Value::String(event.to_owned()));
        if let Some(io) = self.inner.io.upgrade() {
            io.adapter.server_side_emit(&self.inner.name, args);
        }
        Ok(())
    }

    /// Emits `event` to the other servers and collects one answer from each within
    /// `timeout` (Node's `serverSideEmitWithAck`); an error when one does not answer.
    pub async fn server_side_emit_with_ack(
        &self,
        event: &str,
        mut args: Vec<Value>,
        timeout: std::time::Duration,
    ) -> Result<Vec<Value>, ClusterError> {
        if super::socket::check_event(event).is_err() {
            return Err(ClusterError::Reserved(event.to_owned()));
        }
        args.insert(0, Value::String(event.to_owned()));
        let Some(io) = self.inner.io.upgrade() else { return Err(ClusterError::Closed) };
        let adapter = Arc::clone(&io.adapter);
        drop(io);
        adapter.server_side_emit_with_ack(&self.inner.name, args, timeout).await
    }

    /// Emits to every socket of the namespace.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.broadcast().emit(event, data)
    }

    /// Emits to every socket of the namespace, with any number of arguments.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.broadcast().emit_args(event, args)
    }

    /// A broadcast to every socket of the namespace, to narrow with `to` / `except`.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(Arc::clone(&self.inner))
    }

    /// A broadcast to the sockets in `room`.
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Same as [`to`](Self::to) (Node's `in`).
    pub fn within(&self, room: impl Into<String>) -> BroadcastOperator {
        self.to(room)
    }

    /// A broadcast to every socket but those in `room`.
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// The connected sockets.
    pub fn sockets(&self) -> Vec<Socket> {
        lock(&self.inner.sockets).values().cloned().collect()
    }

    /// The socket with `id`, if connected here.
    pub fn socket(&self, id: &str) -> Option<Socket> {
        lock(&self.inner.sockets).get(id).cloned()
    }

    /// How many sockets are in `room`.
    pub fn room_size(&self, room: &str) -> usize {
        self.inner.room_size(room)
    }
}

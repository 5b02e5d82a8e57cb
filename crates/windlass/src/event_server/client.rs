//! The Socket.IO side of one Engine.IO session: its packet decoder and its sockets, one per
//! namespace joined.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use windlass_sio_proto::socket::{self, Packet, PacketType};
use windlass_sio_proto::{Map, Value};

use super::engine::{CloseReason, EngineHandler, EngineMessage, EngineSession, lock, random_id};
use super::namespace::NsInner;
use super::recovery::{JoinFn, Restored};
use super::socket::{DisconnectReason, Handshake, Socket};
use super::{IoInner, SocketIo, spawn_handler};

/// Connects the engine to the Socket.IO layer of one server.
pub(crate) struct SioHandler {
    pub(crate) io: Weak<IoInner>,
}

impl SioHandler {
    fn client(session: &EngineSession) -> Option<Arc<Client>> {
        session.attachment().and_then(|any| any.downcast::<Client>().ok())
    }
}

impl EngineHandler for SioHandler {
    fn on_open(&self, session: &Arc<EngineSession>) {
        let client = Arc::new(Client {
            session: Arc::clone(session),
            io: self.io.clone(),
            decoder: Mutex::new(socket::Decoder::default()),
            sockets: Mutex::new(Vec::new()),
            joined: AtomicBool::new(false),
            connects: Mutex::new(None),
        });
        session.attach(Arc::clone(&client) as _);
    }

    fn connect_deadline(&self) -> Option<std::time::Duration> {
        self.io.upgrade().map(|io| io.config.connect_timeout)
    }

    /// A client that joined no namespace in time is let go (Node's `connectTimeout`).
    fn on_connect_deadline(&self, session: &Arc<EngineSession>) {
        if let Some(client) = Self::client(session)
            && !client.joined.load(Ordering::Acquire)
        {
            tracing::debug!(sid = %session.sid, "no namespace joined in time");
            session.close(CloseReason::ForcedClose);
        }
    }

    fn on_message(&self, session: &Arc<EngineSession>, message: EngineMessage) {
        if let Some(client) = Self::client(session) {
            client.on_message(message);
        }
    }

    fn on_close(&self, session: &Arc<EngineSession>, reason: CloseReason) {
        if let Some(client) = Self::client(session) {
            client.on_close(reason.into());
        }
        session.detach();
    }
}

pub(crate) struct Client {
    pub(crate) session: Arc<EngineSession>,
    io: Weak<IoInner>,
    decoder: Mutex<socket::Decoder>,
    /// The sockets, one per namespace joined: a list, as a client joins one or a few (a
    /// map's table would cost more on every client).
    sockets: Mutex<Vec<Socket>>,
    /// A namespace was joined (the connect timeout no longer applies).
    joined: AtomicBool,
    /// Namespace joins waiting for their turn, while there are any.
    connects: Mutex<Option<Box<ConnectQueue>>>,
}

/// Joins queued behind the one running (its task takes them in order).
type ConnectQueue = std::collections::VecDeque<super::namespace::BoxFuture<()>>;

impl Client {
    /// The socket in namespace `name`, if the client joined it.
    fn socket(&self, name: &str) -> Option<Socket> {
        lock(&self.sockets).iter().find(|socket| *socket.inner.ns.name == *name).cloned()
    }

    fn on_message(self: &Arc<Self>, message: EngineMessage) {
        let decoded = {
            let mut decoder = lock(&self.decoder);
            match message {
                EngineMessage::Text(text) => decoder.decode_text(text),
                EngineMessage::Binary(bytes) => decoder.decode_binary(bytes),
            }
        };
        match decoded {
            Ok(Some(packet)) => self.on_packet(packet),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(sid = %self.session.sid, error = %e, "bad socket.io packet");
                self.session.close(CloseReason::ParseError);
            }
        }
    }

    fn on_packet(self: &Arc<Self>, packet: Packet) {
        let socket = self.socket(packet.namespace.as_str());
        match (packet.kind, socket) {
            (PacketType::Connect, None) => self.connect(&Arc::from(packet.namespace.as_str()), packet.data),
            (PacketType::Event, Some(socket)) => {
                let id = packet.id;
                if let Some((name, args)) = packet.into_event() {
                    socket.on_event(name, args, id);
                }
            }
            (PacketType::Ack, Some(socket)) => {
                if let (Some(id), Some(Value::Array(args))) = (packet.id, packet.data) {
                    socket.inner.acks.answer(id, args);
                }
            }
            (PacketType::Disconnect, Some(socket)) => {
                socket.on_close(DisconnectReason::ClientNamespaceDisconnect);
            }
            (kind, _) => {
                // A packet for a namespace not joined (or not yet), a second CONNECT, or a
                // type only a server sends: Node closes the connection.
                tracing::debug!(sid = %self.session.sid, nsp = %packet.namespace, ?kind, "socket.io packet in an invalid state");
                self.on_close(DisconnectReason::ForcedServerClose);
                self.session.close(CloseReason::ForcedClose);
            }
        }
    }

    /// A CONNECT to namespace `name` with the client's auth payload.
    fn connect(self: &Arc<Self>, name: &Arc<str>, auth: Option<Value>) {
        let Some(io) = self.io.upgrade() else {
            return;
        };
        let Some(ns) = SocketIo::namespace_for(&io, name) else {
            self.send(&Packet::connect_error(name.to_string(), "Invalid namespace", None));
            return;
        };
        let auth = auth.unwrap_or_else(|| Value::Object(Map::new()));
        let handshake = self.handshake(auth.clone());
        let asked = io.recovery.asked(&auth);
        let client = Arc::clone(self);
        // The join completes after the current packet batch, as Node's does: a client that
        // sends to the namespace before the CONNECT reply breaks the protocol's order and is
        // closed, as by Node. A recovery is looked up there too (the store may be remote).
        self.queue_connect(async move {
            let Some((pid, offset)) = asked else {
                // A new session.
                drop(io);
                let socket = client.new_socket(&ns, handshake, None);
                if client.admitted(&ns, &socket).await {
                    client.join(&ns, &socket, &[], &[]);
                }
                return;
            };
            if io.recovery.skips_middleware() {
                // Looked up and joined in the store's order: no packet falls between the
                // missed ones and the live ones, and none comes twice.
                let fresh = Arc::new(AtomicBool::new(false));
                let join: JoinFn = {
                    let (client, ns, fresh, handshake) =
                        (Arc::clone(&client), Arc::clone(&ns), Arc::clone(&fresh), handshake.clone());
                    Box::new(move |restored| match restored {
                        Some(restored) => {
                            let socket = client.new_socket(&ns, handshake, Some(&restored));
                            client.join(&ns, &socket, &restored.session.rooms, &restored.missed);
                        }
                        None => fresh.store(true, Ordering::Release),
                    })
                };
                io.recovery.restore_then(&pid, &offset, &ns.name, join).await;
                drop(io);
                if fresh.load(Ordering::Acquire) {
                    // Nothing to recover: a new session, through the middleware.
                    let socket = client.new_socket(&ns, handshake, None);
                    if client.admitted(&ns, &socket).await {
                        client.join(&ns, &socket, &[], &[]);
                    }
                }
                return;
            }
            // The middleware runs first, on the socket the session would give back; then the
            // session is looked up again and joined in the store's order.
            let peek = io.recovery.restore(&pid, &offset, &ns.name).await;
            let socket = client.new_socket(&ns, handshake.clone(), peek.as_ref());
            if !client.admitted(&ns, &socket).await {
                return;
            }
            if peek.is_none() {
                drop(io);
                client.join(&ns, &socket, &[], &[]);
                return;
            }
            let join: JoinFn = {
                let (client, ns) = (Arc::clone(&client), Arc::clone(&ns));
                Box::new(move |restored| match restored {
                    Some(Restored { session, missed }) if session.id == socket.inner.id => {
                        client.join(&ns, &socket, &session.rooms, &missed);
                    }
                    // Gone in between: a new session (the middleware has admitted the client).
                    _ => {
                        let socket = client.new_socket(&ns, handshake, None);
                        client.join(&ns, &socket, &[], &[]);
                    }
                })
            };
            io.recovery.restore_then(&pid, &offset, &ns.name, join).await;
        });
    }

    /// A socket for this client in `ns`: the recovered one's id and pid, or new ones.
    fn new_socket(
        self: &Arc<Self>,
        ns: &Arc<NsInner>,
        handshake: Handshake,
        restored: Option<&Restored>,
    ) -> Socket {
        if let Some(Restored { session, .. }) = restored {
            return Socket::new(
                Arc::clone(&session.id),
                Some(Arc::clone(&session.pid)),
                Arc::clone(ns),
                Arc::clone(self),
                handshake,
                true,
            );
        }
        let recovery = self.io.upgrade().is_some_and(|io| io.recovery.enabled());
        let pid = recovery.then(random_id);
        Socket::new(random_id(), pid, Arc::clone(ns), Arc::clone(self), handshake, false)
    }

    /// Runs the namespace's middleware on `socket`; `false` (and the client refused) if one
    /// says no.
    async fn admitted(&self, ns: &NsInner, socket: &Socket) -> bool {
        for run in ns.middleware() {
            if let Err(e) = run(socket.clone()).await {
                self.refuse(ns, e);
                return false;
            }
        }
        true
    }

    /// Runs a namespace join after those queued before it, on a task of its own: the joins of
    /// one client complete in the order it asked for them.
    fn queue_connect(self: &Arc<Self>, join: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut slot = lock(&self.connects);
        if let Some(queue) = slot.as_mut() {
            // The task runs: it takes this one after those before it.
            queue.push_back(Box::pin(join));
            return;
        }
        *slot = Some(Box::default());
        drop(slot);
        let client = Arc::clone(self);
        tokio::spawn(async move {
            join.await;
            loop {
                let job = {
                    let mut slot = lock(&client.connects);
                    let Some(job) = slot.as_mut().and_then(|queue| queue.pop_front()) else {
                        // A client joins once or a few times: no queue is kept after.
                        *slot = None;
                        return;
                    };
                    job
                };
                job.await;
            }
        });
    }

    fn refuse(&self, ns: &NsInner, error: super::ConnectError) {
        let (message, data) = error.into_parts();
        self.send(&Packet::connect_error(ns.name.to_string(), &message, data));
    }

    /// The socket joins: its rooms, the CONNECT reply (after any missed packets), then the
    /// connection handlers.
    fn join(self: &Arc<Self>, ns: &Arc<NsInner>, socket: &Socket, rooms: &[Arc<str>], missed: &[Packet]) {
        if self.session.is_closed() {
            return;
        }
        socket.inner.connected.store(true, Ordering::Release);
        ns.add_socket(socket);
        for room in rooms {
            ns.join(&socket.inner.id, Arc::clone(room));
        }
        let mut sockets = lock(&self.sockets);
        // Grown one at a time: a client joins one namespace or a few.
        sockets.reserve_exact(1);
        sockets.push(socket.clone());
        drop(sockets);
        self.joined.store(true, Ordering::Release);
        for packet in missed {
            self.send(packet);
        }
        let mut reply = Map::with_capacity(2);
        reply.insert("sid", Value::String(socket.id().to_owned()));
        if let Some(pid) = &socket.inner.pid {
            reply.insert("pid", Value::String(pid.to_string()));
        }
        self.send(&Packet::connect(ns.name.to_string(), Some(Value::Object(reply))));
        // A store shared by nodes saves the session now, not when the socket goes away.
        socket.session_changed();
        for handler in ns.connection_handlers() {
            spawn_handler(handler(socket.clone()));
        }
    }

    fn handshake(&self, auth: Value) -> Handshake {
        Handshake::new(Arc::clone(&self.session), auth)
    }

    fn send(&self, packet: &Packet) {
        self.session.send(super::broadcast::encode(packet));
    }

    pub(crate) fn remove(&self, ns: &str) {
        lock(&self.sockets).retain(|socket| *socket.inner.ns.name != *ns);
    }

    /// Every socket leaves with a DISCONNECT (the server's `disconnect(true)`).
    pub(crate) fn disconnect_all(&self) {
        self.disconnect_all_with(DisconnectReason::ServerNamespaceDisconnect);
    }

    fn disconnect_all_with(&self, reason: DisconnectReason) {
        let sockets: Vec<Socket> = lock(&self.sockets).clone();
        for socket in sockets {
            socket.send_packet(&Packet::disconnect(socket.namespace().name().to_owned()));
            socket.on_close(reason);
        }
    }

    fn on_close(&self, reason: DisconnectReason) {
        let sockets: Vec<Socket> = std::mem::take(&mut *lock(&self.sockets));
        for socket in sockets {
            socket.on_close(reason);
        }
    }
}

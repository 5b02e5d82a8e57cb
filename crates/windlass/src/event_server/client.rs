//! The Socket.IO side of one Engine.IO session: its packet decoder and its sockets, one per
//! namespace joined.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use windlass_sio_proto::socket::{self, Packet, PacketType};
use windlass_sio_proto::{Map, Value};

use super::engine::{CloseReason, EngineHandler, EngineMessage, EngineSession, lock, random_id};
use super::namespace::NsInner;
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
            sockets: Mutex::new(HashMap::new()),
            joined: AtomicBool::new(false),
            connects: Mutex::new(ConnectQueue::default()),
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
    /// The sockets by namespace name.
    sockets: Mutex<HashMap<Arc<str>, Socket>>,
    /// A namespace was joined (the connect timeout no longer applies).
    joined: AtomicBool,
    /// Namespace joins waiting for their turn.
    connects: Mutex<ConnectQueue>,
}

#[derive(Default)]
struct ConnectQueue {
    jobs: std::collections::VecDeque<super::namespace::BoxFuture<()>>,
    running: bool,
}

impl Client {
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
        let ns: Arc<str> = Arc::from(packet.namespace.as_str());
        let socket = lock(&self.sockets).get(&ns).cloned();
        match (packet.kind, socket) {
            (PacketType::Connect, None) => self.connect(&ns, packet.data),
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
                tracing::debug!(sid = %self.session.sid, nsp = %ns, ?kind, "socket.io packet in an invalid state");
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
        if let Some(restored) = io.recovery.restore(&auth, name) {
            let socket = Socket::new(
                restored.id,
                Some(restored.pid),
                Arc::clone(&ns),
                Arc::clone(self),
                handshake,
                true,
            );
            let skip = io.recovery.skips_middleware();
            let client = Arc::clone(self);
            let middleware = if skip { Vec::new() } else { ns.middleware() };
            // The join completes after the current packet batch, as Node's does: a client
            // that sends to the namespace before the CONNECT reply breaks the protocol's
            // order and is closed, as by Node.
            self.queue_connect(async move {
                for run in middleware {
                    if let Err(e) = run(socket.clone()).await {
                        client.refuse(&ns, e);
                        return;
                    }
                }
                client.join(&ns, &socket, &restored.rooms, &restored.missed);
            });
            return;
        }
        let pid = io.recovery.enabled().then(random_id);
        let socket = Socket::new(random_id(), pid, Arc::clone(&ns), Arc::clone(self), handshake, false);
        let middleware = ns.middleware();
        let client = Arc::clone(self);
        self.queue_connect(async move {
            for run in middleware {
                if let Err(e) = run(socket.clone()).await {
                    client.refuse(&ns, e);
                    return;
                }
            }
            let own = [Arc::clone(&socket.inner.id)];
            client.join(&ns, &socket, &own, &[]);
        });
    }

    /// Runs a namespace join after those queued before it, on a task of its own: the joins of
    /// one client complete in the order it asked for them.
    fn queue_connect(self: &Arc<Self>, join: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut queue = lock(&self.connects);
        queue.jobs.push_back(Box::pin(join));
        if queue.running {
            return;
        }
        queue.running = true;
        drop(queue);
        let client = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let job = {
                    let mut queue = lock(&client.connects);
                    let Some(job) = queue.jobs.pop_front() else {
                        queue.running = false;
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
        lock(&self.sockets).insert(Arc::clone(&ns.name), socket.clone());
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
        for handler in ns.connection_handlers() {
            spawn_handler(handler(socket.clone()));
        }
    }

    fn handshake(&self, auth: Value) -> Handshake {
        Handshake::new(Arc::clone(&self.session.handshake), auth)
    }

    fn send(&self, packet: &Packet) {
        self.session.send(super::broadcast::encode(packet));
    }

    pub(crate) fn remove(&self, ns: &str) {
        lock(&self.sockets).remove(ns);
    }

    /// Every socket leaves with a DISCONNECT (the server's `disconnect(true)`).
    pub(crate) fn disconnect_all(&self) {
        self.disconnect_all_with(DisconnectReason::ServerNamespaceDisconnect);
    }

    fn disconnect_all_with(&self, reason: DisconnectReason) {
        let sockets: Vec<Socket> = lock(&self.sockets).values().cloned().collect();
        for socket in sockets {
            socket.send_packet(&Packet::disconnect(socket.namespace().name().to_owned()));
            socket.on_close(reason);
        }
    }

    fn on_close(&self, reason: DisconnectReason) {
        let sockets: Vec<Socket> = lock(&self.sockets).drain().map(|(_, socket)| socket).collect();
        for socket in sockets {
            socket.on_close(reason);
        }
    }
}

//! The seam to other nodes (Node's `Adapter`): what a namespace does that may concern sockets
//! on other processes goes through an [`Adapter`], and what other nodes ask is applied here
//! through a [`Node`].
//!
//! ```text
//! BroadcastOperator ── local sockets first ──► Adapter::broadcast ──► other nodes
//!        ▲                                                              │
//!        └────────── Node::broadcast (this node's sockets only) ◄───────┘
//! ```
//!
//! [`LocalAdapter`], the default, has no other nodes: every call answers for this process.
//! `windlass-cluster` has the adapters over Redis and NATS.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{BufMut as _, BytesMut};
use windlass_sio_proto::socket::{Packet, PacketType, write_head};

use super::broadcast::BroadcastOperator;
use super::namespace::NsInner;
use super::{IoInner, SocketIo, Value};

/// A future an [`Adapter`] answers with.
pub type AdapterFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whom a broadcast or a request about sockets is aimed at: Node's `BroadcastOptions`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BroadcastOptions {
    /// The rooms (the union of them); none means every socket of the namespace.
    pub rooms: Vec<Arc<str>>,
    /// The rooms whose sockets are left out.
    pub except: Vec<Arc<str>>,
    /// How to deliver.
    pub flags: BroadcastFlags,
}

/// How a broadcast is delivered (Node's `flags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BroadcastFlags {
    /// May be lost: not kept for recovery, dropped for clients that do not keep up.
    pub volatile: bool,
    /// Compressed where the transport agreed on it; default true.
    pub compress: bool,
    /// This node only: not handed to the adapter.
    pub local: bool,
    /// For broadcasts with acknowledgements: how long to wait for them.
    pub timeout: Option<Duration>,
}

impl Default for BroadcastFlags {
    fn default() -> Self {
        Self { volatile: false, compress: true, local: false, timeout: None }
    }
}

/// A socket as another node describes it (Node's `RemoteSocket` data): what
/// [`BroadcastOperator::fetch_sockets`] returns for every socket, wherever it is.
#[derive(Clone, Debug, PartialEq)]
pub struct SocketInfo {
    /// The socket's id.
    pub id: Arc<str>,
    /// Its rooms, its own id first.
    pub rooms: Vec<Arc<str>>,
    /// Its handshake as Node sends it between nodes: `{headers, time, address, xdomain,
    /// secure, issued, url, query, auth}`.
    pub handshake: Value,
    /// Its data (Node's `socket.data`); `null` for windlass sockets, whose data is typed and
    /// stays on their node.
    pub data: Value,
}

/// A request to other nodes that could not be answered truthfully. A cluster never guesses:
/// an answer missing from a node it knows of is an error, not a smaller count.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The broker could not be reached.
    #[error("the broker is unreachable: {0}")]
    Broker(String),
    /// Some nodes did not answer in time.
    #[error("{answered} of {expected} nodes answered within {timeout:?}")]
    Timeout {
        /// Nodes that answered (this one not counted).
        answered: usize,
        /// Nodes that should have.
        expected: usize,
        /// How long the request waited.
        timeout: Duration,
    },
    /// The adapter is shut down.
    #[error("the adapter is closed")]
    Closed,
    /// The event name is one Socket.IO keeps for itself (nothing was sent).
    #[error("\"{0}\" is a reserved event name")]
    Reserved(String),
}

/// What the other nodes report about a broadcast that waits for acknowledgements
/// ([`Adapter::broadcast_with_ack`]), as it comes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AckReport {
    /// How many other nodes got the broadcast: each of them reports
    /// [`Sockets`](Self::Sockets) once.
    Nodes(usize),
    /// One node sent it to this many of its sockets; their answers follow.
    Sockets(usize),
    /// One socket's answer: its first argument (all Node's wire carries), `None` when it
    /// answered with none.
    Answer(Option<Value>),
    /// The cluster cannot say who got the broadcast (the broker is unreachable): no count
    /// would be true.
    Failed(ClusterError),
}

/// Where an adapter sends the [`AckReport`]s of one broadcast. The event layer drops it once
/// it has every answer or gives up; the adapter stops tracking the broadcast then.
pub type AckReports = tokio::sync::mpsc::UnboundedReceiver<AckReport>;

/// What the event layer asks of other nodes. One adapter serves every namespace of a
/// [`SocketIo`]; its methods name the namespace.
///
/// Every method that sends is synchronous for the caller: an adapter that talks to a broker
/// queues the message in order and returns. A broadcast reaches this node's sockets before
/// the adapter sees it.
pub trait Adapter: Send + Sync + 'static {
    /// Called once, when the server is built: the handle through which the adapter applies
    /// what other nodes send. The adapter must keep it weak-safe (a [`Node`] does not keep
    /// the server alive).
    fn attach(&self, node: Node) {
        let _ = node;
    }

    /// A namespace was made on this node (`/` at once, others as clients or the app open
    /// them): the adapter starts listening for it.
    fn namespace_created(&self, nsp: &str) {
        let _ = nsp;
    }

    /// A room of namespace `nsp` has its first socket on this node (Node's `create-room`):
    /// an adapter that listens per room starts listening for it. Called with the namespace's
    /// rooms locked, in the order rooms change: queue the work, do not block or call back
    /// into the namespace.
    fn room_created(&self, nsp: &str, room: &str) {
        let _ = (nsp, room);
    }

    /// The last socket of this node left the room (Node's `delete-room`).
    fn room_deleted(&self, nsp: &str, room: &str) {
        let _ = (nsp, room);
    }

    /// Resolves once broadcasts to `room` made on other nodes reach this node's sockets in
    /// it (used after a join). At once for adapters that listen to every room, the default;
    /// once the room's subscription is made for those that listen per room.
    fn room_ready<'a>(&'a self, nsp: &'a str, room: &'a str) -> AdapterFuture<'a, ()> {
        let _ = (nsp, room);
        Box::pin(std::future::ready(()))
    }

    /// Whether the adapter is a log that delivers every broadcast, this node's own included,
    /// in one order for the whole cluster (Redis Streams, `JetStream`). Then the event layer
    /// hands it broadcasts without delivering them itself, and the adapter delivers them
    /// through [`Node::broadcast_at`] with their position in the log, which is the offset
    /// connection state recovery gives clients. Default false: the event layer delivers a
    /// broadcast to this node's sockets, then hands it over.
    fn orders_broadcasts(&self) -> bool {
        false
    }

    /// A broadcast made on this node, for the sockets of the other nodes (and, when the
    /// adapter [orders broadcasts](Self::orders_broadcasts), of this one).
    fn broadcast(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions);

    /// A broadcast made on this node that waits for one acknowledgement per socket (Node's
    /// `broadcastWithAck`), for the sockets of the other nodes (this node's got it already):
    /// the adapter reports how many nodes got it, how many sockets each reached, and every
    /// answer. `opts.flags.timeout` is how long the caller waits. The default has no other
    /// nodes: `None`.
    fn broadcast_with_ack(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) -> Option<AckReports> {
        let _ = (nsp, packet, opts);
        None
    }

    /// The sockets of the other nodes that `opts` aims at.
    fn fetch_sockets<'a>(
        &'a self,
        nsp: &'a str,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<SocketInfo>, ClusterError>>;

    /// Makes the sockets of the other nodes that `opts` aims at join `rooms`.
    fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]);

    /// Makes them leave `rooms`.
    fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]);

    /// Disconnects them (with `close`, their connections too).
    fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool);

    /// An event for the other servers' namespace `nsp` (Node's `serverSideEmit`): `args` is
    /// the event name and its arguments. The default has no other servers.
    fn server_side_emit(&self, nsp: &str, args: Vec<Value>) {
        let _ = (nsp, args);
    }

    /// The same, collecting one answer per other server within `timeout`; an error, not a
    /// shorter list, when one does not answer (Node's `serverSideEmitWithAck`). The default
    /// has no other servers: no answers.
    fn server_side_emit_with_ack<'a>(
        &'a self,
        nsp: &'a str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> AdapterFuture<'a, Result<Vec<Value>, ClusterError>> {
        let _ = (nsp, args, timeout);
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// Stops: unsubscribes, ends its tasks. Called by [`SocketIo::close`].
    fn close(&self) {}

    /// Waits until what was handed to the adapter so far has gone to the broker, for at most
    /// `timeout` (a node that stops lets its last messages out). The default has nothing to
    /// send.
    fn flush(&self, timeout: Duration) -> AdapterFuture<'_, ()> {
        let _ = timeout;
        Box::pin(std::future::ready(()))
    }
}

/// The answer callback of a server-side event that asked for one: call it once with the
/// answer (Node passes the listener a callback as its last argument).
pub type ServerAck = Box<dyn FnOnce(Value) + Send>;

/// The adapter of a single process: no other nodes, so nothing to send and nobody to ask.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalAdapter;

impl Adapter for LocalAdapter {
    fn broadcast(&self, _nsp: &str, _packet: &Packet, _opts: &BroadcastOptions) {}

    fn fetch_sockets<'a>(
        &'a self,
        _nsp: &'a str,
        _opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<SocketInfo>, ClusterError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn add_sockets(&self, _nsp: &str, _opts: &BroadcastOptions, _rooms: &[Arc<str>]) {}

    fn del_sockets(&self, _nsp: &str, _opts: &BroadcastOptions, _rooms: &[Arc<str>]) {}

    fn disconnect_sockets(&self, _nsp: &str, _opts: &BroadcastOptions, _close: bool) {}
}

/// This node, as an adapter sees it: applies what other nodes send to this node's sockets
/// only (never back to the adapter). Holds the server weakly: once it is gone every call
/// does nothing.
#[derive(Clone)]
pub struct Node {
    io: Weak<IoInner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("alive", &(self.io.strong_count() > 0)).finish()
    }
}

impl Node {
    pub(crate) fn new(io: Weak<IoInner>) -> Self {
        Self { io }
    }

    /// The server, while it exists.
    pub fn server(&self) -> Option<SocketIo> {
        self.io.upgrade().map(|inner| SocketIo { inner })
    }

    /// The namespace `nsp` if this node has it (never made here: a node without the
    /// namespace has no sockets in it).
    fn namespace(&self, nsp: &str) -> Option<Arc<NsInner>> {
        let io = self.io.upgrade()?;
        SocketIo::existing_namespace(&io, nsp)
    }

    fn operator(&self, nsp: &str, opts: &BroadcastOptions) -> Option<BroadcastOperator> {
        let ns = self.namespace(nsp)?;
        let mut opts = opts.clone();
        opts.flags.local = true;
        Some(BroadcastOperator::with_options(ns, opts))
    }

    /// Delivers another node's broadcast to this node's sockets. Not kept for recovery here:
    /// the node that made it did that.
    pub fn broadcast(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) {
        if let Some(operator) = self.operator(nsp, opts) {
            operator.deliver_packet(packet);
        }
    }

    /// Delivers a broadcast read from the cluster's log at `offset` to this node's sockets:
    /// with connection state recovery on (and the broadcast not volatile), `offset` is
    /// appended as its last argument, as the offset clients recover from. Takes the packet,
    /// to append the offset without copying its data.
    pub fn broadcast_at(&self, nsp: &str, packet: Packet, opts: &BroadcastOptions, offset: &str) {
        let Some(operator) = self.operator(nsp, opts) else { return };
        let recovery = self.io.upgrade().is_some_and(|io| io.recovery.enabled());
        if recovery && !opts.flags.volatile {
            operator.deliver_packet(&with_offset(packet, offset));
        } else {
            operator.deliver_packet(&packet);
        }
    }

    /// [`broadcast`](Self::broadcast) of a packet an adapter wrote as text.
    pub fn broadcast_text(&self, nsp: &str, text: PacketText, opts: &BroadcastOptions) {
        if let Some(operator) = self.operator(nsp, opts) {
            operator.deliver_text(&text.text.freeze());
        }
    }

    /// [`broadcast_at`](Self::broadcast_at) of a packet an adapter wrote as text.
    pub fn broadcast_text_at(&self, nsp: &str, mut text: PacketText, opts: &BroadcastOptions, offset: &str) {
        let Some(operator) = self.operator(nsp, opts) else { return };
        if !opts.flags.volatile && self.io.upgrade().is_some_and(|io| io.recovery.enabled()) {
            text.push_argument(offset);
        }
        operator.deliver_text(&text.text.freeze());
    }

    /// Delivers another node's broadcast that waits for acknowledgements to this node's
    /// sockets: `count` is called at once with how many it reached, then `answer` once per
    /// socket that answers within `opts.flags.timeout` (default the server's ack timeout),
    /// with the answer's first argument.
    pub fn broadcast_with_ack(
        &self,
        nsp: &str,
        packet: &Packet,
        opts: &BroadcastOptions,
        count: impl FnOnce(usize),
        answer: impl Fn(Option<Value>) + Send + 'static,
    ) {
        let Some(operator) = self.operator(nsp, opts) else { return count(0) };
        let (id, waits) = operator.send_with_ack(packet.clone());
        count(waits.len());
        if waits.is_empty() {
            return;
        }
        let timeout = operator.ack_timeout();
        tokio::spawn(async move {
            let mut answers: futures_util::stream::FuturesUnordered<_> = waits
                .into_iter()
                .map(|(socket, rx)| async move { socket.inner.acks.wait(id, rx, Some(timeout)).await })
                .collect();
            while let Some(outcome) = futures_util::StreamExt::next(&mut answers).await {
                if let Ok(args) = outcome {
                    answer(args.into_iter().next());
                }
            }
        });
    }

    /// This node's sockets that `opts` aims at.
    pub fn sockets(&self, nsp: &str, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.operator(nsp, opts).map(|operator| operator.local_infos()).unwrap_or_default()
    }

    /// Makes this node's sockets that `opts` aims at join `rooms`.
    pub fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]) {
        if let Some(operator) = self.operator(nsp, opts) {
            for socket in operator.sockets() {
                for room in rooms {
                    socket.join(room.to_string());
                }
            }
        }
    }

    /// Makes them leave `rooms`.
    pub fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]) {
        if let Some(operator) = self.operator(nsp, opts) {
            for socket in operator.sockets() {
                for room in rooms {
                    socket.leave(room);
                }
            }
        }
    }

    /// Disconnects them.
    pub fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool) {
        if let Some(operator) = self.operator(nsp, opts) {
            for socket in operator.sockets() {
                socket.disconnect(close);
            }
        }
    }

    /// Every room of `nsp` that has a socket of this node, sockets' own rooms included.
    pub fn rooms(&self, nsp: &str) -> Vec<Arc<str>> {
        self.namespace(nsp).map(|ns| ns.all_rooms()).unwrap_or_default()
    }

    /// Runs namespace `nsp`'s server-side listeners for an event another server emitted
    /// (`args`: the name, then the arguments), with `ack` when that server waits for an answer.
    pub fn server_side_event(&self, nsp: &str, args: Vec<Value>, ack: Option<ServerAck>) {
        if let Some(ns) = self.namespace(nsp) {
            ns.on_server_side_event(args, ack);
        }
    }

    /// The namespaces this node has.
    pub fn namespaces(&self) -> Vec<String> {
        self.io.upgrade().map(|io| SocketIo::namespace_names(&io)).unwrap_or_default()
    }
}

/// A broadcast's packet written as text by an adapter that reads it off the wire without
/// building its values (the data of a 128-byte event cost more to build, print and drop than
/// the rest of its delivery): an event or an acknowledgement without binary, held as the
/// Engine.IO message that carries it, `4` then the Socket.IO text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketText {
    text: BytesMut,
    kind: PacketType,
    id: Option<u64>,
    /// Where the namespace's name ends in `text`: it starts at 2, after `4` and the kind, and
    /// is not written for `/`.
    namespace_end: usize,
    /// Where the data starts in `text`.
    data_at: usize,
}

impl PacketText {
    /// The packet of `kind` in `namespace` with `id` whose data is `data`, a JSON array as
    /// `JSON.stringify` writes it; `None` for a packet of another kind (binary events and
    /// acks count as plain ones: the data holds no binary) or data that is not an array.
    /// The JSON inside the array is not checked: the caller wrote it.
    pub fn new(kind: PacketType, namespace: &str, id: Option<u64>, data: &[u8]) -> Option<Self> {
        let kind = match kind {
            PacketType::Event | PacketType::BinaryEvent => PacketType::Event,
            PacketType::Ack | PacketType::BinaryAck => PacketType::Ack,
            _ => return None,
        };
        if data.len() < 2 || data[0] != b'[' || data[data.len() - 1] != b']' {
            return None;
        }
        let mut text = BytesMut::with_capacity(data.len() + namespace.len() + 24);
        text.put_u8(b'4');
        write_head(kind, namespace, id, &mut text);
        let written = !namespace.is_empty() && namespace != "/";
        let namespace_end = if written { 2 + namespace.len() } else { 2 };
        let data_at = text.len();
        text.put_slice(data);
        Some(Self { text, kind, id, namespace_end, data_at })
    }

    /// The Socket.IO text (after the Engine.IO `4`).
    pub fn as_str(&self) -> &str {
        // Only `str` pieces and ASCII are written.
        std::str::from_utf8(&self.text[1..]).unwrap_or_default()
    }

    /// The packet, its data parsed from the text (recovery keeps packets). Not the text
    /// decoded as a client's packet would be: the checks made of a client's input (an event's
    /// name, a namespace's form) are not made of what another node sent, as on the path that
    /// builds values. `None` when the data does not parse, which it does when the caller
    /// wrote it as [`new`](Self::new) asks.
    pub fn to_packet(&self) -> Option<Packet> {
        let namespace = match self.namespace_end {
            2 => "/",
            end => std::str::from_utf8(&self.text[2..end]).ok()?,
        };
        let data = std::str::from_utf8(&self.text[self.data_at..]).ok()?;
        let data = Value::from_json(data).ok()?;
        Some(Packet { kind: self.kind, namespace: namespace.into(), id: self.id, data: Some(data) })
    }

    /// Appends `argument` to the data, as [`with_offset`] does to a packet.
    fn push_argument(&mut self, argument: &str) {
        let close = self.text.len() - 1;
        let empty = self.text[close - 1] == b'[';
        self.text.truncate(close);
        if !empty {
            self.text.put_u8(b',');
        }
        let mut string = Vec::with_capacity(argument.len() + 2);
        windlass_sio_proto::Value::write_json_string(argument, &mut string);
        self.text.put_slice(&string);
        self.text.put_u8(b']');
    }
}

/// `packet` (an event) with `offset` appended to its arguments, as recovery sends it.
pub fn with_offset(mut packet: Packet, offset: &str) -> Packet {
    if let Some(Value::Array(items)) = &mut packet.data {
        items.push(Value::String(offset.to_owned()));
    }
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_text_is_the_engine_io_message_of_the_packet() {
        let text = PacketText::new(PacketType::BinaryEvent, "/chat", Some(3), br#"["ev",1]"#).unwrap();
        assert_eq!(text.as_str(), r#"2/chat,3["ev",1]"#);
        assert_eq!(&text.text[..1], b"4");
        assert_eq!(text.to_packet().unwrap(), Packet::event("/chat", "ev", vec![Value::from(1)]).with_id(3));
        let ack = PacketText::new(PacketType::Ack, "/", Some(9), b"[]").unwrap();
        assert_eq!(ack.as_str(), "39[]");
        for (kind, data) in [
            (PacketType::Connect, &b"[]"[..]),
            (PacketType::Event, br#"{"a":1}"#),
            (PacketType::Event, b"["),
            (PacketType::Event, b""),
        ] {
            assert_eq!(PacketText::new(kind, "/", None, data), None, "{kind:?} {data:?}");
        }
    }

    #[test]
    fn a_packet_text_reads_back_as_the_packet_built_by_value() {
        // Shapes a client's packet may not have (no name, an object first, a reserved name,
        // an id past 2^53, a namespace with a comma) are another node's to send: recovery
        // keeps them, as the path that builds values does.
        for (namespace, id, data) in [
            ("/", None, "[]"),
            ("/", None, r#"[{"a":1}]"#),
            ("/", None, r#"["disconnect"]"#),
            ("/a,b", Some(u64::MAX), r#"["ev",1.5,[null,true]]"#),
            ("/chat", Some(0), r#"["ev","12-3"]"#),
        ] {
            let text = PacketText::new(PacketType::Event, namespace, id, data.as_bytes()).unwrap();
            let packet = Packet {
                kind: PacketType::Event,
                namespace: namespace.into(),
                id,
                data: Some(Value::from_json(data).unwrap()),
            };
            assert_eq!(text.to_packet(), Some(packet), "{data}");
        }
        let mut text = PacketText::new(PacketType::Ack, "/", Some(4), br#"["x"]"#).unwrap();
        text.push_argument("7-1");
        let expected = Packet::new(PacketType::Ack, "/", Some(Value::from_json(r#"["x","7-1"]"#).unwrap()));
        assert_eq!(text.to_packet(), Some(expected.with_id(4)));
    }

    #[test]
    fn an_offset_is_appended_to_a_packet_text_as_with_offset_appends_it() {
        for args in [vec![], vec![Value::from("ev")], vec![Value::from("ev"), Value::Array(vec![])]] {
            let packet = Packet::new(PacketType::Event, "/", Some(Value::Array(args)));
            let data = packet.data.as_ref().unwrap().to_json();
            let mut text = PacketText::new(PacketType::Event, "/", None, data.as_bytes()).unwrap();
            text.push_argument("12-3\"");
            assert_eq!(text.as_str(), &*with_offset(packet, "12-3\"").encode().text);
        }
    }
}

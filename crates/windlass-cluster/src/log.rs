//! Adapters over a log (Redis Streams, `JetStream`): the log is the cluster's one order, and
//! every node — the one that emitted included — delivers broadcasts as it reads them, with
//! the entry's position as the recovery offset. Sessions live in the broker too, saved when
//! they change. The broker is behind [`Broker`]; everything else is here.
//!
//! ```text
//!  emit ─► outbox (ordered, retried until the broker takes it) ─► Broker::write ─► log
//!                                                                                 │
//!  Node::broadcast_at(offset = position) ◄── reader: Broker::read after the last applied
//!  sessions: Broker::write(PutSession …) on connect, join, leave; renewed while connected
//! ```
//!
//! - **Exactly once, in order.** The reader resumes after the last entry it applied, so a
//!   broken connection or a restarted broker neither skips nor repeats entries. The outbox
//!   keeps what could not be written and writes it, in order, when the broker is back; a
//!   write whose answer was lost may land twice, and readers drop the second copy by the
//!   sender's sequence number.
//! - **Recovery on any node, even after a crash.** A socket's session (id, rooms) is saved
//!   when it joins its namespace and when it joins or leaves a room, so a client whose node
//!   was killed with `SIGKILL` recovers on another node: its session from the broker, the
//!   packets it missed from the log, joined while the reader waits, so that nothing falls
//!   between the missed packets and the live ones.
//! - **Membership.** Every node writes a heartbeat every 5 s and is forgotten 10 s after its
//!   last one (at once when it closes); a `fetch_sockets` waits for every live node's answer
//!   and fails, rather than undercounts, when one does not come.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use windlass::event_server::{
    AckReport, AckReports, Adapter, AdapterFuture, BroadcastOptions, ClusterError, JoinFn, KeptSession, Node,
    Restored, SessionStore, SocketInfo, StoreFuture, StoredPacket, Value, with_offset,
};
use windlass_sio_proto::socket::Packet;

use crate::common::{
    AckWait, Collected, Pending, Respond, apply_answer, apply_request, deliver, forget_when_done, lock,
    random_id,
};
use crate::wire::{
    self, BroadcastPacket, BroadcastParts, ClusterMessage, MessageType, StoredSession, Unnumbered, WireError,
};

/// An entry read from the log.
pub struct Entry {
    /// Its position, which clients get as their offset.
    pub offset: String,
    /// The message, or why it could not be read.
    pub message: Result<ClusterMessage, WireError>,
    /// A broadcast's packet and options when the broker read them in place (the message's
    /// `data` is then `None`).
    pub parts: Option<Box<BroadcastParts>>,
    /// How long ago it was written, when the broker says.
    pub age: Option<Duration>,
}

/// What the outbox writes, in order.
#[derive(Clone, Debug)]
pub enum Write {
    /// A message appended to the log.
    Append(ClusterMessage),
    /// A session saved (or renewed) with its time to live.
    PutSession {
        /// Its private id.
        pid: Arc<str>,
        /// [`StoredSession::encode`]d.
        bytes: Arc<[u8]>,
        /// How long it lives unless written again.
        ttl: Duration,
    },
    /// A session removed.
    DeleteSession(Arc<str>),
    /// A broadcast appended to the log as [`Broker::encode_broadcast`] encoded it.
    Encoded(bytes::Bytes),
    /// Not written: answered once everything queued before it is.
    #[doc(hidden)]
    Flush(Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>),
}

mod sealed {
    pub trait Sealed {}
}

/// A log and a session store in a broker: what [`LogAdapter`] needs of Redis or NATS.
/// Implemented by this crate only.
pub trait Broker: sealed::Sealed + Send + Sync + Sized + 'static {
    /// The position of an offset, to compare two (`None` if it is not one of this log's).
    #[doc(hidden)]
    fn order(offset: &str) -> Option<(u64, u64)>;

    /// Writes `batch` in order. On error some of it may have been written; it is written
    /// again whole.
    #[doc(hidden)]
    fn write(&self, batch: &[Write]) -> impl Future<Output = Result<(), String>> + Send;

    /// Waits until what [`write`](Self::write) took has left this process, for a broker whose
    /// `write` may return before (core NATS hands publishes to its client's connection task).
    /// Called before an [`Adapter::flush`] is answered, not after every batch.
    #[doc(hidden)]
    fn flushed(&self) -> impl Future<Output = Result<(), String>> + Send {
        std::future::ready(Ok(()))
    }

    /// A broadcast as this broker writes it, encoded when it is made, without building a
    /// [`ClusterMessage`] (`None`, the default: the broker writes the message).
    #[doc(hidden)]
    fn encode_broadcast(
        &self,
        _uid: &str,
        _nsp: &str,
        _packet: &Packet,
        _opts: &BroadcastOptions,
    ) -> Option<Unnumbered> {
        None
    }

    /// Entries after `after`, waiting a while for some to come; none when none came. A
    /// broker that is not [`ordered`](Self::ordered) may leave unread the data of broadcasts
    /// sent by `own` (this node, which delivered them when it sent them); an ordered one
    /// gives the parts [`Own::take`] holds of them instead of reading their data.
    #[doc(hidden)]
    fn read(&self, after: &str, own: &Own<'_>) -> impl Future<Output = Result<Vec<Entry>, String>> + Send;

    /// The entries after `after` up to `until` (inclusive); `None` when `after` is no longer
    /// in the log.
    #[doc(hidden)]
    fn range(
        &self,
        after: &str,
        until: &str,
    ) -> impl Future<Output = Result<Option<Vec<Entry>>, String>> + Send;

    /// A saved session.
    #[doc(hidden)]
    fn session(&self, pid: &str) -> impl Future<Output = Result<Option<Vec<u8>>, String>> + Send;

    /// Whether the broker keeps a log that every node reads in one order (Redis Streams,
    /// `JetStream`): then every node, the emitting one included, delivers broadcasts from it.
    /// A plain pub/sub broker (core NATS) has none: the emitting node delivers to its own
    /// sockets at once, as with Redis pub/sub, and nothing is kept.
    #[doc(hidden)]
    fn ordered() -> bool {
        true
    }
}

/// A [`Broker`] with a log and sessions: its adapter is also a [`SessionStore`] (connection
/// state recovery on any node). Implemented by this crate only.
pub trait Recoverable: Broker {}

pub(crate) use sealed::Sealed;

/// This node as a [`Broker::read`] sees it: its uid, and the broadcasts it wrote that it
/// still holds, so that reading its own back costs no decoding.
#[doc(hidden)]
pub struct Own<'a> {
    uid: &'a str,
    held: &'a Mutex<Held>,
}

impl Own<'_> {
    /// This node's uid on the wire.
    pub(crate) fn uid(&self) -> &str {
        self.uid
    }

    /// The packet and options of this node's broadcast numbered `seq`, as it wrote them, if
    /// still held (given once; the held ones numbered lower are let go, read or not).
    pub(crate) fn take(&self, seq: u64) -> Option<Box<BroadcastParts>> {
        lock(self.held).take(seq)
    }
}

/// This node's broadcasts written to an ordered log and not read back yet, in the order of
/// their numbers: reading them back then costs no decoding.
#[derive(Default)]
struct Held(std::collections::VecDeque<(u64, Box<BroadcastParts>)>);

impl Held {
    /// At most this many are held; past it, the oldest are let go (and read back from the
    /// log's bytes, as other nodes read them).
    const MAX: usize = 4096;

    fn hold(&mut self, seq: u64, parts: Box<BroadcastParts>) {
        if self.0.len() >= Self::MAX {
            self.0.pop_front();
        }
        self.0.push_back((seq, parts));
    }

    fn take(&mut self, seq: u64) -> Option<Box<BroadcastParts>> {
        while self.0.front().is_some_and(|(held, _)| *held < seq) {
            self.0.pop_front();
        }
        if self.0.front().is_some_and(|(held, _)| *held == seq) {
            return self.0.pop_front().map(|(_, parts)| parts);
        }
        None
    }
}

/// Settings every log adapter shares.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// How often this node says it is alive; default 5 s.
    pub heartbeat_interval: Duration,
    /// How long after its last heartbeat a node is forgotten; default 10 s.
    pub heartbeat_timeout: Duration,
    /// How long a request waits for every node's answer; default 5 s.
    pub requests_timeout: Duration,
    /// How long a session is kept after its socket goes away (or its node stops); default
    /// the server's recovery window when it has one, else 2 minutes.
    pub session_ttl: Option<Duration>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(10),
            requests_timeout: Duration::from_secs(5),
            session_ttl: None,
        }
    }
}

/// An [`Adapter`] and [`SessionStore`] over a log in a broker: give the same adapter to both.
pub struct LogAdapter<B: Broker> {
    shared: Arc<Shared<B>>,
}

impl<B: Broker> Clone for LogAdapter<B> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<B: Broker> std::fmt::Debug for LogAdapter<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogAdapter").field("uid", &self.shared.uid).finish_non_exhaustive()
    }
}

struct Shared<B> {
    broker: B,
    uid: String,
    config: LogConfig,
    node: OnceLock<Node>,
    /// Sessions' time to live, set when the server attaches (its recovery window).
    session_ttl: OnceLock<Duration>,
    /// What to write, in order, to the writer task.
    outbox: mpsc::UnboundedSender<Write>,
    /// This node's next sequence number (shared with answer callbacks).
    seq_handle: Arc<Mutex<u64>>,
    /// Whether the last write went through.
    broker_up: AtomicBool,
    /// Whether the last read went through.
    reader_up: AtomicBool,
    /// When this node last read back one of its own entries, and since when it has without a
    /// break longer than two heartbeat intervals: the proof that the log flows through it.
    own_read: Mutex<(Instant, Instant)>,
    /// Other nodes alive: when each was last heard from.
    nodes: Mutex<HashMap<String, Instant>>,
    /// Per sending node, the highest sequence number applied.
    applied_seq: Mutex<HashMap<String, u64>>,
    /// The offset of the last entry applied; held while one is, and while a recovered socket
    /// joins.
    applied: tokio::sync::Mutex<String>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Broadcasts waiting for acknowledgements, by request id.
    acks: Mutex<HashMap<String, AckWait>>,
    /// Sessions of sockets connected here, renewed while they are.
    connected: Mutex<HashMap<Arc<str>, Arc<[u8]>>>,
    /// This node's broadcasts not read back yet (ordered logs only).
    held: Mutex<Held>,
    closed: watch::Sender<bool>,
}

/// Appends to the log in this node's name from wherever (answer callbacks): the outbox and
/// the sequence numbers.
#[derive(Clone)]
struct Appender {
    outbox: mpsc::UnboundedSender<Write>,
    /// Held while a number is taken and its message queued: readers drop a number lower
    /// than one already applied, so numbers must reach the outbox in order.
    seq: Arc<Mutex<u64>>,
}

impl Appender {
    fn append(&self, mut message: ClusterMessage) {
        self.append_with(|seq| {
            message.seq = Some(seq);
            Write::Append(message)
        });
    }

    /// Queues what `write` makes of the next sequence number.
    fn append_with(&self, write: impl FnOnce(u64) -> Write) {
        let mut seq = lock(&self.seq);
        let _ = self.outbox.send(write(*seq));
        *seq += 1;
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl<B: Broker> LogAdapter<B> {
    /// Writes the request `message(request_id)` and waits for an answer from every node
    /// alive; an error, not fewer answers, when one does not come in `timeout`.
    async fn ask(
        &self,
        message: impl FnOnce(&str) -> ClusterMessage,
        timeout: Duration,
    ) -> Result<Collected, ClusterError> {
        let shared = &self.shared;
        shared.reachable()?;
        let waiting = shared.live_nodes();
        let expected = waiting.len();
        if expected == 0 {
            return Ok(Collected::default());
        }
        let request_id = random_id(8);
        let (done, answer) = oneshot::channel();
        lock(&shared.pending).insert(request_id.clone(), Pending::of_nodes(waiting, done));
        shared.publish(message(&request_id));
        let result = tokio::time::timeout(timeout, answer).await;
        let left = lock(&shared.pending).remove(&request_id);
        match result {
            Ok(Ok(collected)) => Ok(collected),
            Ok(Err(_)) => Err(ClusterError::Closed),
            Err(_) => {
                Err(ClusterError::Timeout { answered: left.map_or(0, |p| p.answered()), expected, timeout })
            }
        }
    }

    /// Starts the adapter's tasks over `broker`, reading after `last` (the log's end), with
    /// the nodes heard from in `recent` (the entries of the last heartbeat timeout).
    pub(crate) fn start(broker: B, config: LogConfig, last: String, recent: &[Entry]) -> Self {
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let (closed, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            broker,
            uid: random_id(6),
            config,
            node: OnceLock::new(),
            session_ttl: OnceLock::new(),
            outbox,
            seq_handle: Arc::new(Mutex::new(1)),
            broker_up: AtomicBool::new(true),
            reader_up: AtomicBool::new(true),
            own_read: Mutex::new((Instant::now(), Instant::now())),
            nodes: Mutex::new(HashMap::new()),
            applied_seq: Mutex::new(HashMap::new()),
            applied: tokio::sync::Mutex::new(last.clone()),
            pending: Mutex::new(HashMap::new()),
            acks: Mutex::new(HashMap::new()),
            connected: Mutex::new(HashMap::new()),
            held: Mutex::new(Held::default()),
            closed,
        });
        shared.seed_nodes(recent);
        tokio::spawn(writer(Arc::downgrade(&shared), outbox_rx, shared.closed.subscribe()));
        tokio::spawn(reader(Arc::downgrade(&shared), last, shared.closed.subscribe()));
        tokio::spawn(heartbeat(Arc::downgrade(&shared), shared.closed.subscribe()));
        shared.publish(ClusterMessage::new(&shared.uid, "/", MessageType::InitialHeartbeat));
        Self { shared }
    }

    /// This node's id on the wire.
    pub fn uid(&self) -> &str {
        &self.shared.uid
    }

    /// The other nodes this one knows to be alive.
    pub fn nodes(&self) -> Vec<String> {
        self.shared.live_nodes().into_iter().collect()
    }
}

impl<B: Broker> Shared<B> {
    /// Learns the nodes that wrote lately (at start).
    fn seed_nodes(&self, recent: &[Entry]) {
        let now = Instant::now();
        let mut nodes = lock(&self.nodes);
        for entry in recent {
            let Ok(message) = &entry.message else { continue };
            if message.kind == MessageType::AdapterClose {
                nodes.remove(&message.uid);
            } else {
                let age = entry.age.unwrap_or_default();
                nodes.insert(message.uid.clone(), now.checked_sub(age).unwrap_or(now));
            }
        }
    }

    /// Whether the log flows through this node now: its own heartbeats come back.
    fn flowing(&self) -> bool {
        lock(&self.own_read).0.elapsed() <= self.config.heartbeat_interval * 2
    }

    /// The other nodes alive. A node is taken for dead only when the log has flowed through
    /// this one (its own heartbeats coming back) for a whole heartbeat timeout after the
    /// other's last heartbeat: while the broker is down, for this node or for all, silence
    /// proves nothing, and a request then waits for every node it knew and fails rather than
    /// undercounts.
    fn live_nodes(&self) -> HashSet<String> {
        let timeout = self.config.heartbeat_timeout;
        let (last, since) = *lock(&self.own_read);
        let flowing_for = if last.elapsed() <= self.config.heartbeat_interval * 2 {
            since.elapsed()
        } else {
            Duration::ZERO
        };
        let mut nodes = lock(&self.nodes);
        nodes.retain(|_, seen| seen.elapsed() <= timeout || flowing_for <= timeout);
        nodes.keys().filter(|uid| **uid != self.uid).cloned().collect()
    }

    /// Queues `message` for the log, with this node's next sequence number.
    fn publish(&self, message: ClusterMessage) {
        self.appender().append(message);
    }

    fn appender(&self) -> Appender {
        Appender { outbox: self.outbox.clone(), seq: Arc::clone(&self.seq_handle) }
    }

    /// Whether requests can be answered now: the broker takes writes, and the log flows
    /// through this node.
    fn reachable(&self) -> Result<(), ClusterError> {
        if self.broker_up.load(Ordering::Acquire) && self.reader_up.load(Ordering::Acquire) && self.flowing()
        {
            Ok(())
        } else {
            Err(ClusterError::Broker("the broker cannot be reached".into()))
        }
    }

    fn session_ttl(&self) -> Duration {
        self.config
            .session_ttl
            .or_else(|| self.session_ttl.get().copied())
            .unwrap_or(Duration::from_secs(120))
    }

    fn renew_every(&self) -> Duration {
        (self.session_ttl() / 4).max(Duration::from_secs(1))
    }

    fn write_session(&self, session: &KeptSession, disconnected_at: Option<u64>) {
        let stored = StoredSession { session: session.clone(), node: self.uid.clone(), disconnected_at };
        let bytes: Arc<[u8]> = stored.encode().into();
        let mut connected = lock(&self.connected);
        // A connected session lives as long as its socket (renewed by the heartbeat) and the
        // window after; a disconnected one, the window.
        let ttl = if disconnected_at.is_none() {
            connected.insert(Arc::clone(&session.pid), Arc::clone(&bytes));
            self.session_ttl() + self.renew_every()
        } else {
            connected.remove(&session.pid);
            self.session_ttl()
        };
        drop(connected);
        let _ = self.outbox.send(Write::PutSession { pid: Arc::clone(&session.pid), bytes, ttl });
    }

    /// Membership from an entry: a sign of life of its node, or of the log flowing through
    /// this one.
    fn heard(&self, message: &ClusterMessage, own: bool) {
        if own {
            let now = Instant::now();
            let mut own_read = lock(&self.own_read);
            if now.duration_since(own_read.0) > self.config.heartbeat_interval * 2 {
                own_read.1 = now; // the log had stopped flowing through this node
            }
            own_read.0 = now;
        } else {
            let mut nodes = lock(&self.nodes);
            if message.kind == MessageType::AdapterClose {
                nodes.remove(&message.uid);
            } else if let Some(seen) = nodes.get_mut(&message.uid) {
                *seen = Instant::now();
            } else {
                nodes.insert(message.uid.clone(), Instant::now());
            }
        }
    }

    /// Applies one entry of the log.
    fn apply(
        &self,
        node: &Node,
        offset: &str,
        message: Result<ClusterMessage, WireError>,
        parts: Option<Box<BroadcastParts>>,
    ) {
        let mut message = match message {
            Ok(message) => message,
            Err(error) => {
                return tracing::warn!(%error, offset, "log adapter: malformed entry skipped");
            }
        };
        if !first_copy(&mut lock(&self.applied_seq), &message) {
            return; // written twice: applied already
        }
        let own = message.uid == self.uid;
        self.heard(&message, own);
        if !own && apply_request(node, &self.uid, &message, &self.respond()) {
            return;
        }
        match message.kind {
            MessageType::InitialHeartbeat if !own => {
                self.publish(ClusterMessage::new(&self.uid, "/", MessageType::Heartbeat));
            }
            // This node's own broadcast with acknowledgements: delivered here directly, and
            // not kept for recovery.
            MessageType::Broadcast if message.request_id().is_some() => {}
            // Without a log, this node's own broadcasts were delivered here already.
            MessageType::Broadcast if own && !B::ordered() => {}
            MessageType::Broadcast => {
                let nsp = std::mem::take(&mut message.nsp);
                let parts = parts.map_or_else(
                    || {
                        message
                            .into_broadcast_parts()
                            .map(|(packet, opts)| (BroadcastPacket::Built(packet), opts))
                    },
                    |parts| Ok(*parts),
                );
                match parts {
                    Ok((packet, opts)) => deliver(node, &nsp, packet, &opts, B::ordered().then_some(offset)),
                    Err(error) => tracing::warn!(%error, "log adapter: malformed broadcast skipped"),
                }
            }
            _ if !own => {
                apply_answer(&self.acks, &self.pending, &message);
            }
            _ => {}
        }
    }

    /// Answers to other nodes' requests go to the log.
    fn respond(&self) -> Respond {
        let appender = self.appender();
        Arc::new(move |message| appender.append(message))
    }

    /// The session of `pid` as saved, if it may still be recovered in `namespace`.
    async fn load_session(&self, pid: &str, namespace: &str) -> Option<KeptSession> {
        let bytes = self.broker.session(pid).await.ok()??;
        let stored = StoredSession::decode(&bytes).ok()?;
        if &*stored.session.namespace != namespace {
            return None;
        }
        if let Some(at) = stored.disconnected_at
            && now_millis().saturating_sub(at) > millis(self.session_ttl())
        {
            return None;
        }
        Some(stored.session)
    }

    /// The packets for `session` in the log after `offset` up to `until`, with their offsets;
    /// `None` when `offset` is no longer in the log (no partial recovery).
    async fn missed(&self, session: &KeptSession, offset: &str, until: &str) -> Option<Vec<Packet>> {
        let entries = self.broker.range(offset, until).await.ok()??;
        let mut missed = Vec::new();
        // A batch written again after a lost answer may have landed twice: the second copy
        // of a sender's number is dropped here too, as the live reader drops it.
        let mut last_seq: HashMap<String, u64> = HashMap::new();
        for entry in entries {
            let message = match entry.message {
                Ok(message) => message,
                Err(error) => {
                    // No partial recovery: a missed entry that cannot be read may be one of the
                    // session's.
                    tracing::warn!(%error, offset = %entry.offset, "log adapter: an entry to recover cannot be read; not recovering");
                    return None;
                }
            };
            if !first_copy(&mut last_seq, &message) {
                continue;
            }
            // Broadcasts with acknowledgements are not kept for recovery (as on one node).
            if message.kind != MessageType::Broadcast
                || message.nsp != *session.namespace
                || message.request_id().is_some()
            {
                continue;
            }
            let parts = entry.parts.map_or_else(
                || message.into_broadcast_parts(),
                |parts| {
                    let (packet, opts) = *parts;
                    packet.into_packet().map(|packet| (packet, opts))
                },
            );
            let Ok((packet, opts)) = parts else { continue };
            if opts.flags.volatile {
                continue;
            }
            let stored =
                StoredPacket { offset: entry.offset, packet, rooms: opts.rooms, except: opts.except };
            if stored.was_for(session) {
                missed.push(with_offset(stored.packet, &stored.offset));
            }
        }
        Some(missed)
    }
}

impl<B: Broker> Adapter for LogAdapter<B> {
    fn attach(&self, node: Node) {
        if let Some(recovery) = node.server().and_then(|io| io.config().recovery.clone()) {
            let _ = self.shared.session_ttl.set(recovery.max_disconnection_duration);
        }
        let _ = self.shared.node.set(node);
    }

    fn orders_broadcasts(&self) -> bool {
        B::ordered()
    }

    fn broadcast(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) {
        let shared = &self.shared;
        // Over an ordered log this node delivers its broadcast when it reads it back: it holds
        // the parts until then rather than decode its own bytes.
        // (Only a packet that reads back as it is: other nodes and recovered clients must get
        // what this node's sockets get.)
        let held = (B::ordered() && wire::reads_back_as_written(packet)).then(|| {
            let mut packet = packet.clone();
            packet.namespace = nsp.into();
            Box::new((BroadcastPacket::Built(packet), wire::opts_as_read(opts)))
        });
        let keep = |seq| {
            if let Some(parts) = held {
                lock(&shared.held).hold(seq, parts);
            }
        };
        // Encoded before it is numbered: the numbering lock is held only to write the number in.
        if let Some(unnumbered) = shared.broker.encode_broadcast(&shared.uid, nsp, packet, opts) {
            shared.appender().append_with(|seq| {
                keep(seq);
                Write::Encoded(unnumbered.numbered(seq).into())
            });
        } else {
            let mut message = ClusterMessage::broadcast_in(&shared.uid, nsp, packet, opts);
            shared.appender().append_with(|seq| {
                keep(seq);
                message.seq = Some(seq);
                Write::Append(message)
            });
        }
    }

    fn broadcast_with_ack(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) -> Option<AckReports> {
        let shared = &self.shared;
        let (reports, rx) = mpsc::unbounded_channel();
        if let Err(error) = shared.reachable() {
            let _ = reports.send(AckReport::Failed(error));
            return Some(rx);
        }
        let waiting = shared.live_nodes();
        let _ = reports.send(AckReport::Nodes(waiting.len()));
        if waiting.is_empty() {
            return Some(rx);
        }
        let request_id = random_id(8);
        lock(&shared.acks).insert(request_id.clone(), AckWait::new(reports.clone(), Some(waiting)));
        let mut packet = packet.clone();
        packet.namespace = nsp.to_owned().into();
        shared.publish(ClusterMessage::broadcast_with_ack(&shared.uid, &packet, opts, &request_id));
        // Tracked until the caller has what it waited for, or gives up.
        let weak = Arc::downgrade(shared);
        forget_when_done(reports, move || {
            if let Some(shared) = weak.upgrade() {
                lock(&shared.acks).remove(&request_id);
            }
        });
        Some(rx)
    }

    fn fetch_sockets<'a>(
        &'a self,
        nsp: &'a str,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<SocketInfo>, ClusterError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let timeout = shared.config.requests_timeout;
            let ask = |request_id: &str| ClusterMessage::fetch_sockets(&shared.uid, nsp, request_id, opts);
            Ok(self.ask(ask, timeout).await?.sockets)
        })
    }

    fn server_side_emit(&self, nsp: &str, args: Vec<Value>) {
        self.shared.publish(ClusterMessage::server_side_emit(&self.shared.uid, nsp, args, None));
    }

    fn server_side_emit_with_ack<'a>(
        &'a self,
        nsp: &'a str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> AdapterFuture<'a, Result<Vec<Value>, ClusterError>> {
        Box::pin(async move {
            let uid = &self.shared.uid;
            let ask = |request_id: &str| ClusterMessage::server_side_emit(uid, nsp, args, Some(request_id));
            Ok(self.ask(ask, timeout).await?.answers)
        })
    }

    fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]) {
        let uid = &self.shared.uid;
        self.shared.publish(ClusterMessage::sockets(uid, nsp, MessageType::SocketsJoin, opts, rooms, false));
    }

    fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]) {
        let uid = &self.shared.uid;
        self.shared.publish(ClusterMessage::sockets(uid, nsp, MessageType::SocketsLeave, opts, rooms, false));
    }

    fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool) {
        let uid = &self.shared.uid;
        self.shared.publish(ClusterMessage::sockets(
            uid,
            nsp,
            MessageType::DisconnectSockets,
            opts,
            &[],
            close,
        ));
    }

    fn close(&self) {
        self.shared.publish(ClusterMessage::new(&self.shared.uid, "/", MessageType::AdapterClose));
        // The writer still writes what is queued (the close included).
        let _ = self.shared.closed.send(true);
    }

    fn flush(&self, timeout: Duration) -> AdapterFuture<'_, ()> {
        let (done, written) = oneshot::channel();
        let _ = self.shared.outbox.send(Write::Flush(Arc::new(std::sync::Mutex::new(Some(done)))));
        Box::pin(async move {
            let _ = tokio::time::timeout(timeout, written).await;
        })
    }
}

impl<B: Recoverable> SessionStore for LogAdapter<B> {
    /// Not used: the log's positions are the offsets.
    fn next_offset(&self) -> String {
        String::new()
    }

    /// Not used: the log keeps every broadcast.
    fn store_packet(&self, _packet: StoredPacket) {}

    fn keep_session(&self, session: KeptSession) {
        self.shared.write_session(&session, Some(now_millis()));
    }

    fn save_session(&self, session: &KeptSession) {
        self.shared.write_session(session, None);
    }

    fn forget_session(&self, pid: &str) {
        let pid: Arc<str> = Arc::from(pid);
        lock(&self.shared.connected).remove(&pid);
        let _ = self.shared.outbox.send(Write::DeleteSession(pid));
    }

    fn restore<'a>(
        &'a self,
        pid: &'a str,
        offset: &'a str,
        namespace: &'a str,
    ) -> StoreFuture<'a, Option<Restored>> {
        Box::pin(async move {
            let session = self.shared.load_session(pid, namespace).await?;
            let until = self.shared.applied.lock().await.clone();
            let missed = self.shared.missed(&session, offset, &until).await?;
            Some(Restored { session, missed })
        })
    }

    fn restore_then<'a>(
        &'a self,
        pid: &'a str,
        offset: &'a str,
        namespace: &'a str,
        join: JoinFn,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let Some(session) = self.shared.load_session(pid, namespace).await else {
                return join(None);
            };
            // The reader waits while this runs: every entry up to the last applied is among
            // the missed packets, every later one reaches the socket live. A client may have
            // seen entries this node has not applied yet (its old node read ahead): wait for
            // them first.
            let wanted = B::order(offset);
            let deadline = Instant::now() + Duration::from_secs(2);
            let applied = loop {
                let applied = self.shared.applied.lock().await;
                if B::order(&applied) >= wanted || Instant::now() >= deadline {
                    break applied;
                }
                drop(applied);
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            let missed = self.shared.missed(&session, offset, &applied).await;
            join(missed.map(|missed| Restored { session, missed }));
            drop(applied);
        })
    }
}

/// Writes the outbox in order, in batches of whatever has queued up; keeps a batch the
/// broker did not take and writes it again, backing off, until it does (or the adapter is
/// closed).
async fn writer<B: Broker>(
    shared: Weak<Shared<B>>,
    mut outbox: mpsc::UnboundedReceiver<Write>,
    closed: watch::Receiver<bool>,
) {
    const BATCH: usize = 256;
    let mut batch: Vec<Write> = Vec::with_capacity(BATCH);
    while outbox.recv_many(&mut batch, BATCH).await > 0 {
        let mut flushes = Vec::new();
        batch.retain(|write| match write {
            Write::Flush(done) => {
                flushes.push(Arc::clone(done));
                false
            }
            _ => true,
        });
        let mut backoff = Duration::from_millis(50);
        loop {
            let Some(shared) = shared.upgrade() else { return };
            let written = match shared.broker.write(&batch).await {
                Ok(()) if !flushes.is_empty() => shared.broker.flushed().await,
                written => written,
            };
            match written {
                Ok(()) => {
                    if !shared.broker_up.swap(true, Ordering::AcqRel) {
                        tracing::info!("log adapter: writing again");
                    }
                    batch.clear();
                    for done in flushes.drain(..) {
                        if let Some(done) = lock(&done).take() {
                            let _ = done.send(());
                        }
                    }
                    break;
                }
                Err(error) => {
                    if shared.broker_up.swap(false, Ordering::AcqRel) {
                        tracing::warn!(%error, "log adapter: cannot write; keeping messages until the broker is back");
                    }
                    if *closed.borrow() {
                        return;
                    }
                    drop(shared);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Reads the log after the last entry applied and applies each, for as long as the adapter
/// lives; a failed read is retried from the same place.
async fn reader<B: Broker>(shared: Weak<Shared<B>>, start: String, mut closed: watch::Receiver<bool>) {
    let mut last = start;
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(strong) = shared.upgrade() else { return };
        let own = Own { uid: &strong.uid, held: &strong.held };
        let read = tokio::select! {
            _ = closed.changed() => return,
            read = strong.broker.read(&last, &own) => read,
        };
        match read {
            Ok(entries) => {
                if !strong.reader_up.swap(true, Ordering::AcqRel) {
                    tracing::info!(after = %last, "log adapter: reading again");
                }
                backoff = Duration::from_millis(50);
                let Some(node) = strong.node.get().cloned() else { continue };
                let mut applied = strong.applied.lock().await;
                for Entry { offset, message, parts, .. } in entries {
                    strong.apply(&node, &offset, message, parts);
                    applied.clone_from(&offset);
                    last = offset;
                }
            }
            Err(error) => {
                if strong.reader_up.swap(false, Ordering::AcqRel) {
                    tracing::warn!(%error, "log adapter: cannot read; retrying after the last entry applied");
                }
                drop(strong);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Whether `message` is the first copy of its sender's number met in `last` (each sender's
/// last number), which it then records; an unnumbered message always is. A batch written again
/// after a lost answer may have landed twice: its second copy is not.
fn first_copy(last: &mut HashMap<String, u64>, message: &ClusterMessage) -> bool {
    let Some(seq) = message.seq else { return true };
    // Looked up before inserting: the uid is copied once per node, not per message.
    match last.get_mut(&message.uid) {
        Some(last) if seq <= *last => false,
        Some(last) => {
            *last = seq;
            true
        }
        None => {
            last.insert(message.uid.clone(), seq);
            true
        }
    }
}

/// Says this node is alive, and renews its connected sessions.
async fn heartbeat<B: Broker>(shared: Weak<Shared<B>>, mut closed: watch::Receiver<bool>) {
    let Some(interval) = shared.upgrade().map(|shared| shared.config.heartbeat_interval) else { return };
    let mut last_renewal = Instant::now();
    loop {
        tokio::select! {
            _ = closed.changed() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let Some(shared) = shared.upgrade() else { return };
        shared.publish(ClusterMessage::new(&shared.uid, "/", MessageType::Heartbeat));
        if last_renewal.elapsed() >= shared.renew_every() {
            last_renewal = Instant::now();
            let ttl = shared.session_ttl() + shared.renew_every();
            let sessions: Vec<(Arc<str>, Arc<[u8]>)> = lock(&shared.connected)
                .iter()
                .map(|(pid, bytes)| (Arc::clone(pid), Arc::clone(bytes)))
                .collect();
            for (pid, bytes) in sessions {
                let _ = shared.outbox.send(Write::PutSession { pid, bytes, ttl });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use windlass_sio_proto::socket::PacketType;

    use super::*;

    fn parts(tag: u64) -> Box<BroadcastParts> {
        let packet =
            Packet::new(PacketType::Event, "/", Some(Value::from(windlass_sio_proto::Number::from(tag))));
        Box::new((BroadcastPacket::Built(packet), BroadcastOptions::default()))
    }

    fn tag(parts: &BroadcastParts) -> Option<u64> {
        let BroadcastPacket::Built(packet) = &parts.0 else { return None };
        packet.data.as_ref().and_then(Value::as_u64)
    }

    /// A log of broadcasts by two senders in which a batch landed twice.
    struct Twice;

    impl Sealed for Twice {}

    impl Broker for Twice {
        fn order(offset: &str) -> Option<(u64, u64)> {
            Some((offset.parse().ok()?, 0))
        }

        async fn write(&self, _batch: &[Write]) -> Result<(), String> {
            Ok(())
        }

        async fn read(&self, _after: &str, _own: &Own<'_>) -> Result<Vec<Entry>, String> {
            std::future::pending().await
        }

        async fn range(&self, _after: &str, _until: &str) -> Result<Option<Vec<Entry>>, String> {
            // a1 a2 b1 a1 a2 a3 b1 b2: a's batch of 1–2 and b's 1 written again.
            let sent = [("a", 1), ("a", 2), ("b", 1), ("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)];
            Ok(Some(
                sent.iter()
                    .enumerate()
                    .map(|(at, (uid, seq))| {
                        let packet =
                            Packet::new(PacketType::Event, "/", Some(Value::from(format!("{uid}{seq}"))));
                        let mut message =
                            ClusterMessage::broadcast_in(uid, "/", &packet, &BroadcastOptions::default());
                        message.seq = Some(*seq);
                        Entry { offset: (at + 2).to_string(), message: Ok(message), parts: None, age: None }
                    })
                    .collect(),
            ))
        }

        async fn session(&self, _pid: &str) -> Result<Option<Vec<u8>>, String> {
            Ok(None)
        }
    }

    #[tokio::test]
    async fn a_recovery_gives_each_missed_broadcast_once_though_it_landed_twice() {
        let adapter = LogAdapter::start(Twice, LogConfig::default(), "1".to_owned(), &[]);
        let session = KeptSession {
            pid: Arc::from("p"),
            id: Arc::from("s"),
            namespace: Arc::from("/"),
            rooms: Vec::new(),
        };
        let missed = adapter.shared.missed(&session, "1", "9").await.expect("in the log");
        let texts: Vec<String> = missed
            .iter()
            .map(|packet| packet.data.as_ref().and_then(|data| data.as_str()).unwrap_or_default().to_owned())
            .collect();
        assert_eq!(texts, ["a1", "a2", "b1", "a3", "b2"]);
        adapter.close();
    }

    #[test]
    fn held_broadcasts_are_given_once_in_order_and_the_passed_ones_let_go() {
        let mut held = Held::default();
        for seq in [3, 4, 5, 7] {
            held.hold(seq, parts(seq));
        }
        assert_eq!(held.take(4).as_deref().and_then(tag), Some(4), "3 was never read back: let go");
        assert!(held.take(4).is_none(), "given once: a second copy of 4 is decoded");
        assert!(held.take(6).is_none(), "6 is not this node's broadcast");
        assert_eq!(held.take(7).as_deref().and_then(tag), Some(7));
        assert!(held.0.is_empty());
    }

    #[test]
    fn at_most_so_many_are_held_the_oldest_let_go() {
        let mut held = Held::default();
        let total = Held::MAX as u64 + 10;
        for seq in 1..=total {
            held.hold(seq, parts(seq));
        }
        assert_eq!(held.0.len(), Held::MAX);
        assert!(held.take(10).is_none(), "let go: read back from the log's bytes");
        assert_eq!(held.take(11).as_deref().and_then(tag), Some(11));
        assert_eq!(held.take(total).as_deref().and_then(tag), Some(total));
    }
}

//! The Redis Streams adapter: one stream is the cluster's log, and every node — the one that
//! emitted included — delivers broadcasts as it reads them, in the log's order, with the
//! entry's id as the recovery offset. Sessions live in Redis too, saved when they change.
//!
//! ```text
//!  emit ─► outbox (ordered, retried until Redis takes it) ─► XADD socket.io MAXLEN ~ N
//!                                                               │
//!  Node::broadcast_at(offset = entry id) ◄── reader: XREAD BLOCK from the last id applied
//!  sessions: SET sio:session:<pid> (connect, join, leave; TTL = recovery window)
//! ```
//!
//! - **Exactly once, in order.** A reader resumes from the last id it applied, so a broken
//!   connection or a restarted Redis neither skips nor repeats entries. The outbox keeps
//!   what could not be written and writes it, in order, when Redis is back; a write whose
//!   answer was lost may land twice, and readers drop the second copy by the sender's
//!   sequence number.
//! - **Recovery on any node, even after a crash.** A socket's session (id, rooms) is saved
//!   when it joins its namespace and when it joins or leaves a room, so a client whose node
//!   was killed with `SIGKILL` recovers on another node: its session from Redis, the packets
//!   it missed from the stream (`XRANGE` after its offset), joined at a point of the reader's
//!   order so that nothing falls between the missed packets and the live ones.
//! - **Membership.** Every node writes a heartbeat every 5 s and is forgotten 10 s after its
//!   last one (or at once when it closes); a `fetch_sockets` waits for every live node's
//!   answer and fails, rather than undercounts, when one does not come.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use tokio::sync::{mpsc, oneshot, watch};
use windlass::event_server::{
    Adapter, AdapterFuture, BroadcastOptions, ClusterError, JoinFn, KeptSession, Node, Restored,
    SessionStore, SocketInfo, StoreFuture, StoredPacket, with_offset,
};
use windlass_sio_proto::socket::Packet;

use crate::ConnectError;
use crate::redis::random_id;
use crate::wire::{ClusterMessage, MessageType, StoredSession};

/// Settings of a [`RedisStreamsAdapter`].
#[derive(Clone, Debug)]
pub struct RedisStreamsConfig {
    /// The stream (Node's `streamName`); default `socket.io`. Nodes of one cluster share it.
    pub stream: String,
    /// About how many entries the stream keeps (`MAXLEN ~`, Node's `maxLen`); default
    /// 10,000. A client can recover only while its offset is still in the stream.
    pub max_len: usize,
    /// Entries read at a time; default 100.
    pub read_count: usize,
    /// How long a read waits for new entries; default 1 s.
    pub block: Duration,
    /// Where sessions are kept (Node's `sessionKeyPrefix`); default `sio:session:`.
    pub session_prefix: String,
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

impl Default for RedisStreamsConfig {
    fn default() -> Self {
        Self {
            stream: "socket.io".to_owned(),
            max_len: 10_000,
            read_count: 100,
            block: Duration::from_secs(1),
            session_prefix: "sio:session:".to_owned(),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(10),
            requests_timeout: Duration::from_secs(5),
            session_ttl: None,
        }
    }
}

/// The Redis Streams [`Adapter`] and [`SessionStore`]: give the same adapter to both.
///
/// ```no_run
/// use windlass::event_server::{RecoveryConfig, SocketIo, SocketIoConfig};
/// use windlass_cluster::RedisStreamsAdapter;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let adapter = RedisStreamsAdapter::connect("redis://127.0.0.1:6379").await?;
/// let config = SocketIoConfig { recovery: Some(RecoveryConfig::default()), ..Default::default() };
/// let io = SocketIo::builder().config(config).adapter(adapter.clone()).session_store(adapter).build();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStreamsAdapter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisStreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamsAdapter").field("uid", &self.shared.uid).finish_non_exhaustive()
    }
}

struct Shared {
    uid: String,
    config: RedisStreamsConfig,
    node: OnceLock<Node>,
    /// Sessions' time to live, set when the server attaches (its recovery window).
    session_ttl: OnceLock<Duration>,
    commands: ConnectionManager,
    /// Commands whose order matters (entries, session writes), to the writer task.
    outbox: mpsc::UnboundedSender<redis::Cmd>,
    /// This node's next sequence number.
    seq: AtomicU64,
    /// Whether the last write went through.
    broker_up: AtomicBool,
    /// Whether the last read went through.
    reader_up: AtomicBool,
    /// Other nodes alive: when each was last heard from.
    nodes: Mutex<HashMap<String, Instant>>,
    /// Per sending node, the highest sequence number applied.
    applied_seq: Mutex<HashMap<String, u64>>,
    /// The id of the last entry applied; held while one is, and while a recovered socket joins.
    applied: tokio::sync::Mutex<String>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Sessions of sockets connected here, whose time to live is renewed.
    connected: Mutex<HashSet<Arc<str>>>,
    closed: watch::Sender<bool>,
}

struct Pending {
    waiting: HashSet<String>,
    sockets: Vec<SocketInfo>,
    done: Option<oneshot::Sender<Vec<SocketInfo>>>,
}

impl Pending {
    fn finish_if_complete(&mut self) {
        if self.waiting.is_empty()
            && let Some(done) = self.done.take()
        {
            let _ = done.send(std::mem::take(&mut self.sockets));
        }
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An entry id's two numbers, to compare ids.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn field<'a>(entry: &'a StreamId, name: &str) -> Option<&'a [u8]> {
    match entry.map.get(name)? {
        redis::Value::BulkString(bytes) => Some(bytes),
        redis::Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

impl RedisStreamsAdapter {
    /// Connects to Redis at `url` with the defaults; fails if it cannot be reached now.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, RedisStreamsConfig::default()).await
    }

    /// Connects with `config`.
    pub async fn connect_with(url: &str, config: RedisStreamsConfig) -> Result<Self, ConnectError> {
        let error = |source| ConnectError::new(url, source);
        let client = redis::Client::open(url).map_err(error)?;
        let commands_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let mut commands = ConnectionManager::new_with_config(client.clone(), commands_config.clone())
            .await
            .map_err(error)?;
        // Reads block for `config.block`; their connection waits longer than that.
        let reader_config = commands_config.set_response_timeout(Some(config.block + Duration::from_secs(2)));
        let reader = ConnectionManager::new_with_config(client, reader_config).await.map_err(error)?;

        // Where to start: after the last entry, knowing the nodes heard from lately.
        let (seconds, micros): (u64, u64) =
            redis::cmd("TIME").query_async(&mut commands).await.map_err(error)?;
        let server_now = seconds * 1000 + micros / 1000;
        let last: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&config.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut commands)
            .await
            .map_err(error)?;
        let start = last.ids.first().map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone());
        let timeout_ms = u64::try_from(config.heartbeat_timeout.as_millis()).unwrap_or(u64::MAX);
        let recent: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&config.stream)
            .arg(server_now.saturating_sub(timeout_ms))
            .arg("+")
            .query_async(&mut commands)
            .await
            .map_err(error)?;

        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let (closed, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            uid: random_id(6),
            config,
            node: OnceLock::new(),
            session_ttl: OnceLock::new(),
            commands: commands.clone(),
            outbox,
            seq: AtomicU64::new(1),
            broker_up: AtomicBool::new(true),
            reader_up: AtomicBool::new(true),
            nodes: Mutex::new(HashMap::new()),
            applied_seq: Mutex::new(HashMap::new()),
            applied: tokio::sync::Mutex::new(start.clone()),
            pending: Mutex::new(HashMap::new()),
            connected: Mutex::new(HashSet::new()),
            closed,
        });
        shared.seed_nodes(&recent, server_now);
        tokio::spawn(writer(Arc::downgrade(&shared), commands, outbox_rx, shared.closed.subscribe()));
        tokio::spawn(reader_loop(Arc::downgrade(&shared), reader, start, shared.closed.subscribe()));
        tokio::spawn(heartbeat(Arc::downgrade(&shared), shared.closed.subscribe()));
        shared.publish(ClusterMessage::new(&shared.uid, "/", MessageType::InitialHeartbeat));
        Ok(Self { shared })
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

impl Shared {
    /// Learns the nodes that wrote in the last heartbeat timeout (at start).
    fn seed_nodes(&self, recent: &StreamRangeReply, server_now: u64) {
        let now = Instant::now();
        let mut nodes = lock(&self.nodes);
        for entry in &recent.ids {
            let Ok(message) = ClusterMessage::from_fields(|name| field(entry, name)) else { continue };
            let Some((ms, _)) = parse_id(&entry.id) else { continue };
            let age = Duration::from_millis(server_now.saturating_sub(ms));
            if message.kind == MessageType::AdapterClose {
                nodes.remove(&message.uid);
            } else {
                nodes.insert(message.uid, now.checked_sub(age).unwrap_or(now));
            }
        }
    }

    fn live_nodes(&self) -> HashSet<String> {
        let timeout = self.config.heartbeat_timeout;
        let mut nodes = lock(&self.nodes);
        nodes.retain(|_, seen| seen.elapsed() <= timeout);
        nodes.keys().filter(|uid| **uid != self.uid).cloned().collect()
    }

    /// Queues `message` for the stream, with this node's next sequence number.
    fn publish(&self, mut message: ClusterMessage) {
        message.seq = Some(self.seq.fetch_add(1, Ordering::Relaxed));
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.config.stream).arg("MAXLEN").arg("~").arg(self.config.max_len).arg("*");
        for (name, value) in message.fields() {
            cmd.arg(name).arg(value);
        }
        let _ = self.outbox.send(cmd);
    }

    fn session_key(&self, pid: &str) -> String {
        format!("{}{pid}", self.config.session_prefix)
    }

    fn session_ttl(&self) -> Duration {
        self.config
            .session_ttl
            .or_else(|| self.session_ttl.get().copied())
            .unwrap_or(Duration::from_secs(120))
    }

    fn write_session(&self, session: &KeptSession, disconnected_at: Option<u64>) {
        let stored = StoredSession { session: session.clone(), node: self.uid.clone(), disconnected_at };
        // A connected session lives as long as its socket, renewed by the heartbeat, and the
        // window after; a disconnected one, the window.
        let ttl =
            self.session_ttl() + if disconnected_at.is_none() { self.renew_every() } else { Duration::ZERO };
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.session_key(&session.pid)).arg(stored.encode()).arg("PX").arg(millis(ttl));
        let _ = self.outbox.send(cmd);
    }

    fn renew_every(&self) -> Duration {
        (self.session_ttl() / 4).max(Duration::from_secs(1))
    }

    /// Applies one entry of the log.
    fn apply(&self, node: &Node, entry: &StreamId) {
        let message = match ClusterMessage::from_fields(|name| field(entry, name)) {
            Ok(message) => message,
            Err(error) => {
                return tracing::warn!(%error, id = %entry.id, "redis streams adapter: malformed entry skipped");
            }
        };
        if let Some(seq) = message.seq {
            let mut applied = lock(&self.applied_seq);
            let last = applied.entry(message.uid.clone()).or_insert(0);
            if seq <= *last {
                return; // written twice: applied already
            }
            *last = seq;
        }
        let own = message.uid == self.uid;
        if !own {
            let mut nodes = lock(&self.nodes);
            if message.kind == MessageType::AdapterClose {
                nodes.remove(&message.uid);
            } else {
                nodes.insert(message.uid.clone(), Instant::now());
            }
        }
        match message.kind {
            MessageType::InitialHeartbeat if !own => {
                self.publish(ClusterMessage::new(&self.uid, "/", MessageType::Heartbeat));
            }
            MessageType::Broadcast => match message.broadcast_parts() {
                Ok((packet, opts)) => node.broadcast_at(&message.nsp, &packet, &opts, &entry.id),
                Err(error) => tracing::warn!(%error, "redis streams adapter: malformed broadcast skipped"),
            },
            MessageType::SocketsJoin | MessageType::SocketsLeave | MessageType::DisconnectSockets if !own => {
                let (opts, rooms, close) = message.sockets_parts();
                match message.kind {
                    MessageType::SocketsJoin => node.add_sockets(&message.nsp, &opts, &rooms),
                    MessageType::SocketsLeave => node.del_sockets(&message.nsp, &opts, &rooms),
                    _ => node.disconnect_sockets(&message.nsp, &opts, close),
                }
            }
            MessageType::FetchSockets if !own => {
                if let Some(request_id) = message.request_id() {
                    let (opts, _, _) = message.sockets_parts();
                    let sockets = node.sockets(&message.nsp, &opts);
                    self.publish(ClusterMessage::fetch_sockets_response(
                        &self.uid,
                        &message.nsp,
                        request_id,
                        &sockets,
                    ));
                }
            }
            MessageType::FetchSocketsResponse if !own => {
                let Some(request_id) = message.request_id() else { return };
                let mut pending = lock(&self.pending);
                if let Some(request) = pending.get_mut(request_id)
                    && request.waiting.remove(&message.uid)
                {
                    request.sockets.extend(message.sockets_of_response());
                    request.finish_if_complete();
                }
            }
            _ => {}
        }
    }

    /// The session of `pid` as stored, if it may still be recovered in `namespace`.
    async fn load_session(&self, pid: &str, namespace: &str) -> Option<KeptSession> {
        let mut commands = self.commands.clone();
        let bytes: Option<Vec<u8>> =
            redis::cmd("GET").arg(self.session_key(pid)).query_async(&mut commands).await.ok()?;
        let stored = StoredSession::decode(&bytes?).ok()?;
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

    /// The packets for `session` in the log after `offset` up to `until` (inclusive), with
    /// their offsets; `None` when `offset` is no longer in the log (no partial recovery).
    async fn missed(&self, session: &KeptSession, offset: &str, until: &str) -> Option<Vec<Packet>> {
        let mut commands = self.commands.clone();
        let found: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.config.stream)
            .arg(offset)
            .arg(offset)
            .query_async(&mut commands)
            .await
            .ok()?;
        if found.ids.is_empty() {
            return None;
        }
        let (until_ms, until_seq) = parse_id(until)?;
        if parse_id(offset)? >= (until_ms, until_seq) {
            return Some(Vec::new());
        }
        let mut missed = Vec::new();
        let mut after = format!("({offset}");
        loop {
            let page: StreamRangeReply = redis::cmd("XRANGE")
                .arg(&self.config.stream)
                .arg(&after)
                .arg(until)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut commands)
                .await
                .ok()?;
            let Some(last) = page.ids.last() else { break };
            after = format!("({}", last.id);
            for entry in &page.ids {
                let Ok(message) = ClusterMessage::from_fields(|name| field(entry, name)) else { continue };
                if message.kind != MessageType::Broadcast || message.nsp != *session.namespace {
                    continue;
                }
                let Ok((packet, opts)) = message.broadcast_parts() else { continue };
                if opts.flags.volatile {
                    continue;
                }
                let stored =
                    StoredPacket { offset: entry.id.clone(), packet, rooms: opts.rooms, except: opts.except };
                if stored.was_for(session) {
                    missed.push(with_offset(stored.packet, &entry.id));
                }
            }
            if page.ids.len() < 1000 {
                break;
            }
        }
        Some(missed)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Adapter for RedisStreamsAdapter {
    fn attach(&self, node: Node) {
        if let Some(recovery) = node.server().and_then(|io| io.config().recovery.clone()) {
            let _ = self.shared.session_ttl.set(recovery.max_disconnection_duration);
        }
        let _ = self.shared.node.set(node);
    }

    fn orders_broadcasts(&self) -> bool {
        true
    }

    fn broadcast(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) {
        let mut packet = packet.clone();
        packet.namespace = nsp.to_owned().into();
        self.shared.publish(ClusterMessage::broadcast(&self.shared.uid, &packet, opts));
    }

    fn fetch_sockets<'a>(
        &'a self,
        nsp: &'a str,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<SocketInfo>, ClusterError>> {
        Box::pin(async move {
            let shared = &self.shared;
            if !shared.broker_up.load(Ordering::Acquire) || !shared.reader_up.load(Ordering::Acquire) {
                return Err(ClusterError::Broker("Redis cannot be reached".into()));
            }
            let waiting = shared.live_nodes();
            let expected = waiting.len();
            if expected == 0 {
                return Ok(Vec::new());
            }
            let request_id = random_id(8);
            let (done, answer) = oneshot::channel();
            lock(&shared.pending)
                .insert(request_id.clone(), Pending { waiting, sockets: Vec::new(), done: Some(done) });
            shared.publish(ClusterMessage::fetch_sockets(&shared.uid, nsp, &request_id, opts));
            let timeout = shared.config.requests_timeout;
            let result = tokio::time::timeout(timeout, answer).await;
            let left = lock(&shared.pending).remove(&request_id);
            match result {
                Ok(Ok(sockets)) => Ok(sockets),
                Ok(Err(_)) => Err(ClusterError::Closed),
                Err(_) => {
                    let missing = left.map_or(0, |p| p.waiting.len());
                    Err(ClusterError::Timeout { answered: expected - missing, expected, timeout })
                }
            }
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
        // The writer sends what is queued (the close included) before it stops.
        let _ = self.shared.closed.send(true);
    }
}

impl SessionStore for RedisStreamsAdapter {
    /// Not used: the log's entry ids are the offsets.
    fn next_offset(&self) -> String {
        String::new()
    }

    /// Not used: the log keeps every broadcast.
    fn store_packet(&self, _packet: StoredPacket) {}

    fn keep_session(&self, session: KeptSession) {
        lock(&self.shared.connected).remove(&session.pid);
        self.shared.write_session(&session, Some(now_millis()));
    }

    fn save_session(&self, session: &KeptSession) {
        lock(&self.shared.connected).insert(Arc::clone(&session.pid));
        self.shared.write_session(session, None);
    }

    fn forget_session(&self, pid: &str) {
        lock(&self.shared.connected).remove(pid);
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.shared.session_key(pid));
        let _ = self.shared.outbox.send(cmd);
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
            // The reader waits while this runs: every entry up to `until` is among the missed
            // packets, every later one reaches the socket live. A client may have seen
            // entries this node has not applied yet (its old node read ahead): wait for them.
            let wanted = parse_id(offset);
            let deadline = Instant::now() + Duration::from_secs(2);
            let applied = loop {
                let applied = self.shared.applied.lock().await;
                if parse_id(&applied) >= wanted || Instant::now() >= deadline {
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

/// Writes the outbox in order, as pipelines of whatever has queued up; keeps a batch Redis
/// did not take and writes it again, backing off, until it does (or the adapter is closed).
async fn writer(
    shared: Weak<Shared>,
    mut commands: ConnectionManager,
    mut outbox: mpsc::UnboundedReceiver<redis::Cmd>,
    closed: watch::Receiver<bool>,
) {
    const BATCH: usize = 256;
    let mut batch: Vec<redis::Cmd> = Vec::with_capacity(BATCH);
    while outbox.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for cmd in batch.drain(..) {
            pipe.add_command(cmd).ignore();
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            let written = pipe.query_async::<()>(&mut commands).await;
            let Some(shared) = shared.upgrade() else { return };
            match written {
                Ok(()) => {
                    if !shared.broker_up.swap(true, Ordering::AcqRel) {
                        tracing::info!("redis streams adapter: writing again");
                    }
                    break;
                }
                Err(error) => {
                    if shared.broker_up.swap(false, Ordering::AcqRel) {
                        tracing::warn!(%error, "redis streams adapter: cannot write; keeping messages until Redis is back");
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

/// Reads the log from where it left off and applies each entry, for as long as the adapter
/// lives; a failed read is retried from the same id.
async fn reader_loop(
    shared: Weak<Shared>,
    mut reader: ConnectionManager,
    start: String,
    mut closed: watch::Receiver<bool>,
) {
    let mut last = start;
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(strong) = shared.upgrade() else { return };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(strong.config.read_count)
            .arg("BLOCK")
            .arg(millis(strong.config.block))
            .arg("STREAMS")
            .arg(&strong.config.stream)
            .arg(&last);
        drop(strong);
        let read: redis::RedisResult<Option<StreamReadReply>> = tokio::select! {
            _ = closed.changed() => return,
            read = cmd.query_async(&mut reader) => read,
        };
        let Some(strong) = shared.upgrade() else { return };
        match read {
            Ok(reply) => {
                if !strong.reader_up.swap(true, Ordering::AcqRel) {
                    tracing::info!(from = %last, "redis streams adapter: reading again");
                }
                backoff = Duration::from_millis(50);
                let Some(node) = strong.node.get().cloned() else { continue };
                let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
                let mut applied = strong.applied.lock().await;
                for entry in entries {
                    strong.apply(&node, &entry);
                    last.clone_from(&entry.id);
                    applied.clone_from(&entry.id);
                }
            }
            Err(error) => {
                if strong.reader_up.swap(false, Ordering::AcqRel) {
                    tracing::warn!(%error, "redis streams adapter: cannot read; retrying from the last entry applied");
                }
                drop(strong);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Says this node is alive, and renews the time to live of its connected sessions.
async fn heartbeat(shared: Weak<Shared>, mut closed: watch::Receiver<bool>) {
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
            let ttl = millis(shared.session_ttl() + shared.renew_every());
            let pids: Vec<Arc<str>> = lock(&shared.connected).iter().cloned().collect();
            for pid in pids {
                let mut cmd = redis::cmd("PEXPIRE");
                cmd.arg(shared.session_key(&pid)).arg(ttl);
                let _ = shared.outbox.send(cmd);
            }
        }
    }
}

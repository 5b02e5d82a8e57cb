//! The Redis pub/sub adapter: `@socket.io/redis-adapter` 8.x on the wire, so windlass nodes
//! and Node socket.io nodes share one cluster.
//!
//! ```text
//!  BroadcastOperator ─► RedisAdapter::broadcast ─► outbox (ordered) ─► PUBLISH (batched)
//!                                                                          │ Redis
//!  Node::broadcast ◄── subscriber task ◄── PSUBSCRIBE socket.io#<nsp>#* ◄──┘
//!                     (reconnects, re-subscribes)   SUBSCRIBE …-request / …-response
//!
//!  both over connections of this crate's own for redis:// (resp.rs, publisher.rs), the
//!  redis crate's for TLS and Unix sockets
//! ```
//!
//! Membership: a request is answered by every node subscribed to the namespace's request
//! channel, and `PUBLISH` itself says how many received it, so the number of answers to wait
//! for comes with the publish (no window between counting and asking). A node that does not
//! answer within [`RedisAdapterConfig::requests_timeout`], or a broker that cannot be
//! reached, makes the request fail: never a partial count.
//!
//! Pub/sub delivers to whoever is subscribed at the time: what is published while a node's
//! subscription is down is not replayed to it, and what this node publishes while Redis is
//! down is dropped (each counted and logged), never sent twice. Recovery of missed events
//! needs the Streams adapter.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};
use windlass::event_server::{
    AckReport, AckReports, Adapter, AdapterFuture, BroadcastOptions, ClusterError, Node, ServerAck,
    SocketInfo, Value,
};
use windlass_sio_proto::socket::Packet;

use crate::common::{Collected, Pending, deliver, forget_when_done, lock, random_id};
use crate::publisher::{self, PublishVia};
use crate::resp;
use crate::wire::{self, Channels, Request, RequestType, Response};

/// Settings of a [`RedisAdapter`].
#[derive(Clone, Debug)]
pub struct RedisAdapterConfig {
    /// The channels' prefix (Node's `key`); default `socket.io`. Nodes of one cluster share it.
    pub key: String,
    /// How long a request waits for every node's answer (Node's `requestsTimeout`); default 5 s.
    pub requests_timeout: Duration,
}

impl Default for RedisAdapterConfig {
    fn default() -> Self {
        Self { key: "socket.io".to_owned(), requests_timeout: Duration::from_secs(5) }
    }
}

/// Why the adapter could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis at {url}: {source}")]
pub struct ConnectError {
    url: String,
    #[source]
    source: redis::RedisError,
}

impl ConnectError {
    pub(crate) fn new(url: &str, source: redis::RedisError) -> Self {
        Self { url: url.to_owned(), source }
    }
}

/// The Redis pub/sub [`Adapter`]. Cheap to clone; clones are the same adapter.
#[derive(Clone)]
pub struct RedisAdapter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter").field("uid", &self.shared.uid).finish_non_exhaustive()
    }
}

struct Shared {
    /// This node's id on the wire (six characters, as Node's `uid2(6)`).
    uid: String,
    config: RedisAdapterConfig,
    node: OnceLock<Node>,
    /// Every publish, in order.
    outbox: Outbox,
    /// Namespaces to subscribe to, to the subscriber task.
    subscribe: mpsc::UnboundedSender<String>,
    /// Whether answers can reach this node.
    readiness: Readiness,
    pending: Mutex<HashMap<String, Pending>>,
    /// Broadcasts waiting for acknowledgements, by request id: where their reports go.
    acks: Mutex<HashMap<String, mpsc::UnboundedSender<AckReport>>>,
    closed: tokio::sync::watch::Sender<bool>,
}

/// What the publisher task is given, in order.
enum Out {
    /// `PUBLISH channel bytes`.
    Publish(String, Vec<u8>),
    /// The same, answered with how many subscribers received it (or why it failed).
    Counted(String, Vec<u8>, oneshot::Sender<Result<usize, String>>),
    /// Answered once everything before it is published.
    Flush(oneshot::Sender<()>),
}

/// The ordered outbox of a Redis adapter: every publish, counted or not, goes out through it
/// in the order it was made (a request never overtakes the broadcasts made before it).
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Out>,
    /// Publishes dropped because Redis could not be reached.
    dropped: Arc<AtomicU64>,
}

impl Outbox {
    /// Starts the publisher task: `command` (`PUBLISH`, `SPUBLISH`) over `commands`, until
    /// `closed`.
    pub(crate) fn start(
        command: &'static str,
        via: PublishVia,
        closed: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let dropped = Arc::new(AtomicU64::new(0));
        match via {
            PublishVia::Tcp(target) => {
                tokio::spawn(tcp_publisher(command, Arc::downgrade(&dropped), target, rx, closed));
            }
            PublishVia::Manager(commands) => {
                tokio::spawn(publisher(command, Arc::downgrade(&dropped), commands, rx, closed));
            }
        }
        Self { tx, dropped }
    }

    pub(crate) fn publish(&self, channel: String, bytes: Vec<u8>) {
        if self.tx.send(Out::Publish(channel, bytes)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a publish now, in order with the rest; the future answers how many
    /// subscribers received it.
    pub(crate) fn publish_counted(
        &self,
        channel: String,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<usize, ClusterError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let queued = self.tx.send(Out::Counted(channel, bytes, tx)).is_ok();
        async move {
            if !queued {
                return Err(ClusterError::Closed);
            }
            rx.await.map_err(|_| ClusterError::Closed)?.map_err(ClusterError::Broker)
        }
    }

    /// Waits until what was queued so far has gone out, for at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> AdapterFuture<'static, ()> {
        let (done, published) = oneshot::channel();
        let _ = self.tx.send(Out::Flush(done));
        Box::pin(async move {
            let _ = tokio::time::timeout(timeout, published).await;
        })
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A counted publish: queued at once when answers can reach this node (in order with what
/// was published before), else once they can.
pub(crate) enum CountedPublish<F> {
    Queued(F),
    Waiting { nsp: String, channel: String, bytes: Vec<u8> },
}

pub(crate) fn counted_when_ready(
    outbox: &Outbox,
    readiness: &Readiness,
    nsp: &str,
    channel: String,
    bytes: Vec<u8>,
) -> CountedPublish<impl Future<Output = Result<usize, ClusterError>> + Send + 'static> {
    if readiness.is_ready(nsp) {
        CountedPublish::Queued(outbox.publish_counted(channel, bytes))
    } else {
        CountedPublish::Waiting { nsp: nsp.to_owned(), channel, bytes }
    }
}

impl<F: Future<Output = Result<usize, ClusterError>> + Send> CountedPublish<F> {
    /// How many subscribers received it.
    pub(crate) async fn run(
        self,
        outbox: &Outbox,
        readiness: &Readiness,
        timeout: Duration,
    ) -> Result<usize, ClusterError> {
        match self {
            Self::Queued(published) => published.await,
            Self::Waiting { nsp, channel, bytes } => {
                readiness.ready(&nsp, timeout).await?;
                outbox.publish_counted(channel, bytes).await
            }
        }
    }
}

/// Whether answers can reach this node: its subscriber connected, and the channels of a
/// namespace subscribed. A request counts the subscribers that received it, this node among
/// them: asked before this node's own subscription is made, it would wait for one answer too
/// few.
#[derive(Default)]
pub(crate) struct Readiness {
    up: AtomicBool,
    namespaces: Mutex<HashSet<String>>,
}

impl Readiness {
    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// `nsp`'s channels are subscribed (and stay so across reconnections, which subscribe
    /// every namespace again before the subscriber is up).
    pub(crate) fn subscribed(&self, nsp: &str) {
        lock(&self.namespaces).insert(nsp.to_owned());
    }

    /// Whether answers about `nsp` can reach this node now.
    pub(crate) fn is_ready(&self, nsp: &str) -> bool {
        self.is_up() && lock(&self.namespaces).contains(nsp)
    }

    /// Waits, at most `timeout`, until answers about `nsp` can reach this node; an error at
    /// once while the subscriber is down.
    pub(crate) async fn ready(&self, nsp: &str, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.is_up() {
                return Err(ClusterError::Broker(
                    "not subscribed to Redis: answers cannot reach this node".into(),
                ));
            }
            if lock(&self.namespaces).contains(nsp) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Broker(format!("namespace {nsp} is not subscribed to yet")));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl RedisAdapter {
    /// Connects to Redis at `url` (`redis://127.0.0.1:6379`) with Node's defaults; fails if
    /// it cannot be reached now. Later outages are survived: it reconnects by itself.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, RedisAdapterConfig::default()).await
    }

    /// Connects with `config`.
    pub async fn connect_with(url: &str, config: RedisAdapterConfig) -> Result<Self, ConnectError> {
        let error = |source| ConnectError { url: url.to_owned(), source };
        let client = redis::Client::open(url).map_err(error)?;
        let via = PublishVia::for_client(&client).await.map_err(error)?;
        let tcp = match &via {
            PublishVia::Tcp(target) => Some(target.clone()),
            PublishVia::Manager(_) => None,
        };
        let (subscribe, subscribe_rx) = mpsc::unbounded_channel();
        let (closed, _) = tokio::sync::watch::channel(false);
        let outbox = Outbox::start("PUBLISH", via, closed.subscribe());
        let shared = Arc::new(Shared {
            uid: random_id(6),
            config,
            node: OnceLock::new(),
            outbox,
            subscribe,
            readiness: Readiness::default(),
            pending: Mutex::new(HashMap::new()),
            acks: Mutex::new(HashMap::new()),
            closed,
        });
        // The first subscription is made here, so that a node that starts serving is
        // already listening; `/` exists on every server.
        let mut subscriber = Subscriber::new(Arc::clone(&shared), client.clone(), subscribe_rx);
        subscriber.namespaces.push("/".to_owned());
        if let Some(target) = tcp {
            let io_error = |e: std::io::Error| error(e.into());
            let mut connection = publisher::Connection::open(&target).await.map_err(io_error)?;
            subscriber.subscribe_confirmed(&mut connection).await.map_err(io_error)?;
            shared.readiness.set_up(true);
            tokio::spawn(subscriber.run_tcp(target, connection));
        } else {
            let pubsub = client.get_async_pubsub().await.map_err(error)?;
            let first = subscriber.subscribe_all(pubsub).await.map_err(error)?;
            shared.readiness.set_up(true);
            tokio::spawn(subscriber.run(first));
        }
        Ok(Self { shared })
    }

    /// This node's id on the wire.
    pub fn uid(&self) -> &str {
        &self.shared.uid
    }

    /// Publishes dropped so far because Redis could not be reached.
    pub fn dropped(&self) -> u64 {
        self.shared.outbox.dropped()
    }

    /// Whether the subscription is up (messages of other nodes reach this one).
    pub fn is_subscribed(&self) -> bool {
        self.shared.readiness.is_up()
    }

    fn channels(&self, nsp: &str) -> Channels {
        Channels::new(&self.shared.config.key, nsp)
    }

    fn publish(&self, channel: String, bytes: Vec<u8>) {
        self.shared.outbox.publish(channel, bytes);
    }

    async fn request_sockets(
        &self,
        nsp: &str,
        opts: &BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, ClusterError> {
        let mut request = Request::new(&self.shared.uid, RequestType::RemoteFetch);
        request.opts = Some(opts.clone());
        let timeout = self.shared.config.requests_timeout;
        Ok(self.ask(nsp, request, timeout).await?.sockets)
    }

    /// Publishes `request` with a fresh id and waits for an answer from every other node
    /// subscribed when it was published.
    async fn ask(
        &self,
        nsp: &str,
        mut request: Request,
        timeout: Duration,
    ) -> Result<Collected, ClusterError> {
        self.shared.readiness.ready(nsp, timeout).await?;
        let request_id = random_id(6);
        request.request_id = Some(request_id.clone());
        let (done, answer) = oneshot::channel();
        lock(&self.shared.pending).insert(request_id.clone(), Pending::counted(done));
        let forget = Forget { shared: &self.shared, request_id: &request_id };
        let receivers =
            self.shared.outbox.publish_counted(self.channels(nsp).request, request.encode()).await?;
        // Every subscriber of the request channel got it, this node included.
        let expected = receivers.saturating_sub(1);
        if let Some(pending) = lock(&self.shared.pending).get_mut(&request_id) {
            pending.expect(expected);
        }
        let result = tokio::time::timeout(timeout, answer).await;
        let answered = lock(&self.shared.pending).get(&request_id).map_or(0, Pending::answered);
        drop(forget);
        match result {
            Ok(Ok(collected)) => Ok(collected),
            Ok(Err(_)) => Err(ClusterError::Closed),
            Err(_) => Err(ClusterError::Timeout { answered, expected, timeout }),
        }
    }
}

/// Removes a request's entry however its wait ends.
struct Forget<'a> {
    shared: &'a Shared,
    request_id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(&self.shared.pending).remove(self.request_id);
    }
}

impl Adapter for RedisAdapter {
    fn attach(&self, node: Node) {
        let _ = self.shared.node.set(node);
    }

    fn namespace_created(&self, nsp: &str) {
        let _ = self.shared.subscribe.send(nsp.to_owned());
    }

    fn broadcast(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) {
        let channel = Channels::broadcast_channel(&self.shared.config.key, nsp, opts);
        self.publish(channel, wire::encode_broadcast(&self.shared.uid, packet, opts));
    }

    fn broadcast_with_ack(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) -> Option<AckReports> {
        let (reports, rx) = mpsc::unbounded_channel();
        let request_id = random_id(6);
        let mut request = Request::new(&self.shared.uid, RequestType::Broadcast);
        request.request_id = Some(request_id.clone());
        let mut packet = packet.clone();
        packet.namespace = nsp.to_owned().into();
        request.packet = Some(packet);
        request.opts = Some(opts.clone());
        lock(&self.shared.acks).insert(request_id.clone(), reports.clone());
        let shared = Arc::clone(&self.shared);
        let timeout = opts.flags.timeout.unwrap_or(shared.config.requests_timeout);
        let publish = counted_when_ready(
            &shared.outbox,
            &shared.readiness,
            nsp,
            self.channels(nsp).request,
            request.encode(),
        );
        tokio::spawn(async move {
            let published = publish.run(&shared.outbox, &shared.readiness, timeout).await;
            // Every subscriber of the request channel got it, this node included.
            let _ = reports.send(match published {
                Ok(receivers) => AckReport::Nodes(receivers.saturating_sub(1)),
                Err(error) => AckReport::Failed(error),
            });
            // Tracked until the caller has what it waited for, or gives up.
            forget_when_done(reports, move || {
                lock(&shared.acks).remove(&request_id);
            });
        });
        Some(rx)
    }

    fn fetch_sockets<'a>(
        &'a self,
        nsp: &'a str,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<SocketInfo>, ClusterError>> {
        Box::pin(self.request_sockets(nsp, opts))
    }

    fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]) {
        let mut request = Request::new(&self.shared.uid, RequestType::RemoteJoin);
        request.opts = Some(opts.clone());
        request.rooms = rooms.to_vec();
        self.publish(self.channels(nsp).request, request.encode());
    }

    fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]) {
        let mut request = Request::new(&self.shared.uid, RequestType::RemoteLeave);
        request.opts = Some(opts.clone());
        request.rooms = rooms.to_vec();
        self.publish(self.channels(nsp).request, request.encode());
    }

    fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool) {
        let mut request = Request::new(&self.shared.uid, RequestType::RemoteDisconnect);
        request.opts = Some(opts.clone());
        request.close = close;
        self.publish(self.channels(nsp).request, request.encode());
    }

    fn server_side_emit(&self, nsp: &str, args: Vec<Value>) {
        let mut request = Request::new(&self.shared.uid, RequestType::ServerSideEmit);
        request.data = Some(Value::Array(args));
        self.publish(self.channels(nsp).request, request.encode());
    }

    fn server_side_emit_with_ack<'a>(
        &'a self,
        nsp: &'a str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> AdapterFuture<'a, Result<Vec<Value>, ClusterError>> {
        let mut request = Request::new(&self.shared.uid, RequestType::ServerSideEmit);
        request.data = Some(Value::Array(args));
        Box::pin(async move { Ok(self.ask(nsp, request, timeout).await?.answers) })
    }

    fn close(&self) {
        let _ = self.shared.closed.send(true);
    }

    fn flush(&self, timeout: Duration) -> AdapterFuture<'_, ()> {
        self.shared.outbox.flush(timeout)
    }
}

/// Sends the outbox in order, as pipelines of whatever has queued up, with `command`
/// (`PUBLISH`, or `SPUBLISH` for sharded channels); what cannot be sent is counted in
/// `dropped`.
async fn publisher(
    command: &'static str,
    dropped: std::sync::Weak<AtomicU64>,
    mut commands: ConnectionManager,
    mut outbox: mpsc::UnboundedReceiver<Out>,
    mut closed: tokio::sync::watch::Receiver<bool>,
) {
    const BATCH: usize = 256;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // What is queued goes out before a close is noticed.
        tokio::select! {
            biased;
            n = outbox.recv_many(&mut batch, BATCH) => if n == 0 { return },
            _ = closed.changed() => return,
        }
        let mut pipe = redis::pipe();
        let mut flushes = Vec::new();
        let mut counted = Vec::new();
        for out in batch.drain(..) {
            match out {
                Out::Publish(channel, bytes) => {
                    pipe.cmd(command).arg(channel).arg(bytes).ignore();
                }
                Out::Counted(channel, bytes, answer) => {
                    pipe.cmd(command).arg(channel).arg(bytes);
                    counted.push(answer);
                }
                Out::Flush(done) => flushes.push(done),
            }
        }
        let sent = pipe.cmd_iter().count();
        if sent > 0 {
            // The replies of the counted publishes, in order (the others are ignored).
            match pipe.query_async::<Vec<usize>>(&mut commands).await {
                Ok(receivers) => {
                    for (answer, receivers) in counted.drain(..).zip(receivers) {
                        let _ = answer.send(Ok(receivers));
                    }
                }
                Err(error) => {
                    let Some(dropped) = dropped.upgrade() else { return };
                    let n = (sent - counted.len()) as u64;
                    let total = dropped.fetch_add(n, Ordering::Relaxed) + n;
                    tracing::warn!(%error, dropped = n, total, "redis adapter: cannot publish; messages dropped");
                    for answer in counted.drain(..) {
                        let _ = answer.send(Err(error.to_string()));
                    }
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// The publisher task over a connection of its own: each batch one write, its replies one
/// read; the connection made again for the next batch when lost.
async fn tcp_publisher(
    command: &'static str,
    dropped: std::sync::Weak<AtomicU64>,
    target: publisher::Target,
    mut outbox: mpsc::UnboundedReceiver<Out>,
    mut closed: tokio::sync::watch::Receiver<bool>,
) {
    const BATCH: usize = 256;
    let mut batch = Vec::with_capacity(BATCH);
    let mut connection: Option<publisher::Connection> = None;
    let mut commands = Vec::with_capacity(4096);
    let mut answers = VecDeque::with_capacity(BATCH);
    loop {
        // What is queued goes out before a close is noticed.
        tokio::select! {
            biased;
            n = outbox.recv_many(&mut batch, BATCH) => if n == 0 { return },
            _ = closed.changed() => return,
        }
        commands.clear();
        let mut flushes = Vec::new();
        for out in batch.drain(..) {
            match out {
                Out::Publish(channel, bytes) => {
                    resp::command(&mut commands, &[command.as_bytes(), channel.as_bytes(), &bytes]);
                    answers.push_back(None);
                }
                Out::Counted(channel, bytes, answer) => {
                    resp::command(&mut commands, &[command.as_bytes(), channel.as_bytes(), &bytes]);
                    answers.push_back(Some(answer));
                }
                Out::Flush(done) => flushes.push(done),
            }
        }
        if !answers.is_empty() {
            let sent = answers.len();
            let mut refused = 0_u64;
            let mut refusal = None;
            let mut on_refusal = |error: String| {
                refused += 1;
                refusal.get_or_insert(error);
            };
            // A connection Redis closed since the last batch is replaced before writing.
            if connection.as_mut().is_some_and(|open| !open.is_open()) {
                connection = None;
            }
            let result = match &mut connection {
                Some(open) => open.exchange(&commands, &mut answers, &mut on_refusal).await,
                None => match publisher::Connection::open(&target).await {
                    Ok(open) => {
                        connection.insert(open).exchange(&commands, &mut answers, &mut on_refusal).await
                    }
                    Err(error) => Err(publisher::Failure { error, late: false }),
                },
            };
            let Some(dropped) = dropped.upgrade() else { return };
            // What got no reply is not known to be published: counted as dropped (it may
            // still reach Redis if it was only slow, but it is never sent twice).
            let lost = match result {
                Ok(()) => None,
                Err(failure) => {
                    if !failure.late {
                        connection = None;
                    }
                    Some(failure.error.to_string())
                }
            };
            let mut unanswered = 0_u64;
            for answer in answers.drain(..) {
                match answer {
                    Some(answer) => {
                        let _ = answer.send(Err(lost.clone().unwrap_or_default()));
                    }
                    None => unanswered += 1,
                }
            }
            let n = refused + unanswered;
            if n > 0 {
                let total = dropped.fetch_add(n, Ordering::Relaxed) + n;
                let error = lost.or(refusal).unwrap_or_default();
                tracing::warn!(%error, dropped = n, sent, total, "redis adapter: cannot publish; messages dropped");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// The confirmations a namespace's subscriptions bring: its broadcast pattern, its request
/// and its response channel.
const SUBSCRIPTIONS_PER_NAMESPACE: usize = 3;

/// How often a subscriber's connection is pinged (answered within 2 s, or it is made again).
pub(crate) const PING_EVERY: Duration = Duration::from_secs(5);

/// The subscription: one connection in pub/sub mode, made again whenever it is lost.
struct Subscriber {
    shared: Arc<Shared>,
    client: redis::Client,
    new_namespaces: mpsc::UnboundedReceiver<String>,
    namespaces: Vec<String>,
}

impl Subscriber {
    fn new(
        shared: Arc<Shared>,
        client: redis::Client,
        new_namespaces: mpsc::UnboundedReceiver<String>,
    ) -> Self {
        Self { shared, client, new_namespaces, namespaces: Vec::new() }
    }

    async fn subscribe_one(&self, sink: &mut redis::aio::PubSubSink, nsp: &str) -> redis::RedisResult<()> {
        let channels = Channels::new(&self.shared.config.key, nsp);
        sink.psubscribe(channels.broadcast_pattern()).await?;
        sink.subscribe(&[channels.request, channels.response]).await
    }

    async fn subscribe_all(
        &self,
        pubsub: redis::aio::PubSub,
    ) -> redis::RedisResult<(redis::aio::PubSubSink, redis::aio::PubSubStream)> {
        let (mut sink, stream) = pubsub.split();
        for nsp in &self.namespaces {
            self.subscribe_one(&mut sink, nsp).await?;
            self.shared.readiness.subscribed(nsp);
        }
        Ok((sink, stream))
    }

    /// Waits `backoff` (doubled for next time, at most 1 s) and takes in the namespaces made
    /// meanwhile, to be subscribed with the rest; `false` if the adapter closed.
    async fn pause_before_reconnecting(
        &mut self,
        closed: &mut tokio::sync::watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> bool {
        tokio::select! {
            _ = closed.changed() => return false,
            () = tokio::time::sleep(*backoff) => {}
        }
        *backoff = (*backoff * 2).min(Duration::from_secs(1));
        while let Ok(nsp) = self.new_namespaces.try_recv() {
            if !self.namespaces.contains(&nsp) {
                self.namespaces.push(nsp);
            }
        }
        true
    }

    /// Appends the subscriptions of `nsp`: its broadcasts (a pattern), requests and answers.
    fn subscribe_commands(&self, out: &mut Vec<u8>, nsp: &str) {
        let channels = Channels::new(&self.shared.config.key, nsp);
        resp::command(out, &[b"PSUBSCRIBE", channels.broadcast_pattern().as_bytes()]);
        resp::command(out, &[b"SUBSCRIBE", channels.request.as_bytes(), channels.response.as_bytes()]);
    }

    /// Subscribes every namespace over a fresh connection and waits until Redis confirms
    /// (what other nodes publish meanwhile is handled as it comes).
    async fn subscribe_confirmed(&mut self, connection: &mut publisher::Connection) -> std::io::Result<()> {
        let mut commands = Vec::new();
        let mut pending = VecDeque::new();
        for nsp in &self.namespaces {
            self.subscribe_commands(&mut commands, nsp);
            pending.push_back((nsp.clone(), SUBSCRIPTIONS_PER_NAMESPACE));
        }
        connection.send(&commands).await?;
        let mut pong_due = None;
        tokio::time::timeout(Duration::from_secs(2), async {
            while !pending.is_empty() {
                connection.fill().await?;
                self.take_pushes(connection, &mut pending, &mut pong_due)?;
            }
            Ok(())
        })
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "Redis did not confirm the subscriptions")
        })?
    }

    /// Handles every whole push read so far; an error ends the connection.
    fn take_pushes(
        &self,
        connection: &mut publisher::Connection,
        pending: &mut VecDeque<(String, usize)>,
        pong_due: &mut Option<tokio::time::Instant>,
    ) -> std::io::Result<()> {
        let invalid = |e: resp::RespError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        while let Some((push, used)) = resp::parse_push(connection.buffered()).map_err(invalid)? {
            match push {
                resp::Push::Items(items) => match items.as_slice() {
                    [b"message", channel, payload] | [b"pmessage", _, channel, payload] => {
                        match std::str::from_utf8(channel) {
                            Ok(channel) => self.on_message(channel, payload),
                            Err(_) => {
                                tracing::debug!("redis adapter: a channel name that is not UTF-8 ignored");
                            }
                        }
                    }
                    [b"subscribe" | b"psubscribe", ..] => {
                        if let Some((nsp, left)) = pending.front_mut() {
                            *left -= 1;
                            if *left == 0 {
                                self.shared.readiness.subscribed(nsp);
                                pending.pop_front();
                            }
                        }
                    }
                    [b"pong", ..] => *pong_due = None,
                    _ => {}
                },
                resp::Push::Error(error) => {
                    return Err(std::io::Error::other(format!("Redis refused a subscription: {error}")));
                }
                resp::Push::Other => {}
            }
            connection.consume(used);
        }
        Ok(())
    }

    /// The subscription over connections of its own (`redis://`): listens, pings, adds new
    /// namespaces; when the connection is lost, makes another and subscribes again before it
    /// counts as up.
    async fn run_tcp(mut self, target: publisher::Target, first: publisher::Connection) {
        let mut closed = self.shared.closed.subscribe();
        let mut connection = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(open) = connection.take() {
                backoff = Duration::from_millis(50);
                match self.listen(open, &mut closed).await {
                    Ok(()) => return,
                    Err(error) => {
                        self.shared.readiness.set_up(false);
                        tracing::warn!(%error, "redis adapter: subscription lost; reconnecting");
                    }
                }
            }
            if !self.pause_before_reconnecting(&mut closed, &mut backoff).await {
                return;
            }
            let made = match publisher::Connection::open(&target).await {
                Ok(mut open) => self.subscribe_confirmed(&mut open).await.map(|()| open),
                Err(error) => Err(error),
            };
            match made {
                Ok(open) => {
                    tracing::info!("redis adapter: subscribed again");
                    self.shared.readiness.set_up(true);
                    connection = Some(open);
                }
                Err(error) => tracing::debug!(%error, "redis adapter: cannot subscribe yet"),
            }
        }
    }

    /// Listens on a subscribed connection until the adapter closes (`Ok`) or the connection
    /// fails (a read or write error, or a ping unanswered within 2 s).
    async fn listen(
        &mut self,
        mut connection: publisher::Connection,
        closed: &mut tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        // A connection that only listens would not notice a peer gone silent (a half-open
        // TCP connection): it is pinged.
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut pong_due: Option<tokio::time::Instant> = None;
        let mut pending = VecDeque::new();
        let mut commands = Vec::new();
        loop {
            let due = pong_due;
            let silent = async move {
                match due {
                    Some(due) => tokio::time::sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = closed.changed() => return Ok(()),
                read = connection.fill() => {
                    read?;
                    self.take_pushes(&mut connection, &mut pending, &mut pong_due)?;
                }
                _ = ping.tick() => {
                    if pong_due.is_none() {
                        commands.clear();
                        resp::command(&mut commands, &[b"PING"]);
                        connection.send(&commands).await?;
                        pong_due = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                    }
                }
                () = silent => {
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "Redis did not answer a ping"));
                }
                nsp = self.new_namespaces.recv() => {
                    let Some(nsp) = nsp else { return Ok(()) };
                    if self.namespaces.contains(&nsp) {
                        continue;
                    }
                    commands.clear();
                    self.subscribe_commands(&mut commands, &nsp);
                    pending.push_back((nsp.clone(), SUBSCRIPTIONS_PER_NAMESPACE));
                    self.namespaces.push(nsp);
                    connection.send(&commands).await?;
                }
            }
        }
    }

    async fn run(mut self, first: (redis::aio::PubSubSink, redis::aio::PubSubStream)) {
        let mut closed = self.shared.closed.subscribe();
        let mut connection = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some((mut sink, mut stream)) = connection.take() {
                self.shared.readiness.set_up(true);
                backoff = Duration::from_millis(50);
                // A connection that only listens would not notice a peer gone silent (a
                // half-open TCP connection): it is pinged.
                let mut ping = tokio::time::interval(PING_EVERY);
                ping.tick().await;
                loop {
                    tokio::select! {
                        _ = closed.changed() => return,
                        message = stream.next() => match message {
                            Some(message) => self.on_message(message.get_channel_name(), message.get_payload_bytes()),
                            None => break,
                        },
                        _ = ping.tick() => {
                            let answer = tokio::time::timeout(Duration::from_secs(2), sink.ping::<redis::Value>()).await;
                            if !matches!(answer, Ok(Ok(_))) {
                                break;
                            }
                        }
                        nsp = self.new_namespaces.recv() => {
                            let Some(nsp) = nsp else { return };
                            if self.namespaces.contains(&nsp) {
                                continue;
                            }
                            let subscribed = self.subscribe_one(&mut sink, &nsp).await;
                            if subscribed.is_ok() {
                                self.shared.readiness.subscribed(&nsp);
                            }
                            self.namespaces.push(nsp);
                            if subscribed.is_err() {
                                break;
                            }
                        }
                    }
                }
                self.shared.readiness.set_up(false);
                tracing::warn!("redis adapter: subscription lost; reconnecting");
            }
            if !self.pause_before_reconnecting(&mut closed, &mut backoff).await {
                return;
            }
            match self.client.get_async_pubsub().await {
                Ok(pubsub) => match self.subscribe_all(pubsub).await {
                    Ok(pair) => {
                        tracing::info!("redis adapter: subscribed again");
                        connection = Some(pair);
                    }
                    Err(error) => tracing::debug!(%error, "redis adapter: cannot subscribe yet"),
                },
                Err(error) => tracing::debug!(%error, "redis adapter: cannot reconnect yet"),
            }
        }
    }

    fn on_message(&self, channel: &str, payload: &[u8]) {
        let key = &self.shared.config.key;
        let Some(node) = self.shared.node.get() else { return };
        if let Some(rest) = channel.strip_prefix(key.as_str()) {
            if let Some(nsp) = rest.strip_prefix("-request#").and_then(|r| r.strip_suffix('#')) {
                return self.on_request(node, nsp, payload);
            }
            if rest.starts_with("-response#") {
                return self.on_response(payload);
            }
            if rest.starts_with('#') {
                return self.on_broadcast(node, payload);
            }
        }
        tracing::debug!(channel, "redis adapter: message on an unknown channel ignored");
    }

    fn on_broadcast(&self, node: &Node, payload: &[u8]) {
        if wire::broadcast_uid(payload) == Some(self.shared.uid.as_str()) {
            return; // this node's own, delivered here already
        }
        match wire::decode_broadcast(payload) {
            Ok(broadcast) if broadcast.uid == self.shared.uid => {}
            Ok(broadcast) => deliver(node, &broadcast.nsp, broadcast.packet, &broadcast.opts, None),
            Err(error) => tracing::warn!(%error, "redis adapter: malformed broadcast ignored"),
        }
    }

    fn on_request(&self, node: &Node, nsp: &str, payload: &[u8]) {
        let request = match Request::decode(payload) {
            Ok(request) => request,
            Err(error) => return tracing::warn!(%error, "redis adapter: malformed request ignored"),
        };
        if request.uid == self.shared.uid {
            return;
        }
        let opts = request.opts.clone().unwrap_or_default();
        let mut response = request.request_id.as_deref().map(Response::to);
        match request.kind {
            RequestType::Sockets => {
                let opts = BroadcastOptions { rooms: request.rooms.clone(), ..BroadcastOptions::default() };
                let ids = node.sockets(nsp, &opts).into_iter().map(|s| s.id.to_string().into()).collect();
                if let Some(response) = &mut response {
                    response.sockets = Some(ids);
                }
            }
            RequestType::AllRooms => {
                if let Some(response) = &mut response {
                    response.rooms = Some(node.rooms(nsp));
                }
            }
            RequestType::RemoteJoin | RequestType::RemoteLeave | RequestType::RemoteDisconnect => {
                let opts = match (&request.opts, &request.sid) {
                    (Some(_), _) => opts,
                    (None, Some(sid)) => BroadcastOptions { rooms: vec![Arc::from(sid.as_str())], ..opts },
                    (None, None) => return,
                };
                let rooms: Vec<Arc<str>> = match (&request.room, request.opts.is_some()) {
                    (_, true) => request.rooms.clone(),
                    (Some(room), false) => vec![Arc::from(room.as_str())],
                    (None, false) => Vec::new(),
                };
                match request.kind {
                    RequestType::RemoteJoin => node.add_sockets(nsp, &opts, &rooms),
                    RequestType::RemoteLeave => node.del_sockets(nsp, &opts, &rooms),
                    _ => node.disconnect_sockets(nsp, &opts, request.close),
                }
                // Node answers only the single-socket form.
                if request.opts.is_some() {
                    response = None;
                }
            }
            RequestType::RemoteFetch => {
                let sockets = node.sockets(nsp, &opts).iter().map(wire::socket_to_value).collect();
                if let Some(response) = &mut response {
                    response.sockets = Some(sockets);
                }
            }
            RequestType::ServerSideEmit => {
                let Some(Value::Array(args)) = request.data else { return };
                let ack = request.request_id.map(|request_id| {
                    let shared = Arc::clone(&self.shared);
                    let channel = Channels::new(&self.shared.config.key, nsp).response;
                    Box::new(move |answer: Value| {
                        let mut response = Response::to(&request_id);
                        response.kind = Some(RequestType::ServerSideEmit);
                        response.data = Some(answer);
                        shared.outbox.publish(channel, response.encode());
                    }) as ServerAck
                });
                node.server_side_event(nsp, args, ack);
                return;
            }
            RequestType::Broadcast => return self.on_broadcast_with_ack(node, nsp, request, &opts),
            kind => {
                tracing::debug!(?kind, "redis adapter: a response type as a request ignored");
                return;
            }
        }
        if let Some(response) = response {
            let channel = Channels::new(&self.shared.config.key, nsp).response;
            self.shared.outbox.publish(channel, response.encode());
        }
    }

    /// Another node's broadcast with acknowledgements: to this node's sockets, the count and
    /// every answer published back to the asking node.
    fn on_broadcast_with_ack(&self, node: &Node, nsp: &str, request: Request, opts: &BroadcastOptions) {
        let (Some(packet), Some(request_id)) = (request.packet, request.request_id) else { return };
        let shared = Arc::clone(&self.shared);
        let channel = Channels::new(&self.shared.config.key, nsp).response;
        let respond = move |response: Response| shared.outbox.publish(channel.clone(), response.encode());
        let mut count = Response::to(&request_id);
        count.kind = Some(RequestType::BroadcastClientCount);
        let answer_respond = respond.clone();
        node.broadcast_with_ack(
            nsp,
            &packet,
            opts,
            |n| respond(Response { client_count: Some(n as u64), ..count }),
            move |answer| {
                let mut response = Response::to(&request_id);
                response.kind = Some(RequestType::BroadcastAck);
                response.data = answer;
                answer_respond(response);
            },
        );
    }

    fn on_response(&self, payload: &[u8]) {
        let response = match Response::decode(payload) {
            Ok(response) => response,
            Err(error) => return tracing::warn!(%error, "redis adapter: malformed response ignored"),
        };
        if let Some(kind @ (RequestType::BroadcastClientCount | RequestType::BroadcastAck)) = response.kind {
            let acks = lock(&self.shared.acks);
            let Some(reports) = acks.get(&response.request_id) else { return };
            let _ = reports.send(match kind {
                RequestType::BroadcastClientCount => AckReport::Sockets(
                    usize::try_from(response.client_count.unwrap_or(0)).unwrap_or(usize::MAX),
                ),
                _ => AckReport::Answer(response.data),
            });
            return;
        }
        let mut pending = lock(&self.shared.pending);
        let Some(request) = pending.get_mut(&response.request_id) else { return };
        // Node's answers do not say which node sent them: counted.
        request.answer(None, |collected| {
            if let Some(sockets) = response.sockets {
                collected.sockets.extend(sockets.iter().filter_map(wire::socket_from_value));
            }
            if response.kind == Some(RequestType::ServerSideEmit) {
                collected.answers.push(response.data.unwrap_or_default());
            }
        });
    }
}

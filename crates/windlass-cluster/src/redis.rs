//! The Redis pub/sub adapter: `@socket.io/redis-adapter` 8.x on the wire, so windlass nodes
//! and Node socket.io nodes share one cluster.
//!
//! ```text
//!  BroadcastOperator ─► RedisAdapter::broadcast ─► outbox (ordered) ─► PUBLISH (pipelined)
//!                                                                          │ Redis
//!  Node::broadcast ◄── subscriber task ◄── PSUBSCRIBE socket.io#<nsp>#* ◄──┘
//!                     (reconnects, re-subscribes)   SUBSCRIBE …-request / …-response
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, oneshot};
use windlass::event_server::{
    AckReport, AckReports, Adapter, AdapterFuture, BroadcastOptions, ClusterError, Node, ServerAck,
    SocketInfo, Value,
};
use windlass_sio_proto::socket::Packet;

use crate::common::{Collected, Pending, forget_when_done, lock, random_id};
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
    /// For requests that need `PUBLISH`'s answer.
    commands: ConnectionManager,
    /// Publishes that need only their order kept, to the publisher task.
    outbox: mpsc::UnboundedSender<Out>,
    /// Namespaces to subscribe to, to the subscriber task.
    subscribe: mpsc::UnboundedSender<String>,
    /// Whether the subscriber is connected and subscribed (answers can reach this node).
    subscribed: AtomicBool,
    pending: Mutex<HashMap<String, Pending>>,
    /// Broadcasts waiting for acknowledgements, by request id: where their reports go.
    acks: Mutex<HashMap<String, mpsc::UnboundedSender<AckReport>>>,
    /// Publishes dropped because Redis could not be reached.
    dropped: Arc<AtomicU64>,
    closed: tokio::sync::watch::Sender<bool>,
}

/// What the publisher task is given, in order.
pub(crate) enum Out {
    /// `PUBLISH channel bytes`.
    Publish(String, Vec<u8>),
    /// Answered once everything before it is published.
    Flush(oneshot::Sender<()>),
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
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let commands =
            ConnectionManager::new_with_config(client.clone(), manager_config).await.map_err(error)?;
        // The first subscription is made here, so that a node that starts serving is
        // already listening.
        let pubsub = client.get_async_pubsub().await.map_err(error)?;
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let (subscribe, subscribe_rx) = mpsc::unbounded_channel();
        let (closed, _) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            uid: random_id(6),
            config,
            node: OnceLock::new(),
            commands: commands.clone(),
            outbox,
            subscribe,
            subscribed: AtomicBool::new(false),
            pending: Mutex::new(HashMap::new()),
            acks: Mutex::new(HashMap::new()),
            dropped: Arc::new(AtomicU64::new(0)),
            closed,
        });
        let dropped = Arc::downgrade(&shared.dropped);
        tokio::spawn(publisher("PUBLISH", dropped, commands, outbox_rx, shared.closed.subscribe()));
        let mut subscriber = Subscriber::new(Arc::clone(&shared), client, subscribe_rx);
        // `/` exists on every server: subscribe before returning.
        subscriber.namespaces.push("/".to_owned());
        let first = subscriber.subscribe_all(pubsub).await.map_err(error)?;
        shared.subscribed.store(true, Ordering::Release);
        tokio::spawn(subscriber.run(first));
        Ok(Self { shared })
    }

    /// This node's id on the wire.
    pub fn uid(&self) -> &str {
        &self.shared.uid
    }

    /// Publishes dropped so far because Redis could not be reached.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Whether the subscription is up (messages of other nodes reach this one).
    pub fn is_subscribed(&self) -> bool {
        self.shared.subscribed.load(Ordering::Acquire)
    }

    fn channels(&self, nsp: &str) -> Channels {
        Channels::new(&self.shared.config.key, nsp)
    }

    fn publish(&self, channel: String, bytes: Vec<u8>) {
        if self.shared.outbox.send(Out::Publish(channel, bytes)).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
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
        if !self.is_subscribed() {
            return Err(ClusterError::Broker(
                "not subscribed to Redis: answers cannot reach this node".into(),
            ));
        }
        let request_id = random_id(6);
        request.request_id = Some(request_id.clone());
        let (done, answer) = oneshot::channel();
        lock(&self.shared.pending).insert(request_id.clone(), Pending::counted(done));
        let forget = Forget { shared: &self.shared, request_id: &request_id };
        let mut commands = self.shared.commands.clone();
        let receivers: usize = redis::cmd("PUBLISH")
            .arg(self.channels(nsp).request)
            .arg(request.encode())
            .query_async(&mut commands)
            .await
            .map_err(|e| ClusterError::Broker(e.to_string()))?;
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
        let channels = self.channels(nsp);
        self.publish(channels.broadcast_to(opts), wire::encode_broadcast(&self.shared.uid, packet, opts));
    }

    fn broadcast_with_ack(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) -> Option<AckReports> {
        let (reports, rx) = mpsc::unbounded_channel();
        if !self.is_subscribed() {
            let error =
                ClusterError::Broker("not subscribed to Redis: answers cannot reach this node".into());
            let _ = reports.send(AckReport::Failed(error));
            return Some(rx);
        }
        let request_id = random_id(6);
        let mut request = Request::new(&self.shared.uid, RequestType::Broadcast);
        request.request_id = Some(request_id.clone());
        let mut packet = packet.clone();
        packet.namespace = nsp.to_owned().into();
        request.packet = Some(packet);
        request.opts = Some(opts.clone());
        lock(&self.shared.acks).insert(request_id.clone(), reports.clone());
        let shared = Arc::clone(&self.shared);
        let channel = self.channels(nsp).request;
        tokio::spawn(async move {
            let mut commands = shared.commands.clone();
            let published: redis::RedisResult<usize> =
                redis::cmd("PUBLISH").arg(channel).arg(request.encode()).query_async(&mut commands).await;
            // Every subscriber of the request channel got it, this node included.
            let _ = reports.send(match published {
                Ok(receivers) => AckReport::Nodes(receivers.saturating_sub(1)),
                Err(error) => AckReport::Failed(ClusterError::Broker(error.to_string())),
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
        let (done, published) = oneshot::channel();
        let _ = self.shared.outbox.send(Out::Flush(done));
        Box::pin(async move {
            let _ = tokio::time::timeout(timeout, published).await;
        })
    }
}

/// Sends the outbox in order, as pipelines of whatever has queued up, with `command`
/// (`PUBLISH`, or `SPUBLISH` for sharded channels); what cannot be sent is counted in
/// `dropped`.
pub(crate) async fn publisher(
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
        for out in batch.drain(..) {
            match out {
                Out::Publish(channel, bytes) => {
                    pipe.cmd(command).arg(channel).arg(bytes).ignore();
                }
                Out::Flush(done) => flushes.push(done),
            }
        }
        if pipe.cmd_iter().count() > 0
            && let Err(error) = pipe.query_async::<()>(&mut commands).await
        {
            let Some(dropped) = dropped.upgrade() else { return };
            let n = pipe.cmd_iter().count() as u64;
            let total = dropped.fetch_add(n, Ordering::Relaxed) + n;
            tracing::warn!(%error, dropped = n, total, "redis adapter: cannot publish; messages dropped");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

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
        }
        Ok((sink, stream))
    }

    async fn run(mut self, first: (redis::aio::PubSubSink, redis::aio::PubSubStream)) {
        let mut closed = self.shared.closed.subscribe();
        let mut connection = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some((mut sink, mut stream)) = connection.take() {
                self.shared.subscribed.store(true, Ordering::Release);
                backoff = Duration::from_millis(50);
                loop {
                    tokio::select! {
                        _ = closed.changed() => return,
                        message = stream.next() => match message {
                            Some(message) => self.on_message(&message),
                            None => break,
                        },
                        nsp = self.new_namespaces.recv() => {
                            let Some(nsp) = nsp else { return };
                            if self.namespaces.contains(&nsp) {
                                continue;
                            }
                            let subscribed = self.subscribe_one(&mut sink, &nsp).await;
                            self.namespaces.push(nsp);
                            if subscribed.is_err() {
                                break;
                            }
                        }
                    }
                }
                self.shared.subscribed.store(false, Ordering::Release);
                tracing::warn!("redis adapter: subscription lost; reconnecting");
            }
            tokio::select! {
                _ = closed.changed() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
            // Namespaces made while disconnected are subscribed with the rest.
            while let Ok(nsp) = self.new_namespaces.try_recv() {
                if !self.namespaces.contains(&nsp) {
                    self.namespaces.push(nsp);
                }
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

    fn on_message(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let payload = message.get_payload_bytes();
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
            Ok(broadcast) => {
                let nsp = broadcast.packet.namespace.to_string();
                node.broadcast(&nsp, &broadcast.packet, &broadcast.opts);
            }
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
                        let _ = shared.outbox.send(Out::Publish(channel, response.encode()));
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
            if self.shared.outbox.send(Out::Publish(channel, response.encode())).is_err() {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Another node's broadcast with acknowledgements: to this node's sockets, the count and
    /// every answer published back to the asking node.
    fn on_broadcast_with_ack(&self, node: &Node, nsp: &str, request: Request, opts: &BroadcastOptions) {
        let (Some(packet), Some(request_id)) = (request.packet, request.request_id) else { return };
        let shared = Arc::clone(&self.shared);
        let channel = Channels::new(&self.shared.config.key, nsp).response;
        let respond = move |response: Response| {
            if shared.outbox.send(Out::Publish(channel.clone(), response.encode())).is_err() {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        };
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

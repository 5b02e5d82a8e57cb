//! The sharded Redis pub/sub adapter: Redis 7's sharded channels (`SPUBLISH`, `SSUBSCRIBE`),
//! speaking Node's `createShardedAdapter` (`@socket.io/redis-adapter` 8.x), so windlass and
//! Node nodes share one cluster here too.
//!
//! ```text
//!  BroadcastOperator ─► broadcast ─► outbox (ordered) ─► SPUBLISH <key>#<nsp>#[<room>#]
//!                                                                  │ Redis 7
//!  Node::broadcast ◄── subscriber (RESP3) ◄── SSUBSCRIBE <key>#<nsp>#   (every node)
//!                      reconnects,            SSUBSCRIBE <key>#<nsp>#<uid>#  (its answers)
//!                      re-subscribes          SSUBSCRIBE <key>#<nsp>#<room>#  (dynamic: rooms
//!                                                                  with a socket here)
//! ```
//!
//! What it changes from [`RedisAdapter`](crate::RedisAdapter):
//! - **A node receives only what concerns it** (the default [`SubscriptionMode::Dynamic`]):
//!   a broadcast to one room travels on the room's channel, which only the nodes with a
//!   socket in that room subscribe to. With many rooms spread over many nodes, each node
//!   decodes its share of the traffic instead of all of it — the per-node receive cost that
//!   limits a pub/sub cluster (docs/SCALING.md).
//! - **Redis Cluster spreads the channels**: a sharded channel lives on the shard that owns
//!   its slot, not on every node of the Redis cluster. (Against a Redis Cluster, connect to
//!   each shard through its own adapter is not offered here: this adapter talks to one Redis
//!   endpoint.)
//! - Answers go to the asking node's own channel, and messages are socket.io-adapter's
//!   `ClusterAdapter` ones (`{type, data, uid, nsp}`).
//!
//! Requests count their answers from `SPUBLISH`'s reply (the subscribers that received the
//! request), so the number to wait for comes with the publish; a node that does not answer,
//! or Redis unreachable, makes the request fail, never a partial count.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo as _, ProtocolVersion, PushInfo, PushKind};
use tokio::sync::{mpsc, oneshot, watch};
use windlass::event_server::{
    AckReport, AckReports, Adapter, AdapterFuture, BroadcastOptions, ClusterError, Node, SocketInfo, Value,
};
use windlass_sio_proto::socket::Packet;

use crate::common::{
    AckWait, Collected, Pending, Respond, apply_answer, apply_request, forget_when_done, lock, random_id,
};
use crate::publisher::PublishVia;
use crate::redis::{ConnectError, Outbox, PING_EVERY, Readiness, counted_when_ready};
use crate::wire::{ClusterMessage, MessageType};

/// Which channels a node subscribes to (Node's `subscriptionMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionMode {
    /// One channel per namespace: every node receives every broadcast.
    Static,
    /// Besides, one channel per room that has a socket on the node (not sockets' own rooms):
    /// a broadcast to one room reaches only the nodes with a member. The default.
    #[default]
    Dynamic,
}

/// Settings of a [`ShardedRedisAdapter`].
#[derive(Clone, Debug)]
pub struct ShardedRedisConfig {
    /// The channels' prefix (Node's `channelPrefix`); default `socket.io`.
    pub key: String,
    /// Which channels to subscribe to; default [`SubscriptionMode::Dynamic`], as Node.
    pub subscription_mode: SubscriptionMode,
    /// How long a request waits for every node's answer; default 5 s.
    pub requests_timeout: Duration,
}

impl Default for ShardedRedisConfig {
    fn default() -> Self {
        Self {
            key: "socket.io".to_owned(),
            subscription_mode: SubscriptionMode::Dynamic,
            requests_timeout: Duration::from_secs(5),
        }
    }
}

/// The sharded Redis pub/sub [`Adapter`]. Cheap to clone; clones are the same adapter.
#[derive(Clone)]
pub struct ShardedRedisAdapter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShardedRedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedRedisAdapter").field("uid", &self.shared.uid).finish_non_exhaustive()
    }
}

struct Shared {
    /// This node's id on the wire.
    uid: String,
    config: ShardedRedisConfig,
    node: OnceLock<Node>,
    /// Every publish, in order.
    outbox: Outbox,
    /// Subscriptions to make or drop, in order, to the subscriber task.
    control: mpsc::UnboundedSender<Control>,
    /// Whether answers can reach this node.
    readiness: Readiness,
    pending: Mutex<HashMap<String, Pending>>,
    acks: Mutex<HashMap<String, AckWait>>,
    closed: watch::Sender<bool>,
}

/// What the subscriber task is asked, in order.
enum Control {
    /// Listen to a namespace: its channel and this node's answer channel.
    Namespace(String),
    /// Listen to a room's channel, or stop.
    Room { channel: String, subscribe: bool },
    /// Answered once everything asked before is subscribed.
    Ready(oneshot::Sender<()>),
}

/// A socket id (Node's `looksLikeASocketId`): its room travels on the namespace's channel.
fn looks_like_a_socket_id(room: &str) -> bool {
    room.len() == 20
}

impl Shared {
    fn namespace_channel(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.config.key)
    }

    /// The channel of node `uid`'s answers (Node's `responseChannel`); also a room's channel
    /// is `<key>#<nsp>#<room>#`.
    fn node_channel(&self, nsp: &str, uid: &str) -> String {
        format!("{}#{nsp}#{uid}#", self.config.key)
    }

    /// Where a message goes: a broadcast to one room (not a socket's) on the room's channel
    /// in dynamic mode, everything else on the namespace's.
    fn channel_of(&self, message: &ClusterMessage, opts: Option<&BroadcastOptions>) -> String {
        if self.config.subscription_mode == SubscriptionMode::Dynamic
            && message.kind == MessageType::Broadcast
            && message.request_id().is_none()
            && let Some([room]) = opts.map(|opts| opts.rooms.as_slice())
            && !looks_like_a_socket_id(room)
        {
            return self.node_channel(&message.nsp, room);
        }
        self.namespace_channel(&message.nsp)
    }

    fn publish(&self, channel: String, message: &ClusterMessage) {
        self.outbox.publish(channel, message.encode_pubsub());
    }

    /// Answers to node `to`, on its channel.
    fn respond_to(self: &Arc<Self>, nsp: &str, to: &str) -> Respond {
        let (shared, channel) = (Arc::clone(self), self.node_channel(nsp, to));
        Arc::new(move |message| shared.publish(channel.clone(), &message))
    }

    /// `SPUBLISH`es `message` on its namespace's channel, in order with the rest, once
    /// answers can reach this node: how many other nodes received it.
    async fn publish_counted(
        &self,
        message: &ClusterMessage,
        timeout: Duration,
    ) -> Result<usize, ClusterError> {
        let channel = self.namespace_channel(&message.nsp);
        let publish =
            counted_when_ready(&self.outbox, &self.readiness, &message.nsp, channel, message.encode_pubsub());
        // Every subscriber of the namespace's channel got it, this node included.
        Ok(publish.run(&self.outbox, &self.readiness, timeout).await?.saturating_sub(1))
    }
}

impl ShardedRedisAdapter {
    /// Connects to Redis 7 at `url` with Node's defaults; fails if it cannot be reached now.
    /// Later outages are survived: it reconnects and subscribes again by itself.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, ShardedRedisConfig::default()).await
    }

    /// Connects with `config`.
    pub async fn connect_with(url: &str, config: ShardedRedisConfig) -> Result<Self, ConnectError> {
        let error = |source| ConnectError::new(url, source);
        let info = url.into_connection_info().map_err(error)?;
        let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(resp3)).map_err(error)?;
        let via = PublishVia::for_client(&client).await.map_err(error)?;
        let (control, control_rx) = mpsc::unbounded_channel();
        let (closed, _) = watch::channel(false);
        let outbox = Outbox::start("SPUBLISH", via, closed.subscribe());
        let shared = Arc::new(Shared {
            uid: random_id(6),
            config,
            node: OnceLock::new(),
            outbox,
            control,
            readiness: Readiness::default(),
            pending: Mutex::new(HashMap::new()),
            acks: Mutex::new(HashMap::new()),
            closed,
        });
        // `/` exists on every server: subscribed before returning.
        let mut subscriber = Subscriber::new(Arc::clone(&shared), client, control_rx);
        let root = subscriber.namespace_channels("/");
        subscriber.channels.extend(root);
        let first = subscriber.connect().await.map_err(error)?;
        shared.readiness.set_up(true);
        tokio::spawn(subscriber.run(first));
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

    /// Whether the subscription is up.
    pub fn is_subscribed(&self) -> bool {
        self.shared.readiness.is_up()
    }

    /// Publishes the request `message(request_id)` and waits for an answer from every other
    /// node that received it.
    async fn ask(
        &self,
        message: impl FnOnce(&str) -> ClusterMessage,
        timeout: Duration,
    ) -> Result<Collected, ClusterError> {
        let shared = &self.shared;
        let request_id = random_id(8);
        let (done, answer) = oneshot::channel();
        lock(&shared.pending).insert(request_id.clone(), Pending::counted(done));
        let outcome = async {
            let expected = shared.publish_counted(&message(&request_id), timeout).await?;
            if let Some(pending) = lock(&shared.pending).get_mut(&request_id) {
                pending.expect(expected);
            }
            let result = tokio::time::timeout(timeout, answer).await;
            let answered = lock(&shared.pending).get(&request_id).map_or(0, Pending::answered);
            match result {
                Ok(Ok(collected)) => Ok(collected),
                Ok(Err(_)) => Err(ClusterError::Closed),
                Err(_) => Err(ClusterError::Timeout { answered, expected, timeout }),
            }
        }
        .await;
        lock(&shared.pending).remove(&request_id);
        outcome
    }

    fn room_channel(&self, nsp: &str, room: &str) -> Option<String> {
        (self.shared.config.subscription_mode == SubscriptionMode::Dynamic)
            .then(|| self.shared.node_channel(nsp, room))
    }
}

impl Adapter for ShardedRedisAdapter {
    fn attach(&self, node: Node) {
        let _ = self.shared.node.set(node);
    }

    fn namespace_created(&self, nsp: &str) {
        let _ = self.shared.control.send(Control::Namespace(nsp.to_owned()));
    }

    fn room_created(&self, nsp: &str, room: &str) {
        if let Some(channel) = self.room_channel(nsp, room) {
            let _ = self.shared.control.send(Control::Room { channel, subscribe: true });
        }
    }

    fn room_deleted(&self, nsp: &str, room: &str) {
        if let Some(channel) = self.room_channel(nsp, room) {
            let _ = self.shared.control.send(Control::Room { channel, subscribe: false });
        }
    }

    fn room_ready<'a>(&'a self, _nsp: &'a str, _room: &'a str) -> AdapterFuture<'a, ()> {
        let (done, ready) = oneshot::channel();
        let _ = self.shared.control.send(Control::Ready(done));
        let timeout = self.shared.config.requests_timeout;
        Box::pin(async move {
            let _ = tokio::time::timeout(timeout, ready).await;
        })
    }

    fn broadcast(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) {
        let message = ClusterMessage::broadcast_in(&self.shared.uid, nsp, packet, opts);
        self.shared.publish(self.shared.channel_of(&message, Some(opts)), &message);
    }

    fn broadcast_with_ack(&self, nsp: &str, packet: &Packet, opts: &BroadcastOptions) -> Option<AckReports> {
        let (reports, rx) = mpsc::unbounded_channel();
        let request_id = random_id(8);
        let mut packet = packet.clone();
        packet.namespace = nsp.to_owned().into();
        let message = ClusterMessage::broadcast_with_ack(&self.shared.uid, &packet, opts, &request_id);
        lock(&self.shared.acks).insert(request_id.clone(), AckWait::new(reports.clone(), None));
        let shared = Arc::clone(&self.shared);
        let timeout = opts.flags.timeout.unwrap_or(shared.config.requests_timeout);
        // Queued now (when answers can reach this node), in order with earlier broadcasts.
        let channel = shared.namespace_channel(nsp);
        let publish =
            counted_when_ready(&shared.outbox, &shared.readiness, nsp, channel, message.encode_pubsub());
        tokio::spawn(async move {
            let published = publish.run(&shared.outbox, &shared.readiness, timeout).await;
            let _ = reports.send(match published.map(|receivers| receivers.saturating_sub(1)) {
                Ok(nodes) => AckReport::Nodes(nodes),
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
        Box::pin(async move {
            let uid = &self.shared.uid;
            let timeout = self.shared.config.requests_timeout;
            let ask = |request_id: &str| ClusterMessage::fetch_sockets(uid, nsp, request_id, opts);
            Ok(self.ask(ask, timeout).await?.sockets)
        })
    }

    fn add_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]) {
        let message =
            ClusterMessage::sockets(&self.shared.uid, nsp, MessageType::SocketsJoin, opts, rooms, false);
        self.shared.publish(self.shared.namespace_channel(nsp), &message);
    }

    fn del_sockets(&self, nsp: &str, opts: &BroadcastOptions, rooms: &[Arc<str>]) {
        let message =
            ClusterMessage::sockets(&self.shared.uid, nsp, MessageType::SocketsLeave, opts, rooms, false);
        self.shared.publish(self.shared.namespace_channel(nsp), &message);
    }

    fn disconnect_sockets(&self, nsp: &str, opts: &BroadcastOptions, close: bool) {
        let kind = MessageType::DisconnectSockets;
        let message = ClusterMessage::sockets(&self.shared.uid, nsp, kind, opts, &[], close);
        self.shared.publish(self.shared.namespace_channel(nsp), &message);
    }

    fn server_side_emit(&self, nsp: &str, args: Vec<Value>) {
        let message = ClusterMessage::server_side_emit(&self.shared.uid, nsp, args, None);
        self.shared.publish(self.shared.namespace_channel(nsp), &message);
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

    fn close(&self) {
        let _ = self.shared.closed.send(true);
    }

    fn flush(&self, timeout: Duration) -> AdapterFuture<'_, ()> {
        self.shared.outbox.flush(timeout)
    }
}

/// The subscriber: one RESP3 connection with its sharded subscriptions, made again (all of
/// them) whenever it is lost.
struct Subscriber {
    shared: Arc<Shared>,
    client: redis::Client,
    control: mpsc::UnboundedReceiver<Control>,
    /// Every channel to be subscribed to.
    channels: HashSet<String>,
    /// This node's answer channels, by namespace.
    answer_channels: HashMap<String, String>,
    /// `Ready` asked while disconnected: answered once subscribed again.
    waiting: Vec<oneshot::Sender<()>>,
}

type Pushes = mpsc::UnboundedReceiver<PushInfo>;

impl Subscriber {
    fn new(shared: Arc<Shared>, client: redis::Client, control: mpsc::UnboundedReceiver<Control>) -> Self {
        Self {
            shared,
            client,
            control,
            channels: HashSet::new(),
            answer_channels: HashMap::new(),
            waiting: Vec::new(),
        }
    }

    fn namespace_channels(&mut self, nsp: &str) -> [String; 2] {
        let answers = self.shared.node_channel(nsp, &self.shared.uid);
        self.answer_channels.insert(answers.clone(), nsp.to_owned());
        [self.shared.namespace_channel(nsp), answers]
    }

    /// A new connection, subscribed to every channel.
    async fn connect(&self) -> redis::RedisResult<(MultiplexedConnection, Pushes)> {
        let (pushes, rx) = mpsc::unbounded_channel();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_push_sender(pushes);
        let mut connection = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        // One command per channel: sharded channels of one command must share a slot.
        let mut pipe = redis::pipe();
        for channel in &self.channels {
            pipe.cmd("SSUBSCRIBE").arg(channel).ignore();
        }
        if !self.channels.is_empty() {
            pipe.exec_async(&mut connection).await?;
        }
        for nsp in self.answer_channels.values() {
            self.shared.readiness.subscribed(nsp);
        }
        Ok((connection, rx))
    }

    async fn run(mut self, first: (MultiplexedConnection, Pushes)) {
        let mut closed = self.shared.closed.subscribe();
        let mut connection = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some((mut redis, mut pushes)) = connection.take() {
                self.shared.readiness.set_up(true);
                backoff = Duration::from_millis(50);
                for ready in self.waiting.drain(..) {
                    let _ = ready.send(());
                }
                // A connection that only listens would not notice a peer gone silent (a
                // half-open TCP connection): it is pinged.
                let mut ping = tokio::time::interval(PING_EVERY);
                ping.tick().await;
                loop {
                    tokio::select! {
                        _ = closed.changed() => return,
                        push = pushes.recv() => match push {
                            Some(push) if push.kind == PushKind::Disconnection => break,
                            Some(push) => self.on_push(push),
                            None => break,
                        },
                        control = self.control.recv() => {
                            let Some(control) = control else { return };
                            if self.apply(control, Some(&mut redis)).await.is_err() {
                                break;
                            }
                        }
                        _ = ping.tick() => {
                            if redis::cmd("PING").exec_async(&mut redis).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                self.shared.readiness.set_up(false);
                // What had arrived is still delivered.
                while let Ok(push) = pushes.try_recv() {
                    self.on_push(push);
                }
                tracing::warn!("sharded redis adapter: subscription lost; reconnecting");
            }
            tokio::select! {
                _ = closed.changed() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
            // What was asked while disconnected is subscribed with the rest.
            while let Ok(control) = self.control.try_recv() {
                let _ = self.apply(control, None).await;
            }
            match self.connect().await {
                Ok(pair) => {
                    tracing::info!("sharded redis adapter: subscribed again");
                    connection = Some(pair);
                }
                Err(error) => tracing::debug!(%error, "sharded redis adapter: cannot reconnect yet"),
            }
        }
    }

    /// Records `control`, and with a connection, subscribes or unsubscribes now.
    async fn apply(
        &mut self,
        control: Control,
        redis: Option<&mut MultiplexedConnection>,
    ) -> redis::RedisResult<()> {
        let (command, channels) = match control {
            Control::Namespace(nsp) => {
                let channels: Vec<String> = self
                    .namespace_channels(&nsp)
                    .into_iter()
                    .filter(|c| self.channels.insert(c.clone()))
                    .collect();
                if let Some(redis) = redis {
                    for channel in channels {
                        redis::cmd("SSUBSCRIBE").arg(channel).exec_async(&mut *redis).await?;
                    }
                    self.shared.readiness.subscribed(&nsp);
                }
                return Ok(());
            }
            Control::Room { channel, subscribe: true } => {
                ("SSUBSCRIBE", if self.channels.insert(channel.clone()) { vec![channel] } else { vec![] })
            }
            Control::Room { channel, subscribe: false } => {
                ("SUNSUBSCRIBE", if self.channels.remove(&channel) { vec![channel] } else { vec![] })
            }
            Control::Ready(ready) => {
                if redis.is_some() {
                    let _ = ready.send(());
                } else {
                    self.waiting.push(ready);
                }
                return Ok(());
            }
        };
        if let Some(redis) = redis {
            for channel in channels {
                redis::cmd(command).arg(channel).exec_async(redis).await?;
            }
        }
        Ok(())
    }

    fn on_push(&self, push: PushInfo) {
        if push.kind != PushKind::SMessage {
            return;
        }
        let mut data = push.data.into_iter();
        let (Some(redis::Value::BulkString(channel)), Some(redis::Value::BulkString(payload))) =
            (data.next(), data.next())
        else {
            return;
        };
        let Ok(channel) = String::from_utf8(channel) else { return };
        let Some(node) = self.shared.node.get() else { return };
        let message = match ClusterMessage::decode_pubsub(&payload) {
            Ok(message) => message,
            Err(error) => return tracing::warn!(%error, "sharded redis adapter: malformed message ignored"),
        };
        if message.uid == self.shared.uid {
            return;
        }
        if self.answer_channels.contains_key(&channel) {
            return self.on_answer(&message);
        }
        if message.kind == MessageType::Broadcast && message.request_id().is_none() {
            match message.broadcast_parts() {
                Ok((packet, opts)) => node.broadcast(&message.nsp, &packet, &opts),
                Err(error) => tracing::warn!(%error, "sharded redis adapter: malformed broadcast ignored"),
            }
            return;
        }
        apply_request(node, &self.shared.uid, &message, &self.shared.respond_to(&message.nsp, &message.uid));
    }

    fn on_answer(&self, message: &ClusterMessage) {
        apply_answer(&self.shared.acks, &self.shared.pending, message);
    }
}

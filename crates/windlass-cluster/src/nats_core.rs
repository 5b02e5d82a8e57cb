//! Core NATS pub/sub for fan-out ([`NatsCoreAdapter`]): one subject the nodes publish to and
//! subscribe to, no stream. The cheap NATS adapter, as Redis pub/sub is the cheap Redis one;
//! [`NatsAdapter`](crate::NatsAdapter) (`JetStream`) is the one with recovery.
//!
//! ```text
//!  emit ─► this node's sockets at once ─► outbox (ordered) ─► PUB socket.io.pubsub ─┐
//!                                           (connection without echo)                │ NATS
//!  Node::broadcast ◄── reader ◄── SUB socket.io.pubsub ◄─────────────────────────────┤
//!                              ◄── SUB _INBOX.<node's> (the same connection) ◄────────┤
//!  heartbeat ─► also a probe to _INBOX.<node's> over a second connection ─► PUB ──────┘
//! ```
//!
//! Messages are the `JetStream` adapter's ([`ClusterMessage::encode_compact`](crate::wire::ClusterMessage::encode_compact),
//! without a header). The node's connection is made without echo (`CONNECT {"echo":false}`):
//! NATS does not send a node its own messages, which it would only skip (its broadcasts
//! reached its sockets when they were sent). That was an eighth of the two nodes' CPU per
//! message. Requests and membership are the log adapters' (heartbeats every 5 s, a node
//! forgotten after 10 s of silence while the log flows through this node). The proof that it
//! flows, which the other adapters take from the node's own heartbeats coming back, is a
//! probe: each heartbeat is published a second time, unnumbered, over a second connection of
//! the node's, to a subject of the node's own that its connection subscribes to beside the
//! cluster's, and read by the same reader (so it proves the server and the connection's
//! subscriptions, not only a socket). Other nodes never see a probe: it cannot keep a node
//! that has closed, or whose writes fail, in their membership. A request is answered by
//! every node alive or fails. Delivery is NATS's: at most once, in order per sender; what is published while a node is
//! disconnected is not replayed to it. The clients reconnect and re-subscribe by themselves;
//! what this node publishes meanwhile waits in the client's command queue and then in the
//! outbox (the writer waits while that queue is full), and goes out once it is back, at most
//! once (NATS's client may drop what it had buffered for a connection that broke).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{FutureExt as _, StreamExt as _};
use tokio::sync::Mutex;

use windlass::event_server::BroadcastOptions;
use windlass_sio_proto::socket::Packet;

use crate::log::{Broker, Entry, LogAdapter, LogConfig, Own, Sealed, Write};
use crate::nats::{NatsConnectError, connect_client, message_entry};
use crate::wire::{self, ClusterMessage, MessageType};

/// Settings of a [`NatsCoreAdapter`].
#[derive(Clone, Debug)]
pub struct NatsCoreConfig {
    /// The subject every node publishes to and subscribes to; default `socket.io.pubsub`.
    /// Nodes of one cluster share it.
    pub subject: String,
    /// Messages handed to the adapter at a time; default 256.
    pub read_count: usize,
    /// How long a read waits for messages; default 1 s.
    pub block: Duration,
    /// Heartbeats and requests (sessions are not kept: no recovery across nodes).
    pub log: LogConfig,
}

impl Default for NatsCoreConfig {
    fn default() -> Self {
        Self {
            subject: "socket.io.pubsub".to_owned(),
            read_count: 256,
            block: Duration::from_secs(1),
            log: LogConfig::default(),
        }
    }
}

/// The core NATS [`Adapter`](windlass::event_server::Adapter): fan-out over a NATS subject,
/// without recovery.
///
/// ```no_run
/// use windlass::event_server::SocketIo;
/// use windlass_cluster::NatsCoreAdapter;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let adapter = NatsCoreAdapter::connect("nats://127.0.0.1:4222").await?;
/// let io = SocketIo::builder().adapter(adapter).build();
/// # Ok(())
/// # }
/// ```
pub type NatsCoreAdapter = LogAdapter<NatsCore>;

/// The NATS side of a [`NatsCoreAdapter`].
pub struct NatsCore {
    /// Publishes and subscribes, without echo.
    client: async_nats::Client,
    /// Publishes the heartbeats' probes (see the module's documentation).
    probe: async_nats::Client,
    config: NatsCoreConfig,
    /// `config.subject`, made once (a clone is a reference count).
    subject: async_nats::Subject,
    /// The cluster's subject and the probes' subject, read as one.
    subscriber: Mutex<futures_util::stream::Select<async_nats::Subscriber, async_nats::Subscriber>>,
    /// Where this node's probes go (an inbox of its connection's).
    probe_subject: async_nats::Subject,
    /// Numbers the messages read, as their "offset" (nothing is kept to recover from).
    read: AtomicU64,
}

impl std::fmt::Debug for NatsCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCore").field("subject", &self.config.subject).finish_non_exhaustive()
    }
}

impl LogAdapter<NatsCore> {
    /// Connects to NATS at `url` with the defaults; fails if it cannot be reached now. Later
    /// outages are survived: the client reconnects and re-subscribes by itself.
    pub async fn connect(url: &str) -> Result<Self, NatsConnectError> {
        Self::connect_with(url, NatsCoreConfig::default()).await
    }

    /// Connects with `config`.
    pub async fn connect_with(url: &str, config: NatsCoreConfig) -> Result<Self, NatsConnectError> {
        let (client, _reconnected) = connect_client(url, false).await?;
        let (probe, _reconnected) = connect_client(url, true).await?;
        let subscriber = client
            .subscribe(config.subject.clone())
            .await
            .map_err(|e| NatsConnectError::new(url, e.to_string()))?;
        let probe_subject = async_nats::Subject::from(client.new_inbox());
        let probes = client
            .subscribe(probe_subject.clone())
            .await
            .map_err(|e| NatsConnectError::new(url, e.to_string()))?;
        // Subscribed before serving: the first heartbeat's answers reach this node.
        client.flush().await.map_err(|e| NatsConnectError::new(url, e.to_string()))?;
        let log = config.log.clone();
        let subject = async_nats::Subject::from(config.subject.as_str());
        let core = NatsCore {
            client,
            probe,
            config,
            subject,
            subscriber: Mutex::new(futures_util::stream::select(subscriber, probes)),
            probe_subject,
            read: AtomicU64::new(0),
        };
        Ok(Self::start(core, log, "0".to_owned(), &[]))
    }
}

impl NatsCore {
    /// Publishes the probe of `heartbeat` over the second connection: a heartbeat without a
    /// number (so that, overtaking or overtaken by the node's numbered messages, it is never
    /// taken for one of them written twice), which comes back to this node. Its failure is
    /// not the batch's: while that connection is down, the probes stop, the log is taken for
    /// not flowing through this node, and its requests fail rather than undercount.
    fn probe_after(&self, heartbeat: &ClusterMessage) {
        let probe = ClusterMessage::new(&heartbeat.uid, "/", MessageType::Heartbeat).encode_compact();
        // Queued without waiting: a probe's publish waits only for room in the client's
        // command queue, and a heartbeat every 5 s never fills it. Outside tokio's budget: a
        // writer task that spent it on a long batch would otherwise see the send as pending.
        let publish = self.probe.publish(self.probe_subject.clone(), probe.into());
        match tokio::task::unconstrained(publish).now_or_never() {
            Some(Ok(())) => {}
            Some(Err(error)) => tracing::warn!(%error, "core NATS: heartbeat probe not sent"),
            None => tracing::warn!("core NATS: heartbeat probe not sent (the client's queue is full)"),
        }
    }
}

impl Sealed for NatsCore {}

impl Broker for NatsCore {
    fn order(_offset: &str) -> Option<(u64, u64)> {
        None
    }

    fn ordered() -> bool {
        false
    }

    fn encode_broadcast(
        &self,
        uid: &str,
        nsp: &str,
        packet: &Packet,
        opts: &BroadcastOptions,
    ) -> Option<wire::Unnumbered> {
        Some(wire::encode_compact_broadcast(uid, nsp, packet, opts))
    }

    async fn write(&self, batch: &[Write]) -> Result<(), String> {
        for write in batch {
            // Sessions are not kept: a core NATS cluster does not recover across nodes.
            let payload = match write {
                Write::Append(message) => {
                    if matches!(message.kind, MessageType::Heartbeat | MessageType::InitialHeartbeat) {
                        self.probe_after(message);
                    }
                    message.encode_compact().into()
                }
                Write::Encoded(bytes) => bytes.clone(),
                Write::PutSession { .. } | Write::DeleteSession(_) | Write::Flush(_) => continue,
            };
            self.client.publish(self.subject.clone(), payload).await.map_err(|e| e.to_string())?;
        }
        // Taken by the client's connection task, which writes as it goes (flushing here too
        // cost every batch another hand-off to that task and back).
        Ok(())
    }

    async fn flushed(&self) -> Result<(), String> {
        self.client.flush().await.map_err(|e| e.to_string())
    }

    async fn read(&self, _after: &str, own: &Own<'_>) -> Result<Vec<Entry>, String> {
        let mut subscriber = self.subscriber.lock().await;
        let Ok(first) = tokio::time::timeout(self.config.block, subscriber.next()).await else {
            return Ok(Vec::new());
        };
        let mut entries = Vec::new();
        let mut next = first;
        loop {
            let Some(message) = next else {
                return if entries.is_empty() { Err("the subscription ended".into()) } else { Ok(entries) };
            };
            let number = self.read.fetch_add(1, Ordering::Relaxed) + 1;
            entries.push(message_entry(number, &message.payload, Some(own.uid()), None));
            if entries.len() >= self.config.read_count {
                return Ok(entries);
            }
            match subscriber.next().now_or_never() {
                Some(more) => next = more,
                None => return Ok(entries),
            }
        }
    }

    async fn range(&self, _after: &str, _until: &str) -> Result<Option<Vec<Entry>>, String> {
        Ok(None)
    }

    async fn session(&self, _pid: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

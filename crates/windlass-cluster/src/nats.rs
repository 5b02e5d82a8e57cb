//! NATS `JetStream` as the cluster's log ([`LogAdapter`]): one stream (file storage, `max_msgs`
//! with old entries discarded, publishes de-duplicated by `Nats-Msg-Id`), read live by an
//! ordered push consumer after the last sequence applied (start-up and recovery ranges by an
//! ordered pull consumer); sessions in a key-value bucket. The live consumer is a push one
//! because NATS delivers to it without a pull request waiting: against the pull consumer it
//! had before, a quarter off the p99 of a cross-node broadcast and 7% off NATS's CPU per
//! message (2,000 messages/s, one subscriber, medians of 8 runs each).
//!
//! A message is the payload, in [`ClusterMessage::encode_compact`]'s `MessagePack`; the only
//! header is `Nats-Msg-Id` (`<uid>.<seq>`), by which `JetStream` drops a message published
//! twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::sync::Mutex;

use windlass::event_server::BroadcastOptions;
use windlass_sio_proto::socket::Packet;

use crate::log::{Broker, Entry, LogAdapter, LogConfig, Own, Sealed, Write};
use crate::wire::{self, ClusterMessage};

/// Settings of a [`NatsAdapter`].
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// The stream; default `socket_io`. Nodes of one cluster share it.
    pub stream: String,
    /// The subject the stream takes; default `socket.io.log`.
    pub subject: String,
    /// About how many messages the stream keeps; default 10,000. A client can recover only
    /// while its offset is still in the stream.
    pub max_len: i64,
    /// The key-value bucket of sessions; default `sio-sessions`.
    pub sessions_bucket: String,
    /// Messages read at a time; default 100.
    pub read_count: usize,
    /// How long a read waits for new messages; default 1 s.
    pub block: Duration,
    /// Heartbeats, requests, sessions' time to live.
    pub log: LogConfig,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            stream: "socket_io".to_owned(),
            subject: "socket.io.log".to_owned(),
            max_len: 10_000,
            sessions_bucket: "sio-sessions".to_owned(),
            read_count: 100,
            block: Duration::from_secs(1),
            log: LogConfig::default(),
        }
    }
}

/// Why the NATS adapter could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot use NATS at {url}: {reason}")]
pub struct NatsConnectError {
    url: String,
    reason: String,
}

/// The NATS adapter and session store: `JetStream` for the log and the sessions. Give the
/// same adapter to both:
///
/// ```no_run
/// use windlass::event_server::{RecoveryConfig, SocketIo, SocketIoConfig};
/// use windlass_cluster::NatsAdapter;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let adapter = NatsAdapter::connect("nats://127.0.0.1:4222").await?;
/// let config = SocketIoConfig { recovery: Some(RecoveryConfig::default()), ..Default::default() };
/// let io = SocketIo::builder().config(config).adapter(adapter.clone()).session_store(adapter).build();
/// # Ok(())
/// # }
/// ```
pub type NatsAdapter = LogAdapter<Nats>;

/// The NATS side of a [`NatsAdapter`].
pub struct Nats {
    context: jetstream::Context,
    client: async_nats::Client,
    /// The stream's subject, made once.
    subject: async_nats::Subject,
    /// The answers to this node's publishes (the writer's alone).
    acks: Mutex<Acks>,
    stream: stream::Stream,
    sessions: kv::Store,
    config: NatsConfig,
    /// The consumer the reader reads from, the sequence it gives next, and when it last gave
    /// one.
    reading: Mutex<Option<Reading>>,
    /// Set when the client reconnected: consumers made before do not survive a restarted
    /// server, so the reader makes a new one.
    reconnected: Arc<AtomicBool>,
}

/// Where NATS answers the stream's publishes: one subscription to `<inbox>.*`, each publish
/// answered at `<inbox>.<number>`. `async-nats`'s own `JetStream` publish makes an inbox name,
/// a channel, a permit and two timers per message and reads the answer through an untagged
/// enum; a batch of this adapter waits on one deadline.
struct Acks {
    subscriber: async_nats::Subscriber,
    prefix: String,
    next: u64,
}

/// How long a batch waits for its publishes to be sent and answered (`async-nats`'s default
/// for one `JetStream` request).
const ACK_WAIT: Duration = Duration::from_secs(5);

struct Reading {
    next: u64,
    messages: consumer::push::Ordered,
    last_message: Instant,
}

/// A consumer silent for this long is made again. Every node writes a heartbeat every few
/// seconds, so a live log is never this quiet.
const STALE_AFTER: Duration = Duration::from_secs(12);

impl std::fmt::Debug for Nats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nats").field("stream", &self.config.stream).finish_non_exhaustive()
    }
}

impl LogAdapter<Nats> {
    /// Connects to NATS at `url` (`JetStream` on) with the defaults; fails if it cannot be
    /// reached now. Later outages are survived: the client reconnects by itself.
    pub async fn connect(url: &str) -> Result<Self, NatsConnectError> {
        Self::connect_with(url, NatsConfig::default()).await
    }

    /// Connects with `config`.
    pub async fn connect_with(url: &str, config: NatsConfig) -> Result<Self, NatsConnectError> {
        let error = |reason: String| NatsConnectError::new(url, reason);
        let (client, reconnected) = connect_client(url, true).await?;
        let prefix = client.new_inbox();
        let subscriber = client.subscribe(format!("{prefix}.*")).await.map_err(|e| error(e.to_string()))?;
        let acks = Mutex::new(Acks { subscriber, prefix, next: 0 });
        let context = jetstream::new(client.clone());
        let mut stream = context
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![config.subject.clone()],
                max_messages: config.max_len,
                discard: stream::DiscardPolicy::Old,
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| error(e.to_string()))?;
        // The bucket's stream is made here in the key-value layout (`KV_<bucket>` taking
        // `$KV.<bucket>.>`, one value per key) rather than by `create_key_value`, whose
        // request NATS 2.9 (Debian's) answers in a form this client does not read.
        let ttl = config.log.session_ttl.unwrap_or(Duration::from_secs(120));
        context
            .get_or_create_stream(stream::Config {
                name: format!("KV_{}", config.sessions_bucket),
                subjects: vec![format!("$KV.{}.>", config.sessions_bucket)],
                max_messages_per_subject: 1,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                // The longest a session lives: the window plus the renewal period.
                max_age: ttl + (ttl / 4).max(Duration::from_secs(1)),
                discard: stream::DiscardPolicy::New,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| error(e.to_string()))?;
        let sessions =
            context.get_key_value(&config.sessions_bucket).await.map_err(|e| error(e.to_string()))?;
        let last = stream.info().await.map_err(|e| error(e.to_string()))?.state.last_sequence;
        reconnected.store(false, Ordering::Release);
        let nats = Nats {
            context,
            client,
            subject: async_nats::Subject::from(config.subject.as_str()),
            acks,
            stream,
            sessions,
            config: config.clone(),
            reading: Mutex::new(None),
            reconnected,
        };
        // The nodes heard from lately: the last entries, those of the last heartbeat timeout.
        let recent = nats.recent(last, config.log.heartbeat_timeout).await.map_err(error)?;
        Ok(Self::start(nats, config.log, last.to_string(), &recent))
    }
}

impl NatsConnectError {
    pub(crate) fn new(url: &str, reason: String) -> Self {
        Self { url: url.to_owned(), reason }
    }
}

/// A client of NATS at `url` that reconnects forever, and the flag it raises on each
/// (re)connection; an error when NATS cannot be reached now.
pub(crate) async fn connect_client(
    url: &str,
    echo: bool,
) -> Result<(async_nats::Client, Arc<AtomicBool>), NatsConnectError> {
    let reconnected = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&reconnected);
    let options =
        if echo { async_nats::ConnectOptions::new() } else { async_nats::ConnectOptions::new().no_echo() };
    let client = options
        .event_callback(move |event| {
            let flag = Arc::clone(&flag);
            async move {
                if matches!(event, async_nats::Event::Connected) {
                    flag.store(true, Ordering::Release);
                }
            }
        })
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .max_reconnects(None)
        .connect(url);
    // A broker that is not there at start is an error, not a wait.
    let client = tokio::time::timeout(Duration::from_secs(5), client)
        .await
        .map_err(|_| NatsConnectError::new(url, "no answer within 5 s".into()))?
        .map_err(|e| NatsConnectError::new(url, e.to_string()))?;
    Ok((client, reconnected))
}

/// A message (of the stream, or of a core subject) as a log entry, its broadcast's data left
/// unread if `own` sent it; its age when NATS said when it was published.
pub(crate) fn message_entry(
    sequence: u64,
    payload: &[u8],
    own: Option<&str>,
    published_nanos: Option<i128>,
) -> Entry {
    let (message, parts) = match ClusterMessage::decode_compact_parts(payload, own) {
        Ok((message, parts)) => (Ok(message), parts),
        Err(error) => (Err(error), None),
    };
    Entry { offset: sequence.to_string(), message, parts, age: age(published_nanos) }
}

/// How long ago NATS said a message was published. The clock is read only when NATS said
/// when (`JetStream`), not for every core message.
fn age(published_nanos: Option<i128>) -> Option<Duration> {
    published_nanos.and_then(|published| {
        let now_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
        u64::try_from((now_nanos - published).max(0)).ok().map(Duration::from_nanos)
    })
}

/// Where a `JetStream` message is in its stream: its sequence, and when it was published
/// (nanoseconds since 1970, unparsed), read from the subject it is acknowledged at:
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<sequence>.<consumer sequence>.<time>.<pending>`,
/// or with a domain and an account before the stream and tokens after (NATS 2.10 on; any
/// number of them, as `async-nats` reads it).
/// `Message::info` parses every token and builds a date from the time, which the live reader
/// does not need.
fn position(reply: &str) -> Option<(u64, &str)> {
    let mut tokens = [""; 10];
    let mut count = 0;
    for token in reply.strip_prefix("$JS.ACK.")?.split('.') {
        if let Some(slot) = tokens.get_mut(count) {
            *slot = token;
        }
        count += 1;
    }
    let first = match count {
        7 => 3,
        9.. => 5,
        _ => return None,
    };
    Some((tokens[first].parse().ok()?, tokens[first + 2]))
}

/// A `JetStream` message as an entry, with its age. This node's own broadcasts that it still
/// holds are not decoded: their parts are taken from `own`.
fn jetstream_entry(message: &jetstream::Message, own: Option<&Own<'_>>) -> Result<Entry, String> {
    let (sequence, published) = message
        .reply
        .as_deref()
        .and_then(position)
        .and_then(|(sequence, published)| Some((sequence, published.parse().ok()?)))
        .ok_or_else(|| format!("not a JetStream message: {:?}", message.reply))?;
    Ok(entry_with(message, sequence, Some(published), own))
}

/// [`jetstream_entry`] of a message at `sequence` whose place was read already, aged only when
/// `published` is given.
fn entry_with(
    message: &jetstream::Message,
    sequence: u64,
    published: Option<i128>,
    own: Option<&Own<'_>>,
) -> Entry {
    let held = own.and_then(|own| match wire::compact_sender(&message.payload) {
        Some((uid, Some(seq))) if uid == own.uid() => own.take(seq),
        _ => None,
    });
    let (Some(parts), Some(own)) = (held, own) else {
        return message_entry(sequence, &message.payload, None, published);
    };
    // Read as an envelope: a broadcast of this node's leaves its data unread.
    let message = ClusterMessage::decode_compact(&message.payload, Some(own.uid()));
    Entry { offset: sequence.to_string(), message, parts: Some(parts), age: age(published) }
}

/// A publish's `Nats-Msg-Id`, by which `JetStream` drops a message published twice within its
/// duplicate window.
fn message_id(uid: &str, seq: Option<u64>) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    if let Some(seq) = seq {
        headers.insert("Nats-Msg-Id", format!("{uid}.{seq}").as_str());
    }
    headers
}

/// What `JetStream` answers a publish: the sequence it stored the message at, or an error.
#[derive(serde::Deserialize)]
struct PublishAnswer {
    error: Option<ApiError>,
    seq: Option<u64>,
}

#[derive(serde::Deserialize)]
struct ApiError {
    code: u16,
    #[serde(default)]
    description: String,
}

/// Whether `answer` says a publish was stored (a duplicate is: it was stored before).
fn stored(answer: &async_nats::Message) -> Result<(), String> {
    if answer.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
        return Err(format!("no JetStream stream takes {}", answer.subject));
    }
    match serde_json::from_slice::<PublishAnswer>(&answer.payload) {
        Ok(PublishAnswer { error: Some(error), .. }) => {
            Err(format!("JetStream did not store a message: {} ({})", error.description, error.code))
        }
        Ok(PublishAnswer { seq: Some(_), .. }) => Ok(()),
        Ok(PublishAnswer { .. }) | Err(_) => {
            Err(format!("JetStream answered a publish with {:?}", String::from_utf8_lossy(&answer.payload)))
        }
    }
}

/// A consumer's start: the stream's message `sequence` (its first when 0).
fn from_sequence(sequence: u64) -> consumer::DeliverPolicy {
    consumer::DeliverPolicy::ByStartSequence { start_sequence: sequence.max(1) }
}

impl Nats {
    /// The live reader's consumer: an ordered push consumer giving the stream's messages from
    /// `sequence` on, to an inbox of this client. It makes itself again (from where it was)
    /// when a message or a heartbeat goes missing; after a reconnection the reader makes a
    /// new one itself.
    async fn live_from(&self, sequence: u64) -> Result<consumer::push::Ordered, String> {
        let config = consumer::push::OrderedConfig {
            deliver_subject: self.context.client().new_inbox(),
            filter_subject: self.config.subject.clone(),
            deliver_policy: from_sequence(sequence),
            ..Default::default()
        };
        let consumer = self.stream.create_consumer(config).await.map_err(|e| e.to_string())?;
        consumer.messages().await.map_err(|e| e.to_string())
    }

    /// Publishes `payload` to the stream, answered at the next number of `acks`.
    async fn publish(
        &self,
        acks: &mut Acks,
        headers: async_nats::HeaderMap,
        payload: Bytes,
    ) -> Result<(), String> {
        let reply = format!("{}.{}", acks.prefix, acks.next);
        acks.next += 1;
        self.client
            .publish_with_reply_and_headers(self.subject.clone(), reply, headers, payload)
            .await
            .map_err(|e| e.to_string())
    }

    /// An ordered pull consumer giving the stream's messages from `sequence` on.
    async fn consumer_from(&self, sequence: u64) -> Result<consumer::pull::Ordered, String> {
        let config = consumer::pull::OrderedConfig {
            filter_subject: self.config.subject.clone(),
            deliver_policy: from_sequence(sequence),
            ..Default::default()
        };
        let consumer = self.stream.create_consumer(config).await.map_err(|e| e.to_string())?;
        consumer.messages().await.map_err(|e| e.to_string())
    }

    /// The entries of the last `within`, from the newest thousand up to `last`.
    async fn recent(&self, last: u64, within: Duration) -> Result<Vec<Entry>, String> {
        if last == 0 {
            return Ok(Vec::new());
        }
        let mut messages = self.consumer_from(last.saturating_sub(1000) + 1).await?;
        let mut recent = Vec::new();
        while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
            let entry = jetstream_entry(&message.map_err(|e| e.to_string())?, None)?;
            let done = entry.offset.parse::<u64>().is_ok_and(|seq| seq >= last);
            if entry.age.is_some_and(|age| age <= within) {
                recent.push(entry);
            }
            if done {
                break;
            }
        }
        Ok(recent)
    }
}

/// Waits until every publish numbered `first..last` is answered stored. Answers to earlier
/// batches (that gave up waiting) are passed over.
async fn wait_stored(answers: &mut async_nats::Subscriber, first: u64, last: u64) -> Result<(), String> {
    let mut answered = vec![false; usize::try_from(last - first).unwrap_or(0)];
    let mut left = answered.len();
    while left > 0 {
        let answer = answers.next().await.ok_or("the subscription to publish answers ended")?;
        let number = answer.subject.rsplit('.').next().and_then(|n| n.parse::<u64>().ok());
        let Some(slot) = number
            .filter(|n| (first..last).contains(n))
            .and_then(|n| answered.get_mut(usize::try_from(n - first).ok()?))
        else {
            continue;
        };
        if !*slot {
            *slot = true;
            left -= 1;
            stored(&answer)?;
        }
    }
    Ok(())
}

impl Sealed for Nats {}

impl crate::log::Recoverable for Nats {}

impl Broker for Nats {
    fn order(offset: &str) -> Option<(u64, u64)> {
        Some((offset.parse().ok()?, 0))
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
        let deadline = tokio::time::Instant::now() + ACK_WAIT;
        let mut acks = self.acks.lock().await;
        let first = acks.next;
        let written = tokio::time::timeout_at(deadline, async {
            for write in batch {
                match write {
                    Write::Append(message) => {
                        let headers = message_id(&message.uid, message.seq);
                        self.publish(&mut acks, headers, Bytes::from(message.encode_compact())).await?;
                    }
                    Write::Encoded(bytes) => {
                        let headers = match wire::compact_sender(bytes) {
                            Some((uid, seq)) => message_id(uid, seq),
                            None => async_nats::HeaderMap::new(),
                        };
                        self.publish(&mut acks, headers, bytes.clone()).await?;
                    }
                    Write::PutSession { pid, bytes, .. } => {
                        self.sessions
                            .put(&**pid, Bytes::copy_from_slice(bytes))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Write::DeleteSession(pid) => {
                        self.sessions.purge(&**pid).await.map_err(|e| e.to_string())?;
                    }
                    Write::Flush(_) => {}
                }
            }
            let last = acks.next;
            wait_stored(&mut acks.subscriber, first, last).await
        })
        .await;
        written.unwrap_or_else(|_| Err("JetStream did not store a batch within 5 s".to_owned()))
    }

    async fn read(&self, after: &str, own: &Own<'_>) -> Result<Vec<Entry>, String> {
        let after: u64 = after.parse().map_err(|_| format!("not a sequence: {after}"))?;
        let mut reading = self.reading.lock().await;
        let stale =
            reading.as_ref().is_none_or(|r| r.next != after + 1 || r.last_message.elapsed() > STALE_AFTER);
        if self.reconnected.swap(false, Ordering::AcqRel) || stale {
            let messages = self.live_from(after + 1).await?;
            *reading = Some(Reading { next: after + 1, messages, last_message: Instant::now() });
        }
        let Some(current) = reading.as_mut() else { return Ok(Vec::new()) };
        let mut entries = Vec::new();
        let Ok(mut item) = tokio::time::timeout(self.config.block, current.messages.next()).await else {
            return Ok(entries);
        };
        loop {
            match item {
                Some(Ok(message)) => {
                    let Some((sequence, _)) = message.reply.as_deref().and_then(position) else {
                        return Err(format!("not a JetStream message: {:?}", message.reply));
                    };
                    if sequence < current.next {
                        // The consumer made itself again from the stream's start (`async-nats`
                        // does so when it had given nothing yet): what it gives was applied.
                        // Made anew after the last entry applied on the next read.
                        *reading = None;
                        return Ok(entries);
                    }
                    let entry = entry_with(&message, sequence, None, Some(own));
                    current.next = sequence + 1;
                    current.last_message = Instant::now();
                    entries.push(entry);
                }
                Some(Err(error)) => {
                    *reading = None;
                    return if entries.is_empty() { Err(error.to_string()) } else { Ok(entries) };
                }
                None => {
                    *reading = None;
                    return if entries.is_empty() { Err("the consumer ended".into()) } else { Ok(entries) };
                }
            }
            if entries.len() >= self.config.read_count {
                return Ok(entries);
            }
            match current.messages.next().now_or_never() {
                Some(more) => item = more,
                None => return Ok(entries),
            }
        }
    }

    async fn range(&self, after: &str, until: &str) -> Result<Option<Vec<Entry>>, String> {
        let (Ok(after), Ok(until)) = (after.parse::<u64>(), until.parse::<u64>()) else { return Ok(None) };
        match self.stream.get_raw_message(after).await {
            Ok(_) => {}
            Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => return Ok(None),
            Err(error) => return Err(error.to_string()),
        }
        let mut entries = Vec::new();
        if after >= until {
            return Ok(Some(entries));
        }
        let mut messages = self.consumer_from(after + 1).await?;
        let mut taken = after;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(2), messages.next())
                .await
                .map_err(|_| "the stream did not give the range in time".to_owned())?
                .ok_or("the consumer ended")?
                .map_err(|e| e.to_string())?;
            let entry = jetstream_entry(&message, None)?;
            let sequence: u64 = entry.offset.parse().unwrap_or(until);
            if sequence > until {
                return Ok(Some(entries));
            }
            if sequence <= taken {
                // Given again by a consumer that made itself again from the start.
                continue;
            }
            taken = sequence;
            entries.push(entry);
            if sequence == until {
                return Ok(Some(entries));
            }
        }
    }

    async fn session(&self, pid: &str) -> Result<Option<Vec<u8>>, String> {
        let value = self.sessions.get(pid).await.map_err(|e| e.to_string())?;
        Ok(value.map(|bytes| bytes.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_read_from_either_form_of_ack_subject() {
        // NATS 2.9 (Debian's): no domain, account or token.
        assert_eq!(
            position("$JS.ACK.socket_io.abc.1.42.7.1700000000000000000.3"),
            Some((42, "1700000000000000000"))
        );
        // NATS 2.10 on: a domain (`_` for none) and an account hash before, a token after.
        assert_eq!(
            position("$JS.ACK._.HASH.socket_io.abc.1.43.8.1700000000000000001.0.xyz"),
            Some((43, "1700000000000000001"))
        );
        assert_eq!(
            position("$JS.ACK._.HASH.socket_io.abc.1.44.8.1700000000000000002.0"),
            Some((44, "1700000000000000002"))
        );
        // Tokens a later NATS may add after those are not read.
        assert_eq!(
            position("$JS.ACK._.HASH.socket_io.abc.1.45.8.1700000000000000003.0.xyz.more.and.more"),
            Some((45, "1700000000000000003"))
        );
        for not_one in [
            "",
            "_INBOX.abc",
            "$JS.ACK.socket_io.abc.1",
            "$JS.ACK.socket_io.abc.1.x.7.17.3",
            "$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m",
        ] {
            assert_eq!(position(not_one), None, "{not_one}");
        }
    }

    fn answer(payload: &str, status: Option<u16>) -> async_nats::Message {
        async_nats::Message {
            subject: "_INBOX.x.7".into(),
            reply: None,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            headers: None,
            status: status.map(|code| async_nats::StatusCode::from_u16(code).expect("a status")),
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn a_publish_is_stored_only_when_jetstream_says_at_what_sequence() {
        assert_eq!(stored(&answer(r#"{"stream":"socket_io","seq":5}"#, None)), Ok(()));
        assert_eq!(stored(&answer(r#"{"stream":"socket_io","seq":5,"duplicate":true}"#, None)), Ok(()));
        assert_eq!(
            stored(&answer(
                r#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#,
                None
            )),
            Err("JetStream did not store a message: maximum messages exceeded (503)".to_owned())
        );
        assert_eq!(stored(&answer("", Some(503))), Err("no JetStream stream takes _INBOX.x.7".to_owned()));
        assert_eq!(
            stored(&answer(r#"{"stream":"socket_io"}"#, None)),
            Err(r#"JetStream answered a publish with "{\"stream\":\"socket_io\"}""#.to_owned())
        );
        assert!(stored(&answer("not json", None)).is_err());
    }
}

//! Redis Streams as the cluster's log ([`LogAdapter`]): one stream (`XADD … MAXLEN ~`,
//! `XREAD BLOCK` after the last entry applied, `XRANGE` for recovery), entries laid out as
//! `@socket.io/redis-streams-adapter` lays them out, sessions as `SET <prefix><pid> … PX`.
//!
//! Every message is an `XADD` and, on every node, an entry of an `XREAD`. For `redis://`
//! these go over two connections of the crate's own ([`publisher::Connection`]), written and
//! read in place by [`resp`](crate::resp): through the `redis` crate, the `combine` parse of
//! the replies into owned values and the conversion to `StreamReadReply` cost about half of
//! both nodes' user-space instructions per message (docs/PERFORMANCE.md). Everything rarer
//! (start, recovery ranges, sessions read back) and TLS or Unix-socket URLs keep the crate.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use tokio::sync::Mutex;

use crate::ConnectError;
use crate::log::{Broker, Entry, LogAdapter, LogConfig, Own, Sealed, Write, millis};
use crate::publisher::{Connection, PublishVia, Target};
use crate::resp::{self, Reply, StreamRead};
use crate::wire::{self, ClusterMessage, Unnumbered};
use windlass::event_server::BroadcastOptions;
use windlass_sio_proto::socket::Packet;

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
    /// Heartbeats, requests, sessions' time to live.
    pub log: LogConfig,
}

impl Default for RedisStreamsConfig {
    fn default() -> Self {
        Self {
            stream: "socket.io".to_owned(),
            max_len: 10_000,
            read_count: 100,
            block: Duration::from_secs(1),
            session_prefix: "sio:session:".to_owned(),
            log: LogConfig::default(),
        }
    }
}

/// The Redis Streams adapter and session store. Give the same adapter to both:
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
pub type RedisStreamsAdapter = LogAdapter<RedisStreams>;

/// The Redis side of a [`RedisStreamsAdapter`].
pub struct RedisStreams {
    commands: ConnectionManager,
    /// How appends are written and the stream read.
    lanes: Lanes,
    config: RedisStreamsConfig,
    /// `config.max_len`, as `XADD` is written.
    max_len: String,
}

/// Where the writer appends and the reader reads.
enum Lanes {
    /// Connections of the crate's own to a `redis://` address, each made again when lost:
    /// one for the writer's batches, one for the reader's blocking reads.
    Own(Box<OwnLanes>),
    /// The `redis` crate: the writer uses the commands' connection manager, and blocking
    /// reads get a manager of their own.
    Crate { reader: ConnectionManager },
}

/// [`Lanes::Own`]: where to connect, and the two connections.
struct OwnLanes {
    target: Target,
    writer: Mutex<Option<Connection>>,
    reader: Mutex<Option<Connection>>,
}

/// How much longer than its `BLOCK` a read may take before the connection is thought slow.
const READ_MARGIN: Duration = Duration::from_secs(2);

impl std::fmt::Debug for RedisStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreams").field("stream", &self.config.stream).finish_non_exhaustive()
    }
}

impl LogAdapter<RedisStreams> {
    /// Connects to Redis at `url` with the defaults; fails if it cannot be reached now.
    /// Later outages are survived.
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
        let lanes = match PublishVia::for_client(&client).await.map_err(error)? {
            PublishVia::Tcp(target) => {
                // Made now, so that a bad address or password fails here, not in the tasks.
                let writer = Connection::open(&target).await.map_err(|e| error(e.into()))?;
                let reader = Connection::open(&target).await.map_err(|e| error(e.into()))?;
                Lanes::Own(Box::new(OwnLanes {
                    target,
                    writer: Mutex::new(Some(writer)),
                    reader: Mutex::new(Some(reader)),
                }))
            }
            PublishVia::Manager(_) => {
                // Reads block for `config.block`; their connection waits longer than that.
                let reader_config = commands_config.set_response_timeout(Some(config.block + READ_MARGIN));
                Lanes::Crate {
                    reader: ConnectionManager::new_with_config(client, reader_config).await.map_err(error)?,
                }
            }
        };

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
        let last = last.ids.first().map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone());
        let recent: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&config.stream)
            .arg(server_now.saturating_sub(millis(config.log.heartbeat_timeout)))
            .arg("+")
            .query_async(&mut commands)
            .await
            .map_err(error)?;
        let recent: Vec<Entry> = recent
            .ids
            .iter()
            .map(|id| {
                let mut entry = entry(id, None);
                let written = RedisStreams::order(&id.id).map_or(server_now, |(ms, _)| ms);
                entry.age = Some(Duration::from_millis(server_now.saturating_sub(written)));
                entry
            })
            .collect();
        let log = config.log.clone();
        let max_len = config.max_len.to_string();
        Ok(Self::start(RedisStreams { commands, lanes, config, max_len }, log, last, &recent))
    }
}

fn field<'a>(entry: &'a StreamId, name: &str) -> Option<&'a [u8]> {
    match entry.map.get(name)? {
        redis::Value::BulkString(bytes) => Some(bytes),
        redis::Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

/// An entry read through the `redis` crate.
fn entry(id: &StreamId, own: Option<&Own<'_>>) -> Entry {
    entry_of(&id.id, |name| field(id, name), own)
}

/// The lane's connection, made again if there is none or Redis closed it.
async fn usable<'a>(lane: &'a mut Option<Connection>, target: &Target) -> Result<&'a mut Connection, String> {
    if lane.as_mut().is_some_and(|open| !open.is_open()) {
        *lane = None;
    }
    match lane {
        Some(open) => Ok(open),
        None => Ok(lane.insert(Connection::open(target).await.map_err(|e| e.to_string())?)),
    }
}

/// An entry at `offset` with the fields `field` gives. This node's own broadcasts that it
/// still holds (`own`, when reading live) are not decoded: their parts are taken from it.
fn entry_of<'a>(offset: &str, field: impl Fn(&str) -> Option<&'a [u8]>, own: Option<&Own<'_>>) -> Entry {
    let held = own
        .filter(|own| field("uid") == Some(own.uid().as_bytes()) && field("type") == Some(BROADCAST))
        .and_then(|own| {
            let seq = std::str::from_utf8(field("seq")?).ok()?.parse().ok()?;
            own.take(seq)
        });
    let (message, parts) = if held.is_some() {
        (ClusterMessage::from_fields(|name| if name == "data" { None } else { field(name) }), held)
    } else {
        match ClusterMessage::from_fields_parts(field) {
            Ok((message, parts)) => (Ok(message), parts),
            Err(error) => (Err(error), None),
        }
    };
    Entry { offset: offset.to_owned(), message, parts, age: None }
}

/// A broadcast's `type` field.
const BROADCAST: &[u8] = b"3";

/// `MULTI` and `EXEC`, as RESP.
const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

/// How an `XADD` starts, before its fields.
fn xadd_head(out: &mut Vec<u8>, stream: &str, max_len: &str, fields: usize) {
    resp::array(out, 6 + 2 * fields);
    for arg in [&b"XADD"[..], stream.as_bytes(), b"MAXLEN", b"~", max_len.as_bytes(), b"*"] {
        resp::bulk(out, arg);
    }
}

/// `XADD` of `message`'s fields, as RESP onto `out`.
fn xadd(out: &mut Vec<u8>, stream: &str, max_len: &str, message: &ClusterMessage) {
    let fields = message.fields();
    xadd_head(out, stream, max_len, fields.len());
    for (name, value) in &fields {
        resp::bulk(out, name.as_bytes());
        resp::bulk(out, value);
    }
}

/// The `XADD` that [`xadd`] writes of [`ClusterMessage::broadcast_in`]`(uid, nsp, packet,
/// opts)` numbered, written straight from the packet; `None` for a packet with binary.
fn xadd_broadcast(
    stream: &str,
    max_len: &str,
    uid: &str,
    nsp: &str,
    packet: &Packet,
    opts: &BroadcastOptions,
) -> Option<Unnumbered> {
    let mut data = Vec::with_capacity(256);
    if !wire::write_broadcast_json(nsp, packet, opts, &mut data) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() + 192);
    xadd_head(&mut out, stream, max_len, 5);
    for (name, value) in
        [("uid", uid.as_bytes()), ("nsp", nsp.as_bytes()), ("type", BROADCAST), ("data", &data)]
    {
        resp::bulk(&mut out, name.as_bytes());
        resp::bulk(&mut out, value);
    }
    let seq_at = out.len();
    Some(Unnumbered::new(out, seq_at, |seq, out| {
        resp::bulk(out, b"seq");
        resp::bulk(out, seq.to_string().as_bytes());
    }))
}

impl RedisStreams {
    fn session_key(&self, pid: &str) -> String {
        format!("{}{pid}", self.config.session_prefix)
    }

    /// `write` as RESP onto `out`; whether it is a command (one reply owed).
    fn command(&self, out: &mut Vec<u8>, write: &Write) -> bool {
        match write {
            Write::Append(message) => xadd(out, &self.config.stream, &self.max_len, message),
            // Made by `encode_broadcast`: the whole command.
            Write::Encoded(bytes) => out.extend_from_slice(bytes),
            Write::PutSession { pid, bytes, ttl } => {
                let key = self.session_key(pid);
                let ttl = millis(*ttl).to_string();
                resp::command(out, &[b"SET", key.as_bytes(), bytes, b"PX", ttl.as_bytes()]);
            }
            Write::DeleteSession(pid) => resp::command(out, &[b"DEL", self.session_key(pid).as_bytes()]),
            Write::Flush(_) => return false,
        }
        true
    }

    /// [`Broker::write`] over the writer's own connection: the batch one write, its replies
    /// one read; any refusal fails the batch (written again whole).
    async fn write_own(
        &self,
        target: &Target,
        lane: &Mutex<Option<Connection>>,
        batch: &[Write],
    ) -> Result<(), String> {
        let mut commands = Vec::with_capacity(384 * batch.len() + 32);
        commands.extend_from_slice(MULTI);
        let count = batch.iter().filter(|write| self.command(&mut commands, write)).count();
        let (commands, count) = match count {
            0 => return Ok(()),
            // One command lands whole or not at all.
            1 => (&commands[MULTI.len()..], 1),
            // Several as one transaction: a command refused as it is queued (`-OOM`) makes
            // Redis apply none of them (`-EXECABORT`), so the batch written again cannot land
            // a later number of this node before an earlier one (which readers would then
            // drop as already applied).
            n => {
                commands.extend_from_slice(EXEC);
                (&commands[..], n + 2)
            }
        };
        let mut lane = lane.lock().await;
        let connection = usable(&mut lane, target).await?;
        let mut refused = None;
        let result = connection
            .exchange_replies(commands, count, |reply| {
                if let Reply::Error(error) = reply {
                    refused.get_or_insert(error);
                }
            })
            .await;
        match result {
            Ok(()) => refused.map_or(Ok(()), Err),
            Err(failure) => {
                if !failure.late {
                    *lane = None;
                }
                Err(failure.error.to_string())
            }
        }
    }

    /// [`Broker::read`] over the reader's own connection.
    async fn read_own(
        &self,
        target: &Target,
        lane: &Mutex<Option<Connection>>,
        after: &str,
        own: &Own<'_>,
    ) -> Result<Vec<Entry>, String> {
        let mut command = Vec::with_capacity(128);
        let count = self.config.read_count.to_string();
        let block = millis(self.config.block).to_string();
        resp::command(
            &mut command,
            &[
                b"XREAD",
                b"COUNT",
                count.as_bytes(),
                b"BLOCK",
                block.as_bytes(),
                b"STREAMS",
                self.config.stream.as_bytes(),
                after.as_bytes(),
            ],
        );
        let mut lane = lane.lock().await;
        let connection = usable(&mut lane, target).await?;
        let read = connection
            .request(&command, self.config.block + READ_MARGIN, |buf| {
                Ok(resp::parse_stream_read(buf)?.map(|(read, used)| {
                    let entries = match read {
                        StreamRead::Entries(entries) => Ok(entries
                            .iter()
                            .map(|entry| entry_of(entry.id, |name| entry.field(name), Some(own)))
                            .collect()),
                        StreamRead::Error(error) => Err(error.to_owned()),
                    };
                    (entries, used)
                }))
            })
            .await;
        match read {
            Ok(entries) => entries,
            Err(failure) => {
                if !failure.late {
                    *lane = None;
                }
                Err(failure.error.to_string())
            }
        }
    }

    /// `XADD` of `message`'s fields to the stream, onto `pipe`.
    fn append(&self, pipe: &mut redis::Pipeline, message: &ClusterMessage) {
        let cmd = pipe.cmd("XADD");
        cmd.arg(&self.config.stream).arg("MAXLEN").arg("~").arg(self.config.max_len).arg("*");
        for (name, value) in message.fields() {
            cmd.arg(name).arg(value);
        }
        cmd.ignore();
    }
}

impl Sealed for RedisStreams {}

impl crate::log::Recoverable for RedisStreams {}

impl Broker for RedisStreams {
    fn order(offset: &str) -> Option<(u64, u64)> {
        let (ms, seq) = offset.split_once('-')?;
        Some((ms.parse().ok()?, seq.parse().ok()?))
    }

    /// Over the crate's own connections, the whole `XADD` (the `redis` crate's pipeline is
    /// given the message instead).
    fn encode_broadcast(
        &self,
        uid: &str,
        nsp: &str,
        packet: &Packet,
        opts: &BroadcastOptions,
    ) -> Option<Unnumbered> {
        match self.lanes {
            Lanes::Own(_) => xadd_broadcast(&self.config.stream, &self.max_len, uid, nsp, packet, opts),
            Lanes::Crate { .. } => None,
        }
    }

    async fn write(&self, batch: &[Write]) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Lanes::Own(own) = &self.lanes {
            return self.write_own(&own.target, &own.writer, batch).await;
        }
        let mut pipe = redis::pipe();
        for write in batch {
            match write {
                Write::Append(message) => self.append(&mut pipe, message),
                // Made only for the crate's own connections (`encode_broadcast`).
                Write::Encoded(_) => {
                    tracing::error!(
                        "redis streams adapter: an encoded command on the redis crate's connection dropped"
                    );
                }
                Write::PutSession { pid, bytes, ttl } => {
                    pipe.cmd("SET")
                        .arg(self.session_key(pid))
                        .arg(&**bytes)
                        .arg("PX")
                        .arg(millis(*ttl))
                        .ignore();
                }
                Write::DeleteSession(pid) => {
                    pipe.cmd("DEL").arg(self.session_key(pid)).ignore();
                }
                Write::Flush(_) => {}
            }
        }
        let mut commands = self.commands.clone();
        pipe.query_async::<()>(&mut commands).await.map_err(|e| e.to_string())
    }

    async fn read(&self, after: &str, own: &Own<'_>) -> Result<Vec<Entry>, String> {
        let mut reader = match &self.lanes {
            Lanes::Own(lanes) => return self.read_own(&lanes.target, &lanes.reader, after, own).await,
            Lanes::Crate { reader } => reader.clone(),
        };
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(self.config.read_count)
            .arg("BLOCK")
            .arg(millis(self.config.block))
            .arg("STREAMS")
            .arg(&self.config.stream)
            .arg(after)
            .query_async(&mut reader)
            .await
            .map_err(|e| e.to_string())?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|id| entry(&id, Some(own)))
            .collect())
    }

    async fn range(&self, after: &str, until: &str) -> Result<Option<Vec<Entry>>, String> {
        const PAGE: usize = 1000;
        let mut commands = self.commands.clone();
        let found: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.config.stream)
            .arg(after)
            .arg(after)
            .query_async(&mut commands)
            .await
            .map_err(|e| e.to_string())?;
        if found.ids.is_empty() {
            return Ok(None);
        }
        let mut entries = Vec::new();
        if Self::order(after) >= Self::order(until) {
            return Ok(Some(entries));
        }
        let mut from = format!("({after}");
        loop {
            let page: StreamRangeReply = redis::cmd("XRANGE")
                .arg(&self.config.stream)
                .arg(&from)
                .arg(until)
                .arg("COUNT")
                .arg(PAGE)
                .query_async(&mut commands)
                .await
                .map_err(|e| e.to_string())?;
            let full = page.ids.len() == PAGE;
            if let Some(last) = page.ids.last() {
                from = format!("({}", last.id);
            }
            entries.extend(page.ids.iter().map(|id| entry(id, None)));
            if !full {
                return Ok(Some(entries));
            }
        }
    }

    async fn session(&self, pid: &str) -> Result<Option<Vec<u8>>, String> {
        let mut commands = self.commands.clone();
        redis::cmd("GET")
            .arg(self.session_key(pid))
            .query_async(&mut commands)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use windlass::event_server::BroadcastFlags;
    use windlass_sio_proto::{Map, Number, Value};

    use super::*;
    use crate::resp::StreamEntry;

    /// The `XADD` of `broadcast_in(…)` numbered `seq`, as the message is written.
    fn by_message(uid: &str, nsp: &str, packet: &Packet, opts: &BroadcastOptions, seq: u64) -> Vec<u8> {
        let mut message = ClusterMessage::broadcast_in(uid, nsp, packet, opts);
        message.seq = Some(seq);
        let mut out = Vec::new();
        xadd(&mut out, "socket.io", "10000", &message);
        out
    }

    fn packets() -> Vec<Packet> {
        let mut data = Map::new();
        data.insert("text", Value::from("line\n\"quoted\" \\ é \u{2028} \u{1}"));
        data.insert("n", Value::from(Number::from(1.5)));
        data.insert("k", Value::from(Number::from(-3_i64)));
        data.insert("none", Value::Null);
        let mut with_id = Packet::event("/chat", "said", vec![Value::Object(data.clone())]);
        with_id.id = Some(12);
        let mut no_data = Packet::event("/", "x", vec![]);
        no_data.data = None;
        vec![Packet::event("/", "said", vec![Value::from("hi"), Value::Object(data)]), with_id, no_data]
    }

    fn options() -> Vec<BroadcastOptions> {
        let rooms = |names: &[&str]| names.iter().map(|name| Arc::from(*name)).collect::<Vec<_>>();
        vec![
            BroadcastOptions::default(),
            BroadcastOptions {
                rooms: rooms(&["r1", "ré\"2"]),
                except: rooms(&["e", "e", "f"]),
                flags: BroadcastFlags {
                    volatile: true,
                    compress: false,
                    local: false,
                    timeout: Some(Duration::from_micros(2_500_700)),
                },
            },
        ]
    }

    #[test]
    fn a_broadcast_is_written_straight_byte_for_byte_as_its_message_would_be() {
        for packet in packets() {
            for opts in options() {
                for (uid, nsp, seq) in [("abc123", "/", 1), ("z", "/chat", 1 << 40)] {
                    let straight = xadd_broadcast("socket.io", "10000", uid, nsp, &packet, &opts)
                        .expect("no binary")
                        .numbered(seq);
                    assert_eq!(
                        String::from_utf8_lossy(&straight),
                        String::from_utf8_lossy(&by_message(uid, nsp, &packet, &opts, seq))
                    );
                }
            }
        }
    }

    #[test]
    fn a_broadcast_with_binary_is_left_to_its_message() {
        let packet = Packet::event("/", "file", vec![Value::Binary(bytes::Bytes::from_static(&[1, 2]))]);
        assert!(xadd_broadcast("s", "1", "u", "/", &packet, &BroadcastOptions::default()).is_none());
    }

    #[test]
    fn an_entry_read_back_is_the_message() {
        for packet in packets() {
            for opts in options() {
                let bytes = xadd_broadcast("s", "1", "u", "/", &packet, &opts).unwrap().numbered(7);
                // The command's arguments after `XADD s MAXLEN ~ 1 *` are the entry's fields.
                let Ok(Some((resp::Push::Items(args), _))) = resp::parse_push(&bytes) else { panic!() };
                let fields: Vec<(&[u8], &[u8])> =
                    args[6..].chunks(2).map(|pair| (pair[0], pair[1])).collect();
                let entry = StreamEntry { id: "1-0", fields };
                let message = ClusterMessage::from_fields(|name| entry.field(name)).unwrap();
                assert_eq!(message.seq, Some(7));
                let (read, read_opts) = message.into_broadcast_parts().unwrap();
                assert_eq!(read_opts, wire::opts_as_read(&opts));
                assert_eq!(read.data, packet.data);
                assert_eq!(read.id, packet.id);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Any text in the event, the namespace and the rooms: written straight as by value.
        #[test]
        fn any_text_is_written_straight_as_by_value(text in ".{0,40}", nsp in "/.{0,10}", room in ".{0,10}") {
            let packet = Packet::event("/", &text, vec![Value::from(text.as_str())]);
            let opts = BroadcastOptions { rooms: vec![Arc::from(room.as_str())], ..Default::default() };
            let straight = xadd_broadcast("socket.io", "10000", "u", &nsp, &packet, &opts).unwrap().numbered(3);
            prop_assert_eq!(straight, by_message("u", &nsp, &packet, &opts, 3));
        }
    }
}

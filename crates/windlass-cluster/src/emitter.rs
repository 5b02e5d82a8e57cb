//! Publishing into a cluster from a process that serves nothing (a job, a cron task, another
//! service): Node's `@socket.io/redis-emitter`, in Rust, on the same wire. Works with
//! windlass nodes and Node nodes on the Redis pub/sub adapter.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use serde::Serialize;
use windlass::event_server::{BroadcastFlags, BroadcastOptions, Value};
use windlass_sio_proto::socket::{Packet, RESERVED_EVENTS};

use crate::ConnectError;
use crate::wire::{self, Channels, Request, RequestType};

/// The uid an emitter's messages carry, as Node's emitter's do: no server takes them for its
/// own.
const EMITTER_UID: &str = "emitter";

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterError {
    /// The event name is one Socket.IO keeps for itself.
    #[error("\"{0}\" is a reserved event name")]
    Reserved(String),
    /// The data could not be turned into Socket.IO's JSON.
    #[error("cannot serialize the event's data: {0}")]
    Serialize(#[from] windlass_sio_proto::ValueError),
    /// Redis did not take it.
    #[error("cannot publish to Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Publishes events and room changes into a cluster of servers on the Redis pub/sub adapter.
///
/// ```no_run
/// use windlass_cluster::RedisEmitter;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let emitter = RedisEmitter::connect("redis://127.0.0.1:6379").await?;
/// emitter.to("room1").emit("news", &"hello from a job").await?;
/// emitter.of("/admin").emit("stats", &std::collections::HashMap::from([("load", 0.5)])).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisEmitter {
    commands: ConnectionManager,
    key: Arc<str>,
    nsp: Arc<str>,
    opts: BroadcastOptions,
}

impl std::fmt::Debug for RedisEmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEmitter")
            .field("nsp", &self.nsp)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl RedisEmitter {
    /// Connects to Redis at `url`, for namespace `/` under the prefix `socket.io`.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let client = redis::Client::open(url).map_err(|e| ConnectError::new(url, e))?;
        let commands = ConnectionManager::new(client).await.map_err(|e| ConnectError::new(url, e))?;
        Ok(Self {
            commands,
            key: Arc::from("socket.io"),
            nsp: Arc::from("/"),
            opts: BroadcastOptions::default(),
        })
    }

    /// The same emitter under another channel prefix (the servers' `key`).
    #[must_use]
    pub fn with_key(mut self, key: &str) -> Self {
        self.key = Arc::from(key);
        self
    }

    /// An emitter for namespace `nsp`.
    #[must_use]
    pub fn of(&self, nsp: &str) -> Self {
        let nsp = if nsp.starts_with('/') { nsp.to_owned() } else { format!("/{nsp}") };
        Self { nsp: Arc::from(nsp), opts: BroadcastOptions::default(), ..self.clone() }
    }

    /// Also to the sockets in `room`.
    #[must_use]
    pub fn to(&self, room: &str) -> Self {
        let mut next = self.clone();
        let room: Arc<str> = Arc::from(room);
        if !next.opts.rooms.contains(&room) {
            next.opts.rooms.push(room);
        }
        next
    }

    /// Leaves out the sockets in `room`.
    #[must_use]
    pub fn except(&self, room: &str) -> Self {
        let mut next = self.clone();
        next.opts.except.push(Arc::from(room));
        next
    }

    /// The event may be lost (not kept for recovery, dropped for slow clients).
    #[must_use]
    pub fn volatile(&self) -> Self {
        let mut next = self.clone();
        next.opts.flags = BroadcastFlags { volatile: true, ..next.opts.flags };
        next
    }

    /// Whether to compress it where the transport can.
    #[must_use]
    pub fn compress(&self, compress: bool) -> Self {
        let mut next = self.clone();
        next.opts.flags = BroadcastFlags { compress, ..next.opts.flags };
        next
    }

    fn channels(&self) -> Channels {
        Channels::new(&self.key, &self.nsp)
    }

    /// Emits `event` with one argument to the sockets aimed at, on every server.
    pub async fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitterError> {
        self.emit_args(event, vec![windlass_sio_proto::to_value(data)?]).await
    }

    /// Emits `event` with any number of arguments.
    pub async fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitterError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitterError::Reserved(event.to_owned()));
        }
        let packet = Packet::event(self.nsp.to_string(), event, args);
        let bytes = wire::encode_broadcast(EMITTER_UID, &packet, &self.opts);
        self.publish(self.channels().broadcast_to(&self.opts), bytes).await
    }

    /// Makes the sockets aimed at join `rooms`.
    pub async fn sockets_join(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.sockets_request(RequestType::RemoteJoin, rooms, false).await
    }

    /// Makes the sockets aimed at leave `rooms`.
    pub async fn sockets_leave(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.sockets_request(RequestType::RemoteLeave, rooms, false).await
    }

    /// Disconnects the sockets aimed at (with `close`, their connections too).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
        self.sockets_request(RequestType::RemoteDisconnect, &[], close).await
    }

    async fn sockets_request(
        &self,
        kind: RequestType,
        rooms: &[&str],
        close: bool,
    ) -> Result<(), EmitterError> {
        let mut request = Request::new(EMITTER_UID, kind);
        request.opts = Some(BroadcastOptions { flags: BroadcastFlags::default(), ..self.opts.clone() });
        request.rooms = rooms.iter().map(|room| Arc::from(*room)).collect();
        request.close = close;
        self.publish(self.channels().request, request.encode()).await
    }

    async fn publish(&self, channel: String, bytes: Vec<u8>) -> Result<(), EmitterError> {
        let mut commands = self.commands.clone();
        let _: usize = redis::cmd("PUBLISH").arg(channel).arg(bytes).query_async(&mut commands).await?;
        Ok(())
    }
}

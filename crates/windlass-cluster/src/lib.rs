//! Several windlass nodes sharing rooms, broadcasts and requests through a broker.
//!
//! - [`RedisAdapter`]: Redis pub/sub, speaking `@socket.io/redis-adapter` 8.x, so that
//!   windlass and Node socket.io servers share one cluster.
//! - [`ShardedRedisAdapter`]: Redis 7 sharded pub/sub (Node's `createShardedAdapter`), a
//!   channel per room so that a node receives only the broadcasts it has members for.
//! - [`RedisStreamsAdapter`]: one Redis stream as the cluster's log, with connection state
//!   recovery on any node, even after its own node was killed.
//! - [`NatsAdapter`]: the same over NATS `JetStream` (a stream and a key-value bucket).
//! - [`NatsCoreAdapter`]: core NATS pub/sub for fan-out, without recovery.
//! - [`RedisEmitter`]: publishing into a Redis pub/sub cluster from a process that serves
//!   nothing (Node's `@socket.io/redis-emitter`).
//! - [`wire`]: the wire formats, without I/O.
//!
//! ```no_run
//! use windlass::event_server::{EventServer, SocketIo};
//! use windlass::{HttpServer, IoServer};
//! use windlass_cluster::RedisAdapter;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let adapter = RedisAdapter::connect("redis://127.0.0.1:6379").await?;
//! let io = SocketIo::builder().adapter(adapter).build();
//! io.on_connection(|socket| async move {
//!     socket.on("say", |socket, event| async move {
//!         let text: String = event.data().unwrap_or_default();
//!         // Every socket of every node.
//!         let _ = socket.namespace().emit("said", &text);
//!     });
//! });
//! IoServer::bind("127.0.0.1:3000", HttpServer::new(EventServer::new(io))).await?.run().await?;
//! # Ok(())
//! # }
//! ```

mod common;
mod emitter;
#[doc(hidden)]
pub mod fuzzing;
mod log;
mod nats;
mod nats_core;
mod publisher;
mod redis;
mod resp;
mod sharded;
mod streams;
pub mod wire;

pub use self::emitter::{EmitterError, RedisEmitter};
pub use self::log::{Broker, LogAdapter, LogConfig, Recoverable};
pub use self::nats::{Nats, NatsAdapter, NatsConfig, NatsConnectError};
pub use self::nats_core::{NatsCore, NatsCoreAdapter, NatsCoreConfig};
pub use self::redis::{ConnectError, RedisAdapter, RedisAdapterConfig};
pub use self::sharded::{ShardedRedisAdapter, ShardedRedisConfig, SubscriptionMode};
pub use self::streams::{RedisStreams, RedisStreamsAdapter, RedisStreamsConfig};

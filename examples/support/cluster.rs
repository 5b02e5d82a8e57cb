//! A `SocketIo` whose adapter the command line names: what `cluster_node` and `cluster_chat`
//! share.

use std::process;
use std::time::Duration;

use windlass::event_server::{RecoveryConfig, SocketIo, SocketIoConfig};
use windlass_cluster::{
    NatsAdapter, NatsCoreAdapter, RedisAdapter, RedisStreamsAdapter, ShardedRedisAdapter,
};

/// The adapters `--adapter` takes.
pub(crate) const ADAPTERS: &str = "redis-pubsub, redis-sharded, redis-streams, nats, nats-core";

/// `--adapter` and `--broker`, as every cluster example takes them.
pub(crate) struct Options {
    adapter: String,
    broker: String,
}

impl Options {
    /// Takes `--adapter KIND` (default `redis-pubsub`) and `--broker URL` (required: without
    /// it, `usage` and exit status 2).
    pub(crate) fn take(args: &mut super::Args, usage: &str) -> Self {
        let adapter = args.value("--adapter").unwrap_or_else(|| "redis-pubsub".to_owned());
        let Some(broker) = args.value("--broker") else {
            eprintln!("error: --broker URL is required\n\n{usage}");
            process::exit(2);
        };
        Self { adapter, broker }
    }

    /// The server on the adapter and broker given.
    pub(crate) async fn socket_io(&self) -> SocketIo {
        socket_io(&self.adapter, &self.broker).await
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub(crate) async fn terminated() {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// A server on `adapter` (`redis-pubsub`, `redis-streams` or `nats`) through `broker`; the log
/// adapters with connection state recovery (a 120 s window, middleware skipped), as the
/// contract has it. Exits with a message when the broker cannot be reached (status 1) or the
/// adapter is unknown (status 2).
pub(crate) async fn socket_io(adapter: &str, broker: &str) -> SocketIo {
    match adapter {
        "redis-pubsub" => {
            let adapter = RedisAdapter::connect(broker).await.unwrap_or_else(|error| exit_with(&error));
            SocketIo::builder().adapter(adapter).build()
        }
        "redis-sharded" => {
            let adapter =
                ShardedRedisAdapter::connect(broker).await.unwrap_or_else(|error| exit_with(&error));
            SocketIo::builder().adapter(adapter).build()
        }
        "redis-streams" => {
            let adapter =
                RedisStreamsAdapter::connect(broker).await.unwrap_or_else(|error| exit_with(&error));
            SocketIo::builder()
                .config(with_recovery())
                .adapter(adapter.clone())
                .session_store(adapter)
                .build()
        }
        "nats" => {
            let adapter = NatsAdapter::connect(broker).await.unwrap_or_else(|error| exit_with(&error));
            SocketIo::builder()
                .config(with_recovery())
                .adapter(adapter.clone())
                .session_store(adapter)
                .build()
        }
        "nats-core" => {
            let adapter = NatsCoreAdapter::connect(broker).await.unwrap_or_else(|error| exit_with(&error));
            SocketIo::builder().adapter(adapter).build()
        }
        other => {
            eprintln!("error: --adapter {other}: one of {ADAPTERS}");
            process::exit(2);
        }
    }
}

fn with_recovery() -> SocketIoConfig {
    SocketIoConfig {
        recovery: Some(RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
        }),
        ..SocketIoConfig::default()
    }
}

fn exit_with(error: &dyn std::fmt::Display) -> ! {
    eprintln!("error: {error}");
    process::exit(1);
}

//! Pushing from outside the callbacks: a ticker task sends `tick 1`, `tick 2`, … to every
//! connected client. The component only keeps the pool of connections up to date; the ticker
//! sends through the pool's `ConnectionHandle`s, which work from any task, without waiting for
//! a message from anyone.
//!
//! Run with:
//!
//! ```text
//! cargo run --example push -- --listen 127.0.0.1:8080 --interval-ms 1000
//! ```
//!
//! and watch the ticks with the client example, `websocat`, or a browser console:
//!
//! ```text
//! cargo run --example client -- ws://127.0.0.1:8080/
//! websocat ws://127.0.0.1:8080/
//! ws = new WebSocket("ws://127.0.0.1:8080/"); ws.onmessage = (e) => console.log(e.data);
//! ```

mod support;

use std::error::Error;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use windlass::{
    BoxError, CloseInfo, Connection, ConnectionPool, HttpServer, IoServer, Message, MessageComponent,
    WsServer,
};

const USAGE: &str = "\
usage: push [--listen ADDR] [--interval-ms MS]

  --listen ADDR      address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --interval-ms MS   time between ticks in milliseconds (default 1000)";

const DEFAULT_INTERVAL_MS: NonZeroU64 = NonZeroU64::new(1000).unwrap();

/// Keeps track of who is connected; the ticker does the sending.
struct Push {
    clients: Arc<ConnectionPool>,
}

impl MessageComponent for Push {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.clients.attach(conn);
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        tracing::debug!(id = %conn.id(), len = msg.len(), "ignoring a message; clients only listen");
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, _: CloseInfo) {
        self.clients.detach(conn.id());
    }
}

/// Sends `tick N` to every client every `period`, counting from 1 whether anyone listens or not.
async fn tick(clients: Arc<ConnectionPool>, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick of an interval completes at once; tick 1 comes one period after start.
    interval.tick().await;
    for n in 1_u64.. {
        interval.tick().await;
        // Never blocks: each message is queued on its connection and written by its task.
        let sent = clients.broadcast(format!("tick {n}"));
        tracing::debug!(n, sent, "tick");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    let interval_ms = args.value("--interval-ms").unwrap_or(DEFAULT_INTERVAL_MS);
    args.finish();
    support::init_tracing();

    let clients = Arc::new(ConnectionPool::new());
    tokio::spawn(tick(Arc::clone(&clients), Duration::from_millis(interval_ms.get())));
    let app = HttpServer::new(WsServer::new(Push { clients }));
    let server = IoServer::bind(&listen, app).await?;
    println!("listening on {}", server.local_addr()?);
    server.run_until(tokio::signal::ctrl_c()).await?;
    Ok(())
}

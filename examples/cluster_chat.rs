//! The Socket.IO chat of `socketio_chat`, run as several nodes sharing rooms through a broker:
//! open a page on each node and chat across them.
//!
//! ```text
//! npm ci                                   # the browser client: npm socket.io-client
//! redis-server --port 6379 &
//! cargo run --release --example cluster_chat -- --listen 127.0.0.1:8081 --broker redis://127.0.0.1:6379
//! cargo run --release --example cluster_chat -- --listen 127.0.0.1:8082 --broker redis://127.0.0.1:6379
//! cargo run --release --example cluster_chat -- --listen 127.0.0.1:8083 --broker redis://127.0.0.1:6379
//! ```
//!
//! then open <http://127.0.0.1:8081/>, <http://127.0.0.1:8082/> and <http://127.0.0.1:8083/>:
//! names, rooms (`/join den`), typing and the room list span every node. `--adapter
//! redis-streams` or `nats` (with `--broker nats://127.0.0.1:4222`, `JetStream` on) add connection
//! state recovery: a page whose node is stopped reconnects to another behind a load balancer
//! without losing a message.

mod support;

use std::error::Error;

use support::socketio_chat::{PAGE, chat};
use windlass::event_server::EventServer;
use windlass::{Health, HttpServer, IoServer, Router, StaticResponse};

const USAGE: &str = "\
usage: cluster_chat [--listen ADDR] --broker URL [--adapter KIND]

  --listen ADDR    address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --broker URL     redis://HOST:PORT, or nats://HOST:PORT with --adapter nats or nats-core
  --adapter KIND   redis-pubsub (default), redis-sharded, redis-streams, nats or nats-core

Run one per node, all with the same broker. The browser client is served from
node_modules/socket.io-client (`npm ci` in the repository), or $WINDLASS_SOCKET_IO_CLIENT";

fn main() -> Result<(), Box<dyn Error>> {
    support::runtime()?.block_on(serve())
}

async fn serve() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    let cluster = support::cluster::Options::take(&mut args, USAGE);
    args.finish();
    support::init_tracing();
    let io = cluster.socket_io().await;
    io.on_connection(|socket| async move { chat(&socket) });
    let page = Router::new()
        .route("/", StaticResponse::new("text/html; charset=utf-8", PAGE))
        .route("/health", Health);
    let app = HttpServer::new(EventServer::new(io.clone()).fallback(page));

    let server = IoServer::bind(listen.as_str(), app).await?;
    let addr = server.local_addr()?;
    println!("listening on {addr}");
    println!("open http://{addr}/, and the page of another node, to chat across nodes");
    server
        .run_until(async move {
            support::cluster::terminated().await;
            io.shutdown().await;
        })
        .await?;
    Ok(())
}

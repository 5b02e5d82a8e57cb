//! One node of a windlass cluster, exactly as `shared/contracts/cluster-node.md` describes it:
//! several processes share rooms and broadcasts through a broker, and outside clients (the
//! real `socket.io-client`) drive them.
//!
//! ```text
//! redis-server --port 6379 &
//! cargo run --release --example cluster_node -- --listen 127.0.0.1:3001 \
//!     --adapter redis-pubsub --broker redis://127.0.0.1:6379 --node-id a
//! cargo run --release --example cluster_node -- --listen 127.0.0.1:3002 \
//!     --adapter redis-pubsub --broker redis://127.0.0.1:6379 --node-id b
//! ```
//!
//! Events on `/`: `join`, `leave`, `say`, `broadcast`, `count`, `whoami` (see the contract).

mod support;

use std::error::Error;
use std::sync::Arc;

use windlass::event_server::{Event, EventServer, Map, Socket, SocketIo, Value};
use windlass::{Health, HttpServer, IoServer, Router};

const USAGE: &str = "\
usage: cluster_node --listen HOST:PORT --adapter redis-pubsub|redis-sharded|redis-streams|nats|nats-core --broker URL --node-id ID

  --listen HOST:PORT   address to listen on (port 0 picks one)
  --adapter KIND       how nodes share rooms: redis-pubsub (Redis PUB/SUB, no recovery) or
                       redis-sharded (Redis 7 sharded PUB/SUB, a channel per room) or
                       redis-streams (a Redis stream, with connection state recovery) or
                       nats (NATS JetStream, with connection state recovery) or
                       nats-core (core NATS pub/sub, no recovery)
  --broker URL         redis://HOST:PORT, or nats://HOST:PORT for nats (JetStream on) and nats-core
  --node-id ID         this node's name, reported by `join` and `whoami`

GET /health answers 200 while the node serves; SIGTERM or Ctrl-C closes every client
connection and exits.";

/// What every handler needs to know of the node.
#[derive(Clone)]
struct NodeInfo {
    io: SocketIo,
    id: Arc<str>,
    port: u16,
}

fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map>())
}

fn ok() -> Value {
    obj([("ok", Value::Bool(true))])
}

/// Answers the event's acknowledgement, if the client asked for one.
fn answer(event: &Event, value: Value) {
    if event.wants_ack() {
        let _ = event.ack_args(vec![value]);
    }
}

fn handlers(node: &NodeInfo, socket: &Socket) {
    let info = node.clone();
    socket.on("join", move |socket, event| {
        let info = info.clone();
        async move {
            let room = event.args().first().and_then(Value::as_str).unwrap_or_default().to_owned();
            // Answered once a message to the room from any node reaches this socket: at once
            // where the node listens to every room, after the room's subscription with the
            // sharded adapter.
            socket.join_synced(room.as_str()).await;
            let reply = obj([
                ("ok", Value::Bool(true)),
                ("room", Value::from(room)),
                ("node", Value::from(&*info.id)),
            ]);
            answer(&event, reply);
        }
    });
    socket.on("leave", |socket, event| async move {
        if let Some(room) = event.args().first().and_then(Value::as_str) {
            socket.leave(room);
        }
        answer(&event, ok());
    });
    let info = node.clone();
    socket.on("say", move |socket, event| {
        let info = info.clone();
        async move {
            let args = event.args().first();
            let field = |name| args.and_then(|args| args.get(name));
            let room = field("room").and_then(Value::as_str).unwrap_or_default().to_owned();
            let said = obj([
                ("from", Value::from(socket.id())),
                ("room", Value::from(room.as_str())),
                ("text", field("text").cloned().unwrap_or_default()),
            ]);
            // An owned value is sent as it is (`emit` would serialize a copy of it).
            let _ = info.io.to(room).emit_args("said", vec![said]);
            answer(&event, ok());
        }
    });
    socket.on("broadcast", |socket, event| async move {
        let text = event.args().first().cloned().unwrap_or_default();
        let message = obj([("from", Value::from(socket.id())), ("text", text)]);
        let _ = socket.broadcast().emit("broadcast", &message);
        answer(&event, ok());
    });
    let info = node.clone();
    socket.on("count", move |_socket, event| {
        let info = info.clone();
        async move {
            let reply = match info.io.fetch_sockets().await {
                Ok(sockets) => obj([("count", Value::from(sockets.len() as u64))]),
                Err(error) => obj([("error", Value::from(error.to_string()))]),
            };
            answer(&event, reply);
        }
    });
    let info = node.clone();
    socket.on("whoami", move |socket, event| {
        let reply = obj([
            ("port", Value::from(u64::from(info.port))),
            ("node", Value::from(&*info.id)),
            ("sid", Value::from(socket.id())),
            ("recovered", Value::Bool(socket.recovered())),
        ]);
        answer(&event, reply);
        async {}
    });
}

fn main() -> Result<(), Box<dyn Error>> {
    support::runtime()?.block_on(serve())
}

async fn serve() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    let cluster = support::cluster::Options::take(&mut args, USAGE);
    let node_id: String = args.value("--node-id").unwrap_or_else(|| "node".to_owned());
    args.finish();
    support::init_tracing();
    let io = cluster.socket_io().await;

    let server = IoServer::bind(
        listen.as_str(),
        HttpServer::new(EventServer::new(io.clone()).fallback(Router::new().route("/health", Health))),
    )
    .await?;
    let addr = server.local_addr()?;
    let node = NodeInfo { io: io.clone(), id: node_id.into(), port: addr.port() };
    io.on_connection(move |socket| {
        let node = node.clone();
        async move { handlers(&node, &socket) }
    });
    println!("listening on {addr}");
    let shutdown = io.clone();
    server
        .run_until(async move {
            support::cluster::terminated().await;
            // Sockets leave with `server shutting down`, a reason clients recover from, and
            // what that tells the cluster (sessions kept, this node leaving) goes out first.
            shutdown.shutdown().await;
        })
        .await?;
    Ok(())
}

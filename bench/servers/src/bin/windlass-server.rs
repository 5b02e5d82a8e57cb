//! The windlass bench server: `IoServer(HttpServer(WsServer(component)))`, with `Echo` or
//! `Broadcast` as the component; in `--mode http`, `IoServer(HttpServer(StaticResponse))`.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p windlass-bench-servers --bin windlass-server -- --listen 127.0.0.1:0 --mode broadcast
//! ```
//!
//! Defaults everywhere except two limits: messages up to 16 MiB (the default is 1 MiB; the
//! bench sends up to 1 MiB and the other servers accept 16 MiB or more), and 20,000 open
//! connections (the default cap, 16,384, would refuse part of a large idle test).
//!
//! `--mode http` measures the HTTP layer alone: one `HttpComponent` (`StaticResponse`,
//! answering GET and HEAD at any path with `Hello, world!` as `text/plain`) straight under
//! `HttpServer`, no `Router`, no WebSocket. `HttpServer`'s defaults are kept, so a connection
//! is closed after 1,000 requests (`Connection: close` on the last answer) and the client
//! opens another; hyper, its comparator (`hyper-server`), has no such limit. Same
//! `current_thread` runtime as every bench server ([`runtime`]).

use windlass::{
    BoxError, CloseInfo, Connection, ConnectionPool, HttpServer, IoComponent, IoServer, Message,
    MessageComponent, StaticResponse, WsServer,
};
use windlass_bench_servers::{
    Args, HELLO, HELLO_CONTENT_TYPE, Mode, Options, announce, raise_nofile_limit, runtime,
};

const MAX_MESSAGE_SIZE: usize = 16 << 20;
const MAX_CONNECTIONS: usize = 20_000;

/// Sends every message back to its sender.
struct Echo;

impl MessageComponent for Echo {
    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        conn.send(msg)?;
        Ok(())
    }
}

/// Sends every message to all connections but its sender; the pool frames it once.
#[derive(Default)]
struct Broadcast {
    clients: ConnectionPool,
}

impl MessageComponent for Broadcast {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.clients.attach(conn);
        Ok(())
    }

    async fn on_message(&self, from: &mut Connection, msg: Message) -> Result<(), BoxError> {
        self.clients.broadcast_except(from.id(), msg);
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, _close: CloseInfo) {
        self.clients.detach(conn.id());
    }
}

async fn serve<C: MessageComponent>(args: &Args, component: C) -> std::io::Result<()> {
    let ws = HttpServer::new(WsServer::new(component).max_message_size(MAX_MESSAGE_SIZE));
    serve_io(args, ws).await
}

async fn serve_io<A: IoComponent>(args: &Args, app: A) -> std::io::Result<()> {
    let server = IoServer::bind(args.listen, app).await?.max_connections(MAX_CONNECTIONS);
    announce(server.local_addr()?)?;
    server.run().await
}

fn main() -> std::io::Result<()> {
    let args = Args::from_env(Options::WithHttp);
    raise_nofile_limit();
    runtime()?.block_on(async {
        match args.mode {
            Mode::Echo => serve(&args, Echo).await,
            Mode::Broadcast => serve(&args, Broadcast::default()).await,
            Mode::Http => {
                serve_io(&args, HttpServer::new(StaticResponse::new(HELLO_CONTENT_TYPE, HELLO))).await
            }
        }
    })
}

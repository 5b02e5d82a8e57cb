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
//!
//! `--mode sio` is Socket.IO: `IoServer(HttpServer(EventServer(io)))` as docs/SOCKETIO.md shows,
//! `SocketIo` with its defaults (Node's: 25 s pings, 1 MB messages, no recovery) except that it
//! does not look for the browser client bundle. Each socket joins [`SIO_ROOM`]; `ack` is
//! acknowledged with its own arguments, `fanout` goes on to the rest of the room as `tick`.

use windlass::event_server::{EventServer, SocketIo, SocketIoConfig};
use windlass::{
    BoxError, CloseInfo, Connection, ConnectionPool, HttpServer, IoComponent, IoServer, Message,
    MessageComponent, StaticResponse, WsServer,
};
use windlass_bench_servers::{
    Args, HELLO, HELLO_CONTENT_TYPE, Mode, Options, SIO_ACK_EVENT, SIO_FANOUT_EVENT, SIO_ROOM,
    SIO_TICK_EVENT, announce, raise_nofile_limit, runtime,
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

/// The Socket.IO server of `--mode sio`.
fn socket_io() -> SocketIo {
    let io = SocketIo::with_config(SocketIoConfig { serve_client: false, ..SocketIoConfig::default() });
    io.on_connection(|socket| async move {
        socket.join(SIO_ROOM);
        socket.on(SIO_ACK_EVENT, |_, mut event| async move {
            let args = event.take_args();
            let _ = event.ack_args(args);
        });
        socket.on(SIO_FANOUT_EVENT, |socket, mut event| async move {
            let args = event.take_args();
            let _ = socket.to(SIO_ROOM).emit_args(SIO_TICK_EVENT, args);
        });
    });
    io
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
    let args = Args::from_env(Options::WithHttpAndSio);
    raise_nofile_limit();
    runtime()?.block_on(async {
        match args.mode {
            Mode::Echo => serve(&args, Echo).await,
            Mode::Broadcast => serve(&args, Broadcast::default()).await,
            Mode::Http => {
                serve_io(&args, HttpServer::new(StaticResponse::new(HELLO_CONTENT_TYPE, HELLO))).await
            }
            Mode::Sio => serve_io(&args, HttpServer::new(EventServer::new(socket_io()))).await,
        }
    })
}

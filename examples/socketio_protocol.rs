//! The Socket.IO protocol fixture: the server the public `socket.io-protocol` and
//! `engine.io-protocol` test suites expect, exactly as `shared/contracts/socketio-fixtures.md`
//! (section 1) describes it. Socket.IO at `/socket.io/` (echo and ack handlers on `/` and
//! `/custom`), raw Engine.IO echo at `/engine.io/`, 300 ms pings with a 200 ms timeout.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example socketio_protocol -- --listen 127.0.0.1:3000
//! ```
//!
//! and point a suite (or `tests/sio-reference/trace.js --set protocol`) at it.

mod support;

use std::error::Error;
use std::time::Duration;

use windlass::event_server::{
    EngineConfig, EngineIoHandler, EngineIoMessage, EngineIoServer, EngineIoSession, EventServer, SocketIo,
    SocketIoConfig,
};
use windlass::{HttpServer, IoServer};

const USAGE: &str = "\
usage: socketio_protocol [--listen ADDR]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)";

/// The Engine.IO settings both paths share.
fn engine() -> EngineConfig {
    EngineConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        ..EngineConfig::default()
    }
}

/// `/engine.io/`: every message comes back unchanged on its session.
struct Echo;

impl EngineIoHandler for Echo {
    fn on_message(&self, session: &EngineIoSession, message: EngineIoMessage) {
        session.send(message);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    args.finish();
    support::init_tracing();

    let io = SocketIo::with_config(SocketIoConfig {
        engine: engine(),
        connect_timeout: Duration::from_secs(1),
        ..SocketIoConfig::default()
    });
    io.on_connection(|socket| async move {
        let _ = socket.emit("auth", &socket.handshake().auth());
        socket.on("message", |socket, mut event| async move {
            let _ = socket.emit_args("message-back", event.take_args());
        });
        socket.on("message-with-ack", |_, mut event| async move {
            let args = event.take_args();
            let _ = event.ack_args(args);
        });
    });
    io.of("/custom").on_connection(|socket| async move {
        let _ = socket.emit("auth", &socket.handshake().auth());
    });

    let raw = EngineIoServer::new("/engine.io/", engine(), Echo);
    let app = HttpServer::new(EventServer::new(io).fallback(raw));
    let server = IoServer::bind(listen.as_str(), app).await?;
    println!("listening on {}", server.local_addr()?);
    server.run_until(tokio::signal::ctrl_c()).await?;
    Ok(())
}

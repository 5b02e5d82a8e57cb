//! Echo server: every message goes back to the connection that sent it, text as text and
//! binary as binary (Ratchet's `EchoServer`).
//!
//! Run with:
//!
//! ```text
//! cargo run --example echo -- --listen 127.0.0.1:8080
//! ```
//!
//! and try it with the client example, `websocat`, or a browser console:
//!
//! ```text
//! cargo run --example client -- ws://127.0.0.1:8080/
//! websocat ws://127.0.0.1:8080/
//! ws = new WebSocket("ws://127.0.0.1:8080/"); ws.onmessage = (e) => console.log(e.data); ws.onopen = () => ws.send("hello");
//! ```
//!
//! `--tcp` serves the same component over raw TCP, one line per message (`nc 127.0.0.1 8080`).
//!
//! `--max-message-size BYTES` raises the 1 MiB limit on messages and frames (on raw TCP: on
//! lines); the Autobahn test suite needs about 16 MiB:
//!
//! ```text
//! cargo run --release --example echo -- --listen 127.0.0.1:9001 --max-message-size 20000000
//! ```
//!
//! `--deflate` offers permessage-deflate (RFC 7692); `--deflate-threshold 0` compresses every
//! message, which is how `autobahn/run` exercises compression.

mod support;

use std::error::Error;

use windlass::{
    BoxError, Connection, DeflateConfig, HttpServer, IoServer, LineServer, Message, MessageComponent,
    WsServer,
};

const USAGE: &str = "\
usage: echo [--listen ADDR] [--tcp] [--max-message-size BYTES] [--deflate] [--deflate-threshold BYTES]
            [--deflate-no-context]

  --listen ADDR              address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --tcp                      raw TCP, one line per message, instead of WebSocket
  --max-message-size BYTES   largest message or frame (default 1 MiB)
  --deflate                  offer permessage-deflate (RFC 7692) to clients
  --deflate-threshold BYTES  compress messages from this size on (default 256)
  --deflate-no-context       no context takeover either way: no compressor kept per connection";

/// Sends every message back where it came from.
struct Echo;

impl MessageComponent for Echo {
    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        conn.send(msg)?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    let tcp = args.flag("--tcp");
    let max_message_size: Option<usize> = args.value("--max-message-size");
    let deflate = args.flag("--deflate");
    let deflate_no_context = args.flag("--deflate-no-context");
    let deflate_threshold: Option<usize> = args.value("--deflate-threshold");
    args.finish();
    support::init_tracing();

    if tcp {
        let mut lines = LineServer::new(Echo);
        if let Some(bytes) = max_message_size {
            lines = lines.max_line_length(bytes);
        }
        let server = IoServer::bind(&listen, lines).await?;
        println!("listening on {}", server.local_addr()?);
        server.run_until(tokio::signal::ctrl_c()).await?;
    } else {
        let mut ws = WsServer::new(Echo);
        if let Some(bytes) = max_message_size {
            ws = ws.max_message_size(bytes);
        }
        if deflate {
            let mut config = DeflateConfig::default();
            if let Some(bytes) = deflate_threshold {
                config.threshold = bytes;
            }
            config.server_no_context_takeover = deflate_no_context;
            config.client_no_context_takeover = deflate_no_context;
            ws = ws.deflate(config);
        }
        let server = IoServer::bind(&listen, HttpServer::new(ws)).await?;
        println!("listening on {}", server.local_addr()?);
        server.run_until(tokio::signal::ctrl_c()).await?;
    }
    Ok(())
}

//! The chat of Ratchet's tutorial: every message goes to every other client, not back to its
//! sender. The same `Chat`, unchanged, runs over WebSocket and, with `--tcp`, over raw TCP.
//!
//! Run with:
//!
//! ```text
//! cargo run --example chat -- --listen 127.0.0.1:8080
//! ```
//!
//! and chat between two terminals running the client example (or `websocat`):
//!
//! ```text
//! cargo run --example client -- ws://127.0.0.1:8080/
//! websocat ws://127.0.0.1:8080/
//! ```
//!
//! or between two browser tabs, in the console:
//!
//! ```text
//! ws = new WebSocket("ws://127.0.0.1:8080/"); ws.onmessage = (e) => console.log(e.data);
//! ws.send("Hello World!");
//! ```
//!
//! With `--tcp`, each line is a message; chat between two `nc 127.0.0.1 8080`.

mod support;

use std::error::Error;

use windlass::{
    BoxError, CloseInfo, Connection, ConnectionPool, HttpServer, IoServer, Message, MessageComponent,
    WsServer,
};

const USAGE: &str = "\
usage: chat [--listen ADDR] [--tcp]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --tcp           raw TCP, one line per message, instead of WebSocket";

/// Everyone connected, and nothing else.
#[derive(Default)]
struct Chat {
    clients: ConnectionPool,
}

impl MessageComponent for Chat {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.clients.attach(conn);
        Ok(())
    }

    async fn on_message(&self, from: &mut Connection, msg: Message) -> Result<(), BoxError> {
        self.clients.broadcast_except(from.id(), msg); // everyone but the sender
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, _close: CloseInfo) {
        self.clients.detach(conn.id());
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    let tcp = args.flag("--tcp");
    args.finish();
    support::init_tracing();

    if tcp {
        // Raw TCP, one line per message: the same component, unchanged.
        let server = IoServer::bind(&listen, Chat::default()).await?;
        println!("listening on {}", server.local_addr()?);
        server.run_until(tokio::signal::ctrl_c()).await?;
    } else {
        let app = HttpServer::new(WsServer::new(Chat::default()));
        let server = IoServer::bind(&listen, app).await?;
        println!("listening on {}", server.local_addr()?);
        server.run_until(tokio::signal::ctrl_c()).await?;
    }
    Ok(())
}

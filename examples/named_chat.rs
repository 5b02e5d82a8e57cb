//! A chat with names, over WebSocket or, with `--tcp`, over raw TCP.
//!
//! Each client is first asked `Enter your name:`; its first non-blank message (trimmed) is its
//! name, and it is greeted with `Welcome, NAME!`. The others then see `NAME joined`, then
//! `NAME: TEXT` for each of its messages, and `NAME left` when it goes. A client that has not
//! chosen a name yet hears nothing from the chat. The name is per-connection data, kept in the
//! connection's extensions.
//!
//! Run with:
//!
//! ```text
//! cargo run --example named_chat -- --listen 127.0.0.1:8080
//! ```
//!
//! and chat between terminals running the client example (or `websocat`):
//!
//! ```text
//! cargo run --example client -- ws://127.0.0.1:8080/
//! ```
//!
//! With `--tcp`, each line is a message; chat between several `nc 127.0.0.1 8080`.

mod support;

use std::error::Error;

use windlass::{
    BoxError, CloseInfo, Connection, ConnectionPool, HttpServer, IoServer, Message, MessageComponent,
    WsServer,
};

const USAGE: &str = "\
usage: named_chat [--listen ADDR] [--tcp]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --tcp           raw TCP, one line per message, instead of WebSocket";

const PROMPT: &str = "Enter your name:";

/// The clients that have chosen a name; only they take part in the chat.
#[derive(Default)]
struct NamedChat {
    named: ConnectionPool,
}

/// A connection's name, stored in its extensions once chosen.
#[derive(Clone)]
struct Name(String);

impl MessageComponent for NamedChat {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        conn.send(PROMPT)?;
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        // A chat of text: a binary message (over raw TCP, a line that is not UTF-8) is read as
        // text too, with U+FFFD for what is not UTF-8.
        let text = String::from_utf8_lossy(msg.as_bytes());
        if let Some(Name(name)) = conn.extensions().get::<Name>() {
            if !text.trim().is_empty() {
                self.named.broadcast_except(conn.id(), format!("{name}: {text}"));
            }
            return Ok(());
        }
        let name = text.trim();
        if name.is_empty() {
            conn.send(PROMPT)?;
            return Ok(());
        }
        self.named.attach(conn);
        self.named.broadcast_except(conn.id(), format!("{name} joined"));
        conn.send(format!("Welcome, {name}!"))?;
        conn.extensions_mut().insert(Name(name.to_owned()));
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, _: CloseInfo) {
        if let Some(Name(name)) = conn.extensions().get::<Name>() {
            self.named.detach(conn.id());
            self.named.broadcast(format!("{name} left"));
        }
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
        let server = IoServer::bind(&listen, NamedChat::default()).await?;
        println!("listening on {}", server.local_addr()?);
        server.run_until(tokio::signal::ctrl_c()).await?;
    } else {
        let app = HttpServer::new(WsServer::new(NamedChat::default()));
        let server = IoServer::bind(&listen, app).await?;
        println!("listening on {}", server.local_addr()?);
        server.run_until(tokio::signal::ctrl_c()).await?;
    }
    Ok(())
}

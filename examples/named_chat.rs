//! A chat with names, over WebSocket or, with `--tcp`, over raw TCP.
//!
//! Each client is first asked `Enter your name:`; its first non-blank message (trimmed) is its
//! name, and it is greeted with `Welcome, NAME!`. The others then see `NAME joined`, then
//! `NAME: TEXT` for each of its messages, and `NAME left` when it goes. A client that has not
//! chosen a name yet hears nothing from the chat. The component is in `support/named_chat.rs`;
//! `web_chat` serves the same chat to browsers.
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

use support::named_chat::NamedChat;
use windlass::{HttpServer, IoServer, WsServer};

const USAGE: &str = "\
usage: named_chat [--listen ADDR] [--tcp]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --tcp           raw TCP, one line per message, instead of WebSocket";

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

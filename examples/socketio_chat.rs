//! The classic Socket.IO chat, with rooms: a page at `/` that loads the browser client from
//! `/socket.io/socket.io.js`, asks for a name, and chats in the room its user is in.
//!
//! Run with:
//!
//! ```text
//! npm ci                                   # the browser client: npm socket.io-client (package.json)
//! cargo run --release --example socketio_chat
//! ```
//!
//! then open <http://127.0.0.1:8080/> in two browser tabs, pick a name in each, and chat.
//! Everyone starts in `#lobby`; `/join den` moves to `#den`, and messages go to the current
//! room only.
//!
//! The page emits `set name` (the name; ack: the name and room, or null), `chat message`
//! (text), `join room` (a room; ack: the room, or null) and `typing`. The server emits
//! `chat message` (name, text) to the sender's room, sender included; `notice` (text: "alice
//! joined" and "alice left" to everyone else, "alice left #lobby" and "alice joined #den" to
//! the rooms concerned); `rooms` ({room: members}) to everyone when it changes; and `typing`
//! (name) to the others in the room.
//!
//! The page is `socketio_chat.html`, compiled into the binary.

mod support;

use std::error::Error;

use support::socketio_chat::{PAGE, chat};
use windlass::event_server::{EventServer, SocketIo};
use windlass::{HttpServer, IoServer, Router, StaticResponse};

const USAGE: &str = "\
usage: socketio_chat [--listen ADDR]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)

The browser client is served from node_modules/socket.io-client (here or in a parent
directory: `npm ci` in the repository installs it), or from $WINDLASS_SOCKET_IO_CLIENT";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    args.finish();
    support::init_tracing();

    let io = SocketIo::new();
    io.on_connection(|socket| async move { chat(&socket) });
    // `/socket.io/…` is the event server's (Engine.IO and the client bundle); the rest goes to
    // the router: the page at `/`, 404 elsewhere.
    let page = Router::new().route("/", StaticResponse::new("text/html; charset=utf-8", PAGE));
    let app = HttpServer::new(EventServer::new(io).fallback(page));

    let server = IoServer::bind(listen.as_str(), app).await?;
    let addr = server.local_addr()?;
    println!("listening on {addr}");
    println!("open http://{addr}/ in two browser tabs");
    server.run_until(tokio::signal::ctrl_c()).await?;
    Ok(())
}

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

use std::collections::BTreeMap;
use std::error::Error;

use windlass::event_server::{EventServer, Namespace, Socket, SocketIo, Value};
use windlass::{HttpServer, IoServer, Router, StaticResponse};

const USAGE: &str = "\
usage: socketio_chat [--listen ADDR]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)

The browser client is served from node_modules/socket.io-client (here or in a parent
directory: `npm ci` in the repository installs it), or from $WINDLASS_SOCKET_IO_CLIENT";

/// The page, compiled in so that the binary runs from any directory.
const PAGE: &str = include_str!("socketio_chat.html");

/// The room everyone starts in. Rooms are named with a `#`, so that no room is ever a
/// socket's own room (its id).
const LOBBY: &str = "#lobby";

/// Who a socket is, once it has given a name: kept in its extensions.
#[derive(Clone)]
struct Member {
    name: String,
    room: String,
}

fn member(socket: &Socket) -> Option<Member> {
    socket.extensions().get::<Member>().cloned()
}

/// `text` trimmed, if it is not empty; cut at `max` characters.
fn clean(text: Option<String>, max: usize) -> Option<String> {
    let text = text?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(max).collect())
}

/// `den` or `#den` as `#den`, if it is 1 to 24 letters, digits, `-` or `_`.
fn room_name(text: &str) -> Option<String> {
    let name = text.trim().trim_start_matches('#');
    let valid = (1..=24).contains(&name.chars().count())
        && name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    valid.then(|| format!("#{name}"))
}

/// Every room with people in it, and how many.
fn rooms(ns: &Namespace) -> BTreeMap<String, usize> {
    let mut rooms = BTreeMap::new();
    for member in ns.sockets().iter().filter_map(member) {
        *rooms.entry(member.room).or_default() += 1;
    }
    rooms
}

/// The chat's handlers for one socket. `socket.namespace()` is `/`, so its `to(room)` is
/// Node's `io.to(room)` and its `emit` is `io.emit`.
fn chat(socket: &Socket) {
    let _ = socket.emit("rooms", &rooms(&socket.namespace()));

    socket.on("set name", |socket, event| async move {
        let name = clean(event.data().ok(), 24);
        let (Some(name), None) = (name, member(&socket)) else {
            let _ = event.ack(&Value::Null); // no name, or named already
            return;
        };
        socket.join(LOBBY);
        socket.extensions().insert(Member { name: name.clone(), room: LOBBY.to_owned() });
        let _ = event.ack_args(vec![Value::from(name.as_str()), Value::from(LOBBY)]);
        let _ = socket.broadcast().emit("notice", &format!("{name} joined"));
        let ns = socket.namespace();
        let _ = ns.emit("rooms", &rooms(&ns));
    });

    socket.on("chat message", |socket, event| async move {
        let (Some(me), Some(text)) = (member(&socket), clean(event.data().ok(), 1000)) else {
            return;
        };
        let line = vec![Value::from(me.name), Value::from(text)];
        let _ = socket.namespace().to(me.room).emit_args("chat message", line);
    });

    socket.on("join room", |socket, event| async move {
        let (Some(mut me), Some(room)) =
            (member(&socket), event.data::<String>().ok().and_then(|r| room_name(&r)))
        else {
            let _ = event.ack(&Value::Null);
            return;
        };
        if room != me.room {
            let ns = socket.namespace();
            socket.leave(&me.room);
            let _ = ns.to(&me.room).emit("notice", &format!("{} left {}", me.name, me.room));
            let _ = ns.to(&room).emit("notice", &format!("{} joined {room}", me.name));
            socket.join(&room);
            me.room.clone_from(&room);
            socket.extensions().insert(me);
            let _ = ns.emit("rooms", &rooms(&ns));
        }
        let _ = event.ack(&room);
    });

    socket.on("typing", |socket, _| async move {
        if let Some(me) = member(&socket) {
            let _ = socket.to(me.room).emit("typing", &me.name);
        }
    });

    socket.on_disconnect(|socket, _| async move {
        if let Some(me) = member(&socket) {
            let ns = socket.namespace();
            let _ = ns.emit("notice", &format!("{} left", me.name));
            let _ = ns.emit("rooms", &rooms(&ns));
        }
    });
}

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

//! The classic Socket.IO chat's handlers and page, shared by `socketio_chat` (one node) and
//! `cluster_chat` (several nodes sharing rooms through a broker): the room list counts the
//! members of every node (`fetch_sockets`).

use std::collections::BTreeMap;

use windlass::event_server::{Namespace, Socket, Value};

/// The page, compiled in so that the binary runs from any directory.
pub(crate) const PAGE: &str = include_str!("../socketio_chat.html");

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

/// Every room with people in it, and how many, on every node of the cluster (a member is in
/// one `#` room; a socket without a name is in none). `None` when a node cannot answer.
async fn rooms(ns: &Namespace) -> Option<BTreeMap<String, usize>> {
    let mut rooms = BTreeMap::new();
    for socket in ns.broadcast().fetch_sockets().await.ok()? {
        for room in socket.rooms.iter().filter(|room| room.starts_with('#')) {
            *rooms.entry(room.to_string()).or_default() += 1;
        }
    }
    Some(rooms)
}

/// Sends everyone the rooms, when they can be known.
async fn announce_rooms(ns: &Namespace) {
    if let Some(rooms) = rooms(ns).await {
        let _ = ns.emit("rooms", &rooms);
    }
}

/// The chat's handlers for one socket. `socket.namespace()` is `/`, so its `to(room)` is
/// Node's `io.to(room)` and its `emit` is `io.emit`.
pub(crate) fn chat(socket: &Socket) {
    let first = socket.clone();
    tokio::spawn(async move {
        if let Some(rooms) = rooms(&first.namespace()).await {
            let _ = first.emit("rooms", &rooms);
        }
    });

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
        announce_rooms(&socket.namespace()).await;
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
            announce_rooms(&ns).await;
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
            announce_rooms(&ns).await;
        }
    });
}

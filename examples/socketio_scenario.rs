//! The Socket.IO scenario fixture: a chat-and-rooms server with connection state recovery,
//! exactly as `shared/contracts/socketio-fixtures.md` (section 2) describes it. Namespaces `/`
//! and `/admin` (token middleware), rooms, broadcasts, acks both ways, binary payloads, the
//! client bundle at `/socket.io/socket.io.js`.
//!
//! Run with:
//!
//! ```text
//! npm ci                                   # the client bundle: npm socket.io-client (package.json)
//! cargo run --release --example socketio_scenario -- --listen 127.0.0.1:3001
//! ```

mod support;

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use windlass::event_server::{
    ConnectError, EngineConfig, Event, EventServer, Map, RecoveryConfig, Socket, SocketIo, SocketIoConfig,
    Value,
};
use windlass::{HttpServer, IoServer};

const USAGE: &str = "\
usage: socketio_scenario [--listen ADDR]

  --listen ADDR   address to listen on (default 127.0.0.1:8080; port 0 picks one)

The client bundle is read from node_modules/socket.io-client (here or in a parent
directory: `npm ci` in the repository installs it), or from $WINDLASS_SOCKET_IO_CLIENT";

/// An object from key-value pairs, keys in the order given; a `None` value leaves its key
/// out, as JavaScript's `undefined` (a missing argument or field) does in JSON.
fn obj<const N: usize>(pairs: [(&str, Option<Value>); N]) -> Value {
    Value::Object(pairs.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect::<Map>())
}

fn text(s: &str) -> Value {
    Value::from(s)
}

fn rooms_of(socket: &Socket) -> Value {
    Value::Array(socket.rooms().into_iter().map(Value::from).collect())
}

fn ok() -> Value {
    obj([("ok", Some(Value::Bool(true)))])
}

/// The first argument as a field map, or an empty one.
fn arg_object(event: &Event) -> Map {
    event.args().first().and_then(Value::as_object).cloned().unwrap_or_default()
}

/// A field of an argument object; `None` when absent (`undefined`).
fn field(map: &Map, key: &str) -> Option<Value> {
    map.get(key).cloned()
}

fn bursts(io: &SocketIo, room: &str, count: u64, tag: Option<&Value>) {
    for seq in 0..count {
        let _ = io.to(room).emit("burst", &obj([("tag", tag.cloned()), ("seq", Some(Value::from(seq)))]));
    }
}

fn root(io: &SocketIo) {
    let server = io.clone();
    io.on_connection(move |socket| {
        let io = server.clone();
        async move {
            let welcome = obj([
                ("id", Some(text(socket.id()))),
                ("engineId", Some(text(socket.engine_id()))),
                ("nsp", Some(text("/"))),
                ("recovered", Some(Value::Bool(socket.recovered()))),
            ]);
            let _ = socket.emit("welcome", &welcome);
            handlers(&io, &socket);
        }
    });
}

#[allow(clippy::too_many_lines)] // one handler per row of the contract's table
fn handlers(io: &SocketIo, socket: &Socket) {
    socket.on("echo", |_, mut event| async move {
        let args = event.take_args();
        let _ = event.ack_args(args);
    });
    let io2 = io.clone();
    socket.on("chat message", move |socket, event| {
        let io = io2.clone();
        async move {
            let payload = obj([("from", Some(text(socket.id()))), ("text", event.args().first().cloned())]);
            let _ = io.emit("chat message", &payload);
        }
    });
    socket.on("broadcast message", |socket, event| async move {
        let payload = event.args().first().cloned();
        let _ = socket
            .broadcast()
            .emit("broadcast message", &obj([("from", Some(text(socket.id()))), ("payload", payload)]));
    });
    socket.on("join", |socket, event| async move {
        if let Some(room) = event.args().first().and_then(Value::as_str) {
            socket.join(room);
        }
        let _ = event.ack(&obj([("rooms", Some(rooms_of(&socket)))]));
    });
    socket.on("leave", |socket, event| async move {
        if let Some(room) = event.args().first().and_then(Value::as_str) {
            socket.leave(room);
        }
        let _ = event.ack(&obj([("rooms", Some(rooms_of(&socket)))]));
    });
    socket.on("room size", |socket, event| async move {
        let room = event.args().first().and_then(Value::as_str).unwrap_or_default().to_owned();
        let size = socket.namespace().room_size(&room);
        let _ = event.ack(&obj([("size", Some(Value::from(size as u64)))]));
    });
    socket.on("to room", |socket, event| async move {
        let args = arg_object(&event);
        let room = field(&args, "room");
        if let Some(name) = room.as_ref().and_then(Value::as_str) {
            let message = obj([
                ("from", Some(text(socket.id()))),
                ("room", room.clone()),
                ("payload", field(&args, "payload")),
            ]);
            let _ = socket.to(name).emit("room message", &message);
        }
        let _ = event.ack(&ok());
    });
    let io2 = io.clone();
    socket.on("to rooms", move |socket, event| {
        let io = io2.clone();
        async move {
            let args = arg_object(&event);
            let rooms = field(&args, "rooms");
            let mut target = io.of("/").broadcast();
            for room in
                rooms.as_ref().and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
            {
                target = target.to(room);
            }
            let message = obj([
                ("from", Some(text(socket.id()))),
                ("rooms", rooms.clone()),
                ("payload", field(&args, "payload")),
            ]);
            let _ = target.emit("rooms message", &message);
            let _ = event.ack(&ok());
        }
    });
    let io2 = io.clone();
    socket.on("to room except", move |socket, event| {
        let io = io2.clone();
        async move {
            let args = arg_object(&event);
            let (room, except) = (field(&args, "room"), field(&args, "except"));
            if let (Some(r), Some(e)) =
                (room.as_ref().and_then(Value::as_str), except.as_ref().and_then(Value::as_str))
            {
                let message = obj([
                    ("from", Some(text(socket.id()))),
                    ("room", room.clone()),
                    ("except", except.clone()),
                    ("payload", field(&args, "payload")),
                ]);
                let _ = io.to(r).except(e).emit("except message", &message);
            }
            let _ = event.ack(&ok());
        }
    });
    let io2 = io.clone();
    socket.on("to id", move |socket, event| {
        let io = io2.clone();
        async move {
            let args = arg_object(&event);
            if let Some(id) = field(&args, "id").as_ref().and_then(Value::as_str) {
                let message = obj([("from", Some(text(socket.id()))), ("payload", field(&args, "payload"))]);
                let _ = io.to(id).emit("private message", &message);
            }
            let _ = event.ack(&ok());
        }
    });
    socket.on("ask", |socket, event| async move {
        let args = arg_object(&event);
        let timeout = field(&args, "timeout").as_ref().and_then(Value::as_u64).unwrap_or(1000);
        let question = field(&args, "question");
        let reply =
            match socket.timeout(Duration::from_millis(timeout)).emit_with_ack("question", &question).await {
                Ok(answer) => obj([("ok", Some(Value::Bool(true))), ("answer", answer.into_iter().next())]),
                Err(e) => obj([("ok", Some(Value::Bool(false))), ("error", Some(text(&e.to_string())))]),
            };
        let _ = event.ack(&reply);
    });
    socket.on("binary push", |socket, event| async move {
        let data = obj([
            ("text", Some(text("bin"))),
            ("one", Some(Value::Binary(Bytes::from_static(&[1, 2, 3])))),
            (
                "list",
                Some(Value::Array(vec![
                    Value::Binary(Bytes::from_static(b"hello")),
                    obj([("deep", Some(Value::Binary(Bytes::from_static(&[0xff, 0x00, 0x80]))))]),
                ])),
            ),
        ]);
        let _ = socket.emit("binary data", &data);
        let _ = event.ack(&ok());
    });
    socket.on("watch", |socket, event| async move {
        socket.join("watchers");
        let _ = event.ack(&ok());
    });
    socket.on("double", |socket, event| async move {
        let n = event.args().first().cloned();
        let _ = socket.emit("double reply", &obj([("handler", Some(Value::from(1_u64))), ("n", n)]));
    });
    socket.on("double", |socket, event| async move {
        let n = event.args().first().cloned();
        let _ = socket.emit("double reply", &obj([("handler", Some(Value::from(2_u64))), ("n", n)]));
    });
    socket.on_any(|socket, event| async move {
        if event.name().starts_with("any:") {
            // Node's listener sees the ack callback as a last argument, which JSON makes null.
            let mut args = event.args().to_vec();
            if event.wants_ack() {
                args.push(Value::Null);
            }
            let seen = obj([("event", Some(text(event.name()))), ("args", Some(Value::Array(args)))]);
            let _ = socket.emit("any seen", &seen);
        }
    });
    socket.on("kick me", |socket, _| async move {
        socket.disconnect(false);
    });
    let io2 = io.clone();
    socket.on("burst", move |_, event| {
        let io = io2.clone();
        async move {
            let args = arg_object(&event);
            let count = field(&args, "count").as_ref().and_then(Value::as_u64).unwrap_or(0);
            if let Some(room) = field(&args, "room").as_ref().and_then(Value::as_str) {
                bursts(&io, room, count, field(&args, "tag").as_ref());
            }
            let _ = event.ack(&obj([("sent", Some(Value::from(count)))]));
        }
    });
    let io2 = io.clone();
    socket.on("drop transport", move |socket, event| {
        let io = io2.clone();
        async move {
            let args = arg_object(&event);
            let target =
                field(&args, "id").as_ref().and_then(Value::as_str).and_then(|id| io.of("/").socket(id));
            let Some(target) = target.filter(|t| t.id() != socket.id()) else {
                let _ = event.ack(&obj([("ok", Some(Value::Bool(false)))]));
                return;
            };
            let room = field(&args, "room").as_ref().and_then(Value::as_str).unwrap_or_default().to_owned();
            let count = field(&args, "count").as_ref().and_then(Value::as_u64).unwrap_or(0);
            let tag = field(&args, "tag");
            let event = event.clone();
            target.on_disconnect(move |_, reason| {
                let (io, room, tag, event) = (io.clone(), room.clone(), tag.clone(), event.clone());
                async move {
                    bursts(&io, &room, count, tag.as_ref());
                    let _ = event.ack(&obj([
                        ("ok", Some(Value::Bool(true))),
                        ("reason", Some(text(reason.as_str()))),
                    ]));
                }
            });
            target.close_connection();
        }
    });
    let io2 = io.clone();
    socket.on_disconnecting(move |socket, reason| {
        let io = io2.clone();
        async move {
            let report = obj([
                ("id", Some(text(socket.id()))),
                ("rooms", Some(rooms_of(&socket))),
                ("reason", Some(text(reason.as_str()))),
            ]);
            let _ = io.to("watchers").emit("disconnecting report", &report);
        }
    });
    let io2 = io.clone();
    socket.on_disconnect(move |socket, reason| {
        let io = io2.clone();
        async move {
            let report = obj([
                ("id", Some(text(socket.id()))),
                ("rooms", Some(Value::Array(vec![]))),
                ("reason", Some(text(reason.as_str()))),
            ]);
            let _ = io.to("watchers").emit("disconnect report", &report);
        }
    });
}

fn admin(io: &SocketIo) {
    let admin = io.of("/admin");
    admin.middleware(|socket| async move {
        if socket.handshake().auth().get("token").and_then(Value::as_str) == Some("s3cret") {
            Ok(())
        } else {
            Err(ConnectError::new("unauthorized").with_data(&obj([("reason", Some(text("bad token")))])))
        }
    });
    admin.on_connection(|socket| async move {
        // A recovered socket's auth is `{pid, offset}`: no token, and JSON then has no key.
        let token = socket.handshake().auth().get("token").cloned();
        let mut welcome = Map::new();
        welcome.insert("id", text(socket.id()));
        welcome.insert("engineId", text(socket.engine_id()));
        welcome.insert("nsp", text("/admin"));
        if let Some(token) = &token {
            welcome.insert("token", token.clone());
        }
        welcome.insert("recovered", Value::Bool(socket.recovered()));
        let _ = socket.emit("admin welcome", &Value::Object(welcome));
        socket.on("whoami", move |socket, event| {
            let token = token.clone();
            async move {
                let mut me = Map::new();
                me.insert("id", text(socket.id()));
                me.insert("engineId", text(socket.engine_id()));
                me.insert("nsp", text("/admin"));
                if let Some(token) = token {
                    me.insert("token", token);
                }
                let _ = event.ack(&Value::Object(me));
            }
        });
        socket.on("admin news", |socket, event| async move {
            let payload = event.args().first().cloned();
            let _ = socket
                .namespace()
                .emit("admin news", &obj([("from", Some(text(socket.id()))), ("payload", payload)]));
        });
    });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = support::Args::from_env(USAGE);
    let listen = args.listen();
    args.finish();
    support::init_tracing();

    let io = SocketIo::with_config(SocketIoConfig {
        engine: EngineConfig {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            ..EngineConfig::default()
        },
        connect_timeout: Duration::from_secs(45),
        recovery: Some(RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
        }),
        ..SocketIoConfig::default()
    });
    root(&io);
    admin(&io);

    let server = IoServer::bind(listen.as_str(), HttpServer::new(EventServer::new(io))).await?;
    println!("listening on {}", server.local_addr()?);
    server.run_until(tokio::signal::ctrl_c()).await?;
    Ok(())
}

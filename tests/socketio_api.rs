//! The Socket.IO API seen from the wire: an in-process `SocketIo` server per test, driven by
//! raw Engine.IO frames over tokio-tungstenite, so each test shows exactly what a client sees:
//! per-packet middleware, outgoing listeners, acknowledgements asked by the server (one
//! socket and broadcast), rooms with union and `except`, `disconnecting` with its rooms,
//! typed payloads, and that awaiting an acknowledgement inside a handler does not stop the
//! socket from reading.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use support::{TestServer, WAIT};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use windlass::HttpServer;
use windlass::event_server::{EventServer, SocketIo, Value};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn serve(io: &SocketIo) -> TestServer {
    TestServer::start(HttpServer::new(EventServer::new(io.clone()))).await
}

/// A client joined to `/`: returns the socket id.
async fn join(server: &TestServer) -> (Ws, String) {
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let (mut ws, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await.unwrap().unwrap();
    assert!(text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text("40")).await.unwrap();
    let reply = text(&mut ws).await;
    let id =
        reply.strip_prefix("40{\"sid\":\"").and_then(|r| r.strip_suffix("\"}")).expect(&reply).to_owned();
    (ws, id)
}

async fn text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("no frame in time").expect("ended").unwrap()
        {
            Message::Text(text) if text == "2" => ws.send(Message::text("3")).await.unwrap(),
            Message::Text(text) => return text.to_string(),
            other => panic!("expected text, got {other:?}"),
        }
    }
}

async fn silent(ws: &mut Ws, quiet: Duration) {
    if let Ok(frame) = tokio::time::timeout(quiet, ws.next()).await {
        panic!("expected nothing, got {frame:?}");
    }
}

#[tokio::test]
async fn a_packet_middleware_can_refuse_an_event_and_the_error_handlers_hear_why() {
    let io = SocketIo::new();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    io.on_connection(move |socket| {
        let seen = Arc::clone(&seen);
        async move {
            socket.use_middleware(|_, event| {
                if event.name() == "forbidden" {
                    return Err("not allowed".into());
                }
                Ok(())
            });
            socket.on_error(move |_, error| seen.lock().unwrap().push(error.to_string()));
            socket.on("forbidden", |socket, _| async move {
                let _ = socket.emit("reached", &"forbidden");
            });
            socket.on("allowed", |socket, _| async move {
                let _ = socket.emit("reached", &"allowed");
            });
        }
    });
    let server = serve(&io).await;
    let (mut ws, _) = join(&server).await;
    ws.send(Message::text(r#"42["forbidden"]"#)).await.unwrap();
    ws.send(Message::text(r#"42["allowed"]"#)).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"42["reached","allowed"]"#);
    assert_eq!(*errors.lock().unwrap(), ["not allowed"]);
}

#[tokio::test]
async fn outgoing_listeners_see_every_emit_of_the_socket() {
    let io = SocketIo::new();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&sent);
    io.on_connection(move |socket| {
        let log = Arc::clone(&log);
        async move {
            socket.on_any_outgoing(move |_, event, args| {
                log.lock().unwrap().push(format!("{event} {}", args.len()));
            });
            let _ = socket.emit("one", &1);
            let _ = socket.emit_args("two", vec![Value::from("a"), Value::from("b")]);
        }
    });
    let server = serve(&io).await;
    let (mut ws, _) = join(&server).await;
    assert_eq!(text(&mut ws).await, r#"42["one",1]"#);
    assert_eq!(text(&mut ws).await, r#"42["two","a","b"]"#);
    assert_eq!(*sent.lock().unwrap(), ["one 1", "two 2"]);
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Order {
    symbol: String,
    quantity: u32,
    price: f64,
}

#[tokio::test]
async fn typed_payloads_go_in_and_out_through_serde() {
    let io = SocketIo::new();
    io.on_connection(|socket| async move {
        socket.on("order", |socket, event| async move {
            let order: Order = event.data().expect("an order");
            let filled = Order { quantity: order.quantity * 2, ..order };
            let _ = event.ack(&filled);
            let _ = socket.emit("filled", &filled);
        });
    });
    let server = serve(&io).await;
    let (mut ws, _) = join(&server).await;
    ws.send(Message::text(r#"427["order",{"symbol":"ABC","quantity":5,"price":1.5}]"#)).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"437[{"symbol":"ABC","quantity":10,"price":1.5}]"#);
    assert_eq!(text(&mut ws).await, r#"42["filled",{"symbol":"ABC","quantity":10,"price":1.5}]"#);
}

#[tokio::test]
async fn awaiting_an_ack_in_a_handler_does_not_stop_the_socket_reading() {
    let io = SocketIo::new();
    io.on_connection(|socket| async move {
        socket.on("ask", |socket, _| async move {
            let answer = socket.timeout(Duration::from_secs(5)).emit_with_ack("question", &"ready?").await;
            let _ = socket.emit("answered", &answer.map_or(Value::Null, |args| args[0].clone()));
        });
        socket.on("ping me", |socket, _| async move {
            let _ = socket.emit("pong", &"while waiting");
        });
    });
    let server = serve(&io).await;
    let (mut ws, _) = join(&server).await;
    ws.send(Message::text(r#"42["ask"]"#)).await.unwrap();
    let question = text(&mut ws).await;
    let id = question
        .strip_prefix("42")
        .and_then(|q| q.strip_suffix(r#"["question","ready?"]"#))
        .expect(&question);
    // The handler waits for our answer; the socket still reads and answers other events.
    ws.send(Message::text(r#"42["ping me"]"#)).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"42["pong","while waiting"]"#);
    ws.send(Message::text(format!(r#"43{id}["yes"]"#))).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"42["answered","yes"]"#);
}

#[tokio::test]
async fn a_broadcast_with_ack_collects_one_answer_per_socket_or_times_out() {
    let io = SocketIo::new();
    let server = serve(&io).await;
    let (mut a, _) = join(&server).await;
    let (mut b, _) = join(&server).await;
    let asking = io.clone();
    let broadcast = tokio::spawn(async move {
        asking.of("/").broadcast().timeout(Duration::from_secs(5)).emit_with_ack("vote", &"go?").await
    });
    for (ws, answer) in [(&mut a, "a"), (&mut b, "b")] {
        let vote = text(ws).await;
        let id = vote
            .strip_prefix("42")
            .and_then(|v| v.strip_suffix(r#"["vote","go?"]"#))
            .expect(&vote)
            .to_owned();
        ws.send(Message::text(format!(r#"43{id}["{answer}"]"#))).await.unwrap();
    }
    let mut answers: Vec<String> = broadcast
        .await
        .unwrap()
        .expect("both answered")
        .into_iter()
        .map(|args| args[0].as_str().unwrap().to_owned())
        .collect();
    answers.sort();
    assert_eq!(answers, ["a", "b"]);

    // One socket stays silent: the broadcast times out.
    let asking = io.clone();
    let broadcast = tokio::spawn(async move {
        asking.of("/").broadcast().timeout(Duration::from_millis(300)).emit_with_ack("vote", &"again?").await
    });
    let vote = text(&mut a).await;
    let id =
        vote.strip_prefix("42").and_then(|v| v.strip_suffix(r#"["vote","again?"]"#)).expect(&vote).to_owned();
    a.send(Message::text(format!(r#"43{id}["a"]"#))).await.unwrap();
    let _ = text(&mut b).await;
    let outcome = broadcast.await.unwrap();
    assert!(matches!(outcome, Err(windlass::event_server::AckError::Timeout)), "{outcome:?}");
}

#[tokio::test]
async fn rooms_deliver_the_union_once_except_subtracts_and_disconnecting_still_sees_rooms() {
    let io = SocketIo::new();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&reports);
    io.on_connection(move |socket| {
        let log = Arc::clone(&log);
        async move {
            socket.on("join", |socket, event| async move {
                for room in event.args().iter().filter_map(Value::as_str) {
                    socket.join(room);
                }
                let _ = event.ack(&socket.rooms());
            });
            let disconnecting = Arc::clone(&log);
            socket.on_disconnecting(move |socket, reason| {
                let log = Arc::clone(&disconnecting);
                async move { log.lock().unwrap().push(format!("disconnecting {} {reason}", socket.rooms().len())) }
            });
            socket.on_disconnect(move |socket, reason| {
                let log = Arc::clone(&log);
                async move { log.lock().unwrap().push(format!("disconnect {} {reason}", socket.rooms().len())) }
            });
        }
    });
    let server = serve(&io).await;
    let (mut a, a_id) = join(&server).await;
    let (mut b, b_id) = join(&server).await;
    let (mut c, _) = join(&server).await;
    a.send(Message::text(r#"421["join","red","blue"]"#)).await.unwrap();
    assert_eq!(text(&mut a).await, format!(r#"431[["{a_id}","red","blue"]]"#));
    b.send(Message::text(r#"421["join","blue","vip"]"#)).await.unwrap();
    assert_eq!(text(&mut b).await, format!(r#"431[["{b_id}","blue","vip"]]"#));

    io.to("red").to("blue").emit("news", &1).unwrap();
    assert_eq!(text(&mut a).await, r#"42["news",1]"#, "a is in both rooms: once");
    assert_eq!(text(&mut b).await, r#"42["news",1]"#);
    io.to("blue").except("vip").emit("news", &2).unwrap();
    assert_eq!(text(&mut a).await, r#"42["news",2]"#);
    silent(&mut b, Duration::from_millis(200)).await;
    silent(&mut c, Duration::from_millis(1)).await;
    assert_eq!(io.of("/").room_size("blue"), 2);

    a.send(Message::text("41")).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while reports.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        *reports.lock().unwrap(),
        ["disconnecting 3 client namespace disconnect", "disconnect 0 client namespace disconnect"]
    );
    assert_eq!(io.of("/").room_size("blue"), 1, "a left its rooms");
    assert_eq!(io.of("/").room_size("red"), 0);
}

/// A session store of the application's own (here the memory store, counted): recovery keeps
/// the socket that left and the packets it missed there, and restores from there.
struct CountingStore {
    inner: windlass::event_server::MemoryStore,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    kept: Mutex<Vec<windlass::event_server::KeptSession>>,
    stored: Mutex<usize>,
    restored: Mutex<usize>,
}

impl windlass::event_server::SessionStore for CountingStore {
    fn next_offset(&self) -> String {
        self.inner.next_offset()
    }

    fn store_packet(&self, packet: windlass::event_server::StoredPacket) {
        *self.counts.stored.lock().unwrap() += 1;
        self.inner.store_packet(packet);
    }

    fn keep_session(&self, session: windlass::event_server::KeptSession) {
        self.counts.kept.lock().unwrap().push(session.clone());
        self.inner.keep_session(session);
    }

    fn restore<'a>(
        &'a self,
        pid: &'a str,
        offset: &'a str,
        namespace: &'a str,
    ) -> windlass::event_server::StoreFuture<'a, Option<windlass::event_server::Restored>> {
        *self.counts.restored.lock().unwrap() += 1;
        self.inner.restore(pid, offset, namespace)
    }
}

#[tokio::test]
async fn recovery_keeps_sessions_and_packets_in_the_store_it_is_given() {
    use windlass::event_server::{MemoryStore, RecoveryConfig, SocketIoConfig};
    let store = Arc::new(Counts::default());
    let counting =
        CountingStore { inner: MemoryStore::new(Duration::from_secs(60)), counts: Arc::clone(&store) };
    let config = SocketIoConfig { recovery: Some(RecoveryConfig::default()), ..SocketIoConfig::default() };
    let io = SocketIo::with_session_store(config, counting);
    let recovered = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&recovered);
    io.on_connection(move |socket| {
        seen.lock().unwrap().push(socket.recovered());
        socket.join("news");
        async {}
    });
    let server = serve(&io).await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);

    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    assert!(text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text("40")).await.unwrap();
    let reply = Value::from_json(text(&mut ws).await.strip_prefix("40").unwrap()).unwrap();
    let field = |name: &str| reply.get(name).and_then(Value::as_str).unwrap().to_owned();
    let (sid, pid) = (field("sid"), field("pid"));
    io.of("/").to("news").emit("news", "one").unwrap();
    let one = Value::from_json(text(&mut ws).await.strip_prefix("42").unwrap()).unwrap();
    let one: Vec<&str> = one.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(one[..2], ["news", "one"]);
    let offset = one[2].to_owned();

    drop(ws);
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.kept.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the socket that left was not kept");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kept = store.kept.lock().unwrap()[0].clone();
    assert_eq!((&*kept.pid, &*kept.id, &*kept.namespace), (pid.as_str(), sid.as_str(), "/"));
    assert_eq!(kept.rooms, [Arc::<str>::from("news")]);
    io.of("/").to("news").emit("news", "two").unwrap();

    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    assert!(text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text(format!("40{{\"pid\":\"{pid}\",\"offset\":\"{offset}\"}}"))).await.unwrap();
    let missed = text(&mut ws).await;
    assert!(missed.starts_with("42[\"news\",\"two\",\""), "{missed}");
    let reply = text(&mut ws).await;
    assert_eq!(reply, format!("40{{\"sid\":\"{sid}\",\"pid\":\"{pid}\"}}"));
    assert_eq!(*store.stored.lock().unwrap(), 2, "both emits were stored");
    assert_eq!(*store.restored.lock().unwrap(), 1);
    let deadline = tokio::time::Instant::now() + WAIT;
    while recovered.lock().unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*recovered.lock().unwrap(), [false, true]);
    server.stop().await;
}

/// Sockets that leave because the server stops hear `server shutting down`, whether the
/// application calls `io.close()` (Node's) or the `IoServer` itself shuts down.
#[tokio::test]
async fn sockets_leave_with_server_shutting_down_on_io_close_and_on_server_shutdown() {
    use windlass::event_server::DisconnectReason;
    for via_io_close in [true, false] {
        let io = SocketIo::new();
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let heard = Arc::clone(&reasons);
        io.on_connection(move |socket| {
            let heard = Arc::clone(&heard);
            socket.on_disconnect(move |_, reason| {
                heard.lock().unwrap().push(reason);
                async {}
            });
            async {}
        });
        let server = serve(&io).await;
        let (mut ws, _) = join(&server).await;
        if via_io_close {
            io.close();
        }
        let stopping = tokio::spawn(server.stop());
        // The client sees its WebSocket closed, and answers the close (reading on).
        let mut closed = false;
        loop {
            match tokio::time::timeout(WAIT, ws.next()).await.expect("closed in time") {
                Some(Ok(Message::Close(_))) => closed = true,
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
        assert!(closed, "no close frame");
        drop(ws);
        stopping.await.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        while reasons.lock().unwrap().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "no disconnect heard");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            *reasons.lock().unwrap(),
            [DisconnectReason::ServerShuttingDown],
            "io.close(): {via_io_close}"
        );
    }
}

/// An adapter that records the room hooks, for the test below.
#[derive(Clone, Default)]
struct RoomLog(Arc<Mutex<Vec<(String, bool)>>>);

impl windlass::event_server::Adapter for RoomLog {
    fn broadcast(
        &self,
        _: &str,
        _: &windlass_sio_proto::socket::Packet,
        _: &windlass::event_server::BroadcastOptions,
    ) {
    }

    fn fetch_sockets<'a>(
        &'a self,
        _: &'a str,
        _: &'a windlass::event_server::BroadcastOptions,
    ) -> windlass::event_server::AdapterFuture<
        'a,
        Result<Vec<windlass::event_server::SocketInfo>, windlass::event_server::ClusterError>,
    > {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn add_sockets(&self, _: &str, _: &windlass::event_server::BroadcastOptions, _: &[Arc<str>]) {}

    fn del_sockets(&self, _: &str, _: &windlass::event_server::BroadcastOptions, _: &[Arc<str>]) {}

    fn disconnect_sockets(&self, _: &str, _: &windlass::event_server::BroadcastOptions, _: bool) {}

    fn room_created(&self, _nsp: &str, room: &str) {
        self.0.lock().unwrap().push((room.to_owned(), true));
    }

    fn room_deleted(&self, _nsp: &str, room: &str) {
        self.0.lock().unwrap().push((room.to_owned(), false));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_hears_a_room_made_and_emptied_in_order_whoever_joins_and_leaves() {
    let log = RoomLog::default();
    let io = SocketIo::builder().adapter(log.clone()).build();
    io.on_connection(|socket| async move {
        socket.on("join", |socket, event| async move {
            socket.join(event.args()[0].as_str().unwrap_or_default().to_owned());
        });
        socket.on("leave", |socket, event| async move {
            socket.leave(event.args()[0].as_str().unwrap_or_default());
        });
        socket.on("sync", |_, event| async move {
            let _ = event.ack_args(vec![]);
        });
    });
    let server = serve(&io).await;
    // Four clients join and leave two rooms, interleaved; a leave of a room never joined and
    // a join twice change nothing; the last client disconnects while in a room.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(join(&server).await.0);
    }
    for round in 0..20 {
        for (i, ws) in clients.iter_mut().enumerate() {
            let room = if (i + round) % 2 == 0 { "a" } else { "b" };
            ws.send(Message::text(format!(r#"42["join","{room}"]"#))).await.unwrap();
            ws.send(Message::text(format!(r#"42["join","{room}"]"#))).await.unwrap();
            ws.send(Message::text(r#"42["leave","never"]"#)).await.unwrap();
            if (i + round) % 3 != 0 {
                ws.send(Message::text(format!(r#"42["leave","{room}"]"#))).await.unwrap();
            }
        }
    }
    for ws in &mut clients {
        ws.send(Message::text(r#"421["sync"]"#)).await.unwrap();
        assert_eq!(text(ws).await, "431[]");
    }
    // What the adapter heard, replayed, is what the namespace has: each room alternates made,
    // emptied, and is made exactly when it has members.
    let check = |log: &[(String, bool)]| {
        for room in ["a", "b"] {
            let events: Vec<bool> = log.iter().filter(|(r, _)| r == room).map(|(_, made)| *made).collect();
            assert!(events.iter().step_by(2).all(|made| *made), "{room}: {events:?}");
            assert!(events.iter().skip(1).step_by(2).all(|made| !made), "{room}: {events:?}");
            let made = events.last().copied().unwrap_or(false);
            assert_eq!(made, io.of("/").room_size(room) > 0, "{room}: {events:?}");
        }
        assert!(log.iter().all(|(room, _)| room != "never"));
    };
    check(&log.0.lock().unwrap());
    drop(clients);
    for _ in 0..100 {
        if io.of("/").sockets().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check(&log.0.lock().unwrap());
    assert_eq!(io.of("/").room_size("a") + io.of("/").room_size("b"), 0);
}

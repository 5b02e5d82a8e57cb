//! Many connections at once: 1,000 WebSocket clients (tokio-tungstenite, all in this process)
//! and 1,000 raw-TCP clients talking to one server each, every client getting exactly what it
//! should, every `on_open` matched by exactly one clean `on_close`.
//!
//! The tests run one at a time (see [`SERIAL`]) so each has the machine's two cores to itself.

mod support;

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use windlass::{
    BoxError, CloseCode, CloseInfo, Connection, ConnectionPool, Error, HttpServer, Message, MessageComponent,
    WsServer,
};

use support::TestServer;

/// Clients per test.
const CLIENTS: usize = 1_000;
/// Messages each echo client sends.
const MESSAGES: usize = 10;
/// Bound on any wait in these tests. A run takes a few seconds; this is generous for a loaded
/// 2-core machine running a debug build.
const PHASE: Duration = Duration::from_secs(60);

/// One test at a time: 1,000 clients plus 1,000 server connections are load enough.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Callback counts, shared between a component and the test.
#[derive(Debug, Default)]
struct Counts {
    opens: AtomicUsize,
    messages: AtomicUsize,
    closes: AtomicUsize,
    /// Closes with 1000 after a completed close handshake (raw TCP: the peer's EOF).
    clean_normal_closes: AtomicUsize,
    errors: AtomicUsize,
}

impl Counts {
    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }

    fn count_close(&self, close: &CloseInfo) {
        if close.code == CloseCode::NORMAL && close.clean {
            self.clean_normal_closes.fetch_add(1, Ordering::Relaxed);
        }
        self.closes.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until every client's `on_close` ran, then checks every count.
    async fn assert_all_closed(&self, messages: usize) {
        let all_closed = tokio::time::timeout(PHASE, async {
            while Self::get(&self.closes) < CLIENTS {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(all_closed.is_ok(), "on_close ran {} times", Self::get(&self.closes));
        assert_eq!(Self::get(&self.opens), CLIENTS);
        assert_eq!(Self::get(&self.closes), CLIENTS);
        assert_eq!(Self::get(&self.clean_normal_closes), CLIENTS);
        assert_eq!(Self::get(&self.messages), messages);
        assert_eq!(Self::get(&self.errors), 0);
    }
}

/// Echoes every message and counts callbacks.
#[derive(Clone, Default)]
struct Echo {
    counts: Arc<Counts>,
}

impl MessageComponent for Echo {
    async fn on_open(&self, _conn: &mut Connection) -> Result<(), BoxError> {
        self.counts.opens.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        self.counts.messages.fetch_add(1, Ordering::Relaxed);
        conn.send(msg)?;
        Ok(())
    }

    async fn on_close(&self, _conn: &mut Connection, close: CloseInfo) {
        self.counts.count_close(&close);
    }

    async fn on_error(&self, _conn: &mut Connection, _error: Error) {
        self.counts.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// A chat room: a welcome once a member is in, then every message goes to everyone but its
/// sender.
#[derive(Clone, Default)]
struct Room {
    counts: Arc<Counts>,
    members: Arc<ConnectionPool>,
}

impl MessageComponent for Room {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.members.attach(conn);
        self.counts.opens.fetch_add(1, Ordering::Relaxed);
        conn.send("welcome")?;
        Ok(())
    }

    async fn on_message(&self, from: &mut Connection, msg: Message) -> Result<(), BoxError> {
        self.counts.messages.fetch_add(1, Ordering::Relaxed);
        self.members.broadcast_except(from.id(), msg);
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        self.members.detach(conn.id());
        self.counts.count_close(&close);
    }

    async fn on_error(&self, _conn: &mut Connection, _error: Error) {
        self.counts.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Waits for every client task; a client's panic fails the test with its own message.
async fn join_all(mut clients: JoinSet<()>) -> usize {
    let finished = tokio::time::timeout(PHASE, async {
        let mut finished = 0;
        while let Some(result) = clients.join_next().await {
            if let Err(e) = result {
                std::panic::resume_unwind(e.into_panic());
            }
            finished += 1;
        }
        finished
    })
    .await;
    finished.expect("clients did not finish in time")
}

/// Holds every client until all are open, so all [`CLIENTS`] connections exist at once before
/// any message moves.
#[derive(Clone)]
struct Gate {
    all_open: Arc<Barrier>,
}

impl Gate {
    fn new() -> Self {
        Self { all_open: Arc::new(Barrier::new(CLIENTS)) }
    }

    /// Runs `open`, then waits until every client has opened.
    async fn open<T>(&self, open: impl Future<Output = T>) -> T {
        let opened = open.await;
        tokio::time::timeout(PHASE, self.all_open.wait()).await.expect("not every client opened in time");
        opened
    }
}

async fn connect(url: &str) -> Client {
    let (ws, _) = tokio::time::timeout(PHASE, tokio_tungstenite::connect_async_with_config(url, None, true))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    ws
}

async fn next_message(ws: &mut Client) -> WsMessage {
    tokio::time::timeout(PHASE, ws.next())
        .await
        .expect("timed out waiting for a message")
        .expect("stream ended")
        .expect("read failed")
}

/// Closes with 1000 and reads until the stream ends: the only thing left to arrive is the
/// server's close frame echoing 1000.
async fn close_cleanly(mut ws: Client) {
    let normal = CloseFrame { code: WsCloseCode::Normal, reason: "".into() };
    ws.close(Some(normal.clone())).await.expect("close");
    let mut rest = Vec::new();
    tokio::time::timeout(PHASE, async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(msg) => rest.push(msg),
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => break,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    })
    .await
    .expect("close handshake timed out");
    assert_eq!(rest, [WsMessage::Close(Some(normal))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_websocket_clients_each_get_exactly_their_echoes() {
    let _serial = SERIAL.lock().await;
    let echo = Echo::default();
    let counts = Arc::clone(&echo.counts);
    let server = TestServer::start(HttpServer::new(WsServer::new(echo))).await;
    let url = server.url("/");
    let gate = Gate::new();
    let mut clients = JoinSet::new();
    for client in 0..CLIENTS {
        let (url, gate) = (url.clone(), gate.clone());
        clients.spawn(async move {
            let mut ws = gate.open(connect(&url)).await;
            // All messages first, then all echoes: they must come back in order.
            let sent: Vec<String> = (0..MESSAGES).map(|m| format!("client {client} message {m}")).collect();
            for text in &sent {
                ws.feed(WsMessage::text(text.as_str())).await.unwrap();
            }
            ws.flush().await.unwrap();
            for text in &sent {
                assert_eq!(next_message(&mut ws).await, WsMessage::text(text.as_str()));
            }
            close_cleanly(ws).await;
        });
    }
    assert_eq!(join_all(clients).await, CLIENTS);
    counts.assert_all_closed(CLIENTS * MESSAGES).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_websocket_clients_in_one_room_each_get_exactly_the_broadcasts() {
    /// Clients that send one message each to the room.
    const SENDERS: usize = 20;
    let _serial = SERIAL.lock().await;
    let room = Room::default();
    let counts = Arc::clone(&room.counts);
    let server = TestServer::start(HttpServer::new(WsServer::new(room))).await;
    let url = server.url("/");
    let gate = Gate::new();
    let mut clients = JoinSet::new();
    for client in 0..CLIENTS {
        let (url, gate) = (url.clone(), gate.clone());
        clients.spawn(async move {
            // Nobody speaks before everyone is in the room: `on_open` runs after the 101, and
            // the welcome says it has.
            let mut ws = gate
                .open(async {
                    let mut ws = connect(&url).await;
                    assert_eq!(next_message(&mut ws).await, WsMessage::text("welcome"));
                    ws
                })
                .await;
            if client < SENDERS {
                ws.send(WsMessage::text(format!("from {client}"))).await.unwrap();
            }
            let mut expected: Vec<String> = (0..SENDERS)
                .filter(|&sender| sender != client)
                .map(|sender| format!("from {sender}"))
                .collect();
            let mut got = Vec::new();
            for _ in 0..expected.len() {
                match next_message(&mut ws).await {
                    WsMessage::Text(text) => got.push(text.as_str().to_owned()),
                    other => panic!("client {client} got {other:?}"),
                }
            }
            expected.sort();
            got.sort();
            assert_eq!(got, expected, "client {client}");
            // Anything extra (a duplicate, its own message) would arrive before the close echo.
            close_cleanly(ws).await;
        });
    }
    assert_eq!(join_all(clients).await, CLIENTS);
    counts.assert_all_closed(SENDERS).await;
    server.stop().await;
}

/// A raw-TCP client that has said `hello` and had it echoed, so the server has accepted it.
async fn raw_connect(addr: SocketAddr, client: usize) -> TcpStream {
    let mut stream = tokio::time::timeout(PHASE, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    let hello = format!("hello from {client}\n");
    stream.write_all(hello.as_bytes()).await.unwrap();
    let mut echoed = vec![0u8; hello.len()];
    tokio::time::timeout(PHASE, stream.read_exact(&mut echoed))
        .await
        .expect("echo timed out")
        .expect("read failed");
    assert_eq!(echoed, hello.as_bytes());
    stream
}

/// Sends [`MESSAGES`] lines in several writes, reads back exactly their echoes, then closes
/// its sending side and reads the server's EOF.
async fn raw_exchange(mut stream: TcpStream, client: usize) {
    let mut sent = String::new();
    for m in 0..MESSAGES {
        writeln!(sent, "client {client} line {m}").unwrap();
    }
    // Half the lines in one write, the rest one by one.
    let (first, rest) = sent.split_at(sent.len() / 2);
    stream.write_all(first.as_bytes()).await.unwrap();
    for line in rest.split_inclusive('\n') {
        stream.write_all(line.as_bytes()).await.unwrap();
    }
    let mut echoed = vec![0u8; sent.len()];
    tokio::time::timeout(PHASE, stream.read_exact(&mut echoed))
        .await
        .expect("echo timed out")
        .expect("read failed");
    assert_eq!(String::from_utf8_lossy(&echoed), sent);
    // EOF from us is a clean 1000 close; the server then closes its side with nothing
    // more to say.
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PHASE, stream.read_to_end(&mut rest))
        .await
        .expect("server did not close")
        .expect("read failed");
    assert_eq!(rest, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_raw_tcp_clients_each_get_exactly_their_echoes() {
    let _serial = SERIAL.lock().await;
    let echo = Echo::default();
    let counts = Arc::clone(&echo.counts);
    // The same component type as over WebSocket, one line per message.
    let server = TestServer::start(echo).await;
    let addr = server.addr;
    let gate = Gate::new();
    let mut clients = JoinSet::new();
    for client in 0..CLIENTS {
        let gate = gate.clone();
        clients.spawn(async move {
            let stream = gate.open(raw_connect(addr, client)).await;
            raw_exchange(stream, client).await;
        });
    }
    assert_eq!(join_all(clients).await, CLIENTS);
    // The lines the server saw: `hello` plus MESSAGES per client.
    counts.assert_all_closed(CLIENTS * (MESSAGES + 1)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_simultaneous_connects_is_served() {
    let _serial = SERIAL.lock().await;
    let echo = Echo::default();
    let counts = Arc::clone(&echo.counts);
    let server = TestServer::start(echo).await;
    let addr = server.addr;
    // No pacing: all connects at once must fit the listen backlog. (With the default backlog
    // of 128, about half the runs saw some of these connections reset.)
    let mut clients = JoinSet::new();
    for client in 0..CLIENTS {
        clients.spawn(async move {
            let stream = tokio::time::timeout(PHASE, TcpStream::connect(addr))
                .await
                .expect("connect timed out")
                .expect("connect failed");
            raw_exchange(stream, client).await;
        });
    }
    assert_eq!(join_all(clients).await, CLIENTS);
    counts.assert_all_closed(CLIENTS * MESSAGES).await;
    server.stop().await;
}

//! Graceful shutdown with `run_until`, and the `max_connections` cap.
//!
//! On shutdown every WebSocket gets a close frame with 1001 "server shutting down", raw TCP
//! connections are flushed and closed, connections still sending their request head are
//! dropped, and the listener stops accepting. Peers that never answer are dropped when the
//! drain timeout or the close timeout passes, so `run_until` returns in bounded time.
//!
//! Timeouts the tests do not mean to hit are set to [`LONG`], well past [`WAIT`]: a shutdown
//! that finishes within `WAIT` finished because the peers answered, not because a timer fired.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use windlass::{
    BoxError, CloseInfo, Connection, ConnectionHandle, Error, HttpServer, LineServer, Message,
    MessageComponent, SendError, WsServer,
};

use support::{
    Recorder, ServerFrame, TestServer, WAIT, client_frame, raw_ws, read_frame, read_to_end, tcp,
    upgrade_request,
};

/// A timeout a test does not mean to reach.
const LONG: Duration = Duration::from_secs(60);
/// A timeout a test does mean to reach.
const SHORT: Duration = Duration::from_millis(300);

/// What `HttpServer` answers past `max_connections`.
const REFUSAL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n";

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The close frame every WebSocket gets on shutdown.
fn going_away() -> ServerFrame {
    let mut payload = 1001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"server shutting down");
    ServerFrame { b0: 0x88, payload }
}

/// A masked close frame with `code`.
fn close_frame(code: u16) -> Vec<u8> {
    client_frame(true, 0x8, &code.to_be_bytes())
}

/// Starts graceful shutdown; the task ends when `run_until` has returned.
fn stop_in_background(server: TestServer) -> JoinHandle<()> {
    tokio::spawn(server.stop())
}

/// Waits for `run_until` to return, bounded by [`WAIT`].
async fn stopped(stopping: JoinHandle<()>) {
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("run_until did not return in time")
        .expect("stop panicked");
}

/// Ids of the connections the recorder saw open, in order.
fn opened(recorder: &Recorder) -> Vec<String> {
    recorder.lines().iter().filter_map(|l| l.strip_prefix("open ")).map(str::to_owned).collect()
}

/// The close lines of the recorder, in order.
fn closes(recorder: &Recorder) -> Vec<String> {
    recorder.lines().into_iter().filter(|l| l.starts_with("close ")).collect()
}

/// Waits until the recorder has seen `n` connections open.
async fn wait_opened(recorder: &Recorder, n: usize) -> Vec<String> {
    recorder.wait_for(|_| opened(recorder).len() >= n).await;
    opened(recorder)
}

async fn ws_client(server: &TestServer) -> Client {
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(server.url("/")))
        .await
        .expect("connect timed out")
        .expect("client connects");
    ws
}

/// One message out and its echo back.
async fn echo(ws: &mut Client, text: &str) {
    ws.send(WsMessage::text(text)).await.unwrap();
    let reply = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("echo timed out")
        .expect("stream ended")
        .expect("read failed");
    assert_eq!(reply, WsMessage::text(text));
}

/// Reads until the stream ends, returning every message seen on the way.
async fn read_until_end(ws: &mut Client) -> Vec<WsMessage> {
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(msg) => seen.push(msg),
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => break,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    })
    .await
    .expect("stream did not end in time");
    seen
}

#[tokio::test]
async fn stop_closes_every_websocket_with_1001_and_returns_once_they_answer() {
    let recorder = Recorder::default();
    let app = HttpServer::new(WsServer::new(recorder.clone()).close_timeout(LONG));
    let server = TestServer::start_with(app, |s| s.drain_timeout(LONG)).await;
    let mut raws = Vec::new();
    for _ in 0..3 {
        raws.push(raw_ws(server.addr, "/").await);
    }
    let mut ws = ws_client(&server).await;
    let ids = wait_opened(&recorder, 4).await;

    let stopping = stop_in_background(server);
    for raw in &mut raws {
        assert_eq!(read_frame(raw).await, going_away());
        raw.write_all(&close_frame(1001)).await.unwrap();
        // Nothing follows the close frame; then the server closes the TCP connection.
        assert_eq!(read_to_end(raw).await, b"");
    }
    drop(raws);
    // tokio-tungstenite answers the close itself.
    let seen = read_until_end(&mut ws).await;
    let expected = CloseFrame { code: WsCloseCode::Away, reason: "server shutting down".into() };
    assert_eq!(seen, [WsMessage::Close(Some(expected))]);
    drop(ws);
    stopped(stopping).await;

    let mut expected: Vec<String> =
        ids.iter().map(|id| format!("close {id} 1001 server shutting down clean")).collect();
    let mut got = closes(&recorder);
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "on_close once per connection, with 1001");
}

#[tokio::test]
async fn the_listener_stops_accepting_once_shutdown_starts() {
    let recorder = Recorder::default();
    let app = HttpServer::new(WsServer::new(recorder.clone()).close_timeout(LONG));
    let server = TestServer::start_with(app, |s| s.drain_timeout(LONG)).await;
    let addr = server.addr;
    let mut draining = raw_ws(addr, "/").await;

    let stopping = stop_in_background(server);
    // Once close frames go out the listener is gone, even while connections still drain.
    assert_eq!(read_frame(&mut draining).await, going_away());
    let refused = TcpStream::connect(addr).await.map(|_| ());
    assert_eq!(refused.map_err(|e| e.kind()), Err(ErrorKind::ConnectionRefused));

    draining.write_all(&close_frame(1001)).await.unwrap();
    assert_eq!(read_to_end(&mut draining).await, b"");
    drop(draining);
    stopped(stopping).await;
    let refused = TcpStream::connect(addr).await.map(|_| ());
    assert_eq!(refused.map_err(|e| e.kind()), Err(ErrorKind::ConnectionRefused));
}

/// Opens a raw WebSocket client and returns it with its connection id, learnt from the
/// recorder's log of the `role` message it sends.
async fn tagged_client(server: &TestServer, recorder: &Recorder, role: &str) -> (TcpStream, String) {
    let mut client = raw_ws(server.addr, "/").await;
    client.write_all(&client_frame(true, 0x1, role.as_bytes())).await.unwrap();
    assert_eq!(read_frame(&mut client).await.payload, role.as_bytes());
    let suffix = format!(" text {role}");
    let lines = recorder.wait_for(|l| l.ends_with(&suffix)).await;
    let line = lines.iter().find(|l| l.ends_with(&suffix)).unwrap();
    let id = line.strip_prefix("message ").unwrap().strip_suffix(&suffix).unwrap();
    (client, id.to_owned())
}

/// Starts a server, opens one client that will answer the close and one that will not, and
/// stops the server. Returns the stopping task, the ids (answering, silent) and the silent
/// client, which has read the 1001 close frame and does not answer it.
async fn stop_with_a_silent_client(
    ws: WsServer<Recorder>,
    recorder: &Recorder,
    drain_timeout: Duration,
) -> (JoinHandle<()>, [String; 2], TcpStream) {
    let server = TestServer::start_with(HttpServer::new(ws), |s| s.drain_timeout(drain_timeout)).await;
    let (mut answering, answering_id) = tagged_client(&server, recorder, "answering").await;
    let (mut silent, silent_id) = tagged_client(&server, recorder, "silent").await;
    let stopping = stop_in_background(server);
    assert_eq!(read_frame(&mut answering).await, going_away());
    answering.write_all(&close_frame(1001)).await.unwrap();
    assert_eq!(read_to_end(&mut answering).await, b"");
    drop(answering);
    assert_eq!(read_frame(&mut silent).await, going_away());
    (stopping, [answering_id, silent_id], silent)
}

#[tokio::test]
async fn a_client_that_never_answers_is_dropped_when_the_drain_timeout_passes() {
    let recorder = Recorder::default();
    let ws = WsServer::new(recorder.clone()).close_timeout(LONG);
    let (stopping, [answering, silent_id], mut silent) =
        stop_with_a_silent_client(ws, &recorder, SHORT).await;

    // The silent client never answers: the server drops it at the drain timeout.
    assert_eq!(read_to_end(&mut silent).await, b"");
    drop(silent);
    stopped(stopping).await;
    let mut closes = closes(&recorder);
    closes.sort();
    // Dropped without a close handshake: 1006, as `IoServer::drain_timeout` documents.
    let mut expected = [
        format!("close {answering} 1001 server shutting down clean"),
        format!("close {silent_id} 1006 server stopped before the close completed unclean"),
    ];
    expected.sort();
    assert_eq!(closes, expected);
}

#[tokio::test]
async fn a_client_that_never_answers_is_dropped_when_the_close_timeout_passes() {
    let recorder = Recorder::default();
    let ws = WsServer::new(recorder.clone()).close_timeout(SHORT);
    let (stopping, [answering, silent_id], mut silent) = stop_with_a_silent_client(ws, &recorder, LONG).await;

    assert_eq!(read_to_end(&mut silent).await, b"");
    drop(silent);
    stopped(stopping).await;
    let mut closes = closes(&recorder);
    closes.sort();
    // Our close was never answered: no close frame came back, so 1006 (RFC 6455 §7.1.5).
    let mut expected = [
        format!("close {answering} 1001 server shutting down clean"),
        format!("close {silent_id} 1006 no close frame received in time unclean"),
    ];
    expected.sort();
    assert_eq!(closes, expected);
}

/// Number of lines [`Flooder`] queues: 8 MB, more than the kernel holds for a client that is
/// not reading (a send buffer grows to at most 4 MiB here).
const FLOOD_LINES: usize = 80_000;

fn flood_line(i: usize) -> String {
    format!("line {i:05} {}", "x".repeat(88))
}

/// Over raw TCP: on the line `flood`, queues [`FLOOD_LINES`] lines; otherwise a [`Recorder`].
#[derive(Clone, Default)]
struct Flooder {
    recorder: Recorder,
}

impl MessageComponent for Flooder {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.recorder.on_open(conn).await
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        if msg.as_text() != Some("flood") {
            return self.recorder.on_message(conn, msg).await;
        }
        for i in 0..FLOOD_LINES {
            conn.send(flood_line(i))?;
        }
        let line = format!("flooded {}", conn.id());
        self.recorder.log.lock().unwrap().push(line);
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        self.recorder.on_close(conn, close).await;
    }
}

#[tokio::test]
async fn raw_tcp_connections_are_flushed_and_closed() {
    let flooder = Flooder::default();
    let recorder = flooder.recorder.clone();
    let app = LineServer::new(flooder).max_send_queue(64 << 20);
    let server = TestServer::start_with(app, |s| s.drain_timeout(LONG)).await;
    // A small receive buffer, so most of the flood is still queued in the server at shutdown.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut busy = socket.connect(server.addr).await.unwrap();
    let mut idle = tcp(server.addr).await;
    busy.write_all(b"flood\n").await.unwrap();
    recorder.wait_for(|l| l.starts_with("flooded ")).await;
    let ids = wait_opened(&recorder, 2).await;

    let stopping = stop_in_background(server);
    let expected: String = (0..FLOOD_LINES).map(|i| flood_line(i) + "\n").collect();
    let got = read_to_end(&mut busy).await;
    assert_eq!(got.len(), expected.len(), "lost or extra output");
    assert!(got == expected.as_bytes(), "output corrupted");
    assert_eq!(read_to_end(&mut idle).await, b"");
    drop((busy, idle));
    stopped(stopping).await;

    let mut expected: Vec<String> =
        ids.iter().map(|id| format!("close {id} 1001 server shutting down clean")).collect();
    let mut got = closes(&recorder);
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_connection_still_sending_its_request_head_is_dropped() {
    let recorder = Recorder::default();
    let app = HttpServer::new(WsServer::new(recorder.clone()).close_timeout(LONG)).handshake_timeout(LONG);
    let server = TestServer::start_with(app, |s| s.drain_timeout(LONG)).await;
    let mut half = tcp(server.addr).await;
    half.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    // Connections are accepted in order: once this later one is open, `half` was accepted too.
    let mut whole = raw_ws(server.addr, "/").await;

    let stopping = stop_in_background(server);
    assert_eq!(read_frame(&mut whole).await, going_away());
    whole.write_all(&close_frame(1001)).await.unwrap();
    assert_eq!(read_to_end(&mut whole).await, b"");
    drop(whole);
    // No response, no 408 after the handshake timeout: just closed, now.
    assert_eq!(read_to_end(&mut half).await, b"");
    drop(half);
    stopped(stopping).await;
    let ids = opened(&recorder);
    assert_eq!(ids.len(), 1, "the half-open connection never reached on_open");
    assert_eq!(closes(&recorder), [format!("close {} 1001 server shutting down clean", ids[0])]);
}

/// Connects, retrying while the server refuses, bounded by [`WAIT`].
async fn connect_when_accepted(server: &TestServer) -> Client {
    tokio::time::timeout(WAIT, async {
        loop {
            match tokio_tungstenite::connect_async(server.url("/")).await {
                Ok((ws, _)) => return ws,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("never accepted again")
}

/// A raw connection past the cap: sends an upgrade request and gets exactly the 503, then EOF.
async fn assert_refused(server: &TestServer) {
    let mut refused = tcp(server.addr).await;
    refused.write_all(upgrade_request("/", "").as_bytes()).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&read_to_end(&mut refused).await), String::from_utf8_lossy(REFUSAL));
}

#[tokio::test]
async fn max_connections_refuses_with_503_and_accepts_again_when_one_closes() {
    let recorder = Recorder::default();
    let app = HttpServer::new(WsServer::new(recorder.clone()));
    let server = TestServer::start_with(app, |s| s.max_connections(2)).await;
    let mut a = ws_client(&server).await;
    let mut b = ws_client(&server).await;
    echo(&mut a, "a1").await;
    echo(&mut b, "b1").await;

    assert_refused(&server).await;
    let connect = tokio_tungstenite::connect_async(server.url("/"));
    match tokio::time::timeout(WAIT, connect).await.expect("connect timed out") {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected a 503, got {other:?}"),
    }
    // The open ones are unaffected.
    echo(&mut a, "a2").await;
    echo(&mut b, "b2").await;

    let normal = CloseFrame { code: WsCloseCode::Normal, reason: "".into() };
    a.close(Some(normal)).await.unwrap();
    read_until_end(&mut a).await;
    drop(a);
    recorder.wait_for(|l| l.starts_with("close ") && l.ends_with(" 1000  clean")).await;
    let mut c = connect_when_accepted(&server).await;
    echo(&mut c, "c1").await;
    echo(&mut b, "b3").await;
    // Still two open: still capped.
    assert_refused(&server).await;
    assert_eq!(opened(&recorder).len(), 3, "refused connections never reach on_open");
    drop((b, c));
    server.stop().await;
}

/// Hands every connection's handle to the test; otherwise a [`Recorder`].
#[derive(Clone)]
struct Handles {
    handles: mpsc::UnboundedSender<ConnectionHandle>,
    recorder: Recorder,
}

impl MessageComponent for Handles {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        let _ = self.handles.send(conn.handle());
        self.recorder.on_open(conn).await
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        self.recorder.on_message(conn, msg).await
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        self.recorder.on_close(conn, close).await;
    }

    async fn on_error(&self, conn: &mut Connection, error: Error) {
        self.recorder.on_error(conn, error).await;
    }
}

#[tokio::test]
async fn nothing_follows_the_shutdown_close_frame() {
    let (tx, mut handles) = mpsc::unbounded_channel();
    let component = Handles { handles: tx, recorder: Recorder::default() };
    let app = HttpServer::new(WsServer::new(component).close_timeout(LONG));
    let server = TestServer::start_with(app, |s| s.drain_timeout(LONG)).await;
    let mut client = raw_ws(server.addr, "/").await;
    let handle = tokio::time::timeout(WAIT, handles.recv()).await.expect("on_open timed out").unwrap();

    let stopping = stop_in_background(server);
    assert_eq!(read_frame(&mut client).await, going_away());
    // The connection is closing: sends must fail (as `Connection::send` does), and no data
    // frame may follow a close frame (RFC 6455 §5.5.1).
    let late = handle.send("late");
    client.write_all(&close_frame(1001)).await.unwrap();
    let after_close = read_to_end(&mut client).await;
    drop(client);
    stopped(stopping).await;
    assert_eq!(late, Err(SendError::Closed));
    assert_eq!(after_close, b"");
}

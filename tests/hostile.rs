//! Hostile input, end to end over loopback: slow and oversized request heads, bad upgrades,
//! every framing violation, invalid UTF-8, oversized frames and messages (also from a peer
//! that keeps sending after it was refused), a deflate bomb, a peer that vanishes without a
//! FIN, a connection flood past `max_connections`, and a barrage of all of them while the
//! process's memory is watched.
//!
//! Every attack runs while a [`Healthy`] tokio-tungstenite client exchanges echoes with the
//! same server: before the attack, during it (checkpoints in the middle of each attack wait
//! for fresh echoes), and after it. Each of its echoes must come back within [`PROMPT`].
//!
//! The tests share the process with the memory test, which must measure alone: they hold
//! [`MEMORY`] for reading, the memory test holds it for writing.

mod support;

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use support::{ACCEPT, TestServer, WAIT, client_frame, read_head, rss_bytes, tcp, upgrade_request};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use windlass::proto::deflate::{DeflateConfig, Deflater, negotiate};
use windlass::{
    BoxError, CloseInfo, Connection, Error, HttpServer, IoServer, Message, MessageComponent, WsServer,
};

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// Longest a healthy client's echo may take, however hard the server is being attacked. Far
/// above a normal loopback round trip (well under a millisecond), so a loaded machine does not
/// trip it; an attack that stalls the server's other connections does.
const PROMPT: Duration = Duration::from_secs(3);

/// Handshake timeout of the servers that test slow heads.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(300);

/// Keep-alive interval and timeout of the servers that test vanishing peers.
const KEEP_ALIVE: Duration = Duration::from_millis(200);

/// The server's default message (and frame) limit.
const MAX_MESSAGE: usize = 1 << 20;

/// The exact bytes every WebSocket past `max_connections` gets before the server closes it.
const REFUSAL_503: &str =
    "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n";

/// Held for reading by every test but the memory test, which holds it for writing so that no
/// other test allocates while it measures.
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

// ---------------------------------------------------------------------------------------------
// The server side: an echo component that records what happened to each connection, keyed by
// the peer's port so that an attacker can find its own connection.

/// What happened to one connection, as the component saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Open,
    Message(usize),
    Error(String),
    Close { code: u16, reason: String, clean: bool },
}

/// Echoes every message and records every callback with the peer's port.
#[derive(Clone, Default)]
struct Watch {
    seen: Arc<Mutex<Vec<(u16, Seen)>>>,
}

impl Watch {
    fn record(&self, conn: &Connection, seen: Seen) {
        self.seen.lock().unwrap().push((conn.remote_addr().port(), seen));
    }

    /// Everything seen on the connection from local `port`.
    fn of(&self, port: u16) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|(p, _)| *p == port).map(|(_, s)| s.clone()).collect()
    }

    fn opened(&self) -> usize {
        self.seen.lock().unwrap().iter().filter(|(_, s)| *s == Seen::Open).count()
    }

    /// Waits (bounded by [`WAIT`]) for the `on_close` of the connection from `port`, and returns
    /// everything seen on it.
    async fn closed(&self, port: u16) -> Vec<Seen> {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let seen = self.of(port);
                if matches!(seen.last(), Some(Seen::Close { .. })) {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no on_close for port {port}; seen: {:?}", self.of(port)))
    }

    /// Waits (bounded) for `on_open` of the connection from `port`.
    async fn opened_port(&self, port: u16) {
        let found = tokio::time::timeout(WAIT, async {
            while !self.of(port).contains(&Seen::Open) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "no on_open for port {port}");
    }
}

impl MessageComponent for Watch {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.record(conn, Seen::Open);
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        self.record(conn, Seen::Message(msg.len()));
        conn.send(msg)?;
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        self.record(conn, Seen::Close { code: close.code.0, reason: close.reason, clean: close.clean });
    }

    async fn on_error(&self, conn: &mut Connection, error: Error) {
        self.record(conn, Seen::Error(error.to_string()));
    }
}

type App = HttpServer<WsServer<Watch>>;

/// Starts `HttpServer(WsServer(Watch))`, with `ws` and `http` applied to those layers.
async fn start(
    ws: impl FnOnce(WsServer<Watch>) -> WsServer<Watch>,
    http: impl FnOnce(App) -> App,
) -> (TestServer, Watch) {
    start_io(ws, http, |io| io).await
}

async fn start_io(
    ws: impl FnOnce(WsServer<Watch>) -> WsServer<Watch>,
    http: impl FnOnce(App) -> App,
    io: impl FnOnce(IoServer<App>) -> IoServer<App>,
) -> (TestServer, Watch) {
    let watch = Watch::default();
    let app = http(HttpServer::new(ws(WsServer::new(watch.clone()))));
    (TestServer::start_with(app, io).await, watch)
}

// ---------------------------------------------------------------------------------------------
// The healthy client.

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A well-behaved tokio-tungstenite client that exchanges echoes with the server in the
/// background, each within [`PROMPT`], for as long as an attack lasts.
struct Healthy {
    echoed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Client>,
}

impl Healthy {
    /// Connects, checks a few echoes (before the attack), and starts echoing in the background.
    async fn start(server: &TestServer) -> Self {
        let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(server.url("/")))
            .await
            .expect("healthy client: connect timed out")
            .expect("healthy client connects");
        for i in 0..3 {
            echo(&mut ws, &format!("before {i}")).await;
        }
        let echoed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (echoed, stop) = (Arc::clone(&echoed), Arc::clone(&stop));
            async move {
                let mut i = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    echo(&mut ws, &format!("during {i}")).await;
                    echoed.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                ws
            }
        });
        Self { echoed, stop, task }
    }

    /// Waits for two more echoes than have come back so far: the healthy client is being
    /// served at this point of the attack.
    async fn progress(&self) {
        let target = self.echoed.load(Ordering::Relaxed) + 2;
        let served = tokio::time::timeout(WAIT, async {
            while self.echoed.load(Ordering::Relaxed) < target && !self.task.is_finished() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        assert!(served.is_ok(), "the healthy client got no echoes for {WAIT:?} during the attack");
        assert!(!self.task.is_finished(), "the healthy client failed during the attack (see its panic)");
    }

    /// Stops the background echoes, checks a few more (after the attack), and closes cleanly.
    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let joined = tokio::time::timeout(WAIT, self.task).await.expect("the healthy client hung");
        let mut ws = joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        assert!(self.echoed.load(Ordering::Relaxed) > 0, "no echo at all during the attack");
        for i in 0..3 {
            echo(&mut ws, &format!("after {i}")).await;
        }
        tokio::time::timeout(WAIT, ws.close(None)).await.expect("close timed out").expect("close");
        // The server answers the close; the stream then ends.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, ws.next()).await {}
    }
}

/// One echo round trip; panics unless it completes within [`PROMPT`].
async fn echo(ws: &mut Client, text: &str) {
    let round_trip = async {
        ws.send(WsMessage::text(text)).await.expect("healthy client: send");
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                Some(Ok(reply)) => return reply,
                other => panic!("healthy client: stream ended or failed: {other:?}"),
            }
        }
    };
    let reply = tokio::time::timeout(PROMPT, round_trip)
        .await
        .unwrap_or_else(|_| panic!("healthy client: no echo of {text:?} within {PROMPT:?}"));
    assert_eq!(reply, WsMessage::text(text));
}

// ---------------------------------------------------------------------------------------------
// Wire helpers.

/// An error response as `HttpServer` and `WsServer` write it: header names as the `http`
/// crate keeps them (lowercase), `connection: close` last.
fn error_response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\ncontent-type: text/plain; charset=utf-8\r\n",
        body.len() + 1
    );
    for (name, value) in headers {
        let _ = write!(out, "{}: {value}\r\n", name.to_ascii_lowercase());
    }
    let _ = write!(out, "connection: close\r\n\r\n{body}\n");
    out
}

/// `count` small header lines.
fn many_headers(count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        let _ = write!(out, "X-Header-{i}: {i}\r\n");
    }
    out
}

/// A close frame exactly as the server sends it.
fn server_close(code: u16, reason: &str) -> Vec<u8> {
    let mut out = vec![0x88, (2 + reason.len()) as u8];
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
    out
}

/// Reads until the server closes its side. `Ok` means a FIN; an error (a reset) is returned as
/// such, so a test can tell the two apart. Bounded by [`WAIT`].
async fn read_until_eof(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut out)).await.expect("no EOF in time")?;
    Ok(out)
}

async fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .expect("timed out reading")
        .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    buf
}

/// A raw WebSocket connection; `extra` are additional request header lines. Returns the
/// stream and the response head.
async fn raw_upgrade(server: &TestServer, extra: &str) -> (TcpStream, String) {
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_request("/", extra).as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut stream).await;
    assert!(rest.is_empty(), "bytes after the 101: {rest:?}");
    (stream, head)
}

/// A raw WebSocket connection, opened (`on_open` has run). Returns it with its local port.
async fn raw_ws(server: &TestServer, watch: &Watch) -> (TcpStream, u16) {
    let (stream, head) = raw_upgrade(server, "").await;
    assert_eq!(
        head,
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        )
    );
    let port = stream.local_addr().unwrap().port();
    watch.opened_port(port).await;
    (stream, port)
}

/// Fails a fresh raw WebSocket with `input` and checks the RFC 6455 way of failing: exactly the
/// close frame with `code` and `reason`, then FIN (not a reset); the component sees `on_error`,
/// then `on_close` with the same code and reason, unclean, and no message. Checkpoints the
/// healthy client while the attacker is connected and after its close frame.
async fn assert_fails(
    server: &TestServer,
    watch: &Watch,
    healthy: &Healthy,
    input: &[u8],
    code: u16,
    reason: &str,
) {
    let (mut stream, port) = raw_ws(server, watch).await;
    healthy.progress().await;
    stream.write_all(input).await.unwrap();
    let expected = server_close(code, reason);
    assert_eq!(read_exactly(&mut stream, expected.len()).await, expected, "close frame for {input:02x?}");
    healthy.progress().await;
    assert_eq!(
        read_until_eof(&mut stream).await.expect("FIN, not a reset"),
        b"",
        "FIN after the close frame"
    );
    drop(stream);
    let reason = reason.to_owned();
    assert_eq!(
        watch.closed(port).await,
        [Seen::Open, Seen::Error(reason.clone()), Seen::Close { code, reason, clean: false }]
    );
}

/// Sends `request` on a fresh connection and checks the exact response and that the server
/// then closes with a FIN. Checkpoints the healthy client before reading the answer.
async fn assert_refused(server: &TestServer, healthy: &Healthy, request: &[u8], response: &str) {
    let mut stream = tcp(server.addr).await;
    stream.write_all(request).await.unwrap();
    healthy.progress().await;
    let answer = read_until_eof(&mut stream).await.expect("the response then FIN, not a reset");
    assert_eq!(support::strip_date(&String::from_utf8_lossy(&answer)), response);
}

/// Text that compresses to a few KiB and inflates to `len` bytes: a decompression bomb.
fn bomb(len: usize) -> bytes::Bytes {
    let config = DeflateConfig { level: 9, ..DeflateConfig::default() };
    let params = negotiate(["permessage-deflate"], &config).expect("offer accepted").params;
    Deflater::new(&params).compress(&vec![b'a'; len])
}

/// An 8 MiB bomb (8 KiB compressed), built once: compressing takes a while in debug builds.
fn bomb_8mib() -> &'static [u8] {
    static BOMB: OnceLock<bytes::Bytes> = OnceLock::new();
    BOMB.get_or_init(|| bomb(8 << 20))
}

/// A masked client frame with RSV1 set (a compressed message).
fn compressed_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = client_frame(fin, opcode, payload);
    frame[0] |= 0x40;
    frame
}

/// A masked frame header declaring `len` payload bytes, with the mask key 0 (so the payload
/// goes on the wire as it is).
fn header_declaring(opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0xFE);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xFF);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

// ---------------------------------------------------------------------------------------------
// The request head and the handshake.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_gets_408_when_the_handshake_timeout_passes() {
    let _shared = MEMORY.read().await;
    let (server, _watch) = start(|ws| ws, |http| http.handshake_timeout(HANDSHAKE_TIMEOUT)).await;
    let healthy = Healthy::start(&server).await;
    let expected = error_response("408 Request Timeout", &[], "request head not received in time");

    // A client that sends nothing at all.
    let started = Instant::now();
    let mut silent = tcp(server.addr).await;
    healthy.progress().await;
    let answer = read_until_eof(&mut silent).await.expect("408 then FIN");
    let elapsed = started.elapsed();
    assert_eq!(support::strip_date(&String::from_utf8_lossy(&answer)), expected);
    // The timer starts at accept, after the client's connect began, so it cannot fire earlier.
    assert!(elapsed >= HANDSHAKE_TIMEOUT, "408 after only {elapsed:?}");
    assert!(elapsed < HANDSHAKE_TIMEOUT + PROMPT, "408 only after {elapsed:?}");
    drop(silent);

    // Slowloris: a head that keeps arriving, one byte every 20 ms, but never ends. The timeout
    // covers the whole head, not each read.
    let started = Instant::now();
    let mut slow = tcp(server.addr).await;
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0; 512];
    let mut checked = false;
    loop {
        tokio::select! {
            read = slow.read(&mut buf) => match read.expect("408 then FIN, not a reset") {
                0 => break,
                n => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(20)), if answer.is_empty() => {
                // The writes may fail once the server has answered and closed.
                let _ = slow.write_all(b"X").await;
                if !checked && started.elapsed() > HANDSHAKE_TIMEOUT / 2 {
                    checked = true;
                    healthy.progress().await;
                }
            }
        }
        assert!(started.elapsed() < WAIT, "no 408 in time; got {:?}", String::from_utf8_lossy(&answer));
    }
    let elapsed = started.elapsed();
    assert_eq!(support::strip_date(&String::from_utf8_lossy(&answer)), expected);
    assert!(elapsed >= HANDSHAKE_TIMEOUT, "408 after only {elapsed:?}");
    assert!(elapsed < HANDSHAKE_TIMEOUT + PROMPT, "408 only after {elapsed:?}");
    drop(slow);
    healthy.finish().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_too_many_headers_get_431() {
    let _shared = MEMORY.read().await;
    let (server, watch) = start(|ws| ws, |http| http).await;
    let healthy = Healthy::start(&server).await;

    // A header line that never ends: 64 KiB, eight times the 8 KiB limit. The server answers as
    // soon as the limit is passed and discards the rest.
    let mut endless = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Filler: ".to_vec();
    endless.resize(64 * 1024, b'a');
    let too_large =
        error_response("431 Request Header Fields Too Large", &[], "request head exceeds 8192 bytes");
    assert_refused(&server, &healthy, &endless, &too_large).await;

    // A complete head of 9 KiB: a valid upgrade plus one long header.
    let long = upgrade_request("/", &format!("X-Filler: {}\r\n", "b".repeat(9 * 1024)));
    assert_refused(&server, &healthy, long.as_bytes(), &too_large).await;

    // 100 small headers, past the limit of 64 fields.
    let many = many_headers(100);
    let too_many =
        error_response("431 Request Header Fields Too Large", &[], "request has more than 64 header fields");
    assert_refused(&server, &healthy, upgrade_request("/", &many).as_bytes(), &too_many).await;

    assert_eq!(watch.opened(), 1, "only the healthy client got through");
    healthy.finish().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upgrades_get_400_426_and_405() {
    let _shared = MEMORY.read().await;
    let (server, watch) = start(|ws| ws, |http| http).await;
    let healthy = Healthy::start(&server).await;
    let valid = upgrade_request("/", "");

    let bad_key = valid.replace("dGhlIHNhbXBsZSBub25jZQ==", "not-a-valid-key");
    let expected = error_response(
        "400 Bad Request",
        &[],
        "missing or invalid Sec-WebSocket-Key: expected 16 bytes in base64",
    );
    assert_refused(&server, &healthy, bad_key.as_bytes(), &expected).await;
    // A key that is base64 but not of 16 bytes.
    let short_key = valid.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=");
    assert_refused(&server, &healthy, short_key.as_bytes(), &expected).await;

    let version_8 = valid.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    let expected = error_response(
        "426 Upgrade Required",
        &[("Sec-WebSocket-Version", "13")],
        "unsupported websocket version: only 13 is supported",
    );
    assert_refused(&server, &healthy, version_8.as_bytes(), &expected).await;

    let post = valid.replacen("GET", "POST", 1);
    let expected = error_response(
        "405 Method Not Allowed",
        &[("Allow", "GET")],
        "websocket upgrade must use GET, not POST",
    );
    assert_refused(&server, &healthy, post.as_bytes(), &expected).await;

    assert_eq!(watch.opened(), 1, "only the healthy client got through");
    healthy.finish().await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Framing.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_violations_close_with_1002() {
    let _shared = MEMORY.read().await;
    let (server, watch) = start(|ws| ws, |http| http).await;
    let healthy = Healthy::start(&server).await;
    let mut rsv1 = client_frame(true, TEXT, b"x");
    rsv1[0] |= 0x40;
    let mut rsv3 = client_frame(true, BINARY, b"x");
    rsv3[0] |= 0x10;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0x81, 0x02, b'h', b'i'], "client frame is not masked"),
        (client_frame(true, 0x3, b"x"), "reserved opcode 0x3"),
        (client_frame(true, 0xB, b"x"), "reserved opcode 0xb"),
        (rsv1, "reserved bits 0b100 set where no negotiated extension allows them"),
        (rsv3, "reserved bits 0b001 set where no negotiated extension allows them"),
        (client_frame(false, PING, b"x"), "fragmented control frame"),
        (client_frame(true, PING, &[b'p'; 126]), "control frame payload of 126 bytes exceeds 125"),
        (client_frame(true, CONTINUATION, b"orphan"), "continuation frame without a message in progress"),
        (
            [client_frame(false, TEXT, b"start"), client_frame(true, TEXT, b"restart")].concat(),
            "new data frame while a fragmented message is unfinished",
        ),
        (client_frame(true, CLOSE, &1005_u16.to_be_bytes()), "invalid close code 1005"),
        (client_frame(true, CLOSE, &999_u16.to_be_bytes()), "invalid close code 999"),
        (client_frame(true, CLOSE, &5000_u16.to_be_bytes()), "invalid close code 5000"),
    ];
    for (input, reason) in cases {
        assert_fails(&server, &watch, &healthy, &input, 1002, &format!("protocol error: {reason}")).await;
    }
    healthy.finish().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_closes_with_1007() {
    let _shared = MEMORY.read().await;
    let (server, watch) = start(|ws| ws, |http| http).await;
    let healthy = Healthy::start(&server).await;
    let reason = "protocol error: invalid UTF-8 in text";
    for input in [
        client_frame(true, TEXT, b"ok so far \xff"),
        // Invalid in the first fragment: fails before the message ends.
        client_frame(false, TEXT, b"\xc0\xaf"),
        [client_frame(false, TEXT, b"caf"), client_frame(true, CONTINUATION, b"\xc3")].concat(),
        client_frame(true, CLOSE, b"\x03\xe8bye \xff"),
    ] {
        assert_fails(&server, &watch, &healthy, &input, 1007, reason).await;
    }
    healthy.finish().await;
    server.stop().await;
}

/// Writes `input` from its own task, in 16 KiB chunks, ignoring errors (the server may close
/// first); the test reads meanwhile.
fn keep_sending(mut writer: tokio::net::tcp::OwnedWriteHalf, input: Vec<u8>) -> JoinHandle<()> {
    tokio::spawn(async move {
        for chunk in input.chunks(16 * 1024) {
            if writer.write_all(chunk).await.is_err() {
                return;
            }
        }
        // Keep the write side open until the test drops the read side.
        std::future::pending::<()>().await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_and_messages_close_with_1009_even_while_the_peer_keeps_sending() {
    const FRAME: usize = 16 * 1024;
    const LIMIT: usize = 64 * 1024;
    let _shared = MEMORY.read().await;
    let (server, watch) = start(|ws| ws.max_message_size(LIMIT).max_frame_size(FRAME), |http| http).await;
    let healthy = Healthy::start(&server).await;

    // The header alone is refused.
    let over = format!("protocol error: frame of {} bytes exceeds the limit of {FRAME}", FRAME + 1);
    assert_fails(&server, &watch, &healthy, &header_declaring(BINARY, FRAME as u64 + 1), 1009, &over).await;
    let message =
        format!("protocol error: message of at least {} bytes exceeds the limit of {LIMIT}", LIMIT + 1);
    let fragments = [
        client_frame(false, BINARY, &[1; FRAME]),
        client_frame(false, CONTINUATION, &[2; FRAME]),
        client_frame(false, CONTINUATION, &[3; FRAME]),
        client_frame(false, CONTINUATION, &[4; FRAME]),
        client_frame(true, CONTINUATION, &[5]),
    ]
    .concat();
    assert_fails(&server, &watch, &healthy, &fragments, 1009, &message).await;

    // A peer that declares 1 MiB and sends all of it after the header, and one that keeps
    // sending fragments past the limit: both still read the close frame and a FIN, not a reset
    // (which would destroy the close frame unread).
    let mut huge = header_declaring(BINARY, 1 << 20);
    huge.resize(huge.len() + (1 << 20), 0x5A);
    let huge_reason = format!("protocol error: frame of {} bytes exceeds the limit of {FRAME}", 1 << 20);
    let mut endless = fragments.clone();
    for _ in 0..64 {
        endless.extend(client_frame(false, CONTINUATION, &[6; FRAME]));
    }
    for (input, reason) in [(huge, huge_reason), (endless, message)] {
        let (stream, port) = raw_ws(&server, &watch).await;
        let (mut reader, writer) = stream.into_split();
        let sending = keep_sending(writer, input);
        healthy.progress().await;
        let expected = server_close(1009, &reason);
        let mut frame = vec![0; expected.len()];
        tokio::time::timeout(WAIT, reader.read_exact(&mut frame))
            .await
            .expect("no close frame in time")
            .expect("the close frame, not a reset");
        assert_eq!(frame, expected);
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, reader.read_to_end(&mut rest))
            .await
            .expect("no FIN in time")
            .expect("FIN, not a reset");
        assert_eq!(rest, b"");
        sending.abort();
        drop(reader);
        let seen = watch.closed(port).await;
        assert_eq!(seen.last(), Some(&Seen::Close { code: 1009, reason, clean: false }));
        assert!(!seen.iter().any(|s| matches!(s, Seen::Message(_))), "{seen:?}");
    }
    healthy.finish().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deflate_bomb_closes_with_1009_promptly() {
    let _shared = MEMORY.read().await;
    let bomb = tokio::task::spawn_blocking(bomb_8mib).await.unwrap();
    assert!(bomb.len() < 16 * 1024, "the bomb is {} bytes", bomb.len());
    let (server, watch) = start(|ws| ws.deflate(DeflateConfig::default()), |http| http).await;
    let healthy = Healthy::start(&server).await;
    let reason = format!(
        "protocol error: message of at least {} bytes exceeds the limit of {MAX_MESSAGE}",
        MAX_MESSAGE + 1
    );
    // In one frame, and spread over frames (each fragment within the limits).
    let one_frame = compressed_frame(true, TEXT, bomb);
    let mut fragmented = compressed_frame(false, BINARY, &bomb[..1024]);
    for chunk in bomb[1024..].chunks(1024) {
        fragmented.extend(client_frame(false, CONTINUATION, chunk));
    }
    fragmented.extend(client_frame(true, CONTINUATION, b""));
    for input in [one_frame, fragmented] {
        let (mut stream, head) =
            raw_upgrade(&server, "Sec-WebSocket-Extensions: permessage-deflate\r\n").await;
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            )
        );
        let port = stream.local_addr().unwrap().port();
        watch.opened_port(port).await;
        healthy.progress().await;
        let sent = Instant::now();
        stream.write_all(&input).await.unwrap();
        let expected = server_close(1009, &reason);
        assert_eq!(read_exactly(&mut stream, expected.len()).await, expected);
        let elapsed = sent.elapsed();
        assert!(elapsed < PROMPT, "the bomb took {elapsed:?} to be refused");
        healthy.progress().await;
        assert_eq!(read_until_eof(&mut stream).await.expect("FIN, not a reset"), b"");
        drop(stream);
        assert_eq!(
            watch.closed(port).await,
            [
                Seen::Open,
                Seen::Error(reason.clone()),
                Seen::Close { code: 1009, reason: reason.clone(), clean: false }
            ]
        );
    }
    healthy.finish().await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Peers that vanish, and floods.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_vanishes_without_fin_is_dropped_by_keep_alive_with_1006() {
    let _shared = MEMORY.read().await;
    let (server, watch) =
        start(|ws| ws.keep_alive(KEEP_ALIVE).keep_alive_timeout(KEEP_ALIVE), |http| http).await;
    let healthy = Healthy::start(&server).await;
    // The peer says one thing, then neither reads nor writes: as if its machine lost power.
    // Its socket stays open, so the server sees no FIN and no reset.
    let (mut stream, port) = raw_ws(&server, &watch).await;
    stream.write_all(&client_frame(true, TEXT, b"last words")).await.unwrap();
    assert_eq!(read_exactly(&mut stream, 12).await, b"\x81\x0alast words");
    let silent_since = Instant::now();
    healthy.progress().await;
    let seen = watch.closed(port).await;
    let elapsed = silent_since.elapsed();
    assert_eq!(
        seen,
        [
            Seen::Open,
            Seen::Message(10),
            Seen::Error("no response to keep-alive ping within 200ms".to_owned()),
            Seen::Close { code: 1006, reason: "keep-alive timeout".to_owned(), clean: false },
        ]
    );
    // Interval plus timeout is 400 ms; the rest is slack for a loaded machine.
    assert!(elapsed < 2 * KEEP_ALIVE + PROMPT, "dropped only after {elapsed:?}");
    // What the peer would find if it came back: the unanswered ping, then the end.
    assert_eq!(read_until_eof(&mut stream).await.expect("a FIN"), b"\x89\x00");
    healthy.finish().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_max_connections_is_refused_with_503_and_the_open_ones_are_unaffected() {
    const MAX: usize = 8;
    const FLOOD: usize = 64;
    let _shared = MEMORY.read().await;
    let (server, watch) = start_io(|ws| ws, |http| http, |io| io.max_connections(MAX)).await;
    let healthy = Healthy::start(&server).await;
    // Fill every other slot with raw WebSockets.
    let mut open = Vec::new();
    for _ in 1..MAX {
        open.push(raw_ws(&server, &watch).await.0);
    }
    // 64 connections at once: every one gets exactly the 503, then is closed. Half are silent
    // and see a FIN; half send an upgrade request first, as a real client would, and may see a
    // reset after the 503 (see the ignored test below).
    let flood: Vec<JoinHandle<(Vec<u8>, io::Result<usize>)>> = (0..FLOOD)
        .map(|i| {
            let addr = server.addr;
            tokio::spawn(async move {
                let mut stream = tcp(addr).await;
                if i % 2 == 1 {
                    // The server may have answered and closed already.
                    let _ = stream.write_all(upgrade_request("/", "").as_bytes()).await;
                }
                let mut answer = Vec::new();
                let end = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
                (answer, end.expect("not closed in time"))
            })
        })
        .collect();
    healthy.progress().await;
    for (i, result) in futures_util::future::join_all(flood).await.into_iter().enumerate() {
        let (answer, end) = result.unwrap();
        assert_eq!(String::from_utf8_lossy(&answer), REFUSAL_503, "flood connection {i}");
        if i % 2 == 0 {
            end.unwrap_or_else(|e| panic!("silent flood connection {i}: {e} instead of a FIN"));
        }
    }
    assert_eq!(watch.opened(), MAX, "refused connections never reach on_open");
    // The open ones still echo.
    for (i, stream) in open.iter_mut().enumerate() {
        let text = format!("still open {i}");
        stream.write_all(&client_frame(true, TEXT, text.as_bytes())).await.unwrap();
        let mut expected = vec![0x81, text.len() as u8];
        expected.extend_from_slice(text.as_bytes());
        assert_eq!(read_exactly(stream, expected.len()).await, expected);
    }
    healthy.finish().await;
    drop(open);
    server.stop().await;
}

/// A client refused at `max_connections` whose request the server had already received.
///
/// `IoServer` writes the 503 and drops the socket without reading: with the request unread,
/// the kernel sends a reset instead of a FIN. On Linux the 503 stays readable, but the client
/// sees `ECONNRESET` instead of an orderly end, and a client that is still writing its request
/// gets `EPIPE`/`ECONNRESET` on the write and may never read the 503. `HttpServer`'s own
/// refusals avoid exactly this by lingering (`respond_and_close`).
#[tokio::test]
async fn a_refused_client_that_already_sent_its_request_gets_the_503_then_a_fin() {
    let _shared = MEMORY.read().await;
    // max_connections(0): every connection is refused.
    let (server, _watch) = start_io(|ws| ws, |http| http, |io| io.max_connections(0)).await;
    // A blocking connect and write on this single-threaded runtime: the server's accept loop
    // cannot run until the request is in its socket's receive queue.
    let mut blocking = std::net::TcpStream::connect(server.addr).unwrap();
    std::io::Write::write_all(&mut blocking, upgrade_request("/", "").as_bytes()).unwrap();
    blocking.set_nonblocking(true).unwrap();
    let mut stream = TcpStream::from_std(blocking).unwrap();
    let mut answer = Vec::new();
    let end = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await.expect("not closed in time");
    assert_eq!(String::from_utf8_lossy(&answer), REFUSAL_503);
    end.expect("a FIN after the 503, not a reset");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Memory under a barrage.

/// Kinds of quick attack in the barrage's rotation.
const QUICK_ATTACKS: usize = 12;

/// One quick attack of kind `kind` against `addr`; checks just enough of the answer to know
/// the attack was handled as designed (the tests above check the exact bytes).
async fn quick_attack(addr: std::net::SocketAddr, kind: usize, bomb: &[u8]) {
    let status = |request: Vec<u8>, status: &'static str| async move {
        let mut stream = tcp(addr).await;
        stream.write_all(&request).await.unwrap();
        let answer = read_until_eof(&mut stream).await.expect("a response then FIN");
        assert!(answer.starts_with(status.as_bytes()), "{:?}", String::from_utf8_lossy(&answer));
    };
    let close = |extra: &'static str, input: Vec<u8>, code: u16| async move {
        let mut stream = tcp(addr).await;
        stream.write_all(upgrade_request("/", extra).as_bytes()).await.unwrap();
        let (head, _) = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        let (mut reader, writer) = stream.into_split();
        let sending = keep_sending(writer, input);
        let mut frame = [0; 4];
        tokio::time::timeout(WAIT, reader.read_exact(&mut frame))
            .await
            .expect("close in time")
            .expect("close");
        assert_eq!((frame[0], u16::from_be_bytes([frame[2], frame[3]])), (0x88, code));
        sending.abort();
    };
    let valid = upgrade_request("/", "");
    match kind {
        0 => {
            let mut endless = b"GET / HTTP/1.1\r\nX: ".to_vec();
            endless.resize(64 * 1024, b'a');
            status(endless, "HTTP/1.1 431 ").await;
        }
        1 => {
            status(upgrade_request("/", &many_headers(100)).into_bytes(), "HTTP/1.1 431 ").await;
        }
        2 => status(valid.replace(support::KEY, "bad").into_bytes(), "HTTP/1.1 400 ").await,
        3 => status(valid.replace("Version: 13", "Version: 8").into_bytes(), "HTTP/1.1 426 ").await,
        4 => status(valid.replacen("GET", "POST", 1).into_bytes(), "HTTP/1.1 405 ").await,
        5 => close("", vec![0x81, 0x02, b'h', b'i'], 1002).await,
        6 => close("", client_frame(true, 0x3, b"x"), 1002).await,
        7 => close("", client_frame(true, CONTINUATION, b"x"), 1002).await,
        8 => close("", client_frame(true, TEXT, b"\xff"), 1007).await,
        9 => {
            // Declares one byte more than allowed, then sends 256 KiB of it.
            let mut input = header_declaring(BINARY, MAX_MESSAGE as u64 + 1);
            input.resize(input.len() + 256 * 1024, 0);
            close("", input, 1009).await;
        }
        10 => {
            let mut input = client_frame(false, BINARY, &[0; 1024]);
            input.extend(header_declaring(CONTINUATION, MAX_MESSAGE as u64));
            close("", input, 1009).await;
        }
        _ => {
            let ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
            close(ext, compressed_frame(true, BINARY, bomb), 1009).await;
        }
    }
}

/// Connects a raw WebSocket, sends a header declaring a frame of `declared` bytes, then
/// trickles its payload a byte every 20 ms until `stop`. Over the limit, the server must have
/// refused it with 1009 at the header; at the limit, the server has to wait for the rest.
async fn trickle(addr: std::net::SocketAddr, declared: usize, stop: Arc<AtomicBool>) {
    let mut stream = tcp(addr).await;
    stream.write_all(upgrade_request("/", "").as_bytes()).await.unwrap();
    let (head, _) = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    stream.write_all(&header_declaring(BINARY, declared as u64)).await.unwrap();
    if declared > MAX_MESSAGE {
        let mut close = [0; 4];
        tokio::time::timeout(WAIT, stream.read_exact(&mut close)).await.expect("close in time").unwrap();
        assert_eq!((close[0], u16::from_be_bytes([close[2], close[3]])), (0x88, 1009));
    }
    while !stop.load(Ordering::Relaxed) {
        if stream.write_all(b"t").await.is_err() {
            // Closed by the server: after a refusal, once it stops lingering; at the limit, if a
            // stall under load looked like a dead peer to keep-alive. Either is fine here.
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A slow head and a vanishing peer, the attacks that take time: both end on the server's
/// timers.
async fn slow_attack(addr: std::net::SocketAddr, vanish: bool) {
    let mut stream = tcp(addr).await;
    if vanish {
        stream.write_all(upgrade_request("/", "").as_bytes()).await.unwrap();
        let (head, _) = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        // Never reads or writes again; the server pings, then drops it.
        let answer = read_until_eof(&mut stream).await.expect("dropped with a FIN");
        assert_eq!(answer, b"\x89\x00");
    } else {
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let answer = read_until_eof(&mut stream).await.expect("408 then FIN");
        assert!(answer.starts_with(b"HTTP/1.1 408 "), "{:?}", String::from_utf8_lossy(&answer));
    }
}

/// Runs the barrage: `tasks` tasks each running `rounds` quick attacks, 32 slow heads and 32
/// vanishing peers, and `tricklers` connections trickling a frame declared at the limit (half
/// of them) or one byte over it.
async fn barrage(addr: std::net::SocketAddr, tasks: usize, rounds: usize, tricklers: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let trickling: Vec<_> =
        (0..tricklers).map(|i| tokio::spawn(trickle(addr, MAX_MESSAGE + i % 2, Arc::clone(&stop)))).collect();
    let slow: Vec<_> = (0..64).map(|i| tokio::spawn(slow_attack(addr, i % 2 == 0))).collect();
    let quick: Vec<_> = (0..tasks)
        .map(|task| {
            tokio::spawn(async move {
                for round in 0..rounds {
                    quick_attack(addr, (task + round) % QUICK_ATTACKS, bomb_8mib()).await;
                }
            })
        })
        .collect();
    for result in futures_util::future::join_all(quick.into_iter().chain(slow)).await {
        result.expect("an attack task panicked");
    }
    stop.store(true, Ordering::Relaxed);
    for result in futures_util::future::join_all(trickling).await {
        result.expect("a trickler panicked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_a_barrage_of_attacks() {
    /// Tasks attacking at once, each running [`ROUNDS`] quick attacks one after another.
    const TASKS: usize = 8;
    const ROUNDS: usize = 48;
    /// Connections that each declare a frame of 1 MiB (the limit) or one byte more, and trickle
    /// it.
    const TRICKLERS: usize = 96;
    // What the server may legitimately hold at the peak, besides what it held before:
    // - each trickler's read buffer: the server reserves up to 256 KiB of read-ahead for a
    //   frame it was told is 1 MiB long, but only the pages the trickle fills become resident
    //   (unless the allocator hands out memory touched before), and the refused half hold none;
    // - each bomb being inflated: at most the 1 MiB message limit (plus one byte and one growth
    //   step), and at most TASKS of them at once, so 8 MiB;
    // - per connection task and buffers, a few KiB for about 170 connections open at once;
    // - allocator slack: freed chunks kept in per-thread arenas, test-harness allocations.
    // A debug build on Linux measured 5-9 MiB; 32 MiB leaves room for a loaded machine. A
    // server that buffered what peers declare rather than what they send would hold 48 MiB for
    // the 48 tricklers at the limit alone; one that inflated bombs whole would hold 8 MiB per
    // bomb, 64 MiB for eight at once.
    const BOUND: usize = 32 << 20;
    let _alone = MEMORY.write().await;
    let bomb = tokio::task::spawn_blocking(bomb_8mib).await.unwrap();
    assert!(bomb.len() < 16 * 1024);
    let (server, _watch) = start(
        |ws| ws.deflate(DeflateConfig::default()).keep_alive(KEEP_ALIVE).keep_alive_timeout(KEEP_ALIVE),
        |http| http.handshake_timeout(HANDSHAKE_TIMEOUT),
    )
    .await;
    let healthy = Healthy::start(&server).await;
    // A first, small barrage warms up what is allocated once: runtime and allocator arenas,
    // pooled inflaters, tungstenite's buffers.
    barrage(server.addr, TASKS, 2, 4).await;

    let before = rss_bytes();
    let peak = Arc::new(AtomicUsize::new(before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = std::thread::spawn({
        let (peak, sampling) = (Arc::clone(&peak), Arc::clone(&sampling));
        move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let started = Instant::now();
    let attack = barrage(server.addr, TASKS, ROUNDS, TRICKLERS);
    tokio::pin!(attack);
    let checkpoints = async {
        loop {
            healthy.progress().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        () = &mut attack => {}
        () = checkpoints => unreachable!(),
    }
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let growth = peak.load(Ordering::Relaxed).saturating_sub(before);
    eprintln!(
        "barrage of {} attacks took {took:?}; RSS {} MiB before, grew by {} KiB at the peak",
        TASKS * ROUNDS + 64 + TRICKLERS,
        before >> 20,
        growth >> 10
    );
    assert!(growth < BOUND, "RSS grew by {} MiB under the barrage; bound {} MiB", growth >> 20, BOUND >> 20);
    healthy.finish().await;
    server.stop().await;
}

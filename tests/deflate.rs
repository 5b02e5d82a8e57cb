//! permessage-deflate (RFC 7692) end to end, over raw sockets where the exact bytes matter.
//!
//! The client side of each connection is built from windlass's own `Deflater` and `Inflater`
//! with the parameters the server agreed: the client compresses with the client's window and
//! context policy, and inflates the server's frames with the server's. What the tests check is
//! what a client would notice: the exact `Sec-WebSocket-Extensions` response, RSV1 on exactly
//! the frames that are compressed, payloads that inflate to what was sent, frame sizes that
//! show whether context is kept, and the close codes for compressed input that is wrong.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use support::{
    ACCEPT, ServerFrame, TestServer, WAIT, client_frame, read_frame, read_head, tcp, upgrade_request,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use windlass::proto::deflate::{DeflateConfig, DeflateParams, Deflater, Inflater, negotiate};
use windlass::{
    BoxError, CloseInfo, Connection, ConnectionPool, Error, HttpServer, Message, MessageComponent, WsServer,
};

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const PING: u8 = 0x9;
/// RSV1: the message is compressed.
const RSV1: u8 = 0x40;

/// Largest message the client-side inflater accepts (the server's default limit).
const LIMIT: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// The server side.

/// Records every callback with the peer's port, and answers messages:
/// - `uncompressed:<text>`: sends `<text>` with `Connection::send_uncompressed`;
/// - `handle:<text>` / `handle-uncompressed:<text>`: sends `<text>` through a
///   `ConnectionHandle` with `send` / `send_uncompressed`;
/// - `broadcast:<text>`: sends `<text>` to every connection in its `ConnectionPool`;
/// - anything else is echoed with `Connection::send`.
#[derive(Clone, Default)]
struct Compressing {
    log: Arc<Mutex<Vec<(u16, String)>>>,
    pool: Arc<ConnectionPool>,
}

impl Compressing {
    fn record(&self, conn: &Connection, line: String) {
        self.log.lock().unwrap().push((conn.remote_addr().port(), line));
    }

    /// The lines recorded for the connection from local `port`.
    fn of(&self, port: u16) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|(p, _)| *p == port).map(|(_, l)| l.clone()).collect()
    }

    /// Waits (bounded) until the connection from `port` has `n` lines.
    async fn wait_lines(&self, port: u16, n: usize) -> Vec<String> {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let lines = self.of(port);
                if lines.len() >= n {
                    return lines;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out; lines for port {port}: {:?}", self.of(port)))
    }
}

impl MessageComponent for Compressing {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.pool.attach(conn);
        self.record(conn, "open".to_owned());
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        let Message::Text(text) = &msg else {
            self.record(conn, format!("binary {:?}", msg.as_bytes()));
            conn.send(msg)?;
            return Ok(());
        };
        self.record(conn, format!("text {}", text.as_str()));
        let (command, rest) = text.split_once(':').unwrap_or(("", ""));
        let rest = Message::text(rest);
        match command {
            "uncompressed" => conn.send_uncompressed(rest)?,
            "handle" => conn.handle().send(rest)?,
            "handle-uncompressed" => conn.handle().send_uncompressed(rest)?,
            "broadcast" => {
                self.pool.broadcast(rest);
            }
            _ => conn.send(msg)?,
        }
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        self.pool.detach(conn.id());
        let clean = if close.clean { "clean" } else { "unclean" };
        self.record(conn, format!("close {} {} {clean}", close.code, close.reason));
    }

    async fn on_error(&self, conn: &mut Connection, error: Error) {
        self.record(conn, format!("error {error}"));
    }
}

/// Starts `HttpServer(WsServer(Compressing))` with `config` agreed to clients that offer it
/// (`None`: the server does not offer permessage-deflate).
async fn start(config: Option<DeflateConfig>) -> (TestServer, Compressing) {
    let component = Compressing::default();
    let mut ws = WsServer::new(component.clone());
    if let Some(config) = config {
        ws = ws.deflate(config);
    }
    (TestServer::start(HttpServer::new(ws)).await, component)
}

// ---------------------------------------------------------------------------------------------
// The client side.

/// The exact 101 for the sample key, with `extensions` as the `Sec-WebSocket-Extensions` value.
fn switching_protocols(extensions: Option<&str>) -> String {
    let extensions = extensions.map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n")).unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n{extensions}\r\n"
    )
}

/// Sends an upgrade request with `extra` header lines; returns the stream and the 101 head.
async fn upgrade(server: &TestServer, extra: &str) -> (TcpStream, String) {
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_request("/", extra).as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut stream).await;
    assert!(rest.is_empty(), "bytes after the 101: {rest:?}");
    (stream, head)
}

/// A raw client that compresses and inflates with the parameters the server agreed.
struct Client {
    stream: TcpStream,
    port: u16,
    deflater: Deflater,
    inflater: Inflater,
}

impl Client {
    /// Offers `offer` to a server with `config`, checks the 101 carries exactly `response`, and
    /// waits for `on_open`.
    async fn connect(
        server: &TestServer,
        component: &Compressing,
        config: &DeflateConfig,
        offer: &str,
        response: &str,
    ) -> Self {
        let (stream, head) = upgrade(server, &format!("Sec-WebSocket-Extensions: {offer}\r\n")).await;
        assert_eq!(head, switching_protocols(Some(response)), "for the offer {offer:?}");
        let params =
            negotiate([offer], config).expect("the server agreed, so the offer is acceptable").params;
        let port = stream.local_addr().unwrap().port();
        component.wait_lines(port, 1).await;
        Self { stream, port, deflater: client_deflater(&params), inflater: client_inflater(&params) }
    }

    /// Sends `message` as one compressed, masked frame.
    async fn send_compressed(&mut self, opcode: u8, message: &[u8]) {
        let payload = self.deflater.compress(message);
        self.stream.write_all(&compressed_frame(true, opcode, &payload)).await.unwrap();
    }

    async fn send_plain(&mut self, opcode: u8, message: &[u8]) {
        self.stream.write_all(&client_frame(true, opcode, message)).await.unwrap();
    }

    async fn read(&mut self) -> ServerFrame {
        read_frame(&mut self.stream).await
    }

    /// Reads a compressed frame (`0xC0 | opcode`) and inflates it.
    async fn read_compressed(&mut self, opcode: u8) -> (ServerFrame, Vec<u8>) {
        let frame = self.read().await;
        assert_eq!(frame.b0, 0x80 | RSV1 | opcode, "expected a compressed frame, got {frame:?}");
        let inflated = inflate(&mut self.inflater, &frame.payload);
        (frame, inflated)
    }
}

/// The client's compressor: the client's window and context policy.
fn client_deflater(params: &DeflateParams) -> Deflater {
    Deflater::new(&DeflateParams {
        server_window_bits: params.client_window_bits,
        server_no_context_takeover: params.client_no_context_takeover,
        ..*params
    })
}

/// The client's decompressor: the server's window and context policy.
fn client_inflater(params: &DeflateParams) -> Inflater {
    Inflater::new(&DeflateParams {
        client_window_bits: params.server_window_bits,
        client_no_context_takeover: params.server_no_context_takeover,
        ..*params
    })
}

/// What the server's compressor produces for `message` with fresh state and `params`.
fn server_compressed(params: &DeflateParams, message: &[u8]) -> Vec<u8> {
    Deflater::new(params).compress(message).to_vec()
}

fn inflate(inflater: &mut Inflater, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    inflater.inflate(payload, &mut out, LIMIT).expect("the server's frame inflates");
    inflater.finish_message(&mut out, LIMIT).expect("the server's frame ends a message");
    out
}

/// A masked client frame with RSV1 set.
fn compressed_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = client_frame(fin, opcode, payload);
    frame[0] |= RSV1;
    frame
}

/// A close frame as the server sends it.
fn server_close(code: u16, reason: &str) -> ServerFrame {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    ServerFrame { b0: 0x88, payload }
}

/// `len` bytes of pseudo-random lowercase text: compresses, but not to almost nothing, so a
/// back-reference to an earlier copy is what makes a repeat small.
fn noise(len: usize, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

/// Reads until the server closes; panics on a reset or after [`WAIT`].
async fn read_to_fin(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
        .await
        .expect("no EOF in time")
        .expect("a FIN, not a reset");
    out
}

/// The client fails the connection with `input`: the server sends exactly a close frame with
/// `code` and `reason`, then FIN, and the component sees `on_error` then `on_close`, nothing
/// else.
async fn assert_fails(client: &mut Client, component: &Compressing, input: &[u8], code: u16, reason: &str) {
    let before = component.of(client.port).len();
    client.stream.write_all(input).await.unwrap();
    assert_eq!(client.read().await, server_close(code, reason));
    assert_eq!(read_to_fin(&mut client.stream).await, b"");
    let lines = component.wait_lines(client.port, before + 2).await;
    assert_eq!(lines[before..], [format!("error {reason}"), format!("close {code} {reason} unclean")]);
}

// ---------------------------------------------------------------------------------------------
// Negotiation.

#[tokio::test]
async fn the_101_carries_the_exact_extension_response_for_each_offer() {
    let config = DeflateConfig::default();
    let (server, _component) = start(Some(config)).await;
    let cases = [
        ("permessage-deflate", Some("permessage-deflate")),
        // What browsers send: the server may pick the client's window but keeps the default.
        ("permessage-deflate; client_max_window_bits", Some("permessage-deflate")),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        (
            "permessage-deflate; server_max_window_bits=10",
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        (
            "permessage-deflate; client_max_window_bits=12",
            Some("permessage-deflate; client_max_window_bits=12"),
        ),
        // An offer with an unknown parameter is declined; the fallback after it is taken.
        (
            "permessage-deflate; mystery=1, permessage-deflate; client_no_context_takeover",
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        ("x-webkit-deflate-frame, permessage-deflate", Some("permessage-deflate")),
        // A 256-byte window cannot be honoured, and there is no fallback: no extension.
        ("permessage-deflate; server_max_window_bits=8", None),
        ("permessage-deflate; server_max_window_bits=16", None),
    ];
    for (offer, response) in cases {
        let (mut stream, head) = upgrade(&server, &format!("Sec-WebSocket-Extensions: {offer}\r\n")).await;
        assert_eq!(head, switching_protocols(response), "for the offer {offer:?}");
        // Either way the connection works; without the extension a long message is not
        // compressed.
        let text = "x".repeat(300);
        stream.write_all(&client_frame(true, TEXT, text.as_bytes())).await.unwrap();
        let frame = read_frame(&mut stream).await;
        assert_eq!(frame.b0 & RSV1 != 0, response.is_some(), "for the offer {offer:?}: {frame:?}");
    }
    // The offer may also come as two header lines: the first is declined, the second taken.
    let (stream, head) = upgrade(
        &server,
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
    )
    .await;
    assert_eq!(head, switching_protocols(Some("permessage-deflate; server_no_context_takeover")));
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_wants_small_windows_says_so_when_the_client_allows_it() {
    let config = DeflateConfig { client_max_window_bits: 10, ..DeflateConfig::default() };
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate; client_max_window_bits";
    let response = "permessage-deflate; client_max_window_bits=10";
    let mut client = Client::connect(&server, &component, &config, offer, response).await;
    // The client compresses with a 1 KiB window as told; the server inflates that.
    let text = noise(3000, 1);
    client.send_compressed(TEXT, text.as_bytes()).await;
    let (_, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == text.as_bytes(), "echo differs");
    // A client that did not send client_max_window_bits cannot be told: nothing is said.
    let (stream, head) = upgrade(&server, "Sec-WebSocket-Extensions: permessage-deflate\r\n").await;
    assert_eq!(head, switching_protocols(Some("permessage-deflate")));
    drop((client, stream));
    server.stop().await;
}

#[tokio::test]
async fn the_server_compresses_with_the_window_it_agreed() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate; server_max_window_bits=10";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    // 1,500 bytes repeated: with a 32 KiB window the repeat would be a back-reference 1,500
    // bytes back, which a 1 KiB window cannot hold, and the client's 1 KiB inflater would fail.
    let block = noise(1500, 2);
    let text = format!("{block}{block}");
    client.send_plain(TEXT, text.as_bytes()).await;
    let (frame, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == text.as_bytes(), "echo differs");
    let params = negotiate([offer], &config).unwrap().params;
    assert_eq!(params.server_window_bits, 10);
    assert_eq!(frame.payload, server_compressed(&params, text.as_bytes()), "not compressed with 2^10");
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn without_deflate_an_offer_gets_no_extension_and_rsv1_is_a_protocol_error() {
    let (server, component) = start(None).await;
    let (stream, head) = upgrade(&server, "Sec-WebSocket-Extensions: permessage-deflate\r\n").await;
    assert_eq!(head, switching_protocols(None));
    let port = stream.local_addr().unwrap().port();
    component.wait_lines(port, 1).await;
    // Deflate state for a client that compresses although nothing was agreed.
    let params = negotiate(["permessage-deflate"], &DeflateConfig::default()).unwrap().params;
    let mut client =
        Client { stream, port, deflater: client_deflater(&params), inflater: client_inflater(&params) };
    // A long message comes back as it went.
    let text = noise(1000, 3);
    client.send_plain(TEXT, text.as_bytes()).await;
    assert_eq!(client.read().await, ServerFrame { b0: 0x81, payload: text.into_bytes() });
    // A compressed frame was never agreed.
    let payload = client.deflater.compress(b"compressed anyway");
    let reason = "protocol error: reserved bits 0b100 set where no negotiated extension allows them";
    assert_fails(&mut client, &component, &compressed_frame(true, TEXT, &payload), 1002, reason).await;
    drop(client);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Messages.

#[tokio::test]
async fn compressed_messages_are_delivered_inflated_and_echoed_compressed() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    // Three messages with context kept on both sides: the later ones refer to the earlier.
    let texts = [format!("héllo {}", "wörld ".repeat(100)), "héllo again".repeat(30), noise(4000, 4)];
    for text in &texts {
        client.send_compressed(TEXT, text.as_bytes()).await;
        let (_, echoed) = client.read_compressed(TEXT).await;
        assert!(echoed == text.as_bytes(), "echo of {} bytes differs", text.len());
    }
    // An empty message compressed (an empty stored block): delivered empty, and sent back as it
    // is, being under the threshold.
    client.stream.write_all(&compressed_frame(true, TEXT, &[0x00])).await.unwrap();
    assert_eq!(client.read().await, ServerFrame { b0: 0x81, payload: Vec::new() });
    // Binary, too.
    let bytes: Vec<u8> = (0..2000_u32).map(|i| (i % 7) as u8).collect();
    client.send_compressed(BINARY, &bytes).await;
    let (_, echoed) = client.read_compressed(BINARY).await;
    assert_eq!(echoed, bytes);
    // The component saw each message whole and inflated.
    let lines = component.wait_lines(client.port, 6).await;
    let mut expected = vec!["open".to_owned()];
    expected.extend(texts.iter().map(|t| format!("text {t}")));
    expected.push("text ".to_owned());
    expected.push(format!("binary {bytes:?}"));
    assert_eq!(lines, expected);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn with_client_no_context_takeover_each_message_inflates_alone() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate; client_no_context_takeover";
    // Several connections, so that the server's pooled inflaters are shared between them.
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(&server, &component, &config, offer, offer).await);
    }
    let text = noise(2000, 5);
    for round in 0..3 {
        for client in &mut clients {
            let message = format!("{round} {text}");
            client.send_compressed(TEXT, message.as_bytes()).await;
            let (_, echoed) = client.read_compressed(TEXT).await;
            assert!(echoed == message.as_bytes(), "echo differs");
        }
    }
    for client in &clients {
        assert_eq!(component.of(client.port).len(), 4, "open and three messages");
    }
    drop(clients);
    server.stop().await;
}

#[tokio::test]
async fn messages_below_the_threshold_are_sent_uncompressed() {
    let config = DeflateConfig::default();
    assert_eq!(config.threshold, 256);
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    // 255 bytes: sent as they are, RSV1 clear, whether they arrived compressed or not.
    let short = "s".repeat(255);
    client.send_plain(TEXT, short.as_bytes()).await;
    let frame = client.read().await;
    assert_eq!(frame, ServerFrame { b0: 0x81, payload: short.clone().into_bytes() });
    client.send_compressed(TEXT, short.as_bytes()).await;
    assert_eq!(client.read().await, frame);
    // 256 bytes: compressed.
    let long = "l".repeat(256);
    client.send_plain(TEXT, long.as_bytes()).await;
    let (frame, echoed) = client.read_compressed(TEXT).await;
    assert_eq!(echoed, long.as_bytes());
    assert!(frame.payload.len() < 20, "256 equal bytes compress to a few: {frame:?}");
    drop(client);
    server.stop().await;

    // With a threshold of 0 every message is compressed, even a tiny one.
    let config = DeflateConfig { threshold: 0, ..DeflateConfig::default() };
    let (server, component) = start(Some(config)).await;
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    for text in ["hi", "hi"] {
        client.send_plain(TEXT, text.as_bytes()).await;
        let (_, echoed) = client.read_compressed(TEXT).await;
        assert_eq!(echoed, text.as_bytes());
    }
    drop(client);
    server.stop().await;
}

/// With a threshold of 0 and context takeover, an empty message after a compressed one is still
/// echoed (an earlier version looped forever compressing it: a sync flush with no new input
/// produces no output). Empty messages are sent uncompressed, whatever the threshold.
///
/// The server runs on its own runtime in its own thread, so that a regression fails (after
/// [`WAIT`]) instead of hanging.
#[test]
fn an_empty_message_after_a_compressed_one_is_sent_with_threshold_0() {
    let config = DeflateConfig { threshold: 0, ..DeflateConfig::default() };
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (server, _component) = start(Some(config)).await;
            addr_tx.send(server.addr).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = addr_rx.recv_timeout(WAIT).expect("server started");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut stream = tcp(addr).await;
        let offer = "permessage-deflate";
        stream
            .write_all(upgrade_request("/", &format!("Sec-WebSocket-Extensions: {offer}\r\n")).as_bytes())
            .await
            .unwrap();
        let (head, _) = read_head(&mut stream).await;
        assert_eq!(head, switching_protocols(Some(offer)));
        let params = negotiate([offer], &config).unwrap().params;
        let mut inflater = client_inflater(&params);
        for text in ["hi", "", "hi"] {
            stream.write_all(&client_frame(true, TEXT, text.as_bytes())).await.unwrap();
            let frame = read_frame(&mut stream).await;
            if text.is_empty() {
                assert_eq!((frame.b0, frame.payload.len()), (0x81, 0), "{frame:?}");
            } else {
                assert_eq!(frame.b0, 0xC1, "{frame:?}");
                assert_eq!(inflate(&mut inflater, &frame.payload), text.as_bytes());
            }
        }
    });
}

#[tokio::test]
async fn send_uncompressed_clears_rsv1_from_the_connection_and_from_a_handle() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    let body = noise(1000, 6);
    for command in ["uncompressed", "handle-uncompressed"] {
        client.send_plain(TEXT, format!("{command}:{body}").as_bytes()).await;
        assert_eq!(client.read().await, ServerFrame { b0: 0x81, payload: body.clone().into_bytes() });
    }
    // The same through `send` on a handle is compressed, and the compressor's context runs on
    // across all of them in the order they went out.
    client.send_plain(TEXT, format!("handle:{body}").as_bytes()).await;
    let (frame, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == body.as_bytes(), "echo differs");
    client.send_compressed(TEXT, body.as_bytes()).await;
    let (again, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == body.as_bytes(), "echo differs");
    assert!(
        again.payload.len() < frame.payload.len() / 4,
        "{} then {}",
        frame.payload.len(),
        again.payload.len()
    );
    drop(client);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Context takeover.

#[tokio::test]
async fn with_context_takeover_a_repeated_message_compresses_to_a_few_bytes() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    let text = noise(2048, 7);
    client.send_plain(TEXT, text.as_bytes()).await;
    let (first, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == text.as_bytes());
    client.send_plain(TEXT, text.as_bytes()).await;
    let (second, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == text.as_bytes());
    // The first is about 5 bits per letter; the second is a back-reference to the first.
    assert!(first.payload.len() > 1024, "first frame: {} bytes", first.payload.len());
    assert!(second.payload.len() < 64, "second frame: {} bytes", second.payload.len());
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn with_server_no_context_takeover_a_repeated_message_is_sent_identically() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate; server_no_context_takeover";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    let text = noise(2048, 7);
    client.send_plain(TEXT, text.as_bytes()).await;
    let (first, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == text.as_bytes());
    client.send_plain(TEXT, text.as_bytes()).await;
    let (second, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == text.as_bytes());
    assert!(first.payload.len() > 1024, "first frame: {} bytes", first.payload.len());
    assert_eq!(second, first, "without context the same message compresses the same");
    let params = negotiate([offer], &config).unwrap().params;
    assert_eq!(first.payload, server_compressed(&params, text.as_bytes()));
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_broadcast_to_no_context_takeover_clients_is_the_same_bytes_for_all() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate; server_no_context_takeover";
    let mut stateless = Vec::new();
    for _ in 0..4 {
        stateless.push(Client::connect(&server, &component, &config, offer, offer).await);
    }
    // One client with context takeover and one without compression share the pool.
    let mut stateful =
        Client::connect(&server, &component, &config, "permessage-deflate", "permessage-deflate").await;
    let (mut plain, head) = upgrade(&server, "").await;
    assert_eq!(head, switching_protocols(None));
    component.wait_lines(plain.local_addr().unwrap().port(), 1).await;

    let text = noise(3000, 8);
    let params = negotiate([offer], &config).unwrap().params;
    for _ in 0..2 {
        stateless[0].send_plain(TEXT, format!("broadcast:{text}").as_bytes()).await;
        let mut frames = Vec::new();
        for client in &mut stateless {
            let (frame, inflated) = client.read_compressed(TEXT).await;
            assert!(inflated == text.as_bytes(), "broadcast differs");
            frames.push(frame);
        }
        assert!(frames.iter().all(|f| *f == frames[0]), "the frames differ between clients");
        assert_eq!(frames[0].payload, server_compressed(&params, text.as_bytes()));
        let (_, inflated) = stateful.read_compressed(TEXT).await;
        assert!(inflated == text.as_bytes(), "broadcast to the stateful client differs");
        assert_eq!(
            read_frame(&mut plain).await,
            ServerFrame { b0: 0x81, payload: text.clone().into_bytes() }
        );
    }
    drop((stateless, stateful, plain));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Fragmentation and errors.

#[tokio::test]
async fn a_fragmented_compressed_message_with_an_interleaved_ping_is_delivered_whole() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    let text = format!("fragmented {} é𝄞", noise(3000, 9));
    let payload = client.deflater.compress(text.as_bytes());
    let third = payload.len() / 3;
    // RSV1 on the first frame only; a ping between the fragments.
    let mut input = compressed_frame(false, TEXT, &payload[..third]);
    input.extend(client_frame(true, PING, b"mid"));
    input.extend(client_frame(false, CONTINUATION, &payload[third..2 * third]));
    input.extend(client_frame(false, CONTINUATION, b""));
    input.extend(client_frame(true, CONTINUATION, &payload[2 * third..]));
    client.stream.write_all(&input).await.unwrap();
    assert_eq!(client.read().await, ServerFrame { b0: 0x8A, payload: b"mid".to_vec() });
    let (_, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == text.as_bytes(), "echo differs");
    assert_eq!(component.wait_lines(client.port, 2).await, ["open".to_owned(), format!("text {text}")]);
    // And the context carries on into the next message.
    client.send_compressed(TEXT, text.as_bytes()).await;
    let (_, echoed) = client.read_compressed(TEXT).await;
    assert!(echoed == text.as_bytes(), "echo differs");
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn rsv1_on_a_continuation_or_a_control_frame_is_1002() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate";
    let reason = "protocol error: reserved bits 0b100 set where no negotiated extension allows them";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    let payload = client.deflater.compress(noise(600, 10).as_bytes());
    let mut input = compressed_frame(false, TEXT, &payload[..100]);
    input.extend(compressed_frame(true, CONTINUATION, &payload[100..]));
    assert_fails(&mut client, &component, &input, 1002, reason).await;
    client = Client::connect(&server, &component, &config, offer, offer).await;
    assert_fails(&mut client, &component, &compressed_frame(true, PING, b""), 1002, reason).await;
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn compressed_invalid_utf8_or_corrupt_data_is_1007() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let offer = "permessage-deflate";
    let mut client = Client::connect(&server, &component, &config, offer, offer).await;
    let payload = client.deflater.compress(b"valid until here: \xff\xfe");
    let input = compressed_frame(true, TEXT, &payload);
    assert_fails(&mut client, &component, &input, 1007, "protocol error: invalid UTF-8 in text").await;
    // 0xFF starts a DEFLATE block of the reserved type 3: not DEFLATE at all.
    client = Client::connect(&server, &component, &config, offer, offer).await;
    let input = compressed_frame(true, BINARY, &[0xFF, 0xFF, 0xFF, 0xFF]);
    assert_fails(&mut client, &component, &input, 1007, "protocol error: invalid compressed data").await;
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_tungstenite_client_without_deflate_works_against_a_deflate_server() {
    let config = DeflateConfig::default();
    let (server, component) = start(Some(config)).await;
    let (mut ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(server.url("/")))
        .await
        .expect("connect timed out")
        .expect("connects");
    assert!(response.headers().get("sec-websocket-extensions").is_none(), "{response:?}");
    for len in [10, 300, 70_000] {
        let text = noise(len, len as u64);
        ws.send(WsMessage::text(text.clone())).await.unwrap();
        let reply = tokio::time::timeout(WAIT, ws.next()).await.expect("echo timed out").unwrap().unwrap();
        assert_eq!(reply, WsMessage::text(text));
    }
    let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    ws.close(Some(bye)).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, ws.next()).await {}
    drop(ws);
    let port = component.log.lock().unwrap()[0].0;
    let lines = component.wait_lines(port, 5).await;
    assert_eq!(lines.len(), 5, "open, three messages, close");
    assert_eq!(lines[4], "close 1000 bye clean");
    server.stop().await;
}

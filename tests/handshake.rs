//! The opening handshake over loopback: every outcome with its exact status line and the
//! headers a client needs, sub-protocol negotiation, the HTTP limits, and what the component
//! sees of the upgrade request.

mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use support::{ACCEPT, KEY, Recorder, TestServer, WAIT, client_frame, raw_ws, read_head, read_to_end, tcp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use windlass::{BoxError, Connection, HttpServer, Message, MessageComponent, WsServer};

/// The headers of a valid upgrade request, in the order they are sent.
const VALID: [(&str, &str); 5] = [
    ("Host", "localhost"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
];

const EXACT_101: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// A request head: `method /path HTTP/1.1`, the headers, the blank line.
fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("\r\n");
    out
}

/// The valid upgrade request with header `name` replaced by `value`, or removed when `None`.
fn upgrade_with(name: &str, value: Option<&str>) -> String {
    let headers: Vec<(&str, &str)> =
        VALID
            .iter()
            .filter_map(|&(n, v)| {
                if n.eq_ignore_ascii_case(name) { value.map(|value| (n, value)) } else { Some((n, v)) }
            })
            .collect();
    request("GET", "/", &headers)
}

/// The valid upgrade request plus extra headers.
fn upgrade_plus(extra: &[(&str, &str)]) -> String {
    let mut headers = VALID.to_vec();
    headers.extend_from_slice(extra);
    request("GET", "/", &headers)
}

/// A refusal as read off the wire, up to the server closing the connection.
#[derive(Debug)]
struct Refusal {
    status_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Refusal {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends `bytes` on a fresh connection and reads the answer until the server closes. Checks what
/// every refusal must have: `Connection: close` and a body of exactly `Content-Length` bytes.
async fn refused(server: &TestServer, bytes: &[u8]) -> Refusal {
    let mut stream = tcp(server.addr).await;
    stream.write_all(bytes).await.unwrap();
    refusal_from(&mut stream).await
}

async fn refusal_from(stream: &mut TcpStream) -> Refusal {
    let (head, mut body) = read_head(stream).await;
    // read_to_end returning at all shows the server closed the connection.
    body.extend_from_slice(&read_to_end(stream).await);
    let mut lines = head.trim_end_matches("\r\n").split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(": ").unwrap_or_else(|| panic!("bad header line {line:?}"));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let refusal = Refusal { status_line, headers, body: String::from_utf8(body).expect("utf-8 body") };
    assert_eq!(refusal.header("Connection"), Some("close"), "{refusal:?}");
    assert_eq!(
        refusal.header("Content-Length"),
        Some(refusal.body.len().to_string().as_str()),
        "{refusal:?}"
    );
    refusal
}

async fn echo_server() -> TestServer {
    TestServer::start(HttpServer::new(WsServer::new(Recorder::default()))).await
}

/// A WebSocket client still gets through and is echoed.
async fn assert_serves(server: &TestServer) {
    let mut stream = raw_ws(server.addr, "/").await;
    stream.write_all(&client_frame(true, 0x1, b"still ok")).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 10).await, b"\x81\x08still ok");
}

async fn read_bytes(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf)).await.expect("timed out").expect("read");
    buf
}

/// Checks a refusal's status line (and that the server then still serves others).
async fn assert_refused(server: &TestServer, bytes: &[u8], status_line: &str) -> Refusal {
    let refusal = refused(server, bytes).await;
    assert_eq!(refusal.status_line, status_line, "for {:?}: {refusal:?}", String::from_utf8_lossy(bytes));
    assert_serves(server).await;
    refusal
}

const BAD_REQUEST: &str = "HTTP/1.1 400 Bad Request";

#[tokio::test]
async fn valid_upgrade_gets_the_exact_101() {
    let server = echo_server().await;
    // raw_ws asserts the exact response bytes and nothing after them.
    let mut first = raw_ws(server.addr, "/").await;
    first.write_all(&client_frame(true, 0x1, b"hi")).await.unwrap();
    assert_eq!(read_bytes(&mut first, 4).await, b"\x81\x02hi");
    drop(first);
    // The helper's request and VALID agree, so the rest of this file tests one thing at a time.
    let mut stream = tcp(server.addr).await;
    stream.write_all(request("GET", "/", &VALID).as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut stream).await, (EXACT_101.to_owned(), Vec::new()));
    assert!(EXACT_101.contains(ACCEPT));
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn header_names_and_tokens_are_case_insensitive_and_lists_are_split() {
    let server = echo_server().await;
    let variants = [
        upgrade_with("Connection", Some("keep-alive, Upgrade")),
        upgrade_with("Connection", Some("keep-alive,upgrade")),
        upgrade_with("Connection", Some("UPGRADE")),
        upgrade_with("Upgrade", Some("WebSocket")),
        upgrade_with("Upgrade", Some("websocket, h2c")),
        "GET / HTTP/1.1\r\nhost: localhost\r\nupgrade: WEBSOCKET\r\nconnection: Keep-Alive, Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n".to_owned(),
    ];
    for variant in variants {
        let mut stream = tcp(server.addr).await;
        stream.write_all(variant.as_bytes()).await.unwrap();
        let (head, rest) = read_head(&mut stream).await;
        assert_eq!(head, EXACT_101, "for {variant:?}");
        assert!(rest.is_empty());
        stream.write_all(&client_frame(true, 0x1, b"ok")).await.unwrap();
        assert_eq!(read_bytes(&mut stream, 4).await, b"\x81\x02ok");
    }
    server.stop().await;
}

#[tokio::test]
async fn post_is_405_with_allow_get() {
    let server = echo_server().await;
    let upgrade_post = request("POST", "/", &VALID);
    let refusal = assert_refused(&server, upgrade_post.as_bytes(), "HTTP/1.1 405 Method Not Allowed").await;
    assert_eq!(refusal.header("Allow"), Some("GET"));
    let plain_post = request("POST", "/", &[("Host", "localhost"), ("Content-Length", "0")]);
    let refusal = assert_refused(&server, plain_post.as_bytes(), "HTTP/1.1 405 Method Not Allowed").await;
    assert_eq!(refusal.header("Allow"), Some("GET"));
    server.stop().await;
}

#[tokio::test]
async fn plain_get_is_426_with_upgrade_websocket() {
    let server = echo_server().await;
    let plain = request("GET", "/", &[("Host", "localhost"), ("Accept", "text/html")]);
    let refusal = assert_refused(&server, plain.as_bytes(), "HTTP/1.1 426 Upgrade Required").await;
    assert_eq!(refusal.header("Upgrade"), Some("websocket"));
    assert_eq!(refusal.header("Sec-WebSocket-Version"), Some("13"));
    assert!(!refusal.body.is_empty(), "the body says what to do");
    server.stop().await;
}

#[tokio::test]
async fn version_other_than_13_is_426_naming_13() {
    let server = echo_server().await;
    for version in ["8", "12", "14", "13, 8"] {
        let bad = upgrade_with("Sec-WebSocket-Version", Some(version));
        let refusal = assert_refused(&server, bad.as_bytes(), "HTTP/1.1 426 Upgrade Required").await;
        assert_eq!(refusal.header("Sec-WebSocket-Version"), Some("13"), "version {version}");
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_or_missing_key_is_400() {
    let server = echo_server().await;
    let cases = [
        upgrade_with("Sec-WebSocket-Key", None),
        upgrade_with("Sec-WebSocket-Key", Some("short")),
        // 15 bytes in base64, not 16.
        upgrade_with("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAA")),
        // 24 characters but not base64.
        upgrade_with("Sec-WebSocket-Key", Some("!!!!!!!!!!!!!!!!!!!!!!==")),
        // Two keys.
        upgrade_plus(&[("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEA==")]),
    ];
    for case in cases {
        assert_refused(&server, case.as_bytes(), BAD_REQUEST).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn missing_upgrade_connection_host_or_version_is_400() {
    let server = echo_server().await;
    let cases = [
        upgrade_with("Upgrade", None),
        upgrade_with("Upgrade", Some("h2c")),
        upgrade_with("Connection", None),
        upgrade_with("Connection", Some("keep-alive")),
        upgrade_with("Connection", Some("upgraded")),
        upgrade_with("Host", None),
        upgrade_with("Sec-WebSocket-Version", None),
    ];
    for case in cases {
        assert_refused(&server, case.as_bytes(), BAD_REQUEST).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn http_versions_other_than_1_1_are_505() {
    let server = echo_server().await;
    for version in ["HTTP/1.0", "HTTP/2.0"] {
        let head = upgrade_with("Host", Some("localhost")).replacen("HTTP/1.1", version, 1);
        assert_refused(&server, head.as_bytes(), "HTTP/1.1 505 HTTP Version Not Supported").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_request_lines_are_400() {
    let server = echo_server().await;
    let cases: [&[u8]; 5] = [
        b"GARBAGE\r\n\r\n",
        b"GET\x01 / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost localhost\r\n\r\n",
        // A TLS ClientHello sent to a plain-text port.
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ];
    for case in cases {
        assert_refused(&server, case, BAD_REQUEST).await;
    }
    server.stop().await;
}

const TOO_LARGE: &str = "HTTP/1.1 431 Request Header Fields Too Large";

#[tokio::test]
async fn head_over_8_kib_is_431() {
    let server = echo_server().await;
    let pad = "a".repeat(9 * 1024);
    let big = upgrade_plus(&[("X-Pad", &pad)]);
    assert_refused(&server, big.as_bytes(), TOO_LARGE).await;
    // Just under the default limit is fine.
    let pad = "a".repeat(7 * 1024);
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_plus(&[("X-Pad", &pad)]).as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut stream).await.0, EXACT_101);
    drop(stream);
    server.stop().await;
}

/// A request of exactly `len` bytes (padded with an `X-Pad` header).
fn upgrade_of_len(len: usize) -> String {
    let base = upgrade_plus(&[("X-Pad", "")]).len();
    let out = upgrade_plus(&[("X-Pad", &"p".repeat(len - base))]);
    assert_eq!(out.len(), len);
    out
}

#[tokio::test]
async fn max_head_bytes_is_inclusive() {
    let server =
        TestServer::start(HttpServer::new(WsServer::new(Recorder::default())).max_head_bytes(512)).await;
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_of_len(512).as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut stream).await.0, EXACT_101, "a head of exactly the limit is accepted");
    drop(stream);
    assert_refused(&server, upgrade_of_len(513).as_bytes(), TOO_LARGE).await;
    // A head that never ends is cut off at the limit, not read forever.
    let mut stream = tcp(server.addr).await;
    stream.write_all(b"GET / HTTP/1.1\r\nX-Endless: ").await.unwrap();
    stream.write_all(&[b'z'; 600]).await.unwrap();
    assert_eq!(refusal_from(&mut stream).await.status_line, TOO_LARGE);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn more_than_64_headers_is_431() {
    let server = echo_server().await;
    let names: Vec<String> = (0..60).map(|i| format!("X-Extra-{i}")).collect();
    let extra: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    // Five required headers plus 59 = 64: accepted.
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_plus(&extra[..59]).as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut stream).await.0, EXACT_101);
    drop(stream);
    // 65: refused.
    assert_refused(&server, upgrade_plus(&extra).as_bytes(), TOO_LARGE).await;
    server.stop().await;
}

#[tokio::test]
async fn max_headers_is_configurable() {
    let server = TestServer::start(HttpServer::new(WsServer::new(Recorder::default())).max_headers(6)).await;
    assert_refused(&server, upgrade_plus(&[("A", "1"), ("B", "2")]).as_bytes(), TOO_LARGE).await;
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_plus(&[("A", "1")]).as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut stream).await.0, EXACT_101);
    drop(stream);
    server.stop().await;
}

const TIMEOUT_408: &str = "HTTP/1.1 408 Request Timeout";

#[tokio::test]
async fn slow_head_is_408_after_the_handshake_timeout() {
    let server = TestServer::start(
        HttpServer::new(WsServer::new(Recorder::default())).handshake_timeout(Duration::from_millis(300)),
    )
    .await;
    let started = Instant::now();
    let mut stream = tcp(server.addr).await;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let refusal = refusal_from(&mut stream).await;
    let elapsed = started.elapsed();
    assert_eq!(refusal.status_line, TIMEOUT_408);
    // Not before the timeout; and long before the 10 s default (generous for a busy machine).
    assert!(elapsed >= Duration::from_millis(290), "408 after only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "408 only after {elapsed:?}");

    // A client that sends nothing at all gets the same.
    let mut silent = tcp(server.addr).await;
    assert_eq!(refusal_from(&mut silent).await.status_line, TIMEOUT_408);
    drop((stream, silent));
    assert_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn trickling_bytes_does_not_extend_the_handshake_timeout() {
    let server = TestServer::start(
        HttpServer::new(WsServer::new(Recorder::default())).handshake_timeout(Duration::from_millis(300)),
    )
    .await;
    let started = Instant::now();
    let stream = tcp(server.addr).await;
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 50 ms: a slowloris that would take 5 s to finish its head.
    let trickle = tokio::spawn(async move {
        for &byte in upgrade_with("Host", Some("localhost")).as_bytes().iter().take(100) {
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, async {
        let mut chunk = [0u8; 512];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("no response to a trickling client");
    let elapsed = started.elapsed();
    assert!(
        response.starts_with(format!("{TIMEOUT_408}\r\n").as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&response)
    );
    assert!(elapsed < Duration::from_secs(4), "408 only after {elapsed:?}");
    trickle.abort();
    server.stop().await;
}

#[tokio::test]
async fn frames_pipelined_with_the_upgrade_are_not_lost() {
    let server = echo_server().await;
    let mut stream = tcp(server.addr).await;
    let mut burst = support::upgrade_request("/", "").into_bytes();
    burst.extend_from_slice(&client_frame(true, 0x1, b"one"));
    burst.extend_from_slice(&client_frame(true, 0x2, &[1, 2, 3]));
    burst.extend_from_slice(&client_frame(true, 0x9, b"p"));
    stream.write_all(&burst).await.unwrap();
    let (head, mut rest) = read_head(&mut stream).await;
    assert_eq!(head, EXACT_101);
    let expected: &[u8] = b"\x81\x03one\x82\x03\x01\x02\x03\x8a\x01p";
    assert!(rest.len() <= expected.len(), "{rest:?}");
    let more = read_bytes(&mut stream, expected.len() - rest.len()).await;
    rest.extend_from_slice(&more);
    assert_eq!(rest, expected);
    drop(stream);
    server.stop().await;
}

/// Speaks `chat.v2` (preferred) and `chat.v1`; tells the client what was negotiated.
#[derive(Clone, Copy)]
struct Protocols;

impl MessageComponent for Protocols {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        conn.send(format!("protocol={}", conn.protocol().unwrap_or("none")))?;
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        conn.send(msg)?;
        Ok(())
    }

    fn sub_protocols(&self) -> &[&'static str] {
        &["chat.v2", "chat.v1"]
    }
}

/// Upgrades with `extra` headers; returns the response head and the component's first message.
async fn negotiate(server: &TestServer, extra: &[(&str, &str)]) -> (String, String) {
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_plus(extra).as_bytes()).await.unwrap();
    let (head, mut rest) = read_head(&mut stream).await;
    while rest.len() < 2 || rest.len() < 2 + usize::from(rest[1]) {
        let mut chunk = [0u8; 256];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the first message");
        rest.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(rest[0], 0x81);
    (head, String::from_utf8(rest[2..].to_vec()).unwrap())
}

fn exact_101_with(protocol: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
    )
}

#[tokio::test]
async fn sub_protocol_is_the_first_offered_that_the_component_speaks() {
    let server = TestServer::start(HttpServer::new(WsServer::new(Protocols))).await;
    // The client's order wins over the component's preference.
    let (head, seen) = negotiate(&server, &[("Sec-WebSocket-Protocol", "unknown, chat.v1, chat.v2")]).await;
    assert_eq!(head, exact_101_with("chat.v1"));
    assert_eq!(seen, "protocol=chat.v1");
    // Offers may be spread over several header lines.
    let offers = [("Sec-WebSocket-Protocol", "unknown"), ("Sec-WebSocket-Protocol", "chat.v2")];
    let (head, seen) = negotiate(&server, &offers).await;
    assert_eq!(head, exact_101_with("chat.v2"));
    assert_eq!(seen, "protocol=chat.v2");
    // Protocol names are case-sensitive tokens.
    let (head, seen) = negotiate(&server, &[("Sec-WebSocket-Protocol", "CHAT.V1")]).await;
    assert_eq!(head, EXACT_101);
    assert_eq!(seen, "protocol=none");
    server.stop().await;
}

#[tokio::test]
async fn lenient_mode_proceeds_without_a_protocol_header() {
    let server = TestServer::start(HttpServer::new(WsServer::new(Protocols))).await;
    let (head, seen) = negotiate(&server, &[("Sec-WebSocket-Protocol", "mqtt, wamp")]).await;
    assert_eq!(head, EXACT_101, "no Sec-WebSocket-Protocol header when nothing matched");
    assert_eq!(seen, "protocol=none");
    server.stop().await;
}

#[tokio::test]
async fn strict_mode_refuses_unsupported_protocols_with_400() {
    let server =
        TestServer::start(HttpServer::new(WsServer::new(Protocols).strict_sub_protocols(true))).await;
    let offer = upgrade_plus(&[("Sec-WebSocket-Protocol", "mqtt, wamp")]);
    let refusal = refused(&server, offer.as_bytes()).await;
    assert_eq!(refusal.status_line, BAD_REQUEST);
    assert!(refusal.header("Sec-WebSocket-Protocol").is_none());
    // A match still succeeds, and a client that offers nothing is not refused.
    let (head, seen) = negotiate(&server, &[("Sec-WebSocket-Protocol", "mqtt, chat.v2")]).await;
    assert_eq!(head, exact_101_with("chat.v2"));
    assert_eq!(seen, "protocol=chat.v2");
    let (head, seen) = negotiate(&server, &[]).await;
    assert_eq!(head, EXACT_101);
    assert_eq!(seen, "protocol=none");
    server.stop().await;
}

/// Reports what it sees of the upgrade request as its first message.
#[derive(Clone, Copy)]
struct Inspector;

impl MessageComponent for Inspector {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        let request = conn.request().ok_or("no request over WebSocket")?;
        let report = format!(
            "method={} path={} query={} x-client={} session={:?} theme={:?} missing={:?} protocol={:?} remote={}",
            request.method(),
            request.uri().path(),
            request.uri().query().unwrap_or(""),
            request.headers().get("x-client").and_then(|v| v.to_str().ok()).unwrap_or(""),
            conn.cookie("session"),
            conn.cookie("theme"),
            conn.cookie("missing"),
            conn.protocol(),
            conn.remote_addr(),
        );
        conn.send(report)?;
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        conn.send(msg)?;
        Ok(())
    }

    fn sub_protocols(&self) -> &[&'static str] {
        &["chat.v2", "chat.v1"]
    }
}

#[tokio::test]
async fn tungstenite_client_and_the_request_the_component_sees() {
    let server = TestServer::start(HttpServer::new(WsServer::new(Inspector))).await;
    let mut request = server.url("/rooms/lobby?user=ann&lang=en").into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("Cookie", "theme=dark; session=abc123".parse().unwrap());
    headers.insert("X-Client", "windlass-tests".parse().unwrap());
    headers.insert("Sec-WebSocket-Protocol", "chat.v1, chat.v2".parse().unwrap());
    let (mut ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect timed out")
        .expect("connect");
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");
    let local = match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().unwrap(),
        _ => unreachable!("plain ws://"),
    };
    let first = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(
        first,
        tungstenite::Message::text(format!(
            "method=GET path=/rooms/lobby query=user=ann&lang=en x-client=windlass-tests session=Some(\"abc123\") theme=Some(\"dark\") missing=None protocol=Some(\"chat.v1\") remote={local}"
        ))
    );
    futures_util::SinkExt::send(&mut ws, tungstenite::Message::text("echo?")).await.unwrap();
    let echo = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo, tungstenite::Message::text("echo?"));
    ws.close(None).await.unwrap();
    // The server answers the close (an empty close echoes as an empty close) and ends the stream.
    let reply = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(reply, tungstenite::Message::Close(None));
    assert!(tokio::time::timeout(WAIT, ws.next()).await.unwrap().is_none());
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn offered_extensions_are_not_accepted() {
    let server = echo_server().await;
    let mut stream = tcp(server.addr).await;
    let offer = upgrade_plus(&[("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]);
    stream.write_all(offer.as_bytes()).await.unwrap();
    // No Sec-WebSocket-Extensions in the answer: the client must not compress (RSV1 is a 1002).
    assert_eq!(read_head(&mut stream).await, (EXACT_101.to_owned(), Vec::new()));
    drop(stream);
    server.stop().await;
}

/// Answers each message with what it can still see of the upgrade request.
struct RequestAfterOpen;

impl MessageComponent for RequestAfterOpen {
    async fn on_message(&self, conn: &mut Connection, _: Message) -> Result<(), BoxError> {
        let seen = conn.request().map_or("request gone".to_owned(), |r| format!("request {}", r.uri()));
        conn.send(seen)?;
        Ok(())
    }
}

#[tokio::test]
async fn the_request_is_released_after_on_open_unless_kept() {
    for (server, expected) in [
        (WsServer::new(RequestAfterOpen), "request gone"),
        (WsServer::new(RequestAfterOpen).keep_request(true), "request /room?x=1"),
    ] {
        let server = TestServer::start(HttpServer::new(server)).await;
        let mut stream = raw_ws(server.addr, "/room?x=1").await;
        stream.write_all(&client_frame(true, 0x1, b"?")).await.unwrap();
        let mut reply = vec![0u8; 2 + expected.len()];
        tokio::time::timeout(WAIT, stream.read_exact(&mut reply)).await.unwrap().unwrap();
        assert_eq!(&reply[2..], expected.as_bytes());
        drop(stream);
        server.stop().await;
    }
}

//! `/metrics` after a scripted scenario reports exactly what happened: handshakes by status,
//! messages and bytes both ways, queue overflows by policy, closes by code, and no connection
//! left open.
//!
//! One test function: the recorder is global to the process.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{TestServer, WAIT, client_frame, raw_ws, read_frame, read_to_end, tcp};
use tokio::io::AsyncWriteExt as _;
use windlass::{
    BoxError, Connection, HttpServer, Message, MessageComponent, Metrics, MetricsError, Router, SlowConsumer,
    StaticResponse, WsServer,
};

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;

/// Echoes; `panic` panics (1011); `flood` sends five 10-byte messages at once.
struct Echo;

impl MessageComponent for Echo {
    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        match msg.as_text() {
            Some("panic") => panic!("scripted panic"),
            Some("flood") => {
                for i in 0..5 {
                    conn.send(format!("flood-{i:04}"))?;
                }
            }
            _ => conn.send(msg)?,
        }
        Ok(())
    }
}

/// `request` with `Connection: close` added, so that the server closes after its answer (plain
/// requests are otherwise kept alive). Upgrade requests are left as they are.
fn closing(request: &str) -> String {
    if request.contains("Upgrade: websocket") {
        request.to_owned()
    } else {
        request.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
    }
}

async fn http(server: &TestServer, request: &str) -> String {
    let mut stream = tcp(server.addr).await;
    stream.write_all(closing(request).as_bytes()).await.unwrap();
    String::from_utf8(read_to_end(&mut stream).await).unwrap()
}

fn close_payload(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// The `windlass_*` samples of a Prometheus text page: `name{labels}` to value.
fn samples(page: &str) -> BTreeMap<String, String> {
    page.lines()
        .filter(|line| line.starts_with("windlass_"))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            (series.to_owned(), value.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn metrics_report_a_scripted_scenario_exactly() {
    let metrics = Metrics::install().expect("first install");
    assert!(matches!(Metrics::install(), Err(MetricsError::RecorderAlreadyInstalled)));

    let feed = WsServer::new(Echo).max_send_queue(16).slow_consumer(SlowConsumer::DropMessage);
    let router = Router::new()
        .route("/chat", WsServer::new(Echo))
        .route("/feed", feed)
        .route("/metrics", metrics.clone())
        .route("/", StaticResponse::new("text/plain", "hi"));
    let server = TestServer::start(HttpServer::new(router)).await;

    // Three clients each send two messages, read the echoes and close with 1000.
    // In: 2 × 11-byte frames + an 8-byte close; out: 2 × 7 + 4.
    for _ in 0..3 {
        let mut ws = raw_ws(server.addr, "/chat").await;
        for _ in 0..2 {
            ws.write_all(&client_frame(true, TEXT, b"hello")).await.unwrap();
            assert_eq!(read_frame(&mut ws).await.payload, b"hello");
        }
        ws.write_all(&client_frame(true, CLOSE, &close_payload(1000))).await.unwrap();
        assert_eq!(read_frame(&mut ws).await.close_code(), Some(1000));
        assert!(read_to_end(&mut ws).await.is_empty());
    }

    // A panic in `on_message`: 1011 "internal error" (a 18-byte frame); the client answers.
    // In: 11 + 8; out: 18.
    let mut ws = raw_ws(server.addr, "/chat").await;
    ws.write_all(&client_frame(true, TEXT, b"panic")).await.unwrap();
    let close = read_frame(&mut ws).await;
    assert_eq!((close.close_code(), close.payload.len()), (Some(1011), 16));
    ws.write_all(&client_frame(true, CLOSE, &close_payload(1011))).await.unwrap();
    assert!(read_to_end(&mut ws).await.is_empty());
    drop(ws);

    // A client that vanishes without a close frame: 1006, no traffic.
    drop(raw_ws(server.addr, "/chat").await);

    // A slow consumer under DropMessage with a 16-byte queue: of five 12-byte frames sent in one
    // callback, two fit and three overflow. In: 11 + 8; out: 2 × 12 + 4.
    let mut ws = raw_ws(server.addr, "/feed").await;
    ws.write_all(&client_frame(true, TEXT, b"flood")).await.unwrap();
    assert_eq!(read_frame(&mut ws).await.payload, b"flood-0000");
    assert_eq!(read_frame(&mut ws).await.payload, b"flood-0001");
    ws.write_all(&client_frame(true, CLOSE, &close_payload(1000))).await.unwrap();
    assert_eq!(read_frame(&mut ws).await.close_code(), Some(1000));
    assert!(read_to_end(&mut ws).await.is_empty());
    drop(ws);

    // Refusals and plain answers.
    let bad_version = "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n";
    assert!(http(&server, bad_version).await.starts_with("HTTP/1.1 426 "));
    assert!(http(&server, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").await.starts_with("HTTP/1.1 404 "));
    assert!(http(&server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.starts_with("HTTP/1.1 200 "));
    let post = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    assert!(http(&server, post).await.starts_with("HTTP/1.1 405 "));
    assert!(http(&server, "HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 400 "));

    // Clients see the end of a connection before its task has finished: wait (reading the
    // recorder directly, which is not itself counted) until every task has ended.
    tokio::time::timeout(WAIT, async {
        loop {
            let now = samples(&metrics.render());
            let closes: u64 = now
                .iter()
                .filter(|(series, _)| series.starts_with("windlass_closes_total{"))
                .map(|(_, value)| value.parse::<u64>().unwrap())
                .sum();
            if closes == 6 && now.get("windlass_connections_open").map(String::as_str) == Some("0") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("connections did not all end: {}", metrics.render()));

    let response = http(&server, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (head, page) = response.split_once("\r\n\r\n").expect("response head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-type: text/plain; version=0.0.4\r\n"), "{head}");
    assert!(page.contains("# TYPE windlass_handshakes_total counter\n"), "{page}");
    assert!(page.contains("# TYPE windlass_connections_open gauge\n"), "{page}");

    let expected: BTreeMap<String, String> = [
        ("windlass_connections_open", "0"),
        ("windlass_handshakes_total{status=\"101\"}", "6"),
        ("windlass_handshakes_total{status=\"200\"}", "1"),
        ("windlass_handshakes_total{status=\"400\"}", "1"),
        ("windlass_handshakes_total{status=\"404\"}", "1"),
        ("windlass_handshakes_total{status=\"405\"}", "1"),
        ("windlass_handshakes_total{status=\"426\"}", "1"),
        // 3 × 2 echoed + 1 panic + 1 flood.
        ("windlass_messages_received_total", "8"),
        // 3 × 2 echoes + 2 flood messages that fit.
        ("windlass_messages_sent_total", "8"),
        // 3 × 30 + 19 + 0 + 19.
        ("windlass_bytes_received_total", "128"),
        // 3 × 18 + 18 + 0 + 28.
        ("windlass_bytes_sent_total", "100"),
        // Every policy's series is there from the start, at 0 until a queue overflows.
        ("windlass_send_queue_overflows_total{policy=\"close\"}", "0"),
        ("windlass_send_queue_overflows_total{policy=\"drop_message\"}", "3"),
        ("windlass_send_queue_overflows_total{policy=\"error\"}", "0"),
        ("windlass_closes_total{code=\"1000\"}", "4"),
        ("windlass_closes_total{code=\"1006\"}", "1"),
        ("windlass_closes_total{code=\"1011\"}", "1"),
    ]
    .into_iter()
    .map(|(series, value)| (series.to_owned(), value.to_owned()))
    .collect();
    assert_eq!(samples(page), expected, "\n{page}");

    // The scrape itself is counted once answered.
    assert_eq!(
        samples(&metrics.render()).get("windlass_handshakes_total{status=\"200\"}").map(String::as_str),
        Some("2")
    );
    server.stop().await;
}

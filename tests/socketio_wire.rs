//! The `socketio_protocol` fixture's exact wire behaviour (shared/contracts/socketio-fixtures.md,
//! section 1): every frame and body below is what Node's socket.io 4.8 sends for the same
//! request, as captured with `tests/sio-reference/trace.js` (ids aside). Also hostile input:
//! each gets Socket.IO's answer and leaves the server serving others.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use http_support::Client;
use support::WAIT;
use support::example::Example;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn protocol() -> Example {
    Example::start("socketio_protocol", &[]).await
}

/// A GET or POST on a fresh connection: status line, headers (lowercase names, no date) and body.
async fn request(server: &Example, method: &str, target: &str, body: &str) -> (String, String) {
    let mut client = Client::connect(server.addr).await;
    let length = if method == "POST" {
        format!("Content-Length: {}\r\nContent-Type: text/plain;charset=UTF-8\r\n", body.len())
    } else {
        String::new()
    };
    client.send(format!("{method} {target} HTTP/1.1\r\nHost: x\r\n{length}\r\n{body}")).await;
    let response = client.response().await;
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    (head.to_owned(), body.to_owned())
}

/// The sid of an open packet `0{"sid":"…",…}`.
fn sid_of(open: &str) -> String {
    let rest = open.strip_prefix("0{\"sid\":\"").unwrap_or_else(|| panic!("not an open packet: {open}"));
    rest.split('"').next().unwrap().to_owned()
}

fn open_packet(sid: &str, upgrades: &str) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":[{upgrades}],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}}"#
    )
}

async fn ws(server: &Example, query: &str) -> Ws {
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket{query}", server.addr);
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await.unwrap().unwrap();
    ws
}

/// The next frame that is not a ping (`2`), answering pings as a client does.
async fn next(ws: &mut Ws) -> Message {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no frame in time")
            .expect("stream ended")
            .unwrap();
        if message == Message::text("2") {
            ws.send(Message::text("3")).await.unwrap();
            continue;
        }
        return message;
    }
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The WebSocket is closed by the server (its close frame, then the end), within `WAIT`.
async fn assert_closed(ws: &mut Ws) {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("the server did not close") {
            None | Some(Err(_) | Ok(Message::Close(_))) => return,
            Some(Ok(Message::Text(text))) if text == "2" => {}
            Some(Ok(other)) => panic!("expected the close, got {other:?}"),
        }
    }
}

/// A WebSocket session joined to `/` (open packet, CONNECT, the `auth` event read).
async fn joined(server: &Example) -> Ws {
    let mut ws = ws(server, "").await;
    let open = next_text(&mut ws).await;
    assert_eq!(open, open_packet(&sid_of(&open), ""));
    ws.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("40{\"sid\":\""));
    assert_eq!(next_text(&mut ws).await, r#"42["auth",{}]"#);
    ws
}

#[tokio::test]
async fn polling_handshake_answers_nodes_open_packet_and_headers() {
    let server = protocol().await;
    let (head, body) = request(&server, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-type: text/plain; charset=UTF-8\r\n"), "{head}");
    assert!(head.contains("cache-control: no-store\r\n"), "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    let sid = sid_of(&body);
    assert_eq!(sid.len(), 20, "{sid}");
    assert_eq!(body, open_packet(&sid, r#""websocket""#));
}

#[tokio::test]
async fn bad_requests_get_nodes_error_codes() {
    let server = protocol().await;
    for (method, target, expected) in [
        ("GET", "/socket.io/?transport=polling", r#"{"code":5,"message":"Unsupported protocol version"}"#),
        (
            "GET",
            "/socket.io/?EIO=abc&transport=polling",
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "GET",
            "/socket.io/?EIO=3&transport=polling",
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        ("GET", "/socket.io/?EIO=4", r#"{"code":0,"message":"Transport unknown"}"#),
        ("GET", "/socket.io/?EIO=4&transport=abc", r#"{"code":0,"message":"Transport unknown"}"#),
        ("POST", "/socket.io/?EIO=4&transport=polling", r#"{"code":2,"message":"Bad handshake method"}"#),
        (
            "GET",
            "/socket.io/?EIO=4&transport=polling&sid=nope",
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            "GET",
            "/engine.io/?EIO=4&transport=polling&sid=nope",
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
    ] {
        let (head, body) = request(&server, method, target, "").await;
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{method} {target}: {head}");
        assert!(head.contains("content-type: application/json\r\n"), "{head}");
        assert_eq!(body, expected, "{method} {target}");
    }
}

#[tokio::test]
async fn namespaces_connect_with_auth_and_unknown_ones_are_refused() {
    let server = protocol().await;
    let mut ws = ws(&server, "").await;
    let open = next_text(&mut ws).await;
    assert_eq!(open, open_packet(&sid_of(&open), ""), "upgrades is [] on a websocket-first session");

    ws.send(Message::text(r#"40{"token":"123"}"#)).await.unwrap();
    let connected = next_text(&mut ws).await;
    let socket =
        connected.strip_prefix("40{\"sid\":\"").and_then(|s| s.strip_suffix("\"}")).expect(&connected);
    assert_eq!(socket.len(), 20, "only the sid in the CONNECT reply: {connected}");
    assert_eq!(next_text(&mut ws).await, r#"42["auth",{"token":"123"}]"#);

    for (connect, auth) in
        [("40/custom,", "{}"), ("40/custom", "{}"), (r#"40/custom,{"token":"abc"}"#, r#"{"token":"abc"}"#)]
    {
        let mut ws = ws_joined_nowhere(&server).await;
        ws.send(Message::text(connect)).await.unwrap();
        assert!(next_text(&mut ws).await.starts_with(r#"40/custom,{"sid":""#), "{connect}");
        assert_eq!(next_text(&mut ws).await, format!(r#"42/custom,["auth",{auth}]"#), "{connect}");
    }

    ws.send(Message::text("40/random")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"44/random,{"message":"Invalid namespace"}"#);
    // The engine session stays up: `/` still answers.
    ws.send(Message::text(r#"42["message","still here"]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"42["message-back","still here"]"#);
}

async fn ws_joined_nowhere(server: &Example) -> Ws {
    let mut ws = ws(server, "").await;
    next_text(&mut ws).await;
    ws
}

#[tokio::test]
async fn events_acks_and_binary_attachments_come_back_exactly() {
    let server = protocol().await;
    let mut ws = joined(&server).await;
    ws.send(Message::text(r#"42["message",1,"2",{"3":[true]}]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"42["message-back",1,"2",{"3":[true]}]"#);

    ws.send(Message::text(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"43456[1,"2",{"3":[false]}]"#);

    let placeholders = r#"{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}"#;
    ws.send(Message::text(format!(r#"452-["message",{placeholders}]"#))).await.unwrap();
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    ws.send(Message::binary(vec![4, 5, 6])).await.unwrap();
    assert_eq!(next_text(&mut ws).await, format!(r#"452-["message-back",{placeholders}]"#));
    assert_eq!(next(&mut ws).await, Message::binary(vec![1, 2, 3]));
    assert_eq!(next(&mut ws).await, Message::binary(vec![4, 5, 6]));

    ws.send(Message::text(format!(r#"452-789["message-with-ack",{placeholders}]"#))).await.unwrap();
    ws.send(Message::binary(vec![7])).await.unwrap();
    ws.send(Message::binary(vec![8])).await.unwrap();
    assert_eq!(next_text(&mut ws).await, format!("462-789[{placeholders}]"));
    assert_eq!(next(&mut ws).await, Message::binary(vec![7]));
    assert_eq!(next(&mut ws).await, Message::binary(vec![8]));

    // Leaving `/` keeps the engine session: the next thing that comes is a ping.
    ws.send(Message::text("41")).await.unwrap();
    let frame = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(frame, Message::text("2"));
}

#[tokio::test]
async fn the_server_pings_every_300_ms_and_closes_when_no_pong_comes() {
    let server = protocol().await;
    let mut ws = joined(&server).await;
    // Answered pings keep the session: three in a row.
    for _ in 0..3 {
        let started = tokio::time::Instant::now();
        let frame = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(frame, Message::text("2"));
        assert!(started.elapsed() < Duration::from_millis(600), "{:?}", started.elapsed());
        ws.send(Message::text("3")).await.unwrap();
    }
    // No pong: the WebSocket is closed about 200 ms after the ping.
    let frame = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(frame, Message::text("2"));
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
        None | Some(Err(_) | Ok(Message::Close(_))) => {}
        Some(Ok(other)) => panic!("expected the close, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn polling_upgrades_to_websocket_with_probe_noop_and_upgrade() {
    let server = protocol().await;
    let (_, open) = request(&server, "GET", "/engine.io/?EIO=4&transport=polling", "").await;
    let sid = sid_of(&open);
    let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket&sid={sid}", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("2probe")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "3probe");
    // A GET during the upgrade gets a noop.
    let (_, body) =
        request(&server, "GET", &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"), "").await;
    assert_eq!(body, "6");
    ws.send(Message::text("5")).await.unwrap();
    ws.send(Message::text("4hello")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "4hello");
    ws.send(Message::binary(vec![1, 2, 3, 4])).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::binary(vec![1, 2, 3, 4]));
    // Polling on the upgraded session is refused.
    let (head, body) =
        request(&server, "GET", &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"), "").await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert_eq!(body, r#"{"code":3,"message":"Bad request"}"#);
}

#[tokio::test]
async fn raw_engine_io_echoes_over_polling_with_packets_joined_and_binary_as_base64() {
    let server = protocol().await;
    let (_, open) = request(&server, "GET", "/engine.io/?EIO=4&transport=polling", "").await;
    let sid = sid_of(&open);
    let target = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    for (sent, back) in [
        ("4hello", "4hello"),
        ("4test1\x1e4test2\x1e4test3", "4test1\x1e4test2\x1e4test3"),
        ("4hello\x1ebAQIDBA==", "4hello\x1ebAQIDBA=="),
    ] {
        let (head, body) = request(&server, "POST", &target, sent).await;
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("content-type: text/html\r\n"),
            "{head}"
        );
        assert_eq!(body, "ok");
        let (_, body) = request(&server, "GET", &target, "").await;
        assert_eq!(body, back, "after POST {sent:?}");
    }
    // A bad packet closes the session.
    let (_, body) = request(&server, "POST", &target, "abc").await;
    assert_eq!(body, "ok");
    let (_, body) = request(&server, "GET", &target, "").await;
    assert_eq!(body, r#"{"code":1,"message":"Session ID unknown"}"#);
}

#[tokio::test]
async fn malformed_packets_close_the_websocket_and_others_are_unharmed() {
    let server = protocol().await;
    let mut bystander = joined(&server).await;
    for bad in [
        "4abc",
        "42{}",
        r#"42abc["message"]"#,
        "42[]",
        // An ack id past JavaScript's safe integers.
        r#"4299999999999999999999["message"]"#,
        // An attachment count that lies (and would reserve memory if believed).
        r#"45999999999-["message",{"_placeholder":true,"num":0}]"#,
        // A placeholder for an attachment that is not announced.
        r#"451-["message",{"_placeholder":true,"num":7}]"#,
    ] {
        let mut ws = joined(&server).await;
        ws.send(Message::text(bad)).await.unwrap();
        assert_closed(&mut ws).await;
    }
    // Before any CONNECT, an event for `/` breaks the order: closed too.
    let mut ws = ws_joined_nowhere(&server).await;
    ws.send(Message::text(r#"42["message","x"]"#)).await.unwrap();
    assert_closed(&mut ws).await;
    // The bystander still echoes.
    bystander.send(Message::text(r#"42["message","fine"]"#)).await.unwrap();
    assert_eq!(next_text(&mut bystander).await, r#"42["message-back","fine"]"#);
}

#[tokio::test]
async fn floods_of_unknown_sids_and_namespaces_each_get_their_answer_and_the_server_serves_on() {
    let server = protocol().await;
    let mut client = Client::connect(server.addr).await;
    for i in 0..500 {
        client
            .send(format!(
                "GET /socket.io/?EIO=4&transport=polling&sid=unknown{i} HTTP/1.1\r\nHost: x\r\n\r\n"
            ))
            .await;
        let response = client.response().await;
        assert!(response.ends_with(r#"{"code":1,"message":"Session ID unknown"}"#), "{response}");
    }
    let mut ws = joined(&server).await;
    for i in 0..500 {
        ws.send(Message::text(format!("40/nowhere{i}"))).await.unwrap();
        assert_eq!(next_text(&mut ws).await, format!(r#"44/nowhere{i},{{"message":"Invalid namespace"}}"#));
    }
    ws.send(Message::text(r#"42["message","after the flood"]"#)).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"42["message-back","after the flood"]"#);
}

#[tokio::test]
async fn a_message_over_max_payload_ends_the_session() {
    let server = protocol().await;
    let mut ws = joined(&server).await;
    let big = format!(r#"42["message","{}"]"#, "x".repeat(1_000_000));
    ws.send(Message::text(big)).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("the server did not close") {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1009);
                break;
            }
            Some(Ok(Message::Text(text))) if text == "2" => {}
            other => panic!("expected a 1009 close, got {other:?}"),
        }
    }
    // Over polling: 413 and the session is gone.
    let (_, open) = request(&server, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    let sid = sid_of(&open);
    let target = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let (head, _) = request(&server, "POST", &target, &format!("4{}", "y".repeat(1_000_001))).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let (_, body) = request(&server, "GET", &target, "").await;
    assert_eq!(body, r#"{"code":1,"message":"Session ID unknown"}"#);
}

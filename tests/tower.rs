//! tower both ways, over loopback: tower-http layers (CORS, compression) around windlass routes
//! served by `HttpServer`, a tower `service_fn` routed beside them, and the `axum_chat` example,
//! where axum serves the page and windlass's `WsServer` is mounted as a tower service.

mod support;

use std::convert::Infallible;
use std::io::Read as _;

use futures_util::{SinkExt as _, StreamExt as _};
use http::header::HeaderValue;
use http::{Method, Request, Response};
use support::example::Example;
use support::{TestServer, WAIT, read_head, read_to_end, tcp};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tower::Layer as _;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use windlass::{Body, ComponentService, HttpServer, Router, ServiceComponent, StaticResponse};

const DATA: &str = "{\"rooms\":[\"lobby\",\"dev\"]}";

/// `/data`: a windlass `StaticResponse` behind tower-http's CORS layer; `/big`: one behind the
/// compression layer; `/fn`: a tower `service_fn`.
fn app() -> HttpServer<Router> {
    let cors = CorsLayer::new()
        .allow_origin([HeaderValue::from_static("https://app.example")])
        .allow_methods([Method::GET, Method::POST])
        .max_age(std::time::Duration::from_secs(600));
    let data = cors.layer(ComponentService::new(StaticResponse::new("application/json", DATA)));
    let big = CompressionLayer::new()
        .layer(ComponentService::new(StaticResponse::new("text/plain", "windlass ".repeat(1000))));
    let hello = tower::service_fn(|request: Request<Body>| async move {
        let text = format!("hello from a tower service at {}", request.uri().path());
        Ok::<_, Infallible>(Response::new(Body::from(text)))
    });
    HttpServer::new(
        Router::new()
            .route("/data", ServiceComponent::new(data))
            .route("/big", ServiceComponent::new(big))
            .route("/fn", ServiceComponent::new(hello)),
    )
}

async fn exchange(server: &TestServer, request: &str) -> (String, Vec<u8>) {
    let mut stream = tcp(server.addr).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (head, mut body) = read_head(&mut stream).await;
    body.extend_from_slice(&read_to_end(&mut stream).await);
    (head, body)
}

#[tokio::test]
async fn cors_layer_answers_the_preflight_and_marks_the_answer() {
    let server = TestServer::start(app()).await;
    let (head, body) = exchange(
        &server,
        "OPTIONS /data HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\naccess-control-allow-origin: https://app.example\r\n"), "{head}");
    assert!(head.contains("\r\naccess-control-allow-methods: GET,POST\r\n"), "{head}");
    assert!(head.contains("\r\naccess-control-max-age: 600\r\n"), "{head}");
    assert!(body.is_empty(), "a preflight has no body: {body:?}");

    // The real request after it: the windlass component's answer, marked by the layer.
    let (head, body) = exchange(
        &server,
        "GET /data HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 25\r\n"), "{head}");
    assert!(head.contains("\r\naccess-control-allow-origin: https://app.example\r\n"), "{head}");
    assert_eq!(String::from_utf8(body).unwrap(), DATA);

    // Another origin's preflight gets no permission.
    let (head, _) = exchange(
        &server,
        "OPTIONS /data HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    server.stop().await;
}

#[tokio::test]
async fn compression_layer_streams_a_gzip_body_chunked() {
    let server = TestServer::start(app()).await;
    let (head, body) = exchange(
        &server,
        "GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"), "{head}");
    assert!(head.contains("\r\ncontent-encoding: gzip\r\n"), "{head}");
    let compressed = dechunk(&body);
    assert!(compressed.len() < 200, "9,000 repetitive bytes compress well: {}", compressed.len());
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut text).unwrap();
    assert_eq!(text, "windlass ".repeat(1000));

    // Without Accept-Encoding the same route answers plainly, with its length.
    let (head, body) = exchange(&server, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 9000\r\n"), "{head}");
    assert_eq!(body.len(), 9000);
    server.stop().await;
}

#[tokio::test]
async fn a_tower_service_fn_is_a_route() {
    let server = TestServer::start(app()).await;
    let (head, body) = exchange(&server, "GET /fn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(head, "HTTP/1.1 200 OK\r\nContent-Length: 33\r\nconnection: close\r\n\r\n");
    assert_eq!(String::from_utf8(body).unwrap(), "hello from a tower service at /fn");
    server.stop().await;
}

/// The body of a chunked response, joined.
fn dechunk(mut wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = wire.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&wire[..line_end]).unwrap(), 16).unwrap();
        wire = &wire[line_end + 2..];
        if size == 0 {
            assert_eq!(wire, b"\r\n", "the last chunk ends the body");
            return out;
        }
        out.extend_from_slice(&wire[..size]);
        assert_eq!(&wire[size..size + 2], b"\r\n");
        wire = &wire[size + 2..];
    }
}

#[tokio::test]
async fn axum_chat_serves_the_page_with_axum_and_chats_through_windlass() {
    let chat = Example::start("axum_chat", &[]).await;
    let port = chat.addr.port();
    let (head, body) = {
        let mut stream = tcp(chat.addr).await;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let (head, mut body) = read_head(&mut stream).await;
        body.extend_from_slice(&read_to_end(&mut stream).await);
        (head, body)
    };
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(String::from_utf8(body).unwrap(), include_str!("../examples/web_chat.html"));

    // Two browsers on the page (their Origin is the page's own, as the Host they used says).
    let mut clients = Vec::new();
    for name in ["alice", "bob"] {
        let mut request = format!("ws://127.0.0.1:{port}/chat").into_client_request().unwrap();
        request.headers_mut().insert("Origin", format!("http://127.0.0.1:{port}").parse().unwrap());
        let (mut ws, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await.unwrap().unwrap();
        assert_eq!(response.status(), 101);
        assert_eq!(next_text(&mut ws).await, "Enter your name:");
        ws.send(Message::text(name)).await.unwrap();
        assert_eq!(next_text(&mut ws).await, format!("Welcome, {name}!"));
        clients.push(ws);
    }
    let [alice, bob] = &mut clients[..] else { unreachable!() };
    assert_eq!(next_text(alice).await, "bob joined");
    alice.send(Message::text("hello through axum")).await.unwrap();
    assert_eq!(next_text(bob).await, "alice: hello through axum");
    bob.close(None).await.unwrap();
    assert_eq!(next_text(alice).await, "bob left");

    // A page from another origin is refused by windlass's OriginCheck inside axum.
    let mut request = format!("ws://127.0.0.1:{port}/chat").into_client_request().unwrap();
    request.headers_mut().insert("Origin", "http://evil.example".parse().unwrap());
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign origin was not refused: {other:?}"),
    }
}

async fn next_text<S>(ws: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("no message in time") {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

//! The HTTP decorators over loopback: `Router` (paths, parameters, methods, hosts, plain HTTP
//! handlers beside WebSocket endpoints) and `OriginCheck` (exact scheme, host and port), alone
//! and composed as `IoServer(HttpServer(OriginCheck(Router(...))))`.

mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use http::{Method, Request, Response, StatusCode};
use support::{ACCEPT, Recorder, TestServer, WAIT, client_frame, read_frame, read_head, read_to_end, tcp};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use windlass::{
    Body, BoxError, Connection, HttpComponent, HttpServer, Message, MessageComponent, MissingOrigin,
    OriginCheck, PathParams, Router, WsServer,
};

const EXACT_101: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

const ALLOWED: [&str; 2] = ["https://chat.example.com", "https://*.example.org"];

/// Replies to every text message with `[<room>] <text>`, the room taken from the router's
/// `PathParams` (`<no room>` when the route has none, `<no params>` without a router).
struct Room;

fn room_of(conn: &Connection) -> String {
    match conn.extensions().get::<PathParams>() {
        Some(params) => params.get("room").unwrap_or("<no room>").to_owned(),
        None => "<no params>".to_owned(),
    }
}

impl MessageComponent for Room {
    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        if let Message::Text(text) = msg {
            let reply = format!("[{}] {}", room_of(conn), text.as_str());
            conn.send(reply)?;
        }
        Ok(())
    }
}

/// A plain HTTP handler: answers `200` with an HTML page naming its label and the path
/// parameters it was given. Implemented with the signature `#[async_trait]` generates, since
/// the tests crate does not depend on `async-trait`.
struct Page(&'static str);

impl Page {
    fn body(&self, request: &Request<Body>) -> String {
        let params = request.extensions().get::<PathParams>().cloned().unwrap_or_default();
        let bound: String = ["id", "path", "room"]
            .iter()
            .filter_map(|name| params.get(name).map(|value| format!(" {name}={value}")))
            .collect();
        format!("<p>{}{bound}</p>", self.0)
    }
}

#[windlass::async_trait]
impl HttpComponent for Page {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Body::from(self.body(&request)))
            .unwrap()
    }
}

/// The exact response `Page` sends for `body`.
fn page(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\ncontent-type: text/html; charset=utf-8\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The exact error response (`respond_error`) for `status_line`, extra header lines and body.
fn error(status_line: &str, extra: &str, body: &str) -> String {
    format!(
        "{status_line}\r\nContent-Length: {}\r\ncontent-type: text/plain; charset=utf-8\r\n{extra}connection: close\r\n\r\n{body}\n",
        body.len() + 1
    )
}

/// The exact 403 `OriginCheck` sends for `origin`.
fn forbidden(origin: &str) -> String {
    error("HTTP/1.1 403 Forbidden", "", &format!("origin {origin} is not allowed"))
}

/// A plain request head.
fn get(method: &str, path: &str, host: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

/// An upgrade request for `path` with the given `Host` and extra header lines.
fn upgrade(path: &str, host: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n",
        support::KEY
    )
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

/// Sends `request` on a fresh connection and returns everything the server sends up to EOF
/// (`read_to_end` returning at all shows the server closed the connection).
async fn exchange(server: &TestServer, request: &str) -> String {
    let mut stream = tcp(server.addr).await;
    stream.write_all(closing(request).as_bytes()).await.unwrap();
    let (head, mut rest) = read_head(&mut stream).await;
    rest.extend_from_slice(&read_to_end(&mut stream).await);
    head + &String::from_utf8(rest).expect("utf-8 body")
}

/// Sends an upgrade request, checks the exact 101, and returns the open stream.
async fn upgraded(server: &TestServer, request: &str) -> TcpStream {
    let mut stream = tcp(server.addr).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut stream).await;
    assert_eq!(head, EXACT_101, "for {request:?}");
    assert!(rest.is_empty(), "unexpected bytes after the 101: {rest:?}");
    assert!(EXACT_101.contains(ACCEPT));
    stream
}

/// Sends one text frame on a raw stream and returns the text of the server's answer.
async fn chat(stream: &mut TcpStream, text: &str) -> String {
    stream.write_all(&client_frame(true, 0x1, text.as_bytes())).await.unwrap();
    let frame = read_frame(stream).await;
    assert_eq!(frame.b0, 0x81, "expected one text frame, got {frame:?}");
    String::from_utf8(frame.payload).unwrap()
}

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(request: impl tungstenite::client::IntoClientRequest + Unpin) -> Client {
    let (ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect timed out")
        .expect("connect");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

async fn round_trip(ws: &mut Client, text: &str) -> tungstenite::Message {
    ws.send(tungstenite::Message::text(text)).await.unwrap();
    tokio::time::timeout(WAIT, ws.next()).await.expect("reply timed out").expect("stream ended").unwrap()
}

/// Closes cleanly: the server answers the close (an empty close echoes as an empty close) and
/// ends the stream.
async fn close(mut ws: Client) {
    ws.close(None).await.unwrap();
    let reply = tokio::time::timeout(WAIT, ws.next()).await.expect("close reply timed out");
    assert!(matches!(reply, Some(Ok(tungstenite::Message::Close(None)))), "{reply:?}");
    assert!(tokio::time::timeout(WAIT, ws.next()).await.expect("end timed out").is_none());
}

/// The router most tests share: two WebSocket endpoints, a rest parameter, plain HTTP pages.
fn app(echo: Recorder) -> HttpServer<Router> {
    HttpServer::new(
        Router::new()
            .route("/echo", WsServer::new(echo))
            .route("/rooms/:room", WsServer::new(Room))
            .route("/static/*path", Page("static"))
            .route_methods(&[Method::GET], "/health", Page("healthy"))
            .route_host("chat.example.com", "/ws", WsServer::new(Room))
            .route("/", Page("home")),
    )
}

#[tokio::test]
async fn websocket_routes_share_a_port_and_reach_their_components() {
    let echo = Recorder::default();
    let server = TestServer::start(app(echo.clone())).await;

    let mut to_echo = connect(server.url("/echo")).await;
    let mut to_lobby = connect(server.url("/rooms/lobby?user=ann")).await;
    let mut to_42 = connect(server.url("/rooms/42")).await;
    assert_eq!(round_trip(&mut to_echo, "hello").await, tungstenite::Message::text("hello"));
    assert_eq!(round_trip(&mut to_lobby, "hi all").await, tungstenite::Message::text("[lobby] hi all"));
    assert_eq!(round_trip(&mut to_42, "hi 42").await, tungstenite::Message::text("[42] hi 42"));
    // Interleaved, each connection stays with its own component and parameters.
    assert_eq!(round_trip(&mut to_echo, "again").await, tungstenite::Message::text("again"));
    assert_eq!(round_trip(&mut to_lobby, "again").await, tungstenite::Message::text("[lobby] again"));
    // Only the /echo connection reached the recorder.
    let lines = echo.lines();
    assert_eq!(lines.iter().filter(|l| l.starts_with("open ")).count(), 1, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("message ")).count(), 2, "{lines:?}");

    for ws in [to_echo, to_lobby, to_42] {
        close(ws).await;
    }
    echo.wait_for(|l| l.starts_with("close ")).await;
    server.stop().await;
}

#[tokio::test]
async fn a_route_without_parameters_still_attaches_empty_path_params() {
    let server = TestServer::start(HttpServer::new(Router::new().route("/plain", WsServer::new(Room)))).await;
    let mut stream = upgraded(&server, &upgrade("/plain", "localhost", "")).await;
    assert_eq!(chat(&mut stream, "x").await, "[<no room>] x");
    drop(stream);
    // Without a router there are no PathParams at all.
    let bare = TestServer::start(HttpServer::new(WsServer::new(Room))).await;
    let mut stream = upgraded(&bare, &upgrade("/plain", "localhost", "")).await;
    assert_eq!(chat(&mut stream, "x").await, "[<no params>] x");
    drop(stream);
    server.stop().await;
    bare.stop().await;
}

#[tokio::test]
async fn rest_segment_binds_the_remainder_of_the_path() {
    let server = TestServer::start(app(Recorder::default())).await;
    let cases = [
        ("/static/css/site.css", "<p>static path=css/site.css</p>"),
        ("/static/a/b/c?v=2", "<p>static path=a/b/c</p>"),
        ("/static/", "<p>static path=</p>"),
        ("/static", "<p>static path=</p>"),
    ];
    for (path, body) in cases {
        assert_eq!(exchange(&server, &get("GET", path, "localhost")).await, page(body), "for {path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_get_an_exact_404_then_eof() {
    let echo = Recorder::default();
    let server = TestServer::start(app(echo.clone())).await;
    assert_eq!(
        exchange(&server, &get("GET", "/nowhere", "localhost")).await,
        "HTTP/1.1 404 Not Found\r\nContent-Length: 22\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\r\nno route for /nowhere\n"
    );
    // Near misses of real routes, as upgrades: an empty parameter, an extra segment, a trailing
    // slash on a literal, a prefix.
    for path in ["/rooms/", "/rooms", "/rooms/lobby/extra", "/echo/", "/echoes", "/nowhere?x=1"] {
        let bare = path.split('?').next().unwrap();
        assert_eq!(
            exchange(&server, &upgrade(path, "localhost", "")).await,
            error("HTTP/1.1 404 Not Found", "", &format!("no route for {bare}")),
            "for {path}"
        );
    }
    // A real client sees the 404 as a failed handshake.
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(server.url("/nowhere"))).await.unwrap()
    {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), StatusCode::NOT_FOUND),
        other => panic!("expected a 404, got {other:?}"),
    }
    assert!(echo.lines().is_empty(), "{:?}", echo.lines());
    server.stop().await;
}

#[tokio::test]
async fn method_restricted_routes_answer_405_with_allow() {
    let server = TestServer::start(app(Recorder::default())).await;
    assert_eq!(exchange(&server, &get("GET", "/health", "localhost")).await, page("<p>healthy</p>"));
    assert_eq!(
        exchange(&server, "POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n").await,
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 39\r\ncontent-type: text/plain; charset=utf-8\r\nallow: GET\r\nconnection: close\r\n\r\nPOST is not allowed here; allowed: GET\n"
    );
    // A route for another path is still a 404 whatever the method.
    assert_eq!(
        exchange(&server, &get("POST", "/healthz", "localhost")).await,
        error("HTTP/1.1 404 Not Found", "", "no route for /healthz")
    );
    server.stop().await;
}

#[tokio::test]
async fn allow_collects_the_methods_of_every_route_for_the_path() {
    let router = Router::new()
        .route_methods(&[Method::GET, Method::HEAD], "/item", Page("read"))
        .route_methods(&[Method::PUT, Method::GET], "/item", Page("write"))
        .route_methods(&[Method::DELETE], "/other", Page("other"));
    let server = TestServer::start(HttpServer::new(router)).await;
    assert_eq!(
        exchange(&server, &get("PATCH", "/item", "localhost")).await,
        error(
            "HTTP/1.1 405 Method Not Allowed",
            "allow: GET, HEAD, PUT\r\n",
            "PATCH is not allowed here; allowed: GET, HEAD, PUT"
        )
    );
    // The first route that accepts the method wins; a later one serves what it alone accepts.
    assert_eq!(exchange(&server, &get("GET", "/item", "localhost")).await, page("<p>read</p>"));
    assert_eq!(exchange(&server, &get("PUT", "/item", "localhost")).await, page("<p>write</p>"));
    server.stop().await;
}

#[tokio::test]
async fn host_routes_match_the_host_without_its_port() {
    let server = TestServer::start(app(Recorder::default())).await;
    for host in ["chat.example.com:8080", "chat.example.com", "Chat.Example.COM:443"] {
        let mut stream = upgraded(&server, &upgrade("/ws", host, "")).await;
        assert_eq!(chat(&mut stream, "hi").await, "[<no room>] hi", "for {host}");
    }
    for host in ["other.example.com", "other.example.com:8080", "chat.example.com.evil.net", "localhost"] {
        assert_eq!(
            exchange(&server, &upgrade("/ws", host, "")).await,
            error("HTTP/1.1 404 Not Found", "", "no route for /ws"),
            "for {host}"
        );
    }
    // A real client whose Host names the chat host.
    let mut request = server.url("/ws").into_client_request().unwrap();
    request.headers_mut().insert("Host", "chat.example.com:8080".parse().unwrap());
    let mut ws = connect(request).await;
    assert_eq!(round_trip(&mut ws, "via host").await, tungstenite::Message::text("[<no room>] via host"));
    close(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn plain_http_pages_are_served_beside_websocket_routes() {
    let echo = Recorder::default();
    let server = TestServer::start(app(echo.clone())).await;
    let mut ws = connect(server.url("/echo")).await;
    let response = exchange(&server, &get("GET", "/", "localhost")).await;
    assert_eq!(
        response,
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\ncontent-type: text/html; charset=utf-8\r\nconnection: close\r\n\r\n<p>home</p>"
    );
    // The page's response did not disturb the open WebSocket on the same port.
    assert_eq!(round_trip(&mut ws, "still here").await, tungstenite::Message::text("still here"));
    // A WebSocket upgrade sent to the page route gets the page (the route decides, not the
    // headers; the client asks to close after it, or the connection would be kept alive).
    assert_eq!(
        exchange(&server, &upgrade("/", "localhost", "Connection: close\r\n")).await,
        page("<p>home</p>")
    );
    close(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn the_first_matching_route_wins_when_patterns_overlap() {
    let router = Router::new()
        .route("/items/new", Page("literal first"))
        .route("/items/:id", Page("param"))
        .route("/things/:id", Page("param first"))
        .route("/things/new", Page("literal second"))
        .route("/files/*path", Page("rest first"))
        .route("/files/readme", Page("never"));
    let server = TestServer::start(HttpServer::new(router)).await;
    let cases = [
        ("/items/new", "<p>literal first</p>"),
        ("/items/7", "<p>param id=7</p>"),
        ("/things/new", "<p>param first id=new</p>"),
        ("/things/7", "<p>param first id=7</p>"),
        ("/files/readme", "<p>rest first path=readme</p>"),
    ];
    for (path, body) in cases {
        assert_eq!(exchange(&server, &get("GET", path, "localhost")).await, page(body), "for {path}");
    }
    server.stop().await;
}

fn origin_server(log: Recorder) -> HttpServer<OriginCheck<WsServer<Recorder>>> {
    HttpServer::new(OriginCheck::new(WsServer::new(log), ALLOWED))
}

#[tokio::test]
async fn allowed_origins_get_101() {
    let log = Recorder::default();
    let server = TestServer::start(origin_server(log.clone())).await;
    for origin in [
        "https://chat.example.com",
        "https://chat.example.com:443",
        "HTTPS://Chat.Example.COM",
        "https://a.example.org",
        "https://a.b.example.org",
    ] {
        let mut stream =
            upgraded(&server, &upgrade("/", "localhost", &format!("Origin: {origin}\r\n"))).await;
        assert_eq!(chat(&mut stream, origin).await, origin);
    }
    server.stop().await;
}

#[tokio::test]
async fn spoofed_origins_get_an_exact_403_and_never_reach_the_component() {
    let log = Recorder::default();
    let server = TestServer::start(origin_server(log.clone())).await;
    assert_eq!(
        exchange(&server, &upgrade("/", "localhost", "Origin: http://chat.example.com\r\n")).await,
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 46\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\r\norigin http://chat.example.com is not allowed\n"
    );
    for origin in [
        "https://chat.example.com:8443",
        "https://chat.example.com.evil.net",
        "https://evilchat.example.com",
        "null",
        "https://example.org",
        "https://evilexample.org",
        "https://a.example.org:8443",
        "http://a.example.org",
        "https://chat.example.com/",
        "https://user@chat.example.com",
        "wss://chat.example.com",
    ] {
        assert_eq!(
            exchange(&server, &upgrade("/", "localhost", &format!("Origin: {origin}\r\n"))).await,
            forbidden(origin),
            "for {origin}"
        );
    }
    assert!(log.lines().is_empty(), "a refused request reached the component: {:?}", log.lines());
    server.stop().await;
}

#[tokio::test]
async fn missing_origin_is_allowed_by_default_and_refused_with_deny() {
    let server = TestServer::start(origin_server(Recorder::default())).await;
    let mut stream = upgraded(&server, &upgrade("/", "localhost", "")).await;
    assert_eq!(chat(&mut stream, "no origin").await, "no origin");
    drop(stream);
    server.stop().await;

    let log = Recorder::default();
    let strict = HttpServer::new(
        OriginCheck::new(WsServer::new(log.clone()), ALLOWED).missing_origin(MissingOrigin::Deny),
    );
    let server = TestServer::start(strict).await;
    assert_eq!(
        exchange(&server, &upgrade("/", "localhost", "")).await,
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 29\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\r\nan Origin header is required\n"
    );
    assert!(log.lines().is_empty(), "{:?}", log.lines());
    // Deny only concerns requests without Origin.
    let mut stream =
        upgraded(&server, &upgrade("/", "localhost", "Origin: https://chat.example.com\r\n")).await;
    assert_eq!(chat(&mut stream, "with origin").await, "with origin");
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn a_real_client_with_an_allowed_origin_connects_and_chats() {
    let log = Recorder::default();
    let server = TestServer::start(origin_server(log.clone())).await;
    let mut request = server.url("/").into_client_request().unwrap();
    request.headers_mut().insert("Origin", "https://chat.example.com".parse().unwrap());
    let mut ws = connect(request).await;
    assert_eq!(round_trip(&mut ws, "hello").await, tungstenite::Message::text("hello"));
    assert_eq!(round_trip(&mut ws, "world").await, tungstenite::Message::text("world"));
    close(ws).await;
    log.wait_for(|l| l.starts_with("close ")).await;

    // The same client with a spoofed Origin is refused during the handshake.
    let mut request = server.url("/").into_client_request().unwrap();
    request.headers_mut().insert("Origin", "https://chat.example.com.evil.net".parse().unwrap());
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await.unwrap() {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
        other => panic!("expected a 403, got {other:?}"),
    }
    assert_eq!(log.lines().iter().filter(|l| l.starts_with("open ")).count(), 1, "{:?}", log.lines());
    server.stop().await;
}

#[tokio::test]
async fn origin_check_around_a_router_end_to_end() {
    let log = Recorder::default();
    let app = HttpServer::new(
        OriginCheck::new(
            Router::new()
                .route("/chat/:room", WsServer::new(log.clone()))
                .route("/rooms/:room", WsServer::new(Room))
                .route("/", Page("home")),
            ["https://chat.example.com"],
        )
        .missing_origin(MissingOrigin::Deny),
    );
    let server = TestServer::start(app).await;

    // Refused before routing: known and unknown paths, page and WebSocket routes alike.
    for (path, origin) in [
        ("/chat/lobby", "https://chat.example.com.evil.net"),
        ("/chat/lobby", "http://chat.example.com"),
        ("/nowhere", "null"),
        ("/", "https://evil.net"),
    ] {
        assert_eq!(
            exchange(&server, &upgrade(path, "localhost", &format!("Origin: {origin}\r\n"))).await,
            forbidden(origin),
            "for {path} from {origin}"
        );
    }
    assert_eq!(
        exchange(&server, &upgrade("/chat/lobby", "localhost", "")).await,
        error("HTTP/1.1 403 Forbidden", "", "an Origin header is required")
    );
    assert!(log.lines().is_empty(), "a refused request reached the component: {:?}", log.lines());

    // Allowed: routed, with parameters, to the right component.
    let ok = "Origin: https://chat.example.com\r\n";
    assert_eq!(
        exchange(&server, &upgrade("/nowhere", "localhost", ok)).await,
        error("HTTP/1.1 404 Not Found", "", "no route for /nowhere")
    );
    assert_eq!(
        exchange(&server, "GET / HTTP/1.1\r\nHost: localhost\r\nOrigin: https://chat.example.com\r\n\r\n")
            .await,
        page("<p>home</p>")
    );
    let mut room = upgraded(&server, &upgrade("/rooms/kitchen", "localhost", ok)).await;
    assert_eq!(chat(&mut room, "tea?").await, "[kitchen] tea?");

    let mut request = server.url("/chat/lobby").into_client_request().unwrap();
    request.headers_mut().insert("Origin", "https://chat.example.com".parse().unwrap());
    let mut ws = connect(request).await;
    assert_eq!(round_trip(&mut ws, "hi").await, tungstenite::Message::text("hi"));
    close(ws).await;
    let lines = log.wait_for(|l| l.starts_with("close ")).await;
    assert_eq!(lines.len(), 3, "only the allowed connection reached the component: {lines:?}");
    assert!(lines[0].starts_with("open ") && lines[1].ends_with(" text hi"), "{lines:?}");
    drop(room);
    server.stop().await;
}

#[tokio::test]
async fn origin_check_on_one_route_of_a_router() {
    let private = Recorder::default();
    let router = Router::new().route("/public", WsServer::new(Room)).route(
        "/private/:room",
        OriginCheck::new(WsServer::new(private.clone()), ["https://chat.example.com"]),
    );
    let server = TestServer::start(HttpServer::new(router)).await;
    let evil = "Origin: https://evil.net\r\n";
    // The public route takes any origin.
    let mut public = upgraded(&server, &upgrade("/public", "localhost", evil)).await;
    assert_eq!(chat(&mut public, "open to all").await, "[<no room>] open to all");
    // The private one does not.
    assert_eq!(
        exchange(&server, &upgrade("/private/a", "localhost", evil)).await,
        forbidden("https://evil.net")
    );
    assert!(private.lines().is_empty(), "{:?}", private.lines());
    let mut ok =
        upgraded(&server, &upgrade("/private/a", "localhost", "Origin: https://chat.example.com\r\n")).await;
    assert_eq!(chat(&mut ok, "secret").await, "secret");
    drop((public, ok));
    server.stop().await;
}

//! A page, a file and a health check on the same port as a WebSocket route.

mod support;

use tokio::io::AsyncWriteExt as _;
use windlass::{Health, HttpServer, Router, StaticResponse, WsServer};

use support::{Recorder, TestServer, raw_ws, read_to_end, tcp};

/// `request` with `Connection: close` added, so that the server closes after its answer (plain
/// requests are otherwise kept alive). Upgrade requests are left as they are.
fn closing(request: &str) -> String {
    if request.contains("Upgrade: websocket") {
        request.to_owned()
    } else {
        request.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
    }
}

async fn get(server: &TestServer, request: &str) -> String {
    let mut stream = tcp(server.addr).await;
    stream.write_all(closing(request).as_bytes()).await.unwrap();
    support::strip_date(&String::from_utf8(read_to_end(&mut stream).await).unwrap())
}

#[tokio::test]
async fn pages_files_and_health_share_the_port_with_the_socket() {
    let dir = std::env::temp_dir().join(format!("windlass-plain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let css = dir.join("site.css");
    std::fs::write(&css, "p { color: teal }").unwrap();
    let router = Router::new()
        .route("/", StaticResponse::new("text/html; charset=utf-8", "<p>chat</p>"))
        .route("/site.css", StaticResponse::file(&css).unwrap())
        .route("/health", Health)
        .route("/chat", WsServer::new(Recorder::default()));
    let server = TestServer::start(HttpServer::new(router)).await;

    assert_eq!(
        get(&server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await,
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n<p>chat</p>"
    );
    assert_eq!(
        get(&server, "GET /site.css HTTP/1.1\r\nHost: x\r\n\r\n").await,
        "HTTP/1.1 200 OK\r\nContent-Length: 17\r\ncontent-type: text/css; charset=utf-8\r\ncache-control: no-cache\r\nconnection: close\r\n\r\np { color: teal }"
    );
    assert_eq!(
        get(&server, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n").await,
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-type: text/plain; charset=utf-8\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
    );
    assert_eq!(
        get(&server, "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await,
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nallow: GET, HEAD\r\nconnection: close\r\n\r\n"
    );
    // An error answer to HEAD has the error's head and no body (RFC 9110 §9.3.2).
    let missing = get(&server, "HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404 Not Found\r\n"), "{missing}");
    assert!(missing.ends_with("\r\n\r\n"), "a body after the head of a HEAD answer: {missing}");
    // The socket lives beside them.
    drop(raw_ws(server.addr, "/chat").await);
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `App`: the facade builds the usual stack on one port.

mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use windlass::{App, Health, StaticResponse};

use support::{Recorder, TestServer, WAIT, read_head, read_to_end, tcp, upgrade_request};

#[tokio::test]
async fn routes_origins_and_pages_on_one_port() {
    let open = Recorder::default();
    let private = Recorder::default();
    let server = App::new("localhost", "127.0.0.1:0")
        .route("/open", open.clone(), &["*"])
        .route("/private", private.clone(), &["https://chat.example.com"])
        .route_http("/", StaticResponse::new("text/plain", "hello"))
        .route_http("/health", Health)
        .bind()
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));

    // Any origin on /open.
    let mut request = format!("ws://{addr}/open").into_client_request().unwrap();
    request.headers_mut().insert("Origin", "https://anywhere.example".parse().unwrap());
    let (mut ws, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await.unwrap().unwrap();
    ws.send(WsMessage::text("hi")).await.unwrap();
    assert_eq!(tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap(), WsMessage::text("hi"));

    // Only the listed origin on /private.
    let mut stream = tcp(addr).await;
    stream
        .write_all(upgrade_request("/private", "Origin: https://evil.example\r\n").as_bytes())
        .await
        .unwrap();
    let refused = String::from_utf8(read_to_end(&mut stream).await).unwrap();
    assert!(refused.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{refused}");
    assert!(private.lines().is_empty());

    // Plain HTTP beside the sockets, and 404 for the rest.
    let mut stream = tcp(addr).await;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let page = String::from_utf8(read_to_end(&mut stream).await).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n") && page.ends_with("\r\n\r\nhello"), "{page}");
    let mut stream = tcp(addr).await;
    stream.write_all(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    assert!(
        String::from_utf8(read_to_end(&mut stream).await).unwrap().starts_with("HTTP/1.1 404 Not Found\r\n")
    );

    ws.close(None).await.unwrap();
    drop(ws);
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, running).await.unwrap().unwrap().unwrap();
    assert_eq!(open.wait_for(|l| l.starts_with("close ")).await.len(), 3, "{:?}", open.lines());
}

/// An upgrade request as a browser on `http://{host}/` sends it.
fn browser_upgrade(host: &str, origin: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n",
        support::KEY
    )
}

#[tokio::test]
async fn same_origin_default_accepts_the_pages_own_host_and_the_apps_host() {
    let chat = Recorder::default();
    let server = TestServer::serve(
        App::new("localhost", "127.0.0.1:0").route("/chat", chat.clone(), &[]).bind().await.unwrap(),
    );
    let port = server.addr.port();

    // The page's own origin: the Origin's host and port are the request's Host, whatever
    // name reached the server; and the app's host on the port actually bound, either scheme.
    let accepted = [
        (format!("127.0.0.1:{port}"), format!("http://127.0.0.1:{port}")),
        (format!("localhost:{port}"), format!("http://localhost:{port}")),
        (format!("127.0.0.1:{port}"), format!("http://localhost:{port}")),
        (format!("127.0.0.1:{port}"), format!("https://localhost:{port}")),
    ];
    for (host, origin) in &accepted {
        let mut stream = tcp(server.addr).await;
        stream.write_all(browser_upgrade(host, origin).as_bytes()).await.unwrap();
        let (head, _) = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{host} {origin}: {head}");
    }
    // Another port, the default port, another name, a look-alike: foreign origins.
    for origin in [
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        "http://127.0.0.1".to_owned(),
        format!("http://127.0.0.2:{port}"),
        format!("http://localhost.evil.example:{port}"),
        "null".to_owned(),
    ] {
        let mut stream = tcp(server.addr).await;
        stream.write_all(browser_upgrade(&format!("127.0.0.1:{port}"), &origin).as_bytes()).await.unwrap();
        let refused = String::from_utf8(read_to_end(&mut stream).await).unwrap();
        assert!(refused.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{origin}: {refused}");
    }
    assert_eq!(
        chat.wait_for(|l| l.starts_with("close ")).await.iter().filter(|l| l.starts_with("open ")).count(),
        accepted.len()
    );
    server.stop().await;
}

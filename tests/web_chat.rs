//! The browser chat, end to end: the `web_chat` example serves its page, the named chat's socket,
//! `/metrics` and `/health` on one port, and two real Chromium tabs (Debian's `chromium` driven
//! by npm `playwright-core`, see `tests/browser/`) chat through it.
//!
//! The Chromium test needs `chromium` and `npm ci --prefix tests/browser`; `.ci/run` installs
//! both. Without them it is skipped with a note, except under CI (`CI=true`), where it fails.

mod support;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use support::browser::{browser_ready, run_script};
use support::example::Example;
use support::{WAIT, read_to_end, tcp, upgrade_request};

const PAGE: &str = include_str!("../examples/web_chat.html");

#[tokio::test]
async fn page_socket_metrics_and_health_share_one_port() {
    let chat = Example::start("web_chat", &[]).await;
    let port = chat.addr.port();

    let page = get(&chat, "/").await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("\r\ncontent-type: text/html; charset=utf-8\r\n"), "{page}");
    assert!(page.ends_with(&format!("\r\n\r\n{PAGE}")), "the page differs from examples/web_chat.html");
    assert!(get(&chat, "/health").await.ends_with("\r\n\r\nok\n"));
    assert!(get(&chat, "/nowhere").await.starts_with("HTTP/1.1 404 Not Found\r\n"));

    // A browser on the page: `Origin: http://localhost:PORT`.
    let mut request = format!("ws://{}/chat", chat.addr).into_client_request().unwrap();
    request.headers_mut().insert("Origin", format!("http://localhost:{port}").parse().unwrap());
    let (mut ws, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await.unwrap().unwrap();
    assert_eq!(next_text(&mut ws).await, "Enter your name:");
    ws.send(Message::text("alice")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "Welcome, alice!");

    // A page from another origin is refused (here `Host` is `localhost`, so even the page at
    // 127.0.0.1 is another origin).
    let mut stream = tcp(chat.addr).await;
    let origin = format!("Origin: http://127.0.0.1:{port}\r\n");
    stream.write_all(upgrade_request("/chat", &origin).as_bytes()).await.unwrap();
    let refused = String::from_utf8(read_to_end(&mut stream).await).unwrap();
    assert!(refused.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{refused}");

    let metrics = get(&chat, "/metrics").await;
    assert_eq!(metric(&metrics, "windlass_connections_open"), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, r#"windlass_handshakes_total{status="101"}"#), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, r#"windlass_handshakes_total{status="403"}"#), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, "windlass_messages_received_total"), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, "windlass_messages_sent_total"), Some(2.0), "{metrics}");
}

#[tokio::test]
async fn two_chromium_tabs_chat_and_see_joins_and_leaves() {
    if let Err(missing) = browser_ready() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the browser test, but {missing}");
        eprintln!("skipped: {missing}; see tests/web_chat.rs");
        return;
    }
    let chat = Example::start("web_chat", &[]).await;
    // 127.0.0.1, not the `localhost` the example is configured with: the page's own origin is
    // accepted whatever name reached it (the script opens the second tab at localhost).
    let url = format!("http://127.0.0.1:{}/", chat.addr.port());

    let stdout = run_script("web_chat.mjs", std::slice::from_ref(&url)).await;
    for step in [
        r#"ok: bob sees "alice: hello from alice""#,
        r#"ok: alice sees "bob: hi alice, <b>not bold</b>""#,
        r#"ok: alice sees "bob joined""#,
        r#"ok: alice sees "bob left""#,
        "ok: a page from another origin is refused",
    ] {
        assert!(stdout.contains(step), "missing step {step:?} in:\n{stdout}");
    }
    assert!(stdout.ends_with("passed\n"), "{stdout}");

    // The server saw exactly that: two tabs joined, one page from another origin was refused,
    // and once the browser is gone nobody is connected.
    let metrics = get(&chat, "/metrics").await;
    assert_eq!(metric(&metrics, r#"windlass_handshakes_total{status="101"}"#), Some(2.0), "{metrics}");
    assert_eq!(metric(&metrics, r#"windlass_handshakes_total{status="403"}"#), Some(1.0), "{metrics}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(&get(&chat, "/metrics").await, "windlass_connections_open") != Some(0.0) {
        assert!(tokio::time::Instant::now() < deadline, "connections left open after the browser closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `GET path` over a fresh connection: the whole response as text.
async fn get(chat: &Example, path: &str) -> String {
    let mut stream = tcp(chat.addr).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    String::from_utf8(read_to_end(&mut stream).await).unwrap()
}

/// The value of the Prometheus series `series` (name and labels, exactly as printed).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn next_text(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> String {
    match tokio::time::timeout(WAIT, ws.next()).await.expect("timed out").expect("ended").expect("failed") {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

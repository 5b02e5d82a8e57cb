//! `IpBlackList`: blocked peers are closed before any HTTP is read; the list changes at runtime.

mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use windlass::{HttpServer, IpBlackList, WsServer};

use support::{Recorder, TestServer, WAIT, read_to_end, tcp, upgrade_request};

#[tokio::test]
async fn blocked_peers_are_closed_before_http_and_unblocking_restores_service() {
    let recorder = Recorder::default();
    let blacklist = IpBlackList::new(HttpServer::new(WsServer::new(recorder.clone())));
    let handle = blacklist.handle();
    handle.block("127.0.0.0/8").unwrap();
    let server = TestServer::start(blacklist).await;

    // Blocked: the server closes without answering, whatever the client sends.
    let mut stream = tcp(server.addr).await;
    let _ = stream.write_all(upgrade_request("/", "").as_bytes()).await;
    assert_eq!(read_to_end(&mut stream).await, b"", "a blocked peer gets no response at all");
    assert!(tokio_tungstenite::connect_async(server.url("/")).await.is_err());
    assert!(recorder.lines().is_empty(), "the component never saw a blocked peer: {:?}", recorder.lines());

    // Unblocked at runtime: service resumes for new connections.
    assert_eq!(handle.unblock("127.0.0.0/8"), Ok(true));
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(server.url("/")))
        .await
        .expect("connect timed out")
        .expect("connect after unblock");
    ws.send(WsMessage::text("hello")).await.unwrap();
    let echo = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo, WsMessage::text("hello"));

    // Blocking again does not touch the open connection; new ones are refused.
    handle.block("127.0.0.1").unwrap();
    ws.send(WsMessage::text("still here")).await.unwrap();
    let echo = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo, WsMessage::text("still here"));
    let mut stream = tcp(server.addr).await;
    assert_eq!(read_to_end(&mut stream).await, b"");
    ws.close(None).await.unwrap();
    drop(ws);
    server.stop().await;
}

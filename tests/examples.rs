//! The examples, end to end: each test runs a real example binary on port 0 and talks to it the
//! way a user would — WebSocket clients, `nc`-style TCP streams, a pipe into the client example
//! — and checks the exact texts the examples document.
//!
//! The binaries are built by Cargo before the first test (a no-op when they are up to date), so
//! `cargo test -p windlass-tests --test examples` never runs stale examples.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod support;

use support::WAIT;
use support::example::{Example, example_binary};

// ---------------------------------------------------------------------------------------------
// chat

#[tokio::test]
async fn chat_sends_each_websocket_message_to_everyone_but_its_sender() {
    let chat = Example::start("chat", &[]).await;
    let mut a = chat.ws().await;
    let mut b = chat.ws().await;
    let mut c = chat.ws().await;
    wait_until_in_chat(&mut a, &mut [&mut b, &mut c]).await;

    a.say("hello from a").await;
    assert_eq!(b.heard().await, "hello from a");
    assert_eq!(c.heard().await, "hello from a");

    // Had `a` been sent its own message, it would come ahead of this one.
    b.say("hello from b").await;
    assert_eq!(a.heard().await, "hello from b");
    assert_eq!(c.heard().await, "hello from b");

    a.send(Message::binary(vec![0, 1, 2, 255])).await.unwrap();
    assert_eq!(next_binary(&mut b).await, [0, 1, 2, 255]);
    assert_eq!(next_binary(&mut c).await, [0, 1, 2, 255]);
}

#[tokio::test]
async fn chat_over_tcp_sends_each_line_to_everyone_but_its_sender() {
    let chat = Example::start("chat", &["--tcp"]).await;
    let mut a = LineClient::connect(chat.addr).await;
    let mut b = LineClient::connect(chat.addr).await;
    wait_until_in_chat(&mut a, &mut [&mut b]).await;

    a.send("hello\n").await;
    assert_eq!(b.line().await, "hello\n");
    b.send("hi there\r\n").await;
    assert_eq!(a.line().await, "hi there\n");

    // One line in two TCP writes, the way a slow typist's `nc` may send it, arrives whole.
    a.send("split ").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.send("line\n").await;
    assert_eq!(b.line().await, "split line\n");

    // Neither got anything else: in particular, not its own lines back.
    assert_eq!(a.close().await, "");
    assert_eq!(b.close().await, "");
}

/// Waits until `sender` and every one of `others` are in the chat's pool.
///
/// The chat says nothing when a client joins, and a client may be connected before `on_open`
/// has added it to the pool (the WebSocket handshake response goes out first). So `sender`
/// sends probes until each of `others` hears one — `on_message` for a probe runs after
/// `sender`'s own `on_open` — then a marker that each reads up to, discarding probes still in
/// flight.
async fn wait_until_in_chat<P: ChatPeer>(sender: &mut P, others: &mut [&mut P]) {
    let deadline = Instant::now() + WAIT;
    let mut probe = 0;
    for other in others.iter_mut() {
        loop {
            assert!(Instant::now() < deadline, "the chat never relayed a probe");
            probe += 1;
            sender.say(&format!("probe {probe}")).await;
            // Only the retry pace: a probe heard late is discarded below.
            if let Ok(text) = timeout(Duration::from_millis(100), other.hear()).await {
                let text = text.expect("the chat closed the connection");
                assert!(text.starts_with("probe "), "unexpected message {text:?}");
                break;
            }
        }
    }
    sender.say("synced").await;
    for other in others {
        loop {
            let text = other.heard().await;
            if text == "synced" {
                break;
            }
            assert!(text.starts_with("probe "), "unexpected message {text:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// named_chat

#[tokio::test]
async fn named_chat_over_tcp_asks_names_and_announces_joins_messages_and_leaves() {
    let chat = Example::start("named_chat", &["--tcp"]).await;

    let mut alice = LineClient::connect(chat.addr).await;
    assert_eq!(alice.line().await, "Enter your name:\n");
    alice.send("   \n").await;
    assert_eq!(alice.line().await, "Enter your name:\n");
    alice.send("alice\n").await;
    assert_eq!(alice.line().await, "Welcome, alice!\n");

    // Bob stays unnamed while carol joins and alice talks.
    let mut bob = LineClient::connect(chat.addr).await;
    assert_eq!(bob.line().await, "Enter your name:\n");
    let mut carol = LineClient::connect(chat.addr).await;
    assert_eq!(carol.line().await, "Enter your name:\n");
    carol.send("carol\n").await;
    assert_eq!(carol.line().await, "Welcome, carol!\n");
    assert_eq!(alice.line().await, "carol joined\n");
    alice.send("hi\n").await;
    assert_eq!(carol.line().await, "alice: hi\n");

    // Whatever the chat sent bob meanwhile would come before his welcome.
    bob.send("  bob  \n").await;
    assert_eq!(bob.line().await, "Welcome, bob!\n");
    assert_eq!(alice.line().await, "bob joined\n");
    assert_eq!(carol.line().await, "bob joined\n");
    bob.send("hello all\n").await;
    assert_eq!(alice.line().await, "bob: hello all\n");
    assert_eq!(carol.line().await, "bob: hello all\n");

    // The server closes its side only after `on_close` ran, so "bob left" is sent by then.
    assert_eq!(bob.close().await, "", "bob got his own message back");
    assert_eq!(alice.line().await, "bob left\n");
    assert_eq!(carol.line().await, "bob left\n");

    // A client that leaves without a name is not announced.
    let mut dave = LineClient::connect(chat.addr).await;
    assert_eq!(dave.line().await, "Enter your name:\n");
    assert_eq!(dave.close().await, "");
    carol.send("bye\n").await;
    assert_eq!(alice.line().await, "carol: bye\n");
}

#[tokio::test]
async fn named_chat_over_websocket_asks_names_and_announces_joins_messages_and_leaves() {
    let chat = Example::start("named_chat", &[]).await;

    let mut alice = chat.ws().await;
    assert_eq!(next_text(&mut alice).await, "Enter your name:");
    send_text(&mut alice, "alice").await;
    assert_eq!(next_text(&mut alice).await, "Welcome, alice!");

    let mut bob = chat.ws().await;
    assert_eq!(next_text(&mut bob).await, "Enter your name:");
    send_text(&mut bob, "").await;
    assert_eq!(next_text(&mut bob).await, "Enter your name:");
    send_text(&mut bob, " bob\n").await;
    assert_eq!(next_text(&mut bob).await, "Welcome, bob!");
    assert_eq!(next_text(&mut alice).await, "bob joined");

    send_text(&mut alice, "hi").await;
    assert_eq!(next_text(&mut bob).await, "alice: hi");
    send_text(&mut bob, "hello").await;
    assert_eq!(next_text(&mut alice).await, "bob: hello");

    bob.close(None).await.unwrap();
    assert_eq!(next_text(&mut alice).await, "bob left");
}

// ---------------------------------------------------------------------------------------------
// echo

#[tokio::test]
async fn echo_returns_text_and_binary_messages() {
    let echo = Example::start("echo", &[]).await;
    let mut ws = echo.ws().await;

    send_text(&mut ws, "hello, echo").await;
    assert_eq!(next_text(&mut ws).await, "hello, echo");
    ws.send(Message::binary(vec![0, 159, 146, 150])).await.unwrap();
    assert_eq!(next_binary(&mut ws).await, [0, 159, 146, 150]);
    send_text(&mut ws, "").await;
    assert_eq!(next_text(&mut ws).await, "");

    ws.close(None).await.unwrap();
    assert_stream_ends(&mut ws).await;
}

#[tokio::test]
async fn echo_with_max_message_size_returns_a_16_mib_message() {
    let echo = Example::start("echo", &["--max-message-size", "20000000"]).await;
    let mut ws = connect_with_limit(echo.addr, 32 << 20).await;

    let payload: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(Message::binary(payload.clone())).await.unwrap();
    assert!(next_binary(&mut ws).await == payload, "16 MiB echo differs");
}

#[tokio::test]
async fn echo_closes_with_1009_when_a_frame_announces_more_than_the_default_1_mib() {
    let echo = Example::start("echo", &[]).await;
    let mut ws = echo.ws().await;

    // Only the header of a 2 MiB binary frame and a few payload bytes: the server must refuse
    // on the header. (Were the whole payload in flight, the server could reset the
    // connection after its close frame, and the client might never read it.)
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(2_u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header.extend_from_slice(b"abcdefgh");
    let MaybeTlsStream::Plain(socket) = ws.get_mut() else { unreachable!("ws:// is plain TCP") };
    socket.write_all(&header).await.unwrap();

    match timeout(WAIT, ws.next()).await.expect("no close frame") {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close frame with 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn echo_over_tcp_returns_lines() {
    let echo = Example::start("echo", &["--tcp"]).await;
    let mut nc = LineClient::connect(echo.addr).await;

    nc.send("hello\n").await;
    assert_eq!(nc.line().await, "hello\n");
    nc.send("crlf\r\nhalf").await;
    assert_eq!(nc.line().await, "crlf\n");
    nc.send(" a line\n").await;
    assert_eq!(nc.line().await, "half a line\n");
    assert_eq!(nc.close().await, "");
}

// ---------------------------------------------------------------------------------------------
// push

#[tokio::test]
async fn push_ticks_every_client_without_being_asked() {
    let push = Example::start("push", &["--interval-ms", "50"]).await;
    let mut ws = push.ws().await;

    let first = tick_number(&next_text(&mut ws).await);
    let second = tick_number(&next_text(&mut ws).await);
    assert_eq!(second, first + 1, "ticks skipped or out of order");

    // A second client gets the same ticks.
    let mut other = push.ws().await;
    let theirs = tick_number(&next_text(&mut other).await);
    assert!(theirs > second, "tick {theirs} after tick {second}");
}

fn tick_number(text: &str) -> u64 {
    text.strip_prefix("tick ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected `tick N`, got {text:?}"))
}

// ---------------------------------------------------------------------------------------------
// client

#[tokio::test]
async fn client_sends_stdin_lines_and_prints_what_comes_back() {
    let echo = Example::start("echo", &[]).await;
    let mut client = Command::new(example_binary("client"))
        .arg(echo.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the client example");

    let mut stdin = client.stdin.take().expect("piped stdin");
    stdin.write_all(b"hello through the client\nand a second line\n").await.unwrap();
    // End of input: the client closes the connection and exits.
    drop(stdin);

    let output = timeout(WAIT, client.wait_with_output())
        .await
        .expect("client did not exit at the end of stdin")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello through the client\nand a second line\n");
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_stops_echo_gracefully_and_the_client_exits() {
    let mut echo = Example::start("echo", &[]).await;
    let mut client = Command::new(example_binary("client"))
        .arg(echo.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the client example");
    let mut stdin = client.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(client.stdout.take().expect("piped stdout"));

    // Once the echo is back, the client is connected and the server is serving.
    stdin.write_all(b"ping\n").await.unwrap();
    let mut line = String::new();
    timeout(WAIT, stdout.read_line(&mut line)).await.expect("no echo through the client").unwrap();
    assert_eq!(line, "ping\n");

    echo.interrupt().await;
    let status = timeout(WAIT, echo.child.wait()).await.expect("echo did not stop after Ctrl-C").unwrap();
    assert!(status.success(), "echo exited with {status}");

    // The client exits although its stdin is still open; it saw the server's 1001.
    let output = timeout(WAIT, client.wait_with_output())
        .await
        .expect("client did not exit when the server closed")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed: {stderr}");
    assert!(stderr.contains("1001"), "client stderr: {stderr}");
    drop(stdin);
}

// ---------------------------------------------------------------------------------------------
// clients

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client whose frame and message limits are `limit` bytes.
async fn connect_with_limit(addr: SocketAddr, limit: usize) -> Ws {
    let config = WebSocketConfig::default().max_message_size(Some(limit)).max_frame_size(Some(limit));
    let url = format!("ws://{addr}/");
    let (ws, _) = timeout(WAIT, tokio_tungstenite::connect_async_with_config(url, Some(config), true))
        .await
        .expect("WebSocket handshake timed out")
        .expect("WebSocket handshake failed");
    ws
}

async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// The next message, which must be text.
async fn next_text(ws: &mut Ws) -> String {
    match next_message(ws).await {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The next message, which must be binary.
async fn next_binary(ws: &mut Ws) -> Vec<u8> {
    match next_message(ws).await {
        Message::Binary(bytes) => bytes.to_vec(),
        other => panic!("expected a binary message, got {other:?}"),
    }
}

async fn next_message(ws: &mut Ws) -> Message {
    timeout(WAIT, ws.next())
        .await
        .expect("timed out waiting for a message")
        .expect("connection ended")
        .expect("connection failed")
}

/// After our close frame: the server's answer, then the end of the stream.
async fn assert_stream_ends(ws: &mut Ws) {
    loop {
        match timeout(WAIT, ws.next()).await.expect("close not answered") {
            Some(Ok(Message::Close(_))) => {}
            None => return,
            Some(other) => panic!("expected the end of the stream, got {other:?}"),
        }
    }
}

/// A chat participant, over WebSocket (one text message per message) or raw TCP (one line).
trait ChatPeer {
    /// Sends one message.
    async fn say(&mut self, text: &str);

    /// The next message, however long it takes; `None` once the connection has ended.
    ///
    /// Cancel-safe, so it can be raced against a timer.
    async fn hear(&mut self) -> Option<String>;

    /// The next message, which must come within [`WAIT`].
    async fn heard(&mut self) -> String {
        timeout(WAIT, self.hear()).await.expect("timed out waiting for a message").expect("connection ended")
    }
}

impl ChatPeer for Ws {
    async fn say(&mut self, text: &str) {
        send_text(self, text).await;
    }

    async fn hear(&mut self) -> Option<String> {
        match self.next().await? {
            Ok(Message::Text(text)) => Some(text.as_str().to_owned()),
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

impl ChatPeer for LineClient {
    async fn say(&mut self, text: &str) {
        self.send(&format!("{text}\n")).await;
    }

    async fn hear(&mut self) -> Option<String> {
        let mut line = self.next_line().await?;
        line.pop();
        Some(line)
    }
}

/// A raw TCP client, like `nc`: writes bytes, reads `\n`-terminated lines.
struct LineClient {
    stream: TcpStream,
    /// Bytes read but not yet returned; keeps `next_line` cancel-safe.
    buf: Vec<u8>,
}

impl LineClient {
    async fn connect(addr: SocketAddr) -> Self {
        let stream =
            timeout(WAIT, TcpStream::connect(addr)).await.expect("connect timed out").expect("connect");
        // Each `send` leaves as its own segment, so a split line really is split.
        stream.set_nodelay(true).unwrap();
        Self { stream, buf: Vec::new() }
    }

    async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.expect("write");
    }

    /// The next line, with its `\n`; `None` at the end of the stream.
    ///
    /// Cancel-safe: a partial line stays buffered for the next call.
    async fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return Some(String::from_utf8(line).expect("UTF-8 line"));
            }
            let mut chunk = [0; 4096];
            let n = self.stream.read(&mut chunk).await.expect("read");
            if n == 0 {
                assert!(self.buf.is_empty(), "unterminated line {:?}", self.buf);
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next line, which must come within [`WAIT`].
    async fn line(&mut self) -> String {
        timeout(WAIT, self.next_line())
            .await
            .expect("timed out waiting for a line")
            .expect("connection closed before a line")
    }

    /// Closes our side (as `nc` does at the end of its input) and returns everything the server
    /// sent until it closed its side.
    async fn close(mut self) -> String {
        self.stream.shutdown().await.expect("shutdown");
        timeout(WAIT, self.stream.read_to_end(&mut self.buf))
            .await
            .expect("server did not close its side")
            .expect("read");
        String::from_utf8(self.buf).expect("UTF-8")
    }
}

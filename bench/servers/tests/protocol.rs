//! Every Rust bench server speaks the bench protocol: it announces `listening on ADDR`, echoes
//! text and binary messages exactly (fragmented ones joined), and in broadcast mode sends each
//! message to every other connection but never back to its sender.
//!
//! Each test starts the real binary on port 0, as the load generator does, and drives it with
//! tokio-tungstenite as the client.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(5);
/// How long the sender of a broadcast listens for an echo it must not get.
const QUIET: Duration = Duration::from_millis(200);

/// A running server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(program: &str, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the announcement");
        let addr = line
            .strip_suffix('\n')
            .and_then(|line| line.strip_prefix("listening on "))
            .unwrap_or_else(|| panic!("{program} announced {line:?}"))
            .parse()
            .expect("the announced address parses");
        Self { child, addr, _stdout: stdout }
    }

    async fn connect(&self) -> Client {
        let url = format!("ws://{}/any/path", self.addr);
        let (client, _response) =
            timeout(STEP, connect_async(url)).await.expect("handshake in time").unwrap();
        client
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn next_data(client: &mut Client) -> Message {
    loop {
        let msg =
            timeout(STEP, client.next()).await.expect("a message in time").expect("still open").unwrap();
        if msg.is_text() || msg.is_binary() {
            return msg;
        }
    }
}

/// Waits for the answer to a ping: once it comes back the server reads this connection, so
/// (in every server here) it has joined the broadcast set.
async fn ping(client: &mut Client) {
    client.send(Message::Ping("sync".into())).await.unwrap();
    match timeout(STEP, client.next()).await.expect("a pong in time").expect("still open").unwrap() {
        Message::Pong(payload) => assert_eq!(&payload[..], b"sync"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

async fn check_echo(program: &str, args: &[&str]) {
    let server = Server::start(program, &[&["--mode", "echo"], args].concat());
    let mut client = server.connect().await;
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let messages = [
        Message::text("hello"),
        Message::binary(vec![0, 1, 2, 255]),
        Message::text("é".repeat(50_000)),
        Message::binary(big),
    ];
    for msg in messages {
        client.send(msg.clone()).await.unwrap();
        assert_eq!(next_data(&mut client).await, msg);
    }
    // A text message in two frames comes back whole.
    client.send(Message::Frame(Frame::message("frag", OpCode::Data(Data::Text), false))).await.unwrap();
    client.send(Message::Frame(Frame::message("mented", OpCode::Data(Data::Continue), true))).await.unwrap();
    assert_eq!(next_data(&mut client).await, Message::text("fragmented"));
    ping(&mut client).await;
    client.close(None).await.unwrap();
}

async fn check_broadcast(program: &str) {
    let server = Server::start(program, &["--mode", "broadcast"]);
    let mut sender = server.connect().await;
    let mut receivers = [server.connect().await, server.connect().await];
    ping(&mut sender).await;
    for receiver in &mut receivers {
        ping(receiver).await;
    }
    for msg in [Message::text("to everyone else"), Message::binary(vec![7; 70_000])] {
        sender.send(msg.clone()).await.unwrap();
        for receiver in &mut receivers {
            assert_eq!(next_data(receiver).await, msg);
        }
    }
    if let Ok(got) = timeout(QUIET, sender.next()).await {
        panic!("the sender got its own broadcast back: {got:?}");
    }
    // A receiver's message reaches the other two.
    receivers[0].send(Message::text("reply")).await.unwrap();
    assert_eq!(next_data(&mut sender).await, Message::text("reply"));
    assert_eq!(next_data(&mut receivers[1]).await, Message::text("reply"));
}

macro_rules! protocol_tests {
    ($($server:ident: $bin:literal;)*) => {$(
        mod $server {
            #[tokio::test]
            async fn echoes_text_and_binary_exactly() {
                super::check_echo(env!(concat!("CARGO_BIN_EXE_", $bin)), &[]).await;
            }

            #[tokio::test]
            async fn broadcasts_to_everyone_but_the_sender() {
                super::check_broadcast(env!(concat!("CARGO_BIN_EXE_", $bin))).await;
            }
        }
    )*};
}

protocol_tests! {
    windlass: "windlass-server";
    tungstenite: "tungstenite-server";
    fastwebsockets: "fastwebsockets-server";
    tokio_websockets: "tokio-websockets-server";
}

#[tokio::test]
async fn tungstenite_echoes_with_a_small_read_buffer() {
    check_echo(env!("CARGO_BIN_EXE_tungstenite-server"), &["--read-buffer", "4096"]).await;
}

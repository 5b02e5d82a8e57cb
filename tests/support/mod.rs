//! Helpers shared by the end-to-end tests: start a server on port 0, speak raw WebSocket bytes,
//! record callbacks.
#![allow(dead_code, unreachable_pub)]

pub mod broker;
pub mod browser;
pub mod example;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use windlass::{BoxError, CloseInfo, Connection, Error, IoComponent, IoServer, Message, MessageComponent};

/// Longest any single wait in a test may take before it counts as a hang.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running on 127.0.0.1 with an ephemeral port, stopped gracefully by `stop()`.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Binds and runs `app`.
    pub async fn start<A: IoComponent>(app: A) -> Self {
        Self::start_with(app, |s| s).await
    }

    /// Binds, lets `configure` adjust the `IoServer`, and runs it.
    pub async fn start_with<A: IoComponent>(
        app: A,
        configure: impl FnOnce(IoServer<A>) -> IoServer<A>,
    ) -> Self {
        Self::serve(configure(IoServer::bind("127.0.0.1:0", app).await.expect("bind")))
    }

    /// Runs a server already bound (an `App` after `bind`, say).
    pub fn serve<A: IoComponent>(server: IoServer<A>) -> Self {
        let addr = server.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        Self { addr, stop: Some(tx), task }
    }

    /// `ws://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Starts graceful shutdown and waits for `run_until` to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("server did not stop in time")
            .expect("server task panicked")
            .expect("server returned an error");
    }
}

/// The sample key of RFC 6455 §1.3 and its accept value.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid upgrade request for `path`, with `extra` header lines (each ending in `\r\n`).
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Connects a plain TCP stream.
pub async fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads an HTTP response head (through the blank line) and returns it as text; any bytes
/// after it stay unread in the returned buffer's tail, which is returned as well.
pub async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (strip_date(&String::from_utf8(buf).expect("utf-8 head")), rest);
        }
        let n =
            tokio::time::timeout(WAIT, stream.read(&mut byte)).await.expect("head timed out").expect("read");
        assert!(n > 0, "connection closed before the response head; got {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&byte[..n]);
    }
}

/// `responses` without their `date` header lines, which change every second; the rest can
/// then be compared byte for byte. Every answer carries one (RFC 9110 §6.6.1) except a `100
/// Continue` and a 101, whose writer is the upgraded connection.
pub fn strip_date(responses: &str) -> String {
    let lines: Vec<&str> = responses.split_inclusive("\r\n").collect();
    let kept: Vec<&str> = lines.iter().copied().filter(|line| !line.starts_with("date: ")).collect();
    let needs_date = responses.starts_with("HTTP/1.1 ")
        && !responses.starts_with("HTTP/1.1 100 ")
        && !responses.starts_with("HTTP/1.1 101 ");
    assert!(!needs_date || kept.len() < lines.len(), "no date header in {responses:?}");
    kept.concat()
}

/// Reads until EOF (bounded by [`WAIT`]) and returns everything.
pub async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut out)).await.expect("read_to_end timed out").ok();
    out
}

/// Sends a raw upgrade request and checks the exact 101 response.
pub async fn raw_ws(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = tcp(addr).await;
    stream.write_all(upgrade_request(path, "").as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut stream).await;
    assert_eq!(
        head,
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        )
    );
    assert!(rest.is_empty(), "unexpected bytes after the 101: {rest:?}");
    stream
}

/// A masked client frame.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0xFE);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xFF);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// A server frame as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// The first header byte (FIN, RSV, opcode).
    pub b0: u8,
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// For close frames: the code.
    pub fn close_code(&self) -> Option<u16> {
        (self.b0 & 0x0F == 0x8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one (unmasked) server frame; asserts the server did not mask it.
pub async fn read_frame(stream: &mut TcpStream) -> ServerFrame {
    tokio::time::timeout(WAIT, async {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await.expect("frame header");
        assert_eq!(head[1] & 0x80, 0, "server frames must not be masked");
        let len = match head[1] & 0x7F {
            126 => u64::from(stream.read_u16().await.unwrap()),
            127 => stream.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).await.expect("frame payload");
        ServerFrame { b0: head[0], payload }
    })
    .await
    .expect("timed out waiting for a frame")
}

/// Callback log shared between a [`Recorder`] and the test.
pub type Log = Arc<Mutex<Vec<String>>>;

/// A component that echoes and records every callback as a line: `open 7`, `message 7 text hi`,
/// `error 7 <error>`, `close 7 1000 reason clean`.
#[derive(Clone, Default)]
pub struct Recorder {
    pub log: Log,
}

impl Recorder {
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn push(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    /// Waits until some line satisfies `pred`.
    pub async fn wait_for(&self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        tokio::time::timeout(WAIT, async {
            loop {
                let lines = self.lines();
                if lines.iter().any(|l| pred(l)) {
                    return lines;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out; log so far: {:?}", self.lines()))
    }
}

impl MessageComponent for Recorder {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.push(format!("open {}", conn.id()));
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        let line = match &msg {
            Message::Text(t) => format!("message {} text {}", conn.id(), t.as_str()),
            Message::Binary(b) => format!("message {} binary {}", conn.id(), b.len()),
        };
        self.push(line);
        conn.send(msg)?;
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        self.push(format!(
            "close {} {} {} {}",
            conn.id(),
            close.code,
            close.reason,
            if close.clean { "clean" } else { "unclean" }
        ));
    }

    async fn on_error(&self, conn: &mut Connection, error: Error) {
        self.push(format!("error {} {error}", conn.id()));
    }
}

/// This process's resident set size (the server runs in it), from `/proc/self/status`.
pub fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .expect("a VmRSS line")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmRSS in kB");
    kib * 1024
}

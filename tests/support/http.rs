//! What the HTTP/1.1 tests (`http.rs`, `http_bodies.rs`) share: a handler with one route per
//! behaviour under test, a raw keep-alive client that reads one response at a time, and the
//! skip-or-fail rule for clients that may be missing from the machine.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use windlass::{Body, ConnectionInfo, HttpComponent};

use crate::support::{WAIT, tcp};

/// What `/held` and `/continue` report to the test, in order.
pub type Events = mpsc::UnboundedReceiver<&'static str>;

/// The handler under test. Routes:
/// - `/echo`: answers the request body as read with `bytes()` (a body error's own response
///   otherwise);
/// - `/conn`: reads the body, answers `conn=<ConnectionInfo id> got=<body length>\n`;
/// - `/page`: a fixed page with two headers of its own, whatever the method;
/// - `/slow`: waits 30 ms, then answers like any other path;
/// - `/held`: reports `held`, waits for [`Site::release`], answers `released`; its guard
///   reports `dropped` when the future goes, answered or not;
/// - `/continue`: reports `waiting`, waits for [`Site::release`], then echoes like `/echo`;
/// - any other path: `<method> <path>`.
#[derive(Clone)]
pub struct Site {
    pub release: Arc<Notify>,
    events: mpsc::UnboundedSender<&'static str>,
}

impl Site {
    pub fn new() -> (Self, Events) {
        let (events, rx) = mpsc::unbounded_channel();
        (Self { release: Arc::new(Notify::new()), events }, rx)
    }
}

/// Reports `dropped` when the handler future holding it is dropped.
struct DropGuard(mpsc::UnboundedSender<&'static str>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        let _ = self.0.send("dropped");
    }
}

async fn echo(request: Request<Body>) -> Response<Body> {
    match request.into_body().bytes().await {
        Ok(bytes) => Response::new(Body::from(bytes)),
        Err(e) => e.into_response(),
    }
}

#[windlass::async_trait]
impl HttpComponent for Site {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        let info = *request.extensions().get::<ConnectionInfo>().expect("every request has a ConnectionInfo");
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        match path.as_str() {
            "/echo" => echo(request).await,
            "/conn" => match request.into_body().bytes().await {
                Ok(bytes) => Response::new(Body::from(format!("conn={} got={}\n", info.id(), bytes.len()))),
                Err(e) => e.into_response(),
            },
            "/page" => Response::builder()
                .header("Content-Type", "text/html; charset=utf-8")
                .header("Cache-Control", "no-cache")
                .body(Body::from("<p>page</p>"))
                .unwrap(),
            "/held" => {
                let _guard = DropGuard(self.events.clone());
                let _ = self.events.send("held");
                self.release.notified().await;
                Response::new(Body::from("released"))
            }
            "/continue" => {
                let _ = self.events.send("waiting");
                self.release.notified().await;
                echo(request).await
            }
            _ => {
                if path == "/slow" {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                Response::new(Body::from(format!("{method} {path}")))
            }
        }
    }
}

/// The next event from [`Site`], within [`WAIT`].
pub async fn next_event(events: &mut Events) -> &'static str {
    tokio::time::timeout(WAIT, events.recv()).await.expect("timed out waiting for a handler event").unwrap()
}

/// A raw HTTP/1.1 client on one connection: writes bytes as given, reads responses one at a
/// time exactly as they came (head, then a body delimited by `Content-Length` or chunked).
pub struct Client {
    pub stream: TcpStream,
    /// Bytes read and not yet returned.
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self { stream: tcp(addr).await, buf: Vec::new() }
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).await.expect("write");
    }

    /// Reads more; panics on EOF, saying what had arrived.
    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .expect("timed out waiting for the server")
            .expect("read");
        assert!(n > 0, "connection closed early; unread: {:?}", String::from_utf8_lossy(&self.buf));
        self.buf.extend_from_slice(&chunk[..n]);
    }

    async fn take(&mut self, len: usize) -> String {
        while self.buf.len() < len {
            self.fill().await;
        }
        String::from_utf8(self.buf.drain(..len).collect()).expect("utf-8 response")
    }

    /// One response head, through its blank line.
    pub async fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return super::support::strip_date(&self.take(end + 4).await);
            }
            self.fill().await;
        }
    }

    /// One whole response: its head, then as much body as its framing says (none for a head
    /// without `Content-Length` or chunked framing, such as a `100 Continue`).
    pub async fn response(&mut self) -> String {
        let head = self.head().await;
        let length = head.lines().find_map(|line| line.strip_prefix("Content-Length: "));
        if let Some(length) = length {
            let body = self.take(length.parse().expect("a decimal Content-Length")).await;
            return head + &body;
        }
        if head.contains("\r\nTransfer-Encoding: chunked\r\n") {
            loop {
                if let Some(end) = self.buf.windows(5).position(|w| w == b"0\r\n\r\n") {
                    return head + &self.take(end + 5).await;
                }
                self.fill().await;
            }
        }
        head
    }

    /// What is left until the server closes (bounded by [`WAIT`]): the test of a closed
    /// connection is that this returns at all. Closes our side then, so the server is not left
    /// lingering for our FIN.
    pub async fn rest(mut self) -> String {
        let mut rest = std::mem::take(&mut self.buf);
        tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest))
            .await
            .expect("the server did not close the connection")
            .expect("read to EOF");
        super::support::strip_date(&String::from_utf8(rest).expect("utf-8 response"))
    }

    /// Asserts that no byte arrives within `quiet`.
    pub async fn nothing_within(&mut self, quiet: Duration) {
        assert!(self.buf.is_empty(), "unexpected bytes: {:?}", String::from_utf8_lossy(&self.buf));
        let mut byte = [0u8; 64];
        if let Ok(read) = tokio::time::timeout(quiet, self.stream.read(&mut byte)).await {
            let n = read.expect("read");
            panic!("expected silence, got {:?}", String::from_utf8_lossy(&byte[..n]));
        }
    }
}

/// The exact `200 OK` a handler's `Response::new(body)` is written as.
pub fn ok(body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

/// The exact refusal windlass writes for `status_line` (`HTTP/1.1 400 Bad Request`) and
/// `reason`: plain text, the connection closed after it.
pub fn refusal(status_line: &str, reason: &str) -> String {
    format!(
        "{status_line}\r\nContent-Length: {}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\r\n{reason}\n",
        reason.len() + 1
    )
}

/// Sends `request` on a fresh connection and returns all the server sends until it closes.
pub async fn exchange(addr: SocketAddr, request: impl AsRef<[u8]>) -> String {
    let mut client = Client::connect(addr).await;
    client.send(request).await;
    client.rest().await
}

/// A client this test needs is missing: fail under CI (`CI=true`), where it is installed,
/// and otherwise say why the test proves nothing here. Returns whether to go on.
pub fn available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{what} is required when CI=true");
    eprintln!("note: skipping, {what} is not available on this machine");
    false
}

/// Whether `program args` runs and exits successfully.
pub async fn runs(program: &str, args: &[&str]) -> bool {
    let status = tokio::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status();
    matches!(tokio::time::timeout(WAIT, status).await, Ok(Ok(status)) if status.success())
}

/// Runs `program args` to completion (within [`WAIT`]); returns stdout and stderr, having
/// checked the exit status.
pub async fn run(program: &str, args: &[&str]) -> (String, String) {
    let output = tokio::process::Command::new(program).args(args).kill_on_drop(true).output();
    let output = tokio::time::timeout(WAIT, output)
        .await
        .unwrap_or_else(|_| panic!("{program} did not finish in time"))
        .unwrap_or_else(|e| panic!("{program} did not start: {e}"));
    let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8(output.stderr).expect("utf-8 stderr");
    assert!(output.status.success(), "{program} failed ({}): {stderr}", output.status);
    (stdout, stderr)
}

//! The plain-HTTP bench mode: `windlass-server --mode http` and `hyper-server` both answer
//! `GET /` with the same 13 bytes, as `text/plain`, several times over one kept-alive
//! connection, as `wrk` drives them.
//!
//! Each test starts the real binary on port 0 and speaks HTTP/1.1 over a plain socket.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// How long a read may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(5);

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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One response: status line, lower-cased header fields, body (read by `Content-Length`).
struct Answer {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn read_answer(reader: &mut BufReader<TcpStream>) -> Answer {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("a status line");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header field");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().expect("a numeric Content-Length"))
        .expect("a Content-Length");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    Answer { status_line: status_line.trim_end().to_owned(), headers, body }
}

fn check_hello(program: &str, args: &[&str]) {
    let server = Server::start(program, args);
    let stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(STEP)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // wrk's request, three times on one connection.
    let request = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    for _ in 0..3 {
        writer.write_all(request.as_bytes()).unwrap();
        let answer = read_answer(&mut reader);
        assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
        assert_eq!(answer.body, windlass_bench_servers::HELLO);
        assert_eq!(answer.header("content-type"), Some(windlass_bench_servers::HELLO_CONTENT_TYPE));
        assert_ne!(answer.header("connection").map(str::to_ascii_lowercase).as_deref(), Some("close"));
    }
}

#[test]
fn windlass_answers_hello_with_keep_alive() {
    check_hello(env!("CARGO_BIN_EXE_windlass-server"), &["--mode", "http"]);
}

#[test]
fn hyper_answers_hello_with_keep_alive() {
    check_hello(env!("CARGO_BIN_EXE_hyper-server"), &[]);
}

#[test]
fn websocket_comparators_refuse_http_mode() {
    for program in [env!("CARGO_BIN_EXE_tungstenite-server"), env!("CARGO_BIN_EXE_fastwebsockets-server")] {
        let status = Command::new(program)
            .args(["--listen", "127.0.0.1:0", "--mode", "http"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{program} took --mode http");
    }
}

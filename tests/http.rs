//! `HttpServer` as an HTTP/1.1 server over loopback: real clients (Python's `http.client` and
//! `requests`, curl) keep one connection for many requests; pipelined requests are answered in
//! order; HEAD; held answers and clients that leave while held; the keep-alive idle timeout
//! and the per-connection request limit; the `Host` rule. Bodies and refusals of bad framing
//! are in `http_bodies.rs`.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_support::{Client, Site, available, exchange, next_event, ok, refusal, run, runs};
use support::TestServer;
use windlass::HttpServer;

/// Checks the output of a client that printed `<status> <body>` per request, where each body
/// is `/conn`'s `conn=<id> got=<n>`: every status 200, the body lengths as `sent`, and one
/// connection id for all. Returns that id.
fn one_connection(output: &str, sent: &[usize]) -> String {
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), sent.len(), "one line per request expected: {output:?}");
    let mut ids = BTreeSet::new();
    for (line, sent) in lines.iter().zip(sent) {
        let rest = line.strip_prefix("200 conn=").unwrap_or_else(|| panic!("unexpected line {line:?}"));
        let (id, got) = rest.split_once(" got=").unwrap_or_else(|| panic!("unexpected line {line:?}"));
        assert_eq!(got, sent.to_string(), "body length in {line:?}");
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), 1, "the client opened more than one connection: {output}");
    ids.into_iter().next().unwrap()
}

fn host_port(addr: SocketAddr) -> [String; 2] {
    [addr.ip().to_string(), addr.port().to_string()]
}

/// GETs and POSTs with bodies alternate; the body of request `i` is `i` bytes.
const PYTHON_HTTP_CLIENT: &str = r#"
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
for i in range(5):
    if i % 2:
        c.request("POST", "/conn", body=b"x" * i)
    else:
        c.request("GET", "/conn")
    r = c.getresponse()
    print(r.status, r.read().decode().strip())
c.close()
"#;

#[tokio::test]
async fn python_http_client_sends_five_requests_on_one_connection() {
    if !available("python3", runs("python3", &["-c", "pass"]).await) {
        return;
    }
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let [host, port] = host_port(server.addr);
    let (stdout, _) = run("python3", &["-c", PYTHON_HTTP_CLIENT, &host, &port]).await;
    one_connection(&stdout, &[0, 1, 0, 3, 0]);
    server.stop().await;
}

/// `trust_env = False`: a proxy configured in the environment must not stand in between.
const PYTHON_REQUESTS: &str = r#"
import requests, sys
s = requests.Session()
s.trust_env = False
base = "http://%s:%s/conn" % (sys.argv[1], sys.argv[2])
for i in range(5):
    r = s.post(base, data=b"y" * i) if i % 2 else s.get(base)
    print(r.status_code, r.text.strip())
s.close()
"#;

#[tokio::test]
async fn python_requests_session_reuses_one_connection() {
    if !available("python3 with requests", runs("python3", &["-c", "import requests"]).await) {
        return;
    }
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let [host, port] = host_port(server.addr);
    let (stdout, _) = run("python3", &["-c", PYTHON_REQUESTS, &host, &port]).await;
    one_connection(&stdout, &[0, 1, 0, 3, 0]);
    server.stop().await;
}

#[tokio::test]
async fn curl_with_several_urls_reuses_one_connection() {
    if !available("curl", runs("curl", &["--version"]).await) {
        return;
    }
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let url = format!("http://{}/conn", server.addr);
    let (stdout, stderr) =
        run("curl", &["-sv", "--noproxy", "*", "--max-time", "10", "-w", "%{http_code}\n", &url, &url, &url])
            .await;
    // With `-w`, each body (`conn=.. got=0\n`) is followed by its status on a line of its own.
    let lines: Vec<&str> = stdout.lines().collect();
    let output = lines
        .chunks(2)
        .map(|pair| format!("{} {}", pair[pair.len() - 1], pair[0]))
        .collect::<Vec<_>>()
        .join("\n");
    one_connection(&output, &[0, 0, 0]);
    // The wording differs between curl versions ("Re-using existing connection", "Reusing
    // existing http: connection").
    let reuses =
        stderr.lines().filter(|l| l.contains("Re-using existing") || l.contains("Reusing existing")).count();
    assert_eq!(reuses, 2, "curl did not report reusing the connection twice: {stderr}");
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    // The first is the slowest to answer; the second has a body; the last asks to close.
    let requests = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                    GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(
        exchange(server.addr, requests).await,
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nGET /slow\
         HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
         HTTP/1.1 200 OK\r\nContent-Length: 9\r\nconnection: close\r\n\r\nGET /last"
    );
    // A body the handler leaves unread is skipped when it has arrived, content-length or
    // chunked, and the next request is read where it starts.
    let requests = "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                    GET /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nt: 1\r\n\r\n\
                    GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(
        exchange(server.addr, requests).await,
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nGET /a\
         HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nGET /b\
         HTTP/1.1 200 OK\r\nContent-Length: 6\r\nconnection: close\r\n\r\nGET /c"
    );
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_split_mid_head_are_answered_in_order() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let mut client = Client::connect(server.addr).await;
    client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHo").await;
    assert_eq!(client.response().await, ok("GET /a"));
    client.send("st: x\r\n\r\n").await;
    assert_eq!(client.response().await, ok("GET /b"));
    client.nothing_within(Duration::from_millis(50)).await;
    server.stop().await;
}

#[tokio::test]
async fn head_gets_the_head_of_a_get_without_its_body_and_the_connection_goes_on() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-cache\r\n\r\n";
    let mut client = Client::connect(server.addr).await;
    client.send("HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(client.head().await, head);
    // A body sent after the head would show up in front of the next answer.
    client.send("GET /page HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(client.response().await, format!("{head}<p>page</p>"));
    client.send("HEAD /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(
        client.rest().await,
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_held_request_is_answered_when_the_handler_is_released() {
    let (site, mut events) = Site::new();
    let release = site.release.clone();
    let server = TestServer::start(HttpServer::new(site)).await;
    let mut client = Client::connect(server.addr).await;
    client.send("GET /held HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(next_event(&mut events).await, "held");
    client.nothing_within(Duration::from_millis(100)).await;
    release.notify_one();
    assert_eq!(client.response().await, ok("released"));
    assert_eq!(next_event(&mut events).await, "dropped");
    // The connection is still good for the next request.
    client.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(client.response().await, ok("GET /after"));
    server.stop().await;
}

#[tokio::test]
async fn a_client_leaving_while_held_drops_the_handler_future() {
    let (site, mut events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let mut client = Client::connect(server.addr).await;
    client.send("GET /held HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(next_event(&mut events).await, "held");
    drop(client);
    // Never released: only dropping the future can have dropped its guard.
    assert_eq!(next_event(&mut events).await, "dropped");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let (site, _events) = Site::new();
    let server =
        TestServer::start(HttpServer::new(site).keep_alive_timeout(Duration::from_millis(200))).await;
    let mut client = Client::connect(server.addr).await;
    client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(client.response().await, ok("GET /a"));
    // A request within the timeout is served, and the idle time counts from its answer.
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(client.response().await, ok("GET /b"));
    let idle = Instant::now();
    assert_eq!(client.rest().await, "", "nothing is written when an idle connection closes");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "closed after {waited:?} idle, expected about 200 ms"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_last_request_allowed_on_a_connection_is_answered_with_connection_close() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site).max_requests_per_connection(2)).await;
    let mut client = Client::connect(server.addr).await;
    client.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(client.response().await, ok("GET /one"));
    client.send("GET /two HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        client.rest().await,
        "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nconnection: close\r\n\r\nGET /two"
    );
    // A pipelined third request is not answered either.
    let mut client = Client::connect(server.addr).await;
    client
        .send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(
        client.rest().await,
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nGET /1HTTP/1.1 200 OK\r\nContent-Length: 6\r\nconnection: close\r\n\r\nGET /2"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_request_without_exactly_one_host_is_refused() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let expected = refusal("HTTP/1.1 400 Bad Request", "a request must carry exactly one Host header");
    for request in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(exchange(server.addr, request).await, expected, "for {request:?}");
    }
    // On a kept-alive connection, too: the good request is answered, the bad one closes it.
    let mut client = Client::connect(server.addr).await;
    client.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(client.response().await, ok("GET /ok"));
    client.send("GET /bad HTTP/1.1\r\n\r\n").await;
    assert_eq!(client.rest().await, expected);
    server.stop().await;
}

#[tokio::test]
async fn http_1_0_clients_are_served_and_closed_unless_they_ask_to_keep_the_connection() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    // No Host needed; the answer says it closes, and the server does.
    assert_eq!(
        exchange(server.addr, "GET /a HTTP/1.0\r\n\r\n").await,
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nconnection: close\r\n\r\nGET /a"
    );
    // `Connection: keep-alive` keeps it, and the answer says so (HTTP/1.0 has no default).
    let mut client = Client::connect(server.addr).await;
    client.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await;
    assert_eq!(
        client.response().await,
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nconnection: keep-alive\r\n\r\nGET /a"
    );
    client.send("GET /b HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        client.rest().await,
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nconnection: close\r\n\r\nGET /b"
    );
    // Transfer codings are HTTP/1.1's: a 1.0 request that claims one is refused.
    assert_eq!(
        exchange(server.addr, "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").await,
        refusal("HTTP/1.1 400 Bad Request", "invalid Transfer-Encoding: not allowed in HTTP/1.0")
    );
    // Versions past HTTP/1 are not spoken.
    assert_eq!(
        exchange(server.addr, "GET / HTTP/2.0\r\nHost: x\r\n\r\n").await,
        refusal("HTTP/1.1 505 HTTP Version Not Supported", "unsupported HTTP version")
    );
    server.stop().await;
}

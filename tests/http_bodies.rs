//! Request bodies through `HttpServer` over loopback: `Content-Length` and chunked bodies
//! arrive whole however they are split; `Expect: 100-continue` is answered only when the
//! handler reads; the size limit (413), a stalled body (408), and every request-smuggling
//! shape (400, 501) are refused and close the connection.

#[path = "support/http.rs"]
mod http_support;
mod support;

use std::time::{Duration, Instant};

use http_support::{Client, Site, exchange, next_event, ok, refusal};
use support::TestServer;
use windlass::HttpServer;

const BAD_REQUEST: &str = "HTTP/1.1 400 Bad Request";

/// A chunked body of `hello world!` with a chunk extension of each kind (token, quoted string,
/// name alone) and two trailer fields.
const CHUNKED_BODY: &str = "5;name=value\r\nhello\r\n6 ; quoted=\"a; b\"\r\n world\r\n1;bare\r\n!\r\n0\r\nx-checksum: 1\r\nx-more: 2\r\n\r\n";

fn post(path: &str, headers: &str, body: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n{body}")
}

fn chunked(body: &str) -> String {
    post("/echo", "Transfer-Encoding: chunked\r\n", body)
}

#[tokio::test]
async fn content_length_and_chunked_bodies_arrive_whole_on_one_connection() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let mut client = Client::connect(server.addr).await;
    client.send(post("/echo", "Content-Length: 12\r\n", "hello world!")).await;
    assert_eq!(client.response().await, ok("hello world!"));
    client.send(chunked(CHUNKED_BODY)).await;
    assert_eq!(client.response().await, ok("hello world!"));
    // An empty body either way.
    client.send(post("/echo", "Content-Length: 0\r\n", "")).await;
    assert_eq!(client.response().await, ok(""));
    client.send(chunked("0\r\n\r\n")).await;
    assert_eq!(client.response().await, ok(""));
    // Exactly the body was consumed each time: the next request is read where it starts.
    client.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(client.response().await, ok("GET /after"));
    server.stop().await;
}

#[tokio::test]
async fn a_body_arriving_in_many_small_writes_arrives_whole() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let mut client = Client::connect(server.addr).await;
    let big = "0123456789".repeat(8);
    let cases = [
        (chunked(CHUNKED_BODY), "hello world!".to_owned()),
        (chunked(&format!("50\r\n{big}\r\n0\r\n\r\n")), big.clone()),
        (post("/echo", "Content-Length: 80\r\n", &big), big.clone()),
    ];
    for (request, body) in cases {
        // Three bytes a write, so every line and CRLF of the framing is split somewhere.
        for piece in request.as_bytes().chunks(3) {
            client.send(piece).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(client.response().await, ok(&body));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_content_length_over_the_limit_gets_413_without_a_100_continue() {
    let (site, mut events) = Site::new();
    let server = TestServer::start(HttpServer::new(site).max_body_bytes(16)).await;
    let too_large = refusal("HTTP/1.1 413 Payload Too Large", "request body exceeds 16 bytes");
    // Only the head is sent: the answer must not wait for the body, nor invite it.
    let head = post("/continue", "Content-Length: 17\r\nExpect: 100-continue\r\n", "");
    assert_eq!(exchange(server.addr, head).await, too_large);
    assert_eq!(exchange(server.addr, post("/echo", "Content-Length: 17\r\n", "")).await, too_large);
    assert!(events.try_recv().is_err(), "a refused request reached the handler");
    // At the limit is fine.
    let mut client = Client::connect(server.addr).await;
    client.send(post("/echo", "Content-Length: 16\r\n", "0123456789abcdef")).await;
    assert_eq!(client.response().await, ok("0123456789abcdef"));
    server.stop().await;
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_gets_413() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site).max_body_bytes(16)).await;
    let too_large = refusal("HTTP/1.1 413 Payload Too Large", "request body exceeds 16 bytes");
    let mut client = Client::connect(server.addr).await;
    client.send(chunked("a\r\n0123456789\r\n")).await;
    client.nothing_within(Duration::from_millis(50)).await;
    // The second chunk's size passes the limit: refused before its data is sent.
    client.send("7\r\n").await;
    assert_eq!(client.rest().await, too_large);
    // In one write, with the data following.
    let request = chunked("a\r\n0123456789\r\n7\r\nabcdefg\r\n0\r\n\r\n");
    assert_eq!(exchange(server.addr, request).await, too_large);
    server.stop().await;
}

#[tokio::test]
async fn every_smuggling_shape_is_refused_and_closes_the_connection() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    let both = "request has both Content-Length and Transfer-Encoding";
    let not_hex = "malformed chunked body: chunk size is not a hexadecimal number";
    let te_once = "invalid Transfer-Encoding: chunked must appear once, last";
    let cases = [
        (post("/echo", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), both),
        (post("/echo", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), both),
        (
            post("/echo", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            "invalid Content-Length: repeated",
        ),
        (
            post("/echo", "Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            "invalid Content-Length: repeated",
        ),
        (post("/echo", "Content-Length: +5\r\n", "hello"), "invalid Content-Length: not a decimal number"),
        (post("/echo", "Content-Length: 5, 5\r\n", "hello"), "invalid Content-Length: a list"),
        (chunked("zz\r\nhello\r\n0\r\n\r\n"), not_hex),
        (chunked("-1\r\nhello\r\n0\r\n\r\n"), not_hex),
        (
            chunked("10000000000000005\r\nhello\r\n0\r\n\r\n"),
            "malformed chunked body: chunk size has more than 16 hex digits",
        ),
        (chunked("5\nhello\r\n0\r\n\r\n"), "malformed chunked body: chunk-size line ends with a bare LF"),
        (chunked("5\r\nhello\n0\r\n\r\n"), "malformed chunked body: chunk data not followed by CRLF"),
        (chunked("5\r\nhello\r\n0\n\r\n"), "malformed chunked body: chunk-size line ends with a bare LF"),
        (chunked("5\r\nhello\r\n0\r\n\n"), "malformed chunked body: trailer line ends with a bare LF"),
        // Transfer-Encoding obfuscations.
        (post("/echo", "Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"), te_once),
        (post("/echo", "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n", "0\r\n\r\n"), te_once),
        (
            post("/echo", "Transfer-Encoding : chunked\r\n", "0\r\n\r\n"),
            "malformed request: invalid header name",
        ),
        (
            post("/echo", "Transfer-Encoding: x\r\n chunked\r\n", "0\r\n\r\n"),
            "malformed request: invalid header name",
        ),
    ];
    for (request, reason) in &cases {
        assert_eq!(exchange(server.addr, request).await, refusal(BAD_REQUEST, reason), "for {request:?}");
    }
    let gzip = post("/echo", "Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n");
    assert_eq!(
        exchange(server.addr, gzip).await,
        refusal("HTTP/1.1 501 Not Implemented", "unsupported transfer coding: only chunked is implemented")
    );
    // Behind a good request on a kept-alive connection: the good one is answered, and nothing
    // after the bad one is (a smuggled request must not be served).
    for (request, reason) in &cases {
        let mut client = Client::connect(server.addr).await;
        client
            .send(format!(
                "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n{request}GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
            ))
            .await;
        assert_eq!(client.response().await, ok("GET /ok"));
        assert_eq!(client.rest().await, refusal(BAD_REQUEST, reason), "for {request:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_after_the_body_timeout() {
    let (site, _events) = Site::new();
    let timeout = Duration::from_millis(300);
    let server = TestServer::start(HttpServer::new(site).body_timeout(timeout)).await;
    let stalled = refusal("HTTP/1.1 408 Request Timeout", "request body not received in time");
    for request in [post("/echo", "Content-Length: 10\r\n", "hello"), chunked("a\r\nhello")] {
        let mut client = Client::connect(server.addr).await;
        client.send(&request).await;
        let sent = Instant::now();
        assert_eq!(client.rest().await, stalled, "for {request:?}");
        let waited = sent.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "408 after {waited:?}, expected about {timeout:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn expect_100_continue_is_answered_when_the_handler_reads() {
    let (site, mut events) = Site::new();
    let release = site.release.clone();
    let server = TestServer::start(HttpServer::new(site)).await;
    let mut client = Client::connect(server.addr).await;
    client.send(post("/continue", "Content-Length: 5\r\nExpect: 100-continue\r\n", "")).await;
    assert_eq!(next_event(&mut events).await, "waiting");
    // The handler has not read yet: no 100.
    client.nothing_within(Duration::from_millis(100)).await;
    release.notify_one();
    assert_eq!(client.response().await, "HTTP/1.1 100 Continue\r\n\r\n");
    client.send("hello").await;
    assert_eq!(client.response().await, ok("hello"));
    // Chunked, on the same connection.
    client.send(post("/continue", "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", "")).await;
    assert_eq!(next_event(&mut events).await, "waiting");
    client.nothing_within(Duration::from_millis(50)).await;
    release.notify_one();
    assert_eq!(client.response().await, "HTTP/1.1 100 Continue\r\n\r\n");
    client.send("3\r\nabc\r\n0\r\n\r\n").await;
    assert_eq!(client.response().await, ok("abc"));
    server.stop().await;
}

#[tokio::test]
async fn expect_100_continue_to_a_handler_that_never_reads_gets_no_100() {
    let (site, _events) = Site::new();
    let server = TestServer::start(HttpServer::new(site)).await;
    // The answer comes without the body; the body was never invited, so the connection
    // cannot tell what comes next and closes.
    let request = post("/page", "Content-Length: 5\r\nExpect: 100-continue\r\n", "");
    assert_eq!(
        exchange(server.addr, request).await,
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n<p>page</p>"
    );
    server.stop().await;
}

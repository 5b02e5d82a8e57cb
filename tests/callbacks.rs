//! The guarantees documented on `MessageComponent`, end to end: callbacks of one connection never
//! overlap and arrive in order, `on_close` runs exactly once for every opened connection however it
//! ends, a failing callback closes only its own connection (1011), extensions live as long as the
//! connection, and `ConnectionHandle` works from other tasks and fails cleanly after the close.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Log, TestServer, WAIT, client_frame, raw_ws, read_frame, read_head, read_to_end, tcp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use windlass::{
    BoxError, CloseCode, CloseInfo, Connection, ConnectionHandle, Error, HttpServer, Message,
    MessageComponent, SendError, WsServer,
};

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;

fn push(log: &Log, line: String) {
    log.lock().unwrap().push(line);
}

fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// Waits until some line of `log` satisfies `pred`.
async fn wait_for(log: &Log, pred: impl Fn(&str) -> bool) -> Vec<String> {
    tokio::time::timeout(WAIT, async {
        loop {
            let now = lines(log);
            if now.iter().any(|l| pred(l)) {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; log so far: {:?}", lines(log)))
}

async fn read_bytes(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf)).await.expect("timed out").expect("read");
    buf
}

/// A short text frame as the server sends it.
fn text_frame(text: &str) -> Vec<u8> {
    let mut out = vec![0x81, u8::try_from(text.len()).expect("short text")];
    out.extend_from_slice(text.as_bytes());
    out
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(reason.as_bytes());
    out
}

async fn send_text(stream: &mut TcpStream, text: &str) {
    stream.write_all(&client_frame(true, TEXT, text.as_bytes())).await.unwrap();
}

async fn assert_echo(stream: &mut TcpStream, text: &str) {
    send_text(stream, text).await;
    assert_eq!(read_bytes(stream, text.len() + 2).await, text_frame(text));
}

/// Expects the server's close frame with `code` and `reason`, answers it, and expects EOF.
async fn answer_close(stream: &mut TcpStream, code: u16, reason: &str) {
    let frame = read_frame(stream).await;
    assert_eq!((frame.b0, frame.payload), (0x88, close_payload(code, reason)));
    stream.write_all(&client_frame(true, CLOSE, &code.to_be_bytes())).await.unwrap();
    assert_eq!(read_to_end(stream).await, b"");
}

// ---------------------------------------------------------------------------------------------
// Ordering and overlap

/// Sleeps inside every callback and records entering and leaving it; an overlapping call would
/// find `busy` set.
#[derive(Clone, Default)]
struct Sequencer {
    log: Log,
    busy: Arc<AtomicBool>,
}

impl Sequencer {
    async fn call(&self, what: String, pause: Duration) {
        if self.busy.swap(true, Ordering::SeqCst) {
            push(&self.log, format!("OVERLAP at {what}"));
        }
        push(&self.log, format!("enter {what}"));
        tokio::time::sleep(pause).await;
        push(&self.log, format!("exit {what}"));
        self.busy.store(false, Ordering::SeqCst);
    }
}

impl MessageComponent for Sequencer {
    async fn on_open(&self, _conn: &mut Connection) -> Result<(), BoxError> {
        self.call("open".to_owned(), Duration::from_millis(30)).await;
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        let text = msg.as_text().unwrap_or("?").to_owned();
        self.call(format!("message {text}"), Duration::from_millis(5)).await;
        conn.send(msg)?;
        Ok(())
    }

    async fn on_close(&self, _conn: &mut Connection, close: CloseInfo) {
        self.call(format!("close {}", close.code), Duration::from_millis(5)).await;
    }
}

// Two worker threads: the connection task and the client really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_never_overlap_and_arrive_in_order() {
    let component = Sequencer::default();
    let log = component.log.clone();
    let server = TestServer::start(HttpServer::new(WsServer::new(component))).await;
    // Everything in one write: the upgrade, 20 messages and the close arrive while on_open sleeps.
    let mut burst = support::upgrade_request("/", "").into_bytes();
    let texts: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    for text in &texts {
        burst.extend(client_frame(true, TEXT, text.as_bytes()));
    }
    burst.extend(client_frame(true, CLOSE, &close_payload(1000, "")));
    let mut stream = tcp(server.addr).await;
    stream.write_all(&burst).await.unwrap();
    let (head, mut rest) = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    rest.extend(read_to_end(&mut stream).await);
    let mut expected: Vec<u8> = texts.iter().flat_map(|t| text_frame(t)).collect();
    expected.extend_from_slice(b"\x88\x02\x03\xe8");
    assert_eq!(rest, expected, "echoes in order, then the close reply");

    let mut want = vec!["enter open".to_owned(), "exit open".to_owned()];
    for text in &texts {
        want.push(format!("enter message {text}"));
        want.push(format!("exit message {text}"));
    }
    want.push("enter close 1000".to_owned());
    want.push("exit close 1000".to_owned());
    assert_eq!(wait_for(&log, |l| l == "exit close 1000").await, want);
    drop(stream);
    server.stop().await;
}

/// Holds `on_message("wait")` until the test releases it.
#[derive(Clone, Default)]
struct Gate {
    release: Arc<Notify>,
    entered: Arc<Notify>,
}

impl MessageComponent for Gate {
    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        if msg.as_text() == Some("wait") {
            self.entered.notify_one();
            self.release.notified().await;
            conn.send("released")?;
        } else {
            conn.send(msg)?;
        }
        Ok(())
    }
}

// Two worker threads: the connection task and the client really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_callback_holds_only_its_own_connection() {
    let gate = Gate::default();
    let server = TestServer::start(HttpServer::new(WsServer::new(gate.clone()))).await;
    let mut slow = raw_ws(server.addr, "/").await;
    let mut other = raw_ws(server.addr, "/").await;
    send_text(&mut slow, "wait").await;
    tokio::time::timeout(WAIT, gate.entered.notified()).await.expect("on_message never started");
    // The held connection reads nothing more; its next message waits behind the callback.
    send_text(&mut slow, "queued").await;
    // Another connection is served meanwhile.
    assert_echo(&mut other, "not blocked").await;
    gate.release.notify_one();
    let mut expected = text_frame("released");
    expected.extend(text_frame("queued"));
    assert_eq!(read_bytes(&mut slow, expected.len()).await, expected);
    drop((slow, other));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle: on_close exactly once, failures contained

/// Records like `support::Recorder` (`open N`, `message N …`, `error N …`, `close N code reason
/// clean|unclean`) and misbehaves on command: the message `error` returns an error, `panic`
/// panics, `close` closes with 4000; the paths `/panic-on-open` and `/fail-on-open` fail
/// `on_open`.
#[derive(Clone, Default)]
struct Scripted {
    log: Log,
}

impl MessageComponent for Scripted {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        push(&self.log, format!("open {}", conn.id()));
        match conn.request().map(|r| r.uri().path()) {
            Some("/panic-on-open") => panic!("open exploded"),
            Some("/fail-on-open") => Err("open refused".into()),
            _ => Ok(()),
        }
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        push(&self.log, format!("message {} {}", conn.id(), msg.as_text().unwrap_or("?")));
        match msg.as_text() {
            Some("error") => return Err("scripted failure".into()),
            Some("panic") => panic!("scripted panic"),
            Some("close") => conn.close(CloseCode(4000), "scripted close"),
            _ => conn.send(msg)?,
        }
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        let clean = if close.clean { "clean" } else { "unclean" };
        push(&self.log, format!("close {} {} {} {clean}", conn.id(), close.code, close.reason));
    }

    async fn on_error(&self, conn: &mut Connection, error: Error) {
        push(&self.log, format!("error {} {error}", conn.id()));
    }
}

fn id_of(line: &str) -> &str {
    line.split(' ').nth(1).unwrap()
}

fn lines_of(log: &Log, id: &str) -> Vec<String> {
    lines(log).into_iter().filter(|l| id_of(l) == id).collect()
}

/// Opens a raw WebSocket on `path` and returns it with its connection id.
async fn open(server: &TestServer, log: &Log, path: &str) -> (TcpStream, String) {
    let opened = |log: &Log| lines(log).into_iter().filter(|l| l.starts_with("open ")).collect::<Vec<_>>();
    let before = opened(log).len();
    let stream = raw_ws(server.addr, path).await;
    wait_for(log, |_| opened(log).len() > before).await;
    let id = id_of(&opened(log)[before]).to_owned();
    (stream, id)
}

/// Like [`open`] for a connection whose `on_open` fails: the 101 and the 1011 close frame may
/// arrive in one read. Checks both exactly and returns the stream positioned after the close
/// frame, which the caller still has to answer.
async fn open_failing(server: &TestServer, log: &Log, path: &str) -> (TcpStream, String) {
    let before = lines(log).iter().filter(|l| l.starts_with("open ")).count();
    let mut stream = tcp(server.addr).await;
    stream.write_all(support::upgrade_request(path, "").as_bytes()).await.unwrap();
    let (head, mut rest) = read_head(&mut stream).await;
    assert_eq!(
        head,
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            support::ACCEPT
        )
    );
    let close = [&[0x88, 16, 0x03, 0xF3][..], b"internal error"].concat();
    assert!(rest.len() <= close.len(), "{rest:?}");
    rest.extend(read_bytes(&mut stream, close.len() - rest.len()).await);
    assert_eq!(rest, close);
    let opened = lines(log)
        .into_iter()
        .filter(|l| l.starts_with("open "))
        .nth(before)
        .expect("on_open ran: its failure sent the close frame");
    (stream, id_of(&opened).to_owned())
}

/// Answers a close frame already read, and expects EOF.
async fn reply_close(stream: &mut TcpStream, code: u16) {
    stream.write_all(&client_frame(true, CLOSE, &code.to_be_bytes())).await.unwrap();
    assert_eq!(read_to_end(stream).await, b"");
}

async fn closed(log: &Log, id: &str) -> Vec<String> {
    let prefix = format!("close {id} ");
    wait_for(log, |l| l.starts_with(&prefix)).await;
    lines_of(log, id)
}

/// Every opened connection has exactly one `close`, and it is its last line.
fn assert_closed_exactly_once(log: &[String]) {
    let opened: Vec<&str> = log.iter().filter(|l| l.starts_with("open ")).map(|l| id_of(l)).collect();
    for id in &opened {
        let own: Vec<&String> = log.iter().filter(|l| id_of(l) == *id).collect();
        let closes = own.iter().filter(|l| l.starts_with("close ")).count();
        assert_eq!(closes, 1, "connection {id}: {own:?}");
        assert!(own.last().unwrap().starts_with("close "), "close must be last for {id}: {own:?}");
    }
    for line in log.iter().filter(|l| l.starts_with("close ")) {
        assert!(opened.contains(&id_of(line)), "close without open: {line}");
    }
}

fn scripted_server(component: Scripted) -> HttpServer<WsServer<Scripted>> {
    HttpServer::new(WsServer::new(component).close_timeout(Duration::from_millis(500)))
}

// Two worker threads: the connection task and the client really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_close_runs_exactly_once_however_the_connection_ends() {
    let component = Scripted::default();
    let log = component.log.clone();
    let server = TestServer::start(scripted_server(component)).await;
    let mut expect: Vec<(String, String)> = Vec::new();

    let (mut s, id) = open(&server, &log, "/").await;
    s.write_all(&client_frame(true, CLOSE, &close_payload(1000, "bye"))).await.unwrap();
    assert_eq!(read_to_end(&mut s).await, b"\x88\x02\x03\xe8");
    expect.push((id, "1000 bye clean".into()));

    let (s, id) = open(&server, &log, "/").await;
    drop(s);
    expect.push((id, "1006 connection closed without a close frame unclean".into()));

    let (mut s, id) = open(&server, &log, "/").await;
    s.write_all(&[0x81, 0x01, b'x']).await.unwrap(); // unmasked
    assert_eq!(read_frame(&mut s).await.close_code(), Some(1002));
    drop(s);
    expect.push((id, "1002 protocol error: client frame is not masked unclean".into()));

    for command in ["error", "panic"] {
        let (mut s, id) = open(&server, &log, "/").await;
        send_text(&mut s, command).await;
        answer_close(&mut s, 1011, "internal error").await;
        expect.push((id, "1011 internal error clean".into()));
    }
    for path in ["/panic-on-open", "/fail-on-open"] {
        let (mut s, id) = open_failing(&server, &log, path).await;
        reply_close(&mut s, 1011).await;
        expect.push((id, "1011 internal error clean".into()));
    }

    let (mut s, id) = open(&server, &log, "/").await;
    send_text(&mut s, "close").await;
    answer_close(&mut s, 4000, "scripted close").await;
    expect.push((id, "4000 scripted close clean".into()));

    let (mut s, id) = open(&server, &log, "/").await;
    send_text(&mut s, "close").await;
    drop(s); // never answers: no close frame came back, so 1006 (RFC 6455 §7.1.5)
    expect.push((id, "1006 connection closed without a close frame unclean".into()));

    for (id, _) in &expect {
        closed(&log, id).await;
    }

    // Server shutdown: one client answers the 1001, one stays silent until the close timeout.
    let (mut polite, polite_id) = open(&server, &log, "/").await;
    let (mut silent, silent_id) = open(&server, &log, "/").await;
    let answer = tokio::spawn(async move { answer_close(&mut polite, 1001, "server shutting down").await });
    server.stop().await;
    answer.await.unwrap();
    let frame = read_frame(&mut silent).await;
    assert_eq!(frame.payload, close_payload(1001, "server shutting down"));
    expect.push((polite_id, "1001 server shutting down clean".into()));
    expect.push((silent_id, "1006 no close frame received in time unclean".into()));

    let log = lines(&log);
    assert_closed_exactly_once(&log);
    for (id, want) in &expect {
        let close = log.iter().find(|l| l.starts_with(&format!("close {id} "))).unwrap();
        assert_eq!(close, &format!("close {id} {want}"), "{log:#?}");
    }
    assert_eq!(log.iter().filter(|l| l.starts_with("open ")).count(), expect.len());
}

/// Checks that `failing` (sent by one client) closes only that client with 1011 and reports
/// `error_text` to `on_error` before `on_close`, while another client and new clients go on.
async fn assert_failure_is_contained(failing: &str, error_text: &str) {
    let component = Scripted::default();
    let log = component.log.clone();
    let server = TestServer::start(scripted_server(component)).await;
    let (mut bystander, bystander_id) = open(&server, &log, "/").await;
    let (mut victim, victim_id) = open(&server, &log, "/").await;
    assert_echo(&mut bystander, "before").await;
    send_text(&mut victim, failing).await;
    // Messages after the failure are not delivered.
    send_text(&mut victim, "ignored").await;
    answer_close(&mut victim, 1011, "internal error").await;
    assert_eq!(
        closed(&log, &victim_id).await,
        [
            format!("open {victim_id}"),
            format!("message {victim_id} {failing}"),
            format!("error {victim_id} {error_text}"),
            format!("close {victim_id} 1011 internal error clean"),
        ]
    );
    assert_echo(&mut bystander, "after").await;
    let (mut newcomer, _) = open(&server, &log, "/").await;
    assert_echo(&mut newcomer, "new").await;
    assert_eq!(lines_of(&log, &bystander_id).len(), 3, "bystander untouched");
    drop((bystander, victim, newcomer));
    server.stop().await;
}

#[tokio::test]
async fn an_error_from_on_message_closes_only_that_connection_with_1011() {
    assert_failure_is_contained("error", "component error: scripted failure").await;
}

#[tokio::test]
async fn a_panic_in_on_message_closes_only_that_connection_with_1011() {
    assert_failure_is_contained("panic", "component panicked: scripted panic").await;
}

#[tokio::test]
async fn a_failing_on_open_is_reported_closed_with_1011_and_still_gets_on_close() {
    let component = Scripted::default();
    let log = component.log.clone();
    let server = TestServer::start(scripted_server(component)).await;
    for (path, error) in [
        ("/panic-on-open", "component panicked: open exploded"),
        ("/fail-on-open", "component error: open refused"),
    ] {
        let (mut s, id) = open_failing(&server, &log, path).await;
        // Sent after the failure: never delivered.
        send_text(&mut s, "hello?").await;
        reply_close(&mut s, 1011).await;
        assert_eq!(
            closed(&log, &id).await,
            [
                format!("open {id}"),
                format!("error {id} {error}"),
                format!("close {id} 1011 internal error clean"),
            ]
        );
    }
    let (mut s, _) = open(&server, &log, "/").await;
    assert_echo(&mut s, "fine").await;
    drop(s);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Extensions

#[derive(Clone)]
struct Nick(String);

#[derive(Clone, Copy)]
struct Count(u32);

/// Keeps a nickname (from `?nick=`) and a message count in the connection's extensions.
#[derive(Clone, Default)]
struct Tagged {
    log: Log,
}

impl MessageComponent for Tagged {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        let nick = conn
            .request()
            .and_then(|r| r.uri().query())
            .and_then(|q| q.strip_prefix("nick="))
            .unwrap_or("anonymous")
            .to_owned();
        conn.extensions_mut().insert(Nick(nick));
        conn.extensions_mut().insert(Count(0));
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        let count = conn.extensions_mut().get_mut::<Count>().ok_or("no count")?;
        count.0 += 1;
        let n = count.0;
        let nick = conn.extensions().get::<Nick>().ok_or("no nick")?.0.clone();
        conn.send(format!("{nick} #{n}: {}", msg.as_text().unwrap_or("?")))?;
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, _close: CloseInfo) {
        let nick = conn.extensions().get::<Nick>().map_or("missing", |n| n.0.as_str());
        let count = conn.extensions().get::<Count>().map_or(0, |c| c.0);
        push(&self.log, format!("close {nick} after {count}"));
    }
}

async fn ask(stream: &mut TcpStream, text: &str) -> String {
    send_text(stream, text).await;
    let frame = read_frame(stream).await;
    assert_eq!(frame.b0, 0x81);
    String::from_utf8(frame.payload).unwrap()
}

#[tokio::test]
async fn extensions_set_in_on_open_live_until_on_close_per_connection() {
    let component = Tagged::default();
    let log = component.log.clone();
    let server = TestServer::start(HttpServer::new(WsServer::new(component))).await;
    let mut ann = raw_ws(server.addr, "/?nick=ann").await;
    let mut bob = raw_ws(server.addr, "/?nick=bob").await;
    assert_eq!(ask(&mut ann, "hi").await, "ann #1: hi");
    assert_eq!(ask(&mut bob, "yo").await, "bob #1: yo");
    assert_eq!(ask(&mut ann, "again").await, "ann #2: again");
    ann.write_all(&client_frame(true, CLOSE, &close_payload(1000, ""))).await.unwrap();
    assert_eq!(read_to_end(&mut ann).await, b"\x88\x02\x03\xe8");
    drop(ann);
    assert_eq!(wait_for(&log, |l| l.starts_with("close ann")).await, ["close ann after 2"]);
    drop(bob);
    assert_eq!(
        wait_for(&log, |l| l.starts_with("close bob")).await,
        ["close ann after 2", "close bob after 1"]
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// ConnectionHandle

/// Keeps every connection's handle; on the message `spawn`, a spawned task sends through the
/// handle after the callback has returned; on `close`, closes with 4000. Records what sending
/// returns once the connection is closing.
#[derive(Clone, Default)]
struct Handles {
    log: Log,
    handles: Arc<Mutex<Vec<ConnectionHandle>>>,
}

impl MessageComponent for Handles {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.handles.lock().unwrap().push(conn.handle());
        push(&self.log, format!("open {}", conn.id()));
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        match msg.as_text() {
            Some("spawn") => {
                let handle = conn.handle();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    handle.send("pushed from a task").unwrap();
                });
            }
            Some("close") => {
                conn.close(CloseCode(4000), "closing");
                push(&self.log, format!("send after close: {:?}", conn.send("x")));
            }
            _ => conn.send(msg)?,
        }
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        let late = conn.send("from on_close");
        push(&self.log, format!("close {} {}", conn.id(), close.code));
        push(&self.log, format!("send in on_close: {late:?}"));
    }
}

impl Handles {
    fn handle(&self, index: usize) -> ConnectionHandle {
        self.handles.lock().unwrap()[index].clone()
    }
}

// Two worker threads: the connection task and the client really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_sends_from_other_tasks_reach_the_client() {
    let component = Handles::default();
    let server = TestServer::start(HttpServer::new(WsServer::new(component.clone()))).await;
    let (mut stream, _) = open(&server, &component.log, "/").await;
    // From a task the component spawned, after its callback returned.
    send_text(&mut stream, "spawn").await;
    assert_eq!(read_bytes(&mut stream, 20).await, text_frame("pushed from a task"));
    // From a task of our own: 100 messages, in order, while the connection sits idle.
    let handle = component.handle(0);
    assert!(!handle.is_closed());
    tokio::spawn(async move {
        for i in 0..100 {
            handle.send(format!("n{i}")).unwrap();
        }
        handle.send(Message::binary(vec![0xAB; 3])).unwrap();
    })
    .await
    .unwrap();
    let mut expected: Vec<u8> = (0..100).flat_map(|i| text_frame(&format!("n{i}"))).collect();
    expected.extend_from_slice(b"\x82\x03\xab\xab\xab");
    assert_eq!(read_bytes(&mut stream, expected.len()).await, expected);
    // A handle can close the connection too.
    component.handle(0).close(CloseCode(4001), "from a handle").unwrap();
    answer_close(&mut stream, 4001, "from a handle").await;
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn handle_send_after_close_fails_with_closed() {
    let component = Handles::default();
    let server = TestServer::start(HttpServer::new(WsServer::new(component.clone()))).await;
    let (mut stream, id) = open(&server, &component.log, "/").await;
    let handle = component.handle(0);
    assert!(!handle.is_closed());
    assert_eq!(handle.send("while open"), Ok(()));
    assert_eq!(read_bytes(&mut stream, 12).await, text_frame("while open"));
    stream.write_all(&client_frame(true, CLOSE, &close_payload(1000, ""))).await.unwrap();
    read_to_end(&mut stream).await;
    wait_for(&component.log, |l| l == format!("close {id} 1000")).await;
    assert!(handle.is_closed());
    assert_eq!(handle.send("too late"), Err(SendError::Closed));
    assert_eq!(handle.close(CloseCode::NORMAL, "too late"), Err(SendError::Closed));
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn sends_fail_once_the_connection_is_closing() {
    let component = Handles::default();
    let server = TestServer::start(HttpServer::new(WsServer::new(component.clone()))).await;
    let (mut stream, id) = open(&server, &component.log, "/").await;
    send_text(&mut stream, "close").await;
    let frame = read_frame(&mut stream).await;
    assert_eq!((frame.b0, frame.payload), (0x88, close_payload(4000, "closing")));
    stream.write_all(&client_frame(true, CLOSE, &close_payload(4000, ""))).await.unwrap();
    // Nothing follows our close frame on the wire (RFC 6455 §5.5.1).
    assert_eq!(read_to_end(&mut stream).await, b"");
    assert_eq!(
        wait_for(&component.log, |l| l.starts_with("send in on_close")).await,
        [
            format!("open {id}"),
            "send after close: Err(Closed)".to_owned(),
            format!("close {id} 4000"),
            "send in on_close: Err(Closed)".to_owned(),
        ]
    );
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn handle_send_while_closing_is_refused_and_not_written() {
    let component = Handles::default();
    let server = TestServer::start(HttpServer::new(WsServer::new(component.clone()))).await;
    let (mut stream, _) = open(&server, &component.log, "/").await;
    send_text(&mut stream, "close").await;
    let frame = read_frame(&mut stream).await;
    assert_eq!((frame.b0, frame.payload), (0x88, close_payload(4000, "closing")));
    // The server waits for our close reply; the connection is closing.
    let handle = component.handle(0);
    let sent = handle.send("after the close frame");
    stream.write_all(&client_frame(true, CLOSE, &close_payload(4000, ""))).await.unwrap();
    let after_close = read_to_end(&mut stream).await;
    assert_eq!(
        (sent, String::from_utf8_lossy(&after_close).into_owned()),
        (Err(SendError::Closed), String::new()),
        "send while closing, and the bytes after our close frame"
    );
    drop(stream);
    server.stop().await;
}

/// Fails on `error`, and panics in `on_error` and `on_close` after recording them.
#[derive(Clone, Default)]
struct Grumpy {
    log: Log,
}

impl MessageComponent for Grumpy {
    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        if msg.as_text() == Some("error") {
            return Err("grumpy".into());
        }
        conn.send(msg)?;
        Ok(())
    }

    async fn on_error(&self, conn: &mut Connection, error: Error) {
        push(&self.log, format!("error {} {error}", conn.id()));
        panic!("on_error panics too");
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        push(&self.log, format!("close {} {}", conn.id(), close.code));
        panic!("on_close panics too");
    }
}

#[tokio::test]
async fn panics_in_on_error_and_on_close_are_contained() {
    let component = Grumpy::default();
    let log = component.log.clone();
    let server = TestServer::start(HttpServer::new(WsServer::new(component))).await;
    let mut bystander = raw_ws(server.addr, "/").await;
    let mut victim = raw_ws(server.addr, "/").await;
    send_text(&mut victim, "error").await;
    answer_close(&mut victim, 1011, "internal error").await;
    let lines = wait_for(&log, |l| l.starts_with("close ")).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with(" component error: grumpy"), "{lines:?}");
    assert!(lines[1].ends_with(" 1011"), "on_close still runs: {lines:?}");
    // A panicking on_close does not take the server down.
    assert_echo(&mut bystander, "unaffected").await;
    let mut newcomer = raw_ws(server.addr, "/").await;
    assert_echo(&mut newcomer, "welcome").await;
    drop((bystander, victim, newcomer));
    server.stop().await;
}

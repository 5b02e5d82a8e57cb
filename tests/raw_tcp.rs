//! Raw TCP mode, spoken with plain `TcpStream`s: `IoServer::bind(addr, component)` serves the
//! same component type as a WebSocket server, one line per message.
//!
//! Lines end in `\n` or `\r\n` and arrive without it, whole however the bytes were split; sent
//! messages get a `\n`; invalid UTF-8 arrives as binary; the peer's EOF closes with 1000; an
//! overlong line closes with 1009; `close` flushes what is queued first.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use windlass::{
    BoxError, CloseCode, CloseInfo, Connection, ConnectionPool, HttpServer, LineServer, Message,
    MessageComponent, WsServer,
};

use support::{Recorder, TestServer, WAIT, read_to_end, tcp};

/// Reads exactly `n` bytes, bounded by [`WAIT`].
async fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .expect("timed out reading")
        .expect("read failed");
    buf
}

/// Starts a raw-TCP server for a [`Recorder`] and connects one client.
async fn recorder_server() -> (TestServer, Recorder, TcpStream) {
    let recorder = Recorder::default();
    let server = TestServer::start(recorder.clone()).await;
    let client = tcp(server.addr).await;
    (server, recorder, client)
}

/// The id of the only connection the recorder saw open.
async fn only_id(recorder: &Recorder) -> String {
    let lines = recorder.wait_for(|l| l.starts_with("open ")).await;
    lines[0].strip_prefix("open ").unwrap().to_owned()
}

/// Closes `client`'s sending side and waits for the server to close too.
async fn finish(mut client: TcpStream) -> Vec<u8> {
    client.shutdown().await.unwrap();
    read_to_end(&mut client).await
}

#[tokio::test]
async fn each_line_is_one_message_without_its_line_ending() {
    let (server, recorder, mut client) = recorder_server().await;
    client.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_exactly(&mut client, 6).await, b"hello\n");
    client.write_all(b"world\r\n").await.unwrap();
    // The echo gets `\n`, whatever ending the line came with.
    assert_eq!(read_exactly(&mut client, 6).await, b"world\n");
    assert_eq!(finish(client).await, b"");

    let id = only_id(&recorder).await;
    recorder.wait_for(|l| l.starts_with("close ")).await;
    assert_eq!(
        recorder.lines(),
        [
            format!("open {id}"),
            format!("message {id} text hello"),
            format!("message {id} text world"),
            // EOF from the peer: 1000, clean, no reason.
            format!("close {id} 1000  clean"),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_line_written_in_pieces_arrives_whole() {
    let (server, recorder, mut client) = recorder_server().await;
    for piece in [&b"hel"[..], b"lo wo", b"rld\r", b"\nsecond ", b"line\n"] {
        client.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read_exactly(&mut client, 24).await, b"hello world\nsecond line\n");
    let id = only_id(&recorder).await;
    assert_eq!(
        recorder.lines(),
        [
            format!("open {id}"),
            format!("message {id} text hello world"),
            format!("message {id} text second line"),
        ]
    );
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn several_lines_in_one_write_arrive_as_several_messages_in_order() {
    let (server, recorder, mut client) = recorder_server().await;
    client.write_all(b"one\ntwo\r\nthree\n\nfour\n").await.unwrap();
    // The empty line is a message too, echoed as an empty line.
    assert_eq!(read_exactly(&mut client, 20).await, b"one\ntwo\nthree\n\nfour\n");
    let id = only_id(&recorder).await;
    assert_eq!(
        recorder.lines(),
        [
            format!("open {id}"),
            format!("message {id} text one"),
            format!("message {id} text two"),
            format!("message {id} text three"),
            format!("message {id} text "),
            format!("message {id} text four"),
        ]
    );
    drop(client);
    server.stop().await;
}

/// Greets each connection with messages of every shape, then echoes.
#[derive(Clone, Default)]
struct Greeter;

impl MessageComponent for Greeter {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        conn.send("welcome")?;
        conn.send(Message::binary(vec![0u8, 1, 2]))?;
        conn.send("already terminated\n")?;
        conn.send("")?;
        conn.send("two\nlines")?;
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        conn.send(msg)?;
        Ok(())
    }
}

#[tokio::test]
async fn sent_messages_get_a_newline_appended() {
    let server = TestServer::start(Greeter).await;
    let mut client = tcp(server.addr).await;
    // A `\n` is added unless the message already ends with one; nothing else is changed.
    let expected = b"welcome\n\x00\x01\x02\nalready terminated\n\ntwo\nlines\n";
    assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
    assert_eq!(finish(client).await, b"");
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_utf8_line_arrives_as_binary() {
    let (server, recorder, mut client) = recorder_server().await;
    client.write_all(b"caf\xe9\r\n\xff\xfe\xfd\n").await.unwrap();
    // Echoed as sent (binary is written as is), each with `\n`.
    assert_eq!(read_exactly(&mut client, 9).await, b"caf\xe9\n\xff\xfe\xfd\n");
    let id = only_id(&recorder).await;
    assert_eq!(
        recorder.lines(),
        [format!("open {id}"), format!("message {id} binary 4"), format!("message {id} binary 3"),]
    );
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn an_unterminated_last_line_is_delivered_at_eof() {
    let (server, recorder, mut client) = recorder_server().await;
    client.write_all(b"first\nlast words").await.unwrap();
    assert_eq!(read_exactly(&mut client, 6).await, b"first\n");
    client.shutdown().await.unwrap();
    let id = only_id(&recorder).await;
    recorder.wait_for(|l| l.starts_with("close ")).await;
    assert_eq!(
        recorder.lines(),
        [
            format!("open {id}"),
            format!("message {id} text first"),
            format!("message {id} text last words"),
            format!("close {id} 1000  clean"),
        ]
    );
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_peer_that_closed_its_sending_side_still_gets_the_reply_to_its_last_line() {
    let (server, _recorder, mut client) = recorder_server().await;
    // `printf 'last words' | nc -N host port`: send, close the sending side, read the reply.
    client.write_all(b"last words").await.unwrap();
    client.shutdown().await.unwrap();
    assert_eq!(read_to_end(&mut client).await, b"last words\n");
    drop(client);
    server.stop().await;
}

/// Starts a raw-TCP server for a [`Recorder`] with 16-byte lines.
async fn short_lines_server() -> (TestServer, Recorder, TcpStream) {
    let recorder = Recorder::default();
    let server = TestServer::start(LineServer::new(recorder.clone()).max_line_length(16)).await;
    let client = tcp(server.addr).await;
    (server, recorder, client)
}

#[tokio::test]
async fn a_line_longer_than_the_limit_closes_the_connection_with_1009() {
    let (server, recorder, mut client) = short_lines_server().await;
    // Exactly at the limit (the `\r\n` does not count) is fine.
    client.write_all(b"0123456789abcdef\r\n").await.unwrap();
    assert_eq!(read_exactly(&mut client, 17).await, b"0123456789abcdef\n");
    client.write_all(b"0123456789abcdefg\nnever seen\n").await.unwrap();
    // The server closes: nothing more is echoed.
    assert_eq!(read_to_end(&mut client).await, b"");
    drop(client);
    let id = only_id(&recorder).await;
    recorder.wait_for(|l| l.starts_with("close ")).await;
    assert_eq!(
        recorder.lines(),
        [
            format!("open {id}"),
            format!("message {id} text 0123456789abcdef"),
            format!("error {id} line exceeds 16 bytes"),
            format!("close {id} 1009 line exceeds 16 bytes unclean"),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn an_overlong_line_is_refused_before_its_newline_arrives() {
    let (server, recorder, mut client) = short_lines_server().await;
    // No newline, ever: the server must not buffer without bound waiting for one.
    client.write_all(&[b'x'; 40]).await.unwrap();
    assert_eq!(read_to_end(&mut client).await, b"");
    drop(client);
    let id = only_id(&recorder).await;
    recorder.wait_for(|l| l.starts_with("close ")).await;
    assert_eq!(
        recorder.lines(),
        [
            format!("open {id}"),
            format!("error {id} line exceeds 16 bytes"),
            format!("close {id} 1009 line exceeds 16 bytes unclean"),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unterminated_last_line_over_the_limit_is_refused() {
    let (server, recorder, mut client) = short_lines_server().await;
    client.write_all(&[b'x'; 17]).await.unwrap();
    client.shutdown().await.unwrap();
    read_to_end(&mut client).await;
    drop(client);
    let id = only_id(&recorder).await;
    recorder.wait_for(|l| l.starts_with("close ")).await;
    assert_eq!(
        recorder.lines(),
        [
            format!("open {id}"),
            format!("error {id} line exceeds 16 bytes"),
            format!("close {id} 1009 line exceeds 16 bytes unclean"),
        ]
    );
    server.stop().await;
}

/// Lines [`Closer`] queues before closing: 8 MB, more than the kernel buffers hold (a send
/// buffer grows to at most 4 MiB here).
const FAREWELL_LINES: usize = 80_000;

fn farewell_line(i: usize) -> String {
    format!("farewell {i:05} {}", "y".repeat(84))
}

/// On `bye`, queues [`FAREWELL_LINES`] lines and closes; on `more`, queues them and stays open;
/// records like a [`Recorder`].
#[derive(Clone, Default)]
struct Closer {
    recorder: Recorder,
}

impl MessageComponent for Closer {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.recorder.on_open(conn).await
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        if !matches!(msg.as_text(), Some("bye" | "more")) {
            return self.recorder.on_message(conn, msg).await;
        }
        for i in 0..FAREWELL_LINES {
            conn.send(farewell_line(i))?;
        }
        if msg.as_text() == Some("more") {
            return Ok(());
        }
        conn.close(CloseCode::NORMAL, "bye");
        let late = conn.send("too late");
        let line = format!("send after close {}: {late:?}", conn.id());
        self.recorder.log.lock().unwrap().push(line);
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        self.recorder.on_close(conn, close).await;
    }
}

/// A client with a small receive buffer (not auto-tuned up to 32 MiB), so most of a farewell
/// waits in the server's queue.
async fn small_buffer_client(server: &TestServer) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(server.addr).await.unwrap()
}

fn farewell() -> String {
    (0..FAREWELL_LINES).map(|i| farewell_line(i) + "\n").collect()
}

#[tokio::test]
async fn close_flushes_queued_output_before_closing() {
    let closer = Closer::default();
    let recorder = closer.recorder.clone();
    let server = TestServer::start(LineServer::new(closer).max_send_queue(64 << 20)).await;
    let mut client = small_buffer_client(&server).await;
    client.write_all(b"bye\n").await.unwrap();
    // Read only once the whole farewell is queued and the close requested.
    recorder.wait_for(|l| l.starts_with("send after close ")).await;
    let expected = farewell();
    let got = read_to_end(&mut client).await;
    assert_eq!(got.len(), expected.len(), "lost or extra output");
    assert!(got == expected.as_bytes(), "output corrupted");
    drop(client);

    let id = only_id(&recorder).await;
    recorder.wait_for(|l| l.starts_with("close ")).await;
    assert_eq!(
        recorder.lines(),
        [
            format!("open {id}"),
            format!("send after close {id}: Err(Closed)"),
            format!("close {id} 1000 bye clean"),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_peer_that_closed_its_sending_side_still_gets_all_queued_output() {
    let closer = Closer::default();
    let server = TestServer::start(LineServer::new(closer).max_send_queue(64 << 20)).await;
    let mut client = small_buffer_client(&server).await;
    // `printf 'more\n' | nc -N host port`: ask, close the sending side, read the answer.
    client.write_all(b"more\n").await.unwrap();
    client.shutdown().await.unwrap();
    let got = read_to_end(&mut client).await;
    assert_eq!(got.len(), farewell().len(), "truncated");
    drop(client);
    server.stop().await;
}

/// Ratchet's tutorial chat: a welcome line, then every message goes to everyone else.
#[derive(Clone, Default)]
struct Chat {
    clients: Arc<ConnectionPool>,
}

impl MessageComponent for Chat {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.clients.attach(conn);
        conn.send("welcome")?;
        Ok(())
    }

    async fn on_message(&self, from: &mut Connection, msg: Message) -> Result<(), BoxError> {
        self.clients.broadcast_except(from.id(), msg);
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, _close: CloseInfo) {
        self.clients.detach(conn.id());
    }
}

type LineClient = BufReader<TcpStream>;

/// Connects and reads the welcome line, after which the client is in the chat.
async fn join_chat(server: &TestServer) -> LineClient {
    let mut client = BufReader::new(tcp(server.addr).await);
    assert_eq!(read_line(&mut client).await, b"welcome\n");
    client
}

/// The next line, with its `\n`.
async fn read_line(client: &mut LineClient) -> Vec<u8> {
    let mut line = Vec::new();
    tokio::time::timeout(WAIT, client.read_until(b'\n', &mut line))
        .await
        .expect("timed out waiting for a line")
        .expect("read failed");
    line
}

#[tokio::test]
async fn a_chat_over_raw_tcp_sends_to_everyone_but_the_sender() {
    let server = TestServer::start(Chat::default()).await;
    let mut a = join_chat(&server).await;
    let mut b = join_chat(&server).await;
    let mut c = join_chat(&server).await;

    a.write_all(b"hi from a\n").await.unwrap();
    assert_eq!(read_line(&mut b).await, b"hi from a\n");
    assert_eq!(read_line(&mut c).await, b"hi from a\n");
    // b answers only after it saw a's line, so had a been sent its own line, it would come
    // first on a's stream.
    b.write_all(b"hi from b\r\n").await.unwrap();
    assert_eq!(read_line(&mut a).await, b"hi from b\n");
    assert_eq!(read_line(&mut c).await, b"hi from b\n");
    c.write_all(b"hi from c\n").await.unwrap();
    assert_eq!(read_line(&mut a).await, b"hi from c\n");
    assert_eq!(read_line(&mut b).await, b"hi from c\n");

    // A member that leaves no longer receives, and the others go on.
    drop(c);
    a.write_all(b"still here\n").await.unwrap();
    assert_eq!(read_line(&mut b).await, b"still here\n");
    drop((a, b));
    server.stop().await;
}

type WsClient = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn next_message(ws: &mut WsClient) -> WsMessage {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("timed out waiting for a message")
        .expect("stream ended")
        .expect("read failed")
}

#[tokio::test]
async fn one_chat_serves_websocket_and_raw_tcp_clients_together() {
    // The same component value behind both stacks: one room, two wire formats.
    let chat = Chat::default();
    let raw_server = TestServer::start(chat.clone()).await;
    let ws_server = TestServer::start(HttpServer::new(WsServer::new(chat))).await;
    let mut raw = join_chat(&raw_server).await;
    let connect = tokio_tungstenite::connect_async(ws_server.url("/"));
    let (mut ws, _) = tokio::time::timeout(WAIT, connect).await.expect("connect timed out").expect("connect");
    assert_eq!(next_message(&mut ws).await, WsMessage::text("welcome"));

    raw.write_all(b"from the terminal\n").await.unwrap();
    assert_eq!(next_message(&mut ws).await, WsMessage::text("from the terminal"));
    raw.write_all(b"\xff\x00 not utf-8\n").await.unwrap();
    assert_eq!(next_message(&mut ws).await, WsMessage::binary(b"\xff\x00 not utf-8".to_vec()));
    ws.send(WsMessage::text("from the browser")).await.unwrap();
    assert_eq!(read_line(&mut raw).await, b"from the browser\n");
    ws.send(WsMessage::binary(vec![0xC0, 0xFF])).await.unwrap();
    assert_eq!(read_line(&mut raw).await, b"\xC0\xFF\n");

    drop((raw, ws));
    raw_server.stop().await;
    ws_server.stop().await;
}

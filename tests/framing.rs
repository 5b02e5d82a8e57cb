//! RFC 6455 framing over loopback with raw frames: exact server bytes, fragmentation and control
//! frames, every protocol violation with its close code, the close handshake in both directions,
//! and keep-alive.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Recorder, ServerFrame, TestServer, WAIT, client_frame, raw_ws, read_frame, read_to_end};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use windlass::{
    BoxError, CloseCode, CloseInfo, Connection, ConnectionHandle, Error, HttpServer, Message,
    MessageComponent, WsServer,
};

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Echoes like [`Recorder`] (and records like it), and closes on command: `close-me` closes with
/// 4000 "bye", `close-long` with a reason too long for a control frame, `close-1006` with a
/// code that may not be sent, `close-1005` without a code.
#[derive(Clone, Default)]
struct Echo {
    rec: Recorder,
    handles: Arc<Mutex<Vec<ConnectionHandle>>>,
}

impl MessageComponent for Echo {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        self.handles.lock().unwrap().push(conn.handle());
        self.rec.on_open(conn).await
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        match msg.as_text() {
            Some("close-me") => conn.close(CloseCode(4000), "bye"),
            Some("close-long") => conn.close(CloseCode(4001), &"é".repeat(100)),
            Some("close-1005") => conn.close(CloseCode::NO_STATUS, "not on the wire"),
            Some("close-1006") => conn.close(CloseCode::ABNORMAL, "not on the wire"),
            _ => return self.rec.on_message(conn, msg).await,
        }
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        self.rec.on_close(conn, close).await;
    }

    async fn on_error(&self, conn: &mut Connection, error: Error) {
        self.rec.on_error(conn, error).await;
    }
}

/// Starts a server around [`Echo`] with `configure` applied to its `WsServer`.
async fn start(configure: impl FnOnce(WsServer<Echo>) -> WsServer<Echo>) -> (TestServer, Recorder) {
    let (server, echo) = start_echo(configure).await;
    (server, echo.rec)
}

async fn start_echo(configure: impl FnOnce(WsServer<Echo>) -> WsServer<Echo>) -> (TestServer, Echo) {
    let echo = Echo::default();
    let server = TestServer::start(HttpServer::new(configure(WsServer::new(echo.clone())))).await;
    (server, echo)
}

async fn read_bytes(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf)).await.expect("timed out").expect("read");
    buf
}

/// An unmasked server frame's exact bytes.
fn server_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(reason.as_bytes());
    out
}

/// The id in a Recorder line (`open 7` → 7).
fn id_of(line: &str) -> &str {
    line.split(' ').nth(1).unwrap()
}

/// The Recorder lines of connection `id`.
fn lines_of(rec: &Recorder, id: &str) -> Vec<String> {
    rec.lines().into_iter().filter(|l| id_of(l) == id).collect()
}

/// Waits for connection `id`'s `on_close` and returns its lines.
async fn closed(rec: &Recorder, id: &str) -> Vec<String> {
    let prefix = format!("close {id} ");
    rec.wait_for(|l| l.starts_with(&prefix)).await;
    lines_of(rec, id)
}

/// Opens a raw WebSocket and returns it with the connection's id.
async fn open(server: &TestServer, rec: &Recorder) -> (TcpStream, String) {
    let nth_open = |n: usize| {
        let lines = rec.lines();
        let line = lines.iter().filter(|l| l.starts_with("open ")).nth(n)?;
        Some(id_of(line).to_owned())
    };
    let before = rec.lines().iter().filter(|l| l.starts_with("open ")).count();
    let stream = raw_ws(server.addr, "/").await;
    let id = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(id) = nth_open(before) {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("on_open never ran");
    (stream, id)
}

/// Sends `input` on a fresh connection and checks the server fails it the RFC 6455 way: a close
/// frame with `code` and a UTF-8 reason, then FIN; `on_error` then `on_close` (unclean) with the
/// same code and reason, and nothing delivered. Returns the close reason.
async fn assert_fails(server: &TestServer, rec: &Recorder, input: &[u8], code: u16) -> String {
    let (mut stream, id) = open(server, rec).await;
    stream.write_all(input).await.unwrap();
    let frame = read_frame(&mut stream).await;
    assert_eq!(frame.b0, 0x88, "expected a close frame for {input:02x?}, got {frame:?}");
    assert_eq!(frame.close_code(), Some(code), "for {input:02x?}: {frame:?}");
    let reason = String::from_utf8(frame.payload[2..].to_vec()).expect("UTF-8 close reason");
    assert!(!reason.is_empty(), "a protocol close says why");
    assert_eq!(read_to_end(&mut stream).await, b"", "FIN right after the close frame");
    drop(stream);
    let lines = closed(rec, &id).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], format!("open {id}"));
    assert!(lines[1].starts_with(&format!("error {id} protocol error: ")), "{lines:?}");
    assert_eq!(lines[2], format!("close {id} {code} {reason} unclean"));
    reason
}

/// [`assert_fails`] on a fresh default server.
async fn fails_with(input: &[u8], code: u16) -> String {
    let (server, rec) = start(|ws| ws).await;
    let reason = assert_fails(&server, &rec, input, code).await;
    assert_still_echoes(&server).await;
    server.stop().await;
    reason
}

async fn assert_still_echoes(server: &TestServer) {
    let mut stream = raw_ws(server.addr, "/").await;
    stream.write_all(&client_frame(true, TEXT, b"alive")).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 7).await, b"\x81\x05alive");
}

#[tokio::test]
async fn text_and_binary_echo_as_exact_unmasked_frames() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, TEXT, b"hello")).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 7).await, b"\x81\x05hello");
    stream.write_all(&client_frame(true, BINARY, &[0, 1, 0xFF])).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 5).await, b"\x82\x03\x00\x01\xff");
    stream.write_all(&client_frame(true, TEXT, b"")).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 2).await, b"\x81\x00");
    // 125 bytes is the last 7-bit length; 126 takes the 16-bit form.
    for len in [125, 126] {
        let payload = vec![b'x'; len];
        stream.write_all(&client_frame(true, TEXT, &payload)).await.unwrap();
        let expected = server_frame(0x81, &payload);
        assert_eq!(read_bytes(&mut stream, expected.len()).await, expected);
    }
    let log = lines_of(&rec, &id);
    assert_eq!(
        log[1..4],
        [format!("message {id} text hello"), format!("message {id} binary 3"), format!("message {id} text "),]
    );
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn a_frame_trickled_one_byte_per_write_is_decoded() {
    let (server, _rec) = start(|ws| ws).await;
    let mut stream = raw_ws(server.addr, "/").await;
    for byte in client_frame(true, TEXT, "trickled é".as_bytes()) {
        stream.write_all(&[byte]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::task::yield_now().await;
    }
    let expected = server_frame(0x81, "trickled é".as_bytes());
    assert_eq!(read_bytes(&mut stream, expected.len()).await, expected);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn fragmented_message_with_an_interleaved_ping() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    let mut burst = client_frame(false, TEXT, b"Hel");
    burst.extend(client_frame(true, PING, b"mid"));
    burst.extend(client_frame(false, CONTINUATION, b"lo "));
    burst.extend(client_frame(false, CONTINUATION, b""));
    burst.extend(client_frame(true, CONTINUATION, b"world"));
    stream.write_all(&burst).await.unwrap();
    // The pong answers at once, with the ping's payload; the message follows, whole.
    assert_eq!(read_bytes(&mut stream, 5).await, b"\x8a\x03mid");
    assert_eq!(read_bytes(&mut stream, 13).await, b"\x81\x0bHello world");
    // Fragmented binary too.
    let mut burst = client_frame(false, BINARY, &[1, 2]);
    burst.extend(client_frame(true, CONTINUATION, &[3]));
    stream.write_all(&burst).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 5).await, b"\x82\x03\x01\x02\x03");
    // A pong from the client is not answered and not delivered.
    stream.write_all(&client_frame(true, PONG, b"unsolicited")).await.unwrap();
    stream.write_all(&client_frame(true, TEXT, b"after")).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 7).await, b"\x81\x05after");
    let log = lines_of(&rec, &id);
    assert_eq!(
        log[1..],
        [
            format!("message {id} text Hello world"),
            format!("message {id} binary 3"),
            format!("message {id} text after"),
        ]
    );
    drop(stream);
    server.stop().await;
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn large_messages_use_the_16_and_64_bit_length_forms() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    // 65,535 is the largest 16-bit length; 64 KiB needs the 64-bit form.
    for len in [65_535, 64 * 1024, 200 * 1024] {
        let payload = pattern(len);
        stream.write_all(&client_frame(true, BINARY, &payload)).await.unwrap();
        let head = read_bytes(&mut stream, if len <= 0xFFFF { 4 } else { 10 }).await;
        assert_eq!(head, server_frame(0x82, &payload)[..head.len()], "len {len}");
        assert!(read_bytes(&mut stream, len).await == payload, "payload of {len} bytes differs");
    }
    // 200 KiB of text in 50 fragments comes back as one frame.
    // Multi-byte characters end up split across fragments and reads.
    let text: Vec<u8> = "windlass é𝄞".repeat(200 * 1024 / 15).into_bytes();
    let chunks: Vec<&[u8]> = text.chunks(text.len().div_ceil(50)).collect();
    let mut burst = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { TEXT } else { CONTINUATION };
        burst.extend(client_frame(i == chunks.len() - 1, opcode, chunk));
    }
    stream.write_all(&burst).await.unwrap();
    let expected = server_frame(0x81, &text);
    assert!(read_bytes(&mut stream, expected.len()).await == expected, "fragmented text differs");
    let log = lines_of(&rec, &id);
    assert_eq!(
        log.len(),
        5,
        "one callback per message: {:?}",
        log.iter().map(|l| &l[..l.len().min(40)]).collect::<Vec<_>>()
    );
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn unmasked_frame_is_1002() {
    let reason = fails_with(&[0x81, 0x02, b'h', b'i'], 1002).await;
    assert_eq!(reason, "protocol error: client frame is not masked");
}

#[tokio::test]
async fn reserved_opcodes_are_1002() {
    let (server, rec) = start(|ws| ws).await;
    for opcode in [0x3, 0x7, 0xB, 0xF] {
        assert_fails(&server, &rec, &client_frame(true, opcode, b"x"), 1002).await;
    }
    assert_still_echoes(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn reserved_bits_are_1002() {
    let (server, rec) = start(|ws| ws).await;
    for rsv in [0x40, 0x20, 0x10] {
        let mut frame = client_frame(true, TEXT, b"x");
        frame[0] |= rsv;
        assert_fails(&server, &rec, &frame, 1002).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn fragmented_ping_is_1002() {
    fails_with(&client_frame(false, PING, b"x"), 1002).await;
}

#[tokio::test]
async fn control_frame_over_125_bytes_is_1002() {
    fails_with(&client_frame(true, PING, &[b'p'; 126]), 1002).await;
}

#[tokio::test]
async fn stray_continuation_is_1002() {
    fails_with(&client_frame(true, CONTINUATION, b"orphan"), 1002).await;
}

#[tokio::test]
async fn new_data_frame_inside_a_fragmented_message_is_1002() {
    let mut input = client_frame(false, TEXT, b"start");
    input.extend(client_frame(true, TEXT, b"restart"));
    fails_with(&input, 1002).await;
    let mut input = client_frame(false, BINARY, b"start");
    input.extend(client_frame(false, TEXT, b"restart"));
    fails_with(&input, 1002).await;
}

#[tokio::test]
async fn non_minimal_or_overflowing_lengths_are_1002() {
    // Masked (0x80) with the 16-bit (126) or 64-bit (127) length form, a zero mask key:
    // length 5 in the 16-bit form; 65,535 in the 64-bit form; a 64-bit length with its MSB set.
    const MASKED_16: u8 = 0xFE;
    const MASKED_64: u8 = 0xFF;
    let (server, rec) = start(|ws| ws).await;
    let sixteen = [&[0x81, MASKED_16, 0, 5, 0, 0, 0, 0][..], b"hello"].concat();
    let sixty_four = [0x81, MASKED_64, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0];
    let overflow = [0x82, MASKED_64, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for input in [&sixteen[..], &sixty_four[..], &overflow[..]] {
        assert_fails(&server, &rec, input, 1002).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_text_is_1007() {
    let (server, rec) = start(|ws| ws).await;
    let reason = assert_fails(&server, &rec, &client_frame(true, TEXT, b"ab\xffcd"), 1007).await;
    assert_eq!(reason, "protocol error: invalid UTF-8 in text");
    // Invalid in the second fragment.
    let mut input = client_frame(false, TEXT, b"fine");
    input.extend(client_frame(true, CONTINUATION, b"\xc0\xaf"));
    assert_fails(&server, &rec, &input, 1007).await;
    // A code point left unfinished when the message ends.
    let mut input = client_frame(false, TEXT, b"caf");
    input.extend(client_frame(true, CONTINUATION, b"\xc3"));
    assert_fails(&server, &rec, &input, 1007).await;
    // Surrogates are not UTF-8.
    assert_fails(&server, &rec, &client_frame(true, TEXT, b"\xed\xa0\x80"), 1007).await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_fails_before_the_message_ends() {
    // The first fragment is already invalid; the connection fails without waiting for the rest.
    fails_with(&client_frame(false, TEXT, b"\xff"), 1007).await;
}

#[tokio::test]
async fn a_code_point_split_across_fragments_is_valid() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    // "café 𝄞": é split 1+1, 𝄞 (4 bytes) split 1+2+1 across four fragments.
    let mut input = client_frame(false, TEXT, b"caf\xc3");
    input.extend(client_frame(false, CONTINUATION, b"\xa9 \xf0"));
    input.extend(client_frame(false, CONTINUATION, b"\x9d\x84"));
    input.extend(client_frame(true, CONTINUATION, b"\x9e"));
    stream.write_all(&input).await.unwrap();
    let expected = server_frame(0x81, "café 𝄞".as_bytes());
    assert_eq!(read_bytes(&mut stream, expected.len()).await, expected);
    assert_eq!(lines_of(&rec, &id)[1], format!("message {id} text café 𝄞"));
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_close_reason_is_1007() {
    fails_with(&client_frame(true, CLOSE, b"\x03\xe8bad \xff"), 1007).await;
}

#[tokio::test]
async fn close_codes_that_may_not_be_sent_are_1002() {
    let (server, rec) = start(|ws| ws).await;
    for code in [0_u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        assert_fails(&server, &rec, &client_frame(true, CLOSE, &code.to_be_bytes()), 1002).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn one_byte_close_payload_is_1002() {
    fails_with(&client_frame(true, CLOSE, &[0x03]), 1002).await;
}

#[tokio::test]
async fn every_valid_close_code_is_echoed() {
    let (server, rec) = start(|ws| ws).await;
    for code in [1000_u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999] {
        let (mut stream, id) = open(&server, &rec).await;
        stream.write_all(&client_frame(true, CLOSE, &code.to_be_bytes())).await.unwrap();
        assert_eq!(
            read_frame(&mut stream).await,
            ServerFrame { b0: 0x88, payload: code.to_be_bytes().to_vec() }
        );
        assert_eq!(read_to_end(&mut stream).await, b"");
        assert_eq!(closed(&rec, &id).await[1], format!("close {id} {code}  clean"));
    }
    server.stop().await;
}

#[tokio::test]
async fn frame_over_max_frame_size_is_1009() {
    let (server, rec) = start(|ws| ws.max_frame_size(16)).await;
    let (mut stream, id) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, TEXT, &[b'a'; 16])).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 18).await, server_frame(0x81, &[b'a'; 16]));
    drop(stream);
    closed(&rec, &id).await;
    let reason = assert_fails(&server, &rec, &client_frame(true, TEXT, &[b'a'; 17]), 1009).await;
    assert_eq!(reason, "protocol error: frame of 17 bytes exceeds the limit of 16");
    // The header alone is enough: the server does not wait for a payload it would refuse.
    let header_only = &client_frame(true, BINARY, &vec![0; 70_000])[..14];
    assert_fails(&server, &rec, header_only, 1009).await;
    server.stop().await;
}

#[tokio::test]
async fn message_over_max_message_size_is_1009() {
    let (server, rec) = start(|ws| ws.max_message_size(32).max_frame_size(16)).await;
    let (mut stream, id) = open(&server, &rec).await;
    let mut input = client_frame(false, TEXT, &[b'a'; 16]);
    input.extend(client_frame(true, CONTINUATION, &[b'b'; 16]));
    stream.write_all(&input).await.unwrap();
    let mut expected = vec![b'a'; 16];
    expected.extend_from_slice(&[b'b'; 16]);
    assert_eq!(read_bytes(&mut stream, 34).await, server_frame(0x81, &expected));
    drop(stream);
    closed(&rec, &id).await;
    let mut input = client_frame(false, BINARY, &[1; 16]);
    input.extend(client_frame(false, CONTINUATION, &[2; 16]));
    input.extend(client_frame(true, CONTINUATION, &[3; 1]));
    let reason = assert_fails(&server, &rec, &input, 1009).await;
    assert_eq!(reason, "protocol error: message of at least 33 bytes exceeds the limit of 32");
    server.stop().await;
}

#[tokio::test]
async fn client_close_is_echoed_then_the_server_closes_tcp() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, CLOSE, &close_payload(1000, "see you"))).await.unwrap();
    // The code comes back (the reason need not); then FIN from the server.
    assert_eq!(read_bytes(&mut stream, 4).await, b"\x88\x02\x03\xe8");
    assert_eq!(read_to_end(&mut stream).await, b"");
    assert_eq!(closed(&rec, &id).await, [format!("open {id}"), format!("close {id} 1000 see you clean")]);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn empty_close_gets_an_empty_close_and_reports_1005() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, CLOSE, b"")).await.unwrap();
    assert_eq!(read_to_end(&mut stream).await, b"\x88\x00");
    assert_eq!(closed(&rec, &id).await[1], format!("close {id} 1005  clean"));
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn nothing_after_the_client_close_is_delivered() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    let mut input = client_frame(true, TEXT, b"before");
    input.extend(client_frame(true, CLOSE, &close_payload(1000, "")));
    input.extend(client_frame(true, TEXT, b"after"));
    stream.write_all(&input).await.unwrap();
    assert_eq!(read_to_end(&mut stream).await, b"\x81\x06before\x88\x02\x03\xe8");
    assert_eq!(
        closed(&rec, &id).await,
        [format!("open {id}"), format!("message {id} text before"), format!("close {id} 1000  clean"),]
    );
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn abrupt_tcp_drop_reports_1006_unclean() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, TEXT, b"hi")).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 4).await, b"\x81\x02hi");
    drop(stream);
    let lines = closed(&rec, &id).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[2].starts_with(&format!("close {id} 1006 ")) && lines[2].ends_with(" unclean"),
        "{lines:?}"
    );
    // In the middle of a fragmented message, too.
    let (mut stream, id) = open(&server, &rec).await;
    stream.write_all(&client_frame(false, TEXT, b"half")).await.unwrap();
    stream.shutdown().await.unwrap();
    let lines = closed(&rec, &id).await;
    assert_eq!(lines.len(), 2, "nothing delivered: {lines:?}");
    assert!(
        lines[1].starts_with(&format!("close {id} 1006 ")) && lines[1].ends_with(" unclean"),
        "{lines:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn server_initiated_close_completes_the_handshake() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, TEXT, b"close-me")).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 7).await, b"\x88\x05\x0f\xa0bye");
    // Data sent while the server is closing is discarded, not delivered.
    stream.write_all(&client_frame(true, TEXT, b"too late")).await.unwrap();
    stream.write_all(&client_frame(true, CLOSE, &close_payload(4000, ""))).await.unwrap();
    assert_eq!(read_to_end(&mut stream).await, b"", "FIN after the client's close");
    assert_eq!(closed(&rec, &id).await, [format!("open {id}"), format!("close {id} 4000 bye clean")]);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn server_close_without_a_reply_times_out_unclean() {
    let (server, rec) = start(|ws| ws.close_timeout(Duration::from_millis(300))).await;
    let (mut stream, id) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, TEXT, b"close-me")).await.unwrap();
    // The client never answers: after the close timeout the server drops the connection.
    assert_eq!(read_to_end(&mut stream).await, b"\x88\x05\x0f\xa0bye");
    assert_eq!(
        closed(&rec, &id).await[1],
        format!("close {id} 1006 no close frame received in time unclean")
    );
    server.stop().await;
}

#[tokio::test]
async fn close_reasons_are_cut_to_fit_unsendable_codes_replaced_and_1005_sends_no_code() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, _) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, TEXT, b"close-long")).await.unwrap();
    let frame = read_frame(&mut stream).await;
    assert_eq!(frame.close_code(), Some(4001));
    // 100 "é" are 200 bytes; 61 of them (122 bytes) fit in 123 without splitting a character.
    assert_eq!(frame.payload.len(), 124);
    assert_eq!(std::str::from_utf8(&frame.payload[2..]).unwrap(), "é".repeat(61));
    drop(stream);
    let (mut stream, _) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, TEXT, b"close-1006")).await.unwrap();
    let frame = read_frame(&mut stream).await;
    assert_eq!(frame, ServerFrame { b0: 0x88, payload: close_payload(1000, "not on the wire") });
    drop(stream);
    // 1005 ("no status") asks for a close frame without a payload (as Engine.IO closes).
    let (mut stream, _) = open(&server, &rec).await;
    stream.write_all(&client_frame(true, TEXT, b"close-1005")).await.unwrap();
    let frame = read_frame(&mut stream).await;
    assert_eq!(frame, ServerFrame { b0: 0x88, payload: Vec::new() });
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn silent_client_is_pinged_then_dropped() {
    let (server, rec) =
        start(|ws| ws.keep_alive(Duration::from_millis(200)).keep_alive_timeout(Duration::from_millis(200)))
            .await;
    let (mut stream, id) = open(&server, &rec).await;
    assert_eq!(read_frame(&mut stream).await, ServerFrame { b0: 0x89, payload: Vec::new() });
    // No pong: the peer is presumed dead and dropped without a close handshake.
    assert_eq!(read_to_end(&mut stream).await, b"");
    assert_eq!(
        closed(&rec, &id).await,
        [
            format!("open {id}"),
            format!("error {id} no response to keep-alive ping within 200ms"),
            format!("close {id} 1006 keep-alive timeout unclean"),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn client_that_answers_pings_stays_connected() {
    // A long timeout: only whether the client answers matters, not how fast a busy machine is.
    let (server, rec) =
        start(|ws| ws.keep_alive(Duration::from_millis(100)).keep_alive_timeout(Duration::from_secs(1)))
            .await;
    let (mut stream, id) = open(&server, &rec).await;
    for _ in 0..2 {
        let ping = read_frame(&mut stream).await;
        assert_eq!(ping, ServerFrame { b0: 0x89, payload: Vec::new() });
        stream.write_all(&client_frame(true, PONG, &ping.payload)).await.unwrap();
    }
    stream.write_all(&client_frame(true, TEXT, b"still here")).await.unwrap();
    // Pings may interleave with the echo.
    let echo = loop {
        let frame = read_frame(&mut stream).await;
        if frame.b0 != 0x89 {
            break frame;
        }
        stream.write_all(&client_frame(true, PONG, b"")).await.unwrap();
    };
    assert_eq!(echo, ServerFrame { b0: 0x81, payload: b"still here".to_vec() });
    assert_eq!(lines_of(&rec, &id), [format!("open {id}"), format!("message {id} text still here")]);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn a_chatty_client_is_not_pinged() {
    let (server, rec) =
        start(|ws| ws.keep_alive(Duration::from_secs(1)).keep_alive_timeout(Duration::from_secs(2))).await;
    let (mut stream, _id) = open(&server, &rec).await;
    // A message every 50 ms for 2 s: activity resets the keep-alive timer, so no ping comes
    // (unless the machine stalls for most of a second).
    for i in 0..40_u8 {
        stream.write_all(&client_frame(true, BINARY, &[i])).await.unwrap();
        assert_eq!(read_frame(&mut stream).await, ServerFrame { b0: 0x82, payload: vec![i] });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn connection_reset_reports_an_io_error_then_1006() {
    let (server, rec) = start(|ws| ws).await;
    let (stream, id) = open(&server, &rec).await;
    // SO_LINGER 0: closing sends a reset instead of FIN.
    stream.set_zero_linger().unwrap();
    drop(stream);
    let lines = closed(&rec, &id).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].starts_with(&format!("error {id} i/o error: ")), "{lines:?}");
    assert_eq!(lines[2], format!("close {id} 1006 connection broke unclean"));
    assert_still_echoes(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn control_frames_inside_a_fragmented_message() {
    let (server, rec) = start(|ws| ws).await;
    let (mut stream, id) = open(&server, &rec).await;
    // The largest ping (125 bytes) is answered in full.
    let big = [b'p'; 125];
    let mut input = client_frame(false, TEXT, b"never ");
    input.extend(client_frame(true, PING, &big));
    input.extend(client_frame(false, CONTINUATION, b"finished"));
    // A close in the middle of a message ends the connection; the fragments are dropped.
    input.extend(client_frame(true, CLOSE, &close_payload(1001, "leaving")));
    stream.write_all(&input).await.unwrap();
    let mut expected = server_frame(0x8A, &big);
    expected.extend_from_slice(b"\x88\x02\x03\xe9");
    assert_eq!(read_to_end(&mut stream).await, expected);
    assert_eq!(closed(&rec, &id).await, [format!("open {id}"), format!("close {id} 1001 leaving clean")]);
    drop(stream);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_flood_from_a_peer_that_never_reads_is_bounded() {
    const LIMIT: usize = 64 * 1024;
    let (server, echo) = start_echo(|ws| ws.max_send_queue(LIMIT)).await;
    let (stream, _) = open(&server, &echo.rec).await;
    let handle = echo.handles.lock().unwrap()[0].clone();
    // 32 MiB of 125-byte pings, never reading a pong: far more than the socket buffers hold.
    // Either the server stops reading (the write blocks), or closes, or drops pongs; in every
    // case what it holds for this peer must stay near the queue limit.
    let (reader, mut writer) = stream.into_split();
    let ping = client_frame(true, PING, &[b'p'; 125]);
    let batch: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 8192).collect();
    let mut peak = 0;
    for _ in 0..32 {
        match tokio::time::timeout(Duration::from_secs(2), writer.write_all(&batch)).await {
            Ok(Ok(())) => peak = peak.max(handle.buffered_amount()),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    peak = peak.max(handle.buffered_amount());
    assert!(peak <= 2 * LIMIT, "{peak} bytes queued for a peer that reads nothing; limit {LIMIT}");
    drop((reader, writer));
    server.stop().await;
}

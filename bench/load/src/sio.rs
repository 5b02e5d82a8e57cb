//! Socket.IO over a raw WebSocket: Engine.IO v4 and Socket.IO v5 text packets, as the
//! `--sio` modes and `sio-ack` speak them, and the `sio-ack` workload itself.
//!
//! The client side of the protocol is small enough to write by hand on the load generator's
//! own frames: after the upgrade the server sends the Engine.IO open packet (`0{"sid":..}`),
//! the client joins the namespace `/` (`40`) and waits for the reply (`40{"sid":..}`). From then
//! on a ping (`2`) is answered with a pong (`3`), an event is `42["name",args..]`, one that asks
//! for an acknowledgement `42<id>["name",args..]`, and the acknowledgement `43<id>[args..]`.
//! Every packet here is one text frame (no binary attachments).

use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::Fatal;
use crate::cli::AckArgs;
use crate::conn::{self, ConnError};
use crate::frame::{self, Decoder, Event, OP_TEXT};
use crate::report::Summary;
use crate::stats::{self, Run, nanos};
use crate::upgrade::{Target, UpgradeError};

/// Where a Socket.IO server answers WebSocket clients that skip long-polling.
pub(crate) const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// Engine.IO ping, which the server sends every `pingInterval` (25 s by default).
pub(crate) const PING: &[u8] = b"2";
/// Engine.IO pong, the client's answer.
const PONG: &[u8] = b"3";

/// The event the `broadcast --sio` subscribers receive: `42["tick","<stamp + padding>"]`.
pub(crate) const TICK_PREFIX: &[u8] = b"42[\"tick\",\"";
/// The event the `broadcast --sio` publisher sends: `42["fanout","<stamp + padding>"]`.
pub(crate) const FANOUT_PREFIX: &[u8] = b"42[\"fanout\",\"";
/// What closes a packet with one string argument.
pub(crate) const STRING_END: &[u8] = b"\"]";

/// Connection attempts in flight during the connect phase.
const CONNECT_CONCURRENCY: usize = 200;

/// The masked pong frame.
pub(crate) fn pong_frame(mask: [u8; 4]) -> Vec<u8> {
    frame::client_frame(OP_TEXT, PONG, mask)
}

/// A packet carrying one JSON string: `prefix`, `text`, then `"]`. `text` must need no JSON
/// escaping (the load generator's payloads are ASCII letters, digits and `:`).
pub(crate) fn string_packet(prefix: &[u8], text: &[u8]) -> Vec<u8> {
    debug_assert!(text.iter().all(|b| b.is_ascii_graphic() && *b != b'"' && *b != b'\\'));
    [prefix, text, STRING_END].concat()
}

/// Joins the namespace `/` on a freshly upgraded connection: waits for the Engine.IO open
/// packet, sends CONNECT and waits for its reply. Pings that come first are answered. Bytes
/// behind the reply stay in `buf`.
pub(crate) async fn connect(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<(), UpgradeError> {
    let mask = fastrand::u32(..).to_ne_bytes();
    let mut decoder = Decoder::default();
    let open = read_packet(stream, buf, &mut decoder).await?;
    if !open.starts_with(b"0{") {
        return Err(unexpected("an Engine.IO open packet", &open));
    }
    stream.write_all(&frame::client_frame(OP_TEXT, b"40", mask)).await?;
    loop {
        let packet = read_packet(stream, buf, &mut decoder).await?;
        if packet.starts_with(b"40{") || packet == b"40" {
            return Ok(());
        }
        if packet == PING {
            stream.write_all(&pong_frame(mask)).await?;
            continue;
        }
        return Err(unexpected("the CONNECT reply", &packet));
    }
}

fn unexpected(what: &str, packet: &[u8]) -> UpgradeError {
    let shown = String::from_utf8_lossy(&packet[..packet.len().min(120)]).into_owned();
    UpgradeError::SocketIo(format!("expected {what}, got {shown:?}"))
}

/// The next text message, owned (the handshake's few packets only).
async fn read_packet<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
) -> Result<Vec<u8>, UpgradeError> {
    let next = conn::next_event(rd, buf, decoder, |event| match event {
        Event::Message { opcode: OP_TEXT, payload } => Some(Ok(payload.to_vec())),
        Event::Message { .. } => Some(Err("a binary message".to_owned())),
        Event::Close(code) => Some(Err(format!("close {code:?}"))),
        Event::Ping | Event::Pong => None,
    })
    .await;
    match next {
        Ok(Ok(packet)) => Ok(packet),
        Ok(Err(what)) => Err(UpgradeError::SocketIo(format!("{what} during the Socket.IO handshake"))),
        Err(ConnError::Io(e)) => Err(UpgradeError::Io(e)),
        Err(ConnError::Eof) => Err(UpgradeError::Closed),
        Err(e) => Err(UpgradeError::SocketIo(e.to_string())),
    }
}

/// `sio-ack`: each connection emits `ack` with one string and an ack id, and waits for the
/// acknowledgement, which must carry the same id and string (closed loop).
pub(crate) async fn run_ack(args: &AckArgs) -> Result<Summary, Fatal> {
    let common = &args.common;
    let target = Rc::new(Target::resolve(&common.url).await?.socket_io());
    let run = Run::new(common.quiet, args.connections, CONNECT_CONCURRENCY);
    let progress = run.spawn_progress("acks/s");
    let tasks: Vec<JoinHandle<()>> = (0..args.connections)
        .map(|conn| {
            tokio::task::spawn_local(ack_connection(conn, Rc::clone(&run), Rc::clone(&target), args.size))
        })
        .collect();
    run.all_connected().await;
    crate::require_connections(&run)?;
    let window = stats::window_then_drain(&run, common, tasks, progress, Duration::from_secs(1)).await;
    let mut summary = Summary::timed("sio-ack", &common.url, &run, window, common.warmup);
    summary.connections = args.connections;
    summary.size = args.size;
    summary.unit = "acks";
    Ok(summary)
}

async fn ack_connection(conn: usize, run: Rc<Run>, target: Rc<Target>, size: usize) {
    let label = format!("connection {conn}");
    let Some(connected) = run.connect(&label, &target).await else { return };
    let mut stream = connected.stream;
    let mut buf = connected.leftover;
    let mask = fastrand::u32(..).to_ne_bytes();
    run.started().await;
    let result = ack_loop(&run, &mut stream, &mut buf, mask, &frame::ascii_payload(size, conn)).await;
    match result {
        Ok(()) => {
            let _ = stream.write_all(&frame::close_frame(frame::CLOSE_NORMAL, mask)).await;
        }
        Err(e) => run.error(&label, e),
    }
    drop(connected.open);
}

/// What came back for an emit with an ack.
enum Reply {
    Ack,
    Ping,
    Other(String),
}

async fn ack_loop(
    run: &Run,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    mask: [u8; 4],
    text: &[u8],
) -> Result<(), ConnError> {
    let mut decoder = Decoder::default();
    let pong = pong_frame(mask);
    let mut packet = Vec::with_capacity(text.len() + 32);
    let mut expected = Vec::with_capacity(text.len() + 32);
    // Ids count up from 0 per namespace, as Socket.IO clients number them.
    for id in 0u64.. {
        if run.is_stopped() {
            break;
        }
        packet.clear();
        write!(packet, "42{id}[\"ack\",\"")?;
        packet.extend_from_slice(text);
        packet.extend_from_slice(STRING_END);
        expected.clear();
        write!(expected, "43{id}[\"")?;
        expected.extend_from_slice(text);
        expected.extend_from_slice(STRING_END);
        let message = frame::client_frame(OP_TEXT, &packet, mask);
        let sent = Instant::now();
        stream.write_all(&message).await?;
        loop {
            let reply = conn::next_event(stream, buf, &mut decoder, |event| match event {
                Event::Message { opcode: OP_TEXT, payload } if payload == expected.as_slice() => {
                    Some(Ok(Reply::Ack))
                }
                Event::Message { opcode: OP_TEXT, payload } if payload == PING => Some(Ok(Reply::Ping)),
                Event::Message { payload, .. } => Some(Ok(Reply::Other(format!(
                    "expected {:?}, got {:?}",
                    String::from_utf8_lossy(&expected),
                    String::from_utf8_lossy(&payload[..payload.len().min(120)])
                )))),
                Event::Close(code) => Some(Err(ConnError::ServerClosed(code))),
                Event::Ping | Event::Pong => None,
            })
            .await??;
            match reply {
                Reply::Ack => {
                    run.complete(nanos(sent.elapsed()));
                    break;
                }
                Reply::Ping => stream.write_all(&pong).await?,
                Reply::Other(why) => return Err(ConnError::Mismatch(why)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_text(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x81, payload.len() as u8];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn packets_with_one_string() {
        assert_eq!(string_packet(TICK_PREFIX, b"abc"), b"42[\"tick\",\"abc\"]");
        assert_eq!(string_packet(FANOUT_PREFIX, b"0:x").len(), FANOUT_PREFIX.len() + 5);
        // `42["tick",""]`: what a tick adds to its string.
        assert_eq!(TICK_PREFIX.len() + STRING_END.len(), 13);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn handshake_answers_pings_and_keeps_what_follows() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let (mut s, _) = listener.accept().await.unwrap();
            let mut stream = server_text(br#"0{"sid":"a","pingInterval":25000}"#);
            stream.extend(server_text(b"2"));
            s.write_all(&stream).await.unwrap();
            let mut got = vec![0u8; 8 + 7]; // masked `40` (8 bytes), masked `3` (7 bytes)
            s.read_exact(&mut got).await.unwrap();
            let mut reply = server_text(br#"40{"sid":"b"}"#);
            reply.extend(server_text(b"42[\"tick\",\"x\"]"));
            s.write_all(&reply).await.unwrap();
            got
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut buf = BytesMut::new();
        connect(&mut stream, &mut buf).await.unwrap();
        let got = server.await.unwrap();
        assert_eq!((got[0], got[1] & 0x7F, got[8], got[9] & 0x7F), (0x81, 2, 0x81, 1));
        let mask = [got[2], got[3], got[4], got[5]];
        assert_eq!([got[6] ^ mask[0], got[7] ^ mask[1]], *b"40");
        // The event behind the CONNECT reply is still there, whole or in part.
        let mut decoder = Decoder::default();
        let rest = read_packet(&mut stream, &mut buf, &mut decoder).await.unwrap();
        assert_eq!(rest, b"42[\"tick\",\"x\"]");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn handshake_refused() {
        let stream = server_text(br#"0{"sid":"a"}"#);
        let mut rest = server_text(br#"44{"message":"no"}"#);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut all = stream;
            all.append(&mut rest);
            s.write_all(&all).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let err = connect(&mut client, &mut BytesMut::new()).await.unwrap_err();
        assert!(err.to_string().contains("CONNECT reply"), "{err}");
        server.await.unwrap();
    }
}

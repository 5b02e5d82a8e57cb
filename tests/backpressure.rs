//! A reader that stops reading cannot make the server's memory grow past its queue bound.
//!
//! A publisher pushes 64 KiB messages through a `ConnectionHandle` as fast as it can to a
//! WebSocket client that never reads. The client's socket has a small receive buffer, so the
//! kernel soon stops absorbing bytes and the server's send queue fills. Each `SlowConsumer`
//! policy is then checked from three sides: what `send` returns, what the stalled client finds
//! on the wire once it reads again, and what `buffered_amount()` and the process RSS show.
//! A broadcast room closes only its stalled member, and a broadcast to many stalled readers
//! holds one copy of the message, not one per reader.
//!
//! The tests in this file run one at a time (see [`SERIAL`]) because one of them measures the
//! resident memory of the whole test process.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use windlass::{
    BoxError, CloseInfo, Connection, ConnectionHandle, ConnectionPool, Error, HttpServer, Message,
    MessageComponent, SendError, SlowConsumer, WsServer,
};

use support::{
    Log, ServerFrame, TestServer, WAIT, client_frame, read_frame, read_head, read_to_end, rss_bytes,
    upgrade_request,
};

/// Send-queue limit for most tests: small, so the queue fills quickly.
const LIMIT: usize = 1 << 20;
/// Payload of every flood message.
const PAYLOAD: usize = 64 * 1024;
/// A 64 KiB payload needs the 8-byte extended length: a 10-byte frame header.
const MSG_WIRE: usize = PAYLOAD + 10;
/// Control output is queued past the limit on purpose (the 101 response, a close frame of at
/// most 127 bytes); keep-alive is off, so nothing else is.
const CONTROL_SLACK: usize = 256;
/// Most messages a flood offers: 512 MiB, far past the kernel's socket buffers.
const MAX_OFFER: u64 = (512 << 20) / PAYLOAD as u64;

/// Serialises the tests of this file: the RSS measurement must not see another test's
/// allocations, and the floods are kinder to a 2-core machine one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the queue may hold at most: the limit, plus the one message admitted while under it,
/// plus control frames.
fn bound(limit: usize) -> usize {
    limit + MSG_WIRE + CONTROL_SLACK
}

/// Hands every connection's handle to the test, echoes what it receives, and logs errors and
/// closes in `support::Recorder`'s format.
#[derive(Clone)]
struct Publisher {
    handles: mpsc::UnboundedSender<ConnectionHandle>,
    log: Log,
}

impl MessageComponent for Publisher {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        let _ = self.handles.send(conn.handle());
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        conn.send(msg)?;
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        let clean = if close.clean { "clean" } else { "unclean" };
        let line = format!("close {} {} {} {clean}", conn.id(), close.code, close.reason);
        self.log.lock().unwrap().push(line);
    }

    async fn on_error(&self, conn: &mut Connection, error: Error) {
        self.log.lock().unwrap().push(format!("error {} {error}", conn.id()));
    }
}

/// A running WebSocket server around a [`Publisher`].
struct Server {
    inner: TestServer,
    handles: mpsc::UnboundedReceiver<ConnectionHandle>,
    log: Log,
}

impl Server {
    /// Keep-alive is off so no ping is ever queued; `configure` sets the queue.
    async fn start(configure: impl FnOnce(WsServer<Publisher>) -> WsServer<Publisher>) -> Self {
        let (tx, handles) = mpsc::unbounded_channel();
        let log = Log::default();
        let publisher = Publisher { handles: tx, log: Arc::clone(&log) };
        let ws = configure(WsServer::new(publisher).no_keep_alive());
        let inner = TestServer::start(HttpServer::new(ws)).await;
        Self { inner, handles, log }
    }

    /// The handle of the connection that opened next.
    async fn next_handle(&mut self) -> ConnectionHandle {
        tokio::time::timeout(WAIT, self.handles.recv())
            .await
            .expect("timed out waiting for on_open")
            .expect("server gone")
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Log lines about connection `id`.
    fn lines_of(&self, id: &ConnectionHandle) -> Vec<String> {
        let id = id.id().to_string();
        self.lines().into_iter().filter(|l| l.split(' ').nth(1) == Some(id.as_str())).collect()
    }

    async fn wait_for_line(&self, line: &str) {
        let found = tokio::time::timeout(WAIT, async {
            while !self.lines().iter().any(|l| l == line) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "timed out waiting for {line:?}; log: {:?}", self.lines());
    }
}

/// A WebSocket client whose receive buffer is small (and so not auto-tuned up to 32 MiB), so
/// the kernel absorbs little of what the server sends. It never reads unless a test says so.
async fn stalled_client(server: &Server) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(server.inner.addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    stream.write_all(upgrade_request("/", "").as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(rest.is_empty());
    stream
}

/// A client that reads promptly: `rounds` echo round trips, each bounded by [`WAIT`]. Returns
/// how many echoes came back exactly.
fn spawn_healthy(server: &Server, rounds: usize) -> JoinHandle<usize> {
    let url = server.inner.url("/");
    tokio::spawn(async move {
        let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
            .expect("healthy client connects");
        let mut echoed = 0;
        for i in 0..rounds {
            let text = format!("still here {i}");
            ws.send(WsMessage::text(text.clone())).await.unwrap();
            let reply = tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("the healthy client waited too long for its echo")
                .expect("stream ended")
                .expect("read failed");
            assert_eq!(reply, WsMessage::text(text));
            echoed += 1;
        }
        let _ = ws.close(None).await;
        echoed
    })
}

/// A fresh 64 KiB message carrying `seq` in its first 8 bytes. Each is its own allocation, as
/// a serialised message would be, so memory held for it is real.
fn message(seq: u64) -> Message {
    let mut payload = vec![0xA5u8; PAYLOAD];
    payload[..8].copy_from_slice(&seq.to_be_bytes());
    Message::binary(payload)
}

/// Watches `buffered_amount()` from its own thread while a flood runs; the publisher also
/// reports the value right after each send, when the queue is fullest.
struct Sampler {
    peak: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl Sampler {
    fn start(handle: &ConnectionHandle) -> Self {
        let peak = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let (handle, peak, stop) = (handle.clone(), Arc::clone(&peak), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(handle.buffered_amount(), Ordering::Relaxed);
                    thread::sleep(Duration::from_micros(50));
                }
            }
        });
        Self { peak, stop, thread }
    }

    fn note(&self, amount: usize) {
        self.peak.fetch_max(amount, Ordering::Relaxed);
    }

    /// The largest amount seen.
    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

/// What a flood did.
#[derive(Debug, Default)]
struct Flood {
    /// Sequence numbers of the messages `send` accepted, in order.
    accepted: Vec<u64>,
    /// The first error `send` returned.
    first_error: Option<SendError>,
    /// Sends that returned an error.
    refused: u64,
}

/// Offers messages `0..count` to `handle` as fast as it can. Stops `after_error` sends after
/// the first error (or at `count`).
async fn flood(handle: &ConnectionHandle, sampler: &Sampler, count: u64, after_error: u64) -> Flood {
    let mut out = Flood::default();
    let mut budget = None::<u64>;
    for seq in 0..count {
        match handle.send(message(seq)) {
            Ok(()) => out.accepted.push(seq),
            Err(e) => {
                out.refused += 1;
                out.first_error.get_or_insert(e);
                budget.get_or_insert(after_error);
            }
        }
        sampler.note(handle.buffered_amount());
        match &mut budget {
            Some(0) => break,
            Some(left) => *left -= 1,
            None => {}
        }
        tokio::task::yield_now().await;
    }
    out
}

/// Reads frames until the text frame `done`, checking each earlier frame is one whole flood
/// message; returns their sequence numbers.
async fn read_until_done(stream: &mut TcpStream) -> Vec<u64> {
    let mut seqs = Vec::new();
    loop {
        let frame = read_frame(stream).await;
        if frame.b0 == 0x81 {
            assert_eq!(frame.payload, b"done");
            return seqs;
        }
        seqs.push(flood_seq(&frame));
    }
}

/// The sequence number of a flood message, checking the frame is one.
fn flood_seq(frame: &ServerFrame) -> u64 {
    assert_eq!(frame.b0, 0x82, "expected a whole binary frame");
    assert_eq!(frame.payload.len(), PAYLOAD);
    assert!(frame.payload[8..].iter().all(|&b| b == 0xA5), "payload corrupted");
    u64::from_be_bytes(frame.payload[..8].try_into().unwrap())
}

/// Waits (bounded) until `cond` holds.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let ok = tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "timed out waiting until {what}");
}

/// A masked close frame with `code`.
fn close_frame(code: u16) -> Vec<u8> {
    client_frame(true, 0x8, &code.to_be_bytes())
}

/// A close frame as the server sends it.
fn server_close(code: u16, reason: &str) -> ServerFrame {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    ServerFrame { b0: 0x88, payload }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_policy_closes_a_stalled_reader_with_1008() {
    let _serial = SERIAL.lock().await;
    // A long close timeout: the stalled client answers the close itself once it reads again.
    let mut server =
        Server::start(|ws| ws.max_send_queue(LIMIT).close_timeout(Duration::from_secs(60))).await;
    let mut stalled = stalled_client(&server).await;
    let handle = server.next_handle().await;
    let healthy = spawn_healthy(&server, 20);

    let sampler = Sampler::start(&handle);
    let flood = flood(&handle, &sampler, MAX_OFFER, 0).await;
    let peak = sampler.finish();
    assert_eq!(flood.first_error, Some(SendError::Closed), "the queue never filled");
    assert!(peak <= bound(LIMIT), "buffered_amount reached {peak}, bound {}", bound(LIMIT));

    let id = handle.id();
    let error = format!("error {id} send queue passed {LIMIT} bytes: peer reads too slowly");
    server.wait_for_line(&error).await;

    // Reading again, the client finds whole messages (a prefix of those accepted: the rest
    // were dropped with the queue), then the 1008 close frame.
    let mut received = Vec::new();
    let close = loop {
        let frame = read_frame(&mut stalled).await;
        if frame.b0 & 0x0F == 0x8 {
            break frame;
        }
        received.push(flood_seq(&frame));
    };
    assert_eq!(close, server_close(1008, "slow consumer"));
    assert_eq!(received[..], flood.accepted[..received.len()]);
    stalled.write_all(&close_frame(1008)).await.unwrap();
    assert_eq!(read_to_end(&mut stalled).await, b"");
    drop(stalled);

    server.wait_for_line(&format!("close {id} 1008 slow consumer clean")).await;
    assert_eq!(server.lines_of(&handle), [error, format!("close {id} 1008 slow consumer clean")]);
    assert_eq!(tokio::time::timeout(WAIT, healthy).await.expect("healthy client hung").unwrap(), 20);
    server.inner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_follows_the_slow_consumer_close_frame() {
    let _serial = SERIAL.lock().await;
    let mut server =
        Server::start(|ws| ws.max_send_queue(LIMIT).close_timeout(Duration::from_secs(60))).await;
    let mut stalled = stalled_client(&server).await;
    let handle = server.next_handle().await;
    let sampler = Sampler::start(&handle);
    let flood = flood(&handle, &sampler, MAX_OFFER, 0).await;
    sampler.finish();
    assert_eq!(flood.first_error, Some(SendError::Closed));
    let id = handle.id();
    server.wait_for_line(&format!("error {id} send queue passed {LIMIT} bytes: peer reads too slowly")).await;

    let close = loop {
        let frame = read_frame(&mut stalled).await;
        if frame.b0 & 0x0F == 0x8 {
            break frame;
        }
        flood_seq(&frame);
    };
    assert_eq!(close, server_close(1008, "slow consumer"));
    // The close frame is out: a send now must fail, as `Connection::send` does once closing,
    // and nothing may follow the close frame.
    let late = handle.send(Message::text("late"));
    stalled.write_all(&close_frame(1008)).await.unwrap();
    let after_close = read_to_end(&mut stalled).await;
    drop(stalled);
    assert_eq!(late, Err(SendError::Closed));
    assert_eq!(after_close, b"", "RFC 6455 §5.5.1: no data frames after a close frame");
    server.inner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_policy_refuses_sends_and_keeps_the_connection_open() {
    let _serial = SERIAL.lock().await;
    let mut server = Server::start(|ws| ws.max_send_queue(LIMIT).slow_consumer(SlowConsumer::Error)).await;
    let mut stalled = stalled_client(&server).await;
    let handle = server.next_handle().await;

    let sampler = Sampler::start(&handle);
    let flood = flood(&handle, &sampler, MAX_OFFER, 64).await;
    let peak = sampler.finish();
    assert_eq!(flood.first_error, Some(SendError::QueueFull), "the queue never filled");
    assert!(peak <= bound(LIMIT), "buffered_amount reached {peak}, bound {}", bound(LIMIT));

    // Still open, and the component heard nothing: the caller decides what to do.
    let healthy = spawn_healthy(&server, 20);
    assert_eq!(tokio::time::timeout(WAIT, healthy).await.expect("healthy client hung").unwrap(), 20);
    assert!(!handle.is_closed());
    assert_eq!(server.lines_of(&handle), Vec::<String>::new());

    // The client reads again: the queue drains and sends succeed again.
    let reader = tokio::spawn(async move {
        let seqs = read_until_done(&mut stalled).await;
        (stalled, seqs)
    });
    wait_until("the queue drains below its limit", || handle.buffered_amount() < LIMIT).await;
    let after = MAX_OFFER;
    assert_eq!(handle.send(message(after)), Ok(()));
    assert_eq!(handle.send(Message::text("done")), Ok(()));
    let (mut stalled, seqs) = tokio::time::timeout(WAIT, reader).await.expect("reader hung").unwrap();

    // Exactly the accepted messages arrived, in order; the refused ones never did.
    let mut expected = flood.accepted.clone();
    expected.push(after);
    assert_eq!(seqs, expected);

    stalled.write_all(&close_frame(1000)).await.unwrap();
    assert_eq!(read_frame(&mut stalled).await, server_close(1000, ""));
    assert_eq!(read_to_end(&mut stalled).await, b"");
    drop(stalled);
    let id = handle.id();
    server.wait_for_line(&format!("close {id} 1000  clean")).await;
    assert_eq!(server.lines_of(&handle), [format!("close {id} 1000  clean")]);
    server.inner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drop_policy_accepts_every_send_and_counts_what_it_drops() {
    let _serial = SERIAL.lock().await;
    let mut server =
        Server::start(|ws| ws.max_send_queue(LIMIT).slow_consumer(SlowConsumer::DropMessage)).await;
    let mut stalled = stalled_client(&server).await;
    let handle = server.next_handle().await;

    // 256 MiB offered to a reader that takes none of it.
    let offered = (256 << 20) / PAYLOAD as u64;
    let sampler = Sampler::start(&handle);
    let flood = flood(&handle, &sampler, offered, 0).await;
    let peak = sampler.finish();
    assert_eq!(flood.first_error, None, "every send returns Ok under DropMessage");
    assert_eq!(flood.accepted.len() as u64, offered);
    assert!(peak <= bound(LIMIT), "buffered_amount reached {peak}, bound {}", bound(LIMIT));
    let dropped = handle.dropped_messages();
    assert!(dropped > 0, "nothing was dropped: the queue never filled");

    let reader = tokio::spawn(async move {
        let seqs = read_until_done(&mut stalled).await;
        (stalled, seqs)
    });
    wait_until("the queue drains below its limit", || handle.buffered_amount() < LIMIT).await;
    assert_eq!(handle.send(Message::text("done")), Ok(()));
    let (mut stalled, seqs) = tokio::time::timeout(WAIT, reader).await.expect("reader hung").unwrap();

    // What arrived is in order, and with what was dropped accounts for every message.
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "out of order: {seqs:?}");
    assert_eq!(handle.dropped_messages(), dropped, "`done` was dropped");
    assert_eq!(seqs.len() as u64 + dropped, offered);

    stalled.write_all(&close_frame(1000)).await.unwrap();
    assert_eq!(read_frame(&mut stalled).await, server_close(1000, ""));
    assert_eq!(read_to_end(&mut stalled).await, b"");
    drop(stalled);
    let id = handle.id();
    server.wait_for_line(&format!("close {id} 1000  clean")).await;
    assert_eq!(server.lines_of(&handle), [format!("close {id} 1000  clean")]);
    server.inner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_while_a_stalled_reader_is_offered_ten_times_its_queue() {
    const BIG_LIMIT: usize = 8 << 20;
    // Beyond what the queue may hold (BIG_LIMIT plus one message), memory moves for reasons
    // that are not the queue: freed 64 KiB chunks the allocator keeps in its arenas, runtime and
    // test-harness allocations, the healthy client's buffers, thread stacks touched for the
    // first time. 16 MiB covers those with room to spare. An unbounded queue would instead grow
    // by everything the kernel did not absorb: about 10 * BIG_LIMIT - 4 MiB, i.e. 76 MiB.
    const SLACK: usize = 16 << 20;
    let _serial = SERIAL.lock().await;
    let mut server =
        Server::start(|ws| ws.max_send_queue(BIG_LIMIT).slow_consumer(SlowConsumer::DropMessage)).await;
    let stalled = stalled_client(&server).await;
    let handle = server.next_handle().await;
    let healthy = spawn_healthy(&server, 200);

    let before = rss_bytes();
    let mut peak_rss = before;
    let offered = (10 * BIG_LIMIT / PAYLOAD) as u64;
    for seq in 0..offered {
        assert_eq!(handle.send(message(seq)), Ok(()));
        assert!(handle.buffered_amount() <= bound(BIG_LIMIT));
        if seq % 16 == 0 {
            peak_rss = peak_rss.max(rss_bytes());
            tokio::task::yield_now().await;
        }
    }
    // Measured while the reader is still stalled: whatever the server kept is still held.
    peak_rss = peak_rss.max(rss_bytes());
    let growth = peak_rss.saturating_sub(before);
    assert!(handle.dropped_messages() > 0, "the queue never filled");
    assert!(
        growth < BIG_LIMIT + SLACK,
        "RSS grew by {} MiB while offering {} MiB to a stalled reader (queue limit {} MiB)",
        growth >> 20,
        (offered as usize * PAYLOAD) >> 20,
        BIG_LIMIT >> 20
    );
    assert_eq!(tokio::time::timeout(WAIT, healthy).await.expect("healthy client hung").unwrap(), 200);
    drop(stalled);
    server.inner.stop().await;
}

/// Reads binary frames until the text frame `done`, as a prompt WebSocket client; returns
/// their sequence numbers.
async fn read_all_until_done(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
) -> Vec<u64> {
    let mut seqs = Vec::new();
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the healthy member waited too long")
            .expect("stream ended")
            .expect("read failed");
        match msg {
            WsMessage::Binary(payload) => {
                assert_eq!(payload.len(), PAYLOAD);
                seqs.push(u64::from_be_bytes(payload[..8].try_into().unwrap()));
            }
            WsMessage::Text(text) if text.as_str() == "done" => return seqs,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_room_closes_its_stalled_member_and_keeps_serving_the_rest() {
    let _serial = SERIAL.lock().await;
    let mut server =
        Server::start(|ws| ws.max_send_queue(LIMIT).close_timeout(Duration::from_secs(60))).await;
    let mut stalled = stalled_client(&server).await;
    let stalled_handle = server.next_handle().await;
    let connect = tokio_tungstenite::connect_async(server.inner.url("/"));
    let (mut healthy, _) =
        tokio::time::timeout(WAIT, connect).await.expect("connect timed out").expect("connect");
    let healthy_handle = server.next_handle().await;
    let room = ConnectionPool::new();
    room.insert(stalled_handle.clone(), ());
    room.insert(healthy_handle.clone(), ());
    let reader = tokio::spawn(async move { read_all_until_done(&mut healthy).await });

    // Publish at the pace of the healthy member, far past what the stalled one can hold.
    let sampler = Sampler::start(&stalled_handle);
    let mut recipients = Vec::new();
    for seq in 0..MAX_OFFER {
        recipients.push(room.broadcast(message(seq)));
        sampler.note(stalled_handle.buffered_amount());
        wait_until("the healthy member keeps up", || healthy_handle.buffered_amount() <= 2 * MSG_WIRE).await;
        // Stop a little after the stalled member was refused a message.
        if recipients.iter().filter(|&&n| n == 1).count() == 16 {
            break;
        }
    }
    let peak = sampler.finish();
    assert_eq!(room.broadcast("done"), 1, "only the healthy member is left to take it");
    let published = recipients.len() as u64;

    // The healthy member got every message, in order.
    let seqs = tokio::time::timeout(WAIT, reader).await.expect("reader hung").unwrap();
    assert_eq!(seqs, (0..published).collect::<Vec<_>>());
    assert_eq!(recipients[0], 2);
    assert!(recipients.contains(&1), "the stalled member was never refused: {recipients:?}");
    assert!(peak <= bound(LIMIT), "buffered_amount reached {peak}, bound {}", bound(LIMIT));

    // The stalled member, reading at last, finds whole messages and then 1008.
    let close = loop {
        let frame = read_frame(&mut stalled).await;
        if frame.b0 & 0x0F == 0x8 {
            break frame;
        }
        flood_seq(&frame);
    };
    assert_eq!(close, server_close(1008, "slow consumer"));
    stalled.write_all(&close_frame(1008)).await.unwrap();
    read_to_end(&mut stalled).await;
    drop(stalled);
    let id = stalled_handle.id();
    server.wait_for_line(&format!("close {id} 1008 slow consumer clean")).await;
    server.inner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_to_many_stalled_readers_holds_one_copy_of_the_message() {
    /// Stalled recipients.
    const READERS: usize = 50;
    /// One message, bigger than the 4 MiB the kernel may take into a socket's send buffer, so
    /// a copy per recipient would keep at least 50 * 4 MiB = 200 MiB in user space.
    const SIZE: usize = 8 << 20;
    // Besides the one shared message, RSS moves for the reasons given in the memory test
    // above; 16 MiB covers them.
    const SLACK: usize = 16 << 20;
    let _serial = SERIAL.lock().await;
    let mut server = Server::start(|ws| ws.max_send_queue(4 * SIZE)).await;
    let room = ConnectionPool::new();
    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(stalled_client(&server).await);
        room.insert(server.next_handle().await, ());
    }

    let before = rss_bytes();
    let payload = Bytes::from((0..SIZE).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    assert_eq!(room.broadcast(Message::binary(payload.clone())), READERS);
    // The kernel took a little of it for each reader; the rest waits in user space.
    let held = room.handles().iter().map(ConnectionHandle::buffered_amount).sum::<usize>();
    let growth = rss_bytes().saturating_sub(before);
    assert!(held > SIZE, "the readers are not stalled: only {held} bytes queued");
    assert!(
        growth < SIZE + SLACK,
        "RSS grew by {} MiB while {} MiB were queued for {READERS} readers",
        growth >> 20,
        held >> 20
    );

    // Every reader gets the whole message.
    for reader in &mut readers {
        let frame = read_frame(reader).await;
        assert_eq!(frame.b0, 0x82);
        assert!(frame.payload == payload, "payload corrupted");
    }
    drop(readers);
    server.inner.stop().await;
}

//! One Engine.IO session: its outbound queue, its transport, its heartbeat.

use std::any::Any;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::{BufMut as _, Bytes, BytesMut};
use http::HeaderMap;
use tokio::sync::Notify;
use windlass_sio_proto::engine::{SEPARATOR, Transport};

use super::timers::Timer;
use super::{EngineMessage, EngineShared, lock};
use crate::message::{Message, Utf8Bytes};
use crate::session::ConnectionHandle;

/// Why a session closed, as Engine.IO (and Socket.IO's `disconnect` reasons) name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection (its WebSocket, or a polling `1` packet).
    TransportClose,
    /// The connection failed (a reset, an overlapping poll, a message too large).
    TransportError,
    /// A ping went unanswered.
    PingTimeout,
    /// The client sent something that is not Engine.IO or Socket.IO.
    ParseError,
    /// The server closed the session (a `disconnect(true)`, a kick).
    ForcedClose,
    /// The server is shutting down.
    ServerShuttingDown,
}

impl CloseReason {
    /// The reason as Node names it (`"ping timeout"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::PingTimeout => "ping timeout",
            Self::ParseError => "parse error",
            Self::ForcedClose => "forced close",
            Self::ServerShuttingDown => "server shutting down",
        }
    }
}

/// What the client sent with its first request, as Socket.IO's `socket.handshake` shows it.
#[derive(Debug)]
pub(crate) struct Handshake {
    pub(crate) remote_addr: SocketAddr,
    /// The request's path and query, then its headers.
    pub(crate) request: KeptRequest,
    pub(crate) secure: bool,
    /// Milliseconds since the Unix epoch.
    pub(crate) issued: u64,
}

/// The parts of a request kept for a session's life, in one allocation: its path and query,
/// then its headers as `name:value\n` lines, made into a `HeaderMap` only when first asked
/// for. Most applications never read them, and a map with values of their own costs several
/// hundred bytes per session.
pub(crate) struct KeptRequest {
    raw: Box<[u8]>,
    url_len: usize,
    map: OnceLock<Box<HeaderMap>>,
}

impl KeptRequest {
    pub(crate) fn new(url: &str, headers: &HeaderMap) -> Self {
        let len = url.len()
            + headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 2).sum::<usize>();
        let mut raw = Vec::with_capacity(len);
        raw.extend_from_slice(url.as_bytes());
        for (name, value) in headers {
            // A name holds no `:` and a value no `\n` (both refused when the head was parsed).
            raw.extend_from_slice(name.as_str().as_bytes());
            raw.push(b':');
            raw.extend_from_slice(value.as_bytes());
            raw.push(b'\n');
        }
        Self { raw: raw.into_boxed_slice(), url_len: url.len(), map: OnceLock::new() }
    }

    /// The path and query.
    pub(crate) fn url(&self) -> &str {
        // Copied from a `&str`.
        std::str::from_utf8(&self.raw[..self.url_len]).unwrap_or_default()
    }

    /// The query string.
    pub(crate) fn query(&self) -> &str {
        self.url().split_once('?').map_or("", |(_, query)| query)
    }

    /// The headers as a map, built on first use.
    pub(crate) fn headers(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = HeaderMap::new();
            for line in self.raw[self.url_len..].split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
                let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(&line[..colon]),
                    http::HeaderValue::from_bytes(&line[colon + 1..]),
                ) {
                    map.append(name, value);
                }
            }
            Box::new(map)
        })
    }
}

impl std::fmt::Debug for KeptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptRequest").field("url", &self.url()).field("headers", self.headers()).finish()
    }
}

/// A packet on its way to the client, encoded: the text form with its type digit (`4…`, `2`),
/// or a binary message. Built once and shared by every recipient of a broadcast.
#[derive(Clone, Debug)]
pub(crate) enum Outgoing {
    Text(Bytes),
    Binary(Bytes),
    /// A polling body already made (packets joined by `\x1e`), put back for the next GET.
    Raw(Bytes),
}

impl Outgoing {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Text(b) | Self::Binary(b) | Self::Raw(b) => b.len(),
        }
    }

    fn to_message(&self) -> Message {
        match self {
            // Built from UTF-8 text by the encoders of this module's users.
            Self::Text(text) => Message::Text(Utf8Bytes::from_validated(text.clone())),
            // Only ever queued for polling (an upgrade splits it into its packets).
            Self::Raw(body) => Message::Text(Utf8Bytes::from_validated(body.clone())),
            Self::Binary(bytes) => Message::Binary(bytes.clone()),
        }
    }
}

/// The transport a session uses now, and one it may be moving to.
struct State {
    transport: Transport,
    /// The session's WebSocket once it runs on one.
    ws: Option<ConnectionHandle>,
    closed: Option<CloseReason>,
    /// What only long-polling (and an upgrade from it) needs; a session that starts on a
    /// WebSocket never gets it.
    poll: Option<Box<Polling>>,
}

impl State {
    fn poll(&mut self) -> &mut Polling {
        self.poll.get_or_insert_with(Box::default)
    }
}

#[derive(Default)]
struct Polling {
    /// Wakes the GET waiting for packets.
    readable: Arc<Notify>,
    /// A WebSocket that sent its probe and waits for `5`.
    probe: Option<ConnectionHandle>,
    /// Packets waiting for a GET (or for the upgrade to finish), in order.
    queue: VecDeque<Outgoing>,
    queued_bytes: usize,
    /// A GET waits on this session.
    get_pending: bool,
    /// The answer of the waiting GET, made when the first packet came for it: as in Node,
    /// what is sent after that waits for the next GET.
    ready: Option<Bytes>,
    /// A POST is being read.
    post_pending: bool,
    /// What the GET waiting at the close, or the next one, gets after a close (Node's bytes):
    /// `1` for a server close with a GET waiting, `6` when the client closed, `6\x1e1` for a
    /// server close with none waiting. The session stays registered until it is taken.
    final_answer: Option<&'static [u8]>,
}

/// One Engine.IO session.
pub(crate) struct EngineSession {
    pub(crate) sid: Arc<str>,
    pub(crate) shared: Arc<EngineShared>,
    state: Mutex<State>,
    /// Pings sent, and the last of them answered: the heartbeat's state, its timers kept by
    /// the engine (see `timers`).
    pings: AtomicU32,
    answered: AtomicU32,
    pub(crate) handshake: Handshake,
    /// The handler's state for this session (the Socket.IO client); dropped at the close,
    /// as it holds the session.
    attachment: Mutex<Option<Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for EngineSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineSession").field("sid", &self.sid).finish_non_exhaustive()
    }
}

impl EngineSession {
    /// A session on `transport`, registered, its heartbeat running. On WebSocket, `ws` is the
    /// connection.
    pub(crate) fn open(
        shared: &Arc<EngineShared>,
        transport: Transport,
        ws: Option<ConnectionHandle>,
        handshake: Handshake,
    ) -> Arc<Self> {
        let session = Arc::new(Self {
            sid: super::random_id(),
            shared: Arc::clone(shared),
            state: Mutex::new(State { transport, ws, closed: None, poll: None }),
            pings: AtomicU32::new(0),
            answered: AtomicU32::new(0),
            handshake,
            attachment: Mutex::new(None),
        });
        shared.insert(&session);
        shared.timers.set(shared, &session, Timer::Ping, shared.config.ping_interval);
        if let Some(after) = shared.handler.connect_deadline() {
            shared.timers.set(shared, &session, Timer::Connect, after);
        }
        session
    }

    /// Keeps the handler's state for this session.
    pub(crate) fn attach(&self, attachment: Arc<dyn Any + Send + Sync>) {
        *lock(&self.attachment) = Some(attachment);
    }

    /// The handler's state, until the session closes.
    pub(crate) fn attachment(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        lock(&self.attachment).clone()
    }

    pub(crate) fn detach(&self) {
        lock(&self.attachment).take();
    }

    /// The transport the session uses now.
    pub(crate) fn transport(&self) -> Transport {
        lock(&self.state).transport
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed.is_some()
    }

    /// Sends packets, in order: on the WebSocket at once, or queued for the next GET.
    /// Returns false if the session is closed.
    pub(crate) fn send(self: &Arc<Self>, packets: impl IntoIterator<Item = Outgoing>) -> bool {
        self.send_with(packets, true)
    }

    /// Sends packets, compressed on a WebSocket with permessage-deflate only if `compress`.
    pub(crate) fn send_with(
        self: &Arc<Self>,
        packets: impl IntoIterator<Item = Outgoing>,
        compress: bool,
    ) -> bool {
        let mut state = lock(&self.state);
        if state.closed.is_some() {
            return false;
        }
        if let (Transport::WebSocket, Some(ws)) = (state.transport, &state.ws) {
            for packet in packets {
                // A send to a closed WebSocket fails; its close ends the session.
                let _ = if compress {
                    ws.send(packet.to_message())
                } else {
                    ws.send_uncompressed(packet.to_message())
                };
            }
            return true;
        }
        for packet in packets {
            state.poll().queued_bytes += packet.len();
            state.poll().queue.push_back(packet);
        }
        if state.poll().get_pending && state.poll().ready.is_none() && state.poll().probe.is_none() {
            state.poll().ready = Some(drain_payload(&mut state));
        }
        let over = state.poll().queued_bytes > self.shared.config.max_send_queue;
        drop(state);
        if over {
            tracing::debug!(sid = %self.sid, "engine.io session over its send queue limit");
            self.close(CloseReason::TransportError);
            return false;
        }
        self.wake_get();
        true
    }

    /// Sends packets the client may miss: dropped unless the transport can write at once
    /// (a GET waits, or the WebSocket has nothing queued), as Node's `volatile`.
    pub(crate) fn send_volatile(self: &Arc<Self>, packets: impl IntoIterator<Item = Outgoing>) -> bool {
        let writable = {
            let mut state = lock(&self.state);
            match (state.transport, &state.ws) {
                (Transport::WebSocket, Some(ws)) => ws.buffered_amount() == 0,
                _ => state.poll().get_pending && state.poll().queue.is_empty(),
            }
        };
        writable && self.send(packets)
    }

    /// Sends one text packet (`2`, `4…`): its type digit and text.
    pub(crate) fn send_text(self: &Arc<Self>, text: &'static [u8]) -> bool {
        self.send([Outgoing::Text(Bytes::from_static(text))])
    }

    /// Hands a message to the handler.
    pub(crate) fn deliver(self: &Arc<Self>, message: EngineMessage) {
        if !self.is_closed() {
            self.shared.handler.on_message(self, message);
        }
    }

    /// A pong arrived: the first one after a ping sets the next ping, `ping_interval` from
    /// now (Node's `schedulePing` on pong).
    pub(crate) fn on_pong(self: &Arc<Self>) {
        let sent = self.pings.load(Ordering::Acquire);
        if self.answered.swap(sent, Ordering::AcqRel) != sent && !self.is_closed() {
            self.shared.timers.set(&self.shared, self, Timer::Ping, self.shared.config.ping_interval);
        }
    }

    /// One of the session's timers came due.
    pub(super) fn on_timer(self: &Arc<Self>, timer: Timer) {
        if self.is_closed() {
            return;
        }
        match timer {
            Timer::Ping => {
                // Counted before the ping goes out, so that a fast pong is not missed.
                let n = self.pings.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
                if self.send_text(b"2") {
                    self.shared.timers.set(
                        &self.shared,
                        self,
                        Timer::Pong(n),
                        self.shared.config.ping_timeout,
                    );
                }
            }
            Timer::Pong(n) => {
                if self.answered.load(Ordering::Acquire) != n {
                    self.close(CloseReason::PingTimeout);
                }
            }
            Timer::Connect => self.shared.handler.on_connect_deadline(self),
        }
    }

    /// Closes the session: the handler hears it once; a waiting GET is released.
    pub(crate) fn close(self: &Arc<Self>, reason: CloseReason) {
        self.close_with(reason, None);
    }

    /// Closes after a second GET came while one waited: the waiting one gets the close packet.
    pub(super) fn close_overlapped(self: &Arc<Self>) {
        self.close_with(CloseReason::TransportError, Some(b"1"));
    }

    fn close_with(self: &Arc<Self>, reason: CloseReason, answer: Option<&'static [u8]>) {
        let server_side = matches!(reason, CloseReason::ForcedClose | CloseReason::ServerShuttingDown);
        let (ws, keep) = {
            let mut state = lock(&self.state);
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(reason);
            let polling = state.transport == Transport::Polling;
            let keep = match state.poll.as_deref_mut() {
                Some(poll) => {
                    poll.queue.clear();
                    poll.ready = None;
                    poll.queued_bytes = 0;
                    poll.probe = None;
                    if polling {
                        // Node's bytes: a waiting GET gets a noop when the client itself
                        // closed, the close packet otherwise; with none waiting, only a close
                        // the server chose leaves `6\x1e1` for the next GET (a broken session
                        // is simply gone).
                        poll.final_answer = answer.or(match (poll.get_pending, reason) {
                            (true, CloseReason::TransportClose) => Some(b"6"),
                            (true, _) => Some(b"1"),
                            (false, _) if server_side => Some(b"6\x1e1"),
                            (false, _) => None,
                        });
                    }
                    poll.final_answer.is_some()
                }
                None => false,
            };
            (state.ws.take(), keep)
        };
        tracing::debug!(sid = %self.sid, reason = reason.as_str(), "engine.io session closed");
        self.wake_get();
        if let Some(ws) = ws {
            // Over WebSocket the close is the socket's own (Node sends no close packet there,
            // and a close frame without a code).
            let _ = ws.close(windlass_proto::CloseCode::NO_STATUS, "");
        }
        if keep {
            // Taken by the next GET; a client that never polls again is forgotten after a while.
            let session = Arc::clone(self);
            let wait = self.shared.config.ping_interval + self.shared.config.ping_timeout;
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                session.shared.remove(&session.sid);
            });
        } else {
            self.shared.remove(&self.sid);
        }
        self.shared.handler.on_close(self, reason);
    }

    // --- polling ---

    /// A GET begins; false if another is waiting (Node closes the session then).
    pub(super) fn begin_get(&self) -> bool {
        let mut state = lock(&self.state);
        if state.poll().get_pending {
            return false;
        }
        state.poll().get_pending = true;
        true
    }

    pub(super) fn end_get(&self) {
        let mut state = lock(&self.state);
        state.poll().get_pending = false;
        // An answer made for a GET that went away goes to the next one, first.
        if let Some(ready) = state.poll().ready.take() {
            state.poll().queued_bytes += ready.len();
            state.poll().queue.push_front(Outgoing::Raw(ready));
        }
    }

    /// What the waiting GET answers with now: the queued packets as one payload, a noop
    /// while an upgrade is under way, the close packet of a closed session; `None` to wait.
    pub(super) fn take_payload(&self) -> Option<Result<Bytes, ()>> {
        let mut state = lock(&self.state);
        if state.closed.is_some() {
            let answer = state.poll().final_answer.take();
            drop(state);
            return Some(match answer {
                Some(answer) => {
                    self.shared.remove(&self.sid);
                    Ok(Bytes::from_static(answer))
                }
                None => Err(()),
            });
        }
        if let Some(ready) = state.poll().ready.take() {
            return Some(Ok(ready));
        }
        if state.poll().probe.is_some() && state.poll().queue.is_empty() {
            // The upgrade is under way: let the client's poll end so that it can send `5`.
            return Some(Ok(Bytes::from_static(b"6")));
        }
        if state.transport != Transport::Polling {
            return Some(Ok(Bytes::from_static(b"6")));
        }
        if state.poll().queue.is_empty() {
            return None;
        }
        Some(Ok(drain_payload(&mut state)))
    }

    /// The queued packets, if any (the handshake's answer adds them to the open packet).
    pub(super) fn take_payload_if_any(&self) -> Option<Result<Bytes, ()>> {
        if lock(&self.state).poll.as_ref().is_none_or(|poll| poll.queue.is_empty()) {
            return None;
        }
        self.take_payload()
    }

    pub(super) async fn readable(&self) {
        let readable = Arc::clone(&lock(&self.state).poll().readable);
        readable.notified().await;
    }

    /// Wakes the GET waiting for packets, if any (a permit is kept for the next otherwise).
    fn wake_get(&self) {
        if let Some(poll) = &lock(&self.state).poll {
            poll.readable.notify_one();
        }
    }

    /// A POST begins; false if another is being read (Node refuses the overlap).
    pub(super) fn begin_post(&self) -> bool {
        let mut state = lock(&self.state);
        if state.poll().post_pending {
            return false;
        }
        state.poll().post_pending = true;
        true
    }

    pub(super) fn end_post(&self) {
        lock(&self.state).poll().post_pending = false;
    }

    // --- upgrade ---

    /// Whether a WebSocket may take this session over: it is on polling and no other
    /// WebSocket is probing.
    pub(crate) fn can_upgrade(&self) -> bool {
        let mut state = lock(&self.state);
        state.closed.is_none() && state.transport == Transport::Polling && state.poll().probe.is_none()
    }

    /// A WebSocket sent `2probe`: it becomes the session's candidate; the waiting GET is
    /// released with a noop so that the client can finish the upgrade.
    pub(super) fn begin_upgrade(&self, ws: ConnectionHandle) -> bool {
        let mut state = lock(&self.state);
        if state.closed.is_some() || state.transport != Transport::Polling || state.poll().probe.is_some() {
            return false;
        }
        state.poll().probe = Some(ws);
        drop(state);
        self.wake_get();
        true
    }

    /// `5` arrived on the probing WebSocket: the session moves over, and what was queued
    /// for polling goes out on it first, in order.
    pub(super) fn finish_upgrade(&self) -> bool {
        let mut state = lock(&self.state);
        let Some(ws) = state.poll().probe.take() else {
            return false;
        };
        state.transport = Transport::WebSocket;
        for packet in state.poll().queue.drain(..) {
            match packet {
                // A polling body put back: one frame per packet on the WebSocket.
                Outgoing::Raw(body) => {
                    for packet in windlass_sio_proto::engine::decode_payload(body).flatten() {
                        let message = match packet.to_frame() {
                            windlass_sio_proto::engine::Frame::Text(text) => {
                                Message::Text(Utf8Bytes::from_validated(text.into_bytes()))
                            }
                            windlass_sio_proto::engine::Frame::Binary(bytes) => Message::Binary(bytes),
                        };
                        let _ = ws.send(message);
                    }
                }
                packet => {
                    let _ = ws.send(packet.to_message());
                }
            }
        }
        state.poll().queued_bytes = 0;
        state.ws = Some(ws);
        drop(state);
        // A GET still waiting gets its noop.
        self.wake_get();
        true
    }

    /// The probing WebSocket went away before `5`: the session stays on polling.
    pub(super) fn cancel_upgrade(&self) {
        lock(&self.state).poll().probe = None;
    }

    /// Whether `ws` is the session's WebSocket (not a probe).
    pub(super) fn is_current_ws(&self, id: crate::io_server::ConnectionId) -> bool {
        lock(&self.state).ws.as_ref().is_some_and(|ws| ws.id() == id)
    }
}

/// Everything queued as one polling body, joined by `\x1e`.
fn drain_payload(state: &mut State) -> Bytes {
    let mut out = BytesMut::with_capacity(state.poll().queued_bytes + state.poll().queue.len() * 4);
    for (i, packet) in state.poll().queue.drain(..).enumerate() {
        if i > 0 {
            out.put_u8(SEPARATOR);
        }
        match packet {
            Outgoing::Text(text) | Outgoing::Raw(text) => out.put_slice(&text),
            Outgoing::Binary(bytes) => {
                windlass_sio_proto::engine::Packet::binary(bytes).encode_text_into(&mut out);
            }
        }
    }
    state.poll().queued_bytes = 0;
    out.freeze()
}

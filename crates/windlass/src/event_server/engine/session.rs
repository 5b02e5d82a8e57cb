//! One Engine.IO session: its outbound queue, its transport, its heartbeat.

use std::any::Any;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use http::HeaderMap;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use windlass_sio_proto::engine::{SEPARATOR, Transport};

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
#[derive(Clone, Debug)]
pub(crate) struct Handshake {
    pub(crate) remote_addr: SocketAddr,
    pub(crate) headers: HeaderMap,
    /// The request's path and query.
    pub(crate) url: String,
    pub(crate) query: String,
    pub(crate) secure: bool,
    /// Milliseconds since the Unix epoch.
    pub(crate) issued: u64,
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
    closed: Option<CloseReason>,
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
    /// Wakes the GET waiting for packets.
    readable: Notify,
    /// A pong came in.
    pong: Notify,
    /// Cancelled when the session closes.
    pub(crate) closed: CancellationToken,
    pub(crate) handshake: Arc<Handshake>,
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
            state: Mutex::new(State {
                transport,
                ws,
                probe: None,
                queue: VecDeque::new(),
                queued_bytes: 0,
                get_pending: false,
                ready: None,
                post_pending: false,
                closed: None,
                final_answer: None,
            }),
            readable: Notify::new(),
            pong: Notify::new(),
            closed: CancellationToken::new(),
            handshake: Arc::new(handshake),
            attachment: Mutex::new(None),
        });
        shared.insert(&session);
        tokio::spawn(heartbeat(Arc::clone(&session)));
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
            state.queued_bytes += packet.len();
            state.queue.push_back(packet);
        }
        if state.get_pending && state.ready.is_none() && state.probe.is_none() {
            state.ready = Some(drain_payload(&mut state));
        }
        let over = state.queued_bytes > self.shared.config.max_send_queue;
        drop(state);
        if over {
            tracing::debug!(sid = %self.sid, "engine.io session over its send queue limit");
            self.close(CloseReason::TransportError);
            return false;
        }
        self.readable.notify_one();
        true
    }

    /// Sends packets the client may miss: dropped unless the transport can write at once
    /// (a GET waits, or the WebSocket has nothing queued), as Node's `volatile`.
    pub(crate) fn send_volatile(self: &Arc<Self>, packets: impl IntoIterator<Item = Outgoing>) -> bool {
        let writable = {
            let state = lock(&self.state);
            match (state.transport, &state.ws) {
                (Transport::WebSocket, Some(ws)) => ws.buffered_amount() == 0,
                _ => state.get_pending && state.queue.is_empty(),
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

    /// A pong arrived: the heartbeat goes on.
    pub(crate) fn on_pong(&self) {
        self.pong.notify_waiters();
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
            state.queue.clear();
            state.ready = None;
            state.queued_bytes = 0;
            if state.transport == Transport::Polling {
                // Node's bytes: a waiting GET gets a noop when the client itself closed, the
                // close packet otherwise; with none waiting, only a close the server chose
                // leaves `6\x1e1` for the next GET (a broken session is simply gone).
                state.final_answer = answer.or(match (state.get_pending, reason) {
                    (true, CloseReason::TransportClose) => Some(b"6"),
                    (true, _) => Some(b"1"),
                    (false, _) if server_side => Some(b"6\x1e1"),
                    (false, _) => None,
                });
            }
            state.probe.take();
            (state.ws.take(), state.final_answer.is_some())
        };
        tracing::debug!(sid = %self.sid, reason = reason.as_str(), "engine.io session closed");
        self.closed.cancel();
        self.readable.notify_one();
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
        if state.get_pending {
            return false;
        }
        state.get_pending = true;
        true
    }

    pub(super) fn end_get(&self) {
        let mut state = lock(&self.state);
        state.get_pending = false;
        // An answer made for a GET that went away goes to the next one, first.
        if let Some(ready) = state.ready.take() {
            state.queued_bytes += ready.len();
            state.queue.push_front(Outgoing::Raw(ready));
        }
    }

    /// What the waiting GET answers with now: the queued packets as one payload, a noop
    /// while an upgrade is under way, the close packet of a closed session; `None` to wait.
    pub(super) fn take_payload(&self) -> Option<Result<Bytes, ()>> {
        let mut state = lock(&self.state);
        if state.closed.is_some() {
            let answer = state.final_answer.take();
            drop(state);
            return Some(match answer {
                Some(answer) => {
                    self.shared.remove(&self.sid);
                    Ok(Bytes::from_static(answer))
                }
                None => Err(()),
            });
        }
        if let Some(ready) = state.ready.take() {
            return Some(Ok(ready));
        }
        if state.probe.is_some() && state.queue.is_empty() {
            // The upgrade is under way: let the client's poll end so that it can send `5`.
            return Some(Ok(Bytes::from_static(b"6")));
        }
        if state.transport != Transport::Polling {
            return Some(Ok(Bytes::from_static(b"6")));
        }
        if state.queue.is_empty() {
            return None;
        }
        Some(Ok(drain_payload(&mut state)))
    }

    /// The queued packets, if any (the handshake's answer adds them to the open packet).
    pub(super) fn take_payload_if_any(&self) -> Option<Result<Bytes, ()>> {
        if lock(&self.state).queue.is_empty() {
            return None;
        }
        self.take_payload()
    }

    pub(super) async fn readable(&self) {
        self.readable.notified().await;
    }

    /// A POST begins; false if another is being read (Node refuses the overlap).
    pub(super) fn begin_post(&self) -> bool {
        let mut state = lock(&self.state);
        if state.post_pending {
            return false;
        }
        state.post_pending = true;
        true
    }

    pub(super) fn end_post(&self) {
        lock(&self.state).post_pending = false;
    }

    // --- upgrade ---

    /// Whether a WebSocket may take this session over: it is on polling and no other
    /// WebSocket is probing.
    pub(crate) fn can_upgrade(&self) -> bool {
        let state = lock(&self.state);
        state.closed.is_none() && state.transport == Transport::Polling && state.probe.is_none()
    }

    /// A WebSocket sent `2probe`: it becomes the session's candidate; the waiting GET is
    /// released with a noop so that the client can finish the upgrade.
    pub(super) fn begin_upgrade(&self, ws: ConnectionHandle) -> bool {
        let mut state = lock(&self.state);
        if state.closed.is_some() || state.transport != Transport::Polling || state.probe.is_some() {
            return false;
        }
        state.probe = Some(ws);
        drop(state);
        self.readable.notify_one();
        true
    }

    /// `5` arrived on the probing WebSocket: the session moves over, and what was queued
    /// for polling goes out on it first, in order.
    pub(super) fn finish_upgrade(&self) -> bool {
        let mut state = lock(&self.state);
        let Some(ws) = state.probe.take() else {
            return false;
        };
        state.transport = Transport::WebSocket;
        for packet in state.queue.drain(..) {
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
        state.queued_bytes = 0;
        state.ws = Some(ws);
        drop(state);
        // A GET still waiting gets its noop.
        self.readable.notify_one();
        true
    }

    /// The probing WebSocket went away before `5`: the session stays on polling.
    pub(super) fn cancel_upgrade(&self) {
        lock(&self.state).probe = None;
    }

    /// Whether `ws` is the session's WebSocket (not a probe).
    pub(super) fn is_current_ws(&self, id: crate::io_server::ConnectionId) -> bool {
        lock(&self.state).ws.as_ref().is_some_and(|ws| ws.id() == id)
    }
}

/// Everything queued as one polling body, joined by `\x1e`.
fn drain_payload(state: &mut State) -> Bytes {
    let mut out = BytesMut::with_capacity(state.queued_bytes + state.queue.len() * 4);
    for (i, packet) in state.queue.drain(..).enumerate() {
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
    state.queued_bytes = 0;
    out.freeze()
}

/// Pings every `ping_interval` and closes the session when a ping goes unanswered for
/// `ping_timeout`; also tells the handler when its connect deadline passes. One task per
/// session, its timers kept for the session's life rather than made per ping.
async fn heartbeat(session: Arc<EngineSession>) {
    let interval = session.shared.config.ping_interval;
    let timeout = session.shared.config.ping_timeout;
    let closed = session.closed.clone();
    let start = tokio::time::Instant::now();
    let connect_after = session.shared.handler.connect_deadline();
    let mut connect_pending = connect_after.is_some();
    let connect = tokio::time::sleep_until(start + connect_after.unwrap_or(Duration::ZERO));
    let next_ping = tokio::time::sleep_until(start + interval);
    let pong_deadline = tokio::time::sleep_until(start + interval + timeout);
    let pong = session.pong.notified();
    tokio::pin!(connect, next_ping, pong_deadline, pong);
    let mut awaiting = false;
    loop {
        tokio::select! {
            () = closed.cancelled() => return,
            () = &mut connect, if connect_pending => {
                connect_pending = false;
                session.shared.handler.on_connect_deadline(&session);
            }
            () = &mut next_ping, if !awaiting => {
                // Armed before the ping goes out, so that a fast pong is not missed.
                pong.set(session.pong.notified());
                pong.as_mut().enable();
                if !session.send_text(b"2") {
                    return;
                }
                awaiting = true;
                pong_deadline.as_mut().reset(tokio::time::Instant::now() + timeout);
            }
            () = &mut pong, if awaiting => {
                awaiting = false;
                next_ping.as_mut().reset(tokio::time::Instant::now() + interval);
            }
            () = &mut pong_deadline, if awaiting => {
                session.close(CloseReason::PingTimeout);
                return;
            }
        }
    }
}

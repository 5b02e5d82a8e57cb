//! Connections as components see them: [`Connection`] inside callbacks, [`ConnectionHandle`]
//! from anywhere else.

mod id;
mod outbox;

pub use id::{InvalidSessionId, SessionId};

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Extensions, Request};
use windlass_proto::{CloseCode, CloseFrame};

pub use outbox::SlowConsumer;
pub(crate) use outbox::{
    Command, DEFAULT_SEND_QUEUE, Encoding, MAX_SLICES, Outbox, Outgoing, QueueConfig, Refusal, Shared,
    WireKind, WriteQueue,
};

use crate::error::SendError;
pub use crate::io_server::ConnectionId;
use crate::io_server::registry::Member;
use crate::message::Message;

/// A connection, as callbacks see it (Ratchet's `ConnectionInterface`).
///
/// It lives in the connection's own task and is lent to each callback, so sending from a
/// callback takes no lock. To send from elsewhere — another connection's callback, a timer, a
/// database listener — keep a [`ConnectionHandle`] from [`Connection::handle`].
pub struct Connection {
    shared: Arc<Shared>,
    request: Option<Box<Request<()>>>,
    protocol: Option<String>,
    extensions: Extensions,
    /// What the transport writes next.
    pub(crate) outbox: Outbox,
    /// Set by `close()` (or a slow-consumer overflow) during a callback; acted on after it.
    pub(crate) close_request: Option<CloseRequest>,
}

/// Why the connection task should start closing.
#[derive(Debug)]
pub(crate) enum CloseRequest {
    // Boxed: the field sits in every connection, a close request in few.
    Close(Box<CloseFrame>),
    Overflow,
}

impl Connection {
    pub(crate) fn new(
        shared: Arc<Shared>,
        mut request: Option<Request<()>>,
        protocol: Option<String>,
    ) -> Self {
        // What decorators attached to the upgrade request (an identity, path parameters)
        // becomes the connection's own data.
        let mut extensions = request.as_mut().map(|r| std::mem::take(r.extensions_mut())).unwrap_or_default();
        if extensions.is_empty() {
            // An emptied map keeps its allocation; an idle connection should not.
            extensions = Extensions::new();
        }
        Self {
            shared,
            request: request.map(Box::new),
            protocol,
            extensions,
            outbox: Outbox::default(),
            close_request: None,
        }
    }

    /// The connection's id (Ratchet's `resourceId`).
    pub fn id(&self) -> ConnectionId {
        self.shared.id
    }

    /// The peer's address (Ratchet's `remoteAddress`).
    pub fn remote_addr(&self) -> SocketAddr {
        self.shared.remote_addr
    }

    /// The session's id, unique across processes (see [`SessionId`]).
    pub fn session_id(&self) -> SessionId {
        self.shared.session_id()
    }

    /// The HTTP upgrade request: URI, headers, cookies (Ratchet's `httpRequest`).
    ///
    /// Available in `on_open`; afterwards only with
    /// [`WsServer::keep_request`](crate::WsServer::keep_request), since a request head costs
    /// about a kilobyte per connection, several times what an idle connection needs otherwise.
    /// Take what you need in `on_open` (into [`extensions`](Self::extensions_mut)). `None` over
    /// raw TCP.
    pub fn request(&self) -> Option<&Request<()>> {
        self.request.as_deref()
    }

    /// Frees the upgrade request (after `on_open`, unless it is to be kept).
    pub(crate) fn release_request(&mut self) {
        self.request = None;
    }

    /// The value of cookie `name` from the upgrade request.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.request()?
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The negotiated WebSocket sub-protocol, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Typed per-connection data (what Ratchet users keep in dynamic properties). It starts
    /// with whatever decorators attached to the upgrade request's extensions — a router's
    /// path parameters, an auth hook's identity.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Typed per-connection data, mutable.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Queues a message. Never blocks; the bytes are written when the callback returns.
    ///
    /// Fails with [`SendError::Closed`] once the connection is closing, and applies the
    /// [`SlowConsumer`] policy when the send queue is over its limit.
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.send_with(&msg.into(), true)
    }

    /// Like [`send`](Self::send), but never compressed, whatever permessage-deflate agreed
    /// (for data that is already compressed, such as images).
    pub fn send_uncompressed(&mut self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.send_with(&msg.into(), false)
    }

    fn send_with(&mut self, msg: &Message, compress: bool) -> Result<(), SendError> {
        if self.close_request.is_some() || self.shared.is_closing() {
            return Err(SendError::Closed);
        }
        match self.outbox.send(&self.shared, msg, compress) {
            Ok(()) => Ok(()),
            Err(Refusal::Send(e)) => Err(e),
            Err(Refusal::Overflow) => {
                self.close_request = Some(CloseRequest::Overflow);
                Err(SendError::Closed)
            }
        }
    }

    /// Queues control output (pongs, close frames, the handshake response) past the limit.
    pub(crate) fn push_control(&mut self, item: Outgoing) {
        self.outbox.push_control(&self.shared, item);
    }

    /// Starts closing the connection once the current callback returns.
    ///
    /// Over WebSocket this sends a close frame with `code` and `reason` (cut to 123 bytes) and
    /// waits for the peer's; over raw TCP it flushes what is queued and closes.
    /// [`CloseCode::NO_STATUS`] (1005) sends a close frame without a code (and without a
    /// reason); another code that may not be sent on the wire (1006, 1015, unassigned) is
    /// replaced by 1000.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        if self.close_request.is_none() && !self.shared.is_closing() {
            self.close_request = Some(CloseRequest::Close(Box::new(close_frame(code, reason))));
        }
    }

    /// A handle for sending from other tasks.
    pub fn handle(&self) -> ConnectionHandle {
        ConnectionHandle { shared: Arc::clone(&self.shared) }
    }

    /// Bytes queued for this peer and not yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.shared.budget.queued()
    }

    /// The outbox and the state it keeps in step, borrowed together.
    pub(crate) fn outbox_mut(&mut self) -> (&mut Outbox, &Shared) {
        (&mut self.outbox, &self.shared)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id())
            .field("remote_addr", &self.remote_addr())
            .finish_non_exhaustive()
    }
}

fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    // 1005 ("no status") asks for a close frame without a code, and so without a reason.
    if code == CloseCode::NO_STATUS {
        return CloseFrame::new(code, "");
    }
    let code = if code.is_sendable() {
        code
    } else {
        tracing::warn!(%code, "close code may not be sent; using 1000");
        CloseCode::NORMAL
    };
    CloseFrame::new(code, reason)
}

/// Sends to a connection from any task (Clone + Send + Sync).
///
/// `send` never blocks or awaits: it queues the message and wakes the connection's task. A
/// handle keeps no socket open; once the connection ends, sends fail with [`SendError::Closed`].
#[derive(Clone)]
pub struct ConnectionHandle {
    shared: Arc<Shared>,
}

impl ConnectionHandle {
    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.shared.id
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.shared.remote_addr
    }

    /// The session's id, unique across processes (see [`SessionId`]).
    pub fn session_id(&self) -> SessionId {
        self.shared.session_id()
    }

    /// Queues a message; see [`Connection::send`].
    pub fn send(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.send_with(&msg.into(), true)
    }

    /// Queues a message that is never compressed; see [`Connection::send_uncompressed`].
    pub fn send_uncompressed(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.send_with(&msg.into(), false)
    }

    fn send_with(&self, msg: &Message, compress: bool) -> Result<(), SendError> {
        if self.shared.is_closing() {
            return Err(SendError::Closed);
        }
        self.shared.send(Encoding::for_peer(&self.shared, msg, compress).encode(&self.shared, msg))
    }

    /// Queues an already encoded message (a broadcast encodes once for everyone).
    pub(crate) fn send_encoded(&self, item: Outgoing) -> Result<(), SendError> {
        self.shared.send(item)
    }

    /// How a message would be encoded for this peer (a broadcast encodes once per encoding).
    pub(crate) fn encoding(&self, msg: &Message) -> Encoding {
        Encoding::for_peer(&self.shared, msg, true)
    }

    pub(crate) fn encode(&self, encoding: Encoding, msg: &Message) -> Outgoing {
        encoding.encode(&self.shared, msg)
    }

    /// Asks the connection to close; see [`Connection::close`].
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.shared.post(Command::Close(close_frame(code, reason)))
    }

    /// Bytes queued for this peer and not yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.shared.budget.queued()
    }

    /// Messages dropped under [`SlowConsumer::DropMessage`].
    pub fn dropped_messages(&self) -> u64 {
        self.shared.budget.dropped()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner).closed
    }
}

impl fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionHandle")
            .field("id", &self.id())
            .field("remote_addr", &self.remote_addr())
            .finish_non_exhaustive()
    }
}

impl Member for Shared {
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn shut_down(&self) {
        let _ = self.post(Command::Shutdown);
    }

    fn abort(&self) {
        let _ = self.post(Command::Abort);
    }
}

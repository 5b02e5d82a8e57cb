//! The outbound side of a connection: encoded frames, the byte-bounded queue, and the inbox
//! through which other tasks reach it.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use windlass_proto::deflate::{DeflateParams, Deflater};
use windlass_proto::{CloseFrame, FrameHead, OpCode};

use super::SessionId;
use crate::error::SendError;
use crate::message::Message;
use crate::session::ConnectionId;

/// What happens when a peer reads so slowly that its send queue passes `max_send_queue`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// Drop what is queued, send a 1008 close frame and close the connection (default).
    /// The sender gets [`SendError::Closed`]; `on_error` sees [`Error::SlowConsumer`].
    ///
    /// [`Error::SlowConsumer`]: crate::Error::SlowConsumer
    #[default]
    Close,
    /// Drop the new message and count it ([`ConnectionHandle::dropped_messages`]); the send
    /// returns `Ok`. For feeds where only the latest value matters.
    ///
    /// [`ConnectionHandle::dropped_messages`]: crate::ConnectionHandle::dropped_messages
    DropMessage,
    /// Refuse the new message: the send returns [`SendError::QueueFull`] and the caller decides.
    Error,
}

impl SlowConsumer {
    /// The policy's name in metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::DropMessage => "drop_message",
            Self::Error => "error",
        }
    }
}

/// Limits of one connection's send queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QueueConfig {
    pub(crate) limit: usize,
    pub(crate) policy: SlowConsumer,
}

/// Default send-queue limit: 4 MiB, a few seconds of a busy feed for a stalled peer.
pub(crate) const DEFAULT_SEND_QUEUE: usize = 4 << 20;

/// Queued bytes past which output is [compacted](WriteQueue::compact_settled): a peer this
/// far behind is slow, not merely between two writes.
pub(crate) const COMPACT_AFTER: usize = 64 * 1024;

/// Items pushed after an item before it is looked at for compaction: once at the next push
/// (usually the read buffer it came from has moved on and the other recipients of a broadcast
/// have written it), and again a few pushes later for what was still shared then.
const SETTLE: [usize; 2] = [1, 8];

/// How messages are framed on this connection's wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireKind {
    /// RFC 6455 frames.
    WebSocket,
    /// Raw TCP, one message per line.
    Lines,
}

/// One encoded unit of output: a frame header (or nothing), a payload shared with whoever else
/// sends it, and for line transports a trailing newline.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    head: FrameHead,
    body: Bytes,
    newline: bool,
    /// A message still to be compressed by its connection's own compressor (context
    /// takeover), which must see messages in the order they are written.
    pending: Option<OpCode>,
    /// The payload has memory of its own (see [`compact`](Self::compact)).
    compacted: bool,
    /// A message (counted in `windlass_messages_sent_total` once written), not a control frame
    /// or an HTTP response.
    message: bool,
}

/// How a message is encoded for one peer; peers with equal encodings can share the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Plain(WireKind),
    /// Compressed without context: the same bytes suit every peer with this window and level.
    Stateless {
        window_bits: u8,
        level: u32,
    },
    /// Compressed by the peer's connection task.
    PerConnection,
}

impl Encoding {
    /// `compress: false` sends the message uncompressed whatever was agreed.
    pub(crate) fn for_peer(shared: &Shared, msg: &Message, compress: bool) -> Self {
        match shared.deflate {
            // Empty messages gain nothing from compression.
            Some(params) if compress && !msg.is_empty() && msg.len() >= params.threshold => {
                if params.server_no_context_takeover {
                    Self::Stateless { window_bits: params.server_window_bits, level: params.level }
                } else {
                    Self::PerConnection
                }
            }
            _ => Self::Plain(shared.wire),
        }
    }

    pub(crate) fn encode(self, shared: &Shared, msg: &Message) -> Outgoing {
        let opcode = if msg.is_text() { OpCode::Text } else { OpCode::Binary };
        match (self, shared.deflate) {
            (Self::Stateless { .. }, Some(params)) => {
                Outgoing::compressed(opcode, Deflater::compress_once(&params, msg.as_bytes()))
            }
            (Self::PerConnection, _) => {
                Outgoing { pending: Some(opcode), ..Outgoing::message(WireKind::WebSocket, msg) }
            }
            _ => Outgoing::message(shared.wire, msg),
        }
    }
}

static NEWLINE: &[u8] = b"\n";

impl Outgoing {
    /// Raw bytes (an HTTP response).
    pub(crate) fn raw(body: Bytes) -> Self {
        Self { head: FrameHead::EMPTY, body, newline: false, pending: None, compacted: false, message: false }
    }

    /// A message encoded for `wire`. The payload is not copied.
    pub(crate) fn message(wire: WireKind, msg: &Message) -> Self {
        match (wire, msg) {
            (WireKind::WebSocket, Message::Text(text)) => {
                Self { message: true, ..Self::frame(OpCode::Text, text.as_bytes().clone()) }
            }
            (WireKind::WebSocket, Message::Binary(bytes)) => {
                Self { message: true, ..Self::frame(OpCode::Binary, bytes.clone()) }
            }
            (WireKind::Lines, msg) => {
                let body = match msg {
                    Message::Text(text) => text.as_bytes().clone(),
                    Message::Binary(bytes) => bytes.clone(),
                };
                let newline = body.last() != Some(&b'\n');
                Self { head: FrameHead::EMPTY, body, newline, pending: None, compacted: false, message: true }
            }
        }
    }

    /// A whole WebSocket frame.
    pub(crate) fn frame(opcode: OpCode, payload: Bytes) -> Self {
        Self {
            head: FrameHead::new(true, opcode, payload.len()),
            body: payload,
            newline: false,
            pending: None,
            compacted: false,
            message: false,
        }
    }

    /// A whole message frame whose payload is compressed (RSV1 set).
    pub(crate) fn compressed(opcode: OpCode, payload: Bytes) -> Self {
        let head = FrameHead::with_rsv(true, 0b100, opcode, payload.len());
        Self { head, body: payload, newline: false, pending: None, compacted: false, message: true }
    }

    /// If this message still needs compressing: its opcode and uncompressed payload.
    pub(crate) fn pending_compression(&self) -> Option<(OpCode, &Bytes)> {
        self.pending.map(|opcode| (opcode, &self.body))
    }

    /// A close frame.
    pub(crate) fn close(frame: Option<&CloseFrame>) -> Self {
        Self::frame(OpCode::Close, frame.map(CloseFrame::to_payload).unwrap_or_default())
    }

    /// Gives the payload memory of its own, sized to it, if nothing else holds its memory.
    ///
    /// A payload decoded from a read buffer keeps the whole buffer it was cut from alive
    /// (often twice its size) for as long as it waits. A peer that falls behind keeps many,
    /// so its queue would hold far more memory than the bytes the queue limit counts. A
    /// payload still shared (a broadcast to several stalled peers) is left alone: copies per
    /// peer would cost more than the buffer, which the peers' limits then all count.
    fn compact(&mut self) {
        if !self.compacted && !self.body.is_empty() && self.body.is_unique() {
            self.body = Bytes::copy_from_slice(&self.body);
            self.compacted = true;
        }
    }

    /// Bytes on the wire.
    pub(crate) fn len(&self) -> usize {
        self.head.as_slice().len() + self.body.len() + usize::from(self.newline)
    }

    /// The three parts, in wire order.
    fn parts(&self) -> [&[u8]; 3] {
        [self.head.as_slice(), &self.body, if self.newline { NEWLINE } else { &[] }]
    }
}

/// Why a message was not queued.
#[derive(Debug)]
pub(crate) enum Refusal {
    Send(SendError),
    /// The limit is passed under [`SlowConsumer::Close`]: the session must close.
    Overflow,
}

/// One session's outbound path, in the task that drives it: messages are encoded, admitted by
/// the [`Budget`], compressed when that is left to this session, and queued for its transport
/// to write in order. Every change to what is queued goes through here, with the budget kept in
/// step.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: WriteQueue,
    /// Created at the first message compressed with context takeover; boxed so that sessions
    /// without compression do not carry its size.
    deflater: Option<Box<Deflater>>,
}

impl Outbox {
    /// Encodes and queues a message from a callback.
    pub(crate) fn send(&mut self, shared: &Shared, msg: &Message, compress: bool) -> Result<(), Refusal> {
        let item = Encoding::for_peer(shared, msg, compress).encode(shared, msg);
        match shared.budget.admit(item.len()) {
            Admission::Accept => {
                self.enqueue(shared, item);
                Ok(())
            }
            Admission::Drop => Ok(()),
            Admission::Refuse(e) => Err(Refusal::Send(e)),
            Admission::Overflow => Err(Refusal::Overflow),
        }
    }

    /// Queues a message another task admitted and posted, unless closing began meanwhile
    /// (nothing may follow our close frame: it is dropped).
    pub(crate) fn take_posted(&mut self, shared: &Shared, item: Outgoing) {
        if shared.is_closing() {
            shared.budget.release(item.len());
        } else {
            self.enqueue(shared, item);
        }
    }

    /// Queues an admitted message (compressed first if it is left to this session's
    /// compressor); while the peer is behind, queued payloads get memory of their own.
    fn enqueue(&mut self, shared: &Shared, item: Outgoing) {
        let item = self.compress_pending(shared, item);
        self.queue.push(item);
        if shared.budget.queued() > COMPACT_AFTER {
            self.queue.compact_settled();
        }
    }

    /// Compresses a message left for this session's compressor (context takeover), in the
    /// order messages are queued.
    fn compress_pending(&mut self, shared: &Shared, item: Outgoing) -> Outgoing {
        let (Some((opcode, body)), Some(params)) = (item.pending_compression(), shared.deflate) else {
            return item;
        };
        let deflater = self.deflater.get_or_insert_with(|| Box::new(Deflater::new(&params)));
        let compressed = Outgoing::compressed(opcode, deflater.compress(body));
        // The budget counted the uncompressed size; count what will really be written.
        shared.budget.resize(item.len(), compressed.len());
        compressed
    }

    /// Queues control output (pongs, close frames, the handshake response) past the limit.
    pub(crate) fn push_control(&mut self, shared: &Shared, item: Outgoing) {
        shared.budget.charge(item.len());
        self.queue.push(item);
    }

    /// Marks `n` bytes as written; returns how many messages were completed.
    pub(crate) fn advance(&mut self, shared: &Shared, n: usize) -> u64 {
        shared.budget.release(n);
        self.queue.advance(n)
    }

    /// Drops everything not yet started (a slow consumer's backlog); returns the bytes dropped.
    pub(crate) fn discard_unstarted(&mut self, shared: &Shared) -> usize {
        let dropped = self.queue.discard_unstarted();
        shared.budget.release(dropped);
        dropped
    }

    /// Takes whole queued messages from the front, up to `max_bytes` of payload (at least one
    /// if any is queued), for a transport that frames them itself: a long-polling GET drains
    /// the session this way. Stops at control output, at a message the previous transport
    /// started writing, and at compressed messages, which only a WebSocket can carry: whatever
    /// stays is written by the transport that owns the session next, in the same order.
    // The long-polling transport of the event layer is its first user.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn take_messages(&mut self, shared: &Shared, max_bytes: usize) -> Vec<Bytes> {
        let mut taken = Vec::new();
        let mut bytes = 0;
        while self.queue.written == 0 {
            let Some(front) = self.queue.items.front() else { break };
            let compressed = front.head.as_slice().first().is_some_and(|b| b & 0x70 != 0);
            if !front.message || compressed || front.pending.is_some() {
                break;
            }
            if !taken.is_empty() && bytes + front.body.len() > max_bytes {
                break;
            }
            let Some(item) = self.queue.items.pop_front() else { break };
            shared.budget.release(item.len());
            bytes += item.body.len();
            taken.push(item.body);
        }
        taken
    }

    /// What is left to write, for the transport.
    pub(crate) fn queue(&self) -> &WriteQueue {
        &self.queue
    }

    /// Frees the queue's memory if it is empty, but for one slot (see [`WriteQueue::release`]).
    pub(crate) fn release(&mut self) {
        self.queue.release(1);
    }

    /// Frees all of the queue's memory if it is empty (after the handshake: a connection
    /// that never sends keeps none).
    pub(crate) fn release_all(&mut self) {
        self.queue.release(0);
    }
}

/// The connection task's own queue of output, written with vectored writes.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    items: VecDeque<Outgoing>,
    /// Bytes of the front item already written.
    written: usize,
}

/// Most slices handed to one `writev`; Linux takes up to 1024.
pub(crate) const MAX_SLICES: usize = 64;

impl WriteQueue {
    pub(crate) fn push(&mut self, item: Outgoing) {
        if self.items.capacity() == 0 {
            // One slot first: most wake-ups write one frame, and a quiet connection keeps
            // only that (see `release`).
            self.items.reserve_exact(1);
        }
        self.items.push_back(item);
    }

    /// Compacts the items pushed [`SETTLE`] pushes ago, for a queue that is behind (see
    /// [`Outgoing::compact`]). Called after each push, it looks at every item twice.
    pub(crate) fn compact_settled(&mut self) {
        for distance in SETTLE {
            if let Some(index) = self.items.len().checked_sub(distance + 1) {
                self.items[index].compact();
            }
        }
    }

    /// Frees the queue's memory if it is empty and grew past one slot: a connection that went
    /// quiet after a burst keeps only what one frame needs, and a steady one-at-a-time
    /// exchange allocates nothing.
    pub(crate) fn release(&mut self, keep: usize) {
        if self.items.is_empty() && self.items.capacity() > keep {
            self.items = VecDeque::new();
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items (frames, responses) queued.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Fills `slices` with what is left to write, in order; returns how many were filled.
    pub(crate) fn slices<'a, const N: usize>(&'a self, slices: &mut [IoSlice<'a>; N]) -> usize {
        let mut n = 0;
        let mut skip = self.written;
        'items: for item in &self.items {
            for part in item.parts() {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                slices[n] = IoSlice::new(&part[skip..]);
                skip = 0;
                n += 1;
                if n == N {
                    break 'items;
                }
            }
        }
        n
    }

    /// Marks `n` bytes as written, dropping finished items. Returns how many of them were
    /// messages (not control frames or HTTP responses).
    pub(crate) fn advance(&mut self, n: usize) -> u64 {
        self.written += n;
        let mut messages = 0;
        while let Some(front) = self.items.front() {
            let len = front.len();
            if self.written < len {
                break;
            }
            self.written -= len;
            messages += u64::from(front.message);
            self.items.pop_front();
        }
        messages
    }

    /// Drops everything not yet started (a partly written item stays, or the frame stream would
    /// be corrupt). Returns the bytes dropped.
    pub(crate) fn discard_unstarted(&mut self) -> usize {
        let keep = usize::from(self.written > 0);
        self.items.drain(keep..).map(|item| item.len()).sum()
    }

    /// Every byte still to be written.
    #[cfg(test)]
    pub(crate) fn pending_bytes(&self) -> usize {
        self.items.iter().map(Outgoing::len).sum::<usize>() - self.written
    }
}

/// A request from outside the connection task.
#[derive(Debug)]
pub(crate) enum Command {
    Send(Outgoing),
    Close(CloseFrame),
    /// A handle's send passed the queue limit under [`SlowConsumer::Close`].
    Overflow,
    /// The server is shutting down: close with 1001.
    Shutdown,
    /// The drain deadline passed: drop the connection now.
    Abort,
}

#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// Set when the task ends; later commands are refused so nothing piles up.
    pub(crate) closed: bool,
    pub(crate) commands: Vec<Command>,
}

/// State shared between a connection task and its handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) id: ConnectionId,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) wire: WireKind,
    /// permessage-deflate parameters, when agreed.
    pub(crate) deflate: Option<DeflateParams>,
    /// The byte budget of everything queued for this peer.
    pub(crate) budget: Budget,
    /// Set when closing starts: from then on nothing but the close handshake is written
    /// (RFC 6455 §5.5.1), so sends are refused.
    closing: AtomicBool,
    pub(crate) inbox: Mutex<Inbox>,
    /// Set when a command is posted, so the task looks at the inbox only when it has one.
    posted: AtomicBool,
    /// The task is between two looks at the inbox (handling input or an event): a post then
    /// needs no wake-up, as the task looks again before it sleeps. Saves a wake-up, and a
    /// pointless poll of the task, for every reply a component sends through a handle from
    /// its own connection's task (as the Socket.IO layer does).
    busy: AtomicBool,
    pub(crate) waker: AtomicWaker,
    /// Drawn when first asked for: most WebSocket sessions never need one.
    session_id: OnceLock<SessionId>,
}

/// The byte budget of one session's output: the bytes accepted for sending and not yet
/// written, wherever they wait (the transport's queue, the inbox), against the limit, and the
/// slow-consumer policy past it.
///
/// Its methods are the only code that changes the count, so every path that queues, writes,
/// drops or compresses output goes through here.
#[derive(Debug)]
pub(crate) struct Budget {
    queued: AtomicUsize,
    pub(crate) config: QueueConfig,
    dropped: AtomicU64,
}

impl Budget {
    pub(crate) fn new(config: QueueConfig) -> Self {
        Self { queued: AtomicUsize::new(0), config, dropped: AtomicU64::new(0) }
    }

    /// Applies the limit: a message is accepted while fewer than `limit` bytes wait, so the
    /// queue never holds more than the limit plus one message.
    pub(crate) fn admit(&self, len: usize) -> Admission {
        // Check and add in one atomic step, so senders racing on other threads cannot all slip
        // in under the limit; a refused message is never added, not even for a moment (a
        // reader of `buffered_amount` never sees more than the limit plus one message).
        let limit = self.config.limit;
        let admitted = self.queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
            (queued < limit).then_some(queued + len)
        });
        if admitted.is_ok() {
            return Admission::Accept;
        }
        // Looked up here rather than kept per session: every session would carry it, few
        // ever overflow.
        crate::stats::overflows(self.config.policy.label()).increment(1);
        match self.config.policy {
            SlowConsumer::Close => Admission::Overflow,
            SlowConsumer::DropMessage => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Admission::Drop
            }
            SlowConsumer::Error => Admission::Refuse(SendError::QueueFull),
        }
    }

    /// Counts output queued past the limit (control frames, the handshake response).
    pub(crate) fn charge(&self, len: usize) {
        self.queued.fetch_add(len, Ordering::Relaxed);
    }

    /// Gives back what was written, dropped, or never queued after all.
    pub(crate) fn release(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::Relaxed);
    }

    /// An item admitted at one size is queued at another (compressed).
    pub(crate) fn resize(&self, admitted: usize, queued: usize) {
        self.charge(queued);
        self.release(admitted);
    }

    /// Bytes waiting.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether the limit is reached: a transport reads nothing more from this peer until it
    /// drains.
    pub(crate) fn is_full(&self) -> bool {
        self.queued() >= self.config.limit
    }

    /// Messages dropped under [`SlowConsumer::DropMessage`].
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// What the queue limit says about a new message.
pub(crate) enum Admission {
    Accept,
    /// Drop the message silently (counted).
    Drop,
    Refuse(SendError),
    /// Accept nothing and close the connection as a slow consumer.
    Overflow,
}

impl Shared {
    pub(crate) fn new(
        id: ConnectionId,
        remote_addr: SocketAddr,
        wire: WireKind,
        deflate: Option<DeflateParams>,
        queue: QueueConfig,
    ) -> Self {
        Self {
            id,
            remote_addr,
            wire,
            deflate,
            budget: Budget::new(queue),
            closing: AtomicBool::new(false),
            inbox: Mutex::new(Inbox::default()),
            posted: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            session_id: OnceLock::new(),
        }
    }

    pub(crate) fn session_id(&self) -> SessionId {
        *self.session_id.get_or_init(SessionId::random)
    }

    /// Queues a command for the task and wakes it. Fails once the task has ended.
    pub(crate) fn post(&self, command: Command) -> Result<(), SendError> {
        {
            let mut inbox = self.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if inbox.closed {
                return Err(SendError::Closed);
            }
            if inbox.commands.capacity() == 0 {
                // One slot first: most wake-ups carry one command, and the slot is kept, so a
                // steady stream of posts allocates nothing.
                inbox.commands.reserve_exact(1);
            }
            inbox.commands.push(command);
            // Sequentially consistent with `busy` (set here, read after; the task clears
            // `busy`, then reads this): one side always sees the other's store.
            self.posted.store(true, Ordering::SeqCst);
        }
        if !self.busy.load(Ordering::SeqCst) {
            self.waker.wake();
        }
        Ok(())
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub(crate) fn set_closing(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Sends from another task.
    pub(crate) fn send(&self, item: Outgoing) -> Result<(), SendError> {
        if self.is_closing() {
            return Err(SendError::Closed);
        }
        let len = item.len();
        match self.budget.admit(len) {
            Admission::Accept => self.post(Command::Send(item)).inspect_err(|_| self.budget.release(len)),
            Admission::Drop => Ok(()),
            Admission::Refuse(e) => Err(e),
            Admission::Overflow => {
                let _ = self.post(Command::Overflow);
                Err(SendError::Closed)
            }
        }
    }

    /// Hands posted commands to `each` in order, if any were posted, under the inbox's lock;
    /// returns how many. The inbox keeps its vector, so one vector per connection carries
    /// its posts. Call after registering the task's waker: a command posted after this check
    /// wakes the task again.
    pub(crate) fn drain_commands(&self, mut each: impl FnMut(Command)) -> usize {
        if self.posted.load(Ordering::SeqCst) && self.posted.swap(false, Ordering::SeqCst) {
            let mut inbox = self.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let taken = inbox.commands.len();
            for command in inbox.commands.drain(..) {
                each(command);
            }
            return taken;
        }
        0
    }

    /// The task starts handling something: posts until [`idle`](Self::idle) need not wake it.
    pub(crate) fn busy(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    /// The task is about to look at the inbox and then sleep: posts from now on wake it.
    pub(crate) fn idle(&self) {
        self.busy.store(false, Ordering::SeqCst);
    }

    /// Frees the inbox's vector if it is empty and grew past one slot (after a burst).
    pub(crate) fn shrink_inbox(&self) {
        let mut inbox = self.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if inbox.commands.is_empty() && inbox.commands.capacity() > 1 {
            inbox.commands = Vec::new();
        }
    }

    /// Moves posted commands into `into` (empty), if any were posted. Call after registering
    /// the task's waker: a command posted after this check wakes the task again.
    pub(crate) fn take_commands(&self, into: &mut Vec<Command>) {
        if self.posted.load(Ordering::SeqCst) && self.posted.swap(false, Ordering::SeqCst) {
            let mut inbox = self.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::swap(&mut inbox.commands, into);
        }
    }

    /// Marks the task ended; returns commands that were still waiting.
    pub(crate) fn close_inbox(&self) -> Vec<Command> {
        let mut inbox = self.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        inbox.closed = true;
        std::mem::take(&mut inbox.commands)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_label_is_registered_up_front() {
        for policy in [SlowConsumer::Close, SlowConsumer::DropMessage, SlowConsumer::Error] {
            assert!(crate::stats::OVERFLOW_POLICIES.contains(&policy.label()), "{policy:?}");
        }
    }

    fn queue_of(items: &[Outgoing]) -> WriteQueue {
        let mut q = WriteQueue::default();
        for item in items {
            q.push(item.clone());
        }
        q
    }

    fn write_all(q: &mut WriteQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !q.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = q.slices(&mut slices);
            let mut budget = step;
            let mut wrote = 0;
            for s in &slices[..n] {
                let take = s.len().min(budget);
                out.extend_from_slice(&s[..take]);
                budget -= take;
                wrote += take;
                if budget == 0 {
                    break;
                }
            }
            q.advance(wrote);
        }
        out
    }

    #[test]
    fn partial_writes_resume_exactly_where_they_stopped() {
        let items = [
            Outgoing::raw(Bytes::from_static(b"HTTP/1.1 101\r\n\r\n")),
            Outgoing::message(WireKind::WebSocket, &Message::text("hello")),
            Outgoing::message(WireKind::Lines, &Message::text("line")),
            Outgoing::message(WireKind::Lines, &Message::text("done\n")),
            Outgoing::close(Some(&CloseFrame::new(windlass_proto::CloseCode::NORMAL, "bye"))),
        ];
        let mut expected = b"HTTP/1.1 101\r\n\r\n\x81\x05hello".to_vec();
        expected.extend_from_slice(b"line\ndone\n");
        expected.extend_from_slice(b"\x88\x05\x03\xe8bye");
        for step in 1..=expected.len() {
            let mut q = queue_of(&items);
            assert_eq!(q.pending_bytes(), expected.len());
            assert_eq!(write_all(&mut q, step), expected, "step {step}");
        }
    }

    fn shared() -> Shared {
        let queue = QueueConfig { limit: 1 << 20, policy: SlowConsumer::Close };
        Shared::new(ConnectionId::next(), "127.0.0.1:1".parse().unwrap(), WireKind::WebSocket, None, queue)
    }

    /// What a WebSocket transport would write of `outbox`, `step` bytes per write, until
    /// `until` bytes are out (an item boundary or not).
    fn write_some(outbox: &mut Outbox, shared: &Shared, step: usize, until: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < until && !outbox.queue().is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = outbox.queue().slices(&mut slices);
            let mut budget = step.min(until - out.len());
            let mut wrote = 0;
            for s in &slices[..n] {
                let take = s.len().min(budget);
                out.extend_from_slice(&s[..take]);
                budget -= take;
                wrote += take;
            }
            outbox.advance(shared, wrote);
        }
        out
    }

    #[test]
    fn a_session_moves_between_transports_without_losing_or_reordering() {
        let shared = shared();
        let mut outbox = Outbox::default();
        let texts: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();
        for text in &texts[..6] {
            outbox.send(&shared, &Message::text(text.clone()), true).unwrap();
        }
        // A WebSocket transport writes two messages and half of the third, then its socket
        // goes (say, the page moves to long-polling): the half-written frame must be finished
        // by a WebSocket, so a polling drain takes nothing past it.
        let frame = |text: &str| 2 + text.len();
        let first_bytes = frame(&texts[0]) + frame(&texts[1]) + 3;
        let written = write_some(&mut outbox, &shared, 5, first_bytes);
        assert_eq!(written.len(), first_bytes);
        assert!(
            outbox.take_messages(&shared, usize::MAX).is_empty(),
            "a started frame stays with its transport"
        );
        // The WebSocket finishes that frame; the rest moves to the other transport.
        let rest_of_third = frame(&texts[2]) - 3;
        write_some(&mut outbox, &shared, 64, rest_of_third);
        // Meanwhile other tasks keep sending (through the inbox, in order).
        for text in &texts[6..] {
            let item = Encoding::for_peer(&shared, &Message::text(text.clone()), true)
                .encode(&shared, &Message::text(text.clone()));
            assert!(matches!(shared.budget.admit(item.len()), Admission::Accept));
            outbox.take_posted(&shared, item);
        }
        // A long-polling GET drains in bounded batches; nothing is lost or reordered.
        let mut drained = Vec::new();
        loop {
            let batch = outbox.take_messages(&shared, 20);
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() == 1 || batch.iter().map(Bytes::len).sum::<usize>() <= 20);
            drained.extend(batch.into_iter().map(|b| String::from_utf8(b.to_vec()).unwrap()));
        }
        assert_eq!(drained, texts[3..]);
        assert!(outbox.queue().is_empty());
        assert_eq!(shared.budget.queued(), 0, "the budget follows every move");
    }

    #[test]
    fn control_output_stops_a_drain_until_its_transport_writes_it() {
        let shared = shared();
        let mut outbox = Outbox::default();
        outbox.send(&shared, &Message::text("before"), true).unwrap();
        outbox.push_control(&shared, Outgoing::frame(OpCode::Ping, Bytes::new()));
        outbox.send(&shared, &Message::text("after"), true).unwrap();
        assert_eq!(outbox.take_messages(&shared, usize::MAX), [Bytes::from_static(b"before")]);
        assert!(outbox.take_messages(&shared, usize::MAX).is_empty());
        assert_eq!(shared.budget.queued(), 2 + 2 + 5);
    }

    #[test]
    fn discarding_keeps_a_partly_written_frame() {
        let mut q = queue_of(&[
            Outgoing::raw(Bytes::from_static(b"abcd")),
            Outgoing::raw(Bytes::from_static(b"efgh")),
        ]);
        q.advance(2);
        assert_eq!(q.discard_unstarted(), 4);
        assert_eq!(q.pending_bytes(), 2);
        let mut q = queue_of(&[Outgoing::raw(Bytes::from_static(b"abcd"))]);
        assert_eq!(q.discard_unstarted(), 4);
        assert!(q.is_empty());
    }

    #[test]
    fn advancing_counts_messages_written_in_full() {
        let mut q = queue_of(&[
            Outgoing::raw(Bytes::from_static(b"HTTP/1.1 101\r\n\r\n")),
            Outgoing::message(WireKind::WebSocket, &Message::text("hi")),
            Outgoing::frame(OpCode::Pong, Bytes::new()),
            Outgoing::compressed(OpCode::Text, Bytes::from_static(b"z")),
            Outgoing::message(WireKind::Lines, &Message::text("line")),
        ]);
        // The response, then the message but its last byte.
        assert_eq!(q.advance(16 + 3), 0);
        // Its last byte, the pong, the compressed message, half the line.
        assert_eq!(q.advance(1 + 2 + 3 + 2), 2);
        assert_eq!(q.advance(3), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn settled_payloads_cut_from_bigger_buffers_are_compacted_unless_shared() {
        let mut q = WriteQueue::default();
        // Three messages cut from one 64 KiB buffer; the second is also held elsewhere (a
        // broadcast to another stalled peer).
        let mut buffer = Bytes::from(vec![7u8; 64 * 1024]);
        let first = buffer.split_to(100);
        let second = buffer.split_to(100);
        let third = buffer.split_to(100);
        drop(buffer);
        let held_elsewhere = second.clone();
        let addresses = [first.as_ptr(), second.as_ptr(), third.as_ptr()];
        for body in [first, second, third] {
            q.push(Outgoing::frame(OpCode::Binary, body));
            q.compact_settled();
        }
        let body = |q: &WriteQueue, i: usize| q.items[i].body.clone();
        // Not yet settled: nothing is touched.
        assert!((0..3).all(|i| body(&q, i).as_ptr() == addresses[i]));
        for _ in 0..SETTLE[1] {
            q.push(Outgoing::frame(OpCode::Ping, Bytes::new()));
            q.compact_settled();
        }
        // All three shared one buffer when they were looked at, so none was unique yet.
        assert!((0..3).all(|i| body(&q, i).as_ptr() == addresses[i]));

        // Once the others are gone, a settled payload that alone holds its buffer is copied.
        let mut q = WriteQueue::default();
        let big = Bytes::from(vec![1u8; 32 * 1024]);
        let alone = big.slice(..16 * 1024);
        drop(big);
        let address = alone.as_ptr();
        q.push(Outgoing::frame(OpCode::Binary, alone));
        q.push(Outgoing::frame(OpCode::Binary, held_elsewhere.clone()));
        for _ in 0..SETTLE[1] {
            q.push(Outgoing::frame(OpCode::Ping, Bytes::new()));
            q.compact_settled();
        }
        assert_ne!(body(&q, 0).as_ptr(), address, "a payload alone in its buffer is compacted");
        assert_eq!(&body(&q, 0)[..], &[1u8; 16 * 1024][..]);
        let compacted = body(&q, 0).as_ptr();
        q.items[0].compact();
        assert_eq!(body(&q, 0).as_ptr(), compacted, "a compacted payload is not copied again");
        assert_eq!(q.pending_bytes(), 4 + 16 * 1024 + 2 + 100 + SETTLE[1] * 2);
        q.compact_settled();
        assert_eq!(body(&q, 1).as_ptr(), held_elsewhere.as_ptr(), "a shared payload is left alone");
    }
}

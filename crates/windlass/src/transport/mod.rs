//! The transport that drives a session over a byte stream: one task per connection that owns
//! the socket, decodes input (WebSocket frames or lines), calls the component, writes the
//! session's output, and runs the timers and the close handshake.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt as _;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use windlass_proto::{CloseCode, CloseFrame, Event, LineDecoder, OpCode, WsDecoder};

use crate::component::{CloseInfo, MessageComponent};
use crate::error::{BoxError, Error};
use crate::io_server::Socket;
use crate::io_server::read_buffer;
use crate::io_server::registry::{Member, Registry};
use crate::message::{Message, Utf8Bytes};
use crate::session::{CloseRequest, Command, Connection, MAX_SLICES, Outgoing, WriteQueue};
use crate::stats::ConnectionMetrics;

/// Smallest read: enough for a burst of small frames in one syscall.
const READ_CHUNK: usize = 4096;
/// Largest read-ahead reserved for one big frame; the buffer grows in steps up to the frame.
const MAX_READ_AHEAD: usize = 256 * 1024;
/// Longest wait for a peer to close its side after ours is closed.
const MAX_LINGER: Duration = Duration::from_secs(2);

/// How bytes become messages on this connection.
#[derive(Debug)]
// One per connection, created once and never moved: boxing the decoder would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Wire {
    WebSocket(WsDecoder),
    Lines(LineDecoder),
}

/// Timing for one connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// How long to wait for the peer's close frame, or for the peer to take our last bytes.
    pub(crate) close_timeout: Duration,
    /// Ping after this much silence; close if the next `timeout` is silent too.
    pub(crate) keep_alive: Option<(Duration, Duration)>,
    /// Keep the upgrade request after `on_open`.
    pub(crate) keep_request: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    /// We sent a close frame and wait for the peer's.
    Closing,
    /// The peer broke the protocol: its bytes are discarded; flush our close frame, send FIN.
    Failing,
    /// Nothing more to read: flush, send FIN.
    Flushing,
    Done,
}

enum IoEvent {
    Read,
    Eof,
    Failed(io::Error),
    /// Everything queued is written (reported only while closing).
    Flushed,
    Commands,
    Timer,
}

#[derive(Debug)]
struct KeepAlive {
    interval: Duration,
    timeout: Duration,
    awaiting_pong: bool,
}

// The flags are independent facts about one connection; packing them into a state enum would
// only hide them.
#[allow(clippy::struct_excessive_bools)]
/// Drives one connection. `P` points at the component: `&C` when the driver runs inside the
/// accepting task (raw TCP), `Arc<C>` when it runs as a task of its own (WebSocket, so that
/// the handshake's futures are freed once it is done).
pub(crate) struct Driver<P> {
    component: P,
    socket: Socket,
    conn: Connection,
    wire: Wire,
    /// Empty and unallocated between reads (see [`read_buffer`]).
    read_buf: BytesMut,
    /// Keep the upgrade request after `on_open` ([`crate::WsServer::keep_request`]).
    keep_request: bool,
    /// The connection's place under `max_connections`, given back when the driver ends.
    _permit: Option<OwnedSemaphorePermit>,
    /// Swapped with the shared inbox so draining it allocates nothing.
    inbox: Vec<Command>,
    commands: VecDeque<Command>,
    phase: Phase,
    fin_sent: bool,
    /// After `on_close`, read until the peer closes (see [`Socket::linger`]).
    linger: bool,
    /// Set when the peer sent anything since the keep-alive timer last fired.
    activity: bool,
    keep_alive: Option<KeepAlive>,
    close_timeout: Duration,
    timer: Pin<Box<Sleep>>,
    deadline: Option<Instant>,
    /// The timer has been polled since its deadline was last set, so it will wake this task
    /// (which keeps one waker for its whole life); polling it again would change nothing.
    timer_armed: bool,
    /// How the connection ended, once known; boxed as it is needed only at the end.
    report: Option<Box<CloseInfo>>,
    metrics: Arc<ConnectionMetrics>,
}

impl<P> Driver<P>
where
    P: Deref + Send + Sync,
    P::Target: MessageComponent,
{
    // Called from the two wires' servers; a parameter struct would only rename this list.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        component: P,
        socket: Socket,
        conn: Connection,
        wire: Wire,
        mut read_buf: BytesMut,
        timing: Timing,
        permit: Option<OwnedSemaphorePermit>,
        metrics: Arc<ConnectionMetrics>,
    ) -> Self {
        // Bytes the HTTP layer read past the request head are the first frames; if there are
        // none, its buffer is not kept.
        read_buffer::give_back(&mut read_buf);
        Self {
            component,
            socket,
            conn,
            wire,
            read_buf,
            keep_request: timing.keep_request,
            _permit: permit,
            inbox: Vec::new(),
            commands: VecDeque::new(),
            phase: Phase::Open,
            fin_sent: false,
            linger: false,
            activity: false,
            keep_alive: timing.keep_alive.map(|(interval, timeout)| KeepAlive {
                interval,
                timeout,
                awaiting_pong: false,
            }),
            close_timeout: timing.close_timeout,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            deadline: None,
            timer_armed: false,
            report: None,
            metrics,
        }
    }

    /// Runs the connection to its end; `on_close` has run when the future completes.
    ///
    /// Not an `async fn`: an `async fn` would keep its `self` argument and a moved copy of it,
    /// two drivers per connection for the connection's whole life; the block uses `self` where
    /// it is captured.
    #[allow(clippy::manual_async_fn)] // on purpose, see above
    pub(crate) fn run(mut self, registry: Arc<Registry>) -> impl Future<Output = ()> + Send
    where
        Self: Send,
    {
        async move { self.run_to_end(&registry).await }
    }

    async fn run_to_end(&mut self, registry: &Arc<Registry>) {
        let member: Arc<dyn Member> = Arc::clone(self.conn.shared()) as _;
        let registration = registry.register(&member);
        drop(member);
        let open = self.metrics.open();
        if let Some(ka) = &self.keep_alive {
            self.set_deadline(Some(ka.interval));
        }
        // Bytes the HTTP layer read past the request head are the first frames.
        self.metrics.bytes_received.increment(self.read_buf.len() as u64);
        tracing::debug!(id = %self.conn.id(), remote = %self.conn.remote_addr(), "open");
        // The handshake response goes out before `on_open` runs, so a slow `on_open` does not
        // hold up the handshake (as in Ratchet, where `onOpen` follows the 101). Its bytes are
        // not message traffic, so they are not counted.
        if let Err(e) = poll_fn(|cx| self.poll_write_queue(cx, false)).await {
            tracing::debug!(id = %self.conn.id(), error = %e, "handshake response not written");
            return;
        }
        self.conn.outbox.release();
        // Cold paths (opening, errors, timers, closing) run boxed: a future's size is that of
        // its largest state, and every connection carries it for its whole life, so only the
        // message path stays inline.
        Box::pin(self.open()).await;
        if !self.keep_request {
            self.conn.release_request();
        }
        self.process_input().await;
        while self.phase != Phase::Done {
            match poll_fn(|cx| self.poll_io(cx)).await {
                IoEvent::Read => {
                    self.activity = true;
                    match self.phase {
                        Phase::Open | Phase::Closing => self.process_input().await,
                        _ => self.read_buf.clear(),
                    }
                }
                other => Box::pin(self.handle(other)).await,
            }
        }
        Box::pin(self.finish()).await;
        drop(registration);
        drop(open);
        if self.linger {
            Box::pin(self.socket.linger(self.close_timeout.min(MAX_LINGER))).await;
        }
    }

    async fn open(&mut self) {
        match guard(self.component.on_open(&mut self.conn)).await {
            Ok(()) => self.after_callback().await,
            Err(e) => self.fail(e).await,
        }
    }

    /// Writes queued output until it is all written (`Ready(Ok)`) or the socket is full
    /// (`Pending`), one vectored write per batch of frames. `count`: add what is written to
    /// the bytes and messages sent.
    fn poll_write_queue(&mut self, cx: &mut Context<'_>, count: bool) -> Poll<io::Result<()>> {
        while !self.conn.outbox.queue().is_empty() {
            // Most wake-ups write a frame or two: a few slices are cheaper to set up than all.
            let queue = self.conn.outbox.queue();
            let written = if queue.len() <= 2 {
                write_vectored::<6>(&mut self.socket, queue, cx)
            } else {
                write_vectored::<MAX_SLICES>(&mut self.socket, queue, cx)
            };
            match ready!(written) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(written) => {
                    let (outbox, shared) = self.conn.outbox_mut();
                    let messages = outbox.advance(shared, written);
                    if count {
                        self.metrics.bytes_sent.increment(written as u64);
                        if messages > 0 {
                            self.metrics.messages_sent.increment(messages);
                        }
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Waits for the next thing to do, writing whatever is queued meanwhile.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<IoEvent> {
        self.conn.shared().waker.register(cx.waker());
        self.conn.shared().take_commands(&mut self.inbox);
        if !self.inbox.is_empty() {
            self.accept_commands();
        }
        if !self.commands.is_empty() {
            return Poll::Ready(IoEvent::Commands);
        }

        if let Poll::Ready(Err(e)) = self.poll_write_queue(cx, true) {
            return Poll::Ready(IoEvent::Failed(e));
        }
        if self.conn.outbox.queue().is_empty() {
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.socket).poll_flush(cx) {
                return Poll::Ready(IoEvent::Failed(e));
            }
            if matches!(self.phase, Phase::Failing | Phase::Flushing) && !self.fin_sent {
                return Poll::Ready(IoEvent::Flushed);
            }
        }

        // While our output to this peer is over its limit, read nothing more from it: what it
        // sends may need answers (pongs, echoes) that would only queue up further.
        let shared = self.conn.shared();
        let backlogged = self.phase == Phase::Open && shared.budget.is_full();
        if matches!(self.phase, Phase::Open | Phase::Closing | Phase::Failing) && !backlogged {
            if self.read_buf.capacity() == 0 {
                self.read_buf = read_buffer::borrow(READ_CHUNK);
            }
            self.reserve_read_space();
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.socket), cx, &mut self.read_buf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(IoEvent::Eof),
                Poll::Ready(Ok(n)) => {
                    self.metrics.bytes_received.increment(n as u64);
                    return Poll::Ready(IoEvent::Read);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Failed(e)),
                // Nothing to read: an idle connection keeps no read buffer.
                Poll::Pending => read_buffer::give_back(&mut self.read_buf),
            }
        }

        if self.deadline.is_some() && !self.timer_armed {
            if self.timer.as_mut().poll(cx).is_ready() {
                self.deadline = None;
                return Poll::Ready(IoEvent::Timer);
            }
            self.timer_armed = true;
        } else if self.timer_armed && self.timer.is_elapsed() {
            self.timer_armed = false;
            self.deadline = None;
            return Poll::Ready(IoEvent::Timer);
        }
        Poll::Pending
    }

    /// Takes what other tasks posted: sends join the write queue at once, the rest waits in
    /// `commands` for [`handle`](Self::handle).
    fn accept_commands(&mut self) {
        let mut inbox = std::mem::take(&mut self.inbox);
        for command in inbox.drain(..) {
            match command {
                Command::Send(item) => {
                    let (outbox, shared) = self.conn.outbox_mut();
                    outbox.take_posted(shared, item);
                }
                other => self.commands.push_back(other),
            }
        }
        // The emptied vector is kept for the next swap, so taking commands allocates nothing.
        self.inbox = inbox;
    }

    fn reserve_read_space(&mut self) {
        let wanted = match &self.wire {
            Wire::WebSocket(decoder) => decoder.bytes_wanted(self.read_buf.len()),
            Wire::Lines(_) => 0,
        };
        // Grow towards what the current frame still needs, but only as fast as its bytes
        // arrive (at most doubling per read): a header that merely declares a large frame
        // does not get memory reserved up front.
        let spare = self.read_buf.capacity() - self.read_buf.len();
        let target = wanted.min(self.read_buf.capacity().max(READ_CHUNK)).clamp(READ_CHUNK, MAX_READ_AHEAD);
        if spare < READ_CHUNK / 4 || spare < target {
            self.read_buf.reserve(target);
        }
    }

    /// Everything but input, which [`process_input`](Self::process_input) takes inline.
    async fn handle(&mut self, event: IoEvent) {
        match event {
            IoEvent::Read => {}
            IoEvent::Eof => self.on_eof().await,
            IoEvent::Failed(e) => {
                if self.phase == Phase::Open {
                    self.report_error(Error::Io(e)).await;
                }
                if self.report.is_none() {
                    self.set_report(abnormal("connection broke"));
                }
                self.phase = Phase::Done;
            }
            IoEvent::Flushed => {
                // A clean WebSocket close over plain TCP: the peer's close frame is in, and
                // nothing may follow it, so no input is left to make the kernel answer our
                // close with a reset. Dropping the socket sends FIN after our last bytes;
                // neither a separate shutdown nor lingering is needed. (Over TLS the shutdown
                // also sends `close_notify`.)
                let peer_closed = self.report.as_ref().is_some_and(|report| report.clean);
                if peer_closed && matches!(self.wire, Wire::WebSocket(_)) && !self.socket.is_tls() {
                    self.fin_sent = true;
                    self.phase = Phase::Done;
                    return;
                }
                // Our last bytes are out: FIN tells the peer we are done; what it still sends is
                // drained after `on_close`.
                let _ = tokio::time::timeout(self.close_timeout, self.socket.shutdown()).await;
                self.fin_sent = true;
                self.linger = true;
                self.phase = Phase::Done;
            }
            IoEvent::Commands => {
                while let Some(command) = self.commands.pop_front() {
                    match command {
                        // Sends never wait here: `poll_io` queues them as they arrive.
                        Command::Send(_) => {}
                        Command::Close(frame) => self.start_close(frame),
                        Command::Overflow => self.overflow().await,
                        Command::Shutdown => {
                            self.start_close(CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down"));
                        }
                        Command::Abort => {
                            self.set_report(abnormal("server stopped before the close completed"));
                            self.phase = Phase::Done;
                        }
                    }
                }
            }
            IoEvent::Timer => self.on_timer().await,
        }
    }

    /// Decodes and dispatches everything complete in the read buffer.
    ///
    /// The message path, kept in one function: each nested `async fn` would add its own copy
    /// of the message to the state every connection carries.
    async fn process_input(&mut self) {
        while matches!(self.phase, Phase::Open | Phase::Closing) {
            let decoded = match &mut self.wire {
                Wire::WebSocket(decoder) => match decoder.decode(&mut self.read_buf) {
                    Ok(Some(event)) => Ok(self.on_frame_event(event)),
                    Ok(None) => break,
                    Err(e) => Err(Error::Protocol(e)),
                },
                Wire::Lines(decoder) => match decoder.decode(&mut self.read_buf) {
                    Ok(Some(line)) => Ok(Some(line_message(line))),
                    Ok(None) => break,
                    Err(e) => Err(Error::LineTooLong(e)),
                },
            };
            match decoded {
                Ok(Some(msg)) if self.phase == Phase::Open => {
                    self.metrics.messages_received.increment(1);
                    match guard(self.component.on_message(&mut self.conn, msg)).await {
                        Ok(()) => self.after_callback().await,
                        Err(e) => Box::pin(self.fail(e)).await,
                    }
                }
                Ok(_) => {}
                Err(e) => Box::pin(self.fail(e)).await,
            }
        }
        read_buffer::give_back(&mut self.read_buf);
    }

    /// Acts on a decoded frame; a data message comes back to be delivered.
    fn on_frame_event(&mut self, event: Event) -> Option<Message> {
        match (self.phase, event) {
            (Phase::Open, Event::Text(text)) => return Some(Message::Text(Utf8Bytes::from_validated(text))),
            (Phase::Open, Event::Binary(bytes)) => return Some(Message::Binary(bytes)),
            (Phase::Open, Event::Ping(payload)) => {
                self.conn.push_control(Outgoing::frame(OpCode::Pong, payload));
            }
            (Phase::Open, Event::Close(frame)) => {
                // The peer closes: echo its code, then close the TCP connection (server first).
                let reply = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                self.conn.push_control(Outgoing::close(reply.as_ref()));
                self.set_report(match frame {
                    Some(f) => CloseInfo { code: f.code, reason: f.reason, clean: true },
                    None => CloseInfo { code: CloseCode::NO_STATUS, reason: String::new(), clean: true },
                });
                self.enter(Phase::Flushing);
            }
            (Phase::Closing, Event::Close(_)) => {
                if let Some(report) = &mut self.report {
                    report.clean = true;
                }
                self.enter(Phase::Flushing);
            }
            // Pongs only prove liveness (already noted); while closing, data is discarded.
            _ => {}
        }
        None
    }

    /// Delivers a message outside the message path (the last line of a raw-TCP peer at EOF).
    async fn deliver(&mut self, msg: Message) {
        if self.phase != Phase::Open {
            return;
        }
        self.metrics.messages_received.increment(1);
        match guard(self.component.on_message(&mut self.conn, msg)).await {
            Ok(()) => self.after_callback().await,
            Err(e) => self.fail(e).await,
        }
    }

    async fn after_callback(&mut self) {
        match self.conn.close_request.take() {
            Some(CloseRequest::Close(frame)) => self.start_close(*frame),
            Some(CloseRequest::Overflow) => Box::pin(self.overflow()).await,
            None => {}
        }
    }

    /// We close: over WebSocket send a close frame and wait for the peer's; over raw TCP flush
    /// and close.
    fn start_close(&mut self, frame: CloseFrame) {
        if self.phase != Phase::Open {
            return;
        }
        match self.wire {
            Wire::WebSocket(_) => {
                self.conn.push_control(Outgoing::close(Some(&frame)));
                self.set_report(CloseInfo { code: frame.code, reason: frame.reason, clean: false });
                self.enter(Phase::Closing);
            }
            Wire::Lines(_) => {
                self.set_report(CloseInfo { code: frame.code, reason: frame.reason, clean: true });
                self.enter(Phase::Flushing);
            }
        }
    }

    /// The connection failed: tell the component, then close with the error's code.
    async fn fail(&mut self, error: Error) {
        if matches!(self.phase, Phase::Done | Phase::Failing | Phase::Flushing) {
            return;
        }
        let protocol = matches!(error, Error::Protocol(_) | Error::LineTooLong(_));
        let code = error.close_code();
        let reason = if protocol { error.to_string() } else { "internal error".to_owned() };
        self.report_error(error).await;
        let frame = CloseFrame::new(code, &reason);
        if !protocol {
            self.start_close(frame);
            return;
        }
        // The peer's bytes can no longer be parsed: send our close frame (unless one is out
        // already), then FIN, and only drain what it sends until it closes.
        if let (Wire::WebSocket(_), Phase::Open) = (&self.wire, self.phase) {
            self.conn.push_control(Outgoing::close(Some(&frame)));
        }
        self.set_report(CloseInfo { code: frame.code, reason: frame.reason, clean: false });
        self.read_buf.clear();
        self.enter(Phase::Failing);
    }

    /// The send queue passed its limit under `SlowConsumer::Close`.
    async fn overflow(&mut self) {
        if self.phase != Phase::Open {
            return;
        }
        let shared = Arc::clone(self.conn.shared());
        let dropped = self.conn.outbox.discard_unstarted(&shared);
        let limit = shared.budget.config.limit;
        tracing::debug!(id = %self.conn.id(), limit, dropped, "slow consumer");
        self.report_error(Error::SlowConsumer { limit }).await;
        self.start_close(CloseFrame::new(CloseCode::POLICY_VIOLATION, "slow consumer"));
    }

    async fn on_eof(&mut self) {
        match self.phase {
            Phase::Open => {
                match &mut self.wire {
                    Wire::Lines(decoder) => {
                        match decoder.decode_eof(&mut self.read_buf) {
                            Ok(Some(line)) => self.deliver(line_message(line)).await,
                            Ok(None) => {}
                            Err(e) => self.fail(Error::LineTooLong(e)).await,
                        }
                        if self.phase == Phase::Open {
                            self.set_report(CloseInfo {
                                code: CloseCode::NORMAL,
                                reason: String::new(),
                                clean: true,
                            });
                        }
                    }
                    Wire::WebSocket(_) => {
                        self.set_report(abnormal("connection closed without a close frame"));
                    }
                }
                // The peer may only have closed its sending side: what is queued for it (say,
                // the answer to its last line) is still written before our FIN.
                if self.phase == Phase::Open {
                    self.enter(Phase::Flushing);
                }
            }
            Phase::Closing => {
                self.set_report(abnormal("connection closed without a close frame"));
                self.phase = Phase::Done;
            }
            // Nothing more to read, but our close frame may still be on its way out.
            Phase::Failing => self.phase = Phase::Flushing,
            Phase::Flushing | Phase::Done => {}
        }
    }

    async fn on_timer(&mut self) {
        if self.phase != Phase::Open {
            // The peer did not finish the close in time. Without its close frame the close
            // code is 1006 (RFC 6455 §7.1.5); after a failure we keep the code we failed with.
            if self.phase == Phase::Closing || self.report.is_none() {
                self.set_report(abnormal("no close frame received in time"));
            }
            self.phase = Phase::Done;
            return;
        }
        let Some(ka) = &mut self.keep_alive else {
            return;
        };
        if self.activity {
            self.activity = false;
            ka.awaiting_pong = false;
            let interval = ka.interval;
            self.set_deadline(Some(interval));
        } else if ka.awaiting_pong {
            let timeout = ka.timeout;
            self.report_error(Error::KeepAliveTimeout(timeout)).await;
            self.set_report(abnormal("keep-alive timeout"));
            self.phase = Phase::Done;
        } else {
            ka.awaiting_pong = true;
            let timeout = ka.timeout;
            self.conn.push_control(Outgoing::frame(OpCode::Ping, Bytes::new()));
            self.set_deadline(Some(timeout));
        }
    }

    fn set_report(&mut self, report: CloseInfo) {
        self.report = Some(Box::new(report));
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.conn.shared().set_closing();
        self.set_deadline(Some(self.close_timeout));
    }

    fn set_deadline(&mut self, after: Option<Duration>) {
        self.deadline = after.map(|d| Instant::now() + d);
        self.timer_armed = false;
        if let Some(deadline) = self.deadline {
            self.timer.as_mut().reset(deadline);
        }
    }

    async fn report_error(&mut self, error: Error) {
        tracing::debug!(id = %self.conn.id(), %error, "connection error");
        if let Err(panic) =
            AssertUnwindSafe(self.component.on_error(&mut self.conn, error)).catch_unwind().await
        {
            tracing::error!(id = %self.conn.id(), panic = panic_text(&*panic), "on_error panicked");
        }
    }

    async fn finish(&mut self) {
        self.conn.shared().set_closing();
        let shared = Arc::clone(self.conn.shared());
        drop(shared.close_inbox());
        let report = self.report.take().map_or_else(|| abnormal("connection ended"), |report| *report);
        crate::stats::close(report.code);
        tracing::debug!(
            id = %self.conn.id(),
            code = report.code.0,
            reason = %report.reason,
            clean = report.clean,
            "close"
        );
        if let Err(panic) =
            AssertUnwindSafe(self.component.on_close(&mut self.conn, report)).catch_unwind().await
        {
            tracing::error!(id = %self.conn.id(), panic = panic_text(&*panic), "on_close panicked");
        }
    }
}

/// One vectored write of up to `N` slices from the front of `queue`.
fn write_vectored<const N: usize>(
    socket: &mut Socket,
    queue: &WriteQueue,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let mut slices = [IoSlice::new(&[]); N];
    let n = queue.slices(&mut slices);
    Pin::new(socket).poll_write_vectored(cx, &slices[..n])
}

fn abnormal(reason: &str) -> CloseInfo {
    CloseInfo { code: CloseCode::ABNORMAL, reason: reason.to_owned(), clean: false }
}

/// A line is text when it is UTF-8, binary otherwise.
fn line_message(line: Bytes) -> Message {
    match Utf8Bytes::try_from_bytes(line.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(line),
    }
}

/// Runs a callback, turning a returned error or a panic into an [`Error`].
///
/// Not an `async fn`, which would hold the callback's future twice (argument and moved copy).
fn guard(callback: impl Future<Output = Result<(), BoxError>>) -> impl Future<Output = Result<(), Error>> {
    AssertUnwindSafe(callback).catch_unwind().map(|outcome| match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::Component(e)),
        Err(panic) => Err(Error::Panic(panic_text(&*panic))),
    })
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

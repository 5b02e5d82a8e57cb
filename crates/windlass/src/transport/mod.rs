//! The transport that drives a session over a byte stream: one task per connection that owns
//! the socket, decodes input (WebSocket frames or lines), calls the component, writes the
//! session's output, and keeps the clock for the close handshake and keep-alive.
//!
//! When to ping, when to give up and what `on_close` hears are decided by the sans-IO
//! [`Lifecycle`] of `windlass-proto`; this module feeds it what happened with the time, and
//! carries out the [`Action`]s it queues.

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
use windlass_proto::lifecycle::{Action, CloseReport, Failure, Framing, Lifecycle, LifecycleConfig, Phase};
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

enum IoEvent {
    Read,
    Eof,
    Failed(io::Error),
    /// Everything queued is written (reported only while closing).
    Flushed,
    Commands,
    Timer,
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
    /// The commands other than sends, in order, for [`handle`](Self::handle) (with
    /// permessage-deflate, swapped with the shared inbox first). Freed when the connection
    /// goes quiet.
    inbox: Vec<Command>,
    /// More than one command came at once since the connection last went quiet: the shared
    /// inbox may have grown.
    inbox_burst: bool,
    /// The close and keep-alive decisions.
    lifecycle: Lifecycle,
    /// Set to the lifecycle's deadline while it has one; made when the first deadline comes
    /// (a connection without keep-alive may never have one).
    timer: Option<Pin<Box<Sleep>>>,
    /// The lifecycle has a deadline and `timer` is set to it.
    timer_set: bool,
    /// The timer has been polled since its deadline was last set, so it will wake this task
    /// (which keeps one waker for its whole life); polling it again would change nothing.
    timer_armed: bool,
    /// After `on_close`, read until the peer closes (see [`Socket::linger`]).
    linger: bool,
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
        let framing = match wire {
            Wire::WebSocket(_) => Framing::WebSocket,
            Wire::Lines(_) => Framing::Lines,
        };
        let config =
            LifecycleConfig { close_timeout: timing.close_timeout, keep_alive: timing.keep_alive, framing };
        Self {
            component,
            socket,
            conn,
            wire,
            read_buf,
            keep_request: timing.keep_request,
            _permit: permit,
            inbox: Vec::new(),
            inbox_burst: false,
            lifecycle: Lifecycle::new(config, now()),
            timer: None,
            timer_set: false,
            timer_armed: false,
            linger: false,
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
        self.sync_timer();
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
        self.conn.outbox.release_all();
        // Cold paths (opening, errors, timers, closing) run boxed: a future's size is that of
        // its largest state, and every connection carries it for its whole life, so only the
        // message path stays inline.
        Box::pin(self.open()).await;
        if !self.keep_request {
            self.conn.release_request();
        }
        self.process_input().await;
        while self.lifecycle.phase() != Phase::Done {
            match poll_fn(|cx| self.poll_io(cx)).await {
                IoEvent::Read => {
                    self.lifecycle.on_activity();
                    if self.lifecycle.decodes_input() {
                        self.process_input().await;
                    } else {
                        self.read_buf.clear();
                    }
                }
                other => Box::pin(self.handle(other)).await,
            }
        }
        Box::pin(self.finish()).await;
        drop(registration);
        drop(open);
        if self.linger {
            let close_timeout = self.lifecycle.config().close_timeout;
            Box::pin(self.socket.linger(close_timeout.min(MAX_LINGER))).await;
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

    /// Waits for the next thing to do, writing whatever is queued meanwhile. Between its
    /// `Ready` and the next call the task counts as busy: a post then wakes nothing, as this
    /// looks at the inbox first.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<IoEvent> {
        self.conn.shared().idle();
        let event = self.poll_next(cx);
        if event.is_ready() {
            self.conn.shared().busy();
        }
        event
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<IoEvent> {
        self.conn.shared().waker.register(cx.waker());
        if self.inbox.is_empty() {
            if self.conn.shared().deflate.is_some() {
                // Sends may be compressed as they are queued: not under the inbox's lock.
                self.conn.shared().take_commands(&mut self.inbox);
                if !self.inbox.is_empty() {
                    self.accept_commands();
                }
            } else {
                let (outbox, shared) = self.conn.outbox_mut();
                let others = &mut self.inbox;
                let taken = shared.drain_commands(|command| match command {
                    Command::Send(item) => outbox.take_posted(shared, item),
                    other => others.push(other),
                });
                self.inbox_burst |= taken > 1;
            }
        }
        if !self.inbox.is_empty() {
            return Poll::Ready(IoEvent::Commands);
        }

        if let Poll::Ready(Err(e)) = self.poll_write_queue(cx, true) {
            return Poll::Ready(IoEvent::Failed(e));
        }
        if self.conn.outbox.queue().is_empty() {
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.socket).poll_flush(cx) {
                return Poll::Ready(IoEvent::Failed(e));
            }
            if matches!(self.lifecycle.phase(), Phase::Failing | Phase::Flushing) {
                return Poll::Ready(IoEvent::Flushed);
            }
        }

        // While our output to this peer is over its limit, read nothing more from it: what it
        // sends may need answers (pongs, echoes) that would only queue up further.
        let shared = self.conn.shared();
        let backlogged = self.lifecycle.phase() == Phase::Open && shared.budget.is_full();
        if self.lifecycle.wants_read() && !backlogged {
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
                // Nothing to read: an idle connection keeps no read buffer, and of its queues
                // only a slot each (what a burst grew them to would stay for its whole life;
                // a slot is what lets a steady exchange allocate nothing).
                Poll::Pending => {
                    read_buffer::give_back(&mut self.read_buf);
                    self.conn.outbox.release();
                    if self.inbox.is_empty() && self.inbox.capacity() > 0 {
                        self.inbox = Vec::new();
                    }
                    if std::mem::take(&mut self.inbox_burst) {
                        self.conn.shared().shrink_inbox();
                    }
                }
            }
        }

        let Some(timer) = self.timer.as_mut().filter(|_| self.timer_set) else {
            return Poll::Pending;
        };
        if !self.timer_armed {
            if timer.as_mut().poll(cx).is_ready() {
                self.timer_set = false;
                return Poll::Ready(IoEvent::Timer);
            }
            self.timer_armed = true;
        } else if timer.is_elapsed() {
            self.timer_armed = false;
            self.timer_set = false;
            return Poll::Ready(IoEvent::Timer);
        }
        Poll::Pending
    }

    /// Takes what other tasks posted: sends join the write queue at once, the rest stay in
    /// `inbox` for [`handle`](Self::handle).
    fn accept_commands(&mut self) {
        let mut posted = std::mem::take(&mut self.inbox);
        let mut others = Vec::new();
        let (outbox, shared) = self.conn.outbox_mut();
        for command in posted.drain(..) {
            match command {
                Command::Send(item) => outbox.take_posted(shared, item),
                other => others.push(other),
            }
        }
        // Without other commands the emptied vector is kept until the connection goes quiet.
        self.inbox = if others.is_empty() { posted } else { others };
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
                if self.lifecycle.on_io_error() {
                    self.report_error(Error::Io(e)).await;
                }
            }
            IoEvent::Flushed => self.lifecycle.on_flushed(self.socket.is_tls()),
            IoEvent::Commands => {
                // The emptied vector is kept until the connection goes quiet.
                let mut commands = std::mem::take(&mut self.inbox);
                for command in commands.drain(..) {
                    match command {
                        // Sends never wait here: `poll_io` queues them as they arrive.
                        Command::Send(_) => {}
                        Command::Close(frame) => self.lifecycle.close(frame, now()),
                        Command::Overflow => self.lifecycle.overflow(now()),
                        Command::Shutdown => {
                            let frame = CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down");
                            self.lifecycle.close(frame, now());
                        }
                        Command::Abort => self.lifecycle.abort(),
                    }
                    self.run_actions().await;
                }
                self.inbox = commands;
            }
            IoEvent::Timer => self.lifecycle.handle_timeout(now()),
        }
        self.run_actions().await;
    }

    /// Decodes and dispatches everything complete in the read buffer.
    ///
    /// The message path, kept in one function: each nested `async fn` would add its own copy
    /// of the message to the state every connection carries.
    async fn process_input(&mut self) {
        while self.lifecycle.decodes_input() {
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
                Ok(Some(msg)) if self.lifecycle.accepts_messages() => {
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
        let open = self.lifecycle.accepts_messages();
        match event {
            Event::Text(text) if open => return Some(Message::Text(Utf8Bytes::from_validated(text))),
            Event::Binary(bytes) if open => return Some(Message::Binary(bytes)),
            Event::Ping(payload) if open => self.conn.push_control(Outgoing::frame(OpCode::Pong, payload)),
            Event::Close(frame) => {
                self.lifecycle.on_peer_close(frame, now());
                // A close frame queues only the reply and the end of sends: nothing to await.
                while let Some(action) = self.lifecycle.poll_action() {
                    self.apply(action);
                }
                self.sync_timer();
            }
            // Pongs only prove liveness (already noted); while closing, data is discarded.
            _ => {}
        }
        None
    }

    /// Delivers a message outside the message path (the last line of a raw-TCP peer at EOF).
    async fn deliver(&mut self, msg: Message) {
        if !self.lifecycle.accepts_messages() {
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
            Some(CloseRequest::Close(frame)) => self.lifecycle.close(*frame, now()),
            Some(CloseRequest::Overflow) => self.lifecycle.overflow(now()),
            None => return,
        }
        Box::pin(self.run_actions()).await;
    }

    /// The connection failed: tell the component, then close with the error's code.
    async fn fail(&mut self, error: Error) {
        let protocol = matches!(error, Error::Protocol(_) | Error::LineTooLong(_));
        let failure = if protocol { Failure::Protocol } else { Failure::Component };
        let code = error.close_code();
        let reason = if protocol { error.to_string() } else { "internal error".to_owned() };
        if self.lifecycle.fail(failure, code, &reason, now()) {
            self.report_error(error).await;
        }
        self.run_actions().await;
    }

    /// The peer closed its sending side.
    async fn on_eof(&mut self) {
        // A raw-TCP peer's last line may come without its line end.
        if self.lifecycle.accepts_messages()
            && let Wire::Lines(decoder) = &mut self.wire
        {
            match decoder.decode_eof(&mut self.read_buf) {
                Ok(Some(line)) => self.deliver(line_message(line)).await,
                Ok(None) => {}
                Err(e) => self.fail(Error::LineTooLong(e)).await,
            }
        }
        self.lifecycle.on_eof(now());
    }

    /// Carries out what the lifecycle queued, in order, then follows its deadline.
    async fn run_actions(&mut self) {
        while let Some(action) = self.lifecycle.poll_action() {
            match action {
                Action::SlowConsumer => {
                    let limit = self.conn.shared().budget.config.limit;
                    self.report_error(Error::SlowConsumer { limit }).await;
                }
                Action::KeepAliveTimedOut(timeout) => {
                    self.report_error(Error::KeepAliveTimeout(timeout)).await;
                }
                Action::Finish { shutdown_and_linger: true } => {
                    // Our last bytes are out: FIN tells the peer we are done; what it still
                    // sends is drained after `on_close`.
                    let close_timeout = self.lifecycle.config().close_timeout;
                    let _ = tokio::time::timeout(close_timeout, self.socket.shutdown()).await;
                    self.linger = true;
                }
                other => self.apply(other),
            }
        }
        self.sync_timer();
    }

    /// Carries out one action that needs no waiting.
    fn apply(&mut self, action: Action) {
        match action {
            Action::SendPing => self.conn.push_control(Outgoing::frame(OpCode::Ping, Bytes::new())),
            Action::SendClose(frame) => self.conn.push_control(Outgoing::close(frame.as_ref())),
            Action::StopSends => self.conn.shared().set_closing(),
            Action::DiscardQueue => {
                let shared = Arc::clone(self.conn.shared());
                let dropped = self.conn.outbox.discard_unstarted(&shared);
                tracing::debug!(id = %self.conn.id(), limit = shared.budget.config.limit, dropped, "slow consumer");
            }
            Action::DiscardInput => self.read_buf.clear(),
            // `Finish` without lingering: a clean WebSocket close over plain TCP. The peer's
            // close frame is in and nothing may follow it, so no input is left to make the
            // kernel answer our close with a reset; dropping the socket sends FIN after our
            // last bytes. The rest tell the component or shut down, awaited by `run_actions`;
            // none comes from the peer's close frame, the only input handled without awaiting.
            Action::Finish { .. } | Action::SlowConsumer | Action::KeepAliveTimedOut(_) => {}
        }
    }

    /// Sets the timer to the lifecycle's deadline, if it moved.
    fn sync_timer(&mut self) {
        let Some(deadline) = self.lifecycle.poll_timeout() else {
            self.timer_set = false;
            self.timer_armed = false;
            return;
        };
        let deadline = Instant::from_std(deadline);
        match &mut self.timer {
            Some(timer) if self.timer_set && timer.deadline() == deadline => return,
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.timer_set = true;
        self.timer_armed = false;
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
        let CloseReport { code, reason, clean } = self.lifecycle.take_report();
        let report = CloseInfo { code, reason, clean };
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

/// The lifecycle's clock: tokio's, so that tests with paused time see the same instants.
fn now() -> std::time::Instant {
    Instant::now().into_std()
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

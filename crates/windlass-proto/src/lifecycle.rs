//! When a connection closes and how: the close handshake and keep-alive as a state machine fed
//! with time.
//!
//! [`Lifecycle`] makes the decisions a connection task used to make inline: answer the peer's
//! close frame, wait for the peer's answer to ours, give up on a peer that broke the protocol,
//! ping a silent peer and drop it when the ping goes unanswered, and say what `on_close` will be
//! told. It owns no socket and reads no clock. The I/O layer feeds it what happened (bytes read,
//! a close frame decoded, end of input, output flushed, the component closing) together with the
//! current [`Instant`], carries out the [`Action`]s it queues, and calls
//! [`handle_timeout`](Lifecycle::handle_timeout) once the instant from
//! [`poll_timeout`](Lifecycle::poll_timeout) has passed, as with `quinn-proto`.
//!
//! Both wires go through it: WebSocket, where closing is a handshake of close frames
//! (RFC 6455 §5.5.1, §7), and raw-TCP lines, where there are no frames and closing means
//! writing what is queued and sending FIN.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use windlass_proto::lifecycle::{Action, Framing, Lifecycle, LifecycleConfig, Phase};
//! use windlass_proto::{CloseCode, CloseFrame};
//!
//! let start = Instant::now(); // the I/O layer's clock; the machine never reads one
//! let config = LifecycleConfig {
//!     close_timeout: Duration::from_secs(5),
//!     keep_alive: None,
//!     framing: Framing::WebSocket,
//! };
//! let mut conn = Lifecycle::new(config, start);
//!
//! // The server shuts down: a close frame goes out and no message may follow it.
//! let going_away = CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down");
//! conn.close(going_away.clone(), start);
//! assert_eq!(conn.poll_action(), Some(Action::SendClose(Some(going_away))));
//! assert_eq!(conn.poll_action(), Some(Action::StopSends));
//! assert_eq!(conn.poll_timeout(), Some(start + Duration::from_secs(5)));
//!
//! // The peer answers in time, and our close frame is written.
//! conn.on_peer_close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "")), start + Duration::from_millis(40));
//! conn.on_flushed(false);
//! assert_eq!(conn.poll_action(), Some(Action::Finish { shutdown_and_linger: false }));
//! assert_eq!(conn.phase(), Phase::Done);
//!
//! let report = conn.take_report();
//! assert_eq!((report.code, report.clean), (CloseCode::GOING_AWAY, true));
//! ```

use std::time::{Duration, Instant};

use crate::close::{CloseCode, CloseFrame};

// The reasons `on_close` hears with 1006 (and with nothing at all, `ENDED`).
const NO_CLOSE_FRAME: &str = "connection closed without a close frame";
const NO_CLOSE_IN_TIME: &str = "no close frame received in time";
const CONNECTION_BROKE: &str = "connection broke";
const ABORTED: &str = "server stopped before the close completed";
const KEEP_ALIVE_TIMEOUT: &str = "keep-alive timeout";
const ENDED: &str = "connection ended";

/// How bytes on this connection are delimited, which decides what closing means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// WebSocket frames: closing is a handshake of close frames.
    WebSocket,
    /// Raw-TCP lines: nothing to exchange, closing is writing what is queued, then FIN.
    Lines,
}

/// Timing and wire for one [`Lifecycle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// How long to wait for the peer's close frame after ours, or for the peer to take our last
    /// bytes once closing began. windlass's servers default to 5 s.
    pub close_timeout: Duration,
    /// `(interval, timeout)`: ping after `interval` with nothing from the peer, and drop the
    /// connection if the following `timeout` brings nothing either. `None` never pings, so an
    /// idle peer that vanished without a FIN is only noticed when a write fails. windlass's
    /// WebSocket server defaults to 30 s and 30 s.
    pub keep_alive: Option<(Duration, Duration)>,
    /// The wire the connection speaks.
    pub framing: Framing,
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's; what else it sends is read and dropped.
    Closing,
    /// The peer broke the protocol: its input can no longer be parsed, so it is read and dropped
    /// while our close frame (if any) is written, then FIN.
    Failing,
    /// Nothing more is read: write what is queued, then FIN.
    Flushing,
    /// Nothing more happens; the I/O layer reports [`Lifecycle::take_report`] to `on_close`.
    /// Unless [`Action::Finish`] led here, the socket is dropped as it is: no FIN, no linger.
    Done,
}

/// Why the connection failed; see [`Lifecycle::fail`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The peer broke the protocol (1002, 1007, 1009, a line too long): its input is
    /// discarded and the connection fails without waiting for a close frame.
    Protocol,
    /// A callback returned an error or panicked (1011): the connection closes as if the
    /// component had closed it.
    Component,
}

/// How the connection ended, as `on_close` is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReport {
    /// The peer's code when it closed, ours when we closed (and, on WebSocket, it answered), the
    /// one we failed with, 1005 for a close frame without a code, 1006 when no close frame came.
    pub code: CloseCode,
    /// The reason that came with the code; may be empty.
    pub reason: String,
    /// Whether the close completed: both close frames exchanged on WebSocket, an orderly end
    /// of the stream on lines.
    pub clean: bool,
}

impl CloseReport {
    /// 1006: the connection ended without the close handshake (RFC 6455 §7.1.5).
    fn abnormal(reason: &str) -> Self {
        Self { code: CloseCode::ABNORMAL, reason: reason.to_owned(), clean: false }
    }

    fn from_frame(frame: CloseFrame, clean: bool) -> Self {
        Self { code: frame.code, reason: frame.reason, clean }
    }
}

/// Something the I/O layer must do, in the order [`Lifecycle::poll_action`] yields them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Queue an empty ping past the send limit: the keep-alive probe. (Pongs answering the
    /// peer's pings are the I/O layer's own business.)
    SendPing,
    /// Queue a close frame past the send limit; `None` is a close frame without a payload.
    SendClose(Option<CloseFrame>),
    /// Refuse further sends: nothing may follow our close frame (RFC 6455 §5.5.1). Yielded
    /// exactly once, when the connection leaves [`Phase::Open`].
    StopSends,
    /// Drop every queued message not yet started: the peer reads too slowly to take them.
    DiscardQueue,
    /// Tell the component its peer is a slow consumer (`on_error`); comes after
    /// [`DiscardQueue`](Self::DiscardQueue) and before the close frame.
    SlowConsumer,
    /// Drop unread input: after a protocol error it can no longer be parsed.
    DiscardInput,
    /// Tell the component the peer left a keep-alive ping unanswered for this long (`on_error`).
    KeepAliveTimedOut(Duration),
    /// Everything queued is written while closing. `shutdown_and_linger`: shut down our sending
    /// side (FIN; over TLS also `close_notify`), then read and drop what the peer still sends
    /// until it closes, so that its late bytes cannot make the kernel reset the connection
    /// before ours arrive. `false` (a clean WebSocket close over plain TCP: the peer's close
    /// frame is in and nothing may follow it): just drop the socket.
    Finish {
        /// Shut down the sending side and linger, rather than drop the socket.
        shutdown_and_linger: bool,
    },
}

/// The close and keep-alive decisions of one connection, fed with time.
///
/// See the [module documentation](self) for an example. Inputs take `&mut self` and queue
/// [`Action`]s; none of them blocks or fails. There is one deadline at a time: the next
/// keep-alive check while [`Phase::Open`], the close timeout in any other phase but
/// [`Phase::Done`].
///
/// Every open connection carries one for its whole life, so it is kept small: what is needed
/// only once closing begins (the report, the close frame to send) is boxed, and pending
/// actions are bits.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    config: Timing,
    deadline: Option<Instant>,
    /// How the connection ended, once known.
    report: Option<Box<CloseReport>>,
    /// The payload of a pending [`Action::SendClose`]; `None` with the action pending is a
    /// close frame without a payload.
    close_frame: Option<Box<CloseFrame>>,
    pending: Pending,
    phase: Phase,
    /// Set by any input since the keep-alive deadline last passed. Only that deadline clears
    /// it, so a ping goes out after a whole interval of silence, never sooner.
    activity: bool,
    /// A keep-alive ping is out and the peer has sent nothing since.
    awaiting_pong: bool,
    /// [`Action::StopSends`] was queued; it is queued once.
    sends_stopped: bool,
}

/// [`LifecycleConfig`] in 8-byte nanoseconds rather than 16-byte [`Duration`]s (and no
/// `Option`): 24 bytes fewer in every connection. A duration past `u64::MAX` nanoseconds (584
/// years) is [`Duration::MAX`], a deadline never reached.
#[derive(Clone, Copy, Debug)]
struct Timing {
    close_timeout: u64,
    /// Zero: no keep-alive.
    keep_alive_interval: u64,
    keep_alive_timeout: u64,
    framing: Framing,
}

impl Timing {
    fn new(config: LifecycleConfig) -> Self {
        let (interval, timeout) = config.keep_alive.map_or((0, 0), |(i, t)| (nanos(i), nanos(t)));
        Self {
            close_timeout: nanos(config.close_timeout),
            // A zero interval still pings: one nanosecond is as good as nothing.
            keep_alive_interval: if config.keep_alive.is_some() { interval.max(1) } else { 0 },
            keep_alive_timeout: timeout,
            framing: config.framing,
        }
    }

    fn close_timeout(self) -> Duration {
        duration(self.close_timeout)
    }

    fn keep_alive(self) -> Option<(Duration, Duration)> {
        (self.keep_alive_interval != 0)
            .then(|| (duration(self.keep_alive_interval), duration(self.keep_alive_timeout)))
    }

    fn config(self) -> LifecycleConfig {
        LifecycleConfig {
            close_timeout: self.close_timeout(),
            keep_alive: self.keep_alive(),
            framing: self.framing,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn duration(nanos: u64) -> Duration {
    if nanos == u64::MAX { Duration::MAX } else { Duration::from_nanos(nanos) }
}

/// The actions not yet polled, one bit each, yielded lowest bit first.
///
/// Each action is queued at most once between two polls (a second keep-alive ping could only
/// be queued by a second deadline, and the first ping's deadline ends the connection), and
/// the order in which inputs queue them is always this one: a ping only while open, the
/// slow-consumer pair before the close frame that follows it, the close frame before the
/// input is dropped and sends stop, and the end last. So a set in this order is the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pending(u16);

impl Pending {
    const SEND_PING: u16 = 1 << 0;
    const DISCARD_QUEUE: u16 = 1 << 1;
    const SLOW_CONSUMER: u16 = 1 << 2;
    const KEEP_ALIVE_TIMED_OUT: u16 = 1 << 3;
    const SEND_CLOSE: u16 = 1 << 4;
    const DISCARD_INPUT: u16 = 1 << 5;
    const STOP_SENDS: u16 = 1 << 6;
    const FINISH_DROP: u16 = 1 << 7;
    const FINISH_LINGER: u16 = 1 << 8;

    fn push(&mut self, action: u16) {
        self.0 |= action;
    }

    /// The lowest pending bit, taken off.
    fn pop(&mut self) -> Option<u16> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0 & self.0.wrapping_neg();
        self.0 &= !bit;
        Some(bit)
    }
}

impl Lifecycle {
    /// An open connection; the keep-alive deadline, if any, is `now` plus its interval.
    pub fn new(config: LifecycleConfig, now: Instant) -> Self {
        Self {
            config: Timing::new(config),
            deadline: config.keep_alive.and_then(|(interval, _)| now.checked_add(interval)),
            report: None,
            close_frame: None,
            pending: Pending::default(),
            phase: Phase::Open,
            activity: false,
            awaiting_pong: false,
            sends_stopped: false,
        }
    }

    /// The configuration this machine runs with.
    pub fn config(&self) -> LifecycleConfig {
        self.config.config()
    }

    /// Where the connection is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether closing has begun (any phase but [`Phase::Open`]); it never ends.
    pub fn is_closing(&self) -> bool {
        self.phase != Phase::Open
    }

    /// Whether to read from the peer: in [`Phase::Open`], [`Phase::Closing`] (its close frame
    /// is awaited) and [`Phase::Failing`] (its input is read and dropped until it closes).
    pub fn wants_read(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Closing | Phase::Failing)
    }

    /// Whether input read is decoded: in [`Phase::Open`] and [`Phase::Closing`], where the
    /// peer's close frame may come. Elsewhere read input is dropped.
    pub fn decodes_input(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Closing)
    }

    /// Whether decoded messages go to the component, and pings are answered: only in
    /// [`Phase::Open`]; while closing they are dropped.
    pub fn accepts_messages(&self) -> bool {
        self.phase == Phase::Open
    }

    /// The peer sent bytes (any frame, including pongs, or any part of a line). Call it for
    /// every read that returned data.
    pub fn on_activity(&mut self) {
        self.activity = true;
    }

    /// The peer's close frame arrived (`None`: it carried no status code). WebSocket only; on
    /// a line wire, and in any phase but [`Phase::Open`] and [`Phase::Closing`], it is ignored.
    ///
    /// When open, the close frame is answered with its code alone, and the report is the
    /// peer's code and reason (1005 without a code), clean. When closing, the peer's frame
    /// answers ours: the report keeps our code and becomes clean. Either way the connection
    /// goes on to [`Phase::Flushing`] with a fresh close timeout.
    pub fn on_peer_close(&mut self, frame: Option<CloseFrame>, now: Instant) {
        if self.config.framing != Framing::WebSocket {
            return;
        }
        match self.phase {
            Phase::Open => {
                // Echo the code only: the reason was the peer's to give (RFC 6455 §5.5.1).
                let reply = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                self.send_close(reply);
                self.set_report(match frame {
                    Some(frame) => CloseReport::from_frame(frame, true),
                    None => CloseReport { code: CloseCode::NO_STATUS, reason: String::new(), clean: true },
                });
                self.enter(Phase::Flushing, now);
            }
            Phase::Closing => {
                if let Some(report) = self.report.as_deref_mut() {
                    report.clean = true;
                }
                self.enter(Phase::Flushing, now);
            }
            Phase::Failing | Phase::Flushing | Phase::Done => {}
        }
    }

    /// We close: the component, a handle on another task, or a server shutting down (1001).
    /// Ignored unless [`Phase::Open`].
    ///
    /// On WebSocket the close frame goes out and the peer's is awaited ([`Phase::Closing`]);
    /// the report is our code, not clean until the peer answers. A frame with code 1005 (no
    /// status) goes out without a payload. On lines what is queued is
    /// written, then FIN ([`Phase::Flushing`]); the report is our code, clean.
    pub fn close(&mut self, frame: CloseFrame, now: Instant) {
        if self.phase != Phase::Open {
            return;
        }
        match self.config.framing {
            Framing::WebSocket => {
                // 1005 may not be sent: it asks for a close frame without a payload.
                let payload = (frame.code != CloseCode::NO_STATUS).then(|| frame.clone());
                self.send_close(payload);
                self.set_report(CloseReport::from_frame(frame, false));
                self.enter(Phase::Closing, now);
            }
            Framing::Lines => {
                self.set_report(CloseReport::from_frame(frame, true));
                self.enter(Phase::Flushing, now);
            }
        }
    }

    /// The connection failed with `code` and `reason` (cut to fit a close frame).
    ///
    /// Returns whether the failure was taken, that is whether the connection was
    /// [`Phase::Open`] or [`Phase::Closing`]; only then does the I/O layer tell the component
    /// (`on_error`), before carrying out the queued actions. A failure in any later phase is
    /// ignored: the connection is already on its way out.
    ///
    /// [`Failure::Component`] closes exactly as [`close`](Self::close) does. [`Failure::Protocol`]
    /// sends our close frame (WebSocket, when open), drops unread input, reports the code, not
    /// clean, and goes on to [`Phase::Failing`]: the peer's close frame is no longer awaited.
    pub fn fail(&mut self, failure: Failure, code: CloseCode, reason: &str, now: Instant) -> bool {
        if !matches!(self.phase, Phase::Open | Phase::Closing) {
            return false;
        }
        let frame = CloseFrame::new(code, reason);
        match failure {
            Failure::Component => self.close(frame, now),
            Failure::Protocol => {
                if self.config.framing == Framing::WebSocket && self.phase == Phase::Open {
                    self.send_close(Some(frame.clone()));
                }
                self.set_report(CloseReport::from_frame(frame, false));
                self.pending.push(Pending::DISCARD_INPUT);
                self.enter(Phase::Failing, now);
            }
        }
        true
    }

    /// The send queue passed its limit and the policy is to close: drop the backlog, tell the
    /// component, and close with 1008 "slow consumer". Ignored unless [`Phase::Open`].
    pub fn overflow(&mut self, now: Instant) {
        if self.phase != Phase::Open {
            return;
        }
        self.pending.push(Pending::DISCARD_QUEUE);
        self.pending.push(Pending::SLOW_CONSUMER);
        self.close(CloseFrame::new(CloseCode::POLICY_VIOLATION, "slow consumer"), now);
    }

    /// The peer closed its sending side (a read returned 0 bytes). On lines, deliver a last
    /// unterminated line first: if that closes or fails the connection, this sees the new phase.
    ///
    /// - [`Phase::Open`]: on lines an orderly end (1000, clean); on WebSocket 1006, no close
    ///   frame came. The peer may still read, so what is queued is written before our FIN
    ///   ([`Phase::Flushing`]).
    /// - [`Phase::Closing`]: our close frame went unanswered: 1006, [`Phase::Done`].
    /// - [`Phase::Failing`]: nothing more to drop; [`Phase::Flushing`], same deadline.
    pub fn on_eof(&mut self, now: Instant) {
        match self.phase {
            Phase::Open => {
                self.set_report(match self.config.framing {
                    Framing::Lines => {
                        CloseReport { code: CloseCode::NORMAL, reason: String::new(), clean: true }
                    }
                    Framing::WebSocket => CloseReport::abnormal(NO_CLOSE_FRAME),
                });
                self.enter(Phase::Flushing, now);
            }
            Phase::Closing => {
                self.set_report(CloseReport::abnormal(NO_CLOSE_FRAME));
                self.end();
            }
            Phase::Failing => self.phase = Phase::Flushing,
            Phase::Flushing | Phase::Done => {}
        }
    }

    /// A read or write failed: [`Phase::Done`], reported as 1006 "connection broke" unless
    /// the report is already known (say, our close code while waiting for the peer's).
    ///
    /// Returns whether the connection was [`Phase::Open`]; only then does the I/O layer tell
    /// the component (`on_error`).
    pub fn on_io_error(&mut self) -> bool {
        if self.phase == Phase::Done {
            return false;
        }
        let was_open = self.phase == Phase::Open;
        if self.report.is_none() {
            self.set_report(CloseReport::abnormal(CONNECTION_BROKE));
        }
        self.end();
        was_open
    }

    /// Everything queued is written and flushed. Meaningful in [`Phase::Failing`] and
    /// [`Phase::Flushing`], ignored elsewhere; `tls`: the connection runs over TLS, whose
    /// shutdown also sends `close_notify`.
    ///
    /// Queues [`Action::Finish`] and goes to [`Phase::Done`]: just drop the socket after a clean
    /// WebSocket close over plain TCP, otherwise shut down and linger.
    pub fn on_flushed(&mut self, tls: bool) {
        if !matches!(self.phase, Phase::Failing | Phase::Flushing) {
            return;
        }
        let clean = self.report.as_ref().is_some_and(|report| report.clean);
        let just_drop = clean && self.config.framing == Framing::WebSocket && !tls;
        self.pending.push(if just_drop { Pending::FINISH_DROP } else { Pending::FINISH_LINGER });
        self.end();
    }

    /// The server's drain deadline passed before this connection finished closing: 1006 "server
    /// stopped before the close completed", whatever was known before; [`Phase::Done`].
    pub fn abort(&mut self) {
        if self.phase == Phase::Done {
            return;
        }
        self.set_report(CloseReport::abnormal(ABORTED));
        self.end();
    }

    /// Time passed. Does nothing before the deadline of [`poll_timeout`](Self::poll_timeout).
    ///
    /// When closing, the close timeout ran out: [`Phase::Done`], reported as 1006 "no close
    /// frame received in time" if our close frame went unanswered or nothing was reported yet
    /// (after a failure the failure's code stays). When open, the keep-alive check: the peer
    /// sent something since the last check, so check again an interval from `now`; or a ping
    /// went unanswered, so [`Action::KeepAliveTimedOut`] and [`Phase::Done`] (1006 "keep-alive
    /// timeout"); or ping now ([`Action::SendPing`]) and check again a keep-alive timeout
    /// from `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(deadline) if deadline <= now => self.deadline = None,
            _ => return,
        }
        if self.phase != Phase::Open {
            if self.phase == Phase::Closing || self.report.is_none() {
                self.set_report(CloseReport::abnormal(NO_CLOSE_IN_TIME));
            }
            self.end();
            return;
        }
        let Some((interval, timeout)) = self.config.keep_alive() else {
            return;
        };
        if self.activity {
            self.activity = false;
            self.awaiting_pong = false;
            self.deadline = now.checked_add(interval);
        } else if self.awaiting_pong {
            self.pending.push(Pending::KEEP_ALIVE_TIMED_OUT);
            self.set_report(CloseReport::abnormal(KEEP_ALIVE_TIMEOUT));
            self.end();
        } else {
            self.awaiting_pong = true;
            self.pending.push(Pending::SEND_PING);
            self.deadline = now.checked_add(timeout);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do; `None` in
    /// [`Phase::Done`], when open without keep-alive, and when the deadline would not fit an
    /// [`Instant`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next thing for the I/O layer to do, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        Some(match self.pending.pop()? {
            Pending::SEND_PING => Action::SendPing,
            Pending::DISCARD_QUEUE => Action::DiscardQueue,
            Pending::SLOW_CONSUMER => Action::SlowConsumer,
            Pending::KEEP_ALIVE_TIMED_OUT => Action::KeepAliveTimedOut(
                self.config.keep_alive().map_or(Duration::ZERO, |(_, timeout)| timeout),
            ),
            Pending::SEND_CLOSE => Action::SendClose(self.close_frame.take().map(|frame| *frame)),
            Pending::DISCARD_INPUT => Action::DiscardInput,
            Pending::STOP_SENDS => Action::StopSends,
            Pending::FINISH_DROP => Action::Finish { shutdown_and_linger: false },
            _ => Action::Finish { shutdown_and_linger: true },
        })
    }

    /// Whether [`poll_action`](Self::poll_action) has something: the I/O layer's cheap check
    /// after an input that usually queues nothing.
    pub fn has_actions(&self) -> bool {
        self.pending.0 != 0
    }

    /// How the connection ended, for `on_close`; once [`Phase::Done`] is reached. Without a
    /// report (the I/O layer ended the connection on its own): 1006 "connection ended".
    pub fn take_report(&mut self) -> CloseReport {
        self.report.take().map_or_else(|| CloseReport::abnormal(ENDED), |report| *report)
    }

    /// Leaves [`Phase::Open`] (or moves between closing phases): no more sends, and the close
    /// timeout starts again from `now`.
    fn enter(&mut self, phase: Phase, now: Instant) {
        self.phase = phase;
        self.stop_sends();
        self.deadline = now.checked_add(self.config.close_timeout());
    }

    fn end(&mut self) {
        self.phase = Phase::Done;
        self.stop_sends();
        self.deadline = None;
    }

    fn stop_sends(&mut self) {
        if !self.sends_stopped {
            self.sends_stopped = true;
            self.pending.push(Pending::STOP_SENDS);
        }
    }

    fn send_close(&mut self, frame: Option<CloseFrame>) {
        self.close_frame = frame.map(Box::new);
        self.pending.push(Pending::SEND_CLOSE);
    }

    fn set_report(&mut self, report: CloseReport) {
        self.report = Some(Box::new(report));
    }
}

#[cfg(test)]
mod tests;

//! `broadcast` and `slow`: one publisher, N subscribers that only read.
//!
//! Every message starts with a 16-byte stamp, the sequence number and the send time in hex
//! (ASCII, so text frames stay valid UTF-8). Subscribers take their delivery latency from the
//! stamp; the publisher's tracker knows how many subscribers still wait for each message, which
//! gives the time to the last recipient and, in closed loop, when to publish the next one.
//! `slow` is the same workload at a fixed rate with some subscribers that stop reading.
//!
//! `broadcast --sio` is the same over Socket.IO (see [`crate::sio`]): every connection joins
//! the namespace `/`, the publisher emits `42["fanout","<stamp + padding>"]` and each
//! subscriber gets `42["tick","<stamp + padding>"]` (the server passes the event on to the rest
//! of its room), a text packet of `--size` bytes. Everyone answers the server's pings.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::Fatal;
use crate::cli::{BroadcastArgs, Common, SlowArgs};
use crate::conn::{self, ConnError};
use crate::frame::{self, Decoder, Event, OP_BINARY, OP_TEXT};
use crate::procfs::Pid;
use crate::report::Summary;
use crate::sio;
use crate::stats::{self, Percentiles, Run, nanos};
use crate::upgrade::Target;

/// Connection attempts in flight during the connect phase.
const CONNECT_CONCURRENCY: usize = 200;

/// Closed loop: how long the publisher waits for the last recipient before it moves on.
const LAST_RECIPIENT_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes of sequence number and timestamp at the front of every payload.
const STAMP_LEN: usize = 16;

/// The workload, as `broadcast` or `slow` asked for it.
#[derive(Debug)]
struct Setup<'a> {
    mode: &'static str,
    common: &'a Common,
    subscribers: usize,
    size: usize,
    binary: bool,
    rate: Option<f64>,
    slow_count: usize,
    slow_after: u64,
    sio: bool,
}

pub(crate) async fn run_broadcast(args: &BroadcastArgs) -> Result<Summary, Fatal> {
    run(Setup {
        mode: "broadcast",
        common: &args.common,
        subscribers: args.connections,
        size: args.size,
        binary: args.binary,
        rate: args.rate,
        slow_count: 0,
        slow_after: 0,
        sio: args.sio,
    })
    .await
}

pub(crate) async fn run_slow(args: &SlowArgs) -> Result<Summary, Fatal> {
    let mut summary = run(Setup {
        mode: "slow",
        common: &args.common,
        subscribers: args.connections,
        size: args.size,
        binary: args.binary,
        rate: Some(args.rate),
        slow_count: args.slow_count.min(args.connections),
        slow_after: args.slow_after,
        sio: false,
    })
    .await?;
    summary.slow_count = Some(args.slow_count.min(args.connections));
    summary.slow_after = Some(args.slow_after);
    Ok(summary)
}

/// State the publisher and the subscribers share.
#[derive(Debug)]
struct Shared {
    size: usize,
    opcode: u8,
    /// Subscribers `0..slow_count` stop reading after `slow_after` messages.
    slow_count: usize,
    slow_after: u64,
    /// Subscribers (not slow) connected and still reading: recipients a new message waits for.
    expected: Cell<u32>,
    tracker: RefCell<Tracker>,
    /// Woken whenever a message reaches its last recipient.
    completed: Notify,
    last_recipient: RefCell<Histogram<u64>>,
    /// Messages published inside the window.
    published: Cell<u64>,
    /// Subscribers whose upgrade succeeded.
    subscribed: Cell<usize>,
    /// Socket.IO packets instead of bare messages.
    sio: bool,
}

/// Bytes of a Socket.IO tick around its string: `42["tick","` and `"]`.
const SIO_TICK_OVERHEAD: usize = sio::TICK_PREFIX.len() + sio::STRING_END.len();

async fn run(setup: Setup<'_>) -> Result<Summary, Fatal> {
    let common = setup.common;
    if setup.sio && setup.size < SIO_TICK_OVERHEAD + STAMP_LEN {
        return Err(Fatal::Args(format!(
            "--sio: --size {} is less than the {} bytes of an empty tick and a stamp",
            setup.size,
            SIO_TICK_OVERHEAD + STAMP_LEN
        )));
    }
    let target = Target::resolve(&common.url).await?;
    let target = Rc::new(if setup.sio { target.socket_io() } else { target });
    let server = common.server_pid.map(Pid::Of);
    let rss_baseline = server.and_then(|p| p.rss_bytes().ok());
    let run = Run::new(common.quiet, setup.subscribers + 1, CONNECT_CONCURRENCY);
    let progress = run.spawn_progress("deliveries/s");
    let shared = Rc::new(Shared {
        size: setup.size,
        opcode: if setup.binary { OP_BINARY } else { OP_TEXT },
        slow_count: setup.slow_count,
        slow_after: setup.slow_after,
        expected: Cell::new(0),
        tracker: RefCell::new(Tracker::default()),
        completed: Notify::new(),
        last_recipient: RefCell::new(stats::histogram()),
        published: Cell::new(0),
        subscribed: Cell::new(0),
        sio: setup.sio,
    });
    let mut tasks: Vec<JoinHandle<()>> = (0..setup.subscribers)
        .map(|i| {
            tokio::task::spawn_local(subscriber(i, Rc::clone(&run), Rc::clone(&target), Rc::clone(&shared)))
        })
        .collect();
    tasks.push(tokio::task::spawn_local(publisher(
        Rc::clone(&run),
        Rc::clone(&target),
        Rc::clone(&shared),
        setup.rate,
    )));
    run.all_connected().await;
    crate::require_connections(&run)?;
    // A server may send its 101 before it has added the connection to its broadcast group.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_connected = server.and_then(|p| p.rss_bytes().ok());
    let rss_samples = Rc::new(RefCell::new(Vec::new()));
    let rss_task = server.map(|pid| tokio::task::spawn_local(sample_rss(pid, Rc::clone(&rss_samples))));

    let window = stats::measure(&run, common.warmup, common.duration, common.server_pid).await;
    let stopped_ns = run.ns_since_epoch(Instant::now());
    stats::drain(tasks, Duration::from_secs(1)).await;
    for task in [progress, rss_task].into_iter().flatten() {
        task.abort();
    }

    let mode = if setup.sio { "sio-broadcast" } else { setup.mode };
    let mut summary = Summary::timed(mode, &common.url, &run, window, common.warmup);
    summary.connections = setup.subscribers;
    summary.connected = shared.subscribed.get();
    summary.size = setup.size;
    summary.binary = setup.binary;
    summary.rate = setup.rate;
    summary.unit = "deliveries";
    summary.published = Some(shared.published.get());
    summary.last_recipient_latency_us = Percentiles::of(&shared.last_recipient.borrow());
    let settled = stopped_ns.saturating_sub(nanos(LAST_RECIPIENT_TIMEOUT));
    summary.incomplete_messages = Some(shared.tracker.borrow().incomplete_before(settled));
    if server.is_some() {
        let samples = rss_samples.borrow();
        summary.rss_baseline_bytes = rss_baseline;
        summary.rss_after_bytes = rss_connected;
        summary.rss_max_bytes = samples.iter().copied().max();
        summary.rss_final_bytes = samples.last().copied();
        summary.rss_samples_bytes = Some(samples.clone());
    }
    Ok(summary)
}

async fn sample_rss(pid: Pid, samples: Rc<RefCell<Vec<u64>>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Ok(rss) = pid.rss_bytes() {
            samples.borrow_mut().push(rss);
        }
    }
}

async fn subscriber(i: usize, run: Rc<Run>, target: Rc<Target>, shared: Rc<Shared>) {
    let label = format_args!("subscriber {i}").to_string();
    let Some(connected) = run.connect(&label, &target).await else { return };
    shared.subscribed.set(shared.subscribed.get() + 1);
    let slow = i < shared.slow_count;
    if !slow {
        shared.expected.set(shared.expected.get() + 1);
    }
    let mut stream = connected.stream;
    let mut buf = connected.leftover;
    let mut decoder = Decoder::default();
    let pong = sio::pong_frame(fastrand::u32(..).to_ne_bytes());
    let stopped = run.stopped();
    tokio::pin!(stopped);
    let mut received = 0;
    let failure = loop {
        if slow && received >= shared.slow_after {
            // Stop reading but keep the connection: the server must buffer or drop it.
            stopped.await;
            break None;
        }
        let next = conn::next_event(&mut stream, &mut buf, &mut decoder, |event| match event {
            Event::Message { opcode, payload } => Some(check(&shared, opcode, payload)),
            Event::Close(code) => Some(Err(ConnError::ServerClosed(code))),
            Event::Ping | Event::Pong => None,
        });
        let stamp = tokio::select! {
            biased;
            () = &mut stopped => break None,
            r = next => r.and_then(|checked| checked),
        };
        match stamp {
            Ok(None) => {
                if let Err(e) = stream.write_all(&pong).await {
                    break Some(e.into());
                }
            }
            Ok(Some((seq, sent_us))) => {
                received += 1;
                if !slow {
                    shared.deliver(&run, seq, sent_us, Instant::now());
                }
            }
            Err(e @ ConnError::Mismatch(_)) => run.error(&label, e),
            Err(e) => break Some(e),
        }
    };
    if let Some(e) = failure {
        if !slow {
            shared.expected.set(shared.expected.get().saturating_sub(1));
        }
        run.error(&label, e);
    }
    drop(connected.open);
}

/// The stamp of a delivered message, if it is one of ours; `None` for a Socket.IO ping.
fn check(shared: &Shared, opcode: u8, payload: &[u8]) -> Result<Option<(u32, u32)>, ConnError> {
    if shared.sio {
        if opcode == OP_TEXT && payload == sio::PING {
            return Ok(None);
        }
        if opcode != OP_TEXT || payload.len() != shared.size || !payload.starts_with(sio::TICK_PREFIX) {
            let shown = String::from_utf8_lossy(&payload[..payload.len().min(60)]).into_owned();
            return Err(ConnError::Mismatch(format!(
                "packet of {} bytes with opcode {opcode:#x} ({shown:?}), expected a {}-byte tick",
                payload.len(),
                shared.size
            )));
        }
        return parse_stamp(&payload[sio::TICK_PREFIX.len()..])
            .map(Some)
            .ok_or_else(|| ConnError::Mismatch("no sequence/timestamp stamp".into()));
    }
    if opcode != shared.opcode || payload.len() != shared.size {
        return Err(ConnError::Mismatch(format!(
            "message of {} bytes with opcode {opcode:#x}, expected {} bytes with {:#x}",
            payload.len(),
            shared.size,
            shared.opcode
        )));
    }
    parse_stamp(payload).map(Some).ok_or_else(|| ConnError::Mismatch("no sequence/timestamp stamp".into()))
}

impl Shared {
    /// A subscriber (not slow) got message `seq` sent at `sent_us` microseconds.
    fn deliver(&self, run: &Run, seq: u32, sent_us: u32, now: Instant) {
        let now_ns = run.ns_since_epoch(now);
        // The stamp keeps 32 bits of microseconds; the difference survives their wrapping.
        let latency_us = ((now_ns / 1000) as u32).wrapping_sub(sent_us);
        run.complete(u64::from(latency_us) * 1000 + now_ns % 1000);
        let last = self.tracker.borrow_mut().deliver(u64::from(seq));
        if let Some(sent_ns) = last {
            run.record(&self.last_recipient, now_ns.saturating_sub(sent_ns));
            self.completed.notify_waiters();
        }
    }
}

// One loop of connect, join, publish and stop; splitting it would scatter its shared state.
#[allow(clippy::too_many_lines)]
async fn publisher(run: Rc<Run>, target: Rc<Target>, shared: Rc<Shared>, rate: Option<f64>) {
    let Some(mut connected) = run.connect("publisher", &target).await else { return };
    let (mut rd, mut wr) = connected.stream.split();
    let mask = fastrand::u32(..).to_ne_bytes();
    // Where the stamp goes in the payload, and the payload's length.
    let (mut message, stamp_at, payload_len) = if shared.sio {
        let text = frame::ascii_payload(shared.size - SIO_TICK_OVERHEAD, 0);
        let packet = sio::string_packet(sio::FANOUT_PREFIX, &text);
        (frame::client_frame(OP_TEXT, &packet, mask), sio::FANOUT_PREFIX.len(), packet.len())
    } else {
        (frame::client_frame(shared.opcode, &frame::ascii_payload(shared.size, 0), mask), 0, shared.size)
    };
    let pong = sio::pong_frame(mask);
    // Socket.IO: pings the reader saw, answered before the next publish.
    let pongs_due = Cell::new(0u32);
    let mut decoder = Decoder::default();
    let mut buf = connected.leftover;
    run.started().await;

    let publish = async {
        let stopped = run.stopped();
        tokio::pin!(stopped);
        let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
        let mut intended = Instant::now();
        for seq in 0u64.. {
            let wake = stats::wake_for(intended);
            if interval.is_some() && wake > Instant::now() {
                tokio::select! {
                    biased;
                    () = &mut stopped => break,
                    () = tokio::time::sleep_until(wake.into()) => {}
                }
            }
            if run.is_stopped() {
                break;
            }
            // Open loop stamps the intended time when late, so a publisher held up by the
            // server's backpressure shows as latency (see `stats::TIMER_TICK`).
            let now = Instant::now();
            let sent = if interval.is_some() { intended.min(now) } else { now };
            let sent_ns = run.ns_since_epoch(sent);
            while pongs_due.get() > 0 {
                pongs_due.set(pongs_due.get() - 1);
                wr.write_all(&pong).await?;
            }
            frame::patch_payload(
                &mut message,
                payload_len,
                stamp_at,
                &stamp(seq as u32, (sent_ns / 1000) as u32),
            );
            shared.tracker.borrow_mut().publish(seq, sent_ns, shared.expected.get());
            if run.measuring() {
                shared.published.set(shared.published.get() + 1);
            }
            tokio::select! {
                biased;
                () = &mut stopped => break,
                r = wr.write_all(&message) => r?,
            }
            if let Some(interval) = interval {
                intended += interval;
                continue;
            }
            let deadline = tokio::time::Instant::now() + LAST_RECIPIENT_TIMEOUT;
            loop {
                // Created before the check so a completion in between is not missed.
                let completed = shared.completed.notified();
                if shared.tracker.borrow().is_complete(seq) {
                    break;
                }
                tokio::select! {
                    biased;
                    () = &mut stopped => return Ok(()),
                    () = completed => {}
                    () = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
        Ok::<(), ConnError>(())
    };
    // The bench protocol sends nothing back to a publisher; read anyway to notice a close
    // (and, over Socket.IO, the server's pings).
    let listen = async {
        let stopped = run.stopped();
        tokio::pin!(stopped);
        let mut scratch = [0u8; 4096];
        loop {
            if shared.sio {
                let next = conn::next_event(&mut rd, &mut buf, &mut decoder, |event| match event {
                    Event::Message { payload, .. } => Some(Ok(payload == sio::PING)),
                    Event::Close(code) => Some(Err(ConnError::ServerClosed(code))),
                    Event::Ping | Event::Pong => None,
                });
                tokio::select! {
                    biased;
                    () = &mut stopped => return Ok(()),
                    r = next => if r?? { pongs_due.set(pongs_due.get() + 1) },
                }
                continue;
            }
            tokio::select! {
                biased;
                () = &mut stopped => return Ok(()),
                r = rd.read(&mut scratch) => if r? == 0 { return Err(ConnError::Eof) },
            }
        }
    };
    if let Err(e) = tokio::try_join!(publish, listen) {
        run.error("publisher", e);
    }
    let _ = connected.stream.write_all(&frame::close_frame(frame::CLOSE_NORMAL, mask)).await;
}

/// The 16-byte payload prefix: sequence number and send time in microseconds, 8 hex digits each.
fn stamp(seq: u32, sent_us: u32) -> [u8; STAMP_LEN] {
    let mut out = [0u8; STAMP_LEN];
    let text = format!("{seq:08x}{sent_us:08x}");
    out.copy_from_slice(text.as_bytes());
    out
}

fn parse_stamp(payload: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(payload.get(..STAMP_LEN)?).ok()?;
    Some((u32::from_str_radix(&text[..8], 16).ok()?, u32::from_str_radix(&text[8..], 16).ok()?))
}

/// Which published messages still wait for recipients, by sequence number.
#[derive(Debug, Default)]
struct Tracker {
    /// Sequence number of `pending[0]`.
    first: u64,
    pending: VecDeque<Pending>,
}

#[derive(Debug)]
struct Pending {
    sent_ns: u64,
    remaining: u32,
}

impl Tracker {
    /// Message `seq` (the next one) went out at `sent_ns` to `recipients` subscribers.
    fn publish(&mut self, seq: u64, sent_ns: u64, recipients: u32) {
        if self.pending.is_empty() {
            self.first = seq;
        }
        debug_assert_eq!(seq, self.first + self.pending.len() as u64);
        self.pending.push_back(Pending { sent_ns, remaining: recipients });
        self.trim();
    }

    /// One recipient got `seq`; returns its send time when that was the last recipient.
    fn deliver(&mut self, seq: u64) -> Option<u64> {
        let index = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        let entry = self.pending.get_mut(index).filter(|p| p.remaining > 0)?;
        entry.remaining -= 1;
        let last = (entry.remaining == 0).then_some(entry.sent_ns);
        self.trim();
        last
    }

    fn is_complete(&self, seq: u64) -> bool {
        seq.checked_sub(self.first)
            .and_then(|i| self.pending.get(usize::try_from(i).ok()?))
            .is_none_or(|p| p.remaining == 0)
    }

    /// Messages sent before `ns` that some recipient never got.
    fn incomplete_before(&self, ns: u64) -> u64 {
        self.pending.iter().filter(|p| p.remaining > 0 && p.sent_ns < ns).count() as u64
    }

    fn trim(&mut self) {
        while self.pending.front().is_some_and(|p| p.remaining == 0) {
            self.pending.pop_front();
            self.first += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_is_ascii() {
        let s = stamp(0xdead_beef, 42);
        assert_eq!(&s, b"deadbeef0000002a");
        assert_eq!(parse_stamp(&s), Some((0xdead_beef, 42)));
        let mut payload = s.to_vec();
        payload.extend(b"padding");
        assert_eq!(parse_stamp(&payload), Some((0xdead_beef, 42)));
        assert_eq!(parse_stamp(b"short"), None);
        assert_eq!(parse_stamp(b"zzzzzzzz0000002a"), None);
    }

    #[test]
    fn tracker_reports_the_last_recipient() {
        let mut t = Tracker::default();
        t.publish(0, 100, 2);
        t.publish(1, 200, 2);
        assert_eq!(t.deliver(1), None);
        assert!(!t.is_complete(1));
        assert_eq!(t.deliver(1), Some(200));
        assert!(t.is_complete(1));
        assert_eq!(t.deliver(1), None); // a duplicate changes nothing
        assert!(!t.is_complete(0));
        assert_eq!(t.incomplete_before(150), 1);
        assert_eq!(t.deliver(0), None);
        assert_eq!(t.deliver(0), Some(100));
        assert!(t.pending.is_empty());
        assert_eq!(t.deliver(7), None); // never published
        t.publish(2, 300, 0); // nobody to wait for
        assert!(t.is_complete(2));
        assert_eq!(t.incomplete_before(u64::MAX), 0);
    }
}

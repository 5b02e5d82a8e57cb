//! State shared by every connection task of a run, on one thread: phase flags, counters, the
//! latency histogram, the first errors, and the connect phase's concurrency limit.

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::procfs::{self, Pid};
use crate::upgrade::Target;

/// Errors printed as they happen; the rest are only counted.
const PRINTED_ERRORS: usize = 5;

/// Highest latency the histograms hold: an hour, in nanoseconds. Longer values are clamped.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// tokio's timers fire on millisecond ticks and round a deadline up, so a sleep until a send's
/// intended time wakes up to a millisecond late (1.1 ms median measured on loopback), which
/// would swamp the latencies being measured. Open-loop senders therefore wake one tick early
/// and start the latency clock at the earlier of the intended and the actual send time: a send
/// made late by backpressure or a busy client is measured from its intended time (no
/// coordinated omission), one the timer let out early from when it went. Sends are thus up to
/// a tick early; the schedule's average rate is unchanged.
pub(crate) const TIMER_TICK: Duration = Duration::from_millis(1);

/// When an open-loop sender should wake for a send intended at `intended`.
pub(crate) fn wake_for(intended: Instant) -> Instant {
    intended.checked_sub(TIMER_TICK).unwrap_or(intended)
}

/// A latency histogram in nanoseconds with three significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("static histogram bounds are valid")
}

/// Nanoseconds in `d`, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Latency percentiles in microseconds, as printed and written to JSON.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Percentiles {
    /// Samples recorded.
    pub(crate) count: u64,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Percentiles {
    /// Percentiles of a nanosecond histogram; `None` when it is empty.
    pub(crate) fn of(hist: &Histogram<u64>) -> Option<Self> {
        let us = |ns: u64| ns as f64 / 1000.0;
        (!hist.is_empty()).then(|| Self {
            count: hist.len(),
            mean: hist.mean() / 1000.0,
            p50: us(hist.value_at_quantile(0.50)),
            p90: us(hist.value_at_quantile(0.90)),
            p99: us(hist.value_at_quantile(0.99)),
            p999: us(hist.value_at_quantile(0.999)),
            max: us(hist.max()),
        })
    }
}

/// One run's shared state. Tasks hold it in an `Rc`: the runtime has one thread, so plain
/// `Cell`s replace atomics and no borrow is ever held across an `.await`.
#[derive(Debug)]
pub(crate) struct Run {
    /// Time zero for timestamps carried in payloads and for the progress line.
    epoch: Instant,
    quiet: bool,
    /// Inside the measurement window: only then are operations counted and latencies recorded.
    measuring: Cell<bool>,
    /// Set once when the connect phase is over and load may start.
    go: watch::Sender<bool>,
    /// What the progress line says the run is doing.
    phase: Cell<&'static str>,
    /// Set once when the window is over: loops finish their current operation and return.
    stop: watch::Sender<bool>,
    /// Operations completed in every phase, for the per-second rate.
    progress: Cell<u64>,
    /// Operations completed inside the window.
    measured: Cell<u64>,
    /// The primary latency (round trip, delivery, handshake cycle) inside the window.
    latency: RefCell<Histogram<u64>>,
    open: Cell<usize>,
    errors: Cell<u64>,
    first_errors: RefCell<Vec<String>>,
    /// Bounds connection attempts in flight, so the server's listen backlog does not overflow.
    connect_slots: Semaphore,
    /// Connection attempts of the connect phase not yet finished.
    pending: Cell<usize>,
    connects_done: Notify,
    connected: Cell<usize>,
    connect_failures: Cell<u64>,
}

impl Run {
    /// A run whose connect phase makes `connections` attempts, `concurrency` at a time.
    pub(crate) fn new(quiet: bool, connections: usize, concurrency: usize) -> Rc<Self> {
        Rc::new(Self {
            epoch: Instant::now(),
            quiet,
            measuring: Cell::new(false),
            go: watch::Sender::new(false),
            phase: Cell::new("connect"),
            stop: watch::Sender::new(false),
            progress: Cell::new(0),
            measured: Cell::new(0),
            latency: RefCell::new(histogram()),
            open: Cell::new(0),
            errors: Cell::new(0),
            first_errors: RefCell::new(Vec::new()),
            connect_slots: Semaphore::new(concurrency),
            pending: Cell::new(connections),
            connects_done: Notify::new(),
            connected: Cell::new(0),
            connect_failures: Cell::new(0),
        })
    }

    /// Nanoseconds from the run's start to `at` (0 if `at` is earlier).
    pub(crate) fn ns_since_epoch(&self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.epoch))
    }

    pub(crate) fn measuring(&self) -> bool {
        self.measuring.get()
    }

    /// One operation done; inside the window it is counted and its latency recorded.
    pub(crate) fn complete(&self, latency_ns: u64) {
        self.progress.set(self.progress.get() + 1);
        if self.measuring.get() {
            self.measured.set(self.measured.get() + 1);
            self.latency.borrow_mut().saturating_record(latency_ns.max(1));
        }
    }

    /// Records into a mode's own histogram, inside the window only.
    pub(crate) fn record(&self, hist: &RefCell<Histogram<u64>>, ns: u64) {
        if self.measuring.get() {
            hist.borrow_mut().saturating_record(ns.max(1));
        }
    }

    /// Counts an error, printing the first few with `what` (a connection or worker number).
    pub(crate) fn error(&self, what: impl Display, err: impl Display) {
        self.errors.set(self.errors.get() + 1);
        let mut first = self.first_errors.borrow_mut();
        if first.len() < PRINTED_ERRORS {
            let line = format!("{what}: {err}");
            eprintln!("error: {line}");
            first.push(line);
            if first.len() == PRINTED_ERRORS {
                eprintln!("error: further errors are only counted");
            }
        }
    }

    /// Starts or ends the measurement window by hand (idle mode measures its connect phase).
    pub(crate) fn set_measuring(&self, on: bool) {
        self.measuring.set(on);
    }

    /// Names the phase for the progress line.
    pub(crate) fn set_phase(&self, phase: &'static str) {
        self.phase.set(phase);
    }

    /// Connects and upgrades within the connect phase's concurrency limit. A failure is counted
    /// and printed; the caller just returns.
    pub(crate) async fn connect(self: &Rc<Self>, what: impl Display, target: &Target) -> Option<Conn> {
        let result = {
            let _slot = self.connect_slots.acquire().await.expect("the semaphore is never closed");
            let began = Instant::now();
            target.connect().await.map(|(stream, leftover)| (stream, leftover, began.elapsed()))
        };
        self.pending.set(self.pending.get().saturating_sub(1));
        if self.pending.get() == 0 {
            self.connects_done.notify_waiters();
        }
        match result {
            Ok((stream, leftover, handshake)) => {
                self.connected.set(self.connected.get() + 1);
                Some(Conn { stream, leftover, handshake, open: self.open_guard() })
            }
            Err(e) => {
                self.connect_failures.set(self.connect_failures.get() + 1);
                self.error(what, e);
                None
            }
        }
    }

    /// Counts a connection as open until the guard is dropped.
    pub(crate) fn open_guard(self: &Rc<Self>) -> OpenGuard {
        self.open.set(self.open.get() + 1);
        OpenGuard(Rc::clone(self))
    }

    /// Waits until every attempt of the connect phase has succeeded or failed.
    pub(crate) async fn all_connected(&self) {
        loop {
            // Created before the check so a notification in between is not lost.
            let done = self.connects_done.notified();
            if self.pending.get() == 0 {
                return;
            }
            done.await;
        }
    }

    /// Lets load start.
    pub(crate) fn start(&self) {
        self.phase.set("warmup");
        self.go.send_replace(true);
    }

    /// Waits for [`Run::start`].
    pub(crate) async fn started(&self) {
        let _ = self.go.subscribe().wait_for(|go| *go).await;
    }

    /// Ends the run: loops stop after their current operation.
    pub(crate) fn stop(&self) {
        self.phase.set("stopping");
        self.measuring.set(false);
        self.stop.send_replace(true);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits for [`Run::stop`]; for waits that would otherwise outlive the run.
    pub(crate) async fn stopped(&self) {
        let _ = self.stop.subscribe().wait_for(|stop| *stop).await;
    }

    pub(crate) fn measured(&self) -> u64 {
        self.measured.get()
    }

    pub(crate) fn latency(&self) -> Option<Percentiles> {
        Percentiles::of(&self.latency.borrow())
    }

    pub(crate) fn errors(&self) -> u64 {
        self.errors.get()
    }

    pub(crate) fn first_errors(&self) -> Vec<String> {
        self.first_errors.borrow().clone()
    }

    pub(crate) fn connected(&self) -> usize {
        self.connected.get()
    }

    pub(crate) fn connect_failures(&self) -> u64 {
        self.connect_failures.get()
    }

    pub(crate) fn open(&self) -> usize {
        self.open.get()
    }

    /// Prints one line to stderr per second: elapsed time, phase, operations in the last second,
    /// open connections and errors.
    pub(crate) fn spawn_progress(self: &Rc<Self>, unit: &'static str) -> Option<JoinHandle<()>> {
        if self.quiet {
            return None;
        }
        let run = Rc::clone(self);
        Some(tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let mut last = 0;
            loop {
                tick.tick().await;
                let now = run.progress.get();
                let phase = run.phase.get();
                eprintln!(
                    "{:6.1}s {phase:8} {unit} {:>8}  open {:>6}  errors {}",
                    run.epoch.elapsed().as_secs_f64(),
                    now - last,
                    run.open.get(),
                    run.errors.get()
                );
                last = now;
            }
        }))
    }
}

/// An upgraded connection of the connect phase.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    /// Bytes the server sent right behind its handshake response.
    pub(crate) leftover: BytesMut,
    /// Connect plus upgrade, not counting the wait for a connect slot.
    pub(crate) handshake: Duration,
    /// Keeps the connection counted as open.
    pub(crate) open: OpenGuard,
}

/// Counts one open connection for the progress line while alive.
#[derive(Debug)]
pub(crate) struct OpenGuard(Rc<Run>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get().saturating_sub(1));
    }
}

/// What the measurement window saw besides the run's counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Length of the window as measured, in seconds.
    pub(crate) seconds: f64,
    pub(crate) server_cpu: Option<f64>,
    pub(crate) client_cpu: Option<f64>,
    /// Busy fraction of the core the server, or the client, is pinned to (softirq included).
    pub(crate) server_core_busy: Option<f64>,
    pub(crate) client_core_busy: Option<f64>,
}

/// Busy fraction of one core between two [`procfs::core_ticks`] readings.
fn busy_between(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((busy0, total0), (busy1, total1)) = (before?, after?);
    (total1 > total0).then(|| busy1.saturating_sub(busy0) as f64 / (total1 - total0) as f64)
}

/// Starts the load, waits out the warmup, then measures for `duration` seconds, reading the
/// server's and our own CPU time at both ends; then stops the run.
pub(crate) async fn measure(run: &Run, warmup: f64, duration: f64, server: Option<u32>) -> Window {
    run.start();
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    let server_core = server.and_then(|pid| Pid::Of(pid).pinned_cpu());
    let client_core = Pid::Me.pinned_cpu();
    let server_before = server.and_then(|pid| Pid::Of(pid).cpu_seconds().ok());
    let client_before = Pid::Me.cpu_seconds().ok();
    let server_core_before = server_core.and_then(procfs::core_ticks);
    let client_core_before = client_core.and_then(procfs::core_ticks);
    let began = Instant::now();
    run.phase.set("measure");
    run.measuring.set(true);
    tokio::time::sleep(Duration::from_secs_f64(duration)).await;
    run.measuring.set(false);
    let seconds = began.elapsed().as_secs_f64();
    let server_after = server.and_then(|pid| Pid::Of(pid).cpu_seconds().ok());
    let client_after = Pid::Me.cpu_seconds().ok();
    let server_core_after = server_core.and_then(procfs::core_ticks);
    let client_core_after = client_core.and_then(procfs::core_ticks);
    run.stop();
    let delta = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    Window {
        seconds,
        server_cpu: delta(server_before, server_after),
        client_cpu: delta(client_before, client_after),
        server_core_busy: busy_between(server_core_before, server_core_after),
        client_core_busy: busy_between(client_core_before, client_core_after),
    }
}

/// The measured part of a closed-loop workload: the window (see [`measure`]), then the tasks
/// drained (see [`drain`]) and the progress line stopped.
pub(crate) async fn window_then_drain(
    run: &Run,
    common: &crate::cli::Common,
    tasks: Vec<JoinHandle<()>>,
    progress: Option<JoinHandle<()>>,
    grace: Duration,
) -> Window {
    let window = measure(run, common.warmup, common.duration, common.server_pid).await;
    drain(tasks, grace).await;
    if let Some(progress) = progress {
        progress.abort();
    }
    window
}

/// Gives tasks a moment to finish their current operation after [`Run::stop`]; the ones still
/// blocked (on a server that stopped answering) are dropped with the runtime.
pub(crate) async fn drain(tasks: Vec<JoinHandle<()>>, grace: Duration) {
    let _ = tokio::time::timeout(grace, async {
        for task in tasks {
            let _ = task.await;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_microseconds() {
        let mut hist = histogram();
        for us in 1..=1000u64 {
            hist.record(us * 1000).unwrap();
        }
        let p = Percentiles::of(&hist).unwrap();
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() < 1.0, "{p:?}");
        assert!(Percentiles::of(&histogram()).is_none());
    }

    #[test]
    fn counts_only_inside_the_window() {
        let run = Run::new(true, 0, 1);
        run.complete(5);
        run.measuring.set(true);
        run.complete(7_000);
        run.stop();
        run.complete(9);
        assert_eq!((run.measured(), run.progress.get()), (1, 3));
        assert_eq!(run.latency().unwrap().count, 1);
    }
}

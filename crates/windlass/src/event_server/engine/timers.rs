//! The heartbeat and connect deadlines of every session of one engine, on one task.
//!
//! Every session of an engine pings after the same interval, waits the same time for its pong
//! and has the same connect deadline, so each kind of timer comes due in the order it was set.
//! Three FIFO queues and one task sleeping until the earliest front therefore do what a task
//! with three timers per session did, for about 32 bytes per pending timer instead of a task
//! (hundreds of bytes) per session. An entry holds its session weakly: one whose session has
//! closed is skipped when it comes up.
//!
//! The task runs while timers are pending and ends when none are; the next one set starts it
//! again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::session::EngineSession;
use super::{EngineShared, lock};

/// What comes due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Time to ping.
    Ping,
    /// The pong for ping number `n` is due.
    Pong(u32),
    /// The handler's connect deadline.
    Connect,
}

/// 24 bytes: the deadline in milliseconds from the queues' epoch rather than an `Instant`
/// (16 bytes), as there is one entry or two per session.
struct Entry {
    at: u64,
    session: Weak<EngineSession>,
    /// The ping a pong deadline is for.
    ping: u32,
}

#[derive(Default)]
struct Queues {
    /// What deadlines count from: the first `set`.
    epoch: Option<Instant>,
    ping: VecDeque<Entry>,
    pong: VecDeque<Entry>,
    connect: VecDeque<Entry>,
    /// The task is running (or spawned).
    running: bool,
}

impl Queues {
    fn queue(&mut self, timer: Timer) -> &mut VecDeque<Entry> {
        match timer {
            Timer::Ping => &mut self.ping,
            Timer::Pong(_) => &mut self.pong,
            Timer::Connect => &mut self.connect,
        }
    }

    /// `at`, in milliseconds from the epoch (rounded up: a timer never fires early). The
    /// epoch must be set.
    fn millis(&self, at: Instant) -> u64 {
        let epoch = self.epoch.unwrap_or(at);
        let nanos = at.saturating_duration_since(epoch).as_nanos();
        u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }

    /// The earliest pending deadline.
    fn next(&self) -> Option<Instant> {
        let at = [&self.ping, &self.pong, &self.connect]
            .into_iter()
            .filter_map(|q| q.front().map(|e| e.at))
            .min()?;
        Some(self.epoch? + Duration::from_millis(at))
    }

    /// Moves every entry due at `now` into `due`, in each queue's order.
    fn take_due(&mut self, now: Instant, due: &mut Vec<(Timer, Weak<EngineSession>)>) {
        let Some(epoch) = self.epoch else { return };
        // Rounded down, as deadlines are rounded up: nothing comes out before its time.
        let now = u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX);
        for (queue, kind) in [(&mut self.ping, 0), (&mut self.pong, 1), (&mut self.connect, 2)] {
            while queue.front().is_some_and(|e| e.at <= now) {
                let Some(entry) = queue.pop_front() else { break };
                let timer = match kind {
                    0 => Timer::Ping,
                    1 => Timer::Pong(entry.ping),
                    _ => Timer::Connect,
                };
                due.push((timer, entry.session));
            }
        }
        // Emptied queues give their memory back: an engine whose sessions went quiet keeps none.
        for queue in [&mut self.ping, &mut self.pong, &mut self.connect] {
            if queue.is_empty() && queue.capacity() > 0 {
                *queue = VecDeque::new();
            }
        }
    }
}

/// The timers of one engine's sessions.
#[derive(Default)]
pub(crate) struct Timers {
    queues: Mutex<Queues>,
    /// Wakes the task when an entry may be earlier than what it sleeps until.
    wake: Notify,
}

impl Timers {
    /// Sets `timer` for `session`, `after` from now.
    pub(crate) fn set(
        &self,
        shared: &Arc<EngineShared>,
        session: &Arc<EngineSession>,
        timer: Timer,
        after: Duration,
    ) {
        let spawn = {
            let mut queues = lock(&self.queues);
            // Taken under the lock, so that each queue stays in deadline order even when
            // sessions on several threads set timers at once.
            let now = Instant::now();
            queues.epoch.get_or_insert(now);
            let at = queues.millis(now + after);
            let ping = if let Timer::Pong(n) = timer { n } else { 0 };
            let queue = queues.queue(timer);
            let was_empty = queue.is_empty();
            queue.push_back(Entry { at, session: Arc::downgrade(session), ping });
            if queues.running {
                if was_empty {
                    // The only entry of its queue: it may be due before what the task waits for.
                    self.wake.notify_one();
                }
                false
            } else {
                queues.running = true;
                true
            }
        };
        if spawn {
            tokio::spawn(run(Arc::downgrade(shared)));
        }
    }
}

/// The task: sleeps until the earliest deadline, then acts on what is due.
async fn run(shared: Weak<EngineShared>) {
    let mut due = Vec::new();
    loop {
        let next = {
            let Some(engine) = shared.upgrade() else { return };
            let next = {
                let mut queues = lock(&engine.timers.queues);
                queues.take_due(Instant::now(), &mut due);
                let next = queues.next();
                if next.is_none() && due.is_empty() {
                    queues.running = false;
                    return;
                }
                next
            };
            for (timer, session) in due.drain(..) {
                if let Some(session) = session.upgrade() {
                    session.on_timer(timer);
                }
            }
            // What acting set may be earlier than what was computed: look again at once.
            match next {
                Some(next) => next,
                None => continue,
            }
        };
        // Held while asleep: the sessions whose timers are pending hold the engine anyway.
        let Some(engine) = shared.upgrade() else { return };
        let woken = engine.timers.wake.notified();
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = woken => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_entries_come_out_in_each_queue_order_and_empty_queues_free_their_memory() {
        let start = Instant::now();
        let mut queues = Queues { epoch: Some(start), ..Queues::default() };
        for (timer, ms) in [(Timer::Ping, 10), (Timer::Ping, 20), (Timer::Pong(7), 5), (Timer::Connect, 30)] {
            queues.queue(timer).push_back(Entry {
                at: ms,
                session: Weak::new(),
                ping: if let Timer::Pong(n) = timer { n } else { 0 },
            });
        }
        assert_eq!(queues.next(), Some(start + Duration::from_millis(5)));
        let mut due = Vec::new();
        queues.take_due(start + Duration::from_millis(15), &mut due);
        let kinds: Vec<Timer> = due.iter().map(|(t, _)| *t).collect();
        assert_eq!(kinds, [Timer::Ping, Timer::Pong(7)]);
        assert_eq!(queues.pong.capacity(), 0, "an emptied queue keeps no memory");
        assert_eq!(queues.next(), Some(start + Duration::from_millis(20)));
        due.clear();
        queues.take_due(start + Duration::from_millis(30), &mut due);
        assert_eq!(due.len(), 2);
        assert_eq!(queues.next(), None);
    }
}

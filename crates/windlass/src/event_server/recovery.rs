//! Connection state recovery: what a socket was sent is kept with an offset for a while, and
//! a socket that went away for a recoverable reason is kept, so that a client reconnecting
//! with `{pid, offset}` gets its id, rooms and every packet it missed (Node 4.8's wire
//! behaviour).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use windlass_sio_proto::Value;
use windlass_sio_proto::socket::Packet;

use super::engine::lock;
use super::socket::Socket;

/// Connection state recovery settings (Node's `connectionStateRecovery`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a disconnected socket's session and the packets it may miss are kept
    /// (`maxDisconnectionDuration`); default 2 minutes.
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the namespace's middleware (`skipMiddlewares`);
    /// default true.
    pub skip_middlewares: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self { max_disconnection_duration: Duration::from_secs(120), skip_middlewares: true }
    }
}

/// A kept session, found again by its private id.
struct Kept {
    id: Arc<str>,
    ns: Arc<str>,
    rooms: Vec<Arc<str>>,
    disconnected: Instant,
}

/// A packet kept with its offset and whom it was for.
struct Stored {
    offset: String,
    packet: Packet,
    rooms: Vec<Arc<str>>,
    except: Vec<Arc<str>>,
    at: Instant,
}

/// What a CONNECT with a known `{pid, offset}` gets back.
pub(crate) struct Restored {
    pub(crate) id: Arc<str>,
    pub(crate) pid: Arc<str>,
    pub(crate) rooms: Vec<Arc<str>>,
    /// The packets the socket missed, in emission order, each with its offset.
    pub(crate) missed: Vec<Packet>,
}

#[derive(Default)]
struct State {
    kept: HashMap<Arc<str>, Kept>,
    packets: VecDeque<Stored>,
    offsets: Yeast,
}

/// The in-memory store of one server.
pub(crate) struct SessionStore {
    config: Option<RecoveryConfig>,
    state: Mutex<State>,
}

impl SessionStore {
    pub(crate) fn new(config: Option<RecoveryConfig>) -> Self {
        Self { config, state: Mutex::new(State::default()) }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.config.is_some()
    }

    pub(crate) fn skips_middleware(&self) -> bool {
        self.config.as_ref().is_some_and(|c| c.skip_middlewares)
    }

    fn window(&self) -> Duration {
        self.config.as_ref().map_or(Duration::ZERO, |c| c.max_disconnection_duration)
    }

    /// A fresh offset, as Node's `yeast()` makes them.
    pub(crate) fn next_offset(&self) -> String {
        lock(&self.state).offsets.next()
    }

    /// Keeps an emitted packet for the window.
    pub(crate) fn store(&self, offset: String, packet: Packet, rooms: &[Arc<str>], except: &[Arc<str>]) {
        let now = Instant::now();
        let window = self.window();
        let mut state = lock(&self.state);
        while state.packets.front().is_some_and(|p| now.duration_since(p.at) > window) {
            state.packets.pop_front();
        }
        state.packets.push_back(Stored {
            offset,
            packet,
            rooms: rooms.to_vec(),
            except: except.to_vec(),
            at: now,
        });
    }

    /// Keeps a socket that went away for a recoverable reason.
    pub(crate) fn keep(&self, pid: &Arc<str>, socket: &Socket, rooms: Vec<Arc<str>>) {
        let now = Instant::now();
        let window = self.window();
        let mut state = lock(&self.state);
        state.kept.retain(|_, kept| now.duration_since(kept.disconnected) <= window);
        state.kept.insert(
            Arc::clone(pid),
            Kept {
                id: Arc::clone(&socket.inner.id),
                ns: Arc::clone(&socket.inner.ns.name),
                rooms,
                disconnected: now,
            },
        );
    }

    /// The session a CONNECT's auth `{pid, offset}` names, with what it missed; `None` for an
    /// unknown or expired pid or an unknown offset (the client then gets a fresh session).
    pub(crate) fn restore(&self, auth: &Value, ns: &str) -> Option<Restored> {
        if !self.enabled() {
            return None;
        }
        let pid = auth.get("pid")?.as_str()?;
        let offset = auth.get("offset")?.as_str()?;
        let window = self.window();
        let mut state = lock(&self.state);
        let kept = state.kept.get(pid)?;
        if Instant::now().duration_since(kept.disconnected) > window {
            state.kept.remove(pid);
            return None;
        }
        if &*kept.ns != ns {
            return None;
        }
        // As in Node, the session stays kept after a restore: the same pid and offset restore
        // it again until it expires or the socket leaves again.
        let kept = Kept {
            id: Arc::clone(&kept.id),
            ns: Arc::clone(&kept.ns),
            rooms: kept.rooms.clone(),
            disconnected: kept.disconnected,
        };
        let index = state.packets.iter().position(|p| p.offset == offset)?;
        let missed = state
            .packets
            .iter()
            .skip(index + 1)
            .filter(|p| p.packet.namespace.as_str() == ns)
            .filter(|p| {
                let included = p.rooms.is_empty() || kept.rooms.iter().any(|room| p.rooms.contains(room));
                let excluded = kept.rooms.iter().any(|room| p.except.contains(room));
                included && !excluded
            })
            .map(|p| p.packet.clone())
            .collect();
        Some(Restored { id: kept.id, pid: Arc::from(pid), rooms: kept.rooms, missed })
    }
}

/// Node's `yeast`: the time in milliseconds in a base-64 alphabet, and `.n` for ids made in
/// the same millisecond.
#[derive(Default)]
struct Yeast {
    last: String,
    seed: u64,
}

const ALPHABET: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

fn yeast_encode(mut n: u64) -> String {
    let mut out = Vec::with_capacity(8);
    loop {
        out.push(ALPHABET[(n % 64) as usize]);
        n /= 64;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl Yeast {
    fn next(&mut self) -> String {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        let now = yeast_encode(millis);
        if now == self.last {
            let id = format!("{now}.{}", yeast_encode(self.seed));
            self.seed += 1;
            return id;
        }
        self.seed = 0;
        self.last.clone_from(&now);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_node_yeast_ids() {
        // 1765000000000 ms in yeast's alphabet (checked with Node's yeast).
        assert_eq!(yeast_encode(0), "0");
        assert_eq!(yeast_encode(63), "_");
        assert_eq!(yeast_encode(64), "10");
        let mut yeast = Yeast::default();
        let first = yeast.next();
        assert_eq!(first.len(), 7, "{first}");
        let ids: Vec<String> = (0..50).map(|_| yeast.next()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
    }
}

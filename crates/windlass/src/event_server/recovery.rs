//! Connection state recovery: what a socket was sent is kept with an offset for a while, and
//! a socket that went away for a recoverable reason is kept, so that a client reconnecting
//! with `{pid, offset}` gets its id, rooms and every packet it missed (Node 4.8's wire
//! behaviour).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
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

/// A socket that left for a recoverable reason, kept by its private id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptSession {
    /// The private id the client recovers with (`pid`).
    pub pid: Arc<str>,
    /// The socket's id, which a recovered socket gets back.
    pub id: Arc<str>,
    /// Its namespace.
    pub namespace: Arc<str>,
    /// The rooms it had joined (its own id's room not among them).
    pub rooms: Vec<Arc<str>>,
}

/// An emitted packet kept for sockets that may have missed it: its offset (also its last
/// argument), and whom it was for.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPacket {
    /// The offset a client names to recover what came after it.
    pub offset: String,
    /// The packet, as sent.
    pub packet: Packet,
    /// The rooms it went to (none: the whole namespace).
    pub rooms: Vec<Arc<str>>,
    /// The rooms it left out.
    pub except: Vec<Arc<str>>,
}

impl StoredPacket {
    /// Whether a socket of `session` would have got it: same namespace, in one of its rooms
    /// (its own id's room included) or sent to all, and in none of the rooms left out.
    pub fn was_for(&self, session: &KeptSession) -> bool {
        if self.packet.namespace.as_str() != &*session.namespace {
            return false;
        }
        let mut rooms = std::iter::once(&session.id).chain(&session.rooms);
        let included = self.rooms.is_empty() || rooms.clone().any(|room| self.rooms.contains(room));
        included && !rooms.any(|room| self.except.contains(room))
    }
}

/// What a CONNECT with a known `{pid, offset}` gets back.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    /// The session as it was kept.
    pub session: KeptSession,
    /// The packets it missed, in the order they were emitted.
    pub missed: Vec<Packet>,
}

/// A future a [`SessionStore`] answers with.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where connection state recovery keeps what it needs: sockets that left, by private id,
/// and emitted packets, by offset (Node's adapter `persistSession` / `restoreSession`).
///
/// [`MemoryStore`] (the default) keeps them in this process; a store in a broker lets a client
/// recover on another node. Keeping is synchronous for the caller: a store that writes
/// elsewhere queues the write in order and returns. Expiry is the store's business (the
/// memory store forgets after [`RecoveryConfig::max_disconnection_duration`]).
pub trait SessionStore: Send + Sync + 'static {
    /// An offset for the next packet: unique, and later than every offset given before.
    fn next_offset(&self) -> String;
    /// Keeps an emitted packet.
    fn store_packet(&self, packet: StoredPacket);
    /// Keeps a socket that left for a recoverable reason.
    fn keep_session(&self, session: KeptSession);
    /// The session kept under `pid` in `namespace` and the packets after `offset` it
    /// missed; `None` for an unknown or expired pid, another namespace, or an offset no
    /// longer known (the client then gets a new session, as in Node: never a partial one).
    fn restore<'a>(
        &'a self,
        pid: &'a str,
        offset: &'a str,
        namespace: &'a str,
    ) -> StoreFuture<'a, Option<Restored>>;

    /// Restores as [`restore`](Self::restore) and runs `join` with the result at a point of
    /// the store's order after which every packet reaches the joined socket live: nothing
    /// between the missed packets and the live ones is lost or sent twice. A store whose
    /// packets reach sockets through a log of its own (Redis Streams, `JetStream`) runs `join`
    /// between two applied entries; the default runs it as soon as `restore` answers.
    fn restore_then<'a>(
        &'a self,
        pid: &'a str,
        offset: &'a str,
        namespace: &'a str,
        join: JoinFn,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { join(self.restore(pid, offset, namespace).await) })
    }

    /// A connected socket's session changed (it joined its namespace, or a room, or left
    /// one). A store shared by several nodes saves it now, so that the socket can be
    /// recovered on another node even if its own is killed; the default does nothing (the
    /// memory store keeps sessions when sockets leave).
    fn save_session(&self, session: &KeptSession) {
        let _ = session;
    }

    /// The socket of `pid` left for good (a reason recovery does not apply to): its session
    /// can be forgotten. The default does nothing.
    fn forget_session(&self, pid: &str) {
        let _ = pid;
    }
}

/// What [`SessionStore::restore_then`] runs with the restored session (or `None`).
pub type JoinFn = Box<dyn FnOnce(Option<Restored>) + Send>;

/// The in-memory [`SessionStore`]: sessions and packets of the last
/// `max_disconnection_duration`.
pub struct MemoryStore {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    kept: HashMap<Arc<str>, (KeptSession, Instant)>,
    packets: VecDeque<(StoredPacket, Instant)>,
    offsets: Yeast,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("window", &self.window).finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store that keeps sessions and packets for `window`.
    pub fn new(window: Duration) -> Self {
        Self { window, state: Mutex::new(State::default()) }
    }
}

impl SessionStore for MemoryStore {
    fn next_offset(&self) -> String {
        lock(&self.state).offsets.next()
    }

    fn store_packet(&self, packet: StoredPacket) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        while state.packets.front().is_some_and(|(_, at)| now.duration_since(*at) > self.window) {
            state.packets.pop_front();
        }
        state.packets.push_back((packet, now));
    }

    fn keep_session(&self, session: KeptSession) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        state.kept.retain(|_, (_, at)| now.duration_since(*at) <= self.window);
        state.kept.insert(Arc::clone(&session.pid), (session, now));
    }

    fn restore<'a>(
        &'a self,
        pid: &'a str,
        offset: &'a str,
        namespace: &'a str,
    ) -> StoreFuture<'a, Option<Restored>> {
        let restored = (|| {
            let mut state = lock(&self.state);
            let (session, at) = state.kept.get(pid)?;
            if at.elapsed() > self.window {
                state.kept.remove(pid);
                return None;
            }
            if &*session.namespace != namespace {
                return None;
            }
            // As in Node, the session stays kept after a restore: the same pid and offset
            // restore it again until it expires or the socket leaves again.
            let session = session.clone();
            let index = state.packets.iter().position(|(p, _)| p.offset == offset)?;
            let missed = state
                .packets
                .iter()
                .skip(index + 1)
                .filter(|(p, _)| p.was_for(&session))
                .map(|(p, _)| p.packet.clone())
                .collect();
            Some(Restored { session, missed })
        })();
        Box::pin(std::future::ready(restored))
    }
}

/// Recovery as one server runs it: its settings and its store.
pub(crate) struct Recovery {
    config: Option<RecoveryConfig>,
    store: Arc<dyn SessionStore>,
}

impl Recovery {
    pub(crate) fn new(config: Option<RecoveryConfig>, store: Option<Arc<dyn SessionStore>>) -> Self {
        let window = config.as_ref().map_or(Duration::ZERO, |c| c.max_disconnection_duration);
        let store = store.unwrap_or_else(|| Arc::new(MemoryStore::new(window)));
        Self { config, store }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.config.is_some()
    }

    pub(crate) fn skips_middleware(&self) -> bool {
        self.config.as_ref().is_some_and(|c| c.skip_middlewares)
    }

    /// A fresh offset, as Node's `yeast()` makes them (with the memory store).
    pub(crate) fn next_offset(&self) -> String {
        self.store.next_offset()
    }

    /// Keeps an emitted packet.
    pub(crate) fn store(&self, offset: String, packet: Packet, rooms: &[Arc<str>], except: &[Arc<str>]) {
        self.store.store_packet(StoredPacket {
            offset,
            packet,
            rooms: rooms.to_vec(),
            except: except.to_vec(),
        });
    }

    /// Keeps a socket that went away for a recoverable reason.
    pub(crate) fn keep(&self, pid: &Arc<str>, socket: &Socket, rooms: Vec<Arc<str>>) {
        self.store.keep_session(Self::session(pid, socket, rooms));
    }

    /// Tells the store a connected socket's session changed.
    pub(crate) fn save(&self, pid: &Arc<str>, socket: &Socket) {
        let rooms = socket.inner.ns.rooms_of(&socket.inner.id);
        self.store.save_session(&Self::session(pid, socket, rooms));
    }

    /// Tells the store a socket left for good.
    pub(crate) fn forget(&self, pid: &str) {
        self.store.forget_session(pid);
    }

    fn session(pid: &Arc<str>, socket: &Socket, rooms: Vec<Arc<str>>) -> KeptSession {
        // The socket's own room is its id, kept apart.
        let rooms = rooms.into_iter().filter(|room| *room != socket.inner.id).collect();
        KeptSession {
            pid: Arc::clone(pid),
            id: Arc::clone(&socket.inner.id),
            namespace: Arc::clone(&socket.inner.ns.name),
            rooms,
        }
    }

    /// The `{pid, offset}` of a CONNECT's auth, when recovery is on and it has both.
    pub(crate) fn asked(&self, auth: &Value) -> Option<(String, String)> {
        if !self.enabled() {
            return None;
        }
        let pid = auth.get("pid")?.as_str()?;
        let offset = auth.get("offset")?.as_str()?;
        Some((pid.to_owned(), offset.to_owned()))
    }

    /// The session a CONNECT names, with what it missed.
    pub(crate) async fn restore(&self, pid: &str, offset: &str, namespace: &str) -> Option<Restored> {
        self.store.restore(pid, offset, namespace).await
    }

    /// Restores, then runs `join` in the store's order.
    pub(crate) async fn restore_then(&self, pid: &str, offset: &str, namespace: &str, join: JoinFn) {
        self.store.restore_then(pid, offset, namespace, join).await;
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

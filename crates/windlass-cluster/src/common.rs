//! What the adapters share: the answers a request collects, ids, locks.

use std::sync::Mutex;

use windlass::event_server::{SocketInfo, Value};

/// What the answers to a request between nodes brought.
#[derive(Default)]
pub(crate) struct Collected {
    /// `fetch_sockets`: the sockets of every node that answered.
    pub(crate) sockets: Vec<SocketInfo>,
    /// `server_side_emit_with_ack`: one answer per node.
    pub(crate) answers: Vec<Value>,
}

/// A lock that a panic elsewhere does not poison for good.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `len` random characters from `[A-Za-z0-9]` (Node's `uid2`).
pub(crate) fn random_id(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0_u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back on the clock, still unique enough per process.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        bytes.iter_mut().enumerate().for_each(|(i, b)| *b = (nanos >> (i % 4 * 8)) as u8);
    }
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

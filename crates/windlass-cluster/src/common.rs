//! What the adapters share: requests waiting for answers, broadcasts waiting for
//! acknowledgements, another node's requests in socket.io-adapter's `ClusterAdapter` form,
//! ids, locks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use windlass::event_server::{AckReport, BroadcastOptions, Node, ServerAck, SocketInfo, Value};

use crate::wire::{BroadcastPacket, ClusterMessage, MessageType};

/// What the answers to a request between nodes brought.
#[derive(Default)]
pub(crate) struct Collected {
    /// `fetch_sockets`: the sockets of every node that answered.
    pub(crate) sockets: Vec<SocketInfo>,
    /// `server_side_emit_with_ack`: one answer per node.
    pub(crate) answers: Vec<Value>,
}

/// A request waiting for answers from other nodes.
pub(crate) struct Pending {
    /// The nodes that must answer, when membership names them; otherwise any node answers
    /// (once), up to `expected`.
    waiting: Option<HashSet<String>>,
    /// How many answers complete it (for pub/sub, known once the publish returned).
    expected: Option<usize>,
    answered: usize,
    /// Nodes that answered, to drop a second answer.
    seen: HashSet<String>,
    collected: Collected,
    done: Option<oneshot::Sender<Collected>>,
}

impl Pending {
    /// Waiting for each of `nodes`.
    pub(crate) fn of_nodes(nodes: HashSet<String>, done: oneshot::Sender<Collected>) -> Self {
        let mut pending = Self::counted(done);
        pending.expected = Some(nodes.len());
        pending.waiting = Some(nodes);
        pending
    }

    /// Waiting for a number of answers, told later by [`expect`](Self::expect).
    pub(crate) fn counted(done: oneshot::Sender<Collected>) -> Self {
        Self {
            waiting: None,
            expected: None,
            answered: 0,
            seen: HashSet::new(),
            collected: Collected::default(),
            done: Some(done),
        }
    }

    pub(crate) fn expect(&mut self, answers: usize) {
        self.expected = Some(answers);
        self.finish_if_complete();
    }

    pub(crate) fn answered(&self) -> usize {
        self.answered
    }

    /// An answer from node `uid` (`None`: Node's redis-adapter does not say whose); one not
    /// awaited, or a second one, is dropped.
    pub(crate) fn answer(&mut self, uid: Option<&str>, add: impl FnOnce(&mut Collected)) {
        if let Some(uid) = uid {
            let awaited = match &mut self.waiting {
                Some(waiting) => waiting.remove(uid),
                None => self.seen.insert(uid.to_owned()),
            };
            if !awaited {
                return;
            }
        }
        add(&mut self.collected);
        self.answered += 1;
        self.finish_if_complete();
    }

    fn finish_if_complete(&mut self) {
        if self.expected.is_some_and(|expected| self.answered >= expected)
            && let Some(done) = self.done.take()
        {
            let _ = done.send(std::mem::take(&mut self.collected));
        }
    }
}

/// A broadcast of this node waiting for acknowledgements from the other nodes.
pub(crate) struct AckWait {
    reports: mpsc::UnboundedSender<AckReport>,
    /// The nodes that got it, when membership names them (else any node reports, once).
    waiting: Option<HashSet<String>>,
    /// Nodes that said how many sockets they reached: their sockets' answers are passed on.
    counted: HashSet<String>,
}

impl AckWait {
    pub(crate) fn new(reports: mpsc::UnboundedSender<AckReport>, waiting: Option<HashSet<String>>) -> Self {
        Self { reports, waiting, counted: HashSet::new() }
    }

    /// A `BroadcastClientCount` or `BroadcastAck` message; false once the caller has stopped
    /// listening (the wait can be dropped).
    pub(crate) fn report(&mut self, message: &ClusterMessage) -> bool {
        let report = if message.kind == MessageType::BroadcastClientCount {
            let awaited = match &mut self.waiting {
                Some(waiting) => waiting.remove(&message.uid),
                None => !self.counted.contains(&message.uid),
            };
            if !awaited {
                return true;
            }
            self.counted.insert(message.uid.clone());
            AckReport::Sockets(message.client_count())
        } else {
            if !self.counted.contains(&message.uid) {
                return true;
            }
            AckReport::Answer(message.packet_value().cloned())
        };
        self.reports.send(report).is_ok()
    }
}

/// Runs `forget` once the caller of a broadcast with acknowledgements stops listening to
/// `reports` (it has every answer, or gave up).
pub(crate) fn forget_when_done(
    reports: mpsc::UnboundedSender<AckReport>,
    forget: impl FnOnce() + Send + 'static,
) {
    tokio::spawn(async move {
        reports.closed().await;
        forget();
    });
}

/// Sends an answer back to the node that asked.
pub(crate) type Respond = Arc<dyn Fn(ClusterMessage) + Send + Sync>;

/// Does here what another node asks in a `ClusterAdapter` message: joins, leaves and
/// disconnects sockets, answers `fetchSockets`, runs server-side events, delivers a broadcast
/// with acknowledgements; answers go through `respond`, written as node `uid`. False when
/// `message` is not such a request (a plain broadcast, a response, a heartbeat), which the
/// adapter handles itself.
pub(crate) fn apply_request(node: &Node, uid: &str, message: &ClusterMessage, respond: &Respond) -> bool {
    let nsp = message.nsp.as_str();
    match message.kind {
        MessageType::Broadcast => {
            let Some(request_id) = message.request_id() else { return false };
            let (packet, opts) = match message.broadcast_parts() {
                Ok(parts) => parts,
                Err(error) => {
                    tracing::warn!(%error, "cluster adapter: malformed broadcast skipped");
                    return true;
                }
            };
            let answer = {
                let (uid, nsp, request_id, respond) =
                    (uid.to_owned(), nsp.to_owned(), request_id.to_owned(), Arc::clone(respond));
                move |answer| respond(ClusterMessage::broadcast_ack(&uid, &nsp, &request_id, answer))
            };
            node.broadcast_with_ack(
                nsp,
                &packet,
                &opts,
                |count| respond(ClusterMessage::broadcast_client_count(uid, nsp, request_id, count)),
                answer,
            );
        }
        MessageType::SocketsJoin | MessageType::SocketsLeave | MessageType::DisconnectSockets => {
            let (opts, rooms, close) = message.sockets_parts();
            match message.kind {
                MessageType::SocketsJoin => node.add_sockets(nsp, &opts, &rooms),
                MessageType::SocketsLeave => node.del_sockets(nsp, &opts, &rooms),
                _ => node.disconnect_sockets(nsp, &opts, close),
            }
        }
        MessageType::FetchSockets => {
            if let Some(request_id) = message.request_id() {
                let (opts, _, _) = message.sockets_parts();
                let sockets = node.sockets(nsp, &opts);
                respond(ClusterMessage::fetch_sockets_response(uid, nsp, request_id, &sockets));
            }
        }
        MessageType::ServerSideEmit => {
            let Some(Value::Array(args)) = message.packet_value().cloned() else { return true };
            let ack = message.request_id().map(|request_id| {
                let (uid, nsp, request_id, respond) =
                    (uid.to_owned(), nsp.to_owned(), request_id.to_owned(), Arc::clone(respond));
                Box::new(move |answer: Value| {
                    respond(ClusterMessage::server_side_emit_response(&uid, &nsp, &request_id, answer));
                }) as ServerAck
            });
            node.server_side_event(nsp, args, ack);
        }
        _ => return false,
    }
    true
}

/// Applies an answer to one of this node's requests (`fetchSockets`, server-side emits) or
/// broadcasts with acknowledgements; false when `message` is not an answer.
pub(crate) fn apply_answer(
    acks: &Mutex<HashMap<String, AckWait>>,
    pending: &Mutex<HashMap<String, Pending>>,
    message: &ClusterMessage,
) -> bool {
    let Some(request_id) = message.request_id() else { return false };
    match message.kind {
        MessageType::BroadcastClientCount | MessageType::BroadcastAck => {
            let mut acks = lock(acks);
            if let Some(wait) = acks.get_mut(request_id)
                && !wait.report(message)
            {
                acks.remove(request_id);
            }
        }
        MessageType::FetchSocketsResponse | MessageType::ServerSideEmitResponse => {
            if let Some(request) = lock(pending).get_mut(request_id) {
                request.answer(Some(&message.uid), |collected| {
                    if message.kind == MessageType::FetchSocketsResponse {
                        collected.sockets.extend(message.sockets_of_response());
                    } else {
                        collected.answers.push(message.packet_value().cloned().unwrap_or_default());
                    }
                });
            }
        }
        _ => return false,
    }
    true
}

/// Delivers a broadcast another node made to this node's sockets in `nsp`; read from a log,
/// at `offset` (appended for recovery).
pub(crate) fn deliver(
    node: &Node,
    nsp: &str,
    packet: BroadcastPacket,
    opts: &BroadcastOptions,
    offset: Option<&str>,
) {
    match (packet, offset) {
        (BroadcastPacket::Built(packet), Some(offset)) => node.broadcast_at(nsp, packet, opts, offset),
        (BroadcastPacket::Built(packet), None) => node.broadcast(nsp, &packet, opts),
        (BroadcastPacket::Text(text), Some(offset)) => node.broadcast_text_at(nsp, text, opts, offset),
        (BroadcastPacket::Text(text), None) => node.broadcast_text(nsp, text, opts),
    }
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

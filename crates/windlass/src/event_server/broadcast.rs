//! Broadcasts: one packet, encoded once, to the sockets of some rooms.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut as _, BytesMut};
use serde::Serialize;
use windlass_sio_proto::socket::Packet;

use super::Value;
use super::ack::AckError;
use super::adapter::{AckReport, AckReports, Adapter, BroadcastOptions, ClusterError, SocketInfo};
use super::engine::session::Outgoing;
use super::namespace::NsInner;
use super::socket::{EmitError, Socket, check_event};

/// Encodes a Socket.IO packet as the Engine.IO messages that carry it: `4` + its text, then
/// its binary attachments. Done once per broadcast; every recipient gets the same bytes.
pub(crate) fn encode(packet: &Packet) -> Vec<Outgoing> {
    let mut text = BytesMut::with_capacity(64);
    text.put_u8(b'4');
    let attachments = packet.encode_into(&mut text);
    let mut out = Vec::with_capacity(1 + attachments.len());
    out.push(Outgoing::Text(text.freeze()));
    out.extend(attachments.into_iter().map(Outgoing::Binary));
    out
}

/// A socket sent a packet with an ack id, and where its answer will come.
pub(crate) type AwaitedAck = (Socket, tokio::sync::oneshot::Receiver<Vec<Value>>);

/// Reads the other nodes' reports of a broadcast with acknowledgements until every node that
/// got it has said how many sockets it reached and all of those have answered.
async fn collect_remote(mut reports: AckReports, answers: &mut Vec<Vec<Value>>) -> Result<(), AckError> {
    let mut nodes = None;
    let (mut counted, mut expected, mut answered) = (0, 0, 0);
    while nodes.is_none_or(|n| counted < n) || answered < expected {
        match reports.recv().await {
            Some(AckReport::Nodes(n)) => nodes = Some(n),
            Some(AckReport::Sockets(n)) => {
                counted += 1;
                expected += n;
            }
            Some(AckReport::Answer(answer)) => {
                answered += 1;
                answers.push(answer.into_iter().collect());
            }
            Some(AckReport::Failed(error)) => return Err(error.into()),
            None => return Err(ClusterError::Closed.into()),
        }
    }
    Ok(())
}

/// A broadcast being aimed: Node's `io.to(room).except(other)`, `socket.broadcast`.
///
/// Reaches this node's sockets, then, through the server's [`Adapter`](super::Adapter), the
/// other nodes' (unless [`local`](Self::local)).
#[derive(Clone)]
pub struct BroadcastOperator {
    ns: Arc<NsInner>,
    opts: BroadcastOptions,
}

impl std::fmt::Debug for BroadcastOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastOperator")
            .field("nsp", &self.ns.name)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<NsInner>) -> Self {
        Self { ns, opts: BroadcastOptions::default() }
    }

    pub(crate) fn with_options(ns: Arc<NsInner>, opts: BroadcastOptions) -> Self {
        Self { ns, opts }
    }

    /// Also to the sockets in `room` (the union of every room given, each socket once).
    pub fn to(mut self, room: impl Into<String>) -> Self {
        let room: Arc<str> = Arc::from(room.into());
        if !self.opts.rooms.contains(&room) {
            self.opts.rooms.push(room);
        }
        self
    }

    /// Same as [`to`](Self::to) (Node's `in`).
    pub fn within(self, room: impl Into<String>) -> Self {
        self.to(room)
    }

    /// Leaves out the sockets in `room`.
    pub fn except(mut self, room: impl Into<String>) -> Self {
        self.opts.except.push(Arc::from(room.into()));
        self
    }

    /// The packet may be lost: not kept for recovery, and dropped for a client that is not
    /// keeping up (Node's `volatile`).
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Whether to compress the packet on WebSocket transports that agreed on
    /// permessage-deflate (Node's `compress`); default true.
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = compress;
        self
    }

    /// This node only: the adapter is not told (Node's `local`).
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for the answers.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// Whom this broadcast is aimed at, and how.
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    /// Emits `event` with one argument to every socket aimed at. `data` is serialized into a
    /// [`Value`]; a `Value` you own goes out without that copy through
    /// [`emit_args`](Self::emit_args).
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_args(event, vec![windlass_sio_proto::to_value(data)?])
    }

    /// Emits `event` with any number of arguments.
    pub fn emit_args(&self, event: &str, mut args: Vec<Value>) -> Result<(), EmitError> {
        check_event(event)?;
        let io = self.ns.io.upgrade();
        if let Some(io) = &io
            && !self.opts.flags.local
            && io.adapter.orders_broadcasts()
        {
            // The adapter's log delivers it, here too, with its offset.
            let packet = Packet::event(self.ns.name.to_string(), event, args);
            io.adapter.broadcast(&self.ns.name, &packet, &self.opts);
            return Ok(());
        }
        let recovery = io.as_ref().filter(|io| !self.opts.flags.volatile && io.recovery.enabled());
        let offset = recovery.map(|io| {
            // Kept with a fresh offset, which the client gets as the last argument.
            let offset = io.recovery.next_offset();
            args.push(Value::String(offset.clone()));
            offset
        });
        let packet = Packet::event(self.ns.name.to_string(), event, args);
        self.deliver_packet(&packet);
        if let Some(io) = &io
            && !self.opts.flags.local
        {
            io.adapter.broadcast(&self.ns.name, &packet, &self.opts);
        }
        if let (Some(io), Some(offset)) = (recovery, offset) {
            io.recovery.store(offset, packet, &self.opts.rooms, &self.opts.except);
        }
        Ok(())
    }

    /// Delivers `packet` to this node's sockets aimed at, encoded once for all of them (and
    /// not at all when there are none here: a room whose members are on other nodes).
    pub(crate) fn deliver_packet(&self, packet: &Packet) {
        self.deliver_with(|| encode(packet));
    }

    /// [`deliver_packet`](Self::deliver_packet) of a packet already written as the Engine.IO
    /// message that carries it.
    pub(crate) fn deliver_text(&self, text: &bytes::Bytes) {
        self.deliver_with(|| [Outgoing::Text(text.clone())]);
    }

    /// Sends the messages `encode` makes, made once, to every socket aimed at here.
    fn deliver_with<M: AsRef<[Outgoing]>>(&self, encode: impl FnOnce() -> M) {
        let targets = self.ns.targets(&self.opts.rooms, &self.opts.except);
        if targets.is_empty() {
            return;
        }
        let encoded = encode();
        let flags = self.opts.flags;
        for socket in targets {
            let messages = encoded.as_ref().iter().cloned();
            if flags.volatile {
                socket.inner.client.session.send_volatile(messages);
            } else {
                socket.inner.client.session.send_with(messages, flags.compress);
            }
        }
    }

    /// Emits `event` with `data` and collects one acknowledgement per socket reached, on
    /// every node, in no particular order; [`AckError::Timeout`] if any is missing when the
    /// time limit (default 10 s) passes, [`AckError::Cluster`] if the cluster cannot say who
    /// got it. An answer from another node carries its first argument only (as Node's wire).
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<Vec<Value>>, AckError> {
        check_event(event)?;
        let args = vec![windlass_sio_proto::to_value(data)?];
        let packet = Packet::event(self.ns.name.to_string(), event, args);
        let (id, waits) = self.send_with_ack(packet.clone());
        let timeout = self.ack_timeout();
        let remote = self.adapter().and_then(|adapter| {
            let mut opts = self.opts.clone();
            opts.flags.timeout = Some(timeout);
            adapter.broadcast_with_ack(&self.ns.name, &packet, &opts)
        });
        let sockets: Vec<Socket> = waits.iter().map(|(socket, _)| socket.clone()).collect();
        let collect = async {
            let mut answers = Vec::with_capacity(waits.len());
            for (socket, answer) in waits {
                answers.push(socket.inner.acks.wait(id, answer, None).await?);
            }
            if let Some(reports) = remote {
                collect_remote(reports, &mut answers).await?;
            }
            Ok(answers)
        };
        let outcome = tokio::time::timeout(timeout, collect).await.unwrap_or(Err(AckError::Timeout));
        if outcome.is_err() {
            for socket in &sockets {
                socket.inner.acks.forget(id);
            }
        }
        outcome
    }

    /// Sends `packet` with a fresh ack id to this node's sockets aimed at, encoded once:
    /// the id, and what each socket's answer will come through.
    pub(crate) fn send_with_ack(&self, packet: Packet) -> (u64, Vec<AwaitedAck>) {
        let id = self.ns.next_ack_id();
        let targets = self.sockets();
        if targets.is_empty() {
            return (id, Vec::new());
        }
        let encoded = encode(&packet.with_id(id));
        let waits = targets
            .into_iter()
            .map(|socket| {
                let answer = socket.inner.acks.register(id);
                socket.inner.client.session.send(encoded.iter().cloned());
                (socket, answer)
            })
            .collect();
        (id, waits)
    }

    /// How long acknowledgements are waited for: the [`timeout`](Self::timeout) set, else the
    /// server's default.
    pub(crate) fn ack_timeout(&self) -> Duration {
        self.opts.flags.timeout.unwrap_or_else(|| {
            self.ns.io.upgrade().map_or(Duration::from_secs(10), |io| io.config.default_ack_timeout)
        })
    }

    /// This node's sockets aimed at.
    pub fn sockets(&self) -> Vec<Socket> {
        self.ns.targets(&self.opts.rooms, &self.opts.except)
    }

    pub(crate) fn local_infos(&self) -> Vec<SocketInfo> {
        self.sockets().iter().map(Socket::info).collect()
    }

    /// The sockets aimed at on every node (Node's `fetchSockets`): this node's, then the
    /// others' as the adapter reports them. An error rather than a partial list when a node
    /// the cluster knows of does not answer.
    pub async fn fetch_sockets(&self) -> Result<Vec<SocketInfo>, ClusterError> {
        let mut all = self.local_infos();
        if let Some(io) = self.ns.io.upgrade()
            && !self.opts.flags.local
        {
            all.extend(io.adapter.fetch_sockets(&self.ns.name, &self.opts).await?);
        }
        Ok(all)
    }

    fn adapter(&self) -> Option<Arc<dyn Adapter>> {
        if self.opts.flags.local {
            return None;
        }
        self.ns.io.upgrade().map(|io| Arc::clone(&io.adapter))
    }

    /// Makes every socket aimed at join `room`, on every node (Node's `socketsJoin`).
    pub fn join(&self, room: &str) {
        for socket in self.sockets() {
            socket.join(room);
        }
        if let Some(adapter) = self.adapter() {
            adapter.add_sockets(&self.ns.name, &self.opts, &[Arc::from(room)]);
        }
    }

    /// Makes every socket aimed at leave `room`, on every node (Node's `socketsLeave`).
    pub fn leave(&self, room: &str) {
        for socket in self.sockets() {
            socket.leave(room);
        }
        if let Some(adapter) = self.adapter() {
            adapter.del_sockets(&self.ns.name, &self.opts, &[Arc::from(room)]);
        }
    }

    /// Disconnects every socket aimed at, on every node (with `close`, their connections
    /// too; Node's `disconnectSockets`).
    pub fn disconnect(&self, close: bool) {
        for socket in self.sockets() {
            socket.disconnect(close);
        }
        if let Some(adapter) = self.adapter() {
            adapter.disconnect_sockets(&self.ns.name, &self.opts, close);
        }
    }
}

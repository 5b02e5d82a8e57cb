//! Broadcasts: one packet, encoded once, to the sockets of some rooms.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut as _, BytesMut};
use serde::Serialize;
use windlass_sio_proto::socket::Packet;

use super::Value;
use super::ack::AckError;
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

/// A broadcast being aimed: Node's `io.to(room).except(other)`, `socket.broadcast`.
#[derive(Clone)]
pub struct BroadcastOperator {
    ns: Arc<NsInner>,
    rooms: Vec<Arc<str>>,
    except: Vec<Arc<str>>,
    volatile: bool,
    compress: bool,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for BroadcastOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastOperator")
            .field("nsp", &self.ns.name)
            .field("rooms", &self.rooms)
            .field("except", &self.except)
            .field("volatile", &self.volatile)
            .finish_non_exhaustive()
    }
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<NsInner>) -> Self {
        Self { ns, rooms: Vec::new(), except: Vec::new(), volatile: false, compress: true, timeout: None }
    }

    /// Also to the sockets in `room` (the union of every room given, each socket once).
    pub fn to(mut self, room: impl Into<String>) -> Self {
        let room: Arc<str> = Arc::from(room.into());
        if !self.rooms.contains(&room) {
            self.rooms.push(room);
        }
        self
    }

    /// Same as [`to`](Self::to) (Node's `in`).
    pub fn within(self, room: impl Into<String>) -> Self {
        self.to(room)
    }

    /// Leaves out the sockets in `room`.
    pub fn except(mut self, room: impl Into<String>) -> Self {
        self.except.push(Arc::from(room.into()));
        self
    }

    /// The packet may be lost: not kept for recovery, and dropped for a client that is not
    /// keeping up (Node's `volatile`).
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Whether to compress the packet on WebSocket transports that agreed on
    /// permessage-deflate (Node's `compress`); default true.
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// This node only. (One node is all there is without a cluster adapter.)
    pub fn local(self) -> Self {
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for the answers.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Emits `event` with one argument to every socket aimed at.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_args(event, vec![windlass_sio_proto::to_value(data)?])
    }

    /// Emits `event` with any number of arguments.
    pub fn emit_args(&self, event: &str, mut args: Vec<Value>) -> Result<(), EmitError> {
        check_event(event)?;
        if !self.volatile
            && let Some(io) = self.ns.io.upgrade()
            && io.recovery.enabled()
        {
            // Kept with a fresh offset, which the client gets as the last argument.
            let offset = io.recovery.next_offset();
            args.push(Value::String(offset.clone()));
            let packet = Packet::event(self.ns.name.to_string(), event, args);
            let encoded = encode(&packet);
            io.recovery.store(offset, packet, &self.rooms, &self.except);
            self.deliver(&encoded);
            return Ok(());
        }
        let encoded = encode(&Packet::event(self.ns.name.to_string(), event, args));
        self.deliver(&encoded);
        Ok(())
    }

    fn deliver(&self, encoded: &[Outgoing]) {
        for socket in self.ns.targets(&self.rooms, &self.except) {
            if self.volatile {
                socket.inner.client.session.send_volatile(encoded.iter().cloned());
            } else {
                socket.inner.client.session.send_with(encoded.iter().cloned(), self.compress);
            }
        }
    }

    /// Emits `event` with `data` and collects one acknowledgement per socket reached, in
    /// no particular order; [`AckError::Timeout`] if any is missing when the time limit
    /// (default 10 s) passes.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<Vec<Value>>, AckError> {
        check_event(event)?;
        let args = vec![windlass_sio_proto::to_value(data)?];
        let id = self.ns.next_ack_id();
        let encoded = encode(&Packet::event(self.ns.name.to_string(), event, args).with_id(id));
        let targets = self.ns.targets(&self.rooms, &self.except);
        let mut waits = Vec::with_capacity(targets.len());
        for socket in &targets {
            let answer = socket.inner.acks.register(id);
            socket.inner.client.session.send(encoded.iter().cloned());
            waits.push((socket.clone(), answer));
        }
        let timeout = self.timeout.unwrap_or_else(|| {
            self.ns.io.upgrade().map_or(Duration::from_secs(10), |io| io.config.default_ack_timeout)
        });
        let collect = async {
            let mut answers = Vec::with_capacity(waits.len());
            for (socket, answer) in waits {
                answers.push(socket.inner.acks.wait(id, answer, None).await?);
            }
            Ok(answers)
        };
        let Ok(answers) = tokio::time::timeout(timeout, collect).await else {
            for socket in &targets {
                socket.inner.acks.forget(id);
            }
            return Err(AckError::Timeout);
        };
        answers
    }

    /// The sockets aimed at (Node's `fetchSockets`).
    pub fn sockets(&self) -> Vec<Socket> {
        self.ns.targets(&self.rooms, &self.except)
    }

    /// Makes every socket aimed at join `room`.
    pub fn join(&self, room: &str) {
        for socket in self.sockets() {
            socket.join(room);
        }
    }

    /// Makes every socket aimed at leave `room`.
    pub fn leave(&self, room: &str) {
        for socket in self.sockets() {
            socket.leave(room);
        }
    }

    /// Disconnects every socket aimed at (with `close`, their connections too).
    pub fn disconnect(&self, close: bool) {
        for socket in self.sockets() {
            socket.disconnect(close);
        }
    }
}

//! An event from a client, with its acknowledgement.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use windlass_sio_proto::socket::Packet;

use super::Value;
use super::socket::{EmitError, Socket};

/// An event a client emitted: its name, its arguments, and the acknowledgement it asked for.
///
/// Every handler of the event gets a clone; the acknowledgement is sent once, by whichever
/// calls [`ack`](Self::ack) first.
#[derive(Clone)]
pub struct Event {
    name: String,
    args: Vec<Value>,
    ack: Option<Arc<AckSlot>>,
}

struct AckSlot {
    socket: Socket,
    id: u64,
    sent: AtomicBool,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .field("args", &self.args)
            .field("ack", &self.ack.as_ref().map(|slot| slot.id))
            .finish()
    }
}

impl Event {
    pub(crate) fn new(name: String, args: Vec<Value>, ack: Option<(Socket, u64)>) -> Self {
        let ack = ack.map(|(socket, id)| Arc::new(AckSlot { socket, id, sent: AtomicBool::new(false) }));
        Self { name, args, ack }
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments, binary values in place.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// Takes the arguments out (the event keeps none).
    pub fn take_args(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.args)
    }

    /// The first argument as a `T` (`Bytes` for binary, any serde type for JSON).
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, windlass_sio_proto::ValueError> {
        self.arg(0)
    }

    /// Argument `index` as a `T`; a missing argument reads as `null`.
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, windlass_sio_proto::ValueError> {
        windlass_sio_proto::from_value(self.args.get(index).cloned().unwrap_or(Value::Null))
    }

    /// Whether the client asked for an acknowledgement.
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// Acknowledges with one argument, `data`. Does nothing if no acknowledgement was asked
    /// for or one was sent already.
    pub fn ack<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.ack_args(vec![windlass_sio_proto::to_value(data)?])
    }

    /// Acknowledges with any number of arguments (none for an empty ack).
    pub fn ack_args(&self, args: Vec<Value>) -> Result<(), EmitError> {
        let Some(slot) = &self.ack else {
            return Ok(());
        };
        if slot.sent.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if !slot.socket.connected() {
            return Err(EmitError::Disconnected);
        }
        slot.socket.send_packet(&Packet::ack(slot.socket.namespace().name().to_owned(), slot.id, args));
        Ok(())
    }
}

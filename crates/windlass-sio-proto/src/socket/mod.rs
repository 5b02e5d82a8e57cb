//! Socket.IO v5: namespaces, events, acknowledgements and binary attachments.
//!
//! A packet's text rides in an Engine.IO message (`4` + text); its binary values follow as
//! separate binary messages ("attachments"), and the JSON holds
//! `{"_placeholder":true,"num":N}` where each was. [`Packet::encode`] does that split,
//! [`Decoder`] (or [`decode`] and [`BinaryAssembler`]) puts packets back together, with
//! socket.io-parser 4.2's validation.
//!
//! ```
//! use bytes::Bytes;
//! use windlass_sio_proto::{Value, socket::{Packet, Decoder}};
//!
//! let packet = Packet::event("/", "message", vec![Value::Binary(Bytes::from_static(&[1, 2]))]);
//! let encoded = packet.encode();
//! assert_eq!(encoded.text, r#"51-["message",{"_placeholder":true,"num":0}]"#);
//!
//! let mut decoder = Decoder::default();
//! assert_eq!(decoder.decode_text(encoded.text.clone())?, None); // waits for 1 attachment
//! assert_eq!(decoder.decode_binary(encoded.attachments[0].clone())?, Some(packet));
//! # Ok::<(), windlass_sio_proto::socket::DecodeError>(())
//! ```

mod decode;
mod encode;

use crate::{Utf8Bytes, Value};

pub use decode::{Assembly, BinaryAssembler, DecodeError, Decoded, Decoder, DecoderConfig, decode};
pub use encode::{Encoded, write_head};

/// The Socket.IO packet types (the first character of a packet's text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: join a namespace (client, with auth data) / joined (server, with `{"sid"}`).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event: `["name", args…]`.
    Event = 2,
    /// `3`: an acknowledgement: `[args…]` with the event's id.
    Ack = 3,
    /// `4`: a refused namespace join: `{"message", "data"?}`.
    ConnectError = 4,
    /// `5`: an event with binary attachments (wire only: decoded packets are [`Event`](Self::Event)).
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments (wire only: decoded packets are [`Ack`](Self::Ack)).
    BinaryAck = 6,
}

impl PacketType {
    /// The type for a digit `'0'`–`'6'`.
    pub fn from_char(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The digit this type is written as.
    pub fn as_char(self) -> u8 {
        b'0' + self as u8
    }
}

/// Event names socket.io-parser refuses in an event packet.
pub const RESERVED_EVENTS: [&str; 6] =
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

/// One Socket.IO packet, binary values in place.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// The type. Encoding picks [`BinaryEvent`](PacketType::BinaryEvent) /
    /// [`BinaryAck`](PacketType::BinaryAck) by itself when the data holds binary; decoding
    /// gives [`Event`](PacketType::Event) / [`Ack`](PacketType::Ack) for those.
    pub kind: PacketType,
    /// The namespace, `/` by default (and then not written). It must start with `/` and hold
    /// no `,`, or a peer will read it differently.
    pub namespace: Utf8Bytes,
    /// The acknowledgement id: on an event, the sender wants an [`Ack`](PacketType::Ack) with
    /// this id. At most [`MAX_SAFE_INTEGER`](crate::MAX_SAFE_INTEGER) to decode.
    pub id: Option<u64>,
    /// The payload: an object for Connect, nothing for Disconnect, an array for Event (name
    /// first) and Ack, a string or object for `ConnectError`.
    pub data: Option<Value>,
}

/// The default namespace.
pub const ROOT_NAMESPACE: &str = "/";

impl Packet {
    /// A packet of `kind` on `namespace` with `data`.
    pub fn new(kind: PacketType, namespace: impl Into<Utf8Bytes>, data: Option<Value>) -> Self {
        Self { kind, namespace: namespace.into(), id: None, data }
    }

    /// `CONNECT` with optional auth data (client) or `{"sid"}` (server).
    pub fn connect(namespace: impl Into<Utf8Bytes>, data: Option<Value>) -> Self {
        Self::new(PacketType::Connect, namespace, data)
    }

    /// `DISCONNECT` from `namespace`.
    pub fn disconnect(namespace: impl Into<Utf8Bytes>) -> Self {
        Self::new(PacketType::Disconnect, namespace, None)
    }

    /// An event `name` with `args`: data `["name", args…]`.
    pub fn event(namespace: impl Into<Utf8Bytes>, name: impl Into<String>, args: Vec<Value>) -> Self {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(name.into()));
        data.extend(args);
        Self::new(PacketType::Event, namespace, Some(Value::Array(data)))
    }

    /// The acknowledgement of event `id` with `args`.
    pub fn ack(namespace: impl Into<Utf8Bytes>, id: u64, args: Vec<Value>) -> Self {
        Self { id: Some(id), ..Self::new(PacketType::Ack, namespace, Some(Value::Array(args))) }
    }

    /// `CONNECT_ERROR` as Node's server sends it: `{"message":…}` plus `"data"` if given.
    pub fn connect_error(namespace: impl Into<Utf8Bytes>, message: &str, data: Option<Value>) -> Self {
        let mut map = crate::Map::with_capacity(2);
        map.insert("message", Value::from(message));
        if let Some(data) = data {
            map.insert("data", data);
        }
        Self::new(PacketType::ConnectError, namespace, Some(Value::Object(map)))
    }

    /// This packet with ack id `id`.
    pub fn with_id(self, id: u64) -> Self {
        Self { id: Some(id), ..self }
    }

    /// The event name of an event packet (a numeric name as JS would print it).
    pub fn event_name(&self) -> Option<String> {
        match (self.kind, self.data.as_ref()?.as_array()?.first()?) {
            (PacketType::Event | PacketType::BinaryEvent, Value::String(s)) => Some(s.clone()),
            (PacketType::Event | PacketType::BinaryEvent, Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Takes an event packet apart: its name and its arguments (without the name). `None` for
    /// other packets and events without a name.
    pub fn into_event(self) -> Option<(String, Vec<Value>)> {
        let name = self.event_name()?;
        let Some(Value::Array(mut items)) = self.data else { return None };
        items.remove(0);
        Some((name, items))
    }
}

#[cfg(test)]
mod tests;

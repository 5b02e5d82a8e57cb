//! Engine.IO v4: the transport packets under Socket.IO.
//!
//! A packet is a type digit and an optional text payload (`4hello`, `2`, `2probe`), or a binary
//! message. Over WebSocket each packet is one frame: text packets as text frames, binary
//! messages as binary frames ([`Packet::decode_frame`], [`Packet::to_frame`]). Over HTTP
//! long-polling a body holds packets separated by `\x1e`, binary messages as `b` + base64
//! ([`decode_payload`], [`encode_payload`]). The behaviour is engine.io-parser 5.2's
//! (Node engine.io 6.6), including what it treats as an error: Node closes the session with
//! reason `"parse error"` on a [`ParseError`].
//!
//! The handshake and the HTTP side live in [`handshake`]: the open packet ([`OpenPacket`]), the
//! query string ([`EngineQuery`]) and the 400 error codes ([`ErrorCode`]).

mod base64;
pub mod handshake;
mod payload;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Utf8Bytes;

pub use handshake::{EngineQuery, ErrorCode, OpenPacket, Transport, Verified, query_pairs};
pub use payload::{PayloadPackets, SEPARATOR, decode_payload, encode_payload};

/// The Engine.IO packet types (the first character of a text packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: the server's handshake, with the [`OpenPacket`] JSON.
    Open = 0,
    /// `1`: either side closes the session.
    Close = 1,
    /// `2`: heartbeat from the server (v4), or `2probe` from a client testing a WebSocket.
    Ping = 2,
    /// `3`: heartbeat answer from the client, or `3probe` from the server.
    Pong = 3,
    /// `4`: a message (the Socket.IO packets ride in these).
    Message = 4,
    /// `5`: the client switches to the probed WebSocket.
    Upgrade = 5,
    /// `6`: sent on the old polling transport to let a pending GET finish during an upgrade.
    Noop = 6,
}

impl PacketType {
    /// The type for a digit `'0'`–`'6'`.
    pub fn from_char(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }

    /// The digit this type is written as.
    pub fn as_char(self) -> u8 {
        b'0' + self as u8
    }
}

/// What a packet carries.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Data {
    /// Nothing: `2`, `6`, `4` alone.
    #[default]
    None,
    /// Text after the type digit (`hello` in `4hello`, `probe` in `2probe`).
    Text(Utf8Bytes),
    /// A binary message. Engine.IO has no type for binary packets: whatever the packet's
    /// [`kind`](Packet::kind), binary data is sent as a binary message, as Node does.
    Binary(Bytes),
}

/// One Engine.IO packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The packet type.
    pub kind: PacketType,
    /// The payload.
    pub data: Data,
}

/// A WebSocket message carrying one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

/// A packet Node's engine.io-parser would decode as its `error` packet; Node then closes the
/// session with reason `"parse error"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// An empty text packet (also an empty polling body, or an empty piece between `\x1e`s).
    #[error("empty packet")]
    Empty,
    /// The first character is not `0`–`6` or `b`.
    #[error("unknown packet type")]
    UnknownType,
}

impl Packet {
    /// A packet without payload (`2`, `6`).
    pub const fn empty(kind: PacketType) -> Self {
        Self { kind, data: Data::None }
    }

    /// A packet with a text payload.
    pub fn text(kind: PacketType, text: impl Into<Utf8Bytes>) -> Self {
        Self { kind, data: Data::Text(text.into()) }
    }

    /// A text message (`4` + text): how a Socket.IO packet's text travels.
    pub fn message(text: impl Into<Utf8Bytes>) -> Self {
        Self::text(PacketType::Message, text)
    }

    /// A binary message (a Socket.IO attachment).
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Self { kind: PacketType::Message, data: Data::Binary(bytes.into()) }
    }

    /// The packet type.
    pub fn kind(&self) -> PacketType {
        self.kind
    }

    /// The text payload, if any.
    pub fn text_data(&self) -> Option<&str> {
        match &self.data {
            Data::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Whether this is `2probe` / `3probe` (or another type with payload `probe`).
    pub fn is_probe(&self) -> bool {
        self.text_data() == Some("probe")
    }

    /// Decodes a WebSocket message. Binary frames are binary messages; text frames are a type
    /// digit and payload, or `b` + base64 for a binary message (Node decodes that form on both
    /// transports, with Node's lenient base64: see [`decode_payload`]).
    pub fn decode_frame(frame: Frame) -> Result<Self, ParseError> {
        match frame {
            Frame::Text(text) => Self::decode_text(text),
            Frame::Binary(bytes) => Ok(Self::binary(bytes)),
        }
    }

    /// Decodes one text packet; the payload shares `text`'s buffer.
    // By value: the packet keeps a slice of the frame's buffer.
    #[allow(clippy::needless_pass_by_value)]
    pub fn decode_text(text: Utf8Bytes) -> Result<Self, ParseError> {
        let first = *text.as_bytes().first().ok_or(ParseError::Empty)?;
        if first == b'b' {
            return Ok(Self::binary(base64::decode_lenient(&text.as_bytes()[1..])));
        }
        let kind = PacketType::from_char(first).ok_or(ParseError::UnknownType)?;
        let data = if text.len() > 1 {
            // After an ASCII byte: a char boundary.
            Data::Text(text.slice(1, text.len()).unwrap_or_default())
        } else {
            Data::None
        };
        Ok(Self { kind, data })
    }

    /// The WebSocket message for this packet: a binary frame (the same bytes, no copy) for
    /// binary data, else a text frame with the type digit and the text.
    pub fn to_frame(&self) -> Frame {
        match &self.data {
            Data::Binary(bytes) => Frame::Binary(bytes.clone()),
            Data::None | Data::Text(_) => {
                let mut out = BytesMut::with_capacity(1 + self.text_len());
                self.encode_text_into(&mut out);
                Frame::Text(Utf8Bytes::from_utf8(out.freeze()).unwrap_or_default())
            }
        }
    }

    fn text_len(&self) -> usize {
        match &self.data {
            Data::Text(text) => text.len(),
            _ => 0,
        }
    }

    /// Appends the packet's text form to `out`: the type digit and text, or `b` + base64 for
    /// binary data (the long-polling form, padded as Node's `Buffer#toString("base64")`).
    pub fn encode_text_into(&self, out: &mut BytesMut) {
        match &self.data {
            Data::None => out.put_u8(self.kind.as_char()),
            Data::Text(text) => {
                out.reserve(1 + text.len());
                out.put_u8(self.kind.as_char());
                out.put_slice(text.as_bytes());
            }
            Data::Binary(bytes) => {
                out.put_u8(b'b');
                base64::encode_into(bytes, out);
            }
        }
    }
}

#[cfg(test)]
mod tests;

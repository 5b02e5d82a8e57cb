//! Text and attachments → packets, with socket.io-parser 4.2's validation.

use bytes::Bytes;

use super::{Packet, PacketType, RESERVED_EVENTS};
use crate::Utf8Bytes;
use crate::value::{DEFAULT_MAX_DEPTH, JsonError, MAX_SAFE_INTEGER, Value, parse_json};

/// Limits for decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Most attachments one packet may announce. Default 10, socket.io-parser's
    /// `maxAttachments`: the count is checked before anything is reserved, so `5999999999-`
    /// costs nothing.
    pub max_attachments: usize,
    /// Deepest nesting of arrays and objects in the JSON. Default
    /// [`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH) (128).
    pub max_depth: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self { max_attachments: 10, max_depth: DEFAULT_MAX_DEPTH }
    }
}

/// Input socket.io-parser refuses; Node's server then closes the connection
/// (`"parse error"`). Messages follow Node's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first character is not `0`–`6`.
    #[error("unknown packet type")]
    UnknownType,
    /// A binary packet's count is not digits ending in `-`, or is 0.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// A binary packet announces more attachments than allowed.
    #[error("too many attachments")]
    TooManyAttachments,
    /// The ack id is beyond JS's safe integers (Node would round it).
    #[error("invalid ack id")]
    InvalidId,
    /// The payload is not JSON.
    #[error("invalid payload: {0}")]
    Json(#[from] JsonError),
    /// The payload is JSON of the wrong shape for the packet type (`2{}`, `2[]`,
    /// `2["connect"]`, `0null`, `1x`), or there is whitespace between the header and it.
    #[error("invalid payload")]
    InvalidPayload,
    /// A placeholder's `num` is not an integer below the attachment count.
    #[error("illegal attachments")]
    IllegalPlaceholder,
    /// A text packet came while attachments were awaited.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
    /// A binary message came while no attachment was awaited.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
}

/// What one text packet decodes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A whole packet.
    Packet(Packet),
    /// A binary packet whose attachments follow.
    Binary(BinaryAssembler),
}

/// A binary event or ack waiting for its attachments.
///
/// Every placeholder was checked when the text was decoded, so pushing attachments cannot
/// fail; Node checks them when the last attachment arrives, with the same outcome. As in Node,
/// an attachment no placeholder names is accepted and dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryAssembler {
    packet: Packet,
    expected: usize,
    attachments: Vec<Bytes>,
}

/// The state of a [`BinaryAssembler`] after an attachment.
#[derive(Debug, Clone, PartialEq)]
pub enum Assembly {
    /// More attachments are expected.
    Incomplete(BinaryAssembler),
    /// The packet, placeholders replaced by the attachments.
    Complete(Packet),
}

impl BinaryAssembler {
    /// How many attachments the packet announced.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// How many have arrived.
    pub fn received(&self) -> usize {
        self.attachments.len()
    }

    /// Takes the next attachment.
    pub fn push(mut self, attachment: Bytes) -> Assembly {
        self.attachments.push(attachment);
        if self.attachments.len() < self.expected {
            return Assembly::Incomplete(self);
        }
        if let Some(data) = &mut self.packet.data {
            fill_placeholders(data, &self.attachments);
        }
        Assembly::Complete(self.packet)
    }
}

/// Decodes one packet's text (the payload of an Engine.IO text message).
///
/// The namespace shares `text`'s buffer. Validation is socket.io-parser 4.2's `decodeString`
/// and `isPayloadValid`, stricter in three places where Node accepts input no client sends:
/// an attachment count or ack id must be ASCII digits (Node takes anything `Number()` parses,
/// `0x1`, `1e1`, ` 2`), whitespace after the header is an error (Node reads `2 ["a"]` as ack id
/// 0), and a placeholder `num` must be an integer (Node puts `undefined` for `0.5`).
pub fn decode(text: &Utf8Bytes, config: &DecoderConfig) -> Result<Decoded, DecodeError> {
    let s = text.as_bytes();
    let kind = s.first().and_then(|&c| PacketType::from_char(c)).ok_or(DecodeError::UnknownType)?;
    let mut i = 1;
    let mut attachments = 0;
    if matches!(kind, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            // Stop counting past the limit: no overflow, no reservation.
            if attachments <= config.max_attachments {
                attachments = attachments * 10 + usize::from(s[i] - b'0');
            }
            i += 1;
        }
        if i == start || s.get(i) != Some(&b'-') || attachments == 0 {
            return Err(DecodeError::IllegalAttachments);
        }
        if attachments > config.max_attachments {
            return Err(DecodeError::TooManyAttachments);
        }
        i += 1;
    }
    let namespace = if s.get(i) == Some(&b'/') {
        let start = i;
        let end = s[i..].iter().position(|&c| c == b',').map_or(s.len(), |at| i + at);
        i = (end + 1).min(s.len());
        // '/' and ',' are ASCII: char boundaries.
        text.slice(start, end).unwrap_or_default()
    } else {
        Utf8Bytes::from_static("/")
    };
    let mut id = None;
    if s.get(i).is_some_and(u8::is_ascii_digit) {
        let mut n: u64 = 0;
        while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add(u64::from(c - b'0'));
            if n > MAX_SAFE_INTEGER {
                return Err(DecodeError::InvalidId);
            }
            i += 1;
        }
        id = Some(n);
    }
    let data = if i < s.len() {
        if matches!(s[i], b' ' | b'\t' | b'\n' | b'\r') {
            return Err(DecodeError::InvalidPayload);
        }
        let payload = parse_json(&text[i..], config.max_depth)?;
        if !payload_valid(kind, &payload) {
            return Err(DecodeError::InvalidPayload);
        }
        Some(payload)
    } else {
        None
    };
    let packet_kind = match kind {
        PacketType::BinaryEvent => PacketType::Event,
        PacketType::BinaryAck => PacketType::Ack,
        other => other,
    };
    let packet = Packet { kind: packet_kind, namespace, id, data };
    if attachments == 0 {
        return Ok(Decoded::Packet(packet));
    }
    if let Some(data) = &packet.data {
        check_placeholders(data, attachments)?;
    }
    Ok(Decoded::Binary(BinaryAssembler {
        packet,
        expected: attachments,
        attachments: Vec::with_capacity(attachments),
    }))
}

fn payload_valid(kind: PacketType, payload: &Value) -> bool {
    match kind {
        PacketType::Connect => matches!(payload, Value::Object(_)),
        PacketType::Disconnect => false,
        PacketType::ConnectError => matches!(payload, Value::String(_) | Value::Object(_)),
        PacketType::Event | PacketType::BinaryEvent => match payload.as_array().and_then(|a| a.first()) {
            Some(Value::Number(_)) => true,
            Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
            _ => false,
        },
        PacketType::Ack | PacketType::BinaryAck => matches!(payload, Value::Array(_)),
    }
}

// socket.io-parser's test: `data._placeholder === true`.
fn is_placeholder(map: &crate::Map) -> bool {
    map.get("_placeholder") == Some(&Value::Bool(true))
}

fn check_placeholders(value: &Value, count: usize) -> Result<(), DecodeError> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|item| check_placeholders(item, count)),
        Value::Object(map) if is_placeholder(map) => match map.get("num").and_then(Value::as_number) {
            Some(n) if n.is_integer() && n.as_u64().is_some_and(|n| n < count as u64) => Ok(()),
            _ => Err(DecodeError::IllegalPlaceholder),
        },
        Value::Object(map) => map.values().try_for_each(|item| check_placeholders(item, count)),
        _ => Ok(()),
    }
}

fn fill_placeholders(value: &mut Value, attachments: &[Bytes]) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| fill_placeholders(item, attachments)),
        Value::Object(map) => {
            if is_placeholder(map) {
                let index = map.get("num").and_then(Value::as_u64).unwrap_or(0);
                let bytes = usize::try_from(index).ok().and_then(|i| attachments.get(i)).cloned();
                *value = Value::Binary(bytes.unwrap_or_default());
            } else {
                map.iter_mut().for_each(|(_, item)| fill_placeholders(item, attachments));
            }
        }
        _ => {}
    }
}

/// socket.io-parser's stateful `Decoder`: text packets, and the attachments of a binary one.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    config: DecoderConfig,
    /// Boxed: every connection keeps a decoder, few are ever between attachments.
    pending: Option<Box<BinaryAssembler>>,
}

impl Decoder {
    /// A decoder with `config`.
    pub fn new(config: DecoderConfig) -> Self {
        Self { config, pending: None }
    }

    /// Whether attachments are awaited.
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Decodes a text message: `Some(packet)`, or `None` when the packet's attachments are
    /// to follow. Text while attachments are awaited is an error, as in Node.
    // By value, like the frame it comes from: the packet keeps slices of its buffer.
    #[allow(clippy::needless_pass_by_value)]
    pub fn decode_text(&mut self, text: Utf8Bytes) -> Result<Option<Packet>, DecodeError> {
        if self.pending.is_some() {
            return Err(DecodeError::UnexpectedText);
        }
        match decode(&text, &self.config)? {
            Decoded::Packet(packet) => Ok(Some(packet)),
            Decoded::Binary(assembler) => {
                self.pending = Some(Box::new(assembler));
                Ok(None)
            }
        }
    }

    /// Takes a binary message: the packet once its last attachment is in.
    pub fn decode_binary(&mut self, attachment: Bytes) -> Result<Option<Packet>, DecodeError> {
        let assembler = self.pending.take().ok_or(DecodeError::UnexpectedBinary)?;
        match (*assembler).push(attachment) {
            Assembly::Incomplete(assembler) => {
                self.pending = Some(Box::new(assembler));
                Ok(None)
            }
            Assembly::Complete(packet) => Ok(Some(packet)),
        }
    }
}

//! Packet → text and attachments, as socket.io-parser's `Encoder` writes them.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Packet, PacketType, ROOT_NAMESPACE};
use crate::Utf8Bytes;
use crate::value::{BinaryMode, Value, print::write_u64, write_json};

/// An encoded packet: send `text` (in an Engine.IO message, `4` + text), then every attachment
/// as a binary message, in order. Cloning is cheap (reference counts), so one encoding serves
/// every recipient of a broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// The packet's text.
    pub text: Utf8Bytes,
    /// The binary values, in placeholder order.
    pub attachments: Vec<Bytes>,
}

impl Packet {
    /// Encodes the packet: its text with binary values replaced by numbered placeholders, and
    /// the binary values in order.
    ///
    /// Byte for byte socket.io-parser's output: an event or ack with binary becomes type 5/6
    /// with an `N-` attachment count; a namespace other than `/` is written with a comma after
    /// it, even with nothing following (`41/admin,`); the id follows; then the JSON. Binary in a
    /// Connect, Disconnect or `ConnectError` packet is written as Node's `Buffer` JSON, and
    /// `Some(Value::Null)` data is not written at all, both as in Node.
    ///
    /// ```
    /// use windlass_sio_proto::{Value, socket::Packet};
    /// let ack = Packet::ack("/", 456, vec![Value::from(1), Value::from("2")]);
    /// assert_eq!(ack.encode().text, r#"3456[1,"2"]"#);
    /// ```
    pub fn encode(&self) -> Encoded {
        let mut out = BytesMut::new();
        let attachments = self.encode_into(&mut out);
        Encoded { text: Utf8Bytes::from_utf8(out.freeze()).unwrap_or_default(), attachments }
    }

    /// Appends the packet's text to `out` (for instance after an Engine.IO `4` already there,
    /// to build a WebSocket frame without a copy) and returns the attachments.
    pub fn encode_into(&self, out: &mut BytesMut) -> Vec<Bytes> {
        let mut attachments = Vec::new();
        let mut kind = match self.kind {
            PacketType::BinaryEvent => PacketType::Event,
            PacketType::BinaryAck => PacketType::Ack,
            other => other,
        };
        let mut json_len = 0;
        if matches!(kind, PacketType::Event | PacketType::Ack) {
            if let Some(data) = &self.data {
                json_len = collect_binary(data, &mut attachments);
            }
            if !attachments.is_empty() {
                kind =
                    if kind == PacketType::Event { PacketType::BinaryEvent } else { PacketType::BinaryAck };
            }
        }
        // Room for the whole packet at once: growing the buffer as it fills copied a
        // broadcast's text two or three times.
        out.reserve(json_len + self.namespace.len() + 24);
        out.put_u8(kind.as_char());
        if !attachments.is_empty() {
            write_u64(attachments.len() as u64, out);
            out.put_u8(b'-');
        }
        write_namespace_and_id(&self.namespace, self.id, out);
        // socket.io-parser skips `null` data as it skips `undefined`.
        if let Some(data) = self.data.as_ref().filter(|data| !data.is_null()) {
            let mut mode =
                if attachments.is_empty() { BinaryMode::BufferJson } else { BinaryMode::Placeholders(0) };
            write_json(data, out, &mut mode);
        }
        attachments
    }
}

// Depth-first, arrays in order and objects in key order: deconstructPacket's numbering.
// Returns about how long the value's JSON is (escapes and long numbers aside): the room to
// reserve.
fn collect_binary(value: &Value, out: &mut Vec<Bytes>) -> usize {
    match value {
        Value::Binary(bytes) => {
            out.push(bytes.clone());
            32
        }
        Value::Array(items) => items.iter().map(|item| collect_binary(item, out) + 1).sum::<usize>() + 2,
        Value::Object(map) => {
            map.iter().map(|(key, item)| key.len() + 4 + collect_binary(item, out)).sum::<usize>() + 2
        }
        Value::String(text) => text.len() + 2,
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 8,
    }
}

/// Appends the head of a packet without attachments, what precedes its JSON data: its type,
/// its namespace with a comma after it unless it is `/`, its id. For a writer that writes
/// the data itself (from another encoding, without building values).
///
/// ```
/// use bytes::BytesMut;
/// use windlass_sio_proto::socket::{PacketType, write_head};
/// let mut text = BytesMut::new();
/// write_head(PacketType::Event, "/chat", Some(7), &mut text);
/// assert_eq!(&text[..], b"2/chat,7");
/// ```
pub fn write_head(kind: PacketType, namespace: &str, id: Option<u64>, out: &mut BytesMut) {
    out.put_u8(kind.as_char());
    write_namespace_and_id(namespace, id, out);
}

fn write_namespace_and_id(namespace: &str, id: Option<u64>, out: &mut BytesMut) {
    if !namespace.is_empty() && namespace != ROOT_NAMESPACE {
        out.put_slice(namespace.as_bytes());
        out.put_u8(b',');
    }
    if let Some(id) = id {
        write_u64(id, out);
    }
}

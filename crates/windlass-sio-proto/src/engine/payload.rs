//! HTTP long-polling bodies: packets joined by `\x1e`.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Packet, ParseError};
use crate::Utf8Bytes;

/// The record separator between packets in a polling body.
pub const SEPARATOR: u8 = 0x1e;

/// The packets of a POST body, in order, as [`decode_payload`] finds them.
///
/// Yields `Ok` packets up to the first bad piece, then that piece's `Err`, then nothing: Node
/// handles the packets before a bad one and then closes the session with `"parse error"`.
#[derive(Debug, Clone)]
pub struct PayloadPackets {
    rest: Option<Utf8Bytes>,
}

/// Decodes a long-polling POST body as engine.io-parser's `decodePayload` does.
///
/// The body is read as UTF-8 with invalid sequences replaced by U+FFFD (Node's
/// `Buffer#toString()`; only then is a copy made), split at every `\x1e`, and each piece is
/// decoded as a text packet. An empty body, or an empty piece (`4a\x1e`), is an error, as in
/// Node. `b` pieces are base64 binary messages, decoded leniently like Node's `Buffer.from(s,
/// "base64")`, which never fails.
///
/// ```
/// use windlass_sio_proto::engine::{Data, decode_payload};
/// let packets: Vec<_> = decode_payload("4hello\x1ebAQIDBA==".into()).collect();
/// assert_eq!(packets[0].as_ref().unwrap().text_data(), Some("hello"));
/// assert_eq!(packets[1].as_ref().unwrap().data, Data::Binary(vec![1, 2, 3, 4].into()));
/// ```
pub fn decode_payload(body: Bytes) -> PayloadPackets {
    let text = if std::str::from_utf8(&body).is_ok() {
        Utf8Bytes::from_checked(body)
    } else {
        Utf8Bytes::from(String::from_utf8_lossy(&body).into_owned())
    };
    PayloadPackets { rest: Some(text) }
}

impl Iterator for PayloadPackets {
    type Item = Result<Packet, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.take()?;
        let piece = match rest.as_bytes().iter().position(|&b| b == SEPARATOR) {
            Some(at) => {
                // The separator is ASCII, so both cuts are char boundaries.
                self.rest = rest.slice(at + 1, rest.len());
                rest.slice(0, at).unwrap_or_default()
            }
            None => rest,
        };
        let packet = Packet::decode_text(piece);
        if packet.is_err() {
            self.rest = None;
        }
        Some(packet)
    }
}

/// Appends the long-polling body for `packets` to `out`: each packet's text form (binary as
/// `b` + base64), joined by `\x1e` — engine.io-parser's `encodePayload`.
///
/// ```
/// use bytes::BytesMut;
/// use windlass_sio_proto::engine::{Packet, encode_payload};
/// let mut body = BytesMut::new();
/// encode_payload(&[Packet::message("hello"), Packet::binary(vec![1, 2, 3, 4])], &mut body);
/// assert_eq!(&body[..], b"4hello\x1ebAQIDBA==");
/// ```
pub fn encode_payload<'a>(packets: impl IntoIterator<Item = &'a Packet>, out: &mut BytesMut) {
    for (i, packet) in packets.into_iter().enumerate() {
        if i > 0 {
            out.put_u8(SEPARATOR);
        }
        packet.encode_text_into(out);
    }
}

//! Fuzz harnesses, shared by the cargo-fuzz targets in `fuzz/` and the stable tests.

use bytes::{Bytes, BytesMut};

use crate::engine::{self, Data, Frame, Packet};
use crate::socket::{self, Assembly, Decoded, DecoderConfig};
use crate::{Utf8Bytes, Value};

/// Engine.IO: `data` as a polling body and as WebSocket frames. Whatever decodes must encode
/// back to something that decodes to the same packets.
pub fn eio_packets(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    let packets: Vec<_> = engine::decode_payload(body.clone()).collect();
    let ok: Vec<Packet> = packets.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    assert!(packets.iter().rev().skip(1).all(Result::is_ok), "an error ends the payload");
    if !ok.is_empty() {
        let mut out = BytesMut::new();
        engine::encode_payload(&ok, &mut out);
        let again: Vec<Packet> =
            engine::decode_payload(out.freeze()).map(|p| p.expect("re-encoded payload decodes")).collect();
        assert_eq!(again.len(), ok.len());
        for (a, b) in again.iter().zip(&ok) {
            assert_eq!(a.data, b.data);
            if !matches!(b.data, Data::Binary(_)) {
                assert_eq!(a.kind, b.kind);
            }
        }
    }
    let frames =
        [Frame::Binary(body.clone())].into_iter().chain(Utf8Bytes::from_utf8(body).ok().map(Frame::Text));
    for frame in frames {
        if let Ok(packet) = Packet::decode_frame(frame) {
            let again = Packet::decode_frame(packet.to_frame()).expect("re-encoded frame decodes");
            assert_eq!(again.data, packet.data);
        }
    }
}

/// Socket.IO: the first byte picks how many of the following chunks (split at `0xff`) are
/// attachments; the rest is the text. Checks the decoder never panics, that attachments
/// pushed one at a time give the whole, that decoded packets re-encode and decode equal, and
/// that JSON which parses prints and re-parses equal.
pub fn sio_packets(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return };
    let mut chunks = rest.split(|&b| b == 0xff);
    let Some(text) = chunks.next() else { return };
    let Ok(text) = Utf8Bytes::from_utf8(Bytes::copy_from_slice(text)) else { return };
    let attachments: Vec<Bytes> = chunks.take(usize::from(first % 16)).map(Bytes::copy_from_slice).collect();

    if let Ok(value) = Value::from_json(&text) {
        let printed = value.to_json();
        assert_eq!(Value::from_json(&printed).as_ref(), Ok(&value), "{printed}");
    }

    let config = DecoderConfig::default();
    let packet = match socket::decode(&text, &config) {
        Ok(Decoded::Packet(packet)) => packet,
        Ok(Decoded::Binary(mut assembler)) => loop {
            let Some(next) = attachments.get(assembler.received()) else { return };
            match assembler.push(next.clone()) {
                Assembly::Incomplete(more) => assembler = more,
                Assembly::Complete(packet) => break packet,
            }
        },
        Err(_) => return,
    };
    let encoded = packet.encode();
    let mut decoder = socket::Decoder::new(config);
    let mut again = decoder.decode_text(encoded.text.clone()).expect("re-encoded text decodes");
    for attachment in &encoded.attachments {
        assert!(again.is_none());
        again = decoder.decode_binary(attachment.clone()).expect("attachment");
    }
    let again = again.expect("the last attachment completes the packet");
    assert_eq!((again.kind, &again.namespace, again.id), (packet.kind, &packet.namespace, packet.id));
    // Printing is stable: a packet printed once decodes to one that prints the same. Its
    // values may change on that first trip, as in JavaScript (`1e999` is Infinity, printed
    // `null`), so they are compared through their printed form.
    let twice = again.encode();
    assert_eq!(twice.text, encoded.text);
    assert_eq!(twice.attachments, encoded.attachments);
}

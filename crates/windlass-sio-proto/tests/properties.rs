//! Property tests: encode → decode round trips, polling payloads however they are built, JSON
//! printing against a model, attachments fed one at a time.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use windlass_sio_proto::engine::{self, Data, PacketType as EngineType};
use windlass_sio_proto::socket::{Assembly, Decoded, Decoder, DecoderConfig, Packet};
use windlass_sio_proto::{Map, Utf8Bytes, Value, fuzzing};

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        // Beyond ±2^53 JSON parsing rounds as JS does: no round trip to check there.
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| Value::Binary(b.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z0-9_]{0,4}", inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map>())),
        ]
    })
}

/// What JSON parsing gives back for a value: binary as Node's `Buffer` JSON.
fn without_binary(v: &Value) -> Value {
    match v {
        Value::Binary(b) => Value::Object(Map::from_iter([
            ("type".to_owned(), Value::from("Buffer")),
            ("data".to_owned(), Value::Array(b.iter().map(|&x| Value::from(x)).collect())),
        ])),
        Value::Array(items) => Value::Array(items.iter().map(without_binary).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.to_owned(), without_binary(v))).collect())
        }
        other => other.clone(),
    }
}

fn packet() -> impl Strategy<Value = Packet> {
    let ns = prop_oneof![Just("/".to_owned()), "/[a-z]{1,6}"];
    let id = prop::option::of(0..=windlass_sio_proto::MAX_SAFE_INTEGER);
    (ns, id, 0..5u8, "[a-z]{1,6}", prop::collection::vec(value(), 0..4), value()).prop_map(
        |(ns, id, kind, name, args, other)| match kind {
            0 => Packet::connect(
                ns,
                Some(Value::Object(Map::from_iter([("k".to_owned(), without_binary(&other))]))),
            ),
            1 => Packet::disconnect(ns),
            2 => Packet { id, ..Packet::event(ns, name, args) },
            3 => Packet::ack(ns, id.unwrap_or(0), args),
            _ => Packet::connect_error(ns, &name, Some(without_binary(&other))),
        },
    )
}

/// A model of `JSON.stringify` for what `value()` generates, written independently of the
/// crate's printer: `serde_json` output with JS's number formatting and escapes patched.
fn model_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let (true, Some(i)) = (n.is_integer(), n.as_i64()) {
                i.to_string()
            } else if let (true, Some(u)) = (n.is_integer(), n.as_u64()) {
                u.to_string()
            } else {
                ryu_js::Buffer::new().format(n.as_f64()).to_owned()
            }
        }
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => {
                        use std::fmt::Write;
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out + "\""
        }
        Value::Binary(b) => format!(
            "{{\"type\":\"Buffer\",\"data\":[{}]}}",
            b.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
        ),
        Value::Array(items) => format!("[{}]", items.iter().map(model_json).collect::<Vec<_>>().join(",")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}:{}", model_json(&Value::from(k)), model_json(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

proptest! {
    #[test]
    fn json_prints_as_the_model_and_parses_back(v in value()) {
        let text = v.to_json();
        prop_assert_eq!(&text, &model_json(&v));
        prop_assert_eq!(Value::from_json(&text).unwrap(), without_binary(&v));
    }

    #[test]
    fn packets_round_trip(p in packet()) {
        let encoded = p.encode();
        let mut decoder = Decoder::default();
        let mut out = decoder.decode_text(encoded.text.clone()).unwrap();
        for a in &encoded.attachments {
            prop_assert!(out.is_none());
            out = decoder.decode_binary(a.clone()).unwrap();
        }
        prop_assert_eq!(out, Some(p));
    }

    #[test]
    fn attachments_one_at_a_time_equal_the_whole(args in prop::collection::vec(value(), 1..4)) {
        let p = Packet::event("/", "e", args);
        let encoded = p.encode();
        let Ok(Decoded::Binary(mut assembler)) = windlass_sio_proto::socket::decode(&encoded.text, &DecoderConfig::default()) else {
            prop_assert!(encoded.attachments.is_empty());
            return Ok(());
        };
        prop_assert_eq!(assembler.expected(), encoded.attachments.len());
        for (i, a) in encoded.attachments.iter().enumerate() {
            prop_assert_eq!(assembler.received(), i);
            match assembler.push(a.clone()) {
                Assembly::Incomplete(next) => assembler = next,
                Assembly::Complete(done) => {
                    prop_assert_eq!(i + 1, encoded.attachments.len());
                    prop_assert_eq!(&done, &p);
                    return Ok(());
                }
            }
        }
        prop_assert!(false, "never completed");
    }

    #[test]
    fn polling_payloads_decode_the_same_however_built(
        items in prop::collection::vec(prop_oneof![
            (0..7u8, prop::option::of("[^\u{1e}]{1,6}")).prop_map(|(k, t)| (k, t, None)),
            prop::collection::vec(any::<u8>(), 0..10).prop_map(|b| (4, None, Some(b))),
        ], 1..8)
    ) {
        let kinds = [EngineType::Open, EngineType::Close, EngineType::Ping, EngineType::Pong, EngineType::Message, EngineType::Upgrade, EngineType::Noop];
        let packets: Vec<engine::Packet> = items.into_iter().map(|(k, text, bin)| match (text, bin) {
            (_, Some(b)) => engine::Packet::binary(b),
            (Some(t), None) => engine::Packet::text(kinds[usize::from(k)], t),
            (None, None) => engine::Packet::empty(kinds[usize::from(k)]),
        }).collect();
        // Built by encode_payload, by joining frames' text, and by hand.
        let mut a = BytesMut::new();
        engine::encode_payload(&packets, &mut a);
        let joined: Vec<u8> = packets.iter().map(|p| {
            let mut one = BytesMut::new();
            p.encode_text_into(&mut one);
            one.to_vec()
        }).collect::<Vec<_>>().join(&engine::SEPARATOR);
        prop_assert_eq!(&a[..], &joined[..]);
        let decoded: Vec<engine::Packet> = engine::decode_payload(a.freeze()).map(Result::unwrap).collect();
        prop_assert_eq!(&decoded, &packets);
        for p in &packets {
            prop_assert_eq!(&engine::Packet::decode_frame(p.to_frame()).unwrap(), p);
        }
    }

    #[test]
    fn fuzz_harnesses_hold_on_random_input(data in prop::collection::vec(any::<u8>(), 0..64)) {
        fuzzing::eio_packets(&data);
        fuzzing::sio_packets(&data);
    }

    #[test]
    fn fuzz_harnesses_hold_on_near_valid_input(p in packet(), cut in 0..200usize, junk in any::<u8>()) {
        let e = p.encode();
        let mut text = e.text.as_bytes().to_vec();
        let at = cut.min(text.len());
        text.insert(at, junk);
        let mut data = vec![u8::try_from(e.attachments.len()).unwrap()];
        data.extend_from_slice(&text);
        for a in &e.attachments {
            data.push(0xff);
            data.extend(a.iter().map(|&b| b.min(0xfe)));
        }
        fuzzing::sio_packets(&data);
        fuzzing::eio_packets(&text);
    }
}

#[test]
fn eio_binary_and_text_frames_stay_apart() {
    let p = engine::Packet::decode_text(Utf8Bytes::from("4b")).unwrap();
    assert_eq!(p.data, Data::Text("b".into()));
    assert_eq!(
        engine::Packet::decode_frame(engine::Frame::Binary(Bytes::from_static(b"4x"))).unwrap().data,
        Data::Binary(Bytes::from_static(b"4x"))
    );
}

/// Found by the property above: a number past `f64` (a stray digit made `1e308` `1e3089`)
/// is Infinity, printed `null` as `JSON.stringify` does, so the packet changes on its first
/// trip; the harness checks that printing is stable from there.
#[test]
fn the_sio_harness_takes_numbers_that_print_as_null() {
    fuzzing::sio_packets(b"\x000/zsm,{\"ly\":1e3089,\"k\":-1e999}");
    let packet = windlass_sio_proto::socket::decode(
        &Utf8Bytes::from("0/zsm,{\"ly\":1e3089}"),
        &DecoderConfig::default(),
    );
    let Ok(Decoded::Packet(packet)) = packet else { panic!("decodes") };
    assert_eq!(packet.encode().text.as_str(), "0/zsm,{\"ly\":null}");
}

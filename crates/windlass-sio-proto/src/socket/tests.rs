use bytes::Bytes;

use super::*;
use crate::{JsonError, Map, Value};

fn dec(text: &str) -> Result<Decoded, DecodeError> {
    decode(&Utf8Bytes::from(text), &DecoderConfig::default())
}

fn packet(text: &str) -> Packet {
    match dec(text) {
        Ok(Decoded::Packet(p)) => p,
        other => panic!("{text}: {other:?}"),
    }
}

fn json(text: &str) -> Value {
    Value::from_json(text).unwrap()
}

fn bin(bytes: &'static [u8]) -> Value {
    Value::Binary(Bytes::from_static(bytes))
}

#[test]
fn encodes_the_contract_examples() {
    let enc = |p: &Packet| p.encode().text.to_string();
    assert_eq!(enc(&Packet::connect("/custom", Some(json(r#"{"sid":"x"}"#)))), r#"0/custom,{"sid":"x"}"#);
    assert_eq!(
        enc(&Packet::connect_error("/admin", "unauthorized", Some(json(r#"{"reason":"bad token"}"#)))),
        r#"4/admin,{"message":"unauthorized","data":{"reason":"bad token"}}"#
    );
    assert_eq!(
        enc(&Packet::connect_error("/random", "Invalid namespace", None)),
        r#"4/random,{"message":"Invalid namespace"}"#
    );
    assert_eq!(
        enc(&Packet::ack("/", 456, vec![1.into(), "2".into(), json(r#"{"3":[false]}"#)])),
        r#"3456[1,"2",{"3":[false]}]"#
    );
    assert_eq!(enc(&Packet::event("/custom", "auth", vec![json("{}")])), r#"2/custom,["auth",{}]"#);
    // Node: encoder.encode({type: 1, nsp: "/custom"}) → "1/custom,".
    assert_eq!(enc(&Packet::disconnect("/custom")), "1/custom,");
    assert_eq!(enc(&Packet::disconnect("/")), "1");
    // Node: {type:2, nsp:"/", id:7, data:["message", <01 02>, {a: <03>}]}.
    let p = Packet::event("/", "message", vec![bin(&[1, 2]), json("{}")]).with_id(7);
    let mut p2 = p.clone();
    if let Some(Value::Array(items)) = &mut p2.data {
        let mut map = Map::new();
        map.insert("a", bin(&[3]));
        items[2] = Value::Object(map);
    }
    let e = p2.encode();
    assert_eq!(
        e.text,
        r#"52-7["message",{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1}}]"#
    );
    assert_eq!(e.attachments, vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[3])]);
    let ack = Packet::ack("/", 789, vec![bin(&[1]), bin(&[2])]).encode();
    assert_eq!(ack.text, r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    // Node: binary in a CONNECT is Buffer JSON, not an attachment.
    let mut auth = Map::new();
    auth.insert("b", bin(&[1]));
    let connect = Packet::connect("/", Some(Value::Object(auth))).encode();
    assert_eq!(
        (connect.text.as_str(), connect.attachments.len()),
        (r#"0{"b":{"type":"Buffer","data":[1]}}"#, 0)
    );
    assert_eq!(Packet::ack("/", 1, vec![]).encode().text, "31[]");
    assert_eq!(Packet { data: Some(Value::Null), ..Packet::ack("/", 1, vec![]) }.encode().text, "31");
}

#[test]
fn decodes_the_contract_examples() {
    assert_eq!(packet("0"), Packet::connect("/", None));
    assert_eq!(packet(r#"0{"token":"123"}"#), Packet::connect("/", Some(json(r#"{"token":"123"}"#))));
    assert_eq!(packet("0/custom,"), Packet::connect("/custom", None));
    assert_eq!(packet("0/custom"), Packet::connect("/custom", None));
    assert_eq!(
        packet(r#"0/custom,{"token":"abc"}"#),
        Packet::connect("/custom", Some(json(r#"{"token":"abc"}"#)))
    );
    assert_eq!(packet("1"), Packet::disconnect("/"));
    assert_eq!(packet("1/custom"), Packet::disconnect("/custom"));
    assert_eq!(packet(r#"2["message",1,"2",{"3":[true]}]"#).into_event().unwrap().1.len(), 3);
    let ack = packet(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#);
    assert_eq!(ack.id, Some(456));
    assert_eq!(ack.event_name().as_deref(), Some("message-with-ack"));
    assert_eq!(packet(r#"2/x,12["a"]"#), Packet::event("/x", "a", vec![]).with_id(12));
    assert_eq!(packet("3/x,12").id, Some(12));
    // Node facts (socket.io-parser 4.2.7 Decoder): numeric event names, leading zeros in ids,
    // a namespace without comma swallowing the rest, "/" written out, data-less events.
    assert_eq!(packet("2[1]").event_name().as_deref(), Some("1"));
    assert_eq!(packet(r#"2007["a"]"#).id, Some(7));
    assert_eq!(packet(r#"2/a["x"]"#), Packet::new(PacketType::Event, r#"/a["x"]"#, None));
    assert_eq!(packet("0/"), Packet::connect("/", None));
    assert_eq!(packet("0/,"), Packet::connect("/", None));
    assert_eq!(packet("2"), Packet::new(PacketType::Event, "/", None));
    assert_eq!(packet(r#"4"x""#), Packet::new(PacketType::ConnectError, "/", Some("x".into())));
    assert_eq!(packet(r#"2["a"] "#), Packet::event("/", "a", vec![]));
}

#[test]
fn refuses_what_socket_io_parser_refuses() {
    use DecodeError::*;
    for (text, err) in [
        ("", UnknownType),
        ("7", UnknownType),
        ("abc", UnknownType),
        ("2{}", InvalidPayload),
        (r#"2abc["a"]"#, Json(JsonError::Syntax(0))),
        ("2[]", InvalidPayload),
        (r#"2["connect"]"#, InvalidPayload),
        (r#"2["disconnecting"]"#, InvalidPayload),
        ("2[null]", InvalidPayload),
        ("0null", InvalidPayload),
        ("0[]", InvalidPayload),
        ("1x", Json(JsonError::Syntax(0))),
        ("1{}", InvalidPayload),
        ("4[]", InvalidPayload),
        ("3{}", InvalidPayload),
        (r#"2["a"]x"#, Json(JsonError::Syntax(5))),
        (r#"511-["a"]"#, TooManyAttachments),
        (r#"50-["a"]"#, IllegalAttachments),
        (r#"5-["a"]"#, IllegalAttachments),
        (r#"5x-["a"]"#, IllegalAttachments),
        ("51", IllegalAttachments),
        (r#"599999999999999999999999-["a"]"#, TooManyAttachments),
        (r#"51-["a",{"_placeholder":true,"num":1}]"#, IllegalPlaceholder),
        (r#"51-["a",{"_placeholder":true,"num":"0"}]"#, IllegalPlaceholder),
        (r#"51-["a",{"_placeholder":true}]"#, IllegalPlaceholder),
        (r#"61-[{"_placeholder":true,"num":-1}]"#, IllegalPlaceholder),
        // Stricter than Node on purpose: Node reads these as id 0 / `undefined`.
        (r#"2 ["a"]"#, InvalidPayload),
        (r#"51-["a",{"_placeholder":true,"num":0.5}]"#, IllegalPlaceholder),
        // Past JS's safe integers (Node would round the id to 1e18).
        (r#"2999999999999999999["a"]"#, InvalidId),
        (r#"2["a","\ud800"]"#, Json(JsonError::LoneSurrogate(6))),
    ] {
        assert_eq!(dec(text).map(|_| ()), Err(err), "{text}");
    }
    assert!(dec(r#"29007199254740991["a"]"#).is_ok());
    assert!(dec(r#"510-["a"]"#).is_ok());
}

#[test]
fn assembles_attachments_like_node() {
    let mut d = Decoder::default();
    let text = r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert_eq!(d.decode_text(text.into()), Ok(None));
    assert!(d.is_waiting());
    assert_eq!(d.decode_text("2[\"a\"]".into()), Err(DecodeError::UnexpectedText));
    assert_eq!(d.decode_binary(Bytes::from_static(&[1])), Ok(None));
    let p = d.decode_binary(Bytes::from_static(&[2])).unwrap().unwrap();
    assert_eq!(p, Packet::event("/", "message", vec![bin(&[1]), bin(&[2])]));
    assert_eq!(p.encode().text, text);
    assert_eq!(d.decode_binary(Bytes::new()), Err(DecodeError::UnexpectedBinary));
    // Node: `52-["a"]` waits for two attachments and drops them; placeholders may repeat;
    // `_placeholder` must be `true` exactly.
    assert_eq!(d.decode_text(r#"52-["a"]"#.into()), Ok(None));
    assert_eq!(d.decode_binary(Bytes::new()), Ok(None));
    assert_eq!(d.decode_binary(Bytes::new()), Ok(Some(Packet::event("/", "a", vec![]))));
    let twice = r#"51-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0,"x":1},{"_placeholder":1,"num":0}]"#;
    assert_eq!(d.decode_text(twice.into()), Ok(None));
    let p = d.decode_binary(Bytes::from_static(&[9])).unwrap().unwrap();
    assert_eq!(p.into_event().unwrap().1, vec![bin(&[9]), bin(&[9]), json(r#"{"_placeholder":1,"num":0}"#)]);
    // A binary ack decodes as an Ack; data-less binary packets are allowed.
    assert_eq!(d.decode_text("61-789".into()), Ok(None));
    assert_eq!(
        d.decode_binary(Bytes::new()),
        Ok(Some(Packet { id: Some(789), ..Packet::new(PacketType::Ack, "/", None) }))
    );
}

#[test]
fn event_helpers() {
    let p = Packet::event("/", "chat", vec!["hi".into()]);
    assert_eq!(p.event_name().as_deref(), Some("chat"));
    assert_eq!(p.clone().into_event(), Some(("chat".to_owned(), vec![Value::from("hi")])));
    assert_eq!(Packet::ack("/", 1, vec![]).into_event(), None);
    assert_eq!(p.encode().text, r#"2["chat","hi"]"#);
}

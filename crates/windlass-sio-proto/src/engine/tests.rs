use bytes::{Bytes, BytesMut};

use super::*;

fn text(s: &str) -> Result<Packet, ParseError> {
    Packet::decode_text(Utf8Bytes::from(s))
}

fn payload(body: &[u8]) -> Vec<Result<Packet, ParseError>> {
    decode_payload(Bytes::copy_from_slice(body)).collect()
}

#[test]
fn text_packets_decode_as_engine_io_parser() {
    assert_eq!(text("4hello"), Ok(Packet::message("hello")));
    assert_eq!(text("2probe"), Ok(Packet::text(PacketType::Ping, "probe")));
    assert!(text("3probe").unwrap().is_probe());
    assert_eq!(text("2"), Ok(Packet::empty(PacketType::Ping)));
    assert_eq!(text("4"), Ok(Packet::empty(PacketType::Message)));
    assert_eq!(text("6"), Ok(Packet::empty(PacketType::Noop)));
    assert_eq!(text(""), Err(ParseError::Empty));
    assert_eq!(text("7x"), Err(ParseError::UnknownType));
    assert_eq!(text("abc"), Err(ParseError::UnknownType));
    assert_eq!(text("é4"), Err(ParseError::UnknownType));
    // `b` + base64 is a binary message on a WebSocket text frame too.
    assert_eq!(text("bAQID"), Ok(Packet::binary(vec![1, 2, 3])));
}

#[test]
fn base64_is_as_lenient_as_node_buffer() {
    // Node: Buffer.from(s, "base64") for each s.
    for (b64, bytes) in [
        ("AQIDBA==", &[1u8, 2, 3, 4][..]),
        ("AQIDBA", &[1, 2, 3, 4]),
        ("AQIDBA=", &[1, 2, 3, 4]),
        ("!!!", &[]),
        ("A", &[]),
        ("AQ", &[1]),
        ("AQ=ID", &[1]),
        ("AQ==AQ", &[1]),
        ("=AQ", &[]),
        ("AB=CD", &[0]),
        ("A!Q", &[1]),
        ("AQI", &[1, 2]),
        ("A Q I D", &[1, 2, 3]),
        ("QUJD\nREVG", b"ABCDEF"),
        ("AQ%ID", &[1, 2, 3]),
        ("-_8", &[251, 255]),
    ] {
        assert_eq!(text(&format!("b{b64}")), Ok(Packet::binary(bytes.to_vec())), "{b64}");
    }
}

#[test]
fn frames_encode_as_node() {
    assert_eq!(Packet::message("hello").to_frame(), Frame::Text("4hello".into()));
    assert_eq!(Packet::empty(PacketType::Ping).to_frame(), Frame::Text("2".into()));
    assert_eq!(Packet::text(PacketType::Pong, "probe").to_frame(), Frame::Text("3probe".into()));
    let bin = Bytes::from_static(&[1, 2, 3, 4]);
    assert_eq!(Packet::binary(bin.clone()).to_frame(), Frame::Binary(bin.clone()));
    assert_eq!(Packet::decode_frame(Frame::Binary(bin.clone())), Ok(Packet::binary(bin)));
}

#[test]
fn polling_payloads_match_the_fixture_contract() {
    assert_eq!(
        payload(b"4test1\x1e4test2\x1e4test3"),
        vec![Ok(Packet::message("test1")), Ok(Packet::message("test2")), Ok(Packet::message("test3"))]
    );
    assert_eq!(
        payload(b"4hello\x1ebAQIDBA=="),
        vec![Ok(Packet::message("hello")), Ok(Packet::binary(vec![1, 2, 3, 4]))]
    );
    let mut out = BytesMut::new();
    encode_payload(&[Packet::message("hello"), Packet::binary(vec![1, 2, 3, 4])], &mut out);
    assert_eq!(&out[..], b"4hello\x1ebAQIDBA==");
    out.clear();
    encode_payload(&[Packet::empty(PacketType::Noop)], &mut out);
    assert_eq!(&out[..], b"6");
}

#[test]
fn polling_errors_where_node_does() {
    // Node's decodePayload: "" → [error]; "4\x1e" → [message, error]; "abc" → [error].
    assert_eq!(payload(b""), vec![Err(ParseError::Empty)]);
    assert_eq!(payload(b"4\x1e"), vec![Ok(Packet::empty(PacketType::Message)), Err(ParseError::Empty)]);
    assert_eq!(payload(b"abc"), vec![Err(ParseError::UnknownType)]);
    // Packets after the first error are not looked at.
    assert_eq!(payload(b"4a\x1e9\x1e4b"), vec![Ok(Packet::message("a")), Err(ParseError::UnknownType)]);
    // Invalid UTF-8 is replaced, as Buffer#toString() does, not an error.
    assert_eq!(payload(b"4a\xffb"), vec![Ok(Packet::message("a\u{fffd}b"))]);
}

#[test]
fn open_packet_has_nodes_key_order() {
    let open = OpenPacket {
        sid: "OvKt7fPD3AftV5ZIAAAA".into(),
        upgrades: vec![Transport::WebSocket],
        ping_interval: 300,
        ping_timeout: 200,
        max_payload: 1_000_000,
    };
    // Captured from tests/sio-reference/protocol_server.js (GET ?EIO=4&transport=polling).
    assert_eq!(
        open.to_packet().to_frame(),
        Frame::Text(
            r#"0{"sid":"OvKt7fPD3AftV5ZIAAAA","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
                .into()
        )
    );
    let ws = OpenPacket { upgrades: vec![], ping_interval: 25000, ping_timeout: 20000, ..open };
    assert_eq!(
        ws.to_json(),
        r#"{"sid":"OvKt7fPD3AftV5ZIAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
    );
}

#[test]
fn error_bodies_are_nodes() {
    let all = [
        (ErrorCode::UnknownTransport, r#"{"code":0,"message":"Transport unknown"}"#),
        (ErrorCode::UnknownSid, r#"{"code":1,"message":"Session ID unknown"}"#),
        (ErrorCode::BadHandshakeMethod, r#"{"code":2,"message":"Bad handshake method"}"#),
        (ErrorCode::BadRequest, r#"{"code":3,"message":"Bad request"}"#),
        (ErrorCode::Forbidden, r#"{"code":4,"message":"Forbidden"}"#),
        (ErrorCode::UnsupportedProtocolVersion, r#"{"code":5,"message":"Unsupported protocol version"}"#),
    ];
    for (code, body) in all {
        assert_eq!(code.json_body(), body);
        assert_eq!(code.to_string(), code.message());
        assert_eq!(code.status(), if code == ErrorCode::Forbidden { 403 } else { 400 });
    }
    assert_eq!(ErrorCode::Forbidden.json_body_with("no \"way\""), r#"{"code":4,"message":"no \"way\""}"#);
}

// Each row: query, method, upgrade → what Node's reference server answered (curl, see the
// crate's notes): the code of the 400, or Ok for a handshake.
#[test]
fn query_verification_follows_node() {
    const BOTH: &[Transport] = &[Transport::Polling, Transport::WebSocket];
    let handshake = |q: &str, method: &str, upgrade: bool| -> Result<Transport, ErrorCode> {
        let query = EngineQuery::parse(q);
        match query.verify(method, upgrade, BOTH)? {
            Verified::Handshake { transport } => query.check_protocol().map(|()| transport),
            Verified::Session { .. } => Err(ErrorCode::UnknownSid),
        }
    };
    assert_eq!(handshake("", "GET", false), Err(ErrorCode::UnknownTransport));
    assert_eq!(handshake("transport=polling", "GET", false), Err(ErrorCode::UnsupportedProtocolVersion));
    assert_eq!(
        handshake("EIO=3&transport=polling", "GET", false),
        Err(ErrorCode::UnsupportedProtocolVersion)
    );
    assert_eq!(
        handshake("EIO=abc&transport=polling", "GET", false),
        Err(ErrorCode::UnsupportedProtocolVersion)
    );
    assert_eq!(
        handshake("EIO=5&transport=polling", "GET", false),
        Err(ErrorCode::UnsupportedProtocolVersion)
    );
    assert_eq!(handshake("EIO=4", "GET", false), Err(ErrorCode::UnknownTransport));
    assert_eq!(handshake("EIO=4&transport=foo", "GET", false), Err(ErrorCode::UnknownTransport));
    assert_eq!(handshake("EIO=4&transport=websocket", "GET", false), Err(ErrorCode::BadRequest));
    assert_eq!(handshake("EIO=4&transport=websocket", "GET", true), Ok(Transport::WebSocket));
    assert_eq!(handshake("EIO=4&transport=polling&sid=nope", "GET", false), Err(ErrorCode::UnknownSid));
    assert_eq!(handshake("EIO=4&transport=polling&sid=", "GET", false), Ok(Transport::Polling));
    assert_eq!(
        handshake("EIO=4&EIO=3&transport=polling", "GET", false),
        Err(ErrorCode::UnsupportedProtocolVersion)
    );
    assert_eq!(
        handshake("EIO=4&transport=polling&transport=websocket", "GET", false),
        Err(ErrorCode::BadRequest)
    );
    assert_eq!(handshake("EIO=%34&transport=polling", "GET", false), Ok(Transport::Polling));
    assert_eq!(handshake("EIO=4&transport=polling", "POST", false), Err(ErrorCode::BadHandshakeMethod));
    assert_eq!(handshake("EIO=4&transport=polling", "PUT", false), Err(ErrorCode::BadHandshakeMethod));
    // Only the served transports count.
    let query = EngineQuery::parse("EIO=4&transport=websocket");
    assert_eq!(query.verify("GET", true, &[Transport::Polling]), Err(ErrorCode::UnknownTransport));
}

#[test]
fn query_parsing_is_url_search_params() {
    let q = EngineQuery::parse("EIO=4&transport=polling&t=Px+y%2Fz&sid=a%zzb&other=1&&x");
    assert_eq!(q.eio.as_deref(), Some("4"));
    assert_eq!(q.t.as_deref(), Some("Px y/z"));
    assert_eq!(q.sid.as_deref(), Some("a%zzb"));
    let session = EngineQuery::parse("EIO=4&transport=polling&sid=abc");
    assert_eq!(
        session.verify("POST", false, &[Transport::Polling]),
        Ok(Verified::Session { sid: "abc", transport: Transport::Polling })
    );
    assert_eq!(session.check_session(Transport::Polling, false), Ok(()));
    assert_eq!(session.check_session(Transport::WebSocket, false), Err(ErrorCode::BadRequest));
    assert_eq!(
        EngineQuery::parse("transport=websocket&sid=abc").check_session(Transport::Polling, true),
        Err(ErrorCode::BadRequest)
    );
    assert_eq!(
        EngineQuery::parse("EIO=4&transport=websocket&sid=abc").check_session(Transport::Polling, true),
        Ok(())
    );
}

use bytes::Bytes;

use super::*;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn said_packet() -> Packet {
    let mut data = Map::new();
    data.insert("from", Value::from("x"));
    data.insert("text", Value::from("hi"));
    data.insert("n", Value::from(Number::from(1.5)));
    data.insert("k", Value::from(Number::from(-3_i64)));
    data.insert("big", Value::from(Number::from(70_000_u64)));
    Packet::event("/", "said", vec![Value::Object(data), Value::Binary(Bytes::from_static(&[1, 2]))])
}

// The bytes are what notepack.io 3.x (Node's @socket.io/redis-adapter 8.3) writes for
// `["abc123", {type: 2, data: ["said", {from: "x", text: "hi", n: 1.5, k: -3, big: 70000},
// Buffer.from([1, 2])], nsp: "/"}, {rooms: ["r"], except: ["e"], flags: {}}]`.
const NODE_BROADCAST: &str = "93a661626331323383a47479706502a46461746193a47361696485a466726f6da178a474657874a26869a16ecb3ff8000000000000a16bfda3626967ce00011170c4020102a36e7370a12f83a5726f6f6d7391a172a665786365707491a165a5666c61677380";

#[test]
fn a_broadcast_without_binary_is_written_straight_as_the_text_it_is_sent_as() {
    let mut packet = said_packet();
    if let Some(Value::Array(args)) = &mut packet.data {
        args.pop();
    }
    packet.namespace = "/chat".into();
    packet.id = Some(12);
    let broadcast =
        decode_broadcast(&encode_broadcast("abc123", &packet, &BroadcastOptions::default())).unwrap();
    assert_eq!(broadcast.nsp, "/chat");
    let BroadcastPacket::Text(text) = broadcast.packet else { panic!("not written straight") };
    assert_eq!(text.as_str(), r#"2/chat,12["said",{"from":"x","text":"hi","n":1.5,"k":-3,"big":70000}]"#);
    assert_eq!(text.to_packet().unwrap().encode().text, packet.encode().text);
}

#[test]
fn a_broadcast_is_written_byte_for_byte_as_node_writes_it() {
    let opts =
        BroadcastOptions { rooms: vec![Arc::from("r")], except: vec![Arc::from("e")], ..Default::default() };
    assert_eq!(encode_broadcast("abc123", &said_packet(), &opts), hex(NODE_BROADCAST));
}

#[test]
fn a_node_broadcast_is_read() {
    let broadcast = decode_broadcast(&hex(NODE_BROADCAST)).unwrap();
    assert_eq!(broadcast.uid, "abc123");
    // With a buffer in it, the packet is built (the buffer goes as an attachment).
    assert_eq!(broadcast.packet, BroadcastPacket::Built(said_packet()));
    assert_eq!(broadcast.nsp, "/");
    assert_eq!(&*broadcast.opts.rooms, &[Arc::<str>::from("r")]);
    assert_eq!(&*broadcast.opts.except, &[Arc::<str>::from("e")]);
    assert_eq!(broadcast.opts.flags, BroadcastFlags::default());
}

// notepack.io for `{uid: "abc123", requestId: "req1", type: 7, packet: {type: 2, data:
// ["ev", 1], nsp: "/", id: undefined}, opts: {rooms: [], except: ["s1"], flags: {timeout:
// 5000}}}`: a broadcast with acknowledgements, `undefined` left out.
const NODE_ACK_REQUEST: &str = "85a3756964a6616263313233a9726571756573744964a472657131a47479706507a67061636b657483a47479706502a46461746192a2657601a36e7370a12fa46f70747383a5726f6f6d7390a665786365707491a27331a5666c61677381a774696d656f7574cd1388";

#[test]
fn a_request_with_a_packet_is_messagepack_as_node_writes_it() {
    let mut request = Request::new("abc123", RequestType::Broadcast);
    request.request_id = Some("req1".to_owned());
    request.packet = Some(Packet::event("/", "ev", vec![Value::from(Number::from(1_u64))]));
    request.opts = Some(BroadcastOptions {
        except: vec![Arc::from("s1")],
        flags: BroadcastFlags { timeout: Some(Duration::from_secs(5)), ..Default::default() },
        ..Default::default()
    });
    assert_eq!(request.encode(), hex(NODE_ACK_REQUEST));
    assert_eq!(Request::decode(&hex(NODE_ACK_REQUEST)).unwrap(), request);
}

#[test]
fn requests_and_responses_without_packets_are_json() {
    let mut request = Request::new("abc123", RequestType::RemoteFetch);
    request.request_id = Some("r2".to_owned());
    request.opts = Some(BroadcastOptions { rooms: vec![Arc::from("a")], ..Default::default() });
    let bytes = request.encode();
    // Node: JSON.stringify({uid, requestId, type: REMOTE_FETCH, opts: {rooms, except}}).
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        r#"{"uid":"abc123","requestId":"r2","type":5,"opts":{"rooms":["a"],"except":[]}}"#
    );
    assert_eq!(Request::decode(&bytes).unwrap(), request);

    let mut response = Response::to("r2");
    response.sockets = Some(vec![]);
    assert_eq!(std::str::from_utf8(&response.encode()).unwrap(), r#"{"requestId":"r2","sockets":[]}"#);
    assert_eq!(Response::decode(&response.encode()).unwrap(), response);
}

#[test]
fn node_requests_are_read() {
    // As Node's `socketsJoin` and `serverSideEmit` write them.
    let join = br#"{"uid":"n0de01","type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["c",7]}"#;
    let request = Request::decode(join).unwrap();
    assert_eq!(request.kind, RequestType::RemoteJoin);
    assert_eq!(request.opts.unwrap().except, vec![Arc::<str>::from("b")]);
    assert_eq!(request.rooms, vec![Arc::<str>::from("c"), Arc::from("7")]);

    let emit = br#"{"uid":"n0de01","type":6,"data":["hello",{"a":1}]}"#;
    let request = Request::decode(emit).unwrap();
    assert_eq!(request.kind, RequestType::ServerSideEmit);
    assert_eq!(request.data.unwrap().as_array().unwrap().len(), 2);
}

#[test]
fn notepack_undefined_reads_as_null_and_bad_input_is_an_error() {
    assert_eq!(from_msgpack(&hex("d40000")).unwrap(), Value::Null);
    assert!(decode_broadcast(b"").is_err());
    assert!(decode_broadcast(&hex("93a1610102")).is_err(), "a packet that is not an object");
    // An array that claims 2^32-1 items but has none: refused without allocating them.
    assert!(from_msgpack(&hex("ddffffffff")).is_err());
    assert!(Request::decode(b"{not json").is_err());
    assert!(Response::decode(br#"{"sockets":[]}"#).is_err(), "no requestId");
}

#[test]
fn a_broadcast_channel_is_made_as_its_channels_make_it() {
    for rooms in [vec![], vec![Arc::from("r1")], vec![Arc::from("a"), Arc::from("b")], vec![Arc::from("é#")]]
    {
        let opts = BroadcastOptions { rooms, ..Default::default() };
        for (prefix, nsp) in [("socket.io", "/"), ("my-app", "/chat")] {
            assert_eq!(
                Channels::broadcast_channel(prefix, nsp, &opts),
                Channels::new(prefix, nsp).broadcast_to(&opts)
            );
        }
    }
}

#[test]
fn channels_follow_the_adapter_layout() {
    let channels = Channels::new("socket.io", "/chat");
    assert_eq!(channels.broadcast, "socket.io#/chat#");
    assert_eq!(channels.request, "socket.io-request#/chat#");
    assert_eq!(channels.response, "socket.io-response#/chat#");
    let one = BroadcastOptions { rooms: vec![Arc::from("lobby")], ..Default::default() };
    assert_eq!(channels.broadcast_to(&one), "socket.io#/chat#lobby#");
    assert_eq!(channels.broadcast_to(&BroadcastOptions::default()), "socket.io#/chat#");
    assert_eq!(channels.broadcast_pattern(), "socket.io#/chat#*");
}

#[test]
fn the_uid_of_a_broadcast_is_read_without_decoding_it() {
    assert_eq!(broadcast_uid(&hex(NODE_BROADCAST)), Some("abc123"));
    let long = "u".repeat(40);
    let bytes = encode_broadcast(&long, &said_packet(), &BroadcastOptions::default());
    assert_eq!(broadcast_uid(&bytes), Some(long.as_str()));
    assert_eq!(broadcast_uid(b""), None);
    assert_eq!(broadcast_uid(&hex("93")), None, "cut short");
    assert_eq!(broadcast_uid(&hex("81a161")), None, "not an array");
}

// notepack.io for `{type: 9, requestId: "req1", packet: "sid1"}` and the same with
// `packet: undefined` (a client that acknowledged without arguments); JSON for the count.
const NODE_ACK: &str = "83a47479706509a9726571756573744964a472657131a67061636b6574a473696431";
const NODE_EMPTY_ACK: &str = "82a47479706509a9726571756573744964a472657131";

#[test]
fn broadcast_acknowledgements_are_answered_as_node_answers_them() {
    let mut count = Response::to("req1");
    count.kind = Some(RequestType::BroadcastClientCount);
    count.client_count = Some(2);
    assert_eq!(count.encode(), br#"{"type":8,"requestId":"req1","clientCount":2}"#);
    assert_eq!(Response::decode(&count.encode()).unwrap(), count);

    let mut ack = Response::to("req1");
    ack.kind = Some(RequestType::BroadcastAck);
    ack.data = Some(Value::from("sid1"));
    assert_eq!(ack.encode(), hex(NODE_ACK));
    assert_eq!(Response::decode(&hex(NODE_ACK)).unwrap(), ack);
    ack.data = None;
    assert_eq!(ack.encode(), hex(NODE_EMPTY_ACK));
    assert_eq!(Response::decode(&hex(NODE_EMPTY_ACK)).unwrap(), ack);
}

#[test]
fn log_messages_of_a_broadcast_with_acknowledgements_round_trip() {
    let packet = Packet::event("/", "vote", vec![Value::Null]);
    let opts = BroadcastOptions { rooms: vec![Arc::from("r")], ..Default::default() };
    let request = ClusterMessage::broadcast_with_ack("abc123", &packet, &opts, "req1");
    let fields = request.fields();
    let read =
        ClusterMessage::from_fields(|name| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| &v[..]))
            .unwrap();
    assert_eq!(read.request_id(), Some("req1"));
    assert_eq!(
        read.broadcast_parts().unwrap(),
        (packet, BroadcastOptions { rooms: opts.rooms, ..Default::default() })
    );

    let count = ClusterMessage::broadcast_client_count("abc123", "/", "req1", 3);
    assert_eq!(count.client_count(), 3);
    assert_eq!(count.data.as_ref().unwrap().to_json(), r#"{"requestId":"req1","clientCount":3}"#);
    let ack = ClusterMessage::broadcast_ack("abc123", "/", "req1", None);
    assert_eq!(ack.packet_value(), None);
}

// Node's sharded adapter: `JSON.stringify` of `{type: 3, data: {packet, opts}, uid, nsp}`,
// and notepack.io of the same when the packet holds a `Buffer`.
const NODE_SHARDED_JSON: &str = r#"{"type":3,"data":{"packet":{"type":2,"data":["said",{"text":"hi"}],"nsp":"/"},"opts":{"rooms":["r"],"except":[],"flags":{}}},"uid":"abc123","nsp":"/"}"#;
const NODE_SHARDED_BINARY: &str = "84a47479706503a46461746182a67061636b657483a47479706502a46461746192a362696ec4020102a36e7370a12fa46f70747383a5726f6f6d7390a665786365707491a165a5666c61677380a3756964a6616263313233a36e7370a12f";

#[test]
fn sharded_pubsub_messages_are_written_as_node_writes_them() {
    let mut text = Map::new();
    text.insert("text", Value::from("hi"));
    let said = Packet::event("/", "said", vec![Value::Object(text)]);
    let to_room = BroadcastOptions { rooms: vec![Arc::from("r")], ..Default::default() };
    let message = ClusterMessage::broadcast("abc123", &said, &to_room);
    assert_eq!(String::from_utf8(message.encode_pubsub()).unwrap(), NODE_SHARDED_JSON);
    assert_eq!(ClusterMessage::decode_pubsub(NODE_SHARDED_JSON.as_bytes()).unwrap(), message);

    let binary = Packet::event("/", "bin", vec![Value::Binary(Bytes::from_static(&[1, 2]))]);
    let except = BroadcastOptions { except: vec![Arc::from("e")], ..Default::default() };
    let message = ClusterMessage::broadcast("abc123", &binary, &except);
    assert_eq!(message.encode_pubsub(), hex(NODE_SHARDED_BINARY));
    let read = ClusterMessage::decode_pubsub(&hex(NODE_SHARDED_BINARY)).unwrap();
    assert_eq!(read.broadcast_parts().unwrap(), (binary, except));
}

#[test]
fn a_broadcast_is_written_as_its_value_would_be() {
    let opts = BroadcastOptions { rooms: vec![Arc::from("r")], ..Default::default() };
    let mut with_id = Packet::event("/chat", "ev", vec![Value::from("x")]);
    with_id.id = Some(70_000);
    let mut without_data = Packet::event("/", "ev", vec![]);
    without_data.data = None;
    let mut binary = said_packet();
    binary.kind = PacketType::BinaryEvent;
    for packet in [said_packet(), with_id, without_data, binary] {
        let value =
            Value::Array(vec![Value::from("uid"), packet_to_value(&packet), opts_to_value(&opts, true)]);
        assert_eq!(encode_broadcast("uid", &packet, &opts), to_msgpack(&value), "{packet:?}");
    }
}

/// How broadcasts were read before the envelope was read in place: the whole message as a
/// value first.
fn decode_broadcast_by_value(bytes: &[u8]) -> Result<Broadcast, WireError> {
    let Value::Array(mut items) = from_msgpack(bytes)? else {
        return Err(WireError::Shape("a broadcast is an array"));
    };
    if items.len() < 3 {
        return Err(WireError::Shape("a broadcast has three items"));
    }
    let opts = opts_from_value(&items[2]);
    let packet = packet_from_value(std::mem::take(&mut items[1]))?;
    let uid = items[0].as_str().ok_or(WireError::Shape("a broadcast's uid is a string"))?.to_owned();
    Ok(Broadcast { uid, nsp: packet.namespace.to_string(), packet: BroadcastPacket::Built(packet), opts })
}

/// Read in place (built, then straight) as by value; written straight, the text is what the
/// packet read by value encodes to.
fn same_broadcast(bytes: &[u8]) {
    let by_value = decode_broadcast_by_value(bytes);
    let read = read_broadcast(bytes, false).map(|b| format!("{b:?}")).map_err(|_| ());
    assert_eq!(read, by_value.as_ref().map(|b| format!("{b:?}")).map_err(|_| ()), "{bytes:02x?}");
    match (decode_broadcast(bytes), by_value) {
        (Ok(straight), Ok(by_value)) => {
            let BroadcastPacket::Built(packet) = by_value.packet else { unreachable!() };
            assert_eq!(straight.nsp, &*packet.namespace);
            match straight.packet {
                BroadcastPacket::Text(text) => assert_eq!(text.as_str(), &*packet.encode().text),
                built @ BroadcastPacket::Built(_) => {
                    assert_eq!(format!("{built:?}"), format!("{:?}", BroadcastPacket::Built(packet)));
                }
            }
        }
        (Err(_), Err(_)) => {}
        (straight, by_value) => panic!("{bytes:02x?}: straight {straight:?}, by value {by_value:?}"),
    }
}

mod broadcast_in_place {
    use proptest::prelude::*;

    use super::*;

    fn broadcast_bytes() -> Vec<Vec<u8>> {
        let opts = BroadcastOptions {
            rooms: vec![Arc::from("r")],
            except: vec![Arc::from("e")],
            ..Default::default()
        };
        let mut with_id = said_packet();
        with_id.id = Some(9);
        let mut extra = hex(NODE_BROADCAST);
        extra[0] = 0x94;
        extra.push(0xc0);
        vec![hex(NODE_BROADCAST), encode_broadcast("u", &with_id, &opts), extra]
    }

    #[test]
    fn reads_as_the_whole_value_did() {
        for bytes in broadcast_bytes() {
            same_broadcast(&bytes);
            for cut in 0..bytes.len() {
                same_broadcast(&bytes[..cut]);
            }
        }
        // Keys twice (the last counts), unknown keys, a packet that is not a map.
        same_broadcast(&hex("93a17583a47479706502a47479706503a3666f6fc080"));
        same_broadcast(&hex("93a17592c0c080"));
        same_broadcast(&hex("93c081a4747970650280"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn mangled_broadcasts_read_as_the_whole_value_did(which in 0..3_usize, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = broadcast_bytes().swap_remove(which);
            let at = at.index(bytes.len());
            bytes[at] = byte;
            same_broadcast(&bytes);
        }
    }
}

mod compact {
    use proptest::prelude::*;

    use super::*;

    fn messages() -> Vec<ClusterMessage> {
        let opts = BroadcastOptions {
            rooms: vec![Arc::from("r")],
            except: vec![Arc::from("e")],
            ..Default::default()
        };
        let mut broadcast = ClusterMessage::broadcast("abc123", &said_packet(), &opts);
        broadcast.seq = Some(70_000);
        let mut chat =
            ClusterMessage::broadcast("abc123", &Packet::event("/chat", "ev", vec![Value::from("x")]), &opts);
        chat.seq = Some(1);
        vec![
            broadcast,
            chat,
            ClusterMessage::broadcast_with_ack("abc123", &said_packet(), &opts, "req1"),
            ClusterMessage::new("n1", "/", MessageType::Heartbeat),
            ClusterMessage::broadcast_client_count("n1", "/", "req1", 3),
            ClusterMessage::sockets("n1", "/", MessageType::SocketsJoin, &opts, &[Arc::from("a")], false),
            ClusterMessage::server_side_emit(
                "n1",
                "/",
                vec![Value::from("hi"), Value::Binary(Bytes::from_static(&[0, 255]))],
                Some("r2"),
            ),
        ]
    }

    #[test]
    fn messages_round_trip() {
        for message in messages() {
            let bytes = message.encode_compact();
            assert_eq!(ClusterMessage::decode_compact(&bytes, None).unwrap(), message);
            // Another node's uid changes nothing.
            assert_eq!(ClusterMessage::decode_compact(&bytes, Some("other")).unwrap(), message);
        }
    }

    #[test]
    fn a_broadcast_is_written_straight_as_its_message_would_be() {
        let flags = BroadcastFlags {
            volatile: true,
            compress: false,
            local: false,
            timeout: Some(Duration::from_millis(1500)),
        };
        let every_option = BroadcastOptions {
            rooms: vec![Arc::from("r"), Arc::from("s")],
            except: vec![Arc::from("e"), Arc::from("e")],
            flags,
        };
        let mut with_id = Packet::event("/chat", "ev", vec![Value::from("x")]);
        with_id.id = Some(70_000);
        let binary = Packet::event("/", "bin", vec![Value::Binary(Bytes::from_static(&[1, 2]))]);
        for (packet, opts) in [
            (said_packet(), BroadcastOptions::default()),
            (with_id, every_option.clone()),
            (binary, every_option),
        ] {
            for (nsp, seq) in [("/", 1), ("/other", 1 << 40)] {
                let mut message = ClusterMessage::broadcast_in("abc123", nsp, &packet, &opts);
                message.seq = Some(seq);
                let bytes = encode_compact_broadcast("abc123", nsp, &packet, &opts).numbered(seq);
                assert_eq!(bytes, message.encode_compact(), "{packet:?} in {nsp}");
                assert_eq!(compact_sender(&bytes), Some(("abc123", Some(seq))));
            }
        }
        let heartbeat = ClusterMessage::new("n1", "/", MessageType::Heartbeat);
        assert_eq!(compact_sender(&heartbeat.encode_compact()), Some(("n1", None)));
        assert_eq!(compact_sender(&hex("94a175a12f0301")), None);
        assert_eq!(compact_sender(&hex("95c0a12f0301c0")), None);
    }

    #[test]
    fn the_layout_is_an_array_of_five() {
        let mut heartbeat = ClusterMessage::new("n1", "/", MessageType::Heartbeat);
        heartbeat.seq = Some(5);
        // ["n1", "/", 2, 5, nil]
        assert_eq!(heartbeat.encode_compact(), hex("95a26e31a12f0205c0"));
        let broadcast =
            ClusterMessage::broadcast("u", &Packet::event("/", "e", vec![]), &BroadcastOptions::default());
        let bytes = broadcast.encode_compact();
        assert_eq!(bytes[..6], hex("95a175a12f03"));
        assert_eq!(
            ClusterMessage::decode_compact(&bytes, None)
                .unwrap()
                .into_broadcast_parts()
                .unwrap()
                .0
                .namespace
                .as_ref(),
            "/"
        );
    }

    /// What [`ClusterMessage::decode_compact_parts`] reads in place is what the value read
    /// gives, on every input: the same envelope, the same packet and options or the same error.
    fn same_parts(bytes: &[u8]) {
        let by_value = ClusterMessage::decode_compact(bytes, None);
        let in_place = ClusterMessage::decode_compact_parts(bytes, None);
        // Compared as printed: a mangled float may be NaN, which equals nothing.
        let same = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{bytes:02x?}");
        };
        match (by_value, in_place) {
            (Err(_), Err(_)) => {}
            (Ok(by_value), Ok((message, Some(parts)))) => {
                same(&message, &ClusterMessage { data: None, ..by_value.clone() });
                let (packet, opts) = by_value.into_broadcast_parts().expect("read in place, read by value");
                same(&parts.1, &opts);
                // Written straight, the text is what the packet read by value encodes to.
                match parts.0 {
                    BroadcastPacket::Text(text) => {
                        assert_eq!(text.as_str(), &*packet.encode().text, "{bytes:02x?}");
                    }
                    built @ BroadcastPacket::Built(_) => same(&built, &BroadcastPacket::Built(packet)),
                }
            }
            (Ok(by_value), Ok((message, None))) => same(&message, &by_value),
            (by_value, in_place) => panic!("{bytes:02x?}: {by_value:?} against {in_place:?}"),
        }
    }

    // `{packet: {type: 2, data: ["e"]}, opts: {rooms: [1, "a", null], except: "x", flags: 5,
    // flags: {volatile: true, volatile: 1, timeout: 9}, zzz: []}}`: rooms of a number and a
    // null, except not an array, flags twice (the first not a map), a flag twice, another key.
    const ODD_OPTIONS: &str = "82a67061636b657482a47479706502a46461746191a165a46f70747385a5726f6f6d739301a161c0a6657863657074a178a5666c61677305a5666c61677383a8766f6c6174696c65c3a8766f6c6174696c6501a774696d656f757409a37a7a7a90";

    #[test]
    fn broadcasts_read_in_place_as_by_value() {
        for message in messages() {
            let bytes = message.encode_compact();
            same_parts(&bytes);
            for cut in 0..bytes.len() {
                same_parts(&bytes[..cut]);
            }
            let (read, parts) = ClusterMessage::decode_compact_parts(&bytes, None).unwrap();
            // Plain broadcasts are read in place; with a request id, or other messages, not.
            let plain = message.kind == MessageType::Broadcast && message.request_id().is_none();
            assert_eq!(parts.is_some(), plain, "{message:?}");
            assert_eq!(read.data.is_none(), plain || message.data.is_none());
        }
        // Odd shapes: an unknown key, a packet that is not a map and a packet of no known type
        // fall back to the value read; keys twice (the last counts), no options and odd
        // options are read in place.
        for (data, in_place) in [
            ("83a67061636b657482a47479706502a46461746191a165a46f70747380a3666f6fc0", false),
            ("82a67061636b6574c0a46f70747380", false),
            ("82a67061636b657481a47479706563a46f70747380", false),
            ("82a67061636b657482a47479706502a47479706503a67061636b657481a47479706504", true),
            ("81a67061636b657482a47479706502a46461746191a165", true),
            (ODD_OPTIONS, true),
        ] {
            let mut bytes = hex("95a175a12f0301");
            bytes.extend(hex(data));
            same_parts(&bytes);
            let (_, parts) = ClusterMessage::decode_compact_parts(&bytes, None).unwrap();
            assert_eq!(parts.is_some(), in_place, "{data}");
        }
        // The odd options are read in place, as the value read gives them.
        let mut bytes = hex("95a175a12f0301");
        bytes.extend(hex(ODD_OPTIONS));
        let (_, parts) = ClusterMessage::decode_compact_parts(&bytes, None).unwrap();
        let opts = parts.expect("read in place").1;
        assert_eq!(opts.rooms, vec![Arc::from("1"), Arc::from("a")]);
        assert!(opts.except.is_empty());
        assert!(!opts.flags.volatile && opts.flags.compress);
        assert_eq!(opts.flags.timeout, Some(Duration::from_millis(9)));
    }

    #[test]
    fn own_broadcasts_are_read_without_their_data() {
        let [broadcast, _, with_ack, heartbeat, ..] = &messages()[..] else { unreachable!() };
        for message in [broadcast, with_ack] {
            let read = ClusterMessage::decode_compact(&message.encode_compact(), Some("abc123")).unwrap();
            assert_eq!(read, ClusterMessage { data: None, ..message.clone() });
        }
        // Only broadcasts: the node's other messages (heartbeats, answers) are read whole.
        let read = ClusterMessage::decode_compact(&heartbeat.encode_compact(), Some("n1")).unwrap();
        assert_eq!(&read, heartbeat);
        let count = ClusterMessage::broadcast_client_count("n1", "/", "req1", 3);
        assert_eq!(ClusterMessage::decode_compact(&count.encode_compact(), Some("n1")).unwrap(), count);
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            "",
            "94a175a12f0300",         // four items
            "95c0a12f0300c0",         // uid not a string
            "95a175c00300c0",         // nsp not a string
            "95a175a12f6300c0",       // unknown type 99
            "95a175a12f03a178c0",     // seq not a number
            "95a175a12f0300",         // cut before the data
            "96a175a12f0300c0",       // a sixth item announced, not there
            "81a17595a175a12f0300c0", // a map
        ] {
            assert!(ClusterMessage::decode_compact(&hex(bad), None).is_err(), "{bad}");
        }
        // A sixth item is read and ignored.
        let read = ClusterMessage::decode_compact(&hex("96a175a12f0200c0c3"), None).unwrap();
        assert_eq!(
            read,
            ClusterMessage { seq: Some(0), ..ClusterMessage::new("u", "/", MessageType::Heartbeat) }
        );
    }

    #[test]
    fn every_cut_of_a_message_is_an_error() {
        for message in messages() {
            let bytes = message.encode_compact();
            for cut in 0..bytes.len() {
                assert!(
                    ClusterMessage::decode_compact(&bytes[..cut], None).is_err(),
                    "{message:?} cut at {cut}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// A mangled message reads as an error or as a message that writes back to bytes that
        /// read the same, and skipping an own broadcast's data reads the same envelope.
        #[test]
        fn mangled_messages_read_consistently(which in 0..7_usize, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = messages().swap_remove(which).encode_compact();
            let at = at.index(bytes.len());
            bytes[at] = byte;
            same_parts(&bytes);
            if let Ok(read) = ClusterMessage::decode_compact(&bytes, None) {
                // Compared as printed: a mangled float may be NaN, which equals nothing.
                let again = ClusterMessage::decode_compact(&read.encode_compact(), None).unwrap();
                prop_assert_eq!(format!("{again:?}"), format!("{read:?}"));
                let skipped = ClusterMessage::decode_compact(&bytes, Some(&read.uid)).unwrap();
                let expected = if read.kind == MessageType::Broadcast { ClusterMessage { data: None, ..read } } else { read };
                prop_assert_eq!(format!("{skipped:?}"), format!("{expected:?}"));
            }
        }
    }
}

mod opts_as_read {
    use proptest::prelude::*;

    use super::*;

    /// What a node reads back of `opts`, through both layouts.
    fn read_back(opts: &BroadcastOptions) -> [BroadcastOptions; 2] {
        let mut message = ClusterMessage::broadcast_in("u", "/", &said_packet(), opts);
        message.seq = Some(1);
        let fields = message.fields();
        let from_fields = ClusterMessage::from_fields(|name| {
            fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_slice())
        });
        let compact = ClusterMessage::decode_compact(&message.encode_compact(), None);
        [
            from_fields.unwrap().into_broadcast_parts().unwrap().1,
            compact.unwrap().into_broadcast_parts().unwrap().1,
        ]
    }

    fn rooms() -> impl Strategy<Value = Vec<Arc<str>>> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "é", ""]), 0..5)
            .prop_map(|rooms| rooms.into_iter().map(Arc::from).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// A node holding its own broadcast delivers it with the options other nodes read.
        #[test]
        fn are_the_options_read_back(
            rooms in rooms(),
            except in rooms(),
            volatile in any::<bool>(),
            compress in any::<bool>(),
            local in any::<bool>(),
            timeout in prop::option::of(0_u64..10_000_000),
        ) {
            let opts = BroadcastOptions {
                rooms,
                except,
                flags: BroadcastFlags { volatile, compress, local, timeout: timeout.map(Duration::from_micros) },
            };
            let held = opts_as_read(&opts);
            for read in read_back(&opts) {
                prop_assert_eq!(&held, &read);
            }
        }
    }
}

mod fields_in_place {
    use proptest::prelude::*;

    use super::*;

    /// A stream entry's fields with `data`, read both ways: in place, the parts are what the
    /// value gives; not in place, the message is the one read by value.
    fn same_fields_parts(kind: &[u8], data: &[u8]) {
        let field = |name: &str| match name {
            "uid" => Some(&b"u"[..]),
            "nsp" => Some(&b"/"[..]),
            "type" => Some(kind),
            "data" => Some(data),
            "seq" => Some(&b"4"[..]),
            _ => None,
        };
        let by_value = ClusterMessage::from_fields(field);
        match ClusterMessage::from_fields_parts(field) {
            Ok((message, Some(parts))) => {
                let by_value = by_value.expect("read in place, read by value");
                assert_eq!(message, ClusterMessage { data: None, ..by_value.clone() });
                let (packet, opts) = by_value.into_broadcast_parts().expect("parts by value");
                let (read, read_opts) = *parts;
                assert_eq!(read_opts, opts);
                let data = String::from_utf8_lossy(data);
                match read {
                    BroadcastPacket::Built(read) => assert_eq!(read, packet, "{data}"),
                    // Used as it stands: the text the packet by value encodes to.
                    BroadcastPacket::Text(text) => {
                        assert_eq!(text.as_str(), &*packet.encode().text, "{data}");
                    }
                }
            }
            Ok((message, None)) => assert_eq!(Some(message), by_value.ok()),
            Err(error) => assert_eq!(Some(error.to_string()), by_value.err().map(|e| e.to_string())),
        }
    }

    fn in_place(data: &str) -> bool {
        let field = |name: &str| match name {
            "type" => Some(&b"3"[..]),
            "data" => Some(data.as_bytes()),
            _ => None,
        };
        matches!(ClusterMessage::from_fields_parts(field), Ok((_, Some(_))))
    }

    fn written() -> Vec<String> {
        let opts = BroadcastOptions {
            rooms: vec![Arc::from("r"), Arc::from("é\"")],
            except: vec![Arc::from("e")],
            flags: BroadcastFlags {
                volatile: true,
                timeout: Some(Duration::from_millis(5)),
                ..Default::default()
            },
        };
        let mut with_id =
            Packet::event("/", "said", vec![Value::from("x\n"), Value::from(Number::from(1.5))]);
        with_id.id = Some(3);
        [Packet::event("/", "said", vec![Value::from("hi")]), with_id]
            .iter()
            .map(|packet| {
                let mut out = Vec::new();
                assert!(write_broadcast_json("/chat", packet, &opts, &mut out));
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    fn text_read(data: &str) -> Option<String> {
        let field = |name: &str| match name {
            "type" => Some(&b"3"[..]),
            "data" => Some(data.as_bytes()),
            _ => None,
        };
        match ClusterMessage::from_fields_parts(field) {
            Ok((_, Some(parts))) => match parts.0 {
                BroadcastPacket::Text(text) => Some(text.as_str().to_owned()),
                BroadcastPacket::Built(_) => None,
            },
            _ => None,
        }
    }

    #[test]
    fn a_packets_data_that_prints_back_as_written_is_used_as_it_stands() {
        // As Node's adapter writes it.
        let node = r#"{"packet":{"type":2,"data":["said",{"from":"x","text":"hé"}],"nsp":"/chat","id":4},"opts":{"rooms":["r"],"except":[],"flags":{}}}"#;
        assert_eq!(text_read(node).as_deref(), Some(r#"2/chat,4["said",{"from":"x","text":"hé"}]"#));
        let plain = r#"{"packet":{"type":2,"data":["said",{"text":"hé","n":3}],"nsp":"/"}}"#;
        assert_eq!(text_read(plain).as_deref(), Some(r#"2["said",{"text":"hé","n":3}]"#));
        // An escape or spaces inside the data, a float, data that is not an array, a packet
        // of another kind: built.
        for data in [
            r#"{"packet":{"type":2,"data":["said","h\u00e9"]}}"#,
            r#"{"packet":{"type":2,"data":["said", 1]}}"#,
            r#"{"packet":{"type":2,"data":["said",1.5]}}"#,
            r#"{"packet":{"type":2,"data":{"a":1}}}"#,
            r#"{"packet":{"type":0,"data":[]}}"#,
        ] {
            assert_eq!(text_read(data), None, "{data}");
            same_fields_parts(b"3", data.as_bytes());
        }
    }

    #[test]
    fn broadcasts_read_in_place_as_by_value() {
        let mut cases = written();
        cases.extend(
            [
                // As Node's adapter writes it.
                r#"{"packet":{"type":2,"data":["said",{"from":"x","text":"hi"}],"nsp":"/"},"opts":{"rooms":["r"],"except":[],"flags":{}}}"#,
                // Whitespace, keys in another order, no opts, an unknown packet key, a key twice.
                " {\n\"opts\" : {\"rooms\":[1,\"a\",null]} , \"packet\":{\"nsp\":\"/x\",\"data\":[\"e\"],\"type\":2,\"zz\":0,\"type\":2}}\t",
                r#"{"packet":{"type":2,"data":[]}}"#,
            ]
            .map(str::to_owned),
        );
        for data in &cases {
            assert!(in_place(data.trim_start()), "{data}");
            same_fields_parts(b"3", data.as_bytes());
            for cut in 0..data.len() {
                same_fields_parts(b"3", &data.as_bytes()[..cut]);
            }
        }
        // Left to the reading by value: a broadcast with acknowledgements, a key twice, an
        // escaped key, a packet that is not an object, trailing bytes, no packet, not a broadcast.
        for data in [
            r#"{"packet":{"type":2,"data":["e"]},"requestId":"r1","opts":{}}"#,
            r#"{"packet":{"type":2,"data":["e"]},"packet":{"type":2,"data":["f"]}}"#,
            r#"{"pa\u0063ket":{"type":2,"data":["e"]}}"#,
            r#"{"packet":[2]}"#,
            r#"{"packet":{"type":2,"data":["e"]}}x"#,
            r#"{"opts":{}}"#,
            r#"{"packet":{"type":99}}"#,
        ] {
            assert!(!in_place(data), "{data}");
            same_fields_parts(b"3", data.as_bytes());
        }
        same_fields_parts(b"9", cases[0].as_bytes());
        let deep = format!(r#"{{"packet":{{"type":2,"data":{}1{}}}}}"#, "[".repeat(40), "]".repeat(40));
        same_fields_parts(b"3", deep.as_bytes());
        let too_deep = format!(r#"{{"packet":{{"type":2,"data":{}1{}}}}}"#, "[".repeat(200), "]".repeat(200));
        same_fields_parts(b"3", too_deep.as_bytes());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn mangled_broadcasts_read_in_place_as_by_value(which in 0..2_usize, at in any::<prop::sample::Index>(), byte in 0x20_u8..0x7f) {
            let mut data = written().swap_remove(which).into_bytes();
            let at = at.index(data.len());
            data[at] = byte;
            same_fields_parts(b"3", &data);
        }
    }
}

/// Options of every shape, written straight as by value, both ways.
#[test]
fn options_are_written_straight_as_by_value() {
    let rooms = |names: &[&str]| names.iter().map(|name| Arc::from(*name)).collect::<Vec<_>>();
    let many: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    for rooms_of in [rooms(&[]), rooms(&["a"]), rooms(&["a", "é\"\n", "a"]), rooms(&many)] {
        for except in [rooms(&[]), rooms(&["x", "x", "y"])] {
            for (volatile, compress, timeout) in [
                (false, true, None),
                (true, false, Some(Duration::from_micros(1_500_900))),
                (false, true, Some(Duration::ZERO)),
            ] {
                let opts = BroadcastOptions {
                    rooms: rooms_of.clone(),
                    except: except.clone(),
                    flags: BroadcastFlags { volatile, compress, local: false, timeout },
                };
                let value = opts_to_value(&opts, true);
                let mut straight = Vec::new();
                write_opts(&opts, &mut straight);
                let mut by_value = Vec::new();
                msgpack::write(&value, &mut by_value);
                assert_eq!(straight, by_value, "{opts:?}");
                let mut straight = Vec::new();
                write_opts_json(&opts, &mut straight);
                assert_eq!(String::from_utf8(straight).unwrap(), value.to_json(), "{opts:?}");
            }
        }
    }
}

/// A node holds its own broadcast only when the log gives back what it holds.
#[test]
fn packets_that_read_back_as_written() {
    let event = |value: Value| Packet::event("/", "e", vec![value]);
    let nested = |depth: usize| (0..depth).fold(Value::from(1), |inner, _| Value::Array(vec![inner]));
    for (value, exact) in [
        (Value::from("text"), true),
        (Value::from(Number::from(1.5)), true),
        (Value::from(Number::from(-(1_i64 << 53))), true),
        (Value::from(Number::from(1_u64 << 53)), true),
        (Value::from(Number::from((1_u64 << 53) + 1)), false),
        (Value::from(Number::from(u64::MAX)), false),
        (Value::from(Number::from(i64::MIN)), false),
        (Value::from(Number::from(f64::NAN)), false),
        (Value::from(Number::from(f64::INFINITY)), false),
        (Value::Binary(Bytes::from_static(&[1])), true),
        (nested(20), true),
        (nested(MAX_DEPTH), false),
    ] {
        assert_eq!(reads_back_as_written(&event(value.clone())), exact, "{value:?}");
    }
    // Where it is exact, the message read back holds the same packet.
    let packet = event(Value::from(Number::from(1_u64 << 53)));
    let message = ClusterMessage::broadcast_in("u", "/", &packet, &BroadcastOptions::default());
    let read = ClusterMessage::decode_compact(&message.encode_compact(), None).unwrap();
    assert_eq!(read.into_broadcast_parts().unwrap().0, packet);
}

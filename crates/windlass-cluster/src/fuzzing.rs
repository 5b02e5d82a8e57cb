//! Fuzz harnesses of the cluster wire formats and of Redis's replies, shared by the
//! cargo-fuzz targets in `fuzz/` (`cluster_wire`, `redis_replies`) and the stable test that
//! replays their seeds (`tests/fuzz_seeds.rs`).
//!
//! What a broker hands a node is untrusted: another process wrote it, maybe not windlass.
//! Every reader of [`wire`](crate::wire) gets the same bytes; none may panic, and whatever one
//! reads must write back to bytes that read the same (writing is idempotent after one read:
//! `write(read(write(read(x)))) == write(read(x))`).

use crate::resp::{self, StreamRead};

/// Asserts `a` and `b` print the same: a float read from hostile bytes may be NaN, which
/// equals nothing, itself included.
fn same(a: &impl std::fmt::Debug, b: &impl std::fmt::Debug, what: &str) {
    assert_eq!(format!("{a:?}"), format!("{b:?}"), "{what}");
}
use windlass_sio_proto::socket::Packet;

use crate::wire::{self, BroadcastPacket, ClusterMessage, MessageType, Request, Response, StoredSession};

/// A packet read straight from the wire is the packet read by value: its text, when it was
/// written as text, is byte for byte what that packet encodes to. Gives the packet by value.
fn same_packet(read: BroadcastPacket, by_value: Packet) -> Packet {
    match read {
        BroadcastPacket::Built(packet) => same(&packet, &by_value, "built straight as by value"),
        BroadcastPacket::Text(text) => {
            let encoded = by_value.encode();
            assert!(encoded.attachments.is_empty(), "a packet with binary is not written straight");
            assert_eq!(text.as_str(), &*encoded.text, "written straight as the packet read by value encodes");
        }
    }
    by_value
}

/// Node's broadcast, read by value and straight (a packet written as text).
fn broadcast_wire(data: &[u8]) {
    let straight = wire::read_broadcast(data, true);
    if let Ok(broadcast) = wire::read_broadcast(data, false) {
        let straight = straight.expect("a broadcast read by value reads straight");
        let BroadcastPacket::Built(packet) = broadcast.packet else { panic!("built when asked to") };
        same(
            &(&straight.uid, &straight.nsp, &straight.opts),
            &(&broadcast.uid, &*packet.namespace, &broadcast.opts),
            "the envelope read straight",
        );
        let packet = same_packet(straight.packet, packet);
        let once = wire::encode_broadcast(&broadcast.uid, &packet, &broadcast.opts);
        let again = wire::read_broadcast(&once, false).expect("a written broadcast reads");
        let again_packet = again.packet.into_packet().expect("built");
        assert_eq!(wire::encode_broadcast(&again.uid, &again_packet, &again.opts), once);
        if let Some(uid) = wire::broadcast_uid(data) {
            assert_eq!(uid, broadcast.uid, "the uid peeked is the uid read");
        }
    } else {
        assert!(straight.is_err(), "a broadcast that does not read by value does not read straight");
    }
}

/// Runs every reader over `data`. For [`ClusterMessage::from_fields`], `data` is split at
/// `0xff` into the fields `uid`, `nsp`, `type`, `data`, `seq`.
pub fn cluster_wire(data: &[u8]) {
    broadcast_wire(data);
    let _ = wire::broadcast_uid(data);
    if let Ok(request) = Request::decode(data) {
        let once = request.encode();
        assert_eq!(Request::decode(&once).expect("a written request reads").encode(), once);
    }
    if let Ok(response) = Response::decode(data) {
        let once = response.encode();
        assert_eq!(Response::decode(&once).expect("a written response reads").encode(), once);
    }
    if let Ok(message) = ClusterMessage::decode_pubsub(data) {
        let once = message.encode_pubsub();
        let again = ClusterMessage::decode_pubsub(&once).expect("a written message reads");
        assert_eq!(again.encode_pubsub(), once);
        let _ = message.broadcast_parts();
        let _ = (message.sockets_parts(), message.request_id(), message.client_count());
        let _ = message.sockets_of_response();
    }
    if let Ok(message) = ClusterMessage::decode_compact(data, None) {
        let once = message.encode_compact();
        let again = ClusterMessage::decode_compact(&once, None).expect("a written message reads");
        assert_eq!(again.encode_compact(), once);
        assert_eq!(
            wire::compact_sender(data),
            Some((message.uid.as_str(), message.seq)),
            "the sender peeked is the one read"
        );
        // Its own broadcasts' data left unread, everything else read whole.
        let skipped =
            ClusterMessage::decode_compact(data, Some(&message.uid)).expect("an envelope read whole reads");
        if message.kind == MessageType::Broadcast {
            same(&skipped, &ClusterMessage { data: None, ..message.clone() }, "an own broadcast's envelope");
        } else {
            same(&skipped, &message, "a message read whole");
        }
        let parts = ClusterMessage::decode_compact_parts(data, None).expect("read by value, read in place");
        match parts {
            (in_place, Some(parts)) => {
                same(
                    &in_place,
                    &ClusterMessage { data: None, ..message.clone() },
                    "the envelope read in place",
                );
                let (read, opts) = *parts;
                let by_value =
                    message.clone().into_broadcast_parts().expect("a broadcast read in place reads by value");
                same(&opts, &by_value.1, "the options in place as by value");
                let packet = same_packet(read, by_value.0);
                // Written straight, it is what the message would be.
                if let Some(seq) = message.seq {
                    let mut built = ClusterMessage::broadcast_in(&message.uid, &message.nsp, &packet, &opts);
                    built.seq = Some(seq);
                    assert_eq!(
                        wire::encode_compact_broadcast(&message.uid, &message.nsp, &packet, &opts)
                            .numbered(seq),
                        built.encode_compact()
                    );
                }
            }
            (in_place, None) => same(&in_place, &message, "not in place: as by value"),
        }
    } else {
        assert!(ClusterMessage::decode_compact_parts(data, None).is_err(), "an error both ways");
    }
    if let Ok(session) = StoredSession::decode(data) {
        let once = session.encode();
        assert_eq!(StoredSession::decode(&once).expect("a written session reads").encode(), once);
    }
    let fields: Vec<&[u8]> = data.split(|b| *b == 0xff).collect();
    let field = |name: &str| {
        let at = ["uid", "nsp", "type", "data", "seq"].iter().position(|n| *n == name)?;
        fields.get(at).copied()
    };
    // A broadcast read in place is what it reads by value; anything else reads the same.
    let by_value = ClusterMessage::from_fields(field);
    match (ClusterMessage::from_fields_parts(field), &by_value) {
        (Ok((in_place, Some(parts))), Ok(message)) => {
            same(&in_place, &ClusterMessage { data: None, ..message.clone() }, "the fields read in place");
            let (read, opts) = *parts;
            let by_value =
                message.clone().into_broadcast_parts().expect("fields read in place read by value");
            same(&opts, &by_value.1, "the options in place as by value");
            same_packet(read, by_value.0);
        }
        (Ok((message, None)), Ok(by_value)) => same(&message, by_value, "fields not in place: as by value"),
        (Err(_), Err(_)) => {}
        (in_place, by_value) => panic!("read in place {in_place:?}, by value {by_value:?}"),
    }
    if let Ok(message) = by_value {
        let written = message.fields();
        let read = ClusterMessage::from_fields(|name| {
            written.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_slice())
        })
        .expect("written fields read");
        assert_eq!(read.fields(), written);
    }
}

/// Runs the readers of Redis's replies over `data` (what a Redis, or whatever answers on its
/// port, sends an adapter's own connection). None may panic; the readers of particular
/// replies (subscription pushes, `XREAD`'s entries) agree with the reader of any reply on
/// where a reply ends, and say "not yet" of every cut before that end.
pub fn redis_replies(data: &[u8]) {
    let any = resp::parse(data);
    let ends = |used: usize, what: &str| {
        assert_eq!(
            any.as_ref().ok().and_then(|reply| reply.as_ref().map(|r| r.1)),
            Some(used),
            "{what} ends where any reply does: {:?}",
            String::from_utf8_lossy(data)
        );
    };
    if let Ok(Some((_, used))) = resp::parse_push(data) {
        ends(used, "a push");
    }
    if let Ok(Some((read, used))) = resp::parse_stream_read(data) {
        ends(used, "an XREAD answer");
        if let StreamRead::Entries(entries) = &read {
            for entry in entries {
                let _ = (entry.field("uid"), entry.field("data"));
            }
        }
        if used <= 4096 {
            for cut in 0..used {
                assert!(
                    matches!(resp::parse_stream_read(&data[..cut]), Ok(None)),
                    "cut at {cut} is not whole"
                );
            }
        }
    }
}

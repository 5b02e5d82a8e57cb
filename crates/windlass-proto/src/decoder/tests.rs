use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::frame::FrameHead;
use crate::mask::apply_mask;

/// A client frame: header with MASK set, key, masked payload.
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = FrameHead::new(fin, opcode, payload.len()).as_slice().to_vec();
    out[1] |= 0x80;
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    client_frame(fin, opcode, payload, [0x12, 0x34, 0x56, 0x78])
}

/// Decodes `input` delivered in the given chunks; returns the events and the error, if any.
fn decode_chunks(input: &[u8], cuts: &[usize], config: DecoderConfig) -> (Vec<Event>, Option<ProtocolError>) {
    decode_chunks_with(WsDecoder::new(config), input, cuts)
}

/// [`decode_chunks`] with a decoder set up by the caller.
fn decode_chunks_with(
    mut decoder: WsDecoder,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<Event>, Option<ProtocolError>) {
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([input.len()]) {
        buf.put_slice(&input[start..end]);
        start = end;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fn decode_all(input: &[u8]) -> (Vec<Event>, Option<ProtocolError>) {
    decode_chunks(input, &[], DecoderConfig::default())
}

fn text(s: &str) -> Event {
    Event::Text(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn single_frame_messages() {
    let mut input = frame(true, OpCode::Text, b"Hello");
    input.extend(frame(true, OpCode::Binary, &[0, 1, 2]));
    input.extend(frame(true, OpCode::Text, b""));
    let (events, err) = decode_all(&input);
    assert_eq!(err, None);
    assert_eq!(events, vec![text("Hello"), Event::Binary(Bytes::from_static(&[0, 1, 2])), text("")]);
}

#[test]
fn fragmented_message_with_interleaved_control_frames() {
    let mut input = frame(false, OpCode::Text, "frag".as_bytes());
    input.extend(frame(true, OpCode::Ping, b"p1"));
    input.extend(frame(false, OpCode::Continuation, "mén".as_bytes()));
    input.extend(frame(true, OpCode::Pong, b""));
    input.extend(frame(true, OpCode::Continuation, "ted".as_bytes()));
    let expected =
        vec![Event::Ping(Bytes::from_static(b"p1")), Event::Pong(Bytes::new()), text("fragménted")];
    assert_eq!(decode_all(&input), (expected.clone(), None));
}

/// The codec property: the same input split at every byte boundary (and byte by byte) decodes
/// to the same events.
#[test]
fn every_split_point_decodes_the_same() {
    let mut input = frame(false, OpCode::Text, "κόσ".as_bytes());
    input.extend(frame(true, OpCode::Ping, b"hello"));
    input.extend(frame(true, OpCode::Continuation, "με".as_bytes()));
    input.extend(frame(true, OpCode::Binary, &[7u8; 300]));
    input.extend(frame(true, OpCode::Close, &[0x03, 0xe8, b'b', b'y', b'e']));
    let (whole, err) = decode_all(&input);
    assert_eq!(err, None);
    assert_eq!(whole.len(), 4);
    assert_eq!(whole[3], Event::Close(Some(CloseFrame { code: CloseCode::NORMAL, reason: "bye".into() })));
    for cut in 0..=input.len() {
        assert_eq!(
            decode_chunks(&input, &[cut], DecoderConfig::default()),
            (whole.clone(), None),
            "cut {cut}"
        );
    }
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(decode_chunks(&input, &every, DecoderConfig::default()), (whole, None));
}

#[test]
fn payload_is_unmasked_in_place_and_not_copied() {
    let input = frame(true, OpCode::Binary, &[1u8; 64]);
    let mut buf = BytesMut::from(&input[..]);
    let base = buf.as_ptr() as usize;
    let mut decoder = WsDecoder::new(DecoderConfig::default());
    let Some(Event::Binary(payload)) = decoder.decode(&mut buf).unwrap() else {
        panic!("expected a binary message");
    };
    assert_eq!(&payload[..], &[1u8; 64]);
    // The payload points into the read buffer, just past the 6-byte header.
    assert_eq!(payload.as_ptr() as usize, base + 6);
}

#[test]
fn protocol_violations_map_to_their_close_codes() {
    let cases: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
        (vec![0x83, 0x80, 0, 0, 0, 0], ProtocolError::ReservedOpcode(3), 1002),
        (vec![0x8B, 0x80, 0, 0, 0, 0], ProtocolError::ReservedOpcode(0xB), 1002),
        (vec![0xC1, 0x80, 0, 0, 0, 0], ProtocolError::ReservedBits(0b100), 1002),
        (vec![0x81, 0x00], ProtocolError::UnmaskedFrame, 1002),
        (frame(false, OpCode::Ping, b""), ProtocolError::FragmentedControl, 1002),
        (frame(true, OpCode::Ping, &[0; 126]), ProtocolError::ControlTooLong(126), 1002),
        (frame(true, OpCode::Continuation, b"x"), ProtocolError::UnexpectedContinuation, 1002),
        (
            [frame(false, OpCode::Text, b"a"), frame(true, OpCode::Text, b"b")].concat(),
            ProtocolError::ExpectedContinuation,
            1002,
        ),
        (frame(true, OpCode::Text, &[0xce, 0xba, 0xff]), ProtocolError::InvalidUtf8, 1007),
        (frame(true, OpCode::Text, &[0xce]), ProtocolError::InvalidUtf8, 1007),
        (frame(true, OpCode::Close, &[3]), ProtocolError::CloseTooShort, 1002),
        (frame(true, OpCode::Close, &[0x03, 0xed]), ProtocolError::InvalidCloseCode(1005), 1002),
        (frame(true, OpCode::Close, &[0x03, 0xe8, 0xff]), ProtocolError::InvalidUtf8, 1007),
    ];
    for (input, expected, code) in cases {
        let (_, err) = decode_all(&input);
        let err = err.unwrap_or_else(|| panic!("no error for {input:x?}"));
        assert_eq!(err, expected, "{input:x?}");
        assert_eq!(err.close_code(), CloseCode(code));
    }
}

#[test]
fn size_limits_fail_at_the_header_before_the_payload_arrives() {
    let config = DecoderConfig { max_frame_size: 100, max_message_size: 150, ..DecoderConfig::default() };
    // Only the header of a 101-byte frame: rejected already.
    let big = frame(true, OpCode::Binary, &[0; 101]);
    let (_, err) = decode_chunks(&big[..6], &[], config);
    assert_eq!(err, Some(ProtocolError::FrameTooLarge { len: 101, max: 100 }));
    // Two fragments of 80: the second header pushes the message past 150.
    let input =
        [frame(false, OpCode::Binary, &[0; 80]), frame(true, OpCode::Continuation, &[0; 80])].concat();
    let (_, err) = decode_chunks(&input[..86 + 6], &[], config);
    assert_eq!(err, Some(ProtocolError::MessageTooLarge { len: 160, max: 150 }));
    assert_eq!(err.unwrap().close_code(), CloseCode::TOO_BIG);
}

#[test]
fn invalid_utf8_fails_before_the_frame_ends() {
    // Autobahn 6.4.3: a text frame whose first part is already invalid arrives in pieces; the
    // decoder must fail without waiting for the rest of the frame.
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]);
    payload.extend_from_slice(b"edited");
    let input = frame(true, OpCode::Text, &payload);
    let header = 6;
    let upto_bad = header + "κόσμε".len() + 2;
    let (_, err) = decode_chunks(&input[..upto_bad], &[], DecoderConfig::default());
    assert_eq!(err, Some(ProtocolError::InvalidUtf8));
}

#[test]
fn bytes_wanted_reports_the_rest_of_the_frame() {
    let input = frame(true, OpCode::Binary, &[9; 1000]);
    let mut buf = BytesMut::from(&input[..100]);
    let mut decoder = WsDecoder::new(DecoderConfig::default());
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(decoder.bytes_wanted(buf.len()), 1000 - (100 - 8));
}

#[derive(Clone, Debug)]
enum Msg {
    Text(String, Vec<usize>),
    Binary(Vec<u8>, Vec<usize>),
    Ping(Vec<u8>),
}

fn msg_strategy() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (".{0,40}", prop::collection::vec(0usize..60, 0..4)).prop_map(|(s, c)| Msg::Text(s, c)),
        (prop::collection::vec(any::<u8>(), 0..300), prop::collection::vec(0usize..300, 0..4))
            .prop_map(|(b, c)| Msg::Binary(b, c)),
        prop::collection::vec(any::<u8>(), 0..125).prop_map(Msg::Ping),
    ]
}

/// Splits `data` into fragments at the given (sorted, deduplicated, clamped) offsets.
fn fragments(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| (*c).min(data.len())).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for c in cuts {
        out.push(data[start..c].to_vec());
        start = c;
    }
    out.push(data[start..].to_vec());
    out
}

fn encode_msg(msg: &Msg, key: [u8; 4], out: &mut Vec<u8>) -> Event {
    let (opcode, data, cuts, event) = match msg {
        Msg::Ping(p) => {
            out.extend(client_frame(true, OpCode::Ping, p, key));
            return Event::Ping(Bytes::copy_from_slice(p));
        }
        Msg::Text(s, c) => (OpCode::Text, s.as_bytes(), c, Event::Text(Bytes::copy_from_slice(s.as_bytes()))),
        Msg::Binary(b, c) => (OpCode::Binary, &b[..], c, Event::Binary(Bytes::copy_from_slice(b))),
    };
    let parts = fragments(data, cuts);
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        let op = if i == 0 { opcode } else { OpCode::Continuation };
        out.extend(client_frame(i == last, op, part, key));
    }
    event
}

proptest! {
    #[test]
    fn random_streams_decode_identically_however_they_are_chunked(
        msgs in prop::collection::vec(msg_strategy(), 1..8),
        key in any::<[u8; 4]>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut input = Vec::new();
        let expected: Vec<Event> = msgs.iter().map(|m| encode_msg(m, key, &mut input)).collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(decode_chunks(&input, &cuts, DecoderConfig::default()), (expected, None));
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(input.len() + 1);
        let _ = decode_chunks(&input, &[cut], DecoderConfig { max_frame_size: 256, max_message_size: 512, require_mask: false });
    }
}

mod compressed {
    use super::*;
    use crate::deflate::{DeflateParams, Deflater};

    fn params() -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_window_bits: 15,
            client_window_bits: 15,
            level: 6,
            threshold: 0,
        }
    }

    /// A client frame with RSV1 set.
    fn rsv1_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = frame(fin, opcode, payload);
        out[0] |= 0x40;
        out
    }

    fn decode_deflate(
        input: &[u8],
        cuts: &[usize],
        max_message_size: usize,
    ) -> (Vec<Event>, Option<ProtocolError>) {
        let config = DecoderConfig { max_message_size, ..DecoderConfig::default() };
        decode_chunks_with(WsDecoder::new(config).with_deflate(params()), input, cuts)
    }

    #[test]
    fn compressed_messages_with_context_takeover_and_fragments() {
        let mut deflater = Deflater::new(&params());
        let first = deflater.compress("hello hello hello".as_bytes());
        let second = deflater.compress("hello hello hello again".as_bytes());
        let mut input = rsv1_frame(true, OpCode::Text, &first);
        let (a, b) = second.split_at(second.len() / 2);
        input.extend(rsv1_frame(false, OpCode::Text, a));
        input.extend(frame(true, OpCode::Ping, b"p"));
        input.extend(frame(true, OpCode::Continuation, b));
        input.extend(frame(true, OpCode::Binary, b"plain"));
        let expected = vec![
            text("hello hello hello"),
            Event::Ping(Bytes::from_static(b"p")),
            text("hello hello hello again"),
            Event::Binary(Bytes::from_static(b"plain")),
        ];
        for cut in 0..=input.len() {
            assert_eq!(decode_deflate(&input, &[cut], 1 << 20), (expected.clone(), None), "cut {cut}");
        }
    }

    #[test]
    fn rsv1_is_refused_where_it_is_not_allowed() {
        let payload = Deflater::new(&params()).compress(b"x");
        // Without an agreed extension.
        let (_, err) = decode_all(&rsv1_frame(true, OpCode::Text, &payload));
        assert_eq!(err, Some(ProtocolError::ReservedBits(0b100)));
        // On a continuation frame, and on a control frame.
        let input =
            [rsv1_frame(false, OpCode::Text, &payload), rsv1_frame(true, OpCode::Continuation, b"")].concat();
        assert_eq!(decode_deflate(&input, &[], 1 << 20).1, Some(ProtocolError::ReservedBits(0b100)));
        assert_eq!(
            decode_deflate(&rsv1_frame(true, OpCode::Ping, b""), &[], 1 << 20).1,
            Some(ProtocolError::ReservedBits(0b100))
        );
    }

    #[test]
    fn a_decompression_bomb_is_a_1009() {
        let bomb = Deflater::new(&params()).compress(&vec![b'a'; 4 << 20]);
        let (_, err) = decode_deflate(&rsv1_frame(true, OpCode::Binary, &bomb), &[], 1 << 20);
        let err = err.unwrap();
        assert_eq!(err, ProtocolError::MessageTooLarge { len: (1 << 20) + 1, max: 1 << 20 });
        assert_eq!(err.close_code(), CloseCode::TOO_BIG);
    }

    #[test]
    fn invalid_utf8_or_corrupt_data_is_a_1007() {
        let bad_text = Deflater::new(&params()).compress(&[b'o', b'k', 0xff]);
        let (_, err) = decode_deflate(&rsv1_frame(true, OpCode::Text, &bad_text), &[], 1 << 20);
        assert_eq!(err, Some(ProtocolError::InvalidUtf8));
        let (_, err) = decode_deflate(&rsv1_frame(true, OpCode::Binary, &[0xff, 0xff]), &[], 1 << 20);
        assert_eq!(err.as_ref().map(ProtocolError::close_code), Some(CloseCode::INVALID_PAYLOAD));
    }
}

//! Frames decoded by windlass and by tungstenite 0.30 agree, on random bytes and on random
//! valid frames encoded by either side. The comparison itself, and the places where windlass is
//! deliberately stricter, are in `src/fuzzing/differential.rs`; the fuzz targets
//! `frame_differential` and `message_differential` run the same checks on fuzzer input.

use std::io::Cursor;

use bytes::Bytes;
use proptest::prelude::*;
use tungstenite::protocol::frame::coding::OpCode as TOpCode;
use tungstenite::protocol::frame::{Frame as TFrame, FrameHeader as THeader};
use windlass_proto::fuzzing::{frame_differential, message_differential};
use windlass_proto::{FrameHead, FrameHeader, OpCode};

/// The opcodes RFC 6455 defines.
fn opcode() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![0x0u8, 0x1, 0x2, 0x8, 0x9, 0xA])
}

/// Lengths around every encoding boundary, and small ones.
fn payload_len() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..=140, 124usize..=128, 65_533usize..=65_538]
}

#[derive(Debug, Clone)]
struct Spec {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
}

fn spec(len: impl Strategy<Value = usize>) -> impl Strategy<Value = Spec> {
    (any::<bool>(), 0u8..8, opcode(), any::<Option<[u8; 4]>>(), len, any::<u8>()).prop_map(
        |(fin, rsv, opcode, mask, len, fill)| Spec {
            fin,
            rsv,
            opcode,
            mask,
            payload: (0..len).map(|i| fill.wrapping_add((i as u8).wrapping_mul(31))).collect(),
        },
    )
}

/// `spec` as tungstenite writes it.
fn tungstenite_bytes(spec: &Spec) -> Vec<u8> {
    let header = THeader {
        is_final: spec.fin,
        rsv1: spec.rsv & 0b100 != 0,
        rsv2: spec.rsv & 0b010 != 0,
        rsv3: spec.rsv & 0b001 != 0,
        opcode: TOpCode::from(spec.opcode),
        mask: spec.mask,
    };
    let mut out = Vec::new();
    TFrame::from_payload(header, Bytes::copy_from_slice(&spec.payload)).format(&mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frames_tungstenite_writes_parse_the_same(spec in spec(payload_len())) {
        let bytes = tungstenite_bytes(&spec);
        let (header, len) = FrameHeader::parse(&bytes).unwrap().unwrap();
        prop_assert_eq!(len + spec.payload.len(), bytes.len());
        prop_assert_eq!(
            (header.fin, header.rsv, header.opcode.nibble(), header.mask, header.payload_len),
            (spec.fin, spec.rsv, spec.opcode, spec.mask, spec.payload.len() as u64)
        );
        frame_differential(&bytes);
    }

    #[test]
    fn frames_windlass_writes_parse_the_same_in_tungstenite(spec in spec(payload_len())) {
        let opcode = OpCode::from_nibble(spec.opcode).unwrap();
        let mut bytes = FrameHead::with_rsv(spec.fin, spec.rsv, opcode, spec.payload.len()).as_slice().to_vec();
        if let Some(key) = spec.mask {
            bytes[1] |= 0x80;
            bytes.extend_from_slice(&key);
        }
        let header_len = bytes.len();
        bytes.extend_from_slice(&spec.payload);
        let mut cursor = Cursor::new(&bytes);
        let (theirs, len) = THeader::parse(&mut cursor).unwrap().unwrap();
        prop_assert_eq!(cursor.position(), header_len as u64);
        prop_assert_eq!(len, spec.payload.len() as u64);
        prop_assert_eq!(
            (theirs.is_final, theirs.rsv1, theirs.rsv2, theirs.rsv3, u8::from(theirs.opcode), theirs.mask),
            (spec.fin, spec.rsv & 4 != 0, spec.rsv & 2 != 0, spec.rsv & 1 != 0, spec.opcode, spec.mask)
        );
        frame_differential(&bytes);
    }

    #[test]
    fn random_bytes_parse_the_same(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        frame_differential(&bytes);
        // First two bytes: masking policy and limits.
        message_differential(&bytes);
    }

    /// Streams of frames, valid or not (fragmentation and masking rules are random), with the
    /// masking policy and limits chosen by the first two bytes.
    #[test]
    fn random_frame_streams_decode_the_same(
        config in (0u8..2, any::<u8>()),
        frames in prop::collection::vec(spec(prop_oneof![8 => 0usize..40, 1 => 120usize..=130]), 1..8),
    ) {
        let mut stream = vec![config.0, config.1];
        for frame in &frames {
            // Rarely an RSV bit, always masked: the interesting paths lie past those checks.
            let frame = Spec { rsv: frame.rsv & (frame.rsv >> 1) & 1, mask: frame.mask.or(Some([0; 4])), ..frame.clone() };
            stream.extend(tungstenite_bytes(&frame));
        }
        frame_differential(&stream[2..]);
        message_differential(&stream);
    }
}

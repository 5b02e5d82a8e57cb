//! Client streams: `WsDecoder` against a tungstenite server `WebSocket`.
//! Invariants: see [`windlass_proto::fuzzing::message_differential`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_proto::fuzzing::message_differential(data));

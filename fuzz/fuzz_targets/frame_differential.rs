//! Frame headers and payloads: windlass against tungstenite's `FrameHeader` and `FrameSocket`.
//! Invariants: see [`windlass_proto::fuzzing::frame_differential`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_proto::fuzzing::frame_differential(data));

//! Engine.IO polling bodies and WebSocket frames through `windlass_sio_proto::engine`.
//! Invariants: see [`windlass_sio_proto::fuzzing::eio_packets`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_sio_proto::fuzzing::eio_packets(data));

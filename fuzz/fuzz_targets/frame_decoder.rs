//! Client byte streams through `WsDecoder`: limits, assembly, inflation, split feeding.
//! Invariants: see [`windlass_proto::fuzzing::frame_decoder`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_proto::fuzzing::frame_decoder(data));

//! Arbitrary `Sec-WebSocket-Extensions` offers through `negotiate`.
//! Invariants: see [`windlass_proto::fuzzing::deflate_negotiate`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_proto::fuzzing::deflate_negotiate(data));

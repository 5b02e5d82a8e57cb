//! Upgrade requests through accept, deflate negotiation and the 101 or error response.
//! Invariants: see [`windlass_proto::fuzzing::handshake`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_proto::fuzzing::handshake(data));

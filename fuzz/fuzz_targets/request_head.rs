//! HTTP/1.1 request heads under input-chosen limits, whole and cut short.
//! Invariants: see [`windlass_proto::fuzzing::request_head`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_proto::fuzzing::request_head(data));

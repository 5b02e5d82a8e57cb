//! Pipelined HTTP/1.1 requests with bodies: framing, Content-Length and chunked decoding, fed in
//! two reads and a byte at a time. Invariants: see [`windlass_proto::fuzzing::http_body`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_proto::fuzzing::http_body(data));

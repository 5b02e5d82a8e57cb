//! Socket.IO packet text, attachments (with lying counts) and JSON through
//! `windlass_sio_proto`. Invariants: see [`windlass_sio_proto::fuzzing::sio_packets`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_sio_proto::fuzzing::sio_packets(data));

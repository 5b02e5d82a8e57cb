//! What Redis (or whatever answers on its port) sends an adapter's own connection, through
//! every reader of its replies. Invariants: see [`windlass_cluster::fuzzing::redis_replies`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_cluster::fuzzing::redis_replies(data));

//! Arbitrary compressed bytes through the bounded `Inflater`; `Deflater` round trips.
//! Invariants: see [`windlass_proto::fuzzing::inflate`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_proto::fuzzing::inflate(data));

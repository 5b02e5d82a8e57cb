//! What a broker hands a node, through every reader of `windlass_cluster::wire`. Invariants:
//! see [`windlass_cluster::fuzzing::cluster_wire`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_cluster::fuzzing::cluster_wire(data));

//! Replays the committed seeds of the `cluster_wire` and `redis_replies` fuzz targets through
//! their harnesses on stable Rust, so their invariants run on every `cargo test`.
//! - `cluster_wire`: Node's messages as notepack.io and `JSON.stringify` write them (the
//!   byte-for-byte vectors of `src/wire/tests.rs`), stream entries, NATS messages
//!   (`encode_compact`), and hostile shapes (truncated, nested 300 deep, lying lengths,
//!   `undefined`, NaN, invalid UTF-8, integer map keys).
//! - `redis_replies`: `XREAD` answers, pushes, errors, nested and lying replies.

use std::path::PathBuf;

/// A target must find at least this many seeds, so a moved directory cannot pass silently.
const MIN_SEEDS: usize = 10;

/// The seeds of `target`, in name order.
fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds")).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= MIN_SEEDS, "{} holds {} seeds", dir.display(), files.len());
    files
}

/// Every seed of `target`, and every prefix of it: cut anywhere, it is refused or read,
/// never a panic.
fn replay(target: &str, harness: fn(&[u8])) {
    for path in seeds(target) {
        eprintln!("replaying {}", path.display());
        let bytes = std::fs::read(&path).unwrap();
        harness(&bytes);
        for end in 0..bytes.len() {
            harness(&bytes[..end]);
        }
    }
}

#[test]
fn cluster_wire_seeds() {
    replay("cluster_wire", windlass_cluster::fuzzing::cluster_wire);
}

#[test]
fn redis_replies_seeds() {
    replay("redis_replies", windlass_cluster::fuzzing::redis_replies);
}

/// Seeds mutated at random (bytes flipped, inserted, removed) and random bytes, through the
/// same harness: a stable stand-in for a short fuzzing run.
mod mutated {
    use proptest::prelude::*;

    /// A seed and the harness it is for.
    type Seed = (Vec<u8>, fn(&[u8]));

    fn seeds() -> Vec<Seed> {
        let wire = super::seeds("cluster_wire")
            .into_iter()
            .map(|path| (path, windlass_cluster::fuzzing::cluster_wire as fn(&[u8])));
        let redis = super::seeds("redis_replies")
            .into_iter()
            .map(|path| (path, windlass_cluster::fuzzing::redis_replies as fn(&[u8])));
        wire.chain(redis).map(|(path, harness)| (std::fs::read(path).unwrap(), harness)).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn mutated_seeds_never_panic(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0_u8..3), 1..8),
        ) {
            let seeds = seeds();
            let (mut bytes, harness) = seeds[pick.index(seeds.len())].clone();
            for (at, byte, kind) in edits {
                let len = bytes.len();
                match kind {
                    0 if len > 0 => bytes[at.index(len)] = byte,
                    1 => bytes.insert(at.index(len + 1), byte),
                    _ if len > 0 => {
                        bytes.remove(at.index(len));
                    }
                    _ => bytes.push(byte),
                }
            }
            harness(&bytes);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            windlass_cluster::fuzzing::cluster_wire(&bytes);
            windlass_cluster::fuzzing::redis_replies(&bytes);
        }
    }
}

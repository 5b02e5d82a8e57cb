//! Replays the committed seeds of the `cluster_wire` fuzz target through its harness on
//! stable Rust, so its invariants run on every `cargo test`: Node's messages as notepack.io and
//! `JSON.stringify` write them (the byte-for-byte vectors of `src/wire/tests.rs`), stream
//! entries, NATS messages (`encode_compact`), and hostile shapes (truncated, nested 300 deep,
//! lying lengths, `undefined`, NaN, invalid UTF-8, integer map keys).

use std::path::PathBuf;

/// The target must find at least this many seeds, so a moved directory cannot pass silently.
const MIN_SEEDS: usize = 10;

#[test]
fn cluster_wire_seeds() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/cluster_wire"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= MIN_SEEDS, "{} holds {} seeds", dir.display(), files.len());
    for path in files {
        eprintln!("replaying {}", path.display());
        windlass_cluster::fuzzing::cluster_wire(&std::fs::read(&path).unwrap());
    }
}

/// Every prefix of every seed, too: a message cut anywhere is refused or read, never a panic.
#[test]
fn cluster_wire_seed_prefixes() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/cluster_wire"));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for end in 0..bytes.len() {
            windlass_cluster::fuzzing::cluster_wire(&bytes[..end]);
        }
    }
}

/// Seeds mutated at random (bytes flipped, inserted, removed) and random bytes, through the
/// same harness: a stable stand-in for a short fuzzing run.
mod mutated {
    use proptest::prelude::*;

    fn seeds() -> Vec<Vec<u8>> {
        let dir =
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/cluster_wire"));
        std::fs::read_dir(dir).unwrap().map(|entry| std::fs::read(entry.unwrap().path()).unwrap()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn mutated_seeds_never_panic(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0_u8..3), 1..8),
        ) {
            let seeds = seeds();
            let mut bytes = seeds[pick.index(seeds.len())].clone();
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
            windlass_cluster::fuzzing::cluster_wire(&bytes);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            windlass_cluster::fuzzing::cluster_wire(&bytes);
        }
    }
}

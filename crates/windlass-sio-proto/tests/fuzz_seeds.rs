//! Replays the committed fuzz seeds of `eio_packets` and `sio_packets` through their harnesses
//! on stable Rust, so the invariants the fuzzers check run on every `cargo test`.
//!
//! Seeds live in `fuzz/seeds/<target>/`: packets and payloads as Node's socket.io 4.8 sends
//! them (captured with `tests/sio-reference/trace.js`) and the hostile shapes the layer must
//! survive. For `sio_packets`, a seed's first byte is how many attachments follow the text, each
//! after a `0xff`.

use std::path::PathBuf;

use windlass_sio_proto::fuzzing;

/// Each target must find at least this many seeds, so a moved directory cannot pass silently.
const MIN_SEEDS: usize = 5;

fn replay(target: &str, harness: fn(&[u8])) {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds")).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_SEEDS,
        "{} holds {} seeds, expected at least {MIN_SEEDS}",
        dir.display(),
        files.len()
    );
    for path in files {
        eprintln!("replaying {}", path.display());
        harness(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn eio_packets_seeds() {
    replay("eio_packets", fuzzing::eio_packets);
}

#[test]
fn sio_packets_seeds() {
    replay("sio_packets", fuzzing::sio_packets);
}

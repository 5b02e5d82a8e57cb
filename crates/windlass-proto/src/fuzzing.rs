//! Fuzz harnesses: one function per target in `fuzz/fuzz_targets/`, each taking arbitrary bytes,
//! driving one part of the protocol core as a server would, and panicking when something that
//! must hold for *every* input does not. Not part of the API; public so that the fuzz crate and
//! the stable seed-replay test (`tests/fuzz_seeds.rs`) run the same code.
//!
//! Most targets read their configuration from the first bytes of the input, so the fuzzer
//! explores limits and split points as it explores the bytes; past the end of the input every
//! such byte reads as zero, which picks the defaults. Layouts:
//!
//! | target | config bytes | then |
//! |---|---|---|
//! | [`request_head`] | limits (low nibble: `max_head_bytes`, high: `max_headers`), cut point | request head |
//! | [`handshake`] | sub-protocol policy, deflate config | request head |
//! | [`http_body`] | cut point, limits (low nibble: `max_body_bytes`, high: chunk-line and trailer limits) | pipelined requests: heads and bodies |
//! | [`frame_decoder`] | flags (mask, deflate, structured), limits, cut point | wire bytes, or a message script when structured |
//! | [`inflate`] | window bits and context takeover, level and limit, cut point | compressed bytes, also used as plain text |
//! | [`deflate_negotiate`] | two bytes of deflate config | `Sec-WebSocket-Extensions` values, one per line |
//! | [`frame_differential`] | none | wire bytes |
//! | [`message_differential`] | flags (mask), limits | wire bytes |
//!
//! The harnesses never use `unsafe`, allocate at most a few MiB, and are deterministic apart from
//! the per-thread pools of (reset) inflaters and deflaters the crate itself keeps.

mod body;
mod deflate;
mod differential;
mod frames;
mod head;

pub use body::http_body;
pub use deflate::{deflate_negotiate, inflate};
pub use differential::{frame_differential, message_differential};
pub use frames::frame_decoder;
pub use head::{handshake, request_head};

/// Configuration values read from the front of a fuzz input.
struct Knobs<'a> {
    rest: &'a [u8],
}

impl<'a> Knobs<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// The next byte, or zero past the end of the input.
    fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&byte, rest)) => {
                self.rest = rest;
                byte
            }
            None => 0,
        }
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// What the configuration bytes left: the data proper.
    fn rest(&self) -> &'a [u8] {
        self.rest
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// A position in `0..=len` picked by `byte`: 0 is the start, 255 the end.
fn scaled(byte: u8, len: usize) -> usize {
    len / 255 * usize::from(byte) + len % 255 * usize::from(byte) / 255
}

/// Sizes for the decoder limits: both edges of every length encoding and of the control-frame
/// limit, small values a fuzzer reaches with short inputs, and the 1 MiB default.
const SIZES: [usize; 16] =
    [0, 1, 2, 5, 16, 125, 126, 127, 200, 1000, 65_535, 65_536, 70_000, 1 << 17, 1 << 18, 1 << 20];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_covers_the_whole_range_without_overflow() {
        assert_eq!(scaled(0, 1000), 0);
        assert_eq!(scaled(255, 1000), 1000);
        assert_eq!(scaled(255, usize::MAX), usize::MAX);
        assert!(scaled(128, 1000).abs_diff(502) <= 1);
    }

    #[test]
    fn knobs_read_zero_past_the_end() {
        let mut knobs = Knobs::new(&[7]);
        assert_eq!((knobs.byte(), knobs.byte()), (7, 0));
        assert!(knobs.is_empty());
        assert_eq!(knobs.take(3), &[] as &[u8]);
    }

    /// Each harness survives the empty input and a few trivial ones (the seed-replay test covers
    /// real inputs).
    #[test]
    fn harnesses_accept_trivial_inputs() {
        for input in [&b""[..], b"\0", b"\xff\xff\xff\xff", b"GET / HTTP/1.1\r\n\r\n"] {
            request_head(input);
            handshake(input);
            http_body(input);
            frame_decoder(input);
            inflate(input);
            deflate_negotiate(input);
            frame_differential(input);
            message_differential(input);
        }
    }
}

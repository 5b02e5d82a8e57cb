//! Where a JSON string's plain run ends, eight bytes at a time: the scan both the parser and
//! the printer make over every string of every packet.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` below `n` (`n` ≤ 128). Borrows only run upwards, so
/// the lowest bit set is always a true one (bits above it may not be).
const fn below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * n as u64) & !word & HIGH
}

/// The high bit of each byte of `word` equal to `byte` (the lowest, as in [`below`]).
const fn equal(word: u64, byte: u8) -> u64 {
    below(word ^ (ONES * byte as u64), 1)
}

/// The length of the longest prefix of `bytes` without `"`, `\` or a control character
/// (below 0x20): what a JSON string holds as it is.
pub(crate) fn plain_len(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let special = below(word, 0x20) | equal(word, b'"') | equal(word, b'\\');
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + chunks.remainder().iter().position(|&b| special(b)).unwrap_or(chunks.remainder().len())
}

/// Whether JSON escapes `b` in a string.
pub(crate) const fn special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn naive(bytes: &[u8]) -> usize {
        bytes.iter().position(|&b| special(b)).unwrap_or(bytes.len())
    }

    #[test]
    fn every_special_byte_at_every_place() {
        for special_byte in (0..0x20).chain([b'"', b'\\']) {
            for len in 0..20 {
                for at in 0..len {
                    // Around it, bytes that are close to special ones: borrows must not lie.
                    for filler in [b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
                        let mut bytes = vec![filler; len];
                        bytes[at] = special_byte;
                        assert_eq!(plain_len(&bytes), at, "{bytes:02x?}");
                    }
                }
            }
        }
        assert_eq!(plain_len(b""), 0);
        let text = "héllo wörld, nothing to escape";
        assert_eq!(plain_len(text.as_bytes()), text.len());
        assert_eq!(plain_len("a long run of plain text, then \"".as_bytes()), 31);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn the_same_as_byte_by_byte(bytes in proptest::collection::vec(prop_oneof![any::<u8>(), 0x1e_u8..0x24, Just(b'\\')], 0..40)) {
            prop_assert_eq!(plain_len(&bytes), naive(&bytes));
        }
    }
}

//! Where a JSON string's plain run ends, eight bytes at a time: the scan both the parser and
//! the printer make over every string of every packet; and whether a JSON value's text is
//! what printing it would write.

use super::map::PLAIN_KEYS;

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

/// Where the JSON value at `at` ends, when reading it `depth` deep and printing it back gives
/// the same bytes (see [`Value::verbatim_json_at`](super::Value::verbatim_json_at)); `None`
/// when that is not certain. Stricter than needed where that is simpler: any key starting
/// with a digit, not only an array index, and integers of at most 15 digits.
pub(crate) fn verbatim_end(bytes: &[u8], at: usize, depth: usize, max_depth: usize) -> Option<usize> {
    match *bytes.get(at)? {
        b'"' => string_end(bytes, at),
        b'[' => {
            if depth + 1 > max_depth {
                return None;
            }
            let mut at = at + 1;
            if bytes.get(at) == Some(&b']') {
                return Some(at + 1);
            }
            loop {
                at = verbatim_end(bytes, at, depth + 1, max_depth)?;
                match *bytes.get(at)? {
                    b',' => at += 1,
                    b']' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        b'{' => {
            if depth + 1 > max_depth {
                return None;
            }
            let mut keys: [&[u8]; PLAIN_KEYS] = [&[]; PLAIN_KEYS];
            let mut at = at + 1;
            if bytes.get(at) == Some(&b'}') {
                return Some(at + 1);
            }
            for i in 0..PLAIN_KEYS {
                let end = string_end(bytes, at)?;
                let key = &bytes[at + 1..end - 1];
                if key.first().is_some_and(u8::is_ascii_digit) || keys[..i].contains(&key) {
                    return None;
                }
                keys[i] = key;
                if bytes.get(end) != Some(&b':') {
                    return None;
                }
                at = verbatim_end(bytes, end + 1, depth + 1, max_depth)?;
                match *bytes.get(at)? {
                    b',' => at += 1,
                    b'}' => return Some(at + 1),
                    _ => return None,
                }
            }
            None
        }
        b't' => literal_end(bytes, at, b"true"),
        b'f' => literal_end(bytes, at, b"false"),
        b'n' => literal_end(bytes, at, b"null"),
        b'-' | b'0'..=b'9' => {
            let negative = bytes[at] == b'-';
            let start = at + usize::from(negative);
            let digits = bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
            let end = start + digits;
            // `-0` reads as 0 and prints as `0`; 15 digits stay below 2^53, which prints back
            // as written; a fraction or an exponent may not.
            let plain = match bytes.get(start) {
                Some(b'0') => digits == 1 && !negative,
                _ => (1..=15).contains(&digits),
            };
            (plain && !matches!(bytes.get(end), Some(b'.' | b'e' | b'E'))).then_some(end)
        }
        _ => None,
    }
}

/// Where the string at `at` ends, when it holds nothing escaped.
fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let rest = &bytes[at + 1..];
    let len = plain_len(rest);
    (rest.get(len) == Some(&b'"')).then_some(at + len + 2)
}

fn literal_end(bytes: &[u8], at: usize, literal: &[u8]) -> Option<usize> {
    bytes[at..].starts_with(literal).then_some(at + literal.len())
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

    fn verbatim(text: &str) -> Option<usize> {
        super::super::Value::verbatim_json_at(text, 0, 0)
    }

    #[test]
    fn a_value_as_printed_is_used_as_it_stands() {
        for text in [
            "[\"said\",{\"from\":\"Ab3\",\"text\":\"h\u{e9}llo, w\u{f6}rld \u{1f600}\",\"n\":-12,\"ok\":true,\"no\":false,\"x\":null}]",
            "[]",
            "{}",
            "[0,-1,999999999999999,[[]],{\"a\":{}}]",
            "\"\"",
            "\"\u{7f}\u{2028}\"",
        ] {
            assert_eq!(verbatim(text), Some(text.len()), "{text}");
        }
        let keys: Vec<String> = (0..16).map(|i| format!("\"k{i}\":{i}")).collect();
        let sixteen = format!("{{{}}}", keys.join(","));
        assert_eq!(verbatim(&sixteen), Some(sixteen.len()));
        let seventeen = format!("{{{},\"k16\":16}}", keys.join(","));
        assert_eq!(verbatim(&seventeen), None, "more keys than are kept as written");
        // What follows is the caller's.
        assert_eq!(verbatim("[1]x"), Some(3));
        assert_eq!(verbatim("\"a\" "), Some(3));
    }

    #[test]
    fn what_reading_and_printing_may_rewrite_is_not_used_as_it_stands() {
        for text in [
            "[1, 2]",
            " []",
            "[1 ]",
            "{\"a\" :1}",
            "[\"a\\\"b\"]",
            "[\"\\u0041\"]",
            "[\"\\n\"]",
            "[-0]",
            "[1.5]",
            "[1e3]",
            "[1E3]",
            "[01]",
            "[1000000000000000]",
            "[-]",
            "{\"1\":1}",
            "{\"0a\":1}",
            "{\"a\":1,\"a\":2}",
            "[tru]",
            "[nul]",
            "[1,]",
            "[,1]",
            "{\"a\":1,}",
            "{\"a\"}",
            "[\"a",
            "[",
            "",
            "x",
            "[\"\t\"]",
        ] {
            assert_eq!(verbatim(text), None, "{text:?}");
        }
    }

    #[test]
    fn nesting_is_held_to_the_parsers_limit() {
        let max = super::super::DEFAULT_MAX_DEPTH;
        let at_limit = format!("{}{}", "[".repeat(max), "]".repeat(max));
        assert!(super::super::Value::from_json(&at_limit).is_ok());
        assert_eq!(verbatim(&at_limit), Some(at_limit.len()));
        let deeper = format!("[{at_limit}]");
        assert!(super::super::Value::from_json(&deeper).is_err());
        assert_eq!(verbatim(&deeper), None);
        // Read as if one level deep already.
        assert_eq!(super::super::Value::verbatim_json_at(&at_limit, 0, 1), None);
    }

    /// Pieces of JSON, valid and not, that reading and printing treat differently.
    fn token() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            " ",
            "\"a\"",
            "\"b\"",
            "\"1\"",
            "\"\\n\"",
            "\"\\u00e9\"",
            "\"\u{e9}\"",
            "0",
            "-0",
            "7",
            "-12",
            "01",
            "1.5",
            "1e2",
            "123456789012345",
            "1234567890123456",
            "true",
            "false",
            "null",
            "nul",
            "\"",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn used_as_it_stands_only_when_it_reads_and_prints_back_the_same(tokens in proptest::collection::vec(token(), 1..24)) {
            let text = tokens.concat();
            if let Some(end) = verbatim(&text) {
                let (value, read_to) = super::super::Value::from_json_at(&text, 0, 0).expect("it reads");
                prop_assert_eq!(read_to, end);
                prop_assert_eq!(value.to_json(), &text[..end]);
            }
        }

        #[test]
        fn the_same_as_byte_by_byte(bytes in proptest::collection::vec(prop_oneof![any::<u8>(), 0x1e_u8..0x24, Just(b'\\')], 0..40)) {
            prop_assert_eq!(plain_len(&bytes), naive(&bytes));
        }
    }
}

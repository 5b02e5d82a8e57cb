//! Incremental UTF-8 validation that fails as soon as a byte makes the text invalid.
//!
//! A text message may arrive split across frames and across reads, and a code point may be split
//! with it. The validator keeps the (at most three) bytes of an unfinished code point between
//! chunks, so an invalid sequence is reported at the first chunk that proves it invalid rather
//! than when the message ends (Autobahn 6.4.*).

/// Streaming UTF-8 validator.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

/// The text is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Self { pending: [0; 4], pending_len: 0 }
    }

    /// Validates the next chunk of the text.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let need = sequence_len(self.pending[0]).ok_or(InvalidUtf8)?;
            let take = (need - have).min(chunk.len());
            self.pending[have..have + take].copy_from_slice(&chunk[..take]);
            let filled = have + take;
            chunk = &chunk[take..];
            match std::str::from_utf8(&self.pending[..filled]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; the chunk ran out before the code point ended.
                    self.pending_len = filled as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        // Most text is ASCII: a word-at-a-time scan is cheaper than full validation.
        if chunk.is_ascii() {
            return Ok(());
        }
        match std::str::from_utf8(chunk) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the text: an unfinished code point is an error. Resets the validator.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }

    /// Whether a code point is waiting for more bytes.
    pub fn is_incomplete(&self) -> bool {
        self.pending_len > 0
    }
}

fn sequence_len(first: u8) -> Option<usize> {
    match first {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_split(bytes: &[u8], splits: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &s in splits {
            v.feed(&bytes[start..s])?;
            start = s;
        }
        v.feed(&bytes[start..])?;
        v.finish()
    }

    #[test]
    fn agrees_with_std_at_every_split_point() {
        let samples: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(),
            &[0xf0, 0x90, 0x80, 0x80],
            &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xc0, 0xaf],
            &[0xe0, 0x80, 0xaf],
            &[0xf0, 0x9f, 0x98],
            &[0xed, 0x9f, 0xbf],
            &[0xef, 0xbf, 0xbf],
        ];
        for bytes in samples {
            let expected = std::str::from_utf8(bytes).is_ok();
            for a in 0..=bytes.len() {
                for b in a..=bytes.len() {
                    assert_eq!(validate_split(bytes, &[a, b]).is_ok(), expected, "{bytes:x?} {a} {b}");
                }
            }
        }
    }

    #[test]
    fn fails_fast_on_the_first_impossible_byte() {
        let mut v = Utf8Validator::new();
        // 0xF4 0x90 can never start a valid code point (above U+10FFFF).
        assert!(v.feed(b"ok \xf4").is_ok());
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"abc\xff"), Err(InvalidUtf8));
    }

    #[test]
    fn unfinished_code_point_at_end_is_invalid() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(&[0xe2, 0x82]).is_ok());
        assert!(v.is_incomplete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
        assert!(!v.is_incomplete());
    }
}

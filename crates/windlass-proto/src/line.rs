//! Raw TCP framing: one line is one message.
//!
//! `IoServer(Chat)` runs a component over plain TCP the way Ratchet's tutorial does with telnet:
//! what a person types up to Enter is a message. A line may arrive across several reads; it is
//! delivered whole, without its `\n` or `\r\n`.

use bytes::{Bytes, BytesMut};

/// A line longer than the limit, with no newline in sight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line exceeds {max} bytes")]
pub struct LineTooLong {
    /// The configured limit.
    pub max: usize,
}

/// Splits a byte stream into lines.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    max_len: usize,
    /// Bytes at the front of the buffer already searched for a newline.
    scanned: usize,
}

impl LineDecoder {
    /// A decoder that refuses lines longer than `max_len` bytes (excluding the newline).
    pub fn new(max_len: usize) -> Self {
        Self { max_len, scanned: 0 }
    }

    /// The next complete line, without its line ending, or `Ok(None)` if none is complete yet.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LineTooLong> {
        if let Some(pos) = memchr::memchr(b'\n', &buf[self.scanned..]) {
            let end = self.scanned + pos;
            self.scanned = 0;
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            if line.len() > self.max_len {
                return Err(LineTooLong { max: self.max_len });
            }
            return Ok(Some(line.freeze()));
        }
        self.scanned = buf.len();
        if buf.len() > self.max_len + 1 {
            return Err(LineTooLong { max: self.max_len });
        }
        Ok(None)
    }

    /// At end of stream: what is left, if anything, is the last (unterminated) line.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LineTooLong> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        self.scanned = 0;
        if buf.is_empty() {
            return Ok(None);
        }
        let mut line = buf.split();
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.max_len {
            return Err(LineTooLong { max: self.max_len });
        }
        Ok(Some(line.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    fn lines(input: &[u8], cut: usize) -> Result<Vec<Bytes>, LineTooLong> {
        let mut decoder = LineDecoder::new(16);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for part in [&input[..cut], &input[cut..]] {
            buf.put_slice(part);
            while let Some(line) = decoder.decode(&mut buf)? {
                out.push(line);
            }
        }
        while let Some(line) = decoder.decode_eof(&mut buf)? {
            out.push(line);
        }
        Ok(out)
    }

    #[test]
    fn every_split_point_gives_the_same_lines() {
        let input = b"alice\r\nhello there\n\nlast";
        for cut in 0..=input.len() {
            let got = lines(input, cut).unwrap();
            assert_eq!(got, vec!["alice", "hello there", "", "last"], "cut {cut}");
        }
    }

    #[test]
    fn long_lines_are_refused_even_without_a_newline() {
        assert_eq!(lines(b"0123456789abcdefXYZ\n", 20), Err(LineTooLong { max: 16 }));
        let mut decoder = LineDecoder::new(16);
        let mut buf = BytesMut::from(&[b'x'; 40][..]);
        assert_eq!(decoder.decode(&mut buf), Err(LineTooLong { max: 16 }));
        // The unterminated last line is held to the same limit.
        let mut decoder = LineDecoder::new(4);
        let mut buf = BytesMut::from(&b"12345"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(decoder.decode_eof(&mut buf), Err(LineTooLong { max: 4 }));
        // Exactly at the limit is fine.
        assert_eq!(lines(b"0123456789abcdef\n", 5).unwrap(), vec!["0123456789abcdef"]);
    }
}

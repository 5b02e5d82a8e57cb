//! Sans-IO WebSocket framing, client side (RFC 6455 §5): masked frames built once and reused, the
//! length of the server's unmasked echo for byte counting, and a validating decoder.
//!
//! Nothing here touches a socket or a clock, so every piece is tested on byte slices.

/// Continuation frame of a fragmented message.
pub(crate) const OP_CONTINUATION: u8 = 0x0;
/// Text message (UTF-8 payload).
pub(crate) const OP_TEXT: u8 = 0x1;
/// Binary message.
pub(crate) const OP_BINARY: u8 = 0x2;
/// Close control frame.
pub(crate) const OP_CLOSE: u8 = 0x8;
/// Ping control frame.
pub(crate) const OP_PING: u8 = 0x9;
/// Pong control frame.
pub(crate) const OP_PONG: u8 = 0xA;

/// Normal closure (RFC 6455 §7.4.1).
pub(crate) const CLOSE_NORMAL: u16 = 1000;

/// The largest message the decoder assembles. The load generator sends at most `--size` bytes and
/// expects the same back; anything far larger is a broken stream, not a message.
pub(crate) const MAX_MESSAGE: usize = 64 << 20;

/// Length of the header of an unmasked frame carrying `payload_len` bytes.
pub(crate) fn header_len(payload_len: usize) -> usize {
    match payload_len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// Bytes on the wire of the server's unmasked, unfragmented frame carrying `payload_len` bytes:
/// what throughput mode counts instead of parsing.
pub(crate) fn server_frame_len(payload_len: usize) -> usize {
    header_len(payload_len) + payload_len
}

/// A single final client frame: FIN, `opcode`, mask bit, length, `mask`, masked payload.
pub(crate) fn client_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(payload.len()) + 4 + payload.len());
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=65535 => {
            out.push(0x80 | 0x7E);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 0x7F);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    out
}

/// A masked close frame with a status code and no reason.
pub(crate) fn close_frame(code: u16, mask: [u8; 4]) -> Vec<u8> {
    client_frame(OP_CLOSE, &code.to_be_bytes(), mask)
}

/// Overwrites `payload[offset..offset + data.len()]` inside an already masked `frame` built by
/// [`client_frame`], masking `data` in place: the broadcast publisher changes only its 16-byte
/// sequence-and-timestamp prefix per message instead of rebuilding the whole frame.
pub(crate) fn patch_payload(frame: &mut [u8], payload_len: usize, offset: usize, data: &[u8]) {
    let start = header_len(payload_len) + 4;
    let mask = [frame[start - 4], frame[start - 3], frame[start - 2], frame[start - 1]];
    for (i, b) in data.iter().enumerate() {
        let at = offset + i;
        frame[start + at] = b ^ mask[at & 3];
    }
}

/// A printable payload of `size` bytes that differs between connections: it starts with the
/// connection's number, so a server that crosses connections fails validation.
pub(crate) fn ascii_payload(size: usize, conn: usize) -> Vec<u8> {
    let tag = format!("{conn}:");
    (0..size).map(|i| tag.as_bytes().get(i).copied().unwrap_or(b'a' + ((i + conn) % 26) as u8)).collect()
}

/// Counts echo bytes without parsing them: the server's frame length is known in advance.
#[derive(Debug)]
pub(crate) struct EchoCounter {
    frame_len: usize,
    /// Bytes of the echo currently arriving.
    partial: usize,
}

impl EchoCounter {
    /// A counter for echoes of `payload_len`-byte messages.
    pub(crate) fn new(payload_len: usize) -> Self {
        Self { frame_len: server_frame_len(payload_len), partial: 0 }
    }

    /// Adds `n` received bytes; returns how many echoes they complete.
    pub(crate) fn feed(&mut self, n: usize) -> usize {
        let total = self.partial + n;
        self.partial = total % self.frame_len;
        total / self.frame_len
    }

    /// Bytes of an echo received so far but not yet complete.
    #[cfg(test)]
    pub(crate) fn partial(&self) -> usize {
        self.partial
    }
}

/// Why a byte stream from the server is not a valid WebSocket stream.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum FrameError {
    /// RSV bits set although no extension was negotiated.
    #[error("reserved bits set without an extension")]
    Reserved,
    /// Servers must not mask (RFC 6455 §5.1).
    #[error("server frame is masked")]
    Masked,
    /// Opcodes 3–7 and 11–15.
    #[error("unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    /// Control frames are final and carry at most 125 bytes.
    #[error("malformed control frame")]
    BadControl,
    /// A continuation frame with no message started, or a new message inside a fragmented one.
    #[error("bad fragmentation")]
    Fragmentation,
    /// Longer than [`MAX_MESSAGE`].
    #[error("message of {0} bytes exceeds the limit")]
    TooLong(u64),
}

/// A complete event decoded from the server's stream. Payloads borrow the input or the decoder.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// A whole text or binary message, fragments joined.
    Message {
        /// [`OP_TEXT`] or [`OP_BINARY`].
        opcode: u8,
        /// The unmasked payload.
        payload: &'a [u8],
    },
    /// A ping; the load generator does not answer (the bench servers do not ping in a run).
    Ping,
    /// A pong.
    Pong,
    /// A close frame and its status code, if any.
    Close(Option<u16>),
}

/// Decodes server frames and joins fragments into messages.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// Opcode and payload so far of a fragmented message.
    fragments: Option<(u8, Vec<u8>)>,
    /// A joined message returned by the previous call, dropped on the next.
    joined: Vec<u8>,
}

impl Decoder {
    /// Decodes at most one frame from the front of `buf`.
    ///
    /// Returns the bytes consumed (0 = need more input) and the event the frame completes, if
    /// any: a non-final fragment is consumed without an event.
    pub(crate) fn decode<'a>(&'a mut self, buf: &'a [u8]) -> Result<(usize, Option<Event<'a>>), FrameError> {
        self.joined.clear();
        let Some((fin, opcode, head, len)) = parse_head(buf)? else { return Ok((0, None)) };
        let total = head + len;
        if buf.len() < total {
            return Ok((0, None));
        }
        let payload = &buf[head..total];
        let event = match opcode {
            OP_PING => Some(Event::Ping),
            OP_PONG => Some(Event::Pong),
            OP_CLOSE => Some(Event::Close(payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])))),
            OP_TEXT | OP_BINARY => {
                if self.fragments.is_some() {
                    return Err(FrameError::Fragmentation);
                }
                if fin {
                    Some(Event::Message { opcode, payload })
                } else {
                    self.fragments = Some((opcode, payload.to_vec()));
                    None
                }
            }
            _ => {
                let (_, so_far) = self.fragments.as_mut().ok_or(FrameError::Fragmentation)?;
                if so_far.len() + len > MAX_MESSAGE {
                    return Err(FrameError::TooLong((so_far.len() + len) as u64));
                }
                so_far.extend_from_slice(payload);
                if fin {
                    let (opcode, joined) = self.fragments.take().unwrap_or_default();
                    self.joined = joined;
                    Some(Event::Message { opcode, payload: &self.joined })
                } else {
                    None
                }
            }
        };
        Ok((total, event))
    }
}

/// Parses a frame header: `(fin, opcode, header length, payload length)`, or `None` when `buf`
/// holds less than the whole header.
fn parse_head(buf: &[u8]) -> Result<Option<(bool, u8, usize, usize)>, FrameError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    if b0 & 0x70 != 0 {
        return Err(FrameError::Reserved);
    }
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let control = match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => false,
        OP_CLOSE | OP_PING | OP_PONG => true,
        other => return Err(FrameError::UnknownOpcode(other)),
    };
    let (head, len) = match b1 & 0x7F {
        126 => {
            let Some(ext) = buf.get(2..4) else { return Ok(None) };
            (4, u64::from(u16::from_be_bytes([ext[0], ext[1]])))
        }
        127 => {
            let Some(ext) = buf.get(2..10) else { return Ok(None) };
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(ext);
            (10, u64::from_be_bytes(bytes))
        }
        n => (2, u64::from(n)),
    };
    if control && (!fin || len > 125) {
        return Err(FrameError::BadControl);
    }
    if len > MAX_MESSAGE as u64 {
        return Err(FrameError::TooLong(len));
    }
    Ok(Some((fin, opcode, head, len as usize)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn unmasked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = client_frame(opcode, payload, [0; 4]);
        frame[1] &= 0x7F; // clear the mask bit
        let key_at = header_len(payload.len());
        frame.drain(key_at..key_at + 4);
        if !fin {
            frame[0] &= 0x7F;
        }
        frame
    }

    #[test]
    fn client_frame_is_rfc_example() {
        // RFC 6455 §5.7: a masked "Hello".
        assert_eq!(
            client_frame(OP_TEXT, b"Hello", MASK),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn client_frame_lengths() {
        for (len, head) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let frame = client_frame(OP_BINARY, &vec![7; len], MASK);
            assert_eq!(frame.len(), head + 4 + len, "payload {len}");
            assert_eq!(server_frame_len(len), head + len);
        }
        let frame = client_frame(OP_BINARY, &[0; 300], MASK);
        assert_eq!(&frame[..4], [0x82, 0xFE, 0x01, 0x2C]);
        let frame = client_frame(OP_BINARY, &vec![0; 65536], MASK);
        assert_eq!(&frame[..10], [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn close_frame_carries_code() {
        let frame = close_frame(CLOSE_NORMAL, [0; 4]);
        assert_eq!(frame, [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]);
    }

    #[test]
    fn patch_payload_masks_in_place() {
        let mut payload = vec![b'x'; 300];
        let mut frame = client_frame(OP_TEXT, &payload, MASK);
        patch_payload(&mut frame, payload.len(), 5, b"0123456789abcdef");
        payload[5..21].copy_from_slice(b"0123456789abcdef");
        assert_eq!(frame, client_frame(OP_TEXT, &payload, MASK));
    }

    #[test]
    fn ascii_payload_is_tagged_and_printable() {
        let p = ascii_payload(20, 42);
        assert_eq!(p.len(), 20);
        assert!(p.starts_with(b"42:"));
        assert!(p.iter().all(u8::is_ascii_graphic));
        assert_ne!(ascii_payload(20, 1), ascii_payload(20, 2));
        assert_eq!(ascii_payload(2, 12345), b"12");
    }

    #[test]
    fn echo_counter_counts_across_reads() {
        let mut counter = EchoCounter::new(20); // 22-byte frames
        assert_eq!(counter.feed(10), 0);
        assert_eq!(counter.partial(), 10);
        assert_eq!(counter.feed(12), 1);
        assert_eq!(counter.partial(), 0);
        assert_eq!(counter.feed(22 * 3 + 5), 3);
        assert_eq!(counter.feed(17), 1);
        assert_eq!(counter.partial(), 0);
        let mut big = EchoCounter::new(70_000); // 10-byte header
        assert_eq!(big.feed(70_009), 0);
        assert_eq!(big.feed(1), 1);
    }

    /// Decodes a whole stream, fed in pieces cut at `cuts`, into owned events.
    fn decode_in_pieces(stream: &[u8], cuts: &[usize]) -> Result<Vec<(u8, Vec<u8>)>, FrameError> {
        let mut decoder = Decoder::default();
        let mut buf = Vec::new();
        let mut events = Vec::new();
        let mut fed = 0;
        for &end in cuts.iter().chain([&stream.len()]) {
            buf.extend_from_slice(&stream[fed..end]);
            fed = end;
            loop {
                let (used, event) = decoder.decode(&buf)?;
                if used == 0 {
                    break;
                }
                let owned = match event {
                    Some(Event::Message { opcode, payload }) => Some((opcode, payload.to_vec())),
                    Some(Event::Ping) => Some((OP_PING, Vec::new())),
                    Some(Event::Pong) => Some((OP_PONG, Vec::new())),
                    Some(Event::Close(code)) => {
                        Some((OP_CLOSE, code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default()))
                    }
                    None => None, // a non-final fragment
                };
                events.extend(owned);
                buf.drain(..used);
            }
        }
        assert!(buf.is_empty(), "undecoded bytes left");
        Ok(events)
    }

    #[test]
    fn decoder_same_result_at_every_split() {
        let mut stream = Vec::new();
        stream.extend(unmasked(OP_TEXT, true, b"hello"));
        stream.extend(unmasked(OP_BINARY, false, &[1, 2, 3]));
        stream.extend(unmasked(OP_PING, true, b"p"));
        stream.extend(unmasked(OP_CONTINUATION, false, &[4; 200]));
        stream.extend(unmasked(OP_CONTINUATION, true, &[5]));
        stream.extend(unmasked(OP_BINARY, true, &vec![9; 70_000]));
        stream.extend(unmasked(OP_TEXT, true, b""));
        stream.extend(unmasked(OP_PONG, true, b""));
        stream.extend(unmasked(OP_CLOSE, true, &1000u16.to_be_bytes()));

        let mut joined = vec![1, 2, 3];
        joined.extend([4; 200]);
        joined.push(5);
        let expected = vec![
            (OP_TEXT, b"hello".to_vec()),
            (OP_PING, Vec::new()),
            (OP_BINARY, joined),
            (OP_BINARY, vec![9; 70_000]),
            (OP_TEXT, Vec::new()),
            (OP_PONG, Vec::new()),
            (OP_CLOSE, vec![0x03, 0xE8]),
        ];
        assert_eq!(decode_in_pieces(&stream, &[]).unwrap(), expected);
        for cut in 0..=stream.len() {
            assert_eq!(decode_in_pieces(&stream, &[cut]).unwrap(), expected, "split at {cut}");
        }
        // Byte by byte, the worst case for partial headers.
        let every: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(decode_in_pieces(&stream, &every).unwrap(), expected);
    }

    #[test]
    fn echo_counter_same_result_at_every_split() {
        let stream: Vec<u8> = (0..5).flat_map(|_| unmasked(OP_TEXT, true, &[b'a'; 130])).collect();
        for cut in 0..=stream.len() {
            let mut counter = EchoCounter::new(130);
            let done = counter.feed(cut) + counter.feed(stream.len() - cut);
            assert_eq!((done, counter.partial()), (5, 0), "split at {cut}");
        }
    }

    #[test]
    fn decoder_rejects_bad_streams() {
        let decode = |bytes: &[u8]| Decoder::default().decode(bytes).map(|(n, _)| n);
        assert_eq!(decode(&[0x81]), Ok(0));
        assert_eq!(decode(&[0x81, 0x7E, 0x00]), Ok(0));
        assert_eq!(decode(&[0xC1, 0x00]), Err(FrameError::Reserved));
        assert_eq!(decode(&[0x81, 0x80, 0, 0, 0, 0]), Err(FrameError::Masked));
        assert_eq!(decode(&[0x83, 0x00]), Err(FrameError::UnknownOpcode(3)));
        assert_eq!(decode(&[0x09, 0x00]), Err(FrameError::BadControl));
        assert_eq!(decode(&[0x89, 0x7E, 0x00, 0x7E]), Err(FrameError::BadControl));
        assert_eq!(decode(&[0x80, 0x00]), Err(FrameError::Fragmentation));
        assert_eq!(decode(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(FrameError::TooLong(1 << 63)));
        let mut decoder = Decoder::default();
        assert_eq!(decoder.decode(&[0x01, 0x01, b'a']), Ok((3, None)));
        assert_eq!(decoder.decode(&[0x81, 0x01, b'b']), Err(FrameError::Fragmentation));
    }
}

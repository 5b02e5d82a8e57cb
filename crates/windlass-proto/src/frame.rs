//! Frame headers (RFC 6455 §5.2): decoding what clients send, encoding what servers send.

use crate::decoder::ProtocolError;

/// A frame opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The opcode for the low nibble of the first header byte; `None` for reserved values.
    pub fn from_nibble(nibble: u8) -> Option<Self> {
        Some(match nibble {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn nibble(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this frame ends its message.
    pub fin: bool,
    /// The three RSV bits, in the low bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the MASK bit was set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the front of `buf`.
    ///
    /// Returns the header and its length in bytes, or `Ok(None)` if `buf` does not hold a whole
    /// header yet. Rejects reserved opcodes, lengths with the most significant bit set, and
    /// lengths not in their shortest encoding (§5.2: "the minimal number of bytes MUST be used").
    /// Policy checks (masking, RSV, control-frame rules, limits) belong to the caller.
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let opcode = OpCode::from_nibble(b0 & 0x0F).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0F))?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut len) = match b1 & 0x7F {
            126 => {
                let Some(ext) = buf.get(2..4) else {
                    return Ok(None);
                };
                let n = u64::from(u16::from_be_bytes([ext[0], ext[1]]));
                if n < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (n, 4)
            }
            127 => {
                let Some(ext) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut raw = [0u8; 8];
                raw.copy_from_slice(ext);
                let n = u64::from_be_bytes(raw);
                if n >> 63 != 0 {
                    return Err(ProtocolError::LengthOverflow);
                }
                if u16::try_from(n).is_ok() {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (n, 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            let Some(key) = buf.get(len..len + 4) else {
                return Ok(None);
            };
            len += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        Ok(Some((Self { fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 0x07, opcode, mask, payload_len }, len)))
    }
}

/// An encoded, unmasked server frame header: 2, 4 or 10 bytes kept inline.
///
/// Servers never mask, so a frame is this header followed by the untouched payload; the payload
/// is written from its own buffer (vectored write) and can be shared between recipients.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    bytes: [u8; 10],
    len: u8,
}

impl FrameHead {
    /// No header at all (for transports without framing, such as raw TCP lines).
    pub const EMPTY: Self = Self { bytes: [0; 10], len: 0 };

    /// The header of a frame with the given FIN bit, opcode and payload length.
    pub fn new(fin: bool, opcode: OpCode, payload_len: usize) -> Self {
        Self::with_rsv(fin, 0, opcode, payload_len)
    }

    /// The header of a frame with RSV bits set (RSV1 = 0b100), for negotiated extensions.
    pub fn with_rsv(fin: bool, rsv: u8, opcode: OpCode, payload_len: usize) -> Self {
        let mut bytes = [0u8; 10];
        bytes[0] = (u8::from(fin) << 7) | ((rsv & 0x07) << 4) | opcode.nibble();
        let len = if payload_len < 126 {
            bytes[1] = payload_len as u8;
            2
        } else if let Ok(short) = u16::try_from(payload_len) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
            10
        };
        Self { bytes, len }
    }

    /// The encoded header.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for FrameHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FrameHead({:02x?})", self.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_three_length_forms() {
        assert_eq!(FrameHead::new(true, OpCode::Text, 5).as_slice(), [0x81, 5]);
        assert_eq!(FrameHead::new(true, OpCode::Binary, 126).as_slice(), [0x82, 126, 0, 126]);
        assert_eq!(FrameHead::new(false, OpCode::Text, 65535).as_slice(), [0x01, 126, 0xff, 0xff]);
        assert_eq!(
            FrameHead::new(true, OpCode::Binary, 65536).as_slice(),
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(FrameHead::with_rsv(true, 0b100, OpCode::Text, 0).as_slice(), [0xC1, 0]);
    }

    #[test]
    fn parses_what_it_encodes_plus_a_mask() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
            let head = FrameHead::new(true, OpCode::Binary, len);
            let mut bytes = head.as_slice().to_vec();
            bytes[1] |= 0x80;
            bytes.extend_from_slice(&[9, 8, 7, 6]);
            let (parsed, used) = FrameHeader::parse(&bytes).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(parsed.payload_len, len as u64);
            assert_eq!(parsed.mask, Some([9, 8, 7, 6]));
            assert!(parsed.fin);
            // Every strict prefix needs more bytes.
            for cut in 0..bytes.len() {
                assert_eq!(FrameHeader::parse(&bytes[..cut]).unwrap(), None, "len {len} cut {cut}");
            }
        }
    }

    #[test]
    fn rejects_reserved_opcodes_and_bad_lengths() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(FrameHeader::parse(&[0x80 | op, 0x80]), Err(ProtocolError::ReservedOpcode(op)));
        }
        assert_eq!(FrameHeader::parse(&[0x82, 126, 0, 125]), Err(ProtocolError::NonMinimalLength));
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
            Err(ProtocolError::NonMinimalLength)
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::LengthOverflow)
        );
    }
}

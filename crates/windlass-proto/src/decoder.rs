//! Bytes in, messages out: the server side of RFC 6455 framing.
//!
//! [`WsDecoder`] validates every frame header as soon as it is complete, unmasks payload in place
//! as it arrives, validates text incrementally (so invalid UTF-8 fails before the message ends),
//! reassembles fragmented messages around interleaved control frames, and enforces size limits
//! before reading a payload.

use bytes::{Buf, Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame};
use crate::deflate::{DeflateParams, InflateError, Inflater};
use crate::frame::{FrameHeader, OpCode};
use crate::mask::apply_mask_ascii;
use crate::utf8::Utf8Validator;

/// Limits and policy for a [`WsDecoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Largest payload of a single frame; larger frames fail with 1009 before their payload is
    /// read. Default 1 MiB.
    pub max_frame_size: usize,
    /// Largest message after reassembling fragments; fails with 1009 as soon as a frame header
    /// shows it would be passed. Default 1 MiB: enough for chat and dashboard traffic while
    /// 10,000 peers cannot make the server hold more than 10 GiB of partial messages. Servers
    /// that take uploads raise it.
    pub max_message_size: usize,
    /// Clients must mask every frame (RFC 6455 §5.1). Default `true`; `false` decodes frames
    /// sent by a server.
    pub require_mask: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self { max_frame_size: 1 << 20, max_message_size: 1 << 20, require_mask: true }
    }
}

/// Something a peer said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole text message; the bytes are valid UTF-8.
    Text(Bytes),
    /// A whole binary message.
    Binary(Bytes),
    /// A ping with its application data (at most 125 bytes).
    Ping(Bytes),
    /// A pong with its application data.
    Pong(Bytes),
    /// A close frame: `None` if it carried no status code.
    Close(Option<CloseFrame>),
}

/// The peer broke RFC 6455; each variant knows the close code to fail the connection with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Opcodes 0x3–0x7 and 0xB–0xF are reserved.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// RSV bits set without an extension that defines them.
    #[error("reserved bits {0:#05b} set where no negotiated extension allows them")]
    ReservedBits(u8),
    /// A client frame without the MASK bit.
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A payload length not in its shortest form.
    #[error("payload length is not minimally encoded")]
    NonMinimalLength,
    /// A 64-bit payload length with the most significant bit set.
    #[error("payload length has its most significant bit set")]
    LengthOverflow,
    /// A close, ping or pong without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload.
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlTooLong(u64),
    /// A continuation frame with no message to continue.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    #[error("new data frame while a fragmented message is unfinished")]
    ExpectedContinuation,
    /// A text message or close reason that is not UTF-8.
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// A close frame whose payload is a single byte.
    #[error("close frame payload of 1 byte")]
    CloseTooShort,
    /// A close code that may not be sent.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A frame larger than `max_frame_size`.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// Declared payload length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A compressed message that is not valid DEFLATE.
    #[error("invalid compressed data")]
    InvalidCompressedData,
    /// A message larger than `max_message_size` (for compressed messages: once inflated).
    #[error("message of at least {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Bytes the message would have with this frame.
        len: u64,
        /// The configured limit.
        max: usize,
    },
}

impl ProtocolError {
    /// The close code to fail the connection with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// A frame whose header has been consumed and whose payload is still arriving.
#[derive(Clone, Copy, Debug)]
struct InFrame {
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    len: usize,
    /// Payload bytes at the front of the buffer already unmasked (and UTF-8 checked).
    unmasked: usize,
}

/// Streaming RFC 6455 decoder for one connection.
///
/// Feed it the connection's read buffer after every read; it consumes exactly the bytes of the
/// events it returns and of frames it has absorbed into a fragmented message. After an error the
/// connection must be failed: the decoder's state is no longer meaningful.
#[derive(Debug)]
pub struct WsDecoder {
    config: DecoderConfig,
    frame: Option<InFrame>,
    message: Option<Kind>,
    assembled: BytesMut,
    utf8: Utf8Validator,
    /// Present when permessage-deflate was agreed; boxed, as every connection carries the
    /// field and most agree on no compression.
    deflate: Option<Box<InflateState>>,
    /// The message in progress had RSV1 set on its first frame.
    compressed: bool,
}

/// What a decoder needs for compressed messages.
#[derive(Debug)]
struct InflateState {
    params: DeflateParams,
    /// Created at the first compressed message; without client context takeover it goes back
    /// to a per-thread pool after each message, so idle connections hold none.
    inflater: Option<Inflater>,
    /// Inflated bytes of the compressed message in progress.
    inflated: Vec<u8>,
}

impl WsDecoder {
    /// A decoder at the start of a connection.
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            frame: None,
            message: None,
            assembled: BytesMut::new(),
            utf8: Utf8Validator::new(),
            deflate: None,
            compressed: false,
        }
    }

    /// Accepts compressed messages (RSV1 on a message's first frame) as agreed in `params`.
    /// The message size limit then applies to the inflated size.
    pub fn with_deflate(mut self, params: DeflateParams) -> Self {
        self.deflate = Some(Box::new(InflateState { params, inflater: None, inflated: Vec::new() }));
        self
    }

    /// The configuration this decoder enforces.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Decodes the next event from the front of `buf`, or `Ok(None)` if more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        loop {
            let mut frame = if let Some(frame) = self.frame {
                frame
            } else {
                let Some((header, header_len)) = FrameHeader::parse(buf)? else {
                    return Ok(None);
                };
                let frame = self.admit(&header)?;
                buf.advance(header_len);
                frame
            };
            let available = buf.len().min(frame.len);
            if available > frame.unmasked {
                let fresh = &mut buf[frame.unmasked..available];
                let text = !frame.opcode.is_control() && self.message == Some(Kind::Text) && !self.compressed;
                // Text is checked for ASCII as it is unmasked; only the rest needs validating,
                // and ASCII is valid after a finished code point only.
                let ascii = frame.mask.is_some_and(|key| apply_mask_ascii(fresh, key, frame.unmasked));
                if text && (!ascii || self.utf8.is_incomplete()) {
                    self.utf8.feed(fresh).map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                frame.unmasked = available;
            }
            if available < frame.len {
                self.frame = Some(frame);
                return Ok(None);
            }
            self.frame = None;
            let payload = buf.split_to(frame.len).freeze();
            if let Some(event) = self.complete(frame, payload)? {
                return Ok(Some(event));
            }
        }
    }

    /// How many more bytes the frame being read needs beyond the `buffered` bytes already held,
    /// so the caller can size its next read. Zero between frames.
    pub fn bytes_wanted(&self, buffered: usize) -> usize {
        self.frame.map_or(0, |f| f.len.saturating_sub(buffered))
    }

    /// Whether a fragmented message is partly received.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Checks a header against the protocol and the limits before any payload is read.
    fn admit(&mut self, header: &FrameHeader) -> Result<InFrame, ProtocolError> {
        // RSV1 marks a compressed message; it is allowed on a message's first frame only, and
        // only when permessage-deflate was agreed.
        let rsv1_allowed = self.deflate.is_some() && matches!(header.opcode, OpCode::Text | OpCode::Binary);
        if header.rsv & !(if rsv1_allowed { 0b100 } else { 0 }) != 0 {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        if self.config.require_mask && header.mask.is_none() {
            return Err(ProtocolError::UnmaskedFrame);
        }
        if header.opcode.is_control() {
            if !header.fin {
                return Err(ProtocolError::FragmentedControl);
            }
            if header.payload_len > 125 {
                return Err(ProtocolError::ControlTooLong(header.payload_len));
            }
        } else {
            match (header.opcode, self.message) {
                (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
                (OpCode::Text | OpCode::Binary, Some(_)) => {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                _ => {}
            }
            if header.payload_len > self.config.max_frame_size as u64 {
                return Err(ProtocolError::FrameTooLarge {
                    len: header.payload_len,
                    max: self.config.max_frame_size,
                });
            }
            if matches!(header.opcode, OpCode::Text | OpCode::Binary) {
                self.compressed = header.rsv & 0b100 != 0;
            }
            // A compressed message is measured once inflated (in `inflate_frame`).
            let total = self.assembled.len() as u64 + header.payload_len;
            if !self.compressed && total > self.config.max_message_size as u64 {
                return Err(ProtocolError::MessageTooLarge { len: total, max: self.config.max_message_size });
            }
            match header.opcode {
                OpCode::Text => self.message = Some(Kind::Text),
                OpCode::Binary => self.message = Some(Kind::Binary),
                _ => {}
            }
        }
        Ok(InFrame {
            fin: header.fin,
            opcode: header.opcode,
            mask: header.mask,
            // Bounded by max_frame_size (a usize) or by 125 for control frames.
            len: header.payload_len as usize,
            unmasked: 0,
        })
    }

    /// A whole frame payload has arrived: produce an event, or absorb a fragment.
    fn complete(&mut self, frame: InFrame, payload: Bytes) -> Result<Option<Event>, ProtocolError> {
        match frame.opcode {
            OpCode::Ping => Ok(Some(Event::Ping(payload))),
            OpCode::Pong => Ok(Some(Event::Pong(payload))),
            OpCode::Close => parse_close(&payload).map(|close| Some(Event::Close(close))),
            OpCode::Text | OpCode::Binary | OpCode::Continuation if self.compressed => {
                self.inflate_frame(frame.fin, &payload)
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if !frame.fin {
                    self.assembled.extend_from_slice(&payload);
                    return Ok(None);
                }
                let kind = self.message.take().ok_or(ProtocolError::UnexpectedContinuation)?;
                if kind == Kind::Text {
                    self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                // A message in one frame (or whose earlier fragments were empty) is handed on
                // without a copy: it shares the read buffer's allocation.
                let data = if self.assembled.is_empty() {
                    payload
                } else {
                    self.assembled.extend_from_slice(&payload);
                    self.assembled.split().freeze()
                };
                Ok(Some(match kind {
                    Kind::Text => Event::Text(data),
                    Kind::Binary => Event::Binary(data),
                }))
            }
        }
    }
}

impl WsDecoder {
    /// Inflates one frame of a compressed message, validating text as it is inflated.
    fn inflate_frame(&mut self, fin: bool, payload: &[u8]) -> Result<Option<Event>, ProtocolError> {
        let limit = self.config.max_message_size;
        let Some(state) = self.deflate.as_deref_mut() else {
            return Err(ProtocolError::ReservedBits(0b100));
        };
        let params = state.params;
        let inflater = state.inflater.get_or_insert_with(|| Inflater::pooled(&params));
        let start = state.inflated.len();
        let mut result = inflater.inflate(payload, &mut state.inflated, limit);
        if fin && result.is_ok() {
            result = inflater.finish_message(&mut state.inflated, limit);
        }
        result.map_err(|e| match e {
            InflateError::TooBig { limit } => {
                ProtocolError::MessageTooLarge { len: limit as u64 + 1, max: limit }
            }
            _ => ProtocolError::InvalidCompressedData,
        })?;
        if self.message == Some(Kind::Text) {
            self.utf8.feed(&state.inflated[start..]).map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if !fin {
            return Ok(None);
        }
        if params.client_no_context_takeover
            && let Some(inflater) = state.inflater.take()
        {
            inflater.recycle();
        }
        let data = Bytes::from(std::mem::take(&mut state.inflated));
        let kind = self.message.take().ok_or(ProtocolError::UnexpectedContinuation)?;
        self.compressed = false;
        Ok(Some(match kind {
            Kind::Text => {
                self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                Event::Text(data)
            }
            Kind::Binary => Event::Binary(data),
        }))
    }
}

fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseTooShort),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason: reason.to_owned() }))
        }
    }
}

#[cfg(test)]
mod tests;

//! Differential checks against tungstenite 0.30, which parses the same RFC 6455 frames with
//! independent code.
//!
//! Deliberate differences, where only windlass refuses (the checks stop comparing there):
//!
//! - A length not in its shortest form (§5.2 "the minimal number of bytes MUST be used") and a
//!   64-bit length with its most significant bit set: windlass fails the connection, tungstenite
//!   reads the frame.
//! - A reserved opcode: both refuse it, but windlass as soon as the first two bytes are in,
//!   tungstenite once the whole header is.
//! - Windlass checks a frame's header (limits, masking, RSV, control rules) and validates text
//!   as bytes arrive, so on a truncated stream it may fail where tungstenite still waits for the
//!   frame to complete; and tungstenite checks `max_frame_size` before the other header rules,
//!   so where both fail, tungstenite may say 1009 where windlass says 1002.
//! - Close frames: windlass fails the connection on a code that may not be sent; tungstenite
//!   reports the close as 1002 "Protocol violation". Tungstenite does not know 1014 (Bad
//!   Gateway, registered with IANA) and treats it the same way; windlass accepts it. A close
//!   with an unsendable code and a reason that is not UTF-8 is 1002 for windlass (code checked
//!   first) and 1007 for tungstenite.

use std::io::{self, Cursor, Read, Write};

use bytes::{Bytes, BytesMut};
use tungstenite::error::{Error as TError, ProtocolError as TProtocolError};
use tungstenite::protocol::frame::{Frame as TFrame, FrameHeader as THeader, FrameSocket};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::{Message, protocol::CloseFrame as TCloseFrame};

use super::{Knobs, SIZES};
use crate::close::{CloseCode, CloseFrame};
use crate::decoder::{DecoderConfig, Event, ProtocolError, WsDecoder};
use crate::frame::{FrameHead, FrameHeader};
use crate::mask::apply_mask;

/// Parses the input as a sequence of frames with [`FrameHeader::parse`] and with tungstenite's
/// `FrameHeader::parse` and `FrameSocket`.
///
/// Invariants: wherever neither parser is deliberately stricter (see the module docs), both
/// need more bytes at the same point or both give the same FIN, RSV, opcode, mask, payload
/// length and header length; the header re-encodes to the same bytes with windlass's
/// [`FrameHead`] and with tungstenite's `format` (windlass accepts only the canonical form);
/// tungstenite's frame has the same payload; and unmasking it, whole or piecewise with
/// [`apply_mask`], gives what tungstenite's masking gives.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn frame_differential(data: &[u8]) {
    let mut socket = FrameSocket::new(Cursor::new(data));
    let mut rest = data;
    loop {
        let ours = FrameHeader::parse(rest);
        let mut cursor = Cursor::new(rest);
        let theirs = THeader::parse(&mut cursor);
        let (header, len, their_header) = match (ours, theirs) {
            (Ok(Some((header, len))), Ok(Some((their_header, their_len)))) => {
                assert_eq!(cursor.position(), len as u64, "header length for {:02x?}", &rest[..len]);
                assert_eq!(their_len, header.payload_len, "payload length for {:02x?}", &rest[..len]);
                (header, len, their_header)
            }
            (Ok(None), Ok(None)) => return,
            (Err(ProtocolError::ReservedOpcode(op)), theirs) => {
                assert_eq!(op, rest[0] & 0x0f);
                match theirs {
                    Ok(None) => {}
                    Err(TError::Protocol(TProtocolError::InvalidOpcode(their_op))) => {
                        assert_eq!(their_op, op);
                    }
                    theirs => panic!("opcode {op:#x}: tungstenite says {theirs:?}"),
                }
                return;
            }
            (Err(ProtocolError::NonMinimalLength), Ok(theirs)) => {
                if let Some((_, n)) = theirs {
                    let non_minimal = match rest[1] & 0x7f {
                        126 => n < 126,
                        127 => n <= 0xffff,
                        _ => false,
                    };
                    assert!(non_minimal, "length {n} refused as not minimal: {:02x?}", &rest[..10]);
                }
                return;
            }
            (Err(ProtocolError::LengthOverflow), Ok(theirs)) => {
                if let Some((_, n)) = theirs {
                    assert!(rest[1] & 0x7f == 127 && n >> 63 == 1, "length {n} refused as overflowing");
                }
                return;
            }
            (ours, theirs) => {
                panic!("windlass {ours:?}, tungstenite {theirs:?} for {:02x?}", &rest[..rest.len().min(14)])
            }
        };
        assert_eq!(header.fin, their_header.is_final);
        let their_rsv =
            u8::from(their_header.rsv1) << 2 | u8::from(their_header.rsv2) << 1 | u8::from(their_header.rsv3);
        assert_eq!(header.rsv, their_rsv);
        assert_eq!(header.opcode.nibble(), u8::from(their_header.opcode));
        assert_eq!(header.mask, their_header.mask);

        let Ok(payload_len) = usize::try_from(header.payload_len) else { return };
        let mut encoded =
            FrameHead::with_rsv(header.fin, header.rsv, header.opcode, payload_len).as_slice().to_vec();
        if let Some(key) = header.mask {
            encoded[1] |= 0x80;
            encoded.extend_from_slice(&key);
        }
        assert_eq!(encoded, &rest[..len], "windlass re-encodes the header differently");
        let mut formatted = Vec::new();
        their_header.format(header.payload_len, &mut formatted).expect("format into a Vec");
        assert_eq!(formatted, &rest[..len], "tungstenite re-encodes the header differently");

        let Some(payload) = len.checked_add(payload_len).and_then(|end| rest.get(len..end)) else { return };
        let frame =
            socket.read(None).expect("tungstenite refused a frame windlass accepted").expect("no frame");
        assert_eq!(frame.header(), &their_header);
        assert_eq!(frame.payload(), payload);
        if let Some(key) = header.mask {
            // Tungstenite masks while formatting; masking is its own inverse.
            let mut unmasked = Vec::new();
            TFrame::from_payload(their_header, Bytes::copy_from_slice(payload))
                .format(&mut unmasked)
                .expect("format");
            let mut ours = payload.to_vec();
            let third = ours.len() / 3;
            let (a, b) = ours.split_at_mut(third);
            apply_mask(a, key, 0);
            apply_mask(b, key, third);
            assert_eq!(ours, &unmasked[len..], "unmasking differs");
        }
        rest = &rest[len + payload_len..];
    }
}

/// How a decoder stopped.
#[derive(Debug)]
enum End<E> {
    /// Needs more bytes.
    Waiting,
    /// Returned a close frame, after which a server reads no more messages.
    Closed,
    /// Failed the connection.
    Failed(E),
}

/// Decodes the input as a client stream with [`WsDecoder`] and with a tungstenite server
/// `WebSocket` under the same limits and masking policy, up to the first close or error.
///
/// Invariants: the messages agree up to where one side stops; where they stop differently, the
/// difference is one of the deliberate ones in the module docs; where both fail, they fail with
/// the same close code (modulo the documented order of checks).
///
/// # Panics
///
/// When an invariant does not hold.
pub fn message_differential(data: &[u8]) {
    let mut knobs = Knobs::new(data);
    let flags = knobs.byte();
    let limits = knobs.byte();
    // Tungstenite applies `max_frame_size` to control frames as well; below 125 that is a
    // difference of configuration, not of decoding.
    let config = DecoderConfig {
        max_frame_size: SIZES[usize::from(limits & 0x0f)].max(125),
        max_message_size: SIZES[usize::from(limits >> 4)],
        require_mask: flags & 1 != 0,
    };
    let input = knobs.rest();

    let mut decoder = WsDecoder::new(config);
    let mut buf = BytesMut::from(input);
    let mut ours = Vec::new();
    let our_end = loop {
        match decoder.decode(&mut buf) {
            Ok(Some(event)) => {
                let closed = matches!(event, Event::Close(_));
                ours.push(event);
                if closed {
                    break End::Closed;
                }
            }
            Ok(None) => break End::Waiting,
            Err(e) => break End::Failed(e),
        }
    };

    let ws_config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_frame_size(Some(config.max_frame_size))
        .max_message_size(Some(config.max_message_size))
        .accept_unmasked_frames(!config.require_mask);
    let mut ws = WebSocket::from_raw_socket(Peer { input }, Role::Server, Some(ws_config));
    let mut theirs = Vec::new();
    let their_end = loop {
        match ws.read() {
            Ok(message) => {
                let event = match message {
                    Message::Text(text) => Event::Text(Bytes::copy_from_slice(text.as_bytes())),
                    Message::Binary(data) => Event::Binary(data),
                    Message::Ping(data) => Event::Ping(data),
                    Message::Pong(data) => Event::Pong(data),
                    Message::Close(close) => Event::Close(close.map(|TCloseFrame { code, reason }| {
                        CloseFrame { code: CloseCode(code.into()), reason: reason.as_str().to_owned() }
                    })),
                    Message::Frame(_) => panic!("tungstenite returned a raw frame"),
                };
                let closed = matches!(event, Event::Close(_));
                theirs.push(event);
                if closed {
                    break End::Closed;
                }
            }
            Err(TError::Protocol(TProtocolError::ResetWithoutClosingHandshake)) => break End::Waiting,
            Err(e) => break End::Failed(close_code(&e)),
        }
    };

    let common = ours.len().min(theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert!(same_event(a, b), "windlass {a:?}, tungstenite {b:?}\nall: {ours:?}\n vs {theirs:?}");
    }
    let next_theirs = theirs.get(common);
    let agree = match (&our_end, &their_end) {
        _ if ours.len() > theirs.len() => false,
        // Tungstenite reads frames windlass refuses as not minimally encoded.
        (End::Failed(ProtocolError::NonMinimalLength | ProtocolError::LengthOverflow), _) => true,
        // A close with a code that may not be sent.
        (End::Failed(ProtocolError::InvalidCloseCode(_)), End::Closed) => {
            theirs.len() == common + 1 && next_theirs.is_some_and(is_protocol_violation)
        }
        (End::Failed(ProtocolError::InvalidCloseCode(_)), End::Failed(1007)) => theirs.len() == common,
        _ if theirs.len() > common => false,
        (End::Waiting | End::Failed(_), End::Waiting) | (End::Closed, End::Closed) => true,
        (End::Failed(e), End::Failed(code)) => {
            e.close_code().0 == *code || (*code == 1009 && e.close_code() == CloseCode::PROTOCOL_ERROR)
        }
        _ => false,
    };
    assert!(
        agree,
        "windlass ended {our_end:?} after {ours:?}\ntungstenite ended {their_end:?} after {theirs:?}\nunder {config:?}"
    );
}

/// A client that has sent `input` and reads whatever the server writes.
struct Peer<'a> {
    input: &'a [u8],
}

impl Read for Peer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Peer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The close code a tungstenite read error fails the connection with.
fn close_code(e: &TError) -> u16 {
    match e {
        TError::Protocol(_) => 1002,
        TError::Utf8(_) => 1007,
        TError::Capacity(_) => 1009,
        e => panic!("unexpected tungstenite error {e:?}"),
    }
}

fn same_event(ours: &Event, theirs: &Event) -> bool {
    match (ours, theirs) {
        (Event::Close(Some(close)), theirs) if close.code.0 == 1014 => is_protocol_violation(theirs),
        _ => ours == theirs,
    }
}

/// Tungstenite's report of a close frame whose code it does not allow.
fn is_protocol_violation(event: &Event) -> bool {
    matches!(event, Event::Close(Some(CloseFrame { code: CloseCode::PROTOCOL_ERROR, reason })) if reason == "Protocol violation")
}

//! The frame decoder with message assembly.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Knobs, SIZES, scaled};
use crate::close::{CloseCode, CloseFrame, MAX_REASON_BYTES};
use crate::decoder::{DecoderConfig, Event, ProtocolError, WsDecoder};
use crate::deflate::{DeflateParams, Deflater};
use crate::frame::{FrameHead, OpCode};

/// Flag bits of the first byte.
const REQUIRE_MASK: u8 = 0b0000_0001;
const DEFLATE: u8 = 0b0000_0010;
const CLIENT_NO_CONTEXT_TAKEOVER: u8 = 0b0000_0100;
const STRUCTURED: u8 = 0b0000_1000;

/// Scripted streams stop growing past this many wire bytes: room for a message in the 64-bit
/// length form, while keeping a fuzzer at hundreds of inputs a second.
const MAX_SCRIPTED_WIRE: usize = 1 << 17;

/// Decodes a client byte stream under input-chosen limits and policy, whole, cut once, and in
/// small chunks.
///
/// With the structured flag the data is not wire bytes but a script of messages, which the
/// harness encodes as a client would (masked, fragmented, with pings between fragments,
/// compressed when deflate is on) and the decoder must give back exactly, without error.
///
/// Invariants, for any bytes: no panic; every event respects the limits (text is UTF-8, a
/// message is at most `max_message_size`, a ping or pong at most 125 bytes, a close code is
/// sendable and its reason at most 123 bytes); every error maps to 1002, 1007 or 1009 and names
/// the configured limit; input is consumed monotonically, at least a frame header between
/// events, and `Ok(None)` is stable when no bytes arrive; and feeding the input in pieces
/// gives the same events, the same error and the same leftover state as feeding it whole.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn frame_decoder(data: &[u8]) {
    let mut knobs = Knobs::new(data);
    let flags = knobs.byte();
    let limits = knobs.byte();
    let cut = knobs.byte();
    let deflate = (flags & DEFLATE != 0).then(|| DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: flags & CLIENT_NO_CONTEXT_TAKEOVER != 0,
        server_window_bits: 15,
        client_window_bits: 9 + (flags >> 4) % 7,
        level: u32::from(limits % 10),
        threshold: 0,
    });
    let require_mask = flags & REQUIRE_MASK != 0;
    let (config, input, expected) = if flags & STRUCTURED == 0 {
        let config = DecoderConfig {
            max_frame_size: SIZES[usize::from(limits & 0x0f)],
            max_message_size: SIZES[usize::from(limits >> 4)],
            require_mask,
        };
        (config, knobs.rest().to_vec(), None)
    } else {
        // Scripted messages stay below these limits, so any error is the decoder's.
        let config = DecoderConfig { max_frame_size: 1 << 20, max_message_size: 1 << 20, require_mask };
        let (wire, events) = client_stream(knobs, deflate.as_ref(), require_mask);
        (config, wire, Some(events))
    };
    let whole = decode(config, deflate, &input, &[]);
    let once = decode(config, deflate, &input, &[scaled(cut, input.len())]);
    assert_eq!(once, whole, "input cut at {} decodes differently", scaled(cut, input.len()));
    // Byte-sized chunks for short inputs; at most about 500 reads for long ones.
    let step = (usize::from(cut % 8) + 1).max(input.len() / 512);
    let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
    assert_eq!(
        decode(config, deflate, &input, &cuts),
        whole,
        "input in chunks of {step} decodes differently"
    );
    if let Some(expected) = expected {
        assert_eq!(whole.error, None, "scripted stream refused");
        assert_eq!(whole.events, expected, "scripted stream decoded differently");
        assert_eq!((whole.leftover, whole.in_message), (0, false));
    }
}

/// What a decoder made of a whole stream.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<Event>,
    error: Option<ProtocolError>,
    /// Bytes left in the buffer (only compared without an error: an error stops the reads).
    leftover: usize,
    in_message: bool,
    bytes_wanted: usize,
}

/// Feeds `input` to a new decoder, cut at `cuts`, decoding after every piece until it needs more
/// bytes, as a connection does after every read.
fn decode(config: DecoderConfig, deflate: Option<DeflateParams>, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut decoder = WsDecoder::new(config);
    if let Some(params) = deflate {
        decoder = decoder.with_deflate(params);
    }
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let (mut fed, mut consumed, mut start) = (0, 0, 0);
    // Headers are consumed when admitted, perhaps by a call that then waits for the payload, so
    // an event is measured from the previous one.
    let mut consumed_by_last_event = 0;
    for end in cuts.iter().copied().chain([input.len()]) {
        buf.put_slice(&input[start..end]);
        fed += end - start;
        start = end;
        loop {
            let result = decoder.decode(&mut buf);
            assert!(fed - buf.len() >= consumed, "the decoder gave bytes back");
            consumed = fed - buf.len();
            match result {
                Ok(Some(event)) => {
                    let used = consumed - consumed_by_last_event;
                    consumed_by_last_event = consumed;
                    assert!(used >= 2, "{event:?} from {used} bytes");
                    check_event(&event, &config);
                    if matches!(event, Event::Text(_) | Event::Binary(_)) {
                        assert!(!decoder.in_message(), "still in a message after delivering it");
                    }
                    events.push(event);
                }
                Ok(None) => {
                    let wanted = decoder.bytes_wanted(buf.len());
                    assert!(wanted <= config.max_frame_size.max(125), "wants {wanted} bytes");
                    let before = buf.len();
                    assert_eq!(decoder.decode(&mut buf), Ok(None), "not stable without new bytes");
                    assert_eq!(buf.len(), before, "consumed bytes without new input");
                    break;
                }
                Err(error) => {
                    check_error(&error, &config, deflate.is_some());
                    return Outcome {
                        events,
                        error: Some(error),
                        leftover: 0,
                        in_message: false,
                        bytes_wanted: 0,
                    };
                }
            }
        }
    }
    Outcome {
        events,
        error: None,
        leftover: buf.len(),
        in_message: decoder.in_message(),
        bytes_wanted: decoder.bytes_wanted(buf.len()),
    }
}

fn check_event(event: &Event, config: &DecoderConfig) {
    match event {
        Event::Text(text) => {
            assert!(std::str::from_utf8(text).is_ok(), "text is not UTF-8");
            assert!(text.len() <= config.max_message_size, "text of {} bytes", text.len());
        }
        Event::Binary(data) => {
            assert!(data.len() <= config.max_message_size, "binary of {} bytes", data.len());
        }
        Event::Ping(data) | Event::Pong(data) => {
            assert!(data.len() <= 125, "control of {} bytes", data.len());
        }
        Event::Close(None) => {}
        Event::Close(Some(close)) => {
            assert!(close.code.is_sendable(), "close code {}", close.code);
            assert!(close.reason.len() <= MAX_REASON_BYTES, "close reason of {} bytes", close.reason.len());
        }
    }
}

fn check_error(error: &ProtocolError, config: &DecoderConfig, deflate: bool) {
    assert!(
        matches!(error.close_code().0, 1002 | 1007 | 1009),
        "{error:?} closes with {}",
        error.close_code()
    );
    match *error {
        ProtocolError::ReservedOpcode(op) => assert!(OpCode::from_nibble(op).is_none(), "opcode {op}"),
        ProtocolError::ReservedBits(bits) => assert!((1..=7).contains(&bits), "bits {bits:#b}"),
        ProtocolError::UnmaskedFrame => assert!(config.require_mask),
        ProtocolError::ControlTooLong(len) => assert!(len > 125),
        ProtocolError::FrameTooLarge { len, max } => {
            assert_eq!(max, config.max_frame_size);
            assert!(len > max as u64);
        }
        ProtocolError::MessageTooLarge { len, max } => {
            assert_eq!(max, config.max_message_size);
            assert!(len > max as u64);
        }
        ProtocolError::InvalidCompressedData => assert!(deflate, "compressed data without deflate"),
        ProtocolError::InvalidCloseCode(code) => assert!(!CloseCode(code).is_sendable()),
        ProtocolError::NonMinimalLength
        | ProtocolError::LengthOverflow
        | ProtocolError::FragmentedControl
        | ProtocolError::UnexpectedContinuation
        | ProtocolError::ExpectedContinuation
        | ProtocolError::InvalidUtf8
        | ProtocolError::CloseTooShort => {}
    }
}

/// Sendable close codes a script picks from.
const CLOSE_CODES: [u16; 8] = [1000, 1001, 1002, 1003, 1007, 1011, 1014, 4000];

/// Encodes a script as the frames a client sends, and the events they must decode to.
///
/// Each message takes an op byte (bits 0-2 kind: text, text, binary, binary, ping, pong,
/// close, empty text; bits 3-4 fragments - 1; bit 5 a ping between fragments; bit 6 compress;
/// bit 7 length in units of 300 bytes), a length byte and up to 64 bytes of content, repeated
/// to the length. Control payloads are cut to 125 bytes; a close ends the script.
fn client_stream(
    mut script: Knobs<'_>,
    deflate: Option<&DeflateParams>,
    require_mask: bool,
) -> (Vec<u8>, Vec<Event>) {
    // The client compresses with the window and context policy it was told.
    let mut deflater = deflate.map(|p| {
        Deflater::new(&DeflateParams {
            server_window_bits: p.client_window_bits,
            server_no_context_takeover: p.client_no_context_takeover,
            ..*p
        })
    });
    let mut wire = Vec::new();
    let mut events = Vec::new();
    while !script.is_empty() && wire.len() < MAX_SCRIPTED_WIRE {
        let op = script.byte();
        let len_byte = script.byte();
        let len = usize::from(len_byte) * if op & 0x80 != 0 { 300 } else { 1 };
        let content = script.take(len.min(64));
        let mut payload: Vec<u8> = content.iter().copied().cycle().take(len).collect();
        // Text repeats the content made UTF-8 (each invalid byte becomes three), cut to the length.
        let text = String::from_utf8_lossy(content);
        // Varies the key; all-zero keys (plain text on the wire) happen too.
        let mask =
            (require_mask || op & 0x10 != 0).then_some([op, len_byte, content.len() as u8, wire.len() as u8]);
        let (opcode, event) = match op & 0x07 {
            0 | 1 | 7 => {
                let mut end = if op & 0x07 == 7 || text.is_empty() { 0 } else { len };
                let mut repeated = text.repeat(end.div_ceil(text.len().max(1)));
                while !repeated.is_char_boundary(end) {
                    end -= 1;
                }
                repeated.truncate(end);
                payload = repeated.into_bytes();
                (OpCode::Text, Event::Text(Bytes::copy_from_slice(&payload)))
            }
            2 | 3 => (OpCode::Binary, Event::Binary(Bytes::copy_from_slice(&payload))),
            kind => {
                payload.truncate(125);
                let (opcode, event) = match kind {
                    4 => (OpCode::Ping, Event::Ping(Bytes::copy_from_slice(&payload))),
                    5 => (OpCode::Pong, Event::Pong(Bytes::copy_from_slice(&payload))),
                    _ if payload.is_empty() => (OpCode::Close, Event::Close(None)),
                    _ => {
                        let code = CloseCode(CLOSE_CODES[usize::from(payload[0]) % CLOSE_CODES.len()]);
                        let close = CloseFrame::new(code, &String::from_utf8_lossy(&payload[1..]));
                        payload = close.to_payload().to_vec();
                        (OpCode::Close, Event::Close(Some(close)))
                    }
                };
                push_frame(&mut wire, true, 0, opcode, &payload, mask);
                events.push(event);
                if opcode == OpCode::Close {
                    break;
                }
                continue;
            }
        };
        let (rsv, payload) = match deflater.as_mut() {
            Some(deflater) if op & 0x40 != 0 => (0b100, deflater.compress(&payload).to_vec()),
            _ => (0, payload),
        };
        let fragments = usize::from((op >> 3) & 0x03) + 1;
        for i in 0..fragments {
            let part = &payload[payload.len() * i / fragments..payload.len() * (i + 1) / fragments];
            let (opcode, rsv) = if i == 0 { (opcode, rsv) } else { (OpCode::Continuation, 0) };
            push_frame(&mut wire, i + 1 == fragments, rsv, opcode, part, mask);
            if op & 0x20 != 0 && i + 1 < fragments {
                push_frame(&mut wire, true, 0, OpCode::Ping, &[i as u8], mask);
                events.push(Event::Ping(Bytes::copy_from_slice(&[i as u8])));
            }
        }
        events.push(event);
    }
    (wire, events)
}

/// Appends one client frame, masked byte by byte (independently of [`crate::mask`]).
fn push_frame(wire: &mut Vec<u8>, fin: bool, rsv: u8, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    let start = wire.len();
    wire.extend_from_slice(FrameHead::with_rsv(fin, rsv, opcode, payload.len()).as_slice());
    match mask {
        Some(key) => {
            wire[start + 1] |= 0x80;
            wire.extend_from_slice(&key);
            wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => wire.extend_from_slice(payload),
    }
}

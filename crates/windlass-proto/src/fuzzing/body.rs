//! Request bodies behind their heads, as a server reads a pipelined connection.

use bytes::{Buf, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::{Knobs, scaled};
use crate::body::{BodyDecoder, BodyError, BodyFraming, BodyLimits, Decoded, request_framing};
use crate::head::{HeadError, HeadLimits, parse_request_head};

/// `max_body_bytes` by the low nibble of the limits byte: the default, then sizes short inputs
/// reach, both sides of a few boundaries, and no limit at all.
const BODY_BYTES: [u64; 16] = [1 << 20, 0, 1, 2, 5, 10, 15, 16, 17, 64, 100, 255, 256, 1000, 4096, u64::MAX];
/// `max_chunk_line` and `max_trailer_bytes` by the high nibble.
const LINE_BYTES: [(usize, usize); 16] = [
    (4096, 8 * 1024),
    (0, 0),
    (1, 1),
    (2, 2),
    (3, 4),
    (4, 6),
    (5, 10),
    (8, 16),
    (16, 17),
    (17, 32),
    (24, 64),
    (32, 100),
    (64, 256),
    (128, 1024),
    (1024, 4096),
    (usize::MAX, usize::MAX),
];

/// One request as the server saw it.
#[derive(Debug, PartialEq, Eq)]
struct Exchange {
    method: Method,
    uri: Uri,
    framing: Result<BodyFraming, HeadError>,
    body: Vec<u8>,
    /// Where the body ended in the input, or why it was refused (`Incomplete` when the input
    /// ran out first).
    end: Result<usize, BodyError>,
}

/// How the input reaches the decoder.
#[derive(Clone, Copy)]
enum Feed {
    /// Everything up to a cut point, then the rest.
    CutAt(usize),
    /// One byte per read.
    Bytewise,
}

impl Feed {
    /// Where the input delivered so far ends after the next read.
    fn next(self, delivered: usize, len: usize) -> usize {
        match self {
            Self::CutAt(cut) if delivered < cut => cut,
            Self::CutAt(_) => len,
            Self::Bytewise => (delivered + 1).min(len),
        }
    }
}

/// Reads pipelined requests as a server does: each head by [`parse_request_head`], its
/// framing by [`request_framing`], its body by a [`BodyDecoder`] under input-chosen limits.
///
/// Invariants: the requests, bodies, body ends and errors are the same whether the input
/// arrives in two reads (cut where the first byte says) or a byte at a time; the framing is
/// what an independent reading of RFC 9112 §6.3 says (or a refusal with 400 or 501); a body
/// never passes `max_body_bytes`, a length-framed body that ends has exactly its length,
/// [`Decoded::Data`] is never empty and [`BodyDecoder::received`] counts it; after
/// [`Decoded::End`] the decoder leaves the buffer alone; errors answer 400, 413 or 431 and
/// name the configured limit.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn http_body(data: &[u8]) {
    let mut knobs = Knobs::new(data);
    let cut = knobs.byte();
    let limits_byte = knobs.byte();
    let (max_chunk_line, max_trailer_bytes) = LINE_BYTES[usize::from(limits_byte >> 4)];
    let limits = BodyLimits {
        max_body_bytes: BODY_BYTES[usize::from(limits_byte & 0x0f)],
        max_chunk_line,
        max_trailer_bytes,
    };
    let input = knobs.rest();
    let in_two = serve(input, &limits, Feed::CutAt(scaled(cut, input.len())));
    let bytewise = serve(input, &limits, Feed::Bytewise);
    assert_eq!(in_two, bytewise, "the split changed what was decoded");
}

fn serve(input: &[u8], limits: &BodyLimits, feed: Feed) -> Vec<Exchange> {
    let mut exchanges = Vec::new();
    let mut buf = BytesMut::new();
    let mut delivered = 0;
    loop {
        // Heads are parsed whole from the rest of the input (cutting them is the
        // `request_head` target's business); only bodies arrive as `feed` says.
        let consumed = delivered - buf.len();
        let Ok(Some((request, head_len))) = parse_request_head(&input[consumed..], &HeadLimits::default())
        else {
            return exchanges;
        };
        if delivered >= consumed + head_len {
            buf.advance(head_len);
        } else {
            buf.clear();
            delivered = consumed + head_len;
        }
        let framing = request_framing(request.headers());
        check_framing(request.headers(), &framing);
        let mut exchange = Exchange {
            method: request.method().clone(),
            uri: request.uri().clone(),
            framing: framing.clone(),
            body: Vec::new(),
            end: Err(BodyError::Incomplete),
        };
        let Ok(framing) = framing else {
            exchanges.push(exchange);
            return exchanges;
        };
        let mut decoder = BodyDecoder::new(framing, *limits);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Decoded::Data(data)) => {
                    assert!(!data.is_empty(), "empty Data");
                    exchange.body.extend_from_slice(&data);
                    assert_eq!(decoder.received(), exchange.body.len() as u64, "received() is off");
                    assert!(decoder.received() <= limits.max_body_bytes, "body passed the limit");
                }
                Ok(Decoded::NeedMore) => {
                    let next = feed.next(delivered, input.len());
                    if next == delivered {
                        break;
                    }
                    buf.extend_from_slice(&input[delivered..next]);
                    delivered = next;
                }
                Ok(Decoded::End) => {
                    let left = buf.clone();
                    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::End), "End is not final");
                    assert!(buf == left && decoder.is_done(), "the next request's bytes were touched");
                    if let BodyFraming::Length(n) = framing {
                        assert_eq!(exchange.body.len() as u64, n, "length body ended early");
                    }
                    exchange.end = Ok(delivered - buf.len());
                    break;
                }
                Err(e) => {
                    check_body_error(&e, limits);
                    exchange.end = Err(e);
                    break;
                }
            }
        }
        let ended = exchange.end.is_ok();
        exchanges.push(exchange);
        if !ended {
            return exchanges;
        }
    }
}

/// RFC 9112 §6.3 as `request_framing` documents it, read independently.
fn check_framing(headers: &HeaderMap, framing: &Result<BodyFraming, HeadError>) {
    let lengths: Vec<&[u8]> = headers.get_all(CONTENT_LENGTH).iter().map(HeaderValue::as_bytes).collect();
    let codings: Vec<String> = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|c| String::from_utf8_lossy(c).trim_matches([' ', '\t']).to_ascii_lowercase())
        .collect();
    match framing {
        Ok(BodyFraming::Empty) => assert!(lengths.is_empty() && codings.is_empty()),
        Ok(BodyFraming::Length(n)) => {
            assert!(codings.is_empty(), "Content-Length used beside Transfer-Encoding");
            let digits = match lengths[..] {
                [digits] if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => digits,
                _ => panic!("Content-Length {lengths:?} read as {n}"),
            };
            assert_eq!(std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()), Some(*n));
        }
        Ok(BodyFraming::Chunked) => {
            assert!(lengths.is_empty(), "Transfer-Encoding used beside Content-Length");
            assert_eq!(codings, ["chunked"], "Transfer-Encoding read as chunked");
        }
        Err(e) => {
            assert!(!lengths.is_empty() || !codings.is_empty(), "{e:?} without framing headers");
            match e {
                HeadError::ContentLengthWithTransferEncoding => {
                    assert!(!lengths.is_empty() && !codings.is_empty());
                }
                HeadError::UnsupportedTransferCoding => {
                    assert!(codings.iter().any(|c| c != "chunked"), "{codings:?} refused as unsupported");
                }
                _ => {}
            }
            assert!(matches!(e.status().as_u16(), 400 | 501), "{e:?} answers {}", e.status());
        }
    }
}

fn check_body_error(e: &BodyError, limits: &BodyLimits) {
    match e {
        BodyError::TooLarge { max } => assert_eq!(*max, limits.max_body_bytes),
        BodyError::TrailersTooLarge { max } => assert_eq!(*max, limits.max_trailer_bytes),
        BodyError::Chunk(_) => {}
        BodyError::Incomplete | BodyError::Timeout => panic!("the decoder reported {e:?}, an I/O condition"),
    }
    assert!(matches!(e.status().as_u16(), 400 | 413 | 431), "{e:?} answers {}", e.status());
}

use bytes::BufMut;
use http::HeaderValue;
use proptest::prelude::*;

use super::*;

const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

/// What decoding one body out of a stream gave: the body, and where it ended in the input (or
/// why it failed; `Incomplete` when the input ran out first).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    end: Result<usize, BodyError>,
}

/// Decodes the body at the front of `input`, delivered in pieces ending at `cuts`.
fn decode_pieces(framing: BodyFraming, limits: BodyLimits, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut decoder = BodyDecoder::new(framing, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut delivered = 0;
    for end in cuts.iter().copied().chain([input.len()]) {
        buf.put_slice(&input[delivered..end]);
        delivered = end;
        loop {
            let held = buf.as_ptr_range();
            match decoder.decode(&mut buf) {
                Ok(Decoded::Data(data)) => {
                    assert!(!data.is_empty(), "empty Data");
                    assert!(held.contains(&data.as_ptr()), "data was copied, not split off");
                    body.extend_from_slice(&data);
                    assert_eq!(decoder.received(), body.len() as u64);
                }
                Ok(Decoded::NeedMore) => break,
                Ok(Decoded::End) => {
                    let end = delivered - buf.len();
                    let left = buf.clone();
                    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::End), "End is not sticky");
                    assert_eq!(buf, left, "bytes after the body were touched");
                    assert!(decoder.is_done());
                    return Outcome { body, end: Ok(end) };
                }
                Err(e) => {
                    assert_eq!(decoder.decode(&mut buf), Err(e.clone()), "errors are not sticky");
                    assert!(!decoder.is_done());
                    return Outcome { body, end: Err(e) };
                }
            }
        }
    }
    Outcome { body, end: Err(BodyError::Incomplete) }
}

/// Decodes `input` whole, split at every byte boundary, and a byte at a time; all must agree.
fn decode_every_split(framing: BodyFraming, limits: BodyLimits, input: &[u8]) -> Outcome {
    let whole = decode_pieces(framing, limits, input, &[]);
    for cut in 0..=input.len() {
        assert_eq!(decode_pieces(framing, limits, input, &[cut]), whole, "split at {cut}");
    }
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(decode_pieces(framing, limits, input, &every), whole, "byte by byte");
    whole
}

fn chunked(input: &[u8]) -> Outcome {
    decode_every_split(BodyFraming::Chunked, BodyLimits::default(), input)
}

fn headers(fields: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

use http::HeaderName;

type Fields = &'static [(&'static str, &'static str)];

#[test]
fn framing_of_well_formed_requests() {
    let cases: &[(Fields, BodyFraming)] = &[
        (&[], BodyFraming::Empty),
        (&[("host", "a")], BodyFraming::Empty),
        (&[("content-length", "0")], BodyFraming::Length(0)),
        (&[("content-length", "0042")], BodyFraming::Length(42)),
        (&[("content-length", "18446744073709551615")], BodyFraming::Length(u64::MAX)),
        (&[("transfer-encoding", "chunked")], BodyFraming::Chunked),
        (&[("transfer-encoding", "Chunked")], BodyFraming::Chunked),
        (&[("transfer-encoding", " chunked\t")], BodyFraming::Chunked),
    ];
    for (fields, framing) in cases {
        assert_eq!(request_framing(&headers(fields)), Ok(*framing), "{fields:?}");
    }
}

#[test]
fn framing_refusals_carry_their_status() {
    let cases: &[(Fields, HeadError, u16)] = &[
        (
            &[("content-length", "5"), ("transfer-encoding", "chunked")],
            HeadError::ContentLengthWithTransferEncoding,
            400,
        ),
        // Refused before the coding is looked at: the shape alone is the smuggling attempt.
        (
            &[("transfer-encoding", "gzip"), ("content-length", "5")],
            HeadError::ContentLengthWithTransferEncoding,
            400,
        ),
        (&[("content-length", "5"), ("content-length", "5")], HeadError::ContentLength("repeated"), 400),
        (&[("content-length", "5"), ("content-length", "6")], HeadError::ContentLength("repeated"), 400),
        (&[("content-length", "5, 5")], HeadError::ContentLength("a list"), 400),
        (&[("content-length", "5,")], HeadError::ContentLength("a list"), 400),
        (&[("content-length", "+5")], HeadError::ContentLength("not a decimal number"), 400),
        (&[("content-length", "-1")], HeadError::ContentLength("not a decimal number"), 400),
        (&[("content-length", "5 5")], HeadError::ContentLength("not a decimal number"), 400),
        (&[("content-length", "0x10")], HeadError::ContentLength("not a decimal number"), 400),
        (&[("content-length", "")], HeadError::ContentLength("not a decimal number"), 400),
        (&[("content-length", "18446744073709551616")], HeadError::ContentLength("too large"), 400),
        (&[("content-length", "99999999999999999999999")], HeadError::ContentLength("too large"), 400),
        (&[("transfer-encoding", "chunked, chunked")], TE_ORDER, 400),
        (&[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")], TE_ORDER, 400),
        (&[("transfer-encoding", "chunked, gzip")], TE_ORDER, 400),
        (&[("transfer-encoding", "chunked"), ("transfer-encoding", "gzip")], TE_ORDER, 400),
        (&[("transfer-encoding", "chunked;q=1")], HeadError::UnsupportedTransferCoding, 501),
        (&[("transfer-encoding", "")], TE_ELEMENT, 400),
        (&[("transfer-encoding", ", chunked")], TE_ELEMENT, 400),
        (&[("transfer-encoding", "chunked,")], TE_ELEMENT, 400),
        (&[("transfer-encoding", "chunked"), ("transfer-encoding", "")], TE_ELEMENT, 400),
        (&[("transfer-encoding", "\"chunked\"")], TE_ELEMENT, 400),
        (&[("transfer-encoding", "chun ked")], TE_ELEMENT, 400),
        (&[("transfer-encoding", "gzip")], HeadError::UnsupportedTransferCoding, 501),
        (&[("transfer-encoding", "identity")], HeadError::UnsupportedTransferCoding, 501),
        (&[("transfer-encoding", "gzip, chunked")], HeadError::UnsupportedTransferCoding, 501),
        (&[("transfer-encoding", "gzip;level=9"), ("transfer-encoding", "chunked")], UNSUPPORTED, 501),
    ];
    for (fields, error, status) in cases {
        let result = request_framing(&headers(fields));
        assert_eq!(result.as_ref(), Err(error), "{fields:?}");
        assert_eq!(error.status().as_u16(), *status, "{fields:?}");
    }
}

const TE_ORDER: HeadError = HeadError::TransferEncoding("chunked must appear once, last");
const TE_ELEMENT: HeadError = HeadError::TransferEncoding("empty or malformed element");
const UNSUPPORTED: HeadError = HeadError::UnsupportedTransferCoding;

#[test]
fn a_length_body_leaves_the_next_request() {
    let input = [&b"Hello, world"[..], NEXT].concat();
    let outcome = decode_every_split(BodyFraming::Length(12), BodyLimits::default(), &input);
    assert_eq!(outcome, Outcome { body: b"Hello, world".to_vec(), end: Ok(12) });
}

#[test]
fn empty_and_zero_length_bodies_end_at_once() {
    for framing in [BodyFraming::Empty, BodyFraming::Length(0)] {
        assert_eq!(
            decode_every_split(framing, BodyLimits::default(), NEXT),
            Outcome { body: vec![], end: Ok(0) }
        );
    }
    let mut decoder = BodyDecoder::new(BodyFraming::Empty, BodyLimits::default());
    assert_eq!(decoder.decode(&mut BytesMut::new()), Ok(Decoded::End));
}

#[test]
fn a_length_body_cut_short_needs_more() {
    let outcome = decode_every_split(BodyFraming::Length(10), BodyLimits::default(), b"short");
    assert_eq!(outcome, Outcome { body: b"short".to_vec(), end: Err(BodyError::Incomplete) });
}

#[test]
fn a_chunked_body_leaves_the_next_request() {
    let body = b"5\r\nHello\r\n7\r\n, world\r\n0\r\n\r\n";
    let input = [&body[..], NEXT].concat();
    assert_eq!(chunked(&input), Outcome { body: b"Hello, world".to_vec(), end: Ok(body.len()) });
}

#[test]
fn chunk_extensions_and_trailers_are_checked_and_dropped() {
    let body = "00000000000000a;name;n=v ; q = \"quoted \\\" \\\\ string\"\t;x=\"\"\r\n0123456789\r\n\
                A;last-1=\"é\"\r\nABCDEFGHIJ\r\n\
                000;end\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Checksum:\tabc \r\nEmpty:\r\n\r\n";
    let input = [body.as_bytes(), NEXT].concat();
    assert_eq!(chunked(&input), Outcome { body: b"0123456789ABCDEFGHIJ".to_vec(), end: Ok(body.len()) });
}

#[test]
fn hex_sizes_in_either_case() {
    let data = [7u8; 0x1af];
    for size in ["1af", "1AF", "01aF"] {
        let input = [format!("{size}\r\n").as_bytes(), &data, b"\r\n0\r\n\r\n"].concat();
        let outcome = decode_pieces(BodyFraming::Chunked, BodyLimits::default(), &input, &[]);
        assert_eq!(outcome, Outcome { body: data.to_vec(), end: Ok(input.len()) });
    }
}

#[test]
fn malformed_chunked_bodies_are_refused_whatever_the_splits() {
    let cases: &[(&str, &str)] = &[
        ("\r\n", "chunk size is not a hexadecimal number"),
        ("x\r\n", "chunk size is not a hexadecimal number"),
        ("-5\r\nhello\r\n0\r\n\r\n", "chunk size is not a hexadecimal number"),
        ("+5\r\nhello\r\n0\r\n\r\n", "chunk size is not a hexadecimal number"),
        (" 5\r\nhello\r\n0\r\n\r\n", "chunk size is not a hexadecimal number"),
        ("0x5\r\nhello\r\n0\r\n\r\n", "invalid characters after chunk size"),
        ("5 \r\nhello\r\n0\r\n\r\n", "invalid characters after chunk size"),
        ("5\t\r\nhello\r\n0\r\n\r\n", "invalid characters after chunk size"),
        ("5 5\r\nhello\r\n0\r\n\r\n", "invalid characters after chunk size"),
        ("5\r\r\nhello\r\n0\r\n\r\n", "invalid characters after chunk size"),
        ("5;a=b \r\nhello\r\n0\r\n\r\n", "invalid characters after chunk size"),
        ("5;a b\r\nhello\r\n0\r\n\r\n", "invalid characters after chunk size"),
        ("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", "invalid characters after chunk size"),
        ("5;\r\nhello\r\n0\r\n\r\n", "chunk extension without a name"),
        ("5;=b\r\nhello\r\n0\r\n\r\n", "chunk extension without a name"),
        ("5;a=\r\nhello\r\n0\r\n\r\n", "chunk extension without a value after ="),
        ("5;a=\"b\r\nhello\r\n0\r\n\r\n", "invalid quoted string in chunk extension"),
        ("5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n", "invalid quoted string in chunk extension"),
        ("5;a=\"b\\\"\r\nhello\r\n0\r\n\r\n", "invalid quoted string in chunk extension"),
        ("10000000000000000\r\n", "chunk size has more than 16 hex digits"),
        ("00000000000000005\r\nhello\r\n0\r\n\r\n", "chunk size has more than 16 hex digits"),
        ("5\nhello\r\n0\r\n\r\n", "chunk-size line ends with a bare LF"),
        ("5;a=b\nhello\r\n0\r\n\r\n", "chunk-size line ends with a bare LF"),
        ("5\r\nhello\n0\r\n\r\n", "chunk data not followed by CRLF"),
        ("5\r\nhello!\r\n0\r\n\r\n", "chunk data not followed by CRLF"),
        ("5\r\nhell\r\n0\r\n\r\n", "chunk data not followed by CRLF"),
        ("5\r\nhello\r\r\n0\r\n\r\n", "chunk data not followed by CRLF"),
        ("5\r\nhello\r\n0\r\n\n", "trailer line ends with a bare LF"),
        ("0\r\nA: b\n\r\n", "trailer line ends with a bare LF"),
        ("0\r\nno colon\r\n\r\n", "trailer field is not name: value"),
        ("0\r\n: empty name\r\n\r\n", "trailer field is not name: value"),
        ("0\r\nName : space\r\n\r\n", "trailer field is not name: value"),
        ("0\r\n folded: line\r\n\r\n", "trailer field is not name: value"),
        ("0\r\nA: b\rc\r\n\r\n", "control character in trailer field"),
        ("0\r\nA: b\x00\r\n\r\n", "control character in trailer field"),
    ];
    for (input, reason) in cases {
        let outcome = chunked(input.as_bytes());
        assert_eq!(outcome.end, Err(BodyError::Chunk(reason)), "{input:?}");
        assert_eq!(BodyError::Chunk(reason).status(), StatusCode::BAD_REQUEST);
    }
}

#[test]
fn a_chunk_size_that_overflows_u64_is_refused() {
    // 16 digits fit; anything longer is refused before it is evaluated.
    let input = b"ffffffffffffffff\r\n";
    let limits = BodyLimits { max_body_bytes: u64::MAX, ..BodyLimits::default() };
    let outcome = decode_every_split(BodyFraming::Chunked, limits, input);
    assert_eq!(outcome.end, Err(BodyError::Incomplete));
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"1ffffffffffffffff\r\n");
    assert_eq!(outcome.end, Err(BodyError::Chunk("chunk size has more than 16 hex digits")));
}

#[test]
fn too_large_bodies_are_refused_before_their_data() {
    let limits = BodyLimits { max_body_bytes: 10, ..BodyLimits::default() };
    // Content-Length past the limit: 413 on the first call, with nothing read.
    let mut decoder = BodyDecoder::new(BodyFraming::Length(11), limits);
    assert_eq!(decoder.declared_length(), Some(11));
    let mut buf = BytesMut::from(&b"0123456789a"[..]);
    assert_eq!(decoder.decode(&mut buf), Err(BodyError::TooLarge { max: 10 }));
    assert_eq!((buf.len(), decoder.received()), (11, 0));
    assert_eq!(BodyError::TooLarge { max: 10 }.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly at the limit is fine.
    let outcome = decode_every_split(BodyFraming::Length(10), limits, b"0123456789");
    assert_eq!(outcome.end, Ok(10));
    // A chunk size that would pass the limit: refused as soon as its line is complete.
    let input = b"6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n";
    let outcome = decode_every_split(BodyFraming::Chunked, limits, input);
    assert_eq!(outcome, Outcome { body: b"abcdef".to_vec(), end: Err(BodyError::TooLarge { max: 10 }) });
    let outcome = decode_pieces(BodyFraming::Chunked, limits, &input[..14], &[]);
    assert_eq!(outcome.end, Err(BodyError::TooLarge { max: 10 }));
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"ffffffffffffffff\r\n");
    assert_eq!(outcome, Outcome { body: vec![], end: Err(BodyError::TooLarge { max: 10 }) });
    let input = b"6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n";
    assert_eq!(decode_every_split(BodyFraming::Chunked, limits, input).end, Ok(input.len()));
}

#[test]
fn a_chunk_line_past_its_limit_is_refused_without_its_end() {
    let limits = BodyLimits { max_chunk_line: 8, ..BodyLimits::default() };
    // Eight bytes before the CRLF are allowed.
    let input = b"5;abc=de\r\nhello\r\n0\r\n\r\n";
    assert_eq!(decode_every_split(BodyFraming::Chunked, limits, input).end, Ok(input.len()));
    let too_long = Err(BodyError::Chunk("chunk-size line too long"));
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"5;abc=def\r\nhello\r\n0\r\n\r\n");
    assert_eq!(outcome.end, too_long);
    // A line that never ends is refused once it cannot fit any more, not when it ends.
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"5;abcdefgh");
    assert_eq!(outcome.end, too_long);
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"5;abcdef\r");
    assert_eq!(outcome.end, Err(BodyError::Incomplete));
}

#[test]
fn the_extensions_of_a_whole_body_share_the_line_limit() {
    let limits = BodyLimits { max_chunk_line: 8, ..BodyLimits::default() };
    // ";a=b" is 4 bytes of extensions: twice fits, three times does not.
    let input = b"1;a=b\r\nx\r\n1;a=b\r\ny\r\n0\r\n\r\n";
    assert_eq!(decode_every_split(BodyFraming::Chunked, limits, input).end, Ok(input.len()));
    let input = b"1;a=b\r\nx\r\n1;a=b\r\ny\r\n0;a=b\r\n\r\n";
    let outcome = decode_every_split(BodyFraming::Chunked, limits, input);
    assert_eq!(
        outcome,
        Outcome { body: b"xy".to_vec(), end: Err(BodyError::Chunk("chunk extensions too long")) }
    );
}

#[test]
fn trailers_past_their_limit_answer_431() {
    let limits = BodyLimits { max_trailer_bytes: 12, ..BodyLimits::default() };
    // "A: 1\r\n" twice is 12 bytes; the blank line is not counted.
    let input = b"0\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_eq!(decode_every_split(BodyFraming::Chunked, limits, input).end, Ok(input.len()));
    let too_large = Err(BodyError::TrailersTooLarge { max: 12 });
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"0\r\nA: 1\r\nB: 23\r\n\r\n");
    assert_eq!(outcome.end, too_large);
    // Refused as soon as the line cannot end within the limit ("B: 234" needs at least its LF).
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"0\r\nA: 1\r\nB: 234");
    assert_eq!(outcome.end, too_large);
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"0\r\nA: 1\r\nB: 23");
    assert_eq!(outcome.end, Err(BodyError::Incomplete));
    let outcome = decode_every_split(BodyFraming::Chunked, limits, b"0\r\nA: 1\r\nB: 2\r\n\r");
    assert_eq!(outcome.end, Err(BodyError::Incomplete));
    assert_eq!(BodyError::TrailersTooLarge { max: 12 }.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let limits = BodyLimits { max_trailer_bytes: 0, ..BodyLimits::default() };
    assert_eq!(decode_every_split(BodyFraming::Chunked, limits, b"0\r\n\r\n").end, Ok(5));
}

#[test]
fn accessors_and_io_errors() {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, BodyLimits::default());
    assert_eq!((decoder.declared_length(), decoder.received(), decoder.is_done()), (None, 0, false));
    let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::Data("abc".into())));
    assert_eq!(decoder.received(), 3);
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::End));
    assert!(decoder.is_done() && buf.is_empty());
    assert_eq!(BodyError::Incomplete.status(), StatusCode::BAD_REQUEST);
    assert_eq!(BodyError::Timeout.status(), StatusCode::REQUEST_TIMEOUT);
}

/// `body` chunked at `sizes` (cycled; 0 means "the rest"), each chunk with the extension the
/// size's parity picks, then `trailers`.
fn encode_chunked(body: &[u8], sizes: &[usize], exts: &[String], trailers: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let size = match sizes[i % sizes.len()] {
            0 => rest.len(),
            n => n.min(rest.len()),
        };
        let (chunk, tail) = rest.split_at(size);
        let hex = if i % 3 == 0 { format!("{size:X}") } else { format!("{size:03x}") };
        out.extend_from_slice(format!("{hex}{}\r\n", exts[i % exts.len()]).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
        i += 1;
    }
    out.extend_from_slice(format!("0{}\r\n", exts[i % exts.len()]).as_bytes());
    for trailer in trailers {
        out.extend_from_slice(format!("{trailer}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn extension() -> impl Strategy<Value = String> {
    let token = "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,8}";
    let quoted = "\"([ !#-\\[\\]-~\t]|\\\\[ -~])*\"";
    let value = prop_oneof![
        Just(String::new()),
        token.prop_map(|t| format!("={t}")),
        quoted.prop_map(|q| format!(" = {q}"))
    ];
    prop::collection::vec(("[ \t]{0,2}", token, value), 0..3)
        .prop_map(|exts| exts.iter().map(|(bws, name, value)| [bws, ";", name, value].concat()).collect())
}

proptest! {
    #[test]
    fn random_chunked_bodies_decode_to_what_was_sent(
        body in prop::collection::vec(any::<u8>(), 0..600),
        sizes in prop::collection::vec(0usize..80, 1..6),
        exts in prop::collection::vec(extension(), 1..4),
        trailers in prop::collection::vec("[a-zA-Z-]{1,10}:[ \t]?[ -~]{0,20}", 0..3),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let wire = encode_chunked(&body, &sizes, &exts, &trailers);
        let input = [&wire[..], NEXT].concat();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        // One-byte chunks with long extensions may pass the default budget for extensions.
        let limits = BodyLimits { max_chunk_line: 1 << 20, ..BodyLimits::default() };
        let outcome = decode_pieces(BodyFraming::Chunked, limits, &input, &cuts);
        prop_assert_eq!(outcome, Outcome { body, end: Ok(wire.len()) });
    }

    #[test]
    fn random_length_bodies_decode_to_what_was_sent(
        body in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let input = [&body[..], NEXT].concat();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let framing = BodyFraming::Length(body.len() as u64);
        let outcome = decode_pieces(framing, BodyLimits::default(), &input, &cuts);
        prop_assert_eq!(outcome, Outcome { end: Ok(body.len()), body });
    }
}

#[test]
fn response_heads_carry_the_framing_they_are_given() {
    let mut fields = headers(&[("content-type", "text/plain"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]);
    fields.append(CONTENT_LENGTH, HeaderValue::from_static("999"));
    fields.append(TRANSFER_ENCODING, HeaderValue::from_static("gzip"));
    let encode = |status: u16, framing| {
        let mut out = b"kept".to_vec();
        encode_response_head(StatusCode::from_u16(status).unwrap(), &fields, framing, &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        encode(200, ResponseFraming::Length(12)),
        "keptHTTP/1.1 200 OK\r\nContent-Length: 12\r\ncontent-type: text/plain\r\n\
         set-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"
    );
    assert_eq!(
        encode(404, ResponseFraming::Chunked),
        "keptHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\ncontent-type: text/plain\r\n\
         set-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"
    );
    assert_eq!(
        encode(599, ResponseFraming::None),
        "keptHTTP/1.1 599 \r\ncontent-type: text/plain\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"
    );
    let mut out = Vec::new();
    encode_response_head(StatusCode::NO_CONTENT, &HeaderMap::new(), ResponseFraming::None, &mut out);
    assert_eq!(out, b"HTTP/1.1 204 No Content\r\n\r\n");
}

#[test]
fn chunk_prefixes_are_lowercase_hex_without_leading_zeros() {
    for (len, wire) in [
        (0, "0\r\n"),
        (1, "1\r\n"),
        (15, "f\r\n"),
        (16, "10\r\n"),
        (255, "ff\r\n"),
        (4096, "1000\r\n"),
        (0xdead_beef, "deadbeef\r\n"),
    ] {
        assert_eq!(chunk_prefix(len).as_slice(), wire.as_bytes(), "{len}");
    }
    let max = format!("{:x}\r\n", usize::MAX);
    assert_eq!(chunk_prefix(usize::MAX).as_ref(), max.as_bytes());
    assert_eq!(format!("{:?}", chunk_prefix(26)), "ChunkPrefix(\"1a\\r\\n\")");
    // What the writer produces, the decoder reads back.
    let mut wire = Vec::new();
    for piece in [&b"Hello"[..], &[b'x'; 300], b"!"] {
        wire.extend_from_slice(chunk_prefix(piece.len()).as_slice());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(CRLF);
    }
    wire.extend_from_slice(LAST_CHUNK);
    let outcome = decode_pieces(BodyFraming::Chunked, BodyLimits::default(), &wire, &[]);
    assert_eq!(outcome.body.len(), 306);
    assert_eq!(outcome.end, Ok(wire.len()));
}

//! The table of hostile inputs: each case says whether windlass and hyper agree, or which
//! deliberate difference (listed in the module docs of `http_differential.rs`) separates them.

use super::{Relation, compare};

/// A deliberate difference, as listed in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    ContentLengthWithChunked,
    RepeatedContentLength,
    OtherCodingThenChunked,
    ChunkedTwiceOrEmptyElement,
    LongChunkSize,
    WhitespaceAfterChunkSize,
    ExtensionGrammar,
    ExtensionLimit,
    TrailerBytes,
    TrailerCount,
    /// Not a deliberate difference: the test fails.
    Undocumented,
}

/// What the table expects of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Both deliver the same requests and read everything.
    BothAccept,
    /// Both deliver the same requests (often none), then refuse.
    BothRefuse,
    WeRefuse(Difference),
    WeAccept(Difference),
}

const POST: &str = "POST /p HTTP/1.1\r\nHost: a\r\n";
const NEXT: &str = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

fn request(fields: &str, body: &str) -> Vec<u8> {
    format!("{POST}{fields}\r\n{body}{NEXT}").into_bytes()
}

fn chunked(body: &str) -> Vec<u8> {
    request("Transfer-Encoding: chunked\r\n", body)
}

type Case = (&'static str, Vec<u8>, Expect);

fn hostile_cases() -> Vec<Case> {
    [framing_cases(), chunk_cases(), extension_and_trailer_cases()].concat()
}

/// Framing headers, and the baselines both accept.
fn framing_cases() -> Vec<Case> {
    use Difference::*;
    use Expect::*;
    vec![
        // Baselines: both accept.
        ("valid content-length", request("Content-Length: 5\r\n", "hello"), BothAccept),
        ("valid chunked", chunked("5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n"), BothAccept),
        ("leading zeros in content-length", request("Content-Length: 005\r\n", "hello"), BothAccept),
        // Framing headers.
        (
            "cl + te",
            request("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
            WeRefuse(ContentLengthWithChunked),
        ),
        (
            "te + cl",
            request("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n"),
            WeRefuse(ContentLengthWithChunked),
        ),
        ("cl + te gzip", request("Content-Length: 3\r\nTransfer-Encoding: gzip\r\n", "abc"), BothRefuse),
        (
            "repeated equal cl",
            request("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            WeRefuse(RepeatedContentLength),
        ),
        (
            "repeated different cl",
            request("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            BothRefuse,
        ),
        ("cl list", request("Content-Length: 5, 5\r\n", "hello"), BothRefuse),
        ("cl plus sign", request("Content-Length: +5\r\n", "hello"), BothRefuse),
        ("cl negative", request("Content-Length: -5\r\n", "hello"), BothRefuse),
        ("cl hex", request("Content-Length: 0x5\r\n", "hello"), BothRefuse),
        ("cl inner space", request("Content-Length: 5 5\r\n", "hello"), BothRefuse),
        ("cl empty", request("Content-Length: \r\n", ""), BothRefuse),
        ("cl overflow", request("Content-Length: 18446744073709551616\r\n", ""), BothRefuse),
        ("te gzip", request("Transfer-Encoding: gzip\r\n", "abc"), BothRefuse),
        ("te identity", request("Transfer-Encoding: identity\r\n", "abc"), BothRefuse),
        ("te chunked, gzip", request("Transfer-Encoding: chunked, gzip\r\n", "abc"), BothRefuse),
        (
            "te gzip, chunked",
            request("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            WeRefuse(OtherCodingThenChunked),
        ),
        (
            "te chunked, chunked",
            request("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
            WeRefuse(ChunkedTwiceOrEmptyElement),
        ),
        (
            "te chunked on two lines",
            request("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
            WeRefuse(ChunkedTwiceOrEmptyElement),
        ),
        (
            "te empty element",
            request("Transfer-Encoding: , chunked\r\n", "0\r\n\r\n"),
            WeRefuse(ChunkedTwiceOrEmptyElement),
        ),
        (
            "te chunked then gzip line",
            request("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", "0\r\n\r\n"),
            BothRefuse,
        ),
        ("te chunked uppercase", request("Transfer-Encoding: CHUNKED\r\n", "0\r\n\r\n"), BothAccept),
        (
            "te chunked with a parameter",
            request("Transfer-Encoding: chunked;q=1\r\n", "0\r\n\r\n"),
            BothRefuse,
        ),
        ("te trailing comma", request("Transfer-Encoding: chunked,\r\n", "0\r\n\r\n"), BothRefuse),
        ("http/1.0", b"GET / HTTP/1.0\r\nHost: a\r\n\r\n".to_vec(), BothAccept),
        (
            "http/1.0 with te",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            BothRefuse,
        ),
    ]
}

/// Chunk sizes and the CRLFs around chunk data.
fn chunk_cases() -> Vec<Case> {
    use Difference::*;
    use Expect::*;
    vec![
        // Chunk sizes.
        ("chunk size 0x", chunked("0x5\r\nhello\r\n0\r\n\r\n"), BothRefuse),
        ("chunk size sign", chunked("+5\r\nhello\r\n0\r\n\r\n"), BothRefuse),
        ("chunk size leading space", chunked(" 5\r\nhello\r\n0\r\n\r\n"), BothRefuse),
        ("chunk size not hex", chunked("g\r\nhello\r\n0\r\n\r\n"), BothRefuse),
        ("chunk size missing", chunked("\r\nhello\r\n0\r\n\r\n"), BothRefuse),
        ("chunk size overflow", chunked("1ffffffffffffffff\r\nx\r\n0\r\n\r\n"), BothRefuse),
        ("chunk size 17 digits", chunked("00000000000000005\r\nhello\r\n0\r\n\r\n"), WeRefuse(LongChunkSize)),
        (
            "chunk size upper and lower case hex",
            chunked(&format!("aA\r\n{}\r\n0\r\n\r\n", "x".repeat(0xaa))),
            BothAccept,
        ),
        ("chunk size 16 digits", chunked("0000000000000005\r\nhello\r\n0\r\n\r\n"), BothAccept),
        (
            "chunk size trailing space",
            chunked("5 \r\nhello\r\n0\r\n\r\n"),
            WeRefuse(WhitespaceAfterChunkSize),
        ),
        ("chunk size space before ext", chunked("5 ;a\r\nhello\r\n0\r\n\r\n"), BothAccept),
        ("chunk size space digit", chunked("5 5\r\nhello\r\n0\r\n\r\n"), BothRefuse),
        ("bare lf after chunk size", chunked("5\nhello\r\n0\r\n\r\n"), BothRefuse),
        ("bare cr after chunk size", chunked("5\rhello\r\n0\r\n\r\n"), BothRefuse),
        ("bare lf after chunk data", chunked("5\r\nhello\n0\r\n\r\n"), BothRefuse),
        ("chunk data too long", chunked("5\r\nhello!\r\n0\r\n\r\n"), BothRefuse),
        ("chunk data runs into the next request", chunked("5\r\nhel"), BothRefuse),
        (
            "chunked body cut short",
            format!("{POST}Transfer-Encoding: chunked\r\n\r\n5\r\nhel").into_bytes(),
            BothRefuse,
        ),
        ("length body cut short", format!("{POST}Content-Length: 10\r\n\r\nshort").into_bytes(), BothRefuse),
        ("missing last chunk", chunked("5\r\nhello\r\n"), BothRefuse),
        ("bare lf after last chunk", chunked("5\r\nhello\r\n0\n\r\n"), BothRefuse),
    ]
}

/// Chunk extensions, trailers, and requests hidden in bodies.
fn extension_and_trailer_cases() -> Vec<Case> {
    use Difference::*;
    use Expect::*;
    vec![
        // Extensions.
        ("ext empty", chunked("5;\r\nhello\r\n0\r\n\r\n"), WeRefuse(ExtensionGrammar)),
        ("ext no name", chunked("5;=x\r\nhello\r\n0\r\n\r\n"), WeRefuse(ExtensionGrammar)),
        ("ext space in name", chunked("5;a b\r\nhello\r\n0\r\n\r\n"), WeRefuse(ExtensionGrammar)),
        ("ext control byte", chunked("5;a\x01\r\nhello\r\n0\r\n\r\n"), WeRefuse(ExtensionGrammar)),
        ("ext unterminated quote", chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n"), WeRefuse(ExtensionGrammar)),
        ("ext trailing space", chunked("5;a=b \r\nhello\r\n0\r\n\r\n"), WeRefuse(WhitespaceAfterChunkSize)),
        ("ext bare lf", chunked("5;a=b\nhello\r\n0\r\n\r\n"), BothRefuse),
        ("ext quoted", chunked("5;a=\"b;c\\\"d\"\r\nhello\r\n0\r\n\r\n"), BothAccept),
        (
            "ext 5000 bytes",
            chunked(&format!("5;a={}\r\nhello\r\n0\r\n\r\n", "x".repeat(5000))),
            WeRefuse(ExtensionLimit),
        ),
        (
            "ext 5000 bytes over 100 chunks",
            chunked(&format!(
                "{}0\r\n\r\n",
                "1;abcdefghijklmnopqrstuvwxyz=\"0123456789abcdef\"\r\nx\r\n".repeat(100)
            )),
            WeRefuse(ExtensionLimit),
        ),
        (
            "ext 20000 bytes over 400 chunks",
            chunked(&format!(
                "{}0\r\n\r\n",
                "1;abcdefghijklmnopqrstuvwxyz=\"0123456789abcdef\"\r\nx\r\n".repeat(400)
            )),
            BothRefuse,
        ),
        (
            "ext 20000 bytes",
            chunked(&format!("5;a={}\r\nhello\r\n0\r\n\r\n", "x".repeat(20_000))),
            BothRefuse,
        ),
        // Trailers.
        ("trailer no colon", chunked("0\r\nX\r\n\r\n"), BothRefuse),
        ("trailer space before colon", chunked("0\r\nX : y\r\n\r\n"), BothRefuse),
        ("trailer folded", chunked("0\r\nX: y\r\n z\r\n\r\n"), BothRefuse),
        ("trailer bare lf", chunked("0\r\nX: y\nZ: w\r\n\r\n"), BothRefuse),
        ("trailer control byte", chunked("0\r\nX: y\x01\r\n\r\n"), BothRefuse),
        (
            "trailer 10000 bytes",
            chunked(&format!("0\r\nX: {}\r\n\r\n", "y".repeat(10_000))),
            WeRefuse(TrailerBytes),
        ),
        ("trailer 20000 bytes", chunked(&format!("0\r\nX: {}\r\n\r\n", "y".repeat(20_000))), BothRefuse),
        ("101 trailers", chunked(&format!("0\r\n{}\r\n", "X: y\r\n".repeat(101))), WeAccept(TrailerCount)),
        ("trailer empty value", chunked("0\r\nX:\r\n\r\n"), BothAccept),
        ("trailer obs-text", chunked("0\r\nX: café\r\n\r\n"), BothAccept),
        ("trailer content-length", chunked("0\r\nContent-Length: 5\r\n\r\n"), BothAccept),
        // Smuggling a second request through a body.
        (
            "cl.te smuggle",
            request(
                "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\nGPOST / HTTP/1.1\r\n\r\n",
            ),
            WeRefuse(ContentLengthWithChunked),
        ),
        (
            "chunk boundary smuggle",
            chunked("2\r\nab\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"),
            BothAccept,
        ),
    ]
}

#[test]
fn hostile_inputs_differ_only_where_documented() {
    let mut failures = Vec::new();
    for (name, input, expect) in hostile_cases() {
        let (relation, ours, hyper) = compare(&input);
        let observed = match relation {
            Relation::Agree if ours.end.is_ok() => Expect::BothAccept,
            Relation::Agree => Expect::BothRefuse,
            Relation::WeRefuse => match expect {
                Expect::WeRefuse(difference) => Expect::WeRefuse(difference),
                _ => Expect::WeRefuse(Difference::Undocumented),
            },
            Relation::WeAccept => match expect {
                Expect::WeAccept(difference) => Expect::WeAccept(difference),
                _ => Expect::WeAccept(Difference::Undocumented),
            },
            Relation::Disagree => Expect::WeAccept(Difference::Undocumented),
        };
        if observed != expect {
            failures.push(format!(
                "{name}: {relation:?}, expected {expect:?}\n  ours {ours:?}\n  hyper {hyper:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

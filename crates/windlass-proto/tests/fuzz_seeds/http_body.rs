//! Seeds for `http_body`: valid bodies, smuggling shapes, malformed chunking, limits.

use super::{Recipes, seed};

/// `http_body`: cut byte, limits byte (low nibble `max_body_bytes` index, high nibble
/// `max_chunk_line` and `max_trailer_bytes` index; 0 is the default), then pipelined requests.
pub(crate) fn recipes(r: &mut Recipes) {
    const NEXT: &str = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    let t = "http_body";
    let post =
        |fields: &str, body: &str| format!("POST /upload HTTP/1.1\r\nHost: a\r\n{fields}\r\n{body}{NEXT}");
    let chunked = |body: &str| post("Transfer-Encoding: chunked\r\n", body);
    r.insert((t, "content-length"), seed(&[0x60, 0x00], post("Content-Length: 12\r\n", "Hello, world")));
    r.insert(
        (t, "chunked-extensions-trailers"),
        seed(
            &[0x90, 0x00],
            chunked(
                "5;name=value ; q=\"a \\\"quoted\\\" one\"\r\nHello\r\n7;flag\r\n, world\r\n\
                 0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Checksum: abc\r\n\r\n",
            ),
        ),
    );
    r.insert(
        (t, "pipelined-mixed"),
        seed(
            &[0x30, 0x00],
            [
                post("Content-Length: 3\r\n", "abc"),
                chunked("3\r\ndef\r\n0\r\n\r\n"),
                "PUT /empty HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n".to_owned(),
            ]
            .concat(),
        ),
    );
    // Smuggling shapes: each must be refused before its body is read.
    r.insert(
        (t, "cl-te"),
        seed(&[0x80, 0x00], post("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nX")),
    );
    r.insert(
        (t, "te-cl"),
        seed(
            &[0x80, 0x00],
            post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "8\r\nSMUGGLED\r\n0\r\n\r\n"),
        ),
    );
    r.insert(
        (t, "repeated-content-length"),
        seed(&[0x80, 0x00], post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello")),
    );
    r.insert((t, "content-length-list"), seed(&[0x80, 0x00], post("Content-Length: 5, 5\r\n", "hello")));
    r.insert((t, "content-length-plus"), seed(&[0x80, 0x00], post("Content-Length: +5\r\n", "hello")));
    r.insert(
        (t, "te-gzip-chunked"),
        seed(&[0x80, 0x00], post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n")),
    );
    r.insert(
        (t, "te-chunked-twice"),
        seed(
            &[0x80, 0x00],
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
        ),
    );
    r.insert(
        (t, "te-chunked-not-last"),
        seed(&[0x80, 0x00], post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n")),
    );
    // Chunk framing.
    r.insert((t, "bare-lf-chunk-line"), seed(&[0x80, 0x00], chunked("5\nhello\r\n0\r\n\r\n")));
    r.insert((t, "bare-lf-after-data"), seed(&[0x80, 0x00], chunked("5\r\nhello\n0\r\n\r\n")));
    r.insert((t, "chunk-size-overflow"), seed(&[0x80, 0x0f], chunked("1ffffffffffffffff\r\nx\r\n0\r\n\r\n")));
    r.insert(
        (t, "chunk-size-leading-zeros"),
        seed(&[0x80, 0x00], chunked("000000000000000005\r\nhello\r\n0\r\n\r\n")),
    );
    r.insert((t, "chunk-size-0x"), seed(&[0x80, 0x00], chunked("0x5\r\nhello\r\n0\r\n\r\n")));
    // Limits: a 10-byte body limit (index 5); chunk line 8 and trailers 16 bytes (index 7).
    r.insert(
        (t, "chunked-too-large"),
        seed(&[0x80, 0x05], chunked("6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n")),
    );
    r.insert(
        (t, "content-length-too-large"),
        seed(&[0x80, 0x05], post("Content-Length: 11\r\n", "hello world")),
    );
    r.insert((t, "chunk-line-too-long"), seed(&[0x80, 0x70], chunked("5;abcdefgh\r\nhello\r\n0\r\n\r\n")));
    r.insert((t, "trailers-too-large"), seed(&[0x80, 0x70], chunked("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")));
    r.insert(
        (t, "body-cut-short"),
        seed(&[0x80, 0x00], "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"),
    );
}

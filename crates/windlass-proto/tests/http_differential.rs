//! Request heads and bodies read by windlass ([`parse_request_head`], [`request_framing`],
//! [`BodyDecoder`]) and by hyper 1's HTTP/1.1 server agree: on random well-formed requests,
//! pipelined or not, with `Content-Length` or chunked bodies (random chunking, extensions and
//! trailers), both see the same methods, targets, fields and bodies; on a table of hostile
//! inputs, both refuse, or they differ only where windlass means to.
//!
//! hyper runs as a server over `tokio::io::duplex`; its service collects each body and records
//! what it saw. A side "accepts" the requests it delivers whole; it "refuses" when it stops on
//! an error or with bytes it could not read as a request (a body cut short included).
//!
//! # Deliberate differences
//!
//! windlass refuses, hyper accepts:
//! - **`Content-Length` with `Transfer-Encoding: chunked`**: hyper drops `Content-Length`, reads
//!   the body as chunked and closes the connection after answering; windlass answers 400
//!   without reading the body (RFC 9112 §6.1 allows either; this is the classic smuggling
//!   shape, and a proxy in front may have framed it by `Content-Length`).
//! - **`Content-Length` repeated with equal values** (two lines): hyper takes the value;
//!   windlass answers 400. Both refuse a list on one line (`5, 5`) and unequal values.
//! - **`Transfer-Encoding` whose last coding is chunked but not the only one** (`gzip,
//!   chunked`): hyper de-chunks and hands over a still-gzipped body; windlass answers 501, as
//!   it implements no other coding.
//! - **`chunked` twice** (`chunked, chunked`, or two lines) and **empty list elements**
//!   (`, chunked`): hyper only looks at the last element of each line; windlass answers 400.
//! - **Chunk sizes with more than 16 hex digits** (leading zeros): hyper accepts any number of
//!   digits that does not overflow; windlass refuses past 16, the most a `u64` needs.
//! - **Whitespace after a chunk size or extension without a following `;`** (`5 \r\n`): hyper
//!   skips it; RFC 9112 §7.1.1 allows BWS only before `;` and around `=`, and windlass keeps to
//!   the grammar.
//! - **Chunk extensions outside the grammar** (`5;\r\n`, `5;=x\r\n`, `5;a b\r\n`, control or
//!   non-token bytes): hyper skips anything up to the CR; windlass checks `token` /
//!   `quoted-string`.
//! - **Chunk extensions past `max_chunk_line`** (4096 bytes by default) in one line or in the
//!   whole body: hyper allows 16 KiB of extension bytes per body; windlass bounds each line and
//!   the body's extensions together by the same 4 KiB (both refuse past 16 KiB).
//! - **Trailers past `max_trailer_bytes`** (8 KiB by default; hyper allows 16 KiB).
//!
//! windlass accepts, hyper refuses:
//! - **More than 100 trailer fields** within the byte limit: hyper caps their number at its
//!   header limit; windlass only counts bytes, as it discards them.
//!
//! Both refuse, with different statuses: a coding other than chunked (hyper 400, windlass
//! 501), `Transfer-Encoding` on HTTP/1.0 (both 400). Both refuse a bare LF
//! anywhere in chunked framing, trailers included.
//!
//! Random damage to well-formed requests (bytes replaced, inserted, removed) may make windlass
//! refuse what hyper reads, for the reasons above; it must never make windlass read a request
//! hyper refuses, nor read one differently.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use windlass_proto::body::request_framing;
use windlass_proto::head::{HeadLimits, parse_request_head};
use windlass_proto::{BodyDecoder, BodyLimits, Decoded};

// The table of hostile inputs and the deliberate differences it checks.
#[path = "http_differential/hostile.rs"]
mod hostile;

/// One request delivered whole.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// What one side made of the input.
#[derive(Debug)]
struct Run {
    requests: Vec<Seen>,
    /// `Ok` if every byte was read as a request; otherwise why not.
    end: Result<(), String>,
}

/// How windlass's reading relates to hyper's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Agree,
    /// windlass delivers a prefix of hyper's requests, then refuses where hyper goes on.
    WeRefuse,
    /// hyper delivers a prefix of windlass's requests, then refuses where windlass goes on.
    WeAccept,
    /// Different requests or bodies: never acceptable.
    Disagree,
}

fn relation(ours: &Run, hyper: &Run) -> Relation {
    let (we_end, they_end) = (ours.end.is_ok(), hyper.end.is_ok());
    if ours.requests == hyper.requests && we_end == they_end {
        Relation::Agree
    } else if !we_end
        && hyper.requests.starts_with(&ours.requests)
        && (they_end || hyper.requests.len() > ours.requests.len())
    {
        Relation::WeRefuse
    } else if !they_end
        && ours.requests.starts_with(&hyper.requests)
        && (we_end || ours.requests.len() > hyper.requests.len())
    {
        Relation::WeAccept
    } else {
        Relation::Disagree
    }
}

/// Reads `input` as a windlass server does, with the default limits.
fn ours(input: &[u8]) -> Run {
    let mut buf = BytesMut::from(input);
    let mut requests = Vec::new();
    let refuse = |requests, why: String| Run { requests, end: Err(why) };
    while !buf.is_empty() {
        let (request, head_len) = match parse_request_head(&buf, &HeadLimits::default()) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return refuse(requests, "incomplete head".into()),
            Err(e) => return refuse(requests, format!("{} {e}", e.status())),
        };
        buf.advance(head_len);
        let framing = match request_framing(request.headers()) {
            Ok(framing) => framing,
            Err(e) => return refuse(requests, format!("{} {e}", e.status())),
        };
        let mut decoder = BodyDecoder::new(framing, BodyLimits::default());
        let mut body = BytesMut::new();
        loop {
            match decoder.decode(&mut buf) {
                Ok(Decoded::Data(data)) => body.extend_from_slice(&data),
                Ok(Decoded::End) => break,
                Ok(Decoded::NeedMore) => return refuse(requests, "incomplete body".into()),
                Err(e) => return refuse(requests, format!("{} {e}", e.status())),
            }
        }
        let (parts, ()) = request.into_parts();
        requests.push(Seen {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: body.freeze(),
        });
    }
    Run { requests, end: Ok(()) }
}

/// Reads `input` with hyper's HTTP/1.1 server.
fn hyper(input: &[u8]) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), hyper_serve(input.to_vec()))
            .await
            .expect("hyper did not finish")
    })
}

async fn hyper_serve(input: Vec<u8>) -> Run {
    let (client, server) = tokio::io::duplex(1 << 16);
    let seen: Arc<Mutex<Vec<Result<Seen, String>>>> = Arc::default();
    let record = Arc::clone(&seen);
    let service = service_fn(move |request: Request<Incoming>| {
        let record = Arc::clone(&record);
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.map(http_body_util::Collected::to_bytes);
            let seen = body
                .map(|body| Seen { method: parts.method, uri: parts.uri, headers: parts.headers, body })
                .map_err(|e| format!("body: {e}"));
            record.lock().unwrap().push(seen);
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        }
    });
    // Half-close: the client shuts its side down after the last byte, and hyper must still
    // answer (and read) everything before it.
    let connection = http1::Builder::new().half_close(true).serve_connection(TokioIo::new(server), service);
    let client = async move {
        let (mut reader, mut writer) = tokio::io::split(client);
        let write = async move {
            // hyper may close first, after refusing the request.
            let _ = writer.write_all(&input).await;
            let _ = writer.shutdown().await;
        };
        let read = async move {
            let mut responses = Vec::new();
            let _ = reader.read_to_end(&mut responses).await;
        };
        tokio::join!(write, read);
    };
    let (result, ()) = tokio::join!(connection, client);
    let mut requests = Vec::new();
    let mut end = result.map_err(|e| format!("connection: {e}"));
    for seen in std::mem::take(&mut *seen.lock().unwrap()) {
        match seen {
            Ok(seen) => requests.push(seen),
            Err(e) => {
                end = Err(e);
                break;
            }
        }
    }
    Run { requests, end }
}

fn compare(input: &[u8]) -> (Relation, Run, Run) {
    let (ours, hyper) = (ours(input), hyper(input));
    (relation(&ours, &hyper), ours, hyper)
}

// ---- Random well-formed requests ----

#[derive(Debug, Clone)]
struct Chunking {
    sizes: Vec<usize>,
    /// Digits each size is padded to with zeros (at most 16 in all).
    pad: usize,
    upper: bool,
    extensions: Vec<String>,
    trailers: Vec<String>,
}

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,8}"
}

fn extension() -> impl Strategy<Value = String> {
    let quoted = "\"([ !#-\\[\\]-~\t]|\\\\[!-~]){0,12}\"";
    let value = prop_oneof![
        Just(String::new()),
        token().prop_map(|t| format!("={t}")),
        quoted.prop_map(|q| format!("\t= {q}")),
    ];
    prop::collection::vec(("[ \t]{0,2}", token(), value), 0..3)
        .prop_map(|exts| exts.iter().map(|(bws, name, value)| [bws, ";", name, value].concat()).collect())
}

fn chunking() -> impl Strategy<Value = Chunking> {
    (
        // At least 8 bytes a chunk: the extensions of a 300-byte body stay within the 4 KiB
        // windlass allows a body.
        prop::collection::vec(8usize..64, 1..5),
        0usize..6,
        any::<bool>(),
        prop::collection::vec(extension(), 1..4),
        prop::collection::vec((token(), "[!-~]([ -~]{0,16}[!-~])?"), 0..3),
    )
        .prop_map(|(sizes, pad, upper, extensions, trailers)| Chunking {
            sizes,
            pad,
            upper,
            extensions,
            trailers: trailers.into_iter().map(|(name, value)| format!("{name}: {value}")).collect(),
        })
}

fn encode_chunked(body: &[u8], c: &Chunking) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    let size_line = |size: usize, i: usize| {
        let hex = if c.upper {
            format!("{size:0pad$X}", pad = c.pad)
        } else {
            format!("{size:0pad$x}", pad = c.pad)
        };
        format!("{hex}{}\r\n", c.extensions[i % c.extensions.len()])
    };
    let mut rest = body;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(c.sizes[i % c.sizes.len()].min(rest.len()));
        out.extend_from_slice(size_line(chunk.len(), i).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
        i += 1;
    }
    out.extend_from_slice(size_line(0, i).as_bytes());
    for trailer in &c.trailers {
        out.extend_from_slice(format!("{trailer}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[derive(Debug, Clone)]
struct Spec {
    method: &'static str,
    target: String,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
    /// `None`: `Content-Length`.
    chunking: Option<Chunking>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "FROB"]),
        "/[a-zA-Z0-9._~-]{0,12}(\\?[a-z0-9=&]{0,10})?",
        prop::collection::vec(("x-[a-z0-9-]{1,8}", "[!-~]([ -~]{0,20}[!-~])?"), 0..4),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::option::of(chunking()),
    )
        .prop_map(|(method, target, fields, body, chunking)| Spec {
            method,
            target,
            fields,
            body,
            chunking,
        })
}

fn encode(spec: &Spec) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\nHost: example.com\r\n", spec.method, spec.target).into_bytes();
    for (name, value) in &spec.fields {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    match &spec.chunking {
        None => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", spec.body.len()).as_bytes());
            out.extend_from_slice(&spec.body);
        }
        Some(chunking) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            out.extend_from_slice(&encode_chunked(&spec.body, chunking));
        }
    }
    out
}

/// Bytes that matter to the framing grammar, for mutations.
const SHARP: &[u8] = b"\r\n \t;=\",:0aAfFgx+-\\\x00\x01\x7f\xff";

#[derive(Debug, Clone)]
enum Mutation {
    Replace(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![prop::sample::select(SHARP), any::<u8>()];
    prop_oneof![
        (any::<prop::sample::Index>(), byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<prop::sample::Index>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
    ]
}

fn mutate(input: &mut Vec<u8>, mutation: &Mutation) {
    match mutation {
        Mutation::Replace(i, b) if !input.is_empty() => {
            let i = i.index(input.len());
            input[i] = *b;
        }
        Mutation::Insert(i, b) => input.insert(i.index(input.len() + 1), *b),
        Mutation::Remove(i) if !input.is_empty() => {
            input.remove(i.index(input.len()));
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn well_formed_requests_read_the_same(specs in prop::collection::vec(spec(), 1..=2)) {
        let input: Vec<u8> = specs.iter().flat_map(encode).collect();
        let (relation, ours, hyper) = compare(&input);
        prop_assert_eq!(relation, Relation::Agree, "ours {:?}\nhyper {:?}", ours, hyper);
        prop_assert!(ours.end.is_ok(), "{:?}", ours.end);
        prop_assert_eq!(ours.requests.len(), specs.len());
        for (seen, spec) in ours.requests.iter().zip(&specs) {
            prop_assert_eq!(&seen.body[..], &spec.body[..]);
        }
    }

    /// Damaged requests: windlass may refuse what hyper reads (the table above says where and
    /// why), but it never reads a request hyper refuses, nor a different one.
    #[test]
    fn damaged_requests_are_never_read_differently(
        specs in prop::collection::vec(spec(), 1..=2),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut input: Vec<u8> = specs.iter().flat_map(encode).collect();
        for m in &mutations {
            mutate(&mut input, m);
        }
        let (relation, ours, hyper) = compare(&input);
        prop_assert!(
            matches!(relation, Relation::Agree | Relation::WeRefuse),
            "{:?} on {:?}\nours {:?}\nhyper {:?}", relation, String::from_utf8_lossy(&input), ours, hyper
        );
    }
}

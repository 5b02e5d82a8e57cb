//! Replays every committed fuzz seed through its harness on stable Rust, so the invariants the
//! fuzzers check run on every `cargo test`, and inputs that once crashed stay fixed.
//!
//! Seeds live in `fuzz/seeds/<target>/`. Most are written by the recipes below (real browser
//! requests, RFC 6455 and RFC 7692 sample frames, frames compressed by the `Deflater`); after
//! changing a recipe, rewrite them with
//!
//! ```text
//! cargo test -p windlass-proto --test fuzz_seeds -- --ignored write_seeds
//! ```
//!
//! Files without a recipe are reproducers the fuzzers found; keep them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use windlass_proto::deflate::{DeflateConfig, DeflateParams, Deflater, negotiate};
use windlass_proto::fuzzing;

// Recipes for the `http_body` target.
#[path = "fuzz_seeds/http_body.rs"]
mod http_body;

/// Each target must find at least this many seeds, so a moved directory cannot pass silently.
const MIN_SEEDS: usize = 5;

fn seeds_dir(target: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds")).join(target)
}

/// Runs `harness` on every file in `fuzz/seeds/<target>/`.
fn replay(target: &str, harness: fn(&[u8])) {
    let dir = seeds_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_SEEDS,
        "{} holds {} seeds, expected at least {MIN_SEEDS}",
        dir.display(),
        files.len()
    );
    for path in files {
        let data = std::fs::read(&path).unwrap();
        // Name the seed that failed; the harness's own message says what broke.
        eprintln!("replaying {}", path.display());
        harness(&data);
    }
}

#[test]
fn request_head_seeds() {
    replay("request_head", fuzzing::request_head);
}

#[test]
fn handshake_seeds() {
    replay("handshake", fuzzing::handshake);
}

#[test]
fn http_body_seeds() {
    replay("http_body", fuzzing::http_body);
}

#[test]
fn frame_decoder_seeds() {
    replay("frame_decoder", fuzzing::frame_decoder);
}

#[test]
fn inflate_seeds() {
    replay("inflate", fuzzing::inflate);
}

#[test]
fn deflate_negotiate_seeds() {
    replay("deflate_negotiate", fuzzing::deflate_negotiate);
}

#[test]
fn frame_differential_seeds() {
    replay("frame_differential", fuzzing::frame_differential);
}

#[test]
fn message_differential_seeds() {
    replay("message_differential", fuzzing::message_differential);
}

/// The committed seeds are what their recipes produce.
#[test]
fn seeds_match_their_recipes() {
    for ((target, name), bytes) in recipes() {
        let path = seeds_dir(target).join(name);
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(committed == bytes, "{} differs from its recipe; run write_seeds", path.display());
    }
}

#[test]
#[ignore = "writes fuzz/seeds; run by hand after changing a recipe"]
fn write_seeds() {
    for ((target, name), bytes) in recipes() {
        std::fs::create_dir_all(seeds_dir(target)).unwrap();
        std::fs::write(seeds_dir(target).join(name), bytes).unwrap();
    }
}

/// Regression: with context takeover, compressing an empty message after another one used to
/// spin forever (zlib emits nothing for a second sync flush without input). Found by the
/// `inflate` harness; fixed in `Deflater::compress`. Run in a thread so a regression fails the
/// test instead of hanging it.
#[test]
fn deflater_compresses_an_empty_message_after_another() {
    for level in [1, 6] {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut deflater = Deflater::new(&DeflateParams { level, ..params(false, 15) });
            let first = deflater.compress(b"Hello");
            let _ = tx.send((first, deflater.compress(b"")));
        });
        let (_, empty) =
            rx.recv_timeout(std::time::Duration::from_secs(5)).expect("compress(\"\") did not return");
        assert_eq!(&empty[..], [0x00], "level {level}");
    }
}

/// RFC 7692 §7.1.2.2 lets a server answer `client_max_window_bits` only with "a value equal to
/// or smaller than the received value" (found by the `deflate_negotiate` harness, fixed).
#[test]
fn client_window_is_never_answered_larger_than_offered() {
    let offer = "permessage-deflate; client_max_window_bits=8";
    if let Some(agreement) = negotiate([offer], &DeflateConfig::default()) {
        assert!(
            !agreement.response.contains("client_max_window_bits=9"),
            "{offer} -> {}",
            agreement.response
        );
    }
}

fn params(no_context_takeover: bool, window_bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        server_window_bits: window_bits,
        client_window_bits: window_bits,
        level: 6,
        threshold: 0,
    }
}

// ---- Recipes ----

type Recipes = BTreeMap<(&'static str, &'static str), Vec<u8>>;

/// `prefix` (the harness's configuration bytes) followed by `data`.
fn seed(prefix: &[u8], data: impl AsRef<[u8]>) -> Vec<u8> {
    [prefix, data.as_ref()].concat()
}

const RFC6455_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// What Chrome 131 sends.
const CHROME_REQUEST: &str = "GET /chat?room=lobby HTTP/1.1\r\nHost: localhost:8080\r\nConnection: Upgrade\r\n\
Pragma: no-cache\r\nCache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://localhost:8080\r\n\
Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: 7+G3hf0/V2tsJ0FkB1P6Jg==\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

/// What Firefox 133 sends.
const FIREFOX_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux \
x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\nSec-WebSocket-Version: 13\r\nOrigin: http://localhost:8080\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\
Sec-WebSocket-Key: q4xkcO32u266gldTuKaSOw==\r\nConnection: keep-alive, Upgrade\r\nSec-Fetch-Dest: empty\r\n\
Sec-Fetch-Mode: websocket\r\nSec-Fetch-Site: same-origin\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
Upgrade: websocket\r\n\r\n";

/// A client frame: masked with `key` if given (byte by byte, independently of the crate).
fn frame(first: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            out.push(mask_bit | 0x7e);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 0x7f);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match key {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    frame(first, payload, KEY)
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason].concat()
}

/// RFC 7692 §7.2.3.1: "Hello" compressed.
const DEFLATED_HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// RFC 7692 §7.2.3.2: a second "Hello" compressed with the first as context.
const DEFLATED_HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];
/// RFC 7692 §7.2.3.3: "Hello" in a stored (uncompressed) block.
const STORED_HELLO: [u8; 11] = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
/// RFC 7692 §7.2.3.4: "Hello" in a block with BFINAL set.
const FINAL_HELLO: [u8; 8] = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];

const JSON: &str =
    r#"{"event":"tick","seq":17,"price":101.17,"symbol":"WND","book":[[101.1,20],[101.2,35]]}"#;

/// One message of a `frame_decoder` script: op byte (bits 0-2 kind: text, text, binary, binary,
/// ping, pong, close, empty text; bits 3-4 fragments - 1, bit 4 also masks when masking is
/// optional; bit 5 a ping between fragments; bit 6 compress), length, content.
fn op(code: u8, content: &[u8]) -> Vec<u8> {
    assert!(content.len() <= 64 && code & 0x80 == 0, "a script message carries at most 64 bytes");
    [&[code, content.len() as u8][..], content].concat()
}

fn recipes() -> Recipes {
    let mut r = Recipes::new();
    request_head_recipes(&mut r);
    handshake_recipes(&mut r);
    http_body::recipes(&mut r);
    frame_decoder_recipes(&mut r);
    inflate_recipes(&mut r);
    deflate_negotiate_recipes(&mut r);
    differential_recipes(&mut r);
    r
}

/// `request_head`: limits byte (low nibble `max_head_bytes` index, high `max_headers` index; 0 is
/// the default), cut byte, head.
fn request_head_recipes(r: &mut Recipes) {
    let t = "request_head";
    r.insert((t, "rfc6455-sample"), seed(&[0x00, 0x80], RFC6455_REQUEST));
    r.insert((t, "chrome-upgrade"), seed(&[0x00, 0x40], CHROME_REQUEST));
    r.insert((t, "firefox-upgrade"), seed(&[0x00, 0xc0], FIREFOX_REQUEST));
    r.insert(
        (t, "pipelined-frame"),
        seed(&[0x00, 0xff], [RFC6455_REQUEST.as_bytes(), &masked(0x81, b"Hi")].concat()),
    );
    r.insert((t, "partial-head"), seed(&[0x00, 0x80], &CHROME_REQUEST[..200]));
    r.insert((t, "plain-get"), seed(&[0x00, 0x10], "GET /index.html?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n"));
    r.insert(
        (t, "absolute-form"),
        seed(&[0x00, 0x10], "GET http://example.com:80/chat HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    );
    r.insert((t, "lf-only"), seed(&[0x00, 0x20], "GET / HTTP/1.1\nHost: a\nUpgrade: websocket\n\n"));
    r.insert((t, "obs-fold"), seed(&[0x00, 0x20], "GET / HTTP/1.1\r\nX-Folded: a\r\n b\r\nHost: a\r\n\r\n"));
    r.insert((t, "http-1.0"), seed(&[0x00, 0x08], "GET / HTTP/1.0\r\n\r\n"));
    r.insert(
        (t, "tls-client-hello"),
        seed(&[0x00, 0x08], [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
    );
    r.insert((t, "too-many-headers"), seed(&[0x20, 0x80], RFC6455_REQUEST));
    r.insert((t, "too-large"), seed(&[0x0a, 0x80], CHROME_REQUEST));
    r.insert(
        (t, "header-value-obs-text"),
        seed(&[0x00, 0x80], b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n"),
    );
}

/// `handshake`: policy byte (bit 0 strict; the rest picks the supported sub-protocols: 0 none,
/// 1 `chat`, 2 `chat, superchat`, 3 `v2.json, v1.json, chat`), deflate config byte, head.
fn handshake_recipes(r: &mut Recipes) {
    let t = "handshake";
    let replace = |from: &str, to: &str| RFC6455_REQUEST.replace(from, to);
    r.insert((t, "rfc6455-sample"), seed(&[0x02, 0x00], RFC6455_REQUEST));
    r.insert((t, "chrome-upgrade"), seed(&[0x00, 0xdc], CHROME_REQUEST));
    r.insert((t, "chrome-upgrade-small-windows"), seed(&[0x00, 0x03], CHROME_REQUEST));
    r.insert((t, "firefox-upgrade-strict"), seed(&[0x05, 0xff], FIREFOX_REQUEST));
    r.insert((t, "post"), seed(&[0x00, 0x00], replace("GET", "POST")));
    r.insert((t, "plain-get"), seed(&[0x00, 0x00], "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"));
    r.insert((t, "version-8"), seed(&[0x00, 0x00], replace("Version: 13", "Version: 8")));
    r.insert(
        (t, "versions-repeated"),
        seed(&[0x00, 0x00], replace("Version: 13\r\n", "Version: 13\r\nSec-WebSocket-Version: 13\r\n")),
    );
    r.insert(
        (t, "key-missing"),
        seed(&[0x00, 0x00], replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")),
    );
    r.insert((t, "key-not-canonical"), seed(&[0x00, 0x00], replace("ZQ==", "ZR==")));
    r.insert(
        (t, "no-connection-upgrade"),
        seed(&[0x00, 0x00], replace("Connection: Upgrade", "Connection: keep-alive")),
    );
    r.insert((t, "no-host"), seed(&[0x00, 0x00], replace("Host: server.example.com\r\n", "")));
    r.insert((t, "strict-no-protocol-match"), seed(&[0x03, 0x00], replace("chat, superchat", "wamp")));
    r.insert(
        (t, "deflate-offers"),
        seed(
            &[0x00, 0x1d],
            replace(
                "Version: 13\r\n",
                "Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
                 client_max_window_bits=10, permessage-deflate\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n",
            ),
        ),
    );
}

/// `frame_decoder`: flags (bit 0 require mask, 1 deflate, 2 `client_no_context_takeover`,
/// 3 structured, bits 4-7 the client window), limits (low nibble `max_frame_size` index, high
/// `max_message_size` index into `SIZES`; 0xff is 1 MiB for both), cut byte, then wire bytes or a
/// script.
fn frame_decoder_recipes(r: &mut Recipes) {
    let t = "frame_decoder";
    let open = [0x00, 0xff, 0x80];
    let masked_only = [0x01, 0xff, 0x80];
    // RFC 6455 §5.7 examples.
    r.insert((t, "rfc-unmasked-hello"), seed(&open, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
    r.insert(
        (t, "rfc-masked-hello"),
        seed(&masked_only, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]),
    );
    r.insert(
        (t, "rfc-fragmented-hello"),
        seed(&open, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]),
    );
    r.insert(
        (t, "rfc-ping-and-pong"),
        seed(&open, [&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f][..], &masked(0x8a, b"Hello")].concat()),
    );
    r.insert((t, "rfc-256-bytes-binary"), seed(&open, frame(0x82, &[0xa5; 256], None)));
    r.insert((t, "rfc-64k-binary-header"), seed(&open, [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3]));
    // Fragmentation, UTF-8 split across fragments, control frames between them, close frames.
    let mut fragmented = masked(0x01, "κό".as_bytes());
    fragmented.extend(masked(0x89, b"ping"));
    fragmented.extend(masked(0x00, &"σμε".as_bytes()[..3]));
    fragmented.extend(masked(0x8a, b""));
    fragmented.extend(masked(0x80, &"σμε".as_bytes()[3..]));
    fragmented.extend(masked(0x88, &close_payload(1000, b"bye")));
    r.insert((t, "fragmented-utf8-with-controls"), seed(&masked_only, &fragmented));
    r.insert((t, "close-empty"), seed(&masked_only, masked(0x88, b"")));
    r.insert((t, "close-one-byte"), seed(&masked_only, masked(0x88, &[0x03])));
    r.insert((t, "close-1005"), seed(&masked_only, masked(0x88, &close_payload(1005, b""))));
    r.insert((t, "close-reason-not-utf8"), seed(&masked_only, masked(0x88, &close_payload(1000, b"\xff"))));
    r.insert((t, "text-not-utf8"), seed(&masked_only, masked(0x81, b"ok \xc3\x28")));
    // Violations.
    r.insert((t, "reserved-opcode"), seed(&masked_only, masked(0x83, b"x")));
    r.insert((t, "rsv2"), seed(&masked_only, masked(0xa1, b"x")));
    r.insert((t, "unmasked"), seed(&masked_only, frame(0x81, b"x", None)));
    r.insert((t, "control-too-long"), seed(&masked_only, masked(0x89, &[0; 126])));
    r.insert((t, "fragmented-control"), seed(&masked_only, masked(0x09, b"x")));
    r.insert(
        (t, "non-minimal-length"),
        seed(&masked_only, [0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    );
    r.insert((t, "continuation-first"), seed(&masked_only, masked(0x80, b"x")));
    r.insert(
        (t, "text-during-fragmented"),
        seed(&masked_only, [masked(0x01, b"a"), masked(0x81, b"b")].concat()),
    );
    // Limits: max_frame_size 5 (index 3), max_message_size 5 (index 3).
    r.insert((t, "frame-too-large"), seed(&[0x01, 0x33, 0x80], masked(0x82, &[7; 16])));
    r.insert(
        (t, "message-too-large"),
        seed(&[0x01, 0x3f, 0x80], [masked(0x02, b"abc"), masked(0x80, b"def")].concat()),
    );
    // permessage-deflate (flags: mask + deflate, window 9; with bit 2: no context takeover).
    let deflate = [0x03, 0xff, 0x80];
    r.insert((t, "deflate-rfc7692-hello"), seed(&deflate, masked(0xc1, &DEFLATED_HELLO)));
    r.insert(
        (t, "deflate-context-takeover"),
        seed(&deflate, [masked(0xc1, &DEFLATED_HELLO), masked(0xc1, &DEFLATED_HELLO_AGAIN)].concat()),
    );
    r.insert((t, "deflate-stored-block"), seed(&deflate, masked(0xc1, &STORED_HELLO)));
    r.insert((t, "deflate-bfinal"), seed(&deflate, masked(0xc1, &FINAL_HELLO)));
    let json = Deflater::new(&params(false, 9)).compress(JSON.as_bytes());
    let third = json.len() / 3;
    let mut fragments = masked(0x41, &json[..third]);
    fragments.extend(masked(0x89, b"between"));
    fragments.extend(masked(0x00, &json[third..2 * third]));
    fragments.extend(masked(0x80, &json[2 * third..]));
    r.insert((t, "deflate-fragmented-json"), seed(&deflate, fragments));
    let mut stateless = Deflater::new(&params(true, 9));
    let two = [
        masked(0xc2, &stateless.compress(&[1, 2, 3, 1, 2, 3])),
        masked(0xc1, &stateless.compress(JSON.as_bytes())),
    ];
    r.insert((t, "deflate-no-context-takeover"), seed(&[0x07, 0xff, 0x80], two.concat()));
    // A megabyte of zeros against a 65,535-byte message limit (index 10).
    let bomb = Deflater::new(&params(true, 9)).compress(&vec![0; 1 << 20]);
    r.insert((t, "deflate-bomb"), seed(&[0x07, 0xaf, 0x80], masked(0xc2, &bomb)));
    r.insert(
        (t, "deflate-rsv1-on-continuation"),
        seed(&deflate, [masked(0x01, b"a"), masked(0xc0, &DEFLATED_HELLO)].concat()),
    );
    r.insert((t, "deflate-rsv1-on-ping"), seed(&deflate, masked(0xc9, b"")));
    r.insert((t, "rsv1-without-deflate"), seed(&masked_only, masked(0xc1, &DEFLATED_HELLO)));
    // Scripts (flag bit 3): op byte, length byte, content; see `client_stream` in src/fuzzing.
    let json = &JSON.as_bytes()[..64];
    let script = [
        op(0x38, "fragmentées – ✓".as_bytes()),
        op(0x1a, b"\x00\x01binary"),
        op(0x04, b"png"),
        op(0x06, b"\x00bye!!"),
    ];
    r.insert((t, "script-fragments-and-controls"), seed(&[0x09, 0, 0x80], script.concat()));
    // 250 * 300 bytes: the 64-bit length form.
    r.insert((t, "script-large-binary"), seed(&[0x09, 0, 0x80], [&[0x9a, 250][..], &[0x5a; 64]].concat()));
    let script =
        [op(0x78, json), op(0x47, b""), op(0x52, &[0xab; 64]), [&[0xc0, 20][..], b"repeat repeat "].concat()];
    r.insert((t, "script-deflate"), seed(&[0x0b, 6, 0x80], script.concat()));
    let script = [op(0x78, json), op(0x78, json), op(0x47, b""), op(0x78, json)];
    r.insert((t, "script-deflate-no-context"), seed(&[0x4f, 9, 0x80], script.concat()));
}

/// `inflate`: windows byte (bit 0 server, bit 1 client no context takeover, bits 2-4 server
/// window - 9, bits 5-7 client window - 9), level (low nibble) and limit (high nibble, index
/// into `SIZES`), cut byte, then bytes used both as compressed input and as plain text.
fn inflate_recipes(r: &mut Recipes) {
    let t = "inflate";
    // Windows 15, context takeover, level 6, 1 MiB limit.
    let wide = [0xdc, 0xf6, 0x80];
    r.insert((t, "rfc7692-hello"), seed(&wide, DEFLATED_HELLO));
    r.insert(
        (t, "rfc7692-hello-twice"),
        seed(&wide, [&DEFLATED_HELLO[..], &[0, 0, 0xff, 0xff], &DEFLATED_HELLO_AGAIN].concat()),
    );
    r.insert((t, "rfc7692-stored"), seed(&wide, STORED_HELLO));
    r.insert((t, "rfc7692-bfinal"), seed(&wide, FINAL_HELLO));
    r.insert(
        (t, "deflater-json-window-15"),
        seed(&wide, Deflater::new(&params(false, 15)).compress(JSON.as_bytes())),
    );
    r.insert(
        (t, "deflater-json-window-9"),
        seed(&[0x03, 0xf1, 0x40], Deflater::new(&params(true, 9)).compress(JSON.as_bytes())),
    );
    // A megabyte of zeros against a 1,000-byte limit (index 9).
    r.insert(
        (t, "bomb"),
        seed(&[0xdf, 0x96, 0x80], Deflater::new(&params(true, 15)).compress(&vec![0; 1 << 20])),
    );
    r.insert((t, "corrupt"), seed(&wide, [0xff, 0xff, 0xff]));
    r.insert(
        (t, "plain-text"),
        seed(&[0x00, 0xf9, 0x55], "The quick brown fox jumps over the lazy dog. ".repeat(20)),
    );
}

/// `deflate_negotiate`: two config bytes (see `config_from` in src/fuzzing), then one
/// `Sec-WebSocket-Extensions` value per line.
fn deflate_negotiate_recipes(r: &mut Recipes) {
    let t = "deflate_negotiate";
    // Windows 15, context takeover, level 1, threshold 0.
    let defaults = [0xdc, 0x10];
    r.insert((t, "chrome"), seed(&defaults, "permessage-deflate; client_max_window_bits"));
    r.insert((t, "firefox"), seed(&defaults, "permessage-deflate"));
    r.insert(
        (t, "chrome-small-client-window"),
        seed(&[0x03, 0x01], "permessage-deflate; client_max_window_bits"),
    );
    r.insert(
        (t, "every-parameter"),
        seed(&defaults, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"),
    );
    r.insert(
        (t, "fallback-offer"),
        seed(
            &defaults,
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover",
        ),
    );
    r.insert((t, "quoted-value"), seed(&defaults, "permessage-deflate; client_max_window_bits=\"10\""));
    r.insert(
        (t, "several-lines"),
        seed(&defaults, "x-webkit-deflate-frame\npermessage-deflate; client_max_window_bits=15"),
    );
    r.insert((t, "unknown-parameter"), seed(&defaults, "permessage-deflate; mystery"));
    r.insert((t, "window-out-of-range"), seed(&defaults, "permessage-deflate; server_max_window_bits=16"));
}

/// `frame_differential` (wire bytes, no config) and `message_differential` (flags byte, bit 0
/// require mask; limits byte as for `frame_decoder`; wire bytes).
fn differential_recipes(r: &mut Recipes) {
    let t = "frame_differential";
    let rfc: Vec<u8> = [
        &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f][..],
        &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
        &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        &[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
    ]
    .concat();
    r.insert((t, "rfc-examples"), rfc.clone());
    // The 64-bit form's payload is cut short: the comparison stops at a partial frame.
    let forms = [
        frame(0x82, &[1; 125], KEY),
        frame(0x82, &[2; 126], KEY),
        frame(0x02, &[3; 300], None),
        frame(0x80, &vec![4; 65_536], KEY),
    ];
    r.insert((t, "length-forms"), forms.concat()[..125 + 6 + 126 + 8 + 300 + 4 + 20].to_vec());
    r.insert((t, "non-minimal-16"), vec![0x82, 0x7e, 0x00, 0x7d, 1, 2, 3]);
    r.insert((t, "non-minimal-64"), vec![0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
    r.insert((t, "length-msb-set"), vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    r.insert((t, "reserved-opcode-truncated"), vec![0x8b, 0xfe, 0x01]);
    r.insert((t, "reserved-opcode-complete"), vec![0x83, 0x81, 1, 2, 3, 4, 5]);
    r.insert((t, "rsv-bits"), [frame(0xf1, b"rsv", KEY), frame(0x42, b"r1", None)].concat());

    let t = "message_differential";
    let open = [0x00, 0xff];
    let masked_only = [0x01, 0xff];
    r.insert((t, "rfc-examples"), seed(&open, &rfc));
    r.insert(
        (t, "fragmented-utf8-with-controls"),
        seed(&masked_only, {
            let mut s = masked(0x01, "κό".as_bytes());
            s.extend(masked(0x89, b"ping"));
            s.extend(masked(0x80, "σμε".as_bytes()));
            s.extend(masked(0x88, &close_payload(1000, b"bye")));
            s
        }),
    );
    r.insert((t, "close-1014"), seed(&masked_only, masked(0x88, &close_payload(1014, b"bad gateway"))));
    r.insert((t, "close-1005"), seed(&masked_only, masked(0x88, &close_payload(1005, b""))));
    r.insert(
        (t, "close-bad-code-bad-reason"),
        seed(&masked_only, masked(0x88, &close_payload(999, b"\xff"))),
    );
    r.insert(
        (t, "utf8-error-in-second-fragment"),
        seed(&masked_only, [masked(0x01, b"ok"), masked(0x89, b""), masked(0x80, b"\xc3\x28")].concat()),
    );
    r.insert((t, "unmasked"), seed(&masked_only, frame(0x81, b"x", None)));
    r.insert(
        (t, "small-limits"),
        seed(&[0x01, 0x33], [masked(0x82, &[7; 5]), masked(0x82, &[7; 6])].concat()),
    );
    r.insert(
        (t, "non-minimal-then-valid"),
        seed(&open, [&[0x82, 0x7e, 0x00, 0x03, 1, 2, 3][..], &frame(0x81, b"after", None)].concat()),
    );
}

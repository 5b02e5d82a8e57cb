//! permessage-deflate: negotiation, the bounded inflater, the deflater.

use http::HeaderValue;

use super::{Knobs, SIZES, scaled};
use crate::deflate::{Agreement, DeflateConfig, DeflateParams, Deflater, InflateError, Inflater, negotiate};

/// A server deflate configuration picked by two bytes. Window bits stay in the documented
/// 9..=15; the level may exceed 9 to check that it is clamped.
pub(super) fn config_from(a: u8, b: u8) -> DeflateConfig {
    DeflateConfig {
        server_no_context_takeover: a & 1 != 0,
        client_no_context_takeover: a & 2 != 0,
        server_max_window_bits: 9 + (a >> 2) % 7,
        client_max_window_bits: 9 + (a >> 5) % 7,
        threshold: usize::from(b & 0x0f),
        level: u32::from(b >> 4),
    }
}

/// Negotiates permessage-deflate from arbitrary `Sec-WebSocket-Extensions` values (one per line
/// of the input, lossily UTF-8).
///
/// Invariants: no panic; an agreement stays within the server's configuration and RFC 7692's
/// ranges, its response is a valid header value that says exactly what was agreed, and offered
/// back it is agreed again unchanged; both directions round-trip a message with the window
/// each side was told. When the input is a single offer without quotes, the response also
/// answers that offer as RFC 7692 §7.1 requires. A plain `permessage-deflate` offer is always
/// accepted.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn deflate_negotiate(data: &[u8]) {
    let mut knobs = Knobs::new(data);
    let config = config_from(knobs.byte(), knobs.byte());
    let text = String::from_utf8_lossy(knobs.rest());
    let agreement = negotiate(text.split('\n'), &config);
    let plain_offer = text.split('\n').any(|value| {
        !value.contains('"') && value.split(',').any(|o| o.trim().eq_ignore_ascii_case("permessage-deflate"))
    });
    assert!(agreement.is_some() || !plain_offer, "a plain offer was declined");
    let Some(agreement) = agreement else { return };
    check_agreement(&agreement, &config, knobs.rest());
    if !text.contains([',', '\n', '"']) {
        check_answers_offer(&text, &agreement.response);
    }
}

/// Checks an agreement against the configuration it was made under, and round-trips `sample`
/// (made longer than the smallest window) in both directions.
pub(super) fn check_agreement(agreement: &Agreement, config: &DeflateConfig, sample: &[u8]) {
    let p = agreement.params;
    // The client may be told 8 (RFC 7692 allows answering what it offered); ours is never below 9.
    assert!((9..=15).contains(&p.server_window_bits) && (8..=15).contains(&p.client_window_bits), "{p:?}");
    assert!(p.server_window_bits <= config.server_max_window_bits, "{p:?} under {config:?}");
    assert!(p.server_no_context_takeover || !config.server_no_context_takeover, "{p:?} under {config:?}");
    assert!(p.client_no_context_takeover || !config.client_no_context_takeover, "{p:?} under {config:?}");
    assert_eq!((p.level, p.threshold), (config.level.min(9), config.threshold));
    assert!(HeaderValue::from_str(&agreement.response).is_ok(), "response {:?}", agreement.response);
    let told = Told::parse(&agreement.response);
    assert_eq!(told.server_no_context_takeover, p.server_no_context_takeover, "{}", agreement.response);
    assert_eq!(told.client_no_context_takeover, p.client_no_context_takeover, "{}", agreement.response);
    if let Some(bits) = told.server_max_window_bits {
        assert_eq!(bits, p.server_window_bits, "{}", agreement.response);
    }
    // A client not told a window may use 2^15, so the server must inflate with that.
    assert_eq!(told.client_max_window_bits.unwrap_or(15), p.client_window_bits, "{}", agreement.response);
    assert_eq!(
        negotiate([agreement.response.as_str()], config).as_ref(),
        Some(agreement),
        "the response, offered back, is agreed differently"
    );
    let messages = sample_messages(sample);
    // Server to client: the client inflates with the window the response allowed the server.
    let mut deflater = Deflater::new(&p);
    let mut client = Inflater::new(&DeflateParams {
        client_window_bits: told.server_max_window_bits.unwrap_or(15),
        client_no_context_takeover: p.server_no_context_takeover,
        ..p
    });
    for message in &messages {
        assert_eq!(
            inflate_message(&mut client, &[&deflater.compress(message)], usize::MAX - 1),
            Ok(message.clone())
        );
    }
    // Client to server: the client compresses with the window it was told.
    let mut client = Deflater::new(&DeflateParams {
        // zlib's smallest raw window is 2^9: a client told 8 compresses with 9 at most here.
        server_window_bits: p.client_window_bits.max(9),
        server_no_context_takeover: p.client_no_context_takeover,
        ..p
    });
    let mut inflater = Inflater::new(&p);
    for message in &messages {
        assert_eq!(
            inflate_message(&mut inflater, &[&client.compress(message)], usize::MAX - 1),
            Ok(message.clone())
        );
    }
}

/// Two messages of a few KiB built from `sample`, with repeats further apart than 2^9 bytes, so
/// that a window mismatch shows.
fn sample_messages(sample: &[u8]) -> [Vec<u8>; 2] {
    let sample = &sample[..sample.len().min(1024)];
    let mut filler = Vec::with_capacity(1200);
    let mut x = 0x2545_f491_u32 ^ sample.len() as u32;
    for _ in 0..1200 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        filler.push(x as u8);
    }
    let first = [sample, &filler, sample, &filler[..600], sample].concat();
    let second = [&filler[300..], sample, &filler[..900]].concat();
    [first, second]
}

/// What a `Sec-WebSocket-Extensions` response tells a client, read the way a client reads it.
#[derive(Debug, Default)]
struct Told {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
}

impl Told {
    fn parse(response: &str) -> Self {
        let mut parts = response.split(';').map(str::trim);
        assert_eq!(parts.next(), Some("permessage-deflate"), "response {response:?}");
        let mut told = Self::default();
        for part in parts {
            let (name, value) = part.split_once('=').map_or((part, None), |(n, v)| (n, Some(v)));
            let bits = || value.and_then(|v| v.parse::<u8>().ok()).filter(|b| (8..=15).contains(b));
            let fresh = match (name, value) {
                ("server_no_context_takeover", None) => {
                    !std::mem::replace(&mut told.server_no_context_takeover, true)
                }
                ("client_no_context_takeover", None) => {
                    !std::mem::replace(&mut told.client_no_context_takeover, true)
                }
                ("server_max_window_bits", Some(_)) => {
                    told.server_max_window_bits.replace(bits().expect(part)).is_none()
                }
                ("client_max_window_bits", Some(_)) => {
                    told.client_max_window_bits.replace(bits().expect(part)).is_none()
                }
                _ => panic!("response {response:?} has parameter {part:?}"),
            };
            assert!(fresh, "response {response:?} repeats {name}");
        }
        told
    }
}

/// RFC 7692 §7.1.1-7.1.2: a response echoes `server_no_context_takeover` and
/// `server_max_window_bits` (with the same or a smaller value), and names
/// `client_max_window_bits` only if offered, then with a value no larger than the offered one.
fn check_answers_offer(offer: &str, response: &str) {
    let mut offered = Told::default();
    let mut client_window_offered = false;
    for param in offer.split(';').skip(1) {
        let (name, value) = param.split_once('=').map_or((param.trim(), None), |(n, v)| (n.trim(), Some(v)));
        let bits = value.and_then(|v| v.trim().trim_matches('"').parse::<u8>().ok());
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => offered.server_no_context_takeover = true,
            "server_max_window_bits" => offered.server_max_window_bits = bits,
            "client_max_window_bits" => {
                client_window_offered = true;
                offered.client_max_window_bits = bits;
            }
            _ => {}
        }
    }
    let told = Told::parse(response);
    assert!(
        told.server_no_context_takeover || !offered.server_no_context_takeover,
        "{offer:?} -> {response:?}"
    );
    if offered.server_max_window_bits.is_some() {
        assert!(told.server_max_window_bits.is_some(), "{offer:?} -> {response:?}: server window not echoed");
    }
    if let (Some(told), Some(offered)) = (told.server_max_window_bits, offered.server_max_window_bits) {
        assert!(told <= offered, "{offer:?} -> {response:?}");
    }
    if let Some(told) = told.client_max_window_bits {
        assert!(client_window_offered, "{offer:?} -> {response:?}: client_max_window_bits was not offered");
        if let Some(offered) = offered.client_max_window_bits {
            assert!(told <= offered, "{offer:?} -> {response:?}: client window larger than offered");
        }
    }
}

/// Inflates arbitrary bytes as one compressed message, whole and cut in two, with a fresh and
/// a pooled inflater; and round-trips the same bytes, cut into messages, through a
/// [`Deflater`] and an [`Inflater`] sharing context across messages.
///
/// Invariants: no panic; the output never grows past `limit + 1` bytes (length or capacity),
/// and a message over the limit fails with `TooBig`; cutting the compressed bytes anywhere, or
/// using a recycled inflater, changes nothing (except which error ends input that is both
/// corrupt and over the limit, see `same_outcome`); every message round-trips, with context
/// takeover or without, at every window and level, and fails with `TooBig` one byte under its
/// size; [`Deflater::compress_once`] equals a fresh compressor.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn inflate(data: &[u8]) {
    let mut knobs = Knobs::new(data);
    let windows = knobs.byte();
    let level_and_limit = knobs.byte();
    let cut = knobs.byte();
    let params = DeflateParams {
        server_no_context_takeover: windows & 1 != 0,
        client_no_context_takeover: windows & 2 != 0,
        server_window_bits: 9 + (windows >> 2) % 7,
        client_window_bits: 9 + (windows >> 5) % 7,
        level: u32::from(level_and_limit & 0x0f) % 10,
        threshold: 0,
    };
    let limit = SIZES[usize::from(level_and_limit >> 4)];
    let input = knobs.rest();
    let at = scaled(cut, input.len());

    let whole = inflate_message(&mut Inflater::new(&params), &[input], limit);
    let mut pooled = Inflater::pooled(&params);
    let cut_short = inflate_message(&mut pooled, &[&input[..at], &input[at..]], limit);
    assert!(same_outcome(&cut_short, &whole), "cut at {at}: {cut_short:?}, whole: {whole:?}");
    // Recycled after whatever happened to it, an inflater must behave as new.
    pooled.recycle();
    let mut pooled = Inflater::pooled(&params);
    assert_eq!(inflate_message(&mut pooled, &[input], limit), whole, "recycled inflater");
    pooled.recycle();

    // Round trip: the input as plain text, cut into three messages.
    let second = scaled(cut.wrapping_mul(7), input.len()).max(at);
    let messages = [&input[..at], &input[at..second], &input[second..]];
    let mut deflater = Deflater::new(&params);
    let mut inflater = Inflater::new(&DeflateParams {
        client_window_bits: params.server_window_bits.max(params.client_window_bits),
        client_no_context_takeover: params.server_no_context_takeover && params.client_no_context_takeover,
        ..params
    });
    for message in messages {
        let payload = deflater.compress(message);
        let parts = [&payload[..scaled(cut, payload.len())], &payload[scaled(cut, payload.len())..]];
        assert_eq!(inflate_message(&mut inflater, &parts, message.len()), Ok(message.to_vec()), "{params:?}");
    }
    let stateless = DeflateParams { server_no_context_takeover: true, ..params };
    let payload = Deflater::compress_once(&stateless, input);
    assert_eq!(payload, Deflater::new(&stateless).compress(input), "compress_once differs");
    if let Some(limit) = input.len().checked_sub(1) {
        let result = inflate_message(
            &mut Inflater::new(&DeflateParams { client_window_bits: 15, ..params }),
            &[&payload],
            limit,
        );
        assert_eq!(result, Err(InflateError::TooBig { limit }), "one byte over the limit");
    }
}

/// Whether inflating the same bytes cut differently ended the same way. Input both corrupt and
/// over the limit may end either way: zlib can pass the limit and meet the corruption in one
/// call, which `Inflater::inflate` reports as `Corrupt`, while cut earlier the limit shows
/// first. Both end the message, and `WsDecoder` inflates whole frames only, so where a read
/// ends cannot change its close code.
fn same_outcome(a: &Result<Vec<u8>, InflateError>, b: &Result<Vec<u8>, InflateError>) -> bool {
    match (a, b) {
        (Err(InflateError::TooBig { .. }), Err(InflateError::Corrupt))
        | (Err(InflateError::Corrupt), Err(InflateError::TooBig { .. })) => true,
        _ => a == b,
    }
}

/// Inflates one message arriving in `parts`, checking the output bound after every step.
fn inflate_message(inflater: &mut Inflater, parts: &[&[u8]], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let bounded = |out: &Vec<u8>| {
        let bound = limit.saturating_add(1);
        assert!(
            out.len() <= bound && out.capacity() <= bound,
            "{} of {} bytes held",
            out.len(),
            out.capacity()
        );
    };
    for part in parts {
        let result = inflater.inflate(part, &mut out, limit);
        bounded(&out);
        match result {
            Err(InflateError::TooBig { limit: reported }) => assert_eq!(reported, limit),
            Err(InflateError::Corrupt) => {}
            Ok(()) => assert!(out.len() <= limit, "Ok past the limit"),
        }
        result?;
    }
    let result = inflater.finish_message(&mut out, limit);
    bounded(&out);
    result.map(|()| out)
}

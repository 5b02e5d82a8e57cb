//! permessage-deflate (RFC 7692): negotiation, a bounded inflater and a deflater.
//!
//! Compressed messages have RSV1 set on their first frame; the payloads of all their frames,
//! joined and followed by `00 00 ff ff`, form a raw DEFLATE stream flushed with a sync flush.
//!
//! Memory: a compressor with a 2^15 window holds about 256 KiB and a decompressor about 40 KiB.
//! With context takeover they live as long as the connection; with `no_context_takeover` they are
//! only needed while one message is processed, so the server can share them between
//! connections (see [`Deflater::compress_once`]).

use std::fmt::Write as _;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The empty stored block a sync flush ends with; stripped on send, restored on receive.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Largest step by which the inflate buffer grows.
const INFLATE_STEP: usize = 64 * 1024;

/// What the server is willing to agree to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Never carry compression state from one outgoing message to the next. Costs ratio on
    /// streams of similar messages; saves the ~256 KiB compressor per connection, and lets a
    /// broadcast be compressed once for everyone. Default `false`.
    pub server_no_context_takeover: bool,
    /// Ask clients not to carry state between their messages, so the ~40 KiB decompressor is
    /// not kept per connection. Default `false`.
    pub client_no_context_takeover: bool,
    /// Largest window (2^N bytes, 9..=15) the server compresses with. Default 15.
    pub server_max_window_bits: u8,
    /// Window to ask clients to compress with, when they allow it (9..=15). Default 15.
    pub client_max_window_bits: u8,
    /// Messages shorter than this are sent uncompressed: for small messages compression costs
    /// more CPU than the bytes it saves. Default 256 bytes.
    pub threshold: usize,
    /// DEFLATE compression level, 0..=9. Default 1: on short, chatty messages it keeps most of
    /// level 6's ratio for much less CPU.
    pub level: u32,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            threshold: 256,
            level: 1,
        }
    }
}

/// Parameters agreed for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message, so our decompressor can too.
    pub client_no_context_takeover: bool,
    /// Window the server compresses with.
    pub server_window_bits: u8,
    /// Window the client compresses with (at most).
    pub client_window_bits: u8,
    /// Compression level.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed.
    pub threshold: usize,
}

/// An accepted offer: the parameters and the `Sec-WebSocket-Extensions` response value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// What both sides will do.
    pub params: DeflateParams,
    /// The response header value, e.g. `permessage-deflate; server_no_context_takeover`.
    pub response: String,
}

/// Picks the first `permessage-deflate` offer in the client's `Sec-WebSocket-Extensions`
/// header values that the server can honour. Offers with unknown, repeated or invalid
/// parameters are declined, as is `server_max_window_bits=8` (the DEFLATE implementation's
/// smallest window is 2^9). `None`: no compression on this connection.
pub fn negotiate<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<Agreement> {
    header_values
        .into_iter()
        .flat_map(split_outside_quotes)
        .filter_map(parse_offer)
        .find_map(|offer| accept_offer(&offer, config))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    server_max_window_bits: Option<u8>,
    client_max_window_bits: ClientWindow,
}

/// The offer's `client_max_window_bits`: the client may be told a window only if it sent one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ClientWindow {
    #[default]
    Absent,
    /// Sent without a value: any window 9..=15 may be chosen.
    Any,
    /// Sent with a value: the window must not be larger.
    AtMost(u8),
}

fn parse_offer(extension: &str) -> Option<Offer> {
    let mut parts = extension.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut offer = Offer::default();
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) if offer.client_max_window_bits == ClientWindow::Absent => {
                offer.client_max_window_bits = match v {
                    Some(v) => ClientWindow::AtMost(window_bits(v)?),
                    None => ClientWindow::Any,
                };
            }
            // Unknown, repeated or malformed parameter: decline this offer (RFC 7692 §5).
            _ => return None,
        }
    }
    Some(offer)
}

fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty()
        || value.len() > 2
        || !value.bytes().all(|b| b.is_ascii_digit())
        || value.starts_with('0')
    {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

fn accept_offer(offer: &Offer, config: &DeflateConfig) -> Option<Agreement> {
    let server_window_bits = match offer.server_max_window_bits {
        Some(8) => return None,
        Some(limit) => limit.min(config.server_max_window_bits),
        None => config.server_max_window_bits,
    }
    .clamp(9, 15);
    // Only a client that sent client_max_window_bits may be told a smaller window.
    let client_window_bits = match offer.client_max_window_bits {
        // Answering 8 is allowed (RFC 7692 §7.1.2.2: equal or smaller); our decompressor then
        // runs with 2^9, which decodes any stream made with a 2^8 window.
        ClientWindow::AtMost(limit) => limit.min(config.client_max_window_bits),
        ClientWindow::Any => config.client_max_window_bits.clamp(9, 15),
        ClientWindow::Absent => 15,
    };
    let server_no_context_takeover = offer.server_no_context_takeover || config.server_no_context_takeover;
    let client_no_context_takeover = offer.client_no_context_takeover || config.client_no_context_takeover;
    let mut response = String::from("permessage-deflate");
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if offer.server_max_window_bits.is_some() {
        let _ = write!(response, "; server_max_window_bits={server_window_bits}");
    }
    let client_window_told = match offer.client_max_window_bits {
        ClientWindow::Absent => false,
        ClientWindow::Any => client_window_bits < 15,
        ClientWindow::AtMost(_) => true,
    };
    if client_window_told {
        let _ = write!(response, "; client_max_window_bits={client_window_bits}");
    }
    Some(Agreement {
        params: DeflateParams {
            server_no_context_takeover,
            client_no_context_takeover,
            server_window_bits,
            client_window_bits,
            level: config.level.min(9),
            threshold: config.threshold,
        },
        response,
    })
}

/// Splits a header value at commas that are not inside a quoted string.
fn split_outside_quotes(value: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InflateError {
    /// The inflated message passed the size limit (a decompression bomb, or just too big).
    #[error("inflated message exceeds {limit} bytes")]
    TooBig {
        /// The limit.
        limit: usize,
    },
    /// The compressed data is not valid DEFLATE.
    #[error("invalid compressed data")]
    Corrupt,
}

/// Decompresses the messages of one connection.
pub struct Inflater {
    /// Boxed: a decoder carries an `Option<Inflater>` for the connection's life, compressed
    /// or not, and the decompressor's state is 150 bytes.
    inner: Box<Decompress>,
    window_bits: u8,
    reset_after_message: bool,
}

/// Idle inflaters kept per thread and window size.
const POOLED_PER_WINDOW: usize = 4;

thread_local! {
    static INFLATERS: std::cell::RefCell<Vec<(u8, Box<Decompress>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_after_message", &self.reset_after_message)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// A decompressor for a peer that compresses with `params.client_window_bits`.
    pub fn new(params: &DeflateParams) -> Self {
        let window_bits = params.client_window_bits.clamp(9, 15);
        Self {
            inner: Box::new(Decompress::new_with_window_bits(false, window_bits)),
            window_bits,
            reset_after_message: params.client_no_context_takeover,
        }
    }

    /// An inflater for `params` from this thread's pool, or a new one.
    pub fn pooled(params: &DeflateParams) -> Self {
        let bits = params.client_window_bits.clamp(9, 15);
        let pooled = INFLATERS.with_borrow_mut(|pool| {
            let i = pool.iter().position(|(b, _)| *b == bits)?;
            Some(pool.swap_remove(i).1)
        });
        match pooled {
            Some(inner) => {
                Self { inner, window_bits: bits, reset_after_message: params.client_no_context_takeover }
            }
            None => Self::new(params),
        }
    }

    /// Returns a reset inflater to this thread's pool (a few per window size are kept).
    pub fn recycle(mut self) {
        self.inner.reset(false);
        let bits = self.window_bits;
        INFLATERS.with_borrow_mut(|pool| {
            if pool.iter().filter(|(b, _)| *b == bits).count() < POOLED_PER_WINDOW {
                pool.push((bits, self.inner));
            }
        });
    }

    /// Inflates one frame's payload, appending to `out`. `out` never grows past `limit + 1`
    /// bytes: the error comes as soon as the limit is passed, not after inflating everything.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let mut consumed = 0;
        loop {
            if out.len() > limit {
                return Err(InflateError::TooBig { limit });
            }
            if out.capacity() == out.len() {
                // Grow geometrically, but never beyond one byte past the limit.
                let step = out.len().clamp(4096, INFLATE_STEP);
                out.reserve_exact(step.min(limit + 1 - out.len()));
            }
            let (in_before, out_before) = (self.inner.total_in(), out.len());
            let status = self
                .inner
                .decompress_vec(&input[consumed..], out, FlushDecompress::None)
                .map_err(|_| InflateError::Corrupt)?;
            consumed += (self.inner.total_in() - in_before) as usize;
            let produced = out.len() - out_before;
            let room_left = out.len() < out.capacity();
            if out.len() > limit {
                return Err(InflateError::TooBig { limit });
            }
            match status {
                Status::StreamEnd => {
                    return if consumed == input.len() { Ok(()) } else { Err(InflateError::Corrupt) };
                }
                _ if consumed == input.len() && room_left => return Ok(()),
                Status::BufError if produced == 0 && room_left => {
                    return Err(InflateError::Corrupt);
                }
                _ => {}
            }
        }
    }

    /// Ends a message: inflates the stripped trailer, and resets if the client does not keep
    /// context.
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let result = self.inflate(&TRAILER, out, limit);
        if self.reset_after_message {
            self.inner.reset(false);
        }
        result
    }
}

/// Compresses the messages of one connection.
pub struct Deflater {
    inner: Compress,
    reset_after_message: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("reset_after_message", &self.reset_after_message)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// A compressor for the agreed parameters.
    pub fn new(params: &DeflateParams) -> Self {
        Self {
            inner: Compress::new_with_window_bits(
                Compression::new(params.level),
                false,
                params.server_window_bits,
            ),
            reset_after_message: params.server_no_context_takeover,
        }
    }

    /// Compresses one whole message into the payload of a frame with RSV1 set.
    pub fn compress(&mut self, message: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(message.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let (in_before, out_before) = (self.inner.total_in(), out.len());
            // A sync flush never fails on valid input and a non-empty output buffer.
            let _ = self.inner.compress_vec(&message[consumed..], &mut out, FlushCompress::Sync);
            consumed += (self.inner.total_in() - in_before) as usize;
            let room_left = out.len() < out.capacity();
            // Done when everything is in and flushed. Right after another flush, an empty
            // message produces no bytes at all.
            let flushed = out.ends_with(&TRAILER) || out.len() == out_before;
            if consumed == message.len() && room_left && flushed {
                break;
            }
        }
        if out.ends_with(&TRAILER) {
            out.truncate(out.len() - TRAILER.len());
        }
        if out.is_empty() {
            // The trailer the peer appends is the body of an empty stored block; its header
            // bits must come first, so an empty message is the single byte 0x00 (RFC 7692
            // §7.2.3.6).
            out.push(0x00);
        }
        if self.reset_after_message {
            self.inner.reset();
        }
        Bytes::from(out)
    }

    /// Compresses a message with a fresh compressor for `params` (which must not keep context),
    /// reusing compressors per thread so that no connection holds one. The result can be sent
    /// to every connection that agreed the same window and level.
    pub fn compress_once(params: &DeflateParams, message: &[u8]) -> Bytes {
        thread_local! {
            static SPARE: std::cell::RefCell<Vec<(u8, u32, Deflater)>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let key = (params.server_window_bits, params.level);
        let mut deflater = SPARE
            .with_borrow_mut(|spare| {
                spare.iter().position(|(w, l, _)| (*w, *l) == key).map(|i| spare.swap_remove(i).2)
            })
            .unwrap_or_else(|| Self::new(&DeflateParams { server_no_context_takeover: true, ..*params }));
        let payload = deflater.compress(message);
        SPARE.with_borrow_mut(|spare| spare.push((key.0, key.1, deflater)));
        payload
    }
}

#[cfg(test)]
mod tests;

//! The long-polling transport: a handshake GET opens a session, GETs wait for its packets,
//! POSTs bring the client's.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut as _, Bytes, BytesMut};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use windlass_sio_proto::engine::{self, OpenPacket, PacketType, SEPARATOR, Transport};

use super::session::{CloseReason, EngineSession, Handshake, KeptRequest};
use super::{EngineMessage, EngineShared, cors};
use crate::http_server::{Body, ConnectionInfo};

/// A new session on polling: the answer is its open packet.
pub(super) fn handshake(shared: &Arc<EngineShared>, request: &Request<Body>) -> Response<Body> {
    let session = EngineSession::open(shared, Transport::Polling, None, handshake_of(request));
    let open = open_packet(shared, &session, Transport::Polling);
    shared.handler.on_open(&session);
    // The open packet first, then whatever the handler queued on opening.
    let mut body = BytesMut::from(open.as_bytes());
    if let Some(Ok(more)) = session.take_payload_if_any() {
        body.put_u8(SEPARATOR);
        body.put_slice(&more);
    }
    text_answer(shared, body.freeze(), Encoding::accepted(request))
}

/// The open packet `0{…}` of `session`.
pub(super) fn open_packet(shared: &EngineShared, session: &EngineSession, transport: Transport) -> String {
    let config = &shared.config;
    let upgrades =
        if transport == Transport::Polling && config.websocket { vec![Transport::WebSocket] } else { vec![] };
    let open = OpenPacket {
        sid: session.sid.to_string(),
        upgrades,
        ping_interval: millis(config.ping_interval),
        ping_timeout: millis(config.ping_timeout),
        max_payload: config.max_payload as u64,
    };
    let mut text = String::with_capacity(128);
    text.push('0');
    text.push_str(&open.to_json());
    text
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What `socket.handshake` shows of the request that opened a session.
pub(super) fn handshake_of<B>(request: &Request<B>) -> Handshake {
    let info = request.extensions().get::<ConnectionInfo>();
    Handshake {
        remote_addr: info
            .map_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)), ConnectionInfo::remote_addr),
        request: KeptRequest::new(
            request.uri().path_and_query().map_or_else(|| request.uri().path(), |pq| pq.as_str()),
            request.headers(),
        ),
        secure: info.is_some_and(ConnectionInfo::is_tls),
        issued: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0)),
    }
}

/// A GET: answered with the queued packets as soon as there are any.
pub(super) async fn get(
    shared: &Arc<EngineShared>,
    session: Arc<EngineSession>,
    encoding: Encoding,
) -> Response<Body> {
    if !session.begin_get() {
        // Two GETs at once: Node closes the session; the first GET gets the close packet.
        tracing::debug!(sid = %session.sid, "overlapping polling GET");
        session.close_overlapped();
        return super::bare_400(shared);
    }
    // Ends the GET however the request ends, the client leaving included.
    let waiting = Waiting(session);
    loop {
        match waiting.0.take_payload() {
            Some(Ok(payload)) => return text_answer(shared, payload, encoding),
            Some(Err(())) => return super::refusal_json(shared, engine::ErrorCode::UnknownSid),
            None => waiting.0.readable().await,
        }
    }
}

/// A waiting GET; its end is noted however the request ends, the client leaving included.
struct Waiting(Arc<EngineSession>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.end_get();
    }
}

/// A POST: its packets are delivered in order; answered `ok`.
pub(super) async fn post(
    shared: &Arc<EngineShared>,
    session: Arc<EngineSession>,
    request: Request<Body>,
) -> Response<Body> {
    // Engine.IO v4 sends binary as base64 text; a binary body is refused and ends the session.
    let binary_body = request
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"application/octet-stream"));
    if binary_body {
        tracing::debug!(sid = %session.sid, "binary polling body");
        session.close(CloseReason::TransportError);
        return super::bare_400(shared);
    }
    if !session.begin_post() {
        tracing::debug!(sid = %session.sid, "overlapping polling POST");
        session.close(CloseReason::TransportError);
        return super::bare_400(shared);
    }
    let body = read_limited(request.into_body(), shared.config.max_payload).await;
    session.end_post();
    let body = match body {
        Ok(body) => body,
        Err(Limited::TooLarge) => {
            tracing::debug!(sid = %session.sid, limit = shared.config.max_payload, "polling body too large");
            session.close(CloseReason::TransportError);
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return crate::http_server::response::closing(response);
        }
        Err(Limited::Failed(status)) => {
            session.close(CloseReason::TransportError);
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            return crate::http_server::response::closing(response);
        }
    };
    for packet in engine::decode_payload(body) {
        match packet {
            Ok(packet) => {
                if !on_packet(&session, packet) {
                    break;
                }
            }
            Err(e) => {
                tracing::debug!(sid = %session.sid, error = %e, "bad polling packet");
                session.close(CloseReason::ParseError);
                break;
            }
        }
    }
    let mut response = Response::new(Body::from(Bytes::from_static(b"ok")));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    cors(&shared.config, &mut response);
    response
}

/// Acts on one packet from a POST; false when the session closed.
fn on_packet(session: &Arc<EngineSession>, packet: engine::Packet) -> bool {
    match (packet.kind, packet.data) {
        (_, engine::Data::Binary(bytes)) => session.deliver(EngineMessage::Binary(bytes)),
        (PacketType::Message, engine::Data::Text(text)) => session.deliver(EngineMessage::Text(text)),
        (PacketType::Message, engine::Data::None) => {
            session.deliver(EngineMessage::Text(windlass_sio_proto::Utf8Bytes::default()));
        }
        (PacketType::Pong, _) => session.on_pong(),
        (PacketType::Close, _) => {
            session.close(CloseReason::TransportClose);
            return false;
        }
        // In v4 only the server pings.
        (PacketType::Ping, _) => {
            tracing::debug!(sid = %session.sid, "ping from a v4 client");
            session.close(CloseReason::ParseError);
            return false;
        }
        (PacketType::Open | PacketType::Upgrade | PacketType::Noop, _) => {}
    }
    !session.is_closed()
}

enum Limited {
    TooLarge,
    Failed(StatusCode),
}

/// Reads a body of at most `limit` bytes.
async fn read_limited(mut body: Body, limit: usize) -> Result<Bytes, Limited> {
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Limited::Failed(e.status()))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(Limited::TooLarge);
            }
            out.put_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// How a GET's answer may be compressed (Node's `httpCompression`: gzip or deflate, for
/// bodies of 1024 bytes or more, as the client's `Accept-Encoding` allows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    Identity,
    Gzip,
    Deflate,
}

/// Bodies shorter than this are sent as they are.
const COMPRESSION_THRESHOLD: usize = 1024;

impl Encoding {
    pub(super) fn accepted<B>(request: &Request<B>) -> Self {
        let Some(accept) = request.headers().get(http::header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok())
        else {
            return Self::Identity;
        };
        let offers = |name: &str| {
            accept.split(',').any(|item| {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                coding.eq_ignore_ascii_case(name) && !refused
            })
        };
        if offers("gzip") {
            Self::Gzip
        } else if offers("deflate") {
            Self::Deflate
        } else {
            Self::Identity
        }
    }

    /// The body to send and its `Content-Encoding`, if compressed.
    fn apply(self, payload: Bytes) -> (Bytes, Option<&'static str>) {
        use std::io::Write as _;
        if self == Self::Identity || payload.len() < COMPRESSION_THRESHOLD {
            return (payload, None);
        }
        let level = flate2::Compression::default();
        let compressed = if self == Self::Gzip {
            let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(payload.len() / 2), level);
            encoder.write_all(&payload).and_then(|()| encoder.finish())
        } else {
            let mut encoder =
                flate2::write::DeflateEncoder::new(Vec::with_capacity(payload.len() / 2), level);
            encoder.write_all(&payload).and_then(|()| encoder.finish())
        };
        match compressed {
            Ok(compressed) => {
                (Bytes::from(compressed), Some(if self == Self::Gzip { "gzip" } else { "deflate" }))
            }
            Err(_) => (payload, None),
        }
    }
}

/// A polling answer: the payload as `text/plain`, never cached.
fn text_answer(shared: &EngineShared, payload: Bytes, encoding: Encoding) -> Response<Body> {
    let (body, coding) = encoding.apply(payload);
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(coding) = coding {
        headers.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    cors(&shared.config, &mut response);
    response
}

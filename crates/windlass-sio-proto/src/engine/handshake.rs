//! The Engine.IO handshake: the open packet, the query string and Node's HTTP error codes.

use super::{Packet, PacketType};
use crate::value::print::{write_string, write_u64};

/// The transports of Engine.IO v4 that windlass speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP long-polling (`transport=polling`).
    Polling,
    /// WebSocket (`transport=websocket`).
    WebSocket,
}

impl Transport {
    /// The name used in the query string and in `upgrades`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::WebSocket => "websocket",
        }
    }

    /// The transport named `name` (exact, case-sensitive, as in Node).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "polling" => Some(Self::Polling),
            "websocket" => Some(Self::WebSocket),
            _ => None,
        }
    }
}

/// The server's handshake: the JSON of the open packet `0{…}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenPacket {
    /// The session id.
    pub sid: String,
    /// Transports the client may upgrade to: `[WebSocket]` on a polling session, `[]` on a
    /// WebSocket one.
    pub upgrades: Vec<Transport>,
    /// Milliseconds between server pings (Node's default 25000).
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong (Node's default 20000).
    pub ping_timeout: u64,
    /// Largest message or polling body the server accepts, in bytes (Node's
    /// `maxHttpBufferSize`, default 1000000).
    pub max_payload: u64,
}

impl OpenPacket {
    /// Node's JSON, keys in Node's order:
    /// `{"sid":"…","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`.
    pub fn to_json(&self) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(128);
        out.extend_from_slice(b"{\"sid\":");
        write_string(&self.sid, &mut out);
        out.extend_from_slice(b",\"upgrades\":[");
        for (i, transport) in self.upgrades.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(transport.as_str(), &mut out);
        }
        out.extend_from_slice(b"],\"pingInterval\":");
        write_u64(self.ping_interval, &mut out);
        out.extend_from_slice(b",\"pingTimeout\":");
        write_u64(self.ping_timeout, &mut out);
        out.extend_from_slice(b",\"maxPayload\":");
        write_u64(self.max_payload, &mut out);
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }

    /// The open packet `0{…}`.
    pub fn to_packet(&self) -> Packet {
        Packet::text(PacketType::Open, self.to_json())
    }
}

/// Node's Engine.IO request errors (`Server.errors`), each with Node's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u8)]
pub enum ErrorCode {
    /// 0: `transport` missing or not served.
    #[error("Transport unknown")]
    UnknownTransport = 0,
    /// 1: `sid` names no live session.
    #[error("Session ID unknown")]
    UnknownSid = 1,
    /// 2: a handshake (no `sid`) that is not a GET.
    #[error("Bad handshake method")]
    BadHandshakeMethod = 2,
    /// 3: transport mismatch, protocol mismatch, a WebSocket handshake without upgrade, …
    #[error("Bad request")]
    BadRequest = 3,
    /// 4: the application refused the handshake (`allowRequest`).
    #[error("Forbidden")]
    Forbidden = 4,
    /// 5: `EIO` is not exactly `4` on a handshake (missing, `3`, `abc`: all this code).
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Node's message for the code (`"Session ID unknown"`).
    pub fn message(self) -> &'static str {
        match self {
            Self::UnknownTransport => "Transport unknown",
            Self::UnknownSid => "Session ID unknown",
            Self::BadHandshakeMethod => "Bad handshake method",
            Self::BadRequest => "Bad request",
            Self::Forbidden => "Forbidden",
            Self::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status of a polling answer: 403 for [`Forbidden`](Self::Forbidden), else 400.
    /// (A refused WebSocket upgrade always gets `400 Bad Request` with the message as a
    /// `text/html` body, in Node.)
    pub fn status(self) -> u16 {
        if self == Self::Forbidden { 403 } else { 400 }
    }

    /// The `application/json` body Node sends: `{"code":1,"message":"Session ID unknown"}`.
    pub fn json_body(self) -> String {
        self.json_body_with(self.message())
    }

    /// The JSON body with another message, as Node sends for `allowRequest` refusals that
    /// give one.
    pub fn json_body_with(self, message: &str) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(48 + message.len());
        out.extend_from_slice(b"{\"code\":");
        write_u64(u64::from(self.code()), &mut out);
        out.extend_from_slice(b",\"message\":");
        write_string(message, &mut out);
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The Engine.IO parameters of a request's query string.
///
/// Parsed as Node does (WHATWG `URLSearchParams`, then `Object.fromEntries`): `+` is a space,
/// `%XX` sequences are decoded (invalid ones kept as written), invalid UTF-8 becomes U+FFFD, and
/// the last of repeated names wins. Other parameters are left to the application.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineQuery {
    /// `EIO`: the protocol revision; only `"4"` is served.
    pub eio: Option<String>,
    /// `transport`: `polling` or `websocket`.
    pub transport: Option<String>,
    /// `sid`: the session of a follow-up request; empty counts as absent (a handshake), as in
    /// Node.
    pub sid: Option<String>,
    /// `t`: the client's cache buster, ignored by the server.
    pub t: Option<String>,
}

/// What a request that passed [`EngineQuery::verify`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified<'q> {
    /// A new session. Run the application's `allowRequest` ([`ErrorCode::Forbidden`]) and
    /// then [`EngineQuery::check_protocol`], in that order, as Node does.
    Handshake {
        /// The transport to open the session on.
        transport: Transport,
    },
    /// A request on the session `sid`. Unknown sid: [`ErrorCode::UnknownSid`]; otherwise run
    /// [`EngineQuery::check_session`].
    Session {
        /// The session id.
        sid: &'q str,
        /// The transport the request uses.
        transport: Transport,
    },
}

impl EngineQuery {
    /// Extracts the Engine.IO parameters from a query string (without the `?`).
    pub fn parse(query: &str) -> Self {
        let mut out = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match form_decode(name).as_str() {
                "EIO" => &mut out.eio,
                "transport" => &mut out.transport,
                "sid" => &mut out.sid,
                "t" => &mut out.t,
                _ => continue,
            };
            *slot = Some(form_decode(value));
        }
        out
    }

    /// Node's `verify()` checks that need no session state, in Node's order: the transport
    /// (must be one of `allowed`, else [`ErrorCode::UnknownTransport`]); then, without `sid`,
    /// the method (a handshake must be a `GET`: [`ErrorCode::BadHandshakeMethod`]) and that a
    /// WebSocket handshake comes as an upgrade ([`ErrorCode::BadRequest`]).
    ///
    /// `upgrade` is whether the request is a WebSocket upgrade.
    pub fn verify(
        &self,
        method: &str,
        upgrade: bool,
        allowed: &[Transport],
    ) -> Result<Verified<'_>, ErrorCode> {
        let transport = self
            .transport
            .as_deref()
            .and_then(Transport::from_name)
            .filter(|t| allowed.contains(t))
            .ok_or(ErrorCode::UnknownTransport)?;
        if let Some(sid) = self.sid.as_deref().filter(|sid| !sid.is_empty()) {
            return Ok(Verified::Session { sid, transport });
        }
        if method != "GET" {
            return Err(ErrorCode::BadHandshakeMethod);
        }
        if transport == Transport::WebSocket && !upgrade {
            return Err(ErrorCode::BadRequest);
        }
        Ok(Verified::Handshake { transport })
    }

    /// The handshake's protocol check: `EIO` must be exactly `"4"`, else
    /// [`ErrorCode::UnsupportedProtocolVersion`] (Node reads anything else as revision 3).
    pub fn check_protocol(&self) -> Result<(), ErrorCode> {
        if self.eio.as_deref() == Some("4") { Ok(()) } else { Err(ErrorCode::UnsupportedProtocolVersion) }
    }

    /// The checks on a request for a live session whose current transport is
    /// `session_transport`: without an upgrade the transport must match, and `EIO` must be
    /// `"4"` (both [`ErrorCode::BadRequest`], as in Node).
    pub fn check_session(&self, session_transport: Transport, upgrade: bool) -> Result<(), ErrorCode> {
        let transport = self.transport.as_deref().and_then(Transport::from_name);
        if !upgrade && transport != Some(session_transport) {
            return Err(ErrorCode::BadRequest);
        }
        self.check_protocol().map_err(|_| ErrorCode::BadRequest)
    }
}

/// `application/x-www-form-urlencoded` decoding, as `URLSearchParams` does it.
/// The name-value pairs of a query string (without the `?`), each form-decoded as
/// `URLSearchParams` does (`+` is a space, `%XX` a byte, bad escapes kept as they are), in
/// order, repeats kept.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(name), form_decode(value))
    })
}

fn form_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return raw.to_owned();
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

//! Engine.IO v4 over windlass: sessions that outlive their HTTP requests and move from
//! long-polling to a WebSocket, the server's heartbeat, and the requests that drive them.
//!
//! An [`Engine`] owns the sessions of one endpoint (`/socket.io/`). A session is opened by a
//! handshake (a polling GET, or a WebSocket upgrade without `sid`) and then driven by its
//! transport: polling GETs drain its queue and POSTs feed it, or a WebSocket connection does
//! both. A polling session can upgrade: a WebSocket with the session's `sid` probes
//! (`2probe` → `3probe`), the pending GET is released with a noop, and `5` switches the
//! session over, its queue following in order. What arrives is handed to the
//! [`EngineHandler`] (the Socket.IO layer, or an application speaking raw Engine.IO).

mod polling;
pub(crate) mod session;
mod timers;
mod websocket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, HeaderValue, UPGRADE};
use http::{Method, Request, Response, StatusCode};
use windlass_sio_proto::engine::{EngineQuery, ErrorCode, Transport, Verified};

pub use self::session::CloseReason;
pub(crate) use self::session::EngineSession;
use self::websocket::EngineWs;
use crate::http_server::{Body, HttpComponent as _};
use crate::io_server::ConnectionId;
use crate::ws_server::WsServer;

/// What an [`Engine`] hands its sessions' traffic to.
pub(crate) trait EngineHandler: Send + Sync + 'static {
    /// A session opened; its open packet is on its way.
    fn on_open(&self, session: &Arc<EngineSession>);
    /// A message (`4…` or a binary message) arrived on the session.
    fn on_message(&self, session: &Arc<EngineSession>, message: EngineMessage);
    /// The session closed; nothing more can be sent on it.
    fn on_close(&self, session: &Arc<EngineSession>, reason: CloseReason);
    /// How long after opening a session [`on_connect_deadline`](Self::on_connect_deadline)
    /// is called (Socket.IO's `connectTimeout`); `None` for never.
    fn connect_deadline(&self) -> Option<Duration> {
        None
    }
    /// The connect deadline passed (once per session).
    fn on_connect_deadline(&self, session: &Arc<EngineSession>) {
        let _ = session;
    }
}

/// One Engine.IO message: text or binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EngineMessage {
    Text(windlass_sio_proto::Utf8Bytes),
    Binary(Bytes),
}

/// Engine.IO settings (Node's names in the comments).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How often the server pings (`pingInterval`); default 25 s.
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the session closes (`pingTimeout`); default
    /// 20 s.
    pub ping_timeout: Duration,
    /// Largest message, and largest polling body, accepted (`maxHttpBufferSize`); default
    /// 1,000,000 bytes. A bigger one ends the session (WebSocket: closed with 1009; polling:
    /// 413).
    pub max_payload: usize,
    /// How long a WebSocket may take between its probe and `5` (`upgradeTimeout`); default 10 s.
    pub upgrade_timeout: Duration,
    /// Whether sessions may use (and start on) HTTP long-polling; default true.
    pub polling: bool,
    /// Whether sessions may use a WebSocket; default true.
    pub websocket: bool,
    /// `Access-Control-Allow-Origin` on polling answers (`cors.origin`); default `*`. `None`
    /// sends no CORS headers.
    pub cors_origin: Option<HeaderValue>,
    /// Most bytes queued for one session before it counts as a slow consumer and is closed;
    /// default 16 MiB.
    pub max_send_queue: usize,
    /// permessage-deflate on WebSocket transports (`perMessageDeflate`); default off, as in
    /// Node. With it on, a broadcast's `compress(false)` sends uncompressed.
    pub per_message_deflate: Option<windlass_proto::deflate::DeflateConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            upgrade_timeout: Duration::from_secs(10),
            polling: true,
            websocket: true,
            cors_origin: Some(HeaderValue::from_static("*")),
            max_send_queue: 16 << 20,
            per_message_deflate: None,
        }
    }
}

impl EngineConfig {
    fn transports(&self) -> Vec<Transport> {
        let mut transports = Vec::with_capacity(2);
        if self.polling {
            transports.push(Transport::Polling);
        }
        if self.websocket {
            transports.push(Transport::WebSocket);
        }
        transports
    }
}

/// What the sessions of one endpoint share.
pub(crate) struct EngineShared {
    pub(crate) config: EngineConfig,
    sessions: Mutex<HashMap<Arc<str>, Arc<EngineSession>>>,
    pub(crate) handler: Arc<dyn EngineHandler>,
    /// Every session's heartbeat and connect deadline.
    timers: timers::Timers,
    /// What each WebSocket connection of the endpoint is to its session. Kept here rather
    /// than in each connection's extensions: a map entry costs a few dozen bytes, a
    /// connection's first extension a few allocations.
    roles: Mutex<HashMap<ConnectionId, websocket::Role, foldhash::fast::RandomState>>,
}

impl EngineShared {
    pub(crate) fn session(&self, sid: &str) -> Option<Arc<EngineSession>> {
        lock(&self.sessions).get(sid).cloned()
    }

    /// Closes every session with `reason`.
    pub(crate) fn close_all(&self, reason: CloseReason) {
        let sessions: Vec<Arc<EngineSession>> = lock(&self.sessions).values().cloned().collect();
        for session in sessions {
            session.close(reason);
        }
    }

    pub(crate) fn remove(&self, sid: &str) {
        lock(&self.sessions).remove(sid);
    }

    fn role(&self, id: ConnectionId) -> Option<websocket::Role> {
        lock(&self.roles).get(&id).cloned()
    }

    fn set_role(&self, id: ConnectionId, role: websocket::Role) {
        lock(&self.roles).insert(id, role);
    }

    fn take_role(&self, id: ConnectionId) -> Option<websocket::Role> {
        lock(&self.roles).remove(&id)
    }

    fn insert(&self, session: &Arc<EngineSession>) {
        lock(&self.sessions).insert(Arc::clone(&session.sid), Arc::clone(session));
    }
}

/// The Engine.IO endpoint: answers the requests of its path.
pub(crate) struct Engine {
    pub(crate) shared: Arc<EngineShared>,
    ws: WsServer<EngineWs>,
}

impl Engine {
    pub(crate) fn new(config: EngineConfig, handler: Arc<dyn EngineHandler>) -> Self {
        let max_payload = config.max_payload;
        let deflate = config.per_message_deflate;
        let shared = Arc::new(EngineShared {
            config,
            sessions: Mutex::new(HashMap::new()),
            handler,
            timers: timers::Timers::default(),
            roles: Mutex::new(HashMap::default()),
        });
        // Engine.IO runs its own heartbeat (pings are packets, not frames); the frame loop's
        // keep-alive would only add a second one.
        let mut ws = WsServer::new(EngineWs { shared: Arc::clone(&shared) })
            .max_message_size(max_payload)
            .max_frame_size(max_payload)
            .no_keep_alive();
        if let Some(deflate) = deflate {
            ws = ws.deflate(deflate);
        }
        Self { shared, ws }
    }

    /// Answers one request for the endpoint's path.
    pub(crate) async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        let config = &self.shared.config;
        if request.method() == Method::OPTIONS {
            return preflight(config, &request);
        }
        let query = EngineQuery::parse(request.uri().query().unwrap_or(""));
        let upgrade = is_websocket_upgrade(&request);
        let verified = match query.verify(request.method().as_str(), upgrade, &config.transports()) {
            Ok(verified) => verified,
            Err(code) => return self.refuse(code, upgrade),
        };
        match verified {
            Verified::Handshake { transport } => {
                if let Err(code) = query.check_protocol() {
                    return self.refuse(code, upgrade);
                }
                match transport {
                    Transport::Polling => polling::handshake(&self.shared, &request),
                    Transport::WebSocket => self.ws.on_request(request).await,
                }
            }
            Verified::Session { sid, transport } => {
                let Some(session) = self.shared.session(sid) else {
                    return self.refuse(ErrorCode::UnknownSid, upgrade);
                };
                if let Err(code) = query.check_session(session.transport(), upgrade) {
                    return self.refuse(code, upgrade);
                }
                match transport {
                    // A WebSocket for a session that cannot take it (upgraded, or another probing)
                    // is accepted and closed at once, as by Node.
                    Transport::WebSocket if upgrade => self.ws.on_request(request).await,
                    Transport::WebSocket => self.refuse(ErrorCode::BadRequest, upgrade),
                    Transport::Polling if request.method() == Method::GET => {
                        let encoding = polling::Encoding::accepted(&request);
                        polling::get(&self.shared, session, encoding).await
                    }
                    Transport::Polling if request.method() == Method::POST => {
                        polling::post(&self.shared, session, request).await
                    }
                    // Node answers other methods on a session with a bare 500.
                    Transport::Polling => {
                        let mut response = Response::new(Body::empty());
                        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        cors(&self.shared.config, &mut response);
                        response
                    }
                }
            }
        }
    }

    /// Node's answer to a request it refuses: JSON with the code, or for a WebSocket upgrade
    /// a plain 400.
    fn refuse(&self, code: ErrorCode, upgrade: bool) -> Response<Body> {
        tracing::debug!(code = code.code(), message = code.message(), upgrade, "engine.io request refused");
        if upgrade {
            let mut response = Response::new(Body::from(code.message().to_owned()));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
            return crate::http_server::response::closing(response);
        }
        refusal_json(&self.shared, code)
    }
}

/// Node's bare 400, for requests that break a session's order (two GETs or POSTs at once).
pub(crate) fn bare_400(shared: &EngineShared) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::BAD_REQUEST;
    cors(&shared.config, &mut response);
    response
}

/// Node's 400 (or 403) with `{"code":…,"message":…}`.
pub(crate) fn refusal_json(shared: &EngineShared, code: ErrorCode) -> Response<Body> {
    let mut response = Response::new(Body::from(code.json_body()));
    *response.status_mut() = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    cors(&shared.config, &mut response);
    response
}

fn is_websocket_upgrade(request: &Request<Body>) -> bool {
    request
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The CORS preflight: 204 with the methods a polling client uses and the headers it asked
/// for.
fn preflight(config: &EngineConfig, request: &Request<Body>) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    cors(config, &mut response);
    let headers = response.headers_mut();
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
    );
    if let Some(asked) = request.headers().get(http::header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(http::header::VARY, HeaderValue::from_static("Access-Control-Request-Headers"));
    response
}

pub(crate) fn cors(config: &EngineConfig, response: &mut Response<Body>) {
    if let Some(origin) = &config.cors_origin {
        response.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A random id as Node's `base64id` makes them: 15 random bytes, 20 URL-safe characters.
pub(crate) fn random_id() -> Arc<str> {
    use base64::Engine as _;
    let mut bytes = [0u8; 15];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let mut text = [0u8; 20];
    let written = base64::engine::general_purpose::URL_SAFE
        .encode_slice(bytes, &mut text)
        .expect("15 bytes are 20 base64 characters");
    Arc::from(std::str::from_utf8(&text[..written]).expect("base64 is ASCII"))
}

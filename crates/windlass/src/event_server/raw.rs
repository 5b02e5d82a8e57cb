//! Raw Engine.IO (Node's `engine.io` package): sessions that carry text and binary messages
//! over long-polling and WebSocket, without Socket.IO's namespaces and events.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{BufMut as _, Bytes, BytesMut};
use http::{Request, Response};

use super::engine::session::Outgoing;
use super::engine::{CloseReason, Engine, EngineConfig, EngineHandler, EngineMessage, EngineSession};
use crate::http_server::{Body, HttpComponent};

/// A message on a raw Engine.IO session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineIoMessage {
    /// Text (`4…` on the wire).
    Text(String),
    /// Bytes (a binary frame, or `b` + base64 over polling).
    Binary(Bytes),
}

/// What a raw Engine.IO endpoint hands its sessions' traffic to.
pub trait EngineIoHandler: Send + Sync + 'static {
    /// A session opened.
    fn on_open(&self, session: &EngineIoSession) {
        let _ = session;
    }

    /// A message arrived.
    fn on_message(&self, session: &EngineIoSession, message: EngineIoMessage);

    /// The session closed.
    fn on_close(&self, session: &EngineIoSession, reason: CloseReason) {
        let _ = (session, reason);
    }
}

/// One raw Engine.IO session.
#[derive(Clone, Debug)]
pub struct EngineIoSession(Arc<EngineSession>);

impl EngineIoSession {
    /// The session id (`sid`).
    pub fn id(&self) -> &str {
        &self.0.sid
    }

    /// Sends a message; false if the session is closed.
    pub fn send(&self, message: EngineIoMessage) -> bool {
        let packet = match message {
            EngineIoMessage::Text(text) => {
                let mut bytes = BytesMut::with_capacity(1 + text.len());
                bytes.put_u8(b'4');
                bytes.put_slice(text.as_bytes());
                Outgoing::Text(bytes.freeze())
            }
            EngineIoMessage::Binary(bytes) => Outgoing::Binary(bytes),
        };
        self.0.send([packet])
    }

    /// Closes the session (the client gets a close packet).
    pub fn close(&self) {
        self.0.close(CloseReason::ForcedClose);
    }
}

struct Adapter<H>(H);

impl<H: EngineIoHandler> EngineHandler for Adapter<H> {
    fn on_open(&self, session: &Arc<EngineSession>) {
        self.0.on_open(&EngineIoSession(Arc::clone(session)));
    }

    fn on_message(&self, session: &Arc<EngineSession>, message: EngineMessage) {
        let message = match message {
            EngineMessage::Text(text) => EngineIoMessage::Text(text.as_str().to_owned()),
            EngineMessage::Binary(bytes) => EngineIoMessage::Binary(bytes),
        };
        self.0.on_message(&EngineIoSession(Arc::clone(session)), message);
    }

    fn on_close(&self, session: &Arc<EngineSession>, reason: CloseReason) {
        self.0.on_close(&EngineIoSession(Arc::clone(session)), reason);
    }
}

/// An HTTP component serving raw Engine.IO at a path (`/engine.io/`).
pub struct EngineIoServer {
    path: String,
    engine: Engine,
}

impl EngineIoServer {
    /// Serves Engine.IO at `path` with `config`, handing traffic to `handler`.
    pub fn new(path: impl Into<String>, config: EngineConfig, handler: impl EngineIoHandler) -> Self {
        let mut path = path.into();
        if !path.ends_with('/') {
            path.push('/');
        }
        Self { path, engine: Engine::new(config, Arc::new(Adapter(handler))) }
    }
}

#[async_trait]
impl HttpComponent for EngineIoServer {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        let path = request.uri().path();
        if path == self.path || path == self.path.trim_end_matches('/') {
            return self.engine.on_request(request).await;
        }
        super::not_found()
    }
}

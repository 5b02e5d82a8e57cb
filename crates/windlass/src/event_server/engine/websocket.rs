//! The WebSocket transport: a connection that opens a session, or probes an upgrade of a
//! polling one and then takes it over.

use std::sync::Arc;

use windlass_sio_proto::engine::{self, PacketType, Transport};

use super::session::{CloseReason, EngineSession};
use super::{EngineMessage, EngineShared, polling};
use crate::component::{CloseInfo, MessageComponent};
use crate::error::BoxError;
use crate::message::Message;
use crate::session::Connection;
use windlass_proto::CloseCode;

/// The component behind the endpoint's `WsServer`.
pub(crate) struct EngineWs {
    pub(super) shared: Arc<EngineShared>,
}

/// What a WebSocket is to its session, kept by the engine by connection id (see
/// `EngineShared::roles`).
#[derive(Clone)]
pub(super) enum Role {
    /// The session runs on this connection.
    Transport(Arc<EngineSession>),
    /// The connection came to upgrade a polling session and has not sent `5` yet.
    Probe(Arc<EngineSession>),
}

impl MessageComponent for EngineWs {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        let Some(request) = conn.request() else {
            return Err("engine.io websocket without its request".into());
        };
        let query = engine::EngineQuery::parse(request.uri().query().unwrap_or(""));
        let handshake = polling::handshake_of(request);
        match query.sid.filter(|sid| !sid.is_empty()) {
            None => {
                let session =
                    EngineSession::open(&self.shared, Transport::WebSocket, Some(conn.handle()), handshake);
                conn.send(polling::open_packet(&self.shared, &session, Transport::WebSocket))?;
                self.shared.set_role(conn.id(), Role::Transport(Arc::clone(&session)));
                self.shared.handler.on_open(&session);
            }
            Some(sid) => match self.shared.session(&sid).filter(|s| s.can_upgrade()) {
                Some(session) => {
                    self.shared.set_role(conn.id(), Role::Probe(session));
                    // Node gives up on a WebSocket that does not finish its upgrade in time.
                    let handle = conn.handle();
                    let timeout = self.shared.config.upgrade_timeout;
                    tokio::spawn(async move {
                        tokio::time::sleep(timeout).await;
                        let _ = handle.close(CloseCode::NO_STATUS, "");
                    });
                }
                None => conn.close(CloseCode::NO_STATUS, ""),
            },
        }
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        let Some(role) = self.shared.role(conn.id()) else {
            return Ok(());
        };
        let packet = match msg {
            Message::Text(text) => {
                let text = windlass_sio_proto::Utf8Bytes::from_utf8(text.into_bytes())?;
                engine::Packet::decode_text(text)
            }
            Message::Binary(bytes) => Ok(engine::Packet::binary(bytes)),
        };
        match role {
            Role::Transport(session) => match packet {
                Ok(packet) => on_packet(&session, packet),
                Err(e) => {
                    tracing::debug!(sid = %session.sid, error = %e, "bad websocket packet");
                    session.close(CloseReason::ParseError);
                }
            },
            Role::Probe(session) => match packet {
                Ok(packet) if packet.kind == PacketType::Ping && packet.is_probe() => {
                    if session.begin_upgrade(conn.handle()) {
                        conn.send("3probe")?;
                    } else {
                        conn.close(CloseCode::NO_STATUS, "");
                    }
                }
                Ok(packet) if packet.kind == PacketType::Upgrade => {
                    if session.finish_upgrade() {
                        self.shared.set_role(conn.id(), Role::Transport(session));
                    } else {
                        conn.close(CloseCode::NO_STATUS, "");
                    }
                }
                // Node drops a WebSocket that sends anything else while upgrading.
                _ => {
                    session.cancel_upgrade();
                    self.shared.take_role(conn.id());
                    conn.close(CloseCode::NO_STATUS, "");
                }
            },
        }
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, close: CloseInfo) {
        match self.shared.take_role(conn.id()) {
            Some(Role::Transport(session)) if session.is_current_ws(conn.id()) => {
                // A message too large or broken framing is an error; any other end a close.
                let reason = match close.code {
                    CloseCode::TOO_BIG | CloseCode::PROTOCOL_ERROR | CloseCode::INVALID_PAYLOAD => {
                        CloseReason::TransportError
                    }
                    // The core's own close when the server stops (`IoServer` shutdown).
                    CloseCode::GOING_AWAY if close.reason == "server shutting down" => {
                        CloseReason::ServerShuttingDown
                    }
                    _ => CloseReason::TransportClose,
                };
                session.close(reason);
            }
            Some(Role::Probe(session)) => session.cancel_upgrade(),
            _ => {}
        }
    }
}

/// Acts on one packet from the session's WebSocket.
fn on_packet(session: &Arc<EngineSession>, packet: engine::Packet) {
    match (packet.kind, packet.data) {
        (_, engine::Data::Binary(bytes)) => session.deliver(EngineMessage::Binary(bytes)),
        (PacketType::Message, engine::Data::Text(text)) => session.deliver(EngineMessage::Text(text)),
        (PacketType::Message, engine::Data::None) => {
            session.deliver(EngineMessage::Text(windlass_sio_proto::Utf8Bytes::default()));
        }
        (PacketType::Pong, _) => session.on_pong(),
        (PacketType::Ping, _) => {
            tracing::debug!(sid = %session.sid, "ping from a v4 client");
            session.close(CloseReason::ParseError);
        }
        // Node ignores a close packet on a WebSocket (the socket's close ends the session),
        // and the upgrade packets once upgraded.
        (PacketType::Close | PacketType::Open | PacketType::Upgrade | PacketType::Noop, _) => {}
    }
}

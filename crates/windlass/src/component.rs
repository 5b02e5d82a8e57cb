//! The trait users implement: Ratchet's `MessageComponentInterface`.

use std::future::Future;
use std::sync::Arc;

use windlass_proto::CloseCode;

use crate::error::{BoxError, Error};
use crate::message::Message;
use crate::session::Connection;

/// How a connection ended, as passed to [`MessageComponent::on_close`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code: the peer's when the peer closed, ours when we did and the peer answered
    /// (1001 on shutdown, 1011 when a callback failed), the one we failed the connection with
    /// on protocol errors (1002/1007/1009), 1005 when the peer's close frame carried no code,
    /// and 1006 when no close frame came back: the connection broke, the peer never answered
    /// our close, or the server stopped before it did.
    /// Over raw TCP: 1000 when the peer closed its side, 1006 when the connection broke.
    pub code: CloseCode,
    /// The reason that came with the code; may be empty.
    pub reason: String,
    /// Whether the close handshake completed (both sides sent a close frame; over raw TCP,
    /// the peer closed its side).
    pub clean: bool,
}

/// A server application: Ratchet's four callbacks, one component for every connection.
///
/// Implement it with `async fn`s; only [`on_message`](Self::on_message) is required. The same
/// component runs over WebSocket (`IoServer(HttpServer(WsServer(c)))`) and over raw TCP
/// (`IoServer(c)`, one line per message).
///
/// ```
/// use windlass::{BoxError, Connection, Message, MessageComponent};
///
/// struct Echo;
///
/// impl MessageComponent for Echo {
///     async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
///         conn.send(msg)?;
///         Ok(())
///     }
/// }
/// ```
///
/// # Guarantees
///
/// 1. For one connection, callbacks never overlap and arrive in order: `on_open`, then
///    `on_message` for each message in the order the peer sent them, then `on_close`
///    (preceded by `on_error` when the connection failed).
/// 2. `on_close` runs exactly once for every connection whose `on_open` ran, however the
///    connection ended: peer close, our close, protocol error, I/O error, keep-alive timeout,
///    server shutdown, or a failing callback.
/// 3. A callback that returns an error or panics closes only its own connection, with 1011;
///    `on_error` sees the error first. The server keeps serving everyone else.
/// 4. While a callback runs, its connection reads nothing more, so a slow callback slows only
///    its own peer. Other connections run on other tasks.
pub trait MessageComponent: Send + Sync + 'static {
    /// A connection opened (after the WebSocket handshake; at accept over raw TCP).
    fn on_open(&self, conn: &mut Connection) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// A whole message arrived.
    fn on_message(
        &self,
        conn: &mut Connection,
        msg: Message,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// The connection closed; sending is no longer possible.
    fn on_close(&self, conn: &mut Connection, close: CloseInfo) -> impl Future<Output = ()> + Send {
        let _ = (conn, close);
        async {}
    }

    /// The connection failed; `on_close` follows.
    fn on_error(&self, conn: &mut Connection, error: Error) -> impl Future<Output = ()> + Send {
        let _ = conn;
        async move {
            tracing::debug!(%error, "connection error");
        }
    }

    /// Sub-protocols this component speaks, in order of preference
    /// (Ratchet's `WsServerInterface::getSubProtocols`).
    fn sub_protocols(&self) -> &[&'static str] {
        &[]
    }
}

impl<C: MessageComponent> MessageComponent for Arc<C> {
    fn on_open(&self, conn: &mut Connection) -> impl Future<Output = Result<(), BoxError>> + Send {
        (**self).on_open(conn)
    }

    fn on_message(
        &self,
        conn: &mut Connection,
        msg: Message,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        (**self).on_message(conn, msg)
    }

    fn on_close(&self, conn: &mut Connection, close: CloseInfo) -> impl Future<Output = ()> + Send {
        (**self).on_close(conn, close)
    }

    fn on_error(&self, conn: &mut Connection, error: Error) -> impl Future<Output = ()> + Send {
        (**self).on_error(conn, error)
    }

    fn sub_protocols(&self) -> &[&'static str] {
        (**self).sub_protocols()
    }
}

//! The named chat's component, shared by the `named_chat` example (WebSocket or raw TCP) and
//! the `web_chat` example (a page and its socket on one port).
//!
//! Each client is first asked `Enter your name:`; its first non-blank message (trimmed) is its
//! name, and it is greeted with `Welcome, NAME!`. The others then see `NAME joined`, then
//! `NAME: TEXT` for each of its messages, and `NAME left` when it goes. A client that has not
//! chosen a name yet hears nothing from the chat. The name is per-connection data, kept in the
//! connection's extensions.

use windlass::{BoxError, CloseInfo, Connection, ConnectionPool, Message, MessageComponent};

pub(crate) const PROMPT: &str = "Enter your name:";

/// The clients that have chosen a name; only they take part in the chat.
#[derive(Default)]
pub(crate) struct NamedChat {
    named: ConnectionPool,
}

/// A connection's name, stored in its extensions once chosen.
#[derive(Clone)]
struct Name(String);

impl MessageComponent for NamedChat {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        conn.send(PROMPT)?;
        Ok(())
    }

    async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
        // A chat of text: a binary message (over raw TCP, a line that is not UTF-8) is read as
        // text too, with U+FFFD for what is not UTF-8.
        let text = String::from_utf8_lossy(msg.as_bytes());
        if let Some(Name(name)) = conn.extensions().get::<Name>() {
            if !text.trim().is_empty() {
                self.named.broadcast_except(conn.id(), format!("{name}: {text}"));
            }
            return Ok(());
        }
        let name = text.trim();
        if name.is_empty() {
            conn.send(PROMPT)?;
            return Ok(());
        }
        self.named.attach(conn);
        self.named.broadcast_except(conn.id(), format!("{name} joined"));
        conn.send(format!("Welcome, {name}!"))?;
        conn.extensions_mut().insert(Name(name.to_owned()));
        Ok(())
    }

    async fn on_close(&self, conn: &mut Connection, _: CloseInfo) {
        if let Some(Name(name)) = conn.extensions().get::<Name>() {
            self.named.detach(conn.id());
            self.named.broadcast(format!("{name} left"));
        }
    }
}

//! What can go wrong on an upgraded connection, and reading decoded events off one.

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::frame::{Decoder, Event, FrameError};
use crate::upgrade::UpgradeError;

/// Room made in a read buffer before each read: small enough for ten thousand idle
/// subscribers, large enough that a read usually takes everything the socket holds.
const READ_RESERVE: usize = 8 * 1024;

/// Why a connection (or one handshake cycle) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ConnError {
    /// The handshake failed.
    #[error(transparent)]
    Upgrade(#[from] UpgradeError),
    /// A read or write failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// TCP EOF where a message was due.
    #[error("server closed the connection unexpectedly")]
    Eof,
    /// A close frame where a message was due.
    #[error("server sent close{}", .0.map(|c| format!(" ({c})")).unwrap_or_default())]
    ServerClosed(Option<u16>),
    /// The server's bytes are not valid WebSocket frames.
    #[error("protocol: {0}")]
    Frame(#[from] FrameError),
    /// More echo bytes arrived than messages were sent (throughput mode cannot tell why: a
    /// fragmented echo, a ping, or a server talking out of turn; --validate parses).
    #[error("server sent more than was echoed")]
    Unsolicited,
    /// An echo whose opcode or payload differs from what was sent.
    #[error("echo differs from the message sent: {0}")]
    Mismatch(String),
}

/// Reads until `on_event` accepts a decoded event, decoding what `buf` already holds first.
/// Events it declines (returns `None` for) are consumed and skipped.
pub(crate) async fn next_event<R, T>(
    rd: &mut R,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
    mut on_event: impl FnMut(Event<'_>) -> Option<T>,
) -> Result<T, ConnError>
where
    R: AsyncRead + Unpin,
{
    loop {
        let (used, event) = decoder.decode(buf)?;
        if used == 0 {
            buf.reserve(READ_RESERVE);
            if rd.read_buf(buf).await? == 0 {
                return Err(ConnError::Eof);
            }
            continue;
        }
        let accepted = event.and_then(&mut on_event);
        buf.advance(used);
        if let Some(t) = accepted {
            return Ok(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{OP_BINARY, OP_TEXT};

    #[tokio::test(flavor = "current_thread")]
    async fn skips_declined_events_and_reports_eof() {
        let stream: &[u8] = &[0x89, 0x00, 0x82, 0x02, 7, 8, 0x81, 0x01, b'x'];
        let mut rd = stream;
        let mut buf = BytesMut::new();
        let mut decoder = Decoder::default();
        let take_message = |e: Event<'_>| match e {
            Event::Message { opcode, payload } => Some((opcode, payload.to_vec())),
            _ => None,
        };
        let first = next_event(&mut rd, &mut buf, &mut decoder, take_message).await.unwrap();
        assert_eq!(first, (OP_BINARY, vec![7, 8]));
        let second = next_event(&mut rd, &mut buf, &mut decoder, take_message).await.unwrap();
        assert_eq!(second, (OP_TEXT, b"x".to_vec()));
        let end = next_event(&mut rd, &mut buf, &mut decoder, take_message).await;
        assert!(matches!(end, Err(ConnError::Eof)));
    }
}

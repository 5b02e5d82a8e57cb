//! Errors reported to components and returned by sends.

use std::time::Duration;

use windlass_proto::{CloseCode, LineTooLong, ProtocolError};

/// An error a component may return from a callback: anything that is `Error + Send + Sync`,
/// so `?` works on most error types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a connection failed, as passed to [`MessageComponent::on_error`].
///
/// [`Error::close_code`] is the close code the connection is closed with.
///
/// [`MessageComponent::on_error`]: crate::MessageComponent::on_error
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke RFC 6455.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// A raw-TCP peer sent a line longer than the limit.
    #[error("{0}")]
    LineTooLong(#[from] LineTooLong),
    /// A callback returned an error.
    #[error("component error: {0}")]
    Component(BoxError),
    /// A callback panicked.
    #[error("component panicked: {0}")]
    Panic(String),
    /// The peer answered neither a keep-alive ping nor anything else in time.
    #[error("no response to keep-alive ping within {0:?}")]
    KeepAliveTimeout(Duration),
    /// The peer read so slowly that its send queue passed its limit.
    #[error("send queue passed {limit} bytes: peer reads too slowly")]
    SlowConsumer {
        /// The queue limit in bytes.
        limit: usize,
    },
}

impl Error {
    /// The close code the connection is closed with because of this error.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::Io(_) | Self::KeepAliveTimeout(_) => CloseCode::ABNORMAL,
            Self::Protocol(e) => e.close_code(),
            Self::LineTooLong(_) => CloseCode::TOO_BIG,
            Self::Component(_) | Self::Panic(_) => CloseCode::INTERNAL_ERROR,
            Self::SlowConsumer { .. } => CloseCode::POLICY_VIOLATION,
        }
    }
}

/// A message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closing or closed.
    #[error("connection is closed")]
    Closed,
    /// The send queue is over its limit and the policy is [`SlowConsumer::Error`].
    ///
    /// [`SlowConsumer::Error`]: crate::SlowConsumer::Error
    #[error("send queue is full")]
    QueueFull,
}

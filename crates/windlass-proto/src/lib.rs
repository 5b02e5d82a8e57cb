//! The protocol core of windlass: everything the network can send a server, parsed without
//! sockets, tasks or clocks.
//!
//! - [`head`] parses one HTTP/1.1 request head under size and header-count limits.
//! - [`body`] decides how a request body is delimited, refusing request-smuggling shapes, and
//!   decodes it ([`BodyDecoder`]): `Content-Length` and chunked, under size limits; it also writes
//!   response heads and chunk framing.
//! - [`handshake`] validates a WebSocket upgrade request (RFC 6455 §4.2) and writes the responses.
//! - [`frame`] encodes and decodes frame headers; [`mask`] applies the client mask.
//! - [`decoder`] turns bytes into whole messages and control frames ([`WsDecoder`]): fragmentation,
//!   incremental UTF-8 validation, size limits, close-frame validation.
//! - [`line`](mod@line) splits a byte stream into lines for raw TCP servers.
//! - [`close`] names the close codes and says which may appear on the wire.
//! - [`lifecycle`] decides when and how a connection closes ([`Lifecycle`]): the close
//!   handshake, failing on protocol errors, keep-alive pings; fed with time, it queues what the
//!   I/O layer must do.
//!
//! Every decoder here follows the tokio-util contract: `Ok(None)` means "need more bytes", and
//! exactly the bytes that make up what is returned are consumed. Hostile input yields an error
//! that says what goes on the wire (`status()` for HTTP, `close_code()` for WebSocket); it never
//! panics.
//!
//! ```
//! use bytes::BytesMut;
//! use windlass_proto::{DecoderConfig, Event, WsDecoder};
//!
//! // A masked text frame "Hi" as a browser sends it.
//! let mut buf = BytesMut::from(&[0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2][..]);
//! let mut decoder = WsDecoder::new(DecoderConfig::default());
//! match decoder.decode(&mut buf)? {
//!     Some(Event::Text(text)) => assert_eq!(&text[..], b"Hi"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), windlass_proto::ProtocolError>(())
//! ```

pub mod body;
pub mod close;
pub mod decoder;
pub mod deflate;
pub mod frame;
// Fuzz harnesses shared by `fuzz/` and the stable seed-replay test; not part of the API.
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod head;
pub mod lifecycle;
pub mod line;
pub mod mask;
pub mod utf8;

pub use body::{BodyDecoder, BodyError, BodyFraming, BodyLimits, Decoded};
pub use close::{CloseCode, CloseFrame};
pub use decoder::{DecoderConfig, Event, ProtocolError, WsDecoder};
pub use frame::{FrameHead, FrameHeader, OpCode};
pub use handshake::{Accepted, HandshakeError};
pub use head::{HeadError, HeadLimits};
pub use lifecycle::{CloseReport, Lifecycle, LifecycleConfig};
pub use line::{LineDecoder, LineTooLong};

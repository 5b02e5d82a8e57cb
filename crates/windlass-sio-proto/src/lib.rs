//! The Socket.IO wire protocol for windlass, without sockets, tasks or clocks: bytes in,
//! packets out, and back.
//!
//! - [`engine`]: Engine.IO v4 — the transport packets (`0{…}`, `2`, `3`, `4hello`, binary
//!   messages) over WebSocket frames and long-polling bodies, the handshake's open packet, the
//!   query string and Node's HTTP error codes.
//! - [`socket`]: Socket.IO v5 — namespaces, events, acks, binary attachments, with
//!   socket.io-parser's validation and a bounded attachment count.
//! - [`Value`]: JSON with binary anywhere, printed byte for byte as Node's `JSON.stringify`
//!   would, with serde ([`to_value`], [`from_value`]) and `serde_json` conversions.
//!
//! The reference is Node's socket.io 4.8 (engine.io 6.6, engine.io-parser 5.2,
//! socket.io-parser 4.2); where this crate refuses input Node accepts, the item says so.
//!
//! An event from a client over WebSocket, decoded and answered:
//!
//! ```
//! use windlass_sio_proto::{Utf8Bytes, Value, engine, socket};
//!
//! // The WebSocket text frame `42["chat",{"text":"hi"}]`.
//! let frame = engine::Frame::Text(Utf8Bytes::from(r#"42["chat",{"text":"hi"}]"#));
//! let packet = engine::Packet::decode_frame(frame)?;
//! let engine::Data::Text(text) = packet.data else { unreachable!() };
//!
//! let mut decoder = socket::Decoder::default();
//! let event = decoder.decode_text(text)?.expect("no attachments");
//! let (name, args) = event.into_event().unwrap();
//! assert_eq!(name, "chat");
//! assert_eq!(args[0].get("text"), Some(&Value::from("hi")));
//!
//! // Encode the reply once; every recipient gets the same bytes.
//! let reply = socket::Packet::event("/", "chat", args).encode();
//! let frame = engine::Packet::message(reply.text).to_frame();
//! assert_eq!(frame, engine::Frame::Text(r#"42["chat",{"text":"hi"}]"#.into()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod engine;
// Fuzz harnesses shared by `fuzz/` and the stable tests; not part of the API.
#[doc(hidden)]
pub mod fuzzing;
pub mod socket;
mod text;
mod value;

pub use text::Utf8Bytes;
pub use value::{
    BinaryInJson, DEFAULT_MAX_DEPTH, JsonError, MAX_SAFE_INTEGER, Map, Number, Value, ValueError, from_value,
    to_value,
};

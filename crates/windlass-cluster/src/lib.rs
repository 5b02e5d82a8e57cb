//! Several windlass nodes sharing rooms and broadcasts.

pub mod wire;

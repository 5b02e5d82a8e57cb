//! Session ids: unique across processes and machines, for a cluster to route by.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A session's id, unique across processes and machines: 128 bits from the operating system's
/// random source, shown as 22 URL-safe base64 characters. It is hard to guess, so it can name
/// a session to a client that later resumes it.
///
/// The cheap [`ConnectionId`](crate::ConnectionId) numbers connections within one process;
/// this one is drawn when first asked for, so sessions that never need it cost nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// A new random id.
    ///
    /// # Panics
    ///
    /// If the operating system has no random source to give (never on supported platforms).
    pub fn random() -> Self {
        let mut bytes = [0; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Self(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 22];
        let written = URL_SAFE_NO_PAD.encode_slice(self.0, &mut text).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&text[..written]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// The text is not a session id (22 URL-safe base64 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session id")]
pub struct InvalidSessionId;

impl FromStr for SessionId {
    type Err = InvalidSessionId;

    fn from_str(text: &str) -> Result<Self, InvalidSessionId> {
        if text.len() != 22 {
            return Err(InvalidSessionId);
        }
        let mut bytes = [0u8; 16];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(16) => Ok(Self(bytes)),
            _ => Err(InvalidSessionId),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_22_url_safe_characters_and_read_back() {
        for _ in 0..100 {
            let id = SessionId::random();
            let text = id.to_string();
            assert_eq!(text.len(), 22);
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
            assert_eq!(text.parse::<SessionId>(), Ok(id));
        }
        assert_eq!("short".parse::<SessionId>(), Err(InvalidSessionId));
        assert_eq!("!!!!!!!!!!!!!!!!!!!!!!".parse::<SessionId>(), Err(InvalidSessionId));
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids: HashSet<SessionId> = (0..10_000).map(|_| SessionId::random()).collect();
        assert_eq!(ids.len(), 10_000);
    }
}

//! The client's opening handshake (RFC 6455 §4.1): the target URL, the upgrade request with a
//! random key, and the check of the server's 101 and `Sec-WebSocket-Accept`.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Buf as _, BytesMut};
use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The GUID every accept key is hashed with (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A response head longer than this is not a WebSocket server's.
const MAX_HEAD: usize = 16 * 1024;

/// How long connect plus upgrade may take before the attempt counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where every connection goes: resolved once, so no connection pays for a name lookup.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The address connected to.
    pub(crate) addr: SocketAddr,
    /// `host:port` as written in the URL, for the `Host` header.
    host: String,
    /// Request target, `/` when the URL has none.
    path: String,
    /// Join the Socket.IO namespace `/` after the upgrade ([`crate::sio::connect`]).
    sio: bool,
}

/// A URL the load generator cannot use.
#[derive(Debug, thiserror::Error)]
#[error("bad url {url:?}: {why} (expected ws://HOST:PORT/PATH)")]
pub(crate) struct UrlError {
    url: String,
    why: String,
}

/// Why one connection attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UpgradeError {
    /// TCP connect failed (refused, unreachable, out of ports or descriptors).
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The target address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading or writing the handshake failed.
    #[error("handshake i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed before a whole response head.
    #[error("server closed the connection during the handshake")]
    Closed,
    /// Connect plus handshake took longer than the time limit.
    #[error("handshake timed out after {}s", HANDSHAKE_TIMEOUT.as_secs())]
    Timeout,
    /// The response head does not parse as HTTP/1.1.
    #[error("malformed handshake response: {0}")]
    Malformed(String),
    /// Anything but `101 Switching Protocols`.
    #[error("expected 101 Switching Protocols, got {0}")]
    Status(u16),
    /// The accept header is missing or does not match the key.
    #[error("bad Sec-WebSocket-Accept: {0}")]
    Accept(String),
    /// The Engine.IO open packet or the Socket.IO CONNECT reply did not come.
    #[error("Socket.IO handshake: {0}")]
    SocketIo(String),
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH` and resolves the host.
    pub(crate) async fn resolve(url: &str) -> Result<Self, UrlError> {
        let bad = |why: String| UrlError { url: url.to_owned(), why };
        let parts = split_url(url).map_err(bad)?;
        let addr = tokio::net::lookup_host(&parts.socket)
            .await
            .map_err(|e| bad(format!("cannot resolve: {e}")))?
            .next()
            .ok_or_else(|| bad("host resolves to nothing".into()))?;
        Ok(Self { addr, host: parts.host, path: parts.path, sio: false })
    }

    /// The same target for Socket.IO: every connection joins the namespace `/` after its
    /// upgrade, and a URL without a path gets Engine.IO's ([`crate::sio::PATH`]).
    pub(crate) fn socket_io(mut self) -> Self {
        self.sio = true;
        if self.path == "/" {
            crate::sio::PATH.clone_into(&mut self.path);
        }
        self
    }

    /// Connects, upgrades, and returns the stream with any bytes the server sent after its
    /// response head (a broadcast may already be under way).
    pub(crate) async fn connect(&self) -> Result<(TcpStream, BytesMut), UpgradeError> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.connect_inner())
            .await
            .unwrap_or(Err(UpgradeError::Timeout))
    }

    async fn connect_inner(&self) -> Result<(TcpStream, BytesMut), UpgradeError> {
        let mut stream = TcpStream::connect(self.addr)
            .await
            .map_err(|source| UpgradeError::Connect { addr: self.addr, source })?;
        stream.set_nodelay(true)?;
        let key = BASE64.encode(fastrand::u128(..).to_ne_bytes());
        stream.write_all(request(&self.host, &self.path, &key).as_bytes()).await?;
        let mut buf = BytesMut::with_capacity(1024);
        loop {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(UpgradeError::Closed);
            }
            if let Some(head_len) = check_response(&buf, &key)? {
                buf.advance(head_len);
                if self.sio {
                    crate::sio::connect(&mut stream, &mut buf).await?;
                }
                return Ok((stream, buf));
            }
            if buf.len() > MAX_HEAD {
                return Err(UpgradeError::Malformed("response head too long".into()));
            }
        }
    }
}

/// A `ws://` URL taken apart.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UrlParts {
    /// `host:port` to resolve, port 80 when the URL has none.
    socket: String,
    /// The authority as written, for the `Host` header.
    host: String,
    /// The request target, `/` when the URL has none.
    path: String,
}

/// Splits `ws://HOST[:PORT][/PATH]`; the command line uses it to reject bad URLs early.
pub(crate) fn split_url(url: &str) -> Result<UrlParts, String> {
    let rest = url.strip_prefix("ws://").ok_or("only ws:// is supported")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || authority.starts_with(':') {
        return Err("no host".into());
    }
    let socket = match authority.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => authority.to_owned(),
        Some((_, port)) if !authority.ends_with(']') => return Err(format!("bad port {port:?}")),
        _ => format!("{authority}:80"),
    };
    Ok(UrlParts { socket, host: authority.to_owned(), path })
}

/// The upgrade request for `key`.
fn request(host: &str, path: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// The `Sec-WebSocket-Accept` value a server must answer `key` with.
pub(crate) fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// Checks a (possibly partial) response: `Ok(None)` until the head is complete, then the head's
/// length once it is a 101 with the right accept key.
fn check_response(buf: &[u8], key: &str) -> Result<Option<usize>, UpgradeError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(UpgradeError::Malformed(e.to_string())),
    };
    let code = response.code.unwrap_or_default();
    if code != 101 {
        return Err(UpgradeError::Status(code));
    }
    let accept = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .ok_or_else(|| UpgradeError::Accept("missing".into()))?;
    let expected = accept_key(key);
    if accept.value != expected.as_bytes() {
        return Err(UpgradeError::Accept(format!(
            "got {:?}, expected {expected:?}",
            String::from_utf8_lossy(accept.value)
        )));
    }
    Ok(Some(head_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6455 §1.3's example key.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn response(status: &str, accept: &str) -> String {
        format!("HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{accept}\r\n")
    }

    #[test]
    fn accept_key_matches_rfc() {
        assert_eq!(accept_key(KEY), ACCEPT);
    }

    #[test]
    fn request_has_every_required_header() {
        assert_eq!(
            request("127.0.0.1:9001", "/", KEY),
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
    }

    #[test]
    fn accepts_101_at_every_split_and_keeps_trailing_bytes() {
        let head = response("101 Switching Protocols", &format!("Sec-WebSocket-Accept: {ACCEPT}\r\n"));
        let mut stream = head.clone().into_bytes();
        stream.extend([0x81, 0x00]); // a frame right behind the head
        for cut in 0..head.len() {
            assert!(check_response(&stream[..cut], KEY).unwrap().is_none(), "cut {cut}");
        }
        for cut in head.len()..=stream.len() {
            assert_eq!(check_response(&stream[..cut], KEY).unwrap(), Some(head.len()));
        }
    }

    #[test]
    fn rejects_wrong_status_and_accept() {
        let ok_accept = format!("sec-websocket-accept: {ACCEPT}\r\n");
        let err = check_response(response("400 Bad Request", &ok_accept).as_bytes(), KEY).unwrap_err();
        assert!(matches!(err, UpgradeError::Status(400)));
        let err = check_response(response("101 Switching Protocols", "").as_bytes(), KEY).unwrap_err();
        assert!(matches!(err, UpgradeError::Accept(_)));
        let wrong = "Sec-WebSocket-Accept: AAAA\r\n";
        let err = check_response(response("101 Switching Protocols", wrong).as_bytes(), KEY).unwrap_err();
        assert_eq!(err.to_string(), format!("bad Sec-WebSocket-Accept: got \"AAAA\", expected \"{ACCEPT}\""));
        let err = check_response(b"SSH-2.0-OpenSSH\r\n\r\n", KEY).unwrap_err();
        assert!(matches!(err, UpgradeError::Malformed(_)));
    }

    #[test]
    fn splits_urls() {
        let parts = |socket: &str, host: &str, path: &str| UrlParts {
            socket: socket.to_owned(),
            host: host.to_owned(),
            path: path.to_owned(),
        };
        assert_eq!(
            split_url("ws://127.0.0.1:9001/chat?x=1"),
            Ok(parts("127.0.0.1:9001", "127.0.0.1:9001", "/chat?x=1"))
        );
        assert_eq!(split_url("ws://localhost:9001"), Ok(parts("localhost:9001", "localhost:9001", "/")));
        assert_eq!(split_url("ws://h?x"), Ok(parts("h:80", "h", "/?x")));
        assert_eq!(split_url("ws://[::1]:9001/"), Ok(parts("[::1]:9001", "[::1]:9001", "/")));
        assert_eq!(split_url("ws://[::1]/"), Ok(parts("[::1]:80", "[::1]", "/")));
        assert!(split_url("http://127.0.0.1:1/").is_err());
        assert!(split_url("wss://127.0.0.1:1/").is_err());
        assert!(split_url("ws:///x").is_err());
        assert!(split_url("ws://h:port/").is_err());
        assert!(split_url("ws://:9001/").is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn resolves_loopback() {
        let t = Target::resolve("ws://127.0.0.1:9001/x").await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:9001".parse().unwrap());
        assert_eq!((t.host.as_str(), t.path.as_str()), ("127.0.0.1:9001", "/x"));
    }
}

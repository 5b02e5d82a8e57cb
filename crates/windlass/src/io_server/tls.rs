//! TLS for [`IoServer`](super::IoServer): the certificate, the key and the handshake limits.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How long a client may take to complete the TLS handshake, by default. Matches
/// `HttpServer`'s default for the request head: a client slower than that is not worth a socket.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate and key to serve `wss://` (or TLS over raw TCP) with, given to
/// [`IoServer::tls`](super::IoServer::tls).
///
/// ```no_run
/// use windlass::{HttpServer, IoServer, TlsConfig, WsServer};
/// # use windlass::{BoxError, Connection, Message, MessageComponent};
/// # struct Echo;
/// # impl MessageComponent for Echo {
/// #     async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
/// #         conn.send(msg)?;
/// #         Ok(())
/// #     }
/// # }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// IoServer::bind("0.0.0.0:443", HttpServer::new(WsServer::new(Echo))).await?.tls(tls).run().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) handshake_timeout: Duration,
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) from `cert_path` and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1) from `key_path`. Both may be the same file.
    ///
    /// Connections negotiate TLS 1.3 or 1.2 with rustls' safe defaults (the `ring` provider)
    /// and ALPN `http/1.1`; clients are not asked for certificates.
    pub fn from_pem_files(cert_path: impl AsRef<Path>, key_path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
        };
        let chain = certificates(&read(cert_path)?, &Origin::File(cert_path))?;
        let key = private_key(&read(key_path)?, &Origin::File(key_path))?;
        Self::from_parts(chain, key)
    }

    /// Like [`from_pem_files`](Self::from_pem_files), from PEM already in memory.
    pub fn from_pem(cert_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Result<Self, TlsError> {
        let chain = certificates(cert_pem.as_ref(), &Origin::Bytes("certificate"))?;
        let key = private_key(key_pem.as_ref(), &Origin::Bytes("private key"))?;
        Self::from_parts(chain, key)
    }

    /// Uses a rustls configuration as it is: its protocol versions, client authentication,
    /// certificate resolver and ALPN list (set `alpn_protocols` to `[b"http/1.1"]` for
    /// WebSocket; windlass does not change a configuration it is given).
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self { server: config, handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT }
    }

    /// How long a client may take to complete the TLS handshake (default 10 s) before the
    /// connection is closed. The HTTP head's own timeout starts after it.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration connections are accepted with.
    pub fn rustls_config(&self) -> &Arc<ServerConfig> {
        &self.server
    }

    fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        // Named explicitly rather than taken from the process default, so that another crate
        // enabling a second provider cannot make the choice ambiguous (a panic in rustls).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(TlsError::Rustls)?;
        // WebSocket upgrades are HTTP/1.1 requests; a client offering h2 must not pick it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self::from_rustls(Arc::new(config)))
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // rustls' own `Debug` runs to pages; a log line needs what differs between servers.
        f.debug_struct("TlsConfig")
            .field("alpn_protocols", &self.server.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Why a [`TlsConfig`] could not be built. Each message names the file (or the argument) at
/// fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The PEM was malformed (an unterminated section, bad base64).
    #[error("malformed PEM in {origin}: {source}")]
    Pem {
        /// The file, or which argument.
        origin: String,
        /// What the PEM parser found.
        #[source]
        source: pem::Error,
    },
    /// No `CERTIFICATE` section was found.
    #[error("no PEM certificate found in {origin}")]
    NoCertificate {
        /// The file, or which argument.
        origin: String,
    },
    /// No private key section (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`) was found.
    #[error("no PEM private key (PKCS#8, PKCS#1 or SEC1) found in {origin}")]
    NoPrivateKey {
        /// The file, or which argument.
        origin: String,
    },
    /// rustls refused the certificate and key: say, a key that does not match the certificate,
    /// or one of an unsupported type.
    #[error("certificate or key rejected: {0}")]
    Rustls(#[source] rustls::Error),
}

/// Where PEM came from, for error messages.
enum Origin<'a> {
    File(&'a Path),
    Bytes(&'static str),
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => path.display().fmt(f),
            Self::Bytes(what) => write!(f, "the {what} PEM"),
        }
    }
}

fn certificates(pem: &[u8], origin: &Origin<'_>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { origin: origin.to_string(), source })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { origin: origin.to_string() });
    }
    Ok(chain)
}

fn private_key(pem: &[u8], origin: &Origin<'_>) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey { origin: origin.to_string() },
        source => TlsError::Pem { origin: origin.to_string(), source },
    })
}

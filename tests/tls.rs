//! TLS at the `IoServer` layer: `wss://` with a certificate generated here, spoken by
//! tokio-tungstenite over a tokio-rustls client stream (tokio-tungstenite's own rustls feature
//! would enlarge `MaybeTlsStream`, and with it every other test's futures, for all tests).
//!
//! Echo works over `wss://` (ALPN `http/1.1`); a client that speaks plain TCP, one that does not
//! trust the certificate and one that never finishes the handshake are closed without reaching
//! the component, while good clients keep being served; at `max_connections` a TLS listener
//! closes without a plaintext 503; bad PEM files give errors that name the file.

mod support;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use windlass::{App, HttpServer, IoServer, StaticResponse, TlsConfig, TlsError, WsServer};

use support::{Recorder, TestServer, WAIT, read_to_end, tcp, upgrade_request};

type Client = WebSocketStream<TlsStream<TcpStream>>;

/// A self-signed certificate for `localhost` and 127.0.0.1, as PEM.
struct Identity {
    cert_pem: String,
    key_pem: String,
}

impl Identity {
    fn generate() -> Self {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("generate certificate");
        Self { cert_pem: generated.cert.pem(), key_pem: generated.signing_key.serialize_pem() }
    }

    /// A client configuration that trusts this certificate only and offers `h2` before
    /// `http/1.1`, so that the server's ALPN choice shows.
    fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        let cert = CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).expect("parse own certificate");
        roots.add(cert).expect("trust own certificate");
        client_config(roots)
    }
}

fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "windlass-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the identity to PEM files and loads it back through `from_pem_files`.
fn config_from_files(identity: &Identity) -> TlsConfig {
    let dir = TempDir::new();
    let cert = dir.write("cert.pem", &identity.cert_pem);
    let key = dir.write("key.pem", &identity.key_pem);
    TlsConfig::from_pem_files(&cert, &key).expect("load PEM files")
}

/// A `wss://` echo server (the [`Recorder`] echoes) configured by `configure`.
async fn wss_server(
    identity: &Identity,
    configure: impl FnOnce(IoServer<HttpServer<WsServer<Recorder>>>) -> IoServer<HttpServer<WsServer<Recorder>>>,
) -> (TestServer, Recorder) {
    let recorder = Recorder::default();
    let tls = config_from_files(identity);
    let server =
        TestServer::start_with(HttpServer::new(WsServer::new(recorder.clone())), |s| configure(s.tls(tls)))
            .await;
    (server, recorder)
}

/// Connects over TLS (verifying the certificate for `localhost`), then upgrades to WebSocket.
/// A TLS failure is the error; the WebSocket handshake must succeed.
async fn connect(server: &TestServer, config: Arc<ClientConfig>) -> io::Result<Client> {
    let connecting = async {
        let name = ServerName::try_from("localhost").unwrap();
        let stream = TlsConnector::from(config).connect(name, tcp(server.addr).await).await?;
        let url = format!("wss://localhost:{}/", server.addr.port());
        let (client, _response) =
            tokio_tungstenite::client_async(url, stream).await.expect("WebSocket handshake");
        Ok(client)
    };
    tokio::time::timeout(WAIT, connecting).await.expect("connect timed out")
}

async fn next_message(client: &mut Client) -> WsMessage {
    tokio::time::timeout(WAIT, client.next()).await.expect("timed out").expect("stream ended").expect("read")
}

/// Sends a text and a binary message and expects both back.
async fn assert_echoes(client: &mut Client) {
    client.send(WsMessage::text("hello over tls")).await.unwrap();
    assert_eq!(next_message(client).await, WsMessage::text("hello over tls"));
    let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    client.send(WsMessage::binary(big.clone())).await.unwrap();
    assert_eq!(next_message(client).await, WsMessage::binary(big));
}

/// Closes the WebSocket handshake from the client side and reads until the server closes.
async fn close(mut client: Client) {
    client.close(None).await.unwrap();
    tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = client.next().await {} })
        .await
        .expect("close timed out");
}

#[tokio::test]
async fn echo_works_over_wss_with_alpn_http11() {
    let identity = Identity::generate();
    let (server, recorder) = wss_server(&identity, |s| s).await;
    let mut client = connect(&server, identity.client_config()).await.expect("wss connect");

    assert_eq!(client.get_ref().get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    assert_echoes(&mut client).await;
    // Many small messages written back to back: the server's vectored writes over TLS.
    for i in 0..200 {
        client.feed(WsMessage::text(format!("m{i}"))).await.unwrap();
    }
    client.flush().await.unwrap();
    for i in 0..200 {
        assert_eq!(next_message(&mut client).await, WsMessage::text(format!("m{i}")));
    }

    close(client).await;
    let lines = recorder.wait_for(|l| l.starts_with("close ")).await;
    let id = lines[0].strip_prefix("open ").expect("open first");
    assert_eq!(lines.last().unwrap(), &format!("close {id} 1005  clean"));
    assert!(!lines.iter().any(|l| l.starts_with("error ")), "{lines:?}");
    server.stop().await;
}

#[tokio::test]
async fn plain_tcp_client_is_closed_and_others_keep_working() {
    let identity = Identity::generate();
    let (server, recorder) = wss_server(&identity, |s| s).await;
    let mut good = connect(&server, identity.client_config()).await.expect("wss connect");

    let mut plain = tcp(server.addr).await;
    plain.write_all(upgrade_request("/", "").as_bytes()).await.unwrap();
    // At most a TLS alert comes back, never an HTTP response, and then the connection closes.
    let answer = read_to_end(&mut plain).await;
    assert!(!answer.starts_with(b"HTTP/"), "plaintext answer to a plaintext client: {answer:?}");

    assert_echoes(&mut good).await;
    close(good).await;
    assert_eq!(recorder.lines().iter().filter(|l| l.starts_with("open ")).count(), 1);
    server.stop().await;
}

#[tokio::test]
async fn client_that_does_not_trust_the_certificate_fails() {
    let identity = Identity::generate();
    let (server, recorder) = wss_server(&identity, |s| s).await;
    let mut good = connect(&server, identity.client_config()).await.expect("wss connect");

    // Trusts a different certificate for the same names.
    let stranger = Identity::generate();
    let error = connect(&server, stranger.client_config()).await.expect_err("untrusted certificate accepted");
    assert_eq!(certificate_error(&error), Some(&CertificateError::BadSignature), "{error:?}");
    // Trusts nothing at all.
    let error = connect(&server, client_config(RootCertStore::empty())).await.expect_err("no roots accepted");
    assert_eq!(certificate_error(&error), Some(&CertificateError::UnknownIssuer), "{error:?}");

    assert_echoes(&mut good).await;
    let mut late = connect(&server, identity.client_config()).await.expect("wss connect after failures");
    assert_echoes(&mut late).await;
    close(good).await;
    close(late).await;
    assert_eq!(recorder.lines().iter().filter(|l| l.starts_with("open ")).count(), 2);
    server.stop().await;
}

/// The client's verdict on the server's certificate, if that is why the connection failed.
fn certificate_error(error: &io::Error) -> Option<&CertificateError> {
    match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(e) => Some(e),
        _ => None,
    }
}

#[tokio::test]
async fn silent_client_is_closed_after_the_handshake_timeout() {
    let identity = Identity::generate();
    let recorder = Recorder::default();
    let tls = config_from_files(&identity).handshake_timeout(Duration::from_millis(200));
    let server =
        TestServer::start_with(HttpServer::new(WsServer::new(recorder.clone())), |s| s.tls(tls)).await;

    let mut silent = tcp(server.addr).await;
    let started = tokio::time::Instant::now();
    assert_eq!(read_to_end(&mut silent).await, b"");
    assert!(started.elapsed() < Duration::from_secs(5), "closed only after {:?}", started.elapsed());

    let mut good = connect(&server, identity.client_config()).await.expect("wss connect");
    assert_echoes(&mut good).await;
    close(good).await;
    server.stop().await;
}

#[tokio::test]
async fn over_max_connections_a_tls_listener_closes_without_a_plaintext_503() {
    let identity = Identity::generate();
    let (server, recorder) = wss_server(&identity, |s| s.max_connections(1)).await;
    let mut first = connect(&server, identity.client_config()).await.expect("wss connect");
    recorder.wait_for(|l| l.starts_with("open ")).await;

    let mut refused = tcp(server.addr).await;
    assert_eq!(read_to_end(&mut refused).await, b"", "a refused TLS connection gets no bytes");
    assert!(connect(&server, identity.client_config()).await.is_err(), "second client served past the cap");

    assert_echoes(&mut first).await;
    close(first).await;
    server.stop().await;
}

#[tokio::test]
async fn tls_works_under_raw_tcp_too() {
    // TLS is the IoServer's: a line server gets it the same way.
    let identity = Identity::generate();
    let recorder = Recorder::default();
    let tls = TlsConfig::from_pem(&identity.cert_pem, &identity.key_pem).expect("load PEM");
    let server = TestServer::start_with(recorder.clone(), |s| s.tls(tls)).await;

    let connector = TlsConnector::from(identity.client_config());
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector.connect(name, tcp(server.addr).await).await.expect("TLS connect");
    stream.write_all(b"hello\n").await.unwrap();
    let mut echoed = [0u8; 6];
    tokio::time::timeout(WAIT, stream.read_exact(&mut echoed)).await.expect("timed out").expect("read");
    assert_eq!(&echoed, b"hello\n");
    stream.shutdown().await.unwrap();
    recorder.wait_for(|l| l.starts_with("close ")).await;
    server.stop().await;
}

#[test]
fn missing_file_is_named() {
    let identity = Identity::generate();
    let dir = TempDir::new();
    let key = dir.write("key.pem", &identity.key_pem);
    let missing = dir.0.join("nope.pem");
    let error = TlsConfig::from_pem_files(&missing, &key).unwrap_err();
    assert!(matches!(error, TlsError::Read { ref path, .. } if *path == missing), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with(&format!("cannot read {}: ", missing.display())), "{text}");
}

#[test]
fn key_file_without_a_key_is_named() {
    let identity = Identity::generate();
    let dir = TempDir::new();
    let cert = dir.write("cert.pem", &identity.cert_pem);
    // A common mistake: the certificate given twice.
    let error = TlsConfig::from_pem_files(&cert, &cert).unwrap_err();
    assert!(matches!(error, TlsError::NoPrivateKey { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("no PEM private key (PKCS#8, PKCS#1 or SEC1) found in {}", cert.display())
    );
}

#[test]
fn garbage_is_rejected_with_the_file_named() {
    let identity = Identity::generate();
    let dir = TempDir::new();
    let key = dir.write("key.pem", &identity.key_pem);

    let garbage = dir.write("garbage.pem", "this is not a certificate\n\x00\x01\x02");
    let error = TlsConfig::from_pem_files(&garbage, &key).unwrap_err();
    assert!(matches!(error, TlsError::NoCertificate { .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("no PEM certificate found in {}", garbage.display()));

    let broken =
        dir.write("broken.pem", "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n");
    let error = TlsConfig::from_pem_files(&broken, &key).unwrap_err();
    assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!("malformed PEM in {}: ", broken.display())), "{error}");

    let truncated = dir.write("truncated.pem", &identity.cert_pem[..identity.cert_pem.len() / 2]);
    let error = TlsConfig::from_pem_files(&truncated, &key).unwrap_err();
    assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");
}

#[test]
fn key_that_does_not_match_the_certificate_is_rejected() {
    let identity = Identity::generate();
    let other = Identity::generate();
    let error = TlsConfig::from_pem(&identity.cert_pem, &other.key_pem).unwrap_err();
    assert!(matches!(error, TlsError::Rustls(_)), "{error:?}");
    assert!(error.to_string().starts_with("certificate or key rejected: "), "{error}");
}

#[test]
fn in_memory_pem_errors_name_the_argument() {
    let identity = Identity::generate();
    let error = TlsConfig::from_pem("", &identity.key_pem).unwrap_err();
    assert_eq!(error.to_string(), "no PEM certificate found in the certificate PEM");
    let error = TlsConfig::from_pem(&identity.cert_pem, "").unwrap_err();
    assert_eq!(error.to_string(), "no PEM private key (PKCS#8, PKCS#1 or SEC1) found in the private key PEM");
}

/// A peer that sends its close frame and then stops reading. Over TLS the last bytes can be
/// stuck in the session's buffer after the outbound queue is empty, so the FIN that follows
/// them waits on the peer; that wait is bounded by the close timeout like every other part of
/// the close. Where it happens depends on the kernel's socket buffers, so the test grows the
/// answer step by step (steps smaller than the session's 64 KiB buffer) until the server can
/// no longer hand everything to the kernel.
#[tokio::test]
async fn close_completes_when_the_peer_stops_reading() {
    const CLOSE_TIMEOUT: Duration = Duration::from_millis(300);
    let identity = Identity::generate();
    let recorder = Recorder::default();
    let tls = TlsConfig::from_pem(&identity.cert_pem, &identity.key_pem).expect("load PEM");
    let app = HttpServer::new(WsServer::new(recorder.clone()).close_timeout(CLOSE_TIMEOUT));
    let server = TestServer::start_with(app, |s| s.tls(tls)).await;
    let connector = TlsConnector::from(identity.client_config());

    let mut slow_closes = 0;
    for step in 1..=120usize {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(server.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut stream = connector.connect(name, stream).await.expect("TLS connect");
        stream.write_all(upgrade_request("/", "").as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        // Echoed back by the recorder, never read by us.
        let mut left = step * 48_000;
        while left > 0 {
            let n = left.min(500_000);
            stream.write_all(&support::client_frame(true, 2, &vec![7u8; n])).await.unwrap();
            left -= n;
        }
        stream.write_all(&support::client_frame(true, 8, &1000u16.to_be_bytes())).await.unwrap();
        stream.flush().await.unwrap();

        let started = std::time::Instant::now();
        let closes = recorder.lines().iter().filter(|l| l.starts_with("close ")).count();
        tokio::time::timeout(WAIT, async {
            while recorder.lines().iter().filter(|l| l.starts_with("close ")).count() == closes {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no on_close for an answer of {} bytes", step * 48_000));
        if started.elapsed() >= CLOSE_TIMEOUT {
            slow_closes += 1;
            if slow_closes == 3 {
                break;
            }
        }
        drop(stream);
    }
    assert_eq!(slow_closes, 3, "the answers never outgrew the socket buffers");
    server.stop().await;
}

/// `App::tls`: the page over `https://` and the socket over `wss://` on one port, the socket
/// refusing a page served from another port.
#[tokio::test]
async fn app_serves_https_and_wss_on_one_port() {
    let identity = Identity::generate();
    let chat = Recorder::default();
    let app = App::new("localhost", "127.0.0.1:0")
        .tls(config_from_files(&identity))
        .route("/chat", chat.clone(), &[])
        .route_http("/", StaticResponse::new("text/html; charset=utf-8", "<!doctype html><p>chat</p>"));
    let server = TestServer::serve(app.bind().await.unwrap());
    let port = server.addr.port();
    let connector = TlsConnector::from(identity.client_config());
    let name = ServerName::try_from("localhost").unwrap();

    let mut https = connector.connect(name.clone(), tcp(server.addr).await).await.unwrap();
    https.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut page = Vec::new();
    tokio::time::timeout(WAIT, https.read_to_end(&mut page)).await.unwrap().unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("\r\ncontent-type: text/html; charset=utf-8\r\n"), "{page}");
    assert!(page.ends_with("\r\n\r\n<!doctype html><p>chat</p>"), "{page}");

    // What a browser on that page sends: `Origin: https://localhost:PORT`.
    let stream = connector.connect(name.clone(), tcp(server.addr).await).await.unwrap();
    let mut request = format!("wss://localhost:{port}/chat").into_client_request().unwrap();
    request.headers_mut().insert("Origin", format!("https://localhost:{port}").parse().unwrap());
    let (mut client, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream)).await.unwrap().unwrap();
    assert_echoes(&mut client).await;
    close(client).await;

    // A page from another origin is refused before the upgrade, over TLS as over TCP.
    let mut stream = connector.connect(name, tcp(server.addr).await).await.unwrap();
    let origin = format!("Origin: https://localhost:{}\r\n", port.wrapping_add(1));
    stream.write_all(upgrade_request("/chat", &origin).as_bytes()).await.unwrap();
    let mut refused = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut refused)).await.unwrap().unwrap();
    let refused = String::from_utf8(refused).unwrap();
    assert!(refused.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{refused}");

    let lines = chat.wait_for(|l| l.starts_with("close ")).await;
    assert_eq!(lines.iter().filter(|l| l.starts_with("open ")).count(), 1, "{lines:?}");
    server.stop().await;
}

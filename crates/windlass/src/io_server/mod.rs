//! `IoServer`: the accept loop, and the trait of what it serves.

pub(crate) mod read_buffer;
pub(crate) mod registry;
mod socket;
mod tls;

use std::fmt;
use std::future::{Future, pending};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

pub use socket::Socket;
pub use tls::{TlsConfig, TlsError};

use self::registry::Registry;
use crate::stats::ConnectionMetrics;

/// What an [`IoServer`] serves: called once per accepted connection, in that connection's own
/// task (Ratchet's `MessageComponentInterface` as seen by `IoServer`).
///
/// [`HttpServer`](crate::HttpServer) implements it, and so does every
/// [`MessageComponent`](crate::MessageComponent) (serving raw TCP, one line per message).
#[async_trait]
pub trait IoComponent: Send + Sync + 'static {
    /// Serves one connection until it ends.
    async fn on_connection(&self, conn: IoConnection);

    /// Bytes written (best effort) to a connection refused because the server is at
    /// `max_connections`, before it is closed. Default: nothing. Not sent on a TLS listener
    /// (see [`IoServer::max_connections`]).
    fn refusal(&self) -> &'static [u8] {
        b""
    }
}

/// An accepted connection, handed to an [`IoComponent`].
#[derive(Debug)]
pub struct IoConnection {
    pub(crate) socket: Socket,
    pub(crate) id: ConnectionId,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) server: ServerContext,
    /// The connection's place under `max_connections`; it goes wherever the connection goes.
    pub(crate) permit: OwnedSemaphorePermit,
}

impl IoConnection {
    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The byte stream.
    pub fn socket_mut(&mut self) -> &mut Socket {
        &mut self.socket
    }
}

/// A connection's identity, unique within the process (Ratchet's `resourceId`), so one
/// [`ConnectionPool`](crate::ConnectionPool) can hold connections of several servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind the id.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What every connection task needs from its server.
#[derive(Clone, Debug)]
pub(crate) struct ServerContext {
    pub(crate) registry: Arc<Registry>,
    /// Cancelled when the server starts shutting down; only looked at before a connection is
    /// registered (during the HTTP head), never on the message path.
    pub(crate) shutdown: CancellationToken,
    /// Every connection task, so that shutdown can wait for them; a WebSocket connection's
    /// frame loop is spawned on it as a task of its own after the handshake.
    pub(crate) tracker: TaskTracker,
    /// The per-connection series, looked up once per server rather than once per connection.
    pub(crate) metrics: Arc<ConnectionMetrics>,
}

impl ServerContext {
    /// A context of its own, for connections another server accepted (a component mounted in
    /// axum): no shutdown reaches them, and they count under no `max_connections`.
    pub(crate) fn detached() -> Self {
        Self {
            registry: Arc::new(Registry::default()),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            metrics: Arc::new(ConnectionMetrics::new()),
        }
    }
}

/// Owns the listening socket and the accept loop (Ratchet's `IoServer`).
///
/// ```no_run
/// use windlass::{BoxError, Connection, HttpServer, IoServer, Message, MessageComponent, WsServer};
///
/// struct Echo;
///
/// impl MessageComponent for Echo {
///     async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
///         conn.send(msg)?;
///         Ok(())
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// IoServer::bind("127.0.0.1:8080", HttpServer::new(WsServer::new(Echo))).await?.run().await
/// # }
/// ```
pub struct IoServer<A> {
    listener: TcpListener,
    app: Arc<A>,
    max_connections: usize,
    drain_timeout: Duration,
    tls: Option<TlsConfig>,
}

/// Default cap on open connections: below the usual 20,000 open-file limit, leaving room for
/// the listener and files the application opens.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

impl<A: IoComponent> IoServer<A> {
    /// Binds `addr` and prepares to serve `app` (Ratchet's `IoServer::factory`).
    ///
    /// The listen backlog is 1,024 (the kernel may cap it at `net.core.somaxconn`), so a burst
    /// of connections waits to be accepted instead of being reset; the standard library's
    /// default of 128 overflows under a few hundred simultaneous connects.
    pub async fn bind(addr: impl ToSocketAddrs, app: A) -> io::Result<Self> {
        Ok(Self::from_listener(bind_listener(addr).await?, app))
    }

    /// Serves `app` on an already bound listener.
    pub fn from_listener(listener: TcpListener, app: A) -> Self {
        Self {
            listener,
            app: Arc::new(app),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            drain_timeout: Duration::from_secs(10),
            tls: None,
        }
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The most connections open at once (default 16,384), counting those still in the TLS
    /// handshake. Connections past it are accepted, sent [`IoComponent::refusal`] (503 over
    /// HTTP) and closed, so they do not wait in the backlog and the open ones are unaffected.
    /// With [`tls`](Self::tls) they are closed without a word: an answer would need a TLS
    /// handshake, the very work the cap is there to refuse, and plaintext would only be
    /// garbage to a TLS client.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long [`run_until`](Self::run_until) waits for connections to finish their close
    /// handshakes after shutdown starts (default 10 s). Connections still open then are
    /// dropped (`on_close` sees 1006).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Serves every connection over TLS (`wss://` under [`WsServer`](crate::WsServer)). The
    /// handshake runs in the connection's own task, under
    /// [`TlsConfig::handshake_timeout`], before the component sees the connection; a
    /// connection whose handshake fails or times out is closed (and logged at debug level).
    ///
    /// ```no_run
    /// # use windlass::{HttpServer, IoServer, TlsConfig, WsServer};
    /// # use windlass::{BoxError, Connection, Message, MessageComponent};
    /// # struct Echo;
    /// # impl MessageComponent for Echo {
    /// #     async fn on_message(&self, conn: &mut Connection, msg: Message) -> Result<(), BoxError> {
    /// #         conn.send(msg)?;
    /// #         Ok(())
    /// #     }
    /// # }
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = TlsConfig::from_pem_files("/etc/windlass/cert.pem", "/etc/windlass/key.pem")?;
    /// IoServer::bind("0.0.0.0:443", HttpServer::new(WsServer::new(Echo))).await?.tls(tls).run().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The component being served.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Serves forever.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(pending::<()>()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully: stops accepting, closes
    /// every WebSocket with 1001 "going away" (raw TCP connections are flushed and closed),
    /// waits up to the drain timeout for them to finish, and returns.
    pub async fn run_until<F: Future>(self, signal: F) -> io::Result<()> {
        let Self { listener, app, max_connections, drain_timeout, tls } = self;
        let tls = tls.map(|config| (TlsAcceptor::from(config.server), config.handshake_timeout));
        let tracker = TaskTracker::new();
        let context = ServerContext {
            registry: Arc::new(Registry::default()),
            shutdown: CancellationToken::new(),
            tracker: tracker.clone(),
            metrics: Arc::new(ConnectionMetrics::new()),
        };
        let permits = Arc::new(Semaphore::new(max_connections));
        let refusals = Arc::new(Semaphore::new(MAX_LINGERING_REFUSALS));
        let mut backoff = Duration::ZERO;
        tokio::pin!(signal);
        loop {
            let accepted = tokio::select! {
                biased;
                _ = &mut signal => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, remote_addr) = match accepted {
                Ok(pair) => {
                    backoff = Duration::ZERO;
                    pair
                }
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: resources run out. Wait for some to come
                    // back instead of spinning or exiting; the pending peer stays in the backlog.
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tracing::warn!(error = %e, ?backoff, "accept failed; retrying");
                    tokio::select! {
                        biased;
                        _ = &mut signal => break,
                        () = tokio::time::sleep(backoff) => continue,
                    }
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                tracing::warn!(%remote_addr, max_connections, "connection refused: at max_connections");
                metrics::counter!("windlass_connections_refused_total").increment(1);
                if tls.is_none() {
                    refuse(stream, app.refusal(), &refusals);
                }
                continue;
            };
            let _ = stream.set_nodelay(true);
            let id = ConnectionId::next();
            let server = context.clone();
            let tls = tls.clone();
            let app = Arc::clone(&app);
            let span = tracing::debug_span!("conn", %id, remote = %remote_addr);
            tracker.spawn(
                async move {
                    let socket = match tls {
                        None => Some(Socket::tcp(stream)),
                        // Boxed: the handshake's state is large and needed only while it runs.
                        Some((acceptor, timeout)) => {
                            Box::pin(accept_tls(stream, &acceptor, timeout, &server.shutdown)).await
                        }
                    };
                    if let Some(socket) = socket {
                        app.on_connection(IoConnection { socket, id, remote_addr, server, permit }).await;
                    }
                }
                .instrument(span),
            );
        }
        drop(listener);
        tracker.close();
        tracing::info!(open = context.registry.len(), "shutting down");
        context.shutdown.cancel();
        context.registry.shutdown();
        if tokio::time::timeout(drain_timeout, tracker.wait()).await.is_err() {
            tracing::warn!(open = context.registry.len(), "drain timeout passed; dropping connections");
            context.registry.abort();
            let _ = tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await;
        }
        Ok(())
    }
}

/// Refused connections that may linger at once; past this, a refusal is written and the
/// socket closed at once, so a flood cannot pin more than this many extra sockets.
const MAX_LINGERING_REFUSALS: usize = 64;

/// Answers a connection over the cap with `refusal`, then closes it the way `HttpServer`
/// closes after an error: FIN, and a short linger so that its unread request does not turn the
/// close into a reset that destroys the answer.
fn refuse(stream: TcpStream, refusal: &'static [u8], lingering: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(lingering).try_acquire_owned() else {
        let _ = stream.try_write(refusal);
        return;
    };
    tokio::spawn(async move {
        let mut socket = Socket::tcp(stream);
        let write = async {
            socket.write_all(refusal).await?;
            socket.shutdown().await
        };
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), write).await {
            socket.linger(Duration::from_secs(1)).await;
        }
        drop(permit);
    });
}

/// Runs the TLS handshake on an accepted connection, under `timeout`; `None` if it failed,
/// timed out or the server began shutting down meanwhile (the connection is then dropped).
async fn accept_tls(
    stream: TcpStream,
    acceptor: &TlsAcceptor,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> Option<Socket> {
    tokio::select! {
        accepted = tokio::time::timeout(timeout, acceptor.accept(stream)) => match accepted {
            Ok(Ok(stream)) => Some(Socket::tls(stream)),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(?timeout, "TLS handshake timed out");
                None
            }
        },
        () = shutdown.cancelled() => None,
    }
}

/// Listen backlog: connections the kernel completes before we accept them.
const BACKLOG: u32 = 1024;

/// Binds the first address `addr` resolves to that accepts, with [`BACKLOG`].
pub(crate) async fn bind_listener(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match listen(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")))
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Errors that concern only the connection being accepted; the next accept can go ahead.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

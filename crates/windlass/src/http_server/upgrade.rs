//! The upgrade outcome of a request: a component answers 101 and takes the connection over.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::BytesMut;
use tokio::sync::OwnedSemaphorePermit;

use crate::io_server::ConnectionId;
use crate::io_server::{ServerContext, Socket};

/// Who is on the other end of a request, in every request's extensions.
///
/// [`TrustedProxies`](crate::TrustedProxies) replaces the address with the forwarded client's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub(crate) id: ConnectionId,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) tls: bool,
    /// The request came through windlass's own [`HttpServer`](crate::HttpServer), which can
    /// hand its raw socket over (rather than through another server, such as axum).
    pub(crate) own_server: bool,
}

impl ConnectionInfo {
    /// Information for a request that reached windlass through another server (axum, hyper):
    /// a fresh id and the peer's address, for a layer of that server to put in the request's
    /// extensions (say, from axum's `ConnectInfo`). Without it, such requests report the
    /// address `0.0.0.0:0`.
    pub fn for_remote_addr(remote_addr: SocketAddr) -> Self {
        Self { id: ConnectionId::next(), remote_addr, tls: false, own_server: false }
    }

    /// The connection's id; every request on one keep-alive connection has the same.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// Whether the request came over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// A connection handed over by [`HttpServer`](crate::HttpServer) after a 101 answer: the raw
/// socket (no boxed I/O, no HTTP layer left in between) and whatever the client sent past the
/// request head. Nothing has been written yet: the new owner writes the 101 head itself, with
/// its first frames, in one write.
pub(crate) struct Upgraded {
    pub(crate) socket: Socket,
    pub(crate) buffered: BytesMut,
    pub(crate) server: ServerContext,
    /// The connection's place under `max_connections` (none when another server accepted it).
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

type Continuation = Box<dyn FnOnce(Upgraded) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Put in a 101 response's extensions by the component that upgrades: what runs the
/// connection afterwards. `HttpServer` spawns it as the connection's new task.
#[derive(Clone)]
pub(crate) struct OnUpgrade(Arc<Mutex<Option<Continuation>>>);

impl OnUpgrade {
    pub(crate) fn new<F, Fut>(run: F) -> Self
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let run: Continuation = Box::new(move |upgraded| Box::pin(run(upgraded)));
        Self(Arc::new(Mutex::new(Some(run))))
    }

    pub(crate) fn take(&self) -> Option<Continuation> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnUpgrade")
    }
}

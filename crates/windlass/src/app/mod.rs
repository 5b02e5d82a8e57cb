//! `App`: the facade that builds the usual stack (Ratchet's `Ratchet\App`).

use std::future::Future;
use std::io;
use std::time::Duration;

use crate::component::MessageComponent;
use crate::http_server::{HttpComponent, HttpServer};
use crate::io_server::{IoServer, TlsConfig};
use crate::origin::OriginCheck;
use crate::router::Router;
use crate::ws_server::{WsConfig, WsServer};

/// The stack an [`App`] builds.
pub type AppServer = IoServer<HttpServer<Router>>;

/// Builds `IoServer(HttpServer(Router { path → OriginCheck(WsServer(component)) … }))` on one
/// port, the way Ratchet's `App` does:
///
/// ```no_run
/// use windlass::{App, BoxError, Connection, Message, MessageComponent, StaticResponse};
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
/// App::new("localhost", "127.0.0.1:8080")
///     .route("/echo", Echo, &[])               // same origin only, like Ratchet
///     .route("/public", Echo, &["*"])          // any origin
///     .route_http("/", StaticResponse::new("text/html", "<p>hi</p>"))
///     .run()
///     .await
/// # }
/// ```
pub struct App {
    host: String,
    listen: String,
    router: Router,
    ws: WsConfig,
    max_connections: Option<usize>,
    drain_timeout: Option<Duration>,
    tls: Option<TlsConfig>,
}

impl App {
    /// An app for `host` (the name browsers use to reach it, for the same-origin default)
    /// listening on `listen` (`ip:port`; port 0 picks one).
    pub fn new(host: &str, listen: &str) -> Self {
        Self {
            host: host.to_ascii_lowercase(),
            listen: listen.to_owned(),
            router: Router::new(),
            ws: WsConfig::default(),
            max_connections: None,
            drain_timeout: None,
            tls: None,
        }
    }

    /// WebSocket settings for the routes added after this call.
    pub fn ws_config(mut self, config: WsConfig) -> Self {
        self.ws = config;
        self
    }

    /// Serves `component` over WebSocket at `path`. `allowed_origins` lists the browser origins
    /// allowed to connect (`scheme://host[:port]`, `*.` wildcards); empty means the app's own
    /// host on the listening port (Ratchet's default); `["*"]` allows every origin.
    ///
    /// # Panics
    ///
    /// If an origin or the path is malformed (see [`OriginCheck::new`] and [`Router::route`]).
    pub fn route<C: MessageComponent>(mut self, path: &str, component: C, allowed_origins: &[&str]) -> Self {
        let ws = WsServer::with_config(component, self.ws.clone());
        let same_origin = self.same_origin();
        let origins: Vec<&str> = if allowed_origins.is_empty() {
            same_origin.iter().map(String::as_str).collect()
        } else {
            allowed_origins.to_vec()
        };
        self.router = self.router.route(path, OriginCheck::new(ws, origins));
        self
    }

    /// Serves a plain HTTP component (a page, a health check, metrics) at `path`.
    pub fn route_http(mut self, path: &str, handler: impl HttpComponent) -> Self {
        self.router = self.router.route(path, handler);
        self
    }

    /// Serves `https://` and `wss://` on the same port (see [`IoServer::tls`]).
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// See [`IoServer::max_connections`].
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// See [`IoServer::drain_timeout`].
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }

    /// `http://host:port` and `https://host:port` for the listening port.
    fn same_origin(&self) -> Vec<String> {
        let port = self.listen.rsplit_once(':').map_or("", |(_, port)| port);
        if port.is_empty() || port == "0" {
            // The port is not known yet: accept the host on any of the usual ports.
            return vec![format!("http://{}", self.host), format!("https://{}", self.host)];
        }
        vec![format!("http://{}:{port}", self.host), format!("https://{}:{port}", self.host)]
    }

    /// Binds the port and returns the server, ready to `run` (useful to print the address).
    pub async fn bind(self) -> io::Result<AppServer> {
        let mut server = IoServer::bind(&self.listen, HttpServer::new(self.router)).await?;
        if let Some(max) = self.max_connections {
            server = server.max_connections(max);
        }
        if let Some(timeout) = self.drain_timeout {
            server = server.drain_timeout(timeout);
        }
        if let Some(tls) = self.tls {
            server = server.tls(tls);
        }
        Ok(server)
    }

    /// Binds and serves forever.
    pub async fn run(self) -> io::Result<()> {
        self.bind().await?.run().await
    }

    /// Binds and serves until `signal` completes; see [`IoServer::run_until`].
    pub async fn run_until<F: Future>(self, signal: F) -> io::Result<()> {
        self.bind().await?.run_until(signal).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_uses_the_host_and_listening_port() {
        assert_eq!(
            App::new("Chat.Example.com", "0.0.0.0:8080").same_origin(),
            ["http://chat.example.com:8080", "https://chat.example.com:8080"]
        );
        assert_eq!(
            App::new("localhost", "127.0.0.1:0").same_origin(),
            ["http://localhost", "https://localhost"]
        );
    }
}

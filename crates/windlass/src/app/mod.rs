//! `App`: the facade that builds the usual stack (Ratchet's `Ratchet\App`).

use std::future::Future;
use std::io;
use std::time::Duration;

use crate::component::MessageComponent;
use crate::http_server::{HttpComponent, HttpServer};
use crate::io_server::{IoServer, TlsConfig, bind_listener};
use crate::origin::OriginCheck;
use crate::router::{Router, parse_pattern};
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
///     .route("/echo", Echo, &[])               // same origin only
///     .route("/public", Echo, &["*"])          // any origin
///     .route_http("/", StaticResponse::new("text/html", "<p>hi</p>"))
///     .run()
///     .await
/// # }
/// ```
pub struct App {
    host: String,
    listen: String,
    /// Routes in the order given (the router tries them in order), built at `bind` once the
    /// listening port, which the same-origin default names, is known.
    routes: Vec<PendingRoute>,
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
            routes: Vec::new(),
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
    /// allowed to connect (`scheme://host[:port]`, `*.` wildcards); empty means the page's own
    /// origin: an `Origin` whose host and port equal the request's `Host` (so the page works
    /// at `http://127.0.0.1:PORT/` and `http://localhost:PORT/` alike), or the app's host on
    /// the listening port; `["*"]` allows every origin.
    ///
    /// # Panics
    ///
    /// If an origin or the path is malformed (see [`OriginCheck::new`] and [`Router::route`]).
    pub fn route<C: MessageComponent>(mut self, path: &str, component: C, allowed_origins: &[&str]) -> Self {
        // Malformed paths and origins panic here, where the mistake is, not at `bind`.
        parse_pattern(path);
        OriginCheck::new((), allowed_origins.iter().copied());
        let ws = WsServer::with_config(component, self.ws.clone());
        let path = path.to_owned();
        let allowed: Vec<String> = allowed_origins.iter().map(|&o| o.to_owned()).collect();
        self.routes.push(Box::new(move |router, same_origin| {
            let check = if allowed.is_empty() {
                // The page's own origin, whatever name reached it, and the app's host.
                OriginCheck::same_origin(ws).allow(same_origin.iter().map(String::as_str))
            } else {
                OriginCheck::new(ws, allowed.iter().map(String::as_str))
            };
            router.route(&path, check)
        }));
        self
    }

    /// Serves a plain HTTP component (a page, a health check, metrics) at `path`.
    ///
    /// # Panics
    ///
    /// If the path is malformed (see [`Router::route`]).
    pub fn route_http(mut self, path: &str, handler: impl HttpComponent) -> Self {
        parse_pattern(path);
        let path = path.to_owned();
        self.routes.push(Box::new(move |router, _| router.route(&path, handler)));
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

    /// Binds the port and returns the server, ready to `run` (useful to print the address).
    ///
    /// Routes with the same-origin default allow `http://HOST:PORT` and `https://HOST:PORT`
    /// for the port actually bound, so listening on port 0 works too.
    pub async fn bind(self) -> io::Result<AppServer> {
        let listener = bind_listener(&self.listen).await?;
        let same_origin = same_origin(&self.host, listener.local_addr()?.port());
        let router = self.routes.into_iter().fold(Router::new(), |router, add| add(router, &same_origin));
        let mut server = IoServer::from_listener(listener, HttpServer::new(router));
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

/// Adds one route to the router, given the app's own origins.
type PendingRoute = Box<dyn FnOnce(Router, &[String]) -> Router + Send>;

/// `http://host:port` and `https://host:port`: the app's own origins, either scheme, since
/// one port may serve both (`IoServer::tls`) or sit behind a TLS-terminating proxy.
fn same_origin(host: &str, port: u16) -> Vec<String> {
    vec![format!("http://{host}:{port}"), format!("https://{host}:{port}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_uses_the_host_and_listening_port() {
        let app = App::new("Chat.Example.com", "0.0.0.0:8080");
        assert_eq!(
            same_origin(&app.host, 8080),
            ["http://chat.example.com:8080", "https://chat.example.com:8080"]
        );
    }

    #[test]
    #[should_panic(expected = "must start with '/'")]
    fn a_malformed_path_panics_at_route() {
        let _ = App::new("localhost", "127.0.0.1:0").route_http("health", crate::Health);
    }

    #[test]
    #[should_panic(expected = "invalid allowed origin")]
    fn a_malformed_origin_panics_at_route() {
        struct Silent;
        impl MessageComponent for Silent {
            async fn on_message(
                &self,
                _: &mut crate::Connection,
                _: crate::Message,
            ) -> Result<(), crate::BoxError> {
                Ok(())
            }
        }
        let _ = App::new("localhost", "127.0.0.1:0").route("/", Silent, &["example.com"]);
    }
}

//! `Router`: sends each request to the component for its path (Ratchet's `App::route`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Request, Response, StatusCode};
use tracing::Instrument as _;

use crate::http_server::response::refusal;
use crate::http_server::{Body, HttpComponent};

/// The values of a route's `:name` and `*name` segments, attached to the request's extensions
/// (and so to [`Connection::extensions`](crate::Connection::extensions)).
///
/// Values are the raw path text: not percent-decoded and not normalised (`*path` may hold
/// `../`). Decode and check them before using one as a file name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams(HashMap<String, String>);

impl PathParams {
    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Routes requests by host and path to HTTP components: WebSocket endpoints
/// (`WsServer<C>`) and plain HTTP handlers alike.
///
/// Paths are matched segment by segment: `/chat` literally, `/rooms/:room` binds one segment,
/// `/static/*path` binds the rest. The first route whose host and path match and that accepts
/// the method wins. No route for the path: 404. A route for the path but not for the method:
/// 405 with `Allow`.
///
/// ```
/// use windlass::{BoxError, Connection, HttpServer, Message, MessageComponent, Router, WsServer};
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
/// let app = HttpServer::new(Router::new().route("/echo", WsServer::new(Echo)).route("/rooms/:room", WsServer::new(Echo)));
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

struct Route {
    host: Option<String>,
    /// The pattern as given (`/rooms/:room`), for traces.
    pattern: String,
    segments: Vec<Segment>,
    /// `None`: any method (a WebSocket endpoint checks for GET itself).
    methods: Option<Vec<Method>>,
    target: Arc<dyn HttpComponent>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

impl Router {
    /// A router with no routes (every request gets 404).
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `path`, any method, any host, to `target`.
    ///
    /// # Panics
    ///
    /// If `path` does not start with `/`, or has a `*` segment that is not the last one.
    pub fn route(self, path: &str, target: impl HttpComponent) -> Self {
        self.add(None, path, None, Arc::new(target))
    }

    /// Routes `path` for the given methods only.
    ///
    /// # Panics
    ///
    /// As [`route`](Self::route).
    pub fn route_methods(self, methods: &[Method], path: &str, target: impl HttpComponent) -> Self {
        self.add(None, path, Some(methods.to_vec()), Arc::new(target))
    }

    /// Routes `path` on requests whose `Host` is `host` (port ignored, ASCII case-insensitive).
    ///
    /// # Panics
    ///
    /// As [`route`](Self::route).
    pub fn route_host(self, host: &str, path: &str, target: impl HttpComponent) -> Self {
        self.add(Some(host.to_ascii_lowercase()), path, None, Arc::new(target))
    }

    fn add(
        mut self,
        host: Option<String>,
        path: &str,
        methods: Option<Vec<Method>>,
        target: Arc<dyn HttpComponent>,
    ) -> Self {
        self.routes.push(Route {
            host,
            pattern: path.to_owned(),
            segments: parse_pattern(path),
            methods,
            target,
        });
        self
    }

    /// Finds the route for a request: the target and its parameters, or the refusal.
    fn find(&self, host: Option<&str>, method: &Method, path: &str) -> Result<(&Route, PathParams), Refusal> {
        let mut allowed: Vec<Method> = Vec::new();
        for route in &self.routes {
            if route.host.as_deref().is_some_and(|h| Some(h) != host) {
                continue;
            }
            let Some(params) = match_path(&route.segments, path) else {
                continue;
            };
            match &route.methods {
                Some(methods) if !methods.contains(method) => {
                    allowed
                        .extend(methods.iter().filter(|m| !allowed.contains(m)).cloned().collect::<Vec<_>>());
                }
                _ => return Ok((route, params)),
            }
        }
        if allowed.is_empty() { Err(Refusal::NotFound) } else { Err(Refusal::MethodNotAllowed(allowed)) }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    NotFound,
    MethodNotAllowed(Vec<Method>),
}

/// Splits a route pattern into segments.
///
/// # Panics
///
/// As [`Router::route`].
pub(crate) fn parse_pattern(path: &str) -> Vec<Segment> {
    assert!(path.starts_with('/'), "route path {path:?} must start with '/'");
    let parts: Vec<&str> = path[1..].split('/').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if let Some(name) = part.strip_prefix(':') {
                Segment::Param(name.to_owned())
            } else if let Some(name) = part.strip_prefix('*') {
                assert!(i == last, "'*{name}' must be the last segment of route {path:?}");
                Segment::Rest(name.to_owned())
            } else {
                Segment::Literal((*part).to_owned())
            }
        })
        .collect()
}

fn match_path(pattern: &[Segment], path: &str) -> Option<PathParams> {
    let path = path.strip_prefix('/')?;
    let mut parts = path.split('/');
    let mut params = HashMap::new();
    for segment in pattern {
        match segment {
            Segment::Rest(name) => {
                let rest: Vec<&str> = parts.by_ref().collect();
                params.insert(name.clone(), rest.join("/"));
                return Some(PathParams(params));
            }
            Segment::Literal(literal) => {
                if parts.next()? != literal {
                    return None;
                }
            }
            Segment::Param(name) => {
                let value = parts.next().filter(|v| !v.is_empty())?;
                params.insert(name.clone(), value.to_owned());
            }
        }
    }
    parts.next().is_none().then_some(PathParams(params))
}

/// The request's host without its port, lowercased.
fn request_host<B>(request: &Request<B>) -> Option<String> {
    let host = request.uri().host().map(str::to_owned).or_else(|| {
        let value = request.headers().get(http::header::HOST)?.to_str().ok()?;
        // "[::1]:8080" keeps its brackets; "example.com:8080" loses the port.
        let host = match value.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.is_empty() => host,
            _ => value,
        };
        Some(host.to_owned())
    })?;
    Some(host.to_ascii_lowercase())
}

#[async_trait]
impl HttpComponent for Router {
    async fn on_request(&self, mut request: Request<Body>) -> Response<Body> {
        let host = request_host(&request);
        match self.find(host.as_deref(), request.method(), request.uri().path()) {
            Ok((route, params)) => {
                let target = Arc::clone(&route.target);
                request.extensions_mut().insert(params);
                // Everything the target logs, to the connection's close, carries the route
                // pattern (not the path, which may hold parameters without bound).
                let span = tracing::debug_span!("route", route = %route.pattern);
                target.on_request(request).instrument(span).await
            }
            Err(Refusal::NotFound) => {
                let body = format!("no route for {}", request.uri().path());
                refusal(StatusCode::NOT_FOUND, &[], &body)
            }
            Err(Refusal::MethodNotAllowed(methods)) => {
                let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                let body = format!("{} is not allowed here; allowed: {allow}", request.method());
                refusal(StatusCode::METHOD_NOT_ALLOWED, &[("Allow", &allow)], &body)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    #[async_trait]
    impl HttpComponent for Nothing {
        async fn on_request(&self, _: Request<Body>) -> Response<Body> {
            Response::new(Body::empty())
        }
    }

    fn params(pairs: &[(&str, &str)]) -> PathParams {
        PathParams(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn patterns_match_literals_params_and_rest() {
        let cases: &[(&str, &str, Option<PathParams>)] = &[
            ("/", "/", Some(params(&[]))),
            ("/chat", "/chat", Some(params(&[]))),
            ("/chat", "/chat/", None),
            ("/chat", "/chatter", None),
            ("/rooms/:room", "/rooms/42", Some(params(&[("room", "42")]))),
            ("/rooms/:room", "/rooms/", None),
            ("/rooms/:room", "/rooms/42/extra", None),
            ("/static/*path", "/static/css/site.css", Some(params(&[("path", "css/site.css")]))),
            ("/static/*path", "/static", Some(params(&[("path", "")]))),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(&match_path(&parse_pattern(pattern), path), expected, "{pattern} vs {path}");
        }
    }

    #[test]
    fn method_and_host_decide_between_404_and_405() {
        let router = Router::new()
            .route_methods(&[Method::GET, Method::HEAD], "/health", Nothing)
            .route_host("chat.example.com", "/ws", Nothing)
            .route("/any", Nothing);
        assert!(router.find(None, &Method::GET, "/health").is_ok());
        assert_eq!(
            router.find(None, &Method::POST, "/health").err(),
            Some(Refusal::MethodNotAllowed(vec![Method::GET, Method::HEAD]))
        );
        assert_eq!(router.find(None, &Method::GET, "/nowhere").err(), Some(Refusal::NotFound));
        assert!(router.find(Some("chat.example.com"), &Method::GET, "/ws").is_ok());
        assert_eq!(
            router.find(Some("other.example.com"), &Method::GET, "/ws").err(),
            Some(Refusal::NotFound)
        );
        assert!(router.find(None, &Method::DELETE, "/any").is_ok());
    }

    #[test]
    fn host_comes_from_the_header_without_port() {
        let request = |host: &str| Request::builder().uri("/").header("host", host).body(()).unwrap();
        assert_eq!(request_host(&request("Chat.Example.com:8080")).as_deref(), Some("chat.example.com"));
        assert_eq!(request_host(&request("example.com")).as_deref(), Some("example.com"));
        assert_eq!(request_host(&request("[::1]:8080")).as_deref(), Some("[::1]"));
    }
}

//! `OriginCheck`: refuses browsers from origins that are not allowed (Ratchet's
//! `OriginCheck`, matching on scheme, host and port rather than host alone).

use async_trait::async_trait;
use http::{Request, Response, StatusCode};

use crate::http_server::response::refusal;
use crate::http_server::{Body, HttpComponent};

/// What to do with requests that carry no `Origin` header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingOrigin {
    /// Let them through (default): browsers always send `Origin` on WebSocket upgrades, so a
    /// request without one comes from a non-browser client, which could forge any origin anyway.
    #[default]
    Allow,
    /// Refuse them with 403 (Ratchet's behaviour).
    Deny,
}

/// One allowed origin: `https://example.com`, `https://*.example.com` (subdomains, not the
/// bare domain), `http://localhost:8080`, or `*` (any origin). A missing port means the
/// scheme's default.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Allowed {
    Any,
    Origin { scheme: String, host: HostPattern, port: u16 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com` stored as `.example.com`.
    Subdomains(String),
}

/// Wraps an [`HttpComponent`] and answers 403 to requests whose `Origin` is not allowed.
///
/// [`OriginCheck::same_origin`] allows the origin the page was served from: an `Origin` whose
/// host and port equal the request's `Host` (gorilla/websocket's default), whatever name or
/// address the browser used to reach the server. Refusals are logged at `warn` with the origin
/// and what was expected.
///
/// ```
/// use windlass::{HttpServer, MissingOrigin, OriginCheck, Router};
///
/// let app = HttpServer::new(
///     OriginCheck::new(Router::new(), ["https://chat.example.com", "https://*.example.org"])
///         .missing_origin(MissingOrigin::Deny),
/// );
/// ```
#[derive(Debug, Clone)]
pub struct OriginCheck<H> {
    inner: H,
    allowed: Vec<Allowed>,
    missing: MissingOrigin,
    /// Also allow an origin whose host and port are the request's `Host`.
    same_host: bool,
}

impl<H> OriginCheck<H> {
    /// Allows the given origins.
    ///
    /// # Panics
    ///
    /// If an origin is not `*` or `scheme://host[:port]` with an optional `*.` before the host.
    pub fn new<'a>(inner: H, allowed: impl IntoIterator<Item = &'a str>) -> Self {
        let allowed = allowed
            .into_iter()
            .map(|o| parse_allowed(o).unwrap_or_else(|| panic!("invalid allowed origin {o:?}")))
            .collect();
        Self { inner, allowed, missing: MissingOrigin::Allow, same_host: false }
    }

    /// Allows the page's own origin: an `Origin` whose host and port equal the request's
    /// `Host` header (default ports by the origin's scheme), so a page served at
    /// `http://127.0.0.1:8080/` and at `http://localhost:8080/` both reach the socket beside
    /// it; any other origin gets 403. Add others with [`allow`](Self::allow).
    pub fn same_origin(inner: H) -> Self {
        Self { inner, allowed: Vec::new(), missing: MissingOrigin::Allow, same_host: true }
    }

    /// Allows more origins (see [`new`](Self::new) for the forms).
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    pub fn allow<'a>(mut self, allowed: impl IntoIterator<Item = &'a str>) -> Self {
        self.allowed.extend(
            allowed
                .into_iter()
                .map(|o| parse_allowed(o).unwrap_or_else(|| panic!("invalid allowed origin {o:?}"))),
        );
        self
    }

    /// What to do with requests without `Origin` (default: allow).
    pub fn missing_origin(mut self, policy: MissingOrigin) -> Self {
        self.missing = policy;
        self
    }

    /// Whether a request with this `Origin` (or none) and this `Host` may pass.
    pub fn allows_request(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        if let (true, Some(origin), Some(host)) = (self.same_host, origin, host) {
            if let Some((scheme, origin_host, origin_port)) = split_origin(origin) {
                let default_port = if scheme == "https" { 443 } else { 80 };
                if split_host(host, default_port).is_some_and(|(h, p)| h == origin_host && p == origin_port) {
                    return true;
                }
            }
        }
        self.allows(origin)
    }

    /// What is expected, for the log line of a refusal.
    fn expected(&self, host: Option<&str>) -> String {
        let mut expected: Vec<String> = self
            .allowed
            .iter()
            .map(|allowed| match allowed {
                Allowed::Any => "*".to_owned(),
                Allowed::Origin { scheme, host: HostPattern::Exact(h), port } => {
                    format!("{scheme}://{h}:{port}")
                }
                Allowed::Origin { scheme, host: HostPattern::Subdomains(s), port } => {
                    format!("{scheme}://*{s}:{port}")
                }
            })
            .collect();
        if self.same_host {
            expected.insert(0, format!("the request's host ({})", host.unwrap_or("none")));
        }
        expected.join(" or ")
    }

    /// Whether a request with this `Origin` header value (or none) may pass the listed
    /// origins (not counting [`same_origin`](Self::same_origin)'s host match).
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return self.missing == MissingOrigin::Allow;
        };
        if self.allowed.contains(&Allowed::Any) {
            return true;
        }
        let Some((scheme, host, port)) = split_origin(origin) else {
            return false; // "null", or anything that is not an origin
        };
        self.allowed.iter().any(|allowed| match allowed {
            Allowed::Any => true,
            Allowed::Origin { scheme: s, host: h, port: p } => {
                *s == scheme
                    && *p == port
                    && match h {
                        HostPattern::Exact(exact) => *exact == host,
                        HostPattern::Subdomains(suffix) => {
                            host.ends_with(suffix.as_str()) && host.len() > suffix.len()
                        }
                    }
            }
        })
    }

    /// The wrapped component.
    pub fn get_ref(&self) -> &H {
        &self.inner
    }

    /// Unwraps the component.
    pub fn into_inner(self) -> H {
        self.inner
    }
}

fn parse_allowed(origin: &str) -> Option<Allowed> {
    if origin == "*" {
        return Some(Allowed::Any);
    }
    let (scheme, host, port) = split_origin(origin)?;
    let host = match host.strip_prefix("*.") {
        Some(domain) if !domain.is_empty() => HostPattern::Subdomains(format!(".{domain}")),
        Some(_) => return None,
        None => HostPattern::Exact(host),
    };
    Some(Allowed::Origin { scheme, host, port })
}

/// `scheme://host[:port]` → lowercased scheme and host, and the port (default by scheme).
fn split_origin(origin: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    // "[::1]:3000" keeps its brackets; otherwise the port follows the last ':'.
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (address, after) = v6.split_once(']')?;
            let port = if after.is_empty() { None } else { Some(after.strip_prefix(':')?) };
            (&rest[..address.len() + 2], port)
        }
        None => match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    if host.is_empty() {
        return None;
    }
    let default = match scheme.as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => 0,
    };
    let port = match port {
        Some(port) => parse_port(port)?,
        None => default,
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// Digits only (`u16::from_str` would take a leading `+`).
fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

#[async_trait]
impl<H: HttpComponent> HttpComponent for OriginCheck<H> {
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        let host = request.headers().get(http::header::HOST).and_then(|h| h.to_str().ok());
        let mut origins = request.headers().get_all(http::header::ORIGIN).iter();
        let refused = match (origins.next(), origins.next()) {
            (_, Some(_)) => Some("more than one Origin header".to_owned()),
            (Some(value), None) => match value.to_str() {
                Ok(origin) if self.allows_request(Some(origin), host) => None,
                Ok(origin) => Some(format!("origin {origin} is not allowed")),
                Err(_) => Some("the Origin header is not valid text".to_owned()),
            },
            (None, None) if self.allows_request(None, host) => None,
            (None, None) => Some("an Origin header is required".to_owned()),
        };
        match refused {
            None => self.inner.on_request(request).await,
            Some(body) => {
                let origin = request.headers().get(http::header::ORIGIN).and_then(|o| o.to_str().ok());
                tracing::warn!(
                    origin = origin.unwrap_or("none"),
                    expected = %self.expected(host),
                    path = request.uri().path(),
                    "origin refused with 403"
                );
                refusal(StatusCode::FORBIDDEN, &[], &body)
            }
        }
    }
}

/// A `Host` header value → lowercased host and port (`default_port` when absent).
fn split_host(host: &str, default_port: u16) -> Option<(String, u16)> {
    // An unknown scheme has no default port: an absent port comes back as 0.
    let (_, host, port) = split_origin(&format!("x://{host}"))?;
    Some((host, if port == 0 { default_port } else { port }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(allowed: &[&str]) -> OriginCheck<()> {
        OriginCheck::new((), allowed.iter().copied())
    }

    #[test]
    fn scheme_host_and_port_must_all_match() {
        let c = check(&["https://chat.example.com", "http://localhost:8080"]);
        assert!(c.allows(Some("https://chat.example.com")));
        assert!(c.allows(Some("https://chat.example.com:443")));
        assert!(c.allows(Some("HTTPS://Chat.Example.COM")));
        assert!(!c.allows(Some("http://chat.example.com")), "scheme");
        assert!(!c.allows(Some("https://chat.example.com:8443")), "port");
        assert!(!c.allows(Some("https://chat.example.com.evil.net")), "suffix");
        assert!(!c.allows(Some("https://evilchat.example.com")));
        assert!(c.allows(Some("http://localhost:8080")));
        assert!(!c.allows(Some("http://localhost")), "default port 80 is not 8080");
        assert!(!c.allows(Some("null")));
        assert!(!c.allows(Some("")));
        assert!(!c.allows(Some("https://chat.example.com/path")));
        assert!(!c.allows(Some("https://user@chat.example.com")));
        assert!(!c.allows(Some("https://chat.example.com:+443")));
        assert!(!c.allows(Some("https://chat.example.com:")));
    }

    #[test]
    fn wildcard_subdomains_exclude_the_bare_domain() {
        let c = check(&["https://*.example.org"]);
        assert!(c.allows(Some("https://a.example.org")));
        assert!(c.allows(Some("https://a.b.example.org")));
        assert!(!c.allows(Some("https://example.org")));
        assert!(!c.allows(Some("https://evilexample.org")));
        assert!(!c.allows(Some("https://a.example.org:444")));
    }

    #[test]
    fn any_and_missing_origin_policies() {
        assert!(check(&["*"]).allows(Some("null")));
        assert!(check(&["https://x.io"]).allows(None));
        assert!(!check(&["https://x.io"]).missing_origin(MissingOrigin::Deny).allows(None));
        assert!(check(&["http://[::1]:3000"]).allows(Some("http://[::1]:3000")));
    }

    #[test]
    fn same_origin_is_the_requests_own_host_and_port() {
        let c = OriginCheck::same_origin(());
        assert!(c.allows_request(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")));
        assert!(c.allows_request(Some("http://localhost:8080"), Some("LOCALHOST:8080")));
        assert!(c.allows_request(Some("https://chat.example.com"), Some("chat.example.com")));
        assert!(c.allows_request(Some("http://chat.example.com"), Some("chat.example.com:80")));
        assert!(c.allows_request(Some("http://[::1]:3000"), Some("[::1]:3000")));
        assert!(!c.allows_request(Some("http://localhost:8080"), Some("127.0.0.1:8080")), "another name");
        assert!(!c.allows_request(Some("http://127.0.0.1:8081"), Some("127.0.0.1:8080")), "another port");
        assert!(
            !c.allows_request(Some("https://chat.example.com"), Some("chat.example.com:80")),
            "scheme port"
        );
        assert!(!c.allows_request(Some("http://evil.example"), None));
        assert!(!c.allows_request(Some("null"), Some("127.0.0.1:8080")));
        assert!(c.allows_request(None, Some("127.0.0.1:8080")), "non-browser clients pass by default");
        let c = OriginCheck::same_origin(()).allow(["https://app.example.com"]);
        assert!(c.allows_request(Some("https://app.example.com"), Some("127.0.0.1:8080")));
        assert!(
            c.expected(Some("h:1")).starts_with("the request's host (h:1) or https://app.example.com:443")
        );
    }

    #[test]
    #[should_panic(expected = "invalid allowed origin")]
    fn invalid_allowed_origins_are_refused_at_construction() {
        let _ = check(&["example.com"]);
    }
}

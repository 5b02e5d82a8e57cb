//! `TrustedProxies`: the real client address behind reverse proxies, believed only when the
//! proxy is one we trust.

use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;
use http::header::{FORWARDED, HeaderMap};
use http::{Request, Response};

use crate::blacklist::{InvalidIpNet, IpNet};
use crate::http_server::{Body, ConnectionInfo, HttpComponent};

/// Wraps an [`HttpComponent`]: when the peer is a trusted proxy, the client address is taken
/// from `Forwarded: for=` (RFC 7239) or, failing that, `X-Forwarded-For`, walking the chain
/// from the nearest hop and skipping trusted proxies; the first untrusted address is the client.
/// From any other peer the headers are ignored, so they cannot be spoofed.
/// `Connection::remote_addr` then reports the client (with port 0 when none was forwarded).
///
/// ```
/// use windlass::{HttpServer, Router, TrustedProxies};
///
/// let app = HttpServer::new(TrustedProxies::new(Router::new(), ["10.0.0.0/8", "127.0.0.1"]).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct TrustedProxies<H> {
    inner: H,
    trusted: Vec<IpNet>,
}

impl<H> TrustedProxies<H> {
    /// Trusts proxies at these addresses or CIDR ranges.
    pub fn new<'a>(inner: H, trusted: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidIpNet> {
        let trusted = trusted.into_iter().map(str::parse).collect::<Result<_, _>>()?;
        Ok(Self { inner, trusted })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }

    /// The client address for a request from `peer`.
    pub(crate) fn client_addr(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.is_trusted(peer.ip()) {
            return peer;
        }
        let hops = forwarded_for(headers).unwrap_or_else(|| x_forwarded_for(headers));
        // Nearest hop last: walk back until an address we do not trust.
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = *hop else {
                return client; // "unknown" or garbage: stop believing the chain here
            };
            client = addr;
            if !self.is_trusted(addr.ip()) {
                break;
            }
        }
        client
    }
}

/// `Forwarded: for=` values in order, if the header is present.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<SocketAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        let value = value.to_str().ok()?;
        for element in value.split(',') {
            let for_value = element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"'))
            });
            if let Some(v) = for_value {
                hops.push(parse_node(v));
            }
        }
    }
    (!hops.is_empty()).then_some(hops)
}

fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<SocketAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| parse_node(v.trim()))
        .collect()
}

/// `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<SocketAddr> {
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip = node.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(node);
    ip.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[async_trait]
impl<H: HttpComponent> HttpComponent for TrustedProxies<H> {
    async fn on_request(&self, mut request: Request<Body>) -> Response<Body> {
        let client = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| self.client_addr(info.remote_addr, request.headers()));
        if let (Some(client), Some(info)) = (client, request.extensions_mut().get_mut::<ConnectionInfo>()) {
            info.remote_addr = client;
        }
        self.inner.on_request(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    fn proxies() -> TrustedProxies<()> {
        TrustedProxies::new((), ["10.0.0.0/8", "127.0.0.1"]).unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(proxies().client_addr(addr("203.0.113.9:5000"), &h), addr("203.0.113.9:5000"));
    }

    #[test]
    fn the_first_untrusted_hop_from_the_nearest_is_the_client() {
        // The client put a fake address first; our proxies appended the real one.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(proxies().client_addr(addr("127.0.0.1:80"), &h), addr("198.51.100.7:0"));
    }

    #[test]
    fn forwarded_is_preferred_and_may_carry_ports_and_ipv6() {
        let h = headers(&[
            ("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.2.2.2"),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(proxies().client_addr(addr("127.0.0.1:80"), &h), addr("[2001:db8:cafe::17]:4711"));
    }

    #[test]
    fn garbage_stops_the_walk() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7, unknown")]);
        assert_eq!(proxies().client_addr(addr("10.0.0.5:80"), &h), addr("10.0.0.5:80"));
        let none = headers(&[]);
        assert_eq!(proxies().client_addr(addr("10.0.0.5:80"), &none), addr("10.0.0.5:80"));
    }
}

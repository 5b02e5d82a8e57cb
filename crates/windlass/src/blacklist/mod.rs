//! `IpBlackList`: drops connections from blocked addresses and ranges before a byte of HTTP is
//! read (Ratchet's `IpBlackList`, with CIDR ranges and a handle to change it at runtime).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;

use crate::io_server::{IoComponent, IoConnection};

/// An address or a CIDR range: `203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Not an address or CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address or CIDR range: {0:?}")]
pub struct InvalidIpNet(String);

impl IpNet {
    /// Whether `ip` is in this range. IPv4 peers seen as IPv4-mapped IPv6 (`::ffff:a.b.c.d`,
    /// as on dual-stack listeners) match IPv4 ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    a[..full] == b[..full] && (rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0)
}

impl FromStr for IpNet {
    type Err = InvalidIpNet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidIpNet(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr = canonical(addr.trim().parse::<IpAddr>().map_err(|_| invalid())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(invalid)?
            }
            Some(_) => return Err(invalid()),
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Changes an [`IpBlackList`] while the server runs (Clone + Send + Sync).
#[derive(Clone, Debug, Default)]
pub struct BlackListHandle {
    blocked: Arc<RwLock<Vec<IpNet>>>,
}

impl BlackListHandle {
    /// Blocks an address or range (Ratchet's `blockAddress`). New connections from it are
    /// dropped; open ones are not touched.
    pub fn block(&self, net: &str) -> Result<(), InvalidIpNet> {
        let net: IpNet = net.parse()?;
        let mut blocked = self.blocked.write().unwrap_or_else(PoisonError::into_inner);
        if !blocked.contains(&net) {
            blocked.push(net);
        }
        Ok(())
    }

    /// Unblocks an address or range exactly as it was blocked (Ratchet's `unblockAddress`).
    /// Returns whether it was blocked.
    pub fn unblock(&self, net: &str) -> Result<bool, InvalidIpNet> {
        let net: IpNet = net.parse()?;
        let mut blocked = self.blocked.write().unwrap_or_else(PoisonError::into_inner);
        let before = blocked.len();
        blocked.retain(|b| *b != net);
        Ok(blocked.len() != before)
    }

    /// Whether connections from `ip` are dropped (Ratchet's `isBlocked`).
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        self.blocked.read().unwrap_or_else(PoisonError::into_inner).iter().any(|net| net.contains(ip))
    }

    /// Every blocked address and range (Ratchet's `getBlockedAddresses`).
    pub fn blocked(&self) -> Vec<IpNet> {
        self.blocked.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Wraps an [`IoComponent`] and closes connections from blocked addresses at once, before
/// anything they send is read.
///
/// ```
/// use windlass::{HttpServer, IpBlackList, Router};
///
/// let blacklist = IpBlackList::new(HttpServer::new(Router::new()));
/// let handle = blacklist.handle();
/// handle.block("10.0.0.0/8").unwrap();
/// handle.block("2001:db8::/32").unwrap();
/// // IoServer::bind(addr, blacklist) ...; later, from anywhere: handle.unblock("10.0.0.0/8")
/// ```
#[derive(Debug, Clone)]
pub struct IpBlackList<A> {
    inner: A,
    list: BlackListHandle,
}

impl<A> IpBlackList<A> {
    /// Wraps `inner` with an empty list.
    pub fn new(inner: A) -> Self {
        Self { inner, list: BlackListHandle::default() }
    }

    /// The handle that changes the list.
    pub fn handle(&self) -> BlackListHandle {
        self.list.clone()
    }

    /// The wrapped component.
    pub fn get_ref(&self) -> &A {
        &self.inner
    }
}

#[async_trait]
impl<A: IoComponent> IoComponent for IpBlackList<A> {
    async fn on_connection(&self, conn: IoConnection) {
        if self.list.is_blocked(conn.remote_addr().ip()) {
            tracing::debug!(remote = %conn.remote_addr(), "blocked address");
            return; // dropping the connection closes it
        }
        self.inner.on_connection(conn).await;
    }

    fn refusal(&self) -> &'static [u8] {
        self.inner.refusal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_match_by_prefix() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped IPv6");
        let odd: IpNet = "192.168.1.128/25".parse().unwrap();
        assert!(odd.contains(ip("192.168.1.200")));
        assert!(!odd.contains(ip("192.168.1.127")));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::7")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.1.2.3")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one: IpNet = "127.0.0.1".parse().unwrap();
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
    }

    #[test]
    fn invalid_ranges_are_refused() {
        for bad in ["", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/+8", "::/129", "example.com", "10.0.0/8"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn handle_blocks_and_unblocks() {
        let list = BlackListHandle::default();
        list.block("10.0.0.0/8").unwrap();
        list.block("10.0.0.0/8").unwrap();
        assert_eq!(list.blocked().len(), 1);
        assert!(list.is_blocked(ip("10.9.9.9")));
        assert_eq!(list.unblock("10.0.0.0/8"), Ok(true));
        assert_eq!(list.unblock("10.0.0.0/8"), Ok(false));
        assert!(!list.is_blocked(ip("10.9.9.9")));
        assert!(list.block("nonsense").is_err());
    }
}

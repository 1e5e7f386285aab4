//! The client's IP address for rate limiting. Behind a reverse proxy it comes
//! from a configured header, and only when the connection itself comes from a
//! trusted proxy; an `X-Forwarded-For` from anyone else is ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    address: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Option<IpNet> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNet { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(net), u128::from(ip), 128, self.prefix),
            _ => false,
        }
    }
}

fn masked(net: u128, ip: u128, bits: u8, prefix: u8) -> bool {
    let shift = u32::from(bits - prefix);
    if shift >= 128 {
        return true;
    }
    (net >> shift) == (ip >> shift)
}

/// How to find the client's address.
#[derive(Debug, Clone, Default)]
pub struct ClientIpPolicy {
    /// A header set by the reverse proxy (`x-forwarded-for`, `x-real-ip`, …), lowercase.
    pub header: Option<String>,
    /// Peers whose header is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl ClientIpPolicy {
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let Some(header) = &self.header else { return peer };
        if !self.trusted_proxies.iter().any(|net| net.contains(peer)) {
            return peer;
        }
        // The proxy appends the address it saw last, so only the rightmost entry is its word;
        // anything left of it came from the client and proves nothing.
        headers
            .get_all(header.as_str())
            .iter()
            .next_back()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .and_then(|entry| entry.trim().parse::<IpAddr>().ok())
            .unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn networks() {
        let loopback = IpNet::parse("127.0.0.0/8").expect("net");
        assert!(loopback.contains(ip("127.1.2.3")));
        assert!(!loopback.contains(ip("128.0.0.1")));
        assert!(loopback.contains(ip("::ffff:127.0.0.1")), "v4-mapped v6");
        assert!(IpNet::parse("::1").expect("net").contains(ip("::1")));
        assert!(IpNet::parse("0.0.0.0/0").expect("net").contains(ip("203.0.113.9")));
        assert!(IpNet::parse("fd00::/8").expect("net").contains(ip("fd12::1")));
        assert_eq!(IpNet::parse("10.0.0.0/33"), None);
        assert_eq!(IpNet::parse("nonsense"), None);
    }

    #[test]
    fn header_is_believed_only_from_trusted_proxies() {
        let policy = ClientIpPolicy {
            header: Some("x-forwarded-for".into()),
            trusted_proxies: vec![IpNet::parse("10.0.0.0/8").expect("net")],
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.7, 203.0.113.5".parse().expect("value"));
        assert_eq!(policy.client_ip(ip("10.1.1.1"), &headers), ip("203.0.113.5"));
        assert_eq!(policy.client_ip(ip("192.0.2.1"), &headers), ip("192.0.2.1"), "untrusted peer");
        assert_eq!(policy.client_ip(ip("10.1.1.1"), &HeaderMap::new()), ip("10.1.1.1"), "no header");
        let unset = ClientIpPolicy::default();
        assert_eq!(unset.client_ip(ip("10.1.1.1"), &headers), ip("10.1.1.1"), "no header configured");
        let mut spoofed = HeaderMap::new();
        spoofed.insert("x-forwarded-for", "203.0.113.5, garbage".parse().expect("value"));
        assert_eq!(policy.client_ip(ip("10.1.1.1"), &spoofed), ip("10.1.1.1"), "an unparsable last hop is not skipped");
    }
}

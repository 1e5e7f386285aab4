//! The SSRF guard for key and discovery URLs: `https` only, no credentials
//! in the URL, and every address a name resolves to must be public, checked
//! before connecting (and the connection goes to exactly those addresses).
//! Hosts the operator allowlists (an on-premises identity provider, tests on
//! loopback) may be private and may use plain `http`.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use url::{Host, Url};

/// Resolves host names; injectable so tests never send traffic to private ranges.
pub trait Resolver: Send + Sync + 'static {
    fn resolve(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + '_>>;
}

/// The system resolver.
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + '_>> {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    }
}

#[derive(Clone)]
pub struct UrlGuard {
    allow_hosts: Arc<Vec<String>>,
    resolver: Arc<dyn Resolver>,
}

impl UrlGuard {
    pub fn new(allow_hosts: Vec<String>, resolver: Arc<dyn Resolver>) -> Self {
        let allow_hosts =
            allow_hosts.into_iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
        UrlGuard { allow_hosts: Arc::new(allow_hosts), resolver }
    }

    fn allowlisted(&self, host: &str) -> bool {
        allowlisted(&self.allow_hosts, host)
    }

    /// Checks a URL's shape before anything is resolved or fetched.
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        check_url_shape(url, &self.allow_hosts)
    }

    /// Resolves `host`, refusing it when any address is not public (unless allowlisted).
    pub async fn resolve_checked(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let addresses = self.resolver.resolve(host).await.map_err(|error| format!("cannot resolve {host}: {error}"))?;
        if addresses.is_empty() {
            return Err(format!("{host} has no address"));
        }
        if !self.allowlisted(host)
            && let Some(private) = addresses.iter().find(|ip| !is_public(**ip))
        {
            return Err(format!("{host} resolves to {private}, which is not a public address"));
        }
        Ok(addresses)
    }
}

impl reqwest::dns::Resolve for UrlGuard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let addresses = guard.resolve_checked(name.as_str()).await.map_err(io::Error::other)?;
            let sockets: Vec<SocketAddr> = addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(sockets.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn allowlisted(allow_hosts: &[String], host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    allow_hosts
        .iter()
        .any(|allowed| allowed.trim().trim_start_matches('[').trim_end_matches(']').eq_ignore_ascii_case(&host))
}

/// Checks the text of a key or discovery URL as `rules add` receives it: a URL
/// whose shape passes [`check_url_shape`].
pub fn check_key_url(text: &str, allow_hosts: &[String]) -> Result<(), String> {
    let url = Url::parse(text).map_err(|error| format!("not a valid URL ({error})"))?;
    check_url_shape(&url, allow_hosts)
}

/// A URL's shape, before anything is resolved or fetched: `https` (plain
/// `http` only for an allowlisted host), a host, no credentials, and no
/// literal private address or `localhost` name unless the host is allowlisted.
pub fn check_url_shape(url: &Url, allow_hosts: &[String]) -> Result<(), String> {
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(format!("{scheme}: URLs are refused; key URLs must be https"));
    }
    let host = url.host_str().filter(|host| !host.is_empty()).ok_or("the URL has no host")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are refused".into());
    }
    let allowlisted = allowlisted(allow_hosts, host);
    if scheme == "http" && !allowlisted {
        return Err(format!(
            "http:// is refused for {host}; key URLs must be https (or the host allowlisted in jwks_allow_hosts)"
        ));
    }
    if allowlisted {
        return Ok(());
    }
    let literal = match url.host() {
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        // Decimal, octal or hex spellings of an address (`2130706433`, `0x7f.1`) are never names.
        Some(Host::Domain(domain)) if looks_numeric(domain) => {
            return Err(format!("{domain} spells an address; use the plain form"));
        }
        Some(Host::Domain(domain)) if is_localhost(domain) => {
            return Err(format!("{domain} is a loopback name; allowlist it in jwks_allow_hosts to use it"));
        }
        _ => None,
    };
    if let Some(ip) = literal
        && !is_public(ip)
    {
        return Err(format!("{ip} is not a public address; allowlist it in jwks_allow_hosts to use it"));
    }
    Ok(())
}

/// `localhost` and its subdomains always mean loopback (RFC 6761).
fn is_localhost(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    domain == "localhost" || domain.ends_with(".localhost")
}

fn looks_numeric(host: &str) -> bool {
    host.split('.').all(|part| {
        let digits = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")).unwrap_or(part);
        !part.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())
    }) && host.bytes().any(|b| b.is_ascii_digit())
}

/// True for globally routable unicast addresses. IPv6 forms that carry an
/// IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are judged by that
/// address; every other special-purpose range of the IANA registries is refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

/// The IPv4 addresses an IPv6 address embeds, by the transition mechanism it belongs to.
fn embedded_v4(ip: Ipv6Addr) -> Option<Vec<Ipv4Addr>> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let prefix = |len: u32, value: u128| bits >> (128 - len) == value >> (128 - len);
    if prefix(96, 0) || prefix(96, 0xffff << 32) {
        // IPv4-compatible (deprecated, ::/96, which also holds :: and ::1) and IPv4-mapped.
        return Some(vec![low32]);
    }
    if prefix(96, 0x0064_ff9b << 96) {
        // NAT64, well-known prefix (RFC 6052).
        return Some(vec![low32]);
    }
    if prefix(16, 0x2002 << 112) {
        // 6to4 (RFC 3056): the IPv4 address follows the prefix.
        return Some(vec![Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32)]);
    }
    if prefix(32, 0x2001_0000 << 96) {
        // Teredo (RFC 4380): the server, and the client with its bits inverted.
        let server = Ipv4Addr::from(((bits >> 64) & 0xffff_ffff) as u32);
        let client = Ipv4Addr::from(!((bits & 0xffff_ffff) as u32));
        return Some(vec![server, client]);
    }
    None
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(embedded) = embedded_v4(ip) {
        return embedded.into_iter().all(is_public_v4);
    }
    let bits = u128::from(ip);
    let within = |network: u128, len: u32| bits >> (128 - len) == network >> (128 - len);
    // Only global unicast (2000::/3) is routable at all; within it, refuse the special-purpose blocks.
    within(0x2000 << 112, 3)
        && !(within(0x2001 << 112, 23) // IETF protocol assignments (benchmarking, ORCHID, …)
            || within(0x2001_0db8 << 96, 32) // documentation
            || within(0x3fff << 112, 20) // documentation (RFC 9637)
            || within(0x5f00 << 112, 16)) // SRv6 SIDs
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<IpAddr>);

    impl Resolver for Fixed {
        fn resolve(&self, _host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + '_>> {
            let addresses = self.0.clone();
            Box::pin(async move { Ok(addresses) })
        }
    }

    fn guard(addresses: &[&str], allow: &[&str]) -> UrlGuard {
        let addresses = addresses.iter().map(|a| a.parse().expect("ip")).collect();
        UrlGuard::new(allow.iter().map(|h| (*h).to_owned()).collect(), Arc::new(Fixed(addresses)))
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "192.88.99.1",
            // IPv6 forms that embed a private IPv4 address.
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::7f00:1",
            "64:ff9b:1:7f00:1::",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:c0a8:101::1",
            "2001:0:7f00:1::1",
            "2001:0:808:808:0:0:80ff:fffe",
            "::7f00:1",
            "::a00:1",
            "::ffff:0:7f00:1",
            // Other special-purpose IPv6 ranges.
            "100::1",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "fec0::1",
            "ff02::1",
            "4000::1",
            "::2:0:0:1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:0:808:808:0:0:f7f7:f7f7",
        ] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }

    #[test]
    fn url_shapes() {
        let g = guard(&[], &["127.0.0.1", "localhost"]);
        assert!(g.check_url(&url("https://idp.example.com/jwks")).is_ok());
        assert!(g.check_url(&url("http://idp.example.com/jwks")).is_err(), "plain http");
        assert!(g.check_url(&url("file:///etc/passwd")).is_err());
        assert!(g.check_url(&url("gopher://idp.example.com/")).is_err());
        assert!(g.check_url(&url("https://user:pw@idp.example.com/")).is_err());
        assert!(g.check_url(&url("https://good.example@evil.example/")).is_err());
        // Literal addresses, in every spelling the URL parser normalises.
        for literal in [
            "https://10.0.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[::ffff:127.0.0.2]/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://0x7f.1/",
            "https://0.0.0.0/",
            "https://[64:ff9b::7f00:1]:8443/jwks",
            "https://[2002:7f00:1::1]/",
            "https://[2001:0:7f00:1::1]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b:1::a00:1]/",
        ] {
            assert!(guard(&[], &[]).check_url(&url(literal)).is_err(), "{literal}");
        }
        assert!(g.check_url(&url("http://127.0.0.1:8080/jwks")).is_ok(), "allowlisted loopback");
        assert!(g.check_url(&url("http://localhost:8080/jwks")).is_ok());
        for loopback_name in ["https://localhost/jwks", "https://LOCALHOST./jwks", "https://idp.localhost/jwks"] {
            assert!(guard(&[], &[]).check_url(&url(loopback_name)).is_err(), "{loopback_name}");
        }
    }

    #[test]
    fn key_urls_as_typed() {
        let allow = ["127.0.0.1".to_owned(), "IdP.Internal".to_owned()];
        assert!(check_key_url("https://idp.example.com/.well-known/jwks.json", &[]).is_ok());
        assert!(check_key_url("http://127.0.0.1:9000/jwks", &allow).is_ok());
        assert!(check_key_url("http://idp.internal/jwks", &allow).is_ok());
        for (bad, reason) in [
            ("file:///etc/passwd", "https"),
            ("not a url", "not a valid URL"),
            ("gopher://idp.example.com/", "https"),
            ("http://idp.example.com/jwks", "jwks_allow_hosts"),
            ("http://10.0.0.1/jwks", "jwks_allow_hosts"),
            ("https://10.0.0.1/jwks", "not a public address"),
            ("https://localhost:8443/jwks", "loopback"),
            ("https://user:pw@idp.example.com/jwks", "credentials"),
            ("https://[64:ff9b::7f00:1]/jwks", "not a public address"),
            ("https://", "not a valid URL"),
        ] {
            let error = check_key_url(bad, &[]).expect_err(bad);
            assert!(error.contains(reason), "{bad}: {error}");
        }
    }

    #[tokio::test]
    async fn resolution_is_checked_address_by_address() {
        assert!(guard(&["93.184.216.34"], &[]).resolve_checked("idp.example.com").await.is_ok());
        for bad in [
            vec!["10.0.0.5"],
            vec!["93.184.216.34", "127.0.0.1"],
            vec!["::1"],
            vec!["64:ff9b::7f00:1"],
            vec!["2002:7f00:1::1"],
            vec![],
        ] {
            let g = guard(&bad, &[]);
            assert!(g.resolve_checked("idp.example.com").await.is_err(), "{bad:?}");
        }
        assert!(guard(&["10.0.0.5"], &["idp.internal"]).resolve_checked("idp.internal").await.is_ok());
    }
}

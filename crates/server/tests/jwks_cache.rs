//! The JWKS cache against a programmable key server on 127.0.0.1: TTLs from
//! Cache-Control, unknown-kid refetches with a cooldown, single flight, slow,
//! failing, invalid, huge and redirecting endpoints, stale-if-error, and the
//! SSRF guard with an injected resolver (no traffic to private ranges).

#[path = "common/issuer.rs"]
mod issuer;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use issuer::{JwksServer, Keys};
use threadhold_auth::VerifyError;
use threadhold_auth::jwks::{CachePolicy, JwksCache};
use threadhold_auth::ssrf::{Resolver, SystemResolver, UrlGuard};

fn policy() -> CachePolicy {
    CachePolicy {
        min_ttl: Duration::from_millis(200),
        max_ttl: Duration::from_millis(600),
        default_ttl: Duration::from_millis(400),
        unknown_kid_cooldown: Duration::from_millis(500),
        max_unknown_kids: 8,
        stale_limit: Duration::from_secs(2),
        failure_backoff: Duration::from_millis(10),
        timeout: Duration::from_millis(500),
        max_body_bytes: 64 * 1024,
    }
}

fn cache(policy: CachePolicy) -> JwksCache {
    let guard = UrlGuard::new(vec!["127.0.0.1".into()], Arc::new(SystemResolver));
    JwksCache::new(guard, policy).expect("cache")
}

async fn setup() -> (JwksServer, Keys, JwksCache) {
    let keys = Keys::generate("k");
    (JwksServer::start(keys.jwks()).await, keys, cache(policy()))
}

#[tokio::test]
async fn fresh_keys_are_served_from_memory() {
    let (server, keys, cache) = setup().await;
    server.set(|b| b.cache_control = Some("public, max-age=3600".into()));
    for _ in 0..20 {
        let found = cache.keys(&server.url, Some(&keys.kid_for("RS256"))).await.expect("keys");
        assert_eq!(found.len(), 4);
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn cache_control_is_clamped() {
    for (header, refetched_after_250ms, refetched_after_700ms) in
        [("no-store", true, true), ("max-age=0", true, true), ("max-age=31536000", false, true)]
    {
        let (server, _, cache) = setup().await;
        server.set(|b| b.cache_control = Some(header.into()));
        cache.keys(&server.url, None).await.expect("keys");
        tokio::time::sleep(Duration::from_millis(250)).await;
        cache.keys(&server.url, None).await.expect("keys");
        assert_eq!(server.hits() == 2, refetched_after_250ms, "{header} at 250 ms");
        tokio::time::sleep(Duration::from_millis(700)).await;
        let before = server.hits();
        cache.keys(&server.url, None).await.expect("keys");
        assert_eq!(server.hits() > before, refetched_after_700ms, "{header} at 950 ms");
    }
}

#[tokio::test]
async fn unknown_kids_refetch_once_per_cooldown() {
    let (server, keys, cache) = setup().await;
    let cache = Arc::new(cache);
    cache.keys(&server.url, Some(&keys.kid_for("RS256"))).await.expect("keys");
    let mut flood = Vec::new();
    for i in 0..200 {
        let (cache, url) = (Arc::clone(&cache), server.url.clone());
        flood.push(tokio::spawn(async move { cache.keys(&url, Some(&format!("random-{i}"))).await.map(|k| k.len()) }));
    }
    for task in flood {
        assert_eq!(task.await.expect("task").expect("keys still served"), 4);
    }
    assert!(server.hits() <= 2, "a flood of unknown kids cost {} fetches", server.hits());
    // After the cooldown, a newly published key is found by its kid.
    let rotated = Keys::generate("rotated");
    server.set(|b| b.keys = rotated.jwks());
    tokio::time::sleep(Duration::from_millis(550)).await;
    let found = cache.keys(&server.url, Some(&rotated.kid_for("ES256"))).await.expect("keys");
    assert!(found.iter().any(|k| k.kid.as_deref() == Some(rotated.kid_for("ES256").as_str())));
}

#[tokio::test]
async fn a_key_rotated_in_right_after_a_fetch_is_found_at_once() {
    let keys = Keys::generate("k");
    let next = Keys::generate("next");
    let server = JwksServer::start(keys.jwks()).await;
    // Long TTLs: only the unknown kid may cause a refetch, however slow the machine is.
    let long = CachePolicy {
        min_ttl: Duration::from_secs(600),
        default_ttl: Duration::from_secs(600),
        max_ttl: Duration::from_secs(600),
        ..policy()
    };
    let cache = cache(long);
    cache.keys(&server.url, Some(&keys.kid_for("RS256"))).await.expect("keys");
    server.set(|b| b.keys = [keys.jwks(), next.jwks()].concat());
    let found = cache.keys(&server.url, Some(&next.kid_for("RS256"))).await.expect("keys");
    assert!(found.iter().any(|k| k.kid.as_deref() == Some(next.kid_for("RS256").as_str())));
    assert_eq!(server.hits(), 2);
    // The cooldown now holds: another unknown kid costs nothing.
    cache.keys(&server.url, Some("never-published")).await.expect("keys");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let (server, _, cache) = setup().await;
    server.set(|b| b.delay = Duration::from_millis(200));
    let cache = Arc::new(cache);
    let mut waiting = Vec::new();
    for _ in 0..50 {
        let (cache, url) = (Arc::clone(&cache), server.url.clone());
        waiting.push(tokio::spawn(async move { cache.keys(&url, None).await.is_ok() }));
    }
    for task in waiting {
        assert!(task.await.expect("task"));
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn failing_endpoints_are_bounded_and_reported() {
    type Change = Box<dyn Fn(&mut issuer::Behaviour)>;
    let cases: Vec<(&str, Change)> = vec![
        ("500", Box::new(|b| b.status = 500)),
        ("404", Box::new(|b| b.status = 404)),
        ("429", Box::new(|b| b.status = 429)),
        ("invalid JSON", Box::new(|b| b.body = Some("{not json".into()))),
        ("HTML", Box::new(|b| b.body = Some("<html>login</html>".into()))),
        ("huge body", Box::new(|b| b.body = Some(format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(200_000))))),
        ("hanging", Box::new(|b| b.delay = Duration::from_secs(5))),
    ];
    for (name, change) in cases {
        let (server, _, cache) = setup().await;
        server.set(|b| change(b));
        let started = Instant::now();
        let outcome = cache.keys(&server.url, None).await;
        assert!(matches!(outcome, Err(VerifyError::KeysUnavailable(_))), "{name}: {outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{name} took {:?}", started.elapsed());
        assert_eq!(cache.stats().failures, 1, "{name}");
    }
    let (server, _, cache) = setup().await;
    server.set(|b| b.body = Some(r#"{"keys": []}"#.into()));
    assert!(cache.keys(&server.url, None).await.expect("an empty set is a set").is_empty());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (server, _, cache) = setup().await;
    let target = JwksServer::start(Keys::generate("t").jwks()).await;
    server.set(|b| b.redirect_to = Some(target.url.clone()));
    assert!(matches!(cache.keys(&server.url, None).await, Err(VerifyError::KeysUnavailable(_))));
    assert_eq!(target.hits(), 0);
}

#[tokio::test]
async fn stale_keys_serve_while_the_endpoint_fails() {
    let (server, keys, cache) = setup().await;
    cache.keys(&server.url, None).await.expect("first fetch");
    server.set(|b| b.status = 500);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let stale = cache.keys(&server.url, Some(&keys.kid_for("RS256"))).await.expect("stale keys");
    assert_eq!(stale.len(), 4);
    assert!(server.hits() >= 2, "a refresh was attempted");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(cache.keys(&server.url, None).await.is_err(), "not beyond the stale limit");
    server.set(|b| b.status = 200);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(cache.keys(&server.url, None).await.is_ok(), "recovers once the endpoint does");
}

/// A resolver that answers fixed addresses and never touches the network.
struct Fixed(Vec<IpAddr>);

impl Resolver for Fixed {
    fn resolve(&self, _host: &str) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + '_>> {
        let addresses = self.0.clone();
        Box::pin(async move { Ok(addresses) })
    }
}

#[tokio::test]
async fn ssrf_guard_refuses_private_destinations_before_connecting() {
    for addresses in [
        vec!["10.0.0.7"],
        vec!["169.254.169.254"],
        vec!["203.0.113.10", "192.168.1.1"],
        vec!["::1"],
        vec!["::ffff:127.0.0.1"],
    ] {
        let resolver = Fixed(addresses.iter().map(|a| a.parse().expect("ip")).collect());
        let cache = JwksCache::new(UrlGuard::new(Vec::new(), Arc::new(resolver)), policy()).expect("cache");
        let outcome = cache.keys("https://idp.example.test/jwks", None).await;
        match outcome {
            Err(VerifyError::KeysUnavailable(reason)) => {
                assert!(reason.contains("not a public address"), "{addresses:?}: {reason}")
            }
            other => panic!("{addresses:?}: {other:?}"),
        }
    }
    let cache = cache(policy());
    for url in [
        "http://idp.example.test/jwks",
        "https://10.1.2.3/jwks",
        "https://[::1]/jwks",
        "https://2130706433/jwks",
        "https://user:secret@idp.example.test/jwks",
        "file:///etc/passwd",
        "ftp://idp.example.test/jwks",
    ] {
        assert!(matches!(cache.keys(url, None).await, Err(VerifyError::KeysUnavailable(_))), "{url}");
    }
    // Discovery goes through the same guard.
    assert!(cache.discover("https://10.0.0.1").await.is_err());
}

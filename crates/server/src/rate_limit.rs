//! Rate limits (token buckets) per client: per IP for the anonymous routes
//! that anyone on the internet can call (an IPv6 client is its /64 network,
//! one host commonly holds all of it; an IPv4 client its address), and per
//! workspace for costly reads such as search.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashlink::LruCache;
use threadhold_domain::limits::RATE_LIMIT_CLIENTS;

/// Buckets of at most [`RATE_LIMIT_CLIENTS`] clients; the one seen least recently
/// is forgotten first (a forgotten client starts over with a full bucket, which
/// is what a client idle that long would have anyway).
pub struct RateLimiter<K: RateKey = IpAddr> {
    per_minute: u32,
    buckets: Mutex<LruCache<K, Bucket>>,
}

/// What a bucket is kept for: a client's key as it is counted.
pub trait RateKey: Hash + Eq + Clone {
    /// The key of the bucket this client draws from.
    fn bucket(self) -> Self;
}

impl RateKey for IpAddr {
    /// IPv4 (also when written as IPv6) as is, IPv6 by its /64.
    fn bucket(self) -> Self {
        match self.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
            v4 => v4,
        }
    }
}

impl RateKey for String {
    fn bucket(self) -> Self {
        self
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: RateKey> RateLimiter<K> {
    /// `per_minute` requests a minute per client, in bursts of up to that many; 0 disables the limit.
    pub fn per_minute(per_minute: u32) -> Self {
        RateLimiter { per_minute, buckets: Mutex::new(LruCache::new(RATE_LIMIT_CLIENTS)) }
    }

    /// Takes one request from the client's budget, or says how long to wait.
    pub fn check(&self, client: K) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: K, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let client = client.bucket();
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // `insert` (unlike the entry API) evicts the least recently used client when full.
        if !buckets.contains_key(&client) {
            buckets.insert(client.clone(), Bucket { tokens: capacity, updated: now });
        }
        let Some(bucket) = buckets.get_mut(&client) else { return Ok(()) };
        let refilled = bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = refilled.min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn allows_a_burst_then_refuses_with_a_wait() {
        let limiter = RateLimiter::per_minute(30);
        let start = Instant::now();
        for _ in 0..30 {
            assert!(limiter.check_at(A, start).is_ok());
        }
        let wait = limiter.check_at(A, start).expect_err("31st request");
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2), "{wait:?}");
        assert!(limiter.check_at(B, start).is_ok(), "clients are limited separately");
        assert!(limiter.check_at(A, start + Duration::from_secs(2)).is_ok(), "refills over time");
        assert!(limiter.check_at(A, start + Duration::from_secs(2)).is_err());
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let limiter = RateLimiter::per_minute(2);
        let now = Instant::now();
        let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
        assert!(limiter.check_at(ip("2001:db8::1"), now).is_ok());
        assert!(limiter.check_at(ip("2001:db8::ffff:1"), now).is_ok());
        assert!(limiter.check_at(ip("2001:db8::abcd:ef01:2345:6789"), now).is_err());
        assert!(limiter.check_at(ip("2001:db8:0:1::1"), now).is_ok());
        assert!(limiter.check_at(ip("192.0.2.1"), now).is_ok());
        assert!(limiter.check_at(ip("::ffff:192.0.2.1"), now).is_ok());
        assert!(limiter.check_at(ip("192.0.2.1"), now).is_err(), "mapped IPv4 is the IPv4 client");
    }

    #[test]
    fn workspaces_have_buckets_of_their_own() {
        let limiter: RateLimiter<String> = RateLimiter::per_minute(1);
        let now = Instant::now();
        assert!(limiter.check_at("p/a".to_owned(), now).is_ok());
        assert!(limiter.check_at("p/a".to_owned(), now).is_err());
        assert!(limiter.check_at("p/b".to_owned(), now).is_ok());
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::per_minute(0);
        let now = Instant::now();
        assert!((0..1000).all(|_| limiter.check_at(A, now).is_ok()));
    }

    #[test]
    fn tracks_a_bounded_number_of_clients() {
        let limiter = RateLimiter::per_minute(10);
        let start = Instant::now();
        for _ in 0..10 {
            limiter.check_at(A, start).expect("A's burst");
        }
        for i in 0..(RATE_LIMIT_CLIENTS as u32 * 2) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i.wrapping_add(1 << 28)));
            limiter.check_at(ip, start).expect("first request");
            if i % 1000 == 0 {
                assert!(limiter.check_at(A, start).is_err(), "A, seen recently, keeps its empty bucket");
            }
        }
        assert_eq!(limiter.buckets.lock().expect("lock").len(), RATE_LIMIT_CLIENTS);
    }
}

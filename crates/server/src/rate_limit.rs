//! Per-client-IP rate limits (token buckets), for the anonymous routes that
//! anyone on the internet can call.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked clients, buckets that have refilled are dropped.
const PRUNE_ABOVE: usize = 10_000;

pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_minute` requests a minute per client, in bursts of up to that many; 0 disables the limit.
    pub fn per_minute(per_minute: u32) -> Self {
        RateLimiter { per_minute, buckets: Mutex::default() }
    }

    /// Takes one request from the client's budget, or says how long to wait.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second < capacity
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket { tokens: capacity, updated: now });
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
    fn zero_disables() {
        let limiter = RateLimiter::per_minute(0);
        let now = Instant::now();
        assert!((0..1000).all(|_| limiter.check_at(A, now).is_ok()));
    }

    #[test]
    fn prunes_refilled_buckets() {
        let limiter = RateLimiter::per_minute(10);
        let start = Instant::now();
        for i in 0..=PRUNE_ABOVE as u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            limiter.check_at(ip, start).expect("first request");
        }
        limiter.check_at(A, start + Duration::from_secs(120)).expect("later");
        assert!(limiter.buckets.lock().expect("lock").len() < 10);
    }
}

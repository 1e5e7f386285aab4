//! A small cache with a size bound and a time to live, for lookups keyed by
//! what clients send (project ids in paths, tokens): the least recently used
//! entry is dropped first, so a flood of made-up keys costs a fixed amount of
//! memory. Every cache of settings is also emptied when the settings change
//! ([`crate::settings_watch`]).

use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashlink::LruCache;

pub struct BoundedCache<K: Hash + Eq, V> {
    /// Each value with the instant it stops being served.
    entries: Mutex<LruCache<K, (Instant, V)>>,
    ttl: Duration,
}

impl<K: Hash + Eq, V: Clone> BoundedCache<K, V> {
    /// At most `capacity` entries, each served for `ttl` after it was stored.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        BoundedCache { entries: Mutex::new(LruCache::new(capacity.max(1))), ttl }
    }

    /// The value stored under `key`, while it has not expired.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match entries.get(key) {
            Some((until, value)) if Instant::now() < *until => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` for the cache's time to live.
    pub fn insert(&self, key: K, value: V) {
        self.insert_until(key, value, Instant::now() + self.ttl);
    }

    /// Stores `value` until `until`, or for the time to live if that is sooner.
    pub fn insert_until(&self, key: K, value: V, until: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let until = until.min(Instant::now() + self.ttl);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(key, (until, value));
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_least_recently_used_first() {
        let cache = BoundedCache::new(3, Duration::from_secs(60));
        for key in ["a", "b", "c"] {
            cache.insert(key.to_owned(), key.len());
        }
        assert_eq!(cache.get("a"), Some(1), "touching a keeps it");
        cache.insert("d".to_owned(), 1);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("b"), None, "b was the least recently used");
        assert_eq!(cache.get("a"), Some(1));
        for i in 0..10_000 {
            cache.insert(format!("flood-{i}"), 0);
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn entries_expire() {
        let cache = BoundedCache::new(3, Duration::from_millis(20));
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), Some(1));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.get("a"), None);
        assert!(cache.is_empty());
        let off = BoundedCache::new(3, Duration::ZERO);
        off.insert("a", 1);
        assert_eq!(off.get("a"), None);
    }

    #[test]
    fn entries_can_expire_sooner_and_be_cleared() {
        let cache = BoundedCache::new(3, Duration::from_secs(60));
        cache.insert_until("soon", 1, Instant::now() + Duration::from_millis(20));
        cache.insert_until("later", 2, Instant::now() + Duration::from_secs(3600));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!((cache.get("soon"), cache.get("later")), (None, Some(2)), "the earlier of deadline and ttl");
        cache.clear();
        assert!(cache.is_empty());
    }
}

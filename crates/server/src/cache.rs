//! A small cache with a size bound and a time to live, for lookups keyed by
//! what clients send (project ids in paths): the least recently used entry is
//! dropped first, so a flood of made-up keys costs a fixed amount of memory.

use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashlink::LruCache;

pub struct BoundedCache<K: Hash + Eq, V> {
    entries: Mutex<LruCache<K, (Instant, V)>>,
    ttl: Duration,
}

impl<K: Hash + Eq, V: Clone> BoundedCache<K, V> {
    /// At most `capacity` entries, each served for `ttl` after it was stored.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        BoundedCache { entries: Mutex::new(LruCache::new(capacity.max(1))), ttl }
    }

    /// The value stored under `key` less than `ttl` ago.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match entries.get(key) {
            Some((at, value)) if at.elapsed() < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(key, (Instant::now(), value));
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
}

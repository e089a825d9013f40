//! A small time-bounded cache for rows read on every request (keys, apps).
//!
//! Entries live `ttl`; a change made on this node removes them at once, a change made by
//! another node of a cluster is seen within `ttl`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<V> {
    ttl: Duration,
    max: usize,
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    entries: HashMap<String, (Instant, V)>,
    /// How many removals there have been; see [`TtlCache::ticket`].
    removals: u64,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration, max: usize) -> Self {
        TtlCache { ttl, max, inner: Mutex::new(Inner { entries: HashMap::new(), removals: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.lock().entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: String, value: V) {
        self.insert(&mut self.lock(), key, value);
    }

    fn insert(&self, inner: &mut Inner<V>, key: String, value: V) {
        if inner.entries.len() >= self.max {
            // Rare and cheap to rebuild: better than letting the map grow without bound.
            inner.entries.clear();
        }
        inner.entries.insert(key, (Instant::now(), value));
    }

    /// Taken before reading a value from the database to cache it; see [`TtlCache::put_since`].
    pub fn ticket(&self) -> u64 {
        self.lock().removals
    }

    /// Caches a value read after `ticket` was taken, unless something was removed since:
    /// the read may then predate a change whose commit that removal followed, and caching
    /// it would serve the old copy for a whole `ttl` after the change.
    pub fn put_since(&self, ticket: u64, key: String, value: V) {
        let mut inner = self.lock();
        if inner.removals == ticket {
            self.insert(&mut inner, key, value);
        }
    }

    pub fn remove(&self, key: &str) {
        let mut inner = self.lock();
        inner.removals += 1;
        inner.entries.remove(key);
    }

    pub fn retain(&self, keep: impl Fn(&V) -> bool) {
        let mut inner = self.lock();
        inner.removals += 1;
        inner.entries.retain(|_, (_, v)| keep(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_read_before_a_removal_is_not_cached_after_it() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let before = cache.ticket();
        cache.remove("app");
        cache.put_since(before, "app".into(), "old");
        assert_eq!(cache.get("app"), None);
        let after = cache.ticket();
        cache.put_since(after, "app".into(), "new");
        assert_eq!(cache.get("app"), Some("new"));
    }
}

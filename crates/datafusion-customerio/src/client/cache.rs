//! The response cache of one [`crate::CustomerIo`], shared by all its tables, and the coalescing
//! of identical requests in flight.
//!
//! An entry is the body and `Date` of a successful answer to one read request, keyed by the
//! credential's *name*, the base URL, the method, path, exact query and body: never the key
//! itself. It serves identical requests for its time to live (the table's `cache_ttl`, else the
//! session's `customerio.cache_ttl`, else 0: off). The cache is bounded by bytes (the bodies and
//! keys it holds), least recently used first out.
//!
//! What is never cached: requests that change something or whose answer must be fresh (export
//! creation, export status and download links: every path under `/v1/exports`), and failures.
//!
//! Coalescing: while a request is in flight, an identical one waits for its answer instead of
//! being sent (a self-join, a UNION of one table, two partitions needing the same list). It
//! shares the answer whatever the time to live; if the first fails, the next sends its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

/// The default bound of a cache: 256 MiB.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// A cached answer: its body and `Date`.
pub(crate) type Answer = (Bytes, Option<DateTime<Utc>>);

#[derive(Debug)]
struct Entry {
    answer: Answer,
    stored: Instant,
    expires: Instant,
    size: u64,
    tick: u64,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, String>,
    bytes: u64,
    tick: u64,
    inflight: HashMap<String, Arc<OnceCell<Answer>>>,
}

/// What `\cache` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Entries held.
    pub entries: usize,
    /// Bytes held (bodies and keys).
    pub bytes: u64,
    /// The bound.
    pub max_bytes: u64,
    /// Requests answered from the cache or by sharing one in flight.
    pub hits: u64,
    /// Requests sent because nothing held or in flight answered them.
    pub misses: u64,
}

/// The response cache of one [`crate::CustomerIo`].
#[derive(Debug)]
pub struct ResponseCache {
    state: Mutex<State>,
    max_bytes: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for ResponseCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_MAX_BYTES)
    }
}

impl ResponseCache {
    /// A cache holding at most `max_bytes` (0: it stores nothing; coalescing still happens).
    pub fn new(max_bytes: u64) -> Self {
        ResponseCache {
            state: Mutex::default(),
            max_bytes: AtomicU64::new(max_bytes),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the bound, evicting what no longer fits.
    pub fn set_max_bytes(&self, max_bytes: u64) {
        self.max_bytes.store(max_bytes, Ordering::Relaxed);
        let mut s = self.lock();
        Self::evict(&mut s, max_bytes);
    }

    /// Entries, bytes and hits.
    pub fn stats(&self) -> CacheStats {
        let s = self.lock();
        CacheStats {
            entries: s.entries.len(),
            bytes: s.bytes,
            max_bytes: self.max_bytes.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Empties the cache (what is in flight still completes).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.entries.clear();
        s.order.clear();
        s.bytes = 0;
    }

    /// The answer held for `key` if it is younger than `max_age` (the reader's time to live)
    /// and has not expired (an expired one is dropped). A `max_age` of zero reads nothing.
    pub(crate) fn get(&self, key: &str, max_age: Duration) -> Option<Answer> {
        if max_age.is_zero() {
            return None;
        }
        let mut s = self.lock();
        let now = Instant::now();
        let (answer, old_tick, expired, too_old) = match s.entries.get(key) {
            Some(e) => (
                e.answer.clone(),
                e.tick,
                e.expires <= now,
                now.duration_since(e.stored) >= max_age,
            ),
            None => return None,
        };
        if expired {
            if let Some(e) = s.entries.remove(key) {
                s.order.remove(&e.tick);
                s.bytes -= e.size;
            }
            return None;
        }
        if too_old {
            return None;
        }
        s.tick += 1;
        let tick = s.tick;
        s.order.remove(&old_tick);
        s.order.insert(tick, key.to_string());
        if let Some(e) = s.entries.get_mut(key) {
            e.tick = tick;
        }
        Some(answer)
    }

    /// Holds `answer` for `key` for `ttl`, evicting the least recently used beyond the bound.
    pub(crate) fn put(&self, key: &str, answer: Answer, ttl: Duration) {
        let max = self.max_bytes.load(Ordering::Relaxed);
        let size = (answer.0.len() + key.len()) as u64;
        if ttl.is_zero() || size > max {
            return;
        }
        let mut s = self.lock();
        if let Some(old) = s.entries.remove(key) {
            s.order.remove(&old.tick);
            s.bytes -= old.size;
        }
        s.tick += 1;
        let tick = s.tick;
        s.order.insert(tick, key.to_string());
        s.bytes += size;
        let stored = Instant::now();
        s.entries.insert(
            key.to_string(),
            Entry {
                answer,
                stored,
                expires: stored + ttl,
                size,
                tick,
            },
        );
        Self::evict(&mut s, max);
    }

    fn evict(s: &mut State, max: u64) {
        while s.bytes > max {
            let Some((_, key)) = s.order.pop_first() else {
                break;
            };
            if let Some(e) = s.entries.remove(&key) {
                s.bytes -= e.size;
            }
        }
    }

    /// The cell identical requests in flight share.
    pub(crate) fn inflight(&self, key: &str) -> Arc<OnceCell<Answer>> {
        self.lock()
            .inflight
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone()
    }

    /// Forgets `cell` as the one in flight for `key` when dropped, also when the request's
    /// future is (a `LIMIT` reached, a cancelled query): no entry stays behind.
    pub(crate) fn guard<'a>(
        &'a self,
        key: &'a str,
        cell: &'a Arc<OnceCell<Answer>>,
    ) -> InFlight<'a> {
        InFlight {
            cache: self,
            key,
            cell,
        }
    }

    /// Forgets `cell` as the one in flight for `key` (later requests start afresh).
    pub(crate) fn done(&self, key: &str, cell: &Arc<OnceCell<Answer>>) {
        let mut s = self.lock();
        if s.inflight.get(key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            s.inflight.remove(key);
        }
    }

    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> Answer {
        (Bytes::from(vec![b'x'; n]), None)
    }

    #[test]
    fn bounded_by_bytes_least_recently_used_out() {
        let c = ResponseCache::new(300);
        let ttl = Duration::from_secs(60);
        c.put("a", answer(90), ttl);
        c.put("b", answer(90), ttl);
        c.put("c", answer(90), ttl);
        assert!(c.get("a", ttl).is_some()); // a is now the most recent
        c.put("d", answer(90), ttl); // 4 × 91 > 300: b goes
        assert!(c.get("b", ttl).is_none());
        assert!(
            c.get("a", ttl).is_some() && c.get("c", ttl).is_some() && c.get("d", ttl).is_some()
        );
        assert!(c.stats().bytes <= 300);
        c.put("big", answer(400), ttl); // larger than the bound: not held
        assert!(c.get("big", ttl).is_none());
        c.clear();
        assert_eq!(c.stats().entries, 0);
    }

    #[test]
    fn entries_expire_and_zero_ttl_holds_nothing() {
        let c = ResponseCache::new(1000);
        let ttl = Duration::from_secs(60);
        c.put("a", answer(10), Duration::ZERO);
        assert!(c.get("a", ttl).is_none());
        c.put("b", answer(10), Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get("b", ttl).is_none());
        assert_eq!(c.stats().bytes, 0);
        // A reader's own time to live: an answer older than it is not served to it.
        c.put("c", answer(10), ttl);
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get("c", Duration::from_millis(1)).is_none());
        assert!(c.get("c", Duration::ZERO).is_none());
        assert!(c.get("c", ttl).is_some());
    }
}

/// Removes an in-flight cell from the map when dropped ([`ResponseCache::guard`]).
pub(crate) struct InFlight<'a> {
    cache: &'a ResponseCache,
    key: &'a str,
    cell: &'a Arc<OnceCell<Answer>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.cache.done(self.key, self.cell);
    }
}

#[cfg(test)]
mod inflight_tests {
    use super::*;

    #[test]
    fn a_dropped_request_leaves_no_entry_in_flight() {
        let c = ResponseCache::new(1000);
        let cell = c.inflight("k");
        {
            let _g = c.guard("k", &cell);
        }
        assert!(c.lock().inflight.is_empty());
    }
}

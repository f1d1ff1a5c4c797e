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
//! Paginated listings are held whole or not at all: a later read takes every page from one
//! earlier read, never page 1 from the cache and page 2 from the API with a cursor or offset of
//! another time (that skips or repeats rows). A listing's first page serves a new read only once
//! its last page is held; its pages expire together and are evicted together (one unit of
//! use, at most half the bound). A read served a listing's first page takes its later pages
//! from a copy of that listing's pages, whatever happens to the cache meanwhile; readers sharing
//! a listing as it is read find its later pages by its number.
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

/// A cached answer: its body, its `Date`, and the listing it is the first page of (0: none).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) body: Bytes,
    pub(crate) date: Option<DateTime<Utc>>,
    pub(crate) listing: u64,
}

impl Answer {
    pub(crate) fn new(body: Bytes, date: Option<DateTime<Utc>>) -> Self {
        Answer {
            body,
            date,
            listing: 0,
        }
    }
}

#[derive(Debug)]
struct Entry {
    answer: Answer,
    stored: Instant,
    expires: Instant,
    size: u64,
    /// Its place in the order of use; a listing's pages have their listing's instead.
    tick: u64,
    /// The listing this entry is a page of (0: none).
    listing: u64,
}

/// The pages held of one paginated listing: they live, are used and go together.
#[derive(Debug)]
struct Listing {
    /// The first page's key first.
    keys: Vec<String>,
    bytes: u64,
    stored: Instant,
    expires: Instant,
    tick: u64,
    /// Read to its last page ([`ResponseCache::end_listing`]): a new read may start from it.
    ended: bool,
}

/// What the order of use holds: an entry on its own, or a listing's pages together.
#[derive(Debug, Clone)]
enum Unit {
    Entry(String),
    Listing(u64),
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Last use → entry or listing, oldest first.
    order: BTreeMap<u64, Unit>,
    bytes: u64,
    tick: u64,
    inflight: HashMap<String, Arc<OnceCell<Answer>>>,
    listings: HashMap<u64, Listing>,
}

impl State {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Removes the entry of `key`, and with it every page of its listing.
    fn remove(&mut self, key: &str) {
        let Some(e) = self.entries.remove(key) else {
            return;
        };
        self.bytes -= e.size;
        if e.listing == 0 {
            self.order.remove(&e.tick);
        } else {
            self.drop_listing(e.listing);
        }
    }

    /// Forgets listing `id` and removes its pages.
    fn drop_listing(&mut self, id: u64) {
        let Some(listing) = self.listings.remove(&id) else {
            return;
        };
        self.order.remove(&listing.tick);
        for key in listing.keys {
            if self.entries.get(&key).is_some_and(|e| e.listing == id) {
                self.remove(&key);
            }
        }
    }

    fn touch(&mut self, key: &str) {
        let tick = self.next_tick();
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        if e.listing == 0 {
            let old = std::mem::replace(&mut e.tick, tick);
            self.order.remove(&old);
            self.order.insert(tick, Unit::Entry(key.to_string()));
        } else if let Some(l) = self.listings.get_mut(&e.listing) {
            let old = std::mem::replace(&mut l.tick, tick);
            self.order.remove(&old);
            self.order.insert(tick, Unit::Listing(e.listing));
        }
    }

    /// Holds `entry` under `key` (replacing what was there), then evicts beyond `max`.
    fn insert(&mut self, key: &str, entry: Entry, max: u64) {
        self.remove(key);
        self.bytes += entry.size;
        let listing = entry.listing;
        self.entries.insert(key.to_string(), entry);
        if listing == 0 {
            let tick = self.next_tick();
            if let Some(e) = self.entries.get_mut(key) {
                e.tick = tick;
            }
            self.order.insert(tick, Unit::Entry(key.to_string()));
        } else {
            self.touch(key);
        }
        self.evict(max);
    }

    /// Removes the least recently used until `max` holds (a listing goes whole).
    fn evict(&mut self, max: u64) {
        while self.bytes > max {
            let Some((_, unit)) = self.order.pop_first() else {
                break;
            };
            match unit {
                Unit::Entry(key) => self.remove(&key),
                Unit::Listing(id) => self.drop_listing(id),
            }
        }
    }

    /// The pages of listing `id`, by key.
    fn pages(&self, id: u64) -> HashMap<String, Answer> {
        self.listings.get(&id).map_or_else(HashMap::new, |l| {
            l.keys
                .iter()
                .filter_map(|k| {
                    let e = self.entries.get(k).filter(|e| e.listing == id)?;
                    Some((k.clone(), e.answer.clone()))
                })
                .collect()
        })
    }
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
    /// Export files kept on disk (`customerio.export_cache_dir`).
    pub export_files: usize,
    /// Their bytes.
    pub export_bytes: u64,
}

/// The response cache of one [`crate::CustomerIo`].
#[derive(Debug)]
pub struct ResponseCache {
    state: Mutex<State>,
    max_bytes: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    next_listing: AtomicU64,
    disabled: std::sync::atomic::AtomicBool,
    /// Export files kept in an export cache directory (removed with the cache).
    exports: super::kept::KeptExports,
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
            next_listing: AtomicU64::new(1),
            disabled: std::sync::atomic::AtomicBool::new(false),
            exports: super::kept::KeptExports::default(),
        }
    }

    /// The export files kept for this cache.
    pub(crate) fn exports(&self) -> &super::kept::KeptExports {
        &self.exports
    }

    /// Sets the bound of the export files kept on disk (4 GiB by default), removing the oldest
    /// beyond it.
    pub fn set_export_max_bytes(&self, max_bytes: u64) {
        self.exports.set_max_bytes(max_bytes);
    }

    /// Stores and serves nothing from now on, whatever bound is set later (`SET
    /// customerio.cache_max_bytes` in a script included): `cio-sql schedule`'s cache. Identical
    /// requests in flight are still shared.
    pub fn disable(&self) {
        self.disabled.store(true, Ordering::Relaxed);
        self.set_max_bytes(0);
    }

    /// Whether [`ResponseCache::disable`] was called.
    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the bound, evicting what no longer fits.
    pub fn set_max_bytes(&self, max_bytes: u64) {
        let max_bytes = if self.is_disabled() { 0 } else { max_bytes };
        self.max_bytes.store(max_bytes, Ordering::Relaxed);
        self.lock().evict(max_bytes);
    }

    /// The bound.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }

    /// Entries, bytes and hits.
    pub fn stats(&self) -> CacheStats {
        let (export_files, export_bytes) = self.exports.stats();
        let s = self.lock();
        CacheStats {
            entries: s.entries.len(),
            bytes: s.bytes,
            max_bytes: self.max_bytes.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            export_files,
            export_bytes,
        }
    }

    /// Empties the cache, export files kept on disk included (what is in flight still
    /// completes; a read already served from a listing keeps its pages).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.entries.clear();
        s.order.clear();
        s.listings.clear();
        s.bytes = 0;
        drop(s);
        self.exports.clear();
    }

    /// The answer held for `key` if a read may start from it, it is younger than `max_age` (the
    /// reader's time to live) and has not expired (an expired one is dropped, with its listing's
    /// other pages). A `max_age` of zero reads nothing. For the first page of a listing, also
    /// every page of that listing, by key: the reader takes its later pages from them, so that
    /// nothing evicted or replaced meanwhile makes it ask the API with a cursor of another time.
    pub(crate) fn get(&self, key: &str, max_age: Duration) -> Option<(Answer, Pages)> {
        if max_age.is_zero() {
            return None;
        }
        let mut s = self.lock();
        let now = Instant::now();
        let e = s.entries.get(key)?;
        if e.expires <= now {
            s.remove(key);
            return None;
        }
        let listing = e.listing;
        let ended = listing == 0 || s.listings.get(&listing).is_some_and(|l| l.ended);
        if !ended || now.duration_since(e.stored) >= max_age {
            return None;
        }
        let answer = e.answer.clone();
        s.touch(key);
        let pages = if listing == 0 {
            HashMap::new()
        } else {
            s.pages(listing)
        };
        Some((answer, pages))
    }

    /// A later page of a listing this reader shares with the one reading it into the cache
    /// (`key` names the listing): served whatever its age.
    pub(crate) fn get_page(&self, key: &str) -> Option<Answer> {
        let mut s = self.lock();
        let answer = s.entries.get(key)?.answer.clone();
        s.touch(key);
        Some(answer)
    }

    /// Holds `answer` for `key` for `ttl`, evicting the least recently used beyond the bound.
    /// The first page of a listing (`answer.listing` not 0) starts it, unless the key holds the
    /// first page of another listing still being read into the cache (that one is kept).
    pub(crate) fn put(&self, key: &str, answer: Answer, ttl: Duration) {
        let max = self.max_bytes.load(Ordering::Relaxed);
        let size = (answer.body.len() + key.len()) as u64;
        let listing = answer.listing;
        if ttl.is_zero() || size > max || (listing != 0 && size > max / 2) {
            return;
        }
        let stored = Instant::now();
        let mut s = self.lock();
        if listing != 0 {
            let building = s.entries.get(key).is_some_and(|e| {
                e.expires > stored && s.listings.get(&e.listing).is_some_and(|l| !l.ended)
            });
            if building {
                return;
            }
            let tick = s.next_tick();
            s.listings.insert(
                listing,
                Listing {
                    keys: vec![key.to_string()],
                    bytes: size,
                    stored,
                    expires: stored + ttl,
                    tick,
                    ended: false,
                },
            );
            s.order.insert(tick, Unit::Listing(listing));
        }
        let entry = Entry {
            answer,
            stored,
            expires: stored + ttl,
            size,
            tick: 0,
            listing,
        };
        s.insert(key, entry, max);
    }

    /// A number for a new listing, whose first page is about to be held ([`ResponseCache::put`]
    /// of an answer with it) and whose later pages are keyed by it.
    pub(crate) fn new_listing(&self) -> u64 {
        self.next_listing.fetch_add(1, Ordering::Relaxed)
    }

    /// Holds a later page of listing `id` as long as its first page: not at all if the listing is
    /// not held (expired, evicted, never stored), and a listing that would take more than half
    /// the bound is dropped (it would otherwise empty the cache before failing to fit).
    pub(crate) fn put_page(&self, key: &str, answer: Answer, id: u64) {
        let max = self.max_bytes.load(Ordering::Relaxed);
        let size = (answer.body.len() + key.len()) as u64;
        let now = Instant::now();
        let mut s = self.lock();
        if s.entries.get(key).is_some_and(|e| e.listing == id) {
            return; // another reader of the listing held it first
        }
        let Some(listing) = s.listings.get_mut(&id) else {
            return;
        };
        if listing.expires <= now || listing.bytes + size > max / 2 {
            s.drop_listing(id);
            return;
        }
        listing.keys.push(key.to_string());
        listing.bytes += size;
        let (stored, expires) = (listing.stored, listing.expires);
        let entry = Entry {
            answer,
            stored,
            expires,
            size,
            tick: 0,
            listing: id,
        };
        s.insert(key, entry, max);
    }

    /// Listing `id` has been read to its last page: a new read may now start from its first.
    /// (A listing left before its end, a `LIMIT` reached, never serves a new read: its later pages
    /// would have to come from the API with a cursor of another time.)
    pub(crate) fn end_listing(&self, id: u64) {
        if let Some(l) = self.lock().listings.get_mut(&id) {
            l.ended = true;
        }
    }

    /// Drops listing `id`, ended or not.
    pub(crate) fn drop_listing(&self, id: u64) {
        self.lock().drop_listing(id);
    }

    /// A reader of listing `id` stopped before its end: unless another read ended it, its pages
    /// can serve nobody, and go.
    pub(crate) fn abandon_listing(&self, id: u64) {
        let mut s = self.lock();
        if s.listings.get(&id).is_some_and(|l| !l.ended) {
            s.drop_listing(id);
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

/// The pages of a listing a read was served from, by cache key.
pub(crate) type Pages = HashMap<String, Answer>;

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> Answer {
        Answer::new(Bytes::from(vec![b'x'; n]), None)
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

    fn first_page(c: &ResponseCache, key: &str, n: usize, ttl: Duration) -> u64 {
        let id = c.new_listing();
        let mut a = answer(n);
        a.listing = id;
        c.put(key, a, ttl);
        id
    }

    #[test]
    fn a_listing_serves_a_new_read_only_once_read_to_its_end() {
        let c = ResponseCache::new(10_000);
        let ttl = Duration::from_secs(60);
        let id = first_page(&c, "p1", 10, ttl);
        c.put_page("p2#1", answer(10), id);
        // Not yet read to its end: a new read does not start from it.
        assert!(c.get("p1", ttl).is_none());
        // Its own reader finds its pages.
        assert!(c.get_page("p2#1").is_some());
        c.end_listing(id);
        assert_eq!(c.get("p1", ttl).map(|(a, _)| a.listing), Some(id));
        // A page of a listing no longer held is not kept.
        c.put_page("q2", answer(10), 999);
        assert!(c.get_page("q2").is_none());
    }

    #[test]
    fn a_listings_pages_go_together() {
        let ttl = Duration::from_secs(60);
        // A listing is one unit of use: reading its first page keeps all its pages.
        let c = ResponseCache::new(300);
        let id = first_page(&c, "p1", 70, ttl);
        c.put_page("p2", answer(70), id);
        c.end_listing(id);
        c.put("x", answer(90), ttl);
        let (_, pages) = c.get("p1", ttl).expect("held");
        assert!(pages.contains_key("p1") && pages.contains_key("p2"));
        c.put("y", answer(90), ttl); // 2 × 72 + 2 × 91 > 300: x, the least recently used, goes
        assert!(c.get("x", ttl).is_none());
        assert!(c.get_page("p2").is_some() && c.get("y", ttl).is_some());
        // Evicted, it goes whole, and the bytes with it.
        c.put("z", answer(90), ttl);
        assert!(c.get_page("p2").is_none() && c.get("p1", ttl).is_none());
        assert_eq!(c.stats().entries, 2);
        assert_eq!(c.stats().bytes, 2 * 91);
        // A listing that would take more than half the bound is dropped: by one page, or by
        // several.
        let id = first_page(&c, "r1", 10, ttl);
        c.put_page("r2", answer(200), id);
        c.end_listing(id);
        assert!(c.get("r1", ttl).is_none());
        let id = first_page(&c, "r1", 10, ttl);
        for k in ["ra", "rb", "rc", "rd"] {
            c.put_page(k, answer(50), id);
        }
        c.end_listing(id);
        assert!(c.get("r1", ttl).is_none() && c.get_page("ra").is_none());
        assert!(c.get("y", ttl).is_some() && c.get("z", ttl).is_some());
        // A page held twice (two readers of the listing) keeps the listing.
        let id = first_page(&c, "d1", 10, ttl);
        c.put_page("d2", answer(10), id);
        c.put_page("d2", answer(10), id);
        c.end_listing(id);
        assert_eq!(c.get("d1", ttl).map(|(_, p)| p.len()), Some(2));
        // A new first page under the same key does not replace a listing still being read...
        let old = first_page(&c, "s1", 10, ttl);
        c.put_page("s2", answer(10), old);
        let new = first_page(&c, "s1", 10, ttl);
        assert!(c.get_page("s2").is_some());
        c.end_listing(old);
        assert_eq!(c.get("s1", ttl).map(|(a, _)| a.listing), Some(old));
        // ... and replaces an ended one, pages and all.
        let newer = first_page(&c, "s1", 10, ttl);
        assert!(c.get_page("s2").is_none());
        c.end_listing(new);
        assert!(c.get("s1", ttl).is_none());
        c.end_listing(newer);
        assert_eq!(c.get("s1", ttl).map(|(a, _)| a.listing), Some(newer));
        // A listing its reader left is dropped, unless another read ended it.
        let left = first_page(&c, "l1", 10, ttl);
        c.put_page("l2", answer(10), left);
        c.abandon_listing(left);
        assert!(c.get_page("l1").is_none() && c.get_page("l2").is_none());
        c.abandon_listing(newer);
        assert!(c.get("s1", ttl).is_some());
        // The pages expire with the first; a page after that is not held.
        let c = ResponseCache::new(1000);
        let id = first_page(&c, "t1", 10, Duration::from_millis(1));
        c.put_page("t2", answer(10), id);
        c.end_listing(id);
        std::thread::sleep(Duration::from_millis(5));
        c.put_page("t3", answer(10), id);
        assert!(c.get_page("t3").is_none());
        assert!(c.get("t1", Duration::from_secs(60)).is_none());
        assert!(c.get_page("t2").is_none());
        assert_eq!(
            c.stats(),
            CacheStats {
                max_bytes: 1000,
                ..Default::default()
            }
        );
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

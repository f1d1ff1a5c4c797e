//! One request pacer per API key, shared by every table and partition that uses the key.
//!
//! Requests are spaced a little more than `1/rate` apart on one timeline per key, so any number of
//! concurrent scans together never exceed the rate. A 429 pauses the whole key for its
//! `Retry-After`.
//!
//! The spacing is [`HEADROOM`] wider than `1/rate`: requests spaced exactly `1/rate` apart put
//! `rate + 1` arrivals inside one second at the server as soon as network and scheduling jitter
//! delay the first of them by a few milliseconds more than the last. With 2% headroom a window of
//! `rate + 1` requests spans 1.02 s at the client, so the server sees at most `rate` in any second
//! unless the jitter between two requests exceeds 20 ms (at 10 requests/s).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::credentials::Secret;

/// Paces the requests of one API key.
#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<State>,
    /// Waiters queue here, first come first served: only the one at the head sleeps until the
    /// next slot, instead of every waiter waking at each slot to find it taken.
    queue: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    /// When the last request was let go.
    last: Option<Instant>,
    /// No request before this instant (a 429's `Retry-After`).
    paused_until: Option<Instant>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            state: Mutex::new(State::default()),
            queue: tokio::sync::Mutex::new(()),
        }
    }
}

/// How much wider than `1/rate` requests are spaced (see the module docs).
pub const HEADROOM: f64 = 0.02;

/// How late after its slot a request may go and still be booked at the slot (at most a quarter
/// of the interval).
pub const LATE_TOLERANCE: Duration = Duration::from_millis(2);

impl RateLimiter {
    /// Waits until this request may go at `rate` requests per second, less [`HEADROOM`].
    ///
    /// Each request is booked at its scheduled slot, one interval after the previous one, so
    /// the timer's usual lateness (about a millisecond per wake-up) does not add up over a scan.
    /// A request let go later than its slot by more than [`LATE_TOLERANCE`] (a busy runtime
    /// thread) is booked at the instant it went, less the tolerance: the requests after it are
    /// pushed back instead of bunching up behind it. So any `n + 1` requests in a row span at
    /// least `n` intervals less the tolerance.
    pub async fn acquire(&self, rate: f64) {
        let interval = Duration::from_secs_f64((1.0 + HEADROOM) / rate.max(0.001));
        let tolerance = LATE_TOLERANCE.min(interval / 4);
        let _head = self.queue.lock().await;
        loop {
            let at = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let slot = [s.paused_until, s.last.map(|l| l + interval)]
                    .into_iter()
                    .flatten()
                    .max();
                match slot {
                    Some(slot) if slot > now => slot,
                    _ => {
                        let floor = now.checked_sub(tolerance).unwrap_or(now);
                        s.last = Some(slot.map_or(now, |slot| slot.max(floor)));
                        return;
                    }
                }
            };
            tokio::time::sleep_until(at).await;
        }
    }

    /// Holds every request of this key back until `d` from now (a 429's `Retry-After`).
    pub fn pause_for(&self, d: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + d;
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
    }
}

/// The pacers of API keys: one [`RateLimiter`] per key, so every client of a key shares its
/// limit. Keys are told apart by a keyed hash, never stored. [`CustomerIo`](crate::CustomerIo)
/// uses the process's registry ([`Pacers::shared`]) unless it is given one
/// ([`CustomerIo::with_pacers`](crate::CustomerIo::with_pacers)): an application that runs
/// several independent tenants in one process, or that paces a key together with other code of
/// its own, passes its own.
#[derive(Default)]
pub struct Pacers {
    hasher: std::collections::hash_map::RandomState,
    limiters: Mutex<HashMap<u64, Arc<RateLimiter>>>,
}

impl std::fmt::Debug for Pacers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacers")
            .field("keys", &self.keys())
            .finish()
    }
}

impl Pacers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's registry, the default of every [`CustomerIo`](crate::CustomerIo).
    pub fn shared() -> Arc<Pacers> {
        static SHARED: LazyLock<Arc<Pacers>> = LazyLock::new(Arc::default);
        SHARED.clone()
    }

    /// How many keys this registry paces.
    pub fn keys(&self) -> usize {
        self.limiters.lock().map_or(0, |m| m.len())
    }

    /// The limiter of `key` in this registry.
    pub fn limiter_for(&self, key: &Secret) -> Arc<RateLimiter> {
        let fingerprint = self.hasher.hash_one(key.expose());
        let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(fingerprint).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_at_the_rate_and_pauses() {
        let l = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..10 {
            l.acquire(10.0).await;
        }
        // Ten requests at 10/s with 2% headroom: the tenth starts 9 × 102 ms after the first.
        assert_eq!(start.elapsed(), Duration::from_millis(918));
        // A request let go late (here after an idle half second) is booked at its instant less
        // the 2 ms tolerance.
        tokio::time::advance(Duration::from_millis(500)).await;
        l.acquire(10.0).await;
        let late = Instant::now();
        l.acquire(10.0).await;
        assert_eq!(late.elapsed(), Duration::from_millis(100));
        let start = Instant::now();
        l.pause_for(Duration::from_secs(2));
        l.acquire(10.0).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn late_wake_ups_never_bunch_requests() {
        // Requests let go up to 30 ms after their slot (a busy runtime), at random: any 11 in a
        // row still span at least 10 intervals less the tolerance, and lateness under the
        // tolerance is not carried forward.
        let l = RateLimiter::default();
        let mut granted = Vec::new();
        let mut seed = 7u64;
        let mut late_grants = 0;
        for _ in 0..400 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Half the requests come after a pause of 0-150 ms: some of them past their slot.
            if seed >> 63 == 1 {
                tokio::time::advance(Duration::from_millis((seed >> 33) % 151)).await;
            }
            let asked = Instant::now();
            l.acquire(10.0).await;
            late_grants += usize::from(Instant::now() == asked && !granted.is_empty());
            granted.push(Instant::now());
        }
        assert!(
            late_grants > 20,
            "too few late grants to test: {late_grants}"
        );
        let shortest = granted.windows(11).map(|w| w[10] - w[0]).min().unwrap();
        assert!(shortest >= Duration::from_millis(1018), "{shortest:?}");
    }

    #[test]
    fn one_limiter_per_key_and_registry() {
        let pacers = Pacers::new();
        let a = pacers.limiter_for(&Secret::new("key-a"));
        let a2 = pacers.limiter_for(&Secret::new("key-a"));
        let b = pacers.limiter_for(&Secret::new("key-b"));
        assert!(Arc::ptr_eq(&a, &a2));
        assert!(!Arc::ptr_eq(&a, &b));
        // Another registry paces the same key on its own; the shared one is one registry.
        let other = Pacers::new().limiter_for(&Secret::new("key-a"));
        assert!(!Arc::ptr_eq(&a, &other));
        let shared = Pacers::shared().limiter_for(&Secret::new("key-a"));
        assert!(Arc::ptr_eq(
            &shared,
            &Pacers::shared().limiter_for(&Secret::new("key-a"))
        ));
        assert!(!format!("{pacers:?}").contains("key-a"));
    }
}

//! One request pacer per API key, shared by every table and partition that uses the key.
//!
//! Requests are spaced `1/rate` apart on one timeline per key, so any number of concurrent scans
//! together never exceed the rate. A 429 pauses the whole key for its `Retry-After`.

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
}

#[derive(Debug)]
struct State {
    /// The earliest instant the next request may start.
    next: Instant,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            state: Mutex::new(State {
                next: Instant::now(),
            }),
        }
    }
}

impl RateLimiter {
    /// Waits for this request's slot at `rate` requests per second.
    pub async fn acquire(&self, rate: f64) {
        let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let slot = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = s.next.max(now);
            s.next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Holds every request of this key back until `d` from now (a 429's `Retry-After`).
    pub fn pause_for(&self, d: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + d;
        if s.next < until {
            s.next = until;
        }
    }
}

static HASHER: LazyLock<std::collections::hash_map::RandomState> =
    LazyLock::new(std::collections::hash_map::RandomState::new);
static LIMITERS: LazyLock<Mutex<HashMap<u64, Arc<RateLimiter>>>> = LazyLock::new(Mutex::default);

/// The process-wide limiter of `key`. Keys are told apart by a keyed hash, never stored.
pub fn limiter_for(key: &Secret) -> Arc<RateLimiter> {
    let fingerprint = HASHER.hash_one(key.expose());
    let mut map = LIMITERS.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(fingerprint).or_default().clone()
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
        // Ten requests at 10/s: the tenth starts 0.9 s after the first.
        assert_eq!(start.elapsed(), Duration::from_millis(900));
        l.pause_for(Duration::from_secs(2));
        l.acquire(10.0).await;
        assert_eq!(start.elapsed(), Duration::from_millis(2900));
    }

    #[test]
    fn one_limiter_per_key() {
        let a = limiter_for(&Secret::new("key-a"));
        let a2 = limiter_for(&Secret::new("key-a"));
        let b = limiter_for(&Secret::new("key-b"));
        assert!(Arc::ptr_eq(&a, &a2));
        assert!(!Arc::ptr_eq(&a, &b));
    }
}

//! The per-workspace rate limit: a token bucket refilled at `rate` tokens per second up to
//! `capacity`. It runs on the monotonic clock: rate limiting is about real request pacing, not
//! about the simulated calendar (which may be a [`crate::clock::FixedClock`]).

use std::sync::Mutex;
use std::time::Instant;

/// A token bucket.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket holding `capacity` tokens, refilled at `rate` per second.
    pub(crate) fn new(rate: f64, capacity: u32, now: Instant) -> Self {
        let capacity = f64::from(capacity.max(1));
        TokenBucket {
            rate: if rate.is_finite() {
                rate.max(0.0)
            } else {
                f64::MAX
            },
            capacity,
            state: Mutex::new((capacity, now)),
        }
    }

    /// Takes a token at `now`; `false` when the bucket is empty.
    pub(crate) fn try_acquire_at(&self, now: Instant) -> bool {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = *guard;
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let tokens = (tokens + elapsed * self.rate).min(self.capacity);
        let last = if now > last { now } else { last };
        if tokens >= 1.0 {
            *guard = (tokens - 1.0, last);
            true
        } else {
            *guard = (tokens, last);
            false
        }
    }

    /// Takes a token now.
    pub(crate) fn try_acquire(&self) -> bool {
        self.try_acquire_at(Instant::now())
    }
}

/// The rate as the 429 text writes it: `10`, or `2.5`.
pub(crate) fn format_rate(rate: f64) -> String {
    if rate.fract() == 0.0 && rate.abs() < 1e15 {
        format!("{}", rate as i64)
    } else {
        format!("{rate}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let b = TokenBucket::new(10.0, 3, t0);
        assert!(b.try_acquire_at(t0));
        assert!(b.try_acquire_at(t0));
        assert!(b.try_acquire_at(t0));
        assert!(!b.try_acquire_at(t0));
        // 100 ms at 10/s is one token.
        assert!(b.try_acquire_at(t0 + Duration::from_millis(100)));
        assert!(!b.try_acquire_at(t0 + Duration::from_millis(150)));
        // A long pause refills only up to the capacity.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.try_acquire_at(later)));
        assert!(!b.try_acquire_at(later));
    }

    #[test]
    fn sustained_rate_is_respected() {
        let t0 = Instant::now();
        let b = TokenBucket::new(10.0, 10, t0);
        let granted = (0..2_000)
            .filter(|n| b.try_acquire_at(t0 + Duration::from_millis(*n)))
            .count();
        // 10 up front plus 10/s for 2 s.
        assert!((29..=31).contains(&granted), "{granted}");
    }

    #[test]
    fn rate_text() {
        assert_eq!(format_rate(10.0), "10");
        assert_eq!(format_rate(2.5), "2.5");
    }
}

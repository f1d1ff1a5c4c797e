//! When and how long to retry: the policy, and [`Attempts`], the count and clock of one request
//! under it. Both retry loops of the crate keep their count with [`Attempts`]: the API's, in
//! [`super::Client::send`], and the export download's, in [`super::exports::Download`].
//!
//! Not a retry: waiting for an export that is still `pending` ([`super::exports::wait_done`]).
//! That wait is the poll cadence, bounded by `export_timeout`; each poll is a request, which
//! [`super::Client::send`] retries under the policy like any other.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// Retry settings of a client.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts for transient failures (5xx, 408, transport errors, unreadable bodies).
    pub max_attempts: u32,
    /// 429 answers tolerated for one request (each waits `Retry-After` or a backoff).
    pub max_rate_limited: u32,
    /// The first backoff; doubled each attempt, with full jitter.
    pub base_backoff: Duration,
    /// The largest backoff.
    pub max_backoff: Duration,
    /// The overall time one request may take, retries included.
    pub deadline: Duration,
    /// Time for one attempt, headers and body.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_rate_limited: 30,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            deadline: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): full jitter over an exponential ceiling.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let floor = ceiling / 2;
        let spread = (ceiling - floor).as_millis() as u64;
        floor + Duration::from_millis(rand::rng().random_range(0..=spread))
    }
}

/// The failed attempts of one request (or one download) under a [`RetryPolicy`], and its clock:
/// whether another attempt may be made, and after how long.
#[derive(Debug)]
pub struct Attempts<'a> {
    policy: &'a RetryPolicy,
    started: Instant,
    failures: u32,
}

impl<'a> Attempts<'a> {
    /// No attempt failed yet; the deadline counts from now.
    pub fn new(policy: &'a RetryPolicy) -> Self {
        Attempts {
            policy,
            started: Instant::now(),
            failures: 0,
        }
    }

    /// Attempts that failed so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Time since the first attempt (or the last [`Attempts::restart_clock`]).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether one more attempt may be made after waiting `wait`: fewer than `max_attempts` have
    /// failed, and the wait ends within the `deadline`.
    pub fn allows(&self, wait: Duration) -> bool {
        self.failures < self.policy.max_attempts && self.elapsed() + wait <= self.policy.deadline
    }

    /// Counts a failed attempt: the backoff to wait before the next one (exponential, with
    /// jitter), or `None` when this was the last one the policy allows.
    pub fn failed(&mut self) -> Option<Duration> {
        self.failures += 1;
        let wait = self.policy.backoff(self.failures);
        self.allows(wait).then_some(wait)
    }

    /// Restarts the deadline's clock (not the count): after a download streamed for a while, the
    /// deadline bounds getting it going again, not the time the file took.
    pub fn restart_clock(&mut self) {
        self.started = Instant::now();
    }
}

/// Whether an HTTP status is worth retrying (429 is handled on its own).
pub fn is_transient(status: u16) -> bool {
    status == 408 || (500..=599).contains(&status)
}

/// Parses `Retry-After` as whole seconds (the form Customer.io sends).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        let p = RetryPolicy::default();
        for retry in 1..20 {
            let b = p.backoff(retry);
            let ceiling = (p.base_backoff * 2u32.pow((retry - 1).min(16))).min(p.max_backoff);
            assert!(b <= ceiling && b >= ceiling / 2, "retry {retry}: {b:?}");
        }
    }

    #[test]
    fn attempts_end_at_max_attempts_or_at_the_deadline() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let mut a = Attempts::new(&policy);
        assert!(a.failed().is_some() && a.failed().is_some());
        assert_eq!(a.failed(), None, "a third failure of 3 allowed");
        assert_eq!(a.failures(), 3);
        // A backoff of at least 50ms does not fit a deadline of 10ms: no second attempt.
        let tight = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            deadline: Duration::from_millis(10),
            ..RetryPolicy::default()
        };
        let mut a = Attempts::new(&tight);
        assert_eq!(a.failed(), None);
        assert_eq!(a.failures(), 1);
    }

    #[test]
    fn classifies() {
        assert!(is_transient(503) && is_transient(408) && is_transient(500));
        assert!(
            !is_transient(400) && !is_transient(401) && !is_transient(404) && !is_transient(429)
        );
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("soon"), None);
    }
}

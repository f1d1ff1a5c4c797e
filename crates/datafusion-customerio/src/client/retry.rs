//! When and how long to retry. The loop itself is in [`super::Client::send`]; this holds the policy.

use std::time::Duration;

use rand::Rng;

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
    /// Time to establish a connection.
    pub connect_timeout: Duration,
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
            connect_timeout: Duration::from_secs(10),
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
    fn classifies() {
        assert!(is_transient(503) && is_transient(408) && is_transient(500));
        assert!(
            !is_transient(400) && !is_transient(401) && !is_transient(404) && !is_transient(429)
        );
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("soon"), None);
    }
}

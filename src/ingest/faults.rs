//! Fail points: where a step of the commit protocol pretends to die, for the tests of the
//! protocol (`CIO_SQL_FAIL_AT`).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::RunError;

/// Where a step of the commit protocol should pretend to die, for tests.
#[derive(Debug, Default)]
pub struct FailPoints {
    at: Option<usize>,
    abort: bool,
    seen: AtomicUsize,
}

impl FailPoints {
    /// Never fails.
    pub fn none() -> Self {
        Self::default()
    }

    /// The run stops at the `k`-th step (1-based) as if killed: no clean-up.
    pub fn error_at(k: usize) -> Self {
        FailPoints {
            at: Some(k),
            abort: false,
            seen: AtomicUsize::new(0),
        }
    }

    /// The process aborts at the `k`-th step (`CIO_SQL_FAIL_AT=k`, for kill tests).
    pub fn abort_at(k: usize) -> Self {
        FailPoints {
            at: Some(k),
            abort: true,
            seen: AtomicUsize::new(0),
        }
    }

    /// Steps passed so far.
    pub fn passed(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }

    /// Counts a step; fails (or aborts) at the chosen one.
    pub(super) fn hit(&self, step: &str) -> Result<(), RunError> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if self.at == Some(n) {
            if self.abort {
                eprintln!("fail point {n} ({step}): aborting");
                std::process::abort();
            }
            return Err(RunError::Killed(format!("{n}: {step}")));
        }
        Ok(())
    }
}

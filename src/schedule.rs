//! The daily scheduler: runs an ingestion job once a day at a local time in a time zone
//! (default 06:00 America/Los_Angeles), right across daylight-saving changes, until stopped.
//!
//! Time comes from an injected [`Clock`] and waiting from an injected [`Waiter`], so a test runs
//! a day in milliseconds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

use super::errors::CliError;
use super::exec::Interrupt;
use super::ingest::{self, IngestJob, RunEnv, RunError, RunOutcome};
use datafusion_customerio::clock::{Clock, FixedClock};

/// Once a day at `at` in `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailySchedule {
    /// Local time of day.
    pub at: NaiveTime,
    /// The time zone.
    pub tz: Tz,
}

impl Default for DailySchedule {
    /// 06:00 America/Los_Angeles, Switchboard's default.
    fn default() -> Self {
        DailySchedule {
            at: NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN),
            tz: chrono_tz::America::Los_Angeles,
        }
    }
}

impl DailySchedule {
    /// Parses `HH:MM` (or `HH:MM:SS`) and an IANA zone name.
    pub fn parse(at: &str, tz: &str) -> Result<Self, String> {
        let time = NaiveTime::parse_from_str(at.trim(), "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(at.trim(), "%H:%M:%S"))
            .map_err(|_| format!("--at '{at}' is not a time of day; write HH:MM, like 06:00"))?;
        let zone = tz.trim().parse::<Tz>().map_err(|_| {
            format!(
                "--tz '{tz}' is not a time zone; write an IANA name like America/Los_Angeles or UTC"
            )
        })?;
        Ok(DailySchedule { at: time, tz: zone })
    }

    /// The run of local date `date`. On a day whose clocks skip the time (spring forward), the
    /// run is the same time after the gap (02:30 becomes 03:30); on a day that repeats it (fall
    /// back), the first of the two.
    pub fn on(&self, date: NaiveDate) -> DateTime<Utc> {
        let local = date.and_time(self.at);
        for shift in 0..=3 {
            let candidate = local + chrono::Duration::hours(shift);
            match self.tz.from_local_datetime(&candidate) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => continue,
            }
        }
        // No zone skips more than a few hours; read the time as UTC offset-free as a last resort.
        Utc.from_utc_datetime(&local)
    }

    /// The first run strictly after `t`: its run date and instant.
    pub fn next_after(&self, t: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
        let today = t.with_timezone(&self.tz).date_naive();
        let mut d = today.pred_opt().unwrap_or(today);
        loop {
            let at = self.on(d);
            if at > t {
                return (d, at);
            }
            d = d.succ_opt().unwrap_or(d);
        }
    }

    /// The latest run at or before `t`.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
        let today = t.with_timezone(&self.tz).date_naive();
        let mut d = today.succ_opt().unwrap_or(today);
        loop {
            let at = self.on(d);
            if at <= t {
                return (d, at);
            }
            d = d.pred_opt().unwrap_or(d);
        }
    }

    /// `2026-11-27 06:00 PST (2026-11-27T14:00:00Z)`.
    pub fn describe(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&self.tz);
        format!(
            "{} ({})",
            local.format("%Y-%m-%d %H:%M %Z"),
            t.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

/// Waits until an instant of a [`Clock`].
#[async_trait]
pub trait Waiter: Send + Sync + std::fmt::Debug {
    /// Returns once the clock shows `t` or later.
    async fn wait_until(&self, t: DateTime<Utc>);
}

/// Sleeps, re-reading the clock at least every minute (so a suspended machine or a clock
/// change does not delay the run by much).
#[derive(Debug, Clone)]
pub struct SystemWaiter {
    /// The clock waited on.
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Waiter for SystemWaiter {
    async fn wait_until(&self, t: DateTime<Utc>) {
        loop {
            let now = self.clock.now();
            if now >= t {
                return;
            }
            let left = (t - now).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(left.min(Duration::from_secs(60))).await;
        }
    }
}

/// Moves a [`FixedClock`] straight to the instant waited for: a day passes in no time.
#[derive(Debug, Clone)]
pub struct FastForward {
    /// The clock moved.
    pub clock: Arc<FixedClock>,
}

#[async_trait]
impl Waiter for FastForward {
    async fn wait_until(&self, t: DateTime<Utc>) {
        if self.clock.now() < t {
            self.clock.set(t);
        }
        tokio::task::yield_now().await;
    }
}

/// The scheduler's settings.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// When to run.
    pub schedule: DailySchedule,
    /// At start, run the latest due date if it is not committed (a missed or failed run).
    pub catch_up: bool,
    /// After a failed run, try again this much later (if before the next day's run).
    pub retry_delay: Duration,
    /// Tries after the first for one date.
    pub retries: u32,
    /// Stop after this many runs (tests).
    pub max_runs: Option<usize>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            schedule: DailySchedule::default(),
            catch_up: true,
            retry_delay: Duration::from_secs(30 * 60),
            retries: 3,
            max_runs: None,
        }
    }
}

/// What a scheduler did, for tests and the exit status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SchedulerReport {
    /// Run dates committed by this scheduler.
    pub committed: Vec<NaiveDate>,
    /// Run dates found committed already.
    pub skipped: Vec<NaiveDate>,
    /// Runs that failed (date, message).
    pub failed: Vec<(NaiveDate, String)>,
    /// Whether an interrupt stopped it.
    pub interrupted: bool,
}

/// Runs `job` every day per `options` until interrupted (or `max_runs` runs).
pub async fn run_daily(
    job: &IngestJob,
    env: &RunEnv,
    options: &SchedulerOptions,
    waiter: &dyn Waiter,
    interrupt: Option<&Interrupt>,
) -> Result<SchedulerReport, CliError> {
    let schedule = options.schedule;
    let mut report = SchedulerReport::default();
    let mut runs = 0usize;
    let limit_reached = |runs: usize| options.max_runs.is_some_and(|m| runs >= m);
    let mark = interrupt.map(|i| i.mark());
    let stopped = async {
        match (interrupt, mark) {
            (Some(i), Some(m)) => i.after(m).await,
            _ => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(stopped);

    env.log(&format!(
        "scheduler for {} started: every day at {} {}",
        job.name,
        schedule.at.format("%H:%M"),
        schedule.tz.name()
    ));
    // A pending retry: (date, scheduled instant, tries so far, when).
    let mut retry: Option<(NaiveDate, DateTime<Utc>, u32, DateTime<Utc>)> = None;
    if options.catch_up {
        let (date, at) = schedule.last_at_or_before(env.clock.now());
        match ingest::committed(job, env, date).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                env.log(&format!(
                    "catching up: the run of {date} (due {}) is not committed",
                    schedule.describe(at)
                ));
                retry = Some((date, at, 0, env.clock.now()));
            }
            Err(e) => env.log(&format!("cannot check the run of {date}: {e}")),
        }
    }
    loop {
        if limit_reached(runs) {
            break;
        }
        let now = env.clock.now();
        let (next_date, next_at) = schedule.next_after(now);
        let (date, at, tries, wake) = match retry.take() {
            Some((d, at, tries, when)) if when < next_at => (d, at, tries, when),
            _ => (next_date, next_at, 0, next_at),
        };
        if wake > now {
            env.log(&format!("next run: {date} at {}", schedule.describe(wake)));
        }
        tokio::select! {
            _ = waiter.wait_until(wake) => {}
            _ = &mut stopped => {
                report.interrupted = true;
                env.log("scheduler stopped");
                break;
            }
        }
        let result = tokio::select! {
            r = ingest::run(job, env, date, at) => Some(r),
            _ = &mut stopped => None,
        };
        runs += 1;
        match result {
            None => {
                report.interrupted = true;
                env.log(&format!(
                    "scheduler stopped during the run of {date}: nothing committed for it"
                ));
                break;
            }
            Some(Ok(RunOutcome::Committed(_))) => report.committed.push(date),
            Some(Ok(RunOutcome::AlreadyCommitted(_))) => report.skipped.push(date),
            Some(Err(e)) => {
                let msg = e.to_string();
                report.failed.push((date, msg));
                let retriable = !matches!(e, RunError::Killed(_));
                if retriable && tries < options.retries {
                    let when = env.clock.now()
                        + chrono::Duration::from_std(options.retry_delay)
                            .unwrap_or(chrono::Duration::MAX);
                    env.log(&format!(
                        "will try the run of {date} again at {} (try {} of {})",
                        schedule.describe(when),
                        tries + 2,
                        options.retries + 1
                    ));
                    retry = Some((date, at, tries + 1, when));
                }
            }
        }
        let (d, t) = schedule.next_after(env.clock.now());
        env.log(&format!(
            "next scheduled run: {d} at {}",
            schedule.describe(t)
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn six_am_pacific_across_dst() {
        let s = DailySchedule::default();
        // PST (UTC-8) in winter, PDT (UTC-7) in summer.
        assert_eq!(s.on(date("2026-01-15")), utc("2026-01-15T14:00:00Z"));
        assert_eq!(s.on(date("2026-07-15")), utc("2026-07-15T13:00:00Z"));
        // Spring forward on 2026-03-08 at 02:00: 06:00 exists, in PDT.
        assert_eq!(s.on(date("2026-03-07")), utc("2026-03-07T14:00:00Z"));
        assert_eq!(s.on(date("2026-03-08")), utc("2026-03-08T13:00:00Z"));
        // Fall back on 2026-11-01 at 02:00.
        assert_eq!(s.on(date("2026-10-31")), utc("2026-10-31T13:00:00Z"));
        assert_eq!(s.on(date("2026-11-01")), utc("2026-11-01T14:00:00Z"));
        // The gap day is 23 hours long, the repeat day 25.
        let (d, t) = s.next_after(utc("2026-03-07T14:00:00Z"));
        assert_eq!((d, t), (date("2026-03-08"), utc("2026-03-08T13:00:00Z")));
        let (d, t) = s.next_after(utc("2026-03-08T13:00:00Z"));
        assert_eq!((d, t), (date("2026-03-09"), utc("2026-03-09T13:00:00Z")));
    }

    #[test]
    fn times_in_the_gap_and_the_repeat() {
        let s = DailySchedule::parse("02:30", "America/Los_Angeles").unwrap();
        // 02:30 does not exist on 2026-03-08: 03:30 PDT.
        assert_eq!(s.on(date("2026-03-08")), utc("2026-03-08T10:30:00Z"));
        // 01:30 happens twice on 2026-11-01: the first (PDT).
        let s = DailySchedule::parse("01:30", "America/Los_Angeles").unwrap();
        assert_eq!(s.on(date("2026-11-01")), utc("2026-11-01T08:30:00Z"));
    }

    #[test]
    fn next_and_last() {
        let s = DailySchedule::default();
        let before = utc("2026-11-26T13:59:59Z");
        assert_eq!(s.next_after(before).0, date("2026-11-26"));
        assert_eq!(s.last_at_or_before(before).0, date("2026-11-25"));
        let at = utc("2026-11-26T14:00:00Z");
        assert_eq!(s.next_after(at).0, date("2026-11-27"));
        assert_eq!(s.last_at_or_before(at).0, date("2026-11-26"));
        // Just after midnight local: the day's run is still ahead.
        let s = DailySchedule::parse("06:00", "Asia/Tokyo").unwrap();
        let t = utc("2026-11-26T15:30:00Z"); // 00:30 on the 27th in Tokyo
        assert_eq!(
            s.next_after(t),
            (date("2026-11-27"), utc("2026-11-26T21:00:00Z"))
        );
    }

    #[test]
    fn parse_errors() {
        assert!(
            DailySchedule::parse("6am", "UTC")
                .unwrap_err()
                .contains("HH:MM")
        );
        assert!(
            DailySchedule::parse("06:00", "Mars/Olympus")
                .unwrap_err()
                .contains("IANA")
        );
    }
}

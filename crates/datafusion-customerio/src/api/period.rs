//! Report periods and their bucket boundaries.
//!
//! Customer.io's version-1 metrics (`period`/`steps`) return `steps + 1` buckets, oldest first, the
//! last being the current, partial period. Buckets start at 00:00 Eastern time ("Days start at
//! 00:00 EST. Weeks start at 00:00 EST on Sunday. Months start at 00:00 EST on the 1st"). We read
//! "EST" as the `America/New_York` zone (EST/EDT), the zone the vendor's offices keep; the choice
//! is written down in the README. Version 2 of campaign metrics takes a zone (`tz`); we ask it for
//! `America/New_York` so campaign buckets line up with newsletter and link buckets.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The zone of version-1 bucket boundaries.
pub const EASTERN: Tz = chrono_tz::America::New_York;

/// The unit of a report's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Period {
    /// `hours`: buckets of one hour.
    Hours,
    /// `days`: buckets from midnight to midnight, US Eastern time.
    Days,
    /// `weeks`: buckets from Sunday midnight, US Eastern time.
    Weeks,
    /// `months`: buckets from the first of the month, US Eastern time.
    Months,
}

impl Period {
    /// Every period, in the order the API documents them.
    pub const ALL: [Period; 4] = [Period::Hours, Period::Days, Period::Weeks, Period::Months];

    /// The API's name for the period (`hours`, `days`, `weeks`, `months`).
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hours => "hours",
            Period::Days => "days",
            Period::Weeks => "weeks",
            Period::Months => "months",
        }
    }

    /// The largest `steps` version 1 accepts: 24 hours, 45 days, 12 weeks, 121 months (the 2026
    /// spec, `getNewsletterMetrics`, `getNewsletterLinks`, `campaignLinkMetrics`; the 2022 spec
    /// said 120 months). A report's own limit is [`crate::Report::max_steps`]: campaigns also
    /// read version 2, whose window is limited to ten years.
    pub fn max_steps(self) -> u32 {
        match self {
            Period::Hours => 24,
            Period::Days => 45,
            Period::Weeks => 12,
            Period::Months => 121,
        }
    }

    /// The `steps` used when none is given: the maximum, or 12 for months.
    pub fn default_steps(self) -> u32 {
        match self {
            Period::Months => 12,
            other => other.max_steps(),
        }
    }

    /// The start of the bucket holding `t`, in zone `tz`.
    pub fn floor(self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = t.with_timezone(&tz).naive_local();
        let date = local.date();
        let naive = match self {
            Period::Hours => date.and_hms_opt(chrono::Timelike::hour(&local.time()), 0, 0),
            Period::Days => date.and_hms_opt(0, 0, 0),
            Period::Weeks => {
                let back = date.weekday().num_days_from_sunday() as i64;
                (date - Duration::days(back)).and_hms_opt(0, 0, 0)
            }
            Period::Months => NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0)),
        };
        match naive {
            Some(n) if self == Period::Hours => {
                // Hours are whole in every offset this zone uses: step back from `t` instead of
                // re-resolving the local time, which is ambiguous in the repeated DST hour.
                let _ = n;
                let secs = t.timestamp();
                DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or(t)
            }
            Some(n) => resolve(n, tz),
            None => t,
        }
    }

    /// The start of the bucket `n` periods after the one starting at `start` (negative: before).
    pub fn add(self, start: DateTime<Utc>, n: i64, tz: Tz) -> DateTime<Utc> {
        match self {
            Period::Hours => start + Duration::hours(n),
            Period::Days | Period::Weeks => {
                let days = if self == Period::Days { n } else { n * 7 };
                let local = start.with_timezone(&tz).naive_local();
                resolve(local + Duration::days(days), tz)
            }
            Period::Months => {
                let local = start.with_timezone(&tz).naive_local();
                let months = local.year() as i64 * 12 + local.month0() as i64 + n;
                let (y, m0) = (months.div_euclid(12) as i32, months.rem_euclid(12) as u32);
                let date = NaiveDate::from_ymd_opt(y, m0 + 1, 1).unwrap_or(local.date());
                resolve(date.and_time(local.time()), tz)
            }
        }
    }

    /// The starts of the `steps + 1` version-1 buckets that end with the one holding `now`.
    pub fn v1_buckets(self, steps: u32, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        self.buckets(steps, now, EASTERN)
    }

    /// The starts of `steps + 1` buckets of this period in zone `tz`, the last holding `now`.
    pub fn buckets(self, steps: u32, now: DateTime<Utc>, tz: Tz) -> Vec<DateTime<Utc>> {
        let current = self.floor(now, tz);
        (0..=steps as i64)
            .map(|i| self.add(current, i - steps as i64, tz))
            .collect()
    }
}

/// A local time as UTC: the earlier instant when it is ambiguous, the next valid one in a gap.
fn resolve(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        LocalResult::None => resolve(naive + Duration::hours(1), tz),
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = String;

    /// Parses the v1 names and the v2 `res` aliases (`hourly`, `daily`, `weekly`, `monthly`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hours" | "hourly" => Ok(Period::Hours),
            "days" | "daily" => Ok(Period::Days),
            "weeks" | "weekly" => Ok(Period::Weeks),
            "months" | "monthly" => Ok(Period::Months),
            _ => Err(format!(
                "'{s}' is not a period; valid values are hours, days, weeks, months"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_start_at_eastern_midnight_across_dst() {
        // 2026-03-08 is the spring-forward day in New York: EST before, EDT after.
        let now = utc("2026-03-09T12:00:00Z");
        let b = Period::Days.v1_buckets(2, now);
        assert_eq!(
            b,
            vec![
                utc("2026-03-07T05:00:00Z"),
                utc("2026-03-08T05:00:00Z"),
                utc("2026-03-09T04:00:00Z")
            ]
        );
    }

    #[test]
    fn weeks_start_on_sunday_and_months_on_the_first() {
        let now = utc("2026-11-26T18:00:00Z"); // a Thursday
        assert_eq!(
            Period::Weeks.floor(now, EASTERN),
            utc("2026-11-22T05:00:00Z")
        );
        assert_eq!(
            Period::Months.floor(now, EASTERN),
            utc("2026-11-01T04:00:00Z")
        );
        let m = Period::Months.v1_buckets(12, now);
        assert_eq!(m.len(), 13);
        assert_eq!(m[0], utc("2025-11-01T04:00:00Z"));
    }

    #[test]
    fn hours_floor_is_whole_hours() {
        let now = utc("2026-11-01T05:30:00Z"); // inside the repeated 1 a.m. hour
        assert_eq!(
            Period::Hours.floor(now, EASTERN),
            utc("2026-11-01T05:00:00Z")
        );
        assert_eq!(Period::Hours.v1_buckets(24, now).len(), 25);
    }

    #[test]
    fn parses_aliases_and_rejects_others() {
        assert_eq!("daily".parse::<Period>().unwrap(), Period::Days);
        let err = "fortnights".parse::<Period>().unwrap_err();
        assert!(err.contains("hours, days, weeks, months"), "{err}");
    }
}

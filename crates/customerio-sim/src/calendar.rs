//! The simulator's own calendar: the units of metrics buckets and where each bucket starts.
//!
//! Written from the vendor's words, independently of the connector: "Days start at 00:00 EST.
//! Weeks start at 00:00 EST on Sunday. Months start at 00:00 EST on the 1st of the month", and
//! version 1 answers hold `steps + 1` buckets, the last the current one (`API-NOTES.md`, "Period/
//! steps semantics"). "EST" is read as the `America/New_York` zone (EST in winter, EDT in summer).
//! Version 2 of campaign metrics uses the same rules in the request's `tz`.

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// The zone of version-1 bucket boundaries ("EST").
pub(crate) const EASTERN: Tz = chrono_tz::America::New_York;

/// The unit of a metrics bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Unit {
    Hour,
    Day,
    Week,
    Month,
}

impl Unit {
    /// Every unit, shortest first.
    #[cfg(test)]
    pub(crate) const ALL: [Unit; 4] = [Unit::Hour, Unit::Day, Unit::Week, Unit::Month];

    /// The unit of a version-1 `period` (`hours`...) or a version-2 `res` (`hours`, `hourly`...).
    pub(crate) fn from_name(name: &str) -> Option<Unit> {
        match name {
            "hours" | "hourly" => Some(Unit::Hour),
            "days" | "daily" => Some(Unit::Day),
            "weeks" | "weekly" => Some(Unit::Week),
            "months" | "monthly" => Some(Unit::Month),
            _ => None,
        }
    }

    /// The version-1 name (`hours`, `days`, `weeks`, `months`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Unit::Hour => "hours",
            Unit::Day => "days",
            Unit::Week => "weeks",
            Unit::Month => "months",
        }
    }

    /// The largest version-1 `steps`: "Maximums are 24 hours, 45 days, 12 weeks, or 121 months"
    /// (2026 spec; the 2022 spec said 120 months).
    pub(crate) fn max_steps(self) -> i64 {
        match self {
            Unit::Hour => 24,
            Unit::Day => 45,
            Unit::Week => 12,
            Unit::Month => 121,
        }
    }

    /// The version-1 `steps` when none is sent: "the maximum available, or 12 if the period is in
    /// months".
    pub(crate) fn default_steps(self) -> i64 {
        match self {
            Unit::Month => 12,
            other => other.max_steps(),
        }
    }

    /// The start of the bucket that holds `t`, with boundaries in zone `tz`.
    pub(crate) fn start_of(self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = t.with_timezone(&tz);
        let day = local.date_naive();
        match self {
            // Back to the last whole local hour: subtract the minutes and seconds shown on the
            // local clock (no re-reading of a local time, so the repeated hour is no problem).
            Unit::Hour => {
                let into_hour = i64::from(local.minute()) * 60 + i64::from(local.second());
                DateTime::from_timestamp(t.timestamp() - into_hour, 0).unwrap_or(t)
            }
            Unit::Day => first_instant(day, tz),
            Unit::Week => {
                let since_sunday = u64::from(day.weekday().num_days_from_sunday());
                first_instant(day - Days::new(since_sunday), tz)
            }
            Unit::Month => first_instant(day.with_day(1).unwrap_or(day), tz),
        }
    }

    /// The start of the bucket `n` units after the bucket that starts at `start` (`n < 0`:
    /// before). `start` must be a bucket start of this unit in `tz`.
    pub(crate) fn shift(self, start: DateTime<Utc>, n: i64, tz: Tz) -> DateTime<Utc> {
        let day = start.with_timezone(&tz).date_naive();
        let days = |d: i64| {
            let moved = if d >= 0 {
                day.checked_add_days(Days::new(d.unsigned_abs()))
            } else {
                day.checked_sub_days(Days::new(d.unsigned_abs()))
            };
            moved.map_or(start, |m| first_instant(m, tz))
        };
        match self {
            Unit::Hour => start + chrono::Duration::hours(n),
            Unit::Day => days(n),
            Unit::Week => days(n * 7),
            Unit::Month => {
                let index = i64::from(day.year()) * 12 + i64::from(day.month0()) + n;
                let year = i32::try_from(index.div_euclid(12)).ok();
                let month = u32::try_from(index.rem_euclid(12) + 1).ok();
                year.zip(month)
                    .and_then(|(y, m)| NaiveDate::from_ymd_opt(y, m, 1))
                    .map_or(start, |d| first_instant(d, tz))
            }
        }
    }

    /// The starts of a version-1 window: `steps + 1` buckets in Eastern time, oldest first, the
    /// last holding `now`.
    pub(crate) fn v1_starts(self, steps: i64, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let current = self.start_of(now, EASTERN);
        (-steps..=0)
            .map(|back| self.shift(current, back, EASTERN))
            .collect()
    }
}

/// The first instant of local day `day` in `tz`: local midnight, the earlier one if midnight
/// happens twice, or the end of the gap when a clock change skips midnight.
fn first_instant(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    for minute in 0..24 * 60 {
        let local = midnight + chrono::Duration::minutes(minute);
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
            LocalResult::None => {}
        }
    }
    // No zone skips a whole day's minutes; read the date as UTC if one ever did.
    midnight.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values below are worked out by hand from the zone rules: New York keeps EST
    /// (UTC-5) and EDT (UTC-4); in 2026 EDT runs from 8 March 02:00 EST to 1 November 02:00 EDT.
    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(t: &str) -> DateTime<Utc> {
        Unit::Day.start_of(utc(t), EASTERN)
    }

    #[test]
    fn days_start_at_midnight_eastern() {
        // 23:59:59 EST on 14 January is still the 14th.
        assert_eq!(day("2026-01-15T04:59:59Z"), utc("2026-01-14T05:00:00Z"));
        assert_eq!(day("2026-01-15T05:00:00Z"), utc("2026-01-15T05:00:00Z"));
        // Summer: midnight EDT is 04:00Z.
        assert_eq!(day("2026-07-04T03:30:00Z"), utc("2026-07-03T04:00:00Z"));
        assert_eq!(day("2026-07-04T04:00:00Z"), utc("2026-07-04T04:00:00Z"));
    }

    #[test]
    fn the_march_change_makes_a_23_hour_day() {
        assert_eq!(day("2026-03-08T12:00:00Z"), utc("2026-03-08T05:00:00Z"));
        let next = Unit::Day.shift(utc("2026-03-08T05:00:00Z"), 1, EASTERN);
        assert_eq!(next, utc("2026-03-09T04:00:00Z"));
        assert_eq!(
            Unit::Day.shift(utc("2026-03-09T04:00:00Z"), -2, EASTERN),
            utc("2026-03-07T05:00:00Z")
        );
        // 01:30 EST, then 03:30 EDT an hour later: consecutive hours.
        let h = |t: &str| Unit::Hour.start_of(utc(t), EASTERN);
        assert_eq!(h("2026-03-08T06:30:00Z"), utc("2026-03-08T06:00:00Z"));
        assert_eq!(h("2026-03-08T07:30:00Z"), utc("2026-03-08T07:00:00Z"));
        assert_eq!(
            Unit::Day.v1_starts(2, utc("2026-03-09T12:00:00Z")),
            vec![
                utc("2026-03-07T05:00:00Z"),
                utc("2026-03-08T05:00:00Z"),
                utc("2026-03-09T04:00:00Z"),
            ]
        );
    }

    #[test]
    fn the_november_change_makes_a_25_hour_day() {
        assert_eq!(day("2026-11-01T12:00:00Z"), utc("2026-11-01T04:00:00Z"));
        assert_eq!(
            Unit::Day.shift(utc("2026-11-01T04:00:00Z"), 1, EASTERN),
            utc("2026-11-02T05:00:00Z")
        );
        // 23:30 EST on 1 November is still the 1st.
        assert_eq!(day("2026-11-02T04:30:00Z"), utc("2026-11-01T04:00:00Z"));
        // 01:30 happens twice: EDT (05:30Z) then EST (06:30Z), two different hours.
        let h = |t: &str| Unit::Hour.start_of(utc(t), EASTERN);
        assert_eq!(h("2026-11-01T05:30:00Z"), utc("2026-11-01T05:00:00Z"));
        assert_eq!(h("2026-11-01T06:30:00Z"), utc("2026-11-01T06:00:00Z"));
        let hours = Unit::Hour.v1_starts(3, utc("2026-11-01T06:59:59Z"));
        assert_eq!(
            hours,
            vec![
                utc("2026-11-01T03:00:00Z"),
                utc("2026-11-01T04:00:00Z"),
                utc("2026-11-01T05:00:00Z"),
                utc("2026-11-01T06:00:00Z"),
            ]
        );
    }

    #[test]
    fn weeks_start_on_sunday() {
        let w = |t: &str| Unit::Week.start_of(utc(t), EASTERN);
        // Saturday 28 November 2026 -> Sunday 22 November, 00:00 EST.
        assert_eq!(w("2026-11-28T20:00:00Z"), utc("2026-11-22T05:00:00Z"));
        assert_eq!(w("2026-11-22T05:00:00Z"), utc("2026-11-22T05:00:00Z"));
        // 23:59 EST on Saturday 21 November belongs to the week before.
        assert_eq!(w("2026-11-22T04:59:00Z"), utc("2026-11-15T05:00:00Z"));
        // Tuesday 3 November: the week began on 1 November at 00:00 EDT, before the change.
        assert_eq!(w("2026-11-03T15:00:00Z"), utc("2026-11-01T04:00:00Z"));
        assert_eq!(
            Unit::Week.shift(utc("2026-11-01T04:00:00Z"), 1, EASTERN),
            utc("2026-11-08T05:00:00Z")
        );
        assert_eq!(
            Unit::Week.shift(utc("2026-11-08T05:00:00Z"), -2, EASTERN),
            utc("2026-10-25T04:00:00Z")
        );
    }

    #[test]
    fn months_start_on_the_first() {
        let m = |t: &str| Unit::Month.start_of(utc(t), EASTERN);
        assert_eq!(m("2026-03-15T12:00:00Z"), utc("2026-03-01T05:00:00Z"));
        // 23:59 EDT on 31 March is still March; 00:00 EDT on 1 April is April.
        assert_eq!(m("2026-04-01T03:59:00Z"), utc("2026-03-01T05:00:00Z"));
        assert_eq!(m("2026-04-01T04:00:00Z"), utc("2026-04-01T04:00:00Z"));
        assert_eq!(
            Unit::Month.shift(utc("2025-12-01T05:00:00Z"), 1, EASTERN),
            utc("2026-01-01T05:00:00Z")
        );
        assert_eq!(
            Unit::Month.shift(utc("2026-01-01T05:00:00Z"), -13, EASTERN),
            utc("2024-12-01T05:00:00Z")
        );
        let year = Unit::Month.v1_starts(12, utc("2026-11-28T20:00:00Z"));
        assert_eq!(year.len(), 13);
        assert_eq!(year[0], utc("2025-11-01T04:00:00Z"));
        assert_eq!(year[12], utc("2026-11-01T04:00:00Z"));
    }

    #[test]
    fn other_zones_for_version_2() {
        // UTC days are UTC midnights.
        assert_eq!(
            Unit::Day.start_of(utc("2025-01-01T08:00:00Z"), Tz::UTC),
            utc("2025-01-01T00:00:00Z")
        );
        // India is UTC+05:30: 16:15 IST is in the hour from 16:00 IST, 10:30Z.
        let kolkata = chrono_tz::Asia::Kolkata;
        assert_eq!(
            Unit::Hour.start_of(utc("2026-01-01T10:45:00Z"), kolkata),
            utc("2026-01-01T10:30:00Z")
        );
        // Chile skips midnight: on Sunday 6 September 2026 clocks go from 00:00 (UTC-4) to
        // 01:00 (UTC-3), so that day begins at 01:00 -03, 04:00Z, as did the day before (at
        // 00:00 -04).
        let santiago = chrono_tz::America::Santiago;
        assert_eq!(
            Unit::Day.start_of(utc("2026-09-06T12:00:00Z"), santiago),
            utc("2026-09-06T04:00:00Z")
        );
        assert_eq!(
            Unit::Day.shift(utc("2026-09-05T04:00:00Z"), 1, santiago),
            utc("2026-09-06T04:00:00Z")
        );
    }

    #[test]
    fn names_and_steps() {
        for u in Unit::ALL {
            assert_eq!(Unit::from_name(u.name()), Some(u));
        }
        assert_eq!(Unit::from_name("monthly"), Some(Unit::Month));
        assert_eq!(Unit::from_name("fortnights"), None);
        assert_eq!(
            Unit::ALL.map(Unit::default_steps),
            [24, 45, 12, 12],
            "defaults: the maximum, or 12 for months"
        );
    }
}

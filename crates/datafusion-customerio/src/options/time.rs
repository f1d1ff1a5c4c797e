//! Window bounds (`start`, `end`): absolute or relative to "now", and the window check, both
//! given "now" by the caller (the table's clock), never the system's.

use chrono::{DateTime, Utc};

use crate::api::MAX_DELIVERIES_WINDOW_MONTHS;
use crate::error::{Error, Result};

/// The furthest back a relative time (`-7d`) may reach: 100 years.
pub const MAX_RELATIVE_DAYS: i64 = 36_525;

/// A window bound: absolute, or relative to the scan's "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum TimeSpec {
    /// An instant.
    At(#[serde(with = "micros")] DateTime<Utc>),
    /// Now plus this (negative: in the past).
    Relative(#[serde(with = "delta")] chrono::Duration),
}

/// Instants as microseconds since the epoch, in serialized plans.
mod micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.timestamp_micros())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let n = i64::deserialize(d)?;
        DateTime::from_timestamp_micros(n)
            .ok_or_else(|| serde::de::Error::custom(format!("instant {n} µs is out of range")))
    }
}

/// Durations as (seconds, nanoseconds), in serialized plans.
mod delta {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        (d.num_seconds(), d.subsec_nanos()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let (secs, nanos) = <(i64, i32)>::deserialize(d)?;
        u32::try_from(nanos)
            .ok()
            .and_then(|n| Duration::new(secs, n))
            .or_else(|| {
                // `subsec_nanos` is negative for negative durations.
                Duration::new(secs, 0)
                    .and_then(|d| d.checked_add(&Duration::nanoseconds(nanos.into())))
            })
            .ok_or_else(|| {
                serde::de::Error::custom(format!("duration {secs} s {nanos} ns is out of range"))
            })
    }
}

impl TimeSpec {
    /// The instant, given "now".
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            TimeSpec::At(t) => t,
            // Saturating: a bound cannot panic, whatever `now` is.
            TimeSpec::Relative(d) => {
                now.checked_add_signed(d)
                    .unwrap_or(if d < chrono::Duration::zero() {
                        DateTime::<Utc>::MIN_UTC
                    } else {
                        DateTime::<Utc>::MAX_UTC
                    })
            }
        }
    }
}

/// Refuses windows that end before they start, or are longer than Customer.io returns.
///
/// "If your start and end range is more than 12 months, we'll return 12 months of data from the
/// most recent timestamp": a window is refused when `end` is after `start` plus 12 calendar
/// months. The months are counted in UTC: the API takes the bounds as unix timestamps and names
/// no zone for this limit (unlike the Eastern-time metric buckets), and UTC is the zone the
/// bounds are written in. A year holding a 29 February allows 366 days, another 365. Counting
/// forward from `start` (chrono's calendar arithmetic, 29 February plus 12 months being
/// 28 February) is never looser than the vendor's counting back from `end`, so no accepted
/// window loses a day.
///
/// The error is about the option `start` (a window without a start is never refused).
pub fn check_window(
    start: Option<TimeSpec>,
    end: Option<TimeSpec>,
    now: DateTime<Utc>,
) -> Result<()> {
    let end_t = end.map_or(now, |e| e.resolve(now));
    let Some(start) = start else { return Ok(()) };
    let start_t = start.resolve(now);
    if start_t >= end_t {
        return Err(Error::option_value(
            "start",
            start_t.to_string(),
            format!(
                "options start/end: the window starts at {start_t} and ends at {end_t}; start \
                 must come before end"
            ),
        ));
    }
    // `None` only past the end of chrono's range, where no end can be later.
    let limit = start_t.checked_add_months(chrono::Months::new(MAX_DELIVERIES_WINDOW_MONTHS));
    if let Some(limit) = limit
        && end_t > limit
    {
        return Err(Error::option_value(
            "start",
            start_t.to_string(),
            format!(
                "options start/end: the window from {start_t} to {end_t} is longer than \
                 {MAX_DELIVERIES_WINDOW_MONTHS} calendar months (in UTC, it may end at {limit} \
                 at the latest); Customer.io would silently return only the last 12 months, so \
                 split it into windows of at most 12 months (several tables, combined with UNION \
                 ALL)"
            ),
        ));
    }
    Ok(())
}

/// A date (`2026-01-31`), an RFC 3339 timestamp, unix seconds, or relative (`-7d`, `-12h`, `now`).
pub(super) fn parse_time(name: &str, v: &str) -> Result<TimeSpec> {
    use chrono::NaiveDate;
    let t = v.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(TimeSpec::Relative(chrono::Duration::zero()));
    }
    if let Some(rel) = t.strip_prefix('-') {
        let (digits, unit) =
            rel.split_at(rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len()));
        if let Ok(n) = digits.parse::<i64>() {
            // `try_*`: a huge number is an error, not a panic; beyond 100 years it is refused.
            let d = match unit {
                "d" => chrono::Duration::try_days(n),
                "h" => chrono::Duration::try_hours(n),
                "w" => chrono::Duration::try_weeks(n),
                "m" => chrono::Duration::try_minutes(n),
                _ => None,
            };
            if let Some(d) = d {
                if d > chrono::Duration::days(MAX_RELATIVE_DAYS) {
                    return Err(Error::option_value(
                        name,
                        v,
                        format!(
                            "option {name}: '{v}' is more than {MAX_RELATIVE_DAYS} days ago; \
                             valid relative times are within 100 years (-7d, -12h, -2w)"
                        ),
                    ));
                }
                return Ok(TimeSpec::Relative(-d));
            }
        }
    }
    if let Ok(secs) = t.parse::<i64>()
        && let Some(at) = DateTime::from_timestamp(secs, 0)
    {
        return Ok(TimeSpec::At(at));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(TimeSpec::At(at.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(at) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(TimeSpec::At(at.and_utc()));
    }
    Err(Error::option_value(
        name,
        v,
        format!(
            "option {name}: '{v}' is not a time; valid values are a date (2026-01-31), an RFC \
             3339 timestamp (2026-01-31T12:00:00Z), unix seconds, now, or relative (-7d, -12h, \
             -2w)"
        ),
    ))
}

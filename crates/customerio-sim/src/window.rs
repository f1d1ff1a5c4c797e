//! The bucket windows of metrics requests: version 1 (`period`, `steps`, Eastern time) and
//! version 2 (`res`, `start`, `end`, `tz`) of campaign metrics.

use chrono::{DateTime, Months, Utc};
use chrono_tz::Tz;

use super::StepsMode;
use super::calendar::Unit;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::vocabulary::strs;

/// The buckets of a metrics answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    pub(crate) period: Unit,
    /// Bucket starts, oldest first.
    pub(crate) buckets: Vec<DateTime<Utc>>,
    /// The top-level `start`, `end` and `res` of a version-2 answer.
    pub(crate) v2: Option<V2Header>,
}

/// The version-2 response header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V2Header {
    pub(crate) start: String,
    pub(crate) end: String,
    pub(crate) res: String,
}

/// The unit named by `name`, one of an operation's `allowed` values (from the spec).
fn unit(name: &str, allowed: &[String]) -> ApiResult<Unit> {
    Unit::from_name(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "'{name}' is not a bucket unit; valid values are {}",
            allowed.join(", ")
        ))
    })
}

/// A version-1 window: `steps + 1` buckets ending with the one holding `now`. `periods` are the
/// operation's `period` values in the spec.
pub(crate) fn v1(
    params: &Params,
    periods: &[String],
    mode: StepsMode,
    now: DateTime<Utc>,
) -> ApiResult<Window> {
    let period = match params.one_of("period", &strs(periods))? {
        Some(p) => unit(&p, periods)?,
        None => Unit::Day,
    };
    let max = period.max_steps();
    let steps = match params.int("steps")? {
        None => period.default_steps(),
        Some(0) => max,
        Some(s) if (1..=max).contains(&s) => s,
        Some(s) => match mode {
            StepsMode::Clamp => max,
            StepsMode::Reject => {
                return Err(ApiError::bad_request(format!(
                    "steps {s} is out of range for period {}: use 0..={max} (0 means {max})",
                    period.name()
                )));
            }
        },
    };
    Ok(Window {
        period,
        buckets: period.v1_starts(steps, now),
        v2: None,
    })
}

/// A version-2 window: buckets from `floor(start)` in `tz`, one period apart, while the bucket
/// starts before `end` (at least one bucket). `res_values` are the spec's `res` values.
pub(crate) fn v2(params: &Params, res_values: &[String]) -> ApiResult<Window> {
    let res = params.one_of("res", &strs(res_values))?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "res is required with version=2; valid values are {}",
            res_values.join(", ")
        ))
    })?;
    let period = unit(&res, res_values)?;
    let required = |name: &str| -> ApiResult<i64> {
        params.int(name)?.ok_or_else(|| {
            ApiError::bad_request(format!("{name} (unix seconds) is required with version=2"))
        })
    };
    let (start, end) = (required("start")?, required("end")?);
    if end < start {
        return Err(ApiError::bad_request(format!(
            "end {end} is before start {start}"
        )));
    }
    let invalid =
        |name: &str, v: i64| ApiError::bad_request(format!("{name} {v} is not a valid unix time"));
    let start_t = DateTime::from_timestamp(start, 0).ok_or_else(|| invalid("start", start))?;
    let end_t = DateTime::from_timestamp(end, 0).ok_or_else(|| invalid("end", end))?;
    let limit = start_t
        .checked_add_months(Months::new(120))
        .unwrap_or(start_t);
    if end_t > limit {
        return Err(ApiError::bad_request(
            "end is limited to 10 years from start".to_string(),
        ));
    }
    let tz: Tz = match params.get("tz") {
        None => Tz::UTC,
        Some(name) => name.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "tz '{name}' is not a known time zone; use a region name such as America/New_York"
            ))
        })?,
    };
    let first = period.start_of(start_t, tz);
    let mut buckets = vec![first];
    loop {
        let next = period.shift(first, buckets.len() as i64, tz);
        if next >= end_t || next <= buckets[buckets.len() - 1] {
            break;
        }
        buckets.push(next);
    }
    let fmt = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %z %Z")
            .to_string()
    };
    let last = buckets[buckets.len() - 1];
    Ok(Window {
        period,
        v2: Some(V2Header {
            start: fmt(first),
            end: fmt(last),
            res,
        }),
        buckets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Params {
        Params::parse(Some(s))
    }

    fn periods() -> Vec<String> {
        ["hours", "days", "weeks", "months"]
            .map(String::from)
            .to_vec()
    }

    fn res() -> Vec<String> {
        super::super::vocabulary::vocabulary()
            .unwrap()
            .v2_res
            .clone()
    }

    fn v1(p: &Params, mode: StepsMode, now: DateTime<Utc>) -> ApiResult<Window> {
        super::v1(p, &periods(), mode, now)
    }

    fn v2(p: &Params) -> ApiResult<Window> {
        super::v2(p, &res())
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn v1_defaults_clamp_and_reject() {
        let now = utc("2026-03-09T12:00:00Z");
        let w = v1(&q(""), StepsMode::Clamp, now).unwrap();
        assert_eq!((w.period, w.buckets.len()), (Unit::Day, 46));
        assert_eq!(
            v1(&q("period=months"), StepsMode::Clamp, now)
                .unwrap()
                .buckets
                .len(),
            13
        );
        // 0 means the maximum; the 2026 spec's month maximum is 121.
        assert_eq!(
            v1(&q("period=months&steps=0"), StepsMode::Clamp, now)
                .unwrap()
                .buckets
                .len(),
            122
        );
        assert_eq!(
            v1(&q("period=hours&steps=0"), StepsMode::Clamp, now)
                .unwrap()
                .buckets
                .len(),
            25
        );
        assert_eq!(
            v1(&q("period=weeks&steps=99"), StepsMode::Clamp, now)
                .unwrap()
                .buckets
                .len(),
            13
        );
        assert_eq!(
            v1(&q("period=weeks&steps=-1"), StepsMode::Clamp, now)
                .unwrap()
                .buckets
                .len(),
            13
        );
        assert!(v1(&q("period=weeks&steps=99"), StepsMode::Reject, now).is_err());
        assert!(v1(&q("period=fortnights"), StepsMode::Clamp, now).is_err());
        assert!(v1(&q("steps=x"), StepsMode::Clamp, now).is_err());
    }

    #[test]
    fn v2_matches_the_vendor_example() {
        let w = v2(&q("res=days&start=1735718400&end=1735804800")).unwrap();
        assert_eq!(w.buckets.len(), 2);
        let h = w.v2.unwrap();
        assert_eq!(h.start, "2025-01-01 00:00:00 +0000 UTC");
        assert_eq!(h.end, "2025-01-02 00:00:00 +0000 UTC");
        assert_eq!(h.res, "days");
    }

    #[test]
    fn v2_in_new_york_lines_up_with_v1() {
        let now = utc("2026-03-09T12:00:00Z");
        let v1w = v1(&q("period=days&steps=3"), StepsMode::Clamp, now).unwrap();
        let (s, e) = (v1w.buckets[0].timestamp(), now.timestamp());
        let v2w = v2(&q(&format!(
            "res=daily&start={s}&end={e}&tz=America/New_York"
        )))
        .unwrap();
        assert_eq!(v1w.buckets, v2w.buckets);
        assert!(v2w.v2.unwrap().start.ends_with("-0500 EST"));
    }

    #[test]
    fn v2_rejects_bad_windows() {
        for bad in [
            "start=1&end=2",
            "res=days&end=2",
            "res=days&start=1",
            "res=fortnight&start=1&end=2",
            "res=days&start=10&end=2",
            "res=days&start=0&end=400000000",
            "res=days&start=1&end=2&tz=Mars/Olympus",
        ] {
            assert!(v2(&q(bad)).is_err(), "{bad}");
        }
        assert_eq!(v2(&q("res=hours&start=0&end=0")).unwrap().buckets.len(), 1);
    }
}

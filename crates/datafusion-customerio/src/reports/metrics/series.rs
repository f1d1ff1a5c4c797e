//! Reading a metrics answer: the bucket start of each value of its series (version 2 from the
//! answer's `start`, version 1 from the server's `Date`), checked against what was asked for.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::buckets::{Anchor, BucketList};
use super::{MetricsApi, Shared};
use crate::api::period::Period;
use crate::client::models::{LinkMetrics, MetricsResponse, Series};
use crate::error::{Error, Result};

/// How far the server's `Date` may be from this machine's clock (before the request, and after
/// its answer) before a warning is logged. The `Date` is used all the same: version-1 buckets end
/// at the server's now, which is what its clock says, even when this machine's clock is wrong.
pub const SERVER_CLOCK_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::minutes(60);

/// The first instant a Customer.io answer can carry: the company's founding year. A `Date`
/// before it is not the server's clock (an unset clock, a zero time) and labels nothing.
const EARLIEST_SERVER_DATE: i64 = 1_325_376_000; // 2012-01-01T00:00:00Z

/// The server's time of a version-1 answer, its `Date` (`None`: the answer had none readable).
/// A `Date` more than [`SERVER_CLOCK_TOLERANCE`] from this machine's clock, between `before`
/// (when the query started) and now, is used and logged as a warning naming both times, once a
/// scan (one of the two clocks is wrong; the buckets are the server's); a `Date` before 2012 is
/// an error. (`cached`: the answer was held in the response cache, so its `Date` may be up to
/// the time to live old.)
pub(super) fn server_now(
    shared: &Shared,
    date: Option<DateTime<Utc>>,
    cached: bool,
    before: DateTime<Utc>,
    path: &str,
) -> Result<Option<DateTime<Utc>>> {
    let Some(date) = date else { return Ok(None) };
    let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if date.timestamp() < EARLIEST_SERVER_DATE {
        return Err(Error::Malformed {
            endpoint: format!("GET {path}"),
            detail: format!(
                "the answer's Date header says {}, which is no server's clock (this machine's \
                 says {}); version-1 buckets end at the server's time, so the rows cannot be \
                 labelled: check a proxy in base_url that rewrites Date",
                secs(date),
                secs(before)
            ),
        });
    }
    let after = shared.request.clock.now().max(before);
    // An answer held in the response cache is up to its time to live old: its `Date` too.
    let held = if cached {
        chrono::Duration::from_std(shared.request.client.cache_ttl()).unwrap_or_default()
    } else {
        chrono::Duration::zero()
    };
    let far =
        date < before - SERVER_CLOCK_TOLERANCE - held || date > after + SERVER_CLOCK_TOLERANCE;
    // One warning a scan: every item's answer would say the same.
    if far
        && !shared
            .clock_warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            endpoint = %format!("GET {path}"),
            server = %secs(date),
            local = %secs(before),
            "the answer's Date is more than {} minutes from this machine's clock; version-1 \
             buckets are labelled from the server's time (set this machine's clock with NTP)",
            SERVER_CLOCK_TOLERANCE.num_minutes()
        );
    }
    Ok(Some(date))
}

/// The bucket starts of a metrics answer of `path`. Version 2 (campaigns) names its first
/// bucket's start, or starts where it was asked to (`steps` buckets before the one holding
/// `now`, the connector's time the query was made at); version 1 (newsletters) ends with the
/// bucket holding the server's time, `server_now` (the answer's `Date` header), or `now` when
/// the answer had no readable `Date`. (With the connector's own clock a few minutes behind the
/// server's across midnight Eastern, every version-1 bucket would be labelled a day early.)
pub(super) fn series_starts(
    shared: &Shared,
    resp: &MetricsResponse,
    now: DateTime<Utc>,
    server_now: Option<DateTime<Utc>>,
    path: &str,
) -> Result<Arc<BucketList>> {
    let (period, steps) = (shared.options.period, shared.options.steps);
    // No series at all (`"series": null` or `{}`, as Go writes an empty map): the buckets that
    // were asked for, every value NULL, rather than a sender without rows.
    let n = match series_len(&resp.metric) {
        0 => steps as usize + 1,
        n => n,
    };
    let malformed = |detail: String| Error::Malformed {
        endpoint: format!("GET {path}"),
        detail,
    };
    match shared.kind.facts().metrics_api {
        MetricsApi::V2 => {
            // A version-2 answer names its first bucket and its resolution; one without them
            // may be a version-1 answer (45 days up to the server's now), which labelled from
            // the window asked for would put every value in the wrong bucket.
            let start = match resp.start.as_deref() {
                Some(s) => parse_go_time(s).ok_or_else(|| {
                    malformed(format!(
                        "at start: '{s}' is not a time like '2025-01-01 00:00:00 +0000 UTC' \
                         (Go) or '2025-01-01T00:00:00Z' (RFC 3339)"
                    ))
                })?,
                None => {
                    return Err(malformed(
                        "at start: missing; a version-2 answer (version=2 was asked for) \
                         carries the start of its first bucket"
                            .into(),
                    ));
                }
            };
            if let Some(res) = resp.res.as_deref()
                && res.parse::<Period>().ok() != Some(period)
            {
                return Err(malformed(format!(
                    "at res: '{res}', but res={period} was asked for (valid: {period} or its \
                     -ly form)"
                )));
            }
            // `steps + 1` buckets were asked for; one more when Customer.io also returns the
            // bucket that contains `end`. Fewer would leave buckets without rows.
            if n < steps as usize + 1 || n > steps as usize + 2 {
                return Err(malformed(format!(
                    "at metric.series: {n} buckets, but the window asked for holds {} \
                     ({period}, steps {steps})",
                    steps + 1
                )));
            }
            Ok(shared
                .buckets
                .get(period, Anchor::From(start.timestamp()), n))
        }
        MetricsApi::V1 => Ok(shared.buckets.v1(period, n, server_now.unwrap_or(now))),
    }
}

/// Link series and the buckets they are of.
pub(super) type AlignedLinks = (Vec<LinkMetrics>, Arc<BucketList>);

/// Version-1 link series end with the bucket holding `now`, the server's time of the answer (or
/// the connector's when it had no readable `Date`); index them by bucket start.
pub(super) fn align_links(
    shared: &Shared,
    links: Vec<LinkMetrics>,
    now: DateTime<Utc>,
) -> AlignedLinks {
    let n = links
        .iter()
        .map(|l| series_len(&l.metric))
        .max()
        .unwrap_or(0);
    let buckets = shared.buckets.v1(shared.options.period, n, now);
    (links, buckets)
}

/// The longest series of a response (series normally all have one length).
pub(super) fn series_len(s: &Series) -> usize {
    s.series.values().map(Vec::len).max().unwrap_or(0)
}

/// The value of `metric` at bucket `i` of `n`, aligning shorter series on the newest bucket.
#[cfg(test)]
fn value_at(s: &Series, metric: &str, i: usize, n: usize) -> Option<i64> {
    aligned(s.series.get(metric)?, i, n)
}

/// The value of series `v` at bucket `i` of `n`, aligning a shorter series on the newest bucket.
pub(super) fn aligned(v: &[Option<i64>], i: usize, n: usize) -> Option<i64> {
    let offset = n.checked_sub(v.len())?;
    i.checked_sub(offset)
        .and_then(|j| v.get(j).copied().flatten())
}

/// Parses a version-2 `start`: Go's `time.Time` string form, e.g.
/// `2025-01-01 00:00:00 -0500 EST` (the spec's example, fractional seconds allowed), or RFC 3339
/// (`2026-01-01T00:00:00.000Z`, `2025-12-31T19:00:00-05:00`; the spec calls the field ISO 8601).
pub fn parse_go_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let head: String = s.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    DateTime::parse_from_str(&head, "%Y-%m-%d %H:%M:%S%.f %z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::super::MetricKind;
    use super::*;
    use crate::options::MetricOptions;
    use crate::reports::ReadRequest;

    #[test]
    fn go_time() {
        let t = parse_go_time("2025-01-01 00:00:00 -0500 EST").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-01-01T05:00:00+00:00");
        assert!(parse_go_time("yesterday").is_none());
    }

    #[test]
    fn v2_start_in_go_and_rfc3339_forms_is_one_instant() {
        let want = parse_go_time("2026-01-01 00:00:00 +0000 UTC").unwrap();
        for s in [
            "2025-12-31 19:00:00 -0500 EST",
            "2026-01-01 00:00:00.000 +0000 UTC",
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T00:00:00Z",
            "2025-12-31T19:00:00.000-05:00",
            " 2025-12-31T19:00:00-05:00 ",
        ] {
            assert_eq!(parse_go_time(s), Some(want), "{s}");
        }
        assert!(parse_go_time("2026-01-01").is_none());
    }

    #[test]
    fn short_series_align_on_the_newest_bucket() {
        let mut s = Series::default();
        s.series.insert("sent".into(), vec![Some(5), None]);
        assert_eq!(value_at(&s, "sent", 0, 3), None);
        assert_eq!(value_at(&s, "sent", 1, 3), Some(5));
        assert_eq!(value_at(&s, "sent", 2, 3), None);
        assert_eq!(value_at(&s, "opened", 2, 3), None);
    }

    #[test]
    fn version_1_buckets_end_with_the_servers_day_or_the_local_one_without_a_date() {
        let options = MetricOptions {
            steps: 2,
            ..MetricOptions::default()
        };
        let shared = Shared::new(
            MetricKind::Newsletters,
            "w".into(),
            options,
            ReadRequest::detached(vec![6]),
        );
        let mut resp: MetricsResponse =
            serde_json::from_str(r#"{"metric":{"series":{}}}"#).unwrap();
        resp.metric
            .series
            .insert("sent".into(), vec![Some(1), Some(2), Some(3)]);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        // The connector at 23:50 EST on 26 November, the server at 00:10 EST on the 27th.
        let local = t("2026-11-27T04:50:00Z");
        let server = Some(t("2026-11-27T05:10:00Z"));
        let starts = |server_now| {
            series_starts(
                &shared,
                &resp,
                local,
                server_now,
                "/v1/newsletters/1/metrics",
            )
            .unwrap()
            .starts
            .iter()
            .map(|s| s.to_rfc3339())
            .collect::<Vec<_>>()
        };
        assert_eq!(
            starts(server),
            [
                "2026-11-25T05:00:00+00:00",
                "2026-11-26T05:00:00+00:00",
                "2026-11-27T05:00:00+00:00"
            ]
        );
        assert_eq!(
            starts(None),
            [
                "2026-11-24T05:00:00+00:00",
                "2026-11-25T05:00:00+00:00",
                "2026-11-26T05:00:00+00:00"
            ]
        );
    }
}

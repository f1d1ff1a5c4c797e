//! The query strings of the metrics requests: version 2 or 1 of `.../metrics`, and the link
//! metrics.

use chrono::{DateTime, Utc};

use super::{MetricKind, MetricsApi};
use crate::api::period::EASTERN;
use crate::options::MetricOptions;

/// The query of `GET /v1/{kind}/{id}/metrics` at `now`: version 2 for campaigns (`res`, `start`
/// of the `steps + 1` buckets up to the one holding `now`, in America/New_York, and `end` =
/// [`v2_end`]), version 1 for newsletters (`period`, `steps`); `type` when a metric type is set.
pub fn metrics_query(
    kind: MetricKind,
    o: &MetricOptions,
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(t) = o.metric_type.as_ref().filter(|_| kind.facts().metrics_type) {
        query.push(("type", t.clone()));
    }
    match kind.facts().metrics_api {
        MetricsApi::V2 => {
            let buckets = o.period.v1_buckets(o.steps, now);
            let (first, last) = (buckets[0], buckets[buckets.len() - 1]);
            query.extend([
                ("version", "2".to_string()),
                ("res", o.period.as_str().to_string()),
                ("start", first.timestamp().to_string()),
                ("end", v2_end(last, now).to_string()),
                ("tz", EASTERN.name().to_string()),
            ]);
        }
        MetricsApi::V1 => {
            query.push(("period", o.period.as_str().to_string()));
            query.push(("steps", o.steps.to_string()));
        }
    }
    query
}

/// The version-2 `end` (unix seconds) at `now`, in the bucket starting at `current`: `now`, so
/// that the answer ends with the current bucket whether Customer.io returns the buckets that
/// start before `end` or also the one that contains it (the start of the next bucket, as `end`,
/// would add a future bucket under the second reading). When `now` is the current bucket's
/// first second, a second later: its start as `end` would leave it out under the first.
pub fn v2_end(current: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    now.timestamp().max(current.timestamp() + 1)
}

/// The query of `GET {item}/metrics/links` (version 1): `unique` where the endpoint takes it,
/// `type` where it takes one and a metric type is set.
pub fn links_query(kind: MetricKind, o: &MetricOptions) -> Vec<(&'static str, String)> {
    let facts = kind.facts();
    let mut query = vec![
        ("period", o.period.as_str().to_string()),
        ("steps", o.steps.to_string()),
    ];
    if facts.links_unique {
        query.push(("unique", o.unique_links.to_string()));
    }
    if let Some(t) = o.metric_type.as_ref().filter(|_| facts.links_type) {
        query.push(("type", t.clone()));
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_end_is_now_and_inside_the_current_bucket() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let current = at("2026-11-26T05:00:00Z");
        assert_eq!(
            v2_end(current, at("2026-11-26T15:30:00Z")),
            at("2026-11-26T15:30:00Z").timestamp()
        );
        // At the bucket's first instant, a second past it, not the bucket's start.
        assert_eq!(v2_end(current, current), current.timestamp() + 1);
        assert_eq!(
            v2_end(current, at("2026-11-26T05:00:00.400Z")),
            current.timestamp() + 1
        );
    }
}

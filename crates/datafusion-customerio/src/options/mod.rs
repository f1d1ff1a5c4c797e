//! Table options: one parser for `CREATE EXTERNAL TABLE ... OPTIONS (...)` maps and for the typed
//! builder API. Every value is checked here, before any HTTP request: an unknown key (with a
//! "did you mean"), a repeated key, a bad value or an out-of-range `steps` fails with the option,
//! the value and what would be valid.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use crate::api::period::Period;
use crate::api::{
    CAMPAIGN_METRIC_TYPES, DELIVERY_METRICS, MAX_DELIVERIES_WINDOW_MONTHS, NEWSLETTER_METRIC_TYPES,
    Region, V2_MAX_MONTHS,
};
use crate::error::{Error, Result};

/// The Customer.io reports this crate exposes as tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Report {
    /// Campaign (automation) metrics and link metrics.
    Campaigns,
    /// Newsletter (one-time send) metrics and link metrics.
    Newsletters,
    /// People and their attributes.
    Customers,
    /// The workspace's segments.
    Segments,
    /// People in segments, through an asynchronous export.
    CustomersExport,
    /// Deliveries (messages), through an asynchronous export.
    DeliveriesExport,
}

impl Report {
    /// Every report, in documentation order.
    pub const ALL: [Report; 6] = [
        Report::Campaigns,
        Report::Newsletters,
        Report::Customers,
        Report::Segments,
        Report::CustomersExport,
        Report::DeliveriesExport,
    ];

    /// The name used in `LOCATION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Report::Campaigns => "campaigns",
            Report::Newsletters => "newsletters",
            Report::Customers => "customers",
            Report::Segments => "segments",
            Report::CustomersExport => "customers_export",
            Report::DeliveriesExport => "deliveries_export",
        }
    }

    /// The channels `metric_type` accepts: the `type` enum of the report's metrics endpoint in
    /// the 2026 spec (`campaignMetrics` for campaigns, `getNewsletterMetrics` for newsletters);
    /// empty for the reports without `metric_type`. The link endpoints take no `type`.
    pub fn metric_types(self) -> &'static [&'static str] {
        match self {
            Report::Campaigns => &CAMPAIGN_METRIC_TYPES,
            Report::Newsletters => &NEWSLETTER_METRIC_TYPES,
            _ => &[],
        }
    }

    /// The vendor operations a metric report's `period` and `steps` must satisfy, for messages.
    fn metric_operations(self) -> &'static str {
        match self {
            Report::Campaigns => "campaignMetrics (version 2) and campaignLinkMetrics",
            Report::Newsletters => "getNewsletterMetrics and getNewsletterLinks",
            _ => "no metrics endpoint",
        }
    }

    /// The largest `steps` this report accepts for `period`.
    ///
    /// Newsletters read version 1 only (`getNewsletterMetrics`, `getNewsletterLinks`): the 2026
    /// maximums, [`Period::max_steps`]. Campaigns read link metrics with version 1 too, but
    /// metrics with version 2, asking for the `steps + 1` buckets up to the end of the current
    /// one, and version 2's `end` "is limited to 10 years from `start`": `steps + 1` months must
    /// fit in 120, so months stop at 119 for campaigns.
    pub fn max_steps(self, period: Period) -> u32 {
        let v1 = period.max_steps();
        match (self, period) {
            (Report::Campaigns, Period::Months) => v1.min(V2_MAX_MONTHS - 1),
            _ => v1,
        }
    }

    /// The options this report accepts, with a one-line description each.
    pub fn options(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Report::Campaigns | Report::Newsletters => METRIC_OPTIONS,
            Report::Customers | Report::Segments => &CONNECTION_OPTIONS,
            Report::CustomersExport => CUSTOMERS_EXPORT_OPTIONS,
            Report::DeliveriesExport => DELIVERIES_EXPORT_OPTIONS,
        }
    }
}

const CONNECTION_OPTIONS: [(&str, &str); 8] = [
    (
        "key",
        "name of the credential holding the App API key (never the key itself)",
    ),
    (
        "region",
        "us or eu, agreeing with the credential's region if it has one (default: the credential's region, else us)",
    ),
    (
        "base_url",
        "replaces the credential's base_url and the region's URL, e.g. the simulator or a proxy",
    ),
    (
        "workspace",
        "label written in the workspace column (default: the key name)",
    ),
    (
        "rate_limit",
        "requests per second for this key, shared by every table using it (default 10)",
    ),
    (
        "concurrency",
        "requests in flight per scan, within the rate limit (default 8)",
    ),
    (
        "max_attempts",
        "attempts per request for transient failures (5xx, timeouts, cut-off bodies), 1 to 10 (default 5)",
    ),
    (
        "request_timeout",
        "time one attempt may take, headers and body: 1s to 10m, as seconds or 30s, 2m (default 60s)",
    ),
];

const METRIC_OPTIONS: &[(&str, &str)] = &[
    CONNECTION_OPTIONS[0],
    CONNECTION_OPTIONS[1],
    CONNECTION_OPTIONS[2],
    CONNECTION_OPTIONS[3],
    CONNECTION_OPTIONS[4],
    CONNECTION_OPTIONS[5],
    CONNECTION_OPTIONS[6],
    CONNECTION_OPTIONS[7],
    (
        "metric_type",
        "channel to report: campaigns email, webhook, twilio, whatsapp, slack, push, in_app, live_notification; newsletters email, webhook, twilio, push, in_app, inbox (default: all)",
    ),
    ("period", "hours, days, weeks or months (default days)"),
    (
        "steps",
        "periods before the current one: up to 24 hours, 45 days, 12 weeks, 121 months (campaigns 119) (default the maximum, 12 for months)",
    ),
    (
        "unique_links",
        "true to count each person once in link metrics (default false)",
    ),
];

const EXPORT_TIMEOUT: (&str, &str) = (
    "export_timeout",
    "how long to wait for an export to finish: seconds, or 90s, 15m, 2h (default 30m)",
);
const EXPORT_ATTRIBUTES: (&str, &str) = (
    "attributes",
    "extra person attributes as columns: a JSON array or a comma-separated list",
);

const CUSTOMERS_EXPORT_OPTIONS: &[(&str, &str)] = &[
    CONNECTION_OPTIONS[0],
    CONNECTION_OPTIONS[1],
    CONNECTION_OPTIONS[2],
    CONNECTION_OPTIONS[3],
    CONNECTION_OPTIONS[4],
    CONNECTION_OPTIONS[5],
    CONNECTION_OPTIONS[6],
    CONNECTION_OPTIONS[7],
    (
        "segments",
        "segment names or ids: a JSON array or a comma-separated list (default: everyone)",
    ),
    EXPORT_ATTRIBUTES,
    EXPORT_TIMEOUT,
];

const DELIVERIES_EXPORT_OPTIONS: &[(&str, &str)] = &[
    CONNECTION_OPTIONS[0],
    CONNECTION_OPTIONS[1],
    CONNECTION_OPTIONS[2],
    CONNECTION_OPTIONS[3],
    CONNECTION_OPTIONS[4],
    CONNECTION_OPTIONS[5],
    CONNECTION_OPTIONS[6],
    CONNECTION_OPTIONS[7],
    (
        "campaign_id",
        "export this campaign's deliveries (at most one selector)",
    ),
    (
        "newsletter_id",
        "export this newsletter's deliveries (at most one selector)",
    ),
    (
        "action_id",
        "export this action's deliveries (at most one selector)",
    ),
    (
        "transactional_message_id",
        "export this transactional message's deliveries (at most one selector)",
    ),
    (
        "start",
        "window start: a date, an RFC 3339 timestamp, unix seconds, or relative like -7d (default: the API's last 6 months)",
    ),
    ("end", "window end, in the same forms (default now)"),
    (
        "metric",
        "only deliveries with this metric: created, attempted, sent, delivered, opened, clicked, converted, bounced, spammed, unsubscribed, dropped, failed, undeliverable",
    ),
    ("drafts", "true to include drafts (default false)"),
    EXPORT_ATTRIBUTES,
    EXPORT_TIMEOUT,
];

/// The furthest back a relative time (`-7d`) may reach: 100 years.
pub const MAX_RELATIVE_DAYS: i64 = 36_525;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Report {
    type Err = Error;

    /// Accepts `campaigns` and the Switchboard form `customerio:campaigns`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let name = lower.strip_prefix("customerio:").unwrap_or(&lower);
        Report::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| {
                let valid: Vec<_> = Report::ALL.iter().map(|r| r.as_str()).collect();
                Error::option(format!(
                    "LOCATION '{s}' is not a Customer.io report; valid reports are {}",
                    valid.join(", ")
                ))
            })
    }
}

/// How a table reaches Customer.io.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionOptions {
    /// The credential name.
    pub key: String,
    /// The region, overriding the credential's.
    pub region: Option<Region>,
    /// A base URL overriding the region's and the credential's.
    pub base_url: Option<String>,
    /// The workspace label; defaults to the key name.
    pub workspace: Option<String>,
    /// Requests per second for the key.
    pub rate_limit: Option<f64>,
    /// Requests in flight per scan.
    pub concurrency: usize,
    /// Attempts per request for transient failures; `None` keeps the client's default.
    pub max_attempts: Option<u32>,
    /// Time one attempt may take; `None` keeps the client's default.
    pub request_timeout: Option<std::time::Duration>,
}

impl ConnectionOptions {
    /// Options for the credential `key`, everything else defaulted.
    pub fn new(key: impl Into<String>) -> Self {
        ConnectionOptions {
            key: key.into(),
            region: None,
            base_url: None,
            workspace: None,
            rate_limit: None,
            concurrency: DEFAULT_CONCURRENCY,
            max_attempts: None,
            request_timeout: None,
        }
    }

    /// The client's retry policy with this table's `max_attempts` and `request_timeout`.
    pub fn retry_policy(&self) -> crate::client::RetryPolicy {
        let mut policy = crate::client::RetryPolicy::default();
        if let Some(n) = self.max_attempts {
            policy.max_attempts = n;
        }
        if let Some(t) = self.request_timeout {
            policy.attempt_timeout = t;
        }
        policy
    }

    /// The label written in the `workspace` column.
    pub fn workspace_label(&self) -> &str {
        self.workspace.as_deref().unwrap_or(&self.key)
    }
}

/// Default requests in flight per scan.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Options of the metric reports (`campaigns`, `newsletters`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricOptions {
    /// The channel filter (`type` in the API); `None` reports every channel.
    pub metric_type: Option<String>,
    /// The bucket unit.
    pub period: Period,
    /// Buckets before the current one.
    pub steps: u32,
    /// Count each person once in link metrics.
    pub unique_links: bool,
}

impl Default for MetricOptions {
    fn default() -> Self {
        MetricOptions {
            metric_type: None,
            period: Period::Days,
            steps: Period::Days.default_steps(),
            unique_links: false,
        }
    }
}

/// A segment named in `segments`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SegmentRef {
    /// By id.
    Id(i64),
    /// By name, resolved with `GET /v1/segments`.
    Name(String),
}

/// Which deliveries a deliveries export selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DeliverySelector {
    /// `campaign_id`
    Campaign(i64),
    /// `newsletter_id`
    Newsletter(i64),
    /// `action_id`
    Action(i64),
    /// `transactional_message_id`
    Transactional(i64),
}

/// A window bound: absolute, or relative to the scan's "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimeSpec {
    /// An instant.
    At(#[serde(with = "micros")] chrono::DateTime<chrono::Utc>),
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
    pub fn resolve(self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match self {
            TimeSpec::At(t) => t,
            // Saturating: a bound cannot panic, whatever `now` is.
            TimeSpec::Relative(d) => {
                now.checked_add_signed(d)
                    .unwrap_or(if d < chrono::Duration::zero() {
                        chrono::DateTime::<chrono::Utc>::MIN_UTC
                    } else {
                        chrono::DateTime::<chrono::Utc>::MAX_UTC
                    })
            }
        }
    }
}

/// Options of the export reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportOptions {
    /// `customers_export`: the segments (empty: everyone).
    pub segments: Vec<SegmentRef>,
    /// Extra attribute columns.
    pub attributes: Vec<String>,
    /// How long to wait for an export.
    pub timeout: std::time::Duration,
    /// `deliveries_export`: the selector (none: every campaign and newsletter).
    pub selector: Option<DeliverySelector>,
    /// `deliveries_export`: window start.
    pub start: Option<TimeSpec>,
    /// `deliveries_export`: window end.
    pub end: Option<TimeSpec>,
    /// `deliveries_export`: the metric filter.
    pub metric: Option<String>,
    /// `deliveries_export`: include drafts.
    pub drafts: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            segments: Vec::new(),
            attributes: Vec::new(),
            timeout: std::time::Duration::from_secs(30 * 60),
            selector: None,
            start: None,
            end: None,
            metric: None,
            drafts: false,
        }
    }
}

/// Every setting of one table, validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableOptions {
    /// Which report.
    pub report: Report,
    /// How to reach Customer.io.
    pub connection: ConnectionOptions,
    /// Metric settings (used by `campaigns` and `newsletters`).
    pub metrics: MetricOptions,
    /// Export settings (used by `customers_export` and `deliveries_export`).
    pub export: ExportOptions,
}

impl TableOptions {
    /// Options for `report` read with the credential `key`, everything else defaulted.
    pub fn new(report: Report, key: impl Into<String>) -> Self {
        TableOptions {
            report,
            connection: ConnectionOptions::new(key),
            metrics: MetricOptions::default(),
            export: ExportOptions::default(),
        }
    }

    /// Parses an OPTIONS map. Keys may be bare (`key`), or prefixed `format.` (as DataFusion
    /// delivers undotted keys) or `customerio.`; they are matched case-insensitively.
    pub fn parse(report: Report, raw: &HashMap<String, String>) -> Result<Self> {
        let allowed = report.options();
        let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (raw_key, value) in raw {
            let lower = raw_key.trim().to_ascii_lowercase();
            let key = lower
                .strip_prefix("format.")
                .or_else(|| lower.strip_prefix("customerio."))
                .unwrap_or(&lower)
                .to_string();
            if !allowed.iter().any(|(k, _)| *k == key) {
                let names: Vec<&str> = allowed.iter().map(|(k, _)| *k).collect();
                let hint = did_you_mean(&key, &names)
                    .map(|s| format!("did you mean '{s}'? "))
                    .unwrap_or_default();
                return Err(Error::option(format!(
                    "unknown option '{raw_key}' for report {report}; {hint}valid options are {}",
                    names.join(", ")
                )));
            }
            if let Some((first, _)) = seen.get(&key) {
                return Err(Error::option(format!(
                    "option '{key}' is given twice (as '{first}' and '{raw_key}'); give it once"
                )));
            }
            seen.insert(key, (raw_key.clone(), value.clone()));
        }
        let get = |k: &str| seen.get(k).map(|(_, v)| v.trim());

        let key = get("key").ok_or_else(|| {
            Error::option(format!(
                "option 'key' is required for report {report}: the name of a credential \
                 (environment variable CIO_KEY_<NAME> or an entry in the credentials file)"
            ))
        })?;
        crate::credentials::check_name(key)?;
        let mut options = TableOptions::new(report, key);
        let c = &mut options.connection;
        if let Some(v) = get("region") {
            c.region = Some(
                v.parse()
                    .map_err(|e| Error::option(format!("option region: {e}")))?,
            );
        }
        if let Some(v) = get("base_url") {
            c.base_url = Some(parse_base_url(v)?);
        }
        if let Some(v) = get("workspace") {
            if v.is_empty() {
                return Err(Error::option(
                    "option workspace: must not be empty; valid values are any non-empty label \
                     (default: the key name)",
                ));
            }
            c.workspace = Some(v.to_string());
        }
        if let Some(v) = get("rate_limit") {
            c.rate_limit = Some(parse_rate(v)?);
        }
        if let Some(v) = get("concurrency") {
            c.concurrency = parse_int("concurrency", v, 1, 64)? as usize;
        }
        if let Some(v) = get("max_attempts") {
            c.max_attempts = Some(parse_int("max_attempts", v, 1, 10)? as u32);
        }
        if let Some(v) = get("request_timeout") {
            c.request_timeout = Some(parse_duration("request_timeout", v, 10 * 60)?);
        }

        let m = &mut options.metrics;
        if let Some(v) = get("metric_type") {
            m.metric_type = Some(parse_metric_type(report, v)?);
        }
        if let Some(v) = get("period") {
            m.period = v
                .parse()
                .map_err(|e| Error::option(format!("option period: {e}")))?;
            m.steps = m.period.default_steps();
        }
        if let Some(v) = get("steps") {
            let max = report.max_steps(m.period);
            m.steps = parse_int("steps", v, 1, max as i64).map_err(|_| {
                let maxima: Vec<String> = Period::ALL
                    .iter()
                    .map(|p| format!("{} {p}", report.max_steps(*p)))
                    .collect();
                Error::option(format!(
                    "option steps: '{v}' is out of range for period {}; valid values are 1 to \
                     {max} (report {report}: {}, the limits of Customer.io's {})",
                    m.period,
                    maxima.join(", "),
                    report.metric_operations()
                ))
            })? as u32;
        }
        if let Some(v) = get("unique_links") {
            m.unique_links = parse_bool("unique_links", v)?;
        }

        let e = &mut options.export;
        if let Some(v) = get("segments") {
            e.segments = parse_list("segments", v)?
                .into_iter()
                .map(|s| match s.parse::<i64>() {
                    Ok(id) => SegmentRef::Id(id),
                    Err(_) => SegmentRef::Name(s),
                })
                .collect();
        }
        if let Some(v) = get("attributes") {
            e.attributes = parse_list("attributes", v)?;
        }
        if let Some(v) = get("export_timeout") {
            e.timeout = parse_duration("export_timeout", v, 24 * 3600)?;
        }
        let selectors = [
            (
                "campaign_id",
                DeliverySelector::Campaign as fn(i64) -> DeliverySelector,
            ),
            ("newsletter_id", DeliverySelector::Newsletter),
            ("action_id", DeliverySelector::Action),
            ("transactional_message_id", DeliverySelector::Transactional),
        ];
        for (name, make) in selectors {
            if let Some(v) = get(name) {
                if e.selector.is_some() {
                    return Err(Error::option(
                        "options campaign_id, newsletter_id, action_id and transactional_message_id \
                         select what to export: give at most one (none exports every campaign and \
                         newsletter)",
                    ));
                }
                e.selector = Some(make(parse_int(name, v, 1, i64::MAX)?));
            }
        }
        if let Some(v) = get("start") {
            e.start = Some(parse_time("start", v)?);
        }
        if let Some(v) = get("end") {
            e.end = Some(parse_time("end", v)?);
        }
        check_window(e.start, e.end, chrono::Utc::now())?;
        if let Some(v) = get("metric") {
            let lower = v.to_ascii_lowercase();
            if !DELIVERY_METRICS.contains(&lower.as_str()) {
                return Err(Error::option(format!(
                    "option metric: '{v}' is not a delivery metric; valid values are {}",
                    DELIVERY_METRICS.join(", ")
                )));
            }
            e.metric = Some(lower);
        }
        if let Some(v) = get("drafts") {
            e.drafts = parse_bool("drafts", v)?;
        }
        Ok(options)
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
pub fn check_window(
    start: Option<TimeSpec>,
    end: Option<TimeSpec>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let end_t = end.map_or(now, |e| e.resolve(now));
    let Some(start) = start else { return Ok(()) };
    let start_t = start.resolve(now);
    if start_t >= end_t {
        return Err(Error::option(format!(
            "options start/end: the window starts at {start_t} and ends at {end_t}; start must \
             come before end"
        )));
    }
    // `None` only past the end of chrono's range, where no end can be later.
    let limit = start_t.checked_add_months(chrono::Months::new(MAX_DELIVERIES_WINDOW_MONTHS));
    if let Some(limit) = limit
        && end_t > limit
    {
        return Err(Error::option(format!(
            "options start/end: the window from {start_t} to {end_t} is longer than \
             {MAX_DELIVERIES_WINDOW_MONTHS} calendar months (in UTC, it may end at {limit} at \
             the latest); Customer.io would silently return only the last 12 months, so split \
             it into windows of at most 12 months (several tables, combined with UNION ALL)"
        )));
    }
    Ok(())
}

/// A list option: a JSON array of strings/numbers, or a comma-separated list.
fn parse_list(name: &str, v: &str) -> Result<Vec<String>> {
    let items: Vec<String> = if v.trim_start().starts_with('[') {
        let parsed: Vec<serde_json::Value> = serde_json::from_str(v).map_err(|e| {
            Error::option(format!(
                "option {name}: '{v}' is not a JSON array ({e}); write [\"a\", \"b\"] or a, b"
            ))
        })?;
        parsed
            .into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => Ok(s),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                other => Err(Error::option(format!(
                    "option {name}: {other} is not a name or an id; write strings or numbers"
                ))),
            })
            .collect::<Result<_>>()?
    } else {
        v.split(',').map(|s| s.trim().to_string()).collect()
    };
    let items: Vec<String> = items.into_iter().map(|s| s.trim().to_string()).collect();
    if items.is_empty() || items.iter().any(String::is_empty) {
        return Err(Error::option(format!(
            "option {name}: '{v}' has an empty entry; write a JSON array [\"a\", \"b\"] or a, b"
        )));
    }
    Ok(items)
}

/// `90`, `90s`, `15m`, `2h`: from 1 s to `max_secs`.
fn parse_duration(name: &str, v: &str, max_secs: u64) -> Result<std::time::Duration> {
    let (digits, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: Option<u64> = digits.parse().ok();
    let secs = match (n, unit.trim()) {
        (Some(n), "" | "s") => Some(n),
        (Some(n), "m") => n.checked_mul(60),
        (Some(n), "h") => n.checked_mul(3600),
        _ => None,
    };
    let max = match max_secs {
        m if m % 3600 == 0 => format!("{}h", m / 3600),
        m if m % 60 == 0 => format!("{}m", m / 60),
        m => format!("{m}s"),
    };
    match secs {
        Some(s) if (1..=max_secs).contains(&s) => Ok(std::time::Duration::from_secs(s)),
        _ => Err(Error::option(format!(
            "option {name}: '{v}' is not a duration; valid values are 1s to {max}, written as \
             seconds or with s, m, h (90, 90s, 15m, 2h)"
        ))),
    }
}

/// A date (`2026-01-31`), an RFC 3339 timestamp, unix seconds, or relative (`-7d`, `-12h`, `now`).
fn parse_time(name: &str, v: &str) -> Result<TimeSpec> {
    use chrono::{DateTime, NaiveDate, Utc};
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
                    return Err(Error::option(format!(
                        "option {name}: '{v}' is more than {MAX_RELATIVE_DAYS} days ago; valid \
                         relative times are within 100 years (-7d, -12h, -2w)"
                    )));
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
    Err(Error::option(format!(
        "option {name}: '{v}' is not a time; valid values are a date (2026-01-31), an RFC 3339 \
         timestamp (2026-01-31T12:00:00Z), unix seconds, now, or relative (-7d, -12h, -2w)"
    )))
}

/// `metric_type` for `report`: one of [`Report::metric_types`], in any case.
fn parse_metric_type(report: Report, v: &str) -> Result<String> {
    let lower = v.to_ascii_lowercase();
    let valid = report.metric_types();
    if valid.contains(&lower.as_str()) {
        return Ok(lower);
    }
    let hint = did_you_mean(&lower, valid)
        .map(|s| format!("did you mean '{s}'? "))
        .unwrap_or_default();
    let elsewhere = Report::ALL
        .iter()
        .find(|r| r.metric_types().contains(&lower.as_str()))
        .map(|r| format!(" ('{lower}' is a channel of report {r} only)"))
        .unwrap_or_default();
    Err(Error::option(format!(
        "option metric_type: '{v}' is not a channel of report {report}{elsewhere}; {hint}valid \
         values are {}",
        valid.join(", ")
    )))
}

fn parse_base_url(v: &str) -> Result<String> {
    check_base_url(v).map_err(|e| Error::option(format!("option base_url: {e}")))
}

/// Checks a base URL, the table's `base_url` option or a credential's: an http(s) URL with a
/// host and no userinfo. The URL without its trailing `/`, or what is wrong, quoting the value
/// with any userinfo removed (it may hold a password).
pub(crate) fn check_base_url(v: &str) -> std::result::Result<String, String> {
    let shown = without_userinfo(v);
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if !u.username().is_empty() || u.password().is_some() {
                return Err(format!(
                    "'{shown}' must not carry credentials (a user name or password, removed \
                     here); use the key option"
                ));
            }
            Ok(v.trim_end_matches('/').to_string())
        }
        _ => Err(format!(
            "'{shown}' is not an http(s) URL; valid values look like https://api.customer.io \
             or http://127.0.0.1:4010"
        )),
    }
}

/// `v` with the userinfo (`user:password@`) of its authority removed, for messages.
fn without_userinfo(v: &str) -> String {
    let (scheme, rest) = match v.find("://") {
        Some(i) => v.split_at(i + 3),
        None => ("", v),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => v.to_string(),
    }
}

fn parse_rate(v: &str) -> Result<f64> {
    match v.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1000.0 => Ok(r),
        _ => Err(Error::option(format!(
            "option rate_limit: '{v}' is not a rate; valid values are numbers above 0 and at \
             most 1000 (requests per second; Customer.io allows 10)"
        ))),
    }
}

fn parse_int(name: &str, v: &str, min: i64, max: i64) -> Result<i64> {
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::option(format!(
            "option {name}: '{v}' is not valid; valid values are whole numbers from {min} to {max}"
        ))),
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::option(format!(
            "option {name}: '{v}' is not a boolean; valid values are true, false"
        ))),
    }
}

/// The closest name within edit distance 2, if any.
pub(crate) fn did_you_mean<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (levenshtein(word, n), *n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn prefixed_keys_and_defaults() {
        let o = TableOptions::parse(
            Report::Campaigns,
            &map(&[("format.key", "acme"), ("customerio.period", "weeks")]),
        )
        .unwrap();
        assert_eq!(o.connection.key, "acme");
        assert_eq!(o.metrics.period, Period::Weeks);
        assert_eq!(o.metrics.steps, 12);
        assert_eq!(o.connection.workspace_label(), "acme");
    }

    #[test]
    fn errors_name_option_value_and_valid_values() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (
                &[("key", "a"), ("peroid", "days")],
                &["peroid", "did you mean 'period'"],
            ),
            (
                &[("key", "a"), ("period", "fortnights")],
                &["period", "fortnights", "hours, days"],
            ),
            (
                &[("key", "a"), ("steps", "46")],
                &["steps", "46", "1 to 45"],
            ),
            (
                &[("key", "a"), ("period", "hours"), ("steps", "25")],
                &["25", "1 to 24"],
            ),
            (
                &[("key", "a"), ("metric_type", "pigeon")],
                &["metric_type", "pigeon", "email"],
            ),
            (
                &[("key", "a"), ("unique_links", "maybe")],
                &["unique_links", "maybe", "true, false"],
            ),
            (&[("key", "a"), ("format.key", "b")], &["twice"]),
            (&[("period", "days")], &["'key' is required"]),
            (&[("key", "a"), ("rate_limit", "0")], &["rate_limit", "'0'"]),
            (
                &[("key", "a"), ("base_url", "ftp://x")],
                &["base_url", "ftp://x"],
            ),
        ];
        for (pairs, needles) in cases {
            let err = TableOptions::parse(Report::Newsletters, &map(pairs))
                .unwrap_err()
                .to_string();
            for n in *needles {
                assert!(err.contains(n), "{pairs:?}: '{err}' lacks '{n}'");
            }
        }
    }

    #[test]
    fn reports_parse_with_switchboard_prefix() {
        assert_eq!(
            "customerio:campaigns".parse::<Report>().unwrap(),
            Report::Campaigns
        );
        assert_eq!(
            "NEWSLETTERS".parse::<Report>().unwrap(),
            Report::Newsletters
        );
        let err = "people".parse::<Report>().unwrap_err().to_string();
        assert!(
            err.contains("people") && err.contains("campaigns, newsletters"),
            "{err}"
        );
    }
}

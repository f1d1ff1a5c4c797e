//! Table options: one parser for `CREATE EXTERNAL TABLE ... OPTIONS (...)` maps and for the typed
//! builder API. Every value is checked here, before any HTTP request: an unknown key (with a
//! "did you mean"), a repeated key, a bad value or an out-of-range `steps` fails with the option,
//! the value and what would be valid.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use crate::credentials::Region;
use crate::error::{Error, Result};
use crate::period::Period;

/// The Customer.io reports this crate exposes as tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Report {
    /// Campaign (automation) metrics and link metrics.
    Campaigns,
    /// Newsletter (one-time send) metrics and link metrics.
    Newsletters,
}

impl Report {
    /// Every report, in documentation order.
    pub const ALL: [Report; 2] = [Report::Campaigns, Report::Newsletters];

    /// The name used in `LOCATION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Report::Campaigns => "campaigns",
            Report::Newsletters => "newsletters",
        }
    }

    /// The options this report accepts, with a one-line description each.
    pub fn options(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Report::Campaigns | Report::Newsletters => METRIC_OPTIONS,
        }
    }
}

const CONNECTION_OPTIONS: [(&str, &str); 6] = [
    (
        "key",
        "name of the credential holding the App API key (never the key itself)",
    ),
    (
        "region",
        "us or eu (default: the credential's region, else us)",
    ),
    (
        "base_url",
        "replaces the region's URL, e.g. the simulator or a proxy",
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
];

const METRIC_OPTIONS: &[(&str, &str)] = &[
    CONNECTION_OPTIONS[0],
    CONNECTION_OPTIONS[1],
    CONNECTION_OPTIONS[2],
    CONNECTION_OPTIONS[3],
    CONNECTION_OPTIONS[4],
    CONNECTION_OPTIONS[5],
    (
        "metric_type",
        "channel to report: email, webhook, twilio, urban_airship, slack, push, whatsapp, in_app, live_notification, inbox (default: all)",
    ),
    ("period", "hours, days, weeks or months (default days)"),
    (
        "steps",
        "periods before the current one: up to 24 hours, 45 days, 12 weeks, 120 months (default the maximum, 12 for months)",
    ),
    (
        "unique_links",
        "true to count each person once in link metrics (default false)",
    ),
];

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

/// The channels `metric_type` accepts: the product description's values and the 2026 API's.
pub const METRIC_TYPES: [&str; 10] = [
    "email",
    "webhook",
    "twilio",
    "urban_airship",
    "slack",
    "push",
    "whatsapp",
    "in_app",
    "live_notification",
    "inbox",
];

/// How a table reaches Customer.io.
#[derive(Debug, Clone, PartialEq)]
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
        }
    }

    /// The label written in the `workspace` column.
    pub fn workspace_label(&self) -> &str {
        self.workspace.as_deref().unwrap_or(&self.key)
    }
}

/// Default requests in flight per scan.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Options of the metric reports (`campaigns`, `newsletters`).
#[derive(Debug, Clone, PartialEq)]
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

/// Every setting of one table, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TableOptions {
    /// Which report.
    pub report: Report,
    /// How to reach Customer.io.
    pub connection: ConnectionOptions,
    /// Metric settings (used by `campaigns` and `newsletters`).
    pub metrics: MetricOptions,
}

impl TableOptions {
    /// Options for `report` read with the credential `key`, everything else defaulted.
    pub fn new(report: Report, key: impl Into<String>) -> Self {
        TableOptions {
            report,
            connection: ConnectionOptions::new(key),
            metrics: MetricOptions::default(),
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
                return Err(Error::option("option workspace: must not be empty"));
            }
            c.workspace = Some(v.to_string());
        }
        if let Some(v) = get("rate_limit") {
            c.rate_limit = Some(parse_rate(v)?);
        }
        if let Some(v) = get("concurrency") {
            c.concurrency = parse_int("concurrency", v, 1, 64)? as usize;
        }

        let m = &mut options.metrics;
        if let Some(v) = get("metric_type") {
            m.metric_type = Some(parse_metric_type(v)?);
        }
        if let Some(v) = get("period") {
            m.period = v
                .parse()
                .map_err(|e| Error::option(format!("option period: {e}")))?;
            m.steps = m.period.default_steps();
        }
        if let Some(v) = get("steps") {
            let max = m.period.max_steps();
            m.steps = parse_int("steps", v, 1, max as i64).map_err(|_| {
                Error::option(format!(
                    "option steps: '{v}' is out of range for period {}; valid values are \
                         1 to {max} (24 hours, 45 days, 12 weeks, 120 months)",
                    m.period
                ))
            })? as u32;
        }
        if let Some(v) = get("unique_links") {
            m.unique_links = parse_bool("unique_links", v)?;
        }
        Ok(options)
    }
}

fn parse_metric_type(v: &str) -> Result<String> {
    let lower = v.to_ascii_lowercase();
    if METRIC_TYPES.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        let hint = did_you_mean(&lower, &METRIC_TYPES)
            .map(|s| format!("did you mean '{s}'? "))
            .unwrap_or_default();
        Err(Error::option(format!(
            "option metric_type: '{v}' is not a channel; {hint}valid values are {}",
            METRIC_TYPES.join(", ")
        )))
    }
}

fn parse_base_url(v: &str) -> Result<String> {
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if !u.username().is_empty() || u.password().is_some() {
                return Err(Error::option(
                    "option base_url: must not carry credentials; use the key option",
                ));
            }
            Ok(v.trim_end_matches('/').to_string())
        }
        _ => Err(Error::option(format!(
            "option base_url: '{v}' is not an http(s) URL; valid values look like \
             https://api.customer.io or http://127.0.0.1:4010"
        ))),
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
        let cases: &[(&[(&str, &str)], &[&str])] = &[
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

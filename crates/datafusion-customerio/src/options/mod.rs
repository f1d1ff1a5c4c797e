//! Table options: one parser for `CREATE EXTERNAL TABLE ... OPTIONS (...)` maps and for the typed
//! builder API. Every value is checked here, before any HTTP request: an unknown key (with a
//! "did you mean"), a repeated key, a bad value or an out-of-range `steps` fails with the option,
//! the value and what would be valid ([`Error::Option`]).
//!
//! Each report has its own settings type ([`ReportSettings`]): a setting a report does not take
//! cannot be given to it, in SQL (refused as unknown) or in Rust (no field to set). Checks that
//! depend on "now" (relative windows) take it from the caller, which has the table's clock.
//!
//! - `report`: the reports, by `LOCATION` name;
//! - `catalog`: the options each report takes, with descriptions, and "did you mean";
//! - `connection`: how a table reaches Customer.io (every report);
//! - `metrics`: `campaigns` and `newsletters`;
//! - `exports`: `customers_export` and `deliveries_export`;
//! - `time`: window bounds and the window check;
//! - `values`: numbers, booleans, durations and lists.

mod catalog;
mod connection;
mod exports;
mod metrics;
mod report;
mod time;
mod values;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

pub(crate) use catalog::did_you_mean;
pub(crate) use connection::check_base_url;
pub use connection::{ConnectionOptions, DEFAULT_CONCURRENCY, parse_cache_ttl};
pub use exports::{
    CustomersExportOptions, DEFAULT_EXPORT_TIMEOUT, DeliveriesExportOptions, DeliverySelector,
    ExportOptions, SegmentRef,
};
pub use metrics::MetricOptions;
pub use report::{MetricTable, ObjectTable, Report};
pub use time::{MAX_RELATIVE_DAYS, TimeSpec, check_window};

/// The settings of one report, beyond how it reaches Customer.io: one variant per report, each
/// holding only what that report takes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ReportSettings {
    /// `campaigns`.
    Campaigns(MetricOptions),
    /// `newsletters`.
    Newsletters(MetricOptions),
    /// `customers` (its typed attribute columns come from the DDL column list).
    Customers,
    /// `segments`.
    Segments(SegmentOptions),
    /// `customers_export`.
    CustomersExport(CustomersExportOptions),
    /// `deliveries_export`.
    DeliveriesExport(DeliveriesExportOptions),
    /// An object table.
    Object(ObjectSettings),
    /// A metric table beyond `campaigns` and `newsletters`.
    Metrics(MetricTable, MetricOptions),
}

/// The settings of `segments`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SegmentOptions {
    /// Add `customer_count` and the `used_by_*` columns (`getSegmentCount` and
    /// `getSegmentDependencies`: two more requests per segment, made only when those columns are
    /// selected). Default false.
    pub counts: bool,
}

impl SegmentOptions {
    fn parse(given: &Given) -> Result<Self> {
        let mut o = SegmentOptions::default();
        if let Some(v) = given.get("counts") {
            o.counts = values::parse_bool("counts", v)?;
        }
        Ok(o)
    }
}

/// The settings of an object table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ObjectSettings {
    /// Which table.
    pub table: ObjectTable,
    /// `activities`: include the activities of deleted people (`deleted=true`; default false, the API's default).
    pub deleted: bool,
}

impl ObjectSettings {
    /// The defaults of `table`.
    pub fn new(table: ObjectTable) -> Self {
        ObjectSettings {
            table,
            deleted: false,
        }
    }

    fn parse(table: ObjectTable, given: &Given) -> Result<Self> {
        let mut settings = ObjectSettings::new(table);
        if let Some(v) = given.get("deleted") {
            settings.deleted = values::parse_bool("deleted", v)?;
        }
        Ok(settings)
    }
}

impl ReportSettings {
    /// The defaults of `report`.
    pub fn default_for(report: Report) -> Self {
        match report {
            Report::Campaigns => ReportSettings::Campaigns(MetricOptions::default()),
            Report::Newsletters => ReportSettings::Newsletters(MetricOptions::default()),
            Report::Customers => ReportSettings::Customers,
            Report::Segments => ReportSettings::Segments(SegmentOptions::default()),
            Report::CustomersExport => {
                ReportSettings::CustomersExport(CustomersExportOptions::default())
            }
            Report::DeliveriesExport => {
                ReportSettings::DeliveriesExport(DeliveriesExportOptions::default())
            }
            Report::Object(t) => ReportSettings::Object(ObjectSettings::new(t)),
            Report::Metrics(t) => ReportSettings::Metrics(t, MetricOptions::default()),
        }
    }

    /// The report these settings are for.
    pub fn report(&self) -> Report {
        match self {
            ReportSettings::Campaigns(_) => Report::Campaigns,
            ReportSettings::Newsletters(_) => Report::Newsletters,
            ReportSettings::Customers => Report::Customers,
            ReportSettings::Segments(_) => Report::Segments,
            ReportSettings::CustomersExport(_) => Report::CustomersExport,
            ReportSettings::DeliveriesExport(_) => Report::DeliveriesExport,
            ReportSettings::Object(o) => Report::Object(o.table),
            ReportSettings::Metrics(t, _) => Report::Metrics(*t),
        }
    }

    /// The metric settings, for `campaigns` and `newsletters`.
    pub fn metrics(&self) -> Option<&MetricOptions> {
        match self {
            ReportSettings::Campaigns(m)
            | ReportSettings::Newsletters(m)
            | ReportSettings::Metrics(_, m) => Some(m),
            _ => None,
        }
    }
}

/// Every setting of one table, validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableOptions {
    /// How to reach Customer.io.
    pub connection: ConnectionOptions,
    /// The report and its own settings.
    pub settings: ReportSettings,
}

impl TableOptions {
    /// Options for `report` read with the credential `key`, everything else defaulted.
    pub fn new(report: Report, key: impl Into<String>) -> Self {
        Self::with_settings(key, ReportSettings::default_for(report))
    }

    /// Options for the report of `settings`, read with the credential `key`.
    pub fn with_settings(key: impl Into<String>, settings: ReportSettings) -> Self {
        TableOptions {
            connection: ConnectionOptions::new(key),
            settings,
        }
    }

    /// Which report.
    pub fn report(&self) -> Report {
        self.settings.report()
    }

    /// Parses an OPTIONS map. Keys may be bare (`key`), or prefixed `format.` (as DataFusion
    /// delivers undotted keys) or `customerio.`; they are matched case-insensitively. `now` is
    /// the table's clock's: relative windows are checked against it.
    pub fn parse(
        report: Report,
        raw: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let given = Given::new(report, raw)?;
        let connection = ConnectionOptions::parse(&given)?;
        let settings = match report {
            Report::Campaigns => ReportSettings::Campaigns(MetricOptions::parse(&given)?),
            Report::Newsletters => ReportSettings::Newsletters(MetricOptions::parse(&given)?),
            Report::Customers => ReportSettings::Customers,
            Report::Segments => ReportSettings::Segments(SegmentOptions::parse(&given)?),
            Report::CustomersExport => {
                ReportSettings::CustomersExport(CustomersExportOptions::parse(&given)?)
            }
            Report::DeliveriesExport => {
                ReportSettings::DeliveriesExport(DeliveriesExportOptions::parse(&given, now)?)
            }
            Report::Object(t) => ReportSettings::Object(ObjectSettings::parse(t, &given)?),
            Report::Metrics(t) => ReportSettings::Metrics(t, MetricOptions::parse(&given)?),
        };
        Ok(TableOptions {
            connection,
            settings,
        })
    }
}

/// The name of the option written `raw_key`: without a `format.` or `customerio.` prefix, in
/// lower case. [`Error::Option`] names options so.
pub fn option_name(raw_key: &str) -> String {
    let lower = raw_key.trim().to_ascii_lowercase();
    lower
        .strip_prefix("format.")
        .or_else(|| lower.strip_prefix("customerio."))
        .unwrap_or(&lower)
        .to_string()
}

/// An OPTIONS map with its keys normalised (prefix removed, lower case), every key one of the
/// report's and none given twice.
struct Given {
    report: Report,
    /// Normalised key -> (the key as written, the value).
    values: BTreeMap<String, (String, String)>,
}

impl Given {
    fn new(report: Report, raw: &HashMap<String, String>) -> Result<Self> {
        let allowed = report.options();
        let mut values: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (raw_key, value) in raw {
            let key = option_name(raw_key);
            if !allowed.iter().any(|(k, _)| *k == key) {
                let names: Vec<&str> = allowed.iter().map(|(k, _)| *k).collect();
                let hint = did_you_mean(&key, &names)
                    .map(|s| format!("did you mean '{s}'? "))
                    .unwrap_or_default();
                return Err(Error::option(
                    key.as_str(),
                    format!(
                        "unknown option '{raw_key}' for report {report}; {hint}valid options \
                         are {}",
                        names.join(", ")
                    ),
                ));
            }
            if let Some((first, _)) = values.get(&key) {
                return Err(Error::option(
                    key.as_str(),
                    format!(
                        "option '{key}' is given twice (as '{first}' and '{raw_key}'); give it once"
                    ),
                ));
            }
            values.insert(key, (raw_key.clone(), value.clone()));
        }
        Ok(Given { report, values })
    }

    /// The trimmed value of the option `key` (normalised), if given.
    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(_, v)| v.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::period::Period;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

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
            now(),
        )
        .unwrap();
        assert_eq!(o.connection.key, "acme");
        let m = o.settings.metrics().unwrap();
        assert_eq!(m.period, Period::Weeks);
        assert_eq!(m.steps, 12);
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
            let err = TableOptions::parse(Report::Newsletters, &map(pairs), now())
                .unwrap_err()
                .to_string();
            for n in *needles {
                assert!(err.contains(n), "{pairs:?}: '{err}' lacks '{n}'");
            }
        }
    }

    /// The option and the value of an error, from its fields.
    fn fields(e: Error) -> (String, Option<String>) {
        match e {
            Error::Option { option, value, .. } => (option, value),
            other => panic!("not an option error: {other:?}"),
        }
    }

    #[test]
    fn errors_carry_the_option_and_the_value() {
        let parse = |report, pairs: &[(&str, &str)]| {
            TableOptions::parse(report, &map(pairs), now()).unwrap_err()
        };
        type Case<'a> = (Report, &'a [(&'a str, &'a str)], &'a str, Option<&'a str>);
        let cases: &[Case] = &[
            (
                Report::Campaigns,
                &[("key", "a"), ("customerio.PEROID", "days")],
                "peroid",
                None,
            ),
            (
                Report::Campaigns,
                &[("key", "a"), ("period", "fortnights")],
                "period",
                Some("fortnights"),
            ),
            (
                Report::Newsletters,
                &[("key", "a"), ("format.steps", "46")],
                "steps",
                Some("46"),
            ),
            (Report::Segments, &[("period", "days")], "period", None),
            (Report::Segments, &[("concurrency", "2")], "key", None),
            (
                Report::Customers,
                &[("key", "a"), ("request_timeout", "11m")],
                "request_timeout",
                Some("11m"),
            ),
            (
                Report::CustomersExport,
                &[("key", "a"), ("segments", "a,,b")],
                "segments",
                Some("a,,b"),
            ),
            (
                Report::DeliveriesExport,
                &[("key", "a"), ("campaign_id", "1"), ("newsletter_id", "2")],
                "newsletter_id",
                None,
            ),
            (
                Report::DeliveriesExport,
                &[("key", "a"), ("start", "-2d"), ("end", "-3d")],
                "start",
                Some("2026-09-19 14:13:20 UTC"),
            ),
            (
                Report::DeliveriesExport,
                &[("key", "a"), ("metric", "read")],
                "metric",
                Some("read"),
            ),
            // The value is shown without its userinfo.
            (
                Report::Segments,
                &[("key", "a"), ("base_url", "ftp://u:hunter2@host")],
                "base_url",
                Some("ftp://host"),
            ),
        ];
        for (report, pairs, option, value) in cases {
            let (o, v) = fields(parse(*report, pairs));
            assert_eq!(
                (o.as_str(), v.as_deref()),
                (*option, *value),
                "{report} {pairs:?}"
            );
        }
    }

    #[test]
    fn a_key_error_never_carries_the_value() {
        // A pasted key is a credential error; an option error about `key` drops its value.
        let e = Error::option_value("key", "0123456789abcdef0123456789abcdef", "option key: bad");
        assert_eq!(fields(e), ("key".to_string(), None));
        let e = TableOptions::parse(
            Report::Campaigns,
            &map(&[("key", "0123456789abcdef0123456789abcdef")]),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.option_name(), Some("key"));
        assert!(!format!("{e} {e:?}").contains("0123456789abcdef"), "{e:?}");
    }

    #[test]
    fn each_report_holds_only_its_own_settings() {
        for report in Report::ALL {
            let o = TableOptions::parse(report, &map(&[("key", "a")]), now()).unwrap();
            assert_eq!(o.report(), report);
            assert_eq!(o.settings, ReportSettings::default_for(report));
            assert_eq!(
                o.settings.metrics().is_some(),
                matches!(
                    report,
                    Report::Campaigns | Report::Newsletters | Report::Metrics(_)
                ),
                "{report}"
            );
        }
        // What a report does not take is refused as unknown, naming what it does take.
        let err = TableOptions::parse(
            Report::Segments,
            &map(&[("key", "a"), ("steps", "4")]),
            now(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown option 'steps' for report segments"),
            "{err}"
        );
    }

    #[test]
    fn relative_windows_are_checked_at_the_given_now() {
        let raw = map(&[("key", "a"), ("start", "2025-12-01")]);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(
            TableOptions::parse(Report::DeliveriesExport, &raw, at("2026-11-30T00:00:00Z")).is_ok()
        );
        let err = TableOptions::parse(Report::DeliveriesExport, &raw, at("2026-12-02T00:00:00Z"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than 12 calendar months"), "{err}");
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

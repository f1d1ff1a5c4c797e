//! The options of the export reports: `customers_export` (`segments`) and `deliveries_export`
//! (a selector, the window `start`/`end`, `metric`, `drafts`), both taking `attributes` and
//! `export_timeout`. Each report has its own type; [`ExportOptions`] is what the export reader
//! reads, built from either.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::DELIVERY_METRICS;
use crate::error::{Error, Result};

use super::Given;
use super::time::{TimeSpec, check_window, parse_time};
use super::values::{parse_bool, parse_duration, parse_int, parse_list};

/// The default `export_timeout`: 30 minutes.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A segment named in `segments`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SegmentRef {
    /// By id.
    Id(i64),
    /// By name, resolved with `GET /v1/segments`.
    Name(String),
}

/// Which deliveries a deliveries export selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
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

/// Options of the `customers_export` report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomersExportOptions {
    /// The segments (empty: everyone).
    pub segments: Vec<SegmentRef>,
    /// Extra attribute columns.
    pub attributes: Vec<String>,
    /// How long to wait for an export.
    pub timeout: Duration,
}

impl Default for CustomersExportOptions {
    fn default() -> Self {
        CustomersExportOptions {
            segments: Vec::new(),
            attributes: Vec::new(),
            timeout: DEFAULT_EXPORT_TIMEOUT,
        }
    }
}

/// Options of the `deliveries_export` report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeliveriesExportOptions {
    /// The selector (none: every campaign and newsletter).
    pub selector: Option<DeliverySelector>,
    /// Window start.
    pub start: Option<TimeSpec>,
    /// Window end.
    pub end: Option<TimeSpec>,
    /// The metric filter.
    pub metric: Option<String>,
    /// Include drafts.
    pub drafts: bool,
    /// Extra attribute columns.
    pub attributes: Vec<String>,
    /// How long to wait for an export.
    pub timeout: Duration,
}

impl Default for DeliveriesExportOptions {
    fn default() -> Self {
        DeliveriesExportOptions {
            selector: None,
            start: None,
            end: None,
            metric: None,
            drafts: false,
            attributes: Vec::new(),
            timeout: DEFAULT_EXPORT_TIMEOUT,
        }
    }
}

/// What the export reader reads, for either export report: built from
/// [`CustomersExportOptions`] or [`DeliveriesExportOptions`], the other report's fields left at
/// their defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportOptions {
    /// `customers_export`: the segments (empty: everyone).
    pub segments: Vec<SegmentRef>,
    /// Extra attribute columns.
    pub attributes: Vec<String>,
    /// How long to wait for an export.
    pub timeout: Duration,
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
        CustomersExportOptions::default().into()
    }
}

impl From<CustomersExportOptions> for ExportOptions {
    fn from(o: CustomersExportOptions) -> Self {
        ExportOptions {
            segments: o.segments,
            attributes: o.attributes,
            timeout: o.timeout,
            selector: None,
            start: None,
            end: None,
            metric: None,
            drafts: false,
        }
    }
}

impl From<DeliveriesExportOptions> for ExportOptions {
    fn from(o: DeliveriesExportOptions) -> Self {
        ExportOptions {
            segments: Vec::new(),
            attributes: o.attributes,
            timeout: o.timeout,
            selector: o.selector,
            start: o.start,
            end: o.end,
            metric: o.metric,
            drafts: o.drafts,
        }
    }
}

/// `attributes` and `export_timeout`, which both export reports take.
fn parse_common(given: &Given) -> Result<(Vec<String>, Duration)> {
    let attributes = match given.get("attributes") {
        Some(v) => parse_list("attributes", v)?,
        None => Vec::new(),
    };
    let timeout = match given.get("export_timeout") {
        Some(v) => parse_duration("export_timeout", v, 24 * 3600)?,
        None => DEFAULT_EXPORT_TIMEOUT,
    };
    Ok((attributes, timeout))
}

impl CustomersExportOptions {
    /// The options of `given`.
    pub(super) fn parse(given: &Given) -> Result<Self> {
        let segments = match given.get("segments") {
            Some(v) => parse_list("segments", v)?
                .into_iter()
                .map(|s| match s.parse::<i64>() {
                    Ok(id) => SegmentRef::Id(id),
                    Err(_) => SegmentRef::Name(s),
                })
                .collect(),
            None => Vec::new(),
        };
        let (attributes, timeout) = parse_common(given)?;
        Ok(CustomersExportOptions {
            segments,
            attributes,
            timeout,
        })
    }
}

impl DeliveriesExportOptions {
    /// The options of `given`; the window is checked at `now`.
    pub(super) fn parse(given: &Given, now: DateTime<Utc>) -> Result<Self> {
        let (attributes, timeout) = parse_common(given)?;
        let mut e = DeliveriesExportOptions {
            attributes,
            timeout,
            ..DeliveriesExportOptions::default()
        };
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
            if let Some(v) = given.get(name) {
                if e.selector.is_some() {
                    return Err(Error::option(
                        name,
                        "options campaign_id, newsletter_id, action_id and \
                         transactional_message_id select what to export: give at most one (none \
                         exports every campaign and newsletter)",
                    ));
                }
                e.selector = Some(make(parse_int(name, v, 1, i64::MAX)?));
            }
        }
        if let Some(v) = given.get("start") {
            e.start = Some(parse_time("start", v)?);
        }
        if let Some(v) = given.get("end") {
            e.end = Some(parse_time("end", v)?);
        }
        check_window(e.start, e.end, now)?;
        if let Some(v) = given.get("metric") {
            let lower = v.to_ascii_lowercase();
            if !DELIVERY_METRICS.contains(&lower.as_str()) {
                return Err(Error::option_value(
                    "metric",
                    v,
                    format!(
                        "option metric: '{v}' is not a delivery metric; valid values are {}",
                        DELIVERY_METRICS.join(", ")
                    ),
                ));
            }
            e.metric = Some(lower);
        }
        if let Some(v) = given.get("drafts") {
            e.drafts = parse_bool("drafts", v)?;
        }
        Ok(e)
    }
}

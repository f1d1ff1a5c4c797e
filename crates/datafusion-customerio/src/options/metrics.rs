//! The options of the metric reports (`campaigns`, `newsletters`): `metric_type`, `period`,
//! `steps`, `unique_links`, each checked against the report's own endpoints.

use crate::api::period::Period;
use crate::api::{CAMPAIGN_METRIC_TYPES, NEWSLETTER_METRIC_TYPES, V2_MAX_MONTHS};
use crate::error::{Error, Result};

use super::catalog::did_you_mean;
use super::values::{parse_bool, parse_int};
use super::{Given, MetricTable, Report};

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

impl MetricOptions {
    /// The metric options of `given`, for its report.
    pub(super) fn parse(given: &Given) -> Result<Self> {
        let report = given.report;
        let mut m = MetricOptions::default();
        if let Some(v) = given.get("metric_type") {
            m.metric_type = Some(parse_metric_type(report, v)?);
        }
        if let Some(v) = given.get("period") {
            m.period = v
                .parse()
                .map_err(|e| Error::option_value("period", v, format!("option period: {e}")))?;
            m.steps = m.period.default_steps();
        }
        if let Some(v) = given.get("steps") {
            let max = report.max_steps(m.period);
            m.steps = parse_int("steps", v, 1, max as i64).map_err(|_| {
                let maxima: Vec<String> = Period::ALL
                    .iter()
                    .map(|p| format!("{} {p}", report.max_steps(*p)))
                    .collect();
                Error::option_value(
                    "steps",
                    v,
                    format!(
                        "option steps: '{v}' is out of range for period {}; valid values are 1 \
                         to {max} (report {report}: {}, the limits of Customer.io's {})",
                        m.period,
                        maxima.join(", "),
                        report.metric_operations()
                    ),
                )
            })? as u32;
        }
        if let Some(v) = given.get("unique_links") {
            m.unique_links = parse_bool("unique_links", v)?;
        }
        Ok(m)
    }
}

impl Report {
    /// The channels `metric_type` accepts: the `type` enum of the report's metrics endpoint in
    /// the 2026 spec (`campaignMetrics` for campaigns, `getNewsletterMetrics` for newsletters);
    /// empty for the reports without `metric_type`. The link endpoints take no `type`.
    pub fn metric_types(self) -> &'static [&'static str] {
        match self {
            Report::Campaigns
            | Report::Metrics(
                MetricTable::Broadcasts
                | MetricTable::CampaignActions
                | MetricTable::BroadcastActions,
            ) => &CAMPAIGN_METRIC_TYPES,
            Report::Newsletters | Report::Metrics(MetricTable::NewsletterVariants) => {
                &NEWSLETTER_METRIC_TYPES
            }
            _ => &[],
        }
    }

    /// The vendor operations a metric report's `period` and `steps` must satisfy, for messages.
    fn metric_operations(self) -> &'static str {
        match self {
            Report::Campaigns => "campaignMetrics (version 2) and campaignLinkMetrics",
            Report::Newsletters => "getNewsletterMetrics and getNewsletterLinks",
            Report::Metrics(MetricTable::Broadcasts) => "broadcastMetrics and broadcastLinks",
            Report::Metrics(MetricTable::Transactional) => {
                "transactionalMetrics and transactionalLinks"
            }
            Report::Metrics(MetricTable::CampaignActions) => {
                "campaignActionMetrics (version 2) and campaignActionLinks"
            }
            Report::Metrics(MetricTable::BroadcastActions) => {
                "broadcastActionMetrics and broadcastActionLinks"
            }
            Report::Metrics(MetricTable::NewsletterVariants) => {
                "getVariantMetrics and getVariantLinks"
            }
            Report::Metrics(MetricTable::CampaignJourneys) => "campaignJourneyMetrics",
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
            (Report::Campaigns | Report::Metrics(MetricTable::CampaignActions), Period::Months) => {
                v1.min(V2_MAX_MONTHS - 1)
            }
            _ => v1,
        }
    }
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
    Err(Error::option_value(
        "metric_type",
        v,
        format!(
            "option metric_type: '{v}' is not a channel of report {report}{elsewhere}; {hint}valid \
             values are {}",
            valid.join(", ")
        ),
    ))
}

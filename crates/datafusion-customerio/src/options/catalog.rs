//! The options each report accepts, with a one-line description each (for "valid options are",
//! "did you mean" and the shell's help).

use datafusion::common::utils::datafusion_strsim::levenshtein;

use super::{MetricTable, ObjectTable, Report};

impl Report {
    /// The options this report accepts, with a one-line description each.
    pub fn options(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Report::Campaigns | Report::Newsletters => METRIC_OPTIONS,
            Report::Customers => &CONNECTION_OPTIONS,
            Report::Segments => SEGMENT_OPTIONS,
            Report::CustomersExport => CUSTOMERS_EXPORT_OPTIONS,
            Report::DeliveriesExport => DELIVERIES_EXPORT_OPTIONS,
            Report::Metrics(MetricTable::Broadcasts | MetricTable::CampaignActions) => {
                ITEM_METRIC_OPTIONS
            }
            Report::Metrics(MetricTable::Transactional) => TRANSACTIONAL_METRIC_OPTIONS,
            Report::Metrics(MetricTable::BroadcastActions | MetricTable::NewsletterVariants) => {
                TYPED_LINK_METRIC_OPTIONS
            }
            Report::Metrics(MetricTable::CampaignJourneys) => JOURNEY_OPTIONS,
            Report::Object(ObjectTable::Activities) => ACTIVITIES_OPTIONS,
            Report::Object(_) => &CONNECTION_OPTIONS,
        }
    }
}

/// Every report's options: [`CONNECTION_OPTIONS`] then `own`, as one table (`N` is their count).
const fn with_connection<const N: usize>(
    own: &[(&'static str, &'static str)],
) -> [(&'static str, &'static str); N] {
    let mut all = [("", ""); N];
    let mut i = 0;
    while i < CONNECTION_OPTIONS.len() {
        all[i] = CONNECTION_OPTIONS[i];
        i += 1;
    }
    assert!(CONNECTION_OPTIONS.len() + own.len() == N);
    while i < N {
        all[i] = own[i - CONNECTION_OPTIONS.len()];
        i += 1;
    }
    all
}

const CONNECTION_OPTIONS: [(&str, &str); 9] = [
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
    (
        "cache_ttl",
        "how long answers are served from the response cache: 0 (off) to 24h (default: the session's customerio.cache_ttl, else 0; cio-sql's shell 5m)",
    ),
];

const METRIC_OPTIONS: &[(&str, &str)] = &with_connection::<{ 9 + 4 }>(&[
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
]);

const PERIOD: (&str, &str) = ("period", "hours, days, weeks or months (default days)");
const STEPS: (&str, &str) = (
    "steps",
    "periods before the current one: up to 24 hours, 45 days, 12 weeks, 121 months (campaign actions 119) (default the maximum, 12 for months)",
);
const UNIQUE_LINKS: (&str, &str) = (
    "unique_links",
    "true to count each person once in link metrics (default false)",
);

/// `broadcast_metrics`, `campaign_action_metrics`.
const ITEM_METRIC_OPTIONS: &[(&str, &str)] = &with_connection::<{ 9 + 4 }>(&[
    (
        "metric_type",
        "channel to report: email, webhook, twilio, whatsapp, slack, push, in_app, live_notification (default: all)",
    ),
    PERIOD,
    STEPS,
    UNIQUE_LINKS,
]);

/// `transactional_metrics`: its endpoints take no channel.
const TRANSACTIONAL_METRIC_OPTIONS: &[(&str, &str)] =
    &with_connection::<{ 9 + 3 }>(&[PERIOD, STEPS, UNIQUE_LINKS]);

/// `broadcast_action_metrics`, `newsletter_variant_metrics`: their link endpoints take the
/// channel and no `unique`.
const TYPED_LINK_METRIC_OPTIONS: &[(&str, &str)] = &with_connection::<{ 9 + 3 }>(&[
    (
        "metric_type",
        "channel to report, in metrics and link metrics: broadcast actions email, webhook, twilio, whatsapp, slack, push, in_app, live_notification; newsletter variants email, webhook, twilio, push, in_app, inbox (default: all)",
    ),
    PERIOD,
    STEPS,
]);

/// `campaign_journey_metrics`: its endpoint takes a window and a resolution only.
const JOURNEY_OPTIONS: &[(&str, &str)] = &with_connection::<{ 9 + 2 }>(&[PERIOD, STEPS]);

const EXPORT_TIMEOUT: (&str, &str) = (
    "export_timeout",
    "how long to wait for an export to finish: seconds, or 90s, 15m, 2h (default 30m)",
);
const EXPORT_ATTRIBUTES: (&str, &str) = (
    "attributes",
    "extra person attributes as columns: a JSON array or a comma-separated list",
);

const CUSTOMERS_EXPORT_OPTIONS: &[(&str, &str)] = &with_connection::<{ 9 + 3 }>(&[
    (
        "segments",
        "segment names or ids: a JSON array or a comma-separated list (default: everyone)",
    ),
    EXPORT_ATTRIBUTES,
    EXPORT_TIMEOUT,
]);

const DELIVERIES_EXPORT_OPTIONS: &[(&str, &str)] = &with_connection::<{ 9 + 10 }>(&[
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
]);

const SEGMENT_OPTIONS: &[(&str, &str)] = &with_connection::<{ 9 + 1 }>(&[(
    "counts",
    "true to add customer_count and used_by_* columns: two more requests per segment, made only when they are selected (default false)",
)]);

const ACTIVITIES_OPTIONS: &[(&str, &str)] = &with_connection::<{ 9 + 1 }>(&[(
    "deleted",
    "true to include the activities of deleted people (default false)",
)]);

/// The closest name within edit distance 2, if any.
pub(crate) fn did_you_mean<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (levenshtein(word, n), *n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

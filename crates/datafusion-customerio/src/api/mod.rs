//! The Customer.io App API's vocabulary, in one place: the metric names of its answers, the
//! channels each metrics operation takes, the deliveries export's metrics, the windows it
//! allows, its periods and buckets ([`period`]) and its regions ([`region`]). A leaf: it imports
//! nothing from the rest of the crate but the error type, and `client`, `options` and `reports`
//! take their lists from here. `tests/it/vocabulary.rs` checks it against the vendor's 2026 spec
//! (`spec/customerio-api/`).

pub mod period;
pub mod region;

pub use period::{EASTERN, Period};
pub use region::Region;

/// The series metrics of the 2026 spec, one Int64 column each, in the spec's order.
pub const SERIES_METRICS: [&str; 26] = [
    "attempted",
    "bounced",
    "clicked",
    "converted",
    "created",
    "deferred",
    "delivered",
    "drafted",
    "failed",
    "human_clicked",
    "human_opened",
    "link_untracked",
    "machine_clicked",
    "open_untracked",
    "opened",
    "prefetch_opened",
    "replied",
    "sent",
    "spammed",
    "suppressed",
    "topic_unsubscribed",
    "tracking_consent_denied",
    "tracking_consent_granted",
    "undeliverable",
    "unsubscribed",
    "untracked",
];

/// The link metrics, in each `links` entry.
pub const LINK_METRICS: [&str; 3] = ["clicked", "human_clicked", "machine_clicked"];

/// The channels `metric_type` accepts on `campaigns`: the `type` enum of `campaignMetrics` in
/// the 2026 spec, in its order.
pub const CAMPAIGN_METRIC_TYPES: [&str; 8] = [
    "email",
    "webhook",
    "twilio",
    "whatsapp",
    "slack",
    "push",
    "in_app",
    "live_notification",
];

/// The channels `metric_type` accepts on `newsletters`: the `type` enum of
/// `getNewsletterMetrics` in the 2026 spec, in its order.
pub const NEWSLETTER_METRIC_TYPES: [&str; 6] =
    ["email", "webhook", "twilio", "push", "in_app", "inbox"];

/// The metrics a deliveries export can filter on.
pub const DELIVERY_METRICS: [&str; 13] = [
    "created",
    "attempted",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "spammed",
    "unsubscribed",
    "dropped",
    "failed",
    "undeliverable",
];

/// The longest deliveries window Customer.io returns, in calendar months (it silently cuts
/// longer ones to the last 12 months). See [`check_window`](crate::options::check_window).
pub const MAX_DELIVERIES_WINDOW_MONTHS: u32 = 12;

/// The longest version-2 campaign metrics window, in months: "`end`: limited to 10 years from
/// `start`" (2026 spec, `campaignMetrics`).
pub const V2_MAX_MONTHS: u32 = 120;

//! The reports, by the name written in `LOCATION`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The Customer.io reports this crate exposes as tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
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
    /// One of the App API's object listings (messages, activities, broadcasts, ...), read by the
    /// generic object reader.
    Object(ObjectTable),
    /// Metrics of broadcasts, transactional messages, actions or newsletter variants, read by
    /// the metrics reader of `campaigns` and `newsletters`.
    Metrics(MetricTable),
}

/// The metric reports beyond `campaigns` and `newsletters`: one row per item and bucket, link
/// clicks nested, `period`/`steps` (or the version-2 window) and `metric_type` per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum MetricTable {
    /// `broadcastMetrics`, `broadcastLinks`.
    Broadcasts,
    /// `transactionalMetrics`, `transactionalLinks`.
    Transactional,
    /// `campaignActionMetrics` (version 2), `campaignActionLinks`.
    CampaignActions,
    /// `broadcastActionMetrics`, `broadcastActionLinks`.
    BroadcastActions,
    /// `getVariantMetrics`, `getVariantLinks`.
    NewsletterVariants,
    /// `campaignJourneyMetrics`: journeys started per bucket and how far they went.
    CampaignJourneys,
}

impl MetricTable {
    /// Every metric table, in documentation order.
    pub const ALL: [MetricTable; 6] = [
        MetricTable::Broadcasts,
        MetricTable::Transactional,
        MetricTable::CampaignActions,
        MetricTable::BroadcastActions,
        MetricTable::NewsletterVariants,
        MetricTable::CampaignJourneys,
    ];

    /// The name used in `LOCATION`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricTable::Broadcasts => "broadcast_metrics",
            MetricTable::Transactional => "transactional_metrics",
            MetricTable::CampaignActions => "campaign_action_metrics",
            MetricTable::BroadcastActions => "broadcast_action_metrics",
            MetricTable::NewsletterVariants => "newsletter_variant_metrics",
            MetricTable::CampaignJourneys => "campaign_journey_metrics",
        }
    }
}

/// The object tables: each an App API listing read page by page, one row per object (see
/// `reports::objects` for each one's endpoint, columns and pushdowns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ObjectTable {
    /// Deliveries, `listMessages` (and the per-person and per-item message listings).
    Messages,
    /// Activities, `listActivities` (and `getPersonActivities`).
    Activities,
    /// API-triggered broadcasts, `listBroadcasts`.
    Broadcasts,
    /// The actions of every broadcast, `broadcastActions`.
    BroadcastActions,
    /// The actions of every campaign, `listCampaignActions`.
    CampaignActions,
    /// The contents (variants) of every newsletter, `listNewsletterVariants`.
    NewsletterVariants,
    /// Transactional message templates, `listTransactional`.
    TransactionalMessages,
    /// The members of every segment, `getSegmentMembership`.
    SegmentMembers,
    /// The segments of one person, `getPersonSegments` (needs `customer_id`).
    CustomerSegments,
    /// Collections and their contents, `getCollections` (+ `getCollectionContents`).
    Collections,
    /// The workspace's exports, `listExports`.
    Exports,
    /// Customer.io's sending IP addresses, `getCioAllowlist`.
    IpAddresses,
    /// Reporting webhooks, `listWebhooks`.
    ReportingWebhooks,
    /// Sender identities, `listSenders`.
    SenderIdentities,
    /// Snippets, `listSnippets`.
    Snippets,
    /// ESP suppressions of every type, `getSuppressionByType`.
    EspSuppressions,
    /// The contents (variants) of every transactional message, `listTransactionalVariants`.
    TransactionalVariants,
    /// The objects one person is related to, `getPersonRelationships` (needs `customer_id`).
    CustomerRelationships,
    /// The workspaces the key's account has, `listWorkspaces`.
    Workspaces,
    /// Object types, `getObjectTypes`.
    ObjectTypes,
    /// The objects of every type, `getObjectsFilter` (+ `getObjectAttributes`).
    Objects,
    /// Subscription topics, `getTopics`.
    SubscriptionTopics,
    /// Subscription channels, `getChannels`.
    SubscriptionChannels,
}

impl ObjectTable {
    /// Every object table, in documentation order.
    pub const ALL: [ObjectTable; 23] = [
        ObjectTable::Messages,
        ObjectTable::Activities,
        ObjectTable::Broadcasts,
        ObjectTable::BroadcastActions,
        ObjectTable::CampaignActions,
        ObjectTable::NewsletterVariants,
        ObjectTable::TransactionalMessages,
        ObjectTable::SegmentMembers,
        ObjectTable::CustomerSegments,
        ObjectTable::Collections,
        ObjectTable::Exports,
        ObjectTable::IpAddresses,
        ObjectTable::ReportingWebhooks,
        ObjectTable::SenderIdentities,
        ObjectTable::Snippets,
        ObjectTable::EspSuppressions,
        ObjectTable::TransactionalVariants,
        ObjectTable::CustomerRelationships,
        ObjectTable::Workspaces,
        ObjectTable::ObjectTypes,
        ObjectTable::Objects,
        ObjectTable::SubscriptionTopics,
        ObjectTable::SubscriptionChannels,
    ];

    /// The name used in `LOCATION`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ObjectTable::Messages => "messages",
            ObjectTable::Activities => "activities",
            ObjectTable::Broadcasts => "broadcasts",
            ObjectTable::BroadcastActions => "broadcast_actions",
            ObjectTable::CampaignActions => "campaign_actions",
            ObjectTable::NewsletterVariants => "newsletter_variants",
            ObjectTable::TransactionalMessages => "transactional_messages",
            ObjectTable::SegmentMembers => "segment_members",
            ObjectTable::CustomerSegments => "customer_segments",
            ObjectTable::Collections => "collections",
            ObjectTable::Exports => "exports",
            ObjectTable::IpAddresses => "ip_addresses",
            ObjectTable::ReportingWebhooks => "reporting_webhooks",
            ObjectTable::SenderIdentities => "sender_identities",
            ObjectTable::Snippets => "snippets",
            ObjectTable::EspSuppressions => "esp_suppressions",
            ObjectTable::TransactionalVariants => "transactional_variants",
            ObjectTable::CustomerRelationships => "customer_relationships",
            ObjectTable::Workspaces => "workspaces",
            ObjectTable::ObjectTypes => "object_types",
            ObjectTable::Objects => "objects",
            ObjectTable::SubscriptionTopics => "subscription_topics",
            ObjectTable::SubscriptionChannels => "subscription_channels",
        }
    }
}

/// The six reports with their own readers.
const OWN_READERS: [Report; 6] = [
    Report::Campaigns,
    Report::Newsletters,
    Report::Customers,
    Report::Segments,
    Report::CustomersExport,
    Report::DeliveriesExport,
];

/// [`OWN_READERS`], the metric tables, then every object table.
const fn all_reports<const N: usize>() -> [Report; N] {
    let mut all = [Report::Campaigns; N];
    let mut i = 0;
    while i < OWN_READERS.len() {
        all[i] = OWN_READERS[i];
        i += 1;
    }
    let metrics = OWN_READERS.len() + MetricTable::ALL.len();
    assert!(metrics + ObjectTable::ALL.len() == N);
    while i < metrics {
        all[i] = Report::Metrics(MetricTable::ALL[i - OWN_READERS.len()]);
        i += 1;
    }
    while i < N {
        all[i] = Report::Object(ObjectTable::ALL[i - metrics]);
        i += 1;
    }
    all
}

impl Report {
    /// Every report, in documentation order.
    pub const ALL: [Report; 6 + MetricTable::ALL.len() + ObjectTable::ALL.len()] = all_reports();

    /// The name used in `LOCATION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Report::Campaigns => "campaigns",
            Report::Newsletters => "newsletters",
            Report::Customers => "customers",
            Report::Segments => "segments",
            Report::CustomersExport => "customers_export",
            Report::DeliveriesExport => "deliveries_export",
            Report::Object(t) => t.as_str(),
            Report::Metrics(t) => t.as_str(),
        }
    }
}

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
                Error::option_value(
                    "location",
                    s,
                    format!(
                        "LOCATION '{s}' is not a Customer.io report; valid reports are {}",
                        valid.join(", ")
                    ),
                )
            })
    }
}

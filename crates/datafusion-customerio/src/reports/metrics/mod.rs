//! The metric reports, `campaigns` and `newsletters`: one row per (campaign or newsletter, period
//! bucket), one Int64 column per series metric, and the bucket's link clicks in `links`.
//!
//! API calls per item: campaign metrics use version 2 of `GET /v1/campaigns/{id}/metrics`
//! (`version=2&res&start&end&tz=America/New_York`, version 1 being deprecated); newsletter
//! metrics only have version 1 (`period`/`steps`). Link metrics (`.../metrics/links`, version 1
//! with `unique`) are requested only when `links` is projected. Listing: `GET /v1/campaigns` (one
//! request) or `GET /v1/newsletters` (paginated); with ids pushed down, `GET /v1/{kind}/{id}`
//! per id instead, where 404 means no rows; two or more campaign ids take the one list request
//! instead (1 + k requests rather than k).
//!
//! Where things are: what each report is, in one table ([`MetricKind`]'s facts, below); `schema`
//! (its columns); `fetch` (the API calls); `query` (their query strings); `series` (labelling an
//! answer's series with bucket starts, checking its shape); `buckets` (the bucket lists a scan
//! shares); `stream` (the limit-aware reading of items); `builders` (Arrow arrays of a row set).

mod buckets;
mod builders;
mod fetch;
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod local;
mod query;
mod schema;
mod series;
mod stream;

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{
    self as futures_stream, BoxStream, FuturesUnordered, StreamExt, TryStreamExt,
};

use super::{ReadRequest, ReportReader};
use crate::error::Result;
use crate::options::{MetricOptions, MetricTable};
use crate::reports::objects::spec::{Column, Endpoint, Kind, at};
use crate::reports::objects::tables::{cursor, list};
use buckets::Buckets;
use fetch::{ItemRef, list_items, read_item};
pub use query::v2_end;
use schema::LINKS_COLUMN;
pub use schema::{link_fields, schema, segment_columns};
pub use series::{SERVER_CLOCK_TOLERANCE, parse_go_time};
use stream::ItemReads;

/// Which metric report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricKind {
    /// `campaigns`
    Campaigns,
    /// `newsletters`
    Newsletters,
    /// `broadcast_metrics`
    Broadcasts,
    /// `transactional_metrics`
    Transactional,
    /// `campaign_action_metrics`
    CampaignActions,
    /// `broadcast_action_metrics`
    BroadcastActions,
    /// `newsletter_variant_metrics`
    NewsletterVariants,
}

impl MetricKind {
    /// The kind this reader reads a metric table as; `None` for `campaign_journey_metrics`,
    /// which `reports::journeys` reads (another answer shape).
    pub fn of_table(t: MetricTable) -> Option<MetricKind> {
        match t {
            MetricTable::Broadcasts => Some(MetricKind::Broadcasts),
            MetricTable::Transactional => Some(MetricKind::Transactional),
            MetricTable::CampaignActions => Some(MetricKind::CampaignActions),
            MetricTable::BroadcastActions => Some(MetricKind::BroadcastActions),
            MetricTable::NewsletterVariants => Some(MetricKind::NewsletterVariants),
            MetricTable::CampaignJourneys => None,
        }
    }
}

/// How a report's items are listed.
#[derive(Debug, Clone, Copy)]
enum Listing {
    /// `GET /v1/campaigns`, one request.
    Campaigns,
    /// `GET /v1/newsletters`, paged.
    Newsletters,
    /// One listing holding every item.
    Json(Endpoint),
    /// The items of every parent: the parents' listing, then each parent's (`{}` in its path is
    /// the parent's id).
    PerParent { parents: Endpoint, each: Endpoint },
}

/// Which version of the metrics endpoint a report reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetricsApi {
    /// `version=2&res&start&end&tz`: the answer names its first bucket.
    V2,
    /// `period&steps`: the buckets end with the one holding the server's now.
    V1,
}

/// What a metric report is, in one place: its API paths, its columns, its metrics endpoint.
#[derive(Debug)]
struct KindFacts {
    /// `campaign`: the prefix of the identity columns (`campaign_id`, `campaign_name`, ...).
    singular: &'static str,
    /// The id column, the one whose `=`/`IN` filters are pushed down.
    id_column: &'static str,
    /// The list path (or the parents' list path), for messages.
    path: &'static str,
    /// An item's path, `{parent}` and `{id}` in it: its metrics are `{item_path}/metrics`, its
    /// link metrics `{item_path}/metrics/links`.
    item_path: &'static str,
    /// How the items are listed.
    listing: Listing,
    /// Whether the metrics endpoint takes `type` (all but transactional messages).
    metrics_type: bool,
    /// Whether the link endpoint takes `type` (actions of broadcasts and campaigns, variants).
    links_type: bool,
    /// Whether the link endpoint takes `unique`.
    links_unique: bool,
    /// The segment-id columns after `links`: the item's segments, as the API lists them.
    segment_columns: &'static [&'static str],
    /// The item's attributes the list call returns, as columns after the segment ids (at no
    /// extra request).
    attribute_columns: &'static [Column],
    /// The metrics endpoint's version.
    metrics_api: MetricsApi,
    /// Whether one request lists every item (campaigns) rather than pages (newsletters): with
    /// two or more ids pushed down, that one request is cheaper than one per id.
    listed_in_one_request: bool,
}

const CAMPAIGNS: KindFacts = KindFacts {
    singular: "campaign",
    id_column: "campaign_id",
    path: "/v1/campaigns",
    item_path: "/v1/campaigns/{id}",
    listing: Listing::Campaigns,
    metrics_type: true,
    links_type: false,
    links_unique: true,
    segment_columns: &["trigger_segment_ids", "filter_segment_ids"],
    attribute_columns: &[
        at("campaign_state", Kind::Text, &[&["state"]]),
        at("campaign_active", Kind::Bool, &[&["active"]]),
        at("campaign_tags", Kind::Texts, &[&["tags"]]),
        at("campaign_created", Kind::Time, &[&["created"]]),
        at("campaign_updated", Kind::Time, &[&["updated"]]),
        at("campaign_first_started", Kind::Time, &[&["first_started"]]),
        at("campaign_event_name", Kind::Text, &[&["event_name"]]),
        at(
            "campaign_deduplicate_id",
            Kind::Text,
            &[&["deduplicate_id"]],
        ),
    ],
    metrics_api: MetricsApi::V2,
    listed_in_one_request: true,
};

const NEWSLETTERS: KindFacts = KindFacts {
    singular: "newsletter",
    id_column: "newsletter_id",
    path: "/v1/newsletters",
    item_path: "/v1/newsletters/{id}",
    listing: Listing::Newsletters,
    metrics_type: true,
    links_type: false,
    links_unique: true,
    segment_columns: &["recipient_segment_ids"],
    attribute_columns: &[
        at("newsletter_tags", Kind::Texts, &[&["tags"]]),
        at("newsletter_created", Kind::Time, &[&["created"]]),
        at("newsletter_updated", Kind::Time, &[&["updated"]]),
        at("newsletter_sent_at", Kind::Time, &[&["sent_at"]]),
        at("newsletter_content_ids", Kind::Ints, &[&["content_ids"]]),
        at(
            "newsletter_subscription_topic_id",
            Kind::Int,
            &[&["subscription_topic_id"]],
        ),
        at(
            "newsletter_deduplicate_id",
            Kind::Text,
            &[&["deduplicate_id"]],
        ),
    ],
    metrics_api: MetricsApi::V1,
    listed_in_one_request: false,
};

const BROADCASTS: KindFacts = KindFacts {
    singular: "broadcast",
    id_column: "broadcast_id",
    path: "/v1/broadcasts",
    item_path: "/v1/broadcasts/{id}",
    listing: Listing::Json(list("listBroadcasts", "/v1/broadcasts", "broadcasts")),
    metrics_type: true,
    links_type: false,
    links_unique: true,
    segment_columns: &[],
    attribute_columns: &[
        at("broadcast_state", Kind::Text, &[&["state"]]),
        at("broadcast_active", Kind::Bool, &[&["active"]]),
        at("broadcast_tags", Kind::Texts, &[&["tags"]]),
        at("broadcast_created", Kind::Time, &[&["created"]]),
        at("broadcast_updated", Kind::Time, &[&["updated"]]),
    ],
    metrics_api: MetricsApi::V1,
    listed_in_one_request: true,
};

const TRANSACTIONAL: KindFacts = KindFacts {
    singular: "transactional",
    id_column: "transactional_id",
    path: "/v1/transactional",
    item_path: "/v1/transactional/{id}",
    listing: Listing::Json(list("listTransactional", "/v1/transactional", "messages")),
    metrics_type: false,
    links_type: false,
    links_unique: true,
    segment_columns: &[],
    attribute_columns: &[
        at("transactional_created_at", Kind::Time, &[&["created_at"]]),
        at("transactional_updated_at", Kind::Time, &[&["updated_at"]]),
    ],
    metrics_api: MetricsApi::V1,
    listed_in_one_request: true,
};

const CAMPAIGN_ACTIONS: KindFacts = KindFacts {
    singular: "action",
    id_column: "action_id",
    path: "/v1/campaigns",
    item_path: "/v1/campaigns/{parent}/actions/{id}",
    listing: Listing::PerParent {
        parents: list("listCampaigns", "/v1/campaigns", "campaigns"),
        each: Endpoint {
            paging: cursor(None),
            ..list("listCampaignActions", "/v1/campaigns/{}/actions", "actions")
        },
    },
    metrics_type: true,
    links_type: true,
    links_unique: true,
    segment_columns: &[],
    attribute_columns: &[
        at("campaign_id", Kind::Int, &[&["campaign_id"]]),
        at("action_sending_state", Kind::Text, &[&["sending_state"]]),
        at("action_created", Kind::Time, &[&["created"]]),
        at("action_updated", Kind::Time, &[&["updated"]]),
    ],
    metrics_api: MetricsApi::V2,
    listed_in_one_request: false,
};

const BROADCAST_ACTIONS: KindFacts = KindFacts {
    singular: "action",
    id_column: "action_id",
    path: "/v1/broadcasts",
    item_path: "/v1/broadcasts/{parent}/actions/{id}",
    listing: Listing::PerParent {
        parents: list("listBroadcasts", "/v1/broadcasts", "broadcasts"),
        each: list("broadcastActions", "/v1/broadcasts/{}/actions", "actions"),
    },
    metrics_type: true,
    links_type: true,
    links_unique: false,
    segment_columns: &[],
    attribute_columns: &[
        at("broadcast_id", Kind::Int, &[&["broadcast_id"]]),
        at("action_sending_state", Kind::Text, &[&["sending_state"]]),
        at("action_created", Kind::Time, &[&["created"]]),
        at("action_updated", Kind::Time, &[&["updated"]]),
    ],
    metrics_api: MetricsApi::V1,
    listed_in_one_request: false,
};

const NEWSLETTER_VARIANTS: KindFacts = KindFacts {
    singular: "content",
    id_column: "content_id",
    path: "/v1/newsletters",
    item_path: "/v1/newsletters/{parent}/contents/{id}",
    listing: Listing::PerParent {
        parents: Endpoint {
            paging: cursor(Some(1000)),
            ..list("listNewsletters", "/v1/newsletters", "newsletters")
        },
        each: list(
            "listNewsletterVariants",
            "/v1/newsletters/{}/contents",
            "contents",
        ),
    },
    metrics_type: true,
    links_type: true,
    links_unique: false,
    segment_columns: &[],
    attribute_columns: &[
        at("newsletter_id", Kind::Int, &[&["newsletter_id"]]),
        at("content_language", Kind::Text, &[&["language"]]),
        at("content_subject", Kind::Text, &[&["subject"]]),
    ],
    metrics_api: MetricsApi::V1,
    listed_in_one_request: false,
};

impl MetricKind {
    /// Every metric report.
    pub const ALL: [MetricKind; 7] = [
        MetricKind::Campaigns,
        MetricKind::Newsletters,
        MetricKind::Broadcasts,
        MetricKind::Transactional,
        MetricKind::CampaignActions,
        MetricKind::BroadcastActions,
        MetricKind::NewsletterVariants,
    ];

    /// The facts of this report.
    fn facts(self) -> &'static KindFacts {
        match self {
            MetricKind::Campaigns => &CAMPAIGNS,
            MetricKind::Newsletters => &NEWSLETTERS,
            MetricKind::Broadcasts => &BROADCASTS,
            MetricKind::Transactional => &TRANSACTIONAL,
            MetricKind::CampaignActions => &CAMPAIGN_ACTIONS,
            MetricKind::BroadcastActions => &BROADCAST_ACTIONS,
            MetricKind::NewsletterVariants => &NEWSLETTER_VARIANTS,
        }
    }

    /// The key of the parent's id in an item below one (and its attribute column).
    fn parent_key(self) -> &'static str {
        match self {
            MetricKind::CampaignActions => "campaign_id",
            MetricKind::BroadcastActions => "broadcast_id",
            MetricKind::NewsletterVariants => "newsletter_id",
            _ => "parent_id",
        }
    }

    /// The path of `item`, whose metrics are at `{path}/metrics`.
    fn item_path(self, id: i64, parent: Option<i64>) -> String {
        self.facts()
            .item_path
            .replace(
                "{parent}",
                &parent.map(|p| p.to_string()).unwrap_or_default(),
            )
            .replace("{id}", &id.to_string())
    }
}

/// Reads `campaigns` or `newsletters`.
#[derive(Debug)]
pub struct MetricReport {
    kind: MetricKind,
    workspace: String,
    options: MetricOptions,
}

impl MetricReport {
    /// The report `kind` of `workspace` with `options`.
    pub fn new(kind: MetricKind, workspace: impl Into<String>, options: MetricOptions) -> Self {
        MetricReport {
            kind,
            workspace: workspace.into(),
            options,
        }
    }
}

/// What every per-item request shares.
#[derive(Debug)]
struct Shared {
    kind: MetricKind,
    workspace: String,
    options: MetricOptions,
    want_links: bool,
    projection: Vec<usize>,
    schema: SchemaRef,
    request: ReadRequest,
    buckets: Buckets,
    /// Whether the scan has warned that the server's clock is far from this machine's (once).
    clock_warned: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn new(
        kind: MetricKind,
        workspace: String,
        options: MetricOptions,
        request: ReadRequest,
    ) -> Self {
        Shared {
            kind,
            workspace,
            options,
            want_links: request.projection.contains(&LINKS_COLUMN),
            projection: request.projection.clone(),
            schema: schema(kind),
            request,
            buckets: Buckets::default(),
            clock_warned: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl ReportReader for MetricReport {
    fn schema(&self) -> SchemaRef {
        schema(self.kind)
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        // Items below a parent have no path of their own without it: nothing is pushed.
        match self.kind.facts().listing {
            Listing::PerParent { .. } => vec![],
            _ => vec![self.kind.facts().id_column],
        }
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let o = &self.options;
        vec![
            (
                "metric_type",
                o.metric_type.clone().unwrap_or_else(|| "all".into()),
            ),
            ("period", o.period.to_string()),
            ("steps", o.steps.to_string()),
            ("unique_links", o.unique_links.to_string()),
        ]
    }

    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>> {
        let rows_per_item = self.options.steps as usize + 1;
        let concurrency = request.concurrency.max(1);
        let limit = request.limit;
        let shared = Arc::new(Shared::new(
            self.kind,
            self.workspace.clone(),
            self.options.clone(),
            request,
        ));
        let items: BoxStream<'static, Result<ItemRef>> = match &shared.request.pushed {
            // Several ids of a report listed in one request (campaigns): that request names
            // them all, where fetching each
            // would cost a request per id.
            Some(pushed)
                if shared.kind.facts().listed_in_one_request && pushed.i64_values().len() > 1 =>
            {
                let wanted: std::collections::HashSet<i64> =
                    pushed.i64_values().into_iter().collect();
                list_items(&shared)
                    .try_filter(move |item| {
                        let keep = matches!(item, ItemRef::Known(i) if wanted.contains(&i.id));
                        async move { keep }
                    })
                    .boxed()
            }
            Some(pushed) => futures_stream::iter(
                pushed
                    .i64_values()
                    .into_iter()
                    .map(|id| Ok(ItemRef::Id(id))),
            )
            .boxed(),
            None => list_items(&shared),
        };
        let read = move |item: ItemRef| {
            let shared = shared.clone();
            async move { read_item(&shared, item).await }
        };
        ItemReads {
            items: items.fuse(),
            running: FuturesUnordered::new(),
            read,
            concurrency,
            limit,
            rows_per_item,
            delivered: 0,
        }
        .boxed()
    }
}

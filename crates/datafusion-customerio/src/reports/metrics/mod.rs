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
use crate::options::MetricOptions;
use buckets::Buckets;
use fetch::{ItemRef, list_items, read_item};
pub use query::v2_end;
use schema::LINKS_COLUMN;
pub use schema::{link_fields, schema, segment_columns};
pub use series::{SERVER_CLOCK_TOLERANCE, parse_go_time};
use stream::ItemReads;

/// Which metric report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// `campaigns`
    Campaigns,
    /// `newsletters`
    Newsletters,
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
    /// The list path; an item is `{path}/{id}`, its metrics `{path}/{id}/metrics`, its link
    /// metrics `{path}/{id}/metrics/links`.
    path: &'static str,
    /// The segment-id columns after `links`: the item's segments, as the API lists them.
    segment_columns: &'static [&'static str],
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
    segment_columns: &["trigger_segment_ids", "filter_segment_ids"],
    metrics_api: MetricsApi::V2,
    listed_in_one_request: true,
};

const NEWSLETTERS: KindFacts = KindFacts {
    singular: "newsletter",
    id_column: "newsletter_id",
    path: "/v1/newsletters",
    segment_columns: &["recipient_segment_ids"],
    metrics_api: MetricsApi::V1,
    listed_in_one_request: false,
};

impl MetricKind {
    /// The facts of this report.
    fn facts(self) -> &'static KindFacts {
        match self {
            MetricKind::Campaigns => &CAMPAIGNS,
            MetricKind::Newsletters => &NEWSLETTERS,
        }
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
        vec![self.kind.facts().id_column]
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

//! The metric reports, `campaigns` and `newsletters`: one row per (campaign or newsletter, period
//! bucket), one Int64 column per series metric, and the bucket's link clicks in `links`.
//!
//! API calls per item: campaign metrics use version 2 of `GET /v1/campaigns/{id}/metrics`
//! (`version=2&res&start&end&tz=America/New_York`, version 1 being deprecated); newsletter
//! metrics only have version 1 (`period`/`steps`). Link metrics (`.../metrics/links`, version 1
//! with `unique`) are requested only when `links` is projected. Listing: `GET /v1/campaigns` (one
//! request) or `GET /v1/newsletters` (paginated); with ids pushed down, `GET /v1/{kind}/{id}`
//! per id instead, where 404 means no rows.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, Int64Builder, ListBuilder, StringBuilder, StructBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;

use super::{ReadRequest, ReportReader};
use crate::client::models::{
    Campaign, CampaignEnvelope, CampaignList, LinkMetrics, LinksResponse, MetricsResponse,
    Newsletter, NewsletterEnvelope, NewsletterPage, Series,
};
use crate::client::pagination::{PageRequest, paginate, prefetch};
use crate::error::{Error, Result};
use crate::options::MetricOptions;
use crate::period::{EASTERN, Period};

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

/// Which metric report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// `campaigns`
    Campaigns,
    /// `newsletters`
    Newsletters,
}

impl MetricKind {
    fn singular(self) -> &'static str {
        match self {
            MetricKind::Campaigns => "campaign",
            MetricKind::Newsletters => "newsletter",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            MetricKind::Campaigns => "campaigns",
            MetricKind::Newsletters => "newsletters",
        }
    }
}

/// The fields of one `links` entry.
pub fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("link_id", DataType::Int64, false),
        Field::new("href", DataType::Utf8, true),
        Field::new("clicked", DataType::Int64, true),
        Field::new("human_clicked", DataType::Int64, true),
        Field::new("machine_clicked", DataType::Int64, true),
    ])
}

/// The schema of a metric report.
pub fn schema(kind: MetricKind) -> SchemaRef {
    static CAMPAIGNS: LazyLock<SchemaRef> = LazyLock::new(|| build_schema(MetricKind::Campaigns));
    static NEWSLETTERS: LazyLock<SchemaRef> =
        LazyLock::new(|| build_schema(MetricKind::Newsletters));
    match kind {
        MetricKind::Campaigns => CAMPAIGNS.clone(),
        MetricKind::Newsletters => NEWSLETTERS.clone(),
    }
}

fn build_schema(kind: MetricKind) -> SchemaRef {
    let s = kind.singular();
    let mut fields = vec![
        Field::new("workspace", DataType::Utf8, false),
        Field::new(format!("{s}_id"), DataType::Int64, false),
        Field::new(format!("{s}_name"), DataType::Utf8, true),
        Field::new(format!("{s}_type"), DataType::Utf8, true),
        Field::new("metric_type", DataType::Utf8, true),
        Field::new("period", DataType::Utf8, false),
        Field::new(
            "period_start",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ];
    fields.extend(
        SERIES_METRICS
            .iter()
            .map(|m| Field::new(*m, DataType::Int64, true)),
    );
    fields.push(Field::new(
        "links",
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(link_fields()),
            true,
        ))),
        true,
    ));
    for name in segment_columns(kind) {
        fields.push(Field::new(
            *name,
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        ));
    }
    Arc::new(Schema::new(fields))
}

/// The segment-id columns after `links`: the item's segments, as the API lists them.
pub fn segment_columns(kind: MetricKind) -> &'static [&'static str] {
    match kind {
        MetricKind::Campaigns => &["trigger_segment_ids", "filter_segment_ids"],
        MetricKind::Newsletters => &["recipient_segment_ids"],
    }
}

/// Index of the `links` column.
const LINKS_COLUMN: usize = 7 + SERIES_METRICS.len();

/// A campaign or newsletter: what the row's identity columns need.
#[derive(Debug, Clone)]
struct Item {
    id: i64,
    name: Option<String>,
    kind: Option<String>,
    /// The segment-id columns after `links`, in schema order.
    segments: Vec<Vec<i64>>,
}

impl From<Campaign> for Item {
    fn from(c: Campaign) -> Self {
        let segments = vec![c.trigger_segment_ids, c.filter_segment_ids];
        Item {
            id: c.id,
            name: c.name,
            kind: c.kind,
            segments,
        }
    }
}

impl From<Newsletter> for Item {
    fn from(n: Newsletter) -> Self {
        let segments = vec![n.recipient_segment_ids];
        Item {
            id: n.id,
            name: n.name,
            kind: n.kind,
            segments,
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
}

impl ReportReader for MetricReport {
    fn schema(&self) -> SchemaRef {
        schema(self.kind)
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        vec![match self.kind {
            MetricKind::Campaigns => "campaign_id",
            MetricKind::Newsletters => "newsletter_id",
        }]
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
        // With a limit, fetch no more items at once than the limit can use.
        let concurrency = match request.limit {
            Some(l) => request.concurrency.min(l.div_ceil(rows_per_item)).max(1),
            None => request.concurrency,
        };
        let shared = Arc::new(Shared {
            kind: self.kind,
            workspace: self.workspace.clone(),
            options: self.options.clone(),
            want_links: request.projection.contains(&LINKS_COLUMN),
            projection: request.projection.clone(),
            schema: schema(self.kind),
            request,
        });
        let items: BoxStream<'static, Result<ItemRef>> = match &shared.request.pushed {
            Some(pushed) => stream::iter(
                pushed
                    .i64_values()
                    .into_iter()
                    .map(|id| Ok(ItemRef::Id(id))),
            )
            .boxed(),
            None => list_items(&shared),
        };
        items
            .map(move |item| {
                let shared = shared.clone();
                async move { read_item(&shared, item?).await }
            })
            .buffer_unordered(concurrency)
            .try_filter_map(|batch| async move { Ok(batch) })
            .boxed()
    }
}

enum ItemRef {
    Id(i64),
    Known(Item),
}

fn list_items(shared: &Arc<Shared>) -> BoxStream<'static, Result<ItemRef>> {
    let client = shared.request.client.clone();
    let stats = shared.request.stats.clone();
    match shared.kind {
        MetricKind::Campaigns => stream::once(async move {
            let list: CampaignList = client.get("/v1/campaigns", &[], &stats).await?;
            Ok::<_, Error>(stream::iter(
                list.campaigns
                    .into_iter()
                    .map(|c| Ok(ItemRef::Known(c.into()))),
            ))
        })
        .try_flatten()
        .boxed(),
        MetricKind::Newsletters => {
            let request = PageRequest {
                method: Method::GET,
                path: "/v1/newsletters".into(),
                query: vec![("limit", "100".into())],
                body: None,
            };
            let pages = paginate::<NewsletterPage>(client, request, stats);
            // Without a limit every page is needed: ask for the next one ahead of time.
            let pages: BoxStream<'static, Result<Vec<Newsletter>>> = match shared.request.limit {
                None => prefetch(pages, 1).boxed(),
                Some(_) => pages.boxed(),
            };
            pages
                .map_ok(|page| stream::iter(page.into_iter().map(|n| Ok(ItemRef::Known(n.into())))))
                .try_flatten()
                .boxed()
        }
    }
}

/// One item's rows, or `None` when a pushed-down id does not exist.
async fn read_item(shared: &Shared, item: ItemRef) -> Result<Option<RecordBatch>> {
    let item = match item {
        ItemRef::Known(item) => item,
        ItemRef::Id(id) => match fetch_item(shared, id).await {
            Ok(item) => item,
            Err(Error::Api { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    let now = shared.request.clock.now();
    let metrics = fetch_metrics(shared, item.id, now);
    let links = async {
        if shared.want_links {
            fetch_links(shared, item.id).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let ((starts, series), links) = futures::try_join!(metrics, links)?;
    let links = links.map(|l| align_links(shared.options.period, &l, now));
    build_batch(shared, &item, &starts, &series, links.as_ref()).map(Some)
}

async fn fetch_item(shared: &Shared, id: i64) -> Result<Item> {
    let (client, stats) = (&shared.request.client, &shared.request.stats);
    match shared.kind {
        MetricKind::Campaigns => {
            let c: CampaignEnvelope = client
                .get(&format!("/v1/campaigns/{id}"), &[], stats)
                .await?;
            Ok(c.campaign.into())
        }
        MetricKind::Newsletters => {
            let n: NewsletterEnvelope = client
                .get(&format!("/v1/newsletters/{id}"), &[], stats)
                .await?;
            Ok(n.newsletter.into())
        }
    }
}

/// The bucket starts and the series of one item.
async fn fetch_metrics(
    shared: &Shared,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(Vec<DateTime<Utc>>, Series)> {
    let o = &shared.options;
    let (client, stats) = (&shared.request.client, &shared.request.stats);
    let path = format!("/v1/{}/{id}/metrics", shared.kind.plural());
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(t) = &o.metric_type {
        query.push(("type", t.clone()));
    }
    match shared.kind {
        MetricKind::Campaigns => {
            let buckets = o.period.v1_buckets(o.steps, now);
            let (first, last) = (buckets[0], buckets[buckets.len() - 1]);
            query.extend([
                ("version", "2".to_string()),
                ("res", o.period.as_str().to_string()),
                ("start", first.timestamp().to_string()),
                (
                    "end",
                    o.period.add(last, 1, EASTERN).timestamp().to_string(),
                ),
                ("tz", EASTERN.name().to_string()),
            ]);
            let resp: MetricsResponse = client.get(&path, &query, stats).await?;
            let start = match resp.start.as_deref() {
                Some(s) => parse_go_time(s).ok_or_else(|| Error::Malformed {
                    endpoint: format!("GET {path}"),
                    detail: format!(
                        "start '{s}' is not a time like '2025-01-01 00:00:00 +0000 UTC'"
                    ),
                })?,
                None => first,
            };
            let n = series_len(&resp.metric);
            let starts = (0..n as i64)
                .map(|i| o.period.add(start, i, EASTERN))
                .collect();
            Ok((starts, resp.metric))
        }
        MetricKind::Newsletters => {
            query.push(("period", o.period.as_str().to_string()));
            query.push(("steps", o.steps.to_string()));
            let resp: MetricsResponse = client.get(&path, &query, stats).await?;
            let starts = v1_starts(o.period, series_len(&resp.metric), now);
            Ok((starts, resp.metric))
        }
    }
}

async fn fetch_links(shared: &Shared, id: i64) -> Result<Vec<LinkMetrics>> {
    let o = &shared.options;
    let path = format!("/v1/{}/{id}/metrics/links", shared.kind.plural());
    let query = [
        ("period", o.period.as_str().to_string()),
        ("steps", o.steps.to_string()),
        ("unique", o.unique_links.to_string()),
    ];
    let resp: LinksResponse = shared
        .request
        .client
        .get(&path, &query, &shared.request.stats)
        .await?;
    Ok(resp.links)
}

/// Link series by bucket start.
type AlignedLinks = (Vec<LinkMetrics>, HashMap<i64, usize>);

/// Version-1 link series end with the current bucket; index them by bucket start.
fn align_links(period: Period, links: &[LinkMetrics], now: DateTime<Utc>) -> AlignedLinks {
    let n = links
        .iter()
        .map(|l| series_len(&l.metric))
        .max()
        .unwrap_or(0);
    let index = v1_starts(period, n, now)
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t.timestamp(), i))
        .collect();
    (links.to_vec(), index)
}

/// The starts of `n` version-1 buckets ending with the current one.
fn v1_starts(period: Period, n: usize, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let current = period.floor(now, EASTERN);
    (0..n as i64)
        .map(|i| period.add(current, i + 1 - n as i64, EASTERN))
        .collect()
}

/// The longest series of a response (series normally all have one length).
fn series_len(s: &Series) -> usize {
    s.series.values().map(Vec::len).max().unwrap_or(0)
}

/// The value of `metric` at bucket `i` of `n`, aligning shorter series on the newest bucket.
fn value_at(s: &Series, metric: &str, i: usize, n: usize) -> Option<i64> {
    let v = s.series.get(metric)?;
    let offset = n.checked_sub(v.len())?;
    i.checked_sub(offset)
        .and_then(|j| v.get(j).copied().flatten())
}

/// Parses Go's `time.Time` string form, e.g. `2025-01-01 00:00:00 -0500 EST`.
pub fn parse_go_time(s: &str) -> Option<DateTime<Utc>> {
    let head: String = s.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    DateTime::parse_from_str(&head, "%Y-%m-%d %H:%M:%S %z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn build_batch(
    shared: &Shared,
    item: &Item,
    starts: &[DateTime<Utc>],
    series: &Series,
    links: Option<&AlignedLinks>,
) -> Result<RecordBatch> {
    let n = starts.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(shared.projection.len());
    for &c in &shared.projection {
        let array: ArrayRef = match c {
            0 => repeat_str(Some(&shared.workspace), n),
            1 => {
                let mut b = Int64Builder::with_capacity(n);
                (0..n).for_each(|_| b.append_value(item.id));
                Arc::new(b.finish())
            }
            2 => repeat_str(item.name.as_deref(), n),
            3 => repeat_str(item.kind.as_deref(), n),
            4 => repeat_str(shared.options.metric_type.as_deref(), n),
            5 => repeat_str(Some(shared.options.period.as_str()), n),
            6 => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n);
                starts
                    .iter()
                    .for_each(|t| b.append_value(t.timestamp_micros()));
                Arc::new(b.finish().with_timezone("UTC"))
            }
            LINKS_COLUMN => links_array(links, starts),
            c if c > LINKS_COLUMN => {
                let ids = item
                    .segments
                    .get(c - LINKS_COLUMN - 1)
                    .map_or(&[][..], Vec::as_slice);
                let mut b = ListBuilder::new(Int64Builder::new());
                for _ in 0..n {
                    b.values().append_slice(ids);
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            metric => {
                let name = SERIES_METRICS[metric - 7];
                let mut b = Int64Builder::with_capacity(n);
                (0..n).for_each(|i| b.append_option(value_at(series, name, i, n)));
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    let schema = Arc::new(shared.schema.project(&shared.projection)?);
    let options =
        datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

fn repeat_str(v: Option<&str>, n: usize) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * v.map_or(0, str::len));
    (0..n).for_each(|_| b.append_option(v));
    Arc::new(b.finish())
}

fn links_array(links: Option<&AlignedLinks>, starts: &[DateTime<Utc>]) -> ArrayRef {
    let fields = link_fields();
    let values = StructBuilder::from_fields(fields.clone(), 0);
    let mut b = ListBuilder::new(values).with_field(Arc::new(Field::new(
        "item",
        DataType::Struct(fields),
        true,
    )));
    for t in starts {
        let Some((links, index)) = links else {
            b.append_null();
            continue;
        };
        let bucket = index.get(&t.timestamp()).copied();
        let n = links
            .iter()
            .map(|l| series_len(&l.metric))
            .max()
            .unwrap_or(0);
        let s = b.values();
        for l in links {
            if let Some(f) = s.field_builder::<Int64Builder>(0) {
                f.append_value(l.link.id);
            }
            if let Some(f) = s.field_builder::<StringBuilder>(1) {
                f.append_option(l.link.href.as_deref());
            }
            for (k, m) in LINK_METRICS.iter().enumerate() {
                let v = bucket.and_then(|i| value_at(&l.metric, m, i, n));
                if let Some(f) = s.field_builder::<Int64Builder>(2 + k) {
                    f.append_option(v);
                }
            }
            s.append(true);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time() {
        let t = parse_go_time("2025-01-01 00:00:00 -0500 EST").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-01-01T05:00:00+00:00");
        assert!(parse_go_time("yesterday").is_none());
    }

    #[test]
    fn short_series_align_on_the_newest_bucket() {
        let mut s = Series::default();
        s.series.insert("sent".into(), vec![Some(5), None]);
        assert_eq!(value_at(&s, "sent", 0, 3), None);
        assert_eq!(value_at(&s, "sent", 1, 3), Some(5));
        assert_eq!(value_at(&s, "sent", 2, 3), None);
        assert_eq!(value_at(&s, "opened", 2, 3), None);
    }

    #[test]
    fn schema_shape() {
        let s = schema(MetricKind::Campaigns);
        assert_eq!(s.field(1).name(), "campaign_id");
        assert_eq!(s.field(LINKS_COLUMN).name(), "links");
        assert_eq!(s.fields().len(), 7 + 26 + 1 + 2);
        assert_eq!(
            schema(MetricKind::Newsletters).fields().len(),
            7 + 26 + 1 + 1
        );
    }
}

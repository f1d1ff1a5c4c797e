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

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, Int64Array, Int64Builder, ListArray, ListBuilder, StringArray, StringBuilder,
    StructArray, TimestampMicrosecondBuilder, new_null_array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{self, BoxStream, FuturesUnordered, Stream, StreamExt, TryStreamExt};
use reqwest::Method;

use super::{ReadRequest, ReportReader};
use crate::api::period::{EASTERN, Period};
use crate::api::{LINK_METRICS, SERIES_METRICS};
use crate::client::models::{
    Campaign, CampaignEnvelope, CampaignList, LinkMetrics, LinksResponse, MetricsResponse,
    Newsletter, NewsletterEnvelope, NewsletterPage, Series,
};
use crate::client::pagination::{PageRequest, paginate, prefetch};
use crate::error::{Error, Result};
use crate::options::MetricOptions;

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

/// Where a list of bucket starts is anchored (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Anchor {
    /// The first bucket starts here (version 2).
    From(i64),
    /// The last bucket starts here: the current one (version 1).
    EndingWith(i64),
}

/// Bucket starts, and their index by start (unix seconds; the last bucket of a start wins).
#[derive(Debug)]
struct BucketList {
    starts: Vec<DateTime<Utc>>,
    index: HashMap<i64, usize>,
}

/// The bucket lists of a scan. Every item of a scan has the same buckets, and each start is a
/// time-zone conversion: a list is computed once and shared (a sixth of the time of decoding
/// a campaign's answers went to computing them for each item).
#[derive(Debug, Default)]
struct Buckets(std::sync::Mutex<HashMap<(Anchor, usize), Arc<BucketList>>>);

impl Buckets {
    /// Lists kept at most (a scan normally needs one or two).
    const KEEP: usize = 16;

    /// The `n` buckets of `period` anchored at `anchor`.
    fn get(&self, period: Period, anchor: Anchor, n: usize) -> Arc<BucketList> {
        let compute = || {
            let starts: Vec<DateTime<Utc>> = match anchor {
                Anchor::From(t) => {
                    let first = DateTime::from_timestamp(t, 0).unwrap_or_default();
                    (0..n as i64)
                        .map(|i| period.add(first, i, EASTERN))
                        .collect()
                }
                Anchor::EndingWith(t) => {
                    let current = DateTime::from_timestamp(t, 0).unwrap_or_default();
                    (0..n as i64)
                        .map(|i| period.add(current, i + 1 - n as i64, EASTERN))
                        .collect()
                }
            };
            let index = starts
                .iter()
                .enumerate()
                .map(|(i, t)| (t.timestamp(), i))
                .collect();
            Arc::new(BucketList { starts, index })
        };
        let Ok(mut lists) = self.0.lock() else {
            return compute();
        };
        if let Some(list) = lists.get(&(anchor, n)) {
            return list.clone();
        }
        if lists.len() >= Self::KEEP {
            lists.clear();
        }
        let list = compute();
        lists.insert((anchor, n), list.clone());
        list
    }

    /// The starts of `n` version-1 buckets ending with the current one at `now`.
    fn v1(&self, period: Period, n: usize, now: DateTime<Utc>) -> Arc<BucketList> {
        let current = period.floor(now, EASTERN);
        self.get(period, Anchor::EndingWith(current.timestamp()), n)
    }
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
        let concurrency = request.concurrency.max(1);
        let limit = request.limit;
        let shared = Arc::new(Shared::new(
            self.kind,
            self.workspace.clone(),
            self.options.clone(),
            request,
        ));
        let items: BoxStream<'static, Result<ItemRef>> = match &shared.request.pushed {
            // Several campaigns: the one list request names them all, where fetching each
            // would cost a request per id.
            Some(pushed)
                if shared.kind == MetricKind::Campaigns && pushed.i64_values().len() > 1 =>
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
            Some(pushed) => stream::iter(
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

/// Reads up to `concurrency` items at once, like `buffer_unordered`, but with a limit starts an
/// item only while the rows delivered plus the rows the items in flight will bring
/// (`rows_per_item` each) fall short of it, so a `LIMIT` costs exactly the items it needs, not
/// whichever extra one a freed slot happened to start before an answer already in flight came
/// back. An item that brings fewer rows than expected (404, filtered) opens the way for the next.
struct ItemReads<F, Fut> {
    items: futures::stream::Fuse<BoxStream<'static, Result<ItemRef>>>,
    running: FuturesUnordered<Fut>,
    read: F,
    concurrency: usize,
    limit: Option<usize>,
    rows_per_item: usize,
    delivered: usize,
}

impl<F, Fut> ItemReads<F, Fut> {
    fn may_start(&self) -> bool {
        self.running.len() < self.concurrency
            && match self.limit {
                None => true,
                Some(limit) => {
                    self.running.is_empty()
                        || self.delivered + self.running.len() * self.rows_per_item < limit
                }
            }
    }
}

impl<F, Fut> Stream for ItemReads<F, Fut>
where
    F: FnMut(ItemRef) -> Fut + Unpin,
    Fut: Future<Output = Result<Option<RecordBatch>>>,
{
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            while this.may_start() {
                match this.items.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(item))) => this.running.push((this.read)(item)),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) | Poll::Pending => break,
                }
            }
            match this.running.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(Some(batch)))) => {
                    this.delivered += batch.num_rows();
                    return Poll::Ready(Some(Ok(batch)));
                }
                Poll::Ready(Some(Ok(None))) => continue,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) if this.items.is_done() => return Poll::Ready(None),
                // Nothing in flight and the next item not ready yet: its stream has our waker.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
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
    let links = match links {
        Some((l, date)) => {
            let path = format!("/v1/{}/{}/metrics/links", shared.kind.plural(), item.id);
            let server_now = server_now(shared, date, now, &path)?;
            Some(align_links(shared, l, server_now.unwrap_or(now)))
        }
        None => None,
    };
    build_batch(shared, &item, &starts.starts, &series, links.as_ref()).map(Some)
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

/// The bucket starts and the series of one item. The query's window is the connector's (`now`);
/// version-1 buckets are labelled from the server's time (the answer's `Date`).
async fn fetch_metrics(
    shared: &Shared,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(Arc<BucketList>, Series)> {
    let o = &shared.options;
    let (client, stats) = (&shared.request.client, &shared.request.stats);
    let path = format!("/v1/{}/{id}/metrics", shared.kind.plural());
    let query = metrics_query(shared.kind, o, now);
    let dated = client
        .get_dated::<MetricsResponse>(&path, &query, stats)
        .await?;
    let resp = dated.value;
    let server_now = match shared.kind {
        MetricKind::Newsletters => server_now(shared, dated.server_date, now, &path)?,
        MetricKind::Campaigns => None,
    };
    let starts = series_starts(shared, &resp, now, server_now, &path)?;
    Ok((starts, resp.metric))
}

/// How far the server's `Date` may be from this machine's clock (before the request, and after
/// its answer) before a warning is logged. The `Date` is used all the same: version-1 buckets end
/// at the server's now, which is what its clock says, even when this machine's clock is wrong.
pub const SERVER_CLOCK_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::minutes(60);

/// The first instant a Customer.io answer can carry: the company's founding year. A `Date`
/// before it is not the server's clock (an unset clock, a zero time) and labels nothing.
const EARLIEST_SERVER_DATE: i64 = 1_325_376_000; // 2012-01-01T00:00:00Z

/// The server's time of a version-1 answer, its `Date` (`None`: the answer had none readable).
/// A `Date` more than [`SERVER_CLOCK_TOLERANCE`] from this machine's clock, between `before`
/// (when the query started) and now, is used and logged as a warning naming both times, once a
/// scan (one of the two clocks is wrong; the buckets are the server's); a `Date` before 2012 is
/// an error.
fn server_now(
    shared: &Shared,
    date: Option<DateTime<Utc>>,
    before: DateTime<Utc>,
    path: &str,
) -> Result<Option<DateTime<Utc>>> {
    let Some(date) = date else { return Ok(None) };
    let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if date.timestamp() < EARLIEST_SERVER_DATE {
        return Err(Error::Malformed {
            endpoint: format!("GET {path}"),
            detail: format!(
                "the answer's Date header says {}, which is no server's clock (this machine's \
                 says {}); version-1 buckets end at the server's time, so the rows cannot be \
                 labelled: check a proxy in base_url that rewrites Date",
                secs(date),
                secs(before)
            ),
        });
    }
    let after = shared.request.clock.now().max(before);
    let far = date < before - SERVER_CLOCK_TOLERANCE || date > after + SERVER_CLOCK_TOLERANCE;
    // One warning a scan: every item's answer would say the same.
    if far
        && !shared
            .clock_warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            endpoint = %format!("GET {path}"),
            server = %secs(date),
            local = %secs(before),
            "the answer's Date is more than {} minutes from this machine's clock; version-1 \
             buckets are labelled from the server's time (set this machine's clock with NTP)",
            SERVER_CLOCK_TOLERANCE.num_minutes()
        );
    }
    Ok(Some(date))
}

/// The query of `GET /v1/{kind}/{id}/metrics` at `now`: version 2 for campaigns (`res`, `start`
/// of the `steps + 1` buckets up to the one holding `now`, in America/New_York, and `end` =
/// [`v2_end`]), version 1 for newsletters (`period`, `steps`); `type` when a metric type is set.
pub fn metrics_query(
    kind: MetricKind,
    o: &MetricOptions,
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(t) = &o.metric_type {
        query.push(("type", t.clone()));
    }
    match kind {
        MetricKind::Campaigns => {
            let buckets = o.period.v1_buckets(o.steps, now);
            let (first, last) = (buckets[0], buckets[buckets.len() - 1]);
            query.extend([
                ("version", "2".to_string()),
                ("res", o.period.as_str().to_string()),
                ("start", first.timestamp().to_string()),
                ("end", v2_end(last, now).to_string()),
                ("tz", EASTERN.name().to_string()),
            ]);
        }
        MetricKind::Newsletters => {
            query.push(("period", o.period.as_str().to_string()));
            query.push(("steps", o.steps.to_string()));
        }
    }
    query
}

/// The version-2 `end` (unix seconds) at `now`, in the bucket starting at `current`: `now`, so
/// that the answer ends with the current bucket whether Customer.io returns the buckets that
/// start before `end` or also the one that contains it (the start of the next bucket, as `end`,
/// would add a future bucket under the second reading). When `now` is the current bucket's
/// first second, a second later: its start as `end` would leave it out under the first.
pub fn v2_end(current: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    now.timestamp().max(current.timestamp() + 1)
}

/// The query of `GET /v1/{kind}/{id}/metrics/links` (version 1).
pub fn links_query(o: &MetricOptions) -> Vec<(&'static str, String)> {
    vec![
        ("period", o.period.as_str().to_string()),
        ("steps", o.steps.to_string()),
        ("unique", o.unique_links.to_string()),
    ]
}

/// The bucket starts of a metrics answer of `path`. Version 2 (campaigns) names its first
/// bucket's start, or starts where it was asked to (`steps` buckets before the one holding
/// `now`, the connector's time the query was made at); version 1 (newsletters) ends with the
/// bucket holding the server's time, `server_now` (the answer's `Date` header), or `now` when
/// the answer had no readable `Date`. (With the connector's own clock a few minutes behind the
/// server's across midnight Eastern, every version-1 bucket would be labelled a day early.)
fn series_starts(
    shared: &Shared,
    resp: &MetricsResponse,
    now: DateTime<Utc>,
    server_now: Option<DateTime<Utc>>,
    path: &str,
) -> Result<Arc<BucketList>> {
    let (period, steps) = (shared.options.period, shared.options.steps);
    // No series at all (`"series": null` or `{}`, as Go writes an empty map): the buckets that
    // were asked for, every value NULL, rather than a sender without rows.
    let n = match series_len(&resp.metric) {
        0 => steps as usize + 1,
        n => n,
    };
    let malformed = |detail: String| Error::Malformed {
        endpoint: format!("GET {path}"),
        detail,
    };
    match shared.kind {
        MetricKind::Campaigns => {
            // A version-2 answer names its first bucket and its resolution; one without them
            // may be a version-1 answer (45 days up to the server's now), which labelled from
            // the window asked for would put every value in the wrong bucket.
            let start = match resp.start.as_deref() {
                Some(s) => parse_go_time(s).ok_or_else(|| {
                    malformed(format!(
                        "at start: '{s}' is not a time like '2025-01-01 00:00:00 +0000 UTC' \
                         (Go) or '2025-01-01T00:00:00Z' (RFC 3339)"
                    ))
                })?,
                None => {
                    return Err(malformed(
                        "at start: missing; a version-2 answer (version=2 was asked for) \
                         carries the start of its first bucket"
                            .into(),
                    ));
                }
            };
            if let Some(res) = resp.res.as_deref()
                && res.parse::<Period>().ok() != Some(period)
            {
                return Err(malformed(format!(
                    "at res: '{res}', but res={period} was asked for (valid: {period} or its \
                     -ly form)"
                )));
            }
            // `steps + 1` buckets were asked for; one more when Customer.io also returns the
            // bucket that contains `end`. Fewer would leave buckets without rows.
            if n < steps as usize + 1 || n > steps as usize + 2 {
                return Err(malformed(format!(
                    "at metric.series: {n} buckets, but the window asked for holds {} \
                     ({period}, steps {steps})",
                    steps + 1
                )));
            }
            Ok(shared
                .buckets
                .get(period, Anchor::From(start.timestamp()), n))
        }
        MetricKind::Newsletters => Ok(shared.buckets.v1(period, n, server_now.unwrap_or(now))),
    }
}

/// One item's link series, and the server's time of the answer (its `Date`), which their
/// version-1 buckets end at.
async fn fetch_links(
    shared: &Shared,
    id: i64,
) -> Result<(Vec<LinkMetrics>, Option<DateTime<Utc>>)> {
    let o = &shared.options;
    let path = format!("/v1/{}/{id}/metrics/links", shared.kind.plural());
    let query = links_query(o);
    let dated = shared
        .request
        .client
        .get_dated::<LinksResponse>(&path, &query, &shared.request.stats)
        .await?;
    Ok((dated.value.links, dated.server_date))
}

/// Link series and the buckets they are of.
type AlignedLinks = (Vec<LinkMetrics>, Arc<BucketList>);

/// Version-1 link series end with the bucket holding `now`, the server's time of the answer (or
/// the connector's when it had no readable `Date`); index them by bucket start.
fn align_links(shared: &Shared, links: Vec<LinkMetrics>, now: DateTime<Utc>) -> AlignedLinks {
    let n = links
        .iter()
        .map(|l| series_len(&l.metric))
        .max()
        .unwrap_or(0);
    let buckets = shared.buckets.v1(shared.options.period, n, now);
    (links, buckets)
}

/// The longest series of a response (series normally all have one length).
fn series_len(s: &Series) -> usize {
    s.series.values().map(Vec::len).max().unwrap_or(0)
}

/// The value of `metric` at bucket `i` of `n`, aligning shorter series on the newest bucket.
#[cfg(test)]
fn value_at(s: &Series, metric: &str, i: usize, n: usize) -> Option<i64> {
    aligned(s.series.get(metric)?, i, n)
}

/// The value of series `v` at bucket `i` of `n`, aligning a shorter series on the newest bucket.
fn aligned(v: &[Option<i64>], i: usize, n: usize) -> Option<i64> {
    let offset = n.checked_sub(v.len())?;
    i.checked_sub(offset)
        .and_then(|j| v.get(j).copied().flatten())
}

/// Parses a version-2 `start`: Go's `time.Time` string form, e.g.
/// `2025-01-01 00:00:00 -0500 EST` (the spec's example, fractional seconds allowed), or RFC 3339
/// (`2026-01-01T00:00:00.000Z`, `2025-12-31T19:00:00-05:00`; the spec calls the field ISO 8601).
pub fn parse_go_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let head: String = s.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    DateTime::parse_from_str(&head, "%Y-%m-%d %H:%M:%S%.f %z")
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
            1 => Arc::new(Int64Array::from_value(item.id, n)),
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
                let mut b = Int64Builder::with_capacity(n);
                // One lookup of the series per column, not per row.
                match series.series.get(SERIES_METRICS[metric - 7]) {
                    Some(v) => (0..n).for_each(|i| b.append_option(aligned(v, i, n))),
                    None => b.append_nulls(n),
                }
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
    match v {
        Some(v) => Arc::new(StringArray::new_repeated(v, n)),
        None => new_null_array(&DataType::Utf8, n),
    }
}

fn links_array(links: Option<&AlignedLinks>, starts: &[DateTime<Utc>]) -> ArrayRef {
    let fields = link_fields();
    let item = Arc::new(Field::new("item", DataType::Struct(fields.clone()), true));
    let Some((links, buckets)) = links else {
        return Arc::new(ListArray::new_null(item, starts.len()));
    };
    let n = links
        .iter()
        .map(|l| series_len(&l.metric))
        .max()
        .unwrap_or(0);
    // Each link's series, looked up once.
    let series: Vec<[Option<&[Option<i64>]>; LINK_METRICS.len()]> = links
        .iter()
        .map(|l| LINK_METRICS.map(|m| l.metric.series.get(m).map(Vec::as_slice)))
        .collect();
    let entries = starts.len() * links.len();
    let mut ids = Int64Builder::with_capacity(entries);
    let mut hrefs = StringBuilder::new();
    let mut values: [Int64Builder; LINK_METRICS.len()] =
        std::array::from_fn(|_| Int64Builder::with_capacity(entries));
    for t in starts {
        let bucket = buckets.index.get(&t.timestamp()).copied();
        for (l, s) in links.iter().zip(&series) {
            ids.append_value(l.link.id);
            hrefs.append_option(l.link.href.as_deref());
            for (b, v) in values.iter_mut().zip(s) {
                b.append_option(bucket.zip(*v).and_then(|(i, v)| aligned(v, i, n)));
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(ids.finish()), Arc::new(hrefs.finish())];
    columns.extend(values.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    let entries = StructArray::new(fields, columns, None);
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(links.len(), starts.len()));
    Arc::new(ListArray::new(item, offsets, Arc::new(entries), None))
}

/// The answers of one item already at hand (saved bodies, a bench's pages), decoded as a scan
/// decodes them. Not part of the API.
#[doc(hidden)]
pub mod local {
    use super::*;
    use crate::client::decode_body;

    /// Decodes the answers of the items of one report, as one scan does (sharing what a scan's
    /// items share).
    #[derive(Debug)]
    pub struct ItemDecoder {
        shared: Shared,
    }

    impl ItemDecoder {
        /// A decoder of report `kind` of `workspace` with `options`: every column, the links
        /// column only `with_links`.
        pub fn new(
            kind: MetricKind,
            workspace: &str,
            options: &MetricOptions,
            with_links: bool,
        ) -> Self {
            let projection: Vec<usize> = (0..schema(kind).fields().len())
                .filter(|c| with_links || *c != LINKS_COLUMN)
                .collect();
            let request = ReadRequest::detached(projection);
            ItemDecoder {
                shared: Shared::new(kind, workspace.to_string(), options.clone(), request),
            }
        }

        /// The rows of campaign or newsletter `id` (`name`, `kind`; no segments) from the body
        /// of its metrics answer and of its link metrics answer (needed `with_links`), at `now`.
        pub fn decode(
            &self,
            (id, name, item_kind): (i64, Option<String>, Option<String>),
            metrics: &[u8],
            links: Option<&[u8]>,
            now: DateTime<Utc>,
        ) -> Result<RecordBatch> {
            let shared = &self.shared;
            let item = Item {
                id,
                name,
                kind: item_kind,
                segments: vec![vec![]; segment_columns(shared.kind).len()],
            };
            let path = format!("/v1/{}/{id}/metrics", shared.kind.plural());
            let malformed = |path: &str, e: crate::client::BodyError| Error::Malformed {
                endpoint: format!("GET {path}"),
                detail: e.to_string(),
            };
            let resp: MetricsResponse = decode_body(metrics).map_err(|e| malformed(&path, e))?;
            let starts = series_starts(shared, &resp, now, None, &path)?;
            let links = match (shared.want_links, links) {
                (true, Some(body)) => {
                    let resp: LinksResponse =
                        decode_body(body).map_err(|e| malformed(&format!("{path}/links"), e))?;
                    Some(align_links(shared, resp.links, now))
                }
                (true, None) => {
                    return Err(Error::option(
                        "links",
                        "the links column is projected: give the link metrics answer",
                    ));
                }
                (false, _) => None,
            };
            build_batch(shared, &item, &starts.starts, &resp.metric, links.as_ref())
        }
    }
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
    fn v2_start_in_go_and_rfc3339_forms_is_one_instant() {
        let want = parse_go_time("2026-01-01 00:00:00 +0000 UTC").unwrap();
        for s in [
            "2025-12-31 19:00:00 -0500 EST",
            "2026-01-01 00:00:00.000 +0000 UTC",
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T00:00:00Z",
            "2025-12-31T19:00:00.000-05:00",
            " 2025-12-31T19:00:00-05:00 ",
        ] {
            assert_eq!(parse_go_time(s), Some(want), "{s}");
        }
        assert!(parse_go_time("2026-01-01").is_none());
    }

    #[test]
    fn v2_end_is_now_and_inside_the_current_bucket() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let current = at("2026-11-26T05:00:00Z");
        assert_eq!(
            v2_end(current, at("2026-11-26T15:30:00Z")),
            at("2026-11-26T15:30:00Z").timestamp()
        );
        // At the bucket's first instant, a second past it, not the bucket's start.
        assert_eq!(v2_end(current, current), current.timestamp() + 1);
        assert_eq!(
            v2_end(current, at("2026-11-26T05:00:00.400Z")),
            current.timestamp() + 1
        );
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
    fn version_1_buckets_end_with_the_servers_day_or_the_local_one_without_a_date() {
        let options = MetricOptions {
            steps: 2,
            ..MetricOptions::default()
        };
        let shared = Shared::new(
            MetricKind::Newsletters,
            "w".into(),
            options,
            ReadRequest::detached(vec![6]),
        );
        let mut resp: MetricsResponse =
            serde_json::from_str(r#"{"metric":{"series":{}}}"#).unwrap();
        resp.metric
            .series
            .insert("sent".into(), vec![Some(1), Some(2), Some(3)]);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        // The connector at 23:50 EST on 26 November, the server at 00:10 EST on the 27th.
        let local = t("2026-11-27T04:50:00Z");
        let server = Some(t("2026-11-27T05:10:00Z"));
        let starts = |server_now| {
            series_starts(
                &shared,
                &resp,
                local,
                server_now,
                "/v1/newsletters/1/metrics",
            )
            .unwrap()
            .starts
            .iter()
            .map(|s| s.to_rfc3339())
            .collect::<Vec<_>>()
        };
        assert_eq!(
            starts(server),
            [
                "2026-11-25T05:00:00+00:00",
                "2026-11-26T05:00:00+00:00",
                "2026-11-27T05:00:00+00:00"
            ]
        );
        assert_eq!(
            starts(None),
            [
                "2026-11-24T05:00:00+00:00",
                "2026-11-25T05:00:00+00:00",
                "2026-11-26T05:00:00+00:00"
            ]
        );
    }

    /// `ItemReads` over ids, each read pending once, then bringing 8 rows (id 0: none; a negative
    /// id: an error); `started` counts the reads begun.
    fn item_reads(
        items: Vec<Result<ItemRef>>,
        limit: Option<usize>,
        started: Arc<std::sync::atomic::AtomicUsize>,
    ) -> BoxStream<'static, Result<RecordBatch>> {
        let read = move |item: ItemRef| {
            let started = started.clone();
            async move {
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
                let ItemRef::Id(id) = item else {
                    unreachable!("the tests give ids")
                };
                match id {
                    0 => Ok(None),
                    id if id < 0 => Err(Error::Api {
                        endpoint: format!("GET /v1/campaigns/{id}/metrics"),
                        status: 400,
                        detail: "bad".into(),
                    }),
                    _ => {
                        let column: ArrayRef = Arc::new(Int64Array::from(vec![id; 8]));
                        Ok(Some(RecordBatch::try_from_iter([("id", column)]).unwrap()))
                    }
                }
            }
        };
        ItemReads {
            items: stream::iter(items).boxed().fuse(),
            running: FuturesUnordered::new(),
            read,
            concurrency: 4,
            limit,
            rows_per_item: 8,
            delivered: 0,
        }
        .boxed()
    }

    fn ids(ids: &[i64]) -> Vec<Result<ItemRef>> {
        ids.iter().map(|&id| Ok(ItemRef::Id(id))).collect()
    }

    /// Reads batches as DataFusion's limit does: until `limit` rows, then drops the stream.
    async fn take_rows(
        mut batches: BoxStream<'static, Result<RecordBatch>>,
        limit: usize,
    ) -> usize {
        let mut rows = 0;
        while rows < limit {
            match batches.next().await {
                Some(batch) => rows += batch.unwrap().num_rows(),
                None => break,
            }
        }
        rows
    }

    #[tokio::test]
    async fn a_limit_starts_only_the_items_it_needs() {
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let batches = item_reads(ids(&[0, 1, 2, 3, 4, 5]), Some(10), started.clone());
        assert_eq!(take_rows(batches, 10).await, 16);
        // 0 and 1 at first (8 rows on their way from 1 would leave 2 short); 0 brought none, so 2
        // then; with 1's 8 rows in and 2's on the way, nothing more.
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn without_a_limit_every_item_is_read() {
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let batches: Vec<RecordBatch> = item_reads(ids(&[0, 1, 2, 3, 4, 5]), None, started.clone())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 40);
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn errors_of_the_list_and_of_a_read_end_the_stream_as_errors() {
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let list_error = Error::Api {
            endpoint: "GET /v1/newsletters".into(),
            status: 400,
            detail: "bad page".into(),
        };
        let items = vec![Ok(ItemRef::Id(1)), Err(list_error), Ok(ItemRef::Id(2))];
        let result: Result<Vec<RecordBatch>> =
            item_reads(items, None, started.clone()).try_collect().await;
        assert!(result.unwrap_err().to_string().contains("/v1/newsletters"));

        for limit in [None, Some(100)] {
            let result: Result<Vec<RecordBatch>> =
                item_reads(ids(&[1, -2, 3]), limit, started.clone())
                    .try_collect()
                    .await;
            assert!(
                result
                    .unwrap_err()
                    .to_string()
                    .contains("/v1/campaigns/-2/metrics")
            );
        }
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

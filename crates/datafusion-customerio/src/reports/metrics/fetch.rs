//! The API calls of the metric reports: listing the items (or fetching pushed-down ids), and per
//! item its metrics and, when `links` is projected, its link metrics.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;

use super::buckets::BucketList;
use super::builders::build_batch;
use super::query::{links_query, metrics_query};
use super::series::{align_links, series_starts, server_now};
use super::{CAMPAIGNS, MetricKind, MetricsApi, NEWSLETTERS, Shared};
use crate::client::models::{
    Campaign, CampaignEnvelope, CampaignList, LinkMetrics, LinksResponse, MetricsResponse,
    Newsletter, NewsletterEnvelope, NewsletterPage, Series,
};
use crate::client::pagination::{PageRequest, paginate, prefetch};
use crate::error::{Error, Result};

/// A campaign or newsletter: what the row's identity columns need.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) id: i64,
    pub(super) name: Option<String>,
    pub(super) kind: Option<String>,
    /// The segment-id columns after `links`, in schema order.
    pub(super) segments: Vec<Vec<i64>>,
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

/// An item to read: an id still to fetch (pushed down), or one already listed.
pub(super) enum ItemRef {
    Id(i64),
    Known(Item),
}

pub(super) fn list_items(shared: &Arc<Shared>) -> BoxStream<'static, Result<ItemRef>> {
    let client = shared.request.client.clone();
    let stats = shared.request.stats.clone();
    match shared.kind {
        MetricKind::Campaigns => stream::once(async move {
            let list: CampaignList = client.get(CAMPAIGNS.path, &[], &stats).await?;
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
                path: NEWSLETTERS.path.into(),
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
pub(super) async fn read_item(shared: &Shared, item: ItemRef) -> Result<Option<RecordBatch>> {
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
            let path = format!("{}/{}/metrics/links", shared.kind.facts().path, item.id);
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
                .get(&format!("{}/{id}", CAMPAIGNS.path), &[], stats)
                .await?;
            Ok(c.campaign.into())
        }
        MetricKind::Newsletters => {
            let n: NewsletterEnvelope = client
                .get(&format!("{}/{id}", NEWSLETTERS.path), &[], stats)
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
    let path = format!("{}/{id}/metrics", shared.kind.facts().path);
    let query = metrics_query(shared.kind, o, now);
    let dated = client
        .get_dated::<MetricsResponse>(&path, &query, stats)
        .await?;
    let resp = dated.value;
    let server_now = match shared.kind.facts().metrics_api {
        MetricsApi::V1 => server_now(shared, dated.server_date, now, &path)?,
        MetricsApi::V2 => None,
    };
    let starts = series_starts(shared, &resp, now, server_now, &path)?;
    Ok((starts, resp.metric))
}

/// One item's link series, and the server's time of the answer (its `Date`), which their
/// version-1 buckets end at.
async fn fetch_links(
    shared: &Shared,
    id: i64,
) -> Result<(Vec<LinkMetrics>, Option<DateTime<Utc>>)> {
    let o = &shared.options;
    let path = format!("{}/{id}/metrics/links", shared.kind.facts().path);
    let query = links_query(o);
    let dated = shared
        .request
        .client
        .get_dated::<LinksResponse>(&path, &query, &shared.request.stats)
        .await?;
    Ok((dated.value.links, dated.server_date))
}

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
use super::{CAMPAIGNS, Listing, MetricKind, MetricsApi, NEWSLETTERS, Shared};
use crate::client::models::{
    Campaign, CampaignEnvelope, CampaignList, LinkMetrics, LinksResponse, MetricsResponse,
    Newsletter, NewsletterEnvelope, NewsletterPage, Series,
};
use crate::client::pagination::{PageRequest, paginate, prefetch};
use crate::error::{Error, Result};
use crate::reports::objects::listing;

/// A campaign or newsletter: what the row's identity columns need.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) id: i64,
    pub(super) name: Option<String>,
    pub(super) kind: Option<String>,
    /// The segment-id columns after `links`, in schema order.
    pub(super) segments: Vec<Vec<i64>>,
    /// The item's other fields, for the attribute columns.
    pub(super) attributes: std::sync::Arc<serde_json::Value>,
    /// The parent's id, for items below one (actions, variants).
    pub(super) parent: Option<i64>,
}

impl Item {
    /// An item of a JSON listing (`id` an integer or a string of digits), below `parent`,
    /// whose id is also written in the item as `parent_key` (the attribute column reads it).
    fn from_json(
        endpoint: &str,
        value: serde_json::Value,
        parent: Option<(i64, &str)>,
    ) -> Result<Item> {
        let malformed = |detail: String| Error::Malformed {
            endpoint: endpoint.to_string(),
            detail,
        };
        let serde_json::Value::Object(mut fields) = value else {
            return Err(malformed(format!("an item is {value}, expected an object")));
        };
        let id = match fields.get("id") {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            malformed(format!(
                "an item's `id` is {}, expected an integer (or a string of digits)",
                fields.get("id").map_or("missing".into(), |v| v.to_string())
            ))
        })?;
        let text = |fields: &serde_json::Map<String, serde_json::Value>, key: &str| match fields
            .get(key)
        {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(malformed(format!(
                "item {id}: `{key}` is {other}, expected a string"
            ))),
        };
        let name = text(&fields, "name")?;
        let kind = text(&fields, "type")?;
        if let Some((p, key)) = parent {
            fields.insert(key.to_string(), serde_json::Value::from(p));
        }
        Ok(Item {
            id,
            name,
            kind,
            segments: Vec::new(),
            attributes: std::sync::Arc::new(serde_json::Value::Object(fields)),
            parent: parent.map(|(p, _)| p),
        })
    }
}

impl From<Campaign> for Item {
    fn from(c: Campaign) -> Self {
        let segments = vec![c.trigger_segment_ids, c.filter_segment_ids];
        Item {
            id: c.id,
            name: c.name,
            kind: c.kind,
            segments,
            attributes: std::sync::Arc::new(serde_json::Value::Object(c.attributes)),
            parent: None,
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
            attributes: std::sync::Arc::new(serde_json::Value::Object(n.attributes)),
            parent: None,
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
    match shared.kind.facts().listing {
        Listing::Campaigns => stream::once(async move {
            let list: CampaignList = client.get(CAMPAIGNS.path, &[], &stats).await?;
            Ok::<_, Error>(stream::iter(
                list.campaigns
                    .into_iter()
                    .map(|c| Ok(ItemRef::Known(c.into()))),
            ))
        })
        .try_flatten()
        .boxed(),
        Listing::Newsletters => {
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
        Listing::Json(endpoint) => stream::once(async move {
            let items = listing(&client, &stats, endpoint, None, false).await?;
            let name = format!("GET {} ({})", endpoint.path, endpoint.operation);
            let items: Vec<Result<ItemRef>> = items
                .into_iter()
                .map(|v| Item::from_json(&name, v, None).map(ItemRef::Known))
                .collect();
            Ok::<_, Error>(stream::iter(items))
        })
        .try_flatten()
        .boxed(),
        Listing::PerParent { parents, each } => {
            let parent_key = shared.kind.parent_key();
            stream::once(async move {
                let listed = listing(&client, &stats, parents, None, false).await?;
                let name = format!("GET {} ({})", parents.path, parents.operation);
                let ids: Vec<i64> = listed
                    .into_iter()
                    .map(|v| Item::from_json(&name, v, None).map(|i| i.id))
                    .collect::<Result<_>>()?;
                Ok::<_, Error>(stream::iter(ids).then(move |parent| {
                    let (client, stats) = (client.clone(), stats.clone());
                    async move {
                        // A parent gone since the listing (404) has no items.
                        let items =
                            listing(&client, &stats, each, Some(parent.to_string()), true).await?;
                        let name = format!("GET {} ({})", each.path, each.operation);
                        let items: Vec<Result<ItemRef>> = items
                            .into_iter()
                            .map(|v| {
                                Item::from_json(&name, v, Some((parent, parent_key)))
                                    .map(ItemRef::Known)
                            })
                            .collect();
                        Ok::<_, Error>(stream::iter(items))
                    }
                }))
            })
            .try_flatten()
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
    let metrics = fetch_metrics(shared, &item, now);
    let links = async {
        if shared.want_links {
            fetch_links(shared, &item).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let ((starts, series), links) = futures::try_join!(metrics, links)?;
    let links = match links {
        Some((l, date, cached)) => {
            let path = format!(
                "{}/metrics/links",
                shared.kind.item_path(item.id, item.parent)
            );
            let server_now = server_now(shared, date, cached, now, &path)?;
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
        // The others are found in their one-request listing.
        _ => {
            let Listing::Json(endpoint) = shared.kind.facts().listing else {
                return Err(Error::Malformed {
                    endpoint: shared.kind.facts().path.to_string(),
                    detail: "items below a parent cannot be read by id".into(),
                });
            };
            let name = format!("GET {} ({})", endpoint.path, endpoint.operation);
            for v in listing(client, stats, endpoint, None, false).await? {
                let item = Item::from_json(&name, v, None)?;
                if item.id == id {
                    return Ok(item);
                }
            }
            Err(Error::Api {
                endpoint: name,
                status: 404,
                detail: format!("no item {id} in the listing"),
            })
        }
    }
}

/// The bucket starts and the series of one item. The query's window is the connector's (`now`);
/// version-1 buckets are labelled from the server's time (the answer's `Date`).
async fn fetch_metrics(
    shared: &Shared,
    item: &Item,
    now: DateTime<Utc>,
) -> Result<(Arc<BucketList>, Series)> {
    let o = &shared.options;
    let (client, stats) = (&shared.request.client, &shared.request.stats);
    let path = format!("{}/metrics", shared.kind.item_path(item.id, item.parent));
    let query = metrics_query(shared.kind, o, now);
    // Version 2's `end` is now, inside the current bucket: every `end` in it, with the same
    // `start`, asks for the same buckets, so the cache key holds the current bucket's start in
    // its place (the answer cached is at most `cache_ttl` old, as any other).
    let client = match shared.kind.facts().metrics_api {
        MetricsApi::V2 => {
            let current = o.period.v1_buckets(o.steps, now);
            let current = current.last().map_or(0, |t| t.timestamp());
            client
                .clone()
                .with_cache_key_value("end", current.to_string())
        }
        MetricsApi::V1 => client.clone(),
    };
    let dated = client
        .get_dated::<MetricsResponse>(&path, &query, stats)
        .await?;
    let resp = dated.value;
    let server_now = match shared.kind.facts().metrics_api {
        MetricsApi::V1 => server_now(shared, dated.server_date, dated.cached, now, &path)?,
        MetricsApi::V2 => None,
    };
    let starts = series_starts(shared, &resp, now, server_now, &path)?;
    Ok((starts, resp.metric))
}

/// One item's link series, the server's time of the answer (its `Date`), which their
/// version-1 buckets end at, and whether the answer was held in the response cache.
async fn fetch_links(
    shared: &Shared,
    item: &Item,
) -> Result<(Vec<LinkMetrics>, Option<DateTime<Utc>>, bool)> {
    let o = &shared.options;
    let path = format!(
        "{}/metrics/links",
        shared.kind.item_path(item.id, item.parent)
    );
    let query = links_query(shared.kind, o);
    let dated = shared
        .request
        .client
        .get_dated::<LinksResponse>(&path, &query, &shared.request.stats)
        .await?;
    Ok((dated.value.links, dated.server_date, dated.cached))
}

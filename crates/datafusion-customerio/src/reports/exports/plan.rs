//! Which exports a scan runs: one per segment of `customers_export`; for `deliveries_export`
//! one for the selector, or one per campaign and newsletter, spread over distributed tasks by
//! a unit derived from the id.

use futures::TryStreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use super::Shared;
use crate::client::models::{CampaignList, NewsletterPage};
use crate::client::pagination::{PageRequest, paginate};
use crate::error::{Error, Result};
use crate::options::{DeliverySelector, SegmentRef, check_window};

/// One export to run, with the prefix values of its rows.
#[derive(Debug, Clone)]
pub(super) struct Job {
    /// Which distributed task runs it ([`crate::reports::Shard::owns`]): the segment's place in `segments`, or
    /// a number derived from the campaign's or newsletter's id, so that every task assigns a
    /// job the same way even if another campaign was created between their listings.
    pub unit: usize,
    pub kind: &'static str,
    pub body: Value,
    /// For messages: what the export is of.
    pub what: String,
    /// `customers_export`: the segment.
    pub segment: Option<(i64, String)>,
}

/// One export per segment; segment names are resolved first, and an unknown name fails before
/// any export starts.
pub(super) async fn customer_jobs(shared: &Shared) -> Result<Vec<Job>> {
    let o = &shared.options;
    let attributes = json!(o.attributes);
    if o.segments.is_empty() {
        let body = json!({
            "filters": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]},
            "attributes": attributes,
        });
        return Ok(vec![Job {
            unit: 0,
            kind: "customers",
            body,
            what: "every person".into(),
            segment: None,
        }]);
    }
    let segments =
        crate::reports::segments::list(&shared.request.client, &shared.request.stats).await?;
    let mut jobs = Vec::new();
    for (unit, wanted) in o.segments.iter().enumerate() {
        let found = segments.iter().find(|s| match wanted {
            SegmentRef::Id(id) => s.id == *id,
            SegmentRef::Name(n) => s.name.as_deref() == Some(n.as_str()),
        });
        let Some(seg) = found else {
            let mut names: Vec<String> = segments
                .iter()
                .map(|s| format!("'{}' ({})", s.name.as_deref().unwrap_or(""), s.id))
                .collect();
            names.sort();
            let asked = match wanted {
                SegmentRef::Id(id) => format!("id {id}"),
                SegmentRef::Name(n) => format!("'{n}'"),
            };
            return Err(Error::option(
                "segments",
                format!(
                    "option segments: no segment {asked} in workspace {}; the segments are {}",
                    shared.workspace,
                    names.join(", ")
                ),
            ));
        };
        let name = seg.name.clone().unwrap_or_default();
        jobs.push(Job {
            unit,
            kind: "customers",
            body: json!({"filters": {"and": [{"segment": {"id": seg.id}}]}, "attributes": attributes}),
            what: format!("segment '{name}' ({})", seg.id),
            segment: Some((seg.id, name)),
        });
    }
    Ok(jobs)
}

/// One export for the selector, or one per campaign and newsletter when there is none.
pub(super) async fn delivery_jobs(shared: &Shared) -> Result<Vec<Job>> {
    let o = &shared.options;
    let now = shared.request.clock.now();
    // The table's window, narrowed by `created` filters of the query.
    let mut start = o.start.map(|s| s.resolve(now));
    let mut end = o.end.map(|e| e.resolve(now));
    if let Some((lo, hi)) = &shared.request.window {
        if let Some(lo) = lo {
            start = Some(start.map_or(*lo, |s| s.max(*lo)));
        }
        if let Some(hi) = hi {
            end = Some(end.map_or(*hi, |e| e.min(*hi)));
        }
    }
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        return Ok(vec![]);
    }
    check_window(
        start.map(crate::options::TimeSpec::At),
        end.map(crate::options::TimeSpec::At),
        now,
    )?;
    let mut base = serde_json::Map::new();
    if let Some(s) = start {
        base.insert("start".into(), json!(s.timestamp()));
    }
    if let Some(e) = end {
        base.insert("end".into(), json!(e.timestamp()));
    }
    if !o.attributes.is_empty() {
        base.insert("attributes".into(), json!(o.attributes));
    }
    if let Some(m) = &o.metric {
        base.insert("metric".into(), json!(m));
    }
    if o.drafts {
        base.insert("drafts".into(), json!(true));
    }
    let selectors: Vec<(&str, i64)> = match o.selector {
        Some(DeliverySelector::Campaign(id)) => vec![("campaign_id", id)],
        Some(DeliverySelector::Newsletter(id)) => vec![("newsletter_id", id)],
        Some(DeliverySelector::Action(id)) => vec![("action_id", id)],
        Some(DeliverySelector::Transactional(id)) => vec![("transactional_message_id", id)],
        None => {
            let (client, stats) = (&shared.request.client, &shared.request.stats);
            let campaigns: CampaignList = client.get("/v1/campaigns", &[], stats).await?;
            let page = PageRequest {
                method: Method::GET,
                path: "/v1/newsletters".into(),
                query: vec![("limit", "100".into())],
                body: None,
            };
            let newsletters: Vec<Vec<_>> =
                paginate::<NewsletterPage>(client.clone(), page, stats.clone())
                    .try_collect()
                    .await?;
            campaigns
                .campaigns
                .iter()
                .map(|c| ("campaign_id", c.id))
                .chain(
                    newsletters
                        .iter()
                        .flatten()
                        .map(|n| ("newsletter_id", n.id)),
                )
                .collect()
        }
    };
    Ok(selectors
        .into_iter()
        .map(|(key, id)| {
            let mut body = base.clone();
            body.insert(key.into(), json!(id));
            Job {
                unit: delivery_unit(id, key == "newsletter_id"),
                kind: "deliveries",
                body: Value::Object(body),
                what: format!("{key} {id}"),
                segment: None,
            }
        })
        .collect())
}

/// The unit of a deliveries export of campaign or newsletter `id`: derived from the id, so that
/// every task that lists them assigns a job to the same shard, and mixed (splitmix64), so that
/// ids of any pattern (all even, campaigns only, ...) spread over the shards.
fn delivery_unit(id: i64, newsletter: bool) -> usize {
    let mut z = (id as u64)
        .wrapping_mul(2)
        .wrapping_add(u64::from(newsletter));
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_spread_over_shards_whatever_the_ids() {
        // Campaigns only, all ids even, or both kinds: every shard of 2, 3 and 4 gets a share
        // near its own, and the unit depends only on the id and the kind.
        let cases: [Vec<(i64, bool)>; 3] = [
            (1..=40).map(|id| (id, false)).collect(),
            (1..=40).map(|id| (id * 2, false)).collect(),
            (1..=20).flat_map(|id| [(id, false), (id, true)]).collect(),
        ];
        for jobs in &cases {
            for count in 2..=4 {
                let mut per_shard = vec![0; count];
                for &(id, newsletter) in jobs {
                    per_shard[delivery_unit(id, newsletter) % count] += 1;
                }
                let fair = jobs.len() / count;
                assert!(
                    per_shard.iter().all(|&n| n >= fair / 2 && n <= fair * 2),
                    "{count} shards: {per_shard:?}"
                );
            }
        }
        assert_eq!(delivery_unit(7, false), delivery_unit(7, false));
        assert_ne!(delivery_unit(7, false), delivery_unit(7, true));
    }
}

//! Response models, as the live API sends them (see API-NOTES.md). Only the fields the tables read
//! are typed; lists tolerate `null` where the live API sends it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// `null` or a missing field as an empty list.
pub fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A campaign (automation) as `GET /v1/campaigns` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Campaign {
    /// The campaign id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// The trigger type (`segment`, `event`, ...).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// `GET /v1/campaigns`.
#[derive(Debug, Deserialize)]
pub struct CampaignList {
    /// Every campaign of the workspace.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub campaigns: Vec<Campaign>,
}

/// `GET /v1/campaigns/{id}`.
#[derive(Debug, Deserialize)]
pub struct CampaignEnvelope {
    /// The campaign.
    pub campaign: Campaign,
}

/// A newsletter (one-time send).
#[derive(Debug, Clone, Deserialize)]
pub struct Newsletter {
    /// The newsletter id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its channel (`email`, `push`, ...).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A page of `GET /v1/newsletters`.
#[derive(Debug, Deserialize)]
pub struct NewsletterPage {
    /// This page's newsletters.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub newsletters: Vec<Newsletter>,
    /// The cursor of the next page; `""`, `null` or missing on the last.
    #[serde(default)]
    pub next: Option<String>,
}

/// `GET /v1/newsletters/{id}`.
#[derive(Debug, Deserialize)]
pub struct NewsletterEnvelope {
    /// The newsletter.
    pub newsletter: Newsletter,
}

/// A metric series: name to one value per bucket, oldest first.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Series {
    /// The series by metric name. A `null` value is kept as a missing number.
    #[serde(default)]
    pub series: BTreeMap<String, Vec<Option<i64>>>,
}

/// `GET /v1/campaigns/{id}/metrics` and `GET /v1/newsletters/{id}/metrics`.
#[derive(Debug, Deserialize)]
pub struct MetricsResponse {
    /// Version 2: the first bucket's start, Go `time.Time` format.
    #[serde(default)]
    pub start: Option<String>,
    /// Version 2: the resolution.
    #[serde(default)]
    pub res: Option<String>,
    /// The series.
    #[serde(default)]
    pub metric: Series,
}

/// A tracked link.
#[derive(Debug, Clone, Deserialize)]
pub struct Link {
    /// The link id.
    pub id: i64,
    /// Its URL.
    #[serde(default)]
    pub href: Option<String>,
}

/// One link's series.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkMetrics {
    /// The link.
    pub link: Link,
    /// Its `clicked`, `human_clicked` and `machine_clicked` series.
    #[serde(default)]
    pub metric: Series,
}

/// `GET /v1/{campaigns|newsletters}/{id}/metrics/links`.
#[derive(Debug, Deserialize)]
pub struct LinksResponse {
    /// Every link's series.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub links: Vec<LinkMetrics>,
}

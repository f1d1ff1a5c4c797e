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

/// A string, or a number sent where the spec example has one (`"id": 1`), as a string.
pub fn string_or_number<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// A person's identifiers.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Identifiers {
    /// The workspace's own id (nullable).
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: Option<String>,
    /// The email (nullable).
    #[serde(default, deserialize_with = "string_or_number")]
    pub email: Option<String>,
    /// Customer.io's id.
    #[serde(default, deserialize_with = "string_or_number")]
    pub cio_id: Option<String>,
}

/// A page of `POST /v1/customers` (search).
#[derive(Debug, Deserialize)]
pub struct SearchPage {
    /// The people of this page.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub identifiers: Vec<Identifiers>,
    /// The next cursor; `""`, `null` or missing on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

impl super::pagination::Page for SearchPage {
    type Item = Identifiers;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>) {
        (self.identifiers, self.next)
    }
}

/// A device of a person.
#[derive(Debug, Clone, Deserialize)]
pub struct Device {
    /// The device token.
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: Option<String>,
    /// `ios`, `android`, ...
    #[serde(default)]
    pub platform: Option<String>,
    /// Last use, unix seconds.
    #[serde(default)]
    pub last_used: Option<i64>,
}

/// One person of `POST /v1/customers/attributes` (the live, unwrapped shape).
#[derive(Debug, Clone, Deserialize)]
pub struct Person {
    /// Identifiers.
    #[serde(default)]
    pub identifiers: Identifiers,
    /// Every attribute; values are strings live, other JSON is kept as its text.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// When each attribute was last set, unix seconds.
    #[serde(default)]
    pub timestamps: BTreeMap<String, Option<i64>>,
    /// Unsubscribed from messages.
    #[serde(default)]
    pub unsubscribed: Option<bool>,
    /// Devices.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub devices: Vec<Device>,
}

/// `POST /v1/customers/attributes`.
#[derive(Debug, Deserialize)]
pub struct PeopleResponse {
    /// The people found (unknown ids are left out).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub customers: Vec<Person>,
}

/// A segment of `GET /v1/segments`.
#[derive(Debug, Clone, Deserialize)]
pub struct Segment {
    /// The segment id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// `finished`, `building`, ...
    #[serde(default)]
    pub state: Option<String>,
    /// `dynamic` or `manual`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Build progress, while building.
    #[serde(default)]
    pub progress: Option<i64>,
    /// Tags.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
    /// `id:updated`.
    #[serde(default)]
    pub deduplicate_id: Option<String>,
}

/// `GET /v1/segments`.
#[derive(Debug, Deserialize)]
pub struct SegmentList {
    /// Every segment (archived ones are left out by the API).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub segments: Vec<Segment>,
}

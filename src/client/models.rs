//! Response models, as the live API sends them (see API-NOTES.md). Only the fields the tables read
//! are typed; lists tolerate `null` where the live API sends it.

use std::collections::BTreeMap;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::reports::metrics::SERIES_METRICS;

/// `null` or a missing field as an empty list.
pub fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `null` or a missing field as the type's default (an empty map, an empty series).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The series of the metrics the tables have columns for ([`SERIES_METRICS`]); any other key is
/// skipped whatever its JSON type (a metric added to the API later must not fail the query). A
/// known metric must be a list of whole numbers or `null`s (`null` as a whole: absent); anything
/// else is an error at its JSON path. `null` for the whole map: no series.
fn known_series<'de, D>(d: D) -> Result<BTreeMap<String, Vec<Option<i64>>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Known;
    impl<'de> Visitor<'de> for Known {
        type Value = BTreeMap<String, Vec<Option<i64>>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of metric names to lists of whole numbers")
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(Known)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                if SERIES_METRICS.contains(&name.as_str()) {
                    if let Some(values) = map.next_value::<Option<Vec<Option<i64>>>>()? {
                        out.insert(name, values);
                    }
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(out)
        }
    }
    d.deserialize_option(Known)
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
    /// Segments whose entry triggers the campaign.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub trigger_segment_ids: Vec<i64>,
    /// Segments that filter the campaign's audience.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub filter_segment_ids: Vec<i64>,
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
    /// The segments it is sent to.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub recipient_segment_ids: Vec<i64>,
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
    /// The series by metric name, only the [`SERIES_METRICS`] (others are dropped). A `null`
    /// value is kept as a missing number.
    #[serde(default, deserialize_with = "known_series")]
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
    /// The series (`null`: none).
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// Its `clicked`, `human_clicked` and `machine_clicked` series (`null`: none).
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// Identifiers (`null`: none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub identifiers: Identifiers,
    /// Every attribute; values are strings live, other JSON is kept as its text (`null`: none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// When each attribute was last set, unix seconds (`null`: none).
    #[serde(default, deserialize_with = "null_as_default")]
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

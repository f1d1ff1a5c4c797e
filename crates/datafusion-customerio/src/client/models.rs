//! Response models, as the live API sends them (see API-NOTES.md). Only the fields the tables read
//! are typed; lists tolerate `null` where the live API sends it.
//!
//! The field that carries an answer's data (`metric` and its `series`, `customers`,
//! `identifiers`, `links`, `campaigns`, `newsletters`, `segments`, `export`) is required: an
//! answer without it is of another shape, and fails at its JSON path rather than read as no rows.
//! `null` there is read as empty (the API is written in Go, whose nil lists and maps encode as
//! `null`; the notes document it for lists), and `next` may be missing or `null`.

use std::collections::BTreeMap;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::api::SERIES_METRICS;

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
/// else is an error at its JSON path. `null` or `{}` for the whole map: no series (the report
/// gives NULL values for the buckets asked for). A map with keys but none of the known metrics
/// is of another shape (renamed metrics, another report's answer) and is an error naming the
/// known metrics, rather than read as no values.
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
            // Series have one length: each list is made with room for the one before it (the
            // first for 64 values: the default 45 steps make 46).
            let mut capacity = 64;
            let mut known = false;
            // The first few other keys, for the error of a map without a known metric.
            let mut others: Vec<String> = Vec::new();
            let mut other_count = 0usize;
            while let Some(name) = map.next_key::<String>()? {
                if SERIES_METRICS.contains(&name.as_str()) {
                    known = true;
                    if let Some(values) = map.next_value_seed(SeriesSeed(capacity))? {
                        capacity = values.len();
                        out.insert(name, values);
                    }
                } else {
                    map.next_value::<IgnoredAny>()?;
                    other_count += 1;
                    if others.len() < 5 {
                        others.push(format!("`{}`", name.escape_debug()));
                    }
                }
            }
            if !known && other_count > 0 {
                let more = if other_count > others.len() {
                    format!(" and {} more", other_count - others.len())
                } else {
                    String::new()
                };
                return Err(serde::de::Error::custom(format!(
                    "expected a map with at least one of the known metrics ({}), or `{{}}` for \
                     none, got only other keys: {}{more}",
                    SERIES_METRICS.join(", "),
                    others.join(", ")
                )));
            }
            Ok(out)
        }
    }
    d.deserialize_option(Known)
}

/// `Option<Vec<Option<i64>>>`, the list made with room for this many values.
struct SeriesSeed(usize);

impl<'de> serde::de::DeserializeSeed<'de> for SeriesSeed {
    type Value = Option<Vec<Option<i64>>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct Values(usize);
        impl<'de> Visitor<'de> for Values {
            type Value = Option<Vec<Option<i64>>>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence")
            }

            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                d.deserialize_seq(self)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                // At most 4,096 values reserved on trust (a list is as long as its JSON).
                let hint = seq.size_hint().unwrap_or(self.0).min(4096);
                let mut out = Vec::with_capacity(hint);
                while let Some(v) = seq.next_element::<Option<i64>>()? {
                    out.push(v);
                }
                Ok(Some(out))
            }
        }
        d.deserialize_option(Values(self.0))
    }
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
    /// Every other field of the item (`state`, `active`, `tags`, `created`, ...), read by the
    /// attribute columns.
    #[serde(flatten)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// `GET /v1/campaigns`.
#[derive(Debug, Deserialize)]
pub struct CampaignList {
    /// Every campaign of the workspace (required; `null`: none).
    #[serde(deserialize_with = "null_as_empty")]
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
    /// Every other field of the item (`tags`, `created`, `sent_at`, ...), read by the attribute
    /// columns.
    #[serde(flatten)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A page of `GET /v1/newsletters`.
#[derive(Debug, Deserialize)]
pub struct NewsletterPage {
    /// This page's newsletters (required; `null`: none).
    #[serde(deserialize_with = "null_as_empty")]
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
    /// value is kept as a missing number. Required (`null`: no series).
    #[serde(deserialize_with = "known_series")]
    pub series: BTreeMap<String, Vec<Option<i64>>>,
}

/// `GET /v1/campaigns/{id}/metrics` and `GET /v1/newsletters/{id}/metrics`.
#[derive(Debug, Deserialize)]
pub struct MetricsResponse {
    /// Version 2: the first bucket's start, Go `time.Time` format (the spec's example) or
    /// RFC 3339 (the spec calls it ISO 8601).
    #[serde(default)]
    pub start: Option<String>,
    /// Version 2: the resolution.
    #[serde(default)]
    pub res: Option<String>,
    /// The series (required, an object: the spec documents no `null`, and a missing or `null`
    /// `metric` would otherwise read as a sender with no buckets, that is missing rows).
    pub metric: Series,
}

/// A tracked link.
#[derive(Debug, Clone, Deserialize)]
pub struct Link {
    /// The link id: a JSON number (the spec), or a string of digits (as live action ids are).
    #[serde(deserialize_with = "number_or_numeric_string")]
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
    /// Its `clicked`, `human_clicked` and `machine_clicked` series. Required: a link without
    /// `metric` is of another shape, and fails at its JSON path rather than read as NULL values;
    /// `null` (Go's nil) is read as no series, the link's values NULL.
    #[serde(deserialize_with = "null_as_default")]
    pub metric: Series,
}

/// `GET /v1/{campaigns|newsletters}/{id}/metrics/links`.
#[derive(Debug, Deserialize)]
pub struct LinksResponse {
    /// Every link's series (required; `null`: none).
    #[serde(deserialize_with = "null_as_empty")]
    pub links: Vec<LinkMetrics>,
}

/// A whole number sent as a JSON number or as a string of digits (`"25"`); anything else is an
/// error at its JSON path.
pub fn number_or_numeric_string<'de, D>(d: D) -> Result<i64, D::Error>
where
    D: Deserializer<'de>,
{
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_i64().ok_or_else(|| {
            serde::de::Error::custom(format!("expected a whole number (i64), got {n}"))
        }),
        serde_json::Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
            serde::de::Error::custom(format!(
                "expected a whole number or a string of digits, got the string \"{s}\""
            ))
        }),
        other => Err(serde::de::Error::custom(format!(
            "expected a whole number or a string of digits, got {other}"
        ))),
    }
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
    /// Customer.io's id: required, never `null` (the spec's `identifiers` require it, and every
    /// person has one). A person without it would be a row without its key, or, in a search,
    /// a person left out; it is an error at its JSON path instead.
    #[serde(deserialize_with = "required_cio_id")]
    pub cio_id: String,
}

/// Why a `cio_id` of `null` is refused.
const NULL_CIO_ID: &str =
    "expected Customer.io's id `cio_id` (a non-empty string, required for every person), got null";

/// Why a `cio_id` of `""` is refused.
const EMPTY_CIO_ID: &str = "expected Customer.io's id `cio_id` (a non-empty string, required \
     for every person), got \"\"";

/// `cio_id`: a non-empty string (or a number, as [`string_or_number`]); `null` and `""` are
/// errors.
fn required_cio_id<'de, D>(d: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    match string_or_number(d)? {
        None => Err(serde::de::Error::custom(NULL_CIO_ID)),
        Some(s) if s.is_empty() => Err(serde::de::Error::custom(EMPTY_CIO_ID)),
        Some(s) => Ok(s),
    }
}

/// A page of `POST /v1/customers` (search).
///
/// `ids` (legacy) lists the people of the page too: a page whose `identifiers` hold fewer people
/// than its `ids` cannot be read fully (the connector reads people by their `cio_id`, which only
/// `identifiers` have), and is an error rather than a page with people missing.
#[derive(Debug, Deserialize)]
#[serde(try_from = "RawSearchPage")]
pub struct SearchPage {
    /// The people of this page (required; `null`: none).
    pub identifiers: Vec<Identifiers>,
    /// The next cursor; `""`, `null` or missing on the last page.
    pub next: Option<String>,
}

/// A [`SearchPage`] as sent.
#[derive(Deserialize)]
struct RawSearchPage {
    #[serde(deserialize_with = "null_as_empty")]
    identifiers: Vec<Identifiers>,
    /// Only counted: `""` for a person without an id (Airbyte's live notes).
    #[serde(default, deserialize_with = "null_as_empty")]
    ids: Vec<IgnoredAny>,
    #[serde(default)]
    next: Option<String>,
}

impl TryFrom<RawSearchPage> for SearchPage {
    type Error = String;

    fn try_from(raw: RawSearchPage) -> Result<Self, Self::Error> {
        let (people, ids) = (raw.identifiers.len(), raw.ids.len());
        if ids > people {
            return Err(format!(
                "expected `identifiers` to hold every person `ids` lists (the people are read \
                 by their `identifiers[].cio_id`), got {people} in `identifiers` (empty or \
                 null counts as 0) and {ids} in `ids`"
            ));
        }
        Ok(SearchPage {
            identifiers: raw.identifiers,
            next: raw.next,
        })
    }
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

/// One person of `POST /v1/customers/attributes`: the live, unwrapped item, or the item the
/// 2022 spec documents, `{"customer": {...}}`; both are read.
#[derive(Debug, Clone)]
pub struct Person {
    /// Identifiers (`null`: none).
    pub identifiers: Identifiers,
    /// Every attribute; values are strings live, other JSON is kept as its text (`null`: none).
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// When each attribute was last set, unix seconds (`null`: none).
    pub timestamps: BTreeMap<String, Option<i64>>,
    /// Unsubscribed from messages.
    pub unsubscribed: Option<bool>,
    /// Devices.
    pub devices: Vec<Device>,
}

/// `POST /v1/customers/attributes`.
#[derive(Debug, Deserialize)]
pub struct PeopleResponse {
    /// The people found (unknown ids are left out). Required (`null`: none).
    #[serde(deserialize_with = "null_as_empty")]
    pub customers: Vec<Person>,
}

/// Why an item holds both shapes: `{"customer": {...}}` and fields of a bare person.
const BOTH_SHAPES: &str = "expected a person either bare (the live shape) or wrapped as \
     {\"customer\": {...}} (the documented example), got an item with `customer` and also \
     `identifiers`, `attributes`, `timestamps`, `unsubscribed` or `devices` of its own";

/// Why an item without a person is refused (`{}`, `{"customer": null}`, `{"person": {...}}`).
const NO_PERSON: &str = "expected a person with `identifiers` (an object with `cio_id`), bare \
     (the live shape) or wrapped as {\"customer\": {...}} (the documented example), got an item \
     without `identifiers` (missing or null)";

/// A people item as sent: a bare person, or one wrapped in `customer`. One type serves the owned
/// ([`Person`], [`OwnedItem`]) and the borrowed ([`PersonRef`], [`BorrowedItem`]) decodings:
/// the identifiers (`I`), attributes (`A`), timestamps (`T`) and devices (`V`) are parameters.
#[derive(Deserialize)]
#[serde(bound(
    deserialize = "I: Deserialize<'de>, A: MapField<'de>, T: MapField<'de>, V: Deserialize<'de>"
))]
struct RawPerson<I, A, T, V> {
    /// Required in the person (checked by [`RawPerson::person`]); `null`: none.
    #[serde(default)]
    identifiers: Option<I>,
    #[serde(default, deserialize_with = "MapField::decode")]
    attributes: A,
    #[serde(default, deserialize_with = "MapField::decode")]
    timestamps: T,
    #[serde(default)]
    unsubscribed: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    devices: Vec<V>,
    /// The person, when the item is wrapped.
    #[serde(default)]
    customer: Option<Box<RawPerson<I, A, T, V>>>,
}

/// A [`Person`] item as sent.
type OwnedItem = RawPerson<
    Identifiers,
    BTreeMap<String, serde_json::Value>,
    BTreeMap<String, Option<i64>>,
    Device,
>;

/// A [`PersonRef`] item as sent, borrowed from the body.
type BorrowedItem<'a> = RawPerson<
    IdentifiersRef<'a>,
    Vec<(Text<'a>, AttrValue<'a>)>,
    Vec<(Text<'a>, Option<i64>)>,
    DeviceRef<'a>,
>;

/// A person's fields, in the order [`Person`] and [`PersonRef`] declare them.
type PersonFields<I, A, T, V> = (I, A, T, Option<bool>, Vec<V>);

/// A map of a person (`attributes`, `timestamps`), as a decoding holds it: owned, a map;
/// borrowed, entries sorted by key ([`sorted_map`]). `null` or missing: empty.
trait MapField<'de>: Default {
    /// The map, from its JSON.
    fn decode<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
    /// Whether it has no entries.
    fn is_empty(&self) -> bool;
}

impl<'de, V: Deserialize<'de>> MapField<'de> for BTreeMap<String, V> {
    fn decode<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        null_as_default(d)
    }

    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
}

impl<'de, V: Deserialize<'de>> MapField<'de> for Vec<(Text<'de>, V)> {
    fn decode<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        sorted_map(d)
    }

    fn is_empty(&self) -> bool {
        <[_]>::is_empty(self)
    }
}

impl<'de, I, A: MapField<'de>, T: MapField<'de>, V> RawPerson<I, A, T, V> {
    /// Whether the item has any field of a bare person.
    fn has_fields(&self) -> bool {
        self.identifiers.is_some()
            || !self.attributes.is_empty()
            || !self.timestamps.is_empty()
            || self.unsubscribed.is_some()
            || !self.devices.is_empty()
    }

    /// The person of the item, bare or wrapped once in `customer`; an item with both shapes, a
    /// wrapper in a wrapper or no person is an error (at the item's JSON path).
    fn person<E: serde::de::Error>(mut self) -> Result<PersonFields<I, A, T, V>, E> {
        let bare = match self.customer.take() {
            None => self,
            Some(_) if self.has_fields() => return Err(E::custom(BOTH_SHAPES)),
            Some(inner) if inner.customer.is_some() => return Err(E::custom(NESTED_CUSTOMER)),
            Some(inner) => *inner,
        };
        let identifiers = bare.identifiers.ok_or_else(|| E::custom(NO_PERSON))?;
        Ok((
            identifiers,
            bare.attributes,
            bare.timestamps,
            bare.unsubscribed,
            bare.devices,
        ))
    }
}

impl<'de> Deserialize<'de> for Person {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (identifiers, attributes, timestamps, unsubscribed, devices) =
            OwnedItem::deserialize(d)?.person()?;
        Ok(Person {
            identifiers,
            attributes,
            timestamps,
            unsubscribed,
            devices,
        })
    }
}

/// Why `{"customer": {"customer": ...}}` is refused.
const NESTED_CUSTOMER: &str = "expected one person in `customer`, got another `customer` inside it";

// ---- people, borrowed -------------------------------------------------------------------------
//
// The same answer as [`PeopleResponse`], decoded without an allocation per value: strings are
// borrowed from the body where they have no escapes, and a person's attributes are a sorted list
// instead of a map of owned strings and JSON values. Anything this decoding refuses is decoded
// again as [`PeopleResponse`] (see `reports::customers`), which names the JSON path in its error;
// what it accepts decodes to what [`PeopleResponse`] holds.

/// Text borrowed from the body, or owned where it had escapes.
pub type Text<'a> = std::borrow::Cow<'a, str>;

/// An attribute value: `Person::attributes`' JSON value, as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// `null`.
    Null,
    /// A JSON string.
    Str(Text<'a>),
    /// Any other JSON value, as its JSON text (`serde_json::Value`'s `to_string`).
    Json(String),
}

impl<'a> AttrValue<'a> {
    /// The value as text: strings as they are, other JSON as its text, `null` as none.
    pub fn text(&self) -> Option<&str> {
        match self {
            AttrValue::Null => None,
            AttrValue::Str(s) => Some(s),
            AttrValue::Json(s) => Some(s),
        }
    }

    /// The value if it is a JSON string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    fn from_value(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => AttrValue::Null,
            serde_json::Value::String(s) => AttrValue::Str(Text::Owned(s)),
            other => AttrValue::Json(other.to_string()),
        }
    }
}

/// A person's identifiers, borrowed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IdentifiersRef<'a> {
    /// The workspace's own id (nullable).
    #[serde(default, borrow, deserialize_with = "text_or_json")]
    pub id: Option<Text<'a>>,
    /// The email (nullable).
    #[serde(default, borrow, deserialize_with = "text_or_json")]
    pub email: Option<Text<'a>>,
    /// Customer.io's id (required, never `null`, as [`Identifiers::cio_id`]).
    #[serde(borrow, deserialize_with = "required_text")]
    pub cio_id: Text<'a>,
}

/// A device of a person, borrowed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeviceRef<'a> {
    /// The device token.
    #[serde(default, borrow, deserialize_with = "text_or_json")]
    pub id: Option<Text<'a>>,
    /// `ios`, `android`, ...
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub platform: Option<Text<'a>>,
    /// Last use, unix seconds.
    #[serde(default)]
    pub last_used: Option<i64>,
}

/// One person of `POST /v1/customers/attributes`, borrowed from the body: bare or wrapped in
/// `customer`, as [`Person`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonRef<'a> {
    /// Identifiers (`null`: none).
    pub identifiers: IdentifiersRef<'a>,
    /// Every attribute, sorted by name (a repeated name keeps its last value, as in a map).
    pub attributes: Vec<(Text<'a>, AttrValue<'a>)>,
    /// When each attribute was last set, unix seconds, sorted by name as `attributes`.
    pub timestamps: Vec<(Text<'a>, Option<i64>)>,
    /// Unsubscribed from messages.
    pub unsubscribed: Option<bool>,
    /// Devices.
    pub devices: Vec<DeviceRef<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for PersonRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Decoded for the body's lifetime (the maps' keys borrow from it), then shortened to 'a.
        let (identifiers, attributes, timestamps, unsubscribed, devices) =
            BorrowedItem::<'de>::deserialize(d)?.person()?;
        Ok(PersonRef {
            identifiers,
            attributes,
            timestamps,
            unsubscribed,
            devices,
        })
    }
}

impl PersonRef<'_> {
    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&AttrValue<'_>> {
        self.attributes
            .binary_search_by(|(k, _)| k.as_ref().cmp(name))
            .ok()
            .map(|i| &self.attributes[i].1)
    }
}

impl From<Person> for PersonRef<'static> {
    fn from(p: Person) -> Self {
        let ids = p.identifiers;
        PersonRef {
            identifiers: IdentifiersRef {
                id: ids.id.map(Text::Owned),
                email: ids.email.map(Text::Owned),
                cio_id: Text::Owned(ids.cio_id),
            },
            attributes: p
                .attributes
                .into_iter()
                .map(|(k, v)| (Text::Owned(k), AttrValue::from_value(v)))
                .collect(),
            timestamps: p
                .timestamps
                .into_iter()
                .map(|(k, v)| (Text::Owned(k), v))
                .collect(),
            unsubscribed: p.unsubscribed,
            devices: p
                .devices
                .into_iter()
                .map(|d| DeviceRef {
                    id: d.id.map(Text::Owned),
                    platform: d.platform.map(Text::Owned),
                    last_used: d.last_used,
                })
                .collect(),
        }
    }
}

/// `POST /v1/customers/attributes`, borrowed from the body.
#[derive(Debug, Deserialize)]
pub struct PeopleResponseRef<'a> {
    /// The people found (required; `null`: none).
    #[serde(borrow, deserialize_with = "null_as_empty")]
    pub customers: Vec<PersonRef<'a>>,
}

/// Text, borrowed when it can be.
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text::Owned(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text::Owned(v))
    }
}

/// A map key, borrowed when it can be.
struct Key<'a>(Text<'a>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor).map(Key)
    }
}

/// Any JSON value: strings borrowed when they can be, `null` as such, anything else as the
/// text of its `serde_json::Value` (built as `Value` builds it, so the text is the same).
struct AnyVisitor;

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = AttrValue<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(AttrValue::Str(Text::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(AttrValue::Str(Text::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(AttrValue::Str(Text::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(AttrValue::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(AttrValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(AttrValue::from_value(serde_json::Value::from(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(AttrValue::from_value(serde_json::Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(AttrValue::from_value(serde_json::Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(AttrValue::from_value(serde_json::Value::from(v)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(AttrValue::from_value(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(AttrValue::from_value(v))
    }
}

impl<'de> Deserialize<'de> for AttrValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor)
    }
}

/// [`string_or_number`], borrowed: `null` or missing as none, a string as it is, any other
/// JSON as its text.
fn text_or_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text<'de>>, D::Error> {
    Ok(match d.deserialize_option(AnyVisitor)? {
        AttrValue::Null => None,
        AttrValue::Str(s) => Some(s),
        AttrValue::Json(s) => Some(Text::Owned(s)),
    })
}

/// A required `cio_id`, borrowed: as [`text_or_json`], `null` and `""` errors.
fn required_text<'de, D: Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
    match text_or_json(d)? {
        None => Err(serde::de::Error::custom(NULL_CIO_ID)),
        Some(s) if s.is_empty() => Err(serde::de::Error::custom(EMPTY_CIO_ID)),
        Some(s) => Ok(s),
    }
}

/// `Option<String>`, borrowed.
fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text<'de>>, D::Error> {
    struct OptText;
    impl<'de> Visitor<'de> for OptText {
        type Value = Option<Text<'de>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or null")
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_str(TextVisitor).map(Some)
        }
    }
    d.deserialize_option(OptText)
}

/// Sorts a map's entries by key; of a repeated key the last value stays (as a map insert).
fn sort_entries<K: Ord, V>(entries: &mut Vec<(K, V)>) {
    if entries.windows(2).all(|w| w[0].0 < w[1].0) {
        return; // Sorted without repeats: the usual case, the API sorts its maps.
    }
    // Stable sort of the reversed list: the last of equal keys comes first and stays.
    entries.reverse();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, first| later.0 == first.0);
}

/// A JSON map (or `null`: empty) as entries sorted by key.
fn sorted_map<'de, D, V>(d: D) -> Result<Vec<(Text<'de>, V)>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Entries<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
        type Value = Vec<(Text<'de>, V)>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map")
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
            while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                out.push((k, map.next_value::<V>()?));
            }
            sort_entries(&mut out);
            Ok(out)
        }
    }
    d.deserialize_option(Entries(std::marker::PhantomData))
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
    /// Every segment (archived ones are left out by the API). Required (`null`: none).
    #[serde(deserialize_with = "null_as_empty")]
    pub segments: Vec<Segment>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The borrowed decoding of a people answer against the reference model's.
    fn both(body: &str) -> (Vec<PersonRef<'_>>, Vec<PersonRef<'static>>) {
        let borrowed: PeopleResponseRef = serde_json::from_str(body).expect("borrowed decodes");
        let reference: PeopleResponse = serde_json::from_str(body).expect("reference decodes");
        let reference = reference
            .customers
            .into_iter()
            .map(PersonRef::from)
            .collect();
        (borrowed.customers, reference)
    }

    #[test]
    fn borrowed_people_decode_as_the_reference_model() {
        let body = r#"{"customers": [
            {"identifiers": {"id": 7, "email": "a\u00e9@x.io", "cio_id": "c1"},
             "attributes": {"plan": "pro", "b\"q": "e\\n", "n": 12, "f": 1.50, "big": 18446744073709551615, "neg": -5,
                            "t": true, "o": {"z": 1, "a": [1, "x", null]}, "nil": null,
                            "a": "first", "a": "last"},
             "timestamps": {"plan": 1700000000, "a": null, "a": 5},
             "unsubscribed": true,
             "devices": [{"id": 123, "platform": null, "last_used": 1}, {"id": "d\u0041"}],
             "unknown": {"ignored": [1, 2]}},
            {"identifiers": {"cio_id": "c2"}, "attributes": null, "timestamps": null, "devices": null},
            {"identifiers": {"id": null, "email": null, "cio_id": 3}}
        ]}"#;
        let (borrowed, reference) = both(body);
        assert_eq!(borrowed, reference);
        let first = &borrowed[0];
        let names: Vec<&str> = first.attributes.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            names,
            ["a", "b\"q", "big", "f", "n", "neg", "nil", "o", "plan", "t"]
        );
        assert_eq!(first.attribute("a").and_then(AttrValue::text), Some("last"));
        assert_eq!(
            first.attribute("o").and_then(AttrValue::text),
            Some(r#"{"a":[1,"x",null],"z":1}"#)
        );
        assert_eq!(
            first.attribute("big").and_then(AttrValue::text),
            Some("18446744073709551615")
        );
        assert_eq!(first.attribute("f").and_then(AttrValue::text), Some("1.5"));
        assert_eq!(first.attribute("f").and_then(AttrValue::as_str), None);
        assert_eq!(first.identifiers.id.as_deref(), Some("7"));
        assert!(matches!(
            first.attribute("plan"),
            Some(AttrValue::Str(Text::Borrowed(_)))
        ));
        assert_eq!(
            first.timestamps,
            [
                (Text::Borrowed("a"), Some(5)),
                (Text::Borrowed("plan"), Some(1700000000))
            ]
        );
        assert_eq!(borrowed.len(), 3);
    }

    #[test]
    fn wrapped_and_mixed_people_decode_as_bare_ones() {
        let people = [
            r#"{"identifiers": {"id": "1", "email": "a@x.io", "cio_id": "c1"},
                "attributes": {"plan": "pro"}, "timestamps": {"plan": 5}, "unsubscribed": false,
                "devices": [{"id": "d", "platform": "ios", "last_used": 1}]}"#,
            r#"{"identifiers": {"id": null, "email": "b@x.io", "cio_id": "c2"}}"#,
            r#"{"identifiers": {"id": "3", "email": null, "cio_id": "c3"}, "attributes": {}}"#,
        ];
        let body = |wrap: &dyn Fn(usize) -> bool| {
            let items: Vec<String> = people
                .iter()
                .enumerate()
                .map(|(n, p)| {
                    if wrap(n) {
                        format!(r#"{{"customer": {p}}}"#)
                    } else {
                        p.to_string()
                    }
                })
                .collect();
            format!(r#"{{"customers": [{}]}}"#, items.join(","))
        };
        let bare = body(&|_| false);
        let (expected, reference) = both(&bare);
        assert_eq!(expected, reference);
        assert_eq!(expected[1].identifiers.email.as_deref(), Some("b@x.io"));
        for shaped in [
            body(&|_| true),
            body(&|n| n % 2 == 0),
            body(&|n| n % 2 == 1),
        ] {
            let (borrowed, reference) = both(&shaped);
            assert_eq!(borrowed, expected, "{shaped}");
            assert_eq!(reference, expected, "{shaped}");
        }
        // Both shapes in one item, or a wrapper in a wrapper: neither reading is safe.
        for body in [
            r#"{"customers": [{"customer": {"identifiers": {"id": "1", "cio_id": "c1"}}, "attributes": {"a": "b"}}]}"#,
            r#"{"customers": [{"customer": {"customer": {"identifiers": {"id": "1", "cio_id": "c1"}}}}]}"#,
        ] {
            let e = crate::client::decode_body::<PeopleResponse>(body.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("customers[0]") && e.contains("`customer`"),
                "{e}"
            );
            assert!(
                serde_json::from_str::<PeopleResponseRef>(body).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn the_field_that_carries_the_data_is_required() {
        for (body, field) in [(r#"{}"#, "customers"), (r#"{"people": []}"#, "customers")] {
            let e = crate::client::decode_body::<PeopleResponse>(body.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("missing field `{field}`")), "{e}");
            assert!(serde_json::from_str::<PeopleResponseRef>(body).is_err());
        }
        // `null` is read as empty (Go's nil list).
        let p: PeopleResponse = serde_json::from_str(r#"{"customers": null}"#).unwrap();
        assert!(p.customers.is_empty());
        for body in [
            r#"{}"#,
            r#"{"metric": {}}"#,
            r#"{"start": "x", "res": "days"}"#,
        ] {
            assert!(
                serde_json::from_str::<MetricsResponse>(body).is_err(),
                "{body}"
            );
        }
        assert!(serde_json::from_str::<LinksResponse>("{}").is_err());
        assert!(serde_json::from_str::<SearchPage>(r#"{"next": ""}"#).is_err());
        assert!(serde_json::from_str::<CampaignList>("{}").is_err());
        assert!(serde_json::from_str::<NewsletterPage>(r#"{"next": null}"#).is_err());
        assert!(serde_json::from_str::<SegmentList>("{}").is_err());
    }

    #[test]
    fn link_ids_as_numbers_or_numeric_strings() {
        let ok: LinksResponse = serde_json::from_str(
            r#"{"links": [{"link": {"id": 7}, "metric": null}, {"link": {"id": "8"}, "metric": {"series": {}}}]}"#,
        )
        .unwrap();
        let ids: Vec<i64> = ok.links.iter().map(|l| l.link.id).collect();
        assert_eq!(ids, [7, 8]);
        let e = crate::client::decode_body::<LinksResponse>(
            br#"{"links": [{"link": {"id": 7}, "metric": null}, {"link": {"id": "l-8"}, "metric": null}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("links[1].link.id") && e.contains("\"l-8\""),
            "{e}"
        );
    }

    #[test]
    fn borrowed_people_refuse_what_the_reference_refuses() {
        for body in [
            r#"{"customers": [{"identifiers": "c1"}]}"#,
            r#"{"customers": [{"identifiers": {"cio_id": "c"}, "timestamps": {"a": 1.5}}]}"#,
            r#"{"customers": [{"identifiers": {"cio_id": "c"}, "devices": [{"platform": 1}]}]}"#,
            r#"{"customers": [{"identifiers": {"cio_id": "c"}, "unsubscribed": "yes"}]}"#,
            r#"{"customers": [{"identifiers": {"cio_id": "c"}, "attributes": [1]}]}"#,
            r#"{"customers": [{"identifiers": {"cio_id": "c"}, "attributes": {}, "attributes": {}}]}"#,
            r#"{"customers": 5}"#,
        ] {
            assert!(
                serde_json::from_str::<PeopleResponse>(body).is_err(),
                "{body}"
            );
            assert!(
                serde_json::from_str::<PeopleResponseRef>(body).is_err(),
                "{body}"
            );
        }
    }

    /// An item that holds no person (`{}`, `{"customer": null}`, `{"customer": {}}`, another
    /// key) or a person without `cio_id` fails at `customers[i]`, in both decodings, instead of
    /// becoming a row of NULLs.
    #[test]
    fn people_items_without_a_person_fail_at_their_path() {
        let person = r#"{"identifiers": {"id": "1", "email": null, "cio_id": "c1"}}"#;
        for (item, needles) in [
            (
                "{}",
                &["customers[1]", "`identifiers`", "bare", "wrapped"][..],
            ),
            (r#"{"customer": null}"#, &["customers[1]", "`identifiers`"]),
            (r#"{"customer": {}}"#, &["customers[1]", "`identifiers`"]),
            (
                r#"{"customer": {"attributes": {"a": "b"}}}"#,
                &["customers[1]", "`identifiers`"],
            ),
            (
                r#"{"person": {"identifiers": {"cio_id": "c2"}}}"#,
                &["customers[1]", "`identifiers`"],
            ),
            (
                r#"{"identifiers": null, "attributes": {"cio_id": "c2"}}"#,
                &["customers[1]", "`identifiers`"],
            ),
            (
                r#"{"identifiers": {"id": "2"}}"#,
                &["customers[1].identifiers", "missing field `cio_id`"],
            ),
            (
                r#"{"identifiers": {"id": "2", "cio_id": null}}"#,
                &["customers[1].identifiers.cio_id", "got null"],
            ),
            (
                r#"{"customer": {"identifiers": {"cio_id": ""}}}"#,
                &["customers[1].customer.identifiers.cio_id", "got \"\""],
            ),
        ] {
            let body = format!(r#"{{"customers": [{person}, {item}]}}"#);
            let e = crate::client::decode_body::<PeopleResponse>(body.as_bytes())
                .expect_err(&body)
                .to_string();
            for n in needles {
                assert!(e.contains(n), "{body}: '{e}' lacks '{n}'");
            }
            assert!(
                serde_json::from_str::<PeopleResponseRef>(&body).is_err(),
                "{body}"
            );
        }
        // The person itself, bare or wrapped, still reads.
        for body in [
            format!(r#"{{"customers": [{person}]}}"#),
            format!(r#"{{"customers": [{{"customer": {person}}}]}}"#),
        ] {
            let (borrowed, reference) = both(&body);
            assert_eq!(borrowed, reference);
            assert_eq!(borrowed[0].identifiers.cio_id, "c1");
        }
    }

    /// A series map with keys but none of the known metrics fails naming them; `{}` and `null`
    /// are no series, and a known metric beside unknown ones reads.
    #[test]
    fn series_without_a_known_metric_fail() {
        for body in [
            r#"{"metric": {"series": {"sends": [1, 2], "opens": [0, 1]}}}"#,
            r#"{"metric": {"series": {"x": null}}}"#,
        ] {
            let e = crate::client::decode_body::<MetricsResponse>(body.as_bytes())
                .expect_err(body)
                .to_string();
            assert!(
                e.contains("metric.series") && e.contains("known metrics") && e.contains("sent"),
                "{e}"
            );
        }
        let e = crate::client::decode_body::<LinksResponse>(
            br#"{"links": [{"link": {"id": 1}, "metric": {"series": {"clicks": [1]}}}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("links[0].metric.series") && e.contains("`clicks`"),
            "{e}"
        );
        for (body, n) in [
            (r#"{"metric": {"series": {}}}"#, 0),
            (r#"{"metric": {"series": null}}"#, 0),
            (r#"{"metric": {"series": {"sent": null}}}"#, 0),
            (
                r#"{"metric": {"series": {"sent": [1], "new_metric": {"a": 1}}}}"#,
                1,
            ),
        ] {
            let m: MetricsResponse = serde_json::from_str(body).expect(body);
            assert_eq!(m.metric.series.len(), n, "{body}");
        }
    }

    /// A link without `metric` fails at its path; `null` is no series.
    #[test]
    fn link_metric_is_required() {
        let e = crate::client::decode_body::<LinksResponse>(
            br#"{"links": [{"link": {"id": 1}, "metric": null}, {"link": {"id": 2}}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("links[1]") && e.contains("missing field `metric`"),
            "{e}"
        );
    }

    /// A search page must hold every person it lists, each with its `cio_id`.
    #[test]
    fn search_pages_hold_every_person_with_a_cio_id() {
        for (body, needles) in [
            (
                r#"{"identifiers": [{"id": "1", "email": null, "cio_id": "c1"}, {"id": "2", "email": null}]}"#,
                &["identifiers[1]", "missing field `cio_id`"][..],
            ),
            (
                r#"{"identifiers": [{"id": "1", "email": null, "cio_id": null}]}"#,
                &["identifiers[0].cio_id", "got null"],
            ),
            (
                r#"{"identifiers": null, "ids": ["1", "2"], "next": ""}"#,
                &["0 in `identifiers`", "2 in `ids`"],
            ),
            (
                r#"{"identifiers": [], "ids": [""]}"#,
                &["0 in `identifiers`", "1 in `ids`"],
            ),
            (
                r#"{"identifiers": [{"id": "1", "email": null, "cio_id": "c1"}], "ids": ["1", ""]}"#,
                &["1 in `identifiers`", "2 in `ids`"],
            ),
        ] {
            let e = crate::client::decode_body::<SearchPage>(body.as_bytes())
                .expect_err(body)
                .to_string();
            for n in needles {
                assert!(e.contains(n), "{body}: '{e}' lacks '{n}'");
            }
        }
        for (body, n) in [
            (r#"{"identifiers": null, "ids": null}"#, 0),
            (r#"{"identifiers": [], "ids": [], "next": ""}"#, 0),
            (r#"{"identifiers": null}"#, 0),
            (
                r#"{"identifiers": [{"email": "a@x.io", "id": "1", "cio_id": "c1"}, {"email": null, "id": null, "cio_id": 3000002}], "ids": ["1", ""], "next": "MDoy"}"#,
                2,
            ),
        ] {
            let p: SearchPage = serde_json::from_str(body).expect(body);
            assert_eq!(p.identifiers.len(), n, "{body}");
        }
    }
}

//! Lazily generated people and the audience-filter grammar of `POST /v1/customers` and exports.
//!
//! Person `i` (in `0..customers`) is a pure function of `(seed, workspace, i)`. Identifiers are
//! invertible, so `id`, `email` and `cio_id` lookups are direct instead of scans:
//! `id = i + 1` (about 3% of people have no id), `cio_id` is `base + i` in hex, and the email
//! ends in `.{i}@domain`.

use serde_json::{Map, Value, json};

use super::data::FIXED_SEGMENTS;
use super::error::{ApiError, ApiResult};
use super::hash::Key;

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor",
    "Wen", "Yara", "Zoe",
];
const LAST: &[&str] = &[
    "Smith", "Garcia", "Chen", "Okafor", "Muller", "Rossi", "Kowalski", "Tanaka", "Silva", "Novak",
    "Haddad", "Larsen", "Dubois", "Patel", "Kim", "Nguyen", "Brown", "Costa",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
];
const PLANS: &[&str] = &["free", "free", "basic", "basic", "premium", "enterprise"];
const COUNTRIES: &[&str] = &[
    "US", "US", "US", "CA", "GB", "DE", "FR", "BR", "IN", "AU", "JP",
];
const LANGUAGES: &[&str] = &["en", "en", "en", "de", "fr", "es", "pt", "ja"];
const SOURCES: &[&str] = &[
    "signup_form",
    "website_newsletter",
    "import",
    "api",
    "mobile_app",
];
/// 2021-01-01: earliest person creation.
const PEOPLE_START: i64 = 1_609_459_200;
/// 2025-09-01: latest person creation.
const PEOPLE_END: i64 = 1_756_684_800;

/// The people of one workspace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct People {
    root: Key,
    count: u64,
    segments: u64,
    cio_base: u64,
}

/// One generated person.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Person {
    pub(crate) index: u64,
    pub(crate) id: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) cio_id: String,
    /// Attribute name → string value (identifiers included), sorted.
    pub(crate) attributes: Map<String, Value>,
    /// Attribute name → unix time it was last set.
    pub(crate) timestamps: Map<String, Value>,
    pub(crate) unsubscribed: bool,
    pub(crate) devices: Vec<Value>,
}

impl People {
    /// The `count` people of the workspace rooted at `root`, which has `segments` segments.
    pub(crate) fn new(root: Key, count: u64, segments: u64) -> Self {
        let root = root.str("people");
        // cio_ids look like Customer.io's: a workspace-specific prefix and a running number.
        let cio_base = (0x10 + root.str("cio_base").below(0xE0)) << 32;
        People {
            root,
            count,
            segments,
            cio_base,
        }
    }

    /// Number of people.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    fn key(&self, i: u64) -> Key {
        self.root.u64(i)
    }

    fn has_id(&self, i: u64) -> bool {
        !self.key(i).str("no_id").chance(0.03)
    }

    fn has_email(&self, i: u64) -> bool {
        // Everyone without an id has an email; a few others have none.
        !self.has_id(i) || !self.key(i).str("no_email").chance(0.02)
    }

    /// The `id` of person `i`.
    pub(crate) fn id(&self, i: u64) -> Option<String> {
        self.has_id(i).then(|| (i + 1).to_string())
    }

    /// The `cio_id` of person `i` (hex, without the `cio_` prefix).
    pub(crate) fn cio_id(&self, i: u64) -> String {
        format!("{:010x}", self.cio_base + i)
    }

    fn names(&self, i: u64) -> (&'static str, &'static str) {
        let k = self.key(i);
        (k.str("first").pick(FIRST), k.str("last").pick(LAST))
    }

    /// The email of person `i`.
    pub(crate) fn email(&self, i: u64) -> Option<String> {
        self.has_email(i).then(|| {
            let (first, last) = self.names(i);
            let domain = self.key(i).str("domain").pick(DOMAINS);
            format!(
                "{}.{}.{i}@{domain}",
                first.to_lowercase(),
                last.to_lowercase()
            )
        })
    }

    fn created_at(&self, i: u64) -> i64 {
        self.key(i).str("created").range(PEOPLE_START, PEOPLE_END)
    }

    /// The person with id `id`.
    pub(crate) fn by_id(&self, id: &str) -> Option<u64> {
        let n: u64 = id.parse().ok()?;
        let i = n.checked_sub(1)?;
        (i < self.count && self.has_id(i) && self.id(i).as_deref() == Some(id)).then_some(i)
    }

    /// The person with `cio_id` (hex, without prefix).
    pub(crate) fn by_cio_id(&self, cio_id: &str) -> Option<u64> {
        let v = u64::from_str_radix(cio_id, 16).ok()?;
        let i = v.checked_sub(self.cio_base)?;
        (i < self.count && self.cio_id(i) == cio_id).then_some(i)
    }

    /// The person with `email` (case-insensitive).
    pub(crate) fn by_email(&self, email: &str) -> Option<u64> {
        let email = email.to_ascii_lowercase();
        let (local, _) = email.split_once('@')?;
        let i: u64 = local.rsplit('.').next()?.parse().ok()?;
        (i < self.count && self.email(i).as_deref() == Some(email.as_str())).then_some(i)
    }

    /// The value of attribute `field` of person `i`, computing only that field where possible.
    pub(crate) fn attribute(&self, i: u64, field: &str) -> Option<String> {
        match field {
            "id" => self.id(i),
            "email" => self.email(i),
            "cio_id" => Some(self.cio_id(i)),
            "created_at" => Some(self.created_at(i).to_string()),
            _ => self
                .person(i)
                .attributes
                .get(field)
                .and_then(|v| v.as_str().map(str::to_string)),
        }
    }

    /// Person `i` in full.
    pub(crate) fn person(&self, i: u64) -> Person {
        let k = self.key(i);
        let (first, last) = self.names(i);
        let created = self.created_at(i);
        let (id, email, cio_id) = (self.id(i), self.email(i), self.cio_id(i));
        let mut attributes = Map::new();
        let mut timestamps = Map::new();
        let mut set = |name: &str, value: String, at: i64| {
            attributes.insert(name.to_string(), Value::String(value));
            timestamps.insert(name.to_string(), json!(at));
        };
        let later = |name: &str| created + k.str(name).str("at").range(0, 400 * 86_400);
        set("cio_id", cio_id.clone(), created);
        if let Some(id) = &id {
            set("id", id.clone(), created);
        }
        if let Some(email) = &email {
            set("email", email.clone(), created);
        }
        set("created_at", created.to_string(), created);
        set("first_name", first.to_string(), created);
        set("last_name", last.to_string(), created);
        set("plan", k.str("plan").pick(PLANS).to_string(), later("plan"));
        set(
            "country",
            k.str("country").pick(COUNTRIES).to_string(),
            created,
        );
        set(
            "language",
            k.str("language").pick(LANGUAGES).to_string(),
            created,
        );
        set("source", k.str("source").pick(SOURCES).to_string(), created);
        let ltv = k.str("ltv").below(50_000) as f64 / 100.0;
        set(
            "lifetime_value",
            format!("{ltv:.2}"),
            later("lifetime_value"),
        );
        if email.is_some() && k.str("emailed").chance(0.8) {
            let at = later("_last_emailed");
            set("_last_emailed", at.to_string(), at);
        }
        let unsubscribed = k.str("unsubscribed").chance(0.08);
        if unsubscribed {
            timestamps.insert("unsubscribed".into(), json!(later("unsubscribed")));
        }
        let devices = (0..k.str("devices").below(3))
            .map(|d| {
                let dk = k.str("device").u64(d);
                json!({
                    "id": format!("device-{:016x}", dk.bits()),
                    "platform": dk.str("platform").pick(&["ios", "android"]),
                    "last_used": created + dk.str("last_used").range(0, 500 * 86_400),
                })
            })
            .collect();
        Person {
            index: i,
            id,
            email,
            cio_id,
            attributes,
            timestamps,
            unsubscribed,
            devices,
        }
    }

    /// Whether person `i` is in segment `segment`. The three "Email Activity" segments nest
    /// (every clicker opened, every opener was sent to).
    pub(crate) fn in_segment(&self, segment: u64, i: u64) -> bool {
        if segment == 0 || segment > self.segments || i >= self.count {
            return false;
        }
        if segment <= FIXED_SEGMENTS.len() as u64 {
            let u = self.key(i).str("email_activity").unit();
            return u < [0.7, 0.4, 0.15][(segment - 1) as usize];
        }
        let share = 0.05 + 0.5 * self.root.str("segment_share").u64(segment).unit();
        self.key(i).str("segment").u64(segment).chance(share)
    }
}

impl Person {
    /// The vendor `customer` object (`getPersonAttributes`, and unwrapped in `getPeopleById`).
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id.clone().unwrap_or_else(|| self.cio_id.clone()),
            "identifiers": {"cio_id": self.cio_id, "email": self.email, "id": self.id},
            "attributes": self.attributes,
            "timestamps": self.timestamps,
            "unsubscribed": self.unsubscribed,
            "devices": self.devices,
        })
    }
}

/// An audience filter (`and`, `or`, `not`, `segment`, `attribute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Segment(u64),
    Eq(String, String),
    Exists(String),
}

fn bad(path: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("invalid filter at {path}: {what}"))
}

impl Filter {
    /// Parses the JSON of a filter; `path` names it in errors (`filter`, `filters`).
    pub(crate) fn parse(v: &Value, path: &str) -> ApiResult<Filter> {
        let obj = v.as_object().ok_or_else(|| {
            bad(
                path,
                "expected an object with one of and, or, not, segment, attribute",
            )
        })?;
        if obj.len() != 1 {
            return Err(bad(
                path,
                format!(
                    "the object must have exactly one property (and, or, not, segment, attribute), found {}",
                    obj.len()
                ),
            ));
        }
        let Some((key, inner)) = obj.iter().next() else {
            return Err(bad(path, "empty object"));
        };
        let here = format!("{path}.{key}");
        match key.as_str() {
            "and" | "or" => {
                let items = inner
                    .as_array()
                    .ok_or_else(|| bad(&here, "expected an array of filters"))?;
                let parts = items
                    .iter()
                    .enumerate()
                    .map(|(n, f)| Filter::parse(f, &format!("{here}[{n}]")))
                    .collect::<ApiResult<Vec<_>>>()?;
                Ok(if key == "and" {
                    Filter::And(parts)
                } else {
                    Filter::Or(parts)
                })
            }
            "not" => Ok(Filter::Not(Box::new(Filter::parse(inner, &here)?))),
            "segment" => {
                let id = inner
                    .get("id")
                    .and_then(|id| {
                        id.as_u64()
                            .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
                    })
                    .ok_or_else(|| bad(&here, "expected {\"id\": <integer>}"))?;
                Ok(Filter::Segment(id))
            }
            "attribute" => {
                let field = inner
                    .get("field")
                    .and_then(Value::as_str)
                    .filter(|f| !f.is_empty())
                    .ok_or_else(|| bad(&here, "field (string) is required"))?;
                let op = inner
                    .get("operator")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(&here, "operator is required (eq or exists)"))?;
                match op {
                    "exists" => Ok(Filter::Exists(field.to_string())),
                    "eq" => {
                        let value = match inner.get("value") {
                            Some(Value::String(s)) => s.clone(),
                            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                            _ => {
                                return Err(bad(
                                    &here,
                                    "value (string) is required with operator eq",
                                ));
                            }
                        };
                        Ok(Filter::Eq(field.to_string(), value))
                    }
                    other => Err(bad(
                        &here,
                        format!("operator '{other}' is not supported; use eq or exists"),
                    )),
                }
            }
            other => Err(bad(
                path,
                format!("unknown property '{other}'; use and, or, not, segment or attribute"),
            )),
        }
    }

    /// Whether person `i` matches.
    pub(crate) fn matches(&self, people: &People, i: u64) -> bool {
        match self {
            Filter::And(parts) => parts.iter().all(|f| f.matches(people, i)),
            Filter::Or(parts) => parts.iter().any(|f| f.matches(people, i)),
            Filter::Not(f) => !f.matches(people, i),
            Filter::Segment(s) => people.in_segment(*s, i),
            Filter::Exists(field) => people.attribute(i, field).is_some(),
            Filter::Eq(field, value) => {
                people.attribute(i, field).as_deref() == Some(value.as_str())
            }
        }
    }

    /// The only people that can match, when an identifier equality decides it (sorted);
    /// `None` when a scan is needed.
    pub(crate) fn candidates(&self, people: &People) -> Option<Vec<u64>> {
        match self {
            Filter::Eq(field, value) => match field.as_str() {
                "id" => Some(people.by_id(value).into_iter().collect()),
                "email" => Some(people.by_email(value).into_iter().collect()),
                "cio_id" => Some(people.by_cio_id(value).into_iter().collect()),
                _ => None,
            },
            Filter::And(parts) => parts.iter().find_map(|f| f.candidates(people)),
            Filter::Or(parts) => {
                let mut all = Vec::new();
                for f in parts {
                    all.extend(f.candidates(people)?);
                }
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
            _ => None,
        }
    }

    /// The matching people with an index in `range`, in order, by scanning.
    pub(crate) fn scan(&self, people: &People, range: std::ops::Range<u64>) -> Vec<u64> {
        (range.start..range.end.min(people.count()))
            .filter(|i| self.matches(people, *i))
            .collect()
    }

    /// Up to `limit` matching people from index `offset` on, and the index of the next match
    /// (for the `next` cursor). Identifier lookups are direct; other filters scan lazily.
    pub(crate) fn page(
        &self,
        people: &People,
        offset: u64,
        limit: usize,
    ) -> (Vec<u64>, Option<u64>) {
        let mut found = Vec::with_capacity(limit.min(1024));
        let mut next = None;
        let mut take = |i: u64| {
            if found.len() < limit {
                found.push(i);
                true
            } else {
                next = Some(i);
                false
            }
        };
        match self.candidates(people) {
            Some(cands) => {
                for i in cands.into_iter().filter(|i| *i >= offset) {
                    if self.matches(people, i) && !take(i) {
                        break;
                    }
                }
            }
            None => {
                for i in offset..people.count() {
                    if self.matches(people, i) && !take(i) {
                        break;
                    }
                }
            }
        }
        (found, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(n: u64) -> People {
        People::new(Key::new(42).str("sim_us"), n, 8)
    }

    #[test]
    fn identifiers_are_invertible() {
        let p = people(5_000);
        let mut without_id = 0;
        for i in 0..5_000 {
            match p.id(i) {
                Some(id) => assert_eq!(p.by_id(&id), Some(i)),
                None => without_id += 1,
            }
            if let Some(e) = p.email(i) {
                assert_eq!(p.by_email(&e.to_uppercase()), Some(i));
            }
            assert_eq!(p.by_cio_id(&p.cio_id(i)), Some(i));
            assert!(p.id(i).is_some() || p.email(i).is_some());
        }
        assert!(without_id > 50 && without_id < 300, "{without_id}");
        assert_eq!(p.by_id("5001"), None);
        assert_eq!(p.by_cio_id("zz"), None);
    }

    #[test]
    fn people_are_deterministic_with_string_attributes() {
        let (a, b) = (people(10), people(10));
        for i in 0..10 {
            let pa = a.person(i);
            assert_eq!(pa, b.person(i));
            assert!(pa.attributes.values().all(Value::is_string));
            for key in pa.attributes.keys() {
                assert!(pa.timestamps.contains_key(key), "{key}");
            }
            assert_eq!(
                a.attribute(i, "plan").as_deref(),
                pa.attributes["plan"].as_str()
            );
        }
    }

    #[test]
    fn filters_parse_and_match() {
        let p = people(2_000);
        let f = Filter::parse(
            &json!({"and": [{"segment": {"id": 2}}, {"not": {"attribute": {"field": "plan", "operator": "eq", "value": "free"}}}]}),
            "filter",
        )
        .unwrap();
        let (page, _) = f.page(&p, 0, 2_000);
        assert!(!page.is_empty());
        for i in page {
            assert!(p.in_segment(2, i) && p.in_segment(1, i));
            assert_ne!(p.attribute(i, "plan").as_deref(), Some("free"));
        }
        for bad in [
            json!({}),
            json!({"and": [], "or": []}),
            json!({"attribute": {"field": "x", "operator": "gt", "value": "1"}}),
            json!({"attribute": {"field": "x", "operator": "eq"}}),
            json!({"segment": {}}),
            json!({"nope": 1}),
            json!([1]),
        ] {
            assert!(Filter::parse(&bad, "filter").is_err(), "{bad}");
        }
    }

    #[test]
    fn paging_is_complete_and_lookups_are_direct() {
        let p = people(5_000);
        let all = Filter::Exists("cio_id".into());
        let (mut offset, mut seen) = (0, 0);
        loop {
            let (page, next) = all.page(&p, offset, 1_000);
            seen += page.len();
            match next {
                Some(n) => offset = n,
                None => break,
            }
        }
        assert_eq!(seen, 5_000);
        // A lookup in a huge workspace answers without scanning.
        let big = People::new(Key::new(1), 50_000_000, 3);
        let email = big.email(49_999_998).unwrap();
        let f = Filter::Eq("email".into(), email);
        assert_eq!(f.page(&big, 0, 10), (vec![49_999_998], None));
    }
}

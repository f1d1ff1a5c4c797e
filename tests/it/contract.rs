//! Contract test: real simulator answers, validated against the vendor's response schemas.
//!
//! Each operation is checked against the 2026 excerpt (OpenAPI 3.1) when it has a response
//! schema for it, else against the complete 2022 spec (OpenAPI 3.0, converted: `nullable` becomes
//! a type union with `"null"`). Where recorded live data contradicts the 2022 spec, the schema is
//! patched by a named [`Deviation`] that states its reason and evidence; every deviation must
//! apply and must be needed by at least one real answer, so none can go stale silently.
//!
//! Tightened (issue 12, item 7): every field the connector reads ([`READS`]) is `required` in the
//! schema the answers are checked against (a patched copy where the vendor's schema does not
//! require it; a field the live API is recorded to leave out is exempt by name, with the
//! recorded item as evidence: [`OPTIONAL_READS`]), and every property an answer has that its
//! schema does not declare is reported: the test fails unless [`UNDECLARED`] justifies it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::simulator::{Reply, get, post, start, test_config};
use customerio_sim::{ScriptedResponse, SimConfig, WorkspaceSpec};

const SPEC_2026: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/spec/customerio-api/journeys-app.2026-excerpt.json"
);
const SPEC_2022: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/spec/customerio-api/customer_io_api.yaml"
);
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/spec/customerio-api/fixtures/airbyte_source-customer-io_expected_records.jsonl"
);

fn spec_2026() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(&std::fs::read_to_string(SPEC_2026).expect("2026 excerpt is readable"))
            .expect("2026 excerpt is JSON")
    })
}

fn spec_2022() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC_2022).expect("2022 spec is readable");
        let mut v: Value = serde_yaml::from_str(&text).expect("2022 spec is YAML");
        nullable_to_union(&mut v);
        v
    })
}

/// OpenAPI 3.0 `nullable: true` → JSON Schema: `null` added to `type` (and `enum`), or an
/// `anyOf` with `{"type": "null"}` when there is no `type`.
fn nullable_to_union(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                match map.get_mut("type") {
                    Some(Value::String(t)) => {
                        let t = t.clone();
                        map.insert("type".into(), json!([t, "null"]));
                        if let Some(Value::Array(e)) = map.get_mut("enum") {
                            e.push(Value::Null);
                        }
                    }
                    _ => {
                        let inner = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
            map.values_mut().for_each(nullable_to_union);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_union),
        _ => {}
    }
}

/// The operation object with `operation_id` in `spec`.
fn operation<'a>(spec: &'a Value, operation_id: &str) -> Option<&'a Value> {
    spec["paths"].as_object()?.values().find_map(|item| {
        item.as_object()?
            .values()
            .find(|op| op["operationId"] == operation_id)
    })
}

/// The JSON schema of `status` for `operation_id`, resolving `#/components/responses` refs.
fn response_schema(spec: &Value, operation_id: &str, status: &str) -> Option<Value> {
    let mut resp = operation(spec, operation_id)?["responses"]
        .get(status)?
        .clone();
    if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
        resp = spec.pointer(r.trim_start_matches('#'))?.clone();
    }
    resp.pointer("/content/application~1json/schema").cloned()
}

/// A schema whose root embeds the spec's `components`, so `#/components/...` refs resolve.
fn rooted(spec: &Value, schema: Value) -> Value {
    let mut root = match schema {
        Value::Object(map) => map,
        other => {
            let mut m = serde_json::Map::new();
            m.insert("allOf".into(), json!([other]));
            m
        }
    };
    root.insert("components".into(), spec["components"].clone());
    Value::Object(root)
}

/// A documented disagreement between recorded live data and the 2022 spec, and its patch.
struct Deviation {
    name: &'static str,
    reason: &'static str,
    evidence: &'static str,
    /// `(operation id, JSON pointer in the 200 schema, patch)`.
    patches: &'static [(&'static str, &'static str, Patch)],
}

#[derive(Clone, Copy)]
enum Patch {
    /// Add values to the `enum` at the pointer.
    AddEnum(&'static [&'static str]),
    /// Replace the `type` at the pointer.
    SetType(&'static str),
    /// Make the schema at the pointer nullable.
    Nullable,
    /// The items at the pointer are objects wrapping the real item in property `wrapper`; the
    /// answer's items (at `answer` in the body) are the real items themselves.
    Unwrap {
        wrapper: &'static str,
        answer: &'static str,
    },
}

impl Patch {
    /// Whether `body` shows the patch is still needed even though the unpatched schema accepts
    /// it (an unwrapped item validates vacuously against a wrapper with no required fields).
    fn needed_without_violation(self, body: &Value) -> bool {
        match self {
            Patch::Unwrap { wrapper, answer } => body
                .pointer(answer)
                .and_then(Value::as_array)
                .is_some_and(|items| {
                    !items.is_empty() && items.iter().all(|i| i.get(wrapper).is_none())
                }),
            _ => false,
        }
    }
}

const DEVIATIONS: &[Deviation] = &[
    Deviation {
        name: "campaign-type-event",
        reason: "The 2022 spec's campaign `type` enum lists only `segment`; live campaigns are also event-triggered.",
        evidence: "fixtures/airbyte_source-customer-io_expected_records.jsonl: campaigns record with \"type\":\"event\"; API-NOTES §2.3.",
        patches: &[
            (
                "listCampaigns",
                "/properties/campaigns/items/properties/type",
                Patch::AddEnum(&["event"]),
            ),
            (
                "getCampaigns",
                "/properties/campaign/properties/type",
                Patch::AddEnum(&["event"]),
            ),
        ],
    },
    Deviation {
        name: "campaign-action-types",
        reason: "The 2022 listCampaigns `actions[].type`/`msg_templates[].type` enums miss action types the API reports: \
                 attribute updates, and channels the same spec lists elsewhere (twilio) or the 2026 spec lists (in_app).",
        evidence: "fixture campaigns record actions [{\"id\":25,\"type\":\"attribute_update\"},...]; 2022 listCampaignActions \
                   type enum has twilio; 2026 campaignMetrics `type` enum has in_app.",
        patches: &[
            (
                "listCampaigns",
                "/properties/campaigns/items/properties/actions/items/properties/type",
                Patch::AddEnum(&["attribute_update", "twilio", "in_app"]),
            ),
            (
                "listCampaigns",
                "/properties/campaigns/items/properties/msg_templates/items/properties/type",
                Patch::AddEnum(&["twilio", "webhook", "in_app"]),
            ),
            (
                "getCampaigns",
                "/properties/campaign/properties/actions/items/properties/type",
                Patch::AddEnum(&["attribute_update", "twilio", "in_app"]),
            ),
            (
                "getCampaigns",
                "/properties/campaign/properties/msg_templates/items/properties/type",
                Patch::AddEnum(&["twilio", "webhook", "in_app"]),
            ),
        ],
    },
    Deviation {
        name: "action-id-string",
        reason: "Live campaign action ids are JSON strings, not integers.",
        evidence: "fixture campaigns_actions record \"id\":\"25\"; fixtures/SOURCE.txt; Airbyte AGENTS.md via API-NOTES §5.",
        patches: &[
            (
                "listCampaignActions",
                "/properties/actions/items/oneOf/0/properties/id",
                Patch::SetType("string"),
            ),
            (
                "listCampaignActions",
                "/properties/actions/items/oneOf/1/properties/id",
                Patch::SetType("string"),
            ),
        ],
    },
    Deviation {
        name: "action-attribute-update",
        reason: "Live campaign actions include `attribute_update` (and in_app, per the 2026 channel list), missing from the 2022 message-action enum.",
        evidence: "fixture campaigns_actions record \"type\":\"attribute_update\"; 2026 campaignMetrics `type` enum has in_app.",
        patches: &[(
            "listCampaignActions",
            "/properties/actions/items/oneOf/0/properties/type",
            Patch::AddEnum(&["attribute_update", "in_app"]),
        )],
    },
    Deviation {
        name: "newsletter-sent-at-null",
        reason: "Unsent newsletters have `sent_at: null`; the 2022 spec types it as a plain integer.",
        evidence: "fixture newsletters record \"sent_at\":null; 2026 spec: `sent_at` int or null (API-NOTES §2.2).",
        patches: &[
            (
                "listNewsletters",
                "/properties/newsletters/items/properties/sent_at",
                Patch::Nullable,
            ),
            (
                "getNewsletters",
                "/properties/newsletter/properties/sent_at",
                Patch::Nullable,
            ),
        ],
    },
    Deviation {
        name: "people-by-id-unwrapped",
        reason: "Live getPeopleById items are the customer objects themselves, not wrapped in `customer`.",
        evidence: "API-NOTES §2.1 and §5 (Airbyte: \"the spec wraps these fields in `customer`, the API does not\", confirmed live).",
        patches: &[(
            "getPeopleById",
            "/properties/customers/items",
            Patch::Unwrap {
                wrapper: "customer",
                answer: "/customers",
            },
        )],
    },
];

/// Fields the connector reads from an operation's 200 answer: required in the schema the
/// simulator's answers are checked against. `op` is the operation id, or `id@variant` for the
/// answers of one request variant (`campaignMetrics@v2`: the version-2 answers the connector
/// asks for). `path` names an object schema in the 200 schema: property names separated by `/`,
/// `[]` for the items of an array (`""`: the body).
struct Read {
    op: &'static str,
    path: &'static str,
    fields: &'static [&'static str],
    /// Where the connector reads them.
    reader: &'static str,
}

const METRIC_SERIES: &[&str] = &[
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

const CAMPAIGN_FIELDS: &[&str] = &[
    "id",
    "name",
    "type",
    "trigger_segment_ids",
    "filter_segment_ids",
];
const NEWSLETTER_FIELDS: &[&str] = &["id", "name", "type", "recipient_segment_ids"];
const LINK_SERIES: &[&str] = &["clicked", "human_clicked", "machine_clicked"];

/// What the connector reads (`crates/datafusion-customerio/src/client/models.rs`, `crates/datafusion-customerio/src/client/exports.rs`, `crates/datafusion-customerio/src/reports/`),
/// written out by hand: a field added to a model must be added here.
const READS: &[Read] = &[
    Read {
        op: "listCampaigns",
        path: "",
        fields: &["campaigns"],
        reader: "models::CampaignList",
    },
    Read {
        op: "listCampaigns",
        path: "campaigns/[]",
        fields: CAMPAIGN_FIELDS,
        reader: "models::Campaign (campaigns, deliveries_export)",
    },
    Read {
        op: "getCampaigns",
        path: "",
        fields: &["campaign"],
        reader: "models::CampaignEnvelope",
    },
    Read {
        op: "getCampaigns",
        path: "campaign",
        fields: CAMPAIGN_FIELDS,
        reader: "models::Campaign",
    },
    Read {
        op: "listNewsletters",
        path: "",
        fields: &["newsletters", "next"],
        reader: "models::NewsletterPage",
    },
    Read {
        op: "listNewsletters",
        path: "newsletters/[]",
        fields: NEWSLETTER_FIELDS,
        reader: "models::Newsletter",
    },
    Read {
        op: "getNewsletters",
        path: "",
        fields: &["newsletter"],
        reader: "models::NewsletterEnvelope",
    },
    Read {
        op: "getNewsletters",
        path: "newsletter",
        fields: NEWSLETTER_FIELDS,
        reader: "models::Newsletter",
    },
    Read {
        op: "campaignMetrics",
        path: "",
        fields: &["metric"],
        reader: "models::MetricsResponse",
    },
    Read {
        op: "campaignMetrics",
        path: "metric",
        fields: &["series"],
        reader: "models::Series",
    },
    Read {
        op: "campaignMetrics",
        path: "metric/series",
        fields: METRIC_SERIES,
        reader: "api::SERIES_METRICS (one column each)",
    },
    Read {
        op: "campaignMetrics@v2",
        path: "",
        fields: &["start", "metric"],
        reader: "models::MetricsResponse::start (the first bucket's start, version 2)",
    },
    Read {
        op: "getNewsletterMetrics",
        path: "",
        fields: &["metric"],
        reader: "models::MetricsResponse",
    },
    Read {
        op: "getNewsletterMetrics",
        path: "metric",
        fields: &["series"],
        reader: "models::Series",
    },
    Read {
        op: "getNewsletterMetrics",
        path: "metric/series",
        fields: METRIC_SERIES,
        reader: "api::SERIES_METRICS (one column each)",
    },
    Read {
        op: "campaignLinkMetrics",
        path: "",
        fields: &["links"],
        reader: "models::LinksResponse",
    },
    Read {
        op: "campaignLinkMetrics",
        path: "links/[]",
        fields: &["link", "metric"],
        reader: "models::LinkMetrics",
    },
    Read {
        op: "campaignLinkMetrics",
        path: "links/[]/link",
        fields: &["id", "href"],
        reader: "models::Link",
    },
    Read {
        op: "campaignLinkMetrics",
        path: "links/[]/metric",
        fields: &["series"],
        reader: "models::Series",
    },
    Read {
        op: "campaignLinkMetrics",
        path: "links/[]/metric/series",
        fields: LINK_SERIES,
        reader: "api::LINK_METRICS (the links column)",
    },
    Read {
        op: "getNewsletterLinks",
        path: "",
        fields: &["links"],
        reader: "models::LinksResponse",
    },
    Read {
        op: "getNewsletterLinks",
        path: "links/[]",
        fields: &["link", "metric"],
        reader: "models::LinkMetrics",
    },
    Read {
        op: "getNewsletterLinks",
        path: "links/[]/link",
        fields: &["id", "href"],
        reader: "models::Link",
    },
    Read {
        op: "getNewsletterLinks",
        path: "links/[]/metric",
        fields: &["series"],
        reader: "models::Series",
    },
    Read {
        op: "getNewsletterLinks",
        path: "links/[]/metric/series",
        fields: LINK_SERIES,
        reader: "api::LINK_METRICS (the links column)",
    },
    Read {
        op: "listSegments",
        path: "",
        fields: &["segments"],
        reader: "models::SegmentList",
    },
    Read {
        op: "listSegments",
        path: "segments/[]",
        fields: &[
            "id",
            "name",
            "description",
            "state",
            "type",
            "progress",
            "tags",
            "deduplicate_id",
        ],
        reader: "models::Segment",
    },
    Read {
        op: "getPeopleFilter",
        path: "",
        fields: &["identifiers", "ids", "next"],
        reader: "models::SearchPage (ids: counted against identifiers)",
    },
    Read {
        op: "getPeopleFilter",
        path: "identifiers/[]",
        fields: &["id", "email", "cio_id"],
        reader: "models::Identifiers",
    },
    Read {
        op: "getPeopleById",
        path: "",
        fields: &["customers"],
        reader: "models::PeopleResponse(Ref)",
    },
    Read {
        op: "getPeopleById",
        path: "customers/[]",
        fields: &[
            "identifiers",
            "attributes",
            "timestamps",
            "unsubscribed",
            "devices",
        ],
        reader: "models::Person(Ref)",
    },
    Read {
        op: "getPeopleById",
        path: "customers/[]/identifiers",
        fields: &["id", "email", "cio_id"],
        reader: "models::IdentifiersRef",
    },
    Read {
        op: "getPeopleById",
        path: "customers/[]/devices/[]",
        fields: &["id", "platform", "last_used"],
        reader: "models::DeviceRef",
    },
    Read {
        op: "exportPeopleData",
        path: "",
        fields: &["export"],
        reader: "client::exports::start",
    },
    Read {
        op: "exportPeopleData",
        path: "export",
        fields: &["id"],
        reader: "client::exports::Export::id",
    },
    Read {
        op: "exportDeliveriesData",
        path: "",
        fields: &["export"],
        reader: "client::exports::start",
    },
    Read {
        op: "exportDeliveriesData",
        path: "export",
        fields: &["id"],
        reader: "client::exports::Export::id",
    },
    Read {
        op: "getExport",
        path: "",
        fields: &["export"],
        reader: "client::exports::wait_done",
    },
    Read {
        op: "getExport",
        path: "export",
        fields: &["id", "status", "failed", "total", "description"],
        reader: "client::exports::Export",
    },
    Read {
        op: "downloadExport",
        path: "",
        fields: &["url"],
        reader: "client::exports::Link",
    },
];

/// A field the connector reads that the live API is recorded to leave out: not required (the
/// connector reads its absence as documented), each with the recorded item that lacks it.
struct OptionalRead {
    op: &'static str,
    path: &'static str,
    field: &'static str,
    /// The fixture stream whose recorded item lacks the field.
    fixture: &'static str,
    reason: &'static str,
}

const OPTIONAL_READS: &[OptionalRead] = &[
    OptionalRead {
        op: "listCampaigns",
        path: "campaigns/[]",
        field: "trigger_segment_ids",
        fixture: "campaigns",
        reason: "the recorded (event-triggered) campaign has no segment lists; read as []",
    },
    OptionalRead {
        op: "listCampaigns",
        path: "campaigns/[]",
        field: "filter_segment_ids",
        fixture: "campaigns",
        reason: "the recorded campaign has no filter segments; read as []",
    },
    OptionalRead {
        op: "getCampaigns",
        path: "campaign",
        field: "trigger_segment_ids",
        fixture: "campaigns",
        reason: "the same campaign object as listCampaigns' items",
    },
    OptionalRead {
        op: "getCampaigns",
        path: "campaign",
        field: "filter_segment_ids",
        fixture: "campaigns",
        reason: "the same campaign object as listCampaigns' items",
    },
    OptionalRead {
        op: "listNewsletters",
        path: "newsletters/[]",
        field: "recipient_segment_ids",
        fixture: "newsletters",
        reason: "the recorded newsletter has no recipient segments; read as []",
    },
    OptionalRead {
        op: "getNewsletters",
        path: "newsletter",
        field: "recipient_segment_ids",
        fixture: "newsletters",
        reason: "the same newsletter object as listNewsletters' items",
    },
];

/// A property the simulator sends that the schema it is checked against does not declare, and
/// why that is right. `path` is the JSON path of the object in the answer, array indexes as `[]`;
/// `property` `*` stands for any (a map keyed by data, like attribute names).
struct Undeclared {
    op: &'static str,
    path: &'static str,
    property: &'static str,
    reason: &'static str,
}

const UNDECLARED: &[Undeclared] = &[
    Undeclared {
        op: "listCampaigns",
        path: "campaigns/[]",
        property: "state",
        reason: "live campaigns carry `state` (fixture campaigns record: \"state\":\"draft\"; API-NOTES §2.3)",
    },
    Undeclared {
        op: "listCampaigns",
        path: "campaigns/[]",
        property: "event_name",
        reason: "event-triggered campaigns name their event (fixture campaigns record: \"event_name\":\"purchase\")",
    },
    Undeclared {
        op: "listCampaigns",
        path: "campaigns/[]",
        property: "frequency",
        reason: "a campaign item field in Airbyte's campaigns schema (API-NOTES §2.3)",
    },
    Undeclared {
        op: "listCampaigns",
        path: "campaigns/[]",
        property: "timezone",
        reason: "a campaign item field in Airbyte's campaigns schema (API-NOTES §2.3)",
    },
    Undeclared {
        op: "getCampaigns",
        path: "campaign",
        property: "state",
        reason: "the same campaign object as listCampaigns' items",
    },
    Undeclared {
        op: "getCampaigns",
        path: "campaign",
        property: "event_name",
        reason: "the same campaign object as listCampaigns' items",
    },
    Undeclared {
        op: "getCampaigns",
        path: "campaign",
        property: "frequency",
        reason: "the same campaign object as listCampaigns' items",
    },
    Undeclared {
        op: "getCampaigns",
        path: "campaign",
        property: "timezone",
        reason: "the same campaign object as listCampaigns' items",
    },
    Undeclared {
        op: "listNewsletters",
        path: "",
        property: "next",
        reason: "the cursor of the next page (API-NOTES §2.2, Airbyte paginates with it; the 2022 schema lacks it)",
    },
    Undeclared {
        op: "listNewsletters",
        path: "newsletters/[]",
        property: "type",
        reason: "a newsletter field of the current contract (spec/current-newsletter-fields.md; API-NOTES §2.2); fixture newsletters record: \"type\":\"email\"",
    },
    Undeclared {
        op: "listNewsletters",
        path: "newsletters/[]",
        property: "subscription_topic_id",
        reason: "a newsletter field of the current contract (spec/current-newsletter-fields.md; API-NOTES §2.2)",
    },
    Undeclared {
        op: "getNewsletters",
        path: "newsletter",
        property: "type",
        reason: "the same newsletter object as listNewsletters' items",
    },
    Undeclared {
        op: "getNewsletters",
        path: "newsletter",
        property: "subscription_topic_id",
        reason: "the same newsletter object as listNewsletters' items",
    },
    Undeclared {
        op: "listCampaignActions",
        path: "",
        property: "next",
        reason: "the cursor of the next page (API-NOTES §2.3: `{\"actions\":[...],\"next\":...}`, paginated with `start`)",
    },
    Undeclared {
        op: "listCampaignActions",
        path: "actions/[]",
        property: "editor",
        reason: "live actions carry it: fixture campaigns_actions record (Airbyte's recorded item)",
    },
    Undeclared {
        op: "listCampaignActions",
        path: "actions/[]",
        property: "language",
        reason: "live actions carry it: fixture campaigns_actions record (Airbyte's recorded item)",
    },
    Undeclared {
        op: "listCampaignActions",
        path: "actions/[]",
        property: "recipient",
        reason: "live actions carry it: fixture campaigns_actions record (Airbyte's recorded item)",
    },
    Undeclared {
        op: "listCampaignActions",
        path: "actions/[]",
        property: "recipient_environment_id",
        reason: "live actions carry it: fixture campaigns_actions record (Airbyte's recorded item)",
    },
    Undeclared {
        op: "getPeopleById",
        path: "customers/[]/timestamps",
        property: "*",
        reason: "`timestamps` is keyed by attribute name, one entry per attribute (API-NOTES §2.1 examples); the schema lists example keys only",
    },
    Undeclared {
        op: "getPersonAttributes",
        path: "customer/timestamps",
        property: "*",
        reason: "`timestamps` is keyed by attribute name, one entry per attribute (API-NOTES §2.1 examples); the schema lists example keys only",
    },
];

/// The JSON pointer of the object schema at `path` (see [`Read`]) in the rooted `schema`,
/// following `$ref`s, and the branch of an `anyOf`/`oneOf`/`allOf` that has the next step.
fn schema_pointer(schema: &Value, path: &str) -> String {
    fn settle(schema: &Value, mut at: String, next: Option<&str>) -> String {
        for _ in 0..16 {
            let Some(node) = schema.pointer(&at) else {
                break;
            };
            if let Some(r) = node.get("$ref").and_then(Value::as_str) {
                at = r.trim_start_matches('#').to_string();
                continue;
            }
            let has = |n: &Value| match next {
                Some("[]") => n.get("items").is_some(),
                Some(p) => n.pointer(&format!("/properties/{p}")).is_some(),
                None => n.get("properties").is_some() || n.get("type") == Some(&json!("object")),
            };
            if has(node) {
                break;
            }
            let branch = ["anyOf", "oneOf", "allOf"].iter().find_map(|k| {
                node.get(*k)?
                    .as_array()?
                    .iter()
                    .enumerate()
                    .find_map(|(i, b)| {
                        let resolved = match b.get("$ref").and_then(Value::as_str) {
                            Some(r) => schema.pointer(r.trim_start_matches('#'))?,
                            None => b,
                        };
                        has(resolved).then(|| format!("{at}/{k}/{i}"))
                    })
            });
            match branch {
                Some(b) => at = b,
                None => break,
            }
        }
        at
    }
    let steps: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut at = settle(schema, String::new(), steps.first().copied());
    for (i, step) in steps.iter().enumerate() {
        at = match *step {
            "[]" => format!("{at}/items"),
            p => format!("{at}/properties/{p}"),
        };
        at = settle(schema, at, steps.get(i + 1).copied());
    }
    at
}

/// `schema` with every field of [`READS`] for `label` required (except [`OPTIONAL_READS`]), and
/// the patches that made it so: `(path, fields the vendor's schema did not require)`.
fn require_reads(label: &str, schema: &mut Value) -> Vec<(String, Vec<String>)> {
    let mut patched = Vec::new();
    let op = label.split('@').next().unwrap_or(label);
    for read in READS.iter().filter(|r| r.op == label || r.op == op) {
        let at = schema_pointer(schema, read.path);
        let node = schema
            .pointer_mut(&at)
            .unwrap_or_else(|| panic!("{}: {} is not in the schema", read.op, read.path));
        assert!(
            node.is_object(),
            "{}: {} is not an object schema",
            read.op,
            read.path
        );
        let required = node
            .as_object_mut()
            .unwrap()
            .entry("required")
            .or_insert_with(|| json!([]));
        let list = required.as_array_mut().unwrap();
        let mut added = Vec::new();
        for field in read.fields {
            let optional = OPTIONAL_READS
                .iter()
                .any(|o| o.op == read.op && o.path == read.path && o.field == *field);
            if !optional && !list.iter().any(|f| f == field) {
                list.push(json!(field));
                added.push(field.to_string());
            }
        }
        if !added.is_empty() {
            patched.push((format!("{} {}", read.op, read.path), added));
        }
    }
    patched
}

/// `schema` with `additionalProperties: false` on every object schema that declares properties
/// and says nothing of others, so that undeclared properties show.
fn close_objects(v: &mut Value) {
    let Value::Object(map) = v else {
        return;
    };
    if map.get("properties").is_some_and(Value::is_object)
        && !map.contains_key("additionalProperties")
        && !map.contains_key("unevaluatedProperties")
    {
        map.insert("additionalProperties".into(), json!(false));
    }
    for (k, child) in map.iter_mut() {
        match k.as_str() {
            "properties" | "schemas" | "components" => {
                if let Value::Object(children) = child {
                    children.values_mut().for_each(close_objects);
                }
            }
            "items" | "additionalProperties" | "not" => close_objects(child),
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(items) = child {
                    items.iter_mut().for_each(close_objects);
                }
            }
            _ => {}
        }
    }
}

/// The undeclared properties of `instance` under the closed `schema`: `(path, property)`, the
/// path's array indexes as `[]`.
fn undeclared(schema: &Value, instance: &Value) -> Vec<(String, String)> {
    fn collect(e: &jsonschema::ValidationError, out: &mut Vec<(String, String)>) {
        use jsonschema::error::ValidationErrorKind as K;
        match &e.kind {
            K::AdditionalProperties { unexpected } => {
                let path: Vec<String> = e
                    .instance_path
                    .to_string()
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        if s.chars().all(|c| c.is_ascii_digit()) {
                            "[]".to_string()
                        } else {
                            s.to_string()
                        }
                    })
                    .collect();
                for p in unexpected {
                    out.push((path.join("/"), p.clone()));
                }
            }
            // Of the branches, the one the value was meant for: the first whose only errors are
            // undeclared properties (it would match if open), else the one with fewest errors.
            K::AnyOf { context } | K::OneOfNotValid { context } => {
                let only_undeclared = |errors: &Vec<jsonschema::ValidationError>| {
                    errors
                        .iter()
                        .all(|e| matches!(e.kind, K::AdditionalProperties { .. }))
                };
                let best = context.iter().find(|b| only_undeclared(b)).or_else(|| {
                    context
                        .iter()
                        .fold(None, |best: Option<&Vec<_>>, b| match best {
                            Some(x) if x.len() <= b.len() => Some(x),
                            _ => Some(b),
                        })
                });
                if let Some(errors) = best {
                    errors.iter().for_each(|e| collect(e, out));
                }
            }
            _ => {}
        }
    }
    let validator = jsonschema::draft202012::new(schema).expect("the closed schema compiles");
    let mut out = Vec::new();
    for e in validator.iter_errors(instance) {
        collect(&e, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// The recorded item of fixture `stream`.
fn fixture_record(stream: &str) -> Value {
    let text = std::fs::read_to_string(FIXTURES).expect("fixtures are readable");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("a fixture line is JSON"))
        .find(|r| r["stream"] == stream)
        .map(|r| r["data"].clone())
        .unwrap_or_else(|| panic!("no {stream} record in the fixtures"))
}

fn apply(schema: &mut Value, pointer: &str, patch: Patch, deviation: &str) {
    let target = schema
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("deviation {deviation}: {pointer} is not in the spec"));
    match patch {
        Patch::AddEnum(values) => {
            let e = target["enum"]
                .as_array_mut()
                .unwrap_or_else(|| panic!("deviation {deviation}: no enum at {pointer}"));
            e.extend(values.iter().map(|v| json!(v)));
        }
        Patch::SetType(t) => target["type"] = json!(t),
        Patch::Nullable => {
            let t = target["type"].clone();
            target["type"] = json!([t, "null"]);
        }
        Patch::Unwrap { wrapper, .. } => {
            let inner = target["properties"][wrapper].clone();
            assert!(
                inner.is_object(),
                "deviation {deviation}: no {wrapper} wrapper at {pointer}"
            );
            *target = inner;
        }
    }
}

/// Which spec an operation's 200 answer is checked against, and the (patched) schema.
fn schema_for(
    operation_id: &str,
    status: &str,
    deviations: &[&Deviation],
) -> (&'static str, Value) {
    if let Some(s) = response_schema(spec_2026(), operation_id, status) {
        return ("2026", rooted(spec_2026(), s));
    }
    let mut s = response_schema(spec_2022(), operation_id, status)
        .unwrap_or_else(|| panic!("no {status} schema for {operation_id} in either spec"));
    for d in deviations {
        for (op, pointer, patch) in d.patches {
            if *op == operation_id {
                apply(&mut s, pointer, *patch, d.name);
            }
        }
    }
    ("2022", rooted(spec_2022(), s))
}

fn violations(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::draft202012::new(schema).expect("the vendor schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .take(5)
        .collect()
}

/// The operation id of an answer's label (`campaignMetrics@v2` → `campaignMetrics`).
fn op_of(label: &'static str) -> &'static str {
    label.split('@').next().unwrap_or(label)
}

/// Real answers of every operation: `(operation id, reply)`; the id may name a request variant
/// (`campaignMetrics@v2`, see [`op_of`]).
async fn collect_answers() -> Vec<(&'static str, Reply)> {
    let big = WorkspaceSpec {
        name: "sim_big".into(),
        api_key: "sim-big-key".into(),
        campaigns: 40,
        newsletters: 30,
        ..WorkspaceSpec::default_us()
    };
    let mut config = test_config();
    config.workspaces.push(big);
    config.exports.ready_after = std::time::Duration::ZERO;
    let sim = start(config.clone()).await;
    let mut out = Vec::new();
    for ws in &config.workspaces {
        let (base, key) = (sim.url_for(ws.region), ws.api_key.as_str());
        let campaigns = get(&base, "/v1/campaigns", key).await;
        let ids: Vec<u64> = campaigns.body["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        out.push(("listCampaigns", campaigns));
        for id in ids {
            out.push((
                "getCampaigns",
                get(&base, &format!("/v1/campaigns/{id}"), key).await,
            ));
            let mut start = String::new();
            loop {
                let r = get(
                    &base,
                    &format!("/v1/campaigns/{id}/actions?start={start}"),
                    key,
                )
                .await;
                start = r.body["next"].as_str().unwrap_or_default().to_string();
                out.push(("listCampaignActions", r));
                if start.is_empty() {
                    break;
                }
            }
        }
        for q in [
            "period=hours&steps=3",
            "period=months",
            "version=2&res=weekly&start=1735718400&end=1740000000&tz=America/New_York",
            "type=email",
        ] {
            // The version-2 answers also carry what the connector reads of version 2 only.
            let label = if q.starts_with("version=2") {
                "campaignMetrics@v2"
            } else {
                "campaignMetrics"
            };
            out.push((
                label,
                get(&base, &format!("/v1/campaigns/1/metrics?{q}"), key).await,
            ));
        }
        out.push((
            "campaignLinkMetrics",
            get(&base, "/v1/campaigns/2/metrics/links?unique=true", key).await,
        ));
        let newsletters = get(&base, "/v1/newsletters?limit=1000", key).await;
        let nids: Vec<u64> = newsletters.body["newsletters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_u64().unwrap())
            .collect();
        out.push(("listNewsletters", newsletters));
        for id in nids {
            out.push((
                "getNewsletters",
                get(&base, &format!("/v1/newsletters/{id}"), key).await,
            ));
        }
        out.push((
            "getNewsletterMetrics",
            get(&base, "/v1/newsletters/1/metrics?period=weeks", key).await,
        ));
        out.push((
            "getNewsletterLinks",
            get(&base, "/v1/newsletters/1/metrics/links", key).await,
        ));
        out.push(("listSegments", get(&base, "/v1/segments", key).await));
        let people = post(
            &base,
            "/v1/customers?limit=100",
            key,
            json!({"filter": {"segment": {"id": 1}}}),
        )
        .await;
        let ids: Vec<Value> = people.body["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| *i != "")
            .take(100)
            .cloned()
            .collect();
        let first = ids[0].as_str().unwrap().to_string();
        out.push(("getPeopleFilter", people));
        out.push((
            "getPeopleById",
            post(
                &base,
                "/v1/customers/attributes",
                key,
                json!({ "ids": ids }),
            )
            .await,
        ));
        out.push((
            "getPersonAttributes",
            get(&base, &format!("/v1/customers/{first}/attributes"), key).await,
        ));
        let filters = json!({"filters": {"segment": {"id": 2}}, "attributes": ["plan"]});
        let people = post(&base, "/v1/exports/customers", key, filters).await;
        let export_id = people.body["export"]["id"].clone();
        out.push(("exportPeopleData", people));
        let deliveries = json!({"campaign_id": 1, "metric": "sent"});
        out.push((
            "exportDeliveriesData",
            post(&base, "/v1/exports/deliveries", key, deliveries).await,
        ));
        out.push((
            "getExport",
            get(&base, &format!("/v1/exports/{export_id}"), key).await,
        ));
        out.push(("listExports", get(&base, "/v1/exports", key).await));
        out.push((
            "downloadExport",
            get(&base, &format!("/v1/exports/{export_id}/download"), key).await,
        ));
    }
    out
}

#[tokio::test]
async fn every_operation_matches_the_vendor_schema() {
    let answers = collect_answers().await;
    let all: Vec<&Deviation> = DEVIATIONS.iter().collect();
    let mut checked: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    let mut needed: BTreeMap<&str, bool> = DEVIATIONS.iter().map(|d| (d.name, false)).collect();
    let mut failures = Vec::new();
    let mut compiled: BTreeMap<&str, (&str, Value)> = BTreeMap::new();
    for (label, reply) in &answers {
        let op = &op_of(label);
        assert_eq!(reply.status, StatusCode::OK, "{op}: {}", reply.body);
        let (spec, schema) = compiled
            .entry(op)
            .or_insert_with(|| schema_for(op, "200", &all));
        let errs = violations(schema, &reply.body);
        if !errs.is_empty() {
            failures.push(format!("{op} ({spec} spec): {errs:?}"));
        }
        checked.entry(op).or_insert((0, spec)).0 += 1;
        // Is each deviation still needed? Validate without it.
        for d in DEVIATIONS {
            let mine: Vec<Patch> = d
                .patches
                .iter()
                .filter(|(o, _, _)| o == op)
                .map(|p| p.2)
                .collect();
            if *spec == "2022" && !mine.is_empty() && !needed[d.name] {
                if mine.iter().any(|p| p.needed_without_violation(&reply.body)) {
                    needed.insert(d.name, true);
                    continue;
                }
                let others: Vec<&Deviation> =
                    DEVIATIONS.iter().filter(|o| o.name != d.name).collect();
                let (_, without) = schema_for(op, "200", &others);
                if !violations(&without, &reply.body).is_empty() {
                    needed.insert(d.name, true);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "schema violations:\n{}",
        failures.join("\n")
    );
    let expected_ops = [
        "listCampaigns",
        "getCampaigns",
        "listCampaignActions",
        "campaignMetrics",
        "campaignLinkMetrics",
        "listNewsletters",
        "getNewsletters",
        "getNewsletterMetrics",
        "getNewsletterLinks",
        "listSegments",
        "getPeopleFilter",
        "getPeopleById",
        "getPersonAttributes",
        "exportPeopleData",
        "exportDeliveriesData",
        "getExport",
        "listExports",
        "downloadExport",
    ];
    for op in expected_ops {
        assert!(checked.contains_key(op), "{op} was not checked");
    }
    for d in DEVIATIONS {
        assert!(!d.reason.is_empty() && !d.evidence.is_empty());
        assert!(
            needed[d.name],
            "deviation {} is no longer needed by any answer: remove it",
            d.name
        );
    }
    // The 2026 excerpt is used wherever it has a schema.
    assert_eq!(checked["campaignMetrics"].1, "2026");
    assert_eq!(checked["getPeopleFilter"].1, "2026");
    assert_eq!(checked["listCampaigns"].1, "2022");
    assert_eq!(checked["getExport"].1, "2026");
}

#[tokio::test]
async fn error_answers_match_error_list() {
    let schema = rooted(
        spec_2026(),
        json!({"$ref": "#/components/schemas/ErrorList"}),
    );
    let rate_limited = response_schema(spec_2026(), "campaignMetrics", "429").expect("429 schema");
    let rate_limited = rooted(spec_2026(), rate_limited);
    let sim = start(SimConfig {
        rate_limit: 1.0,
        burst: Some(1),
        ..test_config()
    })
    .await;
    let us = sim.us_url();
    let mut answers = vec![
        get(&us, "/v1/campaigns", "wrong").await,
        get(&us, "/v1/campaigns/999", "sim-us-key").await,
        get(&sim.eu_url(), "/v1/campaigns/abc", "sim-eu-key").await,
        get(&sim.eu_url(), "/v1/nowhere", "sim-eu-key").await,
    ];
    let limited = get(&us, "/v1/campaigns/1/metrics", "sim-us-key").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(violations(&rate_limited, &limited.body).is_empty());
    let retry: i64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    sim.push_script(ScriptedResponse::new(503));
    answers.push(limited);
    answers.push(get(&sim.eu_url(), "/v1/segments", "sim-eu-key").await);
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses, [401, 404, 400, 404, 429, 503]);
    for a in answers {
        let errs = violations(&schema, &a.body);
        assert!(errs.is_empty(), "{}: {errs:?}", a.status);
        assert_eq!(a.body["errors"][0]["status"], a.status.as_u16().to_string());
    }
}

#[test]
fn fixtures_match_the_simulated_shapes() {
    // The recorded live items have no field the simulator leaves out.
    let sim_samples = [
        ("campaigns", simulated_item("campaigns")),
        ("campaigns_actions", simulated_item("campaigns_actions")),
        ("newsletters", simulated_item("newsletters")),
    ];
    let text = std::fs::read_to_string(FIXTURES).expect("fixtures are readable");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).unwrap();
        let stream = record["stream"].as_str().unwrap();
        let data = record["data"].as_object().unwrap();
        let (_, sample) = sim_samples.iter().find(|(s, _)| *s == stream).unwrap();
        for (k, v) in data {
            let ours = sample
                .get(k)
                .unwrap_or_else(|| panic!("{stream}: simulator lacks field {k}"));
            let same_kind = match (v, ours) {
                (Value::Null, _) | (_, Value::Null) => true,
                (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
            };
            assert!(same_kind, "{stream}.{k}: live {v} vs simulated {ours}");
        }
    }
}

/// A simulated item of each fixture stream, fetched from a fresh simulator.
fn simulated_item(stream: &str) -> serde_json::Map<String, Value> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sim = start(test_config()).await;
        let us = sim.us_url();
        let (path, key) = match stream {
            "campaigns" => ("/v1/campaigns", "campaigns"),
            "campaigns_actions" => ("/v1/campaigns/1/actions", "actions"),
            _ => ("/v1/newsletters", "newsletters"),
        };
        let r = get(&us, path, "sim-us-key").await;
        // Prefer an item with the optional fields the fixture shows (event_name).
        let items = r.body[key].as_array().unwrap().clone();
        let best = items
            .iter()
            .find(|i| i.get("event_name").is_some())
            .or_else(|| items.iter().find(|i| i["type"] == "attribute_update"))
            .unwrap_or(&items[0]);
        best.as_object().unwrap().clone()
    })
}

#[tokio::test]
async fn the_fields_the_connector_reads_are_required_and_nothing_is_undeclared() {
    let answers = collect_answers().await;
    let all: Vec<&Deviation> = DEVIATIONS.iter().collect();
    let mut schemas: BTreeMap<&str, (Value, Value)> = BTreeMap::new();
    let mut patches: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut found: std::collections::BTreeSet<(&str, String, String)> = Default::default();
    for (label, reply) in &answers {
        assert_eq!(reply.status, StatusCode::OK, "{label}: {}", reply.body);
        let (strict, closed) = schemas.entry(label).or_insert_with(|| {
            let (_, mut strict) = schema_for(op_of(label), "200", &all);
            patches.extend(require_reads(label, &mut strict));
            let mut closed = strict.clone();
            close_objects(&mut closed);
            (strict, closed)
        });
        let errs = violations(strict, &reply.body);
        if !errs.is_empty() {
            failures.push(format!("{label}: {errs:?}"));
        }
        for (path, property) in undeclared(closed, &reply.body) {
            found.insert((op_of(label), path, property));
        }
    }
    let patch_list: Vec<String> = patches
        .iter()
        .map(|(at, fields)| format!("{at}: {}", fields.join(", ")))
        .collect();
    assert!(
        failures.is_empty(),
        "answers without a field the connector reads:\n{}\n(required by the patches:\n{})",
        failures.join("\n"),
        patch_list.join("\n")
    );
    // The vendor's schemas require almost nothing: the patched copy is what makes this a check.
    assert!(patches.len() > 10, "{patch_list:?}");
    for read in READS {
        assert!(
            schemas.contains_key(read.op),
            "no answer of {} was checked for {} ({})",
            read.op,
            read.path,
            read.reader
        );
    }
    let unjustified: Vec<String> = found
        .iter()
        .filter(|(op, path, property)| {
            !UNDECLARED.iter().any(|u| {
                u.op == *op && u.path == path && [property.as_str(), "*"].contains(&u.property)
            })
        })
        .map(|(op, path, property)| format!("{op}: '{property}' at /{path}"))
        .collect();
    assert!(
        unjustified.is_empty(),
        "properties the schema does not declare (justify them in UNDECLARED or stop sending them):\n{}",
        unjustified.join("\n")
    );
    for u in UNDECLARED {
        assert!(!u.reason.is_empty());
        assert!(
            found.iter().any(|(op, path, property)| *op == u.op
                && path == u.path
                && (u.property == "*" || property == u.property)),
            "UNDECLARED {} '{}' at /{} is sent no more: remove it",
            u.op,
            u.property,
            u.path
        );
    }
    for o in OPTIONAL_READS {
        assert!(!o.reason.is_empty());
        assert!(
            READS
                .iter()
                .any(|r| r.op == o.op && r.path == o.path && r.fields.contains(&o.field)),
            "optional {} {} {} is not a read",
            o.op,
            o.path,
            o.field
        );
        assert!(
            fixture_record(o.fixture).get(o.field).is_none(),
            "the recorded {} item has {}: require it ({} {})",
            o.fixture,
            o.field,
            o.op,
            o.path
        );
    }
}

//! The simulator's vocabulary, read from the vendor's 2026 spec (not from the connector): the
//! channels each metrics operation's `type` accepts, the `period` and `res` names, the series keys
//! of a metrics answer and the `metric` values of a deliveries export.
//!
//! The spec is embedded at build time and parsed once. A spec that lacks one of these lists (or
//! names a bucket unit the simulator cannot compute) is an error at simulator start
//! ([`check`]), and a 500 naming the problem if a handler is reached anyway.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::StatusCode;
use serde_json::Value;

use super::calendar::Unit;
use super::error::{ApiError, ApiResult};

/// The 2026 excerpt of the vendor spec (`spec/customerio-api/`, see its `SOURCE.txt`).
const SPEC_2026: &str = include_str!("../../../spec/customerio-api/journeys-app.2026-excerpt.json");
/// Where [`SPEC_2026`] comes from, for error messages.
const SPEC_NAME: &str = "spec/customerio-api/journeys-app.2026-excerpt.json";

/// `campaignMetrics`: campaign metrics, version 1 and 2.
pub(crate) const CAMPAIGN_METRICS: &str = "campaignMetrics";
/// `campaignLinkMetrics`: campaign link metrics (version 1).
pub(crate) const CAMPAIGN_LINKS: &str = "campaignLinkMetrics";
/// `getNewsletterMetrics`: newsletter metrics (version 1).
pub(crate) const NEWSLETTER_METRICS: &str = "getNewsletterMetrics";
/// `getNewsletterLinks`: newsletter link metrics (version 1).
pub(crate) const NEWSLETTER_LINKS: &str = "getNewsletterLinks";
/// The 2026 contracts of the operations the excerpt lacks (`spec/`, copied from the vendor
/// contracts; see `spec/README.md`).
const OPS_2026: &str = include_str!("../../../spec/journeys-app.2026-ops.json");
/// Where [`OPS_2026`] comes from, for error messages.
const OPS_NAME: &str = "spec/journeys-app.2026-ops.json";

/// The metrics and link operations of broadcasts, transactional messages, campaign actions,
/// broadcast actions and newsletter variants (all version 1: `period`, `steps`), read from
/// [`OPS_2026`].
pub(crate) const BROADCAST_METRICS: &str = "broadcastMetrics";
pub(crate) const BROADCAST_LINKS: &str = "broadcastLinks";
pub(crate) const TRANSACTIONAL_METRICS: &str = "transactionalMetrics";
pub(crate) const TRANSACTIONAL_LINKS: &str = "transactionalLinks";
pub(crate) const CAMPAIGN_ACTION_METRICS: &str = "campaignActionMetrics";
pub(crate) const CAMPAIGN_ACTION_LINKS: &str = "campaignActionLinks";
pub(crate) const BROADCAST_ACTION_METRICS: &str = "broadcastActionMetrics";
pub(crate) const BROADCAST_ACTION_LINKS: &str = "broadcastActionLinks";
pub(crate) const VARIANT_METRICS: &str = "getVariantMetrics";
pub(crate) const VARIANT_LINKS: &str = "getVariantLinks";

const ITEM_OPERATIONS: [&str; 10] = [
    BROADCAST_METRICS,
    BROADCAST_LINKS,
    TRANSACTIONAL_METRICS,
    TRANSACTIONAL_LINKS,
    CAMPAIGN_ACTION_METRICS,
    CAMPAIGN_ACTION_LINKS,
    BROADCAST_ACTION_METRICS,
    BROADCAST_ACTION_LINKS,
    VARIANT_METRICS,
    VARIANT_LINKS,
];

/// `exportDeliveriesData`: a deliveries export.
const EXPORT_DELIVERIES: &str = "exportDeliveriesData";

/// The operations whose `period` parameter names version-1 bucket units.
const V1_OPERATIONS: [&str; 4] = [
    CAMPAIGN_METRICS,
    CAMPAIGN_LINKS,
    NEWSLETTER_METRICS,
    NEWSLETTER_LINKS,
];

/// The lists the simulator takes from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vocabulary {
    /// The `type` values of [`CAMPAIGN_METRICS`].
    pub(crate) campaign_types: Vec<String>,
    /// The `type` values of [`NEWSLETTER_METRICS`].
    pub(crate) newsletter_types: Vec<String>,
    /// The `period` values of each version-1 operation, by operationId.
    periods: BTreeMap<&'static str, Vec<String>>,
    /// The version-2 `res` values of [`CAMPAIGN_METRICS`].
    pub(crate) v2_res: Vec<String>,
    /// The keys of a metrics answer's `metric.series` (`components.schemas.MetricSeries`).
    pub(crate) series_keys: Vec<String>,
    /// The `metric` values of a deliveries export request body.
    pub(crate) delivery_metrics: Vec<String>,
    /// The `type` values of each operation of [`ITEM_OPERATIONS`] that has one.
    types: BTreeMap<&'static str, Vec<String>>,
}

static VOCABULARY: LazyLock<Result<Vocabulary, String>> =
    LazyLock::new(|| Vocabulary::from_spec(SPEC_2026).and_then(|v| v.with_ops(OPS_2026)));

/// The vocabulary, or why the embedded spec does not provide it.
pub(crate) fn check() -> Result<(), String> {
    VOCABULARY.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// The vocabulary for a handler (a 500 naming the problem if the spec lacks it).
pub(crate) fn vocabulary() -> ApiResult<&'static Vocabulary> {
    VOCABULARY.as_ref().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("simulator vocabulary: {e}"),
        )
    })
}

/// `list` as string slices, for [`super::params::Params::one_of`].
pub(crate) fn strs(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

impl Vocabulary {
    /// The `period` values of version-1 operation `op` (empty for an operation without one).
    pub(crate) fn periods(&self, op: &str) -> &[String] {
        self.periods.get(op).map(Vec::as_slice).unwrap_or_default()
    }

    /// The `type` values of operation `op` of [`ITEM_OPERATIONS`] (empty: it takes no `type`).
    pub(crate) fn types(&self, op: &str) -> &[String] {
        self.types.get(op).map(Vec::as_slice).unwrap_or_default()
    }

    /// Adds the periods and channels of [`ITEM_OPERATIONS`] from the JSON text of [`OPS_2026`].
    fn with_ops(mut self, text: &str) -> Result<Self, String> {
        let spec: Value =
            serde_json::from_str(text).map_err(|e| format!("{OPS_NAME} is not JSON: {e}"))?;
        for op in ITEM_OPERATIONS {
            let periods =
                query_enum(&spec, op, "period").map_err(|e| e.replace(SPEC_NAME, OPS_NAME))?;
            self.periods.insert(op, units(op, "period", periods)?);
            // `transactionalMetrics` and `transactionalLinks` take no `type`.
            if let Ok(types) = query_enum(&spec, op, "type") {
                self.types.insert(op, types);
            }
        }
        Ok(self)
    }

    /// Reads the vocabulary from the JSON text of the 2026 spec.
    fn from_spec(text: &str) -> Result<Self, String> {
        let spec: Value =
            serde_json::from_str(text).map_err(|e| format!("{SPEC_NAME} is not JSON: {e}"))?;
        let mut periods = BTreeMap::new();
        for op in V1_OPERATIONS {
            periods.insert(op, units(op, "period", query_enum(&spec, op, "period")?)?);
        }
        let series = "components.schemas.MetricSeries.properties";
        let series_keys: Vec<String> = spec
            .pointer("/components/schemas/MetricSeries/properties")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .ok_or_else(|| format!("{SPEC_NAME} has no object at {series}"))?;
        if series_keys.is_empty() {
            return Err(format!("{SPEC_NAME}: {series} is empty"));
        }
        Ok(Vocabulary {
            campaign_types: query_enum(&spec, CAMPAIGN_METRICS, "type")?,
            newsletter_types: query_enum(&spec, NEWSLETTER_METRICS, "type")?,
            periods,
            v2_res: units(
                CAMPAIGN_METRICS,
                "res",
                query_enum(&spec, CAMPAIGN_METRICS, "res")?,
            )?,
            series_keys,
            delivery_metrics: body_enum(&spec, EXPORT_DELIVERIES, "metric")?,
            types: BTreeMap::new(),
        })
    }
}

/// Checks that every value of a period-like enum names a bucket unit the simulator computes.
fn units(op: &str, param: &str, values: Vec<String>) -> Result<Vec<String>, String> {
    match values.iter().find(|v| Unit::from_name(v).is_none()) {
        Some(v) => Err(format!(
            "{SPEC_NAME}: {op} parameter {param} allows '{v}', a bucket unit the simulator does not compute"
        )),
        None => Ok(values),
    }
}

/// The operation object whose `operationId` is `op`, with its JSON path.
fn operation<'a>(spec: &'a Value, op: &str) -> Result<(&'a Value, String), String> {
    spec.get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, o)| (path, method, o))
        })
        .find(|(_, _, o)| o.get("operationId").and_then(Value::as_str) == Some(op))
        .map(|(path, method, o)| (o, format!("paths.{path}.{method}")))
        .ok_or_else(|| format!("{SPEC_NAME} has no operation {op}"))
}

/// A non-empty list of strings at `value` (an `enum`), or an error naming `at`.
fn string_enum(value: Option<&Value>, at: &str) -> Result<Vec<String>, String> {
    let list = value
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{SPEC_NAME} has no enum at {at}"))?;
    let strings: Vec<String> = list
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{SPEC_NAME}: {at} is not a list of strings"))?;
    if strings.is_empty() {
        return Err(format!("{SPEC_NAME}: {at} is empty"));
    }
    Ok(strings)
}

/// The `enum` of query parameter `name` of operation `op`.
fn query_enum(spec: &Value, op: &str, name: &str) -> Result<Vec<String>, String> {
    let (o, at) = operation(spec, op)?;
    let (i, param) = o
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, p)| {
            p.get("in").and_then(Value::as_str) == Some("query")
                && p.get("name").and_then(Value::as_str) == Some(name)
        })
        .ok_or_else(|| format!("{SPEC_NAME}: {op} ({at}) has no query parameter {name}"))?;
    string_enum(
        param.pointer("/schema/enum"),
        &format!("{at}.parameters[{i}].schema.enum ({op} {name})"),
    )
}

/// The `enum` of property `name` of operation `op`'s JSON request body. With `oneOf` bodies every
/// alternative that has the property must allow the same values.
fn body_enum(spec: &Value, op: &str, name: &str) -> Result<Vec<String>, String> {
    let (o, at) = operation(spec, op)?;
    let schema_at = format!("{at}.requestBody.content.application/json.schema");
    let schema = o
        .pointer("/requestBody/content/application~1json/schema")
        .ok_or_else(|| format!("{SPEC_NAME} has no request body schema at {schema_at}"))?;
    let alternatives: Vec<(String, &Value)> = match schema.get("oneOf").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{schema_at}.oneOf[{i}]"), s))
            .collect(),
        None => vec![(schema_at.clone(), schema)],
    };
    let mut found: Option<(String, Vec<String>)> = None;
    for (path, alt) in alternatives {
        let Some(prop) = alt.get("properties").and_then(|p| p.get(name)) else {
            continue;
        };
        let at = format!("{path}.properties.{name}.enum");
        let values = string_enum(prop.get("enum"), &at)?;
        match &found {
            Some((first, seen)) if *seen != values => {
                return Err(format!(
                    "{SPEC_NAME}: {op} {name} allows different values at {first} and {at}"
                ));
            }
            Some(_) => {}
            None => found = Some((at, values)),
        }
    }
    found
        .map(|(_, values)| values)
        .ok_or_else(|| format!("{SPEC_NAME}: {op} has no body property {name} ({schema_at})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> &'static Vocabulary {
        vocabulary().unwrap()
    }

    #[test]
    fn channels_are_per_operation() {
        // The lists as printed in the 2026 spec (and quoted in issue 12).
        assert_eq!(
            v().campaign_types,
            [
                "email",
                "webhook",
                "twilio",
                "whatsapp",
                "slack",
                "push",
                "in_app",
                "live_notification"
            ]
        );
        assert_eq!(
            v().newsletter_types,
            ["email", "webhook", "twilio", "push", "in_app", "inbox"]
        );
    }

    #[test]
    fn generated_channels_are_accepted_by_their_operation() {
        use crate::WorkspaceSpec;
        use crate::data::Catalog;
        let spec = WorkspaceSpec {
            campaigns: 400,
            newsletters: 400,
            ..WorkspaceSpec::default_us()
        };
        let c = Catalog::new(42, spec);
        let campaigns: std::collections::BTreeSet<_> = (1..=400)
            .filter_map(|id| c.campaign_sender(id))
            .map(|s| s.channel)
            .collect();
        let newsletters: std::collections::BTreeSet<_> = (1..=400)
            .filter_map(|id| c.newsletter_sender(id))
            .map(|s| s.channel)
            .collect();
        assert!(campaigns.len() >= 5 && newsletters.contains("inbox"));
        for ch in campaigns {
            assert!(v().campaign_types.iter().any(|t| t == ch), "campaign {ch}");
        }
        for ch in newsletters {
            assert!(
                v().newsletter_types.iter().any(|t| t == ch),
                "newsletter {ch}"
            );
        }
    }

    #[test]
    fn periods_res_series_and_delivery_metrics() {
        for op in V1_OPERATIONS {
            assert_eq!(
                v().periods(op),
                ["hours", "days", "weeks", "months"],
                "{op}"
            );
        }
        assert!(v().periods(EXPORT_DELIVERIES).is_empty());
        assert_eq!(v().v2_res.len(), 8);
        assert!(v().v2_res.iter().any(|r| r == "monthly"));
        assert_eq!(v().series_keys.len(), 26);
        assert_eq!(
            v().series_keys.first().map(String::as_str),
            Some("attempted")
        );
        assert!(v().series_keys.iter().any(|k| k == "drafted"));
        assert_eq!(v().delivery_metrics.len(), 13);
        assert_eq!(v().delivery_metrics[0], "created");
        assert_eq!(v().delivery_metrics[12], "undeliverable");
    }

    #[test]
    fn steps_maximums_match_the_spec_text() {
        // The calendar keeps its own numbers; the spec states them in prose.
        let spec: Value = serde_json::from_str(SPEC_2026).unwrap();
        for op in V1_OPERATIONS {
            let (o, _) = operation(&spec, op).unwrap();
            let steps = o["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "steps")
                .unwrap();
            let text = steps["description"].as_str().unwrap();
            let max = |u: Unit| u.max_steps();
            let expected = format!(
                "{} hours, {} days, {} weeks, or {} months",
                max(Unit::Hour),
                max(Unit::Day),
                max(Unit::Week),
                max(Unit::Month)
            );
            assert!(text.contains(&expected), "{op}: {text}");
        }
    }

    #[test]
    fn a_spec_without_a_list_is_an_error_naming_it() {
        let mut spec: Value = serde_json::from_str(SPEC_2026).unwrap();
        let params = spec
            .pointer_mut("/paths/~1v1~1campaigns~1{campaign_id}~1metrics/get/parameters")
            .and_then(Value::as_array_mut)
            .unwrap();
        params.retain(|p| p["name"] != "type");
        let err = Vocabulary::from_spec(&spec.to_string()).unwrap_err();
        assert!(
            err.contains("campaignMetrics") && err.contains("type"),
            "{err}"
        );

        let mut spec: Value = serde_json::from_str(SPEC_2026).unwrap();
        spec["components"]["schemas"]
            .as_object_mut()
            .unwrap()
            .remove("MetricSeries");
        let err = Vocabulary::from_spec(&spec.to_string()).unwrap_err();
        assert!(err.contains("MetricSeries"), "{err}");

        let mut spec: Value = serde_json::from_str(SPEC_2026).unwrap();
        let alt = spec
            .pointer_mut("/paths/~1v1~1exports~1deliveries/post/requestBody/content/application~1json/schema/oneOf/1/properties/metric/enum")
            .and_then(Value::as_array_mut)
            .unwrap();
        alt.pop();
        let err = Vocabulary::from_spec(&spec.to_string()).unwrap_err();
        assert!(
            err.contains("oneOf[0]") && err.contains("oneOf[1]"),
            "{err}"
        );

        let mut spec: Value = serde_json::from_str(SPEC_2026).unwrap();
        let res = spec
            .pointer_mut("/paths/~1v1~1campaigns~1{campaign_id}~1metrics/get/parameters")
            .and_then(Value::as_array_mut)
            .unwrap()
            .iter_mut()
            .find(|p| p["name"] == "res")
            .unwrap();
        res["schema"]["enum"]
            .as_array_mut()
            .unwrap()
            .push("fortnightly".into());
        let err = Vocabulary::from_spec(&spec.to_string()).unwrap_err();
        assert!(err.contains("'fortnightly'"), "{err}");
    }
}

//! Strict request validation: every `/v1` request is checked against its operation's vendor
//! contract before a handler sees it ([`SimConfig::strict`](super::SimConfig::strict)).
//!
//! # Where the contracts come from
//! The contracts are read, at start, from the vendor files embedded here, in this order:
//! 1. `spec/customerio-api/journeys-app.2026-excerpt.json`: the 2026 contracts of the metrics,
//!    people and export operations;
//! 2. `spec/journeys-app.2026-ops.json`: the 2026 contracts of the operations the excerpt
//!    lacks (`listCampaigns`, `listNewsletters`, `getPeopleById`, and every object, message,
//!    activity and item-metrics read of issue 15), copied from `voxgig-sdk/customerio-app-sdk`
//!    (the file names its source);
//! 3. `spec/customer_io_api.2022-ops.json`: `getCampaigns`, which the two above lack, extracted
//!    from the 2022 spec by `spec/extract_2022.py`.
//!
//! Nothing here lists parameters, enums or ranges of its own: every name, type, enum, bound and
//! requirement comes from those files.
//!
//! # What is checked
//! * parameters are the operation's and its path item's (the operation's win on the same name
//!   and location);
//! * path parameters: their `schema.type` (an `integer` id must parse as one);
//! * query parameter names: a name the operation does not declare is refused;
//! * query parameter values: `type` (`integer`, `number`, `boolean` as `true`/`false`, `string`),
//!   `enum`, `minimum`/`maximum`;
//! * required query parameters;
//! * a missing (empty) body: refused where `requestBody.required` is `true`, and where the body
//!   schema asks for a `type`, keys or variants (every served contract's does, though none sets
//!   `requestBody.required`); an optional body with an open schema may be left off;
//! * a repeated query parameter whose schema is not an `array` (the handlers read the first
//!   value, as Go's `Query().Get` does, so `version=2&version=1` would be ambiguous);
//! * JSON bodies: `type`, `required`, `properties`, `additionalProperties: false` (where a schema
//!   closes an object), `enum`, `minimum`/`maximum`, `items`, `minItems`/`maxItems`, `oneOf`,
//!   `anyOf`. A body schema without `type` (the collapsed audience filters) accepts any value.
//!
//! A refused request is answered 400 with the vendor error body, one `errors[]` entry whose
//! `detail` names the operation, the parameter (or JSON pointer), the value and what is valid,
//! whose `source` is `{"parameter": name}` (query and path) or `{"pointer": "/path"}` (body), and
//! whose `meta.contract` names the spec file the rule comes from.
//!
//! # Documented quirks, read from the descriptions
//! * A parameter whose description says "Any other value" (campaign metrics `version`: "Any other
//!   value, including leaving the parameter off, uses version 1") keeps its enum as advice only:
//!   `version=3` is version 1, not an error.
//! * A parameter whose description says "Required when you send version=2" (`res`, `start`, `end`)
//!   is required only when the request carries `version=2`.
//! * `steps` has no bounds in the schema (the maximums are prose); what happens out of range is the
//!   handlers' [`StepsMode`](super::StepsMode).
//! * `limit` on `listNewsletters` has no `maximum` in the 2026 contract, so the handler's clamp
//!   decides; `limit` on `getPeopleFilter` has `maximum: 1000`, so `limit=4000` is refused.
//! * A `oneOf` variant that declares `properties` but no `required` matches an object only if
//!   the object has one of those properties: the objects filter (`getObjectsFilter`) is a
//!   `oneOf` of `{and}`, `{or}`, `{not}` and `{object_attribute}` objects that require nothing
//!   and stay open, so without this every filter would match every variant.
//! * `id_type` on `getPeopleById` is the 2026 contract's enum (`id`, `email`, `phone`, `cio_id`);
//!   whether `email`/`phone` are enabled is the handler's business.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::error::json_response;

/// The 2026 excerpt of the vendor contracts (never edited here).
const EXCERPT_2026: &str =
    include_str!("../../../spec/customerio-api/journeys-app.2026-excerpt.json");
/// The 2026 contracts the excerpt lacks, copied from the vendor JSON (names its source).
const OPS_2026: &str = include_str!("../../../spec/journeys-app.2026-ops.json");
/// The 2022 contracts neither 2026 file has, extracted by `spec/extract_2022.py`.
const OPS_2022: &str = include_str!("../../../spec/customer_io_api.2022-ops.json");

/// The phrase in a parameter's description that makes its enum advisory.
const ADVISORY_ENUM: &str = "Any other value";
/// The phrase in a parameter's description that makes it required with `version=2`.
const REQUIRED_WITH_V2: &str = "Required when you send version=2";

/// The contracts of every operation in the embedded spec files, by `operationId`.
#[derive(Debug, Default)]
pub(crate) struct Contracts {
    ops: HashMap<String, Arc<Operation>>,
}

impl Contracts {
    /// Reads the embedded spec files. An operation in an earlier file wins over a later one.
    pub(crate) fn from_specs() -> Result<Self, String> {
        let mut contracts = Contracts::default();
        for (file, text) in [
            (
                "spec/customerio-api/journeys-app.2026-excerpt.json",
                EXCERPT_2026,
            ),
            ("spec/journeys-app.2026-ops.json", OPS_2026),
            ("spec/customer_io_api.2022-ops.json", OPS_2022),
        ] {
            contracts.add_file(file, text)?;
        }
        Ok(contracts)
    }

    fn add_file(&mut self, file: &'static str, text: &str) -> Result<(), String> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("{file} is not JSON: {e}"))?;
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{file} has no `paths` object"))?;
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let path_parameters = item.get("parameters");
            for (method, op) in item {
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                if self.ops.contains_key(id) {
                    continue;
                }
                let operation = Operation::parse(file, path, method, op, path_parameters)
                    .map_err(|e| format!("{file}: {id}: {e}"))?;
                self.ops.insert(id.to_string(), Arc::new(operation));
            }
        }
        Ok(())
    }

    /// The contract of `operation_id`, if a spec file has it.
    pub(crate) fn get(&self, operation_id: &str) -> Option<Arc<Operation>> {
        self.ops.get(operation_id).cloned()
    }
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Path,
    Query,
}

impl Location {
    fn label(self) -> &'static str {
        match self {
            Location::Path => "path parameter",
            Location::Query => "query parameter",
        }
    }
}

/// One declared parameter.
#[derive(Debug)]
struct Param {
    name: String,
    location: Location,
    required: bool,
    /// Required only when the request carries `version=2`.
    required_with_v2: bool,
    /// The enum is advice, not a rule (see the module docs).
    advisory_enum: bool,
    schema: Value,
}

/// The request contract of one operation.
#[derive(Debug)]
pub(crate) struct Operation {
    id: String,
    /// The spec file it was read from (`spec/...`), named in refusals' `meta.contract`.
    file: &'static str,
    /// The path template split on `/` (`{name}` for a parameter).
    template: Vec<String>,
    params: Vec<Param>,
    body: Option<Value>,
    /// `requestBody.required`: a request without a body is refused.
    body_required: bool,
}

/// A refused request: what to say and where in the request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    /// The `detail` of the `errors[]` entry.
    pub(crate) detail: String,
    /// The `source` object (`{"parameter": ..}` or `{"pointer": ..}`).
    pub(crate) source: Value,
    /// The spec file whose contract refused the request (`meta.contract` of the answer).
    pub(crate) contract: &'static str,
}

impl Refusal {
    fn parameter(name: &str, detail: String) -> Self {
        Refusal {
            detail,
            source: json!({ "parameter": name }),
            contract: "",
        }
    }

    fn pointer(pointer: &str, detail: String) -> Self {
        Refusal {
            detail,
            source: json!({ "pointer": pointer }),
            contract: "",
        }
    }

    /// The 400 answer in the vendor shape (API-NOTES §1.4).
    pub(crate) fn into_response(self) -> Response {
        let status = StatusCode::BAD_REQUEST;
        let body = json!({"errors": [{
            "detail": self.detail,
            "status": status.as_u16().to_string(),
            "source": self.source,
            "meta": {"contract": self.contract},
        }]});
        json_response(status, body.to_string())
    }
}

impl Operation {
    /// Reads one operation; `path_parameters` is the path item's `parameters`, if any.
    fn parse(
        file: &'static str,
        path: &str,
        method: &str,
        op: &Value,
        path_parameters: Option<&Value>,
    ) -> Result<Self, String> {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut params: Vec<Param> = Vec::new();
        // The operation's parameters, then the path item's (OpenAPI: a path-level parameter
        // applies to every operation of the path unless the operation declares the same name
        // and location, which wins). `spec/extract_2022.py` writes the path item's into the
        // operation's list instead (getCampaigns: no name declared twice).
        let own = op.get("parameters").and_then(Value::as_array);
        let shared = path_parameters.and_then(Value::as_array);
        for p in own
            .into_iter()
            .flatten()
            .chain(shared.into_iter().flatten())
        {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a parameter has no name")?;
            let location = match p.get("in").and_then(Value::as_str) {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                // Headers and cookies are not part of the query string or path.
                _ => continue,
            };
            if params
                .iter()
                .any(|q| q.name == name && q.location == location)
            {
                continue;
            }
            let description = p
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            params.push(Param {
                name: name.to_string(),
                location,
                required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                required_with_v2: description.contains(REQUIRED_WITH_V2),
                advisory_enum: description.contains(ADVISORY_ENUM),
                schema: p.get("schema").cloned().unwrap_or(Value::Null),
            });
        }
        let template: Vec<String> = path.split('/').map(str::to_string).collect();
        for segment in &template {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                && !params
                    .iter()
                    .any(|p| p.location == Location::Path && p.name == name)
            {
                return Err(format!(
                    "{} {path}: path parameter {name} is not declared",
                    method.to_uppercase()
                ));
            }
        }
        let body = op
            .pointer("/requestBody/content/application~1json/schema")
            .cloned();
        let body_required = op
            .pointer("/requestBody/required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Operation {
            id,
            file,
            template,
            params,
            body,
            body_required,
        })
    }

    /// Whether the operation takes a JSON body.
    pub(crate) fn has_body(&self) -> bool {
        self.body.is_some()
    }

    /// Checks the path (`/v1/campaigns/7/metrics`) and the raw query string.
    pub(crate) fn check_request(&self, path: &str, query: Option<&str>) -> Result<(), Refusal> {
        self.check_path(path)
            .and_then(|()| self.check_query(query))
            .map_err(|r| self.named(r))
    }

    /// `refusal` with this contract's file named.
    fn named(&self, refusal: Refusal) -> Refusal {
        Refusal {
            contract: self.file,
            ..refusal
        }
    }

    fn check_path(&self, path: &str) -> Result<(), Refusal> {
        let segments: Vec<&str> = path.split('/').collect();
        if segments.len() != self.template.len() {
            // The router matched the route, so this does not happen; say so if it does.
            return Err(Refusal::pointer(
                "",
                format!(
                    "{}: path '{path}' does not match the contract's '{}'",
                    self.id,
                    self.template.join("/")
                ),
            ));
        }
        for (raw, template) in segments.iter().zip(&self.template) {
            let Some(name) = template.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                continue;
            };
            let Some(param) = self
                .params
                .iter()
                .find(|p| p.location == Location::Path && p.name == name)
            else {
                continue;
            };
            let value = percent_decode(raw);
            self.check_value(param, &value)?;
        }
        Ok(())
    }

    fn check_query(&self, query: Option<&str>) -> Result<(), Refusal> {
        let pairs: Vec<(String, String)> = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let declared: Vec<&Param> = self
            .params
            .iter()
            .filter(|p| p.location == Location::Query)
            .collect();
        for (name, value) in &pairs {
            let Some(param) = declared.iter().find(|p| &p.name == name) else {
                let valid = if declared.is_empty() {
                    "it takes no query parameters".to_string()
                } else {
                    format!(
                        "valid parameters are {}",
                        declared
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(Refusal::parameter(
                    name,
                    format!(
                        "{}: unknown query parameter '{name}' (value '{value}'); {valid}",
                        self.id
                    ),
                ));
            };
            let values: Vec<&str> = pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            if values.len() > 1 && param.schema.get("type").and_then(Value::as_str) != Some("array")
            {
                return Err(Refusal::parameter(
                    name,
                    format!(
                        "{}: query parameter '{name}' is repeated (values '{}'); it takes one \
                         value, {}",
                        self.id,
                        values.join("', '"),
                        describe(&param.schema)
                    ),
                ));
            }
            self.check_value(param, value)?;
        }
        // The first value, as the handlers ([`Params::get`](super::params::Params::get)) and Go's
        // `Query().Get` read it (a repeated parameter was refused above).
        let version_2 = pairs
            .iter()
            .find(|(k, _)| k == "version")
            .is_some_and(|(_, v)| v == "2");
        for param in &declared {
            let needed = param.required || (param.required_with_v2 && version_2);
            if needed && !pairs.iter().any(|(k, _)| k == &param.name) {
                let when = if param.required {
                    ""
                } else {
                    " with version=2"
                };
                return Err(Refusal::parameter(
                    &param.name,
                    format!(
                        "{}: query parameter '{}' is required{when}; expected {}",
                        self.id,
                        param.name,
                        describe(&param.schema)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks one path or query value against its parameter's schema.
    fn check_value(&self, param: &Param, value: &str) -> Result<(), Refusal> {
        let what = format!("{}: {} '{}'", self.id, param.location.label(), param.name);
        let bad =
            |rule: String| Refusal::parameter(&param.name, format!("{what} is '{value}'; {rule}"));
        let schema = &param.schema;
        let number = match schema.get("type").and_then(Value::as_str) {
            Some("integer") => Some(
                value
                    .parse::<i64>()
                    .map_err(|_| bad("it must be an integer".into()))? as f64,
            ),
            Some("number") => Some(
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| bad("it must be a number".into()))?,
            ),
            Some("boolean") => {
                if value != "true" && value != "false" {
                    return Err(bad("it must be true or false".into()));
                }
                None
            }
            _ => None,
        };
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !param.advisory_enum
            && !allowed.iter().any(|a| enum_matches(a, value))
        {
            return Err(bad(format!("valid values are {}", list(allowed))));
        }
        if let Some(n) = number {
            check_bounds(schema, n).map_err(bad)?;
        }
        Ok(())
    }

    /// Checks a JSON body against the operation's body schema.
    pub(crate) fn check_body(&self, bytes: &[u8]) -> Result<(), Refusal> {
        self.check_body_value(bytes).map_err(|r| self.named(r))
    }

    fn check_body_value(&self, bytes: &[u8]) -> Result<(), Refusal> {
        let Some(schema) = &self.body else {
            return Ok(());
        };
        let expected = describe(schema);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            if self.body_required {
                return Err(Refusal::pointer(
                    "",
                    format!(
                        "{}: the request body is missing and the contract requires one \
                         (requestBody.required); expected {expected}",
                        self.id
                    ),
                ));
            }
            // An optional body may be left off, unless its schema asks for something an absent
            // body cannot have (a type, keys, variants): every served contract's does.
            if ["type", "required", "oneOf", "anyOf", "enum"]
                .iter()
                .all(|k| schema.get(k).is_none())
            {
                return Ok(());
            }
            return Err(Refusal::pointer(
                "",
                format!(
                    "{}: the request body is empty; expected {expected}",
                    self.id
                ),
            ));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            Refusal::pointer(
                "",
                format!(
                    "{}: the request body is not valid JSON ({e}); expected {expected}",
                    self.id
                ),
            )
        })?;
        check_json(schema, &value, "").map_err(|(pointer, rule)| {
            Refusal::pointer(&pointer, format!("{}: request body {rule}", self.id))
        })
    }
}

/// Whether a query value spells an enum member (`"2"` for `"2"`, `"60"` for `60`).
fn enum_matches(allowed: &Value, value: &str) -> bool {
    match allowed {
        Value::String(s) => s == value,
        other => value.parse::<Value>().is_ok_and(|v| &v == other),
    }
}

/// `minimum`/`maximum` of a schema, for a number.
fn check_bounds(schema: &Value, n: f64) -> Result<(), String> {
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && n < min
    {
        return Err(format!("the minimum is {}", fmt_number(min)));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && n > max
    {
        return Err(format!("the maximum is {}", fmt_number(max)));
    }
    Ok(())
}

fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Enum members as a comma-separated list.
fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A short description of what a schema accepts, for messages.
fn describe(schema: &Value) -> String {
    let mut out = match schema.get("type") {
        Some(Value::String(t)) => article(t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(article)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "a value".to_string(),
    };
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        let _ = write!(out, " (one of {})", list(allowed));
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        let _ = write!(out, " with {}", list(required));
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let keys: Vec<String> = variants
            .iter()
            .filter_map(|v| v.get("required").and_then(Value::as_array))
            .map(|r| list(r))
            .collect();
        if !keys.is_empty() {
            let _ = write!(out, " with exactly one of {}", keys.join(" | "));
        }
    }
    out
}

fn article(t: &str) -> String {
    match t {
        "integer" | "object" | "array" => format!("an {t}"),
        "null" => "null".to_string(),
        other => format!("a {other}"),
    }
}

/// The JSON type names a value has (`integer` values are also `number`s).
fn json_types(value: &Value) -> &'static [&'static str] {
    match value {
        Value::Null => &["null"],
        Value::Bool(_) => &["boolean"],
        Value::Number(n) if n.is_i64() || n.is_u64() => &["integer", "number"],
        Value::Number(_) => &["number"],
        Value::String(_) => &["string"],
        Value::Array(_) => &["array"],
        Value::Object(_) => &["object"],
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

fn child(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// Checks `value` (at JSON pointer `at`) against a JSON-schema subset; on failure, the pointer
/// and what is wrong.
fn check_json(schema: &Value, value: &Value, at: &str) -> Result<(), (String, String)> {
    let here = |rule: String| {
        let place = if at.is_empty() {
            "/".to_string()
        } else {
            at.to_string()
        };
        (
            at.to_string(),
            format!("at {place} is {}; {rule}", short(value)),
        )
    };
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !json_types(value).iter().any(|t| types.contains(t)) {
        return Err(here(format!("expected {}", describe(schema))));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(here(format!("valid values are {}", list(allowed))));
    }
    if let Some(n) = value.as_f64() {
        check_bounds(schema, n).map_err(here)?;
    }
    if let Value::Array(items) = value {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            return Err(here(format!(
                "it has {} items, at least {min} are required",
                items.len()
            )));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && (items.len() as u64) > max
        {
            return Err(here(format!(
                "it has {} items, at most {max} are allowed",
                items.len()
            )));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check_json(item_schema, item, &child(at, &i.to_string()))?;
            }
        }
    }
    if let Value::Object(fields) = value {
        check_object(schema, fields, at, &here)?;
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        // A variant that declares properties but requires none is keyed by them: it matches an
        // object only if the object has one of them (the filter grammars `{"and": [...]}`,
        // `{"or": [...]}`, `{"not": ...}` leave their single key unrequired and the objects open,
        // so every variant would match otherwise).
        let keyed = |v: &Value| match (value, v.get("properties").and_then(Value::as_object)) {
            (Value::Object(fields), Some(props)) if v.get("required").is_none() => {
                fields.keys().any(|k| props.contains_key(k))
            }
            _ => true,
        };
        let matching: Vec<usize> = variants
            .iter()
            .enumerate()
            .filter(|(_, v)| keyed(v) && check_json(v, value, at).is_ok())
            .map(|(i, _)| i)
            .collect();
        if matching.len() != 1 {
            let titles = |idx: &[usize]| {
                idx.iter()
                    .map(|&i| {
                        variants[i]
                            .get("title")
                            .and_then(Value::as_str)
                            .map_or_else(|| format!("variant {i}"), str::to_string)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let rule = if matching.is_empty() {
                // The variant whose required keys are all there (the selector the client chose)
                // says what is wrong with it, at its own pointer.
                if let Value::Object(fields) = value
                    && let Some(intended) = variants.iter().find(|v| {
                        v.get("required")
                            .and_then(Value::as_array)
                            .is_some_and(|r| {
                                r.iter()
                                    .filter_map(Value::as_str)
                                    .all(|k| fields.contains_key(k))
                            })
                    })
                    && let Err(complaint) = check_json(intended, value, at)
                {
                    return Err(complaint);
                }
                format!(
                    "it matches none of the documented variants; expected {}",
                    describe(schema)
                )
            } else {
                format!(
                    "it matches more than one documented variant ({}); expected {}",
                    titles(&matching),
                    describe(schema)
                )
            };
            return Err(here(rule));
        }
    }
    if let Some(variants) = schema.get("anyOf").and_then(Value::as_array)
        && !variants.iter().any(|v| check_json(v, value, at).is_ok())
    {
        return Err(here("it matches none of the documented variants".into()));
    }
    Ok(())
}

fn check_object(
    schema: &Value,
    fields: &Map<String, Value>,
    at: &str,
    here: &dyn Fn(String) -> (String, String),
) -> Result<(), (String, String)> {
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(key) {
                return Err(here(format!(
                    "the key '{key}' is required; expected {}",
                    describe(schema)
                )));
            }
        }
    }
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    let known: BTreeMap<&str, &Value> = properties
        .map(|p| p.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default();
    for (key, field) in fields {
        match known.get(key.as_str()) {
            Some(sub) => check_json(sub, field, &child(at, key))?,
            None if closed => {
                return Err(here(format!(
                    "the key '{key}' is not allowed; valid keys are {}",
                    known.keys().copied().collect::<Vec<_>>().join(", ")
                )));
            }
            None => {}
        }
    }
    Ok(())
}

/// Percent-decodes a path segment (`cio_0%2B1` → `cio_0+1`).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contracts() -> Contracts {
        Contracts::from_specs().unwrap()
    }

    #[test]
    fn every_served_operation_has_a_contract() {
        let c = contracts();
        for op in [
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
            "listExports",
            "exportPeopleData",
            "exportDeliveriesData",
            "getExport",
            "downloadExport",
        ] {
            assert!(c.get(op).is_some(), "{op}");
        }
        assert_eq!(
            c.get("getCampaigns").unwrap().file,
            "spec/customer_io_api.2022-ops.json"
        );
        assert_eq!(
            c.get("listNewsletters").unwrap().file,
            "spec/journeys-app.2026-ops.json"
        );
    }

    #[test]
    fn campaign_metrics_quirks_come_from_the_descriptions() {
        let op = contracts().get("campaignMetrics").unwrap();
        let p = |name: &str| op.params.iter().find(|p| p.name == name).unwrap();
        assert!(p("version").advisory_enum);
        for name in ["res", "start", "end"] {
            assert!(p(name).required_with_v2, "{name}");
        }
        assert!(!p("period").required_with_v2);
        let path = "/v1/campaigns/1/metrics";
        assert!(
            op.check_request(path, Some("version=3&period=days"))
                .is_ok()
        );
        let missing = op
            .check_request(path, Some("version=2&res=days&start=1"))
            .unwrap_err();
        assert_eq!(missing.source, json!({"parameter": "end"}));
        let inbox = op.check_request(path, Some("type=inbox")).unwrap_err();
        assert_eq!(
            inbox.contract,
            "spec/customerio-api/journeys-app.2026-excerpt.json"
        );
        assert!(inbox.detail.contains("'inbox'"), "{}", inbox.detail);
        assert!(
            inbox.detail.contains("live_notification"),
            "{}",
            inbox.detail
        );
        let id = op
            .check_request("/v1/campaigns/x/metrics", None)
            .unwrap_err();
        assert_eq!(id.source, json!({"parameter": "campaign_id"}));
    }

    #[test]
    fn bodies_are_checked_against_the_schema() {
        let c = contracts();
        let by_id = c.get("getPeopleById").unwrap();
        assert!(by_id.check_body(br#"{"ids":["1"]}"#).is_ok());
        let empty = by_id.check_body(br#"{"ids":[]}"#).unwrap_err();
        assert_eq!(empty.source, json!({"pointer": "/ids"}));
        let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        let body = serde_json::to_vec(&json!({ "ids": many })).unwrap();
        assert!(by_id.check_body(&body).unwrap_err().detail.contains("100"));
        let typed = by_id.check_body(br#"{"ids":[1]}"#).unwrap_err();
        assert_eq!(typed.source, json!({"pointer": "/ids/0"}));
        assert!(by_id.check_body(b"{").is_err());
        assert!(by_id.check_body(b"").is_err());
        let deliveries = c.get("exportDeliveriesData").unwrap();
        assert!(
            deliveries
                .check_body(br#"{"campaign_id":3,"start":1}"#)
                .is_ok()
        );
        assert!(deliveries.check_body(br#"{"start":1}"#).is_err());
        assert!(
            deliveries
                .check_body(br#"{"campaign_id":3,"newsletter_id":4}"#)
                .is_err()
        );
        let metric = deliveries
            .check_body(br#"{"campaign_id":3,"metric":"read"}"#)
            .unwrap_err();
        assert!(metric.detail.contains("undeliverable"), "{}", metric.detail);
    }

    #[test]
    fn closed_objects_refuse_unknown_keys() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}},
                            "additionalProperties": false});
        assert!(check_json(&schema, &json!({"a": 1}), "").is_ok());
        let (pointer, rule) = check_json(&schema, &json!({"a": 1, "b": 2}), "").unwrap_err();
        assert_eq!(pointer, "");
        assert!(rule.contains("'b'"), "{rule}");
    }

    /// A one-path spec file for the tests below.
    fn inline(spec: Value) -> Contracts {
        let mut c = Contracts::default();
        c.add_file("inline.json", &spec.to_string()).unwrap();
        c
    }

    #[test]
    fn path_level_parameters_apply_and_the_operation_wins() {
        let c = inline(json!({"paths": {"/v1/things/{thing_id}": {
            "parameters": [
                {"name": "thing_id", "in": "path", "required": true,
                 "schema": {"type": "integer"}},
                {"name": "mode", "in": "query", "schema": {"type": "string", "enum": ["a", "b"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 10}}
            ],
            "get": {"operationId": "getThing", "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 50}}
            ]}
        }}}));
        let op = c.get("getThing").unwrap();
        let path = "/v1/things/7";
        assert!(op.check_request(path, Some("mode=a&limit=40")).is_ok());
        // The path item's declarations: the path parameter's type, the query parameter's enum.
        let id = op.check_request("/v1/things/x", None).unwrap_err();
        assert_eq!(id.source, json!({"parameter": "thing_id"}));
        let mode = op.check_request(path, Some("mode=c")).unwrap_err();
        assert_eq!(mode.source, json!({"parameter": "mode"}));
        assert!(mode.detail.contains("a, b"), "{}", mode.detail);
        // The operation's `limit` (maximum 50) replaces the path item's (maximum 10).
        let limit = op.check_request(path, Some("limit=60")).unwrap_err();
        assert!(limit.detail.contains("maximum is 50"), "{}", limit.detail);
        assert_eq!(op.params.iter().filter(|p| p.name == "limit").count(), 1);
    }

    #[test]
    fn repeated_parameters_are_refused_unless_arrays() {
        let c = inline(json!({"paths": {"/v1/things": {"get": {
            "operationId": "listThings",
            "parameters": [
                {"name": "tag", "in": "query",
                 "schema": {"type": "array", "items": {"type": "string"}}}
            ]
        }}}}));
        assert!(
            c.get("listThings")
                .unwrap()
                .check_request("/v1/things", Some("tag=a&tag=b"))
                .is_ok()
        );
        let op = contracts().get("campaignMetrics").unwrap();
        let path = "/v1/campaigns/1/metrics";
        for q in [
            "version=2&version=1&res=days&start=1&end=2",
            "version=2&version=&res=days&start=1&end=2",
            "period=days&period=days",
        ] {
            let e = op.check_request(path, Some(q)).unwrap_err();
            let name = q.split('=').next().unwrap();
            assert_eq!(e.source, json!({"parameter": name}), "{q}");
            assert!(e.detail.contains("repeated"), "{q}: {}", e.detail);
        }
    }

    #[test]
    fn request_body_required_is_honoured() {
        let op = |required: Option<bool>, schema: Value| {
            let mut body = json!({"content": {"application/json": {"schema": schema}}});
            if let Some(r) = required {
                body["required"] = json!(r);
            }
            let c = inline(json!({"paths": {"/v1/things": {"post": {
                "operationId": "postThing", "requestBody": body
            }}}}));
            c.get("postThing").unwrap()
        };
        let required = op(Some(true), json!({})).check_body(b"").unwrap_err();
        assert!(
            required.detail.contains("requestBody.required"),
            "{}",
            required.detail
        );
        assert_eq!(required.contract, "inline.json");
        assert!(op(Some(true), json!({})).check_body(b"{}").is_ok());
        // Optional, with a schema any value satisfies: it may be left off.
        assert!(op(None, json!({})).check_body(b"").is_ok());
        assert!(op(Some(false), json!({})).check_body(b" ").is_ok());
        // Optional, but its schema asks for keys: an absent body cannot have them.
        let keys = json!({"type": "object", "required": ["a"]});
        assert!(op(None, keys).check_body(b"").is_err());
    }

    #[test]
    fn percent_decoding_of_path_segments() {
        assert_eq!(percent_decode("cio_0%2B1"), "cio_0+1");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

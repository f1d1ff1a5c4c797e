//! Handlers for people: search (`POST /v1/customers`), batch attributes and one person's
//! attributes.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use serde_json::{Value, json};

use super::customers::{Filter, People};
use super::error::{ApiError, ApiResult};
use super::params::{Params, encode_cursor, start_offset};
use super::state::{SimState, Workspace};

const SEARCH_DEFAULT_LIMIT: i64 = 50;
const SEARCH_MAX_LIMIT: i64 = 1000;
const BATCH_MAX_IDS: usize = 100;

/// Parses a JSON request body into an object.
pub(crate) fn json_body(body: &Bytes) -> ApiResult<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// `POST /v1/customers` (`getPeopleFilter`): `{"filter": ...}`, `limit` (default 50, clamped
/// to 1000), `start` cursor. Identifier equalities are direct lookups; other filters scan
/// lazily from the cursor.
pub(crate) async fn search(
    Extension(ws): Extension<Arc<Workspace>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let limit = params.int("limit")?.unwrap_or(SEARCH_DEFAULT_LIMIT);
    if limit < 1 {
        return Err(ApiError::bad_request(format!(
            "limit must be at least 1, got {limit}"
        )));
    }
    let limit = limit.min(SEARCH_MAX_LIMIT) as usize;
    let offset = start_offset(&params)?;
    let body = json_body(&body)?;
    let filter = match body.get("filter") {
        Some(f) => Filter::parse(f, "filter")?,
        None if body.contains_key("filters") => {
            return Err(ApiError::bad_request(
                "filter is required (this endpoint takes 'filter'; 'filters' is the exports key)",
            ));
        }
        None => return Err(ApiError::bad_request("filter is required")),
    };
    let people = &ws.people;
    let (found, next) = filter.page(people, offset, limit);
    let identifiers: Vec<Value> = found
        .iter()
        .map(|&i| json!({"email": people.email(i), "id": people.id(i), "cio_id": people.cio_id(i)}))
        .collect();
    let ids: Vec<String> = found
        .iter()
        .map(|&i| people.id(i).unwrap_or_default())
        .collect();
    Ok(Json(json!({
        "identifiers": identifiers,
        "ids": ids,
        "next": next.map(encode_cursor).unwrap_or_default(),
    })))
}

/// How a path or body id names a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdType {
    Id,
    CioId,
}

fn lookup(people: &People, id_type: IdType, raw: &str) -> Option<u64> {
    match id_type {
        IdType::Id => people.by_id(raw),
        IdType::CioId => people.by_cio_id(raw.strip_prefix("cio_").unwrap_or(raw)),
    }
}

/// `POST /v1/customers/attributes` (`getPeopleById`): `{"ids": [...]}` (1 to 100),
/// `id_type` `id` or `cio_id`. Unknown ids are left out; items are unwrapped (live shape) unless
/// [`ShapeConfig::people`](super::ShapeConfig) says otherwise.
pub(crate) async fn batch_attributes(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let id_type = match params.one_of("id_type", &["id", "cio_id"])?.as_deref() {
        Some("cio_id") => IdType::CioId,
        _ => IdType::Id,
    };
    let body = json_body(&body)?;
    let ids = body.get("ids").and_then(Value::as_array).ok_or_else(|| {
        ApiError::bad_request("ids (an array of 1 to 100 customer ids) is required")
    })?;
    if ids.is_empty() || ids.len() > BATCH_MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "ids must hold between 1 and {BATCH_MAX_IDS} customer ids, got {}",
            ids.len()
        )));
    }
    let mut seen = BTreeSet::new();
    let mut customers = Vec::new();
    for (n, raw) in ids.iter().enumerate() {
        let raw = match raw {
            Value::String(s) => s.clone(),
            Value::Number(num) => num.to_string(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "ids[{n}] must be a string, got {other}"
                )));
            }
        };
        if let Some(i) = lookup(&ws.people, id_type, &raw).filter(|i| seen.insert(*i)) {
            let item = state
                .config
                .shapes
                .person_item(ws.people.person(i).to_json(), customers.len());
            customers.push(item);
        }
    }
    Ok(Json(json!({ "customers": customers })))
}

/// `GET /v1/customers/{id}/attributes` (`getPersonAttributes`): `id_type` `id` (default) or
/// `cio_id` (values carry the `cio_` prefix); `email` and `phone` are not enabled as identifiers
/// in simulated workspaces.
pub(crate) async fn person_attributes(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let i = resolve_person(&ws, &id, &params)?;
    Ok(Json(json!({ "customer": ws.people.person(i).to_json() })))
}

/// The person `id` names under the request's `id_type` (`id` by default, `cio_id` with its
/// `cio_` prefix; `email` and `phone` are not enabled as identifiers in the simulated
/// workspaces: 400, as the spec says of a workspace without them), for every operation that
/// takes a person's id.
pub(crate) fn resolve_person(ws: &Workspace, id: &str, params: &Params) -> ApiResult<u64> {
    let id_type = params.one_of("id_type", &["id", "email", "phone", "cio_id"])?;
    let found = match id_type.as_deref() {
        Some(kind @ ("email" | "phone")) => {
            return Err(ApiError::bad_request(format!(
                "id_type {kind} is not enabled as identifiers in this workspace; use id or cio_id"
            )));
        }
        Some("cio_id") => match id.strip_prefix("cio_") {
            Some(cio) => lookup(&ws.people, IdType::CioId, cio),
            None => {
                return Err(ApiError::not_found(format!(
                    "customer {id} not found (cio_id values carry the cio_ prefix, e.g. cio_{id})"
                )));
            }
        },
        _ => lookup(&ws.people, IdType::Id, id),
    };
    found.ok_or_else(|| ApiError::not_found(format!("customer {id} not found")))
}

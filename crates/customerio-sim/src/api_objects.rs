//! Handlers for the object listings: deliveries, activities, broadcasts, newsletter contents,
//! transactional messages, segment membership, a person's segments, collections, the IP
//! allowlist, reporting webhooks, sender identities, snippets and ESP suppressions.
//!
//! Paging and quirks follow API-NOTES §2.6 and §5: deliveries and activities newest first;
//! an empty delivery listing is `"messages": null`; the last page of activities still carries a
//! cursor, whose page is empty; an empty segment has `ids` and `identifiers` `null`; an empty
//! suppression category is `{"suppressions": null}` without `category`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use serde_json::{Value, json};

use super::api_catalog::paginate;
use super::error::{ApiError, ApiResult};
use super::objects::{IP_ADDRESSES, Objects};
use super::params::{Params, encode_cursor, path_id, start_offset};
use super::state::{SimState, Workspace};

fn objects(ws: &Workspace) -> Objects<'_> {
    Objects {
        catalog: &ws.catalog,
        people: &ws.people,
    }
}

/// `limit` within `1..=max` (the contracts' maxima are checked by strict mode; out of range
/// without it is clamped), or `default`.
fn page_limit(params: &Params, default: i64, max: i64) -> ApiResult<u64> {
    let limit = params.int("limit")?.unwrap_or(default);
    if limit < 1 {
        return Err(ApiError::bad_request(format!(
            "limit must be at least 1, got {limit}"
        )));
    }
    Ok(limit.min(max) as u64)
}

/// A 400 for a parameter the contract declares but the simulator does not model (`drafts`,
/// `state`, `get_tracked_responses` of the delivery listings, `domain` of the suppressions,
/// `hidden` of the senders): answering as if it were absent would be a silent wrong answer to
/// whoever relies on it.
fn unsimulated(params: &Params, names: &[&str]) -> ApiResult<()> {
    match names.iter().find(|n| params.get(n).is_some()) {
        Some(n) => Err(ApiError::bad_request(format!(
            "parameter {n} is accepted by Customer.io but not simulated: leave it out"
        ))),
        None => Ok(()),
    }
}

/// The person a path or `customer_id` names, by `id_type`: as every person operation reads it.
fn person(ws: &Workspace, id: &str, params: &Params) -> ApiResult<u64> {
    crate::api_people::resolve_person(ws, id, params)
}

// ---- deliveries -------------------------------------------------------------------------------

/// Which deliveries a message listing covers, beyond its query parameters.
enum Scope {
    All,
    Person(u64),
    Campaign(u64),
    Newsletter(u64),
    Broadcast(u64),
}

fn list_deliveries(
    state: &SimState,
    ws: &Workspace,
    scope: Scope,
    params: &Params,
) -> ApiResult<Json<Value>> {
    unsimulated(params, &["drafts", "state", "get_tracked_responses"])?;
    let limit = page_limit(params, 50, 1000)?;
    let offset = start_offset(params)?;
    let kind = params.get("type");
    let metric = params.get("metric");
    let campaign = params.int("campaign_id")?;
    let newsletter = params.int("newsletter_id")?;
    let action = params.int("action_id")?;
    let from = params.int("start_ts")?;
    let to = params.int("end_ts")?;
    let objects = objects(ws);
    let now = state.config.clock.now().timestamp();
    let n = objects.messages_at(now);
    let mut matched: Vec<Value> = Vec::new();
    // Newest first.
    for i in (0..n).rev() {
        if let Scope::Person(p) = scope
            && objects.message_person(i) != p
        {
            continue;
        }
        let m = objects.message(i);
        let is = |key: &str, want: Option<i64>| want.is_none_or(|w| m[key].as_i64() == Some(w));
        let keep = match scope {
            Scope::Campaign(c) => m["campaign_id"].as_u64() == Some(c),
            Scope::Newsletter(c) => m["newsletter_id"].as_u64() == Some(c),
            Scope::Broadcast(c) => m["broadcast_id"].as_u64() == Some(c),
            _ => true,
        } && kind.is_none_or(|k| m["type"].as_str() == Some(k))
            && metric.is_none_or(|k| m["metrics"].get(k).is_some())
            && is("campaign_id", campaign)
            && is("newsletter_id", newsletter)
            && is("action_id", action)
            && from.is_none_or(|t| m["created"].as_i64().unwrap_or(0) >= t)
            && to.is_none_or(|t| m["created"].as_i64().unwrap_or(0) <= t);
        if keep {
            matched.push(match scope {
                Scope::Person(_) => person_shape(m),
                _ => m,
            });
        }
    }
    let (page, next) = paginate(matched, offset, limit);
    // An empty listing is `null`, as live (API-NOTES §5).
    let messages = if page.is_empty() {
        Value::Null
    } else {
        json!(page)
    };
    Ok(Json(json!({ "messages": messages, "next": next })))
}

/// A delivery in the older item shape the 2026 contract gives `getPersonMessages`:
/// `msg_template_id` a string.
fn person_shape(mut m: Value) -> Value {
    if let Some(id) = m.get("msg_template_id").and_then(Value::as_u64) {
        m["msg_template_id"] = json!(id.to_string());
    }
    // `campaign_id` is a plain integer there: a delivery of no campaign leaves it out.
    if let Value::Object(o) = &mut m
        && o.get("campaign_id").is_some_and(Value::is_null)
    {
        o.remove("campaign_id");
    }
    m
}

/// `GET /v1/messages` (`listMessages`).
pub(crate) async fn list_messages(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    list_deliveries(&state, &ws, Scope::All, &Params::parse(query.as_deref()))
}

/// `GET /v1/customers/{customer_id}/messages` (`getPersonMessages`).
pub(crate) async fn person_messages(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let p = person(&ws, &id, &params)?;
    list_deliveries(&state, &ws, Scope::Person(p), &params)
}

/// The deliveries of the item a message route names (`{kind}_id` in the path), or 404.
fn item_deliveries(
    state: &SimState,
    ws: &Workspace,
    kind: &str,
    raw: &str,
    query: Option<&str>,
) -> ApiResult<Json<Value>> {
    let id = path_id(&format!("{kind}_id"), raw)?;
    let (exists, scope) = match kind {
        "campaign" => (ws.catalog.campaign(id).is_some(), Scope::Campaign(id)),
        "newsletter" => (ws.catalog.newsletter(id).is_some(), Scope::Newsletter(id)),
        _ => (objects(ws).broadcast(id).is_some(), Scope::Broadcast(id)),
    };
    if !exists {
        return Err(ApiError::not_found(format!("{kind} {id} not found")));
    }
    list_deliveries(state, ws, scope, &Params::parse(query))
}

/// `GET /v1/campaigns/{campaign_id}/messages` (`getCampaignMessages`).
pub(crate) async fn campaign_messages(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    item_deliveries(&state, &ws, "campaign", &id, query.as_deref())
}

/// `GET /v1/newsletters/{newsletter_id}/messages` (`getNewsletterMsgMeta`).
pub(crate) async fn newsletter_messages(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    item_deliveries(&state, &ws, "newsletter", &id, query.as_deref())
}

/// `GET /v1/broadcasts/{broadcast_id}/messages` (`broadcastMessages`).
pub(crate) async fn broadcast_messages(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    item_deliveries(&state, &ws, "broadcast", &id, query.as_deref())
}

// ---- activities -------------------------------------------------------------------------------

fn list_activity_items(
    state: &SimState,
    ws: &Workspace,
    person_scope: Option<u64>,
    params: &Params,
) -> ApiResult<Json<Value>> {
    let limit = page_limit(params, 10, 100)?;
    let offset = start_offset(params)?;
    let kind = params.get("type");
    let name = params.get("name");
    let deleted = params.bool("deleted", false)?;
    let person_scope = match (person_scope, params.get("customer_id")) {
        (Some(p), _) => Some(p),
        (None, Some(id)) => Some(person(ws, id, params)?),
        (None, None) => None,
    };
    let objects = objects(ws);
    let now = state.config.clock.now().timestamp();
    let mut matched = Vec::new();
    for i in (0..objects.activities_at(now)).rev() {
        if person_scope.is_some_and(|p| objects.activity_person(i) != p)
            || (!deleted && objects.activity_deleted(i))
        {
            continue;
        }
        let a = objects.activity(i);
        if kind.is_none_or(|k| a["type"].as_str() == Some(k))
            && name.is_none_or(|n| a["name"].as_str() == Some(n))
        {
            matched.push(a);
        }
    }
    let total = matched.len() as u64;
    let (page, next) = paginate(matched, offset, limit);
    // The last page still carries a cursor; its page is empty and carries it again (API-NOTES §5).
    let next = if next.is_empty() && total > 0 {
        encode_cursor(total)
    } else {
        next
    };
    Ok(Json(json!({ "activities": page, "next": next })))
}

/// `GET /v1/activities` (`listActivities`).
pub(crate) async fn list_activities(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    list_activity_items(&state, &ws, None, &Params::parse(query.as_deref()))
}

/// `GET /v1/customers/{customer_id}/activities` (`getPersonActivities`).
pub(crate) async fn person_activities(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let p = person(&ws, &id, &params)?;
    list_activity_items(&state, &ws, Some(p), &params)
}

// ---- broadcasts, contents, transactional ------------------------------------------------------

/// `GET /v1/broadcasts` (`listBroadcasts`).
pub(crate) async fn list_broadcasts(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    let o = objects(&ws);
    let items: Vec<Value> = (1..=o.broadcast_count())
        .filter_map(|id| o.broadcast(id))
        .collect();
    Json(json!({ "broadcasts": items }))
}

/// `GET /v1/broadcasts/{broadcast_id}/actions` (`broadcastActions`).
pub(crate) async fn broadcast_actions(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = path_id("broadcast_id", &id)?;
    let actions = objects(&ws)
        .broadcast_actions(id)
        .ok_or_else(|| ApiError::not_found(format!("broadcast {id} not found")))?;
    Ok(Json(json!({ "actions": actions })))
}

/// `GET /v1/newsletters/{newsletter_id}/contents` (`listNewsletterVariants`).
pub(crate) async fn newsletter_contents(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = path_id("newsletter_id", &id)?;
    let contents = objects(&ws)
        .newsletter_contents(id)
        .ok_or_else(|| ApiError::not_found(format!("newsletter {id} not found")))?;
    Ok(Json(json!({ "contents": contents })))
}

/// `GET /v1/transactional` (`listTransactional`).
pub(crate) async fn list_transactional(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    Json(json!({ "messages": objects(&ws).transactional() }))
}

// ---- segments and people ----------------------------------------------------------------------

/// `GET /v1/segments/{segment_id}/membership` (`getSegmentMembership`): `limit` (default 1000),
/// `start`; `ids` and `identifiers` side by side, `null` for an empty segment.
pub(crate) async fn segment_membership(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let segment = segment_id(&ws, &id)?;
    let params = Params::parse(query.as_deref());
    let limit = page_limit(&params, 1000, 30_000)?;
    let offset = start_offset(&params)?;
    let members: Vec<u64> = (0..ws.people.count())
        .filter(|&i| ws.people.in_segment(segment, i))
        .collect();
    let (page, next) = paginate(members, offset, limit);
    if page.is_empty() {
        return Ok(Json(
            json!({ "ids": Value::Null, "identifiers": Value::Null, "next": next }),
        ));
    }
    let ids: Vec<Value> = page
        .iter()
        .map(|&i| json!(ws.people.id(i).unwrap_or_default()))
        .collect();
    let identifiers: Vec<Value> = page
        .iter()
        .map(|&i| {
            json!({
                "id": ws.people.id(i),
                "email": ws.people.email(i),
                "cio_id": ws.people.cio_id(i),
            })
        })
        .collect();
    Ok(Json(
        json!({ "ids": ids, "identifiers": identifiers, "next": next }),
    ))
}

fn segment_id(ws: &Workspace, raw: &str) -> ApiResult<u64> {
    let segment = path_id("segment_id", raw)?;
    if segment == 0 || segment > u64::from(ws.spec.segments) {
        return Err(ApiError::not_found(format!("segment {segment} not found")));
    }
    Ok(segment)
}

/// `GET /v1/segments/{segment_id}/customer_count` (`getSegmentCount`).
pub(crate) async fn segment_count(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let segment = segment_id(&ws, &id)?;
    let count = (0..ws.people.count())
        .filter(|&i| ws.people.in_segment(segment, i))
        .count();
    Ok(Json(json!({ "segment_id": segment, "count": count })))
}

/// `GET /v1/segments/{segment_id}/used_by` (`getSegmentDependencies`): the campaigns that
/// trigger on or filter by the segment, and the newsletters sent (or drafted) to it.
pub(crate) async fn segment_used_by(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let segment = segment_id(&ws, &id)?;
    let has = |v: &Value, key: &str| {
        v[key]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|x| x.as_u64() == Some(segment)))
    };
    let campaigns: Vec<u64> = ws
        .catalog
        .campaign_ids()
        .filter(|c| {
            ws.catalog
                .campaign(*c)
                .is_some_and(|v| has(&v, "trigger_segment_ids") || has(&v, "filter_segment_ids"))
        })
        .collect();
    let (mut sent, mut draft) = (Vec::new(), Vec::new());
    for n in 1..=ws.catalog.newsletter_count() {
        if let Some(v) = ws.catalog.newsletter(n)
            && has(&v, "recipient_segment_ids")
        {
            if v["sent_at"].is_null() {
                draft.push(n);
            } else {
                sent.push(n);
            }
        }
    }
    Ok(Json(json!({
        "segment_id": segment,
        "used_by": { "campaigns": campaigns, "sent_newsletters": sent, "draft_newsletters": draft },
    })))
}

/// `GET /v1/customers/{customer_id}/segments` (`getPersonSegments`).
pub(crate) async fn person_segments(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let p = person(&ws, &id, &params)?;
    let segments: Vec<Value> = ws
        .catalog
        .segments()
        .into_iter()
        .filter(|s| {
            s["id"]
                .as_u64()
                .is_some_and(|seg| ws.people.in_segment(seg, p))
        })
        .collect();
    Ok(Json(json!({ "segments": segments })))
}

// ---- workspace objects ------------------------------------------------------------------------

/// `GET /v1/collections` (`getCollections`).
pub(crate) async fn list_collections(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    Json(json!({ "collections": objects(&ws).collections() }))
}

/// `GET /v1/collections/{collection_id}/content` (`getCollectionContents`): the data itself.
pub(crate) async fn collection_content(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = path_id("collection_id", &id)?;
    objects(&ws)
        .collection_content(id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("collection {id} not found")))
}

/// `GET /v1/info/ip_addresses` (`getCioAllowlist`).
pub(crate) async fn ip_addresses() -> Json<Value> {
    Json(json!({ "ip_addresses": IP_ADDRESSES }))
}

/// `GET /v1/reporting_webhooks` (`listWebhooks`).
pub(crate) async fn list_webhooks(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    Json(json!({ "reporting_webhooks": objects(&ws).reporting_webhooks() }))
}

/// `GET /v1/sender_identities` (`listSenders`): `limit` (default 10, a choice: the contracts
/// name no default), `sort`, `start`.
pub(crate) async fn list_senders(
    Extension(ws): Extension<Arc<Workspace>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    unsimulated(&params, &["hidden"])?;
    let limit = page_limit(&params, 10, 1000)?;
    let offset = start_offset(&params)?;
    let mut items = objects(&ws).sender_identities();
    if params.one_of("sort", &["asc", "desc"])?.as_deref() == Some("desc") {
        items.reverse();
    }
    let (page, next) = paginate(items, offset, limit);
    Ok(Json(json!({ "sender_identities": page, "next": next })))
}

/// `GET /v1/snippets` (`listSnippets`).
pub(crate) async fn list_snippets(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    Json(json!({ "snippets": objects(&ws).snippets() }))
}

/// `GET /v1/esp/suppression/{suppression_type}` (`getSuppressionByType`): `limit` (default 100,
/// at most 1000) and `offset`. `category` is the 2026 enum's (`bounces`, `spam`); the blocks and
/// invalid-email lists carry none (the enum has no value for them: a choice, docs/API-NOTES.md §7).
pub(crate) async fn suppressions(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(kind): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    const TYPES: &[&str] = &["bounces", "blocks", "spam_reports", "invalid_emails"];
    if !TYPES.contains(&kind.as_str()) {
        return Err(ApiError::bad_request(format!(
            "suppression_type must be one of {}, got '{kind}'",
            TYPES.join(", ")
        )));
    }
    let params = Params::parse(query.as_deref());
    unsimulated(&params, &["domain"])?;
    let limit = page_limit(&params, 100, 1000)?;
    let offset = params.int("offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request(format!(
            "offset must be at least 0, got {offset}"
        )));
    }
    let Some(items) = objects(&ws).suppressions(&kind) else {
        return Ok(Json(json!({ "suppressions": Value::Null })));
    };
    let page: Vec<Value> = items
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    let mut answer = json!({ "suppressions": page });
    match kind.as_str() {
        "bounces" => answer["category"] = json!("bounces"),
        "spam_reports" => answer["category"] = json!("spam"),
        _ => {}
    }
    Ok(Json(answer))
}

/// `GET /v1/transactional/{transactional_id}/contents` (`listTransactionalVariants`).
pub(crate) async fn transactional_contents(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = path_id("transactional_id", &id)?;
    let contents = objects(&ws)
        .transactional_contents(id)
        .ok_or_else(|| ApiError::not_found(format!("transactional message {id} not found")))?;
    Ok(Json(json!({ "contents": contents })))
}

/// `GET /v1/workspaces` (`listWorkspaces`): the key's own workspace (a key belongs to one).
pub(crate) async fn list_workspaces(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
) -> Json<Value> {
    let o = objects(&ws);
    let now = state.config.clock.now().timestamp();
    let sent = o.messages_at(now);
    let index = state
        .workspaces
        .iter()
        .position(|w| w.spec.name == ws.spec.name)
        .unwrap_or(0);
    let objects_total: u64 = (1..=2).map(|t| o.object_count(t)).sum();
    Json(json!({ "workspaces": [{
        "id": 130_000 + index as u64,
        "name": ws.spec.name,
        "messages_sent": sent,
        "billable_messages_sent": sent - sent / 10,
        "people": ws.people.count(),
        "objects": objects_total,
        "object_types": 2,
    }] }))
}

/// `GET /v1/object_types` (`getObjectTypes`).
pub(crate) async fn object_types(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    Json(json!({ "types": objects(&ws).object_types() }))
}

/// Whether object `j` of type `t` meets one `object_attribute` condition.
fn object_condition(o: &Objects, t: u64, j: u64, cond: &Value) -> ApiResult<bool> {
    let Some(attr) = cond.get("object_attribute") else {
        return Err(ApiError::bad_request(
            "filter conditions must be object_attribute".to_string(),
        ));
    };
    if attr["type_id"].as_str() != Some(t.to_string().as_str()) {
        return Ok(false);
    }
    let field = attr["field"].as_str().unwrap_or_default();
    let ids = o.object_identifiers(t, j);
    let attributes = o.object_attributes(t, j);
    let value = match field {
        "object_id" => Some(ids["object_id"].clone()),
        other => attributes.get(other).cloned(),
    };
    Ok(match attr["operator"].as_str() {
        Some("exists") => value.is_some(),
        Some("eq") => {
            let want = attr.get("value").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request("the eq operator needs a value".to_string())
            })?;
            value.is_some_and(|v| match v {
                Value::String(s) => s == want,
                other => other == want,
            })
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "operator must be eq or exists, got {other:?}"
            )));
        }
    })
}

/// `POST /v1/objects` (`getObjectsFilter`): the objects of `object_type_id` that match `filter`
/// (`and`, `or` or `not` of `object_attribute` conditions); `start`/`limit` (default 50, a
/// choice: the contract names none).
pub(crate) async fn objects_filter(
    Extension(ws): Extension<Arc<Workspace>>,
    RawQuery(query): RawQuery,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let limit = page_limit(&params, 50, 1000)?;
    let offset = start_offset(&params)?;
    let t: u64 = body["object_type_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request("object_type_id must be a string-formatted integer")
        })?;
    let o = objects(&ws);
    let filter = &body["filter"];
    let mut matched = Vec::new();
    for j in 0..o.object_count(t) {
        let keep = if filter.get("object_attribute").is_some() {
            object_condition(&o, t, j, filter)?
        } else if let Some(all) = filter.get("and").and_then(Value::as_array) {
            let mut ok = true;
            for c in all {
                ok &= object_condition(&o, t, j, c)?;
            }
            ok
        } else if let Some(any) = filter.get("or").and_then(Value::as_array) {
            let mut ok = false;
            for c in any {
                ok |= object_condition(&o, t, j, c)?;
            }
            ok
        } else if let Some(not) = filter.get("not") {
            !object_condition(&o, t, j, not)?
        } else {
            return Err(ApiError::bad_request(
                "filter must have and, or, not or object_attribute",
            ));
        };
        if keep {
            matched.push(j);
        }
    }
    let (page, next) = paginate(matched, offset, limit);
    let identifiers: Vec<Value> = page.iter().map(|&j| o.object_identifiers(t, j)).collect();
    let ids: Vec<Value> = identifiers.iter().map(|i| i["object_id"].clone()).collect();
    Ok(Json(
        json!({ "identifiers": identifiers, "ids": ids, "next": next }),
    ))
}

/// `GET /v1/objects/{object_type_id}/{object_id}/attributes` (`getObjectAttributes`): the object
/// by its `object_id`, or by its `cio_object_id` with `id_type=cio_object_id`.
pub(crate) async fn object_attributes(
    Extension(ws): Extension<Arc<Workspace>>,
    Path((t, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let key = params
        .one_of("id_type", &["object_id", "cio_object_id"])?
        .unwrap_or_else(|| "object_id".into());
    let t = path_id("object_type_id", &t)?;
    let o = objects(&ws);
    let j = (0..o.object_count(t))
        .find(|&j| o.object_identifiers(t, j)[key.as_str()] == id.as_str())
        .ok_or_else(|| ApiError::not_found(format!("object {id} of type {t} not found")))?;
    let ids = o.object_identifiers(t, j);
    Ok(Json(json!({ "object": {
        "attributes": o.object_attributes(t, j),
        "identifiers": {"cio_object_id": ids["cio_object_id"], "email": Value::Null, "id": Value::Null},
        "object_type_id": t.to_string(),
        "timestamps": {"name": 1_735_689_600, "plan": 1_735_689_600 + j as i64},
    }})))
}

/// `GET /v1/customers/{customer_id}/relationships` (`getPersonRelationships`).
pub(crate) async fn person_relationships(
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let p = person(&ws, &id, &params)?;
    let limit = page_limit(&params, 50, 1000)?;
    let offset = start_offset(&params)?;
    let o = objects(&ws);
    let items: Vec<Value> = o
        .relationships_of(p)
        .into_iter()
        .map(|(t, j)| {
            json!({
                "object_type_id": t,
                "identifiers": o.object_identifiers(t, j),
                "attributes": {"role": if j % 2 == 0 { "admin" } else { "member" }},
                "timestamps": {"role": 1_735_689_600 + j as i64},
            })
        })
        .collect();
    let (page, next) = paginate(items, offset, limit);
    Ok(Json(json!({ "cio_relationships": page, "next": next })))
}

/// `GET /v1/subscription_topics` (`getTopics`).
pub(crate) async fn topics(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    Json(json!({ "topics": objects(&ws).topics() }))
}

/// `GET /v1/subscription_channels` (`getChannels`).
pub(crate) async fn channels(Extension(ws): Extension<Arc<Workspace>>) -> Json<Value> {
    Json(json!({ "channels": objects(&ws).channels() }))
}

//! The router of one host and the `/v1` request pipeline:
//! count → auth (401) → scripted answer → rate limit (429) → latency → strict request validation
//! (400, [`validate`](super::validate)) → random fault → handler.
//!
//! Validation comes after auth and the rate limit, as on a real API gateway: a request without a
//! valid key is a 401 whatever its parameters, and every authenticated request, valid or not,
//! draws from the workspace's bucket (a client that floods with bad requests is still throttled).
//! Scripted answers replace the whole answer, so they come before validation.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::json;

use super::error::{ApiError, error_body, json_response};
use super::faults::{self, Cut, Fault, ScriptKind};
use super::hash::Key;
use super::limits::format_rate;
use super::state::SimState;
use super::validate::{Contracts, Operation};
use super::{
    Region, ScriptedResponse, api_catalog, api_metrics, api_objects, api_people, export_files,
    exports,
};

/// The state of the `/v1` gate of one route.
#[derive(Clone)]
struct Gate {
    state: Arc<SimState>,
    region: Region,
    operation: &'static str,
    /// The operation's vendor contract (`None`: no spec file has it; strict mode answers 500).
    contract: Option<Arc<Operation>>,
}

/// The router of `region`'s host; `contracts` are the vendor contracts its requests are checked
/// against when [`SimConfig::strict`](super::SimConfig::strict) is on.
pub(crate) fn router(state: Arc<SimState>, region: Region, contracts: &Contracts) -> Router {
    let op = |operation: &'static str, route: MethodRouter<Arc<SimState>>| {
        let gate = Gate {
            state: state.clone(),
            region,
            operation,
            contract: contracts.get(operation),
        };
        route.route_layer(from_fn_with_state(gate, gate_v1))
    };
    Router::new()
        .route(
            "/v1/campaigns",
            op("listCampaigns", get(api_catalog::list_campaigns)),
        )
        .route(
            "/v1/campaigns/{id}",
            op("getCampaigns", get(api_catalog::get_campaign)),
        )
        .route(
            "/v1/campaigns/{id}/actions",
            op(
                "listCampaignActions",
                get(api_catalog::list_campaign_actions),
            ),
        )
        .route(
            "/v1/campaigns/{id}/metrics",
            op("campaignMetrics", get(api_metrics::campaign_metrics)),
        )
        .route(
            "/v1/campaigns/{id}/metrics/links",
            op("campaignLinkMetrics", get(api_metrics::campaign_links)),
        )
        .route(
            "/v1/newsletters",
            op("listNewsletters", get(api_catalog::list_newsletters)),
        )
        .route(
            "/v1/newsletters/{id}",
            op("getNewsletters", get(api_catalog::get_newsletter)),
        )
        .route(
            "/v1/newsletters/{id}/metrics",
            op("getNewsletterMetrics", get(api_metrics::newsletter_metrics)),
        )
        .route(
            "/v1/newsletters/{id}/metrics/links",
            op("getNewsletterLinks", get(api_metrics::newsletter_links)),
        )
        .route(
            "/v1/segments",
            op("listSegments", get(api_catalog::list_segments)),
        )
        .route(
            "/v1/customers",
            op("getPeopleFilter", post(api_people::search)),
        )
        .route(
            "/v1/customers/attributes",
            op("getPeopleById", post(api_people::batch_attributes)),
        )
        .route(
            "/v1/customers/{id}/attributes",
            op("getPersonAttributes", get(api_people::person_attributes)),
        )
        .route(
            "/v1/messages",
            op("listMessages", get(api_objects::list_messages)),
        )
        .route(
            "/v1/customers/{id}/messages",
            op("getPersonMessages", get(api_objects::person_messages)),
        )
        .route(
            "/v1/campaigns/{id}/messages",
            op("getCampaignMessages", get(api_objects::campaign_messages)),
        )
        .route(
            "/v1/newsletters/{id}/messages",
            op(
                "getNewsletterMsgMeta",
                get(api_objects::newsletter_messages),
            ),
        )
        .route(
            "/v1/broadcasts/{id}/messages",
            op("broadcastMessages", get(api_objects::broadcast_messages)),
        )
        .route(
            "/v1/activities",
            op("listActivities", get(api_objects::list_activities)),
        )
        .route(
            "/v1/customers/{id}/activities",
            op("getPersonActivities", get(api_objects::person_activities)),
        )
        .route(
            "/v1/broadcasts",
            op("listBroadcasts", get(api_objects::list_broadcasts)),
        )
        .route(
            "/v1/broadcasts/{id}/actions",
            op("broadcastActions", get(api_objects::broadcast_actions)),
        )
        .route(
            "/v1/newsletters/{id}/contents",
            op(
                "listNewsletterVariants",
                get(api_objects::newsletter_contents),
            ),
        )
        .route(
            "/v1/transactional",
            op("listTransactional", get(api_objects::list_transactional)),
        )
        .route(
            "/v1/segments/{id}/membership",
            op("getSegmentMembership", get(api_objects::segment_membership)),
        )
        .route(
            "/v1/segments/{id}/customer_count",
            op("getSegmentCount", get(api_objects::segment_count)),
        )
        .route(
            "/v1/segments/{id}/used_by",
            op("getSegmentDependencies", get(api_objects::segment_used_by)),
        )
        .route(
            "/v1/customers/{id}/segments",
            op("getPersonSegments", get(api_objects::person_segments)),
        )
        .route(
            "/v1/collections",
            op("getCollections", get(api_objects::list_collections)),
        )
        .route(
            "/v1/collections/{id}/content",
            op(
                "getCollectionContents",
                get(api_objects::collection_content),
            ),
        )
        .route(
            "/v1/info/ip_addresses",
            op("getCioAllowlist", get(api_objects::ip_addresses)),
        )
        .route(
            "/v1/reporting_webhooks",
            op("listWebhooks", get(api_objects::list_webhooks)),
        )
        .route(
            "/v1/sender_identities",
            op("listSenders", get(api_objects::list_senders)),
        )
        .route(
            "/v1/snippets",
            op("listSnippets", get(api_objects::list_snippets)),
        )
        .route(
            "/v1/esp/suppression/{id}",
            op("getSuppressionByType", get(api_objects::suppressions)),
        )
        .route(
            "/v1/transactional/{id}/contents",
            op(
                "listTransactionalVariants",
                get(api_objects::transactional_contents),
            ),
        )
        .route(
            "/v1/campaigns/{id}/journey_metrics",
            op(
                "campaignJourneyMetrics",
                get(api_metrics::campaign_journey_metrics),
            ),
        )
        .route(
            "/v1/broadcasts/{id}/metrics",
            op("broadcastMetrics", get(api_metrics::broadcast_metrics)),
        )
        .route(
            "/v1/broadcasts/{id}/metrics/links",
            op("broadcastLinks", get(api_metrics::broadcast_links)),
        )
        .route(
            "/v1/transactional/{id}/metrics",
            op(
                "transactionalMetrics",
                get(api_metrics::transactional_metrics),
            ),
        )
        .route(
            "/v1/transactional/{id}/metrics/links",
            op("transactionalLinks", get(api_metrics::transactional_links)),
        )
        .route(
            "/v1/campaigns/{id}/actions/{action}/metrics",
            op(
                "campaignActionMetrics",
                get(api_metrics::campaign_action_metrics),
            ),
        )
        .route(
            "/v1/campaigns/{id}/actions/{action}/metrics/links",
            op(
                "campaignActionLinks",
                get(api_metrics::campaign_action_links),
            ),
        )
        .route(
            "/v1/broadcasts/{id}/actions/{action}/metrics",
            op(
                "broadcastActionMetrics",
                get(api_metrics::broadcast_action_metrics),
            ),
        )
        .route(
            "/v1/broadcasts/{id}/actions/{action}/metrics/links",
            op(
                "broadcastActionLinks",
                get(api_metrics::broadcast_action_links),
            ),
        )
        .route(
            "/v1/newsletters/{id}/contents/{content}/metrics",
            op("getVariantMetrics", get(api_metrics::variant_metrics)),
        )
        .route(
            "/v1/newsletters/{id}/contents/{content}/metrics/links",
            op("getVariantLinks", get(api_metrics::variant_links)),
        )
        .route(
            "/v1/workspaces",
            op("listWorkspaces", get(api_objects::list_workspaces)),
        )
        .route(
            "/v1/object_types",
            op("getObjectTypes", get(api_objects::object_types)),
        )
        .route(
            "/v1/objects",
            op("getObjectsFilter", post(api_objects::objects_filter)),
        )
        .route(
            "/v1/objects/{type}/{id}/attributes",
            op("getObjectAttributes", get(api_objects::object_attributes)),
        )
        .route(
            "/v1/customers/{id}/relationships",
            op(
                "getPersonRelationships",
                get(api_objects::person_relationships),
            ),
        )
        .route(
            "/v1/subscription_topics",
            op("getTopics", get(api_objects::topics)),
        )
        .route(
            "/v1/subscription_channels",
            op("getChannels", get(api_objects::channels)),
        )
        .route("/v1/exports", op("listExports", get(exports::list)))
        .route(
            "/v1/exports/customers",
            op("exportPeopleData", post(exports::create_people)),
        )
        .route(
            "/v1/exports/deliveries",
            op("exportDeliveriesData", post(exports::create_deliveries)),
        )
        .route("/v1/exports/{id}", op("getExport", get(exports::get)))
        .route(
            "/v1/exports/{id}/download",
            op("downloadExport", get(exports::download)),
        )
        .route(export_files::FILE_ROUTE, get(export_files::file))
        .route("/__sim/stats", get(sim_stats))
        .route("/__sim/reset", post(sim_reset))
        .route("/__sim/script", post(sim_script))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(
            state.clone(),
            super::http_date::date_header,
        ))
        .with_state(state)
}

/// Counts the request and its answer around the rest of the pipeline.
async fn gate_v1(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let state = gate.state.clone();
    state.record(|s| *s.requests.entry(gate.operation.to_string()).or_default() += 1);
    let resp = pipeline(&gate, req, next).await;
    record_status(&state, resp.status());
    resp
}

/// Counts an answer's status (and 429s).
pub(crate) fn record_status(state: &SimState, status: StatusCode) {
    state.record(|s| {
        *s.statuses.entry(status.as_u16().to_string()).or_default() += 1;
        if status == StatusCode::TOO_MANY_REQUESTS {
            s.rate_limited += 1;
        }
    });
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

async fn pipeline(gate: &Gate, mut req: Request, next: Next) -> Response {
    let state = &gate.state;
    let Some(ws) = bearer(req.headers())
        .and_then(|key| state.workspace_by_key(key))
        .filter(|ws| ws.spec.region == gate.region)
        .cloned()
    else {
        return ApiError::unauthorized().into_response();
    };
    let agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    state.record(|s| {
        *s.by_workspace.entry(ws.spec.name.clone()).or_default() += 1;
        *s.by_user_agent.entry(agent).or_default() += 1;
    });
    state.log_request(&ws.spec.name, gate.operation);
    req.extensions_mut().insert(ws.clone());
    req.extensions_mut().insert(gate.region);

    if state.in_outage() {
        state.record(|s| s.faults_injected += 1);
        return faults::unavailable(&state.reference());
    }
    if let Some(script) = state.take_script(gate.operation, &ws.spec.name) {
        state.record(|s| s.faults_injected += 1);
        match script.kind {
            ScriptKind::Delay(d) => tokio::time::sleep(d).await,
            _ => return scripted(state, script, req, next).await,
        }
    }
    if !ws.bucket.try_acquire() {
        return rate_limited(state, Some(1));
    }
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    if state.config.strict {
        req = match validated(gate, req).await {
            Ok(req) => req,
            Err(refused) => return refused,
        };
    }
    let n = state.next_fault_number();
    let (fault, slow) = state.config.faults.decide(state.config.seed, n);
    let injected = u64::from(fault.is_some()) + u64::from(slow.is_some());
    if injected > 0 {
        state.record(|s| s.faults_injected += injected);
    }
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    match fault {
        None => next.run(req).await,
        Some(Fault::Error5xx) => faults::unavailable(&state.reference()),
        Some(kind) => {
            let (status, content_type, body) = normal_answer(req, next).await;
            match kind {
                Fault::Reset => faults::cut(Cut::Reset, status, content_type, body),
                Fault::Truncate => faults::cut(Cut::Truncate, status, content_type, body),
                _ => {
                    let html = Key::new(state.config.seed).str("html").u64(n).chance(0.5);
                    faults::malformed(status, html, body)
                }
            }
        }
    }
}

/// The largest request body strict validation reads (the connector's largest is a 100-id batch).
const MAX_VALIDATED_BODY: usize = 16 * 1024 * 1024;

/// Checks `req` against the operation's vendor contract: the request back (its body restored), or
/// the 400 answer.
async fn validated(gate: &Gate, req: Request) -> Result<Request, Response> {
    let Some(contract) = &gate.contract else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the simulator has no vendor contract for operationId {}; run it with --lenient",
                gate.operation
            ),
        )
        .into_response());
    };
    contract
        .check_request(req.uri().path(), req.uri().query())
        .map_err(|r| r.into_response())?;
    if !contract.has_body() {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_VALIDATED_BODY).await.map_err(|e| {
        ApiError::bad_request(format!(
            "{}: the request body could not be read ({e}); at most {MAX_VALIDATED_BODY} bytes",
            gate.operation
        ))
        .into_response()
    })?;
    contract.check_body(&bytes).map_err(|r| r.into_response())?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Runs the handler and collects its answer.
async fn normal_answer(req: Request, next: Next) -> (StatusCode, Option<HeaderValue>, Bytes) {
    let resp = next.run(req).await;
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    let body = to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    (status, content_type, body)
}

/// A 429 in the vendor shape.
fn rate_limited(state: &SimState, retry_after: Option<u64>) -> Response {
    let status = StatusCode::TOO_MANY_REQUESTS;
    let body = error_body(
        status,
        &format!(
            "rate limited to {} requests per 1s (reference {})",
            format_rate(state.config.rate_limit),
            state.reference()
        ),
    );
    let mut resp = json_response(status, body);
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

async fn scripted(
    state: &SimState,
    script: ScriptedResponse,
    req: Request,
    next: Next,
) -> Response {
    let status = StatusCode::from_u16(script.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match script.kind {
        _ if script.echo_headers => {
            let headers: Vec<String> = req
                .headers()
                .iter()
                .map(|(name, value)| {
                    format!("{name}: {}", String::from_utf8_lossy(value.as_bytes()))
                })
                .collect();
            json_response(
                status,
                error_body(status, &format!("request headers: {}", headers.join("; "))),
            )
        }
        ScriptKind::Reset | ScriptKind::Truncate | ScriptKind::Stall => {
            let (_, content_type, body) = normal_answer(req, next).await;
            let how = match script.kind {
                ScriptKind::Reset => Cut::Reset,
                ScriptKind::Truncate => Cut::Truncate,
                _ => Cut::Stall,
            };
            return faults::cut(how, status, content_type, body);
        }
        ScriptKind::Malformed => match script.body {
            Some(body) => {
                let mut resp = (status, body).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                resp
            }
            None => faults::malformed(status, true, Bytes::new()),
        },
        ScriptKind::Status | ScriptKind::Delay(_) => match script.body {
            Some(body) => json_response(status, body),
            None if status == StatusCode::TOO_MANY_REQUESTS => {
                return rate_limited(state, script.retry_after);
            }
            None if status.as_u16() >= 400 => json_response(
                status,
                error_body(
                    status,
                    &format!(
                        "{} (reference {})",
                        status.canonical_reason().unwrap_or("error").to_lowercase(),
                        state.reference()
                    ),
                ),
            ),
            None => {
                let mut resp = next.run(req).await;
                *resp.status_mut() = status;
                resp
            }
        },
    };
    if let Some(secs) = script.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

async fn sim_stats(State(state): State<Arc<SimState>>) -> Response {
    json_response(StatusCode::OK, json!(state.stats()).to_string())
}

async fn sim_reset(State(state): State<Arc<SimState>>) -> StatusCode {
    state.reset_stats();
    StatusCode::NO_CONTENT
}

/// Queues scripted answers: a JSON list of `ScriptedResponse` (or one object).
async fn sim_script(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::bad_request(format!("script body must be JSON: {e}")).into_response();
        }
    };
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    let mut steps = Vec::with_capacity(items.len());
    for (n, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<ScriptedResponse>(item) {
            Ok(step) => steps.push(step),
            Err(e) => {
                return ApiError::bad_request(format!("script entry {n}: {e}")).into_response();
            }
        }
    }
    let queued = steps.len();
    for step in steps {
        state.push_script(step);
    }
    json_response(StatusCode::OK, json!({ "queued": queued }).to_string())
}

async fn not_found(State(state): State<Arc<SimState>>, method: Method, uri: Uri) -> Response {
    record_status(&state, StatusCode::NOT_FOUND);
    ApiError::not_found(format!("not found: {method} {}", uri.path())).into_response()
}

async fn method_not_allowed(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
) -> Response {
    record_status(&state, StatusCode::METHOD_NOT_ALLOWED);
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
    .into_response()
}

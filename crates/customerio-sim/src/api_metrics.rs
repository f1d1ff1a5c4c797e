//! Handlers for campaign and newsletter metrics and link metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use serde_json::{Value, json};

use super::data::{Kind, Sender};
use super::error::{ApiError, ApiResult};
use super::metrics::{link_series, series};
use super::params::{Params, path_id};
use super::state::{SimState, Workspace};
use super::vocabulary::{self, strs};
use super::window::{self, Window};

fn sender(ws: &Workspace, kind: Kind, raw_id: &str) -> ApiResult<Sender> {
    let (name, found) = match kind {
        Kind::Campaign => {
            let id = path_id("campaign_id", raw_id)?;
            ("campaign", ws.catalog.campaign_sender(id))
        }
        Kind::Newsletter => {
            let id = path_id("newsletter_id", raw_id)?;
            ("newsletter", ws.catalog.newsletter_sender(id))
        }
    };
    found.ok_or_else(|| ApiError::not_found(format!("{name} {raw_id} not found")))
}

/// The version-1 window of operation `op` (its `period` values come from the spec).
fn v1_window(state: &SimState, params: &Params, op: &str) -> ApiResult<Window> {
    window::v1(
        params,
        vocabulary::vocabulary()?.periods(op),
        state.config.steps_out_of_range,
        state.config.clock.now(),
    )
}

/// The `metric` answer; `channels` are the operation's `type` values in the spec.
fn metric_answer(
    state: &SimState,
    ws: &Workspace,
    s: &Sender,
    w: &Window,
    params: &Params,
    channels: &[String],
) -> ApiResult<Value> {
    let channel = params.one_of("type", &strs(channels))?;
    let keys = &vocabulary::vocabulary()?.series_keys;
    let series = series(
        ws.catalog.root,
        s,
        w.period,
        &w.buckets,
        channel.as_deref(),
        keys,
    );
    let mut body = json!({ "metric": { "series": series } });
    if let (Some(h), Some(first), Some(last)) = (&w.v2, w.buckets.first(), w.buckets.last()) {
        let shapes = &state.config.shapes;
        body["start"] = json!(shapes.v2_time(&h.start, *first));
        body["end"] = json!(shapes.v2_time(&h.end, *last));
        body["res"] = json!(h.res);
    }
    Ok(body)
}

fn links_answer(
    state: &SimState,
    ws: &Workspace,
    s: &Sender,
    w: &Window,
    params: &Params,
) -> ApiResult<Value> {
    let unique = params.bool("unique", false)?;
    let links = ws.catalog.links(s.kind, s.id);
    Ok(state.config.shapes.shape_links(link_series(
        ws.catalog.root,
        s,
        &links,
        w.period,
        &w.buckets,
        unique,
    )))
}

/// `GET /v1/campaigns/{id}/metrics` (`campaignMetrics`): version 1 (`period`, `steps`) or, with
/// `version=2`, an explicit window (`res`, `start`, `end`, `tz`).
pub(crate) async fn campaign_metrics(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let s = sender(&ws, Kind::Campaign, &id)?;
    let params = Params::parse(query.as_deref());
    let vocab = vocabulary::vocabulary()?;
    let w = if params.get("version") == Some("2") {
        let shaped = state.config.shapes.v2_query(query.as_deref());
        window::v2(&Params::parse(shaped.as_deref()), &vocab.v2_res)?
    } else {
        v1_window(&state, &params, vocabulary::CAMPAIGN_METRICS)?
    };
    Ok(Json(metric_answer(
        &state,
        &ws,
        &s,
        &w,
        &params,
        &vocab.campaign_types,
    )?))
}

/// `GET /v1/campaigns/{id}/metrics/links` (`campaignLinkMetrics`).
pub(crate) async fn campaign_links(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let s = sender(&ws, Kind::Campaign, &id)?;
    let params = Params::parse(query.as_deref());
    let w = v1_window(&state, &params, vocabulary::CAMPAIGN_LINKS)?;
    Ok(Json(links_answer(&state, &ws, &s, &w, &params)?))
}

/// `GET /v1/newsletters/{id}/metrics` (`getNewsletterMetrics`): version 1 only.
pub(crate) async fn newsletter_metrics(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let s = sender(&ws, Kind::Newsletter, &id)?;
    let params = Params::parse(query.as_deref());
    let w = v1_window(&state, &params, vocabulary::NEWSLETTER_METRICS)?;
    let channels = &vocabulary::vocabulary()?.newsletter_types;
    Ok(Json(metric_answer(&state, &ws, &s, &w, &params, channels)?))
}

/// `GET /v1/newsletters/{id}/metrics/links` (`getNewsletterLinks`).
pub(crate) async fn newsletter_links(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let s = sender(&ws, Kind::Newsletter, &id)?;
    let params = Params::parse(query.as_deref());
    let w = v1_window(&state, &params, vocabulary::NEWSLETTER_LINKS)?;
    Ok(Json(links_answer(&state, &ws, &s, &w, &params)?))
}

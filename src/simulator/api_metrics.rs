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
use super::window::{self, Window};

/// Channels accepted by the `type` filter of campaign and newsletter metrics.
use crate::options::METRIC_TYPES;

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

fn v1_window(state: &SimState, params: &Params) -> ApiResult<Window> {
    window::v1(
        params,
        state.config.steps_out_of_range,
        state.config.clock.now(),
    )
}

fn metric_answer(
    state: &SimState,
    ws: &Workspace,
    s: &Sender,
    w: &Window,
    params: &Params,
) -> ApiResult<Value> {
    let channel = params.one_of("type", &METRIC_TYPES)?;
    let series = series(ws.catalog.root, s, w.period, &w.buckets, channel.as_deref());
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
    let w = if params.get("version") == Some("2") {
        let shaped = state.config.shapes.v2_query(query.as_deref());
        window::v2(&Params::parse(shaped.as_deref()))?
    } else {
        v1_window(&state, &params)?
    };
    Ok(Json(metric_answer(&state, &ws, &s, &w, &params)?))
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
    let w = v1_window(&state, &params)?;
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
    let w = v1_window(&state, &params)?;
    Ok(Json(metric_answer(&state, &ws, &s, &w, &params)?))
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
    let w = v1_window(&state, &params)?;
    Ok(Json(links_answer(&state, &ws, &s, &w, &params)?))
}

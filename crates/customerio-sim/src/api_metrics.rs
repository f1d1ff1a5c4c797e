//! Handlers for campaign and newsletter metrics and link metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::response::Response;
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

/// What each metrics route reads: the simulator, the workspace, the sender id of the path and
/// the raw query, extracted in that order (a rejection answers as each extractor's would).
pub(crate) struct SenderRequest {
    state: Arc<SimState>,
    ws: Arc<Workspace>,
    id: String,
    query: Option<String>,
}

impl FromRequestParts<Arc<SimState>> for SenderRequest {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SimState>,
    ) -> Result<Self, Self::Rejection> {
        let (State(state), Extension(ws), Path(id), RawQuery(query)) =
            <(
                State<Arc<SimState>>,
                Extension<Arc<Workspace>>,
                Path<String>,
                RawQuery,
            )>::from_request_parts(parts, state)
            .await?;
        Ok(SenderRequest {
            state,
            ws,
            id,
            query,
        })
    }
}

impl SenderRequest {
    /// The sender of `kind`, the query's parameters and the version-1 window of operation `op`,
    /// checked in that order.
    fn v1(&self, kind: Kind, op: &str) -> ApiResult<(Sender, Params, Window)> {
        let s = sender(&self.ws, kind, &self.id)?;
        let params = Params::parse(self.query.as_deref());
        let w = v1_window(&self.state, &params, op)?;
        Ok((s, params, w))
    }

    /// The link series of the sender of `kind` (`op`: the operation, whose `period` values the
    /// window takes).
    fn links(&self, kind: Kind, op: &str) -> ApiResult<Json<Value>> {
        let (s, params, w) = self.v1(kind, op)?;
        let unique = params.bool("unique", false)?;
        let ws = &self.ws;
        let links = ws.catalog.links(s.kind, s.id);
        Ok(Json(self.state.config.shapes.shape_links(link_series(
            ws.catalog.root,
            &s,
            &links,
            w.period,
            &w.buckets,
            unique,
        ))))
    }
}

/// `GET /v1/campaigns/{id}/metrics` (`campaignMetrics`): version 1 (`period`, `steps`) or, with
/// `version=2`, an explicit window (`res`, `start`, `end`, `tz`).
pub(crate) async fn campaign_metrics(r: SenderRequest) -> ApiResult<Json<Value>> {
    let SenderRequest {
        state,
        ws,
        id,
        query,
    } = &r;
    let s = sender(ws, Kind::Campaign, id)?;
    let params = Params::parse(query.as_deref());
    let vocab = vocabulary::vocabulary()?;
    let w = if params.get("version") == Some("2") {
        let shaped = state.config.shapes.v2_query(query.as_deref());
        window::v2(&Params::parse(shaped.as_deref()), &vocab.v2_res)?
    } else {
        v1_window(state, &params, vocabulary::CAMPAIGN_METRICS)?
    };
    let channels = &vocab.campaign_types;
    Ok(Json(metric_answer(state, ws, &s, &w, &params, channels)?))
}

/// `GET /v1/campaigns/{id}/metrics/links` (`campaignLinkMetrics`).
pub(crate) async fn campaign_links(r: SenderRequest) -> ApiResult<Json<Value>> {
    r.links(Kind::Campaign, vocabulary::CAMPAIGN_LINKS)
}

/// `GET /v1/newsletters/{id}/metrics` (`getNewsletterMetrics`): version 1 only.
pub(crate) async fn newsletter_metrics(r: SenderRequest) -> ApiResult<Json<Value>> {
    let (s, params, w) = r.v1(Kind::Newsletter, vocabulary::NEWSLETTER_METRICS)?;
    let channels = &vocabulary::vocabulary()?.newsletter_types;
    Ok(Json(metric_answer(
        &r.state, &r.ws, &s, &w, &params, channels,
    )?))
}

/// `GET /v1/newsletters/{id}/metrics/links` (`getNewsletterLinks`).
pub(crate) async fn newsletter_links(r: SenderRequest) -> ApiResult<Json<Value>> {
    r.links(Kind::Newsletter, vocabulary::NEWSLETTER_LINKS)
}

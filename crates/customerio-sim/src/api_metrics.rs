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
use super::objects::Objects;
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
        Kind::Broadcast => {
            let id = path_id("broadcast_id", raw_id)?;
            ("broadcast", objects(ws).broadcast_sender(id))
        }
        Kind::Transactional => {
            let id = path_id("transactional_id", raw_id)?;
            (
                "transactional message",
                objects(ws).transactional_sender(id),
            )
        }
        Kind::CampaignAction | Kind::BroadcastAction | Kind::Variant => {
            return Err(ApiError::not_found(format!("{raw_id} not found")));
        }
    };
    found.ok_or_else(|| ApiError::not_found(format!("{name} {raw_id} not found")))
}

fn objects(ws: &Workspace) -> Objects<'_> {
    Objects {
        catalog: &ws.catalog,
        people: &ws.people,
    }
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
    /// The version-1 metrics of the item of `kind` (broadcasts, transactional messages).
    fn metrics_of(&self, kind: Kind, op: &str) -> ApiResult<Json<Value>> {
        let s = sender(&self.ws, kind, &self.id)?;
        v1_metrics(&self.state, &self.ws, &s, self.query.as_deref(), op)
    }

    /// The version-1 link metrics of the item of `kind`.
    fn links_of(&self, kind: Kind, op: &str) -> ApiResult<Json<Value>> {
        let s = sender(&self.ws, kind, &self.id)?;
        v1_links(&self.state, &self.ws, &s, self.query.as_deref(), op)
    }

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
        let s = sender(&self.ws, kind, &self.id)?;
        v1_links(&self.state, &self.ws, &s, self.query.as_deref(), op)
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

// ---- broadcasts, transactional messages, actions and variants -----------------------------------

/// The metrics answer of `s` for version-1 operation `op` (its `type` values, if any, from the
/// spec).
fn v1_metrics(
    state: &SimState,
    ws: &Workspace,
    s: &Sender,
    query: Option<&str>,
    op: &str,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query);
    let w = v1_window(state, &params, op)?;
    let channels = vocabulary::vocabulary()?.types(op).to_vec();
    Ok(Json(metric_answer(state, ws, s, &w, &params, &channels)?))
}

/// The link answer of `s` for version-1 operation `op` (`unique` where the operation takes it).
fn v1_links(
    state: &SimState,
    ws: &Workspace,
    s: &Sender,
    query: Option<&str>,
    op: &str,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query);
    let w = v1_window(state, &params, op)?;
    let unique = params.bool("unique", false)?;
    let links = ws.catalog.links(s.kind, s.id);
    Ok(Json(state.config.shapes.shape_links(link_series(
        ws.catalog.root,
        s,
        &links,
        w.period,
        &w.buckets,
        unique,
    ))))
}

/// `GET /v1/broadcasts/{id}/metrics` (`broadcastMetrics`).
pub(crate) async fn broadcast_metrics(r: SenderRequest) -> ApiResult<Json<Value>> {
    r.metrics_of(Kind::Broadcast, vocabulary::BROADCAST_METRICS)
}

/// `GET /v1/broadcasts/{id}/metrics/links` (`broadcastLinks`).
pub(crate) async fn broadcast_links(r: SenderRequest) -> ApiResult<Json<Value>> {
    r.links_of(Kind::Broadcast, vocabulary::BROADCAST_LINKS)
}

/// `GET /v1/transactional/{id}/metrics` (`transactionalMetrics`).
pub(crate) async fn transactional_metrics(r: SenderRequest) -> ApiResult<Json<Value>> {
    r.metrics_of(Kind::Transactional, vocabulary::TRANSACTIONAL_METRICS)
}

/// `GET /v1/transactional/{id}/metrics/links` (`transactionalLinks`).
pub(crate) async fn transactional_links(r: SenderRequest) -> ApiResult<Json<Value>> {
    r.links_of(Kind::Transactional, vocabulary::TRANSACTIONAL_LINKS)
}

/// The sender of an item below a parent (`/v1/{parents}/{parent}/{items}/{id}/...`).
fn child_sender(ws: &Workspace, kind: Kind, parent: &str, id: &str) -> ApiResult<Sender> {
    let (parent_name, id_name, found) = match kind {
        Kind::CampaignAction => {
            let (c, a) = (path_id("campaign_id", parent)?, path_id("action_id", id)?);
            (
                "campaign",
                "action",
                objects(ws).campaign_action_sender(c, a),
            )
        }
        Kind::BroadcastAction => {
            let (b, a) = (path_id("broadcast_id", parent)?, path_id("action_id", id)?);
            (
                "broadcast",
                "action",
                objects(ws).broadcast_action_sender(b, a),
            )
        }
        _ => {
            let (n, c) = (
                path_id("newsletter_id", parent)?,
                path_id("content_id", id)?,
            );
            ("newsletter", "content", objects(ws).variant_sender(n, c))
        }
    };
    found.ok_or_else(|| {
        ApiError::not_found(format!(
            "{id_name} {id} of {parent_name} {parent} not found"
        ))
    })
}

/// What each route of an item below a parent reads (`/v1/{parents}/{parent}/{items}/{id}/...`):
/// the simulator, the workspace, both path ids and the raw query, in that order.
pub(crate) struct ChildRequest {
    state: Arc<SimState>,
    ws: Arc<Workspace>,
    parent: String,
    id: String,
    query: Option<String>,
}

impl FromRequestParts<Arc<SimState>> for ChildRequest {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SimState>,
    ) -> Result<Self, Self::Rejection> {
        let (State(state), Extension(ws), Path((parent, id)), RawQuery(query)) =
            <(
                State<Arc<SimState>>,
                Extension<Arc<Workspace>>,
                Path<(String, String)>,
                RawQuery,
            )>::from_request_parts(parts, state)
            .await?;
        Ok(ChildRequest {
            state,
            ws,
            parent,
            id,
            query,
        })
    }
}

impl ChildRequest {
    fn sender(&self, kind: Kind) -> ApiResult<Sender> {
        child_sender(&self.ws, kind, &self.parent, &self.id)
    }

    fn metrics(&self, kind: Kind, op: &str) -> ApiResult<Json<Value>> {
        v1_metrics(
            &self.state,
            &self.ws,
            &self.sender(kind)?,
            self.query.as_deref(),
            op,
        )
    }

    fn links(&self, kind: Kind, op: &str) -> ApiResult<Json<Value>> {
        v1_links(
            &self.state,
            &self.ws,
            &self.sender(kind)?,
            self.query.as_deref(),
            op,
        )
    }
}

/// `GET /v1/campaigns/{campaign_id}/actions/{action_id}/metrics` (`campaignActionMetrics`):
/// version 1 (`period`, `steps`) or, with `version=2`, an explicit window.
pub(crate) async fn campaign_action_metrics(r: ChildRequest) -> ApiResult<Json<Value>> {
    let s = r.sender(Kind::CampaignAction)?;
    let params = Params::parse(r.query.as_deref());
    let vocab = vocabulary::vocabulary()?;
    let w = if params.get("version") == Some("2") {
        let shaped = r.state.config.shapes.v2_query(r.query.as_deref());
        window::v2(&Params::parse(shaped.as_deref()), &vocab.v2_res)?
    } else {
        v1_window(&r.state, &params, vocabulary::CAMPAIGN_ACTION_METRICS)?
    };
    let channels = vocab.types(vocabulary::CAMPAIGN_ACTION_METRICS).to_vec();
    Ok(Json(metric_answer(
        &r.state, &r.ws, &s, &w, &params, &channels,
    )?))
}

/// `GET /v1/campaigns/{campaign_id}/actions/{action_id}/metrics/links` (`campaignActionLinks`).
pub(crate) async fn campaign_action_links(r: ChildRequest) -> ApiResult<Json<Value>> {
    r.links(Kind::CampaignAction, vocabulary::CAMPAIGN_ACTION_LINKS)
}

/// `GET /v1/broadcasts/{broadcast_id}/actions/{action_id}/metrics` (`broadcastActionMetrics`).
pub(crate) async fn broadcast_action_metrics(r: ChildRequest) -> ApiResult<Json<Value>> {
    r.metrics(Kind::BroadcastAction, vocabulary::BROADCAST_ACTION_METRICS)
}

/// `GET /v1/broadcasts/{broadcast_id}/actions/{action_id}/metrics/links`
/// (`broadcastActionLinks`).
pub(crate) async fn broadcast_action_links(r: ChildRequest) -> ApiResult<Json<Value>> {
    r.links(Kind::BroadcastAction, vocabulary::BROADCAST_ACTION_LINKS)
}

/// `GET /v1/newsletters/{newsletter_id}/contents/{content_id}/metrics` (`getVariantMetrics`).
pub(crate) async fn variant_metrics(r: ChildRequest) -> ApiResult<Json<Value>> {
    r.metrics(Kind::Variant, vocabulary::VARIANT_METRICS)
}

/// `GET /v1/newsletters/{newsletter_id}/contents/{content_id}/metrics/links` (`getVariantLinks`).
pub(crate) async fn variant_links(r: ChildRequest) -> ApiResult<Json<Value>> {
    r.links(Kind::Variant, vocabulary::VARIANT_LINKS)
}

/// `GET /v1/campaigns/{id}/journey_metrics` (`campaignJourneyMetrics`): `start`, `end` and
/// `resolution` (all required). Buckets are cut in UTC from the one holding `start` to the last
/// starting before `end` (the contract names no zone: a choice, docs/API-NOTES.md §7); each
/// series has one entry per bucket: journeys started in it and how far they went.
pub(crate) async fn campaign_journey_metrics(r: SenderRequest) -> ApiResult<Json<Value>> {
    let s = sender(&r.ws, Kind::Campaign, &r.id)?;
    let params = Params::parse(r.query.as_deref());
    let vocab = vocabulary::vocabulary()?;
    let (Some(start), Some(end), Some(resolution)) = (
        params.int("start")?,
        params.int("end")?,
        params.get("resolution"),
    ) else {
        return Err(ApiError::bad_request(
            "start, end and resolution are required".to_string(),
        ));
    };
    let query = format!("res={resolution}&start={start}&end={end}");
    let w = window::v2(&Params::parse(Some(&query)), &vocab.v2_res)?;
    let mut series: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    for b in &w.buckets {
        let c = super::metrics::bucket_counts(r.ws.catalog.root, &s, w.period, *b);
        let started = c.get("sent") + c.get("failed");
        let activated = started - started / 10;
        let messaged = c.get("delivered").min(activated);
        let converted = c.get("converted").min(messaged);
        let finished = started * 6 / 10;
        let exited_early = (started - finished) / 3;
        for (k, v) in [
            ("started", started),
            ("activated", activated),
            ("never_activated", started - activated),
            ("messaged", messaged),
            ("converted", converted),
            ("finished", finished),
            ("exited_early", exited_early),
        ] {
            series.entry(k).or_default().push(v);
        }
    }
    Ok(Json(json!({ "journey_metric": series })))
}

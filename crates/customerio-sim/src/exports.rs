//! Asynchronous exports (API-NOTES §2.5): create, poll until `done`, ask `/download` for a signed
//! URL, fetch the CSV from that URL without the bearer key.
//!
//! An export is `pending` until `ready_after` has passed on the simulator's clock, then `done`
//! (or `failed` when [`ExportConfig::fail`] is set). `total` is 0 until done. Files are generated
//! on request as a stream (see `export_files`), so an export of millions of people never sits in
//! memory.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Region;
use super::api_people::json_body;
use super::customers::Filter;
use super::error::{ApiError, ApiResult, json_response};
use super::export_files::{self, DeliveryQuery, Selector};
use super::params::path_id;
use super::state::{SimState, Workspace};
use super::vocabulary;

/// What `GET /v1/exports/{id}/download` answers while the export is pending (undocumented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownloadWhilePending {
    /// 404 `{"errors":[{"detail":"export 7 is not ready (status pending)","status":"404"}]}`.
    #[default]
    NotFound,
    /// 200 `{"url": null}`.
    NullUrl,
}

/// Export behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    /// Time on the simulator clock from creation to `done` (default 2 s; with a
    /// [`crate::clock::FixedClock`], advance the clock or use zero).
    pub ready_after: Duration,
    /// Exports end `failed` (with `failed: true`) instead of `done`.
    pub fail: bool,
    /// The `/download` answer while pending.
    pub download_while_pending: DownloadWhilePending,
    /// Lifetime of signed download URLs (default 15 minutes, as documented).
    pub url_ttl: Duration,
    /// Columns of deliveries files, before the requested attributes. The real layout is unknown;
    /// see [`ExportConfig::DELIVERY_COLUMNS`] for the names available (and the default), and
    /// [`ExportConfig::DRIFT_PREFIX`] for columns the connector does not know.
    pub delivery_columns: Vec<String>,
    /// Fault knob: the first this-many signed links handed out have already expired.
    pub expired_links: u32,
    /// Fault knob: the first this-many file downloads are cut off after `cut_after_bytes`.
    pub cut_downloads: u32,
    /// Where a cut-off download stops.
    pub cut_after_bytes: u64,
}

impl ExportConfig {
    /// Every deliveries column the simulator can write, in the default order.
    pub const DELIVERY_COLUMNS: [&'static str; 19] = [
        "delivery_id",
        "campaign_id",
        "newsletter_id",
        "action_id",
        "template_id",
        "customer_id",
        "cio_id",
        "recipient",
        "type",
        "subject",
        "created",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "bounced",
        "failed",
        "undeliverable",
    ];

    /// Schema-drift knob: a `delivery_columns` name starting with this is a column the
    /// connector does not know; each row holds `<name>:<delivery_id>` in it.
    pub const DRIFT_PREFIX: &'static str = "new_";

    pub(crate) fn validate(&self) -> Result<(), String> {
        for c in &self.delivery_columns {
            if !Self::DELIVERY_COLUMNS.contains(&c.as_str()) && !c.starts_with(Self::DRIFT_PREFIX) {
                return Err(format!(
                    "unknown deliveries export column '{c}'; valid columns are {} (or a new \
                     column named {}*)",
                    Self::DELIVERY_COLUMNS.join(", "),
                    Self::DRIFT_PREFIX
                ));
            }
        }
        Ok(())
    }
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            ready_after: Duration::from_secs(2),
            fail: false,
            download_while_pending: DownloadWhilePending::NotFound,
            url_ttl: Duration::from_secs(15 * 60),
            delivery_columns: Self::DELIVERY_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .collect(),
            expired_links: 0,
            cut_downloads: 0,
            cut_after_bytes: 4096,
        }
    }
}

/// What an export contains.
#[derive(Debug, Clone)]
pub(crate) enum ExportKind {
    /// People matching `filter`, with extra `attributes` columns.
    People {
        filter: Filter,
        attributes: Vec<String>,
    },
    /// Deliveries of one campaign, newsletter or action.
    Deliveries(DeliveryQuery),
}

/// One created export.
#[derive(Debug)]
pub(crate) struct Export {
    pub(crate) id: u64,
    pub(crate) workspace: Arc<Workspace>,
    pub(crate) kind: ExportKind,
    pub(crate) created_at: i64,
    description: String,
    downloads: Mutex<u64>,
    total: OnceLock<u64>,
}

/// The `status` of an export at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Done,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Export {
    /// The status at `now` (unix seconds) under `config`.
    pub(crate) fn status(&self, config: &ExportConfig, now: i64) -> Status {
        let ready = self.created_at + config.ready_after.as_secs() as i64;
        match (now >= ready, config.fail) {
            (false, _) => Status::Pending,
            (true, false) => Status::Done,
            (true, true) => Status::Failed,
        }
    }

    /// Counts one completed download.
    pub(crate) fn count_download(&self) {
        *lock(&self.downloads) += 1;
    }

    /// The row count, computed once (a scan for people exports) off the async threads.
    async fn total(self: &Arc<Self>) -> u64 {
        if let Some(t) = self.total.get() {
            return *t;
        }
        let me = self.clone();
        let counted = tokio::task::spawn_blocking(move || export_files::count_rows(&me))
            .await
            .unwrap_or(0);
        *self.total.get_or_init(|| counted)
    }

    /// The export object. Right after creation (`fresh`) it has no `status`, `total` or
    /// `user_*`, like the vendor's create example.
    async fn to_json(self: &Arc<Self>, state: &SimState, fresh: bool) -> Value {
        let config = &state.config.exports;
        let now = state.config.clock.now().timestamp();
        let status = self.status(config, now);
        let updated = match status {
            Status::Pending => self.created_at,
            _ => self.created_at + config.ready_after.as_secs() as i64,
        };
        let mut v = json!({
            "id": self.id,
            "deduplicate_id": format!("{}:{}", self.id, self.created_at),
            "type": match self.kind { ExportKind::People { .. } => "customers", ExportKind::Deliveries(_) => "deliveries" },
            "failed": status == Status::Failed,
            "description": self.description,
            "downloads": *lock(&self.downloads),
            "created_at": self.created_at,
            "updated_at": updated,
        });
        if !fresh {
            let total = if status == Status::Done {
                self.total().await
            } else {
                0
            };
            v["status"] = json!(status.as_str());
            v["total"] = json!(total);
            v["user_id"] = json!(0);
            v["user_email"] = json!("api@example.com");
        }
        v
    }
}

/// Every export created on the simulator.
#[derive(Debug)]
pub(crate) struct ExportStore {
    secret: u64,
    exports: Mutex<Vec<Arc<Export>>>,
    /// Signed links handed out so far (for `expired_links`).
    pub(crate) links_signed: std::sync::atomic::AtomicU64,
    /// File downloads started so far (for `cut_downloads`).
    pub(crate) downloads_started: std::sync::atomic::AtomicU64,
}

/// First export id (ids then count up, across workspaces).
const FIRST_EXPORT_ID: u64 = 100;

impl ExportStore {
    /// An empty store whose download URLs are signed with `secret`.
    pub(crate) fn new(secret: u64) -> Self {
        ExportStore {
            secret,
            exports: Mutex::new(Vec::new()),
            links_signed: Default::default(),
            downloads_started: Default::default(),
        }
    }

    /// The signing secret.
    pub(crate) fn secret(&self) -> u64 {
        self.secret
    }

    fn add(
        &self,
        workspace: Arc<Workspace>,
        kind: ExportKind,
        description: String,
        now: i64,
    ) -> Arc<Export> {
        let mut all = lock(&self.exports);
        let export = Arc::new(Export {
            id: FIRST_EXPORT_ID + all.len() as u64,
            workspace,
            kind,
            created_at: now,
            description,
            downloads: Mutex::new(0),
            total: OnceLock::new(),
        });
        all.push(export.clone());
        export
    }

    /// Export `id`, whichever workspace owns it.
    pub(crate) fn get(&self, id: u64) -> Option<Arc<Export>> {
        lock(&self.exports).iter().find(|e| e.id == id).cloned()
    }

    fn of_workspace(&self, name: &str) -> Vec<Arc<Export>> {
        lock(&self.exports)
            .iter()
            .filter(|e| e.workspace.spec.name == name)
            .cloned()
            .collect()
    }
}

fn owned(state: &SimState, ws: &Workspace, raw: &str) -> ApiResult<Arc<Export>> {
    let id = path_id("export_id", raw)?;
    state
        .exports
        .get(id)
        .filter(|e| e.workspace.spec.name == ws.spec.name)
        .ok_or_else(|| ApiError::not_found(format!("export {id} not found")))
}

fn string_list(body: &Map<String, Value>, key: &str) -> ApiResult<Vec<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!("{key} must be an array of strings"))
                })
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request(format!(
            "{key} must be an array of strings"
        ))),
    }
}

/// `POST /v1/exports/customers` (`exportPeopleData`): `{"filters": ..., "attributes": [...]}`.
pub(crate) async fn create_people(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let filter = match body.get("filters") {
        Some(f) => Filter::parse(f, "filters")?,
        None if body.contains_key("filter") => {
            return Err(ApiError::bad_request(
                "filters is required (exports take 'filters', plural; 'filter' is the search key)",
            ));
        }
        None => return Err(ApiError::bad_request("filters is required")),
    };
    let attributes = string_list(&body, "attributes")?;
    let now = state.config.clock.now().timestamp();
    let description = "Customers export (created via the api)".to_string();
    let export = state.exports.add(
        ws,
        ExportKind::People { filter, attributes },
        description,
        now,
    );
    Ok(Json(
        json!({ "export": export.to_json(&state, true).await }),
    ))
}

/// `POST /v1/exports/deliveries` (`exportDeliveriesData`): exactly one of `newsletter_id`,
/// `campaign_id`, `transactional_message_id`, `action_id`; optional `start`, `end`, `metric`,
/// `drafts`, `template_id`, `attributes`.
pub(crate) async fn create_deliveries(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let int = |key: &str| -> ApiResult<Option<i64>> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("{key} must be an integer"))),
        }
    };
    let selectors = [
        ("newsletter_id", int("newsletter_id")?),
        ("campaign_id", int("campaign_id")?),
        ("transactional_message_id", int("transactional_message_id")?),
        ("action_id", int("action_id")?),
    ];
    let given: Vec<(&str, i64)> = selectors
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    let [(key, id)] = given.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "give exactly one of newsletter_id, campaign_id, transactional_message_id, action_id (got {})",
            given.len()
        )));
    };
    let id =
        u64::try_from(*id).map_err(|_| ApiError::bad_request(format!("{key} must be positive")))?;
    let selector = match *key {
        "newsletter_id" => Selector::Newsletter(id),
        "campaign_id" => Selector::Campaign(id),
        "action_id" => Selector::Action(id),
        _ => Selector::Transactional(id),
    };
    if !export_files::selector_exists(&ws, selector) {
        return Err(ApiError::bad_request(format!("{key} {id} does not exist")));
    }
    let metrics = &vocabulary::vocabulary()?.delivery_metrics;
    let metric = match body.get("metric") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) if metrics.contains(m) => Some(m.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "metric {other} is invalid; valid values are {}",
                metrics.join(", ")
            )));
        }
    };
    if body
        .get("drafts")
        .is_some_and(|d| !d.is_boolean() && !d.is_null())
    {
        return Err(ApiError::bad_request("drafts must be a boolean"));
    }
    let now = state.config.clock.now().timestamp();
    let (start, end) = export_files::delivery_window(int("start")?, int("end")?, now)?;
    let query = DeliveryQuery {
        selector,
        start,
        end,
        metric,
        template_id: int("template_id")?.and_then(|t| u64::try_from(t).ok()),
        attributes: string_list(&body, "attributes")?,
    };
    let description = format!("Deliveries export for {key} {id} (created via the api)");
    let export = state
        .exports
        .add(ws, ExportKind::Deliveries(query), description, now);
    Ok(Json(
        json!({ "export": export.to_json(&state, true).await }),
    ))
}

/// `GET /v1/exports` (`listExports`): the workspace's exports.
pub(crate) async fn list(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
) -> Json<Value> {
    let mut items = Vec::new();
    for e in state.exports.of_workspace(&ws.spec.name) {
        items.push(e.to_json(&state, false).await);
    }
    Json(json!({ "exports": items }))
}

/// `GET /v1/exports/{id}` (`getExport`).
pub(crate) async fn get(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let export = owned(&state, &ws, &id)?;
    Ok(Json(
        json!({ "export": export.to_json(&state, false).await }),
    ))
}

/// `GET /v1/exports/{id}/download` (`downloadExport`): `{"url": ...}`, a link on this host
/// signed for [`ExportConfig::url_ttl`].
pub(crate) async fn download(
    State(state): State<Arc<SimState>>,
    Extension(ws): Extension<Arc<Workspace>>,
    Extension(region): Extension<Region>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let export = owned(&state, &ws, &id)?;
    let config = &state.config.exports;
    let now = state.config.clock.now().timestamp();
    match export.status(config, now) {
        Status::Done => {
            let url = export_files::signed_url(&state, region, export.id, now);
            Ok(json_response(
                StatusCode::OK,
                json!({ "url": url }).to_string(),
            ))
        }
        Status::Failed => Err(ApiError::not_found(format!(
            "export {} failed; there is nothing to download",
            export.id
        ))),
        Status::Pending => match config.download_while_pending {
            DownloadWhilePending::NullUrl => Ok(Json(json!({ "url": null })).into_response()),
            DownloadWhilePending::NotFound => Err(ApiError::not_found(format!(
                "export {} is not ready (status pending)",
                export.id
            ))),
        },
    }
}

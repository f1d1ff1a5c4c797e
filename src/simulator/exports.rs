//! Asynchronous exports (placeholder until implemented).

use std::time::Duration;

use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The path of signed export files.
pub(crate) const FILE_ROUTE: &str = "/__sim/files/{token}";

/// What `GET /v1/exports/{id}/download` answers while the export is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownloadWhilePending {
    /// 404 with an `errors[]` body.
    #[default]
    NotFound,
    /// 200 `{"url": null}`.
    NullUrl,
}

/// Export behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    /// Time (on the simulator clock) from creation to `done`.
    pub ready_after: Duration,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            ready_after: Duration::from_secs(2),
        }
    }
}

/// Exports created so far.
#[derive(Debug)]
pub(crate) struct ExportStore {
    _secret: u64,
}

impl ExportStore {
    pub(crate) fn new(secret: u64) -> Self {
        ExportStore { _secret: secret }
    }
}

pub(crate) async fn list() -> Response {
    ApiError::not_found("todo").into_response()
}
pub(crate) async fn get() -> Response {
    ApiError::not_found("todo").into_response()
}
pub(crate) async fn download() -> Response {
    ApiError::not_found("todo").into_response()
}
pub(crate) async fn create_people() -> Response {
    ApiError::not_found("todo").into_response()
}
pub(crate) async fn create_deliveries() -> Response {
    ApiError::not_found("todo").into_response()
}
pub(crate) async fn file() -> Response {
    ApiError::not_found("todo").into_response()
}

//! The answers of one item already at hand (saved bodies, a bench's pages), decoded as a scan
//! decodes them, and the queries a scan sends: for the benchmarks, behind the `test-support`
//! feature. Not part of the API.

use chrono::{DateTime, Utc};
use datafusion::arrow::record_batch::RecordBatch;

use super::builders::build_batch;
use super::fetch::Item;
use super::schema::LINKS_COLUMN;
use super::series::{align_links, series_starts};
use super::{MetricKind, Shared, schema, segment_columns};
use crate::client::decode_body;
use crate::client::models::{LinksResponse, MetricsResponse};
use crate::error::{Error, Result};
use crate::options::MetricOptions;
use crate::reports::ReadRequest;

pub use super::query::{links_query, metrics_query};

/// Decodes the answers of the items of one report, as one scan does (sharing what a scan's
/// items share).
#[derive(Debug)]
pub struct ItemDecoder {
    shared: Shared,
}

impl ItemDecoder {
    /// A decoder of report `kind` of `workspace` with `options`: every column, the links
    /// column only `with_links`.
    pub fn new(
        kind: MetricKind,
        workspace: &str,
        options: &MetricOptions,
        with_links: bool,
    ) -> Self {
        let projection: Vec<usize> = (0..schema(kind).fields().len())
            .filter(|c| with_links || *c != LINKS_COLUMN)
            .collect();
        let request = ReadRequest::detached(projection);
        ItemDecoder {
            shared: Shared::new(kind, workspace.to_string(), options.clone(), request),
        }
    }

    /// The rows of campaign or newsletter `id` (`name`, `kind`; no segments) from the body
    /// of its metrics answer and of its link metrics answer (needed `with_links`), at `now`.
    pub fn decode(
        &self,
        (id, name, item_kind): (i64, Option<String>, Option<String>),
        metrics: &[u8],
        links: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> Result<RecordBatch> {
        let shared = &self.shared;
        let item = Item {
            id,
            name,
            kind: item_kind,
            segments: vec![vec![]; segment_columns(shared.kind).len()],
            attributes: std::sync::Arc::new(serde_json::Value::Object(Default::default())),
            parent: None,
        };
        let path = format!("{}/metrics", shared.kind.item_path(id, None));
        let malformed = |path: &str, e: crate::client::BodyError| Error::Malformed {
            endpoint: format!("GET {path}"),
            detail: e.to_string(),
        };
        let resp: MetricsResponse = decode_body(metrics).map_err(|e| malformed(&path, e))?;
        let starts = series_starts(shared, &resp, now, None, &path)?;
        let links = match (shared.want_links, links) {
            (true, Some(body)) => {
                let resp: LinksResponse =
                    decode_body(body).map_err(|e| malformed(&format!("{path}/links"), e))?;
                Some(align_links(shared, resp.links, now))
            }
            (true, None) => {
                return Err(Error::option(
                    "links",
                    "the links column is projected: give the link metrics answer",
                ));
            }
            (false, _) => None,
        };
        build_batch(shared, &item, &starts.starts, &resp.metric, links.as_ref())
    }
}

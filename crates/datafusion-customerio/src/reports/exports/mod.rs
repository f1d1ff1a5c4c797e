//! The export reports, `customers_export` and `deliveries_export`.
//!
//! API calls per export: `POST /v1/exports/customers` (one per segment, filter
//! `{"and":[{"segment":{"id":N}}]}`) or `POST /v1/exports/deliveries` (one per campaign or
//! newsletter, or the one selector given), then `GET /v1/exports/{id}` until `done`, then
//! `GET /v1/exports/{id}/download` for a signed link, fetched without the bearer header. Exports
//! run concurrently (`concurrency` at a time).
//!
//! The file is CSV (the real layout is not documented: see the README), plain or gzip (known by
//! its magic bytes, `Content-Encoding` or not), with or without a UTF-8 byte-order mark. It is
//! parsed as it downloads, by arrow's CSV decoder, so memory does not grow with the export.
//! Columns are matched by header name, never by position, and in any case when no name matches
//! exactly: known names are typed, requested attributes are text, and any other column is kept in
//! `extra` (a map of column name to text). A time column none of whose values reads as a time
//! fails the query, naming the column: its values are not NULL. A download cut off midway
//! is opened again (after the retry policy's backoff, at most `max_attempts` times, with a fresh
//! link when the old one expired) and the rows already emitted are skipped; a file with fewer
//! rows than the export's `total` is an error, never a partial result.
//!
//! Where things are: `schema` (the columns of each export, and the facts of each kind),
//! `plan` (which exports a scan runs), `download` (create, poll, download with resume),
//! `decode` (the CSV file to table batches), `convert` (text to typed columns), `file` (a file
//! already at hand, [`ExportFileReader`]).

mod convert;
mod decode;
mod download;
mod file;
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod fuzzing;
mod plan;
mod schema;

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use super::{ReadRequest, ReportReader};
use crate::error::{Error, Result};
use crate::options::{ExportOptions, SegmentRef};
pub use file::ExportFileReader;
pub use schema::EXTRA_COLUMN;
use schema::{ColType, extra_type};

/// How many partitions a deliveries export of every campaign and newsletter may spread over:
/// their number is known only once they are listed, when the partitions already run.
const UNLISTED_UNITS: usize = 64;

/// Which export report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// `customers_export`
    Customers,
    /// `deliveries_export`
    Deliveries,
}

/// Reads `customers_export` or `deliveries_export`.
#[derive(Debug)]
pub struct ExportReport {
    kind: ExportKind,
    workspace: String,
    options: ExportOptions,
    schema: SchemaRef,
    /// Table columns: (name, type); the prefix, then the file's known columns, then attributes.
    columns: Vec<(String, ColType)>,
    prefix: usize,
}

impl ExportReport {
    /// The report `kind` of `workspace` with `options`.
    pub fn new(kind: ExportKind, workspace: impl Into<String>, options: ExportOptions) -> Self {
        let (prefix, known) = (kind.facts().prefix, kind.facts().known);
        let mut columns: Vec<(String, ColType)> = prefix
            .iter()
            .chain(known)
            .map(|(n, t)| (n.to_string(), *t))
            .collect();
        for a in &options.attributes {
            if !columns.iter().any(|(n, _)| n == a) {
                columns.push((a.clone(), ColType::Text));
            }
        }
        let mut fields: Vec<Field> = columns
            .iter()
            .map(|(n, t)| Field::new(n, t.data_type(), n != "workspace"))
            .collect();
        fields.push(Field::new(EXTRA_COLUMN, extra_type(), true));
        ExportReport {
            kind,
            workspace: workspace.into(),
            options,
            schema: Arc::new(Schema::new(fields)),
            columns,
            prefix: prefix.len(),
        }
    }
}

/// What every job of a scan shares.
#[derive(Debug)]
struct Shared {
    kind: ExportKind,
    report_columns: Vec<(String, ColType)>,
    prefix: usize,
    workspace: String,
    options: ExportOptions,
    projection: Vec<usize>,
    schema: SchemaRef,
    request: ReadRequest,
}

impl ReportReader for ExportReport {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn pushdown_columns(&self) -> Vec<&'static str> {
        vec![]
    }

    fn window_column(&self) -> Option<&'static str> {
        self.kind.facts().window_column
    }

    fn units(&self) -> Option<usize> {
        match self.kind {
            // One export per segment.
            ExportKind::Customers => Some(self.options.segments.len().max(1)),
            ExportKind::Deliveries if self.options.selector.is_some() => None,
            // One export per campaign and newsletter, known once they are listed.
            ExportKind::Deliveries => Some(UNLISTED_UNITS),
        }
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let o = &self.options;
        let mut out = Vec::new();
        if !o.segments.is_empty() {
            let names: Vec<String> = o
                .segments
                .iter()
                .map(|s| match s {
                    SegmentRef::Id(id) => id.to_string(),
                    SegmentRef::Name(n) => format!("'{n}'"),
                })
                .collect();
            out.push(("segments", format!("[{}]", names.join(", "))));
        }
        if let Some(s) = o.selector {
            out.push(("selector", format!("{s:?}")));
        }
        if let Some(m) = &o.metric {
            out.push(("metric", m.clone()));
        }
        out
    }

    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>> {
        let concurrency = request.concurrency;
        let shared = Arc::new(Shared {
            kind: self.kind,
            report_columns: self.columns.clone(),
            prefix: self.prefix,
            workspace: self.workspace.clone(),
            options: self.options.clone(),
            projection: request.projection.clone(),
            schema: Arc::new(
                self.schema
                    .project(&request.projection)
                    .unwrap_or_else(|_| Schema::empty()),
            ),
            request,
        });
        let kind = self.kind;
        let jobs_shared = shared.clone();
        stream::once(async move {
            let mut jobs = match kind {
                ExportKind::Customers => plan::customer_jobs(&jobs_shared).await?,
                ExportKind::Deliveries => plan::delivery_jobs(&jobs_shared).await?,
            };
            // A distributed task runs its share of the exports.
            if let Some(shard) = jobs_shared.request.shard {
                jobs.retain(|job| shard.owns(job.unit));
            }
            Ok::<_, Error>(
                stream::iter(jobs).map(move |job| download::run_job(shared.clone(), job)),
            )
        })
        .map_ok(move |jobs| jobs.flatten_unordered(concurrency).boxed())
        .try_flatten()
        .boxed()
    }
}

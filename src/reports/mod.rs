//! One module per report: its schema, its API calls and its pushdown rules.

pub mod metrics;

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::BoxStream;

use crate::client::{Client, RequestStats};
use crate::clock::Clock;
use crate::error::Result;

/// What a scan asks of a report.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// The workspace's client.
    pub client: Client,
    /// Counters shown by EXPLAIN ANALYZE.
    pub stats: RequestStats,
    /// Indices of the report schema's columns to produce, in order.
    pub projection: Vec<usize>,
    /// Only these ids (from `WHERE <id column> = / IN`), if pushed down.
    pub ids: Option<Vec<i64>>,
    /// At most this many rows are needed.
    pub limit: Option<usize>,
    /// Requests in flight.
    pub concurrency: usize,
    /// "Now", for bucket boundaries.
    pub clock: Arc<dyn Clock>,
}

/// A report that a scan can read.
pub trait ReportReader: Debug + Send + Sync {
    /// The full schema.
    fn schema(&self) -> SchemaRef;
    /// The column whose `=`/`IN` filters select ids at the source, if any.
    fn id_column(&self) -> Option<&'static str>;
    /// Settings worth showing in EXPLAIN (never secrets).
    fn describe(&self) -> Vec<(&'static str, String)>;
    /// Batches of the projected columns, emitted as responses arrive.
    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>>;
}

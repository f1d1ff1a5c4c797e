//! One module per report: its schema, its API calls and its pushdown rules.

pub mod customers;
pub mod exports;
pub mod journeys;
pub mod metrics;
pub mod objects;
pub mod segments;

use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;
use futures::stream::BoxStream;

use crate::client::{Client, RequestStats};
use crate::clock::Clock;
use crate::error::Result;

/// The values of one column that a scan reads directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    /// The column.
    pub column: &'static str,
    /// Its wanted values, deduplicated; empty when the filters contradict.
    pub values: Vec<ScalarValue>,
}

impl Pushed {
    /// The values as i64 (values of another type are skipped: they match no row).
    pub fn i64_values(&self) -> Vec<i64> {
        self.values.iter().filter_map(scalar_i64).collect()
    }

    /// The values as strings (non-string values are skipped: they match no row).
    pub fn string_values(&self) -> Vec<String> {
        self.values
            .iter()
            .filter_map(|v| match v {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

impl std::fmt::Display for Pushed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values: Vec<String> = self.values.iter().map(|v| v.to_string()).collect();
        write!(f, "{} IN ({})", self.column, values.join(", "))
    }
}

/// An integer literal as i64.
pub fn scalar_i64(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::Int64(Some(n)) => Some(*n),
        ScalarValue::Int32(Some(n)) => Some(*n as i64),
        ScalarValue::Int16(Some(n)) => Some(*n as i64),
        ScalarValue::Int8(Some(n)) => Some(*n as i64),
        ScalarValue::UInt32(Some(n)) => Some(*n as i64),
        ScalarValue::UInt16(Some(n)) => Some(*n as i64),
        ScalarValue::UInt8(Some(n)) => Some(*n as i64),
        ScalarValue::UInt64(Some(n)) => i64::try_from(*n).ok(),
        _ => None,
    }
}

/// One task's share of a report's units (exports, for the export reports): unit `u` (in the
/// order the report lists them) is read by shard `u % count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards there are.
    pub count: usize,
}

impl Shard {
    /// Whether unit `unit` is this shard's.
    pub fn owns(&self, unit: usize) -> bool {
        self.count <= 1 || unit % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// Inclusive bounds on a report's window column; `None` is unbounded.
pub type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// What a scan asks of a report.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// The workspace's client.
    pub client: Client,
    /// Counters shown by EXPLAIN ANALYZE.
    pub stats: RequestStats,
    /// Indices of the report schema's columns to produce, in order.
    pub projection: Vec<usize>,
    /// Only rows whose column has one of these values (`WHERE col = v` / `IN (...)`), read
    /// directly at the source.
    pub pushed: Option<Pushed>,
    /// Bounds on the report's window column (`created >= a AND created <= b`), inclusive.
    pub window: Option<Window>,
    /// At most this many rows are needed.
    pub limit: Option<usize>,
    /// Requests in flight.
    pub concurrency: usize,
    /// "Now", for bucket boundaries.
    pub clock: Arc<dyn Clock>,
    /// Only this share of the report's units ([`ReportReader::units`]); `None`: all of them.
    pub shard: Option<Shard>,
}

impl ReadRequest {
    /// A request whose client never reaches the network, for decoding bytes already at hand
    /// (a local export file, benches, fuzz targets): the `projection`, nothing pushed down, no
    /// limit.
    pub(crate) fn detached(projection: Vec<usize>) -> ReadRequest {
        let config = crate::client::ClientConfig {
            base_url: "http://127.0.0.1:9".into(),
            api_key: crate::Secret::new("detached-reader"),
            rate_limit: 1.0,
            retry: crate::client::RetryPolicy::default(),
        };
        ReadRequest {
            client: Client::new(config),
            stats: RequestStats::default(),
            projection,
            pushed: None,
            window: None,
            limit: None,
            concurrency: 1,
            clock: Arc::new(crate::clock::SystemClock),
            shard: None,
        }
    }
}

/// A report that a scan can read.
pub trait ReportReader: Debug + Send + Sync {
    /// The full schema.
    fn schema(&self) -> SchemaRef;
    /// Columns whose `=`/`IN` filters the source answers exactly, most selective first. A scan
    /// pushes the filters of one of them (the first present in the query).
    fn pushdown_columns(&self) -> Vec<&'static str>;
    /// A time column whose range filters narrow what is fetched (`Inexact`: rows are re-checked).
    fn window_column(&self) -> Option<&'static str> {
        None
    }
    /// Into how many independent units a read splits (one per export, for the export reports),
    /// which a distributed scan may spread across tasks with [`ReadRequest::shard`]. `None`: the
    /// read is one unit. Scans of one workspace are never split otherwise: the workspace's rate
    /// limit is the bound, and two machines pacing one key separately would exceed it.
    fn units(&self) -> Option<usize> {
        None
    }
    /// Settings worth showing in EXPLAIN (never secrets).
    fn describe(&self) -> Vec<(&'static str, String)>;
    /// What EXPLAIN shows of a scan that reads `pushed`: [`Self::describe`], unless the pushed
    /// column changes what the read asks for (another endpoint).
    fn describe_scan(&self, pushed: Option<&Pushed>) -> Vec<(&'static str, String)> {
        let _ = pushed;
        self.describe()
    }
    /// Batches of the projected columns, emitted as responses arrive.
    fn read(&self, request: ReadRequest) -> BoxStream<'static, Result<RecordBatch>>;
}

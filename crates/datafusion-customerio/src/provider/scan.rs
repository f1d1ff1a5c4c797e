//! The scan node: one partition per table, batches emitted as responses arrive, EXPLAIN showing
//! the report, workspace, pushed filter, projection and limit (never the key), and EXPLAIN ANALYZE
//! showing requests, retries, 429s and bytes.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;

use crate::client::{Client, RequestStats};
use crate::clock::Clock;
use crate::options::TableOptions;
use crate::reports::{Pushed, ReadRequest, ReportReader, Shard, Window};

/// What a table was made of: enough to make the same table again in another process (a
/// distributed worker). It names the credential; it never holds the key.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDefinition {
    /// The validated options (`key` is the credential's name).
    pub options: TableOptions,
    /// The DDL column list, where the report takes one (`customers`).
    pub declared: Option<SchemaRef>,
}

/// Scans one Customer.io report of one workspace.
pub struct CustomerIoScanExec {
    definition: Arc<TableDefinition>,
    report: &'static str,
    workspace: String,
    reader: Arc<dyn ReportReader>,
    client: Client,
    clock: Arc<dyn Clock>,
    projection: Vec<usize>,
    pushed: Option<Pushed>,
    window: Option<Window>,
    limit: Option<usize>,
    concurrency: usize,
    partitions: usize,
    task: Option<Shard>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// What a scan needs besides the reader.
#[derive(Debug, Clone)]
pub struct ScanParams {
    /// The table it scans.
    pub definition: Arc<TableDefinition>,
    /// The report's name.
    pub report: &'static str,
    /// The workspace label.
    pub workspace: String,
    /// The workspace's client.
    pub client: Client,
    /// "Now".
    pub clock: Arc<dyn Clock>,
    /// Columns of the report schema to produce.
    pub projection: Vec<usize>,
    /// Values of one column read directly.
    pub pushed: Option<Pushed>,
    /// Bounds on the window column.
    pub window: Option<Window>,
    /// Rows needed at most.
    pub limit: Option<usize>,
    /// Requests in flight.
    pub concurrency: usize,
    /// Output partitions: partition `p` of `n` reads the units `u` with `u % n == p`
    /// ([`ReportReader::units`]). 1 but in distributed sessions.
    pub partitions: usize,
    /// A distributed task's share of the partitions (partition `p` is task `p % count`'s); the
    /// others are empty. `None`: every partition.
    pub task: Option<Shard>,
}

impl CustomerIoScanExec {
    /// A scan of `reader` with `params`.
    pub fn new(reader: Arc<dyn ReportReader>, params: ScanParams) -> DfResult<Self> {
        let schema = Arc::new(reader.schema().project(&params.projection)?);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(params.partitions.max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(CustomerIoScanExec {
            definition: params.definition,
            report: params.report,
            workspace: params.workspace,
            reader,
            client: params.client,
            clock: params.clock,
            projection: params.projection,
            pushed: params.pushed,
            window: params.window,
            limit: params.limit,
            concurrency: params.concurrency,
            partitions: params.partitions.max(1),
            task: params.task,
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The filter pushed down, if any.
    pub fn pushed(&self) -> Option<&Pushed> {
        self.pushed.as_ref()
    }

    /// The table this scans.
    pub fn definition(&self) -> &Arc<TableDefinition> {
        &self.definition
    }

    /// The reader.
    pub fn reader(&self) -> &Arc<dyn ReportReader> {
        &self.reader
    }

    /// The parameters this scan was made with (`client` and `clock` included).
    pub fn params(&self) -> ScanParams {
        ScanParams {
            definition: self.definition.clone(),
            report: self.report,
            workspace: self.workspace.clone(),
            client: self.client.clone(),
            clock: self.clock.clone(),
            projection: self.projection.clone(),
            pushed: self.pushed.clone(),
            window: self.window,
            limit: self.limit,
            concurrency: self.concurrency,
            partitions: self.partitions,
            task: self.task,
        }
    }

    /// Output partitions (more than one only for a report of several units in a distributed
    /// session).
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// The distributed task whose share of the partitions this scan runs, if it is one's.
    pub fn task(&self) -> Option<Shard> {
        self.task
    }

    /// This scan with its answers cached for `ttl` (a worker: the coordinator's session setting,
    /// which the worker's session does not have).
    pub fn with_cache_ttl(&self, ttl: std::time::Duration) -> DfResult<Self> {
        let params = ScanParams {
            client: self
                .client
                .clone()
                .with_cache(&self.definition.options.connection.key, ttl),
            ..self.params()
        };
        Self::new(self.reader.clone(), params)
    }

    /// The same scan, running only `task`'s share of the partitions.
    pub fn for_task(&self, task: Shard) -> DfResult<Self> {
        let params = ScanParams {
            task: Some(task),
            ..self.params()
        };
        Self::new(self.reader.clone(), params)
    }
}

impl fmt::Debug for CustomerIoScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerIoScanExec")
            .field("report", &self.report)
            .field("workspace", &self.workspace)
            .field("projection", &self.projection)
            .field("pushed", &self.pushed)
            .field("limit", &self.limit)
            .field("partitions", &self.partitions)
            .field("task", &self.task)
            .finish()
    }
}

impl DisplayAs for CustomerIoScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|field| field.name().as_str())
            .collect();
        write!(
            f,
            "CustomerIoScanExec: report={}, workspace={}",
            self.report, self.workspace
        )?;
        if let Some(pushed) = &self.pushed {
            write!(f, ", filter=[{pushed}]")?;
        }
        if matches!(t, DisplayFormatType::Verbose) || columns.len() <= 12 {
            write!(f, ", projection=[{}]", columns.join(", "))?;
        } else {
            write!(
                f,
                ", projection=[{}, ...{} more]",
                columns[..8].join(", "),
                columns.len() - 8
            )?;
        }
        if let Some((lo, hi)) = &self.window {
            let show = |t: &Option<DateTime<Utc>>| t.map_or("-".to_string(), |t| t.to_rfc3339());
            write!(f, ", window=[{}, {}]", show(lo), show(hi))?;
        }
        if let Some(l) = self.limit {
            write!(f, ", limit={l}")?;
        }
        if self.partitions > 1 {
            write!(f, ", partitions={}", self.partitions)?;
        }
        if let Some(t) = &self.task {
            write!(f, ", task={t}")?;
        }
        for (k, v) in self.reader.describe_scan(self.pushed.as_ref()) {
            write!(f, ", {k}={v}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for CustomerIoScanExec {
    fn name(&self) -> &str {
        "CustomerIoScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let stats = RequestStats {
            requests: MetricBuilder::new(&self.metrics).counter("requests", partition),
            retries: MetricBuilder::new(&self.metrics).counter("retries", partition),
            rate_limited: MetricBuilder::new(&self.metrics).counter("rate_limited", partition),
            bytes: MetricBuilder::new(&self.metrics).counter("bytes_received", partition),
            cast_failures: MetricBuilder::new(&self.metrics).counter("cast_failures", partition),
            cache_hits: MetricBuilder::new(&self.metrics).counter("cache_hits", partition),
        };
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let request = ReadRequest {
            client: self.client.clone(),
            stats,
            projection: self.projection.clone(),
            pushed: self.pushed.clone(),
            window: self.window,
            limit: self.limit,
            concurrency: self.concurrency,
            clock: self.clock.clone(),
            shard: (self.partitions > 1).then_some(Shard {
                index: partition,
                count: self.partitions,
            }),
        };
        if self.task.is_some_and(|t| !t.owns(partition)) {
            // Another task's partition.
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::empty(),
            )));
        }
        let inner = self.reader.read(request);
        // Stop pulling (and so stop paging) once the limit is met; an error ends the stream.
        let stream = futures::stream::unfold((inner, self.limit), move |(mut inner, rem)| {
            let baseline = baseline.clone();
            async move {
                if rem == Some(0) {
                    return None;
                }
                match inner.next().await? {
                    Err(e) => Some((Err(e.into()), (inner, Some(0)))),
                    Ok(batch) => {
                        let (batch, rem) = match rem {
                            Some(r) => {
                                let n = batch.num_rows().min(r);
                                (batch.slice(0, n), Some(r - n))
                            }
                            None => (batch, None),
                        };
                        baseline.record_output(batch.num_rows());
                        Some((Ok(batch), (inner, rem)))
                    }
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

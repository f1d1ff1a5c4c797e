//! Scans on [datafusion-distributed](https://github.com/datafusion-contrib/datafusion-distributed)
//! workers (the `distributed` cargo feature).
//!
//! A coordinator plans the query; stages run on workers, which reach Customer.io themselves.
//! Each workspace has its own rate limit, so the work that spreads is:
//! - the workspaces of a `UNION ALL`: each branch is one table of one workspace, and
//!   datafusion-distributed gives every branch to one task;
//! - the exports of one export table: one per segment of `customers_export`, one per campaign
//!   and newsletter of a `deliveries_export` without selector. In a distributed session such a
//!   scan has one partition per export (at most one per worker; partition `p` of `n` runs the
//!   exports `u` with `u % n == p`), and each task runs its share of the partitions.
//!
//! One workspace's scan is never split across machines otherwise: two machines pacing one key
//! separately would exceed its limit together.
//!
//! What crosses the network for a scan is [`CustomerIoCodec`]'s JSON: the table's options (its
//! `key` is the credential's *name*), the DDL column list, the projection, the pushed filter, the
//! window, the limit, the task's share and the coordinator's "now". Never the key: each worker
//! resolves the credential name from its own environment or credentials file.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion::scalar::ScalarValue;
use datafusion_distributed::{
    ChannelResolver, DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedExt,
    DistributedLeafExec, ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
    SessionStateBuilderExt, Worker, WorkerQueryContext, WorkerResolver,
};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::CustomerIo;
use crate::clock::FixedClock;
use crate::options::TableOptions;
use crate::provider::CustomerIoTable;
use crate::provider::scan::CustomerIoScanExec;
use crate::reports::{Pushed, Shard, scalar_i64};

/// The format tag of an encoded scan; a worker refuses any other. Version 2: the table's
/// options hold one report's settings (`settings`), not every report's.
const FORMAT: &str = "customerio-scan/2";

/// The format tag alone, read before the rest: a scan of another format is refused by its tag,
/// whatever its other fields.
#[derive(Debug, Deserialize)]
struct FormatTag {
    format: String,
}

/// One scan, as it crosses the network.
#[derive(Debug, Serialize, Deserialize)]
struct EncodedScan {
    format: String,
    options: TableOptions,
    /// The DDL column list: (name, Arrow type as text, nullable).
    declared: Option<Vec<(String, String, bool)>>,
    projection: Vec<usize>,
    pushed: Option<EncodedPushed>,
    /// Window bounds, in microseconds since the epoch.
    window: Option<(Option<i64>, Option<i64>)>,
    limit: Option<usize>,
    /// Output partitions (one per export in distributed sessions).
    partitions: usize,
    /// (index, count): the task whose share of the partitions this is.
    task: Option<(usize, usize)>,
    /// The coordinator's "now" when the plan was encoded, in microseconds: every task of a query
    /// computes the same bucket boundaries.
    now: i64,
    /// The time to live of the scan's cached answers on the coordinator, in milliseconds (the
    /// table's `cache_ttl`, else the session's `customerio.cache_ttl`; 0 where its cache is
    /// off, as in `cio-sql schedule`): a worker's session does not have the coordinator's
    /// settings. Absent (an older coordinator): the table's option alone.
    #[serde(default)]
    cache_ttl_ms: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EncodedPushed {
    column: String,
    values: Vec<EncodedValue>,
}

/// A pushed value. Values that are neither integers nor text match no row of any pushdown
/// column, so leaving them out keeps the scan's answer.
#[derive(Debug, Serialize, Deserialize)]
enum EncodedValue {
    Int(i64),
    Text(String),
}

/// Encodes and decodes [`CustomerIoScanExec`] for datafusion-distributed. Register it on the
/// coordinator and on every worker ([`coordinator_state`], [`worker`] do).
#[derive(Debug, Clone)]
pub struct CustomerIoCodec {
    cio: CustomerIo,
}

impl CustomerIoCodec {
    /// A codec whose decoded scans resolve credential names with `cio`'s credentials.
    pub fn new(cio: CustomerIo) -> Self {
        CustomerIoCodec { cio }
    }

    /// The bytes of `scan` as sent to a worker.
    pub fn encode_scan(&self, scan: &CustomerIoScanExec) -> DfResult<Vec<u8>> {
        let params = scan.params();
        let definition = scan.definition();
        let declared = definition.declared.as_ref().map(|schema| {
            schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable()))
                .collect()
        });
        let pushed = params.pushed.as_ref().map(|p| EncodedPushed {
            column: p.column.to_string(),
            values: p
                .values
                .iter()
                .filter_map(|v| match v {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)) => Some(EncodedValue::Text(s.clone())),
                    other => scalar_i64(other).map(EncodedValue::Int),
                })
                .collect(),
        });
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
        let encoded = EncodedScan {
            format: FORMAT.to_string(),
            options: definition.options.clone(),
            declared,
            projection: params.projection.clone(),
            pushed,
            window: params.window.map(|(lo, hi)| (micros(lo), micros(hi))),
            limit: params.limit,
            partitions: params.partitions,
            task: params.task.map(|t| (t.index, t.count)),
            now: params.clock.now().timestamp_micros(),
            cache_ttl_ms: Some(if params.client.cache().is_disabled() {
                0
            } else {
                u64::try_from(params.client.cache_ttl().as_millis()).unwrap_or(u64::MAX)
            }),
        };
        serde_json::to_vec(&encoded).map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// The scan `buf` describes, its credential resolved here.
    pub fn decode_scan(&self, buf: &[u8]) -> DfResult<CustomerIoScanExec> {
        let bad = |what: String| {
            DataFusionError::Plan(format!(
                "a Customer.io scan received from the coordinator is not readable: {what}; \
                 the coordinator and the workers must run the same version of \
                 datafusion-customerio"
            ))
        };
        let tag: FormatTag = serde_json::from_slice(buf).map_err(|e| bad(e.to_string()))?;
        if tag.format != FORMAT {
            return Err(bad(format!("format '{}', expected '{FORMAT}'", tag.format)));
        }
        let e: EncodedScan = serde_json::from_slice(buf).map_err(|e| bad(e.to_string()))?;
        let declared = match e.declared {
            None => None,
            Some(fields) => {
                let fields = fields
                    .into_iter()
                    .map(|(name, ty, nullable)| {
                        let ty: DataType = ty
                            .parse()
                            .map_err(|err| bad(format!("column {name} type '{ty}': {err}")))?;
                        Ok(Field::new(name, ty, nullable))
                    })
                    .collect::<DfResult<Vec<_>>>()?;
                Some(Arc::new(Schema::new(fields)) as SchemaRef)
            }
        };
        let instant = |n: i64| {
            DateTime::from_timestamp_micros(n).ok_or_else(|| bad(format!("instant {n} µs")))
        };
        let now = instant(e.now)?;
        let window = match e.window {
            None => None,
            Some((lo, hi)) => Some((lo.map(instant).transpose()?, hi.map(instant).transpose()?)),
        };
        let task = match e.task {
            None => None,
            Some((index, count)) if index < count => Some(Shard { index, count }),
            Some((index, count)) => return Err(bad(format!("task {index} of {count}"))),
        };
        if e.partitions == 0 {
            return Err(bad("0 partitions".to_string()));
        }
        let cio = self.cio.clone().with_clock(Arc::new(FixedClock::new(now)));
        let table = CustomerIoTable::with_columns(e.options, declared, &cio)
            .map_err(|err| DataFusionError::Plan(format!("on this worker: {err}")))?;
        let pushed = match e.pushed {
            None => None,
            Some(p) => {
                let column = table
                    .reader()
                    .pushdown_columns()
                    .into_iter()
                    .find(|c| *c == p.column)
                    .ok_or_else(|| bad(format!("filter on column '{}'", p.column)))?;
                let values = p
                    .values
                    .into_iter()
                    .map(|v| match v {
                        EncodedValue::Int(n) => ScalarValue::Int64(Some(n)),
                        EncodedValue::Text(s) => ScalarValue::Utf8(Some(s)),
                    })
                    .collect();
                Some(Pushed { column, values })
            }
        };
        let width = table.reader().schema().fields().len();
        if let Some(bad_index) = e.projection.iter().find(|i| **i >= width) {
            return Err(bad(format!("column {bad_index} of {width}")));
        }
        let mut scan = table.scan_exec(e.projection, pushed, window, e.limit, e.partitions)?;
        if let Some(ms) = e.cache_ttl_ms {
            // At most the longest `cache_ttl` (24h).
            let ms = ms.min(24 * 3600 * 1000);
            scan = scan.with_cache_ttl(std::time::Duration::from_millis(ms))?;
        }
        match task {
            Some(task) => scan.for_task(task),
            None => Ok(scan),
        }
    }
}

impl PhysicalExtensionCodec for CustomerIoCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(DataFusionError::Internal(format!(
                "CustomerIoScanExec has no inputs, got {}",
                inputs.len()
            )));
        }
        Ok(Arc::new(self.decode_scan(buf)?))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(scan) = node.downcast_ref::<CustomerIoScanExec>() else {
            return Err(DataFusionError::Internal(format!(
                "CustomerIoCodec encodes CustomerIoScanExec, not {}",
                node.name()
            )));
        };
        buf.extend(self.encode_scan(scan)?);
        Ok(())
    }
}

/// How many tasks a scan wants: one per partition (export) for the export reports, else one.
fn desired_task_count(
    ev: DesiredTaskCountEvent,
) -> Option<DfResult<DesiredTaskCountEventResponse>> {
    let scan = ev.plan.downcast_ref::<CustomerIoScanExec>()?;
    Some(Ok(if scan.partitions() > 1 && scan.task().is_none() {
        DesiredTaskCountEventResponse::desired(scan.partitions())
    } else {
        DesiredTaskCountEventResponse::maximum(1)
    }))
}

/// Gives each task its share of a scan's partitions.
fn scale_up(ev: ScaleUpLeafNodeEvent) -> Option<DfResult<ScaleUpLeafNodeEventResponse>> {
    let scan = ev.plan.downcast_ref::<CustomerIoScanExec>()?;
    if ev.task_count <= 1 || scan.partitions() <= 1 {
        return None;
    }
    let variants = (0..ev.task_count)
        .map(|index| {
            let task = Shard {
                index,
                count: ev.task_count,
            };
            scan.for_task(task)
                .map(|s| Arc::new(s) as Arc<dyn ExecutionPlan>)
        })
        .collect::<DfResult<Vec<_>>>();
    Some(variants.and_then(|variants| {
        DistributedLeafExec::try_new(ev.plan.clone(), variants)
            .map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf)))
    }))
}

/// Whether `config` is a distributed session's ([`coordinator_state`]).
pub fn is_distributed(config: &SessionConfig) -> bool {
    config
        .options()
        .extensions
        .get::<datafusion_distributed::DistributedConfig>()
        .is_some()
}

/// A fixed list of worker URLs (`cio-sql --workers`).
#[derive(Debug, Clone)]
pub struct StaticWorkers(pub Vec<Url>);

impl WorkerResolver for StaticWorkers {
    fn get_urls(&self) -> DfResult<Vec<Url>> {
        Ok(self.0.clone())
    }
}

/// A session state that plans queries for `workers`: the distributed planner, the codec and
/// the task-count handlers of the Customer.io scan. Register the factory on the context made
/// from it ([`CustomerIo::register`]). Calls to the workers go through `channels`: datafusion-
/// distributed's `DefaultChannelResolver`, or a resolver of the application's that adds a token
/// or TLS (`cio-sql`'s does both).
pub fn coordinator_state<C>(
    cio: &CustomerIo,
    workers: Vec<Url>,
    config: SessionConfig,
    channels: C,
) -> SessionState
where
    C: ChannelResolver + Send + Sync + 'static,
{
    SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_distributed_worker_resolver(StaticWorkers(workers))
        .with_distributed_channel_resolver(channels)
        .with_distributed_planner()
        .with_distributed_user_codec(CustomerIoCodec::new(cio.clone()))
        .with_distributed_desired_task_count_handler(desired_task_count)
        .with_distributed_scale_up_leaf_node_handler(scale_up)
        .build()
}

/// A worker that runs Customer.io scans with `cio`'s credentials. A stage it reads from another
/// worker is reached through `peers`, as the coordinator's calls are through its channels.
pub fn worker<C>(cio: CustomerIo, peers: C) -> Worker
where
    C: ChannelResolver + Clone + Send + Sync + 'static,
{
    Worker::from_session_builder(move |ctx: WorkerQueryContext| {
        let codec = CustomerIoCodec::new(cio.clone());
        let peers = peers.clone();
        async move {
            Ok(ctx
                .builder
                .with_distributed_user_codec(codec)
                .with_distributed_channel_resolver(peers)
                .build())
        }
    })
}

//! DataFusion integration: the table provider, its scan node and the `STORED AS CUSTOMERIO`
//! factory.

pub mod factory;
pub mod scan;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExecBuilder;
use datafusion::scalar::ScalarValue;

use crate::CustomerIo;
use crate::client::{Client, ClientConfig};
use crate::clock::Clock;
use crate::error::Result;
use crate::options::{Report, ReportSettings, TableOptions};
use crate::reports::customers::CustomersReport;
use crate::reports::exports::{ExportKind, ExportReport};
use crate::reports::journeys::JourneyReport;
use crate::reports::metrics::{MetricKind, MetricReport};
use crate::reports::objects::ObjectReport;
use crate::reports::segments::SegmentsReport;
use crate::reports::{Pushed, ReportReader, Window};
use scan::{CustomerIoScanExec, ScanParams, TableDefinition};

/// One Customer.io report of one workspace, as a DataFusion table.
pub struct CustomerIoTable {
    options: TableOptions,
    declared: Option<SchemaRef>,
    client: Client,
    reader: Arc<dyn ReportReader>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for CustomerIoTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerIoTable")
            .field("report", &self.options.report())
            .field("workspace", &self.options.connection.workspace_label())
            .field("client", &self.client)
            .finish()
    }
}

impl CustomerIoTable {
    /// A table for `options`, its key resolved from `cio`'s credentials. Makes no request.
    pub fn try_new(options: TableOptions, cio: &CustomerIo) -> Result<Self> {
        Self::with_columns(options, None, cio)
    }

    /// A table with the columns of `declared` (a DDL column list), where the report allows it.
    pub fn with_columns(
        options: TableOptions,
        declared: Option<SchemaRef>,
        cio: &CustomerIo,
    ) -> Result<Self> {
        let clock = cio.clock().clone();
        if declared.is_some() && options.report() != Report::Customers {
            return Err(crate::Error::option(
                "columns",
                format!(
                    "report {} does not take a column list; its columns are fixed (only \
                     customers selects typed attribute columns by name)",
                    options.report()
                ),
            ));
        }
        let c = &options.connection;
        let credential = cio.credentials().resolve(&c.key)?;
        credential.check_region(&c.key, c.region)?;
        let mut config = ClientConfig::from_credential(
            &credential,
            c.region,
            c.base_url.as_deref(),
            c.rate_limit,
        );
        config.retry = c.retry_policy();
        let client = Client::with_transport(config, cio.transport())
            .with_cache(&c.key, c.cache_ttl.unwrap_or_default());
        let workspace = c.workspace_label().to_string();
        let reader: Arc<dyn ReportReader> = match &options.settings {
            ReportSettings::Campaigns(m) => Arc::new(MetricReport::new(
                MetricKind::Campaigns,
                workspace,
                m.clone(),
            )),
            ReportSettings::Newsletters(m) => Arc::new(MetricReport::new(
                MetricKind::Newsletters,
                workspace,
                m.clone(),
            )),
            ReportSettings::Customers => {
                Arc::new(CustomersReport::new(workspace, declared.clone())?)
            }
            ReportSettings::Segments(o) => {
                Arc::new(SegmentsReport::new(workspace).with_counts(o.counts))
            }
            ReportSettings::CustomersExport(e) => Arc::new(ExportReport::new(
                ExportKind::Customers,
                workspace,
                e.clone().into(),
            )),
            ReportSettings::DeliveriesExport(e) => Arc::new(ExportReport::new(
                ExportKind::Deliveries,
                workspace,
                e.clone().into(),
            )),
            ReportSettings::Object(o) => Arc::new(ObjectReport::new(workspace, o.clone())),
            ReportSettings::Metrics(t, m) => match MetricKind::of_table(*t) {
                Some(kind) => Arc::new(MetricReport::new(kind, workspace, m.clone())),
                None => Arc::new(JourneyReport::new(workspace, m.clone())),
            },
        };
        Ok(CustomerIoTable {
            options,
            declared,
            client,
            reader,
            clock,
        })
    }

    /// The table's options.
    pub fn options(&self) -> &TableOptions {
        &self.options
    }

    /// The column and values a filter selects, if it is `col = lit`, `lit = col`,
    /// `col IN (lits)`, or an OR of those on one column pushable at the source.
    fn column_values(&self, filter: &Expr) -> Option<(&'static str, Vec<ScalarValue>)> {
        let columns = self.reader.pushdown_columns();
        let column_of = |e: &Expr| match e {
            Expr::Column(c) => columns.iter().find(|name| **name == c.name).copied(),
            _ => None,
        };
        match filter {
            Expr::BinaryExpr(b) if b.op == Operator::Eq => {
                let (column, lit) = match (column_of(&b.left), column_of(&b.right)) {
                    (Some(c), None) => (c, &*b.right),
                    (None, Some(c)) => (c, &*b.left),
                    _ => return None,
                };
                Some((column, vec![literal(lit)?]))
            }
            // DataFusion turns short IN lists into OR chains.
            Expr::BinaryExpr(b) if b.op == Operator::Or => {
                let (column, mut left) = self.column_values(&b.left)?;
                let (right_column, right) = self.column_values(&b.right)?;
                if column != right_column {
                    return None;
                }
                for v in right {
                    if !left.contains(&v) {
                        left.push(v);
                    }
                }
                Some((column, left))
            }
            Expr::InList(l) if !l.negated => {
                let column = column_of(&l.expr)?;
                let mut values: Vec<ScalarValue> = Vec::new();
                for v in l.list.iter().map(literal) {
                    let v = v?;
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
                Some((column, values))
            }
            _ => None,
        }
    }

    /// The pushable column a scan with `filters` reads directly: the first of
    /// [`ReportReader::pushdown_columns`] that the filters constrain.
    fn chosen_column(&self, filters: &[&Expr]) -> Option<&'static str> {
        let constrained: Vec<&'static str> = filters
            .iter()
            .filter_map(|f| self.column_values(f).map(|(c, _)| c))
            .collect();
        self.reader
            .pushdown_columns()
            .into_iter()
            .find(|c| constrained.contains(c))
    }
}

/// The bounds a filter puts on `column`: `col >= t`, `col > t`, `col <= t`, `col < t` (either
/// side), `col BETWEEN a AND b`, or an AND of those. Bounds are inclusive (a looser window is
/// fine: the filter stays above the scan).
fn time_bounds(column: &str, filter: &Expr) -> Option<Window> {
    let is_col = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column);
    match filter {
        Expr::BinaryExpr(b) if b.op == Operator::And => {
            let (l, r) = (time_bounds(column, &b.left), time_bounds(column, &b.right));
            match (l, r) {
                (Some(l), Some(r)) => Some((max_opt(l.0, r.0), min_opt(l.1, r.1))),
                (one, None) | (None, one) => one,
            }
        }
        Expr::BinaryExpr(b) => {
            let (op, t) = if is_col(&b.left) {
                (b.op, literal_time(&b.right)?)
            } else if is_col(&b.right) {
                (b.op.swap()?, literal_time(&b.left)?)
            } else {
                return None;
            };
            match op {
                Operator::Gt | Operator::GtEq => Some((Some(t), None)),
                Operator::Lt | Operator::LtEq => Some((None, Some(t))),
                Operator::Eq => Some((Some(t), Some(t))),
                _ => None,
            }
        }
        Expr::Between(b) if !b.negated && is_col(&b.expr) => {
            Some((Some(literal_time(&b.low)?), Some(literal_time(&b.high)?)))
        }
        _ => None,
    }
}

fn max_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A timestamp literal (or a string literal cast to one) as UTC.
fn literal_time(e: &Expr) -> Option<DateTime<Utc>> {
    let micros = |v: &ScalarValue| -> Option<i64> {
        match v {
            ScalarValue::TimestampSecond(Some(s), _) => s.checked_mul(1_000_000),
            ScalarValue::TimestampMillisecond(Some(s), _) => s.checked_mul(1_000),
            ScalarValue::TimestampMicrosecond(Some(s), _) => Some(*s),
            ScalarValue::TimestampNanosecond(Some(s), _) => Some(s / 1_000),
            _ => None,
        }
    };
    match e {
        Expr::Literal(v, _) => DateTime::from_timestamp_micros(micros(v)?),
        Expr::Cast(c) => match &*c.expr {
            Expr::Literal(v, _) => {
                let ts = v.cast_to(c.field.data_type()).ok()?;
                DateTime::from_timestamp_micros(micros(&ts)?)
            }
            _ => None,
        },
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) if !v.is_null() => Some(v.clone()),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for CustomerIoTable {
    fn schema(&self) -> SchemaRef {
        self.reader.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let chosen = self.chosen_column(filters);
        Ok(filters
            .iter()
            .map(|f| match self.column_values(f) {
                // The API returns exactly the requested values: the filter holds without a re-check.
                Some((c, _)) if Some(c) == chosen => TableProviderFilterPushDown::Exact,
                _ => match self.reader.window_column().and_then(|c| time_bounds(c, f)) {
                    Some(_) => TableProviderFilterPushDown::Inexact,
                    None => TableProviderFilterPushDown::Unsupported,
                },
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Filters on the chosen column are ANDed: keep the values all of them allow.
        let refs: Vec<&Expr> = filters.iter().collect();
        let chosen = self.chosen_column(&refs);
        let mut pushed: Option<Pushed> = None;
        for f in filters {
            match self.column_values(f) {
                Some((column, set)) if Some(column) == chosen => {
                    pushed = Some(match pushed {
                        Some(prev) => Pushed {
                            column,
                            values: prev
                                .values
                                .into_iter()
                                .filter(|v| set.contains(v))
                                .collect(),
                        },
                        None => Pushed {
                            column,
                            values: set.into_iter().collect(),
                        },
                    });
                }
                _ => {}
            }
        }
        let window = self.reader.window_column().and_then(|c| {
            filters
                .iter()
                .filter_map(|f| time_bounds(c, f))
                .reduce(|a, b| (max_opt(a.0, b.0), min_opt(a.1, b.1)))
        });
        let projection = match projection {
            Some(p) => p.clone(),
            None => (0..self.reader.schema().fields().len()).collect(),
        };
        let partitions = self.partitions_for(state);
        let client = self.client_for(state)?;
        // Filters the read does not answer: on another pushable column (DataFusion asks which
        // filters are exact once per group of filters it still holds, so a second column can be
        // told "exact" when asked alone) or anything else it handed over. They are applied here,
        // above the read, and the read then takes no limit.
        let window_column = self.reader.window_column();
        let residual: Vec<&Expr> = filters
            .iter()
            .filter(|f| !matches!(self.column_values(f), Some((c, _)) if Some(c) == chosen))
            .filter(|f| window_column.and_then(|c| time_bounds(c, f)).is_none())
            .collect();
        if residual.is_empty() {
            return Ok(Arc::new(self.scan_exec_with(
                client, projection, pushed, window, limit, partitions,
            )?));
        }
        let schema = self.reader.schema();
        let mut read_columns = projection.clone();
        for f in &residual {
            for c in f.column_refs() {
                let i = schema.index_of(&c.name)?;
                if !read_columns.contains(&i) {
                    read_columns.push(i);
                }
            }
        }
        let exec = Arc::new(self.scan_exec_with(
            client,
            read_columns,
            pushed,
            window,
            None,
            partitions,
        )?);
        let unqualified = |e: &Expr| {
            e.clone()
                .transform(|e| {
                    Ok(match e {
                        Expr::Column(c) => {
                            Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))
                        }
                        other => Transformed::no(other),
                    })
                })
                .map(|t| t.data)
        };
        let predicate = residual
            .iter()
            .map(|e| unqualified(e))
            .collect::<DfResult<Vec<_>>>()?
            .into_iter()
            .reduce(Expr::and)
            .ok_or_else(|| {
                datafusion::error::DataFusionError::Internal("no residual filter".into())
            })?;
        let df_schema = DFSchema::try_from(exec.schema().as_ref().clone())?;
        let predicate = state.create_physical_expr(predicate, &df_schema)?;
        let filter = FilterExecBuilder::new(predicate, exec)
            .apply_projection(Some((0..projection.len()).collect()))?
            .build()?;
        Ok(Arc::new(filter))
    }
}

impl CustomerIoTable {
    /// The scan of this table for a query's projection, pushed filter, window and limit,
    /// its units spread over `partitions`.
    pub fn scan_exec(
        &self,
        projection: Vec<usize>,
        pushed: Option<Pushed>,
        window: Option<Window>,
        limit: Option<usize>,
        partitions: usize,
    ) -> DfResult<CustomerIoScanExec> {
        self.scan_exec_with(
            self.client.clone(),
            projection,
            pushed,
            window,
            limit,
            partitions,
        )
    }

    /// [`Self::scan_exec`] sending with `client`.
    fn scan_exec_with(
        &self,
        client: Client,
        projection: Vec<usize>,
        pushed: Option<Pushed>,
        window: Option<Window>,
        limit: Option<usize>,
        partitions: usize,
    ) -> DfResult<CustomerIoScanExec> {
        let params = ScanParams {
            definition: Arc::new(TableDefinition {
                options: self.options.clone(),
                declared: self.declared.clone(),
            }),
            report: self.options.report().as_str(),
            workspace: self.options.connection.workspace_label().to_string(),
            client,
            clock: self.clock.clone(),
            projection,
            pushed,
            window,
            limit,
            concurrency: self.options.connection.concurrency,
            partitions,
            task: None,
        };
        CustomerIoScanExec::new(self.reader.clone(), params)
    }

    /// The client of a scan in `state`: the table's `cache_ttl`, else the session's
    /// `customerio.cache_ttl`.
    fn client_for(&self, state: &dyn Session) -> DfResult<Client> {
        let Some(settings) = state
            .config()
            .options()
            .extensions
            .get::<crate::session::CustomerIoSettings>()
        else {
            return Ok(self.client.clone());
        };
        let bound = settings.cache_max_bytes.trim();
        if !bound.is_empty() {
            let bytes = bound.parse::<u64>().map_err(|_| {
                datafusion::error::DataFusionError::Plan(format!(
                    "setting customerio.cache_max_bytes: '{bound}' is not a number of bytes; \
                     valid values are whole numbers from 0 (store nothing), e.g. 268435456 \
                     (256 MiB)"
                ))
            })?;
            if self.client.cache().max_bytes() != bytes {
                self.client.cache().set_max_bytes(bytes);
            }
        }
        let dir = settings.export_cache_dir.trim();
        let dir = if dir.is_empty() {
            None
        } else {
            let path = std::path::PathBuf::from(dir);
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            let made = if path.is_dir() {
                Ok(())
            } else {
                builder.create(&path)
            };
            made.map_err(|e| {
                datafusion::error::DataFusionError::Plan(format!(
                    "setting customerio.export_cache_dir: '{dir}' is not a directory that can \
                     be made or used ({e}); give a writable directory, or '' to keep no export \
                     files"
                ))
            })?;
            Some(path)
        };
        let client = self.client.clone().with_export_cache_dir(dir);
        if self.options.connection.cache_ttl.is_some() {
            return Ok(client);
        }
        let ttl = crate::options::parse_cache_ttl("customerio.cache_ttl", &settings.cache_ttl)
            .map_err(|m| {
                datafusion::error::DataFusionError::Plan(format!(
                    "setting customerio.cache_ttl: {m}"
                ))
            })?;
        Ok(client.with_cache(&self.options.connection.key, ttl))
    }

    /// How many partitions a scan has in the session `state`: one, except in a distributed
    /// session, where a report made of several units (exports) gets one partition per unit, up
    /// to the number of workers, so that datafusion-distributed can give them to different
    /// tasks.
    fn partitions_for(&self, state: &dyn Session) -> usize {
        #[cfg(feature = "distributed")]
        if let Some(units) = self.reader.units() {
            let config = state.config();
            if crate::distributed::is_distributed(config) {
                let workers = datafusion_distributed::get_distributed_worker_resolver(config)
                    .and_then(|r| r.get_urls())
                    .map(|urls| urls.len())
                    .unwrap_or(0);
                return units.min(workers).max(1);
            }
        }
        let _ = state;
        1
    }

    /// The reader of this table's report.
    pub fn reader(&self) -> &Arc<dyn ReportReader> {
        &self.reader
    }
}

//! DataFusion integration: the table provider, its scan node and the `STORED AS CUSTOMERIO`
//! factory.

pub mod factory;
pub mod scan;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;

use crate::client::{Client, ClientConfig};
use crate::clock::Clock;
use crate::credentials::Credentials;
use crate::error::Result;
use crate::options::{Report, TableOptions};
use crate::reports::ReportReader;
use crate::reports::metrics::{MetricKind, MetricReport};
use scan::{CustomerIoScanExec, ScanParams};

/// One Customer.io report of one workspace, as a DataFusion table.
pub struct CustomerIoTable {
    options: TableOptions,
    client: Client,
    reader: Arc<dyn ReportReader>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for CustomerIoTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerIoTable")
            .field("report", &self.options.report)
            .field("workspace", &self.options.connection.workspace_label())
            .field("client", &self.client)
            .finish()
    }
}

impl CustomerIoTable {
    /// A table for `options`, its key resolved from `credentials`. Makes no request.
    pub fn try_new(
        options: TableOptions,
        credentials: &Credentials,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let c = &options.connection;
        let credential = credentials.resolve(&c.key)?;
        let config = ClientConfig::from_credential(
            &credential,
            c.region,
            c.base_url.as_deref(),
            c.rate_limit,
        );
        let client = Client::new(config);
        let workspace = c.workspace_label().to_string();
        let reader: Arc<dyn ReportReader> = match options.report {
            Report::Campaigns => Arc::new(MetricReport::new(
                MetricKind::Campaigns,
                workspace,
                options.metrics.clone(),
            )),
            Report::Newsletters => Arc::new(MetricReport::new(
                MetricKind::Newsletters,
                workspace,
                options.metrics.clone(),
            )),
        };
        Ok(CustomerIoTable {
            options,
            client,
            reader,
            clock,
        })
    }

    /// The table's options.
    pub fn options(&self) -> &TableOptions {
        &self.options
    }

    /// The ids a filter selects on the id column, if it is `col = lit`, `lit = col` or
    /// `col IN (lits)`, or an OR of those.
    fn ids_of(&self, filter: &Expr) -> Option<BTreeSet<i64>> {
        let column = self.reader.id_column()?;
        let is_col = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column);
        match filter {
            Expr::BinaryExpr(b) if b.op == Operator::Eq => {
                let lit = if is_col(&b.left) {
                    &*b.right
                } else if is_col(&b.right) {
                    &*b.left
                } else {
                    return None;
                };
                Some(BTreeSet::from([literal_i64(lit)?]))
            }
            // DataFusion turns short IN lists into OR chains.
            Expr::BinaryExpr(b) if b.op == Operator::Or => {
                let mut left = self.ids_of(&b.left)?;
                left.extend(self.ids_of(&b.right)?);
                Some(left)
            }
            Expr::InList(l) if !l.negated && is_col(&l.expr) => {
                l.list.iter().map(literal_i64).collect()
            }
            _ => None,
        }
    }
}

fn literal_i64(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::Int64(Some(n)) => Some(*n),
            ScalarValue::Int32(Some(n)) => Some(*n as i64),
            ScalarValue::Int16(Some(n)) => Some(*n as i64),
            ScalarValue::Int8(Some(n)) => Some(*n as i64),
            ScalarValue::UInt32(Some(n)) => Some(*n as i64),
            ScalarValue::UInt16(Some(n)) => Some(*n as i64),
            ScalarValue::UInt8(Some(n)) => Some(*n as i64),
            ScalarValue::UInt64(Some(n)) => i64::try_from(*n).ok(),
            _ => None,
        },
        Expr::Cast(c) => literal_i64(&c.expr),
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
        Ok(filters
            .iter()
            .map(|f| match self.ids_of(f) {
                // The API returns exactly the requested ids: the filter holds without re-checking.
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Several id filters are ANDed: keep the ids all of them allow.
        let mut ids: Option<BTreeSet<i64>> = None;
        for f in filters {
            if let Some(set) = self.ids_of(f) {
                ids = Some(match ids {
                    Some(prev) => prev.intersection(&set).copied().collect(),
                    None => set,
                });
            }
        }
        let projection = match projection {
            Some(p) => p.clone(),
            None => (0..self.reader.schema().fields().len()).collect(),
        };
        let params = ScanParams {
            report: self.options.report.as_str(),
            workspace: self.options.connection.workspace_label().to_string(),
            client: self.client.clone(),
            clock: self.clock.clone(),
            projection,
            ids: ids.map(|s| s.into_iter().collect()),
            limit,
            concurrency: self.options.connection.concurrency,
        };
        Ok(Arc::new(CustomerIoScanExec::new(
            self.reader.clone(),
            params,
        )?))
    }
}

//! `CREATE EXTERNAL TABLE t STORED AS CUSTOMERIO LOCATION '<report>' OPTIONS (...)`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProviderFactory};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::CreateExternalTable;

use super::CustomerIoTable;
use crate::CustomerIo;
use crate::options::{Report, TableOptions};

/// Builds Customer.io tables from DDL. Registered under `CUSTOMERIO` by [`crate::CustomerIo`].
#[derive(Debug, Clone)]
pub struct CustomerIoFactory {
    cio: CustomerIo,
}

impl CustomerIoFactory {
    /// A factory making tables of `cio` (its credentials, clock, HTTP client and pacers).
    pub fn new(cio: CustomerIo) -> Self {
        CustomerIoFactory { cio }
    }
}

#[async_trait]
impl TableProviderFactory for CustomerIoFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let table = cmd.name.to_string();
        let location = match cmd.locations.as_slice() {
            [one] => one,
            _ => {
                return Err(DataFusionError::Plan(format!(
                    "table {table}: give exactly one LOCATION, the report name"
                )));
            }
        };
        let report: Report = location.parse().map_err(|e| context(&table, e))?;
        let unsupported = [
            (!cmd.table_partition_cols.is_empty(), "PARTITIONED BY"),
            (!cmd.order_exprs.is_empty(), "WITH ORDER"),
            (cmd.unbounded, "UNBOUNDED"),
            (!cmd.constraints.is_empty(), "constraints"),
            (!cmd.column_defaults.is_empty(), "column defaults"),
        ];
        if let Some((_, what)) = unsupported.iter().find(|(present, _)| *present) {
            return Err(DataFusionError::Plan(format!(
                "table {table}: report {report} does not support {what}"
            )));
        }
        let options = TableOptions::parse(report, &cmd.options, self.cio.clock().now())
            .map_err(|e| context(&table, e))?;
        let declared =
            (!cmd.schema.fields().is_empty()).then(|| Arc::new(cmd.schema.as_arrow().clone()));
        let provider = CustomerIoTable::with_columns(options, declared, &self.cio)
            .map_err(|e| context(&table, e))?;
        Ok(Arc::new(provider))
    }
}

fn context(table: &str, e: crate::error::Error) -> DataFusionError {
    DataFusionError::Plan(format!("table {table}: {e}"))
}

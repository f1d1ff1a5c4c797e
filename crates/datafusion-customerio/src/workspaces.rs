//! Workspaces as schemas: `acme.campaigns`, `beta.newsletters`, ... with no DDL. Each schema
//! holds every report of [`Report::ALL`] with default options, built on first use (building
//! makes no request).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::prelude::SessionContext;

use crate::CustomerIo;
use crate::options::{Report, TableOptions};

/// One workspace: a schema whose tables are the reports read with one credential.
#[derive(Debug)]
pub struct WorkspaceSchema {
    workspace: String,
    key: String,
    cio: CustomerIo,
    tables: Mutex<HashMap<Report, Arc<dyn TableProvider>>>,
}

impl WorkspaceSchema {
    /// The schema `workspace`, reading with the credential named `key`.
    pub fn new(workspace: impl Into<String>, key: impl Into<String>, cio: CustomerIo) -> Self {
        WorkspaceSchema {
            workspace: workspace.into(),
            key: key.into(),
            cio,
            tables: Mutex::default(),
        }
    }

    /// The workspace (schema) name.
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// The credential name.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn report(name: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

#[async_trait]
impl SchemaProvider for WorkspaceSchema {
    fn table_names(&self) -> Vec<String> {
        Report::ALL.iter().map(|r| r.as_str().to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(report) = Self::report(name) else {
            return Ok(None);
        };
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables.get(&report) {
            return Ok(Some(t.clone()));
        }
        let mut options = TableOptions::new(report, self.key.clone());
        options.connection.workspace = Some(self.workspace.clone());
        let table: Arc<dyn TableProvider> = self.cio.table(options).map_err(|e| {
            DataFusionError::Plan(format!("workspace {}: {report}: {e}", self.workspace))
        })?;
        tables.insert(report, table.clone());
        Ok(Some(table))
    }

    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        Ok(Self::report(name).map(|_| TableType::Base))
    }

    fn table_exist(&self, name: &str) -> bool {
        Self::report(name).is_some()
    }
}

/// Registers the schema `workspace` (reports read with the credential `key`) in the session's
/// default catalog, replacing a workspace schema of that name. Refuses to shadow a schema that
/// is not a workspace (such as `public` or `information_schema`).
pub fn register_workspace(
    ctx: &SessionContext,
    cio: &CustomerIo,
    workspace: &str,
    key: &str,
) -> Result<(), String> {
    crate::credentials::check_name(key).map_err(|e| format!("workspace {workspace}: {e}"))?;
    if workspace.is_empty() {
        return Err("a workspace name must not be empty".into());
    }
    let state = ctx.state();
    let catalog_name = state.config_options().catalog.default_catalog.clone();
    let Some(catalog) = ctx.catalog(&catalog_name) else {
        return Err(format!("the default catalog {catalog_name} is missing"));
    };
    if let Some(existing) = catalog.schema(workspace)
        && existing.downcast_ref::<WorkspaceSchema>().is_none()
    {
        return Err(format!(
            "workspace {workspace}: a schema of that name already exists; name the \
                 workspace differently (--workspace OTHER={key})"
        ));
    }
    let schema = Arc::new(WorkspaceSchema::new(workspace, key, cio.clone()));
    catalog
        .register_schema(workspace, schema)
        .map_err(|e| format!("workspace {workspace}: {}", e))?;
    Ok(())
}

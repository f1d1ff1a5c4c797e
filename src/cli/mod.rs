//! The `cio-sql` command: run SQL (`-c`, `-f`) against Customer.io tables and print the results.

pub mod output;

use std::time::Instant;

use datafusion::error::Result as DfResult;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use output::Format;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct PrintOptions {
    /// Table, CSV, JSON or NDJSON.
    pub format: Format,
    /// Rows printed at most per query (table format).
    pub max_rows: usize,
    /// No row count or timing lines.
    pub quiet: bool,
}

/// Runs every statement of `sql` in order, printing each result; stops at the first error.
pub async fn run_sql(ctx: &SessionContext, sql: &str, print: &PrintOptions) -> DfResult<()> {
    let statements = DFParser::parse_sql(sql)?;
    for statement in statements {
        let started = Instant::now();
        let plan = ctx.state().statement_to_plan(statement).await?;
        let df = ctx.execute_logical_plan(plan).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if schema.fields().is_empty() {
            // DDL: nothing to show.
        } else {
            output::print_batches(&schema, &batches, print)?;
        }
        if !print.quiet {
            eprintln!(
                "{rows} row{} in {:.3}s",
                if rows == 1 { "" } else { "s" },
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

//! The `cio-sql` command: SQL and Switchboard scripts against Customer.io tables, from `-c`, `-f`
//! or an interactive shell, and the daily scheduled ingestion to object storage.
//!
//! - [`Shell`] runs scripts: SQL statements and `download` statements ([`script`]), printing
//!   each result ([`output`]); Ctrl-C cancels the running statement ([`exec`]).
//! - [`repl`] is the interactive shell; the library's `workspaces` turns credentials into schemas.
//! - [`ingest`] runs a script for one date with an all-or-nothing commit to object storage
//!   ([`stores`]); [`schedule`] runs it every day at a local time.

pub mod errors;
pub mod exec;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
mod lease;
pub mod output;
pub mod repl;
pub mod schedule;
pub mod script;
pub mod stores;
#[cfg(feature = "distributed")]
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};

use datafusion_customerio::CustomerIo;
use datafusion_customerio::options::{Report, option_name};
pub use errors::CliError;
use exec::{ExecOptions, Outcome};
use output::Format;
use script::{Download, Piece, Using};

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

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions {
            format: Format::Table,
            max_rows: 40,
            quiet: false,
        }
    }
}

/// The Parquet codec `cio-sql` writes with unless told otherwise. DataFusion's default is
/// `zstd(3)`; level 1 gives files of the same size here (20 MB for a 1M-row customers export,
/// where snappy gives 34 MB and DuckDB 27 MB) in the time snappy takes, which is at least
/// DuckDB's (BENCHMARKS.md, "Decoding").
pub const PARQUET_COMPRESSION: &str = "zstd(1)";

/// The rows in a Parquet row group `cio-sql` writes (DuckDB's default). The writer holds a whole
/// row group in memory before writing it; DataFusion's default of 1,048,576 rows kept over
/// 100 MB of a wide export resident, and made a 4M-row export's peak 17% higher than a 1M-row
/// one's.
pub const PARQUET_ROW_GROUP: usize = 122_880;

/// The most a Parquet column chunk's dictionary may hold before the writer falls back to plain
/// encoding for the rest of the chunk (DataFusion's default: 1 MiB). Exports are full of unique
/// text (`id`, `email`, `cio_id`): with 1 MiB the writer spent about 30% of its time interning
/// values that never repeat, into dictionaries larger than the plain values compressed. With
/// 64 KiB (about 2,600 values of 25 bytes, in line with DuckDB's limit of 1% of a row group's
/// rows) a 1M-row export takes about a fifth less time than with 1 MiB, into a 16 MB file instead
/// of 20 MB (BENCHMARKS.md, "Decoding"); columns with few distinct values (plans, countries) keep
/// their dictionaries.
pub const PARQUET_DICTIONARY_LIMIT: usize = 64 * 1024;

/// The session settings of `cio-sql`: the information schema on (for `SHOW TABLES`), and
/// Parquet written with [`PARQUET_COMPRESSION`], in row groups of [`PARQUET_ROW_GROUP`] rows,
/// with dictionaries of at most [`PARQUET_DICTIONARY_LIMIT`] bytes. `SET
/// datafusion.execution.parquet.compression = 'snappy'` or a `COPY ... OPTIONS
/// ('format.compression' '...')` changes any of them.
pub fn session_config() -> SessionConfig {
    datafusion_customerio::session::session_config()
        .set_str(
            "datafusion.execution.parquet.compression",
            PARQUET_COMPRESSION,
        )
        .set_usize(
            "datafusion.execution.parquet.max_row_group_size",
            PARQUET_ROW_GROUP,
        )
        .set_usize(
            "datafusion.execution.parquet.dictionary_page_size_limit",
            PARQUET_DICTIONARY_LIMIT,
        )
}

/// A new session for Customer.io: [`session_config`], `STORED AS CUSTOMERIO` registered, and
/// local files deleted with their emptied folders.
pub fn new_session(cio: &CustomerIo) -> SessionContext {
    prepare(cio, SessionContext::new_with_config(session_config()))
}

/// [`new_session`] whose queries run on datafusion-distributed `workers`.
#[cfg(feature = "distributed")]
pub fn new_distributed_session(cio: &CustomerIo, workers: Vec<url::Url>) -> SessionContext {
    let config = session_config();
    let channels = worker::WorkerChannels::default();
    let state =
        datafusion_customerio::distributed::coordinator_state(cio, workers, config, channels);
    prepare(cio, SessionContext::new_with_state(state))
}

/// [`new_distributed_session`] whose calls to the workers go through `channels` (the worker
/// token, TLS).
#[cfg(feature = "distributed")]
pub fn new_distributed_session_with(
    cio: &CustomerIo,
    workers: Vec<url::Url>,
    channels: worker::WorkerChannels,
) -> SessionContext {
    let config = session_config();
    let state =
        datafusion_customerio::distributed::coordinator_state(cio, workers, config, channels);
    prepare(cio, SessionContext::new_with_state(state))
}

fn prepare(cio: &CustomerIo, ctx: SessionContext) -> SessionContext {
    cio.register(&ctx);
    let local = object_store::local::LocalFileSystem::new().with_automatic_cleanup(true);
    let file = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
    ctx.register_object_store(file.as_ref(), Arc::new(local));
    ctx
}

/// A session that runs scripts and prints their results.
#[derive(Clone)]
pub struct Shell {
    /// The DataFusion session.
    pub ctx: SessionContext,
    /// Credentials and clock of the Customer.io tables.
    pub cio: CustomerIo,
    /// How results print.
    pub print: PrintOptions,
    /// Cancellation and progress.
    pub exec: ExecOptions,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("session", &self.ctx.session_id())
            .field("print", &self.print)
            .finish()
    }
}

impl Shell {
    /// A shell over `ctx` (see [`new_session`]).
    pub fn new(ctx: SessionContext, cio: CustomerIo, print: PrintOptions) -> Self {
        Shell {
            ctx,
            cio,
            print,
            exec: ExecOptions::default(),
        }
    }

    /// Runs every statement of `input`, printing each result; stops at the first error.
    /// `source` (a file name) prefixes error messages.
    pub async fn run_script(&self, input: &str, source: Option<&str>) -> Result<(), CliError> {
        let pieces = script::split(input).map_err(|e| locate(source, e.describe(input)))?;
        for piece in pieces {
            match piece {
                Piece::Download(d) => {
                    self.register_download(input, &d)
                        .await
                        .map_err(|e| with_source(source, e))?;
                    if !self.print.quiet {
                        eprintln!("registered table {}", d.table);
                    }
                }
                Piece::Sql { start, end, .. } => {
                    for statement in
                        parse_sql(input, start, end).map_err(|e| with_source(source, e))?
                    {
                        let outcome = self.run_statement(statement).await.map_err(|e| {
                            let (line, _) = script::line_col(input, start);
                            match source {
                                Some(s) => with_source(Some(&format!("{s}, line {line}")), e),
                                None => e,
                            }
                        })?;
                        self.print_outcome(&outcome)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Plans and runs one statement, registering the object stores its URLs need.
    pub async fn run_statement(&self, statement: DFStatement) -> Result<Outcome, CliError> {
        self.register_stores(&statement)?;
        let plan = self
            .ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(CliError::from)?;
        #[cfg(feature = "distributed")]
        if let Some(outcome) = self.explain_distributed(&plan).await? {
            return Ok(outcome);
        }
        exec::run_plan(&self.ctx, plan, &self.exec).await
    }

    /// `EXPLAIN` (without `ANALYZE`) in a distributed session: DataFusion's `EXPLAIN` plans the
    /// query with the single-node planner, so the stages the workers would run are shown here
    /// instead, as datafusion-distributed draws them. `None` for any other statement.
    #[cfg(feature = "distributed")]
    async fn explain_distributed(
        &self,
        plan: &datafusion::logical_expr::LogicalPlan,
    ) -> Result<Option<exec::Outcome>, CliError> {
        use datafusion::arrow::array::StringArray;
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::logical_expr::LogicalPlan;
        let LogicalPlan::Explain(explain) = plan else {
            return Ok(None);
        };
        let state = self.ctx.state();
        if !datafusion_customerio::distributed::is_distributed(state.config()) {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let physical = state
            .create_physical_plan(&explain.plan)
            .await
            .map_err(CliError::from)?;
        let drawn = datafusion_distributed::display_plan_ascii(physical.as_ref(), false);
        let schema = Arc::new(Schema::new(vec![
            Field::new("plan_type", DataType::Utf8, false),
            Field::new("plan", DataType::Utf8, false),
        ]));
        let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["logical_plan", "distributed_plan"])),
                Arc::new(StringArray::from(vec![
                    state
                        .optimize(&explain.plan)
                        .map_err(CliError::from)?
                        .display_indent()
                        .to_string(),
                    drawn,
                ])),
            ],
        )
        .map_err(|e| CliError::msg(e.to_string()))?;
        Ok(Some(exec::Outcome {
            schema,
            batches: vec![batch],
            stats: exec::ScanStats::default(),
            elapsed: started.elapsed(),
        }))
    }

    fn register_stores(&self, statement: &DFStatement) -> Result<(), CliError> {
        // Every URL (an unsupported scheme fails here, with the supported ones named); a
        // relative path only as a COPY target (`LOCATION 'campaigns'` names a report).
        let locations: Vec<&str> = match statement {
            DFStatement::CopyTo(c) => vec![c.target.as_str()],
            DFStatement::CreateExternalTable(c) => c
                .locations
                .iter()
                .map(String::as_str)
                .filter(|l| l.contains("://"))
                .collect(),
            _ => Vec::new(),
        };
        for l in locations {
            stores::location(&self.ctx, l)?;
        }
        Ok(())
    }

    /// Prints a statement's result (nothing for DDL) and, unless quiet, `N rows in S.SSSs`.
    pub fn print_outcome(&self, outcome: &Outcome) -> Result<(), CliError> {
        if !outcome.schema.fields().is_empty() {
            output::print_batches(&outcome.schema, &outcome.batches, &self.print)?;
        }
        if !self.print.quiet {
            let rows = outcome.rows();
            let mut line = format!(
                "{rows} row{} in {:.3}s",
                exec::plural(rows),
                outcome.elapsed.as_secs_f64()
            );
            let s = &outcome.stats;
            if s.requests > 0 {
                line.push_str(&format!(
                    " ({} request{}{})",
                    exec::thousands(s.requests),
                    exec::plural(s.requests),
                    if s.retries > 0 {
                        format!(", {} retried", s.retries)
                    } else {
                        String::new()
                    }
                ));
            }
            eprintln!("{line}");
        }
        Ok(())
    }

    /// Registers the table of a `download` statement (replacing a table of that name): the same
    /// table as `CREATE EXTERNAL TABLE name STORED AS CUSTOMERIO LOCATION '<type>' OPTIONS (...)`.
    /// Errors name the line and column of the offending setting in `input`.
    pub async fn register_download(&self, input: &str, d: &Download) -> Result<(), CliError> {
        let at = |offset: usize, msg: String| {
            let (line, column) = script::line_col(input, offset);
            CliError::msg(format!("line {line}, column {column}: {msg}"))
        };
        let table = d.table.as_str();
        let mut report = None;
        let mut options: HashMap<String, String> = HashMap::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for e in &d.entries {
            let key = e.key.to_ascii_lowercase();
            if seen.insert(key.clone(), e.key_pos).is_some() {
                return Err(at(
                    e.key_pos,
                    format!("download {table}: setting '{}' is given twice", e.key),
                ));
            }
            if key == "type" {
                let script::Value::Str(name) = &e.value else {
                    return Err(at(
                        e.value_pos,
                        format!(
                            "download {table}: type must be a string like \"customerio:campaigns\""
                        ),
                    ));
                };
                report = Some(
                    name.parse::<Report>()
                        .map_err(|err| at(e.value_pos, format!("download {table}: {err}")))?,
                );
            } else {
                options.insert(e.key.clone(), e.value.to_option());
            }
        }
        let Some(report) = report else {
            let valid: Vec<String> = Report::ALL
                .iter()
                .map(|r| format!("customerio:{}", r.as_str()))
                .collect();
            return Err(at(
                d.start,
                format!(
                    "download {table}: the setting type is missing; valid types are {}",
                    valid.join(", ")
                ),
            ));
        };
        // Point an option error at the setting it names (a credential error at `key`), else
        // at the statement.
        let blame = |e: datafusion_customerio::Error| {
            let pos = e
                .option_name()
                .and_then(|name| {
                    d.entries
                        .iter()
                        .filter(|e| !e.key.eq_ignore_ascii_case("type"))
                        .find(|e| option_name(&e.key) == name)
                })
                .map_or(d.start, |e| e.key_pos);
            at(pos, format!("download {table}: {e}"))
        };
        let parsed = self.cio.parse_options(report, &options).map_err(&blame)?;
        let provider = self.cio.table(parsed).map_err(&blame)?;
        let provider: Arc<dyn TableProvider> = match &d.using {
            Using::All => provider,
            Using::Columns(columns) => {
                let names: Vec<&str> = columns.iter().map(String::as_str).collect();
                self.ctx
                    .read_table(provider)
                    .and_then(|df| df.select_columns(&names))
                    .map(|df| df.into_view())
                    .map_err(|e| {
                        at(
                            d.start,
                            format!("download {table}: using: {}", errors::describe(&e)),
                        )
                    })?
            }
        };
        let name = datafusion::common::TableReference::bare(table);
        self.ctx
            .deregister_table(name.clone())
            .map_err(CliError::from)?;
        self.ctx
            .register_table(name, provider)
            .map_err(CliError::from)?;
        Ok(())
    }
}

/// Parses the SQL `input[start..end]`; syntax errors give the line and column in `input`.
pub fn parse_sql(input: &str, start: usize, end: usize) -> Result<Vec<DFStatement>, CliError> {
    let text = script::positioned(input, start, end);
    Ok(DFParser::parse_sql(&text)
        .map_err(CliError::from)?
        .into_iter()
        .collect())
}

fn locate(source: Option<&str>, msg: String) -> CliError {
    match source {
        Some(s) => CliError::msg(format!("{s}: {msg}")),
        None => CliError::msg(msg),
    }
}

fn with_source(source: Option<&str>, e: CliError) -> CliError {
    match (source, e) {
        (Some(s), CliError::Failed(m)) => CliError::Failed(format!("{s}: {m}")),
        (_, e) => e,
    }
}

/// Parses `NAME=KEYREF` (or `NAME`, reading with the credential `NAME`).
pub fn parse_workspace_arg(s: &str) -> Result<(String, String), String> {
    let (name, key) = match s.split_once('=') {
        Some((n, k)) => (n.trim(), k.trim()),
        None => (s.trim(), s.trim()),
    };
    if name.is_empty() || key.is_empty() {
        return Err(format!(
            "'{}' is not NAME=KEYREF: give a schema name and a credential name, like acme=acme_key",
            if datafusion_customerio::credentials::check_name(s).is_ok() {
                s
            } else {
                "..."
            }
        ));
    }
    datafusion_customerio::credentials::check_name(key).map_err(|e| e.to_string())?;
    Ok((name.to_string(), key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_args() {
        assert_eq!(
            parse_workspace_arg("acme=acme_key").unwrap(),
            ("acme".to_string(), "acme_key".to_string())
        );
        assert_eq!(
            parse_workspace_arg("beta").unwrap(),
            ("beta".to_string(), "beta".to_string())
        );
        assert!(parse_workspace_arg("=x").is_err());
        let err = parse_workspace_arg("acme=0123456789abcdef0123456789abcdef").unwrap_err();
        assert!(!err.contains("0123456789abcdef"), "{err}");
    }
}

//! The interactive shell: multi-line statements ended by `;` (or a closed `download` block),
//! backslash commands, history in the user's data folder (never a line that looks like a
//! secret), Ctrl-C to cancel the running statement, Ctrl-D to leave.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::TableType;
use rustyline::DefaultEditor;
use rustyline::config::Config;
use rustyline::error::ReadlineError;

use super::errors::{CliError, describe};
use super::output::{self, Format};
use super::{Shell, script};
use datafusion_customerio::provider::CustomerIoTable;
use datafusion_customerio::workspaces::WorkspaceSchema;

const PROMPT: &str = "cio-sql> ";
const CONTINUE: &str = "cio-sql-> ";

/// The text of `\?`.
pub const HELP: &str = "\
Statements end with ';' and may span lines. Switchboard scripts work too:
  download t from { type: \"customerio:campaigns\"; key: \"my_key\"; } using {*};

Commands:
  \\d                 list tables (workspace schemas too: acme.campaigns)
  \\d NAME            columns of a table (NAME may be schema.table)
  \\pset format F     output format: table, csv, json, ndjson
  \\pset maxrows N    rows shown at most in table format
  \\pset              show the settings
  \\cache             the response cache: entries, bytes, hits (SET customerio.cache_ttl = '5m')
  \\cache clear       empty the response cache
  \\?                 this help
  \\q                 quit (Ctrl-D too)

Ctrl-C cancels the running statement (or clears the line being typed).";

/// The history file: `$CIO_SQL_HISTORY`, else `<data dir>/cio-sql/history`. Sessions on a
/// terminal are recorded; piped input only when `CIO_SQL_HISTORY` is set.
pub fn history_path() -> Option<PathBuf> {
    match std::env::var_os("CIO_SQL_HISTORY") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => dirs::data_dir().map(|d| d.join("cio-sql").join("history")),
    }
}

/// Whether `entry` may be written to the history: not if any word in it looks like an API key or
/// another secret (a long hex run, a long mixed letters-and-digits token), or if it names one.
pub fn history_safe(entry: &str) -> bool {
    let lower = entry.to_ascii_lowercase();
    if ["api_key", "secret", "password", "token", "cio_key_"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return false;
    }
    let word_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    entry
        .split(|c: char| !word_char(c))
        .filter(|w| !w.is_empty())
        .all(|word| {
            // A whole word, then each part between separators, judged like a credential name.
            let parts = word.split(['_', '-', '.']).filter(|p| p.len() >= 20);
            datafusion_customerio::credentials::check_name(word).is_ok()
                && parts
                    .into_iter()
                    .all(|p| datafusion_customerio::credentials::check_name(p).is_ok())
        })
}

/// Runs the shell until `\q`, Ctrl-D or the end of input.
pub async fn run(mut shell: Shell, history: Option<PathBuf>) -> Result<(), CliError> {
    let interactive = std::io::stdin().is_terminal();
    // Piped input is a script, not a session: no history unless CIO_SQL_HISTORY asks for it.
    let history = history.filter(|_| interactive || std::env::var_os("CIO_SQL_HISTORY").is_some());
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .max_history_size(2000)
        .and_then(|b| b.history_ignore_dups(true))
        .map_err(|e| CliError::msg(format!("cannot start the shell: {e}")))?
        .build();
    let mut editor = DefaultEditor::with_config(config)
        .map_err(|e| CliError::msg(format!("cannot start the shell: {e}")))?;
    if let Some(path) = &history
        && path.exists()
        && let Err(e) = editor.load_history(path)
    {
        eprintln!("warning: cannot read the history {}: {e}", path.display());
    }
    if interactive && !shell.print.quiet {
        eprintln!(
            "cio-sql {}: SQL over Customer.io. \\? for help, \\q to quit.",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { PROMPT } else { CONTINUE };
        let (ed, line) = read_line(editor, prompt).await?;
        editor = ed;
        match line {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.trim().is_empty() {
                    buffer.clear();
                    if trimmed.starts_with('\\') {
                        remember(&mut editor, history.as_deref(), trimmed);
                        if command(&mut shell, trimmed).await == Flow::Quit {
                            break;
                        }
                        continue;
                    }
                    if matches!(
                        trimmed.trim_end_matches(';').to_ascii_lowercase().as_str(),
                        "quit" | "exit"
                    ) {
                        break;
                    }
                    if trimmed.is_empty() {
                        continue;
                    }
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if script::is_complete(&buffer) {
                    let statement = std::mem::take(&mut buffer);
                    remember(&mut editor, history.as_deref(), statement.trim_end());
                    execute(&shell, &statement).await;
                }
            }
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C while typing: drop the statement being typed, as psql does.
                buffer.clear();
            }
            Err(ReadlineError::Eof) => {
                if !interactive && !buffer.trim().is_empty() {
                    let statement = std::mem::take(&mut buffer);
                    execute(&shell, &statement).await;
                }
                break;
            }
            Err(e) => return Err(CliError::msg(format!("cannot read input: {e}"))),
        }
    }
    Ok(())
}

async fn read_line(
    mut editor: DefaultEditor,
    prompt: &'static str,
) -> Result<(DefaultEditor, rustyline::Result<String>), CliError> {
    tokio::task::spawn_blocking(move || {
        let line = editor.readline(prompt);
        (editor, line)
    })
    .await
    .map_err(|e| CliError::msg(format!("the input reader stopped: {e}")))
}

fn remember(editor: &mut DefaultEditor, path: Option<&Path>, entry: &str) {
    if entry.is_empty() || !history_safe(entry) {
        return;
    }
    if editor.add_history_entry(entry).unwrap_or(false)
        && let Some(path) = path
    {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = editor.append_history(path) {
            eprintln!("warning: cannot write the history {}: {e}", path.display());
        }
    }
}

async fn execute(shell: &Shell, statement: &str) {
    match shell.run_script(statement, None).await {
        Ok(()) => {}
        Err(CliError::Cancelled) => eprintln!("Cancelled."),
        Err(e) => eprintln!("Error: {e}"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

async fn command(shell: &mut Shell, line: &str) -> Flow {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let result = match (cmd, args.as_slice()) {
        ("\\q", _) => return Flow::Quit,
        ("\\?" | "\\h" | "\\help", _) => {
            println!("{HELP}");
            Ok(())
        }
        ("\\d", []) => list_tables(shell).await,
        ("\\d", [name]) => describe_table(shell, name).await,
        ("\\pset", []) => {
            println!(
                "format {}\nmaxrows {}",
                format_name(shell.print.format),
                shell.print.max_rows
            );
            Ok(())
        }
        ("\\pset", ["format", f]) => f.parse::<Format>().map_err(CliError::msg).map(|f| {
            shell.print.format = f;
            eprintln!("Output format is {}.", format_name(f));
        }),
        ("\\pset", ["maxrows", n]) => match n.parse::<usize>() {
            Ok(n) if n > 0 => {
                shell.print.max_rows = n;
                eprintln!("At most {n} rows are shown.");
                Ok(())
            }
            _ => Err(CliError::msg(format!(
                "\\pset maxrows: '{n}' is not a number of rows above 0"
            ))),
        },
        ("\\pset", _) => Err(CliError::msg(
            "usage: \\pset format table|csv|json|ndjson, or \\pset maxrows N",
        )),
        ("\\cache", []) => {
            let c = shell.cio.cache().stats();
            println!(
                "{} entries, {} of {} bytes; {} answers served from it or shared, {} fetched; {} export files kept ({} bytes)",
                c.entries, c.bytes, c.max_bytes, c.hits, c.misses, c.export_files, c.export_bytes
            );
            Ok(())
        }
        ("\\cache", ["clear"]) => {
            shell.cio.cache().clear();
            eprintln!("The response cache is empty.");
            Ok(())
        }
        ("\\cache", _) => Err(CliError::msg("usage: \\cache, or \\cache clear")),
        ("\\d", _) => Err(CliError::msg("usage: \\d, or \\d NAME")),
        _ => Err(CliError::msg(format!(
            "unknown command {cmd}; \\? lists the commands"
        ))),
    };
    if let Err(e) = result {
        eprintln!("Error: {e}");
    }
    Flow::Continue
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Table => "table",
        Format::Csv => "csv",
        Format::Json => "json",
        Format::Ndjson => "ndjson",
    }
}

/// `\d`: every table of every schema but `information_schema`, with its kind.
pub async fn list_tables(shell: &Shell) -> Result<(), CliError> {
    let mut rows: Vec<[String; 3]> = Vec::new();
    for catalog_name in shell.ctx.catalog_names() {
        let Some(catalog) = shell.ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in catalog.schema_names() {
            if schema_name == "information_schema" {
                continue;
            }
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            let workspace = schema.downcast_ref::<WorkspaceSchema>().is_some();
            let mut names = schema.table_names();
            names.sort();
            for name in names {
                let kind = if workspace {
                    format!("customerio {name}")
                } else {
                    match schema.table(&name).await {
                        Ok(Some(t)) => kind_of(t.as_ref()),
                        Ok(None) => continue,
                        Err(e) => format!("error: {}", describe(&e)),
                    }
                };
                rows.push([schema_name.clone(), name, kind]);
            }
        }
    }
    rows.sort();
    print_rows(shell, ["schema", "name", "type"], rows)
}

fn kind_of(t: &dyn datafusion::catalog::TableProvider) -> String {
    if let Some(c) = t.downcast_ref::<CustomerIoTable>() {
        return format!("customerio {}", c.options().report());
    }
    match t.table_type() {
        TableType::Base => "table".into(),
        TableType::View => "view".into(),
        TableType::Temporary => "temporary".into(),
    }
}

/// `\d NAME`: the columns of a table.
pub async fn describe_table(shell: &Shell, name: &str) -> Result<(), CliError> {
    let provider = shell
        .ctx
        .table_provider(name)
        .await
        .map_err(CliError::from)?;
    let schema = provider.schema();
    let rows = schema
        .fields()
        .iter()
        .map(|f| {
            [
                f.name().clone(),
                f.data_type().to_string(),
                if f.is_nullable() { "YES" } else { "NO" }.to_string(),
            ]
        })
        .collect();
    print_rows(shell, ["column", "type", "nullable"], rows)?;
    if !shell.print.quiet
        && let Some(c) = provider.downcast_ref::<CustomerIoTable>()
    {
        let o = c.options();
        eprintln!(
            "Customer.io report {} of workspace {} (credential {})",
            o.report(),
            o.connection.workspace_label(),
            o.connection.key
        );
    }
    Ok(())
}

fn print_rows(shell: &Shell, header: [&str; 3], rows: Vec<[String; 3]>) -> Result<(), CliError> {
    let schema = Arc::new(Schema::new(
        header
            .iter()
            .map(|h| Field::new(*h, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = (0..3)
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[i].as_str()),
            )) as ArrayRef
        })
        .collect();
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| CliError::msg(e.to_string()))?;
    let mut print = shell.print;
    print.max_rows = usize::MAX;
    output::print_batches(&schema, &[batch], &print)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_the_history() {
        assert!(history_safe(
            "SELECT * FROM acme.campaigns WHERE campaign_id = 7;"
        ));
        assert!(history_safe(
            "download t from { type: \"customerio:campaigns\"; key: \"customerio_key\"; }"
        ));
        assert!(history_safe("\\d sim_us.campaigns"));
        assert!(!history_safe(
            "CREATE EXTERNAL TABLE t STORED AS CUSTOMERIO LOCATION 'campaigns' OPTIONS (key '0123456789abcdef0123456789abcdef');"
        ));
        assert!(!history_safe("SELECT 'Xk93jf8Qm2Lz7Pw4Tn6Rb1Vc'"));
        assert!(!history_safe("SELECT 'sk-Xk93jf8Qm2Lz7Pw4Tn6Rb1Vc'"));
        assert!(!history_safe("SET aws.secret_access_key = 'x'"));
        assert!(!history_safe("-- api_key = abc"));
    }
}

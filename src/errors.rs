//! Errors of the command line: one readable line each, never a Rust debug dump.

use std::fmt;

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

/// Why a statement or a run did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Ctrl-C (or SIGTERM) stopped it.
    Cancelled,
    /// It failed; the message is one line.
    Failed(String),
}

impl CliError {
    /// A failure with `message` (newlines folded).
    pub fn msg(message: impl AsRef<str>) -> Self {
        CliError::Failed(one_line(message.as_ref()))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Cancelled => f.write_str("cancelled"),
            CliError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

impl From<DataFusionError> for CliError {
    fn from(e: DataFusionError) -> Self {
        CliError::Failed(describe(&e))
    }
}

impl From<datafusion_customerio::error::Error> for CliError {
    fn from(e: datafusion_customerio::error::Error) -> Self {
        CliError::msg(e.to_string())
    }
}

/// `e` as one readable line: SQL syntax errors without their debug quoting, wrappers
/// ("External error: ...") dropped, newlines folded.
pub fn describe(e: &DataFusionError) -> String {
    one_line(&raw(e))
}

fn raw(e: &DataFusionError) -> String {
    match e {
        DataFusionError::SQL(p, _) => match p.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
                format!("SQL syntax error: {m}")
            }
            ParserError::RecursionLimitExceeded => {
                "SQL syntax error: the statement is nested too deeply".into()
            }
        },
        DataFusionError::External(inner) => match inner.downcast_ref::<DataFusionError>() {
            Some(df) => raw(df),
            None => inner.to_string(),
        },
        DataFusionError::Context(ctx, inner) => format!("{ctx}: {}", raw(inner)),
        DataFusionError::Shared(inner) => raw(inner),
        DataFusionError::Diagnostic(_, inner) => raw(inner),
        DataFusionError::Collection(errors) => match errors.first() {
            Some(first) => raw(first),
            None => e.to_string(),
        },
        DataFusionError::ObjectStore(os) => format!("object store: {os}"),
        other => {
            let s = other.to_string();
            // DataFusion appends a backtrace hint on some builds; keep the first paragraph.
            s.split("\n\nbacktrace").next().unwrap_or(&s).to_string()
        }
    }
}

/// Folds whitespace runs (newlines included) into single spaces.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_errors_are_not_debug_dumps() {
        let e = datafusion::sql::parser::DFParser::parse_sql("SELEC 1").unwrap_err();
        let s = describe(&e);
        assert!(s.starts_with("SQL syntax error: "), "{s}");
        assert!(!s.contains("ParserError("), "{s}");
    }

    #[test]
    fn wrappers_are_dropped_and_lines_folded() {
        let inner = DataFusionError::Plan("table t:\n  bad".into());
        let e = DataFusionError::External(Box::new(inner));
        assert_eq!(describe(&e), "Error during planning: table t: bad");
    }
}

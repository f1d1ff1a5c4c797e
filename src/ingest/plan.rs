//! The script parsed into steps (downloads and SQL statements) with the targets of its
//! `COPY` statements, and where the state folder of a date is.

use chrono::NaiveDate;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use url::Url;

use super::IngestJob;
use crate::Shell;
use crate::errors::CliError;
use crate::script::{self, Piece};
use crate::stores::{self, Location};

/// A parsed script: its steps and the targets of its `COPY` statements.
pub(super) struct Plan {
    /// The script, variables substituted (positions in errors refer to it).
    pub(super) text: String,
    /// Its statements, in order.
    pub(super) steps: Vec<Step>,
    /// The targets of its `COPY` statements.
    pub(super) targets: Vec<String>,
}

pub(super) enum Step {
    Download(script::Download),
    Sql { statement: DFStatement, line: usize },
}

pub(super) fn plan(text: &str, source: &str) -> Result<Plan, CliError> {
    let pieces = script::split(text)
        .map_err(|e| CliError::msg(format!("{source}: {}", e.describe(text))))?;
    let mut steps = Vec::new();
    let mut targets = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Download(d) => steps.push(Step::Download(d)),
            Piece::Sql { start, end, .. } => {
                let (line, _) = script::line_col(text, start);
                let statements = crate::parse_sql(text, start, end)
                    .map_err(|e| CliError::msg(format!("{source}: {e}")))?;
                for statement in statements {
                    match &statement {
                        DFStatement::CopyTo(c) => targets.push(c.target.clone()),
                        DFStatement::Statement(s) if matches!(**s, SqlStatement::Insert(_)) => {
                            return Err(CliError::msg(format!(
                                "{source}, line {line}: INSERT cannot be committed all or \
                                 nothing; write outputs with COPY (...) TO '<url>' STORED AS PARQUET"
                            )));
                        }
                        _ => {}
                    }
                    steps.push(Step::Sql { statement, line });
                }
            }
        }
    }
    if targets.is_empty() {
        return Err(CliError::msg(format!(
            "{source}: the script writes nothing; add COPY (SELECT ...) TO '<url>' STORED AS \
             PARQUET (the URL may use ${{run_date}})"
        )));
    }
    Ok(Plan {
        text: text.to_string(),
        steps,
        targets,
    })
}

/// The default state root: `_cio_sql/` in the deepest folder shared by every output, cut
/// before the run date or timestamp.
fn default_state_root(targets: &[String], run_date: &str, ts: &str) -> Result<Url, CliError> {
    let mut common: Option<(String, Vec<String>)> = None;
    for t in targets {
        let url = stores::parse_url(t)?;
        let s = url.as_str();
        let cut = [s.find(run_date), s.find(ts)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(s.len());
        let fixed = &s[..cut];
        let dir = &fixed[..fixed.rfind('/').map(|i| i + 1).unwrap_or(0)];
        let parsed = Url::parse(dir).map_err(|e| CliError::msg(format!("{t}: {e}")))?;
        let base = format!("{}://{}", parsed.scheme(), parsed.authority());
        let segments: Vec<String> = parsed
            .path()
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        common = Some(match common {
            None => (base, segments),
            Some((b, prev)) => {
                if b != base {
                    return Err(CliError::msg(format!(
                        "the outputs are in different stores ({b} and {base}): give --state URL \
                         for the commit markers"
                    )));
                }
                let n = prev
                    .iter()
                    .zip(&segments)
                    .take_while(|(a, b)| a == b)
                    .count();
                (b, prev[..n].to_vec())
            }
        });
    }
    let Some((base, segments)) = common else {
        return Err(CliError::msg("no outputs"));
    };
    let mut root = base;
    root.push('/');
    for s in segments {
        root.push_str(&s);
        root.push('/');
    }
    root.push_str("_cio_sql/");
    Url::parse(&root).map_err(|e| CliError::msg(format!("{root}: {e}")))
}

/// The state folder of `job` for `run_date`, with its store registered on `shell`.
pub(super) fn date_dir(
    job: &IngestJob,
    shell: &Shell,
    plan: &Plan,
    date: NaiveDate,
    ts: &str,
) -> Result<Location, CliError> {
    let root = match &job.state {
        Some(s) => {
            let mut s = stores::parse_url(s)?.to_string();
            if !s.ends_with('/') {
                s.push('/');
            }
            s
        }
        None => {
            default_state_root(&plan.targets, &date.format("%Y-%m-%d").to_string(), ts)?.to_string()
        }
    };
    stores::location(
        &shell.ctx,
        &format!("{root}{}/{}/", job.name, date.format("%Y-%m-%d")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_root_is_the_shared_folder() {
        let t = |v: &[&str]| {
            default_state_root(
                &v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "2026-11-26",
                "20261126T140000Z",
            )
            .map(|u| u.to_string())
        };
        assert_eq!(
            t(&[
                "s3://lake/cio/campaigns/date=2026-11-26/part.parquet",
                "s3://lake/cio/newsletters/date=2026-11-26/"
            ])
            .unwrap(),
            "s3://lake/cio/_cio_sql/"
        );
        assert_eq!(
            t(&["memory://m/out/2026-11-26.parquet"]).unwrap(),
            "memory://m/out/_cio_sql/"
        );
        assert!(t(&["s3://a/x/", "s3://b/x/"]).is_err());
    }
}

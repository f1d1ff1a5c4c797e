//! The script run with each `COPY` writing to staging, and where each staged file goes.

use std::collections::BTreeMap;

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::sql::parser::Statement as DFStatement;
use futures::TryStreamExt;
use url::Url;

use super::RunError;
use super::plan::{Plan, Step};
use super::run::Run;
use crate::errors::CliError;
use crate::exec::ScanStats;
use crate::stores::{self, Location, os_error};

/// One output, staged.
pub(super) struct Staged {
    /// The target as written.
    pub(super) target: String,
    /// Rows written.
    pub(super) rows: u64,
    /// The requests made.
    pub(super) stats: ScanStats,
    /// (staged, final, bytes) of each file.
    pub(super) files: Vec<(Location, Location, u64)>,
}

impl Run<'_> {
    /// Runs the script, each `COPY` writing to staging. Returns the staged outputs.
    pub(super) async fn execute(&self, plan: &Plan) -> Result<Vec<Staged>, RunError> {
        let staging = self.staging()?;
        let mut staged = Vec::new();
        for step in &plan.steps {
            match step {
                Step::Download(d) => {
                    self.shell
                        .register_download(&plan.text, d)
                        .await
                        .map_err(|e| CliError::msg(format!("{}: {e}", self.job.source)))?;
                }
                Step::Sql { statement, line } => {
                    let mut statement = statement.clone();
                    let mut output = None;
                    if let DFStatement::CopyTo(c) = &mut statement {
                        let i = staged.len() + 1;
                        let target = c.target.clone();
                        let final_loc = stores::location(&self.shell.ctx, &target)?;
                        let leaf = file_leaf(&final_loc.url);
                        let stage_dir = staging.join(&format!("out{i}/"))?;
                        c.target = match &leaf {
                            Some(l) => stage_dir.join(l)?.url.to_string(),
                            None => stage_dir.url.to_string(),
                        };
                        output = Some((target, final_loc, stage_dir));
                    }
                    let outcome =
                        self.shell
                            .run_statement(statement)
                            .await
                            .map_err(|e| match e {
                                CliError::Failed(m) => CliError::Failed(format!(
                                    "{}, line {line}: {m}",
                                    self.job.source
                                )),
                                other => other,
                            })?;
                    if let Some((target, final_loc, stage_dir)) = output {
                        let rows = count_rows(&outcome.batches);
                        let files = self.map_files(&final_loc, &stage_dir).await?;
                        staged.push(Staged {
                            target,
                            rows,
                            stats: outcome.stats,
                            files,
                        });
                        self.env
                            .faults
                            .hit(&format!("output {} staged", staged.len()))?;
                    }
                }
            }
        }
        Ok(staged)
    }

    /// The staged files of one output and where each goes.
    async fn map_files(
        &self,
        final_loc: &Location,
        stage_dir: &Location,
    ) -> Result<Vec<(Location, Location, u64)>, CliError> {
        let objects: Vec<_> = stage_dir
            .store
            .list(Some(&stage_dir.path))
            .try_collect()
            .await
            .map_err(|e| os_error("list", stage_dir, e))?;
        let prefix = stage_dir.path.as_ref().to_string();
        let mut rel: Vec<(String, u64)> = objects
            .iter()
            .filter_map(|o| {
                let p = o.location.as_ref();
                p.strip_prefix(&prefix)
                    .map(|r| (r.trim_start_matches('/').to_string(), o.size))
            })
            .filter(|(r, _)| !r.is_empty())
            .collect();
        rel.sort();
        let leaf = file_leaf(&final_loc.url);
        // One file under its own name: a single-file output.
        if let (Some(l), [(r, size)]) = (&leaf, rel.as_slice())
            && r == l
        {
            return Ok(vec![(stage_dir.join(r)?, final_loc.clone(), *size)]);
        }
        // A directory output: stable names per folder, so a redo overwrites.
        let dir = if leaf.is_some() {
            // `x.parquet` written as a folder (e.g. PARTITIONED BY): keep the name as a folder.
            final_loc.join("")?
        } else {
            final_loc.clone()
        };
        let mut counters: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for (r, size) in rel {
            let (folder, name) = match r.rfind('/') {
                Some(i) => (r[..=i].to_string(), &r[i + 1..]),
                None => (String::new(), r.as_str()),
            };
            let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("data");
            let k = counters.entry(folder.clone()).or_default();
            let stable = format!("{folder}part-{k:05}.{ext}");
            *k += 1;
            out.push((stage_dir.join(&r)?, join_dir(&dir, &stable)?, size));
        }
        Ok(out)
    }
}

/// The last path segment when the URL names a file (has an extension, no trailing `/`).
fn file_leaf(url: &Url) -> Option<String> {
    let path = url.path();
    if path.ends_with('/') {
        return None;
    }
    let leaf = path.rsplit('/').next()?;
    leaf.contains('.').then(|| leaf.to_string())
}

/// `rel` under the folder `dir` (a `/` added to it if missing).
fn join_dir(dir: &Location, rel: &str) -> Result<Location, CliError> {
    let mut d = dir.clone();
    if !d.url.path().ends_with('/') {
        let s = format!("{}/", d.url.as_str());
        d.url = Url::parse(&s).map_err(|e| CliError::msg(format!("{s}: {e}")))?;
    }
    d.join(rel)
}

/// `t` with any credentials in its URL redacted, for the manifest.
pub(super) fn redact_target(t: &str) -> String {
    match stores::parse_url(t) {
        Ok(u) => stores::redact(&u),
        Err(_) => t.to_string(),
    }
}

/// The rows a `COPY` reports (its one `count` column).
fn count_rows(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> u64 {
    let mut n = 0;
    for b in batches {
        if b.num_columns() == 0 {
            continue;
        }
        if let Ok(col) = cast(b.column(0), &DataType::UInt64)
            && let Some(a) = col
                .as_any()
                .downcast_ref::<datafusion::arrow::array::UInt64Array>()
        {
            n += (0..a.len())
                .filter(|i| !a.is_null(*i))
                .map(|i| a.value(i))
                .sum::<u64>();
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            file_leaf(&u("s3://b/x/y.parquet")).as_deref(),
            Some("y.parquet")
        );
        assert_eq!(file_leaf(&u("s3://b/x/y/")), None);
        assert_eq!(file_leaf(&u("s3://b/x/date=2026-01-01")), None);
    }
}

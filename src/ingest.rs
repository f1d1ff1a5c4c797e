//! One run of an ingestion script for one run date, committed all or nothing.
//!
//! The script (SQL and `download` statements) writes its outputs with
//! `COPY (...) TO '<url>' STORED AS PARQUET`, where the URL may use `${run_date}` and
//! `${run_ts}`. For a run date `D`, in the state folder `<state>/<D>/`:
//!
//! 1. if `_MANIFEST.json` exists the date is committed: nothing is written;
//! 2. a lease `lock-<generation>.json` is taken with a create-if-absent put (the holder renews it
//!    by creating the next generation; a lease whose time ran out, or whose process is gone from
//!    this host, may be taken over by creating the next generation);
//! 3. each `COPY` writes under `staging/<run id>/out<i>/` instead of its target;
//! 4. `intent-<run id>.json` lists the final files; the leftovers of earlier, dead runs of `D`
//!    (their staging, and final files of theirs that this run will not overwrite) are deleted;
//! 5. the staged files are copied to their targets (files of a directory output get the
//!    stable names `part-00000.<ext>`, ... so that a redo overwrites rather than adds);
//! 6. `_MANIFEST.json` (outputs, files, rows, bytes, requests) is written with a
//!    create-if-absent put: this is the commit, the one moment the date becomes visible;
//! 7. the staging files, the intent and the lease are removed.
//!
//! Readers take a date's outputs only once its manifest exists. A run that dies at any step
//! leaves no manifest, and the next run of the date redoes it; of two runs at once, one holds
//! the lease and the other stops with an error before writing anything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use datafusion::arrow::array::Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode};
use serde::{Deserialize, Serialize};
use url::Url;

use super::Shell;
use super::errors::CliError;
use super::exec::{ScanStats, thousands};
use super::lease::{Lease, alive};
use super::script::{self, Piece};
use super::stores::{
    self, Location, PutError, copy_object, delete, delete_prefix, ignore_missing, os_error,
    put_json,
};
use datafusion_customerio::clock::Clock;

/// The variables a script may use.
pub const VARIABLES: [&str; 2] = ["run_date", "run_ts"];

/// The file name of the commit marker.
pub const MANIFEST: &str = "_MANIFEST.json";

/// A script to run once per date.
#[derive(Debug, Clone)]
pub struct IngestJob {
    /// The job's name: the state folder is `<state root>/<name>/`.
    pub name: String,
    /// Where the script came from, for messages.
    pub source: String,
    /// The script, with `${run_date}` / `${run_ts}`.
    pub template: String,
    /// The state root (`--state`); by default `_cio_sql/` in the folder the outputs share.
    pub state: Option<String>,
    /// How long a lease lasts without renewal; renewed every third of it.
    pub lease: Duration,
}

impl IngestJob {
    /// A job named after the file stem of `source`.
    pub fn new(source: impl Into<String>, template: impl Into<String>) -> Self {
        let source = source.into();
        let name = std::path::Path::new(&source)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("job")
            .to_string();
        IngestJob {
            name,
            source,
            template: template.into(),
            state: None,
            lease: Duration::from_secs(600),
        }
    }
}

/// Where a step of the commit protocol should pretend to die, for tests.
#[derive(Debug, Default)]
pub struct FailPoints {
    at: Option<usize>,
    abort: bool,
    seen: AtomicUsize,
}

impl FailPoints {
    /// Never fails.
    pub fn none() -> Self {
        Self::default()
    }

    /// The run stops at the `k`-th step (1-based) as if killed: no clean-up.
    pub fn error_at(k: usize) -> Self {
        FailPoints {
            at: Some(k),
            abort: false,
            seen: AtomicUsize::new(0),
        }
    }

    /// The process aborts at the `k`-th step (`CIO_SQL_FAIL_AT=k`, for kill tests).
    pub fn abort_at(k: usize) -> Self {
        FailPoints {
            at: Some(k),
            abort: true,
            seen: AtomicUsize::new(0),
        }
    }

    /// Steps passed so far.
    pub fn passed(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }

    fn hit(&self, step: &str) -> Result<(), RunError> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if self.at == Some(n) {
            if self.abort {
                eprintln!("fail point {n} ({step}): aborting");
                std::process::abort();
            }
            return Err(RunError::Killed(format!("{n}: {step}")));
        }
        Ok(())
    }
}

/// What runs need besides the script.
#[derive(Clone)]
pub struct RunEnv {
    /// A fresh session per run (tables of one run do not leak into the next).
    pub new_shell: Arc<dyn Fn() -> Result<Shell, CliError> + Send + Sync>,
    /// "Now", for leases and the log.
    pub clock: Arc<dyn Clock>,
    /// Where log lines go.
    pub log: Arc<dyn Fn(&str) + Send + Sync>,
    /// Test fail points.
    pub faults: Arc<FailPoints>,
}

impl std::fmt::Debug for RunEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunEnv")
            .field("clock", &self.clock)
            .finish()
    }
}

impl RunEnv {
    /// Writes one log line.
    pub fn log(&self, msg: &str) {
        (self.log)(msg);
    }
}

/// Why a run did not commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// Another run holds the date (or committed it while this one ran). Nothing was written.
    Busy(String),
    /// The run failed; nothing was committed.
    Failed(CliError),
    /// A test fail point stopped the run without clean-up.
    Killed(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Busy(m) => f.write_str(m),
            RunError::Failed(e) => write!(f, "{e}"),
            RunError::Killed(step) => write!(f, "killed at fail point {step}"),
        }
    }
}

impl From<CliError> for RunError {
    fn from(e: CliError) -> Self {
        RunError::Failed(e)
    }
}

/// How a run ended well.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// This run committed the date.
    Committed(Manifest),
    /// The date was committed before; nothing was written.
    AlreadyCommitted(Manifest),
}

/// The commit marker: what a committed run wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The job.
    pub job: String,
    /// The run date.
    pub run_date: NaiveDate,
    /// `${run_ts}` of the run.
    pub run_ts: String,
    /// The run that committed.
    pub run_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it committed.
    pub committed_at: DateTime<Utc>,
    /// One entry per `COPY`, in script order.
    pub outputs: Vec<OutputRecord>,
    /// Customer.io requests (retries included).
    pub requests: usize,
    /// Retried requests.
    pub retries: usize,
    /// 429 answers.
    pub rate_limited: usize,
}

/// One `COPY` of a committed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// The target as written (variables substituted).
    pub target: String,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The files, with their sizes.
    pub files: Vec<FileRecord>,
}

/// One committed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Its URL.
    pub url: String,
    /// Its size.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    run_id: String,
    files: Vec<String>,
}

/// Replaces `${run_date}` and `${run_ts}` in `template`; any other `${...}` is an error.
pub fn substitute(template: &str, run_date: NaiveDate, run_ts: &str) -> Result<String, CliError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut offset = 0;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(close) = after.find('}') else {
            let (line, col) = script::line_col(template, offset + i);
            return Err(CliError::msg(format!(
                "line {line}, column {col}: '${{' is never closed; variables are ${{run_date}} and ${{run_ts}}"
            )));
        };
        let name = after[..close].trim();
        match name {
            "run_date" => out.push_str(&run_date.format("%Y-%m-%d").to_string()),
            "run_ts" => out.push_str(run_ts),
            other => {
                let (line, col) = script::line_col(template, offset + i);
                return Err(CliError::msg(format!(
                    "line {line}, column {col}: unknown variable ${{{other}}}; the variables are ${{run_date}} (YYYY-MM-DD) and ${{run_ts}} (YYYYMMDDTHHMMSSZ)"
                )));
            }
        }
        let consumed = i + 2 + close + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `${run_ts}` of an instant: `20261126T140000Z`.
pub fn run_ts(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A parsed script: its steps and the targets of its `COPY` statements.
struct Plan {
    text: String,
    steps: Vec<Step>,
    targets: Vec<String>,
}

enum Step {
    Download(script::Download),
    Sql { statement: DFStatement, line: usize },
}

fn plan(text: &str, source: &str) -> Result<Plan, CliError> {
    let pieces = script::split(text)
        .map_err(|e| CliError::msg(format!("{source}: {}", e.describe(text))))?;
    let mut steps = Vec::new();
    let mut targets = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Download(d) => steps.push(Step::Download(d)),
            Piece::Sql { start, end, .. } => {
                let (line, _) = script::line_col(text, start);
                let statements = super::parse_sql(text, start, end)
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
fn date_dir(
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

/// The manifest of `job` for `date`, if that date is committed.
pub async fn committed(
    job: &IngestJob,
    env: &RunEnv,
    date: NaiveDate,
) -> Result<Option<Manifest>, CliError> {
    let ts = run_ts(env.clock.now());
    let text = substitute(&job.template, date, &ts)?;
    let plan = plan(&text, &job.source)?;
    let shell = (env.new_shell)()?;
    let dir = date_dir(job, &shell, &plan, date, &ts)?;
    read_manifest(&dir).await
}

async fn read_manifest(dir: &Location) -> Result<Option<Manifest>, CliError> {
    let m = dir.join(MANIFEST)?;
    match m.store.get(&m.path).await {
        Ok(r) => {
            let bytes = r.bytes().await.map_err(|e| os_error("read", &m, e))?;
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CliError::msg(format!("{}: not a manifest: {e}", m.display())))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(os_error("read", &m, e)),
    }
}

/// Runs `job` for `date` (its `${run_ts}` is `ts`), committing all or nothing.
pub async fn run(
    job: &IngestJob,
    env: &RunEnv,
    date: NaiveDate,
    ts: DateTime<Utc>,
) -> Result<RunOutcome, RunError> {
    let started_at = env.clock.now();
    let started = Instant::now();
    let run_id = new_run_id();
    let ts = run_ts(ts);
    let text = substitute(&job.template, date, &ts)?;
    let plan = plan(&text, &job.source)?;
    let shell = (env.new_shell)()?;
    let dir = date_dir(job, &shell, &plan, date, &ts)?;
    env.log(&format!(
        "run {date} of {} started (run {run_id}, state {})",
        job.name,
        dir.display()
    ));
    if let Some(m) = read_manifest(&dir).await? {
        env.log(&format!(
            "run {date} of {} is already committed (run {} at {}): nothing written",
            job.name,
            m.run_id,
            m.committed_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
        if let Err(e) = tidy(&dir, env).await {
            env.log(&format!(
                "could not remove the leftovers of an earlier run: {e}"
            ));
        }
        return Ok(RunOutcome::AlreadyCommitted(m));
    }
    let lease = Lease::acquire(&dir, &run_id, env, job).await?;
    env.faults.hit("lease taken")?;
    let mut run = Run {
        job,
        env,
        dir: &dir,
        run_id: &run_id,
        shell: &shell,
        lease: &lease,
        published: false,
    };
    let result = tokio::select! {
        r = run.commit(&plan, date, &ts, started_at, started) => r,
        e = lease.keep(env, job.lease) => Err(e),
    };
    match result {
        Ok(outcome) => Ok(outcome),
        Err(RunError::Killed(step)) => Err(RunError::Killed(step)),
        Err(e) => {
            // Best effort: remove this run's staging and lease; keep its intent when files
            // were already published, so the next run removes them.
            let cleanup = run.abandon().await;
            if let Err(c) = cleanup {
                env.log(&format!("clean-up after the failure incomplete: {c}"));
            }
            env.log(&format!("run {date} of {} failed: {e}", job.name));
            Err(e)
        }
    }
}

struct Run<'a> {
    job: &'a IngestJob,
    env: &'a RunEnv,
    dir: &'a Location,
    run_id: &'a str,
    shell: &'a Shell,
    lease: &'a Lease,
    published: bool,
}

struct Staged {
    target: String,
    rows: u64,
    stats: ScanStats,
    files: Vec<(Location, Location, u64)>,
}

impl Run<'_> {
    fn staging(&self) -> Result<Location, CliError> {
        self.dir.join(&format!("staging/{}/", self.run_id))
    }

    async fn commit(
        &mut self,
        plan: &Plan,
        date: NaiveDate,
        ts: &str,
        started_at: DateTime<Utc>,
        started: Instant,
    ) -> Result<RunOutcome, RunError> {
        let env = self.env;
        // Another run may have committed between the first check and the lease.
        if let Some(m) = read_manifest(self.dir).await? {
            self.lease.release(env).await?;
            env.log(&format!(
                "run {date} of {} was committed by run {} meanwhile: nothing written",
                self.job.name, m.run_id
            ));
            return Ok(RunOutcome::AlreadyCommitted(m));
        }
        let staged = self.execute(plan).await?;
        let finals: Vec<String> = staged
            .iter()
            .flat_map(|s| s.files.iter().map(|(_, f, _)| f.url.to_string()))
            .collect();
        let intent = Intent {
            run_id: self.run_id.to_string(),
            files: finals.clone(),
        };
        let intent_loc = self.dir.join(&format!("intent-{}.json", self.run_id))?;
        put_json(&intent_loc, &intent, PutMode::Overwrite).await?;
        env.faults.hit("intent written")?;
        self.clean_previous(&finals).await?;
        env.faults.hit("previous runs cleaned")?;
        if let Some(m) = read_manifest(self.dir).await? {
            return Err(RunError::Busy(format!(
                "run {date} of {} was committed by run {} while this one ran; this run's files \
                 were not published",
                self.job.name, m.run_id
            )));
        }
        self.published = true;
        for s in &staged {
            for (from, to, _) in &s.files {
                copy_object(from, to).await?;
                env.faults.hit(&format!("published {}", to.display()))?;
            }
        }
        let mut requests = ScanStats::default();
        for s in &staged {
            requests.add(&s.stats);
        }
        let manifest = Manifest {
            job: self.job.name.clone(),
            run_date: date,
            run_ts: ts.to_string(),
            run_id: self.run_id.to_string(),
            started_at,
            committed_at: env.clock.now(),
            outputs: staged
                .iter()
                .map(|s| OutputRecord {
                    target: redact_target(&s.target),
                    rows: s.rows,
                    bytes: s.files.iter().map(|f| f.2).sum(),
                    files: s
                        .files
                        .iter()
                        .map(|(_, to, bytes)| FileRecord {
                            url: to.display(),
                            bytes: *bytes,
                        })
                        .collect(),
                })
                .collect(),
            requests: requests.requests,
            retries: requests.retries,
            rate_limited: requests.rate_limited,
        };
        self.lease.check(env).await?;
        let marker = self.dir.join(MANIFEST)?;
        match put_json(&marker, &manifest, PutMode::Create).await {
            Ok(()) => {}
            Err(PutError::Exists) => {
                return Err(RunError::Busy(format!(
                    "run {date} of {} was committed by another run while this one ran; this \
                     run's files were not committed",
                    self.job.name
                )));
            }
            Err(PutError::Other(e)) => return Err(e.into()),
        }
        env.faults.hit("committed")?;
        for (i, o) in manifest.outputs.iter().enumerate() {
            env.log(&format!(
                "output {}: {}: {} rows, {} bytes in {} file{}",
                i + 1,
                o.target,
                thousands(o.rows as usize),
                thousands(o.bytes as usize),
                o.files.len(),
                super::exec::plural(o.files.len())
            ));
        }
        // Clean-up: the date is committed, failures here only leave garbage behind.
        if let Err(e) = self.finish().await {
            env.log(&format!("clean-up incomplete (the run is committed): {e}"));
        }
        env.faults.hit("cleaned up")?;
        env.log(&format!(
            "run {date} of {} committed in {:.1}s: {} requests, {} retried, {} rate-limited; manifest {}",
            self.job.name,
            started.elapsed().as_secs_f64(),
            thousands(manifest.requests),
            thousands(manifest.retries),
            thousands(manifest.rate_limited),
            marker.display()
        ));
        Ok(RunOutcome::Committed(manifest))
    }

    /// Runs the script, each `COPY` writing to staging. Returns the staged outputs.
    async fn execute(&self, plan: &Plan) -> Result<Vec<Staged>, RunError> {
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

    /// Removes what dead runs of this date left: their staging, and their published files
    /// that this run will not overwrite.
    async fn clean_previous(&self, finals: &[String]) -> Result<(), RunError> {
        let keep: BTreeSet<&str> = finals.iter().map(String::as_str).collect();
        let listing = self
            .dir
            .store
            .list_with_delimiter(Some(&self.dir.path))
            .await
            .map_err(|e| os_error("list", self.dir, e))?;
        for o in &listing.objects {
            let name = o.location.filename().unwrap_or_default();
            let Some(id) = name
                .strip_prefix("intent-")
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if id == self.run_id {
                continue;
            }
            let loc = self.dir.join(name)?;
            let bytes = match loc.store.get(&loc.path).await {
                Ok(r) => r.bytes().await.map_err(|e| os_error("read", &loc, e))?,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(os_error("read", &loc, e).into()),
            };
            if let Ok(intent) = serde_json::from_slice::<Intent>(&bytes) {
                for f in intent.files.iter().filter(|f| !keep.contains(f.as_str())) {
                    let target = stores::location(&self.shell.ctx, f)?;
                    delete(&target).await?;
                    self.env.log(&format!(
                        "removed {} left by the dead run {id}",
                        target.display()
                    ));
                }
            }
            delete(&loc).await?;
        }
        let staging_root = self.dir.join("staging/")?;
        let mine = self.staging()?;
        let old: Vec<_> = staging_root
            .store
            .list(Some(&staging_root.path))
            .try_collect()
            .await
            .map_err(|e| os_error("list", &staging_root, e))?;
        for o in old {
            if !o.location.as_ref().starts_with(mine.path.as_ref()) {
                staging_root
                    .store
                    .delete(&o.location)
                    .await
                    .or_else(ignore_missing)
                    .map_err(|e| os_error("delete", &staging_root, e))?;
            }
        }
        Ok(())
    }

    /// After the commit: staging, intent and lease go.
    async fn finish(&self) -> Result<(), CliError> {
        delete_prefix(&self.staging()?).await?;
        delete(&self.dir.join(&format!("intent-{}.json", self.run_id))?).await?;
        self.lease.release(self.env).await
    }

    /// After a failure: staging and lease go; the intent stays if files were published.
    async fn abandon(&self) -> Result<(), CliError> {
        delete_prefix(&self.staging()?).await?;
        if !self.published {
            delete(&self.dir.join(&format!("intent-{}.json", self.run_id))?).await?;
        }
        self.lease.release(self.env).await
    }
}

/// On a committed date, removes what a run that died after its commit left (staging files, its
/// intent, its lease), unless a live run holds the lease.
async fn tidy(dir: &Location, env: &RunEnv) -> Result<(), CliError> {
    let (_, holder) = Lease::latest(dir).await?;
    if holder.is_some_and(|h| alive(&h, env.clock.now()).is_some()) {
        return Ok(());
    }
    let staging = dir.join("staging/")?;
    let mut removed = 0;
    let objects: Vec<_> = staging
        .store
        .list(Some(&staging.path))
        .try_collect()
        .await
        .map_err(|e| os_error("list", &staging, e))?;
    let listing = dir
        .store
        .list_with_delimiter(Some(&dir.path))
        .await
        .map_err(|e| os_error("list", dir, e))?;
    let leftovers = listing.objects.into_iter().filter(|o| {
        o.location
            .filename()
            .is_some_and(|n| n.starts_with("intent-") || n.starts_with("lock-"))
    });
    for o in objects.into_iter().chain(leftovers) {
        dir.store
            .delete(&o.location)
            .await
            .or_else(ignore_missing)
            .map_err(|e| os_error("delete", dir, e))?;
        removed += 1;
    }
    if removed > 0 {
        env.log(&format!(
            "removed {removed} leftover file{} of an earlier run",
            super::exec::plural(removed)
        ));
    }
    Ok(())
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

fn join_dir(dir: &Location, rel: &str) -> Result<Location, CliError> {
    let mut d = dir.clone();
    if !d.url.path().ends_with('/') {
        let s = format!("{}/", d.url.as_str());
        d.url = Url::parse(&s).map_err(|e| CliError::msg(format!("{s}: {e}")))?;
    }
    d.join(rel)
}

fn redact_target(t: &str) -> String {
    match stores::parse_url(t) {
        Ok(u) => stores::redact(&u),
        Err(_) => t.to_string(),
    }
}

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

impl From<PutError> for RunError {
    fn from(e: PutError) -> Self {
        match e {
            PutError::Exists => RunError::Failed(CliError::msg("the object exists already")),
            PutError::Other(e) => RunError::Failed(e),
        }
    }
}

fn new_run_id() -> String {
    let r: u64 = rand::random();
    format!("{}-{r:016x}", Utc::now().format("%Y%m%dT%H%M%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(
            substitute("a/${run_date}/${ run_ts }.parquet", d, "20260308T140000Z").unwrap(),
            "a/2026-03-08/20260308T140000Z.parquet"
        );
        let e = substitute("x\n  ${day}", d, "t").unwrap_err().to_string();
        assert!(
            e.contains("line 2, column 3") && e.contains("${day}"),
            "{e}"
        );
        assert!(substitute("${run_date", d, "t").is_err());
    }

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

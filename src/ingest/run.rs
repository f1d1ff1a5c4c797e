//! The commit protocol of one run (steps 1 to 7 of the module documentation).

use std::time::Instant;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use object_store::PutMode;

use super::cleanup::tidy;
use super::job::{run_ts, substitute};
use super::manifest::{FileRecord, Intent, Manifest, OutputRecord, read_manifest};
use super::outputs::redact_target;
use super::plan::{Plan, date_dir, plan};
use super::{IngestJob, MANIFEST, RunEnv, RunError, RunOutcome};
use crate::Shell;
use crate::errors::CliError;
use crate::exec::{ScanStats, thousands};
use crate::lease::Lease;
use crate::stores::{Location, PutError, copy_object, put_json};

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

/// A run in progress: what its steps share.
pub(super) struct Run<'a> {
    pub(super) job: &'a IngestJob,
    pub(super) env: &'a RunEnv,
    pub(super) dir: &'a Location,
    pub(super) run_id: &'a str,
    pub(super) shell: &'a Shell,
    pub(super) lease: &'a Lease,
    pub(super) published: bool,
}

impl Run<'_> {
    /// This run's staging folder.
    pub(super) fn staging(&self) -> Result<Location, CliError> {
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
                crate::exec::plural(o.files.len())
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
}

fn new_run_id() -> String {
    let r: u64 = rand::random();
    format!("{}-{r:016x}", Utc::now().format("%Y%m%dT%H%M%S"))
}

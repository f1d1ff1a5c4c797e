//! The commit protocol of one run (steps 1 to 7 of the module documentation).

use std::time::Instant;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use object_store::PutMode;

use super::cleanup::tidy;
use super::job::{Vars, substitute};
use super::manifest::{FileRecord, Intent, Manifest, OutputRecord, neighbours, read_manifest};
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
    // The state folder comes from the outputs with a provisional window; the window itself
    // from the committed runs in the job's state folder.
    let provisional = Vars::provisional(date, ts);
    let shell = (env.new_shell)()?;
    let dir = {
        let text = substitute(&job.template, &provisional)?;
        date_dir(
            job,
            &shell,
            &plan(&text, &job.source)?,
            date,
            &provisional.run_ts,
        )?
    };
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
    let vars = window(job, &dir, date, ts).await?;
    let text = substitute(&job.template, &vars)?;
    let plan = plan(&text, &job.source)?;
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
        r = run.commit(&plan, &vars, started_at, started) => r,
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
        vars: &Vars,
        started_at: DateTime<Utc>,
        started: Instant,
    ) -> Result<RunOutcome, RunError> {
        let env = self.env;
        let (date, ts) = (vars.run_date, vars.run_ts.as_str());
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
            window_start: Some(vars.window_start),
            window_end: Some(vars.window_end),
        };
        self.lease.check(env).await?;
        // Another date committed while this one ran (runs of different dates hold different
        // leases): the window this run read may now overlap it.
        let now_window = window(self.job, self.dir, date, vars.window_end_at).await?;
        if uses_window(self.job)
            && (now_window.window_start, now_window.window_end)
                != (vars.window_start, vars.window_end)
        {
            return Err(RunError::Busy(format!(
                "run {date} of {} read the window {} to {}, but another date was committed \
                 meanwhile and the window is now {} to {}; this run's files were not committed: \
                 run the date again",
                self.job.name,
                rfc3339(vars.window_start),
                rfc3339(vars.window_end),
                rfc3339(now_window.window_start),
                rfc3339(now_window.window_end)
            )));
        }
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

/// Whether the script reads the run's window (`${last_run_ts}`, `${this_run_ts}`,
/// `${last_run_date}`): only then does the order of committed dates matter.
fn uses_window(job: &IngestJob) -> bool {
    ["last_run_ts", "this_run_ts", "last_run_date"]
        .iter()
        .any(|v| job.template.contains(v))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The variables of the run of `date` scheduled at `at`: its window ends `lookback` before
/// `at` and starts where the latest committed run before `date` ended (a manifest without a
/// window: its scheduled instant less the lookback), or at `--since` (else the end) for the
/// first run. A script that reads the window cannot run a date before one already committed:
/// the later date's window covers this one's time, and reading it again would double rows.
async fn window(
    job: &IngestJob,
    dir: &Location,
    date: NaiveDate,
    at: DateTime<Utc>,
) -> Result<Vars, CliError> {
    let lookback = chrono::Duration::from_std(job.lookback)
        .map_err(|_| CliError::msg("--lookback is too long"))?;
    let end = at - lookback;
    let (previous, later) = neighbours(dir, date).await?;
    if let Some(later) = later.filter(|_| uses_window(job)) {
        return Err(CliError::msg(format!(
            "the run of {date} cannot read its window: {later}, a later date, is committed and \
             its window already covers this date's time (its rows would be written twice); \
             incremental jobs run their dates in order"
        )));
    }
    let (start, last_date) = match &previous {
        Some(m) => {
            let start = m.window_end.or_else(|| {
                chrono::NaiveDateTime::parse_from_str(&m.run_ts, "%Y%m%dT%H%M%SZ")
                    .ok()
                    .map(|t| t.and_utc() - lookback)
            });
            let start = start.ok_or_else(|| {
                CliError::msg(format!(
                    "the manifest of {} has no window end and no readable run_ts '{}'",
                    m.run_date, m.run_ts
                ))
            })?;
            (start, m.run_date)
        }
        None => {
            let start = job.since.unwrap_or(end).min(end);
            (start, start.date_naive())
        }
    };
    if start > end && !uses_window(job) {
        // Nothing reads the window: it is only recorded.
        return Ok(Vars::new(date, at, end, end, last_date));
    }
    if start > end {
        return Err(CliError::msg(format!(
            "the run of {date} would end its window ({}) before the previous committed run's \
             ended ({}); a lookback of {}s does not fit between them",
            rfc3339(end),
            rfc3339(start),
            job.lookback.as_secs()
        )));
    }
    Ok(Vars::new(date, at, start, end, last_date))
}

fn new_run_id() -> String {
    let r: u64 = rand::random();
    format!("{}-{r:016x}", Utc::now().format("%Y%m%dT%H%M%S"))
}

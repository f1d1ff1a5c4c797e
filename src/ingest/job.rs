//! The job, what a run needs besides the script, how a run ends, and the script's variables.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion_customerio::clock::Clock;

use super::FailPoints;
use super::manifest::Manifest;
use crate::Shell;
use crate::errors::CliError;
use crate::script;
use crate::stores::PutError;

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
    /// How far behind its scheduled time a run's window ends (`--lookback`, default 1 hour):
    /// data that arrives late by up to this much is still read, by the next run.
    pub lookback: Duration,
    /// Where the first run's window starts (`--since`); by default where it ends (the first run
    /// reads nothing before the job existed).
    pub since: Option<DateTime<Utc>>,
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
            lookback: Duration::from_secs(3600),
            since: None,
        }
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

impl From<PutError> for RunError {
    fn from(e: PutError) -> Self {
        match e {
            PutError::Exists => RunError::Failed(CliError::msg("the object exists already")),
            PutError::Other(e) => RunError::Failed(e),
        }
    }
}

/// The values of a script's variables for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// `${run_date}`: the run date.
    pub run_date: NaiveDate,
    /// `${run_ts}`: the scheduled instant, `20261126T140000Z`.
    pub run_ts: String,
    /// Where this run's window starts (inclusive): `${last_run_ts}`.
    pub window_start: DateTime<Utc>,
    /// Where it ends (exclusive): `${this_run_ts}`.
    pub window_end: DateTime<Utc>,
    /// `${last_run_date}`: the run date of the previous committed run (the window start's UTC
    /// date for the first run).
    pub last_run_date: NaiveDate,
    /// The scheduled instant the window was computed from (`${run_ts}` as a time).
    pub window_end_at: DateTime<Utc>,
}

impl Vars {
    /// The variables of the run of `run_date` scheduled at `at`, whose window is
    /// `[window_start, window_end)`.
    pub fn new(
        run_date: NaiveDate,
        at: DateTime<Utc>,
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
        last_run_date: NaiveDate,
    ) -> Self {
        Vars {
            run_date,
            run_ts: run_ts(at),
            window_start,
            window_end,
            last_run_date,
            window_end_at: at,
        }
    }

    /// Variables whose window is empty and ends at `at` (before the window is known).
    pub fn provisional(run_date: NaiveDate, at: DateTime<Utc>) -> Self {
        Vars::new(run_date, at, at, at, at.date_naive())
    }
}

/// The variables a script may use, for messages.
const VARIABLE_HELP: &str = "${run_date} (YYYY-MM-DD), ${run_ts} (YYYYMMDDTHHMMSSZ), \
    ${last_run_ts} and ${this_run_ts} (RFC 3339: the window from the previous committed run to \
    this one) and ${last_run_date} (YYYY-MM-DD)";

/// Replaces the variables in `template`; any other `${...}` is an error.
pub fn substitute(template: &str, vars: &Vars) -> Result<String, CliError> {
    let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut offset = 0;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(close) = after.find('}') else {
            let (line, col) = script::line_col(template, offset + i);
            return Err(CliError::msg(format!(
                "line {line}, column {col}: '${{' is never closed; the variables are {VARIABLE_HELP}"
            )));
        };
        let name = after[..close].trim();
        match name {
            "run_date" => out.push_str(&vars.run_date.format("%Y-%m-%d").to_string()),
            "run_ts" => out.push_str(&vars.run_ts),
            "last_run_ts" => out.push_str(&rfc3339(vars.window_start)),
            "this_run_ts" => out.push_str(&rfc3339(vars.window_end)),
            "last_run_date" => out.push_str(&vars.last_run_date.format("%Y-%m-%d").to_string()),
            other => {
                let (line, col) = script::line_col(template, offset + i);
                return Err(CliError::msg(format!(
                    "line {line}, column {col}: unknown variable ${{{other}}}; the variables are {VARIABLE_HELP}"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        let at = DateTime::parse_from_rfc3339("2026-03-08T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let start = at - chrono::Duration::hours(25);
        let vars = Vars::new(
            d,
            at,
            start,
            at - chrono::Duration::hours(1),
            start.date_naive(),
        );
        assert_eq!(
            substitute("a/${run_date}/${ run_ts }.parquet", &vars).unwrap(),
            "a/2026-03-08/20260308T140000Z.parquet"
        );
        assert_eq!(
            substitute("${last_run_ts} ${this_run_ts} ${last_run_date}", &vars).unwrap(),
            "2026-03-07T13:00:00Z 2026-03-08T13:00:00Z 2026-03-07"
        );
        let e = substitute("x\n  ${day}", &vars).unwrap_err().to_string();
        assert!(
            e.contains("line 2, column 3") && e.contains("${day}") && e.contains("${last_run_ts}"),
            "{e}"
        );
        assert!(substitute("${run_date", &vars).is_err());
    }
}

//! The commit marker (`_MANIFEST.json`) and the intent (`intent-<run id>.json`), and reading a
//! date's manifest.

use chrono::{DateTime, NaiveDate, Utc};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::job::{Vars, substitute};
use super::plan::{date_dir, plan};
use super::{IngestJob, MANIFEST, RunEnv};
use crate::errors::CliError;
use crate::stores::{Location, os_error};

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
    /// Where the run's window started (`${last_run_ts}`); absent in manifests of older versions.
    #[serde(default)]
    pub window_start: Option<DateTime<Utc>>,
    /// Where it ended (`${this_run_ts}`): the next run's window starts here.
    #[serde(default)]
    pub window_end: Option<DateTime<Utc>>,
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

/// The files a run is about to publish, written before it publishes them, so that the next
/// run can remove them if this one dies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Intent {
    pub(super) run_id: String,
    pub(super) files: Vec<String>,
}

/// The manifest of `job` for `date`, if that date is committed.
pub async fn committed(
    job: &IngestJob,
    env: &RunEnv,
    date: NaiveDate,
) -> Result<Option<Manifest>, CliError> {
    let vars = Vars::provisional(date, env.clock.now());
    let text = substitute(&job.template, &vars)?;
    let plan = plan(&text, &job.source)?;
    let shell = (env.new_shell)()?;
    let dir = date_dir(job, &shell, &plan, date, &vars.run_ts)?;
    read_manifest(&dir).await
}

/// The committed dates around `date` in the job folder that holds the date folder `dir`: the
/// manifest of the latest one before `date`, and the earliest one after it.
pub(super) async fn neighbours(
    dir: &Location,
    date: NaiveDate,
) -> Result<(Option<Manifest>, Option<NaiveDate>), CliError> {
    let parts: Vec<_> = dir.path.parts().collect();
    let Some((_, parent)) = parts.split_last() else {
        return Ok((None, None));
    };
    let job_dir = object_store::path::Path::from_iter(parent.iter().cloned());
    let listing = dir
        .store
        .list_with_delimiter(Some(&job_dir))
        .await
        .map_err(|e| os_error("list", dir, e))?;
    let mut dates: Vec<NaiveDate> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename())
        .filter_map(|name| NaiveDate::parse_from_str(name, "%Y-%m-%d").ok())
        .filter(|d| *d != date)
        .collect();
    dates.sort_unstable();
    let base = dir.url.as_str().trim_end_matches('/');
    let parent_url = &base[..base.rfind('/').unwrap_or(0)];
    let folder = |d: NaiveDate| -> Result<Location, CliError> {
        let url = url::Url::parse(&format!("{parent_url}/{}/", d.format("%Y-%m-%d")))
            .map_err(|e| CliError::msg(format!("{parent_url}: {e}")))?;
        Ok(Location {
            path: crate::stores::path_of(&url)?,
            url,
            store: dir.store.clone(),
        })
    };
    let mut previous = None;
    for d in dates.iter().rev().filter(|d| **d < date) {
        if let Some(m) = read_manifest(&folder(*d)?).await? {
            previous = Some(m);
            break;
        }
    }
    let mut later = None;
    for d in dates.iter().filter(|d| **d > date) {
        if read_manifest(&folder(*d)?).await?.is_some() {
            later = Some(*d);
            break;
        }
    }
    Ok((previous, later))
}

pub(super) async fn read_manifest(dir: &Location) -> Result<Option<Manifest>, CliError> {
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

//! One run of an ingestion script for one run date, committed all or nothing.
//!
//! The script (SQL and `download` statements) writes its outputs with
//! `COPY (...) TO '<url>' STORED AS PARQUET`, where the URL may use `${run_date}` and
//! `${run_ts}`.
//!
//! # Incremental windows
//! Each run of date `D` has a window `[${last_run_ts}, ${this_run_ts})`: it ends at `D`'s
//! scheduled instant minus the job's lookback (`--lookback`, default 1 hour) and starts where
//! the previous committed run's window ended (the manifest of the latest committed date before
//! `D` records it). The first run's window starts at `--since`, or is empty. A script that reads
//! `WHERE created >= TIMESTAMP '${last_run_ts}' AND created < TIMESTAMP '${this_run_ts}'`
//! therefore reads each row once across consecutive runs, and a rerun of a date (after a
//! failure) gets the same window as its first try: the window depends on the committed dates
//! before it, never on when the run happens.
//!
//! # The commit protocol
//! For a run date `D`, in the state folder `<state>/<D>/`:
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
//!
//! - `job`: the job, what a run needs ([`RunEnv`]), how it ends, the script's variables;
//! - `plan`: the script parsed into steps, and where the state folder of a date is;
//! - `manifest`: the commit marker and the intent, and reading a date's manifest;
//! - `run`: the protocol, steps 1 to 7;
//! - `outputs`: running the script with each `COPY` staged, and the names of the final files;
//! - `cleanup`: removing what this run or dead runs left;
//! - `faults`: fail points, for the tests of the protocol.

mod cleanup;
mod faults;
mod job;
mod manifest;
mod outputs;
mod plan;
mod run;

pub use faults::FailPoints;
pub use job::{IngestJob, RunEnv, RunError, RunOutcome, Vars, run_ts, substitute};
pub use manifest::{FileRecord, Manifest, OutputRecord, committed};
pub use run::run;

/// The variables a script may use.
pub const VARIABLES: [&str; 5] = [
    "run_date",
    "run_ts",
    "last_run_ts",
    "this_run_ts",
    "last_run_date",
];

/// The file name of the commit marker.
pub const MANIFEST: &str = "_MANIFEST.json";

//! Daily ingestion: the scheduler with an injected clock (a day in milliseconds, across a
//! daylight-saving change), the all-or-nothing commit under kills at every step, reruns and
//! concurrent runs; in-process against memory:// and, through the binary, local folders.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use cio_sql::exec::Interrupt;
use cio_sql::ingest::{self, FailPoints, IngestJob, MANIFEST, Manifest, RunError, RunOutcome};
use cio_sql::schedule::{self, FastForward, SchedulerOptions};
use cio_sql::stores::{self, memory_store};
use customerio_sim::{Region, WorkspaceSpec};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use datafusion_customerio::clock::Clock;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::cli_support::*;
use crate::common::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A script with four outputs: a single file, a folder, a partitioned folder and a file per
/// date in a shared folder. 12 campaigns and 8 newsletters, 3 weekly buckets each.
fn script(host: &str, key: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns'
           OPTIONS (key '{key}', period 'weeks', steps '2', rate_limit '1000');
         // A Switchboard statement in the middle of SQL.
         download n from {{ type: \"customerio:newsletters\"; key: \"{key}\"; period: \"weeks\";
                            steps: 2; rate_limit: 1000; }} using {{newsletter_id, newsletter_name, period_start, sent}};
         COPY (SELECT campaign_id, campaign_name, period_start, sent FROM c ORDER BY campaign_id, period_start)
           TO 'memory://{host}/lake/campaigns/date=${{run_date}}/campaigns.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM n) TO 'memory://{host}/lake/newsletters/date=${{run_date}}/' STORED AS PARQUET;
         COPY (SELECT campaign_id % 8 AS bucket, campaign_id, sent FROM c)
           TO 'memory://{host}/lake/buckets/date=${{run_date}}/' STORED AS PARQUET PARTITIONED BY (bucket);
         COPY (SELECT workspace, COUNT(*) AS n, SUM(sent) AS sent FROM c GROUP BY workspace)
           TO 'memory://{host}/lake/summary/${{run_date}}.parquet' STORED AS PARQUET;
        "
    )
}

/// Rows each output must hold.
const EXPECTED_ROWS: [u64; 4] = [36, 24, 36, 1];

async fn setup(test: &str) -> (Env, WorkspaceSpec) {
    let ws = workspace(test, "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    (env, ws)
}

fn job(host: &str, key: &str) -> IngestJob {
    let mut job = IngestJob::new("daily.sql", script(host, key));
    job.lease = Duration::from_secs(60);
    job
}

async fn list(host: &str, prefix: &str) -> Vec<(String, u64)> {
    let store = memory_store(host);
    let p = Path::from(prefix);
    let mut v: Vec<(String, u64)> = store
        .list(Some(&p))
        .map_ok(|m| (m.location.to_string(), m.size))
        .try_collect()
        .await
        .unwrap();
    v.sort();
    v
}

pub(crate) fn state_dir(d: NaiveDate) -> String {
    format!("lake/_cio_sql/daily/{}", d.format("%Y-%m-%d"))
}

pub(crate) async fn manifest(host: &str, d: NaiveDate) -> Option<Manifest> {
    let store = memory_store(host);
    let p = Path::from(format!("{}/{MANIFEST}", state_dir(d)));
    match object_store::ObjectStoreExt::get(store.as_ref(), &p).await {
        Ok(r) => Some(serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()),
        Err(_) => None,
    }
}

/// A committed date is whole: every file the manifest lists exists with its size, the folder
/// outputs hold nothing else (no duplicate, no leftover), and the files hold the rows.
async fn assert_whole(host: &str, d: NaiveDate, m: &Manifest) {
    assert_eq!(m.run_date, d);
    assert_eq!(m.outputs.len(), 4);
    let ctx = SessionContext::new();
    for (i, o) in m.outputs.iter().enumerate() {
        assert_eq!(o.rows, EXPECTED_ROWS[i], "output {i}: {o:?}");
        let mut rows = 0;
        for f in &o.files {
            let loc = stores::location(&ctx, &f.url).unwrap();
            let meta = object_store::ObjectStoreExt::head(loc.store.as_ref(), &loc.path)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", f.url));
            assert_eq!(meta.size, f.bytes, "{}", f.url);
            rows += ctx
                .read_parquet(f.url.as_str(), ParquetReadOptions::default())
                .await
                .unwrap()
                .count()
                .await
                .unwrap() as u64;
        }
        assert_eq!(rows, o.rows, "rows in the files of output {i}");
        if o.target.ends_with('/') {
            let prefix = stores::path_of(&url::Url::parse(&o.target).unwrap()).unwrap();
            let present: BTreeSet<String> = list(host, prefix.as_ref())
                .await
                .into_iter()
                .map(|(p, _)| format!("memory://{host}/{p}"))
                .collect();
            let listed: BTreeSet<String> = o.files.iter().map(|f| f.url.clone()).collect();
            assert_eq!(
                present, listed,
                "folder {} holds exactly the manifest's files",
                o.target
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_passes_in_milliseconds_across_the_dst_change() {
    let (env, ws) = setup("sched_days").await;
    let host = "sched-days";
    env.clock.set(utc("2026-03-06T20:00:00Z")); // noon in Los Angeles
    let log = Log::default();
    let run_env = run_env(&env, &log, FailPoints::none());
    let options = SchedulerOptions {
        catch_up: false,
        max_runs: Some(3),
        ..SchedulerOptions::default()
    };
    let waiter = FastForward {
        clock: env.clock.clone(),
    };
    let started = std::time::Instant::now();
    let report = schedule::run_daily(&job(host, &ws.name), &run_env, &options, &waiter, None)
        .await
        .unwrap();
    assert_eq!(
        report.committed,
        vec![date("2026-03-07"), date("2026-03-08"), date("2026-03-09")],
        "{}",
        log_text(&log)
    );
    // 06:00 PST, then 06:00 PDT after the clocks moved on 2026-03-08.
    let ts: Vec<String> =
        futures::future::join_all(report.committed.iter().map(|d| manifest(host, *d)))
            .await
            .into_iter()
            .map(|m| m.unwrap().run_ts)
            .collect();
    assert_eq!(
        ts,
        ["20260307T140000Z", "20260308T130000Z", "20260309T130000Z"]
    );
    for d in &report.committed {
        assert_whole(host, *d, &manifest(host, *d).await.unwrap()).await;
    }
    let text = log_text(&log);
    for want in [
        "next run: 2026-03-08 at 2026-03-08 06:00 PDT (2026-03-08T13:00:00Z)",
        "next scheduled run: 2026-03-10 at 2026-03-10 06:00 PDT (2026-03-10T13:00:00Z)",
        "output 1: memory://sched-days/lake/campaigns/date=2026-03-07/campaigns.parquet: 36 rows",
        "requests, 0 retried",
    ] {
        assert!(text.contains(want), "log lacks {want:?}:\n{text}");
    }
    // Three days, with no sleeping.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_then_rerun_writes_nothing() {
    let (env, ws) = setup("sched_catchup").await;
    let host = "sched-catchup";
    env.clock.set(utc("2026-11-26T15:00:00Z")); // 07:00 in Los Angeles: today's run is due
    let log = Log::default();
    let run_env = run_env(&env, &log, FailPoints::none());
    let job = job(host, &ws.name);
    let options = SchedulerOptions {
        max_runs: Some(1),
        ..SchedulerOptions::default()
    };
    let waiter = FastForward {
        clock: env.clock.clone(),
    };
    let report = schedule::run_daily(&job, &run_env, &options, &waiter, None)
        .await
        .unwrap();
    assert_eq!(
        report.committed,
        vec![date("2026-11-26")],
        "{}",
        log_text(&log)
    );
    assert!(log_text(&log).contains("catching up: the run of 2026-11-26"));

    let before = list(host, "lake").await;
    let again = ingest::run(&job, &run_env, date("2026-11-26"), env.clock.now())
        .await
        .unwrap();
    assert!(matches!(again, RunOutcome::AlreadyCommitted(_)));
    assert_eq!(list(host, "lake").await, before, "a rerun writes nothing");
    assert!(log_text(&log).contains("is already committed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_runs_are_retried_then_the_next_day_comes() {
    let (env, _ws) = setup("sched_retry").await;
    env.clock.set(utc("2026-11-26T20:00:00Z"));
    let log = Log::default();
    let run_env = run_env(&env, &log, FailPoints::none());
    // A credential that does not exist: every run fails at its first statement.
    let job = job("sched-retry", "nobody_has_this");
    let options = SchedulerOptions {
        catch_up: false,
        retries: 2,
        max_runs: Some(4),
        ..SchedulerOptions::default()
    };
    let waiter = FastForward {
        clock: env.clock.clone(),
    };
    let report = schedule::run_daily(&job, &run_env, &options, &waiter, None)
        .await
        .unwrap();
    let dates: Vec<NaiveDate> = report.failed.iter().map(|(d, _)| *d).collect();
    assert_eq!(
        dates,
        [
            date("2026-11-27"),
            date("2026-11-27"),
            date("2026-11-27"),
            date("2026-11-28")
        ],
        "{}",
        log_text(&log)
    );
    assert!(
        report.failed[0]
            .1
            .contains("credential 'nobody_has_this' not found")
    );
    let text = log_text(&log);
    assert!(
        text.contains("will try the run of 2026-11-27 again at 2026-11-27 06:30 PST"),
        "{text}"
    );
    assert!(text.contains("(try 3 of 3)"), "{text}");
    assert!(manifest("sched-retry", date("2026-11-27")).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_the_scheduler() {
    let (env, ws) = setup("sched_stop").await;
    let log = Log::default();
    let run_env = run_env(&env, &log, FailPoints::none());
    let interrupt = Interrupt::manual();
    let options = SchedulerOptions {
        catch_up: false,
        ..SchedulerOptions::default()
    };
    // The real waiter: the fixed clock never reaches 06:00, so only the interrupt ends it.
    let waiter = schedule::SystemWaiter {
        clock: env.clock.clone(),
    };
    let job = job("sched-stop", &ws.name);
    let stopper = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.trigger();
    });
    let report = tokio::time::timeout(
        Duration::from_secs(20),
        schedule::run_daily(&job, &run_env, &options, &waiter, Some(&interrupt)),
    )
    .await
    .expect("stops")
    .unwrap();
    assert!(report.interrupted);
    assert!(report.committed.is_empty());
    assert!(log_text(&log).contains("scheduler stopped"));
}

/// Kills the run at every step of the protocol in turn; after each kill nothing partial is
/// committed, and the next run (once the dead run's lease ran out) commits the date whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_step_nothing_partial_nothing_doubled() {
    let (env, ws) = setup("sched_kill").await;
    let host = "sched-kill";
    let job = job(host, &ws.name);
    let log = Log::default();

    // A clean run counts the steps.
    let d0 = date("2026-01-01");
    let reference = run_env(&env, &log, FailPoints::none());
    let m = match ingest::run(&job, &reference, d0, env.clock.now()).await {
        Ok(RunOutcome::Committed(m)) => m,
        other => panic!("{other:?}\n{}", log_text(&log)),
    };
    assert_whole(host, d0, &m).await;
    let steps = reference.faults.passed();
    eprintln!("{steps} kill points");
    assert!(steps >= 20, "only {steps} kill points");
    assert_eq!(
        list(host, &state_dir(d0)).await.len(),
        1,
        "after a commit only the manifest stays"
    );

    for k in 1..=steps {
        let d = d0 + chrono::Duration::days(k as i64);
        let killed = run_env(&env, &log, FailPoints::error_at(k));
        match ingest::run(&job, &killed, d, env.clock.now()).await {
            Err(RunError::Killed(_)) => {}
            other => panic!("step {k}: {other:?}"),
        }
        // Killed: either nothing is committed, or (killed after the commit) all of it is.
        if let Some(m) = manifest(host, d).await {
            assert!(k >= steps - 1, "step {k} of {steps} committed early");
            assert_whole(host, d, &m).await;
        }
        // A second run while the dead run's lease lasts is refused and writes nothing.
        let before = list(host, "lake").await;
        let early = ingest::run(
            &job,
            &run_env(&env, &log, FailPoints::none()),
            d,
            env.clock.now(),
        )
        .await;
        match early {
            Err(RunError::Busy(msg)) => {
                assert!(msg.contains("is held by run"), "{msg}");
                assert_eq!(list(host, "lake").await, before);
            }
            Ok(RunOutcome::AlreadyCommitted(_)) => assert!(k >= steps - 1),
            other => panic!("step {k}: {other:?}"),
        }
        // Once the lease ran out, the next run redoes the date (or finds it committed).
        env.clock.advance(chrono::Duration::seconds(61));
        let redo = run_env(&env, &log, FailPoints::none());
        let m = match ingest::run(&job, &redo, d, env.clock.now()).await {
            Ok(RunOutcome::Committed(m)) | Ok(RunOutcome::AlreadyCommitted(m)) => m,
            other => panic!("step {k}: {other:?}\n{}", log_text(&log)),
        };
        assert_whole(host, d, &m).await;
        {
            // Nothing left of the dead run: only the manifest stays.
            assert_eq!(
                list(host, &state_dir(d)).await.len(),
                1,
                "step {k}: leftovers in {}",
                state_dir(d)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_one_commits() {
    let (env, ws) = setup("sched_race").await;
    let host = "sched-race";
    let job = job(host, &ws.name);
    let log = Log::default();
    let d = date("2026-02-02");
    let a = run_env(&env, &log, FailPoints::none());
    let b = run_env(&env, &log, FailPoints::none());
    let (ra, rb) = tokio::join!(
        ingest::run(&job, &a, d, env.clock.now()),
        ingest::run(&job, &b, d, env.clock.now())
    );
    let results = [ra, rb];
    let committed = results
        .iter()
        .filter(|r| matches!(r, Ok(RunOutcome::Committed(_))))
        .count();
    let busy: Vec<&String> = results
        .iter()
        .filter_map(|r| match r {
            Err(RunError::Busy(m)) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(committed, 1, "{results:?}");
    assert_eq!(busy.len(), 1, "{results:?}");
    assert!(
        busy[0].contains("this run stops without writing anything"),
        "{}",
        busy[0]
    );
    assert_whole(host, d, &manifest(host, d).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_are_checked_before_anything_runs() {
    let (env, ws) = setup("sched_check").await;
    let log = Log::default();
    let run_env = run_env(&env, &log, FailPoints::none());
    let d = date("2026-02-02");
    let cases = [
        ("SELECT 1;", "the script writes nothing"),
        (
            "COPY (SELECT 1) TO 'memory://sched-check/${day}/x.parquet' STORED AS PARQUET;",
            "unknown variable ${day}",
        ),
        (
            "INSERT INTO t VALUES (1); COPY (SELECT 1) TO 'memory://sched-check/x.parquet';",
            "INSERT cannot be committed",
        ),
        (
            "download t from { type \"campaigns\"; }",
            "line 1, column 24: expected ':'",
        ),
    ];
    for (text, want) in cases {
        let job = IngestJob::new("check.sql", text);
        let err = ingest::run(&job, &run_env, d, env.clock.now())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
    assert!(list("sched-check", "").await.is_empty());
    let _ = ws;
}

// ---- through the binary -------------------------------------------------------------------

/// A script writing to a local folder (relative paths, as users write them).
fn local_script() -> &'static str {
    "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns'
       OPTIONS (key 'acme', period 'weeks', steps '2', rate_limit '1000');
     COPY (SELECT campaign_id, period_start, sent FROM c) TO 'lake/campaigns/date=${run_date}/c.parquet' STORED AS PARQUET;
     COPY (SELECT campaign_id % 4 AS b, campaign_id, sent FROM c) TO 'lake/parts/date=${run_date}/' STORED AS PARQUET PARTITIONED BY (b);
    "
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains('#') {
                // The local store's in-flight temporary files (`name#N`), which no listing shows.
                continue;
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The local manifest of `date`, checked whole against the files on disk.
fn check_local(dir: &std::path::Path, date: &str) -> Option<Manifest> {
    let path = dir.join(format!("lake/_cio_sql/daily/{date}/{MANIFEST}"));
    let m: Manifest = serde_json::from_slice(&std::fs::read(path).ok()?).unwrap();
    let mut listed = BTreeSet::new();
    for o in &m.outputs {
        for f in &o.files {
            let p = url::Url::parse(&f.url).unwrap().to_file_path().unwrap();
            assert_eq!(std::fs::metadata(&p).unwrap().len(), f.bytes, "{}", f.url);
            listed.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
        }
    }
    let present: BTreeSet<String> = files_under(dir)
        .into_iter()
        .filter(|f| f.contains(&format!("date={date}/")))
        .collect();
    assert_eq!(
        present, listed,
        "outputs of {date} hold exactly the manifest's files"
    );
    assert_eq!(m.outputs[0].rows, 36);
    assert_eq!(m.outputs[1].rows, 36);
    Some(m)
}

fn schedule_cmd(
    dir: &std::path::Path,
    creds: &std::path::Path,
    date: &str,
) -> std::process::Command {
    let mut c = cio_sql(dir);
    c.args(["--credentials"]).arg(creds).args([
        "schedule",
        "--file",
        "daily.sql",
        "--once",
        "--date",
        date,
        "--lease",
        "60",
    ]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_through_the_binary_then_already_committed() {
    let (env, ws) = setup("sched_bin").await;
    let dir = scratch("sched-bin");
    let creds = credentials_file(&dir, &env, &[("acme", &ws)]);
    std::fs::write(dir.join("daily.sql"), local_script()).unwrap();
    let out = tokio::task::spawn_blocking({
        let (dir, creds) = (dir.clone(), creds.clone());
        move || {
            wait_output(
                schedule_cmd(&dir, &creds, "2026-11-26")
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap(),
                Duration::from_secs(60),
            )
        }
    })
    .await
    .unwrap();
    let (_, err) = texts(&out);
    assert!(out.status.success(), "{err}");
    for want in [
        "run 2026-11-26 of daily started",
        "output 1: file://",
        "c.parquet: 36 rows",
        "output 2: file://",
        "committed in",
        "requests, 0 retried",
    ] {
        assert!(err.contains(want), "log lacks {want:?}:\n{err}");
    }
    assert!(!err.contains(&ws.api_key), "the key never appears in logs");
    check_local(&dir, "2026-11-26").expect("committed");
    let before = files_under(&dir);

    let out = tokio::task::spawn_blocking({
        let (dir, creds) = (dir.clone(), creds.clone());
        move || {
            wait_output(
                schedule_cmd(&dir, &creds, "2026-11-26")
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap(),
                Duration::from_secs(60),
            )
        }
    })
    .await
    .unwrap();
    let (_, err) = texts(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("is already committed"), "{err}");
    assert_eq!(files_under(&dir), before, "the rerun wrote nothing");
}

/// The process aborts at a step of the commit (`CIO_SQL_FAIL_AT`), or is killed with SIGKILL
/// after a random delay; the next run takes over at once (the dead process is gone) and
/// commits the date whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_processes_leave_nothing_partial() {
    let (env, ws) = setup("sched_procs").await;
    let dir = scratch("sched-procs");
    let creds = credentials_file(&dir, &env, &[("acme", &ws)]);
    std::fs::write(dir.join("daily.sql"), local_script()).unwrap();
    let mut seed: u64 = 0x5eed_1234;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut plans: Vec<(String, Option<u64>, Option<u64>)> = Vec::new();
    // Aborts at each step of the protocol (a clean run of this script has 12 of them).
    for k in 1..=12u64 {
        plans.push((format!("2026-04-{k:02}"), Some(k), None));
    }
    // SIGKILL after a random delay: anywhere, in the queries or in the commit.
    for i in 0..8u64 {
        plans.push((
            format!("2026-05-{:02}", i + 1),
            None,
            Some(20 + random(400)),
        ));
    }
    for (date, fail_at, kill_after) in plans {
        let dir2 = dir.clone();
        let creds2 = creds.clone();
        let d = date.clone();
        let status = tokio::task::spawn_blocking(move || {
            let mut c = schedule_cmd(&dir2, &creds2, &d);
            if let Some(k) = fail_at {
                c.env("CIO_SQL_FAIL_AT", k.to_string());
            }
            let mut child = c.stderr(std::process::Stdio::null()).spawn().unwrap();
            if let Some(ms) = kill_after {
                std::thread::sleep(Duration::from_millis(ms));
                let _ = child.kill();
            }
            child.wait().unwrap()
        })
        .await
        .unwrap();
        // Whatever happened, a manifest (if any) describes whole outputs.
        let committed_by_killed = check_local(&dir, &date).is_some();
        if fail_at.is_some_and(|k| k < 11) {
            assert!(
                !status.success(),
                "{date}: the abort at step {fail_at:?} failed the run"
            );
            assert!(
                !committed_by_killed,
                "{date}: committed before the commit step"
            );
        }
        // The next run redoes it at once, or finds it committed.
        let dir2 = dir.clone();
        let creds2 = creds.clone();
        let d = date.clone();
        let out = tokio::task::spawn_blocking(move || {
            wait_output(
                schedule_cmd(&dir2, &creds2, &d)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap(),
                Duration::from_secs(60),
            )
        })
        .await
        .unwrap();
        let (_, err) = texts(&out);
        assert!(out.status.success(), "{date}: {err}");
        check_local(&dir, &date).expect("committed by the next run");
        if !committed_by_killed {
            assert!(err.contains("committed in"), "{date}: {err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_for_the_same_date_exits_non_zero() {
    // Slow answers keep the first run inside its lease while the second starts.
    let ws = workspace("sched_two_procs", "sim_us", Region::Us);
    let mut config = fast_config(vec![ws.clone()]);
    config.latency = Duration::from_millis(400);
    let env = Env::start(config).await;
    let dir = scratch("sched-two");
    let creds = credentials_file(&dir, &env, &[("acme", &ws)]);
    std::fs::write(dir.join("daily.sql"), local_script()).unwrap();
    let spawn = |dir: std::path::PathBuf, creds: std::path::PathBuf| {
        schedule_cmd(&dir, &creds, "2026-06-01")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn(dir.clone(), creds.clone());
    // Wait until the first holds the lease (its lock file exists).
    let lock_dir = dir.join("lake/_cio_sql/daily/2026-06-01");
    let started = std::time::Instant::now();
    while !files_under(&lock_dir)
        .iter()
        .any(|f| f.starts_with("lock-"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first run never took the lease"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = spawn(dir.clone(), creds.clone());
    let (a, b) = tokio::task::spawn_blocking(move || {
        let b = wait_output(second, Duration::from_secs(60));
        let a = wait_output(first, Duration::from_secs(60));
        (a, b)
    })
    .await
    .unwrap();
    let (_, err_a) = texts(&a);
    let (_, err_b) = texts(&b);
    assert!(a.status.success(), "{err_a}");
    assert_eq!(b.status.code(), Some(3), "{err_b}");
    assert!(
        err_b.contains("is held by run")
            && err_b.contains("this run stops without writing anything"),
        "{err_b}"
    );
    check_local(&dir, "2026-06-01").expect("the first run committed");
}

/// Incremental loads (issue 15): two scheduled days over `messages`, each reading the window
/// `[${last_run_ts}, ${this_run_ts})`, write every delivery of the two windows exactly once; a
/// rerun of a date whose commit was lost gets the window of its first run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_days_of_messages_are_written_once_each() {
    let (env, ws) = setup("sched_incremental").await;
    let host = "sched-incremental";
    env.clock.set(utc("2026-11-24T20:00:00Z")); // noon in Los Angeles
    let log = Log::default();
    let run_env = run_env(&env, &log, FailPoints::none());
    let script = format!(
        "CREATE EXTERNAL TABLE m STORED AS CUSTOMERIO LOCATION 'messages'
           OPTIONS (key '{key}', rate_limit '1000');
         COPY (SELECT id, created FROM m
               WHERE created >= TIMESTAMP '${{last_run_ts}}' AND created < TIMESTAMP '${{this_run_ts}}')
           TO 'memory://{host}/lake/messages/date=${{run_date}}/' STORED AS PARQUET;",
        key = ws.name
    );
    let mut job = IngestJob::new("daily.sql", script);
    job.lease = Duration::from_secs(60);
    job.state = Some(format!("memory://{host}/lake/_cio_sql/"));
    let since = utc("2026-11-20T00:00:00Z");
    job.since = Some(since);
    let options = SchedulerOptions {
        catch_up: false,
        max_runs: Some(2),
        ..SchedulerOptions::default()
    };
    let waiter = FastForward {
        clock: env.clock.clone(),
    };
    let report = schedule::run_daily(&job, &run_env, &options, &waiter, None)
        .await
        .unwrap();
    let days = [date("2026-11-25"), date("2026-11-26")];
    assert_eq!(report.committed, days, "{}", log_text(&log));
    // 06:00 PST is 14:00 UTC; the default lookback of one hour ends each window at 13:00.
    let m1 = manifest(host, days[0]).await.unwrap();
    let m2 = manifest(host, days[1]).await.unwrap();
    assert_eq!(
        (m1.window_start, m1.window_end),
        (Some(since), Some(utc("2026-11-25T13:00:00Z")))
    );
    assert_eq!(
        (m2.window_start, m2.window_end),
        (m1.window_end, Some(utc("2026-11-26T13:00:00Z")))
    );
    // Every delivery the API lists from `since` to the second window's end (both bounds
    // inclusive in the API: the end is one second before), read by the test's own paging.
    let mut want = Vec::new();
    let mut start = String::new();
    loop {
        let page = env
            .api(
                &ws,
                &format!(
                    "/v1/messages?limit=1000&start_ts={}&end_ts={}&start={start}",
                    since.timestamp(),
                    utc("2026-11-26T13:00:00Z").timestamp() - 1
                ),
            )
            .await;
        for m in page["messages"].as_array().cloned().unwrap_or_default() {
            want.push(m["id"].as_str().unwrap().to_string());
        }
        start = page["next"].as_str().unwrap_or_default().to_string();
        if start.is_empty() {
            break;
        }
    }
    assert!(
        want.len() > 10,
        "the windows hold deliveries: {}",
        want.len()
    );
    let ctx = SessionContext::new();
    let mut written = Vec::new();
    let mut per_day = Vec::new();
    for m in [&m1, &m2] {
        let mut n = 0;
        for f in &m.outputs[0].files {
            // Registers the memory store with the session.
            stores::location(&ctx, &f.url).unwrap();
            let batches = ctx
                .read_parquet(f.url.as_str(), ParquetReadOptions::default())
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            for b in &batches {
                let ids = datafusion::arrow::compute::cast(
                    b.column(0),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )
                .unwrap();
                let ids = ids
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::StringArray>()
                    .unwrap();
                written.extend(ids.iter().map(|s| s.unwrap().to_string()));
                n += b.num_rows();
            }
        }
        per_day.push(n);
    }
    assert!(
        per_day.iter().all(|n| *n > 0),
        "both days wrote rows: {per_day:?}"
    );
    let mut unique = written.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), written.len(), "a delivery was written twice");
    want.sort();
    assert_eq!(
        unique, want,
        "the two days hold exactly the API's deliveries"
    );

    // The second day's commit is lost; its rerun, a day later, uses the same window.
    let store = memory_store(host);
    let marker = Path::from(format!("{}/{MANIFEST}", state_dir(days[1])));
    object_store::ObjectStoreExt::delete(store.as_ref(), &marker)
        .await
        .unwrap();
    env.clock.set(utc("2026-11-27T20:00:00Z"));
    let at = utc("2026-11-26T14:00:00Z");
    let again = ingest::run(&job, &run_env, days[1], at).await.unwrap();
    let RunOutcome::Committed(m3) = again else {
        panic!("the rerun commits: {}", log_text(&log));
    };
    assert_eq!(
        (m3.window_start, m3.window_end),
        (m2.window_start, m2.window_end)
    );
    assert_eq!(m3.outputs[0].rows, per_day[1] as u64);
}

#[test]
fn the_window_variables_are_refused_with_their_names_when_misspelt() {
    let job = IngestJob::new(
        "daily.sql",
        "COPY (SELECT 1) TO 'memory://x/${last_run}' STORED AS PARQUET;",
    );
    let vars = ingest::Vars::provisional(date("2026-11-26"), utc("2026-11-26T14:00:00Z"));
    let err = ingest::substitute(&job.template, &vars)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("${last_run}")
            && err.contains("${last_run_ts}")
            && err.contains("${this_run_ts}"),
        "{err}"
    );
}

/// An incremental job cannot run a date before one already committed: the later date's window
/// covers its time, and the rows would be written twice. A job that does not read the window
/// may backfill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_job_refuses_a_date_before_a_committed_one() {
    let (env, ws) = setup("sched_backfill").await;
    let host = "sched-backfill";
    env.clock.set(utc("2026-11-27T20:00:00Z"));
    let log = Log::default();
    let run_env = run_env(&env, &log, FailPoints::none());
    let script = |window: bool| {
        format!(
            "CREATE EXTERNAL TABLE m STORED AS CUSTOMERIO LOCATION 'messages' OPTIONS (key '{key}', rate_limit '1000');
             COPY (SELECT id FROM m {filter}) TO 'memory://{host}/lake/m/date=${{run_date}}/' STORED AS PARQUET;",
            key = ws.name,
            filter = if window {
                "WHERE created >= TIMESTAMP '${last_run_ts}' AND created < TIMESTAMP '${this_run_ts}'"
            } else {
                "LIMIT 3"
            }
        )
    };
    let mut job = IngestJob::new("daily.sql", script(true));
    job.lease = Duration::from_secs(60);
    job.state = Some(format!("memory://{host}/lake/_cio_sql/"));
    job.since = Some(utc("2026-11-20T00:00:00Z"));
    ingest::run(
        &job,
        &run_env,
        date("2026-11-27"),
        utc("2026-11-27T14:00:00Z"),
    )
    .await
    .unwrap();
    let err = ingest::run(
        &job,
        &run_env,
        date("2026-11-26"),
        utc("2026-11-26T14:00:00Z"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("2026-11-27") && err.contains("written twice"),
        "{err}"
    );
    assert!(manifest(host, date("2026-11-26")).await.is_none());
    // The same dates without the window variables: the backfill commits.
    job.template = script(false);
    job.name = "plain".into();
    ingest::run(
        &job,
        &run_env,
        date("2026-11-27"),
        utc("2026-11-27T14:00:00Z"),
    )
    .await
    .unwrap();
    let backfill = ingest::run(
        &job,
        &run_env,
        date("2026-11-26"),
        utc("2026-11-26T14:00:00Z"),
    )
    .await
    .unwrap();
    assert!(matches!(backfill, RunOutcome::Committed(_)));
}

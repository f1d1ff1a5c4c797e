//! Daily ingestion to S3 against a real S3-compatible server on loopback: moto in server mode.
//! `.ci/run` starts it and sets `AWS_ENDPOINT_URL`; without that variable the test starts
//! `moto_server` itself. When neither works the tests fail under `CI=true` and are skipped,
//! loudly, elsewhere.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use cio_sql::exec::ExecOptions;
use cio_sql::ingest::{
    self, FailPoints, IngestJob, MANIFEST, Manifest, RunEnv, RunError, RunOutcome,
};
use cio_sql::{CliError, PrintOptions, Shell, new_session};
use customerio_sim::Region;
use datafusion_customerio::clock::Clock;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};

use crate::cli_support::*;
use crate::common::*;

/// The S3 endpoint and its settings, as `AWS_*` variables.
#[derive(Debug, Clone)]
struct Moto {
    endpoint: String,
    vars: Vec<(&'static str, String)>,
}

static MOTO: OnceLock<Option<Moto>> = OnceLock::new();

fn reachable(endpoint: &str) -> bool {
    let Ok(url) = url::Url::parse(endpoint) else {
        return false;
    };
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port_or_known_default().unwrap_or(80)
    );
    addr.parse()
        .ok()
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).ok())
        .is_some()
}

fn start_moto() -> Option<Moto> {
    let vars_for = |endpoint: &str| {
        let get = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        vec![
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("AWS_ACCESS_KEY_ID", get("AWS_ACCESS_KEY_ID", "testing")),
            (
                "AWS_SECRET_ACCESS_KEY",
                get("AWS_SECRET_ACCESS_KEY", "testing"),
            ),
            ("AWS_REGION", get("AWS_REGION", "us-east-1")),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    };
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !reachable(&endpoint) {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        return Some(Moto {
            vars: vars_for(&endpoint),
            endpoint,
        });
    }
    // Start one for this test process; it stops when the process is gone.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let script = format!(
        "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
        std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reachable(&endpoint) {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(Moto {
        vars: vars_for(&endpoint),
        endpoint,
    })
}

/// The server, or `None` (skip) outside CI; under `CI=true` a missing server fails the test.
fn moto() -> Option<Moto> {
    let m = MOTO.get_or_init(start_moto).clone();
    if m.is_none() {
        let msg = "no S3-compatible server: set AWS_ENDPOINT_URL or install moto \
                   (pip install 'moto[server]') so that moto_server is on PATH";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
    }
    m
}

impl Moto {
    fn var(&self, k: &str) -> String {
        self.vars
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Creates `bucket` (moto accepts an unsigned create).
    async fn bucket(&self, bucket: &str) {
        let resp = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("moto answers");
        assert!(
            resp.status().is_success(),
            "create bucket: {}",
            resp.status()
        );
    }

    fn store(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(bucket)
            .with_access_key_id(self.var("AWS_ACCESS_KEY_ID"))
            .with_secret_access_key(self.var("AWS_SECRET_ACCESS_KEY"))
            .with_region(self.var("AWS_REGION"))
            .with_allow_http(true)
            .build()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_conditional_put_creates_only_if_absent() {
    let Some(moto) = moto() else { return };
    moto.bucket("cio-cond").await;
    let store = moto.store("cio-cond");
    let p = Path::from("marker.json");
    let create = || PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    store
        .put_opts(&p, "first".into(), create())
        .await
        .expect("the first create succeeds");
    let second = store.put_opts(&p, "second".into(), create()).await;
    assert!(
        matches!(second, Err(object_store::Error::AlreadyExists { .. })),
        "If-None-Match: * must refuse the second write: {second:?}"
    );
    let body = store.get(&p).await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"first");
}

fn script(bucket: &str, key: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMERIO LOCATION 'campaigns'
           OPTIONS (key '{key}', period 'weeks', steps '2', rate_limit '1000');
         COPY (SELECT campaign_id, period_start, sent FROM c)
           TO 's3://{bucket}/lake/campaigns/date=${{run_date}}/campaigns.parquet' STORED AS PARQUET;
         COPY (SELECT campaign_id % 3 AS b, campaign_id, sent FROM c)
           TO 's3://{bucket}/lake/parts/date=${{run_date}}/' STORED AS PARQUET PARTITIONED BY (b);"
    )
}

fn s3_env(env: &Env, moto: &Moto, bucket: &str, log: &Log, faults: FailPoints) -> RunEnv {
    let cio = env.cio.clone();
    let store: Arc<dyn ObjectStore> = Arc::new(moto.store(bucket));
    let base = url::Url::parse(&format!("s3://{bucket}")).unwrap();
    let sink = log.clone();
    RunEnv {
        new_shell: Arc::new(move || -> Result<Shell, CliError> {
            let ctx = new_session(&cio);
            ctx.register_object_store(&base, store.clone());
            let mut shell = Shell::new(
                ctx,
                cio.clone(),
                PrintOptions {
                    quiet: true,
                    ..PrintOptions::default()
                },
            );
            shell.exec = ExecOptions::default();
            Ok(shell)
        }),
        clock: env.clock.clone(),
        log: Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string())),
        faults: Arc::new(faults),
    }
}

async fn objects(store: &AmazonS3, prefix: &str) -> Vec<(String, u64)> {
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

async fn manifest(store: &AmazonS3, d: &str) -> Option<Manifest> {
    let p = Path::from(format!("lake/_cio_sql/daily/{d}/{MANIFEST}"));
    match store.get(&p).await {
        Ok(r) => Some(serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()),
        Err(_) => None,
    }
}

/// The date's outputs are exactly the manifest's files, with their sizes and rows.
async fn assert_whole_s3(store: &AmazonS3, bucket: &str, d: &str) {
    let m = manifest(store, d).await.expect("committed");
    assert_eq!(
        m.outputs.iter().map(|o| o.rows).collect::<Vec<_>>(),
        [36, 36]
    );
    let mut listed: Vec<(String, u64)> = m
        .outputs
        .iter()
        .flat_map(|o| o.files.iter())
        .map(|f| {
            let key = f.url.strip_prefix(&format!("s3://{bucket}/")).unwrap();
            (key.to_string(), f.bytes)
        })
        .collect();
    listed.sort();
    let mut present = objects(store, &format!("lake/campaigns/date={d}")).await;
    present.extend(objects(store, &format!("lake/parts/date={d}")).await);
    present.sort();
    assert_eq!(present, listed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_ingest_commits_once_and_survives_kills() {
    let Some(moto) = moto() else { return };
    let bucket = "cio-ingest";
    moto.bucket(bucket).await;
    let ws = workspace("s3_ingest", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    let store = moto.store(bucket);
    let mut job = IngestJob::new("daily.sql", script(bucket, &ws.name));
    job.lease = Duration::from_secs(60);
    let log = Log::default();
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();

    // A clean run, then a rerun that writes nothing.
    let clean = s3_env(&env, &moto, bucket, &log, FailPoints::none());
    let r = ingest::run(&job, &clean, date("2026-07-01"), env.clock.now()).await;
    assert!(
        matches!(r, Ok(RunOutcome::Committed(_))),
        "{r:?}\n{}",
        log_text(&log)
    );
    assert_whole_s3(&store, bucket, "2026-07-01").await;
    let steps = clean.faults.passed();
    let before = objects(&store, "lake").await;
    let again = ingest::run(&job, &clean, date("2026-07-01"), env.clock.now()).await;
    assert!(
        matches!(again, Ok(RunOutcome::AlreadyCommitted(_))),
        "{again:?}"
    );
    assert_eq!(objects(&store, "lake").await, before);

    // Two at once: one commits, the other stops.
    let a = s3_env(&env, &moto, bucket, &log, FailPoints::none());
    let b = s3_env(&env, &moto, bucket, &log, FailPoints::none());
    let (ra, rb) = tokio::join!(
        ingest::run(&job, &a, date("2026-07-02"), env.clock.now()),
        ingest::run(&job, &b, date("2026-07-02"), env.clock.now())
    );
    let results = [ra, rb];
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Ok(RunOutcome::Committed(_))))
            .count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().any(|r| matches!(r, Err(RunError::Busy(_)))),
        "{results:?}"
    );
    assert_whole_s3(&store, bucket, "2026-07-02").await;

    // Killed at every step, then redone once the lease ran out.
    for k in 1..=steps {
        let d = format!("2026-08-{k:02}");
        let killed = s3_env(&env, &moto, bucket, &log, FailPoints::error_at(k));
        let r = ingest::run(&job, &killed, date(&d), env.clock.now()).await;
        assert!(matches!(r, Err(RunError::Killed(_))), "step {k}: {r:?}");
        if manifest(&store, &d).await.is_some() {
            assert!(k >= steps - 1, "step {k} of {steps} committed early");
            assert_whole_s3(&store, bucket, &d).await;
        }
        env.clock.advance(chrono::Duration::seconds(61));
        let redo = s3_env(&env, &moto, bucket, &log, FailPoints::none());
        let r = ingest::run(&job, &redo, date(&d), env.clock.now()).await;
        assert!(
            matches!(
                r,
                Ok(RunOutcome::Committed(_)) | Ok(RunOutcome::AlreadyCommitted(_))
            ),
            "step {k}: {r:?}\n{}",
            log_text(&log)
        );
        assert_whole_s3(&store, bucket, &d).await;
        assert_eq!(
            objects(&store, &format!("lake/_cio_sql/daily/{d}"))
                .await
                .len(),
            1,
            "step {k}: only the manifest stays"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_through_the_binary_with_aws_variables() {
    let Some(moto) = moto() else { return };
    let bucket = "cio-bin";
    moto.bucket(bucket).await;
    let ws = workspace("s3_bin", "sim_us", Region::Us);
    let env = Env::start(fast_config(vec![ws.clone()])).await;
    let dir = scratch("s3-bin");
    let creds = credentials_file(&dir, &env, &[("acme", &ws)]);
    std::fs::write(dir.join("daily.sql"), script(bucket, "acme")).unwrap();
    let run = |dir: std::path::PathBuf, creds: std::path::PathBuf, moto: Moto| {
        let mut c = cio_sql(&dir);
        c.arg("--credentials")
            .arg(&creds)
            .args([
                "schedule",
                "--file",
                "daily.sql",
                "--once",
                "--date",
                "2026-09-01",
            ])
            .stderr(Stdio::piped());
        for (k, v) in &moto.vars {
            c.env(k, v);
        }
        wait_output(c.spawn().unwrap(), Duration::from_secs(60))
    };
    let out = {
        let (d, c, m) = (dir.clone(), creds.clone(), moto.clone());
        tokio::task::spawn_blocking(move || run(d, c, m))
            .await
            .unwrap()
    };
    let (_, err) = texts(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "output 1: s3://cio-bin/lake/campaigns/date=2026-09-01/campaigns.parquet: 36 rows"
        ),
        "{err}"
    );
    assert!(!err.contains(&moto.var("AWS_SECRET_ACCESS_KEY")), "{err}");
    let store = moto.store(bucket);
    assert_whole_s3(&store, bucket, "2026-09-01").await;
    let out = {
        let (d, c, m) = (dir.clone(), creds.clone(), moto.clone());
        tokio::task::spawn_blocking(move || run(d, c, m))
            .await
            .unwrap()
    };
    let (_, err) = texts(&out);
    assert!(
        out.status.success() && err.contains("is already committed"),
        "{err}"
    );
}
